/* cli_util.c - the option table parser and helpers shared by the subcommands. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_record.h"
#include "cdr_store.h"
#include "cdr_fraud.h"
#include "cli.h"

int cli_json;

static uint64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cli_parse_count(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    uint64_t mul = 1;
    if (*p == 'k' || *p == 'K')
        mul = 1000, p++;
    else if (*p == 'M')
        mul = 1000000, p++;
    if (*p || v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int cli_has_opt(const cli_spec *cs, const char *name)
{
    for (const cli_opt *co = cs->cs_opts; co && co->co_name; co++)
        if (!strcmp(co->co_name, name))
            return 1;
    return 0;
}

void cli_usage(const cli_spec *cs, FILE *f)
{
    /* one "usage: cdrate CMD ..." line per synopsis line */
    const char *s = cs->cs_synopsis;
    for (int first = 1; *s; first = 0) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        fprintf(f, "%s cdrate %s %.*s\n", first ? "usage:" : "      ", cs->cs_cmd, (int)n, s);
        s += n + (nl ? 1 : 0);
    }
    if (cs->cs_about)
        fprintf(f, "\n%s\n", cs->cs_about);
    fprintf(f, "\noptions:\n");
    for (const cli_opt *co = cs->cs_opts; co && co->co_name; co++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", co->co_name, co->co_arg ? " " : "",
                 co->co_arg ? co->co_arg : "");
        fprintf(f, "  %-24s %s", left, co->co_help);
        if (co->co_kind == CLI_CHOICE) {
            fputs(" (", f);
            for (int i = 0; co->co_choices[i]; i++)
                fprintf(f, "%s%s", i ? ", " : "", co->co_choices[i]);
            fputc(')', f);
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-24s %s\n", "--help", "print this help and exit");
    if (!cli_has_opt(cs, "version"))
        fprintf(f, "  %-24s %s\n", "--version", "print the version and exit");
    fprintf(f, "  %-24s %s\n", "--group-readable",
            "files this command creates: 0640 in 0750 folders (default 0600 in 0700)");
    fprintf(f, "\nexit codes: 0 ok, 1 failure, 2 bad command line, 3 records rejected, 4 refused,\n"
               "5 unratable records (rate), 6 not found (query, payments, rerate, statement,\n"
               "users, requests), 7 not billed (statement); docs/operations.md\n");
}

static void json_error(const char *code, const cdr_diag *dg, const char *msg)
{
    fputs("{\"error\":{\"code\":", stderr);
    cli_json_str(stderr, code);
    if (dg && dg->dg_file[0]) {
        fputs(",\"file\":", stderr);
        cli_json_str(stderr, dg->dg_file);
    }
    if (dg && dg->dg_line > 0)
        fprintf(stderr, ",\"line\":%d", dg->dg_line);
    if (dg && dg->dg_column > 0)
        fprintf(stderr, ",\"column\":%d", dg->dg_column);
    fputs(",\"message\":", stderr);
    cli_json_str(stderr, msg);
    fputs("}}\n", stderr);
}

int cli_usage_error(const cli_spec *cs, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cli_json) {
        json_error(cdr_err_name(CDR_USAGE), NULL, msg);
        return CLI_EXIT_USAGE;
    }
    fprintf(stderr, "cdrate %s: %s\n", cs->cs_cmd, msg);
    cli_usage(cs, stderr);
    return CLI_EXIT_USAGE;
}

