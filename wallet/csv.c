/*
 * The trip file reader. An operator's export is the wallet's most exposed
 * input: it is large, hand-edited at times, and every row must either be
 * sent or be reported with its line number. The file is read as a stream,
 * one record at a time into a buffer of WALLET_CSV_RECORD_BYTES_MAX (a
 * longer record is reported as a bad row and skipped), so memory grows
 * with the rows kept, never with a line's length; the byte and row limits
 * are checked as it goes, and a regular file's size before anything is
 * read. The tokenizer follows RFC 4180 and keeps the line where each
 * record starts; the row checker turns fields into a wallet_trip_row or one
 * readable reason. Business rules stay with the ledger, which reports them
 * per trip.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/wallet.h"

#define NCOLS 6u
#define FIELDS_MAX 32u

enum col { COL_REF, COL_CITIZEN, COL_MODE, COL_DISTANCE, COL_START, COL_END };
static const char *const col_names[NCOLS] = {"ref", "citizen", "mode", "distance_m", "start",
					     "end"};

typedef struct tok {
	const char *p, *end;
	uint32_t line;
} tok;

/* One record: up to FIELDS_MAX fields copied out (quotes resolved), each
 * at most WALLET_CSV_FIELD_BYTES_MAX bytes; longer ones are flagged. */
typedef struct record {
	uint32_t line;                        /* where it starts */
	uint32_t nfields;
	bool too_many, too_long, bad_quote, unterminated;
	char field[FIELDS_MAX][WALLET_CSV_FIELD_BYTES_MAX + 1];
} record;

static bool at_eol(const tok *t)
{
	return t->p < t->end && (*t->p == '\n' || *t->p == '\r');
}

static void skip_eol(tok *t)
{
	if (t->p < t->end && *t->p == '\r')
		t->p++;
	if (t->p < t->end && *t->p == '\n')
		t->p++;
	t->line++;
}

static void put(record *r, size_t *n, char c)
{
	if (*n >= WALLET_CSV_FIELD_BYTES_MAX) {
		r->too_long = true;
		return;
	}
	if (r->nfields <= FIELDS_MAX)
		r->field[r->nfields - 1][(*n)++] = c;
}

/* Reads the next record; false at end of input. Blank lines are skipped. */
static bool next_record(tok *t, record *r)
{
	while (t->p < t->end && at_eol(t))
		skip_eol(t);
	if (t->p >= t->end)
		return false;
	memset(r, 0, offsetof(record, field));
	r->line = t->line;
	for (;;) {
		/* Start of a field. */
		r->nfields++;
		if (r->nfields > FIELDS_MAX)
			r->too_many = true;
		size_t n = 0;
		while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
			t->p++;
		if (t->p < t->end && *t->p == '"') {
			t->p++;
			for (;;) {
				if (t->p >= t->end) {
					r->unterminated = true;
					break;
				}
				char c = *t->p++;
				if (c == '"') {
					if (t->p < t->end && *t->p == '"') {
						t->p++;
						put(r, &n, '"');
						continue;
					}
					break;
				}
				if (c == '\n')
					t->line++;
				put(r, &n, c);
			}
			while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
				t->p++;
			if (t->p < t->end && *t->p != ',' && !at_eol(t)) {
				r->bad_quote = true;
				while (t->p < t->end && *t->p != ',' && !at_eol(t))
					t->p++;
			}
		} else {
			while (t->p < t->end && *t->p != ',' && !at_eol(t)) {
				if (*t->p == '"')
					r->bad_quote = true;
				put(r, &n, *t->p++);
			}
			/* Trailing spaces of an unquoted field. */
			while (n > 0 && r->nfields <= FIELDS_MAX &&
			       (r->field[r->nfields - 1][n - 1] == ' ' ||
				r->field[r->nfields - 1][n - 1] == '\t'))
				n--;
		}
		if (r->nfields <= FIELDS_MAX)
			r->field[r->nfields - 1][n] = '\0';
		if (t->p < t->end && *t->p == ',') {
			t->p++;
			continue;
		}
		if (t->p < t->end)
			skip_eol(t);
		return true;
	}
}

