/*
 * test_acme.c - the pure parts of the ACME client: base64url, RFC 7638
 * thumbprints, ES256 signatures as R || S, the tls-alpn-01 certificate, the
 * response parsers (errors name the field), the renewal rule and the retry
 * backoff. The protocol itself is tested against pebble
 * (tests/integration/test_acme.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "io/acme_crypto_int.h"
#include "io/acme_int.h"

static void test_b64url(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {.in = "", .out = ""},
	    {.in = "f", .out = "Zg"},
	    {.in = "fo", .out = "Zm8"},
	    {.in = "foo", .out = "Zm9v"},
	    {.in = "foob", .out = "Zm9vYg"},
	    {.in = "fooba", .out = "Zm9vYmE"},
	    {.in = "foobar", .out = "Zm9vYmFy"},
	    {.in = "\xfb\xff\xfe", .out = "-__-"}, /* the URL-safe letters, RFC 4648 §5 */
	    {.in = "{\"alg\":\"ES256\"}", .out = "eyJhbGciOiJFUzI1NiJ9"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		int n = mts_acme_b64url((const unsigned char *)cases[i].in, strlen(cases[i].in),
					out, sizeof(out));
		assert_int_equal(n, (int)strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
		assert_null(strchr(out, '='));
	}
	char small[4];
	assert_true(mts_acme_b64url((const unsigned char *)"foo", 3, small, sizeof(small)) < 0);
}

/* RFC 7638 §3.1: the RSA example and its thumbprint; optional members
 * (alg, kid) and member order do not change it. */
static void test_thumbprint_rfc7638(void **state)
{
	(void)state;
	static const char n[] =
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
	    "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
	    "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
	    "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
	    "Cur-kEgU8awapJzKnqDKgw";
	char jwk[1024], out[64];
	struct mts_error err = {0};
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-"
		 "29\"}",
		 n);
	assert_int_equal(mts_acme_jwk_thumbprint(jwk, strlen(jwk), out, sizeof(out), &err), 0);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	snprintf(jwk, sizeof(jwk), "{ \"e\" : \"AQAB\", \"n\": \"%s\", \"kty\": \"RSA\" }", n);
	assert_int_equal(mts_acme_jwk_thumbprint(jwk, strlen(jwk), out, sizeof(out), &err), 0);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

static void test_thumbprint_errors(void **state)
{
	(void)state;
	static const struct {
		const char *jwk;
		const char *message;
	} cases[] = {
	    {.jwk = "{\"kty\":\"oct\",\"k\":\"AA\"}", .message = "\"kty\" is not EC or RSA"},
	    {.jwk = "{\"kty\":\"RSA\",\"e\":\"AQAB\"}", .message = "\"n\" is missing"},
	    {.jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":7}",
	     .message = "\"y\" is not a string"},
	    {.jwk = "[1]", .message = "not a JSON object"},
	    {.jwk = "{", .message = "not JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		struct mts_error err = {0};
		assert_true(mts_acme_jwk_thumbprint(cases[i].jwk, strlen(cases[i].jwk), out,
						    sizeof(out), &err) < 0);
		if (!strstr(err.message, cases[i].message))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].message,
				 err.message);
	}
}

/* An EC key's JWK: canonical (sorted, no white space, 32-byte coordinates
 * without padding), its thumbprint the same computed from the key or from
 * the JSON with extra members, and stable across calls. */
