/* SPDX-License-Identifier: BSD-3-Clause */
/* Option parsing helpers shared by the apps: one style of error for all. */
#ifndef VSOCK_APP_OPTS_H
#define VSOCK_APP_OPTS_H

#include <stdint.h>

/* The program name errors start with ("vsock-testpmd"). */
void app_opts_init(const char *name);

/*
 * Print "NAME: bad OPT 'VAL': WHY (see --help)" on stderr.
 * Returns -EINVAL, for "return app_bad(...)".
 */
int app_bad(const char *opt, const char *val, const char *why);

/*
 * What getopt_long() returned that no option of the app takes: 1 for
 * -h/--help; otherwise the error is said ("needs a value", "unknown")
 * and -EINVAL returned. For "default: return app_opt_other(c, argv);".
 */
int app_opt_other(int c, char **argv);

/* A decimal number in [@min, @max]: digits only, no sign, no spaces. */
int app_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "N" or "MIN-MAX" with @min <= MIN <= MAX <= @max (N gives MIN = MAX). */
int app_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *lo,
		uint64_t *hi);

#endif /* VSOCK_APP_OPTS_H */
