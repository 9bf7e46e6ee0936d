/* resolver_config.c - mta-sts-daemon.yml(5) compatible configuration, read
 * with libyaml's document API so that every node keeps its line (see
 * resolver.h). Values follow YAML 1.1 as PyYAML reads them (0666 is octal,
 * yes/no/on/off are booleans), so files written for the Python daemon mean
 * the same here. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "mtasts/resolver.h"

#define SQLITE_THREADS_MAX 1024
#define ZONE_TIMEOUT_MAX 300
#define CACHE_SIZE_MAX 100000000ul

struct reader {
	yaml_document_t *doc;
	const char *file;
	struct mts_error *err;
};

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static int fail(struct reader *rd, const yaml_node_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct reader *rd, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char what[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mts_error_set(rd->err, MTS_EINVAL, "%s:%u: %s%s%s", rd->file, n ? line_of(n) : 0,
			     key ? key : "", key ? ": " : "", what);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);
	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0);
}

static int get_bool(struct reader *rd, const yaml_node_t *n, const char *key, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "y"};
	static const char *const no[] = {"false", "no", "off", "n"};
	const char *s = scalar(n);
	if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (strcasecmp(s, yes[i]) == 0) {
				*out = true;
				return 0;
			}
			if (strcasecmp(s, no[i]) == 0) {
				*out = false;
				return 0;
			}
		}
	}
	return fail(rd, n, key, "expected true or false, got '%.40s'", s ? s : "(not a scalar)");
}

/* An integer: decimal, 0o/0 octal (YAML 1.1), 0x hex. */
static int get_ulong(struct reader *rd, const yaml_node_t *n, const char *key, unsigned long min,
		     unsigned long max, unsigned long *out)
{
	const char *s = scalar(n);
	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !*s || *s == '-' || *s == '+')
		return fail(rd, n, key, "expected a number, got '%.40s'",
			    s ? s : "(not a scalar)");
	int base = 10;
	const char *digits = s;
	if (strncasecmp(s, "0x", 2) == 0) {
		base = 16;
		digits = s + 2;
	} else if (strncasecmp(s, "0o", 2) == 0) {
		base = 8;
		digits = s + 2;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		digits = s + 1;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(digits, &end, base);
	if (errno || end == digits || *end)
		return fail(rd, n, key, "expected a number, got '%.40s'", s);
	if (v < min || v > max)
		return fail(rd, n, key, "%lu is out of range %lu..%lu", v, min, max);
	*out = v;
	return 0;
}

static int get_uint(struct reader *rd, const yaml_node_t *n, const char *key, unsigned min,
		    unsigned max, unsigned *out)
{
	unsigned long v;
	int rc = get_ulong(rd, n, key, min, max, &v);
	if (rc == 0)
		*out = (unsigned)v;
	return rc;
}

static int get_double(struct reader *rd, const yaml_node_t *n, const char *key, double min,
		      double max, double *out)
{
	const char *s = scalar(n);
	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !*s)
		return fail(rd, n, key, "expected a number, got '%.40s'",
			    s ? s : "(not a scalar)");
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return fail(rd, n, key, "expected a number, got '%.40s'", s);
	if (v < min || v > max)
		return fail(rd, n, key, "%g is out of range %g..%g", v, min, max);
	*out = v;
	return 0;
}

static int get_string(struct reader *rd, const yaml_node_t *n, const char *key, char *out,
		      size_t cap)
{
	const char *s = scalar(n);
	if (!s)
		return fail(rd, n, key, "expected a string");
	size_t len = n->data.scalar.length;
	if (memchr(s, '\0', len))
		return fail(rd, n, key, "holds a NUL byte");
	if (len >= cap)
		return fail(rd, n, key, "longer than %zu bytes", cap - 1);
	memcpy(out, s, len + 1);
	return 0;
}

static yaml_node_t *node(struct reader *rd, int index)
{
	return yaml_document_get_node(rd->doc, index);
}

/* Walk a mapping: fn(rd, key, value, arg) for each pair, keys checked to be
 * scalars and unique. */
