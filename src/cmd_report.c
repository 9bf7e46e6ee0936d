/* cmd_report.c - `mtasts report`: collect, store and read TLS-RPT reports. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "report_cmd.h"
#include "core/gzip_int.h"
#include "mtasts/report.h"
#include "mtasts/report_mail.h"
#include "mtasts/report_store.h"
#include "core/text_int.h"

enum { OPT_STORE = 256, OPT_DOMAIN, OPT_JSON };

static const struct option report_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

#define INGEST_MAX_DEPTH 32 /* directory levels followed */
/* A store that failed may work later: EX_TEMPFAIL (sysexits.h) is what
 * Postfix's pipe(8) defers on; any other status bounces the message. */
#define INGEST_EXIT_TEMPFAIL EX_TEMPFAIL

struct report_args {
	const char *cmd;
	const char *store_url, *domain;
	bool json;
};

struct dir_id {
	dev_t dev;
	ino_t ino;
};

struct ingest_run {
	const char *cmd;
	struct mts_report_store *store;
	size_t ingested, duplicate, quarantined;
	bool store_failed;
	struct dir_id *visited; /* the directories walked so far */
	size_t visited_count, visited_cap;
};

/* Foreign text on a terminal: control bytes escaped, UTF-8 kept. */
static void put_text(FILE *fp, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\x%02x", c);
		else
			fputc(c, fp);
	}
}

static void format_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "?");
}

static void quarantine(struct ingest_run *run, const char *name, const char *reason,
		       const char *raw, size_t raw_len)
{
	struct mts_error err = {0};
	if (mts_report_store_quarantine(run->store, name, reason, raw, raw_len,
					(int64_t)time(NULL), &err) < 0) {
		cli_error(run->cmd, "%s", err.message);
		run->store_failed = true;
		return;
	}
	run->quarantined++;
	put_text(stdout, name);
	printf(": quarantined: ");
	put_text(stdout, reason);
	putchar('\n');
}

/* One report body, gzip or JSON. raw is what is quarantined when it is not a
 * report; about (may be NULL) are findings on the message it came in, moved
 * into the report's. */
static void ingest_report(struct ingest_run *run, const char *name, const char *raw,
			  size_t raw_len, struct mts_findings *about)
{
	struct mts_error err = {0};
	const char *body = raw;
	size_t body_len = raw_len;
	char *inflated = NULL;
	if (mts_gzip_is(raw, raw_len)) {
		if (mts_gunzip(raw, raw_len, NULL, &inflated, &body_len, &err) < 0) {
			if (err.code == MTS_ENOMEM) {
				cli_error(run->cmd, "out of memory");
				run->store_failed = true;
				return;
			}
			quarantine(run, name, err.message, raw, raw_len);
			return;
		}
		body = inflated;
	}
	struct mts_report *r = mts_report_parse(body, body_len, &err);
	if (r && about && mts_findings_append(&r->findings, about) < 0) {
		mts_report_free(r);
		r = NULL;
		err.code = MTS_ENOMEM;
	}
	if (!r) {
		if (err.code == MTS_ENOMEM) {
			cli_error(run->cmd, "out of memory");
			run->store_failed = true;
		} else {
			quarantine(run, name, err.message, raw, raw_len);
		}
		free(inflated);
		return;
	}
	int64_t id = 0;
	int rc = mts_report_store_ingest(run->store, r, body, body_len, name, (int64_t)time(NULL),
					 &id, &err);
	if (rc < 0) {
		cli_error(run->cmd, "%s", err.message);
		run->store_failed = true;
	} else if (rc == MTS_INGEST_CONFLICT) {
		char reason[MTS_ERROR_MSG_MAX];
		report_conflict_reason(r, id, reason, sizeof(reason));
		quarantine(run, name, reason, raw, raw_len);
	} else if (rc == MTS_INGEST_DUPLICATE) {
		run->duplicate++;
		put_text(stdout, name);
		printf(": duplicate of report %lld\n", (long long)id);
	} else {
		run->ingested++;
		put_text(stdout, name);
		printf(": ingested as report %lld (", (long long)id);
		put_text(stdout, r->organization_name);
		printf(", %zu polic%s, %zu finding%s)\n", r->policy_count,
		       r->policy_count == 1 ? "y" : "ies", r->findings.count,
		       r->findings.count == 1 ? "" : "s");
	}
	mts_report_free(r);
	free(inflated);
}

