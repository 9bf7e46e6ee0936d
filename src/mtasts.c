/* mtasts.c - the program: dispatch to one subcommand per cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mtasts/version.h"
#include "commands.h"

#ifndef MTASTS_VERSION
#define MTASTS_VERSION "0"
#endif

/* The command table: this file owns it; each cmd_<name>.c provides run and help. */
static const struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *help; /* full usage text, shown by --help and `mtasts help NAME` */
} cli_commands[] = {
	{"check", cmd_check, "audit domains live: records, policy, MX TLS, DANE, verdict",
	 cmd_check_help},
	{"policy", cmd_policy, "lint and generate MTA-STS policies and records", cmd_policy_help},
	{"fetch", cmd_fetch, "discover domains' MTA-STS policies as a sender does", cmd_fetch_help},
	{"report", cmd_report, "collect, store and read TLS-RPT reports", cmd_report_help},
	{"resolver", cmd_resolver, "serve MTA-STS policies to Postfix (socketmap)",
	 cmd_resolver_help},
	{"serve", cmd_serve, "host MTA-STS for many domains: policies, ids, records",
	 cmd_serve_help},
};
static const size_t cli_command_count = sizeof(cli_commands) / sizeof(cli_commands[0]);

static const char main_help_head[] =
	"Usage: mtasts [--version] [--help] COMMAND [ARGS...]\n"
	"\n"
	"MTA-STS (RFC 8461) and SMTP TLS Reporting (RFC 8460) toolkit.\n"
	"\n"
	"Commands:\n";
static const char main_help_tail[] =
	"\n"
	"Options:\n"
	"  -h, --help     show this help\n"
	"  -V, --version  show the version\n"
	"\n"
	"'mtasts help COMMAND' or 'mtasts COMMAND --help' shows a command's usage;\n"
	"'man mtasts-COMMAND' documents it in full.\n"
	"\n"
	"Exit codes: 0 success, 1 problems found, 2 usage error, 3 could not complete.\n";

static void print_main_help(FILE *fp)
{
	fputs(main_help_head, fp);
	for (size_t i = 0; i < cli_command_count; i++)
		fprintf(fp, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fputs(main_help_tail, fp);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		const char *features = mts_version_features();
		printf("mtasts %s (libmtasts %s; backends: %s)\n", MTASTS_VERSION, mts_version(),
		       *features ? features : "none");
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		print_main_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "help") == 0) {
		if (argc == 2) {
			print_main_help(stdout);
			return CLI_EXIT_OK;
		}
		if (argc > 3)
			return cli_usage(NULL, "help takes one command name");
		for (size_t i = 0; i < cli_command_count; i++)
			if (strcmp(cli_commands[i].name, argv[2]) == 0)
				return cli_print_help(cli_commands[i].help);
		return cli_usage(NULL, "no such command '%s'", argv[2]);
	}
	if (name[0] == '-')
		return cli_usage(NULL, "unknown option '%s'", name);
	for (size_t i = 0; i < cli_command_count; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return cli_commands[i].run(argc - 1, argv + 1);
	return cli_usage(NULL, "unknown command '%s'", name);
}
