/*
 * test_acme.c - the ACME client (lib/io/acme.c) against a real pebble
 * (tests/rig/pebble) that resolves the challenge names through the rig's
 * knot. The challenge responder is real too and runs in a thread: an evhttp
 * server for http-01 and an OpenSSL listener answering ALPN "acme-tls/1"
 * for tls-alpn-01, both on the policy hosts' address 127.A.B.2 at the ports
 * pebble connects to (5002, 5001; nginx owns 80 and 443 there).
 *
 * Names are distinct per test: pebble runs with PEBBLE_AUTHZREUSE=0, so
 * every order is validated anew, and its default 5% bad-nonce rejection.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io/acme_int.h"
#include "rig_env.h"

static struct rig_env rig, pebble;

/* The responder: what the client published, read by the loop's thread. */
#define ANSWERS_MAX 16
struct answer {
	bool used;
	bool stall; /* accept pebble's request and never answer it */
	enum mts_acme_challenge_type type;
	char name[254], token[MTS_ACME_TOKEN_MAX], key_auth[512];
	char *cert_pem, *key_pem;
};

static struct responder {
	pthread_mutex_t lock;
	struct answer answers[ANSWERS_MAX];
	unsigned http_hits, http_stalled, tls_hits, tls_unknown;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *tls;
	SSL_CTX *ctx;
	int stop_pipe[2];
	struct event *stop_ev;
	pthread_t thread;
} resp = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_http(struct evhttp_request *req, void *arg)
{
	(void)arg;
	static const char prefix[] = "/.well-known/acme-challenge/";
	const char *uri = evhttp_request_get_uri(req);
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	bool found = false;
	pthread_mutex_lock(&resp.lock);
	resp.http_hits++;
	for (size_t i = 0; uri && host && i < ANSWERS_MAX; i++) {
		struct answer *a = &resp.answers[i];
		size_t hlen = strcspn(host, ":"); /* Host: name:5002 */
		if (a->used && a->type == MTS_ACME_HTTP_01 && strlen(a->name) == hlen &&
		    strncasecmp(a->name, host, hlen) == 0 &&
		    strncmp(uri, prefix, sizeof(prefix) - 1) == 0 &&
		    strcmp(uri + sizeof(prefix) - 1, a->token) == 0) {
			if (a->stall) { /* evhttp frees it when pebble gives up */
				resp.http_stalled++;
				pthread_mutex_unlock(&resp.lock);
				return;
			}
			evbuffer_add(out, a->key_auth, strlen(a->key_auth));
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&resp.lock);
	evhttp_send_reply(req, found ? 200 : 404, found ? "OK" : "Not Found", NULL);
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char acme[] = "\x0a"
					    "acme-tls/1";
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, acme, sizeof(acme) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Choose the published tls-alpn-01 certificate by SNI. */
static int on_cert(SSL *ssl, void *arg)
{
	(void)arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int ok = 0;
	pthread_mutex_lock(&resp.lock);
	for (size_t i = 0; sni && i < ANSWERS_MAX; i++) {
		struct answer *a = &resp.answers[i];
		if (!a->used || a->type != MTS_ACME_TLS_ALPN_01 || strcasecmp(a->name, sni) != 0)
			continue;
		BIO *cb = BIO_new_mem_buf(a->cert_pem, -1), *kb = BIO_new_mem_buf(a->key_pem, -1);
		X509 *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
		ok = cert && key && SSL_use_certificate(ssl, cert) == 1 &&
		     SSL_use_PrivateKey(ssl, key) == 1;
		X509_free(cert);
		EVP_PKEY_free(key);
		BIO_free(cb);
		BIO_free(kb);
		break;
	}
	if (!ok)
		resp.tls_unknown++;
	pthread_mutex_unlock(&resp.lock);
	return ok;
}

static void on_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		   void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	(void)arg;
	struct timeval tv = {.tv_sec = 5};
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* block, with a time limit */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	SSL *ssl = SSL_new(resp.ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		pthread_mutex_lock(&resp.lock);
		resp.tls_hits++;
		pthread_mutex_unlock(&resp.lock);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void *responder_main(void *arg)
{
	(void)arg;
	event_base_dispatch(resp.base);
	return NULL;
}

static void answers_clear(void)
{
	pthread_mutex_lock(&resp.lock);
	for (size_t i = 0; i < ANSWERS_MAX; i++) {
		free(resp.answers[i].cert_pem);
		free(resp.answers[i].key_pem);
		memset(&resp.answers[i], 0, sizeof(resp.answers[i]));
	}
	pthread_mutex_unlock(&resp.lock);
}

/* Hooks: publish into the responder (or a wrong answer), save a copy. */
struct hook_state {
	bool wrong_answer;
	bool stall;
	int stop_at_step; /* -1: never */
	unsigned published, unpublished, saves;
	struct mts_acme_order saved;
};

static int hook_publish(const struct mts_acme_challenge *c, bool add, void *arg)
{
	struct hook_state *hs = arg;
	pthread_mutex_lock(&resp.lock);
	for (size_t i = 0; i < ANSWERS_MAX; i++) {
		struct answer *a = &resp.answers[i];
		if (a->used && a->type == c->type && strcmp(a->name, c->name) == 0) {
			free(a->cert_pem);
			free(a->key_pem);
			memset(a, 0, sizeof(*a));
		}
	}
	if (add) {
		for (size_t i = 0; i < ANSWERS_MAX; i++) {
			struct answer *a = &resp.answers[i];
			if (a->used)
				continue;
			a->used = true;
			a->stall = hs->stall;
			a->type = c->type;
			snprintf(a->name, sizeof(a->name), "%s", c->name);
			snprintf(a->token, sizeof(a->token), "%s", c->token);
			snprintf(a->key_auth, sizeof(a->key_auth), "%s",
				 hs->wrong_answer ? "not-the-key-authorization"
						  : c->key_authorization);
			if (c->type == MTS_ACME_TLS_ALPN_01) {
				if (hs->wrong_answer) { /* a certificate for another key
							   authorization */
					mts_acme_tls_alpn_cert(c->name, "wrong.wrong", &a->cert_pem,
							       &a->key_pem, NULL);
				} else {
					a->cert_pem = strdup(c->alpn_cert_pem);
					a->key_pem = strdup(c->alpn_key_pem);
				}
			}
			break;
		}
		hs->published++;
	} else {
		hs->unpublished++;
	}
	pthread_mutex_unlock(&resp.lock);
	return 0;
}

static int hook_save(const struct mts_acme_order *order, void *arg)
{
	struct hook_state *hs = arg;
	hs->saved = *order;
	hs->saves++;
	return hs->stop_at_step >= 0 && (int)order->step == hs->stop_at_step;
}

static unsigned log_lines;
static void on_log(int prio, const char *line, void *arg)
{
	(void)prio;
	(void)line;
	(void)arg;
	__atomic_add_fetch(&log_lines, 1, __ATOMIC_RELAXED);
}

static unsigned order_timeout_s = 60;

static struct mts_acme *client(const char *key_pem, const char *account_url)
{
	struct mts_acme_opts o = {.directory_url = rig_env_get(&pebble, "PEBBLE_DIR_URL"),
				  .ca_file = rig_env_get(&pebble, "PEBBLE_CA"),
				  .account_key_pem = key_pem,
				  .account_key_len = key_pem ? strlen(key_pem) : 0,
				  .account_url = account_url,
				  .contact_email = "hostmaster@example.test",
				  .timeout_ms = 10000,
				  .order_timeout_s = order_timeout_s,
				  .log = on_log};
	struct mts_error err = {0};
	struct mts_acme *acme = mts_acme_new(&o, &err);
	if (!acme)
		fail_msg("mts_acme_new: %s", err.message);
	return acme;
}

static struct mts_acme *registered_client(void)
{
	struct mts_acme *acme = client(NULL, NULL);
	struct mts_error err = {0};
	if (mts_acme_account(acme, false, &err) != 0)
		fail_msg("account: %s", err.message);
	assert_true(strncmp(mts_acme_account_url(acme), "https://", 8) == 0);
	return acme;
}

/* The chain verifies against pebble's root for name, and the leaf is for key. */
static void verify_chain(const struct mts_acme_cert *cert, const char *name)
{
	X509_STORE *store = X509_STORE_new();
	assert_int_equal(X509_STORE_load_file(store, rig_env_get(&pebble, "PEBBLE_ROOT")), 1);
	BIO *bio = BIO_new_mem_buf(cert->chain_pem, (int)cert->chain_len);
	X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(leaf);
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509 *x;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(rest, x);
	ERR_clear_error();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, rest), 1);
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set1_host(param, name, 0);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	int ok = X509_verify_cert(ctx);
	if (ok != 1)
		fail_msg("chain for %s does not verify: %s", name,
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	BIO *kb = BIO_new_mem_buf(cert->key_pem, -1);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), key), 1);
	assert_true(cert->not_after > time(NULL));
	assert_true(cert->not_before <= time(NULL) + 60);
	EVP_PKEY_free(key);
	BIO_free(kb);
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(rest, X509_free);
	X509_free(leaf);
	BIO_free(bio);
	X509_STORE_free(store);
}

