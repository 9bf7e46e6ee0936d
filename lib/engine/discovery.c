/* discovery.c - MTA-STS policy discovery with a cache, on one libevent loop
 * (see discovery.h). One struct op per domain in flight; waiters queue on it. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "mtasts/discovery.h"
#include "mtasts/dname.h"
#include "mtasts/sts_record.h"
#include "core/text_int.h"

struct waiter {
	struct waiter *next;
	mts_discovery_cb cb;
	void *arg;
};

struct op {
	struct mts_discovery *d;
	struct op *next_in_bucket;
	char domain[MTS_DNAME_MAX + 1];
	struct waiter *waiters, **waiters_tail;
	void *handle;                /* transport request in flight, or NULL */
	struct event *defer;         /* completes an answer that needs no network */
	long long now;
	struct mts_cache_entry cached; /* as read at the start (policy may be NULL) */
	bool cache_usable;           /* cached policy present and unexpired */
	struct mts_policy *policy;   /* the policy to apply (owned) */
	enum mts_discovery_outcome outcome;
	enum mts_policy_source source;
	char policy_id[MTS_STS_ID_MAX + 1];
	char txt_id[MTS_STS_ID_MAX + 1];
	char reason[MTS_CACHE_REASON_MAX];
	bool fetched;
	long long fetched_at, expires_at;
	long http_status;
	char connected_to[64];
	enum mts_dnssec txt_dnssec;
	size_t txt_count;
	char *txts[MTS_DISCOVERY_MAX_TXT];
	size_t txt_lens[MTS_DISCOVERY_MAX_TXT];
	unsigned txt_strings[MTS_DISCOVERY_MAX_TXT];
	struct mts_findings findings;
	char cache_error[MTS_ERROR_MSG_MAX]; /* our own failure, not a finding */
};

struct mts_discovery {
	struct event_base *base;
	struct mts_cache *cache;
	const struct mts_discovery_transport *transport;
	void *tctx;
	struct mts_discovery_opts opts;
	size_t pending;
	struct op *buckets[MTS_DISCOVERY_BUCKETS];
};

const char *mts_discovery_outcome_name(enum mts_discovery_outcome o)
{
	switch (o) {
	case MTS_OUTCOME_OK: return "ok";
	case MTS_OUTCOME_NO_POLICY: return "no-policy";
	case MTS_OUTCOME_FETCH_ERROR: return "sts-policy-fetch-error";
	case MTS_OUTCOME_WEBPKI: return "sts-webpki-invalid";
	case MTS_OUTCOME_INVALID: return "sts-policy-invalid";
	case MTS_OUTCOME_DNS_ERROR: return "dns-error";
	}
	return "unknown";
}

const char *mts_policy_source_name(enum mts_policy_source s)
{
	switch (s) {
	case MTS_SOURCE_NONE: return "none";
	case MTS_SOURCE_NETWORK: return "network";
	case MTS_SOURCE_CACHE: return "cache";
	case MTS_SOURCE_NEGATIVE: return "negative-cache";
	}
	return "unknown";
}

static long long real_clock(void *arg)
{
	return (long long)time(NULL);
}

