/* resolver_conn.c - the connections of `mtasts resolver`: listeners, the
 * netstring framing, a queue of requests per connection answered strictly
 * in arrival order, and the socketmap requests themselves.
 *
 * Plain events on the sockets: answers are handed to the kernel as soon as
 * they are ready, without an event round trip (a cached answer costs one
 * recv and one send, as a bufferevent would cost seven system calls). What
 * a request means and how its answer is given is the connection's ops:
 * socketmap_ops here, the control socket's in resolver_ctl.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "core/netstring_int.h"
#include "core/text_int.h"
#include "engine/resolver_int.h"

#define OUTPUT_MAX (1024 * 1024) /* bytes queued to a client that does not read */

static void process_input(struct conn *c);
static void try_write(struct conn *c);

static void request_free(struct request *q)
{
	resolver_lookup_cancel(q);
	if (q->timer)
		event_free(q->timer);
	free(q->answer);
	free(q);
}

struct request *resolver_request_new(struct conn *c)
{
	struct request *q = calloc(1, sizeof(*q));
	if (!q) {
		c->closing = true;
		return NULL;
	}
	q->conn = c;
	q->started = resolver_monotonic();
	*c->tail = q;
	c->tail = &q->next;
	c->inflight++;
	return q;
}

void resolver_maybe_finish_shutdown(struct mts_resolver *r)
{
	if (r->shutting_down && r->conn_count == 0 && !r->finished) {
		r->finished = true;
		event_base_loopbreak(r->base);
	}
}

static void write_answer(struct conn *c, const char *text, size_t len)
{
	struct evbuffer *out = c->out;
	char frame[512], digits[24];
	size_t d = sizeof(digits), n = 0; /* the netstring's length, by hand: hot path */
	size_t v = len;
	do
		digits[--d] = (char)('0' + v % 10);
	while ((v /= 10) && d > 0);
	while (d < sizeof(digits))
		frame[n++] = digits[d++];
	frame[n++] = ':';
	if (n + len + 1 <= sizeof(frame)) { /* the usual case: one copy */
		memcpy(frame + n, text, len);
		frame[n + len] = ',';
		evbuffer_add(out, frame, n + len + 1);
		return;
	}
	evbuffer_add(out, frame, n);
	evbuffer_add(out, text, len);
	evbuffer_add(out, ",", 1);
}

/* Write every answer at the head of the queue that is ready, in order. */
static void flush(struct conn *c)
{
	while (c->head && c->head->done) {
		struct request *q = c->head;
		write_answer(c, q->answer, q->answer_len);
		c->head = q->next;
		if (!c->head)
			c->tail = &c->head;
		c->inflight--;
		request_free(q);
	}
	if (c->in_use)
		return; /* process_input writes when it is done */
	if (c->paused && !c->closing && c->inflight < MTS_RESOLVER_PIPELINE_MAX &&
	    evbuffer_get_length(c->out) < OUTPUT_MAX) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		process_input(c); /* may free c */
		return;
	}
	try_write(c); /* may free c */
}

void resolver_complete(struct request *q, const char *text, size_t len)
{
	struct mts_resolver *r = q->conn->r;
	if (q->done)
		return;
	free(q->answer);
	q->answer = mts_strndup(text, len);
	q->answer_len = q->answer ? len : 0;
	if (!q->answer) {
		q->answer = mts_strndup("TEMP out of memory", 18);
		q->answer_len = q->answer ? 18 : 0;
	}
	q->done = true;
	if (q->timer) { /* it waited for the network (or for its timeout) */
		resolver_metrics_observe_wait(r, resolver_monotonic() - q->started);
		evtimer_del(q->timer);
	}
	flush(q->conn);
}

void resolver_complete_str(struct request *q, const char *text)
{
	resolver_complete(q, text, strlen(text));
}

/* ---- socketmap requests ------------------------------------------------- */

