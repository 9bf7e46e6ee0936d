/* resolver.c - the socketmap server of `mtasts resolver` (see resolver.h).
 *
 * One libevent loop, and plain events on the sockets: answers are handed
 * to the kernel as soon as they are ready, without an event round trip (a
 * cached answer costs one recv and one send, as a bufferevent would cost
 * seven system calls). A connection holds a queue of requests in arrival
 * order; each request is answered from the answer cache, or waits for a
 * discovery (coalesced per domain by the engine) bounded by its zone's
 * timeout; answers leave strictly in order. The control socket speaks the
 * same netstring framing with "COMMAND ARG" requests and JSON answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <jansson.h>

#include "mtasts/dns.h"
#include "mtasts/netstring.h"
#include "mtasts/resolver.h"
#include "mtasts/text.h"

#define ANSWER_BUCKETS 16384
#define ANSWER_ENTRIES_MIN 1000
#define OUTPUT_MAX (1024 * 1024)   /* bytes queued to a client that does not read */
#define DANE_MX_MAX 8              /* MX hosts checked for TLSA */
#define CTL_ANSWER_MAX (4 * 1024 * 1024)

/* Upper bounds (s) of the histogram of lookups that waited for the network. */
static const double wait_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10};
#define WAIT_BUCKETS (sizeof(wait_buckets) / sizeof(wait_buckets[0]))

struct answer {
	struct answer *next_in_bucket, *older, *newer;
	char key[MTS_RESOLVER_NAME_MAX + MTS_DNAME_MAX + 2]; /* zone '\t' domain */
	const char *domain;          /* inside key */
	char *text;
	size_t len;
	enum mts_resolver_kind kind;
	long long made_at, expires_at; /* expires_at: the policy's; 0 = none */
};

struct conn;

struct request {
	struct request *next;
	struct conn *conn;
	struct mts_resolver_zone zone;
	char domain[MTS_DNAME_MAX + 1];
	char command[16];            /* control requests */
	char *answer;
	size_t answer_len;
	bool done, waiting;
	struct event *timer;
	struct dane_slot {
		struct request *q;
		struct mts_dns_query *query; /* NULL once answered or cancelled */
	} dns[DANE_MX_MAX + 1];              /* [0] MX, then one TLSA per MX host */
	size_t dns_pending;
	bool dane_secure, dane_temp;
	double started;              /* monotonic s */
};

struct conn {
	struct mts_resolver *r;
	struct conn *prev, *next;
	evutil_socket_t fd;
	struct event *ev_read, *ev_write, *ev_idle;
	struct evbuffer *out;        /* answers not yet taken by the kernel */
	char *in;                    /* bytes of requests not yet complete */
	size_t in_len, in_cap;
	int in_use;                  /* inside process_input: do not free */
	bool dead;                   /* freed once process_input returns */
	struct request *head, **tail;
	size_t inflight;
	bool control, closing, paused;
};

struct refresh {
	struct mts_resolver *r;
	char zone[MTS_RESOLVER_NAME_MAX + 1];
	char domain[MTS_DNAME_MAX + 1];
};

struct mts_resolver {
	struct event_base *base;
	struct mts_resolver_config cfg;
	struct mts_resolver_opts opts;
	struct evconnlistener *listener, *control;
	char unix_path[108], control_path[108]; /* to unlink at the end */
	struct mts_cache *cache;
	struct mts_discovery_net *net;
	struct mts_discovery *discovery;
	struct mts_dns *dns;         /* DANE checks */
	struct conn *conns;
	size_t conn_count;
	struct answer *buckets[ANSWER_BUCKETS];
	struct answer *newest, *oldest;
	size_t answer_count;
	struct event *proactive_timer, *shutdown_timer;
	struct refresh *refresh_jobs;
	size_t refresh_count, refresh_next, refresh_running;
	bool shutting_down, finished;
	unsigned long long counters[6]; /* answers by kind */
	unsigned long long requests, cache_hits, timeouts;
	unsigned long long outcomes[MTS_OUTCOME_DNS_ERROR + 1]; /* discovery results */
	unsigned long long fetches[MTS_OUTCOME_DNS_ERROR + 1];  /* ... that fetched */
	unsigned long long wait_counts[WAIT_BUCKETS + 1];
	double wait_sum;
	struct evhttp *http;
	struct evhttp_bound_socket *http_socket;
};

