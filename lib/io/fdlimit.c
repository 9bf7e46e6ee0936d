/* fdlimit.c - raise the descriptor limit (see include/mtasts/fdlimit.h). */
#include <stdio.h>
#include <sys/resource.h>

#include "mtasts/fdlimit.h"

/* What setrlimit accepts at most when the hard limit is unlimited. */
static rlim_t nr_open(void)
{
	unsigned long n = 0;
	FILE *fp = fopen("/proc/sys/fs/nr_open", "r");
	if (fp) {
		if (fscanf(fp, "%lu", &n) != 1)
			n = 0;
		fclose(fp);
	}
	return n ? (rlim_t)n : (rlim_t)1 << 20;
}

unsigned long mts_fdlimit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rlim_t want = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit raised = {.rlim_cur = want, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = want;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (unsigned long)nr_open() : (unsigned long)rl.rlim_cur;
}
