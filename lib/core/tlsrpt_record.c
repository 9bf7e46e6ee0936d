/* tlsrpt_record.c - the _smtp._tls TXT record, RFC 8460 §3 (see tlsrpt_record.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtasts/dname.h"
#include "core/text_int.h"
#include "mtasts/tlsrpt_record.h"
#include "core/record_fields_int.h"

#define TLSRPT_VERSION "v=TLSRPTv1"

bool mts_tlsrpt_record_is_tlsrpt(const char *txt, size_t len)
{
	return record_has_version(txt, len, TLSRPT_VERSION);
}

void mts_tlsrpt_record_clear(struct mts_tlsrpt_record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->rua_count; i++) {
		free(r->rua[i].uri);
		free(r->rua[i].target);
	}
	free(r->rua);
	memset(r, 0, sizeof(*r));
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3986 characters: unreserved / reserved / '%' (checked separately). */
static bool uri_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	/* '!' is a URI sub-delim, but RFC 8460 §3 says it MUST be
	 * percent-encoded in a tlsrpt-uri (as ',' and ';', which cannot reach
	 * here): DMARC's "!10m" size suffix has no meaning in TLS-RPT. */
	return strchr("-._~:/?#[]@$&'()*+,;=%", c) != NULL && c != '\0';
}

/* Decode percent-escapes of s into out (cap bytes). Returns the length, or
 * -1 with *bad set on a malformed escape or a decoded control byte. */
static long pct_decode(const char *s, size_t len, char *out, size_t cap, size_t *bad)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= len) {
				*bad = i;
				return -1;
			}
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0) {
				*bad = i;
				return -1;
			}
			c = (char)(h * 16 + l);
			if ((unsigned char)c < 0x20 || c == 0x7f) {
				*bad = i;
				return -1;
			}
			i += 2;
		}
		if (o + 1 >= cap) {
			*bad = i;
			return -1;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

/* RFC 5322 §3.4.1 / RFC 5321 §4.1.2 local part: a dot-atom or a quoted
 * string. A bare ',' or ';' decoded from %2C or %3B is neither: the
 * address cannot receive mail (and a ',' would make a list of them). */
static bool local_part_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (s[0] == '"') {
		if (n < 2 || s[n - 1] != '"')
			return false;
		for (size_t i = 1; i + 1 < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				if (++i + 1 >= n)
					return false;
			} else if (c == '"' || c < 0x20 || c > 0x7e) {
				return false;
			}
		}
		return true;
	}
	if (s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.' ? (i + 1 < n && s[i + 1] == '.')
			     : !(is_alnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c)))
			return false;
	}
	return true;
}

/* An IP-literal's inside (RFC 3986 §3.2.2): hex digits, ':' and the dots of
 * an embedded IPv4 address, with at least two ':'. */
static bool ip_literal_ok(const char *s, size_t n)
{
	size_t colons = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ':')
			colons++;
		else if (hexval(s[i]) < 0 && s[i] != '.')
			return false;
	}
	return colons >= 2;
}

/* A mailto: URI's address (after "mailto:", up to any '?'): one valid
 * address. On success rua->target gets it decoded. Returns 0, 1 (a finding
 * was added) or MTS_ENOMEM. */
static int parse_mailto(const char *u, size_t len, size_t colon, unsigned column, const char *shown,
			struct mts_rua *rua, struct mts_findings *fs)
{
	char decoded[1024];
	size_t bad = 0;
	const char *addr = u + colon + 1;
	size_t alen = len - colon - 1;
	const char *q = memchr(addr, '?', alen);
	if (q)
		alen = (size_t)(q - addr);
	long dl = pct_decode(addr, alen, decoded, sizeof(decoded), &bad);
	if (dl < 0) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0,
				 column + (unsigned)(colon + 1 + bad),
				 "URI \"%s\" has a malformed percent-escape", shown);
		return 1;
	}
	char *at = strrchr(decoded, '@');
	char dom[MTS_DNAME_MAX + 1];
	if (!at || !local_part_ok(decoded, (size_t)(at - decoded)) ||
	    mts_dname_normalize(at + 1, strlen(at + 1), false, dom, NULL) != MTS_DNAME_OK) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0, column,
				 "\"%s\" is not a mailto: URI with one valid address", shown);
		return 1;
	}
	rua->scheme = MTS_RUA_MAILTO;
	rua->target = mts_strndup(decoded, (size_t)dl);
	return rua->target ? 0 : MTS_ENOMEM;
}

