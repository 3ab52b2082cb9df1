/* test_coll_text.c - the text decoders of collectors/ (project CSV, Asterisk, FreeSWITCH), number
 * normalisation and validation, and the PBX generators of bench/: golden fixtures under
 * tests/data/collectors/, malformed inputs with exact positions and reasons, DST folds and gaps,
 * and generator -> decoder round trips. Set CDR_UPDATE_GOLDEN=1 to rewrite the golden files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_coll.h"
#include "coll_items.h"

#define DATA_DIR CDR_SOURCE_DIR "/tests/data/collectors/"

/* ---- helpers --------------------------------------------------------------------------------- */

/* The fixtures' element: Beijing, China numbering, November 2026 window. */
static cdr_coll_config test_config(void)
{
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    snprintf(cc.cc_source, sizeof cc.cc_source, "PBX-BJ-01");
    cdr_time from, to;
    int32_t off;
    cr_assert_eq(cdr_time_parse_iso("2026-11-01T00:00:00+08:00", 25, &from, &off), 0);
    cr_assert_eq(cdr_time_parse_iso("2026-12-01T00:00:00+08:00", 25, &to, &off), 0);
    cc.cc_window_from = from;
    cc.cc_window_to = to;
    return cc;
}

static void decode(int fmt, const cdr_coll_config *cc, const char *name, const void *buf,
                   size_t len, items *out)
{
    cdr_coll_decoder *d = NULL;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_coll_decoder_create(fmt, cc, &d, &dg);
    cr_assert_eq(rc, 0, "create: %s", dg.dg_msg);
    rc = cdr_coll_decode(d, name, buf, len, collect, out);
    cr_assert_eq(rc, 0);
    cdr_coll_decoder_destroy(d);
}

/* One line per item: kind, line:column, index, offset, length, then the error or the reason,
 * then the record. */
static void render(const items *its, FILE *f)
{
    static const char kinds[] = "RXN";
    for (size_t i = 0; i < its->it_n; i++) {
        const cdr_coll_item *ci = &its->it_v[i];
        fprintf(f, "%c %llu:%d idx=%llu off=%llu len=%llu", kinds[ci->ci_kind],
                (unsigned long long)ci->ci_line, ci->ci_diag.dg_column,
                (unsigned long long)ci->ci_index, (unsigned long long)ci->ci_offset,
                (unsigned long long)ci->ci_length);
        if (ci->ci_kind == CDR_ITEM_REJECTED) {
            fprintf(f, " %s %s\n", cdr_err_name(ci->ci_diag.dg_code), ci->ci_diag.dg_msg);
            continue;
        }
        if (ci->ci_kind == CDR_ITEM_NONBILLABLE)
            fprintf(f, " (%s)", ci->ci_diag.dg_msg);
        fputs(" ", f);
        cdr_record_json(&ci->ci_rec, f);
        fputs("\n", f);
    }
}

/* Decode fixture `file` and compare the rendering with file.golden. */
static void golden(const char *file, int fmt, const cdr_coll_config *cc, items *its)
{
    char path[512], gpath[600];
    snprintf(path, sizeof path, DATA_DIR "%s", file);
    snprintf(gpath, sizeof gpath, "%s.golden", path);
    size_t len;
    char *in = slurp(path, &len);
    cr_assert_not_null(in, "missing fixture %s", path);
    decode(fmt, cc, file, in, len, its);
    free(in);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mf = open_memstream(&out, &outlen);
    render(its, mf);
    fclose(mf);
    golden_compare(out, outlen, gpath, file);
    /* accounting: one item per non-blank line */
    cr_assert_eq(its->it_n, its->it_kind[0] + its->it_kind[1] + its->it_kind[2]);
}

/* ---- golden fixtures ------------------------------------------------------------------------- */

Test(coll_golden, project_csv)
{
    cdr_coll_config cc = test_config();
    items its = {0};
    golden("csv_normal.csv", CDR_FMT_CSV, &cc, &its);
    /* header skipped, blank line skipped, zero-length voice non-billable */
    cr_assert_eq(its.it_n, 6);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 5);
    cr_assert_eq(its.it_kind[CDR_ITEM_NONBILLABLE], 1);
    cr_assert_str_eq(its.it_v[0].ci_rec.cr_source, "MSC01"); /* from the record, not the config */
    cr_assert_str_eq(its.it_v[3].ci_rec.cr_source, "PGW01");
    cr_assert_eq(its.it_v[1].ci_line, 3);
    cr_assert_eq(its.it_v[2].ci_line, 5);
    items_free(&its);
}

Test(coll_golden, asterisk)
{
    cdr_coll_config cc = test_config();
    items its = {0};
    golden("asterisk_normal.csv", CDR_FMT_ASTERISK, &cc, &its);
    cr_assert_eq(its.it_n, 12);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 7);
    cr_assert_eq(its.it_kind[CDR_ITEM_NONBILLABLE], 5);
    cr_assert_eq(its.it_kind[CDR_ITEM_REJECTED], 0);

    const cdr_record *cr = &its.it_v[0].ci_rec; /* clid with a comma and quotes */
    cr_assert_str_eq(cr->cr_msisdn, "8613800000001");
    cr_assert_str_eq(cr->cr_other, "861012345678");
    cr_assert_str_eq(cr->cr_origin_id, "1793584800.1");
    cr_assert_str_eq(cr->cr_source, "PBX-BJ-01");
    cr_assert_eq(cr->cr_duration, 61);
    char ts[32];
    cr_assert_str_eq(cdr_time_format(cr->cr_start, cr->cr_utc_offset, 0, ts, sizeof ts),
                     "2026-11-02T10:00:05+08:00");
    cr = &its.it_v[1].ci_rec; /* UTF-8 name, CRLF, +86 with blanks, 0086 */
    cr_assert_str_eq(cr->cr_msisdn, "8613800000002");
    cr_assert_str_eq(cr->cr_other, "8613912345678");
    cr_assert_eq(its.it_v[2].ci_kind, CDR_ITEM_NONBILLABLE);
    cr_assert_str_eq(its.it_v[2].ci_diag.dg_msg, "disposition NO ANSWER");
    cr_assert_str_eq(its.it_v[3].ci_diag.dg_msg, "disposition BUSY");
    cr_assert_str_eq(its.it_v[4].ci_diag.dg_msg, "disposition FAILED");
    cr_assert_str_eq(its.it_v[5].ci_diag.dg_msg, "disposition CONGESTION");
    cr_assert_str_eq(its.it_v[6].ci_diag.dg_msg, "zero billable seconds");
    cr = &its.it_v[7].ci_rec; /* 16 columns: no uniqueid, a hash; trunk 0 + mobile; 110 */
    cr_assert_eq(its.it_v[7].ci_line, 9);
    cr_assert_eq(cr->cr_origin_id[0], 'h');
    cr_assert_eq(strlen(cr->cr_origin_id), 33);
    cr_assert_str_eq(cr->cr_msisdn, "8613800000001");
    cr_assert_str_eq(cr->cr_other, "110");
    cr_assert_str_eq(its.it_v[8].ci_rec.cr_other, "8675588889999");   /* 17 columns */
    cr_assert_str_eq(its.it_v[9].ci_rec.cr_other, "4930123456");      /* 21 columns */
    cr_assert_str_eq(its.it_v[10].ci_rec.cr_other, "861065529988");   /* empty fields */
    cr_assert_str_eq(its.it_v[11].ci_rec.cr_msisdn, "8613800000007"); /* empty uniqueid */
    cr_assert_eq(its.it_v[11].ci_rec.cr_origin_id[0], 'h');
    cr_assert_str_neq(its.it_v[11].ci_rec.cr_origin_id, cr->cr_origin_id);
    items_free(&its);
}

