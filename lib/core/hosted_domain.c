/* hosted_domain.c - one hosted domain's policy bytes, id and names (see
 * hosted_int.h). Pure: time comes in as now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hosted_int.h"

void mts_hosted_domain_clear(struct mts_hosted_domain *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->mx_count; i++)
		free(d->mx[i]);
	free(d->mx);
	free(d->policy);
	memset(d, 0, sizeof(*d));
}

static int copy_patterns(const struct mts_policy *p, char ***out)
{
	*out = calloc(p->mx_count ? p->mx_count : 1, sizeof(**out));
	if (!*out)
		return MTS_ENOMEM;
	for (size_t i = 0; i < p->mx_count; i++) {
		if (!((*out)[i] = strdup(p->mx[i]))) {
			for (size_t j = 0; j < i; j++)
				free((*out)[j]);
			free(*out);
			*out = NULL;
			return MTS_ENOMEM;
		}
	}
	return 0;
}

int mts_hosted_domain_set_policy(struct mts_hosted_domain *d, enum mts_mode mode, uint32_t max_age,
				 const char *const *mx, size_t mx_count, long long now,
				 const struct mts_hosted_rules *rules,
				 struct mts_findings *findings, struct mts_error *err)
{
	if (mx_count == 0 && mode != MTS_MODE_NONE)
		return mts_error_set(err, MTS_EINVAL,
				     "mx: a policy in mode %s needs at least one mx pattern",
				     mts_mode_name(mode));
	if (mx_count > MTS_HOSTED_MX_MAX)
		return mts_error_set(err, MTS_ETOOBIG, "mx: %zu patterns, at most %d", mx_count,
				     MTS_HOSTED_MX_MAX);
	struct mts_findings own;
	struct mts_findings *fs = findings;
	if (!fs) {
		mts_findings_init(&own);
		fs = &own;
	}
	size_t before = mts_findings_count(fs, MTS_SEV_ERROR);
	struct mts_policy *p = mts_policy_new(mode, max_age, mx, mx_count, fs, err);
	char *body = NULL;
	size_t len = 0;
	int rc = 0;
	if (!p) {
		rc = err && err->code ? err->code : MTS_EINVAL;
		goto out;
	}
	mts_policy_lint(p, fs);
	if (mts_findings_count(fs, MTS_SEV_ERROR) > before) {
		rc = mts_error_set(err, MTS_EINVAL,
				   "the policy would not pass lint (see findings)");
		goto out;
	}
	if ((rc = mts_policy_serialize(p, &body, &len)) < 0) {
		mts_error_set(err, rc, "out of memory");
		goto out;
	}
	if (d->policy && d->policy_len == len && memcmp(d->policy, body, len) == 0) {
		d->mode = mode, d->max_age = max_age;
		rc = 0; /* the same bytes: the same id */
		goto out;
	}
	unsigned char digest[32];
	char id[MTS_STS_ID_MAX + 1];
	char **patterns;
	if ((rc = mts_policy_digest(p, digest)) < 0 || (rc = copy_patterns(p, &patterns)) < 0) {
		mts_error_set(err, rc, "out of memory");
		goto out;
	}
	mts_sts_id_generate(now, digest, id);
	struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_SERVED,
				      .id = id,
				      .max_age = max_age,
				      .none = mode == MTS_MODE_NONE};
	if ((rc = mts_hosted_apply(&d->state, &ev, now, rules)) < 0) {
		for (size_t i = 0; i < p->mx_count; i++)
			free(patterns[i]);
		free(patterns);
		mts_error_set(err, rc, "%s: the domain is being removed; its policy cannot change",
			      d->name);
		goto out;
	}
	for (size_t i = 0; i < d->mx_count; i++)
		free(d->mx[i]);
	free(d->mx);
	free(d->policy);
	d->mx = patterns;
	d->mx_count = p->mx_count;
	d->policy = body;
	d->policy_len = len;
	body = NULL;
	d->mode = mode;
	d->max_age = max_age;
	d->updated_at = now;
	rc = 1;
out:
	free(body);
	mts_policy_free(p);
	if (fs == &own)
		mts_findings_free(&own);
	return rc;
}

static int join(char out[MTS_DNAME_MAX + 1], const char *what, const char *a, const char *b,
		const char *c, struct mts_error *err)
{
	int n = snprintf(out, MTS_DNAME_MAX + 1, "%s%s%s", a, b, c);
	if (n < 0 || n > MTS_DNAME_MAX)
		return mts_error_set(err, MTS_ETOOBIG, "%s: %s%s%s is longer than %d characters",
				     what, a, b, c, MTS_DNAME_MAX);
	return 0;
}

int mts_hosted_names(const char *domain, const char *zone, struct mts_hosted_names *out,
		     struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	int rc;
	if ((rc = join(out->policy_host, "policy host", "mta-sts.", domain, "", err)) < 0 ||
	    (rc = join(out->sts_name, "record name", "_mta-sts.", domain, "", err)) < 0 ||
	    (rc = join(out->tlsrpt_name, "TLS-RPT name", "_smtp._tls.", domain, "", err)) < 0)
		return rc;
	char tail[MTS_DNAME_MAX + 2];
	snprintf(tail, sizeof(tail), ".%s", zone);
	return join(out->sts_target, "service record name", out->sts_name, tail, "", err);
}
