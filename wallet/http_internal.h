/*
 * Inside the wallet: one connection of the HTTP client, and two helpers
 * every file uses (a printf into a caller's message buffer, a monotonic
 * clock for timeouts and progress rates only).
 */
#ifndef CARBON_WALLET_HTTP_INTERNAL_H
#define CARBON_WALLET_HTTP_INTERNAL_H

#include "wallet/wallet.h"

typedef struct wallet_conn {
	int fd;                               /* -1 when closed */
} wallet_conn;

/* Connects to u within timeout_ms. WALLET_E_CONNECT (with the system's
 * reason in msg) or WALLET_E_TIMEOUT. */
int wallet_conn_open(wallet_conn *c, const wallet_url *u, uint32_t timeout_ms, char *msg,
		     size_t msglen);
void wallet_conn_close(wallet_conn *c);

/* How far a failed request got: what the caller may do about it. */
enum wallet_conn_stage {
	WALLET_CONN_UNSENT = 1,       /* the node provably saw no request (a stale
				       * keep-alive connection): retry anywhere */
	WALLET_CONN_UNANSWERED = 2,   /* sent, but not one byte of answer came */
	WALLET_CONN_ANSWERING = 3,    /* the answer began, then failed */
};
/* One request on an open connection, answered within timeout_ms; the
 * body of the answer is at most max bytes. On failure *stage says how far
 * it got. The connection is closed on failure and when the node asked for
 * it. */
int wallet_conn_request(wallet_conn *c, const wallet_url *u, const char *method, const char *path,
			const char *content_type, const void *body, size_t len,
			uint32_t timeout_ms, size_t max, wallet_http_resp *out,
			enum wallet_conn_stage *stage);

__attribute__((format(printf, 3, 4))) void wallet_msgf(char *msg, size_t msglen, const char *fmt,
						       ...);
uint64_t wallet_now_ms(void);

#endif
