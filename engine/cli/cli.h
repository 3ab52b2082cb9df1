/* cli.h - internal to the cdrate command: subcommand entry points and the option table.
 *
 * Every subcommand describes its options once, in a cli_opt table: the table drives parsing,
 * validation (numbers, ranges, choices), defaults (whatever the destination holds before
 * parsing) and the --help text. docs/operations.md lists the commands.
 */
#ifndef CDR_CLI_H
#define CDR_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Each returns the process exit code: 0 ok, 1 failure, 2 usage error, 3 done with rejects. */
int cmd_plans(int argc, char **argv);
int cmd_directory(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_rate(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_rate_stream(int argc, char **argv);
int cmd_archive(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_suspense(int argc, char **argv);
int cmd_counters(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);

/* Set to 1 by SIGTERM or SIGINT once cli_stop_on_signals() has installed the handlers: long-running
 * commands pass &cli_stop to the library as their stop flag (finish the batch, commit, exit 0). */
extern volatile sig_atomic_t cli_stop;
void cli_stop_on_signals(void);

typedef enum cli_opt_kind {
    CLI_FLAG,   /* no argument; *(int *)dest = 1 */
    CLI_STRING, /* *(const char **)dest = argument */
    CLI_COUNT,  /* *(uint64_t *)dest = whole number (k, M suffixes), within [min, max] */
    CLI_CHOICE, /* *(int *)dest = index of the argument in the NULL-terminated co_choices */
    CLI_LIST    /* appended to a cli_list (repeatable option) */
} cli_opt_kind;

typedef struct cli_list {
    const char **li_items; /* allocated by cli_parse (argc entries); free with cli_spec_free */
    int li_n;
} cli_list;

typedef struct cli_opt {
    const char *co_name; /* long name, without "--" */
    cli_opt_kind co_kind;
    void *co_dest;
    const char *co_arg;  /* argument name in --help, e.g. "DIR" */
    const char *co_help; /* one line */
    uint64_t co_min, co_max;
    const char *const *co_choices;
} cli_opt;

typedef struct cli_spec {
    const char *cs_cmd;      /* "rate" */
    const char *cs_synopsis; /* usage lines, each starting with the command's arguments */
    const char *cs_about;    /* what the command does, may be NULL */
    cli_opt *cs_opts;        /* terminated by an entry with co_name NULL */
} cli_spec;

/* Parse argv against cs. --help is always known. Returns the index of the first positional
 * argument (>= 1) on success; CLI_HELP after printing the help on stdout (the caller exits 0);
 * CLI_USAGE after printing the error and the usage on stderr (the caller exits 2). */
#define CLI_HELP  (-1)
#define CLI_USAGE (-2)
int cli_parse(const cli_spec *cs, int argc, char **argv);
/* Print the usage of cs. */
void cli_usage(const cli_spec *cs, FILE *f);
/* Print "cdrate CMD: message" and the usage on stderr; returns 2 (the usage exit code). */
int cli_usage_error(const cli_spec *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free what cli_parse allocated for CLI_LIST options. */
void cli_spec_free(const cli_spec *cs);

/* Parse a whole non-negative decimal number (suffixes k, M for 10^3, 10^6 accepted); 0 on
 * success. */
int cli_parse_count(const char *s, uint64_t *out);
/* Print "cdrate CMD: message" for a cdr_diag to stderr. */
struct cdr_diag;
void cli_report(const char *cmd, const struct cdr_diag *dg);
/* Non-zero when progress lines should be drawn (stderr is a terminal and not --quiet). */
int cli_progress_enabled(int quiet);

#endif
