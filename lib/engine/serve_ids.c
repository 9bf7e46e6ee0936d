/* serve_ids.c - published ids in step with served policies (see
 * serve_ids_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "engine/serve_ids_int.h"
#include "io/dns_int.h"

/* One DNS exchange for one domain: an update, or (print mode) a lookup. */
struct job {
	struct mts_serve_ids *ids;
	char name[MTS_DNAME_MAX + 1];
	char id[MTS_STS_ID_MAX + 1]; /* the id published; "" for a deletion */
	struct mts_dns_update *update;
	struct mts_dns_query *query;
	struct job *next;
};

struct mts_serve_ids {
	struct event_base *base;
	struct mts_serve_store *store;
	struct mts_serve_ids_opts opts;
	char zone[MTS_DNAME_MAX + 1], server[96], resolver[96];
	struct mts_dns_update_key key;
	struct mts_dns *dns; /* print mode: made anew each round, so no answer is cached */
	struct printed {
		char name[MTS_DNAME_MAX + 1];
		char id[MTS_STS_ID_MAX + 1];
	} * printed; /* print mode: the change each domain was last told to the operator */
	size_t printed_count;
	struct event *timer;
	struct job *jobs;
	struct mts_serve_ids_stats stats;
};

static void say(struct mts_serve_ids *ids, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct mts_serve_ids *ids, int prio, const char *fmt, ...)
{
	if (!ids->opts.log)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ids->opts.log(prio, line, ids->opts.log_arg);
}

/* Print mode: has the operator been told this change already? Notes it. */
static bool told(struct mts_serve_ids *ids, const char *name, const char *id)
{
	for (size_t i = 0; i < ids->printed_count; i++) {
		if (strcmp(ids->printed[i].name, name) != 0)
			continue;
		if (strcmp(ids->printed[i].id, id) == 0)
			return true;
		snprintf(ids->printed[i].id, sizeof(ids->printed[i].id), "%s", id);
		return false;
	}
	struct printed *g = realloc(ids->printed, (ids->printed_count + 1) * sizeof(*g));
	if (!g)
		return false;
	ids->printed = g;
	snprintf(g[ids->printed_count].name, sizeof(g->name), "%s", name);
	snprintf(g[ids->printed_count].id, sizeof(g->id), "%s", id);
	ids->printed_count++;
	return false;
}

static long long now_utc(void)
{
	return (long long)time(NULL);
}

static bool busy(const struct mts_serve_ids *ids, const char *name)
{
	for (const struct job *j = ids->jobs; j; j = j->next)
		if (strcmp(j->name, name) == 0)
			return true;
	return false;
}

static void job_unlink(struct job *j)
{
	struct job **p = &j->ids->jobs;
	while (*p && *p != j)
		p = &(*p)->next;
	if (*p)
		*p = j->next;
	j->ids->stats.in_flight--;
	free(j);
}

/* Write d over its revision; one retry after re-reading on a conflict is
 * the caller's (the next round). */
static int put(struct mts_serve_ids *ids, struct mts_hosted_domain *d)
{
	struct mts_error err = {0};
	d->updated_at = now_utc();
	int rc = mts_serve_store_put(ids->store, d, &err);
	if (rc == MTS_ECONFLICT)
		ids->stats.conflicts++;
	else if (rc < 0)
		say(ids, LOG_WARNING, "event=store_failed domain=%s reason=\"%s\"", d->name,
		    err.message);
	return rc;
}

/* An exchange ended: the state machine hears it, on a fresh read. */
static void finish(struct job *j, bool ok, const char *why)
{
	struct mts_serve_ids *ids = j->ids;
	long long now = now_utc();
	struct mts_error err = {0};
	for (int attempt = 0; attempt < 3; attempt++) {
		struct mts_hosted_domain d;
		if (mts_serve_store_get(ids->store, j->name, &d, &err) < 0)
			break;
		struct mts_hosted_event ev = {.type = ok ? MTS_HOSTED_EV_UPDATE_OK
							 : MTS_HOSTED_EV_UPDATE_FAILED,
					      .id = j->id};
		int rc = mts_hosted_apply(&d.state, &ev, now, &ids->opts.rules);
		if (rc == 0)
			rc = put(ids, &d);
		mts_hosted_domain_clear(&d);
		if (rc != MTS_ECONFLICT)
			break;
	}
	if (ok && j->id[0]) {
		ids->stats.published++;
		mts_serve_store_history_published(ids->store, j->name, j->id, now, NULL);
		say(ids, LOG_INFO, "event=published domain=%s id=%s", j->name, j->id);
	} else if (ok) {
		ids->stats.deleted++;
		say(ids, LOG_INFO, "event=record_deleted domain=%s", j->name);
	} else {
		say(ids, LOG_WARNING, "event=update_failed domain=%s id=%s reason=\"%s\"", j->name,
		    j->id[0] ? j->id : "(delete)", why);
	}
	job_unlink(j);
}

