/*
 * audit.h - the verdict of `mtasts check`: from measured facts about a
 * domain (DNS answers, the policy fetch, each MX host's TLS) to findings and
 * a verdict, following RFC 8461 and the staged rollout (inventory MX, valid
 * TLS everywhere, testing, clean reports, enforce).
 *
 * Pure: the engine gathers the facts (plain values, borrowed for the call);
 * mts_audit_evaluate() parses the records itself with the core parsers and
 * decides. Time is facts->now. No I/O, no allocation beyond findings.
 */
#ifndef MTASTS_AUDIT_H
#define MTASTS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/findings.h"
#include "mtasts/policy.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_AUDIT_CERT_WARN_DAYS 21 /* warn when a certificate expires sooner */
#define MTS_AUDIT_MAX_ADDRS 8       /* addresses of one MX host probed (count limit) */

struct mts_audit_tls {
	bool attempted;            /* a connection was tried */
	bool connected;            /* TCP (and for SMTP: banner and EHLO) worked */
	bool starttls_offered;     /* SMTP only */
	bool handshake_ok;         /* TLS established */
	char tls_version[16];      /* "TLSv1.3" */
	bool chain_valid;          /* chains to a trusted root, dates valid */
	bool name_valid;           /* valid for the host name */
	bool self_signed;
	long long not_before, not_after; /* UTC seconds; 0 when unknown */
	const char *error;         /* what failed, or NULL */
	const char *address;       /* the address connected to, named in findings; or NULL */
};

/* DANE (RFC 6698, RFC 7672): TLSA records to compare with a presented chain
 * (leaf first, struct mts_cert_digests of types.h). */
struct mts_tlsa_rr {
	unsigned char usage, selector, matching_type;
	const unsigned char *data;
	size_t len;
};

enum mts_tlsa_match {
	MTS_TLSA_UNCHECKED = 0,    /* no TLS connection to compare with */
	MTS_TLSA_MATCH,            /* a usable record matches the chain */
	MTS_TLSA_NO_MATCH,         /* usable records, none matches: DANE senders defer */
	MTS_TLSA_UNUSABLE,         /* no record SMTP senders can use (RFC 7672 §3.1.3) */
};

/* Compare TLSA records with a chain: DANE-EE(3) with the leaf, DANE-TA(2)
 * with the certificates above it, selectors 0/1, matching types 1/2 (0,
 * the full data, is not compared and counts as unusable here, as do
 * PKIX-TA(0) and PKIX-EE(1), which SMTP clients treat as unusable). */
enum mts_tlsa_match mts_tlsa_match(const struct mts_tlsa_rr *rrs, size_t n,
				   const struct mts_cert_digests *chain, size_t chain_count);
const char *mts_tlsa_match_name(enum mts_tlsa_match m);

struct mts_audit_mx {
	const char *host;          /* as in the MX record, trailing dot allowed */
	unsigned preference;
	enum mts_lookup addr_lookup;
	size_t addresses;          /* A + AAAA published */
	const char *cname;         /* the canonical name when host is an alias (CNAME), or NULL */
	/* One connection per address probed (at most MTS_AUDIT_MAX_ADDRS, in a
	 * stable order): a sender may use any of them, so the host passes only
	 * when every one passes. tls_count 0: not probed. */
	size_t tls_count;
	struct mts_audit_tls tls[MTS_AUDIT_MAX_ADDRS];
	enum mts_lookup tlsa_lookup;
	size_t tlsa_count;
	enum mts_dnssec tlsa_dnssec;
	enum mts_tlsa_match tlsa_match; /* mts_tlsa_match() against the chains presented:
					   NO_MATCH when any address's chain matches nothing */
};

struct mts_audit_txt {
	enum mts_lookup lookup;
	enum mts_dnssec dnssec;
	size_t count;
	const char *const *txts;   /* records, strings joined */
	const size_t *lens;
	const char *why;           /* why a failed lookup failed, or NULL */
};

struct mts_audit_facts {
	const char *domain;
	long long now;
	struct mts_audit_txt sts;      /* _mta-sts.<domain> */
	struct mts_audit_txt tlsrpt;   /* _smtp._tls.<domain> */
	struct mts_audit_txt spf;      /* <domain> TXT */
	struct mts_audit_txt dmarc;    /* _dmarc.<domain> */
	unsigned spf_lookups;          /* DNS-querying terms including includes, 0 = not counted */
	enum mts_fetch_result fetch;   /* the policy fetch (only meaningful with a record) */
	const char *fetch_reason;      /* precise reason when not OK */
	bool fetch_code_set;           /* fetch_code names the failure (sts.fetch.*) */
	enum mts_finding_code fetch_code; /* reported instead of check.policy.fetch_failed */
	const char *policy_body;       /* the bytes served, when a 200 came */
	size_t policy_len;
	struct mts_audit_tls policy_host; /* the HTTPS connection to mta-sts.<domain> */
	bool smtp_skipped;             /* MX hosts were not connected to (port 25
					  blocked): their TLS is unknown, assumed to pass */
	enum mts_lookup mx_lookup;
	enum mts_dnssec mx_dnssec;     /* BOGUS: the MX answer failed validation */
	const char *mx_why;            /* why a failed MX lookup failed, or NULL */
	size_t mx_count;
	const struct mts_audit_mx *mx;
};

enum mts_verdict {
	MTS_VERDICT_PROTECTED = 0,  /* enforce, and every MX passes */
	MTS_VERDICT_TESTING,        /* a valid policy in testing mode */
	MTS_VERDICT_NOT_DEPLOYED,   /* no policy (none, or mode none) */
	MTS_VERDICT_BROKEN,         /* senders would fail or fall back */
};

struct mts_audit_result {
	enum mts_verdict verdict;
	bool ready_to_enforce;      /* every MX covered and passing TLS, policy valid */
	enum mts_mode mode;         /* of the policy, when there is one */
	bool have_policy;
	bool dane;                  /* DNSSEC-valid TLSA on some MX: DANE takes precedence */
	size_t mx_passing, mx_total;
};

/* Evaluate; findings get a subject per MX host where one applies. Returns 0
 * or MTS_ENOMEM. */
int mts_audit_evaluate(const struct mts_audit_facts *facts, struct mts_audit_result *out,
		       struct mts_findings *findings);

const char *mts_verdict_name(enum mts_verdict v);
/* Whole days from now until t, truncated toward zero (-1 = a day ago). */
long long mts_audit_days_left(long long t, long long now);

MTS_END_DECLS

#endif
