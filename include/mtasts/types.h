/*
 * types.h - the vocabulary shared by the public modules: the export region
 * of the library, the DNSSEC status of an answer, the outcome of a DNS
 * question, RFC 8460's result types of a policy fetch, the clock callback,
 * and the facts of one TLS probe (what check reports per address).
 *
 * Every public header includes this one and wraps its declarations in
 * MTS_BEGIN_DECLS ... MTS_END_DECLS: the library is built with
 * -fvisibility=hidden, so what is declared there is exported and
 * everything else stays inside libmtasts. Pure declarations, no I/O.
 */
#ifndef MTASTS_TYPES_H
#define MTASTS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
#define MTS_EXTERN_C_BEGIN extern "C" {
#define MTS_EXTERN_C_END }
#else
#define MTS_EXTERN_C_BEGIN
#define MTS_EXTERN_C_END
#endif
/* The export region: declarations between these two have default
 * visibility, so their definitions are the library's ABI. */
#define MTS_BEGIN_DECLS _Pragma("GCC visibility push(default)") MTS_EXTERN_C_BEGIN
#define MTS_END_DECLS MTS_EXTERN_C_END _Pragma("GCC visibility pop")

MTS_BEGIN_DECLS

enum mts_dnssec {
	MTS_DNSSEC_UNKNOWN = 0,
	MTS_DNSSEC_INSECURE,
	MTS_DNSSEC_SECURE,
	MTS_DNSSEC_BOGUS
};

/* The outcome of a DNS question as the audit sees it: answered (maybe
 * empty), or failed. */
enum mts_lookup { MTS_LOOKUP_OK = 0, MTS_LOOKUP_NXDOMAIN, MTS_LOOKUP_FAILED };

/* The outcome of one DNS query as the resolver gave it. */
enum mts_dns_status {
	MTS_DNS_OK = 0,	  /* records present */
	MTS_DNS_NODATA,	  /* the name exists, no record of this type */
	MTS_DNS_NXDOMAIN, /* the name does not exist */
	MTS_DNS_SERVFAIL, /* the servers failed or refused (also bogus answers) */
	MTS_DNS_TIMEOUT,  /* no answer within the time limit */
	MTS_DNS_FAILED,	  /* any other failure (rcode, resolver error) */
};

/* One address of a host (A or AAAA). */
struct mts_dns_addr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	char text[48]; /* numeric form */
};

/* RFC 8460 §4.3 result types of the policy fetch, plus "no record". */
enum mts_fetch_result {
	MTS_FETCH_OK = 0,
	MTS_FETCH_NO_RECORD, /* no usable _mta-sts record: no policy */
	MTS_FETCH_ERROR,     /* sts-policy-fetch-error */
	MTS_FETCH_INVALID,   /* sts-policy-invalid */
	MTS_FETCH_WEBPKI,    /* sts-webpki-invalid */
};

/* The clock the engines read (UTC seconds), so that tests move time. */
typedef long long (*mts_clock_fn)(void *arg);

/* DANE (RFC 6698, RFC 7672): the digests of one presented certificate. */
struct mts_cert_digests {
	unsigned char cert256[32], cert512[64], spki256[32], spki512[64];
};

#define MTS_SMTP_CERT_NAMES_MAX 64 /* subject alternative names kept */
#define MTS_SMTP_CHAIN_MAX 4	   /* chain certificates digested for DANE */

/* How far a TLS probe got. */
enum mts_smtp_stage {
	MTS_SMTP_STAGE_CONNECT = 0,
	MTS_SMTP_STAGE_BANNER,
	MTS_SMTP_STAGE_EHLO,
	MTS_SMTP_STAGE_STARTTLS,
	MTS_SMTP_STAGE_HANDSHAKE,
	MTS_SMTP_STAGE_DONE, /* TLS established and inspected */
};

/* What one TLS probe (SMTP STARTTLS, or direct TLS) found. */
struct mts_smtp_probe_result {
	enum mts_smtp_stage reached; /* the stage that failed, or DONE */
	int error;		     /* 0, or MTS_E* of the failure */
	char message[256];	     /* what failed, in words */
	char banner[128];	     /* printable first line of the greeting */
	int last_reply_code;
	bool starttls_offered;
	char tls_version[16]; /* "TLSv1.3" */
	char cipher[64];
	bool chain_valid; /* chains to a trusted root, dates valid */
	long verify_code; /* X509_V_* from OpenSSL */
	char verify_error[128];
	bool name_valid; /* the certificate is valid for host */
	bool self_signed;
	time_t not_before, not_after;
	char subject[256], issuer[256];
	size_t name_count;
	char names[MTS_SMTP_CERT_NAMES_MAX][254]; /* DNS subject alternative names */
	/* Digests of the presented chain (leaf first) for DANE (RFC 6698 §2.1):
	 * selector 0 = whole certificate, 1 = SubjectPublicKeyInfo; matching
	 * type 1 = SHA-256, 2 = SHA-512. */
	size_t chain_count;
	struct mts_cert_digests chain[MTS_SMTP_CHAIN_MAX];
	unsigned elapsed_ms;
};

const char *mts_dnssec_name(enum mts_dnssec s);
const char *mts_dns_status_name(enum mts_dns_status s);
const char *mts_fetch_result_name(enum mts_fetch_result r); /* RFC 8460 names */
const char *mts_smtp_stage_name(enum mts_smtp_stage s);

MTS_END_DECLS

#endif
