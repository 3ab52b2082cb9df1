/* test_rated_wire.c - rated records on the wire: round trip, truncation, garbage, fuzz. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_rate.h"

static cdr_record sample_cdr(void)
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
    cr.cr_bytes_down = 1ULL << 40;
    cr.cr_owner = 77;
    cr.cr_service = CDR_SVC_VOICE;
    return cr;
}

static cdr_rated sample_rated(void)
{
    cdr_rated rr;
    memset(&rr, 0, sizeof rr);
    rr.rr_reason = CDR_REASON_NONE;
    rr.rr_service = CDR_SVC_VOICE;
    rr.rr_zone = 3;
    rr.rr_bundle = 1;
    rr.rr_plan_version = 7;
    rr.rr_cycle = 202611;
    rr.rr_charge = -1234567; /* a credit: negative charges must survive */
    rr.rr_units = 120;
    rr.rr_bundle_units = 60;
    rr.rr_overflow_units = 40;
    rr.rr_free_units = 20;
    strcpy(rr.rr_currency, "CNY");
    rr.rr_nparts = 2;
    rr.rr_parts[0] = (cdr_rated_part){.rp_band = 0, .rp_units = 60, .rp_charge = 0};
    rr.rr_parts[1] = (cdr_rated_part){.rp_band = 15, .rp_units = 60, .rp_charge = INT64_MIN};
    rr.rr_class = CDR_CLASS_BASIC_VOICE;
    return rr;
}

static void assert_rated_eq(const cdr_rated *a, const cdr_rated *b)
{
    cr_assert_eq(a->rr_reason, b->rr_reason);
    cr_assert_eq(a->rr_service, b->rr_service);
    cr_assert_eq(a->rr_zone, b->rr_zone);
    cr_assert_eq(a->rr_bundle, b->rr_bundle);
    cr_assert_eq(a->rr_nparts, b->rr_nparts);
    cr_assert_eq(a->rr_flags, b->rr_flags);
    cr_assert_eq(a->rr_class, b->rr_class);
    cr_assert_eq(a->rr_plan_version, b->rr_plan_version);
    cr_assert_eq(a->rr_cycle, b->rr_cycle);
    cr_assert_eq(a->rr_charge, b->rr_charge);
    cr_assert_eq(a->rr_units, b->rr_units);
    cr_assert_eq(a->rr_bundle_units, b->rr_bundle_units);
    cr_assert_eq(a->rr_overflow_units, b->rr_overflow_units);
    cr_assert_eq(a->rr_free_units, b->rr_free_units);
    cr_assert_str_eq(a->rr_currency, b->rr_currency);
    for (unsigned i = 0; i < a->rr_nparts; i++) {
        cr_assert_eq(a->rr_parts[i].rp_band, b->rr_parts[i].rp_band);
        cr_assert_eq(a->rr_parts[i].rp_units, b->rr_parts[i].rp_units);
        cr_assert_eq(a->rr_parts[i].rp_charge, b->rr_parts[i].rp_charge);
    }
}

static size_t encode(const cdr_record *cr, const cdr_rated *rr, const char *plan, uint8_t *buf)
{
    size_t n = cdr_rated_wire_encode(cr, rr, plan, buf);
    cr_assert(n > 0 && n <= CDR_RATED_WIRE_MAX);
    return n;
}

Test(rated_wire, round_trip_rated)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    uint8_t buf[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX];
    size_t n = encode(&cr, &rr, "cn-personal-128", buf);
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(memcmp(&cr, &cr2, sizeof cr), 0);
    assert_rated_eq(&rr, &rr2);
    cr_assert_str_eq(plan, "cn-personal-128");
    cr_assert_eq(buf[0], 4, "version 4 is written");
    cr_assert_eq(buf[n - 2], 0, "flags");
    cr_assert_eq(buf[n - 1], CDR_CLASS_BASIC_VOICE, "the charge class is the last byte");
}

/* A record written by the version-2 encoder (sample_cdr and sample_rated, without flags and
 * class): as read back from a ledger segment or cdr.rated topic written before version 4. */
