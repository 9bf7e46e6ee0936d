/* report_store.c - choose a report store backend by URL (see include/mtasts/report_store.h). */
#include <stdlib.h>
#include <string.h>

#include "mtasts/report_store.h"

static const struct mts_report_store_ops *const backends[] = {
	&mts_report_store_sqlite_ops,
};

int mts_report_store_open(const char *url, struct mts_report_store **out, struct mts_error *err)
{
	*out = NULL;
	const char *sep = strstr(url, "://");
	if (!sep)
		return mts_error_set(err, MTS_EUSAGE,
				     "store '%.200s': expected a URL such as sqlite:///path/db", url);
	size_t scheme_len = (size_t)(sep - url);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strlen(backends[i]->scheme) == scheme_len &&
		    strncmp(url, backends[i]->scheme, scheme_len) == 0)
			return backends[i]->open(sep + 3, out, err);
	return mts_error_set(err, MTS_EUSAGE, "store '%.200s': unsupported scheme '%.*s'", url,
			     (int)(scheme_len > 40 ? 40 : scheme_len), url);
}

void mts_report_store_close(struct mts_report_store *s)
{
	if (s)
		s->ops->close(s);
}

int mts_report_store_ingest(struct mts_report_store *s, const struct mts_report *r,
			    const char *raw, size_t raw_len, const char *source, int64_t now,
			    int64_t *id, struct mts_error *err)
{
	return s->ops->ingest(s, r, raw, raw_len, source, now, id, err);
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
