/* resolver_sts.c - the MTA-STS part of one request of `mtasts resolver`: a
 * discovery (coalesced per domain by the engine), its answer stored in the
 * answer cache and given through the connection's ops. Started by the
 * lookup (resolver_lookup.c) or after DANE (resolver_dane.c). */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "engine/resolver_int.h"

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
		resolver_answer_store(r, q->zone.name, q->domain, text, (size_t)n, kind,
				      resolver_now(r), res->policy ? res->expires_at : 0);
	q->conn->ops->result(q, res, text, (size_t)n, kind);
}

void resolver_start_sts(struct request *q)
{
	struct mts_error err = {0};
	q->waiting = true;
	if (mts_discovery_lookup(q->conn->r->discovery, q->domain, on_discovered, q, &err) < 0) {
		q->waiting = false;
		char text[MTS_ERROR_MSG_MAX + 8];
		snprintf(text, sizeof(text), "TEMP %s", err.message);
		q->conn->ops->reply(q, text, strlen(text), MTS_ANSWER_TEMP);
	}
}

void resolver_sts_cancel(struct request *q)
{
	if (q->waiting) {
		(void)mts_discovery_cancel(q->conn->r->discovery, q->domain, on_discovered, q);
		q->waiting = false;
	}
}
