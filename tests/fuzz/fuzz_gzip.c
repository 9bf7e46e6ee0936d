/* fuzz_gzip.c - gunzip on arbitrary bytes with small caps: no crash, no
 * leak, output within the cap, and errors are errors. The first byte picks
 * the ratio cap so that both the size and the ratio paths run. */
#include <stdint.h>
#include <stdlib.h>

#include "core/gzip_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_gzip_limits l;
	mts_gzip_limits_default(&l);
	l.max_out = 1 << 20;
	l.ratio_floor = 4096;
	l.max_ratio = size && (data[0] & 1) ? 0 : 50;
	char *out = NULL;
	size_t out_len = 0;
	struct mts_error err = {0};
	int rc = mts_gunzip(data, size, &l, &out, &out_len, &err);
	if (rc == 0) {
		if (!out || out_len > l.max_out || out[out_len] != '\0')
			abort();
		free(out);
	} else if (rc > 0 || out) {
		abort();
	}
	(void)mts_gzip_is(data, size);
	return 0;
}
