/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The server side of the agent protocol: a strict JSON parser of exactly
 * what a request may hold (RFC 8259 grammar, UTF-8 checked, nesting
 * bounded), and the replies. Values a reply quotes (echo data, id) are
 * copied as written in the request: they were validated, so they are
 * valid JSON again in the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

#define AGENT_MAX_DEPTH 32
/* How much of a bad name an error desc quotes. */
#define AGENT_QUOTE_MAX 48

struct agent_json {
	const char *p, *end;
	int depth;
	const char *err;	/* why parsing stopped (a literal) */
};

/* A JSON string as written, between its quotes. */
struct agent_str {
	const char *p;
	size_t n;
};

static int json_value(struct agent_json *j, struct agent_str *raw);

static int
json_fail(struct agent_json *j, const char *why)
{
	if (j->err == NULL)
		j->err = why;
	return -1;
}

static void
json_ws(struct agent_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
			*j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
json_expect(struct agent_json *j, char ch, const char *why)
{
	json_ws(j);
	if (j->p >= j->end || *j->p != ch)
		return json_fail(j, why);
	j->p++;
	return 0;
}

/* Length of the UTF-8 sequence at @p p (1..4), or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned int c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Length of the escape at @p p (after its backslash's start), or 0. */
static size_t
escape_len(const char *p, const char *end)
{
	size_t i;

	if (end - p < 2)
		return 0;
	if (strchr("\"\\/bfnrt", p[1]) != NULL && p[1] != '\0')
		return 2;
	if (p[1] != 'u' || end - p < 6)
		return 0;
	for (i = 2; i < 6; i++)
		if (strchr("0123456789abcdefABCDEF", p[i]) == NULL ||
				p[i] == '\0')
			return 0;
	return 6;
}

static int
json_string(struct agent_json *j, struct agent_str *s)
{
	size_t n;

	if (json_expect(j, '"', "a string was expected") < 0)
		return -1;
	s->p = j->p;
	while (j->p < j->end && *j->p != '"') {
		if ((unsigned char)*j->p < 0x20)
			return json_fail(j, "control character in a string");
		if (*j->p == '\\')
			n = escape_len(j->p, j->end);
		else
			n = utf8_len((const unsigned char *)j->p,
				(const unsigned char *)j->end);
		if (n == 0)
			return json_fail(j, *j->p == '\\' ?
				"bad escape in a string" :
				"invalid UTF-8 in a string");
		j->p += n;
	}
	if (j->p >= j->end)
		return json_fail(j, "unterminated string");
	s->n = (size_t)(j->p - s->p);
	j->p++;
	return 0;
}

static size_t
json_digits(struct agent_json *j)
{
	const char *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return (size_t)(j->p - start);
}

static int
json_number(struct agent_json *j)
{
	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (json_digits(j) == 0)
		return json_fail(j, "bad number");
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (json_digits(j) == 0)
			return json_fail(j, "bad number");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (json_digits(j) == 0)
			return json_fail(j, "bad number");
	}
	return 0;
}

/* Calls @p member for each member; a NULL @p member skips them. */
typedef int (*json_member_t)(struct agent_json *j, const struct agent_str *key,
		void *arg);

/* One element of an object (a member) or of an array (a value). */
static int
json_element(struct agent_json *j, bool object, json_member_t member,
		void *arg)
{
	struct agent_str key;

	if (!object)
		return json_value(j, NULL);
	if (json_string(j, &key) < 0 ||
			json_expect(j, ':', "':' was expected") < 0)
		return -1;
	return member != NULL ? member(j, &key, arg) : json_value(j, NULL);
}

/* An object ('{') or an array ('['), whichever @p open says. */
static int
json_container(struct agent_json *j, char open, json_member_t member,
		void *arg)
{
	bool object = open == '{';
	char close = object ? '}' : ']';

	if (json_expect(j, open, object ? "an object was expected" :
			"an array was expected") < 0)
		return -1;
	if (++j->depth > AGENT_MAX_DEPTH)
		return json_fail(j, "nested too deep");
	json_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		if (json_element(j, object, member, arg) < 0)
			return -1;
		json_ws(j);
		if (j->p < j->end && *j->p == close)
			break;
		if (json_expect(j, ',', object ? "',' or '}' was expected" :
				"',' or ']' was expected") < 0)
			return -1;
	}
	j->p++;
	j->depth--;
	return 0;
}

static int
json_object(struct agent_json *j, json_member_t member, void *arg)
{
	return json_container(j, '{', member, arg);
}

