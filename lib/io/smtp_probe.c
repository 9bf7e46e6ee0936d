/* smtp_probe.c - STARTTLS probe of one MX host on a libevent loop (see smtp_probe.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io/smtp_probe_int.h"
#include "core/text_int.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_HELO "mtasts.invalid"

struct mts_smtp_probe {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer;
	SSL_CTX *ctx;
	SSL *ssl;                 /* owned by the filter bufferevent once it exists */
	mts_smtp_probe_cb done;
	void *arg;
	char host[256];
	char helo[256];
	struct timespec started;
	unsigned reply_lines;     /* lines of the reply being read */
	bool direct_tls;          /* no SMTP dialogue: handshake at once */
	struct mts_smtp_probe_result res;
};

const char *mts_smtp_stage_name(enum mts_smtp_stage s)
{
	switch (s) {
	case MTS_SMTP_STAGE_CONNECT: return "connect";
	case MTS_SMTP_STAGE_BANNER: return "banner";
	case MTS_SMTP_STAGE_EHLO: return "ehlo";
	case MTS_SMTP_STAGE_STARTTLS: return "starttls";
	case MTS_SMTP_STAGE_HANDSHAKE: return "handshake";
	case MTS_SMTP_STAGE_DONE: return "done";
	}
	return "unknown";
}

static void probe_free(struct mts_smtp_probe *p)
{
	if (p->bev)
		bufferevent_free(p->bev);
	else if (p->ssl)
		SSL_free(p->ssl);
	if (p->timer)
		event_free(p->timer);
	SSL_CTX_free(p->ctx);
	free(p);
}

/* struct mts_smtp_tls is an SSL_CTX under another name. */
struct mts_smtp_tls *mts_smtp_tls_new(const char *ca_file, struct mts_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		mts_error_set(err, MTS_ENOMEM, "cannot create the TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	/* Verify after the handshake (SSL_get_verify_result), never abort it. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	int loaded = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
			     : SSL_CTX_set_default_verify_paths(ctx);
	if (!loaded) {
		mts_error_set(err, MTS_EIO, "cannot load the trust store %s",
			      ca_file ? ca_file : "(system)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return (struct mts_smtp_tls *)ctx;
}

void mts_smtp_tls_free(struct mts_smtp_tls *tls)
{
	SSL_CTX_free((SSL_CTX *)tls);
}

void mts_smtp_probe_cancel(struct mts_smtp_probe *p)
{
	if (p)
		probe_free(p);
}

static void finish(struct mts_smtp_probe *p)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(now.tv_sec - p->started.tv_sec) * 1000 +
		       (now.tv_nsec - p->started.tv_nsec) / 1000000;
	p->res.elapsed_ms = ms < 0 ? 0 : (unsigned)ms;
	p->done(&p->res, p->arg);
	probe_free(p);
}

static void fail(struct mts_smtp_probe *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct mts_smtp_probe *p, int code, const char *fmt, ...)
{
	va_list ap;
	p->res.error = code;
	va_start(ap, fmt);
	vsnprintf(p->res.message, sizeof(p->res.message), fmt, ap);
	va_end(ap);
	finish(p);
}

static void send_line(struct mts_smtp_probe *p, const char *a, const char *b)
{
	struct evbuffer *out = bufferevent_get_output(p->bev);
	evbuffer_add_printf(out, "%s%s\r\n", a, b ? b : "");
}

static void copy_x509_name(X509_NAME *name, char *out, size_t cap)
{
	char raw[512];
	if (!name || !X509_NAME_oneline(name, raw, sizeof(raw))) {
		out[0] = '\0';
		return;
	}
	mts_printable(raw, strlen(raw), out, cap);
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static void digest_cert(X509 *cert, struct mts_cert_digests *d)
{
	unsigned char *der = NULL;
	unsigned int n;
	int len = i2d_X509(cert, &der);
	if (len > 0) {
		EVP_Digest(der, (size_t)len, d->cert256, &n, EVP_sha256(), NULL);
		EVP_Digest(der, (size_t)len, d->cert512, &n, EVP_sha512(), NULL);
	}
	OPENSSL_free(der);
	der = NULL;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len > 0) {
		EVP_Digest(der, (size_t)len, d->spki256, &n, EVP_sha256(), NULL);
		EVP_Digest(der, (size_t)len, d->spki512, &n, EVP_sha512(), NULL);
	}
	OPENSSL_free(der);
}

static void inspect(struct mts_smtp_probe *p)
{
	struct mts_smtp_probe_result *r = &p->res;
	snprintf(r->tls_version, sizeof(r->tls_version), "%s", SSL_get_version(p->ssl));
	const char *cipher = SSL_get_cipher_name(p->ssl);
	snprintf(r->cipher, sizeof(r->cipher), "%s", cipher ? cipher : "");
	X509 *cert = SSL_get1_peer_certificate(p->ssl);
	if (!cert) {
		r->verify_code = X509_V_ERR_UNSPECIFIED;
		snprintf(r->verify_error, sizeof(r->verify_error), "no certificate presented");
		return;
	}
	r->verify_code = SSL_get_verify_result(p->ssl);
	r->chain_valid = r->verify_code == X509_V_OK;
	snprintf(r->verify_error, sizeof(r->verify_error), "%s",
		 X509_verify_cert_error_string(r->verify_code));
	r->name_valid = X509_check_host(cert, p->host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
					NULL) == 1;
	/* Issuer = subject and signed by its own key (a self-signed leaf often
	 * lacks keyCertSign, so X509_check_issued() would say no). */
	r->self_signed = r->verify_code == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
			 (X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
			  X509_verify(cert, X509_get0_pubkey(cert)) == 1);
	r->not_before = asn1_to_time(X509_get0_notBefore(cert));
	r->not_after = asn1_to_time(X509_get0_notAfter(cert));
	copy_x509_name(X509_get_subject_name(cert), r->subject, sizeof(r->subject));
	copy_x509_name(X509_get_issuer_name(cert), r->issuer, sizeof(r->issuer));
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS || r->name_count >= MTS_SMTP_CERT_NAMES_MAX)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(gn->d.dNSName);
		int len = ASN1_STRING_length(gn->d.dNSName);
		char shown[MTS_PRINTABLE_BUF];
		mts_printable((const char *)d, len > 0 ? (size_t)len : 0, shown, sizeof(shown));
		size_t sl = strlen(shown);
		if (sl >= sizeof(r->names[0]))
			sl = sizeof(r->names[0]) - 1;
		memcpy(r->names[r->name_count], shown, sl);
		r->names[r->name_count++][sl] = '\0';
	}
	GENERAL_NAMES_free(sans);
	/* The chain as sent (leaf first); the leaf is digested even when the
	 * peer sent no chain. */
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(p->ssl);
	digest_cert(cert, &r->chain[0]);
	r->chain_count = 1;
	for (int i = 1; chain && i < sk_X509_num(chain) && r->chain_count < MTS_SMTP_CHAIN_MAX; i++)
		digest_cert(sk_X509_value(chain, i), &r->chain[r->chain_count++]);
	X509_free(cert);
}

