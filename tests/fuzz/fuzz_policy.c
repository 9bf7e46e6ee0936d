/* fuzz_policy.c - the policy parser on arbitrary bytes: no crash, no leak;
 * a parsed policy serializes to a canonical file that parses again to the
 * same fields and serializes to the same bytes; a rejected policy has an
 * error-severity finding, an accepted one none but the lenient ones. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/dname.h"
#include "mtasts/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_error err = {0};
	struct mts_policy *p = mts_policy_parse((const char *)data, size, &fs, &err);
	if (!p) {
		if (err.code != MTS_ENOMEM && !fs.enomem &&
		    mts_findings_count(&fs, MTS_SEV_ERROR) == 0)
			abort();
		mts_findings_free(&fs);
		return 0;
	}
	/* Accepted leniently: the only errors a parsed policy may carry are the
	 * publish-strict ones senders tolerate (an mx value's trailing dot). */
	for (size_t i = 0; i < fs.count; i++)
		if (fs.items[i].severity == MTS_SEV_ERROR &&
		    fs.items[i].id != MTS_F_POLICY_MX_TRAILING_DOT)
			abort();
	if (p->body_len != size || memcmp(p->body, data, size) != 0 || p->body[size] != '\0')
		abort();
	if (p->max_age > MTS_POLICY_MAX_AGE_MAX)
		abort();
	if (p->mode != MTS_MODE_NONE && p->mx_count == 0)
		abort();
	char *out = NULL;
	size_t out_len = 0;
	/* The canonical form adds ": " and CRLF where the input may have had
	 * ":" and LF: with thousands of mx lines near 64 KiB it can outgrow the
	 * size cap, and only a file within it must parse again. */
	if (mts_policy_serialize(p, &out, &out_len) == 0 && out_len <= MTS_POLICY_MAX_BYTES) {
		struct mts_policy *q = mts_policy_parse(out, out_len, NULL, NULL);
		if (!q || q->mode != p->mode || q->max_age != p->max_age ||
		    q->mx_count != p->mx_count)
			abort();
		for (size_t i = 0; i < p->mx_count; i++) {
			if (strcmp(q->mx[i], p->mx[i]) != 0)
				abort();
			/* every pattern matches itself, or a host under it */
			char host[MTS_DNAME_MAX + 8];
			const char *h = p->mx[i];
			if (h[0] == '*') {
				host[0] = 'x';
				memcpy(host + 1, h + 1, strlen(h));
				h = host;
			}
			if (!mts_policy_matches(q, h, strlen(h)))
				abort();
		}
		char *again = NULL;
		size_t again_len = 0;
		if (mts_policy_serialize(q, &again, &again_len) != 0 || again_len != out_len ||
		    memcmp(again, out, out_len) != 0)
			abort();
		unsigned char d1[32], d2[32];
		if (mts_policy_digest(q, d1) == 0 && mts_policy_digest(q, d2) == 0 &&
		    memcmp(d1, d2, 32) != 0)
			abort();
		free(again);
		mts_policy_free(q);
	}
	free(out);
	mts_policy_free(p);
	mts_findings_free(&fs);
	return 0;
}
