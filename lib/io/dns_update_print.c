/* dns_update_print.c - the pure parts of dns_update (see dns_update_int.h):
 * the TSIG key string, the checks of a change, and its rendering as
 * nsupdate(1) input or zone-file lines. No I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/text_int.h"
#include "io/dns_update_int.h"

const char *mts_dns_update_alg_name(enum mts_dns_update_alg alg)
{
	return alg == MTS_DNS_UPDATE_HMAC_SHA512 ? "hmac-sha512" : "hmac-sha256";
}

int mts_dns_update_name_norm(const char *name, size_t len, char *out, size_t cap, char *why,
			     size_t why_cap)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		snprintf(why, why_cap, "is empty");
		return -1;
	}
	/* Text of n bytes is n + 2 bytes in wire form (first length, root). */
	if (len + 2 > MTS_DNS_UPDATE_NAME_MAX || len + 2 > cap) {
		snprintf(why, why_cap, "is %zu bytes long, more than %d", len,
			 MTS_DNS_UPDATE_NAME_MAX - 2);
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '.') {
			if (label == 0) {
				snprintf(why, why_cap, "has an empty label (offset %zu)", i);
				return -1;
			}
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
			if (++label > 63) {
				snprintf(why, why_cap,
					 "has a label longer than 63 bytes (offset %zu)", i);
				return -1;
			}
		} else {
			snprintf(why, why_cap,
				 "holds a character other than letters, digits, '-', '_' (offset "
				 "%zu)",
				 i);
			return -1;
		}
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
	}
	out[len] = '.';
	out[len + 1] = '\0';
	return 0;
}

bool mts_dns_update_name_in(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);
	if (n == z)
		return strcmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}

/* RFC 4648 §4 base64, strict: padded, no whitespace. Returns the decoded
 * length, or -1 with *bad the offset of the first wrong character. */
static long b64_decoded_len(const char *s, size_t n, size_t *bad)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if (i + 2 < n || (i + 2 == n && s[i + 1] != '=')) {
				*bad = i;
				return -1;
			}
			pad++;
		} else if (!memchr(alphabet, s[i], sizeof(alphabet) - 1) || s[i] == '\0') {
			*bad = i;
			return -1;
		}
	}
	if (n == 0 || n % 4 != 0) {
		*bad = n;
		return -1;
	}
	return (long)(n / 4 * 3 - pad);
}

void mts_dns_update_key_clear(struct mts_dns_update_key *key)
{
	if (key)
		explicit_bzero(key, sizeof(*key));
}

int mts_dns_update_key_parse(const char *spec, struct mts_dns_update_key *key,
			     struct mts_error *err)
{
	memset(key, 0, sizeof(*key));
	if (!spec || !*spec)
		return mts_error_set(err, MTS_EINVAL,
				     "TSIG key: empty; expected ALGORITHM:NAME:SECRET");
	const char *c1 = strchr(spec, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1)
		return mts_error_set(err, MTS_EINVAL,
				     "TSIG key: expected ALGORITHM:NAME:SECRET or NAME:SECRET "
				     "(no ':' found)");
	if (c2 && strchr(c2 + 1, ':'))
		return mts_error_set(err, MTS_EINVAL,
				     "TSIG key: too many ':'; expected ALGORITHM:NAME:SECRET");
	const char *name = spec, *secret = c1 + 1;
	size_t name_len = (size_t)(c1 - spec);
	key->alg = MTS_DNS_UPDATE_HMAC_SHA256;
	if (c2) {
		size_t alg_len = (size_t)(c1 - spec);
		char alg[32];
		if (alg_len == 0)
			return mts_error_set(err, MTS_EINVAL, "TSIG key: the algorithm is empty");
		if (alg_len >= sizeof(alg))
			return mts_error_set(err, MTS_EINVAL,
					     "TSIG key: algorithm not supported (hmac-sha256, "
					     "hmac-sha512)");
		memcpy(alg, spec, alg_len);
		alg[alg_len] = '\0';
		if (strcasecmp(alg, "hmac-sha256") == 0)
			key->alg = MTS_DNS_UPDATE_HMAC_SHA256;
		else if (strcasecmp(alg, "hmac-sha512") == 0)
			key->alg = MTS_DNS_UPDATE_HMAC_SHA512;
		else
			return mts_error_set(err, MTS_EINVAL,
					     "TSIG key: algorithm '%s' not supported (hmac-sha256, "
					     "hmac-sha512)",
					     alg);
		name = c1 + 1;
		name_len = (size_t)(c2 - name);
		secret = c2 + 1;
	}
	char why[96];
	if (mts_dns_update_name_norm(name, name_len, key->name, sizeof(key->name), why,
				     sizeof(why)) < 0) {
		int rc = mts_error_set(err, MTS_EINVAL, "TSIG key: the key name %s", why);
		mts_dns_update_key_clear(key);
		return rc;
	}
	size_t secret_len = strlen(secret), bad = 0;
	long decoded = b64_decoded_len(secret, secret_len, &bad);
	if (decoded < 0 || decoded == 0) {
		if (secret_len == 0)
			mts_error_set(err, MTS_EINVAL, "TSIG key: the secret is empty");
		else if (bad < secret_len)
			mts_error_set(err, MTS_EINVAL,
				      "TSIG key: the secret is not base64 (bad character at "
				      "offset %zu of the secret)",
				      bad);
		else
			mts_error_set(err, MTS_EINVAL,
				      "TSIG key: the secret is not base64 (its length, %zu, is "
				      "not a multiple of 4)",
				      secret_len);
		mts_dns_update_key_clear(key);
		return MTS_EINVAL;
	}
	if ((size_t)decoded > MTS_DNS_UPDATE_SECRET_MAX || secret_len >= sizeof(key->secret)) {
		mts_dns_update_key_clear(key);
		return mts_error_set(err, MTS_EINVAL,
				     "TSIG key: the secret is %ld bytes, more than %d", decoded,
				     MTS_DNS_UPDATE_SECRET_MAX);
	}
	memcpy(key->secret, secret, secret_len + 1);
	key->secret_len = (size_t)decoded;
	return 0;
}

