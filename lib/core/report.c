/* report.c - the SMTP TLS report model and parser (see include/mtasts/report.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mtasts/report.h"
#include "core/text_int.h"

/* RFC 8460 §4.3 result types. */
static const char *const result_types[] = {
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
	"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
};

bool mts_report_result_known(const char *s)
{
	for (size_t i = 0; i < sizeof(result_types) / sizeof(result_types[0]); i++)
		if (strcmp(s, result_types[i]) == 0)
			return true;
	return false;
}

enum mts_report_policy_type mts_report_policy_type_parse(const char *s)
{
	if (strcmp(s, "sts") == 0)
		return MTS_REPORT_POLICY_STS;
	if (strcmp(s, "tlsa") == 0)
		return MTS_REPORT_POLICY_TLSA;
	if (strcmp(s, "no-policy-found") == 0)
		return MTS_REPORT_POLICY_NONE;
	return MTS_REPORT_POLICY_OTHER;
}

/* --- date-times ------------------------------------------------------- */

static int digits(const char *s, size_t len, size_t *pos, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (*pos >= len || !isdigit((unsigned char)s[*pos]))
			return -1;
		v = v * 10 + (s[(*pos)++] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int mts_report_datetime_parse(const char *s, size_t len, int64_t *out, bool *no_zone)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t pos = 0;
	int y, mo, d, h, mi, sec;
	if (digits(s, len, &pos, 4, &y) || pos >= len || s[pos++] != '-' ||
	    digits(s, len, &pos, 2, &mo) || pos >= len || s[pos++] != '-' ||
	    digits(s, len, &pos, 2, &d))
		return MTS_EINVAL;
	if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
		return MTS_EINVAL;
	pos++;
	if (digits(s, len, &pos, 2, &h) || pos >= len || s[pos++] != ':' ||
	    digits(s, len, &pos, 2, &mi) || pos >= len || s[pos++] != ':' ||
	    digits(s, len, &pos, 2, &sec))
		return MTS_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
	    mi > 59 || sec > 60)
		return MTS_EINVAL;
	if (sec == 60)
		sec = 59; /* a leap second: close enough for a report day */
	if (pos < len && s[pos] == '.') {
		pos++;
		size_t start = pos;
		while (pos < len && isdigit((unsigned char)s[pos]))
			pos++;
		if (pos == start)
			return MTS_EINVAL;
	}
	int64_t offset = 0;
	*no_zone = false;
	if (pos == len) {
		*no_zone = true;
	} else if (s[pos] == 'Z' || s[pos] == 'z') {
		pos++;
	} else if (s[pos] == '+' || s[pos] == '-') {
		int sign = s[pos++] == '-' ? -1 : 1, oh, om;
		if (digits(s, len, &pos, 2, &oh) || pos >= len || s[pos++] != ':' ||
		    digits(s, len, &pos, 2, &om) || oh > 23 || om > 59)
			return MTS_EINVAL;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return MTS_EINVAL;
	}
	if (pos != len)
		return MTS_EINVAL;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
	return 0;
}

/* --- parsing ---------------------------------------------------------- */

struct parse {
	struct mts_report *r;
	int rc; /* first MTS_ENOMEM */
	size_t failures;
};

static void nomem(struct parse *p)
{
	if (!p->rc)
		p->rc = MTS_ENOMEM;
}

static void add(struct parse *p, enum mts_finding_code id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add(struct parse *p, enum mts_finding_code id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (mts_findings_vadd(&p->r->findings, id, 0, 0, fmt, ap) < 0)
		nomem(p);
	va_end(ap);
}

/* A copy of at most MTS_REPORT_MAX_STRING bytes, cut on a UTF-8 boundary. */
static char *copy_string(struct parse *p, const char *field, const char *s, size_t len)
{
	if (len > MTS_REPORT_MAX_STRING) {
		size_t cut = MTS_REPORT_MAX_STRING;
		while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut--;
		add(p, MTS_F_REPORT_STRING_TRUNCATED, "%s: %zu bytes, cut to %zu", field, len, cut);
		len = cut;
	}
	char *c = mts_strndup(s, len);
	if (!c)
		nomem(p);
	return c;
}

/* An optional string member: NULL when absent or null; a finding when another type. */
static char *opt_string(struct parse *p, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "%s is not a string", key);
		return NULL;
	}
	return copy_string(p, key, json_string_value(v), json_string_length(v));
}

