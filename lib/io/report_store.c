/* report_store.c - the calls of a report store, dispatched to its backend, and
 * the walks built on them (see report_store.h; report_store_open.c chooses
 * the backend). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io/report_store_int.h"

void mts_report_store_close(struct mts_report_store *s)
{
	if (s)
		s->ops->close(s);
}

int mts_report_store_ingest(struct mts_report_store *s, const struct mts_report *r,
			    const char *raw, size_t raw_len, const char *source, int64_t now,
			    int64_t *id, struct mts_error *err)
{
	int64_t found = 0;
	int rc = s->ops->ingest(s, r, raw, raw_len, source, now, &found, err);
	if (id)
		*id = found;
	if (rc != MTS_INGEST_DUPLICATE)
		return rc;
	/* The same key is not yet the same report: compare what both say, as
	 * the store gives them back, in the same way for every backend. */
	struct mts_report *stored;
	rc = mts_report_store_get(s, found, &stored, err);
	if (rc < 0)
		return rc;
	bool same = mts_report_same(stored, r);
	mts_report_free(stored);
	return same ? MTS_INGEST_DUPLICATE : MTS_INGEST_CONFLICT;
}

int mts_report_store_quarantine(struct mts_report_store *s, const char *source,
				const char *reason, const char *raw, size_t raw_len, int64_t now,
				struct mts_error *err)
{
	return s->ops->quarantine(s, source, reason, raw, raw_len, now, err);
}

int mts_report_store_list(struct mts_report_store *s, const char *domain,
			  struct mts_report_row **rows, size_t *count, struct mts_error *err)
{
	return s->ops->list(s, domain, rows, count, err);
}

void mts_report_rows_free(struct mts_report_row *rows, size_t count)
{
	for (size_t i = 0; rows && i < count; i++) {
		free(rows[i].organization_name);
		free(rows[i].report_id);
		free(rows[i].domains);
	}
	free(rows);
}

int mts_report_store_get(struct mts_report_store *s, int64_t id, struct mts_report **out,
			 struct mts_error *err)
{
	return s->ops->get(s, id, out, err);
}

static int by_start(const void *a, const void *b)
{
	const struct mts_report_row *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Built on list and get unless the backend has a faster walk; either way
 * each report comes rebuilt as get rebuilds it, and a summary sorts what
 * it gathers, so it cannot depend on the backend. */
int mts_report_store_each(struct mts_report_store *s, int64_t since, int64_t until,
			  int (*fn)(const struct mts_report *r, void *ctx), void *ctx,
			  struct mts_error *err)
{
	if (s->ops->each)
		return s->ops->each(s, since, until, fn, ctx, err);
	struct mts_report_row *rows;
	size_t count;
	int rc = mts_report_store_list(s, NULL, &rows, &count, err);
	if (rc < 0)
		return rc;
	if (count)
		qsort(rows, count, sizeof(*rows), by_start);
	for (size_t i = 0; !rc && i < count; i++) {
		if ((rows[i].start == 0 && rows[i].end == 0) || rows[i].start < since ||
		    rows[i].start >= until)
			continue;
		struct mts_report *r;
		rc = mts_report_store_get(s, rows[i].id, &r, err);
		if (rc == MTS_ENOTFOUND) { /* deleted meanwhile */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (r->dates_valid)
			rc = fn(r, ctx);
		mts_report_free(r);
	}
	mts_report_rows_free(rows, count);
	return rc;
}

int mts_report_store_last_day(struct mts_report_store *s, int64_t *day, struct mts_error *err)
{
	struct mts_report_row *rows;
	size_t count;
	*day = 0;
	int rc = mts_report_store_list(s, NULL, &rows, &count, err);
	if (rc < 0)
		return rc;
	int64_t last = 0;
	bool any = false;
	for (size_t i = 0; i < count; i++) {
		if (rows[i].start == 0 && rows[i].end == 0)
			continue;
		if (!any || rows[i].start > last)
			last = rows[i].start;
		any = true;
	}
	mts_report_rows_free(rows, count);
	if (any) {
		int64_t rem = last % 86400;
		*day = last - (rem < 0 ? rem + 86400 : rem);
	}
	return 0;
}
