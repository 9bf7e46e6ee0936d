/*
 * serve_route_int.h - (internal) what the policy host answers a request,
 * from its method, Host header and path alone (RFC 8461 §3.3; RFC 8555
 * §8.3 for port 80): the routing rules of `mtasts serve`, kept pure so that
 * they are tested and fuzzed without a socket.
 *
 * On 443: GET or HEAD of exactly /.well-known/mta-sts.txt with Host
 * mta-sts.<domain> (any case, an optional :port, no trailing dot) is that
 * domain's policy; any other path or host is 404, any other method 405,
 * and nothing is ever redirected. On 80: GET or HEAD of
 * /.well-known/acme-challenge/<token> is the challenge of that token;
 * anything else is 404 (405 for other methods). A Host that is not a host
 * name is 400. No I/O, no allocation.
 */
#ifndef MTASTS_SERVE_ROUTE_INT_H
#define MTASTS_SERVE_ROUTE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts/dname.h"

#define MTS_SERVE_POLICY_PATH "/.well-known/mta-sts.txt"
#define MTS_SERVE_ACME_PREFIX "/.well-known/acme-challenge/"
#define MTS_SERVE_TOKEN_MAX 128 /* bytes of an ACME token we look up (base64url) */

enum mts_serve_route_kind {
	MTS_ROUTE_POLICY = 0,  /* domain's policy (200 from the tenant table, or 404) */
	MTS_ROUTE_ACME,	       /* token's key authorization (200, or 404) */
	MTS_ROUTE_NOT_FOUND,   /* 404 */
	MTS_ROUTE_BAD_METHOD,  /* 405, Allow: GET, HEAD */
	MTS_ROUTE_BAD_REQUEST, /* 400: no Host, or one that is not a host name */
};

struct mts_serve_route {
	enum mts_serve_route_kind kind;
	bool head;			     /* HEAD: headers only */
	char domain[MTS_DNAME_MAX + 1];	     /* POLICY: the hosted domain, lowercase */
	char token[MTS_SERVE_TOKEN_MAX + 1]; /* ACME: the token */
};

/* method and host are NUL-terminated (host may be NULL: no Host header);
 * path is the request target's path (no query: a query makes it another
 * resource, 404). acme: the request came on the plain-HTTP port. */
void mts_serve_route(const char *method, const char *host, const char *path, size_t path_len,
		     bool acme, struct mts_serve_route *out);

const char *mts_serve_route_name(enum mts_serve_route_kind k);

#endif
