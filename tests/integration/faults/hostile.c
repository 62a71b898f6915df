/*
 * hostile: misbehaving peers and clients for tests/integration/32-*.sh.
 * Compiled on the fly by the scripts (fault_build_tools in
 * tests/integration/lib.sh); libc only.
 *
 *   hostile p2p MODE HOST:PORT [CHAIN_ID]
 *       One TCP connection to a node's peer port that misbehaves, then
 *       waits (at most 20 s) for the node to close it. MODE:
 *         garbage   4 KiB of random bytes
 *         oversize  a frame length of 0xfffffff0, then bytes
 *         zero      a frame length of 0
 *         half      the first 3 bytes of a length prefix, then silence
 *         silent    nothing at all
 *         stranger  a well-formed hello for CHAIN_ID from a key no
 *                   genesis knows
 *       Prints "closed after N ms" and exits 0 when the node closed it,
 *       exits 1 if it was still open after 20 s.
 *
 *   hostile conns HOST:PORT N HOLD_S [BURST]
 *       Opens N connections (to an API or a peer port), BURST at a time
 *       (default all at once) with 20 ms between bursts, holds them
 *       HOLD_S seconds from the last one sending nothing, and prints JSON:
 *       how many connected and how many the server closed while held.
 *       Bursts larger than the server's listen backlog overflow it, and
 *       the kernel then completes connections on the client's side that
 *       the server never sees (and so can never close): pace them to
 *       test the server rather than the kernel.
 *
 *   hostile slowloris HOST:PORT N
 *       N connections (opened 32 at a time) each sending one request a byte every 300 ms and
 *       never finishing it; prints JSON with how many the server closed
 *       and the longest time one stayed open (at most 30 s are waited).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define P2P_WAIT_MS 20000
#define SLOW_WAIT_MS 30000
#define SLOW_STEP_MS 300
#define SLOW_BURST 32

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct sockaddr_in target;

static void parse_target(const char *hp)
{
	char host[64];
	const char *colon = strrchr(hp, ':');
	if (!colon || (size_t)(colon - hp) >= sizeof host) {
		fprintf(stderr, "hostile: HOST:PORT expected, got %s\n", hp);
		exit(2);
	}
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = 0;
	memset(&target, 0, sizeof target);
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
		fprintf(stderr, "hostile: numeric IPv4 host expected, got %s\n", host);
		exit(2);
	}
}

/* Starts a non-blocking connect; -1 if it failed at once. */
static int dial_start(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits (at most ms in all) until every started connect is done; the ones
 * that failed or are still pending are closed and set to -1. Returns how
 * many connected. */
static size_t dial_finish(int *fds, size_t n, int ms)
{
	struct pollfd *p = calloc(n ? n : 1, sizeof *p);
	bool *done = calloc(n ? n : 1, sizeof *done);
	uint64_t end = now_ms() + (uint64_t)ms;
	size_t ok = 0;
	if (!p || !done)
		exit(2);
	for (;;) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++) {
			/* poll() skips negative descriptors. */
			p[i].fd = done[i] ? -1 : fds[i];
			p[i].events = POLLOUT;
			p[i].revents = 0;
		}
		uint64_t t = now_ms();
		if (t < end)
			poll(p, (nfds_t)n, (int)(end - t) < 100 ? (int)(end - t) : 100);
		for (size_t i = 0; i < n; i++) {
			if (fds[i] < 0 || done[i])
				continue;
			if (p[i].revents) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el);
				if (err == 0) {
					ok++;
					done[i] = true;
				} else {
					close(fds[i]);
					fds[i] = -1;
				}
			} else {
				pending++;
			}
		}
		if (pending == 0 || now_ms() >= end)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0 && !done[i]) {
			close(fds[i]);
			fds[i] = -1;
		}
	free(p);
	free(done);
	return ok;
}

static int dial(void)
{
	int fd = dial_start();
	if (fd >= 0)
		dial_finish(&fd, 1, 5000);
	return fd;
}

/* True once the peer closed fd: end of file or a reset. Reads and
 * discards whatever the peer sent before that (its hello). */
static bool peer_closed(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (k == 0)
			return true;
		if (k < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
}

static bool wait_closed(int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	for (;;) {
		uint64_t t = now_ms();
		if (t >= end)
			return false;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, (int)(end - t)) > 0 && peer_closed(fd))
			return true;
	}
}

