/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing and the client side of the agent protocol: the requests a
 * client sends (malformed probes first, if asked, then numbered
 * requests), the reply each must get, and the round-trip figures.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_proto.h"

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}

enum agent_rx_status
agent_rx_feed(struct agent_rx *rx, const uint8_t *p, size_t n, size_t *used,
		const char **body, uint32_t *len)
{
	uint32_t l;
	size_t take;

	*used = 0;
	if (rx->have == 0 && n >= AGENT_HDR_LEN) {
		l = be32(p);
		if (l == 0 || l > AGENT_MAX_REQ) {
			*used = AGENT_HDR_LEN;
			*len = l;
			return AGENT_RX_BAD_LEN;
		}
		if (n - AGENT_HDR_LEN >= l) {
			/* Whole in the caller's bytes: no copy. */
			*used = AGENT_HDR_LEN + l;
			*body = (const char *)p + AGENT_HDR_LEN;
			*len = l;
			return AGENT_RX_FRAME;
		}
	}
	if (rx->have < AGENT_HDR_LEN) {
		take = AGENT_HDR_LEN - rx->have;
		take = take < n ? take : n;
		memcpy(rx->buf + rx->have, p, take);
		rx->have += (uint32_t)take;
		*used = take;
		p += take;
		n -= take;
		if (rx->have < AGENT_HDR_LEN)
			return AGENT_RX_MORE;
		l = be32(rx->buf);
		if (l == 0 || l > AGENT_MAX_REQ) {
			rx->have = 0;
			*len = l;
			return AGENT_RX_BAD_LEN;
		}
	}
	l = be32(rx->buf);
	take = AGENT_HDR_LEN + l - rx->have;
	take = take < n ? take : n;
	memcpy(rx->buf + rx->have, p, take);
	rx->have += (uint32_t)take;
	*used += take;
	if (rx->have < AGENT_HDR_LEN + l)
		return AGENT_RX_MORE;
	rx->have = 0;
	*body = (const char *)rx->buf + AGENT_HDR_LEN;
	*len = l;
	return AGENT_RX_FRAME;
}

uint64_t
agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define GENERIC "{\"error\":{\"class\":\"GenericError\",\"desc\":\""
#define B8 "[[[[[[[["
#define E8 "]]]]]]]]"
/* Length in the header instead of the body's: a bad one. */
#define PROBE_BODY_LEN UINT32_MAX

/* Malformed requests, in order, and what each must get. */
static const struct agent_probe {
	const char *body;
	uint32_t len;		/* in the header; PROBE_BODY_LEN: body's */
	const char *expect;	/* the reply's start; NULL: none, we close */
	bool exact;		/* the whole reply */
	bool closes;		/* the server closes after replying */
} agent_probes[] = {
	{ "{\"execute\":\"ping\"", PROBE_BODY_LEN, GENERIC, false, false },
	{ "{\"execute\":\"nope\"}", PROBE_BODY_LEN,
		"{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"", false,
		false },
	{ "{\"execute\":\"echo\"}", PROBE_BODY_LEN, GENERIC, false, false },
	{ "{\"execute\":\"echo\",\"arguments\":{\"data\":1}}", PROBE_BODY_LEN,
		GENERIC, false, false },
	{ "{\"execute\":\"echo\",\"arguments\":{\"data\":\"\xff\"}}",
		PROBE_BODY_LEN, GENERIC, false, false },
	{ "[1,2]", PROBE_BODY_LEN, GENERIC, false, false },
	{ "{\"execute\":\"ping\"} x", PROBE_BODY_LEN, GENERIC, false, false },
	{ "{\"execute\":\"ping\",\"execute\":\"ping\"}", PROBE_BODY_LEN,
		GENERIC, false, false },
	{ "{\"execute\":\"ping\",\"extra\":1}", PROBE_BODY_LEN, GENERIC,
		false, false },
	{ "{\"id\":" B8 B8 B8 B8 B8 E8 E8 E8 E8 E8 ",\"execute\":\"ping\"}",
		PROBE_BODY_LEN, GENERIC, false, false },
	/* Still serving on this connection, and the id comes back. */
	{ "{\"execute\":\"ping\",\"id\":\"a\\\"b\"}", PROBE_BODY_LEN,
		"{\"return\":{},\"id\":\"a\\\"b\"}", true, false },
	{ "", 0, GENERIC, false, true },
	{ "{}", 0x7fffffff, GENERIC, false, true },
	/* A frame cut short by our close: the server just drops it. */
	{ "{\"execute\":", 100, NULL, false, false },
};

