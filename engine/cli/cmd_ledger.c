/* cmd_ledger.c - `cdrate ledger cat` and `cdrate ledger totals`: read the rated-CDR ledger
 * (cdr_ledger.h, docs/ledger.md) through a read-only handle, also while the archiver writes. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_ledger.h"
#include "cdr_rate.h"
#include "cli.h"

/* ---- shared --------------------------------------------------------------------------------- */

static int cycle_valid(uint64_t c)
{
    return c >= 197001 && c <= 999912 && c % 100 >= 1 && c % 100 <= 12;
}

static int open_readonly(const char *cmd, const char *dir, cdr_ledger **lg)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    /* every writer creates DIR/LOCK: a folder without it is a wrong path, not an empty ledger */
    char lock[4096];
    struct stat sb;
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && stat(lock, &sb) != 0) {
        cli_error(cmd, CDR_NOTFOUND, "%s: not a ledger (no LOCK file; cdrate archive creates it)",
                  dir);
        return 1;
    }
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    if (cdr_ledger_open(dir, &lo, lg, &dg)) {
        cli_report(cmd, &dg);
        return 1;
    }
    return 0;
}

/* The cycles to read: the one asked for, or all of them. Returns the count or -1 (reported). */
static int cycles_to_read(const char *cmd, const char *dir, uint64_t cycle, uint32_t **out)
{
    if (cycle) {
        *out = malloc(sizeof **out);
        if (!*out)
            return -1;
        **out = (uint32_t)cycle;
        return 1;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int n = cdr_ledger_cycles(dir, out, &dg);
    if (n < 0)
        cli_report(cmd, &dg);
    return n;
}

/* The plans of --store (if given) into *ps. Returns CLI_EXIT_OK or the exit code (reported). */
static int load_plans(const char *cmd, const char *store, cdr_plan_set **ps)
{
    *ps = NULL;
    if (!store)
        return CLI_EXIT_OK;
    cdr_store *st = NULL;
    int rc = cli_store_open(cmd, store, CLI_STORE_READ, &st);
    if (rc != CLI_EXIT_OK)
        return rc;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_plan_set_load(st, ps, &dg)) {
        cli_report(cmd, &dg);
        rc = CLI_EXIT_FAIL;
    }
    cdr_store_close(st);
    return rc;
}

/* ---- cat ------------------------------------------------------------------------------------ */

typedef struct cat_ctx {
    const cdr_plan_set *ct_ps; /* NULL without --store */
    const cdr_plan *ct_pl;     /* the last plan version looked up (records come in runs) */
    int ct_json;
    int ct_progress;
    uint64_t ct_n;
    uint32_t ct_cycle;
    cdr_diag ct_dg; /* why the callback stopped the scan */
} cat_ctx;

/* The plan version (id, version) of the store, or NULL. */
static const cdr_plan *plan_version(const cdr_plan_set *ps, const char *id, uint32_t version)
{
    int f = cdr_plan_set_family(ps, id);
    if (f < 0)
        return NULL;
    for (uint32_t i = ps->ps_family_off[f]; i < ps->ps_family_off[f + 1]; i++)
        if (ps->ps_plans[i]->pl_version == version)
            return ps->ps_plans[i];
    return NULL;
}

static int cat_rec(const cdr_ledger_rec *rec, uint32_t partition, void *ctx)
{
    cat_ctx *ct = ctx;
    const cdr_rated *rr = &rec->lr_rated;
    const cdr_plan *pl = NULL;
    if (ct->ct_ps && rec->lr_plan[0]) {
        pl = ct->ct_pl;
        if (!pl || pl->pl_version != rr->rr_plan_version || strcmp(pl->pl_id, rec->lr_plan))
            pl = ct->ct_pl = plan_version(ct->ct_ps, rec->lr_plan, rr->rr_plan_version);
        if (!pl)
            return cdr_diag_set(&ct->ct_dg, CDR_NOTFOUND, NULL, 0, 0,
                                "cycle %" PRIu32 " partition %" PRIu32 " offset %" PRId64
                                ": plan %s version %" PRIu32 " is not in the store",
                                ct->ct_cycle, partition, rec->lr_offset, rec->lr_plan,
                                rr->rr_plan_version);
    }
    char line[2048];
    int len = ct->ct_json
                  ? cdr_rated_format_json_id(&rec->lr_cdr, rr, rec->lr_plan, pl, line, sizeof line)
                  : cdr_rated_format_csv_id(&rec->lr_cdr, rr, rec->lr_plan, pl, line, sizeof line);
    if (len < 0)
        return cdr_diag_set(&ct->ct_dg, CDR_LIMIT, NULL, 0, 0,
                            "cycle %" PRIu32 " partition %" PRIu32 " offset %" PRId64
                            ": record too long to print",
                            ct->ct_cycle, partition, rec->lr_offset);
    fwrite(line, 1, (size_t)len, stdout);
    if (++ct->ct_n % 65536 == 0 && ct->ct_progress)
        fprintf(stderr, "\rledger: %" PRIu64 " records", ct->ct_n);
    return 0;
}