/* The authority of an https:// URI (auth bytes at host): a host name or an
 * IP-literal, an optional port, no userinfo. Returns 0 or 1 (a finding). */
static int check_authority(const char *host, size_t auth, unsigned column, const char *shown,
			   struct mts_findings *fs)
{
	size_t hl = 0;
	bool host_ok;
	if (auth > 0 && host[0] == '[') {
		const char *close = memchr(host, ']', auth);
		hl = close ? (size_t)(close - host) + 1 : auth;
		host_ok = close && ip_literal_ok(host + 1, hl - 2);
	} else {
		while (hl < auth && host[hl] != ':')
			hl++;
		char dom[MTS_DNAME_MAX + 1];
		host_ok = hl > 0 && mts_dname_normalize(host, hl, false, dom, NULL) == MTS_DNAME_OK;
	}
	if (!host_ok || memchr(host, '@', auth)) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0, column,
				 "\"%s\" has no valid host name", shown);
		return 1;
	}
	if (hl < auth) {
		size_t p = hl + 1, digits = 0;
		unsigned long port = 0;
		while (p < auth && host[p] >= '0' && host[p] <= '9' && digits < 6)
			port = port * 10 + (unsigned long)(host[p++] - '0'), digits++;
		if (host[hl] != ':' || digits == 0 || port == 0 || port > 65535 || p < auth) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0, column,
					 "\"%s\" has an invalid port", shown);
			return 1;
		}
	}
	return 0;
}

/* An https:// URI: a valid authority and well-formed percent-escapes. On
 * success rua->target is the URI. Returns 0, 1 (a finding) or MTS_ENOMEM. */
static int parse_https(const char *u, size_t len, size_t colon, unsigned column, const char *shown,
		       struct mts_rua *rua, struct mts_findings *fs)
{
	if (len < colon + 3 || memcmp(u + colon, "://", 3) != 0) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0, column,
				 "\"%s\" is not an https:// URI", shown);
		return 1;
	}
	/* authority = host [":" port], up to the path, query or fragment;
	 * '@' there is userinfo (refused), '@' after it is data */
	const char *host = u + colon + 3;
	size_t auth = 0, rest = len - colon - 3;
	while (auth < rest && host[auth] != '/' && host[auth] != '?' && host[auth] != '#')
		auth++;
	if (check_authority(host, auth, column, shown, fs))
		return 1;
	for (size_t i = 0; i < len; i++) {
		if (u[i] == '%' && (i + 2 >= len || hexval(u[i + 1]) < 0 || hexval(u[i + 2]) < 0)) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0,
					 column + (unsigned)i,
					 "URI \"%s\" has a malformed percent-escape", shown);
			return 1;
		}
	}
	rua->scheme = MTS_RUA_HTTPS;
	rua->target = mts_strndup(u, len);
	return rua->target ? 0 : MTS_ENOMEM;
}

/* Validate one URI; on success fill rua (owning copies). offset locates the
 * URI in the record for findings. Returns 0, 1 (a finding was added) or MTS_ENOMEM. */
static int parse_uri(const char *u, size_t len, size_t offset, struct mts_rua *rua,
		     struct mts_findings *fs)
{
	char shown[MTS_PRINTABLE_BUF];
	unsigned column = (unsigned)offset + 1;
	mts_printable(u, len, shown, sizeof(shown));

