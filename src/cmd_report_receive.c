/* cmd_report_receive.c - `mtasts report receive`: the HTTPS endpoint of
 * RFC 8460 §5.4, libevent's evhttp over bufferevent_openssl on one loop.
 *
 * A report is answered 200 only after its transaction has committed (a
 * worker thread decodes and stores it, each worker with its own store
 * connection, and the loop answers once the worker is done), so a sender
 * that got 200 will find its report stored whatever happens to us next; a
 * sender that got nothing retries, and the retry is a duplicate. The loop
 * itself never waits on a report: a 20 MiB one does not hold up others. */
#define _GNU_SOURCE /* setresuid, getresuid: all three ids set and checked */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli.h"
#include "commands.h"
#include "report_cmd.h"
#include "io/fdlimit_int.h"
#include "mtasts/report_post.h"
#include "mtasts/report_store.h"

#define RECEIVE_DEFAULT_TIMEOUT 30    /* seconds a client may stay idle */
#define RECEIVE_DEFAULT_REQUEST_TIMEOUT 120 /* seconds from a request's first byte to its answer */
#define RECEIVE_MAX_HEADERS 16384     /* bytes of request line and headers */
#define RECEIVE_STOP_GRACE_MS 500     /* responses in flight get this long at a stop */
#define RECEIVE_BODY_BUDGET (1ul << 30) /* request bodies held at once: sizes the default cap */
#define RECEIVE_FD_RESERVE 64	      /* descriptors kept for the store, listener, loop */
#define RECEIVE_FDS_PER_CLIENT 2      /* its socket, and the copy that lingers */
#define RECEIVE_LINGER_MS 2000	      /* a closed connection's input is drained this long */
#define RECEIVE_WORKERS 2	      /* threads that decode and store, each with its store */

enum {
	OPT_STORE = 256,
	OPT_LISTEN,
	OPT_CERT,
	OPT_KEY,
	OPT_MAX_BODY,
	OPT_TIMEOUT,
	OPT_REQUEST_TIMEOUT,
	OPT_MAX_CONNECTIONS,
	OPT_USER,
};

static const struct option receive_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"cert", required_argument, NULL, OPT_CERT},
	{"key", required_argument, NULL, OPT_KEY},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"user", required_argument, NULL, OPT_USER},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct client;
struct job;

struct server {
	const char *cmd, *store_url;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	SSL_CTX *tls;
	struct mts_report_store *store;
	unsigned long requests;
	int exit_code;
	struct client *clients; /* every connection, open or lingering */
	unsigned long client_count, max_clients;
	bool accepting_paused, stopping;
	struct timeval request_timeout;
	/* The workers' queues: under lock, todo FIFO, done for the loop,
	 * which a byte on notify wakes. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, *todo_tail, *done;
	bool workers_stop;
	int notify[2];
	unsigned long jobs_pending; /* handed to workers, not yet answered */
	struct event *jobs_done;    /* notify[0] readable */
};

/* One connection, from accept until its socket is closed: evhttp owns the
 * connection, we follow it through its TLS object (created by tls_bev(),
 * freed with the connection), which carries this in its ex_data. */
struct client {
	struct server *srv;
	struct bufferevent *bev; /* NULL once evhttp has freed the connection */
	struct event *deadline;	 /* the current request's total time */
	struct event *drain;	 /* after the close: what the peer still sends */
	int socket_copy;	 /* dup of the socket (-1 before the handshake starts) */
	size_t drained;
	struct client *prev, *next;
};

static int client_index = -1; /* SSL ex_data index of struct client */

static void log_line(const char *peer, int status, const char *what)
{
	/* key=value, one line per request; what is ours or escaped text */
	printf("receive: peer=%s status=%d %s\n", peer, status, what);
}

/* Send status with a one-line text body. */
static void reply(struct evhttp_request *req, int status, const char *text)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (status == 405)
		evhttp_add_header(h, "Allow", "POST");
	if (out)
		evbuffer_add_printf(out, "%s\n", text);
	const char *phrase = status == 200   ? "OK"
			     : status == 400 ? "Bad Request"
			     : status == 405 ? "Method Not Allowed"
			     : status == 409 ? "Conflict"
			     : status == 413 ? "Payload Too Large"
			     : status == 415 ? "Unsupported Media Type"
			     : status == 503 ? "Service Unavailable"
					     : "Internal Server Error";
	evhttp_send_reply(req, status, phrase, out);
	if (out)
		evbuffer_free(out);
}

