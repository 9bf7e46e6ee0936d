/* policy.c - the MTA-STS policy file, RFC 8461 §3.2 (see include/mtasts/policy.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mtasts/dname.h"
#include "mtasts/policy.h"
#include "core/text_int.h"

#define FOURTEEN_DAYS (14u * MTS_SECONDS_PER_DAY)
#define ONE_YEAR (365u * MTS_SECONDS_PER_DAY)

const char *mts_mode_name(enum mts_mode m)
{
	switch (m) {
	case MTS_MODE_ENFORCE: return "enforce";
	case MTS_MODE_TESTING: return "testing";
	default: return "none";
	}
}

int mts_mode_parse(const char *s, size_t len, enum mts_mode *out)
{
	if (len == 7 && memcmp(s, "enforce", 7) == 0)
		*out = MTS_MODE_ENFORCE;
	else if (len == 7 && memcmp(s, "testing", 7) == 0)
		*out = MTS_MODE_TESTING;
	else if (len == 4 && memcmp(s, "none", 4) == 0)
		*out = MTS_MODE_NONE;
	else
		return MTS_EINVAL;
	return 0;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The lints shared by parsed and built policies; line numbers where known. */
struct lint_lines {
	unsigned mode, max_age;
};

static void lint(const struct mts_policy *p, const struct lint_lines *ln, struct mts_findings *fs)
{
	if (p->body_len > MTS_POLICY_LARGE_BYTES)
		mts_findings_add(fs, MTS_F_POLICY_LARGE, 0, 0, "the policy has %zu bytes",
				 p->body_len);
	if (p->mode == MTS_MODE_TESTING)
		mts_findings_add(fs, MTS_F_POLICY_MODE_TESTING, ln->mode, 0,
				 "mode is testing: failures are reported, mail is still delivered "
				 "without TLS");
	else if (p->mode == MTS_MODE_NONE)
		mts_findings_add(fs, MTS_F_POLICY_MODE_NONE, ln->mode, 0,
				 "mode is none: senders drop the policy");
	if (p->max_age < MTS_SECONDS_PER_DAY)
		mts_findings_add(fs, MTS_F_POLICY_MAX_AGE_TOO_LOW, ln->max_age, 0,
				 "max_age %u is under one day", p->max_age);
	else if (p->mode == MTS_MODE_ENFORCE && p->max_age < FOURTEEN_DAYS)
		mts_findings_add(fs, MTS_F_POLICY_MAX_AGE_SHORT_ENFORCE, ln->max_age, 0,
				 "max_age %u (%u days) is under 14 days in enforce mode",
				 p->max_age, p->max_age / MTS_SECONDS_PER_DAY);
	else if (p->max_age > ONE_YEAR)
		mts_findings_add(fs, MTS_F_POLICY_MAX_AGE_OVER_YEAR, ln->max_age, 0,
				 "max_age %u is over 365 days", p->max_age);
}

void mts_policy_lint(const struct mts_policy *p, struct mts_findings *fs)
{
	struct lint_lines ln = {0, 0};
	lint(p, &ln, fs);
}

/* Pattern lints that need no context: "*.tld", single-label names, and
 * wildcards too long for any host name to fall under. */
static void lint_pattern(const char *norm, unsigned line, unsigned column,
			 struct mts_findings *fs)
{
	bool wild = norm[0] == '*';
	const char *rest = wild ? norm + 2 : norm;
	/* A host under "*.D" is one label, a dot and D: at least strlen(D) + 2. */
	if (wild && strlen(rest) + 2 > MTS_DNAME_MAX)
		mts_findings_add(fs, MTS_F_POLICY_MX_UNMATCHABLE, line, column,
				 "pattern \"*.\" + %zu characters can match no host name (at most "
				 "%d characters)", strlen(rest), MTS_DNAME_MAX);
	if (!strchr(rest, '.')) {
		if (wild)
			mts_findings_add(fs, MTS_F_POLICY_MX_BROAD, line, column,
					 "pattern \"%s\" matches every host under a top-level "
					 "domain", norm);
		else
			mts_findings_add(fs, MTS_F_POLICY_MX_SINGLE_LABEL, line, column,
					 "pattern \"%s\" is a single label", norm);
	}
}