static void log_lookup(struct mts_resolver *r, const char *zone, const char *domain,
		       enum mts_resolver_kind kind)
{
	resolver_log(r, LOG_INFO, "lookup zone=%s domain=%s answer=%s", zone[0] ? zone : "default",
		     domain, mts_resolver_kind_name(kind));
}

static void socketmap_reply(struct request *q, const char *text, size_t len,
			    enum mts_resolver_kind kind)
{
	struct mts_resolver *r = q->conn->r;
	if (q->done)
		return;
	if (kind <= MTS_ANSWER_PERM)
		r->counters[kind]++;
	if (r->opts.verbose)
		log_lookup(r, q->zone.name, q->domain, kind);
	resolver_complete(q, text, len);
}

static void socketmap_result(struct request *q, const struct mts_discovery_result *res,
			     const char *text, size_t len, enum mts_resolver_kind kind)
{
	socketmap_reply(q, text, len, kind);
}

/* A lookup request answered without waiting: unusable input, or a fresh
 * answer in the cache. Returns true with *text and *kind set; otherwise
 * zone and domain are filled for the lookup. */
static bool answer_now(struct mts_resolver *r, const char *payload, size_t len,
		       struct mts_resolver_zone *zone, char domain[MTS_DNAME_MAX + 1],
		       const char **text, size_t *text_len, enum mts_resolver_kind *kind)
{
	const char *name, *key;
	size_t name_len, key_len;
	if (mts_socketmap_split(payload, len, &name, &name_len, &key, &key_len) < 0) {
		if (len > 0 && payload[0] != ' ' && memchr(payload, ' ', len)) {
			*text = "NOTFOUND "; /* "NAME " */
			*kind = MTS_ANSWER_NOTFOUND;
		} else {
			*text = "PERM expected NAME SPACE KEY";
			*kind = MTS_ANSWER_PERM;
		}
		*text_len = strlen(*text);
		return true;
	}
	*zone = *mts_resolver_zone_find(&r->cfg, name, name_len);
	switch (mts_resolver_key(key, key_len, domain)) {
	case MTS_RESOLVER_KEY_DOMAIN:
		break;
	case MTS_RESOLVER_KEY_NOTFOUND:
		*text = "NOTFOUND ";
		*text_len = 9;
		*kind = MTS_ANSWER_NOTFOUND;
		return true;
	case MTS_RESOLVER_KEY_PERM:
		/* A domain, but in no form Postfix sends: not NOTFOUND, which
		 * would send the mail without its policy. */
		*text = "PERM unusable key";
		*text_len = strlen(*text);
		*kind = MTS_ANSWER_PERM;
		domain[0] = '\0';
		return true;
	}
	struct answer *a = resolver_answer_fresh(r, zone->name, domain, resolver_now(r));
	if (!a)
		return false;
	r->cache_hits++;
	*text = a->text;
	*text_len = a->len;
	*kind = a->kind;
	return true;
}

static void socketmap_handle(struct conn *c, const char *payload, size_t len)
{
	struct mts_resolver *r = c->r;
	struct mts_resolver_zone zone = {0};
	char domain[MTS_DNAME_MAX + 1] = "";
	const char *text = NULL;
	size_t text_len = 0;
	enum mts_resolver_kind kind = MTS_ANSWER_PERM;
	bool now = answer_now(r, payload, len, &zone, domain, &text, &text_len, &kind);
	if (now && !c->head) { /* nothing queued before it: write at once */
		r->requests++;
		r->counters[kind]++;
		if (r->opts.verbose)
			log_lookup(r, zone.name, kind == MTS_ANSWER_PERM ? "-" : domain, kind);
		write_answer(c, text, text_len);
		return;
	}
	struct request *q = resolver_request_new(c);
	if (!q)
		return;
	r->requests++;
	if (now) {
		socketmap_reply(q, text, text_len, kind);
	} else {
		q->zone = zone;
		memcpy(q->domain, domain, sizeof(domain));
		resolver_start_lookup(q);
	}
}

