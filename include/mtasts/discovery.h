/*
 * discovery.h - the sending side of MTA-STS (RFC 8461 §3.3, §4, §5): for a
 * policy domain, look up _mta-sts TXT, compare its id with the cached
 * policy, fetch the policy over HTTPS when it is new or changed (or close to
 * expiry), keep using an unexpired cached policy when DNS or the fetch
 * fails, and remember failures for a short, bounded time.
 *
 * Asynchronous on one caller-owned libevent base. Concurrent lookups of one
 * domain share one discovery: every waiter gets the same result. Callbacks
 * always run from the loop (never inside mts_discovery_lookup()); the result
 * and everything it points to are valid only during the callback.
 *
 * Time is an input: the engine reads opts->clock (default: the real clock),
 * so that tests move time by hand. The network is behind a transport vtable:
 * mts_discovery_net is the real one (libunbound + libcurl); tests give
 * fakes. The engine does no I/O of its own besides the cache it is given.
 */
#ifndef MTASTS_DISCOVERY_H
#define MTASTS_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/audit.h"
#include "mtasts/cache.h"
#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/policy.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

struct event_base;
struct mts_discovery;
struct mts_discovery_net;

#define MTS_DISCOVERY_NEGATIVE_TTL 60         /* s: first backoff after a failure */
#define MTS_DISCOVERY_NEGATIVE_TTL_MAX 900    /* s: bound of the doubling backoff */
#define MTS_DISCOVERY_REFRESH_DIVISOR 8       /* refresh in the last 1/8 of max_age */
#define MTS_DISCOVERY_REFRESH_MAX 86400       /* ... but at most a day before expiry */
#define MTS_DISCOVERY_REFETCH_AGE 86400       /* s: refetch a policy this old even with an
						 unchanged id (RFC 8461 §10.2), less a
						 per-domain jitter of up to 1/8 */
#define MTS_DISCOVERY_MAX_TXT 16              /* TXT records examined at _mta-sts */
#define MTS_DISCOVERY_BUCKETS 1024            /* in-flight table (chained) */

/* What this discovery concluded; the names are the rig's expect_fetch values
 * and, for the three failures of a fetch, RFC 8460 §4.3 result types. */
enum mts_discovery_outcome {
	MTS_OUTCOME_OK = 0,          /* a valid policy was fetched or confirmed */
	MTS_OUTCOME_NO_POLICY,       /* no usable _mta-sts record */
	MTS_OUTCOME_FETCH_ERROR,     /* sts-policy-fetch-error */
	MTS_OUTCOME_WEBPKI,          /* sts-webpki-invalid */
	MTS_OUTCOME_INVALID,         /* sts-policy-invalid */
	MTS_OUTCOME_DNS_ERROR,       /* the TXT lookup failed (SERVFAIL, timeout, bogus) */
};

enum mts_policy_source {
	MTS_SOURCE_NONE = 0,         /* no policy applies */
	MTS_SOURCE_NETWORK,          /* fetched by this discovery */
	MTS_SOURCE_CACHE,            /* the cached policy (id unchanged, or a fallback) */
	MTS_SOURCE_NEGATIVE,         /* a recent failure was remembered: no network used */
};

struct mts_discovery_result {
	const char *domain;
	enum mts_discovery_outcome outcome;
	enum mts_policy_source source;
	const struct mts_policy *policy; /* the policy to apply, or NULL */
	const char *policy_id;       /* the id the applied policy was fetched under, or "" */
	const char *txt_id;          /* the id published now, "" when none was read */
	bool fetched;                /* an HTTPS fetch was made */
	const char *reason;          /* one line: why the outcome is not OK, or "" */
	long long now;
	long long fetched_at, expires_at; /* of the applied policy; 0 when none */
	long http_status;            /* of the fetch; 0 when none */
	const char *connected_to;    /* address the fetch used, or "" */
	enum mts_dnssec txt_dnssec;
	size_t txt_count;            /* the TXT records at _mta-sts (strings joined) */
	const char *const *txts;
	const size_t *txt_lens;
	const unsigned *txt_strings; /* character-strings per record */
	const struct mts_findings *findings; /* record, fetch, policy and cache findings */
	const char *cache_error;     /* the cache failed (our problem, not a finding), or "" */
};

typedef void (*mts_discovery_cb)(const struct mts_discovery_result *result, void *arg);

