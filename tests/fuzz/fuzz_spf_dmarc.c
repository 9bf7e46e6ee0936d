/* fuzz_spf_dmarc.c - the SPF and DMARC record parsers on arbitrary bytes:
 * no crash, no leak, and a valid record's counts stay within their bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "mtasts/dmarc.h"
#include "mtasts/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	struct mts_findings fs;
	mts_findings_init(&fs);
	struct mts_spf_record spf;
	if (mts_spf_parse(txt, size, &spf, &fs, NULL) == 0) {
		if (spf.count > MTS_SPF_MAX_TERMS || spf.lookups > spf.count)
			abort();
		mts_spf_clear(&spf);
	}
	struct mts_dmarc_record dmarc;
	if (mts_dmarc_parse(txt, size, &dmarc, &fs, NULL) == 0) {
		if (dmarc.pct > 100)
			abort();
		mts_dmarc_clear(&dmarc);
	}
	/* both selections over the input split in two records at the first NUL */
	const char *txts[2] = {txt, txt};
	size_t lens[2] = {size, 0};
	for (size_t i = 0; i < size; i++) {
		if (data[i] == 0) {
			lens[0] = i;
			txts[1] = txt + i + 1;
			lens[1] = size - i - 1;
			break;
		}
	}
	if (mts_spf_select(txts, lens, 2, &spf, &fs, NULL) == 0)
		mts_spf_clear(&spf);
	if (mts_dmarc_select(txts, lens, 2, &dmarc, &fs, NULL) == 0)
		mts_dmarc_clear(&dmarc);
	mts_findings_free(&fs);
	return 0;
}
