/* audit.c - facts to findings and a verdict for `mtasts check` (see include/mtasts/audit.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mtasts/audit.h"
#include "mtasts/dmarc.h"
#include "mtasts/dname.h"
#include "mtasts/spf.h"
#include "mtasts/sts_record.h"
#include "mtasts/tlsrpt_record.h"

#define DAY 86400LL

const char *mts_verdict_name(enum mts_verdict v)
{
	switch (v) {
	case MTS_VERDICT_PROTECTED: return "protected";
	case MTS_VERDICT_TESTING: return "testing";
	case MTS_VERDICT_NOT_DEPLOYED: return "not deployed";
	default: return "broken";
	}
}

const char *mts_fetch_result_name(enum mts_fetch_result r)
{
	switch (r) {
	case MTS_FETCH_OK: return "ok";
	case MTS_FETCH_NO_RECORD: return "no-policy";
	case MTS_FETCH_ERROR: return "sts-policy-fetch-error";
	case MTS_FETCH_INVALID: return "sts-policy-invalid";
	default: return "sts-webpki-invalid";
	}
}

static void day_string(long long t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, 16, "%Y-%m-%d", &tm))
		snprintf(out, 16, "?");
}

static const char *plural(long long n)
{
	return n == 1 || n == -1 ? "" : "s";
}

long long mts_audit_days_left(long long t, long long now)
{
	long long d = t - now;
	return d >= 0 ? d / DAY : -(-d / DAY);
}

/* A failed DNS question: DNSSEC-bogus answers get their own code. */
static void dns_failed(struct mts_findings *fs, const char *type, const char *name,
		       enum mts_dnssec dnssec, const char *why)
{
	bool bogus = dnssec == MTS_DNSSEC_BOGUS;
	mts_findings_add(fs, bogus ? MTS_F_DNS_BOGUS : MTS_F_CHECK_DNS_FAILED, 0, 0,
			 bogus ? "the %s answer for %s fails DNSSEC validation%s%s"
			       : "the %s lookup of %s failed%s%s",
			 type, name, why && *why ? ": " : "", why ? why : "");
}

/* Records at a name: a failed lookup is a finding; otherwise the core's
 * select() judges them. Returns true when the lookup answered. */
static bool txt_answered(const struct mts_audit_txt *t, const char *name, struct mts_findings *fs)
{
	if (t->lookup != MTS_LOOKUP_FAILED)
		return true;
	dns_failed(fs, "TXT", name, t->dnssec, t->why);
	return false;
}

static bool is_null_mx(const struct mts_audit_facts *f)
{
	return f->mx_count == 1 && (f->mx[0].host[0] == '\0' || strcmp(f->mx[0].host, ".") == 0);
}

/* The TLS of one MX host at one address. Returns true when it would satisfy
 * an enforcing sender. who is "host (address)", naming both in findings. */
static bool audit_mx_address(const struct mts_audit_tls *t, const char *who, long long now,
			     struct mts_findings *fs)
{
	const char *why = t->error ? t->error : "no reason given";
	if (!t->attempted)
		return false;
	if (!t->connected) {
		mts_findings_add(fs, MTS_F_CHECK_MX_CONNECT, 0, 0, "%s: %s", who, why);
		return false;
	}
	if (!t->starttls_offered) {
		mts_findings_add(fs, MTS_F_CHECK_MX_STARTTLS, 0, 0, "%s does not offer STARTTLS",
				 who);
		return false;
	}
	if (!t->handshake_ok) {
		mts_findings_add(fs, MTS_F_CHECK_MX_HANDSHAKE, 0, 0, "%s: %s", who, why);
		return false;
	}
	bool ok = true;
	char day[16];
	day_string(t->not_after, day);
	long long left = mts_audit_days_left(t->not_after, now);
	if (t->not_after && t->not_after < now) {
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_EXPIRED, 0, 0,
				 "%s: the certificate expired on %s (%lld day%s ago)", who, day,
				 -left, plural(left));
		ok = false;
	} else if (t->not_before && t->not_before > now) {
		char from[16];
		day_string(t->not_before, from);
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_NOT_YET_VALID, 0, 0,
				 "%s: the certificate is valid only from %s", who, from);
		ok = false;
	} else if (t->self_signed) {
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_SELF_SIGNED, 0, 0,
				 "%s: the certificate is self-signed", who);
		ok = false;
	} else if (!t->chain_valid) {
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_UNTRUSTED, 0, 0,
				 "%s: the certificate does not chain to a trusted root%s%s", who,
				 t->error ? ": " : "", t->error ? t->error : "");
		ok = false;
	}
	if (!t->name_valid) {
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_NAME, 0, 0,
				 "%s: the certificate is not valid for this name", who);
		ok = false;
	}
	if (ok && t->not_after && left < MTS_AUDIT_CERT_WARN_DAYS)
		mts_findings_add(fs, MTS_F_CHECK_MX_CERT_EXPIRING, 0, 0,
				 "%s: the certificate expires on %s, in %lld day%s", who, day,
				 left, plural(left));
	bool old = strcmp(t->tls_version, "TLSv1") == 0 || strcmp(t->tls_version, "TLSv1.1") == 0 ||
		   strncmp(t->tls_version, "SSL", 3) == 0;
	if (old)
		mts_findings_add(fs, MTS_F_CHECK_MX_TLS_OLD, 0, 0, "%s negotiates %s", who,
				 t->tls_version);
	if (ok)
		mts_findings_add(fs, MTS_F_CHECK_MX_TLS_OK, 0, 0,
				 "%s: %s, certificate valid until %s (%lld day%s)", who,
				 t->tls_version, day, left, plural(left));
	return ok;
}

