/* test_serve_store.c - the hosted domains' store (serve_store.c) and the
 * domain model (hosted_domain.c): policies built and linted, ids minted only
 * for new bytes, round trips, compare-and-set between two writers, the id
 * history and its bound, and a row the program cannot read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "io/serve_store_int.h"

#define T0 1800000000LL

static char dir[] = "/tmp/mtasts-serve-store-XXXXXX";
static char url[300], path[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/serve.db", dir);
	snprintf(url, sizeof(url), "sqlite://%s", path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void domain(struct mts_hosted_domain *d, const char *name, const char *const *mx, size_t n,
		   long long now)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	mts_hosted_init(&d->state);
	d->created_at = now;
	struct mts_error err = {0};
	assert_int_equal(mts_hosted_domain_set_policy(d, MTS_MODE_TESTING, 604800, mx, n, now, NULL,
						      NULL, &err),
			 1);
}

static void test_policy_bytes_and_ids(void **state)
{
	(void)state;
	const char *mx[] = {"mx1.Example.NET.", "*.mail.example.net"};
	struct mts_hosted_domain d;
	domain(&d, "example.com", mx, 2, T0);
	assert_string_equal(d.policy, "version: STSv1\r\nmode: testing\r\nmx: mx1.example.net\r\n"
				      "mx: *.mail.example.net\r\nmax_age: 604800\r\n");
	assert_int_equal(d.mx_count, 2);
	assert_string_equal(d.mx[0], "mx1.example.net");
	assert_int_equal(d.state.phase, MTS_HOSTED_SERVING);
	char first[sizeof(d.state.served_id)];
	memcpy(first, d.state.served_id, sizeof(first));
	assert_true(strlen(first) > 0);
	/* The same bytes later: no new id. */
	struct mts_error err = {0};
	assert_int_equal(mts_hosted_domain_set_policy(&d, MTS_MODE_TESTING, 604800, mx, 2, T0 + 100,
						      NULL, NULL, &err),
			 0);
	assert_string_equal(d.state.served_id, first);
	/* Other bytes: a new id, served from now. */
	assert_int_equal(mts_hosted_domain_set_policy(&d, MTS_MODE_ENFORCE, 604800, mx, 2, T0 + 200,
						      NULL, NULL, &err),
			 1);
	assert_string_not_equal(d.state.served_id, first);
	assert_int_equal(d.state.served_since, T0 + 200);
	/* A policy that would not lint is refused and changes nothing. */
	struct mts_findings fs;
	mts_findings_init(&fs);
	const char *bad[] = {"exa mple.net"};
	char *before = strdup(d.policy);
	assert_int_equal(mts_hosted_domain_set_policy(&d, MTS_MODE_ENFORCE, 604800, bad, 1,
						      T0 + 300, NULL, &fs, &err),
			 MTS_EINVAL);
	assert_non_null(strstr(err.message, "exa mple.net"));
	assert_string_equal(d.policy, before);
	free(before);
	mts_findings_free(&fs);
	assert_true(mts_hosted_domain_set_policy(&d, MTS_MODE_ENFORCE, 604800, NULL, 0, T0 + 300,
						 NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.message, "mx"));
	mts_hosted_domain_clear(&d);
}

static void test_names(void **state)
{
	(void)state;
	struct mts_hosted_names n;
	struct mts_error err = {0};
	assert_int_equal(mts_hosted_names("example.com", "sts.host.example", &n, &err), 0);
	assert_string_equal(n.policy_host, "mta-sts.example.com");
	assert_string_equal(n.sts_name, "_mta-sts.example.com");
	assert_string_equal(n.sts_target, "_mta-sts.example.com.sts.host.example");
	assert_string_equal(n.tlsrpt_name, "_smtp._tls.example.com");
	char long_zone[250];
	memset(long_zone, 'a', sizeof(long_zone) - 1);
	long_zone[sizeof(long_zone) - 1] = '\0';
	assert_int_equal(mts_hosted_names("example.com", long_zone, &n, &err), MTS_ETOOBIG);
	assert_non_null(strstr(err.message, "service record name"));
}

