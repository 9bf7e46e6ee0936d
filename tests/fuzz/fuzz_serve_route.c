/* fuzz_serve_route.c - the policy host's routing on arbitrary requests: the
 * input is "METHOD\nHOST\nPATH" (the first byte's low bit: the plain-HTTP
 * port). No crash; a policy route names a valid domain reached only by GET
 * or HEAD of the exact path; a token only holds base64url characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/serve_route_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	bool acme = data[0] & 1;
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	char *host = strchr(buf, '\n'), *path = NULL;
	if (host) {
		*host++ = '\0';
		path = strchr(host, '\n');
		if (path)
			*path++ = '\0';
	}
	if (!path)
		path = (char *)"/.well-known/mta-sts.txt";
	struct mts_serve_route r;
	mts_serve_route(buf, host, path, strlen(path), acme, &r);
	if (r.kind == MTS_ROUTE_POLICY) {
		char again[MTS_DNAME_MAX + 1];
		if (acme || strcmp(path, MTS_SERVE_POLICY_PATH) != 0 ||
		    (strcmp(buf, "GET") != 0 && strcmp(buf, "HEAD") != 0) ||
		    mts_dname_normalize(r.domain, strlen(r.domain), false, again, NULL) !=
			    MTS_DNAME_OK ||
		    strcmp(again, r.domain) != 0)
			abort();
	}
	if (r.kind == MTS_ROUTE_ACME &&
	    (!acme || strspn(r.token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-_") != strlen(r.token)))
		abort();
	free(buf);
	return 0;
}