/* Reason text from a stranger's body, made one printable line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* A POSTed body, decoded and stored by a worker while the loop goes on
 * serving everyone else (a 20 MiB report takes a second or more to inflate,
 * parse and store), then answered by the loop. */
struct job {
	struct evhttp_request *req; /* NULL once its connection is gone */
	struct evhttp_connection *conn;
	char peer[INET6_ADDRSTRLEN + 8];
	char source[128];
	char *content_type; /* NULL when absent */
	struct evbuffer *body;
	/* the outcome, filled by the worker */
	int status;
	char answer[MTS_ERROR_MSG_MAX + 192];
	char log[MTS_ERROR_MSG_MAX + 64];
	struct job *next;
};

struct worker {
	struct server *srv;
	pthread_t thread;
	bool running;
	struct mts_report_store *store; /* its own connection; NULL after a failure */
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->content_type);
	if (j->body)
		evbuffer_free(j->body);
	free(j);
}

/* The store may have gone away (a PostgreSQL restart): open it again once. */
static int store_again(struct worker *w, struct mts_error *err)
{
	mts_report_store_close(w->store);
	w->store = NULL;
	return mts_report_store_open(w->srv->store_url, &w->store, err);
}

static int ingest(struct worker *w, const struct mts_report_post *p, const char *source,
		  int64_t *id, struct mts_error *err)
{
	int rc = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!w->store && store_again(w, err) < 0)
			continue;
		rc = mts_report_store_ingest(w->store, p->report, p->json, p->json_len, source,
					     (int64_t)time(NULL), id, err);
		if (rc != MTS_ESTORE)
			break;
		mts_report_store_close(w->store);
		w->store = NULL;
	}
	return rc;
}

static void job_answer(struct job *j, int status, const char *answer)
{
	j->status = status;
	snprintf(j->answer, sizeof(j->answer), "%s", answer);
}

