/*
 * A small blocking HTTP/1.1 client over sockets: enough for a command line
 * that sends one request at a time to a node it chose. Keep-alive, a
 * Content-Length or chunked body, every wait bounded by poll() and every
 * answer bounded in size before anything is allocated for it. libevent's
 * evhttp client would do as well but wants an event loop around a
 * program that has nothing else to wait for.
 *
 * Failures are sorted by how far the request got (enum
 * wallet_conn_stage), since that decides whether it may be sent to the
 * next node: wallet/node.c makes the choice.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wallet/http_internal.h"

#define HEADERS_MAX (16u * 1024u)

__attribute__((format(printf, 3, 4))) void wallet_msgf(char *msg, size_t msglen, const char *fmt,
						       ...)
{
	if (msg == NULL || msglen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

uint64_t wallet_now_ms(void)
{
	/* Only for timeouts and rates on screen; never in a transaction. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int wallet_url_parse(const char *s, wallet_url *out)
{
	memset(out, 0, sizeof *out);
	if (strncmp(s, "https://", 8) == 0)
		return WALLET_E_URL;
	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	const char *slash = strchr(s, '/');
	size_t hp = slash ? (size_t)(slash - s) : strlen(s);
	const char *colon = NULL;
	if (hp > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', hp);
		if (rb == NULL || rb == s + 1)
			return WALLET_E_URL;
		size_t hl = (size_t)(rb - s - 1);
		if (hl >= sizeof out->host)
			return WALLET_E_URL;
		memcpy(out->host, s + 1, hl);
		if (rb + 1 < s + hp) {
			if (rb[1] != ':')
				return WALLET_E_URL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(s, ':', hp);
		size_t hl = colon ? (size_t)(colon - s) : hp;
		if (hl == 0 || hl >= sizeof out->host)
			return WALLET_E_URL;
		memcpy(out->host, s, hl);
	}
	uint32_t port = 80;
	if (colon != NULL) {
		const char *p = colon + 1;
		if (p == s + hp)
			return WALLET_E_URL;
		port = 0;
		for (; p < s + hp; p++) {
			if (*p < '0' || *p > '9' || (port = port * 10 + (uint32_t)(*p - '0')) > 65535)
				return WALLET_E_URL;
		}
		if (port == 0)
			return WALLET_E_URL;
	}
	out->port = (uint16_t)port;
	if (slash != NULL) {
		size_t pl = strlen(slash);
		while (pl > 0 && slash[pl - 1] == '/')
			pl--;
		if (pl >= sizeof out->prefix || memchr(slash, '?', pl) || memchr(slash, '#', pl))
			return WALLET_E_URL;
		memcpy(out->prefix, slash, pl);
	}
	for (const char *h = out->host; *h; h++)
		if (*h <= ' ' || *h == '@' || *h == '/')
			return WALLET_E_URL;
	return 0;
}

void wallet_http_resp_free(wallet_http_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

void wallet_conn_close(wallet_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Milliseconds left until deadline (0 if passed). */
static int left_ms(uint64_t deadline)
{
	uint64_t now = wallet_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now > 60000000u ? 60000000u : deadline - now);
}

int wallet_conn_open(wallet_conn *c, const wallet_url *u, uint32_t timeout_ms, char *msg,
		     size_t msglen)
{
	uint64_t deadline = wallet_now_ms() + timeout_ms;
	/* A node that closes mid-request must not kill the wallet. */
	signal(SIGPIPE, SIG_IGN);
	wallet_conn_close(c);
	char port[8];
	snprintf(port, sizeof port, "%u", u->port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(u->host, port, &hints, &res);
	if (gai != 0) {
		wallet_msgf(msg, msglen, "cannot resolve %s: %s", u->host, gai_strerror(gai));
		return WALLET_E_CONNECT;
	}
	int err = ECONNREFUSED;
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		int rc = connect(fd, a->ai_addr, a->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			struct pollfd p = {fd, POLLOUT, 0};
			int t = left_ms(deadline);
			rc = t == 0 ? 0 : poll(&p, 1, t);
			if (rc == 0) {
				err = ETIMEDOUT;
				close(fd);
				continue;
			}
			socklen_t sl = sizeof err;
			if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
				err = errno;
			rc = err == 0 ? 0 : -1;
		} else if (rc != 0) {
			err = errno;
		}
		if (rc == 0) {
			c->fd = fd;
			freeaddrinfo(res);
			return 0;
		}
		close(fd);
	}
	freeaddrinfo(res);
	if (err == ETIMEDOUT) {
		wallet_msgf(msg, msglen, "no connection within %u ms", timeout_ms);
		return WALLET_E_TIMEOUT;
	}
	wallet_msgf(msg, msglen, "%s", strerror(err));
	return WALLET_E_CONNECT;
}

