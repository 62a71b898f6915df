/*
 * proxy: a userspace TCP relay between the nodes of a fault-injection
 * script, so the script can cut and heal the links of a real cluster
 * without root or network namespaces (tests/integration/31-*.sh). The
 * scripts compile it on the fly (fault_build_tools in
 * tests/integration/lib.sh); it needs only libc.
 *
 *   proxy --ctl FILE --ports FILE LINK=PORT [LINK=PORT ...]
 *
 * Each LINK gets a listening port on 127.0.0.1 chosen by the kernel; every
 * connection to it is relayed to 127.0.0.1:PORT. Once all are bound, the
 * lines "LINK LISTEN_PORT" are written to the --ports file (atomically).
 * The script points each node's configured peer addresses at these ports,
 * one link per direction (node i dials node j through link "i-j").
 *
 * The --ctl file says which links are cut, one "LINK MODE" per line after
 * a first line "gen N"; a link not named is open. It is read every 50 ms;
 * once a new generation is applied, "N" is written to FILE.ack, so the
 * script knows the cut is in force. Modes:
 *   drop   existing connections are reset and new ones are accepted and
 *          reset at once: the peer sees refused, broken connections;
 *   pause  nothing is read or written on the link's connections, old or
 *          new (new ones are accepted and held, not yet relayed): a cable
 *          cut as TCP sees it, where bytes wait and the ends notice only by
 *          their own timeouts. Healing relays whatever was waiting.
 * Ends on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINKS_MAX 64
#define PAIRS_MAX 512
#define BUF_BYTES (64 * 1024)
#define CTL_POLL_MS 50

enum mode { M_OPEN, M_DROP, M_PAUSE };

typedef struct link {
	char name[32];
	int lfd;
	int listen_port;
	int target_port;
	enum mode mode;
} link_t;

/* A relayed connection: fd[0] the accepted end, fd[1] the one to the
 * target. buf[d] holds bytes read from fd[d] not yet written to fd[1-d]. */
typedef struct pair {
	bool used;
	int link;
	int fd[2];
	bool connecting;              /* fd[1] connect in progress */
	bool held;                    /* accepted while paused: not yet connected */
	bool eof[2];                  /* fd[d] reached end of file */
	bool shut[2];                 /* write side of fd[d] shut down */
	size_t len[2];
	unsigned char buf[2][BUF_BYTES];
} pair;

static link_t links[LINKS_MAX];
static int nlinks;
static pair pairs[PAIRS_MAX];
static volatile sig_atomic_t stop;
static const char *ctl_path;
static long ctl_gen = -1;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "proxy: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Closes with a reset, as a broken link does, rather than a clean FIN. */
static void close_rst(int fd)
{
	struct linger l = {1, 0};
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

static void pair_close(pair *p, bool rst)
{
	for (int d = 0; d < 2; d++) {
		if (p->fd[d] < 0)
			continue;
		if (rst)
			close_rst(p->fd[d]);
		else
			close(p->fd[d]);
	}
	memset(p, 0, sizeof *p);
	p->fd[0] = p->fd[1] = -1;
}

static void pair_connect(pair *p)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || nonblock(fd) != 0) {
		if (fd >= 0)
			close(fd);
		pair_close(p, true);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)links[p->link].target_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->fd[1] = fd;
	p->held = false;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		p->connecting = false;
	else if (errno == EINPROGRESS)
		p->connecting = true;
	else
		pair_close(p, true);
}

static void accept_one(int li)
{
	int fd = accept(links[li].lfd, NULL, NULL);
	if (fd < 0)
		return;
	if (links[li].mode == M_DROP || nonblock(fd) != 0) {
		close_rst(fd);
		return;
	}
	pair *p = NULL;
	for (int i = 0; i < PAIRS_MAX && !p; i++)
		if (!pairs[i].used)
			p = &pairs[i];
	if (!p) {
		close_rst(fd);
		return;
	}
	memset(p, 0, sizeof *p);
	p->used = true;
	p->link = li;
	p->fd[0] = fd;
	p->fd[1] = -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (links[li].mode == M_PAUSE)
		p->held = true;
	else
		pair_connect(p);
}

/* Reads the control file; applies a new generation. */
static void read_ctl(void)
{
	FILE *f = fopen(ctl_path, "r");
	char line[128], name[64], mode[16];
	long gen;
	enum mode next[LINKS_MAX];
	if (!f)
		return;
	if (!fgets(line, sizeof line, f) || sscanf(line, "gen %ld", &gen) != 1 || gen == ctl_gen) {
		fclose(f);
		return;
	}
	for (int i = 0; i < nlinks; i++)
		next[i] = M_OPEN;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %15s", name, mode) != 2)
			continue;
		for (int i = 0; i < nlinks; i++)
			if (strcmp(links[i].name, name) == 0)
				next[i] = strcmp(mode, "drop") == 0    ? M_DROP
					  : strcmp(mode, "pause") == 0 ? M_PAUSE
								       : M_OPEN;
	}
	fclose(f);
	for (int i = 0; i < nlinks; i++)
		links[i].mode = next[i];
	for (int i = 0; i < PAIRS_MAX; i++) {
		pair *p = &pairs[i];
		if (!p->used)
			continue;
		if (links[p->link].mode == M_DROP)
			pair_close(p, true);
		else if (links[p->link].mode == M_OPEN && p->held)
			pair_connect(p);
	}
	ctl_gen = gen;
	char ack[600], tmp[620];
	snprintf(ack, sizeof ack, "%s.ack", ctl_path);
	snprintf(tmp, sizeof tmp, "%s.tmp", ack);
	f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%ld\n", gen);
		fclose(f);
		rename(tmp, ack);
	}
}