/* A required string member: "" and a finding when missing. */
static char *req_string(struct parse *p, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *s = opt_string(p, obj, key);
	if (s)
		return s;
	if (!v || json_is_null(v))
		add(p, MTS_F_REPORT_FIELD_MISSING, "%s is missing", key);
	s = strdup("");
	if (!s)
		nomem(p);
	return s;
}

static uint64_t count_member(struct parse *p, json_t *obj, const char *key, bool *present)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v) {
		add(p, MTS_F_REPORT_FIELD_MISSING, "%s is missing", key);
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (uint64_t)json_integer_value(v);
	/* Some reporters quote their numbers. */
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		uint64_t val = 0;
		bool ok = n > 0 && n <= 18;
		for (size_t i = 0; ok && i < n; i++) {
			if (!isdigit((unsigned char)s[i]))
				ok = false;
			else
				val = val * 10 + (uint64_t)(s[i] - '0');
		}
		if (ok) {
			add(p, MTS_F_REPORT_FIELD_TYPE, "%s is a string, read as %llu", key,
			    (unsigned long long)val);
			return val;
		}
	}
	add(p, MTS_F_REPORT_COUNT_INVALID, "%s is not a non-negative integer", key);
	return 0;
}

static int push(struct parse *p, char ***list, size_t *count, const char *s, size_t len,
		const char *field)
{
	if (*count >= MTS_REPORT_MAX_LIST)
		return 0;
	char **grown = realloc(*list, (*count + 1) * sizeof(*grown));
	if (!grown) {
		nomem(p);
		return MTS_ENOMEM;
	}
	*list = grown;
	char *c = copy_string(p, field, s, len);
	if (!c)
		return MTS_ENOMEM;
	grown[(*count)++] = c;
	return 0;
}

static size_t json_depth(const char *buf, size_t len);

/* A TLSA policy-string packed as one JSON-encoded array of strings. Returns
 * 1 when it was one and was unpacked. */
static int unpack_policy_string(struct parse *p, struct mts_report_policy *pol, const char *s,
				size_t len)
{
	/* As untrusted as the outer body: an array of strings nests one deep, so
	 * anything deeper is not a packed list and never reaches jansson. */
	if (len < 2 || s[0] != '[' || json_depth(s, len) > 1)
		return 0;
	json_error_t jerr;
	json_t *inner = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_array(inner) || json_array_size(inner) == 0) {
		json_decref(inner);
		return 0;
	}
	size_t i;
	json_t *v;
	json_array_foreach(inner, i, v) {
		if (!json_is_string(v)) {
			json_decref(inner);
			return 0;
		}
	}
	json_array_foreach(inner, i, v)
		push(p, &pol->policy_string, &pol->policy_string_count, json_string_value(v),
		     json_string_length(v), "policy-string");
	json_decref(inner);
	add(p, MTS_F_REPORT_POLICY_STRING_PACKED,
	    "policy-string held %zu entries packed into one JSON string", i);
	return 1;
}

static void parse_policy_string(struct parse *p, struct mts_report_policy *pol, json_t *v)
{
	if (!v || json_is_null(v)) {
		if (pol->type == MTS_REPORT_POLICY_STS || pol->type == MTS_REPORT_POLICY_TLSA)
			add(p, MTS_F_REPORT_POLICY_STRING_MISSING, "the %s policy has no policy-string",
			    pol->policy_type);
		return;
	}
	if (json_is_string(v)) {
		if (!unpack_policy_string(p, pol, json_string_value(v), json_string_length(v))) {
			add(p, MTS_F_REPORT_FIELD_TYPE, "policy-string is a string, not an array");
			push(p, &pol->policy_string, &pol->policy_string_count, json_string_value(v),
			     json_string_length(v), "policy-string");
		}
		return;
	}
	if (!json_is_array(v)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "policy-string is not an array");
		return;
	}
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			add(p, MTS_F_REPORT_FIELD_TYPE, "policy-string[%zu] is not a string", i);
			continue;
		}
		const char *s = json_string_value(e);
		size_t len = json_string_length(e);
		if (json_array_size(v) == 1 && unpack_policy_string(p, pol, s, len))
			continue;
		push(p, &pol->policy_string, &pol->policy_string_count, s, len, "policy-string");
	}
	if (json_array_size(v) > MTS_REPORT_MAX_LIST)
		add(p, MTS_F_REPORT_STRING_TRUNCATED, "policy-string: only the first %d entries kept",
		    MTS_REPORT_MAX_LIST);
}

