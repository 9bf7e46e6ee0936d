/* cache_memory.c - the memory: cache backend, a bounded LRU (see cache.h).
 *
 * A chained hash table for lookups and a doubly linked list in recency order;
 * when full, a put evicts the least recently used entry. Nothing is shared
 * across processes and nothing survives exit.
 *
 * An entry is one allocation holding its strings by length (domain, id,
 * last reason, policy body one after the other), not the fixed buffers of
 * struct mts_cache_entry: a resolver keeps hundreds of thousands of them.
 *
 * A walk goes through the buckets in index order (its position is the next
 * bucket), without touching the recency order: walking is not using. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/cache_int.h"

#define MAX_BUCKETS (1u << 20)

struct node {
	struct node *hash_next;
	struct node *lru_prev, *lru_next; /* head = most recently used */
	long long fetched_at, expires_at, last_attempt, last_failure;
	unsigned failures;
	int last_result;
	uint32_t policy_len;
	uint16_t domain_len, reason_len;
	uint8_t id_len;
	bool has_policy;
	char data[];                      /* domain NUL id reason policy */
};

static const char *node_domain(const struct node *n) { return n->data; }
static const char *node_id(const struct node *n) { return n->data + n->domain_len + 1; }
static const char *node_reason(const struct node *n) { return node_id(n) + n->id_len; }
static const char *node_policy(const struct node *n) { return node_reason(n) + n->reason_len; }

static struct node *node_new(const struct mts_cache_entry *e)
{
	size_t dl = strnlen(e->domain, sizeof(e->domain) - 1);
	size_t il = strnlen(e->id, sizeof(e->id) - 1);
	size_t rl = strnlen(e->last_reason, sizeof(e->last_reason) - 1);
	size_t pl = e->policy ? e->policy_len : 0;
	if (pl > UINT32_MAX)
		return NULL;
	struct node *n = malloc(sizeof(*n) + dl + 1 + il + rl + pl);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->fetched_at = e->fetched_at;
	n->expires_at = e->expires_at;
	n->last_attempt = e->last_attempt;
	n->last_failure = e->last_failure;
	n->failures = e->failures;
	n->last_result = e->last_result;
	n->domain_len = (uint16_t)dl;
	n->id_len = (uint8_t)il;
	n->reason_len = (uint16_t)rl;
	n->policy_len = (uint32_t)pl;
	n->has_policy = e->policy != NULL;
	char *d = n->data;
	memcpy(d, e->domain, dl);
	d[dl] = '\0';
	memcpy(d + dl + 1, e->id, il);
	memcpy(d + dl + 1 + il, e->last_reason, rl);
	if (pl)
		memcpy(d + dl + 1 + il + rl, e->policy, pl);
	return n;
}

static int node_entry(const struct node *n, struct mts_cache_entry *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->domain, node_domain(n), n->domain_len);
	memcpy(out->id, node_id(n), n->id_len);
	memcpy(out->last_reason, node_reason(n), n->reason_len);
	out->fetched_at = n->fetched_at;
	out->expires_at = n->expires_at;
	out->last_attempt = n->last_attempt;
	out->last_failure = n->last_failure;
	out->failures = n->failures;
	out->last_result = n->last_result;
	if (n->has_policy) {
		out->policy = malloc((size_t)n->policy_len + 1);
		if (!out->policy)
			return MTS_ENOMEM;
		memcpy(out->policy, node_policy(n), n->policy_len);
		out->policy[n->policy_len] = '\0';
		out->policy_len = n->policy_len;
	}
	return 0;
}

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
	while (*slot && strcmp(node_domain(*slot), domain) != 0)
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
	if (node_entry(n, out) < 0)
		return mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
	return 0;
}

static int memory_put(struct mts_cache *c, const struct mts_cache_entry *e, struct mts_error *err)
{
	struct memory_cache *m = (struct memory_cache *)c;
	struct node *n = node_new(e);
	if (!n)
		return mts_error_set(err, MTS_ENOMEM, "memory cache: out of memory");
	struct node **slot = slot_of(m, node_domain(n));
	if (*slot) { /* replace in place: same chain position, most recently used */
		struct node *old = *slot;
		n->hash_next = old->hash_next;
		*slot = n;
		lru_unlink(m, old);
		free(old);
		lru_push_front(m, n);
		return 0;
	}
	if (m->count >= m->max_entries && m->lru_tail)
		remove_node(m, slot_of(m, node_domain(m->lru_tail)));
	/* The eviction may have changed the chain: look the slot up again. */
	slot = slot_of(m, node_domain(n));
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

/* Empty buckets examined per walk call, per entry of the batch. */
#define WALK_BUCKETS_PER_ENTRY 64

static int memory_each(struct mts_cache *c, struct mts_cache_walk *w, size_t batch,
		       mts_cache_each_fn fn, void *arg, struct mts_error *err)
{
	struct memory_cache *m = (struct memory_cache *)c;
	char *end;
	unsigned long long start = strtoull(w->pos, &end, 10);
	if (*end || start > m->bucket_count)
		return mts_error_set(err, MTS_EUSAGE, "memory cache: bad walk position");
	if (m->count == 0) {
		w->done = true;
		return 0;
	}
	size_t b = (size_t)start, last = b + batch * WALK_BUCKETS_PER_ENTRY, given = 0;
	for (; b < m->bucket_count && b < last && given < batch; b++) {
		for (const struct node *n = m->buckets[b]; n; n = n->hash_next) {
			struct mts_cache_entry e;
			int rc = node_entry(n, &e);
			if (rc == 0)
				rc = fn(&e, arg);
			mts_cache_entry_clear(&e);
			if (rc < 0) {
				snprintf(w->pos, sizeof(w->pos), "%zu", b);
				if (rc == MTS_ENOMEM)
					mts_error_set(err, rc, "memory cache: out of memory");
				return rc;
			}
			given++;
			w->visited++;
		}
	}
	snprintf(w->pos, sizeof(w->pos), "%zu", b);
	w->done = b >= m->bucket_count;
	return 0;
}

static void memory_close(struct mts_cache *c)
{
	struct memory_cache *m = (struct memory_cache *)c;
	while (m->lru_head)
		remove_node(m, slot_of(m, node_domain(m->lru_head)));
	free(m->buckets);
	free(m);
}

static const struct mts_cache_ops memory_ops = {
	.scheme = "memory",
	.get = memory_get,
	.put = memory_put,
	.del = memory_del,
	.each = memory_each,
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
