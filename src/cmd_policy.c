/* cmd_policy.c - `mtasts policy`: lint and generate policies and records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "mtasts/dname.h"
#include "mtasts/policy.h"
#include "mtasts/sts_record.h"
#include "mtasts/tlsrpt_record.h"

const char cmd_policy_help[] =
	"Usage: mtasts policy lint [FILE|-] [--json]\n"
	"       mtasts policy lint-record [--tlsrpt] [--json] 'TXT RECORD'...\n"
	"       mtasts policy match PATTERN HOSTNAME\n"
	"       mtasts policy generate --mx HOST [--mx HOST...] [--mode MODE]\n"
	"                              [--max-age SECONDS] [--domain DOMAIN] [--rua URI] [--json]\n"
	"\n"
	"Lint and generate MTA-STS policies (RFC 8461) and TLS-RPT records (RFC 8460).\n"
	"\n"
	"  lint         validate a policy file (FILE, or standard input when FILE is - or\n"
	"               absent); every problem is a finding with its line and column\n"
	"  lint-record  validate the TXT records of _mta-sts (or _smtp._tls with --tlsrpt);\n"
	"               give each record of the name as one argument, its strings joined\n"
	"  match        does the mx PATTERN match HOSTNAME (RFC 8461 §4.1)? U-labels are\n"
	"               converted to A-labels\n"
	"  generate     print the policy file, the _mta-sts record with a fresh id and a\n"
	"               _smtp._tls record, as they must be published, with the rollout steps\n"
	"\n"
	"Options:\n"
	"      --json             machine-readable output\n"
	"      --tlsrpt           lint-record: the records are _smtp._tls records\n"
	"      --mx HOST          generate: an mx pattern (repeatable, or comma-separated)\n"
	"      --mode MODE        generate: testing (default), enforce or none\n"
	"      --max-age SECONDS  generate: max_age (default 86400 in testing, 1209600 in\n"
	"                         enforce, 86400 in none)\n"
	"      --domain DOMAIN    generate: the policy domain, for fully qualified names\n"
	"      --rua URI          generate: where TLS reports go (default\n"
	"                         mailto:tls-reports@DOMAIN)\n"
	"  -h, --help             show this help\n"
	"\n"
	"The generated id is the UTC time and a digest of the policy; set SOURCE_DATE_EPOCH\n"
	"to fix the time.\n"
	"\n"
	"Exit codes: 0 valid / match, 1 invalid / no match, 2 usage error.\n";

enum { OPT_JSON = 256, OPT_TLSRPT, OPT_MX, OPT_MODE, OPT_MAX_AGE, OPT_DOMAIN, OPT_RUA };

static const struct option policy_options[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"tlsrpt", no_argument, NULL, OPT_TLSRPT},
	{"mx", required_argument, NULL, OPT_MX},
	{"mode", required_argument, NULL, OPT_MODE},
	{"max-age", required_argument, NULL, OPT_MAX_AGE},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"rua", required_argument, NULL, OPT_RUA},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct policy_args {
	const char *cmd;
	bool json, tlsrpt;
	const char *mode, *max_age, *domain, *rua;
	char **mx;
	size_t mx_count;
};

static int add_mx(struct policy_args *a, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return MTS_ENOMEM;
	for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		char **grown = realloc(a->mx, (a->mx_count + 1) * sizeof(*grown));
		char *dup = strdup(tok);
		if (!grown || !dup) {
			free(dup);
			if (grown)
				a->mx = grown;
			free(copy);
			return MTS_ENOMEM;
		}
		a->mx = grown;
		a->mx[a->mx_count++] = dup;
	}
	free(copy);
	return 0;
}

static void free_args(struct policy_args *a)
{
	for (size_t i = 0; i < a->mx_count; i++)
		free(a->mx[i]);
	free(a->mx);
}

static json_t *policy_json(const struct mts_policy *p)
{
	json_t *mx = json_array();
	for (size_t i = 0; i < p->mx_count; i++)
		json_array_append_new(mx, json_string(p->mx[i]));
	return json_pack("{s:s, s:s, s:I, s:o}", "version", "STSv1", "mode", mts_mode_name(p->mode),
			 "max_age", (json_int_t)p->max_age, "mx", mx);
}

static void print_verdict(const char *what, bool valid, const struct mts_findings *fs)
{
	bool color = cli_use_color(stdout);
	size_t e = mts_findings_count(fs, MTS_SEV_ERROR);
	size_t w = mts_findings_count(fs, MTS_SEV_WARNING) - e;
	printf("%s: %s%s%s", what, cli_color_for(valid ? MTS_SEV_INFO : MTS_SEV_ERROR, color),
	       valid ? "valid" : "invalid", cli_color_reset(color));
	printf(" (%zu error%s, %zu warning%s)\n", e, e == 1 ? "" : "s", w, w == 1 ? "" : "s");
	cli_print_findings(stdout, fs, "  ", color);
}

static int policy_lint(struct policy_args *a, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(a->cmd, "lint takes one file");
	const char *path = argc == 1 ? argv[0] : "-";
	char *buf;
	size_t len;
	struct mts_error err = {0};
	/* Read one byte past the limit, so that the parser reports the size. */
	int rc = cli_read_input(path, MTS_POLICY_MAX_BYTES + 1, &buf, &len, &err);
	struct mts_findings fs;
	mts_findings_init(&fs);
	if (rc == MTS_ETOOBIG) {
		mts_findings_add(&fs, MTS_F_POLICY_TOO_BIG, 0, 0,
				 "the file is larger than %d bytes", MTS_POLICY_MAX_BYTES);
		buf = NULL;
	} else if (rc < 0) {
		cli_error(a->cmd, "%s", err.message);
		return CLI_EXIT_INCOMPLETE;
	}
	struct mts_policy *p = buf ? mts_policy_parse(buf, len, &fs, &err) : NULL;
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	/* Publish strictly: a policy senders accept may still hold errors (an mx
	 * value with a trailing dot); it is valid to publish only without. */
	bool valid = p && mts_findings_count(&fs, MTS_SEV_ERROR) == 0;
	if (a->json) {
		json_t *o = json_pack("{s:s, s:b, s:b}", "file", name, "valid", valid, "accepted",
				      p != NULL);
		if (p)
			json_object_set_new(o, "policy", policy_json(p));
		json_object_set_new(o, "findings", cli_findings_json(&fs));
		cli_print_json(o);
	} else {
		print_verdict(name, valid, &fs);
		if (p)
			printf("  mode %s, max_age %u (%u days), %zu mx pattern%s\n",
			       mts_mode_name(p->mode), p->max_age, p->max_age / MTS_SECONDS_PER_DAY,
			       p->mx_count, p->mx_count == 1 ? "" : "s");
	}
	int exit_code = valid ? CLI_EXIT_OK : CLI_EXIT_PROBLEM;
	mts_policy_free(p);
	mts_findings_free(&fs);
	free(buf);
	return exit_code;
}