/* Parser state: one allocation holds the policy, the mx pointer array, the
 * normalised patterns and a copy of the body. */
struct parser {
	const char *buf;
	size_t len;
	struct mts_findings *fs;
	struct mts_policy *p;
	char *mx_store;     /* next free byte for a normalised pattern */
	size_t mx_cap;      /* pointers available in p->mx */
	unsigned line;      /* current line, 1-based */
	unsigned field_lines; /* non-empty lines seen */
	bool failed;
	bool seen_version, seen_mode, seen_max_age;
	unsigned mx_lines;  /* mx lines seen, valid or not */
	struct lint_lines ln;
};

/* Record an error-severity finding at the current line; the policy fails. */
#define FAIL(ps, id, column, ...)                                                  \
	do {                                                                       \
		mts_findings_add((ps)->fs, id, (ps)->line, column, __VA_ARGS__);   \
		(ps)->failed = true;                                               \
	} while (0)

static bool repeated(struct parser *ps, bool *seen, const char *key, unsigned column)
{
	if (*seen) {
		mts_findings_add(ps->fs, MTS_F_POLICY_KEY_REPEATED, ps->line, column,
				 "%s appears again; the first value is used", key);
		return true;
	}
	*seen = true;
	return false;
}

static bool p_has_dup(const struct mts_policy *p, const char *norm)
{
	for (size_t i = 0; i < p->mx_count; i++)
		if (strcmp(p->mx[i], norm) == 0)
			return true;
	return false;
}

static void field_mx(struct parser *ps, const char *v, size_t vl, unsigned column)
{
	/* The printable copy is made only when a finding needs it: it cost more
	 * than the rest of a typical parse (bench/bench_core). */
	char shown[MTS_PRINTABLE_BUF], norm[MTS_MX_PATTERN_MAX + 1];
	bool dot = false;
	enum mts_dname_status st = mts_dname_normalize(v, vl, true, norm, &dot);
	if (st != MTS_DNAME_OK) {
		mts_printable(v, vl, shown, sizeof(shown));
		mts_findings_add(ps->fs,
				 st == MTS_DNAME_NON_ASCII ? MTS_F_POLICY_MX_ULABEL
							   : MTS_F_POLICY_MX_INVALID,
				 ps->line, column, "mx \"%s\": %s", shown,
				 mts_dname_status_text(st));
		ps->failed = true;
		return;
	}
	bool dup = p_has_dup(ps->p, norm);
	if (dot || dup)
		mts_printable(v, vl, shown, sizeof(shown));
	/* Outside the grammar (sts-policy-mx-value is a domain without the root
	 * dot), so an error for whoever publishes it; but a sender reading a
	 * published policy accepts it and matches the name without the dot
	 * (publish strictly, accept leniently): the parse does not fail. */
	if (dot)
		mts_findings_add(ps->fs, MTS_F_POLICY_MX_TRAILING_DOT, ps->line, column,
				 "mx \"%s\" ends with a dot, which the mx grammar does not allow",
				 shown);
	struct mts_policy *p = ps->p;
	if (dup) {
		mts_findings_add(ps->fs, MTS_F_POLICY_MX_DUPLICATE, ps->line, column,
				 "mx \"%s\" is listed before", shown);
		return;
	}
	/* No count limit of our own: MTS_POLICY_MAX_BYTES bounds the lines, and
	 * mx_cap (one per 5 bytes, "mx:a" and its end) holds every one. */
	lint_pattern(norm, ps->line, column, ps->fs);
	size_t nl = strlen(norm);
	memcpy(ps->mx_store, norm, nl + 1);
	p->mx[p->mx_count++] = ps->mx_store;
	ps->mx_store += nl + 1;
}