/* The TLS of one MX host at every address probed: a sender may pick any of
 * them, so one failing address fails the host. */
static bool audit_mx_tls(const struct mts_audit_mx *mx, long long now, struct mts_findings *fs)
{
	bool ok = mx->tls_count > 0;
	size_t n = mx->tls_count < MTS_AUDIT_MAX_ADDRS ? mx->tls_count : MTS_AUDIT_MAX_ADDRS;
	for (size_t i = 0; i < n; i++) {
		const struct mts_audit_tls *t = &mx->tls[i];
		char who[MTS_DNAME_MAX + 64];
		if (t->address && *t->address)
			snprintf(who, sizeof(who), "%s (%s)", mx->host, t->address);
		else
			snprintf(who, sizeof(who), "%s", mx->host);
		if (!audit_mx_address(t, who, now, fs))
			ok = false;
	}
	/* Only the cap leaves addresses out (--connect-to probes one on purpose). */
	if (mx->tls_count == MTS_AUDIT_MAX_ADDRS && mx->addresses > mx->tls_count)
		mts_findings_add(fs, MTS_F_CHECK_MX_ADDRS_UNPROBED, 0, 0,
				 "%s has %zu addresses; only %zu were probed", mx->host,
				 mx->addresses, mx->tls_count);
	return ok;
}

const char *mts_tlsa_match_name(enum mts_tlsa_match m)
{
	switch (m) {
	case MTS_TLSA_MATCH: return "match";
	case MTS_TLSA_NO_MATCH: return "no-match";
	case MTS_TLSA_UNUSABLE: return "unusable";
	default: return "unchecked";
	}
}

static const unsigned char *digest_of(const struct mts_cert_digests *d, unsigned selector,
				      unsigned matching, size_t *len)
{
	*len = matching == 1 ? 32 : 64;
	if (selector == 0)
		return matching == 1 ? d->cert256 : d->cert512;
	return matching == 1 ? d->spki256 : d->spki512;
}

enum mts_tlsa_match mts_tlsa_match(const struct mts_tlsa_rr *rrs, size_t n,
				   const struct mts_cert_digests *chain, size_t chain_count)
{
	bool usable = false;
	for (size_t i = 0; i < n; i++) {
		const struct mts_tlsa_rr *r = &rrs[i];
		if ((r->usage != 2 && r->usage != 3) || r->selector > 1 || r->matching_type < 1 ||
		    r->matching_type > 2)
			continue;
		usable = true;
		size_t first = r->usage == 3 ? 0 : 1, last = r->usage == 3 ? 1 : chain_count;
		for (size_t c = first; c < last && c < chain_count; c++) {
			size_t len;
			const unsigned char *d = digest_of(&chain[c], r->selector, r->matching_type, &len);
			if (r->len == len && memcmp(d, r->data, len) == 0)
				return MTS_TLSA_MATCH;
		}
	}
	if (!usable)
		return MTS_TLSA_UNUSABLE;
	return chain_count ? MTS_TLSA_NO_MATCH : MTS_TLSA_UNCHECKED;
}

