/*
 * rig_env.h - for C integration tests: read the rig's env file (KEY=VALUE
 * lines, path in $RIG_ENV) and turn "ADDR:PORT" values into socket addresses.
 * Header-only; the C integration tests include it.
 */
#ifndef MTASTS_TEST_RIG_ENV_H
#define MTASTS_TEST_RIG_ENV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RIG_ENV_MAX 256
#define RIG_ENV_VALUE_MAX 4096 /* RIG_SCENARIOS lists every scenario */

struct rig_env {
	size_t count;
	char keys[RIG_ENV_MAX][64];
	char values[RIG_ENV_MAX][RIG_ENV_VALUE_MAX];
};

/* Load the env file named by the environment variable var ("RIG_ENV",
 * "REDIS_ENV", ...). */
static inline int rig_env_load_from(struct rig_env *env, const char *var)
{
	const char *path = getenv(var);
	FILE *fp = path ? fopen(path, "r") : NULL;
	char line[RIG_ENV_VALUE_MAX + 128];
	env->count = 0;
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp) && env->count < RIG_ENV_MAX) {
		char *eq = strchr(line, '=');
		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		char *v = eq + 1;
		v[strcspn(v, "\r\n")] = '\0';
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') { /* one pair of quotes */
			v[vl - 1] = '\0';
			v++;
		}
		if (strlen(line) >= sizeof(env->keys[0]) || strlen(v) >= sizeof(env->values[0]))
			continue;
		memcpy(env->keys[env->count], line, strlen(line) + 1);
		memcpy(env->values[env->count], v, strlen(v) + 1);
		env->count++;
	}
	fclose(fp);
	return 0;
}

static inline int rig_env_load(struct rig_env *env)
{
	return rig_env_load_from(env, "RIG_ENV");
}

static inline const char *rig_env_get(const struct rig_env *env, const char *key)
{
	for (size_t i = 0; i < env->count; i++)
		if (strcmp(env->keys[i], key) == 0)
			return env->values[i];
	return NULL;
}

/* "127.1.2.3:25" into an IPv4 socket address. */
static inline int rig_addr(const char *hostport, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = hostport ? strrchr(hostport, ':') : NULL;
	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -1;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	*len = sizeof(*sin);
	return 0;
}

/* A socket of type (SOCK_STREAM listening, or SOCK_DGRAM) on 127.0.0.1 at
 * a free port that never answers: a silent peer for timeout tests. Returns
 * the fd (close it when done) and the port, or -1. */
static inline int rig_silent_socket(int type, unsigned *port)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

#endif
