/*
 * The canonical msgpack writer (over msgpack-c's packer) and the strict
 * reader for untrusted bytes. msgpack-c's own unpacker is not used on
 * untrusted input: it reserves memory from lengths the sender chose and
 * accepts many encodings of one value. This reader bounds every length
 * before trusting it and accepts one encoding per value.
 */
#include <string.h>

#include "common/cm.h"

const char *cm_strerror(int rc)
{
	switch (rc) {
#define CM_CASE(name, val, msg) case name: return msg;
		CM_ERRORS(CM_CASE)
#undef CM_CASE
	case 0: return "success";
	default: return "unknown error";
	}
}

/* ---- writer ------------------------------------------------------------ */

static int cm_wr_cb(void *data, const char *buf, size_t len)
{
	cm_wr *w = (cm_wr *)((char *)data - offsetof(cm_wr, sb));
	if (w->err)
		return -1;
	if (msgpack_sbuffer_write(&w->sb, buf, len) != 0) {
		w->err = CM_E_NOMEM;
		return -1;
	}
	return 0;
}

void cm_wr_init(cm_wr *w)
{
	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, cm_wr_cb);
	w->err = 0;
}

void cm_wr_free(cm_wr *w)
{
	if (w == NULL)
		return;
	msgpack_sbuffer_destroy(&w->sb);
	w->sb.data = NULL;
	w->sb.size = 0;
	w->sb.alloc = 0;
}

void cm_wr_reset(cm_wr *w)
{
	w->sb.size = 0;
	w->err = 0;
}

void cm_wr_array(cm_wr *w, uint32_t n) { (void)msgpack_pack_array(&w->pk, n); }
void cm_wr_uint(cm_wr *w, uint64_t v) { (void)msgpack_pack_uint64(&w->pk, v); }
void cm_wr_bool(cm_wr *w, bool v)
{
	(void)(v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}
void cm_wr_nil(cm_wr *w) { (void)msgpack_pack_nil(&w->pk); }

void cm_wr_bin(cm_wr *w, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		w->err = CM_E_LIMIT;
		return;
	}
	(void)msgpack_pack_bin(&w->pk, len);
	(void)msgpack_pack_bin_body(&w->pk, p, len);
}

void cm_wr_str(cm_wr *w, const char *s, size_t len)
{
	if (len > UINT32_MAX) {
		w->err = CM_E_LIMIT;
		return;
	}
	(void)msgpack_pack_str(&w->pk, len);
	(void)msgpack_pack_str_body(&w->pk, s, len);
}

void cm_wr_raw(cm_wr *w, const void *p, size_t len)
{
	(void)cm_wr_cb(&w->sb, (const char *)p, len);
}

/* ---- reader ------------------------------------------------------------ */

static int rd_need(const cm_rd *r, size_t n)
{
	return (r->len - r->off < n) ? CM_E_TRUNCATED : 0;
}

static uint64_t rd_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads a big-endian length of n bytes after the tag byte; checks that the
 * value needed that many bytes (min is the smallest value allowed with this
 * width). */
static int rd_len(cm_rd *r, unsigned n, uint64_t min, uint64_t *v)
{
	int rc = rd_need(r, 1 + n);
	if (rc)
		return rc;
	*v = rd_be(r->p + r->off + 1, n);
	if (*v < min)
		return CM_E_NONCANONICAL;
	r->off += 1 + n;
	return 0;
}

int cm_rd_array(cm_rd *r, uint32_t *n, uint32_t max)
{
	int rc = rd_need(r, 1);
	uint64_t v;
	if (rc)
		return rc;
	uint8_t t = r->p[r->off];
	if (t >= 0x90 && t <= 0x9f) {
		v = t & 0x0f;
		if (v > max)
			return CM_E_LIMIT;
		r->off++;
	} else if (t == 0xdc || t == 0xdd) {
		size_t save = r->off;
		rc = rd_len(r, t == 0xdc ? 2 : 4, t == 0xdc ? 16 : 65536, &v);
		if (rc)
			return rc;
		if (v > max) {
			r->off = save;
			return CM_E_LIMIT;
		}
	} else {
		return CM_E_TYPE;
	}
	*n = (uint32_t)v;
	return 0;
}

int cm_rd_array_exact(cm_rd *r, uint32_t n)
{
	uint32_t got;
	int rc = cm_rd_array(r, &got, n);
	if (rc == CM_E_LIMIT)
		return CM_E_RANGE;
	if (rc)
		return rc;
	return got == n ? 0 : CM_E_RANGE;
}

int cm_rd_uint(cm_rd *r, uint64_t *v)
{
	int rc = rd_need(r, 1);
	if (rc)
		return rc;
	uint8_t t = r->p[r->off];
	if (t <= 0x7f) {
		*v = t;
		r->off++;
		return 0;
	}
	switch (t) {
	case 0xcc: return rd_len(r, 1, 0x80, v);
	case 0xcd: return rd_len(r, 2, 0x100, v);
	case 0xce: return rd_len(r, 4, 0x10000, v);
	case 0xcf: return rd_len(r, 8, 0x100000000ull, v);
	default: return CM_E_TYPE;
	}
}

int cm_rd_uint_max(cm_rd *r, uint64_t max, uint64_t *v)
{
	size_t save = r->off;
	int rc = cm_rd_uint(r, v);
	if (rc)
		return rc;
	if (*v > max) {
		r->off = save;
		return CM_E_RANGE;
	}
	return 0;
}