static const uint8_t v2_record[] = {
    0x02, 0x4c, 0x01, 0x00, 0x00, 0x05, 0x4d, 0x53, 0x43, 0x30, 0x31, 0x07, 0x31, 0x32, 0x33,
    0x34, 0x35, 0x36, 0x37, 0x0d, 0x38, 0x36, 0x31, 0x33, 0x38, 0x30, 0x30, 0x30, 0x30, 0x30,
    0x30, 0x30, 0x31, 0x0f, 0x34, 0x36, 0x30, 0x30, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36,
    0x37, 0x38, 0x39, 0x30, 0x07, 0x38, 0x36, 0x31, 0x30, 0x30, 0x38, 0x36, 0x80, 0xee, 0x89,
    0xab, 0x0d, 0x80, 0xc2, 0x03, 0x3d, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x4d, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x02, 0x07, 0xf3, 0xae, 0x0c, 0x8d, 0xda, 0x96, 0x01,
    0x78, 0x3c, 0x28, 0x14, 0x02, 0x00, 0x3c, 0x00, 0x0f, 0x3c, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0x01, 0x0f, 0x63, 0x6e, 0x2d, 0x70, 0x65, 0x72, 0x73, 0x6f, 0x6e,
    0x61, 0x6c, 0x2d, 0x31, 0x32, 0x38, 0x03, 0x43, 0x4e, 0x59,
};

/* Version 4 is version 2's fields, then the flags byte, then the class byte; the version-2 and
 * version-3 records written before decode with class 0 (derived from the plan on read), and a
 * record without a class (read from them) is written again as it was, never as version 4. */
