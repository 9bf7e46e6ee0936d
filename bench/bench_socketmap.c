/* bench_socketmap.c - socketmap load generator and its ceiling.
 *
 *   bench_socketmap notfound-server          listen on 127.0.0.1:0, print the
 *                                            port, answer "NOTFOUND " to every
 *                                            request without any work (epoll)
 *   bench_socketmap load ADDR CLIENTS DEPTH SECONDS KEY...
 *                                            CLIENTS connections, each keeping
 *                                            DEPTH requests in flight, cycling
 *                                            through the KEYs ("NAME KEY"), for
 *                                            SECONDS; prints requests/s, p50
 *                                            and p99 latency (send to answer)
 *   bench_socketmap fill ADDR CLIENTS NAME SUFFIX FIRST COUNT
 *                                            asks "NAME d<i>.SUFFIX" once for
 *                                            every i in [FIRST, FIRST+COUNT),
 *                                            CLIENTS connections with one
 *                                            request in flight each; prints
 *                                            the answers by kind, the rate and
 *                                            p50/p99 (a cache fill: every
 *                                            domain is new to the server)
 *
 * ADDR is PORT (on 127.0.0.1) or IPV4:PORT.
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

#include "core/netstring_int.h"

#define MAX_CLIENTS 1024
#define MAX_DEPTH 64
#define MAX_SAMPLES 20000000

/* "PORT" or "IPV4:PORT" into sin; 0 or -1. */
static int parse_addr(const char *arg, struct sockaddr_in *sin)
{
	char host[INET_ADDRSTRLEN] = "127.0.0.1";
	const char *colon = strrchr(arg, ':'), *port_text = arg;
	if (colon) {
		size_t len = (size_t)(colon - arg);
		if (len == 0 || len >= sizeof(host))
			return -1;
		memcpy(host, arg, len);
		host[len] = '\0';
		port_text = colon + 1;
	}
	char *end;
	unsigned long port = strtoul(port_text, &end, 10);
	if (*port_text == '\0' || *end != '\0' || port == 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static int connect_to(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

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
	struct sockaddr_in sin;
	if (parse_addr(argv[1], &sin) < 0)
		return 2;
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
	for (size_t i = 0; i < clients; i++) {
		cs[i].fd = connect_to(&sin);
		if (cs[i].fd < 0) {
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

/* ---- the fill: every domain asked once ---- */

struct filler {
	int fd;
	double sent;
	size_t have;
	char in[4096];
};

#define FILL_SILENCE_S 120 /* no answer at all for this long: give up */

static int fill_send(struct filler *f, const char *map, size_t i, const char *suffix)
{
	char request[512], frame[600];
	int n = snprintf(request, sizeof(request), "%s d%zu.%s", map, i, suffix);
	if (n < 0 || (size_t)n >= sizeof(request))
		return -1;
	long frame_len = mts_netstring_format(request, (size_t)n, frame, sizeof(frame));
	if (frame_len <= 0 || send(f->fd, frame, (size_t)frame_len, MSG_NOSIGNAL) != frame_len)
		return -1;
	f->sent = now_s();
	return 0;
}

static int fill(int argc, char **argv)
{
	struct sockaddr_in sin;
	if (argc != 7 || parse_addr(argv[1], &sin) < 0)
		return 2;
	size_t clients = strtoul(argv[2], NULL, 10);
	const char *map = argv[3], *suffix = argv[4];
	size_t first = strtoul(argv[5], NULL, 10), count = strtoul(argv[6], NULL, 10);
	if (clients == 0 || clients > MAX_CLIENTS || count == 0 || count > MAX_SAMPLES)
		return 2;
	if (clients > count)
		clients = count;
	samples = malloc(count * sizeof(*samples));
	struct filler *fs = calloc(clients, sizeof(*fs));
	struct pollfd *pfds = calloc(clients, sizeof(*pfds));
	if (!samples || !fs || !pfds)
		return 1;
	size_t next = first, end = first + count, done = 0;
	unsigned long long ok = 0, notfound = 0, temp = 0, other = 0;
	double start = now_s(), last_answer = start;
	for (size_t i = 0; i < clients; i++) {
		fs[i].fd = connect_to(&sin);
		if (fs[i].fd < 0) {
			perror("connect");
			return 1;
		}
		pfds[i].fd = fs[i].fd;
		pfds[i].events = POLLIN;
		if (fill_send(&fs[i], map, next++, suffix) < 0) {
			perror("send");
			return 1;
		}
	}
	while (done < count) {
		int n = poll(pfds, (nfds_t)clients, 1000);
		if (n <= 0) {
			if (now_s() - last_answer > FILL_SILENCE_S) {
				fprintf(stderr, "fill: no answer for %d s, %zu of %zu answered\n",
					FILL_SILENCE_S, done, count);
				return 1;
			}
			continue;
		}
		for (size_t i = 0; i < clients; i++) {
			if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct filler *f = &fs[i];
			ssize_t got = recv(f->fd, f->in + f->have, sizeof(f->in) - f->have, 0);
			if (got <= 0) {
				fprintf(stderr, "fill: the server closed a connection\n");
				return 1;
			}
			f->have += (size_t)got;
			const char *p;
			size_t pl, used;
			if (mts_netstring_parse(f->in, f->have, sizeof(f->in), &p, &pl, &used) != 1)
				continue;
			double t = now_s();
			samples[done++] = t - f->sent;
			last_answer = t;
			unsigned long long *kind = &other;
			if (pl >= 3 && memcmp(p, "OK ", 3) == 0)
				kind = &ok;
			else if (pl >= 8 && memcmp(p, "NOTFOUND", 8) == 0)
				kind = &notfound;
			else if (pl >= 4 && memcmp(p, "TEMP", 4) == 0)
				kind = &temp;
			if (kind != &ok && *kind == 0) /* the first of each kind, to see why */
				fprintf(stderr, "fill: answer: %.*s\n", (int)(pl > 200 ? 200 : pl),
					p);
			(*kind)++;
			memmove(f->in, f->in + used, f->have - used);
			f->have -= used;
			if (next < end && fill_send(f, map, next++, suffix) < 0) {
				perror("send");
				return 1;
			}
		}
	}
	double elapsed = now_s() - start;
	qsort(samples, done, sizeof(*samples), cmp_double);
	printf("domains=%zu ok=%llu notfound=%llu temp=%llu other=%llu seconds=%.2f rate=%.0f/s "
	       "p50=%.1fms p99=%.1fms\n",
	       count, ok, notfound, temp, other, elapsed, (double)count / elapsed,
	       samples[done / 2] * 1e3, samples[(size_t)((double)done * 0.99)] * 1e3);
	for (size_t i = 0; i < clients; i++)
		close(fs[i].fd);
	free(fs);
	free(pfds);
	free(samples);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "notfound-server") == 0)
		return notfound_server();
	if (argc >= 2 && strcmp(argv[1], "load") == 0)
		return load(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "fill") == 0)
		return fill(argc - 1, argv + 1);
	fprintf(stderr, "usage: bench_socketmap notfound-server\n"
			"       bench_socketmap load ADDR CLIENTS DEPTH SECONDS KEY...\n"
			"       bench_socketmap fill ADDR CLIENTS NAME SUFFIX FIRST COUNT\n");
	return 2;
}
