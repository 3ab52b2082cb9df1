/* test_fraud.c - fraud rules: the rules file, the sliding window, impossible travel, the state's
 * encoding and the store (docs/fraud-rules.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_fraud.h"
#include "test_dirs.h"

static const char sample[] = "rules:\n"
                             "  - name: intl-minutes\n"
                             "    kind: units\n"
                             "    service: voice\n"
                             "    zones: [international, world]\n"
                             "    window: 1h\n"
                             "    threshold: 300min\n"
                             "  - name: sms-burst\n"
                             "    kind: units\n"
                             "    service: sms\n"
                             "    window: 1min\n"
                             "    threshold: 30\n"
                             "  - name: roaming-data\n"
                             "    kind: units\n"
                             "    service: data\n"
                             "    direction: any\n"
                             "    zone_kind: roaming\n"
                             "    window: 1h\n"
                             "    threshold: 500MB\n"
                             "  - name: impossible-travel\n"
                             "    kind: countries\n"
                             "    within: 2h\n"
                             "    home: \"460\"\n";

static cdr_fraud_rules *parse_ok(const char *text)
{
    cdr_fraud_rules *frs = NULL;
    cdr_diag dg;
    const int rc = cdr_fraud_parse_buf("fraud.yaml", text, strlen(text), &frs, &dg);
    cr_assert_eq(rc, 0, "%s:%d:%d: %s", dg.dg_file, dg.dg_line, dg.dg_column, dg.dg_msg);
    cr_assert_not_null(frs);
    return frs;
}

/* A single-rule file: "rules:\n  - " + body. */
static cdr_fraud_rules *one_rule(const char *body)
{
    char text[1024];
    snprintf(text, sizeof text, "rules:\n  - %s\n", body);
    return parse_ok(text);
}

/* A rated record of one service at time t with units charged in a zone of kind zo_kind. */
typedef struct ev {
    cdr_record cr;
    cdr_rated rr;
    cdr_zone zo;
} ev;

static ev *mk(ev *e, int svc, int dir, cdr_time t, uint64_t units, const char *zone, int kind)
{
    memset(e, 0, sizeof *e);
    strcpy(e->cr.cr_source, "msc1");
    strcpy(e->cr.cr_origin_id, "1");
    strcpy(e->cr.cr_msisdn, "8613800000001");
    e->cr.cr_service = (uint8_t)svc;
    e->cr.cr_direction = (uint8_t)dir;
    e->cr.cr_start = t;
    e->rr.rr_reason = CDR_REASON_NONE;
    e->rr.rr_service = (uint8_t)svc;
    e->rr.rr_units = units;
    snprintf(e->zo.zo_name, sizeof e->zo.zo_name, "%s", zone);
    e->zo.zo_kind = (uint8_t)kind;
    return e;
}

static int eval(const cdr_fraud_rule *fr, cdr_fraud_line *fl, const ev *e, cdr_fraud_hit *h)
{
    return cdr_fraud_eval(fr, fl, &e->cr, &e->rr, &e->zo, h);
}

/* n SMS at times t0, t0 + step, ...; returns the number of hits. */
static int sms_run(const cdr_fraud_rule *fr, cdr_fraud_line *fl, cdr_time t0, cdr_time step, int n)
{
    int hits = 0;
    ev e;
    for (int i = 0; i < n; i++)
        hits +=
            eval(fr, fl, mk(&e, CDR_SVC_SMS, CDR_DIR_MO, t0 + i * step, 1, "domestic", 0), NULL);
    return hits;
}

#define T0 ((cdr_time)1767225600) /* 2026-01-01T00:00:00Z, a multiple of 60 and 3600 */

/* ---- the rules file ------------------------------------------------------------------------- */

