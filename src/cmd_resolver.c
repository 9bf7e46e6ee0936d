/* cmd_resolver.c - `mtasts resolver`: the MTA-STS policy daemon for Postfix
 * (socketmap, smtp_tls_policy_maps), its query client and its control
 * client. The daemon binds, writes its pid file, drops privileges, then
 * opens the cache and the network; SIGTERM/SIGINT shut it down gracefully,
 * SIGHUP reloads the configuration. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "commands.h"
#include "core/netstring_int.h"
#include "io/fdlimit_int.h"
#include "mtasts/resolver.h"

#define DEFAULT_CONFIG "/etc/mtasts/resolver.yml"
#define CLIENT_TIMEOUT_MS 30000
#define CLIENT_REPLY_MAX (4 * 1024 * 1024)
#define CTL_CURSOR_MAX (2 * MTS_CACHE_WALK_POS_MAX + 1) /* a page cursor: hex */

const char cmd_resolver_help[] =
	"Usage: mtasts resolver [--config FILE] [--pidfile FILE] [--syslog] [--verbose]\n"
	"       mtasts resolver --check [--config FILE]\n"
	"       mtasts resolver query DOMAIN [--zone NAME] [--config FILE | --server ADDR]\n"
	"       mtasts resolver ctl COMMAND [ARG] [--config FILE | --control PATH]\n"
	"\n"
	"Serve MTA-STS policies to Postfix over the socketmap protocol:\n"
	"  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n"
	"The configuration is postfix-mta-sts-resolver's mta-sts-daemon.yml (see\n"
	"docs/resolver.md). The daemon runs in the foreground; SIGTERM or SIGINT stops\n"
	"it gracefully, SIGHUP reloads the configuration.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE    configuration file (default " DEFAULT_CONFIG ")\n"
	"      --pidfile FILE   write the daemon's pid there (before dropping privileges)\n"
	"      --syslog         log to syslog (mail facility) instead of stderr\n"
	"  -v, --verbose        log every lookup\n"
	"  -n, --check          check the configuration and exit\n"
	"      --zone NAME      query: the socketmap name (zone) to ask (default: postfix)\n"
	"      --server ADDR    query: inet:HOST:PORT or unix:PATH (default: from --config)\n"
	"      --control PATH   ctl: the control socket (default: control_path of --config)\n"
	"  -h, --help           show this help\n"
	"\n"
	"ctl commands: query DOMAIN, dump, export, purge DOMAIN|all, stats (JSON output).\n"
	"query exit codes: 0 a policy (OK), 1 NOTFOUND, 3 TEMP, PERM or no answer.\n"
	"Daemon exit codes: 0 after a clean shutdown, 2 configuration error, 3 start-up\n"
	"failure.\n";

enum { OPT_PIDFILE = 256, OPT_SYSLOG, OPT_ZONE, OPT_SERVER, OPT_CONTROL };

static const struct option resolver_options[] = {
	{"config", required_argument, NULL, 'c'},
	{"pidfile", required_argument, NULL, OPT_PIDFILE},
	{"syslog", no_argument, NULL, OPT_SYSLOG},
	{"verbose", no_argument, NULL, 'v'},
	{"check", no_argument, NULL, 'n'},
	{"zone", required_argument, NULL, OPT_ZONE},
	{"server", required_argument, NULL, OPT_SERVER},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct resolver_args {
	const char *config, *pidfile, *zone, *server, *control;
	bool syslog, verbose, check;
};

/* ---- the daemon --------------------------------------------------------- */

struct daemon_state {
	struct event_base *base;
	struct mts_resolver *resolver;
	const char *config_path;
	bool syslog;
};

static void log_line(int priority, const char *message, void *arg)
{
	struct daemon_state *st = arg;
	if (st->syslog) {
		syslog(priority, "%s", message);
		return;
	}
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		when[0] = '\0';
	fprintf(stderr, "%s mtasts-resolver[%ld]: %s\n", when, (long)getpid(), message);
	fflush(stderr);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	mts_resolver_shutdown(st->resolver);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *st = arg;
	struct mts_resolver_config *cfg = malloc(sizeof(*cfg));
	struct mts_error err = {0};
	if (!cfg)
		return;
	if (mts_resolver_config_load(st->config_path, cfg, &err) < 0) {
		char msg[MTS_ERROR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "reload failed, keeping the running configuration: %s",
			 err.message);
		log_line(LOG_ERR, msg, st);
	} else {
		(void)mts_resolver_reload(st->resolver, cfg, &err);
	}
	free(cfg);
}

static int write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	bool ok = write(fd, line, (size_t)n) == n;
	return close(fd) == 0 && ok ? 0 : -1;
}