/* Any value, checked and skipped; @p raw receives its text. */
static int
json_value(struct agent_json *j, struct agent_str *raw)
{
	static const char *const lits[] = { "true", "false", "null" };
	const char *start;
	unsigned int i;
	int ret = -1;

	json_ws(j);
	start = j->p;
	if (j->p >= j->end)
		return json_fail(j, "a value was expected");
	if (*j->p == '{') {
		ret = json_object(j, NULL, NULL);
	} else if (*j->p == '[') {
		ret = json_container(j, '[', NULL, NULL);
	} else if (*j->p == '"') {
		struct agent_str s;

		ret = json_string(j, &s);
	} else if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		ret = json_number(j);
	} else {
		for (i = 0; i < 3; i++) {
			size_t n = strlen(lits[i]);

			if ((size_t)(j->end - j->p) >= n &&
					memcmp(j->p, lits[i], n) == 0) {
				j->p += n;
				ret = 0;
				break;
			}
		}
		if (ret < 0)
			return json_fail(j, "a value was expected");
	}
	if (ret == 0 && raw != NULL) {
		raw->p = start;
		raw->n = (size_t)(j->p - start);
	}
	return ret;
}

static bool
str_is(const struct agent_str *s, const char *lit)
{
	return s->n == strlen(lit) && memcmp(s->p, lit, s->n) == 0;
}

/* What a request holds. */
struct agent_req {
	struct agent_str execute, data;	/* p NULL: not a string */
	struct agent_str id;
	bool has_execute, has_args, has_id, has_data;
	struct agent_str bad_member;	/* first unexpected; p NULL: none */
	struct agent_str bad_arg;	/* same, in "arguments" */
	bool dup;			/* a member given twice */
};

/* Member @p has is here (again?). */
static void
req_seen(struct agent_req *r, bool *has)
{
	r->dup |= *has;
	*has = true;
}

/*
 * A member meant to be a string: into @p s, or s->p NULL when it is
 * another value (the reply says so, after a full parse).
 */
static int
req_string(struct agent_json *j, struct agent_req *r, bool *has,
		struct agent_str *s)
{
	req_seen(r, has);
	json_ws(j);
	if (j->p < j->end && *j->p == '"')
		return json_string(j, s);
	s->p = NULL;
	return json_value(j, NULL);
}

/* A member nobody expects: the first one is named in the error. */
static int
req_unexpected(struct agent_json *j, struct agent_str *bad,
		const struct agent_str *key)
{
	if (bad->p == NULL)
		*bad = *key;
	return json_value(j, NULL);
}

static int
req_arg(struct agent_json *j, const struct agent_str *key, void *arg)
{
	struct agent_req *r = arg;

	if (str_is(key, "data"))
		return req_string(j, r, &r->has_data, &r->data);
	return req_unexpected(j, &r->bad_arg, key);
}

static int
req_member(struct agent_json *j, const struct agent_str *key, void *arg)
{
	struct agent_req *r = arg;

	if (str_is(key, "execute"))
		return req_string(j, r, &r->has_execute, &r->execute);
	if (str_is(key, "arguments")) {
		req_seen(r, &r->has_args);
		return json_object(j, req_arg, r);
	}
	if (str_is(key, "id")) {
		req_seen(r, &r->has_id);
		return json_value(j, &r->id);
	}
	return req_unexpected(j, &r->bad_member, key);
}

/* Reply under construction; overflow only ever truncates. */
struct agent_out {
	char *buf;
	size_t n, cap;
	bool err;	/* an error reply */
};

static void
out_put(struct agent_out *o, const char *s, size_t n)
{
	if (n > o->cap - o->n)
		n = o->cap - o->n;
	memcpy(o->buf + o->n, s, n);
	o->n += n;
}