static void field_max_age(struct parser *ps, const char *v, size_t vl, unsigned column)
{
	char shown[MTS_PRINTABLE_BUF];
	uint64_t n = 0;
	bool digits = vl >= 1 && vl <= 10;
	for (size_t i = 0; digits && i < vl; i++) {
		digits = v[i] >= '0' && v[i] <= '9';
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (!digits) {
		FAIL(ps, MTS_F_POLICY_MAX_AGE_INVALID, column,
		     "max_age \"%s\" is not 1 to 10 digits", mts_printable(v, vl, shown, sizeof(shown)));
		return;
	}
	if (n > MTS_POLICY_MAX_AGE_MAX) {
		FAIL(ps, MTS_F_POLICY_MAX_AGE_TOO_BIG, column, "max_age %s is over 31557600",
		     mts_printable(v, vl, shown, sizeof(shown)));
		return;
	}
	ps->p->max_age = (uint32_t)n;
	ps->ln.max_age = ps->line;
}

/* Values of unknown keys: sts-policy-vchar [*(SP / vchar) vchar], UTF-8 allowed. */
static bool ext_value_ok(const char *v, size_t vl, size_t *bad)
{
	for (size_t i = 0; i < vl; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\t' || (c < 0x20) || c == 0x7f) {
			*bad = i;
			return false;
		}
	}
	return true;
}

static void field(struct parser *ps, const char *k, size_t kl, const char *v, size_t vl,
		  unsigned vcol)
{
	char shown[MTS_PRINTABLE_BUF];
	struct mts_policy *p = ps->p;

	if (kl == 7 && memcmp(k, "version", 7) == 0) {
		if (repeated(ps, &ps->seen_version, "version", 1))
			return;
		if (!(vl == 5 && memcmp(v, "STSv1", 5) == 0))
			FAIL(ps, MTS_F_POLICY_VERSION_INVALID, vcol,
			     "version \"%s\" is not STSv1", mts_printable(v, vl, shown, sizeof(shown)));
		if (ps->field_lines != 1)
			mts_findings_add(ps->fs, MTS_F_POLICY_VERSION_NOT_FIRST, ps->line, 1,
					 "version is not on the first line");
	} else if (kl == 4 && memcmp(k, "mode", 4) == 0) {
		if (repeated(ps, &ps->seen_mode, "mode", 1))
			return;
		ps->ln.mode = ps->line;
		if (mts_mode_parse(v, vl, &p->mode) < 0) {
			enum mts_mode m;
			char lowered[8];
			bool near = false;
			if (vl < sizeof(lowered)) {
				for (size_t i = 0; i < vl; i++)
					lowered[i] = (v[i] >= 'A' && v[i] <= 'Z')
							     ? (char)(v[i] - 'A' + 'a') : v[i];
				near = mts_mode_parse(lowered, vl, &m) == 0;
			}
			FAIL(ps, MTS_F_POLICY_MODE_INVALID, vcol,
			     near ? "mode \"%s\" must be lowercase"
				  : "mode \"%s\" is not enforce, testing or none",
			     mts_printable(v, vl, shown, sizeof(shown)));
		}
	} else if (kl == 7 && memcmp(k, "max_age", 7) == 0) {
		if (repeated(ps, &ps->seen_max_age, "max_age", 1))
			return;
		field_max_age(ps, v, vl, vcol);
	} else if (kl == 2 && memcmp(k, "mx", 2) == 0) {
		ps->mx_lines++;
		field_mx(ps, v, vl, vcol);
	} else {
		mts_printable(k, kl, shown, sizeof(shown));
		size_t bad = 0;
		if (!ext_value_ok(v, vl, &bad)) {
			FAIL(ps, MTS_F_POLICY_LINE_CONTROL, vcol + (unsigned)bad,
			     "value of \"%s\" holds a control character", shown);
			return;
		}
		/* "Mode" is a well-formed extension name that senders ignore (the
		 * keys are %s"..." in the ABNF): the file stays valid, and a
		 * missing "mode" is reported on its own. */
		static const char *const known[] = {"version", "mode", "max_age", "mx"};
		for (size_t i = 0; i < 4; i++) {
			if (strlen(known[i]) == kl && strncasecmp(k, known[i], kl) == 0) {
				mts_findings_add(ps->fs, MTS_F_POLICY_KEY_CASE, ps->line, 1,
						 "key \"%s\" is not lowercase, so senders ignore "
						 "it", shown);
				return;
			}
		}
		mts_findings_add(ps->fs, MTS_F_POLICY_KEY_UNKNOWN, ps->line, 1,
				 "unknown key \"%s\" is ignored", shown);
	}
}

