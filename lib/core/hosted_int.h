/*
 * hosted_int.h - (internal) the life of one hosted domain's policy and
 * _mta-sts id as `mtasts serve` keeps them in step: the safe order of an
 * update (RFC 8461 §3.1, §8) as a pure state machine.
 *
 * The order it enforces:
 *   - a new policy is served first, by every replica: its id is announced
 *     only once the bytes have been served for `propagation` seconds (the
 *     longest a replica takes to pick up a change from the shared store);
 *   - an id is never announced while the policy host's name lacks a
 *     certificate valid for at least `cert_margin` more seconds (a sender
 *     that sees the new id fetches at once, and must succeed);
 *   - a failed DNS update leaves the old id published (safe: senders keep a
 *     policy that is older than the one served, never one that is newer
 *     than its id) and is retried with a doubling backoff;
 *   - a policy that changes again while an update is in flight is announced
 *     in turn: an id is only ever published for bytes that are served;
 *   - a removed domain serves `mode: none` under a new id, keeps serving it
 *     until every sender's cached policy has expired (the longest max_age of
 *     any policy it served, from when that policy was replaced), then the
 *     record is deleted, then the policy (RFC 8461 §8.3).
 *
 * The caller (the serve engine) feeds events with the time they happened
 * (mts_hosted_apply) and asks what to do now (mts_hosted_next), which
 * returns one action and when to ask again. Pure: no I/O, no clock, no
 * allocation; the struct is plain data the caller keeps in its store.
 */
#ifndef MTASTS_HOSTED_INT_H
#define MTASTS_HOSTED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mtasts/dname.h"
#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/policy.h"
#include "mtasts/sts_record.h"

#define MTS_HOSTED_PROPAGATION_DEFAULT 30    /* s: replicas see a store change within */
#define MTS_HOSTED_CERT_MARGIN_DEFAULT 86400 /* s of certificate validity an id needs */
#define MTS_HOSTED_BACKOFF_MIN 10	     /* s after the first failed update */
#define MTS_HOSTED_BACKOFF_MAX 3600	     /* s: the doubling stops here */

enum mts_hosted_phase {
	MTS_HOSTED_NEW = 0,    /* added: no policy served yet */
	MTS_HOSTED_SERVING,    /* the served policy's id is not published yet */
	MTS_HOSTED_PUBLISHING, /* the DNS update of the served id is in flight */
	MTS_HOSTED_STABLE,     /* the published id is the served policy's */
	MTS_HOSTED_RETIRING,   /* removed: mode none published, waiting for caches */
	MTS_HOSTED_DELETING,   /* removed: the record's deletion is in flight */
	MTS_HOSTED_GONE,       /* the record is deleted: stop serving, forget */
};

struct mts_hosted {
	enum mts_hosted_phase phase;
	bool removing;			       /* removal asked */
	bool served_none;		       /* the served policy is mode none */
	char served_id[MTS_STS_ID_MAX + 1];    /* id minted for the served bytes, "" none */
	char published_id[MTS_STS_ID_MAX + 1]; /* id in DNS as last confirmed, "" none */
	char inflight_id[MTS_STS_ID_MAX + 1];  /* id of the update in flight, "" none */
	uint32_t served_max_age;	       /* of the served policy */
	long long served_since;		       /* when the served bytes began to be served */
	long long held_until;		       /* a sender may hold a replaced policy until */
	long long cert_not_after;	       /* of the policy host's certificate, 0 none */
	long long next_try;		       /* no update before this (backoff) */
	unsigned failures;		       /* consecutive failed updates */
};

enum mts_hosted_event_type {
	MTS_HOSTED_EV_SERVED = 1,    /* the store serves new bytes from now: id, max_age, none */
	MTS_HOSTED_EV_CERT,	     /* the policy host's certificate: not_after (0: none) */
	MTS_HOSTED_EV_UPDATE_SENT,   /* the caller started the update the action asked: id */
	MTS_HOSTED_EV_UPDATE_OK,     /* the update of id succeeded (id "" : the deletion) */
	MTS_HOSTED_EV_UPDATE_FAILED, /* it failed (the server said no, or no answer) */
	MTS_HOSTED_EV_REMOVE,	     /* the operator removed the domain */
};

struct mts_hosted_event {
	enum mts_hosted_event_type type;
	const char *id;	     /* SERVED, UPDATE_SENT, UPDATE_OK */
	uint32_t max_age;    /* SERVED */
	bool none;	     /* SERVED: the policy is mode none */
	long long not_after; /* CERT */
};

