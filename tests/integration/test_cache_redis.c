/*
 * test_cache_redis.c - the redis:// policy cache against a real Redis
 * (tests/rig/redis, started by the ctest fixture): the shared round trip,
 * key layout and TTLs, a corrupt entry, two clients sharing entries (a
 * fleet), walks with SCAN (only our keys, corrupt ones skipped and
 * counted), and a Redis restart under an open cache (reconnect, no crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "../cache_round_trip.h"
#include "io/cache_int.h"
#include "rig_env.h"

static struct rig_env env;
static char url[512];

static redisContext *raw(void)
{
	redisContext *c = redisConnect(rig_env_get(&env, "REDIS_ADDR"),
				       atoi(rig_env_get(&env, "REDIS_PORT")));
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	return c;
}

static long long raw_integer(redisContext *c, const char *cmd, const char *key)
{
	redisReply *r = redisCommand(c, cmd, key);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

static void flush(void)
{
	redisContext *c = raw();
	freeReplyObject(redisCommand(c, "FLUSHALL"));
	redisFree(c);
}

static void test_round_trip(void **state)
{
	(void)state;
	flush();
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	if (!c)
		fail_msg("open %s: %s", url, err.message);
	round_trip(c);
	mts_cache_close(c);
}

static void test_keys_and_ttl(void **state)
{
	(void)state;
	flush();
	char u[600];
	snprintf(u, sizeof(u), "%s?prefix=fleet1:", url);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(u, &err);
	assert_non_null(c);
	long long now = (long long)time(NULL);
	struct mts_cache_entry e;
	make_entry(&e, "ttl.example", "id1", "version: STSv1\r\n", now);
	e.expires_at = now + 1000;
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	make_entry(&e, "neg.example", "", NULL, now);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	redisContext *r = raw();
	long long ttl = raw_integer(r, "TTL %s", "fleet1:policy:ttl.example");
	assert_true(ttl > 1000 + MTS_CACHE_REDIS_KEEP - 10 && ttl <= 1000 + MTS_CACHE_REDIS_KEEP);
	ttl = raw_integer(r, "TTL %s", "fleet1:policy:neg.example");
	assert_true(ttl > MTS_CACHE_REDIS_KEEP - 10 && ttl <= MTS_CACHE_REDIS_KEEP);
	assert_int_equal(raw_integer(r, "EXISTS %s", "mtasts:policy:ttl.example"), 0);

	/* A corrupt value is an error naming the domain, not a crash. */
	freeReplyObject(redisCommand(r, "SET %s %s", "fleet1:policy:bad.example", "{not json"));
	struct mts_cache_entry got;
	assert_int_equal(mts_cache_get(c, "bad.example", &got, &err), MTS_ESTORE);
	assert_non_null(strstr(err.message, "bad.example"));
	freeReplyObject(redisCommand(r, "SET %s %s", "fleet1:policy:bad.example",
				     "{\"id\": 5}"));
	assert_int_equal(mts_cache_get(c, "bad.example", &got, &err), MTS_ESTORE);
	redisFree(r);
	mts_cache_close(c);
}

static void raw_set(redisContext *r, const char *key, const char *value)
{
	redisReply *rep = redisCommand(r, "SET %s %s", key, value);
	assert_non_null(rep);
	assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
	freeReplyObject(rep);
}

/* A walk sees our keys only: the prefix is matched literally (a '*' in it
 * is not a wildcard), and keys of other prefixes or other programs are left
 * alone. Values that do not decode are skipped and counted. */