/* In a worker: what the body is, stored or quarantined, and the answer. */
static void job_run(struct worker *w, struct job *j)
{
	size_t len = evbuffer_get_length(j->body);
	const char *body = len ? (const char *)evbuffer_pullup(j->body, -1) : "";
	if (!body) {
		job_answer(j, 500, "out of memory; try again later");
		snprintf(j->log, sizeof(j->log), "error=out-of-memory");
		return;
	}
	struct mts_report_post p;
	mts_report_post_decode(j->content_type, body, len, &p);
	char msg[MTS_ERROR_MSG_MAX + 128];
	struct mts_error err = {0};
	if (p.status == 400 || p.status == 413) {
		/* A bad report is kept, with the reason, for its sender's sake. */
		one_line(p.reason);
		if ((w->store || store_again(w, &err) == 0) &&
		    mts_report_store_quarantine(w->store, j->source, p.reason, body, len,
						(int64_t)time(NULL), &err) == 0)
			snprintf(j->log, sizeof(j->log), "result=quarantined");
		else
			snprintf(j->log, sizeof(j->log), "quarantine-failed=\"%s\"", err.message);
		snprintf(msg, sizeof(msg), "%s (quarantined)", p.reason);
		job_answer(j, p.status, msg);
	} else if (p.status != 200) {
		snprintf(j->log, sizeof(j->log), "%s",
			 p.status == 415 ? "result=media-type" : "result=error");
		job_answer(j, p.status, p.reason);
	} else {
		int64_t id = 0;
		int rc = ingest(w, &p, j->source, &id, &err);
		if (rc == MTS_INGEST_CONFLICT) {
			/* Not acknowledged as stored (it is not), and kept for a
			 * person to judge which copy is the reporter's. */
			char reason[MTS_ERROR_MSG_MAX];
			report_conflict_reason(p.report, id, reason, sizeof(reason));
			if (mts_report_store_quarantine(w->store, j->source, reason, body, len,
							(int64_t)time(NULL), &err) == 0) {
				snprintf(j->log, sizeof(j->log), "result=conflict-quarantined");
				snprintf(msg, sizeof(msg), "%s (quarantined)", reason);
				job_answer(j, 409, msg);
			} else {
				snprintf(j->log, sizeof(j->log), "error=\"%s\"", err.message);
				job_answer(j, 503, "the report store failed; try again later");
			}
		} else if (rc == MTS_INGEST_STORED || rc == MTS_INGEST_DUPLICATE) {
			snprintf(msg, sizeof(msg), "%s report %lld",
				 rc == MTS_INGEST_STORED ? "stored as" : "duplicate of",
				 (long long)id);
			snprintf(j->log, sizeof(j->log), "result=%s report=%lld",
				 rc == MTS_INGEST_STORED ? "stored" : "duplicate", (long long)id);
			job_answer(j, 200, msg);
		} else {
			/* Not stored, so not acknowledged: the sender will retry. */
			snprintf(j->log, sizeof(j->log), "error=\"%s\"", err.message);
			job_answer(j, 503, "the report store failed; try again later");
		}
	}
	mts_report_post_clear(&p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while (!srv->todo && !srv->workers_stop)
			pthread_cond_wait(&srv->wake, &srv->lock);
		if (srv->workers_stop)
			break;
		struct job *j = srv->todo;
		srv->todo = j->next;
		if (!srv->todo)
			srv->todo_tail = NULL;
		pthread_mutex_unlock(&srv->lock);
		job_run(w, j);
		pthread_mutex_lock(&srv->lock);
		j->next = srv->done;
		srv->done = j;
		/* A full pipe already holds a wake-up: nothing is lost. */
		ssize_t ignored = write(srv->notify[1], "", 1);
		(void)ignored;
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static void on_jobs_done(evutil_socket_t fd, short what, void *arg);

/* Each worker with its own store (the first takes the one opened at start,
 * which checked the URL), and the loop's ear for their results. */
static int start_workers(struct server *srv, struct worker *workers)
{
	if (pipe2(srv->notify, O_NONBLOCK | O_CLOEXEC) < 0 ||
	    !(srv->jobs_done = event_new(srv->base, srv->notify[0], EV_READ | EV_PERSIST,
					 on_jobs_done, srv)) ||
	    event_add(srv->jobs_done, NULL) < 0) {
		cli_error(srv->cmd, "cannot set up the workers: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < RECEIVE_WORKERS; i++) {
		struct worker *w = &workers[i];
		struct mts_error err = {0};
		w->srv = srv;
		if (i == 0) {
			w->store = srv->store;
			srv->store = NULL;
		} else if (mts_report_store_open(srv->store_url, &w->store, &err) < 0) {
			cli_error(srv->cmd, "%s", err.message);
			return -1;
		}
		int e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e) {
			cli_error(srv->cmd, "cannot start a worker: %s", strerror(e));
			return -1;
		}
		w->running = true;
	}
	return 0;
}

/* Let the workers finish the job in hand (its sender may get no answer and
 * will retry), and close their stores. */
static void stop_workers(struct server *srv, struct worker *workers)
{
	pthread_mutex_lock(&srv->lock);
	srv->workers_stop = true;
	pthread_cond_broadcast(&srv->wake);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < RECEIVE_WORKERS; i++) {
		if (workers[i].running)
			pthread_join(workers[i].thread, NULL);
		workers[i].running = false;
		mts_report_store_close(workers[i].store);
		workers[i].store = NULL;
	}
}

/* The connection of a job in a worker closed: there is nobody to answer. */
static void on_job_conn_close(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct job *j = arg;
	j->req = NULL;
}

/* In the loop: answer the jobs the workers have finished. */
static void on_jobs_done(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct server *srv = arg;
	char sink[64];
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	pthread_mutex_lock(&srv->lock);
	struct job *done = srv->done;
	srv->done = NULL;
	pthread_mutex_unlock(&srv->lock);
	while (done) {
		struct job *j = done;
		done = j->next;
		if (j->req) {
			evhttp_connection_set_closecb(j->conn, NULL, NULL);
			log_line(j->peer, j->status, j->log);
			reply(j->req, j->status, j->answer);
		} else {
			log_line(j->peer, j->status, "result=client-gone");
		}
		srv->jobs_pending--;
		job_free(j);
	}
}

static struct client *client_of(struct evhttp_request *req);
static void on_request_done(struct evhttp_request *req, void *arg);

static void handle(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	srv->requests++;
	struct client *client = client_of(req);
	if (client) {
		/* What follows is our time, not the client's; the next request on
		 * the connection gets its own (on_request_done). */
		if (client->deadline)
			event_del(client->deadline);
		evhttp_request_set_on_complete_cb(req, on_request_done, client);
	}
	char peer[INET6_ADDRSTRLEN + 8] = "?";
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	if (conn) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(conn, &addr, &port);
		if (addr)
			snprintf(peer, sizeof(peer), "%.*s:%u", INET6_ADDRSTRLEN, addr, port);
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		log_line(peer, 405, "method=not-post");
		reply(req, 405, "only POST: send a TLS report as RFC 8460 section 5.4 says");
		return;
	}
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct job *j = conn ? calloc(1, sizeof(*j)) : NULL;
	if (j) {
		j->req = req;
		j->conn = conn;
		snprintf(j->peer, sizeof(j->peer), "%s", peer);
		snprintf(j->source, sizeof(j->source), "https POST from %s", peer);
		j->content_type = ct ? strdup(ct) : NULL;
		j->body = evbuffer_new();
	}
	/* The body's chains move to the job: the worker reads them alone. */
	if (!j || (ct && !j->content_type) || !j->body ||
	    evbuffer_add_buffer(j->body, evhttp_request_get_input_buffer(req)) < 0) {
		job_free(j);
		log_line(peer, 500, "error=out-of-memory");
		reply(req, 500, "out of memory; try again later");
		return;
	}
	evhttp_connection_set_closecb(conn, on_job_conn_close, j);
	pthread_mutex_lock(&srv->lock);
	if (srv->todo_tail)
		srv->todo_tail->next = j;
	else
		srv->todo = j;
	srv->todo_tail = j;
	pthread_cond_signal(&srv->wake);
	pthread_mutex_unlock(&srv->lock);
	srv->jobs_pending++;
}

