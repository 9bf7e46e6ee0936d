/* test_resolver.c - the resolver's configuration (every option of
 * mta-sts-daemon.yml and our extensions, errors with file, line and key) and
 * its answers (every form of docs/resolver.md) for built discovery results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtasts/resolver.h"

static struct mts_resolver_config cfg;

static int parse(const char *yaml, struct mts_error *err)
{
	memset(err, 0, sizeof(*err));
	return mts_resolver_config_parse(yaml, strlen(yaml), "t.yml", &cfg, err);
}

static void test_defaults(void **state)
{
	struct mts_error err;
	assert_int_equal(parse("", &err), 0);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 8461);
	assert_string_equal(cfg.path, "");
	assert_int_equal(cfg.mode, -1);
	assert_true(cfg.reuse_port);
	assert_true(cfg.cache_grace == 60);
	assert_true(cfg.shutdown_timeout == 20);
	assert_int_equal(cfg.cache_type, MTS_RESOLVER_CACHE_INTERNAL);
	assert_int_equal(cfg.cache_size, 10000);
	assert_false(cfg.proactive);
	assert_int_equal(cfg.proactive_interval, 86400);
	assert_int_equal(cfg.proactive_concurrency, 100);
	assert_true(cfg.proactive_grace_ratio == 2.0);
	assert_false(cfg.default_zone.strict_testing);
	assert_int_equal(cfg.default_zone.timeout, 4);
	assert_true(cfg.default_zone.require_sni);
	assert_false(cfg.default_zone.tlsrpt);
	assert_int_equal(cfg.zone_count, 0);
	assert_string_equal(cfg.dane_answer, "dane-only");
	assert_false(cfg.dane);
	char url[64];
	assert_int_equal(mts_resolver_cache_url(&cfg, url, sizeof(url), &err), 0);
	assert_string_equal(url, "memory:?max=10000");
	/* A file holding only comments or "~" is an empty configuration. */
	assert_int_equal(parse("# nothing\n", &err), 0);
	assert_int_equal(parse("~\n", &err), 0);
}

/* Every option of mta-sts-daemon.yml(5), as its documentation writes them. */
static void test_every_option(void **state)
{
	struct mts_error err;
	const char *yaml = "host: ::1\n"
			   "port: 18461\n"
			   "path: /run/mta-sts.sock\n"
			   "mode: 0666\n"
			   "reuse_port: false\n"
			   "cache_grace: 2.5\n"
			   "shutdown_timeout: 7\n"
			   "cache:\n"
			   "  type: sqlite\n"
			   "  options:\n"
			   "    filename: \"/var/lib/mta-sts/cache.db\"\n"
			   "    threads: 4\n"
			   "    timeout: 3.5\n"
			   "proactive_policy_fetching:\n"
			   "  enabled: yes\n"
			   "  interval: 3600\n"
			   "  concurrency_limit: 10\n"
			   "  grace_ratio: 4\n"
			   "default_zone:\n"
			   "  strict_testing: true\n"
			   "  timeout: 9\n"
			   "  require_sni: false\n"
			   "  tlsrpt: on\n"
			   "zones:\n"
			   "  myzone:\n"
			   "    strict_testing: false\n"
			   "    timeout: 2\n"
			   "  other: ~\n"
			   "user: nobody\n"
			   "dns_resolver: 127.0.0.1@5353\n"
			   "ca_file: /etc/ssl/ca.pem\n"
			   "trust_anchor_file: /var/lib/unbound/root.key\n"
			   "control_path: /run/mtasts.ctl\n"
			   "dane: true\n"
			   "dane_answer: dane\n"
			   "idle_timeout: 30\n"
			   "max_request: 2048\n"
			   "log: syslog\n"
			   "metrics: 127.0.0.1:9461\n";
	assert_int_equal(parse(yaml, &err), 0);
	assert_string_equal(cfg.host, "::1");
	assert_int_equal(cfg.port, 18461);
	assert_string_equal(cfg.path, "/run/mta-sts.sock");
	assert_int_equal(cfg.mode, 0666);
	assert_false(cfg.reuse_port);
	assert_true(cfg.cache_grace == 2.5);
	assert_true(cfg.shutdown_timeout == 7);
	assert_int_equal(cfg.cache_type, MTS_RESOLVER_CACHE_SQLITE);
	assert_string_equal(cfg.cache_filename, "/var/lib/mta-sts/cache.db");
	assert_int_equal(cfg.cache_threads, 4);
	assert_true(cfg.cache_timeout == 3.5);
	assert_true(cfg.proactive);
	assert_int_equal(cfg.proactive_interval, 3600);
	assert_int_equal(cfg.proactive_concurrency, 10);
	assert_true(cfg.proactive_grace_ratio == 4);
	assert_true(cfg.default_zone.strict_testing);
	assert_int_equal(cfg.default_zone.timeout, 9);
	assert_false(cfg.default_zone.require_sni);
	assert_true(cfg.default_zone.tlsrpt);
	assert_int_equal(cfg.zone_count, 2);
	assert_string_equal(cfg.zones[0].name, "myzone");
	assert_false(cfg.zones[0].strict_testing);
	assert_int_equal(cfg.zones[0].timeout, 2);
	assert_true(cfg.zones[0].require_sni); /* a zone's own defaults */
	assert_string_equal(cfg.zones[1].name, "other");
	assert_int_equal(cfg.zones[1].timeout, 4);
	assert_string_equal(cfg.user, "nobody");
	assert_string_equal(cfg.dns_resolver, "127.0.0.1@5353");
	assert_string_equal(cfg.ca_file, "/etc/ssl/ca.pem");
	assert_string_equal(cfg.trust_anchor_file, "/var/lib/unbound/root.key");
	assert_string_equal(cfg.control_path, "/run/mtasts.ctl");
	assert_true(cfg.dane);
	assert_string_equal(cfg.dane_answer, "dane");
	assert_int_equal(cfg.idle_timeout, 30);
	assert_int_equal(cfg.max_request, 2048);
	assert_true(cfg.log_syslog);
	assert_string_equal(cfg.metrics, "127.0.0.1:9461");
	char url[128];
	assert_int_equal(mts_resolver_cache_url(&cfg, url, sizeof(url), &err), 0);
	assert_string_equal(url, "sqlite:///var/lib/mta-sts/cache.db");
	/* Zone selection by socketmap name, the default zone otherwise. */
	assert_ptr_equal(mts_resolver_zone_find(&cfg, "myzone", 6), &cfg.zones[0]);
	assert_ptr_equal(mts_resolver_zone_find(&cfg, "postfix", 7), &cfg.default_zone);
	assert_ptr_equal(mts_resolver_zone_find(&cfg, "myzon", 5), &cfg.default_zone);
}

