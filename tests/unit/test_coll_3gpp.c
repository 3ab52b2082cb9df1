/* test_coll_3gpp.c - the 3GPP TS 32.297 / 32.298 decoder of collectors/ and the BER encoder of
 * bench/ (cdr_gen_3gpp.h): encoder -> decoder round trips (definite and indefinite lengths, MO,
 * MT, PGW and SGW records, many records per file), golden fixtures under
 * tests/data/collectors/3gpp/, hand-written BER for what the encoder never writes, malformed
 * inputs with their exact item, offset and reason, and a mutation fuzz.
 * Set CDR_UPDATE_GOLDEN=1 to rewrite the fixture files and their golden renderings. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_coll.h"
#include "coll_items.h"
#include "cdr_gen_3gpp.h"

#define DATA_DIR CDR_SOURCE_DIR "/tests/data/collectors/3gpp/"

/* ---- helpers --------------------------------------------------------------------------------- */

static cdr_coll_config test_config(void)
{
    cdr_coll_config cc;
    cdr_coll_config_defaults(&cc);
    snprintf(cc.cc_source, sizeof cc.cc_source, "MSC-HZ-01");
    return cc;
}

static void decode_cfg(const cdr_coll_config *cc, const void *buf, size_t len, items *out)
{
    cdr_coll_decoder *d = NULL;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_3GPP, cc, &d, &dg), 0, "create: %s", dg.dg_msg);
    cr_assert_eq(cdr_coll_decode(d, "t.dat", buf, len, collect, out), 0);
    cdr_coll_decoder_destroy(d);
}

static void decode(const void *buf, size_t len, items *out)
{
    cdr_coll_config cc = test_config();
    decode_cfg(&cc, buf, len, out);
}

static cdr_time iso(const char *s)
{
    cdr_time t;
    int32_t off;
    cr_assert_eq(cdr_time_parse_iso(s, strlen(s), &t, &off), 0, "%s", s);
    return t;
}

/* Items must tile the input: contiguous from the first, the last ending at the end. */
static void assert_tiles(const items *its, size_t first, size_t len)
{
    size_t at = first;
    for (size_t i = 0; i < its->it_n; i++) {
        cr_assert_eq(its->it_v[i].ci_offset, at, "item %zu at %llu, expected %zu", i,
                     (unsigned long long)its->it_v[i].ci_offset, at);
        cr_assert_eq(its->it_v[i].ci_index, i);
        at += its->it_v[i].ci_length;
    }
    cr_assert_eq(at, len, "items end at %zu of %zu", at, len);
}

/* ---- hand-written BER ------------------------------------------------------------------------
 * Hex octets; "(...)" stands for the enclosed octets preceded by their definite length; '...'
 * is ASCII; '!' marks a position (the octet a rejection must name). */

static size_t put_len(uint8_t *p, size_t n)
{
    if (n < 0x80) {
        p[0] = (uint8_t)n;
        return 1;
    }
    if (n < 0x100) {
        p[0] = 0x81;
        p[1] = (uint8_t)n;
        return 2;
    }
    p[0] = 0x82;
    p[1] = (uint8_t)(n >> 8);
    p[2] = (uint8_t)n;
    return 3;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

static size_t hx(const char **sp, uint8_t *out, size_t *mark)
{
    const char *s = *sp;
    size_t n = 0;
    while (*s && *s != ')') {
        if (*s == ' ') {
            s++;
        } else if (*s == '!') {
            *mark = n;
            s++;
        } else if (*s == '\'') {
            for (s++; *s != '\''; s++)
                out[n++] = (uint8_t)*s;
            s++;
        } else if (*s == '(') {
            uint8_t tmp[8192];
            size_t m = SIZE_MAX;
            s++;
            size_t k = hx(&s, tmp, &m);
            cr_assert_eq(*s, ')');
            s++;
            n += put_len(out + n, k);
            if (m != SIZE_MAX)
                *mark = n + m;
            memcpy(out + n, tmp, k);
            n += k;
        } else {
            cr_assert(s[1] && s[1] != ' ', "odd hex digit at '%s'", s);
            out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
            s += 2;
        }
    }
    *sp = s;
    return n;
}

/* One CDR of a hand-made file: TS number code (6 = 32.250, 7 = 32.251), the record in the hex
 * language; h3 replaces the CDR header's format/TS octet when not 0. */
typedef struct cdr_in {
    unsigned ci_ts;
    const char *ci_hex;
    uint8_t ci_h3;
} cdr_in;

#define FHDR     54
#define FILE_SEQ 7

/* A TS 32.297 file as the encoder writes its header (Rel-16/Rel-15, sequence FILE_SEQ) holding
 * the CDRs; *mark (if not NULL) gets the absolute offset of the '!' and off[i] (if not NULL) each
 * CDR's offset. Returns the length. */
static size_t mkfile(uint8_t *out, const cdr_in *c, size_t n, size_t *mark, size_t *off)
{
    static const uint8_t h[FHDR] = {
        0,    0,    0,    0,    0,    0,    0,    FHDR, 0xE0, 0xE0, 0xB1, 0xD8,     0xD8, 0,
        0xB1, 0xD8, 0xD8, 0,    0,    0,    0,    0,    0,    0,    0,    FILE_SEQ, 0,    0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,     0xFF, 0xFF,
        0xFF, 10,   0,    0,    1,    0,    0,    0,    0,    0,    6,    5};
    memcpy(out, h, FHDR);
    size_t len = FHDR;
    if (mark)
        *mark = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        const char *s = c[i].ci_hex;
        size_t m = SIZE_MAX;
        size_t k = hx(&s, out + len + 5, &m);
        cr_assert_eq(*s, '\0', "unbalanced ')' in CDR %zu", i);
        if (off)
            off[i] = len;
        out[len] = (uint8_t)(k >> 8);
        out[len + 1] = (uint8_t)k;
        out[len + 2] = 0xE0;
        out[len + 3] = c[i].ci_h3 ? c[i].ci_h3 : (uint8_t)(0x20 | c[i].ci_ts);
        out[len + 4] = 5;
        if (m != SIZE_MAX && mark)
            *mark = len + 5 + m;
        len += 5 + k;
    }
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    out[21] = (uint8_t)n;
    return len;
}

static void set32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The fields of a good MOCallRecord [0]: served 8613800000001 (IMSI 460000000001) calls
 * 8613900000002; seized 2026-11-05 10:00:00+08:00, answered 10:00:05, released 10:01:05, 60 s;
 * LAC 0x1234, cell 0x5678; callReference 01 02 03 04. */
#define MO_TYPE    "80(00)"
#define MO_IMSI    "81(64 00 00 00 00 10)"
#define MO_MSISDN  "83(91 68 31 08 00 00 00 F1)"
#define MO_CALLED  "85(91 68 31 09 00 00 00 F2)"
#define MO_ENTITY  "89(91 68 31 09 00 00 00 F0)"
#define MO_LOC     "AC(80(12 34) 81(56 78))"
#define MO_SEIZE   "96(26 11 05 10 00 00 '+' 08 00)"
#define MO_ANSWER  "97(26 11 05 10 00 05 '+' 08 00)"
#define MO_RELEASE "98(26 11 05 10 01 05 '+' 08 00)"
#define MO_DUR     "99(3C)"
#define MO_CAUSE   "9E(00)"
#define MO_REF     "9F20(01 02 03 04)"
#define MO_REC(imsi, msisdn, answer, dur)                                                          \
    "A0(" MO_TYPE " " imsi " " msisdn " " MO_CALLED " " MO_ENTITY " " MO_LOC " " MO_SEIZE          \
    " " answer " " MO_RELEASE " " dur " " MO_CAUSE " " MO_REF ")"
#define GOOD_MO MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, MO_DUR)

