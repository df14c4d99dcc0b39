/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdio.h>

#include <vsock_hdr.h>

#include "app_opts.h"
#include "app_pcap.h"

int
app_pcap_parse_snaplen(const char *s, struct vsock_capture_conf *conf)
{
	uint64_t v;

	if (app_parse_u64(s, VSOCK_HDR_LEN, VSOCK_CAPTURE_SNAPLEN_MAX,
			&v) != 0)
		return app_bad("--pcap-snaplen", s, "expected 44..262144");
	conf->snaplen = (uint32_t)v;
	return 0;
}

int
app_pcap_close_report(struct vsock_capture *cap, const char *app,
		const char *path)
{
	struct vsock_capture_stats st;
	int ret;

	if (cap == NULL)
		return 0;
	ret = vsock_capture_close(cap, &st);
	fprintf(stderr, "%s: pcap %s: captured %" PRIu64 ", dropped %" PRIu64
		", written %" PRIu64 ", truncated %" PRIu64 "%s\n", app, path,
		st.captured, st.dropped, st.written, st.truncated,
		ret != 0 ? ", WRITE ERRORS" : "");
	return ret;
}