static void on_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct mts_smtp_probe *p = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		inspect(p);
		p->res.reached = MTS_SMTP_STAGE_DONE;
		finish(p);
		return;
	}
	char detail[200] = "connection closed during the handshake";
	unsigned long e = bufferevent_get_openssl_error(p->bev);
	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	fail(p, MTS_EPROTO, "TLS handshake failed: %s", detail);
}

static void start_tls(struct mts_smtp_probe *p)
{
	p->res.reached = MTS_SMTP_STAGE_HANDSHAKE;
	p->ssl = SSL_new(p->ctx);
	if (!p->ssl || !SSL_set_tlsext_host_name(p->ssl, p->host)) {
		fail(p, MTS_ENOMEM, "%s", "cannot create the TLS session");
		return;
	}
	/* The plain bufferevent stays underneath; reads now go to the filter. */
	bufferevent_setcb(p->bev, NULL, NULL, NULL, NULL);
	struct bufferevent *tls = bufferevent_openssl_filter_new(
		p->base, p->bev, p->ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (!tls) {
		fail(p, MTS_ENOMEM, "%s", "cannot start TLS");
		return;
	}
	p->bev = tls; /* frees the plain one and the SSL with it */
	p->ssl = bufferevent_openssl_get_ssl(tls);
	bufferevent_setcb(tls, NULL, NULL, on_tls_event, p);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* Does an EHLO line (after "250-"/"250 ") name the STARTTLS keyword? */
static bool is_starttls(const char *text, size_t len)
{
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	return len == 8 && strncasecmp(text, "STARTTLS", 8) == 0;
}

/* One complete reply line. Returns true when the reply is complete. */
static bool reply_line(struct mts_smtp_probe *p, const char *line, size_t n, int *code)
{
	if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-')) {
		*code = -1;
		return true;
	}
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->res.reached == MTS_SMTP_STAGE_BANNER && p->reply_lines == 0)
		mts_printable(line, n < 100 ? n : 100, p->res.banner, sizeof(p->res.banner));
	if (p->res.reached == MTS_SMTP_STAGE_EHLO && n > 4 && is_starttls(line + 4, n - 4))
		p->res.starttls_offered = true;
	p->reply_lines++;
	return n == 3 || line[3] == ' ';
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct mts_smtp_probe *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (!line) {
			if (evbuffer_get_length(in) > MTS_SMTP_LINE_MAX)
				fail(p, MTS_EPROTO, "%s", "reply line longer than 1000 bytes");
			return;
		}
		int code;
		bool complete = reply_line(p, line, n, &code);
		free(line);
		if (code < 0) {
			fail(p, MTS_EPROTO, "%s", "malformed SMTP reply");
			return;
		}
		if (p->reply_lines > MTS_SMTP_REPLY_MAX_LINES) {
			fail(p, MTS_EPROTO, "%s", "reply of more than 100 lines");
			return;
		}
		if (!complete)
			continue;
		p->res.last_reply_code = code;
		p->reply_lines = 0;
		char codebuf[8];
		snprintf(codebuf, sizeof(codebuf), "%d", code);
		switch (p->res.reached) {
		case MTS_SMTP_STAGE_BANNER:
			if (code != 220) {
				fail(p, MTS_EPROTO, "greeting code %s, not 220", codebuf);
				return;
			}
			p->res.reached = MTS_SMTP_STAGE_EHLO;
			send_line(p, "EHLO ", p->helo);
			break;
		case MTS_SMTP_STAGE_EHLO:
			if (code != 250) {
				fail(p, MTS_EPROTO, "EHLO answered %s, not 250", codebuf);
				return;
			}
			p->res.reached = MTS_SMTP_STAGE_STARTTLS;
			if (!p->res.starttls_offered) {
				send_line(p, "QUIT", NULL);
				fail(p, MTS_EPROTO, "%s", "the server does not offer STARTTLS");
				return;
			}
			send_line(p, "STARTTLS", NULL);
			break;
		case MTS_SMTP_STAGE_STARTTLS:
			if (code != 220) {
				fail(p, MTS_EPROTO, "STARTTLS answered %s, not 220", codebuf);
				return;
			}
			if (evbuffer_get_length(in)) {
				/* Bytes after 220 before the handshake: a STARTTLS injection. */
				fail(p, MTS_EPROTO, "%s", "data after the STARTTLS reply (pipelining "
							  "attack or broken server)");
				return;
			}
			start_tls(p);
			return;
		default:
			return;
		}
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mts_smtp_probe *p = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		p->res.reached = MTS_SMTP_STAGE_BANNER;
		if (p->direct_tls)
			start_tls(p);
		return;
	}
	int e = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_EOF)
		fail(p, MTS_EPROTO, "%s", "the server closed the connection");
	else
		fail(p, MTS_EIO, "%s", e ? evutil_socket_error_to_string(e) : "connection error");
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mts_smtp_probe *p = arg;
	(void)fd;
	(void)what;
	fail(p, MTS_ETIMEOUT, "timed out during %s", mts_smtp_stage_name(p->res.reached));
}

