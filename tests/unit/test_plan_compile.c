/* test_plan_compile.c - the tariff-plan compiler: good plans, the sample catalogue, and malformed
 * documents that must be refused with the exact file:line:column, code and reason. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_rules.h"

/* A small valid plan, built from pieces so that each malformed variant changes one piece. The
 * comments give the line numbers. */
#define HEAD                                                                                       \
    "plan: t\n"                                   /* 1 */                                          \
    "version: 1\n"                                /* 2 */                                          \
    "effective_from: 2026-01-01T00:00:00+08:00\n" /* 3 */                                          \
    "currency: CNY\n"                             /* 4 */                                          \
    "timezone: Asia/Shanghai\n"                   /* 5 */                                          \
    "services: [voice, data]\n"                   /* 6 */                                          \
    "home_zone: dom\n"                            /* 7 */
/* HEAD without its first two lines. */
#define REST                                                                                       \
    "effective_from: 2026-01-01T00:00:00+08:00\ncurrency: CNY\ntimezone: Asia/Shanghai\n"          \
    "services: [voice, data]\nhome_zone: dom\n"
#define ZONES                                                                                      \
    "zones:\n"                                             /* 8 */                                 \
    "  - {name: dom, prefixes: [\"86\"]}\n"                /* 9 */                                 \
    "  - {name: intl, prefixes: [\"1\", \"44\"]}\n"        /* 10 */                                \
    "  - {name: free, kind: free, numbers: [\"10086\"]}\n" /* 11 */
#define BANDS                                                                                      \
    "bands:\n"                                                             /* 12 */                \
    "  - {name: peak, days: [weekdays], from: \"08:00\", to: \"20:00\"}\n" /* 13 */                \
    "  - {name: off, days: [weekdays], from: \"20:00\", to: \"08:00\"}\n"  /* 14 */                \
    "  - {name: off, days: [weekend, holiday]}\n"                          /* 15 */
#define RATES                                                                                      \
    "rates:\n"                                                   /* 16 */                          \
    "  - {service: voice, zones: \"*\", price: 0.10}\n"          /* 17 */                          \
    "  - {service: data, zones: \"*\", price: 1.00, per: 1MB}\n" /* 18 */

static cdr_plan *compile_ok(const char *text)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    const int rc = cdr_plan_compile_text(text, strlen(text), "good.yaml", &pl, &dg);
    cr_assert_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_not_null(pl);
    return pl;
}

/* Compile text as "bad.yaml" and check the refusal exactly. */
#define EXPECT_ERROR(text, code, line, col, substr)                                                \
    do {                                                                                           \
        const char *t_ = (text);                                                                   \
        cdr_plan *pl_ = (cdr_plan *)&pl_;                                                          \
        cdr_diag dg_;                                                                              \
        char b_[1024];                                                                             \
        const int rc_ = cdr_plan_compile_text(t_, strlen(t_), "bad.yaml", &pl_, &dg_);             \
        cdr_diag_format(&dg_, b_, sizeof b_);                                                      \
        cr_assert_eq(rc_, (code), "rc %s, want %s: %s", cdr_err_name(rc_), cdr_err_name(code),     \
                     b_);                                                                          \
        cr_assert_null(pl_);                                                                       \
        cr_assert_eq(dg_.dg_code, (code), "%s", b_);                                               \
        cr_assert_str_eq(dg_.dg_file, "bad.yaml");                                                 \
        cr_assert_eq(dg_.dg_line, (line), "line %d, want %d: %s", dg_.dg_line, (line), b_);        \
        cr_assert_eq(dg_.dg_column, (col), "column %d, want %d: %s", dg_.dg_column, (col), b_);    \
        cr_assert(strstr(dg_.dg_msg, (substr)) != NULL, "message lacks \"%s\": %s", (substr), b_); \
    } while (0)

static size_t cell(const cdr_plan *pl, int s, int d, int z, int b)
{
    return ((size_t)(s * CDR_DIR_COUNT + d) * pl->pl_nzones + (size_t)z) * pl->pl_nbands +
           (size_t)b;
}

/* Walk the trie like the evaluator: exact number first, else longest prefix. */
static int lookup(const cdr_plan *pl, const char *num)
{
    int32_t at = 0;
    int best = CDR_NO_ZONE;
    const char *p = num;
    for (; *p; p++) {
        const int32_t nx = pl->pl_trie[at].tn_child[*p - '0'];
        if (!nx)
            break;
        at = nx;
        if (pl->pl_trie[at].tn_zone != CDR_NO_ZONE)
            best = pl->pl_trie[at].tn_zone;
    }
    if (!*p && pl->pl_trie[at].tn_exact != CDR_NO_ZONE)
        return pl->pl_trie[at].tn_exact;
    return best;
}

/* ---- good plans ----------------------------------------------------------------------------- */

