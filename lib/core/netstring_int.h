/*
 * netstring_int.h - (internal) netstrings ("12:hello world!,") and Postfix socketmap
 * requests ("NAME KEY" inside a netstring), for the resolver daemon.
 *
 * The parser is incremental over a caller's buffer: it never copies, and it
 * tells how many bytes a complete netstring used so that pipelined requests
 * are taken one by one, in order. Pure: no I/O, no allocation.
 */
#ifndef MTASTS_NETSTRING_INT_H
#define MTASTS_NETSTRING_INT_H

#include <stddef.h>

#include "mtasts/dname.h"

#define MTS_NETSTRING_LEN_DIGITS 10 /* "4294967295" */

/* Parse one netstring at the start of buf. Returns 1 with *payload,
 * *payload_len and *consumed set when complete; 0 when more bytes are
 * needed; MTS_EPROTO on malformed input (leading zeros, no ':' or ',');
 * MTS_ETOOBIG when the announced length is over max_payload. */
int mts_netstring_parse(const char *buf, size_t len, size_t max_payload, const char **payload,
			size_t *payload_len, size_t *consumed);

/* Write data as a netstring into out (cap bytes). Returns the length written
 * or MTS_ETOOBIG. */
long mts_netstring_format(const char *data, size_t len, char *out, size_t cap);

/* Split a socketmap request "NAME KEY" (one space; KEY may hold spaces).
 * Returns 0 or MTS_EPROTO when there is no name or no key. */
int mts_socketmap_split(const char *payload, size_t len, const char **name, size_t *name_len,
			const char **key, size_t *key_len);

enum mts_tls_key_kind {
	MTS_TLS_KEY_DOMAIN = 0,   /* a domain to look a policy up for */
	MTS_TLS_KEY_IP_LITERAL,   /* [192.0.2.1], [ipv6:...], a bare address: no policy */
	MTS_TLS_KEY_PARENT,       /* ".example.com": Postfix's parent-domain probe */
	MTS_TLS_KEY_INVALID,      /* not a usable name */
};

/* Normalise a Postfix TLS policy lookup key to a domain: strips "[...]",
 * ":port", one trailing dot, lowercases; rejects IP literals and names that
 * start with '.'. out holds MTS_DNAME_MAX + 1 bytes. */
enum mts_tls_key_kind mts_tls_policy_key(const char *key, size_t len,
					 char out[MTS_DNAME_MAX + 1]);

#endif