static void test_thumbprint_ec(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++) {
		struct mts_error err = {0};
		char *pem = mts_acme_key_generate(&err);
		assert_non_null(pem);
		char jwk[256], thumb[64], again[64], decorated[400], other[64];
		assert_int_equal(mts_acme_key_jwk(pem, strlen(pem), jwk, sizeof(jwk), thumb,
						  sizeof(thumb), &err),
				 0);
		assert_int_equal(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31), 0);
		assert_null(strchr(jwk, ' '));
		assert_null(strchr(jwk, '='));
		/* x and y: 32 bytes each = 43 base64url characters */
		const char *x = strstr(jwk, "\"x\":\"") + 5, *y = strstr(jwk, "\"y\":\"") + 5;
		assert_int_equal(strcspn(x, "\""), 43);
		assert_int_equal(strcspn(y, "\""), 43);
		assert_int_equal(strlen(thumb), 43);
		assert_int_equal(strspn(thumb,
					"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789-_"),
				 43);
		assert_int_equal(mts_acme_key_jwk(pem, strlen(pem), jwk, sizeof(jwk), again,
						  sizeof(again), &err),
				 0);
		assert_string_equal(thumb, again);
		snprintf(decorated, sizeof(decorated), "{\"use\":\"sig\",\"kid\":\"k1\",%s",
			 jwk + 1);
		assert_int_equal(mts_acme_jwk_thumbprint(decorated, strlen(decorated), other,
							 sizeof(other), &err),
				 0);
		assert_string_equal(thumb, other);
		free(pem);
	}
	/* an RSA key is refused as an account key */
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, rsa, NULL, NULL, 0, NULL, NULL);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	struct mts_error err = {0};
	char jwk[256];
	assert_int_equal(mts_acme_key_jwk(data, (size_t)len, jwk, sizeof(jwk), NULL, 0, &err),
			 MTS_EINVAL);
	assert_non_null(strstr(err.message, "not an ECDSA P-256 key"));
	BIO_free(bio);
	EVP_PKEY_free(rsa);
}

static size_t b64url_decode(const char *in, unsigned char *out, size_t cap)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;
	unsigned acc = 0, bits = 0;
	for (; *in; in++) {
		const char *p = strchr(alphabet, *in);
		assert_non_null(p);
		acc = acc << 6 | (unsigned)(p - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			assert_true(n < cap);
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n;
}

/* ES256 (RFC 7518 §3.4): 64 bytes R || S, which verify after conversion
 * to DER; a changed input does not verify. */
static void test_es256_raw_signature(void **state)
{
	(void)state;
	EVP_PKEY *key = mts_acme_key_new();
	assert_non_null(key);
	static const char input[] = "eyJhbGciOiJFUzI1NiJ9.eyJ0ZXJtc09mU2VydmljZUFncmVlZCI6dHJ1ZX0";
	for (int round = 0; round < 16; round++) {
		char sig[128];
		struct mts_error err = {0};
		assert_int_equal(mts_acme_es256(key, input, strlen(input), sig, sizeof(sig), &err),
				 0);
		assert_int_equal(strlen(sig), 86); /* 64 bytes */
		unsigned char raw[64];
		assert_int_equal(b64url_decode(sig, raw, sizeof(raw)), 64);
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
		unsigned char *der = NULL;
		int der_len = i2d_ECDSA_SIG(es, &der);
		assert_true(der_len > 0);
		for (int tamper = 0; tamper < 2; tamper++) {
			char data[sizeof(input)];
			memcpy(data, input, sizeof(input));
			if (tamper)
				data[3] ^= 1;
			EVP_MD_CTX *md = EVP_MD_CTX_new();
			assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key),
					 1);
			int ok = EVP_DigestVerify(md, der, (size_t)der_len, (unsigned char *)data,
						  strlen(data));
			assert_int_equal(ok, tamper ? 0 : 1);
			EVP_MD_CTX_free(md);
		}
		OPENSSL_free(der);
		ECDSA_SIG_free(es);
	}
	EVP_PKEY_free(key);
}

/* RFC 8737 §3: SAN = the name, acmeIdentifier critical, holding an OCTET
 * STRING of SHA-256(key authorization). */
