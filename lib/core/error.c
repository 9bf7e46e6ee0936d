/* error.c - error codes and messages (see include/mtasts/error.h). */
#include <stdarg.h>
#include <stdio.h>

#include "mtasts/error.h"

int mts_error_set(struct mts_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *mts_strerror(int code)
{
	switch (code) {
	case MTS_OK: return "success";
	case MTS_ENOMEM: return "out of memory";
	case MTS_EINVAL: return "invalid input";
	case MTS_ETOOBIG: return "input over a limit";
	case MTS_EIO: return "I/O error";
	case MTS_ETIMEOUT: return "timed out";
	case MTS_ENOTFOUND: return "not found";
	case MTS_EPROTO: return "protocol error";
	case MTS_ESTORE: return "store error";
	case MTS_EUSAGE: return "usage error";
	case MTS_ETEMP: return "temporary failure";
	case MTS_EEXIST: return "already exists";
	case MTS_ECONFLICT: return "changed by another writer";
	default: return "unknown error";
	}
}
