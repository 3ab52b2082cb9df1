/* cmd_cat.c - `cdrate cat FILE...`: CDR files (wire or CSV) as JSON lines. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cdr_record.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdrate cat [--csv] FILE...\n\n"
               "Print every record of CDR files (wire format or the project's CSV layout) as one\n"
               "JSON object per line (or, with --csv, in the CSV layout). Malformed records are\n"
               "reported on stderr with file, line and column; the exit code is then 1.\n");
}

int cmd_cat(int argc, char **argv)
{
    static const struct option opts[] = {
        {"csv", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int csv = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            csv = 1;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    int status = 0;
    if (csv)
        printf("%s\n", cdr_csv_header);
    for (int i = optind; i < argc; i++) {
        cdr_diag dg;
        cdr_reader *rd;
        if (cdr_reader_open(argv[i], &rd, &dg)) {
            cli_report("cat", &dg);
            status = 1;
            continue;
        }
        cdr_record cr;
        int rc;
        while ((rc = cdr_reader_next(rd, &cr, &dg)) != 0) {
            if (rc < 0) {
                cli_report("cat", &dg);
                status = 1;
                if (rc == CDR_EIO)
                    break;
                continue;
            }
            if (csv) {
                char buf[512];
                if (cdr_csv_format(&cr, buf, sizeof buf) > 0)
                    fputs(buf, stdout);
            } else {
                cdr_record_json(&cr, stdout);
                putchar('\n');
            }
        }
        cdr_reader_close(rd);
    }
    return status;
}
