/*
 * serve_acme_int.h - (internal) certificates for every hosted policy host
 * name, by ACME (RFC 8555, lib/io/acme.c), in a worker thread of `mtasts
 * serve run`.
 *
 * Every `interval` seconds the worker reads the hosted domains and their
 * certificates from the store (its own connection) and orders one for
 * mta-sts.<domain> when there is none or a third of its lifetime is left.
 * Before an order it checks that the name really points at the service
 * (its A/AAAA addresses meet the service name's), so that a customer's
 * mistake costs no try at the CA; a name is tried at most once an hour,
 * the wait doubling after each failure (mts_acme_next_try). An order is
 * claimed in the store for its run and saved after every step, so that if
 * the replica dies another one resumes it. http-01: the answer goes into
 * the store, where every replica's plain-HTTP port serves it. A new
 * certificate goes into the store, where the policy host and the id engine
 * pick it up.
 *
 * Does I/O (ACME over HTTPS, DNS, the store); the rules are acme.c's.
 */
#ifndef MTASTS_SERVE_ACME_INT_H
#define MTASTS_SERVE_ACME_INT_H

#include <stdbool.h>

#include "engine/serve_host_int.h"
#include "mtasts/error.h"

#define MTS_SERVE_ACME_INTERVAL_DEFAULT 60 /* s between two scans */

struct mts_serve_acme;

struct mts_serve_acme_opts {
	const char *store_url;	   /* the worker opens its own connection */
	const char *directory_url; /* the ACME directory */
	const char *ca_file;	   /* trust for the ACME server; NULL: the system's */
	const char *contact_email; /* optional */
	const char *service;	   /* the name customers' policy hosts point at */
	const char *resolver;	   /* for the points-at check; NULL: the system's */
	const char *owner;	   /* this replica's name in claims (host:pid) */
	unsigned interval;	   /* s; 0: MTS_SERVE_ACME_INTERVAL_DEFAULT */
	mts_serve_log_fn log;	   /* called from the worker thread */
	void *log_arg;
};

struct mts_serve_acme_stats {
	unsigned long long scans, orders_ok, orders_failed, not_pointing, resumed;
};

/* Start the worker. NULL with err when it cannot start. */
struct mts_serve_acme *mts_serve_acme_start(const struct mts_serve_acme_opts *opts,
					    struct mts_error *err);
void mts_serve_acme_stats(struct mts_serve_acme *a, struct mts_serve_acme_stats *out);
/* Ask the worker to stop (an order in flight ends at its next request or
 * poll, and stays resumable) and wait for it. */
void mts_serve_acme_stop(struct mts_serve_acme *a);

#endif
