/* dname.c - host names and RFC 8461 §4.1 MX pattern matching (see dname.h). */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "mtasts/dname.h"
#include "mtasts/error.h"
#include "core/text_int.h"

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* LDH bytes mapped to their lowercase form; 0 for every other byte. A table
 * keeps normalisation to one load per byte (it runs for every mx line). */
static const char ldh_lower[256] = {
	['-'] = '-',
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
	['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
	['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
	['y'] = 'y', ['z'] = 'z',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
	['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
	['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
	['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
	['Y'] = 'y', ['Z'] = 'z',
};

enum mts_dname_status mts_dname_normalize(const char *name, size_t len, bool allow_wildcard,
					  char *out, bool *had_trailing_dot)
{
	if (had_trailing_dot)
		*had_trailing_dot = false;
	if (len > 0 && name[len - 1] == '.') {
		len--;
		if (had_trailing_dot)
			*had_trailing_dot = true;
	}
	if (len == 0)
		return MTS_DNAME_EMPTY;

	size_t start = 0;
	if (allow_wildcard && len >= 2 && name[0] == '*' && name[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		start = 2;
	}
	/* The Domain after "*." may have MTS_DNAME_MAX characters of its own. */
	if (len - start > MTS_DNAME_MAX)
		return MTS_DNAME_TOO_LONG;
	size_t label_len = 0;
	for (size_t i = start; i <= len; i++) {
		char c = i < len ? name[i] : '.';
		if (c == '.') {
			if (label_len == 0)
				return MTS_DNAME_LABEL_EMPTY;
			if (name[i - 1] == '-' || name[i - label_len] == '-')
				return MTS_DNAME_HYPHEN;
			label_len = 0;
			if (i < len)
				out[i] = '.';
			continue;
		}
		char l = ldh_lower[(unsigned char)c];
		if (!l) {
			if ((unsigned char)c >= 0x80)
				return MTS_DNAME_NON_ASCII;
			return c == '*' ? MTS_DNAME_BAD_WILDCARD : MTS_DNAME_BAD_CHAR;
		}
		if (++label_len > MTS_LABEL_MAX)
			return MTS_DNAME_LABEL_TOO_LONG;
		out[i] = l;
	}
	out[len] = '\0';
	return MTS_DNAME_OK;
}

const char *mts_dname_status_text(enum mts_dname_status s)
{
	switch (s) {
	case MTS_DNAME_OK: return "valid";
	case MTS_DNAME_EMPTY: return "empty name";
	case MTS_DNAME_TOO_LONG: return "name longer than 253 characters";
	case MTS_DNAME_LABEL_EMPTY: return "empty label (two dots in a row, or a leading dot)";
	case MTS_DNAME_LABEL_TOO_LONG: return "label longer than 63 characters";
	case MTS_DNAME_BAD_CHAR: return "character not allowed in a host name";
	case MTS_DNAME_HYPHEN: return "label starts or ends with '-'";
	case MTS_DNAME_NON_ASCII: return "non-ASCII characters (write the A-label, xn--...)";
	case MTS_DNAME_BAD_WILDCARD: return "'*' is allowed only as the whole leftmost label";
	}
	return "invalid name";
}

int mts_dname_to_alabel(const char *name, size_t len, char out[MTS_DNAME_MAX + 1])
{
	char *in = mts_strndup(name, len);
	if (!in)
		return MTS_ENOMEM;
	char *ascii = NULL;
	int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NONTRANSITIONAL);
	free(in);
	if (rc != IDN2_OK) {
		free(ascii);
		return MTS_EINVAL;
	}
	size_t alen = strlen(ascii);
	if (alen > MTS_DNAME_MAX + 1 || (alen == MTS_DNAME_MAX + 1 && ascii[alen - 1] != '.')) {
		idn2_free(ascii);
		return MTS_EINVAL;
	}
	memcpy(out, ascii, alen);
	out[alen > MTS_DNAME_MAX ? MTS_DNAME_MAX : alen] = '\0';
	idn2_free(ascii);
	return 0;
}

static bool equal_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

bool mts_mx_match(const char *pattern, size_t plen, const char *host, size_t hlen)
{
	if (plen && pattern[plen - 1] == '.')
		plen--;
	if (hlen && host[hlen - 1] == '.')
		hlen--;
	if (plen == 0 || hlen == 0)
		return false;
	if (memchr(host, '*', hlen))
		return false; /* a host name never holds a wildcard */
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		const char *rest = pattern + 1; /* ".example.com" */
		size_t rlen = plen - 1;
		if (rlen < 2 || memchr(rest, '*', rlen))
			return false;
		/* host = one non-empty label without dots, then exactly rest */
		if (hlen <= rlen)
			return false;
		size_t first = hlen - rlen;
		if (memchr(host, '.', first))
			return false;
		return equal_nocase(host + first, rest, rlen);
	}
	if (memchr(pattern, '*', plen))
		return false;
	return plen == hlen && equal_nocase(pattern, host, plen);
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

bool mts_mx_match_idna(const char *pattern, const char *host)
{
	char pbuf[MTS_DNAME_MAX + 3], hbuf[MTS_DNAME_MAX + 1];
	const char *p = pattern, *h = host;
	if (!is_ascii(pattern)) {
		bool wild = pattern[0] == '*' && pattern[1] == '.';
		const char *tail = wild ? pattern + 2 : pattern;
		if (mts_dname_to_alabel(tail, strlen(tail), pbuf + (wild ? 2 : 0)) < 0)
			return false;
		if (wild) {
			pbuf[0] = '*';
			pbuf[1] = '.';
		}
		p = pbuf;
	}
	if (!is_ascii(host)) {
		if (mts_dname_to_alabel(host, strlen(host), hbuf) < 0)
			return false;
		h = hbuf;
	}
	return mts_mx_match(p, strlen(p), h, strlen(h));
}
