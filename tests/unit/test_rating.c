/* test_rating.c - the evaluator (cdr_rules_zone, cdr_rules_cycle, cdr_rules_rate) against
 * hand-computed charges.
 *
 * Every case builds the plan below in C (no YAML, no compiler) and states its arithmetic in a
 * comment. Money is in micro-units: 0.15 = 150000. "p/60" means a price per minute applied per
 * second, i.e. units x price / 60.
 *
 * The test plan "test" v1, time zone Europe/Berlin (CET +01:00, CEST +02:00):
 *
 *   zones   domestic "49"; mobile "4915" "4916" "4917"; onnet "49151" (kind onnet);
 *           eu "33" "34" "39"; free: exact "116117" and prefix "49800" (kind free);
 *           premium "49900"; usa "1" (no rates at all); data_home (home zone for data);
 *           roam_eu: visited 208/any, 214/any; roam_orange: visited 208/01 (exact MNC).
 *           Home network 262/any. No default zone.
 *   bands   Mon-Fri 00:00-08:00 off, 08:00-20:00 peak, 20:00-24:00 off;
 *           Sat, Sun 00:00-03:00 night, 03:00-24:00 off; holidays all day holiday.
 *   holidays 2026-01-01, 2026-04-06, 2026-12-25, 2026-12-26, 2027-01-01, 2028-02-29.
 *   voice MO  domestic: peak  connect 0.10, 0.15/min, 60/6, half-up to the cent
 *                       off   connect 0.05, 0.06/min, 60/6, half-up to the cent
 *                       night connect 0,    0.02/min, 60/6, half-up to the cent
 *                       hol   connect 0,    0.03/min, 60/6, half-up to the cent
 *             mobile:   peak 0.24/min, off/night/hol 0.12/min, 1/1, half-up to the micro-unit
 *             onnet:    0.01/min, 60/60, cent          eu: 0.50/min, from 300 s 0.30/min, 1/1
 *             premium:  connect 0.50, 1.99/min, 60/60, cent
 *             roam_eu:  0.30/min, 30/1, micro          roam_orange: 0.20/min, 1/1, micro
 *   voice MT  roam_eu only: 0.10/min, 1/1, micro (no MT rate at home)
 *   sms MO    domestic, mobile 0.09; eu 0.20 (per message, micro)
 *   data MO   data_home 0.50 per MB, roam_eu 2.00 per MB, increments 1 KB / 1 KB, micro
 *   no rates  video, mms, usa
 *   bundles   0 voice_dom (voice; domestic, mobile; 3600 s)   1 sms_dom (sms; domestic, mobile;
 * 100) 2 data_pool (data; data_home; enterprise pool)  3 voice_extra (voice; domestic; 600 s) 4
 * roam_pack (voice; roam_eu; 600 s)
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_rules.h"
#include "cdr_time.h"

enum { Z_DOM, Z_MOB, Z_ONNET, Z_EU, Z_FREE, Z_PREM, Z_US, Z_DATA, Z_ROAM_EU, Z_ROAM_OR, Z_COUNT };
enum { B_PEAK, B_OFF, B_NIGHT, B_HOL, B_COUNT };
enum { BU_VOICE, BU_SMS, BU_POOL, BU_EXTRA, BU_ROAM, BU_COUNT };

#define TRIE_CAP  256
#define RATE_CAP  64
#define ALL_BANDS (-1)
#define MB        1048576ULL

/* ---- building a plan in C ------------------------------------------------------------------- */

/* Add a zone; returns its id. */
static int zone_add(cdr_plan *pl, const char *name, cdr_zone_kind kind)
{
    cr_assert_lt(pl->pl_nzones, CDR_PLAN_MAX_ZONES);
    cdr_zone *zo = &pl->pl_zones[pl->pl_nzones];
    snprintf(zo->zo_name, sizeof zo->zo_name, "%s", name);
    zo->zo_kind = (uint8_t)kind;
    return pl->pl_nzones++;
}

/* Insert digits into the trie: numbers starting with them (exact == 0) or equal to them
 * (exact != 0) belong to zone. */
static void prefix_add(cdr_plan *pl, const char *digits, int zone, int exact)
{
    uint32_t node = 0;
    for (const char *p = digits; *p; p++) {
        const int d = *p - '0';
        cr_assert(d >= 0 && d <= 9);
        if (pl->pl_trie[node].tn_child[d] == 0) {
            cr_assert_lt(pl->pl_ntrie, TRIE_CAP);
            cdr_trie_node *tn = &pl->pl_trie[pl->pl_ntrie];
            tn->tn_zone = CDR_NO_ZONE;
            tn->tn_exact = CDR_NO_ZONE;
            pl->pl_trie[node].tn_child[d] = (int32_t)pl->pl_ntrie++;
        }
        node = (uint32_t)pl->pl_trie[node].tn_child[d];
    }
    if (exact)
        pl->pl_trie[node].tn_exact = (int16_t)zone;
    else
        pl->pl_trie[node].tn_zone = (int16_t)zone;
}

/* Visited network (mcc, mnc or -1) selects roaming zone. */
static void roam_add(cdr_plan *pl, uint16_t mcc, int16_t mnc, int zone)
{
    cdr_network *nw = realloc(pl->pl_roam, (pl->pl_nroam + 1) * sizeof *nw);
    cr_assert_not_null(nw);
    pl->pl_roam = nw;
    pl->pl_roam[pl->pl_nroam++] =
        (cdr_network){.nw_mcc = mcc, .nw_mnc = mnc, .nw_zone = (int16_t)zone};
}

/* Band `band` from local minute from to minute to (exclusive) on the day types in mask (bit 0 =
 * Monday .. bit 6 = Sunday, bit 7 = holiday). */
static void band_set(cdr_plan *pl, int band, unsigned mask, unsigned from, unsigned to)
{
    for (unsigned dt = 0; dt < CDR_DAYTYPES; dt++)
        if (mask & (1u << dt))
            for (unsigned m = from; m < to; m++)
                pl->pl_band_of[dt][m] = (uint8_t)band;
}

/* pl_band_until from pl_band_of: the first later minute of the same day with another band. */
static void bands_done(cdr_plan *pl)
{
    for (unsigned dt = 0; dt < CDR_DAYTYPES; dt++) {
        uint16_t until = CDR_MINUTES_PER_DAY;
        for (int m = CDR_MINUTES_PER_DAY - 1; m >= 0; m--) {
            if (m + 1 < CDR_MINUTES_PER_DAY && pl->pl_band_of[dt][m + 1] != pl->pl_band_of[dt][m])
                until = (uint16_t)(m + 1);
            pl->pl_band_until[dt][m] = until;
        }
    }
}

/* Index into pl_rate_ix. */
static size_t rix(const cdr_plan *pl, int svc, int dir, int zone, int band)
{
    return (((size_t)svc * CDR_DIR_COUNT + (size_t)dir) * pl->pl_nzones + (size_t)zone) *
               pl->pl_nbands +
           (size_t)band;
}

/* Append a rate and use it for (svc, dir, zone) in band (or every band with ALL_BANDS).
 * One tier at `price` per `unit`; no minimum or maximum. Returns the rate. */
static cdr_rate *rate_add(cdr_plan *pl, int svc, int dir, int zone, int band, cdr_money connect,
                          cdr_money price, uint64_t unit, uint64_t first, uint64_t next,
                          cdr_rounding rounding, cdr_money round_to)
{
    cr_assert_lt(pl->pl_nrates, RATE_CAP);
    const uint32_t ri = pl->pl_nrates++;
    cdr_rate *ra = &pl->pl_rates[ri];
    ra->ra_connect_fee = connect;
    ra->ra_unit = unit;
    ra->ra_first = first;
    ra->ra_next = next;
    ra->ra_min_charge = -1;
    ra->ra_max_charge = -1;
    ra->ra_round_to = round_to;
    ra->ra_rounding = (uint8_t)rounding;
    ra->ra_ntiers = 1;
    ra->ra_tiers[0] = (cdr_tier){.ti_from = 0, .ti_price = price};
    for (int b = 0; b < pl->pl_nbands; b++)
        if (band == ALL_BANDS || band == b)
            pl->pl_rate_ix[rix(pl, svc, dir, zone, b)] = (uint16_t)ri;
    return ra;
}

/* The rate used for (svc, dir, zone, band), for tweaks in a test. */
static cdr_rate *rate_at(cdr_plan *pl, int svc, int dir, int zone, int band)
{
    const uint16_t ri = pl->pl_rate_ix[rix(pl, svc, dir, zone, band)];
    cr_assert_neq(ri, CDR_NO_RATE);
    return &pl->pl_rates[ri];
}

/* Free a plan built here. Delegates to cdr_plan_free, which frees each array member and the tz. */
static void plan_free(cdr_plan *pl)
{
    cdr_plan_free(pl);
}

