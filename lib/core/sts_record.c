/* sts_record.c - the _mta-sts TXT record, RFC 8461 §3.1 (see sts_record.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtasts/sts_record.h"
#include "core/text_int.h"
#include "core/record_fields_int.h"

#define STS_VERSION "v=STSv1"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool mts_sts_record_is_sts(const char *txt, size_t len)
{
	return record_has_version(txt, len, STS_VERSION);
}

static unsigned col(size_t offset)
{
	return (unsigned)(offset + 1);
}

static int check_id(const struct record_field *f, struct mts_findings *fs)
{
	char shown[MTS_PRINTABLE_BUF];
	mts_printable(f->value, f->value_len, shown, sizeof(shown));
	for (size_t i = 0; i < f->value_len; i++) {
		if (!is_alnum(f->value[i])) {
			mts_findings_add(fs, MTS_F_STS_RECORD_ID_INVALID, 0, col(f->offset + 3 + i),
					 "id \"%s\" holds '%c'; only letters and digits are allowed",
					 shown, f->value[i]);
			return -1;
		}
	}
	if (f->value_len > MTS_STS_ID_MAX) {
		mts_findings_add(fs, MTS_F_STS_RECORD_ID_TOO_LONG, 0, col(f->offset + 3),
				 "id \"%s\" has %zu characters; at most %d are allowed", shown,
				 f->value_len, MTS_STS_ID_MAX);
		return -1;
	}
	return 0;
}

int mts_sts_record_parse(const char *txt, size_t len, struct mts_sts_record *out,
			 struct mts_findings *fs, struct mts_error *err)
{
	char shown[MTS_PRINTABLE_BUF];
	size_t errors_before = fs ? mts_findings_count(fs, MTS_SEV_ERROR) : 0;
	bool failed = false, have_id = false;

	memset(out, 0, sizeof(*out));
	if (len > MTS_TXT_MAX_BYTES) {
		mts_findings_add(fs, MTS_F_STS_RECORD_SYNTAX, 0, 0,
				 "record of %zu bytes is over the %d-byte limit", len,
				 MTS_TXT_MAX_BYTES);
		return mts_error_set(err, MTS_ETOOBIG, "record too long");
	}
	if (!record_has_version(txt, len, STS_VERSION)) {
		mts_printable(txt, len, shown, sizeof(shown));
		mts_findings_add(fs, MTS_F_STS_RECORD_VERSION, 0, 1,
				 "record \"%s\" does not begin with \"v=STSv1\"", shown);
		return mts_error_set(err, MTS_EINVAL, "not an STS record");
	}

	struct record_scanner sc;
	struct record_field f;
	enum record_scan_error e;
	size_t eoff;
	int rc;
	record_scan_init(&sc, txt, len, strlen(STS_VERSION));
	while ((rc = record_scan_next(&sc, &f, false, &e, &eoff)) != 0) {
		if (rc < 0) {
			mts_findings_add(fs, MTS_F_STS_RECORD_SYNTAX, 0, col(eoff), "%s",
					 record_scan_error_text(e));
			failed = true;
			continue;
		}
		if (f.equals) {
			mts_findings_add(fs, MTS_F_STS_RECORD_SYNTAX, 0, col(f.equals), "%s",
					 record_scan_error_text(RECORD_SCAN_BAD_CHAR));
			failed = true;
			continue;
		}
		mts_printable(f.name, f.name_len, shown, sizeof(shown));
		if (f.name_len == 2 && memcmp(f.name, "id", 2) == 0) {
			if (have_id) {
				mts_findings_add(fs, MTS_F_STS_RECORD_FIELD_REPEATED, 0,
						 col(f.offset), "id appears more than once; the "
						 "first one is used");
				continue;
			}
			have_id = true;
			if (check_id(&f, fs) < 0) {
				failed = true;
				continue;
			}
			memcpy(out->id, f.value, f.value_len);
			out->id[f.value_len] = '\0';
		} else if (f.name_len == 1 && f.name[0] == 'v') {
			mts_findings_add(fs, MTS_F_STS_RECORD_FIELD_REPEATED, 0, col(f.offset),
					 "v appears more than once");
		} else if (f.name_len == 2 && (f.name[0] == 'i' || f.name[0] == 'I') &&
			   (f.name[1] == 'd' || f.name[1] == 'D')) {
			/* "ID" is a well-formed extension name (sts-id is %s"id="):
			 * senders ignore it rather than reject the record. */
			mts_findings_add(fs, MTS_F_STS_RECORD_FIELD_UNKNOWN, 0, col(f.offset),
					 "field \"%s\" is ignored: names are case-sensitive, "
					 "write \"id\"", shown);
		} else {
			mts_findings_add(fs, MTS_F_STS_RECORD_FIELD_UNKNOWN, 0, col(f.offset),
					 "unknown field \"%s\" is ignored", shown);
		}
	}
	if (!have_id) {
		mts_findings_add(fs, MTS_F_STS_RECORD_ID_MISSING, 0, 0, "the record has no id field");
		failed = true;
	}
	if (fs && mts_findings_count(fs, MTS_SEV_ERROR) > errors_before)
		failed = true;
	if (fs && fs->enomem)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	if (failed)
		return mts_error_set(err, MTS_EINVAL, "invalid STS record");
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool starts_nocase(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != prefix[i])
			return false;
	return true;
}