typedef int (*pair_fn)(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
		       void *arg);

static int each_pair(struct reader *rd, yaml_node_t *map, const char *what, pair_fn fn, void *arg)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return fail(rd, map, what, "expected a mapping");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(rd, p->key), *v = node(rd, p->value);
		const char *key = scalar(k);
		if (!key || !v)
			return fail(rd, k, what, "keys must be plain names");
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			const char *prev = scalar(node(rd, q->key));
			if (prev && strcmp(prev, key) == 0)
				return fail(rd, k, key, "repeated key (first at line %u)",
					    line_of(node(rd, q->key)));
		}
		int rc = fn(rd, key, k, v, arg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int unknown(struct reader *rd, yaml_node_t *k, const char *section, const char *key)
{
	return fail(rd, k, NULL, "unknown key '%.64s'%s%s", key, section ? " in " : "",
		    section ? section : "");
}

static int zone_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct mts_resolver_zone *z = arg;
	if (strcmp(key, "strict_testing") == 0)
		return get_bool(rd, v, key, &z->strict_testing);
	if (strcmp(key, "timeout") == 0)
		return get_uint(rd, v, key, 1, ZONE_TIMEOUT_MAX, &z->timeout);
	if (strcmp(key, "require_sni") == 0)
		return get_bool(rd, v, key, &z->require_sni);
	if (strcmp(key, "tlsrpt") == 0)
		return get_bool(rd, v, key, &z->tlsrpt);
	char section[MTS_RESOLVER_NAME_MAX + 16];
	snprintf(section, sizeof(section), "%s%s", z->name[0] ? "zone " : "default_zone",
		 z->name);
	return unknown(rd, k, section, key);
}

static void zone_defaults(struct mts_resolver_zone *z)
{
	memset(z, 0, sizeof(*z));
	z->timeout = 4;
	z->require_sni = true;
}

static int zones_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct mts_resolver_config *c = arg;
	if (c->zone_count >= MTS_RESOLVER_ZONES_MAX)
		return fail(rd, k, "zones", "more than %d zones", MTS_RESOLVER_ZONES_MAX);
	size_t len = strlen(key);
	if (len == 0 || len > MTS_RESOLVER_NAME_MAX || strpbrk(key, " \t\r\n"))
		return fail(rd, k, "zones", "'%.64s' is not a usable zone name", key);
	struct mts_resolver_zone *z = &c->zones[c->zone_count];
	zone_defaults(z);
	memcpy(z->name, key, len + 1);
	if (!is_null(v)) {
		int rc = each_pair(rd, v, key, zone_pair, z);
		if (rc < 0)
			return rc;
	}
	c->zone_count++;
	return 0;
}

struct cache_ctx {
	struct mts_resolver_config *c;
	yaml_node_t *type_node, *options;
};

static int cache_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct cache_ctx *cc = arg;
	if (strcmp(key, "type") == 0) {
		cc->type_node = v;
		return 0;
	}
	if (strcmp(key, "options") == 0) {
		cc->options = v;
		return 0;
	}
	return unknown(rd, k, "cache", key);
}

static int internal_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
			 void *arg)
{
	struct mts_resolver_config *c = arg;
	if (strcmp(key, "cache_size") == 0)
		return get_ulong(rd, v, key, 1, CACHE_SIZE_MAX, &c->cache_size);
	return unknown(rd, k, "cache options (internal)", key);
}

static int sqlite_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
		       void *arg)
{
	struct mts_resolver_config *c = arg;
	if (strcmp(key, "filename") == 0)
		return get_string(rd, v, key, c->cache_filename, sizeof(c->cache_filename));
	if (strcmp(key, "threads") == 0)
		return get_uint(rd, v, key, 1, SQLITE_THREADS_MAX, &c->cache_threads);
	if (strcmp(key, "timeout") == 0)
		return get_double(rd, v, key, 0, 3600, &c->cache_timeout);
	return unknown(rd, k, "cache options (sqlite)", key);
}

