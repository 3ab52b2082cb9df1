/* cmd_cat.c - `cdrate cat FILE...`: CDR files (wire or CSV) as JSON lines. */
#include <stdio.h>
#include <string.h>

#include "cdr_record.h"
#include "cli.h"

int cmd_cat(int argc, char **argv)
{
    int csv = 0;
    cli_opt opts[] = {
        {"csv", CLI_FLAG, &csv, NULL, "print the project's CSV layout instead of JSON"},
        {0},
    };
    const cli_spec cs = {"cat", "[--csv] FILE...",
                         "Print every record of CDR files (wire format or the project's CSV "
                         "layout) as one\nJSON object per line. Malformed records are reported "
                         "on stderr with file, line and\ncolumn; the exit code is then 1.",
                         opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos >= argc)
        return cli_usage_error(&cs, "no input file");
    int status = 0;
    if (csv)
        printf("%s\n", cdr_csv_header);
    for (int i = pos; i < argc; i++) {
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