static size_t skip_wsp(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Does some field of txt (at its start or after a ';') look like id=...? */
static bool has_id_field(const char *txt, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && txt[i - 1] != ';')
			continue;
		size_t k = skip_wsp(txt, len, i);
		if (!starts_nocase(txt + k, len - k, "id"))
			continue;
		k = skip_wsp(txt, len, k + 2);
		if (k < len && txt[k] == '=')
			return true;
	}
	return false;
}

/* A record clearly meant as the STS record, though not one: after optional
 * blanks it begins with a v field (either case, blanks around '=' allowed)
 * whose value starts with "sts" in any case (V=STSv1, v=stsv1, v=STSv2,
 * v=STS1, v=STSv10), or it has an id field (id=..., ID=...) anywhere. When
 * it is meant as the record, why it is not one goes into why (NUL-terminated). */
static bool near_miss(const char *txt, size_t len, char *why, size_t cap)
{
	size_t i = skip_wsp(txt, len, 0);
	bool leading = i > 0;
	bool v_field = false;
	size_t value = 0, value_len = 0;
	if (i < len && lower(txt[i]) == 'v') {
		size_t k = skip_wsp(txt, len, i + 1);
		if (k < len && txt[k] == '=') {
			value = skip_wsp(txt, len, k + 1);
			value_len = value;
			while (value_len < len && txt[value_len] != ';' && txt[value_len] != ' ' &&
			       txt[value_len] != '\t')
				value_len++;
			value_len -= value;
			v_field = starts_nocase(txt + value, len - value, "sts");
		}
	}
	if (!v_field) {
		if (!has_id_field(txt, len))
			return false;
		snprintf(why, cap, "it has an id field and does not begin with \"v=STSv1\" (the "
			 "version must be the first field)");
		return true;
	}
	char version[MTS_PRINTABLE_BUF];
	mts_printable(txt + value, value_len, version, sizeof(version));
	if (value_len == 5 && memcmp(txt + value, "STSv1", 5) == 0) {
		if (leading)
			snprintf(why, cap, "it begins with blanks before \"v=STSv1\"");
		else if (txt[i] == 'V')
			snprintf(why, cap, "the field name is \"V\"; it must be a lowercase \"v\"");
		else /* the exact token otherwise: mts_sts_record_is_sts() */
			snprintf(why, cap, "blanks around '=' are not allowed: write \"v=STSv1\"");
	} else if (value_len == 5 && starts_nocase(txt + value, 5, "stsv1")) {
		snprintf(why, cap, "the version \"%s\" must be written \"STSv1\" (case-sensitive)",
			 version);
	} else if (starts_nocase(txt + value, value_len, "stsv")) {
		snprintf(why, cap, "the version \"%s\" is not \"STSv1\", the only version defined",
			 version);
	} else {
		snprintf(why, cap, "the version \"%s\" is misspelt: write \"STSv1\"", version);
	}
	return true;
}