static void logf_(struct mts_resolver *r, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct mts_resolver *r, int prio, const char *fmt, ...)
{
	if (!r->opts.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->opts.log(prio, msg, r->opts.log_arg);
}

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_of(struct mts_resolver *r)
{
	return r->opts.clock ? r->opts.clock(r->opts.clock_arg) : (long long)time(NULL);
}

/* ---- the answer cache ------------------------------------------------- */

static uint32_t hash_key(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void make_key(char *key, size_t cap, const char *zone, const char *domain)
{
	snprintf(key, cap, "%s\t%s", zone, domain);
}

static struct answer **answer_slot(struct mts_resolver *r, const char *key)
{
	struct answer **slot = &r->buckets[hash_key(key) % ANSWER_BUCKETS];
	while (*slot && strcmp((*slot)->key, key) != 0)
		slot = &(*slot)->next_in_bucket;
	return slot;
}

static void answer_remove(struct mts_resolver *r, struct answer *a)
{
	struct answer **slot = answer_slot(r, a->key);
	if (*slot == a)
		*slot = a->next_in_bucket;
	if (a->older)
		a->older->newer = a->newer;
	else
		r->oldest = a->newer;
	if (a->newer)
		a->newer->older = a->older;
	else
		r->newest = a->older;
	r->answer_count--;
	free(a->text);
	free(a);
}

static size_t answer_max(const struct mts_resolver *r)
{
	return r->cfg.cache_size > ANSWER_ENTRIES_MIN ? r->cfg.cache_size : ANSWER_ENTRIES_MIN;
}

static void answer_store(struct mts_resolver *r, const char *zone, const char *domain,
			 const char *text, size_t len, enum mts_resolver_kind kind, long long now,
			 long long expires_at)
{
	char key[sizeof(((struct answer *)0)->key)];
	make_key(key, sizeof(key), zone, domain);
	struct answer **slot = answer_slot(r, key);
	if (*slot)
		answer_remove(r, *slot);
	while (r->answer_count >= answer_max(r) && r->oldest)
		answer_remove(r, r->oldest);
	struct answer *a = calloc(1, sizeof(*a));
	char *copy = mts_strndup(text, len);
	if (!a || !copy) {
		free(a);
		free(copy);
		return;
	}
	memcpy(a->key, key, sizeof(key));
	a->domain = strchr(a->key, '\t') + 1;
	a->text = copy;
	a->len = len;
	a->kind = kind;
	a->made_at = now;
	a->expires_at = expires_at;
	slot = answer_slot(r, key);
	a->next_in_bucket = *slot;
	*slot = a;
	a->older = r->newest;
	if (r->newest)
		r->newest->newer = a;
	else
		r->oldest = a;
	r->newest = a;
	r->answer_count++;
}

static struct answer *answer_fresh(struct mts_resolver *r, const char *zone, const char *domain,
				   long long now)
{
	char key[sizeof(((struct answer *)0)->key)];
	make_key(key, sizeof(key), zone, domain);
	struct answer *a = *answer_slot(r, key);
	if (!a)
		return NULL;
	if ((double)(now - a->made_at) >= r->cfg.cache_grace ||
	    (a->expires_at && now >= a->expires_at))
		return NULL;
	return a;
}

static void answers_clear(struct mts_resolver *r)
{
	while (r->oldest)
		answer_remove(r, r->oldest);
}

/* ---- connections -------------------------------------------------------- */

static void conn_free(struct conn *c);
static void process_input(struct conn *c);
static void try_write(struct conn *c);
static void on_discovered(const struct mts_discovery_result *res, void *arg);

static void cancel_dns(struct request *q)
{
	for (size_t i = 0; i < sizeof(q->dns) / sizeof(q->dns[0]); i++)
		if (q->dns[i].query) {
			mts_dns_cancel(q->dns[i].query);
			q->dns[i].query = NULL;
		}
	q->dns_pending = 0;
}

static void request_free(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	if (q->waiting)
		(void)mts_discovery_cancel(r->discovery, q->domain, on_discovered, q);
	cancel_dns(q);
	if (q->timer)
		event_free(q->timer);
	free(q->answer);
	free(q);
}

static void maybe_finish_shutdown(struct mts_resolver *r)
{
	if (r->shutting_down && r->conn_count == 0 && !r->finished) {
		r->finished = true;
		event_base_loopbreak(r->base);
	}
}

static void write_answer(struct conn *c, const char *text, size_t len)
{
	struct evbuffer *out = c->out;
	char frame[512];
	int n = snprintf(frame, sizeof(frame), "%zu:", len);
	if ((size_t)n + len + 1 <= sizeof(frame)) { /* the usual case: one copy */
		memcpy(frame + n, text, len);
		frame[(size_t)n + len] = ',';
		evbuffer_add(out, frame, (size_t)n + len + 1);
		return;
	}
	evbuffer_add(out, frame, (size_t)n);
	evbuffer_add(out, text, len);
	evbuffer_add(out, ",", 1);
}

/* Write every answer at the head of the queue that is ready, in order. */
static void flush(struct conn *c)
{
	while (c->head && c->head->done) {
		struct request *q = c->head;
		write_answer(c, q->answer, q->answer_len);
		c->head = q->next;
		if (!c->head)
			c->tail = &c->head;
		c->inflight--;
		request_free(q);
	}
	if (c->in_use)
		return; /* process_input writes when it is done */
	if (c->paused && !c->closing && c->inflight < MTS_RESOLVER_PIPELINE_MAX &&
	    evbuffer_get_length(c->out) < OUTPUT_MAX) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		process_input(c); /* may free c */
		return;
	}
	try_write(c); /* may free c */
}

static void complete(struct request *q, const char *text, size_t len, enum mts_resolver_kind kind)
{
	struct mts_resolver *r = q->conn->r;
	if (q->done)
		return;
	free(q->answer);
	q->answer = mts_strndup(text, len);
	q->answer_len = q->answer ? len : 0;
	if (!q->answer) {
		q->answer = mts_strndup("TEMP out of memory", 18);
		q->answer_len = q->answer ? 18 : 0;
	}
	q->done = true;
	if (!q->conn->control && kind <= MTS_ANSWER_PERM)
		r->counters[kind]++;
	if (q->timer) { /* it waited for the network (or for its timeout) */
		double waited = monotonic() - q->started;
		size_t b = 0;
		while (b < WAIT_BUCKETS && waited > wait_buckets[b])
			b++;
		r->wait_counts[b]++;
		r->wait_sum += waited;
	}
	if (r->opts.verbose && !q->conn->control)
		logf_(r, LOG_INFO, "lookup zone=%s domain=%s answer=%s",
		      q->zone.name[0] ? q->zone.name : "default", q->domain,
		      mts_resolver_kind_name(kind));
	if (q->timer)
		evtimer_del(q->timer);
	flush(q->conn);
}

static void complete_str(struct request *q, const char *text, enum mts_resolver_kind kind)
{
	complete(q, text, strlen(text), kind);
}

static void complete_json(struct request *q, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!text) {
		complete_str(q, "{\"error\":\"out of memory\"}", MTS_ANSWER_PERM);
		return;
	}
	if (strlen(text) > CTL_ANSWER_MAX)
		complete_str(q, "{\"error\":\"answer too long\"}", MTS_ANSWER_PERM);
	else
		complete_str(q, text, MTS_ANSWER_POLICY);
	free(text);
}

static json_t *result_json(const struct mts_discovery_result *res)
{
	json_t *policy = json_null();
	if (res->policy) {
		json_t *mx = json_array();
		for (size_t i = 0; i < res->policy->mx_count; i++)
			json_array_append_new(mx, json_string(res->policy->mx[i]));
		policy = json_pack("{s:s, s:s, s:I, s:o, s:I, s:I}", "id", res->policy_id, "mode",
				   mts_mode_name(res->policy->mode), "max_age",
				   (json_int_t)res->policy->max_age, "mx", mx, "fetched_at",
				   (json_int_t)res->fetched_at, "expires_at",
				   (json_int_t)res->expires_at);
	}
	return json_pack("{s:s, s:s, s:s, s:o}", "outcome",
			 mts_discovery_outcome_name(res->outcome), "source",
			 mts_policy_source_name(res->source), "reason", res->reason, "policy",
			 policy);
}

static void on_discovered(const struct mts_discovery_result *res, void *arg)
{
	struct request *q = arg;
	struct mts_resolver *r = q->conn->r;
	q->waiting = false;
	r->outcomes[res->outcome]++;
	if (res->fetched)
		r->fetches[res->outcome]++;
	if (res->cache_error[0])
		logf_(r, LOG_ERR, "cache error domain=%s: %s", q->domain, res->cache_error);
	char text[MTS_RESOLVER_ANSWER_MAX];
	enum mts_resolver_kind kind;
	long n = mts_resolver_answer(&q->zone, res, text, sizeof(text), &kind);
	if (n < 0) {
		logf_(r, LOG_WARNING, "domain=%s: the answer is longer than %d bytes", q->domain,
		      MTS_RESOLVER_ANSWER_MAX);
		n = snprintf(text, sizeof(text), "TEMP policy too long for an answer");
		kind = MTS_ANSWER_TEMP;
	}
	if (kind != MTS_ANSWER_TEMP)
		answer_store(r, q->zone.name, q->domain, text, (size_t)n, kind, now_of(r),
			     res->policy ? res->expires_at : 0);
	if (q->conn->control) {
		json_t *v = result_json(res);
		json_object_set_new(v, "domain", json_string(q->domain));
		json_object_set_new(v, "zone", json_string(q->zone.name));
		json_object_set_new(v, "answer", json_stringn(text, (size_t)n));
		complete_json(q, v);
		return;
	}
	complete(q, text, (size_t)n, kind);
}

