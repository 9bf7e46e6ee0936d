/* resolver_base.c - what every part of `mtasts resolver` uses (see
 * resolver.c for the parts): logging (rate-limited where a storm could
 * repeat a line), the clocks, and the descriptor rules of the listeners and
 * the lookups. Calls nothing of the other parts, so they all may call it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "engine/resolver_int.h"
#include "io/fdlimit_int.h"

void resolver_log(struct mts_resolver *r, int prio, const char *fmt, ...)
{
	if (!r->opts.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->opts.log(prio, msg, r->opts.log_arg);
}

void resolver_log_limited(struct mts_resolver *r, struct resolver_ratelog *rl, int prio,
			  const char *fmt, ...)
{
	double now = resolver_monotonic();
	if (rl->last != 0 && now - rl->last < RESOLVER_LOG_EVERY) {
		rl->since++;
		return;
	}
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->since)
		resolver_log(r, prio, "%s (%llu more times in the last %d s)", msg, rl->since,
			     RESOLVER_LOG_EVERY);
	else
		resolver_log(r, prio, "%s", msg);
	rl->last = now;
	rl->since = 0;
}

double resolver_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long resolver_now(struct mts_resolver *r)
{
	return r->opts.clock ? r->opts.clock(r->opts.clock_arg) : (long long)time(NULL);
}

/* ---- descriptors ---------------------------------------------------------
 * The soft RLIMIT_NOFILE (which the program raises to the hard limit) sets
 * the connection caps; at a cap, or while accept() fails, the listeners
 * are disabled rather than left readable, which would spin the loop. A
 * lookup starts only with descriptors to spare: libunbound's worker, made
 * at the first lookup, ends the process when it cannot get any. */

void resolver_listeners_update(struct mts_resolver *r)
{
	struct resolver_listener *all[] = {&r->sm, &r->ctl, &r->metrics};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct resolver_listener *l = all[i];
		if (!l->ev)
			continue;
		/* The metrics endpoint serves through a graceful shutdown. */
		bool want = r->serving && (!r->shutting_down || l == &r->metrics) &&
			    !r->accept_paused && l->conns < l->max;
		if (want == l->enabled)
			continue;
		if (want)
			evconnlistener_enable(l->ev);
		else
			evconnlistener_disable(l->ev);
		l->enabled = want;
	}
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct mts_resolver *r = arg;
	r->accept_paused = false;
	resolver_listeners_update(r);
}

void resolver_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct mts_resolver *r = arg;
	int e = EVUTIL_SOCKET_ERROR();
	resolver_log_limited(
		r, &r->accept_log, LOG_WARNING, "accept: %s (%zu clients); not accepting for %d ms",
		evutil_socket_error_to_string(e), r->conn_count, RESOLVER_ACCEPT_PAUSE_MS);
	if (!r->accept_pause)
		r->accept_pause = evtimer_new(r->base, on_accept_resume, r);
	struct timeval tv = {0, RESOLVER_ACCEPT_PAUSE_MS * 1000};
	if (!r->accept_pause || evtimer_add(r->accept_pause, &tv) < 0)
		return; /* no timer: better to keep accepting than to stop for good */
	r->accept_paused = true;
	resolver_listeners_update(r);
}

bool resolver_fds_for_lookup(struct mts_resolver *r)
{
	if (mts_fdlimit_available(RESOLVER_FD_LOOKUP))
		return true;
	resolver_log_limited(r, &r->fd_log, LOG_WARNING,
			     "out of file descriptors (%zu clients): lookups answer TEMP",
			     r->conn_count);
	return false;
}
