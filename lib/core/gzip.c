/* gzip.c - in-memory gunzip with size and ratio caps (see include/mtasts/gzip.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/gzip_int.h"

void mts_gzip_limits_default(struct mts_gzip_limits *l)
{
	l->max_in = MTS_GZIP_MAX_IN;
	l->max_out = MTS_GZIP_MAX_OUT;
	l->max_ratio = MTS_GZIP_MAX_RATIO;
	l->ratio_floor = MTS_GZIP_RATIO_FLOOR;
}

bool mts_gzip_is(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

int mts_gunzip(const void *buf, size_t len, const struct mts_gzip_limits *limits, char **out,
	       size_t *out_len, struct mts_error *err)
{
	struct mts_gzip_limits def;
	if (!limits) {
		mts_gzip_limits_default(&def);
		limits = &def;
	}
	if (len > limits->max_in)
		return mts_error_set(err, MTS_ETOOBIG, "gzip: more than %zu compressed bytes",
				     limits->max_in);
	if (!mts_gzip_is(buf, len))
		return mts_error_set(err, MTS_EINVAL, "gzip: no gzip magic");
	/* zlib counts in uInt: stay far below it. */
	if (limits->max_out > (size_t)1 << 30 || len > (size_t)1 << 30)
		return mts_error_set(err, MTS_EUSAGE, "gzip: limits over 1 GiB");

	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return mts_error_set(err, MTS_ENOMEM, "gzip: out of memory");
	size_t cap = len * 4 < 4096 ? 4096 : len * 4, used = 0;
	if (cap > limits->max_out)
		cap = limits->max_out;
	char *data = malloc(cap + 1);
	int rc = 0;
	if (!data) {
		rc = mts_error_set(err, MTS_ENOMEM, "gzip: out of memory");
		goto done;
	}
	zs.next_in = (Bytef *)(uintptr_t)buf;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (used == cap) {
			if (cap >= limits->max_out) {
				rc = mts_error_set(err, MTS_ETOOBIG,
						   "gzip: more than %zu decompressed bytes",
						   limits->max_out);
				goto done;
			}
			size_t bigger_cap = cap * 2 > limits->max_out ? limits->max_out : cap * 2;
			char *bigger = realloc(data, bigger_cap + 1);
			if (!bigger) {
				rc = mts_error_set(err, MTS_ENOMEM, "gzip: out of memory");
				goto done;
			}
			data = bigger;
			cap = bigger_cap;
		}
		zs.next_out = (Bytef *)data + used;
		zs.avail_out = (uInt)(cap - used);
		int z = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
		size_t consumed = len - zs.avail_in;
		if (limits->max_ratio && used > limits->ratio_floor &&
		    used / (consumed ? consumed : 1) > limits->max_ratio) {
			rc = mts_error_set(err, MTS_ETOOBIG,
					   "gzip: expands more than %zu times (a gzip bomb?)",
					   limits->max_ratio);
			goto done;
		}
		if (z == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* Another member may follow (RFC 1952 §2.2); anything else is garbage. */
			if (!mts_gzip_is(zs.next_in, zs.avail_in)) {
				rc = mts_error_set(err, MTS_EINVAL,
						   "gzip: %u bytes of garbage after the stream",
						   zs.avail_in);
				goto done;
			}
			if (inflateReset(&zs) != Z_OK) {
				rc = mts_error_set(err, MTS_EINVAL, "gzip: cannot restart");
				goto done;
			}
			continue;
		}
		if (z == Z_BUF_ERROR && zs.avail_in == 0) {
			rc = mts_error_set(err, MTS_EINVAL, "gzip: truncated stream");
			goto done;
		}
		if (z == Z_MEM_ERROR) {
			rc = mts_error_set(err, MTS_ENOMEM, "gzip: out of memory");
			goto done;
		}
		if (z != Z_OK && z != Z_BUF_ERROR) {
			rc = mts_error_set(err, MTS_EINVAL, "gzip: corrupt data (%s)",
					   zs.msg ? zs.msg : "inflate failed");
			goto done;
		}
		if (z == Z_BUF_ERROR && zs.avail_out != 0) {
			rc = mts_error_set(err, MTS_EINVAL, "gzip: truncated stream");
			goto done;
		}
	}
done:
	inflateEnd(&zs);
	if (rc) {
		free(data);
		return rc;
	}
	data[used] = '\0';
	*out = data;
	*out_len = used;
	return 0;
}