static void on_update(const struct mts_dns_update_result *res, void *arg)
{
	struct job *j = arg;
	j->update = NULL;
	bool ok = res->status == MTS_DNS_UPDATE_OK;
	j->ids->stats.updates_ok += ok;
	j->ids->stats.updates_failed += !ok;
	char why[320];
	snprintf(why, sizeof(why), "%s%s%s: %s", mts_dns_update_status_name(res->status),
		 res->rcode_name[0] ? " " : "", res->rcode_name, res->message);
	finish(j, ok, why);
}

/* Print mode: is the record there (or gone) yet? Only a match counts. */
static void on_lookup(const struct mts_dns_result *r, void *arg)
{
	struct job *j = arg;
	j->query = NULL;
	struct mts_serve_ids *ids = j->ids;
	bool there = false;
	char want[MTS_STS_ID_MAX + 16];
	snprintf(want, sizeof(want), "v=STSv1; id=%s", j->id);
	if (j->id[0]) {
		for (size_t i = 0; r->status == MTS_DNS_OK && i < r->count; i++)
			there |= r->txt[i].len == strlen(want) &&
				 memcmp(r->txt[i].text, want, r->txt[i].len) == 0;
	} else {
		there = r->status == MTS_DNS_NXDOMAIN || r->status == MTS_DNS_NODATA;
	}
	if (!there) {
		job_unlink(j); /* not yet: look again next round */
		return;
	}
	/* Seen: this is when the update was "sent" and when it succeeded. */
	struct mts_hosted_domain d;
	struct mts_error err = {0};
	if (mts_serve_store_get(ids->store, j->name, &d, &err) == 0) {
		struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_UPDATE_SENT, .id = j->id};
		int rc = mts_hosted_apply(&d.state, &ev, now_utc(), &ids->opts.rules);
		if (rc == 0)
			rc = put(ids, &d);
		mts_hosted_domain_clear(&d);
		if (rc == 0) {
			finish(j, true, "seen in DNS");
			return;
		}
	}
	job_unlink(j);
}

static int change_of(struct mts_serve_ids *ids, const struct mts_hosted_domain *d, const char *id,
		     char *target, char *value, struct mts_dns_update_change *c,
		     const char **values, struct mts_error *err)
{
	struct mts_hosted_names n;
	int rc = mts_hosted_names(d->name, ids->zone, &n, err);
	if (rc < 0)
		return rc;
	memcpy(target, n.sts_target, sizeof(n.sts_target));
	snprintf(value, MTS_STS_ID_MAX + 16, "v=STSv1; id=%s", id);
	values[0] = value;
	*c = (struct mts_dns_update_change){
		.zone = ids->zone,
		.name = target,
		.action = id[0] ? MTS_DNS_UPDATE_SET_TXT : MTS_DNS_UPDATE_DELETE_TXT,
		.ttl = ids->opts.ttl ? ids->opts.ttl : MTS_SERVE_IDS_TTL_DEFAULT,
		.values = id[0] ? values : NULL,
		.value_count = id[0] ? 1 : 0,
	};
	return 0;
}

/* PUBLISH or DELETE: claim the step in the store, then send (update mode),
 * or say what to publish and look (print mode). */