	for (size_t i = 0; i < len; i++) {
		if (!uri_char(u[i])) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0,
					 column + (unsigned)i,
					 "URI \"%s\" holds a character not allowed in a URI "
					 "(percent-encode it)",
					 shown);
			return 1;
		}
	}
	size_t colon = 0;
	while (colon < len && u[colon] != ':')
		colon++;
	if (colon == len || colon == 0) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0, column,
				 "\"%s\" is not a URI (no scheme)", shown);
		return 1;
	}
	char scheme[16];
	size_t sl = colon < sizeof(scheme) ? colon : sizeof(scheme) - 1;
	for (size_t i = 0; i < sl; i++)
		scheme[i] = (u[i] >= 'A' && u[i] <= 'Z') ? (char)(u[i] - 'A' + 'a') : u[i];
	scheme[sl] = '\0';

	int rc;
	if (strcmp(scheme, "mailto") == 0) {
		rc = parse_mailto(u, len, colon, column, shown, rua, fs);
	} else if (strcmp(scheme, "https") == 0) {
		rc = parse_https(u, len, colon, column, shown, rua, fs);
	} else {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_SCHEME, 0, column,
				 "URI scheme \"%s\" is not mailto or https%s", scheme,
				 strcmp(scheme, "http") == 0 ? " (plain http is not allowed)" : "");
		return 1;
	}
	if (rc)
		return rc;
	rua->uri = mts_strndup(u, len);
	if (!rua->uri) {
		free(rua->target);
		rua->target = NULL;
		return MTS_ENOMEM;
	}
	return 0;
}

/* Returns 0, 1 (a finding was added) or MTS_ENOMEM. */
static int parse_rua(const struct record_field *f, struct mts_tlsrpt_record *out,
		     struct mts_findings *fs)
{
	int failed = 0;
	size_t i = 0;
	const char *v = f->value;
	size_t base = f->offset + 4;
	while (i <= f->value_len) {
		size_t s = i;
		while (s < f->value_len && record_is_wsp(v[s]))
			s++;
		size_t e = s;
		while (e < f->value_len && v[e] != ',')
			e++;
		size_t t = e;
		while (t > s && record_is_wsp(v[t - 1]))
			t--;
		if (t == s) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0,
					 (unsigned)(base + s + 1), "empty URI in the rua list");
			failed = 1;
		} else if (out->rua_count >= MTS_TLSRPT_MAX_RUA) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_INVALID, 0,
					 (unsigned)(base + s + 1), "more than %d rua URIs",
					 MTS_TLSRPT_MAX_RUA);
			return 1;
		} else {
			struct mts_rua rua = {0};
			int rc = parse_uri(v + s, t - s, base + s, &rua, fs);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				failed = 1;
			} else {
				bool dup = false;
				for (size_t k = 0; k < out->rua_count; k++)
					dup |= strcmp(out->rua[k].uri, rua.uri) == 0;
				if (dup) {
					mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_DUPLICATE, 0,
							 (unsigned)(base + s + 1),
							 "URI listed twice");
					free(rua.uri);
					free(rua.target);
				} else {
					struct mts_rua *grown = realloc(
						out->rua, (out->rua_count + 1) * sizeof(*grown));
					if (!grown) {
						free(rua.uri);
						free(rua.target);
						return MTS_ENOMEM;
					}
					out->rua = grown;
					out->rua[out->rua_count++] = rua;
				}
			}
		}
		i = e + 1;
	}
	return failed;
}

int mts_tlsrpt_record_parse(const char *txt, size_t len, struct mts_tlsrpt_record *out,
			    struct mts_findings *fs, struct mts_error *err)
{
	char shown[MTS_PRINTABLE_BUF];
	bool failed = false, have_rua = false;

