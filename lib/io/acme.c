/* acme.c - the ACME client's requests and order flow over libcurl easy (see
 * acme_int.h). Synchronous: meant for a worker thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/text_int.h"
#include "io/acme_crypto_int.h"
#include "io/acme_int.h"

#define JWK_MAX 256
#define THUMB_MAX 64
#define POLL_FIRST_MS 500
#define CSR_B64_MAX 4096

struct mts_acme {
	CURL *curl;
	char *directory_url, *ca_file, *contact;
	unsigned connect_timeout_ms, timeout_ms, order_timeout_s;
	mts_acme_log_fn log;
	void *log_arg;
	struct mts_acme_directory dir;
	EVP_PKEY *key;
	char *key_pem;
	char jwk[JWK_MAX], thumb[THUMB_MAX];
	char account_url[MTS_ACME_URL_MAX];
	char nonces[MTS_ACME_NONCE_POOL][MTS_ACME_NONCE_MAX];
	size_t nonce_count;
	struct mts_acme_stats stats;
};

/* One HTTP answer. */
struct response {
	long status;
	char *body;
	size_t len, cap, limit;
	bool too_big;
	char location[MTS_ACME_URL_MAX];
	char nonce[MTS_ACME_NONCE_MAX];
	char content_type[128];
	long retry_after;		 /* seconds, -1 when absent */
	struct mts_acme_problem problem; /* when status >= 400 and a problem came */
};

static void logf_(struct mts_acme *acme, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct mts_acme *acme, int prio, const char *fmt, ...)
{
	if (!acme->log)
		return;
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	acme->log(prio, line, acme->log_arg);
}

static void response_init(struct response *r, size_t limit)
{
	memset(r, 0, sizeof(*r));
	r->limit = limit;
	r->retry_after = -1;
}

static void response_free(struct response *r)
{
	free(r->body);
	r->body = NULL;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t bytes = size * n;
	if (bytes > r->limit - r->len) {
		r->too_big = true;
		return 0; /* curl aborts the transfer */
	}
	if (r->len + bytes + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + bytes + 1)
			cap *= 2;
		if (cap > r->limit + 1)
			cap = r->limit + 1;
		char *grown = realloc(r->body, cap);
		if (!grown)
			return 0;
		r->body = grown;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, bytes);
	r->len += bytes;
	r->body[r->len] = '\0';
	return bytes;
}

static bool b64url_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return len > 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t len = size * n, name_len;
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	name_len = (size_t)(colon - data);
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vlen = (size_t)(end - v);
#define IS(h) (name_len == sizeof(h) - 1 && strncasecmp(data, h, name_len) == 0)
	if (IS("Replay-Nonce")) {
		if (vlen < sizeof(r->nonce) && b64url_text(v, vlen)) {
			memcpy(r->nonce, v, vlen);
			r->nonce[vlen] = '\0';
		}
	} else if (IS("Location")) {
		if (vlen < sizeof(r->location)) {
			memcpy(r->location, v, vlen);
			r->location[vlen] = '\0';
		}
	} else if (IS("Content-Type")) {
		if (vlen < sizeof(r->content_type)) {
			memcpy(r->content_type, v, vlen);
			r->content_type[vlen] = '\0';
		}
	} else if (IS("Retry-After")) {
		r->retry_after = mts_acme_retry_after(v, vlen, (long long)time(NULL));
	}
#undef IS
	return len;
}

static void nonce_push(struct mts_acme *acme, const char *nonce)
{
	if (!nonce[0])
		return;
	if (acme->nonce_count == MTS_ACME_NONCE_POOL) { /* drop the oldest */
		memmove(acme->nonces[0], acme->nonces[1],
			sizeof(acme->nonces[0]) * (MTS_ACME_NONCE_POOL - 1));
		acme->nonce_count--;
	}
	memcpy(acme->nonces[acme->nonce_count++], nonce, strlen(nonce) + 1);
}

