/*
 * The trip file reader. An operator's export is the wallet's most exposed
 * input: it is large, hand-edited at times, and every row must either be
 * sent or be reported with its line number. The tokenizer follows RFC 4180
 * and keeps the line where each record starts; the row checker turns
 * fields into a wallet_trip_row or one readable reason. Business rules stay
 * with the ledger, which reports them per trip.
 */
#include <assert.h>
#include <ctype.h>
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

int wallet_trips_parse(const char *buf, size_t len, wallet_trip_file *out, char *msg,
		       size_t msglen)
{
	memset(out, 0, sizeof *out);
	if (len > WALLET_CSV_BYTES_MAX) {
		errf(msg, msglen, "file is larger than 512 MiB: split it");
		return WALLET_E_CSV;
	}
	tok t = {buf, buf + len, 1};
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		t.p += 3;
	record *r = malloc(sizeof *r);
	if (r == NULL)
		return WALLET_E_NOMEM;
	int rc = WALLET_E_CSV;
	uint32_t rowcap = 0, errcap = 0;
	int order[NCOLS];

	if (!next_record(&t, r)) {
		errf(msg, msglen, "file is empty: expected the header ref,citizen,mode,distance_m,start,end");
		goto fail;
	}
	char lmsg[160];
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

	while (next_record(&t, r)) {
		wallet_row_error e = {r->line, ""};
		if (!record_shape_error(r, NCOLS, e.msg, sizeof e.msg)) {
			char f[NCOLS][WALLET_CSV_FIELD_BYTES_MAX + 1];
			for (uint32_t c = 0; c < NCOLS; c++)
				memcpy(f[c], r->field[order[c]], sizeof f[c]);
			wallet_trip_row row;
			memset(&row, 0, sizeof row);
			row.line = r->line;
			if (row_from_fields(f, &row, e.msg, sizeof e.msg) == 0) {
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
		if (out->nerrs == WALLET_CSV_ROWS_MAX) {
			errf(msg, msglen, "more than 2000000 bad rows: is this a trip file?");
			goto fail;
		}
		if (!grow((void **)&out->errs, out->nerrs, &errcap, sizeof e)) {
			rc = WALLET_E_NOMEM;
			goto fail;
		}
		out->errs[out->nerrs++] = e;
	}
	free(r);
	return 0;
fail:
	free(r);
	wallet_trip_file_free(out);
	return rc;
}
