/*
 * resolver_int.h - what the parts of the resolver server share: the server,
 * connection, request and answer-cache structures, and the few functions
 * one part calls in another. Internal to lib/engine (the public interface
 * is include/mtasts/resolver.h). Each part includes this header and no
 * other part's:
 *   resolver.c          the life cycle: bind, start, reload, shutdown, free
 *   resolver_conn.c     listeners, connections, netstring framing, the
 *                       request queue, socketmap requests
 *   resolver_cache.c    the answer cache (cache_grace)
 *   resolver_lookup.c   lookups bounded by the zone's timeout, proactive refresh
 *   resolver_dane.c     DANE precedence (MX and TLSA lookups)
 *   resolver_ctl.c      the control socket (`mtasts resolver ctl`)
 *   resolver_metrics.c  the Prometheus endpoint and the wait histogram
 */
#ifndef MTASTS_RESOLVER_INT_H
#define MTASTS_RESOLVER_INT_H

#include <stdint.h>

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "io/dns_int.h"
#include "mtasts/resolver.h"

#define ANSWER_BUCKETS 16384
#define DANE_MX_MAX 8              /* MX hosts checked for TLSA */
#define RESOLVER_WAIT_BUCKETS 11   /* bounds of the wait histogram (resolver_metrics.c) */
/* Descriptors: the connection caps are what the open-files limit leaves
 * after what is open at start and a reserve for the lookups (DNS sockets,
 * libunbound's worker, HTTPS connections) and the cache. */
#define RESOLVER_FD_RESERVE_MIN 16     /* or an eighth of the limit, if more */
#define RESOLVER_FD_LOOKUP 8           /* free descriptors a lookup needs to start */
#define RESOLVER_CTL_CONNECTIONS 8     /* control clients at once */
#define RESOLVER_METRICS_CONNECTIONS 8 /* metrics clients at once */
#define RESOLVER_ACCEPT_PAUSE_MS 100   /* no accepting after accept() failed (EMFILE) */
#define RESOLVER_LOG_EVERY 10          /* s between two lines about the same trouble */

/* One allocation per answer, sized by what it holds: the key
 * "zone '\t' domain", a NUL, the answer text, a NUL. */
#define RESOLVER_KEY_MAX (MTS_RESOLVER_NAME_MAX + MTS_DNAME_MAX + 2)
struct answer {
	struct answer *next_in_bucket, *older, *newer;
	const char *domain; /* inside key */
	const char *text;   /* after key */
	size_t len, key_len;
	uint32_t hash; /* of the key */
	enum mts_resolver_kind kind;
	long long made_at, expires_at; /* expires_at: the policy's; 0 = none */
	char key[];
};

struct conn;
struct metrics_conn;
struct request;

/* A listener and the connections it let in, up to its cap: at the cap it
 * stops accepting (the kernel's backlog holds the next clients) until one
 * closes. */
struct resolver_listener {
	struct evconnlistener *ev;
	size_t conns, max;
	bool enabled;
};

/* A line about a trouble that may repeat at every turn of the loop: logged
 * at most every RESOLVER_LOG_EVERY s, with how often it happened between. */
struct resolver_ratelog {
	double last;                 /* monotonic s; 0 = never */
	unsigned long long since;    /* occurrences not logged */
};

/* What a connection's requests mean and how they are answered: the
 * socketmap (resolver_conn.c) or the control socket (resolver_ctl.c). */
struct conn_ops {
	size_t (*max_request)(const struct mts_resolver *r); /* bytes of one request */
	/* One request's payload; it queues a request (resolver_request_new)
	 * unless it can write the answer at once. */
	void (*handle)(struct conn *c, const char *payload, size_t len);
	/* A plain-text answer: a protocol error, a lookup that could not start. */
	void (*reply)(struct request *q, const char *text, size_t len,
		      enum mts_resolver_kind kind);
	/* A lookup's end: res is the discovery result (NULL for DANE's answer
	 * and timeouts), text the socketmap answer it makes. */
	void (*result)(struct request *q, const struct mts_discovery_result *res,
		       const char *text, size_t len, enum mts_resolver_kind kind);
	bool cached_on_timeout; /* a timeout answers from an unexpired cached policy */
};