Test(coll_golden, freeswitch_default)
{
    cdr_coll_config cc = test_config();
    items its = {0};
    golden("freeswitch_normal.csv", CDR_FMT_FREESWITCH, &cc, &its);
    cr_assert_eq(its.it_n, 11);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 5);
    cr_assert_eq(its.it_kind[CDR_ITEM_NONBILLABLE], 6);
    cr_assert_str_eq(its.it_v[0].ci_rec.cr_origin_id, "a1b2c3d4-0000-4000-8000-000000000001");
    cr_assert_str_eq(its.it_v[2].ci_diag.dg_msg, "hangup cause NO_ANSWER");
    cr_assert_str_eq(its.it_v[5].ci_diag.dg_msg, "zero billable seconds");
    cr_assert_str_eq(its.it_v[6].ci_diag.dg_msg, "hangup cause MEDIA_TIMEOUT");
    cr_assert_eq(its.it_v[7].ci_kind, CDR_ITEM_RECORD); /* NORMAL_UNSPECIFIED bills */
    cr_assert_eq(its.it_v[7].ci_rec.cr_cause, 31);
    cr_assert_eq(its.it_v[8].ci_kind, CDR_ITEM_RECORD); /* ALLOTTED_TIMEOUT, 15 columns */
    cr_assert_eq(its.it_v[8].ci_rec.cr_duration, 1800);
    cr_assert_str_eq(its.it_v[10].ci_diag.dg_msg, "hangup cause SOME_FUTURE_CAUSE");
    items_free(&its);
}

Test(coll_golden, freeswitch_custom_template)
{
    cdr_coll_config cc = test_config();
    snprintf(cc.cc_fs_columns, sizeof cc.cc_fs_columns,
             "${uuid}, caller_id_number, destination_number, answer_epoch, billsec, "
             "hangup_cause, sip_user_agent, start_epoch");
    items its = {0};
    golden("freeswitch_custom.csv", CDR_FMT_FREESWITCH, &cc, &its);
    cr_assert_eq(its.it_n, 3);
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_RECORD);
    cr_assert_eq(its.it_v[0].ci_rec.cr_start, 1793584805);
    cr_assert_eq(its.it_v[0].ci_rec.cr_utc_offset, 8 * 3600);
    cr_assert_eq(its.it_v[1].ci_kind, CDR_ITEM_NONBILLABLE);
    cr_assert_eq(its.it_v[1].ci_rec.cr_start, 1793585100); /* unanswered: the start */
    cr_assert_str_eq(its.it_v[2].ci_rec.cr_msisdn, "8613800000003");
    items_free(&its);
}

/* ---- malformed lines: exact kind, code, line, column and reason ------------------------------ */

static const char good_csv[] = "MSC01,1,voice,mo,8613800000001,,8613912345678,"
                               "2026-11-02T10:00:00+08:00,61,0,0,,,,16,";
static const char good_ast[] =
    "\"\",\"13800000001\",\"13912345678\",\"from-internal\",\"\"\"Chen, Jing\"\" "
    "<13800000001>\",\"SIP/1000-01\",\"SIP/trunk-02\",\"Dial\",\"SIP/trunk/13912345678,60\","
    "\"2026-11-02 10:00:00\",\"2026-11-02 10:00:05\",\"2026-11-02 10:01:06\",66,61,"
    "\"ANSWERED\",\"DOCUMENTATION\",\"1793584800.1\",\"\"";
static const char good_fs[] =
    "\"Chen, Jing\",\"13800000001\",\"13912345678\",\"default\",\"2026-11-02 10:00:00\","
    "\"2026-11-02 10:00:05\",\"2026-11-02 10:01:06\",\"66\",\"61\",\"NORMAL_CLEARING\","
    "\"uuid-1\",\"\",\"1000\"";

