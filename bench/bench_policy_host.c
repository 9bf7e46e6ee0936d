/* bench_policy_host.c - an HTTPS policy host for every name, for benches.
 *
 *   bench_policy_host ADDR PORT CA_FILE [MX_PATTERN]
 *
 * Listens on ADDR:PORT (IPv4), writes a fresh bench CA certificate to
 * CA_FILE, prints "ready" and then serves, for whatever name a client asks
 * in SNI, a certificate minted for that name on the spot (one EC P-256 key
 * for every certificate, signed by the bench CA), and answers
 * GET /.well-known/mta-sts.txt with a valid enforce policy:
 *
 *   version: STSv1 / mode: enforce / mx: MX_PATTERN (*.bench.test) / max_age: 604800
 *
 * so that a resolver discovers as many distinct domains as a wildcard DNS
 * zone names, each with its own TLS handshake and certificate check. Minted
 * certificates are kept as DER (about 500 bytes each, up to MINT_CACHE_MAX),
 * so a name asked again costs a parse, not a signature. One connection, one
 * request, then close. Bench-only: no privilege drop, no limits beyond a
 * request size and a timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define REQUEST_MAX_BYTES 8192
#define CONN_TIMEOUT_S 30
#define MINT_CACHE_BUCKETS (1u << 18)
#define MINT_CACHE_MAX 1000000 /* about 500 MB of DER at most; then mint every time */
#define NAME_MAX_LEN 253
#define DEFAULT_NAME "default.bench.test"

struct minted {
	struct minted *next;
	unsigned char *der;
	int der_len;
	char name[];
};

