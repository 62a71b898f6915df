/*
 * Request-target parsing of the HTTP API, kept pure (no libevent, no
 * allocation) so the fuzzer can drive it directly and every handler gets
 * parameters that are already decoded and range-checked.
 */
#include <stdio.h>
#include <string.h>

#include "common/cm.h"
#include "node/http.h"

static const struct {
	int rc;
	const char *id;
	const char *msg;
} http_codes[] = {
#define NODE_HTTP_ROW(name, val, id, msg) {val, id, msg},
	NODE_HTTP_ERRORS(NODE_HTTP_ROW)
#undef NODE_HTTP_ROW
};

const char *node_http_strerror(int rc)
{
	for (size_t i = 0; i < sizeof http_codes / sizeof http_codes[0]; i++)
		if (http_codes[i].rc == rc)
			return http_codes[i].msg;
	return ledger_strerror(rc);
}

const char *node_http_reason(int rc)
{
	for (size_t i = 0; i < sizeof http_codes / sizeof http_codes[0]; i++)
		if (http_codes[i].rc == rc)
			return http_codes[i].id;
	return "internal";
}

#define SEGS_MAX 5u
/* Longer than any valid segment or value (an address is 61 characters,
 * a hash 64); anything longer is rejected before it is copied. */
#define VALUE_MAX 96u

typedef struct span {
	const char *p;
	size_t n;
} span;

