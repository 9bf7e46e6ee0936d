/* cache_redis.c - the redis:// cache backend (see cache.h): one cache shared
 * by a fleet of MTAs.
 *
 * Each entry is one string key, <prefix>policy:<domain>, holding the entry as
 * a JSON object, written with one SET ... EX (atomic: readers see the old or
 * the new entry, never a mix). The key's TTL evicts entries nobody uses: a
 * policy entry lives until its policy expires plus MTS_CACHE_REDIS_KEEP, an
 * entry without a policy (remembered failures) MTS_CACHE_REDIS_KEEP after
 * its last attempt.
 *
 * Calls are synchronous with a timeout (default 500 ms, ?timeout_ms=N), so a
 * dead or stopped Redis costs the caller at most that per call. A broken
 * connection is reopened at the next call, so a restarted Redis is picked up
 * again without restarting the user. A Redis that did not answer in time
 * (hung, not refusing) is left alone for a while (5 s, doubling up to 60 s)
 * and calls fail at once meanwhile, so that a user with one event loop (the
 * resolver) does not pay the timeout on every call.
 *
 * A walk is SCAN with a MATCH on our keys (never KEYS, which blocks a shared
 * server for as long as it takes): each call is one SCAN ... COUNT batch and
 * one MGET of the keys it returned; the position is SCAN's cursor. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "io/cache_int.h"
#include "core/text_int.h"
#include "io/cache_pause_int.h"

#define REDIS_VALUE_MAX (256 * 1024) /* a stored entry larger than this is corrupt */

struct redis_cache {
	struct mts_cache base;
	struct mts_redis_url url;
	redisContext *ctx;
	struct cache_pause pause; /* after a timeout */
};

/* hiredis reports a read or write timeout as an I/O error with EAGAIN's
 * message (REDIS_ERR_TIMEOUT only in hiredis 1.1 and later). */
static bool timed_out(const redisContext *ctx)
{
#ifdef REDIS_ERR_TIMEOUT
	if (ctx->err == REDIS_ERR_TIMEOUT)
		return true;
#endif
	return ctx->err == REDIS_ERR_IO && (strcmp(ctx->errstr, strerror(EAGAIN)) == 0 ||
					    strcmp(ctx->errstr, strerror(EWOULDBLOCK)) == 0);
}

static int redis_fail(struct redis_cache *r, struct mts_error *err, const char *what)
{
	const char *why = r->ctx && r->ctx->err ? r->ctx->errstr : "no connection";
	mts_error_set(err, MTS_ESTORE, "redis cache %s:%u: %s: %s", r->url.host, r->url.port, what,
		      why);
	if (r->ctx && r->ctx->err && timed_out(r->ctx)) { /* hung: leave it alone a while */
		char msg[MTS_ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s: no answer within %u ms", what, r->url.timeout_ms);
		cache_pause_start(&r->pause, msg);
	}
	if (r->ctx && r->ctx->err) { /* reconnect at the next call */
		redisFree(r->ctx);
		r->ctx = NULL;
	}
	return MTS_ESTORE;
}

/* A reply that must be "+OK"-like (status) or an integer. */
static int expect_ok(struct redis_cache *r, redisReply *rep, struct mts_error *err,
		     const char *what)
{
	if (!rep)
		return redis_fail(r, err, what);
	int rc = 0;
	if (rep->type == REDIS_REPLY_ERROR)
		rc = mts_error_set(err, MTS_ESTORE, "redis cache: %s: %.*s", what,
				   rep->len > 200 ? 200 : (int)rep->len, rep->str);
	freeReplyObject(rep);
	return rc;
}

static int redis_connect(struct redis_cache *r, struct mts_error *err)
{
	if (r->ctx)
		return 0;
	char name[sizeof(r->url.host) + 32];
	snprintf(name, sizeof(name), "redis cache %s:%u", r->url.host, r->url.port);
	if (cache_pause_check(&r->pause, name, err) < 0)
		return MTS_ESTORE;
	struct timeval tv = {.tv_sec = r->url.timeout_ms / 1000,
			     .tv_usec = (r->url.timeout_ms % 1000) * 1000};
	r->ctx = redisConnectWithTimeout(r->url.host, (int)r->url.port, tv);
	if (!r->ctx)
		return mts_error_set(err, MTS_ENOMEM, "redis cache: out of memory");
	if (r->ctx->err)
		return redis_fail(r, err, "connect");
	if (redisSetTimeout(r->ctx, tv) != REDIS_OK)
		return redis_fail(r, err, "set timeout");
	int rc = 0;
	if (r->url.password[0]) {
		redisReply *rep = r->url.user[0]
					  ? redisCommand(r->ctx, "AUTH %s %s", r->url.user, r->url.password)
					  : redisCommand(r->ctx, "AUTH %s", r->url.password);
		rc = expect_ok(r, rep, err, "AUTH");
	}
	if (rc == 0 && r->url.db)
		rc = expect_ok(r, redisCommand(r->ctx, "SELECT %u", r->url.db), err, "SELECT");
	if (rc < 0 && r->ctx) {
		redisFree(r->ctx);
		r->ctx = NULL;
	}
	return rc;
}

static json_t *entry_json(const struct mts_cache_entry *e)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:s}", "id", e->id, "fetched_at",
			      (json_int_t)e->fetched_at, "expires_at", (json_int_t)e->expires_at,
			      "last_attempt", (json_int_t)e->last_attempt, "last_failure",
			      (json_int_t)e->last_failure, "failures", (json_int_t)e->failures,
			      "last_result", e->last_result, "last_reason", e->last_reason);
	if (o && e->policy)
		json_object_set_new(o, "policy", json_stringn(e->policy, e->policy_len));
	return o;
}

