/* cmd_fraud.c - `cdrate fraud check FILE`, `fraud compile FILE --store STORE`, `fraud list`.
 *
 * check validates a fraud rules file (docs/fraud-rules.md) and changes nothing; compile validates
 * it before it touches the store, then replaces the store's rule set in one transaction; list
 * prints the stored rules as the evaluator sees them (windows, buckets, thresholds in base
 * units). Errors follow docs/operations.md: file:line:column on stderr, exit 4 for an invalid
 * file, JSON error objects under --json.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_fraud.h"
#include "cli.h"

/* Exit code of a failed parse or store call: the file or the request is at fault (refused, 4)
 * or the environment (1). */
static int fraud_exit(const cdr_diag *dg)
{
    switch (dg->dg_code) {
    case CDR_EIO:
    case CDR_ENOMEM:
    case CDR_STORE:
    case CDR_EINVAL:
        return CLI_EXIT_FAIL;
    default:
        return CLI_EXIT_REFUSED;
    }
}

/* A duration in the largest of d, h, min, s that gives a whole number: "1h", "90s", "2d". */
static const char *span_str(uint32_t s, char *buf, size_t size)
{
    static const struct {
        const char *name;
        uint32_t mult;
    } units[] = {{"d", 86400}, {"h", 3600}, {"min", 60}, {"s", 1}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (s % units[i].mult == 0) {
            snprintf(buf, size, "%" PRIu32 "%s", s / units[i].mult, units[i].name);
            break;
        }
    return buf;
}

static void print_rule_text(const cdr_fraud_rule *fr)
{
    char a[32], b[32], c[48];
    if (fr->fr_kind == CDR_FRAUD_COUNTRIES) {
        printf("%-24s countries  within %s", fr->fr_name, span_str(fr->fr_window, a, sizeof a));
        if (fr->fr_home_mcc)
            printf(", home %03u", (unsigned)fr->fr_home_mcc);
        printf("\n");
        return;
    }
    const int both = fr->fr_directions == ((1u << CDR_DIR_MO) | (1u << CDR_DIR_MT));
    printf("%-24s units      %s %s", fr->fr_name, cdr_service_name(fr->fr_service),
           both ? "any" : cdr_direction_name(fr->fr_directions & (1u << CDR_DIR_MT) ? 1 : 0));
    if (fr->fr_zone_kinds != (1u << CDR_ZONE_KIND_COUNT) - 1) {
        printf(", zone_kind");
        const char *sep = " ";
        for (int k = 0; k < CDR_ZONE_KIND_COUNT; k++)
            if (fr->fr_zone_kinds & (1u << k)) {
                printf("%s%s", sep, cdr_plan_zone_kind_name(k));
                sep = ",";
            }
    }
    for (int z = 0; z < fr->fr_nzones; z++)
        printf("%s%s", z ? "," : ", zones ", fr->fr_zones[z]);
    printf(", window %s (%" PRIu32 " buckets of %s), threshold %s\n",
           span_str(fr->fr_window, a, sizeof a), fr->fr_nbuckets,
           span_str(fr->fr_width, b, sizeof b),
           cdr_plan_units_format(fr->fr_service, fr->fr_threshold, c, sizeof c));
}

static void print_rule_json(const cdr_fraud_rule *fr)
{
    printf("{\"name\":");
    cli_json_str(stdout, fr->fr_name);
    printf(",\"kind\":\"%s\"", cdr_fraud_kind_name(fr->fr_kind));
    if (fr->fr_kind == CDR_FRAUD_COUNTRIES) {
        printf(",\"within_s\":%" PRIu32, fr->fr_window);
        if (fr->fr_home_mcc)
            printf(",\"home\":\"%03u\"", (unsigned)fr->fr_home_mcc);
        printf("}");
        return;
    }
    char c[48];
    printf(",\"service\":\"%s\",\"directions\":[", cdr_service_name(fr->fr_service));
    const char *sep = "";
    for (int d = 0; d < CDR_DIR_COUNT; d++)
        if (fr->fr_directions & (1u << d)) {
            printf("%s\"%s\"", sep, cdr_direction_name(d));
            sep = ",";
        }
    printf("],\"zone_kinds\":[");
    sep = "";
    for (int k = 0; k < CDR_ZONE_KIND_COUNT; k++)
        if (fr->fr_zone_kinds & (1u << k)) {
            printf("%s\"%s\"", sep, cdr_plan_zone_kind_name(k));
            sep = ",";
        }
    printf("],\"zones\":[");
    for (int z = 0; z < fr->fr_nzones; z++) {
        printf("%s", z ? "," : "");
        cli_json_str(stdout, fr->fr_zones[z]);
    }
    printf("],\"window_s\":%" PRIu32 ",\"bucket_s\":%" PRIu32 ",\"buckets\":%" PRIu32
           ",\"threshold\":%" PRIu64 ",\"threshold_text\":\"%s\"}",
           fr->fr_window, fr->fr_width, fr->fr_nbuckets, fr->fr_threshold,
           cdr_plan_units_format(fr->fr_service, fr->fr_threshold, c, sizeof c));
}

static int fraud_parse(const char *file, cdr_fraud_rules **frs, int json, const char *what)
{
    cdr_diag dg;
    if (cdr_fraud_parse_file(file, frs, &dg) == 0)
        return CLI_EXIT_OK;
    cli_report("fraud", &dg);
    if (!json && what)
        fprintf(stderr, "cdrate fraud: %s\n", what);
    return fraud_exit(&dg);
}

static int fraud_check(const char *file, int quiet, int json)
{
    cdr_fraud_rules *frs;
    int rc = fraud_parse(file, &frs, json, NULL);
    if (rc)
        return rc;
    if (json) {
        printf("{\"file\":");
        cli_json_str(stdout, file);
        printf(",\"rules\":%" PRIu32 "}\n", frs->frs_nrules);
    } else if (!quiet) {
        fprintf(stderr, "cdrate fraud: %s: %" PRIu32 " rule(s), valid\n", file, frs->frs_nrules);
    }
    cdr_fraud_rules_free(frs);
    return CLI_EXIT_OK;
}

static int fraud_compile(const char *file, const char *store, int quiet, int json)
{
    cdr_fraud_rules *frs;
    /* Check the file first: an invalid one must not even open the store for writing. */
    int rc = fraud_parse(file, &frs, json, "nothing stored; the previously active rules stay");
    if (rc)
        return rc;
    cdr_store *st;
    rc = cli_store_open("fraud", store, CLI_STORE_WRITE, &st);
    if (rc) {
        cdr_fraud_rules_free(frs);
        return rc;
    }
    cdr_diag dg;
    if (cdr_fraud_store_put(st, frs, &dg) != 0) {
        cli_report("fraud", &dg);
        if (!json)
            fprintf(stderr, "cdrate fraud: nothing stored; the previously active rules stay\n");
        rc = fraud_exit(&dg);
    } else if (json) {
        printf("{\"store\":");
        cli_json_str(stdout, store);
        printf(",\"file\":");
        cli_json_str(stdout, file);
        printf(",\"rules\":%" PRIu32 "}\n", frs->frs_nrules);
    } else if (!quiet) {
        fprintf(stderr, "cdrate fraud: %" PRIu32 " rule(s) of %s stored into %s\n", frs->frs_nrules,
                file, store);
    }
    cdr_store_close(st);
    cdr_fraud_rules_free(frs);
    return rc;
}

static int fraud_list(const char *store, int json)
{
    cdr_store *st;
    int rc = cli_store_open("fraud", store, CLI_STORE_READ, &st);
    if (rc)
        return rc;
    cdr_fraud_rules *frs = malloc(sizeof *frs);
    cdr_diag dg;
    if (!frs) {
        cdr_store_close(st);
        cli_error("fraud", CDR_ENOMEM, "out of memory");
        return CLI_EXIT_FAIL;
    }
    rc = cdr_fraud_store_get(st, frs, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("fraud", &dg);
        free(frs);
        return fraud_exit(&dg);
    }
    if (json) {
        printf("{\"store\":");
        cli_json_str(stdout, store);
        printf(",\"rules\":[");
    }
    for (uint32_t i = 0; i < frs->frs_nrules; i++) {
        if (json) {
            printf("%s", i ? "," : "");
            print_rule_json(&frs->frs_rules[i]);
        } else {
            print_rule_text(&frs->frs_rules[i]);
        }
    }
    if (json)
        printf("]}\n");
    else if (!frs->frs_nrules)
        fprintf(stderr, "cdrate fraud: the rule set in %s is empty (fraud rules are off)\n", store);
    free(frs);
    return CLI_EXIT_OK;
}

int cmd_fraud(int argc, char **argv)
{
    const char *store = NULL;
    int quiet = 0, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (compile and list; must exist)"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object on stdout, errors as JSON on stderr"},
        {"quiet", CLI_FLAG, &quiet, NULL, "check, compile: print errors only"},
        {0},
    };
    const cli_spec cs = {
        "fraud",
        "check FILE [--quiet] [--json]\n"
        "compile FILE --store STORE [--quiet] [--json]\n"
        "list --store STORE [--json]",
        "check    validate a fraud rules file (docs/fraud-rules.md); errors are reported as\n"
        "         file:line:column and an invalid file exits 4\n"
        "compile  validate the file and, only if it is valid, make its rules the store's\n"
        "         rule set (an invalid file exits 4 and changes nothing)\n"
        "list     print the store's rules: windows, buckets and thresholds",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "missing verb");
    const char *verb = argv[pos];
    if (!strcmp(verb, "check") && pos + 2 == argc) {
        if (store)
            return cli_usage_error(&cs, "check takes no --store");
        return fraud_check(argv[pos + 1], quiet, json);
    }
    if ((!strcmp(verb, "compile") || !strcmp(verb, "list")) && !store)
        return cli_usage_error(&cs, "--store is required");
    if (!strcmp(verb, "compile") && pos + 2 == argc)
        return fraud_compile(argv[pos + 1], store, quiet, json);
    if (!strcmp(verb, "list") && pos + 1 == argc)
        return fraud_list(store, json);
    return cli_usage_error(&cs, "unknown verb or wrong arguments: '%s'", verb);
}