/* A good PGWRecord [79]: IMSI 4600000000023, MSISDN 8613800000004, opened 2026-11-05
 * 12:00:00+08:00 for 3600 s, two service containers (1000 + 500 up, 2000 + 3000 down), home
 * PLMN 460-00, ECGI cell 123456, localSequenceNumber 12345678. */
#define PGW_TIME "26 11 05 12 00 00 '+' 08 00"
#define PGW_HEAD                                                                                   \
    "80(55) 83(64 00 00 00 00 20 F3) A4(80(0A 00 00 02)) 85(07) A6(80(0A 00 00 03)) "              \
    "87('internet')"
#define PGW_TAIL                                                                                   \
    "8D(" PGW_TIME ") 8E(0E 10) 8F(00) 92('PGW01') 96(91 68 31 08 00 00 00 F4) 97(08 00)"
#define PGW_PLMN "9B(64 F0 00)"
#define PGW_ULI  "9F20(18 64 F0 00 12 34 64 F0 00 00 01 E2 40)"
#define PGW_LSN  "94(00 BC 61 4E)"
#define PGW_SD                                                                                     \
    "BF22(30(81(64) 8C(03 E8) 8D(07 D0) 8E(" PGW_TIME                                              \
    ")) 30(81(65) 8C(01 F4) 8D(0B B8) 8E(" PGW_TIME ")))"
#define GOOD_PGW                                                                                   \
    "BF4F(" PGW_HEAD " " PGW_TAIL " " PGW_LSN " " PGW_PLMN " " PGW_ULI " " PGW_SD " BF23(0A(02)))"

static void check_good_mo(const cdr_coll_item *ci)
{
    cr_assert_eq(ci->ci_kind, CDR_ITEM_RECORD, "MO: %s", ci->ci_diag.dg_msg);
    const cdr_record *cr = &ci->ci_rec;
    cr_assert_str_eq(cr->cr_source, "MSC-HZ-01");
    cr_assert_str_eq(cr->cr_origin_id, "mo-01020304");
    cr_assert_eq(cr->cr_service, CDR_SVC_VOICE);
    cr_assert_eq(cr->cr_direction, CDR_DIR_MO);
    cr_assert_str_eq(cr->cr_msisdn, "8613800000001");
    cr_assert_str_eq(cr->cr_imsi, "460000000001");
    cr_assert_str_eq(cr->cr_other, "8613900000002");
    cr_assert_eq(cr->cr_start, iso("2026-11-05T10:00:05+08:00"));
    cr_assert_eq(cr->cr_utc_offset, 8 * 3600);
    cr_assert_eq(cr->cr_duration, 60);
    cr_assert_eq(cr->cr_cell, 0x12345678u);
    cr_assert_eq(cr->cr_mcc, 0);
    cr_assert_eq(cr->cr_cause, 0);
}

static void check_good_pgw(const cdr_coll_item *ci)
{
    cr_assert_eq(ci->ci_kind, CDR_ITEM_RECORD, "PGW: %s", ci->ci_diag.dg_msg);
    const cdr_record *cr = &ci->ci_rec;
    cr_assert_str_eq(cr->cr_origin_id, "pgw-12345678");
    cr_assert_eq(cr->cr_service, CDR_SVC_DATA);
    cr_assert_str_eq(cr->cr_msisdn, "8613800000004");
    cr_assert_str_eq(cr->cr_imsi, "4600000000023");
    cr_assert_str_eq(cr->cr_other, "");
    cr_assert_eq(cr->cr_start, iso("2026-11-05T12:00:00+08:00"));
    cr_assert_eq(cr->cr_duration, 3600);
    cr_assert_eq(cr->cr_bytes_up, 1500);
    cr_assert_eq(cr->cr_bytes_down, 5000);
    cr_assert_eq(cr->cr_mcc, 460);
    cr_assert_eq(cr->cr_mnc, 0);
    cr_assert_eq(cr->cr_cell, 123456);
}

/* ---- hand-written records -------------------------------------------------------------------- */

Test(coll_3gpp, hand_written_mo_and_pgw)
{
    static const cdr_in c[] = {{6, GOOD_MO, 0}, {7, GOOD_PGW, 0}};
    uint8_t buf[4096];
    size_t off[2], len = mkfile(buf, c, 2, NULL, off);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 2);
    check_good_mo(&its.it_v[0]);
    check_good_pgw(&its.it_v[1]);
    cr_assert_eq(its.it_v[0].ci_offset, FHDR);
    cr_assert_eq(its.it_v[1].ci_offset, off[1]);
    cr_assert_eq(its.it_v[0].ci_line, 0);
    assert_tiles(&its, FHDR, len);
    items_free(&its);
}

Test(coll_3gpp, indefinite_lengths_everywhere)
{
    /* the record, the location, the list and its containers with 0x80 and end-of-contents */
    static const cdr_in c[] = {
        {6,
         "A0 80 " MO_TYPE " " MO_IMSI " " MO_MSISDN " " MO_CALLED
         " AC 80 80(12 34) 81(56 78) 00 00 " MO_SEIZE " " MO_ANSWER " " MO_DUR " " MO_CAUSE
         " " MO_REF " 00 00",
         0},
        {7,
         "BF4F 80 " PGW_HEAD " " PGW_TAIL " " PGW_LSN " " PGW_PLMN " " PGW_ULI
         " BF22 80 30 80 81(64) 8C(03 E8) 8D(07 D0) 00 00 30 80 8C(01 F4) 8D(0B B8) 00 00 00 00"
         " BF23 80 0A(02) 00 00 00 00",
         0}};
    uint8_t buf[4096];
    size_t len = mkfile(buf, c, 2, NULL, NULL);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 2);
    check_good_mo(&its.it_v[0]);
    check_good_pgw(&its.it_v[1]);
    items_free(&its);
}

Test(coll_3gpp, mt_with_octet_3a_national_numbers_and_3_digit_mnc)
{
    /* MTCallRecord [1]: servedMSISDN national (TON 010) 13800000001, callingNumber with octet 3a
     * (extension bit 0), location with MCC-MNC 310-260, answerTime [20], callDuration [22],
     * causeForTerm [27] 4, callReference [29], sequenceNumber [30] 2 (a partial record). */
    static const cdr_in c[] = {
        {6,
         "A1(80(01) 81(64 00 00 00 00 10) 83(A1 31 08 00 00 00 F1) 84(11 80 94 71 06 21 43 65 F7)"
         " 86(91 68 31 09 00 00 00 F0) A9(80(00 01) 81(00 02) 82(13 00 62))"
         " 93(26 11 05 03 29 58 '+' 01 00) 94(26 11 05 03 30 00 '+' 01 00) 96(00 80) 9B(04)"
         " 9D(AB CD) 9E(02))",
         0}};
    uint8_t buf[1024];
    size_t len = mkfile(buf, c, 1, NULL, NULL);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 1);
    const cdr_record *cr = &its.it_v[0].ci_rec;
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_RECORD, "%s", its.it_v[0].ci_diag.dg_msg);
    cr_assert_eq(cr->cr_direction, CDR_DIR_MT);
    cr_assert_str_eq(cr->cr_msisdn, "8613800000001");
    cr_assert_str_eq(cr->cr_other, "4917601234567");
    cr_assert_eq(cr->cr_start, iso("2026-11-05T03:30:00+01:00"));
    cr_assert_eq(cr->cr_utc_offset, 3600);
    cr_assert_eq(cr->cr_duration, 128);
    cr_assert_eq(cr->cr_cause, 4);
    cr_assert_eq(cr->cr_mcc, 310);
    cr_assert_eq(cr->cr_mnc, 260);
    cr_assert_eq(cr->cr_cell, 0x00010002u);
    cr_assert_str_eq(cr->cr_origin_id, "mt-abcd-2");
    items_free(&its);
}

