/*
 * Green tiers of a carbon account as the rural banks of Quzhou and Wendeng
 * grade them (../shared/DOMAIN.md): light 0-50 kg, medium 50-100 kg, deep
 * over 100 kg. "Over 100 kg" is strict, so each tier includes its upper
 * bound: exactly 50 kg is light and exactly 100 kg is medium.
 */
#include "wallet/wallet.h"

enum wallet_tier wallet_tier_of(uint64_t balance_g)
{
	if (balance_g > WALLET_TIER_DEEP_ABOVE_G)
		return WALLET_TIER_DEEP;
	if (balance_g > WALLET_TIER_MEDIUM_ABOVE_G)
		return WALLET_TIER_MEDIUM;
	return WALLET_TIER_LIGHT;
}

const char *wallet_tier_name(enum wallet_tier t)
{
	switch (t) {
	case WALLET_TIER_LIGHT:
		return "light green";
	case WALLET_TIER_MEDIUM:
		return "medium green";
	case WALLET_TIER_DEEP:
		return "deep green";
	}
	return "unknown";
}