Test(rated_wire, version_4_layout_and_older_versions)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    uint8_t buf[CDR_RATED_WIRE_MAX], re[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    const size_t n = encode(&cr, &rr, "cn-personal-128", buf);
    cr_assert_eq(n, sizeof v2_record + 2);
    cr_assert_eq(buf[0], 4);
    cr_assert_eq(memcmp(buf + 1, v2_record + 1, sizeof v2_record - 1), 0);
    cr_assert_eq(buf[n - 2], 0);
    cr_assert_eq(buf[n - 1], CDR_CLASS_BASIC_VOICE);

    /* version 2: class 0, and it is written back byte for byte */
    cdr_rated want = sample_rated();
    want.rr_class = CDR_CLASS_NONE;
    cr_assert_eq(cdr_rated_wire_decode(v2_record, sizeof v2_record, &cr2, &rr2, plan, &dg), 0, "%s",
                 dg.dg_msg);
    cr_assert_eq(memcmp(&cr, &cr2, sizeof cr), 0);
    assert_rated_eq(&want, &rr2);
    cr_assert_eq(rr2.rr_class, CDR_CLASS_NONE);
    size_t rn = encode(&cr2, &rr2, plan, re);
    cr_assert_eq(rn, sizeof v2_record);
    cr_assert_eq(memcmp(re, v2_record, rn), 0, "a record without a class stays version 2");

    /* version 3 (version 2 + flags): class 0, flags kept, written back as version 3 */
    uint8_t v3[sizeof v2_record + 1];
    memcpy(v3, v2_record, sizeof v2_record);
    v3[0] = 3;
    v3[sizeof v2_record] = CDR_RATED_FLAG_WARNED;
    want.rr_flags = CDR_RATED_FLAG_WARNED;
    cr_assert_eq(cdr_rated_wire_decode(v3, sizeof v3, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    assert_rated_eq(&want, &rr2);
    rn = encode(&cr2, &rr2, plan, re);
    cr_assert_eq(rn, sizeof v3);
    cr_assert_eq(memcmp(re, v3, rn), 0, "a flagged record without a class stays version 3");

    /* with its class derived (by cdr_plan_charge_class on read), it is written as version 4 */
    rr2.rr_class = CDR_CLASS_DATA;
    rn = encode(&cr2, &rr2, plan, re);
    cr_assert_eq(re[0], 4);
    cr_assert_eq(rn, sizeof v2_record + 2);
    cr_assert_eq(re[rn - 2], CDR_RATED_FLAG_WARNED);
    cr_assert_eq(re[rn - 1], CDR_CLASS_DATA);
    cdr_rated rr3;
    cr_assert_eq(cdr_rated_wire_decode(re, rn, &cr2, &rr3, plan, &dg), 0, "%s", dg.dg_msg);
    assert_rated_eq(&rr2, &rr3);

    /* every usage class, with every flags value, round-trips */
    for (int c = CDR_CLASS_USAGE_FIRST; c <= CDR_CLASS_USAGE_LAST; c++)
        for (uint8_t fl = 0; fl <= CDR_RATED_FLAGS_ALL; fl++) {
            rr.rr_class = (uint8_t)c;
            rr.rr_flags = fl;
            rn = encode(&cr, &rr, "p", re);
            cr_assert_eq(re[0], 4);
            cr_assert_eq(cdr_rated_wire_decode(re, rn, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
            assert_rated_eq(&rr, &rr2);
        }
}

/* A malformed version-4 record is refused with the byte position of the offending byte. */
Test(rated_wire, version_4_malformed)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    uint8_t buf[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    const size_t n = encode(&cr, &rr, "cn-personal-128", buf);
    const int last = (int)n; /* 1-based position of the class byte */

    /* truncated: without the class byte, without the flags byte */
    cr_assert_eq(cdr_rated_wire_decode(buf, n - 1, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "truncated rated record in field charge_class");
    cr_assert_eq(dg.dg_column, last);
    cr_assert_eq(cdr_rated_wire_decode(buf, n - 2, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "truncated rated record in field flags");
    cr_assert_eq(dg.dg_column, last - 1);

    /* a class byte beyond the names */
    buf[n - 1] = CDR_CLASS_COUNT;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field charge_class out of range (11)");
    cr_assert_eq(dg.dg_column, last);
    buf[n - 1] = 0xff;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field charge_class out of range (255)");

    /* a rated record of class none, or of a class of the bill run */
    buf[n - 1] = CDR_CLASS_NONE;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg,
                     "field charge_class 0 (none) is not a usage class of a rated record");
    cr_assert_eq(dg.dg_column, last);
    for (uint8_t c = CDR_CLASS_RECURRING_FEE; c <= CDR_CLASS_ADJUSTMENT; c++) {
        buf[n - 1] = c;
        cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
        char want[128];
        snprintf(want, sizeof want,
                 "field charge_class %u (%s) is not a usage class of a rated record", c,
                 cdr_charge_class_name(c));
        cr_assert_str_eq(dg.dg_msg, want);
        cr_assert_eq(dg.dg_column, last);
    }
    buf[n - 1] = CDR_CLASS_FREE;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(rr2.rr_class, CDR_CLASS_FREE);

    /* flags: 0 is fine in version 4, an unknown bit is not */
    buf[n - 2] = 32;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field flags out of range (32)");
    cr_assert_eq(dg.dg_column, last - 1);
    buf[n - 2] = 0;

    /* trailing bytes after the class */
    buf[n] = CDR_CLASS_DATA;
    cr_assert_eq(cdr_rated_wire_decode(buf, n + 1, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "1 trailing bytes after rated record");
    cr_assert_eq(dg.dg_column, last + 1);

    /* an unratable record has class 0 */
    memset(&rr, 0, sizeof rr);
    rr.rr_reason = CDR_REASON_NO_RATE;
    rr.rr_zone = 2;
    rr.rr_bundle = -1;
    const size_t un = encode(&cr, &rr, "p", buf);
    cr_assert_eq(buf[0], 4);
    cr_assert_eq(buf[un - 1], CDR_CLASS_NONE);
    cr_assert_eq(cdr_rated_wire_decode(buf, un, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    buf[un - 1] = CDR_CLASS_BASIC_VOICE;
    cr_assert_eq(cdr_rated_wire_decode(buf, un, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg,
                     "field charge_class 1 (basic_voice) in an unratable record (must be 0)");
    cr_assert_eq(dg.dg_column, (int)un);
}

/* A record of a suspended line carries its flag. A record without a class (one read from version
 * 1-3) is written as before: version 3, one byte more than version 2, when it has flags, else the
 * bytes of version 2. Malformed flags are refused at their position. */
Test(rated_wire, flags_in_version_3)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    rr.rr_class = CDR_CLASS_NONE;
    uint8_t buf[CDR_RATED_WIRE_MAX], plain[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    size_t n2 = encode(&cr, &rr, "cn-personal-128", plain);
    rr.rr_flags = CDR_RATED_FLAG_SUSPENDED;
    size_t n = encode(&cr, &rr, "cn-personal-128", buf);
    cr_assert_eq(buf[0], 3);
    cr_assert_eq(n, n2 + 1);
    cr_assert_eq(memcmp(buf + 1, plain + 1, n2 - 1), 0, "version 3 = version 2 + the flags");
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    assert_rated_eq(&rr, &rr2);
    cr_assert_eq(rr2.rr_flags, CDR_RATED_FLAG_SUSPENDED);
    cr_assert_eq(cdr_rated_wire_decode(buf, n - 1, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "truncated rated record in field flags");
    buf[n - 1] = 0;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field flags is 0 in a version 3 record");
    cr_assert_eq(dg.dg_column, (int)n);
    buf[n - 1] = 32;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "field flags out of range (32)");
    buf[0] = 5;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_VERSION);
}

/* A record written by the version-1 encoder (before the currency and the free units): as read
 * back from an old ledger segment or cdr.rated topic. */
static const uint8_t v1_record[] = {
    0x01, 0x4c, 0x01, 0x00, 0x00, 0x05, 0x4d, 0x53, 0x43, 0x30, 0x31, 0x07, 0x31, 0x32, 0x33, 0x34,
    0x35, 0x36, 0x37, 0x0d, 0x38, 0x36, 0x31, 0x33, 0x38, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30,
    0x31, 0x0f, 0x34, 0x36, 0x30, 0x30, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x30, 0x07, 0x38, 0x36, 0x31, 0x30, 0x30, 0x38, 0x36, 0x80, 0xee, 0x89, 0xab, 0x0d, 0x80, 0xc2,
    0x03, 0x3d, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x06, 0x02, 0x07, 0xf3, 0xae, 0x0c, 0x8d, 0xda, 0x96, 0x01, 0x78, 0x3c, 0x3c, 0x02, 0x00, 0x3c,
    0x00, 0x0f, 0x3c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0f, 0x63, 0x6e,
    0x2d, 0x70, 0x65, 0x72, 0x73, 0x6f, 0x6e, 0x61, 0x6c, 0x2d, 0x31, 0x32, 0x38,
};

Test(rated_wire, version_1_still_decodes)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated want = sample_rated(), rr2;
    /* what version 1 held: no currency, no free units (overflow was units - bundle units), no
     * class */
    want.rr_class = CDR_CLASS_NONE;
    want.rr_overflow_units = 60;
    want.rr_free_units = 0;
    want.rr_currency[0] = '\0';
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(v1_record, sizeof v1_record, &cr2, &rr2, plan, &dg), 0, "%s",
                 dg.dg_msg);
    cr_assert_eq(memcmp(&cr, &cr2, sizeof cr), 0);
    assert_rated_eq(&want, &rr2);
    cr_assert_str_eq(rr2.rr_currency, "", "a version-1 record has no currency");
    cr_assert_eq(rr2.rr_free_units, 0);
    cr_assert_str_eq(plan, "cn-personal-128");
    /* re-encoded it is a version-2 record with an empty currency, which reads back the same */
    uint8_t buf[CDR_RATED_WIRE_MAX];
    cdr_rated rr3;
    size_t n = encode(&cr2, &rr2, plan, buf);
    cr_assert_eq(buf[0], 2);
    cr_assert_eq(n, sizeof v1_record + 2, "one byte of free units, one of currency length");
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr3, plan, &dg), 0, "%s", dg.dg_msg);
    assert_rated_eq(&rr2, &rr3);
    /* every truncation of the version-1 record is refused */
    for (size_t len = 0; len < sizeof v1_record; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, v1_record, len);
        cr_assert_eq(cdr_rated_wire_decode(cut, len, &cr2, &rr2, plan, NULL), CDR_FORMAT,
                     "length %zu", len);
        free(cut);
    }
}

Test(rated_wire, round_trip_unratable)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr, rr2;
    memset(&rr, 0, sizeof rr);
    rr.rr_reason = CDR_REASON_UNKNOWN_SUBSCRIBER;
    rr.rr_service = CDR_SVC_SMS;
    rr.rr_zone = CDR_NO_ZONE;
    rr.rr_bundle = -1;
    uint8_t buf[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX] = "x";
    for (int k = 0; k < 2; k++) {
        size_t n = encode(&cr, &rr, k ? "" : NULL, buf);
        cr_assert_eq(buf[0], 4);
        cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, NULL), 0);
        assert_rated_eq(&rr, &rr2);
        cr_assert_str_eq(plan, "");
    }
}