Test(coll_3gpp, identity_fallbacks)
{
    /* PGW without localSequenceNumber: chargingID and recordSequenceNumber [17]; an MSC record
     * without callReference: file sequence number and index. Unknown fields (multi-octet tags)
     * are skipped. */
    static const cdr_in c[] = {{7, "BF4F(" PGW_HEAD " " PGW_TAIL " 91(03) " PGW_SD ")", 0},
                               {6,
                                "A0(" MO_TYPE " " MO_MSISDN " " MO_CALLED " " MO_ANSWER " " MO_DUR
                                " " MO_CAUSE " 9F4D('user@example') BF81 00(80(01)))",
                                0}};
    uint8_t buf[2048];
    size_t len = mkfile(buf, c, 2, NULL, NULL);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 2);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 2, "%s", its.it_v[1].ci_diag.dg_msg);
    cr_assert_str_eq(its.it_v[0].ci_rec.cr_origin_id, "pgw-7-3");
    cr_assert_str_eq(its.it_v[1].ci_rec.cr_origin_id, "7-1");
    cr_assert_eq(its.it_v[1].ci_rec.cr_cell, 0);
    cr_assert_str_eq(its.it_v[1].ci_rec.cr_imsi, "");
    items_free(&its);
}

Test(coll_3gpp, volumes_from_traffic_containers_and_sgw)
{
    /* PGW with listOfTrafficVolumes only; PGW with both (the service data wins); SGWRecord [78]
     * with recordType 84 and listOfTrafficVolumes; a CGI cell in the ULI. */
    static const cdr_in c[] = {
        {7,
         "BF4F(" PGW_HEAD " AC(30(83(0A) 84(14) 85(02) 86(" PGW_TIME
         ")) 30(83(01) 84(02) 85(02) 86(" PGW_TIME "))) " PGW_TAIL " " PGW_LSN ")",
         0},
        {7, "BF4F(" PGW_HEAD " AC(30(83(0A) 84(14))) " PGW_TAIL " " PGW_LSN " " PGW_SD ")", 0},
        {7,
         "BF4E(80(54) 83(64 00 00 00 00 20 F3) 85(09) AC(30(83(05) 84(06) 85(02) 86(" PGW_TIME ")))"
         " " PGW_TAIL " 94(2A) 9B(13 00 62) 9F20(01 13 00 62 00 07 00 08))",
         0}};
    uint8_t buf[4096];
    size_t len = mkfile(buf, c, 3, NULL, NULL);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 3);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 3);
    cr_assert_eq(its.it_v[0].ci_rec.cr_bytes_up, 11);
    cr_assert_eq(its.it_v[0].ci_rec.cr_bytes_down, 22);
    cr_assert_eq(its.it_v[1].ci_rec.cr_bytes_up, 1500);
    cr_assert_eq(its.it_v[1].ci_rec.cr_bytes_down, 5000);
    const cdr_record *sg = &its.it_v[2].ci_rec;
    cr_assert_str_eq(sg->cr_origin_id, "sgw-42");
    cr_assert_eq(sg->cr_bytes_up, 5);
    cr_assert_eq(sg->cr_bytes_down, 6);
    cr_assert_eq(sg->cr_mcc, 310);
    cr_assert_eq(sg->cr_mnc, 260);
    cr_assert_eq(sg->cr_cell, 0x00070008u);
    items_free(&its);
}

Test(coll_3gpp, unanswered_and_zero_length_calls_are_non_billable)
{
    static const cdr_in c[] = {{6, MO_REC(MO_IMSI, MO_MSISDN, "", "99(00)"), 0},
                               {6, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "99(00)"), 0},
                               {6, GOOD_MO, 0}};
    uint8_t buf[4096];
    size_t off[3], len = mkfile(buf, c, 3, NULL, off);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 3);
    cr_assert_eq(its.it_v[0].ci_kind, CDR_ITEM_NONBILLABLE);
    cr_assert(strstr(its.it_v[0].ci_diag.dg_msg, "unanswered call (no answerTime)"));
    cr_assert_eq(its.it_v[0].ci_rec.cr_start, iso("2026-11-05T10:00:00+08:00")); /* seizure */
    cr_assert_str_eq(its.it_v[0].ci_rec.cr_msisdn, "8613800000001");
    cr_assert_str_eq(its.it_v[0].ci_rec.cr_origin_id, "mo-01020304");
    cr_assert_eq(its.it_v[1].ci_kind, CDR_ITEM_NONBILLABLE);
    cr_assert(strstr(its.it_v[1].ci_diag.dg_msg, "zero-length call"));
    cr_assert_eq(its.it_v[1].ci_offset, off[1]);
    check_good_mo(&its.it_v[2]);
    items_free(&its);
}

/* ---- malformed records: one bad CDR between two good ones ------------------------------------ */

/* Decode [good MO, bad, good PGW]: the bad CDR must be the only rejected item, at its CDR
 * header's offset, with `reason` in its message and (when the record marks one with '!') the
 * marked byte named; the two good records are still emitted. */
static void bad_cdr(unsigned ts, uint8_t h3, const char *hex, const char *reason)
{
    const cdr_in c[] = {{6, GOOD_MO, 0}, {ts, hex, h3}, {7, GOOD_PGW, 0}};
    uint8_t buf[8192];
    size_t mark, off[3], len = mkfile(buf, c, 3, &mark, off);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 3, "%zu items", its.it_n);
    check_good_mo(&its.it_v[0]);
    check_good_pgw(&its.it_v[2]);
    const cdr_coll_item *ci = &its.it_v[1];
    cr_assert_eq(ci->ci_kind, CDR_ITEM_REJECTED, "kind %d for %s", ci->ci_kind, reason);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 2);
    cr_assert_eq(ci->ci_offset, off[1]);
    cr_assert_eq(ci->ci_length, off[2] - off[1]);
    cr_assert_eq(ci->ci_index, 1);
    cr_assert_str_eq(ci->ci_diag.dg_file, "t.dat");
    cr_assert_neq(ci->ci_diag.dg_code, 0);
    cr_assert(strstr(ci->ci_diag.dg_msg, reason), "'%s' not in '%s'", reason, ci->ci_diag.dg_msg);
    if (mark != SIZE_MAX) {
        char at[40];
        snprintf(at, sizeof at, "at byte %zu", mark);
        cr_assert(strstr(ci->ci_diag.dg_msg, at), "'%s' not in '%s'", at, ci->ci_diag.dg_msg);
    }
    assert_tiles(&its, FHDR, len);
    items_free(&its);
}

Test(coll_3gpp_bad, truncated_ber)
{
    bad_cdr(6, 0, "!A0 20 80 01 00", "length 32 of [0] runs past the end of its container (3");
    bad_cdr(6, 0, "A0(80(00) 81(64 00 00 00 00 10) !83 08 91 68 31)",
            "length 8 of [3] runs past the end of its container (3 octets left)");
    bad_cdr(6, 0, "A0(80(00) !81)", "truncated element: length octet missing");
}

Test(coll_3gpp_bad, length_larger_than_the_file)
{
    bad_cdr(6, 0, "!A0 84 7F FF FF FF 80 01 00", "length 2147483647 of [0] runs past the end");
}

Test(coll_3gpp_bad, empty_cdr)
{
    bad_cdr(6, 0, "!", "truncated element: identifier octet missing");
}

Test(coll_3gpp_bad, bad_bcd_digit_in_timestamp)
{
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(26 11 !0A 10 00 05 '+' 08 00)", MO_DUR),
            "bad BCD digit in answerTime (octet 0x0A)");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(26 11 05 10 00 05 '+' !0F 00)", MO_DUR),
            "bad BCD digit in answerTime");
}

