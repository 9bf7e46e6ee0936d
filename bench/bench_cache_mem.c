/*
 * bench_cache_mem.c - peak memory per cached policy.
 *
 * Inserts N realistic policies (a ~100-byte enforce policy with two mx lines,
 * its TXT id, timestamps; distinct domains bNNNNNNN.example) through the
 * public cache interface and reports:
 *   memory:   VmRSS / VmHWM of this process before and after, and bytes per
 *             cached policy (HWM growth / N);
 *   sqlite:   the database file size (plus -wal) per policy after the same N
 *             puts, each its own transaction as the engine does it.
 * Baseline: the payload itself (domain + id + policy body bytes), i.e. what a
 * cache could not store in less.
 * Usage: bench_cache_mem [N] [SQLITE-PATH]   (default 100000, /tmp/bench-cache-mem.db)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/cache_int.h"

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = atol(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void make_entry(struct mts_cache_entry *e, long i, char *body, size_t cap, long long now)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof e->domain, "b%07ld.example", i);
	snprintf(e->id, sizeof e->id, "20240601T%06ld", i % 1000000);
	int n = snprintf(body, cap,
			 "version: STSv1\r\nmode: enforce\r\nmx: mx1.b%07ld.example\r\n"
			 "mx: *.mail.b%07ld.example\r\nmax_age: 604800\r\n",
			 i, i);
	e->policy = body;
	e->policy_len = (size_t)n;
	e->fetched_at = now;
	e->expires_at = now + 604800;
	e->last_attempt = now;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	const char *db = argc > 2 ? argv[2] : "/tmp/bench-cache-mem.db";
	char url[512], body[256];
	struct mts_error err;
	struct mts_cache_entry e;
	long long now = (long long)time(NULL), payload = 0;

	if (n <= 0) {
		fprintf(stderr, "usage: bench_cache_mem [N] [SQLITE-PATH]\n");
		return 2;
	}
	/* memory: sized to hold all N (the default bound is smaller) */
	snprintf(url, sizeof url, "memory:?max=%ld", n);
	long rss0 = status_kb("VmRSS"), hwm0 = status_kb("VmHWM");
	struct mts_cache *c = mts_cache_open(url, &err);
	if (!c) {
		fprintf(stderr, "open %s failed\n", url);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		make_entry(&e, i, body, sizeof body, now);
		payload += (long long)(strlen(e.domain) + strlen(e.id) + e.policy_len);
		if (mts_cache_put(c, &e, &err) != 0) {
			fprintf(stderr, "memory put %ld failed\n", i);
			return 1;
		}
	}
	/* every entry must still be there (no eviction) */
	struct mts_cache_entry got;
	make_entry(&e, 0, body, sizeof body, now);
	if (mts_cache_get(c, e.domain, &got, &err) != 0) {
		fprintf(stderr, "entry 0 evicted: cache did not hold N entries\n");
		return 1;
	}
	mts_cache_entry_clear(&got);
	long rss1 = status_kb("VmRSS"), hwm1 = status_kb("VmHWM");
	mts_cache_close(c);

	printf("policies:                 %ld (payload %.1f bytes each: domain + id + body)\n", n,
	       (double)payload / n);
	printf("memory: VmRSS before/after %ld / %ld kB, VmHWM %ld / %ld kB\n", rss0, rss1, hwm0,
	       hwm1);
	double mem_pp = (double)(hwm1 - hwm0) * 1024.0 / n;
	printf("memory: bytes per policy  %.0f (peak growth / N), %.2fx payload\n", mem_pp,
	       mem_pp / ((double)payload / n));

	unlink(db);
	snprintf(url, sizeof url, "%s-wal", db);
	unlink(url);
	snprintf(url, sizeof url, "sqlite://%s", db);
	c = mts_cache_open(url, &err);
	if (!c) {
		fprintf(stderr, "open %s failed\n", url);
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		make_entry(&e, i, body, sizeof body, now);
		if (mts_cache_put(c, &e, &err) != 0) {
			fprintf(stderr, "sqlite put %ld failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mts_cache_close(c); /* checkpoints the WAL into the main file */
	snprintf(url, sizeof url, "%s-wal", db);
	long long sz = file_size(db), wal = file_size(url);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sqlite: file %lld bytes (+ wal %lld) = %.0f bytes per policy, %.2fx payload\n", sz,
	       wal, (double)(sz + wal) / n, (double)(sz + wal) / n / ((double)payload / n));
	printf("sqlite: %ld puts in %.2f s (%.0f puts/s, one transaction each)\n", n, secs,
	       n / secs);
	unlink(db);
	unlink(url);
	return 0;
}