/* The test plan described at the top of the file. */
static cdr_plan *plan_build(void)
{
    cdr_plan *pl = calloc(1, sizeof *pl);
    cr_assert_not_null(pl);
    snprintf(pl->pl_id, sizeof pl->pl_id, "test");
    pl->pl_version = 1;
    memcpy(pl->pl_currency, "EUR", 4);
    cr_assert_eq(cdr_tz_load("Europe/Berlin", &pl->pl_tz), 0);

    const int zones[Z_COUNT] = {
        [Z_DOM] = zone_add(pl, "domestic", CDR_ZONE_NORMAL),
        [Z_MOB] = zone_add(pl, "mobile", CDR_ZONE_NORMAL),
        [Z_ONNET] = zone_add(pl, "onnet", CDR_ZONE_ONNET),
        [Z_EU] = zone_add(pl, "eu", CDR_ZONE_NORMAL),
        [Z_FREE] = zone_add(pl, "free", CDR_ZONE_FREE),
        [Z_PREM] = zone_add(pl, "premium", CDR_ZONE_PREMIUM),
        [Z_US] = zone_add(pl, "usa", CDR_ZONE_NORMAL),
        [Z_DATA] = zone_add(pl, "data_home", CDR_ZONE_NORMAL),
        [Z_ROAM_EU] = zone_add(pl, "roam_eu", CDR_ZONE_ROAMING),
        [Z_ROAM_OR] = zone_add(pl, "roam_orange", CDR_ZONE_ROAMING),
    };
    for (int z = 0; z < Z_COUNT; z++)
        cr_assert_eq(zones[z], z);
    pl->pl_home_zone = Z_DATA;
    pl->pl_default_zone = CDR_NO_ZONE;

    pl->pl_trie = calloc(TRIE_CAP, sizeof *pl->pl_trie);
    cr_assert_not_null(pl->pl_trie);
    pl->pl_trie[0].tn_zone = CDR_NO_ZONE;
    pl->pl_trie[0].tn_exact = CDR_NO_ZONE;
    pl->pl_ntrie = 1;
    prefix_add(pl, "49", Z_DOM, 0);
    prefix_add(pl, "4915", Z_MOB, 0);
    prefix_add(pl, "4916", Z_MOB, 0);
    prefix_add(pl, "4917", Z_MOB, 0);
    prefix_add(pl, "49151", Z_ONNET, 0);
    prefix_add(pl, "33", Z_EU, 0);
    prefix_add(pl, "34", Z_EU, 0);
    prefix_add(pl, "39", Z_EU, 0);
    prefix_add(pl, "116117", Z_FREE, 1);
    prefix_add(pl, "49800", Z_FREE, 0);
    prefix_add(pl, "49900", Z_PREM, 0);
    prefix_add(pl, "1", Z_US, 0);

    pl->pl_home[pl->pl_nhome++] = (cdr_network){.nw_mcc = 262, .nw_mnc = -1, .nw_zone = -1};
    roam_add(pl, 208, -1, Z_ROAM_EU);
    roam_add(pl, 208, 1, Z_ROAM_OR); /* listed after the MCC-wide entry: exact must still win */
    roam_add(pl, 214, -1, Z_ROAM_EU);

    static const char *const bands[B_COUNT] = {"peak", "off", "night", "holiday"};
    for (int b = 0; b < B_COUNT; b++)
        snprintf(pl->pl_band_names[b], CDR_NAME_MAX, "%s", bands[b]);
    pl->pl_nbands = B_COUNT;
    const unsigned weekdays = 0x1f, weekend = 0x60, holiday = 0x80;
    band_set(pl, B_OFF, weekdays, 0, 480);
    band_set(pl, B_PEAK, weekdays, 480, 1200);
    band_set(pl, B_OFF, weekdays, 1200, 1440);
    band_set(pl, B_NIGHT, weekend, 0, 180);
    band_set(pl, B_OFF, weekend, 180, 1440);
    band_set(pl, B_HOL, holiday, 0, 1440);
    bands_done(pl);

    static const int32_t hols[] = {20260101, 20260406, 20261225, 20261226, 20270101, 20280229};
    pl->pl_nholidays = sizeof hols / sizeof hols[0];
    pl->pl_holidays = malloc(sizeof hols);
    cr_assert_not_null(pl->pl_holidays);
    memcpy(pl->pl_holidays, hols, sizeof hols);

    pl->pl_rates = calloc(RATE_CAP, sizeof *pl->pl_rates);
    const size_t nix = (size_t)CDR_SVC_COUNT * CDR_DIR_COUNT * pl->pl_nzones * pl->pl_nbands;
    pl->pl_rate_ix = malloc(nix * sizeof *pl->pl_rate_ix);
    cr_assert(pl->pl_rates && pl->pl_rate_ix);
    for (size_t i = 0; i < nix; i++)
        pl->pl_rate_ix[i] = CDR_NO_RATE;

    const int V = CDR_SVC_VOICE, MO = CDR_DIR_MO, MT = CDR_DIR_MT;
    const cdr_rounding HU = CDR_ROUND_HALF_UP;
    rate_add(pl, V, MO, Z_DOM, B_PEAK, 100000, 150000, 60, 60, 6, HU, 10000);
    rate_add(pl, V, MO, Z_DOM, B_OFF, 50000, 60000, 60, 60, 6, HU, 10000);
    rate_add(pl, V, MO, Z_DOM, B_NIGHT, 0, 20000, 60, 60, 6, HU, 10000);
    rate_add(pl, V, MO, Z_DOM, B_HOL, 0, 30000, 60, 60, 6, HU, 10000);
    rate_add(pl, V, MO, Z_MOB, ALL_BANDS, 0, 120000, 60, 1, 1, HU, 1);
    rate_add(pl, V, MO, Z_MOB, B_PEAK, 0, 240000, 60, 1, 1, HU, 1);
    rate_add(pl, V, MO, Z_ONNET, ALL_BANDS, 0, 10000, 60, 60, 60, HU, 10000);
    cdr_rate *eu = rate_add(pl, V, MO, Z_EU, ALL_BANDS, 0, 500000, 60, 1, 1, HU, 1);
    eu->ra_ntiers = 2;
    eu->ra_tiers[1] = (cdr_tier){.ti_from = 300, .ti_price = 300000};
    rate_add(pl, V, MO, Z_PREM, ALL_BANDS, 500000, 1990000, 60, 60, 60, HU, 10000);
    rate_add(pl, V, MO, Z_ROAM_EU, ALL_BANDS, 0, 300000, 60, 30, 1, HU, 1);
    rate_add(pl, V, MT, Z_ROAM_EU, ALL_BANDS, 0, 100000, 60, 1, 1, HU, 1);
    rate_add(pl, V, MO, Z_ROAM_OR, ALL_BANDS, 0, 200000, 60, 1, 1, HU, 1);
    rate_add(pl, CDR_SVC_SMS, MO, Z_DOM, ALL_BANDS, 0, 90000, 1, 1, 1, HU, 1);
    rate_add(pl, CDR_SVC_SMS, MO, Z_MOB, ALL_BANDS, 0, 90000, 1, 1, 1, HU, 1);
    rate_add(pl, CDR_SVC_SMS, MO, Z_EU, ALL_BANDS, 0, 200000, 1, 1, 1, HU, 1);
    rate_add(pl, CDR_SVC_DATA, MO, Z_DATA, ALL_BANDS, 0, 500000, MB, 1024, 1024, HU, 1);
    rate_add(pl, CDR_SVC_DATA, MO, Z_ROAM_EU, ALL_BANDS, 0, 2000000, MB, 1024, 1024, HU, 1);

    static const struct {
        const char *name;
        int svc, pool;
        uint64_t zones, units;
    } bundles[BU_COUNT] = {
        [BU_VOICE] = {"voice_dom", CDR_SVC_VOICE, 0, (1u << Z_DOM) | (1u << Z_MOB), 3600},
        [BU_SMS] = {"sms_dom", CDR_SVC_SMS, 0, (1u << Z_DOM) | (1u << Z_MOB), 100},
        [BU_POOL] = {"data_pool", CDR_SVC_DATA, 1, 1u << Z_DATA, 0},
        [BU_EXTRA] = {"voice_extra", CDR_SVC_VOICE, 0, 1u << Z_DOM, 600},
        [BU_ROAM] = {"roam_pack", CDR_SVC_VOICE, 0, 1u << Z_ROAM_EU, 600},
    };
    for (int i = 0; i < BU_COUNT; i++) {
        cdr_bundle *bu = &pl->pl_bundles[i];
        snprintf(bu->bu_name, sizeof bu->bu_name, "%s", bundles[i].name);
        bu->bu_service = (uint8_t)bundles[i].svc;
        bu->bu_pool = (uint8_t)bundles[i].pool;
        bu->bu_zones = bundles[i].zones;
        bu->bu_units = bundles[i].units;
    }
    pl->pl_nbundles = BU_COUNT;
    return pl;
}

/* ---- fixture and helpers -------------------------------------------------------------------- */

static cdr_plan *P;

static void setup(void)
{
    P = plan_build();
}

static void teardown(void)
{
    plan_free(P);
    P = NULL;
}

TestSuite(rating, .init = setup, .fini = teardown);

/* Instant of an ISO 8601 string with offset. */
static cdr_time T(const char *iso)
{
    cdr_time t = 0;
    int32_t off = 0;
    cr_assert_eq(cdr_time_parse_iso(iso, strlen(iso), &t, &off), 0, "%s", iso);
    return t;
}

/* A record of service svc, direction dir, starting at iso, lasting dur seconds, to other. */
static cdr_record rec(int svc, int dir, const char *iso, uint32_t dur, const char *other)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    snprintf(cr.cr_source, sizeof cr.cr_source, "msc1");
    snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "r1");
    snprintf(cr.cr_msisdn, sizeof cr.cr_msisdn, "4915112345678");
    snprintf(cr.cr_other, sizeof cr.cr_other, "%s", other);
    cr.cr_start = T(iso);
    cr.cr_duration = dur;
    cr.cr_service = (uint8_t)svc;
    cr.cr_direction = (uint8_t)dir;
    return cr;
}

/* A voice MO call. */
static cdr_record call(const char *iso, uint32_t dur, const char *other)
{
    return rec(CDR_SVC_VOICE, CDR_DIR_MO, iso, dur, other);
}

/* A data session of `bytes` (split up/down) at home or in visited network mcc/mnc. */
static cdr_record session(const char *iso, uint64_t up, uint64_t down, uint16_t mcc, uint16_t mnc)
{
    cdr_record cr = rec(CDR_SVC_DATA, CDR_DIR_MO, iso, 600, "");
    cr.cr_bytes_up = up;
    cr.cr_bytes_down = down;
    cr.cr_mcc = mcc;
    cr.cr_mnc = mnc;
    return cr;
}

