/* cli_util.c - the option table parser and helpers shared by the subcommands. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_error.h"
#include "cli.h"

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
}

int cli_usage_error(const cli_spec *cs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cdrate %s: ", cs->cs_cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cli_usage(cs, stderr);
    return 2;
}

int cli_parse(const cli_spec *cs, int argc, char **argv)
{
    size_t n = 0;
    while (cs->cs_opts && cs->cs_opts[n].co_name)
        n++;
    struct option *lo = calloc(n + 2, sizeof *lo);
    if (!lo)
        return CLI_USAGE;
    for (size_t i = 0; i < n; i++) {
        lo[i].name = cs->cs_opts[i].co_name;
        lo[i].has_arg = cs->cs_opts[i].co_kind == CLI_FLAG ? no_argument : required_argument;
        lo[i].val = (int)i + 1;
    }
    lo[n].name = "help";
    lo[n].val = (int)n + 1;
    int rc = 0, c;
    optind = 1;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        if (c == (int)n + 1) {
            cli_usage(cs, stdout);
            rc = CLI_HELP;
            break;
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
    char buf[1024];
    fprintf(stderr, "cdrate %s: %s\n", cmd, cdr_diag_format(dg, buf, sizeof buf));
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
