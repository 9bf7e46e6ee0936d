/*
 * acme_int.h - (internal) an ACME (RFC 8555) client: obtain a certificate for
 * one DNS name by http-01 or tls-alpn-01 (RFC 8737), for `mtasts serve`.
 *
 * In-process and synchronous: libcurl's easy interface (every request bounded
 * by opts->timeout_ms, no redirects, https only), OpenSSL 3 (ECDSA P-256
 * keys, JWS ES256 with the raw r||s signature, RFC 7638 thumbprints, CSRs)
 * and jansson. It is meant for a worker thread of the daemon: no globals, no
 * signals (CURLOPT_NOSIGNAL), never prints (opts->log), never exits. One
 * struct mts_acme is used by one thread at a time; several may run at once.
 * The program calls curl_global_init() once before the first mts_acme_new
 * and ignores SIGPIPE (as a daemon does anyway).
 *
 * The flow, each step persisted by the caller:
 *   mts_acme_new            directory, account key (given PEM or generated)
 *   mts_acme_account        newAccount (termsOfServiceAgreed), or find the
 *                           existing account of the key (onlyReturnExisting)
 *   mts_acme_order_new      newOrder for one name, fills struct mts_acme_order
 *   mts_acme_order_run      from whatever state the server reports: publish
 *                           the challenge answer (callback), respond, poll the
 *                           authorization, finalize with a CSR for the order's
 *                           own new P-256 key, poll the order, download the
 *                           chain; calls save() after every change of state
 *   mts_acme_order_resume   the same from a saved struct, in another process
 *                           or replica (the order, not the client, holds it)
 * Polls back off (0.5 s doubling to 16 s; a Retry-After, up to 60 s, wins)
 * until opts->order_timeout_s; an order left by a timeout stays resumable.
 *
 * Errors (negative MTS_E*, message in err naming the step or field):
 * a problem document (RFC 7807/8555 §6.7) is reported with its type and
 * detail, also kept in order->problem_*; rateLimited, serverInternal and
 * badNonce past MTS_ACME_NONCE_RETRIES are MTS_ETEMP; an invalid
 * authorization (the CA could not validate) is MTS_EINVAL; a timeout
 * MTS_ETIMEOUT; a malformed answer MTS_EPROTO; an oversized one MTS_ETOOBIG.
 *
 * Ownership: strings in results are malloc'd and freed with
 * mts_acme_cert_clear; struct mts_acme_order is plain data (fixed arrays,
 * no pointers) that the caller may copy and store as it is. It holds the
 * order's certificate key (PEM): keep the stored copy as secret as the
 * certificate key it becomes.
 *
 * Pure helpers (no I/O): the response parsers (fuzzed), the JWK thumbprint,
 * base64url, the renewal rule and the retry backoff.
 */
#ifndef MTASTS_ACME_INT_H
#define MTASTS_ACME_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/error.h"

#define MTS_ACME_MAX_RESPONSE (1024 * 1024) /* any JSON answer */
#define MTS_ACME_MAX_CHAIN (64 * 1024)	    /* a PEM certificate chain */
#define MTS_ACME_URL_MAX 512
#define MTS_ACME_TOKEN_MAX 256 /* RFC 8555 §8.1: base64url, >= 128 bits */
#define MTS_ACME_NONCE_MAX 256
#define MTS_ACME_NONCE_POOL 8
#define MTS_ACME_NONCE_RETRIES 5  /* badNonce retries per request (§6.5) */
#define MTS_ACME_KEY_PEM_MAX 1024 /* a P-256 private key in PKCS#8 PEM */
#define MTS_ACME_TIMEOUT_MS 30000 /* one HTTP request */
#define MTS_ACME_CONNECT_TIMEOUT_MS 10000
#define MTS_ACME_ORDER_TIMEOUT_S 300	   /* one run of an order, polls included */
#define MTS_ACME_POLL_MAX_S 16		   /* longest own wait between polls */
#define MTS_ACME_RETRY_AFTER_MAX_S 60	   /* longest Retry-After honoured */
#define MTS_ACME_BACKOFF_MIN_S 3600	   /* at most one try per name per hour */
#define MTS_ACME_BACKOFF_MAX_S (7 * 86400) /* doubling stops at a week */

