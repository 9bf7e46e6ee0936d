/*
 * policy.h - the MTA-STS policy file (RFC 8461 §3.2): parse, validate,
 * serialize, identify.
 *
 * mts_policy_parse() reads the exact bytes served at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt and returns a policy when
 * a sender would use it, NULL otherwise. Publish strictly, accept leniently:
 * a few deviations from the grammar that senders tolerate (an mx value with
 * a trailing dot) are error-severity findings yet do not fail the parse, so
 * a publisher's lint (policy lint, check) counts the errors while fetch and
 * the resolver use the policy. Every
 * deviation, fatal or not, is recorded in the findings list with its line and
 * column. The returned policy is one allocation owned by the caller: free it
 * with mts_policy_free(). Pure: no I/O, no clock.
 */
#ifndef MTASTS_POLICY_H
#define MTASTS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts/error.h"
#include "mtasts/findings.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_POLICY_MAX_BYTES 65536	   /* RFC 8461 §3.3: senders may stop at 64 KiB */
#define MTS_POLICY_LARGE_BYTES 4096	   /* lint: larger is unusual */
#define MTS_POLICY_MAX_AGE_MAX 31557600u /* RFC 8461 §3.2 */
#define MTS_SECONDS_PER_DAY 86400u

enum mts_mode {
	MTS_MODE_NONE = 0,
	MTS_MODE_TESTING = 1,
	MTS_MODE_ENFORCE = 2,
};

struct mts_policy {
	enum mts_mode mode;
	uint32_t max_age;          /* seconds, 0..MTS_POLICY_MAX_AGE_MAX */
	size_t mx_count;
	char **mx;                 /* patterns, lowercased, no trailing dot, file order */
	char *body;                /* the exact bytes parsed (NUL-terminated copy);
				    * for built policies, the canonical file */
	size_t body_len;
};

/* Parse and validate. Returns NULL when the bytes are not a usable policy
 * (err->code MTS_EINVAL, or MTS_ETOOBIG over MTS_POLICY_MAX_BYTES, or
 * MTS_ENOMEM). A returned policy is valid to publish only when no
 * error-severity finding was added. findings may be NULL. */
struct mts_policy *mts_policy_parse(const char *buf, size_t len, struct mts_findings *findings,
				    struct mts_error *err);
void mts_policy_free(struct mts_policy *p);

/* Lints beyond the grammar (max_age ranges, mode testing/none, size, broad
 * patterns), added to findings without line numbers. mts_policy_parse()
 * already reports them, with line numbers. */
void mts_policy_lint(const struct mts_policy *p, struct mts_findings *findings);

/* Build a policy from parts (patterns are validated and normalised). */
struct mts_policy *mts_policy_new(enum mts_mode mode, uint32_t max_age, const char *const *mx,
				  size_t mx_count, struct mts_findings *findings,
				  struct mts_error *err);

/* The canonical file: version first, then mode, mx lines in order, max_age,
 * each ending in CRLF. *out is malloc'd and NUL-terminated; caller frees. */
int mts_policy_serialize(const struct mts_policy *p, char **out, size_t *out_len);

/* Does any of the policy's patterns match host (RFC 8461 §4.1)? */
bool mts_policy_matches(const struct mts_policy *p, const char *host, size_t host_len);

/* Same bytes, same identity. */
bool mts_policy_same(const struct mts_policy *a, const struct mts_policy *b);
/* SHA-256 of the body (for ids and logs). Returns 0 or MTS_ENOMEM. */
int mts_policy_digest(const struct mts_policy *p, unsigned char out[32]);

const char *mts_mode_name(enum mts_mode m);
/* Returns 0 and sets *out, or MTS_EINVAL. Case-sensitive, as the grammar. */
int mts_mode_parse(const char *s, size_t len, enum mts_mode *out);

MTS_END_DECLS

#endif
