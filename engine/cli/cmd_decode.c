/* cmd_decode.c - `cdrate decode --format F FILE...`: decode network-element files with the
 * collectors' decoders (cdr_coll.h) and print the records, every rejection with its position and
 * reason, and per-file accounting. No Kafka, no store: an operator's check of a switch's files.
 * The output is described in docs/collectors.md, "Checking a switch's files: cdrate decode". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_coll.h"
#include "cdr_record.h"
#include "cli.h"

/* What one input gave. read = decoded + rejected + nonbillable. */
typedef struct decode_stats {
    uint64_t ds_read, ds_decoded, ds_rejected, ds_nonbillable;
} decode_stats;

typedef struct decode_ctx {
    FILE *dc_out;
    int dc_binary;      /* 3GPP: positions are byte offsets */
    int dc_nonbillable; /* --nonbillable: list non-billable items on stderr */
    decode_stats dc_st; /* the current input */
} decode_ctx;

/* A whole input in memory: mapped (regular files) or read (standard input, pipes). */
typedef struct decode_input {
    uint8_t *in_buf;
    size_t in_len;
    int in_mapped;
} decode_input;

/* ---- reading an input ------------------------------------------------------------------------ */

static int read_all(int fd, const char *name, decode_input *in, cdr_diag *dg)
{
    size_t cap = 0;
    for (;;) {
        if (in->in_len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(in->in_buf, ncap);
            if (!nb)
                return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
            in->in_buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, in->in_buf + in->in_len, cap - in->in_len);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot read: %s", strerror(errno));
        }
        in->in_len += (size_t)n;
    }
}

/* Load path ("-" = standard input) into in. Returns 0 or CDR_EIO / CDR_ENOMEM with dg set. */
static int input_load(const char *path, const char *name, decode_input *in, cdr_diag *dg)
{
    memset(in, 0, sizeof *in);
    if (!strcmp(path, "-"))
        return read_all(STDIN_FILENO, name, in, dg);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot open: %s", strerror(errno));
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot stat: %s", strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        rc = cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot read: %s", strerror(EISDIR));
    } else if (S_ISREG(sb.st_mode)) {
        in->in_len = (size_t)sb.st_size;
        if (in->in_len > 0) {
            void *p = mmap(NULL, in->in_len, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                rc = cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot map: %s", strerror(errno));
                in->in_len = 0;
            } else {
                madvise(p, in->in_len, MADV_SEQUENTIAL);
                in->in_buf = p;
                in->in_mapped = 1;
            }
        }
    } else {
        rc = read_all(fd, name, in, dg); /* a pipe, a character device */
    }
    close(fd);
    return rc;
}

static void input_free(decode_input *in)
{
    if (in->in_mapped)
        munmap(in->in_buf, in->in_len);
    else
        free(in->in_buf);
    memset(in, 0, sizeof *in);
}

/* ---- items ----------------------------------------------------------------------------------- */

/* A 3GPP message ends with "at byte N" (the octet at fault): *dg is ci's diagnostic without that
 * ending, and N is returned; a message without it (validation) gives the CDR's own offset. */
static uint64_t split_offset(const cdr_coll_item *ci, cdr_diag *dg)
{
    static const char tag[] = " at byte ";
    *dg = ci->ci_diag;
    char *at = NULL;
    for (char *p = strstr(dg->dg_msg, tag); p; p = strstr(p + 1, tag))
        at = p;
    if (at) {
        const char *d = at + sizeof tag - 1;
        size_t nd = strspn(d, "0123456789");
        if (nd > 0 && nd < 20 && d[nd] == '\0') {
            *at = '\0';
            return strtoull(d, NULL, 10);
        }
    }
    return ci->ci_offset;
}

/* A non-billable item on stderr: "FILE:LINE:COL: non-billable: reason" (3GPP "FILE: byte N: ..."),
 * or {"nonbillable":{"file":...,"line":...,"column":...,"offset":...,"message":...}}. */
static void note_nonbillable(const decode_ctx *dc, const cdr_coll_item *ci)
{
    cdr_diag dg = ci->ci_diag;
    uint64_t off = dc->dc_binary ? split_offset(ci, &dg) : ci->ci_offset;
    if (cli_json) {
        fputs("{\"nonbillable\":{\"file\":", stderr);
        cli_json_str(stderr, dg.dg_file);
        if (!dc->dc_binary && dg.dg_line > 0)
            fprintf(stderr, ",\"line\":%d", dg.dg_line);
        if (!dc->dc_binary && dg.dg_column > 0)
            fprintf(stderr, ",\"column\":%d", dg.dg_column);
        fprintf(stderr, ",\"offset\":%" PRIu64 ",\"message\":", off);
        cli_json_str(stderr, dg.dg_msg);
        fputs("}}\n", stderr);
        return;
    }
    fputs(dg.dg_file, stderr);
    if (dc->dc_binary) {
        fprintf(stderr, ": byte %" PRIu64, off);
    } else {
        if (dg.dg_line > 0)
            fprintf(stderr, ":%d", dg.dg_line);
        if (dg.dg_column > 0)
            fprintf(stderr, ":%d", dg.dg_column);
    }
    fprintf(stderr, ": non-billable: %s\n", dg.dg_msg);
}