static int ledger_cat(int argc, char **argv)
{
    const char *dir = NULL, *msisdn = NULL, *store = NULL;
    uint64_t cycle = 0;
    int json = 0, quiet = 0;
    static const char *const formats[] = {"csv", "json", NULL};
    cli_opt opts[] = {
        {"ledger", CLI_STRING, &dir, "DIR", "the ledger directory"},
        {"cycle", CLI_COUNT, &cycle, "YYYYMM", "only this billing cycle (default all)", 197001,
         999912},
        {"msisdn", CLI_STRING, &msisdn, "N", "only this served MSISDN (through the index)"},
        {"store", CLI_STRING, &store, "DIR",
         "LMDB store with the plans: zone, bundle and band names as cdrate rate prints them"},
        {"format", CLI_CHOICE, &json, "F", "output format, default csv", 0, 0, formats},
        {"quiet", CLI_FLAG, &quiet, NULL, "no progress"},
        {0},
    };
    const cli_spec cs = {
        "ledger cat",
        "--ledger DIR [--cycle YYYYMM] [--msisdn N] [--store STORE] [--format csv|json]",
        "Print the records of the ledger (all cycles, or one; all subscribers, or one) in\n"
        "the rated-record format of cdrate rate (docs/rated-format.md), cycle by cycle in\n"
        "(partition, offset) order. With --store the lines are byte-identical to cdrate\n"
        "rate's; without it zone, bundle and bands are printed as their index (\"#2\").",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (!dir)
        return cli_usage_error(&cs, "--ledger is required");
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (cycle && !cycle_valid(cycle))
        return cli_usage_error(&cs, "--cycle must be YYYYMM, not %" PRIu64, cycle);
    if (msisdn && (!*msisdn || strlen(msisdn) >= CDR_NUMBER_MAX))
        return cli_usage_error(&cs, "--msisdn must have 1 to %d characters", CDR_NUMBER_MAX - 1);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_plan_set *ps = NULL;
    cdr_ledger *lg = NULL;
    uint32_t *cycles = NULL;
    int status = load_plans("ledger cat", store, &ps);
    if (status != CLI_EXIT_OK)
        return status;
    status = CLI_EXIT_FAIL;
    if (open_readonly("ledger cat", dir, &lg))
        goto done;
    int ncyc = cycles_to_read("ledger cat", dir, cycle, &cycles);
    if (ncyc < 0)
        goto done;
    cat_ctx ct = {.ct_ps = ps, .ct_json = json, .ct_progress = cli_progress_enabled(quiet)};
    cdr_diag_clear(&ct.ct_dg);
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    if (!json)
        printf("%s\n", cdr_rated_csv_header);
    int rc = 0;
    for (int i = 0; i < ncyc && !rc; i++) {
        ct.ct_cycle = cycles[i];
        rc = msisdn ? cdr_ledger_subscriber(lg, cycles[i], msisdn, cat_rec, &ct, &dg)
                    : cdr_ledger_scan(lg, cycles[i], cat_rec, &ct, &dg);
    }
    if (ct.ct_progress && ct.ct_n >= 65536)
        fputc('\n', stderr);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("ledger cat", CDR_EIO, "write error on the standard output");
        goto done;
    }
    if (rc) {
        cli_report("ledger cat", ct.ct_dg.dg_code ? &ct.ct_dg : &dg);
        goto done;
    }
    status = 0;
done:
    free(cycles);
    cdr_ledger_close(lg);
    cdr_plan_set_release(ps);
    return status;
}