/* The longest possible record fits CDR_RATED_WIRE_MAX. */
Test(rated_wire, maximum_size)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    memset(cr.cr_source, 'S', CDR_SOURCE_MAX - 1);
    memset(cr.cr_origin_id, 'O', CDR_ORIGIN_MAX - 1);
    memset(cr.cr_msisdn, '9', CDR_NUMBER_MAX - 1);
    memset(cr.cr_imsi, '9', CDR_IMSI_MAX - 1);
    memset(cr.cr_other, '9', CDR_NUMBER_MAX - 1);
    cr.cr_start = INT64_MIN;
    cr.cr_utc_offset = -86400;
    cr.cr_duration = UINT32_MAX;
    cr.cr_bytes_up = cr.cr_bytes_down = cr.cr_owner = UINT64_MAX;
    cr.cr_cell = UINT32_MAX;
    cr.cr_mcc = cr.cr_mnc = 999;
    cr.cr_cause = UINT16_MAX;
    cdr_rated rr = sample_rated(), rr2;
    rr.rr_plan_version = rr.rr_cycle = 999912;
    rr.rr_charge = INT64_MIN;
    rr.rr_units = rr.rr_bundle_units = rr.rr_overflow_units = rr.rr_free_units = UINT64_MAX;
    strcpy(rr.rr_currency, "XAU");
    rr.rr_zone = CDR_PLAN_MAX_ZONES - 1;
    rr.rr_bundle = CDR_PLAN_MAX_BUNDLES - 1;
    rr.rr_nparts = CDR_RATED_MAX_PARTS;
    for (int i = 0; i < CDR_RATED_MAX_PARTS; i++)
        rr.rr_parts[i] = (cdr_rated_part){CDR_PLAN_MAX_BANDS - 1, UINT64_MAX, INT64_MIN};
    rr.rr_flags = CDR_RATED_FLAG_SUSPENDED | CDR_RATED_FLAG_WARNED;
    rr.rr_class = CDR_CLASS_FREE;
    char plan[CDR_NAME_MAX], plan2[CDR_NAME_MAX];
    memset(plan, 'p', sizeof plan - 1);
    plan[sizeof plan - 1] = '\0';
    uint8_t buf[CDR_RATED_WIRE_MAX];
    size_t n = encode(&cr, &rr, plan, buf);
    cr_assert_eq(buf[0], 4);
    cr_assert_eq(buf[n - 1], CDR_CLASS_FREE);
    cdr_record cr2;
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan2, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(memcmp(&cr, &cr2, sizeof cr), 0);
    assert_rated_eq(&rr, &rr2);
    cr_assert_str_eq(plan, plan2);
}

