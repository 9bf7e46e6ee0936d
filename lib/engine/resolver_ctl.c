/* resolver_ctl.c - the control socket of `mtasts resolver` (control_path,
 * spoken by `mtasts resolver ctl`): its own listener and connection ops;
 * "COMMAND [ARG]" requests in the same netstring framing as the socketmap
 * (resolver_conn.c), answered in JSON. See docs/resolver.md for the
 * commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <event2/listener.h>

#include "mtasts/cache.h"
#include "core/netstring_int.h"
#include "core/text_int.h"
#include "engine/resolver_int.h"

#define CTL_ANSWER_MAX (4 * 1024 * 1024)
#define CTL_REQUEST_MAX 4096       /* bytes of one control request */
#define CTL_PAGE_ENTRIES 1000      /* entries of one export or purge-all page */
#define CTL_PAGE_BYTES (512 * 1024) /* policy bytes of one export page */
#define CTL_PAGE_BATCHES 256       /* cache calls for one page */
#define CTL_WALK_BATCH 16          /* entries per cache call: 16 policies of 64 KiB fit */

void resolver_complete_json(struct request *q, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!text) {
		resolver_complete_str(q, "{\"error\":\"out of memory\"}");
		return;
	}
	if (strlen(text) > CTL_ANSWER_MAX)
		resolver_complete_str(q, "{\"error\":\"answer too long\"}");
	else
		resolver_complete_str(q, text);
	free(text);
}

json_t *resolver_result_json(const struct mts_discovery_result *res)
{
	json_t *policy = json_null();
	if (res->policy) {
		json_t *mx = json_array();
		for (size_t i = 0; i < res->policy->mx_count; i++)
			json_array_append_new(mx, json_string(res->policy->mx[i]));
		policy = json_pack("{s:s, s:s, s:I, s:o, s:I, s:I}", "id", res->policy_id, "mode",
				   mts_mode_name(res->policy->mode), "max_age",
				   (json_int_t)res->policy->max_age, "mx", mx, "fetched_at",
				   (json_int_t)res->fetched_at, "expires_at",
				   (json_int_t)res->expires_at);
	}
	return json_pack("{s:s, s:s, s:s, s:o}", "outcome",
			 mts_discovery_outcome_name(res->outcome), "source",
			 mts_policy_source_name(res->source), "reason", res->reason, "policy",
			 policy);
}

static json_t *entry_json(const struct mts_cache_entry *e)
{
	json_t *policy = e->policy ? json_stringn(e->policy, e->policy_len) : json_null();
	if (!policy) /* not UTF-8: not one we fetched */
		return NULL;
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s}", "domain", e->domain, "id",
			 e->id, "policy", policy, "fetched_at", (json_int_t)e->fetched_at,
			 "expires_at", (json_int_t)e->expires_at, "last_failure",
			 (json_int_t)e->last_failure, "failures", (json_int_t)e->failures,
			 "last_reason", e->last_reason);
}

/* ---- pages of a cache walk ----------------------------------------------
 * export and purge all go through the whole cache, which may be shared by
 * a fleet and hold far more than this daemon has seen. One request reads
 * one page (CTL_PAGE_ENTRIES entries or CTL_PAGE_BYTES of policies, at most
 * CTL_PAGE_BATCHES cache calls), so that the loop is never held for long
 * and an answer stays well under CTL_ANSWER_MAX; the answer's "next" (the
 * walk position, hex) asks for the following page, and `mtasts resolver
 * ctl` follows it to the end. */

struct page {
	struct mts_resolver *r;
	json_t *list;                   /* export: the entries */
	char (*domains)[MTS_DNAME_MAX + 1]; /* purge: the domains to delete */
	size_t count, cap, bytes, unlisted;
};

static bool page_full(const struct page *p)
{
	return p->count >= CTL_PAGE_ENTRIES || p->bytes >= CTL_PAGE_BYTES;
}

