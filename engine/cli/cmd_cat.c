/* cmd_cat.c - `cdrate cat FILE...`: CDR files (wire or CSV) as JSON lines. */
#include <stdio.h>
#include <string.h>

#include "cdr_record.h"
#include "cli.h"

int cmd_cat(int argc, char **argv)
{
    int csv = 0, json = 0;
    cli_opt opts[] = {
        {"csv", CLI_FLAG, &csv, NULL, "print the project's CSV layout instead of JSON"},
        {"json", CLI_FLAG, &json, NULL, "errors as JSON objects on stderr (records are JSON)"},
        {0},
    };
    const cli_spec cs = {
        "cat", "[--csv] [--json] FILE...",
        "Print every record of CDR files (wire format or the project's CSV layout; - for\n"
        "standard input) as one JSON object per line. Malformed records are reported on\n"
        "stderr with file, line and column (as JSON objects with --json) and the others\n"
        "are still printed; the exit code is then 3, and 1 when a file cannot be read.\n"
        "For a switch's own files (Asterisk, FreeSWITCH, 3GPP) use cdrate decode.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos >= argc)
        return cli_usage_error(&cs, "no input file");
    int status = CLI_EXIT_OK, rejected = 0;
    if (csv)
        printf("%s\n", cdr_csv_header);
    for (int i = pos; i < argc; i++) {
        cdr_diag dg;
        cdr_reader *rd;
        const char *path = strcmp(argv[i], "-") ? argv[i] : "/dev/stdin";
        if (cdr_reader_open(path, &rd, &dg)) {
            cli_report("cat", &dg);
            status = CLI_EXIT_FAIL;
            continue;
        }
        cdr_record cr;
        int rc;
        while ((rc = cdr_reader_next(rd, &cr, &dg)) != 0) {
            if (rc < 0) {
                cli_report("cat", &dg);
                if (rc == CDR_EIO) {
                    status = CLI_EXIT_FAIL;
                    break;
                }
                rejected = 1;
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
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cat", CDR_EIO, "write error on standard output");
        status = CLI_EXIT_FAIL;
    }
    return status != CLI_EXIT_OK ? status : rejected ? CLI_EXIT_REJECTS : CLI_EXIT_OK;
}