typedef struct bad_case {
    int bc_fmt;
    const char *bc_from, *bc_to; /* the bad line: the good one with bc_from replaced by bc_to */
    int bc_code;
    const char *bc_col_at; /* the column is where this first occurs in the bad line; NULL: EOL+1 */
    const char *bc_reason; /* a substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    /* Asterisk */
    {CDR_FMT_ASTERISK, "\"2026-11-02 10:00:00\"", "\"2026-02-30 10:00:00\"", CDR_RANGE,
     "\"2026-02-30", "start is not a real date and time"},
    {CDR_FMT_ASTERISK, ",61,", ",-5,", CDR_RANGE, "-5,", "billsec is negative"},
    {CDR_FMT_ASTERISK, ",66,", ",-66,", CDR_RANGE, "-66", "duration is negative"},
    {CDR_FMT_ASTERISK, ",61,", ",6l,", CDR_FORMAT, "6l,", "billsec is not a whole number"},
    {CDR_FMT_ASTERISK, ".1\",\"\"", ".1\",\"abc", CDR_FORMAT, "\"abc", "unterminated quoted field"},
    {CDR_FMT_ASTERISK, ",\"DOCUMENTATION\",\"1793584800.1\",\"\"", "", CDR_FORMAT, NULL,
     "15 columns, expected 16 to 21"},
    {CDR_FMT_ASTERISK, ".1\",\"\"", ".1\",\"\",\"p\",\"l\",7,\"x\"", CDR_FORMAT, "\"x\"",
     "more than 21 columns"},
    {CDR_FMT_ASTERISK, "\"13800000001\",\"1391", "\"1380000abc1\",\"1391", CDR_FORMAT,
     "\"1380000abc1", "src '1380000abc1' has a non-digit 'a'"},
    {CDR_FMT_ASTERISK, "\"2026-11-02 10:00:05\"", "\"2026-12-05 10:00:05\"", CDR_RANGE,
     "\"2026-12-05",
     "start 2026-12-05T10:00:05+08:00 is outside the window "
     "[2026-10-31T16:00:00Z, 2026-11-30T16:00:00Z)"},
    {CDR_FMT_ASTERISK, ",66,61,", ",90010,90000,", CDR_RANGE, "90000,",
     "duration 90000 s is longer than the maximum 86400 s"},
    {CDR_FMT_ASTERISK, "\"ANSWERED\"", "\"MAYBE\"", CDR_FORMAT, "\"MAYBE",
     "unknown disposition 'MAYBE'"},
    {CDR_FMT_ASTERISK, "\"2026-11-02 10:00:05\"", "\"\"", CDR_FORMAT, "\"\",\"2026-11-02 10:01:06",
     "ANSWERED call without an answer time"},
    {CDR_FMT_ASTERISK, ",61,", ",6\"1,", CDR_FORMAT, "\"1,", "quote inside an unquoted field"},
    {CDR_FMT_ASTERISK, "\"Dial\"", "\"Dial\"x", CDR_FORMAT, "x,",
     "expected ',' after a closing quote"},
    {CDR_FMT_ASTERISK, "\"2026-11-02 10:01:06\"", "\"2026/11/02 10:01:06\"", CDR_FORMAT,
     "\"2026/11", "end is not YYYY-MM-DD HH:MM:SS"},
    {CDR_FMT_ASTERISK, "\"2026-11-02 10:00:05\"", "\"2026-11-02 24:00:05\"", CDR_RANGE,
     "\"2026-11-02 24", "answer is not a real date and time"},
    {CDR_FMT_ASTERISK, "\"13912345678\",\"from", "\"\",\"from", CDR_FORMAT, "\"\",\"from",
     "dst is empty"},
    {CDR_FMT_ASTERISK, "\"Dial\"",
     "\"Di\x01"
     "al\"",
     CDR_FORMAT, "\x01", "control character in a field"},
    {CDR_FMT_ASTERISK, "\"13912345678\",\"from", "\"0086123456789012345\",\"from", CDR_FORMAT,
     "\"0086123456789012345", "dst '0086123456789012345' is longer than 15 digits"},
    {CDR_FMT_ASTERISK, "\"13800000001\",\"1391", "\"138+0001\",\"1391", CDR_FORMAT, "\"138+",
     "src '138+0001' has '+' not at its start"},
    /* FreeSWITCH (default template) */
    {CDR_FMT_FREESWITCH, "\"NORMAL_CLEARING\"", "\"\"", CDR_FORMAT, "\"\",\"uuid-1",
     "hangup_cause is empty"},
    {CDR_FMT_FREESWITCH, "\"uuid-1\"", "\"\"", CDR_FORMAT, "\"\",\"\",\"1000", "uuid is empty"},
    {CDR_FMT_FREESWITCH, ",\"1000\"", "", CDR_FORMAT, NULL, "12 columns, expected 13 or 15"},
    {CDR_FMT_FREESWITCH, ",\"1000\"", ",\"1000\",\"PCMA\"", CDR_FORMAT, "\"PCMA",
     "14 columns, expected 13 or 15"},
    {CDR_FMT_FREESWITCH, ",\"1000\"", ",\"1000\",\"PCMA\",\"PCMA\",\"x\"", CDR_FORMAT, "\"x",
     "more than 15 columns"},
    {CDR_FMT_FREESWITCH, "\"61\"", "\"abc\"", CDR_FORMAT, "\"abc", "billsec is not a whole number"},
    {CDR_FMT_FREESWITCH, "\"66\"", "\"-1\"", CDR_RANGE, "\"-1", "duration is negative"},
    {CDR_FMT_FREESWITCH, "\"2026-11-02 10:00:00\"", "\"2026-13-01 10:00:00\"", CDR_RANGE,
     "\"2026-13", "start_stamp is not a real date and time"},
    {CDR_FMT_FREESWITCH, "\"13800000001\",\"1391", "\"+0086138\",\"1391", CDR_FORMAT, "\"+0086138",
     "caller_id_number '+0086138' has no number after its prefix"},
    {CDR_FMT_FREESWITCH, "\"2026-11-02 10:00:05\"", "\"\"", CDR_FORMAT,
     "\"\",\"2026-11-02 10:01:06", "billsec 61 but no answer time"},
    {CDR_FMT_FREESWITCH, "\"NORMAL_CLEARING\"", "\"normal clearing\"", CDR_FORMAT,
     "\"normal clearing", "hangup_cause 'normal clearing' is not a cause name"},
    {CDR_FMT_FREESWITCH, "\"61\"", "\"86401\"", CDR_RANGE, "\"86401",
     "duration 86401 s is longer than the maximum 86400 s"},
    {CDR_FMT_FREESWITCH, "\"Chen, Jing\"", "\"Chen, \"Jing\"", CDR_FORMAT, "J",
     "expected ',' after a closing quote"},
    /* the project's CSV */
    {CDR_FMT_CSV, "2026-11-02T10:00:00", "2026-02-30T10:00:00", CDR_RANGE, "2026-02-30",
     "start is not a real date and time"},
    {CDR_FMT_CSV, ",61,", ",-61,", CDR_FORMAT, "-61", "duration is not a whole number"},
    {CDR_FMT_CSV, ",16,", ",16", CDR_FORMAT, NULL, "15 fields, expected 16"},
    {CDR_FMT_CSV, "2026-11-02T10", "2026-10-02T10", CDR_RANGE, "2026-10-02",
     "is outside the window"},
    {CDR_FMT_CSV, ",61,", ",90000,", CDR_RANGE, "90000",
     "duration 90000 s is longer than the maximum 86400 s"},
    {CDR_FMT_CSV, "8613912345678", "8613912345678901", CDR_FORMAT, "8613912345678901",
     "other '8613912345678901' is longer than 15 digits"},
    {CDR_FMT_CSV, "8613800000001", "86138000x0001", CDR_FORMAT, "86138000x0001",
     "msisdn must be 1-15 digits"},
    {CDR_FMT_CSV, "voice", "fax", CDR_FORMAT, "fax", "unknown service 'fax'"},
};