Test(rated_wire, every_truncation_rejected)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    uint8_t buf[CDR_RATED_WIRE_MAX];
    char plan[CDR_NAME_MAX];
    size_t n = encode(&cr, &rr, "cn-personal-128", buf);
    for (size_t len = 0; len < n; len++) {
        cdr_diag dg;
        cdr_diag_clear(&dg);
        /* A copy of exactly len bytes, so that ASan sees any read past the end. */
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, buf, len);
        int rc = cdr_rated_wire_decode(cut, len, &cr2, &rr2, plan, &dg);
        free(cut);
        cr_assert_eq(rc, CDR_FORMAT, "length %zu accepted", len);
        cr_assert(dg.dg_column >= 1 && (size_t)dg.dg_column <= len + 1, "length %zu: column %d",
                  len, dg.dg_column);
    }
}

Test(rated_wire, trailing_bytes_rejected)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr = sample_rated(), rr2;
    uint8_t buf[CDR_RATED_WIRE_MAX + 1];
    char plan[CDR_NAME_MAX];
    size_t n = encode(&cr, &rr, "p", buf);
    buf[n] = 0;
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(buf, n + 1, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "trailing"));
    cr_assert_eq(dg.dg_column, (int)n + 1);
}

Test(rated_wire, bad_values_rejected)
{
    cdr_record cr = sample_cdr(), cr2;
    cdr_rated rr2;
    char plan[CDR_NAME_MAX];
    uint8_t buf[CDR_RATED_WIRE_MAX];
    cdr_diag dg;
    /* Each mutation makes the encoder write a value the decoder must refuse. */
    for (int k = 0; k < 10; k++) {
        cdr_rated rr = sample_rated();
        const char *field = NULL;
        switch (k) {
        case 0:
            rr.rr_reason = CDR_REASON_COUNT;
            field = "reason";
            break;
        case 1:
            rr.rr_service = CDR_SVC_COUNT;
            field = "service";
            break;
        case 2:
            rr.rr_zone = CDR_PLAN_MAX_ZONES;
            field = "zone";
            break;
        case 3:
            rr.rr_bundle = -2;
            field = "bundle";
            break;
        case 4:
            rr.rr_cycle = 202613;
            field = "cycle";
            break;
        case 5:
            rr.rr_bundle_units = rr.rr_units + 1;
            field = "bundle_units";
            break;
        case 6:
            rr.rr_parts[1].rp_band = CDR_PLAN_MAX_BANDS;
            field = "part_band";
            break;
        case 7:
            rr.rr_free_units = rr.rr_units + 1;
            field = "free_units";
            break;
        case 8:
            rr.rr_class = CDR_CLASS_ADJUSTMENT;
            field = "charge_class";
            break;
        case 9:
            rr.rr_class = CDR_CLASS_COUNT;
            field = "charge_class";
            break;
        }
        size_t n = encode(&cr, &rr, "p", buf);
        cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT, "case %d",
                     k);
        cr_assert(strstr(dg.dg_msg, field), "case %d: %s", k, dg.dg_msg);
    }
    /* Version, nparts, a NUL in the plan id and a bad currency, patched into the bytes (the
     * record ends with the plan id, the currency: length 3, "CNY", the flags and the class). */
    cdr_rated rr = sample_rated();
    size_t n = encode(&cr, &rr, "p", buf);
    for (unsigned v = 0; v < 256; v++) {
        buf[0] = (uint8_t)v;
        const int rc = cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg);
        if (v == 4)
            cr_assert_eq(rc, 0, "%s", dg.dg_msg);
        else if (v < 1 || v > 3) /* version 1-3 readings of version-4 bytes are refused in some
                                    other way (trailing bytes, flags 0) */
            cr_assert_eq(rc, CDR_VERSION, "version %u", v);
        else
            cr_assert_eq(rc, CDR_FORMAT);
    }
    buf[0] = CDR_RATED_WIRE_VERSION;
    buf[n - 7] = 0;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "NUL"));
    buf[n - 7] = 'p';
    buf[n - 4] = 'n'; /* "CnY" */
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "currency"), "%s", dg.dg_msg);
    buf[n - 4] = 'N';
    buf[n - 6] = 2; /* length 2: "CN", then 'Y' is read as the flags */
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "currency"), "%s", dg.dg_msg);
    buf[n - 6] = 4; /* longer than a code */
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "currency"), "%s", dg.dg_msg);
    buf[n - 6] = 3;
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), 0, "%s", dg.dg_msg);
    rr.rr_nparts = 0;
    rr.rr_currency[0] = '\0';
    n = encode(&cr, &rr, "", buf);
    buf[n - 5] = CDR_RATED_MAX_PARTS + 1; /* nparts, then the plan id length, currency length,
                                             flags and class */
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "nparts"));
    /* A broken embedded CDR is reported at its position in the rated record. */
    n = encode(&cr, &rr, "", buf);
    buf[3] = 9; /* bytes: [0] version, [1] CDR length, [2] CDR version, [3] CDR service */
    cr_assert_eq(cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "embedded CDR"), "%s", dg.dg_msg);
}