static void start_exchange(struct mts_serve_ids *ids, struct mts_hosted_domain *d, const char *id)
{
	char target[MTS_DNAME_MAX + 1], value[MTS_STS_ID_MAX + 16];
	const char *values[1];
	struct mts_dns_update_change c;
	struct mts_error err = {0};
	if (change_of(ids, d, id, target, value, &c, values, &err) < 0) {
		say(ids, LOG_ERR, "event=bad_record domain=%s reason=\"%s\"", d->name, err.message);
		return;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->ids = ids;
	memcpy(j->name, d->name, sizeof(j->name));
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (ids->opts.print) {
		char text[2048];
		if (!told(ids, d->name, id) &&
		    mts_dns_update_render(&c, MTS_DNS_UPDATE_NSUPDATE, text, sizeof(text), NULL) >
			    0) {
			/* One line per event: the commands joined by "; ". */
			for (char *p = text; (p = strchr(p, '\n'));)
				*p = p[1] ? ';' : '\0';
			say(ids, LOG_NOTICE, "event=publish_by_hand domain=%s nsupdate=\"%s\"",
			    d->name, text);
		}
		j->query = mts_dns_lookup(ids->dns, target, MTS_DNS_TXT, on_lookup, j, &err);
		if (!j->query) {
			free(j);
			return;
		}
	} else {
		struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_UPDATE_SENT, .id = id};
		if (mts_hosted_apply(&d->state, &ev, now_utc(), &ids->opts.rules) < 0 ||
		    put(ids, d) < 0) {
			free(j); /* another replica took this step, or the store failed */
			return;
		}
		struct mts_dns_update_opts o = {.server = ids->server,
						.key = &ids->key,
						.timeout_ms = ids->opts.timeout_ms};
		j->update = mts_dns_update_start(ids->base, &o, &c, on_update, j, &err);
		if (!j->update) {
			j->next = ids->jobs; /* finish() unlinks */
			ids->jobs = j;
			ids->stats.in_flight++;
			finish(j, false, err.message);
			return;
		}
	}
	j->next = ids->jobs;
	ids->jobs = j;
	ids->stats.in_flight++;
}

static long long cert_not_after(const struct mts_serve_cert *certs, size_t n, const char *name)
{
	char host[MTS_DNAME_MAX + 16];
	snprintf(host, sizeof(host), "mta-sts.%s", name);
	for (size_t i = 0; i < n; i++)
		if (strcmp(certs[i].name, host) == 0)
			return certs[i].not_after;
	return 0;
}

/* One domain's turn: certificate, a stuck update, then the next action. */
static void step(struct mts_serve_ids *ids, struct mts_hosted_domain *d, long long na)
{
	long long now = now_utc();
	bool dirty = false;
	if (na != d->state.cert_not_after) {
		struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_CERT, .not_after = na};
		mts_hosted_apply(&d->state, &ev, now, &ids->opts.rules);
		dirty = true;
	}
	long long stuck =
		3LL *
		(ids->opts.timeout_ms ? ids->opts.timeout_ms : MTS_DNS_UPDATE_TIMEOUT_MS_DEFAULT) /
		1000;
	if ((d->state.phase == MTS_HOSTED_PUBLISHING || d->state.phase == MTS_HOSTED_DELETING) &&
	    now - d->updated_at > stuck) {
		/* Its replica went away mid-update: retry (the update is idempotent). */
		struct mts_hosted_event ev = {.type = MTS_HOSTED_EV_UPDATE_FAILED};
		mts_hosted_apply(&d->state, &ev, now, &ids->opts.rules);
		dirty = true;
	}
	struct mts_hosted_action a;
	mts_hosted_next(&d->state, now, &ids->opts.rules, &a);
	struct mts_error err = {0};
	switch (a.what) {
	case MTS_HOSTED_DO_PUBLISH:
	case MTS_HOSTED_DO_DELETE:
		if (dirty && put(ids, d) < 0)
			return;
		if (ids->stats.in_flight < MTS_SERVE_IDS_IN_FLIGHT_MAX)
			start_exchange(ids, d, a.what == MTS_HOSTED_DO_PUBLISH ? a.id : "");
		return;
	case MTS_HOSTED_DO_SERVE_NONE: {
		int rc = mts_hosted_domain_set_policy(d, MTS_MODE_NONE, 86400,
						      (const char *const *)d->mx, d->mx_count, now,
						      &ids->opts.rules, NULL, &err);
		if (rc >= 0 && put(ids, d) == 0) {
			ids->stats.served_none++;
			mts_serve_store_history_add(ids->store, d, NULL);
			say(ids, LOG_INFO, "event=serve_none domain=%s id=%s", d->name,
			    d->state.served_id);
		}
		return;
	}
	case MTS_HOSTED_DO_FORGET:
		if (mts_serve_store_delete(ids->store, d->name, &err) == 0) {
			ids->stats.forgotten++;
			say(ids, LOG_INFO, "event=forgotten domain=%s", d->name);
		}
		return;
	case MTS_HOSTED_DO_WAIT:
		if (dirty)
			put(ids, d);
		return;
	}
}