static void
out_str(struct agent_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* A string as written in the request, cut at a whole escape or char. */
static void
out_quote(struct agent_out *o, const struct agent_str *s)
{
	const char *p = s->p, *end = s->p + s->n;
	size_t n;

	while (p < end) {
		n = *p == '\\' ? escape_len(p, end) :
			utf8_len((const unsigned char *)p,
				(const unsigned char *)end);
		if (n == 0 || (size_t)(p + n - s->p) > AGENT_QUOTE_MAX)
			break;
		p += n;
	}
	out_put(o, s->p, (size_t)(p - s->p));
	if (p < end)
		out_str(o, "...");
}

static void
out_error(struct agent_out *o, const char *cls, const char *desc,
		const struct agent_str *quote)
{
	o->err = true;
	out_str(o, "{\"error\":{\"class\":\"");
	out_str(o, cls);
	out_str(o, "\",\"desc\":\"");
	out_str(o, desc);
	if (quote != NULL) {
		out_str(o, " '");
		out_quote(o, quote);
		out_str(o, "'");
	}
	out_str(o, "\"}");
}

static void
out_frame(struct agent_out *o)
{
	uint32_t len = (uint32_t)(o->n - AGENT_HDR_LEN);

	o->buf[0] = (char)(len >> 24);
	o->buf[1] = (char)(len >> 16);
	o->buf[2] = (char)(len >> 8);
	o->buf[3] = (char)len;
}

static void
serve_command(struct agent_server *s, const struct agent_req *r,
		struct agent_out *o)
{
	char num[32];

	if (str_is(&r->execute, "ping") || str_is(&r->execute, "info")) {
		if (r->bad_arg.p != NULL) {
			out_error(o, "GenericError", "unexpected parameter",
				&r->bad_arg);
		} else if (r->has_data) {
			static const struct agent_str data = { "data", 4 };

			out_error(o, "GenericError", "unexpected parameter",
				&data);
		} else if (str_is(&r->execute, "ping")) {
			out_str(o, "{\"return\":{}");
		} else {
			out_str(o, "{\"return\":{\"version\":\"1\","
				"\"commands\":[\"ping\",\"echo\",\"info\"],"
				"\"requests\":");
			snprintf(num, sizeof(num), "%llu",
				(unsigned long long)s->requests);
			out_str(o, num);
			out_str(o, ",\"api\":\"");
			out_str(o, s->api);
			out_str(o, "\"}");
		}
	} else if (str_is(&r->execute, "echo")) {
		if (r->bad_arg.p != NULL)
			out_error(o, "GenericError", "unexpected parameter",
				&r->bad_arg);
		else if (!r->has_data)
			out_error(o, "GenericError",
				"parameter 'data' is missing", NULL);
		else if (r->data.p == NULL)
			out_error(o, "GenericError",
				"parameter 'data' must be a string", NULL);
		else {
			out_str(o, "{\"return\":{\"data\":\"");
			out_put(o, r->data.p, r->data.n);
			out_str(o, "\"}");
		}
	} else {
		out_error(o, "CommandNotFound", "no such command",
			&r->execute);
	}
}

size_t
agent_serve(struct agent_server *s, const char *req, uint32_t len,
		char *out, size_t cap)
{
	struct agent_json j = { .p = req, .end = req + len };
	struct agent_out o = { .buf = out, .n = AGENT_HDR_LEN, .cap = cap };
	struct agent_req r;

	memset(&r, 0, sizeof(r));
	s->requests++;
	if (json_object(&j, req_member, &r) == 0) {
		json_ws(&j);
		if (j.p != j.end)
			json_fail(&j, "bytes after the object");
	}
	if (j.err != NULL)
		out_error(&o, "GenericError", j.err, NULL);
	else if (r.dup)
		out_error(&o, "GenericError", "a member is given twice", NULL);
	else if (r.bad_member.p != NULL)
		out_error(&o, "GenericError", "unexpected member",
			&r.bad_member);
	else if (!r.has_execute)
		out_error(&o, "GenericError", "'execute' is missing", NULL);
	else if (r.execute.p == NULL)
		out_error(&o, "GenericError", "'execute' must be a string",
			NULL);
	else
		serve_command(s, &r, &o);
	if (o.err)
		s->errors++;
	if (r.has_id && j.err == NULL) {
		out_str(&o, ",\"id\":");
		out_put(&o, r.id.p, r.id.n);
	}
	out_str(&o, "}");
	out_frame(&o);
	return o.n;
}

size_t
agent_serve_bad_len(struct agent_server *s, uint32_t len, char *out,
		size_t cap)
{
	struct agent_out o = { .buf = out, .n = AGENT_HDR_LEN, .cap = cap };
	char desc[96];

	s->requests++;
	s->errors++;
	snprintf(desc, sizeof(desc), "request length %u is not in 1..%u",
		len, AGENT_MAX_REQ);
	out_error(&o, "GenericError", desc, NULL);
	out_str(&o, "}");
	out_frame(&o);
	return o.n;
}

void
agent_server_report(const struct agent_server *s, const char *prog)
{
	printf("%s: served %llu requests (%llu errors) on %llu connections\n",
		prog, (unsigned long long)s->requests,
		(unsigned long long)s->errors,
		(unsigned long long)s->conns);
	fflush(stdout);
}