static int policy_lint_record(struct policy_args *a, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage(a->cmd, "lint-record needs the record text");
	const char **txts = calloc((size_t)argc, sizeof(*txts));
	size_t *lens = calloc((size_t)argc, sizeof(*lens));
	if (!txts || !lens) {
		free(txts);
		free(lens);
		cli_error(a->cmd, "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	for (int i = 0; i < argc; i++) {
		txts[i] = argv[i];
		lens[i] = strlen(argv[i]);
	}
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_error err = {0};
	struct mts_sts_record sts;
	struct mts_tlsrpt_record rpt;
	int rc;
	if (a->tlsrpt)
		rc = mts_tlsrpt_record_select(txts, lens, (size_t)argc, &rpt, &fs, &err);
	else
		rc = mts_sts_record_select(txts, lens, (size_t)argc, &sts, &fs, &err);
	bool valid = rc == 0;
	const char *kind = a->tlsrpt ? "_smtp._tls record" : "_mta-sts record";
	if (a->json) {
		json_t *o = json_pack("{s:s, s:b}", "record", a->tlsrpt ? "tlsrpt" : "sts", "valid",
				      valid);
		if (valid && a->tlsrpt) {
			json_t *rua = json_array();
			for (size_t i = 0; i < rpt.rua_count; i++)
				json_array_append_new(rua, json_pack("{s:s, s:s, s:s}", "uri",
					rpt.rua[i].uri, "scheme",
					rpt.rua[i].scheme == MTS_RUA_MAILTO ? "mailto" : "https",
					"target", rpt.rua[i].target));
			json_object_set_new(o, "rua", rua);
		} else if (valid) {
			json_object_set_new(o, "id", json_string(sts.id));
		}
		json_object_set_new(o, "findings", cli_findings_json(&fs));
		cli_print_json(o);
	} else {
		print_verdict(kind, valid, &fs);
		if (valid && a->tlsrpt)
			for (size_t i = 0; i < rpt.rua_count; i++)
				printf("  report to %s (%s)\n", rpt.rua[i].target,
				       rpt.rua[i].scheme == MTS_RUA_MAILTO ? "mail" : "HTTPS POST");
		else if (valid)
			printf("  id %s\n", sts.id);
	}
	if (valid && a->tlsrpt)
		mts_tlsrpt_record_clear(&rpt);
	mts_findings_free(&fs);
	free(txts);
	free(lens);
	return valid ? CLI_EXIT_OK : CLI_EXIT_PROBLEM;
}

static int policy_match(struct policy_args *a, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage(a->cmd, "match takes PATTERN and HOSTNAME");
	bool m = mts_mx_match_idna(argv[0], argv[1]);
	if (a->json) {
		cli_print_json(json_pack("{s:s, s:s, s:b}", "pattern", argv[0], "host", argv[1],
					 "match", m));
	} else {
		printf("%s %s %s\n", argv[0], m ? "matches" : "does not match", argv[1]);
	}
	return m ? CLI_EXIT_OK : CLI_EXIT_PROBLEM;
}

static long long now_for_id(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (!*end && v >= 0)
			return v;
	}
	return (long long)time(NULL);
}