int mts_sts_record_select(const char *const *txts, const size_t *lens, size_t n,
			  struct mts_sts_record *out, struct mts_findings *fs,
			  struct mts_error *err)
{
	char shown[MTS_PRINTABLE_BUF];
	size_t found = 0, which = 0;
	bool near = false;

	for (size_t i = 0; i < n; i++) {
		if (mts_sts_record_is_sts(txts[i], lens[i])) {
			if (found++ == 0)
				which = i;
			continue;
		}
		mts_printable(txts[i], lens[i], shown, sizeof(shown));
		char why[MTS_PRINTABLE_BUF + 96];
		if (near_miss(txts[i], lens[i], why, sizeof(why))) {
			near = true;
			mts_findings_add(fs, MTS_F_STS_RECORD_VERSION, 0, 1,
					 "record \"%s\" is meant as the STS record, but %s; senders "
					 "discard it", shown, why);
		} else {
			mts_findings_add(fs, MTS_F_STS_RECORD_IGNORED, 0, 0,
					 "record \"%s\" does not begin with \"v=STSv1\" and is "
					 "ignored", shown);
		}
	}
	if (found == 0) {
		memset(out, 0, sizeof(*out));
		/* A record meant as the STS record is a broken one, not none. */
		if (near)
			return mts_error_set(err, MTS_EINVAL, "the STS record is malformed");
		mts_findings_add(fs, MTS_F_STS_RECORD_MISSING, 0, 0,
				 "no TXT record beginning with \"v=STSv1\"");
		return mts_error_set(err, MTS_ENOTFOUND, "no STS record");
	}
	if (found > 1) {
		mts_findings_add(fs, MTS_F_STS_RECORD_MULTIPLE, 0, 0,
				 "%zu TXT records begin with \"v=STSv1\"; senders treat this "
				 "as no policy", found);
		memset(out, 0, sizeof(*out));
		return mts_error_set(err, MTS_EINVAL, "several STS records");
	}
	return mts_sts_record_parse(txts[which], lens[which], out, fs, err);
}

void mts_sts_id_generate(long long now, const unsigned char digest[32],
			 char out[MTS_STS_ID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	time_t t = (time_t)now;
	struct tm tm;
	size_t n = 0;
	/* Only a four-digit year keeps the id 1*32(ALPHA / DIGIT): strftime
	 * writes a '-' for years before 0 and gmtime_r fails past its range.
	 * Outside it the id is the digest alone, still valid and still
	 * changing with the policy. */
	if (gmtime_r(&t, &tm) && tm.tm_year >= 1000 - 1900 && tm.tm_year <= 9999 - 1900)
		n = strftime(out, MTS_STS_ID_MAX + 1, "%Y%m%dT%H%M%S", &tm);
	size_t digest_bytes = n ? 4 : MTS_STS_ID_MAX / 2;
	for (size_t i = 0; i < digest_bytes && n + 2 <= MTS_STS_ID_MAX; i++) {
		out[n++] = hex[digest[i] >> 4];
		out[n++] = hex[digest[i] & 15];
	}
	out[n] = '\0';
}

int mts_sts_record_format(const char *id, char *out, size_t cap)
{
	int n = snprintf(out, cap, "v=STSv1; id=%s", id);
	if (n < 0 || (size_t)n >= cap)
		return MTS_ETOOBIG;
	return n;
}