static void add_mx_host(struct parse *p, struct mts_report_policy *pol, const char *s, size_t len)
{
	if (len >= 3 && strncasecmp(s, "mx:", 3) == 0) {
		s += 3;
		len -= 3;
		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		char shown[MTS_PRINTABLE_BUF];
		add(p, MTS_F_REPORT_MX_HOST_PREFIX, "mx-host \"mx: ...\" read as \"%s\"",
		    mts_printable(s, len, shown, sizeof(shown)));
	}
	push(p, &pol->mx_host, &pol->mx_host_count, s, len, "mx-host");
}

static void parse_mx_host(struct parse *p, struct mts_report_policy *pol, json_t *v)
{
	if (!v || json_is_null(v))
		return; /* optional: absent for no-policy-found and from many reporters */
	if (json_is_string(v)) {
		add(p, MTS_F_REPORT_MX_HOST_STRING, "mx-host is a string, not an array");
		add_mx_host(p, pol, json_string_value(v), json_string_length(v));
		return;
	}
	if (!json_is_array(v)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "mx-host is not an array");
		return;
	}
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (json_is_string(e))
			add_mx_host(p, pol, json_string_value(e), json_string_length(e));
		else
			add(p, MTS_F_REPORT_FIELD_TYPE, "mx-host[%zu] is not a string", i);
	}
}

static void parse_failure(struct parse *p, struct mts_report_failure *f, json_t *v)
{
	if (!json_is_object(v)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "a failure-details entry is not an object");
		f->result_type = strdup("");
		if (!f->result_type)
			nomem(p);
		return;
	}
	f->result_type = req_string(p, v, "result-type");
	if (f->result_type && *f->result_type && !mts_report_result_known(f->result_type)) {
		char shown[MTS_PRINTABLE_BUF];
		add(p, MTS_F_REPORT_RESULT_TYPE_UNKNOWN, "result-type \"%s\" is not in RFC 8460",
		    mts_printable(f->result_type, strlen(f->result_type), shown, sizeof(shown)));
	}
	f->sending_mta_ip = opt_string(p, v, "sending-mta-ip");
	f->receiving_mx_hostname = opt_string(p, v, "receiving-mx-hostname");
	f->receiving_mx_helo = opt_string(p, v, "receiving-mx-helo");
	f->receiving_ip = opt_string(p, v, "receiving-ip");
	f->additional_information = opt_string(p, v, "additional-information");
	f->failure_reason_code = opt_string(p, v, "failure-reason-code");
	f->failed_session_count = count_member(p, v, "failed-session-count", NULL);
}

