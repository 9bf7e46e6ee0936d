/* test_serve_route.c - the policy host's routing rules (serve_route.c), a
 * table of requests and their answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/serve_route_int.h"

static void test_routes(void **state)
{
	(void)state;
	static const struct {
		const char *method, *host, *path;
		bool acme;
		enum mts_serve_route_kind kind;
		const char *what; /* the domain or the token */
		bool head;
	} cases[] = {
		{"GET", "mta-sts.example.com", "/.well-known/mta-sts.txt", false, MTS_ROUTE_POLICY,
		 "example.com", false},
		{"HEAD", "MTA-STS.Example.COM:443", "/.well-known/mta-sts.txt", false,
		 MTS_ROUTE_POLICY, "example.com", true},
		{"GET", "mta-sts.a.b.example", "/.well-known/mta-sts.txt", false, MTS_ROUTE_POLICY,
		 "a.b.example", false},
		{"GET", "mta-sts.example.com.", "/.well-known/mta-sts.txt", false,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "www.example.com", "/.well-known/mta-sts.txt", false, MTS_ROUTE_NOT_FOUND,
		 NULL, false},
		{"GET", "mta-sts.com", "/.well-known/mta-sts.txt", false, MTS_ROUTE_NOT_FOUND, NULL,
		 false},
		{"GET", "mta-sts.example.com", "/.well-known/mta-sts.txt/", false,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/", false, MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/.well-known/MTA-STS.txt", false,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/.well-known/acme-challenge/abc", false,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"POST", "mta-sts.example.com", "/.well-known/mta-sts.txt", false,
		 MTS_ROUTE_BAD_METHOD, NULL, false},
		{"get", "mta-sts.example.com", "/.well-known/mta-sts.txt", false,
		 MTS_ROUTE_BAD_METHOD, NULL, false},
		{"OPTIONS", "x.example", "/", true, MTS_ROUTE_BAD_METHOD, NULL, false},
		{"GET", NULL, "/.well-known/mta-sts.txt", false, MTS_ROUTE_BAD_REQUEST, NULL,
		 false},
		{"GET", "", "/.well-known/mta-sts.txt", false, MTS_ROUTE_BAD_REQUEST, NULL, false},
		{"GET", "mta-sts.exa mple.com", "/", false, MTS_ROUTE_BAD_REQUEST, NULL, false},
		{"GET", "mta-sts.example.com:", "/", false, MTS_ROUTE_BAD_REQUEST, NULL, false},
		{"GET", "mta-sts.example.com:44x", "/", false, MTS_ROUTE_BAD_REQUEST, NULL, false},
		{"GET", "[::1]:443", "/", false, MTS_ROUTE_BAD_REQUEST, NULL, false},
		{"GET", "mta-sts.\xc3\xa9xample.com", "/", false, MTS_ROUTE_BAD_REQUEST, NULL,
		 false},
		{"GET", "mta-sts.example.com", "/.well-known/acme-challenge/Ab-_9z", true,
		 MTS_ROUTE_ACME, "Ab-_9z", false},
		{"GET", "mta-sts.example.com", "/.well-known/acme-challenge/", true,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/.well-known/acme-challenge/a/b", true,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/.well-known/acme-challenge/a.b", true,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
		{"GET", "mta-sts.example.com", "/.well-known/mta-sts.txt", true,
		 MTS_ROUTE_NOT_FOUND, NULL, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mts_serve_route r;
		mts_serve_route(cases[i].method, cases[i].host, cases[i].path,
				strlen(cases[i].path), cases[i].acme, &r);
		if (r.kind != cases[i].kind)
			fail_msg("case %zu (%s %s %s): %s, want %s", i, cases[i].method,
				 cases[i].host ? cases[i].host : "(none)", cases[i].path,
				 mts_serve_route_name(r.kind), mts_serve_route_name(cases[i].kind));
		if (cases[i].kind == MTS_ROUTE_POLICY)
			assert_string_equal(r.domain, cases[i].what);
		if (cases[i].kind == MTS_ROUTE_ACME)
			assert_string_equal(r.token, cases[i].what);
		assert_int_equal(r.head, cases[i].head);
	}
	/* A token longer than we look up is not one. */
	char path[300] = MTS_SERVE_ACME_PREFIX;
	size_t n = strlen(path);
	memset(path + n, 'a', 200);
	path[n + 200] = '\0';
	struct mts_serve_route r;
	mts_serve_route("GET", "x.example", path, strlen(path), true, &r);
	assert_int_equal(r.kind, MTS_ROUTE_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
