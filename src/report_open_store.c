/* report_open_store.c - how every `mtasts report` subcommand opens its store
 * (report_cmd.h): the URL from --store, $MTASTS_STORE or the default. */
#include <stdlib.h>

#include "cli.h"
#include "mtasts/report_store.h"
#include "report_cmd.h"

int report_open_store(const char *cmd, const char *url, struct mts_report_store **s)
{
	if (!url) {
		const char *env = getenv(MTS_REPORT_STORE_ENV);
		url = env && *env ? env : MTS_REPORT_STORE_DEFAULT;
	}
	struct mts_error err = {0};
	int rc = mts_report_store_open(url, s, &err);
	if (rc == MTS_EUSAGE)
		return cli_usage(cmd, "%s", err.message);
	if (rc < 0) {
		cli_error(cmd, "%s", err.message);
		return CLI_EXIT_INCOMPLETE;
	}
	return 0;
}
