/* resolver_metrics.c - the Prometheus endpoint of `mtasts resolver`
 * (metrics: ADDR:PORT, see docs/resolver.md): GET /metrics in the text
 * exposition format, from the counters the server keeps, and the histogram
 * of how long lookups that went to the network kept Postfix waiting. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "engine/resolver_int.h"

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

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct mts_resolver *r = arg;
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "# HELP mtasts_resolver_requests_total Socketmap requests.\n"
			       "# TYPE mtasts_resolver_requests_total counter\n"
			       "mtasts_resolver_requests_total %llu\n",
			    r->requests);
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
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

static void on_http_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, HTTP_NOTFOUND, "see /metrics");
}

int resolver_metrics_listen(struct mts_resolver *r, struct mts_error *err)
{
	char host[128];
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
	r->http = evhttp_new(r->base);
	if (!r->http)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	evhttp_set_allowed_methods(r->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(r->http, 10);
	evhttp_set_max_headers_size(r->http, 8192);
	evhttp_set_max_body_size(r->http, 0);
	evhttp_set_cb(r->http, "/metrics", on_metrics, r);
	evhttp_set_gencb(r->http, on_http_other, r);
	r->http_socket = evhttp_bind_socket_with_handle(
		r->http, host, (ev_uint16_t)strtoul(colon + 1, NULL, 10));
	if (!r->http_socket)
		return mts_error_set(err, MTS_EIO, "metrics: cannot listen on %s: %s",
				     r->cfg.metrics, strerror(errno));
	return 0;
}

void resolver_metrics_log_address(struct mts_resolver *r)
{
	if (!r->http_socket)
		return;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	evutil_socket_t hfd = evhttp_bound_socket_get_fd(r->http_socket);
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
	if (r->http)
		evhttp_free(r->http);
	r->http = NULL;
	r->http_socket = NULL;
}