static void obtain_ok(struct mts_acme *acme, const char *name, enum mts_acme_challenge_type type,
		      struct mts_acme_cert *cert, struct hook_state *hs)
{
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = hs};
	struct mts_acme_order order;
	struct mts_error err = {0};
	if (mts_acme_obtain(acme, name, type, &hooks, &order, cert, &err) != 0)
		fail_msg("obtain %s: %s", name, err.message);
	assert_int_equal(order.step, MTS_ACME_STEP_DONE);
	assert_int_equal(hs->saved.step, MTS_ACME_STEP_DONE);
	assert_string_equal(order.status, "valid");
	verify_chain(cert, name);
}

static void test_http01(void **state)
{
	(void)state;
	struct mts_acme *acme = registered_client();
	struct hook_state hs = {.stop_at_step = -1};
	struct mts_acme_cert cert;
	unsigned hits = resp.http_hits, lines = log_lines;
	obtain_ok(acme, "mta-sts.good-enforce.test", MTS_ACME_HTTP_01, &cert, &hs);
	assert_true(log_lines > lines); /* events went to the log callback */
	assert_int_equal(hs.published, 1);
	assert_int_equal(hs.unpublished, 1);
	assert_true(resp.http_hits > hits); /* pebble really fetched the answer */
	mts_acme_cert_clear(&cert);
	mts_acme_free(acme);
}

