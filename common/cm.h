/*
 * common: what both the ledger and the consensus core need and neither
 * should own: the canonical msgpack writer and strict reader, hex, and the
 * error codes of this module. consensus/ must not depend on ledger/, so the
 * canonical codec lives here (docs/ARCHITECTURE.md, "Why common/").
 *
 * Canonical msgpack (docs/PROTOCOL.md, section 1): only positional arrays,
 * unsigned integers, bin, str (valid UTF-8), booleans and nil; every length
 * and integer in its shortest form; no maps, no floats, no ext, no signed
 * integers. The writer produces exactly that through msgpack-c's packer,
 * whose integer, array, bin and str headers are already minimal. The reader
 * accepts exactly that and nothing else.
 */
#ifndef CARBON_CM_H
#define CARBON_CM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/limits.h"

#define CM_WUR __attribute__((warn_unused_result))

/* Error codes of common/: -1..-99. Other modules use their own ranges:
 * crypto -100.., ledger -200.., consensus -300.., node -400.., wallet -500..,
 * genesis -600.. */
#define CM_ERRORS(X)                                                    \
	X(CM_E_TRUNCATED,    -1, "input ends inside a value")            \
	X(CM_E_TYPE,         -2, "value has the wrong type")             \
	X(CM_E_NONCANONICAL, -3, "value not in its shortest encoding")   \
	X(CM_E_LIMIT,        -4, "length or count above its limit")      \
	X(CM_E_TRAILING,     -5, "trailing bytes after the value")       \
	X(CM_E_NOMEM,        -6, "out of memory")                        \
	X(CM_E_UTF8,         -7, "string is not valid UTF-8")            \
	X(CM_E_RANGE,        -8, "value out of its allowed range")       \
	X(CM_E_HEX,          -9, "not a valid hex string")               \
	X(CM_E_IO,          -10, "input/output error")

enum cm_err {
#define CM_ENUM(name, val, msg) name = val,
	CM_ERRORS(CM_ENUM)
#undef CM_ENUM
};

/* Describes any code of this module; "unknown error" otherwise. */
const char *cm_strerror(int rc);

/* ---- canonical writer -------------------------------------------------- */

/* A growable buffer with msgpack-c's packer on it. Zero-initialise it with
 * cm_wr_init(); the caller owns it and frees it with cm_wr_free(). Errors
 * (only out-of-memory) are sticky: check cm_wr_error() once at the end. */
typedef struct cm_wr {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err;
} cm_wr;

void cm_wr_init(cm_wr *w);
void cm_wr_free(cm_wr *w);
void cm_wr_reset(cm_wr *w);         /* empties the buffer, keeps memory */
void cm_wr_array(cm_wr *w, uint32_t n);
void cm_wr_uint(cm_wr *w, uint64_t v);
void cm_wr_bool(cm_wr *w, bool v);
void cm_wr_nil(cm_wr *w);
void cm_wr_bin(cm_wr *w, const void *p, size_t len);
void cm_wr_str(cm_wr *w, const char *s, size_t len);
/* Appends bytes that are already canonical msgpack (a nested object). */
void cm_wr_raw(cm_wr *w, const void *p, size_t len);
static inline const uint8_t *cm_wr_data(const cm_wr *w) { return (const uint8_t *)w->sb.data; }
static inline size_t cm_wr_len(const cm_wr *w) { return w->sb.size; }
static inline int cm_wr_error(const cm_wr *w) { return w->err; }

/* ---- strict reader ----------------------------------------------------- */

/* A cursor over untrusted bytes. Every read checks bounds and minimality;
 * pointers it returns point into the input (no allocation). */
typedef struct cm_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
} cm_rd;

static inline void cm_rd_init(cm_rd *r, const void *p, size_t len)
{
	r->p = (const uint8_t *)p;
	r->len = len;
	r->off = 0;
}

/* Reads an array header; fails with CM_E_LIMIT if it has more than max
 * elements, before anything is allocated. */
CM_WUR int cm_rd_array(cm_rd *r, uint32_t *n, uint32_t max);
/* Reads an array header that must have exactly n elements (CM_E_RANGE). */
CM_WUR int cm_rd_array_exact(cm_rd *r, uint32_t n);
CM_WUR int cm_rd_uint(cm_rd *r, uint64_t *v);
/* Reads an unsigned integer that must be <= max (CM_E_RANGE). */
CM_WUR int cm_rd_uint_max(cm_rd *r, uint64_t max, uint64_t *v);
CM_WUR int cm_rd_bool(cm_rd *r, bool *v);
/* Reads nil; CM_E_TYPE if the next value is not nil. */
CM_WUR int cm_rd_nil(cm_rd *r);
/* True if the next value is nil (does not consume it). */
bool cm_rd_peek_nil(const cm_rd *r);
/* Reads bin of at most max bytes; *p points into the input. */
CM_WUR int cm_rd_bin(cm_rd *r, const uint8_t **p, uint32_t *len, uint32_t max);
/* Reads bin of exactly n bytes into out (CM_E_RANGE on another length). */
CM_WUR int cm_rd_bin_fixed(cm_rd *r, void *out, uint32_t n);
/* Reads a str of at most max bytes that is valid UTF-8 with no NUL. */
CM_WUR int cm_rd_str(cm_rd *r, const char **p, uint32_t *len, uint32_t max);
/* Copies a str of at most max bytes into out[max+1], NUL-terminated. */
CM_WUR int cm_rd_str_copy(cm_rd *r, char *out, uint32_t max);
/* Skips one raw value and returns its span; the value must be canonical
 * itself (used to hash a nested object by its exact bytes). */
CM_WUR int cm_rd_span(cm_rd *r, const uint8_t **p, size_t *len);
/* CM_E_TRAILING unless every byte has been consumed. */
CM_WUR int cm_rd_end(const cm_rd *r);

/* ---- small helpers ----------------------------------------------------- */

/* Lower-case hex of len bytes into out[2*len+1]. */
void cm_hex_encode(char *out, const void *in, size_t len);
/* Decodes exactly 2*len hex digits (either case) into out[len]. */
CM_WUR int cm_hex_decode(void *out, size_t len, const char *hex, size_t hexlen);

#endif
