/* cache_entry.c - what every cache backend shares: entries (copy, clear) and
 * the checks and counters of a walk (see cache.h and cache_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/cache_int.h"

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