/* redis: the URL, as aioredis's from_url() takes it; the pool and socket
 * knobs of that library are accepted, and socket_timeout (seconds) bounds
 * every call of ours. */
static int redis_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
		      void *arg)
{
	struct mts_resolver_config *c = arg;
	if (strcmp(key, "url") == 0 || strcmp(key, "address") == 0)
		return get_string(rd, v, key, c->cache_url, sizeof(c->cache_url));
	if (strcmp(key, "socket_timeout") == 0 || strcmp(key, "socket_connect_timeout") == 0)
		return get_double(rd, v, key, 0.001, 60, &c->cache_timeout);
	if (strcmp(key, "max_connections") == 0) /* one connection: one loop */
		return get_uint(rd, v, key, 1, 1000000, &c->cache_threads);
	return unknown(rd, k, "cache options (redis)", key);
}

static int postgres_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
			 void *arg)
{
	struct mts_resolver_config *c = arg;
	if (strcmp(key, "dsn") == 0)
		return get_string(rd, v, key, c->cache_url, sizeof(c->cache_url));
	return unknown(rd, k, "cache options (postgres)", key);
}

static int parse_cache(struct reader *rd, yaml_node_t *v, struct mts_resolver_config *c)
{
	struct cache_ctx cc = {.c = c};
	int rc = each_pair(rd, v, "cache", cache_pair, &cc);
	if (rc < 0)
		return rc;
	char type[32] = "internal";
	if (cc.type_node && (rc = get_string(rd, cc.type_node, "type", type, sizeof(type))) < 0)
		return rc;
	if (strcmp(type, "internal") == 0) {
		c->cache_type = MTS_RESOLVER_CACHE_INTERNAL;
		if (cc.options && !is_null(cc.options))
			return each_pair(rd, cc.options, "options", internal_pair, c);
		return 0;
	}
	if (strcmp(type, "sqlite") == 0) {
		c->cache_type = MTS_RESOLVER_CACHE_SQLITE;
		if (cc.options && !is_null(cc.options) &&
		    (rc = each_pair(rd, cc.options, "options", sqlite_pair, c)) < 0)
			return rc;
		if (c->cache_filename[0] != '/')
			return fail(rd, cc.options ? cc.options : v, "filename",
				    "the sqlite cache needs an absolute file name");
		return 0;
	}
	if (strcmp(type, "redis") == 0 || strcmp(type, "postgres") == 0) {
		bool redis = type[0] == 'r';
		c->cache_type = redis ? MTS_RESOLVER_CACHE_REDIS : MTS_RESOLVER_CACHE_POSTGRES;
		c->cache_timeout = 0;
		if (cc.options && !is_null(cc.options) &&
		    (rc = each_pair(rd, cc.options, "options", redis ? redis_pair : postgres_pair,
				    c)) < 0)
			return rc;
		const char *need = redis ? "url" : "dsn";
		if (!c->cache_url[0])
			return fail(rd, cc.options ? cc.options : v, need,
				    "the %s cache needs options.%s", type, need);
		if (redis && strncmp(c->cache_url, "redis://", 8) != 0)
			return fail(rd, cc.options, need, "the redis cache needs a redis:// URL");
		if (!redis && strncmp(c->cache_url, "postgresql://", 13) != 0 &&
		    strncmp(c->cache_url, "postgres://", 11) != 0)
			return fail(rd, cc.options, need,
				    "the postgres cache needs a postgresql:// URL");
		return 0;
	}
	if (strcmp(type, "redis_sentinel") == 0) {
		c->cache_type = MTS_RESOLVER_CACHE_REDIS;
		return mts_error_set(rd->err, MTS_EUSAGE,
				     "%s:%u: type: the redis_sentinel cache is not supported "
				     "(use redis with the master's URL)",
				     rd->file, line_of(cc.type_node));
	}
	return fail(rd, cc.type_node, "type",
		    "unknown cache type '%.32s' (internal, sqlite, redis, postgres)", type);
}

