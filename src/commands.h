/* commands.h - every subcommand's entry point and help text. */
#ifndef MTASTS_COMMANDS_H
#define MTASTS_COMMANDS_H

int cmd_policy(int argc, char **argv);
extern const char cmd_policy_help[];
int cmd_fetch(int argc, char **argv);
extern const char cmd_fetch_help[];
int cmd_check(int argc, char **argv);
extern const char cmd_check_help[];
int cmd_report(int argc, char **argv);
extern const char cmd_report_help[];
int cmd_resolver(int argc, char **argv);
extern const char cmd_resolver_help[];
int cmd_serve(int argc, char **argv);
extern const char cmd_serve_help[];

#endif