static int run_daemon(const struct resolver_args *a)
{
	struct mts_resolver_config *cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		cli_error("resolver", "out of memory");
		return CLI_EXIT_INCOMPLETE;
	}
	struct mts_error err = {0};
	if (mts_resolver_config_load(a->config, cfg, &err) < 0) {
		cli_error("resolver", "%s", err.message);
		free(cfg);
		return err.code == MTS_EIO ? CLI_EXIT_INCOMPLETE : CLI_EXIT_USAGE;
	}
	if (a->check) {
		printf("%s: ok (%zu zones, cache %s)\n", a->config, cfg->zone_count,
		       mts_resolver_cache_name(cfg->cache_type));
		free(cfg);
		return CLI_EXIT_OK;
	}
	struct daemon_state st = {.config_path = a->config,
				  .syslog = a->syslog || cfg->log_syslog};
	if (st.syslog)
		openlog("mtasts-resolver", LOG_PID | LOG_NDELAY, LOG_MAIL);
	signal(SIGPIPE, SIG_IGN);
	/* Clients are capped by what the open-files limit allows (resolver.c):
	 * the usual soft limit of 1024 would hold back a busy Postfix. */
	(void)mts_fdlimit_raise();
	int rc = CLI_EXIT_INCOMPLETE;
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	bool pid_written = false;
	st.base = event_base_new();
	if (!st.base) {
		cli_error("resolver", "cannot create the event loop");
		goto out;
	}
	struct mts_resolver_opts opts = {.log = log_line, .log_arg = &st, .verbose = a->verbose};
	st.resolver = mts_resolver_new(st.base, cfg, &opts, &err);
	if (!st.resolver) {
		cli_error("resolver", "%s", err.message);
		goto out;
	}
	if (a->pidfile) {
		if (write_pidfile(a->pidfile) < 0) {
			cli_error("resolver", "%s: %s", a->pidfile, strerror(errno));
			goto out;
		}
		pid_written = true;
	}
	if (cfg->user[0]) {
		char why[256];
		if (cli_drop_privileges(cfg->user, why, sizeof(why)) < 0) {
			cli_error("resolver", "%s", why);
			goto out;
		}
	}
	if (mts_resolver_start(st.resolver, &err) < 0) {
		cli_error("resolver", "%s", err.message);
		goto out;
	}
	sig_term = evsignal_new(st.base, SIGTERM, on_stop, &st);
	sig_int = evsignal_new(st.base, SIGINT, on_stop, &st);
	sig_hup = evsignal_new(st.base, SIGHUP, on_reload, &st);
	if (!sig_term || !sig_int || !sig_hup || evsignal_add(sig_term, NULL) < 0 ||
	    evsignal_add(sig_int, NULL) < 0 || evsignal_add(sig_hup, NULL) < 0) {
		cli_error("resolver", "cannot install signal handlers");
		goto out;
	}
	event_base_dispatch(st.base);
	log_line(LOG_NOTICE, "stopped", &st);
	rc = CLI_EXIT_OK;
out:
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (sig_hup)
		event_free(sig_hup);
	mts_resolver_free(st.resolver);
	if (st.base)
		event_base_free(st.base);
	if (pid_written)
		unlink(a->pidfile);
	if (st.syslog)
		closelog();
	free(cfg);
	return rc;
}

