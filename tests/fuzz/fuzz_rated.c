/* fuzz_rated.c - the rated wire format of engine/core (cdr_rate.h, docs/rated-format.md: the
 * values of cdr.rated / cdr.suspense and the records of ledger frames) on any bytes, as one
 * record (cdr_rated_wire_decode, versions 1 and 2).
 * Properties: a refusal has a diagnostic; a decoded record has terminated strings and a plan id,
 * and encodes (version 2) and decodes back to the same CDR, plan id and rating result; the view
 * of the bill run's scan (cdr_rated_wire_view) accepts exactly what the decoder accepts, with the
 * same values. */
#include "cdr_rate.h"
#include "cdr_rules.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_rated_wire_decode(data, size, &cr, &rr, plan, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("rated", &dg, rc);
    FUZZ_CHECK(rc == 0 || rc == CDR_FORMAT || rc == CDR_VERSION);
    cdr_rated_view rv;
    const int vrc = cdr_rated_wire_view(data, size, &rv);
    FUZZ_CHECK((rc == 0) == (vrc == 0));
    if (rc)
        return 0;
    FUZZ_CHECK(rv.rv_cdr.wv_msisdn_len == strlen(cr.cr_msisdn) &&
               memcmp(rv.rv_cdr.wv_msisdn, cr.cr_msisdn, rv.rv_cdr.wv_msisdn_len) == 0 &&
               rv.rv_cdr.wv_other_len == strlen(cr.cr_other) &&
               memcmp(rv.rv_cdr.wv_other, cr.cr_other, rv.rv_cdr.wv_other_len) == 0 &&
               rv.rv_cdr.wv_start == cr.cr_start && rv.rv_cdr.wv_service == cr.cr_service);
    FUZZ_CHECK(rv.rv_plan_len == strlen(plan) && memcmp(rv.rv_plan, plan, rv.rv_plan_len) == 0 &&
               memcmp(rv.rv_currency, rr.rr_currency, 4) == 0);
    FUZZ_CHECK(rv.rv_reason == rr.rr_reason && rv.rv_service == rr.rr_service &&
               rv.rv_flags == rr.rr_flags && rv.rv_class == rr.rr_class &&
               rv.rv_zone == rr.rr_zone && rv.rv_plan_version == rr.rr_plan_version &&
               rv.rv_cycle == rr.rr_cycle && rv.rv_charge == rr.rr_charge &&
               rv.rv_units == rr.rr_units && rv.rv_free_units == rr.rr_free_units);
    fuzz_check_record_strings(&cr);
    FUZZ_CHECK(FUZZ_STR_OK(plan) && FUZZ_STR_OK(rr.rr_currency));
    FUZZ_CHECK(rr.rr_nparts <= CDR_RATED_MAX_PARTS);
    uint8_t buf[CDR_RATED_WIRE_MAX];
    size_t n = cdr_rated_wire_encode(&cr, &rr, plan, buf);
    FUZZ_CHECK(n > 0 && n <= CDR_RATED_WIRE_MAX);
    cdr_record cr2;
    cdr_rated rr2;
    char plan2[CDR_NAME_MAX];
    cdr_diag_clear(&dg);
    rc = cdr_rated_wire_decode(buf, n, &cr2, &rr2, plan2, &dg);
    if (rc)
        fprintf(stderr, "re-encoded rated record does not decode: %s\n", dg.dg_msg);
    FUZZ_CHECK(rc == 0);
    cdr_record a = fuzz_record_canon(&cr), b = fuzz_record_canon(&cr2);
    FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
    FUZZ_CHECK(strcmp(plan, plan2) == 0 && strcmp(rr.rr_currency, rr2.rr_currency) == 0);
    FUZZ_CHECK(rr.rr_reason == rr2.rr_reason && rr.rr_service == rr2.rr_service &&
               rr.rr_zone == rr2.rr_zone && rr.rr_bundle == rr2.rr_bundle &&
               rr.rr_plan_version == rr2.rr_plan_version && rr.rr_cycle == rr2.rr_cycle &&
               rr.rr_charge == rr2.rr_charge && rr.rr_units == rr2.rr_units &&
               rr.rr_bundle_units == rr2.rr_bundle_units &&
               rr.rr_overflow_units == rr2.rr_overflow_units &&
               rr.rr_free_units == rr2.rr_free_units && rr.rr_nparts == rr2.rr_nparts);
    for (unsigned i = 0; i < rr.rr_nparts; i++)
        FUZZ_CHECK(rr.rr_parts[i].rp_band == rr2.rr_parts[i].rp_band &&
                   rr.rr_parts[i].rp_units == rr2.rr_parts[i].rp_units &&
                   rr.rr_parts[i].rp_charge == rr2.rr_parts[i].rp_charge);
    return 0;
}