static void line(struct parser *ps, const char *s, size_t n)
{
	char shown[MTS_PRINTABLE_BUF];
	if (n == 0) {
		mts_findings_add(ps->fs, MTS_F_POLICY_LINE_EMPTY, ps->line, 0, "empty line");
		return;
	}
	ps->field_lines++;
	/* Word-at-a-time screen for bytes < 0x20 or 0x7f; only a word that may
	 * hold one (a TAB does too) is looked at byte by byte. */
	size_t i0 = 0;
	while (n - i0 >= 8) {
		uint64_t w;
		memcpy(&w, s + i0, 8);
		uint64_t del = w ^ 0x7f7f7f7f7f7f7f7full;
		if (((w - 0x2020202020202020ull) | (del - 0x0101010101010101ull)) & ~w &
		    0x8080808080808080ull)
			break;
		i0 += 8;
	}
	for (size_t i = i0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			mts_findings_add(ps->fs, MTS_F_POLICY_LINE_CONTROL, ps->line, (unsigned)i + 1,
					 "control character 0x%02x", c);
			ps->failed = true;
			return;
		}
	}
	if (is_wsp(s[0])) {
		FAIL(ps, MTS_F_POLICY_LINE_SYNTAX, 1, "%s", "line starts with whitespace");
		return;
	}
	const char *colon = memchr(s, ':', n);
	if (!colon) {
		FAIL(ps, MTS_F_POLICY_LINE_SYNTAX, 1, "\"%s\" is not \"key: value\" (no ':')",
		     mts_printable(s, n, shown, sizeof(shown)));
		return;
	}
	size_t kl = (size_t)(colon - s);
	if (kl && is_wsp(s[kl - 1])) {
		FAIL(ps, MTS_F_POLICY_LINE_SYNTAX, (unsigned)kl, "%s",
		     "whitespace before ':' is not allowed");
		return;
	}
	bool key_ok = kl >= 1 && kl <= 32 && is_alnum(s[0]);
	for (size_t i = 0; key_ok && i < kl; i++)
		key_ok = is_alnum(s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.';
	if (!key_ok) {
		FAIL(ps, MTS_F_POLICY_KEY_INVALID, 1, "key \"%s\" is not valid",
		     mts_printable(s, kl, shown, sizeof(shown)));
		return;
	}
	size_t v = kl + 1;
	while (v < n && is_wsp(s[v]))
		v++;
	size_t e = n;
	while (e > v && is_wsp(s[e - 1]))
		e--;
	if (e == v) {
		FAIL(ps, MTS_F_POLICY_VALUE_EMPTY, (unsigned)kl + 1, "key \"%s\" has no value",
		     mts_printable(s, kl, shown, sizeof(shown)));
		return;
	}
	field(ps, s, kl, s + v, e - v, (unsigned)v + 1);
}

struct mts_policy *mts_policy_parse(const char *buf, size_t len, struct mts_findings *fs,
				    struct mts_error *err)
{
	if (len > MTS_POLICY_MAX_BYTES) {
		mts_findings_add(fs, MTS_F_POLICY_TOO_BIG, 0, 0,
				 "the policy has %zu bytes; the limit is %d", len,
				 MTS_POLICY_MAX_BYTES);
		mts_error_set(err, MTS_ETOOBIG, "policy over %d bytes", MTS_POLICY_MAX_BYTES);
		return NULL;
	}
	if (len == 0) {
		mts_findings_add(fs, MTS_F_POLICY_EMPTY, 0, 0, "the policy is empty");
		mts_error_set(err, MTS_EINVAL, "empty policy");
		return NULL;
	}
	/* mx lines are at least "mx:a" plus a terminator: 5 bytes. */
	size_t mx_cap = len / 5 + 1;
	size_t size = sizeof(struct mts_policy) + mx_cap * sizeof(char *) + 2 * (len + 1);
	char *mem = malloc(size);
	if (!mem) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	struct mts_policy *p = (struct mts_policy *)(void *)mem;
	memset(p, 0, sizeof(*p));
	p->mx = (char **)(void *)(mem + sizeof(*p));
	char *mx_store = (char *)(p->mx + mx_cap);
	p->body = mx_store + len + 1;
	memcpy(p->body, buf, len);
	p->body[len] = '\0';
	p->body_len = len;