/* One request. body: NULL for GET/HEAD. Fills r (caller frees). */
static int http(struct mts_acme *acme, const char *method, const char *url, const char *body,
		const char *accept, struct response *r, struct mts_error *err)
{
	CURL *c = acme->curl;
	struct curl_slist *headers = NULL, *h;
	char accept_line[96];
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_reset(c);
	snprintf(accept_line, sizeof(accept_line), "Accept: %s",
		 accept ? accept : "application/json");
	headers = curl_slist_append(NULL, accept_line);
	if (headers && body &&
	    (h = curl_slist_append(headers, "Content-Type: application/jose+json")))
		headers = h;
	if (!headers)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mtasts/" MTASTS_VERSION " acme");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)acme->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)acme->timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (acme->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, acme->ca_file);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	acme->stats.requests++;
	CURLcode cc = curl_easy_perform(c);
	curl_slist_free_all(headers);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	/* every answer, errors included, may carry a fresh nonce (RFC 8555 §7.2) */
	nonce_push(acme, r->nonce);
	logf_(acme, LOG_DEBUG, "acme request=%s url=%s status=%ld bytes=%zu", method, url,
	      r->status, r->len);
	if (r->too_big)
		return mts_error_set(err, MTS_ETOOBIG, "%s %s: the answer is over %zu bytes",
				     method, url, r->limit);
	if (cc != CURLE_OK)
		return mts_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? MTS_ETIMEOUT : MTS_EIO,
				     "%s %s: %s", method, url,
				     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return 0;
}

static int get_nonce(struct mts_acme *acme, char *out, struct mts_error *err)
{
	if (acme->nonce_count == 0) {
		struct response r;
		response_init(&r, 4096);
		int rc = http(acme, "HEAD", acme->dir.new_nonce, NULL, NULL, &r, err);
		response_free(&r);
		if (rc < 0)
			return rc;
		if (acme->nonce_count == 0)
			return mts_error_set(err, MTS_EPROTO,
					     "newNonce: no valid Replay-Nonce header (HTTP %ld)",
					     r.status);
	}
	acme->nonce_count--;
	memcpy(out, acme->nonces[acme->nonce_count], MTS_ACME_NONCE_MAX);
	return 0;
}

/* An error answer: its problem document in r->problem, an MTS_E* code and a
 * message naming what and the problem's type. */
static int problem_error(struct mts_acme *acme, const char *what, struct response *r,
			 struct mts_error *err)
{
	struct mts_error perr;
	if (!r->body || mts_acme_parse_problem(r->body, r->len, &r->problem, &perr) < 0) {
		memset(&r->problem, 0, sizeof(r->problem));
		return mts_error_set(err, MTS_EPROTO, "%s: HTTP %ld without a problem document",
				     what, r->status);
	}
	int code = mts_acme_problem_code(r->problem.type, r->status);
	logf_(acme, LOG_WARNING, "acme step=%s status=%ld problem=%s detail=\"%s\"", what,
	      r->status, r->problem.type, r->problem.detail);
	return mts_error_set(err, code, "%s: %s (HTTP %ld): %s", what, r->problem.type, r->status,
			     r->problem.detail[0] ? r->problem.detail : "no detail");
}

static char *json_text(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return s;
}

/* A JWS-signed POST (RFC 8555 §6.2): payload NULL is POST-as-GET. With jwk
 * (newAccount) the key itself is sent, otherwise the account URL. badNonce
 * answers are retried with a fresh nonce. On an HTTP error the problem is in
 * r->problem and the return is negative. */
