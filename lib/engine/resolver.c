/* resolver.c - the socketmap server of `mtasts resolver` (see resolver.h).
 *
 * One libevent loop, and plain events on the sockets: answers are handed
 * to the kernel as soon as they are ready, without an event round trip (a
 * cached answer costs one recv and one send, as a bufferevent would cost
 * seven system calls). A connection holds a queue of requests in arrival
 * order; each request is answered from the answer cache, or waits for a
 * discovery (coalesced per domain by the engine) bounded by its zone's
 * timeout; answers leave strictly in order. The control socket speaks the
 * same netstring framing with "COMMAND ARG" requests and JSON answers
 * (its commands: resolver_ctl.c; the metrics endpoint: resolver_metrics.c;
 * what they share: resolver_int.h). */
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
#include <event2/listener.h>
#include <jansson.h>

#include "io/dns_int.h"
#include "core/netstring_int.h"
#include "mtasts/resolver.h"
#include "core/text_int.h"
#include "engine/resolver_int.h"

#define ANSWER_ENTRIES_MIN 1000
#define REFRESH_BATCH 100          /* cache entries proactive refresh reads per loop turn */
#define OUTPUT_MAX (1024 * 1024)   /* bytes queued to a client that does not read */

void resolver_log(struct mts_resolver *r, int prio, const char *fmt, ...)
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

long long resolver_now(struct mts_resolver *r)
{
	return r->opts.clock ? r->opts.clock(r->opts.clock_arg) : (long long)time(NULL);
}

/* ---- the answer cache ------------------------------------------------- */