int cli_parse(const cli_spec *cs, int argc, char **argv)
{
    size_t n = 0;
    while (cs->cs_opts && cs->cs_opts[n].co_name)
        n++;
    struct option *lo = calloc(n + 4, sizeof *lo);
    if (!lo)
        return CLI_USAGE;
    for (size_t i = 0; i < n; i++) {
        lo[i].name = cs->cs_opts[i].co_name;
        lo[i].has_arg = cs->cs_opts[i].co_kind == CLI_FLAG ? no_argument : required_argument;
        lo[i].val = (int)i + 1;
    }
    lo[n].name = "help";
    lo[n].val = (int)n + 1;
    lo[n + 1].name = "version";
    lo[n + 1].val = (int)n + 2;
    lo[n + 2].name = "group-readable";
    lo[n + 2].val = (int)n + 3;
    /* --json (or --stats) decides the form of every error, including those of the parse itself */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        for (size_t k = 0; k < n; k++)
            if (cs->cs_opts[k].co_kind == CLI_FLAG &&
                (!strcmp(cs->cs_opts[k].co_name, "json") ||
                 !strcmp(cs->cs_opts[k].co_name, "stats")) &&
                argv[i][0] == '-' && argv[i][1] == '-' &&
                !strcmp(argv[i] + 2, cs->cs_opts[k].co_name))
                cli_json = 1;
    int rc = 0, c;
    optind = 1;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        if (c == (int)n + 1) {
            cli_usage(cs, stdout);
            rc = CLI_HELP;
            break;
        }
        if (c == (int)n + 2) {
            printf("cdrate %s\n", CLI_VERSION);
            rc = CLI_HELP;
            break;
        }
        if (c == (int)n + 3) {
            umask(CLI_UMASK_GROUP);
            continue;
        }
        if (c <= 0 || c > (int)n) {
            const char *bad = argv[optind - 1] ? argv[optind - 1] : "?";
            cli_usage_error(cs, c == ':' ? "option %s needs a value" : "unknown option '%s'", bad);
            rc = CLI_USAGE;
            break;
        }
        const cli_opt *co = &cs->cs_opts[c - 1];
        switch (co->co_kind) {
        case CLI_FLAG:
            *(int *)co->co_dest = 1;
            break;
        case CLI_STRING:
            *(const char **)co->co_dest = optarg;
            break;
        case CLI_COUNT: {
            uint64_t v;
            if (cli_parse_count(optarg, &v) || v < co->co_min || (co->co_max && v > co->co_max)) {
                if (co->co_max)
                    cli_usage_error(cs, "--%s must be a whole number from %llu to %llu, not '%s'",
                                    co->co_name, (unsigned long long)co->co_min,
                                    (unsigned long long)co->co_max, optarg);
                else if (co->co_min)
                    cli_usage_error(cs, "--%s must be a whole number >= %llu, not '%s'",
                                    co->co_name, (unsigned long long)co->co_min, optarg);
                else
                    cli_usage_error(cs, "--%s must be a whole number, not '%s'", co->co_name,
                                    optarg);
                rc = CLI_USAGE;
            } else {
                *(uint64_t *)co->co_dest = v;
            }
            break;
        }
        case CLI_CHOICE: {
            int found = -1;
            for (int i = 0; co->co_choices[i]; i++)
                if (!strcmp(optarg, co->co_choices[i]))
                    found = i;
            if (found < 0) {
                cli_usage_error(cs, "--%s: unknown value '%s'", co->co_name, optarg);
                rc = CLI_USAGE;
            } else {
                *(int *)co->co_dest = found;
            }
            break;
        }
        case CLI_LIST: {
            cli_list *li = co->co_dest;
            if (!li->li_items && !(li->li_items = calloc((size_t)argc, sizeof *li->li_items))) {
                rc = CLI_USAGE;
                break;
            }
            li->li_items[li->li_n++] = optarg;
            break;
        }
        }
    }
    free(lo);
    return rc ? rc : optind;
}

void cli_spec_free(const cli_spec *cs)
{
    for (const cli_opt *co = cs->cs_opts; co && co->co_name; co++)
        if (co->co_kind == CLI_LIST) {
            cli_list *li = co->co_dest;
            free(li->li_items);
            li->li_items = NULL;
            li->li_n = 0;
        }
}

void cli_report(const char *cmd, const cdr_diag *dg)
{
    if (cli_json) {
        json_error(cdr_err_name(dg->dg_code ? dg->dg_code : CDR_EINVAL), dg, dg->dg_msg);
        return;
    }
    char buf[1024];
    fprintf(stderr, "cdrate %s: %s\n", cmd, cdr_diag_format(dg, buf, sizeof buf));
}

void cli_error(const char *cmd, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cli_json)
        json_error(cdr_err_name(code), NULL, msg);
    else
        fprintf(stderr, "cdrate %s: %s\n", cmd, msg);
}

void cli_report_offset(const char *cmd, const cdr_diag *dg, uint64_t offset)
{
    if (!cli_json) {
        fprintf(stderr, "cdrate %s: %s%sbyte %llu: %s\n", cmd, dg->dg_file,
                dg->dg_file[0] ? ": " : "", (unsigned long long)offset, dg->dg_msg);
        return;
    }
    fputs("{\"error\":{\"code\":", stderr);
    cli_json_str(stderr, cdr_err_name(dg->dg_code ? dg->dg_code : CDR_EINVAL));
    if (dg->dg_file[0]) {
        fputs(",\"file\":", stderr);
        cli_json_str(stderr, dg->dg_file);
    }
    fprintf(stderr, ",\"offset\":%llu,\"message\":", (unsigned long long)offset);
    cli_json_str(stderr, dg->dg_msg);
    fputs("}}\n", stderr);
}

