/* report_mail.c - take TLS reports out of mail messages with GMime (see
 * include/mtasts/report_mail.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "core/gzip_int.h"
#include "io/report_mail_int.h"

/* GMime parses nested multiparts and message/rfc822 parts recursively and
 * has no depth limit of its own: count the types that nest before it runs. */
static size_t nesting_types(const char *buf, size_t len)
{
	static const struct {
		const char *word;
		size_t len;
	} words[] = {{"multipart", 9}, {"message", 7}};
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)buf[i]);
		if (c != 'm')
			continue;
		for (size_t w = 0; w < 2; w++) {
			if (len - i <= words[w].len ||
			    strncasecmp(buf + i, words[w].word, words[w].len) != 0)
				continue;
			size_t j = i + words[w].len;
			while (j < len && (buf[j] == ' ' || buf[j] == '\t'))
				j++;
			if (j < len && buf[j] == '/')
				n++;
		}
	}
	return n;
}

/* GMime keeps process-wide tables: set them up once and leave them, since
 * g_mime_shutdown() followed by g_mime_init() leaves them broken. */
static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_setup(void)
{
	g_mime_init();
}

/* What the parser has met so far, counted as it goes: GMime builds an
 * object for every part before we could walk them, so a million tiny parts
 * cost gigabytes unless the parse itself is cut short. */
struct scan {
	const char *buf; /* the message, for counting delimiter lines */
	size_t len;
	GMimeStream *stream;
	size_t headers, content_types, delimiters;
	char *boundaries[MTS_REPORT_MAIL_MAX_PARTS]; /* the distinct ones seen */
	size_t boundary_count;
	bool over; /* a limit was passed: the stream was cut */
};

/* Lines of buf from offset on that start with "--" boundary: every part of
 * a multipart starts after one (its close too), so their number bounds the
 * parts, those without any header included. Counting stops past limit. */
static size_t delimiter_lines(const char *buf, size_t len, size_t offset, const char *boundary,
			      size_t limit)
{
	size_t blen = strlen(boundary), n = 0;
	for (size_t i = offset; i < len && n <= limit;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t line = nl ? (size_t)(nl - buf) + 1 : len;
		if (line < len && len - line >= 2 + blen && buf[line] == '-' &&
		    buf[line + 1] == '-' && memcmp(buf + line + 2, boundary, blen) == 0)
			n++;
		i = line;
	}
	return n;
}

/* Make every further read of the parser's stream see its end: GMime has no
 * way to stop a parse, but it stops at the end of its input. */
static void scan_stop(struct scan *sc)
{
	sc->over = true;
	gint64 at = g_mime_stream_tell(sc->stream);
	g_mime_stream_set_bounds(sc->stream, 0, at < 0 ? 0 : at);
}

/* Called by GMime for every header field it parses, in order. */
static void on_header(GMimeParser *parser, const char *name, const char *value, gint64 offset,
		      gpointer data)
{
	(void)parser;
	struct scan *sc = data;
	if (sc->over)
		return;
	if (++sc->headers > MTS_REPORT_MAIL_MAX_HEADERS) {
		scan_stop(sc);
		return;
	}
	if (!name || strcasecmp(name, "Content-Type") != 0 || !value)
		return;
	/* Each part has one Content-Type: more of them than parts is over the
	 * limit too, and bounds the boundaries counted below. */
	if (++sc->content_types > MTS_REPORT_MAIL_MAX_PARTS) {
		scan_stop(sc);
		return;
	}
	GMimeContentType *ct = g_mime_content_type_parse(NULL, value);
	const char *boundary = ct ? g_mime_content_type_get_parameter(ct, "boundary") : NULL;
	bool seen = !boundary || !*boundary;
	for (size_t i = 0; !seen && i < sc->boundary_count; i++)
		seen = strcmp(sc->boundaries[i], boundary) == 0;
	if (!seen && sc->boundary_count < MTS_REPORT_MAIL_MAX_PARTS &&
	    (sc->boundaries[sc->boundary_count] = strdup(boundary))) {
		sc->boundary_count++;
		size_t from = offset > 0 && (size_t)offset < sc->len ? (size_t)offset : 0;
		sc->delimiters += delimiter_lines(sc->buf, sc->len, from, boundary,
						  2 * MTS_REPORT_MAIL_MAX_PARTS);
	}
	if (ct)
		g_object_unref(ct);
	/* The top entity has no delimiter line; the close lines are counted too. */
	if (sc->delimiters > MTS_REPORT_MAIL_MAX_PARTS + sc->boundary_count)
		scan_stop(sc);
}

