/* report_summary.c - per domain and day figures and the enforce verdict
 * (see include/mtasts/report_summary.h).
 *
 * Reports are first flattened into facts (one per report and domain, one
 * per failure detail, one per MX a reporter listed), then sorted and merged:
 * sorting with strcmp makes the result independent of input order, so two
 * stores holding the same reports give the same summary. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/report_summary.h"

struct day_fact {
	char *domain, *reporter;
	int64_t day;
	uint64_t successful, failed;
};

struct fail_fact {
	char *domain, *type, *mx, *ip, *reporter;
	int64_t day;
	uint64_t sessions;
	bool previous; /* in the period before */
	bool dane;     /* under a TLSA policy */
};

struct mx_fact {
	char *domain, *mx, *reporter;
};

struct mts_summary_facts {
	struct day_fact *days;
	size_t day_count, day_cap;
	struct fail_fact *fails;
	size_t fail_count, fail_cap;
	struct mx_fact *mxs;
	size_t mx_count, mx_cap;
};

static const char *const blocking_types[] = {
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure",
};

bool mts_summary_result_blocking(const char *t)
{
	for (size_t i = 0; i < sizeof(blocking_types) / sizeof(blocking_types[0]); i++)
		if (strcmp(t, blocking_types[i]) == 0)
			return true;
	return false;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int mts_summary_date_parse(const char *s, size_t len, int64_t *day)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return MTS_EINVAL;
	unsigned v[3] = {0, 0, 0};
	const size_t start[3] = {0, 5, 8}, width[3] = {4, 2, 2};
	for (size_t f = 0; f < 3; f++)
		for (size_t i = start[f]; i < start[f] + width[f]; i++) {
			if (s[i] < '0' || s[i] > '9')
				return MTS_EINVAL;
			v[f] = v[f] * 10 + (unsigned)(s[i] - '0');
		}
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
		return MTS_EINVAL;
	bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
	if (v[1] == 2 && v[2] == 29 && !leap)
		return MTS_EINVAL;
	*day = days_from_civil(v[0], v[1], v[2]) * MTS_SUMMARY_DAY;
	return 0;
}

void mts_summary_date_format(int64_t day, char *out, size_t cap)
{
	/* civil_from_days, the inverse of the above */
	int64_t z = (day >= 0 ? day : day - (MTS_SUMMARY_DAY - 1)) / MTS_SUMMARY_DAY + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	snprintf(out, cap, "%04lld-%02u-%02u", (long long)(y + (m <= 2)), m, d);
}

int64_t mts_summary_previous_since(const struct mts_summary_options *o)
{
	return o->since - (o->until - o->since + MTS_SUMMARY_DAY);
}

/* Lowercase, without a final dot. */
static char *norm_name(const char *s)
{
	size_t n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		n--;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	out[n] = '\0';
	return out;
}

struct mts_summary *mts_summary_new(const struct mts_summary_options *o)
{
	if (o->since > o->until || o->since % MTS_SUMMARY_DAY || o->until % MTS_SUMMARY_DAY ||
	    (o->until - o->since) / MTS_SUMMARY_DAY >= MTS_SUMMARY_MAX_DAYS)
		return NULL;
	struct mts_summary *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->options = *o;
	s->options.domain = NULL;
	if (s->options.min_reporters == 0)
		s->options.min_reporters = 1;
	s->facts = calloc(1, sizeof(*s->facts));
	if (!s->facts || (o->domain && !(s->domain_filter = norm_name(o->domain)))) {
		mts_summary_free(s);
		return NULL;
	}
	return s;
}

/* Grow an array of facts by one; returns the new (zeroed) element. */
static void *grow(void **items, size_t *count, size_t *cap, size_t size)
{
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		char *g = realloc(*items, ncap * size);
		if (!g)
			return NULL;
		*items = g;
		*cap = ncap;
	}
	char *e = (char *)*items + (*count)++ * size;
	memset(e, 0, size);
	return e;
}