static int export_entry(const struct mts_cache_entry *e, void *arg)
{
	struct page *p = arg;
	json_t *v = entry_json(e);
	if (!v) {
		p->unlisted++;
		return 0;
	}
	if (json_array_append_new(p->list, v) < 0)
		return MTS_ENOMEM;
	p->count++;
	p->bytes += 256 + 2 * e->policy_len; /* JSON escapes CR LF */
	return 0;
}

static int purge_entry(const struct mts_cache_entry *e, void *arg)
{
	struct page *p = arg;
	if (p->count == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		void *bigger = realloc(p->domains, cap * sizeof(*p->domains));
		if (!bigger)
			return MTS_ENOMEM;
		p->domains = bigger;
		p->cap = cap;
	}
	snprintf(p->domains[p->count++], sizeof(*p->domains), "%s", e->domain);
	return 0;
}

static bool hex_decode(const char *hex, size_t len, char *out, size_t cap)
{
	if (len % 2 || len / 2 >= cap)
		return false;
	for (size_t i = 0; i < len; i += 2) {
		unsigned v = 0;
		for (size_t j = 0; j < 2; j++) {
			char c = hex[i + j];
			unsigned d = c >= '0' && c <= '9'	? (unsigned)(c - '0')
				     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
							    : 16;
			if (d == 16)
				return false;
			v = v * 16 + d;
		}
		if (v == 0)
			return false;
		out[i / 2] = (char)v;
	}
	out[len / 2] = '\0';
	return true;
}

static void hex_encode(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 2 < cap; s++, n += 2)
		snprintf(out + n, 3, "%02x", (unsigned char)*s);
	out[n] = '\0';
}

/* Walk one page from the position cursor (hex, "" at the start) with fn.
 * 0 with *w where the page ended, or a negative code with err set. */
static int walk_page(struct page *p, const char *cursor, size_t cursor_len,
		     mts_cache_each_fn fn, struct mts_cache_walk *w, struct mts_error *err)
{
	memset(w, 0, sizeof(*w));
	if (!hex_decode(cursor, cursor_len, w->pos, sizeof(w->pos)))
		return mts_error_set(err, MTS_EUSAGE, "bad page cursor");
	for (unsigned calls = 0; !w->done && !page_full(p) && calls < CTL_PAGE_BATCHES; calls++) {
		int rc = mts_cache_each(p->r->cache, w, CTL_WALK_BATCH, fn, p, err);
		if (rc == MTS_ENOMEM)
			return mts_error_set(err, rc, "out of memory");
		if (rc < 0)
			return rc;
	}
	p->r->walk_skipped += w->skipped;
	if (w->skipped)
		resolver_log(p->r, LOG_WARNING, "cache walk: %zu entries skipped, the last: %s",
			     w->skipped, w->skip_reason);
	return 0;
}

/* The page's answer fields: "skipped" (entries the cache holds that could
 * not be read or shown) and "next" unless the walk is done. */
static void page_close(json_t *v, const struct page *p, const struct mts_cache_walk *w)
{
	json_object_set_new(v, "skipped", json_integer((json_int_t)(w->skipped + p->unlisted)));
	if (w->skipped)
		json_object_set_new(v, "skip_reason", json_string(w->skip_reason));
	if (!w->done) {
		char next[2 * MTS_CACHE_WALK_POS_MAX + 1];
		hex_encode(w->pos, next, sizeof(next));
		json_object_set_new(v, "next", json_string(next));
	}
}

static void ctl_export(struct request *q, const char *cursor, size_t cursor_len)
{
	struct page p = {.r = q->conn->r, .list = json_array()};
	struct mts_cache_walk w;
	struct mts_error err = {0};
	if (!p.list || walk_page(&p, cursor, cursor_len, export_entry, &w, &err) < 0) {
		json_decref(p.list);
		resolver_complete_json(q, json_pack("{s:s}", "error", err.message));
		return;
	}
	json_t *v = json_pack("{s:o}", "policies", p.list);
	if (v)
		page_close(v, &p, &w);
	resolver_complete_json(q, v);
}