static uint32_t hash_key(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* "zone '\t' domain" in key (RESOLVER_KEY_MAX bytes); its length. */
static size_t make_key(char *key, const char *zone, const char *domain)
{
	size_t zl = strnlen(zone, MTS_RESOLVER_NAME_MAX), dl = strnlen(domain, MTS_DNAME_MAX);
	memcpy(key, zone, zl);
	key[zl] = '\t';
	memcpy(key + zl + 1, domain, dl);
	key[zl + 1 + dl] = '\0';
	return zl + 1 + dl;
}

static struct answer **answer_slot(struct mts_resolver *r, const char *key, size_t len,
				   uint32_t hash)
{
	struct answer **slot = &r->buckets[hash % ANSWER_BUCKETS];
	while (*slot && ((*slot)->hash != hash || (*slot)->key_len != len ||
			 memcmp((*slot)->key, key, len) != 0))
		slot = &(*slot)->next_in_bucket;
	return slot;
}

void resolver_answer_remove(struct mts_resolver *r, struct answer *a)
{
	struct answer **slot = answer_slot(r, a->key, a->key_len, a->hash);
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
	char key[RESOLVER_KEY_MAX];
	size_t key_len = make_key(key, zone, domain);
	uint32_t hash = hash_key(key, key_len);
	struct answer **slot = answer_slot(r, key, key_len, hash);
	if (*slot)
		resolver_answer_remove(r, *slot);
	while (r->answer_count >= answer_max(r) && r->oldest)
		resolver_answer_remove(r, r->oldest);
	struct answer *a = malloc(sizeof(*a) + key_len + 1 + len + 1);
	if (!a)
		return;
	memset(a, 0, sizeof(*a));
	memcpy(a->key, key, key_len + 1);
	char *copy = a->key + key_len + 1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	a->key_len = key_len;
	a->hash = hash;
	a->domain = strchr(a->key, '\t') + 1;
	a->text = copy;
	a->len = len;
	a->kind = kind;
	a->made_at = now;
	a->expires_at = expires_at;
	slot = answer_slot(r, key, key_len, hash);
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
	char key[RESOLVER_KEY_MAX];
	size_t key_len = make_key(key, zone, domain);
	struct answer *a = *answer_slot(r, key, key_len, hash_key(key, key_len));
	if (!a)
		return NULL;
	if ((double)(now - a->made_at) >= r->cfg.cache_grace ||
	    (a->expires_at && now >= a->expires_at))
		return NULL;
	return a;
}

void resolver_answers_clear(struct mts_resolver *r)
{
	while (r->oldest)
		resolver_answer_remove(r, r->oldest);
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
	char frame[512], digits[24];
	size_t d = sizeof(digits), n = 0; /* the netstring's length, by hand: hot path */
	size_t v = len;
	do
		digits[--d] = (char)('0' + v % 10);
	while ((v /= 10) && d > 0);
	while (d < sizeof(digits))
		frame[n++] = digits[d++];
	frame[n++] = ':';
	if (n + len + 1 <= sizeof(frame)) { /* the usual case: one copy */
		memcpy(frame + n, text, len);
		frame[n + len] = ',';
		evbuffer_add(out, frame, n + len + 1);
		return;
	}
	evbuffer_add(out, frame, n);
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

void resolver_complete(struct request *q, const char *text, size_t len, enum mts_resolver_kind kind)
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
	if (q->timer) /* it waited for the network (or for its timeout) */
		resolver_metrics_observe_wait(r, monotonic() - q->started);
	if (r->opts.verbose && !q->conn->control)
		resolver_log(r, LOG_INFO, "lookup zone=%s domain=%s answer=%s",
		      q->zone.name[0] ? q->zone.name : "default", q->domain,
		      mts_resolver_kind_name(kind));
	if (q->timer)
		evtimer_del(q->timer);
	flush(q->conn);
}

void resolver_complete_str(struct request *q, const char *text, enum mts_resolver_kind kind)
{
	resolver_complete(q, text, strlen(text), kind);
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
		resolver_log(r, LOG_ERR, "cache error domain=%s: %s", q->domain, res->cache_error);
	char text[MTS_RESOLVER_ANSWER_MAX];
	enum mts_resolver_kind kind;
	long n = mts_resolver_answer(&q->zone, res, text, sizeof(text), &kind);
	if (n < 0) {
		resolver_log(r, LOG_WARNING, "domain=%s: the answer is longer than %d bytes",
			     q->domain, MTS_RESOLVER_ANSWER_MAX);
		n = snprintf(text, sizeof(text), "TEMP policy too long for an answer");
		kind = MTS_ANSWER_TEMP;
	}
	if (kind != MTS_ANSWER_TEMP)
		answer_store(r, q->zone.name, q->domain, text, (size_t)n, kind, resolver_now(r),
			     res->policy ? res->expires_at : 0);
	if (q->conn->control) {
		json_t *v = resolver_result_json(res);
		json_object_set_new(v, "domain", json_string(q->domain));
		json_object_set_new(v, "zone", json_string(q->zone.name));
		json_object_set_new(v, "answer", json_stringn(text, (size_t)n));
		resolver_complete_json(q, v);
		return;
	}
	resolver_complete(q, text, (size_t)n, kind);
}

/* Answer from the cache's unexpired policy, if there is one. */
static bool answer_from_cache(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	struct mts_cache_entry e;
	struct mts_error err = {0};
	if (mts_cache_get(r->cache, q->domain, &e, &err) != 0)
		return false;
	long long now = resolver_now(r);
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
			resolver_log(r, LOG_NOTICE,
				     "domain=%s: answered from the cached policy (id %s) "
				     "while the lookup goes on",
				     q->domain, e.id);
			resolver_complete(q, text, (size_t)n, kind);
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
	resolver_log(r, LOG_WARNING, "lookup timeout zone=%s domain=%s after %u s",
	      q->zone.name[0] ? q->zone.name : "default", q->domain, q->zone.timeout);
	/* RFC 8461 §5.1: while DNS or the fetch fails, an unexpired cached
	 * policy stays in force. The lookup goes on in the background; until
	 * it ends, this is what Postfix gets rather than TEMP. */
	if (!q->conn->control && !dane_unsettled && answer_from_cache(q))
		return;
	char text[128];
	snprintf(text, sizeof(text), "TEMP no answer within %u s", q->zone.timeout);
	if (q->conn->control)
		resolver_complete_json(
		    q, json_pack("{s:s, s:s}", "domain", q->domain, "answer", text));
	else
		resolver_complete_str(q, text, MTS_ANSWER_TEMP);
}

static void start_sts(struct request *q)
{
	struct mts_error err = {0};
	q->waiting = true;
	if (mts_discovery_lookup(q->conn->r->discovery, q->domain, on_discovered, q, &err) < 0) {
		q->waiting = false;
		char text[MTS_ERROR_MSG_MAX + 8];
		snprintf(text, sizeof(text), "TEMP %s", err.message);
		resolver_complete_str(q, text, MTS_ANSWER_TEMP);
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
			     resolver_now(r), 0);
		if (q->conn->control)
			resolver_complete_json(
			    q, json_pack("{s:s, s:s}", "domain", q->domain, "answer", text));
		else
			resolver_complete_str(q, text, MTS_ANSWER_DANE);
	} else if (q->dane_temp) {
		const char *text = "TEMP the DANE (MX or TLSA) lookup failed";
		if (q->conn->control)
			resolver_complete_json(
			    q, json_pack("{s:s, s:s}", "domain", q->domain, "answer", text));
		else
			resolver_complete_str(q, text, MTS_ANSWER_TEMP);
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

void resolver_start_lookup(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	struct timeval tv = {.tv_sec = q->zone.timeout};
	q->timer = evtimer_new(r->base, on_timeout, q);
	if (q->timer)
		evtimer_add(q->timer, &tv);
	if (r->dns) {
		struct mts_error err = {0};
		q->dns[0].q = q;
		q->dns[0].query =
		    mts_dns_lookup(r->dns, q->domain, MTS_DNS_MX, on_mx, &q->dns[0], &err);
		if (!q->dns[0].query) {
			q->dane_temp = true;
			dane_done(q);
		}
		return;
	}
	start_sts(q);
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
	struct answer *a = answer_fresh(r, zone->name, domain, resolver_now(r));
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
				resolver_log(r, LOG_INFO, "lookup zone=%s domain=%s answer=%s",
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
			resolver_complete(q, text, text_len, kind);
		} else {
			q->zone = zone;
			memcpy(q->domain, domain, sizeof(domain));
			resolver_start_lookup(q);
		}
		return;
	}
	const char *name, *key;
	size_t name_len, key_len;
	if (mts_socketmap_split(payload, len, &name, &name_len, &key, &key_len) < 0) {
		if (len > 0 && !memchr(payload, ' ', len))
			resolver_ctl_handle(q, payload, len, "", 0);
		else
			resolver_complete_str(q, "PERM expected COMMAND [ARG]", MTS_ANSWER_PERM);
		return;
	}
	resolver_ctl_handle(q, name, name_len, key, key_len);
}

static void protocol_error(struct conn *c, const char *why)
{
	struct mts_resolver *r = c->r;
	resolver_log(r, LOG_NOTICE, "client error: %s; closing the connection", why);
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
	resolver_complete_str(q, text, MTS_ANSWER_PERM);
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
		/* send(2) of the first chunk rather than evbuffer_write's
		 * writev(2), which goes through one more layer of the kernel:
		 * the answers of one read are usually one chunk. */
		size_t chunk = evbuffer_get_contiguous_space(c->out);
		const unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)chunk);
		if (!p) { /* not for the first chunk, which needs no copy */
			conn_free(c);
			return;
		}
		ssize_t n = send(c->fd, p, chunk, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				if (!event_pending(c->ev_write, EV_WRITE, NULL))
					event_add(c->ev_write, NULL);
				return;
			}
			conn_free(c); /* the client went away */
			return;
		}
		evbuffer_drain(c->out, (size_t)n);
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

