/*
 * bench_crypto: how fast one machine checks signatures and hashes, the two
 * costs that bound block validation (every transaction's signature, the
 * Merkle root over its transactions). Prints Ed25519 verifications per
 * second through ck_verify on one thread and on one thread per online CPU,
 * then BLAKE2b-256 throughput for large inputs and for 64-byte inputs (the
 * size of a Merkle inner node). A separate program rather than a unit test
 * so that the test suite stays fast and the figures are not noise in it.
 *
 *   build/bench/bench_crypto [--seconds S] [--threads N]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/ck.h"

#define MSG_BYTES    256u     /* about one transfer transaction */
#define SAMPLES      64u      /* distinct keys and messages, cycled */
#define CLOCK_EVERY  64u      /* iterations between clock reads */
#define THREADS_MAX  256u
#define BIG_BYTES    (1u << 20)
#define CHAIN_ID     "bench"

typedef struct sample {
	ck_pubkey pk;
	ck_sig sig;
	uint8_t msg[MSG_BYTES];
} sample;

static sample samples[SAMPLES];
static atomic_bool stop;
static pthread_barrier_t start;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void make_samples(void)
{
	for (unsigned j = 0; j < SAMPLES; j++) {
		ck_seckey sk;
		ck_keypair(samples[j].pk, sk);
		for (unsigned b = 0; b < MSG_BYTES; b++)
			samples[j].msg[b] = (uint8_t)(j * 131 + b);
		ck_sign(samples[j].sig, sk, CK_DOM_TX, CHAIN_ID, samples[j].msg, MSG_BYTES);
	}
}

static void *verify_worker(void *arg)
{
	uint64_t *count = arg;
	uint64_t n = 0;
	pthread_barrier_wait(&start);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		const sample *s = &samples[n % SAMPLES];
		if (ck_verify(s->sig, s->pk, CK_DOM_TX, CHAIN_ID, s->msg, MSG_BYTES) != 0) {
			fprintf(stderr, "bench_crypto: a valid signature failed to verify\n");
			abort();
		}
		n++;
	}
	*count = n;
	return NULL;
}

/* Verifications per second summed over nthreads threads. */
static uint64_t verify_rate(unsigned nthreads, uint64_t seconds)
{
	pthread_t tid[THREADS_MAX];
	uint64_t count[THREADS_MAX];
	atomic_store(&stop, false);
	if (pthread_barrier_init(&start, NULL, nthreads + 1) != 0)
		abort();
	for (unsigned t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, verify_worker, &count[t]) != 0)
			abort();
	pthread_barrier_wait(&start);
	uint64_t t0 = now_ns();
	struct timespec d = {(time_t)seconds, 0};
	while (nanosleep(&d, &d) != 0)
		;
	atomic_store(&stop, true);
	uint64_t total = 0;
	for (unsigned t = 0; t < nthreads; t++) {
		pthread_join(tid[t], NULL);
		total += count[t];
	}
	uint64_t ns = now_ns() - t0;
	pthread_barrier_destroy(&start);
	return total * 1000000000u / ns;
}

/* Tagged hashes of len-byte inputs per second, one thread. */
static uint64_t hash_rate(const uint8_t *buf, size_t len, uint64_t seconds)
{
	uint64_t n = 0, t0 = now_ns(), t;
	ck_hash h;
	do {
		for (unsigned j = 0; j < CLOCK_EVERY; j++) {
			ck_hash_tagged(h, "bench", buf, len);
			n++;
		}
		t = now_ns();
	} while (t - t0 < seconds * 1000000000u);
	/* Keep the result observable so the loop is not optimised away. */
	if (h[0] == 0 && h[1] == 0 && h[2] == 0 && h[3] == 0)
		fprintf(stderr, "(unlikely hash)\n");
	return n * 1000000000u / (t - t0);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_crypto [--seconds S] [--threads N]\n"
		   "  --seconds S  length of each measurement (default 2)\n"
		   "  --threads N  threads of the parallel run (default: online CPUs)\n");
}

int main(int argc, char **argv)
{
	uint64_t seconds = 2;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nthreads = ncpu > 0 ? (unsigned)ncpu : 1;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) {
			seconds = strtoull(argv[++a], NULL, 10);
		} else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) {
			nthreads = (unsigned)strtoul(argv[++a], NULL, 10);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (seconds == 0 || seconds > 3600 || nthreads == 0 || nthreads > THREADS_MAX) {
		usage(stderr);
		return 2;
	}
	if (ck_init() != 0) {
		fprintf(stderr, "bench_crypto: %s\n", ck_strerror(CK_E_INIT));
		return 1;
	}
	make_samples();

	printf("online CPUs: %ld, %llu s per measurement\n", ncpu, (unsigned long long)seconds);
	uint64_t one = verify_rate(1, seconds);
	printf("ed25519 verify (ck_verify, %u-byte message), 1 thread:  %llu /s\n", MSG_BYTES,
	       (unsigned long long)one);
	uint64_t many = verify_rate(nthreads, seconds);
	printf("ed25519 verify (ck_verify, %u-byte message), %u threads: %llu /s "
	       "(%llu /s per thread, %llu%% of %u x 1 thread)\n",
	       MSG_BYTES, nthreads, (unsigned long long)many,
	       (unsigned long long)(many / nthreads),
	       (unsigned long long)(many * 100 / (one * nthreads)), nthreads);

	uint8_t *big = malloc(BIG_BYTES);
	if (big == NULL)
		return 1;
	for (size_t j = 0; j < BIG_BYTES; j++)
		big[j] = (uint8_t)(j * 7);
	uint64_t big_rate = hash_rate(big, BIG_BYTES, seconds);
	printf("blake2b-256 (ck_hash_tagged), 1 MiB inputs, 1 thread: %llu MiB/s\n",
	       (unsigned long long)big_rate);
	uint64_t small_rate = hash_rate(big, 64, seconds);
	printf("blake2b-256 (ck_hash_tagged), 64-byte inputs, 1 thread: %llu hashes/s "
	       "(%llu MiB/s)\n",
	       (unsigned long long)small_rate, (unsigned long long)(small_rate * 64 >> 20));
	free(big);
	return 0;
}
