/* cache_redis_url.c - parse a redis:// cache URL (see cache_int.h). Pure, so
 * that a build without hiredis still checks the URL in its tests and fuzzing
 * and a configuration error is the same with or without the backend. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/cache_int.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_TIMEOUT_MS_DEFAULT 500

static int set_part(char *out, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		return MTS_EUSAGE;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int mts_redis_url_parse(const char *url, struct mts_redis_url *out, struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	out->port = REDIS_DEFAULT_PORT;
	out->timeout_ms = REDIS_TIMEOUT_MS_DEFAULT;
	snprintf(out->prefix, sizeof(out->prefix), "mtasts:");
	if (strncmp(url, "redis://", 8) != 0)
		return mts_error_set(err, MTS_EUSAGE, "a Redis URL starts with redis://");
	const char *p = url + 8;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (set_part(out->user, sizeof(out->user), p, (size_t)(colon - p)) < 0 ||
			    set_part(out->password, sizeof(out->password), colon + 1,
				     (size_t)(at - colon - 1)) < 0)
				return mts_error_set(err, MTS_EUSAGE,
						     "redis URL: user or password too long");
		} else if (set_part(out->password, sizeof(out->password), p, (size_t)(at - p)) <
			   0) {
			return mts_error_set(err, MTS_EUSAGE, "redis URL: password too long");
		}
		p = at + 1;
	}
	const char *hend = end;
	if (*p == '[') { /* [IPv6]:port */
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close)
			return mts_error_set(err, MTS_EUSAGE,
					     "redis URL: unclosed '[' in the host");
		if (set_part(out->host, sizeof(out->host), p + 1, (size_t)(close - p - 1)) < 0)
			return mts_error_set(err, MTS_EUSAGE, "redis URL: host too long");
		hend = close + 1;
		if (hend < end && *hend != ':')
			return mts_error_set(err, MTS_EUSAGE, "redis URL: junk after ']'");
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		hend = colon ? colon : end;
		if (set_part(out->host, sizeof(out->host), p, (size_t)(hend - p)) < 0)
			return mts_error_set(err, MTS_EUSAGE, "redis URL: host too long");
	}
	if (!out->host[0])
		return mts_error_set(err, MTS_EUSAGE,
				     "redis URL: no host (redis://HOST[:PORT][/DB])");
	if (hend < end && *hend == ':') {
		char *e;
		errno = 0;
		unsigned long port = strtoul(hend + 1, &e, 10);
		if (errno || e != end || e == hend + 1 || port == 0 || port > 65535)
			return mts_error_set(err, MTS_EUSAGE, "redis URL: bad port");
		out->port = (unsigned)port;
	}
	p = end;
	if (*p == '/') {
		p++;
		const char *dend = p + strcspn(p, "?");
		if (dend > p) {
			char *e;
			unsigned long db = strtoul(p, &e, 10);
			if (e != dend || db > 1000000)
				return mts_error_set(err, MTS_EUSAGE,
						     "redis URL: the database must be a number");
			out->db = (unsigned)db;
		}
		p = dend;
	}
	if (*p == '?') {
		p++;
		while (*p) {
			const char *amp = p + strcspn(p, "&");
			const char *eq = memchr(p, '=', (size_t)(amp - p));
			if (!eq)
				return mts_error_set(err, MTS_EUSAGE,
						     "redis URL: parameter without '='");
			size_t klen = (size_t)(eq - p), vlen = (size_t)(amp - eq - 1);
			if (klen == 6 && strncmp(p, "prefix", 6) == 0) {
				if (set_part(out->prefix, sizeof(out->prefix), eq + 1, vlen) < 0)
					return mts_error_set(err, MTS_EUSAGE,
							     "redis URL: prefix too long");
			} else if (klen == 10 && strncmp(p, "timeout_ms", 10) == 0) {
				char num[16], *e;
				if (set_part(num, sizeof(num), eq + 1, vlen) < 0)
					return mts_error_set(err, MTS_EUSAGE,
							     "redis URL: bad timeout_ms");
				unsigned long ms = strtoul(num, &e, 10);
				if (*e || !num[0] || ms == 0 || ms > 60000)
					return mts_error_set(
						err, MTS_EUSAGE,
						"redis URL: timeout_ms must be 1..60000");
				out->timeout_ms = (unsigned)ms;
			} else if ((klen == 14 && strncmp(p, "socket_timeout", 14) == 0) ||
				   (klen == 22 && strncmp(p, "socket_connect_timeout", 22) == 0)) {
				/* aioredis's names (postfix-mta-sts-resolver configs), in seconds
				 */
				char num[16], *e;
				if (set_part(num, sizeof(num), eq + 1, vlen) < 0)
					return mts_error_set(err, MTS_EUSAGE, "redis URL: bad %.*s",
							     (int)klen, p);
				double sec = strtod(num, &e);
				if (*e || !num[0] || !(sec > 0) || sec > 60)
					return mts_error_set(
						err, MTS_EUSAGE,
						"redis URL: %.*s must be 0..60 seconds", (int)klen,
						p);
				out->timeout_ms = (unsigned)(sec * 1000.0 + 0.5);
				if (!out->timeout_ms)
					out->timeout_ms = 1;
			} else {
				return mts_error_set(err, MTS_EUSAGE,
						     "redis URL: unknown parameter '%.*s'",
						     (int)(klen < 32 ? klen : 32), p);
			}
			p = *amp ? amp + 1 : amp;
		}
	}
	return 0;
}