/* Accept while under the cap; at the cap new connections wait in the
 * kernel's backlog (they are neither refused nor reset). */
static void pace_accepting(struct server *srv)
{
	if (!srv->listener)
		return;
	struct evconnlistener *l = evhttp_bound_socket_get_listener(srv->listener);
	bool full = srv->client_count >= srv->max_clients;
	if (full && !srv->accepting_paused) {
		evconnlistener_disable(l);
		srv->accepting_paused = true;
	} else if (!full && srv->accepting_paused) {
		evconnlistener_enable(l);
		srv->accepting_paused = false;
	}
}

static void client_free(struct client *c)
{
	struct server *srv = c->srv;
	if (c->deadline)
		event_free(c->deadline);
	if (c->drain)
		event_free(c->drain);
	if (c->socket_copy >= 0)
		close(c->socket_copy);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	srv->client_count--;
	pace_accepting(srv);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (what & EV_READ) {
		char sink[16384];
		for (;;) {
			ssize_t n = read(fd, sink, sizeof(sink));
			if (n > 0 && (c->drained += (size_t)n) <= MTS_REPORT_POST_MAX_BYTES)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return; /* more may come */
			break; /* the peer closed, failed, or sent too much */
		}
	}
	client_free(c);
}

/* evhttp has closed the connection (the TLS object is being freed). Its
 * answer may be written while the peer is still sending (a 413 in the
 * middle of a chunked body): a close with unread input would reset the
 * connection and the peer might never read the answer. So the socket
 * lives on in our copy: half-closed, and what arrives read and dropped,
 * for RECEIVE_LINGER_MS at most. */
static void client_closed(struct client *c)
{
	c->bev = NULL;
	if (c->deadline) {
		event_free(c->deadline);
		c->deadline = NULL;
	}
	struct timeval linger = {RECEIVE_LINGER_MS / 1000, (RECEIVE_LINGER_MS % 1000) * 1000};
	if (c->socket_copy >= 0 && !c->srv->stopping && shutdown(c->socket_copy, SHUT_WR) == 0 &&
	    (c->drain = event_new(c->srv->base, c->socket_copy, EV_READ | EV_PERSIST, on_drain,
				  c)) &&
	    event_add(c->drain, &linger) == 0)
		return;
	client_free(c);
}

