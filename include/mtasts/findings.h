/*
 * findings.h - the findings model shared by every command.
 *
 * A finding is a problem (or a fact worth saying) in a user's or a peer's
 * data: a stable dotted code, a severity, the RFC section it rests on, a
 * message, and where it was found (line and column, and a subject such as a
 * domain or an MX host). Codes are declared once, in findings_codes.def, with
 * their severity, RFC section and a one-line fix hint; docs/FINDINGS.md lists
 * them all and a test keeps the two in step.
 *
 * A struct mts_findings owns its findings and their messages; free it with
 * mts_findings_free(). No I/O.
 */
#ifndef MTASTS_FINDINGS_H
#define MTASTS_FINDINGS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "mtasts/types.h"

MTS_BEGIN_DECLS

enum mts_severity {
	MTS_SEV_INFO = 0,
	MTS_SEV_WARNING = 1,
	MTS_SEV_ERROR = 2,
};

enum mts_finding_code {
#define MTS_FINDING(id, code, sev, rfc, hint) id,
#include "mtasts/findings_codes.def"
#undef MTS_FINDING
	MTS_F__COUNT
};

struct mts_finding_info {
	const char *code;          /* "sts.policy.max_age.too_low" */
	enum mts_severity severity;
	const char *rfc;           /* "RFC 8461 §3.2", or "" */
	const char *hint;          /* one-line fix hint, or "" */
};

struct mts_finding {
	enum mts_finding_code id;
	enum mts_severity severity;
	char *message;             /* owned */
	char *subject;             /* owned; the domain/host/record concerned, or NULL */
	unsigned line;             /* 1-based; 0 when not applicable */
	unsigned column;           /* 1-based; 0 when not applicable */
};

struct mts_findings {
	struct mts_finding *items;
	size_t count;
	size_t cap;
	bool enomem;               /* a finding could not be recorded */
	const char *subject;       /* borrowed; copied into each new finding */
};

/* The static description of a code; never NULL for a valid id. */
const struct mts_finding_info *mts_finding_info(enum mts_finding_code id);
/* Look a code up by its dotted name; returns MTS_F__COUNT when unknown. */
enum mts_finding_code mts_finding_lookup(const char *code);

void mts_findings_init(struct mts_findings *f);
void mts_findings_free(struct mts_findings *f);

/* Record a finding. Returns 0 or MTS_ENOMEM (then f->enomem is set). f may be
 * NULL, in which case nothing is recorded. */
int mts_findings_add(struct mts_findings *f, enum mts_finding_code id, unsigned line,
		     unsigned column, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int mts_findings_vadd(struct mts_findings *f, enum mts_finding_code id, unsigned line,
		      unsigned column, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
/* Move every finding of src to the end of dst (src is left empty). */
int mts_findings_append(struct mts_findings *dst, struct mts_findings *src);

size_t mts_findings_count(const struct mts_findings *f, enum mts_severity at_least);
bool mts_findings_has(const struct mts_findings *f, enum mts_finding_code id);
const char *mts_severity_name(enum mts_severity s);

MTS_END_DECLS

#endif
