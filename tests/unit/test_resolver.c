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
			   "group: postfix\n"
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
	assert_string_equal(cfg.group, "postfix");
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

#define DEEP31                                                                               \
	"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
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
	/* The file's mapping and 31 sequences are 32 levels: read (and refused
	 * for what they are); one more is refused before loading. */
	{"port: 1\nhost: " DEEP31 "\n", MTS_EINVAL, "t.yml:2: host: expected a string"},
	{"port: 1\nhost: [" DEEP31 "]\n", MTS_EINVAL, "t.yml:2: nested deeper than 32 levels"},
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

/* ---- keys -------------------------------------------------------------- */

struct key_case {
	const char *key;
	enum mts_resolver_key_kind kind;
	const char *domain; /* for MTS_RESOLVER_KEY_DOMAIN */
};

/* What postfix-mta-sts-resolver takes for a domain is the domain here too,
 * or PERM; never NOTFOUND, which would send the mail without its policy. */
static const struct key_case key_cases[] = {
	{"example.com", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"Example.COM.", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"[example.com]", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"[example.com]:25", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"example.com:587", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"example.com:", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"[example.com]:", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{" example.com", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"example.com ", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"\t example.com \r\n", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{" [example.com]:25 ", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"[ example.com ]", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"example.com :25", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{"example.com: 25", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	{" EXAMPLE.com.: ", MTS_RESOLVER_KEY_DOMAIN, "example.com"},
	/* a domain, in a form no MTA sends */
	{"example.com:smtp", MTS_RESOLVER_KEY_PERM, NULL},
	{"example.com:123456", MTS_RESOLVER_KEY_PERM, NULL},
	{"[example.com]x", MTS_RESOLVER_KEY_PERM, NULL},
	{"[[example.com]", MTS_RESOLVER_KEY_PERM, NULL},
	{"example.com]", MTS_RESOLVER_KEY_PERM, NULL},
	{"example.com..", MTS_RESOLVER_KEY_PERM, NULL},
	{"example.com..:25", MTS_RESOLVER_KEY_PERM, NULL},
	/* no domain: no policy, as for the Python daemon */
	{"", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"   ", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"[192.0.2.1]", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{" [192.0.2.1]: ", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"192.0.2.1", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"[ipv6:2001:db8::1]", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"2001:db8::1", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{".example.com", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{" .example.com", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"[example.com", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"a..b", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"a:b:c", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"[]", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{":25", MTS_RESOLVER_KEY_NOTFOUND, NULL},
	{"exa mple.com", MTS_RESOLVER_KEY_NOTFOUND, NULL},
};

static void test_keys(void **state)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		char domain[MTS_DNAME_MAX + 1] = "";
		enum mts_resolver_key_kind kind = mts_resolver_key(c->key, strlen(c->key), domain);
		if (kind != c->kind || (c->domain && strcmp(domain, c->domain) != 0))
			fail_msg("case %zu \"%s\": kind %d (want %d), domain \"%s\" (want \"%s\")", i,
				 c->key, kind, c->kind, domain, c->domain ? c->domain : "");
	}
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
#define RFC8461_EXAMPLE                                                                            \
	"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"         \
	"mx: backupmx.example.com\r\nmax_age: 604800\r\n"

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
	/* A failure without a usable policy is NOTFOUND with TLSRPT too: an
	 * "OK may" answer would lower a stricter site default. */
	{"fetch error, tlsrpt", NULL, MTS_OUTCOME_FETCH_ERROR, .tlsrpt = true,
	 .kind = MTS_ANSWER_NOTFOUND, .answer = "NOTFOUND "},
	{"webpki, tlsrpt", NULL, MTS_OUTCOME_WEBPKI, .tlsrpt = true, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"invalid, tlsrpt", NULL, MTS_OUTCOME_INVALID, .tlsrpt = true, .kind = MTS_ANSWER_NOTFOUND,
	 .answer = "NOTFOUND "},
	{"enforce, tlsrpt", ENFORCE, MTS_OUTCOME_OK, .require_sni = true, .tlsrpt = true,
	 .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com:.example.net servername=hostname "
		   "policy_type=sts policy_domain=example.com mx_host_pattern=mx1.example.com "
		   "mx_host_pattern=*.example.net { policy_string = version: STSv1 } "
		   "{ policy_string = mode: enforce } { policy_string = mx: mx1.example.com } "
		   "{ policy_string = mx: *.example.net } { policy_string = max_age: 86400 }"},
	/* The policy of RFC 8461 §3.2 that Postfix's TLSRPT_README uses for its
	 * examples: "policy_type=sts", "policy_domain=example.com", one
	 * "{ policy_string = KEY: VALUE }" per policy line, one
	 * "mx_host_pattern=P" per mx line, and no policy_ttl (deprecated there). */
	{"the example policy of Postfix's TLSRPT_README", RFC8461_EXAMPLE, MTS_OUTCOME_OK,
	 .require_sni = true, .tlsrpt = true, .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mail.example.com:.example.net:backupmx.example.com "
		   "servername=hostname policy_type=sts policy_domain=example.com "
		   "mx_host_pattern=mail.example.com mx_host_pattern=*.example.net "
		   "mx_host_pattern=backupmx.example.com "
		   "{ policy_string = version: STSv1 } { policy_string = mode: enforce } "
		   "{ policy_string = mx: mail.example.com } { policy_string = mx: *.example.net } "
		   "{ policy_string = mx: backupmx.example.com } "
		   "{ policy_string = max_age: 604800 }"},
	{"testing, strict, tlsrpt", TESTING, MTS_OUTCOME_OK, .strict_testing = true, .tlsrpt = true,
	 .kind = MTS_ANSWER_POLICY,
	 .answer = "OK secure match=mx1.example.com policy_type=sts policy_domain=example.com "
		   "mx_host_pattern=mx1.example.com { policy_string = version: STSv1 } "
		   "{ policy_string = mode: testing } { policy_string = mx: mx1.example.com } "
		   "{ policy_string = max_age: 86400 }"},
};

/* The answer for a case's discovery result, as the daemon would give it. */
static long answer_of(const struct answer_case *c, char *out, size_t cap,
		      enum mts_resolver_kind *kind)
{
	struct mts_policy *p = c->policy ? policy(c->policy) : NULL;
	struct mts_discovery_result r = {.domain = "example.com", .outcome = c->outcome,
					 .policy = p, .reason = "why\x01"};
	struct mts_resolver_zone z = {.strict_testing = c->strict_testing,
				      .require_sni = c->require_sni, .tlsrpt = c->tlsrpt,
				      .timeout = 4};
	*kind = MTS_ANSWER_PERM;
	long n = mts_resolver_answer(&z, &r, out, cap, kind);
	mts_policy_free(p);
	return n;
}

static void test_answers(void **state)
{
	for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
		const struct answer_case *c = &answer_cases[i];
		char out[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind;
		long n = answer_of(c, out, sizeof(out), &kind);
		if (n < 0 || strcmp(out, c->answer) != 0 || kind != c->kind ||
		    (size_t)n != strlen(out))
			fail_msg("%s: got \"%s\" (%s), want \"%s\" (%s)", c->name, out,
				 mts_resolver_kind_name(kind), c->answer,
				 mts_resolver_kind_name(c->kind));
	}
}

/* ---- answers as Postfix reads them ------------------------------------
 * What smtp_tls_policy_maps makes of an "OK" answer (Postfix 3.10 and 3.11,
 * src/smtp/smtp_tls_policy.c, restated in our words): the value is a
 * security level, then attributes separated by blanks or commas. An
 * attribute is NAME=VALUE, or "{ NAME = VALUE }" when the value holds
 * blanks (blanks after "{", around "=" and before "}" do not count). Postfix
 * refuses the whole answer, and defers the mail, for an unknown name, a
 * once-only attribute given twice, a policy_type or policy_failure outside
 * its vocabulary, a policy_domain that is not a host name, or a TLSRPT
 * attribute without policy_type. policy_ttl is still accepted but deprecated
 * (TLSRPT_README: "support ... will eventually be removed"), so this reader
 * refuses it too. */

#define PF_MAX_PAIRS 64

struct pf_pair {
	char name[32];
	char value[256];
};

struct pf_reading {
	char level[16];
	size_t count;
	struct pf_pair pairs[PF_MAX_PAIRS];
};

static const char pf_separators[] = " \t\r\n,";

/* Copy [start, start+len) without its leading and trailing blanks. */
static bool pf_copy_trimmed(char *out, size_t cap, const char *start, size_t len)
{
	while (len > 0 && strchr(" \t\r\n", start[0])) {
		start++;
		len--;
	}
	while (len > 0 && strchr(" \t\r\n", start[len - 1]))
		len--;
	if (len >= cap)
		return false;
	memcpy(out, start, len);
	out[len] = '\0';
	return true;
}

/* Postfix's host name rule: labels of letters, digits, "_" and inner "-",
 * 1 to 63 long, not all of the name digits. */
static bool pf_hostname(const char *name)
{
	size_t label = 0, total = strlen(name);
	bool letters = false;
	if (total == 0 || total > 255)
		return false;
	for (const char *c = name; *c; c++) {
		if (*c == '.') {
			if (label == 0 || c[1] == '\0')
				return false;
			label = 0;
		} else if (*c == '-') {
			if (label == 0 || c[1] == '\0' || c[1] == '.')
				return false;
			label++;
			letters = true;
		} else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_') {
			label++;
			letters = true;
		} else if (*c >= '0' && *c <= '9') {
			label++;
		} else {
			return false;
		}
		if (label > 63)
			return false;
	}
	return letters;
}

static bool pf_one_of(const char *value, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(value, *names) == 0)
			return true;
	return false;
}

/* Read an answer; NULL when Postfix would take it, else why not. */
static const char *pf_read(const char *answer, struct pf_reading *rd)
{
	memset(rd, 0, sizeof(*rd));
	if (strncmp(answer, "OK ", 3) != 0)
		return "not an OK answer";
	const char *cursor = answer + 3;
	bool have_level = false;
	for (;;) {
		cursor += strspn(cursor, pf_separators);
		if (*cursor == '\0')
			break;
		const char *start = cursor;
		size_t len;
		if (*cursor == '{') {
			const char *close = strchr(cursor, '}');
			if (!close)
				return "a \"{\" without its \"}\"";
			start = cursor + 1;
			len = (size_t)(close - start);
			if (memchr(start, '{', len))
				return "nested braces";
			cursor = close + 1;
			if (*cursor && !strchr(pf_separators, *cursor))
				return "text right after \"}\"";
		} else {
			len = strcspn(cursor, pf_separators);
			cursor += len;
			if (memchr(start, '{', len) || memchr(start, '}', len))
				return "a brace inside a word";
		}
		if (!have_level) {
			if (!pf_copy_trimmed(rd->level, sizeof(rd->level), start, len))
				return "level too long";
			have_level = true;
			continue;
		}
		const char *equals = memchr(start, '=', len);
		if (!equals)
			return "an attribute without \"=\"";
		if (rd->count == PF_MAX_PAIRS)
			return "too many attributes for this reader";
		struct pf_pair *pair = &rd->pairs[rd->count++];
		if (!pf_copy_trimmed(pair->name, sizeof(pair->name), start,
				     (size_t)(equals - start)) ||
		    !pf_copy_trimmed(pair->value, sizeof(pair->value), equals + 1,
				     len - (size_t)(equals - start) - 1))
			return "attribute too long for this reader";
		if (pair->name[0] == '\0')
			return "an attribute without a name";
	}
	static const char *const levels[] = {"none", "may", "encrypt", "dane", "dane-only",
					     "fingerprint", "verify", "secure", NULL};
	static const char *const known[] = {"ciphers", "protocols", "servername", "match",
					    "exclude", "tafile", "connection_reuse", "enable_rpk",
					    "policy_type", "policy_domain", "policy_string",
					    "mx_host_pattern", "policy_failure", NULL};
	static const char *const once[] = {"ciphers", "protocols", "servername", "exclude",
					   "policy_type", "policy_domain", "policy_failure", NULL};
	static const char *const tlsrpt_only[] = {"policy_domain", "policy_string",
						  "mx_host_pattern", "policy_failure", NULL};
	static const char *const types[] = {"sts", "no-policy-found", NULL};
	static const char *const failures[] = {"sts-policy-fetch-error", "sts-policy-invalid",
					       "sts-webpki-invalid", "validation-failure", NULL};
	if (!pf_one_of(rd->level, levels))
		return "unknown security level";
	bool typed = false, needs_type = false;
	for (size_t i = 0; i < rd->count; i++) {
		const struct pf_pair *pair = &rd->pairs[i];
		if (strcmp(pair->name, "policy_ttl") == 0)
			return "policy_ttl is deprecated";
		if (!pf_one_of(pair->name, known))
			return "invalid attribute name";
		for (size_t j = 0; j < i; j++)
			if (strcmp(rd->pairs[j].name, pair->name) == 0 &&
			    pf_one_of(pair->name, once))
				return "a once-only attribute given twice";
		if (strcmp(pair->name, "policy_type") == 0) {
			if (!pf_one_of(pair->value, types))
				return "unexpected policy_type";
			typed = true;
		}
		if (strcmp(pair->name, "policy_failure") == 0 && !pf_one_of(pair->value, failures))
			return "unexpected policy_failure";
		if (strcmp(pair->name, "policy_domain") == 0 && !pf_hostname(pair->value))
			return "policy_domain is not a host name";
		if (strcmp(pair->name, "match") == 0 && strcmp(rd->level, "secure") != 0 &&
		    strcmp(rd->level, "verify") != 0 && strcmp(rd->level, "fingerprint") != 0)
			return "match at a level that matches nothing";
		if (pf_one_of(pair->name, tlsrpt_only))
			needs_type = true;
	}
	if (needs_type && !typed)
		return "TLSRPT attributes without policy_type";
	return NULL;
}

/* The values of every instance of NAME, joined by "|". */
static void pf_values(const struct pf_reading *rd, const char *name, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < rd->count; i++) {
		if (strcmp(rd->pairs[i].name, name) != 0)
			continue;
		int n = snprintf(out + len, cap - len, "%s%s", len ? "|" : "", rd->pairs[i].value);
		assert_true(n >= 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
}

struct pf_refusal {
	const char *answer;
	const char *why;
};

/* The reader itself: answers Postfix refuses, so that it is known to catch them. */
static const struct pf_refusal pf_refusals[] = {
	{"OK secure match=a.example policy_ttl=60 policy_type=sts", "policy_ttl is deprecated"},
	{"OK secure match=a.example policy_kind=sts", "invalid attribute name"},
	{"OK sure match=a.example", "unknown security level"},
	{"OK may policy_type=sts policy_type=sts", "a once-only attribute given twice"},
	{"OK may policy_type=dane", "unexpected policy_type"},
	{"OK may policy_type=sts policy_failure=fetch-error", "unexpected policy_failure"},
	{"OK may policy_type=sts policy_domain=a..example", "policy_domain is not a host name"},
	{"OK may policy_domain=example.com", "TLSRPT attributes without policy_type"},
	{"OK secure policy_type=sts { policy_string = mode: enforce", "a \"{\" without its \"}\""},
	{"OK secure policy_type=sts policy_string=mode: enforce", "an attribute without \"=\""},
	{"OK may match=a.example", "match at a level that matches nothing"},
};

static void test_postfix_reads_answers(void **state)
{
	for (size_t i = 0; i < sizeof(pf_refusals) / sizeof(pf_refusals[0]); i++) {
		struct pf_reading rd;
		const char *why = pf_read(pf_refusals[i].answer, &rd);
		if (!why || strcmp(why, pf_refusals[i].why) != 0)
			fail_msg("reader: \"%s\" gave \"%s\", want \"%s\"", pf_refusals[i].answer,
				 why ? why : "accepted", pf_refusals[i].why);
	}
	for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
		const struct answer_case *c = &answer_cases[i];
		char answer[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind;
		assert_true(answer_of(c, answer, sizeof(answer), &kind) >= 0);
		if (strncmp(answer, "OK ", 3) != 0)
			continue;
		struct pf_reading rd;
		const char *why = pf_read(answer, &rd);
		if (why)
			fail_msg("%s: Postfix would refuse \"%s\": %s", c->name, answer, why);
		if (!c->tlsrpt || c->kind != MTS_ANSWER_POLICY)
			continue;
		/* One mx_host_pattern per mx line, and one policy_string per line of
		 * the policy, in the policy's order. */
		struct mts_policy *p = policy(c->policy);
		char want[2048], got[2048];
		size_t len = 0;
		want[0] = '\0';
		for (size_t m = 0; m < p->mx_count; m++)
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
						m ? "|" : "", p->mx[m]);
		pf_values(&rd, "mx_host_pattern", got, sizeof(got));
		assert_string_equal(got, want);
		char *canonical;
		size_t canonical_len;
		assert_int_equal(mts_policy_serialize(p, &canonical, &canonical_len), 0);
		len = 0;
		want[0] = '\0';
		for (char *line = canonical; *line;) {
			char *end = strstr(line, "\r\n");
			assert_non_null(end);
			len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%.*s",
						len ? "|" : "", (int)(end - line), line);
			line = end + 2;
		}
		free(canonical);
		pf_values(&rd, "policy_string", got, sizeof(got));
		assert_string_equal(got, want);
		pf_values(&rd, "policy_domain", got, sizeof(got));
		assert_string_equal(got, "example.com");
		pf_values(&rd, "policy_type", got, sizeof(got));
		assert_string_equal(got, "sts");
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
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_postfix_reads_answers),
		cmocka_unit_test(test_answer_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