Test(plan_compile, small_plan_fields)
{
    cdr_plan *pl =
        compile_ok(HEAD ZONES BANDS RATES "holidays: [2026-10-02, 2026-10-01]\n"
                                          "home_networks: [\"460-07\", \"460-00\", \"454-*\"]\n"
                                          "monthly_fee: 128\n");
    cr_assert_str_eq(pl->pl_id, "t");
    cr_assert_eq(pl->pl_version, 1);
    cr_assert_eq(pl->pl_effective_from, 1767196800); /* 2025-12-31T16:00:00Z */
    cr_assert_str_eq(pl->pl_currency, "CNY");
    cr_assert_str_eq(pl->pl_tz.tz_name, "Asia/Shanghai");
    cr_assert_eq(pl->pl_monthly_fee, 128 * CDR_MICRO);
    cr_assert_eq(pl->pl_nzones, 3);
    cr_assert_str_eq(pl->pl_zones[2].zo_name, "free");
    cr_assert_eq(pl->pl_zones[2].zo_kind, CDR_ZONE_FREE);
    cr_assert_eq(pl->pl_home_zone, 0);
    cr_assert_eq(pl->pl_default_zone, CDR_NO_ZONE);
    cr_assert_eq(lookup(pl, "8613800000000"), 0);
    cr_assert_eq(lookup(pl, "12125550100"), 1);
    cr_assert_eq(lookup(pl, "10086"), 2);
    cr_assert_eq(lookup(pl, "100861"), 1);
    cr_assert_eq(lookup(pl, "33123"), CDR_NO_ZONE);
    cr_assert_eq(pl->pl_nhome, 3);
    cr_assert_eq(pl->pl_home[0].nw_mcc, 454);
    cr_assert_eq(pl->pl_home[0].nw_mnc, -1);
    cr_assert_eq(pl->pl_home[1].nw_mnc, 0);
    cr_assert_eq(pl->pl_home[2].nw_mnc, 7);
    cr_assert_eq(pl->pl_nholidays, 2);
    cr_assert_eq(pl->pl_holidays[0], 20261001);
    cr_assert_eq(pl->pl_holidays[1], 20261002);

    cr_assert_eq(pl->pl_nbands, 2);
    cr_assert_str_eq(pl->pl_band_names[0], "peak");
    cr_assert_str_eq(pl->pl_band_names[1], "off");
    cr_assert_eq(pl->pl_band_of[0][8 * 60 - 1], 1);
    cr_assert_eq(pl->pl_band_of[0][8 * 60], 0);
    cr_assert_eq(pl->pl_band_of[4][20 * 60 - 1], 0);
    cr_assert_eq(pl->pl_band_of[4][20 * 60], 1);
    cr_assert_eq(pl->pl_band_of[5][12 * 60], 1);
    cr_assert_eq(pl->pl_band_of[CDR_DAYTYPE_HOLIDAY][12 * 60], 1);
    cr_assert_eq(pl->pl_band_until[0][0], 8 * 60);
    cr_assert_eq(pl->pl_band_until[0][8 * 60], 20 * 60);
    cr_assert_eq(pl->pl_band_until[0][20 * 60], CDR_MINUTES_PER_DAY);
    cr_assert_eq(pl->pl_band_until[6][0], CDR_MINUTES_PER_DAY);

    cr_assert_eq(pl->pl_nrates, 2);
    const cdr_rate *ra = &pl->pl_rates[0];
    cr_assert_eq(ra->ra_tiers[0].ti_price, 100000);
    cr_assert_eq(ra->ra_ntiers, 1);
    cr_assert_eq(ra->ra_unit, 60);
    cr_assert_eq(ra->ra_first, 1);
    cr_assert_eq(ra->ra_next, 1);
    cr_assert_eq(ra->ra_min_charge, -1);
    cr_assert_eq(ra->ra_max_charge, -1);
    cr_assert_eq(ra->ra_round_to, 1);
    cr_assert_eq(ra->ra_rounding, CDR_ROUND_HALF_UP);
    cr_assert_eq(pl->pl_rates[1].ra_unit, 1048576);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 1, 1)], 0);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_DATA, CDR_DIR_MO, 0, 0)], 1);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 2, 0)], CDR_NO_RATE);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MT, 0, 0)], CDR_NO_RATE);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_SMS, CDR_DIR_MO, 0, 0)], CDR_NO_RATE);
    cr_assert_eq(pl->pl_nbundles, 0);
    cdr_plan_free(pl);
}

Test(plan_compile, rate_terms_and_units)
{
    cdr_plan *pl = compile_ok(HEAD ZONES BANDS
                              "rates:\n"
                              "  - service: voice\n"
                              "    direction: both\n"
                              "    zones: \"*\"\n"
                              "    connect_fee: 0.10\n"
                              "    price: 0.15\n"
                              "    per: 1min\n"
                              "    increments: 60/6\n"
                              "    tiers: [{from: 10min, price: 0.10}, {from: 3600, price: 0.05}]\n"
                              "    min_charge: 0.05\n"
                              "    max_charge: 10.00\n"
                              "    rounding: half-even\n"
                              "    round_to: 0.01\n"
                              "  - {service: data, zones: \"*\", price: 5, per: 1GB,"
                              " increments: 1KB/512}\n"
                              "bundles:\n"
                              "  - {name: m500, service: voice, zones: [dom], units: 500min}\n"
                              "  - {name: d10, service: data, zone: dom, units: 10GB}\n"
                              "  - {name: pool, service: data, zones: \"*\", pool: true}\n");
    const cdr_rate *ra = &pl->pl_rates[0];
    cr_assert_eq(ra->ra_connect_fee, 100000);
    cr_assert_eq(ra->ra_unit, 60);
    cr_assert_eq(ra->ra_first, 60);
    cr_assert_eq(ra->ra_next, 6);
    cr_assert_eq(ra->ra_ntiers, 3);
    cr_assert_eq(ra->ra_tiers[0].ti_from, 0);
    cr_assert_eq(ra->ra_tiers[0].ti_price, 150000);
    cr_assert_eq(ra->ra_tiers[1].ti_from, 600);
    cr_assert_eq(ra->ra_tiers[1].ti_price, 100000);
    cr_assert_eq(ra->ra_tiers[2].ti_from, 3600);
    cr_assert_eq(ra->ra_min_charge, 50000);
    cr_assert_eq(ra->ra_max_charge, 10000000);
    cr_assert_eq(ra->ra_rounding, CDR_ROUND_HALF_EVEN);
    cr_assert_eq(ra->ra_round_to, 10000);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MT, 1, 0)], 0);
    const cdr_rate *rd = &pl->pl_rates[1];
    cr_assert_eq(rd->ra_unit, 1073741824);
    cr_assert_eq(rd->ra_first, 1024);
    cr_assert_eq(rd->ra_next, 512);
    cr_assert_eq(rd->ra_tiers[0].ti_price, 5 * CDR_MICRO);
    cr_assert_eq(pl->pl_nbundles, 3);
    cr_assert_str_eq(pl->pl_bundles[0].bu_name, "m500");
    cr_assert_eq(pl->pl_bundles[0].bu_service, CDR_SVC_VOICE);
    cr_assert_eq(pl->pl_bundles[0].bu_units, 30000);
    cr_assert_eq(pl->pl_bundles[0].bu_zones, 1);
    cr_assert_eq(pl->pl_bundles[1].bu_units, 10737418240ull);
    cr_assert_eq(pl->pl_bundles[2].bu_pool, 1);
    cr_assert_eq(pl->pl_bundles[2].bu_zones, 3); /* "*": dom and intl, not the free zone */
    cdr_plan_free(pl);
}

Test(plan_compile, specific_rate_wins_over_wildcard)
{
    /* Order in the file does not matter: zone named > band named > "*". */
    cdr_plan *pl =
        compile_ok(HEAD ZONES BANDS "rates:\n"
                                    "  - {service: voice, zone: intl, price: 3.00}\n"
                                    "  - {service: voice, zones: \"*\", price: 0.10}\n"
                                    "  - {service: voice, zones: \"*\", band: off, price: 0.05}\n"
                                    "  - {service: data, zones: \"*\", price: 1.00}\n");
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 1, 0)], 0);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 1, 1)], 0);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 0, 0)], 1);
    cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 0, 1)], 2);
    cdr_plan_free(pl);
}