static int post(struct mts_acme *acme, const char *what, const char *url, const char *payload,
		bool jwk, const char *accept, struct response *r, struct mts_error *err)
{
	if (!jwk && !acme->account_url[0])
		return mts_error_set(err, MTS_EUSAGE, "%s: no account (call mts_acme_account)",
				     what);
	size_t limit = r->limit;
	for (unsigned attempt = 0;; attempt++) {
		char nonce[MTS_ACME_NONCE_MAX];
		int rc = get_nonce(acme, nonce, err);
		if (rc < 0)
			return rc;
		json_t *prot = json_pack("{ss ss ss}", "alg", "ES256", "nonce", nonce, "url", url);
		json_t *key = jwk ? json_loads(acme->jwk, 0, NULL) : NULL;
		if (!prot || (jwk && (!key || json_object_set_new(prot, "jwk", key) < 0)) ||
		    (!jwk &&
		     json_object_set_new(prot, "kid", json_string(acme->account_url)) < 0)) {
			json_decref(prot);
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
		}
		char *prot_text = json_text(prot);
		size_t plen = payload ? strlen(payload) : 0;
		size_t p64_cap = prot_text ? strlen(prot_text) * 4 / 3 + 4 : 0;
		size_t b64_cap = plen * 4 / 3 + 4;
		char *input = prot_text ? malloc(p64_cap + 1 + b64_cap) : NULL;
		char sig[128];
		char *body = NULL;
		if (input) {
			int n = mts_acme_b64url((const unsigned char *)prot_text, strlen(prot_text),
						input, p64_cap);
			input[n] = '.';
			mts_acme_b64url((const unsigned char *)(payload ? payload : ""), plen,
					input + n + 1, b64_cap);
			if (mts_acme_es256(acme->key, input, strlen(input), sig, sizeof(sig), err) <
			    0) {
				free(input);
				free(prot_text);
				return err ? err->code : MTS_EINVAL;
			}
			input[n] = '\0';
			body = json_text(json_pack("{ss ss ss}", "protected", input, "payload",
						   input + n + 1, "signature", sig));
		}
		free(input);
		free(prot_text);
		if (!body)
			return mts_error_set(err, MTS_ENOMEM, "out of memory");
		response_free(r);
		response_init(r, limit);
		rc = http(acme, "POST", url, body, accept, r, err);
		free(body);
		if (rc < 0)
			return rc;
		if (r->status < 400)
			return 0;
		rc = problem_error(acme, what, r, err);
		if (strcmp(r->problem.type, "urn:ietf:params:acme:error:badNonce") != 0 ||
		    attempt >= MTS_ACME_NONCE_RETRIES)
			return rc;
		acme->stats.bad_nonce_retries++;
		logf_(acme, LOG_INFO, "acme step=%s retry=badNonce attempt=%u", what, attempt + 1);
	}
}

static char *dup_opt(const char *s, bool *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

struct mts_acme *mts_acme_new(const struct mts_acme_opts *opts, struct mts_error *err)
{
	if (!opts || !opts->directory_url || strncmp(opts->directory_url, "https://", 8) != 0) {
		mts_error_set(err, MTS_EUSAGE, "acme: the directory URL must be https://");
		return NULL;
	}
	if (opts->account_url && strlen(opts->account_url) >= MTS_ACME_URL_MAX) {
		mts_error_set(err, MTS_EUSAGE, "acme: the account URL is too long");
		return NULL;
	}
	struct mts_acme *acme = calloc(1, sizeof(*acme));
	if (!acme) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		return NULL;
	}
	bool failed = false;
	acme->directory_url = dup_opt(opts->directory_url, &failed);
	acme->ca_file = dup_opt(opts->ca_file, &failed);
	acme->contact = dup_opt(opts->contact_email, &failed);
	acme->connect_timeout_ms =
		opts->connect_timeout_ms ? opts->connect_timeout_ms : MTS_ACME_CONNECT_TIMEOUT_MS;
	acme->timeout_ms = opts->timeout_ms ? opts->timeout_ms : MTS_ACME_TIMEOUT_MS;
	acme->order_timeout_s =
		opts->order_timeout_s ? opts->order_timeout_s : MTS_ACME_ORDER_TIMEOUT_S;
	acme->log = opts->log;
	acme->log_arg = opts->log_arg;
	acme->curl = curl_easy_init();
	if (failed || !acme->curl) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		goto fail;
	}
	if (opts->account_key_pem) {
		acme->key = mts_acme_key_load(opts->account_key_pem, opts->account_key_len, err);
		if (!acme->key)
			goto fail;
		acme->key_pem = mts_strndup(opts->account_key_pem, opts->account_key_len);
	} else {
		acme->key_pem = mts_acme_key_generate(err);
		acme->key = acme->key_pem
				    ? mts_acme_key_load(acme->key_pem, strlen(acme->key_pem), err)
				    : NULL;
		if (!acme->key)
			goto fail;
	}
	if (!acme->key_pem) {
		mts_error_set(err, MTS_ENOMEM, "out of memory");
		goto fail;
	}
	if (mts_acme_jwk_of(acme->key, acme->jwk, sizeof(acme->jwk), err) < 0 ||
	    mts_acme_jwk_thumbprint(acme->jwk, strlen(acme->jwk), acme->thumb, sizeof(acme->thumb),
				    err) < 0)
		goto fail;
	if (opts->account_url)
		memcpy(acme->account_url, opts->account_url, strlen(opts->account_url) + 1);

	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	int rc = http(acme, "GET", acme->directory_url, NULL, NULL, &r, err);
	if (rc == 0 && r.status != 200)
		rc = mts_error_set(err, MTS_EPROTO, "directory %s: HTTP %ld", acme->directory_url,
				   r.status);
	if (rc == 0)
		rc = mts_acme_parse_directory(r.body ? r.body : "", r.len, &acme->dir, err);
	if (rc == 0 && acme->dir.external_account_required)
		rc = mts_error_set(
			err, MTS_EPROTO,
			"directory: the CA requires external account binding, not supported");
	response_free(&r);
	if (rc < 0)
		goto fail;
	return acme;
