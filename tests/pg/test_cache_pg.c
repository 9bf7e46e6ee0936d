/*
 * test_cache_pg.c - the postgresql:// policy cache against the real server
 * of tests/rig/pg: the shared backend round trip, two clients of one table
 * (a fleet), the cache beside the report store in one database (separate
 * version tables), eviction of rows nobody used, walks in batches (rows we
 * could not have written skipped and counted), a server restart under an
 * open cache (reconnect, no crash), and a hung server (the call gives up
 * within its bound, later calls fail at once until the pause is over).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "../cache_round_trip.h"
#include "../integration/rig_env.h"
#include "io/cache_int.h"
#include "io/report_store_int.h"

static struct rig_env env;
static char url[512];

static PGconn *admin(void)
{
	PGconn *c = PQconnectdb(rig_env_get(&env, "MTASTS_PG_URL"));
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	return c;
}

static void sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(c));
	PQclear(r);
}

static long long scalar(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static int setup(void **state)
{
	(void)state;
	PGconn *a = admin();
	char q[256];
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS t_cache_%d WITH (FORCE)", (int)getpid());
	sql(a, q);
	snprintf(q, sizeof(q), "CREATE DATABASE t_cache_%d", (int)getpid());
	sql(a, q);
	PQfinish(a);
	snprintf(url, sizeof(url), "postgresql://mtasts@%s:%s/t_cache_%d",
		 rig_env_get(&env, "MTASTS_PG_ADDR"), rig_env_get(&env, "MTASTS_PG_PORT"),
		 (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PGconn *a = admin();
	char q[128];
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS t_cache_%d WITH (FORCE)", (int)getpid());
	sql(a, q);
	PQfinish(a);
	return 0;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	if (!c)
		fail_msg("open: %s", err.message);
	round_trip(c);
	/* A body with every byte value survives (bytea, not text). */
	char body[256];
	for (int i = 0; i < 256; i++)
		body[i] = (char)i;
	struct mts_cache_entry e, got;
	make_entry(&e, "bytes.example", "b1", NULL, 5);
	e.policy = body;
	e.policy_len = sizeof(body);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "bytes.example", &got, &err), 0);
	assert_int_equal(got.policy_len, sizeof(body));
	assert_memory_equal(got.policy, body, sizeof(body));
	mts_cache_entry_clear(&got);
	mts_cache_close(c);
}

static void test_fleet_and_report_store(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *a = mts_cache_open(url, &err), *b = mts_cache_open(url, &err);
	assert_non_null(a);
	assert_non_null(b);
	fleet_round(a, b);
	/* The report store migrates the same database beside the cache. */
	struct mts_report_store *store = NULL;
	if (mts_report_store_open(url, &store, &err) < 0)
		fail_msg("report store: %s", err.message);
	mts_report_store_close(store);
	PGconn *conn = PQconnectdb(url);
	assert_int_equal(scalar(conn, "SELECT MAX(version) FROM cache_schema_version"), 1);
	assert_int_equal(scalar(conn, "SELECT MAX(version) FROM schema_version"),
			 MTS_REPORT_STORE_PG_SCHEMA);
	/* A newer cache schema is refused, naming its table. */
	sql(conn, "INSERT INTO cache_schema_version VALUES (99)");
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_null(c);
	assert_non_null(strstr(err.message, "cache_schema_version: schema version 99"));
	sql(conn, "DELETE FROM cache_schema_version WHERE version = 99");
	PQfinish(conn);
	mts_cache_close(a);
	mts_cache_close(b);
}

static void test_eviction(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	eviction_round(c, (long long)time(NULL));
	PGconn *conn = PQconnectdb(url);
	assert_int_equal(scalar(conn, "SELECT COUNT(*) FROM sts_policy_cache WHERE domain LIKE 'old%'"), 0);
	assert_int_equal(scalar(conn, "SELECT COUNT(*) FROM sts_policy_cache WHERE domain LIKE 'new%'"), 56);
	PQfinish(conn);
	mts_cache_close(c);
}

static void test_walk(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	PGconn *conn = PQconnectdb(url);
	sql(conn, "DELETE FROM sts_policy_cache");
	walk_round(c, true);
	/* Rows another program (or a hand) wrote: an id too long, a domain that
	 * is too long (as a batch's last row it cannot be the next position),
	 * one with a space. */
	sql(conn, "INSERT INTO sts_policy_cache (domain, id) VALUES ('w100x.example',"
		  " repeat('i', 40))");
	sql(conn, "INSERT INTO sts_policy_cache (domain) VALUES ('w100' || repeat('a', 600))");
	sql(conn, "INSERT INTO sts_policy_cache (domain) VALUES ('w100 space.example')");
	PQfinish(conn);
	skip_walk_round(c, 3, "postgresql cache");
	mts_cache_close(c);
}

static void test_restart(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	struct mts_cache_entry e, got;
	make_entry(&e, "r.example", "v1", "p", (long long)time(NULL));
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(rig_server("pg", "stop"), 0);
	assert_int_equal(rig_server("pg", "start"), 0);
	/* The entry was committed: after the restart the cache reconnects and
	 * finds it. */
	assert_int_equal(mts_cache_get(c, "r.example", &got, &err), 0);
	assert_string_equal(got.id, "v1");
	mts_cache_entry_clear(&got);
	mts_cache_close(c);
}

static void test_hung_server(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	/* The server accepted the query and never answered: the call gives up
	 * after the statement limit plus the margin (1.5 s), not never. */
	hung_round(c, "pg", 1.4, 3.0, "no answer");
	mts_cache_close(c);
}

int main(void)
{
	if (rig_env_load_from(&env, "PG_ENV") < 0 || !rig_env_get(&env, "MTASTS_PG_URL")) {
		fprintf(stderr, "test_cache_pg: PG_ENV not readable\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fleet_and_report_store),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_hung_server),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
