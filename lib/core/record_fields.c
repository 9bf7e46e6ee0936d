/* record_fields.c - field scanner shared by the TXT record parsers. */
#include <string.h>

#include "core/record_fields_int.h"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

void record_scan_init(struct record_scanner *s, const char *buf, size_t len, size_t pos)
{
	s->buf = buf;
	s->len = len;
	s->pos = pos;
}

static void skip_to_delim(struct record_scanner *s)
{
	while (s->pos < s->len && s->buf[s->pos] != ';')
		s->pos++;
}

int record_scan_next(struct record_scanner *s, struct record_field *f, bool allow_comma_space,
		     enum record_scan_error *error, size_t *error_offset)
{
	const char *b = s->buf;
	/* delim: *WSP ";" *WSP, then a field, or the end (a trailing delim is allowed) */
	while (s->pos < s->len && record_is_wsp(b[s->pos]))
		s->pos++;
	if (s->pos >= s->len)
		return 0;
	if (b[s->pos] != ';') {
		*error = RECORD_SCAN_SPACE;
		*error_offset = s->pos;
		skip_to_delim(s);
		return -1;
	}
	s->pos++;
	while (s->pos < s->len && record_is_wsp(b[s->pos]))
		s->pos++;
	if (s->pos >= s->len)
		return 0;
	if (b[s->pos] == ';') {
		*error = RECORD_SCAN_EMPTY_FIELD;
		*error_offset = s->pos;
		return -1;
	}

	size_t start = s->pos;
	size_t eq = start;
	while (eq < s->len && b[eq] != '=' && b[eq] != ';' && !record_is_wsp(b[eq]))
		eq++;
	if (eq >= s->len || b[eq] != '=') {
		*error = (eq < s->len && record_is_wsp(b[eq])) ? RECORD_SCAN_SPACE
							       : RECORD_SCAN_NO_EQUALS;
		*error_offset = eq < s->len ? eq : start;
		s->pos = eq;
		skip_to_delim(s);
		return -1;
	}
	size_t name_len = eq - start;
	bool name_ok = name_len >= 1 && name_len <= 32 && is_alnum(b[start]);
	for (size_t i = start; name_ok && i < eq; i++)
		name_ok = is_alnum(b[i]) || b[i] == '_' || b[i] == '-' || b[i] == '.';
	if (!name_ok) {
		*error = RECORD_SCAN_BAD_NAME;
		*error_offset = start;
		s->pos = eq;
		skip_to_delim(s);
		return -1;
	}

	size_t v = eq + 1, end = v, equals = 0;
	while (end < s->len && b[end] != ';') {
		unsigned char c = (unsigned char)b[end];
		if (record_is_wsp((char)c)) {
			/* whitespace is allowed before ';' or the end, and around ',' in lists */
			size_t w = end;
			while (w < s->len && record_is_wsp(b[w]))
				w++;
			bool around_comma = allow_comma_space &&
					    ((end > v && b[end - 1] == ',') || (w < s->len && b[w] == ','));
			if (w >= s->len || b[w] == ';')
				break;
			if (!around_comma) {
				*error = RECORD_SCAN_SPACE;
				*error_offset = end;
				s->pos = w;
				skip_to_delim(s);
				return -1;
			}
			end = w;
			continue;
		}
		if (c == '=' && !equals)
			equals = end;
		if (c < 0x21 || c > 0x7e) {
			*error = RECORD_SCAN_BAD_CHAR;
			*error_offset = end;
			s->pos = end;
			skip_to_delim(s);
			return -1;
		}
		end++;
	}
	if (end == v) {
		*error = RECORD_SCAN_EMPTY_VALUE;
		*error_offset = eq;
		s->pos = end;
		return -1;
	}
	f->name = b + start;
	f->name_len = name_len;
	f->value = b + v;
	f->value_len = end - v;
	f->offset = start;
	f->equals = equals;
	s->pos = end;
	return 1;
}

const char *record_scan_error_text(enum record_scan_error e)
{
	switch (e) {
	case RECORD_SCAN_OK: return "ok";
	case RECORD_SCAN_EMPTY_FIELD: return "empty field between two ';'";
	case RECORD_SCAN_NO_EQUALS: return "field without '='";
	case RECORD_SCAN_BAD_NAME: return "field name not 1-32 letters, digits, '_', '-', '.'";
	case RECORD_SCAN_EMPTY_VALUE: return "field with an empty value";
	case RECORD_SCAN_SPACE: return "whitespace inside a field";
	case RECORD_SCAN_BAD_CHAR: return "character not allowed in a field value";
	}
	return "malformed field";
}

bool record_has_version(const char *buf, size_t len, const char *version)
{
	size_t vl = strlen(version);
	if (len < vl || memcmp(buf, version, vl) != 0)
		return false;
	return len == vl || buf[vl] == ';' || record_is_wsp(buf[vl]);
}

bool record_near_version(const char *buf, size_t len, const char *version)
{
	size_t vl = strlen(version);
	while (len && record_is_wsp(*buf))
		buf++, len--;
	if (len < vl)
		return false;
	for (size_t i = 0; i < vl; i++) {
		char a = buf[i], b = version[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}