/* ---- totals ---------------------------------------------------------------------------------
 * Money is never added across currencies: every figure of money is per currency. Records whose
 * currency is unknown (rated wire version 1, no --store or a plan the store lacks) are shown
 * under "???". */

#define UNKNOWN_CURRENCY "???"

static const char *currency_label(const cdr_ledger_money *lm)
{
    return lm->lm_currency[0] ? lm->lm_currency : UNKNOWN_CURRENCY;
}

/* The currency of plan (id, version) from the plans of --store (ctx), for records without one. */
static void resolve_currency(const char *plan_id, uint32_t version, char *cur, void *ctx)
{
    const cdr_plan *pl = plan_version(ctx, plan_id, version);
    if (pl)
        memcpy(cur, pl->pl_currency, 4);
}

static cdr_money money_total(const cdr_ledger_money *lm)
{
    cdr_money c = 0;
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        c += lm->lm_charge_by_service[s];
    return c;
}

static const char *money6(cdr_money v, char *buf, size_t n)
{
    return cdr_money_format(v, 6, CDR_ROUND_HALF_UP, buf, n);
}

static void totals_text(const char *label, const cdr_ledger_totals *t)
{
    char m[32];
    if (t->lt_ncurrencies == 0)
        printf("%-7s %-8s %-7s %14" PRIu64 " %20s %22s\n", label, "-", "total", t->lt_records, "",
               "-");
    for (int k = 0; k < t->lt_ncurrencies; k++) {
        const cdr_ledger_money *lm = &t->lt_currency[k];
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            printf("%-7s %-8s %-7s %14" PRIu64 " %20" PRIu64 " %22s\n", label, currency_label(lm),
                   cdr_service_name(s), lm->lm_records_by_service[s], lm->lm_units_by_service[s],
                   money6(lm->lm_charge_by_service[s], m, sizeof m));
        printf("%-7s %-8s %-7s %14" PRIu64 " %20s %22s\n", label, currency_label(lm), "total",
               lm->lm_records, "", money6(money_total(lm), m, sizeof m));
    }
}

/* "records":..,"services":[...],"charges":{..},"charges_micro":{..},"currencies":[...] (no
 * braces) */
static void totals_json(const cdr_ledger_totals *t)
{
    char m[32];
    printf("\"records\":%" PRIu64 ",\"services\":[", t->lt_records);
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        printf("%s{\"service\":\"%s\",\"records\":%" PRIu64 ",\"units\":%" PRIu64 "}", s ? "," : "",
               cdr_service_name(s), t->lt_records_by_service[s], t->lt_units_by_service[s]);
    printf("],\"charges\":{");
    for (int k = 0; k < t->lt_ncurrencies; k++)
        printf("%s\"%s\":\"%s\"", k ? "," : "", currency_label(&t->lt_currency[k]),
               money6(money_total(&t->lt_currency[k]), m, sizeof m));
    printf("},\"charges_micro\":{");
    for (int k = 0; k < t->lt_ncurrencies; k++)
        printf("%s\"%s\":%" PRId64, k ? "," : "", currency_label(&t->lt_currency[k]),
               money_total(&t->lt_currency[k]));
    printf("},\"currencies\":[");
    for (int k = 0; k < t->lt_ncurrencies; k++) {
        const cdr_ledger_money *lm = &t->lt_currency[k];
        const cdr_money c = money_total(lm);
        printf("%s{\"currency\":\"%s\",\"records\":%" PRIu64
               ",\"charge\":\"%s\",\"charge_micro\":%" PRId64 ",\"services\":[",
               k ? "," : "", currency_label(lm), lm->lm_records, money6(c, m, sizeof m), c);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            printf("%s{\"service\":\"%s\",\"records\":%" PRIu64 ",\"units\":%" PRIu64
                   ",\"charge\":\"%s\",\"charge_micro\":%" PRId64 "}",
                   s ? "," : "", cdr_service_name(s), lm->lm_records_by_service[s],
                   lm->lm_units_by_service[s], money6(lm->lm_charge_by_service[s], m, sizeof m),
                   lm->lm_charge_by_service[s]);
        printf("]}");
    }
    printf("]");
}

