/* fuzz_acme.c - the ACME client's parsers of what a CA sends (lib/io/acme_doc.c):
 * directory, order, authorization (http-01 and tls-alpn-01), problem
 * document, JWK thumbprints, and Retry-After values. The first byte chooses the parser. Checks:
 * no crash, every kept field NUL-terminated within its array, kept URLs
 * https, a kept token base64url, a thumbprint 43 characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/acme_int.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_url(const char *url, size_t cap)
{
	if (!memchr(url, '\0', cap))
		abort();
	if (url[0] && strncmp(url, "https://", 8) != 0)
		abort();
}

static void check_problem(const struct mts_acme_problem *p)
{
	if (!TERMINATED(p->type) || !TERMINATED(p->detail))
		abort();
	for (const char *c = p->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct mts_error err;
	switch (data[0] % 7) {
	case 0: {
		struct mts_acme_directory d;
		if (mts_acme_parse_directory(in, len, &d, &err) == 0) {
			check_url(d.new_nonce, sizeof(d.new_nonce));
			check_url(d.new_account, sizeof(d.new_account));
			check_url(d.new_order, sizeof(d.new_order));
			if (!d.new_nonce[0] || !d.new_account[0] || !d.new_order[0] ||
			    !TERMINATED(d.terms_of_service))
				abort();
		}
		break;
	}
	case 1: {
		struct mts_acme_order_doc o;
		if (mts_acme_parse_order(in, len, &o, &err) == 0) {
			check_url(o.authz_url, sizeof(o.authz_url));
			check_url(o.finalize_url, sizeof(o.finalize_url));
			check_url(o.certificate_url, sizeof(o.certificate_url));
			if (!o.authz_url[0] || o.authz_count == 0 || !TERMINATED(o.status))
				abort();
			check_problem(&o.error);
		}
		break;
	}
	case 2:
	case 3: {
		struct mts_acme_authz_doc a;
		enum mts_acme_challenge_type t =
		    data[0] % 7 == 2 ? MTS_ACME_HTTP_01 : MTS_ACME_TLS_ALPN_01;
		if (mts_acme_parse_authz(in, len, t, &a, &err) == 0) {
			if (!TERMINATED(a.identifier) || !TERMINATED(a.token) ||
			    !TERMINATED(a.status))
				abort();
			check_url(a.challenge_url, sizeof(a.challenge_url));
			if (a.found &&
			    (!a.challenge_url[0] || strlen(a.token) < 22 ||
			     strspn(a.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0"
					     "123456789-_") != strlen(a.token)))
				abort();
			check_problem(&a.error);
		}
		break;
	}
	case 4: {
		struct mts_acme_problem p;
		if (mts_acme_parse_problem(in, len, &p, &err) == 0) {
			check_problem(&p);
			if (!p.type[0])
				abort();
			(void)mts_acme_problem_name(p.type);
		}
		break;
	}
	case 5: {
		char thumb[64];
		if (mts_acme_jwk_thumbprint(in, len, thumb, sizeof(thumb), &err) == 0 &&
		    strlen(thumb) != 43)
			abort();
		break;
	}
	case 6: {
		long secs = mts_acme_retry_after(in, len, 1764873600);
		if (secs < -1 || secs > 100000000)
			abort();
		break;
	}
	}
	return 0;
}