Test(fraud, sample_file_compiles)
{
    cdr_fraud_rules *frs = parse_ok(sample);
    cr_assert_eq(frs->frs_nrules, 4);
    const cdr_fraud_rule *im = &frs->frs_rules[0];
    cr_assert_str_eq(im->fr_name, "intl-minutes");
    cr_assert_eq(im->fr_kind, CDR_FRAUD_UNITS);
    cr_assert_eq(im->fr_service, CDR_SVC_VOICE);
    cr_assert_eq(im->fr_directions, 1u << CDR_DIR_MO); /* mo by default */
    cr_assert_eq(im->fr_zone_kinds, (1u << CDR_ZONE_KIND_COUNT) - 1);
    cr_assert_eq(im->fr_nzones, 2);
    cr_assert_str_eq(im->fr_zones[1], "world");
    cr_assert_eq(im->fr_window, 3600);
    cr_assert_eq(im->fr_width, 60);
    cr_assert_eq(im->fr_nbuckets, 60);
    cr_assert_eq(im->fr_threshold, 18000); /* 300min in seconds */
    const cdr_fraud_rule *sb = &frs->frs_rules[1];
    cr_assert_eq(sb->fr_index, 1);
    cr_assert_eq(sb->fr_threshold, 30);
    cr_assert_eq(sb->fr_width, 1);
    cr_assert_eq(sb->fr_nbuckets, 60);
    const cdr_fraud_rule *rd = &frs->frs_rules[2];
    cr_assert_eq(rd->fr_threshold, 500ull << 20);
    cr_assert_eq(rd->fr_directions, 3);
    cr_assert_eq(rd->fr_zone_kinds, 1u << CDR_ZONE_ROAMING);
    const cdr_fraud_rule *it = &frs->frs_rules[3];
    cr_assert_eq(it->fr_kind, CDR_FRAUD_COUNTRIES);
    cr_assert_eq(it->fr_window, 7200);
    cr_assert_eq(it->fr_home_mcc, 460);
    cdr_fraud_rules_free(frs);
}

Test(fraud, bucket_width_rounds_up)
{
    /* 90 s: buckets of 2 s, 45 of them; 61 s: 31 buckets of 2 s (62 s); 7 s: 7 buckets of 1 s */
    static const struct {
        const char *window;
        uint32_t width, n;
    } cases[] = {{"90s", 2, 45}, {"61s", 2, 31}, {"7s", 1, 7}, {"1d", 1440, 60}, {"1.5h", 90, 60}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{name: r, kind: units, service: sms, window: %s, threshold: 1}", cases[i].window);
        cdr_fraud_rules *frs = one_rule(body);
        cr_assert_eq(frs->frs_rules[0].fr_width, cases[i].width, "%s", cases[i].window);
        cr_assert_eq(frs->frs_rules[0].fr_nbuckets, cases[i].n, "%s", cases[i].window);
        cdr_fraud_rules_free(frs);
    }
}