	struct parser ps = {.buf = buf, .len = len, .fs = fs, .p = p, .mx_store = mx_store,
			    .mx_cap = mx_cap, .line = 1};
	size_t pos = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		FAIL(&ps, MTS_F_POLICY_BOM, 1, "%s", "the file starts with a UTF-8 byte-order mark");
		pos = 3;
	}
	size_t bad;
	if (!mts_utf8_valid(buf, len, &bad)) {
		unsigned l = 1, c = 1;
		for (size_t i = 0; i < bad; i++) {
			c++;
			if (buf[i] == '\n')
				l++, c = 1;
		}
		mts_findings_add(fs, MTS_F_POLICY_UTF8, l, c, "invalid UTF-8 byte 0x%02x",
				 (unsigned char)buf[bad]);
		ps.failed = true;
	}

	unsigned crlf = 0, lf = 0, first_lf = 0, first_crlf = 0;
	while (pos < len) {
		const char *s = buf + pos;
		size_t rest = len - pos, n;
		/* memchr finds the line end; a CR is looked for only within it */
		const char *nl = memchr(s, '\n', rest);
		n = nl ? (size_t)(nl - s) : rest;
		const char *cr = memchr(s, '\r', n);
		if (cr)
			n = (size_t)(cr - s);
		size_t adv = n;
		if (n < rest) {
			if (s[n] == '\r' && n + 1 < rest && s[n + 1] == '\n') {
				adv += 2;
				if (!crlf++)
					first_crlf = ps.line;
			} else if (s[n] == '\n') {
				adv += 1;
				if (!lf++)
					first_lf = ps.line;
			} else {
				mts_findings_add(fs, MTS_F_POLICY_LINE_CR, ps.line, (unsigned)n + 1,
						 "a bare CR ends the line");
				ps.failed = true;
				adv += 1;
			}
		}
		line(&ps, s, n);
		pos += adv;
		ps.line++;
	}
	if (lf && !crlf)
		mts_findings_add(fs, MTS_F_POLICY_LINE_LF, first_lf, 0,
				 "lines end with LF alone, not CRLF");
	else if (lf && crlf)
		mts_findings_add(fs, MTS_F_POLICY_LINE_MIXED, lf < crlf ? first_lf : first_crlf, 0,
				 "%u lines end with CRLF and %u with LF alone", crlf, lf);

	/* A missing key is nowhere in the file: no line (0), not the one past
	 * the end that the scan stopped on. */
	ps.line = 0;
	if (!ps.seen_version)
		FAIL(&ps, MTS_F_POLICY_VERSION_MISSING, 0, "%s", "no version line");
	if (!ps.seen_mode)
		FAIL(&ps, MTS_F_POLICY_MODE_MISSING, 0, "%s", "no mode line");
	if (!ps.seen_max_age)
		FAIL(&ps, MTS_F_POLICY_MAX_AGE_MISSING, 0, "%s", "no max_age line");
	if (ps.seen_mode && p->mode != MTS_MODE_NONE && ps.mx_lines == 0)
		FAIL(&ps, MTS_F_POLICY_MX_MISSING, 0, "no mx line, and mode %s needs one",
		     mts_mode_name(p->mode));
	if (!ps.failed && ps.seen_mode && ps.seen_max_age)
		lint(p, &ps.ln, fs);

	if (fs && fs->enomem) {
		free(mem);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	if (ps.failed) {
		free(mem);
		mts_error_set(err, MTS_EINVAL, "invalid policy");
		return NULL;
	}
	return p;
}

void mts_policy_free(struct mts_policy *p)
{
	free(p);
}

bool mts_policy_matches(const struct mts_policy *p, const char *host, size_t host_len)
{
	for (size_t i = 0; i < p->mx_count; i++)
		if (mts_mx_match(p->mx[i], strlen(p->mx[i]), host, host_len))
			return true;
	return false;
}

bool mts_policy_same(const struct mts_policy *a, const struct mts_policy *b)
{
	return a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0;
}