static const char rollout_text[] =
	"Rollout (RFC 8461 §5, RFC 8460):\n"
	"  1. List every MX host in the policy; check it with `mtasts check DOMAIN`.\n"
	"  2. Publish the policy in mode testing, then the TXT records; change the id\n"
	"     every time the policy changes.\n"
	"  3. Read the TLS reports for a few weeks (`mtasts report summary`) until no\n"
	"     sender reports failures that enforce would turn into lost mail.\n"
	"  4. Switch to mode enforce with a max_age of weeks, and publish a new id.\n";

static int policy_generate(struct policy_args *a, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (add_mx(a, argv[i]) < 0)
			return CLI_EXIT_INCOMPLETE;
	enum mts_mode mode = MTS_MODE_TESTING;
	if (a->mode && mts_mode_parse(a->mode, strlen(a->mode), &mode) < 0)
		return cli_usage(a->cmd, "--mode must be testing, enforce or none, not '%s'",
				 a->mode);
	if (a->mx_count == 0 && mode != MTS_MODE_NONE)
		return cli_usage(a->cmd, "generate needs at least one --mx HOST");
	uint32_t max_age = mode == MTS_MODE_ENFORCE ? 14u * MTS_SECONDS_PER_DAY
						    : MTS_SECONDS_PER_DAY;
	unsigned long v = 0;
	if (a->max_age && cli_parse_uint(a->max_age, 0, MTS_POLICY_MAX_AGE_MAX, &v) < 0)
		return cli_usage(a->cmd, "--max-age must be 0 to %u seconds, not '%s'",
				 MTS_POLICY_MAX_AGE_MAX, a->max_age);
	if (a->max_age)
		max_age = (uint32_t)v;
	char domain[MTS_DNAME_MAX + 1] = "";
	if (a->domain &&
	    mts_dname_normalize(a->domain, strlen(a->domain), false, domain, NULL) != MTS_DNAME_OK)
		return cli_usage(a->cmd, "--domain '%s' is not a valid domain name", a->domain);

	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_error err = {0};
	struct mts_policy *p =
		mts_policy_new(mode, max_age, (const char *const *)a->mx, a->mx_count, &fs, &err);
	if (!p) {
		cli_error(a->cmd, "%s", err.message);
		mts_findings_free(&fs);
		return err.code == MTS_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INCOMPLETE;
	}
	unsigned char digest[32];
	char id[MTS_STS_ID_MAX + 1], sts[64];
	mts_policy_digest(p, digest);
	mts_sts_id_generate(now_for_id(), digest, id);
	mts_sts_record_format(id, sts, sizeof(sts));

	char rua[512], sts_name[300], rpt_name[300], url[300];
	if (a->rua)
		snprintf(rua, sizeof(rua), "%s", a->rua);
	else
		snprintf(rua, sizeof(rua), "mailto:tls-reports@%s", *domain ? domain : "DOMAIN");
	char tlsrpt[600];
	snprintf(tlsrpt, sizeof(tlsrpt), "v=TLSRPTv1; rua=%s", rua);
	struct mts_tlsrpt_record rr;
	struct mts_findings rfs;
	mts_findings_init(&rfs);
	if (a->rua && mts_tlsrpt_record_parse(tlsrpt, strlen(tlsrpt), &rr, &rfs, &err) < 0) {
		cli_usage(a->cmd, "--rua '%s' is not a valid mailto: or https: URI", a->rua);
		mts_findings_free(&rfs);
		mts_findings_free(&fs);
		mts_policy_free(p);
		return CLI_EXIT_USAGE;
	}
	if (a->rua)
		mts_tlsrpt_record_clear(&rr);
	mts_findings_free(&rfs);
	snprintf(sts_name, sizeof(sts_name), "_mta-sts%s%s%s", *domain ? "." : "", domain,
		 *domain ? "." : "");
	snprintf(rpt_name, sizeof(rpt_name), "_smtp._tls%s%s%s", *domain ? "." : "", domain,
		 *domain ? "." : "");
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt",
		 *domain ? domain : "DOMAIN");

	if (a->json) {
		json_t *o = json_pack("{s:s, s:s%, s:o, s:{s:s, s:s}, s:{s:s, s:s}, s:o}",
				      "url", url, "policy_file", p->body, p->body_len, "policy",
				      policy_json(p), "sts_record", "name", sts_name, "value", sts,
				      "tlsrpt_record", "name", rpt_name, "value", tlsrpt, "findings",
				      cli_findings_json(&fs));
		cli_print_json(o);
	} else {
		printf("# Policy file: serve at %s\n# with Content-Type: text/plain "
		       "(lines end in CRLF)\n", url);
		fwrite(p->body, 1, p->body_len, stdout);
		printf("\n# DNS records%s:\n", *domain ? "" : " (names relative to your zone)");
		printf("%s IN TXT \"%s\"\n", sts_name, sts);
		printf("%s IN TXT \"%s\"\n", rpt_name, tlsrpt);
		if (fs.count) {
			printf("\n# Notes:\n");
			cli_print_findings(stdout, &fs, "#   ", false);
		}
		printf("\n");
		fputs(rollout_text, stdout);
	}
	mts_findings_free(&fs);
	mts_policy_free(p);
	return CLI_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	struct policy_args a = {.cmd = "policy"};
	if (argc < 2)
		return cli_usage("policy", "needs a subcommand: lint, lint-record, match, generate");
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
		return cli_print_help(cmd_policy_help);
	static const char *const subs[] = {"lint", "lint-record", "match", "generate"};
	const char *names[] = {"policy lint", "policy lint-record", "policy match",
			       "policy generate"};
	int which = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (which < 0)
		return cli_usage("policy", "unknown subcommand '%s'", sub);
	a.cmd = names[which];

	int c, rc = CLI_EXIT_OK;
	optind = 1;
	/* '+' is not used: options may follow operands; "--" ends options. */
	while ((c = cli_getopt(a.cmd, argc - 1, argv + 1, ":h", policy_options)) != -1) {
		switch (c) {
		case 'h': free_args(&a); return cli_print_help(cmd_policy_help);
		case OPT_JSON: a.json = true; break;
		case OPT_TLSRPT: a.tlsrpt = true; break;
		case OPT_MX:
			if (add_mx(&a, optarg) < 0)
				rc = CLI_EXIT_INCOMPLETE;
			break;
		case OPT_MODE: a.mode = optarg; break;
		case OPT_MAX_AGE: a.max_age = optarg; break;
		case OPT_DOMAIN: a.domain = optarg; break;
		case OPT_RUA: a.rua = optarg; break;
		default: free_args(&a); return CLI_EXIT_USAGE;
		}
	}
	if (rc) {
		free_args(&a);
		return rc;
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	bool gen_only = a.mode || a.max_age || a.domain || a.rua || a.mx_count;
	if (which != 3 && gen_only) {
		free_args(&a);
		return cli_usage(a.cmd, "--mx, --mode, --max-age, --domain, --rua are for generate");
	}
	if (which != 1 && a.tlsrpt) {
		free_args(&a);
		return cli_usage(a.cmd, "--tlsrpt is for lint-record");
	}
	switch (which) {
	case 0: rc = policy_lint(&a, nargs, args); break;
	case 1: rc = policy_lint_record(&a, nargs, args); break;
	case 2: rc = policy_match(&a, nargs, args); break;
	default: rc = policy_generate(&a, nargs, args); break;
	}
	free_args(&a);
	return rc;
}
