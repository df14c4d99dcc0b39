/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK releases the project builds against differ (Debian 12's
 * 22.11, Debian 13's 24.11): the code uses the newer names, and this
 * header defines them on the older release.
 */
#ifndef VSOCK_DPDK_COMPAT_H
#define VSOCK_DPDK_COMPAT_H

#include <rte_telemetry.h>
#include <rte_version.h>

/* 23.03 renamed rte_tel_data_add_dict_u64 to _uint; 24.11 deprecates it. */
#if RTE_VERSION < RTE_VERSION_NUM(23, 3, 0, 0)
#define rte_tel_data_add_dict_uint rte_tel_data_add_dict_u64
#endif

#endif /* VSOCK_DPDK_COMPAT_H */