static long long now_of(const struct mts_discovery *d)
{
	return d->opts.clock(d->opts.clock_arg);
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct op **bucket_slot(struct mts_discovery *d, const char *domain)
{
	struct op **slot = &d->buckets[hash_name(domain) % MTS_DISCOVERY_BUCKETS];
	while (*slot && strcmp((*slot)->domain, domain) != 0)
		slot = &(*slot)->next_in_bucket;
	return slot;
}

static void op_free(struct op *o)
{
	struct op **slot = bucket_slot(o->d, o->domain);
	if (*slot == o) {
		*slot = o->next_in_bucket;
		o->d->pending--;
	}
	if (o->handle)
		o->d->transport->cancel(o->d->tctx, o->handle);
	if (o->defer)
		event_free(o->defer);
	while (o->waiters) {
		struct waiter *w = o->waiters;
		o->waiters = w->next;
		free(w);
	}
	for (size_t i = 0; i < o->txt_count; i++)
		free(o->txts[i]);
	mts_cache_entry_clear(&o->cached);
	mts_policy_free(o->policy);
	mts_findings_free(&o->findings);
	free(o);
}

/* Backoff after n consecutive failures: doubling from negative_ttl, bounded. */
static long long backoff(const struct mts_discovery *d, unsigned failures)
{
	long long delay = d->opts.negative_ttl;
	for (unsigned i = 1; i < failures && delay < d->opts.negative_ttl_max; i++)
		delay *= 2;
	return delay < d->opts.negative_ttl_max ? delay : d->opts.negative_ttl_max;
}

static void store(struct op *o, const struct mts_cache_entry *e)
{
	struct mts_error err = {0};
	if (mts_cache_put(o->d->cache, e, &err) < 0)
		snprintf(o->cache_error, sizeof(o->cache_error), "%s", err.message);
}

/* Deliver the result to every waiter and free the op. The op leaves the
 * in-flight table first, so a callback may start a new lookup of the same
 * domain. */
static void finish(struct op *o)
{
	struct op **slot = bucket_slot(o->d, o->domain);
	if (*slot == o) {
		*slot = o->next_in_bucket;
		o->d->pending--;
	}
	struct mts_discovery_result r = {
		.domain = o->domain,
		.outcome = o->outcome,
		.source = o->source,
		.policy = o->policy,
		.policy_id = o->policy ? o->policy_id : "",
		.txt_id = o->txt_id,
		.fetched = o->fetched,
		.reason = o->reason,
		.now = o->now,
		.fetched_at = o->policy ? o->fetched_at : 0,
		.expires_at = o->policy ? o->expires_at : 0,
		.http_status = o->http_status,
		.connected_to = o->connected_to,
		.txt_dnssec = o->txt_dnssec,
		.txt_count = o->txt_count,
		.txts = (const char *const *)o->txts,
		.txt_lens = o->txt_lens,
		.txt_strings = o->txt_strings,
		.findings = &o->findings,
		.cache_error = o->cache_error,
	};
	for (struct waiter *w = o->waiters; w; w = w->next)
		w->cb(&r, w->arg);
	op_free(o);
}

static void set_reason(struct op *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(struct op *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
	va_end(ap);
}

/* Apply the cached policy (parsed again from its stored bytes). */
static bool use_cached(struct op *o)
{
	if (!o->cache_usable)
		return false;
	o->policy = mts_policy_parse(o->cached.policy, o->cached.policy_len, NULL, NULL);
	if (!o->policy)
		return false; /* the cache held bytes we no longer accept */
	o->source = MTS_SOURCE_CACHE;
	snprintf(o->policy_id, sizeof(o->policy_id), "%s", o->cached.id);
	o->fetched_at = o->cached.fetched_at;
	o->expires_at = o->cached.expires_at;
	return true;
}

/* A discovery failed: keep the unexpired cached policy if there is one, and
 * remember the failure for the backoff. */
static void failed(struct op *o, enum mts_discovery_outcome outcome)
{
	o->outcome = outcome;
	struct mts_cache_entry e = o->cached;
	snprintf(e.domain, sizeof(e.domain), "%s", o->domain);
	if (use_cached(o)) {
		mts_findings_add(&o->findings, MTS_F_FETCH_CACHED, 0, 0,
				 "using the cached policy (id %s, expires in %lld s) after: %s",
				 o->cached.id, o->cached.expires_at - o->now, o->reason);
	} else {
		/* Nothing usable is kept: an expired body is dropped. */
		e.policy = NULL;
		e.policy_len = 0;
		e.id[0] = '\0';
		e.fetched_at = e.expires_at = 0;
	}
	e.last_attempt = o->now;
	e.last_failure = o->now;
	e.failures = o->cached.failures + 1;
	e.last_result = (int)outcome;
	snprintf(e.last_reason, sizeof(e.last_reason), "%s", o->reason);
	store(o, &e);
	finish(o);
}

static void on_fetch(const struct mts_discovery_fetch_answer *a, void *arg)
{
	struct op *o = arg;
	o->handle = NULL;
	o->fetched = true;
	o->http_status = a->http_status;
	snprintf(o->connected_to, sizeof(o->connected_to), "%s", a->connected_to ? a->connected_to : "");
	if (a->result != MTS_FETCH_OK) {
		mts_findings_add(&o->findings, a->code, 0, 0, "%s", a->message ? a->message : "");
		set_reason(o, "%s", a->message ? a->message : "the fetch failed");
		failed(o, a->result == MTS_FETCH_WEBPKI ? MTS_OUTCOME_WEBPKI
							: MTS_OUTCOME_FETCH_ERROR);
		return;
	}
	struct mts_error err = {0};
	struct mts_policy *p = mts_policy_parse(a->body, a->body_len, &o->findings, &err);
	if (!p) {
		set_reason(o, "the policy is invalid: %s", err.message);
		failed(o, MTS_OUTCOME_INVALID);
		return;
	}
	if (o->cached.policy && strcmp(o->cached.id, o->txt_id) == 0 &&
	    (o->cached.policy_len != a->body_len ||
	     memcmp(o->cached.policy, a->body, a->body_len) != 0))
		mts_findings_add(&o->findings, MTS_F_FETCH_ID_UNCHANGED, 0, 0,
				 "the policy changed but the id is still %s", o->txt_id);
	o->policy = p;
	o->outcome = MTS_OUTCOME_OK;
	o->source = MTS_SOURCE_NETWORK;
	snprintf(o->policy_id, sizeof(o->policy_id), "%s", o->txt_id);
	o->fetched_at = o->now;
	o->expires_at = o->now + (long long)p->max_age;
	struct mts_cache_entry e = {
		.policy = (char *)a->body,
		.policy_len = a->body_len,
		.fetched_at = o->fetched_at,
		.expires_at = o->expires_at,
		.last_attempt = o->now,
		.last_result = MTS_OUTCOME_OK,
	};
	snprintf(e.domain, sizeof(e.domain), "%s", o->domain);
	snprintf(e.id, sizeof(e.id), "%s", o->txt_id);
	store(o, &e);
	finish(o);
}

static void start_fetch(struct op *o)
{
	o->handle = o->d->transport->fetch(o->d->tctx, o->domain, on_fetch, o);
	if (!o->handle) {
		mts_findings_add(&o->findings, MTS_F_FETCH_HTTP, 0, 0, "the fetch could not start");
		set_reason(o, "the fetch could not start");
		failed(o, MTS_OUTCOME_FETCH_ERROR);
	}
}

/* A spread of 0 .. MTS_DISCOVERY_REFETCH_AGE/8 s that is stable per domain,
 * so that a cache full of policies fetched at once is not refetched at once. */
static long long refetch_jitter(const char *domain)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = domain; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return (long long)(h % (MTS_DISCOVERY_REFETCH_AGE / 8));
}

/* Fetch again although the id is unchanged: the policy is close to expiry,
 * or a day old (RFC 8461 §10.2: an attacker who blocks the TXT update must
 * not keep a sender on an old policy until it expires). */
static bool in_refresh_window(const struct op *o)
{
	if (o->now - o->cached.fetched_at >= MTS_DISCOVERY_REFETCH_AGE - refetch_jitter(o->domain))
		return true;
	long long max_age = o->cached.expires_at - o->cached.fetched_at;
	long long margin = max_age / MTS_DISCOVERY_REFRESH_DIVISOR;
	if (margin > MTS_DISCOVERY_REFRESH_MAX)
		margin = MTS_DISCOVERY_REFRESH_MAX;
	return o->now >= o->cached.expires_at - margin;
}

static void keep_txts(struct op *o, const struct mts_discovery_txt_answer *a)
{
	o->txt_dnssec = a->dnssec;
	for (size_t i = 0; i < a->count && o->txt_count < MTS_DISCOVERY_MAX_TXT; i++) {
		char *copy = malloc(a->lens[i] + 1);
		if (!copy)
			break;
		memcpy(copy, a->txts[i], a->lens[i]);
		copy[a->lens[i]] = '\0';
		o->txts[o->txt_count] = copy;
		o->txt_lens[o->txt_count] = a->lens[i];
		o->txt_strings[o->txt_count] = a->strings ? a->strings[i] : 1;
		o->txt_count++;
	}
}

static void on_txt(const struct mts_discovery_txt_answer *a, void *arg)
{
	struct op *o = arg;
	o->handle = NULL;
	keep_txts(o, a);
	if (a->lookup == MTS_LOOKUP_FAILED) {
		enum mts_finding_code code = a->failure;
		if (code != MTS_F_DNS_SERVFAIL && code != MTS_F_DNS_TIMEOUT && code != MTS_F_DNS_BOGUS)
			code = MTS_F_DNS_ERROR;
		mts_findings_add(&o->findings, code, 0, 0, "_mta-sts.%s TXT: %s", o->domain,
				 a->message ? a->message : "lookup failed");
		set_reason(o, "_mta-sts.%s TXT: %s", o->domain,
			   a->message ? a->message : "lookup failed");
		failed(o, MTS_OUTCOME_DNS_ERROR);
		return;
	}
	for (size_t i = 0; i < o->txt_count; i++)
		if (o->txt_strings[i] > 1 && mts_sts_record_is_sts(o->txts[i], o->txt_lens[i]))
			mts_findings_add(&o->findings, MTS_F_STS_RECORD_SPLIT, 0, 0,
					 "the record has %u character-strings, joined without "
					 "spaces", o->txt_strings[i]);
	struct mts_sts_record rec;
	struct mts_error err = {0};
	int rc = MTS_ENOTFOUND;
	if (a->lookup == MTS_LOOKUP_OK && a->count > 0) {
		rc = mts_sts_record_select((const char *const *)o->txts, o->txt_lens, o->txt_count,
					   &rec, &o->findings, &err);
	}
	if (rc < 0) {
		if (a->lookup == MTS_LOOKUP_NXDOMAIN)
			set_reason(o, "_mta-sts.%s does not exist", o->domain);
		else if (rc == MTS_ENOTFOUND)
			set_reason(o, "no v=STSv1 TXT record at _mta-sts.%s", o->domain);
		else
			set_reason(o, "no usable STS record: %s", err.message);
		failed(o, MTS_OUTCOME_NO_POLICY);
		return;
	}
	snprintf(o->txt_id, sizeof(o->txt_id), "%s", rec.id);
	if (o->cache_usable && strcmp(o->cached.id, rec.id) == 0 && !in_refresh_window(o)) {
		/* Same id, not close to expiry: no fetch (RFC 8461 §5.1). */
		if (use_cached(o)) {
			o->outcome = MTS_OUTCOME_OK;
			if (o->cached.last_failure) {
				struct mts_cache_entry e = o->cached;
				e.last_failure = 0;
				e.failures = 0;
				e.last_result = MTS_OUTCOME_OK;
				e.last_reason[0] = '\0';
				store(o, &e);
			}
			finish(o);
			return;
		}
	}
	if (o->cache_usable && strcmp(o->cached.id, rec.id) != 0)
		mts_findings_add(&o->findings, MTS_F_FETCH_ID_CHANGED, 0, 0,
				 "the id changed from %s to %s", o->cached.id, rec.id);
	start_fetch(o);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	finish(arg);
}

static int add_waiter(struct op *o, mts_discovery_cb cb, void *arg)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return MTS_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	*o->waiters_tail = w;
	o->waiters_tail = &w->next;
	return 0;
}

