/* test_resolver_protocol.c - the running `mtasts resolver` daemon (the real
 * binary, $MTASTS) against the rig, spoken to over raw sockets: netstring
 * framing (split, pipelined, oversized, malformed, zero-length, slow
 * clients), answers in request order, zone timeouts, idle timeouts, the Unix
 * socket and its mode, SIGHUP reloads, graceful SIGTERM, the pid file. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/netstring_int.h"
#include "rig_env.h"

static struct rig_env env;
static char dir[] = "/tmp/mtasts-resolver-proto.XXXXXX";

/* Every daemon started, so that a failed test leaves none running. */
static pid_t started[16];
static size_t started_count;

struct daemon {
	pid_t pid;
	unsigned port;
	char config[256], log[256], pidfile[256];
};

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *read_file(const char *path)
{
	static char buf[1 << 20];
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void config_text(char *out, size_t cap, const char *name, const char *extra)
{
	snprintf(out, cap,
		 "host: 127.0.0.1\nport: 0\ndns_resolver: %s\nca_file: %s\n"
		 "control_path: %s/%s.ctl\n%s",
		 rig_env_get(&env, "RIG_RESOLVER"), rig_env_get(&env, "RIG_CA_FILE"), dir, name,
		 extra);
}

/* Wait until the log holds needle; returns the log or NULL. */
static char *wait_log(const char *path, const char *needle, int ms)
{
	for (int waited = 0; waited <= ms; waited += 20) {
		char *log = read_file(path);
		if (log && strstr(log, needle))
			return log;
		usleep(20000);
	}
	return NULL;
}

static void start(struct daemon *d, const char *name, const char *extra)
{
	char text[4096];
	memset(d, 0, sizeof(*d));
	snprintf(d->config, sizeof(d->config), "%s/%s.yml", dir, name);
	snprintf(d->log, sizeof(d->log), "%s/%s.log", dir, name);
	snprintf(d->pidfile, sizeof(d->pidfile), "%s/%s.pid", dir, name);
	config_text(text, sizeof(text), name, extra);
	write_file(d->config, text);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execl(getenv("MTASTS"), "mtasts", "resolver", "--config", d->config, "--pidfile",
		      d->pidfile, "--verbose", (char *)NULL);
		_exit(127);
	}
	if (started_count < sizeof(started) / sizeof(started[0]))
		started[started_count++] = d->pid;
	char *log = wait_log(d->log, "listening on ", 5000);
	if (!log)
		fail_msg("the daemon did not start: %s", read_file(d->log));
	const char *unix_sock = strstr(log, "listening on unix:");
	if (!unix_sock) {
		const char *p = strstr(log, "listening on inet:127.0.0.1:");
		assert_non_null(p);
		d->port = (unsigned)strtoul(p + strlen("listening on inet:127.0.0.1:"), NULL, 10);
	}
}