struct walk {
	struct mts_report_mail *mail;
	bool tlsrpt; /* the message is multipart/report; report-type=tlsrpt */
	size_t entities;
	int rc;
	struct mts_error *err;
};

static bool looks_json(const char *s, size_t len)
{
	size_t i = 0;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3; /* a BOM; the report parser refuses it, but it is still JSON */
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i < len && s[i] == '{';
}

/* Decoded content of a leaf part (base64, quoted-printable undone). Its size
 * is bounded by the message's, itself under MTS_REPORT_MAIL_MAX_BYTES. */
static int part_content(GMimePart *part, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (!content) { /* a part without a body: empty, and still a string */
		*data = calloc(1, 1);
		return *data ? 0 : MTS_ENOMEM;
	}
	GMimeStream *stream = g_mime_stream_mem_new();
	if (!stream)
		return MTS_ENOMEM;
	int rc = 0;
	if (g_mime_data_wrapper_write_to_stream(content, stream) < 0) {
		rc = MTS_EINVAL;
	} else {
		GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
		*data = malloc(bytes->len + 1);
		if (!*data) {
			rc = MTS_ENOMEM;
		} else {
			if (bytes->len) /* an empty part has no data pointer */
				memcpy(*data, bytes->data, bytes->len);
			(*data)[bytes->len] = '\0';
			*len = bytes->len;
		}
	}
	g_object_unref(stream);
	return rc;
}

static char *lower_dup(const char *s)
{
	char *c = strdup(s);
	for (char *p = c; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return c;
}

static void take_part(struct walk *w, GMimePart *part)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	char *gtype = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	char *type = lower_dup(gtype ? gtype : "application/octet-stream");
	g_free(gtype);
	if (!type) {
		w->rc = mts_error_set(w->err, MTS_ENOMEM, "out of memory");
		return;
	}
	bool label_gzip = strcmp(type, "application/tlsrpt+gzip") == 0;
	bool label_json = strcmp(type, "application/tlsrpt+json") == 0;
	/* Other application types are looked at too (gzip, json, octet-stream):
	 * some reporters label reports so. Text parts are for humans. */
	if (!label_gzip && !label_json && strncmp(type, "application/", 12) != 0) {
		free(type);
		return;
	}
	struct mts_report_mail_part p = {.content_type = type};
	mts_findings_init(&p.findings);
	int rc = part_content(part, &p.data, &p.len);
	if (rc == MTS_ENOMEM) {
		w->rc = mts_error_set(w->err, MTS_ENOMEM, "out of memory");
		mts_report_mail_part_free(&p);
		return;
	}
	bool gz = mts_gzip_is(p.data, p.len), json = p.data && looks_json(p.data, p.len);
	if (rc < 0 || (!label_gzip && !label_json && !gz && !json)) {
		mts_report_mail_part_free(&p); /* an attachment that is not a report: not ours to judge */
		return;
	}
	if (w->mail->part_count >= MTS_REPORT_MAIL_MAX_REPORTS) {
		w->rc = mts_error_set(w->err, MTS_ETOOBIG, "mail: more than %d report parts",
				      MTS_REPORT_MAIL_MAX_REPORTS);
		mts_report_mail_part_free(&p);
		return;
	}
	const char *filename = g_mime_part_get_filename(part);
	if (filename && !(p.filename = strdup(filename))) {
		w->rc = mts_error_set(w->err, MTS_ENOMEM, "out of memory");
		mts_report_mail_part_free(&p);
		return;
	}
	if (!w->tlsrpt)
		mts_findings_add(&p.findings, MTS_F_REPORT_MAIL_NOT_TLSRPT, 0, 0,
				 "the message is not multipart/report; report-type=tlsrpt");
	if (!label_gzip && !label_json)
		mts_findings_add(&p.findings, MTS_F_REPORT_MAIL_CONTENT_TYPE, 0, 0,
				 "the report came as %.80s, not application/tlsrpt+gzip or +json",
				 type);
	else if ((label_gzip && !gz) || (label_json && gz))
		mts_findings_add(&p.findings, MTS_F_REPORT_MAIL_LABEL_MISMATCH, 0, 0,
				 "the part is labelled %s but holds %s", type,
				 gz ? "gzip" : "uncompressed data");
	if (p.findings.enomem) {
		w->rc = mts_error_set(w->err, MTS_ENOMEM, "out of memory");
		mts_report_mail_part_free(&p);
		return;
	}
	w->mail->parts[w->mail->part_count++] = p;
}

