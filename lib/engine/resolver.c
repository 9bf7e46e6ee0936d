/* resolver.c - the socketmap server of `mtasts resolver` (see resolver.h):
 * its life cycle. Binding, starting (cache, network), reload, graceful
 * shutdown and freeing; the parts it is made of share resolver_int.h:
 *   resolver_base.c     what every part uses: logging, the clock, descriptors
 *   resolver_conn.c     listeners, connections, framing, socketmap requests
 *   resolver_cache.c    the answer cache
 *   resolver_lookup.c   lookups bounded by the zone's timeout, proactive refresh
 *   resolver_sts.c      the MTA-STS discovery of one request and its answer
 *   resolver_dane.c     DANE precedence
 *   resolver_ctl.c      the control socket
 *   resolver_metrics.c  the Prometheus endpoint */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "io/cache_int.h"
#include "io/fdlimit_int.h"
#include "core/text_int.h"
#include "engine/resolver_int.h"
#include "io/dns_int.h"

/* What the open-files limit leaves for clients, after what is open now
 * (listeners, cache, DNS and HTTPS contexts) and the lookups' reserve. */
static void set_caps(struct mts_resolver *r)
{
	long limit = mts_fdlimit_current();
	if (limit < 0)
		limit = 1024;
	long open = mts_fdlimit_open_count(limit);
	long reserve = limit / 8 > RESOLVER_FD_RESERVE_MIN ? limit / 8 : RESOLVER_FD_RESERVE_MIN;
	long budget = limit - open - reserve;
	size_t side = budget / 8 > RESOLVER_CTL_CONNECTIONS ? RESOLVER_CTL_CONNECTIONS
			: budget / 8 > 1			 ? (size_t)(budget / 8)
								 : 1;
	r->ctl.max = r->ctl.ev ? side : 0;
	r->metrics.max = r->metrics.ev ? side : 0;
	budget -= (long)(r->ctl.max + r->metrics.max);
	r->sm.max = budget < 1				  ? 1
		    : budget > MTS_RESOLVER_CONNECTIONS_MAX ? MTS_RESOLVER_CONNECTIONS_MAX
							    : (size_t)budget;
	resolver_log(r, budget < 1 ? LOG_WARNING : LOG_INFO,
		     "clients: at most %zu (open files limit %ld, %ld open, %ld kept for lookups)",
		     r->sm.max, limit, open, reserve);
}

struct mts_resolver *mts_resolver_new(struct event_base *base,
				      const struct mts_resolver_config *cfg,
				      const struct mts_resolver_opts *opts, struct mts_error *err)
{
	struct mts_resolver *r = calloc(1, sizeof(*r));
	if (!r) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	r->base = base;
	r->cfg = *cfg;
	if (opts)
		r->opts = *opts;
	if (resolver_listen(r, err) < 0)
		goto fail;
	if (cfg->control_path[0] && resolver_ctl_listen(r, err) < 0)
		goto fail;
	if (cfg->metrics[0] && resolver_metrics_listen(r, err) < 0)
		goto fail;
	return r;
fail:
	mts_resolver_free(r);
	return NULL;
}

