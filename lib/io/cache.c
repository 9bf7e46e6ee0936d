/* cache.c - open a policy cache by URL and dispatch to its backend (see cache.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/cache.h"
#include "mtasts/text.h"

static int parse_max(const char *query, size_t *max, struct mts_error *err)
{
	/* memory: or memory:?max=N */
	if (*query == '\0')
		return 0;
	if (strncmp(query, "?max=", 5) != 0)
		return mts_error_set(err, MTS_EUSAGE, "memory cache: unknown parameter '%s'", query);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(query + 5, &end, 10);
	if (errno || end == query + 5 || *end || query[5] == '-' || v == 0 || v > 100000000ull)
		return mts_error_set(err, MTS_EUSAGE, "memory cache: max must be 1..100000000");
	*max = (size_t)v;
	return 0;
}

struct mts_cache *mts_cache_open(const char *url, struct mts_error *err)
{
	if (!url) {
		mts_error_set(err, MTS_EUSAGE, "no cache URL");
		return NULL;
	}
	if (strncmp(url, "memory:", 7) == 0) {
		size_t max = MTS_CACHE_MEMORY_DEFAULT_MAX;
		if (parse_max(url + 7, &max, err) < 0)
			return NULL;
		return mts_cache_memory_open(max, err);
	}
	if (strncmp(url, "sqlite://", 9) == 0) {
		const char *path = url + 9;
		if (path[0] != '/' || path[1] == '\0') {
			mts_error_set(err, MTS_EUSAGE,
				      "sqlite cache URL needs an absolute path: sqlite:///path/to/db");
			return NULL;
		}
		return mts_cache_sqlite_open(path, err);
	}
	if (strncmp(url, "redis://", 8) == 0)
		return mts_cache_redis_open(url, err);
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
		return mts_cache_pg_open(url, err);
	char shown[65]; /* a URL in a message never shows its password */
	mts_error_set(err, MTS_EUSAGE,
		      "unknown cache URL '%s' (memory:, sqlite:///path, redis://host or "
		      "postgresql://host/db)",
		      mts_redact_url(url, shown, sizeof(shown)));
	return NULL;
}

void mts_cache_close(struct mts_cache *c)
{
	if (c)
		c->ops->close(c);
}

static bool domain_ok(const char *domain)
{
	return domain && *domain && strlen(domain) <= MTS_DNAME_MAX;
}

int mts_cache_get(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		  struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!domain_ok(domain))
		return mts_error_set(err, MTS_EUSAGE, "cache get: bad domain");
	return c->ops->get(c, domain, out, err);
}

int mts_cache_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err)
{
	if (!domain_ok(e->domain))
		return mts_error_set(err, MTS_EUSAGE, "cache put: bad domain");
	if (e->policy_len > 0 && !e->policy)
		return mts_error_set(err, MTS_EUSAGE, "cache put: policy length without body");
	return c->ops->put(c, e, err);
}

int mts_cache_delete(struct mts_cache *c, const char *domain, struct mts_error *err)
{
	if (!domain_ok(domain))
		return mts_error_set(err, MTS_EUSAGE, "cache delete: bad domain");
	return c->ops->del(c, domain, err);
}

int mts_cache_each(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		   mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	if (!fn)
		return mts_error_set(err, MTS_EUSAGE, "cache walk: no callback");
	if (!c->ops->each)
		return mts_error_set(err, MTS_EUSAGE, "%s cache: cannot be walked", c->ops->scheme);
	if (w->done)
		return 0;
	if (batch == 0)
		batch = MTS_CACHE_WALK_BATCH;
	if (batch > MTS_CACHE_WALK_BATCH_MAX)
		batch = MTS_CACHE_WALK_BATCH_MAX;
	w->pos[sizeof(w->pos) - 1] = '\0';
	return c->ops->each(c, w, batch, fn, arg, err);
}

void mts_cache_walk_skip(struct mts_cache_walk *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->skip_reason, sizeof(w->skip_reason), fmt, ap);
	va_end(ap);
	w->skipped++;
}

bool mts_cache_domain_ok(const char *domain, size_t len)
{
	if (len == 0 || len > MTS_DNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)domain[i] <= 0x20 || (unsigned char)domain[i] >= 0x7f)
			return false;
	return true;
}

void mts_cache_entry_clear(struct mts_cache_entry *e)
{
	if (!e)
		return;
	free(e->policy);
	memset(e, 0, sizeof(*e));
}

int mts_cache_entry_copy(struct mts_cache_entry *dst, const struct mts_cache_entry *src)
{
	*dst = *src;
	dst->policy = NULL;
	if (src->policy) {
		dst->policy = malloc(src->policy_len + 1);
		if (!dst->policy)
			return MTS_ENOMEM;
		memcpy(dst->policy, src->policy, src->policy_len);
		dst->policy[src->policy_len] = '\0';
	}
	return 0;
}