static void test_tls_alpn_cert(void **state)
{
	(void)state;
	static const char key_auth[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumb";
	char *cert_pem = NULL, *key_pem = NULL;
	struct mts_error err = {0};
	assert_int_equal(
	    mts_acme_tls_alpn_cert("mta-sts.example.test", key_auth, &cert_pem, &key_pem, &err), 0);
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(cert);
	assert_int_equal(X509_check_host(cert, "mta-sts.example.test", 0, 0, NULL), 1);
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	int at = X509_get_ext_by_OBJ(cert, oid, -1);
	assert_true(at >= 0);
	X509_EXTENSION *ext = X509_get_ext(cert, at);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(ext);
	unsigned char want[34] = {0x04, 32};
	unsigned dlen = 0;
	EVP_Digest(key_auth, strlen(key_auth), want + 2, &dlen, EVP_sha256(), NULL);
	assert_int_equal(ASN1_STRING_length(value), 34);
	assert_memory_equal(ASN1_STRING_get0_data(value), want, 34);
	BIO *kb = BIO_new_mem_buf(key_pem, -1);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
	assert_int_equal(X509_verify(cert, key), 1); /* self-signed */
	EVP_PKEY_free(key);
	BIO_free(kb);
	ASN1_OBJECT_free(oid);
	X509_free(cert);
	BIO_free(bio);
	free(cert_pem);
	free(key_pem);
	assert_int_equal(mts_acme_tls_alpn_cert("bad name", key_auth, &cert_pem, &key_pem, &err),
			 MTS_EINVAL);
	assert_null(cert_pem);
}

static void test_csr(void **state)
{
	(void)state;
	struct mts_error err = {0};
	char *pem = mts_acme_key_generate(&err);
	char csr[4096];
	assert_int_equal(mts_acme_csr("mta-sts.example.test", pem, csr, sizeof(csr), &err), 0);
	unsigned char der[2048];
	size_t len = b64url_decode(csr, der, sizeof(der));
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	EVP_PKEY *key = mts_acme_key_load(pem, strlen(pem), &err);
	assert_int_equal(X509_REQ_verify(req, key), 1);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
			    "mta-sts.example.test");
	GENERAL_NAMES_free(sans);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	assert_int_equal(mts_acme_csr("-x.test/", pem, csr, sizeof(csr), &err), MTS_EINVAL);
	free(pem);
}

#define URL "https://ca.test/"
static void test_parse_directory(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		int rc;
		const char *message;
	} cases[] = {
	    {.json = "{\"newNonce\":\"" URL "n\",\"newAccount\":\"" URL "a\",\"newOrder\":\"" URL
		     "o\",\"meta\":{\"termsOfService\":\"data:text/plain,x\"}}"},
	    {.json = "{\"newAccount\":\"" URL "a\",\"newOrder\":\"" URL "o\"}",
	     .rc = MTS_EPROTO,
	     .message = "directory: field \"newNonce\" is missing"},
	    {.json = "{\"newNonce\":\"http://ca.test/n\",\"newAccount\":\"" URL
		     "a\",\"newOrder\":\"" URL "o\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"newNonce\" is not an https URL"},
	    {.json = "{\"newNonce\":\"" URL "n x\",\"newAccount\":\"" URL "a\",\"newOrder\":\"" URL
		     "o\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"newNonce\" is not an https URL"},
	    {.json = "{\"newNonce\":\"" URL "n\",\"newAccount\":1,\"newOrder\":\"" URL "o\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"newAccount\" is not a string"},
	    {.json = "{\"newNonce\":\"" URL "n\",\"newAccount\":\"" URL "a\",\"newOrder\":\"" URL
		     "o\",\"meta\":[]}",
	     .rc = MTS_EPROTO,
	     .message = "field \"meta\" is not an object"},
	    {.json = "{\"newNonce\":\"" URL "n\",\"newNonce\":\"" URL "m\"}",
	     .rc = MTS_EPROTO,
	     .message = "not JSON"}, /* duplicate keys */
	    {.json = "\"x\"", .rc = MTS_EPROTO, .message = "not JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mts_acme_directory d;
		struct mts_error err = {0};
		int rc = mts_acme_parse_directory(cases[i].json, strlen(cases[i].json), &d, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.message);
		if (cases[i].message && !strstr(err.message, cases[i].message))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].message,
				 err.message);
		if (rc == 0) {
			assert_string_equal(d.new_nonce, URL "n");
			assert_string_equal(d.terms_of_service, "data:text/plain,x");
		}
	}
}