/* Moves bytes of one pair after poll() said what is ready. */
static void pair_io(pair *p, const short rev[2])
{
	if (p->connecting) {
		int err = 0;
		socklen_t el = sizeof err;
		if (!(rev[1] & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			pair_close(p, true);
			return;
		}
		p->connecting = false;
		return;
	}
	for (int d = 0; d < 2; d++) {
		int from = p->fd[d], to = p->fd[1 - d];
		if ((rev[d] & (POLLIN | POLLHUP | POLLERR)) && !p->eof[d] && p->len[d] < BUF_BYTES) {
			ssize_t k = read(from, p->buf[d] + p->len[d], BUF_BYTES - p->len[d]);
			if (k > 0) {
				p->len[d] += (size_t)k;
			} else if (k == 0) {
				p->eof[d] = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				pair_close(p, true);
				return;
			}
		}
		if (p->len[d] > 0) {
			ssize_t k = write(to, p->buf[d], p->len[d]);
			if (k > 0) {
				memmove(p->buf[d], p->buf[d] + k, p->len[d] - (size_t)k);
				p->len[d] -= (size_t)k;
			} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				pair_close(p, true);
				return;
			}
		}
		if (p->eof[d] && p->len[d] == 0 && !p->shut[1 - d]) {
			shutdown(to, SHUT_WR);
			p->shut[1 - d] = true;
		}
	}
	if (p->eof[0] && p->eof[1] && p->len[0] == 0 && p->len[1] == 0)
		pair_close(p, false);
}

int main(int argc, char **argv)
{
	const char *ports_path = NULL;
	static struct pollfd pfd[LINKS_MAX + 2 * PAIRS_MAX];
	static int owner[LINKS_MAX + 2 * PAIRS_MAX];

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	for (int i = 0; i < PAIRS_MAX; i++)
		pairs[i].fd[0] = pairs[i].fd[1] = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc) {
			ctl_path = argv[++i];
		} else if (strcmp(argv[i], "--ports") == 0 && i + 1 < argc) {
			ports_path = argv[++i];
		} else {
			char *eq = strchr(argv[i], '=');
			if (!eq || nlinks == LINKS_MAX || (size_t)(eq - argv[i]) >= sizeof links[0].name) {
				fprintf(stderr, "usage: proxy --ctl FILE --ports FILE LINK=PORT ...\n");
				return 2;
			}
			link_t *l = &links[nlinks++];
			memcpy(l->name, argv[i], (size_t)(eq - argv[i]));
			l->target_port = atoi(eq + 1);
		}
	}
	if (!ctl_path || !ports_path || nlinks == 0) {
		fprintf(stderr, "usage: proxy --ctl FILE --ports FILE LINK=PORT ...\n");
		return 2;
	}
	for (int i = 0; i < nlinks; i++) {
		struct sockaddr_in a;
		socklen_t al = sizeof a;
		int one = 1;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &al) != 0 || nonblock(fd) != 0)
			die("listen");
		links[i].lfd = fd;
		links[i].listen_port = ntohs(a.sin_port);
	}
	read_ctl();
	{
		char tmp[600];
		snprintf(tmp, sizeof tmp, "%s.tmp", ports_path);
		FILE *f = fopen(tmp, "w");
		if (!f)
			die(tmp);
		for (int i = 0; i < nlinks; i++)
			fprintf(f, "%s %d\n", links[i].name, links[i].listen_port);
		if (fclose(f) != 0 || rename(tmp, ports_path) != 0)
			die(ports_path);
	}

	while (!stop) {
		int n = 0;
		for (int i = 0; i < nlinks; i++) {
			pfd[n] = (struct pollfd){links[i].lfd, POLLIN, 0};
			owner[n++] = -1 - i;
		}
		for (int i = 0; i < PAIRS_MAX; i++) {
			pair *p = &pairs[i];
			if (!p->used || p->held || links[p->link].mode == M_PAUSE)
				continue;
			for (int d = 0; d < 2; d++) {
				short ev = 0;
				if (d == 1 && p->connecting) {
					ev = POLLOUT;
				} else if (!p->connecting) {
					if (!p->eof[d] && p->len[d] < BUF_BYTES)
						ev |= POLLIN;
					if (p->len[1 - d] > 0)
						ev |= POLLOUT;
				}
				if (d == 0 && p->connecting)
					ev = 0;
				pfd[n] = (struct pollfd){p->fd[d], ev, 0};
				owner[n++] = i;
			}
		}
		int k = poll(pfd, (nfds_t)n, CTL_POLL_MS);
		if (k < 0 && errno != EINTR)
			die("poll");
		for (int j = 0; k > 0 && j < n; j++) {
			if (owner[j] < 0) {
				if (pfd[j].revents & POLLIN)
					accept_one(-1 - owner[j]);
				continue;
			}
			/* Both ends of a pair are consecutive entries. */
			pair *p = &pairs[owner[j]];
			short rev[2] = {pfd[j].revents, pfd[j + 1].revents};
			j++;
			if (p->used && (rev[0] || rev[1]))
				pair_io(p, rev);
		}
		read_ctl();
	}
	for (int i = 0; i < PAIRS_MAX; i++)
		if (pairs[i].used)
			pair_close(&pairs[i], false);
	for (int i = 0; i < nlinks; i++)
		close(links[i].lfd);
	return 0;
}
