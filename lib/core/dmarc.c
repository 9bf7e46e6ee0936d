/* dmarc.c - DMARC record tags, RFC 7489 §6.3-6.4 (see include/mtasts/dmarc.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtasts/dmarc.h"
#include "core/text_int.h"

const char *mts_dmarc_policy_name(enum mts_dmarc_policy p)
{
	switch (p) {
	case MTS_DMARC_REJECT: return "reject";
	case MTS_DMARC_QUARANTINE: return "quarantine";
	default: return "none";
	}
}

bool mts_dmarc_is_dmarc(const char *txt, size_t len)
{
	/* §6.4: "v" first with the value "DMARC1"; WSP allowed around '='. */
	size_t i = 0;
	if (len < 1 || (txt[0] != 'v'))
		return false;
	i = 1;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	if (i >= len || txt[i] != '=')
		return false;
	i++;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return false;
	i += 6;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	return i == len || txt[i] == ';';
}

void mts_dmarc_clear(struct mts_dmarc_record *r)
{
	if (!r)
		return;
	free(r->rua);
	free(r->ruf);
	memset(r, 0, sizeof(*r));
}

static int parse_policy(const char *v, size_t n, enum mts_dmarc_policy *out)
{
	if (n == 4 && strncasecmp(v, "none", 4) == 0)
		*out = MTS_DMARC_NONE;
	else if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
		*out = MTS_DMARC_QUARANTINE;
	else if (n == 6 && strncasecmp(v, "reject", 6) == 0)
		*out = MTS_DMARC_REJECT;
	else
		return -1;
	return 0;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* One tag=value of a record, the spaces around each side trimmed. */
struct dmarc_tag {
	const char *k, *v;
	size_t kl, vl;
	unsigned col;	/* 1-based column of the tag in the record */
	unsigned index; /* 1 for the first tag (v) */
};

/* Split the tag that starts at *pos (up to the next ';'), moving *pos past
 * it. Returns 1 with t filled, 0 for an empty tag (a trailing or doubled
 * ';' is tolerated), -1 when it is not tag=value (t->col says where). */
static int next_tag(const char *txt, size_t len, size_t *pos, struct dmarc_tag *t)
{
	size_t start = *pos, end;
	while (*pos < len && txt[*pos] != ';')
		(*pos)++;
	end = (*pos)++;
	while (start < end && is_wsp(txt[start]))
		start++;
	while (end > start && is_wsp(txt[end - 1]))
		end--;
	if (start == end)
		return 0;
	t->index++;
	t->col = (unsigned)start + 1;
	t->k = txt + start;
	const char *eq = memchr(t->k, '=', end - start);
	if (!eq) {
		t->kl = end - start;
		return -1;
	}
	t->kl = (size_t)(eq - t->k);
	while (t->kl && is_wsp(t->k[t->kl - 1]))
		t->kl--;
	t->v = eq + 1;
	while (t->v < txt + end && is_wsp(*t->v))
		t->v++;
	t->vl = (size_t)(txt + end - t->v);
	return 1;
}

static bool tag_is(const struct dmarc_tag *t, const char *name)
{
	return t->kl == strlen(name) && memcmp(t->k, name, t->kl) == 0;
}

static bool parse_pct(const char *v, size_t vl, unsigned *pct)
{
	unsigned n = 0;
	bool ok = vl >= 1 && vl <= 3;
	for (size_t i = 0; ok && i < vl; i++) {
		ok = v[i] >= '0' && v[i] <= '9';
		n = n * 10 + (unsigned)(v[i] - '0');
	}
	if (!ok || n > 100)
		return false;
	*pct = n;
	return true;
}

/* Take one tag into the record. Returns 0, 1 when the tag is invalid (a
 * finding says why), or MTS_ENOMEM. */
static int apply_tag(const struct dmarc_tag *t, struct mts_dmarc_record *out, bool *have_p,
		     bool *have_sp, struct mts_findings *fs)
{
	char shown[MTS_PRINTABLE_BUF];
	const char *v = t->v;
	size_t vl = t->vl;
	mts_printable(v, vl, shown, sizeof(shown));
	if (tag_is(t, "v") || tag_is(t, "fo") || tag_is(t, "rf") || tag_is(t, "ri"))
		return 0;
	if (tag_is(t, "p") || tag_is(t, "sp")) {
		bool p = t->kl == 1;
		if (p && t->index != 2)
			mts_findings_add(fs, MTS_F_DMARC_SYNTAX, 0, t->col,
					 "p should directly follow v=DMARC1");
		*(p ? have_p : have_sp) = true;
		if (parse_policy(v, vl, p ? &out->p : &out->sp) == 0)
			return 0;
		mts_findings_add(fs, MTS_F_DMARC_POLICY_INVALID, 0, t->col,
				 "%s=%s is not none, quarantine or reject", p ? "p" : "sp", shown);
		return 1;
	}
	if (tag_is(t, "pct")) {
		if (parse_pct(v, vl, &out->pct))
			return 0;
		mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, t->col, "pct=%s is not 0 to 100",
				 shown);
		return 1;
	}
	if (tag_is(t, "adkim") || tag_is(t, "aspf")) {
		if (vl != 1 || (v[0] != 'r' && v[0] != 's')) {
			mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, t->col,
					 "%.*s=%s is not r or s", (int)t->kl, t->k, shown);
			return 1;
		}
		*(t->kl == 5 ? &out->adkim_strict : &out->aspf_strict) = v[0] == 's';
		return 0;
	}
	if (tag_is(t, "rua") || tag_is(t, "ruf")) {
		char **dst = t->k[2] == 'a' ? &out->rua : &out->ruf;
		if (vl < 7 || strncasecmp(v, "mailto:", 7) != 0) {
			mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, t->col,
					 "%.3s=%s is not a list of mailto: URIs", t->k, shown);
			return 1;
		}
		if (!*dst && !(*dst = mts_strndup(v, vl)))
			return MTS_ENOMEM;
		return 0;
	}
	mts_findings_add(fs, MTS_F_DMARC_TAG_UNKNOWN, 0, t->col, "unknown tag \"%s\"",
			 mts_printable(t->k, t->kl, shown, sizeof(shown)));
	return 0;
}

