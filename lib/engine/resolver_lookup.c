/* resolver_lookup.c - the lookups of `mtasts resolver`: a request that the
 * answer cache could not answer waits for a discovery (coalesced per
 * domain by the engine) bounded by its zone's timeout, after DANE when it
 * is enabled (resolver_dane.c), then MTA-STS (resolver_sts.c); and proactive refresh, which discovers the
 * policies of the whole cache again in the background. The connection's
 * ops say how the answer is given (socketmap text or control JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "mtasts/cache.h"
#include "engine/resolver_int.h"

#define REFRESH_BATCH 100 /* cache entries proactive refresh reads per loop turn */

void resolver_lookup_cancel(struct request *q)
{
	resolver_sts_cancel(q);
	resolver_dane_cancel(q);
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
			q->conn->ops->result(q, &res, text, (size_t)n, kind);
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
	resolver_sts_cancel(q);
	/* DANE not settled (still asking, or failed): never fall back to STS. */
	bool dane_unsettled = q->dns_pending > 0 || q->dane_temp;
	resolver_dane_cancel(q);
	r->timeouts++;
	resolver_log(r, LOG_WARNING, "lookup timeout zone=%s domain=%s after %u s",
		     q->zone.name[0] ? q->zone.name : "default", q->domain, q->zone.timeout);
	/* RFC 8461 §5.1: while DNS or the fetch fails, an unexpired cached
	 * policy stays in force. The lookup goes on in the background; until
	 * it ends, this is what Postfix gets rather than TEMP. */
	if (q->conn->ops->cached_on_timeout && !dane_unsettled && answer_from_cache(q))
		return;
	char text[128];
	snprintf(text, sizeof(text), "TEMP no answer within %u s", q->zone.timeout);
	q->conn->ops->result(q, NULL, text, strlen(text), MTS_ANSWER_TEMP);
}

void resolver_start_lookup(struct request *q)
{
	struct mts_resolver *r = q->conn->r;
	if (!resolver_fds_for_lookup(r)) {
		const char *text = "TEMP out of file descriptors";
		q->conn->ops->result(q, NULL, text, strlen(text), MTS_ANSWER_TEMP);
		return;
	}
	struct timeval tv = {.tv_sec = q->zone.timeout};
	q->timer = evtimer_new(r->base, on_timeout, q);
	if (q->timer)
		evtimer_add(q->timer, &tv);
	if (r->dns) {
		resolver_dane_start(q);
		return;
	}
	resolver_start_sts(q);
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
		struct answer *a = resolver_answer_find(r, z->name, domain);
		if (!a || a->kind == MTS_ANSWER_DANE)
			continue;
		char text[MTS_RESOLVER_ANSWER_MAX];
		enum mts_resolver_kind kind;
		long n = mts_resolver_answer(z, res, text, sizeof(text), &kind);
		if (n >= 0 && kind != MTS_ANSWER_TEMP)
			resolver_answer_store(r, z->name, domain, text, (size_t)n, kind,
					      resolver_now(r), res->policy ? res->expires_at : 0);
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
		struct refresh *job = resolver_fds_for_lookup(r) ? calloc(1, sizeof(*job)) : NULL;
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

void resolver_proactive_arm(struct mts_resolver *r)
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

void resolver_proactive_free(struct mts_resolver *r)
{
	if (r->proactive_timer)
		event_free(r->proactive_timer);
	r->proactive_timer = NULL;
	if (r->refresh_step)
		event_free(r->refresh_step);
	r->refresh_step = NULL;
	while (r->refresh_jobs)
		refresh_job_free(r->refresh_jobs);
	free(r->refresh_queue);
	r->refresh_queue = NULL;
}
