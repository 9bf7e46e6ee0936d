/*
 * serve_host_int.h - (internal) the policy host of `mtasts serve`: HTTPS
 * for many tenants on one event loop. SNI selects the certificate (from the
 * serve store), Host the tenant; the answer is the tenant's exact bytes
 * (serve_route_int.h has the rules). The plain-HTTP port answers ACME
 * http-01 challenges from the store and 404 otherwise.
 *
 * What it serves comes from the store, re-read every `refresh` seconds
 * (domains whose served bytes changed, certificates updated since the last
 * read), so that every replica on one store serves the same bytes within
 * that time: the serve engine waits at least as long (its propagation rule)
 * before it announces a new id. TLS 1.2 and 1.3 only; a name without a
 * certificate, or no SNI at all, gets the unrecognized_name alert.
 *
 * Connections: at most max_connections TLS connections at once (at the cap
 * the listener pauses, so new ones wait in the kernel's backlog instead of
 * failing accept() in a loop), each closed when it has lived max_time, so a
 * client that trickles bytes cannot hold one for ever.
 *
 * Listening sockets are the caller's (bound before privileges are dropped).
 * Does I/O; decides nothing beyond the routing rules.
 */
#ifndef MTASTS_SERVE_HOST_INT_H
#define MTASTS_SERVE_HOST_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "io/serve_store_int.h"
#include "mtasts/error.h"

struct event_base;
struct mts_serve_host;

#define MTS_SERVE_HOST_REFRESH_DEFAULT 5   /* s between two reads of the store */
#define MTS_SERVE_HOST_HEADERS_MAX 8192	   /* bytes of a request's headers */
#define MTS_SERVE_HOST_TIMEOUT_DEFAULT 10  /* s a connection may stay silent */
#define MTS_SERVE_HOST_MAX_TIME_DEFAULT 60 /* s a TLS connection may live in all */
#define MTS_SERVE_HOST_FD_RESERVE 64	   /* descriptors kept for the store, DNS, ACME */

/* Counters for the metrics endpoint and the tests. */
struct mts_serve_host_stats {
	unsigned long long policy_ok, policy_unknown; /* 200s, and 404s of a policy path */
	unsigned long long not_found, bad_method, bad_request;
	unsigned long long acme_ok, acme_unknown;
	unsigned long long refreshes, refresh_failures;
	unsigned long long cut_off; /* TLS connections closed at their max_time */
	unsigned long long at_cap;  /* times the HTTPS listener paused at the cap */
	size_t tenants, certificates;
	size_t connections, max_connections;	/* TLS connections now, and the cap */
	unsigned long long sni_ok, sni_unknown; /* handshakes by their SNI name */
	size_t certs_expired, certs_7d, certs_21d, certs_later; /* by days left */
};

typedef void (*mts_serve_log_fn)(int priority, const char *message, void *arg);

struct mts_serve_host_opts {
	int https_fd;		/* a listening socket, or -1 */
	int http_fd;		/* a listening socket for ACME http-01, or -1 */
	unsigned refresh;	/* s; 0: MTS_SERVE_HOST_REFRESH_DEFAULT */
	unsigned timeout;	/* s; 0: MTS_SERVE_HOST_TIMEOUT_DEFAULT */
	unsigned max_time;	/* s a TLS connection may live, handshake and requests
				   included (slowloris); 0: MTS_SERVE_HOST_MAX_TIME_DEFAULT */
	size_t max_connections; /* TLS connections at once; 0: from the descriptor limit
				   (raised to the hard one) less a reserve */
	mts_serve_log_fn log;	/* may be NULL */
	void *log_arg;
};

/* Start serving on base from store (both borrowed: they outlive the host).
 * The first read of the store happens here: a store that cannot be read is
 * an error (NULL, err says why). */
struct mts_serve_host *mts_serve_host_new(struct event_base *base, struct mts_serve_store *store,
					  const struct mts_serve_host_opts *opts,
					  struct mts_error *err);
/* Re-read the store now (also done every refresh seconds). */
int mts_serve_host_refresh(struct mts_serve_host *h, struct mts_error *err);
void mts_serve_host_stats(const struct mts_serve_host *h, struct mts_serve_host_stats *out);
void mts_serve_host_free(struct mts_serve_host *h);

#endif