/* good_line "\n" bad "\r\n" good_line: the bad line is line 2, the other two are records. */
static void run_bad_case(const bad_case *bc)
{
    const char *good = bc->bc_fmt == CDR_FMT_CSV        ? good_csv
                       : bc->bc_fmt == CDR_FMT_ASTERISK ? good_ast
                                                        : good_fs;
    const char *at = strstr(good, bc->bc_from);
    cr_assert_not_null(at, "case '%s': not in the good line", bc->bc_from);
    char bad[2048];
    snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, bc->bc_to,
             at + strlen(bc->bc_from));
    char file[8192];
    snprintf(file, sizeof file, "%s\n%s\r\n%s\n", good, bad, good);
    cdr_coll_config cc = test_config();
    items its = {0};
    decode(bc->bc_fmt, &cc, "bad.csv", file, strlen(file), &its);
    cr_assert_eq(its.it_n, 3, "[%s] %zu items", bad, its.it_n);
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_RECORD, "[%s] line 1: %s", bad,
                 its.it_v[0].ci_diag.dg_msg);
    cr_assert_eq(its.it_v[2].ci_kind, CDR_ITEM_RECORD, "[%s] line 3", bad);
    cr_assert_eq(its.it_v[2].ci_line, 3);
    const cdr_coll_item *ci = &its.it_v[1];
    cr_assert_eq(ci->ci_kind, CDR_ITEM_REJECTED, "[%s] not rejected", bad);
    cr_assert_eq(ci->ci_line, 2);
    cr_assert_eq(ci->ci_diag.dg_line, 2);
    cr_assert_str_eq(ci->ci_diag.dg_file, "bad.csv");
    cr_assert_eq(ci->ci_index, 1);
    cr_assert_eq(ci->ci_offset, strlen(good) + 1);
    cr_assert_eq(ci->ci_length, strlen(bad));
    cr_assert_eq(ci->ci_diag.dg_code, bc->bc_code, "[%s] code %s, message '%s'", bad,
                 cdr_err_name(ci->ci_diag.dg_code), ci->ci_diag.dg_msg);
    const int col =
        bc->bc_col_at ? (int)(strstr(bad, bc->bc_col_at) - bad) + 1 : (int)strlen(bad) + 1;
    cr_assert_eq(ci->ci_diag.dg_column, col, "[%s] column %d, expected %d ('%s')", bad,
                 ci->ci_diag.dg_column, col, ci->ci_diag.dg_msg);
    cr_assert_not_null(strstr(ci->ci_diag.dg_msg, bc->bc_reason), "[%s] message '%s'", bad,
                       ci->ci_diag.dg_msg);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 2);
    cr_assert_eq(its.it_kind[CDR_ITEM_REJECTED], 1);
    items_free(&its);
}

Test(coll_malformed, every_case)
{
    const size_t n = sizeof bad_cases / sizeof bad_cases[0];
    cr_assert_geq(n, 20);
    for (size_t i = 0; i < n; i++)
        run_bad_case(&bad_cases[i]);
}

/* A 10 MB line between two good lines: rejected whole at column 1, the others kept. */
Test(coll_malformed, ten_megabyte_line)
{
    const int fmts[] = {CDR_FMT_CSV, CDR_FMT_ASTERISK, CDR_FMT_FREESWITCH};
    const char *goods[] = {good_csv, good_ast, good_fs};
    const size_t big = 10u << 20;
    for (int k = 0; k < 3; k++) {
        const size_t gl = strlen(goods[k]);
        char *buf = malloc(2 * gl + big + 3);
        cr_assert_not_null(buf);
        memcpy(buf, goods[k], gl);
        buf[gl] = '\n';
        memset(buf + gl + 1, 'x', big);
        buf[gl + 1 + big] = '\n';
        memcpy(buf + gl + 2 + big, goods[k], gl);
        cdr_coll_config cc = test_config();
        items its = {0};
        decode(fmts[k], &cc, "big.csv", buf, 2 * gl + big + 2, &its); /* last line: no '\n' */
        cr_assert_eq(its.it_n, 3);
        cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_RECORD);
        cr_assert_eq(its.it_v[2].ci_kind, CDR_ITEM_RECORD);
        const cdr_coll_item *ci = &its.it_v[1];
        cr_assert_eq(ci->ci_kind, CDR_ITEM_REJECTED);
        cr_assert_eq(ci->ci_line, 2);
        cr_assert_eq(ci->ci_diag.dg_column, 1);
        cr_assert_eq(ci->ci_length, big);
        cr_assert_str_eq(ci->ci_diag.dg_msg, "line of 10485760 bytes is longer than 4096");
        items_free(&its);
        free(buf);
    }
}

/* Random bytes (with NULs) given as a text file: every non-blank line rejected, nothing else. */
Test(coll_malformed, binary_file)
{
    const size_t n = 1 << 16;
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
    /* the expected number of non-blank lines */
    size_t lines = 0, linelen = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || buf[i] == '\n') {
            if (linelen > 0 && !(linelen == 1 && buf[i - 1] == '\r'))
                lines++;
            linelen = 0;
        } else {
            linelen++;
        }
    }
    for (int fmt = CDR_FMT_CSV; fmt <= CDR_FMT_FREESWITCH; fmt++) {
        cdr_coll_config cc = test_config();
        items its = {0};
        decode(fmt, &cc, "random.bin", buf, n, &its);
        cr_assert_eq(its.it_n, lines);
        cr_assert_eq(its.it_kind[CDR_ITEM_REJECTED], lines, "format %d", fmt);
        for (size_t i = 0; i < its.it_n; i++) {
            cr_assert_geq(its.it_v[i].ci_diag.dg_column, 1);
            cr_assert_neq(its.it_v[i].ci_diag.dg_msg[0], '\0');
        }
        /* the first line holds a NUL or another control character before any line end */
        items_free(&its);
    }
    free(buf);
}