Test(coll_3gpp_bad, impossible_date_in_timestamp)
{
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(!26 02 30 10 00 05 '+' 08 00)", MO_DUR),
            "no such date 2026-02-30 in answerTime");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(26 11 05 !24 00 05 '+' 08 00)", MO_DUR),
            "no such time 24:00:05 in answerTime");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(26 11 05 10 00 05 '+' !15 00)", MO_DUR),
            "UTC offset +1500 out of range in answerTime");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "97(26 11 05 10 00 05 !2A 08 00)", MO_DUR),
            "bad UTC offset sign 0x2A in answerTime");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, "!97(26 11 05 10 00 05 '+' 08)", MO_DUR),
            "answerTime is not a 9-octet TimeStamp");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " 8D(!26 02 29 12 00 00 '+' 08 00) 8E(00) 96(91 68 F1))",
            "no such date 2026-02-29 in recordOpeningTime");
}

Test(coll_3gpp_bad, bad_tbcd_nibble)
{
    bad_cdr(6, 0, MO_REC("81(64 00 !0B 00 00 10)", MO_MSISDN, MO_ANSWER, MO_DUR),
            "bad TBCD digit 0xB in servedIMSI");
    bad_cdr(6, 0, MO_REC("81(64 00 00 !C0 00 10)", MO_MSISDN, MO_ANSWER, MO_DUR),
            "bad TBCD digit 0xC in servedIMSI");
    bad_cdr(6, 0, MO_REC(MO_IMSI, "83(91 68 !F1 08)", MO_ANSWER, MO_DUR),
            "TBCD filler 0xF before the end of servedMSISDN");
    bad_cdr(6, 0, MO_REC(MO_IMSI, "83(91 68 31 08 00 00 !E0 F1)", MO_ANSWER, MO_DUR),
            "bad TBCD digit 0xE in servedMSISDN");
    bad_cdr(6, 0, MO_REC("81(!64 00 00 00 00 10 32 54 76)", MO_MSISDN, MO_ANSWER, MO_DUR),
            "servedIMSI longer than 15 digits");
}

Test(coll_3gpp_bad, indefinite_length_without_end_of_contents)
{
    bad_cdr(6, 0, "!A0 80 80(00) 81(64 00)", "indefinite length without end-of-contents");
    bad_cdr(6, 0, "A0(80(00) !AC 80 80(12 34) 81(56 78))",
            "indefinite length without end-of-contents");
    bad_cdr(6, 0, "A0(80(00) !81 80 64 00 00 00)", "indefinite length on a primitive element");
    bad_cdr(6, 0, "A0 80 80(00) !00 01 00 00", "malformed end-of-contents");
    bad_cdr(6, 0, "A0(80(00) !00 00)", "unexpected end-of-contents");
}

Test(coll_3gpp_bad, nesting_too_deep)
{
    /* an unknown constructed field [40] holding 20 nested indefinite SEQUENCEs: the 15th is
     * at depth 17 */
    char hex[1024];
    int n = snprintf(hex, sizeof hex, "A0(80(00) BF28 80");
    for (int i = 1; i <= 20; i++)
        n += snprintf(hex + n, sizeof hex - (size_t)n, " %s30 80", i == 15 ? "!" : "");
    for (int i = 0; i <= 20; i++)
        n += snprintf(hex + n, sizeof hex - (size_t)n, " 00 00");
    snprintf(hex + n, sizeof hex - (size_t)n, ")");
    bad_cdr(6, 0, hex, "nesting deeper than 16 levels");
    /* 14 levels are fine: the record then fails only for having no times */
    n = snprintf(hex, sizeof hex, "A0(80(00) " MO_MSISDN " BF28 80");
    for (int i = 1; i <= 14; i++)
        n += snprintf(hex + n, sizeof hex - (size_t)n, " 30 80");
    for (int i = 0; i <= 14; i++)
        n += snprintf(hex + n, sizeof hex - (size_t)n, " 00 00");
    snprintf(hex + n, sizeof hex - (size_t)n, ")");
    bad_cdr(6, 0, hex, "MOCallRecord without seizureTime or answerTime");
}

Test(coll_3gpp_bad, unknown_record_type)
{
    bad_cdr(6, 0, "!A6(80(06) 81(64 00))", "unsupported CS (TS 32.250) record type [6]");
    bad_cdr(7, 0, "!B4(80(12))", "unsupported PS (TS 32.251) record type [20]");
    bad_cdr(7, 0, "!A0(80(00))", "unsupported PS (TS 32.251) record type [0]");
    bad_cdr(6, 0, "!30(80(00))", "unsupported CS (TS 32.250) record type tag 16");
    bad_cdr(6, 0, "A0(80(!01))", "recordType 1 in a MOCallRecord (expected 0)");
}

Test(coll_3gpp_bad, cdr_header_format_and_ts_number)
{
    uint8_t h3 = (uint8_t)(2u << 5 | 6);
    bad_cdr(6, h3, GOOD_MO, "data record format 2 is not BER (1)");
    bad_cdr(6, (uint8_t)(1u << 5 | 9), GOOD_MO,
            "TS number code 9 is neither TS 32.250 (6) nor 32.251 (7)");
}

Test(coll_3gpp_bad, negative_and_overflowing_integers)
{
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "99(!FF)"), "negative callDuration");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "99(!01 00 00 00 00)"),
            "callDuration 4294967296 out of range (at most 4294967295)");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "99(!01 00 00 00 00 00 00 00 00)"),
            "callDuration does not fit 64 bits");
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "!99()"), "empty INTEGER callDuration");
    bad_cdr(7, 0,
            "BF4F(" PGW_HEAD " " PGW_TAIL
            " BF22(30(8C(7F FF FF FF FF FF FF FF)) 30(8C(7F FF FF FF FF FF FF FF))"
            " 30(!8C(02))))",
            "data volume in listOfServiceData overflows 64 bits");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " " PGW_TAIL " 94(!80 00 00 01))",
            "negative localSequenceNumber");
}

Test(coll_3gpp_bad, missing_and_duplicate_fields)
{
    bad_cdr(6, 0, "!A0(" MO_TYPE " " MO_MSISDN " " MO_DUR ")",
            "MOCallRecord without seizureTime or answerTime");
    bad_cdr(6, 0, "!A0(" MO_TYPE " " MO_MSISDN " " MO_ANSWER ")",
            "MOCallRecord without callDuration");
    bad_cdr(6, 0, "A0(" MO_TYPE " " MO_MSISDN " " MO_ANSWER " " MO_DUR " !" MO_DUR ")",
            "duration [25] appears twice in a MOCallRecord");
    bad_cdr(7, 0, "!BF4F(" PGW_HEAD " 8E(00) 96(91 68 F1))", "PGWRecord without recordOpeningTime");
    bad_cdr(6, 0, "A0(" MO_TYPE " " MO_MSISDN " !AC(80(12 34)) " MO_ANSWER " " MO_DUR ")",
            "location without cellId");
    bad_cdr(6, 0, "A0(" MO_TYPE " " MO_MSISDN " AC(!80(12) 81(56 78)) " MO_ANSWER " " MO_DUR ")",
            "locationAreaCode has 1 octets, not 2");
    bad_cdr(6, 0, "A0(" MO_TYPE " " MO_MSISDN " " MO_ANSWER " " MO_DUR " !9F20())",
            "callReference has 0 octets, not 1..8");
}

Test(coll_3gpp_bad, bad_values)
{
    bad_cdr(6, 0, MO_REC(MO_IMSI, "!83(91 68 31 08 00 00 00 00 00)", MO_ANSWER, MO_DUR),
            "servedMSISDN '8613800000000000' is not a valid E.164 number");
    bad_cdr(6, 0, "A0(" MO_TYPE " " MO_MSISDN " !85(91 00 31) " MO_ANSWER " " MO_DUR ")",
            "calledNumber '0013' is not a valid number");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " " PGW_TAIL " 9B(!6A F0 00))",
            "bad MCC digit in servingNodePLMNIdentifier");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " " PGW_TAIL " 9F20(!18 64 F0 00 12 34))",
            "userLocationInformation has 6 octets, its flags 0x18 need 13");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " " PGW_TAIL " BF22(!A0(8C(01))))",
            "listOfServiceData element is not a SEQUENCE");
    bad_cdr(7, 0, "BF4F(" PGW_HEAD " 92(50 !01))", "nodeID is not printable");
    bad_cdr(6, 0, "A0(80(00)) !00 00", "2 octets after the record inside its CDR length");
}