/* Returns true when DANE senders would fail on this host (bogus or
 * mismatching signed TLSA records): DANE takes precedence (RFC 8461 §2). */
static bool audit_dane(const struct mts_audit_mx *mx, struct mts_audit_result *out,
		       struct mts_findings *fs)
{
	/* A TLSA lookup that merely failed matters only to DANE senders, who ask
	 * only in signed zones, which we cannot tell apart without validation:
	 * the answer's status is in the facts, a finding only for bogus. */
	if (mx->tlsa_lookup == MTS_LOOKUP_FAILED) {
		if (mx->tlsa_dnssec != MTS_DNSSEC_BOGUS)
			return false;
		mts_findings_add(fs, MTS_F_CHECK_DANE_BOGUS, 0, 0,
				 "the TLSA answer for _25._tcp.%s fails DNSSEC validation", mx->host);
		return true;
	}
	if (mx->tlsa_lookup != MTS_LOOKUP_OK || mx->tlsa_count == 0)
		return false;
	switch (mx->tlsa_dnssec) {
	case MTS_DNSSEC_SECURE:
		out->dane = true;
		mts_findings_add(fs, MTS_F_CHECK_DANE_PRESENT, 0, 0,
				 "%s has %zu DNSSEC-signed TLSA record%s%s", mx->host, mx->tlsa_count,
				 mx->tlsa_count == 1 ? "" : "s",
				 mx->tlsa_match == MTS_TLSA_MATCH ? " matching its certificate" : "");
		if (mx->tlsa_match == MTS_TLSA_NO_MATCH) {
			mts_findings_add(fs, MTS_F_CHECK_DANE_MISMATCH, 0, 0,
					 "no TLSA record of %s matches the certificate it presents",
					 mx->host);
			return true;
		}
		if (mx->tlsa_match == MTS_TLSA_UNUSABLE)
			mts_findings_add(fs, MTS_F_CHECK_DANE_UNUSABLE, 0, 0,
					 "%s has no TLSA record an SMTP sender can use", mx->host);
		break;
	case MTS_DNSSEC_BOGUS:
		mts_findings_add(fs, MTS_F_CHECK_DANE_BOGUS, 0, 0,
				 "the TLSA records of %s fail DNSSEC validation", mx->host);
		return true;
	default:
		mts_findings_add(fs, MTS_F_CHECK_DANE_UNSIGNED, 0, 0,
				 "%s has TLSA records without DNSSEC", mx->host);
		break;
	}
	return false;
}

static void audit_policy_host(const struct mts_audit_facts *f, struct mts_findings *fs)
{
	const struct mts_audit_tls *t = &f->policy_host;
	/* Not valid yet: the fetch's sts.fetch.tls.not_yet_valid says it. */
	if (!t->handshake_ok || !t->not_after || (t->not_before && t->not_before > f->now))
		return;
	char day[16];
	day_string(t->not_after, day);
	long long left = mts_audit_days_left(t->not_after, f->now);
	if (t->not_after < f->now)
		mts_findings_add(fs, MTS_F_CHECK_HOST_CERT_EXPIRED, 0, 0,
				 "the certificate of mta-sts.%s expired on %s (%lld day%s ago)",
				 f->domain, day, -left, plural(left));
	else if (left < MTS_AUDIT_CERT_WARN_DAYS)
		mts_findings_add(fs, MTS_F_CHECK_HOST_CERT_EXPIRING, 0, 0,
				 "the certificate of mta-sts.%s expires on %s, in %lld day%s",
				 f->domain, day, left, plural(left));
	else
		mts_findings_add(fs, MTS_F_CHECK_HOST_CERT_DAYS, 0, 0,
				 "the certificate of mta-sts.%s is valid until %s (%lld day%s)",
				 f->domain, day, left, plural(left));
}

/* The policy: parsed from the served bytes when there are any. *strict_errors
 * tells whether a policy senders accept breaks the grammar a publisher must
 * follow (mts_policy_parse() adds errors without failing). */
