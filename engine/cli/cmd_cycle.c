/* cmd_cycle.c - `cdrate cycle close YYYY-MM --store STORE` and `cdrate cycle list --store STORE`:
 * closing billing cycles against new usage (cdr_store.h, docs/billing.md "Closing a cycle"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_store.h"
#include "cli.h"

/* "2026-11" for 202611 into buf (8 bytes). */
static const char *cycle_text(uint32_t cycle, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u", cycle / 100 % 10000, cycle % 100);
    return buf;
}

/* The current month (UTC) as YYYYMM; CDR_CYCLE_NOW=YYYY-MM overrides the clock (a test hook). */
static uint32_t current_cycle(void)
{
    const char *hook = getenv("CDR_CYCLE_NOW");
    const uint32_t h = hook ? cli_parse_cycle(hook) : 0;
    if (h)
        return h;
    const time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return (uint32_t)(tm.tm_year + 1900) * 100 + (uint32_t)tm.tm_mon + 1;
}

int cli_cycle_check_closable(const char *cmd, uint32_t cycle)
{
    const uint32_t now = current_cycle();
    if (cycle <= now)
        return CLI_EXIT_OK;
    char a[16], b[16];
    cli_error(cmd, CDR_RANGE,
              "cycle %s is in the future (the current month is %s, UTC): only a cycle that has "
              "begun can be closed; nothing changed",
              cycle_text(cycle, a, sizeof a), cycle_text(now, b, sizeof b));
    return CLI_EXIT_REFUSED;
}

int cli_cycle_close(const char *cmd, const char *store, uint32_t cycle, int json, int quiet)
{
    int ec = cli_cycle_check_closable(cmd, cycle);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_store *st = NULL;
    if ((ec = cli_store_open(cmd, store, CLI_STORE_WRITE, &st)) != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_time when = 0;
    int rc = cdr_cycle_closed_at(st, cycle, &when, &dg);
    const int already = rc == 0;
    if (rc == CDR_NOTFOUND) {
        when = (cdr_time)time(NULL);
        rc = cdr_cycle_close(st, cycle, when, &dg);
        /* a close by another process meanwhile: its time stays, which is the one to show */
        if (!rc)
            rc = cdr_cycle_closed_at(st, cycle, &when, &dg);
    }
    uint32_t next = 0;
    if (!rc && cdr_cycle_next(cycle))
        rc = cdr_cycle_first_open(st, cdr_cycle_next(cycle), &next, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report(cmd, &dg);
        return rc == CDR_FORMAT || rc == CDR_RANGE ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    char c[16], n[16], ts[40];
    cdr_time_format(when, 0, 1, ts, sizeof ts);
    cycle_text(cycle, c, sizeof c);
    cycle_text(next, n, sizeof n);
    if (json) {
        printf("{\"cycle\":\"%s\",\"closed\":true,\"already_closed\":%s,\"closed_at\":\"%s\","
               "\"late_usage_goes_to\":",
               c, already ? "true" : "false", ts);
        if (next)
            printf("\"%s\"}\n", n);
        else
            printf("null}\n");
    } else if (!quiet) {
        if (already)
            fprintf(stderr, "cdrate %s: cycle %s was already closed (at %s): nothing changed\n",
                    cmd, c, ts);
        else
            fprintf(stderr,
                    "cdrate %s: cycle %s closed at %s: its late usage is rated into %s (flagged "
                    "late)\n",
                    cmd, c, ts, next ? n : "no cycle");
    }
    return CLI_EXIT_OK;
}

static int cycle_list(const char *store, int json)
{
    cdr_store *st = NULL;
    int ec = cli_store_open("cycle", store, CLI_STORE_READ, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint32_t *list = NULL;
    size_t n = 0;
    int rc = cdr_cycle_closed_list(st, &list, &n, &dg);
    if (json && !rc) {
        printf("{\"store\":");
        cli_json_str(stdout, store);
        printf(",\"closed\":[");
    }
    for (size_t i = 0; i < n && !rc; i++) {
        cdr_time when = 0;
        if ((rc = cdr_cycle_closed_at(st, list[i], &when, &dg)) != 0)
            break;
        char c[16], ts[40];
        cycle_text(list[i], c, sizeof c);
        cdr_time_format(when, 0, 1, ts, sizeof ts);
        if (json)
            printf("%s{\"cycle\":\"%s\",\"closed_at\":\"%s\"}", i ? "," : "", c, ts);
        else
            printf("%s  closed %s\n", c, ts);
    }
    cdr_store_close(st);
    free(list);
    if (rc) {
        if (json)
            printf("\n");
        cli_report("cycle", &dg);
        return rc == CDR_FORMAT ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
    }
    if (json)
        printf("]}\n");
    else if (n == 0)
        fprintf(stderr, "cdrate cycle: no cycle is closed in %s\n", store);
    if (cli_fclose(stdout) != 0) {
        cli_error("cycle", CDR_EIO, "write error on standard output");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cmd_cycle(int argc, char **argv)
{
    const char *store = NULL;
    int quiet = 0, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (required; must exist)"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout, errors as JSON on stderr"},
        {"quiet", CLI_FLAG, &quiet, NULL, "close: print errors only"},
        {0},
    };
    const cli_spec cs = {
        "cycle",
        "close YYYY-MM --store STORE [--json] [--quiet]\n"
        "list --store STORE [--json]",
        "close  close a billing cycle against new usage: from then on every rater with this\n"
        "       store (rate, rate-stream at its next reload, pipeline) rates a record of that\n"
        "       cycle into the first open cycle after it, flagged late. Closing a closed cycle\n"
        "       changes nothing (exit 0); a cycle after the current month (UTC) is refused\n"
        "       (exit 4). A close is final.\n"
        "list   the closed cycles, oldest first, with when each was closed\n"
        "docs/billing.md, \"Closing a cycle\"",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "missing verb (close or list)");
    const char *verb = argv[pos];
    if (!strcmp(verb, "close")) {
        if (pos + 1 >= argc)
            return cli_usage_error(&cs, "close takes one cycle YYYY-MM");
        if (pos + 2 != argc)
            return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos + 2]);
        if (!store)
            return cli_usage_error(&cs, "--store is required");
        const uint32_t cycle = cli_parse_cycle(argv[pos + 1]);
        if (!cycle)
            return cli_usage_error(
                &cs, "'%s' is not a cycle YYYY-MM (year from 1970, month 01..12)", argv[pos + 1]);
        int ec = cli_cycle_close("cycle", store, cycle, json, quiet);
        if (ec == CLI_EXIT_OK && cli_fclose(stdout) != 0) {
            cli_error("cycle", CDR_EIO, "write error on standard output");
            return CLI_EXIT_FAIL;
        }
        return ec;
    }
    if (!strcmp(verb, "list")) {
        if (pos + 1 != argc)
            return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos + 1]);
        if (!store)
            return cli_usage_error(&cs, "--store is required");
        return cycle_list(store, json);
    }
    return cli_usage_error(&cs, "unknown verb '%s' (close or list)", verb);
}
