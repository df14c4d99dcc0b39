/* SPDX-License-Identifier: BSD-3-Clause */
/* Splitting a dpdk-vsock app's command line into EAL's part and ours. */
#ifndef VSOCK_APP_EAL_H
#define VSOCK_APP_EAL_H

#include <signal.h>

/* What EAL gets and where the app's own options start. */
struct app_args {
	char **eal;
	int eal_argc;
	int app_idx;	/* argv index of the first app option */
	char **app;	/* argv[0] and the app's options, for getopt */
	int app_argc;
};

/*
 * Split @argv at "--" into a->eal and a->app. Without "--", everything is
 * the app's and EAL runs with --in-memory. Call app_eal_guard() once the
 * device is known. Returns 0, or -1 when out of memory.
 */
int app_eal_split(int argc, char **argv, struct app_args *a);

/*
 * Keep EAL off PCI devices that are not ours: --no-pci unless @pci_addr
 * (a "DOMAIN:BUS:DEV.FN" the app drives) is given, then only that device
 * (-a) unless the user chose with -a/-b already.
 */
void app_eal_guard(struct app_args *a, const char *pci_addr);

void app_eal_free(struct app_args *a);

/* Set by SIGINT and SIGTERM once app_eal_start() has run. */
extern volatile sig_atomic_t app_quit;

/*
 * app_eal_guard() with the PCI address of @dev_spec (a --dev spec, or
 * NULL: "pci:ADDR" drives ADDR, anything else no PCI device),
 * rte_eal_init(), app_eal_free(), then catch SIGINT and SIGTERM in
 * app_quit. On failure prints why, as @prog, and returns -1.
 */
int app_eal_start(struct app_args *a, const char *prog, const char *dev_spec);

#endif /* VSOCK_APP_EAL_H */