static size_t socketmap_max_request(const struct mts_resolver *r)
{
	return r->cfg.max_request;
}

static const struct conn_ops socketmap_ops = {
	.max_request = socketmap_max_request,
	.handle = socketmap_handle,
	.reply = socketmap_reply,
	.result = socketmap_result,
	.cached_on_timeout = true,
};

/* ---- the connection ----------------------------------------------------- */

static void protocol_error(struct conn *c, const char *why)
{
	struct mts_resolver *r = c->r;
	resolver_log(r, LOG_NOTICE, "client error: %s; closing the connection", why);
	struct request *q = resolver_request_new(c);
	c->closing = true;
	event_del(c->ev_read);
	c->in_len = 0;
	if (!q)
		return;
	char text[96];
	snprintf(text, sizeof(text), "PERM %s", why);
	c->ops->reply(q, text, strlen(text), MTS_ANSWER_PERM);
}

/* Take every complete request from the input buffer, in order. */
static void process_input(struct conn *c)
{
	size_t max = c->ops->max_request(c->r);
	size_t off = 0;
	c->in_use++;
	while (!c->closing && off < c->in_len) {
		if (c->inflight >= MTS_RESOLVER_PIPELINE_MAX ||
		    evbuffer_get_length(c->out) >= OUTPUT_MAX) {
			c->paused = true;
			event_del(c->ev_read);
			break;
		}
		const char *payload;
		size_t plen, used;
		int rc = mts_netstring_parse(c->in + off, c->in_len - off, max, &payload, &plen,
					     &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			protocol_error(c, rc == MTS_ETOOBIG ? "request too long"
							    : "malformed netstring");
			off = c->in_len = 0;
			break;
		}
		off += used;
		c->ops->handle(c, payload, plen);
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	c->in_use--;
	if (c->dead) {
		resolver_conn_free(c);
		return;
	}
	try_write(c);
}

/* Hand the answers to the kernel now (no event round trip); wait for
 * writability only when it does not take them all. */
static void try_write(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		/* send(2) of the first chunk rather than evbuffer_write's
		 * writev(2), which goes through one more layer of the kernel:
		 * the answers of one read are usually one chunk. */
		size_t chunk = evbuffer_get_contiguous_space(c->out);
		const unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)chunk);
		if (!p) { /* not for the first chunk, which needs no copy */
			resolver_conn_free(c);
			return;
		}
		ssize_t n = send(c->fd, p, chunk, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				if (!event_pending(c->ev_write, EV_WRITE, NULL))
					event_add(c->ev_write, NULL);
				return;
			}
			resolver_conn_free(c); /* the client went away */
			return;
		}
		evbuffer_drain(c->out, (size_t)n);
	}
	if (event_pending(c->ev_write, EV_WRITE, NULL))
		event_del(c->ev_write);
	if (c->closing && !c->head) {
		resolver_conn_free(c);
		return;
	}
	if (c->paused && !c->closing && c->inflight < MTS_RESOLVER_PIPELINE_MAX) {
		c->paused = false;
		event_add(c->ev_read, NULL);
		process_input(c);
	}
}

