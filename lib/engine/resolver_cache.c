/* resolver_cache.c - the answer cache of `mtasts resolver`: the socketmap
 * answers given lately, by zone and domain, reused for cache_grace seconds
 * without any lookup (see resolver_int.h). A hash table of ANSWER_BUCKETS
 * chains and a list from oldest to newest, for eviction and `ctl dump`. */
#include <stdlib.h>
#include <string.h>

#include "engine/resolver_int.h"

#define ANSWER_ENTRIES_MIN 1000

static uint32_t hash_key(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* "zone '\t' domain" in key (RESOLVER_KEY_MAX bytes); its length. */
static size_t make_key(char *key, const char *zone, const char *domain)
{
	size_t zl = strnlen(zone, MTS_RESOLVER_NAME_MAX), dl = strnlen(domain, MTS_DNAME_MAX);
	memcpy(key, zone, zl);
	key[zl] = '\t';
	memcpy(key + zl + 1, domain, dl);
	key[zl + 1 + dl] = '\0';
	return zl + 1 + dl;
}

static struct answer **answer_slot(struct mts_resolver *r, const char *key, size_t len,
				   uint32_t hash)
{
	struct answer **slot = &r->buckets[hash % ANSWER_BUCKETS];
	while (*slot && ((*slot)->hash != hash || (*slot)->key_len != len ||
			 memcmp((*slot)->key, key, len) != 0))
		slot = &(*slot)->next_in_bucket;
	return slot;
}

void resolver_answer_remove(struct mts_resolver *r, struct answer *a)
{
	struct answer **slot = answer_slot(r, a->key, a->key_len, a->hash);
	if (*slot == a)
		*slot = a->next_in_bucket;
	if (a->older)
		a->older->newer = a->newer;
	else
		r->oldest = a->newer;
	if (a->newer)
		a->newer->older = a->older;
	else
		r->newest = a->older;
	r->answer_count--;
	free(a);
}

static size_t answer_max(const struct mts_resolver *r)
{
	return r->cfg.cache_size > ANSWER_ENTRIES_MIN ? r->cfg.cache_size : ANSWER_ENTRIES_MIN;
}

void resolver_answer_store(struct mts_resolver *r, const char *zone, const char *domain,
			   const char *text, size_t len, enum mts_resolver_kind kind, long long now,
			   long long expires_at)
{
	char key[RESOLVER_KEY_MAX];
	size_t key_len = make_key(key, zone, domain);
	uint32_t hash = hash_key(key, key_len);
	struct answer **slot = answer_slot(r, key, key_len, hash);
	if (*slot)
		resolver_answer_remove(r, *slot);
	while (r->answer_count >= answer_max(r) && r->oldest)
		resolver_answer_remove(r, r->oldest);
	struct answer *a = malloc(sizeof(*a) + key_len + 1 + len + 1);
	if (!a)
		return;
	memset(a, 0, sizeof(*a));
	memcpy(a->key, key, key_len + 1);
	char *copy = a->key + key_len + 1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	a->key_len = key_len;
	a->hash = hash;
	a->domain = strchr(a->key, '\t') + 1;
	a->text = copy;
	a->len = len;
	a->kind = kind;
	a->made_at = now;
	a->expires_at = expires_at;
	slot = answer_slot(r, key, key_len, hash);
	a->next_in_bucket = *slot;
	*slot = a;
	a->older = r->newest;
	if (r->newest)
		r->newest->newer = a;
	else
		r->oldest = a;
	r->newest = a;
	r->answer_count++;
}

struct answer *resolver_answer_find(struct mts_resolver *r, const char *zone, const char *domain)
{
	char key[RESOLVER_KEY_MAX];
	size_t key_len = make_key(key, zone, domain);
	return *answer_slot(r, key, key_len, hash_key(key, key_len));
}

struct answer *resolver_answer_fresh(struct mts_resolver *r, const char *zone,
				     const char *domain, long long now)
{
	struct answer *a = resolver_answer_find(r, zone, domain);
	if (!a)
		return NULL;
	if ((double)(now - a->made_at) >= r->cfg.cache_grace ||
	    (a->expires_at && now >= a->expires_at))
		return NULL;
	return a;
}

void resolver_answers_clear(struct mts_resolver *r)
{
	while (r->oldest)
		resolver_answer_remove(r, r->oldest);
}
