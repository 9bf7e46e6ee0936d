/* no_resume.c - an LD_PRELOAD shim that makes a TLS client do a full
 * handshake on every connection, for bench/run-serve.sh.
 *
 *   LD_PRELOAD=.../libbench_no_resume.so wrk ...
 *
 * wrk 4.1 (and h2load) keep the session of the last connection (wrk calls
 * SSL_clear, which keeps it) and offer it on the next, so "a handshake per
 * request" would be a resumption per request, as cheap as the server makes
 * it. Before a handshake starts, this drops the saved session; at exit it
 * prints how many handshakes completed and how many of them were resumed
 * anyway (the bench checks that this is 0). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>

#include <openssl/ssl.h>

static atomic_ulong handshakes, resumed;

int SSL_connect(SSL *ssl)
{
	static int (*real)(SSL *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_connect");
	if (!real)
		return -1;
	if (SSL_in_before(ssl))
		SSL_set_session(ssl, NULL);
	int rc = real(ssl);
	if (rc == 1) {
		atomic_fetch_add(&handshakes, 1);
		if (SSL_session_reused(ssl))
			atomic_fetch_add(&resumed, 1);
	}
	return rc;
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "no_resume: handshakes=%lu resumed=%lu\n", atomic_load(&handshakes),
		atomic_load(&resumed));
}