/* A mail message (RFC 8460 §5.3): each report part is ingested on its own,
 * named NAME#N when the message holds several. */
static void ingest_mail(struct ingest_run *run, const char *name, const char *raw,
			size_t raw_len)
{
	struct mts_report_mail *mail;
	struct mts_error err = {0};
	if (mts_report_mail_extract(raw, raw_len, &mail, &err) < 0) {
		if (err.code == MTS_ENOMEM) {
			cli_error(run->cmd, "out of memory");
			run->store_failed = true;
		} else {
			quarantine(run, name, err.message, raw, raw_len);
		}
		return;
	}
	if (mail->part_count == 0)
		quarantine(run, name,
			   "mail: no report part (application/tlsrpt+gzip or application/tlsrpt+json)",
			   raw, raw_len);
	for (size_t i = 0; i < mail->part_count && !run->store_failed; i++) {
		struct mts_report_mail_part *part = &mail->parts[i];
		size_t cap = strlen(name) + 24;
		char *part_name = malloc(cap);
		if (!part_name) {
			cli_error(run->cmd, "out of memory");
			run->store_failed = true;
			break;
		}
		if (mail->part_count > 1)
			snprintf(part_name, cap, "%s#%zu", name, i + 1);
		else
			snprintf(part_name, cap, "%s", name);
		ingest_report(run, part_name, part->data, part->len, &part->findings);
		free(part_name);
	}
	mts_report_mail_free(mail);
}

/* Ingest one input's bytes: gzip, a mail message or JSON, by content. */
static void ingest_bytes(struct ingest_run *run, const char *name, const char *raw,
			 size_t raw_len)
{
	if (!mts_gzip_is(raw, raw_len) && mts_report_mail_is(raw, raw_len))
		ingest_mail(run, name, raw, raw_len);
	else
		ingest_report(run, name, raw, raw_len, NULL);
}

static void ingest_file(struct ingest_run *run, const char *path)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	char *raw;
	size_t raw_len;
	struct mts_error err = {0};
	int rc = cli_read_input(path, MTS_REPORT_MAIL_MAX_BYTES, &raw, &raw_len, &err);
	if (rc == MTS_ENOMEM) {
		cli_error(run->cmd, "out of memory");
		run->store_failed = true;
		return;
	}
	if (rc < 0) {
		quarantine(run, name, err.message, NULL, 0);
		return;
	}
	ingest_bytes(run, name, raw, raw_len);
	free(raw);
}

static bool wanted_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcasecmp(name + n - 5, ".json") == 0) ||
	       (n > 8 && strcasecmp(name + n - 8, ".json.gz") == 0) ||
	       (n > 4 && strcasecmp(name + n - 4, ".eml") == 0);
}

static const char *file_kind(mode_t mode)
{
	return S_ISFIFO(mode)	? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket"
	       : S_ISCHR(mode)	? "a character device"
	       : S_ISBLK(mode)	? "a block device"
				: "not a regular file";
}

/* Read a regular file of a walked directory, opened relative to it. The
 * type was checked before the open, and again after it: a FIFO put in the
 * file's place meanwhile must not hang the batch (O_NONBLOCK), nor a
 * device be read. */
static int read_entry(int dirfd, const char *entry, const char *path, char **buf, size_t *len,
		      struct mts_error *err)
{
	int fd = openat(dirfd, entry, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0)
		rc = mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = mts_error_set(err, MTS_EINVAL, "%s, not read", file_kind(st.st_mode));
	else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		rc = mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	FILE *fp = rc ? NULL : fdopen(fd, "rb");
	if (!rc && !fp)
		rc = mts_error_set(err, MTS_EIO, "%s: %s", path, strerror(errno));
	if (rc) {
		close(fd);
		return rc;
	}
	rc = cli_read_stream(fp, path, MTS_REPORT_MAIL_MAX_BYTES, buf, len, err);
	fclose(fp);
	return rc;
}

