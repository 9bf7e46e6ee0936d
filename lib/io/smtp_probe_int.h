/*
 * smtp_probe_int.h - (internal) probe one MX host: connect, banner, EHLO, STARTTLS, TLS
 * handshake with SNI, and what the certificate says (RFC 8461 §4.2, §4.3).
 *
 * Asynchronous on a caller-owned libevent base: mts_smtp_probe_start()
 * returns at once and calls done() exactly once, from the loop, with a
 * result that is only valid during the call (copy what you keep). The
 * handshake never aborts on a bad certificate: the chain is verified after
 * it, so that an expired or misnamed certificate is still described.
 * Does I/O (sockets, TLS); makes no policy decisions.
 */
#ifndef MTASTS_SMTP_PROBE_INT_H
#define MTASTS_SMTP_PROBE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "mtasts/audit.h"
#include "mtasts/error.h"

struct event_base;

#define MTS_SMTP_LINE_MAX 1000        /* RFC 5321 §4.5.3.1.5: reply line incl. CRLF */
#define MTS_SMTP_REPLY_MAX_LINES 100  /* a multiline reply longer than this is hostile */
struct mts_smtp_probe_opts {
	const char *host;             /* the MX host name: SNI and the name checked */
	struct sockaddr_storage addr; /* where to connect (port included) */
	socklen_t addr_len;
	const char *ca_file;          /* trust store; NULL = the system's */
	const char *helo_name;        /* EHLO argument; NULL = "mtasts.invalid" */
	unsigned timeout_ms;          /* for the whole probe; 0 = 10000 */
	bool direct_tls;              /* TLS right after connecting, no SMTP (an HTTPS
					 host such as mta-sts.<domain>:443) */
	struct mts_smtp_tls *tls;     /* shared TLS settings (mts_smtp_tls_new());
					 NULL = build them from ca_file for this probe */
};

/* struct mts_smtp_probe_result, the facts a probe found, is in types.h. */


/* TLS client settings (trust store loaded once) shared by many probes: many
 * probes at once cost one certificate store, not one each. Reference
 * counted: a probe keeps its own reference while it runs. */
struct mts_smtp_tls;
struct mts_smtp_tls *mts_smtp_tls_new(const char *ca_file, struct mts_error *err);
void mts_smtp_tls_free(struct mts_smtp_tls *tls);

typedef void (*mts_smtp_probe_cb)(const struct mts_smtp_probe_result *res, void *arg);

struct mts_smtp_probe;

/* Start a probe. Returns NULL (err filled) when it cannot start; otherwise
 * done(res, arg) is called once from the loop and the probe frees itself. */
struct mts_smtp_probe *mts_smtp_probe_start(struct event_base *base,
					    const struct mts_smtp_probe_opts *opts,
					    mts_smtp_probe_cb done, void *arg,
					    struct mts_error *err);
/* Cancel a running probe: done() is not called. */
void mts_smtp_probe_cancel(struct mts_smtp_probe *p);


#endif