Test(rated_wire, garbage_rejected)
{
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    junk[0] = CDR_RATED_WIRE_VERSION;
    cr_assert_eq(cdr_rated_wire_decode(junk, sizeof junk, &cr, &rr, plan, NULL), CDR_FORMAT);
    memset(junk, 0x80, sizeof junk);
    junk[0] = CDR_RATED_WIRE_VERSION;
    cr_assert_eq(cdr_rated_wire_decode(junk, sizeof junk, &cr, &rr, plan, NULL), CDR_FORMAT);
    cr_assert_eq(cdr_rated_wire_decode(junk, 0, &cr, &rr, plan, NULL), CDR_FORMAT);
}

/* Random bytes and random mutations of a valid record: decode returns 0 or an error, never
 * crashes (this runs under ASan+UBSan in the sanitizer build), and whatever it accepts encodes
 * back to the same bytes. */
Test(rated_wire, fuzz)
{
    cdr_record cr = sample_cdr(), cr2, cr3;
    cdr_rated rr = sample_rated(), rr2, rr3;
    char plan[CDR_NAME_MAX], plan3[CDR_NAME_MAX];
    uint8_t good[CDR_RATED_WIRE_MAX], re[CDR_RATED_WIRE_MAX];
    size_t gn = encode(&cr, &rr, "cn-personal-128", good);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    unsigned accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t len;
        uint8_t *b;
        if (iter & 1) { /* pure noise, valid version byte half of the time */
            len = (size_t)(seed % (CDR_RATED_WIRE_MAX + 8));
            b = malloc(len ? len : 1);
            uint64_t s = seed;
            for (size_t i = 0; i < len; i++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                b[i] = (uint8_t)s;
            }
            if (len && (seed & 2))
                b[0] = CDR_RATED_WIRE_VERSION;
        } else { /* a valid record with 1-3 bytes changed */
            len = gn;
            b = malloc(len);
            memcpy(b, good, len);
            uint64_t s = seed;
            for (int k = 0; k <= (int)(seed % 3); k++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                b[s % len] = (uint8_t)(s >> 32);
            }
        }
        if (cdr_rated_wire_decode(b, len, &cr2, &rr2, plan, NULL) == 0) {
            accepted++;
            size_t rn = cdr_rated_wire_encode(&cr2, &rr2, plan, re);
            cdr_diag dg;
            cr_assert_eq(cdr_rated_wire_decode(re, rn, &cr3, &rr3, plan3, &dg), 0, "%s", dg.dg_msg);
            cr_assert_eq(memcmp(&cr2, &cr3, sizeof cr2), 0);
            assert_rated_eq(&rr2, &rr3);
        }
        free(b);
    }
    cr_assert(accepted > 0); /* some mutations (e.g. inside strings or charges) stay valid */
}