static void test_internal_cache(void **state)
{
	struct mts_error err;
	assert_int_equal(parse("cache:\n  type: internal\n  options:\n    cache_size: 500\n", &err),
			 0);
	char url[64];
	assert_int_equal(mts_resolver_cache_url(&cfg, url, sizeof(url), &err), 0);
	assert_string_equal(url, "memory:?max=500");
	assert_int_equal(parse("mode: 0o600\n", &err), 0);
	assert_int_equal(cfg.mode, 0600);
	assert_int_equal(parse("mode: 438\n", &err), 0); /* decimal 0666 */
	assert_int_equal(cfg.mode, 0666);
}

struct bad_case {
	const char *yaml;
	int rc;
	const char *message; /* a part of the message */
};

static const struct bad_case bad_cases[] = {
	{"host: 127.0.0.1\nprot: 8461\n", MTS_EINVAL, "t.yml:2: unknown key 'prot'"},
	{"default_zone:\n  strict: true\n", MTS_EINVAL, "t.yml:2: unknown key 'strict' in default_zone"},
	{"zones:\n  z:\n    tlsprt: true\n", MTS_EINVAL, "t.yml:3: unknown key 'tlsprt' in zone z"},
	{"cache:\n  type: sqlite\n  options:\n    file: /x\n", MTS_EINVAL,
	 "t.yml:4: unknown key 'file' in cache options (sqlite)"},
	{"cache:\n  type: internal\n  options:\n    size: 3\n", MTS_EINVAL,
	 "t.yml:4: unknown key 'size' in cache options (internal)"},
	{"cache:\n  kind: sqlite\n", MTS_EINVAL, "t.yml:2: unknown key 'kind' in cache"},
	{"proactive_policy_fetching:\n  every: 5\n", MTS_EINVAL,
	 "t.yml:2: unknown key 'every' in proactive_policy_fetching"},
	{"cache:\n  type: redis_sentinel\n", MTS_EUSAGE,
	 "t.yml:2: type: the redis_sentinel cache is not supported"},
	{"cache:\n  type: redis\n", MTS_EINVAL, "the redis cache needs options.url"},
	{"cache:\n  type: redis\n  options:\n    url: http://x\n", MTS_EINVAL, "needs a redis:// URL"},
	{"cache:\n  type: redis\n  options:\n    url: redis://h\n    frob: 1\n", MTS_EINVAL,
	 "frob"},
	{"cache:\n  type: postgres\n", MTS_EINVAL, "the postgres cache needs options.dsn"},
	{"cache:\n  type: postgres\n  options:\n    dsn: mysql://x\n", MTS_EINVAL,
	 "needs a postgresql:// URL"},
	{"cache:\n  type: memcached\n", MTS_EINVAL, "t.yml:2: type: unknown cache type 'memcached'"},
	{"cache:\n  type: sqlite\n", MTS_EINVAL, "absolute file name"},
	{"cache:\n  type: sqlite\n  options:\n    filename: cache.db\n", MTS_EINVAL,
	 "absolute file name"},
	{"port: 70000\n", MTS_EINVAL, "t.yml:1: port: 70000 is out of range 0..65535"},
	{"port: eighty\n", MTS_EINVAL, "t.yml:1: port: expected a number"},
	{"port: -1\n", MTS_EINVAL, "t.yml:1: port: expected a number"},
	{"port: \"8461\"\n", MTS_EINVAL, "t.yml:1: port: expected a number"},
	{"reuse_port: maybe\n", MTS_EINVAL, "t.yml:1: reuse_port: expected true or false"},
	{"cache_grace: -1\n", MTS_EINVAL, "cache_grace: -1 is out of range"},
	{"cache_grace: nan\n", MTS_EINVAL, "cache_grace: expected a number"},
	{"mode: 0999\n", MTS_EINVAL, "t.yml:1: mode: expected a number"},
	{"default_zone:\n  timeout: 0\n", MTS_EINVAL, "t.yml:2: timeout: 0 is out of range"},
	{"zones: [a, b]\n", MTS_EINVAL, "t.yml:1: zones: expected a mapping"},
	{"host: a\nhost: b\n", MTS_EINVAL, "t.yml:2: host: repeated key (first at line 1)"},
	{"host: [1, 2]\n", MTS_EINVAL, "t.yml:1: host: expected a string"},
	{"- a\n- b\n", MTS_EINVAL, "t.yml:1: the file: expected a mapping"},
	{"host: 'unterminated\n", MTS_EINVAL, "t.yml:"},
	{"host: a\n---\nport: 1\n", MTS_EINVAL, "more than one YAML document"},
	{"dane: true\n", MTS_EINVAL, "dane: needs trust_anchor_file"},
	{"dane_answer: \"two words\"\n", MTS_EINVAL, "dane_answer: one word"},
	{"log: file\n", MTS_EINVAL, "t.yml:1: log: expected syslog or stderr"},
	{"max_request: 10\n", MTS_EINVAL, "max_request: 10 is out of range"},
	{"metrics: 9461\n", MTS_EINVAL, "t.yml:1: metrics: expected ADDR:PORT"},
	{"metrics: \"127.0.0.1:\"\n", MTS_EINVAL, "metrics: expected ADDR:PORT"},
	{"zones:\n  \"a b\": {}\n", MTS_EINVAL, "not a usable zone name"},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct mts_error err;
		int rc = parse(c->yaml, &err);
		if (rc != c->rc || !strstr(err.message, c->message))
			fail_msg("case %zu: rc %d (want %d), message \"%s\" lacks \"%s\"", i, rc,
				 c->rc, err.message, c->message);
	}
}

