/* live_json.c - the live state's answers for one line as JSON (cdr_live_json.h): the objects of
 * `cdrate query ... --json`, the portal's API and the IVR endpoint. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cdr_live_json.h"
#include "cdr_record.h"

static void cycle_text(uint32_t c, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u", (unsigned)(c / 100), (unsigned)(c % 100));
}

const char *cdr_live_account_currency(const cdr_live_view *v)
{
    if (v->lv_plan_currency[0])
        return v->lv_plan_currency;
    if (v->lv_has_account && v->lv_acct.la_ncur == 1)
        return v->lv_acct.la_money[0].lm_currency;
    return NULL;
}

static void credit_status_json(FILE *f, const cdr_live_line *l)
{
    char t[40];
    fprintf(f, ",\"line_status\":\"%s\",\"warned_at\":",
            cdr_line_status_name(l ? (int)l->ll_status : CDR_LINE_ACTIVE));
    if (l && l->ll_warned_at)
        fprintf(f, "\"%s\"", cdr_time_format(l->ll_warned_at, 0, 1, t, sizeof t));
    else
        fputs("null", f);
    fprintf(f, ",\"suspended_at\":");
    if (l && l->ll_suspended_at)
        fprintf(f, "\"%s\"", cdr_time_format(l->ll_suspended_at, 0, 1, t, sizeof t));
    else
        fputs("null", f);
}

static void head_json(FILE *f, const cdr_live_view *v)
{
    char c[16];
    cycle_text(v->lv_cycle, c, sizeof c);
    fprintf(f, "{\"msisdn\":");
    cdr_json_write_str(f, v->lv_sub->sb_msisdn);
    fprintf(f, ",\"subscriber\":%" PRIu64 ",\"account\":%" PRIu64 ",\"plan\":", v->lv_sub->sb_id,
            v->lv_sub->sb_account);
    cdr_json_write_str(f, v->lv_sub->sb_plan);
    fprintf(f, ",\"status\":\"%s\",\"cycle\":\"%s\"", cdr_dir_status_name(v->lv_sub->sb_status), c);
    if (v->lv_has_line)
        credit_status_json(f, &v->lv_line);
}

static void arrears_json(FILE *f, const cdr_pay_overdue_set *od)
{
    char d1[16], d2[16], m[32];
    fprintf(f, ",\"arrears\":");
    if (!od || !od->os_recorded) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"as_of\":\"%s\",\"overdue\":[", cdr_pay_date_format(od->os_as_of, d1, sizeof d1));
    for (size_t i = 0; i < od->os_n; i++) {
        const cdr_pay_overdue *po = &od->os_items[i];
        fprintf(f,
                "%s{\"currency\":\"%s\",\"overdue\":\"%s\",\"invoices\":%" PRIu32
                ",\"oldest_due\":\"%s\",\"since\":\"%s\"}",
                i ? "," : "", po->po_currency, cdr_money_text(po->po_amount, m, sizeof m),
                po->po_invoices, cdr_pay_date_format(po->po_oldest_due, d1, sizeof d1),
                cdr_pay_date_format(po->po_since, d2, sizeof d2));
    }
    fprintf(f, "]}");
}

void cdr_live_json_balance(FILE *f, const cdr_live_view *v, const cdr_pay_overdue_set *od)
{
    char m1[32];
    const char *cur = cdr_live_account_currency(v);
    const cdr_dir_credit_class *cc = v->lv_credit;
    const cdr_live_money *mine = cur ? cdr_live_account_money(v, cur) : NULL;
    cdr_money unbilled = mine ? mine->lm_total : 0;
    head_json(f, v);
    fprintf(f, ",\"currency\":");
    if (cur)
        cdr_json_write_str(f, cur);
    else
        fputs("null", f);
    fprintf(f, ",\"credit_class\":");
    if (cc) {
        cdr_json_write_str(f, cc->cc_id);
        fprintf(f,
                ",\"credit_limit\":\"%s\",\"payment_term_days\":%" PRIu32
                ",\"roaming_without_deposit\":%s",
                cdr_money_text(cc->cc_limit, m1, sizeof m1), cc->cc_term_days,
                cc->cc_roaming_no_deposit ? "true" : "false");
    } else {
        fprintf(f, "null,\"credit_limit\":null,\"payment_term_days\":null,"
                   "\"roaming_without_deposit\":null");
    }
    fprintf(f, ",\"unbilled\":{");
    for (uint32_t i = 0; v->lv_has_account && i < v->lv_acct.la_ncur; i++)
        fprintf(f, "%s\"%.3s\":\"%s\"", i ? "," : "", v->lv_acct.la_money[i].lm_currency,
                cdr_money_text(v->lv_acct.la_money[i].lm_total, m1, sizeof m1));
    fprintf(f, "},\"available_credit\":");
    if (cc && cur)
        fprintf(f, "\"%s\"", cdr_money_text(cc->cc_limit - unbilled, m1, sizeof m1));
    else
        fputs("null", f);
    fprintf(f, ",\"account_lines\":%" PRIu64, v->lv_has_account ? v->lv_acct.la_lines : 0);
    arrears_json(f, od);
    fprintf(f, "}\n");
}

void cdr_live_json_usage(FILE *f, const cdr_live_view *v)
{
    const cdr_live_line *l = &v->lv_line;
    head_json(f, v);
    fprintf(f, ",\"services\":{");
    int first = 1;
    for (int s = 0; v->lv_has_line && s < CDR_SVC_COUNT; s++) {
        if (!l->ll_records[s])
            continue;
        fprintf(f,
                "%s\"%s\":{\"records\":%" PRIu64 ",\"units\":%" PRIu64 ",\"bundle_units\":%" PRIu64
                ",\"overflow_units\":%" PRIu64 ",\"free_units\":%" PRIu64 "}",
                first ? "" : ",", cdr_service_name(s), l->ll_records[s], l->ll_units[s],
                l->ll_bundle_units[s], l->ll_overflow_units[s], l->ll_free_units[s]);
        first = 0;
    }
    fprintf(f, "},\"roaming_records\":%" PRIu64 ",\"bundles\":[",
            v->lv_has_line ? l->ll_roaming_records : 0);
    for (int b = 0; b < v->lv_nbundles; b++) {
        const cdr_live_bundle *lb = &v->lv_bundles[b];
        uint64_t left = lb->lb_included > lb->lb_used ? lb->lb_included - lb->lb_used : 0;
        fprintf(f, "%s{\"name\":", b ? "," : "");
        cdr_json_write_str(f, lb->lb_name);
        fprintf(f,
                ",\"service\":\"%s\",\"pool\":%s,\"included_units\":%" PRIu64
                ",\"used_units\":%" PRIu64 ",\"left_units\":%" PRIu64,
                cdr_service_name(lb->lb_service), lb->lb_pool ? "true" : "false", lb->lb_included,
                lb->lb_used, left);
        if (lb->lb_pool)
            fprintf(f, ",\"member_used_units\":%" PRIu64 ",\"member_cap_units\":%" PRIu64,
                    lb->lb_member_used, lb->lb_member_cap);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
}

void cdr_live_json_bill(FILE *f, const cdr_live_view *v, const cdr_plan_set *ps)
{
    const cdr_live_line *l = &v->lv_line;
    char m[32];
    int fam = ps ? cdr_plan_set_family(ps, v->lv_sub->sb_plan) : -1;
    const cdr_plan *pl =
        fam >= 0 ? cdr_plan_set_at(ps, fam, v->lv_has_line ? l->ll_last_event : 0) : NULL;
    if (fam >= 0 && !pl) /* before the plan's first version: its first version's fee */
        pl = cdr_plan_set_at(ps, fam, INT64_MAX);
    head_json(f, v);
    fprintf(f, ",\"charges\":{");
    for (uint32_t i = 0; v->lv_has_line && i < l->ll_ncur; i++) {
        const cdr_live_money *lm = &l->ll_money[i];
        fprintf(f, "%s\"%.3s\":{\"total\":\"%s\",\"records\":%" PRIu64 ",\"by_service\":{",
                i ? "," : "", lm->lm_currency, cdr_money_text(lm->lm_total, m, sizeof m),
                lm->lm_records);
        int first = 1;
        for (int s = 0; s < CDR_SVC_COUNT; s++) {
            if (!lm->lm_charge[s] && !l->ll_records[s])
                continue;
            fprintf(f, "%s\"%s\":\"%s\"", first ? "" : ",", cdr_service_name(s),
                    cdr_money_text(lm->lm_charge[s], m, sizeof m));
            first = 0;
        }
        fprintf(f, "}}");
    }
    fprintf(f, "},\"monthly_fee\":");
    if (pl)
        fprintf(f, "{\"%.3s\":\"%s\"}", pl->pl_currency,
                cdr_money_text(pl->pl_monthly_fee, m, sizeof m));
    else
        fputs("null", f);
    fprintf(f, "}\n");
}