static void test_tls_alpn01(void **state)
{
	(void)state;
	struct mts_acme *acme = registered_client();
	struct hook_state hs = {.stop_at_step = -1};
	struct mts_acme_cert cert;
	unsigned hits = resp.tls_hits;
	obtain_ok(acme, "mta-sts.good-testing.test", MTS_ACME_TLS_ALPN_01, &cert, &hs);
	assert_true(resp.tls_hits > hits); /* a handshake with ALPN acme-tls/1 happened */
	mts_acme_cert_clear(&cert);
	mts_acme_free(acme);
}

/* A second order for the same name gives a new certificate and key; the
 * validity pebble gives makes renewal due after two thirds of it. */
static void test_renew(void **state)
{
	(void)state;
	struct mts_acme *acme = registered_client();
	struct hook_state hs = {.stop_at_step = -1};
	struct mts_acme_cert first, second;
	obtain_ok(acme, "mta-sts.good-none.test", MTS_ACME_HTTP_01, &first, &hs);
	long long lifetime = first.not_after - first.not_before;
	long long validity = strtoll(rig_env_get(&pebble, "PEBBLE_VALIDITY"), NULL, 10);
	assert_true(lifetime >= validity - 2 && lifetime <= validity + 2);
	assert_false(mts_acme_renew_due(first.not_before, first.not_after, first.not_before + 10));
	assert_true(
	    mts_acme_renew_due(first.not_before, first.not_after, first.not_after - lifetime / 3));
	obtain_ok(acme, "mta-sts.good-none.test", MTS_ACME_HTTP_01, &second, &hs);
	assert_true(strcmp(first.chain_pem, second.chain_pem) != 0);
	assert_true(strcmp(first.key_pem, second.key_pem) != 0);
	assert_true(second.not_after >= first.not_after);
	mts_acme_cert_clear(&first);
	mts_acme_cert_clear(&second);
	mts_acme_free(acme);
}

/* Stopped right after respond (as if the process died), the saved struct
 * is resumed by a fresh client (another replica) with the stored account. */