static int check_values(const char *what, const char *const *values, size_t count,
			struct mts_error *err)
{
	if (count == 0 || !values)
		return mts_error_set(err, MTS_EINVAL, "%s: no value given", what);
	if (count > MTS_DNS_UPDATE_VALUES_MAX)
		return mts_error_set(err, MTS_ETOOBIG, "%s: %zu values, more than %d", what, count,
				     MTS_DNS_UPDATE_VALUES_MAX);
	for (size_t i = 0; i < count; i++) {
		if (!values[i])
			return mts_error_set(err, MTS_EINVAL, "%s: value %zu is missing", what,
					     i + 1);
		size_t n = strlen(values[i]);
		if (n > MTS_DNS_UPDATE_VALUE_MAX)
			return mts_error_set(err, MTS_ETOOBIG,
					     "%s: value %zu is %zu bytes, more than %d", what,
					     i + 1, n, MTS_DNS_UPDATE_VALUE_MAX);
	}
	return 0;
}

int mts_dns_update_change_norm(const struct mts_dns_update_change *c, char *zone, char *name,
			       struct mts_error *err)
{
	char why[96];
	if (!c->zone || mts_dns_update_name_norm(c->zone, strlen(c->zone), zone,
						 MTS_DNS_UPDATE_NAME_MAX + 2, why, sizeof(why)) < 0)
		return mts_error_set(err, MTS_EINVAL, "zone: %s", c->zone ? why : "missing");
	if (!c->name || mts_dns_update_name_norm(c->name, strlen(c->name), name,
						 MTS_DNS_UPDATE_NAME_MAX + 2, why, sizeof(why)) < 0)
		return mts_error_set(err, MTS_EINVAL, "name: %s", c->name ? why : "missing");
	if (!mts_dns_update_name_in(name, zone))
		return mts_error_set(err, MTS_EINVAL, "name: %s is not inside the zone %s", name,
				     zone);
	if (c->action != MTS_DNS_UPDATE_SET_TXT && c->action != MTS_DNS_UPDATE_DELETE_TXT)
		return mts_error_set(err, MTS_EINVAL, "action: unknown (%d)", (int)c->action);
	if (c->action == MTS_DNS_UPDATE_SET_TXT) {
		if (c->ttl > MTS_DNS_UPDATE_TTL_MAX)
			return mts_error_set(err, MTS_EINVAL, "ttl: %lu is more than %lu",
					     (unsigned long)c->ttl,
					     (unsigned long)MTS_DNS_UPDATE_TTL_MAX);
		int rc = check_values("values", c->values, c->value_count, err);
		if (rc < 0)
			return rc;
	}
	switch (c->prereq) {
	case MTS_DNS_UPDATE_PREREQ_NONE:
	case MTS_DNS_UPDATE_PREREQ_TXT_EXISTS:
	case MTS_DNS_UPDATE_PREREQ_TXT_ABSENT: return 0;
	case MTS_DNS_UPDATE_PREREQ_TXT_IS:
		return check_values("prerequisite", c->prereq_values, c->prereq_count, err);
	}
	return mts_error_set(err, MTS_EINVAL, "prerequisite: unknown (%d)", (int)c->prereq);
}

int mts_dns_update_change_check(const struct mts_dns_update_change *c, struct mts_error *err)
{
	char zone[MTS_DNS_UPDATE_NAME_MAX + 2], name[MTS_DNS_UPDATE_NAME_MAX + 2];
	return mts_dns_update_change_norm(c, zone, name, err);
}

/* ------------------------------------------------------------ rendering */

/* A TXT value in presentation form (RFC 1035 §5.1): strings of at most 255
 * bytes, each quoted, '"' and '\' escaped, other bytes outside printable
 * ASCII as \DDD. The same cut as the wire form, so what an operator pastes
 * is what the update would publish. */