int mts_resolver_start(struct mts_resolver *r, struct mts_error *err)
{
	char url[MTS_RESOLVER_PATH_MAX + 16];
	if (mts_resolver_cache_url(&r->cfg, url, sizeof(url), err) < 0)
		return err ? err->code : MTS_EUSAGE;
	if (r->cfg.cache_type == MTS_RESOLVER_CACHE_SQLITE) {
		/* A damaged file must not keep the daemon from serving: it is
		 * moved aside, and policies are fetched again. */
		char moved[MTS_RESOLVER_PATH_MAX + 32], why[MTS_ERROR_MSG_MAX];
		r->cache = mts_cache_sqlite_open_recover(r->cfg.cache_filename, resolver_now(r),
							 moved, sizeof(moved), why, sizeof(why),
							 err);
		if (r->cache && moved[0])
			resolver_log(r, LOG_ERR,
				     "the sqlite cache was damaged (%s): moved to %s, starting with "
				     "an empty cache",
				     why, moved);
	} else {
		r->cache = mts_cache_open(url, err);
	}
	if (!r->cache)
		return err ? err->code : MTS_ESTORE;
	unsigned timeout = r->cfg.default_zone.timeout;
	for (size_t i = 0; i < r->cfg.zone_count; i++)
		if (r->cfg.zones[i].timeout > timeout)
			timeout = r->cfg.zones[i].timeout;
	/* The network gets a second more than the longest zone timeout: the
	 * zone's timer answers TEMP first, deterministically, and the lookup
	 * goes on to fill the cache (a failure is then remembered). */
	struct mts_discovery_net_opts nopts = {
		.resolver = r->cfg.dns_resolver[0] ? r->cfg.dns_resolver : NULL,
		.ca_file = r->cfg.ca_file[0] ? r->cfg.ca_file : NULL,
		.trust_anchor_file = r->cfg.trust_anchor_file[0] ? r->cfg.trust_anchor_file : NULL,
		.timeout_ms = timeout * 1000u + 1000u,
	};
	r->net = mts_discovery_net_new(r->base, &nopts, err);
	if (!r->net)
		return err ? err->code : MTS_EIO;
	r->discovery = mts_discovery_new(r->base, r->cache, &mts_discovery_net_transport, r->net,
					 NULL, err);
	if (!r->discovery)
		return err ? err->code : MTS_ENOMEM;
	if (r->cfg.dane) {
		struct mts_dns_opts dopts = {.resolver = nopts.resolver,
					     .trust_anchor_file = r->cfg.trust_anchor_file,
					     .timeout_ms = timeout * 1000u};
		r->dns = mts_dns_new(r->base, &dopts, err);
		if (!r->dns)
			return err ? err->code : MTS_EIO;
	}
	char where[128];
	resolver_listener_describe(r, where, sizeof(where));
	set_caps(r);
	r->serving = true;
	resolver_listeners_update(r);
	char shown[sizeof(url)];
	resolver_log(r, LOG_INFO, "listening on %s cache=%s%s%s", where,
		     mts_redact_url(url, shown, sizeof(shown)),
	      r->control_path[0] ? " control=" : "", r->control_path);
	resolver_metrics_log_address(r);
	resolver_proactive_arm(r);
	return 0;
}

/* ---- reload and shutdown ------------------------------------------------ */

int mts_resolver_reload(struct mts_resolver *r, const struct mts_resolver_config *cfg,
			struct mts_error *err)
{
	const struct mts_resolver_config *old = &r->cfg;
	if (strcmp(old->host, cfg->host) || old->port != cfg->port ||
	    strcmp(old->path, cfg->path) || old->mode != cfg->mode ||
	    strcmp(old->control_path, cfg->control_path))
		resolver_log(r, LOG_WARNING, "reload: listening changes need a restart");
	if (old->cache_type != cfg->cache_type ||
	    strcmp(old->cache_filename, cfg->cache_filename) ||
	    strcmp(old->dns_resolver, cfg->dns_resolver) || strcmp(old->ca_file, cfg->ca_file) ||
	    strcmp(old->trust_anchor_file, cfg->trust_anchor_file) || old->dane != cfg->dane ||
	    strcmp(old->user, cfg->user) || strcmp(old->group, cfg->group))
		resolver_log(r, LOG_WARNING,
			     "reload: cache, network, DANE and user changes need a restart");
	struct mts_resolver_config next = *cfg;
	/* Keep what needs a restart as it runs. */
	memcpy(next.host, old->host, sizeof(next.host));
	next.port = old->port;
	memcpy(next.path, old->path, sizeof(next.path));
	next.mode = old->mode;
	memcpy(next.control_path, old->control_path, sizeof(next.control_path));
	next.cache_type = old->cache_type;
	memcpy(next.cache_filename, old->cache_filename, sizeof(next.cache_filename));
	memcpy(next.dns_resolver, old->dns_resolver, sizeof(next.dns_resolver));
	memcpy(next.ca_file, old->ca_file, sizeof(next.ca_file));
	memcpy(next.trust_anchor_file, old->trust_anchor_file, sizeof(next.trust_anchor_file));
	next.dane = old->dane;
	memcpy(next.user, old->user, sizeof(next.user));
	memcpy(next.group, old->group, sizeof(next.group));
	r->cfg = next;
	resolver_answers_clear(r); /* zones may answer differently now */
	for (struct conn *c = r->conns; c; c = c->next)
		resolver_conn_set_idle(r, c);
	resolver_proactive_arm(r);
	resolver_log(r, LOG_NOTICE, "configuration reloaded from %s (%zu zones)", cfg->file,
	      cfg->zone_count);
	return 0;
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	resolver_log(r, LOG_WARNING, "shutdown: %zu clients still connected after %g s",
		     r->conn_count, r->cfg.shutdown_timeout);
	r->finished = true;
	event_base_loopbreak(r->base);
}