static bool span_is(span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int fail(char *msg, size_t msglen, int rc, const char *fmt, const char *arg)
{
	if (msglen > 0)
		snprintf(msg, msglen, fmt, arg);
	return rc;
}

/* Copies a percent-decoded value into out[VALUE_MAX + 1]. */
static bool pct_decode(span s, char out[VALUE_MAX + 1])
{
	size_t o = 0;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		if (c == '%') {
			uint8_t b;
			if (s.n - i < 3)
				return false;
			if (cm_hex_decode(&b, 1, s.p + i + 1, 2) != 0)
				return false;
			c = (char)b;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0' || o == VALUE_MAX)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), integers only. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_day(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	if (n == 10 && s[4] == '-' && s[7] == '-') {
		unsigned v[8];
		for (size_t i = 0, k = 0; i < 10; i++) {
			if (i == 4 || i == 7)
				continue;
			if (s[i] < '0' || s[i] > '9')
				return false;
			v[k++] = (unsigned)(s[i] - '0');
		}
		unsigned y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
		unsigned m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
		static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
			return false;
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		if (m == 2 && d == 29 && !leap)
			return false;
		*out = days_from_civil(y, m, d);
		return true;
	}
	bool neg = s[0] == '-';
	uint64_t v;
	/* A day number: bounded well inside int64 (about 2.7 million years). */
	if (!parse_u64(s + neg, &v) || v > 1000000000u)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static int parse_address(span s, ck_pubkey out, char *msg, size_t msglen)
{
	char buf[VALUE_MAX + 1];
	if (s.n > VALUE_MAX)
		return fail(msg, msglen, NODE_E_HTTP_BAD_ADDRESS, "%s", ck_strerror(CK_E_ADDR_LENGTH));
	memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	if (memchr(s.p, '\0', s.n) != NULL)
		return fail(msg, msglen, NODE_E_HTTP_BAD_ADDRESS, "%s", ck_strerror(CK_E_ADDR_CHAR));
	int rc = ck_address_decode(out, buf);
	if (rc != 0)
		return fail(msg, msglen, NODE_E_HTTP_BAD_ADDRESS, "%s", ck_strerror(rc));
	return 0;
}

static int parse_hash(span s, ck_hash out, char *msg, size_t msglen, const char *what)
{
	if (s.n != 2 * CK_HASH_BYTES || cm_hex_decode(out, CK_HASH_BYTES, s.p, s.n) != 0)
		return fail(msg, msglen, NODE_E_HTTP_BAD_HASH, "%s: 64 hex digits expected", what);
	return 0;
}

/* A {height} segment: decimal digits, or "latest" where the route takes it
 * (then t->latest, height 0). */
static int parse_height(span s, bool latest_ok, node_http_target *t, char *msg, size_t msglen)
{
	if (latest_ok && span_is(s, "latest")) {
		t->latest = true;
		return 0;
	}
	char buf[VALUE_MAX + 1];
	if (s.n > 20)
		return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s", "height: too long");
	memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	/* A NUL byte would end the digits early: "12\0x" is not height 12. */
	if (memchr(s.p, '\0', s.n) != NULL || !parse_u64(buf, &t->height))
		return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
			    latest_ok ? "height: decimal digits or \"latest\" expected"
				      : "height: decimal digits expected");
	return 0;
}

/* Matches the path segments to a route; fills the path parameters. */
static int match_path(const span *sg, size_t n, node_http_target *t, char *msg, size_t msglen)
{
	if (n == 1 && span_is(sg[0], "metrics")) {
		t->route = NODE_HTTP_R_METRICS;
		return 0;
	}
	if (n < 2 || !span_is(sg[0], "v1"))
		return NODE_E_HTTP_NOT_FOUND;
	span a = sg[1];
	if (n == 2) {
		static const struct {
			const char *name;
			enum node_http_route route;
			bool post;
		} flat[] = {
			{"tx", NODE_HTTP_R_TX_POST, true},     {"txs", NODE_HTTP_R_TXS_POST, true},
			{"offers", NODE_HTTP_R_OFFERS, false}, {"receipts", NODE_HTTP_R_RECEIPTS, false},
			{"supply", NODE_HTTP_R_SUPPLY, false}, {"evidence", NODE_HTTP_R_EVIDENCE, false},
			{"status", NODE_HTTP_R_STATUS, false},
		};
		for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++)
			if (span_is(a, flat[i].name)) {
				t->route = flat[i].route;
				t->post = flat[i].post;
				return 0;
			}
		return NODE_E_HTTP_NOT_FOUND;
	}
	if (n == 3 && span_is(a, "tx")) {
		t->route = NODE_HTTP_R_TX;
		return parse_hash(sg[2], t->hash, msg, msglen, "transaction hash");
	}
	if (n == 3 && span_is(a, "trip")) {
		t->route = NODE_HTTP_R_TRIP;
		return parse_hash(sg[2], t->hash, msg, msglen, "trip id");
	}
	if (n == 3 && span_is(a, "block")) {
		t->route = NODE_HTTP_R_BLOCK;
		return parse_height(sg[2], true, t, msg, msglen);
	}
	if (n == 3 && span_is(a, "header")) {
		t->route = NODE_HTTP_R_HEADER;
		return parse_height(sg[2], true, t, msg, msglen);
	}
	if (n == 3 && span_is(a, "valset")) {
		t->route = NODE_HTTP_R_VALSET;
		return parse_height(sg[2], false, t, msg, msglen);
	}
	if (span_is(a, "account") && (n == 3 || n == 4)) {
		if (n == 3)
			t->route = NODE_HTTP_R_ACCOUNT;
		else if (span_is(sg[3], "history"))
			t->route = NODE_HTTP_R_HISTORY;
		else if (span_is(sg[3], "proof"))
			t->route = NODE_HTTP_R_PROOF;
		else
			return NODE_E_HTTP_NOT_FOUND;
		return parse_address(sg[2], t->key, msg, msglen);
	}
	if (n == 4 && span_is(a, "operator") && span_is(sg[3], "trips")) {
		t->route = NODE_HTTP_R_OPERATOR_TRIPS;
		return parse_address(sg[2], t->key, msg, msglen);
	}
	return NODE_E_HTTP_NOT_FOUND;
}

/* Query parameters each route accepts. */
static uint32_t allowed_query(enum node_http_route r)
{
	switch (r) {
	case NODE_HTTP_R_TX_POST:
		return NODE_HTTP_Q_WAIT_MS;
	case NODE_HTTP_R_HISTORY:
		return NODE_HTTP_Q_CURSOR | NODE_HTTP_Q_LIMIT;
	case NODE_HTTP_R_OPERATOR_TRIPS:
		return NODE_HTTP_Q_DAY | NODE_HTTP_Q_CURSOR | NODE_HTTP_Q_LIMIT;
	case NODE_HTTP_R_OFFERS:
		return NODE_HTTP_Q_AFTER | NODE_HTTP_Q_LIMIT;
	case NODE_HTTP_R_RECEIPTS:
		return NODE_HTTP_Q_MERCHANT | NODE_HTTP_Q_CURSOR | NODE_HTTP_Q_LIMIT;
	default:
		return 0;
	}
}

static uint32_t required_query(enum node_http_route r)
{
	switch (r) {
	case NODE_HTTP_R_OPERATOR_TRIPS:
		return NODE_HTTP_Q_DAY;
	case NODE_HTTP_R_RECEIPTS:
		return NODE_HTTP_Q_MERCHANT;
	default:
		return 0;
	}
}