/* Answer from the cache's unexpired policy, if there is one. */
static bool answer_from_cache(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	struct mts_cache_entry e;
	struct mts_error err = {0};
	if (mts_cache_get(r->cache, q->domain, &e, &err) != 0)
		return false;
	long long now = now_of(r);
	bool ok = false;
	struct mts_policy *p = NULL;
	if (e.policy && e.expires_at > now)
		p = mts_policy_parse(e.policy, e.policy_len, NULL, NULL);
	if (p) {
		struct mts_discovery_result res = {
			.domain = q->domain, .outcome = MTS_OUTCOME_OK, .source = MTS_SOURCE_CACHE,
			.policy = p, .policy_id = e.id, .txt_id = "", .reason = "", .now = now,
			.fetched_at = e.fetched_at, .expires_at = e.expires_at, .connected_to = "",
			.cache_error = "",
		};
		char text[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind;
		long n = mts_resolver_answer(&q->zone, &res, text, sizeof(text), &kind);
		if (n >= 0 && kind != MTS_ANSWER_TEMP) {
			logf_(r, LOG_NOTICE, "domain=%s: answered from the cached policy (id %s) "
			      "while the lookup goes on", q->domain, e.id);
			complete(q, text, (size_t)n, kind);
			ok = true;
		}
		mts_policy_free(p);
	}
	mts_cache_entry_clear(&e);
	return ok;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct request *q = arg;
	struct mts_resolver *r = q->conn->r;
	if (q->waiting) {
		(void)mts_discovery_cancel(r->discovery, q->domain, on_discovered, q);
		q->waiting = false;
	}
	/* DANE not settled (still asking, or failed): never fall back to STS. */
	bool dane_unsettled = q->dns_pending > 0 || q->dane_temp;
	cancel_dns(q);
	r->timeouts++;
	logf_(r, LOG_WARNING, "lookup timeout zone=%s domain=%s after %u s",
	      q->zone.name[0] ? q->zone.name : "default", q->domain, q->zone.timeout);
	/* RFC 8461 §5.1: while DNS or the fetch fails, an unexpired cached
	 * policy stays in force. The lookup goes on in the background; until
	 * it ends, this is what Postfix gets rather than TEMP. */
	if (!q->conn->control && !dane_unsettled && answer_from_cache(q))
		return;
	char text[128];
	snprintf(text, sizeof(text), "TEMP no answer within %u s", q->zone.timeout);
	if (q->conn->control)
		complete_json(q, json_pack("{s:s, s:s}", "domain", q->domain, "answer", text));
	else
		complete_str(q, text, MTS_ANSWER_TEMP);
}

static void start_sts(struct request *q)
{
	struct mts_error err = {0};
	q->waiting = true;
	if (mts_discovery_lookup(q->conn->r->discovery, q->domain, on_discovered, q, &err) < 0) {
		q->waiting = false;
		char text[MTS_ERROR_MSG_MAX + 8];
		snprintf(text, sizeof(text), "TEMP %s", err.message);
		complete_str(q, text, MTS_ANSWER_TEMP);
	}
}

/* DANE precedence (RFC 8461 §2): MX hosts with DNSSEC-validated TLSA
 * records get the DANE answer; a failed lookup never falls back to STS. */
static void dane_done(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	if (q->dane_secure) {
		char text[96];
		snprintf(text, sizeof(text), "OK %s", r->cfg.dane_answer);
		answer_store(r, q->zone.name, q->domain, text, strlen(text), MTS_ANSWER_DANE,
			     now_of(r), 0);
		if (q->conn->control)
			complete_json(q, json_pack("{s:s, s:s}", "domain", q->domain, "answer",
						   text));
		else
			complete_str(q, text, MTS_ANSWER_DANE);
	} else if (q->dane_temp) {
		const char *text = "TEMP the DANE (MX or TLSA) lookup failed";
		if (q->conn->control)
			complete_json(q, json_pack("{s:s, s:s}", "domain", q->domain, "answer",
						   text));
		else
			complete_str(q, text, MTS_ANSWER_TEMP);
	} else {
		start_sts(q);
	}
}

static bool dns_temporary(const struct mts_dns_result *res)
{
	return res->status == MTS_DNS_SERVFAIL || res->status == MTS_DNS_TIMEOUT ||
	       res->status == MTS_DNS_FAILED || res->dnssec == MTS_DNSSEC_BOGUS;
}

static void on_tlsa(const struct mts_dns_result *res, void *arg)
{
	struct dane_slot *slot = arg;
	struct request *q = slot->q;
	slot->query = NULL; /* the handle ends with its callback */
	q->dns_pending--;
	if (res->status == MTS_DNS_OK && res->dnssec == MTS_DNSSEC_SECURE && res->count > 0)
		q->dane_secure = true;
	else if (dns_temporary(res))
		q->dane_temp = true;
	if (q->dns_pending == 0)
		dane_done(q);
}

static void on_mx(const struct mts_dns_result *res, void *arg)
{
	struct dane_slot *slot = arg;
	struct request *q = slot->q;
	struct mts_resolver *r = q->conn->r;
	slot->query = NULL;
	if (dns_temporary(res)) {
		q->dane_temp = true;
		dane_done(q);
		return;
	}
	if (res->status != MTS_DNS_OK || res->dnssec != MTS_DNSSEC_SECURE || res->null_mx) {
		dane_done(q); /* no signed MX: DANE does not apply */
		return;
	}
	size_t hosts = res->count < DANE_MX_MAX ? res->count : DANE_MX_MAX;
	/* Count first: a callback never runs inside mts_dns_lookup(). */
	for (size_t i = 0; i < hosts; i++) {
		char name[MTS_DNAME_MAX + 16];
		snprintf(name, sizeof(name), "_25._tcp.%s", res->mx[i].host);
		struct mts_error err = {0};
		q->dns[i + 1].q = q;
		q->dns[i + 1].query =
			mts_dns_lookup(r->dns, name, MTS_DNS_TLSA, on_tlsa, &q->dns[i + 1], &err);
		if (q->dns[i + 1].query)
			q->dns_pending++;
		else
			q->dane_temp = true;
	}
	if (q->dns_pending == 0)
		dane_done(q);
}

static void start_lookup(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	struct timeval tv = {.tv_sec = q->zone.timeout};
	q->timer = evtimer_new(r->base, on_timeout, q);
	if (q->timer)
		evtimer_add(q->timer, &tv);
	if (r->dns) {
		struct mts_error err = {0};
		q->dns[0].q = q;
		q->dns[0].query = mts_dns_lookup(r->dns, q->domain, MTS_DNS_MX, on_mx, &q->dns[0], &err);
		if (!q->dns[0].query) {
			q->dane_temp = true;
			dane_done(q);
		}
		return;
	}
	start_sts(q);
}

static json_t *entry_json(struct mts_resolver *r, const char *domain)
{
	struct mts_cache_entry e;
	struct mts_error err = {0};
	if (mts_cache_get(r->cache, domain, &e, &err) < 0)
		return NULL;
	json_t *v = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s}", "domain", e.domain, "id",
			      e.id, "policy",
			      e.policy ? json_stringn(e.policy, e.policy_len) : json_null(),
			      "fetched_at", (json_int_t)e.fetched_at, "expires_at",
			      (json_int_t)e.expires_at, "last_failure", (json_int_t)e.last_failure,
			      "failures", (json_int_t)e.failures, "last_reason", e.last_reason);
	mts_cache_entry_clear(&e);
	return v;
}

