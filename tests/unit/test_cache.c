/* test_cache.c - the policy cache backends: round trips, LRU bounds, URLs,
 * SQLite persistence and crash safety (a writer killed with SIGKILL). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "io/cache_int.h"
#include "mtasts/version.h"
#include "../cache_round_trip.h"

static char tmpdir[] = "/tmp/mts-test-cache-XXXXXX";

static void test_memory_round_trip(void **state)
{
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open("memory:", &err);
	assert_non_null(c);
	round_trip(c);
	mts_cache_close(c);
}

static void test_memory_lru(void **state)
{
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open("memory:?max=3", &err);
	assert_non_null(c);
	struct mts_cache_entry e, got;
	char name[64];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		make_entry(&e, name, "id", "p", i);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	/* Touch d0 so that d1 is the least recently used, then add d3. */
	assert_int_equal(mts_cache_get(c, "d0.example", &got, &err), 0);
	mts_cache_entry_clear(&got);
	make_entry(&e, "d3.example", "id", "p", 3);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "d1.example", &got, &err), MTS_ENOTFOUND);
	const char *kept[] = {"d0.example", "d2.example", "d3.example"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(mts_cache_get(c, kept[i], &got, &err), 0);
		mts_cache_entry_clear(&got);
	}
	/* Many more than the bound: the count stays bounded, no leak. */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "x%d.example", i);
		make_entry(&e, name, "id", "p", i);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	assert_int_equal(mts_cache_get(c, "x999.example", &got, &err), 0);
	mts_cache_entry_clear(&got);
	assert_int_equal(mts_cache_get(c, "x996.example", &got, &err), MTS_ENOTFOUND);
	mts_cache_close(c);
}

static void test_memory_walk(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open("memory:", &err);
	assert_non_null(c);
	walk_round(c, true);
	struct mts_cache_walk w = {0};
	assert_int_equal(mts_cache_each(c, &w, 0, NULL, NULL, &err), MTS_EUSAGE);
	mts_cache_close(c);

	/* Walking is not using: the least recently used entry is still the
	 * one a full cache evicts. */
	c = mts_cache_open("memory:?max=3", &err);
	struct mts_cache_entry e, got;
	const char *names[] = {"d0.example", "d1.example", "d2.example", "d3.example"};
	for (int i = 0; i < 3; i++) {
		make_entry(&e, names[i], "x", "p", i);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	struct walk_log log = {0};
	memset(&w, 0, sizeof(w));
	walk_all(c, &w, 1, &log);
	assert_int_equal(w.visited, 3);
	make_entry(&e, names[3], "x", "p", 3);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	assert_int_equal(mts_cache_get(c, "d0.example", &got, &err), MTS_ENOTFOUND);
	mts_cache_close(c);

	/* A large table holding little: each call examines a bounded number of
	 * buckets, so the walk takes many calls and still finds everything. */
	c = mts_cache_open("memory:?max=100000", &err);
	for (int i = 0; i < 3; i++) {
		make_entry(&e, names[i], "x", "p", i);
		assert_int_equal(mts_cache_put(c, &e, &err), 0);
	}
	memset(&log, 0, sizeof(log));
	memset(&w, 0, sizeof(w));
	assert_true(walk_all(c, &w, 1, &log) > 100);
	assert_int_equal(w.visited, 3);
	assert_int_equal(log.others, 3);
	mts_cache_close(c);
}

static void test_urls(void **state)
{
	static const struct {
		const char *url;
		int code;
	} bad[] = {
		{.url = "redis://", .code = MTS_EUSAGE},
		{.url = "redis://h:0", .code = MTS_EUSAGE},
		{.url = "redis://h:x", .code = MTS_EUSAGE},
		{.url = "redis://h/x", .code = MTS_EUSAGE},
		{.url = "redis://h?frob=1", .code = MTS_EUSAGE},
		{.url = "redis://h?timeout_ms=0", .code = MTS_EUSAGE},
		{.url = "redis://[::1", .code = MTS_EUSAGE},
		/* nothing listens on port 1; a build without the backend refuses the scheme */
		{.url = "redis://127.0.0.1:1", .code = MTS_HAVE_REDIS ? MTS_ESTORE : MTS_EUSAGE},
		{.url = "mysql://h/db", .code = MTS_EUSAGE},
		{.url = "postgresql://127.0.0.1:1/x?connect_timeout=2",
		 .code = MTS_HAVE_PG ? MTS_ESTORE : MTS_EUSAGE},
		{.url = "memory:?max=0", .code = MTS_EUSAGE},
		{.url = "memory:?max=-1", .code = MTS_EUSAGE},
		{.url = "memory:?size=3", .code = MTS_EUSAGE},
		{.url = "sqlite://relative/path", .code = MTS_EUSAGE},
		{.url = "sqlite:///", .code = MTS_EUSAGE},
		{.url = "sqlite:///nonexistent-dir/x/y.db", .code = MTS_ESTORE},
		{.url = "", .code = MTS_EUSAGE},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mts_error err = {0};
		assert_null(mts_cache_open(bad[i].url, &err));
		assert_int_equal(err.code, bad[i].code);
	}
}

/* A backend left out of the build is named, not an unknown scheme. */
static void test_backend_not_built(void **state)
{
	(void)state;
	struct {
		const char *url, *message;
		bool built;
	} cases[] = {
		{"redis://127.0.0.1:1", "built without Redis support", MTS_HAVE_REDIS},
		{"postgres://127.0.0.1:1/x", "built without PostgreSQL support", MTS_HAVE_PG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].built)
			continue;
		struct mts_error err = {0};
		assert_null(mts_cache_open(cases[i].url, &err));
		assert_int_equal(err.code, MTS_EUSAGE);
		assert_non_null(strstr(err.message, cases[i].message));
	}
}

