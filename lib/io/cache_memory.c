/* cache_memory.c - the memory: cache backend, a bounded LRU (see cache.h).
 *
 * A chained hash table for lookups and a doubly linked list in recency order;
 * when full, a put evicts the least recently used entry. Nothing is shared
 * across processes and nothing survives exit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/cache.h"

#define MAX_BUCKETS (1u << 20)

struct node {
	struct mts_cache_entry entry;
	struct node *hash_next;
	struct node *lru_prev, *lru_next; /* head = most recently used */
};

struct memory_cache {
	struct mts_cache base;
	size_t max_entries, count;
	size_t bucket_count;              /* a power of two */
	struct node **buckets;
	struct node *lru_head, *lru_tail;
};

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct node **slot_of(struct memory_cache *m, const char *domain)
{
	struct node **slot = &m->buckets[hash_name(domain) & (m->bucket_count - 1)];
	while (*slot && strcmp((*slot)->entry.domain, domain) != 0)
		slot = &(*slot)->hash_next;
	return slot;
}

static void lru_unlink(struct memory_cache *m, struct node *n)
{
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		m->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		m->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push_front(struct memory_cache *m, struct node *n)
{
	n->lru_prev = NULL;
	n->lru_next = m->lru_head;
	if (m->lru_head)
		m->lru_head->lru_prev = n;
	m->lru_head = n;
	if (!m->lru_tail)
		m->lru_tail = n;
}

static void remove_node(struct memory_cache *m, struct node **slot)
{
	struct node *n = *slot;
	*slot = n->hash_next;
	lru_unlink(m, n);
	mts_cache_entry_clear(&n->entry);
	free(n);
	m->count--;
}

static int memory_get(struct mts_cache *c, const char *domain, struct mts_cache_entry *out,
		      struct mts_error *err)
{
	struct memory_cache *m = (struct memory_cache *)c;
	struct node *n = *slot_of(m, domain);
	if (!n)
		return MTS_ENOTFOUND;
	lru_unlink(m, n);
	lru_push_front(m, n);
	if (mts_cache_entry_copy(out, &n->entry) < 0)
		return mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
	return 0;
}

static int memory_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err)
{
	struct memory_cache *m = (struct memory_cache *)c;
	struct mts_cache_entry copy;
	if (mts_cache_entry_copy(&copy, e) < 0)
		return mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
	struct node **slot = slot_of(m, e->domain);
	if (*slot) {
		mts_cache_entry_clear(&(*slot)->entry);
		(*slot)->entry = copy;
		lru_unlink(m, *slot);
		lru_push_front(m, *slot);
		return 0;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		mts_cache_entry_clear(&copy);
		return mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
	}
	if (m->count >= m->max_entries && m->lru_tail)
		remove_node(m, slot_of(m, m->lru_tail->entry.domain));
	n->entry = copy;
	/* The eviction may have changed the chain: look the slot up again. */
	slot = slot_of(m, e->domain);
	*slot = n;
	lru_push_front(m, n);
	m->count++;
	return 0;
}

static int memory_del(struct mts_cache *c, const char *domain, struct mts_error *err)
{
	struct memory_cache *m = (struct memory_cache *)c;
	struct node **slot = slot_of(m, domain);
	if (*slot)
		remove_node(m, slot);
	return 0;
}

static void memory_close(struct mts_cache *c)
{
	struct memory_cache *m = (struct memory_cache *)c;
	while (m->lru_head)
		remove_node(m, slot_of(m, m->lru_head->entry.domain));
	free(m->buckets);
	free(m);
}

static const struct mts_cache_ops memory_ops = {
	.scheme = "memory",
	.get = memory_get,
	.put = memory_put,
	.del = memory_del,
	.close = memory_close,
};

struct mts_cache *mts_cache_memory_open(size_t max_entries, struct mts_error *err)
{
	struct memory_cache *m = calloc(1, sizeof(*m));
	if (!m) {
		mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
		return NULL;
	}
	m->base.ops = &memory_ops;
	m->max_entries = max_entries ? max_entries : MTS_CACHE_MEMORY_DEFAULT_MAX;
	m->bucket_count = 16;
	while (m->bucket_count < m->max_entries && m->bucket_count < MAX_BUCKETS)
		m->bucket_count <<= 1;
	m->buckets = calloc(m->bucket_count, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
		return NULL;
	}
	return &m->base;
}
