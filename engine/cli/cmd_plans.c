/* cmd_plans.c - `cdrate plans compile DIR --store DIR`, `cdrate plans list --store DIR`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_rules.h"
#include "cli.h"

int cmd_plans(int argc, char **argv)
{
    const char *store = NULL;
    int quiet = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR", "the LMDB store (created if missing)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "print errors only"},
        {0},
    };
    const cli_spec cs = {"plans", "compile DIR --store STORE [--quiet]\nlist --store STORE",
                         "compile  validate every *.yaml plan in DIR and, only if all are valid, "
                         "store them\n"
                         "         (errors are reported as file:line:column; the active plans "
                         "stay)\n"
                         "list     print the plan versions in the store",
                         opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos >= argc || !store)
        return cli_usage_error(&cs, pos >= argc ? "missing verb" : "--store is required");
    const char *verb = argv[pos];
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st;
    if (!strcmp(verb, "compile") && pos + 2 == argc) {
        if (cdr_store_open(store, 0, &st, &dg)) {
            cli_report("plans", &dg);
            return 1;
        }
        int n = 0;
        int rc = cdr_plan_store_compile_dir(st, argv[pos + 1], quiet ? NULL : stderr, &n, &dg);
        cdr_store_close(st);
        if (rc) {
            cli_report("plans", &dg);
            fprintf(stderr, "cdrate plans: nothing stored; the previously active plans stay\n");
            return 1;
        }
        if (!quiet)
            fprintf(stderr, "cdrate plans: %d plan file(s) compiled into %s\n", n, store);
        return 0;
    }
    if (!strcmp(verb, "list") && pos + 1 == argc) {
        if (cdr_store_open(store, 0, &st, &dg)) {
            cli_report("plans", &dg);
            return 1;
        }
        cdr_plan_set *ps;
        int rc = cdr_plan_set_load(st, &ps, &dg);
        cdr_store_close(st);
        if (rc) {
            cli_report("plans", &dg);
            return 1;
        }
        for (uint32_t i = 0; i < ps->ps_nplans; i++) {
            const cdr_plan *pl = ps->ps_plans[i];
            char ts[32];
            cdr_time_format(pl->pl_effective_from, 0, 1, ts, sizeof ts);
            printf("%s\tversion %" PRIu32 "\tfrom %s\t%s\t%u zones, %u bands, %" PRIu32
                   " rates, %u bundles\n",
                   pl->pl_id, pl->pl_version, ts, pl->pl_tz.tz_name, pl->pl_nzones, pl->pl_nbands,
                   pl->pl_nrates, pl->pl_nbundles);
        }
        cdr_plan_set_release(ps);
        return 0;
    }
    return cli_usage_error(&cs, "unknown verb or wrong arguments: '%s'", verb);
}