static void test_redis_url_parts(void **state)
{
	(void)state;
	struct mts_redis_url u;
	struct mts_error err = {0};
	assert_int_equal(mts_redis_url_parse("redis://cache.example:6380/3?prefix=mx1:&timeout_ms=200",
					     &u, &err), 0);
	assert_string_equal(u.host, "cache.example");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 3);
	assert_string_equal(u.prefix, "mx1:");
	assert_int_equal(u.timeout_ms, 200);
	assert_string_equal(u.password, "");
	assert_int_equal(mts_redis_url_parse("redis://bob:s3cret@[::1]/", &u, &err), 0);
	assert_string_equal(u.user, "bob");
	assert_string_equal(u.password, "s3cret");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_string_equal(u.prefix, "mtasts:");
	assert_int_equal(u.timeout_ms, 500);
	assert_int_equal(mts_redis_url_parse("redis://pw@h", &u, &err), 0);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "pw");
	assert_int_equal(mts_redis_url_parse("redis://h/0?socket_timeout=2.5&socket_connect_timeout=5",
					     &u, &err), 0);
	assert_int_equal(u.timeout_ms, 5000); /* the last one wins */
	assert_int_equal(mts_redis_url_parse("redis://h/0?socket_timeout=0", &u, &err), MTS_EUSAGE);
	assert_int_equal(mts_redis_url_parse("redis://h:65536", &u, &err), MTS_EUSAGE);
	assert_non_null(strstr(err.message, "port"));
}

static void db_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void test_sqlite_round_trip_and_reopen(void **state)
{
	char path[256], url[300];
	db_path(path, sizeof(path), "rt.db");
	snprintf(url, sizeof(url), "sqlite://%s", path);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	round_trip(c);
	struct mts_cache_entry e, got;
	make_entry(&e, "kept.example", "k1", "body", 42);
	assert_int_equal(mts_cache_put(c, &e, &err), 0);
	mts_cache_close(c);
	c = mts_cache_open(url, &err);
	assert_non_null(c);
	assert_int_equal(mts_cache_get(c, "kept.example", &got, &err), 0);
	assert_string_equal(got.policy, "body");
	assert_int_equal(got.fetched_at, 42);
	mts_cache_entry_clear(&got);
	mts_cache_close(c);
}

