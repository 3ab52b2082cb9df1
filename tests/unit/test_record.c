/* test_record.c - the CDR record: wire format round trip and rejection, CSV layout, reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_record.h"

static cdr_record sample(void)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    strcpy(cr.cr_source, "MSC01");
    strcpy(cr.cr_origin_id, "1234567");
    strcpy(cr.cr_msisdn, "8613800000001");
    strcpy(cr.cr_imsi, "460001234567890");
    strcpy(cr.cr_other, "8610086");
    cr.cr_start = 1790000000;
    cr.cr_utc_offset = 8 * 3600;
    cr.cr_duration = 61;
    cr.cr_bytes_up = 5;
    cr.cr_bytes_down = 1ULL << 40;
    cr.cr_owner = 77;
    cr.cr_cell = 4000000000u;
    cr.cr_mcc = 262;
    cr.cr_mnc = 1;
    cr.cr_cause = 16;
    cr.cr_service = CDR_SVC_VOICE;
    cr.cr_direction = CDR_DIR_MT;
    return cr;
}

Test(wire, round_trip)
{
    cdr_record cr = sample(), back;
    uint8_t buf[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(&cr, buf);
    cr_assert(n > 0 && n <= CDR_WIRE_MAX);
    cdr_diag dg;
    cr_assert_eq(cdr_wire_decode(buf, n, &back, &dg), 0);
    cr_assert_eq(memcmp(&cr, &back, sizeof cr), 0);
}

Test(wire, negative_start_and_offset)
{
    cdr_record cr = sample(), back;
    cr.cr_start = -86400;
    cr.cr_utc_offset = -5 * 3600;
    uint8_t buf[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(&cr, buf);
    cr_assert_eq(cdr_wire_decode(buf, n, &back, NULL), 0);
    cr_assert_eq(back.cr_start, -86400);
    cr_assert_eq(back.cr_utc_offset, -5 * 3600);
}

Test(wire, maximal_record_fits)
{
    cdr_record cr = sample();
    memset(cr.cr_source, 'S', CDR_SOURCE_MAX - 1);
    memset(cr.cr_origin_id, 'O', CDR_ORIGIN_MAX - 1);
    memset(cr.cr_msisdn, '9', CDR_NUMBER_MAX - 1);
    memset(cr.cr_other, '9', CDR_NUMBER_MAX - 1);
    cr.cr_start = INT64_MIN;
    cr.cr_bytes_up = cr.cr_bytes_down = cr.cr_owner = UINT64_MAX;
    uint8_t buf[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(&cr, buf);
    cr_assert_leq(n, CDR_WIRE_MAX);
    cdr_record back;
    cr_assert_eq(cdr_wire_decode(buf, n, &back, NULL), 0);
    cr_assert_eq(memcmp(&cr, &back, sizeof cr), 0);
}

Test(wire, every_truncation_is_rejected)
{
    cdr_record cr = sample(), back;
    uint8_t buf[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(&cr, buf);
    for (size_t len = 0; len < n; len++) {
        cdr_diag dg;
        cr_assert_eq(cdr_wire_decode(buf, len, &back, &dg), CDR_FORMAT, "len %zu", len);
    }
}

Test(wire, bad_version_service_trailing)
{
    cdr_record cr = sample(), back;
    uint8_t buf[CDR_WIRE_MAX + 1];
    size_t n = cdr_wire_encode(&cr, buf);
    cdr_diag dg;
    buf[0] = 9;
    cr_assert_eq(cdr_wire_decode(buf, n, &back, &dg), CDR_VERSION);
    cr_assert(strstr(dg.dg_msg, "unknown wire format version 9"));
    buf[0] = CDR_WIRE_VERSION;
    buf[1] = 7;
    cr_assert_eq(cdr_wire_decode(buf, n, &back, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "unknown service 7");
    buf[1] = CDR_SVC_VOICE;
    buf[n] = 0;
    cr_assert_eq(cdr_wire_decode(buf, n + 1, &back, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "1 trailing bytes after record"));
}

Test(wire, overlong_string_and_range)
{
    uint8_t buf[] = {1, 0, 0, 30};
    cdr_record back;
    cdr_diag dg;
    cr_assert_eq(cdr_wire_decode(buf, sizeof buf, &back, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field source longer than 23 bytes");
    cr_assert_eq(dg.dg_column, 4);
}

Test(wire, file_round_trip_and_corrupt_record_continues)
{
    char path[] = "/tmp/cdrw_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cdr_wire_writer *ww;
    cr_assert_eq(cdr_wire_writer_open(path, &ww, NULL), 0);
    cdr_record cr = sample();
    for (int i = 0; i < 3; i++) {
        snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "%d", i);
        cr_assert_eq(cdr_wire_writer_put(ww, &cr), 0);
    }
    cr_assert_eq(cdr_wire_writer_close(ww), 0);
    /* Corrupt the service byte of the second record: it is rejected, the third still reads. */
    FILE *f = fopen(path, "r+b");
    uint8_t first_len;
    fseek(f, 8, SEEK_SET);
    cr_assert_eq(fread(&first_len, 1, 1, f), 1);
    fseek(f, 8 + 1 + first_len + 1 + 1, SEEK_SET);
    fputc(9, f);
    fclose(f);
    cdr_reader *rd;
    cdr_diag dg;
    cr_assert_eq(cdr_reader_open(path, &rd, &dg), 0);
    cdr_record back;
    cr_assert_eq(cdr_reader_next(rd, &back, &dg), 1);
    cr_assert_str_eq(back.cr_origin_id, "0");
    cr_assert_eq(cdr_reader_next(rd, &back, &dg), CDR_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "byte offset %u: unknown service 9", 8 + 1 + first_len);
    cr_assert(strstr(dg.dg_msg, want), "%s", dg.dg_msg);
    cr_assert_eq(cdr_reader_next(rd, &back, &dg), 1);
    cr_assert_str_eq(back.cr_origin_id, "2");
    cr_assert_eq(cdr_reader_next(rd, &back, &dg), 0);
    cdr_reader_close(rd);
    unlink(path);
}

