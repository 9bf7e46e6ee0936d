/*
 * dns_update_int.h - (internal) publish records in DNS: RFC 2136 dynamic
 * updates signed with TSIG (RFC 8945), for `mtasts serve`, which keeps each
 * hosted domain's `_mta-sts` TXT record (`v=STSv1; id=...`) in the service's
 * own zone (the customer's `_mta-sts.<domain>` is a CNAME to it).
 *
 * A change is one of two things, always on one TXT RRset:
 *   - set: the TXT RRset at NAME becomes exactly these values (delete the
 *     RRset, add the records, in ONE message, so the server applies both or
 *     neither: a reader never sees the old and the new value together, nor
 *     none);
 *   - delete: the TXT RRset at NAME goes.
 * with an optional prerequisite (RFC 2136 §2.4) that the server checks
 * first, so that a change applies only if the current value is the one the
 * caller expects ("only if the TXT is still id=OLD"): serve never publishes
 * a new id out of order, whatever another replica did in between. A value
 * longer than 255 bytes is split into 255-byte character-strings
 * (RFC 1035 §3.3.14); readers join them without spaces (RFC 8461 §3.1).
 *
 * Three parts:
 *   - the key: mts_dns_update_key_parse() reads "ALG:NAME:SECRET" (knot's
 *     and BIND's `-y` form). The secret is never written into a message;
 *     wipe a key with mts_dns_update_key_clear() when done.
 *   - the messages: mts_dns_update_msg_new() builds and signs a request,
 *     mts_dns_update_msg_check() judges the server's answer to it. No I/O
 *     (they read the clock only through ldns's signing and the `now` given).
 *   - the exchange: mts_dns_update_start() sends a request over TCP to the
 *     zone's primary, asynchronously on a caller-owned libevent base (serve
 *     is one event loop), and calls back exactly once, from the loop, unless
 *     cancelled first. Does I/O (one TCP connection per change).
 * and a print mode for operators who publish by hand:
 * mts_dns_update_render() writes the same change as nsupdate(1) input or as
 * zone-file lines.
 *
 * Trust: a change is reported applied (MTS_DNS_UPDATE_OK) only when the
 * answer is signed with our key and its MAC covers our request's MAC. An
 * unsigned or badly signed answer is refused (MTS_DNS_UPDATE_BADRESPONSE),
 * whatever it says; the one exception is the unsigned error that RFC 8945
 * §5.3.2 prescribes when the server cannot check our signature (BADSIG,
 * BADKEY, BADTIME with an empty MAC): that is reported as a rejection with
 * verified = false, since a forged one can only make us retry. The answer
 * is bounded (MTS_DNS_UPDATE_RESPONSE_MAX on the wire; an answer within
 * 1 KiB of it is refused unread, since ldns could not check its signature)
 * and timed (timeout_ms for the whole exchange).
 *
 * Algorithms: hmac-sha256 (the default when the key string names none) and
 * hmac-sha512. Messages are built and parsed with ldns.
 */
#ifndef MTASTS_DNS_UPDATE_INT_H
#define MTASTS_DNS_UPDATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts/error.h"

struct event_base;

#define MTS_DNS_UPDATE_RESPONSE_MAX 65535 /* RFC 1035 §4.2.2: the TCP length prefix (64 KiB) */
#define MTS_DNS_UPDATE_TIMEOUT_MS_DEFAULT 10000 /* connect, send and answer, in all */
#define MTS_DNS_UPDATE_FUDGE 300		/* RFC 8945 §10: seconds of clock skew allowed */
#define MTS_DNS_UPDATE_VALUES_MAX 16		/* records in one TXT RRset we set or expect */
#define MTS_DNS_UPDATE_VALUE_MAX 4096		/* bytes of one TXT value (as MTS_DNS_TXT_MAX) */
#define MTS_DNS_UPDATE_STRING_MAX 255		/* RFC 1035 §3.3.14: one character-string */
#define MTS_DNS_UPDATE_TTL_MAX 2147483647u	/* RFC 2181 §8 */
#define MTS_DNS_UPDATE_SECRET_MAX 128		/* decoded secret bytes (sha512's block size) */
#define MTS_DNS_UPDATE_NAME_MAX 255		/* RFC 1035 §2.3.4, in text with the final dot */

/* ----------------------------------------------------------------- key */

enum mts_dns_update_alg {
	MTS_DNS_UPDATE_HMAC_SHA256 = 0,
	MTS_DNS_UPDATE_HMAC_SHA512,
};