Test(plan_compile, local_effective_from_and_roaming)
{
    cdr_plan *pl = compile_ok("plan: r\nversion: 7\neffective_from: 2026-07-01\ncurrency: EUR\n"
                              "timezone: Europe/Berlin\nservices: [data]\nhome_zone: home\n"
                              "home_networks: [\"262-01\"]\n"
                              "zones:\n"
                              "  - {name: home}\n"
                              "  - {name: eu, kind: roaming, networks: [\"208-*\", \"208-01\"]}\n"
                              "  - {name: us, kind: roaming, networks: [\"310-260\", \"262-*\"]}\n"
                              "bands: [{name: all, days: \"*\"}]\n"
                              "rates: [{service: data, zones: \"*\", price: 0.5}]\n");
    /* Local midnight in Berlin (CEST, +02:00) = 2026-06-30T22:00:00Z. */
    cr_assert_eq(pl->pl_effective_from, 1782856800);
    cr_assert_eq(pl->pl_nroam, 4);
    cr_assert_eq(pl->pl_roam[0].nw_mcc, 208);
    cr_assert_eq(pl->pl_roam[0].nw_mnc, -1);
    cr_assert_eq(pl->pl_roam[1].nw_mnc, 1);
    cr_assert_eq(pl->pl_roam[1].nw_zone, 1);
    cr_assert_eq(pl->pl_roam[2].nw_mcc, 262);
    cr_assert_eq(pl->pl_roam[2].nw_zone, 2);
    cr_assert_eq(pl->pl_roam[3].nw_mcc, 310);
    cr_assert_eq(pl->pl_roam[3].nw_mnc, 260);
    cdr_plan_free(pl);
}

Test(plan_compile, sample_plans_compile)
{
    const char *dir = CDR_SOURCE_DIR "/rating-rules/plans";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    int n = 0;
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[4096], buf[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        cdr_plan *pl = NULL;
        cdr_diag dg;
        const int rc = cdr_plan_compile_file(path, &pl, &dg);
        cr_expect_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
        if (pl) {
            cr_expect_gt(pl->pl_nrates, 0);
            cr_expect_gt(pl->pl_nzones, 0);
        }
        cdr_plan_free(pl);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 6, "only %d sample plans", n);
}

Test(plan_compile, sample_plan_details)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    int rc = cdr_plan_compile_file(CDR_SOURCE_DIR "/rating-rules/plans/de-comfort.yaml", &pl, &dg);
    cr_assert_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_eq(pl->pl_nbands, 2);
    cr_assert_eq(pl->pl_band_of[0][7 * 60], 0);  /* Monday 07:00 peak */
    cr_assert_eq(pl->pl_band_of[0][19 * 60], 1); /* Monday 19:00 off-peak */
    cr_assert_eq(pl->pl_band_of[5][12 * 60], 1); /* Saturday noon off-peak */
    cr_assert_eq(pl->pl_band_of[CDR_DAYTYPE_HOLIDAY][12 * 60], 1);
    cr_assert_eq(pl->pl_rates[0].ra_first, 60);
    cr_assert_eq(pl->pl_rates[0].ra_next, 1);
    cr_assert_eq(lookup(pl, "4915112345678"), 0); /* onnet */
    cr_assert_eq(lookup(pl, "4915212345678"), 1); /* other mobile */
    cr_assert_eq(lookup(pl, "493012345678"), 2);  /* landline */
    cr_assert_eq(lookup(pl, "112"), 3);           /* free */
    cr_assert_eq(lookup(pl, "498001234567"), 3);  /* freephone */
    cdr_plan_free(pl);

    rc = cdr_plan_compile_file(CDR_SOURCE_DIR "/rating-rules/plans/cn-enterprise.yaml", &pl, &dg);
    cr_assert_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    int pools = 0;
    for (int i = 0; i < pl->pl_nbundles; i++)
        pools += pl->pl_bundles[i].bu_pool;
    cr_assert_eq(pools, 1);
    cr_assert_eq(pl->pl_nholidays, 46);
    cdr_plan_free(pl);
}

/* Not a timing assertion: prints how long 100,000 destination prefixes take to compile. */
Test(plan_compile, hundred_thousand_prefixes)
{
    size_t cap = 4 << 20, n = 0;
    char *t = malloc(cap);
    cr_assert_not_null(t);
    n += (size_t)snprintf(t + n, cap - n,
                          "plan: big\nversion: 1\neffective_from: 2026-01-01T00:00:00Z\n"
                          "currency: EUR\ntimezone: UTC\nservices: [voice]\nzones:\n");
    for (int z = 0; z < 50; z++) {
        n += (size_t)snprintf(t + n, cap - n, "  - name: z%d\n    prefixes:\n", z);
        for (int i = 0; i < 2000; i++)
            n += (size_t)snprintf(t + n, cap - n, "      - \"%d%06d\"\n", 10 + z, i * 37);
    }
    n += (size_t)snprintf(t + n, cap - n,
                          "bands: [{name: all, days: \"*\"}]\n"
                          "rates: [{service: voice, zones: \"*\", price: 0.10}]\n");
    cr_assert_lt(n, cap);
    struct timespec a, b;
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    clock_gettime(CLOCK_MONOTONIC, &a);
    const int rc = cdr_plan_compile_text(t, n, "big.yaml", &pl, &dg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    const double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_log_info("100000 prefixes (%zu bytes of YAML, %u trie nodes) compiled in %.1f ms", n,
                pl->pl_ntrie, ms);
    fprintf(stderr, "plan_compile: 100000 prefixes compiled in %.1f ms\n", ms);
    cr_assert_eq(lookup(pl, "59001998123"), 49);
    cdr_plan_free(pl);

    /* The same prefix in two zones is caught by the trie, with both positions. */
    char *dup = strstr(t, "\"11000000\"");
    cr_assert_not_null(dup);
    memcpy(dup, "\"10000037\"", 10);
    EXPECT_ERROR(t, CDR_FORMAT, 2012, 9,
                 "prefix '10000037' is in two zones: 'z0' (at line 11, column 9) and 'z1'");
    free(t);
}

/* ---- malformed plans ------------------------------------------------------------------------ */

Test(plan_bad, yaml_syntax)
{
    EXPECT_ERROR("plan: t\nversion: 1\nzones: [a, b\nbands: x\n", CDR_PARSE, 4, 6,
                 "YAML syntax: a [ list ] is not closed: add the ']', or the ',' between two items "
                 "(libyaml: while parsing a flow sequence at line 3, column 8: did not find "
                 "expected ',' or ']')");
}

Test(plan_bad, not_a_mapping)
{
    EXPECT_ERROR("- plan\n- version\n", CDR_FORMAT, 1, 1, "a plan must be a mapping");
}

Test(plan_bad, empty_document)
{
    EXPECT_ERROR("# nothing here\n", CDR_FORMAT, 1, 1, "empty plan file");
}

Test(plan_bad, two_documents)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "---\nplan: again\n", CDR_FORMAT, 20, 1,
                 "a second YAML document");
}

Test(plan_bad, unknown_top_level_key)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "monthly_fees: 1.00\n", CDR_FORMAT, 19, 1,
                 "unknown key 'monthly_fees' in a plan");
}

Test(plan_bad, duplicate_key)
{
    EXPECT_ERROR(HEAD "version: 2\n" ZONES BANDS RATES, CDR_FORMAT, 8, 1,
                 "duplicate key 'version' in a plan (first at line 2, column 1)");
}

Test(plan_bad, missing_required_key)
{
    EXPECT_ERROR(HEAD ZONES BANDS, CDR_FORMAT, 1, 1, "missing required key 'rates'");
}

