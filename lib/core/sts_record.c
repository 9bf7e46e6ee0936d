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
		if (record_near_version(txts[i], lens[i], STS_VERSION)) {
			near = true;
			mts_findings_add(fs, MTS_F_STS_RECORD_VERSION, 0, 1,
					 "record \"%s\" looks like an STS record but does not "
					 "begin exactly with \"v=STSv1\", so senders discard it",
					 shown);
		} else {
			mts_findings_add(fs, MTS_F_STS_RECORD_IGNORED, 0, 0,
					 "record \"%s\" does not begin with \"v=STSv1\" and is "
					 "ignored", shown);
		}
	}
	if (found == 0) {
		if (!near)
			mts_findings_add(fs, MTS_F_STS_RECORD_MISSING, 0, 0,
					 "no TXT record beginning with \"v=STSv1\"");
		memset(out, 0, sizeof(*out));
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
