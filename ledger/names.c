/*
 * Names of the ledger's codes and wire constants (errors, results, modes,
 * roles) and the day number behind daily caps and de-duplication. Kept
 * apart from the codec because wallets, the node's HTTP API and logs need
 * them without anything else of the ledger.
 */
#include <assert.h>
#include <string.h>

#include "ledger/ledger.h"

const char *ledger_strerror(int rc)
{
	switch (rc) {
#define LEDGER_ECASE(name, val, msg) case name: return msg;
		LEDGER_ERRORS(LEDGER_ECASE)
#undef LEDGER_ECASE
	default: return ck_strerror(rc);
	}
}

const char *ledger_result_str(int result)
{
	switch (result) {
#define LEDGER_RCASE(name, val, msg) case name: return msg;
		LEDGER_RESULTS(LEDGER_RCASE)
#undef LEDGER_RCASE
	default: return "unknown result";
	}
}

/* Indexed by enum ledger_mode; these are also the names genesis files and
 * the wallet use. */
static const char *const mode_names[LEDGER_MODE_MAX + 1] = {
	[LEDGER_MODE_WALK] = "walk",   [LEDGER_MODE_CYCLE] = "cycle",
	[LEDGER_MODE_BUS] = "bus",     [LEDGER_MODE_METRO] = "metro",
	[LEDGER_MODE_RAIL] = "rail",   [LEDGER_MODE_CARPOOL] = "carpool",
};

const char *ledger_mode_name(unsigned mode)
{
	if (mode == 0 || mode > LEDGER_MODE_MAX)
		return NULL;
	return mode_names[mode];
}

int ledger_mode_parse(const char *name, unsigned *mode)
{
	assert(name != NULL);
	assert(mode != NULL);
	for (unsigned m = 1; m <= LEDGER_MODE_MAX; m++) {
		if (strcmp(name, mode_names[m]) == 0) {
			*mode = m;
			return 0;
		}
	}
	return LEDGER_E_FIELD;
}

const char *ledger_role_name(uint32_t role)
{
	switch (role) {
	case LEDGER_ROLE_VALIDATOR: return "validator";
	case LEDGER_ROLE_ISSUER: return "issuer";
	case LEDGER_ROLE_MERCHANT: return "merchant";
	case LEDGER_ROLE_BANK: return "bank";
	case LEDGER_ROLE_GOVERNOR: return "governor";
	default: return NULL;
	}
}

/* floor((unix_s + tz_offset_s) / 86400) for every input, without overflow:
 * split unix_s into whole days and a remainder first, so the only signed
 * arithmetic is on numbers below 2^32 in magnitude. */
int64_t ledger_day(uint64_t unix_s, int32_t tz_offset_s)
{
	const int64_t day_s = 86400;
	int64_t days = (int64_t)(unix_s / (uint64_t)day_s);
	int64_t rest = (int64_t)(unix_s % (uint64_t)day_s) + tz_offset_s;
	int64_t q = rest / day_s;
	if (rest % day_s < 0)
		q--;
	return days + q;
}
