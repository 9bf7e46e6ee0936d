/* version.c - the running library's version (version.h). */
#include "mtasts/version.h"

const char *mts_version(void)
{
	return MTS_VERSION_STRING;
}

unsigned mts_version_number(void)
{
	return MTS_VERSION_NUMBER;
}

const char *mts_version_features(void)
{
	static const char features[] = ""
#if MTS_HAVE_PG
				       " pg"
#endif
#if MTS_HAVE_REDIS
				       " redis"
#endif
#if MTS_HAVE_GMIME
				       " gmime"
#endif
		;
	return features[0] ? features + 1 : features;
}