static void on_tls_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr)
		client_closed(ptr);
}

/* The socket is in place once the handshake starts: keep a copy of it. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
	(void)ret;
	struct client *c = SSL_get_ex_data(ssl, client_index);
	if (!(where & SSL_CB_HANDSHAKE_START) || !c || c->socket_copy >= 0)
		return;
	int fd = SSL_get_fd(ssl);
	if (fd >= 0)
		c->socket_copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* A request (with the TLS handshake, for a connection's first) took longer
 * than --request-timeout: however steadily a slow client trickles its
 * bytes, the connection is cut; evhttp sees the end and frees it. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct client *c = arg;
	int sock = c->socket_copy >= 0 ? c->socket_copy : c->bev ? bufferevent_getfd(c->bev) : -1;
	char peer[INET6_ADDRSTRLEN + 8] = "?";
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (sock >= 0 && getpeername(sock, (struct sockaddr *)&ss, &sl) == 0) {
		char addr[INET6_ADDRSTRLEN] = "?";
		const void *a = ss.ss_family == AF_INET6
					? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					: (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
		unsigned port = ntohs(ss.ss_family == AF_INET6
					      ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
		inet_ntop(ss.ss_family, a, addr, sizeof(addr));
		snprintf(peer, sizeof(peer), "%s:%u", addr, port);
	}
	printf("receive: peer=%s result=cut-off request-timeout=%lds\n", peer,
	       (long)c->srv->request_timeout.tv_sec);
	if (sock >= 0)
		shutdown(sock, SHUT_RDWR);
}

/* The client behind a request (NULL if none). */
static struct client *client_of(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	return ssl ? SSL_get_ex_data(ssl, client_index) : NULL;
}

/* The answer is out: the next request on the connection gets its own time. */
static void on_request_done(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct client *c = arg;
	if (c->deadline)
		event_add(c->deadline, &c->srv->request_timeout);
}

/* evhttp falls back to a plain socket when this returns NULL (out of
 * memory): the client's TLS handshake then reads as a bad request and the
 * connection is closed, so nothing is ever served without TLS. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct client *c = calloc(1, sizeof(*c));
	SSL *ssl = c ? SSL_new(srv->tls) : NULL;
	if (c) {
		c->srv = srv;
		c->socket_copy = -1;
		c->deadline = evtimer_new(base, on_deadline, c);
	}
	if (!ssl || !c->deadline || event_add(c->deadline, &srv->request_timeout) < 0) {
		if (ssl)
			SSL_free(ssl);
		if (c && c->deadline)
			event_free(c->deadline);
		free(c);
		return NULL;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(
		base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		event_free(c->deadline);
		free(c);
		return NULL;
	}
	c->bev = bev;
	c->next = srv->clients;
	if (c->next)
		c->next->prev = c;
	srv->clients = c;
	srv->client_count++;
	SSL_set_ex_data(ssl, client_index, c);
	SSL_set_info_callback(ssl, on_tls_info);
	pace_accepting(srv);
	return bev;
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	if (srv->listener) {
		printf("receive: signal=%d stopping after %lu request%s\n", (int)sig, srv->requests,
		       srv->requests == 1 ? "" : "s");
		/* No new connections; let responses being written finish. */
		evhttp_del_accept_socket(srv->http, srv->listener);
		srv->listener = NULL;
		struct timeval grace = {0, RECEIVE_STOP_GRACE_MS * 1000};
		event_base_once(srv->base, -1, EV_TIMEOUT, on_stop_timer, srv->base, &grace);
	}
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into a numeric address and a port. */
static int parse_listen(const char *v, char *addr, size_t cap, unsigned *port)
{
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v)
		return -1;
	const char *a = v, *a_end = colon;
	if (*a == '[') {
		if (a_end[-1] != ']')
			return -1;
		a++;
		a_end--;
	}
	size_t n = (size_t)(a_end - a);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return -1;
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