static int parse_param(span key, span val, node_http_target *t, char *msg, size_t msglen)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
		{"wait_ms", NODE_HTTP_Q_WAIT_MS}, {"cursor", NODE_HTTP_Q_CURSOR},
		{"limit", NODE_HTTP_Q_LIMIT},     {"day", NODE_HTTP_Q_DAY},
		{"merchant", NODE_HTTP_Q_MERCHANT}, {"after", NODE_HTTP_Q_AFTER},
	};
	uint32_t bit = 0;
	const char *name = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (span_is(key, names[i].name)) {
			bit = names[i].bit;
			name = names[i].name;
		}
	if (bit == 0 || (allowed_query(t->route) & bit) == 0) {
		char k[VALUE_MAX + 1];
		if (!pct_decode(key, k))
			snprintf(k, sizeof k, "?");
		return fail(msg, msglen, NODE_E_HTTP_BAD_QUERY, "unknown query parameter \"%s\"", k);
	}
	if (t->query & bit)
		return fail(msg, msglen, NODE_E_HTTP_BAD_QUERY, "query parameter %s repeated", name);
	t->query |= bit;
	char v[VALUE_MAX + 1];
	if (!pct_decode(val, v))
		return fail(msg, msglen, NODE_E_HTTP_BAD_QUERY, "query parameter %s malformed", name);
	uint64_t u;
	switch (bit) {
	case NODE_HTTP_Q_WAIT_MS:
		if (!parse_u64(v, &u) || u > LIM_HTTP_WAIT_MS_MAX)
			return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
				    "wait_ms: milliseconds from 0 to 60000 expected");
		t->wait_ms = u;
		return 0;
	case NODE_HTTP_Q_CURSOR:
		if (!parse_u64(v, &t->cursor))
			return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
				    "cursor: the next_cursor of a previous page expected");
		return 0;
	case NODE_HTTP_Q_AFTER:
		if (!parse_u64(v, &t->after))
			return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
				    "after: an offer id expected");
		return 0;
	case NODE_HTTP_Q_LIMIT:
		if (!parse_u64(v, &u) || u < 1 || u > LIM_HISTORY_PAGE_MAX)
			return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
				    "limit: 1 to 1000 expected");
		t->limit = (uint32_t)u;
		return 0;
	case NODE_HTTP_Q_DAY:
		if (!parse_day(v, &t->day))
			return fail(msg, msglen, NODE_E_HTTP_BAD_NUMBER, "%s",
				    "day: YYYY-MM-DD or a day number expected");
		return 0;
	case NODE_HTTP_Q_MERCHANT:
		return parse_address((span){v, strlen(v)}, t->merchant, msg, msglen);
	}
	return NODE_E_HTTP_BAD_QUERY;
}

int node_http_parse_target(const char *target, size_t len, node_http_target *out, char *msg,
			   size_t msglen)
{
	memset(out, 0, sizeof *out);
	if (msglen > 0)
		msg[0] = '\0';
	if (len == 0 || target[0] != '/')
		return fail(msg, msglen, NODE_E_HTTP_BAD_PATH, "%s", "target must start with /");
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;

	span sg[SEGS_MAX];
	size_t n = 0;
	for (size_t i = 1; i <= plen;) {
		size_t j = i;
		while (j < plen && target[j] != '/')
			j++;
		if (j == i || n == SEGS_MAX)
			return NODE_E_HTTP_NOT_FOUND;  /* empty segment or too deep */
		sg[n++] = (span){target + i, j - i};
		i = j + 1;
	}
	int rc = match_path(sg, n, out, msg, msglen);
	if (rc != 0)
		return rc;
	if (q != NULL) {
		const char *p = q + 1, *end = target + len;
		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *e = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(e - p));
			if (e > p) {  /* tolerate "a=1&&b=2" and a trailing & */
				if (eq == NULL)
					return fail(msg, msglen, NODE_E_HTTP_BAD_QUERY, "%s",
						    "query parameter without a value");
				rc = parse_param((span){p, (size_t)(eq - p)},
						 (span){eq + 1, (size_t)(e - eq - 1)}, out, msg, msglen);
				if (rc != 0)
					return rc;
			}
			p = e + 1;
		}
	}
	uint32_t missing = required_query(out->route) & ~out->query;
	if (missing)
		return fail(msg, msglen, NODE_E_HTTP_BAD_QUERY, "missing query parameter %s",
			    missing == NODE_HTTP_Q_DAY ? "day" : "merchant");
	return 0;
}