static int parse_policy(struct parse *p, struct mts_report_policy *pol, json_t *v,
			struct mts_error *err)
{
	if (!json_is_object(v)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "a policies entry is not an object");
		pol->policy_type = strdup("");
		if (!pol->policy_type)
			nomem(p);
		return 0;
	}
	json_t *policy = json_object_get(v, "policy");
	if (!json_is_object(policy)) {
		add(p, policy ? MTS_F_REPORT_FIELD_TYPE : MTS_F_REPORT_FIELD_MISSING,
		    "policy is %s", policy ? "not an object" : "missing");
		policy = NULL;
	}
	json_t *empty = policy ? NULL : json_object();
	if (!policy && !empty) {
		nomem(p);
		return 0;
	}
	json_t *pobj = policy ? policy : empty;
	pol->policy_type = req_string(p, pobj, "policy-type");
	pol->type = pol->policy_type ? mts_report_policy_type_parse(pol->policy_type)
				     : MTS_REPORT_POLICY_OTHER;
	if (pol->policy_type && *pol->policy_type && pol->type == MTS_REPORT_POLICY_OTHER) {
		char shown[MTS_PRINTABLE_BUF];
		add(p, MTS_F_REPORT_POLICY_TYPE_UNKNOWN, "policy-type \"%s\" is not in RFC 8460",
		    mts_printable(pol->policy_type, strlen(pol->policy_type), shown,
				  sizeof(shown)));
	}
	pol->policy_domain = opt_string(p, pobj, "policy-domain");
	if (pol->policy_domain) {
		/* Domains are compared and listed lowercase, without the root dot. */
		for (char *c = pol->policy_domain; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		size_t n = strlen(pol->policy_domain);
		if (n > 1 && pol->policy_domain[n - 1] == '.')
			pol->policy_domain[n - 1] = '\0';
		p->r->findings.subject = pol->policy_domain;
	} else {
		add(p, MTS_F_REPORT_POLICY_DOMAIN_MISSING, "a policy has no policy-domain");
	}
	parse_policy_string(p, pol, json_object_get(pobj, "policy-string"));
	parse_mx_host(p, pol, json_object_get(pobj, "mx-host"));
	json_decref(empty);

	json_t *summary = json_object_get(v, "summary");
	if (json_is_object(summary)) {
		pol->total_successful = count_member(p, summary, "total-successful-session-count",
						     NULL);
		pol->total_failure = count_member(p, summary, "total-failure-session-count", NULL);
	} else {
		add(p, summary ? MTS_F_REPORT_FIELD_TYPE : MTS_F_REPORT_SUMMARY_MISSING,
		    "summary is %s", summary ? "not an object" : "missing");
	}

	json_t *details = json_object_get(v, "failure-details");
	if (details && !json_is_null(details) && !json_is_array(details)) {
		add(p, MTS_F_REPORT_FIELD_TYPE, "failure-details is not an array");
		details = NULL;
	}
	size_t n = json_is_array(details) ? json_array_size(details) : 0;
	if (n > MTS_REPORT_MAX_FAILURES - p->failures)
		return mts_error_set(err, MTS_ETOOBIG, "more than %d failure-details entries",
				     MTS_REPORT_MAX_FAILURES);
	p->failures += n;
	if (n) {
		pol->failures = calloc(n, sizeof(*pol->failures));
		if (!pol->failures) {
			nomem(p);
			return 0;
		}
		pol->failure_count = n;
		uint64_t sum = 0;
		bool overflow = false;
		for (size_t i = 0; i < n; i++) {
			parse_failure(p, &pol->failures[i], json_array_get(details, i));
			uint64_t c = pol->failures[i].failed_session_count;
			if (sum + c < sum)
				overflow = true;
			sum += c;
		}
		if (overflow || sum != pol->total_failure)
			add(p, MTS_F_REPORT_TOTALS_MISMATCH,
			    "failure-details add up to %llu sessions, the summary says %llu",
			    (unsigned long long)sum, (unsigned long long)pol->total_failure);
	} else if (pol->total_failure > 0) {
		add(p, MTS_F_REPORT_FAILURE_DETAILS_MISSING,
		    "%llu failed sessions counted without failure-details",
		    (unsigned long long)pol->total_failure);
	}
	p->r->findings.subject = NULL;
	return 0;
}

static void parse_dates(struct parse *p, json_t *root)
{
	struct mts_report *r = p->r;
	json_t *range = json_object_get(root, "date-range");
	if (!json_is_object(range)) {
		add(p, range ? MTS_F_REPORT_FIELD_TYPE : MTS_F_REPORT_FIELD_MISSING,
		    "date-range is %s", range ? "not an object" : "missing");
		return;
	}
	r->start_text = req_string(p, range, "start-datetime");
	r->end_text = req_string(p, range, "end-datetime");
	if (!r->start_text || !r->end_text)
		return;
	bool start_nz, end_nz;
	int64_t start, end;
	char shown[MTS_PRINTABLE_BUF];
	bool ok = true;
	if (mts_report_datetime_parse(r->start_text, strlen(r->start_text), &start, &start_nz) <
	    0) {
		add(p, MTS_F_REPORT_DATE_INVALID, "start-datetime \"%s\" is not an RFC 3339 date-time",
		    mts_printable(r->start_text, strlen(r->start_text), shown, sizeof(shown)));
		ok = false;
	}
	if (mts_report_datetime_parse(r->end_text, strlen(r->end_text), &end, &end_nz) < 0) {
		add(p, MTS_F_REPORT_DATE_INVALID, "end-datetime \"%s\" is not an RFC 3339 date-time",
		    mts_printable(r->end_text, strlen(r->end_text), shown, sizeof(shown)));
		ok = false;
	}
	if (!ok)
		return;
	if (start_nz || end_nz)
		add(p, MTS_F_REPORT_DATE_NO_ZONE, "%s without a zone, read as UTC",
		    start_nz && end_nz ? "start-datetime and end-datetime"
		    : start_nz	       ? "start-datetime"
				       : "end-datetime");
	/* An inclusive end (…T23:59:59Z) is the same day as an exclusive next midnight. */
	if (((end % 86400) + 86400) % 86400 == 86399) {
		end += 1;
		add(p, MTS_F_REPORT_DATE_END_INCLUSIVE, "end-datetime %s read as the next midnight",
		    mts_printable(r->end_text, strlen(r->end_text), shown, sizeof(shown)));
	}
	if (end < start)
		add(p, MTS_F_REPORT_DATE_ORDER, "the date-range ends before it starts");
	r->start = start;
	r->end = end;
	r->dates_valid = true;
}

