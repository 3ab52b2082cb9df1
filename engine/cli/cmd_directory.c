/* cmd_directory.c - `cdrate directory load FILE --store DIR`. */
#include <stdio.h>
#include <string.h>

#include "cdr_dir.h"
#include "cli.h"

int cmd_directory(int argc, char **argv)
{
    const char *store = NULL;
    int quiet = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR", "the LMDB store (created if missing)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "print errors only"},
        {0},
    };
    const cli_spec cs = {"directory", "load FILE --store STORE [--quiet]",
                         "Validate the directory file (docs/directory.md) and, only if it is "
                         "valid, replace\nthe directory in the store with it. Errors are "
                         "reported as file:line:column.",
                         opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (!store)
        return cli_usage_error(&cs, "--store is required");
    if (pos + 2 != argc || strcmp(argv[pos], "load") != 0)
        return cli_usage_error(&cs, "expected: load FILE");
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st;
    if (cdr_store_open(store, 0, &st, &dg)) {
        cli_report("directory", &dg);
        return 1;
    }
    cdr_dir_stats ds;
    memset(&ds, 0, sizeof ds);
    int rc =
        cdr_dir_load_file(st, argv[pos + 1], cli_progress_enabled(quiet) ? stderr : NULL, &ds, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("directory", &dg);
        fprintf(stderr, "cdrate directory: nothing stored; the previous directory stays\n");
        return 1;
    }
    if (!quiet)
        fprintf(stderr,
                "cdrate directory: loaded %zu subscribers, %zu customers, %zu accounts, "
                "%zu enterprises, %zu memberships, %zu payment rules, %zu credit classes\n",
                ds.ds_subscribers, ds.ds_customers, ds.ds_accounts, ds.ds_enterprises,
                ds.ds_memberships, ds.ds_payment_rules, ds.ds_credit_classes);
    return 0;
}
