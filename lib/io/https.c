/* https.c - policy fetch with libcurl multi on a libevent loop (see https.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/x509_vfy.h>

#include "io/https_int.h"
#include "mtasts/policy.h"

struct mts_https {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct mts_https_fetch *fetches; /* in flight, doubly linked */
};

enum abort_reason { ABORT_NONE = 0, ABORT_STATUS, ABORT_CONTENT_TYPE, ABORT_TOO_BIG, ABORT_NOMEM };

struct mts_https_fetch {
	struct mts_https *h;
	struct mts_https_fetch *prev, *next;
	CURL *easy;
	struct curl_slist *connect_to;
	char *domain;
	char connected_to[64];
	char *body;
	size_t body_len, body_cap;
	enum abort_reason aborted;
	char errbuf[CURL_ERROR_SIZE];
	mts_https_cb cb;
	void *arg;
};

struct sock_watch {
	struct event *ev;
};

/* Pure parsers. */

bool mts_https_content_type_ok(const char *v, size_t len)
{
	static const char want[] = "text/plain";
	size_t i = 0;
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (len - i < sizeof(want) - 1 || strncasecmp(v + i, want, sizeof(want) - 1) != 0)
		return false;
	i += sizeof(want) - 1;
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	return i == len || v[i] == ';';
}

/* One field of a connect-to spec: a name, or a bracketed IPv6 literal. */
static int ct_field(const char *s, size_t len, size_t *pos, char *out, size_t cap)
{
	size_t start = *pos, end;
	if (start < len && s[start] == '[') {
		const char *close = memchr(s + start, ']', len - start);
		if (!close)
			return MTS_EINVAL;
		start++;
		end = (size_t)(close - s);
		*pos = end + 1;
	} else {
		end = start;
		while (end < len && s[end] != ':')
			end++;
		*pos = end;
	}
	if (end - start >= cap)
		return MTS_EINVAL;
	for (size_t i = start; i < end; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_' &&
		    s[i] != ':')
			return MTS_EINVAL;
	memcpy(out, s + start, end - start);
	out[end - start] = '\0';
	return 0;
}

static int ct_port(const char *s, size_t len, size_t *pos, unsigned *out)
{
	unsigned long v = 0;
	size_t i = *pos, digits = 0;
	while (i < len && s[i] != ':') {
		if (!isdigit((unsigned char)s[i]) || ++digits > 5)
			return MTS_EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
		i++;
	}
	if (digits && (v == 0 || v > 65535))
		return MTS_EINVAL;
	*out = (unsigned)v;
	*pos = i;
	return 0;
}

int mts_connect_to_parse(const char *spec, size_t len, struct mts_connect_to *out)
{
	size_t pos = 0;
	memset(out, 0, sizeof(*out));
	if (ct_field(spec, len, &pos, out->host, sizeof(out->host)) < 0 || pos >= len ||
	    spec[pos++] != ':')
		return MTS_EINVAL;
	if (ct_port(spec, len, &pos, &out->port) < 0 || pos >= len || spec[pos++] != ':')
		return MTS_EINVAL;
	if (ct_field(spec, len, &pos, out->addr, sizeof(out->addr)) < 0 || pos >= len ||
	    spec[pos++] != ':')
		return MTS_EINVAL;
	if (ct_port(spec, len, &pos, &out->addr_port) < 0 || pos != len)
		return MTS_EINVAL;
	return 0;
}

bool mts_connect_to_matches(const struct mts_connect_to *ct, const char *host, unsigned port)
{
	if (ct->port && ct->port != port)
		return false;
	return !ct->host[0] || strcasecmp(ct->host, host) == 0;
}

/* The libevent <-> curl glue. */

