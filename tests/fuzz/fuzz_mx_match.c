/* fuzz_mx_match.c - RFC 8461 §4.1 matching on arbitrary pattern and host
 * (the input split in two at the first NUL or newline): no crash, and the
 * rules hold: case and a trailing dot never change the answer, a wildcard
 * pattern never matches its own base name, a host with '*' never matches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/dname.h"

#define NAME_MAX_FUZZ 300

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t cut = 0;
	while (cut < size && buf[cut] != '\0' && buf[cut] != '\n')
		cut++;
	size_t plen = cut, hlen = cut < size ? size - cut - 1 : 0;
	if (plen > NAME_MAX_FUZZ || hlen > NAME_MAX_FUZZ)
		return 0;
	char pattern[NAME_MAX_FUZZ + 2], host[NAME_MAX_FUZZ + 2];
	memcpy(pattern, buf, plen);
	pattern[plen] = '\0';
	memcpy(host, buf + cut + (cut < size), hlen);
	host[hlen] = '\0';

	bool m = mts_mx_match(pattern, plen, host, hlen);
	(void)mts_mx_match_idna(pattern, host); /* U-labels: must not crash */
	if (memchr(host, '\0', hlen))
		return 0; /* the NUL-terminated variants below would see less */

	char up[NAME_MAX_FUZZ + 2];
	memcpy(up, host, hlen + 1);
	upper(up);
	if (mts_mx_match(pattern, plen, up, hlen) != m)
		abort();
	if (m && memchr(host, '*', hlen))
		abort();
	if (hlen && host[hlen - 1] != '.' && hlen < NAME_MAX_FUZZ) {
		char dotted[NAME_MAX_FUZZ + 2];
		memcpy(dotted, host, hlen);
		dotted[hlen] = '.';
		if (mts_mx_match(pattern, plen, dotted, hlen + 1) != m)
			abort();
	}
	/* "*.rest" never matches "rest" */
	if (plen > 2 && pattern[0] == '*' && pattern[1] == '.' &&
	    mts_mx_match(pattern, plen, pattern + 2, plen - 2))
		abort();
	/* a normalised pattern matches itself (or one label under it) */
	char norm[MTS_MX_PATTERN_MAX + 1];
	if (mts_dname_normalize(pattern, plen, true, norm, NULL) == MTS_DNAME_OK) {
		char probe[MTS_MX_PATTERN_MAX + 1];
		size_t nl = strlen(norm);
		if (norm[0] == '*') {
			probe[0] = 'a';
			memcpy(probe + 1, norm + 1, nl);
		} else {
			memcpy(probe, norm, nl + 1);
		}
		if (!mts_mx_match(pattern, plen, probe, strlen(probe)))
			abort();
	}
	return 0;
}