__attribute__((format(printf, 3, 4))) static void errf(char *msg, size_t msglen,
							 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (msglen > 0)
		vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/* A short, printable excerpt of untrusted text for a message. */
static void excerpt(char out[40], const char *s)
{
	size_t i = 0;
	for (; s[i] && i < 32; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	out[i] = '\0';
	if (s[i])
		memcpy(out + i, "...", 4);
}

/* Fields (already in column order) into a row. */
static int row_from_fields(char f[NCOLS][WALLET_CSV_FIELD_BYTES_MAX + 1], wallet_trip_row *row,
			   char *msg, size_t msglen)
{
	char ex[40];
	size_t reflen = strlen(f[COL_REF]);
	if (reflen == 0) {
		errf(msg, msglen, "ref is empty");
		return WALLET_E_CSV;
	}
	if (reflen > LIM_NAME_BYTES_MAX) {
		errf(msg, msglen, "ref is longer than 64 bytes");
		return WALLET_E_CSV;
	}
	for (size_t i = 0; i < reflen; i++) {
		if ((unsigned char)f[COL_REF][i] < 0x20 || f[COL_REF][i] == 0x7f) {
			errf(msg, msglen, "ref has a control character");
			return WALLET_E_CSV;
		}
	}
	memcpy(row->ref, f[COL_REF], reflen + 1);

	int rc = ck_address_decode(row->citizen, f[COL_CITIZEN]);
	if (rc != 0) {
		excerpt(ex, f[COL_CITIZEN]);
		errf(msg, msglen, "citizen \"%s\": %s", ex, ck_strerror(rc));
		return WALLET_E_CSV;
	}

	char mode[WALLET_CSV_FIELD_BYTES_MAX + 1];
	size_t ml = strlen(f[COL_MODE]);
	for (size_t i = 0; i <= ml; i++)
		mode[i] = (char)tolower((unsigned char)f[COL_MODE][i]);
	unsigned m;
	if (ledger_mode_parse(mode, &m) != 0) {
		excerpt(ex, f[COL_MODE]);
		errf(msg, msglen,
		     "unknown mode \"%s\" (walk, cycle, bus, metro, rail or carpool)", ex);
		return WALLET_E_CSV;
	}
	row->mode = (uint8_t)m;

	const char *d = f[COL_DISTANCE];
	size_t dl = strlen(d);
	excerpt(ex, d);
	if (d[0] == '-') {
		errf(msg, msglen, "distance_m \"%s\" is negative", ex);
		return WALLET_E_CSV;
	}
	if (dl == 0 || strspn(d, "0123456789") != dl) {
		errf(msg, msglen, "distance_m \"%s\" is not a whole number of metres", ex);
		return WALLET_E_CSV;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < dl; i++) {
		v = v * 10 + (uint64_t)(d[i] - '0');
		if (v > UINT32_MAX) {
			errf(msg, msglen, "distance_m \"%s\" is above 4294967295", ex);
			return WALLET_E_CSV;
		}
	}
	row->distance_m = (uint32_t)v;

	static const char *const tname[2] = {"start", "end"};
	uint64_t *tv[2] = {&row->start_s, &row->end_s};
	for (int i = 0; i < 2; i++) {
		rc = wallet_time_parse(f[COL_START + i], tv[i]);
		if (rc != 0) {
			excerpt(ex, f[COL_START + i]);
			char what[96];
			snprintf(what, sizeof what, "%s \"%s\"", tname[i], ex);
			errf(msg, msglen, "%s: %s", what, wallet_strerror(rc));
			return WALLET_E_CSV;
		}
	}
	return 0;
}

/* Problems of the record's shape, before its fields are looked at. */
static bool record_shape_error(const record *r, uint32_t want, char *msg, size_t msglen)
{
	char a[16], b[16];
	if (r->unterminated) {
		errf(msg, msglen, "quoted field is never closed");
		return true;
	}
	if (r->bad_quote) {
		errf(msg, msglen,
		     "misplaced quote (quote the whole field and double quotes inside)");
		return true;
	}
	if (r->too_long) {
		snprintf(a, sizeof a, "%u", WALLET_CSV_FIELD_BYTES_MAX);
		errf(msg, msglen, "a field is longer than %s bytes", a);
		return true;
	}
	if (r->too_many || r->nfields != want) {
		snprintf(a, sizeof a, "%u", want);
		if (r->too_many)
			snprintf(b, sizeof b, "more than %u", FIELDS_MAX);
		else
			snprintf(b, sizeof b, "%u", r->nfields);
		errf(msg, msglen, "expected %s fields, found %s", a, b);
		return true;
	}
	return false;
}

int wallet_trip_parse_one(const char *s, wallet_trip_row *out, char *msg, size_t msglen)
{
	record *r = malloc(sizeof *r);
	if (r == NULL)
		return WALLET_E_NOMEM;
	tok t = {s, s + strlen(s), 1};
	int rc = WALLET_E_CSV;
	if (!next_record(&t, r)) {
		errf(msg, msglen, "empty trip: expected REF,CITIZEN,MODE,DISTANCE_M,START,END");
		goto done;
	}
	if (t.p != t.end) {
		errf(msg, msglen, "one trip per --trip (no line breaks)");
		goto done;
	}
	if (record_shape_error(r, NCOLS, msg, msglen))
		goto done;
	memset(out, 0, sizeof *out);
	out->line = 1;
	rc = row_from_fields(r->field, out, msg, msglen);
done:
	free(r);
	return rc;
}

void wallet_trip_file_free(wallet_trip_file *f)
{
	if (f == NULL)
		return;
	free(f->rows);
	free(f->errs);
	f->rows = NULL;
	f->errs = NULL;
	f->nrows = f->nerrs = 0;
}

/* Appends to a growable array of elem-sized items. */
static bool grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
	if (n < *cap)
		return true;
	uint32_t ncap = *cap ? *cap * 2 : 256;
	void *na = realloc(*arr, (size_t)ncap * elem);
	if (na == NULL)
		return false;
	*arr = na;
	*cap = ncap;
	return true;
}

/* ---- records from a stream ------------------------------------------------ */

/* Cuts the stream into records without storing more than the record
 * limit: it follows quoting exactly as next_record does (a quote opens a
 * quoted field only at the start of a field), so a record ends at the same
 * line break, LF, CRLF or CR, outside quotes. */
typedef struct chunker {
	FILE *f;
	uint64_t bytes;                       /* read so far */
	char *buf;                            /* WALLET_CSV_RECORD_BYTES_MAX bytes */
	size_t len;
	bool overlong;                        /* the record did not fit: buf is partial */
	uint32_t newlines;                    /* line breaks in it, its last included */
	bool too_big, io_error;
} chunker;

enum cstate { C_FIELD_START, C_UNQUOTED, C_QUOTED, C_QUOTE_SEEN };

static bool chunk_put(chunker *c, int ch)
{
	c->bytes++;
	if (c->bytes > WALLET_CSV_BYTES_MAX) {
		c->too_big = true;
		return false;
	}
	if (c->len < WALLET_CSV_RECORD_BYTES_MAX)
		c->buf[c->len++] = (char)ch;
	else
		c->overlong = true;
	return true;
}

/* The next record (with its line break) into c->buf; false at the end of
 * the stream or on an error (too_big, io_error). */
static bool chunk_next(chunker *c)
{
	c->len = 0;
	c->overlong = false;
	c->newlines = 0;
	enum cstate st = C_FIELD_START;
	int ch;
	while ((ch = getc(c->f)) != EOF) {
		if (!chunk_put(c, ch))
			return false;
		if (ch == '\n')
			c->newlines++;
		if (st == C_QUOTED) {
			if (ch == '"')
				st = C_QUOTE_SEEN;
			continue;
		}
		if (st == C_QUOTE_SEEN && ch == '"') {
			st = C_QUOTED;                /* "" inside a quoted field */
			continue;
		}
		if (st == C_QUOTE_SEEN)
			st = C_UNQUOTED;              /* the field's closing quote */
		if (ch == ',')
			st = C_FIELD_START;
		else if (st == C_FIELD_START && ch == '"')
			st = C_QUOTED;
		else if (st == C_FIELD_START && (ch == ' ' || ch == '\t'))
			st = C_FIELD_START;
		else if (ch != '\n' && ch != '\r')
			st = C_UNQUOTED;
		if (ch != '\n' && ch != '\r')
			continue;
		/* A line break outside quotes ends the record; CRLF is one. */
		if (ch == '\r') {
			int next = getc(c->f);
			if (next == '\n') {
				if (!chunk_put(c, next))
					return false;
			} else if (next != EOF) {
				ungetc(next, c->f);
			}
			c->newlines++;
		}
		return true;
	}
	if (ferror(c->f)) {
		c->io_error = true;
		return false;
	}
	return c->len > 0;
}

/* Records of the stream, each with the line it starts on. */
typedef struct source {
	chunker c;
	tok t;                                /* over the current chunk */
	uint32_t line;                        /* where the current chunk starts */
} source;

enum src_result { SRC_END, SRC_RECORD, SRC_OVERLONG, SRC_ERROR };

static enum src_result src_next(source *s, record *r, uint32_t *line)
{
	for (;;) {
		if (next_record(&s->t, r))
			return SRC_RECORD;
		s->line = s->t.line;
		if (!chunk_next(&s->c))
			return s->c.too_big || s->c.io_error ? SRC_ERROR : SRC_END;
		const char *p = s->c.buf;
		size_t n = s->c.len;
		/* A UTF-8 byte-order mark at the very start is not data. */
		if (s->c.bytes == n && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			n -= 3;
		}
		if (s->c.overlong) {
			*line = s->line;
			s->line += s->c.newlines;
			s->t = (tok){p, p, s->line};
			return SRC_OVERLONG;
		}
		s->t = (tok){p, p + n, s->line};
	}
}

static bool add_error(wallet_trip_file *out, uint32_t *errcap, const wallet_row_error *e, int *rc,
		      char *msg, size_t msglen)
{
	if (out->nerrs == WALLET_CSV_ROWS_MAX) {
		errf(msg, msglen, "more than 2000000 bad rows: is this a trip file?");
		*rc = WALLET_E_CSV;
		return false;
	}
	if (!grow((void **)&out->errs, out->nerrs, errcap, sizeof *e)) {
		*rc = WALLET_E_NOMEM;
		return false;
	}
	out->errs[out->nerrs++] = *e;
	return true;
}

int wallet_trips_read(FILE *f, wallet_trip_file *out, char *msg, size_t msglen)
{
	memset(out, 0, sizeof *out);
	source *s = calloc(1, sizeof *s);
	record *r = malloc(sizeof *r);
	char *buf = malloc(WALLET_CSV_RECORD_BYTES_MAX);
	int rc = WALLET_E_NOMEM;
	if (s == NULL || r == NULL || buf == NULL)
		goto fail;
	s->c.f = f;
	s->c.buf = buf;
	s->line = 1;
	s->t = (tok){buf, buf, 1};
	rc = WALLET_E_CSV;
	uint32_t rowcap = 0, errcap = 0, line = 0;
	int order[NCOLS];
	char lmsg[160];

	enum src_result sr = src_next(s, r, &line);
	if (sr == SRC_END) {
		errf(msg, msglen, "file is empty: expected the header ref,citizen,mode,distance_m,start,end");
		goto fail;
	}
	if (sr == SRC_OVERLONG) {
		errf(msg, msglen, "line 1 (header): longer than %u bytes", WALLET_CSV_RECORD_BYTES_MAX);
		goto fail;
	}
	if (sr == SRC_ERROR)
		goto stream_error;
	if (r->unterminated || r->bad_quote || r->too_long || r->too_many) {
		record_shape_error(r, r->nfields, lmsg, sizeof lmsg);
		errf(msg, msglen, "line 1 (header): %s", lmsg);
		goto fail;
	}
	for (uint32_t c = 0; c < NCOLS; c++)
		order[c] = -1;
	for (uint32_t i = 0; i < r->nfields; i++) {
		char *name = r->field[i];
		for (char *q = name; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		uint32_t c = 0;
		while (c < NCOLS && strcmp(name, col_names[c]) != 0)
			c++;
		char ex[40];
		excerpt(ex, name);
		if (c == NCOLS) {
			errf(msg, msglen,
			     "header: unknown column \"%s\" (the columns are ref, citizen, mode, "
			     "distance_m, start, end)",
			     ex);
			goto fail;
		}
		if (order[c] >= 0) {
			errf(msg, msglen, "header: column \"%s\" appears twice", ex);
			goto fail;
		}
		order[c] = (int)i;
	}
	for (uint32_t c = 0; c < NCOLS; c++) {
		if (order[c] < 0) {
			errf(msg, msglen, "header: column \"%s\" is missing", col_names[c]);
			goto fail;
		}
	}

	while ((sr = src_next(s, r, &line)) != SRC_END) {
		if (sr == SRC_ERROR)
			goto stream_error;
		if (sr == SRC_OVERLONG) {
			wallet_row_error e = {line, "", ""};
			errf(e.msg, sizeof e.msg, "record is longer than %u bytes",
			     WALLET_CSV_RECORD_BYTES_MAX);
			if (!add_error(out, &errcap, &e, &rc, msg, msglen))
				goto fail;
			continue;
		}
		wallet_row_error e = {r->line, "", ""};
		if (!record_shape_error(r, NCOLS, e.msg, sizeof e.msg)) {
			char fl[NCOLS][WALLET_CSV_FIELD_BYTES_MAX + 1];
			for (uint32_t c = 0; c < NCOLS; c++)
				memcpy(fl[c], r->field[order[c]], sizeof fl[c]);
			wallet_trip_row row;
			memset(&row, 0, sizeof row);
			row.line = r->line;
			int frc = row_from_fields(fl, &row, e.msg, sizeof e.msg);
			/* The ref is checked first: set only if it was good. */
			memcpy(e.ref, row.ref, sizeof e.ref);
			if (frc == 0) {
				if (out->nrows == WALLET_CSV_ROWS_MAX) {
					errf(msg, msglen, "more than 2000000 trips: split the file");
					goto fail;
				}
				if (!grow((void **)&out->rows, out->nrows, &rowcap, sizeof row)) {
					rc = WALLET_E_NOMEM;
					goto fail;
				}
				out->rows[out->nrows++] = row;
				continue;
			}
		}
		if (!add_error(out, &errcap, &e, &rc, msg, msglen))
			goto fail;
	}
	free(buf);
	free(r);
	free(s);
	return 0;
stream_error:
	if (s->c.too_big) {
		errf(msg, msglen, "file is larger than %u MiB: split it",
		     (unsigned)(WALLET_CSV_BYTES_MAX >> 20));
	} else {
		errf(msg, msglen, "read error: %s", strerror(errno));
		rc = WALLET_E_IO;
	}
fail:
	free(buf);
	free(r);
	free(s);
	wallet_trip_file_free(out);
	return rc;
}

int wallet_trips_parse(const char *buf, size_t len, wallet_trip_file *out, char *msg,
		       size_t msglen)
{
	memset(out, 0, sizeof *out);
	if (len > WALLET_CSV_BYTES_MAX) {
		errf(msg, msglen, "file is larger than %u MiB: split it",
		     (unsigned)(WALLET_CSV_BYTES_MAX >> 20));
		return WALLET_E_CSV;
	}
	/* fmemopen refuses an empty buffer; /dev/null is an empty stream. */
	FILE *f = len ? fmemopen((void *)buf, len, "r") : fopen("/dev/null", "r");
	if (f == NULL)
		return WALLET_E_NOMEM;
	int rc = wallet_trips_read(f, out, msg, msglen);
	fclose(f);
	return rc;
}

int wallet_trips_load(const char *path, wallet_trip_file *out, char *msg, size_t msglen)
{
	memset(out, 0, sizeof *out);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		errf(msg, msglen, "cannot open %s: %s", path, strerror(errno));
		return WALLET_E_IO;
	}
	/* A regular file's size is known before a byte is read. */
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size > WALLET_CSV_BYTES_MAX) {
		fclose(f);
		errf(msg, msglen, "%s: file is larger than %u MiB: split it", path,
		     (unsigned)(WALLET_CSV_BYTES_MAX >> 20));
		return WALLET_E_CSV;
	}
	char m[256] = "";
	int rc = wallet_trips_read(f, out, m, sizeof m);
	fclose(f);
	if (rc != 0)
		errf(msg, msglen, "%s: %s", path, m);
	return rc;
}