static int on_item(void *arg, const cdr_coll_item *ci)
{
    decode_ctx *dc = arg;
    dc->dc_st.ds_read++;
    switch (ci->ci_kind) {
    case CDR_ITEM_RECORD:
        dc->dc_st.ds_decoded++;
        if (cli_json) {
            cdr_record_json(&ci->ci_rec, dc->dc_out);
            fputc('\n', dc->dc_out);
        } else {
            char buf[512];
            if (cdr_csv_format(&ci->ci_rec, buf, sizeof buf) > 0)
                fputs(buf, dc->dc_out);
        }
        break;
    case CDR_ITEM_REJECTED:
        dc->dc_st.ds_rejected++;
        if (dc->dc_binary) {
            cdr_diag dg;
            uint64_t off = split_offset(ci, &dg);
            cli_report_offset("decode", &dg, off);
        } else {
            cli_report("decode", &ci->ci_diag);
        }
        break;
    default:
        dc->dc_st.ds_nonbillable++;
        if (dc->dc_nonbillable)
            note_nonbillable(dc, ci);
        break;
    }
    return 0;
}

/* ---- summary --------------------------------------------------------------------------------- */

static void stats_add(decode_stats *to, const decode_stats *st)
{
    to->ds_read += st->ds_read;
    to->ds_decoded += st->ds_decoded;
    to->ds_rejected += st->ds_rejected;
    to->ds_nonbillable += st->ds_nonbillable;
}

static void stats_text(const char *what, const decode_stats *st)
{
    fprintf(stderr,
            "%s: read %" PRIu64 ", decoded %" PRIu64 ", rejected %" PRIu64 ", nonbillable %" PRIu64,
            what, st->ds_read, st->ds_decoded, st->ds_rejected, st->ds_nonbillable);
}

static void stats_json(const decode_stats *st)
{
    fprintf(stderr,
            "\"read\":%" PRIu64 ",\"decoded\":%" PRIu64 ",\"rejected\":%" PRIu64
            ",\"nonbillable\":%" PRIu64,
            st->ds_read, st->ds_decoded, st->ds_rejected, st->ds_nonbillable);
}

/* ---- the command ----------------------------------------------------------------------------- */

static const char decode_about[] =
    "Decode network-element CDR files with the collector's decoders (the same checks and\n"
    "normalisation as `cdrate collect`), without Kafka and without a store. FILE - reads\n"
    "standard input.\n"
    "  records     on stdout (or --out): the project's CSV layout with its header line, or one\n"
    "              JSON object per line with --json;\n"
    "  rejections  on stderr: \"cdrate decode: FILE:LINE:COLUMN: reason\" (text formats) or\n"
    "              \"cdrate decode: FILE: byte OFFSET: reason\" (3gpp); with --json\n"
    "              {\"error\":{\"code\",\"file\",\"line\",\"column\"|\"offset\",\"message\"}};\n"
    "  summary     on stderr, per file and in total (unless --quiet):\n"
    "              \"FILE: read N, decoded N, rejected N, nonbillable N\"; with --json one\n"
    "              {\"summary\":{\"files\":[...],\"total\":{...}}} object as the last line.\n"
    "Exit status: 0 every record decoded (non-billable ones included); 3 records rejected;\n"
    "1 a file could not be read or the output not written; 2 bad command line.";

