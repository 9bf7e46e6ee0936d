/* cache_round_trip.h - the behaviour every policy cache backend shares
 * (cache.h), asserted the same way for memory:, sqlite:// (tests/unit),
 * redis:// (tests/integration) and postgresql:// (tests/pg), the last two
 * against real servers. cmocka required. */
#ifndef MTASTS_TESTS_CACHE_ROUND_TRIP_H
#define MTASTS_TESTS_CACHE_ROUND_TRIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/cache_int.h"

static inline void make_entry(struct mts_cache_entry *e, const char *domain, const char *id,
		       const char *body, long long fetched)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->policy = (char *)body;
	e->policy_len = body ? strlen(body) : 0;
	e->fetched_at = fetched;
	e->expires_at = fetched + 86400;
	e->last_attempt = fetched;
}

static inline void round_trip(struct mts_cache *c)
{
	struct mts_cache_entry e, got;
	struct mts_error err = {0};
	assert_int_equal(mts_cache_get(c, "example.com", &got, &err), MTS_ENOTFOUND);
	make_entry(&e, "example.com", "abc1", "version: STSv1\r\nmode: none\r\nmax_age: 1\r\n", 1000);
	e.failures = 2;
	e.last_failure = 999;
	e.last_result = 3;
	snprintf(e.last_reason, sizeof(e.last_reason), "HTTP status 404");
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "example.com", &got, &err), 0);
	assert_string_equal(got.domain, "example.com");
	assert_string_equal(got.id, "abc1");
	assert_int_equal(got.policy_len, e.policy_len);
	assert_memory_equal(got.policy, e.policy, e.policy_len);
	assert_int_equal(got.fetched_at, 1000);
	assert_int_equal(got.expires_at, 1000 + 86400);
	assert_int_equal(got.last_failure, 999);
	assert_int_equal(got.failures, 2);
	assert_int_equal(got.last_result, 3);
	assert_string_equal(got.last_reason, "HTTP status 404");
	mts_cache_entry_clear(&got);

	/* Replace, then a negative entry without a policy. */
	make_entry(&e, "example.com", "abc2", "x", 2000);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "example.com", &got, &err), 0);
	assert_string_equal(got.id, "abc2");
	assert_string_equal(got.policy, "x");
	mts_cache_entry_clear(&got);
	make_entry(&e, "neg.example", "", NULL, 0);
	e.last_failure = 50;
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "neg.example", &got, &err), 0);
	assert_null(got.policy);
	assert_int_equal(got.last_failure, 50);
	mts_cache_entry_clear(&got);

	assert_int_equal(mts_cache_delete(c, "example.com", &err), 0);
	assert_int_equal(mts_cache_get(c, "example.com", &got, &err), MTS_ENOTFOUND);
	assert_int_equal(mts_cache_delete(c, "example.com", &err), 0);
}

/* Two clients of one shared backend (a fleet): what one puts the other
 * reads, what one deletes is gone for the other. */
static inline void fleet_round(struct mts_cache *a, struct mts_cache *b)
{
	struct mts_cache_entry e, got;
	struct mts_error err = {0};
	make_entry(&e, "shared.example", "v1", "body-1", 1000);
	assert_int_equal(mts_cache_put(a, &e, &err), 0);
	assert_int_equal(mts_cache_get(b, "shared.example", &got, &err), 0);
	assert_string_equal(got.id, "v1");
	assert_string_equal(got.policy, "body-1");
	mts_cache_entry_clear(&got);
	assert_int_equal(mts_cache_delete(b, "shared.example", &err), 0);
	assert_int_equal(mts_cache_get(a, "shared.example", &got, &err), MTS_ENOTFOUND);
}

/* Entries unused for long go; fresh ones stay. The backend evicts every
 * 256th put of one client: 200 old puts, then 56 fresh ones. */
static inline void eviction_round(struct mts_cache *c, long long now)
{
	struct mts_cache_entry e, got;
	struct mts_error err = {0};
	char name[64];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "old%d.example", i);
		make_entry(&e, name, "o", "p", 1000);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	for (int i = 0; i < 56; i++) {
		snprintf(name, sizeof(name), "new%d.example", i);
		make_entry(&e, name, "n", "p", now);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	for (int i = 0; i < 200; i += 37) {
		snprintf(name, sizeof(name), "old%d.example", i);
		assert_int_equal(mts_cache_get(c, name, &got, &err), MTS_ENOTFOUND);
	}
	for (int i = 0; i < 56; i += 11) {
		snprintf(name, sizeof(name), "new%d.example", i);
		assert_int_equal(mts_cache_get(c, name, &got, &err), 0);
		mts_cache_entry_clear(&got);
	}
}

/* What a walk gave: how often each w<i>.example came, and anything else. */
#define WALK_N 250
struct walk_log {
	size_t given;
	unsigned seen[WALK_N];
	size_t others;
	bool w7_ok, w3_negative;
	size_t fail_at; /* > 0: fail with MTS_EIO at this entry */
};

static inline int walk_collect(const struct mts_cache_entry *e, void *arg)
{
	struct walk_log *log = arg;
	log->given++;
	if (log->fail_at && log->given == log->fail_at)
		return MTS_EIO;
	char *end;
	unsigned long i = e->domain[0] == 'w' ? strtoul(e->domain + 1, &end, 10) : WALK_N;
	if (i >= WALK_N || end == e->domain + 1 || strcmp(end, ".example") != 0) {
		log->others++;
		return 0;
	}
	log->seen[i]++;
	if (i == 7)
		log->w7_ok = strcmp(e->id, "id7") == 0 && e->policy_len == 6 &&
			     memcmp(e->policy, "body-7", 6) == 0 && e->fetched_at == 7000;
	if (i == 3)
		log->w3_negative = e->policy == NULL && e->last_failure == 33;
	return 0;
}