static int tls_setup(struct server *srv, const char *cert, const char *key)
{
	srv->tls = SSL_CTX_new(TLS_server_method());
	if (!srv->tls)
		return -1;
	SSL_CTX_set_min_proto_version(srv->tls, TLS1_2_VERSION);
	SSL_CTX_set_options(srv->tls, SSL_OP_NO_RENEGOTIATION);
	const char *what = NULL, *file = NULL;
	if (SSL_CTX_use_certificate_chain_file(srv->tls, cert) != 1)
		what = "cannot load the certificate chain", file = cert;
	else if (SSL_CTX_use_PrivateKey_file(srv->tls, key, SSL_FILETYPE_PEM) != 1)
		what = "cannot load the private key", file = key;
	else if (SSL_CTX_check_private_key(srv->tls) != 1)
		what = "the private key does not match the certificate", file = key;
	if (what) {
		char detail[256];
		ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
		cli_error(srv->cmd, "%s: %s (%s)", file, what, detail);
		return -1;
	}
	return 0;
}

/* How many connections at once: what the descriptors allow (two each,
 * beside a reserve), and what RECEIVE_BODY_BUDGET of bodies allows. */
static unsigned long connection_cap(unsigned long fds, long max_body)
{
	unsigned long by_fds =
		fds > RECEIVE_FD_RESERVE ? (fds - RECEIVE_FD_RESERVE) / RECEIVE_FDS_PER_CLIENT : 0;
	unsigned long by_memory = RECEIVE_BODY_BUDGET / (unsigned long)max_body;
	return by_fds < by_memory ? by_fds : by_memory;
}