/* Rate cr, asserting it is rated. */
static cdr_rated rate_ok(const cdr_record *cr, cdr_counters *bc)
{
    cdr_rated rr;
    const int rc = cdr_rules_rate(P, cr, bc, &rr);
    cr_assert_eq(rc, 0, "unratable: %s", cdr_reason_name(rc));
    cr_assert_eq(rr.rr_reason, CDR_REASON_NONE);
    cr_assert_eq(rr.rr_plan_version, P->pl_version);
    cr_assert_str_eq(rr.rr_currency, P->pl_currency);
    /* the units split exactly, and an event is either free or chargeable */
    cr_assert_eq(rr.rr_units, rr.rr_bundle_units + rr.rr_overflow_units + rr.rr_free_units);
    cr_assert(rr.rr_free_units == 0 || rr.rr_bundle_units + rr.rr_overflow_units == 0);
    if (rr.rr_free_units)
        cr_assert_eq(rr.rr_charge, 0);
    uint64_t sum = 0;
    for (unsigned k = 0; k < rr.rr_nparts; k++)
        sum += rr.rr_parts[k].rp_units;
    if (P->pl_zones[rr.rr_zone].zo_kind != CDR_ZONE_FREE)
        cr_assert_eq(sum, rr.rr_units, "parts must add up to the charged units");
    /* a usage class, free exactly for free usage, and derived again from the plan the same */
    cr_assert(rr.rr_class >= CDR_CLASS_USAGE_FIRST && rr.rr_class <= CDR_CLASS_USAGE_LAST);
    if (rr.rr_units > 0)
        cr_assert_eq(rr.rr_class == CDR_CLASS_FREE, rr.rr_free_units > 0);
    cr_assert_eq(cdr_plan_charge_class(P, cr, &rr), rr.rr_class);
    return rr;
}

/* Rate cr, asserting it is refused with reason; bc (may be NULL) must stay unchanged. */
static void rate_refused(const cdr_record *cr, cdr_counters *bc, int reason)
{
    cdr_counters before;
    if (bc)
        before = *bc;
    cdr_rated rr;
    cr_assert_eq(cdr_rules_rate(P, cr, bc, &rr), reason, "expected %s", cdr_reason_name(reason));
    cr_assert_eq(rr.rr_reason, reason);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(rr.rr_units + rr.rr_bundle_units + rr.rr_overflow_units + rr.rr_free_units, 0);
    cr_assert_str_eq(rr.rr_currency, "", "an unratable record has no currency");
    cr_assert_eq(rr.rr_class, CDR_CLASS_NONE, "an unratable record has no charge class");
    cr_assert_eq(cdr_plan_charge_class(P, cr, &rr), CDR_CLASS_NONE);
    if (bc)
        cr_assert_eq(memcmp(&before, bc, sizeof before), 0, "counters changed");
}

/* Counters with the plan's allowances: voice 3600 s, sms 100, extra 600 s, roaming 600 s, pool
 * 100 MB with no member cap. */
static cdr_counters counters(void)
{
    cdr_counters bc;
    memset(&bc, 0, sizeof bc);
    bc.bc_limit[BU_VOICE] = 3600;
    bc.bc_limit[BU_SMS] = 100;
    bc.bc_limit[BU_POOL] = 100 * MB;
    bc.bc_limit[BU_EXTRA] = 600;
    bc.bc_limit[BU_ROAM] = 600;
    return bc;
}

/* A Wednesday in winter (CET, +01:00): 2026-01-14. */
#define WED(hhmmss) "2026-01-14T" hhmmss "+01:00"

/* ---- reasons, zones, cycles ----------------------------------------------------------------- */

Test(rating, reason_names_follow_the_x_macro)
{
    static const char *const upper[] = {
#define UPPER(name, msg) #name,
        CDR_REASONS(UPPER)
#undef UPPER
    };
    static const char *const msgs[] = {
#define MSG(name, msg) msg,
        CDR_REASONS(MSG)
#undef MSG
    };
    for (int i = 0; i < CDR_REASON_COUNT; i++) {
        char lower[64];
        size_t n = 0;
        for (; upper[i][n] && n + 1 < sizeof lower; n++)
            lower[n] = (char)tolower((unsigned char)upper[i][n]);
        lower[n] = '\0';
        cr_assert_str_eq(cdr_reason_name(i), lower);
        cr_assert_str_eq(cdr_reason_message(i), msgs[i]);
    }
    cr_assert_str_eq(cdr_reason_name(CDR_REASON_UNKNOWN_SUBSCRIBER), "unknown_subscriber");
    cr_assert_str_eq(cdr_reason_name(CDR_REASON_TOO_MANY_PARTS), "too_many_parts");
    cr_assert_not_null(cdr_reason_name(-1));
    cr_assert_not_null(cdr_reason_name(CDR_REASON_COUNT));
    cr_assert_not_null(cdr_reason_message(999));
}

Test(rating, zone_longest_prefix_and_exact_numbers)
{
    cdr_record cr = call(WED("10:00:00"), 60, "4930123456");
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_DOM);
    snprintf(cr.cr_other, sizeof cr.cr_other, "4917012345678"); /* 4917 beats 49 */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_MOB);
    snprintf(cr.cr_other, sizeof cr.cr_other, "4915187654321"); /* 49151 beats 4915 */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_ONNET);
    snprintf(cr.cr_other, sizeof cr.cr_other, "116117"); /* exact special number beats "1" */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_FREE);
    snprintf(cr.cr_other, sizeof cr.cr_other, "1161170"); /* longer: not the special number */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_US);
    snprintf(cr.cr_other, sizeof cr.cr_other, "11611"); /* shorter: not it either */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_US);
    snprintf(cr.cr_other, sizeof cr.cr_other, "4"); /* shorter than every prefix */
    cr_assert_eq(cdr_rules_zone(P, &cr), CDR_NO_ZONE);
    snprintf(cr.cr_other, sizeof cr.cr_other, "49"); /* the prefix itself */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_DOM);
    cr.cr_other[0] = '\0'; /* no destination: home zone */
    cr_assert_eq(cdr_rules_zone(P, &cr), Z_DATA);
}

Test(rating, cycle_is_the_local_month)
{
    /* 2026-03-31T22:30Z is 2026-04-01 00:30 CEST */
    cr_assert_eq(cdr_rules_cycle(P, T("2026-03-31T22:30:00Z")), 202604);
    cr_assert_eq(cdr_rules_cycle(P, T("2026-03-31T21:59:59Z")), 202603);
    /* 2026-12-31T23:30Z is 2027-01-01 00:30 CET */
    cr_assert_eq(cdr_rules_cycle(P, T("2026-12-31T23:30:00Z")), 202701);
    /* 2028-02-29T23:30Z is 2028-03-01 00:30 CET; 22:59:59Z is still the leap day */
    cr_assert_eq(cdr_rules_cycle(P, T("2028-02-29T23:30:00Z")), 202803);
    cr_assert_eq(cdr_rules_cycle(P, T("2028-02-29T22:59:59Z")), 202802);
    cdr_record cr = call("2026-04-30T23:30:00+02:00", 60, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_cycle, 202604);
}

/* ---- units, increments, connect fee --------------------------------------------------------- */

Test(rating, worked_example_of_the_spec)
{
    /* domestic peak, 61 s, 60/6: U = 60 + ceil(1/6)*6 = 66; 66 x 150000 / 60 = 165000;
     * + connect 100000 = 265000 -> half-up to the cent = 270000 */
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_charge, 270000);
    cr_assert_eq(rr.rr_units, 66);
    cr_assert_eq(rr.rr_overflow_units, 66);
    cr_assert_eq(rr.rr_bundle_units, 0);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_zone, Z_DOM);
    cr_assert_eq(rr.rr_cycle, 202601);
    cr_assert_eq(rr.rr_service, CDR_SVC_VOICE);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_PEAK);
    cr_assert_eq(rr.rr_parts[0].rp_units, 66);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 165000);
}

Test(rating, increments_60_6_first_interval)
{
    /* 1 s -> U = 60 (first interval); 60 x 150000/60 = 150000 + 100000 = 250000 */
    cdr_record cr = call(WED("10:00:00"), 1, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 60);
    cr_assert_eq(rr.rr_charge, 250000);
    /* exactly 60 s -> U = 60, same charge */
    cr = call(WED("10:00:00"), 60, "4930123456");
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 60);
    cr_assert_eq(rr.rr_charge, 250000);
}

Test(rating, increments_60_6_next_intervals)
{
    /* 125 s -> U = 60 + ceil(65/6)*6 = 126; 126 x 150000/60 = 315000 + 100000 = 415000
     * -> 41.5 cents, half-up = 420000 */
    cdr_record cr = call(WED("10:00:00"), 125, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 126);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 315000);
    cr_assert_eq(rr.rr_charge, 420000);
    /* 126 s is already on an increment: U = 126, same charge */
    cr = call(WED("10:00:00"), 126, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_units, 126);
}

Test(rating, increments_1_1)
{
    /* mobile peak 0.24/min, 1/1: 61 s -> U = 61; 61 x 240000/60 = 244000, micro rounding */
    cdr_record cr = call(WED("10:00:00"), 61, "4917012345678");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_MOB);
    cr_assert_eq(rr.rr_units, 61);
    cr_assert_eq(rr.rr_charge, 244000);
    /* 7 s -> 7 x 4000 = 28000 */
    cr = call(WED("10:00:00"), 7, "4917012345678");
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 7);
    cr_assert_eq(rr.rr_charge, 28000);
}

Test(rating, increments_60_60_onnet)
{
    /* onnet 0.01/min, 60/60: 61 s -> U = 120; 120 x 10000/60 = 20000 (cent, exact) */
    cdr_record cr = call(WED("10:00:00"), 61, "4915187654321");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_ONNET);
    cr_assert_eq(rr.rr_units, 120);
    cr_assert_eq(rr.rr_charge, 20000);
}

Test(rating, zero_duration_has_no_charge_and_no_connect_fee)
{
    /* raw 0 -> U 0 -> no overflow units, so no connect fee and no minimum: 0 */
    rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK)->ra_min_charge = 50000;
    cdr_record cr = call(WED("10:00:00"), 0, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 0);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_parts[0].rp_units, 0);
}