/* Distinct domains of the answer cache, newest first, into a JSON object
 * used as a set. */
static json_t *known_domains(struct mts_resolver *r)
{
	json_t *set = json_object();
	for (struct answer *a = r->newest; a; a = a->older)
		json_object_set_new(set, a->domain, json_true());
	return set;
}

static void handle_control(struct request *q, const char *cmd, size_t cmd_len, const char *arg,
			   size_t arg_len)
{
	struct mts_resolver *r = q->conn->r;
	long long now = now_of(r);
	char word[16] = "";
	if (cmd_len < sizeof(word))
		memcpy(word, cmd, cmd_len);
	snprintf(q->command, sizeof(q->command), "%s", word);
	if (strcmp(word, "query") == 0) {
		/* "query DOMAIN" or "query ZONE DOMAIN": always a fresh lookup. */
		const char *sp = memchr(arg, ' ', arg_len);
		const char *zone = "", *key = arg;
		size_t zone_len = 0, key_len = arg_len;
		if (sp) {
			zone = arg;
			zone_len = (size_t)(sp - arg);
			key = sp + 1;
			key_len = arg_len - zone_len - 1;
		}
		q->zone = *mts_resolver_zone_find(&r->cfg, zone, zone_len);
		if (mts_tls_policy_key(key, key_len, q->domain) != MTS_TLS_KEY_DOMAIN) {
			complete_json(q, json_pack("{s:s%, s:s}", "domain", key, key_len, "answer",
						   "NOTFOUND "));
			return;
		}
		start_lookup(q);
		return;
	}
	if (strcmp(word, "dump") == 0) {
		json_t *list = json_array();
		for (struct answer *a = r->newest; a; a = a->older)
			json_array_append_new(
				list, json_pack("{s:s%, s:s, s:s, s:s%, s:I, s:I}", "zone", a->key,
						(size_t)(a->domain - a->key - 1), "domain",
						a->domain, "kind", mts_resolver_kind_name(a->kind),
						"answer", a->text, a->len, "age",
						(json_int_t)(now - a->made_at), "expires_at",
						(json_int_t)a->expires_at));
		complete_json(q, json_pack("{s:o}", "answers", list));
		return;
	}
	if (strcmp(word, "export") == 0) {
		json_t *set = known_domains(r), *list = json_array();
		const char *domain;
		json_t *unused;
		json_object_foreach(set, domain, unused) {
			json_t *e = entry_json(r, domain);
			if (e)
				json_array_append_new(list, e);
		}
		json_decref(set);
		complete_json(q, json_pack("{s:o}", "policies", list));
		return;
	}
	if (strcmp(word, "purge") == 0) {
		char domain[MTS_DNAME_MAX + 1] = "";
		bool all = arg_len == 3 && memcmp(arg, "all", 3) == 0;
		if (!all && mts_tls_policy_key(arg, arg_len, domain) != MTS_TLS_KEY_DOMAIN) {
			complete_json(q, json_pack("{s:s}", "error", "purge DOMAIN or purge all"));
			return;
		}
		json_t *set = all ? known_domains(r) : json_object();
		if (!all)
			json_object_set_new(set, domain, json_true());
		size_t purged = 0;
		const char *d;
		json_t *unused;
		json_object_foreach(set, d, unused) {
			struct mts_error err = {0};
			for (struct answer *a = r->oldest, *next; a; a = next) {
				next = a->newer;
				if (strcmp(a->domain, d) == 0)
					answer_remove(r, a);
			}
			if (mts_cache_delete(r->cache, d, &err) == 0)
				purged++;
		}
		json_decref(set);
		logf_(r, LOG_NOTICE, "purge %.*s: %zu cached policies removed", (int)arg_len, arg,
		      purged);
		complete_json(q, json_pack("{s:I}", "purged", (json_int_t)purged));
		return;
	}
	if (strcmp(word, "stats") == 0) {
		complete_json(q, json_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}}",
					   "requests", (json_int_t)r->requests, "cache_hits",
					   (json_int_t)r->cache_hits, "timeouts",
					   (json_int_t)r->timeouts, "connections",
					   (json_int_t)r->conn_count, "answers", "policy",
					   (json_int_t)r->counters[MTS_ANSWER_POLICY], "notfound",
					   (json_int_t)r->counters[MTS_ANSWER_NOTFOUND], "temp",
					   (json_int_t)r->counters[MTS_ANSWER_TEMP], "failure",
					   (json_int_t)r->counters[MTS_ANSWER_FAILURE], "dane",
					   (json_int_t)r->counters[MTS_ANSWER_DANE]));
		return;
	}
	complete_json(q, json_pack("{s:s}", "error",
				   "unknown command (query, dump, export, purge, stats)"));
}

/* A lookup request answered without waiting: unusable input, or a fresh
 * answer in the cache. Returns true with *text and *kind set; otherwise
 * zone and domain are filled for the lookup. */
static bool answer_now(struct mts_resolver *r, const char *payload, size_t len,
		       struct mts_resolver_zone *zone, char domain[MTS_DNAME_MAX + 1],
		       const char **text, size_t *text_len, enum mts_resolver_kind *kind)
{
	const char *name, *key;
	size_t name_len, key_len;
	if (mts_socketmap_split(payload, len, &name, &name_len, &key, &key_len) < 0) {
		if (len > 0 && payload[0] != ' ' && memchr(payload, ' ', len)) {
			*text = "NOTFOUND "; /* "NAME " */
			*kind = MTS_ANSWER_NOTFOUND;
		} else {
			*text = "PERM expected NAME SPACE KEY";
			*kind = MTS_ANSWER_PERM;
		}
		*text_len = strlen(*text);
		return true;
	}
	*zone = *mts_resolver_zone_find(&r->cfg, name, name_len);
	if (mts_tls_policy_key(key, key_len, domain) != MTS_TLS_KEY_DOMAIN) {
		*text = "NOTFOUND ";
		*text_len = 9;
		*kind = MTS_ANSWER_NOTFOUND;
		return true;
	}
	struct answer *a = answer_fresh(r, zone->name, domain, now_of(r));
	if (!a)
		return false;
	r->cache_hits++;
	*text = a->text;
	*text_len = a->len;
	*kind = a->kind;
	return true;
}

