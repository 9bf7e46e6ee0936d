/*
 * report_store.h - where received TLS reports are kept: one interface,
 * backends chosen by URL: sqlite:///var/lib/mtasts/reports.db, or
 * postgresql://user@host/db (postgres:// too; libpq's URI syntax) for a
 * server that several machines share.
 *
 * A store keeps each report normalised (report, policies, failure details,
 * findings) beside its raw body, recognises a report sent twice by
 * (organization-name, report-id) and keeps the first copy (a second copy
 * that says something else is a conflict for the quarantine), and puts inputs
 * that are not reports in a quarantine with the reason. Each ingestion is
 * one transaction: a crash leaves a report wholly stored or not at all.
 * Schemas are versioned and migrated on open.
 *
 * Everything returned is owned by the caller (free functions below). This
 * module does I/O.
 */
#ifndef MTASTS_REPORT_STORE_H
#define MTASTS_REPORT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mtasts/error.h"
#include "mtasts/report.h"
#include "mtasts/types.h"

MTS_BEGIN_DECLS

#define MTS_REPORT_STORE_ENV "MTASTS_STORE"
#define MTS_REPORT_STORE_DEFAULT "sqlite://./mtasts-reports.db"
#define MTS_REPORT_STORE_BUSY_MS 10000 /* wait this long for another writer */
#define MTS_REPORT_STORE_PG_CONNECT_S 10 /* PostgreSQL connect timeout, unless the URL sets one */
#define MTS_REPORT_STORE_PG_STATEMENT_MS 60000 /* one statement at most */
/* Bodies kept in the quarantine, all rows together: past it a row keeps
 * the source and reason only, so that a sender of junk cannot fill the
 * disk. */
#define MTS_REPORT_STORE_QUARANTINE_MAX_BYTES (256ull << 20)
#define MTS_REPORT_STORE_QUARANTINE_FULL " (body not kept: the quarantine holds 256 MiB of bodies)"

enum mts_ingest_result {
	MTS_INGEST_STORED = 0,
	MTS_INGEST_DUPLICATE = 1,
	MTS_INGEST_CONFLICT = 2, /* same organization and report-id, other content */
};

/* One line of a listing. */
struct mts_report_row {
	int64_t id;
	char *organization_name, *report_id;
	int64_t start, end; /* 0 when the report's dates were invalid */
	char *domains;	    /* the policy domains, comma-separated, sorted */
	uint64_t successful, failed;
	size_t finding_count;
	int64_t received_at;
};

struct mts_report_store;

/* An open store (opaque; its backend is inside the library). */
/* Open (creating and migrating as needed) the store at url. Returns 0, or
 * MTS_EUSAGE for an unknown scheme, MTS_ESTORE, MTS_ENOMEM. */
int mts_report_store_open(const char *url, struct mts_report_store **out, struct mts_error *err);
void mts_report_store_close(struct mts_report_store *s);

/* Store a parsed report, its raw body and where it came from (a file name,
 * "<stdin>", a message id). Returns MTS_INGEST_STORED or MTS_INGEST_DUPLICATE
 * with *id (may be NULL) the stored report's id, or MTS_ESTORE/MTS_ENOMEM.
 * A report whose (organization-name, report-id) is stored already is a
 * duplicate when it says the same (mts_report_same()), else
 * MTS_INGEST_CONFLICT with *id the stored one: nothing is stored, and the
 * caller quarantines it (the first copy must not be taken as the truth
 * silently, nor replaced). */
int mts_report_store_ingest(struct mts_report_store *s, const struct mts_report *r,
			    const char *raw, size_t raw_len, const char *source, int64_t now,
			    int64_t *id, struct mts_error *err);
/* Keep an input that is not a report, with the reason. raw may be NULL;
 * it is not kept (and the reason says so) when the bodies already in the
 * quarantine and it would pass MTS_REPORT_STORE_QUARANTINE_MAX_BYTES. */
int mts_report_store_quarantine(struct mts_report_store *s, const char *source,
				const char *reason, const char *raw, size_t raw_len, int64_t now,
				struct mts_error *err);
/* Reports, newest first; domain (may be NULL) keeps those with a policy for it. */
int mts_report_store_list(struct mts_report_store *s, const char *domain,
			  struct mts_report_row **rows, size_t *count, struct mts_error *err);
void mts_report_rows_free(struct mts_report_row *rows, size_t count);
/* One report rebuilt from the store, findings included; MTS_ENOTFOUND. */
int mts_report_store_get(struct mts_report_store *s, int64_t id, struct mts_report **out,
			 struct mts_error *err);

/* Call fn for every stored report whose date range starts in [since, until)
 * (Unix seconds), rebuilt as by mts_report_store_get(), oldest first; a
 * report with invalid dates is skipped. fn returns 0 to go on; anything
 * else stops the walk and is returned. */
int mts_report_store_each(struct mts_report_store *s, int64_t since, int64_t until,
			  int (*fn)(const struct mts_report *r, void *ctx), void *ctx,
			  struct mts_error *err);
/* The first day (Unix seconds at 00:00 UTC) of the newest dated report, or
 * 0 when there is none. */
int mts_report_store_last_day(struct mts_report_store *s, int64_t *day, struct mts_error *err);

MTS_END_DECLS

#endif