Test(plan_bad, missing_home_zone_for_data)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00Z\ncurrency: CNY\n"
                 "timezone: UTC\nservices: [voice, data]\n" ZONES BANDS RATES,
                 CDR_FORMAT, 1, 1, "missing required key 'home_zone' (the plan offers data)");
}

Test(plan_bad, bad_version)
{
    EXPECT_ERROR("plan: t\nversion: 1.5\n" REST ZONES BANDS RATES, CDR_FORMAT, 2, 10,
                 "version '1.5' is not a whole");
}

Test(plan_bad, bad_plan_id)
{
    EXPECT_ERROR("plan: \"my plan\"\nversion: 1\n" REST ZONES BANDS RATES, CDR_FORMAT, 1, 7,
                 "plan 'my plan' may hold only");
}

Test(plan_bad, unknown_time_zone)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00+08:00\n"
                 "currency: CNY\ntimezone: Asia/Shanghia\nservices: [voice]\n" ZONES BANDS RATES,
                 CDR_NOTFOUND, 5, 11, "unknown time zone 'Asia/Shanghia'");
}

Test(plan_bad, effective_from_not_iso)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026/01/01\ncurrency: CNY\n"
                 "timezone: UTC\nservices: [voice]\n" ZONES BANDS RATES,
                 CDR_FORMAT, 3, 17, "effective_from '2026/01/01' is not an ISO 8601 time");
}

Test(plan_bad, effective_from_impossible_date)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026-02-30T00:00:00Z\ncurrency: CNY\n"
                 "timezone: UTC\nservices: [voice]\n" ZONES BANDS RATES,
                 CDR_RANGE, 3, 17, "is not a real date and time");
}

Test(plan_bad, bad_currency)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00Z\ncurrency: yuan\n"
                 "timezone: UTC\nservices: [voice]\n" ZONES BANDS RATES,
                 CDR_FORMAT, 4, 11, "currency 'yuan' is not an ISO 4217 code");
}

Test(plan_bad, bad_money)
{
    EXPECT_ERROR(HEAD "monthly_fee: 12.5x\n" ZONES BANDS RATES, CDR_FORMAT, 8, 14,
                 "monthly_fee '12.5x' is not a decimal amount");
}

Test(plan_bad, money_too_precise)
{
    EXPECT_ERROR(HEAD ZONES BANDS "rates:\n"
                                  "  - {service: voice, zones: \"*\", price: 0.1234567}\n"
                                  "  - {service: data, zones: \"*\", price: 1.00}\n",
                 CDR_RANGE, 17, 41, "price '0.1234567' has more than six decimals");
}

Test(plan_bad, negative_money)
{
    EXPECT_ERROR(HEAD ZONES BANDS "rates:\n"
                                  "  - {service: voice, zones: \"*\", price: 0.10,"
                                  " connect_fee: -0.05}\n"
                                  "  - {service: data, zones: \"*\", price: 1.00}\n",
                 CDR_RANGE, 17, 60, "connect_fee -0.05 must not be negative");
}

Test(plan_bad, unknown_service)
{
    EXPECT_ERROR("plan: t\nversion: 1\neffective_from: 2026-01-01T00:00:00Z\ncurrency: CNY\n"
                 "timezone: UTC\nservices: [voice, fax]\n" ZONES BANDS RATES,
                 CDR_FORMAT, 6, 19, "unknown service 'fax'");
}

Test(plan_bad, zones_not_a_list)
{
    EXPECT_ERROR(HEAD "zones: dom\n" BANDS RATES, CDR_FORMAT, 8, 8,
                 "zones must be a list, not a single value");
}

Test(plan_bad, unknown_key_in_zone)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefix: [\"86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 9, 17, "unknown key 'prefix' in zone (expected one of: name, kind");
}

Test(plan_bad, zone_missing_name)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefixes: [\"86\"]}\n"
                      "  - {kind: onnet, prefixes: [\"86138\"]}\n" BANDS RATES,
                 CDR_FORMAT, 10, 5, "zone: missing required key 'name'");
}

Test(plan_bad, duplicate_zone_name)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefixes: [\"86\"]}\n"
                      "  - {name: dom, prefixes: [\"1\"]}\n" BANDS RATES,
                 CDR_FORMAT, 10, 12, "zone name 'dom' is used twice (first at line 9, column 12)");
}

/* ---- charge classes ------------------------------------------------------------------------ */

#define ALLOWED_CLASSES "(allowed: basic_voice, sms_mms, data, value_added, roaming, premium)"

/* Compile text as "bad.yaml": refused with code at line:col and exactly the message msg. */
static void expect_exact(const char *text, int code, int line, int col, const char *msg)
{
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char b[1024];
    const int rc = cdr_plan_compile_text(text, strlen(text), "bad.yaml", &pl, &dg);
    cr_assert_eq(rc, code, "%s", cdr_diag_format(&dg, b, sizeof b));
    cr_assert_null(pl);
    cr_assert_eq(dg.dg_line, line, "%s", cdr_diag_format(&dg, b, sizeof b));
    cr_assert_eq(dg.dg_column, col, "%s", cdr_diag_format(&dg, b, sizeof b));
    cr_assert_str_eq(dg.dg_msg, msg);
}

/* Every class a plan may declare, on a zone and on a rate; 0 where none is declared. */
Test(plan_compile, charge_classes)
{
    for (int c = CDR_CLASS_PLAN_FIRST; c <= CDR_CLASS_PLAN_LAST; c++) {
        char text[2048];
        snprintf(text, sizeof text,
                 HEAD "zones:\n"
                      "  - {name: dom, charge_class: %s, prefixes: [\"86\"]}\n"
                      "  - {name: intl, prefixes: [\"1\", \"44\"]}\n"
                      "  - {name: free, kind: free, numbers: [\"10086\"]}\n" BANDS RATES
                      "  - {service: voice, zone: dom, band: peak, price: 0.20, charge_class: "
                      "%s}\n",
                 cdr_charge_class_name(c), cdr_charge_class_name(c));
        cdr_plan *pl = compile_ok(text);
        cr_assert_eq(pl->pl_zones[0].zo_class, c);
        cr_assert_eq(pl->pl_zones[1].zo_class, 0);
        cr_assert_eq(pl->pl_zones[2].zo_class, 0);
        cr_assert_eq(pl->pl_nrates, 3);
        cr_assert_eq(pl->pl_rates[0].ra_class, 0);
        cr_assert_eq(pl->pl_rates[1].ra_class, 0);
        cr_assert_eq(pl->pl_rates[2].ra_class, c);
        cr_assert_eq(pl->pl_rate_ix[cell(pl, CDR_SVC_VOICE, CDR_DIR_MO, 0, 0)], 2);
        cdr_plan_free(pl);
    }
    cdr_plan *pl = compile_ok(HEAD ZONES BANDS RATES);
    for (int z = 0; z < pl->pl_nzones; z++)
        cr_assert_eq(pl->pl_zones[z].zo_class, 0);
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        cr_assert_eq(pl->pl_rates[i].ra_class, 0);
    cdr_plan_free(pl);
}

