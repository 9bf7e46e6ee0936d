/* report_store_open.c - open a report store by URL: the table of schemes
 * and their backends (see report_store.h). A backend left out of the build
 * (MTS_HAVE_PG) is named in the error, not unknown. */
#include <string.h>

#include "core/text_int.h"
#include "io/report_store_int.h"
#include "mtasts/version.h"

/* URL schemes and their backends; libpq takes both of its schemes. */
static const struct {
	const char *scheme;
	const struct mts_report_store_ops *ops; /* NULL: not in this build */
} backends[] = {
	{"sqlite", &mts_report_store_sqlite_ops},
#if MTS_HAVE_PG
	{"postgresql", &mts_report_store_pg_ops},
	{"postgres", &mts_report_store_pg_ops},
#else
	{"postgresql", NULL},
	{"postgres", NULL},
#endif
};

int mts_report_store_open(const char *url, struct mts_report_store **out, struct mts_error *err)
{
	*out = NULL;
	char shown[256]; /* a URL in a message never shows its password */
	mts_redact_url(url, shown, sizeof(shown));
	const char *sep = strstr(url, "://");
	if (!sep)
		return mts_error_set(err, MTS_EUSAGE,
				     "store '%s': expected a URL such as sqlite:///path/db or "
				     "postgresql://host/db",
				     shown);
	size_t scheme_len = (size_t)(sep - url);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strlen(backends[i].scheme) == scheme_len &&
		    strncmp(url, backends[i].scheme, scheme_len) == 0) {
			if (!backends[i].ops)
				return mts_error_set(err, MTS_EUSAGE,
						     "store '%s': this mtasts was built without "
						     "PostgreSQL support",
						     shown);
			return backends[i].ops->open(sep + 3, out, err);
		}
	return mts_error_set(err, MTS_EUSAGE, "store '%s': unsupported scheme '%.*s'", shown,
			     (int)(scheme_len > 40 ? 40 : scheme_len), url);
}
