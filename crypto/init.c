/*
 * Start-up and error strings of crypto/. Kept apart from the primitives so
 * that the one place that touches libsodium's global state is easy to find.
 */
#include <sodium.h>

#include "common/cm.h"
#include "crypto/ck.h"

int ck_init(void)
{
	/* sodium_init() is thread-safe and idempotent: 0 the first time, 1
	 * afterwards, -1 if no usable random source or CPU features. */
	if (sodium_init() < 0)
		return CK_E_INIT;
	return 0;
}

const char *ck_strerror(int rc)
{
	switch (rc) {
#define CK_CASE(name, val, msg) case name: return msg;
		CK_ERRORS(CK_CASE)
#undef CK_CASE
	default: return cm_strerror(rc);
	}
}