/* Every value a plan may not declare, on a zone (line 9, the value at column 31) and on a rate
 * (line 19, column 72): the exact message names the allowed values. */
Test(plan_bad, charge_class_refused)
{
    static const struct {
        const char *value;
        const char *why;
    } refused[] = {
        {"none", "is not declared: leave the key out instead"},
        {"free", "is not declared: an event is free when its zone is free or its rate charges "
                 "nothing"},
        {"recurring_fee", "comes from the bill run, not from a plan"},
        {"one_off", "comes from the bill run, not from a plan"},
        {"adjustment", "comes from the bill run, not from a plan"},
        {"voice", "is not a charge class"},
        {"Data", "is not a charge class"},
        {"value-added", "is not a charge class"},
        {"\"\"", "is not a charge class"},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        const char *v = refused[k].value;
        const char *shown = strcmp(v, "\"\"") ? v : "";
        char msg[512], text[2048];
        snprintf(msg, sizeof msg, "charge_class '%s' %s " ALLOWED_CLASSES, shown, refused[k].why);
        snprintf(text, sizeof text,
                 HEAD "zones:\n"
                      "  - {name: dom, charge_class: %s, prefixes: [\"86\"]}\n"
                      "  - {name: intl, prefixes: [\"1\", \"44\"]}\n"
                      "  - {name: free, kind: free, numbers: [\"10086\"]}\n" BANDS RATES,
                 v);
        expect_exact(text, CDR_FORMAT, 9, 31, msg);
        snprintf(text, sizeof text,
                 HEAD ZONES BANDS RATES
                 "  - {service: voice, zone: dom, band: peak, price: 0.20, charge_class: %s}\n",
                 v);
        expect_exact(text, CDR_FORMAT, 19, 72, msg);
    }
    /* not a single value, or none */
    expect_exact(HEAD "zones:\n"
                      "  - {name: dom, charge_class: [data], prefixes: [\"86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 9, 31, "charge_class must be a single value, not a list");
    expect_exact(HEAD ZONES BANDS RATES
                 "  - {service: voice, zone: dom, band: peak, price: 0.20, charge_class: ~}\n",
                 CDR_FORMAT, 19, 72, "charge_class has no value");
}

/* A free zone's events are of class free: it may not declare one. */
Test(plan_bad, charge_class_on_free_zone)
{
    expect_exact(
        HEAD "zones:\n"
             "  - {name: dom, prefixes: [\"86\"]}\n"
             "  - {name: intl, prefixes: [\"1\", \"44\"]}\n"
             "  - {name: free, kind: free, charge_class: data, numbers: [\"10086\"]}\n" BANDS RATES,
        CDR_FORMAT, 11, 44,
        "zone 'free' is of kind free: its events are of class free, it takes no "
        "charge_class");
}

/* The key is listed among a zone's and a rate's keys. */
Test(plan_bad, unknown_key_lists_charge_class)
{
    expect_exact(HEAD "zones:\n"
                      "  - {name: dom, class: data, prefixes: [\"86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 9, 17,
                 "unknown key 'class' in zone (expected one of: name, kind, prefixes, numbers, "
                 "networks, charge_class, description)");
    expect_exact(HEAD ZONES BANDS RATES
                 "  - {service: voice, zone: dom, price: 0.20, class: data}\n",
                 CDR_FORMAT, 19, 46,
                 "unknown key 'class' in rate (expected one of: service, direction, zone, zones, "
                 "band, bands, connect_fee, price, per, increments, tiers, min_charge, max_charge, "
                 "rounding, round_to, charge_class, description)");
}

Test(plan_bad, unknown_zone_kind)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, kind: offnet, prefixes: [\"86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 9, 23, "unknown zone kind 'offnet'");
}

Test(plan_bad, prefix_in_two_zones)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefixes: [\"86\"]}\n"
                      "  - {name: intl, prefixes: [\"1\", \"86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 10, 34,
                 "prefix '86' is in two zones: 'dom' (at line 9, column 28) and 'intl'");
}

Test(plan_bad, number_twice_in_one_zone)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefixes: [\"86\"]}\n"
                      "  - {name: free, kind: free, numbers: [\"10086\", \"110\", \"10086\"]}\n"
                      "  - {name: intl, prefixes: [\"1\"]}\n" BANDS RATES,
                 CDR_FORMAT, 10, 56, "number '10086' is listed twice in zone 'free'");
}

Test(plan_bad, prefix_not_digits)
{
    EXPECT_ERROR(HEAD "zones:\n"
                      "  - {name: dom, prefixes: [\"+86\"]}\n" BANDS RATES,
                 CDR_FORMAT, 9, 28, "prefix '+86' must be decimal digits only");
}

Test(plan_bad, roaming_zone_with_prefixes)
{
    EXPECT_ERROR(HEAD ZONES "  - {name: eu, kind: roaming, prefixes: [\"33\"]}\n" BANDS RATES,
                 CDR_FORMAT, 12, 31, "it takes networks, not prefixes");
}

Test(plan_bad, bad_network)
{
    EXPECT_ERROR(HEAD ZONES
                 "  - {name: eu, kind: roaming, networks: [\"262-*\", \"46-00\"]}\n" BANDS RATES,
                 CDR_FORMAT, 12, 51, "'46-00' is not a network");
}

Test(plan_bad, roaming_network_is_home)
{
    EXPECT_ERROR(HEAD "home_networks: [\"460-*\"]\n" ZONES
                      "  - {name: cn, kind: roaming, networks: [\"460-01\"]}\n" BANDS RATES,
                 CDR_FORMAT, 13, 42, "network '460-01' of roaming zone 'cn' is a home network");
}

Test(plan_bad, too_many_zones)
{
    char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", HEAD "zones:\n  - {name: dom}\n");
    for (int i = 1; i <= 64; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "  - {name: z%d}\n", i);
    snprintf(text + n, sizeof text - n, "%s", BANDS RATES);
    EXPECT_ERROR(text, CDR_LIMIT, 73, 5, "too many zones (at most 64)");
}

Test(plan_bad, holiday_not_a_date)
{
    EXPECT_ERROR(HEAD ZONES "holidays: [2026-10-01, 2026-02-30]\n" BANDS RATES, CDR_RANGE, 12, 24,
                 "holiday '2026-02-30' is not a real date");
}

Test(plan_bad, holiday_twice)
{
    EXPECT_ERROR(HEAD ZONES "holidays: [2026-10-01, 2026-10-02, 2026-10-01]\n" BANDS RATES,
                 CDR_FORMAT, 12, 36,
                 "holiday 2026-10-01 is listed twice (first at line 12, "
                 "column 12)");
}

