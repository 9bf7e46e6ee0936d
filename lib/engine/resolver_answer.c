/* resolver_answer.c - what `mtasts resolver` tells Postfix for a discovery
 * result (see resolver.h; every form is documented in docs/resolver.md).
 * Pure: no I/O, no clock. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/netstring_int.h"
#include "mtasts/resolver.h"
#include "core/text_int.h"

const char *mts_resolver_kind_name(enum mts_resolver_kind k)
{
	switch (k) {
	case MTS_ANSWER_POLICY: return "policy";
	case MTS_ANSWER_NOTFOUND: return "notfound";
	case MTS_ANSWER_TEMP: return "temp";
	case MTS_ANSWER_DANE: return "dane";
	case MTS_ANSWER_PERM: return "perm";
	}
	return "unknown";
}

/* A reason for TEMP: printable ASCII, no more than a line. */
static void put_reason(struct mts_textbuf *o, const char *reason)
{
	char shown[MTS_PRINTABLE_BUF];
	mts_textbuf_put(o, "%s", mts_printable(reason, strlen(reason), shown, sizeof(shown)));
}

static void put_policy(struct mts_textbuf *o, const struct mts_resolver_zone *z,
		       const struct mts_discovery_result *r)
{
	const struct mts_policy *p = r->policy;
	mts_textbuf_put(o, "OK secure match=");
	for (size_t i = 0; i < p->mx_count; i++) {
		/* Postfix's ".example.com" is our "*.example.com" (see docs/resolver.md
		 * for the one-label difference and mx_host_pattern). */
		const char *pattern = p->mx[i][0] == '*' ? p->mx[i] + 1 : p->mx[i];
		mts_textbuf_put(o, "%s%s", i ? ":" : "", pattern);
	}
	if (z->require_sni)
		mts_textbuf_put(o, " servername=hostname");
	if (!z->tlsrpt)
		return;
	/* Postfix 3.10's policy-table attributes (TLSRPT_README, "MTA-STS Support
	 * via smtp_tls_policy_maps"). No policy_ttl: Postfix ignores it and has
	 * announced its removal, after which an answer carrying it would be
	 * refused as a whole. The braces keep the blank in "key: value"; a
	 * parsed policy's values hold no brace or line break to escape. */
	mts_textbuf_put(o, " policy_type=sts policy_domain=%s", r->domain);
	for (size_t i = 0; i < p->mx_count; i++)
		mts_textbuf_put(o, " mx_host_pattern=%s", p->mx[i]);
	mts_textbuf_put(o, " { policy_string = version: STSv1 } { policy_string = mode: %s }",
	    mts_mode_name(p->mode));
	for (size_t i = 0; i < p->mx_count; i++)
		mts_textbuf_put(o, " { policy_string = mx: %s }", p->mx[i]);
	mts_textbuf_put(o, " { policy_string = max_age: %u }", p->max_age);
}

long mts_resolver_answer(const struct mts_resolver_zone *z, const struct mts_discovery_result *r,
			 char *out, size_t cap, enum mts_resolver_kind *kind)
{
	struct mts_textbuf o = {.buf = out, .cap = cap};
	enum mts_resolver_kind k = MTS_ANSWER_NOTFOUND;
	if (cap == 0)
		return MTS_ETOOBIG;
	out[0] = '\0';
	if (r->policy) {
		/* A valid policy, fetched now or kept from the cache after a failure. */
		enum mts_mode mode = r->policy->mode;
		if (mode == MTS_MODE_ENFORCE || (mode == MTS_MODE_TESTING && z->strict_testing)) {
			k = MTS_ANSWER_POLICY;
			put_policy(&o, z, r);
		}
	} else {
		switch (r->outcome) {
		case MTS_OUTCOME_DNS_ERROR:
			/* We cannot tell whether the domain has a policy: let Postfix
			 * retry rather than send without one it may have. */
			k = MTS_ANSWER_TEMP;
			mts_textbuf_put(&o, "TEMP ");
			put_reason(&o, r->reason[0] ? r->reason : "the policy lookup failed");
			break;
		case MTS_OUTCOME_FETCH_ERROR:
		case MTS_OUTCOME_WEBPKI:
		case MTS_OUTCOME_INVALID:
			/* No usable policy: the domain is treated as having none
			 * (RFC 8461 §5), and Postfix keeps its own default level.
			 * Not "OK may ... policy_failure=": that would lower a
			 * stricter site default (encrypt, dane) for the domain, and
			 * Postfix 3.10/3.11 do not pass such a failure on to TLSRPT
			 * at level may anyway. */
		case MTS_OUTCOME_OK:
		case MTS_OUTCOME_NO_POLICY:
			break;
		}
	}
	if (k == MTS_ANSWER_NOTFOUND)
		mts_textbuf_put(&o, "NOTFOUND ");
	if (o.full)
		return MTS_ETOOBIG;
	if (kind)
		*kind = k;
	return (long)o.len;
}