/* SIGTERM and the exit status. */
static int stop(struct daemon *d)
{
	int status = 0;
	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int connect_tcp(unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_request(int fd, const char *request)
{
	char frame[2048];
	long n = mts_netstring_format(request, strlen(request), frame, sizeof(frame));
	assert_true(n > 0);
	send_all(fd, frame, (size_t)n);
}

/* Read one netstring answer within ms; NULL at EOF or timeout (*eof tells). */
struct reader {
	char buf[65536];
	size_t have;
};

static char *read_answer(int fd, struct reader *rd, int ms, bool *eof)
{
	static char answer[65536];
	if (eof)
		*eof = false;
	for (;;) {
		const char *payload;
		size_t plen, used;
		int rc = mts_netstring_parse(rd->buf, rd->have, sizeof(answer) - 1, &payload, &plen,
					     &used);
		if (rc < 0)
			fail_msg("the daemon sent a malformed netstring");
		if (rc == 1) {
			memcpy(answer, payload, plen);
			answer[plen] = '\0';
			memmove(rd->buf, rd->buf + used, rd->have - used);
			rd->have -= used;
			return answer;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, ms) <= 0)
			return NULL;
		ssize_t got = recv(fd, rd->buf + rd->have, sizeof(rd->buf) - rd->have, 0);
		if (got <= 0) {
			if (eof)
				*eof = true;
			return NULL;
		}
		rd->have += (size_t)got;
	}
}

static void expect_answer(int fd, struct reader *rd, const char *want)
{
	char *got = read_answer(fd, rd, 15000, NULL);
	if (!got)
		fail_msg("no answer (want \"%s\")", want);
	if (strcmp(got, want) != 0)
		fail_msg("answer \"%s\", want \"%s\"", got, want);
}

static void expect_prefix(int fd, struct reader *rd, const char *want)
{
	char *got = read_answer(fd, rd, 15000, NULL);
	if (!got)
		fail_msg("no answer (want \"%s...\")", want);
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("answer \"%s\", want \"%s...\"", got, want);
}

static void expect_eof(int fd, struct reader *rd)
{
	bool eof;
	char *got = read_answer(fd, rd, 5000, &eof);
	if (got || !eof)
		fail_msg("the connection stayed open (%s)", got ? got : "no EOF");
}

#define ENFORCE_ANSWER "OK secure match=valid.mx.test servername=hostname"

static struct daemon main_daemon;
static struct reader rd;

static int setup(void **state)
{
	if (rig_env_load(&env) < 0 || !getenv("MTASTS")) {
		fprintf(stderr, "needs RIG_ENV and MTASTS\n");
		return -1;
	}
	if (!mkdtemp(dir))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < started_count; i++)
		if (waitpid(started[i], NULL, WNOHANG) == 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
		}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Answers leave in request order whatever order the lookups end in. */
static void test_pipelined_in_order(void **state)
{
	start(&main_daemon, "main", "zones:\n  strict:\n    strict_testing: true\n");
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	const char *requests[] = {
		"postfix good-enforce.test", "postfix [192.0.2.1]", "postfix good-testing.test",
		"postfix GOOD-ENFORCE.test.", "postfix .good-enforce.test", "postfix no-record.test",
		"strict good-testing.test", "postfix [good-multi-mx.test]:25", "postfix a..b",
		"postfix servfail.test",
	};
	const char *answers[] = {
		ENFORCE_ANSWER, "NOTFOUND ", "NOTFOUND ", ENFORCE_ANSWER, "NOTFOUND ", "NOTFOUND ",
		ENFORCE_ANSWER, "OK secure match=valid.mx.test:backup.mx.test servername=hostname",
		"NOTFOUND ", "TEMP ",
	};
	char all[4096];
	size_t used = 0;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		long n = mts_netstring_format(requests[i], strlen(requests[i]), all + used,
					      sizeof(all) - used);
		assert_true(n > 0);
		used += (size_t)n;
	}
	send_all(fd, all, used); /* one write */
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		if (strcmp(answers[i], "TEMP ") == 0)
			expect_prefix(fd, &rd, answers[i]);
		else
			expect_answer(fd, &rd, answers[i]);
	}
	/* Now cached: the same requests again, answered at once and in order. */
	send_all(fd, all, used);
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		if (strcmp(answers[i], "TEMP ") == 0)
			expect_prefix(fd, &rd, answers[i]);
		else
			expect_answer(fd, &rd, answers[i]);
	}
	close(fd);
}

/* Keys postfix-mta-sts-resolver takes for the domain (an empty port, white
 * space around) are the domain; a domain in a form no MTA sends is PERM.
 * Never NOTFOUND, which would send the mail without the domain's policy. */
static void test_odd_keys(void **state)
{
	static const struct {
		const char *request, *answer;
	} cases[] = {
		{"postfix good-enforce.test:", ENFORCE_ANSWER},
		{"postfix [good-enforce.test]:", ENFORCE_ANSWER},
		{"postfix  good-enforce.test", ENFORCE_ANSWER},
		{"postfix good-enforce.test ", ENFORCE_ANSWER},
		{"postfix [ good-enforce.test ]:25", ENFORCE_ANSWER},
		{"postfix good-enforce.test:smtp", "PERM unusable key"},
		{"postfix good-enforce.test..", "PERM unusable key"},
		{"postfix  [192.0.2.1]: ", "NOTFOUND "},
	};
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		send_request(fd, cases[i].request);
		expect_answer(fd, &rd, cases[i].answer);
	}
	close(fd);
}

static void test_split_and_slow(void **state)
{
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	const char *frame = "25:postfix good-enforce.test,";
	for (size_t i = 0; frame[i]; i++) { /* a byte at a time, slowly */
		send_all(fd, frame + i, 1);
		usleep(30000);
	}
	expect_answer(fd, &rd, ENFORCE_ANSWER);
	/* A request split across writes with a pause in the middle, and the start
	 * of the next one in the same write as the end of the first. */
	send_all(fd, "25:postfix good-", 16);
	usleep(300000);
	send_all(fd, "enforce.test,22:postfix ", 24);
	usleep(100000);
	send_all(fd, "no-record.test,", 15);
	expect_answer(fd, &rd, ENFORCE_ANSWER);
	expect_answer(fd, &rd, "NOTFOUND ");
	close(fd);
}