static void handle_request(struct conn *c, const char *payload, size_t len)
{
	struct mts_resolver *r = c->r;
	struct mts_resolver_zone zone = {0};
	char domain[MTS_DNAME_MAX + 1] = "";
	const char *text = NULL;
	size_t text_len = 0;
	enum mts_resolver_kind kind = MTS_ANSWER_PERM;
	bool now = false;
	if (!c->control) {
		now = answer_now(r, payload, len, &zone, domain, &text, &text_len, &kind);
		if (now && !c->head) { /* nothing queued before it: write at once */
			r->requests++;
			r->counters[kind]++;
			if (r->opts.verbose)
				logf_(r, LOG_INFO, "lookup zone=%s domain=%s answer=%s",
				      zone.name[0] ? zone.name : "default",
				      kind == MTS_ANSWER_PERM ? "-" : domain,
				      mts_resolver_kind_name(kind));
			write_answer(c, text, text_len);
			return;
		}
	}
	struct request *q = calloc(1, sizeof(*q));
	if (!q) {
		c->closing = true;
		return;
	}
	q->conn = c;
	q->started = monotonic();
	*c->tail = q;
	c->tail = &q->next;
	c->inflight++;
	r->requests++;
	if (!c->control) {
		if (now) {
			complete(q, text, text_len, kind);
		} else {
			q->zone = zone;
			memcpy(q->domain, domain, sizeof(domain));
			start_lookup(q);
		}
		return;
	}
	const char *name, *key;
	size_t name_len, key_len;
	if (mts_socketmap_split(payload, len, &name, &name_len, &key, &key_len) < 0) {
		if (len > 0 && !memchr(payload, ' ', len))
			handle_control(q, payload, len, "", 0);
		else
			complete_str(q, "PERM expected COMMAND [ARG]", MTS_ANSWER_PERM);
		return;
	}
	handle_control(q, name, name_len, key, key_len);
}

static void protocol_error(struct conn *c, const char *why)
{
	struct mts_resolver *r = c->r;
	logf_(r, LOG_NOTICE, "client error: %s; closing the connection", why);
	struct request *q = calloc(1, sizeof(*q));
	c->closing = true;
	event_del(c->ev_read);
	c->in_len = 0;
	if (!q)
		return;
	q->conn = c;
	*c->tail = q;
	c->tail = &q->next;
	c->inflight++;
	char text[96];
	snprintf(text, sizeof(text), "PERM %s", why);
	complete_str(q, text, MTS_ANSWER_PERM);
}

/* Take every complete request from the input buffer, in order. */
static void process_input(struct conn *c)
{
	struct mts_resolver *r = c->r;
	size_t max = c->control ? 4096 : r->cfg.max_request;
	size_t off = 0;
	c->in_use++;
	while (!c->closing && off < c->in_len) {
		if (c->inflight >= MTS_RESOLVER_PIPELINE_MAX ||
		    evbuffer_get_length(c->out) >= OUTPUT_MAX) {
			c->paused = true;
			event_del(c->ev_read);
			break;
		}
		const char *payload;
		size_t plen, used;
		int rc = mts_netstring_parse(c->in + off, c->in_len - off, max, &payload, &plen,
					     &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			protocol_error(c, rc == MTS_ETOOBIG ? "request too long"
							    : "malformed netstring");
			off = c->in_len = 0;
			break;
		}
		off += used;
		handle_request(c, payload, plen);
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	c->in_use--;
	if (c->dead) {
		conn_free(c);
		return;
	}
	try_write(c);
}

/* Hand the answers to the kernel now (no event round trip); wait for
 * writability only when it does not take them all. */
static void try_write(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		int n = evbuffer_write(c->out, c->fd);
		if (n <= 0) {
			if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				if (!event_pending(c->ev_write, EV_WRITE, NULL))
					event_add(c->ev_write, NULL);
				return;
			}
			conn_free(c); /* the client went away */
			return;
		}
	}
	if (event_pending(c->ev_write, EV_WRITE, NULL))
		event_del(c->ev_write);
	if (c->closing && !c->head) {
		conn_free(c);
		return;
	}
	if (c->paused && !c->closing && c->inflight < MTS_RESOLVER_PIPELINE_MAX) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		process_input(c);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->in_len == c->in_cap) { /* cannot happen: the parser refuses before */
		protocol_error(c, "request too long");
		try_write(c);
		return;
	}
	ssize_t got = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (got <= 0) {
		conn_free(c); /* EOF or error: nobody is left to answer */
		return;
	}
	c->in_len += (size_t)got;
	struct timeval idle = {.tv_sec = c->r->cfg.idle_timeout};
	evtimer_add(c->ev_idle, &idle);
	process_input(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	try_write(arg);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval idle = {.tv_sec = c->r->cfg.idle_timeout};
	if (c->head || c->paused || evbuffer_get_length(c->out) > 0) { /* busy, not idle */
		evtimer_add(c->ev_idle, &idle);
		return;
	}
	logf_(c->r, LOG_INFO, "closing an idle client after %u s", c->r->cfg.idle_timeout);
	conn_free(c);
}

/* Free what a connection owns (events, buffers, socket) and itself; it is
 * on no list. Partly built connections (accept_conn) come here too. */
static void conn_release(struct conn *c)
{
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_idle)
		event_free(c->ev_idle);
	if (c->out)
		evbuffer_free(c->out);
	free(c->in);
	evutil_closesocket(c->fd);
	free(c);
}