/* What a valid record is worth noting: monitoring only, partial, no reports. */
static void note_weak_record(const struct mts_dmarc_record *r, struct mts_findings *fs)
{
	if (r->p == MTS_DMARC_NONE)
		mts_findings_add(fs, MTS_F_DMARC_POLICY_NONE, 0, 0, "p=none: monitoring only");
	if (r->pct < 100)
		mts_findings_add(fs, MTS_F_DMARC_PCT_PARTIAL, 0, 0, "pct=%u", r->pct);
	if (!r->rua)
		mts_findings_add(fs, MTS_F_DMARC_NO_RUA, 0, 0, "no rua tag");
}

int mts_dmarc_parse(const char *txt, size_t len, struct mts_dmarc_record *out,
		    struct mts_findings *fs, struct mts_error *err)
{
	char shown[MTS_PRINTABLE_BUF];
	memset(out, 0, sizeof(*out));
	out->pct = 100;
	if (len > MTS_TXT_MAX_BYTES || !mts_dmarc_is_dmarc(txt, len)) {
		mts_findings_add(fs, MTS_F_DMARC_SYNTAX, 0, 1,
				 "the record does not begin with v=DMARC1");
		return mts_error_set(err, MTS_EINVAL, "not a DMARC record");
	}
	bool failed = false, have_p = false, have_sp = false;
	struct dmarc_tag t = {0};
	size_t pos = 0;
	while (pos < len) {
		int rc = next_tag(txt, len, &pos, &t);
		if (rc < 0) {
			mts_findings_add(fs, MTS_F_DMARC_SYNTAX, 0, t.col,
					 "\"%s\" is not tag=value",
					 mts_printable(t.k, t.kl, shown, sizeof(shown)));
			failed = true;
		}
		if (rc <= 0)
			continue;
		rc = apply_tag(&t, out, &have_p, &have_sp, fs);
		if (rc < 0) {
			mts_dmarc_clear(out);
			return mts_error_set(err, rc, "out of memory");
		}
		failed |= rc > 0;
	}
	if (!have_p) {
		mts_findings_add(fs, MTS_F_DMARC_POLICY_MISSING, 0, 0, "the record has no p tag");
		failed = true;
	}
	if (!have_sp)
		out->sp = out->p;
	if (failed) {
		mts_dmarc_clear(out);
		return mts_error_set(err, MTS_EINVAL, "invalid DMARC record");
	}
	note_weak_record(out, fs);
	return 0;
}

int mts_dmarc_select(const char *const *txts, const size_t *lens, size_t n,
		     struct mts_dmarc_record *out, struct mts_findings *fs, struct mts_error *err)
{
	size_t found = 0, which = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		if (mts_dmarc_is_dmarc(txts[i], lens[i]) && found++ == 0)
			which = i;
	if (found == 0) {
		mts_findings_add(fs, MTS_F_DMARC_MISSING, 0, 0,
				 "no TXT record beginning with v=DMARC1");
		return mts_error_set(err, MTS_ENOTFOUND, "no DMARC record");
	}
	if (found > 1) {
		mts_findings_add(fs, MTS_F_DMARC_MULTIPLE, 0, 0, "%zu DMARC records", found);
		return mts_error_set(err, MTS_EINVAL, "several DMARC records");
	}
	return mts_dmarc_parse(txts[which], lens[which], out, fs, err);
}
