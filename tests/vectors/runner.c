/*
 * runner.c - data-driven test vectors for the pure core.
 *
 * Every *.case file below the directory given is one case (mx-match files
 * hold one case per line). A case file is a header, a line "---", and the
 * input bytes, exactly as they are after that line:
 *
 *   # free comment lines
 *   kind: policy | sts-record | tlsrpt-record | mx-match
 *   expect: valid | accepted | invalid | absent
 *   codes: sts.policy.line.lf sts.policy.mode.testing    ("-" for none)
 *   ---
 *   <input>
 *
 * For sts-record and tlsrpt-record each input line is one TXT record of the
 * name (strings already joined). For mx-match each input line is
 * "PATTERN HOST match|nomatch", where "" stands for an empty string. The codes are the exact set of finding codes
 * the core must report (order and repetition do not matter).
 *
 * expect: a policy is valid (parsed, no error finding), accepted (parsed,
 * as senders and fetch read it, but with an error finding: outside the
 * grammar a publisher must follow) or invalid (not parsed). A record set
 * is valid (one usable record), invalid (a broken record: several, or one
 * malformed, or one clearly meant as the record) or absent (no record meant
 * as one: not deployed).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mtasts/dname.h"
#include "mtasts/policy.h"
#include "mtasts/sts_record.h"
#include "mtasts/tlsrpt_record.h"

static unsigned passed, failed;

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + used, 1, cap - used, fp);
		used += got;
		if (used < cap)
			break;
		char *bigger = realloc(buf, cap * 2 + 1);
		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(fp);
	if (buf) {
		buf[used] = '\0';
		*len = used;
	}
	return buf;
}

/* Is every code in `want` (space-separated) reported, and nothing else? */
static bool codes_equal(const char *want, const struct mts_findings *fs, char *why, size_t wl)
{
	bool ok = true;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", want);
	size_t off = 0;
	why[0] = '\0';
	for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (strcmp(t, "-") == 0)
			continue;
		enum mts_finding_code id = mts_finding_lookup(t);
		if (id == MTS_F__COUNT || !mts_findings_has(fs, id)) {
			off += (size_t)snprintf(why + off, off < wl ? wl - off : 0, " missing:%s", t);
			ok = false;
		}
	}
	for (size_t i = 0; i < fs->count; i++) {
		const char *code = mts_finding_info(fs->items[i].id)->code;
		const char *p = strstr(want, code);
		size_t cl = strlen(code);
		bool listed = false;
		while (p) {
			if ((p == want || p[-1] == ' ') && (p[cl] == '\0' || p[cl] == ' ' || p[cl] == '\t')) {
				listed = true;
				break;
			}
			p = strstr(p + 1, code);
		}
		if (!listed) {
			off += (size_t)snprintf(why + off, off < wl ? wl - off : 0, " unexpected:%s(%s)",
						code, fs->items[i].message);
			ok = false;
		}
	}
	return ok;
}

static void report(const char *path, unsigned lineno, bool ok, const char *why)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	if (lineno)
		printf("not ok - %s:%u:%s\n", path, lineno, why);
	else
		printf("not ok - %s:%s\n", path, why);
}

static size_t split_lines(char *input, size_t len, const char **txts, size_t *lens, size_t max)
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len && n < max; i++) {
		if (i == len || input[i] == '\n') {
			if (i > start || i < len)
				txts[n] = input + start, lens[n++] = i - start;
			start = i + 1;
		}
	}
	/* a final newline does not make an empty record */
	if (n && lens[n - 1] == 0 && len && input[len - 1] == '\n')
		n--;
	return n;
}