static void ctl_purge_all(struct request *q, const char *cursor, size_t cursor_len)
{
	struct mts_resolver *r = q->conn->r;
	struct page p = {.r = r};
	struct mts_cache_walk w;
	struct mts_error err = {0};
	if (cursor_len == 0)
		resolver_answers_clear(r);
	if (walk_page(&p, cursor, cursor_len, purge_entry, &w, &err) < 0) {
		free(p.domains);
		resolver_complete_json(q, json_pack("{s:s}", "error", err.message));
		return;
	}
	size_t purged = 0;
	for (size_t i = 0; i < p.count; i++)
		if (mts_cache_delete(r->cache, p.domains[i], &err) == 0)
			purged++;
	free(p.domains);
	resolver_log(r, LOG_NOTICE, "purge all: %zu cached policies removed%s", purged,
		     w.done ? "" : " (more follow)");
	json_t *v = json_pack("{s:I}", "purged", (json_int_t)purged);
	if (v)
		page_close(v, &p, &w);
	resolver_complete_json(q, v);
}

/* One control request: "COMMAND [ARG]". */
static void ctl_command(struct request *q, const char *cmd, size_t cmd_len, const char *arg,
			size_t arg_len)
{
	struct mts_resolver *r = q->conn->r;
	long long now = resolver_now(r);
	char word[16] = "";
	if (cmd_len < sizeof(word))
		memcpy(word, cmd, cmd_len);
	snprintf(q->command, sizeof(q->command), "%s", word);
	if (strcmp(word, "query") == 0) {
		/* "query DOMAIN" or "query ZONE DOMAIN": always a fresh lookup. */
		const char *sp = memchr(arg, ' ', arg_len);
		const char *zone = "", *key = arg;
		size_t zone_len = 0, key_len = arg_len;
		if (sp) {
			zone = arg;
			zone_len = (size_t)(sp - arg);
			key = sp + 1;
			key_len = arg_len - zone_len - 1;
		}
		q->zone = *mts_resolver_zone_find(&r->cfg, zone, zone_len);
		enum mts_resolver_key_kind k = mts_resolver_key(key, key_len, q->domain);
		if (k != MTS_RESOLVER_KEY_DOMAIN) {
			resolver_complete_json(
			    q, json_pack("{s:s%, s:s}", "domain", key, key_len, "answer",
					 k == MTS_RESOLVER_KEY_PERM ? "PERM unusable key" : "NOTFOUND "));
			return;
		}
		resolver_start_lookup(q);
		return;
	}
	if (strcmp(word, "dump") == 0) {
		json_t *list = json_array();
		for (struct answer *a = r->newest; a; a = a->older)
			json_array_append_new(
				list, json_pack("{s:s%, s:s, s:s, s:s%, s:I, s:I}", "zone", a->key,
						(size_t)(a->domain - a->key - 1), "domain",
						a->domain, "kind", mts_resolver_kind_name(a->kind),
						"answer", a->text, a->len, "age",
						(json_int_t)(now - a->made_at), "expires_at",
						(json_int_t)a->expires_at));
		resolver_complete_json(q, json_pack("{s:o}", "answers", list));
		return;
	}
	if (strcmp(word, "export") == 0) {
		ctl_export(q, arg, arg_len); /* "export [CURSOR]" */
		return;
	}
	if (strcmp(word, "purge") == 0) {
		/* "purge DOMAIN", or "purge all [CURSOR]" */
		char domain[MTS_DNAME_MAX + 1] = "";
		if (arg_len >= 3 && memcmp(arg, "all", 3) == 0 && (arg_len == 3 || arg[3] == ' ')) {
			size_t skip = arg_len > 3 ? 4 : 3;
			ctl_purge_all(q, arg + skip, arg_len - skip);
			return;
		}
		if (mts_tls_policy_key(arg, arg_len, domain) != MTS_TLS_KEY_DOMAIN) {
			resolver_complete_json(
			    q, json_pack("{s:s}", "error", "purge DOMAIN or purge all"));
			return;
		}
		struct mts_error err = {0};
		for (struct answer *a = r->oldest, *next; a; a = next) {
			next = a->newer;
			if (strcmp(a->domain, domain) == 0)
				resolver_answer_remove(r, a);
		}
		size_t purged = mts_cache_delete(r->cache, domain, &err) == 0;
		resolver_log(r, LOG_NOTICE, "purge %s: %zu cached policies removed", domain, purged);
		resolver_complete_json(q, json_pack("{s:I}", "purged", (json_int_t)purged));
		return;
	}
	if (strcmp(word, "stats") == 0) {
		resolver_complete_json(
		    q, json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}}",
				 "requests", (json_int_t)r->requests, "control_requests",
				 (json_int_t)r->ctl_requests, "cache_hits", (json_int_t)r->cache_hits,
				 "timeouts", (json_int_t)r->timeouts, "connections",
				 (json_int_t)r->conn_count, "answers", "policy",
				 (json_int_t)r->counters[MTS_ANSWER_POLICY], "notfound",
				 (json_int_t)r->counters[MTS_ANSWER_NOTFOUND], "temp",
				 (json_int_t)r->counters[MTS_ANSWER_TEMP], "dane",
				 (json_int_t)r->counters[MTS_ANSWER_DANE], "perm",
				 (json_int_t)r->counters[MTS_ANSWER_PERM]));
		return;
	}
	resolver_complete_json(q, json_pack("{s:s}", "error",
				   "unknown command (query, dump, export, purge, stats)"));
}