Test(coll_malformed, nul_byte)
{
    char line[512];
    const size_t gl = strlen(good_ast);
    memcpy(line, good_ast, gl);
    line[5] = '\0'; /* inside "13800000001" */
    cdr_coll_config cc = test_config();
    items its = {0};
    decode(CDR_FMT_ASTERISK, &cc, "nul.csv", line, gl, &its);
    cr_assert_eq(its.it_n, 1);
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_REJECTED);
    cr_assert_eq(its.it_v[0].ci_diag.dg_column, 6);
    cr_assert_str_eq(its.it_v[0].ci_diag.dg_msg, "control character in a field");
    items_free(&its);
}

/* An emit callback's non-zero result stops decoding and is returned. */
static int stop_at_second(void *arg, const cdr_coll_item *ci)
{
    (void)ci;
    return ++*(int *)arg == 2 ? 42 : 0;
}

Test(coll_decode, emit_stops)
{
    char file[2048];
    snprintf(file, sizeof file, "%s\n%s\n%s\n", good_fs, good_fs, good_fs);
    cdr_coll_config cc = test_config();
    cdr_coll_decoder *d;
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_FREESWITCH, &cc, &d, NULL), 0);
    int calls = 0;
    cr_assert_eq(
        cdr_coll_decode(d, "x", (const uint8_t *)file, strlen(file), stop_at_second, &calls), 42);
    cr_assert_eq(calls, 2);
    cdr_coll_decoder_destroy(d);
}

/* Many records in one file with every kind mixed in: the counts are exact. */
Test(coll_decode, many_records_counts)
{
    const size_t n = 20000;
    cdr_buf b = {0};
    size_t want[3] = {0};
    for (size_t i = 0; i < n; i++) {
        char line[1024];
        if (i % 13 == 5) {
            snprintf(line, sizeof line, "%s,\"extra\"\n", good_fs); /* 14 columns */
            want[CDR_ITEM_REJECTED]++;
        } else if (i % 7 == 3) {
            snprintf(
                line, sizeof line,
                "\"\",\"1380000%04zu\",\"13912345678\",\"default\",\"2026-11-02 10:00:00\","
                "\"\",\"2026-11-02 10:00:20\",\"20\",\"0\",\"NO_ANSWER\",\"u-%zu\",\"\",\"\"\n",
                i % 10000, i);
            want[CDR_ITEM_NONBILLABLE]++;
        } else {
            snprintf(line, sizeof line,
                     "\"A\",\"1380000%04zu\",\"13912345678\",\"default\",\"2026-11-02 10:00:00\","
                     "\"2026-11-02 10:00:05\",\"2026-11-02 10:01:06\",\"66\",\"%zu\","
                     "\"NORMAL_CLEARING\",\"u-%zu\",\"\",\"1\"\r\n",
                     i % 10000, i % 3600 + 1, i);
            want[CDR_ITEM_RECORD]++;
        }
        cr_assert_eq(cdr_buf_put(&b, line, strlen(line)), 0);
    }
    cdr_coll_config cc = test_config();
    items its = {0};
    decode(CDR_FMT_FREESWITCH, &cc, "many.csv", b.b_data, b.b_len, &its);
    cr_assert_eq(its.it_n, n);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(its.it_kind[k], want[k], "kind %d", k);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(its.it_v[i].ci_index, i);
        cr_assert_eq(its.it_v[i].ci_line, i + 1);
    }
    items_free(&its);
    cdr_buf_free(&b);
}

/* ---- FreeSWITCH column mappings -------------------------------------------------------------- */

static int fs_create(const char *columns, cdr_diag *dg)
{
    cdr_coll_config cc = test_config();
    snprintf(cc.cc_fs_columns, sizeof cc.cc_fs_columns, "%s", columns);
    cdr_coll_decoder *d = NULL;
    cdr_diag_clear(dg);
    const int rc = cdr_coll_decoder_create(CDR_FMT_FREESWITCH, &cc, &d, dg);
    cdr_coll_decoder_destroy(d);
    return rc;
}

Test(coll_fs_mapping, refused_mappings)
{
    cdr_diag dg;
    cr_assert_eq(fs_create("caller_id_number,destination_number,answer_stamp,billsec,"
                           "hangup_cause",
                           &dg),
                 CDR_EINVAL);
    cr_assert_not_null(strstr(dg.dg_msg, "lacks uuid"), "%s", dg.dg_msg);
    cr_assert_eq(fs_create("caller_id_number,destination_number,start_stamp,billsec,"
                           "hangup_cause,uuid",
                           &dg),
                 CDR_EINVAL);
    cr_assert_not_null(strstr(dg.dg_msg, "lacks answer_stamp or answer_epoch"), "%s", dg.dg_msg);
    cr_assert_eq(fs_create("uuid,caller_id_number,destination_number,answer_stamp,billsec,"
                           "hangup_cause,uuid",
                           &dg),
                 CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "FreeSWITCH column mapping names uuid twice (columns 1 and 7)");
    cr_assert_eq(fs_create("uuid,,caller_id_number,destination_number,answer_stamp,billsec,"
                           "hangup_cause",
                           &dg),
                 CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "FreeSWITCH column mapping: column 2 has no variable name");
    cr_assert_eq(fs_create("uuid,caller_id_number,destination_number,answer_stamp,billsec,"
                           "hangup_cause",
                           &dg),
                 0);
    cr_assert_eq(fs_create(" ${uuid} ,${caller_id_number},destination_number,answer_epoch,"
                           "billsec,hangup_cause,x,y,z",
                           &dg),
                 0);
}

Test(coll_fs_mapping, custom_column_count)
{
    cdr_coll_config cc = test_config();
    snprintf(cc.cc_fs_columns, sizeof cc.cc_fs_columns,
             "uuid,caller_id_number,destination_number,answer_stamp,billsec,hangup_cause");
    const char *file = "u1,13800000001,13912345678,2026-11-02 10:00:05,61,NORMAL_CLEARING\n"
                       "u2,13800000001,13912345678,2026-11-02 10:00:05,61\n"
                       "u3,13800000001,13912345678,2026-11-02 10:00:05,61,NORMAL_CLEARING,x\n";
    items its = {0};
    decode(CDR_FMT_FREESWITCH, &cc, "custom.csv", file, strlen(file), &its);
    cr_assert_eq(its.it_n, 3);
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_RECORD);
    cr_assert_str_eq(its.it_v[1].ci_diag.dg_msg, "5 columns, expected 6");
    cr_assert_eq(its.it_v[1].ci_diag.dg_column, 50); /* end of line + 1 */
    cr_assert_str_eq(its.it_v[2].ci_diag.dg_msg, "more than 6 columns");
    cr_assert_eq(its.it_v[2].ci_diag.dg_column, 67); /* the 'x' */
    items_free(&its);
}

