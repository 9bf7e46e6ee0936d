/*
 * acme_crypto_int.h - (internal) the OpenSSL side of the ACME client, shared
 * by acme.c and acme_crypto.c only (the module's API is acme_int.h): P-256
 * keys, ES256 signatures, CSRs, checking a downloaded chain. No I/O.
 */
#ifndef MTASTS_ACME_CRYPTO_INT_H
#define MTASTS_ACME_CRYPTO_INT_H

#include <openssl/evp.h>

#include "io/acme_int.h"

EVP_PKEY *mts_acme_key_new(void);
/* A P-256 private key from PEM (other kinds are refused). */
EVP_PKEY *mts_acme_key_load(const char *pem, size_t len, struct mts_error *err);
/* The canonical public JWK of key. */
int mts_acme_jwk_of(EVP_PKEY *key, char *jwk, size_t jwk_cap, struct mts_error *err);
/* base64url(ES256(data)): R || S (RFC 7518 §3.4). */
int mts_acme_es256(EVP_PKEY *key, const char *data, size_t len, char *out, size_t cap,
		   struct mts_error *err);
/* base64url(DER) of a CSR for name (CN and SAN), signed by key_pem. */
int mts_acme_csr(const char *name, const char *key_pem, char *out, size_t cap,
		 struct mts_error *err);
/* The chain's first certificate is for key_pem and names name; its dates. */
int mts_acme_chain_check(const char *chain, size_t len, const char *name, const char *key_pem,
			 long long *not_before, long long *not_after, struct mts_error *err);

#endif