static int entry_from_json(const char *domain, const char *text, size_t len,
			   struct mts_cache_entry *out, struct mts_error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *id = NULL, *reason = "", *policy = NULL;
	size_t policy_len = 0;
	json_int_t fetched = 0, expires = 0, attempt = 0, failure = 0, failures = 0;
	int result = 0;
	if (!o || json_unpack_ex(o, &jerr, 0, "{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s?s, s?s%}",
				 "id", &id, "fetched_at", &fetched, "expires_at", &expires,
				 "last_attempt", &attempt, "last_failure", &failure, "failures",
				 &failures, "last_result", &result, "last_reason", &reason, "policy",
				 &policy, &policy_len) < 0 ||
	    strlen(id) > MTS_STS_ID_MAX || failures < 0) {
		json_decref(o);
		return mts_error_set(err, MTS_ESTORE, "redis cache: the entry of %s is corrupt: %s",
				     domain, jerr.text);
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->domain, sizeof(out->domain), "%s", domain);
	memcpy(out->id, id, strlen(id) + 1);
	out->fetched_at = fetched;
	out->expires_at = expires;
	out->last_attempt = attempt;
	out->last_failure = failure;
	out->failures = (unsigned)failures;
	out->last_result = result;
	mts_printable(reason, strlen(reason), out->last_reason, sizeof(out->last_reason));
	int rc = 0;
	if (policy) {
		out->policy = mts_strndup(policy, policy_len);
		out->policy_len = policy_len;
		if (!out->policy)
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	json_decref(o);
	return rc;
}

static void key_of(const struct redis_cache *r, const char *domain, char *out, size_t cap)
{
	snprintf(out, cap, "%spolicy:%s", r->url.prefix, domain);
}

static int redis_get(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		     struct mts_error *err)
{
	struct redis_cache *r = (struct redis_cache *)c;
	if (redis_connect(r, err) < 0)
		return MTS_ESTORE;
	char key[MTS_DNAME_MAX + 128];
	key_of(r, domain, key, sizeof(key));
	redisReply *rep = redisCommand(r->ctx, "GET %s", key);
	if (!rep)
		return redis_fail(r, err, "GET");
	int rc;
	if (rep->type == REDIS_REPLY_NIL)
		rc = MTS_ENOTFOUND;
	else if (rep->type != REDIS_REPLY_STRING || rep->len > REDIS_VALUE_MAX)
		rc = mts_error_set(err, MTS_ESTORE, "redis cache: unexpected reply to GET %s", key);
	else
		rc = entry_from_json(domain, rep->str, rep->len, out, err);
	freeReplyObject(rep);
	return rc;
}

static int redis_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err)
{
	struct redis_cache *r = (struct redis_cache *)c;
	if (redis_connect(r, err) < 0)
		return MTS_ESTORE;
	json_t *o = entry_json(e);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	long long now = (long long)time(NULL);
	long long until = e->policy && e->expires_at > e->last_attempt ? e->expires_at
								       : e->last_attempt;
	if (until < now)
		until = now;
	long long ttl = until - now + MTS_CACHE_REDIS_KEEP;
	char key[MTS_DNAME_MAX + 128];
	key_of(r, e->domain, key, sizeof(key));
	redisReply *rep = redisCommand(r->ctx, "SET %s %s EX %lld", key, text, ttl);
	free(text);
	return expect_ok(r, rep, err, "SET");
}

static int redis_del(struct mts_cache *c, const char *domain, struct mts_error *err)
{
	struct redis_cache *r = (struct redis_cache *)c;
	if (redis_connect(r, err) < 0)
		return MTS_ESTORE;
	char key[MTS_DNAME_MAX + 128];
	key_of(r, domain, key, sizeof(key));
	return expect_ok(r, redisCommand(r->ctx, "DEL %s", key), err, "DEL");
}

/* The MATCH pattern of our keys: the prefix with glob characters escaped. */
static void match_pattern(const struct redis_cache *r, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = r->url.prefix; *p && n + 2 < cap; p++) {
		if (strchr("*?[]\\", *p))
			out[n++] = '\\';
		out[n++] = *p;
	}
	snprintf(out + n, cap - n, "policy:*");
}

static bool cursor_ok(const redisReply *c)
{
	if (c->type != REDIS_REPLY_STRING || c->len == 0 || c->len >= 24)
		return false;
	for (size_t i = 0; i < c->len; i++)
		if (c->str[i] < '0' || c->str[i] > '9')
			return false;
	return true;
}