static void test_zero_length_and_no_key(void **state)
{
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	send_all(fd, "0:,", 3);
	expect_prefix(fd, &rd, "PERM ");
	send_request(fd, "postfix");
	expect_prefix(fd, &rd, "PERM ");
	send_request(fd, "postfix ");
	expect_answer(fd, &rd, "NOTFOUND ");
	/* the connection is still good */
	send_request(fd, "postfix good-enforce.test");
	expect_answer(fd, &rd, ENFORCE_ANSWER);
	close(fd);
}

static void test_malformed_closes(void **state)
{
	const char *bad[] = {"abc", "01:a,", "3:abc;", ":x,", "-1:a,", "3 :abc,"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = connect_tcp(main_daemon.port);
		memset(&rd, 0, sizeof(rd));
		send_all(fd, bad[i], strlen(bad[i]));
		expect_answer(fd, &rd, "PERM malformed netstring");
		expect_eof(fd, &rd);
		close(fd);
	}
}

static void test_oversized_closes(void **state)
{
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	/* Announced over the limit: refused before the bytes arrive. */
	send_all(fd, "5000:postfix ", 13);
	expect_answer(fd, &rd, "PERM request too long");
	expect_eof(fd, &rd);
	close(fd);
	/* A length with more digits than any limit. */
	fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	send_all(fd, "99999999999999999999", 20);
	expect_answer(fd, &rd, "PERM request too long");
	expect_eof(fd, &rd);
	close(fd);
	/* Just under the limit (1024) is fine: an unusable key, NOTFOUND. */
	fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	char request[1025];
	memset(request, 'a', sizeof(request) - 1);
	memcpy(request, "postfix ", 8);
	request[1024] = '\0';
	send_request(fd, request);
	expect_answer(fd, &rd, "NOTFOUND ");
	close(fd);
}

/* Many clients at once, each pipelining, all answered correctly. */
static void test_many_clients(void **state)
{
	enum { CLIENTS = 64, EACH = 8 };
	int fds[CLIENTS];
	static struct reader readers[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = connect_tcp(main_daemon.port);
		memset(&readers[i], 0, sizeof(readers[i]));
		for (int j = 0; j < EACH; j++)
			send_request(fds[i], j % 2 ? "postfix good-none.test"
						   : "postfix good-wildcard.test");
	}
	for (int i = 0; i < CLIENTS; i++) {
		for (int j = 0; j < EACH; j++)
			expect_answer(fds[i], &readers[i],
				      j % 2 ? "NOTFOUND " : "OK secure match=.mx.test servername=hostname");
		close(fds[i]);
	}
}

static void test_control_socket(void **state)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/main.ctl", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	memset(&rd, 0, sizeof(rd));
	send_request(fd, "stats");
	expect_prefix(fd, &rd, "{\"requests\":");
	send_request(fd, "query good-enforce.test");
	char *got = read_answer(fd, &rd, 15000, NULL);
	assert_non_null(got);
	assert_non_null(strstr(got, "\"answer\":\"" ENFORCE_ANSWER "\""));
	assert_non_null(strstr(got, "\"mode\":\"enforce\""));
	send_request(fd, "bogus");
	expect_prefix(fd, &rd, "{\"error\":");
	close(fd);
}

static void test_reload(void **state)
{
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	send_request(fd, "postfix good-testing.test");
	expect_answer(fd, &rd, "NOTFOUND ");
	char text[4096];
	config_text(text, sizeof(text), "main",
		    "default_zone:\n  strict_testing: true\n  require_sni: false\n");
	write_file(main_daemon.config, text);
	kill(main_daemon.pid, SIGHUP);
	assert_non_null(wait_log(main_daemon.log, "configuration reloaded", 5000));
	send_request(fd, "postfix good-testing.test");
	expect_answer(fd, &rd, "OK secure match=valid.mx.test");
	/* A broken file is refused and the running configuration kept. */
	write_file(main_daemon.config, "host: 127.0.0.1\nbogus_key: 1\n");
	kill(main_daemon.pid, SIGHUP);
	assert_non_null(wait_log(main_daemon.log, "unknown key 'bogus_key'", 5000));
	send_request(fd, "postfix good-testing.test");
	expect_answer(fd, &rd, "OK secure match=valid.mx.test");
	close(fd);
}