enum mts_hosted_do {
	MTS_HOSTED_DO_WAIT = 0,	  /* nothing now; ask again at wake_at (0: on the next event) */
	MTS_HOSTED_DO_PUBLISH,	  /* publish "v=STSv1; id=<id>" (update, then UPDATE_SENT) */
	MTS_HOSTED_DO_SERVE_NONE, /* serve a mode none policy under a new id (then SERVED) */
	MTS_HOSTED_DO_DELETE,	  /* delete the _mta-sts record (update, then UPDATE_SENT "") */
	MTS_HOSTED_DO_FORGET,	  /* stop serving the policy and drop the domain */
};

struct mts_hosted_action {
	enum mts_hosted_do what;
	char id[MTS_STS_ID_MAX + 1]; /* PUBLISH */
	long long wake_at;	     /* WAIT: when the answer may change, 0 = on an event */
	const char *why;	     /* one line for logs and `serve domain show` */
};

struct mts_hosted_rules {
	unsigned propagation; /* 0: MTS_HOSTED_PROPAGATION_DEFAULT */
	unsigned cert_margin; /* 0: MTS_HOSTED_CERT_MARGIN_DEFAULT */
	unsigned backoff_min; /* 0: MTS_HOSTED_BACKOFF_MIN */
	unsigned backoff_max; /* 0: MTS_HOSTED_BACKOFF_MAX */
};

/* A domain just added: nothing served, nothing published. */
void mts_hosted_init(struct mts_hosted *h);

/* Take an event that happened at now. Returns 0, or MTS_EINVAL for an
 * event that does not fit the state (an id that is not a valid one, an
 * UPDATE_OK or _FAILED with no update in flight, a SERVED after GONE): the
 * state is then unchanged. */
int mts_hosted_apply(struct mts_hosted *h, const struct mts_hosted_event *ev, long long now,
		     const struct mts_hosted_rules *rules);

/* What to do now. rules may be NULL (the defaults). */
void mts_hosted_next(const struct mts_hosted *h, long long now,
		     const struct mts_hosted_rules *rules, struct mts_hosted_action *out);

/* One hosted domain as the service keeps it: what the operator asked for,
 * the bytes served, and the update state. Owns its mx and policy. */
struct mts_hosted_domain {
	char name[MTS_DNAME_MAX + 1]; /* the customer's domain, A-label, lowercase */
	enum mts_mode mode;
	uint32_t max_age;
	bool mx_auto; /* the patterns follow the domain's live MX records */
	char **mx;    /* the patterns served, normalised */
	size_t mx_count;
	char *policy; /* the bytes served (canonical file, CRLF), NUL-terminated */
	size_t policy_len;
	struct mts_hosted state; /* state.served_id is the id minted for policy */
	long long created_at, updated_at;
	long long rev; /* the store's revision of this row (compare-and-set) */
};

#define MTS_HOSTED_MX_MAX 64 /* patterns per hosted policy (a limit of ours, not the RFC's) */

/* Serve a policy built from mode, max_age and the patterns: the canonical
 * bytes must lint without an error (findings get every finding, errors
 * included). When they differ from the bytes served, a new id is minted
 * (now and the bytes' digest) and the state is told they are served from
 * now. Returns 1 (new bytes, new id), 0 (the same bytes: nothing changes),
 * or MTS_EINVAL / MTS_ETOOBIG / MTS_ENOMEM with err naming the field. */
int mts_hosted_domain_set_policy(struct mts_hosted_domain *d, enum mts_mode mode, uint32_t max_age,
				 const char *const *mx, size_t mx_count, long long now,
				 const struct mts_hosted_rules *rules,
				 struct mts_findings *findings, struct mts_error *err);
void mts_hosted_domain_clear(struct mts_hosted_domain *d);

/* The DNS names of a hosted domain: what the customer publishes (two
 * CNAMEs) and where the service publishes the TXT record. */
struct mts_hosted_names {
	char policy_host[MTS_DNAME_MAX + 1]; /* mta-sts.<domain>: CNAME to service */
	char sts_name[MTS_DNAME_MAX + 1];    /* _mta-sts.<domain>: CNAME to sts_target */
	char sts_target[MTS_DNAME_MAX + 1];  /* _mta-sts.<domain>.<zone>: the TXT record */
	char tlsrpt_name[MTS_DNAME_MAX + 1]; /* _smtp._tls.<domain> */
};
/* Fill names for domain under the service's zone. MTS_ETOOBIG when a name
 * would pass 253 characters (err says which). */
int mts_hosted_names(const char *domain, const char *zone, struct mts_hosted_names *out,
		     struct mts_error *err);

const char *mts_hosted_phase_name(enum mts_hosted_phase p);
const char *mts_hosted_do_name(enum mts_hosted_do d);

#endif