Test(rating, connect_fee_with_premium)
{
    /* premium: connect 0.50, 1.99/min, 60/60: 61 s -> U = 120; 120 x 1990000/60 = 3980000;
     * + 500000 = 4480000 */
    cdr_record cr = call(WED("10:00:00"), 61, "49900123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_PREM);
    cr_assert_eq(rr.rr_charge, 4480000);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 3980000);
}

/* ---- tiers and bands ------------------------------------------------------------------------ */

Test(rating, tier_boundary_mid_call)
{
    /* eu: 0.50/min for units 0..299, 0.30/min from 300; 1/1. 420 s:
     * 300 x 500000/60 = 2500000; 120 x 300000/60 = 600000; total 3100000 */
    cdr_record cr = call(WED("10:00:00"), 420, "33123456789");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_EU);
    cr_assert_eq(rr.rr_units, 420);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_charge, 3100000);
    /* 299 s stays in the first tier: 299 x 500000/60 = 2491666.67 -> half-up 2491667 */
    cr = call(WED("10:00:00"), 299, "33123456789");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 2491667);
}

Test(rating, tier_boundary_across_a_band_boundary)
{
    /* eu has one rate in every band; the tier position runs across the band change.
     * Wed 19:58:00 + 420 s: part peak 120 s (units 0..119, tier 0) = 120 x 500000/60 = 1000000;
     * part off 300 s: units 120..299 tier 0 = 180 x 500000/60 = 1500000, units 300..419 tier 1 =
     * 120 x 300000/60 = 600000 -> 2100000. Total 3100000 */
    cdr_record cr = call(WED("19:58:00"), 420, "33123456789");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_PEAK);
    cr_assert_eq(rr.rr_parts[0].rp_units, 120);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 1000000);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[1].rp_units, 300);
    cr_assert_eq(rr.rr_parts[1].rp_charge, 2100000);
    cr_assert_eq(rr.rr_charge, 3100000);
}

Test(rating, band_boundary_mid_call_evening)
{
    /* Wed 19:58:00 + 299 s, domestic. First part peak supplies 60/6 and connect 0.10.
     * U = 60 + ceil(239/6)*6 = 300. peak 120 s = 120 x 150000/60 = 300000;
     * off 179 s + 1 s of increment rounding = 180 x 60000/60 = 180000;
     * 100000 + 300000 + 180000 = 580000 */
    cdr_record cr = call(WED("19:58:00"), 299, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 300);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_PEAK);
    cr_assert_eq(rr.rr_parts[0].rp_units, 120);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 300000);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[1].rp_units, 180);
    cr_assert_eq(rr.rr_parts[1].rp_charge, 180000);
    cr_assert_eq(rr.rr_charge, 580000);
}

Test(rating, band_boundary_mid_call_morning_first_part_rules)
{
    /* Wed 07:59:30 + 90 s: off 30 s then peak 60 s. The off rate (first part) gives the connect
     * fee 0.05. U = 60 + ceil(30/6)*6 = 90. off 30 x 60000/60 = 30000; peak 60 x 150000/60 =
     * 150000; 50000 + 30000 + 150000 = 230000 */
    cdr_record cr = call(WED("07:59:30"), 90, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[0].rp_units, 30);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_PEAK);
    cr_assert_eq(rr.rr_parts[1].rp_units, 60);
    cr_assert_eq(rr.rr_charge, 230000);
}

Test(rating, band_change_rounding_goes_to_last_part)
{
    /* Wed 19:59:50 + 15 s: peak 10 s, off 5 s; U = 60 (first interval), so the last part gets
     * 5 + 45 = 50 units. peak 10 x 150000/60 = 25000; off 50 x 60000/60 = 50000;
     * 100000 + 25000 + 50000 = 175000 -> cent 180000 (17.5 cents, half-up) */
    cdr_record cr = call(WED("19:59:50"), 15, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 60);
    cr_assert_eq(rr.rr_parts[0].rp_units, 10);
    cr_assert_eq(rr.rr_parts[1].rp_units, 50);
    cr_assert_eq(rr.rr_charge, 180000);
}

Test(rating, midnight_without_band_change_is_one_part)
{
    /* Thu 2026-01-15 23:58 + 300 s: off until 24:00 and off again on Friday 00:00: one part.
     * U = 300; 300 x 60000/60 = 300000 + 50000 = 350000 */
    cdr_record cr = call("2026-01-15T23:58:00+01:00", 300, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_OFF);
    cr_assert_eq(rr.rr_charge, 350000);
}

Test(rating, eight_parts_fit)
{
    /* Mon 2026-01-12 10:00 + 302400 s (3.5 days) ends Thu 22:00: peak 36000, off 43200, peak
     * 43200, off 43200, peak 43200, off 43200, peak 43200, off 7200 = 8 parts. U = 302400.
     * peak 165600 s x 2500 = 414000000; off 136800 s x 1000 = 136800000; + 100000 = 550900000 */
    cdr_record cr = call("2026-01-12T10:00:00+01:00", 302400, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 8);
    cr_assert_eq(rr.rr_parts[0].rp_units, 36000);
    cr_assert_eq(rr.rr_parts[7].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[7].rp_units, 7200);
    cr_assert_eq(rr.rr_charge, 550900000);
}

Test(rating, too_many_parts)
{
    /* Mon 10:00 + 4 days ends Fri 10:00: a ninth part (Friday peak) -> too_many_parts */
    cdr_counters bc = counters();
    cdr_record cr = call("2026-01-12T10:00:00+01:00", 4 * 86400, "4930123456");
    rate_refused(&cr, &bc, CDR_REASON_TOO_MANY_PARTS);
}

/* ---- minimum and maximum -------------------------------------------------------------------- */

Test(rating, minimum_charge_raises)
{
    /* mobile peak with min 0.05: 5 s x 4000 = 20000 < 50000 -> 50000 */
    rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_MOB, B_PEAK)->ra_min_charge = 50000;
    cdr_record cr = call(WED("10:00:00"), 5, "4917012345678");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 20000);
    cr_assert_eq(rr.rr_charge, 50000);
    /* 20 s x 4000 = 80000 >= 50000: untouched */
    cr = call(WED("10:00:00"), 20, "4917012345678");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 80000);
}

Test(rating, maximum_charge_caps)
{
    /* mobile peak with max 1.00: 600 s x 4000 = 2400000 -> 1000000 */
    rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_MOB, B_PEAK)->ra_max_charge = 1000000;
    cdr_record cr = call(WED("10:00:00"), 600, "4917012345678");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 2400000);
    cr_assert_eq(rr.rr_charge, 1000000);
}

Test(rating, maximum_includes_connect_fee)
{
    /* domestic peak with max 0.30: 120 s -> 300000 + connect 100000 = 400000 -> 300000 */
    rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK)->ra_max_charge = 300000;
    cdr_record cr = call(WED("10:00:00"), 120, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 300000);
}

/* ---- the four rounding rules ---------------------------------------------------------------- */

/* Rate domestic peak 61 s (265000 before rounding, a tie at the cent) and, on mobile peak with a
 * price of 150001/min and micro rounding, 30 s (30 x 150001/60 = 75000.5, a tie at the micro-unit)
 * and 1 s (150001/60 = 2500.0167), all under rounding rule r. */
static void rounding_case(cdr_rounding r, cdr_money cent_tie, cdr_money micro_tie,
                          cdr_money micro_1s)
{
    rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK)->ra_rounding = (uint8_t)r;
    cdr_rate *mob = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_MOB, B_PEAK);
    mob->ra_rounding = (uint8_t)r;
    mob->ra_tiers[0].ti_price = 150001;
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, cent_tie);
    cr = call(WED("10:00:00"), 30, "4917012345678");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, micro_tie);
    cr = call(WED("10:00:00"), 1, "4917012345678");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, micro_1s);
}

Test(rating, rounding_half_up)
{
    /* 265000 -> 26.5 c -> 270000; 75000.5 -> 75001; 2500.0167 -> 2500 */
    rounding_case(CDR_ROUND_HALF_UP, 270000, 75001, 2500);
}

Test(rating, rounding_half_even)
{
    /* 265000 -> 26.5 c -> 26 c (even) = 260000; 75000.5 -> 75000 (even); 2500.0167 -> 2500 */
    rounding_case(CDR_ROUND_HALF_EVEN, 260000, 75000, 2500);
}

Test(rating, rounding_half_even_odd_neighbour)
{
    /* domestic peak price 0.175/min, 60 s: 175000 + 100000 = 275000 -> 27.5 c -> 28 c (even) */
    cdr_rate *ra = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK);
    ra->ra_rounding = CDR_ROUND_HALF_EVEN;
    ra->ra_tiers[0].ti_price = 175000;
    cdr_record cr = call(WED("10:00:00"), 60, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 280000);
}

Test(rating, rounding_up)
{
    /* 265000 -> 270000; 75000.5 -> 75001; 2500.0167 -> 2501 */
    rounding_case(CDR_ROUND_UP, 270000, 75001, 2501);
}

Test(rating, rounding_down)
{
    /* 265000 -> 260000; 75000.5 -> 75000; 2500.0167 -> 2500 */
    rounding_case(CDR_ROUND_DOWN, 260000, 75000, 2500);
}

Test(rating, rounding_non_tie_to_the_cent)
{
    /* domestic peak price 0.163/min, 60 s: 163000 + 100000 = 263000 (26.3 c):
     * half-up 260000, half-even 260000, up 270000, down 260000 */
    static const cdr_money want[CDR_ROUND_COUNT] = {260000, 260000, 270000, 260000};
    cdr_rate *ra = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK);
    ra->ra_tiers[0].ti_price = 163000;
    for (int r = 0; r < CDR_ROUND_COUNT; r++) {
        ra->ra_rounding = (uint8_t)r;
        cdr_record cr = call(WED("10:00:00"), 60, "4930123456");
        cr_assert_eq(rate_ok(&cr, NULL).rr_charge, want[r], "rule %s",
                     cdr_rounding_name((cdr_rounding)r));
    }
}