Test(fraud, malformed_files_exact_errors)
{
    static const struct {
        const char *text;
        int code;
        const char *where_msg; /* "line:col: message" */
    } cases[] = {
        {"rules:\n  - name: a\n    kind: units\n    service: sms\n    windw: 1h\n"
         "    threshold: 3\n",
         CDR_FORMAT,
         "5:5: unknown key 'windw' in a units rule (expected one of: name, kind, service, "
         "direction, zone_kind, zone, zones, window, threshold, description)"},
        {"rules:\n  - name: a\n    kind: units\n    service: sms\n    window: 1 hour\n"
         "    threshold: 3\n",
         CDR_FORMAT,
         "5:13: window must be a duration like 1h or 90s (a number and s, min, h or d), not '1 "
         "hour'"},
        {"rules:\n  - {name: a, kind: units, service: sms, window: 1m, threshold: 3}\n", CDR_FORMAT,
         "2:50: window '1m': write minutes as min (such as 1min); m is not a unit"},
        {"rules:\n  - {name: a, kind: units, service: sms, window: 0s, threshold: 3}\n", CDR_RANGE,
         "2:50: window must be at least 1s, not '0s'"},
        {"rules:\n  - {name: a, kind: units, service: sms, window: 40d, threshold: 3}\n", CDR_RANGE,
         "2:50: window '40d' is longer than 31 days"},
        {"rules:\n  - {name: a, kind: units, service: sms, window: 1h, threshold: -5}\n", CDR_RANGE,
         "2:65: threshold must be greater than 0, not '-5'"},
        {"rules:\n  - {name: a, kind: units, service: voice, window: 1h, threshold: 0min}\n",
         CDR_RANGE, "2:67: threshold must be greater than 0, not '0min'"},
        {"rules:\n  - {name: a, kind: units, service: voice, window: 1h, threshold: 300}\n",
         CDR_FORMAT,
         "2:67: threshold '300' is not a quantity of voice (such as 300min, 90s or 2h)"},
        {"rules:\n  - {name: a, kind: units, service: data, window: 1h, threshold: 500mb}\n",
         CDR_FORMAT,
         "2:66: threshold '500mb' is not a quantity of data (such as 500MB or 1.5GB, where 1 KB = "
         "1024 bytes)"},
        {"rules:\n  - {name: a, kind: units, service: voice, zone_kind: international,\n"
         "     window: 1h, threshold: 300min}\n",
         CDR_FORMAT,
         "2:55: unknown zone kind 'international' (expected any, normal, onnet, free, premium or "
         "roaming; to count a zone of the plans such as international, write zone: "
         "international)"},
        {"rules:\n  - {name: a, kind: units, service: sms, window: 1h, threshold: 3}\n"
         "  - {name: b, kind: countries, within: 1h}\n"
         "  - {name: a, kind: countries, within: 2h}\n",
         CDR_FORMAT, "4:12: duplicate rule name 'a' (first at line 2, column 12)"},
        {"rules:\n  - {name: a, kind: velocity, window: 1h}\n", CDR_FORMAT,
         "2:21: unknown kind 'velocity' (expected units or countries)"},
        {"rules:\n  - {name: a, kind: units, service: sms, threshold: 3}\n", CDR_FORMAT,
         "2:5: rule 'a' has no window"},
        {"rules:\n  - {name: a, kind: countries, within: 1h, threshold: 3}\n", CDR_FORMAT,
         "2:44: unknown key 'threshold' in a countries rule (expected one of: name, kind, within, "
         "home, description)"},
        {"rules:\n  - {name: a, kind: countries, within: 1h, home: 46}\n", CDR_FORMAT,
         "2:50: home must be the 3-digit MCC of the home country, such as \"460\", not '46'"},
        {"this is: not: yaml\n", CDR_PARSE,
         "1:13: YAML syntax: a ':' followed by a blank inside an unquoted value, or a key "
         "indented under a value: quote the value (write \"a: b\"), or align the key with the keys "
         "above it (libyaml: mapping values are not allowed in this context)"},
        {"", CDR_FORMAT, "1:1: empty fraud rules file (write rules: and a list of rules)"},
        {"# only a comment\n", CDR_FORMAT,
         "1:1: empty fraud rules file (write rules: and a list of rules)"},
        {"rules:\n\t- name: a\n", CDR_PARSE,
         "2:1: YAML syntax: YAML does not allow tabs for indentation: indent with spaces "
         "(libyaml: while scanning for the next token: found character that cannot start any "
         "token)"},
        {"rules:\n  - {name: a, kind: countries, within: 1h}\n---\nrules: []\n", CDR_FORMAT,
         "4:1: a second YAML document: a fraud rules file holds one"},
        {"rule:\n  - {name: a, kind: countries, within: 1h}\n", CDR_FORMAT,
         "1:1: unknown key 'rule' in the fraud rules file (expected one of: rules, description)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_fraud_rules *frs = (cdr_fraud_rules *)1;
        cdr_diag dg;
        const int rc =
            cdr_fraud_parse_buf("fraud.yaml", cases[i].text, strlen(cases[i].text), &frs, &dg);
        char got[1024];
        snprintf(got, sizeof got, "%d:%d: %s", dg.dg_line, dg.dg_column, dg.dg_msg);
        cr_expect_eq(rc, cases[i].code, "case %zu: rc %d (%s)", i, rc, got);
        cr_expect_null(frs, "case %zu", i);
        cr_expect_str_eq(dg.dg_file, "fraud.yaml");
        cr_expect_str_eq(got, cases[i].where_msg, "case %zu: got %s", i, got);
        char full[1200];
        cr_expect_eq(strncmp(cdr_diag_format(&dg, full, sizeof full), "fraud.yaml:", 11), 0);
    }
}

Test(fraud, more_than_32_rules_refused)
{
    char text[8192] = "rules:\n";
    for (int i = 0; i <= CDR_FRAUD_MAX_RULES; i++) {
        char line[96];
        snprintf(line, sizeof line, "  - {name: r%d, kind: countries, within: 1h}\n", i);
        strcat(text, line);
    }
    cdr_fraud_rules *frs;
    cdr_diag dg;
    cr_assert_eq(cdr_fraud_parse_buf("fraud.yaml", text, strlen(text), &frs, &dg), CDR_LIMIT);
    cr_assert_eq(dg.dg_line, 34);
    cr_assert_eq(dg.dg_column, 5);
    cr_assert_str_eq(dg.dg_msg, "more than 32 rules");
    /* 32 are fine */
    *strstr(text, "  - {name: r32") = '\0';
    cr_assert_eq(cdr_fraud_parse_buf("fraud.yaml", text, strlen(text), &frs, &dg), 0, "%s",
                 dg.dg_msg);
    cr_assert_eq(frs->frs_nrules, 32);
    cdr_fraud_rules_free(frs);
}

Test(fraud, file_errors_name_the_path)
{
    char dir[4096], path[4200];
    test_tmpdir(dir, sizeof dir, "fraud");
    snprintf(path, sizeof path, "%s/fraud.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("rules:\n  - name: x\n    kind: units\n    service: sms\n    window: 1h\n"
          "    threshold: 30\n    zone: eu\n    zones: [world]\n",
          f);
    fclose(f);
    cdr_fraud_rules *frs;
    cdr_diag dg;
    cr_assert_eq(cdr_fraud_parse_file(path, &frs, &dg), CDR_FORMAT);
    char buf[1024], want[4400];
    snprintf(want, sizeof want, "%s:8:12: give zone or zones, not both", path);
    cr_assert_str_eq(cdr_diag_format(&dg, buf, sizeof buf), want);
    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    cr_assert_eq(cdr_fraud_parse_file(path, &frs, &dg), CDR_EIO);
    rm_rf(dir);
}

/* ---- units rules ---------------------------------------------------------------------------- */

Test(fraud, exactly_at_threshold_no_hit_one_past_hits)
{
    cdr_fraud_rules *frs =
        one_rule("{name: sms-burst, kind: units, service: sms, window: 1min, threshold: 30}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    /* 30 SMS in 30 s: the sum equals the threshold, no hit */
    cr_assert_eq(sms_run(fr, &fl, T0, 1, 30), 0);
    /* the 31st within the minute: hit */
    ev e;
    cdr_fraud_hit h;
    memset(&h, 0xAB, sizeof h);
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_SMS, CDR_DIR_MO, T0 + 45, 1, "domestic", 0), &h), 1);
    cr_assert_eq(h.fh_rule, 0);
    cr_assert_str_eq(h.fh_name, "sms-burst");
    cr_assert_eq(h.fh_kind, CDR_FRAUD_UNITS);
    cr_assert_eq(h.fh_sum, 31);
    cr_assert_eq(h.fh_threshold, 30);
    cr_assert_eq(h.fh_window_end, T0 + 45);
    cr_assert_eq(h.fh_window_start, T0 + 45 - 59); /* 60 buckets of 1 s ending with T0 + 45 */
    cdr_fraud_rules_free(frs);
}