static void ingest_entry(struct ingest_run *run, int dirfd, const char *entry, const char *path)
{
	char *raw;
	size_t raw_len;
	struct mts_error err = {0};
	int rc = read_entry(dirfd, entry, path, &raw, &raw_len, &err);
	if (rc == MTS_ENOMEM) {
		cli_error(run->cmd, "out of memory");
		run->store_failed = true;
		return;
	}
	if (rc < 0) {
		quarantine(run, path, err.message, NULL, 0);
		return;
	}
	ingest_bytes(run, path, raw, raw_len);
	free(raw);
}

/* Has the walk been in this directory? Remembered by (device, inode), so a
 * symbolic link back up the tree, or two links to one place, are read once
 * instead of 2^depth times. */
static bool visited(struct ingest_run *run, const struct stat *st)
{
	for (size_t i = 0; i < run->visited_count; i++)
		if (run->visited[i].dev == st->st_dev && run->visited[i].ino == st->st_ino)
			return true;
	return false;
}

static int remember(struct ingest_run *run, const struct stat *st)
{
	if (run->visited_count == run->visited_cap) {
		size_t cap = run->visited_cap ? run->visited_cap * 2 : 16;
		struct dir_id *grown = realloc(run->visited, cap * sizeof(*grown));
		if (!grown)
			return MTS_ENOMEM;
		run->visited = grown;
		run->visited_cap = cap;
	}
	run->visited[run->visited_count++] = (struct dir_id){st->st_dev, st->st_ino};
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, hidden ones left out, sorted; NULL-terminated
 * and malloc'd (NULL without memory). */
static char **dir_names(DIR *d)
{
	size_t count = 0, cap = 16;
	char **names = malloc(cap * sizeof(*names));
	struct dirent *e = NULL;
	while (names && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (count + 1 == cap) {
			char **grown = realloc(names, cap * 2 * sizeof(*names));
			if (!grown)
				break;
			names = grown;
			cap *= 2;
		}
		if (!(names[count] = strdup(e->d_name)))
			break;
		count++;
	}
	if (names && e) { /* stopped early: out of memory */
		for (size_t i = 0; i < count; i++)
			free(names[i]);
		free(names);
		return NULL;
	}
	if (names) {
		qsort(names, count, sizeof(*names), by_name);
		names[count] = NULL;
	}
	return names;
}

static void ingest_dir(struct ingest_run *run, int parent, const char *entry, const char *path,
		       int depth);

/* One entry of a walked directory: a directory is walked, a file with a
 * report's name read, anything else (a FIFO would block the batch, a
 * device is not ours to read) quarantined with what it is. */
static void ingest_dir_entry(struct ingest_run *run, int dirfd, const char *entry,
			     const char *path, int depth)
{
	struct stat st;
	if (fstatat(dirfd, entry, &st, 0) != 0) {
		if (wanted_name(entry)) /* a dangling link, say */
			quarantine(run, path, strerror(errno), NULL, 0);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		ingest_dir(run, dirfd, entry, path, depth + 1);
		return;
	}
	if (!wanted_name(entry))
		return;
	if (!S_ISREG(st.st_mode)) {
		char reason[64];
		snprintf(reason, sizeof(reason), "%s, not read", file_kind(st.st_mode));
		quarantine(run, path, reason, NULL, 0);
		return;
	}
	ingest_entry(run, dirfd, entry, path);
}

static void ingest_dir(struct ingest_run *run, int parent, const char *entry, const char *path,
		       int depth)
{
	if (run->store_failed)
		return;
	int fd = openat(parent, entry, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		quarantine(run, path, strerror(errno), NULL, 0);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (visited(run, &st)) {
		close(fd);
		put_text(stdout, path);
		printf(": not followed: a directory already read (a link to it)\n");
		return;
	}
	if (depth >= INGEST_MAX_DEPTH) {
		close(fd);
		char reason[80];
		snprintf(reason, sizeof(reason), "more than %d directory levels, not followed",
			 INGEST_MAX_DEPTH);
		quarantine(run, path, reason, NULL, 0);
		return;
	}
	DIR *d = remember(run, &st) == 0 ? fdopendir(fd) : NULL;
	char **names = d ? dir_names(d) : NULL;
	if (!names) {
		if (d)
			closedir(d);
		else
			close(fd);
		cli_error(run->cmd, "out of memory");
		run->store_failed = true;
		return;
	}
	for (size_t i = 0; names[i]; i++) {
		size_t len = strlen(path) + strlen(names[i]) + 2;
		char *sub = run->store_failed ? NULL : malloc(len);
		if (sub) {
			snprintf(sub, len, "%s/%s", path, names[i]);
			ingest_dir_entry(run, dirfd(d), names[i], sub, depth);
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
}

/* An operand: -, a file (read whatever its name and type: the user named
 * it, a FIFO from a shell's <(...) included) or a directory walked. */
static void ingest_path(struct ingest_run *run, const char *path)
{
	struct stat st;
	if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		ingest_file(run, path);
	else
		ingest_dir(run, AT_FDCWD, path, path, 0);
}

static int open_store(const struct report_args *a, struct mts_report_store **s)
{
	return report_open_store(a->cmd, a->store_url, s);
}

static int report_ingest(struct report_args *a, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage(a->cmd, "ingest needs a PATH (or - for standard input)");
	if (a->domain)
		return cli_usage(a->cmd, "--domain is for list");
	struct ingest_run run = {.cmd = a->cmd};
	int rc = open_store(a, &run.store);
	if (rc)
		return rc == CLI_EXIT_INCOMPLETE ? INGEST_EXIT_TEMPFAIL : rc;
	for (int i = 0; i < argc && !run.store_failed; i++)
		ingest_path(&run, argv[i]);
	free(run.visited);
	mts_report_store_close(run.store);
	printf("%zu ingested, %zu duplicate%s, %zu quarantined\n", run.ingested, run.duplicate,
	       run.duplicate == 1 ? "" : "s", run.quarantined);
	if (run.store_failed)
		return INGEST_EXIT_TEMPFAIL;
	return run.quarantined ? CLI_EXIT_PROBLEM : CLI_EXIT_OK;
}

static int report_list(struct report_args *a, int argc, char **argv)
{
	(void)argv;
	if (argc > 0)
		return cli_usage(a->cmd, "list takes no operands");
	char domain[256] = "";
	if (a->domain) {
		size_t n = strlen(a->domain);
		if (n == 0 || n >= sizeof(domain))
			return cli_usage(a->cmd, "--domain needs a domain name");
		for (size_t i = 0; i < n; i++)
			domain[i] = (char)(a->domain[i] >= 'A' && a->domain[i] <= 'Z'
						   ? a->domain[i] + 32
						   : a->domain[i]);
		if (n > 1 && domain[n - 1] == '.')
			domain[n - 1] = '\0';
	}
	struct mts_report_store *s;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	struct mts_report_row *rows;
	size_t count;
	struct mts_error err = {0};
	if (mts_report_store_list(s, a->domain ? domain : NULL, &rows, &count, &err) < 0) {
		cli_error(a->cmd, "%s", err.message);
		mts_report_store_close(s);
		return CLI_EXIT_INCOMPLETE;
	}
	mts_report_store_close(s);
	char start[32], end[32];
	if (a->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < count; i++) {
			const struct mts_report_row *r = &rows[i];
			json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "id",
					      (json_int_t)r->id, "organization-name",
					      r->organization_name, "report-id", r->report_id,
					      "total-successful-session-count",
					      (json_int_t)r->successful,
					      "total-failure-session-count", (json_int_t)r->failed,
					      "findings", (json_int_t)r->finding_count);
			if (!o)
				continue;
			if (r->start || r->end) {
				format_time(r->start, start, sizeof(start));
				format_time(r->end, end, sizeof(end));
				json_object_set_new(o, "start", json_string(start));
				json_object_set_new(o, "end", json_string(end));
			}
			json_t *doms = json_array();
			char *copy = strdup(r->domains);
			for (char *save = NULL, *d = copy ? strtok_r(copy, ",", &save) : NULL; d;
			     d = strtok_r(NULL, ",", &save))
				json_array_append_new(doms, json_string(d));
			free(copy);
			json_object_set_new(o, "domains", doms);
			json_array_append_new(arr, o);
		}
		cli_print_json(arr);
	} else {
		printf("%-6s %-10s %-28s %-28s %9s %9s %8s\n", "ID", "DATE", "ORGANIZATION",
		       "DOMAINS", "SUCCESS", "FAILURE", "FINDINGS");
		for (size_t i = 0; i < count; i++) {
			const struct mts_report_row *r = &rows[i];
			if (r->start || r->end)
				format_time(r->start, start, sizeof(start));
			else
				snprintf(start, sizeof(start), "-");
			start[10] = '\0';
			printf("%-6lld %-10s ", (long long)r->id, start);
			char org[MTS_PRINTABLE_BUF], doms[MTS_PRINTABLE_BUF];
			mts_printable(r->organization_name, strlen(r->organization_name), org,
				      sizeof(org));
			mts_printable(r->domains, strlen(r->domains), doms, sizeof(doms));
			printf("%-28s %-28s %9llu %9llu %8zu\n", org, *doms ? doms : "-",
			       (unsigned long long)r->successful, (unsigned long long)r->failed,
			       r->finding_count);
		}
		printf("%zu report%s\n", count, count == 1 ? "" : "s");
	}
	mts_report_rows_free(rows, count);
	return CLI_EXIT_OK;
}

static json_t *opt_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *list_json(char **items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	return a;
}

/* The report in RFC 8460's shape, with our id and findings beside it. */
static json_t *report_json(int64_t id, const struct mts_report *r)
{
	json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:s}", "id", (json_int_t)id,
			      "organization-name", r->organization_name, "date-range",
			      json_pack("{s:o, s:o}", "start-datetime", opt_str(r->start_text),
					"end-datetime", opt_str(r->end_text)),
			      "contact-info", opt_str(r->contact_info), "report-id", r->report_id);
	if (!o)
		return NULL;
	json_t *pols = json_array();
	for (size_t i = 0; i < r->policy_count; i++) {
		const struct mts_report_policy *p = &r->policies[i];
		json_t *fails = json_array();
		for (size_t j = 0; j < p->failure_count; j++) {
			const struct mts_report_failure *f = &p->failures[j];
			json_t *fo = json_pack("{s:s, s:I}", "result-type", f->result_type,
					       "failed-session-count",
					       (json_int_t)f->failed_session_count);
			const char *keys[] = {"sending-mta-ip",	 "receiving-mx-hostname",
					      "receiving-mx-helo", "receiving-ip",
					      "additional-information", "failure-reason-code"};
			const char *vals[] = {f->sending_mta_ip, f->receiving_mx_hostname,
					      f->receiving_mx_helo, f->receiving_ip,
					      f->additional_information, f->failure_reason_code};
			for (size_t k = 0; fo && k < 6; k++)
				if (vals[k])
					json_object_set_new(fo, keys[k], json_string(vals[k]));
			json_array_append_new(fails, fo);
		}
		json_t *po = json_pack("{s:{s:s, s:o, s:o, s:o}, s:{s:I, s:I}, s:o}", "policy",
				       "policy-type", p->policy_type, "policy-string",
				       list_json(p->policy_string, p->policy_string_count),
				       "policy-domain", opt_str(p->policy_domain), "mx-host",
				       list_json(p->mx_host, p->mx_host_count), "summary",
				       "total-successful-session-count",
				       (json_int_t)p->total_successful,
				       "total-failure-session-count", (json_int_t)p->total_failure,
				       "failure-details", fails);
		json_array_append_new(pols, po);
	}
	json_object_set_new(o, "policies", pols);
	json_object_set_new(o, "findings", cli_findings_json(&r->findings));
	return o;
}