Test(coll_3gpp_bad, bad_tag_and_length_octets)
{
    bad_cdr(6, 0, "A0(80(00) !BF 81 81 81 81 01 00)", "tag number longer than 4 octets");
    bad_cdr(6, 0, "A0(80(00) !BF 80 01 00)", "tag number with a leading zero septet");
    bad_cdr(6, 0, "A0(80(00) 81 !85 00 00 00 00 01 00)", "length in 5 octets is too long");
    bad_cdr(6, 0, "A0(80(00) 81 !FF 00)", "reserved length octet 0xFF");
    bad_cdr(6, 0, "A0(80(00) !81 82 00)", "truncated length octets");
}

Test(coll_3gpp_bad, validation_failure)
{
    /* well-formed, but longer than the configured maximum duration (86400 s) */
    bad_cdr(6, 0, MO_REC(MO_IMSI, MO_MSISDN, MO_ANSWER, "99(01 86 A1)"),
            "duration 100001 s is longer than the maximum 86400 s");
    /* no servedMSISDN at all */
    bad_cdr(6, 0, MO_REC(MO_IMSI, "", MO_ANSWER, MO_DUR), "empty served MSISDN");
}

Test(coll_3gpp_bad, outside_the_window_and_not_normalised_when_non_billable)
{
    /* window November 2026 (China time): a call answered on 1 December is rejected by validation;
     * an unanswered one with a called number that does not normalise is still non-billable */
    cdr_coll_config cc = test_config();
    cc.cc_window_from = iso("2026-11-01T00:00:00+08:00");
    cc.cc_window_to = iso("2026-12-01T00:00:00+08:00");
    static const cdr_in c[] = {
        {6, GOOD_MO, 0},
        {6, MO_REC(MO_IMSI, MO_MSISDN, "97(26 12 01 00 00 00 '+' 08 00)", MO_DUR), 0},
        {6, "A0(" MO_TYPE " " MO_MSISDN " 85(91 00 31) " MO_SEIZE " 99(00))", 0}};
    uint8_t buf[4096];
    size_t off[3], len = mkfile(buf, c, 3, NULL, off);
    items its = {0};
    decode_cfg(&cc, buf, len, &its);
    cr_assert_eq(its.it_n, 3);
    check_good_mo(&its.it_v[0]);
    cr_assert_eq(its.it_v[1].ci_kind, CDR_ITEM_REJECTED);
    cr_assert_eq(its.it_v[1].ci_offset, off[1]);
    cr_assert_eq(its.it_v[1].ci_diag.dg_code, CDR_RANGE);
    cr_assert(
        strstr(its.it_v[1].ci_diag.dg_msg, "start 2026-12-01T00:00:00+08:00 is outside the window"),
        "%s", its.it_v[1].ci_diag.dg_msg);
    cr_assert_str_eq(its.it_v[1].ci_diag.dg_file, "t.dat");
    cr_assert_eq(its.it_v[2].ci_kind, CDR_ITEM_NONBILLABLE, "%s", its.it_v[2].ci_diag.dg_msg);
    cr_assert_str_eq(its.it_v[2].ci_rec.cr_other, "0013"); /* kept as written */
    items_free(&its);
}

/* ---- malformed files ------------------------------------------------------------------------- */

static size_t good_file(uint8_t *buf, size_t *off)
{
    static const cdr_in c[] = {{6, GOOD_MO, 0}, {7, GOOD_PGW, 0}, {6, GOOD_MO, 0}};
    return mkfile(buf, c, 3, NULL, off);
}

/* The only (or last) item is a rejection at `at` covering the rest of the input. */
static void assert_final(const items *its, size_t at, size_t len, const char *reason)
{
    cr_assert_gt(its->it_n, 0);
    const cdr_coll_item *ci = &its->it_v[its->it_n - 1];
    cr_assert_eq(ci->ci_kind, CDR_ITEM_REJECTED);
    cr_assert_eq(ci->ci_offset, at, "final item at %llu, expected %zu",
                 (unsigned long long)ci->ci_offset, at);
    cr_assert_eq(ci->ci_length, len - at);
    cr_assert_eq(ci->ci_index, its->it_n - 1);
    cr_assert(strstr(ci->ci_diag.dg_msg, reason), "'%s' not in '%s'", reason, ci->ci_diag.dg_msg);
}

Test(coll_3gpp_file, zero_length_file)
{
    /* an empty file holds no CDR: no item at all (read 0), not a rejected header */
    items its = {0};
    decode("", 0, &its);
    cr_assert_eq(its.it_n, 0);
    items_free(&its);
    /* one octet is a file, and its header is truncated */
    decode("\0", 1, &its);
    cr_assert_eq(its.it_n, 1);
    assert_final(&its, 0, 1, "file header truncated: 1 of at least 52 octets at byte 0");
    items_free(&its);
}

Test(coll_3gpp_file, header_length_larger_than_the_file)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    set32(buf + 4, 5000);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 1);
    assert_final(&its, 0, len, "file header length 5000 is larger than the file");
    items_free(&its);
    set32(buf + 4, 40);
    decode(buf, len, &its);
    assert_final(&its, 0, len, "file header length 40 is below the minimum 52");
    items_free(&its);
    decode(buf, 30, &its);
    assert_final(&its, 0, 30, "file header length 40 is below the minimum 52 at byte 4");
    items_free(&its);
}

Test(coll_3gpp_file, wrong_file_header_version)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    buf[53] = 7; /* low release Rel-17 above high Rel-16 */
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 1);
    assert_final(&its, 0, len, "low release 17.0 is above high release 16.0 at byte 8");
    items_free(&its);
    /* high Rel-8 (identifier 5, no extension octet) and low Rel-15 */
    len = good_file(buf, NULL);
    buf[8] = 5u << 5;
    decode(buf, len, &its);
    assert_final(&its, 0, len, "file header version: low release 16.0 is above high release 8.0");
    items_free(&its);
    /* high and low Rel-16, low version 3 above high version 1 */
    len = good_file(buf, NULL);
    buf[8] = 0xE1;
    buf[9] = 0xE3;
    buf[53] = 6;
    decode(buf, len, &its);
    assert_final(&its, 0, len, "low release 16.3 is above high release 16.1");
    items_free(&its);
}

Test(coll_3gpp_file, release_extension_missing_and_lengths_in_header)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    set32(buf + 4, 52); /* the CDRs then start at 52: but the extensions are missing first */
    items its = {0};
    decode(buf, len, &its);
    assert_final(&its, 0, len, "high release identifier extension missing at byte 52");
    items_free(&its);
    len = good_file(buf, NULL);
    buf[49] = 9; /* routing filter of 9 octets in a 54-octet header */
    decode(buf, len, &its);
    assert_final(&its, 0, len, "CDR routing filter length 9 runs past the file header at byte 48");
    items_free(&its);
    len = good_file(buf, NULL);
    set32(buf, 20); /* file length smaller than the header */
    decode(buf, len, &its);
    assert_final(&its, 0, len, "file length 20 is smaller than the header length 54");
    items_free(&its);
}

Test(coll_3gpp_file, cdr_length_past_the_end)
{
    uint8_t buf[4096];
    size_t off[3], len = good_file(buf, off);
    size_t cl = (size_t)buf[off[1]] << 8 | buf[off[1] + 1];
    buf[off[1]] = (uint8_t)((cl + 5000) >> 8);
    buf[off[1] + 1] = (uint8_t)(cl + 5000);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 2);
    check_good_mo(&its.it_v[0]);
    char want[96];
    snprintf(want, sizeof want, "CDR length %zu runs past the end of the file (%zu octets left)",
             cl + 5000, len - off[1] - 5);
    assert_final(&its, off[1], len, want);
    assert_tiles(&its, FHDR, len);
    items_free(&its);
}

