/* fuzz_plan.c - the tariff plan compiler (rating-rules/: YAML text -> cdr_plan,
 * cdr_plan_compile_text) on any text.
 *
 * Properties: a refused plan has a diagnostic and no plan; a compiled plan serialises, reads back
 * (cdr_plan_deserialize) and serialises to the same bytes; and the evaluator (cdr_rules_rate)
 * rates a fixed set of records of every service under it without a sanitizer report, a rated
 * record's units splitting exactly into bundle, overflow and free units and its rated form
 * encoding and decoding through the rated wire format. */
#include "cdr_rate.h"
#include "cdr_rules.h"
#include "fuzz.h"

/* Records of every service and direction, at home and roaming, short and long. */
static cdr_record probe(unsigned i)
{
    static const struct {
        uint8_t svc, dir;
        const char *other;
        uint32_t dur;
        uint64_t up, down;
        uint16_t mcc, mnc;
    } p[] = {
        {CDR_SVC_VOICE, CDR_DIR_MO, "8613912345678", 61, 0, 0, 0, 0},
        {CDR_SVC_VOICE, CDR_DIR_MO, "4930123456", 86399, 0, 0, 262, 1},
        {CDR_SVC_VOICE, CDR_DIR_MT, "8613812345678", 1, 0, 0, 460, 0},
        {CDR_SVC_VIDEO, CDR_DIR_MO, "10086", 3600, 0, 0, 0, 0},
        {CDR_SVC_SMS, CDR_DIR_MO, "8615012345678", 0, 0, 0, 0, 0},
        {CDR_SVC_MMS, CDR_DIR_MT, "110", 0, 0, 0, 454, 6},
        {CDR_SVC_DATA, CDR_DIR_MO, "", 600, 1048577, 5368709120ull, 0, 0},
        {CDR_SVC_DATA, CDR_DIR_MO, "", 86400, UINT32_MAX, UINT32_MAX, 310, 260},
    };
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    i %= sizeof p / sizeof p[0];
    snprintf(cr.cr_source, sizeof cr.cr_source, "FUZZ-01");
    snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "probe-%u", i);
    snprintf(cr.cr_msisdn, sizeof cr.cr_msisdn, "8613900000001");
    snprintf(cr.cr_other, sizeof cr.cr_other, "%s", p[i].other);
    cr.cr_service = p[i].svc;
    cr.cr_direction = p[i].dir;
    cr.cr_start = 1793529000 + (cdr_time)i * 50000; /* 2026-11-01T10:30Z on, across days */
    cr.cr_utc_offset = 8 * 3600;
    cr.cr_duration = p[i].dur;
    cr.cr_bytes_up = p[i].up;
    cr.cr_bytes_down = p[i].down;
    cr.cr_mcc = p[i].mcc;
    cr.cr_mnc = p[i].mnc;
    return cr;
}

static void rate_probes(const cdr_plan *pl)
{
    cdr_counters bc;
    memset(&bc, 0, sizeof bc);
    for (unsigned b = 0; b < CDR_PLAN_MAX_BUNDLES; b++) {
        bc.bc_limit[b] = b < pl->pl_nbundles ? pl->pl_bundles[b].bu_units : 0;
        bc.bc_used[b] = bc.bc_limit[b] / 2;
    }
    for (unsigned i = 0; i < 8; i++) {
        cdr_record cr = probe(i);
        cdr_rated rr;
        memset(&rr, 0, sizeof rr);
        int rc = cdr_rules_rate(pl, &cr, &bc, &rr);
        FUZZ_CHECK(rc >= 0 && rc < CDR_REASON_COUNT && rr.rr_reason == rc);
        if (rc != 0)
            continue;
        FUZZ_CHECK(rr.rr_nparts <= CDR_RATED_MAX_PARTS);
        FUZZ_CHECK(rr.rr_bundle_units <= rr.rr_units && rr.rr_overflow_units <= rr.rr_units &&
                   rr.rr_free_units <= rr.rr_units);
        FUZZ_CHECK(rr.rr_bundle_units + rr.rr_overflow_units + rr.rr_free_units == rr.rr_units);
        uint8_t buf[CDR_RATED_WIRE_MAX];
        size_t n = cdr_rated_wire_encode(&cr, &rr, pl->pl_id, buf);
        FUZZ_CHECK(n > 0 && n <= CDR_RATED_WIRE_MAX);
        cdr_record cr2;
        cdr_rated rr2;
        char plan2[CDR_NAME_MAX];
        cdr_diag dg;
        cdr_diag_clear(&dg);
        int drc = cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan2, &dg);
        if (drc)
            fprintf(stderr, "rated record of probe %u does not decode: %s\n", i, dg.dg_msg);
        FUZZ_CHECK(drc == 0);
        FUZZ_CHECK(strcmp(plan2, pl->pl_id) == 0 && rr2.rr_charge == rr.rr_charge &&
                   rr2.rr_units == rr.rr_units);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    int rc = cdr_plan_compile_text((const char *)data, size, "fuzz.yaml", &pl, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("plan", &dg, rc);
    if (rc) {
        FUZZ_CHECK(rc < 0 && pl == NULL);
        return 0;
    }
    FUZZ_CHECK(pl != NULL);
    void *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0;
    FUZZ_CHECK(cdr_plan_serialize(pl, &blob, &len) == 0);
    cdr_plan *back = NULL;
    cdr_diag_clear(&dg);
    rc = cdr_plan_deserialize(blob, len, &back, &dg);
    if (rc)
        fprintf(stderr, "a compiled plan does not read back: %s\n", dg.dg_msg);
    FUZZ_CHECK(rc == 0 && back != NULL);
    FUZZ_CHECK(cdr_plan_serialize(back, &blob2, &len2) == 0);
    FUZZ_CHECK(len == len2 && memcmp(blob, blob2, len) == 0);
    rate_probes(pl);
    free(blob);
    free(blob2);
    cdr_plan_free(back);
    cdr_plan_free(pl);
    return 0;
}