static struct mts_policy *audit_policy(const struct mts_audit_facts *f, bool record_ok,
				       struct mts_findings *fs, bool *strict_errors)
{
	struct mts_policy *p = NULL;
	size_t errors = mts_findings_count(fs, MTS_SEV_ERROR);
	if (f->policy_body && (f->fetch == MTS_FETCH_OK || f->fetch == MTS_FETCH_INVALID ||
			       (!record_ok && f->fetch == MTS_FETCH_NO_RECORD)))
		p = mts_policy_parse(f->policy_body, f->policy_len, fs, NULL);
	*strict_errors = p && mts_findings_count(fs, MTS_SEV_ERROR) > errors;
	if (record_ok && f->fetch != MTS_FETCH_OK && f->fetch != MTS_FETCH_NO_RECORD &&
	    !(f->fetch == MTS_FETCH_INVALID && f->policy_body))
		mts_findings_add(fs, f->fetch_code_set ? f->fetch_code : MTS_F_CHECK_FETCH_FAILED,
				 0, 0, "%s: %s", mts_fetch_result_name(f->fetch),
				 f->fetch_reason ? f->fetch_reason : "the policy could not be fetched");
	if (!record_ok && p)
		mts_findings_add(fs, MTS_F_CHECK_POLICY_WITHOUT_RECORD, 0, 0,
				 "a policy is served at mta-sts.%s but no valid _mta-sts record "
				 "points senders to it", f->domain);
	return p;
}

static void not_ready(struct mts_findings *fs, const struct mts_audit_result *out, const char *why)
{
	if (out->mx_total)
		mts_findings_add(fs, MTS_F_CHECK_NOT_READY, 0, 0, "%zu of %zu MX hosts pass; %s",
				 out->mx_passing, out->mx_total, why);
	else
		mts_findings_add(fs, MTS_F_CHECK_NOT_READY, 0, 0, "%s", why);
}

/* What the stages of one evaluation learn and the later ones decide on. */
struct audit {
	const struct mts_audit_facts *f;
	struct mts_audit_result *out;
	struct mts_findings *fs;
	char name[MTS_DNAME_MAX + 32];  /* the subject of the stage's findings */
	bool record_ok, record_absent, record_failed;
	struct mts_policy *policy;      /* parsed from the served bytes, or NULL */
	bool policy_strict_errors;      /* accepted by senders, outside the grammar */
	bool null_mx, mx_known;         /* mx_known: MX hosts to examine */
	bool all_covered, dane_broken;
};

static void subject(struct audit *a, const char *prefix)
{
	snprintf(a->name, sizeof(a->name), "%s%s", prefix, a->f->domain);
	a->fs->subject = a->name;
}

/* The _mta-sts record: present and valid, absent, or broken. */
static void audit_record(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	subject(a, "_mta-sts.");
	if (!txt_answered(&f->sts, a->name, a->fs)) {
		a->record_failed = true;
		return;
	}
	struct mts_sts_record rec;
	int rc = mts_sts_record_select(f->sts.txts, f->sts.lens, f->sts.count, &rec, a->fs, NULL);
	a->record_ok = rc == 0;
	a->record_absent = rc == MTS_ENOTFOUND;
	if (a->record_ok && f->sts.dnssec == MTS_DNSSEC_SECURE)
		mts_findings_add(a->fs, MTS_F_CHECK_STS_DNSSEC, 0, 0, "the record is DNSSEC-signed");
}

/* The MX answer as a whole: failed, empty, null MX, or hosts to examine. */
static void audit_mx_answer(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	a->fs->subject = f->domain;
	if (f->mx_lookup == MTS_LOOKUP_FAILED) {
		dns_failed(a->fs, "MX", f->domain, f->mx_dnssec, f->mx_why);
	} else if (f->mx_count == 0) {
		mts_findings_add(a->fs, MTS_F_CHECK_MX_NONE, 0, 0, "%s has no MX records",
				 f->domain);
	} else if (is_null_mx(f)) {
		a->null_mx = true;
		mts_findings_add(a->fs, MTS_F_CHECK_MX_NULL, 0, 0, "%s publishes a null MX",
				 f->domain);
	} else {
		a->mx_known = true;
	}
}

/* One MX host: listed once, has addresses, covered by the policy, passes
 * TLS, and DANE does not fail on it. */