Test(coll_3gpp_file, truncated_inside_a_record)
{
    uint8_t buf[4096];
    size_t off[3], len = good_file(buf, off);
    size_t cut = off[2] + 20; /* the file length field still says len */
    items its = {0};
    decode(buf, cut, &its);
    cr_assert_eq(its.it_n, 3);
    check_good_mo(&its.it_v[0]);
    check_good_pgw(&its.it_v[1]);
    assert_final(&its, off[2], cut, "runs past the end of the file");
    assert_tiles(&its, FHDR, cut);
    items_free(&its);
    (void)len;
}

Test(coll_3gpp_file, truncated_at_a_cdr_boundary)
{
    uint8_t buf[4096];
    size_t off[3], len = good_file(buf, off);
    items its = {0};
    decode(buf, off[2], &its); /* the last CDR missing entirely */
    cr_assert_eq(its.it_n, 3);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 2);
    char want[96];
    snprintf(want, sizeof want, "file truncated: the header says %zu octets, %zu present", len,
             off[2]);
    assert_final(&its, off[2], off[2], want);
    cr_assert_eq(its.it_v[2].ci_length, 0);
    items_free(&its);
}

Test(coll_3gpp_file, cdr_header_truncated)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    memcpy(buf + len, "\x00\x10\xE0", 3);
    set32(buf, (uint32_t)(len + 3));
    items its = {0};
    decode(buf, len + 3, &its);
    cr_assert_eq(its.it_n, 4);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 3);
    assert_final(&its, len, len + 3, "CDR header truncated (3 octets left)");
    items_free(&its);
}

Test(coll_3gpp_file, trailing_bytes_after_the_file_length)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    memset(buf + len, 0xAB, 10);
    items its = {0};
    decode(buf, len + 10, &its);
    cr_assert_eq(its.it_n, 4);
    cr_assert_eq(its.it_kind[CDR_ITEM_RECORD], 3);
    assert_final(&its, len, len + 10, "10 octets after the file length");
    items_free(&its);
}

Test(coll_3gpp_file, header_only_file_has_no_items)
{
    uint8_t buf[256];
    size_t len = mkfile(buf, NULL, 0, NULL, NULL);
    items its = {0};
    decode(buf, len, &its);
    cr_assert_eq(its.it_n, 0);
    items_free(&its);
}

static int stop(void *arg, const cdr_coll_item *ci)
{
    (void)ci;
    return ++*(int *)arg == 2 ? 42 : 0;
}

Test(coll_3gpp_file, emit_stops_decoding)
{
    uint8_t buf[4096];
    size_t len = good_file(buf, NULL);
    cdr_coll_decoder *d = NULL;
    cdr_coll_config cc = test_config();
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_3GPP, &cc, &d, NULL), 0);
    int calls = 0;
    cr_assert_eq(cdr_coll_decode(d, "t.dat", buf, len, stop, &calls), 42);
    cr_assert_eq(calls, 2);
    cdr_coll_decoder_destroy(d);
}

/* ---- encoder -> decoder round trips ---------------------------------------------------------- */

/* What the decoder makes of the encoder's identifiers (see cdr_gen_3gpp.h). */
static void expected_origin(const cdr_record *cr, int sgw, char *out, size_t outsize)
{
    uint64_t id = 0;
    size_t n = strlen(cr->cr_origin_id);
    int numeric = n > 0 && n <= 19 && strspn(cr->cr_origin_id, "0123456789") == n;
    if (numeric) {
        for (size_t i = 0; i < n; i++)
            id = id * 10 + (uint64_t)(cr->cr_origin_id[i] - '0');
    } else {
        id = 1469598103934665603ULL;
        for (size_t i = 0; i < n; i++)
            id = (id ^ (uint8_t)cr->cr_origin_id[i]) * 1099511628211ULL;
    }
    if (cr->cr_service == CDR_SVC_DATA) {
        snprintf(out, outsize, "%s-%u", sgw ? "sgw" : "pgw", (unsigned)(uint32_t)(id ^ id >> 32));
        return;
    }
    int len = snprintf(out, outsize, "%s-", cr->cr_direction == CDR_DIR_MO ? "mo" : "mt");
    int bytes = 1;
    while (bytes < 8 && (id >> (8 * bytes)))
        bytes++;
    for (int i = bytes - 1; i >= 0; i--)
        len += snprintf(out + len, outsize - (size_t)len, "%02x", (unsigned)(id >> (8 * i)) & 0xFF);
}

typedef struct rt_ctx {
    const cdr_record *rc_recs;
    size_t rc_n, rc_next;
    int rc_sgw;
} rt_ctx;

static int rt_check(void *arg, const cdr_coll_item *ci)
{
    rt_ctx *rc = arg;
    /* skip what the encoder left out (SMS, MMS, video) */
    while (rc->rc_next < rc->rc_n && rc->rc_recs[rc->rc_next].cr_service != CDR_SVC_VOICE &&
           rc->rc_recs[rc->rc_next].cr_service != CDR_SVC_DATA)
        rc->rc_next++;
    cr_assert_lt(rc->rc_next, rc->rc_n, "more items than records");
    cdr_record want = rc->rc_recs[rc->rc_next++];
    const int billable = want.cr_service == CDR_SVC_DATA || want.cr_duration > 0;
    cr_assert_eq(ci->ci_kind, billable ? CDR_ITEM_RECORD : CDR_ITEM_NONBILLABLE,
                 "record %zu: kind %d: %s", rc->rc_next - 1, ci->ci_kind, ci->ci_diag.dg_msg);
    snprintf(want.cr_source, sizeof want.cr_source, "MSC-HZ-01");
    expected_origin(&rc->rc_recs[rc->rc_next - 1], rc->rc_sgw, want.cr_origin_id,
                    sizeof want.cr_origin_id);
    if (memcmp(&want, &ci->ci_rec, sizeof want) != 0) {
        char a[600], b[600];
        FILE *fa = fmemopen(a, sizeof a, "w"), *fb = fmemopen(b, sizeof b, "w");
        cdr_record_json(&want, fa);
        cdr_record_json(&ci->ci_rec, fb);
        fclose(fa);
        fclose(fb);
        cr_assert_fail("record %zu differs:\nwant %s\ngot  %s", rc->rc_next - 1, a, b);
    }
    return 0;
}

static void round_trip(const cdr_record *recs, size_t n, unsigned flags)
{
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format_3gpp_ex(recs, n, &b, flags | CDR_GEN_3GPP_SKIP), 0);
    cdr_coll_decoder *d = NULL;
    cdr_coll_config cc = test_config();
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_3GPP, &cc, &d, NULL), 0);
    rt_ctx rc = {recs, n, 0, (flags & CDR_GEN_3GPP_SGW) != 0};
    cr_assert_eq(cdr_coll_decode(d, "rt.dat", b.b_data, b.b_len, rt_check, &rc), 0);
    while (rc.rc_next < n && recs[rc.rc_next].cr_service != CDR_SVC_VOICE &&
           recs[rc.rc_next].cr_service != CDR_SVC_DATA)
        rc.rc_next++;
    cr_assert_eq(rc.rc_next, n, "only %zu of %zu records came back", rc.rc_next, n);
    cdr_coll_decoder_destroy(d);
    cdr_buf_free(&b);
}

/* The synthetic CDR stream (China and Germany, roaming, all services). */
static cdr_record *stream(size_t n)
{
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 200;
    cdr_gen *g = NULL;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    cdr_record *recs = malloc(n * sizeof *recs);
    cr_assert_not_null(recs);
    cdr_gen_cdrs(g, recs, n);
    cdr_gen_destroy(g);
    return recs;
}

Test(coll_3gpp_rt, many_records_definite)
{
    cdr_record *recs = stream(20000);
    round_trip(recs, 20000, 0);
    free(recs);
}