/* Read the cache; decide whether a remembered failure answers at once. */
static bool answer_from_memory(struct op *o)
{
	struct mts_discovery *d = o->d;
	struct mts_error err = {0};
	int rc = mts_cache_get(d->cache, o->domain, &o->cached, &err);
	if (rc < 0) {
		if (rc != MTS_ENOTFOUND)
			snprintf(o->cache_error, sizeof(o->cache_error), "%s", err.message);
		memset(&o->cached, 0, sizeof(o->cached));
		return false;
	}
	if (o->cached.policy) {
		if (o->now < o->cached.expires_at) {
			o->cache_usable = true;
		} else {
			mts_findings_add(&o->findings, MTS_F_FETCH_CACHE_EXPIRED, 0, 0,
					 "the cached policy (id %s) expired %lld s ago",
					 o->cached.id, o->now - o->cached.expires_at);
		}
	}
	if (d->opts.no_negative || !o->cached.last_failure ||
	    o->now >= o->cached.last_failure + backoff(d, o->cached.failures))
		return false;
	/* A recent failure: answer without the network until the backoff ends. */
	set_reason(o, "%s (remembered for %lld s more)", o->cached.last_reason,
		   o->cached.last_failure + backoff(d, o->cached.failures) - o->now);
	int last = o->cached.last_result;
	o->outcome = last >= MTS_OUTCOME_OK && last <= MTS_OUTCOME_DNS_ERROR
			     ? (enum mts_discovery_outcome)last
			     : MTS_OUTCOME_FETCH_ERROR;
	if (use_cached(o)) {
		mts_findings_add(&o->findings, MTS_F_FETCH_CACHED, 0, 0,
				 "using the cached policy (id %s) after a recent failure: %s",
				 o->cached.id, o->cached.last_reason);
	} else {
		o->source = MTS_SOURCE_NEGATIVE;
	}
	return true;
}

