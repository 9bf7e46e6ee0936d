/* report_cmd.h - what the files of `mtasts report` share (cmd_report*.c). */
#ifndef MTASTS_REPORT_CMD_H
#define MTASTS_REPORT_CMD_H

#include "mtasts/report_store.h"

/* Open the store at url (NULL: $MTASTS_STORE, else the default). Returns 0,
 * or the exit code after printing why (2 for a bad URL, 3 otherwise). */
int report_open_store(const char *cmd, const char *url, struct mts_report_store **s);

/* The quarantine's reason for a report that conflicts with report stored
 * (MTS_INGEST_CONFLICT): the finding's code first, printable. */
void report_conflict_reason(const struct mts_report *r, int64_t stored, char *out, size_t cap);

/* The subcommands in their own files; argv[0] is the subcommand's name. */
int report_summary_main(const char *cmd, int argc, char **argv);
int report_receive_main(const char *cmd, int argc, char **argv);

#endif
