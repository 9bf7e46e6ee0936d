/* resolver_metrics.c - the Prometheus endpoint of `mtasts resolver`
 * (metrics: ADDR:PORT, see docs/resolver.md): GET /metrics in the text
 * exposition format, from the counters the server keeps, and the histogram
 * of how long lookups that went to the network kept Postfix waiting.
 *
 * HTTP/1.1 reduced to what a scraper needs: one request per connection
 * (Connection: close), GET only, headers of METRICS_HEADERS_MAX bytes at
 * most, METRICS_TIMEOUT s to send them. Its own listener, so that its
 * clients are capped like the others (resolver_listeners_update). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include <netdb.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "engine/resolver_int.h"

#define METRICS_HEADERS_MAX 8192 /* bytes of a request's line and headers */
#define METRICS_TIMEOUT 10       /* s to send the request, and to take the answer */

struct metrics_conn {
	struct mts_resolver *r;
	struct metrics_conn *prev, *next;
	struct bufferevent *bev;
};

/* Upper bounds (s) of the histogram of lookups that waited for the network. */
static const double wait_buckets[RESOLVER_WAIT_BUCKETS] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
							   0.5, 1, 2, 5, 10};

void resolver_metrics_observe_wait(struct mts_resolver *r, double seconds)
{
	size_t b = 0;
	while (b < RESOLVER_WAIT_BUCKETS && seconds > wait_buckets[b])
		b++;
	r->wait_counts[b]++;
	r->wait_sum += seconds;
}

static void metrics_body(struct mts_resolver *r, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP mtasts_resolver_requests_total Socketmap requests.\n"
			       "# TYPE mtasts_resolver_requests_total counter\n"
			       "mtasts_resolver_requests_total %llu\n"
			       "# HELP mtasts_resolver_control_requests_total Control socket requests.\n"
			       "# TYPE mtasts_resolver_control_requests_total counter\n"
			       "mtasts_resolver_control_requests_total %llu\n",
			    r->requests, r->ctl_requests);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_answers_total Answers by kind.\n"
			       "# TYPE mtasts_resolver_answers_total counter\n");
	for (int k = MTS_ANSWER_POLICY; k <= MTS_ANSWER_PERM; k++)
		evbuffer_add_printf(b, "mtasts_resolver_answers_total{answer=\"%s\"} %llu\n",
				    mts_resolver_kind_name((enum mts_resolver_kind)k),
				    r->counters[k]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_cache_hits_total Answers from the answer cache.\n"
			       "# TYPE mtasts_resolver_cache_hits_total counter\n"
			       "mtasts_resolver_cache_hits_total %llu\n"
			       "# HELP mtasts_resolver_timeouts_total Lookups over the zone timeout.\n"
			       "# TYPE mtasts_resolver_timeouts_total counter\n"
			       "mtasts_resolver_timeouts_total %llu\n",
			    r->cache_hits, r->timeouts);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_discoveries_total Discovery results by "
			       "outcome.\n# TYPE mtasts_resolver_discoveries_total counter\n");
	for (int o = MTS_OUTCOME_OK; o <= MTS_OUTCOME_DNS_ERROR; o++)
		evbuffer_add_printf(b, "mtasts_resolver_discoveries_total{outcome=\"%s\"} %llu\n",
				    mts_discovery_outcome_name((enum mts_discovery_outcome)o),
				    r->outcomes[o]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_fetches_total Policy fetches by result.\n"
			       "# TYPE mtasts_resolver_fetches_total counter\n");
	for (int o = MTS_OUTCOME_OK; o <= MTS_OUTCOME_DNS_ERROR; o++)
		if (o != MTS_OUTCOME_NO_POLICY && o != MTS_OUTCOME_DNS_ERROR)
			evbuffer_add_printf(b, "mtasts_resolver_fetches_total{result=\"%s\"} %llu\n",
					    mts_discovery_outcome_name((enum mts_discovery_outcome)o),
					    r->fetches[o]);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_lookup_wait_seconds Time lookups "
			       "that went to the network kept Postfix waiting.\n"
			       "# TYPE mtasts_resolver_lookup_wait_seconds histogram\n");
	unsigned long long cumulative = 0;
	for (size_t i = 0; i < RESOLVER_WAIT_BUCKETS; i++) {
		cumulative += r->wait_counts[i];
		evbuffer_add_printf(b, "mtasts_resolver_lookup_wait_seconds_bucket{le=\"%g\"} %llu\n",
				    wait_buckets[i], cumulative);
	}
	cumulative += r->wait_counts[RESOLVER_WAIT_BUCKETS];
	evbuffer_add_printf(b, "mtasts_resolver_lookup_wait_seconds_bucket{le=\"+Inf\"} %llu\n"
			       "mtasts_resolver_lookup_wait_seconds_sum %.6f\n"
			       "mtasts_resolver_lookup_wait_seconds_count %llu\n",
			    cumulative, r->wait_sum, cumulative);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_connections Clients connected.\n"
			       "# TYPE mtasts_resolver_connections gauge\n"
			       "mtasts_resolver_connections %zu\n"
			       "# HELP mtasts_resolver_answer_cache_entries Answers cached.\n"
			       "# TYPE mtasts_resolver_answer_cache_entries gauge\n"
			       "mtasts_resolver_answer_cache_entries %zu\n",
			    r->conn_count, r->answer_count);
	evbuffer_add_printf(b, "# HELP mtasts_resolver_proactive_refreshes_total Domains refreshed "
			       "by proactive policy fetching.\n"
			       "# TYPE mtasts_resolver_proactive_refreshes_total counter\n"
			       "mtasts_resolver_proactive_refreshes_total %llu\n"
			       "# HELP mtasts_resolver_cache_walk_skipped_total Cache entries that "
			       "walks of the cache could not read.\n"
			       "# TYPE mtasts_resolver_cache_walk_skipped_total counter\n"
			       "mtasts_resolver_cache_walk_skipped_total %llu\n",
			    r->refreshes, r->walk_skipped);
}