int cmd_decode(int argc, char **argv)
{
    static const char *const formats[] = {"csv", "asterisk", "freeswitch", "3gpp", NULL};
    int format = -1, json = 0, quiet = 0, nonbillable = 0;
    const char *out_path = "-", *source = NULL, *tz = NULL, *fs_columns = NULL;
    cli_opt opts[] = {
        {"format", CLI_CHOICE, &format, "F", "input format", 0, 0, formats},
        {"json", CLI_FLAG, &json, NULL, "records as JSON lines; errors and summary as JSON"},
        {"out", CLI_STRING, &out_path, "FILE", "write the records to FILE ('-': stdout, default)"},
        {"source", CLI_STRING, &source, "NAME",
         "network element id put into the records (\"element\"; csv: from each record)"},
        {"timezone", CLI_STRING, &tz, "TZ", "IANA zone of element-local times (Asia/Shanghai)"},
        {"fs-columns", CLI_STRING, &fs_columns, "LIST",
         "freeswitch: the column names of a custom cdr_csv template"},
        {"nonbillable", CLI_FLAG, &nonbillable, NULL,
         "also list non-billable records and why on stderr"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no summary (rejections are still reported)"},
        {0},
    };
    const cli_spec cs = {"decode", "--format csv|asterisk|freeswitch|3gpp [options] FILE...",
                         decode_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (format < 0)
        return cli_usage_error(&cs, "--format is required");
    if (pos >= argc)
        return cli_usage_error(&cs, "no input file");
    if (!*out_path)
        return cli_usage_error(&cs, "--out needs a file name ('-' for stdout)");

    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    if (cli_coll_source_tz(&cs, source, tz, &cc) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (fs_columns) {
        if (format != CDR_FMT_FREESWITCH)
            return cli_usage_error(&cs, "--fs-columns applies to --format freeswitch only");
        if (!*fs_columns || strlen(fs_columns) >= sizeof cc.cc_fs_columns)
            return cli_usage_error(&cs, "--fs-columns must be 1..%d characters",
                                   (int)sizeof cc.cc_fs_columns - 1);
        snprintf(cc.cc_fs_columns, sizeof cc.cc_fs_columns, "%s", fs_columns);
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_coll_decoder *dec;
    int rc = cdr_coll_decoder_create(format, &cc, &dec, &dg);
    if (rc == CDR_NOTFOUND || rc == CDR_EINVAL)
        return cli_usage_error(&cs, "%s", dg.dg_msg); /* a time zone, a column mapping */
    if (rc) {
        cli_report("decode", &dg);
        return CLI_EXIT_FAIL;
    }
    FILE *out = cli_fopen_out(out_path);
    if (!out) {
        cli_error("decode", CDR_EIO, "cannot write %s: %s", out_path, strerror(errno));
        cdr_coll_decoder_destroy(dec);
        return CLI_EXIT_FAIL;
    }
    if (!cli_json)
        fprintf(out, "%s\n", cdr_csv_header);

    const int nfiles = argc - pos;
    decode_stats *per = calloc((size_t)nfiles, sizeof *per);
    char *unreadable = calloc((size_t)nfiles, 1);
    if (!per || !unreadable) {
        free(per);
        free(unreadable);
        cli_fclose(out);
        cdr_coll_decoder_destroy(dec);
        cli_error("decode", CDR_ENOMEM, "out of memory");
        return CLI_EXIT_FAIL;
    }
    decode_ctx dc = {
        .dc_out = out, .dc_binary = format == CDR_FMT_3GPP, .dc_nonbillable = nonbillable};
    decode_stats total = {0};
    int nunreadable = 0;
    for (int i = 0; i < nfiles; i++) {
        const char *path = argv[pos + i];
        const char *name = strcmp(path, "-") ? path : "stdin";
        decode_input in;
        cdr_diag_clear(&dg);
        if (input_load(path, name, &in, &dg) != 0) {
            cli_report("decode", &dg);
            input_free(&in);
            unreadable[i] = 1;
            nunreadable++;
            continue;
        }
        static const uint8_t empty[1];
        memset(&dc.dc_st, 0, sizeof dc.dc_st);
        cdr_coll_decode(dec, name, in.in_len ? in.in_buf : empty, in.in_len, on_item, &dc);
        input_free(&in);
        per[i] = dc.dc_st;
        stats_add(&total, &dc.dc_st);
        if (!quiet && !cli_json) {
            stats_text(name, &dc.dc_st);
            fputc('\n', stderr);
        }
    }
    cdr_coll_decoder_destroy(dec);

    int status = CLI_EXIT_OK;
    if (cli_fclose(out) != 0) {
        cli_error("decode", CDR_EIO, "cannot write %s",
                  strcmp(out_path, "-") ? out_path : "standard output");
        status = CLI_EXIT_FAIL;
    }
    if (!quiet && cli_json) {
        fputs("{\"summary\":{\"files\":[", stderr);
        for (int i = 0; i < nfiles; i++) {
            const char *path = argv[pos + i];
            fputs(i ? ",{\"file\":" : "{\"file\":", stderr);
            cli_json_str(stderr, strcmp(path, "-") ? path : "stdin");
            if (unreadable[i]) {
                fputs(",\"unreadable\":true}", stderr);
                continue;
            }
            fputc(',', stderr);
            stats_json(&per[i]);
            fputc('}', stderr);
        }
        fprintf(stderr, "],\"total\":{\"files\":%d,\"unreadable\":%d,", nfiles, nunreadable);
        stats_json(&total);
        fputs("}}}\n", stderr);
    } else if (!quiet && nfiles > 1) {
        stats_text("total", &total);
        fprintf(stderr, " (%d files, %d unreadable)\n", nfiles, nunreadable);
    }
    free(per);
    free(unreadable);
    if (nunreadable)
        status = CLI_EXIT_FAIL;
    if (status == CLI_EXIT_OK && total.ds_rejected)
        status = CLI_EXIT_REJECTS;
    return status;
}