static int cmd_p2p(const char *mode, const char *chain)
{
	unsigned char buf[4096];
	size_t len = 0;
	int fd = dial();
	if (fd < 0) {
		perror("hostile: connect");
		return 2;
	}
	if (strcmp(mode, "garbage") == 0) {
		FILE *r = fopen("/dev/urandom", "r");
		if (!r || fread(buf, 1, sizeof buf, r) != sizeof buf)
			return 2;
		fclose(r);
		len = sizeof buf;
	} else if (strcmp(mode, "oversize") == 0) {
		memcpy(buf, "\xff\xff\xff\xf0", 4);
		memset(buf + 4, 'A', 1020);
		len = 1024;
	} else if (strcmp(mode, "zero") == 0) {
		memset(buf, 0, 8);
		len = 8;
	} else if (strcmp(mode, "half") == 0) {
		memcpy(buf, "\x00\x00\x00", 3);
		len = 3;
	} else if (strcmp(mode, "silent") == 0) {
		len = 0;
	} else if (strcmp(mode, "stranger") == 0 && chain && strlen(chain) <= 31) {
		/* u32 length || [1, chain id, static key, ephemeral key] */
		size_t cl = strlen(chain), n = 0;
		unsigned char *p = buf + 4;
		p[n++] = 0x94;
		p[n++] = 0x01;
		p[n++] = (unsigned char)(0xa0 + cl);
		memcpy(p + n, chain, cl);
		n += cl;
		for (int k = 0; k < 2; k++) {
			p[n++] = 0xc4;
			p[n++] = 0x20;
			for (int b = 0; b < 32; b++)
				p[n++] = (unsigned char)(0x11 * (k + 1) + b);
		}
		buf[0] = 0;
		buf[1] = 0;
		buf[2] = (unsigned char)(n >> 8);
		buf[3] = (unsigned char)n;
		len = 4 + n;
	} else {
		fprintf(stderr, "hostile: unknown p2p mode %s\n", mode);
		return 2;
	}
	uint64_t t0 = now_ms();
	if (len && send(fd, buf, len, MSG_NOSIGNAL) < 0 && errno != ECONNRESET && errno != EPIPE) {
		perror("hostile: send");
		return 2;
	}
	bool closed = wait_closed(fd, P2P_WAIT_MS);
	uint64_t dt = now_ms() - t0;
	close(fd);
	if (!closed) {
		printf("still open after %d ms\n", P2P_WAIT_MS);
		return 1;
	}
	printf("closed after %llu ms\n", (unsigned long long)dt);
	return 0;
}

static void raise_nofile(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
		rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Opens n connections, burst at a time (0: all at once); returns how
 * many connected. */
static size_t open_paced(int *fds, size_t n, size_t burst)
{
	size_t opened = 0;
	raise_nofile(n);
	if (burst == 0 || burst > n)
		burst = n;
	for (size_t at = 0; at < n; at += burst) {
		size_t k = n - at < burst ? n - at : burst;
		for (size_t i = 0; i < k; i++)
			fds[at + i] = dial_start();
		opened += dial_finish(fds + at, k, 5000);
		if (at + k < n)
			usleep(20000);
	}
	return opened;
}

static int cmd_conns(size_t n, int hold_s, size_t burst)
{
	int *fds = calloc(n, sizeof *fds);
	size_t opened, closed = 0;
	if (!fds)
		return 2;
	opened = open_paced(fds, n, burst);
	uint64_t end = now_ms() + (uint64_t)hold_s * 1000u;
	while (now_ms() < end)
		usleep(100000);
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (peer_closed(fds[i]))
			closed++;
		close(fds[i]);
	}
	printf("{\"wanted\":%zu,\"connected\":%zu,\"closed_by_server\":%zu}\n", n, opened, closed);
	free(fds);
	return 0;
}

static int cmd_slowloris(size_t n)
{
	static const char req[] = "POST /v1/tx HTTP/1.1\r\nHost: node\r\n"
				  "Content-Type: text/plain\r\nContent-Length: 64\r\n\r\n"
				  "00000000000000000000000000000000000000000000000000000000";
	int *fds = calloc(n, sizeof *fds);
	uint64_t *closed_at = calloc(n, sizeof *closed_at);
	size_t pos = 0, opened = 0, closed = 0;
	uint64_t t0 = now_ms(), longest = 0;
	if (!fds || !closed_at)
		return 2;
	opened = open_paced(fds, n, SLOW_BURST);
	while (now_ms() - t0 < SLOW_WAIT_MS && closed < opened) {
		for (size_t i = 0; i < n; i++) {
			if (fds[i] < 0 || closed_at[i])
				continue;
			if (peer_closed(fds[i]) ||
			    (pos < sizeof req - 1 &&
			     send(fds[i], req + pos, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
			     errno != EAGAIN)) {
				closed_at[i] = now_ms();
				closed++;
			}
		}
		if (pos < sizeof req - 1)
			pos++;
		usleep(SLOW_STEP_MS * 1000);
	}
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		uint64_t life = (closed_at[i] ? closed_at[i] : now_ms()) - t0;
		if (life > longest)
			longest = life;
		close(fds[i]);
	}
	printf("{\"connected\":%zu,\"closed_by_server\":%zu,\"longest_open_ms\":%llu,"
	       "\"bytes_sent_each\":%zu}\n",
	       opened, closed, (unsigned long long)longest, pos);
	free(fds);
	free(closed_at);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "p2p") == 0) {
		parse_target(argv[3]);
		return cmd_p2p(argv[2], argc >= 5 ? argv[4] : NULL);
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "conns") == 0) {
		parse_target(argv[2]);
		return cmd_conns((size_t)atol(argv[3]), atoi(argv[4]),
				 argc == 6 ? (size_t)atol(argv[5]) : 0);
	}
	if (argc == 4 && strcmp(argv[1], "slowloris") == 0) {
		parse_target(argv[2]);
		return cmd_slowloris((size_t)atol(argv[3]));
	}
	fprintf(stderr, "usage: hostile p2p MODE HOST:PORT [CHAIN] | conns HOST:PORT N HOLD_S [BURST] | "
			"slowloris HOST:PORT N\n");
	return 2;
}