static void test_sqlite_eviction(void **state)
{
	(void)state;
	char path[256], url[300];
	db_path(path, sizeof(path), "evict.db");
	snprintf(url, sizeof(url), "sqlite://%s", path);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	eviction_round(c, (long long)time(NULL));
	mts_cache_close(c);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* Every entry, in batches; rows we could not have written (another
 * program's, a damaged file) are skipped and counted, wherever they fall in
 * a batch, and the walk goes on. */
static void test_sqlite_walk(void **state)
{
	(void)state;
	char path[256], url[300];
	db_path(path, sizeof(path), "walk.db");
	snprintf(url, sizeof(url), "sqlite://%s", path);
	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	walk_round(c, true);

	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "INSERT INTO sts_policy (domain, id) VALUES ('w100x.example',"
		     " '0123456789012345678901234567890123456789')");
	exec_sql(db, "INSERT INTO sts_policy (domain) VALUES (x'7731303079')");
	exec_sql(db, "INSERT INTO sts_policy (domain) VALUES ('w100 space.example')");
	exec_sql(db, "INSERT INTO sts_policy (domain) VALUES ('w100' || printf('%.300c', 'a'))");
	exec_sql(db, "INSERT INTO sts_policy (domain, policy) VALUES ('w100y.example', 3.5)");
	sqlite3_close(db);
	skip_walk_round(c, 5, "sqlite cache");
	mts_cache_close(c);
}

static void test_sqlite_newer_schema_refused(void **state)
{
	char path[256], url[300];
	db_path(path, sizeof(path), "future.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99;", NULL, NULL, NULL), 0);
	sqlite3_close(db);
	snprintf(url, sizeof(url), "sqlite://%s", path);
	struct mts_error err = {0};
	assert_null(mts_cache_open(url, &err));
	assert_int_equal(err.code, MTS_ESTORE);
	assert_non_null(strstr(err.message, "newer"));
}

/* A child writes in a loop; SIGKILL it mid-stream; the file must open, pass
 * integrity_check and hold every entry the child reported as committed. */
static void test_sqlite_survives_kill9(void **state)
{
	char path[256], url[300];
	db_path(path, sizeof(path), "kill.db");
	snprintf(url, sizeof(url), "sqlite://%s", path);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		struct mts_error err = {0};
		struct mts_cache *c = mts_cache_open(url, &err);
		if (!c)
			_exit(1);
		char body[2048];
		memset(body, 'p', sizeof(body) - 1);
		body[sizeof(body) - 1] = '\0';
		for (unsigned i = 0;; i++) {
			struct mts_cache_entry e;
			char name[64];
			snprintf(name, sizeof(name), "d%u.example", i % 500);
			make_entry(&e, name, "id", body, i);
			if (mts_cache_put(c, &e, &err) < 0)
				_exit(2);
			if (write(fds[1], &i, sizeof(i)) != sizeof(i))
				_exit(3);
		}
	}
	close(fds[1]);
	unsigned last = 0, got_count = 0;
	while (got_count < 3000 && read(fds[0], &last, sizeof(last)) == sizeof(last))
		got_count++;
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	close(fds[0]);
	assert_true(WIFSIGNALED(status));
	assert_true(got_count >= 3000);

	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check;", -1, &st, NULL), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);

	struct mts_error err = {0};
	struct mts_cache *c = mts_cache_open(url, &err);
	assert_non_null(c);
	struct mts_cache_entry got;
	char name[64];
	snprintf(name, sizeof(name), "d%u.example", last % 500);
	assert_int_equal(mts_cache_get(c, name, &got, &err), 0);
	assert_true(got.fetched_at >= last); /* committed before it was reported */
	mts_cache_entry_clear(&got);
	mts_cache_close(c);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_round_trip),
		cmocka_unit_test(test_memory_lru),
		cmocka_unit_test(test_memory_walk),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_backend_not_built),
		cmocka_unit_test(test_redis_url_parts),
		cmocka_unit_test(test_sqlite_round_trip_and_reopen),
		cmocka_unit_test(test_sqlite_newer_schema_refused),
		cmocka_unit_test(test_sqlite_eviction),
		cmocka_unit_test(test_sqlite_walk),
		cmocka_unit_test(test_sqlite_survives_kill9),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