void cli_json_str(FILE *f, const char *s)
{
    cdr_json_write_str(f, s);
}

int cli_store_open(const char *cmd, const char *path, int mode, cdr_store **out)
{
    *out = NULL;
    char data[4200];
    struct stat sb;
    snprintf(data, sizeof data, "%s/data.mdb", path);
    if (mode != CLI_STORE_CREATE && (stat(data, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        cli_error(cmd, CDR_NOTFOUND,
                  "no cdrate store at %s (cdrate plans compile and cdrate directory load create "
                  "one)",
                  path);
        return CLI_EXIT_REFUSED;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_store_open(path, mode == CLI_STORE_READ ? MDB_RDONLY : 0, out, &dg) != 0) {
        cli_report(cmd, &dg);
        return CLI_EXIT_FAIL;
    }
    if ((*out)->st_lockless && !cli_json) /* the store of another user: a writer may be running */
        fprintf(stderr,
                "cdrate %s: note: %s is not writable by this user and is read without its lock "
                "file; a command writing to it at the same time can make this read inconsistent\n",
                cmd, path);
    return CLI_EXIT_OK;
}

FILE *cli_fopen_in(const char *path)
{
    return strcmp(path, "-") ? fopen(path, "r") : stdin;
}

FILE *cli_fopen_out(const char *path)
{
    return strcmp(path, "-") ? fopen(path, "w") : stdout;
}

int cli_fclose(FILE *f)
{
    if (!f)
        return 0;
    int bad = fflush(f) != 0 || ferror(f);
    if (f != stdout && f != stdin && fclose(f) != 0)
        bad = 1;
    return bad ? EOF : 0;
}

void cli_progress_start(cli_progress *pg, int quiet, const char *label, const char *unit)
{
    memset(pg, 0, sizeof *pg);
    pg->pg_on = cli_progress_enabled(quiet);
    pg->pg_label = label;
    pg->pg_unit = unit ? unit : "";
    pg->pg_t0_ns = cli_now_ns();
}

void cli_progress_update(cli_progress *pg, uint64_t done, uint64_t total)
{
    if (!pg->pg_on)
        return;
    uint64_t now = cli_now_ns();
    if (pg->pg_last_ns && now - pg->pg_last_ns < 200000000ull && !(total && done >= total))
        return;
    pg->pg_last_ns = now;
    if (total == 0) {
        fprintf(stderr, "\r%s: %llu %s\033[K", pg->pg_label, (unsigned long long)done, pg->pg_unit);
        return;
    }
    double frac = done >= total ? 1.0 : (double)done / (double)total;
    double secs = (double)(now - pg->pg_t0_ns) / 1e9;
    fprintf(stderr, "\r%s: %llu / %llu %s (%.0f%%", pg->pg_label, (unsigned long long)done,
            (unsigned long long)total, pg->pg_unit, frac * 100.0);
    if (frac > 0.0 && frac < 1.0 && secs > 0.5)
        fprintf(stderr, ", ETA %.0f s", secs / frac - secs);
    fputs(")\033[K", stderr);
}

void cli_progress_cb(void *arg, uint64_t done, uint64_t total)
{
    cli_progress_update(arg, done, total);
}

void cli_progress_end(cli_progress *pg)
{
    if (pg->pg_on && pg->pg_last_ns)
        fputc('\n', stderr);
    pg->pg_last_ns = 0;
}

int cli_progress_enabled(int quiet)
{
    return !quiet && isatty(STDERR_FILENO);
}

volatile sig_atomic_t cli_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

const char *cli_money(int64_t v, char *buf, size_t n)
{
    return cdr_money_text(v, buf, n);
}

cdr_fraud_rules *cli_fraud_rules(const char *cmd, cdr_store *st, int *failed)
{
    cdr_fraud_rules *frs;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    *failed = cdr_fraud_store_load(st, &frs, &dg) != 0;
    if (*failed)
        cli_report(cmd, &dg);
    return frs;
}

/* "2026-10" -> 202610; 0 when malformed (digits only: no sign, no space). */
uint32_t cli_parse_cycle(const char *s)
{
    if (strlen(s) != 7 || s[4] != '-' || strspn(s, "0123456789") != 4 ||
        strspn(s + 5, "0123456789") != 2)
        return 0;
    const uint32_t y = (uint32_t)atoi(s), m = (uint32_t)atoi(s + 5);
    return y >= 1970 && m >= 1 && m <= 12 ? y * 100 + m : 0;
}