/* The loop's cached clock (one clock read per loop iteration), in µs. */
static long long loop_clock_us(struct mts_resolver *r)
{
	struct timeval now;
	event_base_gettimeofday_cached(r->base, &now);
	return (long long)now.tv_sec * 1000000 + now.tv_usec;
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
	/* No timer work per request: the idle timer, when it fires, looks at
	 * when the client last sent something. */
	c->last_read_us = loop_clock_us(c->r);
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
	long long left = (long long)c->r->cfg.idle_timeout * 1000000 -
			 (loop_clock_us(c->r) - c->last_read_us);
	if (left > (long long)c->r->cfg.idle_timeout * 1000000) /* the clock was set back */
		left = (long long)c->r->cfg.idle_timeout * 1000000;
	if (left > 0) { /* it spoke since the timer was set: wait for the rest */
		struct timeval rest = {.tv_sec = (time_t)(left / 1000000),
				       .tv_usec = (suseconds_t)(left % 1000000)};
		evtimer_add(c->ev_idle, &rest);
		return;
	}
	if (c->head || c->paused || evbuffer_get_length(c->out) > 0) { /* busy, not idle */
		evtimer_add(c->ev_idle, &idle);
		return;
	}
	resolver_log(c->r, LOG_INFO, "closing an idle client after %u s", c->r->cfg.idle_timeout);
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
	c->last_read_us = loop_clock_us(r);
	evtimer_add(c->ev_idle, &idle);
}