static int proactive_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v,
			  void *arg)
{
	struct mts_resolver_config *c = arg;
	if (strcmp(key, "enabled") == 0)
		return get_bool(rd, v, key, &c->proactive);
	if (strcmp(key, "interval") == 0)
		return get_uint(rd, v, key, 1, 31557600, &c->proactive_interval);
	if (strcmp(key, "concurrency_limit") == 0)
		return get_uint(rd, v, key, 1, 10000, &c->proactive_concurrency);
	if (strcmp(key, "grace_ratio") == 0)
		return get_double(rd, v, key, 1, 1000, &c->proactive_grace_ratio);
	return unknown(rd, k, "proactive_policy_fetching", key);
}

static int top_pair(struct reader *rd, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	struct mts_resolver_config *c = arg;
	unsigned long mode;
	int rc;
	if (strcmp(key, "host") == 0)
		return get_string(rd, v, key, c->host, sizeof(c->host));
	if (strcmp(key, "port") == 0)
		return get_uint(rd, v, key, 0, 65535, &c->port);
	if (strcmp(key, "path") == 0)
		return is_null(v) ? 0 : get_string(rd, v, key, c->path, sizeof(c->path));
	if (strcmp(key, "mode") == 0) {
		if (is_null(v))
			return 0;
		if ((rc = get_ulong(rd, v, key, 0, 07777, &mode)) < 0)
			return rc;
		c->mode = (int)mode;
		return 0;
	}
	if (strcmp(key, "reuse_port") == 0)
		return get_bool(rd, v, key, &c->reuse_port);
	if (strcmp(key, "cache_grace") == 0)
		return get_double(rd, v, key, 0, 31557600, &c->cache_grace);
	if (strcmp(key, "shutdown_timeout") == 0)
		return get_double(rd, v, key, 0, 3600, &c->shutdown_timeout);
	if (strcmp(key, "cache") == 0)
		return parse_cache(rd, v, c);
	if (strcmp(key, "proactive_policy_fetching") == 0)
		return is_null(v) ? 0 : each_pair(rd, v, key, proactive_pair, c);
	if (strcmp(key, "default_zone") == 0)
		return is_null(v) ? 0 : each_pair(rd, v, key, zone_pair, &c->default_zone);
	if (strcmp(key, "zones") == 0)
		return is_null(v) ? 0 : each_pair(rd, v, key, zones_pair, c);
	/* mtasts extensions */
	if (strcmp(key, "user") == 0)
		return get_string(rd, v, key, c->user, sizeof(c->user));
	if (strcmp(key, "group") == 0)
		return get_string(rd, v, key, c->group, sizeof(c->group));
	if (strcmp(key, "dns_resolver") == 0)
		return get_string(rd, v, key, c->dns_resolver, sizeof(c->dns_resolver));
	if (strcmp(key, "ca_file") == 0)
		return get_string(rd, v, key, c->ca_file, sizeof(c->ca_file));
	if (strcmp(key, "trust_anchor_file") == 0)
		return get_string(rd, v, key, c->trust_anchor_file, sizeof(c->trust_anchor_file));
	if (strcmp(key, "control_path") == 0)
		return get_string(rd, v, key, c->control_path, sizeof(c->control_path));
	if (strcmp(key, "dane") == 0)
		return get_bool(rd, v, key, &c->dane);
	if (strcmp(key, "dane_answer") == 0)
		return get_string(rd, v, key, c->dane_answer, sizeof(c->dane_answer));
	if (strcmp(key, "idle_timeout") == 0)
		return get_uint(rd, v, key, 1, 86400, &c->idle_timeout);
	if (strcmp(key, "max_request") == 0)
		return get_uint(rd, v, key, 64, MTS_RESOLVER_REQUEST_MAX, &c->max_request);
	if (strcmp(key, "metrics") == 0) {
		if ((rc = get_string(rd, v, key, c->metrics, sizeof(c->metrics))) < 0)
			return rc;
		const char *colon = strrchr(c->metrics, ':');
		char *end;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
		if (!colon || colon == c->metrics || !colon[1] || *end || port > 65535)
			return fail(rd, v, key, "expected ADDR:PORT");
		return 0;
	}
	if (strcmp(key, "log") == 0) {
		char how[16];
		if ((rc = get_string(rd, v, key, how, sizeof(how))) < 0)
			return rc;
		if (strcmp(how, "syslog") != 0 && strcmp(how, "stderr") != 0)
			return fail(rd, v, key, "expected syslog or stderr");
		c->log_syslog = how[0] == 's' && how[1] == 'y';
		return 0;
	}
	return unknown(rd, k, NULL, key);
}

