/* resolver_ctl.c - the control socket of `mtasts resolver` (control_path,
 * spoken by `mtasts resolver ctl`): "COMMAND [ARG]" requests in the same
 * netstring framing as the socketmap, answered in JSON. See
 * docs/resolver.md for the commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "mtasts/cache.h"
#include "mtasts/netstring.h"
#include "mtasts/text.h"
#include "resolver_int.h"

#define CTL_ANSWER_MAX (4 * 1024 * 1024)

void resolver_complete_json(struct request *q, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!text) {
		resolver_complete_str(q, "{\"error\":\"out of memory\"}", MTS_ANSWER_PERM);
		return;
	}
	if (strlen(text) > CTL_ANSWER_MAX)
		resolver_complete_str(q, "{\"error\":\"answer too long\"}", MTS_ANSWER_PERM);
	else
		resolver_complete_str(q, text, MTS_ANSWER_POLICY);
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

static json_t *entry_json(struct mts_resolver *r, const char *domain)
{
	struct mts_cache_entry e;
	struct mts_error err = {0};
	if (mts_cache_get(r->cache, domain, &e, &err) < 0)
		return NULL;
	json_t *v = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s}", "domain", e.domain, "id",
			      e.id, "policy",
			      e.policy ? json_stringn(e.policy, e.policy_len) : json_null(),
			      "fetched_at", (json_int_t)e.fetched_at, "expires_at",
			      (json_int_t)e.expires_at, "last_failure", (json_int_t)e.last_failure,
			      "failures", (json_int_t)e.failures, "last_reason", e.last_reason);
	mts_cache_entry_clear(&e);
	return v;
}

/* Distinct domains of the answer cache, newest first, into a JSON object
 * used as a set. */
static json_t *known_domains(struct mts_resolver *r)
{
	json_t *set = json_object();
	for (struct answer *a = r->newest; a; a = a->older)
		json_object_set_new(set, a->domain, json_true());
	return set;
}

void resolver_ctl_handle(struct request *q, const char *cmd, size_t cmd_len, const char *arg,
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
		if (mts_tls_policy_key(key, key_len, q->domain) != MTS_TLS_KEY_DOMAIN) {
			resolver_complete_json(q, json_pack("{s:s%, s:s}", "domain", key, key_len,
							    "answer", "NOTFOUND "));
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
		json_t *set = known_domains(r), *list = json_array();
		const char *domain;
		json_t *unused;
		json_object_foreach(set, domain, unused) {
			json_t *e = entry_json(r, domain);
			if (e)
				json_array_append_new(list, e);
		}
		json_decref(set);
		resolver_complete_json(q, json_pack("{s:o}", "policies", list));
		return;
	}
	if (strcmp(word, "purge") == 0) {
		char domain[MTS_DNAME_MAX + 1] = "";
		bool all = arg_len == 3 && memcmp(arg, "all", 3) == 0;
		if (!all && mts_tls_policy_key(arg, arg_len, domain) != MTS_TLS_KEY_DOMAIN) {
			resolver_complete_json(
			    q, json_pack("{s:s}", "error", "purge DOMAIN or purge all"));
			return;
		}
		json_t *set = all ? known_domains(r) : json_object();
		if (!all)
			json_object_set_new(set, domain, json_true());
		size_t purged = 0;
		const char *d;
		json_t *unused;
		json_object_foreach(set, d, unused) {
			struct mts_error err = {0};
			for (struct answer *a = r->oldest, *next; a; a = next) {
				next = a->newer;
				if (strcmp(a->domain, d) == 0)
					resolver_answer_remove(r, a);
			}
			if (mts_cache_delete(r->cache, d, &err) == 0)
				purged++;
		}
		json_decref(set);
		resolver_log(r, LOG_NOTICE, "purge %.*s: %zu cached policies removed", (int)arg_len,
			     arg, purged);
		resolver_complete_json(q, json_pack("{s:I}", "purged", (json_int_t)purged));
		return;
	}
	if (strcmp(word, "stats") == 0) {
		resolver_complete_json(
		    q, json_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}}", "requests",
				 (json_int_t)r->requests, "cache_hits", (json_int_t)r->cache_hits,
				 "timeouts", (json_int_t)r->timeouts, "connections",
				 (json_int_t)r->conn_count, "answers", "policy",
				 (json_int_t)r->counters[MTS_ANSWER_POLICY], "notfound",
				 (json_int_t)r->counters[MTS_ANSWER_NOTFOUND], "temp",
				 (json_int_t)r->counters[MTS_ANSWER_TEMP], "failure",
				 (json_int_t)r->counters[MTS_ANSWER_FAILURE], "dane",
				 (json_int_t)r->counters[MTS_ANSWER_DANE]));
		return;
	}
	resolver_complete_json(q, json_pack("{s:s}", "error",
				   "unknown command (query, dump, export, purge, stats)"));
}
