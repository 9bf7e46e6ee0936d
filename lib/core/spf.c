/* spf.c - SPF record grammar and lookup terms, RFC 7208 (see include/mtasts/spf.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtasts/spf.h"
#include "core/text_int.h"

#define SPF_VERSION "v=spf1"

bool mts_spf_is_spf(const char *txt, size_t len)
{
	/* §4.5: "v=spf1" exactly (case-insensitive), then SP or the end. */
	return len >= 6 && strncasecmp(txt, SPF_VERSION, 6) == 0 && (len == 6 || txt[6] == ' ');
}

void mts_spf_clear(struct mts_spf_record *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		free(r->terms[i].value);
	free(r->terms);
	memset(r, 0, sizeof(*r));
}

struct mech {
	const char *name;
	enum mts_spf_kind kind;
	int arg;        /* 0 none, 1 optional ':' domain-spec, 2 required ':' value */
	bool lookup;    /* costs a DNS lookup (§4.6.4) */
};

static const struct mech mechs[] = {
	{"all", MTS_SPF_ALL, 0, false},     {"include", MTS_SPF_INCLUDE, 2, true},
	{"a", MTS_SPF_A, 1, true},          {"mx", MTS_SPF_MX, 1, true},
	{"ptr", MTS_SPF_PTR, 1, true},      {"ip4", MTS_SPF_IP4, 2, false},
	{"ip6", MTS_SPF_IP6, 2, false},     {"exists", MTS_SPF_EXISTS, 2, true},
};

static bool name_char(char c, bool first)
{
	bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (first)
		return alpha;
	return alpha || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* ip4-network [ "/" 0-32 ] or ip6-network [ "/" 0-128 ] */
static bool valid_network(const char *v, size_t n, bool v6)
{
	char buf[64];
	const char *slash = memchr(v, '/', n);
	size_t al = slash ? (size_t)(slash - v) : n;
	if (al == 0 || al >= sizeof(buf))
		return false;
	memcpy(buf, v, al);
	buf[al] = '\0';
	unsigned char addr[16];
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1)
		return false;
	if (!slash)
		return true;
	size_t dl = n - al - 1;
	if (dl == 0 || dl > 3)
		return false;
	unsigned bits = 0;
	for (size_t i = 0; i < dl; i++) {
		char c = slash[1 + i];
		if (c < '0' || c > '9')
			return false;
		bits = bits * 10 + (unsigned)(c - '0');
	}
	if (dl > 1 && slash[1] == '0')
		return false; /* no leading zeros */
	return bits <= (v6 ? 128u : 32u);
}

/* domain-spec with macros: visible characters, at least one, no spaces. */
static bool valid_domain_spec(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

static int add_term(struct mts_spf_record *r, enum mts_spf_kind kind, char q, const char *v,
		    size_t n)
{
	if (r->count >= MTS_SPF_MAX_TERMS)
		return MTS_ETOOBIG;
	struct mts_spf_term *grown = realloc(r->terms, (r->count + 1) * sizeof(*grown));
	if (!grown)
		return MTS_ENOMEM;
	r->terms = grown;
	struct mts_spf_term *t = &r->terms[r->count];
	t->kind = kind;
	t->qualifier = q;
	t->value = NULL;
	if (v) {
		t->value = mts_strndup(v, n);
		if (!t->value)
			return MTS_ENOMEM;
	}
	r->count++;
	return 0;
}

/* One term; returns 0, 1 (a finding was added) or a negative MTS_E* code. */
static int parse_term(const char *t, size_t n, size_t off, struct mts_spf_record *r,
		      struct mts_findings *fs, bool *after_all_warned)
{
	char shown[MTS_PRINTABLE_BUF];
	unsigned col = (unsigned)off + 1;
	mts_printable(t, n, shown, sizeof(shown));

	/* modifier: name "=" value, name = ALPHA *(ALPHA / DIGIT / "-" / "_" / ".") */
	size_t k = 0;
	while (k < n && name_char(t[k], k == 0))
		k++;
	if (k > 0 && k < n && t[k] == '=') {
		const char *v = t + k + 1;
		size_t vl = n - k - 1;
		enum mts_spf_kind kind = MTS_SPF_UNKNOWN_MOD;
		if (k == 8 && strncasecmp(t, "redirect", 8) == 0)
			kind = MTS_SPF_REDIRECT;
		else if (k == 3 && strncasecmp(t, "exp", 3) == 0)
			kind = MTS_SPF_EXP;
		if (kind != MTS_SPF_UNKNOWN_MOD) {
			for (size_t i = 0; i < r->count; i++) {
				if (r->terms[i].kind == kind) {
					mts_findings_add(fs, MTS_F_SPF_MODIFIER_REPEATED, 0, col,
							 "modifier \"%.*s\" appears twice", (int)k, t);
					return 1;
				}
			}
			if (!valid_domain_spec(v, vl)) {
				mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, col,
						 "term \"%s\" has no valid domain", shown);
				return 1;
			}
			if (kind == MTS_SPF_REDIRECT)
				r->lookups++;
		}
		return add_term(r, kind, 0, v, vl);
	}

	char q = '+';
	size_t p = 0;
	if (n && strchr("+-~?", t[0])) {
		q = t[0];
		p = 1;
	}
	size_t m = p;
	while (m < n && t[m] != ':' && t[m] != '/')
		m++;
	const struct mech *mech = NULL;
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strlen(mechs[i].name) == m - p && strncasecmp(t + p, mechs[i].name, m - p) == 0)
			mech = &mechs[i];
	if (!mech) {
		mts_findings_add(fs, MTS_F_SPF_UNKNOWN_MECHANISM, 0, col,
				 "\"%s\" is not a mechanism or modifier", shown);
		return 1;
	}
	const char *v = NULL;
	size_t vl = 0;
	if (m < n) {
		if (mech->arg == 0 || (t[m] == '/' && mech->kind != MTS_SPF_A &&
				       mech->kind != MTS_SPF_MX)) {
			mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, col, "\"%s\": unexpected argument",
					 shown);
			return 1;
		}
		v = t[m] == ':' ? t + m + 1 : t + m;
		vl = n - (size_t)(v - t);
		bool ok = true;
		if (mech->kind == MTS_SPF_IP4 || mech->kind == MTS_SPF_IP6) {
			ok = valid_network(v, vl, mech->kind == MTS_SPF_IP6);
		} else if (t[m] == '/') {
			ok = vl >= 2; /* dual-cidr-length alone */
		} else {
			ok = valid_domain_spec(v, vl);
		}
		if (!ok) {
			mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, col, "\"%s\": invalid argument",
					 shown);
			return 1;
		}
	} else if (mech->arg == 2) {
		mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, col, "\"%s\" needs an argument", shown);
		return 1;
	}
	if (r->all && !*after_all_warned) {
		mts_findings_add(fs, MTS_F_SPF_TERMS_AFTER_ALL, 0, col,
				 "\"%s\" comes after all and is never evaluated", shown);
		*after_all_warned = true;
	}
	if (mech->lookup)
		r->lookups++;
	if (mech->kind == MTS_SPF_PTR)
		mts_findings_add(fs, MTS_F_SPF_PTR, 0, col, "the ptr mechanism is used");
	if (mech->kind == MTS_SPF_ALL && !r->all)
		r->all = q;
	return add_term(r, mech->kind, q, v, vl);
}

