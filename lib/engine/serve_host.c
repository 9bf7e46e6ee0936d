/* serve_host.c - the policy host of `mtasts serve` (see serve_host_int.h).
 *
 * Tenants and certificates are two sorted arrays rebuilt from the store
 * (bsearch by name), swapped in whole, so a request never sees half a
 * refresh. A refresh reads the domains only when the store changed since
 * the last one (SQLite's data_version), and the certificates updated since
 * the last read. An SSL_CTX is reference counted by OpenSSL, so replacing
 * one while a connection uses it is safe. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "core/serve_route_int.h"
#include "core/text_int.h"
#include "engine/serve_host_int.h"
#include "io/fdlimit_int.h"

struct tenant {
	char *name;   /* the hosted domain */
	char *policy; /* the bytes served */
	size_t policy_len;
};

struct cert {
	char *name;   /* mta-sts.<domain> */
	SSL_CTX *ctx; /* one reference of ours */
	long long not_after;
};

/* One TLS connection, known from its SSL (ex_data): freed with it. */
struct tls_conn {
	struct mts_serve_host *h;
	struct bufferevent *bev;
	double started;
	struct tls_conn *prev, *next;
};

struct mts_serve_host {
	struct event_base *base;
	struct mts_serve_store *store;
	struct mts_serve_host_opts opts;
	struct evhttp *https, *http;
	struct evconnlistener *https_listener;
	struct tls_conn *conns; /* every TLS connection, oldest last */
	struct event *sweep_ev;
	bool paused;
	SSL_CTX *front; /* no certificate: the SNI callback picks the tenant's */
	struct event *refresh_ev;
	struct tenant *tenants;
	size_t tenant_count;
	struct cert *certs;
	size_t cert_count;
	long long certs_read_at; /* the updated_at the next read starts from */
	long long data_version;	 /* of the store at the last domain read, -1 none */
	struct mts_serve_host_stats stats;
};

static void logf_(struct mts_serve_host *h, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct mts_serve_host *h, int prio, const char *fmt, ...)
{
	if (!h->opts.log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->opts.log(prio, line, h->opts.log_arg);
}

static int by_tenant(const void *a, const void *b)
{
	return strcmp(((const struct tenant *)a)->name, ((const struct tenant *)b)->name);
}

static int by_cert(const void *a, const void *b)
{
	return strcmp(((const struct cert *)a)->name, ((const struct cert *)b)->name);
}

static void tenants_free(struct tenant *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].name);
		free(t[i].policy);
	}
	free(t);
}

static void certs_free(struct cert *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].name);
		SSL_CTX_free(c[i].ctx);
	}
	free(c);
}

static const struct tenant *tenant_find(const struct mts_serve_host *h, const char *name)
{
	struct tenant key = {.name = (char *)name};
	return h->tenant_count ? bsearch(&key, h->tenants, h->tenant_count, sizeof(key), by_tenant)
			       : NULL;
}

static struct cert *cert_find(const struct mts_serve_host *h, const char *name)
{
	struct cert key = {.name = (char *)name};
	return h->cert_count ? bsearch(&key, h->certs, h->cert_count, sizeof(key), by_cert) : NULL;
}