Test(fraud, voice_minutes_hand_computed)
{
    /* 10 min threshold, window 1 h (60 buckets of 60 s) */
    cdr_fraud_rules *frs =
        one_rule("{name: intl, kind: units, service: voice, zone: international, "
                 "window: 1h, threshold: 10min}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    ev e;
    cdr_fraud_hit h;
    /* 240 s at 00:00, 300 s at 00:20, 60 s at 00:40: 600 s = exactly 10 min, no hit */
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0, 240, "international", 0), &h), 0);
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 1200, 300, "international", 0), &h),
                 0);
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 2400, 60, "international", 0), &h), 0);
    /* calls to another zone, or incoming calls, do not count */
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 2500, 999, "domestic", 0), &h), 0);
    cr_assert_eq(
        eval(fr, &fl, mk(&e, CDR_SVC_VOICE, CDR_DIR_MT, T0 + 2500, 999, "international", 0), &h),
        0);
    /* one second more at 00:50: 601 s > 600 s */
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 3000, 1, "international", 0), &h), 1);
    cr_assert_eq(h.fh_sum, 601);
    cr_assert_eq(h.fh_threshold, 600);
    /* the 60 buckets of a minute ending with 00:50's: from 23:51 */
    cr_assert_eq(h.fh_window_start, T0 + 3000 - 59 * 60);
    cr_assert_eq(h.fh_window_end, T0 + 3000);
    cdr_fraud_rules_free(frs);
}

Test(fraud, window_slides_old_buckets_expire)
{
    cdr_fraud_rules *frs =
        one_rule("{name: s, kind: units, service: sms, window: 1min, threshold: 30}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    /* 300 SMS, one every 2 s: 10 minutes of usage, never more than 30 in any minute */
    cr_assert_eq(sms_run(fr, &fl, T0, 2, 300), 0);
    /* 30 at once in the same second after that: the old ones expired (30 in the window
     * including the last one of the run? it is 2 s old: 1 + 30 = 31 would hit, so wait 60 s) */
    cr_assert_eq(sms_run(fr, &fl, T0 + 600 + 60, 0, 30), 0);
    /* a gap longer than the window clears every bucket at once */
    cr_assert_eq(sms_run(fr, &fl, T0 + 100000, 0, 30), 0);
    cr_assert_eq(sms_run(fr, &fl, T0 + 100000, 0, 1), 1);
    cdr_fraud_rules_free(frs);
}

Test(fraud, window_steps_one_bucket)
{
    /* 1h window of 60-s buckets: usage 3599 s apart but in buckets 60 apart is outside */
    cdr_fraud_rules *frs =
        one_rule("{name: v, kind: units, service: voice, window: 1h, threshold: 100s}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    ev e;
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 59, 100, "x", 0), NULL), 0);
    /* T0 + 3600 is bucket 60, T0 + 59 bucket 0: 60 buckets apart, expired (59 + 3541 = 3600) */
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 3600, 1, "x", 0), NULL), 0);
    /* but T0 + 3599 is bucket 59: still in (100 + 1 + 1 > 100 already at 101) */
    cdr_fraud_line_init(&fl, fr);
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0, 100, "x", 0), NULL), 0);
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_VOICE, 0, T0 + 3599, 1, "x", 0), NULL), 1);
    cdr_fraud_rules_free(frs);
}

