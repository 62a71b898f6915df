/*
 * Amounts: kilograms with at most three decimals on the command line and
 * on screen, exact integer grams everywhere else. A float would turn
 * "0.1" into 0.1000000000000000055 kg and a sum of such values into a
 * wrong balance; here every step is an integer operation.
 */
#include <assert.h>
#include <stdio.h>

#include "wallet/wallet.h"

int wallet_amount_parse(const char *s, uint64_t *grams)
{
	assert(s != NULL);
	assert(grams != NULL);
	if (*s == '-')
		return WALLET_E_AMOUNT_NEGATIVE;
	uint64_t kg = 0, frac = 0;
	unsigned nint = 0, nfrac = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++, nint++) {
		unsigned d = (unsigned)(*p - '0');
		if (kg > (UINT64_MAX - d) / 10)
			return WALLET_E_AMOUNT_RANGE;
		kg = kg * 10 + d;
	}
	if (nint == 0)
		return WALLET_E_AMOUNT;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
			if (nfrac == 3)
				return WALLET_E_AMOUNT_DECIMALS;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (nfrac == 0)
			return WALLET_E_AMOUNT;
	}
	if (*p != '\0')
		return WALLET_E_AMOUNT;
	for (; nfrac < 3; nfrac++)
		frac *= 10;
	/* The ledger keeps balances below 2^63 (history deltas are signed). */
	if (kg > ((uint64_t)INT64_MAX - frac) / LEDGER_GRAMS_PER_COIN)
		return WALLET_E_AMOUNT_RANGE;
	*grams = kg * LEDGER_GRAMS_PER_COIN + frac;
	return 0;
}

void wallet_amount_format(char out[WALLET_AMOUNT_STRLEN], uint64_t grams)
{
	snprintf(out, WALLET_AMOUNT_STRLEN, "%llu.%03u",
		 (unsigned long long)(grams / LEDGER_GRAMS_PER_COIN),
		 (unsigned)(grams % LEDGER_GRAMS_PER_COIN));
}

void wallet_delta_format(char out[WALLET_AMOUNT_STRLEN], int64_t delta_g)
{
	/* The magnitude of INT64_MIN does not fit an int64: negate in uint64. */
	uint64_t mag = delta_g < 0 ? (uint64_t)0 - (uint64_t)delta_g : (uint64_t)delta_g;
	snprintf(out, WALLET_AMOUNT_STRLEN, "%c%llu.%03u", delta_g < 0 ? '-' : '+',
		 (unsigned long long)(mag / LEDGER_GRAMS_PER_COIN),
		 (unsigned)(mag % LEDGER_GRAMS_PER_COIN));
}