/* Decode the value of one key and give it to fn; a value that does not
 * decode is skipped. */
static int walk_value(const char *domain, const redisReply *v, struct mts_cache_walk *w,
		      mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	if (v->type == REDIS_REPLY_NIL)
		return 0; /* expired or deleted since the SCAN */
	if (v->type != REDIS_REPLY_STRING || v->len > REDIS_VALUE_MAX) {
		mts_cache_walk_skip(w, "redis cache: the entry of %s is not a JSON string", domain);
		return 0;
	}
	struct mts_cache_entry e = {0};
	struct mts_error why = {0};
	int rc = entry_from_json(domain, v->str, v->len, &e, &why);
	if (rc == MTS_ENOMEM) {
		mts_cache_entry_clear(&e);
		return mts_error_set(err, rc, "%s", why.message);
	}
	if (rc < 0) {
		mts_cache_walk_skip(w, "%s", why.message);
		return 0;
	}
	rc = fn(&e, arg);
	mts_cache_entry_clear(&e);
	if (rc == 0)
		w->visited++;
	return rc;
}

static int redis_each(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		      mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	struct redis_cache *r = (struct redis_cache *)c;
	if (redis_connect(r, err) < 0)
		return MTS_ESTORE;
	char pattern[2 * sizeof(r->url.prefix) + 16], count[24];
	match_pattern(r, pattern, sizeof(pattern));
	snprintf(count, sizeof(count), "%zu", batch);
	redisReply *scan = redisCommand(r->ctx, "SCAN %s MATCH %s COUNT %s",
					w->pos[0] ? w->pos : "0", pattern, count);
	if (!scan)
		return redis_fail(r, err, "SCAN");
	if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 || !cursor_ok(scan->element[0]) ||
	    scan->element[1]->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(scan);
		return mts_error_set(err, MTS_ESTORE, "redis cache: unexpected reply to SCAN");
	}
	const redisReply *keys = scan->element[1];
	size_t plen = strlen(r->url.prefix) + strlen("policy:");
	const char **argv = calloc(keys->elements + 1, sizeof(*argv));
	size_t *lens = calloc(keys->elements + 1, sizeof(*lens));
	size_t *which = calloc(keys->elements + 1, sizeof(*which)); /* argv index -> key */
	if (!argv || !lens || !which) {
		free(argv);
		free(lens);
		free(which);
		freeReplyObject(scan);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	size_t argc = 0, bad = 0;
	argv[argc] = "MGET";
	lens[argc++] = 4;
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		if (k->type != REDIS_REPLY_STRING || k->len <= plen ||
		    memcmp(k->str, r->url.prefix, plen - 7) != 0 ||
		    memcmp(k->str + plen - 7, "policy:", 7) != 0 ||
		    !mts_cache_domain_ok(k->str + plen, k->len - plen)) {
			bad++;
			continue;
		}
		which[argc] = i;
		argv[argc] = k->str;
		lens[argc++] = k->len;
	}
	int rc = 0;
	redisReply *values = NULL;
	if (argc > 1) {
		values = redisCommandArgv(r->ctx, (int)argc, argv, lens);
		if (!values)
			rc = redis_fail(r, err, "MGET");
		else if (values->type != REDIS_REPLY_ARRAY || values->elements != argc - 1)
			rc = mts_error_set(err, MTS_ESTORE, "redis cache: unexpected reply to MGET");
	}
	for (size_t i = 0; rc == 0 && i < bad; i++)
		mts_cache_walk_skip(w, "redis cache: a key without a usable domain");
	for (size_t a = 1; rc == 0 && a < argc; a++) {
		const redisReply *k = keys->element[which[a]];
		char domain[MTS_DNAME_MAX + 1];
		memcpy(domain, k->str + plen, k->len - plen);
		domain[k->len - plen] = '\0';
		rc = walk_value(domain, values->element[a - 1], w, fn, arg, err);
	}
	if (rc == 0) {
		const redisReply *next = scan->element[0];
		memcpy(w->pos, next->str, next->len);
		w->pos[next->len] = '\0';
		w->done = strcmp(w->pos, "0") == 0;
	}
	if (values)
		freeReplyObject(values);
	freeReplyObject(scan);
	free(argv);
	free(lens);
	free(which);
	return rc;
}

static void redis_close(struct mts_cache *c)
{
	struct redis_cache *r = (struct redis_cache *)c;
	if (r->ctx)
		redisFree(r->ctx);
	free(r);
}

static const struct mts_cache_ops redis_ops = {
	.scheme = "redis",
	.get = redis_get,
	.put = redis_put,
	.del = redis_del,
	.each = redis_each,
	.close = redis_close,
};

struct mts_cache *mts_cache_redis_open(const char *url, struct mts_error *err)
{
	struct redis_cache *r = calloc(1, sizeof(*r));
	if (!r) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	r->base.ops = &redis_ops;
	if (mts_redis_url_parse(url, &r->url, err) < 0 || redis_connect(r, err) < 0) {
		redis_close(&r->base);
		return NULL;
	}
	return &r->base;
}
