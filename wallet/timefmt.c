/*
 * Times of trip records and dates of reconciliation days, with our own
 * integer calendar arithmetic (H. Hinnant's days_from_civil) rather than
 * timegm()/mktime(): no time zone database, no locale, the same answer on
 * every machine. Only UTC is accepted for a time, so an operator's file
 * can never be read in the wrong zone.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "wallet/wallet.h"

int64_t wallet_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;
	const int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse, for formatting. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const int64_t doe = z - era * 146097;
	const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Exactly n digits at s into *v. */
static bool digits(const char *s, unsigned n, unsigned *v)
{
	*v = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return true;
}

/* "YYYY-MM-DD" at s (no terminator check) into days. */
static bool date_at(const char *s, int64_t *days)
{
	unsigned y, m, d;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return false;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return false;
	*days = wallet_days_from_civil(y, m, d);
	return true;
}

int wallet_date_parse(const char *s, int64_t *days)
{
	assert(s != NULL);
	int64_t v;
	if (strlen(s) != 10 || !date_at(s, &v))
		return WALLET_E_DATE;
	*days = v;
	return 0;
}

int wallet_time_parse(const char *s, uint64_t *unix_s)
{
	assert(s != NULL);
	assert(unix_s != NULL);
	size_t n = strlen(s);
	if (n > 0 && strspn(s, "0123456789") == n) {
		uint64_t v = 0;
		for (size_t i = 0; i < n; i++) {
			v = v * 10 + (uint64_t)(s[i] - '0');
			if (v > WALLET_TIME_MAX_S)
				return WALLET_E_TIME;
		}
		*unix_s = v;
		return 0;
	}
	int64_t days;
	unsigned hh, mm, ss;
	if (n < 19 || !date_at(s, &days) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mm) || s[16] != ':' ||
	    !digits(s + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 59)
		return WALLET_E_TIME;
	const char *zone = s + 19;
	if (strcmp(zone, "Z") != 0 && strcmp(zone, "z") != 0 && strcmp(zone, "+00:00") != 0) {
		/* A recognisable offset, or nothing at all, is a zone problem;
		 * anything else is a malformed time. */
		if (*zone == '\0' ||
		    ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 6 && zone[3] == ':'))
			return WALLET_E_TIME_ZONE;
		return WALLET_E_TIME;
	}
	*unix_s = (uint64_t)days * 86400u + hh * 3600u + mm * 60u + ss;
	return 0;
}

void wallet_time_format(char out[WALLET_TIME_STRLEN + 1], uint64_t unix_s)
{
	/* Node data is untrusted: past year 9999 print the raw seconds. */
	if (unix_s > WALLET_TIME_MAX_S) {
		snprintf(out, WALLET_TIME_STRLEN + 1, "%llus", (unsigned long long)unix_s);
		return;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days((int64_t)(unix_s / 86400u), &y, &m, &d);
	uint64_t r = unix_s % 86400u;
	snprintf(out, WALLET_TIME_STRLEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000u,
		 m % 100u, d % 100u, (unsigned)(r / 3600u) % 100u, (unsigned)(r / 60u % 60u),
		 (unsigned)(r % 60u));
}
