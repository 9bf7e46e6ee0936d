/* cache_round_trip.h - the behaviour every policy cache backend shares
 * (cache.h), asserted the same way for memory:, sqlite:// (tests/unit) and
 * redis:// (tests/integration, against a real server). cmocka required. */
#ifndef MTASTS_TESTS_CACHE_ROUND_TRIP_H
#define MTASTS_TESTS_CACHE_ROUND_TRIP_H

#include <stdio.h>
#include <string.h>

#include "mtasts/cache.h"

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

#endif