#define AGENT_NB_PROBES (sizeof(agent_probes) / sizeof(agent_probes[0]))

enum exp_mode { EXP_EXACT, EXP_PREFIX, EXP_COUNT };

/* What the current step's reply must be. */
struct agent_expect {
	enum exp_mode mode;
	size_t head;		/* EXP_COUNT: digits go after this many */
	size_t len;
	char text[AGENT_REPLY_BUF];
};

int
agent_client_init(struct agent_client *c, const char *api, uint32_t nb_req,
		bool probes, bool print)
{
	memset(c, 0, sizeof(*c));
	c->api = api;
	c->nb_req = nb_req;
	c->nb_probes = probes ? AGENT_NB_PROBES : 0;
	c->print = print;
	c->lat = calloc(nb_req + 1, sizeof(*c->lat));
	c->exp = malloc(sizeof(*c->exp));
	if (c->lat == NULL || c->exp == NULL) {
		agent_client_free(c);
		return -1;
	}
	return 0;
}

void
agent_client_free(struct agent_client *c)
{
	free(c->lat);
	free(c->exp);
	c->lat = NULL;
	c->exp = NULL;
}

static size_t
put(char *buf, size_t n, const char *s)
{
	size_t l = strlen(s);

	memcpy(buf + n, s, l);
	return n + l;
}

/*
 * Echo data of request @p i, as written: escapes and UTF-8 of all kinds;
 * up to 250 bytes, and for one request in 101 some 9000 more (a frame
 * over several mbufs, a reply over several too).
 */
static size_t
echo_data(uint32_t i, char *buf)
{
	static const char *const units[] = { "a", "\\\"", "\\\\", "\\n",
		"\xc3\xa9", "\\u00e9", "\xf0\x9f\x98\x80", "z", " " };
	size_t n = (size_t)snprintf(buf, 16, "r%u-", i);
	size_t want = n + (i * 37u) % 251u + (i % 101 == 1 ? 9000 : 0);
	unsigned int u = i;

	while (n < want)
		n = put(buf, n, units[u++ % (sizeof(units) /
			sizeof(units[0]))]);
	return n;
}

/* Request @p i into @p body and its reply into c->exp. */
static size_t
request(struct agent_client *c, uint32_t i, char *body)
{
	struct agent_expect *e = c->exp;
	char id[24] = "";
	size_t n = 0;

	if (i % 4 == 3)
		snprintf(id, sizeof(id), ",\"id\":%u", i);
	e->mode = EXP_EXACT;
	if (i % 3 == 0) {
		n = put(body, n, "{\"execute\":\"ping\"");
		e->len = put(e->text, 0, "{\"return\":{}");
	} else if (i % 3 == 1) {
		size_t d;

		n = put(body, n, "{\"execute\":\"echo\","
			"\"arguments\":{\"data\":\"");
		d = echo_data(i, body + n);
		e->len = put(e->text, 0, "{\"return\":{\"data\":\"");
		memcpy(e->text + e->len, body + n, d);
		e->len = put(e->text, e->len + d, "\"}");
		n = put(body, n + d, "\"}");
	} else {
		n = put(body, n, "{\"execute\":\"info\"");
		e->head = put(e->text, 0, "{\"return\":{\"version\":\"1\","
			"\"commands\":[\"ping\",\"echo\",\"info\"],"
			"\"requests\":");
		e->len = put(e->text, e->head, ",\"api\":\"");
		e->len = put(e->text, e->len, c->api);
		e->len = put(e->text, e->len, "\"}");
		e->mode = EXP_COUNT;
	}
	n = put(body, n, id);
	e->len = put(e->text, e->len, id);
	e->len = put(e->text, e->len, "}");
	return put(body, n, "}");
}