struct mts_dns_update_key {
	enum mts_dns_update_alg alg;
	char name[MTS_DNS_UPDATE_NAME_MAX + 2];	    /* lowercase, absolute ("k1.example.") */
	char secret[MTS_DNS_UPDATE_SECRET_MAX * 2]; /* base64 as given: never log it */
	size_t secret_len;			    /* decoded bytes */
};

/* Parse "ALG:NAME:SECRET" or "NAME:SECRET" (ALG hmac-sha256 then): ALG
 * hmac-sha256 or hmac-sha512 (any case), NAME a domain name (a final dot
 * optional), SECRET base64 of 1..MTS_DNS_UPDATE_SECRET_MAX bytes. Returns 0,
 * or MTS_EINVAL with err naming the part at fault; the message never quotes
 * the secret. */
int mts_dns_update_key_parse(const char *spec, struct mts_dns_update_key *key,
			     struct mts_error *err);
/* Wipe the secret (explicit_bzero). */
void mts_dns_update_key_clear(struct mts_dns_update_key *key);
/* "hmac-sha256" / "hmac-sha512". */
const char *mts_dns_update_alg_name(enum mts_dns_update_alg alg);

/* -------------------------------------------------------------- change */

enum mts_dns_update_action {
	MTS_DNS_UPDATE_SET_TXT = 0, /* the TXT RRset at name becomes exactly values */
	MTS_DNS_UPDATE_DELETE_TXT,  /* the TXT RRset at name goes (no error if absent) */
};

/* What the server checks before it applies anything (RFC 2136 §2.4, §3.2);
 * when it does not hold, the answer is NXRRSET or YXRRSET and nothing
 * changes. */
enum mts_dns_update_prereq {
	MTS_DNS_UPDATE_PREREQ_NONE = 0,
	MTS_DNS_UPDATE_PREREQ_TXT_IS,	  /* §2.4.2: the TXT RRset at name is exactly
					     prereq_values (else NXRRSET) */
	MTS_DNS_UPDATE_PREREQ_TXT_EXISTS, /* §2.4.1: some TXT RRset at name (else NXRRSET) */
	MTS_DNS_UPDATE_PREREQ_TXT_ABSENT, /* §2.4.3: no TXT RRset at name (else YXRRSET) */
};

/* One change. Every pointer is borrowed for the duration of the call that
 * takes it (messages and exchanges copy what they keep). Values are
 * NUL-terminated and may hold any other byte; they are compared by the
 * server as wire data, so a TXT_IS value matches only a record cut into the
 * same 255-byte strings (a record typed by hand as "v=STSv1; " "id=1" is
 * not "v=STSv1; id=1"). */
struct mts_dns_update_change {
	const char *zone; /* the zone updated ("svc.example"; final dot optional) */
	const char *name; /* owner of the TXT RRset, inside zone */
	enum mts_dns_update_action action;
	uint32_t ttl;		   /* SET: TTL of the new records */
	const char *const *values; /* SET: 1..MTS_DNS_UPDATE_VALUES_MAX record values */
	size_t value_count;
	enum mts_dns_update_prereq prereq;
	const char *const *prereq_values; /* TXT_IS: 1..MTS_DNS_UPDATE_VALUES_MAX values */
	size_t prereq_count;
};

/* Check a change (names, zone membership, counts, lengths, TTL). Returns 0
 * or MTS_EINVAL / MTS_ETOOBIG with err naming the field. */
int mts_dns_update_change_check(const struct mts_dns_update_change *c, struct mts_error *err);

/* -------------------------------------------------------------- result */

enum mts_dns_update_status {
	MTS_DNS_UPDATE_OK = 0,	    /* applied: NOERROR, answer signed with our key */
	MTS_DNS_UPDATE_REJECTED,    /* the server said no: see rcode / rcode_name */
	MTS_DNS_UPDATE_TIMEOUT,	    /* no complete answer within timeout_ms */
	MTS_DNS_UPDATE_NETWORK,	    /* connect, send or receive failed, or early close */
	MTS_DNS_UPDATE_BADRESPONSE, /* malformed, not ours, unsigned or badly signed: the
				       change may or may not have been applied */
};

struct mts_dns_update_result {
	enum mts_dns_update_status status;
	int rcode;	     /* -1 without an answer; else the answer's RCODE, or its TSIG
				error when it has one (16 BADSIG, 17 BADKEY, 18 BADTIME) */
	char rcode_name[16]; /* "NOERROR", "NXRRSET", "YXRRSET", "REFUSED", "NOTAUTH",
				"NOTZONE", "BADSIG", "BADKEY", "BADTIME", ...; "" without one */
	bool verified;	     /* the answer's TSIG verified with our key */
	char message[256];   /* what happened, in words (never the secret) */
	unsigned elapsed_ms; /* exchanges only */
};