static void conn_free(struct conn *c)
{
	struct mts_resolver *r = c->r;
	if (c->in_use) {
		c->dead = true;
		return;
	}
	while (c->head) {
		struct request *q = c->head;
		c->head = q->next;
		request_free(q);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->conn_count--;
	conn_release(c);
	maybe_finish_shutdown(r);
}

static void set_idle(struct mts_resolver *r, struct conn *c)
{
	struct timeval idle = {.tv_sec = r->cfg.idle_timeout};
	evtimer_add(c->ev_idle, &idle);
}

static void accept_conn(struct mts_resolver *r, evutil_socket_t fd, bool control)
{
	if (r->conn_count >= MTS_RESOLVER_CONNECTIONS_MAX || r->shutting_down) {
		logf_(r, LOG_WARNING, "refusing a client: %zu connections", r->conn_count);
		evutil_closesocket(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->r = r;
	c->fd = fd;
	c->in_cap = (control ? 4096 : r->cfg.max_request) + MTS_NETSTRING_LEN_DIGITS + 2;
	c->in = malloc(c->in_cap);
	c->out = evbuffer_new();
	c->ev_read = event_new(r->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->ev_write = event_new(r->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	c->ev_idle = evtimer_new(r->base, on_idle, c);
	if (!c->in || !c->out || !c->ev_read || !c->ev_write || !c->ev_idle ||
	    evutil_make_socket_nonblocking(fd) < 0) {
		conn_release(c);
		return;
	}
	c->tail = &c->head;
	c->control = control;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->conn_count++;
	set_idle(r, c);
	event_add(c->ev_read, NULL);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	accept_conn(arg, fd, false);
}

static void on_accept_control(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int len, void *arg)
{
	accept_conn(arg, fd, true);
}

/* ---- listeners ---------------------------------------------------------- */

static struct evconnlistener *listen_unix(struct mts_resolver *r, const char *path, int mode,
					  evconnlistener_cb cb, struct mts_error *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		mts_error_set(err, MTS_EINVAL, "%s: socket path too long", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			mts_error_set(err, MTS_EIO, "%s exists and is not a socket", path);
			return NULL;
		}
		unlink(path); /* a stale socket of an earlier run */
	}
	struct evconnlistener *l = evconnlistener_new_bind(
		r->base, cb, r, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
		128, (struct sockaddr *)&sun, (int)sizeof(sun));
	if (!l) {
		mts_error_set(err, MTS_EIO, "cannot listen on %s: %s", path, strerror(errno));
		return NULL;
	}
	if (mode >= 0 && chmod(path, (mode_t)mode) < 0) {
		mts_error_set(err, MTS_EIO, "chmod %s: %s", path, strerror(errno));
		evconnlistener_free(l);
		unlink(path);
		return NULL;
	}
	return l;
}

static struct evconnlistener *listen_tcp(struct mts_resolver *r, struct mts_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", r->cfg.port);
	int gai = getaddrinfo(r->cfg.host[0] ? r->cfg.host : NULL, port, &hints, &ai);
	if (gai != 0) {
		mts_error_set(err, MTS_EINVAL, "host %s: %s", r->cfg.host, gai_strerror(gai));
		return NULL;
	}
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
			 LEV_OPT_DISABLED;
	if (r->cfg.reuse_port)
		flags |= LEV_OPT_REUSEABLE_PORT;
	struct evconnlistener *l = evconnlistener_new_bind(r->base, on_accept, r, flags, 1024,
							   ai->ai_addr, (int)ai->ai_addrlen);
	if (!l)
		mts_error_set(err, MTS_EIO, "cannot listen on %s port %u: %s", r->cfg.host,
			      r->cfg.port, strerror(errno));
	freeaddrinfo(ai);
	return l;
}

static void describe_listener(struct evconnlistener *l, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	snprintf(out, cap, "?");
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(out, cap, "inet:%s:%u", addr, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(out, cap, "inet:[%s]:%u", addr, ntohs(sin6->sin6_port));
	}
}

/* ---- Prometheus metrics -------------------------------------------------- */

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct mts_resolver *r = arg;
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "# HELP mtasts_resolver_requests_total Socketmap requests.\n"
			       "# TYPE mtasts_resolver_requests_total counter\n"
			       "mtasts_resolver_requests_total %llu\n",
			    r->requests);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_answers_total Answers by kind.\n"
			       "# TYPE mtasts_resolver_answers_total counter\n");
	for (int k = MTS_ANSWER_POLICY; k <= MTS_ANSWER_PERM; k++)
		evbuffer_add_printf(b, "mtasts_resolver_answers_total{answer=\"%s\"} %llu\n",
				    mts_resolver_kind_name((enum mts_resolver_kind)k),
				    r->counters[k]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_cache_hits_total Answers from the answer cache.\n"
			       "# TYPE mtasts_resolver_cache_hits_total counter\n"
			       "mtasts_resolver_cache_hits_total %llu\n"
			       "# HELP mtasts_resolver_timeouts_total Lookups over the zone timeout.\n"
			       "# TYPE mtasts_resolver_timeouts_total counter\n"
			       "mtasts_resolver_timeouts_total %llu\n",
			    r->cache_hits, r->timeouts);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_discoveries_total Discovery results by "
			       "outcome.\n# TYPE mtasts_resolver_discoveries_total counter\n");
	for (int o = MTS_OUTCOME_OK; o <= MTS_OUTCOME_DNS_ERROR; o++)
		evbuffer_add_printf(b, "mtasts_resolver_discoveries_total{outcome=\"%s\"} %llu\n",
				    mts_discovery_outcome_name((enum mts_discovery_outcome)o),
				    r->outcomes[o]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_fetches_total Policy fetches by result.\n"
			       "# TYPE mtasts_resolver_fetches_total counter\n");
	for (int o = MTS_OUTCOME_OK; o <= MTS_OUTCOME_DNS_ERROR; o++)
		if (o != MTS_OUTCOME_NO_POLICY && o != MTS_OUTCOME_DNS_ERROR)
			evbuffer_add_printf(b, "mtasts_resolver_fetches_total{result=\"%s\"} %llu\n",
					    mts_discovery_outcome_name((enum mts_discovery_outcome)o),
					    r->fetches[o]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_lookup_wait_seconds Time lookups "
			       "that went to the network kept Postfix waiting.\n"
			       "# TYPE mtasts_resolver_lookup_wait_seconds histogram\n");
	unsigned long long cumulative = 0;
	for (size_t i = 0; i < WAIT_BUCKETS; i++) {
		cumulative += r->wait_counts[i];
		evbuffer_add_printf(b, "mtasts_resolver_lookup_wait_seconds_bucket{le=\"%g\"} %llu\n",
				    wait_buckets[i], cumulative);
	}
	cumulative += r->wait_counts[WAIT_BUCKETS];
	evbuffer_add_printf(b, "mtasts_resolver_lookup_wait_seconds_bucket{le=\"+Inf\"} %llu\n"
			       "mtasts_resolver_lookup_wait_seconds_sum %.6f\n"
			       "mtasts_resolver_lookup_wait_seconds_count %llu\n",
			    cumulative, r->wait_sum, cumulative);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_connections Clients connected.\n"
			       "# TYPE mtasts_resolver_connections gauge\n"
			       "mtasts_resolver_connections %zu\n"
			       "# HELP mtasts_resolver_answer_cache_entries Answers cached.\n"
			       "# TYPE mtasts_resolver_answer_cache_entries gauge\n"
			       "mtasts_resolver_answer_cache_entries %zu\n",
			    r->conn_count, r->answer_count);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void on_http_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, HTTP_NOTFOUND, "see /metrics");
}

