/* cli.h - internal to the cdrate command: subcommand entry points and option helpers. */
#ifndef CDR_CLI_H
#define CDR_CLI_H

#include <stdio.h>

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Each returns the process exit code: 0 ok, 1 failure, 2 usage error. */
int cmd_plans(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_rate(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#include <stdint.h>

/* Parse a whole non-negative decimal number (suffixes k, M for 10^3, 10^6 accepted); 0 on success.
 */
int cli_parse_count(const char *s, uint64_t *out);
/* Print "cdrate CMD: message" for a cdr_diag to stderr. */
struct cdr_diag;
void cli_report(const char *cmd, const struct cdr_diag *dg);
/* Non-zero when progress lines should be drawn (stderr is a terminal and not --quiet). */
int cli_progress_enabled(int quiet);
#endif