static int add_domain(struct mts_summary *s, const struct mts_report *r, const char *domain,
		      int64_t day, bool previous)
{
	struct mts_summary_facts *f = s->facts;
	struct day_fact *df = NULL;
	if (!previous) {
		df = grow((void **)&f->days, &f->day_count, &f->day_cap, sizeof(*df));
		if (!df || !(df->domain = strdup(domain)) ||
		    !(df->reporter = strdup(r->organization_name)))
			return MTS_ENOMEM;
		df->day = day;
	}
	for (size_t i = 0; i < r->policy_count; i++) {
		const struct mts_report_policy *p = &r->policies[i];
		if (!p->policy_domain)
			continue;
		char *pd = norm_name(p->policy_domain);
		if (!pd)
			return MTS_ENOMEM;
		bool mine = strcmp(pd, domain) == 0;
		free(pd);
		if (!mine)
			continue;
		if (df) {
			df->successful = add_sat(df->successful, p->total_successful);
			df->failed = add_sat(df->failed, p->total_failure);
		}
		for (size_t j = 0; j < p->failure_count; j++) {
			const struct mts_report_failure *rf = &p->failures[j];
			struct fail_fact *ff =
				grow((void **)&f->fails, &f->fail_count, &f->fail_cap, sizeof(*ff));
			if (!ff)
				return MTS_ENOMEM;
			ff->day = day;
			ff->sessions = rf->failed_session_count;
			ff->previous = previous;
			ff->dane = p->type == MTS_REPORT_POLICY_TLSA;
			ff->domain = strdup(domain);
			ff->type = strdup(rf->result_type ? rf->result_type : "");
			ff->mx = norm_name(rf->receiving_mx_hostname ? rf->receiving_mx_hostname : "");
			ff->ip = strdup(rf->receiving_ip ? rf->receiving_ip : "");
			ff->reporter = strdup(r->organization_name);
			if (!ff->domain || !ff->type || !ff->mx || !ff->ip || !ff->reporter)
				return MTS_ENOMEM;
		}
		if (previous || p->type != MTS_REPORT_POLICY_STS)
			continue;
		for (size_t j = 0; j < p->mx_host_count; j++) {
			struct mx_fact *mf =
				grow((void **)&f->mxs, &f->mx_count, &f->mx_cap, sizeof(*mf));
			if (!mf || !(mf->domain = strdup(domain)) ||
			    !(mf->mx = norm_name(p->mx_host[j])) ||
			    !(mf->reporter = strdup(r->organization_name)))
				return MTS_ENOMEM;
		}
	}
	return 0;
}

int mts_summary_add(struct mts_summary *s, const struct mts_report *r)
{
	if (!r->dates_valid)
		return 0;
	int64_t rem = r->start % MTS_SUMMARY_DAY;
	int64_t day = r->start - (rem < 0 ? rem + MTS_SUMMARY_DAY : rem);
	bool previous;
	if (day >= s->options.since && day <= s->options.until)
		previous = false;
	else if (day >= mts_summary_previous_since(&s->options) && day < s->options.since)
		previous = true;
	else
		return 0;
	/* Each domain of the report once, however many policies it has. */
	char **seen = r->policy_count ? calloc(r->policy_count, sizeof(*seen)) : NULL;
	size_t nseen = 0;
	int rc = r->policy_count && !seen ? MTS_ENOMEM : 0;
	bool counted = false;
	for (size_t i = 0; !rc && i < r->policy_count; i++) {
		if (!r->policies[i].policy_domain)
			continue;
		char *d = norm_name(r->policies[i].policy_domain);
		if (!d) {
			rc = MTS_ENOMEM;
			break;
		}
		bool dup = (s->domain_filter && strcmp(d, s->domain_filter) != 0) || !*d;
		for (size_t k = 0; !dup && k < nseen; k++)
			dup = strcmp(seen[k], d) == 0;
		if (dup) {
			free(d);
			continue;
		}
		seen[nseen++] = d;
		rc = add_domain(s, r, d, day, previous);
		counted = true;
	}
	for (size_t k = 0; k < nseen; k++)
		free(seen[k]);
	free(seen);
	if (!rc && counted && !previous)
		s->reports++;
	return rc;
}