int report_receive_main(const char *cmd, int argc, char **argv)
{
	const char *listen = NULL, *cert = NULL, *key = NULL, *user = NULL;
	long max_body = MTS_REPORT_POST_MAX_BYTES, timeout = RECEIVE_DEFAULT_TIMEOUT;
	unsigned long max_connections = 0;
	struct server srv = {.cmd = cmd,
			     .request_timeout = {RECEIVE_DEFAULT_REQUEST_TIMEOUT, 0},
			     .lock = PTHREAD_MUTEX_INITIALIZER,
			     .wake = PTHREAD_COND_INITIALIZER,
			     .notify = {-1, -1}};
	struct worker workers[RECEIVE_WORKERS] = {0};
	int c;
	optind = 1;
	while ((c = cli_getopt(cmd, argc, argv, ":h", receive_options)) != -1) {
		unsigned long n;
		switch (c) {
		case 'h': return cli_print_help(cmd_report_help);
		case OPT_STORE: srv.store_url = optarg; break;
		case OPT_LISTEN: listen = optarg; break;
		case OPT_CERT: cert = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_USER: user = optarg; break;
		case OPT_MAX_BODY:
			if (cli_parse_uint(optarg, 1, MTS_REPORT_POST_MAX_BYTES, &n) < 0)
				return cli_usage(cmd, "--max-body needs a size from 1 to %u bytes",
						 MTS_REPORT_POST_MAX_BYTES);
			max_body = (long)n;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &n) < 0)
				return cli_usage(cmd, "--timeout needs seconds from 1 to 3600");
			timeout = (long)n;
			break;
		case OPT_REQUEST_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &n) < 0)
				return cli_usage(cmd, "--request-timeout needs seconds from 1 to 3600");
			srv.request_timeout.tv_sec = (time_t)n;
			break;
		case OPT_MAX_CONNECTIONS:
			if (cli_parse_uint(optarg, 1, 1000000, &n) < 0)
				return cli_usage(cmd, "--max-connections needs a number from 1 to 1000000");
			max_connections = n;
			break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(cmd, "receive takes no operands ('%s')", argv[optind]);
	if (!listen || !cert || !key)
		return cli_usage(cmd, "receive needs --listen ADDR:PORT, --cert FILE and --key FILE");
	if (user && !*user)
		return cli_usage(cmd, "--user needs a user name");
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	if (parse_listen(listen, addr, sizeof(addr), &port) < 0)
		return cli_usage(cmd, "--listen needs a numeric ADDR:PORT ([ADDR]:PORT for IPv6), not '%s'",
				 listen);
	if (!srv.store_url) {
		const char *env = getenv(MTS_REPORT_STORE_ENV);
		srv.store_url = env && *env ? env : MTS_REPORT_STORE_DEFAULT;
	}
	/* The cap, not accept() failing with EMFILE, decides who is served. */
	long raised = mts_fdlimit_raise();
	unsigned long fds = raised > 0 ? (unsigned long)raised : 0;
	unsigned long cap = connection_cap(fds, max_body);
	if (max_connections > connection_cap(fds, 1))
		return cli_usage(cmd,
				 "--max-connections %lu: the descriptor limit (%lu) allows at most %lu",
				 max_connections, fds, connection_cap(fds, 1));
	srv.max_clients = max_connections ? max_connections : cap;
	if (srv.max_clients == 0) {
		cli_error(cmd, "the descriptor limit (%lu) leaves no room for a connection", fds);
		return CLI_EXIT_INCOMPLETE;
	}
	int rc = CLI_EXIT_INCOMPLETE;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (client_index < 0)
		client_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_tls_free);
	if (client_index < 0) {
		cli_error(cmd, "cannot set up TLS");
		goto out;
	}
	if (tls_setup(&srv, cert, key) < 0)
		goto out;
	srv.base = event_base_new();
	srv.http = srv.base ? evhttp_new(srv.base) : NULL;
	if (!srv.http) {
		cli_error(cmd, "cannot set up the event loop");
		goto out;
	}
	evhttp_set_bevcb(srv.http, tls_bev, &srv);
	evhttp_set_gencb(srv.http, handle, &srv);
	evhttp_set_max_body_size(srv.http, (ev_ssize_t)max_body);
	/* Over the cap, read and drop the rest so that the client sees the 413
	 * (libevent's own page) instead of a reset; the timeout still bounds it. */
	evhttp_set_flags(srv.http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(srv.http, RECEIVE_MAX_HEADERS);
	evhttp_set_timeout(srv.http, (int)timeout);
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						     EVHTTP_REQ_OPTIONS);
	srv.listener = evhttp_bind_socket_with_handle(srv.http, addr, (ev_uint16_t)port);
	if (!srv.listener) {
		cli_error(cmd, "cannot listen on %s: %s", listen, strerror(errno));
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(srv.listener), (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	/* Bound (a port below 1024 needs root) and the key read: now become
	 * the user, before the store is opened, so that its files are the
	 * user's. */
	if (user) {
		char why[256];
		if (cli_drop_privileges(user, why, sizeof(why)) < 0) {
			cli_error(cmd, "%s", why);
			goto out;
		}
	}
	rc = report_open_store(cmd, srv.store_url, &srv.store);
	if (rc)
		goto out;
	rc = CLI_EXIT_INCOMPLETE;
	if (start_workers(&srv, workers) < 0)
		goto out;
	struct event *sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	struct event *sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		cli_error(cmd, "cannot catch signals");
		if (sigterm)
			event_free(sigterm);
		if (sigint)
			event_free(sigint);
		goto out;
	}
	printf("receive: max-connections=%lu request-timeout=%lds descriptors=%lu%s%s\n",
	       srv.max_clients, (long)srv.request_timeout.tv_sec, fds, user ? " user=" : "",
	       user ? user : "");
	printf("receive: listening on %s%s%s:%u\n", strchr(addr, ':') ? "[" : "", addr,
	       strchr(addr, ':') ? "]" : "", port);
	event_base_dispatch(srv.base);
	event_free(sigterm);
	event_free(sigint);
	printf("receive: stopped\n");
	rc = CLI_EXIT_OK;
out:
	stop_workers(&srv, workers);
	srv.stopping = true; /* connections closed now close at once */
	if (srv.http)
		evhttp_free(srv.http); /* clears the jobs' requests (on_job_conn_close) */
	while (srv.clients)
		client_free(srv.clients);
	/* What was left unanswered: its sender retries. */
	for (struct job *lists[] = {srv.todo, srv.done}, **l = lists; l < lists + 2; l++)
		while (*l) {
			struct job *j = *l;
			*l = j->next;
			job_free(j);
		}
	if (srv.jobs_done)
		event_free(srv.jobs_done);
	for (int i = 0; i < 2; i++)
		if (srv.notify[i] >= 0)
			close(srv.notify[i]);
	if (srv.base)
		event_base_free(srv.base);
	if (srv.tls)
		SSL_CTX_free(srv.tls);
	mts_report_store_close(srv.store);
	return rc;
}