Test(coll_config, empty_source_refused)
{
    cdr_coll_config cc = test_config();
    cc.cc_source[0] = '\0';
    cdr_coll_decoder *d = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_ASTERISK, &cc, &d, &dg), CDR_EINVAL);
    cr_assert_null(d);
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_FREESWITCH, &cc, &d, &dg), CDR_EINVAL);
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_CSV, &cc, &d, &dg), 0); /* per record */
    cdr_coll_decoder_destroy(d);
}

/* ---- numbers --------------------------------------------------------------------------------- */

Test(coll_number, china_rules)
{
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    const struct {
        const char *in, *out; /* out NULL: CDR_FORMAT */
    } cases[] = {
        {"+8613800000001", "8613800000001"},
        {"008613800000001", "8613800000001"},
        {"013800000001", "8613800000001"},  /* trunk 0 before a mobile number */
        {"13800000001", "8613800000001"},   /* mobile, as dialled */
        {"8613800000001", "8613800000001"}, /* already E.164 */
        {"01012345678", "861012345678"},
        {"(010) 1234-5678", "861012345678"},
        {"+86 138-0000-0001", "8613800000001"},
        {"0755 8888 9999", "8675588889999"},
        {"004930123456", "4930123456"},
        {"+4930123456", "4930123456"},
        {"10086", "10086"},
        {"110", "110"},
        {"1000", "1000"},
        {"123456", "123456"},
        {"1234567", "861234567"},
        {"86123456", "8686123456"}, /* cc + fewer than 7 digits: a local number */
        {"010086", "8610086"},
        {"4008123123", "864008123123"},
        {"+1 (212) 555-0100", "12125550100"},
        {"", NULL},
        {" - ", NULL},
        {"+", NULL},
        {"00", NULL},
        {"0", NULL},
        {"000123", NULL},
        {"+0123", NULL},
        {"138abc", NULL},
        {"*97", NULL},
        {"s", NULL},
        {"1380000000+1", NULL},
        {"++8613800000001", NULL},
        {"0012345678901234", "12345678901234"},
        {"00123456789012345", "123456789012345"},
        {"001234567890123456", NULL}, /* 16 digits */
        {"0123456789012345", NULL},   /* 86 + 15 */
        {"12345678901234567890123456789", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[CDR_NUMBER_MAX] = "junk";
        const int rc = cdr_coll_normalise_number(&cc.cc_numbering, cases[i].in, strlen(cases[i].in),
                                                 out, sizeof out);
        if (cases[i].out) {
            cr_assert_eq(rc, 0, "'%s'", cases[i].in);
            cr_assert_str_eq(out, cases[i].out, "'%s'", cases[i].in);
        } else {
            cr_assert_eq(rc, CDR_FORMAT, "'%s' gave '%s'", cases[i].in, out);
            cr_assert_str_eq(out, "");
        }
    }
    char small[8];
    cr_assert_eq(
        cdr_coll_normalise_number(&cc.cc_numbering, "13800000001", 11, small, sizeof small),
        CDR_FORMAT);
    cr_assert_eq(cdr_coll_normalise_number(NULL, "1", 1, small, sizeof small), CDR_EINVAL);
}

Test(coll_number, other_rules)
{
    /* Germany: cc 49, trunk 0, intl 00 */
    cdr_coll_numbering nu = {"49", "0", "00", 6};
    char out[CDR_NUMBER_MAX];
    cr_assert_eq(cdr_coll_normalise_number(&nu, "030 1234567", 11, out, sizeof out), 0);
    cr_assert_str_eq(out, "49301234567");
    cr_assert_eq(cdr_coll_normalise_number(&nu, "112", 3, out, sizeof out), 0);
    cr_assert_str_eq(out, "112");
    /* no trunk prefix (e.g. Italy): a leading 0 belongs to the number */
    cdr_coll_numbering it = {"39", "", "00", 6};
    cr_assert_eq(cdr_coll_normalise_number(&it, "0612345678", 10, out, sizeof out), 0);
    cr_assert_str_eq(out, "390612345678");
}

/* ---- validation ------------------------------------------------------------------------------ */

static cdr_record valid_record(void)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    strcpy(cr.cr_source, "MSC01");
    strcpy(cr.cr_origin_id, "7");
    strcpy(cr.cr_msisdn, "8613800000001");
    strcpy(cr.cr_other, "10086");
    int32_t off;
    cr_assert_eq(cdr_time_parse_iso("2026-11-02T10:00:00+08:00", 25, &cr.cr_start, &off), 0);
    cr.cr_utc_offset = off;
    cr.cr_duration = 60;
    return cr;
}

static void expect_invalid(const cdr_coll_config *cc, const cdr_record *cr, int code,
                           const char *msg)
{
    cdr_diag dg;
    cr_assert_eq(cdr_coll_validate(cc, cr, &dg), code, "%s", dg.dg_msg);
    cr_assert_str_eq(dg.dg_msg, msg);
}