fail:
	mts_acme_free(acme);
	return NULL;
}

void mts_acme_free(struct mts_acme *acme)
{
	if (!acme)
		return;
	if (acme->curl)
		curl_easy_cleanup(acme->curl);
	EVP_PKEY_free(acme->key);
	if (acme->key_pem)
		OPENSSL_cleanse(acme->key_pem, strlen(acme->key_pem));
	free(acme->key_pem);
	free(acme->directory_url);
	free(acme->ca_file);
	free(acme->contact);
	free(acme);
}

const char *mts_acme_account_key_pem(const struct mts_acme *acme)
{
	return acme->key_pem;
}

const char *mts_acme_account_url(const struct mts_acme *acme)
{
	return acme->account_url;
}

void mts_acme_get_stats(const struct mts_acme *acme, struct mts_acme_stats *out)
{
	*out = acme->stats;
}

static bool https_url(const char *s)
{
	size_t n = strlen(s);
	if (n <= 8 || n >= MTS_ACME_URL_MAX || strncmp(s, "https://", 8) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int mts_acme_account(struct mts_acme *acme, bool only_existing, struct mts_error *err)
{
	json_t *req = json_pack("{sb}", "termsOfServiceAgreed", 1);
	if (req && only_existing)
		json_object_set_new(req, "onlyReturnExisting", json_true());
	if (req && acme->contact) {
		char mailto[320];
		snprintf(mailto, sizeof(mailto), "mailto:%s", acme->contact);
		json_object_set_new(req, "contact", json_pack("[s]", mailto));
	}
	char *payload = json_text(req);
	if (!payload)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	int rc = post(acme, "newAccount", acme->dir.new_account, payload, true, NULL, &r, err);
	free(payload);
	if (rc == 0 && r.status != 200 && r.status != 201)
		rc = mts_error_set(err, MTS_EPROTO, "newAccount: HTTP %ld", r.status);
	if (rc == 0 && !https_url(r.location))
		rc = mts_error_set(
			err, MTS_EPROTO,
			"newAccount: header \"Location\" is missing or not an https URL");
	if (rc == 0) {
		json_t *acct = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
		json_t *status = json_object_get(acct, "status");
		if (json_is_string(status) && strcmp(json_string_value(status), "valid") != 0)
			rc = mts_error_set(err, MTS_EPROTO, "newAccount: the account is %.16s",
					   json_string_value(status));
		json_decref(acct);
	}
	if (rc == 0) {
		memcpy(acme->account_url, r.location, strlen(r.location) + 1);
		logf_(acme, LOG_INFO, "acme step=account url=%s created=%s", acme->account_url,
		      r.status == 201 ? "yes" : "no");
	}
	response_free(&r);
	return rc;
}

static int save(const struct mts_acme_hooks *hooks, struct mts_acme_order *order,
		struct mts_error *err)
{
	if (hooks && hooks->save && hooks->save(order, hooks->arg) != 0)
		return mts_error_set(err, MTS_ETEMP,
				     "order for %s: stopped by the caller (step %d)", order->name,
				     (int)order->step);
	return 0;
}

static void set_problem(struct mts_acme_order *order, const struct mts_acme_problem *p)
{
	snprintf(order->problem_type, sizeof(order->problem_type), "%s", p->type);
	snprintf(order->problem_detail, sizeof(order->problem_detail), "%s", p->detail);
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep before the next poll: Retry-After when the server gave one (capped),
 * else *own_ms, which doubles; never past the deadline, so the last poll
 * comes at it. At the deadline: MTS_ETIMEOUT. */
static int wait_poll(struct mts_acme *acme, struct mts_acme_order *order, long retry_after,
		     long long *own_ms, long long deadline, struct mts_error *err)
{
	long long wait = *own_ms;
	if (retry_after >= 0)
		wait = (retry_after > MTS_ACME_RETRY_AFTER_MAX_S ? MTS_ACME_RETRY_AFTER_MAX_S
								 : retry_after) *
		       1000LL;
	*own_ms = *own_ms * 2 > MTS_ACME_POLL_MAX_S * 1000LL ? MTS_ACME_POLL_MAX_S * 1000LL
							     : *own_ms * 2;
	long long now = now_ms();
	if (now + wait > deadline)
		wait = deadline - now; /* one last poll at the deadline */
	if (wait <= 0)
		return mts_error_set(err, MTS_ETIMEOUT,
				     "order for %s: not done within %u s (step %d, status %s); it "
				     "can be resumed",
				     order->name, acme->order_timeout_s, (int)order->step,
				     order->status);
	struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
			      .tv_nsec = (long)(wait % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static int fetch_order(struct mts_acme *acme, struct mts_acme_order *order,
		       struct mts_acme_order_doc *doc, long *retry_after, struct mts_error *err)
{
	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	int rc = post(acme, "order", order->order_url, NULL, false, NULL, &r, err);
	if (rc == 0)
		rc = mts_acme_parse_order(r.body ? r.body : "", r.len, doc, err);
	if (rc == 0 && doc->authz_count != 1)
		rc = mts_error_set(err, MTS_EPROTO, "order: %zu authorizations for one name",
				   doc->authz_count);
	if (rc == 0) {
		copy_field(order->status, sizeof(order->status), doc->status);
		copy_field(order->finalize_url, sizeof(order->finalize_url), doc->finalize_url);
		copy_field(order->certificate_url, sizeof(order->certificate_url),
			   doc->certificate_url);
		if (strcmp(order->authz_url, doc->authz_url) != 0)
			rc = mts_error_set(err, MTS_EPROTO,
					   "order: field \"authorizations[0]\" changed");
	}
	if (retry_after)
		*retry_after = r.retry_after;
	response_free(&r);
	return rc;
}

static int fetch_authz(struct mts_acme *acme, struct mts_acme_order *order,
		       struct mts_acme_authz_doc *doc, long *retry_after, struct mts_error *err)
{
	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	int rc = post(acme, "authorization", order->authz_url, NULL, false, NULL, &r, err);
	if (rc == 0)
		rc = mts_acme_parse_authz(r.body ? r.body : "", r.len, order->type, doc, err);
	if (rc == 0 && strcasecmp(doc->identifier, order->name) != 0)
		rc = mts_error_set(err, MTS_EPROTO, "authorization: field \"identifier\" is not %s",
				   order->name);
	if (rc == 0 && strcmp(doc->status, "pending") == 0 && !doc->found)
		rc = mts_error_set(err, MTS_EPROTO, "authorization: the CA offers no %s challenge",
				   order->type == MTS_ACME_TLS_ALPN_01 ? "tls-alpn-01" : "http-01");
	if (rc == 0 && doc->found) {
		copy_field(order->challenge_url, sizeof(order->challenge_url), doc->challenge_url);
		copy_field(order->token, sizeof(order->token), doc->token);
	}
	if (retry_after)
		*retry_after = r.retry_after;
	response_free(&r);
	return rc;
}

static int authz_failed(struct mts_acme_order *order, const struct mts_acme_authz_doc *doc,
			const struct mts_acme_hooks *hooks, struct mts_error *err)
{
	order->step = MTS_ACME_STEP_FAILED;
	set_problem(order, &doc->error);
	(void)save(hooks, order, NULL);
	return mts_error_set(err, MTS_EINVAL, "authorization for %s is %s: %s: %s", order->name,
			     doc->status, doc->error.type[0] ? doc->error.type : "no error given",
			     doc->error.detail[0] ? doc->error.detail : "no detail");
}

/* The authorization of a pending order: publish, respond, poll to valid. */
static int run_authz(struct mts_acme *acme, struct mts_acme_order *order,
		     const struct mts_acme_hooks *hooks, long long deadline, struct mts_error *err)
{
	struct mts_acme_authz_doc doc;
	long retry_after = -1;
	int rc = fetch_authz(acme, order, &doc, &retry_after, err);
	if (rc < 0)
		return rc;
	if (strcmp(doc.status, "valid") == 0)
		goto valid;
	if (strcmp(doc.status, "pending") != 0)
		return authz_failed(order, &doc, hooks, err);

	char key_auth[MTS_ACME_TOKEN_MAX + THUMB_MAX + 2];
	snprintf(key_auth, sizeof(key_auth), "%s.%s", order->token, acme->thumb);
	struct mts_acme_challenge ch = {.type = order->type,
					.name = order->name,
					.token = order->token,
					.key_authorization = key_auth};
	char *cert_pem = NULL, *key_pem = NULL;
	if (order->type == MTS_ACME_TLS_ALPN_01) {
		rc = mts_acme_tls_alpn_cert(order->name, key_auth, &cert_pem, &key_pem, err);
		if (rc < 0)
			return rc;
		ch.alpn_cert_pem = cert_pem;
		ch.alpn_key_pem = key_pem;
	}
	rc = hooks->publish(&ch, true, hooks->arg);
	free(cert_pem);
	if (key_pem)
		OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
	if (rc != 0)
		return mts_error_set(err, MTS_ETEMP,
				     "order for %s: the challenge answer could not be published",
				     order->name);
	logf_(acme, LOG_INFO, "acme step=published name=%s type=%s", order->name,
	      order->type == MTS_ACME_TLS_ALPN_01 ? "tls-alpn-01" : "http-01");
	if (strcmp(doc.challenge_status, "pending") == 0) {
		struct response r;
		response_init(&r, MTS_ACME_MAX_RESPONSE);
		rc = post(acme, "challenge", order->challenge_url, "{}", false, NULL, &r, err);
		retry_after = r.retry_after;
		response_free(&r);
		if (rc < 0)
			return rc;
		order->step = MTS_ACME_STEP_RESPONDED;
		if ((rc = save(hooks, order, err)) < 0)
			return rc;
	}
	long long own_ms = POLL_FIRST_MS;
	for (;;) {
		if ((rc = wait_poll(acme, order, retry_after, &own_ms, deadline, err)) < 0)
			return rc;
		if ((rc = fetch_authz(acme, order, &doc, &retry_after, err)) < 0)
			return rc;
		if (strcmp(doc.status, "pending") != 0)
			break;
	}
	/* final: the answer is no longer needed */
	ch.alpn_cert_pem = ch.alpn_key_pem = NULL;
	hooks->publish(&ch, false, hooks->arg);
	if (strcmp(doc.status, "valid") != 0)
		return authz_failed(order, &doc, hooks, err);
valid:
	logf_(acme, LOG_INFO, "acme step=validated name=%s", order->name);
	if (order->step < MTS_ACME_STEP_VALIDATED) {
		order->step = MTS_ACME_STEP_VALIDATED;
		return save(hooks, order, err);
	}
	return 0;
}

static int finalize(struct mts_acme *acme, struct mts_acme_order *order,
		    const struct mts_acme_hooks *hooks, struct mts_error *err)
{
	char csr[CSR_B64_MAX];
	int rc = mts_acme_csr(order->name, order->key_pem, csr, sizeof(csr), err);
	if (rc < 0)
		return rc;
	char *payload = json_text(json_pack("{ss}", "csr", csr));
	if (!payload)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	rc = post(acme, "finalize", order->finalize_url, payload, false, NULL, &r, err);
	free(payload);
	response_free(&r);
	if (rc < 0)
		return rc;
	order->step = MTS_ACME_STEP_FINALIZED;
	logf_(acme, LOG_INFO, "acme step=finalized name=%s", order->name);
	return save(hooks, order, err);
}

static int download(struct mts_acme *acme, struct mts_acme_order *order,
		    const struct mts_acme_hooks *hooks, struct mts_acme_cert *cert,
		    struct mts_error *err)
{
	struct response r;
	response_init(&r, MTS_ACME_MAX_CHAIN);
	int rc = post(acme, "certificate", order->certificate_url, NULL, false,
		      "application/pem-certificate-chain", &r, err);
	long long nb = 0, na = 0;
	if (rc == 0 && r.status != 200)
		rc = mts_error_set(err, MTS_EPROTO, "certificate: HTTP %ld", r.status);
	if (rc == 0 && strncasecmp(r.content_type, "application/pem-certificate-chain", 33) != 0)
		rc = mts_error_set(err, MTS_EPROTO,
				   "certificate: header \"Content-Type\" is not "
				   "application/pem-certificate-chain");
	if (rc == 0)
		rc = mts_acme_chain_check(r.body ? r.body : "", r.len, order->name, order->key_pem,
					  &nb, &na, err);
	if (rc == 0) {
		cert->chain_pem = r.body;
		cert->chain_len = r.len;
		r.body = NULL;
		cert->key_pem = strdup(order->key_pem);
		cert->not_before = nb;
		cert->not_after = na;
		if (!cert->key_pem) {
			mts_acme_cert_clear(cert);
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
		}
	}
	response_free(&r);
	if (rc < 0)
		return rc;
	order->step = MTS_ACME_STEP_DONE;
	logf_(acme, LOG_INFO, "acme step=done name=%s not_after=%lld", order->name, na);
	return save(hooks, order, err);
}

int mts_acme_order_run(struct mts_acme *acme, struct mts_acme_order *order,
		       const struct mts_acme_hooks *hooks, struct mts_acme_cert *cert,
		       struct mts_error *err)
{
	memset(cert, 0, sizeof(*cert));
	if (!hooks || !hooks->publish)
		return mts_error_set(err, MTS_EUSAGE, "acme: a publish hook is required");
	long long deadline = now_ms() + acme->order_timeout_s * 1000LL;
	long long own_ms = POLL_FIRST_MS;
	for (;;) {
		struct mts_acme_order_doc doc;
		long retry_after = -1;
		int rc = fetch_order(acme, order, &doc, &retry_after, err);
		if (rc < 0)
			return rc;
		if (strcmp(doc.status, "pending") == 0) {
			/* the authorization was valid but the order lags behind it */
			if (order->step >= MTS_ACME_STEP_VALIDATED)
				rc = wait_poll(acme, order, retry_after, &own_ms, deadline, err);
			if (rc == 0)
				rc = run_authz(acme, order, hooks, deadline, err);
		} else if (strcmp(doc.status, "ready") == 0) {
			rc = finalize(acme, order, hooks, err);
		} else if (strcmp(doc.status, "processing") == 0) {
			rc = wait_poll(acme, order, retry_after, &own_ms, deadline, err);
		} else if (strcmp(doc.status, "valid") == 0) {
			return download(acme, order, hooks, cert, err);
		} else {
			order->step = MTS_ACME_STEP_FAILED;
			set_problem(order, &doc.error);
			(void)save(hooks, order, NULL);
			return mts_error_set(err, MTS_EINVAL, "order for %s is %s: %s: %s",
					     order->name, doc.status,
					     doc.error.type[0] ? doc.error.type : "no error given",
					     doc.error.detail[0] ? doc.error.detail : "no detail");
		}
		if (rc < 0)
			return rc;
	}
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int mts_acme_order_resume(struct mts_acme *acme, struct mts_acme_order *order,
			  const struct mts_acme_hooks *hooks, struct mts_acme_cert *cert,
			  struct mts_error *err)
{
	memset(cert, 0, sizeof(*cert));
	/* the struct came back from a store: check it before trusting it */
	if (!terminated(order->name, sizeof(order->name)) ||
	    !terminated(order->status, sizeof(order->status)) ||
	    !terminated(order->order_url, sizeof(order->order_url)) ||
	    !terminated(order->authz_url, sizeof(order->authz_url)) ||
	    !terminated(order->challenge_url, sizeof(order->challenge_url)) ||
	    !terminated(order->finalize_url, sizeof(order->finalize_url)) ||
	    !terminated(order->certificate_url, sizeof(order->certificate_url)) ||
	    !terminated(order->token, sizeof(order->token)) ||
	    !terminated(order->key_pem, sizeof(order->key_pem)) ||
	    !terminated(order->problem_type, sizeof(order->problem_type)) ||
	    !terminated(order->problem_detail, sizeof(order->problem_detail)))
		return mts_error_set(err, MTS_EINVAL,
				     "resume: a field of the saved order is not terminated");
	if (!https_url(order->order_url) || !https_url(order->authz_url))
		return mts_error_set(err, MTS_EINVAL,
				     "resume: the saved order has no order or authorization URL");
	if (order->type != MTS_ACME_HTTP_01 && order->type != MTS_ACME_TLS_ALPN_01)
		return mts_error_set(err, MTS_EINVAL, "resume: unknown challenge type %d",
				     (int)order->type);
	struct mts_error kerr;
	EVP_PKEY *key = mts_acme_key_load(order->key_pem, strlen(order->key_pem), &kerr);
	if (!key)
		return mts_error_set(err, MTS_EINVAL, "resume: field \"key_pem\": %s",
				     kerr.message);
	EVP_PKEY_free(key);
	logf_(acme, LOG_INFO, "acme step=resume name=%s from=%d", order->name, (int)order->step);
	return mts_acme_order_run(acme, order, hooks, cert, err);
}

int mts_acme_order_new(struct mts_acme *acme, const char *name, enum mts_acme_challenge_type type,
		       const struct mts_acme_hooks *hooks, struct mts_acme_order *order,
		       struct mts_error *err)
{
	memset(order, 0, sizeof(*order));
	if (!name || !name[0] || strlen(name) >= sizeof(order->name))
		return mts_error_set(err, MTS_EUSAGE, "newOrder: the name is empty or too long");
	if (type != MTS_ACME_HTTP_01 && type != MTS_ACME_TLS_ALPN_01)
		return mts_error_set(err, MTS_EUSAGE, "newOrder: unknown challenge type");
	copy_field(order->name, sizeof(order->name), name);
	order->type = type;
	char *key_pem = mts_acme_key_generate(err);
	if (!key_pem)
		return err ? err->code : MTS_ENOMEM;
	size_t klen = strlen(key_pem);
	if (klen < sizeof(order->key_pem))
		memcpy(order->key_pem, key_pem, klen + 1);
	OPENSSL_cleanse(key_pem, klen);
	free(key_pem);
	if (!order->key_pem[0])
		return mts_error_set(err, MTS_ETOOBIG, "newOrder: the key does not fit");

	char *payload =
		json_text(json_pack("{s[{ss ss}]}", "identifiers", "type", "dns", "value", name));
	if (!payload)
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	struct response r;
	response_init(&r, MTS_ACME_MAX_RESPONSE);
	int rc = post(acme, "newOrder", acme->dir.new_order, payload, false, NULL, &r, err);
	free(payload);
	struct mts_acme_order_doc doc;
	if (rc == 0 && r.status != 201)
		rc = mts_error_set(err, MTS_EPROTO, "newOrder: HTTP %ld, not 201", r.status);
	if (rc == 0 && !https_url(r.location))
		rc = mts_error_set(err, MTS_EPROTO,
				   "newOrder: header \"Location\" is missing or not an https URL");
	if (rc == 0)
		rc = mts_acme_parse_order(r.body ? r.body : "", r.len, &doc, err);
	if (rc == 0 && doc.authz_count != 1)
		rc = mts_error_set(err, MTS_EPROTO, "newOrder: %zu authorizations for one name",
				   doc.authz_count);
	if (rc == 0) {
		copy_field(order->order_url, sizeof(order->order_url), r.location);
		copy_field(order->authz_url, sizeof(order->authz_url), doc.authz_url);
		copy_field(order->finalize_url, sizeof(order->finalize_url), doc.finalize_url);
		copy_field(order->status, sizeof(order->status), doc.status);
		order->step = MTS_ACME_STEP_ORDERED;
	}
	response_free(&r);
	if (rc < 0)
		return rc;
	/* choose the challenge now, so that the saved state names it */
	struct mts_acme_authz_doc authz;
	if ((rc = fetch_authz(acme, order, &authz, NULL, err)) < 0)
		return rc;
	logf_(acme, LOG_INFO, "acme step=ordered name=%s url=%s", order->name, order->order_url);
	return save(hooks, order, err);
}

int mts_acme_obtain(struct mts_acme *acme, const char *name, enum mts_acme_challenge_type type,
		    const struct mts_acme_hooks *hooks, struct mts_acme_order *order,
		    struct mts_acme_cert *cert, struct mts_error *err)
{
	memset(cert, 0, sizeof(*cert));
	int rc = mts_acme_order_new(acme, name, type, hooks, order, err);
	return rc < 0 ? rc : mts_acme_order_run(acme, order, hooks, cert, err);
}

void mts_acme_cert_clear(struct mts_acme_cert *cert)
{
	if (!cert)
		return;
	if (cert->key_pem)
		OPENSSL_cleanse(cert->key_pem, strlen(cert->key_pem));
	free(cert->key_pem);
	free(cert->chain_pem);
	memset(cert, 0, sizeof(*cert));
}
