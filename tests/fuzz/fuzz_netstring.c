/* fuzz_netstring.c - the netstring stream parser, socketmap split and TLS
 * policy keys on arbitrary bytes: no crash, every consumed count within the
 * input, a parsed payload formats back to the bytes it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/netstring_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;
	while (off < size) {
		const char *p;
		size_t pl, used;
		int rc = mts_netstring_parse(buf + off, size - off, 4096, &p, &pl, &used);
		if (rc <= 0)
			break;
		if (used > size - off || pl > used)
			abort();
		char *again = malloc(used);
		if (!again || mts_netstring_format(p, pl, again, used) != (long)used ||
		    memcmp(again, buf + off, used) != 0)
			abort();
		free(again);
		const char *name, *key;
		size_t nl, kl;
		if (mts_socketmap_split(p, pl, &name, &nl, &key, &kl) == 0) {
			char domain[MTS_DNAME_MAX + 1];
			if (mts_tls_policy_key(key, kl, domain) == MTS_TLS_KEY_DOMAIN &&
			    strlen(domain) > MTS_DNAME_MAX)
				abort();
		}
		off += used;
	}
	char domain[MTS_DNAME_MAX + 1];
	mts_tls_policy_key(buf, size, domain);
	return 0;
}
