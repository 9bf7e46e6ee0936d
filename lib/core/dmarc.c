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
	unsigned index = 0;
	size_t pos = 0;
	while (pos < len) {
		size_t start = pos;
		while (pos < len && txt[pos] != ';')
			pos++;
		size_t end = pos++;
		while (start < end && is_wsp(txt[start]))
			start++;
		while (end > start && is_wsp(txt[end - 1]))
			end--;
		if (start == end)
			continue; /* trailing or doubled ';' is tolerated */
		index++;
		const char *eq = memchr(txt + start, '=', end - start);
		unsigned col = (unsigned)start + 1;
		if (!eq) {
			mts_findings_add(fs, MTS_F_DMARC_SYNTAX, 0, col, "\"%s\" is not tag=value",
					 mts_printable(txt + start, end - start, shown, sizeof(shown)));
			failed = true;
			continue;
		}
		size_t kl = (size_t)(eq - (txt + start));
		while (kl && is_wsp(txt[start + kl - 1]))
			kl--;
		const char *k = txt + start, *v = eq + 1;
		while (v < txt + end && is_wsp(*v))
			v++;
		size_t vl = (size_t)(txt + end - v);
		mts_printable(v, vl, shown, sizeof(shown));
		if (kl == 1 && k[0] == 'v') {
			continue;
		} else if (kl == 1 && k[0] == 'p') {
			if (index != 2)
				mts_findings_add(fs, MTS_F_DMARC_SYNTAX, 0, col,
						 "p should directly follow v=DMARC1");
			have_p = true;
			if (parse_policy(v, vl, &out->p) < 0) {
				mts_findings_add(fs, MTS_F_DMARC_POLICY_INVALID, 0, col,
						 "p=%s is not none, quarantine or reject", shown);
				failed = true;
			}
		} else if (kl == 2 && memcmp(k, "sp", 2) == 0) {
			have_sp = true;
			if (parse_policy(v, vl, &out->sp) < 0) {
				mts_findings_add(fs, MTS_F_DMARC_POLICY_INVALID, 0, col,
						 "sp=%s is not none, quarantine or reject", shown);
				failed = true;
			}
		} else if (kl == 3 && memcmp(k, "pct", 3) == 0) {
			unsigned n = 0;
			bool ok = vl >= 1 && vl <= 3;
			for (size_t i = 0; ok && i < vl; i++) {
				ok = v[i] >= '0' && v[i] <= '9';
				n = n * 10 + (unsigned)(v[i] - '0');
			}
			if (!ok || n > 100) {
				mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, col,
						 "pct=%s is not 0 to 100", shown);
				failed = true;
			} else {
				out->pct = n;
			}
		} else if ((kl == 5 && memcmp(k, "adkim", 5) == 0) ||
			   (kl == 4 && memcmp(k, "aspf", 4) == 0)) {
			if (vl != 1 || (v[0] != 'r' && v[0] != 's')) {
				mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, col,
						 "%.*s=%s is not r or s", (int)kl, k, shown);
				failed = true;
			} else if (kl == 5) {
				out->adkim_strict = v[0] == 's';
			} else {
				out->aspf_strict = v[0] == 's';
			}
		} else if (kl == 3 && (memcmp(k, "rua", 3) == 0 || memcmp(k, "ruf", 3) == 0)) {
			char **dst = k[2] == 'a' ? &out->rua : &out->ruf;
			if (vl < 7 || strncasecmp(v, "mailto:", 7) != 0) {
				mts_findings_add(fs, MTS_F_DMARC_VALUE_INVALID, 0, col,
						 "%.3s=%s is not a list of mailto: URIs", k, shown);
				failed = true;
			} else if (!*dst && !(*dst = mts_strndup(v, vl))) {
				mts_dmarc_clear(out);
				return mts_error_set(err, MTS_ENOMEM, "out of memory");
			}
		} else if ((kl == 2 && memcmp(k, "fo", 2) == 0) ||
			   (kl == 2 && memcmp(k, "rf", 2) == 0) ||
			   (kl == 2 && memcmp(k, "ri", 2) == 0)) {
			continue;
		} else {
			mts_findings_add(fs, MTS_F_DMARC_TAG_UNKNOWN, 0, col, "unknown tag \"%s\"",
					 mts_printable(k, kl, shown, sizeof(shown)));
		}
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
	if (out->p == MTS_DMARC_NONE)
		mts_findings_add(fs, MTS_F_DMARC_POLICY_NONE, 0, 0, "p=none: monitoring only");
	if (out->pct < 100)
		mts_findings_add(fs, MTS_F_DMARC_PCT_PARTIAL, 0, 0, "pct=%u", out->pct);
	if (!out->rua)
		mts_findings_add(fs, MTS_F_DMARC_NO_RUA, 0, 0, "no rua tag");
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
		mts_findings_add(fs, MTS_F_DMARC_MISSING, 0, 0, "no TXT record beginning with v=DMARC1");
		return mts_error_set(err, MTS_ENOTFOUND, "no DMARC record");
	}
	if (found > 1) {
		mts_findings_add(fs, MTS_F_DMARC_MULTIPLE, 0, 0, "%zu DMARC records", found);
		return mts_error_set(err, MTS_EINVAL, "several DMARC records");
	}
	return mts_dmarc_parse(txts[which], lens[which], out, fs, err);
}