struct mts_acme;

/* syslog priority (LOG_ERR ... LOG_DEBUG) and one key=value line. */
typedef void (*mts_acme_log_fn)(int priority, const char *line, void *arg);

struct mts_acme_opts {
	const char *directory_url;   /* https://.../directory (required) */
	const char *ca_file;	     /* trust for the ACME server's TLS; NULL = system store */
	const char *account_key_pem; /* NULL: a new P-256 key is generated */
	size_t account_key_len;
	const char *account_url;     /* a known account (kid); NULL: call mts_acme_account */
	const char *contact_email;   /* optional, becomes "mailto:..." */
	unsigned connect_timeout_ms; /* 0 = MTS_ACME_CONNECT_TIMEOUT_MS */
	unsigned timeout_ms;	     /* per request; 0 = MTS_ACME_TIMEOUT_MS */
	unsigned order_timeout_s;    /* per mts_acme_order_run; 0 = MTS_ACME_ORDER_TIMEOUT_S */
	mts_acme_log_fn log;	     /* NULL = silent */
	void *log_arg;
};

enum mts_acme_challenge_type { MTS_ACME_HTTP_01 = 0, MTS_ACME_TLS_ALPN_01 };

/* How far an order got, as this client last saw it. */
enum mts_acme_step {
	MTS_ACME_STEP_ORDERED = 0, /* newOrder done, challenge chosen */
	MTS_ACME_STEP_RESPONDED,   /* the challenge was answered; validation runs */
	MTS_ACME_STEP_VALIDATED,   /* the authorization is valid */
	MTS_ACME_STEP_FINALIZED,   /* the CSR was sent */
	MTS_ACME_STEP_DONE,	   /* the certificate was downloaded */
	MTS_ACME_STEP_FAILED,	   /* the order or its authorization is invalid */
};

/* The state of one order: plain data, the caller stores it after every
 * save() call so that any process holding the same account can resume. */
struct mts_acme_order {
	char name[254]; /* the identifier (a DNS name) */
	enum mts_acme_challenge_type type;
	enum mts_acme_step step;
	char status[16]; /* the order's status as last seen */
	char order_url[MTS_ACME_URL_MAX];
	char authz_url[MTS_ACME_URL_MAX];
	char challenge_url[MTS_ACME_URL_MAX];
	char finalize_url[MTS_ACME_URL_MAX];
	char certificate_url[MTS_ACME_URL_MAX];
	char token[MTS_ACME_TOKEN_MAX];
	char key_pem[MTS_ACME_KEY_PEM_MAX]; /* the certificate's key (PKCS#8 PEM), secret */
	char problem_type[128];		    /* why it failed: RFC 8555 §6.7 type */
	char problem_detail[256];	    /* and detail (printable, truncated) */
};

/* What the caller publishes for the CA to find. */
struct mts_acme_challenge {
	enum mts_acme_challenge_type type;
	const char *name;
	const char *token;	       /* http-01: GET /.well-known/acme-challenge/<token> */
	const char *key_authorization; /* http-01: the body to answer with */
	const char *alpn_cert_pem;     /* tls-alpn-01: serve for SNI name with ALPN "acme-tls/1" */
	const char *alpn_key_pem;
};

