/*
 * The wallet's error texts: one X-macro table, as every module has. Kept
 * apart so each command file can name failures without pulling in more.
 */
#include "wallet/wallet.h"

const char *wallet_strerror(int rc)
{
	switch (rc) {
#define WALLET_CASE(name, val, msg) \
	case name:                  \
		return msg;
		WALLET_ERRORS(WALLET_CASE)
#undef WALLET_CASE
	default:
		break;
	}
	return cons_strerror(rc);
}
