/* netstring.c - netstrings and socketmap requests (see include/mtasts/netstring.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mtasts/error.h"
#include "core/netstring_int.h"

int mts_netstring_parse(const char *buf, size_t len, size_t max_payload, const char **payload,
			size_t *payload_len, size_t *consumed)
{
	size_t i = 0, n = 0;
	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		if (i == 1 && buf[0] == '0')
			return MTS_EPROTO; /* leading zero */
		if (i >= MTS_NETSTRING_LEN_DIGITS)
			return MTS_ETOOBIG;
		n = n * 10 + (size_t)(buf[i] - '0');
		i++;
	}
	if (i == len)
		return 0; /* the length is not complete yet */
	if (i == 0 || buf[i] != ':')
		return MTS_EPROTO;
	if (n > max_payload)
		return MTS_ETOOBIG;
	size_t need = i + 1 + n + 1;
	if (len < need)
		return 0;
	if (buf[need - 1] != ',')
		return MTS_EPROTO;
	*payload = buf + i + 1;
	*payload_len = n;
	*consumed = need;
	return 1;
}

long mts_netstring_format(const char *data, size_t len, char *out, size_t cap)
{
	char head[24];
	int hl = snprintf(head, sizeof(head), "%zu:", len);
	if (hl < 0 || (size_t)hl + len + 1 > cap)
		return MTS_ETOOBIG;
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, data, len);
	out[(size_t)hl + len] = ',';
	return (long)((size_t)hl + len + 1);
}

int mts_socketmap_split(const char *payload, size_t len, const char **name, size_t *name_len,
			const char **key, size_t *key_len)
{
	const char *sp = memchr(payload, ' ', len);
	if (!sp || sp == payload || (size_t)(sp - payload) + 1 >= len)
		return MTS_EPROTO;
	*name = payload;
	*name_len = (size_t)(sp - payload);
	*key = sp + 1;
	*key_len = len - *name_len - 1;
	return 0;
}

static bool is_ip(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (n > 5 && strncasecmp(buf, "ipv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* ":" 1*5DIGIT at p (n bytes), or nothing. */
static bool valid_port_suffix(const char *p, size_t n)
{
	if (n == 0)
		return true;
	if (p[0] != ':' || n < 2 || n > 6)
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

enum mts_tls_key_kind mts_tls_policy_key(const char *key, size_t len,
					 char out[MTS_DNAME_MAX + 1])
{
	if (len == 0)
		return MTS_TLS_KEY_INVALID;
	if (key[0] == '.')
		return MTS_TLS_KEY_PARENT;
	const char *name = key;
	size_t n = len;
	if (key[0] == '[') {
		const char *close = memchr(key, ']', len);
		if (!close)
			return MTS_TLS_KEY_INVALID;
		size_t rest = len - (size_t)(close - key) - 1;
		if (!valid_port_suffix(close + 1, rest))
			return MTS_TLS_KEY_INVALID;
		name = key + 1;
		n = (size_t)(close - key) - 1;
		if (is_ip(name, n))
			return MTS_TLS_KEY_IP_LITERAL;
	} else {
		if (is_ip(key, len))
			return MTS_TLS_KEY_IP_LITERAL; /* includes bare IPv6 with colons */
		const char *colon = memchr(key, ':', len);
		if (colon) {
			n = (size_t)(colon - key);
			if (!valid_port_suffix(colon, len - n))
				return MTS_TLS_KEY_INVALID;
		}
	}
	if (n == 0 || is_ip(name, n))
		return n ? MTS_TLS_KEY_IP_LITERAL : MTS_TLS_KEY_INVALID;
	if (mts_dname_normalize(name, n, false, out, NULL) != MTS_DNAME_OK)
		return MTS_TLS_KEY_INVALID;
	return MTS_TLS_KEY_DOMAIN;
}