Test(rating, rounding_once_per_part)
{
    /* mobile, 0.10/min in every band, rounding down, 1/1. Wed 19:59:53 + 14 s: peak 7 s, off 7 s.
     * Each part 7 x 100000/60 = 11666.67 -> down 11666; total 23332 (rounding the sum once would
     * give 23333) */
    cdr_rate *peak = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_MOB, B_PEAK);
    cdr_rate *off = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_MOB, B_OFF);
    peak->ra_tiers[0].ti_price = off->ra_tiers[0].ti_price = 100000;
    peak->ra_rounding = CDR_ROUND_DOWN;
    off->ra_rounding = CDR_ROUND_HALF_UP; /* only the first part's rule counts */
    cdr_record cr = call(WED("19:59:53"), 14, "4917012345678");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 11666);
    cr_assert_eq(rr.rr_parts[1].rp_charge, 11666);
    cr_assert_eq(rr.rr_charge, 23332);
}

/* ---- bundles and pools ---------------------------------------------------------------------- */

Test(rating, bundle_covers_whole_call)
{
    /* 61 s -> U = 66, all in voice_dom (3600 left): charge 0, no connect fee; used 66 */
    cdr_counters bc = counters();
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(rr.rr_bundle, BU_VOICE);
    cr_assert_eq(rr.rr_bundle_units, 66);
    cr_assert_eq(rr.rr_overflow_units, 0);
    cr_assert_eq(bc.bc_used[BU_VOICE], 66);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 0);
}

Test(rating, bundle_covers_part_of_call)
{
    /* voice_dom has 30 s left; 61 s -> U = 66: B = 30, overflow 36 s.
     * 36 x 150000/60 = 90000 + connect 100000 = 190000. Only one bundle covers an event, so
     * voice_extra (600 s left) does not take the overflow. */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 3570;
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, BU_VOICE);
    cr_assert_eq(rr.rr_bundle_units, 30);
    cr_assert_eq(rr.rr_overflow_units, 36);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 90000);
    cr_assert_eq(rr.rr_charge, 190000);
    cr_assert_eq(bc.bc_used[BU_VOICE], 3600);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 0);
}

Test(rating, bundle_first_units_across_bands)
{
    /* Wed 19:58:00 + 300 s, voice_dom has 150 s left: units 0..149 bundle. peak part (units
     * 0..119) all bundle -> 0; off part (120..299) overflow 150..299 = 150 x 60000/60 = 150000;
     * + connect (first part peak) 100000 = 250000 */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 3450;
    cdr_record cr = call(WED("19:58:00"), 300, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle_units, 150);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 0);
    cr_assert_eq(rr.rr_parts[1].rp_charge, 150000);
    cr_assert_eq(rr.rr_charge, 250000);
    cr_assert_eq(bc.bc_used[BU_VOICE], 3600);
}

Test(rating, bundle_exhausted_falls_to_next_bundle_then_price)
{
    /* voice_dom exhausted: voice_extra (next in file order, covers domestic) takes the call */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 3600;
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, BU_EXTRA);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 66);
    /* both exhausted: full price 270000 as in the worked example; counters unchanged */
    bc.bc_used[BU_EXTRA] = 600;
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_bundle_units, 0);
    cr_assert_eq(rr.rr_charge, 270000);
    cr_assert_eq(bc.bc_used[BU_VOICE], 3600);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 600);
}

Test(rating, bundle_zone_must_match)
{
    /* mobile is in voice_dom but not in voice_extra; eu is in neither */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 3600;
    cdr_record cr = call(WED("10:00:00"), 61, "4917012345678");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_charge, 244000); /* 61 x 4000 */
    cr = call(WED("10:00:00"), 60, "33123456789");
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_charge, 500000);
}

/* ---- free units and overflow units (docs/rating.md section 5) ------------------------------ */

Test(rating, free_number_with_bundle_left_is_free_usage)
{
    /* the bundle has units left, yet a call to a free number uses none of them */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 100;
    const cdr_counters before = bc;
    cdr_record cr = call(WED("10:00:00"), 300, "498001234567");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_FREE);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_units, 300);
    cr_assert_eq(rr.rr_free_units, 300);
    cr_assert_eq(rr.rr_bundle_units + rr.rr_overflow_units, 0);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(memcmp(&bc, &before, sizeof bc), 0, "the bundle is untouched");
}

Test(rating, incoming_call_not_charged_is_free_usage)
{
    /* an MT rate of 0 at home (1/1): 120 s incoming -> 120 free units, the bundle untouched */
    rate_add(P, CDR_SVC_VOICE, CDR_DIR_MT, Z_DOM, ALL_BANDS, 0, 0, 60, 1, 1, CDR_ROUND_HALF_UP, 1);
    cdr_counters bc = counters();
    const cdr_counters before = bc;
    cdr_record cr = rec(CDR_SVC_VOICE, CDR_DIR_MT, WED("10:00:00"), 120, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_DOM);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_units, 120);
    cr_assert_eq(rr.rr_free_units, 120);
    cr_assert_eq(rr.rr_overflow_units, 0, "incoming usage that is not charged is no overflow");
    cr_assert_eq(rr.rr_bundle_units, 0);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(memcmp(&bc, &before, sizeof bc), 0, "the bundle is untouched");
}

Test(rating, originated_call_at_price_zero_does_not_spend_the_bundle)
{
    /* domestic peak made free (no connect fee, price 0): a 100 s call (60/6 -> 102 units) is
     * free usage even though voice_dom covers domestic and has units left */
    cdr_rate *ra = rate_at(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK);
    ra->ra_connect_fee = 0;
    ra->ra_tiers[0].ti_price = 0;
    cdr_counters bc = counters();
    cdr_record cr = call(WED("10:00:00"), 100, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_units, 102);
    cr_assert_eq(rr.rr_free_units, 102);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(bc.bc_used[BU_VOICE], 0);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 0);
    /* a minimum charge makes the same rate chargeable again: the bundle covers it */
    ra->ra_min_charge = 10000;
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_free_units, 0);
    cr_assert_eq(rr.rr_bundle, BU_VOICE);
    cr_assert_eq(rr.rr_bundle_units, 102);
    cr_assert_eq(bc.bc_used[BU_VOICE], 102);
}

Test(rating, billable_usage_beyond_the_bundle_is_overflow)
{
    /* voice_dom has 40 s left and voice_extra none: 125 s (60/6 -> 126) -> 40 bundle units,
     * 86 overflow units priced: 86 x 150000/60 = 215000 + connect 100000 = 315000 -> 0.32 */
    cdr_counters bc = counters();
    bc.bc_used[BU_VOICE] = 3560;
    bc.bc_used[BU_EXTRA] = 600;
    cdr_record cr = call(WED("10:00:00"), 125, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_units, 126);
    cr_assert_eq(rr.rr_bundle, BU_VOICE);
    cr_assert_eq(rr.rr_bundle_units, 40);
    cr_assert_eq(rr.rr_overflow_units, 86);
    cr_assert_eq(rr.rr_free_units, 0);
    cr_assert_eq(rr.rr_charge, 320000);
    cr_assert_eq(bc.bc_used[BU_VOICE], 3600);
    /* the bundle spent: the next call is overflow from its first unit */
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_overflow_units, 126);
    cr_assert_eq(rr.rr_bundle_units + rr.rr_free_units, 0);
}

Test(rating, bundle_only_for_originated)
{
    /* roaming MT in roam_eu (roam_pack covers roam_eu voice) is not covered: 90 s x 100000/60 =
     * 150000; the MO call is: 10 s -> U 30 (30/1) covered */
    cdr_counters bc = counters();
    cdr_record cr = rec(CDR_SVC_VOICE, CDR_DIR_MT, WED("10:00:00"), 90, "4930123456");
    cr.cr_mcc = 214;
    cr.cr_mnc = 7;
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_ROAM_EU);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_charge, 150000);
    cr_assert_eq(rr.rr_overflow_units, 90, "charged incoming usage is overflow, not free");
    cr_assert_eq(rr.rr_free_units, 0);
    cr_assert_eq(bc.bc_used[BU_ROAM], 0);
    cr.cr_direction = CDR_DIR_MO;
    cr.cr_duration = 10;
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, BU_ROAM);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(bc.bc_used[BU_ROAM], 30);
}

Test(rating, tier_position_counts_bundle_units)
{
    /* voice_extra extended to eu, 200 s left; eu call 420 s (1/1): units 0..199 bundle; overflow
     * 200..299 at tier 0 and 300..419 at tier 1: (100 x 500000 + 120 x 300000) / 60 =
     * 86000000 / 60 = 1433333.33 -> half-up 1433333 */
    P->pl_bundles[BU_EXTRA].bu_zones |= 1u << Z_EU;
    cdr_counters bc = counters();
    bc.bc_used[BU_EXTRA] = 400;
    cdr_record cr = call(WED("10:00:00"), 420, "39061234567");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, BU_EXTRA);
    cr_assert_eq(rr.rr_bundle_units, 200);
    cr_assert_eq(rr.rr_overflow_units, 220);
    cr_assert_eq(rr.rr_charge, 1433333);
    cr_assert_eq(bc.bc_used[BU_EXTRA], 600);
}

Test(rating, sms_bundle_and_overflow)
{
    /* 99 of 100 used: one SMS covered (0), the next priced at 0.09 */
    cdr_counters bc = counters();
    bc.bc_used[BU_SMS] = 99;
    cdr_record cr = rec(CDR_SVC_SMS, CDR_DIR_MO, WED("19:59:59"), 0, "4930123456");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_units, 1);
    cr_assert_eq(rr.rr_bundle, BU_SMS);
    cr_assert_eq(rr.rr_charge, 0);
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_charge, 90000);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(bc.bc_used[BU_SMS], 100);
    /* SMS to eu: 0.20, not in the bundle */
    cr = rec(CDR_SVC_SMS, CDR_DIR_MO, WED("10:00:00"), 0, "34600000000");
    cr_assert_eq(rate_ok(&cr, &bc).rr_charge, 200000);
}