size_t
agent_client_frame(struct agent_client *c, char *buf, bool *expect_reply)
{
	char *body = buf + AGENT_HDR_LEN;
	uint32_t hdr;
	size_t n;

	*expect_reply = true;
	if (c->step < c->nb_probes) {
		const struct agent_probe *p = &agent_probes[c->step];

		n = put(body, 0, p->body);
		hdr = p->len == PROBE_BODY_LEN ? (uint32_t)n : p->len;
		*expect_reply = p->expect != NULL;
		if (p->expect != NULL) {
			c->exp->len = put(c->exp->text, 0, p->expect);
			c->exp->mode = p->exact ? EXP_EXACT : EXP_PREFIX;
		}
	} else {
		n = request(c, c->step - c->nb_probes, body);
		hdr = (uint32_t)n;
	}
	buf[0] = (char)(hdr >> 24);
	buf[1] = (char)(hdr >> 16);
	buf[2] = (char)(hdr >> 8);
	buf[3] = (char)hdr;
	c->t_sent = agent_now_ns();
	if (c->step == c->nb_probes)
		c->t_start = c->t_sent;
	return AGENT_HDR_LEN + n;
}

static bool
reply_ok(const struct agent_expect *e, const char *r, size_t n)
{
	size_t d = 0, tail = e->len - e->head;

	switch (e->mode) {
	case EXP_EXACT:
		return n == e->len && memcmp(r, e->text, n) == 0;
	case EXP_PREFIX:
		return n > e->len && memcmp(r, e->text, e->len) == 0;
	case EXP_COUNT:
		if (n <= e->len || memcmp(r, e->text, e->head) != 0)
			return false;
		while (e->head + d < n && r[e->head + d] >= '0' &&
				r[e->head + d] <= '9')
			d++;
		return d > 0 && n == e->len + d &&
			memcmp(r + e->head + d, e->text + e->head, tail) == 0;
	}
	return false;
}

static enum agent_step_end
step_done(struct agent_client *c)
{
	c->step++;
	c->t_end = agent_now_ns();
	return c->step >= c->nb_probes + c->nb_req ? AGENT_STEP_DONE :
		AGENT_STEP_NEXT;
}

enum agent_step_end
agent_client_reply(struct agent_client *c, const char *json, uint32_t len)
{
	bool closes = c->step < c->nb_probes && agent_probes[c->step].closes;
	uint64_t now = agent_now_ns();

	if (c->print)
		printf("reply %u %.*s\n", c->step, (int)len, json);
	if (c->step >= c->nb_probes)
		c->lat[c->step - c->nb_probes] = now - c->t_sent;
	if (reply_ok(c->exp, json, len)) {
		c->good++;
	} else {
		c->bad++;
		fprintf(stderr, "step %u: unexpected reply %.*s\n", c->step,
			(int)(len < 200 ? len : 200), json);
	}
	if (closes)
		return AGENT_STEP_AWAIT_CLOSE;
	return step_done(c);
}

int
agent_client_closed(struct agent_client *c, bool by_us)
{
	bool expected = by_us || (c->step < c->nb_probes &&
		agent_probes[c->step].closes);

	if (!expected) {
		c->bad++;
		fprintf(stderr, "step %u: the server closed\n", c->step);
		return -1;
	}
	if (by_us)
		c->good++;
	return step_done(c) == AGENT_STEP_DONE ? AGENT_STEP_DONE :
		AGENT_STEP_RECONNECT;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with @p pct percent at or below it. */
static double
pct_us(const uint64_t *v, uint32_t n, unsigned int pct)
{
	size_t rank = ((size_t)n * pct + 99) / 100;

	return n == 0 ? 0 : (double)v[rank > 0 ? rank - 1 : 0] / 1000.0;
}

int
agent_client_report(struct agent_client *c, const char *prog)
{
	uint32_t n = c->nb_req;
	uint64_t ns = c->t_end > c->t_start ? c->t_end - c->t_start : 1;
	uint32_t want = c->nb_probes + c->nb_req;

	qsort(c->lat, n, sizeof(*c->lat), cmp_u64);
	printf("%s client: %u requests, %u good, %u bad, %u connections; "
		"%.0f req/s, p50 %.2f us, p99 %.2f us\n", prog, want, c->good,
		c->bad, c->conns, n * 1e9 / (double)ns, pct_us(c->lat, n, 50),
		pct_us(c->lat, n, 99));
	fflush(stdout);
	return c->bad == 0 && c->good == want ? 0 : -1;
}