static void audit_mx_host(struct audit *a, size_t i)
{
	const struct mts_audit_facts *f = a->f;
	const struct mts_audit_mx *mx = &f->mx[i];
	struct mts_findings *fs = a->fs;
	const struct mts_policy *policy = a->policy;
	fs->subject = mx->host;
	a->out->mx_total++;
	for (size_t k = 0; k < i; k++) {
		if (strcasecmp(f->mx[k].host, mx->host) == 0) {
			mts_findings_add(fs, MTS_F_CHECK_MX_DUPLICATE, 0, 0,
					 "%s is listed more than once", mx->host);
			break;
		}
	}
	if (mx->addr_lookup == MTS_LOOKUP_FAILED)
		mts_findings_add(fs, MTS_F_CHECK_DNS_FAILED, 0, 0, "the address lookup of %s failed",
				 mx->host);
	else if (mx->addresses == 0)
		mts_findings_add(fs, MTS_F_CHECK_MX_NO_ADDRESS, 0, 0, "%s has no A or AAAA record",
				 mx->host);
	if (mx->cname && *mx->cname)
		mts_findings_add(fs, MTS_F_CHECK_MX_CNAME, 0, 0,
				 "%s is an alias (CNAME) of %s; an MX record must name the host "
				 "itself", mx->host, mx->cname);
	bool covered = true;
	if (policy && policy->mode != MTS_MODE_NONE &&
	    !mts_policy_matches(policy, mx->host, strlen(mx->host))) {
		covered = a->all_covered = false;
		mts_findings_add(fs, policy->mode == MTS_MODE_ENFORCE
					     ? MTS_F_CHECK_MX_NOT_COVERED
					     : MTS_F_CHECK_MX_NOT_COVERED_TESTING,
				 0, 0, "%s matches no mx pattern of the policy", mx->host);
	}
	bool tls_ok = f->smtp_skipped || audit_mx_tls(mx, f->now, fs);
	if (tls_ok && covered && mx->addresses > 0)
		a->out->mx_passing++;
	if (audit_dane(mx, a->out, fs))
		a->dane_broken = true;
}

/* Policy patterns that no current MX host uses. */
static void audit_stale_patterns(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	const struct mts_policy *policy = a->policy;
	subject(a, "mta-sts.");
	for (size_t p = 0; p < policy->mx_count; p++) {
		bool used = false;
		for (size_t i = 0; !used && i < f->mx_count; i++)
			used = mts_mx_match(policy->mx[p], strlen(policy->mx[p]), f->mx[i].host,
					    strlen(f->mx[i].host));
		if (!used)
			mts_findings_add(a->fs, MTS_F_CHECK_POLICY_MX_STALE, 0, 0,
					 "mx pattern %s matches no current MX host", policy->mx[p]);
	}
}

static void audit_mx(struct audit *a)
{
	audit_mx_answer(a);
	a->all_covered = true;
	for (size_t i = 0; a->mx_known && i < a->f->mx_count; i++)
		audit_mx_host(a, i);
	if (a->mx_known && a->policy && a->policy->mode != MTS_MODE_NONE)
		audit_stale_patterns(a);
}

/* TLS-RPT, SPF and DMARC: the records beside MTA-STS that a check reads. */
static void audit_neighbours(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	struct mts_findings *fs = a->fs;
	subject(a, "_smtp._tls.");
	if (txt_answered(&f->tlsrpt, a->name, fs)) {
		struct mts_tlsrpt_record r;
		if (mts_tlsrpt_record_select(f->tlsrpt.txts, f->tlsrpt.lens, f->tlsrpt.count, &r,
					     fs, NULL) == 0)
			mts_tlsrpt_record_clear(&r);
	}
	fs->subject = f->domain;
	if (txt_answered(&f->spf, f->domain, fs)) {
		struct mts_spf_record r;
		if (mts_spf_select(f->spf.txts, f->spf.lens, f->spf.count, &r, fs, NULL) == 0) {
			if (f->spf_lookups > MTS_SPF_MAX_LOOKUPS && r.lookups <= MTS_SPF_MAX_LOOKUPS)
				mts_findings_add(fs, MTS_F_SPF_TOO_MANY_LOOKUPS, 0, 0,
						 "%u DNS-querying terms with includes followed",
						 f->spf_lookups);
			mts_spf_clear(&r);
		}
	}
	subject(a, "_dmarc.");
	if (txt_answered(&f->dmarc, a->name, fs)) {
		struct mts_dmarc_record r;
		if (mts_dmarc_select(f->dmarc.txts, f->dmarc.lens, f->dmarc.count, &r, fs, NULL) == 0)
			mts_dmarc_clear(&r);
	}
}