Test(rating, enterprise_pool_with_member_cap)
{
    /* pool 100 MB, 10 MB used; member cap 5 MB, member used 4.5 MB -> 0.5 MB = 524288 B left.
     * 1000000 B -> U = ceil(1000000/1024) KB = 977 KB = 1000448 B. B = 524288; overflow
     * 476160 B x 500000 / 1048576 = 227050.78125 -> half-up 227051 */
    cdr_counters bc = counters();
    bc.bc_used[BU_POOL] = 10 * MB;
    bc.bc_member_cap[BU_POOL] = 5 * MB;
    bc.bc_member_used[BU_POOL] = 9 * MB / 2;
    cdr_record cr = session(WED("10:00:00"), 400000, 600000, 0, 0);
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_DATA);
    cr_assert_eq(rr.rr_units, 1000448);
    cr_assert_eq(rr.rr_bundle, BU_POOL);
    cr_assert_eq(rr.rr_bundle_units, 524288);
    cr_assert_eq(rr.rr_overflow_units, 476160);
    cr_assert_eq(rr.rr_charge, 227051);
    cr_assert_eq(bc.bc_used[BU_POOL], 10 * MB + 524288);
    cr_assert_eq(bc.bc_member_used[BU_POOL], 5 * MB);
    /* the member's cap is reached: the next session is all overflow even though the pool has
     * 89.5 MB left. 2048 B -> 2048 x 500000/1048576 = 976.5625 -> 977 */
    cr = session(WED("10:05:00"), 1024, 1024, 0, 0);
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_charge, 977);
}

Test(rating, enterprise_pool_without_cap_and_pool_limit)
{
    /* no member cap; pool has 1 KB left: 3 KB session -> B = 1024, overflow 2048 -> 977 */
    cdr_counters bc = counters();
    bc.bc_used[BU_POOL] = 100 * MB - 1024;
    cdr_record cr = session(WED("10:00:00"), 3072, 0, 0, 0);
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_bundle_units, 1024);
    cr_assert_eq(rr.rr_overflow_units, 2048);
    cr_assert_eq(rr.rr_charge, 977);
    cr_assert_eq(bc.bc_used[BU_POOL], 100 * MB);
    cr_assert_eq(bc.bc_member_used[BU_POOL], 3 * 1024 - 2048);
}

/* ---- data ----------------------------------------------------------------------------------- */

Test(rating, data_rounded_to_kb_priced_per_mb)
{
    /* 1000 + 500 = 1500 B -> 2048 B; 2048 x 500000/1048576 = 976.5625 -> half-up 977 */
    cdr_record cr = session(WED("10:00:00"), 1000, 500, 0, 0);
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 2048);
    cr_assert_eq(rr.rr_charge, 977);
    cr_assert_eq(rr.rr_nparts, 1);
    /* exactly 1 MB: 500000 */
    cr = session(WED("10:00:00"), MB, 0, 0, 0);
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 500000);
    /* one byte: first increment 1024 B -> 1024 x 500000/1048576 = 488.28 -> 488 */
    cr = session(WED("10:00:00"), 1, 0, 0, 0);
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 1024);
    cr_assert_eq(rr.rr_charge, 488);
    /* nothing transferred: 0 */
    cr = session(WED("10:00:00"), 0, 0, 0, 0);
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_units, 0);
    cr_assert_eq(rr.rr_charge, 0);
}

Test(rating, data_session_takes_start_band_only)
{
    /* a data session from 19:59 lasting 10 min is one part in peak (its start band) */
    cdr_record cr = session(WED("19:59:00"), MB, MB, 0, 0);
    cr.cr_duration = 600;
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_PEAK);
    cr_assert_eq(rr.rr_charge, 1000000);
}

/* ---- roaming -------------------------------------------------------------------------------- */

Test(rating, roaming_exact_mnc)
{
    /* visited 208/01 -> roam_orange (exact MNC beats 208/any): 60 s x 200000/60 = 200000 */
    cdr_record cr = call(WED("10:00:00"), 60, "4930123456");
    cr.cr_mcc = 208;
    cr.cr_mnc = 1;
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_ROAM_OR);
    cr_assert_eq(rr.rr_charge, 200000);
}

Test(rating, roaming_mcc_wide)
{
    /* visited 208/10 -> roam_eu (MCC-wide): 10 s -> U = 30 (30/1); 30 x 300000/60 = 150000 */
    cdr_record cr = call(WED("10:00:00"), 10, "4930123456");
    cr.cr_mcc = 208;
    cr.cr_mnc = 10;
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_ROAM_EU);
    cr_assert_eq(rr.rr_units, 30);
    cr_assert_eq(rr.rr_charge, 150000);
    /* 31 s -> U = 31: 31 x 5000 = 155000 */
    cr.cr_duration = 31;
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 155000);
}

Test(rating, roaming_data)
{
    /* visited 214/07 -> roam_eu data 2.00/MB: 1048577 B -> 1025 KB = 1049600 B;
     * 1049600 x 2000000/1048576 = 2001953.125 -> 2001953. The pool covers data_home only. */
    cdr_counters bc = counters();
    cdr_record cr = session(WED("10:00:00"), MB, 1, 214, 7);
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_ROAM_EU);
    cr_assert_eq(rr.rr_units, 1049600);
    cr_assert_eq(rr.rr_charge, 2001953);
    cr_assert_eq(bc.bc_used[BU_POOL], 0);
}

Test(rating, home_and_unlisted_networks_use_the_destination)
{
    /* visited 262/02 is home (262/any): domestic, 270000 as in the worked example */
    cdr_record cr = call(WED("10:00:00"), 61, "4930123456");
    cr.cr_mcc = 262;
    cr.cr_mnc = 2;
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_DOM);
    cr_assert_eq(rr.rr_charge, 270000);
    /* visited 310/260 is neither home nor listed: falls through to the destination */
    cr.cr_mcc = 310;
    cr.cr_mnc = 260;
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_DOM);
    cr_assert_eq(rr.rr_charge, 270000);
}

/* ---- special numbers ------------------------------------------------------------------------ */

Test(rating, free_special_number)
{
    /* exact 116117: kind free -> charge 0, no bundle consumed, no rate needed */
    cdr_counters bc = counters();
    cdr_record cr = call(WED("10:00:00"), 185, "116117");
    cdr_rated rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_FREE);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(rr.rr_bundle, -1);
    cr_assert_eq(rr.rr_bundle_units, 0);
    cr_assert_eq(rr.rr_units, 185);
    cr_assert_eq(rr.rr_free_units, 185, "free-zone usage is free units");
    cr_assert_eq(rr.rr_overflow_units, 0, "free-zone usage is not overflow");
    cr_assert_eq(bc.bc_used[BU_VOICE], 0);
    /* the free prefix 49800 beats domestic 49 */
    cr = call(WED("10:00:00"), 600, "498001234567");
    rr = rate_ok(&cr, &bc);
    cr_assert_eq(rr.rr_zone, Z_FREE);
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(bc.bc_used[BU_VOICE], 0);
}

/* ---- time: DST, holidays, leap day ----------------------------------------------------------- */

Test(rating, dst_spring_forward_band_boundary)
{
    /* Sunday 2026-03-29: night band until 03:00 local. Call at 01:30 CET (00:30Z), 3600 s.
     * Clocks jump 02:00 CET -> 03:00 CEST at 01:00Z, which is also the end of the night band:
     * night 1800 s (00:30Z..01:00Z), off 1800 s. U = 3600 (60 + 590 x 6).
     * night 1800 x 20000/60 = 600000; off 1800 x 60000/60 = 1800000; connect (night) 0;
     * total 2400000 */
    cdr_record cr = call("2026-03-29T01:30:00+01:00", 3600, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_NIGHT);
    cr_assert_eq(rr.rr_parts[0].rp_units, 1800);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[1].rp_units, 1800);
    cr_assert_eq(rr.rr_charge, 2400000);
    cr_assert_eq(rr.rr_cycle, 202603);
}

Test(rating, dst_fall_back_band_boundary)
{
    /* Sunday 2026-10-25: at 01:00Z clocks go back 03:00 CEST -> 02:00 CET, so local 02:00-03:00
     * happens twice and the night band (until 03:00 local) lasts until 02:00Z. Call at
     * 02:30 CEST (00:30Z), 7200 s: night 5400 s (00:30Z..02:00Z), off 1800 s.
     * night 5400 x 20000/60 = 1800000; off 1800 x 60000/60 = 1800000; total 3600000 */
    cdr_record cr = call("2026-10-25T02:30:00+02:00", 7200, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_NIGHT);
    cr_assert_eq(rr.rr_parts[0].rp_units, 5400);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[1].rp_units, 1800);
    cr_assert_eq(rr.rr_charge, 3600000);
    /* the second 02:30 (CET, 01:30Z) is still night: 60 s x 20000/60 = 20000 */
    cr = call("2026-10-25T02:30:00+01:00", 60, "4930123456");
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 1);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_NIGHT);
    cr_assert_eq(rr.rr_charge, 20000);
}

Test(rating, summer_time_band_lookup)
{
    /* Wed 2026-07-15 19:59:00 CEST = 17:59Z; peak 60 s then off 60 s: the band is looked up in
     * local summer time. 120 s: peak 60 x 2500 = 150000; off 60 x 1000 = 60000; + 100000 = 310000
     * (in UTC+1 it would be all peak) */
    cdr_record cr = call("2026-07-15T17:59:00Z", 120, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_charge, 310000);
}

Test(rating, holiday)
{
    /* Friday 2026-12-25 10:00 is a holiday: 0.03/min, no connect fee, 60/6.
     * 61 s -> U = 66; 66 x 30000/60 = 33000 -> cent half-up 30000 */
    cdr_record cr = call("2026-12-25T10:00:00+01:00", 61, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_HOL);
    cr_assert_eq(rr.rr_charge, 30000);
}