static void print_field(const char *indent, const char *label, const char *value)
{
	if (!value)
		return;
	printf("%s%s: ", indent, label);
	put_text(stdout, value);
	putchar('\n');
}

static void print_report(int64_t id, const struct mts_report *r)
{
	printf("Report %lld: ", (long long)id);
	put_text(stdout, r->organization_name);
	printf("\n");
	print_field("  ", "report-id", r->report_id);
	print_field("  ", "contact-info", r->contact_info ? r->contact_info : "(none)");
	if (r->dates_valid) {
		char start[32], end[32];
		format_time(r->start, start, sizeof(start));
		format_time(r->end, end, sizeof(end));
		printf("  date-range: %s to %s\n", start, end);
	} else {
		printf("  date-range: (invalid)\n");
	}
	printf("  sessions: %llu successful, %llu failed\n",
	       (unsigned long long)mts_report_total_successful(r),
	       (unsigned long long)mts_report_total_failure(r));
	for (size_t i = 0; i < r->policy_count; i++) {
		const struct mts_report_policy *p = &r->policies[i];
		printf("  policy %zu: ", i + 1);
		put_text(stdout, p->policy_type);
		printf(" for ");
		put_text(stdout, p->policy_domain ? p->policy_domain : "(no domain)");
		printf(": %llu successful, %llu failed\n", (unsigned long long)p->total_successful,
		       (unsigned long long)p->total_failure);
		for (size_t k = 0; k < p->policy_string_count; k++)
			print_field("    ", "policy-string", p->policy_string[k]);
		for (size_t k = 0; k < p->mx_host_count; k++)
			print_field("    ", "mx-host", p->mx_host[k]);
		for (size_t j = 0; j < p->failure_count; j++) {
			const struct mts_report_failure *f = &p->failures[j];
			printf("    failure: ");
			put_text(stdout, *f->result_type ? f->result_type : "(no result-type)");
			printf(", %llu session%s\n", (unsigned long long)f->failed_session_count,
			       f->failed_session_count == 1 ? "" : "s");
			print_field("      ", "sending-mta-ip", f->sending_mta_ip);
			print_field("      ", "receiving-mx-hostname", f->receiving_mx_hostname);
			print_field("      ", "receiving-mx-helo", f->receiving_mx_helo);
			print_field("      ", "receiving-ip", f->receiving_ip);
			print_field("      ", "failure-reason-code", f->failure_reason_code);
			print_field("      ", "additional-information", f->additional_information);
		}
	}
	if (r->findings.count) {
		printf("  findings:\n");
		cli_print_findings(stdout, &r->findings, "    ", cli_use_color(stdout));
	}
}