/* cdr_rated_wire_view (the bill run's scan) accepts exactly what cdr_rated_wire_decode accepts,
 * with the same values. len bytes are copied to a buffer of their own, so that ASan sees any read
 * past the end. Returns 1 when the record was accepted. */
static int view_agrees(const uint8_t *buf, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, buf, len);
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    cdr_rated_view rv;
    const int drc = cdr_rated_wire_decode(b, len, &cr, &rr, plan, NULL);
    const int vrc = cdr_rated_wire_view(b, len, &rv);
    cr_assert_eq(drc == 0, vrc == 0, "length %zu: decode %d, view %d", len, drc, vrc);
    if (!drc) {
        const cdr_wire_view *wv = &rv.rv_cdr;
        cr_assert_eq(wv->wv_msisdn_len, strlen(cr.cr_msisdn));
        cr_assert_eq(memcmp(wv->wv_msisdn, cr.cr_msisdn, wv->wv_msisdn_len), 0);
        cr_assert_eq(wv->wv_other_len, strlen(cr.cr_other));
        cr_assert_eq(memcmp(wv->wv_other, cr.cr_other, wv->wv_other_len), 0);
        cr_assert_eq(wv->wv_service, cr.cr_service);
        cr_assert_eq(wv->wv_direction, cr.cr_direction);
        cr_assert_eq(wv->wv_start, cr.cr_start);
        cr_assert_eq(rv.rv_plan_len, strlen(plan));
        cr_assert_eq(memcmp(rv.rv_plan, plan, rv.rv_plan_len), 0);
        cr_assert_eq(rv.rv_version, b[0]);
        cr_assert_eq(rv.rv_reason, rr.rr_reason);
        cr_assert_eq(rv.rv_service, rr.rr_service);
        cr_assert_eq(rv.rv_flags, rr.rr_flags);
        cr_assert_eq(rv.rv_class, rr.rr_class);
        cr_assert_eq(rv.rv_zone, rr.rr_zone);
        cr_assert_eq(rv.rv_plan_version, rr.rr_plan_version);
        cr_assert_eq(rv.rv_cycle, rr.rr_cycle);
        cr_assert_eq(memcmp(rv.rv_currency, rr.rr_currency, 4), 0);
        cr_assert_eq(rv.rv_charge, rr.rr_charge);
        cr_assert_eq(rv.rv_units, rr.rr_units);
        cr_assert_eq(rv.rv_free_units, rr.rr_free_units);
    }
    free(b);
    return drc == 0;
}

