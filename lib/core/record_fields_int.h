/*
 * record_fields_int.h - (internal) the shared field scanner of the _mta-sts and _smtp._tls
 * TXT records (RFC 8461 §3.1 and RFC 8460 §3 use the same shape):
 *   record = version 1*(delim field) [delim];  delim = *WSP ";" *WSP
 *   field  = name "=" value; name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 * Values are %x21-7E without ';'. An '=' is let through and located in
 * record_field.equals: extension values and ids exclude it, but a TLS-RPT
 * rua URI may hold one ("https://r.example/?k=v"), so the caller decides.
 * Internal to lib/core.
 */
#ifndef MTASTS_RECORD_FIELDS_INT_H
#define MTASTS_RECORD_FIELDS_INT_H

#include <stdbool.h>
#include <stddef.h>

struct record_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t offset; /* of the field's first byte in the record */
	size_t equals; /* offset of the first '=' inside the value, 0 if none */
};

enum record_scan_error {
	RECORD_SCAN_OK = 0,
	RECORD_SCAN_EMPTY_FIELD,  /* ";;" or a field of only whitespace */
	RECORD_SCAN_NO_EQUALS,    /* field without '=' */
	RECORD_SCAN_BAD_NAME,     /* name not per the grammar */
	RECORD_SCAN_EMPTY_VALUE,  /* "name=" */
	RECORD_SCAN_SPACE,        /* whitespace inside a field (e.g. "id = x") */
	RECORD_SCAN_BAD_CHAR,     /* a byte outside %x21-7E in a field */
};

struct record_scanner {
	const char *buf;
	size_t len;
	size_t pos;
};

static inline bool record_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Start scanning after the version token (pos = its length). */
void record_scan_init(struct record_scanner *s, const char *buf, size_t len, size_t pos);
/* Next field: returns 1 and fills f, 0 at the end, -1 with *error and
 * *error_offset on a malformed field (the scanner then skips to the next ';').
 * allow_inner_space keeps whitespace after ',' in values (rua lists). */
int record_scan_next(struct record_scanner *s, struct record_field *f, bool allow_comma_space,
		     enum record_scan_error *error, size_t *error_offset);
const char *record_scan_error_text(enum record_scan_error e);

/* Does buf start with the exact version token followed by end, WSP or ';'? */
bool record_has_version(const char *buf, size_t len, const char *version);
/* A near miss: the version token with other case, or after whitespace. */
bool record_near_version(const char *buf, size_t len, const char *version);

#endif
