/*
 * serve_store_int.h - (internal) the state of `mtasts serve`: the hosted
 * domains (what the operator asked for, the bytes served, the update state
 * of lib/core/hosted.c) and each domain's id history.
 *
 * One interface chosen by URL, like the report store: sqlite:///path (the
 * default; WAL, every write one transaction, so a crash never leaves half a
 * domain). Writers never overwrite each other unseen: every row has a
 * revision, and mts_serve_store_put() writes only over the revision it read
 * (compare-and-set), so the CLI and every replica can change the same
 * domain. Does I/O (the store); decides nothing.
 */
#ifndef MTASTS_SERVE_STORE_INT_H
#define MTASTS_SERVE_STORE_INT_H

#include <stddef.h>

#include "core/hosted_int.h"
#include "io/acme_int.h"
#include "mtasts/error.h"

#define MTS_SERVE_STORE_ENV "MTASTS_SERVE_STORE"
#define MTS_SERVE_STORE_DEFAULT "sqlite:///var/lib/mtasts/serve.db"
#define MTS_SERVE_STORE_BUSY_MS 5000	 /* wait this long for another writer */
#define MTS_SERVE_STORE_HISTORY_MAX 1000 /* ids kept per domain, newest first */

struct mts_serve_store;

/* One id a domain's policy was served under. */
struct mts_serve_history {
	char id[MTS_STS_ID_MAX + 1];
	char *policy; /* the bytes (owned) */
	size_t policy_len;
	long long served_at;	/* when it began to be served */
	long long published_at; /* when its id was confirmed in DNS, 0 = never */
};

int mts_serve_store_open(const char *url, struct mts_serve_store **out, struct mts_error *err);
void mts_serve_store_close(struct mts_serve_store *s);

/* Insert a new domain (d->rev becomes 1). MTS_EEXIST when it is hosted. */
int mts_serve_store_add(struct mts_serve_store *s, struct mts_hosted_domain *d,
			struct mts_error *err);
/* Read one domain into out (owned: mts_hosted_domain_clear). MTS_ENOTFOUND. */
int mts_serve_store_get(struct mts_serve_store *s, const char *name, struct mts_hosted_domain *out,
			struct mts_error *err);
/* Write d over the revision it was read at (d->rev), then d->rev++.
 * MTS_ECONFLICT when another writer changed it since (nothing written),
 * MTS_ENOTFOUND when it was deleted. */
int mts_serve_store_put(struct mts_serve_store *s, struct mts_hosted_domain *d,
			struct mts_error *err);
/* Drop a domain and its history (the state machine said forget). */
int mts_serve_store_delete(struct mts_serve_store *s, const char *name, struct mts_error *err);
/* Every domain, by name. *out is an array of *count (mts_serve_domains_free). */
int mts_serve_store_list(struct mts_serve_store *s, struct mts_hosted_domain **out, size_t *count,
			 struct mts_error *err);
void mts_serve_domains_free(struct mts_hosted_domain *d, size_t count);

/* Record that d's current bytes are served under d->state.served_id (from
 * d->state.served_since); idempotent. Keeps the newest HISTORY_MAX. */
int mts_serve_store_history_add(struct mts_serve_store *s, const struct mts_hosted_domain *d,
				struct mts_error *err);
/* Record that id of name was confirmed in DNS at `at`. */
int mts_serve_store_history_published(struct mts_serve_store *s, const char *name, const char *id,
				      long long at, struct mts_error *err);
/* name's history, newest first (mts_serve_history_free). */
int mts_serve_store_history(struct mts_serve_store *s, const char *name,
			    struct mts_serve_history **out, size_t *count, struct mts_error *err);
void mts_serve_history_free(struct mts_serve_history *h, size_t count);

/* The service's settings, shared by every replica and the CLI through the
 * store (`mtasts serve init`): MTS_SERVE_SETTING_*. get: MTS_ENOTFOUND
 * when unset, MTS_ESTORE when the value does not fit cap. */
#define MTS_SERVE_SETTING_ZONE "zone"		    /* where the service publishes _mta-sts TXT */
#define MTS_SERVE_SETTING_SERVICE "service"	    /* the name mta-sts.<domain> CNAMEs to */
#define MTS_SERVE_SETTING_RUA "rua"		    /* where hosted domains' TLS reports go */
#define MTS_SERVE_SETTING_PROPAGATION "propagation" /* s every replica takes to serve a change */
int mts_serve_store_setting_get(struct mts_serve_store *s, const char *key, char *out, size_t cap,
				struct mts_error *err);
int mts_serve_store_setting_set(struct mts_serve_store *s, const char *key, const char *value,
				struct mts_error *err);

/* A number that changes whenever the store's content may have (a commit by
 * any writer); -1 when it cannot be read: read everything then. */
long long mts_serve_store_data_version(struct mts_serve_store *s);

/* A policy host's certificate: the PEM key and chain (leaf first) the
 * service presents for name (mta-sts.<domain>). */
struct mts_serve_cert {
	char name[MTS_DNAME_MAX + 1];
	char *key_pem, *chain_pem; /* owned */
	long long not_before, not_after, updated_at;
};
/* Insert or replace name's certificate. */
int mts_serve_store_cert_put(struct mts_serve_store *s, const struct mts_serve_cert *c,
			     struct mts_error *err);
/* Certificates updated at or after changed_since (0: all), by name
 * (mts_serve_certs_free, which also wipes the keys). */
int mts_serve_store_certs(struct mts_serve_store *s, long long changed_since,
			  struct mts_serve_cert **out, size_t *count, struct mts_error *err);
void mts_serve_certs_free(struct mts_serve_cert *c, size_t count);

/* ACME http-01 (RFC 8555 §8.3): the key authorization the plain-HTTP port
 * answers for token until expires_at; get: MTS_ENOTFOUND when none. */
int mts_serve_store_challenge_put(struct mts_serve_store *s, const char *token,
				  const char *key_authorization, const char *name,
				  long long expires_at, struct mts_error *err);
int mts_serve_store_challenge_get(struct mts_serve_store *s, const char *token, long long now,
				  char *out, size_t cap, struct mts_error *err);

/* One policy host name's certificate orders (serve_acme): the backoff of
 * its tries, the replica that holds it now, and the order in progress so
 * that another replica can resume it. The order holds the new
 * certificate's key: the store is as secret as the certificates. */
struct mts_serve_acme_state {
	char name[MTS_DNAME_MAX + 1];
	long long last_try;
	unsigned failures;
	char last_error[256];
	long long claimed_until; /* a replica works on it until then */
	char owner[64];
	bool has_order;
	struct mts_acme_order order;
};
/* name's state (zeroed with the name when there is none yet). */
int mts_serve_store_acme_get(struct mts_serve_store *s, const char *name,
			     struct mts_serve_acme_state *out, struct mts_error *err);
/* Take name for owner until `until`, unless another owner holds it past
 * now: 0, or MTS_ECONFLICT. */
int mts_serve_store_acme_claim(struct mts_serve_store *s, const char *name, const char *owner,
			       long long until, long long now, struct mts_error *err);
int mts_serve_store_acme_put(struct mts_serve_store *s, const struct mts_serve_acme_state *a,
			     struct mts_error *err);

#endif
