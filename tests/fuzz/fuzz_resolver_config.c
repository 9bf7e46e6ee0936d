/* fuzz_resolver_config.c - the resolver's YAML configuration reader on
 * arbitrary bytes: no crash, no leak; an accepted configuration has every
 * value in range and every string terminated; a rejected one says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts/resolver.h"

static struct mts_resolver_config cfg;

static void check_string(const char *s, size_t cap)
{
	if (!memchr(s, '\0', cap))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mts_error err = {0};
	int rc = mts_resolver_config_parse((const char *)data, size, "fuzz.yml", &cfg, &err);
	if (rc < 0) {
		if (err.code != rc || !err.message[0])
			abort();
		return 0;
	}
	if (rc != 0 || cfg.zone_count > MTS_RESOLVER_ZONES_MAX || cfg.port > 65535 ||
	    cfg.mode > 07777 || cfg.cache_grace < 0 || cfg.default_zone.timeout == 0 ||
	    cfg.max_request < 64 || cfg.max_request > MTS_RESOLVER_REQUEST_MAX)
		abort();
	check_string(cfg.host, sizeof(cfg.host));
	check_string(cfg.path, sizeof(cfg.path));
	check_string(cfg.cache_filename, sizeof(cfg.cache_filename));
	check_string(cfg.dane_answer, sizeof(cfg.dane_answer));
	for (size_t i = 0; i < cfg.zone_count; i++) {
		const struct mts_resolver_zone *z = &cfg.zones[i];
		check_string(z->name, sizeof(z->name));
		if (!z->name[0] || z->timeout == 0 ||
		    mts_resolver_zone_find(&cfg, z->name, strlen(z->name)) == &cfg.default_zone)
			abort();
	}
	char url[MTS_RESOLVER_PATH_MAX + 16];
	if (mts_resolver_cache_url(&cfg, url, sizeof(url), &err) < 0)
		abort();
	return 0;
}