static void run_case(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	if (!text) {
		report(path, 0, false, " cannot read");
		return;
	}
	char kind[32] = "", expect[16] = "", codes[1024] = "-";
	char *sep = strstr(text, "\n---\n");
	if (!sep && strncmp(text, "---\n", 4) == 0)
		sep = text - 1;
	if (!sep) {
		report(path, 0, false, " no '---' line");
		free(text);
		return;
	}
	*sep = '\0';
	char *input = sep + 5;
	size_t input_len = len - (size_t)(input - text);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (sscanf(l, "kind: %31s", kind) == 1 || sscanf(l, "expect: %15s", expect) == 1)
			continue;
		if (strncmp(l, "codes:", 6) == 0)
			snprintf(codes, sizeof(codes), "%s", l + 6 + strspn(l + 6, " "));
	}
	char why[2048] = "";
	struct mts_findings fs;
	mts_findings_init(&fs);
	const char *got = NULL;
	if (strcmp(kind, "policy") == 0) {
		struct mts_policy *p = mts_policy_parse(input, input_len, &fs, NULL);
		got = !p ? "invalid" : mts_findings_count(&fs, MTS_SEV_ERROR) ? "accepted" : "valid";
		/* a valid policy must survive serialize + parse with the same fields
		 * (when its canonical form, with ": " and CRLF, still fits 64 KiB) */
		if (p) {
			char *out;
			size_t ol;
			if (mts_policy_serialize(p, &out, &ol) == 0) {
				struct mts_policy *q = ol <= MTS_POLICY_MAX_BYTES
							       ? mts_policy_parse(out, ol, NULL, NULL)
							       : NULL;
				if (ol <= MTS_POLICY_MAX_BYTES &&
				    (!q || q->mode != p->mode || q->max_age != p->max_age ||
				     q->mx_count != p->mx_count)) {
					report(path, 0, false, " round trip changed the policy");
				}
				mts_policy_free(q);
				free(out);
			}
		}
		mts_policy_free(p);
	} else if (strcmp(kind, "sts-record") == 0 || strcmp(kind, "tlsrpt-record") == 0) {
		const char *txts[64];
		size_t lens[64];
		size_t n = split_lines(input, input_len, txts, lens, 64);
		int rc;
		if (kind[0] == 's') {
			struct mts_sts_record r;
			rc = mts_sts_record_select(txts, lens, n, &r, &fs, NULL);
		} else {
			struct mts_tlsrpt_record r;
			rc = mts_tlsrpt_record_select(txts, lens, n, &r, &fs, NULL);
			if (rc == 0)
				mts_tlsrpt_record_clear(&r);
		}
		got = rc == 0 ? "valid" : rc == MTS_ENOTFOUND ? "absent" : "invalid";
	} else if (strcmp(kind, "mx-match") == 0) {
		unsigned lineno = 0;
		for (char *save = NULL, *l = strtok_r(input, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			lineno++;
			char pat[300], host[300], want[16];
			if (l[0] == '#')
				continue;
			if (sscanf(l, "%299s %299s %15s", pat, host, want) != 3) {
				report(path, lineno, false, " malformed line");
				continue;
			}
			if (strcmp(pat, "\"\"") == 0)
				pat[0] = '\0';
			if (strcmp(host, "\"\"") == 0)
				host[0] = '\0';
			bool m = mts_mx_match_idna(pat, host);
			bool ok = (strcmp(want, "match") == 0) == m;
			snprintf(why, sizeof(why), " %s vs %s: got %s", pat, host,
				 m ? "match" : "nomatch");
			report(path, lineno, ok, why);
		}
		mts_findings_free(&fs);
		free(text);
		return;
	} else {
		report(path, 0, false, " unknown kind");
		free(text);
		return;
	}
	bool ok = true;
	if (strcmp(expect, got) != 0) {
		snprintf(why, sizeof(why), " expected %s, got %s", expect, got);
		ok = false;
	}
	char cwhy[2048];
	if (!codes_equal(codes, &fs, cwhy, sizeof(cwhy))) {
		strncat(why, cwhy, sizeof(why) - strlen(why) - 1);
		ok = false;
	}
	report(path, 0, ok, why);
	mts_findings_free(&fs);
	free(text);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **grown = realloc(names, (n + 1) * sizeof(*names));
		if (!grown)
			break;
		names = grown;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			walk(path);
		else if (strlen(names[i]) > 5 && strcmp(names[i] + strlen(names[i]) - 5, ".case") == 0)
			run_case(path);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: vector_runner DIR\n");
		return 2;
	}
	walk(argv[1]);
	printf("vectors: %u passed, %u failed\n", passed, failed);
	return failed || passed == 0 ? 1 : 0;
}