static void walk(struct walk *w, GMimeObject *obj, int depth)
{
	if (w->rc || !obj)
		return;
	if (++w->entities > MTS_REPORT_MAIL_MAX_PARTS || depth > MTS_REPORT_MAIL_MAX_NESTING) {
		w->rc =
		    mts_error_set(w->err, MTS_ETOOBIG, "mail: more than %d MIME parts or %d levels",
				  MTS_REPORT_MAIL_MAX_PARTS, MTS_REPORT_MAIL_MAX_NESTING);
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n && !w->rc; i++)
			walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner)
			walk(w, g_mime_message_get_mime_part(inner), depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		take_part(w, GMIME_PART(obj));
	}
}

static bool is_tlsrpt_report(GMimeObject *top)
{
	GMimeContentType *ct = top ? g_mime_object_get_content_type(top) : NULL;
	if (!ct || !g_mime_content_type_is_type(ct, "multipart", "report"))
		return false;
	const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
	return rt && strcasecmp(rt, "tlsrpt") == 0;
}

int mts_report_mail_extract(const char *buf, size_t len, struct mts_report_mail **out,
			    struct mts_error *err)
{
	*out = NULL;
	if (len > MTS_REPORT_MAIL_MAX_BYTES)
		return mts_error_set(err, MTS_ETOOBIG, "mail: more than %u bytes",
				     MTS_REPORT_MAIL_MAX_BYTES);
	if (!mts_report_mail_is(buf, len))
		return mts_error_set(err, MTS_EINVAL, "not a mail message (no header first)");
	size_t skip = mts_report_mail_mbox_skip(buf, len);
	buf += skip;
	len -= skip;
	if (nesting_types(buf, len) > MTS_REPORT_MAIL_MAX_NESTING)
		return mts_error_set(err, MTS_ETOOBIG,
				     "mail: more than %d multipart or message parts",
				     MTS_REPORT_MAIL_MAX_NESTING);
	struct mts_report_mail *m = calloc(1, sizeof(*m));
	if (m)
		m->parts = calloc(MTS_REPORT_MAIL_MAX_REPORTS, sizeof(*m->parts));
	if (!m || !m->parts) {
		mts_report_mail_free(m);
		return mts_error_set(err, MTS_ENOMEM, "out of memory");
	}
	pthread_once(&gmime_once, gmime_setup);
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(buf, len);
	GMimeParser *parser = stream ? g_mime_parser_new_with_stream(stream) : NULL;
	struct scan sc = {.buf = buf, .len = len, .stream = stream};
	if (parser)
		g_mime_parser_set_header_regex(parser, "^", on_header, &sc);
	GMimeMessage *msg = parser ? g_mime_parser_construct_message(parser, NULL) : NULL;
	int rc = 0;
	if (sc.over) {
		rc = mts_error_set(err, MTS_ETOOBIG,
				   "mail: more than %d MIME parts or %d header fields",
				   MTS_REPORT_MAIL_MAX_PARTS, MTS_REPORT_MAIL_MAX_HEADERS);
	} else if (!msg) {
		rc = mts_error_set(err, MTS_EINVAL, "not a mail message (GMime cannot parse it)");
	} else {
		const char *id = g_mime_message_get_message_id(msg);
		if (id && !(m->message_id = strdup(id))) {
			rc = mts_error_set(err, MTS_ENOMEM, "out of memory");
		} else {
			GMimeObject *top = g_mime_message_get_mime_part(msg);
			struct walk w = {.mail = m, .tlsrpt = is_tlsrpt_report(top), .err = err};
			walk(&w, top, 0);
			rc = w.rc;
		}
	}
	for (size_t i = 0; i < sc.boundary_count; i++)
		free(sc.boundaries[i]);
	if (msg)
		g_object_unref(msg);
	if (parser)
		g_object_unref(parser);
	if (stream)
		g_object_unref(stream);
	if (rc) {
		mts_report_mail_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
