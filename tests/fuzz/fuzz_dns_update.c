/* fuzz_dns_update.c - the judgement of a dynamic update's answer
 * (mts_dns_update_msg_check) on arbitrary bytes, as the answer to a fixed
 * request with ID 0x4d54 (the ID of the captured seeds, so that they pass
 * the header checks and reach the TSIG code). No crash, no leak; a status
 * that is one of the enum's; OK only with a verified signature (which
 * random bytes cannot make: OK never happens); rcode_name set whenever a
 * response was parsed far enough to have an rcode. Seeds: knot's answers
 * captured by tests/integration/test_dns_update.c (MTS_DNS_UPDATE_CAPTURE). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/dns_update_int.h"

static struct mts_dns_update_msg *request(void)
{
	static struct mts_dns_update_msg *m;
	if (m)
		return m;
	struct mts_dns_update_key key;
	if (mts_dns_update_key_parse(
		"hmac-sha256:update256.svc.test.:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=", &key,
		NULL) < 0)
		abort();
	static const char *const values[] = {"v=STSv1; id=RAW"};
	struct mts_dns_update_change c = {.zone = "svc.test",
					  .name = "_mta-sts.raw.svc.test",
					  .ttl = 300,
					  .values = values,
					  .value_count = 1};
	m = mts_dns_update_msg_new(&c, &key, 0x4d54, NULL);
	mts_dns_update_key_clear(&key);
	if (!m)
		abort();
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_dns_update_result res;
	mts_dns_update_msg_check(request(), data, size, (long long)time(NULL), &res);
	switch (res.status) {
	case MTS_DNS_UPDATE_OK:
		abort(); /* a random answer can never carry our MAC */
	case MTS_DNS_UPDATE_REJECTED:
		if (res.rcode < 0 || !res.rcode_name[0])
			abort();
		break;
	case MTS_DNS_UPDATE_BADRESPONSE:
		break;
	default:
		abort();
	}
	if (!res.message[0] || strlen(res.message) >= sizeof(res.message))
		abort();
	return 0;
}