Test(fraud, once_per_window_then_again)
{
    cdr_fraud_rules *frs =
        one_rule("{name: s, kind: units, service: sms, window: 1min, threshold: 5}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    /* 6 at T0: one hit (at the 6th) */
    cr_assert_eq(sms_run(fr, &fl, T0, 0, 6), 1);
    cr_assert_eq(fl.fl_last_hit, T0);
    /* 50 more within the same minute: no second hit */
    cr_assert_eq(sms_run(fr, &fl, T0 + 1, 1, 50), 0);
    /* at T0 + 59 the window still holds many: still no hit */
    cr_assert_eq(sms_run(fr, &fl, T0 + 59, 0, 10), 0);
    /* at T0 + 60 (hit time + window) the abuse goes on: exactly one more hit */
    cr_assert_eq(sms_run(fr, &fl, T0 + 60, 0, 10), 1);
    cr_assert_eq(fl.fl_last_hit, T0 + 60);
    cdr_fraud_rules_free(frs);
}

Test(fraud, late_records)
{
    cdr_fraud_rules *frs =
        one_rule("{name: s, kind: units, service: sms, window: 1min, threshold: 3}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    cr_assert_eq(sms_run(fr, &fl, T0 + 100, 0, 3), 0);
    /* older than the window: ignored, the state does not change */
    cdr_fraud_line before = fl;
    cr_assert_eq(sms_run(fr, &fl, T0 + 40, 0, 5), 0);
    cr_assert_eq(memcmp(&before, &fl, sizeof fl), 0);
    /* late but within the window: counted in its bucket */
    cdr_fraud_hit h;
    ev e;
    cr_assert_eq(eval(fr, &fl, mk(&e, CDR_SVC_SMS, 0, T0 + 70, 1, "x", 0), &h), 1);
    cr_assert_eq(h.fh_sum, 4);
    cr_assert_eq(h.fh_window_end, T0 + 100); /* the window ends at the newest record */
    cdr_fraud_rules_free(frs);
}

Test(fraud, filters_zone_kind_direction_and_unratable)
{
    cdr_fraud_rules *frs = one_rule("{name: rd, kind: units, service: data, direction: any, "
                                    "zone_kind: [roaming, premium], window: 1h, threshold: 1MB}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    ev e;
    mk(&e, CDR_SVC_DATA, CDR_DIR_MT, T0, 2 << 20, "roam-world", CDR_ZONE_ROAMING);
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, &e.zo), 1);
    e.zo.zo_kind = CDR_ZONE_NORMAL;
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, &e.zo), 0);
    e.zo.zo_kind = CDR_ZONE_PREMIUM;
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, &e.zo), 1);
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, NULL), 0); /* zone unknown */
    e.rr.rr_reason = CDR_REASON_NO_RATE;
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, &e.zo), 0); /* unratable: not counted */
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, NULL, &e.zo), 0);
    e.rr.rr_reason = CDR_REASON_NONE;
    e.cr.cr_service = CDR_SVC_VOICE;
    cr_assert_eq(cdr_fraud_applies(fr, &e.cr, &e.rr, &e.zo), 0);
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    cdr_fraud_line before = fl;
    cr_assert_eq(eval(fr, &fl, &e, NULL), 0);
    cr_assert_eq(memcmp(&before, &fl, sizeof fl), 0); /* not applying leaves the state alone */
    cdr_fraud_rules_free(frs);
}

Test(fraud, changed_rule_resets_state)
{
    cdr_fraud_rules *a =
        one_rule("{name: s, kind: units, service: sms, window: 1min, threshold: 3}");
    cdr_fraud_rules *b =
        one_rule("{name: s, kind: units, service: sms, window: 2min, threshold: 3}");
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, &a->frs_rules[0]);
    cr_assert_eq(sms_run(&a->frs_rules[0], &fl, T0, 0, 3), 0);
    /* under a 2-min window (buckets of 2 s) the old ring means nothing: it starts over */
    cr_assert_eq(sms_run(&b->frs_rules[0], &fl, T0 + 1, 0, 3), 0);
    cr_assert_eq(fl.fl_width, 2);
    cr_assert_eq(sms_run(&b->frs_rules[0], &fl, T0 + 1, 0, 1), 1);
    cdr_fraud_rules_free(a);
    cdr_fraud_rules_free(b);
}

