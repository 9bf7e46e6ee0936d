/*
 * rss_floor.c - the least resident memory any socketmap resolver built on
 * this project's libraries can have: the set-up every such daemon needs
 * before its first answer, and nothing else. It prints VmRSS after each
 * step, then (with --hold) waits on stdin so that /proc can be read.
 *
 *   rss_floor [--ssl-only] [--ca-file FILE] [--hold]
 *
 * Steps: start (the C runtime and the loader); libevent base; libunbound
 * context on it; OpenSSL client context with the trust store (the CA file
 * given, else the system's default paths); libcurl multi handle; a
 * listening TCP socket on 127.0.0.1. --ssl-only stops after OpenSSL: the
 * floor of OpenSSL 3 alone. Built by bench/run-rss-floor.sh twice:
 * dynamically (as mtasts is) and, when the static archives are there,
 * statically (the most favourable case: no loader, no relocations).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <unbound-event.h>
#include <unbound.h>
#ifndef RSS_FLOOR_NO_CURL
#include <curl/curl.h>
#endif

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	fclose(f);
	return kb;
}

static void step(const char *what)
{
	printf("%-10s %6ld kB\n", what, rss_kb());
}

int main(int argc, char **argv)
{
	const char *ca_file = NULL;
	int ssl_only = 0, hold = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ssl-only") == 0)
			ssl_only = 1;
		else if (strcmp(argv[i], "--hold") == 0)
			hold = 1;
		else if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca_file = argv[++i];
		else {
			fprintf(stderr, "usage: rss_floor [--ssl-only] [--ca-file FILE] [--hold]\n");
			return 2;
		}
	}
	step("start");
	struct event_base *base = NULL;
	struct ub_ctx *ub = NULL;
	if (!ssl_only) {
		base = event_base_new();
		step("libevent");
		ub = ub_ctx_create_event(base);
		if (!ub || ub_ctx_set_fwd(ub, "127.0.0.1") != 0) {
			fprintf(stderr, "rss_floor: libunbound set-up failed\n");
			return 1;
		}
		step("libunbound");
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
			     : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		fprintf(stderr, "rss_floor: OpenSSL set-up failed\n");
		return 1;
	}
	step("openssl");
	int fd = -1;
	if (!ssl_only) {
#ifndef RSS_FLOOR_NO_CURL
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !curl_multi_init()) {
			fprintf(stderr, "rss_floor: libcurl set-up failed\n");
			return 1;
		}
		step("libcurl");
#endif
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    listen(fd, 64) != 0) {
			perror("rss_floor: listen");
			return 1;
		}
		step("listening");
	}
	fflush(stdout);
	if (hold) {
		char c;
		while (read(0, &c, 1) > 0)
			;
	}
	/* The process ends here; its set-up is released by exit. */
	SSL_CTX_free(ctx);
	if (ub)
		ub_ctx_delete(ub);
	if (base)
		event_base_free(base);
	if (fd >= 0)
		close(fd);
	return 0;
}