static void fetch_unlink(struct mts_https_fetch *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		f->h->fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

static void fetch_free(struct mts_https_fetch *f)
{
	fetch_unlink(f);
	if (f->easy) {
		curl_multi_remove_handle(f->h->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->connect_to);
	free(f->domain);
	free(f->body);
	free(f);
}

static void map_tls_failure(struct mts_https_fetch *f, struct mts_https_result *r)
{
	long verify = 0;
	curl_easy_getinfo(f->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
	r->failure = MTS_FETCH_WEBPKI;
	switch (verify) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		r->code = MTS_F_FETCH_TLS_EXPIRED;
		snprintf(r->message, sizeof(r->message), "the certificate has expired");
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		r->code = MTS_F_FETCH_TLS_NOT_YET_VALID;
		snprintf(r->message, sizeof(r->message), "the certificate is not yet valid");
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	name_mismatch:
		r->code = MTS_F_FETCH_TLS_NAME;
		snprintf(r->message, sizeof(r->message),
			 "the certificate is not valid for mta-sts.%s", f->domain);
		break;
	default:
		/* curl checks the name itself after a valid chain and leaves the
		 * verify result at OK or "unspecified"; its message says "name". */
		if ((verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
		    strstr(f->errbuf, "name"))
			goto name_mismatch;
		r->code = MTS_F_FETCH_TLS_UNTRUSTED;
		snprintf(r->message, sizeof(r->message), "the certificate is not trusted: %s",
			 X509_verify_cert_error_string(verify));
		break;
	}
}

static void set_failure(struct mts_https_result *r, enum mts_finding_code code, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
static void set_failure(struct mts_https_result *r, enum mts_finding_code code, const char *fmt,
			...)
{
	va_list ap;
	r->failure = MTS_FETCH_ERROR;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static void printable_copy(char *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i + 1 < cap; i++)
		out[i] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[i] = '\0';
}

static void fetch_done(struct mts_https_fetch *f, CURLcode code)
{
	struct mts_https_result r = {.domain = f->domain};
	const char *ctype = NULL;
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &r.http_status);
	curl_easy_getinfo(f->easy, CURLINFO_CONTENT_TYPE, &ctype);
	curl_easy_getinfo(f->easy, CURLINFO_TOTAL_TIME, &r.seconds);
	printable_copy(r.content_type, sizeof(r.content_type), ctype);
	if (code == CURLE_FILESIZE_EXCEEDED) { /* Content-Length said so before the body */
		f->aborted = ABORT_TOO_BIG;
		code = CURLE_WRITE_ERROR;
	}
	snprintf(r.connected_to, sizeof(r.connected_to), "%s", f->connected_to);

	if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && f->aborted)) {
		if (r.http_status >= 300 && r.http_status < 400) {
			const char *loc = NULL;
			char loc_p[160];
			curl_easy_getinfo(f->easy, CURLINFO_REDIRECT_URL, &loc);
			printable_copy(loc_p, sizeof(loc_p), loc ? loc : "(no Location)");
			set_failure(&r, MTS_F_FETCH_REDIRECT,
				    "HTTP %ld redirect to %s; senders do not follow redirects",
				    r.http_status, loc_p);
		} else if (r.http_status != 200) {
			set_failure(&r, MTS_F_FETCH_HTTP_STATUS, "HTTP status %ld, not 200",
				    r.http_status);
		} else if (!ctype || !mts_https_content_type_ok(ctype, strlen(ctype))) {
			set_failure(&r, MTS_F_FETCH_CONTENT_TYPE,
				    "Content-Type is '%s', not text/plain",
				    ctype ? r.content_type : "(none)");
		} else if (f->aborted == ABORT_TOO_BIG) {
			set_failure(&r, MTS_F_FETCH_TOO_BIG, "the body is larger than %d bytes",
				    MTS_POLICY_MAX_BYTES);
		} else if (f->aborted == ABORT_NOMEM) {
			set_failure(&r, MTS_F_FETCH_HTTP, "out of memory reading the body");
		} else {
			r.failure = MTS_FETCH_OK;
			if (!f->body) /* an empty body is a (bad) policy, not a failure here */
				f->body = calloc(1, 1);
			if (!f->body) {
				set_failure(&r, MTS_F_FETCH_HTTP, "out of memory");
			} else {
				f->body[f->body_len] = '\0';
				r.body = f->body;
				r.body_len = f->body_len;
			}
		}
	} else {
		switch (code) {
		case CURLE_OPERATION_TIMEDOUT:
			set_failure(&r, MTS_F_FETCH_TIMEOUT, "timed out: %s", f->errbuf);
			break;
		case CURLE_COULDNT_CONNECT:
			set_failure(&r, MTS_F_FETCH_CONNECT, "cannot connect to %s: %s",
				    f->connected_to, f->errbuf);
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
			map_tls_failure(f, &r);
			break;
		case CURLE_SSL_CONNECT_ERROR:
			set_failure(&r, MTS_F_FETCH_TLS_HANDSHAKE, "TLS handshake failed: %s",
				    f->errbuf);
			break;
		default:
			set_failure(&r, MTS_F_FETCH_HTTP, "%s",
				    f->errbuf[0] ? f->errbuf : curl_easy_strerror(code));
			break;
		}
	}
	mts_https_cb cb = f->cb;
	void *arg = f->arg;
	/* The body stays alive through the callback. */
	cb(&r, arg);
	fetch_free(f);
}

static void check_multi_info(struct mts_https *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct mts_https_fetch *f = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		CURLcode code = msg->data.result;
		if (f)
			fetch_done(f, code);
	}
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct mts_https *h = arg;
	int running = 0;
	int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(h->multi, fd, action, &running);
	check_multi_info(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mts_https *h = arg;
	int running = 0;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(h);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct mts_https *h = userp;
	struct sock_watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
			     (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -1;
		curl_multi_assign(h->multi, s, w);
	} else {
		event_free(w->ev);
	}
	w->ev = event_new(h->base, s, kind, on_socket, h);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		return -1;
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct mts_https *h = userp;
	if (timeout_ms < 0)
		return evtimer_del(h->timer);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	return evtimer_add(h->timer, &tv);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct mts_https_fetch *f = userp;
	size_t n = size * nmemb;
	if (!f->body) {
		/* First bytes: stop reading a body that cannot be a policy. */
		long status = 0;
		const char *ctype = NULL;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(f->easy, CURLINFO_CONTENT_TYPE, &ctype);
		/* A redirect's small body is read (under the cap) so that curl
		 * keeps its Location for the message. */
		if (status >= 300 && status < 400)
			return n <= MTS_POLICY_MAX_BYTES ? n : 0;
		if (status != 200) {
			f->aborted = ABORT_STATUS;
			return 0;
		}
		if (!ctype || !mts_https_content_type_ok(ctype, strlen(ctype))) {
			f->aborted = ABORT_CONTENT_TYPE;
			return 0;
		}
	}
	if (n > MTS_POLICY_MAX_BYTES - f->body_len) {
		f->aborted = ABORT_TOO_BIG;
		return 0;
	}
	if (f->body_len + n + 1 > f->body_cap) {
		size_t cap = f->body_cap ? f->body_cap : 4096;
		while (cap < f->body_len + n + 1)
			cap *= 2;
		if (cap > MTS_POLICY_MAX_BYTES + 1)
			cap = MTS_POLICY_MAX_BYTES + 1;
		char *grown = realloc(f->body, cap);
		if (!grown) {
			f->aborted = ABORT_NOMEM;
			return 0;
		}
		f->body = grown;
		f->body_cap = cap;
	}
	memcpy(f->body + f->body_len, data, n);
	f->body_len += n;
	return n;
}

struct mts_https *mts_https_new(struct event_base *base, struct mts_error *err)
{
	struct mts_https *h = calloc(1, sizeof(*h));
	if (!h) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(h);
		mts_error_set(err, MTS_EIO, "cannot initialise libcurl");
		return NULL;
	}
	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer, h);
	if (!h->multi || !h->timer) {
		mts_https_free(h);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void mts_https_free(struct mts_https *h)
{
	if (!h)
		return;
	while (h->fetches)
		fetch_free(h->fetches);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->timer)
		event_free(h->timer);
	curl_global_cleanup();
	free(h);
}

