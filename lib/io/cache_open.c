/* cache_open.c - open a policy cache by URL: the table of schemes and the
 * backend each one opens (see cache.h). Backends left out of the build
 * (MTS_HAVE_REDIS, MTS_HAVE_PG) are named in the error, not unknown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/text_int.h"
#include "io/cache_int.h"
#include "mtasts/version.h"

static int parse_max(const char *query, size_t *max, struct mts_error *err)
{
	/* memory: or memory:?max=N */
	if (*query == '\0')
		return 0;
	if (strncmp(query, "?max=", 5) != 0)
		return mts_error_set(err, MTS_EUSAGE, "memory cache: unknown parameter '%s'",
				     query);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(query + 5, &end, 10);
	if (errno || end == query + 5 || *end || query[5] == '-' || v == 0 || v > 100000000ull)
		return mts_error_set(err, MTS_EUSAGE, "memory cache: max must be 1..100000000");
	*max = (size_t)v;
	return 0;
}

static struct mts_cache *open_memory(const char *url, const char *rest, struct mts_error *err)
{
	size_t max = MTS_CACHE_MEMORY_DEFAULT_MAX;
	if (parse_max(rest, &max, err) < 0)
		return NULL;
	return mts_cache_memory_open(max, err);
}

static struct mts_cache *open_sqlite(const char *url, const char *path, struct mts_error *err)
{
	if (path[0] != '/' || path[1] == '\0') {
		mts_error_set(err, MTS_EUSAGE,
			      "sqlite cache URL needs an absolute path: sqlite:///path/to/db");
		return NULL;
	}
	return mts_cache_sqlite_open(path, err);
}

#if MTS_HAVE_REDIS
static struct mts_cache *open_redis(const char *url, const char *rest, struct mts_error *err)
{
	return mts_cache_redis_open(url, err);
}
#endif

#if MTS_HAVE_PG
static struct mts_cache *open_pg(const char *url, const char *rest, struct mts_error *err)
{
	return mts_cache_pg_open(url, err);
}
#endif

/* open(url, the part after the prefix, err); NULL open: not in this build. */
static const struct {
	const char *prefix;
	const char *feature; /* what a build without it lacks */
	struct mts_cache *(*open)(const char *url, const char *rest, struct mts_error *err);
} schemes[] = {
	{"memory:", NULL, open_memory},	  {"sqlite://", NULL, open_sqlite},
#if MTS_HAVE_REDIS
	{"redis://", NULL, open_redis},
#else
	{"redis://", "Redis", NULL},
#endif
#if MTS_HAVE_PG
	{"postgresql://", NULL, open_pg}, {"postgres://", NULL, open_pg},
#else
	{"postgresql://", "PostgreSQL", NULL}, {"postgres://", "PostgreSQL", NULL},
#endif
};

struct mts_cache *mts_cache_open(const char *url, struct mts_error *err)
{
	if (!url) {
		mts_error_set(err, MTS_EUSAGE, "no cache URL");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);
		if (strncmp(url, schemes[i].prefix, n) != 0)
			continue;
		if (!schemes[i].open) {
			mts_error_set(err, MTS_EUSAGE,
				      "%s cache: this mtasts was built without %s support",
				      schemes[i].prefix, schemes[i].feature);
			return NULL;
		}
		return schemes[i].open(url, url + n, err);
	}
	char shown[65]; /* a URL in a message never shows its password */
	mts_error_set(err, MTS_EUSAGE,
		      "unknown cache URL '%s' (memory:, sqlite:///path, redis://host or "
		      "postgresql://host/db)",
		      mts_redact_url(url, shown, sizeof(shown)));
	return NULL;
}
