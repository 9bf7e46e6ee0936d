/* text.c - printable copies, bounded string copies and UTF-8 validation (see include/mtasts/text.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/text_int.h"

char *mts_printable(const char *in, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	bool cut = len > MTS_PRINTABLE_MAX;
	if (cut)
		len = MTS_PRINTABLE_MAX;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[5];
		size_t n = 0;
		if (c == '\r' || c == '\n' || c == '\t' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = c == '\r' ? 'r' : c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
		} else if (c < 0x20 || c > 0x7e) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[c >> 4];
			esc[n++] = hex[c & 15];
		} else {
			esc[n++] = (char)c;
		}
		if (o + n + 4 > cap) {
			cut = true;
			break;
		}
		for (size_t k = 0; k < n; k++)
			out[o++] = esc[k];
	}
	if (cut && o + 4 <= cap) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}

char *mts_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		if (len)
			memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

bool mts_utf8_valid(const char *buf, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;
	while (i < len) {
		/* ASCII fast path, eight bytes at a time: policies are ASCII */
		while (len - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		unsigned char c = s[i];
		size_t need;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			goto fail;
		}
		if (len - i <= need)
			goto fail;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto fail;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto fail;
		i += need + 1;
	}
	return true;
fail:
	if (bad)
		*bad = i;
	return false;
}

/* Copy [from, to) into the output, bounded. */
struct redact_out {
	char *buf;
	size_t cap, len;
};

static void redact_put(struct redact_out *o, const char *from, size_t n)
{
	for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
		o->buf[o->len++] = from[i];
	o->buf[o->len] = '\0';
}

/* True when the text at p names a password parameter ("password="). */
static bool password_key(const char *start, const char *p)
{
	static const char key[] = "password=";
	if (strncasecmp(p, key, sizeof(key) - 1) != 0)
		return false;
	return p == start || p[-1] == '?' || p[-1] == '&' || p[-1] == ' ' || p[-1] == '\t';
}

char *mts_redact_url(const char *url, char *out, size_t cap)
{
	struct redact_out o = {.buf = out, .cap = cap};
	if (cap == 0)
		return out;
	out[0] = '\0';
	const char *p = url;
	const char *scheme = strstr(url, "://");
	if (scheme) {
		const char *auth = scheme + 3;
		size_t alen = strcspn(auth, "/?#");
		const char *at = NULL;
		for (const char *q = auth; q < auth + alen; q++)
			if (*q == '@')
				at = q;
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			redact_put(&o, url, (size_t)((colon ? colon : at) - url));
			if (colon)
				redact_put(&o, ":***", 4);
			p = at;
		}
	}
	while (*p) {
		if (password_key(url, p)) {
			redact_put(&o, p, 9);
			redact_put(&o, "***", 3);
			p += 9;
			if (*p == '\'') { /* conninfo quoting: 'a b\'c' */
				for (p++; *p && *p != '\''; p++)
					if (*p == '\\' && p[1])
						p++;
				if (*p)
					p++;
			} else {
				p += strcspn(p, "& \t#");
			}
			continue;
		}
		redact_put(&o, p, 1);
		p++;
	}
	return out;
}

void mts_textbuf_put(struct mts_textbuf *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		if (o->cap)
			o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}