Test(rating, call_crossing_midnight_into_holiday)
{
    /* Thu 2026-12-24 23:58:00 + 300 s: off 120 s, then holiday 180 s (Christmas Day).
     * First part off: connect 0.05, 60/6, U = 300. off 120 x 60000/60 = 120000; holiday
     * 180 x 30000/60 = 90000; 50000 + 120000 + 90000 = 260000 */
    cdr_record cr = call("2026-12-24T23:58:00+01:00", 300, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_OFF);
    cr_assert_eq(rr.rr_parts[0].rp_units, 120);
    cr_assert_eq(rr.rr_parts[0].rp_charge, 120000);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_HOL);
    cr_assert_eq(rr.rr_parts[1].rp_units, 180);
    cr_assert_eq(rr.rr_parts[1].rp_charge, 90000);
    cr_assert_eq(rr.rr_charge, 260000);
    cr_assert_eq(rr.rr_cycle, 202612);
}

Test(rating, leap_day_2028)
{
    /* 2028-02-29 (a Tuesday) is in the holiday calendar: 10:00 -> holiday, 120 s x 30000/60 =
     * 60000. The days around it are ordinary weekdays: 120 s peak = 300000 + 100000 = 400000 */
    cdr_record cr = call("2028-02-29T10:00:00+01:00", 120, "4930123456");
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_parts[0].rp_band, B_HOL);
    cr_assert_eq(rr.rr_charge, 60000);
    cr_assert_eq(rr.rr_cycle, 202802);
    cr = call("2028-02-28T10:00:00+01:00", 120, "4930123456");
    cr_assert_eq(rate_ok(&cr, NULL).rr_charge, 400000);
    cr = call("2028-03-01T10:00:00+01:00", 120, "4930123456");
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_charge, 400000);
    cr_assert_eq(rr.rr_cycle, 202803);
    /* Mon 2028-02-28 23:59:00 + 120 s: off 60 s (Monday) then holiday 60 s (leap day):
     * U = 120; 60 x 1000 + 60 x 500 = 90000 + connect 50000 = 140000 */
    cr = call("2028-02-28T23:59:00+01:00", 120, "4930123456");
    rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[1].rp_band, B_HOL);
    cr_assert_eq(rr.rr_charge, 140000);
}

/* ---- unratable ------------------------------------------------------------------------------ */

Test(rating, no_zone)
{
    /* 999... matches no prefix and the plan has no default zone */
    cdr_counters bc = counters();
    cdr_record cr = call(WED("10:00:00"), 60, "999123456");
    rate_refused(&cr, &bc, CDR_REASON_NO_ZONE);
    /* with a default zone the same call is domestic: 250000 */
    P->pl_default_zone = Z_DOM;
    cdr_rated rr = rate_ok(&cr, NULL);
    cr_assert_eq(rr.rr_zone, Z_DOM);
    cr_assert_eq(rr.rr_charge, 250000);
}

Test(rating, no_rate_service_not_offered)
{
    /* video and MMS have no rates at all */
    cdr_counters bc = counters();
    cdr_record cr = rec(CDR_SVC_VIDEO, CDR_DIR_MO, WED("10:00:00"), 60, "4930123456");
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
    cr = rec(CDR_SVC_MMS, CDR_DIR_MO, WED("10:00:00"), 0, "4930123456");
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
    /* usa has a zone but no rate */
    cr = call(WED("10:00:00"), 60, "12125550100");
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
}

Test(rating, no_rate_mt_at_home)
{
    /* a terminated call at home: the plan has no MT rate for domestic */
    cdr_counters bc = counters();
    cdr_record cr = rec(CDR_SVC_VOICE, CDR_DIR_MT, WED("10:00:00"), 60, "4930123456");
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
    /* zero usage still needs a rate */
    cr.cr_duration = 0;
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
}

Test(rating, no_rate_in_a_later_part_leaves_bundle_untouched)
{
    /* remove domestic off-peak: a call from 19:58 into off-peak has no rate for its second part,
     * so it is refused and the bundle it would have drawn from is unchanged */
    P->pl_rate_ix[rix(P, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_OFF)] = CDR_NO_RATE;
    cdr_counters bc = counters();
    cdr_record cr = call(WED("19:58:00"), 300, "4930123456");
    rate_refused(&cr, &bc, CDR_REASON_NO_RATE);
    cr = call(WED("10:00:00"), 300, "4930123456"); /* peak only: fine */
    cr_assert_eq(rate_ok(&cr, &bc).rr_bundle_units, 300);
}

Test(rating, bad_record)
{
    cdr_record cr = call(WED("10:00:00"), 60, "4930123456");
    cr.cr_service = CDR_SVC_COUNT;
    rate_refused(&cr, NULL, CDR_REASON_BAD_RECORD);
    cr.cr_service = CDR_SVC_VOICE;
    cr.cr_direction = 7;
    rate_refused(&cr, NULL, CDR_REASON_BAD_RECORD);
    /* a start outside 1900..2200 (corrupt timestamp) */
    cr.cr_direction = CDR_DIR_MO;
    cr.cr_start = INT64_MAX;
    rate_refused(&cr, NULL, CDR_REASON_BAD_RECORD);
    cr.cr_start = INT64_MIN;
    rate_refused(&cr, NULL, CDR_REASON_BAD_RECORD);
    /* data volume whose up + down overflows 64 bits */
    cr = session(WED("10:00:00"), UINT64_MAX, 1, 0, 0);
    rate_refused(&cr, NULL, CDR_REASON_BAD_RECORD);
}

/* ---- plan versions -------------------------------------------------------------------------- */

Test(rating, plan_version_changes_at_effective_from)
{
    /* v1 (this plan, effective 2026-01-01 00:00 CET) domestic peak 0.15/min; v2 effective
     * 2026-07-01 00:00 CEST = 2026-06-30T22:00Z with 0.12/min. A call is rated wholly by the
     * version in effect at its start. */
    cdr_plan *v1 = P;
    P = NULL;
    v1->pl_effective_from = T("2026-01-01T00:00:00+01:00");
    cdr_plan *v2 = plan_build();
    v2->pl_version = 2;
    v2->pl_effective_from = T("2026-07-01T00:00:00+02:00");
    rate_at(v2, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_PEAK)->ra_tiers[0].ti_price = 120000;
    rate_at(v2, CDR_SVC_VOICE, CDR_DIR_MO, Z_DOM, B_OFF)->ra_tiers[0].ti_price = 40000;

    cdr_plan **plans = malloc(2 * sizeof *plans);
    cr_assert_not_null(plans);
    plans[0] = v2; /* out of order on purpose: the set sorts by (id, version) */
    plans[1] = v1;
    cdr_plan_set *ps = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(plans, 2, &ps, &dg), 0);
    const int fam = cdr_plan_set_family(ps, "test");
    cr_assert_geq(fam, 0);
    cr_assert_eq(cdr_plan_set_family(ps, "nope"), -1);

    /* before v1: no plan */
    cr_assert_null(cdr_plan_set_at(ps, fam, T("2025-12-31T22:59:59Z")));
    cr_assert_eq(cdr_plan_set_at(ps, fam, T("2025-12-31T23:00:00Z"))->pl_version, 1);

    /* Tue 2026-06-30 23:59:00 CEST (off-peak) + 120 s ends after v2's effective_from: all v1.
     * v1 off: 60/6, U = 120; 120 x 60000/60 = 120000 + 50000 = 170000 */
    cdr_record cr = call("2026-06-30T23:59:00+02:00", 120, "4930123456");
    const cdr_plan *pl = cdr_plan_set_at(ps, fam, cr.cr_start);
    cr_assert_eq(pl->pl_version, 1);
    cdr_rated rr;
    cr_assert_eq(cdr_rules_rate(pl, &cr, NULL, &rr), 0);
    cr_assert_eq(rr.rr_plan_version, 1);
    cr_assert_eq(rr.rr_charge, 170000);

    /* exactly at the effective_from: v2. 120 x 40000/60 = 80000 + 50000 = 130000 */
    cr = call("2026-07-01T00:00:00+02:00", 120, "4930123456");
    pl = cdr_plan_set_at(ps, fam, cr.cr_start);
    cr_assert_eq(pl->pl_version, 2);
    cr_assert_eq(cdr_rules_rate(pl, &cr, NULL, &rr), 0);
    cr_assert_eq(rr.rr_plan_version, 2);
    cr_assert_eq(rr.rr_charge, 130000);
    /* one second before: v1 */
    cr_assert_eq(cdr_plan_set_at(ps, fam, cr.cr_start - 1)->pl_version, 1);
    cdr_plan_set_release(ps);
}

/* ---- charge classes (docs/tariff-plans.md "Charge classes") ---------------------------------- */

/* A plan written in the plan language, one line per rule of the class: Asia/Shanghai, bands peak
 * 08:00-20:00 and off 20:00-08:00 every day. */
static const char class_plan[] =
    "plan: cls\n"
    "version: 1\n"
    "effective_from: 2026-01-01T00:00:00+08:00\n"
    "currency: CNY\n"
    "timezone: Asia/Shanghai\n"
    "services: [voice, video, sms, mms, data]\n"
    "home_networks: [\"460-00\"]\n"
    "home_zone: dom\n"
    "zones:\n"
    "  - {name: dom, prefixes: [\"86\"]}\n"
    "  - {name: vas, prefixes: [\"86125\"], charge_class: value_added}\n"
    "  - {name: service, kind: free, numbers: [\"10086\"]}\n"
    "  - {name: prem, kind: premium, prefixes: [\"86168\"]}\n"
    "  - {name: roam, kind: roaming, networks: [\"262-*\"]}\n"
    "  - {name: roam-sat, kind: roaming, networks: [\"901-*\"], charge_class: premium}\n"
    "bands:\n"
    "  - {name: peak, days: \"*\", from: \"08:00\", to: \"20:00\"}\n"
    "  - {name: off, days: \"*\", from: \"20:00\", to: \"08:00\"}\n"
    "rates:\n"
    "  - {service: voice, zone: dom, band: peak, price: 0.15, charge_class: value_added}\n"
    "  - {service: voice, zone: dom, band: off, price: 0.06}\n"
    "  - {service: voice, zones: [vas, prem, roam, roam-sat], price: 1.00}\n"
    "  - {service: voice, direction: mt, zones: \"*\", price: 0}\n"
    "  - {service: voice, direction: mt, zone: roam, price: 0.50}\n"
    "  - {service: video, zones: \"*\", price: 0.50}\n"
    "  - {service: sms, zones: \"*\", price: 0.10}\n"
    "  - {service: sms, zone: vas, price: 0.50, charge_class: premium}\n"
    "  - {service: mms, zones: \"*\", price: 0.30}\n"
    "  - {service: mms, zone: vas, price: 0}\n"
    "  - {service: data, zones: \"*\", price: 1.00, per: 1MB}\n";