/* The network, as the engine sees it. Answers are valid during the call. */
struct mts_discovery_txt_answer {
	enum mts_lookup lookup;      /* OK (maybe no records), NXDOMAIN, FAILED */
	enum mts_finding_code failure; /* FAILED: MTS_F_DNS_SERVFAIL, _TIMEOUT, _BOGUS, _ERROR */
	const char *message;         /* FAILED: why */
	enum mts_dnssec dnssec;
	size_t count;
	const char *const *txts;
	const size_t *lens;
	const unsigned *strings;
};

struct mts_discovery_fetch_answer {
	enum mts_fetch_result result; /* MTS_FETCH_OK, _ERROR or _WEBPKI */
	enum mts_finding_code code;  /* the finding of a failure */
	const char *message;
	long http_status;
	const char *connected_to;
	const char *body;            /* OK: the bytes served */
	size_t body_len;
};

typedef void (*mts_discovery_txt_done)(const struct mts_discovery_txt_answer *a, void *op);
typedef void (*mts_discovery_fetch_done)(const struct mts_discovery_fetch_answer *a, void *op);

struct mts_discovery_transport {
	/* Start the lookup of _mta-sts.<domain> TXT / the fetch of
	 * https://mta-sts.<domain>/.well-known/mta-sts.txt; call done(answer, op)
	 * once, from the loop. Return a handle for cancel(), or NULL when the
	 * request could not start (done is then not called). */
	void *(*txt)(void *tctx, const char *domain, mts_discovery_txt_done done, void *op);
	void *(*fetch)(void *tctx, const char *domain, mts_discovery_fetch_done done, void *op);
	void (*cancel)(void *tctx, void *handle);
};

struct mts_discovery_opts {
	mts_clock_fn clock;          /* NULL: time(NULL) */
	void *clock_arg;
	unsigned negative_ttl;       /* 0: MTS_DISCOVERY_NEGATIVE_TTL */
	unsigned negative_ttl_max;   /* 0: MTS_DISCOVERY_NEGATIVE_TTL_MAX */
	bool no_negative;            /* never answer from a remembered failure */
};

/* The cache and the transport are borrowed and must outlive the engine. */
struct mts_discovery *mts_discovery_new(struct event_base *base, struct mts_cache *cache,
					const struct mts_discovery_transport *transport,
					void *tctx, const struct mts_discovery_opts *opts,
					struct mts_error *err);
/* Cancel every discovery in flight (no callback runs) and free. Not from
 * inside a discovery callback. */
void mts_discovery_free(struct mts_discovery *d);

/* Discover the policy of domain (a normalised A-label name). cb runs once,
 * from the loop. Returns 0, or MTS_EINVAL / MTS_ENOMEM (cb is not called). */
int mts_discovery_lookup(struct mts_discovery *d, const char *domain, mts_discovery_cb cb,
			 void *arg, struct mts_error *err);
/* Withdraw a waiter (same domain, cb and arg) whose client went away: its
 * callback will not run. The discovery itself goes on and fills the cache.
 * Returns 0, or MTS_ENOTFOUND when no such waiter is pending. */
int mts_discovery_cancel(struct mts_discovery *d, const char *domain, mts_discovery_cb cb,
			 void *arg);
/* Discoveries in flight (domains, not waiters). */
size_t mts_discovery_pending(const struct mts_discovery *d);

const char *mts_discovery_outcome_name(enum mts_discovery_outcome o);
const char *mts_policy_source_name(enum mts_policy_source s);

/* The real transport: libunbound for DNS (TXT, and A/AAAA of the policy
 * host) and libcurl for HTTPS. connect_to entries ("HOST:PORT:ADDR:PORT",
 * numeric ADDR) replace the policy host's DNS lookup when they match it. */
struct mts_discovery_net_opts {
	const char *resolver;        /* "ADDR@PORT"; NULL: the system resolver */
	const char *trust_anchor_file;
	const char *ca_file;         /* NULL: the system store */
	const char *const *connect_to;
	size_t connect_to_count;
	unsigned timeout_ms;         /* each DNS query, and the whole HTTPS transfer */
};
extern const struct mts_discovery_transport mts_discovery_net_transport;
struct mts_discovery_net *mts_discovery_net_new(struct event_base *base,
						const struct mts_discovery_net_opts *opts,
						struct mts_error *err);
void mts_discovery_net_free(struct mts_discovery_net *n);

MTS_END_DECLS

#endif
