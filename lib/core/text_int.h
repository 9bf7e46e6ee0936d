/*
 * text_int.h - (internal) small helpers for untrusted text: printable copies for messages
 * and logs, UTF-8 validation. Pure: no I/O, no allocation.
 */
#ifndef MTASTS_TEXT_INT_H
#define MTASTS_TEXT_INT_H

#include <stdbool.h>
#include <stddef.h>

#define MTS_TXT_MAX_BYTES 65535 /* one joined TXT record: its RDATA length is 16 bits (RFC 1035 §3.2.1) */
#define MTS_PRINTABLE_MAX 80 /* bytes of foreign text quoted in a message */

/* Copy at most MTS_PRINTABLE_MAX bytes of in to out as printable ASCII:
 * other bytes become \xHH, CR \r, LF \n, TAB \t; "..." marks a cut. out
 * always ends in NUL; cap >= 8. Returns out. */
char *mts_printable(const char *in, size_t len, char *out, size_t cap);
#define MTS_PRINTABLE_BUF (MTS_PRINTABLE_MAX * 4 + 8)

/* A NUL-terminated malloc'd copy of len bytes of s (which need not end in
 * NUL); NULL when out of memory. The caller frees it. */
char *mts_strndup(const char *s, size_t len);

/* Is buf valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? On false,
 * *bad (may be NULL) is the offset of the first bad byte. */
bool mts_utf8_valid(const char *buf, size_t len, size_t *bad);

/* A URL or libpq conninfo string fit for a log line: the password of its
 * userinfo (scheme://user:password@host), and the value of any password
 * parameter (?password=..., password=... in conninfo), become "***".
 * Writes at most cap bytes, always terminated; returns out. */
char *mts_redact_url(const char *url, char *out, size_t cap);

/* A bounded text being written (a log line, an answer, a rendering): each
 * put appends what fits; the first that does not fit writes nothing more
 * and sets full, so the caller checks once at the end. buf stays
 * NUL-terminated while cap > 0. */
struct mts_textbuf {
	char *buf;
	size_t cap, len;
	bool full;
};
void mts_textbuf_put(struct mts_textbuf *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