/* SNI: the tenant's certificate, or the unrecognized_name alert. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct mts_serve_host *h = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char lower[MTS_DNAME_MAX + 1];
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > MTS_DNAME_MAX) {
		h->stats.sni_unknown++;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	for (size_t i = 0; i <= n; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
	struct cert *c = cert_find(h, lower);
	if (!c) {
		h->stats.sni_unknown++;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	h->stats.sni_ok++;
	SSL_set_SSL_CTX(ssl, c->ctx);
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* A tenant's SSL_CTX from PEM key and chain (leaf first); NULL with why. */
static SSL_CTX *ctx_from_pem(const struct mts_serve_cert *c, char *why, size_t cap)
{
	SSL_CTX *ctx = ctx_new();
	BIO *chain = BIO_new_mem_buf(c->chain_pem, -1), *key = BIO_new_mem_buf(c->key_pem, -1);
	X509 *leaf = chain ? PEM_read_bio_X509(chain, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pkey = key ? PEM_read_bio_PrivateKey(key, NULL, NULL, NULL) : NULL;
	bool ok = ctx && leaf && pkey && SSL_CTX_use_certificate(ctx, leaf) == 1 &&
		  SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	X509 *extra;
	while (ok && (extra = PEM_read_bio_X509(chain, NULL, NULL, NULL)))
		if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
			X509_free(extra);
			ok = false;
		}
	if (!ok) {
		unsigned long e = ERR_peek_last_error();
		snprintf(why, cap, "%s",
			 !leaf	 ? "no certificate in the chain PEM"
			 : !pkey ? "no private key in the key PEM"
			 : e	 ? ERR_reason_error_string(e)
				 : "the key does not match the certificate");
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	BIO_free(chain);
	BIO_free(key);
	return ctx;
}

static long long store_version(struct mts_serve_host *h);

static int read_tenants(struct mts_serve_host *h, struct mts_error *err)
{
	long long v = store_version(h);
	if (v >= 0 && v == h->data_version)
		return 0; /* nothing committed since the last read */
	struct mts_hosted_domain *all;
	size_t n;
	int rc = mts_serve_store_list(h->store, &all, &n, err);
	if (rc < 0)
		return rc;
	struct tenant *t = calloc(n ? n : 1, sizeof(*t));
	size_t k = 0;
	for (size_t i = 0; t && i < n; i++) {
		if (all[i].state.phase == MTS_HOSTED_GONE || !all[i].policy_len)
			continue;
		t[k].name = all[i].name[0] ? strdup(all[i].name) : NULL;
		t[k].policy = all[i].policy; /* taken */
		t[k].policy_len = all[i].policy_len;
		all[i].policy = NULL;
		if (!t[k].name) {
			free(t[k].policy);
			tenants_free(t, k);
			t = NULL;
			break;
		}
		k++;
	}
	mts_serve_domains_free(all, n);
	if (!t)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	qsort(t, k, sizeof(*t), by_tenant); /* the store's order is already by name */
	tenants_free(h->tenants, h->tenant_count);
	h->tenants = t;
	h->tenant_count = k;
	h->data_version = v;
	return 0;
}

static int read_certs(struct mts_serve_host *h, struct mts_error *err)
{
	struct mts_serve_cert *c;
	size_t n;
	long long started = (long long)time(NULL);
	int rc = mts_serve_store_certs(h->store, h->certs_read_at, &c, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char why[160];
		SSL_CTX *ctx = ctx_from_pem(&c[i], why, sizeof(why));
		if (!ctx) {
			logf_(h, LOG_ERR, "event=cert_unusable name=%s reason=\"%s\"", c[i].name,
			      why);
			continue;
		}
		SSL_CTX_set_tlsext_servername_callback(ctx, NULL);
		struct cert *old = cert_find(h, c[i].name);
		if (old) {
			SSL_CTX_free(old->ctx);
			old->ctx = ctx;
			old->not_after = c[i].not_after;
			continue;
		}
		struct cert *g = realloc(h->certs, (h->cert_count + 1) * sizeof(*g));
		char *name = strdup(c[i].name);
		if (!g || !name) {
			if (g)
				h->certs = g;
			free(name);
			SSL_CTX_free(ctx);
			mts_serve_certs_free(c, n);
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
		}
		h->certs = g;
		g[h->cert_count++] =
			(struct cert){.name = name, .ctx = ctx, .not_after = c[i].not_after};
		/* Kept sorted for cert_find(): insertion sort of the new one. */
		for (size_t k = h->cert_count - 1; k > 0 && by_cert(&g[k - 1], &g[k]) > 0; k--) {
			struct cert t = g[k];
			g[k] = g[k - 1];
			g[k - 1] = t;
		}
	}
	mts_serve_certs_free(c, n);
	/* updated_at has a resolution of a second: read that second again. */
	h->certs_read_at = started - 1;
	return 0;
}

int mts_serve_host_refresh(struct mts_serve_host *h, struct mts_error *err)
{
	int rc = read_tenants(h, err);
	if (!rc)
		rc = read_certs(h, err);
	h->stats.refreshes++;
	if (rc)
		h->stats.refresh_failures++;
	h->stats.tenants = h->tenant_count;
	h->stats.certificates = h->cert_count;
	return rc;
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct mts_serve_host *h = arg;
	struct mts_error err = {0};
	if (mts_serve_host_refresh(h, &err) < 0)
		logf_(h, LOG_WARNING, "event=refresh_failed reason=\"%s\" serving=previous",
		      err.message);
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
		  const char *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	struct evbuffer *b = evbuffer_new();
	if (b && len)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static const char *method_name(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "OTHER";
}

/* The route of a request, or false for a request target with a query or
 * without a path (404). */
static bool route_of(struct evhttp_request *req, bool acme, struct mts_serve_route *r)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	mts_serve_route(method_name(evhttp_request_get_command(req)), host, path ? path : "",
			path ? strlen(path) : 0, acme, r);
	if (r->kind <= MTS_ROUTE_ACME &&
	    (!path || (uri && evhttp_uri_get_query(uri)) || (uri && evhttp_uri_get_fragment(uri))))
		r->kind = MTS_ROUTE_NOT_FOUND;
	return true;
}

/* The answers every port shares: 404, 405, 400. */
static void reply_error(struct mts_serve_host *h, struct evhttp_request *req,
			const struct mts_serve_route *r)
{
	switch (r->kind) {
	case MTS_ROUTE_BAD_METHOD:
		h->stats.bad_method++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply(req, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19);
		return;
	case MTS_ROUTE_BAD_REQUEST:
		h->stats.bad_request++;
		reply(req, 400, "Bad Request", "text/plain", "bad request\n", 12);
		return;
	default:
		h->stats.not_found++;
		reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
	}
}

static void on_https(struct evhttp_request *req, void *arg)
{
	struct mts_serve_host *h = arg;
	struct mts_serve_route r;
	route_of(req, false, &r);
	if (r.kind != MTS_ROUTE_POLICY)
		return reply_error(h, req, &r);
	const struct tenant *t = tenant_find(h, r.domain);
	if (!t) {
		h->stats.policy_unknown++;
		return reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
	}
	h->stats.policy_ok++;
	reply(req, 200, "OK", "text/plain", t->policy, t->policy_len);
}

static void on_http(struct evhttp_request *req, void *arg)
{
	struct mts_serve_host *h = arg;
	struct mts_serve_route r;
	route_of(req, true, &r);
	if (r.kind != MTS_ROUTE_ACME)
		return reply_error(h, req, &r);
	char keyauth[512];
	struct mts_error err = {0};
	int rc = mts_serve_store_challenge_get(h->store, r.token, (long long)time(NULL), keyauth,
					       sizeof(keyauth), &err);
	if (rc == 0) {
		h->stats.acme_ok++;
		return reply(req, 200, "OK", "application/octet-stream", keyauth, strlen(keyauth));
	}
	if (rc != MTS_ENOTFOUND)
		logf_(h, LOG_WARNING, "event=challenge_read_failed reason=\"%s\"", err.message);
	h->stats.acme_unknown++;
	reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
}

static int conn_index = -1; /* SSL ex_data slot of struct tls_conn */
static pthread_once_t conn_index_once = PTHREAD_ONCE_INIT;

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* At the cap the listener pauses; below it, it accepts again. */
static void update_listener(struct mts_serve_host *h)
{
	if (!h->https_listener)
		return;
	bool full = h->stats.connections >= h->stats.max_connections;
	if (full && !h->paused) {
		evconnlistener_disable(h->https_listener);
		h->stats.at_cap++;
		logf_(h, LOG_WARNING, "event=at_cap connections=%zu: not accepting until one ends",
		      h->stats.connections);
	} else if (!full && h->paused) {
		evconnlistener_enable(h->https_listener);
	}
	h->paused = full;
}

/* An SSL is freed with its connection, whoever ends it. */
static void on_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_conn *c = ptr;
	if (!c)
		return;
	struct mts_serve_host *h = c->h;
	if (h) {
		if (c->prev)
			c->prev->next = c->next;
		else
			h->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		h->stats.connections--;
		update_listener(h);
	}
	free(c);
}