static int send_all(int fd, const void *p, size_t n, uint64_t deadline)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {fd, POLLOUT, 0};
			int t = left_ms(deadline);
			if (t == 0 || poll(&pf, 1, t) == 0)
				return WALLET_E_TIMEOUT;
			continue;
		}
		return WALLET_E_CONNECT;
	}
	return 0;
}

/* Reads more bytes into the buffer (growing it up to cap). 0, or
 * WALLET_E_TIMEOUT, WALLET_E_CONNECT (reset or EOF: *eof says which),
 * WALLET_E_TOO_BIG, WALLET_E_NOMEM. */
typedef struct rbuf {
	char *p;
	size_t len, cap, max;
} rbuf;

static int read_more(int fd, rbuf *b, uint64_t deadline, bool *eof)
{
	*eof = false;
	if (b->len == b->max)
		return WALLET_E_TOO_BIG;
	if (b->len + 1 >= b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16384;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		char *np = realloc(b->p, ncap);
		if (np == NULL)
			return WALLET_E_NOMEM;
		b->p = np;
		b->cap = ncap;
	}
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		int t = left_ms(deadline);
		int pr = t == 0 ? 0 : poll(&pf, 1, t);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return WALLET_E_TIMEOUT;
		ssize_t r = recv(fd, b->p + b->len, b->cap - 1 - b->len, 0);
		if (r > 0) {
			b->len += (size_t)r;
			return 0;
		}
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		*eof = r == 0;
		return WALLET_E_CONNECT;
	}
}

static const char *find_crlf2(const char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i;
	return NULL;
}

/* Value of header name in the header block [p, end), or NULL; *vlen. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

static bool parse_size(const char *v, size_t n, int base, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d;
		char ch = v[i];
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return false;
		if (x > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		x = x * (uint64_t)base + (uint64_t)d;
	}
	*out = x;
	return true;
}

/* Decodes a chunked body in place: b->p[start, b->len) holds what has
 * been read so far; reads more as needed. On success the body is
 * b->p[start, start + *blen). */
static int read_chunked(int fd, rbuf *b, size_t start, uint64_t deadline, size_t *blen)
{
	size_t rd = start, wr = start;
	bool eof;
	int rc;
	for (;;) {
		const char *eol;
		while ((eol = memchr(b->p + rd, '\n', b->len - rd)) == NULL) {
			if (b->len - rd > 64)
				return WALLET_E_HTTP;
			if ((rc = read_more(fd, b, deadline, &eof)) != 0)
				return rc == WALLET_E_CONNECT ? WALLET_E_HTTP : rc;
		}
		size_t ll = (size_t)(eol - (b->p + rd));
		const char *semi = memchr(b->p + rd, ';', ll);
		size_t hl = semi ? (size_t)(semi - (b->p + rd)) : ll;
		if (hl > 0 && b->p[rd + hl - 1] == '\r')
			hl--;
		uint64_t sz;
		if (!parse_size(b->p + rd, hl, 16, &sz) || sz > b->max)
			return WALLET_E_HTTP;
		rd += ll + 1;
		if (sz == 0) {
			/* Trailers are not used by nodes: expect the final CRLF. */
			while (b->len - rd < 2)
				if ((rc = read_more(fd, b, deadline, &eof)) != 0)
					return rc == WALLET_E_CONNECT ? WALLET_E_HTTP : rc;
			if (b->p[rd] != '\r' || b->p[rd + 1] != '\n')
				return WALLET_E_HTTP;
			*blen = wr - start;
			return 0;
		}
		if (wr - start + sz > b->max)
			return WALLET_E_TOO_BIG;
		while (b->len - rd < sz + 2)
			if ((rc = read_more(fd, b, deadline, &eof)) != 0)
				return rc == WALLET_E_CONNECT ? WALLET_E_HTTP : rc;
		memmove(b->p + wr, b->p + rd, (size_t)sz);
		wr += (size_t)sz;
		rd += (size_t)sz;
		if (b->p[rd] != '\r' || b->p[rd + 1] != '\n')
			return WALLET_E_HTTP;
		rd += 2;
	}
}