/* The verdict and whether enforce would be safe. */
static void decide(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	struct mts_audit_result *out = a->out;
	const struct mts_policy *policy = a->policy;
	bool all_pass = a->mx_known && out->mx_passing == out->mx_total;
	if (a->null_mx || a->record_absent)
		out->verdict = MTS_VERDICT_NOT_DEPLOYED;
	else if (a->record_failed || !a->record_ok || !policy || a->policy_strict_errors)
		out->verdict = MTS_VERDICT_BROKEN; /* broken until the policy is fixed */
	else if (policy->mode == MTS_MODE_NONE)
		out->verdict = MTS_VERDICT_NOT_DEPLOYED;
	else if (policy->mode == MTS_MODE_TESTING)
		out->verdict = MTS_VERDICT_TESTING;
	else
		out->verdict = all_pass ? MTS_VERDICT_PROTECTED : MTS_VERDICT_BROKEN;
	/* DANE takes precedence: senders that use it fail whatever MTA-STS says. */
	if (a->dane_broken)
		out->verdict = MTS_VERDICT_BROKEN;
	out->ready_to_enforce = all_pass && a->all_covered && !a->record_failed &&
				!a->dane_broken && !f->smtp_skipped && !a->policy_strict_errors &&
				(a->record_absent || (a->record_ok && policy));
}

/* The rollout advice: what the domain's owner can do next. */
static void advise(struct audit *a)
{
	const struct mts_audit_facts *f = a->f;
	const struct mts_audit_result *out = a->out;
	struct mts_findings *fs = a->fs;
	fs->subject = f->domain;
	if (f->smtp_skipped && a->mx_known)
		mts_findings_add(fs, MTS_F_CHECK_MX_NOT_PROBED, 0, 0,
				 "the TLS of %zu MX host%s was not checked; the verdict assumes "
				 "it passes", out->mx_total, out->mx_total == 1 ? "" : "s");
	if (a->null_mx || out->verdict == MTS_VERDICT_PROTECTED)
		return;
	if (out->ready_to_enforce && a->record_absent)
		mts_findings_add(fs, MTS_F_CHECK_READY, 0, 0,
				 "all %zu MX host%s TLS: publish a policy in testing mode "
				 "and the _mta-sts record, read the reports, then enforce",
				 out->mx_total, out->mx_total == 1 ? " passes" : "s pass");
	else if (out->ready_to_enforce)
		mts_findings_add(fs, MTS_F_CHECK_READY, 0, 0,
				 "all %zu MX host%s covered and passing TLS", out->mx_total,
				 out->mx_total == 1 ? " is" : "s are");
	else
		not_ready(fs, out, a->record_failed || a->policy_strict_errors ||
					   (!a->record_absent && !out->have_policy)
					   ? "the record or policy is broken"
				   : !a->mx_known     ? "no MX host could be examined"
				   : a->dane_broken  ? "DANE fails on some MX hosts"
				   : f->smtp_skipped ? "the MX hosts' TLS was not checked"
				   : !a->all_covered ? "the policy does not cover every MX"
						     : "TLS fails on some MX hosts");
}

int mts_audit_evaluate(const struct mts_audit_facts *f, struct mts_audit_result *out,
		       struct mts_findings *fs)
{
	struct audit a = {.f = f, .out = out, .fs = fs};
	const char *saved_subject = fs->subject;
	memset(out, 0, sizeof(*out));

	audit_record(&a);
	subject(&a, "mta-sts.");
	a.policy = audit_policy(f, a.record_ok, fs, &a.policy_strict_errors);
	audit_policy_host(f, fs);
	out->have_policy = a.record_ok && a.policy != NULL;
	out->mode = a.policy ? a.policy->mode : MTS_MODE_NONE;
	audit_mx(&a);
	audit_neighbours(&a);
	decide(&a);
	advise(&a);

	fs->subject = saved_subject;
	mts_policy_free(a.policy);
	return fs->enomem ? MTS_ENOMEM : 0;
}