void mts_serve_ids_round(struct mts_serve_ids *ids)
{
	if (ids->opts.print && ids->stats.in_flight == 0) {
		/* A fresh resolver: a record the operator just published must not
		 * hide behind a cached "no such name" (the zone's negative TTL). */
		struct mts_error derr = {0};
		struct mts_dns_opts o = {.resolver = ids->opts.resolver,
					 .timeout_ms = ids->opts.timeout_ms};
		struct mts_dns *fresh = mts_dns_new(ids->base, &o, &derr);
		if (fresh) {
			mts_dns_free(ids->dns);
			ids->dns = fresh;
		}
	}
	struct mts_hosted_domain *all = NULL;
	struct mts_serve_cert *certs = NULL;
	size_t n = 0, nc = 0;
	struct mts_error err = {0};
	ids->stats.rounds++;
	if (mts_serve_store_certs(ids->store, 0, &certs, &nc, &err) < 0 ||
	    mts_serve_store_list(ids->store, &all, &n, &err) < 0) {
		say(ids, LOG_WARNING, "event=round_failed reason=\"%s\"", err.message);
		mts_serve_certs_free(certs, nc);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!busy(ids, all[i].name))
			step(ids, &all[i], cert_not_after(certs, nc, all[i].name));
	mts_serve_domains_free(all, n);
	mts_serve_certs_free(certs, nc);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	mts_serve_ids_round(arg);
}

struct mts_serve_ids *mts_serve_ids_new(struct event_base *base, struct mts_serve_store *store,
					const struct mts_serve_ids_opts *opts,
					struct mts_error *err)
{
	if (!opts->zone || !*opts->zone) {
		mts_error_set(err, MTS_EUSAGE, "no service zone (mtasts serve init --zone)");
		return NULL;
	}
	if (!opts->print && (!opts->server || !opts->key)) {
		mts_error_set(err, MTS_EUSAGE,
			      "publishing by DNS update needs the zone's primary and a TSIG key");
		return NULL;
	}
	struct mts_serve_ids *ids = calloc(1, sizeof(*ids));
	if (!ids) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	ids->base = base;
	ids->store = store;
	ids->opts = *opts;
	snprintf(ids->zone, sizeof(ids->zone), "%s", opts->zone);
	ids->opts.zone = ids->zone;
	if (opts->server)
		snprintf(ids->server, sizeof(ids->server), "%s", opts->server);
	if (opts->key)
		ids->key = *opts->key;
	ids->opts.key = NULL;
	if (opts->print) {
		struct mts_dns_opts d = {.resolver = opts->resolver,
					 .timeout_ms = opts->timeout_ms};
		if (!(ids->dns = mts_dns_new(base, &d, err)))
			goto fail;
	}
	struct timeval tv = {.tv_sec = opts->interval ? opts->interval
						      : MTS_SERVE_IDS_INTERVAL_DEFAULT};
	ids->timer = event_new(base, -1, EV_PERSIST, on_timer, ids);
	if (!ids->timer || event_add(ids->timer, &tv) < 0) {
		mts_error_set(err, MTS_ENOMEM, "cannot arm the timer");
		goto fail;
	}
	say(ids, LOG_INFO, "event=publishing mode=%s zone=%s%s%s", opts->print ? "print" : "update",
	    ids->zone, opts->print ? "" : " server=", opts->print ? "" : ids->server);
	return ids;
fail:
	mts_serve_ids_free(ids);
	return NULL;
}

void mts_serve_ids_stats(const struct mts_serve_ids *ids, struct mts_serve_ids_stats *out)
{
	*out = ids->stats;
}

void mts_serve_ids_free(struct mts_serve_ids *ids)
{
	if (!ids)
		return;
	while (ids->jobs) {
		struct job *j = ids->jobs;
		if (j->update)
			mts_dns_update_cancel(j->update);
		if (j->query)
			mts_dns_cancel(j->query);
		ids->jobs = j->next;
		free(j);
	}
	if (ids->timer)
		event_free(ids->timer);
	mts_dns_free(ids->dns);
	mts_dns_update_key_clear(&ids->key);
	free(ids->printed);
	free(ids);
}