static void resume_after(enum mts_acme_challenge_type type, const char *name, int stop_step)
{
	struct mts_acme *acme = registered_client();
	char *key = strdup(mts_acme_account_key_pem(acme));
	char url[MTS_ACME_URL_MAX];
	snprintf(url, sizeof(url), "%s", mts_acme_account_url(acme));
	struct hook_state hs = {.stop_at_step = stop_step};
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = &hs};
	struct mts_acme_order order;
	struct mts_acme_cert cert;
	struct mts_error err = {0};
	int rc = mts_acme_obtain(acme, name, type, &hooks, &order, &cert, &err);
	assert_int_equal(rc, MTS_ETEMP);
	assert_non_null(strstr(err.message, "stopped by the caller"));
	assert_int_equal(hs.saved.step, stop_step);
	assert_null(cert.chain_pem);
	mts_acme_free(acme);

	struct mts_acme_order stored;
	memcpy(&stored, &hs.saved, sizeof(stored)); /* what a store would hold */
	struct mts_acme *other = client(key, url);
	struct hook_state hs2 = {.stop_at_step = -1};
	struct mts_acme_hooks hooks2 = {.publish = hook_publish, .save = hook_save, .arg = &hs2};
	if (mts_acme_order_resume(other, &stored, &hooks2, &cert, &err) != 0)
		fail_msg("resume %s: %s", name, err.message);
	assert_int_equal(stored.step, MTS_ACME_STEP_DONE);
	verify_chain(&cert, name);
	mts_acme_cert_clear(&cert);
	mts_acme_free(other);
	free(key);
}

static void test_resume_after_respond(void **state)
{
	(void)state;
	resume_after(MTS_ACME_HTTP_01, "mta-sts.good-multi-mx.test", MTS_ACME_STEP_RESPONDED);
}

static void test_resume_after_finalize(void **state)
{
	(void)state;
	resume_after(MTS_ACME_TLS_ALPN_01, "mta-sts.good-wildcard.test", MTS_ACME_STEP_FINALIZED);
}

static void invalid_authz(const char *name, enum mts_acme_challenge_type type, bool wrong,
			  const char *problem)
{
	struct mts_acme *acme = registered_client();
	struct hook_state hs = {.stop_at_step = -1, .wrong_answer = wrong};
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = &hs};
	struct mts_acme_order order;
	struct mts_acme_cert cert;
	struct mts_error err = {0};
	time_t t0 = time(NULL);
	int rc = mts_acme_obtain(acme, name, type, &hooks, &order, &cert, &err);
	assert_int_equal(rc, MTS_EINVAL);
	assert_true(time(NULL) - t0 < 30); /* an answer, not a hang */
	assert_non_null(strstr(err.message, "authorization for"));
	assert_non_null(strstr(err.message, name));
	if (!strstr(err.message, problem))
		fail_msg("expected %s in: %s", problem, err.message);
	assert_int_equal(order.step, MTS_ACME_STEP_FAILED);
	assert_string_equal(order.problem_type, problem);
	assert_int_equal(hs.saved.step, MTS_ACME_STEP_FAILED);
	assert_int_equal(hs.unpublished, 1);
	assert_null(cert.chain_pem);
	mts_acme_free(acme);
}

static void test_name_does_not_resolve(void **state)
{
	(void)state;
	/* pebble's resolver fails; it reports it as a connection problem */
	invalid_authz("mta-sts.no-policy-host.test", MTS_ACME_HTTP_01, false,
		      "urn:ietf:params:acme:error:connection");
}

static void test_wrong_http_answer(void **state)
{
	(void)state;
	invalid_authz("mta-sts.policy-404.test", MTS_ACME_HTTP_01, true,
		      "urn:ietf:params:acme:error:unauthorized");
}

static void test_wrong_tls_alpn_answer(void **state)
{
	(void)state;
	invalid_authz("mta-sts.policy-500.test", MTS_ACME_TLS_ALPN_01, true,
		      "urn:ietf:params:acme:error:unauthorized");
}

/* The CA's validation hangs (the responder never answers): the run ends at
 * its deadline with MTS_ETIMEOUT, the order saved as responded and the
 * answer left published, since the CA may still be validating. */