static void test_parse_order(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		int rc;
		const char *message;
		const char *status;
	} cases[] = {
	    {.json = "{\"status\":\"pending\",\"authorizations\":[\"" URL
		     "z1\"],\"finalize\":\"" URL "f\"}",
	     .status = "pending"},
	    {.json = "{\"status\":\"valid\",\"authorizations\":[\"" URL "z1\"],\"finalize\":\"" URL
		     "f\",\"certificate\":\"" URL "c\"}",
	     .status = "valid"},
	    {.json = "{\"status\":\"valid\",\"authorizations\":[\"" URL "z1\"],\"finalize\":\"" URL
		     "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"certificate\" is missing from a valid order"},
	    {.json = "{\"status\":\"bogus\",\"authorizations\":[],\"finalize\":\"" URL "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "order: field \"status\" has an unknown value \"bogus\""},
	    {.json = "{\"authorizations\":[],\"finalize\":\"" URL "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "order: field \"status\" is missing"},
	    {.json = "{\"status\":\"ready\",\"authorizations\":[],\"finalize\":\"" URL "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"authorizations\" is empty"},
	    {.json = "{\"status\":\"ready\",\"authorizations\":[7],\"finalize\":\"" URL "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"authorizations[0]\" is not a string"},
	    {.json = "{\"status\":\"ready\",\"authorizations\":[\"ftp://x/\"],\"finalize\":\"" URL
		     "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"authorizations[0]\" is not an https URL"},
	    {.json =
		 "{\"status\":\"ready\",\"authorizations\":\"" URL "\",\"finalize\":\"" URL "f\"}",
	     .rc = MTS_EPROTO,
	     .message = "field \"authorizations\" is not an array"},
	    {.json = "{\"status\":\"ready\",\"authorizations\":[\"" URL "z\"]}",
	     .rc = MTS_EPROTO,
	     .message = "order: field \"finalize\" is missing"},
	    {.json = "{\"status\":\"invalid\",\"authorizations\":[\"" URL "z\"],\"finalize\":\"" URL
		     "f\",\"error\":{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
		     "\"detail\":\"no\"}}",
	     .status = "invalid"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mts_acme_order_doc d;
		struct mts_error err = {0};
		int rc = mts_acme_parse_order(cases[i].json, strlen(cases[i].json), &d, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.message);
		if (cases[i].message && !strstr(err.message, cases[i].message))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].message,
				 err.message);
		if (rc == 0) {
			assert_string_equal(d.status, cases[i].status);
			assert_int_equal(strncmp(d.authz_url, URL "z", strlen(URL "z")), 0);
			assert_string_equal(d.finalize_url, URL "f");
			assert_int_equal(d.authz_count, 1);
		}
		if (rc == 0 && strcmp(d.status, "invalid") == 0) {
			assert_string_equal(d.error.type,
					    "urn:ietf:params:acme:error:unauthorized");
			assert_string_equal(d.error.detail, "no");
		}
	}
}

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define AUTHZ(status, challenges)                                                                  \
	"{\"status\":\"" status "\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"       \
	"\"challenges\":[" challenges "]}"
#define CH(type, status, token)                                                                    \
	"{\"type\":\"" type "\",\"status\":\"" status "\",\"url\":\"" URL type                     \
	"\",\"token\":\"" token "\"}"
static void test_parse_authz(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		enum mts_acme_challenge_type type;
		int rc;
		const char *message;
		bool found;
	} cases[] = {
	    {.json = AUTHZ("pending",
			   CH("dns-01", "pending", TOKEN) "," CH("http-01", "pending", TOKEN)),
	     .type = MTS_ACME_HTTP_01,
	     .found = true},
	    {.json = AUTHZ("pending", CH("http-01", "pending", TOKEN)),
	     .type = MTS_ACME_TLS_ALPN_01,
	     .found = false},
	    {.json = AUTHZ("pending", CH("tls-alpn-01", "processing", TOKEN)),
	     .type = MTS_ACME_TLS_ALPN_01,
	     .found = true},
	    {.json = AUTHZ("pending", CH("http-01", "pending", "../../etc/passwd-xxxxxxxxxxxxxx")),
	     .rc = MTS_EPROTO,
	     .message = "field \"token\" is not base64url of 128 bits or more"},
	    {.json = AUTHZ("pending", CH("http-01", "pending", "short")),
	     .rc = MTS_EPROTO,
	     .message = "field \"token\" is not base64url"},
	    {.json = AUTHZ("pending", CH("http-01", "pending", TOKEN "\\u0000")),
	     .rc = MTS_EPROTO,
	     .message = "not JSON"}, /* jansson refuses \u0000 */
	    {.json = AUTHZ("pending",
			   "{\"type\":\"http-01\",\"status\":\"pending\",\"token\":\"" TOKEN "\"}"),
	     .rc = MTS_EPROTO,
	     .message = "authorization challenge: field \"url\" is missing"},
	    {.json = AUTHZ("pending", "{\"type\":\"http-01\",\"status\":\"pending\",\"url\":\"\","
				      "\"token\":\"" TOKEN "\"}"),
	     .rc = MTS_EPROTO,
	     .message = "authorization challenge: field \"url\" is not an https URL"},
	    {.json = "{\"status\":\"pending\",\"challenges\":[]}",
	     .rc = MTS_EPROTO,
	     .message = "authorization: field \"identifier\" is missing"},
	    {.json =
		 "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"}}",
	     .rc = MTS_EPROTO,
	     .message = "authorization: field \"challenges\" is missing"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mts_acme_authz_doc d;
		struct mts_error err = {0};
		int rc = mts_acme_parse_authz(cases[i].json, strlen(cases[i].json), cases[i].type,
					      &d, &err);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.message);
		if (cases[i].message && !strstr(err.message, cases[i].message))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].message,
				 err.message);
		if (rc == 0) {
			assert_int_equal(d.found, cases[i].found);
			assert_string_equal(d.identifier, "a.test");
			if (d.found)
				assert_string_equal(d.token, TOKEN);
		}
	}
}