Test(plan_bad, overlapping_bands)
{
    EXPECT_ERROR(HEAD ZONES "bands:\n"
                            "  - {name: peak, days: [weekdays], from: \"08:00\", to: \"20:00\"}\n"
                            "  - {name: off, days: [weekdays], from: \"19:00\", to: \"08:00\"}\n"
                            "  - {name: off, days: [weekend, holiday]}\n" RATES,
                 CDR_FORMAT, 14, 5, "band 'off' overlaps band 'peak' on mon at 19:00");
}

Test(plan_bad, bands_leave_a_gap)
{
    EXPECT_ERROR(HEAD ZONES "bands:\n"
                            "  - {name: peak, days: [weekdays], from: \"08:00\", to: \"20:00\"}\n"
                            "  - {name: off, days: [weekdays], from: \"20:00\", to: \"07:30\"}\n"
                            "  - {name: off, days: [weekend, holiday]}\n" RATES,
                 CDR_FORMAT, 12, 1, "bands leave mon 07:30-08:00 uncovered");
}

Test(plan_bad, bands_miss_holiday)
{
    EXPECT_ERROR(HEAD ZONES "bands:\n"
                            "  - {name: all, days: [weekdays, weekend]}\n" RATES,
                 CDR_FORMAT, 12, 1, "bands leave holiday 00:00-24:00 uncovered");
}

Test(plan_bad, bad_time_of_day)
{
    EXPECT_ERROR(HEAD ZONES "bands:\n"
                            "  - {name: all, days: \"*\", from: \"25:00\"}\n" RATES,
                 CDR_RANGE, 13, 34, "from '25:00' is not a time of day");
}

Test(plan_bad, unknown_day)
{
    EXPECT_ERROR(HEAD ZONES "bands:\n"
                            "  - {name: all, days: [mon, tues]}\n" RATES,
                 CDR_FORMAT, 13, 29, "unknown day 'tues'");
}

Test(plan_bad, missing_mo_rate)
{
    EXPECT_ERROR(HEAD ZONES BANDS "rates:\n"
                                  "  - {service: voice, zone: dom, price: 0.10}\n"
                                  "  - {service: data, zones: \"*\", price: 1.00}\n",
                 CDR_FORMAT, 16, 1, "no mo rate for voice in zone 'intl', band 'peak'");
}

Test(plan_bad, rate_defined_twice)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: voice, zone: dom, price: 0.20}\n"
                                        "  - {service: voice, zones: [intl, dom], price: 0.30}\n",
                 CDR_FORMAT, 20, 5,
                 "rate for voice mo in zone 'dom', band 'peak' is defined twice (also at line 19, "
                 "column 5)");
}

Test(plan_bad, rate_unknown_zone)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: voice, zones: [dom, mars], price: 1}\n",
                 CDR_FORMAT, 19, 35, "unknown zone 'mars'");
}

Test(plan_bad, rate_unknown_band)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: voice, zone: dom, band: night, price: 1}\n",
                 CDR_FORMAT, 19, 39, "unknown band 'night'");
}

Test(plan_bad, rate_service_not_offered)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: sms, zone: dom, price: 0.10}\n", CDR_FORMAT,
                 19, 15, "service 'sms' is not offered by this plan");
}

Test(plan_bad, rate_on_free_zone)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: voice, zone: free, price: 0.10}\n",
                 CDR_FORMAT, 19, 28, "zone 'free' is of kind free");
}

Test(plan_bad, rate_missing_price)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "  - {service: voice, zone: dom, direction: mt}\n",
                 CDR_FORMAT, 19, 5, "rate: missing required key 'price'");
}

Test(plan_bad, tiers_not_ascending)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - service: voice\n"
                 "    direction: mt\n"
                 "    zones: \"*\"\n"
                 "    price: 0.10\n"
                 "    tiers: [{from: 10min, price: 0.05}, {from: 300, price: 0.01}]\n",
                 CDR_FORMAT, 23, 48, "tiers must ascend: from 300 does not follow 600");
}

Test(plan_bad, increments_of_zero)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, increments: 60/0}\n",
                 CDR_RANGE, 19, 71, "the first and next increments must be at least 1");
}

Test(plan_bad, per_of_zero)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, per: 0s}\n",
                 CDR_RANGE, 19, 64, "per must be at least 1 base unit");
}

Test(plan_bad, unit_does_not_apply)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, per: 1MB}\n",
                 CDR_FORMAT, 19, 64, "unit 'MB' does not apply to voice");
}

Test(plan_bad, max_below_min)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, min_charge: 1.00,"
                 " max_charge: 0.50}\n",
                 CDR_RANGE, 19, 89, "max_charge is below min_charge");
}

Test(plan_bad, max_charge_not_whole_quanta)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, max_charge: 0.995,"
                 " round_to: 0.01}\n",
                 CDR_RANGE, 19, 71, "max_charge 0.995 is not a whole multiple of round_to");
}

Test(plan_bad, bad_rounding)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "  - {service: voice, direction: mt, zones: \"*\", price: 0, rounding: nearest}\n",
                 CDR_FORMAT, 19, 69, "unknown rounding 'nearest'");
}

Test(plan_bad, bundle_unknown_zone)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "bundles:\n"
                 "  - {name: b, service: voice, zone: moon, units: 100min}\n",
                 CDR_FORMAT, 20, 37, "unknown zone 'moon'");
}

Test(plan_bad, bundle_bad_units)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES "bundles:\n"
                                        "  - {name: b, service: data, zone: dom, units: 10XB}\n",
                 CDR_FORMAT, 20, 48, "unit 'XB' does not apply to data");
}

Test(plan_bad, pool_with_units)
{
    EXPECT_ERROR(HEAD ZONES BANDS RATES
                 "bundles:\n"
                 "  - {name: p, service: data, zone: dom, pool: true, units: 1GB}\n",
                 CDR_FORMAT, 20, 53, "bundle 'p' is a pool");
}

Test(plan_bad, too_many_bundles)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", HEAD ZONES BANDS RATES "bundles:\n");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "  - {name: b%d, service: voice, zone: dom, units: 10min}\n", i);
    EXPECT_ERROR(text, CDR_LIMIT, 36, 5, "too many bundles (at most 16)");
}

/* ---- bundle units --------------------------------------------------------------------------- */

/* A plan offering every service, with one bundle of service svc and units `units` at line 19;
 * the units value starts at column 44 + strlen(svc). */
static int compile_bundle(const char *svc, const char *units, cdr_plan **pl, cdr_diag *dg)
{
    char text[2048];
    snprintf(text, sizeof text,
             "plan: u\nversion: 1\neffective_from: 2026-01-01T00:00:00Z\ncurrency: EUR\n"
             "timezone: UTC\nservices: [voice, sms, mms, data, video]\nhome_zone: dom\n"
             "zones:\n  - {name: dom, prefixes: [\"49\"]}\n"
             "bands:\n  - {name: all, days: \"*\"}\n"
             "rates:\n"
             "  - {service: voice, zones: \"*\", price: 0.10}\n"
             "  - {service: sms, zones: \"*\", price: 0.10}\n"
             "  - {service: mms, zones: \"*\", price: 0.10}\n"
             "  - {service: data, zones: \"*\", price: 0.10}\n"
             "  - {service: video, zones: \"*\", price: 0.10}\n"
             "bundles:\n"
             "  - {name: b, service: %s, zone: dom, units: %s}\n",
             svc, units);
    return cdr_plan_compile_text(text, strlen(text), "bad.yaml", pl, dg);
}