struct host {
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca_cert;
	uint64_t serial;
	struct minted *buckets[MINT_CACHE_BUCKETS];
	struct minted *overflow; /* the last one minted once the cache is full */
	size_t cached_count;
	char response[512];
	size_t response_len;
};

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for name (or the CA itself when issuer is NULL). */
static X509 *make_cert(struct host *h, const char *name, EVP_PKEY *subject_key, X509 *issuer)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();
	int ok = x && subject && X509_set_version(x, 2) &&
		 ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), ++h->serial) &&
		 X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		 X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400) &&
		 X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
					    (const unsigned char *)name, -1, -1, 0) &&
		 X509_set_subject_name(x, subject) &&
		 X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) &&
		 X509_set_pubkey(x, subject_key);
	X509_NAME_free(subject);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	char san[NAME_MAX_LEN + 8];
	snprintf(san, sizeof(san), "DNS:%s", name);
	if (issuer)
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") == 0 &&
		     add_ext(x, &v3, NID_ext_key_usage, "serverAuth") == 0 &&
		     add_ext(x, &v3, NID_subject_key_identifier, "hash") == 0 &&
		     add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") == 0 &&
		     add_ext(x, &v3, NID_subject_alt_name, san) == 0;
	else
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
		     add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
		     add_ext(x, &v3, NID_subject_key_identifier, "hash") == 0;
	if (!ok || X509_sign(x, h->ca_key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static uint32_t hash_name(const char *name)
{
	uint32_t hash = 2166136261u; /* FNV-1a */
	for (; *name; name++)
		hash = (hash ^ (unsigned char)*name) * 16777619u;
	return hash;
}

/* The DER certificate for name, minted now or found in the cache. */
static const struct minted *cert_for(struct host *h, const char *name)
{
	struct minted **slot = &h->buckets[hash_name(name) % MINT_CACHE_BUCKETS];
	for (struct minted *m = *slot; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	X509 *x = make_cert(h, name, h->leaf_key, h->ca_cert);
	if (!x)
		return NULL;
	size_t name_len = strlen(name);
	struct minted *m = malloc(sizeof(*m) + name_len + 1);
	if (!m) {
		X509_free(x);
		return NULL;
	}
	m->der = NULL;
	m->der_len = i2d_X509(x, &m->der);
	X509_free(x);
	if (m->der_len <= 0) {
		free(m);
		return NULL;
	}
	memcpy(m->name, name, name_len + 1);
	if (h->cached_count < MINT_CACHE_MAX) {
		m->next = *slot;
		*slot = m;
		h->cached_count++;
		return m;
	}
	if (h->overflow) {
		OPENSSL_free(h->overflow->der);
		free(h->overflow);
	}
	h->overflow = m;
	return m;
}

/* Host names only: a-z, 0-9, '-', '.', lowercased; anything else gets the
 * default certificate (and fails the client's name check, as it should). */
static int sni_name(const char *sni, char out[NAME_MAX_LEN + 1])
{
	size_t len = sni ? strlen(sni) : 0;
	if (len == 0 || len > NAME_MAX_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = sni[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return -1;
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct host *h = arg;
	char name[NAME_MAX_LEN + 1];
	if (sni_name(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), name) < 0)
		return SSL_TLSEXT_ERR_OK; /* the default certificate */
	const struct minted *m = cert_for(h, name);
	if (!m || SSL_use_certificate_ASN1(ssl, m->der, m->der_len) != 1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void on_written(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		bufferevent_free(bev);
}

static void on_request(struct bufferevent *bev, void *arg)
{
	struct host *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > REQUEST_MAX_BYTES)
			bufferevent_free(bev);
		return;
	}
	static const char wanted[] = "GET /.well-known/mta-sts.txt ";
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					"Connection: close\r\n\r\n";
	unsigned char *line = evbuffer_pullup(in, (ev_ssize_t)sizeof(wanted) - 1);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_written, on_event, h);
	if (line && memcmp(line, wanted, sizeof(wanted) - 1) == 0)
		bufferevent_write(bev, h->response, h->response_len);
	else
		bufferevent_write(bev, not_found, sizeof(not_found) - 1);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct host *h = arg;
	SSL *ssl = SSL_new(h->ssl_ctx);
	if (!ssl) {
		evutil_closesocket(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    h->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	struct timeval timeout = {.tv_sec = CONN_TIMEOUT_S};
	bufferevent_set_timeouts(bev, &timeout, &timeout);
	bufferevent_setcb(bev, on_request, NULL, on_event, h);
	bufferevent_enable(bev, EV_READ);
}

static int setup(struct host *h, const char *ca_file, const char *mx_pattern)
{
	h->ca_key = EVP_EC_gen("P-256");
	h->leaf_key = EVP_EC_gen("P-256");
	if (!h->ca_key || !h->leaf_key ||
	    RAND_bytes((unsigned char *)&h->serial, sizeof(h->serial)) != 1)
		return -1;
	h->serial >>= 2; /* a positive 62-bit start, then counting up */
	h->ca_cert = make_cert(h, "mtasts bench CA", h->ca_key, NULL);
	if (!h->ca_cert)
		return -1;
	FILE *fp = fopen(ca_file, "w");
	if (!fp)
		return -1;
	int written = PEM_write_X509(fp, h->ca_cert);
	if (fclose(fp) != 0 || !written)
		return -1;

	X509 *fallback = make_cert(h, DEFAULT_NAME, h->leaf_key, h->ca_cert);
	h->ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (!fallback || !h->ssl_ctx || SSL_CTX_use_certificate(h->ssl_ctx, fallback) != 1 ||
	    SSL_CTX_use_PrivateKey(h->ssl_ctx, h->leaf_key) != 1)
		return -1;
	X509_free(fallback);
	SSL_CTX_set_min_proto_version(h->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(h->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(h->ssl_ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_tlsext_servername_callback(h->ssl_ctx, on_servername);
	SSL_CTX_set_tlsext_servername_arg(h->ssl_ctx, h);

	char body[256];
	int body_len = snprintf(body, sizeof(body),
				"version: STSv1\r\nmode: enforce\r\nmx: %s\r\nmax_age: 604800\r\n",
				mx_pattern);
	if (body_len < 0 || (size_t)body_len >= sizeof(body))
		return -1;
	int n = snprintf(h->response, sizeof(h->response),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			 "Connection: close\r\n\r\n%s",
			 body_len, body);
	if (n < 0 || (size_t)n >= sizeof(h->response))
		return -1;
	h->response_len = (size_t)n;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: bench_policy_host ADDR PORT CA_FILE [MX_PATTERN]\n");
		return 2;
	}
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char *end;
	unsigned long port = strtoul(argv[2], &end, 10);
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1 || *end || port == 0 || port > 65535) {
		fprintf(stderr, "bench_policy_host: bad address %s:%s\n", argv[1], argv[2]);
		return 2;
	}
	sin.sin_port = htons((uint16_t)port);
	signal(SIGPIPE, SIG_IGN);
	struct host *h = calloc(1, sizeof(*h));
	if (!h || setup(h, argv[3], argc == 5 ? argv[4] : "*.bench.test") < 0) {
		fprintf(stderr, "bench_policy_host: set-up failed\n");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	h->base = event_base_new();
	struct evconnlistener *listener =
	    h->base ? evconnlistener_new_bind(h->base, on_accept, h,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
					      (struct sockaddr *)&sin, sizeof(sin))
		    : NULL;
	if (!listener) {
		perror("bench_policy_host: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(h->base);
	return 0;
}
