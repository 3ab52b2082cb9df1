/* cmd_directory.c - `cdrate directory load FILE --store DIR`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cdr_dir.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdrate directory load FILE --store STORE [--quiet]\n\n"
               "Validate the directory file (docs/directory.md) and, only if it is valid, replace\n"
               "the directory in the store with it. Errors are reported as file:line:column.\n"
               "  --store DIR   the LMDB store (created if missing)\n"
               "  --quiet       print errors only\n");
}

int cmd_directory(int argc, char **argv)
{
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *store = NULL;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!store || optind + 2 != argc || strcmp(argv[optind], "load") != 0) {
        usage(stderr);
        return 2;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st;
    if (cdr_store_open(store, 0, &st, &dg)) {
        cli_report("directory", &dg);
        return 1;
    }
    cdr_dir_stats ds;
    memset(&ds, 0, sizeof ds);
    int rc = cdr_dir_load_file(st, argv[optind + 1], cli_progress_enabled(quiet) ? stderr : NULL,
                               &ds, &dg);
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