static int listen_metrics(struct mts_resolver *r, struct mts_error *err)
{
	char host[128];
	const char *colon = strrchr(r->cfg.metrics, ':');
	size_t hl = (size_t)(colon - r->cfg.metrics);
	if (hl >= sizeof(host))
		return mts_error_set(err, MTS_EINVAL, "metrics: address too long");
	memcpy(host, r->cfg.metrics, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	r->http = evhttp_new(r->base);
	if (!r->http)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	evhttp_set_allowed_methods(r->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(r->http, 10);
	evhttp_set_max_headers_size(r->http, 8192);
	evhttp_set_max_body_size(r->http, 0);
	evhttp_set_cb(r->http, "/metrics", on_metrics, r);
	evhttp_set_gencb(r->http, on_http_other, r);
	r->http_socket = evhttp_bind_socket_with_handle(
		r->http, host, (ev_uint16_t)strtoul(colon + 1, NULL, 10));
	if (!r->http_socket)
		return mts_error_set(err, MTS_EIO, "metrics: cannot listen on %s: %s",
				     r->cfg.metrics, strerror(errno));
	return 0;
}

struct mts_resolver *mts_resolver_new(struct event_base *base,
				      const struct mts_resolver_config *cfg,
				      const struct mts_resolver_opts *opts, struct mts_error *err)
{
	struct mts_resolver *r = calloc(1, sizeof(*r));
	if (!r) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	r->base = base;
	r->cfg = *cfg;
	if (opts)
		r->opts = *opts;
	if (cfg->path[0]) {
		r->listener = listen_unix(r, cfg->path, cfg->mode, on_accept, err);
		if (r->listener)
			snprintf(r->unix_path, sizeof(r->unix_path), "%s", cfg->path);
	} else {
		r->listener = listen_tcp(r, err);
	}
	if (!r->listener)
		goto fail;
	if (cfg->control_path[0]) {
		r->control = listen_unix(r, cfg->control_path, 0600, on_accept_control, err);
		if (!r->control)
			goto fail;
		snprintf(r->control_path, sizeof(r->control_path), "%s", cfg->control_path);
	}
	if (cfg->metrics[0] && listen_metrics(r, err) < 0)
		goto fail;
	return r;
fail:
	mts_resolver_free(r);
	return NULL;
}

static void proactive_arm(struct mts_resolver *r);

int mts_resolver_start(struct mts_resolver *r, struct mts_error *err)
{
	char url[MTS_RESOLVER_PATH_MAX + 16];
	if (mts_resolver_cache_url(&r->cfg, url, sizeof(url), err) < 0)
		return err ? err->code : MTS_EUSAGE;
	r->cache = mts_cache_open(url, err);
	if (!r->cache)
		return err ? err->code : MTS_ESTORE;
	unsigned timeout = r->cfg.default_zone.timeout;
	for (size_t i = 0; i < r->cfg.zone_count; i++)
		if (r->cfg.zones[i].timeout > timeout)
			timeout = r->cfg.zones[i].timeout;
	/* The network gets a second more than the longest zone timeout: the
	 * zone's timer answers TEMP first, deterministically, and the lookup
	 * goes on to fill the cache (a failure is then remembered). */
	struct mts_discovery_net_opts nopts = {
		.resolver = r->cfg.dns_resolver[0] ? r->cfg.dns_resolver : NULL,
		.ca_file = r->cfg.ca_file[0] ? r->cfg.ca_file : NULL,
		.trust_anchor_file = r->cfg.trust_anchor_file[0] ? r->cfg.trust_anchor_file : NULL,
		.timeout_ms = timeout * 1000u + 1000u,
	};
	r->net = mts_discovery_net_new(r->base, &nopts, err);
	if (!r->net)
		return err ? err->code : MTS_EIO;
	r->discovery = mts_discovery_new(r->base, r->cache, &mts_discovery_net_transport, r->net,
					 NULL, err);
	if (!r->discovery)
		return err ? err->code : MTS_ENOMEM;
	if (r->cfg.dane) {
		struct mts_dns_opts dopts = {.resolver = nopts.resolver,
					     .trust_anchor_file = r->cfg.trust_anchor_file,
					     .timeout_ms = timeout * 1000u};
		r->dns = mts_dns_new(r->base, &dopts, err);
		if (!r->dns)
			return err ? err->code : MTS_EIO;
	}
	char where[128];
	if (r->unix_path[0])
		snprintf(where, sizeof(where), "unix:%s", r->unix_path);
	else
		describe_listener(r->listener, where, sizeof(where));
	evconnlistener_enable(r->listener);
	if (r->control)
		evconnlistener_enable(r->control);
	logf_(r, LOG_INFO, "listening on %s cache=%s%s%s", where, url,
	      r->control_path[0] ? " control=" : "", r->control_path);
	if (r->http_socket) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		evutil_socket_t hfd = evhttp_bound_socket_get_fd(r->http_socket);
		if (getsockname(hfd, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
				port = ntohs(sin->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
				port = ntohs(sin6->sin6_port);
			}
		}
		logf_(r, LOG_INFO, "metrics on http://%s:%u/metrics", addr, port);
	}
	proactive_arm(r);
	return 0;
}

/* ---- proactive refresh -------------------------------------------------- */

static void refresh_next(struct mts_resolver *r);

static void on_refreshed(const struct mts_discovery_result *res, void *arg)
{
	struct refresh *job = arg;
	struct mts_resolver *r = job->r;
	r->outcomes[res->outcome]++;
	if (res->fetched)
		r->fetches[res->outcome]++;
	const struct mts_resolver_zone *z =
		mts_resolver_zone_find(&r->cfg, job->zone, strlen(job->zone));
	char text[MTS_RESOLVER_ANSWER_MAX];
	enum mts_resolver_kind kind;
	long n = mts_resolver_answer(z, res, text, sizeof(text), &kind);
	if (n >= 0 && kind != MTS_ANSWER_TEMP)
		answer_store(r, job->zone, job->domain, text, (size_t)n, kind, now_of(r),
			     res->policy ? res->expires_at : 0);
	r->refresh_running--;
	refresh_next(r);
}

static void refresh_next(struct mts_resolver *r)
{
	while (r->refresh_next < r->refresh_count &&
	       r->refresh_running < r->cfg.proactive_concurrency && !r->shutting_down) {
		struct refresh *job = &r->refresh_jobs[r->refresh_next++];
		struct mts_error err = {0};
		if (mts_discovery_lookup(r->discovery, job->domain, on_refreshed, job, &err) == 0)
			r->refresh_running++;
	}
	if (r->refresh_running == 0 && r->refresh_next >= r->refresh_count && r->refresh_jobs) {
		logf_(r, LOG_INFO, "proactive refresh of %zu answers done", r->refresh_count);
		free(r->refresh_jobs);
		r->refresh_jobs = NULL;
		r->refresh_count = r->refresh_next = 0;
	}
}

static void on_proactive(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	if (r->refresh_jobs || r->shutting_down)
		return; /* the previous round still runs */
	long long now = now_of(r);
	double age = r->cfg.proactive_interval / r->cfg.proactive_grace_ratio;
	size_t n = 0;
	for (struct answer *a = r->newest; a; a = a->older)
		if ((double)(now - a->made_at) >= age && a->kind != MTS_ANSWER_DANE)
			n++;
	if (n == 0)
		return;
	r->refresh_jobs = calloc(n, sizeof(*r->refresh_jobs));
	if (!r->refresh_jobs)
		return;
	for (struct answer *a = r->newest; a && r->refresh_count < n; a = a->older) {
		if ((double)(now - a->made_at) < age || a->kind == MTS_ANSWER_DANE)
			continue;
		struct refresh *job = &r->refresh_jobs[r->refresh_count++];
		job->r = r;
		snprintf(job->zone, sizeof(job->zone), "%.*s", (int)(a->domain - a->key - 1),
			 a->key);
		snprintf(job->domain, sizeof(job->domain), "%s", a->domain);
	}
	logf_(r, LOG_INFO, "proactive refresh of %zu answers", r->refresh_count);
	refresh_next(r);
}

static void proactive_arm(struct mts_resolver *r)
{
	if (r->proactive_timer) {
		event_free(r->proactive_timer);
		r->proactive_timer = NULL;
	}
	if (!r->cfg.proactive)
		return;
	r->proactive_timer = event_new(r->base, -1, EV_PERSIST, on_proactive, r);
	struct timeval tv = {.tv_sec = r->cfg.proactive_interval};
	if (r->proactive_timer)
		event_add(r->proactive_timer, &tv);
}

/* ---- reload and shutdown ------------------------------------------------ */

int mts_resolver_reload(struct mts_resolver *r, const struct mts_resolver_config *cfg,
			struct mts_error *err)
{
	const struct mts_resolver_config *old = &r->cfg;
	if (strcmp(old->host, cfg->host) || old->port != cfg->port ||
	    strcmp(old->path, cfg->path) || old->mode != cfg->mode ||
	    strcmp(old->control_path, cfg->control_path))
		logf_(r, LOG_WARNING, "reload: listening changes need a restart");
	if (old->cache_type != cfg->cache_type ||
	    strcmp(old->cache_filename, cfg->cache_filename) ||
	    strcmp(old->dns_resolver, cfg->dns_resolver) || strcmp(old->ca_file, cfg->ca_file) ||
	    strcmp(old->trust_anchor_file, cfg->trust_anchor_file) || old->dane != cfg->dane ||
	    strcmp(old->user, cfg->user))
		logf_(r, LOG_WARNING, "reload: cache, network, DANE and user changes need a restart");
	struct mts_resolver_config next = *cfg;
	/* Keep what needs a restart as it runs. */
	memcpy(next.host, old->host, sizeof(next.host));
	next.port = old->port;
	memcpy(next.path, old->path, sizeof(next.path));
	next.mode = old->mode;
	memcpy(next.control_path, old->control_path, sizeof(next.control_path));
	next.cache_type = old->cache_type;
	memcpy(next.cache_filename, old->cache_filename, sizeof(next.cache_filename));
	memcpy(next.dns_resolver, old->dns_resolver, sizeof(next.dns_resolver));
	memcpy(next.ca_file, old->ca_file, sizeof(next.ca_file));
	memcpy(next.trust_anchor_file, old->trust_anchor_file, sizeof(next.trust_anchor_file));
	next.dane = old->dane;
	memcpy(next.user, old->user, sizeof(next.user));
	r->cfg = next;
	answers_clear(r); /* zones may answer differently now */
	for (struct conn *c = r->conns; c; c = c->next)
		set_idle(r, c);
	proactive_arm(r);
	logf_(r, LOG_NOTICE, "configuration reloaded from %s (%zu zones)", cfg->file,
	      cfg->zone_count);
	return 0;
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	logf_(r, LOG_WARNING, "shutdown: %zu clients still connected after %g s", r->conn_count,
	      r->cfg.shutdown_timeout);
	r->finished = true;
	event_base_loopbreak(r->base);
}

void mts_resolver_shutdown(struct mts_resolver *r)
{
	if (r->shutting_down)
		return;
	r->shutting_down = true;
	logf_(r, LOG_NOTICE, "shutting down: %zu clients", r->conn_count);
	if (r->listener) {
		evconnlistener_free(r->listener);
		r->listener = NULL;
	}
	if (r->control) {
		evconnlistener_free(r->control);
		r->control = NULL;
	}
	if (r->proactive_timer) {
		event_free(r->proactive_timer);
		r->proactive_timer = NULL;
	}
	/* Idle clients go now; busy ones once their answers are written. */
	for (struct conn *c = r->conns, *next; c; c = next) {
		next = c->next;
		c->closing = true;
		event_del(c->ev_read);
		if (!c->head && evbuffer_get_length(c->out) == 0)
			conn_free(c);
	}
	if (r->finished)
		return;
	struct timeval tv;
	tv.tv_sec = (time_t)r->cfg.shutdown_timeout;
	tv.tv_usec = (suseconds_t)((r->cfg.shutdown_timeout - (double)tv.tv_sec) * 1e6);
	r->shutdown_timer = evtimer_new(r->base, on_shutdown_timeout, r);
	if (!r->shutdown_timer || evtimer_add(r->shutdown_timer, &tv) < 0) {
		r->finished = true;
		event_base_loopbreak(r->base);
	}
	maybe_finish_shutdown(r);
}

bool mts_resolver_done(const struct mts_resolver *r)
{
	return r->finished;
}

void mts_resolver_free(struct mts_resolver *r)
{
	if (!r)
		return;
	while (r->conns)
		conn_free(r->conns);
	if (r->listener)
		evconnlistener_free(r->listener);
	if (r->control)
		evconnlistener_free(r->control);
	if (r->proactive_timer)
		event_free(r->proactive_timer);
	if (r->http)
		evhttp_free(r->http);
	if (r->shutdown_timer)
		event_free(r->shutdown_timer);
	free(r->refresh_jobs);
	r->refresh_jobs = NULL;
	mts_discovery_free(r->discovery);
	mts_discovery_net_free(r->net);
	mts_dns_free(r->dns);
	mts_cache_close(r->cache);
	answers_clear(r);
	if (r->unix_path[0])
		unlink(r->unix_path);
	if (r->control_path[0])
		unlink(r->control_path);
	free(r);
}
