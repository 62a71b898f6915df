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

/* Connects to u within WALLET_HTTP_CONNECT_MS. WALLET_E_CONNECT with the
 * system's reason in msg. */
int wallet_conn_open(wallet_conn *c, const wallet_url *u, char *msg, size_t msglen);
void wallet_conn_close(wallet_conn *c);
/* One request on an open connection; the body of the answer is at most
 * max bytes. *sent_nothing is true when the failure proves the node saw
 * no request (a stale keep-alive connection): the caller may retry. The
 * connection is closed on failure and when the node asked for it. */
int wallet_conn_request(wallet_conn *c, const wallet_url *u, const char *method, const char *path,
			const char *content_type, const void *body, size_t len,
			uint32_t timeout_ms, size_t max, wallet_http_resp *out, bool *sent_nothing);

__attribute__((format(printf, 3, 4))) void wallet_msgf(char *msg, size_t msglen, const char *fmt,
						       ...);
uint64_t wallet_now_ms(void);

#endif