int wallet_conn_request(wallet_conn *c, const wallet_url *u, const char *method, const char *path,
			const char *content_type, const void *body, size_t len,
			uint32_t timeout_ms, size_t max, wallet_http_resp *out,
			enum wallet_conn_stage *stage)
{
	assert(c->fd >= 0);
	memset(out, 0, sizeof *out);
	*stage = WALLET_CONN_UNANSWERED;
	uint64_t deadline = wallet_now_ms() + timeout_ms;
	char head[1024];
	int hl = snprintf(head, sizeof head,
			  "%s %s%s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: carbon-wallet\r\n"
			  "Accept: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n",
			  method, u->prefix, path, u->host, u->port,
			  content_type ? "Content-Type: " : "", content_type ? content_type : "",
			  content_type ? "\r\n" : "", len);
	if (hl < 0 || (size_t)hl >= sizeof head)
		return WALLET_E_URL;
	int rc = send_all(c->fd, head, (size_t)hl, deadline);
	if (rc == 0 && len > 0)
		rc = send_all(c->fd, body, len, deadline);
	if (rc != 0) {
		/* A reused connection the node already closed fails here. */
		if (rc == WALLET_E_CONNECT)
			*stage = WALLET_CONN_UNSENT;
		wallet_conn_close(c);
		return rc;
	}

	rbuf b = {NULL, 0, 0, HEADERS_MAX + max};
	const char *hend = NULL;
	bool eof;
	while ((hend = find_crlf2(b.p ? b.p : "", b.len)) == NULL) {
		if (b.len > HEADERS_MAX) {
			rc = WALLET_E_HTTP;
			goto fail;
		}
		rc = read_more(c->fd, &b, deadline, &eof);
		if (rc != 0) {
			/* Closed before a single byte of answer: the node
			 * dropped an idle keep-alive connection. */
			if (rc == WALLET_E_CONNECT && b.len == 0)
				*stage = WALLET_CONN_UNSENT;
			if (b.len > 0)
				*stage = WALLET_CONN_ANSWERING;
			if (rc == WALLET_E_CONNECT && b.len > 0)
				rc = WALLET_E_HTTP;
			goto fail;
		}
	}
	*stage = WALLET_CONN_ANSWERING;
	unsigned status = 0;
	if (b.len < 12 || strncmp(b.p, "HTTP/1.", 7) != 0 || b.p[8] != ' ' ||
	    sscanf(b.p + 9, "%3u", &status) != 1 || status < 100 || status > 599) {
		rc = WALLET_E_HTTP;
		goto fail;
	}
	const char *hstart = memchr(b.p, '\n', (size_t)(hend - b.p));
	hstart = hstart ? hstart + 1 : hend;
	bool close_after = b.p[7] == '0';
	size_t vl;
	const char *v = header_value(hstart, hend, "Connection", &vl);
	if (v != NULL && vl == 5 && strncasecmp(v, "close", 5) == 0)
		close_after = true;
	else if (v != NULL && vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
		close_after = false;
	size_t start = (size_t)(hend - b.p) + 4, blen = 0;
	const char *te = header_value(hstart, hend, "Transfer-Encoding", &vl);
	const char *cl = header_value(hstart, hend, "Content-Length", &vl);
	if (te != NULL) {
		rc = read_chunked(c->fd, &b, start, deadline, &blen);
		if (rc != 0)
			goto fail;
	} else if (cl != NULL) {
		uint64_t n;
		if (!parse_size(cl, vl, 10, &n)) {
			rc = WALLET_E_HTTP;
			goto fail;
		}
		if (n > max) {
			rc = WALLET_E_TOO_BIG;
			goto fail;
		}
		b.max = start + (size_t)n;
		while (b.len < start + n) {
			rc = read_more(c->fd, &b, deadline, &eof);
			if (rc != 0) {
				if (rc == WALLET_E_CONNECT)
					rc = WALLET_E_HTTP;
				goto fail;
			}
		}
		blen = (size_t)n;
	} else {
		/* No length: the body ends when the node closes. */
		for (;;) {
			rc = read_more(c->fd, &b, deadline, &eof);
			if (rc == WALLET_E_CONNECT && eof)
				break;
			if (rc != 0)
				goto fail;
		}
		blen = b.len - start;
		close_after = true;
	}
	out->status = (int)status;
	out->body = malloc(blen + 1);
	if (out->body == NULL) {
		rc = WALLET_E_NOMEM;
		goto fail;
	}
	memcpy(out->body, b.p + start, blen);
	out->body[blen] = '\0';
	out->len = blen;
	free(b.p);
	if (close_after)
		wallet_conn_close(c);
	return 0;
fail:
	free(b.p);
	wallet_conn_close(c);
	return rc;
}
