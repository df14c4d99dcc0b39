/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request/reply protocol both example agents speak (agent_native on
 * the native API, agent_sockets on plain POSIX sockets), in plain C with
 * no DPDK and no dpdk-vsock: the framing, a small strict JSON parser of
 * the few members a request has, the replies, and the client side that
 * sends numbered requests, checks each reply and measures round trips.
 *
 * A frame is a 4-byte big-endian length (1..AGENT_MAX_REQ) and that many
 * bytes of UTF-8 JSON, one object:
 *
 *   {"execute":"ping"}                              {"return":{}}
 *   {"execute":"echo","arguments":{"data":"..."}}   {"return":{"data":"..."}}
 *   {"execute":"info"}        {"return":{"version":"1","commands":[...],
 *                                        "requests":N,"api":"native"}}
 *
 * An "id" member is copied into the reply, as QMP does. A request that
 * is not valid JSON, or not one of these, gets
 * {"error":{"class":"GenericError"|"CommandNotFound","desc":"..."}} and
 * the connection goes on; a bad length gets that error and a close, since
 * the stream can no longer be framed.
 */
#ifndef AGENT_PROTO_H
#define AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AGENT_HDR_LEN 4
/** Longest request body. */
#define AGENT_MAX_REQ 65536u
/** What a reply adds to the request bytes it quotes (echo data, id). */
#define AGENT_REPLY_SLACK 512u
/** Bound on the framed reply to a request of @p n bytes. */
#define AGENT_REPLY_MAX(n) (AGENT_HDR_LEN + (size_t)(n) + AGENT_REPLY_SLACK)
/** A buffer any framed reply fits. */
#define AGENT_REPLY_BUF AGENT_REPLY_MAX(AGENT_MAX_REQ)

/** Reassembles frames from a byte stream. */
struct agent_rx {
	uint32_t have;		/* bytes in buf */
	uint8_t buf[AGENT_HDR_LEN + AGENT_MAX_REQ];
};

enum agent_rx_status {
	AGENT_RX_MORE,		/* all bytes taken, no whole frame yet */
	AGENT_RX_FRAME,		/* a frame: *body, *len */
	AGENT_RX_BAD_LEN,	/* a length out of range: *len */
};

/*
 * Take bytes from @p p (@p n of them) until a frame is whole; *used says
 * how many were taken. A frame that lies whole in @p p is handed over in
 * place, without a copy; otherwise *body points into @p rx, valid until
 * the next call.
 */
enum agent_rx_status agent_rx_feed(struct agent_rx *rx, const uint8_t *p,
		size_t n, size_t *used, const char **body, uint32_t *len);

/** A server's counters; api names it in info replies. */
struct agent_server {
	const char *api;
	uint64_t requests;	/* frames answered, errors included */
	uint64_t errors;	/* error replies */
	uint64_t conns;		/* connections accepted */
};

/*
 * Answer the request @p req (@p len bytes): the framed reply goes to
 * @p out, which holds AGENT_REPLY_MAX(len) bytes. Returns its length.
 */
size_t agent_serve(struct agent_server *s, const char *req, uint32_t len,
		char *out, size_t cap);

/* The framed error reply to a frame of length @p len (out of range). */
size_t agent_serve_bad_len(struct agent_server *s, uint32_t len, char *out,
		size_t cap);

void agent_server_report(const struct agent_server *s, const char *prog);

struct agent_expect;

/* The client: numbered requests (and, first, malformed probes). */
struct agent_client {
	const char *api;	/* what info replies must name */
	uint32_t nb_req;	/* requests after the probes */
	uint32_t nb_probes;	/* 0, or every probe */
	bool print;		/* print every reply on stdout */
	uint32_t step;		/* probes first, then requests */
	uint64_t t_sent;	/* ns, when the step's frame went out */
	uint64_t *lat;		/* round trips of the requests, ns */
	uint32_t good;		/* replies as expected */
	uint32_t bad;		/* replies (or closes) that were not */
	uint32_t conns;		/* connections opened */
	uint64_t t_start, t_end;
	struct agent_expect *exp;	/* the current step's reply */
};

enum agent_step_end {
	AGENT_STEP_NEXT,	/* send the next step on this connection */
	AGENT_STEP_AWAIT_CLOSE,	/* the server closes next: wait for it */
	AGENT_STEP_RECONNECT,	/* this connection is over: open another */
	AGENT_STEP_DONE,	/* every step is done */
};

/* Returns -1 (out of memory) or 0. */
int agent_client_init(struct agent_client *c, const char *api,
		uint32_t nb_req, bool probes, bool print);
void agent_client_free(struct agent_client *c);

/*
 * The frame of the current step into @p buf (AGENT_HDR_LEN +
 * AGENT_MAX_REQ bytes); *expect_reply is false when the client is to
 * close after sending it (a frame cut short). Returns its length.
 */
size_t agent_client_frame(struct agent_client *c, char *buf,
		bool *expect_reply);

/* A reply arrived for the current step: check it and move on. */
enum agent_step_end agent_client_reply(struct agent_client *c,
		const char *json, uint32_t len);

/*
 * The server closed (after AGENT_STEP_AWAIT_CLOSE, or unexpectedly:
 * counted bad, and -1), or we closed (@p by_us) after a step that wants
 * no reply. Returns AGENT_STEP_RECONNECT or AGENT_STEP_DONE.
 */
int agent_client_closed(struct agent_client *c, bool by_us);

/* Prints the figures; returns 0 when every reply was good. */
int agent_client_report(struct agent_client *c, const char *prog);

uint64_t agent_now_ns(void);

#endif /* AGENT_PROTO_H */
