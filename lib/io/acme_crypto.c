/* acme_crypto.c - keys, JWS signatures, CSRs and the tls-alpn-01 certificate
 * of the ACME client (see acme_int.h). OpenSSL 3 EVP; no I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "io/acme_crypto_int.h"

static char *bio_text(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0)
		return NULL;
	char *out = malloc((size_t)len + 1);
	if (out) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
	return out;
}

static char *key_to_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		out = bio_text(bio);
	BIO_free(bio);
	return out;
}

EVP_PKEY *mts_acme_key_new(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

char *mts_acme_key_generate(struct mts_error *err)
{
	EVP_PKEY *key = mts_acme_key_new();
	char *pem = key ? key_to_pem(key) : NULL;
	EVP_PKEY_free(key);
	if (!pem)
		mts_error_set(err, MTS_ENOMEM, "cannot generate a P-256 key");
	return pem;
}

EVP_PKEY *mts_acme_key_load(const char *pem, size_t len, struct mts_error *err)
{
	if (len > 0x7fffffff) {
		mts_error_set(err, MTS_EINVAL, "key: too long");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!key) {
		mts_error_set(err, MTS_EINVAL, "key: not a PEM private key");
		return NULL;
	}
	char group[32] = "";
	size_t glen = 0;
	if (!EVP_PKEY_is_a(key, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen) ||
	    strcmp(group, "prime256v1") != 0) {
		EVP_PKEY_free(key);
		mts_error_set(err, MTS_EINVAL, "key: not an ECDSA P-256 key");
		return NULL;
	}
	return key;
}

int mts_acme_jwk_of(EVP_PKEY *key, char *jwk, size_t jwk_cap, struct mts_error *err)
{
	BIGNUM *x = NULL, *y = NULL;
	unsigned char xb[32], yb[32];
	char xs[48], ys[48];
	int rc = 0;
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
	    BN_bn2binpad(x, xb, 32) != 32 || BN_bn2binpad(y, yb, 32) != 32)
		rc = mts_error_set(err, MTS_EINVAL, "key: cannot read the public point");
	if (rc == 0) {
		mts_acme_b64url(xb, 32, xs, sizeof(xs));
		mts_acme_b64url(yb, 32, ys, sizeof(ys));
		/* RFC 7638 §3.2 canonical form: members sorted, no white space */
		int n = snprintf(jwk, jwk_cap,
				 "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs,
				 ys);
		if (n < 0 || (size_t)n >= jwk_cap)
			rc = mts_error_set(err, MTS_ETOOBIG, "JWK: buffer too small");
	}
	BN_free(x);
	BN_free(y);
	return rc;
}

int mts_acme_key_jwk(const char *key_pem, size_t len, char *jwk, size_t jwk_cap, char *thumb,
		     size_t thumb_cap, struct mts_error *err)
{
	EVP_PKEY *key = mts_acme_key_load(key_pem, len, err);
	if (!key)
		return err ? err->code : MTS_EINVAL;
	int rc = mts_acme_jwk_of(key, jwk, jwk_cap, err);
	EVP_PKEY_free(key);
	if (rc == 0 && thumb)
		rc = mts_acme_jwk_thumbprint(jwk, strlen(jwk), thumb, thumb_cap, err);
	return rc;
}

int mts_acme_es256(EVP_PKEY *key, const char *data, size_t len, char *out, size_t cap,
		   struct mts_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80], raw[64];
	size_t der_len = sizeof(der);
	int rc = 0;
	if (!md || !EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) ||
	    !EVP_DigestSign(md, der, &der_len, (const unsigned char *)data, len))
		rc = mts_error_set(err, MTS_EINVAL, "JWS: signing failed");
	EVP_MD_CTX_free(md);
	if (rc < 0)
		return rc;
	/* RFC 7518 §3.4: ES256 is R || S, 32 bytes each, not DER */
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r = NULL, *s = NULL;
	if (sig)
		ECDSA_SIG_get0(sig, &r, &s);
	if (!sig || BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32 ||
	    mts_acme_b64url(raw, 64, out, cap) < 0)
		rc = mts_error_set(err, MTS_EINVAL, "JWS: cannot encode the signature");
	ECDSA_SIG_free(sig);
	return rc;
}

static int add_san(X509V3_CTX *ctx, STACK_OF(X509_EXTENSION) * exts, X509 *cert, const char *name)
{
	char value[300];
	int n = snprintf(value, sizeof(value), "DNS:%s", name);
	if (n < 0 || (size_t)n >= sizeof(value))
		return -1;
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, NID_subject_alt_name, value);
	if (!ext)
		return -1;
	int ok = exts ? sk_X509_EXTENSION_push(exts, ext) > 0 : X509_add_ext(cert, ext, -1);
	if (!exts || !ok)
		X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return name[0] != '.' && name[n - 1] != '.';
}