Test(coll_validate, messages)
{
    cdr_coll_config cc = test_config();
    cdr_record cr = valid_record();
    cdr_diag dg;
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), 0);

    cr = valid_record();
    cr.cr_source[0] = '\0';
    expect_invalid(&cc, &cr, CDR_FORMAT, "empty source element");
    cr = valid_record();
    cr.cr_origin_id[0] = '\0';
    expect_invalid(&cc, &cr, CDR_FORMAT, "empty origin record id");
    cr = valid_record();
    cr.cr_msisdn[0] = '\0';
    expect_invalid(&cc, &cr, CDR_FORMAT, "empty served MSISDN");
    cr = valid_record();
    strcpy(cr.cr_msisdn, "8613800000001234");
    expect_invalid(&cc, &cr, CDR_FORMAT, "served MSISDN is not 1-15 digits");
    cr = valid_record();
    strcpy(cr.cr_other, "1x");
    expect_invalid(&cc, &cr, CDR_FORMAT, "other party is not digits");
    cr = valid_record();
    cr.cr_service = CDR_SVC_COUNT;
    expect_invalid(&cc, &cr, CDR_FORMAT, "unknown service 5");
    cr = valid_record();
    cr.cr_direction = 7;
    expect_invalid(&cc, &cr, CDR_FORMAT, "unknown direction 7");

    cr = valid_record();
    cr.cr_start = cc.cc_window_from - 1;
    expect_invalid(&cc, &cr, CDR_RANGE,
                   "start 2026-10-31T23:59:59+08:00 is outside the window "
                   "[2026-10-31T16:00:00Z, 2026-11-30T16:00:00Z)");
    cr.cr_start = cc.cc_window_from; /* [from, to) */
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), 0);
    cr.cr_start = cc.cc_window_to;
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), CDR_RANGE);
    cc.cc_window_from = 0; /* only an upper bound */
    expect_invalid(&cc, &cr, CDR_RANGE,
                   "start 2026-12-01T00:00:00+08:00 is outside the window "
                   "[-, 2026-11-30T16:00:00Z)");
    cc.cc_window_to = 0; /* no window */
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), 0);

    cr = valid_record();
    cr.cr_duration = 86401;
    expect_invalid(&cc, &cr, CDR_RANGE, "duration 86401 s is longer than the maximum 86400 s");
    cr.cr_duration = 86400;
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), 0);
    cc.cc_max_duration = 0; /* no maximum */
    cr.cr_duration = UINT32_MAX;
    cr_assert_eq(cdr_coll_validate(&cc, &cr, &dg), 0);
}

/* ---- local times: DST fold and gap (Europe/Berlin) ------------------------------------------- */

/* One Asterisk line answered at `answer` (local), 60 s. */
static int ast_line_at(char *buf, size_t n, const char *answer, unsigned id)
{
    return snprintf(buf, n,
                    "\"\",\"13800000001\",\"13912345678\",\"from-internal\",\"x\",\"SIP/1-1\","
                    "\"SIP/2-2\",\"Dial\",\"\",\"%s\",\"%s\",\"%s\",60,60,\"ANSWERED\","
                    "\"DOCUMENTATION\",\"id-%u\"\n",
                    answer, answer, answer, id);
}

static void berlin(cdr_coll_config *cc)
{
    *cc = test_config();
    snprintf(cc->cc_timezone, sizeof cc->cc_timezone, "Europe/Berlin");
    cc->cc_window_from = cc->cc_window_to = 0;
}

Test(coll_dst, berlin_fold_and_gap)
{
    cdr_coll_config cc;
    berlin(&cc);
    const struct {
        const char *local, *utc;
        int32_t off;
    } cases[] = {
        /* autumn 2026: 03:00 CEST -> 02:00 CET at 01:00Z; 02:00..02:59:59 happen twice */
        {"2026-10-25 01:59:59", "2026-10-24T23:59:59Z", 7200},
        {"2026-10-25 02:00:00", "2026-10-25T00:00:00Z", 7200}, /* fold: the earlier instant */
        {"2026-10-25 02:30:00", "2026-10-25T00:30:00Z", 7200},
        {"2026-10-25 02:59:59", "2026-10-25T00:59:59Z", 7200},
        {"2026-10-25 03:00:00", "2026-10-25T02:00:00Z", 3600},
        /* spring 2026: 02:00 CET -> 03:00 CEST at 01:00Z; 02:00..02:59:59 do not exist */
        {"2026-03-29 01:59:59", "2026-03-29T00:59:59Z", 3600},
        {"2026-03-29 02:00:00", "2026-03-29T01:00:00Z", 3600}, /* gap: the earlier offset */
        {"2026-03-29 02:30:00", "2026-03-29T01:30:00Z", 3600},
        {"2026-03-29 03:00:00", "2026-03-29T01:00:00Z", 7200},
        {"2026-07-01 12:00:00", "2026-07-01T10:00:00Z", 7200},
        {"2026-12-01 12:00:00", "2026-12-01T11:00:00Z", 3600},
    };
    const size_t n = sizeof cases / sizeof cases[0];
    char file[8192];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)ast_line_at(file + len, sizeof file - len, cases[i].local, (unsigned)i);
    items its = {0};
    decode(CDR_FMT_ASTERISK, &cc, "berlin.csv", file, len, &its);
    cr_assert_eq(its.it_n, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(its.it_v[i].ci_kind, CDR_ITEM_RECORD, "%s: %s", cases[i].local,
                     its.it_v[i].ci_diag.dg_msg);
        cdr_time want;
        int32_t z;
        cr_assert_eq(cdr_time_parse_iso(cases[i].utc, strlen(cases[i].utc), &want, &z), 0);
        cr_assert_eq(its.it_v[i].ci_rec.cr_start, want, "%s", cases[i].local);
        cr_assert_eq(its.it_v[i].ci_rec.cr_utc_offset, cases[i].off, "%s", cases[i].local);
    }
    items_free(&its);
}

/* The documented rule, computed independently: a local time maps with the CEST (+2) or CET (+1)
 * offset that is in force at the resulting instant; both (fold): the earlier instant; neither
 * (gap): the offset before the change. */
static void berlin_oracle(const cdr_tz *tz, int64_t local, cdr_time *utc, int32_t *off)
{
    const int va = cdr_tz_offset(tz, local - 7200, NULL) == 7200;
    const int vb = cdr_tz_offset(tz, local - 3600, NULL) == 3600;
    if (va) {
        *utc = local - 7200;
        *off = 7200;
    } else if (vb) {
        *utc = local - 3600;
        *off = 3600;
    } else {
        *off = cdr_tz_offset(tz, local - 86400, NULL);
        *utc = local - *off;
    }
}

/* Every 5 minutes over four days around both 2026 changes, in a shuffled order (the decoder's
 * cached zone look-up must agree with the rule wherever it starts). */