struct request {
	struct request *next;
	struct conn *conn;
	struct mts_resolver_zone zone;
	char domain[MTS_DNAME_MAX + 1];
	char command[16];            /* control requests */
	char *answer;
	size_t answer_len;
	bool done, waiting;
	struct event *timer;
	struct dane_slot {
		struct request *q;
		struct mts_dns_query *query; /* NULL once answered or cancelled */
	} dns[DANE_MX_MAX + 1];              /* [0] MX, then one TLSA per MX host */
	size_t dns_pending;
	bool dane_secure, dane_temp;
	double started;              /* monotonic s */
};

struct conn {
	struct mts_resolver *r;
	const struct conn_ops *ops;
	struct resolver_listener *from;
	struct conn *prev, *next;
	evutil_socket_t fd;
	struct event *ev_read, *ev_write, *ev_idle;
	struct evbuffer *out;        /* answers not yet taken by the kernel */
	char *in;                    /* bytes of requests not yet complete */
	size_t in_len, in_cap;
	int in_use;                  /* inside process_input: do not free */
	bool dead;                   /* freed once process_input returns */
	struct request *head, **tail;
	size_t inflight;
	bool closing, paused;
	long long last_read_us; /* the loop's cached clock at the last request bytes */
};

/* A domain being refreshed by proactive fetching (a discovery in flight). */
struct refresh {
	struct mts_resolver *r;
	struct refresh *prev, *next;
	char domain[MTS_DNAME_MAX + 1];
};

struct mts_resolver {
	struct event_base *base;
	struct mts_resolver_config cfg;
	struct mts_resolver_opts opts;
	struct resolver_listener sm, ctl, metrics; /* socketmap, control, metrics */
	bool serving, accept_paused; /* started; accepting paused after an error */
	struct event *accept_pause;
	struct resolver_ratelog accept_log, fd_log;
	char unix_path[108], control_path[108]; /* to unlink at the end */
	struct mts_cache *cache;
	struct mts_discovery_net *net;
	struct mts_discovery *discovery;
	struct mts_dns *dns;         /* DANE checks */
	struct conn *conns;
	size_t conn_count;
	struct answer *buckets[ANSWER_BUCKETS];
	struct answer *newest, *oldest;
	size_t answer_count;
	struct event *proactive_timer, *shutdown_timer;
	/* proactive refresh: a round walks the cache a batch per loop turn */
	struct event *refresh_step;
	struct mts_cache_walk refresh_walk;
	bool refresh_active;         /* a round is under way */
	char (*refresh_queue)[MTS_DNAME_MAX + 1]; /* of the batch last read */
	size_t refresh_queued, refresh_taken, refresh_cap;
	struct refresh *refresh_jobs; /* discoveries in flight */
	size_t refresh_running, refresh_round;
	long long refresh_now;
	bool shutting_down, finished;
	unsigned long long refreshes, walk_skipped; /* all rounds */
	unsigned long long counters[6]; /* answers by kind */
	unsigned long long requests, cache_hits, timeouts; /* socketmap requests */
	unsigned long long ctl_requests;                   /* control requests */
	unsigned long long outcomes[MTS_OUTCOME_DNS_ERROR + 1]; /* discovery results */
	unsigned long long fetches[MTS_OUTCOME_DNS_ERROR + 1];  /* ... that fetched */
	unsigned long long wait_counts[RESOLVER_WAIT_BUCKETS + 1];
	double wait_sum;
	struct metrics_conn *metrics_conns;
};