int mts_policy_digest(const struct mts_policy *p, unsigned char out[32])
{
	unsigned int n = 0;
	if (!EVP_Digest(p->body, p->body_len, out, &n, EVP_sha256(), NULL) || n != 32)
		return MTS_ENOMEM;
	return 0;
}

/* Append to a bounded buffer; returns false when it would overflow. */
static bool put(char *out, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);
	if (*o + n >= cap)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
	return true;
}

static int serialize_parts(enum mts_mode mode, uint32_t max_age, char *const *mx, size_t mx_count,
			   char **out, size_t *out_len)
{
	size_t cap = 64;
	for (size_t i = 0; i < mx_count; i++)
		cap += strlen(mx[i]) + 8;
	char *buf = malloc(cap);
	if (!buf)
		return MTS_ENOMEM;
	size_t o = 0;
	char age[24];
	snprintf(age, sizeof(age), "%u", max_age);
	bool ok = put(buf, cap, &o, "version: STSv1\r\nmode: ") &&
		  put(buf, cap, &o, mts_mode_name(mode)) && put(buf, cap, &o, "\r\n");
	for (size_t i = 0; ok && i < mx_count; i++)
		ok = put(buf, cap, &o, "mx: ") && put(buf, cap, &o, mx[i]) &&
		     put(buf, cap, &o, "\r\n");
	ok = ok && put(buf, cap, &o, "max_age: ") && put(buf, cap, &o, age) &&
	     put(buf, cap, &o, "\r\n");
	if (!ok) {
		free(buf);
		return MTS_ETOOBIG;
	}
	*out = buf;
	*out_len = o;
	return 0;
}

int mts_policy_serialize(const struct mts_policy *p, char **out, size_t *out_len)
{
	return serialize_parts(p->mode, p->max_age, p->mx, p->mx_count, out, out_len);
}

struct mts_policy *mts_policy_new(enum mts_mode mode, uint32_t max_age, const char *const *mx,
				  size_t mx_count, struct mts_findings *fs, struct mts_error *err)
{
	if (max_age > MTS_POLICY_MAX_AGE_MAX) {
		mts_error_set(err, MTS_EINVAL, "max_age %u is over %u", max_age,
			      MTS_POLICY_MAX_AGE_MAX);
		return NULL;
	}
	char **norm = calloc(mx_count + 1, sizeof(*norm));
	if (!norm) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	struct mts_policy *p = NULL;
	size_t n = 0;
	for (size_t i = 0; i < mx_count; i++) {
		char buf[MTS_MX_PATTERN_MAX + 1], alabel[MTS_MX_PATTERN_MAX + 1];
		const char *in = mx[i];
		bool wild = in[0] == '*' && in[1] == '.';
		/* Accept U-labels here: generating is where a user types them. */
		if (mts_dname_to_alabel(wild ? in + 2 : in, strlen(wild ? in + 2 : in),
					alabel + 2) == 0) {
			alabel[0] = '*';
			alabel[1] = '.';
			in = wild ? alabel : alabel + 2;
		}
		enum mts_dname_status st = mts_dname_normalize(in, strlen(in), true, buf, NULL);
		if (st != MTS_DNAME_OK) {
			mts_error_set(err, MTS_EINVAL, "mx \"%.100s\": %s", mx[i],
				      mts_dname_status_text(st));
			goto out;
		}
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= strcmp(norm[k], buf) == 0;
		if (dup)
			continue;
		if (!(norm[n++] = strdup(buf))) {
			mts_error_set(err, MTS_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (n == 0 && mode != MTS_MODE_NONE) {
		mts_error_set(err, MTS_EINVAL, "mode %s needs at least one mx pattern",
			      mts_mode_name(mode));
		goto out;
	}
	char *body;
	size_t body_len;
	int rc = serialize_parts(mode, max_age, norm, n, &body, &body_len);
	if (rc < 0) {
		mts_error_set(err, rc, "cannot serialize the policy");
		goto out;
	}
	struct mts_findings local;
	mts_findings_init(&local);
	p = mts_policy_parse(body, body_len, fs ? fs : &local, err);
	mts_findings_free(&local);
	free(body);
out:
	for (size_t k = 0; k < n; k++)
		free(norm[k]);
	free(norm);
	return p;
}
