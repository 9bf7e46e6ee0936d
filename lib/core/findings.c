/* findings.c - the findings list (see include/mtasts/findings.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/findings.h"
#include "mtasts/error.h"

#define FINDINGS_MAX 10000 /* a hostile input cannot make the list grow forever */

static const struct mts_finding_info finding_table[] = {
#define MTS_FINDING(id, code, sev, rfc, hint) [id] = {code, sev, rfc, hint},
#include "mtasts/findings_codes.def"
#undef MTS_FINDING
};

const struct mts_finding_info *mts_finding_info(enum mts_finding_code id)
{
	if ((unsigned)id >= MTS_F__COUNT)
		return NULL;
	return &finding_table[id];
}

enum mts_finding_code mts_finding_lookup(const char *code)
{
	for (unsigned i = 0; i < MTS_F__COUNT; i++)
		if (strcmp(finding_table[i].code, code) == 0)
			return (enum mts_finding_code)i;
	return MTS_F__COUNT;
}

void mts_findings_init(struct mts_findings *f)
{
	memset(f, 0, sizeof(*f));
}

void mts_findings_free(struct mts_findings *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->count; i++) {
		free(f->items[i].message);
		free(f->items[i].subject);
	}
	free(f->items);
	f->items = NULL;
	f->count = f->cap = 0;
}

static int grow(struct mts_findings *f, size_t need)
{
	if (need <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	struct mts_finding *items = realloc(f->items, cap * sizeof(*items));
	if (!items)
		return MTS_ENOMEM;
	f->items = items;
	f->cap = cap;
	return 0;
}

int mts_findings_vadd(struct mts_findings *f, enum mts_finding_code id, unsigned line,
		      unsigned column, const char *fmt, va_list ap)
{
	if (!f)
		return 0;
	if ((unsigned)id >= MTS_F__COUNT)
		return MTS_EUSAGE;
	if (f->count >= FINDINGS_MAX)
		return 0; /* the first FINDINGS_MAX say enough */
	if (grow(f, f->count + 1) < 0)
		goto nomem;

	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct mts_finding *it = &f->items[f->count];
	memset(it, 0, sizeof(*it));
	it->id = id;
	it->severity = finding_table[id].severity;
	it->line = line;
	it->column = column;
	it->message = strdup(msg);
	if (!it->message)
		goto nomem;
	if (f->subject) {
		it->subject = strdup(f->subject);
		if (!it->subject) {
			free(it->message);
			goto nomem;
		}
	}
	f->count++;
	return 0;
nomem:
	f->enomem = true;
	return MTS_ENOMEM;
}

int mts_findings_add(struct mts_findings *f, enum mts_finding_code id, unsigned line,
		     unsigned column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = mts_findings_vadd(f, id, line, column, fmt, ap);
	va_end(ap);
	return rc;
}

int mts_findings_append(struct mts_findings *dst, struct mts_findings *src)
{
	if (!src->count)
		return 0;
	if (grow(dst, dst->count + src->count) < 0) {
		dst->enomem = true;
		return MTS_ENOMEM;
	}
	memcpy(dst->items + dst->count, src->items, src->count * sizeof(*src->items));
	dst->count += src->count;
	dst->enomem |= src->enomem;
	free(src->items);
	src->items = NULL;
	src->count = src->cap = 0;
	return 0;
}

size_t mts_findings_count(const struct mts_findings *f, enum mts_severity at_least)
{
	size_t n = 0;
	for (size_t i = 0; i < f->count; i++)
		if (f->items[i].severity >= at_least)
			n++;
	return n;
}

bool mts_findings_has(const struct mts_findings *f, enum mts_finding_code id)
{
	for (size_t i = 0; i < f->count; i++)
		if (f->items[i].id == id)
			return true;
	return false;
}

const char *mts_severity_name(enum mts_severity s)
{
	switch (s) {
	case MTS_SEV_ERROR: return "error";
	case MTS_SEV_WARNING: return "warning";
	default: return "info";
	}
}