static void test_load(void **state)
{
	struct mts_error err = {0};
	assert_int_equal(mts_resolver_config_load("/nonexistent/r.yml", &cfg, &err), MTS_EIO);
	assert_non_null(strstr(err.message, "/nonexistent/r.yml"));
}

/* ---- answers ----------------------------------------------------------- */

static struct mts_policy *policy(const char *body)
{
	struct mts_error err = {0};
	struct mts_policy *p = mts_policy_parse(body, strlen(body), NULL, &err);
	assert_non_null(p);
	return p;
}

#define ENFORCE                                                                              \
	"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\n"       \
	"max_age: 86400\r\n"
#define TESTING "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n"
#define NONE "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"

struct answer_case {
	const char *name;
	const char *policy;             /* NULL: no policy */
	enum mts_discovery_outcome outcome;
	bool strict_testing, require_sni, tlsrpt;
	enum mts_resolver_kind kind;
	const char *answer;
};

static const struct answer_case answer_cases[] = {
	{"enforce", ENFORCE, MTS_OUTCOME_OK, .require_sni = true, .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com:.example.net servername=hostname"},
	{"enforce without SNI", ENFORCE, MTS_OUTCOME_OK, .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com:.example.net"},
	{"enforce from the cache after a fetch error", ENFORCE, MTS_OUTCOME_FETCH_ERROR,
	 .require_sni = true, .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com:.example.net servername=hostname"},
	{"enforce from the cache after a DNS error", ENFORCE, MTS_OUTCOME_DNS_ERROR,
	 .kind = MTS_ANSWER_POLICY, .answer = "OK secure match=mx1.example.com:.example.net"},
	{"testing", TESTING, MTS_OUTCOME_OK, .require_sni = true, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"testing, strict", TESTING, MTS_OUTCOME_OK, .strict_testing = true, .require_sni = true,
	 .kind = MTS_ANSWER_POLICY, .answer = "OK secure match=mx1.example.com servername=hostname"},
	{"none", NONE, MTS_OUTCOME_OK, .strict_testing = true, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"no policy", NULL, MTS_OUTCOME_NO_POLICY, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"no policy, tlsrpt", NULL, MTS_OUTCOME_NO_POLICY, .tlsrpt = true,
	 .kind = MTS_ANSWER_NOTFOUND, .answer = "NOTFOUND "},
	{"fetch error", NULL, MTS_OUTCOME_FETCH_ERROR, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"DNS error", NULL, MTS_OUTCOME_DNS_ERROR, .kind = MTS_ANSWER_TEMP,
	 .answer = "TEMP why\\x01"},
	{"fetch error, tlsrpt", NULL, MTS_OUTCOME_FETCH_ERROR, .tlsrpt = true,
	 .kind = MTS_ANSWER_FAILURE,
	 .answer = "OK may policy_type=sts policy_domain=example.com "
		   "policy_failure=sts-policy-fetch-error"},
	{"webpki, tlsrpt", NULL, MTS_OUTCOME_WEBPKI, .tlsrpt = true, .kind = MTS_ANSWER_FAILURE,
	 .answer = "OK may policy_type=sts policy_domain=example.com "
		   "policy_failure=sts-webpki-invalid"},
	{"invalid, tlsrpt", NULL, MTS_OUTCOME_INVALID, .tlsrpt = true, .kind = MTS_ANSWER_FAILURE,
	 .answer = "OK may policy_type=sts policy_domain=example.com "
		   "policy_failure=sts-policy-invalid"},
	{"enforce, tlsrpt", ENFORCE, MTS_OUTCOME_OK, .require_sni = true, .tlsrpt = true,
	 .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com:.example.net servername=hostname "
		   "policy_type=sts policy_domain=example.com mx_host_pattern=mx1.example.com "
		   "mx_host_pattern=*.example.net { policy_string = version: STSv1 } "
		   "{ policy_string = mode: enforce } { policy_string = mx: mx1.example.com } "
		   "{ policy_string = mx: *.example.net } { policy_string = max_age: 86400 } "
		   "policy_ttl=86400"},
};

static void test_answers(void **state)
{
	for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
		const struct answer_case *c = &answer_cases[i];
		struct mts_policy *p = c->policy ? policy(c->policy) : NULL;
		struct mts_discovery_result r = {.domain = "example.com", .outcome = c->outcome,
						 .policy = p, .reason = "why\x01"};
		struct mts_resolver_zone z = {.strict_testing = c->strict_testing,
					      .require_sni = c->require_sni, .tlsrpt = c->tlsrpt,
					      .timeout = 4};
		char out[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind = MTS_ANSWER_PERM;
		long n = mts_resolver_answer(&z, &r, out, sizeof(out), &kind);
		if (n < 0 || strcmp(out, c->answer) != 0 || kind != c->kind ||
		    (size_t)n != strlen(out))
			fail_msg("%s: got \"%s\" (%s), want \"%s\" (%s)", c->name, out,
				 mts_resolver_kind_name(kind), c->answer,
				 mts_resolver_kind_name(c->kind));
		mts_policy_free(p);
	}
}

static void test_answer_too_long(void **state)
{
	struct mts_policy *p = policy(ENFORCE);
	struct mts_discovery_result r = {.domain = "example.com", .policy = p, .reason = ""};
	struct mts_resolver_zone z = {.require_sni = true};
	char out[20];
	assert_int_equal(mts_resolver_answer(&z, &r, out, sizeof(out), NULL), MTS_ETOOBIG);
	mts_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_internal_cache),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_answer_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
