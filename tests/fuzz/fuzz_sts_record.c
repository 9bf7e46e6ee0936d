/* fuzz_sts_record.c - the _mta-sts record parser and selection on arbitrary
 * bytes (one TXT record per line): no crash; a valid record has an RFC id,
 * and formats to a record that parses back to the same id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/sts_record.h"

#define RECORDS_MAX 16

static void check_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > MTS_STS_ID_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct mts_sts_record r;
	struct mts_findings fs;
	mts_findings_init(&fs);
	if (mts_sts_record_parse(buf, size, &r, &fs, NULL) == 0) {
		check_id(r.id);
		if (!mts_sts_record_is_sts(buf, size))
			abort();
		char rec[64];
		struct mts_sts_record again;
		int n = mts_sts_record_format(r.id, rec, sizeof(rec));
		if (n < 0 || mts_sts_record_parse(rec, (size_t)n, &again, NULL, NULL) != 0 ||
		    strcmp(again.id, r.id) != 0)
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
	int rc = mts_sts_record_select(txts, lens, n, &r, &fs, NULL);
	if (rc == 0)
		check_id(r.id);
	else if (mts_findings_count(&fs, MTS_SEV_ERROR) == 0 && !fs.enomem)
		abort();
	mts_findings_free(&fs);
	return 0;
}