Test(csv, round_trip)
{
    cdr_record cr = sample(), back;
    char line[512];
    int n = cdr_csv_format(&cr, line, sizeof line);
    cr_assert(n > 0);
    cr_assert_eq(line[n - 1], '\n');
    cdr_diag dg;
    cr_assert_eq(cdr_csv_parse(line, (size_t)n - 1, &back, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(memcmp(&cr, &back, sizeof cr), 0);
}

typedef struct bad_csv {
    const char *line;
    int code;
    int column;
    const char *msg;
} bad_csv;

#define GOOD_TAIL "2026-11-02T10:00:00+08:00,61,0,0,,,,16,"

Test(csv, malformed_lines)
{
    static const bad_csv cases[] = {
        {"MSC1,1,voice,mo,8613800000001,,86139,2026-11-02T10:00:00+08:00,61,0,0,,,,16", CDR_FORMAT,
         76, "15 fields, expected 16"},
        {"MSC1,1,voice,mo,8613800000001,,86139," GOOD_TAIL ",x", CDR_FORMAT, 78,
         "too many fields (expected 16)"},
        {"MSC1,1,fax,mo,8613800000001,,86139," GOOD_TAIL, CDR_FORMAT, 8, "unknown service 'fax'"},
        {"MSC1,1,voice,up,8613800000001,,86139," GOOD_TAIL, CDR_FORMAT, 14,
         "unknown direction 'up'"},
        {"MSC1,1,voice,mo,86138x0000001,,86139," GOOD_TAIL, CDR_FORMAT, 17,
         "msisdn must be 1-15 digits"},
        {"MSC1,1,voice,mo,,,86139," GOOD_TAIL, CDR_FORMAT, 17, "msisdn must be 1-15 digits"},
        {",1,voice,mo,8613800000001,,86139," GOOD_TAIL, CDR_FORMAT, 1,
         "source empty or longer than 23"},
        {"MSC1,1,voice,mo,8613800000001,,86139,2026-02-30T10:00:00+08:00,61,0,0,,,,16,", CDR_RANGE,
         38, "start is not a real date and time"},
        {"MSC1,1,voice,mo,8613800000001,,86139,yesterday,61,0,0,,,,16,", CDR_PARSE, 38,
         "start is not YYYY-MM-DDTHH:MM:SS+HH:MM"},
        {"MSC1,1,voice,mo,8613800000001,,86139,2026-11-02T10:00:00+08:00,-5,0,0,,,,16,", CDR_FORMAT,
         64, "duration is not a whole number"},
        {"MSC1,1,voice,mo,8613800000001,,86139,2026-11-02T10:00:00+08:00,4294967296,0,0,,,,16,",
         CDR_RANGE, 64, "duration out of range (max 4294967295)"},
        {"MSC1,1,voice,mo,8613800000001,,86139,2026-11-02T10:00:00+08:00,61,0,0,1000,,,16,",
         CDR_RANGE, 71, "mcc out of range (max 999)"},
        {"MSC1,\"1\",voice,mo,8613800000001,,86139," GOOD_TAIL, CDR_FORMAT, 6,
         "unexpected quote in CDR CSV"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_record cr;
        cdr_diag dg;
        cdr_diag_clear(&dg);
        int rc = cdr_csv_parse(cases[i].line, strlen(cases[i].line), &cr, &dg);
        cr_assert_eq(rc, cases[i].code, "case %zu: rc %d (%s)", i, rc, dg.dg_msg);
        cr_assert_eq(dg.dg_column, cases[i].column, "case %zu: column %d", i, dg.dg_column);
        cr_assert(strstr(dg.dg_msg, cases[i].msg), "case %zu: '%s'", i, dg.dg_msg);
    }
}

Test(reader, csv_file_with_bad_lines_loses_nothing_else)
{
    char path[] = "/tmp/cdrcsv_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\r\n", cdr_csv_header);
    fprintf(f, "MSC1,1,voice,mo,8613800000001,,86139," GOOD_TAIL "\r\n");
    fprintf(f, "MSC1,2,voice,mo,8613800000001,,86139,2026-13-01T00:00:00Z,1,0,0,,,,,\n");
    fputs("MSC1,3,", f);
    for (int i = 0; i < 5000; i++)
        fputc('9', f);
    fputc('\n', f);
    fprintf(f, "\n");
    fprintf(f, "MSC1,4,sms,mo,8613800000001,,86139," GOOD_TAIL "\n");
    fclose(f);
    cdr_reader *rd;
    cdr_diag dg;
    cr_assert_eq(cdr_reader_open(path, &rd, &dg), 0);
    cdr_record cr;
    cr_assert_eq(cdr_reader_next(rd, &cr, &dg), 1);
    cr_assert_str_eq(cr.cr_origin_id, "1");
    cr_assert_eq(cdr_reader_next(rd, &cr, &dg), CDR_RANGE);
    cr_assert_eq(dg.dg_line, 3);
    cr_assert_eq(dg.dg_column, 38);
    cr_assert_eq(cdr_reader_next(rd, &cr, &dg), CDR_FORMAT);
    cr_assert_eq(dg.dg_line, 4);
    cr_assert(strstr(dg.dg_msg, "longer than 4096"), "%s", dg.dg_msg);
    cr_assert_eq(cdr_reader_next(rd, &cr, &dg), 1);
    cr_assert_str_eq(cr.cr_origin_id, "4");
    cr_assert_eq(cdr_reader_position(rd), 6);
    cr_assert_eq(cdr_reader_next(rd, &cr, &dg), 0);
    cdr_reader_close(rd);
    unlink(path);
}

Test(reader, binary_file_given_as_csv)
{
    char path[] = "/tmp/cdrbin_XXXXXX";
    int fd = mkstemp(path);
    unsigned char junk[64];
    for (int i = 0; i < 64; i++)
        junk[i] = (unsigned char)(i * 37 + 1);
    junk[10] = 0;
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    cdr_reader *rd;
    cdr_diag dg;
    cr_assert_eq(cdr_reader_open(path, &rd, &dg), 0);
    cdr_record cr;
    int rc, n = 0;
    while ((rc = cdr_reader_next(rd, &cr, &dg)) != 0) {
        cr_assert_lt(rc, 0);
        cr_assert_neq(dg.dg_line, 0);
        n++;
    }
    cr_assert_gt(n, 0);
    cdr_reader_close(rd);
    unlink(path);
}

Test(errors, every_code_has_a_name_message_and_retry_flag)
{
    static const int codes[] = {
#define CODE(name, value, retriable, msg) CDR_##name,
        CDR_ERRORS(CODE)
#undef CODE
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        cr_assert_neq(strcmp(cdr_err_name(codes[i]), "CDR_UNKNOWN"), 0, "code %d", codes[i]);
        cr_assert_neq(strcmp(cdr_strerror(codes[i]), "unknown error"), 0, "code %d", codes[i]);
    }
    cr_assert_str_eq(cdr_err_name(CDR_KAFKA_FATAL), "CDR_KAFKA_FATAL");
    cr_assert_eq(cdr_err_retriable(CDR_KAFKA), 1);
    cr_assert_eq(cdr_err_retriable(CDR_KAFKA_FATAL), 0);
    cr_assert_str_eq(cdr_err_name(12345), "CDR_UNKNOWN");
    cr_assert_str_eq(cdr_strerror(12345), "unknown error");
}