int mts_discovery_lookup(struct mts_discovery *d, const char *domain, mts_discovery_cb cb,
			 void *arg, struct mts_error *err)
{
	char name[MTS_DNAME_MAX + 1];
	if (!domain || mts_dname_normalize(domain, strlen(domain), false, name, NULL) != MTS_DNAME_OK)
		return mts_error_set(err, MTS_EINVAL, "'%.64s' is not a valid domain name",
				     domain ? domain : "(null)");
	struct op **slot = bucket_slot(d, name);
	if (*slot) /* coalesce: one discovery per domain in flight */
		return add_waiter(*slot, cb, arg) < 0
			       ? mts_error_set(err, MTS_ENOMEM, "out of memory")
			       : 0;
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	o->d = d;
	o->waiters_tail = &o->waiters;
	snprintf(o->domain, sizeof(o->domain), "%s", name);
	mts_findings_init(&o->findings);
	o->findings.subject = o->domain;
	o->now = now_of(d);
	if (add_waiter(o, cb, arg) < 0) {
		free(o);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	*slot = o;
	d->pending++;
	if (answer_from_memory(o)) {
		struct timeval zero = {0, 0};
		o->defer = evtimer_new(d->base, on_defer, o);
		if (!o->defer || evtimer_add(o->defer, &zero) < 0) {
			op_free(o);
			return mts_error_set(err, MTS_ENOMEM, "cannot schedule the answer");
		}
		return 0;
	}
	o->handle = d->transport->txt(d->tctx, o->domain, on_txt, o);
	if (!o->handle) {
		op_free(o);
		return mts_error_set(err, MTS_EIO, "the TXT lookup could not start");
	}
	return 0;
}

int mts_discovery_cancel(struct mts_discovery *d, const char *domain, mts_discovery_cb cb,
			 void *arg)
{
	char name[MTS_DNAME_MAX + 1];
	if (!domain || mts_dname_normalize(domain, strlen(domain), false, name, NULL) != MTS_DNAME_OK)
		return MTS_ENOTFOUND;
	struct op *o = *bucket_slot(d, name);
	if (!o)
		return MTS_ENOTFOUND;
	for (struct waiter **p = &o->waiters; *p; p = &(*p)->next) {
		struct waiter *w = *p;
		if (w->cb != cb || w->arg != arg)
			continue;
		*p = w->next;
		if (o->waiters_tail == &w->next)
			o->waiters_tail = p;
		free(w);
		return 0;
	}
	return MTS_ENOTFOUND;
}

size_t mts_discovery_pending(const struct mts_discovery *d)
{
	return d->pending;
}

struct mts_discovery *mts_discovery_new(struct event_base *base, struct mts_cache *cache,
					const struct mts_discovery_transport *transport,
					void *tctx, const struct mts_discovery_opts *opts,
					struct mts_error *err)
{
	if (!base || !cache || !transport) {
		mts_error_set(err, MTS_EUSAGE, "discovery needs a loop, a cache and a transport");
		return NULL;
	}
	struct mts_discovery *d = calloc(1, sizeof(*d));
	if (!d) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	d->base = base;
	d->cache = cache;
	d->transport = transport;
	d->tctx = tctx;
	if (opts)
		d->opts = *opts;
	if (!d->opts.clock)
		d->opts.clock = real_clock;
	if (!d->opts.negative_ttl)
		d->opts.negative_ttl = MTS_DISCOVERY_NEGATIVE_TTL;
	if (!d->opts.negative_ttl_max)
		d->opts.negative_ttl_max = MTS_DISCOVERY_NEGATIVE_TTL_MAX;
	if (d->opts.negative_ttl_max < d->opts.negative_ttl)
		d->opts.negative_ttl_max = d->opts.negative_ttl;
	return d;
}

void mts_discovery_free(struct mts_discovery *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < MTS_DISCOVERY_BUCKETS; i++)
		while (d->buckets[i])
			op_free(d->buckets[i]);
	free(d);
}