static void test_walk(void **state)
{
	(void)state;
	flush();
	char u[600];
	snprintf(u, sizeof(u), "%s?prefix=f*1:", url);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(u, &err);
	assert_non_null(c);
	walk_round(c, false);

	redisContext *r = raw();
	const char *good = "{\"id\":\"i\",\"fetched_at\":1,\"expires_at\":2,\"last_attempt\":1,"
			   "\"last_failure\":0,\"failures\":0,\"last_result\":0}";
	raw_set(r, "fx1:policy:intruder.example", good);   /* would match an unescaped f*1: */
	raw_set(r, "mtasts:policy:intruder.example", good);
	raw_set(r, "f*1:other:intruder.example", good);
	raw_set(r, "f*1:policy:bad.example", "{not json");
	raw_set(r, "f*1:policy:idnum.example", "{\"id\": 5}");
	raw_set(r, "f*1:policy:has space.example", good);
	char longkey[400];
	snprintf(longkey, sizeof(longkey), "f*1:policy:%0300d.example", 7);
	raw_set(r, longkey, good);
	freeReplyObject(redisCommand(r, "RPUSH %s %s", "f*1:policy:list.example", "x"));
	redisFree(r);

	struct walk_log *log = calloc(1, sizeof(*log));
	struct mts_cache_walk w = {0};
	walk_all(c, &w, 7, log);
	assert_int_equal(log->others, 0);
	for (int i = 0; i < WALK_N; i++)
		assert_true(log->seen[i] >= 1);
	assert_true(w.skipped >= 4);
	assert_non_null(strstr(w.skip_reason, "redis cache"));
	mts_cache_close(c);

	/* Nothing but other programs' keys that an unescaped prefix would
	 * match: the walk does not even see them. */
	snprintf(u, sizeof(u), "%s?prefix=g?[2]:", url);
	c = mts_cache_open(u, &err);
	assert_non_null(c);
	r = raw();
	raw_set(r, "gx2:policy:intruder.example", good);
	raw_set(r, "gy2:policy:intruder.example", good);
	redisFree(r);
	memset(log, 0, sizeof(*log));
	memset(&w, 0, sizeof(w));
	walk_all(c, &w, 7, log);
	assert_int_equal(w.visited, 0);
	assert_int_equal(w.skipped, 0);
	free(log);
	mts_cache_close(c);
}

static void test_fleet_shares_entries(void **state)
{
	(void)state;
	flush();
	struct mts_error err = {0};
	struct mts_cache *a = mts_cache_open(url, &err), *b = mts_cache_open(url, &err);
	assert_non_null(a);
	assert_non_null(b);
	fleet_round(a, b);
	mts_cache_close(a);
	mts_cache_close(b);
}

static void test_restart(void **state)
{
	(void)state;
	flush();
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	struct mts_cache_entry e, got;
	make_entry(&e, "r.example", "v1", "p", (long long)time(NULL));
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(rig_server("redis", "restart"), 0);
	/* The old connection is dead: the first call may fail cleanly, then the
	 * cache reconnects. Nothing was persisted, so the entry is gone. */
	int rc = mts_cache_get(c, "r.example", &got, &err);
	if (rc == MTS_ESTORE)
		rc = mts_cache_get(c, "r.example", &got, &err);
	assert_int_equal(rc, MTS_ENOTFOUND);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "r.example", &got, &err), 0);
	mts_cache_entry_clear(&got);
	mts_cache_close(c);
}

static void test_dead_server_is_bounded(void **state)
{
	(void)state;
	/* A silent address (nothing listens, packets are answered by RST on
	 * loopback): the open fails fast with a clear message. */
	struct mts_error err = {0};
	assert_null(mts_cache_open("redis://127.0.0.1:1/0?timeout_ms=200", &err));
	assert_int_equal(err.code, MTS_ESTORE);
	assert_non_null(strstr(err.message, "connect"));
}

static void test_hung_server(void **state)
{
	(void)state;
	flush();
	char hung_url[600];
	snprintf(hung_url, sizeof(hung_url), "%s?timeout_ms=300", url);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(hung_url, &err);
	assert_non_null(c);
	hung_round(c, "redis", 0.25, 1.5, "no answer within 300 ms");
	mts_cache_close(c);
}

int main(void)
{
	if (rig_env_load_from(&env, "REDIS_ENV") < 0 || !rig_env_get(&env, "REDIS_URL")) {
		fprintf(stderr, "test_cache_redis: REDIS_ENV not readable\n");
		return 1;
	}
	snprintf(url, sizeof(url), "%s", rig_env_get(&env, "REDIS_URL"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_keys_and_ttl),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_fleet_shares_entries),
		cmocka_unit_test(test_dead_server_is_bounded),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_hung_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