/* "ok", "rejected", "timeout", "network", "bad-response". */
const char *mts_dns_update_status_name(enum mts_dns_update_status s);
/* The mnemonic of a DNS RCODE or TSIG error (RFC 6895 §2.3), or NULL. */
const char *mts_dns_update_rcode_name(int rcode);

/* ------------------------------------------------------------ messages */

struct mts_dns_update_msg;

/* Build the UPDATE message of change c with the given ID and sign it with
 * key (time signed = now, fudge MTS_DNS_UPDATE_FUDGE). Returns NULL with err
 * filled (MTS_EINVAL / MTS_ETOOBIG for a bad change, MTS_ENOMEM). The
 * message keeps a copy of the key (wiped on free). */
struct mts_dns_update_msg *mts_dns_update_msg_new(const struct mts_dns_update_change *c,
						  const struct mts_dns_update_key *key, uint16_t id,
						  struct mts_error *err);
void mts_dns_update_msg_free(struct mts_dns_update_msg *m);
/* The signed request in wire form (no TCP length prefix); owned by m. */
const unsigned char *mts_dns_update_msg_wire(const struct mts_dns_update_msg *m, size_t *len);

/* Judge resp (len bytes, wire form without the TCP length prefix, as
 * received: untrusted) as the answer to m, at time now (UTC seconds, for
 * the TSIG time check). Fills res: status OK, REJECTED or BADRESPONSE, the
 * rcode, verified and a message; elapsed_ms is left 0. */
void mts_dns_update_msg_check(const struct mts_dns_update_msg *m, const unsigned char *resp,
			      size_t len, long long now, struct mts_dns_update_result *res);

/* ------------------------------------------------------------ exchange */

struct mts_dns_update_opts {
	const char *server;		      /* the zone's primary: "ADDR@PORT" or "ADDR"
						 (port 53), IPv4 or IPv6 literal */
	const struct mts_dns_update_key *key; /* copied */
	unsigned timeout_ms;		      /* the whole exchange; 0 = the default */
};

typedef void (*mts_dns_update_cb)(const struct mts_dns_update_result *res, void *arg);

struct mts_dns_update;

/* Start sending change c. Returns a handle, or NULL with err filled when it
 * cannot start (bad server, key or change; no callback then). Otherwise
 * cb(res, arg) is called exactly once, from the loop; res is valid only
 * during the call, and the handle is already gone by then. */
struct mts_dns_update *mts_dns_update_start(struct event_base *base,
					    const struct mts_dns_update_opts *opts,
					    const struct mts_dns_update_change *c,
					    mts_dns_update_cb cb, void *arg, struct mts_error *err);
/* Stop an exchange in flight: the connection is closed, cb is not called,
 * everything is freed. Whether the server applied the change is unknown. */
void mts_dns_update_cancel(struct mts_dns_update *u);

/* --------------------------------------------------------------- print */

enum mts_dns_update_format {
	MTS_DNS_UPDATE_NSUPDATE = 0, /* nsupdate(1) / knsupdate(1) commands, ending in "send" */
	MTS_DNS_UPDATE_ZONEFILE,     /* zone-file lines (RFC 1035 §5), comments say the rest */
};

/* Render change c into out (cap bytes, always NUL-terminated when cap > 0).
 * The nsupdate form holds the zone, the prerequisite and the update; the
 * key and server are the operator's (nsupdate -k / -y, "server"). Returns
 * the length written, or MTS_EINVAL (bad change) / MTS_ETOOBIG (out too
 * small) with err filled. */
int mts_dns_update_render(const struct mts_dns_update_change *c, enum mts_dns_update_format fmt,
			  char *out, size_t cap, struct mts_error *err);

/* -------------------------------------- shared by the module's two files */

/* name (len bytes, final dot optional) as lowercase absolute text with the
 * final dot into out (cap >= MTS_DNS_UPDATE_NAME_MAX + 2). Host-name
 * characters only (letters, digits, '-', '_'), labels of 1..63 bytes, 255
 * in wire form. Returns 0, or -1 with why saying what is wrong. */
int mts_dns_update_name_norm(const char *name, size_t len, char *out, size_t cap, char *why,
			     size_t why_cap);
/* Is name (normalised) zone or below it? */
bool mts_dns_update_name_in(const char *name, const char *zone);
/* mts_dns_update_change_check(), also giving the normalised zone and name
 * (each MTS_DNS_UPDATE_NAME_MAX + 2 bytes). */
int mts_dns_update_change_norm(const struct mts_dns_update_change *c, char *zone, char *name,
			       struct mts_error *err);

#endif
