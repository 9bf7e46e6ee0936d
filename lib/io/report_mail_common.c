/* report_mail_common.c - the part of report_mail.h that needs no MIME
 * parser: telling a message from JSON or gzip, the mbox "From " line, and
 * freeing a result. Built with or without GMime. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "io/report_mail_int.h"

size_t mts_report_mail_mbox_skip(const char *buf, size_t len)
{
	if (len < 5 || memcmp(buf, "From ", 5) != 0)
		return 0;
	const char *nl = memchr(buf, '\n', len < 1024 ? len : 1024);
	return nl ? (size_t)(nl - buf) + 1 : 0;
}

bool mts_report_mail_is(const char *buf, size_t len)
{
	size_t skip = mts_report_mail_mbox_skip(buf, len);
	buf += skip;
	len -= skip;
	/* Header names as senders write them; '{' (JSON) and 1f 8b (gzip) are not among them. */
	size_t i = 0;
	while (i < len && i < 128 && (isalnum((unsigned char)buf[i]) || buf[i] == '-'))
		i++;
	return i > 0 && i < len && buf[i] == ':';
}

void mts_report_mail_part_free(struct mts_report_mail_part *p)
{
	free(p->content_type);
	free(p->filename);
	free(p->data);
	mts_findings_free(&p->findings);
}

void mts_report_mail_free(struct mts_report_mail *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->part_count; i++)
		mts_report_mail_part_free(&m->parts[i]);
	free(m->parts);
	free(m->message_id);
	free(m);
}