/* The loop's cached clock (one clock read per loop iteration), in µs. */
static long long loop_clock_us(struct mts_resolver *r)
{
	struct timeval now;
	event_base_gettimeofday_cached(r->base, &now);
	return (long long)now.tv_sec * 1000000 + now.tv_usec;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->in_len == c->in_cap) { /* cannot happen: the parser refuses before */
		protocol_error(c, "request too long");
		try_write(c);
		return;
	}
	ssize_t got = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (got <= 0) {
		resolver_conn_free(c); /* EOF or error: nobody is left to answer */
		return;
	}
	c->in_len += (size_t)got;
	/* No timer work per request: the idle timer, when it fires, looks at
	 * when the client last sent something. */
	c->last_read_us = loop_clock_us(c->r);
	process_input(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	try_write(arg);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval idle = {.tv_sec = c->r->cfg.idle_timeout};
	long long left = (long long)c->r->cfg.idle_timeout * 1000000 -
			 (loop_clock_us(c->r) - c->last_read_us);
	if (left > (long long)c->r->cfg.idle_timeout * 1000000) /* the clock was set back */
		left = (long long)c->r->cfg.idle_timeout * 1000000;
	if (left > 0) { /* it spoke since the timer was set: wait for the rest */
		struct timeval rest = {.tv_sec = (time_t)(left / 1000000),
				       .tv_usec = (suseconds_t)(left % 1000000)};
		evtimer_add(c->ev_idle, &rest);
		return;
	}
	if (c->head || c->paused || evbuffer_get_length(c->out) > 0) { /* busy, not idle */
		evtimer_add(c->ev_idle, &idle);
		return;
	}
	resolver_log(c->r, LOG_INFO, "closing an idle client after %u s", c->r->cfg.idle_timeout);
	resolver_conn_free(c);
}

/* Free what a connection owns (events, buffers, socket) and itself; it is
 * on no list. Partly built connections (resolver_accept) come here too. */
static void conn_release(struct conn *c)
{
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_idle)
		event_free(c->ev_idle);
	if (c->out)
		evbuffer_free(c->out);
	free(c->in);
	evutil_closesocket(c->fd);
	free(c);
}

