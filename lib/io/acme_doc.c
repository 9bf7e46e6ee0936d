/* acme_doc.c - the pure parts of the ACME client (see acme_int.h): parsers of
 * the server's JSON documents, base64url, RFC 7638 thumbprints, and the
 * renewal and retry rules. No I/O, no clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "core/text_int.h"
#include "io/acme_int.h"

int mts_acme_b64url(const unsigned char *in, size_t len, char *out, size_t cap)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
	if (need >= cap || need > 0x7fffffff)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = alphabet[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = alphabet[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

/* Parse buf as one JSON object, with the parser's message on failure. */
static json_t *load_object(const char *buf, size_t len, const char *what, struct mts_error *err)
{
	json_error_t jerr;
	if (len > MTS_ACME_MAX_RESPONSE) {
		mts_error_set(err, MTS_ETOOBIG, "%s: %zu bytes, over the limit of %d", what, len,
			      MTS_ACME_MAX_RESPONSE);
		return NULL;
	}
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		mts_error_set(err, MTS_EPROTO, "%s: not JSON: line %d column %d: %s", what,
			      jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		mts_error_set(err, MTS_EPROTO, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

/* A string member into out; absent is allowed unless required. */
static int get_string(json_t *obj, const char *key, char *out, size_t cap, bool required,
		      const char *what, struct mts_error *err)
{
	json_t *v = json_object_get(obj, key);
	out[0] = '\0';
	if (!v) {
		if (required)
			return mts_error_set(err, MTS_EPROTO, "%s: field \"%s\" is missing", what,
					     key);
		return 0;
	}
	if (!json_is_string(v))
		return mts_error_set(err, MTS_EPROTO, "%s: field \"%s\" is not a string", what,
				     key);
	size_t len = json_string_length(v);
	if (len >= cap)
		return mts_error_set(err, MTS_EPROTO, "%s: field \"%s\" is too long (%zu bytes)",
				     what, key, len);
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	if (strlen(out) != len)
		return mts_error_set(err, MTS_EPROTO, "%s: field \"%s\" contains NUL", what, key);
	return 0;
}

/* A URL member: https, printable, no spaces. */
static int get_url(json_t *obj, const char *key, char *out, size_t cap, bool required,
		   const char *what, struct mts_error *err)
{
	int rc = get_string(obj, key, out, cap, required, what, err);
	if (rc < 0 || (!out[0] && !json_object_get(obj, key)))
		return rc; /* absent and optional; present but empty is bad */
	if (strncmp(out, "https://", 8) != 0 || !out[8])
		goto bad;
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			goto bad;
	return 0;
bad:
	out[0] = '\0';
	return mts_error_set(err, MTS_EPROTO, "%s: field \"%s\" is not an https URL", what, key);
}

static const char *const statuses[] = {"pending", "ready",   "processing",  "valid",
				       "invalid", "expired", "deactivated", "revoked"};

static int get_status(json_t *obj, char *out, size_t cap, const char *what, struct mts_error *err)
{
	int rc = get_string(obj, "status", out, cap, true, what, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(out, statuses[i]) == 0)
			return 0;
	char shown[MTS_PRINTABLE_BUF];
	mts_printable(out, strlen(out), shown, sizeof(shown));
	out[0] = '\0';
	return mts_error_set(err, MTS_EPROTO, "%s: field \"status\" has an unknown value \"%s\"",
			     what, shown);
}

/* A printable copy that uses all of out (mts_printable stops at 80 bytes,
 * and a CA's detail is often longer): other bytes become '?'. */
static void printable_into(const char *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < cap; i++) {
		unsigned char c = (unsigned char)in[i];
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (n + 1 == cap && n < len && cap > 4)
		memcpy(out + cap - 4, "...", 3);
	out[n] = '\0';
}

static void problem_from(json_t *obj, struct mts_acme_problem *p)
{
	json_t *type = json_object_get(obj, "type"), *detail = json_object_get(obj, "detail"),
	       *status = json_object_get(obj, "status");
	memset(p, 0, sizeof(*p));
	if (json_is_string(type))
		printable_into(json_string_value(type), json_string_length(type), p->type,
			       sizeof(p->type));
	if (json_is_string(detail))
		printable_into(json_string_value(detail), json_string_length(detail), p->detail,
			       sizeof(p->detail));
	if (json_is_integer(status) && json_integer_value(status) >= 100 &&
	    json_integer_value(status) <= 599)
		p->status = (int)json_integer_value(status);
}

int mts_acme_parse_problem(const char *buf, size_t len, struct mts_acme_problem *out,
			   struct mts_error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load_object(buf, len, "problem document", err);
	if (!root)
		return err ? err->code : MTS_EPROTO;
	problem_from(root, out);
	json_decref(root);
	if (!out->type[0])
		return mts_error_set(err, MTS_EPROTO,
				     "problem document: field \"type\" is missing");
	return 0;
}

const char *mts_acme_problem_name(const char *type)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";
	if (strncmp(type, prefix, sizeof(prefix) - 1) == 0)
		return type + sizeof(prefix) - 1;
	return type;
}

int mts_acme_problem_code(const char *type, long http_status)
{
	const char *name = mts_acme_problem_name(type);
	if (name == type) /* not an ACME error type (RFC 8555 §6.7) */
		name = "";
	if (strcmp(name, "rateLimited") == 0 || strcmp(name, "serverInternal") == 0 ||
	    strcmp(name, "badNonce") == 0 || http_status == 503)
		return MTS_ETEMP;
	if (strcmp(name, "accountDoesNotExist") == 0)
		return MTS_ENOTFOUND;
	return MTS_EPROTO;
}

int mts_acme_parse_directory(const char *buf, size_t len, struct mts_acme_directory *out,
			     struct mts_error *err)
{
	static const char what[] = "directory";
	memset(out, 0, sizeof(*out));
	json_t *root = load_object(buf, len, what, err);
	if (!root)
		return err ? err->code : MTS_EPROTO;
	int rc = get_url(root, "newNonce", out->new_nonce, sizeof(out->new_nonce), true, what, err);
	if (rc == 0)
		rc = get_url(root, "newAccount", out->new_account, sizeof(out->new_account), true,
			     what, err);
	if (rc == 0)
		rc = get_url(root, "newOrder", out->new_order, sizeof(out->new_order), true, what,
			     err);
	json_t *meta = json_object_get(root, "meta");
	if (rc == 0 && meta) {
		if (!json_is_object(meta)) {
			rc = mts_error_set(err, MTS_EPROTO,
					   "directory: field \"meta\" is not an object");
		} else {
			/* any URI (pebble's is a data: URI): kept as text, never fetched */
			rc =
			    get_string(meta, "termsOfService", out->terms_of_service,
				       sizeof(out->terms_of_service), false, "directory meta", err);
			json_t *ear = json_object_get(meta, "externalAccountRequired");
			if (rc == 0 && ear && !json_is_boolean(ear))
				rc = mts_error_set(err, MTS_EPROTO,
						   "directory meta: field "
						   "\"externalAccountRequired\" is not a boolean");
			out->external_account_required = json_is_true(ear);
		}
	}
	json_decref(root);
	return rc;
}

int mts_acme_parse_order(const char *buf, size_t len, struct mts_acme_order_doc *out,
			 struct mts_error *err)
{
	static const char what[] = "order";
	memset(out, 0, sizeof(*out));
	json_t *root = load_object(buf, len, what, err);
	if (!root)
		return err ? err->code : MTS_EPROTO;
	int rc = get_status(root, out->status, sizeof(out->status), what, err);
	json_t *authz = json_object_get(root, "authorizations");
	if (rc == 0 && !json_is_array(authz))
		rc = mts_error_set(err, MTS_EPROTO, "order: field \"authorizations\" is %s",
				   authz ? "not an array" : "missing");
	if (rc == 0) {
		out->authz_count = json_array_size(authz);
		json_t *first = json_array_get(authz, 0);
		if (out->authz_count == 0)
			rc = mts_error_set(err, MTS_EPROTO,
					   "order: field \"authorizations\" is empty");
		else if (!json_is_string(first))
			rc = mts_error_set(err, MTS_EPROTO,
					   "order: field \"authorizations[0]\" is not a string");
		else {
			json_t *holder = json_pack("{sO}", "authorizations[0]", first);
			rc = holder ? get_url(holder, "authorizations[0]", out->authz_url,
					      sizeof(out->authz_url), true, what, err)
				    : mts_error_set(err, MTS_ENOMEM, "out of memory");
			json_decref(holder);
		}
	}
	if (rc == 0)
		rc = get_url(root, "finalize", out->finalize_url, sizeof(out->finalize_url), true,
			     what, err);
	if (rc == 0)
		rc = get_url(root, "certificate", out->certificate_url,
			     sizeof(out->certificate_url), false, what, err);
	if (rc == 0 && strcmp(out->status, "valid") == 0 && !out->certificate_url[0])
		rc = mts_error_set(err, MTS_EPROTO,
				   "order: field \"certificate\" is missing from a valid order");
	json_t *error = json_object_get(root, "error");
	if (rc == 0 && json_is_object(error))
		problem_from(error, &out->error);
	json_decref(root);
	return rc;
}

static bool token_ok(const char *t)
{
	size_t n = 0;
	for (; t[n]; n++) {
		char c = t[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return n >= 22; /* 128 bits of base64url (RFC 8555 §8.1) */
}

int mts_acme_parse_authz(const char *buf, size_t len, enum mts_acme_challenge_type type,
			 struct mts_acme_authz_doc *out, struct mts_error *err)
{
	static const char what[] = "authorization";
	const char *want = type == MTS_ACME_TLS_ALPN_01 ? "tls-alpn-01" : "http-01";
	memset(out, 0, sizeof(*out));
	json_t *root = load_object(buf, len, what, err);
	if (!root)
		return err ? err->code : MTS_EPROTO;
	int rc = get_status(root, out->status, sizeof(out->status), what, err);
	json_t *ident = json_object_get(root, "identifier");
	if (rc == 0 && !json_is_object(ident))
		rc = mts_error_set(err, MTS_EPROTO, "authorization: field \"identifier\" is %s",
				   ident ? "not an object" : "missing");
	if (rc == 0)
		rc = get_string(ident, "value", out->identifier, sizeof(out->identifier), true,
				"authorization identifier", err);
	json_t *challenges = json_object_get(root, "challenges");
	if (rc == 0 && !json_is_array(challenges))
		rc = mts_error_set(err, MTS_EPROTO, "authorization: field \"challenges\" is %s",
				   challenges ? "not an array" : "missing");
	size_t i;
	json_t *ch;
	if (rc == 0) {
		json_array_foreach(challenges, i, ch)
		{
			json_t *t = json_object_get(ch, "type");
			if (!json_is_object(ch) || !json_is_string(t) ||
			    strcmp(json_string_value(t), want) != 0)
				continue;
			static const char cwhat[] = "authorization challenge";
			out->found = true;
			rc = get_status(ch, out->challenge_status, sizeof(out->challenge_status),
					cwhat, err);
			if (rc == 0)
				rc = get_url(ch, "url", out->challenge_url,
					     sizeof(out->challenge_url), true, cwhat, err);
			if (rc == 0)
				rc = get_string(ch, "token", out->token, sizeof(out->token), true,
						cwhat, err);
			if (rc == 0 && !token_ok(out->token)) {
				out->token[0] = '\0';
				rc = mts_error_set(err, MTS_EPROTO,
						   "authorization challenge: field \"token\" is "
						   "not base64url of 128 bits or more");
			}
			json_t *error = json_object_get(ch, "error");
			if (rc == 0 && json_is_object(error))
				problem_from(error, &out->error);
			break;
		}
	}
	json_decref(root);
	return rc;
}

int mts_acme_jwk_thumbprint(const char *jwk_json, size_t len, char *out, size_t cap,
			    struct mts_error *err)
{
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	json_t *root = load_object(jwk_json, len, "JWK", err);
	if (!root)
		return err ? err->code : MTS_EINVAL;
	json_t *kty = json_object_get(root, "kty");
	const char *const *members = NULL;
	if (json_is_string(kty) && strcmp(json_string_value(kty), "EC") == 0)
		members = ec;
	else if (json_is_string(kty) && strcmp(json_string_value(kty), "RSA") == 0)
		members = rsa;
	if (!members) {
		json_decref(root);
		return mts_error_set(err, MTS_EINVAL, "JWK: field \"kty\" is not EC or RSA");
	}
	/* RFC 7638 §3.2: the required members only, sorted, no white space. */
	json_t *canon = json_object();
	int rc = canon ? 0 : mts_error_set(err, MTS_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && members[i]; i++) {
		json_t *v = json_object_get(root, members[i]);
		if (!json_is_string(v))
			rc = mts_error_set(err, MTS_EINVAL, "JWK: field \"%s\" is %s", members[i],
					   v ? "not a string" : "missing");
		else if (json_object_set(canon, members[i], v) < 0)
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	char *text = rc == 0 ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (rc == 0 && !text)
		rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
	if (rc == 0) {
		unsigned char digest[32];
		unsigned dlen = 0;
		if (!EVP_Digest(text, strlen(text), digest, &dlen, EVP_sha256(), NULL) ||
		    mts_acme_b64url(digest, dlen, out, cap) < 0)
			rc = mts_error_set(err, MTS_EINVAL, "JWK: cannot hash (output too small?)");
	}
	free(text);
	json_decref(canon);
	json_decref(root);
	return rc;
}

long mts_acme_retry_after(const char *value, size_t len, long long now)
{
	char text[64];
	if (len == 0 || len >= sizeof(text))
		return -1;
	size_t digits = 0;
	long secs = 0;
	while (digits < len && value[digits] >= '0' && value[digits] <= '9') {
		if (secs < 100000000) /* ~3 years: more is as good as "much later" */
			secs = secs * 10 + (value[digits] - '0');
		digits++;
	}
	if (digits == len) /* delay-seconds (RFC 9110 §10.2.3) */
		return secs > 100000000 ? 100000000 : secs;
	memcpy(text, value, len);
	text[len] = '\0';
	time_t when = curl_getdate(text, NULL); /* an HTTP-date; no I/O */
	if (when <= 0)
		return -1;
	return (long long)when > now
		   ? (long)((long long)when - now > 100000000 ? 100000000 : (long long)when - now)
		   : 0;
}

bool mts_acme_renew_due(long long not_before, long long not_after, long long now)
{
	if (not_after <= not_before || now >= not_after)
		return true;
	unsigned long long lifetime =
	    (unsigned long long)not_after - (unsigned long long)not_before;
	unsigned long long left = (unsigned long long)not_after - (unsigned long long)now;
	return left <= lifetime / 3;
}

long long mts_acme_next_try(long long last_try, unsigned failures)
{
	if (last_try <= 0)
		return 0;
	long long wait = MTS_ACME_BACKOFF_MIN_S;
	for (unsigned i = 1; i < failures && wait < MTS_ACME_BACKOFF_MAX_S; i++)
		wait *= 2;
	if (wait > MTS_ACME_BACKOFF_MAX_S)
		wait = MTS_ACME_BACKOFF_MAX_S;
	if (last_try > 0x7fffffffffffffffLL - wait)
		return 0x7fffffffffffffffLL;
	return last_try + wait;
}
