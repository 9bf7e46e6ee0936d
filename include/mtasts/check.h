/*
 * check.h - the live audit of a domain (`mtasts check`): gather every fact
 * the audit needs over the network, concurrently and with bounded time, then
 * let the pure mts_audit_evaluate() judge them.
 *
 * For a domain D one check runs, at once and on one caller-owned libevent
 * base: TXT of _mta-sts.D, _smtp._tls.D, D (SPF) and _dmarc.D; MX of D;
 * A/AAAA of mta-sts.D, then the policy fetch (https.h) and a direct TLS probe
 * of mta-sts.D:443 (certificate chain, name, dates, TLS version); for each MX
 * host (up to MTS_CHECK_MAX_MX): A/AAAA, TLSA of _25._tcp.HOST with its
 * DNSSEC status, and a STARTTLS probe (smtp_probe.h) of each of its
 * addresses (up to MTS_CHECK_MAX_ADDRS, IPv4 before IPv6, each family in
 * numeric order) on port 25 (opts->smtp_port); the SPF include/redirect chain to count DNS
 * lookups (RFC 7208 §4.6.4). Every query and probe has its own time limit, so
 * a check always ends.
 *
 * The result passed to the callback holds every measured fact and the
 * findings; it is valid only during the callback. Does I/O; decisions are
 * the audit's.
 */
#ifndef MTASTS_CHECK_H
#define MTASTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/audit.h"
#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

struct event_base;
struct mts_check;

#define MTS_CHECK_MAX_MX 16          /* MX hosts examined per domain */
#define MTS_CHECK_MAX_ADDRS MTS_AUDIT_MAX_ADDRS /* addresses kept and probed per host */
#define MTS_CHECK_MAX_TXT 16         /* TXT records kept per name */
#define MTS_CHECK_MAX_TLSA 8         /* TLSA records kept per MX host */
#define MTS_CHECK_SPF_MAX_NAMES 32   /* SPF records followed (include, redirect) */
#define MTS_CHECK_SPF_MAX_DEPTH 10   /* nesting of includes followed */

struct mts_check_opts {
	const char *resolver;            /* "ADDR@PORT"; NULL = the system's */
	const char *trust_anchor_file;   /* DNSSEC validation; NULL = none */
	const char *ca_file;             /* trust store for HTTPS and SMTP; NULL = system */
	const char *const *connect_to;   /* "HOST:PORT:ADDR:PORT" for HTTPS and SMTP */
	size_t connect_to_count;
	unsigned timeout_ms;             /* per DNS query, per fetch, per probe; 0 = 10 s */
	unsigned smtp_port;              /* 0 = 25 */
	const char *helo_name;           /* EHLO name; NULL = smtp_probe's default */
	bool no_smtp;                    /* do not connect to MX hosts (port 25 blocked) */
	long long now;                   /* audit time; 0 = the clock at the start */
};

/* The answer to one TXT question. */
struct mts_check_txt {
	enum mts_dns_status status;
	enum mts_dnssec dnssec;
	char message[160];
	size_t count;
	char *txts[MTS_CHECK_MAX_TXT];   /* owned, NUL-terminated (use lens) */
	size_t lens[MTS_CHECK_MAX_TXT];
	unsigned strings[MTS_CHECK_MAX_TXT];
};

/* A TLS connection that was tried (policy host or MX host). */
struct mts_check_tls {
	bool attempted;
	char address[64];                /* "ADDR:PORT" connected to */
	struct mts_smtp_probe_result probe;
};

struct mts_check_tlsa {
	unsigned char usage, selector, matching_type;
	unsigned char raw[64];           /* the association data, cut at 64 bytes */
	size_t raw_len;                  /* bytes in the record (may exceed 64) */
	char data[129];                  /* hex of raw */
};

struct mts_check_mx {
	char host[256];
	unsigned preference;
	enum mts_dns_status a_status, aaaa_status;
	char cname[256];                 /* "" unless the host is an alias: its canonical
					    name (from the A/AAAA answers) */
	size_t addr_published;           /* A + AAAA records in the answers */
	size_t addr_count;               /* kept: the first MTS_CHECK_MAX_ADDRS in order */
	struct mts_dns_addr addrs[MTS_CHECK_MAX_ADDRS]; /* IPv4 first, then IPv6, numeric order */
	enum mts_dns_status tlsa_status;
	enum mts_dnssec tlsa_dnssec;
	size_t tlsa_count;
	struct mts_check_tlsa tlsa[MTS_CHECK_MAX_TLSA];
	enum mts_tlsa_match tlsa_match;  /* the records against the presented chains */
	size_t tls_count;                /* probes: one per address (addrs' order), or one
					    to the --connect-to address; 0 = none */
	struct mts_check_tls *tls;       /* tls_count of them (owned by the check: a probe
					    result is large, so only those made are kept) */
};

struct mts_check_result {
	const char *domain;
	long long now;
	unsigned elapsed_ms;
	struct mts_check_txt sts, tlsrpt, spf, dmarc;
	unsigned spf_lookups;            /* DNS-querying terms, includes followed */
	size_t spf_records;              /* SPF records read (the domain's included) */
	/* the policy fetch */
	bool fetch_attempted;
	enum mts_fetch_result fetch;
	enum mts_finding_code fetch_code;
	char fetch_message[256];
	long http_status;
	char content_type[128];
	const char *policy_body;         /* served bytes, or NULL */
	size_t policy_len;
	unsigned fetch_ms;
	struct mts_check_tls policy_host;
	/* MX */
	enum mts_dns_status mx_status;
	enum mts_dnssec mx_dnssec;
	char mx_message[160];            /* why the MX lookup failed */
	bool null_mx;
	size_t mx_count;                 /* hosts kept (<= MTS_CHECK_MAX_MX) */
	size_t mx_published;             /* MX records in the answer */
	const struct mts_check_mx *mx;
	/* the judgement */
	struct mts_audit_result audit;
	const struct mts_findings *findings;
};

typedef void (*mts_check_cb)(const struct mts_check_result *result, void *arg);

/* Shared resolver, HTTPS client and options for many checks on one loop.
 * Returns NULL with err filled (MTS_EINVAL for a bad option). */
struct mts_check *mts_check_new(struct event_base *base, const struct mts_check_opts *opts,
				struct mts_error *err);
/* Cancel every check in flight (their callbacks are not called) and free. */
void mts_check_free(struct mts_check *c);
/* Start checking domain (an A-label, no trailing dot). cb runs once from the
 * loop. Returns 0, or MTS_ENOMEM / MTS_EINVAL with err filled. */
int mts_check_start(struct mts_check *c, const char *domain, mts_check_cb cb, void *arg,
		    struct mts_error *err);
/* Checks in flight. */
size_t mts_check_pending(const struct mts_check *c);

MTS_END_DECLS

#endif
