/* cache.c - the calls of a policy cache, checked and dispatched to its
 * backend's vtable (see cache.h; cache_open.c chooses the backend). */
#include <string.h>

#include "io/cache_int.h"

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