static int report_show(struct report_args *a, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage(a->cmd, "show takes one report ID");
	if (a->domain)
		return cli_usage(a->cmd, "--domain is for list");
	char *end;
	errno = 0;
	long long id = strtoll(argv[0], &end, 10);
	if (errno || end == argv[0] || *end || id <= 0)
		return cli_usage(a->cmd, "'%s' is not a report ID (see 'mtasts report list')",
				 argv[0]);
	struct mts_report_store *s;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	struct mts_report *r;
	struct mts_error err = {0};
	rc = mts_report_store_get(s, id, &r, &err);
	mts_report_store_close(s);
	if (rc == MTS_ENOTFOUND) {
		cli_error(a->cmd, "%s", err.message);
		return CLI_EXIT_PROBLEM;
	}
	if (rc < 0) {
		cli_error(a->cmd, "%s", err.message);
		return CLI_EXIT_INCOMPLETE;
	}
	if (a->json)
		cli_print_json(report_json(id, r));
	else
		print_report(id, r);
	mts_report_free(r);
	return CLI_EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("report", "needs a subcommand: ingest, list, show, summary, receive");
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
		return cli_print_help(cmd_report_help);
	if (strcmp(sub, "summary") == 0)
		return report_summary_main("report summary", argc - 1, argv + 1);
	if (strcmp(sub, "receive") == 0)
		return report_receive_main("report receive", argc - 1, argv + 1);
	static const char *const subs[] = {"ingest", "list", "show"};
	static const char *const names[] = {"report ingest", "report list", "report show"};
	int which = -1;
	for (int i = 0; i < 3; i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (which < 0)
		return cli_usage("report", "unknown subcommand '%s'", sub);
	struct report_args a = {.cmd = names[which]};
	int c;
	optind = 1;
	while ((c = cli_getopt(a.cmd, argc - 1, argv + 1, ":h", report_options)) != -1) {
		switch (c) {
		case 'h': return cli_print_help(cmd_report_help);
		case OPT_STORE: a.store_url = optarg; break;
		case OPT_DOMAIN: a.domain = optarg; break;
		case OPT_JSON: a.json = true; break;
		default: return CLI_EXIT_USAGE;
		}
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (which == 0 && a.json)
		return cli_usage(a.cmd, "--json is for list and show");
	switch (which) {
	case 0: return report_ingest(&a, nargs, args);
	case 1: return report_list(&a, nargs, args);
	default: return report_show(&a, nargs, args);
	}
}