Test(plan_units, accepted_forms)
{
    static const struct {
        const char *svc, *units;
        uint64_t base;
    } cases[] = {
        {"voice", "500min", 30000},
        {"voice", "90s", 90},
        {"voice", "2h", 7200},
        {"voice", "1.5min", 90},
        {"voice", "0.5h", 1800},
        {"video", "30min", 1800},
        {"data", "10GB", 10737418240ull},
        {"data", "500MB", 524288000},
        {"data", "1.5GB", 1610612736},
        {"data", "512KB", 524288},
        {"data", "100B", 100},
        {"data", "1TB", 1099511627776ull},
        {"data", "0.25MB", 262144},
        {"sms", "100sms", 100},
        {"sms", "100", 100},
        {"mms", "20mms", 20},
        {"mms", "20", 20},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_plan *pl = NULL;
        cdr_diag dg;
        char b[1024];
        const int rc = compile_bundle(cases[i].svc, cases[i].units, &pl, &dg);
        cr_assert_eq(rc, 0, "%s %s: %s", cases[i].svc, cases[i].units,
                     cdr_diag_format(&dg, b, sizeof b));
        cr_assert_eq(pl->pl_bundles[0].bu_units, cases[i].base, "%s %s: %llu", cases[i].svc,
                     cases[i].units, (unsigned long long)pl->pl_bundles[0].bu_units);
        cdr_plan_free(pl);
    }
}