struct mts_acme_hooks {
	/* add = true: start answering c (return 0 when it is served, non-zero
	 * to abort the run); called again, idempotently, when a resumed run
	 * finds the validation still open. add = false: the authorization is
	 * final (valid or invalid), the answer is no longer needed. A run that
	 * stops earlier (timeout, error, save() stop) leaves it published: the
	 * CA may still be validating. c and its strings are valid during the
	 * call only. Required. */
	int (*publish)(const struct mts_acme_challenge *c, bool add, void *arg);
	/* Called after every change of order's state; store it. A non-zero
	 * return stops the run (MTS_ETEMP, "stopped by the caller"): the order
	 * stays resumable. Optional. */
	int (*save)(const struct mts_acme_order *order, void *arg);
	void *arg;
};

/* A certificate obtained: chain_pem leaf first. Free with mts_acme_cert_clear. */
struct mts_acme_cert {
	char *key_pem; /* PKCS#8 PEM, secret */
	char *chain_pem;
	size_t chain_len;
	long long not_before, not_after; /* UTC seconds */
};

struct mts_acme *mts_acme_new(const struct mts_acme_opts *opts, struct mts_error *err);
void mts_acme_free(struct mts_acme *acme);

/* The account key (PKCS#8 PEM, NUL-terminated, owned by acme) and the
 * account URL ("" before mts_acme_account): store both. */
const char *mts_acme_account_key_pem(const struct mts_acme *acme);
const char *mts_acme_account_url(const struct mts_acme *acme);

/* newAccount with termsOfServiceAgreed; only_existing: find the account
 * of this key without creating one (MTS_ENOTFOUND when there is none). */
int mts_acme_account(struct mts_acme *acme, bool only_existing, struct mts_error *err);

/* newOrder for name; fills *order (a new certificate key included) and
 * calls hooks->save. */
int mts_acme_order_new(struct mts_acme *acme, const char *name, enum mts_acme_challenge_type type,
		       const struct mts_acme_hooks *hooks, struct mts_acme_order *order,
		       struct mts_error *err);
/* Drive the order to a certificate (see above); *cert is filled on 0. */
int mts_acme_order_run(struct mts_acme *acme, struct mts_acme_order *order,
		       const struct mts_acme_hooks *hooks, struct mts_acme_cert *cert,
		       struct mts_error *err);
/* Continue a saved order (from any step, in any process with the account). */
int mts_acme_order_resume(struct mts_acme *acme, struct mts_acme_order *order,
			  const struct mts_acme_hooks *hooks, struct mts_acme_cert *cert,
			  struct mts_error *err);
/* order_new + order_run. */
int mts_acme_obtain(struct mts_acme *acme, const char *name, enum mts_acme_challenge_type type,
		    const struct mts_acme_hooks *hooks, struct mts_acme_order *order,
		    struct mts_acme_cert *cert, struct mts_error *err);
void mts_acme_cert_clear(struct mts_acme_cert *cert);

/* Counters of one client, for logs and tests. */
struct mts_acme_stats {
	unsigned requests;	    /* HTTP requests sent */
	unsigned bad_nonce_retries; /* JWS re-signed after a badNonce */
};
void mts_acme_get_stats(const struct mts_acme *acme, struct mts_acme_stats *out);

/* Crypto helpers (no I/O). */

/* A new ECDSA P-256 key as PKCS#8 PEM (malloc'd, NUL-terminated). */
char *mts_acme_key_generate(struct mts_error *err);
/* The RFC 7638 thumbprint (base64url SHA-256 of the canonical members) of a
 * JWK given as JSON: EC (crv, kty, x, y) or RSA (e, kty, n). out gets 43
 * characters and a NUL. */
int mts_acme_jwk_thumbprint(const char *jwk_json, size_t len, char *out, size_t cap,
			    struct mts_error *err);
/* The public JWK of a P-256 key (PEM) as canonical JSON, and its thumbprint. */
int mts_acme_key_jwk(const char *key_pem, size_t len, char *jwk, size_t jwk_cap, char *thumb,
		     size_t thumb_cap, struct mts_error *err);
/* base64url without padding (RFC 7515 §2); returns the length, or negative
 * when out (NUL included) is too small. */