static cdr_plan *class_plan_compile(void)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_plan_compile_text(class_plan, strlen(class_plan), "cls.yaml", &pl, &dg), 0,
                 "%s", cdr_diag_format(&dg, buf, sizeof buf));
    return pl;
}

/* Rate cr under pl: rated, and the class derived from the rated record alone (as for a record
 * of wire version 1-3) is the class the evaluator gave. Returns the class. */
static int class_of(const cdr_plan *pl, const cdr_record *cr, cdr_rated *rr)
{
    cr_assert_eq(cdr_rules_rate(pl, cr, NULL, rr), 0, "unratable: %s",
                 cdr_reason_name(rr->rr_reason));
    cdr_rated old = *rr;
    old.rr_class = CDR_CLASS_NONE;
    cr_assert_eq(cdr_plan_charge_class(pl, cr, &old), rr->rr_class, "derived %s, rated %s",
                 cdr_charge_class_name(cdr_plan_charge_class(pl, cr, &old)),
                 cdr_charge_class_name(rr->rr_class));
    return rr->rr_class;
}

/* 2026-03-04 is a Wednesday; +08:00. */
#define CLS(hhmmss) "2026-03-04T" hhmmss "+08:00"

Test(charge_class, names_and_parse_follow_the_x_macro)
{
    const char *const want[] = {"none",          "basic_voice", "sms_mms",   "data",
                                "value_added",   "roaming",     "premium",   "free",
                                "recurring_fee", "one_off",     "adjustment"};
    cr_assert_eq(CDR_CLASS_COUNT, 11);
    for (int c = 0; c < CDR_CLASS_COUNT; c++) {
        cr_assert_str_eq(cdr_charge_class_name(c), want[c]);
        cr_assert_eq(cdr_charge_class_parse(want[c]), c);
    }
    cr_assert_str_eq(cdr_charge_class_name(-1), "unknown");
    cr_assert_str_eq(cdr_charge_class_name(CDR_CLASS_COUNT), "unknown");
    cr_assert_eq(cdr_charge_class_parse("Basic_Voice"), -1);
    cr_assert_eq(cdr_charge_class_parse(""), -1);
    cr_assert_eq(cdr_charge_class_parse(NULL), -1);
}

/* Rule e, by service: voice and video basic_voice, sms and mms sms_mms, data data. */
Test(charge_class, by_service)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = rec(CDR_SVC_VOICE, CDR_DIR_MO, CLS("21:00:00"), 90, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_BASIC_VOICE);
    cr_assert_eq(rr.rr_charge, 90000); /* 90 x 0.06 / 60 */
    cr = rec(CDR_SVC_VIDEO, CDR_DIR_MO, CLS("10:00:00"), 60, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_BASIC_VOICE);
    cr = rec(CDR_SVC_SMS, CDR_DIR_MO, CLS("10:00:00"), 0, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_SMS_MMS);
    cr = rec(CDR_SVC_MMS, CDR_DIR_MO, CLS("10:00:00"), 0, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_SMS_MMS);
    cr = rec(CDR_SVC_DATA, CDR_DIR_MO, CLS("10:00:00"), 600, "");
    cr.cr_bytes_down = MB;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_DATA);
    cr_assert_eq(rr.rr_charge, 1000000);
    cdr_plan_free(pl);
}

/* Rule b: the first part's rate declares value_added. A call from 19:59 to 20:01 is a peak part
 * at the value_added rate and an off part at a rate without a class: value_added. The call from
 * 07:59 to 08:01 starts at the off rate: its first part rules, so basic_voice, although its
 * second part's rate declares value_added. */
Test(charge_class, first_part_rate_declares)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = call(CLS("19:59:00"), 120, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_VALUE_ADDED);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[0].rp_band, 0); /* peak */
    cr_assert_eq(rr.rr_charge, 150000 + 60000);
    cr = call(CLS("07:59:00"), 120, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_BASIC_VOICE);
    cr_assert_eq(rr.rr_nparts, 2);
    cr_assert_eq(rr.rr_parts[1].rp_band, 0);
    /* a rate's class beats its zone's: sms to the value_added zone at a premium rate */
    cr = rec(CDR_SVC_SMS, CDR_DIR_MO, CLS("10:00:00"), 0, "8612500000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_PREMIUM);
    cr_assert_eq(rr.rr_charge, 500000);
    cdr_plan_free(pl);
}

/* Rule c: the zone declares value_added (its rates declare nothing); rule c beats rule d: a
 * roaming zone declaring premium. */
Test(charge_class, zone_declares)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = call(CLS("10:00:00"), 60, "8612500000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_VALUE_ADDED);
    cr_assert_eq(rr.rr_zone, 1);
    cr = call(CLS("10:00:00"), 60, "8613800000000");
    cr.cr_mcc = 901;
    cr.cr_mnc = 18;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_PREMIUM);
    cr_assert_eq(rr.rr_zone, 5);
    cdr_plan_free(pl);
}

/* Rule d: roaming and premium zones by their kind, whatever the service. */
Test(charge_class, roaming_and_premium_by_kind)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = call(CLS("10:00:00"), 60, "8613800000000");
    cr.cr_mcc = 262;
    cr.cr_mnc = 1;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_ROAMING);
    cr_assert_eq(rr.rr_zone, 4);
    cr = rec(CDR_SVC_VOICE, CDR_DIR_MT, CLS("10:00:00"), 60, "8613800000000");
    cr.cr_mcc = 262;
    cr.cr_mnc = 1;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_ROAMING, "incoming while roaming, charged");
    cr_assert_eq(rr.rr_charge, 500000);
    cr = rec(CDR_SVC_SMS, CDR_DIR_MO, CLS("10:00:00"), 0, "8613800000000");
    cr.cr_mcc = 262;
    cr.cr_mnc = 1;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_ROAMING);
    cr = session(CLS("10:00:00"), 0, MB, 262, 1);
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_ROAMING);
    cr = call(CLS("10:00:00"), 60, "8616800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_PREMIUM);
    cr_assert_eq(rr.rr_zone, 3);
    cdr_plan_free(pl);
}

/* Rule a: a free zone, an incoming call at price 0, a rate at price 0 in a zone that declares a
 * class: free, before every other rule. */
Test(charge_class, free_events)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = call(CLS("10:00:00"), 300, "10086");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_FREE);
    cr_assert_eq(rr.rr_zone, 2);
    cr_assert_eq(rr.rr_free_units, 300);
    cr = rec(CDR_SVC_VOICE, CDR_DIR_MT, CLS("19:59:00"), 120, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_FREE, "incoming at home at price 0");
    cr_assert_eq(rr.rr_charge, 0);
    cr_assert_eq(rr.rr_nparts, 2);
    cr = rec(CDR_SVC_MMS, CDR_DIR_MO, CLS("10:00:00"), 0, "8612500000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_FREE, "price 0 beats the zone's value_added");
    cdr_plan_free(pl);
}

/* An unratable record has no class, and none is derived for it. */
Test(charge_class, unratable_has_none)
{
    cdr_plan *pl = class_plan_compile();
    cdr_rated rr;
    cdr_record cr = call(CLS("10:00:00"), 60, "33123456");
    cr_assert_eq(cdr_rules_rate(pl, &cr, NULL, &rr), CDR_REASON_NO_ZONE);
    cr_assert_eq(rr.rr_class, CDR_CLASS_NONE);
    cr_assert_eq(cdr_plan_charge_class(pl, &cr, &rr), CDR_CLASS_NONE);
    /* nor for a record that does not fit the plan */
    cr = call(CLS("10:00:00"), 60, "8613800000000");
    cr_assert_eq(cdr_rules_rate(pl, &cr, NULL, &rr), 0);
    rr.rr_zone = 9;
    cr_assert_eq(cdr_plan_charge_class(pl, &cr, &rr), CDR_CLASS_NONE);
    rr.rr_zone = CDR_NO_ZONE;
    cr_assert_eq(cdr_plan_charge_class(pl, &cr, &rr), CDR_CLASS_NONE);
    cr_assert_eq(cdr_plan_charge_class(NULL, &cr, &rr), CDR_CLASS_NONE);
    cdr_plan_free(pl);
}

/* The plans of the catalogue declare no class: their events are classed by rules a, d and e. */
Test(charge_class, sample_plan_without_declarations)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_plan_compile_file(CDR_SOURCE_DIR "/rating-rules/plans/cn-payg.yaml", &pl, &dg),
                 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    for (int z = 0; z < pl->pl_nzones; z++)
        cr_assert_eq(pl->pl_zones[z].zo_class, 0);
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        cr_assert_eq(pl->pl_rates[i].ra_class, 0);
    cdr_rated rr;
    cdr_record cr = call(CLS("10:00:00"), 60, "8613800000000");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_BASIC_VOICE);
    cr = call(CLS("10:00:00"), 60, "10086");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_FREE);
    cr = call(CLS("10:00:00"), 60, "12125550100");
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_BASIC_VOICE, "international, a normal zone");
    cr = call(CLS("10:00:00"), 60, "8613800000000");
    cr.cr_mcc = 262;
    cr.cr_mnc = 1;
    cr_assert_eq(class_of(pl, &cr, &rr), CDR_CLASS_ROAMING);
    cdr_plan_free(pl);
}