/* ---- keys ---------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* After the name: nothing, ":" or ":" 1*5DIGIT (white space around the
 * digits allowed). */
static bool port_ok(const char *p, size_t n)
{
	trim(&p, &n);
	if (n == 0)
		return true;
	if (p[0] != ':')
		return false;
	p++;
	n--;
	trim(&p, &n);
	if (n > 5)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* The name in key as the Python daemon takes it: up to the first ']'
 * (leading '[' dropped), else up to the last ':'; white space around it
 * dropped; *rest is what follows the name. */
static void python_name(const char *key, size_t len, const char **name, size_t *n,
			const char **rest)
{
	const char *close = memchr(key, ']', len);
	*name = key;
	*n = len;
	*rest = key + len;
	if (close) {
		*n = (size_t)(close - key);
		*rest = close + 1;
		while (*n > 0 && **name == '[') {
			(*name)++;
			(*n)--;
		}
	} else {
		for (size_t i = len; i > 0; i--)
			if (key[i - 1] == ':') {
				*n = i - 1;
				*rest = key + *n;
				break;
			}
	}
	trim(name, n);
}

enum mts_resolver_key_kind mts_resolver_key(const char *key, size_t len,
					    char out[MTS_DNAME_MAX + 1])
{
	trim(&key, &len);
	if (len == 0)
		return MTS_RESOLVER_KEY_NOTFOUND;
	switch (mts_tls_policy_key(key, len, out)) {
	case MTS_TLS_KEY_DOMAIN: return MTS_RESOLVER_KEY_DOMAIN;
	case MTS_TLS_KEY_IP_LITERAL:
	case MTS_TLS_KEY_PARENT: return MTS_RESOLVER_KEY_NOTFOUND;
	case MTS_TLS_KEY_INVALID: break;
	}
	const char *name, *rest;
	size_t n;
	python_name(key, len, &name, &n, &rest);
	if (n == 0)
		return MTS_RESOLVER_KEY_NOTFOUND;
	enum mts_tls_key_kind kind = mts_tls_policy_key(name, n, out);
	if (kind == MTS_TLS_KEY_IP_LITERAL || kind == MTS_TLS_KEY_PARENT)
		return MTS_RESOLVER_KEY_NOTFOUND;
	/* The forms a careless client may send for a plain key: an empty
	 * port, white space inside the brackets or before the port. */
	bool bracketed = key[0] == '[' && rest > key && rest[-1] == ']' && name > key &&
			 memchr(key + 1, '[', (size_t)(name - key - 1)) == NULL;
	bool plain = key[0] != '[' && !memchr(key, ']', len);
	if (kind == MTS_TLS_KEY_DOMAIN && (bracketed || plain) &&
	    port_ok(rest, (size_t)(key + len - rest)))
		return MTS_RESOLVER_KEY_DOMAIN;
	if (kind == MTS_TLS_KEY_DOMAIN)
		return MTS_RESOLVER_KEY_PERM; /* "dom:abc", "[dom]x", "dom]": a domain all the same */
	/* "dom..": the Python daemon drops every trailing dot. */
	size_t whole = n;
	while (n > 1 && name[n - 1] == '.')
		n--;
	char guess[MTS_DNAME_MAX + 1];
	if (n < whole && mts_tls_policy_key(name, n, guess) == MTS_TLS_KEY_DOMAIN)
		return MTS_RESOLVER_KEY_PERM;
	out[0] = '\0';
	return MTS_RESOLVER_KEY_NOTFOUND;
}