Test(plan_units, refused_forms)
{
    static const struct {
        const char *svc, *units;
        int code;
        const char *msg;
    } cases[] = {
        {"voice", "500", CDR_FORMAT,
         "bundle 'b': units '500' has no unit: bundle units for voice need one, such as 500min "
         "or 500s (s, min, h)"},
        {"video", "30", CDR_FORMAT,
         "bundle 'b': units '30' has no unit: bundle units for video need one, such as 30min or "
         "30s (s, min, h)"},
        {"data", "10", CDR_FORMAT,
         "bundle 'b': units '10' has no unit: bundle units for data need one, such as 10GB or "
         "10MB (B, KB, MB, GB, TB; 1 GB = 1024 MB)"},
        {"data", "1.5", CDR_FORMAT,
         "bundle 'b': units '1.5' has no unit: bundle units for data need one, such as 1.5GB or "
         "1.5MB (B, KB, MB, GB, TB; 1 GB = 1024 MB)"},
        {"voice", "10GB", CDR_FORMAT,
         "units '10GB': unit 'GB' does not apply to voice (use s, min or h)"},
        {"data", "500min", CDR_FORMAT,
         "units '500min': unit 'min' does not apply to data (use B, KB, MB, GB or TB, where 1 KB "
         "= 1024 bytes)"},
        {"sms", "100mms", CDR_FORMAT,
         "units '100mms': unit 'mms' does not apply to sms (use sms, or a plain count of "
         "messages)"},
        {"mms", "5min", CDR_FORMAT,
         "units '5min': unit 'min' does not apply to mms (use mms, or a plain count of "
         "messages)"},
        {"voice", "500 min", CDR_FORMAT,
         "units '500 min': write the unit right after the number, without a blank (such as "
         "500min)"},
        {"voice", "min", CDR_FORMAT,
         "units 'min' is not a quantity (a number with a unit; use s, min or h)"},
        {"voice", "5.min", CDR_FORMAT,
         "units '5.min' is not a quantity (a number with a unit; use s, min or h)"},
        {"voice", "1.3s", CDR_RANGE, "units '1.3s' is not a whole number of seconds"},
        {"data", "0.1GB", CDR_RANGE, "units '0.1GB' is not a whole number of bytes"},
        {"sms", "1.5", CDR_RANGE, "units '1.5' is not a whole number of messages"},
        {"data", "1.1234567GB", CDR_RANGE, "units '1.1234567GB' has more than six decimals"},
        {"voice", "0min", CDR_RANGE, "units must be at least 1 base unit, not '0min'"},
        {"data", "20000000TB", CDR_RANGE, "units '20000000TB' is too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_plan *pl = (cdr_plan *)&pl;
        cdr_diag dg;
        const int rc = compile_bundle(cases[i].svc, cases[i].units, &pl, &dg);
        cr_assert_eq(rc, cases[i].code, "%s %s: %s %s", cases[i].svc, cases[i].units,
                     cdr_err_name(rc), dg.dg_msg);
        cr_assert_null(pl);
        cr_assert_str_eq(dg.dg_file, "bad.yaml");
        cr_assert_eq(dg.dg_line, 19, "%s %s", cases[i].svc, cases[i].units);
        cr_assert_eq(dg.dg_column, 44 + (int)strlen(cases[i].svc), "%s %s: column %d", cases[i].svc,
                     cases[i].units, dg.dg_column);
        cr_assert_str_eq(dg.dg_msg, cases[i].msg);
    }
}

Test(plan_units, rates_keep_bare_base_units)
{
    /* per, increments and tier "from" still take a bare number of base units (60/6 is the usual
     * way to write increments), and decimals with a unit. */
    cdr_plan *pl =
        compile_ok(HEAD ZONES BANDS "rates:\n"
                                    "  - {service: voice, zones: \"*\", price: 0.10, per: 60,"
                                    " increments: 30/6, tiers: [{from: 1.5min, price: 0.05}]}\n"
                                    "  - {service: data, zones: \"*\", price: 1.00, per: 0.5MB,"
                                    " increments: 1024/512B}\n");
    cr_assert_eq(pl->pl_rates[0].ra_unit, 60);
    cr_assert_eq(pl->pl_rates[0].ra_first, 30);
    cr_assert_eq(pl->pl_rates[0].ra_next, 6);
    cr_assert_eq(pl->pl_rates[0].ra_tiers[1].ti_from, 90);
    cr_assert_eq(pl->pl_rates[1].ra_unit, 524288);
    cr_assert_eq(pl->pl_rates[1].ra_first, 1024);
    cr_assert_eq(pl->pl_rates[1].ra_next, 512);
    cdr_plan_free(pl);
}

Test(plan_units, format_reads_back)
{
    static const struct {
        int svc;
        uint64_t units;
        const char *text;
    } cases[] = {
        {CDR_SVC_VOICE, 30000, "500min"},
        {CDR_SVC_VOICE, 90, "90s"},
        {CDR_SVC_VOICE, 18000, "300min"},
        {CDR_SVC_VIDEO, 60, "1min"},
        {CDR_SVC_DATA, 10737418240ull, "10GB"},
        {CDR_SVC_DATA, 1610612736, "1536MB"},
        {CDR_SVC_DATA, 7, "7B"},
        {CDR_SVC_DATA, 1099511627776ull, "1TB"},
        {CDR_SVC_SMS, 100, "100sms"},
        {CDR_SVC_MMS, 20, "20mms"},
        {CDR_SVC_VOICE, 0, "0s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        cr_assert_str_eq(cdr_plan_units_format(cases[i].svc, cases[i].units, buf, sizeof buf),
                         cases[i].text);
        if (cases[i].units == 0)
            continue;
        cdr_plan *pl = NULL;
        cdr_diag dg;
        cr_assert_eq(compile_bundle(cdr_service_name(cases[i].svc), buf, &pl, &dg), 0, "%s",
                     dg.dg_msg);
        cr_assert_eq(pl->pl_bundles[0].bu_units, cases[i].units);
        cdr_plan_free(pl);
    }
    cr_assert_str_eq(cdr_plan_zone_kind_name(CDR_ZONE_ROAMING), "roaming");
    cr_assert_str_eq(cdr_plan_zone_kind_name(99), "?");
    cr_assert_str_eq(cdr_plan_daytype_name(CDR_DAYTYPE_HOLIDAY), "holiday");
    cr_assert_str_eq(cdr_plan_daytype_name(-1), "?");
}

/* ---- YAML errors in plain language ---------------------------------------------------------- */

/* Each: the advice and libyaml's own text, at the position of the offending character. */
Test(plan_yaml_advice, unquoted_star)
{
    EXPECT_ERROR("plan: t\nversion: 1\nzones: *\n", CDR_PARSE, 3, 8,
                 "YAML syntax: quote values that start with * (write '*' or \"*\"); an unquoted "
                 "* starts a YAML alias, which names an anchor (&name) defined earlier (libyaml: "
                 "while scanning an alias: did not find expected alphabetic or numeric "
                 "character)");
    EXPECT_ERROR(HEAD ZONES BANDS "rates:\n  - {service: voice, zones: *, price: 0.10}\n",
                 CDR_PARSE, 17, 29, "quote values that start with * (write '*' or \"*\")");
    EXPECT_ERROR(HEAD ZONES BANDS "rates:\n  - {service: voice, zones: [*], price: 0.10}\n",
                 CDR_PARSE, 17, 30, "while scanning an alias");
}

Test(plan_yaml_advice, undefined_alias)
{
    EXPECT_ERROR("plan: t\nzones: *dom\n", CDR_PARSE, 2, 8,
                 "YAML syntax: quote values that start with * (write '*' or \"*\"); an unquoted "
                 "* starts a YAML alias, which names an anchor (&name) defined earlier (libyaml: "
                 "found undefined alias)");
}

Test(plan_yaml_advice, unquoted_ampersand)
{
    EXPECT_ERROR("plan: t\ndescription: &\n", CDR_PARSE, 2, 14,
                 "YAML syntax: quote values that start with & (write \"&...\"); an unquoted & "
                 "starts a YAML anchor (libyaml: while scanning an anchor: did not find expected "
                 "alphabetic or numeric character)");
}

Test(plan_yaml_advice, tabs)
{
    EXPECT_ERROR("plan: t\nzones:\n\t- {name: dom}\n", CDR_PARSE, 3, 1,
                 "YAML syntax: YAML does not allow tabs for indentation: indent with spaces "
                 "(libyaml: while scanning for the next token: found character that cannot "
                 "start any token)");
    EXPECT_ERROR("plan: t\n\tversion: 1\n", CDR_PARSE, 2, 1,
                 "YAML does not allow tabs for indentation: indent with spaces (libyaml: while "
                 "scanning a plain scalar at line 1, column 7: found a tab character that "
                 "violates indentation)");
}

Test(plan_yaml_advice, reserved_characters)
{
    EXPECT_ERROR("plan: t\ndescription: @home\n", CDR_PARSE, 2, 14,
                 "YAML syntax: quote values that start with @ or ` (write \"@...\"): YAML "
                 "reserves these characters (libyaml: while scanning for the next token: found "
                 "character that cannot start any token)");
    EXPECT_ERROR("plan: t\ndescription: `x`\n", CDR_PARSE, 2, 14,
                 "quote values that start with @ or `");
    EXPECT_ERROR("plan: t\ndescription: %x\n", CDR_PARSE, 2, 14,
                 "quote values that start with % (write \"%...\")");
    EXPECT_ERROR("plan: t\ndescription: |x\n", CDR_PARSE, 2, 15,
                 "quote values that start with | or > (write \"|...\")");
}

Test(plan_yaml_advice, colon_in_value)
{
    EXPECT_ERROR("plan: t\ndescription: price: 1.00\n", CDR_PARSE, 2, 19,
                 "YAML syntax: a ':' followed by a blank inside an unquoted value, or a key "
                 "indented under a value: quote the value (write \"a: b\"), or align the key with "
                 "the keys above it (libyaml: mapping values are not allowed in this context)");
}

Test(plan_yaml_advice, structure)
{
    EXPECT_ERROR("plan: t\nversion\ncurrency: EUR\n", CDR_PARSE, 2, 1,
                 "this line is neither 'key: value' nor a list entry: add the ': ' after the key");
    EXPECT_ERROR("plan: t\nzones:\n  - a\n - b\n", CDR_PARSE, 4, 2,
                 "a '- ' list entry where a key was expected");
    EXPECT_ERROR("plan: t\nzones:\n  a: 1\n b: 2\n", CDR_PARSE, 4, 2,
                 "check the indentation: the keys of one mapping must start in the same column");
    EXPECT_ERROR("plan: t\ncurrency: {a: 1\nx: 2\n", CDR_PARSE, 3, 2,
                 "a { mapping } is not closed: add the '}'");
    EXPECT_ERROR("plan: t\nservices: [voice, , sms]\n", CDR_PARSE, 2, 19,
                 "an empty item in a [ ] or { } list (two commas in a row?)");
    EXPECT_ERROR("plan: t\ndescription: \"open\n", CDR_PARSE, 2, 14,
                 "this quoted value is not closed: add the closing quote (libyaml: while scanning "
                 "a quoted scalar: found unexpected end of stream)");
    EXPECT_ERROR("plan: t\ndescription: \"a\\qb\"\n", CDR_PARSE, 2, 16,
                 "a backslash inside \"double quotes\" starts an escape");
    EXPECT_ERROR("plan: t\ncurrency: EUR\n- x\n", CDR_PARSE, 3, 1,
                 "a '- ' list entry where a key was expected");
    EXPECT_ERROR("plan: t\ncurrency: - EUR\n", CDR_PARSE, 2, 11,
                 "a '- ' list entry where a value was expected");
}

Test(plan_yaml_advice, not_utf8)
{
    EXPECT_ERROR("plan: t\ndescription: \xff\n", CDR_PARSE, 2, 14,
                 "YAML syntax: the file is not plain UTF-8 text: save it as UTF-8, without control "
                 "characters (libyaml: invalid leading UTF-8 octet)");
}