struct mts_smtp_probe *mts_smtp_probe_start(struct event_base *base,
					    const struct mts_smtp_probe_opts *opts,
					    mts_smtp_probe_cb done, void *arg,
					    struct mts_error *err)
{
	if (!opts->host || strlen(opts->host) >= 256) {
		mts_error_set(err, MTS_EUSAGE, "host name missing or too long");
		return NULL;
	}
	struct mts_smtp_probe *p = calloc(1, sizeof(*p));
	if (!p) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	p->base = base;
	p->done = done;
	p->arg = arg;
	p->direct_tls = opts->direct_tls;
	snprintf(p->host, sizeof(p->host), "%s", opts->host);
	size_t hl = strlen(p->host);
	if (hl && p->host[hl - 1] == '.')
		p->host[hl - 1] = '\0';
	snprintf(p->helo, sizeof(p->helo), "%s", opts->helo_name ? opts->helo_name : DEFAULT_HELO);
	clock_gettime(CLOCK_MONOTONIC, &p->started);

	if (opts->tls) {
		SSL_CTX_up_ref((SSL_CTX *)opts->tls);
		p->ctx = (SSL_CTX *)opts->tls;
	} else {
		p->ctx = (SSL_CTX *)mts_smtp_tls_new(opts->ca_file, err);
		if (!p->ctx) {
			probe_free(p);
			return NULL;
		}
	}
	p->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	p->timer = evtimer_new(base, on_timeout, p);
	if (!p->bev || !p->timer)
		goto nomem;
	bufferevent_setcb(p->bev, on_read, NULL, on_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	unsigned ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	evtimer_add(p->timer, &tv);
	if (bufferevent_socket_connect(p->bev, (const struct sockaddr *)&opts->addr,
				       (int)opts->addr_len) < 0) {
		mts_error_set(err, MTS_EIO, "cannot connect: %s", strerror(errno));
		probe_free(p);
		return NULL;
	}
	return p;
nomem:
	mts_error_set(err, MTS_ENOMEM, "out of memory");
	probe_free(p);
	return NULL;
}