Test(coll_3gpp_rt, many_records_indefinite)
{
    cdr_record *recs = stream(5000);
    round_trip(recs, 5000, CDR_GEN_3GPP_INDEFINITE);
    free(recs);
}

Test(coll_3gpp_rt, sgw_records)
{
    cdr_record *recs = stream(3000);
    round_trip(recs, 3000, CDR_GEN_3GPP_SGW);
    round_trip(recs, 3000, CDR_GEN_3GPP_SGW | CDR_GEN_3GPP_INDEFINITE);
    free(recs);
}

/* Hand-picked records: MO, MT roaming in Germany, an unanswered MO, a PGW session over three
 * service containers with an ECGI cell, a roaming PGW session in the US with a 32-bit cell and
 * no volume, an MT call to a short code in Nepal's +05:45 at the end of the year, a record with
 * a non-numeric origin id. */
static const cdr_record fixture_recs[] = {
    {.cr_origin_id = "1001",
     .cr_msisdn = "8613800000001",
     .cr_imsi = "460001234567890",
     .cr_other = "8613912345678",
     .cr_start = 1793844005 /* 2026-11-05T10:00:05+08:00 */,
     .cr_utc_offset = 28800,
     .cr_duration = 65,
     .cr_cell = 4660,
     .cr_cause = 0,
     .cr_service = CDR_SVC_VOICE,
     .cr_direction = CDR_DIR_MO},
    {.cr_origin_id = "1002",
     .cr_msisdn = "8613800000002",
     .cr_imsi = "460001234567891",
     .cr_other = "4917612345678",
     .cr_start = 1793867400 /* 2026-11-05T09:30:00+01:00 */,
     .cr_utc_offset = 3600,
     .cr_duration = 125,
     .cr_cell = 65538,
     .cr_mcc = 262,
     .cr_mnc = 1,
     .cr_cause = 1,
     .cr_service = CDR_SVC_VOICE,
     .cr_direction = CDR_DIR_MT},
    {.cr_origin_id = "1003",
     .cr_msisdn = "8613800000003",
     .cr_other = "861012345678",
     .cr_start = 1793847600 /* 2026-11-05T11:00:00+08:00 */,
     .cr_utc_offset = 28800,
     .cr_cause = 3,
     .cr_service = CDR_SVC_VOICE,
     .cr_direction = CDR_DIR_MO},
    {.cr_origin_id = "1004",
     .cr_msisdn = "8613800000004",
     .cr_imsi = "460001234567892",
     .cr_start = 1793851200 /* 2026-11-05T12:00:00+08:00 */,
     .cr_utc_offset = 28800,
     .cr_duration = 1800,
     .cr_bytes_up = 1000001,
     .cr_bytes_down = 20000003,
     .cr_cell = 123456789,
     .cr_cause = 0,
     .cr_service = CDR_SVC_DATA,
     .cr_direction = CDR_DIR_MO},
    {.cr_origin_id = "1005",
     .cr_msisdn = "8613800000005",
     .cr_imsi = "460001234567893",
     .cr_start = 1793901600 /* 2026-11-05T13:00:00-05:00 */,
     .cr_utc_offset = -18000,
     .cr_duration = 60,
     .cr_cell = 0xF0001234u,
     .cr_mcc = 310,
     .cr_mnc = 260,
     .cr_cause = 16,
     .cr_service = CDR_SVC_DATA,
     .cr_direction = CDR_DIR_MO},
    {.cr_origin_id = "1006",
     .cr_msisdn = "8613800000006",
     .cr_other = "10086",
     .cr_start = 1798740899 /* 2026-12-31T23:59:59+05:45 */,
     .cr_utc_offset = 20700,
     .cr_duration = 1,
     .cr_cell = 1,
     .cr_service = CDR_SVC_VOICE,
     .cr_direction = CDR_DIR_MT},
    {.cr_origin_id = "call-7/B",
     .cr_msisdn = "8613800000007",
     .cr_other = "8613800000001",
     .cr_start = 1793844005,
     .cr_utc_offset = 28800,
     .cr_duration = 7200,
     .cr_service = CDR_SVC_VOICE,
     .cr_direction = CDR_DIR_MO},
};
#define NFIX (sizeof fixture_recs / sizeof fixture_recs[0])

Test(coll_3gpp_rt, fixture_records_and_their_times)
{
    cr_assert_eq(fixture_recs[0].cr_start, iso("2026-11-05T10:00:05+08:00"));
    cr_assert_eq(fixture_recs[1].cr_start, iso("2026-11-05T09:30:00+01:00"));
    cr_assert_eq(fixture_recs[2].cr_start, iso("2026-11-05T11:00:00+08:00"));
    cr_assert_eq(fixture_recs[3].cr_start, iso("2026-11-05T12:00:00+08:00"));
    cr_assert_eq(fixture_recs[4].cr_start, iso("2026-11-05T13:00:00-05:00"));
    cr_assert_eq(fixture_recs[5].cr_start, iso("2026-12-31T23:59:59+05:45"));
    round_trip(fixture_recs, NFIX, 0);
    round_trip(fixture_recs, NFIX, CDR_GEN_3GPP_INDEFINITE);
    round_trip(fixture_recs, NFIX, CDR_GEN_3GPP_SGW);
}

Test(coll_3gpp_rt, encoder_refuses_what_it_cannot_carry)
{
    cdr_record r[2] = {fixture_recs[0], fixture_recs[0]};
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format_3gpp_ex(r, 1, &b, 0), 0);
    const size_t one = b.b_len;
    r[1].cr_service = CDR_SVC_SMS;
    cr_assert_eq(cdr_gen_format_3gpp(r, 2, &b), CDR_EINVAL);
    cr_assert_eq(b.b_len, one, "a failed call leaves out as it was");
    cr_assert_eq(cdr_gen_format_3gpp_ex(r, 2, &b, CDR_GEN_3GPP_SKIP), 0);
    r[1] = fixture_recs[0];
    r[1].cr_utc_offset = 30; /* not whole minutes */
    cr_assert_eq(cdr_gen_format_3gpp_ex(r, 2, &b, 0), CDR_EINVAL);
    r[1].cr_utc_offset = 0;
    r[1].cr_start = 0; /* 1970: TimeStamp years are 2000..2099 */
    cr_assert_eq(cdr_gen_format_3gpp_ex(r, 2, &b, 0), CDR_EINVAL);
    r[1] = fixture_recs[0];
    strcpy(r[1].cr_msisdn, "86x");
    cr_assert_eq(cdr_gen_format_3gpp_ex(r, 2, &b, 0), CDR_EINVAL);
    cdr_buf_free(&b);
}

/* ---- golden fixtures ------------------------------------------------------------------------- */

static void render(const items *its, FILE *f)
{
    static const char kinds[] = "RXN";
    for (size_t i = 0; i < its->it_n; i++) {
        const cdr_coll_item *ci = &its->it_v[i];
        fprintf(f, "%c idx=%llu off=%llu len=%llu", kinds[ci->ci_kind],
                (unsigned long long)ci->ci_index, (unsigned long long)ci->ci_offset,
                (unsigned long long)ci->ci_length);
        if (ci->ci_kind != CDR_ITEM_RECORD)
            fprintf(f, " (%s)", ci->ci_diag.dg_msg);
        fputs(" ", f);
        cdr_record_json(&ci->ci_rec, f);
        fputs("\n", f);
    }
}