static void metrics_conn_free(struct metrics_conn *m)
{
	struct mts_resolver *r = m->r;
	if (m->prev)
		m->prev->next = m->next;
	else
		r->metrics_conns = m->next;
	if (m->next)
		m->next->prev = m->prev;
	bufferevent_free(m->bev);
	free(m);
	if (r->metrics.conns-- >= r->metrics.max)
		resolver_listeners_update(r);
}

static void on_metrics_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		metrics_conn_free(arg);
}

static void on_metrics_event(struct bufferevent *bev, short what, void *arg)
{
	metrics_conn_free(arg); /* EOF, error or timeout */
}

static void respond(struct metrics_conn *m, int status, const char *reason, const char *extra,
		    struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(m->bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			    "%sConnection: close\r\n\r\n",
			    status, reason,
			    status == 200 ? "text/plain; version=0.0.4" : "text/plain",
			    evbuffer_get_length(body), extra);
	evbuffer_add_buffer(out, body);
	bufferevent_disable(m->bev, EV_READ);
	bufferevent_setcb(m->bev, NULL, on_metrics_written, on_metrics_event, m);
}

static void on_metrics_request(struct bufferevent *bev, void *arg)
{
	struct metrics_conn *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *body = evbuffer_new();
	if (!body) {
		metrics_conn_free(m);
		return;
	}
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) >= METRICS_HEADERS_MAX) {
			evbuffer_add_printf(body, "request headers too long\n");
			respond(m, 431, "Request Header Fields Too Large", "", body);
		}
		evbuffer_free(body);
		return;
	}
	size_t line_len = 0;
	char *line = evbuffer_readln(in, &line_len, EVBUFFER_EOL_CRLF);
	const char *sp = line ? memchr(line, ' ', line_len) : NULL;
	const char *target = sp ? sp + 1 : "";
	size_t target_len = strcspn(target, " ?");
	if (!sp) {
		evbuffer_add_printf(body, "bad request\n");
		respond(m, 400, "Bad Request", "", body);
	} else if ((size_t)(sp - line) != 3 || memcmp(line, "GET", 3) != 0) {
		evbuffer_add_printf(body, "GET /metrics\n");
		respond(m, 405, "Method Not Allowed", "Allow: GET\r\n", body);
	} else if (target_len == 8 && memcmp(target, "/metrics", 8) == 0) {
		metrics_body(m->r, body);
		respond(m, 200, "OK", "", body);
	} else {
		evbuffer_add_printf(body, "see /metrics\n");
		respond(m, 404, "Not Found", "", body);
	}
	free(line);
	evbuffer_free(body);
}

static void on_metrics_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int len, void *arg)
{
	struct mts_resolver *r = arg;
	struct metrics_conn *m = calloc(1, sizeof(*m));
	if (m)
		m->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!m || !m->bev) {
		free(m);
		evutil_closesocket(fd);
		return;
	}
	m->r = r;
	m->next = r->metrics_conns;
	if (m->next)
		m->next->prev = m;
	r->metrics_conns = m;
	struct timeval tv = {.tv_sec = METRICS_TIMEOUT};
	bufferevent_set_timeouts(m->bev, &tv, &tv);
	bufferevent_setwatermark(m->bev, EV_READ, 0, METRICS_HEADERS_MAX);
	bufferevent_setcb(m->bev, on_metrics_request, NULL, on_metrics_event, m);
	bufferevent_enable(m->bev, EV_READ);
	if (++r->metrics.conns >= r->metrics.max)
		resolver_listeners_update(r);
}

int resolver_metrics_listen(struct mts_resolver *r, struct mts_error *err)
{
	char host[128], port[8];
	const char *colon = strrchr(r->cfg.metrics, ':');
	size_t hl = (size_t)(colon - r->cfg.metrics);
	if (hl >= sizeof(host))
		return mts_error_set(err, MTS_EINVAL, "metrics: address too long");
	memcpy(host, r->cfg.metrics, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	snprintf(port, sizeof(port), "%lu", strtoul(colon + 1, NULL, 10));
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (gai != 0)
		return mts_error_set(err, MTS_EINVAL, "metrics: %s: %s", r->cfg.metrics,
				     gai_strerror(gai));
	r->metrics.ev = evconnlistener_new_bind(
		r->base, on_metrics_accept, r,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE | LEV_OPT_DISABLED,
		16, ai->ai_addr, (int)ai->ai_addrlen);
	int e = errno;
	freeaddrinfo(ai);
	if (!r->metrics.ev)
		return mts_error_set(err, MTS_EIO, "metrics: cannot listen on %s: %s",
				     r->cfg.metrics, strerror(e));
	evconnlistener_set_error_cb(r->metrics.ev, resolver_on_accept_error);
	return 0;
}

void resolver_metrics_log_address(struct mts_resolver *r)
{
	if (!r->metrics.ev)
		return;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	evutil_socket_t hfd = evconnlistener_get_fd(r->metrics.ev);
	if (getsockname(hfd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
			port = ntohs(sin6->sin6_port);
		}
	}
	resolver_log(r, LOG_INFO, "metrics on http://%s:%u/metrics", addr, port);
}

void resolver_metrics_close(struct mts_resolver *r)
{
	while (r->metrics_conns)
		metrics_conn_free(r->metrics_conns);
	if (r->metrics.ev)
		evconnlistener_free(r->metrics.ev);
	r->metrics.ev = NULL;
}
