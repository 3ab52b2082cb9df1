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

#define CLI_VERSION "0.1.0"

/* Files that hold customer data are private: main() sets CLI_UMASK (0600 files in 0700
 * folders, whatever the caller's umask); --group-readable, known to every command, sets
 * CLI_UMASK_GROUP (0640 in 0750). */
#define CLI_UMASK       0077
#define CLI_UMASK_GROUP 0027

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

/* The exit codes of every command (docs/operations.md, "Exit codes"). When several apply, the
 * first of FAIL, REFUSED, UNRATED, REJECTS wins. */
enum {
    CLI_EXIT_OK = 0,   /* success */
    CLI_EXIT_FAIL = 1, /* the environment failed: I/O, disk, store, broker; figures not adding up */
    CLI_EXIT_USAGE = 2,    /* bad command line: usage printed */
    CLI_EXIT_REJECTS = 3,  /* ran to the end, but input records were rejected or files refused */
    CLI_EXIT_REFUSED = 4,  /* refused as a whole, nothing changed: invalid plan or directory file,
                              no store at the path, content already rated, not confirmed */
    CLI_EXIT_UNRATED = 5,  /* rate: no record could be rated, or more than --max-unratable */
    CLI_EXIT_NOTFOUND = 6, /* query: the MSISDN asked for is not in the directory; payments
                             status: the account asked for has no invoices or payments; users:
                             no such user or key, msisdn or enterprise */
    CLI_EXIT_NOTBILLED = 7 /* statement: the cycle (or the line in it) is not billed yet */
};

