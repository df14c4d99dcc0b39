/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Packet capture of vsock ports into a pcap file, as DPDK's pcapng
 * library does for ethdev ports (the apps' --pcap FILE).
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
 *
 * Usage: vsock_capture_open() before the device starts,
 * vsock_capture_wrap() on each port, vsock_stack_attach() of the wrapper
 * in place of the port, and vsock_capture_close() once the stack no
 * longer polls it. Link with libvsock_capture (libdpdk-vsock.pc), which
 * needs libpcap.
 */
#ifndef VSOCK_CAPTURE_H
#define VSOCK_CAPTURE_H

#include <stddef.h>
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
	/** NUMA socket of the ring and pool (SOCKET_ID_ANY for any). */
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
 * Create the file, the ring and the pool, and start the writer thread.
 *
 * Call it before the device starts: a vhost back-end sees only the memory
 * that exists then (the copies never go to a device, but the pool's
 * hugepages would otherwise be added under a running back-end). The EAL
 * must be initialised.
 *
 * @param path
 *   The pcap file, created or truncated.
 * @param conf
 *   Settings; NULL for the defaults.
 * @param err
 *   Receives a one-line message on failure (may be NULL when @p err_len
 *   is 0).
 * @param err_len
 *   Size of @p err.
 * @return
 *   The capture, or NULL with @p err written and rte_errno set to:
 *   - EINVAL: a snaplen outside 44..VSOCK_CAPTURE_SNAPLEN_MAX, or a
 *     ring_size or nb_mbufs the ring or the pool refuses;
 *   - ENOMEM: out of memory, or no room for the ring or the pool;
 *   - ENOSPC, EEXIST, ...: as rte_ring_create() and
 *     rte_pktmbuf_pool_create() set it;
 *   - EIO: the file could not be created;
 *   - EAGAIN, EPERM, ...: as pthread_create() fails.
 */
struct vsock_capture *vsock_capture_open(const char *path,
		const struct vsock_capture_conf *conf, char *err,
		size_t err_len);

/**
 * A port that passes bursts to @p inner and captures them.
 *
 * rx_burst packets are written as received, tx_burst packets as sent
 * (only those @p inner took). Several ports may be wrapped into one
 * capture: their packets share the file, told apart by their CIDs. The
 * wrapper has the optional ops @p inner has, and its name. Only one lcore
 * may poll the wrappers of a capture (the stack's).
 *
 * @param cap
 *   The capture, from vsock_capture_open().
 * @param inner
 *   The port to wrap; copied, so it need not outlive the call, but the
 *   device behind it must outlive the wrapper.
 * @return
 *   The wrapper, to attach to the stack in place of @p inner; it lives
 *   until vsock_capture_close(). NULL with rte_errno ENOMEM when out of
 *   memory.
 */
struct vsock_port *vsock_capture_wrap(struct vsock_capture *cap,
		const struct vsock_port *inner);

/**
 * Read the counters, from any thread. bytes, truncated and write_errors
 * are the writer thread's and only exact after vsock_capture_close().
 *
 * @param cap
 *   The capture; NULL gives zero counters.
 * @param st
 *   Receives the counters.
 */
void vsock_capture_stats_get(const struct vsock_capture *cap,
		struct vsock_capture_stats *st);

/**
 * Write what is queued, stop the writer, close the file and free the
 * capture and its wrappers. No wrapper may be in use by then (detach or
 * stop polling the stack first).
 *
 * @param cap
 *   The capture; NULL is a no-op that returns 0.
 * @param st
 *   If not NULL, receives the final counters.
 * @return
 *   0, or -EIO when the file could not be written in full.
 */
int vsock_capture_close(struct vsock_capture *cap,
		struct vsock_capture_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* VSOCK_CAPTURE_H */
