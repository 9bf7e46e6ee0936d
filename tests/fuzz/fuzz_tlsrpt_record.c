/* fuzz_tlsrpt_record.c - the _smtp._tls record parser and selection on
 * arbitrary bytes (one TXT record per line): no crash, no leak; every rua
 * of a valid record is mailto: or https:, unique, with a target. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtasts/tlsrpt_record.h"

#define RECORDS_MAX 16

static void check(const struct mts_tlsrpt_record *r)
{
	if (r->rua_count == 0 || r->rua_count > MTS_TLSRPT_MAX_RUA)
		abort();
	for (size_t i = 0; i < r->rua_count; i++) {
		const struct mts_rua *u = &r->rua[i];
		if (!u->uri || !u->target)
			abort();
		if (u->scheme == MTS_RUA_MAILTO ? strncasecmp(u->uri, "mailto:", 7) != 0
						 : strncasecmp(u->uri, "https://", 8) != 0)
			abort();
		if (u->scheme == MTS_RUA_MAILTO && !strchr(u->target, '@'))
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->rua[k].uri, u->uri) == 0)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct mts_tlsrpt_record r;
	struct mts_findings fs;
	mts_findings_init(&fs);
	if (mts_tlsrpt_record_parse(buf, size, &r, &fs, NULL) == 0) {
		check(&r);
		mts_tlsrpt_record_clear(&r);
	} else if (r.rua_count != 0 || r.rua != NULL) {
		abort();
	}
	mts_findings_free(&fs);

	const char *txts[RECORDS_MAX];
	size_t lens[RECORDS_MAX], n = 0, start = 0;
	for (size_t i = 0; i <= size && n < RECORDS_MAX; i++) {
		if (i == size || buf[i] == '\n') {
			txts[n] = buf + start;
			lens[n++] = i - start;
			start = i + 1;
		}
	}
	mts_findings_init(&fs);
	if (mts_tlsrpt_record_select(txts, lens, n, &r, &fs, NULL) == 0) {
		check(&r);
		mts_tlsrpt_record_clear(&r);
	}
	mts_findings_free(&fs);
	return 0;
}