int mts_acme_csr(const char *name, const char *key_pem, char *out, size_t cap,
		 struct mts_error *err)
{
	if (!name_ok(name))
		return mts_error_set(err, MTS_EINVAL, "CSR: \"%.64s\" is not a DNS name", name);
	EVP_PKEY *key = mts_acme_key_load(key_pem, strlen(key_pem), err);
	if (!key)
		return err ? err->code : MTS_EINVAL;
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subject = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	unsigned char *der = NULL;
	int der_len = -1, rc = 0;
	if (!req || !subject || !exts || !X509_REQ_set_version(req, 0) ||
	    !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name,
					-1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, key))
		rc = mts_error_set(err, MTS_ENOMEM, "CSR: cannot build");
	if (rc == 0) {
		X509V3_CTX ctx;
		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		if (add_san(&ctx, exts, NULL, name) < 0 || !X509_REQ_add_extensions(req, exts) ||
		    !X509_REQ_sign(req, key, EVP_sha256()) ||
		    (der_len = i2d_X509_REQ(req, &der)) <= 0)
			rc = mts_error_set(err, MTS_EINVAL, "CSR: cannot sign");
	}
	if (rc == 0 && mts_acme_b64url(der, (size_t)der_len, out, cap) < 0)
		rc = mts_error_set(err, MTS_ETOOBIG, "CSR: buffer too small");
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subject);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

int mts_acme_tls_alpn_cert(const char *name, const char *key_authorization, char **cert_pem,
			   char **key_pem, struct mts_error *err)
{
	*cert_pem = *key_pem = NULL;
	if (!name_ok(name))
		return mts_error_set(err, MTS_EINVAL, "tls-alpn-01: \"%.64s\" is not a DNS name",
				     name);
	EVP_PKEY *key = mts_acme_key_new();
	X509 *cert = X509_new();
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1); /* id-pe-acmeIdentifier */
	X509_EXTENSION *ext = NULL;
	BIO *bio = NULL;
	int rc = 0;
	/* RFC 8737 §3: extnValue is the DER of an OCTET STRING of SHA-256(keyAuthorization) */
	unsigned char inner[2 + 32];
	unsigned dlen = 0;
	inner[0] = 0x04;
	inner[1] = 32;
	if (!key || !cert || !value || !oid ||
	    !EVP_Digest(key_authorization, strlen(key_authorization), inner + 2, &dlen,
			EVP_sha256(), NULL) ||
	    !ASN1_OCTET_STRING_set(value, inner, sizeof(inner)) ||
	    !(ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value)))
		rc = mts_error_set(err, MTS_ENOMEM, "tls-alpn-01: cannot build the certificate");
	X509_NAME *subject = rc == 0 ? X509_get_subject_name(cert) : NULL;
	if (rc == 0 &&
	    (!X509_set_version(cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	     !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	     !X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 86400) ||
	     !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name,
					 -1, -1, 0) ||
	     !X509_set_issuer_name(cert, subject) || !X509_set_pubkey(cert, key)))
		rc = mts_error_set(err, MTS_ENOMEM, "tls-alpn-01: cannot build the certificate");
	if (rc == 0) {
		X509V3_CTX ctx;
		X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
		if (add_san(&ctx, NULL, cert, name) < 0 || !X509_add_ext(cert, ext, -1) ||
		    !X509_sign(cert, key, EVP_sha256()))
			rc = mts_error_set(err, MTS_EINVAL, "tls-alpn-01: cannot sign");
	}
	if (rc == 0 && (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(bio, cert) ||
			!(*cert_pem = bio_text(bio)) || !(*key_pem = key_to_pem(key))))
		rc = mts_error_set(err, MTS_ENOMEM, "tls-alpn-01: out of memory");
	if (rc < 0) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
	}
	BIO_free(bio);
	X509_EXTENSION_free(ext);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(value);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static long long asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (long long)timegm(&tm);
}

int mts_acme_chain_check(const char *chain, size_t len, const char *name, const char *key_pem,
			 long long *not_before, long long *not_after, struct mts_error *err)
{
	BIO *bio = len <= MTS_ACME_MAX_CHAIN ? BIO_new_mem_buf(chain, (int)len) : NULL;
	X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = leaf ? mts_acme_key_load(key_pem, strlen(key_pem), err) : NULL;
	int rc = 0;
	if (!leaf)
		rc = mts_error_set(err, MTS_EPROTO,
				   "certificate: the chain holds no PEM certificate");
	else if (!key)
		rc = err ? err->code : MTS_EINVAL;
	else if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1)
		rc = mts_error_set(err, MTS_EPROTO,
				   "certificate: the leaf is not for the order's key");
	else if (X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1)
		rc = mts_error_set(err, MTS_EPROTO, "certificate: the leaf does not name %s", name);
	if (rc == 0) {
		*not_before = asn1_time_unix(X509_get0_notBefore(leaf));
		*not_after = asn1_time_unix(X509_get0_notAfter(leaf));
		if (*not_after <= *not_before)
			rc = mts_error_set(err, MTS_EPROTO,
					   "certificate: notAfter is not after notBefore");
	}
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(bio);
	return rc;
}