static void test_round_trip_and_compare_and_set(void **state)
{
	(void)state;
	struct mts_serve_store *a, *b;
	struct mts_error err = {0};
	assert_int_equal(mts_serve_store_open(url, &a, &err), 0);
	assert_int_equal(mts_serve_store_open(url, &b, &err), 0);
	const char *mx[] = {"mx.example.org"};
	struct mts_hosted_domain d;
	domain(&d, "example.org", mx, 1, T0);
	d.mx_auto = true;
	assert_int_equal(mts_serve_store_add(a, &d, &err), 0);
	assert_int_equal(d.rev, 1);
	assert_int_equal(mts_serve_store_add(a, &d, &err), MTS_EEXIST);

	struct mts_hosted_domain got;
	assert_int_equal(mts_serve_store_get(b, "example.org", &got, &err), 0);
	assert_string_equal(got.policy, d.policy);
	assert_int_equal(got.policy_len, d.policy_len);
	assert_true(got.mx_auto);
	assert_int_equal(got.mode, MTS_MODE_TESTING);
	assert_memory_equal(&got.state, &d.state, sizeof(d.state));
	assert_int_equal(got.rev, 1);

	/* Both read revision 1; the first write wins, the second is told. */
	assert_int_equal(mts_hosted_domain_set_policy(&d, MTS_MODE_ENFORCE, 86400, mx, 1, T0 + 5,
						      NULL, NULL, &err),
			 1);
	assert_int_equal(mts_serve_store_put(a, &d, &err), 0);
	assert_int_equal(d.rev, 2);
	got.state.failures = 7;
	assert_int_equal(mts_serve_store_put(b, &got, &err), MTS_ECONFLICT);
	assert_non_null(strstr(err.message, "another writer"));
	mts_hosted_domain_clear(&got);
	assert_int_equal(mts_serve_store_get(b, "example.org", &got, &err), 0);
	assert_int_equal(got.mode, MTS_MODE_ENFORCE);
	assert_int_equal(got.state.failures, 0);
	assert_int_equal(got.rev, 2);
	mts_hosted_domain_clear(&got);

	struct mts_hosted_domain e;
	domain(&e, "a.example", mx, 1, T0);
	assert_int_equal(mts_serve_store_add(b, &e, &err), 0);
	struct mts_hosted_domain *all;
	size_t n;
	assert_int_equal(mts_serve_store_list(a, &all, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "a.example"); /* by name */
	assert_string_equal(all[1].name, "example.org");
	mts_serve_domains_free(all, n);

	assert_int_equal(mts_serve_store_delete(a, "a.example", &err), 0);
	assert_int_equal(mts_serve_store_delete(a, "a.example", &err), MTS_ENOTFOUND);
	assert_int_equal(mts_serve_store_get(a, "a.example", &got, &err), MTS_ENOTFOUND);
	assert_int_equal(mts_serve_store_put(a, &e, &err), MTS_ENOTFOUND);
	mts_hosted_domain_clear(&e);
	mts_hosted_domain_clear(&d);
	mts_serve_store_close(a);
	mts_serve_store_close(b);
}

static void test_history(void **state)
{
	(void)state;
	struct mts_serve_store *s;
	struct mts_error err = {0};
	assert_int_equal(mts_serve_store_open(url, &s, &err), 0);
	const char *mx[] = {"mx.history.example"};
	struct mts_hosted_domain d;
	domain(&d, "history.example", mx, 1, T0);
	assert_int_equal(mts_serve_store_add(s, &d, &err), 0);
	char ids[3][MTS_STS_ID_MAX + 1];
	for (int i = 0; i < 3; i++) {
		if (i)
			assert_int_equal(mts_hosted_domain_set_policy(
						 &d, MTS_MODE_TESTING, 86400 * (unsigned)(i + 1),
						 mx, 1, T0 + i * 10, NULL, NULL, &err),
					 1);
		memcpy(ids[i], d.state.served_id, sizeof(ids[i]));
		assert_int_equal(mts_serve_store_history_add(s, &d, &err), 0);
		assert_int_equal(mts_serve_store_history_add(s, &d, &err), 0); /* idempotent */
	}
	assert_int_equal(mts_serve_store_history_published(s, d.name, ids[1], T0 + 15, &err), 0);
	struct mts_serve_history *h;
	size_t n;
	assert_int_equal(mts_serve_store_history(s, d.name, &h, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(h[0].id, ids[2]); /* newest first */
	assert_string_equal(h[2].id, ids[0]);
	assert_int_equal(h[1].published_at, T0 + 15);
	assert_int_equal(h[0].published_at, 0);
	assert_non_null(strstr(h[2].policy, "max_age: 604800"));
	mts_serve_history_free(h, n);
	/* Deleting the domain deletes its history. */
	assert_int_equal(mts_serve_store_delete(s, d.name, &err), 0);
	assert_int_equal(mts_serve_store_history(s, d.name, &h, &n, &err), 0);
	assert_int_equal(n, 0);
	mts_serve_history_free(h, n);
	mts_hosted_domain_clear(&d);
	mts_serve_store_close(s);
}

static void test_unreadable_row_and_bad_urls(void **state)
{
	(void)state;
	struct mts_serve_store *s;
	struct mts_error err = {0};
	assert_int_equal(mts_serve_store_open(url, &s, &err), 0);
	const char *mx[] = {"mx.broken.example"};
	struct mts_hosted_domain d;
	domain(&d, "broken.example", mx, 1, T0);
	assert_int_equal(mts_serve_store_add(s, &d, &err), 0);
	mts_hosted_domain_clear(&d);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE serve_domains SET phase='frobbed'"
				      " WHERE domain='broken.example'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct mts_hosted_domain got;
	assert_int_equal(mts_serve_store_get(s, "broken.example", &got, &err), MTS_ESTORE);
	assert_non_null(strstr(err.message, "broken.example"));
	mts_serve_store_close(s);

	const char *bad[] = {"postgresql://h/db", "sqlite://relative", "sqlite:///", "x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mts_serve_store_open(bad[i], &s, &err), MTS_EUSAGE);
		assert_null(s);
	}
	assert_int_equal(mts_serve_store_open("sqlite:///nonexistent-dir/x/y.db", &s, &err),
			 MTS_ESTORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_bytes_and_ids),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip_and_compare_and_set),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_unreadable_row_and_bad_urls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