/* Each returns the process exit code, one of CLI_EXIT_*. */
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
int cmd_decode(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_bill(int argc, char **argv);
int cmd_payments(int argc, char **argv);
int cmd_rerate(int argc, char **argv);
int cmd_fraud(int argc, char **argv);
int cmd_project(int argc, char **argv);
int cmd_cycle(int argc, char **argv);
int cmd_statement(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_requests(int argc, char **argv);
/* `statement export` and `statement verify` (cmd_statement_export.c). */
int cli_statement_export(int argc, char **argv);
int cli_statement_verify(int argc, char **argv);
/* The exit code of a statement error code: 6 unknown line or enterprise, 7 not billed, 4 refused
 * input, 1 the rest. */
int cli_statement_exit(int rc);

/* Closing a billing cycle (cmd_cycle.c, docs/billing.md "Closing a cycle"), for `cycle close` and
 * `bill --close`. cli_cycle_check_closable: CLI_EXIT_OK, or CLI_EXIT_REFUSED (reported) for a
 * cycle after the current month (UTC; the test hook CDR_CYCLE_NOW=YYYY-MM sets the month).
 * cli_cycle_close: that check, then the close in the store at path (opened for writing), saying
 * so on stderr (unless quiet) or as one JSON object on stdout (json); closing a closed cycle is
 * reported and exits 0. Returns the exit code. */
int cli_cycle_check_closable(const char *cmd, uint32_t cycle);
int cli_cycle_close(const char *cmd, const char *store, uint32_t cycle, int json, int quiet);

/* Non-zero once the command line holds --json (or its alias --stats): cli_report, cli_error and
 * cli_usage_error then write errors as one JSON object per line on stderr:
 * {"error":{"code":"CDR_FORMAT","file":"x.csv","line":2,"column":5,"message":"..."}}. */
extern int cli_json;

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
/* An amount in micro-units with at least two decimals and no trailing zeros beyond them
 * ("58.34", "0.000125"). Returns buf (32 bytes suffice). */
const char *cli_money(int64_t v, char *buf, size_t n);
/* The six-account view of one line (`directory show --msisdn`, `query owner`), text or one JSON
 * object on stdout. dir holds at least the line's part (cdr_dir_read_line); ps (may be NULL)
 * marks plans missing from the store. Returns CLI_EXIT_OK, or CLI_EXIT_NOTFOUND (reported). */
struct cdr_dir;
struct cdr_plan_set;
/* live (may be NULL) and cycle: `query owner` adds the line's credit status of that cycle
 * (cycle 0: `directory show`, no status). */
struct cdr_live_line;
int cli_show_line(const char *cmd, const struct cdr_dir *dir, const struct cdr_plan_set *ps,
                  const char *msisdn, const struct cdr_live_line *live, uint32_t cycle, int json);
/* A line's credit status: JSON members `,"line_status":..,"warned_at":..,"suspended_at":..`
 * (l NULL = active), or one text line "credit status: ...". */
void cli_credit_status_json(const struct cdr_live_line *l);
void cli_credit_status_text(const struct cdr_live_line *l);
/* Print the usage of cs. */
void cli_usage(const cli_spec *cs, FILE *f);
/* Print "cdrate CMD: message" and the usage on stderr; returns 2 (the usage exit code). */
int cli_usage_error(const cli_spec *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free what cli_parse allocated for CLI_LIST options. */
void cli_spec_free(const cli_spec *cs);

/* --source and --timezone of collect and decode into cc (validated; usage error reported and
 * CLI_EXIT_USAGE returned when malformed). Either may be NULL (not given). */
struct cdr_coll_config;
int cli_coll_source_tz(const cli_spec *cs, const char *source, const char *tz,
                       struct cdr_coll_config *cc);

/* Parse a whole non-negative decimal number (suffixes k, M for 10^3, 10^6 accepted); 0 on
 * success. */
int cli_parse_count(const char *s, uint64_t *out);
/* A billing cycle as written on the command line, "2026-10" -> 202610; 0 when malformed. */
uint32_t cli_parse_cycle(const char *s);
/* Print "cdrate CMD: file:line:column: message" for a cdr_diag on stderr (a JSON error object
 * under --json). */
struct cdr_diag;
void cli_report(const char *cmd, const struct cdr_diag *dg);
/* The fraud rules compiled into st (`cdrate fraud compile`), malloc'd; NULL when there are none
 * (*failed 0) or when they cannot be read (*failed 1, reported). */
struct cdr_store;
struct cdr_fraud_rules *cli_fraud_rules(const char *cmd, struct cdr_store *st, int *failed);
/* The same for a message with no position; code is a cdr_err (its name goes into the JSON). */
void cli_error(const char *cmd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a position in a binary input: "cdrate CMD: file: byte OFFSET: message", or under
 * --json {"error":{"code":...,"file":...,"offset":OFFSET,"message":...}} (dg's line and column are
 * not used). */
void cli_report_offset(const char *cmd, const struct cdr_diag *dg, uint64_t offset);
/* s as a JSON string (with its quotes) on f: control characters escaped, invalid UTF-8 bytes
 * written as U+FFFD, so that any byte sequence gives valid JSON. */
void cli_json_str(FILE *f, const char *s);

/* Open the store at path for a command. mode CLI_STORE_READ (read-only), CLI_STORE_WRITE (must
 * exist) or CLI_STORE_CREATE (plans compile, directory load: created when absent). A path that
 * holds no store is refused with "no cdrate store at PATH" (reported). Returns CLI_EXIT_OK with
 * *out set, or the exit code to return (CLI_EXIT_REFUSED, CLI_EXIT_FAIL) after reporting. */
struct cdr_store;
enum { CLI_STORE_READ, CLI_STORE_WRITE, CLI_STORE_CREATE };
int cli_store_open(const char *cmd, const char *path, int mode, struct cdr_store **out);

/* "-" means standard input / output for --in and --out. cli_fopen_out opens path for writing
 * ("w"), cli_fopen_in for reading; cli_fclose closes what they opened (not stdin or stdout, which
 * it only flushes) and returns 0, or EOF when a write failed. */
FILE *cli_fopen_in(const char *path);
FILE *cli_fopen_out(const char *path);
int cli_fclose(FILE *f);

/* Progress on a terminal: "\rLABEL: done / total (pct%, ETA 12 s)" when total is known (> 0),
 * "\rLABEL: done" otherwise, at most every 200 ms; cli_progress_end ends the line. Does nothing
 * unless cli_progress_enabled(quiet). */
typedef struct cli_progress {
    int pg_on;
    const char *pg_label;
    const char *pg_unit;
    uint64_t pg_t0_ns, pg_last_ns;
} cli_progress;
void cli_progress_start(cli_progress *pg, int quiet, const char *label, const char *unit);
void cli_progress_update(cli_progress *pg, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *pg);
/* cli_progress_update as a cdr_progress callback (cdr_progress.h): arg is the cli_progress. */
void cli_progress_cb(void *arg, uint64_t done, uint64_t total);
/* Non-zero when progress lines should be drawn (stderr is a terminal and not --quiet). */
int cli_progress_enabled(int quiet);

#endif