static void conn_index_init(void)
{
	conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_ssl_free);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct mts_serve_host *h = arg;
	SSL *ssl = SSL_new(h->front);
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (!ssl || !c || conn_index < 0 || !SSL_set_ex_data(ssl, conn_index, c)) {
		SSL_free(ssl);
		free(c);
		return NULL;
	}
	struct bufferevent *bev =
		bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) /* bufferevent_openssl frees ssl (and c through it) on failure */
		return NULL;
	c->h = h;
	c->bev = bev;
	c->started = monotonic();
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->stats.connections++;
	update_listener(h);
	return bev;
}

/* Every second: a connection that has lived max_time is shut down; evhttp
 * sees the end of its socket and frees it (and its SSL, and c) itself. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct mts_serve_host *h = arg;
	double limit = monotonic() - (double)(h->opts.max_time ? h->opts.max_time
							       : MTS_SERVE_HOST_MAX_TIME_DEFAULT);
	for (struct tls_conn *c = h->conns; c; c = c->next) {
		if (c->started > limit || !c->bev)
			continue;
		evutil_socket_t s = bufferevent_getfd(c->bev);
		if (s >= 0 && shutdown(s, SHUT_RDWR) == 0)
			h->stats.cut_off++;
		c->started = monotonic() + 3600; /* once */
	}
}