static void test_parse_problem(void **state)
{
	(void)state;
	struct mts_acme_problem p;
	struct mts_error err = {0};
	static const char doc[] = "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
				  "\"detail\":\"too many\\n orders\",\"status\":429}";
	assert_int_equal(mts_acme_parse_problem(doc, strlen(doc), &p, &err), 0);
	assert_string_equal(p.type, "urn:ietf:params:acme:error:rateLimited");
	assert_string_equal(p.detail, "too many? orders"); /* made printable */
	assert_int_equal(p.status, 429);
	assert_string_equal(mts_acme_problem_name(p.type), "rateLimited");
	assert_string_equal(mts_acme_problem_name("about:blank"), "about:blank");
	static const char notype[] = "{\"detail\":\"x\"}";
	assert_int_equal(mts_acme_parse_problem(notype, strlen(notype), &p, &err), MTS_EPROTO);
	assert_non_null(strstr(err.message, "field \"type\" is missing"));
	/* a long detail is cut, not overflowed */
	char big[2048];
	int n = snprintf(big, sizeof(big), "{\"type\":\"t\",\"detail\":\"");
	memset(big + n, 'd', 1000);
	memcpy(big + n + 1000, "\"}", 3);
	assert_int_equal(mts_acme_parse_problem(big, strlen(big), &p, &err), 0);
	assert_int_equal(strlen(p.detail), sizeof(p.detail) - 1);
	assert_string_equal(p.detail + sizeof(p.detail) - 4, "...");
}