static void put_txt(struct mts_textbuf *o, const char *value)
{
	size_t n = strlen(value), at = 0;
	do {
		size_t chunk =
			n - at > MTS_DNS_UPDATE_STRING_MAX ? MTS_DNS_UPDATE_STRING_MAX : n - at;
		mts_textbuf_put(o, "%s\"", at ? " " : "");
		for (size_t i = at; i < at + chunk; i++) {
			unsigned char ch = (unsigned char)value[i];
			if (ch == '"' || ch == '\\')
				mts_textbuf_put(o, "\\%c", ch);
			else if (ch < 0x20 || ch > 0x7e)
				mts_textbuf_put(o, "\\%03u", ch);
			else
				mts_textbuf_put(o, "%c", ch);
		}
		mts_textbuf_put(o, "\"");
		at += chunk;
	} while (at < n);
}

static void render_nsupdate(struct mts_textbuf *o, const struct mts_dns_update_change *c,
			    const char *zone, const char *name)
{
	mts_textbuf_put(o, "zone %s\n", zone);
	switch (c->prereq) {
	case MTS_DNS_UPDATE_PREREQ_NONE: break;
	case MTS_DNS_UPDATE_PREREQ_TXT_EXISTS:
		mts_textbuf_put(o, "prereq yxrrset %s IN TXT\n", name);
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_ABSENT:
		mts_textbuf_put(o, "prereq nxrrset %s IN TXT\n", name);
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_IS:
		for (size_t i = 0; i < c->prereq_count; i++) {
			mts_textbuf_put(o, "prereq yxrrset %s IN TXT ", name);
			put_txt(o, c->prereq_values[i]);
			mts_textbuf_put(o, "\n");
		}
		break;
	}
	mts_textbuf_put(o, "update delete %s IN TXT\n", name);
	if (c->action == MTS_DNS_UPDATE_SET_TXT)
		for (size_t i = 0; i < c->value_count; i++) {
			mts_textbuf_put(o, "update add %s %lu IN TXT ", name,
					(unsigned long)c->ttl);
			put_txt(o, c->values[i]);
			mts_textbuf_put(o, "\n");
		}
	mts_textbuf_put(o, "send\n");
}

static void render_zonefile(struct mts_textbuf *o, const struct mts_dns_update_change *c,
			    const char *zone, const char *name)
{
	if (c->action == MTS_DNS_UPDATE_SET_TXT)
		mts_textbuf_put(o, "; zone %s: replace every TXT record of %s with these\n", zone,
				name);
	else
		mts_textbuf_put(o, "; zone %s: remove every TXT record of %s\n", zone, name);
	switch (c->prereq) {
	case MTS_DNS_UPDATE_PREREQ_NONE: break;
	case MTS_DNS_UPDATE_PREREQ_TXT_EXISTS:
		mts_textbuf_put(o, "; only if %s has TXT records now\n", name);
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_ABSENT:
		mts_textbuf_put(o, "; only if %s has no TXT record now\n", name);
		break;
	case MTS_DNS_UPDATE_PREREQ_TXT_IS:
		for (size_t i = 0; i < c->prereq_count; i++) {
			mts_textbuf_put(o, "; only if %s now has exactly: TXT ", name);
			put_txt(o, c->prereq_values[i]);
			mts_textbuf_put(o, "\n");
		}
		break;
	}
	if (c->action == MTS_DNS_UPDATE_SET_TXT)
		for (size_t i = 0; i < c->value_count; i++) {
			mts_textbuf_put(o, "%s %lu IN TXT ", name, (unsigned long)c->ttl);
			put_txt(o, c->values[i]);
			mts_textbuf_put(o, "\n");
		}
}

int mts_dns_update_render(const struct mts_dns_update_change *c, enum mts_dns_update_format fmt,
			  char *out, size_t cap, struct mts_error *err)
{
	char zone[MTS_DNS_UPDATE_NAME_MAX + 2], name[MTS_DNS_UPDATE_NAME_MAX + 2];
	if (cap > 0)
		out[0] = '\0';
	int rc = mts_dns_update_change_norm(c, zone, name, err);
	if (rc < 0)
		return rc;
	if (fmt != MTS_DNS_UPDATE_NSUPDATE && fmt != MTS_DNS_UPDATE_ZONEFILE)
		return mts_error_set(err, MTS_EINVAL, "format: unknown (%d)", (int)fmt);
	struct mts_textbuf o = {.buf = out, .cap = cap, .full = cap == 0};
	if (fmt == MTS_DNS_UPDATE_NSUPDATE)
		render_nsupdate(&o, c, zone, name);
	else
		render_zonefile(&o, c, zone, name);
	if (o.full) {
		if (cap > 0)
			out[0] = '\0';
		return mts_error_set(err, MTS_ETOOBIG,
				     "the rendered change needs more than %zu bytes", cap);
	}
	return (int)o.len;
}