/* The fixture file must be what the encoder writes today, and decode to its golden rendering. */
static void golden(const char *file, unsigned flags, items *its)
{
    char path[512], gpath[512];
    snprintf(path, sizeof path, DATA_DIR "%s", file);
    snprintf(gpath, sizeof gpath, DATA_DIR "%s.golden", file);
    cdr_buf b = {0};
    cr_assert_eq(cdr_gen_format_3gpp_ex(fixture_recs, NFIX, &b, flags), 0);
    if (getenv("CDR_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(b.b_data, 1, b.b_len, f);
        fclose(f);
    }
    size_t len;
    uint8_t *in = (uint8_t *)slurp(path, &len);
    cr_assert_not_null(in, "missing fixture %s", path);
    cr_assert(len == b.b_len && memcmp(in, b.b_data, len) == 0,
              "%s is no longer what the encoder writes", file);
    cdr_buf_free(&b);
    decode(in, len, its);
    free(in);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mf = open_memstream(&out, &outlen);
    render(its, mf);
    fclose(mf);
    golden_compare(out, outlen, gpath, file);
    assert_tiles(its, FHDR, len);
}

/* Field values of the fixture records, written out (not derived from the encoder's input). */
static void check_fixture(const items *its, int sgw)
{
    cr_assert_eq(its->it_n, NFIX);
    cr_assert_eq(its->it_kind[CDR_ITEM_RECORD], NFIX - 1);
    cr_assert_eq(its->it_kind[CDR_ITEM_NONBILLABLE], 1);
    const cdr_record *r = &its->it_v[0].ci_rec;
    cr_assert_str_eq(r->cr_origin_id, "mo-03e9");
    cr_assert_str_eq(r->cr_msisdn, "8613800000001");
    cr_assert_str_eq(r->cr_imsi, "460001234567890");
    cr_assert_str_eq(r->cr_other, "8613912345678");
    cr_assert_eq(r->cr_start, iso("2026-11-05T10:00:05+08:00"));
    cr_assert_eq(r->cr_duration, 65);
    cr_assert_eq(r->cr_cell, 4660);
    r = &its->it_v[1].ci_rec;
    cr_assert_str_eq(r->cr_origin_id, "mt-03ea");
    cr_assert_eq(r->cr_direction, CDR_DIR_MT);
    cr_assert_str_eq(r->cr_other, "4917612345678");
    cr_assert_eq(r->cr_utc_offset, 3600);
    cr_assert_eq(r->cr_mcc, 262);
    cr_assert_eq(r->cr_mnc, 1);
    cr_assert_eq(r->cr_cell, 65538);
    cr_assert_eq(its->it_v[2].ci_kind, CDR_ITEM_NONBILLABLE);
    cr_assert_eq(its->it_v[2].ci_rec.cr_start, iso("2026-11-05T11:00:00+08:00"));
    cr_assert_eq(its->it_v[2].ci_rec.cr_cause, 3);
    r = &its->it_v[3].ci_rec;
    cr_assert_str_eq(r->cr_origin_id, sgw ? "sgw-1004" : "pgw-1004");
    cr_assert_eq(r->cr_service, CDR_SVC_DATA);
    cr_assert_eq(r->cr_bytes_up, 1000001);
    cr_assert_eq(r->cr_bytes_down, 20000003);
    cr_assert_eq(r->cr_duration, 1800);
    cr_assert_eq(r->cr_cell, 123456789);
    cr_assert_eq(r->cr_mcc, 0);
    r = &its->it_v[4].ci_rec;
    cr_assert_eq(r->cr_start, iso("2026-11-05T13:00:00-05:00"));
    cr_assert_eq(r->cr_utc_offset, -18000);
    cr_assert_eq(r->cr_mcc, 310);
    cr_assert_eq(r->cr_mnc, 260);
    cr_assert_eq(r->cr_cell, 0xF0001234u);
    cr_assert_eq(r->cr_bytes_up + r->cr_bytes_down, 0);
    cr_assert_eq(r->cr_cause, 16);
    r = &its->it_v[5].ci_rec;
    cr_assert_str_eq(r->cr_other, "10086");
    cr_assert_eq(r->cr_utc_offset, 20700);
    cr_assert_eq(r->cr_start, iso("2026-12-31T23:59:59+05:45"));
    r = &its->it_v[6].ci_rec;
    cr_assert_eq(strncmp(r->cr_origin_id, "mo-", 3), 0);
    cr_assert_eq(strlen(r->cr_origin_id), 3 + 16);
    for (size_t i = 0; i < NFIX; i++)
        cr_assert_str_eq(its->it_v[i].ci_rec.cr_source, "MSC-HZ-01");
}

Test(coll_3gpp_golden, definite)
{
    items its = {0};
    golden("records.dat", 0, &its);
    check_fixture(&its, 0);
    items_free(&its);
}

Test(coll_3gpp_golden, indefinite)
{
    items its = {0};
    golden("records_indefinite.dat", CDR_GEN_3GPP_INDEFINITE, &its);
    check_fixture(&its, 0);
    items_free(&its);
}

Test(coll_3gpp_golden, sgw)
{
    items its = {0};
    golden("records_sgw.dat", CDR_GEN_3GPP_SGW, &its);
    check_fixture(&its, 1);
    items_free(&its);
}

Test(coll_3gpp_golden, file_header_fields)
{
    size_t len;
    uint8_t *in = (uint8_t *)slurp(DATA_DIR "records.dat", &len);
    cr_assert_not_null(in);
    cr_assert_eq((size_t)in[0] << 24 | in[1] << 16 | in[2] << 8 | in[3], len); /* file length */
    cr_assert_eq(in[7], FHDR);                                                 /* header length */
    cr_assert_eq(in[8], 0xE0);  /* high: release identifier 7, version 0 */
    cr_assert_eq(in[21], NFIX); /* number of CDRs */
    cr_assert_eq(in[25], 1);    /* file sequence number */
    cr_assert_eq(in[43], 10);   /* node 10.0.0.1 */
    cr_assert_eq(in[52], 6);    /* Rel-16 */
    cr_assert_eq(in[53], 5);    /* Rel-15 */
    cr_assert_eq(in[FHDR + 2], 0xE0);
    cr_assert_eq(in[FHDR + 3], 0x26); /* BER, TS 32.250 */
    cr_assert_eq(in[FHDR + 5], 0xA0); /* MOCallRecord [0] */
    free(in);
}

/* ---- mutation fuzz --------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

Test(coll_3gpp_fuzz, mutations_never_break_the_accounting)
{
    cdr_buf good[2] = {{0}, {0}};
    cr_assert_eq(cdr_gen_format_3gpp_ex(fixture_recs, NFIX, &good[0], 0), 0);
    cr_assert_eq(cdr_gen_format_3gpp_ex(fixture_recs, NFIX, &good[1], CDR_GEN_3GPP_INDEFINITE), 0);
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    uint8_t *m = malloc(good[1].b_len + 64);
    cr_assert_not_null(m);
    cdr_coll_decoder *d = NULL;
    cdr_coll_config cc = test_config();
    cr_assert_eq(cdr_coll_decoder_create(CDR_FMT_3GPP, &cc, &d, NULL), 0);
    for (int it = 0; it < 4000; it++) {
        const cdr_buf *g = &good[it & 1];
        size_t len = g->b_len;
        memcpy(m, g->b_data, len);
        int edits = 1 + (int)(rnd(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = rnd(&seed) % len;
            switch (rnd(&seed) % 4) {
            case 0:
                m[at] ^= (uint8_t)(1u << (rnd(&seed) % 8));
                break;
            case 1:
                m[at] = (uint8_t)rnd(&seed);
                break;
            case 2:
                len = at; /* truncate */
                break;
            default:
                m[at] = (uint8_t)(0x80 | rnd(&seed) % 5); /* a length-like octet */
                break;
            }
            if (len == 0)
                break;
        }
        items its = {0};
        cr_assert_eq(cdr_coll_decode(d, "fuzz.dat", m, len, collect, &its), 0);
        if (its.it_n)
            assert_tiles(&its, its.it_v[0].ci_offset, len);
        items_free(&its);
    }
    cdr_coll_decoder_destroy(d);
    free(m);
    cdr_buf_free(&good[0]);
    cdr_buf_free(&good[1]);
}