static void test_order_deadline(void **state)
{
	(void)state;
	order_timeout_s = 3;
	struct mts_acme *acme = registered_client();
	order_timeout_s = 60;
	struct hook_state hs = {.stop_at_step = -1, .stall = true};
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = &hs};
	struct mts_acme_order order;
	struct mts_acme_cert cert;
	struct mts_error err = {0};
	unsigned stalled = resp.http_stalled;
	time_t t0 = time(NULL);
	int rc = mts_acme_obtain(acme, "mta-sts.tlsrpt-missing.test", MTS_ACME_HTTP_01, &hooks,
				 &order, &cert, &err);
	time_t took = time(NULL) - t0;
	if (rc != MTS_ETIMEOUT)
		fail_msg("rc %d: %s", rc, err.message);
	/* The deadline (3 s) plus one request at most: well under the ~15 s it
	 * takes pebble to give up on the stalled validation (and rc says which). */
	if (took < 2 || took > 12)
		fail_msg("the run took %ld s, its deadline is 3 s", (long)took);
	assert_non_null(strstr(err.message, "can be resumed"));
	assert_int_equal(hs.saved.step, MTS_ACME_STEP_RESPONDED);
	assert_int_equal(hs.unpublished, 0);
	assert_true(resp.http_stalled > stalled); /* pebble was really waiting on us */
	assert_null(cert.chain_pem);
	mts_acme_free(acme);
}

/* Two clients in two threads at once (the daemon's workers): no shared state. */
struct worker {
	const char *name;
	enum mts_acme_challenge_type type;
	int rc;
	char message[MTS_ERROR_MSG_MAX];
	struct mts_acme_cert cert;
	struct hook_state hs;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct mts_acme *acme = client(NULL, NULL);
	struct mts_error err = {0};
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = &w->hs};
	struct mts_acme_order order;
	w->rc = mts_acme_account(acme, false, &err);
	if (w->rc == 0)
		w->rc = mts_acme_obtain(acme, w->name, w->type, &hooks, &order, &w->cert, &err);
	snprintf(w->message, sizeof(w->message), "%s", err.message);
	mts_acme_free(acme);
	return NULL;
}

static void test_two_threads(void **state)
{
	(void)state;
	struct worker w[2] = {
	    {.name = "mta-sts.record-multistring.test",
	     .type = MTS_ACME_HTTP_01,
	     .hs = {.stop_at_step = -1}},
	    {.name = "mta-sts.demo-healthy.test",
	     .type = MTS_ACME_TLS_ALPN_01,
	     .hs = {.stop_at_step = -1}},
	};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		if (w[i].rc != 0)
			fail_msg("%s: %s", w[i].name, w[i].message);
		verify_chain(&w[i].cert, w[i].name);
		mts_acme_cert_clear(&w[i].cert);
	}
}

/* Problem documents come back as errors naming their type. */
static void test_problem_documents(void **state)
{
	(void)state;
	struct mts_acme *acme = client(NULL, NULL);
	struct mts_error err = {0};
	assert_int_equal(mts_acme_account(acme, true, &err), MTS_ENOTFOUND);
	assert_non_null(strstr(err.message, "urn:ietf:params:acme:error:accountDoesNotExist"));
	assert_string_equal(mts_acme_account_url(acme), "");
	/* no account: the order is refused before any request */
	struct hook_state hs = {.stop_at_step = -1};
	struct mts_acme_hooks hooks = {.publish = hook_publish, .save = hook_save, .arg = &hs};
	struct mts_acme_order order;
	assert_int_equal(mts_acme_order_new(acme, "mta-sts.good-enforce.test", MTS_ACME_HTTP_01,
					    &hooks, &order, &err),
			 MTS_EUSAGE);
	assert_int_equal(mts_acme_account(acme, false, &err), 0);
	/* the same key again finds the same account */
	char url[MTS_ACME_URL_MAX];
	snprintf(url, sizeof(url), "%s", mts_acme_account_url(acme));
	assert_int_equal(mts_acme_account(acme, true, &err), 0);
	assert_string_equal(mts_acme_account_url(acme), url);
	/* an identifier the CA refuses */
	int rc = mts_acme_order_new(acme, "bad_name..test", MTS_ACME_HTTP_01, &hooks, &order, &err);
	assert_int_equal(rc, MTS_EPROTO);
	assert_non_null(strstr(err.message, "newOrder: urn:ietf:params:acme:error:"));
	mts_acme_free(acme);
}

/* Many signed requests: pebble rejects 5% of good nonces, every rejection
 * is retried with a fresh nonce and every request succeeds. */
