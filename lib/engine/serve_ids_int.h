/*
 * serve_ids_int.h - (internal) the part of `mtasts serve` that keeps every
 * hosted domain's published _mta-sts id in step with the policy it serves:
 * each round it reads the domains from the store, gives the update-order
 * state machine (lib/core/hosted.c) the certificate of each policy host,
 * and does the one action it returns:
 *   - publish an id: an RFC 2136 update signed with TSIG (dns_update) of
 *     the TXT record at _mta-sts.<domain>.<zone>, or, in print mode, a log
 *     line with the nsupdate(1) input for the operator, then a DNS lookup
 *     each round until the record is there;
 *   - serve mode none for a removed domain; delete its record once every
 *     cached policy has expired; forget it.
 * Every step is written to the store compare-and-set before it is taken
 * (the update is sent only when this replica won the write), so several
 * replicas on one store never send two updates for one domain. An update
 * whose replica died is given up after three timeouts and retried.
 *
 * Asynchronous on the caller's libevent base. Does I/O (DNS); the decisions
 * are the core's.
 */
#ifndef MTASTS_SERVE_IDS_INT_H
#define MTASTS_SERVE_IDS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hosted_int.h"
#include "engine/serve_host_int.h"
#include "io/dns_update_int.h"
#include "io/serve_store_int.h"

#define MTS_SERVE_IDS_INTERVAL_DEFAULT 5 /* s between two rounds */
#define MTS_SERVE_IDS_TTL_DEFAULT 300	 /* s: TTL of the published TXT records */
#define MTS_SERVE_IDS_IN_FLIGHT_MAX 16	 /* DNS updates or lookups at once */

struct mts_serve_ids;

struct mts_serve_ids_stats {
	unsigned long long rounds, published, deleted, forgotten, served_none;
	unsigned long long updates_ok, updates_failed, conflicts;
	size_t in_flight;
};

struct mts_serve_ids_opts {
	const char *zone;		      /* the service zone (the store's setting) */
	bool print;			      /* print mode: log the change, confirm by lookup */
	const char *server;		      /* update mode: the zone's primary, ADDR@PORT */
	const struct mts_dns_update_key *key; /* update mode (copied) */
	const char *resolver;		      /* print mode: where to look the records up */
	unsigned interval;		      /* s; 0: MTS_SERVE_IDS_INTERVAL_DEFAULT */
	uint32_t ttl;			      /* 0: MTS_SERVE_IDS_TTL_DEFAULT */
	unsigned timeout_ms;		      /* of one update or lookup; 0: the module's default */
	struct mts_hosted_rules rules;
	mts_serve_log_fn log;
	void *log_arg;
};

/* Start on base with store (borrowed). NULL with err when opts are wrong. */
struct mts_serve_ids *mts_serve_ids_new(struct event_base *base, struct mts_serve_store *store,
					const struct mts_serve_ids_opts *opts,
					struct mts_error *err);
/* Run a round now (also done every interval). */
void mts_serve_ids_round(struct mts_serve_ids *ids);
void mts_serve_ids_stats(const struct mts_serve_ids *ids, struct mts_serve_ids_stats *out);
/* Cancel what is in flight (its steps are retried by the next process). */
void mts_serve_ids_free(struct mts_serve_ids *ids);

#endif