int mts_acme_b64url(const unsigned char *in, size_t len, char *out, size_t cap);
/* The tls-alpn-01 answer (RFC 8737 §3): a self-signed certificate for name
 * with the critical acmeIdentifier extension (1.3.6.1.5.5.7.1.31) holding
 * SHA-256(key_authorization), and its new P-256 key, both PEM (malloc'd). */
int mts_acme_tls_alpn_cert(const char *name, const char *key_authorization, char **cert_pem,
			   char **key_pem, struct mts_error *err);

/* Response parsers (pure, fuzzed). Fields are copied into fixed arrays;
 * URLs must be https and shorter than MTS_ACME_URL_MAX. Errors name the
 * field. */
struct mts_acme_directory {
	char new_nonce[MTS_ACME_URL_MAX], new_account[MTS_ACME_URL_MAX],
	    new_order[MTS_ACME_URL_MAX];
	char terms_of_service[MTS_ACME_URL_MAX]; /* "" when absent */
	bool external_account_required;
};
int mts_acme_parse_directory(const char *buf, size_t len, struct mts_acme_directory *out,
			     struct mts_error *err);

struct mts_acme_problem {
	char type[128];	  /* "urn:ietf:params:acme:error:badNonce", or "" */
	char detail[256]; /* printable, truncated */
	int status;	  /* the "status" member, 0 when absent */
};
int mts_acme_parse_problem(const char *buf, size_t len, struct mts_acme_problem *out,
			   struct mts_error *err);
/* The short name of a urn:ietf:params:acme:error: type ("badNonce"), or the type. */
const char *mts_acme_problem_name(const char *type);
/* The MTS_E* code a problem is reported with: MTS_ETEMP for what a later
 * try may cure (rateLimited, serverInternal, badNonce, HTTP 503: the caller
 * backs off, mts_acme_next_try), MTS_ENOTFOUND for accountDoesNotExist,
 * MTS_EPROTO for every other refusal. */
int mts_acme_problem_code(const char *type, long http_status);

struct mts_acme_order_doc {
	char status[16];
	size_t authz_count;
	char authz_url[MTS_ACME_URL_MAX]; /* the first authorization */
	char finalize_url[MTS_ACME_URL_MAX];
	char certificate_url[MTS_ACME_URL_MAX]; /* "" until valid */
	struct mts_acme_problem error;		/* type "" when absent */
};
int mts_acme_parse_order(const char *buf, size_t len, struct mts_acme_order_doc *out,
			 struct mts_error *err);

struct mts_acme_authz_doc {
	char status[16];
	char identifier[254]; /* the dns identifier's value */
	bool found;	      /* a challenge of the wanted type exists */
	char challenge_status[16];
	char challenge_url[MTS_ACME_URL_MAX];
	char token[MTS_ACME_TOKEN_MAX];
	struct mts_acme_problem error; /* the challenge's error, type "" when absent */
};
int mts_acme_parse_authz(const char *buf, size_t len, enum mts_acme_challenge_type type,
			 struct mts_acme_authz_doc *out, struct mts_error *err);

/* A Retry-After value (RFC 9110 §10.2.3: seconds, or an HTTP-date taken
 * relative to now) in seconds from now; -1 when it is neither. */
long mts_acme_retry_after(const char *value, size_t len, long long now);

/* Scheduling rules (pure; times in UTC seconds). */

/* Renew when a third of the lifetime or less is left (or the dates are
 * nonsense: not_after <= not_before). */
bool mts_acme_renew_due(long long not_before, long long not_after, long long now);
/* When the next try for a name may start, after `failures` consecutive
 * failures (0: none) and a last try at last_try (0: never): never sooner
 * than MTS_ACME_BACKOFF_MIN_S after the last try, and after failures the
 * wait doubles from there up to MTS_ACME_BACKOFF_MAX_S. */
long long mts_acme_next_try(long long last_try, unsigned failures);

#endif