int mts_spf_parse(const char *txt, size_t len, struct mts_spf_record *out,
		  struct mts_findings *fs, struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > MTS_TXT_MAX_BYTES) {
		mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, 0, "record of %zu bytes is too long", len);
		return mts_error_set(err, MTS_ETOOBIG, "SPF record too long");
	}
	if (!mts_spf_is_spf(txt, len)) {
		mts_findings_add(fs, MTS_F_SPF_SYNTAX, 0, 1, "the record does not begin with v=spf1");
		return mts_error_set(err, MTS_EINVAL, "not an SPF record");
	}
	bool failed = false, after_all = false;
	size_t pos = 6;
	while (pos < len) {
		while (pos < len && txt[pos] == ' ')
			pos++;
		size_t start = pos;
		while (pos < len && txt[pos] != ' ')
			pos++;
		if (pos == start)
			break;
		int rc = parse_term(txt + start, pos - start, start, out, fs, &after_all);
		if (rc < 0) {
			mts_spf_clear(out);
			return mts_error_set(err, rc, "%s", mts_strerror(rc));
		}
		if (rc > 0)
			failed = true;
	}
	for (size_t i = 0; i < out->count; i++)
		if (out->terms[i].kind == MTS_SPF_REDIRECT)
			out->redirect = out->terms[i].value;
	if (out->all == '+')
		mts_findings_add(fs, MTS_F_SPF_PASS_ALL, 0, 0, "the record ends in +all");
	else if (out->all == '?')
		mts_findings_add(fs, MTS_F_SPF_NEUTRAL_ALL, 0, 0, "the record ends in ?all");
	if (out->all && out->redirect)
		mts_findings_add(fs, MTS_F_SPF_REDIRECT_IGNORED, 0, 0,
				 "redirect=%s is ignored because all is present", out->redirect);
	if (!out->all && !out->redirect)
		mts_findings_add(fs, MTS_F_SPF_NO_ALL, 0, 0, "no all mechanism and no redirect");
	if (out->lookups > MTS_SPF_MAX_LOOKUPS)
		mts_findings_add(fs, MTS_F_SPF_TOO_MANY_LOOKUPS, 0, 0,
				 "%u DNS-querying terms in this record alone", out->lookups);
	if (failed) {
		mts_spf_clear(out);
		return mts_error_set(err, MTS_EINVAL, "invalid SPF record");
	}
	return 0;
}

int mts_spf_select(const char *const *txts, const size_t *lens, size_t n,
		   struct mts_spf_record *out, struct mts_findings *fs, struct mts_error *err)
{
	size_t found = 0, which = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		if (mts_spf_is_spf(txts[i], lens[i]) && found++ == 0)
			which = i;
	if (found == 0) {
		mts_findings_add(fs, MTS_F_SPF_MISSING, 0, 0, "no TXT record beginning with v=spf1");
		return mts_error_set(err, MTS_ENOTFOUND, "no SPF record");
	}
	if (found > 1) {
		mts_findings_add(fs, MTS_F_SPF_MULTIPLE, 0, 0, "%zu SPF records", found);
		return mts_error_set(err, MTS_EINVAL, "several SPF records");
	}
	return mts_spf_parse(txts[which], lens[which], out, fs, err);
}
