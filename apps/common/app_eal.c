/* SPDX-License-Identifier: BSD-3-Clause */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "app_eal.h"

volatile sig_atomic_t app_quit;

static void
app_on_signal(int sig)
{
	(void)sig;
	app_quit = 1;
}

int
app_eal_start(struct app_args *a, const char *prog, const char *dev_spec)
{
	int ret;

	app_eal_guard(a, dev_spec != NULL && strncmp(dev_spec, "pci:", 4) == 0 ?
			dev_spec + 4 : NULL);
	ret = rte_eal_init(a->eal_argc, a->eal);
	app_eal_free(a);
	if (ret < 0) {
		fprintf(stderr, "%s: EAL init failed: %s (are hugepages "
			"reserved? scripts/setup.sh does it)\n", prog,
			rte_strerror(rte_errno));
		return -1;
	}
	signal(SIGINT, app_on_signal);
	signal(SIGTERM, app_on_signal);
	return 0;
}

/* Room for what app_eal_split and app_eal_guard may add. */
#define APP_EAL_EXTRA 4

int
app_eal_split(int argc, char **argv, struct app_args *a)
{
	int i, dd = -1;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	a->eal = calloc((size_t)argc + APP_EAL_EXTRA + 1, sizeof(char *));
	a->app = calloc((size_t)argc + 1, sizeof(char *));
	if (a->eal == NULL || a->app == NULL) {
		app_eal_free(a);
		return -1;
	}
	a->eal[0] = argv[0];
	if (dd < 0) {
		a->eal[1] = (char *)(uintptr_t)"--in-memory";
		a->eal_argc = 2;
		a->app_idx = 1;
	} else {
		for (i = 1; i < dd; i++)
			a->eal[i] = argv[i];
		a->eal_argc = dd;
		a->app_idx = dd + 1;
	}
	a->app[0] = argv[0];
	for (i = a->app_idx; i < argc; i++)
		a->app[i - a->app_idx + 1] = argv[i];
	a->app_argc = argc - a->app_idx + 1;
	return 0;
}

static bool
app_eal_has(const struct app_args *a, const char *const *opts)
{
	int i, k;

	for (i = 1; i < a->eal_argc; i++)
		for (k = 0; opts[k] != NULL; k++)
			if (strncmp(a->eal[i], opts[k], strlen(opts[k])) == 0)
				return true;
	return false;
}

void
app_eal_guard(struct app_args *a, const char *pci_addr)
{
	static const char *const no_pci[] = { "--no-pci", NULL };
	static const char *const chosen[] = { "-a", "-b", "--allow",
		"--block", "--no-pci", NULL };

	if (pci_addr == NULL) {
		if (!app_eal_has(a, no_pci))
			a->eal[a->eal_argc++] = (char *)(uintptr_t)"--no-pci";
		return;
	}
	if (!app_eal_has(a, chosen)) {
		a->eal[a->eal_argc++] = (char *)(uintptr_t)"-a";
		a->eal[a->eal_argc++] = (char *)(uintptr_t)pci_addr;
	}
}

void
app_eal_free(struct app_args *a)
{
	free(a->eal);
	free(a->app);
	a->eal = NULL;
	a->app = NULL;
}