/* jansson recurses once per nesting level: refuse deep bodies before it sees them. */
static size_t json_depth(const char *buf, size_t len)
{
	size_t depth = 0, max = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return max;
}

static char *body_digest_id(const char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: an identity, not a security property */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)buf[i];
		h *= 0x100000001b3ull;
	}
	char *id = malloc(32);
	if (id)
		snprintf(id, 32, "body-digest:%016llx", (unsigned long long)h);
	return id;
}

struct mts_report *mts_report_new(void)
{
	struct mts_report *r = calloc(1, sizeof(*r));
	if (r)
		mts_findings_init(&r->findings);
	return r;
}

struct mts_report *mts_report_parse(const char *buf, size_t len, struct mts_error *err)
{
	if (len > MTS_REPORT_MAX_BYTES) {
		mts_error_set(err, MTS_ETOOBIG, "the body is larger than %u bytes",
			      MTS_REPORT_MAX_BYTES);
		return NULL;
	}
	size_t bad;
	if (!mts_utf8_valid(buf, len, &bad)) {
		mts_error_set(err, MTS_EINVAL, "not UTF-8 (bad byte at offset %zu)", bad);
		return NULL;
	}
	if (json_depth(buf, len) > MTS_REPORT_MAX_DEPTH) {
		mts_error_set(err, MTS_ETOOBIG, "JSON nested deeper than %d levels",
			      MTS_REPORT_MAX_DEPTH);
		return NULL;
	}
	/* A repeated key is ambiguous (RFC 8259 §4): read it the way most readers
	 * do, the last value winning, and say so. */
	json_error_t jerr;
	char duplicate[JSON_ERROR_TEXT_LENGTH] = "";
	int duplicate_line = 0;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && json_error_code(&jerr) == json_error_duplicate_key) {
		snprintf(duplicate, sizeof(duplicate), "%s", jerr.text);
		duplicate_line = jerr.line;
		root = json_loadb(buf, len, 0, &jerr);
	}
	if (!root) {
		char shown[MTS_PRINTABLE_BUF];
		mts_error_set(err, MTS_EINVAL, "not JSON: %s at line %d, column %d",
			      mts_printable(jerr.text, strlen(jerr.text), shown, sizeof(shown)),
			      jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		mts_error_set(err, MTS_EINVAL, "not a report: the JSON is not an object");
		return NULL;
	}
	json_t *policies = json_object_get(root, "policies");
	if (!json_is_array(policies)) {
		json_decref(root);
		mts_error_set(err, MTS_EINVAL, "not a report: no policies array");
		return NULL;
	}
	if (json_array_size(policies) > MTS_REPORT_MAX_POLICIES) {
		json_decref(root);
		mts_error_set(err, MTS_ETOOBIG, "more than %d policies", MTS_REPORT_MAX_POLICIES);
		return NULL;
	}
	struct mts_report *r = mts_report_new();
	if (!r) {
		json_decref(root);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	struct parse p = {.r = r};
	if (*duplicate) {
		char shown[MTS_PRINTABLE_BUF];
		add(&p, MTS_F_REPORT_JSON_DUPLICATE_KEY, "%s at line %d (the last value is used)",
		    mts_printable(duplicate, strlen(duplicate), shown, sizeof(shown)),
		    duplicate_line);
	}
	r->organization_name = req_string(&p, root, "organization-name");
	json_t *contact = json_object_get(root, "contact-info");
	r->contact_info = opt_string(&p, root, "contact-info");
	if (!r->contact_info && (!contact || json_is_null(contact)))
		add(&p, MTS_F_REPORT_CONTACT_MISSING, "contact-info is %s",
		    contact ? "null" : "missing");
	r->report_id = opt_string(&p, root, "report-id");
	if (!r->report_id || !*r->report_id) {
		free(r->report_id);
		r->report_id = body_digest_id(buf, len);
		if (!r->report_id)
			nomem(&p);
		add(&p, MTS_F_REPORT_REPORT_ID_MISSING, "report-id is missing or empty");
	}
	parse_dates(&p, root);

	size_t n = json_array_size(policies);
	if (n) {
		r->policies = calloc(n, sizeof(*r->policies));
		if (!r->policies)
			nomem(&p);
		else
			r->policy_count = n;
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && !p.rc && i < r->policy_count; i++)
		rc = parse_policy(&p, &r->policies[i], json_array_get(policies, i), err);
	json_decref(root);
	if (rc == 0 && (p.rc || r->findings.enomem))
		rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	if (rc) {
		mts_report_free(r);
		return NULL;
	}
	return r;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void mts_report_free(struct mts_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->policy_count; i++) {
		struct mts_report_policy *pol = &r->policies[i];
		free(pol->policy_type);
		free(pol->policy_domain);
		free_list(pol->policy_string, pol->policy_string_count);
		free_list(pol->mx_host, pol->mx_host_count);
		for (size_t j = 0; j < pol->failure_count; j++) {
			struct mts_report_failure *f = &pol->failures[j];
			free(f->result_type);
			free(f->sending_mta_ip);
			free(f->receiving_mx_hostname);
			free(f->receiving_mx_helo);
			free(f->receiving_ip);
			free(f->additional_information);
			free(f->failure_reason_code);
		}
		free(pol->failures);
	}
	free(r->policies);
	free(r->organization_name);
	free(r->contact_info);
	free(r->report_id);
	free(r->start_text);
	free(r->end_text);
	mts_findings_free(&r->findings);
	free(r);
}

/* Counts come from strangers: a sum stops at the top instead of wrapping. */
static uint64_t add_saturating(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

uint64_t mts_report_total_successful(const struct mts_report *r)
{
	uint64_t n = 0;
	for (size_t i = 0; i < r->policy_count; i++)
		n = add_saturating(n, r->policies[i].total_successful);
	return n;
}

uint64_t mts_report_total_failure(const struct mts_report *r)
{
	uint64_t n = 0;
	for (size_t i = 0; i < r->policy_count; i++)
		n = add_saturating(n, r->policies[i].total_failure);
	return n;
}

size_t mts_report_failure_count(const struct mts_report *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->policy_count; i++)
		n += r->policies[i].failure_count;
	return n;
}

/* NULL and "" alike: stores keep a missing result-type or policy-type as "". */
static bool same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_list(char *const *a, size_t an, char *const *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if (!same_text(a[i], b[i]))
			return false;
	return true;
}

static bool same_failure(const struct mts_report_failure *a, const struct mts_report_failure *b)
{
	return same_text(a->result_type, b->result_type) &&
	       same_text(a->sending_mta_ip, b->sending_mta_ip) &&
	       same_text(a->receiving_mx_hostname, b->receiving_mx_hostname) &&
	       same_text(a->receiving_mx_helo, b->receiving_mx_helo) &&
	       same_text(a->receiving_ip, b->receiving_ip) &&
	       same_text(a->additional_information, b->additional_information) &&
	       same_text(a->failure_reason_code, b->failure_reason_code) &&
	       a->failed_session_count == b->failed_session_count;
}

static bool same_policy(const struct mts_report_policy *a, const struct mts_report_policy *b)
{
	if (!same_text(a->policy_type, b->policy_type) ||
	    !same_text(a->policy_domain, b->policy_domain) ||
	    !same_list(a->policy_string, a->policy_string_count, b->policy_string,
		       b->policy_string_count) ||
	    !same_list(a->mx_host, a->mx_host_count, b->mx_host, b->mx_host_count) ||
	    a->total_successful != b->total_successful || a->total_failure != b->total_failure ||
	    a->failure_count != b->failure_count)
		return false;
	for (size_t i = 0; i < a->failure_count; i++)
		if (!same_failure(&a->failures[i], &b->failures[i]))
			return false;
	return true;
}

bool mts_report_same(const struct mts_report *a, const struct mts_report *b)
{
	if (!same_text(a->organization_name, b->organization_name) ||
	    !same_text(a->report_id, b->report_id) ||
	    !same_text(a->contact_info, b->contact_info) || a->dates_valid != b->dates_valid ||
	    a->policy_count != b->policy_count)
		return false;
	if (a->dates_valid ? a->start != b->start || a->end != b->end
			   : !same_text(a->start_text, b->start_text) ||
				     !same_text(a->end_text, b->end_text))
		return false;
	for (size_t i = 0; i < a->policy_count; i++)
		if (!same_policy(&a->policies[i], &b->policies[i]))
			return false;
	return true;
}
