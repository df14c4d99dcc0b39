/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Packet capture of vsock ports into a pcap file (--pcap FILE).
 *
 * A capture wraps a port: the wrapper passes every rx and tx burst through
 * to the port it wraps and queues a copy of each packet, with its
 * direction and a TSC timestamp, on a ring. A writer thread (a plain
 * pthread, not an lcore) drains the ring and writes the file through
 * libpcap with link type LINKTYPE_VSOCK (271): Linux's vsockmon header
 * (struct af_vsockmon_hdr, transport virtio), then the 44-byte
 * virtio-vsock header and the payload, which tcpdump, tshark and
 * Wireshark decode. The poll loop pays for a copy and an enqueue per
 * packet; when the ring or the capture's pool is full the packet is not
 * captured and counted as dropped: capture never holds the data path up.
 */
#ifndef VSOCK_CAPTURE_H
#define VSOCK_CAPTURE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vsock_port;
struct vsock_capture;

/** Capture settings; zero fields take the defaults. */
struct vsock_capture_conf {
	/**
	 * Bytes of each packet kept, header included (default
	 * VSOCK_CAPTURE_SNAPLEN_DEFAULT: a whole 64 KiB packet; at least
	 * 44, at most VSOCK_CAPTURE_SNAPLEN_MAX). Longer packets are
	 * written truncated, with their real length in the record.
	 */
	uint32_t snaplen;
	/** Packets queued for the writer at most (default 4096). */
	uint32_t ring_size;
	/** mbufs of the copies' pool (default 2047, of 16 KiB). */
	uint32_t nb_mbufs;
	/** NUMA socket of the ring and pool (SOCKET_ID_ANY is fine). */
	int socket_id;
};

/** Default snaplen: the virtio-vsock header and a 64 KiB payload. */
#define VSOCK_CAPTURE_SNAPLEN_DEFAULT (44u + 65536u)
/** Largest snaplen, as tcpdump allows. */
#define VSOCK_CAPTURE_SNAPLEN_MAX 262144u

/** Counters of a capture. */
struct vsock_capture_stats {
	uint64_t captured;	/**< packets queued for the file */
	uint64_t dropped;	/**< packets not captured: ring or pool full */
	uint64_t written;	/**< packets written to the file so far */
	uint64_t bytes;		/**< bytes of those records (caplen) */
	uint64_t truncated;	/**< records cut at the snaplen */
	uint64_t write_errors;	/**< the file could not be written */
};

/**
 * Parse --pcap-snaplen @p s (44..VSOCK_CAPTURE_SNAPLEN_MAX) into
 * @p conf, the same for every app.
 *
 * @return
 *   0, or -EINVAL after an error naming the value on stderr.
 */
int vsock_capture_parse_snaplen(const char *s,
		struct vsock_capture_conf *conf);

/**
 * Create the file, the ring, the pool and start the writer thread.
 *
 * Call it before the device starts: a vhost back-end sees only the memory
 * that exists then (the copies never go to a device, but the pool's
 * hugepages would otherwise be added under a running back-end).
 *
 * @param path
 *   The pcap file, created or truncated.
 * @param conf
 *   Settings; NULL for the defaults.
 * @param err
 *   Receives a message on failure.
 * @param err_len
 *   Size of @p err.
 * @return
 *   The capture, or NULL (rte_errno set, @p err written).
 */
struct vsock_capture *vsock_capture_open(const char *path,
		const struct vsock_capture_conf *conf, char *err,
		size_t err_len);

/**
 * A port that passes bursts to @p inner and captures them.
 *
 * rx_burst packets are written as received, tx_burst packets as sent
 * (only those @p inner took). Several ports may be wrapped into one
 * capture: their packets share the file, told apart by their CIDs.
 * The returned port lives until vsock_capture_close().
 *
 * @return
 *   The wrapper, to attach to the stack in place of @p inner; NULL
 *   when out of memory.
 */
struct vsock_port *vsock_capture_wrap(struct vsock_capture *cap,
		const struct vsock_port *inner);

/** Read the counters (any thread). */
void vsock_capture_stats_get(const struct vsock_capture *cap,
		struct vsock_capture_stats *st);

/**
 * Write what is queued, stop the writer, close the file and free the
 * capture and its wrappers. No wrapper may be in use by then (detach or
 * stop polling the stack first). NULL is a no-op.
 *
 * @param st
 *   If not NULL, receives the final counters.
 * @return
 *   0, or -EIO when the file could not be written in full.
 */
int vsock_capture_close(struct vsock_capture *cap,
		struct vsock_capture_stats *st);

/**
 * vsock_capture_close(), then one line of counters on stderr:
 * "APP: pcap PATH: captured N, dropped N, written N, truncated N" (the
 * apps' exit report; stdout keeps their single JSON object).
 *
 * @return
 *   As vsock_capture_close(); 0 for a NULL @p cap.
 */
int vsock_capture_close_report(struct vsock_capture *cap, const char *app,
		const char *path);

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_CAPTURE_H */