/* ------------------------------------------------------------ finishing */

/* qsort, which must not be given a NULL array even when it is empty. */
static void sort(void *items, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(items, n, size, cmp);
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a, b);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int day_by_domain_day(const void *a, const void *b)
{
	const struct day_fact *x = a, *y = b;
	int c = cmp_str(x->domain, y->domain);
	if (!c)
		c = cmp_i64(x->day, y->day);
	return c ? c : cmp_str(x->reporter, y->reporter);
}

static int fail_by_day(const void *a, const void *b)
{
	const struct fail_fact *x = a, *y = b;
	int c = cmp_str(x->domain, y->domain);
	if (!c)
		c = (int)x->previous - (int)y->previous;
	if (!c)
		c = cmp_i64(x->day, y->day);
	if (!c)
		c = cmp_str(x->type, y->type);
	if (!c)
		c = cmp_str(x->mx, y->mx);
	if (!c)
		c = cmp_str(x->ip, y->ip);
	return c ? c : cmp_str(x->reporter, y->reporter);
}

static int mx_by_name(const void *a, const void *b)
{
	const struct mx_fact *x = a, *y = b;
	int c = cmp_str(x->domain, y->domain);
	if (!c)
		c = cmp_str(x->mx, y->mx);
	return c ? c : cmp_str(x->reporter, y->reporter);
}

