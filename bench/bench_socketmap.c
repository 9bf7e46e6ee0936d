/* bench_socketmap.c - socketmap load generator and its ceiling.
 *
 *   bench_socketmap notfound-server          listen on 127.0.0.1:0, print the
 *                                            port, answer "NOTFOUND " to every
 *                                            request without any work (epoll)
 *   bench_socketmap load PORT CLIENTS DEPTH SECONDS KEY...
 *                                            CLIENTS connections, each keeping
 *                                            DEPTH requests in flight, cycling
 *                                            through the KEYs ("NAME KEY"), for
 *                                            SECONDS; prints requests/s, p50
 *                                            and p99 latency (send to answer)
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mtasts/netstring.h"

#define MAX_CLIENTS 1024
#define MAX_DEPTH 64
#define MAX_SAMPLES 20000000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the ceiling: answers NOTFOUND without work ---- */

struct sconn {
	int fd;
	size_t have;
	char in[8192];
};

static int notfound_server(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	socklen_t len = sizeof(sin);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 1024) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
		perror("notfound-server");
		return 1;
	}
	printf("%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	static const char answer[] = "9:NOTFOUND ,";
	for (;;) {
		struct epoll_event events[64];
		int n = epoll_wait(ep, events, 64, -1);
		for (int i = 0; i < n; i++) {
			struct sconn *c = events[i].data.ptr;
			if (!c) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
				if (fd < 0)
					continue;
				c = calloc(1, sizeof(*c));
				c->fd = fd;
				struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			ssize_t got = recv(c->fd, c->in + c->have, sizeof(c->in) - c->have, 0);
			if (got <= 0) {
				if (got < 0 && errno == EAGAIN)
					continue;
				close(c->fd);
				free(c);
				continue;
			}
			c->have += (size_t)got;
			char out[8192];
			size_t out_len = 0, off = 0;
			for (;;) {
				const char *p;
				size_t pl, used;
				if (mts_netstring_parse(c->in + off, c->have - off, 4096, &p, &pl,
							&used) != 1)
					break;
				off += used;
				memcpy(out + out_len, answer, sizeof(answer) - 1);
				out_len += sizeof(answer) - 1;
				if (out_len + sizeof(answer) > sizeof(out))
					break;
			}
			memmove(c->in, c->in + off, c->have - off);
			c->have -= off;
			if (out_len && send(c->fd, out, out_len, MSG_NOSIGNAL) < 0) {
				close(c->fd);
				free(c);
			}
		}
	}
}

/* ---- the load ---- */

struct client {
	int fd;
	size_t next_key, have;
	double sent[MAX_DEPTH]; /* send times of the requests in flight, FIFO */
	size_t head, count;
	char in[16384];
};

static double *samples;
static size_t sample_count;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void send_one(struct client *c, char **frames, size_t *frame_lens, size_t keys)
{
	size_t k = c->next_key++ % keys;
	if (send(c->fd, frames[k], frame_lens[k], MSG_NOSIGNAL) != (ssize_t)frame_lens[k]) {
		perror("send");
		exit(1);
	}
	c->sent[(c->head + c->count) % MAX_DEPTH] = now_s();
	c->count++;
}

static int load(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
	size_t clients = strtoul(argv[2], NULL, 10), depth = strtoul(argv[3], NULL, 10);
	double seconds = strtod(argv[4], NULL);
	size_t keys = (size_t)(argc - 5);
	if (clients == 0 || clients > MAX_CLIENTS || depth == 0 || depth > MAX_DEPTH)
		return 2;
	char **frames = calloc(keys, sizeof(*frames));
	size_t *frame_lens = calloc(keys, sizeof(*frame_lens));
	for (size_t i = 0; i < keys; i++) {
		frames[i] = malloc(600);
		long n = mts_netstring_format(argv[5 + i], strlen(argv[5 + i]), frames[i], 600);
		frame_lens[i] = n > 0 ? (size_t)n : 0;
	}
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	struct client *cs = calloc(clients, sizeof(*cs));
	struct pollfd *pfds = calloc(clients, sizeof(*pfds));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	for (size_t i = 0; i < clients; i++) {
		cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(cs[i].fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			perror("connect");
			return 1;
		}
		cs[i].next_key = i;
		pfds[i].fd = cs[i].fd;
		pfds[i].events = POLLIN;
		for (size_t d = 0; d < depth; d++)
			send_one(&cs[i], frames, frame_lens, keys);
	}
	double start = now_s(), end = start + seconds;
	unsigned long long answered = 0;
	while (now_s() < end) {
		int n = poll(pfds, (nfds_t)clients, 1000);
		if (n <= 0)
			continue;
		for (size_t i = 0; i < clients; i++) {
			if (!(pfds[i].revents & POLLIN))
				continue;
			struct client *c = &cs[i];
			ssize_t got = recv(c->fd, c->in + c->have, sizeof(c->in) - c->have, 0);
			if (got <= 0) {
				fprintf(stderr, "the server closed a connection\n");
				return 1;
			}
			c->have += (size_t)got;
			size_t off = 0;
			double t = now_s();
			for (;;) {
				const char *p;
				size_t pl, used;
				if (mts_netstring_parse(c->in + off, c->have - off, 65536, &p, &pl,
							&used) != 1)
					break;
				off += used;
				if (sample_count < MAX_SAMPLES)
					samples[sample_count++] = t - c->sent[c->head];
				c->head = (c->head + 1) % MAX_DEPTH;
				c->count--;
				answered++;
				send_one(c, frames, frame_lens, keys);
			}
			memmove(c->in, c->in + off, c->have - off);
			c->have -= off;
		}
	}
	double elapsed = now_s() - start;
	qsort(samples, sample_count, sizeof(*samples), cmp_double);
	double p50 = sample_count ? samples[sample_count / 2] : 0;
	double p99 = sample_count ? samples[(size_t)((double)sample_count * 0.99)] : 0;
	printf("clients=%zu depth=%zu requests=%llu rate=%.0f/s p50=%.1fus p99=%.1fus\n", clients,
	       depth, answered, (double)answered / elapsed, p50 * 1e6, p99 * 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "notfound-server") == 0)
		return notfound_server();
	if (argc >= 2 && strcmp(argv[1], "load") == 0)
		return load(argc - 1, argv + 1);
	fprintf(stderr, "usage: bench_socketmap notfound-server | load PORT CLIENTS DEPTH "
			"SECONDS KEY...\n");
	return 2;
}
