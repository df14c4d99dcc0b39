/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_opts.h"

static const char *app_name = "vsock";

void
app_opts_init(const char *name)
{
	app_name = name;
}

int
app_bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "%s: bad %s '%s': %s (see --help)\n", app_name, opt,
		val, why);
	return -EINVAL;
}

int
app_opt_other(int c, char **argv)
{
	if (c == 'h')
		return 1;
	return app_bad("option", argv[optind - 1],
		c == ':' ? "needs a value" : "unknown");
}

int
app_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
app_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *lo,
		uint64_t *hi)
{
	char buf[64];
	char *dash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash != NULL)
		*dash = '\0';
	if (app_parse_u64(buf, min, max, lo) != 0)
		return -EINVAL;
	*hi = *lo;
	if (dash != NULL && app_parse_u64(dash + 1, *lo, max, hi) != 0)
		return -EINVAL;
	return 0;
}