Test(coll_dst, sweep_matches_rule)
{
    cdr_coll_config cc;
    berlin(&cc);
    cdr_tz tz;
    cr_assert_eq(cdr_tz_load("Europe/Berlin", &tz), 0);
    const int64_t changes[2] = {cdr_days_from_civil(2026, 3, 29) * 86400 + 2 * 3600,
                                cdr_days_from_civil(2026, 10, 25) * 86400 + 2 * 3600};
    enum { STEPS = 4 * 24 * 12 };
    int64_t locals[2 * STEPS];
    size_t n = 0;
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < STEPS; s++)
            locals[n++] = changes[c] - 2 * 86400 + s * 300 + (s % 7);
    uint64_t x = 12345;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const size_t j = (size_t)(x >> 33) % (i + 1);
        const int64_t t = locals[i];
        locals[i] = locals[j];
        locals[j] = t;
    }
    cdr_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        char ts[32], stamp[20], line[512];
        cdr_time_format(locals[i], 0, 0, ts, sizeof ts);
        memcpy(stamp, ts, 19);
        stamp[10] = ' ';
        stamp[19] = '\0';
        const int ll = ast_line_at(line, sizeof line, stamp, (unsigned)i);
        cr_assert_eq(cdr_buf_put(&b, line, (size_t)ll), 0);
    }
    items its = {0};
    decode(CDR_FMT_ASTERISK, &cc, "sweep.csv", b.b_data, b.b_len, &its);
    cr_assert_eq(its.it_n, n);
    for (size_t i = 0; i < n; i++) {
        cdr_time utc;
        int32_t off;
        berlin_oracle(&tz, locals[i], &utc, &off);
        cr_assert_eq(its.it_v[i].ci_kind, CDR_ITEM_RECORD);
        cr_assert_eq(its.it_v[i].ci_rec.cr_start, utc, "local %lld", (long long)locals[i]);
        cr_assert_eq(its.it_v[i].ci_rec.cr_utc_offset, off, "local %lld", (long long)locals[i]);
    }
    items_free(&its);
    cdr_buf_free(&b);
    cdr_tz_free(&tz);
}

/* ---- generator -> decoder round trips -------------------------------------------------------- */

/* Voice records of the generator with the given UTC offset. */
static cdr_record *voice_records(int32_t offset, size_t want, size_t *got)
{
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    cdr_record *out = malloc(want * sizeof *out);
    cdr_record chunk[4096];
    size_t n = 0;
    for (int round = 0; round < 200 && n < want; round++) {
        cdr_gen_cdrs(g, chunk, 4096);
        for (size_t i = 0; i < 4096 && n < want; i++)
            if (chunk[i].cr_service == CDR_SVC_VOICE && chunk[i].cr_utc_offset == offset)
                out[n++] = chunk[i];
    }
    cdr_gen_destroy(g);
    *got = n;
    return out;
}

static void round_trip(int fmt, const char *zone, int32_t offset, size_t want)
{
    size_t n;
    cdr_record *recs = voice_records(offset, want, &n);
    cr_assert_gt(n, 100, "only %zu records at offset %d", n, offset);
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format(fmt, recs, n, &b), 0);
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    snprintf(cc.cc_source, sizeof cc.cc_source, "PBX7");
    snprintf(cc.cc_timezone, sizeof cc.cc_timezone, "%s", zone);
    items its = {0};
    decode(fmt, &cc, "gen.csv", b.b_data, b.b_len, &its);
    cr_assert_eq(its.it_n, n);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], n);
    for (size_t i = 0; i < n; i++) {
        const cdr_record *a = &recs[i], *r = &its.it_v[i].ci_rec;
        cr_assert_str_eq(r->cr_msisdn, a->cr_msisdn, "record %zu", i);
        cr_assert_str_eq(r->cr_other, a->cr_other, "record %zu", i);
        cr_assert_eq(r->cr_start, a->cr_start, "record %zu", i);
        cr_assert_eq(r->cr_utc_offset, a->cr_utc_offset, "record %zu", i);
        cr_assert_eq(r->cr_duration, a->cr_duration, "record %zu", i);
        cr_assert_str_eq(r->cr_origin_id, a->cr_origin_id, "record %zu", i);
        cr_assert_str_eq(r->cr_source, "PBX7");
        cr_assert_eq(r->cr_service, CDR_SVC_VOICE);
        cr_assert_eq(r->cr_direction, CDR_DIR_MO);
    }
    items_free(&its);
    cdr_buf_free(&b);
    free(recs);
}

Test(coll_round_trip, asterisk_china)
{
    round_trip(CDR_FMT_ASTERISK, "Asia/Shanghai", 8 * 3600, 20000);
}

Test(coll_round_trip, asterisk_berlin)
{
    round_trip(CDR_FMT_ASTERISK, "Europe/Berlin", 3600, 2000);
}

Test(coll_round_trip, freeswitch_china)
{
    round_trip(CDR_FMT_FREESWITCH, "Asia/Shanghai", 8 * 3600, 20000);
}

Test(coll_round_trip, freeswitch_berlin)
{
    round_trip(CDR_FMT_FREESWITCH, "Europe/Berlin", 3600, 2000);
}

Test(coll_round_trip, project_csv_all_services)
{
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    enum { N = 5000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_gen_cdrs(g, recs, N);
    cdr_gen_destroy(g);
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format(CDR_FMT_CSV, recs, N, &b), 0);
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    items its = {0};
    decode(CDR_FMT_CSV, &cc, "gen.csv", b.b_data, b.b_len, &its);
    cr_assert_eq(its.it_n, N);
    size_t nonbill = 0;
    for (size_t i = 0; i < N; i++) {
        if (its.it_v[i].ci_kind == CDR_ITEM_NONBILLABLE) {
            nonbill++;
            continue;
        }
        cr_assert_eq(its.it_v[i].ci_kind, CDR_ITEM_RECORD, "%s", its.it_v[i].ci_diag.dg_msg);
        cr_assert_eq(memcmp(&its.it_v[i].ci_rec, &recs[i], sizeof recs[i]), 0, "record %zu", i);
    }
    cr_assert_eq(nonbill, 0);
    items_free(&its);
    cdr_buf_free(&b);
    free(recs);
}

Test(coll_round_trip, only_voice)
{
    cdr_record cr = valid_record();
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format_asterisk(&cr, 1, &b), 0);
    const size_t one = b.b_len;
    cr_assert_gt(one, 0);
    cdr_record two[2] = {cr, cr};
    two[1].cr_service = CDR_SVC_SMS;
    cr_assert_eq(cdr_gen_format_asterisk(two, 2, &b), CDR_EINVAL);
    cr_assert_eq(cdr_gen_format_freeswitch(two, 2, &b), CDR_EINVAL);
    cr_assert_eq(b.b_len, one); /* nothing appended */
    cdr_buf_free(&b);
}
