/* fdlimit.c - the open-files limit for the daemons (see fdlimit.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "io/fdlimit_int.h"

#define NOFILE_UNLIMITED_TRY 1048576 /* Linux's default fs.nr_open */

long mts_fdlimit_current(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	return rl.rlim_cur == RLIM_INFINITY ? NOFILE_UNLIMITED_TRY : (long)rl.rlim_cur;
}

long mts_fdlimit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur != rl.rlim_max) {
		struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) < 0 && rl.rlim_max == RLIM_INFINITY &&
		    rl.rlim_cur < NOFILE_UNLIMITED_TRY) {
			want.rlim_cur = NOFILE_UNLIMITED_TRY; /* above fs.nr_open: EPERM */
			(void)setrlimit(RLIMIT_NOFILE, &want);
		}
	}
	return mts_fdlimit_current();
}

long mts_fdlimit_open_count(long limit)
{
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		long n = 0;
		for (struct dirent *e; (e = readdir(d));)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		return n - 1; /* opendir's own */
	}
	long n = 0; /* no /proc, or not ours to read after a change of user */
	for (long fd = 0; fd < limit; fd++)
		if (fcntl((int)fd, F_GETFD) >= 0)
			n++;
	return n;
}

bool mts_fdlimit_available(unsigned want)
{
	int fds[MTS_FDLIMIT_PROBE_MAX];
	unsigned got = 0;
	if (want > MTS_FDLIMIT_PROBE_MAX)
		want = MTS_FDLIMIT_PROBE_MAX;
	if (want == 0)
		return true;
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0) /* another failure says nothing about descriptors */
		return errno != EMFILE && errno != ENFILE;
	got = 1;
	while (got < want) {
		int fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			break;
		fds[got++] = fd;
	}
	bool ok = got == want;
	while (got > 0)
		close(fds[--got]);
	return ok;
}