/* SIGTERM with a lookup in flight: the client still gets its answer (here
 * the zone timeout's TEMP), then the daemon exits 0 and removes its files. */
static void test_graceful_shutdown(void **state)
{
	char *pid_text = read_file(main_daemon.pidfile);
	assert_non_null(pid_text);
	assert_int_equal(strtol(pid_text, NULL, 10), main_daemon.pid);
	/* policy-slow needs ~40 s: the zone timeout (4 s) answers first. */
	int fd = connect_tcp(main_daemon.port);
	memset(&rd, 0, sizeof(rd));
	send_request(fd, "postfix policy-slow.test");
	usleep(200000);
	kill(main_daemon.pid, SIGTERM);
	time_t t0 = time(NULL);
	expect_answer(fd, &rd, "TEMP no answer within 4 s");
	expect_eof(fd, &rd);
	close(fd);
	int status = 0;
	assert_int_equal(waitpid(main_daemon.pid, &status, 0), main_daemon.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(time(NULL) - t0 < 10);
	assert_null(read_file(main_daemon.pidfile));
	assert_non_null(strstr(read_file(main_daemon.log), "shutting down: 1 clients"));
}

/* A client that says nothing is closed after idle_timeout; one waiting for
 * an answer is not; the Unix socket gets its mode. */
static void test_idle_and_unix(void **state)
{
	struct daemon d;
	char extra[512];
	snprintf(extra, sizeof(extra),
		 "path: %s/sock\nmode: 0660\nidle_timeout: 1\nshutdown_timeout: 1\n"
		 "default_zone:\n  timeout: 3\n",
		 dir);
	start(&d, "unix", extra);
	char path[300];
	snprintf(path, sizeof(path), "%s/sock", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int idle = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(idle, (struct sockaddr *)&sun, sizeof(sun)), 0);
	int busy = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(busy, (struct sockaddr *)&sun, sizeof(sun)), 0);
	struct reader r_idle = {0}, r_busy = {0};
	send_request(busy, "postfix policy-slow.test");
	send_request(idle, "postfix good-enforce.test");
	expect_answer(idle, &r_idle, ENFORCE_ANSWER);
	time_t t0 = time(NULL);
	expect_eof(idle, &r_idle);
	assert_true(time(NULL) - t0 <= 3);
	expect_answer(busy, &r_busy, "TEMP no answer within 3 s");
	/* A client that keeps asking, a request every 0.6 s for 2.4 s, is not
	 * idle (the timer, set at its first request, waits for the rest), and
	 * is closed about idle_timeout after its last one. */
	int chatty = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(chatty, (struct sockaddr *)&sun, sizeof(sun)), 0);
	struct reader r_chatty = {0};
	for (int i = 0; i < 4; i++) {
		send_request(chatty, "postfix good-enforce.test");
		expect_answer(chatty, &r_chatty, ENFORCE_ANSWER);
		usleep(600000);
	}
	t0 = time(NULL);
	expect_eof(chatty, &r_chatty);
	assert_true(time(NULL) - t0 <= 2);
	close(chatty);
	close(idle);
	close(busy);
	assert_int_equal(stop(&d), 0);
	assert_int_equal(stat(path, &st), -1); /* removed at exit */
}

static void test_bad_config_exit(void **state)
{
	char path[300], cmd[800];
	snprintf(path, sizeof(path), "%s/bad.yml", dir);
	write_file(path, "host: 127.0.0.1\nportt: 1\n");
	snprintf(cmd, sizeof(cmd), "%s resolver --config %s 2>%s/bad.err", getenv("MTASTS"), path,
		 dir);
	int status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	snprintf(path, sizeof(path), "%s/bad.err", dir);
	assert_non_null(strstr(read_file(path), "bad.yml:2: unknown key 'portt'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_odd_keys),
		cmocka_unit_test(test_split_and_slow),
		cmocka_unit_test(test_zero_length_and_no_key),
		cmocka_unit_test(test_malformed_closes),
		cmocka_unit_test(test_oversized_closes),
		cmocka_unit_test(test_many_clients),
		cmocka_unit_test(test_control_socket),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_graceful_shutdown),
		cmocka_unit_test(test_idle_and_unix),
		cmocka_unit_test(test_bad_config_exit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