	memset(out, 0, sizeof(*out));
	if (len > MTS_TXT_MAX_BYTES) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_SYNTAX, 0, 0,
				 "record of %zu bytes is over the %d-byte limit", len,
				 MTS_TXT_MAX_BYTES);
		return mts_error_set(err, MTS_ETOOBIG, "record too long");
	}
	if (!record_has_version(txt, len, TLSRPT_VERSION)) {
		mts_printable(txt, len, shown, sizeof(shown));
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_VERSION, 0, 1,
				 "record \"%s\" does not begin with \"v=TLSRPTv1\"", shown);
		return mts_error_set(err, MTS_EINVAL, "not a TLSRPT record");
	}
	struct record_scanner sc;
	struct record_field f;
	enum record_scan_error e;
	size_t eoff;
	int rc;
	record_scan_init(&sc, txt, len, strlen(TLSRPT_VERSION));
	while ((rc = record_scan_next(&sc, &f, true, &e, &eoff)) != 0) {
		if (rc < 0) {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_SYNTAX, 0, (unsigned)eoff + 1,
					 "%s", record_scan_error_text(e));
			failed = true;
			continue;
		}
		bool is_rua = f.name_len == 3 && memcmp(f.name, "rua", 3) == 0;
		if (f.equals && !is_rua) {
			/* ext-value excludes '='; only a URI may carry one (§3 ABNF) */
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_SYNTAX, 0, (unsigned)f.equals + 1,
					 "%s", record_scan_error_text(RECORD_SCAN_BAD_CHAR));
			failed = true;
			continue;
		}
		mts_printable(f.name, f.name_len, shown, sizeof(shown));
		if (is_rua) {
			if (have_rua) {
				mts_findings_add(
					fs, MTS_F_TLSRPT_RECORD_FIELD_REPEATED, 0,
					(unsigned)f.offset + 1,
					"rua appears more than once; the first one is used");
				continue;
			}
			have_rua = true;
			int prc = parse_rua(&f, out, fs);
			if (prc < 0) {
				mts_tlsrpt_record_clear(out);
				return mts_error_set(err, MTS_ENOMEM, "out of memory");
			}
			if (prc > 0)
				failed = true;
		} else if (f.name_len == 1 && f.name[0] == 'v') {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_FIELD_REPEATED, 0,
					 (unsigned)f.offset + 1, "v appears more than once");
		} else if (f.name_len == 3 && strncasecmp(f.name, "rua", 3) == 0) {
			/* "RUA" is a well-formed extension name (tlsrpt-rua is
			 * %s"rua="): senders ignore it, they do not reject the record. */
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_FIELD_UNKNOWN, 0,
					 (unsigned)f.offset + 1,
					 "field \"%s\" is ignored: names are case-sensitive, "
					 "write \"rua\"",
					 shown);
		} else {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_FIELD_UNKNOWN, 0,
					 (unsigned)f.offset + 1, "unknown field \"%s\" is ignored",
					 shown);
		}
	}
	if (!have_rua) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_RUA_MISSING, 0, 0,
				 "the record has no rua field");
		failed = true;
	} else if (out->rua_count == 0) {
		failed = true;
	}
	if (fs && fs->enomem) {
		mts_tlsrpt_record_clear(out);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	if (failed) {
		mts_tlsrpt_record_clear(out);
		return mts_error_set(err, MTS_EINVAL, "invalid TLSRPT record");
	}
	return 0;
}

int mts_tlsrpt_record_select(const char *const *txts, const size_t *lens, size_t n,
			     struct mts_tlsrpt_record *out, struct mts_findings *fs,
			     struct mts_error *err)
{
	char shown[MTS_PRINTABLE_BUF];
	size_t found = 0, which = 0;
	bool near = false;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (mts_tlsrpt_record_is_tlsrpt(txts[i], lens[i])) {
			if (found++ == 0)
				which = i;
			continue;
		}
		mts_printable(txts[i], lens[i], shown, sizeof(shown));
		if (record_near_version(txts[i], lens[i], TLSRPT_VERSION)) {
			near = true;
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_VERSION, 0, 1,
					 "record \"%s\" looks like a TLSRPT record but does not "
					 "begin exactly with \"v=TLSRPTv1\"",
					 shown);
		} else {
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_IGNORED, 0, 0,
					 "record \"%s\" does not begin with \"v=TLSRPTv1\" and is "
					 "ignored",
					 shown);
		}
	}
	if (found == 0) {
		if (!near)
			mts_findings_add(fs, MTS_F_TLSRPT_RECORD_MISSING, 0, 0,
					 "no TXT record beginning with \"v=TLSRPTv1\"");
		return mts_error_set(err, MTS_ENOTFOUND, "no TLSRPT record");
	}
	if (found > 1) {
		mts_findings_add(fs, MTS_F_TLSRPT_RECORD_MULTIPLE, 0, 0,
				 "%zu TXT records begin with \"v=TLSRPTv1\"; senders send no "
				 "reports",
				 found);
		return mts_error_set(err, MTS_EINVAL, "several TLSRPT records");
	}
	return mts_tlsrpt_record_parse(txts[which], lens[which], out, fs, err);
}
