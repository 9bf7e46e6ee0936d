/*
 * https_int.h - (internal) fetch an MTA-STS policy file over HTTPS (RFC 8461 §3.3) with
 * libcurl's multi interface, driven by a caller-owned libevent base.
 *
 * One mts_https serves many concurrent fetches on one loop. A fetch GETs
 * https://mta-sts.<domain>/.well-known/mta-sts.txt, connecting to the
 * address the caller resolved (so the caller's resolver applies), never
 * follows redirects, validates the certificate for mta-sts.<domain> against
 * opts->ca_file, else the system store (SSL_CERT_FILE and SSL_CERT_DIR
 * replace its file and directory, as in OpenSSL), accepts only status 200 with a
 * text/plain body of at most MTS_POLICY_MAX_BYTES, and enforces connect and
 * total time limits. Each failure maps to an RFC 8460 result type and a
 * finding code. The result passed to the callback is valid only during the
 * call. Does I/O; the body is not parsed here.
 *
 * The parsers of Content-Type values and of curl-style connect-to specs are
 * pure and exported for tests and fuzzing.
 */
#ifndef MTASTS_HTTPS_INT_H
#define MTASTS_HTTPS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/audit.h"
#include "mtasts/error.h"
#include "mtasts/findings.h"

struct event_base;
struct mts_https;
struct mts_https_fetch;

#define MTS_HTTPS_CONNECT_TIMEOUT_MS 10000
#define MTS_HTTPS_TIMEOUT_MS 30000 /* whole transfer; RFC 8461 §3.3 suggests a short limit */

struct mts_https_result {
	const char *domain;
	enum mts_fetch_result failure; /* OK, ERROR or WEBPKI (RFC 8460 types, audit.h) */
	enum mts_finding_code code; /* the finding for a failure */
	char message[256];          /* what went wrong, in words */
	long http_status;           /* 0 when no response */
	char content_type[128];     /* as received (printable), or "" */
	char connected_to[64];      /* the address used */
	const char *body;           /* NUL-terminated copy; NULL on failure */
	size_t body_len;
	double seconds;             /* total time */
};

typedef void (*mts_https_cb)(const struct mts_https_result *result, void *arg);

struct mts_https_opts {
	const char *ca_file;         /* NULL = the system store, or SSL_CERT_FILE/DIR */
	unsigned connect_timeout_ms; /* 0 = MTS_HTTPS_CONNECT_TIMEOUT_MS */
	unsigned timeout_ms;         /* 0 = MTS_HTTPS_TIMEOUT_MS */
};

struct mts_https *mts_https_new(struct event_base *base, struct mts_error *err);
/* Abort every transfer in flight (their callbacks are not called) and free. */
void mts_https_free(struct mts_https *h);

/* Fetch the policy of domain, connecting to addr (numeric IPv4/IPv6) at port.
 * cb is called exactly once from the loop unless cancelled. */
struct mts_https_fetch *mts_https_fetch_policy(struct mts_https *h, const char *domain,
					       const char *addr, unsigned port,
					       const struct mts_https_opts *opts, mts_https_cb cb,
					       void *arg, struct mts_error *err);
void mts_https_cancel(struct mts_https_fetch *f);

/* Is this Content-Type value text/plain (case-insensitive, parameters
 * allowed, RFC 9110 §8.3)? */
bool mts_https_content_type_ok(const char *value, size_t len);

/* curl-style "HOST:PORT:ADDR:PORT"; an empty HOST or first PORT matches any,
 * ADDR may be an IPv6 literal in brackets; an empty ADDR keeps the host. */
struct mts_connect_to {
	char host[256];
	unsigned port;       /* 0 = any */
	char addr[256];      /* "" = unchanged */
	unsigned addr_port;  /* 0 = unchanged */
};
int mts_connect_to_parse(const char *spec, size_t len, struct mts_connect_to *out);
/* Does it apply to host:port (case-insensitive)? */
bool mts_connect_to_matches(const struct mts_connect_to *ct, const char *host, unsigned port);

#endif