/* The view agrees with the decoder on the records of every version, every truncation, every
 * value of every byte, and noise. */
Test(rated_wire, view_agrees_with_decode)
{
    cdr_record cr = sample_cdr();
    uint8_t recs[6][CDR_RATED_WIRE_MAX];
    size_t lens[6];
    cdr_rated rr = sample_rated();
    lens[0] = encode(&cr, &rr, "cn-personal-128", recs[0]); /* version 4 */
    rr.rr_flags = CDR_RATED_FLAG_LATE | CDR_RATED_FLAG_REVERSAL;
    lens[1] = encode(&cr, &rr, "p", recs[1]);
    rr.rr_class = CDR_CLASS_NONE; /* version 3: flags, no class */
    lens[2] = encode(&cr, &rr, "p", recs[2]);
    memcpy(recs[3], v2_record, lens[3] = sizeof v2_record);
    memcpy(recs[4], v1_record, lens[4] = sizeof v1_record);
    rr = sample_rated(); /* unratable, no plan, no currency, no other party */
    rr.rr_reason = CDR_REASON_NO_PLAN;
    rr.rr_class = CDR_CLASS_NONE;
    rr.rr_currency[0] = '\0';
    rr.rr_zone = CDR_NO_ZONE;
    cr.cr_other[0] = '\0';
    lens[5] = encode(&cr, &rr, "", recs[5]);
    unsigned accepted = 0, total = 0;
    for (int r = 0; r < 6; r++) {
        cr_assert(view_agrees(recs[r], lens[r]), "record %d", r);
        for (size_t len = 0; len < lens[r]; len++)
            cr_assert_not(view_agrees(recs[r], len), "record %d, length %zu", r, len);
        uint8_t b[CDR_RATED_WIRE_MAX];
        memcpy(b, recs[r], lens[r]);
        for (size_t i = 0; i < lens[r]; i++) {
            for (unsigned v = 0; v < 256; v++) {
                b[i] = (uint8_t)v;
                accepted += (unsigned)view_agrees(b, lens[r]);
                total++;
            }
            b[i] = recs[r][i];
        }
    }
    cr_assert(accepted > 0 && accepted < total);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int iter = 0; iter < 50000; iter++) {
        uint8_t b[CDR_RATED_WIRE_MAX];
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        const size_t len = (size_t)(seed % sizeof b);
        uint64_t s = seed;
        for (size_t i = 0; i < len; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            b[i] = (uint8_t)s;
        }
        if (len)
            b[0] = (uint8_t)(1 + seed % 4);
        view_agrees(b, len);
    }
}