static void test_problem_code(void **state)
{
	(void)state;
	static const struct {
		const char *type;
		long status;
		int code;
	} cases[] = {
	    {.type = "urn:ietf:params:acme:error:rateLimited", .status = 429, .code = MTS_ETEMP},
	    {.type = "urn:ietf:params:acme:error:serverInternal", .status = 500, .code = MTS_ETEMP},
	    {.type = "urn:ietf:params:acme:error:badNonce", .status = 400, .code = MTS_ETEMP},
	    {.type = "about:blank", .status = 503, .code = MTS_ETEMP},
	    {.type = "urn:ietf:params:acme:error:accountDoesNotExist",
	     .status = 400,
	     .code = MTS_ENOTFOUND},
	    {.type = "urn:ietf:params:acme:error:rejectedIdentifier",
	     .status = 400,
	     .code = MTS_EPROTO},
	    {.type = "urn:ietf:params:acme:error:unauthorized", .status = 403, .code = MTS_EPROTO},
	    {.type = "rateLimited", .status = 400, .code = MTS_EPROTO}, /* not the ACME URN */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (mts_acme_problem_code(cases[i].type, cases[i].status) != cases[i].code)
			fail_msg("case %zu: %s %ld", i, cases[i].type, cases[i].status);
}

static void test_retry_after(void **state)
{
	(void)state;
	static const long long now = 1764873600; /* Thu, 04 Dec 2025 18:40:00 GMT */
	static const struct {
		const char *value;
		long secs;
	} cases[] = {
	    {.value = "0", .secs = 0},
	    {.value = "120", .secs = 120},
	    {.value = "99999999999999999999", .secs = 100000000}, /* no overflow */
	    {.value = "Thu, 04 Dec 2025 18:41:30 GMT", .secs = 90},
	    {.value = "Thu, 04 Dec 2025 18:00:00 GMT", .secs = 0}, /* in the past: now */
	    {.value = "-5", .secs = -1},
	    {.value = "12s", .secs = -1},
	    {.value = "", .secs = -1},
	    {.value = "soon", .secs = -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = mts_acme_retry_after(cases[i].value, strlen(cases[i].value), now);
		if (got != cases[i].secs)
			fail_msg("case %zu: \"%s\" -> %ld, want %ld", i, cases[i].value, got,
				 cases[i].secs);
	}
}

static void test_renew_due(void **state)
{
	(void)state;
	static const struct {
		long long nb, na, now;
		bool due;
	} cases[] = {
	    {.nb = 0, .na = 90, .now = 0, .due = false},
	    {.nb = 0, .na = 90, .now = 59, .due = false},
	    {.nb = 0, .na = 90, .now = 60, .due = true}, /* 30 of 90 left */
	    {.nb = 0, .na = 90, .now = 89, .due = true},
	    {.nb = 0, .na = 90, .now = 1000, .due = true},   /* expired */
	    {.nb = 0, .na = 90, .now = -50, .due = false},   /* not yet valid: far from due */
	    {.nb = 1000, .na = 1000, .now = 0, .due = true}, /* nonsense dates */
	    {.nb = 2000, .na = 1000, .now = 0, .due = true},
	    /* 90 days of Let's Encrypt: due at day 60 */
	    {.nb = 1700000000,
	     .na = 1700000000 + 90 * 86400,
	     .now = 1700000000 + 60 * 86400 - 1,
	     .due = false},
	    {.nb = 1700000000,
	     .na = 1700000000 + 90 * 86400,
	     .now = 1700000000 + 60 * 86400,
	     .due = true},
	    /* extremes do not overflow */
	    {.nb = -0x7fffffffffffffffLL, .na = 0x7fffffffffffffffLL, .now = 0, .due = false},
	    {.nb = -0x7fffffffffffffffLL,
	     .na = 0x7fffffffffffffffLL,
	     .now = 0x7ffffffffffffff0LL,
	     .due = true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (mts_acme_renew_due(cases[i].nb, cases[i].na, cases[i].now) != cases[i].due)
			fail_msg("case %zu: renew_due(%lld, %lld, %lld) != %d", i, cases[i].nb,
				 cases[i].na, cases[i].now, cases[i].due);
}

static void test_next_try(void **state)
{
	(void)state;
	static const struct {
		long long last;
		unsigned failures;
		long long next;
	} cases[] = {
	    {.last = 0, .failures = 0, .next = 0}, /* never tried: now */
	    {.last = 0, .failures = 5, .next = 0},
	    {.last = 1000, .failures = 0, .next = 1000 + 3600}, /* one try per hour */
	    {.last = 1000, .failures = 1, .next = 1000 + 3600},
	    {.last = 1000, .failures = 2, .next = 1000 + 7200},
	    {.last = 1000, .failures = 3, .next = 1000 + 14400},
	    {.last = 1000, .failures = 8, .next = 1000 + 3600 * 128},
	    {.last = 1000, .failures = 9, .next = 1000 + 7 * 86400}, /* capped at a week */
	    {.last = 1000, .failures = 4000000000u, .next = 1000 + 7 * 86400},
	    {.last = 0x7fffffffffffff00LL, .failures = 3, .next = 0x7fffffffffffffffLL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (mts_acme_next_try(cases[i].last, cases[i].failures) != cases[i].next)
			fail_msg("case %zu: next_try(%lld, %u) = %lld, want %lld", i, cases[i].last,
				 cases[i].failures,
				 mts_acme_next_try(cases[i].last, cases[i].failures),
				 cases[i].next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url),
	    cmocka_unit_test(test_thumbprint_rfc7638),
	    cmocka_unit_test(test_thumbprint_errors),
	    cmocka_unit_test(test_thumbprint_ec),
	    cmocka_unit_test(test_es256_raw_signature),
	    cmocka_unit_test(test_tls_alpn_cert),
	    cmocka_unit_test(test_csr),
	    cmocka_unit_test(test_parse_directory),
	    cmocka_unit_test(test_parse_order),
	    cmocka_unit_test(test_parse_authz),
	    cmocka_unit_test(test_parse_problem),
	    cmocka_unit_test(test_problem_code),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_renew_due),
	    cmocka_unit_test(test_next_try),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