void mts_resolver_shutdown(struct mts_resolver *r)
{
	if (r->shutting_down)
		return;
	r->shutting_down = true;
	resolver_log(r, LOG_NOTICE, "shutting down: %zu clients", r->conn_count);
	if (r->sm.ev) {
		evconnlistener_free(r->sm.ev);
		r->sm.ev = NULL;
	}
	if (r->ctl.ev) {
		evconnlistener_free(r->ctl.ev);
		r->ctl.ev = NULL;
	}
	if (r->proactive_timer) {
		event_free(r->proactive_timer);
		r->proactive_timer = NULL;
	}
	/* Idle clients go now; busy ones once their answers are written. */
	for (struct conn *c = r->conns, *next; c; c = next) {
		next = c->next;
		c->closing = true;
		event_del(c->ev_read);
		if (!c->head && evbuffer_get_length(c->out) == 0)
			resolver_conn_free(c);
	}
	if (r->finished)
		return;
	struct timeval tv;
	tv.tv_sec = (time_t)r->cfg.shutdown_timeout;
	tv.tv_usec = (suseconds_t)((r->cfg.shutdown_timeout - (double)tv.tv_sec) * 1e6);
	r->shutdown_timer = evtimer_new(r->base, on_shutdown_timeout, r);
	if (!r->shutdown_timer || evtimer_add(r->shutdown_timer, &tv) < 0) {
		r->finished = true;
		event_base_loopbreak(r->base);
	}
	resolver_maybe_finish_shutdown(r);
}

bool mts_resolver_done(const struct mts_resolver *r)
{
	return r->finished;
}

void mts_resolver_free(struct mts_resolver *r)
{
	if (!r)
		return;
	r->serving = false; /* no listener is enabled again */
	while (r->conns)
		resolver_conn_free(r->conns);
	if (r->sm.ev)
		evconnlistener_free(r->sm.ev);
	if (r->ctl.ev)
		evconnlistener_free(r->ctl.ev);
	r->sm.ev = r->ctl.ev = NULL;
	if (r->accept_pause)
		event_free(r->accept_pause);
	resolver_metrics_close(r);
	if (r->shutdown_timer)
		event_free(r->shutdown_timer);
	mts_discovery_free(r->discovery); /* cancels the refreshes: no callback runs */
	resolver_proactive_free(r);
	mts_discovery_net_free(r->net);
	mts_dns_free(r->dns);
	mts_cache_close(r->cache);
	resolver_answers_clear(r);
	if (r->unix_path[0])
		unlink(r->unix_path);
	if (r->control_path[0])
		unlink(r->control_path);
	free(r);
}
