/*
 * report_mail_int.h - (internal) shared by report_mail.c (GMime) and
 * report_mail_common.c; report_mail_none.c replaces report_mail.c in a
 * build without GMime (MTS_HAVE_GMIME 0).
 */
#ifndef MTASTS_REPORT_MAIL_INT_H
#define MTASTS_REPORT_MAIL_INT_H

#include "mtasts/report_mail.h"

/* Messages saved from an mbox start with a "From " envelope line that is
 * not a header: its length, or 0. */
size_t mts_report_mail_mbox_skip(const char *buf, size_t len);
/* Free what one part owns (not the part itself). */
void mts_report_mail_part_free(struct mts_report_mail_part *p);

#endif