/* ---- the control connection's ops ------------------------------------- */

static void ctl_handle(struct conn *c, const char *payload, size_t len)
{
	struct request *q = resolver_request_new(c);
	if (!q)
		return;
	c->r->ctl_requests++; /* not among the socketmap requests */
	const char *name, *key;
	size_t name_len, key_len;
	if (mts_socketmap_split(payload, len, &name, &name_len, &key, &key_len) < 0) {
		if (len > 0 && !memchr(payload, ' ', len))
			ctl_command(q, payload, len, "", 0);
		else
			resolver_complete_str(q, "PERM expected COMMAND [ARG]");
		return;
	}
	ctl_command(q, name, name_len, key, key_len);
}

/* Plain text: protocol errors, failures to start a lookup. Not counted
 * among the socketmap answers. */
static void ctl_reply(struct request *q, const char *text, size_t len, enum mts_resolver_kind kind)
{
	resolver_complete(q, text, len);
}

/* The end of "query": the discovery result when there is one (else DANE's
 * answer or a timeout), and the answer Postfix would get. */
static void ctl_result(struct request *q, const struct mts_discovery_result *res,
		       const char *text, size_t len, enum mts_resolver_kind kind)
{
	if (!res) {
		resolver_complete_json(q, json_pack("{s:s, s:s%}", "domain", q->domain, "answer",
						    text, len));
		return;
	}
	json_t *v = resolver_result_json(res);
	json_object_set_new(v, "domain", json_string(q->domain));
	json_object_set_new(v, "zone", json_string(q->zone.name));
	json_object_set_new(v, "answer", json_stringn(text, len));
	resolver_complete_json(q, v);
}

static size_t ctl_max_request(const struct mts_resolver *r)
{
	return CTL_REQUEST_MAX;
}

static const struct conn_ops ctl_ops = {
	.max_request = ctl_max_request,
	.handle = ctl_handle,
	.reply = ctl_reply,
	.result = ctl_result,
	.cached_on_timeout = false, /* "query" reports the timeout */
};

static void on_accept_control(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int len, void *arg)
{
	struct mts_resolver *r = arg;
	resolver_accept(r, fd, &ctl_ops, &r->ctl);
}

int resolver_ctl_listen(struct mts_resolver *r, struct mts_error *err)
{
	r->ctl.ev = resolver_listen_unix(r, r->cfg.control_path, 0600, on_accept_control, err);
	if (!r->ctl.ev)
		return err ? err->code : MTS_EIO;
	snprintf(r->control_path, sizeof(r->control_path), "%s", r->cfg.control_path);
	return 0;
}