void mts_resolver_config_defaults(struct mts_resolver_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = MTS_RESOLVER_PORT_DEFAULT;
	c->mode = -1;
	c->reuse_port = true;
	c->cache_grace = 60;
	c->shutdown_timeout = 20;
	c->cache_type = MTS_RESOLVER_CACHE_INTERNAL;
	c->cache_size = 10000;
	c->cache_timeout = 5;
	c->cache_threads = 1;
	c->proactive_interval = 86400;
	c->proactive_concurrency = 100;
	c->proactive_grace_ratio = 2.0;
	zone_defaults(&c->default_zone);
	snprintf(c->dane_answer, sizeof(c->dane_answer), "dane-only");
	c->idle_timeout = MTS_RESOLVER_IDLE_DEFAULT;
	c->max_request = MTS_RESOLVER_REQUEST_DEFAULT;
}

static int check_whole(struct reader *rd, struct mts_resolver_config *c)
{
	if (c->dane && !c->trust_anchor_file[0])
		return mts_error_set(rd->err, MTS_EINVAL,
				     "%s: dane: needs trust_anchor_file (DNSSEC validation)",
				     rd->file);
	for (const char *p = c->dane_answer; *p; p++)
		if (*p <= ' ' || *p > '~')
			return mts_error_set(rd->err, MTS_EINVAL,
					     "%s: dane_answer: one word of printable ASCII",
					     rd->file);
	if (!c->dane_answer[0])
		return mts_error_set(rd->err, MTS_EINVAL, "%s: dane_answer: empty", rd->file);
	return 0;
}

static int yaml_problem(const yaml_parser_t *parser, const char *file, struct mts_error *err)
{
	return mts_error_set(err, MTS_EINVAL, "%s:%zu: %s%s%s", file,
			     (size_t)parser->problem_mark.line + 1,
			     parser->problem ? parser->problem : "invalid YAML",
			     parser->context ? " " : "", parser->context ? parser->context : "");
}

/* Read the events of the stream once, before loading it, and stop at the
 * first collection nested deeper than MTS_RESOLVER_CONFIG_MAX_DEPTH: libyaml's
 * loader (its scanner's simple keys) takes time quadratic in the depth, so
 * 100,000 levels would hold --check or a reload for minutes. */