static void test_bad_nonce_retried(void **state)
{
	(void)state;
	struct mts_acme *acme = registered_client();
	struct mts_error err = {0};
	for (int i = 0; i < 300; i++)
		if (mts_acme_account(acme, true, &err) != 0)
			fail_msg("lookup %d: %s", i, err.message);
	struct mts_acme_stats st;
	mts_acme_get_stats(acme, &st);
	assert_true(st.bad_nonce_retries > 0);
	assert_true(st.requests >= 301);
	mts_acme_free(acme);
}

/* Wrong trust for the server's TLS and an unreachable directory fail fast. */
static void test_transport_errors(void **state)
{
	(void)state;
	struct mts_error err = {0};
	struct mts_acme_opts o = {.directory_url = rig_env_get(&pebble, "PEBBLE_DIR_URL"),
				  .ca_file = rig_env_get(&rig, "RIG_CA_FILE"),
				  .timeout_ms = 5000};
	assert_null(mts_acme_new(&o, &err));
	assert_int_equal(err.code, MTS_EIO);
	assert_non_null(strstr(err.message, "GET https://"));
	unsigned port = 0;
	int fd = rig_silent_socket(SOCK_STREAM, &port);
	assert_true(fd >= 0);
	char url[128];
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/dir", port);
	o.directory_url = url;
	o.timeout_ms = 800;
	time_t t0 = time(NULL);
	assert_null(mts_acme_new(&o, &err));
	assert_int_equal(err.code, MTS_ETIMEOUT);
	assert_true(time(NULL) - t0 <= 3);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* a peer closing during TLS writes */
	if (rig_env_load(&rig) < 0 || rig_env_load_from(&pebble, "PEBBLE_ENV") < 0) {
		fprintf(stderr, "test_acme: RIG_ENV / PEBBLE_ENV not readable\n");
		return -1;
	}
	char addr[64];
	snprintf(addr, sizeof(addr), "%s.2", rig_env_get(&rig, "RIG_PREFIX"));
	resp.base = event_base_new();
	resp.http = evhttp_new(resp.base);
	if (evhttp_bind_socket(
		resp.http, addr,
		(unsigned short)strtoul(rig_env_get(&pebble, "PEBBLE_HTTP_PORT"), NULL, 10)) < 0) {
		fprintf(stderr, "test_acme: cannot bind %s for http-01\n", addr);
		return -1;
	}
	evhttp_set_gencb(resp.http, on_http, NULL);
	resp.ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(resp.ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_select_cb(resp.ctx, on_alpn, NULL);
	SSL_CTX_set_cert_cb(resp.ctx, on_cert, NULL);
	struct sockaddr_storage ss;
	socklen_t len;
	char hp[96];
	snprintf(hp, sizeof(hp), "%s:%s", addr, rig_env_get(&pebble, "PEBBLE_TLS_PORT"));
	if (rig_addr(hp, &ss, &len) < 0 ||
	    !(resp.tls = evconnlistener_new_bind(resp.base, on_tls, NULL,
						 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
						 (struct sockaddr *)&ss, (int)len))) {
		fprintf(stderr, "test_acme: cannot bind %s for tls-alpn-01\n", hp);
		return -1;
	}
	if (pipe(resp.stop_pipe) < 0)
		return -1;
	resp.stop_ev = event_new(resp.base, resp.stop_pipe[0], EV_READ, on_stop, resp.base);
	event_add(resp.stop_ev, NULL);
	return pthread_create(&resp.thread, NULL, responder_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (write(resp.stop_pipe[1], "x", 1) != 1)
		return -1;
	pthread_join(resp.thread, NULL);
	event_free(resp.stop_ev);
	close(resp.stop_pipe[0]);
	close(resp.stop_pipe[1]);
	evconnlistener_free(resp.tls);
	evhttp_free(resp.http);
	event_base_free(resp.base);
	SSL_CTX_free(resp.ctx);
	answers_clear();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http01),
	    cmocka_unit_test(test_tls_alpn01),
	    cmocka_unit_test(test_renew),
	    cmocka_unit_test(test_resume_after_respond),
	    cmocka_unit_test(test_resume_after_finalize),
	    cmocka_unit_test(test_name_does_not_resolve),
	    cmocka_unit_test(test_wrong_http_answer),
	    cmocka_unit_test(test_wrong_tls_alpn_answer),
	    cmocka_unit_test(test_order_deadline),
	    cmocka_unit_test(test_two_threads),
	    cmocka_unit_test(test_problem_documents),
	    cmocka_unit_test(test_bad_nonce_retried),
	    cmocka_unit_test(test_transport_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