static int ptr_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_reason(struct mts_summary_domain *d, const char *code, bool blocking,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add_reason(struct mts_summary_domain *d, const char *code, bool blocking,
		      const char *fmt, ...)
{
	struct mts_summary_reason *g =
		realloc(d->reasons, (d->reason_count + 1) * sizeof(*d->reasons));
	if (!g)
		return MTS_ENOMEM;
	d->reasons = g;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct mts_summary_reason *r = &d->reasons[d->reason_count];
	r->code = code;
	r->blocking = blocking;
	if (!(r->message = strdup(msg)))
		return MTS_ENOMEM;
	d->reason_count++;
	if (blocking)
		d->ready = false;
	return 0;
}

/* "a, b, c and 2 more": the distinct values of one field of a domain's
 * period failures of one type, sorted. */
static void list_values(const struct fail_fact *fs, size_t n, const char *type, size_t field,
			char *out, size_t cap)
{
	const char **vals = calloc(n ? n : 1, sizeof(*vals));
	size_t nv = 0;
	out[0] = '\0';
	if (!vals)
		return;
	for (size_t i = 0; i < n; i++) {
		if (fs[i].previous || strcmp(fs[i].type, type) != 0 || fs[i].dane)
			continue;
		const char *v = field == 0 ? fs[i].mx : field == 1 ? fs[i].reporter : fs[i].ip;
		vals[nv++] = *v ? v : "(not reported)";
	}
	sort(vals, nv, sizeof(*vals), ptr_str);
	size_t shown = 0, distinct = 0, used = 0;
	for (size_t i = 0; i < nv; i++) {
		if (i && strcmp(vals[i], vals[i - 1]) == 0)
			continue;
		distinct++;
		if (shown < 5) {
			int w = snprintf(out + used, cap - used, "%s%s", shown ? ", " : "", vals[i]);
			if (w > 0 && (size_t)w < cap - used)
				used += (size_t)w;
			shown++;
		}
	}
	if (distinct > shown)
		snprintf(out + used, cap - used, " and %zu more", distinct - shown);
	free(vals);
}

static int verdict(struct mts_summary *s, struct mts_summary_domain *d, const struct fail_fact *fs,
		   size_t nf, bool sts_seen)
{
	int rc = 0;
	d->ready = true;
	if (d->reports == 0)
		return add_reason(d, "summary.no_reports", true, "no reports in the period");
	if (!sts_seen)
		rc = add_reason(d, "summary.no_sts_policy", true,
				"no reporter applied an MTA-STS policy (policy-type sts)");
	if (!rc && d->failed && d->type_count == 0)
		rc = add_reason(d, "summary.failures.undetailed", true,
				"%llu failed session%s reported without failure details",
				(unsigned long long)d->failed, d->failed == 1 ? "" : "s");
	for (size_t i = 0; !rc && i < d->type_count; i++) {
		const struct mts_summary_type *t = &d->types[i];
		char mx[300], who[300];
		list_values(fs, nf, t->result_type, 0, mx, sizeof(mx));
		list_values(fs, nf, t->result_type, 1, who, sizeof(who));
		if (t->blocking)
			rc = add_reason(d, "summary.failures.blocking", true,
					"%s: %llu failed session%s that enforce would not deliver"
					" (mx %s; reported by %s)",
					t->result_type, (unsigned long long)t->sessions,
					t->sessions == 1 ? "" : "s", mx, who);
		else if (strncmp(t->result_type, "sts-", 4) == 0)
			rc = add_reason(d, "summary.failures.policy", false,
					"%s: %llu session%s without the policy (enforce does not"
					" change them; reported by %s)",
					t->result_type, (unsigned long long)t->sessions,
					t->sessions == 1 ? "" : "s", who);
		else
			rc = add_reason(d, "summary.failures.other", false,
					"%s: %llu failed session%s not decided by the STS mode"
					" (DANE or an unknown type; reported by %s)",
					*t->result_type ? t->result_type : "(no result-type)",
					(unsigned long long)t->sessions,
					t->sessions == 1 ? "" : "s", who);
	}
	for (size_t i = 0; !rc && i < d->mx_count; i++)
		if (d->mx[i].reporters < s->options.min_reporters)
			rc = add_reason(d, "summary.mx.few_reporters", true,
					"mx %s reported by %zu organization%s, fewer than %zu",
					d->mx[i].mx_host, d->mx[i].reporters,
					d->mx[i].reporters == 1 ? "" : "s",
					s->options.min_reporters);
	return rc;
}

/* Reports and sessions of the period by day, and the distinct reporters. */
static int add_days(struct mts_summary_domain *d, const struct day_fact *days, size_t nd)
{
	char **reporters = calloc(nd ? nd : 1, sizeof(*reporters));
	if (!reporters)
		return MTS_ENOMEM;
	for (size_t i = 0; i < nd; i++) {
		reporters[i] = days[i].reporter;
		d->reports++;
		d->successful = add_sat(d->successful, days[i].successful);
		d->failed = add_sat(d->failed, days[i].failed);
		if (!d->day_count || d->days[d->day_count - 1].day != days[i].day) {
			struct mts_summary_day *g =
				realloc(d->days, (d->day_count + 1) * sizeof(*d->days));
			if (!g) {
				free(reporters);
				return MTS_ENOMEM;
			}
			d->days = g;
			memset(&d->days[d->day_count], 0, sizeof(*d->days));
			d->days[d->day_count++].day = days[i].day;
		}
		struct mts_summary_day *day = &d->days[d->day_count - 1];
		day->reports++;
		day->successful = add_sat(day->successful, days[i].successful);
		day->failed = add_sat(day->failed, days[i].failed);
	}
	sort(reporters, nd, sizeof(*reporters), ptr_str);
	for (size_t i = 0; i < nd; i++)
		if (!i || strcmp(reporters[i], reporters[i - 1]) != 0)
			d->reporters++;
	free(reporters);
	return 0;
}

/* Failures of the period into their days: both sorted by day. */
static int add_day_failures(struct mts_summary_domain *d, const struct fail_fact *fs, size_t nf)
{
	size_t k = 0;
	for (size_t i = 0; i < nf; i++) {
		const struct fail_fact *f = &fs[i];
		if (f->previous)
			continue;
		while (k < d->day_count && d->days[k].day < f->day)
			k++;
		if (k == d->day_count || d->days[k].day != f->day)
			continue; /* cannot happen: a failure comes with its report */
		struct mts_summary_day *day = &d->days[k];
		struct mts_summary_failure *last =
			day->failure_count ? &day->failures[day->failure_count - 1] : NULL;
		if (last && strcmp(last->result_type, f->type) == 0 &&
		    strcmp(last->mx_host, f->mx) == 0 && strcmp(last->receiving_ip, f->ip) == 0 &&
		    strcmp(last->reporter, f->reporter) == 0) {
			last->sessions = add_sat(last->sessions, f->sessions);
			continue;
		}
		struct mts_summary_failure *g =
			realloc(day->failures, (day->failure_count + 1) * sizeof(*g));
		if (!g)
			return MTS_ENOMEM;
		day->failures = g;
		struct mts_summary_failure *nfl = &g[day->failure_count++];
		memset(nfl, 0, sizeof(*nfl));
		nfl->sessions = f->sessions;
		if (!(nfl->result_type = strdup(f->type)) || !(nfl->mx_host = strdup(f->mx)) ||
		    !(nfl->receiving_ip = strdup(f->ip)) || !(nfl->reporter = strdup(f->reporter)))
			return MTS_ENOMEM;
	}
	return 0;
}

/* Failure types of the period, and whether the previous one had them. */
static int add_failure_types(struct mts_summary_domain *d, const struct fail_fact *fs, size_t nf)
{
	const char **prev = calloc(nf ? nf : 1, sizeof(*prev));
	size_t nprev = 0;
	if (!prev)
		return MTS_ENOMEM;
	for (size_t i = 0; i < nf; i++)
		if (fs[i].previous)
			prev[nprev++] = fs[i].type;
	sort(prev, nprev, sizeof(*prev), ptr_str);
	for (size_t i = 0; i < nf; i++) {
		const struct fail_fact *f = &fs[i];
		if (f->previous)
			continue;
		struct mts_summary_type *t = NULL;
		for (size_t j = 0; j < d->type_count && !t; j++)
			if (strcmp(d->types[j].result_type, f->type) == 0)
				t = &d->types[j];
		if (!t) {
			struct mts_summary_type *g =
				realloc(d->types, (d->type_count + 1) * sizeof(*g));
			if (!g) {
				free(prev);
				return MTS_ENOMEM;
			}
			d->types = g;
			t = &g[d->type_count++];
			memset(t, 0, sizeof(*t));
			if (!(t->result_type = strdup(f->type))) {
				free(prev);
				return MTS_ENOMEM;
			}
			const char *key = f->type;
			t->is_new = !bsearch(&key, prev, nprev, sizeof(*prev), ptr_str);
		}
		t->sessions = add_sat(t->sessions, f->sessions);
		if (!f->dane && mts_summary_result_blocking(f->type))
			t->blocking = true;
	}
	free(prev);
	sort(d->types, d->type_count, sizeof(*d->types), ptr_str);
	return 0;
}

/* MX hosts of the STS policies and how many organizations listed each. */
static int add_policy_mx(struct mts_summary_domain *d, const struct mx_fact *mxs, size_t nm)
{
	for (size_t i = 0; i < nm; i++) {
		bool same_mx = i && strcmp(mxs[i].mx, mxs[i - 1].mx) == 0;
		if (!same_mx) {
			struct mts_summary_mx *g = realloc(d->mx, (d->mx_count + 1) * sizeof(*g));
			if (!g)
				return MTS_ENOMEM;
			d->mx = g;
			g[d->mx_count].reporters = 0;
			if (!(g[d->mx_count].mx_host = strdup(mxs[i].mx)))
				return MTS_ENOMEM;
			d->mx_count++;
		}
		if (!same_mx || strcmp(mxs[i].reporter, mxs[i - 1].reporter) != 0)
			d->mx[d->mx_count - 1].reporters++;
	}
	return 0;
}

/* One domain's facts (each list sorted) into its summary and verdict. */
static int finish_domain(struct mts_summary *s, struct mts_summary_domain *d,
			 struct day_fact *days, size_t nd, struct fail_fact *fs, size_t nf,
			 struct mx_fact *mxs, size_t nm)
{
	int rc;
	if ((rc = add_days(d, days, nd)) < 0 || (rc = add_day_failures(d, fs, nf)) < 0 ||
	    (rc = add_failure_types(d, fs, nf)) < 0 || (rc = add_policy_mx(d, mxs, nm)) < 0)
		return rc;
	return verdict(s, d, fs, nf, nm > 0);
}

int mts_summary_finish(struct mts_summary *s)
{
	struct mts_summary_facts *f = s->facts;
	sort(f->days, f->day_count, sizeof(*f->days), day_by_domain_day);
	sort(f->fails, f->fail_count, sizeof(*f->fails), fail_by_day);
	sort(f->mxs, f->mx_count, sizeof(*f->mxs), mx_by_name);
	/* The domains: those with reports in the period, and the one asked for. */
	size_t cap = f->day_count + 1;
	s->domains = calloc(cap, sizeof(*s->domains));
	if (!s->domains)
		return MTS_ENOMEM;
	for (size_t i = 0; i < f->day_count; i++)
		if (!i || strcmp(f->days[i].domain, f->days[i - 1].domain) != 0)
			if (!(s->domains[s->domain_count++].domain = strdup(f->days[i].domain)))
				return MTS_ENOMEM;
	if (s->domain_filter && s->domain_count == 0 &&
	    !(s->domains[s->domain_count++].domain = strdup(s->domain_filter)))
		return MTS_ENOMEM;
	size_t di = 0, fi = 0, mi = 0;
	s->ready = true;
	for (size_t i = 0; i < s->domain_count; i++) {
		struct mts_summary_domain *d = &s->domains[i];
		size_t d0 = di, f0 = fi, m0 = mi;
		while (di < f->day_count && strcmp(f->days[di].domain, d->domain) == 0)
			di++;
		while (fi < f->fail_count && strcmp(f->fails[fi].domain, d->domain) < 0)
			fi++;
		f0 = fi;
		while (fi < f->fail_count && strcmp(f->fails[fi].domain, d->domain) == 0)
			fi++;
		while (mi < f->mx_count && strcmp(f->mxs[mi].domain, d->domain) < 0)
			mi++;
		m0 = mi;
		while (mi < f->mx_count && strcmp(f->mxs[mi].domain, d->domain) == 0)
			mi++;
		int rc = finish_domain(s, d, f->days + d0, di - d0, f->fails + f0, fi - f0,
				       f->mxs + m0, mi - m0);
		if (rc)
			return rc;
		if (!d->ready)
			s->ready = false;
		if (d->failed || d->type_count)
			s->failures = true;
	}
	return 0;
}

static void facts_free(struct mts_summary_facts *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->day_count; i++) {
		free(f->days[i].domain);
		free(f->days[i].reporter);
	}
	for (size_t i = 0; i < f->fail_count; i++) {
		free(f->fails[i].domain);
		free(f->fails[i].type);
		free(f->fails[i].mx);
		free(f->fails[i].ip);
		free(f->fails[i].reporter);
	}
	for (size_t i = 0; i < f->mx_count; i++) {
		free(f->mxs[i].domain);
		free(f->mxs[i].mx);
		free(f->mxs[i].reporter);
	}
	free(f->days);
	free(f->fails);
	free(f->mxs);
	free(f);
}

void mts_summary_free(struct mts_summary *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->domain_count; i++) {
		struct mts_summary_domain *d = &s->domains[i];
		free(d->domain);
		for (size_t j = 0; j < d->day_count; j++) {
			for (size_t k = 0; k < d->days[j].failure_count; k++) {
				struct mts_summary_failure *fl = &d->days[j].failures[k];
				free(fl->result_type);
				free(fl->mx_host);
				free(fl->receiving_ip);
				free(fl->reporter);
			}
			free(d->days[j].failures);
		}
		free(d->days);
		for (size_t j = 0; j < d->type_count; j++)
			free(d->types[j].result_type);
		free(d->types);
		for (size_t j = 0; j < d->mx_count; j++)
			free(d->mx[j].mx_host);
		free(d->mx);
		for (size_t j = 0; j < d->reason_count; j++)
			free(d->reasons[j].message);
		free(d->reasons);
	}
	free(s->domains);
	free(s->domain_filter);
	facts_free(s->facts);
	free(s);
}