static void accept_conn(struct mts_resolver *r, evutil_socket_t fd, bool control)
{
	if (r->conn_count >= MTS_RESOLVER_CONNECTIONS_MAX || r->shutting_down) {
		resolver_log(r, LOG_WARNING, "refusing a client: %zu connections", r->conn_count);
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
	if (cfg->metrics[0] && resolver_metrics_listen(r, err) < 0)
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
	char shown[sizeof(url)];
	resolver_log(r, LOG_INFO, "listening on %s cache=%s%s%s", where,
		     mts_redact_url(url, shown, sizeof(shown)),
	      r->control_path[0] ? " control=" : "", r->control_path);
	resolver_metrics_log_address(r);
	proactive_arm(r);
	return 0;
}

/* ---- proactive refresh --------------------------------------------------
 * A round walks the whole cache (so it covers policies cached before a
 * restart, or by another daemon sharing the cache), REFRESH_BATCH entries
 * per turn of the loop: the entries of one batch that hold a policy and
 * were not looked up for interval / grace_ratio seconds are queued, and
 * discovered again concurrency_limit at a time; the next batch is read once
 * the queue is empty. So one turn reads at most one batch, and a round
 * holds at most one batch and concurrency_limit discoveries in memory. */

static void refresh_next(struct mts_resolver *r);

/* The answers this daemon holds for domain, in every zone, follow the
 * refreshed result (DANE answers are not STS's to replace). */
static void refresh_answers(struct mts_resolver *r, const char *domain,
			    const struct mts_discovery_result *res)
{
	for (size_t i = 0; i <= r->cfg.zone_count; i++) {
		const struct mts_resolver_zone *z =
			i == 0 ? &r->cfg.default_zone : &r->cfg.zones[i - 1];
		char key[RESOLVER_KEY_MAX];
		size_t key_len = make_key(key, z->name, domain);
		struct answer *a = *answer_slot(r, key, key_len, hash_key(key, key_len));
		if (!a || a->kind == MTS_ANSWER_DANE)
			continue;
		char text[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind;
		long n = mts_resolver_answer(z, res, text, sizeof(text), &kind);
		if (n >= 0 && kind != MTS_ANSWER_TEMP)
			answer_store(r, z->name, domain, text, (size_t)n, kind, resolver_now(r),
				     res->policy ? res->expires_at : 0);
	}
}

static void refresh_job_free(struct refresh *job)
{
	struct mts_resolver *r = job->r;
	if (job->prev)
		job->prev->next = job->next;
	else
		r->refresh_jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	free(job);
}

static void on_refreshed(const struct mts_discovery_result *res, void *arg)
{
	struct refresh *job = arg;
	struct mts_resolver *r = job->r;
	r->outcomes[res->outcome]++;
	if (res->fetched)
		r->fetches[res->outcome]++;
	r->refreshes++;
	if (res->cache_error[0])
		resolver_log(r, LOG_ERR, "cache error domain=%s: %s", job->domain, res->cache_error);
	if (r->opts.verbose)
		resolver_log(r, LOG_INFO, "proactive refresh domain=%s outcome=%s source=%s%s",
			     job->domain, mts_discovery_outcome_name(res->outcome),
			     mts_policy_source_name(res->source), res->fetched ? " fetched" : "");
	refresh_answers(r, job->domain, res);
	refresh_job_free(job);
	r->refresh_running--;
	refresh_next(r);
}

static int refresh_collect(const struct mts_cache_entry *e, void *arg)
{
	struct mts_resolver *r = arg;
	double age = r->cfg.proactive_interval / r->cfg.proactive_grace_ratio;
	if (!e->policy || (double)(r->refresh_now - e->last_attempt) < age)
		return 0;
	if (r->refresh_queued == r->refresh_cap) {
		size_t cap = r->refresh_cap ? 2 * r->refresh_cap : REFRESH_BATCH;
		void *bigger = realloc(r->refresh_queue, cap * sizeof(*r->refresh_queue));
		if (!bigger)
			return MTS_ENOMEM;
		r->refresh_queue = bigger;
		r->refresh_cap = cap;
	}
	snprintf(r->refresh_queue[r->refresh_queued++], sizeof(*r->refresh_queue), "%s",
		 e->domain);
	return 0;
}

/* Read the next batch of the cache into the queue, and start on it. */
static void on_refresh_step(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	if (!r->refresh_active || r->shutting_down)
		return;
	r->refresh_queued = r->refresh_taken = 0;
	r->refresh_now = resolver_now(r);
	struct mts_error err = {0};
	size_t skipped = r->refresh_walk.skipped;
	int rc = mts_cache_each(r->cache, &r->refresh_walk, REFRESH_BATCH, refresh_collect, r,
				&err);
	r->walk_skipped += r->refresh_walk.skipped - skipped;
	if (rc < 0) {
		resolver_log(r, LOG_ERR, "proactive refresh: reading the cache failed: %s",
			     rc == MTS_ENOMEM ? "out of memory" : err.message);
		r->refresh_walk.done = true; /* the round ends with what it has */
	}
	refresh_next(r);
}

static void refresh_next(struct mts_resolver *r)
{
	while (r->refresh_taken < r->refresh_queued &&
	       r->refresh_running < r->cfg.proactive_concurrency && !r->shutting_down) {
		struct refresh *job = calloc(1, sizeof(*job));
		if (!job) { /* drop this batch rather than stall the round */
			r->refresh_taken = r->refresh_queued;
			break;
		}
		job->r = r;
		memcpy(job->domain, r->refresh_queue[r->refresh_taken++], sizeof(job->domain));
		job->next = r->refresh_jobs;
		if (r->refresh_jobs)
			r->refresh_jobs->prev = job;
		r->refresh_jobs = job;
		struct mts_error err = {0};
		if (mts_discovery_lookup(r->discovery, job->domain, on_refreshed, job, &err) < 0) {
			refresh_job_free(job);
			continue;
		}
		r->refresh_running++;
		r->refresh_round++;
	}
	if (!r->refresh_active || r->shutting_down || r->refresh_taken < r->refresh_queued)
		return;
	if (!r->refresh_walk.done) { /* the next batch, after the loop has run */
		struct timeval now = {0, 0};
		evtimer_add(r->refresh_step, &now);
		return;
	}
	if (r->refresh_running > 0)
		return;
	r->refresh_active = false;
	if (r->refresh_walk.skipped)
		resolver_log(r, LOG_WARNING,
			     "proactive refresh: %zu cache entries could not be read, the last: %s",
			     r->refresh_walk.skipped, r->refresh_walk.skip_reason);
	resolver_log(r, LOG_INFO, "proactive refresh of %zu domains done (%zu cache entries read)",
		     r->refresh_round, r->refresh_walk.visited);
}

static void on_proactive(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	if (r->refresh_active || r->shutting_down)
		return; /* the previous round still runs */
	memset(&r->refresh_walk, 0, sizeof(r->refresh_walk));
	r->refresh_active = true;
	r->refresh_round = 0;
	resolver_log(r, LOG_INFO, "proactive refresh: a round over the cache begins");
	on_refresh_step(-1, 0, r);
}

static void proactive_arm(struct mts_resolver *r)
{
	if (r->proactive_timer) {
		event_free(r->proactive_timer);
		r->proactive_timer = NULL;
	}
	if (!r->cfg.proactive)
		return;
	if (!r->refresh_step)
		r->refresh_step = evtimer_new(r->base, on_refresh_step, r);
	if (!r->refresh_step)
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
		resolver_log(r, LOG_WARNING, "reload: listening changes need a restart");
	if (old->cache_type != cfg->cache_type ||
	    strcmp(old->cache_filename, cfg->cache_filename) ||
	    strcmp(old->dns_resolver, cfg->dns_resolver) || strcmp(old->ca_file, cfg->ca_file) ||
	    strcmp(old->trust_anchor_file, cfg->trust_anchor_file) || old->dane != cfg->dane ||
	    strcmp(old->user, cfg->user))
		resolver_log(r, LOG_WARNING,
			     "reload: cache, network, DANE and user changes need a restart");
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
	resolver_answers_clear(r); /* zones may answer differently now */
	for (struct conn *c = r->conns; c; c = c->next)
		set_idle(r, c);
	proactive_arm(r);
	resolver_log(r, LOG_NOTICE, "configuration reloaded from %s (%zu zones)", cfg->file,
	      cfg->zone_count);
	return 0;
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	resolver_log(r, LOG_WARNING, "shutdown: %zu clients still connected after %g s",
		     r->conn_count, r->cfg.shutdown_timeout);
	r->finished = true;
	event_base_loopbreak(r->base);
}

void mts_resolver_shutdown(struct mts_resolver *r)
{
	if (r->shutting_down)
		return;
	r->shutting_down = true;
	resolver_log(r, LOG_NOTICE, "shutting down: %zu clients", r->conn_count);
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
	resolver_metrics_close(r);
	if (r->shutdown_timer)
		event_free(r->shutdown_timer);
	if (r->refresh_step)
		event_free(r->refresh_step);
	mts_discovery_free(r->discovery); /* cancels the refreshes: no callback runs */
	while (r->refresh_jobs)
		refresh_job_free(r->refresh_jobs);
	free(r->refresh_queue);
	mts_discovery_net_free(r->net);
	mts_dns_free(r->dns);
	mts_cache_close(r->cache);
	resolver_answers_clear(r);
	if (r->unix_path[0])
		unlink(r->unix_path);
	if (r->control_path[0])
		unlink(r->control_path);
	free(r);
}