/* ---- clients -------------------------------------------------------------- */

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int connect_inet(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
		if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* "inet:HOST:PORT", "inet:[V6]:PORT" or "unix:PATH". */
static int connect_spec(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return connect_unix(spec + 5);
	if (strncmp(spec, "inet:", 5) != 0) {
		errno = EINVAL;
		return -1;
	}
	char host[256];
	const char *rest = spec + 5, *colon = strrchr(rest, ':');
	if (!colon || (size_t)(colon - rest) >= sizeof(host) || colon == rest) {
		errno = EINVAL;
		return -1;
	}
	size_t hl = (size_t)(colon - rest);
	memcpy(host, rest, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	return connect_inet(host, colon + 1);
}

/* Send one netstring request and read one netstring answer. *answer is
 * malloc'd and NUL-terminated. */
static int exchange(int fd, const char *request, char **answer, size_t *answer_len)
{
	size_t len = strlen(request);
	char *frame = malloc(len + 32);
	if (!frame)
		return -1;
	long n = mts_netstring_format(request, len, frame, len + 32);
	bool sent = n > 0 && send(fd, frame, (size_t)n, MSG_NOSIGNAL) == n;
	free(frame);
	if (!sent)
		return -1;
	size_t cap = 4096, have = 0;
	char *buf = malloc(cap);
	while (buf) {
		const char *payload;
		size_t plen, used;
		int rc = mts_netstring_parse(buf, have, CLIENT_REPLY_MAX, &payload, &plen, &used);
		if (rc == 1) {
			memmove(buf, payload, plen);
			buf[plen] = '\0';
			*answer = buf;
			*answer_len = plen;
			return 0;
		}
		if (rc < 0)
			break;
		if (have == cap) {
			char *bigger = cap < CLIENT_REPLY_MAX + 32 ? realloc(buf, cap * 2) : NULL;
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, CLIENT_TIMEOUT_MS) <= 0)
			break;
		ssize_t got = recv(fd, buf + have, cap - have, 0);
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	free(buf);
	errno = EPROTO;
	return -1;
}

static int load_for_client(const char *path, struct mts_resolver_config *cfg)
{
	struct mts_error err = {0};
	if (mts_resolver_config_load(path, cfg, &err) < 0) {
		cli_error("resolver", "%s", err.message);
		return err.code == MTS_EIO ? CLI_EXIT_INCOMPLETE : CLI_EXIT_USAGE;
	}
	return 0;
}

static int run_query(const struct resolver_args *a, const char *domain)
{
	char spec[300];
	if (a->server) {
		snprintf(spec, sizeof(spec), "%s", a->server);
	} else {
		struct mts_resolver_config *cfg = malloc(sizeof(*cfg));
		if (!cfg)
			return CLI_EXIT_INCOMPLETE;
		int rc = load_for_client(a->config, cfg);
		if (rc == 0) {
			if (cfg->path[0])
				snprintf(spec, sizeof(spec), "unix:%s", cfg->path);
			else
				snprintf(spec, sizeof(spec), "inet:%s:%u", cfg->host, cfg->port);
		}
		free(cfg);
		if (rc)
			return rc;
	}
	int fd = connect_spec(spec);
	if (fd < 0) {
		cli_error("resolver", "cannot connect to %s: %s", spec, strerror(errno));
		return CLI_EXIT_INCOMPLETE;
	}
	char request[512];
	snprintf(request, sizeof(request), "%s %s", a->zone ? a->zone : "postfix", domain);
	char *answer = NULL;
	size_t len = 0;
	int rc = exchange(fd, request, &answer, &len);
	close(fd);
	if (rc < 0) {
		cli_error("resolver", "%s: no answer", spec);
		return CLI_EXIT_INCOMPLETE;
	}
	printf("%s\n", answer);
	rc = strncmp(answer, "OK", 2) == 0 ? CLI_EXIT_OK
	     : strncmp(answer, "NOTFOUND", 8) == 0 ? CLI_EXIT_PROBLEM
						    : CLI_EXIT_INCOMPLETE;
	free(answer);
	return rc;
}

/* One control request; *v is its JSON answer. 0 or an exit code. */
static int ctl_ask(int fd, const char *path, const char *request, json_t **v)
{
	char *answer = NULL;
	size_t len = 0;
	if (exchange(fd, request, &answer, &len) < 0) {
		cli_error("resolver", "%s: no answer", path);
		return CLI_EXIT_INCOMPLETE;
	}
	json_error_t jerr;
	*v = json_loadb(answer, len, 0, &jerr);
	free(answer);
	if (!*v) {
		cli_error("resolver", "the daemon's answer is not JSON: %s", jerr.text);
		return CLI_EXIT_INCOMPLETE;
	}
	return 0;
}

/* Note the domains of policies not yet in seen (a set); false for those
 * already there (a Redis walk may give one twice). */
static bool first_sight(json_t *seen, json_t *policy)
{
	const char *d = json_string_value(json_object_get(policy, "domain"));
	if (!d)
		return true;
	if (json_object_get(seen, d))
		return false;
	json_object_set_new(seen, d, json_true());
	return true;
}

/* Add a following page to the answer so far: its policies (each domain
 * once, seen holds those listed), its counts, its next cursor. */
static void merge_page(json_t *v, json_t *page, json_t *seen)
{
	if (json_object_get(page, "error")) {
		json_object_set(v, "error", json_object_get(page, "error"));
		json_object_del(v, "next");
		return;
	}
	json_t *list = json_object_get(v, "policies"), *more = json_object_get(page, "policies");
	if (json_is_array(list) && json_is_array(more)) {
		size_t i;
		json_t *e;
		json_array_foreach(more, i, e)
			if (first_sight(seen, e))
				json_array_append(list, e);
	}
	const char *counts[] = {"purged", "skipped"};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		json_int_t sum = json_integer_value(json_object_get(v, counts[i])) +
				 json_integer_value(json_object_get(page, counts[i]));
		if (json_object_get(v, counts[i]))
			json_object_set_new(v, counts[i], json_integer(sum));
	}
	if (json_object_get(page, "skip_reason"))
		json_object_set(v, "skip_reason", json_object_get(page, "skip_reason"));
	if (json_object_get(page, "next"))
		json_object_set(v, "next", json_object_get(page, "next"));
	else
		json_object_del(v, "next");
}

static int run_ctl(const struct resolver_args *a, int nargs, char **args)
{
	char path[MTS_RESOLVER_PATH_MAX];
	if (a->control) {
		snprintf(path, sizeof(path), "%s", a->control);
	} else {
		struct mts_resolver_config *cfg = malloc(sizeof(*cfg));
		if (!cfg)
			return CLI_EXIT_INCOMPLETE;
		int rc = load_for_client(a->config, cfg);
		if (rc == 0 && !cfg->control_path[0]) {
			rc = cli_usage("resolver", "%s has no control_path; give --control PATH",
				       a->config);
		}
		if (rc == 0)
			snprintf(path, sizeof(path), "%s", cfg->control_path);
		free(cfg);
		if (rc)
			return rc;
	}
	char request[1024] = "";
	size_t used = 0;
	for (int i = 0; i < nargs; i++) {
		int n = snprintf(request + used, sizeof(request) - used, "%s%s", i ? " " : "",
				 args[i]);
		if (n < 0 || (size_t)n >= sizeof(request) - used)
			return cli_usage("resolver", "ctl request too long");
		used += (size_t)n;
	}
	int fd = connect_unix(path);
	if (fd < 0) {
		cli_error("resolver", "cannot connect to %s: %s", path, strerror(errno));
		return CLI_EXIT_INCOMPLETE;
	}
	json_t *v = NULL;
	int rc = ctl_ask(fd, path, request, &v);
	/* export and purge all come in pages: follow "next" to the end. */
	bool paged = strcmp(args[0], "export") == 0 ||
		     (strcmp(args[0], "purge") == 0 && nargs == 2 && strcmp(args[1], "all") == 0);
	const char *next;
	char last[CTL_CURSOR_MAX] = "";
	json_t *seen = json_object(), *first = rc == 0 ? json_object_get(v, "policies") : NULL;
	if (json_is_array(first)) {
		json_t *kept = json_array(), *e;
		size_t i;
		json_array_foreach(first, i, e)
			if (first_sight(seen, e))
				json_array_append(kept, e);
		json_object_set_new(v, "policies", kept);
	}
	while (rc == 0 && paged && (next = json_string_value(json_object_get(v, "next")))) {
		if (strlen(next) >= sizeof(last) || strcmp(next, last) == 0) {
			cli_error("resolver", "%s: the daemon's pages do not advance", path);
			rc = CLI_EXIT_INCOMPLETE;
			break;
		}
		snprintf(last, sizeof(last), "%s", next);
		char more[sizeof(request) + CTL_CURSOR_MAX + 1];
		snprintf(more, sizeof(more), "%s %s", request, last);
		json_t *page = NULL;
		rc = ctl_ask(fd, path, more, &page);
		if (rc == 0)
			merge_page(v, page, seen);
		json_decref(page);
	}
	json_decref(seen);
	close(fd);
	if (rc != 0) {
		json_decref(v);
		return rc;
	}
	json_object_del(v, "next");
	bool failed = json_object_get(v, "error") != NULL;
	cli_print_json(v);
	return failed ? CLI_EXIT_PROBLEM : CLI_EXIT_OK;
}

int cmd_resolver(int argc, char **argv)
{
	struct resolver_args a = {.config = DEFAULT_CONFIG};
	int c;
	optind = 1;
	while ((c = cli_getopt("resolver", argc, argv, ":c:vnh", resolver_options)) != -1) {
		switch (c) {
		case 'h': return cli_print_help(cmd_resolver_help);
		case 'c': a.config = optarg; break;
		case OPT_PIDFILE: a.pidfile = optarg; break;
		case OPT_SYSLOG: a.syslog = true; break;
		case 'v': a.verbose = true; break;
		case 'n': a.check = true; break;
		case OPT_ZONE: a.zone = optarg; break;
		case OPT_SERVER: a.server = optarg; break;
		case OPT_CONTROL: a.control = optarg; break;
		default: return CLI_EXIT_USAGE;
		}
	}
	int nargs = argc - optind;
	char **args = argv + optind;
	if (nargs == 0)
		return run_daemon(&a);
	if (strcmp(args[0], "query") == 0) {
		if (nargs != 2)
			return cli_usage("resolver", "query takes one DOMAIN");
		return run_query(&a, args[1]);
	}
	if (strcmp(args[0], "ctl") == 0) {
		if (nargs < 2)
			return cli_usage("resolver", "ctl needs a COMMAND");
		return run_ctl(&a, nargs - 1, args + 1);
	}
	return cli_usage("resolver", "unknown argument '%s'", args[0]);
}