static int ledger_totals(int argc, char **argv)
{
    const char *dir = NULL, *store = NULL;
    uint64_t cycle = 0;
    int json = 0;
    cli_opt opts[] = {
        {"ledger", CLI_STRING, &dir, "DIR", "the ledger directory"},
        {"cycle", CLI_COUNT, &cycle, "YYYYMM", "only this billing cycle (default all)", 197001,
         999912},
        {"store", CLI_STRING, &store, "DIR",
         "LMDB store with the plans: the currency of records written before it was recorded"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on one line"},
        {0},
    };
    const cli_spec cs = {
        "ledger totals", "--ledger DIR [--cycle YYYYMM] [--store STORE] [--json]",
        "Records, units and charges per cycle, currency and service, and per currency over\n"
        "all cycles when there are several. Currencies are never added together. Charges are\n"
        "exact: 6 decimals, and micro-units in JSON. Records archived before the rated format\n"
        "carried the currency (version 1) take it from their plan in --store, else count\n"
        "under \"???\".",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (!dir)
        return cli_usage_error(&cs, "--ledger is required");
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (cycle && !cycle_valid(cycle))
        return cli_usage_error(&cs, "--cycle must be YYYYMM, not %" PRIu64, cycle);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_plan_set *ps = NULL;
    cdr_ledger *lg = NULL;
    uint32_t *cycles = NULL;
    cdr_ledger_totals *tot = NULL;
    int status = load_plans("ledger totals", store, &ps);
    if (status != CLI_EXIT_OK)
        return status;
    status = CLI_EXIT_FAIL;
    if (open_readonly("ledger totals", dir, &lg))
        goto done;
    int ncyc = cycles_to_read("ledger totals", dir, cycle, &cycles);
    if (ncyc < 0)
        goto done;
    tot = calloc((size_t)ncyc + 1, sizeof *tot);
    if (!tot) {
        cli_error("ledger totals", CDR_ENOMEM, "out of memory");
        goto done;
    }
    cdr_ledger_totals *all = &tot[ncyc];
    for (int i = 0; i < ncyc; i++) {
        if (cdr_ledger_totals_get(lg, cycles[i], ps ? resolve_currency : NULL, ps, &tot[i], &dg)) {
            cli_report("ledger totals", &dg);
            goto done;
        }
        if (cdr_ledger_totals_add(all, &tot[i])) {
            cli_error("ledger totals", CDR_LIMIT, "the ledger holds more than %d currencies",
                      CDR_LEDGER_MAX_CURRENCIES);
            goto done;
        }
    }
    if (json) {
        printf("{\"cycles\":[");
        for (int i = 0; i < ncyc; i++) {
            printf("%s{\"cycle\":%" PRIu32 ",", i ? "," : "", cycles[i]);
            totals_json(&tot[i]);
            printf("}");
        }
        printf("],");
        totals_json(all);
        printf("}\n");
    } else {
        printf("%-7s %-8s %-7s %14s %20s %22s\n", "cycle", "currency", "service", "records",
               "units", "charge");
        for (int i = 0; i < ncyc; i++) {
            char label[16];
            snprintf(label, sizeof label, "%" PRIu32, cycles[i]);
            totals_text(label, &tot[i]);
        }
        if (ncyc > 1)
            totals_text("all", all);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("ledger totals", CDR_EIO, "write error on the standard output");
        goto done;
    }
    status = 0;
done:
    free(tot);
    free(cycles);
    cdr_ledger_close(lg);
    cdr_plan_set_release(ps);
    return status;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static void ledger_usage(FILE *f)
{
    fprintf(f,
            "usage: cdrate ledger cat --ledger DIR [--cycle YYYYMM] [--msisdn N] [--store "
            "STORE] [--format csv|json]\n"
            "       cdrate ledger totals --ledger DIR [--cycle YYYYMM] [--store STORE] [--json]\n"
            "\n"
            "cat      print the records (cdrate ledger cat --help)\n"
            "totals   records, units and charges per currency and service (cdrate ledger "
            "totals --help)\n");
}

int cmd_ledger(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "cat"))
        return ledger_cat(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "totals"))
        return ledger_totals(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        ledger_usage(stdout);
        return 0;
    }
    if (argc < 2)
        cli_error("ledger", CDR_USAGE, "missing verb");
    else
        cli_error("ledger", CDR_USAGE, "unknown verb '%s'", argv[1]);
    ledger_usage(stderr);
    return 2;
}