void resolver_conn_free(struct conn *c)
{
	struct mts_resolver *r = c->r;
	if (c->in_use) {
		c->dead = true;
		return;
	}
	while (c->head) {
		struct request *q = c->head;
		c->head = q->next;
		request_free(q);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->conn_count--;
	if (c->from->conns-- >= c->from->max)
		resolver_listeners_update(r);
	conn_release(c);
	resolver_maybe_finish_shutdown(r);
}

void resolver_conn_set_idle(struct mts_resolver *r, struct conn *c)
{
	struct timeval idle = {.tv_sec = r->cfg.idle_timeout};
	c->last_read_us = loop_clock_us(r);
	evtimer_add(c->ev_idle, &idle);
}

void resolver_accept(struct mts_resolver *r, evutil_socket_t fd, const struct conn_ops *ops,
		     struct resolver_listener *from)
{
	if (from->conns >= from->max || r->shutting_down) { /* the listener is being disabled */
		resolver_log(r, LOG_WARNING, "refusing a client: %zu connections", r->conn_count);
		evutil_closesocket(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->r = r;
	c->fd = fd;
	c->ops = ops;
	c->from = from;
	c->in_cap = ops->max_request(r) + MTS_NETSTRING_LEN_DIGITS + 2;
	c->in = malloc(c->in_cap);
	c->out = evbuffer_new();
	c->ev_read = event_new(r->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->ev_write = event_new(r->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	c->ev_idle = evtimer_new(r->base, on_idle, c);
	if (!c->in || !c->out || !c->ev_read || !c->ev_write || !c->ev_idle ||
	    evutil_make_socket_nonblocking(fd) < 0) {
		conn_release(c);
		return;
	}
	c->tail = &c->head;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->conn_count++;
	if (++from->conns >= from->max)
		resolver_listeners_update(r);
	resolver_conn_set_idle(r, c);
	event_add(c->ev_read, NULL);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct mts_resolver *r = arg;
	resolver_accept(r, fd, &socketmap_ops, &r->sm);
}

/* ---- listeners ---------------------------------------------------------- */

/* The sockets are made before privileges are dropped, so they would be
 * root's: give them to `user` (and `group`, else the user's group), or a
 * 0660 socket would shut out the Postfix group it was meant for. */
static int socket_owner(struct mts_resolver *r, const char *path, struct mts_error *err)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	if (!r->cfg.user[0] && !r->cfg.group[0])
		return 0;
	if (r->cfg.user[0]) {
		errno = 0;
		struct passwd *pw = getpwnam(r->cfg.user);
		if (!pw)
			return mts_error_set(err, MTS_EINVAL, "user %s: %s", r->cfg.user,
					     errno ? strerror(errno) : "no such user");
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (r->cfg.group[0]) {
		errno = 0;
		struct group *gr = getgrnam(r->cfg.group);
		if (!gr)
			return mts_error_set(err, MTS_EINVAL, "group %s: %s", r->cfg.group,
					     errno ? strerror(errno) : "no such group");
		gid = gr->gr_gid;
	}
	if (chown(path, uid, gid) < 0)
		return mts_error_set(err, MTS_EIO, "chown %s to %s:%s: %s", path,
				     r->cfg.user[0] ? r->cfg.user : "-",
				     r->cfg.group[0] ? r->cfg.group : "-", strerror(errno));
	return 0;
}

struct evconnlistener *resolver_listen_unix(struct mts_resolver *r, const char *path, int mode,
					    evconnlistener_cb cb, struct mts_error *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		mts_error_set(err, MTS_EINVAL, "%s: socket path too long", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			mts_error_set(err, MTS_EIO, "%s exists and is not a socket", path);
			return NULL;
		}
		unlink(path); /* a stale socket of an earlier run */
	}
	struct evconnlistener *l = evconnlistener_new_bind(
		r->base, cb, r, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
		128, (struct sockaddr *)&sun, (int)sizeof(sun));
	if (!l) {
		mts_error_set(err, MTS_EIO, "cannot listen on %s: %s", path, strerror(errno));
		return NULL;
	}
	evconnlistener_set_error_cb(l, resolver_on_accept_error);
	if (mode >= 0 && chmod(path, (mode_t)mode) < 0) {
		mts_error_set(err, MTS_EIO, "chmod %s: %s", path, strerror(errno));
		evconnlistener_free(l);
		unlink(path);
		return NULL;
	}
	if (socket_owner(r, path, err) < 0) {
		evconnlistener_free(l);
		unlink(path);
		return NULL;
	}
	return l;
}

static struct evconnlistener *listen_tcp(struct mts_resolver *r, struct mts_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", r->cfg.port);
	int gai = getaddrinfo(r->cfg.host[0] ? r->cfg.host : NULL, port, &hints, &ai);
	if (gai != 0) {
		mts_error_set(err, MTS_EINVAL, "host %s: %s", r->cfg.host, gai_strerror(gai));
		return NULL;
	}
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
			 LEV_OPT_DISABLED;
	if (r->cfg.reuse_port)
		flags |= LEV_OPT_REUSEABLE_PORT;
	struct evconnlistener *l = evconnlistener_new_bind(r->base, on_accept, r, flags, 1024,
							   ai->ai_addr, (int)ai->ai_addrlen);
	if (!l)
		mts_error_set(err, MTS_EIO, "cannot listen on %s port %u: %s", r->cfg.host,
			      r->cfg.port, strerror(errno));
	else
		evconnlistener_set_error_cb(l, resolver_on_accept_error);
	freeaddrinfo(ai);
	return l;
}

int resolver_listen(struct mts_resolver *r, struct mts_error *err)
{
	if (r->cfg.path[0]) {
		r->sm.ev = resolver_listen_unix(r, r->cfg.path, r->cfg.mode, on_accept, err);
		if (r->sm.ev)
			snprintf(r->unix_path, sizeof(r->unix_path), "%s", r->cfg.path);
	} else {
		r->sm.ev = listen_tcp(r, err);
	}
	return r->sm.ev ? 0 : (err ? err->code : MTS_EIO);
}

void resolver_listener_describe(struct mts_resolver *r, char *out, size_t cap)
{
	if (r->unix_path[0]) {
		snprintf(out, cap, "unix:%s", r->unix_path);
		return;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	snprintf(out, cap, "?");
	if (getsockname(evconnlistener_get_fd(r->sm.ev), (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(out, cap, "inet:%s:%u", addr, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(out, cap, "inet:[%s]:%u", addr, ntohs(sin6->sin6_port));
	}
}
