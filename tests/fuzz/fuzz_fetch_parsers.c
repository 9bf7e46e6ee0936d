/* fuzz_fetch_parsers.c - the byte parsers of discovery on arbitrary input:
 * TXT RDATA joining, Content-Type checking, curl-style connect-to specs and
 * resolver specs, redis:// cache URLs. The first byte chooses the parser. Checks: no crash, the
 * joined text fits in the RDATA's length plus one and holds exactly the string bytes, parsed specs are
 * NUL-terminated and within their limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/cache_int.h"
#include "io/dns_int.h"
#include "io/https_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t which = data[0] % 5;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	switch (which) {
	case 0: {
		/* The DNS adapter gives the join len + 1 bytes: always enough. */
		char *out = malloc(len + 1);
		if (!out)
			break;
		unsigned strings = 0;
		int n = mts_dns_txt_join(in, len, out, len + 1, &strings);
		if (n == MTS_ETOOBIG)
			abort();
		if (n >= 0) {
			/* every string costs one length byte */
			if ((size_t)n + strings != len || out[n] != '\0')
				abort();
		}
		free(out);
		break;
	}
	case 1:
		(void)mts_https_content_type_ok((const char *)in, len);
		break;
	case 2: {
		struct mts_connect_to ct;
		if (mts_connect_to_parse((const char *)in, len, &ct) == 0) {
			if (strlen(ct.host) >= sizeof(ct.host) || strlen(ct.addr) >= sizeof(ct.addr) ||
			    ct.port > 65535 || ct.addr_port > 65535)
				abort();
			(void)mts_connect_to_matches(&ct, "mta-sts.example.com", 443);
		}
		break;
	}
	case 3: {
		char spec[256], addr[64];
		unsigned port;
		if (len >= sizeof(spec))
			break;
		memcpy(spec, in, len);
		spec[len] = '\0';
		if (mts_dns_resolver_parse(spec, addr, sizeof(addr), &port) == 0 &&
		    (port == 0 || port > 65535 || strlen(addr) >= sizeof(addr)))
			abort();
		break;
	}
	default: {
		char spec[1024];
		struct mts_redis_url u;
		if (len >= sizeof(spec))
			break;
		memcpy(spec, in, len);
		spec[len] = '\0';
		if (mts_redis_url_parse(spec, &u, NULL) == 0 &&
		    (!u.host[0] || u.port == 0 || u.port > 65535 || u.timeout_ms == 0 ||
		     u.timeout_ms > 60000 || strlen(u.prefix) >= sizeof(u.prefix)))
			abort();
		break;
	}
	}
	return 0;
}