int cm_rd_bool(cm_rd *r, bool *v)
{
	int rc = rd_need(r, 1);
	if (rc)
		return rc;
	uint8_t t = r->p[r->off];
	if (t != 0xc2 && t != 0xc3)
		return CM_E_TYPE;
	*v = (t == 0xc3);
	r->off++;
	return 0;
}

int cm_rd_nil(cm_rd *r)
{
	int rc = rd_need(r, 1);
	if (rc)
		return rc;
	if (r->p[r->off] != 0xc0)
		return CM_E_TYPE;
	r->off++;
	return 0;
}

bool cm_rd_peek_nil(const cm_rd *r)
{
	return r->off < r->len && r->p[r->off] == 0xc0;
}

/* Reads a bin or str header (which one is chosen by is_str) and returns the
 * body after checking it is present and within max. */
static int rd_blob(cm_rd *r, bool is_str, const uint8_t **p, uint32_t *len, uint32_t max)
{
	int rc = rd_need(r, 1);
	uint64_t v;
	size_t save = r->off;
	if (rc)
		return rc;
	uint8_t t = r->p[r->off];
	if (is_str && t >= 0xa0 && t <= 0xbf) {
		v = t & 0x1f;
		r->off++;
	} else if (t == (is_str ? 0xd9 : 0xc4)) {
		rc = rd_len(r, 1, is_str ? 32 : 0, &v);
	} else if (t == (is_str ? 0xda : 0xc5)) {
		rc = rd_len(r, 2, 256, &v);
	} else if (t == (is_str ? 0xdb : 0xc6)) {
		rc = rd_len(r, 4, 65536, &v);
	} else {
		return CM_E_TYPE;
	}
	if (rc)
		return rc;
	if (v > max) {
		r->off = save;
		return CM_E_LIMIT;
	}
	if (r->len - r->off < v) {
		r->off = save;
		return CM_E_TRUNCATED;
	}
	*p = r->p + r->off;
	*len = (uint32_t)v;
	r->off += v;
	return 0;
}

int cm_rd_bin(cm_rd *r, const uint8_t **p, uint32_t *len, uint32_t max)
{
	return rd_blob(r, false, p, len, max);
}

int cm_rd_bin_fixed(cm_rd *r, void *out, uint32_t n)
{
	const uint8_t *p;
	uint32_t len;
	size_t save = r->off;
	int rc = rd_blob(r, false, &p, &len, n);
	if (rc == CM_E_LIMIT)
		return CM_E_RANGE;
	if (rc)
		return rc;
	if (len != n) {
		r->off = save;
		return CM_E_RANGE;
	}
	memcpy(out, p, n);
	return 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF, and no NUL so the string can be held as a C string. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		unsigned need;
		uint32_t cp, min;
		if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; min = 0x80; }
		else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; min = 0x800; }
		else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; min = 0x10000; }
		else return false;
		if (n - i - 1 < need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += 1 + need;
	}
	return true;
}

int cm_rd_str(cm_rd *r, const char **p, uint32_t *len, uint32_t max)
{
	const uint8_t *b;
	size_t save = r->off;
	int rc = rd_blob(r, true, &b, len, max);
	if (rc)
		return rc;
	if (!utf8_valid(b, *len)) {
		r->off = save;
		return CM_E_UTF8;
	}
	*p = (const char *)b;
	return 0;
}

int cm_rd_str_copy(cm_rd *r, char *out, uint32_t max)
{
	const char *p;
	uint32_t len;
	int rc = cm_rd_str(r, &p, &len, max);
	if (rc)
		return rc;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int rd_skip(cm_rd *r, unsigned depth)
{
	const uint8_t *p;
	uint32_t len, n;
	uint64_t v;
	bool b;
	int rc = rd_need(r, 1);
	if (rc)
		return rc;
	if (depth > LIM_MP_DEPTH_MAX)
		return CM_E_LIMIT;
	uint8_t t = r->p[r->off];
	if (t <= 0x7f || (t >= 0xcc && t <= 0xcf))
		return cm_rd_uint(r, &v);
	if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) {
		rc = cm_rd_array(r, &n, LIM_MP_ARRAY_MAX);
		for (uint32_t i = 0; rc == 0 && i < n; i++)
			rc = rd_skip(r, depth + 1);
		return rc;
	}
	if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb))
		return cm_rd_str(r, (const char **)&p, &len, UINT32_MAX);
	if (t >= 0xc4 && t <= 0xc6)
		return cm_rd_bin(r, &p, &len, UINT32_MAX);
	if (t == 0xc2 || t == 0xc3)
		return cm_rd_bool(r, &b);
	if (t == 0xc0)
		return cm_rd_nil(r);
	return CM_E_TYPE;
}

int cm_rd_span(cm_rd *r, const uint8_t **p, size_t *len)
{
	size_t start = r->off;
	int rc = rd_skip(r, 0);
	if (rc) {
		r->off = start;
		return rc;
	}
	*p = r->p + start;
	*len = r->off - start;
	return 0;
}

int cm_rd_end(const cm_rd *r)
{
	return r->off == r->len ? 0 : CM_E_TRAILING;
}

/* ---- hex --------------------------------------------------------------- */

void cm_hex_encode(char *out, const void *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = (const uint8_t *)in;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int cm_hex_decode(void *out, size_t len, const char *hex, size_t hexlen)
{
	uint8_t *b = (uint8_t *)out;
	if (hexlen != 2 * len)
		return CM_E_HEX;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CM_E_HEX;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