/* ---- countries ------------------------------------------------------------------------------ */

static ev *at(ev *e, uint16_t mcc, cdr_time t)
{
    mk(e, CDR_SVC_VOICE, CDR_DIR_MO, t, 60, "x", 0);
    e->cr.cr_mcc = mcc;
    e->cr.cr_mnc = 1;
    return e;
}

Test(fraud, impossible_travel)
{
    cdr_fraud_rules *frs = one_rule("{name: travel, kind: countries, within: 2h}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    ev e;
    cdr_fraud_hit h;
    cr_assert_eq(eval(fr, &fl, at(&e, 262, T0), &h), 0);        /* Germany */
    cr_assert_eq(eval(fr, &fl, at(&e, 262, T0 + 3000), &h), 0); /* still Germany */
    cr_assert_eq(eval(fr, &fl, at(&e, 0, T0 + 3100), &h), 0);   /* unknown: ignored */
    /* France 7199 s after the last German record: less than 2 h, hit */
    cr_assert_eq(eval(fr, &fl, at(&e, 208, T0 + 3000 + 7199), &h), 1);
    cr_assert_eq(h.fh_kind, CDR_FRAUD_COUNTRIES);
    cr_assert_str_eq(h.fh_name, "travel");
    cr_assert_eq(h.fh_country[0], 262);
    cr_assert_eq(h.fh_country[1], 208);
    cr_assert_eq(h.fh_time[0], T0 + 3000);
    cr_assert_eq(h.fh_time[1], T0 + 3000 + 7199);
    cr_assert_eq(h.fh_sum, 7199);
    cr_assert_eq(h.fh_threshold, 7200);
    cdr_fraud_rules_free(frs);
}

Test(fraud, travel_slow_enough_and_same_country)
{
    cdr_fraud_rules *frs = one_rule("{name: travel, kind: countries, within: 2h}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    ev e;
    cr_assert_eq(eval(fr, &fl, at(&e, 262, T0), NULL), 0);
    /* exactly 2 h later in France: not less than `within`, no hit */
    cr_assert_eq(eval(fr, &fl, at(&e, 208, T0 + 7200), NULL), 0);
    /* 310 and 311 are both the United States, 234 and 235 the United Kingdom */
    cdr_fraud_line_init(&fl, fr);
    cr_assert_eq(eval(fr, &fl, at(&e, 310, T0), NULL), 0);
    cr_assert_eq(eval(fr, &fl, at(&e, 311, T0 + 60), NULL), 0);
    cr_assert_eq(eval(fr, &fl, at(&e, 316, T0 + 120), NULL), 0);
    cr_assert_eq(eval(fr, &fl, at(&e, 234, T0 + 180), NULL), 1);
    cr_assert_eq(eval(fr, &fl, at(&e, 235, T0 + 240), NULL), 0);
    cdr_fraud_rules_free(frs);
}

Test(fraud, travel_home_and_once_per_within)
{
    cdr_fraud_rules *frs = one_rule("{name: t, kind: countries, within: 1h, home: \"460\"}");
    const cdr_fraud_rule *fr = &frs->frs_rules[0];
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, fr);
    ev e;
    cdr_fraud_hit h;
    cr_assert_eq(eval(fr, &fl, at(&e, 0, T0), &h), 0);         /* at home: China */
    cr_assert_eq(eval(fr, &fl, at(&e, 454, T0 + 600), &h), 1); /* Hong Kong 10 min later */
    cr_assert_eq(h.fh_country[0], 460);
    cr_assert_eq(eval(fr, &fl, at(&e, 460, T0 + 900), &h), 0); /* back: same hour, no 2nd hit */
    cr_assert_eq(eval(fr, &fl, at(&e, 454, T0 + 3599), &h), 0);
    cr_assert_eq(eval(fr, &fl, at(&e, 460, T0 + 600 + 3600), &h), 1); /* an hour after the hit */
    cdr_fraud_rules_free(frs);
}

/* ---- the state's encoding ------------------------------------------------------------------- */

Test(fraud, state_round_trip_same_results)
{
    cdr_fraud_rules *frs = parse_ok(sample);
    /* every rule, a state mid-way, encoded and decoded: the same hits afterwards */
    for (uint32_t r = 0; r < frs->frs_nrules; r++) {
        const cdr_fraud_rule *fr = &frs->frs_rules[r];
        cdr_fraud_line a, b;
        cdr_fraud_line_init(&a, fr);
        uint64_t seed = 12345 + r;
        ev e;
        int hits_a = 0, hits_b = 0;
        cdr_time t = T0;
        for (int i = 0; i < 4000; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            /* every 500 records, a burst of 60 SMS one second apart */
            const int burst = i % 500 < 60;
            t += burst ? 1 : 7;
            const int svc = burst                   ? CDR_SVC_SMS
                            : (seed >> 33) % 4 == 0 ? CDR_SVC_DATA
                            : (seed >> 35) % 3 == 0 ? CDR_SVC_SMS
                                                    : CDR_SVC_VOICE;
            const uint64_t units = svc == CDR_SVC_DATA  ? (seed >> 20) % (64 << 20)
                                   : svc == CDR_SVC_SMS ? 1
                                                        : (seed >> 24) % 1800;
            static const uint16_t mccs[] = {0, 460, 454, 262, 208, 310};
            mk(&e, svc, burst ? CDR_DIR_MO : (int)(seed >> 40) % 2,
               t - (burst ? 0 : (cdr_time)((seed >> 44) % 50)), units,
               (seed >> 50) % 2 ? "international" : "domestic",
               (seed >> 52) % 3 ? CDR_ZONE_ROAMING : CDR_ZONE_NORMAL);
            e.cr.cr_mcc = mccs[(seed >> 54) % 6];
            if (i == 2000) {
                uint8_t buf[CDR_FRAUD_LINE_MAX];
                const size_t len = cdr_fraud_line_encode(&a, buf);
                cr_assert_leq(len, CDR_FRAUD_LINE_MAX);
                cr_assert_eq(cdr_fraud_line_decode(buf, len, &b), 0, "rule %u", r);
                uint8_t buf2[CDR_FRAUD_LINE_MAX];
                cr_assert_eq(cdr_fraud_line_encode(&b, buf2), len);
                cr_assert_eq(memcmp(buf, buf2, len), 0);
                /* truncated or extended: refused */
                cr_assert_eq(cdr_fraud_line_decode(buf, len - 1, &b), CDR_FORMAT);
                buf[len] = 0;
                cr_assert_eq(cdr_fraud_line_decode(buf, len + 1, &b), CDR_FORMAT);
                cr_assert_eq(cdr_fraud_line_decode(buf, len, &b), 0);
            }
            cdr_fraud_hit ha, hb;
            const int x = eval(fr, &a, &e, &ha);
            hits_a += x;
            if (i >= 2000) {
                const int y = eval(fr, &b, &e, &hb);
                hits_b += y;
                cr_assert_eq(x, y, "rule %u record %d", r, i);
                if (x)
                    cr_assert_eq(memcmp(&ha, &hb, sizeof ha), 0);
            }
        }
        cr_assert_gt(hits_a, 0, "rule %s never hit: the stream does not test it", fr->fr_name);
        cr_assert_gt(hits_b, 0, "rule %s: no hit after the restore", fr->fr_name);
    }
    cdr_fraud_rules_free(frs);
}

Test(fraud, state_decode_refuses_bad_input)
{
    cdr_fraud_rules *frs =
        one_rule("{name: s, kind: units, service: sms, window: 1min, threshold: 30}");
    cdr_fraud_line fl;
    cdr_fraud_line_init(&fl, &frs->frs_rules[0]);
    cr_assert_eq(sms_run(&frs->frs_rules[0], &fl, T0, 1, 10), 0);
    uint8_t buf[CDR_FRAUD_LINE_MAX];
    const size_t len = cdr_fraud_line_encode(&fl, buf);
    /* version, kind, flags; then 4 + 1 + 8 + 8 + 1 and 10 x (slot, one-byte varint) */
    cr_assert_eq(len, 3 + 22 + 20);
    cr_assert_eq(buf[0], CDR_FRAUD_LINE_VERSION);
    cdr_fraud_line out;
    buf[0] = 2;
    cr_assert_eq(cdr_fraud_line_decode(buf, len, &out), CDR_VERSION);
    buf[0] = CDR_FRAUD_LINE_VERSION;
    buf[7] = 61; /* 61 buckets */
    cr_assert_eq(cdr_fraud_line_decode(buf, len, &out), CDR_FORMAT);
    buf[7] = 60;
    cr_assert_eq(cdr_fraud_line_decode(buf, len, &out), 0);
    cr_assert_eq(cdr_fraud_line_decode(buf, 2, &out), CDR_FORMAT);
    /* an empty state is 3 bytes */
    cdr_fraud_line_init(&fl, &frs->frs_rules[0]);
    cr_assert_eq(cdr_fraud_line_encode(&fl, buf), 3);
    cdr_fraud_rules_free(frs);
}

/* ---- the blob and the store ----------------------------------------------------------------- */

static void rules_eq(const cdr_fraud_rules *a, const cdr_fraud_rules *b)
{
    cr_assert_eq(a->frs_nrules, b->frs_nrules);
    for (uint32_t i = 0; i < a->frs_nrules; i++) {
        const cdr_fraud_rule *x = &a->frs_rules[i], *y = &b->frs_rules[i];
        cr_assert_str_eq(x->fr_name, y->fr_name);
        cr_assert_eq(x->fr_index, y->fr_index);
        cr_assert_eq(x->fr_kind, y->fr_kind);
        cr_assert_eq(x->fr_service, y->fr_service);
        cr_assert_eq(x->fr_directions, y->fr_directions);
        cr_assert_eq(x->fr_zone_kinds, y->fr_zone_kinds);
        cr_assert_eq(x->fr_nzones, y->fr_nzones);
        cr_assert_eq(x->fr_home_mcc, y->fr_home_mcc);
        cr_assert_eq(x->fr_window, y->fr_window);
        cr_assert_eq(x->fr_width, y->fr_width);
        cr_assert_eq(x->fr_nbuckets, y->fr_nbuckets);
        cr_assert_eq(x->fr_threshold, y->fr_threshold);
        for (int z = 0; z < x->fr_nzones; z++)
            cr_assert_str_eq(x->fr_zones[z], y->fr_zones[z]);
    }
}

Test(fraud, blob_round_trip_and_damage)
{
    cdr_fraud_rules *frs = parse_ok(sample);
    static uint8_t blob[CDR_FRAUD_BLOB_MAX];
    const size_t len = cdr_fraud_rules_blob(frs, blob);
    cr_assert_eq(len, 8 + 4 * (32 + 28 + 8 * 32));
    cdr_fraud_rules *back = calloc(1, sizeof *back);
    cdr_diag dg;
    cr_assert_eq(cdr_fraud_rules_from_blob(blob, len, back, &dg), 0, "%s", dg.dg_msg);
    rules_eq(frs, back);
    cr_assert_eq(cdr_fraud_rules_from_blob(blob, len - 1, back, &dg), CDR_FORMAT);
    blob[4] = 9;
    cr_assert_eq(cdr_fraud_rules_from_blob(blob, len, back, &dg), CDR_VERSION);
    cr_assert_str_eq(dg.dg_msg, "fraud rules blob version 9 (this cdrate reads version 1)");
    blob[4] = 1;
    blob[8 + 33] = 7; /* rule 0: kind 7 */
    cr_assert_eq(cdr_fraud_rules_from_blob(blob, len, back, &dg), CDR_FORMAT);
    cr_assert_str_eq(dg.dg_msg, "fraud rules blob: rule 0 is malformed");
    free(back);
    cdr_fraud_rules_free(frs);
}

Test(fraud, store_put_get_round_trip)
{
    char dir[4096];
    test_tmpdir(dir, sizeof dir, "fraud-store");
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cdr_fraud_rules *got = calloc(1, sizeof *got);
    cr_assert_eq(cdr_fraud_store_get(st, got, &dg), CDR_NOTFOUND);
    cr_assert_str_eq(dg.dg_msg, "no fraud rules in the store (cdrate fraud compile stores them)");
    cdr_fraud_rules *frs = parse_ok(sample);
    cr_assert_eq(cdr_fraud_store_put(st, frs, &dg), 0, "%s", dg.dg_msg);
    cdr_store_close(st);
    /* read back through a read-only open */
    cr_assert_eq(cdr_store_open(dir, MDB_RDONLY, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_fraud_store_get(st, got, &dg), 0, "%s", dg.dg_msg);
    rules_eq(frs, got);
    cdr_store_close(st);
    /* a new set replaces the old one as a whole */
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cdr_fraud_rules *one = one_rule("{name: only, kind: countries, within: 30min}");
    cr_assert_eq(cdr_fraud_store_put(st, one, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_fraud_store_get(st, got, &dg), 0, "%s", dg.dg_msg);
    rules_eq(one, got);
    cdr_store_close(st);
    cdr_fraud_rules_free(one);
    cdr_fraud_rules_free(frs);
    free(got);
    rm_rf(dir);
}
