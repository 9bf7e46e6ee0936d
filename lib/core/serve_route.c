/* serve_route.c - what the policy host answers (see serve_route_int.h). */
#include <string.h>
#include <strings.h>

#include "core/serve_route_int.h"

/* "mta-sts." + domain (port and case aside) into out; false when host is
 * not a policy host name. */
static bool policy_domain(const char *host, char out[MTS_DNAME_MAX + 1], bool *bad)
{
	size_t n = strlen(host);
	const char *colon = memchr(host, ':', n);
	if (colon) { /* host:port; an IPv6 literal is no policy host */
		const char *p = colon + 1;
		if (*p == '\0')
			return *bad = true, false;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return *bad = true, false;
		n = (size_t)(colon - host);
	}
	if (n == 0 || host[0] == '[')
		return *bad = true, false;
	char name[MTS_DNAME_MAX + 1];
	bool dot = false;
	if (mts_dname_normalize(host, n, false, name, &dot) != MTS_DNAME_OK)
		return *bad = true, false;
	if (dot || strncmp(name, "mta-sts.", 8) != 0 || !strchr(name + 8, '.'))
		return false; /* a name, but no hosted policy's: 404 */
	size_t dl = strlen(name + 8);
	memcpy(out, name + 8, dl + 1);
	return true;
}

static bool token_ok(const char *t, size_t n)
{
	if (n == 0 || n > MTS_SERVE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

void mts_serve_route(const char *method, const char *host, const char *path, size_t path_len,
		     bool acme, struct mts_serve_route *out)
{
	memset(out, 0, sizeof(*out));
	bool get = method && strcmp(method, "GET") == 0;
	out->head = method && strcmp(method, "HEAD") == 0;
	bool bad = false;
	if (!host || !*host) {
		out->kind = MTS_ROUTE_BAD_REQUEST;
		return;
	}
	char domain[MTS_DNAME_MAX + 1];
	bool is_policy_host = policy_domain(host, domain, &bad);
	if (bad) {
		out->kind = MTS_ROUTE_BAD_REQUEST;
		return;
	}
	if (!get && !out->head) {
		out->kind = MTS_ROUTE_BAD_METHOD;
		return;
	}
	size_t pre = sizeof(MTS_SERVE_ACME_PREFIX) - 1;
	if (acme) {
		if (path_len > pre && memcmp(path, MTS_SERVE_ACME_PREFIX, pre) == 0 &&
		    token_ok(path + pre, path_len - pre)) {
			out->kind = MTS_ROUTE_ACME;
			memcpy(out->token, path + pre, path_len - pre);
			out->token[path_len - pre] = '\0';
			return;
		}
		out->kind = MTS_ROUTE_NOT_FOUND;
		return;
	}
	size_t pl = sizeof(MTS_SERVE_POLICY_PATH) - 1;
	if (is_policy_host && path_len == pl && memcmp(path, MTS_SERVE_POLICY_PATH, pl) == 0) {
		out->kind = MTS_ROUTE_POLICY;
		memcpy(out->domain, domain, sizeof(out->domain));
		return;
	}
	out->kind = MTS_ROUTE_NOT_FOUND;
}

const char *mts_serve_route_name(enum mts_serve_route_kind k)
{
	switch (k) {
	case MTS_ROUTE_POLICY: return "policy";
	case MTS_ROUTE_ACME: return "acme";
	case MTS_ROUTE_NOT_FOUND: return "not_found";
	case MTS_ROUTE_BAD_METHOD: return "bad_method";
	case MTS_ROUTE_BAD_REQUEST: return "bad_request";
	}
	return "unknown";
}