struct mts_https_fetch *mts_https_fetch_policy(struct mts_https *h, const char *domain,
					       const char *addr, unsigned port,
					       const struct mts_https_opts *opts, mts_https_cb cb,
					       void *arg, struct mts_error *err)
{
	struct mts_https_fetch *f = calloc(1, sizeof(*f));
	if (!f || !(f->domain = strdup(domain))) {
		free(f);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	f->h = h;
	f->cb = cb;
	f->arg = arg;
	f->next = h->fetches;
	if (f->next)
		f->next->prev = f;
	h->fetches = f;

	char url[400], ct[600];
	bool v6 = strchr(addr, ':') != NULL;
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", domain);
	snprintf(ct, sizeof(ct), "mta-sts.%s:443:%s%s%s:%u", domain, v6 ? "[" : "", addr,
		 v6 ? "]" : "", port);
	snprintf(f->connected_to, sizeof(f->connected_to), "%s%s%s:%u", v6 ? "[" : "", addr,
		 v6 ? "]" : "", port);
	f->connect_to = curl_slist_append(NULL, ct);
	f->easy = curl_easy_init();
	if (!f->connect_to || !f->easy) {
		fetch_free(f);
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	unsigned cto = opts && opts->connect_timeout_ms ? opts->connect_timeout_ms
							: MTS_HTTPS_CONNECT_TIMEOUT_MS;
	unsigned to = opts && opts->timeout_ms ? opts->timeout_ms : MTS_HTTPS_TIMEOUT_MS;
	CURL *e = f->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, f->connect_to);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never an environment proxy */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (opts && opts->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, opts->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	} else {
		/* OpenSSL's own variables for its default store, which OpenSSL
		 * programs (and Python's ssl) honour and libcurl does not: each
		 * replaces its part of the default, as in OpenSSL. */
		const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
		if (file && file[0])
			curl_easy_setopt(e, CURLOPT_CAINFO, file);
		if (dir && dir[0])
			curl_easy_setopt(e, CURLOPT_CAPATH, dir);
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)to);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTS_POLICY_MAX_BYTES);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "mtasts/" MTASTS_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, f);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		fetch_free(f);
		mts_error_set(err, MTS_EIO, "cannot start the transfer");
		return NULL;
	}
	return f;
}

void mts_https_cancel(struct mts_https_fetch *f)
{
	if (f)
		fetch_free(f);
}