static int check_depth(const char *buf, size_t len, const char *file, struct mts_error *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	unsigned depth = 0;
	int rc = 0;
	for (bool end = false; !end && rc == 0;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_problem(&parser, file, err);
			break;
		}
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MTS_RESOLVER_CONFIG_MAX_DEPTH)
				rc = mts_error_set(err, MTS_EINVAL,
						   "%s:%zu: nested deeper than %d levels", file,
						   (size_t)ev.start_mark.line + 1,
						   MTS_RESOLVER_CONFIG_MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			end = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int mts_resolver_config_parse(const char *buf, size_t len, const char *file,
			      struct mts_resolver_config *out, struct mts_error *err)
{
	mts_resolver_config_defaults(out);
	if (!file)
		file = "(config)";
	snprintf(out->file, sizeof(out->file), "%s", file);
	if (len > MTS_RESOLVER_CONFIG_MAX_BYTES)
		return mts_error_set(err, MTS_ETOOBIG, "%s: larger than %d bytes", file,
				     MTS_RESOLVER_CONFIG_MAX_BYTES);
	int depth_rc = check_depth(buf, len, file, err);
	if (depth_rc < 0)
		return depth_rc;
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		int rc = yaml_problem(&parser, file, err);
		yaml_parser_delete(&parser);
		return rc;
	}
	struct reader rd = {.doc = &doc, .file = file, .err = err};
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	int rc = 0;
	if (root && !is_null(root))
		rc = each_pair(&rd, root, "the file", top_pair, out);
	if (rc == 0)
		rc = check_whole(&rd, out);
	/* A second document would be ignored silently: refuse it. */
	if (rc == 0) {
		yaml_document_t next;
		if (yaml_parser_load(&parser, &next)) {
			if (yaml_document_get_root_node(&next))
				rc = mts_error_set(err, MTS_EINVAL,
						   "%s: holds more than one YAML document", file);
			yaml_document_delete(&next);
		} else {
			rc = mts_error_set(err, MTS_EINVAL, "%s:%zu: %s", file,
					   (size_t)parser.problem_mark.line + 1,
					   parser.problem ? parser.problem : "invalid YAML");
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int mts_resolver_config_load(const char *path, struct mts_resolver_config *out,
			     struct mts_error *err)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		mts_resolver_config_defaults(out);
		return mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	}
	char *buf = malloc(MTS_RESOLVER_CONFIG_MAX_BYTES + 1);
	if (!buf) {
		fclose(fp);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	size_t len = fread(buf, 1, MTS_RESOLVER_CONFIG_MAX_BYTES + 1, fp);
	int bad = ferror(fp);
	fclose(fp);
	int rc;
	if (bad)
		rc = mts_error_set(err, MTS_EIO, "%s: read error", path);
	else
		rc = mts_resolver_config_parse(buf, len, path, out, err);
	free(buf);
	return rc;
}

const char *mts_resolver_cache_name(enum mts_resolver_cache_type t)
{
	switch (t) {
	case MTS_RESOLVER_CACHE_INTERNAL: return "internal";
	case MTS_RESOLVER_CACHE_SQLITE: return "sqlite";
	case MTS_RESOLVER_CACHE_REDIS: return "redis";
	case MTS_RESOLVER_CACHE_POSTGRES: return "postgres";
	}
	return "unknown";
}

const struct mts_resolver_zone *mts_resolver_zone_find(const struct mts_resolver_config *c,
						       const char *name, size_t len)
{
	for (size_t i = 0; i < c->zone_count; i++)
		if (strlen(c->zones[i].name) == len && memcmp(c->zones[i].name, name, len) == 0)
			return &c->zones[i];
	return &c->default_zone;
}

int mts_resolver_cache_url(const struct mts_resolver_config *c, char *out, size_t cap,
			   struct mts_error *err)
{
	int n;
	switch (c->cache_type) {
	case MTS_RESOLVER_CACHE_INTERNAL:
		n = snprintf(out, cap, "memory:?max=%lu", c->cache_size);
		break;
	case MTS_RESOLVER_CACHE_SQLITE:
		n = snprintf(out, cap, "sqlite://%s", c->cache_filename);
		break;
	case MTS_RESOLVER_CACHE_REDIS:
		n = snprintf(out, cap, "%s", c->cache_url);
		/* options.socket_timeout bounds our calls, unless the URL says. */
		if (c->cache_timeout > 0 && n >= 0 && (size_t)n < cap &&
		    !strstr(c->cache_url, "timeout")) {
			unsigned ms = (unsigned)(c->cache_timeout * 1000.0 + 0.5);
			n += snprintf(out + n, cap - (size_t)n, "%ctimeout_ms=%u",
				      strchr(c->cache_url, '?') ? '&' : '?', ms ? ms : 1);
		}
		break;
	case MTS_RESOLVER_CACHE_POSTGRES:
		n = snprintf(out, cap, "%s", c->cache_url);
		break;
	default:
		return mts_error_set(err, MTS_EUSAGE, "unknown cache type");
	}
	if (n < 0 || (size_t)n >= cap)
		return mts_error_set(err, MTS_ETOOBIG, "cache URL too long");
	return 0;
}