static struct evhttp *http_new(struct mts_serve_host *h, int fd,
			       void (*cb)(struct evhttp_request *, void *), struct mts_error *err)
{
	struct evhttp *http = evhttp_new(h->base);
	if (!http) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	evhttp_set_max_headers_size(http, MTS_SERVE_HOST_HEADERS_MAX);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(
		http, (int)(h->opts.timeout ? h->opts.timeout : MTS_SERVE_HOST_TIMEOUT_DEFAULT));
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
						 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						 EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, cb, h);
	struct evhttp_bound_socket *bound = evhttp_accept_socket_with_handle(http, fd);
	if (!bound) {
		evhttp_free(http);
		mts_error_set(err, MTS_EIO, "cannot accept on socket %d", fd);
		return NULL;
	}
	if (cb == on_https)
		h->https_listener = evhttp_bound_socket_get_listener(bound);
	return http;
}

static long long store_version(struct mts_serve_host *h)
{
	return mts_serve_store_data_version(h->store);
}

struct mts_serve_host *mts_serve_host_new(struct event_base *base, struct mts_serve_store *store,
					  const struct mts_serve_host_opts *opts,
					  struct mts_error *err)
{
	struct mts_serve_host *h = calloc(1, sizeof(*h));
	if (!h) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	h->base = base;
	h->store = store;
	h->opts = *opts;
	h->data_version = -1;
	h->stats.max_connections = opts->max_connections;
	if (!h->stats.max_connections) {
		/* The cap, not accept() failing, decides who is served: two
		 * descriptors at most per TLS connection, beside a reserve. */
		long limit = mts_fdlimit_raise();
		long open = mts_fdlimit_open_count(limit > 0 ? limit : 1024);
		long free_fds = (limit > 0 ? limit : 1024) - open - MTS_SERVE_HOST_FD_RESERVE;
		h->stats.max_connections = free_fds > 2 ? (size_t)free_fds : 1;
	}
	if (mts_serve_host_refresh(h, err) < 0)
		goto fail;
	if (opts->https_fd >= 0) {
		if (!(h->front = ctx_new())) {
			mts_error_set(err, MTS_ENOMEM, "cannot make a TLS context");
			goto fail;
		}
		SSL_CTX_set_tlsext_servername_callback(h->front, on_servername);
		SSL_CTX_set_tlsext_servername_arg(h->front, h);
		pthread_once(&conn_index_once, conn_index_init);
		if (!(h->https = http_new(h, opts->https_fd, on_https, err)))
			goto fail;
		evhttp_set_bevcb(h->https, tls_bev, h);
	}
	if (opts->http_fd >= 0 && !(h->http = http_new(h, opts->http_fd, on_http, err)))
		goto fail;
	struct timeval tv = {.tv_sec = opts->refresh ? opts->refresh
						     : MTS_SERVE_HOST_REFRESH_DEFAULT};
	h->refresh_ev = event_new(base, -1, EV_PERSIST, on_refresh, h);
	struct timeval second = {.tv_sec = 1};
	h->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, h);
	if (!h->refresh_ev || event_add(h->refresh_ev, &tv) < 0 || !h->sweep_ev ||
	    event_add(h->sweep_ev, &second) < 0) {
		mts_error_set(err, MTS_ENOMEM, "cannot arm the timers");
		goto fail;
	}
	logf_(h, LOG_INFO, "event=serving tenants=%zu certificates=%zu max_connections=%zu",
	      h->tenant_count, h->cert_count, h->stats.max_connections);
	return h;
fail:
	mts_serve_host_free(h);
	return NULL;
}

void mts_serve_host_stats(const struct mts_serve_host *h, struct mts_serve_host_stats *out)
{
	*out = h->stats;
	long long now = (long long)time(NULL);
	out->certs_expired = out->certs_7d = out->certs_21d = out->certs_later = 0;
	for (size_t i = 0; i < h->cert_count; i++) {
		long long left = h->certs[i].not_after - now;
		if (left <= 0)
			out->certs_expired++;
		else if (left <= 7 * 86400)
			out->certs_7d++;
		else if (left <= 21 * 86400)
			out->certs_21d++;
		else
			out->certs_later++;
	}
}

void mts_serve_host_free(struct mts_serve_host *h)
{
	if (!h)
		return;
	if (h->refresh_ev)
		event_free(h->refresh_ev);
	if (h->sweep_ev)
		event_free(h->sweep_ev);
	/* Connections freed from here on must not reach back into h. */
	for (struct tls_conn *c = h->conns; c; c = c->next)
		c->h = NULL;
	if (h->https)
		evhttp_free(h->https);
	if (h->http)
		evhttp_free(h->http);
	SSL_CTX_free(h->front);
	tenants_free(h->tenants, h->tenant_count);
	certs_free(h->certs, h->cert_count);
	free(h);
}
