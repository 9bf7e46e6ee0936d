/*
 * dns_int.h - (internal) DNS lookups over libunbound, asynchronous on a caller-owned
 * libevent base: TXT, MX (with null MX, RFC 7505), A, AAAA and TLSA, each
 * answer with its DNSSEC status, rcode and TTL.
 *
 * libunbound resolves in one background worker; its notification fd sits on
 * the caller's event loop, so callbacks always run from the loop. Each query
 * also has a timer of ours, so a silent resolver ends in MTS_DNS_TIMEOUT.
 * The result passed to a callback is valid only during the call (copy what
 * you keep). The resolver is the system's (/etc/resolv.conf, /etc/hosts)
 * unless opts->resolver names one ("ADDR@PORT"); DNSSEC validation happens
 * only when a trust anchor file is given. Does I/O; makes no policy decisions.
 *
 * mts_dns_txt_join() is the pure part: it turns one TXT RDATA into the
 * record's text (strings joined without spaces, RFC 8461 §3.1).
 */
#ifndef MTASTS_DNS_INT_H
#define MTASTS_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts/audit.h"
#include "mtasts/error.h"

struct event_base;
struct mts_dns;
struct mts_dns_query;

#define MTS_DNS_TIMEOUT_MS_DEFAULT 5000
#define MTS_DNS_MAX_RECORDS 64     /* answers kept per query (count limit) */

enum mts_dns_type {
	MTS_DNS_A = 1,
	MTS_DNS_MX = 15,
	MTS_DNS_TXT = 16,
	MTS_DNS_AAAA = 28,
	MTS_DNS_TLSA = 52,
};

/* enum mts_dns_status, enum mts_dnssec and struct mts_dns_addr are in
 * types.h, so that answers flow into the public results unchanged. */

struct mts_dns_txt {
	const char *text;     /* the strings joined, NUL-terminated (no NUL inside is assumed: use len) */
	size_t len;
	unsigned strings;     /* how many character-strings the record had */
};

struct mts_dns_mx {
	uint16_t preference;
	char host[256];       /* lowercase, no trailing dot; "" for the null MX */
};

struct mts_dns_tlsa {
	uint8_t usage, selector, matching_type;
	const unsigned char *data;
	size_t len;
};

struct mts_dns_result {
	const char *name;
	enum mts_dns_type type;
	enum mts_dns_status status;
	enum mts_dnssec dnssec;
	int rcode;            /* DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED) */
	uint32_t ttl;
	char message[160];    /* why it failed, or the bogus reason */
	size_t count;         /* records in the array of this type */
	bool null_mx;         /* MX: the single "0 ." record of RFC 7505 */
	bool truncated;       /* more records than MTS_DNS_MAX_RECORDS */
	char canonname[256];  /* "" unless the name is an alias (CNAME): the name the
				 answer is for, lowercase, no trailing dot */
	/* The records, in the one array of the query's type (the others NULL). */
	const struct mts_dns_txt *txt;
	const struct mts_dns_mx *mx;
	const struct mts_dns_addr *addr;
	const struct mts_dns_tlsa *tlsa;
};

typedef void (*mts_dns_cb)(const struct mts_dns_result *result, void *arg);

struct mts_dns_opts {
	const char *resolver;          /* "ADDR@PORT" or "ADDR"; NULL = system resolver */
	const char *trust_anchor_file; /* DNSSEC root key file; NULL = no validation */
	unsigned timeout_ms;           /* per query; 0 = MTS_DNS_TIMEOUT_MS_DEFAULT */
};

/* Create a resolver on base. Returns NULL with err filled (MTS_EINVAL for a
 * bad resolver address, MTS_EIO when libunbound cannot start, MTS_ENOMEM). */
struct mts_dns *mts_dns_new(struct event_base *base, const struct mts_dns_opts *opts,
			    struct mts_error *err);
/* Cancel every outstanding query (their callbacks are not called) and free. */
void mts_dns_free(struct mts_dns *dns);

/* Start a lookup; cb is called exactly once, from the loop, unless the query
 * is cancelled first. Returns a handle (valid until cb runs) or NULL. */
struct mts_dns_query *mts_dns_lookup(struct mts_dns *dns, const char *name, enum mts_dns_type type,
				     mts_dns_cb cb, void *arg, struct mts_error *err);
void mts_dns_cancel(struct mts_dns_query *q);

/* Join the character-strings of one TXT RDATA into out (cap bytes, NUL
 * added). Returns the text length, MTS_EPROTO for malformed RDATA or
 * MTS_ETOOBIG when out is too small; *strings gets the string count. */
int mts_dns_txt_join(const unsigned char *rdata, size_t len, char *out, size_t cap,
		     unsigned *strings);

/* Parse "ADDR@PORT" / "ADDR" (IPv4 or IPv6 literal). Returns 0 or MTS_EINVAL. */
int mts_dns_resolver_parse(const char *spec, char *addr, size_t addr_cap, unsigned *port);


#endif
