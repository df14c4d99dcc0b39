/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * --pcap-snaplen and the exit report of --pcap, the same in every app;
 * the capture itself is lib/vsock_capture.
 */
#ifndef VSOCK_APP_PCAP_H
#define VSOCK_APP_PCAP_H

#include <vsock_capture.h>

/*
 * Parse --pcap-snaplen @s (44..VSOCK_CAPTURE_SNAPLEN_MAX) into @conf.
 * Returns 0, or -EINVAL after app_bad() named the value on stderr.
 */
int app_pcap_parse_snaplen(const char *s, struct vsock_capture_conf *conf);

/*
 * vsock_capture_close(), then one line of counters on stderr:
 * "APP: pcap PATH: captured N, dropped N, written N, truncated N" (the
 * apps' exit report; stdout keeps their single JSON object). Returns as
 * vsock_capture_close(); 0 for a NULL @cap.
 */
int app_pcap_close_report(struct vsock_capture *cap, const char *app,
		const char *path);

#endif /* VSOCK_APP_PCAP_H */