/* resolver.c */
void resolver_log(struct mts_resolver *r, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log unless the same trouble was logged less than RESOLVER_LOG_EVERY s ago. */
void resolver_log_limited(struct mts_resolver *r, struct resolver_ratelog *rl, int prio,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
long long resolver_now(struct mts_resolver *r);
/* Enable or disable each listener after its count, pause or shutdown changed. */
void resolver_listeners_update(struct mts_resolver *r);
/* Set as every listener's error callback: accept() failed (EMFILE...). */
void resolver_on_accept_error(struct evconnlistener *l, void *arg);
/* False (logged) when a lookup could not get the descriptors it needs. */
bool resolver_fds_for_lookup(struct mts_resolver *r);

/* resolver_conn.c */
double resolver_monotonic(void);
int resolver_listen(struct mts_resolver *r, struct mts_error *err); /* the socketmap's */
void resolver_listener_describe(struct mts_resolver *r, char *out, size_t cap);
/* A Unix socket listener (disabled until the server starts), of mode >= 0. */
struct evconnlistener *resolver_listen_unix(struct mts_resolver *r, const char *path, int mode,
					    evconnlistener_cb cb, struct mts_error *err);
/* A new connection on fd from the listener from, served with ops. */
void resolver_accept(struct mts_resolver *r, evutil_socket_t fd, const struct conn_ops *ops,
		     struct resolver_listener *from);
void resolver_conn_free(struct conn *c);
void resolver_conn_set_idle(struct mts_resolver *r, struct conn *c);
void resolver_maybe_finish_shutdown(struct mts_resolver *r);
/* A request at the end of c's queue; NULL (and c closing) without memory. */
struct request *resolver_request_new(struct conn *c);
/* Give q its answer; the connection writes what is ready, in order. */
void resolver_complete(struct request *q, const char *text, size_t len);
void resolver_complete_str(struct request *q, const char *text);

/* resolver_cache.c */
struct answer *resolver_answer_find(struct mts_resolver *r, const char *zone, const char *domain);
/* The answer for zone and domain if it is younger than cache_grace and its
 * policy has not expired. */
struct answer *resolver_answer_fresh(struct mts_resolver *r, const char *zone,
				     const char *domain, long long now);
void resolver_answer_store(struct mts_resolver *r, const char *zone, const char *domain,
			   const char *text, size_t len, enum mts_resolver_kind kind, long long now,
			   long long expires_at);
void resolver_answer_remove(struct mts_resolver *r, struct answer *a);
void resolver_answers_clear(struct mts_resolver *r);

/* resolver_lookup.c */
/* A lookup of q->domain under q->zone: DANE first when enabled, then STS,
 * bounded by the zone's timeout. */
void resolver_start_lookup(struct request *q);
void resolver_start_sts(struct request *q);
/* Withdraw the request from its discovery, if it waits for one. */
void resolver_sts_cancel(struct request *q);
/* Stop what q waits for; no callback follows. */
void resolver_lookup_cancel(struct request *q);
void resolver_proactive_arm(struct mts_resolver *r);
void resolver_proactive_free(struct mts_resolver *r);

/* resolver_dane.c */
void resolver_dane_start(struct request *q);
void resolver_dane_cancel(struct request *q);

/* resolver_ctl.c */
int resolver_ctl_listen(struct mts_resolver *r, struct mts_error *err);
/* Answer a control request with v (consumed), as compact JSON. */
void resolver_complete_json(struct request *q, json_t *v);
json_t *resolver_result_json(const struct mts_discovery_result *res);

/* resolver_metrics.c */
int resolver_metrics_listen(struct mts_resolver *r, struct mts_error *err);
void resolver_metrics_log_address(struct mts_resolver *r);
/* Count a lookup that kept its client waiting for seconds. */
void resolver_metrics_observe_wait(struct mts_resolver *r, double seconds);
void resolver_metrics_close(struct mts_resolver *r);

#endif