/* Walk c to the end, batch entries a call; returns the number of calls. */
static inline size_t walk_all(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
			      struct walk_log *log)
{
	struct mts_error err = {0};
	size_t calls = 0;
	while (!w->done) {
		int rc = mts_cache_each(c, w, batch, walk_collect, log, &err);
		if (rc != 0)
			fail_msg("walk: %d %s", rc, err.message);
		assert_true(++calls < 100000);
	}
	return calls;
}

/* Put w0..w249.example (w7 with a policy we check, w3 negative), then walk
 * them 7 at a time: each comes once (at least once when exact is false:
 * Redis's SCAN may repeat), with its fields, and nothing else does. A
 * callback's error stops the walk and comes back. c holds nothing else. */
static inline void walk_round(struct mts_cache *c, bool exact)
{
	struct mts_cache_entry e;
	struct mts_error err = {0};
	struct mts_cache_walk w = {0};
	struct walk_log *log = calloc(1, sizeof(*log));
	assert_non_null(log);
	/* An empty cache: done at once. */
	assert_int_equal(mts_cache_each(c, &w, 7, walk_collect, log, &err), 0);
	assert_true(w.done);
	assert_int_equal(w.visited, 0);
	for (int i = 0; i < WALK_N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d.example", i);
		make_entry(&e, name, i == 7 ? "id7" : "x", i == 3 ? NULL : i == 7 ? "body-7" : "p",
			   i * 1000);
		if (i == 3)
			e.last_failure = 33;
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	memset(&w, 0, sizeof(w));
	size_t calls = walk_all(c, &w, 7, log);
	assert_true(calls >= 2); /* batches, not everything at once */
	assert_int_equal(log->others, 0);
	for (int i = 0; i < WALK_N; i++) {
		if (exact)
			assert_int_equal(log->seen[i], 1);
		else
			assert_true(log->seen[i] >= 1);
	}
	if (exact)
		assert_int_equal(w.visited, WALK_N);
	assert_int_equal(w.visited, log->given);
	assert_int_equal(w.skipped, 0);
	assert_true(log->w7_ok);
	assert_true(log->w3_negative);
	/* A finished walk stays finished. */
	assert_int_equal(mts_cache_each(c, &w, 7, walk_collect, log, &err), 0);
	assert_int_equal(w.visited, log->given);

	memset(log, 0, sizeof(*log));
	memset(&w, 0, sizeof(w));
	log->fail_at = 20;
	int rc = 0;
	while (rc == 0 && !w.done)
		rc = mts_cache_each(c, &w, 7, walk_collect, log, &err);
	assert_int_equal(rc, MTS_EIO);
	assert_false(w.done);
	free(log);
}

/* Walk a cache that also holds malformed rows, 1 and 8 entries a call:
 * the WALK_N good ones come once each, the bad ones are skipped and
 * counted (skipped of them) with a reason naming the backend (says). */
static inline void skip_walk_round(struct mts_cache *c, size_t skipped, const char *says)
{
	for (size_t batch = 1; batch <= 8; batch += 7) {
		struct walk_log *log = calloc(1, sizeof(*log));
		assert_non_null(log);
		struct mts_cache_walk w = {0};
		walk_all(c, &w, batch, log);
		assert_int_equal(w.visited, WALK_N);
		assert_int_equal(log->others, 0);
		assert_int_equal(w.skipped, skipped);
		assert_non_null(strstr(w.skip_reason, says));
		free(log);
	}
}

/* tests/rig/SERVER VERB (redis or pg: freeze, thaw, stop, start...). */
static inline int rig_server(const char *server, const char *verb)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/tests/rig/%s %s >/dev/null 2>&1",
		 getenv("MTASTS_SOURCE_DIR"), server, verb);
	return system(cmd);
}

static inline double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A hung server (tests/rig/SERVER freeze: it accepts, never answers): the
 * first call gives up within [min_s, max_s), the next one fails at once
 * saying "unavailable" and then_says, and after the pause (5 s) the cache
 * reconnects and still has the entry. Measured while frozen, asserted
 * after the thaw, so that a failure never leaves the shared server
 * stopped. */
static inline void hung_round(struct mts_cache *c, const char *server, double min_s, double max_s,
			      const char *then_says)
{
	struct mts_error err = {0};
	struct mts_cache_entry e, got;
	make_entry(&e, "h.example", "v1", "p", (long long)time(NULL));
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(rig_server(server, "freeze"), 0);
	double t0 = monotonic_s();
	int first = mts_cache_get(c, "h.example", &got, &err);
	double first_s = monotonic_s() - t0;
	t0 = monotonic_s();
	int second = mts_cache_put(c, &e, &err);
	double second_s = monotonic_s() - t0;
	char second_msg[sizeof(err.message)];
	snprintf(second_msg, sizeof(second_msg), "%s", err.message);
	assert_int_equal(rig_server(server, "thaw"), 0);

	assert_int_equal(first, MTS_ESTORE);
	if (first_s < min_s || first_s >= max_s)
		fail_msg("the first call took %.2f s, want %.2f..%.2f", first_s, min_s, max_s);
	assert_int_equal(second, MTS_ESTORE);
	if (second_s >= 0.1)
		fail_msg("the call after a timeout took %.2f s, want at once", second_s);
	assert_non_null(strstr(second_msg, "unavailable"));
	assert_non_null(strstr(second_msg, then_says));
	sleep(6);
	assert_int_equal(mts_cache_get(c, "h.example", &got, &err), 0);
	assert_string_equal(got.id, "v1");
	mts_cache_entry_clear(&got);
}

#endif
