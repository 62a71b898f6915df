/*
 * The injected crypto interfaces bound to real Ed25519 (crypto/ck.h), and
 * the certificate and evidence checks third parties use. A file of its own
 * so the simulator, which plugs fast fake signatures, exercises the same
 * core through the same interfaces.
 */
#include <assert.h>

#include "consensus/cons.h"

static void ck_sign_cb(void *ctx, enum ck_domain dom, const char *chain_id, const uint8_t *msg,
		       size_t len, ck_sig sig_out)
{
	const ck_seckey *sk = ctx;
	ck_sign(sig_out, *sk, dom, chain_id, msg, len);
}

static int ck_verify_cb(void *ctx, const ck_pubkey pk, enum ck_domain dom, const char *chain_id,
			const uint8_t *msg, size_t len, const ck_sig sig)
{
	(void)ctx;
	return ck_verify(sig, pk, dom, chain_id, msg, len);
}

void cons_ck_signer(cons_signer *s, const ck_seckey *sk)
{
	assert(sk != NULL);
	s->ctx = (void *)sk;
	s->sign = ck_sign_cb;
}

void cons_ck_verifier(cons_verifier *v)
{
	v->ctx = NULL;
	v->verify = ck_verify_cb;
}

int cons_cert_verify(const cons_cert *cert, const cons_valset *vs, const char *chain_id,
		     const cons_id id)
{
	cons_verifier v;
	cons_ck_verifier(&v);
	return cons_cert_check(cert, vs, chain_id, id, &v);
}

int cons_evidence_verify(const cons_evidence *e, const cons_valset *vs, const char *chain_id)
{
	cons_verifier v;
	cons_ck_verifier(&v);
	return cons_evidence_check(e, vs, chain_id, &v);
}
