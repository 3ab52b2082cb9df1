/* pages_route.c - the pages of a logged-in user (docs/portal-pages.md): the router, the overview,
 * a line, the statements; the enterprise pages are in pages_ent.c. Rendered on the server, no
 * script; every object shown passed pt_allow_* first, every text goes through pt_html. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_live_json.h"
#include "cdr_requests.h"
#include "cdr_statement.h"
#include "pages_int.h"

#define MAX_SEGS 8

/* ---- helpers shared by the pages ---------------------------------------------------------------
 */

int pg_id_parse(const char *s, uint64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 19 || strspn(s, "0123456789") != n || s[0] == '0')
        return -1;
    *out = strtoull(s, NULL, 10);
    return *out >= 1 && *out <= (uint64_t)INT64_MAX ? 0 : -1;
}

int pg_ent_ok(pt_req *r, int what, uint64_t enterprise)
{
    return pt_allow_enterprise(r, what, enterprise, NULL) == PT_OK;
}

int pg_line_ok(pt_req *r, int what, const char *msisdn)
{
    return pt_allow_line(r, what, msisdn, NULL) == PT_OK;
}

int pg_refuse(pt_req *r, int code)
{
    switch (code) {
    case PT_UNAUTH:
        return pt_error(r, 401, "unauthorized", "%s", T(r, "Log in first.", "请先登录。"));
    case PT_FORBIDDEN:
        return pt_error(r, 403, "forbidden", "%s",
                        T(r, "You may not see this.", "您无权查看此内容。"));
    default:
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    }
}

int pg_method(pt_req *r, int post_ok)
{
    if (!r->post || post_ok)
        return 0;
    snprintf(r->allow, sizeof r->allow, "GET");
    return pt_error(r, 405, "method_not_allowed", "%s",
                    T(r, "This page is not a form.", "此页面不接受提交。"));
}

void pg_csrf_field(pt_req *r)
{
    fputs("<input type=\"hidden\" name=\"csrf\" value=\"", r->out);
    pt_html(r, r->id.id_csrf);
    fputs("\">", r->out);
}

void pg_money(pt_req *r, cdr_money m)
{
    char b[32];
    fputs(cdr_money_text(m, b, sizeof b), r->out);
}

void pg_money_td(pt_req *r, const char *id, cdr_money m)
{
    char b[32];
    cdr_money_text(m, b, sizeof b);
    fputs("<td class=\"n\"", r->out);
    if (id) {
        fputs(" id=\"", r->out);
        pt_html(r, id);
        fputc('"', r->out);
    }
    fprintf(r->out, " data-amount=\"%s\">%s</td>", b, b);
}

void pg_day(pt_req *r, int64_t day)
{
    char b[16];
    fputs(cdr_pay_date_format(day, b, sizeof b), r->out);
}

void pg_time(pt_req *r, cdr_time t)
{
    char b[40];
    fputs(t ? cdr_time_format(t, 0, 1, b, sizeof b) : "-", r->out);
}

const char *pg_dir_status(pt_req *r, int status)
{
    switch (status) {
    case CDR_DIR_ACTIVE:
        return T(r, "active", "正常");
    case CDR_DIR_SUSPENDED:
        return T(r, "suspended", "已停机");
    case CDR_DIR_TERMINATED:
        return T(r, "terminated", "已销户");
    default:
        return "-";
    }
}

const char *pg_line_status(pt_req *r, int status)
{
    switch (status) {
    case CDR_LINE_ACTIVE:
        return T(r, "active", "正常");
    case CDR_LINE_WARNED:
        return T(r, "warned", "已预警");
    case CDR_LINE_SUSPENDED:
        return T(r, "suspended", "已停机");
    case CDR_LINE_BARRED:
        return T(r, "barred", "已封停");
    default:
        return "-";
    }
}

const char *pg_duty(pt_req *r, int duty)
{
    switch (duty) {
    case CDR_DIR_ACCOUNT_MANAGER:
        return T(r, "account manager", "客户经理");
    case CDR_DIR_BILLING_MANAGER:
        return T(r, "billing manager", "账务经理");
    case CDR_DIR_SERVICE_MANAGER:
        return T(r, "service manager", "服务经理");
    case CDR_DIR_TECHNICAL_MANAGER:
        return T(r, "technical manager", "技术经理");
    default:
        return "-";
    }
}

const char *pg_service(pt_req *r, int svc)
{
    switch (svc) {
    case CDR_SVC_VOICE:
        return T(r, "voice", "语音");
    case CDR_SVC_SMS:
        return T(r, "SMS", "短信");
    case CDR_SVC_MMS:
        return T(r, "MMS", "彩信");
    case CDR_SVC_DATA:
        return T(r, "data", "数据");
    case CDR_SVC_VIDEO:
        return T(r, "video", "视频");
    default:
        return "-";
    }
}

const char *pg_req_kind(pt_req *r, int kind)
{
    switch (kind) {
    case CDR_REQ_ADD_MEMBER:
        return T(r, "add a member", "添加成员");
    case CDR_REQ_REMOVE_MEMBER:
        return T(r, "remove a member", "移除成员");
    case CDR_REQ_CHANGE_PLAN:
        return T(r, "change the plan", "变更套餐");
    case CDR_REQ_RAISE_CAP:
        return T(r, "raise the cap", "提高限额");
    default:
        return "-";
    }
}

const char *pg_req_state(pt_req *r, int state)
{
    switch (state) {
    case CDR_REQ_SUBMITTED:
        return T(r, "submitted", "已提交");
    case CDR_REQ_APPROVED:
        return T(r, "approved", "已批准");
    case CDR_REQ_DONE:
        return T(r, "done", "已完成");
    case CDR_REQ_REJECTED:
        return T(r, "rejected", "已拒绝");
    default:
        return "-";
    }
}

void pg_invoices_tables(pt_req *r, const cdr_pay_status *ps)
{
    if (!ps) {
        fprintf(r->out, "<p id=\"no-invoices\">%s</p>",
                T(r, "No bill run is served here: no invoices.", "未提供账单数据：没有发票。"));
        return;
    }
    fprintf(r->out, "<p>%s ", T(r, "As of", "截至"));
    pg_day(r, ps->ps_as_of);
    fprintf(r->out,
            "</p><h2>%s</h2><table id=\"balances\"><tr><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th>",
            T(r, "Balances", "余额"), T(r, "Currency", "币种"), T(r, "Invoiced", "已开票"),
            T(r, "Paid", "已付"), T(r, "Open", "未付"), T(r, "Overdue", "逾期"));
    for (int k = 0; k < CDR_AGE_COUNT; k++)
        fprintf(r->out, "<th>%s %s</th>", T(r, "Aging", "账龄"), cdr_pay_bucket_name(k));
    fputs("</tr>", r->out);
    for (size_t i = 0; i < ps->ps_naccounts; i++) {
        const cdr_pay_account *pa = &ps->ps_accounts[i];
        fprintf(r->out, "<tr data-currency=\"%.3s\"><td>%.3s</td>", pa->pa_currency,
                pa->pa_currency);
        pg_money_td(r, NULL, pa->pa_invoiced);
        pg_money_td(r, NULL, pa->pa_paid);
        pg_money_td(r, NULL, pa->pa_open);
        pg_money_td(r, NULL, pa->pa_overdue);
        for (int k = 0; k < CDR_AGE_COUNT; k++)
            pg_money_td(r, NULL, pa->pa_aging[k]);
        fputs("</tr>", r->out);
    }
    fprintf(r->out,
            "</table><h2>%s</h2><table id=\"invoices\"><tr><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
            T(r, "Invoices", "发票"), T(r, "Invoice", "发票号"), T(r, "Cycle", "账期"),
            T(r, "Currency", "币种"), T(r, "Issued", "开票日"), T(r, "Due", "到期日"),
            T(r, "Total", "金额"), T(r, "Paid", "已付"), T(r, "Open", "未付"),
            T(r, "Days past due", "逾期天数"), T(r, "Aging", "账龄"));
    for (size_t i = 0; i < ps->ps_ninvoices; i++) {
        const cdr_pay_invoice *pi = &ps->ps_invoices[i];
        fputs("<tr class=\"invoice\" data-invoice=\"", r->out);
        pt_html(r, pi->pi_invoice);
        fputs("\"><td>", r->out);
        pt_html(r, pi->pi_invoice);
        fprintf(r->out, "</td><td>%s</td><td>%.3s</td><td>", ps->ps_cycles[pi->pi_cycle],
                pi->pi_currency);
        pg_day(r, pi->pi_issued);
        fputs("</td><td>", r->out);
        pg_day(r, pi->pi_due);
        fputs("</td>", r->out);
        pg_money_td(r, NULL, pi->pi_total);
        pg_money_td(r, NULL, pi->pi_paid);
        pg_money_td(r, NULL, pi->pi_open);
        fprintf(r->out, "<td class=\"n\">%" PRId64 "</td><td>%s</td></tr>",
                pi->pi_open ? pi->pi_days_past_due : 0, cdr_pay_bucket_name(pi->pi_bucket));
    }
    fprintf(r->out,
            "</table><h2>%s</h2><table id=\"payments\"><tr><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th></tr>",
            T(r, "Payments", "付款"), T(r, "Payment", "付款号"), T(r, "Date", "日期"),
            T(r, "Currency", "币种"), T(r, "Amount", "金额"), T(r, "Method", "方式"));
    for (size_t i = 0; i < ps->ps_npayments; i++) {
        const cdr_payment *pm = &ps->ps_payments[i];
        fputs("<tr><td>", r->out);
        pt_html(r, pm->pm_id);
        fputs("</td><td>", r->out);
        pg_day(r, pm->pm_date);
        fprintf(r->out, "</td><td>%.3s</td>", pm->pm_currency);
        pg_money_td(r, NULL, pm->pm_amount);
        fprintf(r->out, "<td>%s</td></tr>", cdr_pay_method_name(pm->pm_method));
    }
    fputs("</table>", r->out);
}

/* ---- a line: balance, usage, bundles, bill to date, owner
 * ----------------------------------------
 */

static void balance_box(pt_req *r, const cdr_live_view *v)
{
    const char *cur = cdr_live_account_currency(v);
    const cdr_dir_credit_class *cc = v->lv_credit;
    const cdr_live_money *mine = cur ? cdr_live_account_money(v, cur) : NULL;
    cdr_money unbilled = mine ? mine->lm_total : 0;
    fprintf(r->out, "<section class=\"box\" id=\"balance\"><h2>%s</h2><table>",
            T(r, "Balance", "余额"));
    fprintf(r->out, "<tr><th>%s</th><td id=\"credit-class\">", T(r, "Credit class", "信用等级"));
    pt_html(r, cc ? cc->cc_name : "-");
    fprintf(r->out, "</td></tr><tr><th>%s</th><td id=\"currency\">%s</td></tr>",
            T(r, "Currency", "币种"), cur ? cur : "-");
    fprintf(r->out, "<tr><th>%s</th>", T(r, "Credit limit", "信用额度"));
    if (cc)
        pg_money_td(r, "credit-limit", cc->cc_limit);
    else
        fputs("<td id=\"credit-limit\">-</td>", r->out);
    fprintf(r->out, "</tr><tr><th>%s</th>", T(r, "Unbilled", "未出账"));
    pg_money_td(r, "unbilled", unbilled);
    fprintf(r->out, "</tr><tr><th>%s</th>", T(r, "Available credit", "可用额度"));
    if (cc && cur)
        pg_money_td(r, "available", cc->cc_limit - unbilled);
    else
        fputs("<td id=\"available\">-</td>", r->out);
    fputs("</tr></table></section>", r->out);
}

/* Alerts of a line: its credit status in the cycle, its account's recorded arrears. */
static void alerts_box(pt_req *r, const cdr_live_view *v)
{
    cdr_pay_overdue_set *od = NULL;
    cdr_diag dg;
    int n = 0;
    fprintf(r->out, "<section class=\"box\" id=\"alerts\"><h2>%s</h2><ul>", T(r, "Alerts", "提醒"));
    if (v->lv_has_line && v->lv_line.ll_status != CDR_LINE_ACTIVE) {
        const cdr_live_line *l = &v->lv_line;
        fprintf(r->out, "<li class=\"alert\" id=\"alert-line\" data-status=\"%s\">%s: %s (",
                cdr_line_status_name((int)l->ll_status), T(r, "Line status", "线路状态"),
                pg_line_status(r, (int)l->ll_status));
        pg_time(r, l->ll_status == CDR_LINE_SUSPENDED ? l->ll_suspended_at : l->ll_warned_at);
        fputs(")</li>", r->out);
        n++;
    }
    if (cdr_pay_overdue_account(pt_store(r->srv), v->lv_sub->sb_account, &od, &dg) == 0 && od)
        for (size_t i = 0; i < od->os_n; i++) {
            fprintf(r->out, "<li class=\"alert\" id=\"alert-arrears\">%s: %.3s ",
                    T(r, "Overdue", "逾期欠费"), od->os_items[i].po_currency);
            pg_money(r, od->os_items[i].po_amount);
            fprintf(r->out, " (%s ", T(r, "due", "到期日"));
            pg_day(r, od->os_items[i].po_oldest_due);
            fputs(")</li>", r->out);
            n++;
        }
    cdr_pay_overdue_free(od);
    if (!n)
        fprintf(r->out, "<li id=\"no-alerts\">%s</li>", T(r, "None.", "无。"));
    fputs("</ul></section>", r->out);
}

static void bill_box(pt_req *r, const cdr_live_view *v)
{
    char c[8];
    const cdr_live_line *l = &v->lv_line;
    fprintf(r->out,
            "<section class=\"box\" id=\"bill\"><h2>%s (%s)</h2><table><tr><th>%s</th>"
            "<th>%s</th>",
            T(r, "Bill to date", "本期消费"), pt_cycle_text(v->lv_cycle, c),
            T(r, "Currency", "币种"), T(r, "Total", "合计"));
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        fprintf(r->out, "<th>%s</th>", pg_service(r, s));
    fputs("</tr>", r->out);
    for (uint32_t i = 0; v->lv_has_line && i < l->ll_ncur; i++) {
        const cdr_live_money *lm = &l->ll_money[i];
        fprintf(r->out, "<tr data-bill=\"%.3s\"><td>%.3s</td>", lm->lm_currency, lm->lm_currency);
        pg_money_td(r, NULL, lm->lm_total);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            pg_money_td(r, NULL, lm->lm_charge[s]);
        fputs("</tr>", r->out);
    }
    fputs("</table></section>", r->out);
}

static void usage_box(pt_req *r, const cdr_live_view *v)
{
    char q[5][40], c[8];
    const cdr_live_line *l = &v->lv_line;
    fprintf(r->out,
            "<section class=\"box\" id=\"usage\"><h2>%s (%s)</h2><table><tr><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
            T(r, "Usage", "用量"), pt_cycle_text(v->lv_cycle, c), T(r, "Service", "业务"),
            T(r, "Records", "话单数"), T(r, "Used", "用量"), T(r, "In bundles", "套餐内"),
            T(r, "Overflow", "超出"), T(r, "Free", "免费"));
    for (int s = 0; v->lv_has_line && s < CDR_SVC_COUNT; s++) {
        if (!l->ll_records[s])
            continue;
        fprintf(r->out,
                "<tr data-service=\"%s\"><td>%s</td><td class=\"n\">%" PRIu64
                "</td><td class=\"n\" data-units=\"%" PRIu64 "\">%s</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%s</td><td class=\"n\">%s</td></tr>",
                cdr_service_name(s), pg_service(r, s), l->ll_records[s], l->ll_units[s],
                cdr_dir_format_qty(s, l->ll_units[s], q[0], sizeof q[0]),
                cdr_dir_format_qty(s, l->ll_bundle_units[s], q[1], sizeof q[1]),
                cdr_dir_format_qty(s, l->ll_overflow_units[s], q[2], sizeof q[2]),
                cdr_dir_format_qty(s, l->ll_free_units[s], q[3], sizeof q[3]));
    }
    fprintf(r->out,
            "</table><h3>%s</h3><table id=\"bundles\"><tr><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th></tr>",
            T(r, "Bundles and pools", "套餐包与共享池"), T(r, "Bundle", "套餐包"),
            T(r, "Service", "业务"), T(r, "Included", "包含"), T(r, "Used", "已用"),
            T(r, "Left", "剩余"), T(r, "This line's draw (cap)", "本线路用量（上限）"));
    for (int b = 0; b < v->lv_nbundles; b++) {
        const cdr_live_bundle *lb = &v->lv_bundles[b];
        uint64_t left = lb->lb_included > lb->lb_used ? lb->lb_included - lb->lb_used : 0;
        fputs("<tr class=\"bundle\" data-bundle=\"", r->out);
        pt_html(r, lb->lb_name);
        fprintf(r->out, "\" data-pool=\"%d\"><td>", lb->lb_pool);
        pt_html(r, lb->lb_name);
        if (lb->lb_pool)
            fprintf(r->out, " (%s)", T(r, "the enterprise's pool", "企业共享池"));
        fprintf(r->out,
                "</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\" data-used=\"%" PRIu64
                "\">%s</td><td class=\"n\">%s</td><td class=\"n\">",
                pg_service(r, lb->lb_service),
                cdr_dir_format_qty(lb->lb_service, lb->lb_included, q[0], sizeof q[0]), lb->lb_used,
                cdr_dir_format_qty(lb->lb_service, lb->lb_used, q[1], sizeof q[1]),
                cdr_dir_format_qty(lb->lb_service, left, q[2], sizeof q[2]));
        if (lb->lb_pool)
            fprintf(r->out, "%s (%s)",
                    cdr_dir_format_qty(lb->lb_service, lb->lb_member_used, q[3], sizeof q[3]),
                    lb->lb_member_cap
                        ? cdr_dir_format_qty(lb->lb_service, lb->lb_member_cap, q[4], sizeof q[4])
                        : T(r, "none", "无"));
        else
            fputs("-", r->out);
        fputs("</td></tr>", r->out);
    }
    fputs("</table></section>", r->out);
}

static void owner_box(pt_req *r, const cdr_dir_subscriber *sb)
{
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_account *ac = cdr_dir_find_account(dir, sb->sb_account);
    const cdr_dir_customer *cu = cdr_dir_find_customer(dir, sb->sb_customer);
    const cdr_dir_enterprise *en =
        sb->sb_enterprise ? cdr_dir_find_enterprise(dir, sb->sb_enterprise) : NULL;
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    fprintf(r->out, "<section class=\"box\" id=\"owner\"><h2>%s</h2><table>",
            T(r, "Owner", "归属"));
    fprintf(r->out, "<tr><th>%s</th><td id=\"owner-name\">", T(r, "Name", "姓名"));
    pt_html(r, cu ? cu->cu_name : "-");
    fprintf(r->out, "</td></tr><tr><th>%s</th><td>%" PRIu64 " ", T(r, "Account", "账户"),
            sb->sb_account);
    pt_html(r, ac ? ac->ac_name : "");
    fprintf(r->out, "</td></tr><tr><th>%s</th><td id=\"line-status\">%s</td></tr>",
            T(r, "Status", "状态"), pg_dir_status(r, sb->sb_status));
    fprintf(r->out, "<tr><th>%s</th><td id=\"enterprise\">", T(r, "Enterprise", "企业"));
    if (en) {
        pt_html(r, en->en_name);
        if (pd) {
            fputs(" / ", r->out);
            pt_html(r, pd->pd_name);
        }
    } else
        fputs("-", r->out);
    fputs("</td></tr>", r->out);
    for (int d = 0; en && d < CDR_DIR_MANAGERS; d++) {
        fprintf(r->out, "<tr><th>%s</th><td>", pg_duty(r, d));
        pt_html(r, en->en_manager[d][0] ? en->en_manager[d] : "-");
        fputs("</td></tr>", r->out);
    }
    fputs("</table></section>", r->out);
}

/* /lines/{msisdn}: what r may see of the line, each part checked on its own. */
static int line_page(pt_req *r, const char *msisdn)
{
    static const int kinds[] = {PT_LINE_BALANCE, PT_LINE_USAGE,    PT_LINE_BILL,
                                PT_LINE_OWNER,   PT_LINE_INVOICES, PT_LINE_STATEMENT};
    int ok[PT_WHAT_END] = {0}, any = 0, refusal = PT_FORBIDDEN;
    const cdr_dir_subscriber *sb = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const cdr_dir_subscriber *s;
        int a = pt_allow_line(r, kinds[i], msisdn, &s);
        if (a == PT_OK) {
            ok[kinds[i]] = any = 1;
            sb = s;
        } else if (a == PT_HIDDEN)
            refusal = PT_HIDDEN;
    }
    if (!any)
        return pg_refuse(r, refusal);
    int live = ok[PT_LINE_BALANCE] || ok[PT_LINE_USAGE] || ok[PT_LINE_BILL];
    cdr_live_view v;
    memset(&v, 0, sizeof v);
    if (live && pt_live(r, sb->sb_msisdn, 0, CDR_LIVE_Q_ALL, &v))
        return r->status;
    char title[96];
    snprintf(title, sizeof title, "%s %s", T(r, "Line", "线路"), sb->sb_msisdn);
    pt_page_begin(r, title);
    fputs("<p id=\"line\" data-msisdn=\"", r->out);
    pt_html(r, sb->sb_msisdn);
    fprintf(r->out, "\">%s: ", T(r, "Plan", "套餐"));
    pt_html(r, sb->sb_plan);
    if (live && v.lv_has_line)
        fprintf(r->out, " &middot; %s: <span id=\"credit-status\" data-status=\"%s\">%s</span>",
                T(r, "Credit status", "信用状态"), cdr_line_status_name((int)v.lv_line.ll_status),
                pg_line_status(r, (int)v.lv_line.ll_status));
    fputs("</p>", r->out);
    if (ok[PT_LINE_BALANCE]) {
        balance_box(r, &v);
        alerts_box(r, &v);
    }
    if (ok[PT_LINE_BILL])
        bill_box(r, &v);
    if (ok[PT_LINE_USAGE])
        usage_box(r, &v);
    if (ok[PT_LINE_OWNER])
        owner_box(r, sb);
    fputs("<p class=\"links\">", r->out);
    if (ok[PT_LINE_INVOICES]) {
        fputs("<a id=\"link-invoices\" href=\"/lines/", r->out);
        pt_html(r, sb->sb_msisdn);
        fprintf(r->out, "/invoices\">%s</a> ", T(r, "Invoices and payments", "发票与付款"));
    }
    if (ok[PT_LINE_STATEMENT])
        fprintf(r->out, "<a id=\"link-statements\" href=\"/statements\">%s</a>",
                T(r, "Statements", "账单"));
    fputs("</p>", r->out);
    pt_page_end(r);
    if (live)
        cdr_live_view_free(&v);
    return 0;
}

/* /lines/{msisdn}/invoices */
static int line_invoices(pt_req *r, const char *msisdn)
{
    const cdr_dir_subscriber *sb;
    int a = pt_allow_line(r, PT_LINE_INVOICES, msisdn, &sb);
    if (a != PT_OK)
        return pg_refuse(r, a);
    cdr_pay_status *ps;
    if (pt_pay_status(r, sb->sb_account, &ps))
        return r->status;
    char title[96];
    snprintf(title, sizeof title, "%s %s", T(r, "Invoices of line", "线路发票"), sb->sb_msisdn);
    pt_page_begin(r, title);
    pg_invoices_tables(r, ps);
    pt_page_end(r);
    cdr_pay_status_free(ps);
    return 0;
}

/* ---- the overview ------------------------------------------------------------------------------
 */

static int member_overview(pt_req *r)
{
    const char *msisdn = r->id.id_user.us_msisdn;
    const cdr_dir_subscriber *sb;
    int a = pt_allow_line(r, PT_LINE_BALANCE, msisdn, &sb);
    if (a != PT_OK)
        return pg_refuse(r, a);
    cdr_live_view v;
    cdr_pay_status *ps = NULL;
    if (pt_live(r, msisdn, 0, CDR_LIVE_Q_ALL, &v))
        return r->status;
    if (pg_line_ok(r, PT_LINE_INVOICES, msisdn) && pt_pay_status(r, sb->sb_account, &ps)) {
        cdr_live_view_free(&v);
        return r->status;
    }
    pt_page_begin(r, T(r, "Overview", "概览"));
    fputs("<p id=\"line\" data-msisdn=\"", r->out);
    pt_html(r, sb->sb_msisdn);
    fprintf(r->out, "\">%s <a href=\"/lines/", T(r, "Your line", "您的线路"));
    pt_html(r, sb->sb_msisdn);
    fputs("\">", r->out);
    pt_html(r, sb->sb_msisdn);
    fprintf(r->out, "</a> &middot; %s: ", T(r, "Plan", "套餐"));
    pt_html(r, sb->sb_plan);
    fputs("</p>", r->out);
    balance_box(r, &v);
    alerts_box(r, &v);
    if (pg_line_ok(r, PT_LINE_BILL, msisdn))
        bill_box(r, &v);
    if (ps) {
        fprintf(r->out,
                "<section class=\"box\" id=\"open-invoices\"><h2>%s</h2><table><tr><th>%s</th>"
                "<th>%s</th><th>%s</th><th>%s</th></tr>",
                T(r, "Open invoices", "未付发票"), T(r, "Invoice", "发票号"), T(r, "Due", "到期日"),
                T(r, "Currency", "币种"), T(r, "Open", "未付"));
        for (size_t i = 0; i < ps->ps_ninvoices; i++) {
            const cdr_pay_invoice *pi = &ps->ps_invoices[i];
            if (pi->pi_open <= 0)
                continue;
            fputs("<tr class=\"invoice\" data-invoice=\"", r->out);
            pt_html(r, pi->pi_invoice);
            fputs("\"><td>", r->out);
            pt_html(r, pi->pi_invoice);
            fputs("</td><td>", r->out);
            pg_day(r, pi->pi_due);
            fprintf(r->out, "</td><td>%.3s</td>", pi->pi_currency);
            pg_money_td(r, NULL, pi->pi_open);
            fputs("</tr>", r->out);
        }
        fprintf(r->out, "</table><p><a id=\"link-invoices\" href=\"/lines/");
        pt_html(r, sb->sb_msisdn);
        fprintf(r->out, "/invoices\">%s</a></p></section>",
                T(r, "All invoices and payments", "全部发票与付款"));
    }
    pt_page_end(r);
    cdr_live_view_free(&v);
    cdr_pay_status_free(ps);
    return 0;
}

typedef struct ent_list {
    pt_req *el_r;
    size_t el_n;
    const cdr_dir_enterprise *el_en[64];
    unsigned el_duties[64];
    int el_more; /* more than fit in el_en */
} ent_list;

static void ent_collect(void *arg, const cdr_dir_enterprise *en, unsigned duties)
{
    ent_list *el = arg;
    if (el->el_n == sizeof el->el_en / sizeof el->el_en[0]) {
        el->el_more = 1;
        return;
    }
    el->el_en[el->el_n] = en;
    el->el_duties[el->el_n++] = duties;
}

static void ent_row(void *arg, const cdr_dir_enterprise *en, unsigned duties)
{
    pt_req *r = arg;
    fprintf(r->out, "<tr class=\"enterprise-row\" data-id=\"%" PRIu64 "\"><td>%" PRIu64 "</td>",
            en->en_id, en->en_id);
    fprintf(r->out, "<td><a href=\"/enterprises/%" PRIu64 "\">", en->en_id);
    pt_html(r, en->en_name);
    fputs("</a></td><td>", r->out);
    if (r->id.id_user.us_role == CDR_ROLE_MANAGER)
        for (int d = 0, first = 1; d < CDR_DIR_MANAGERS; d++)
            if (duties & (1u << d)) {
                fprintf(r->out, "%s%s", first ? "" : ", ", pg_duty(r, d));
                first = 0;
            }
    fputs("</td></tr>", r->out);
}

/* The overview of an enterprise role: its enterprises; the sums of each when they are few (an
 * operator's list links to each one's page instead). */
static int enterprise_overview(pt_req *r)
{
    ent_list el;
    memset(&el, 0, sizeof el);
    el.el_r = r;
    pt_each_enterprise(r, ent_collect, &el);
    int boxes = r->id.id_user.us_role != CDR_ROLE_OPERATOR && !el.el_more && el.el_n <= 8;
    pt_page_begin(r, T(r, "Overview", "概览"));
    fprintf(r->out, "<table id=\"enterprises\"><tr><th>%s</th><th>%s</th><th>%s</th></tr>",
            T(r, "Id", "编号"), T(r, "Enterprise", "企业"),
            r->id.id_user.us_role == CDR_ROLE_MANAGER ? T(r, "Your duties", "您的职责") : "");
    pt_each_enterprise(r, ent_row, r);
    fputs("</table>", r->out);
    if (!el.el_n)
        fprintf(r->out, "<p id=\"no-enterprises\">%s</p>",
                T(r, "No enterprise names you.", "没有企业指定您。"));
    for (size_t i = 0; boxes && i < el.el_n; i++)
        if (pg_enterprise_box(r, el.el_en[i], el.el_duties[i], 1))
            return r->status;
    pt_page_end(r);
    return 0;
}

/* ---- statements --------------------------------------------------------------------------------
 */

static const char *const line_sections[] = {"summary",  "classes",  "services", "bundles",
                                            "overflow", "itemised", NULL};
static const char *const ent_sections[] = {"summary",  "classes", "services", "bundles",
                                           "overflow", "members", NULL};

/* One statement's row: view, and downloads in every format. base: "/statements/line/MSISDN/CYCLE"
 * (made of checked parts), key: the row's id. */
static void stmt_row(pt_req *r, const char *base, const char *key, const char *label,
                     const char *const *sections)
{
    fprintf(r->out, "<tr class=\"statement\" id=\"stmt-%s\"><td>", key);
    pt_html(r, label);
    fprintf(r->out, "</td><td><a class=\"view\" id=\"view-%s\" href=\"%s\">%s</a></td><td>", key,
            base, T(r, "View", "查看"));
    fprintf(r->out,
            "<a class=\"dl\" id=\"dl-html-%s\" href=\"%s?format=html&amp;download=1\">HTML</a> "
            "<a class=\"dl\" id=\"dl-json-%s\" href=\"%s?format=json&amp;download=1\">JSON</a>"
            " CSV:",
            key, base, key, base);
    for (int i = 0; sections[i]; i++)
        fprintf(r->out,
                " <a class=\"dl\" id=\"dl-csv-%s-%s\" "
                "href=\"%s?format=csv&amp;section=%s&amp;download=1\">%s</a>",
                key, sections[i], base, sections[i], sections[i]);
    fputs("</td></tr>", r->out);
}

typedef struct stmt_ctx {
    pt_req *sc_r;
    char sc_cycle[8];
    int sc_rows;
} stmt_ctx;

static void stmt_line(stmt_ctx *sc, const cdr_dir_subscriber *sb)
{
    pt_req *r = sc->sc_r;
    if (!pg_line_ok(r, PT_LINE_STATEMENT, sb->sb_msisdn))
        return;
    char base[96], key[48], label[96];
    snprintf(base, sizeof base, "/statements/line/%s/%s", sb->sb_msisdn, sc->sc_cycle);
    snprintf(key, sizeof key, "line-%s-%s", sb->sb_msisdn, sc->sc_cycle);
    snprintf(label, sizeof label, "%s %s", T(r, "Line", "线路"), sb->sb_msisdn);
    stmt_row(r, base, key, label, line_sections);
    sc->sc_rows++;
}

static void stmt_member(void *arg, const cdr_dir_subscriber *sb)
{
    stmt_line(arg, sb);
}

static void stmt_enterprise(void *arg, const cdr_dir_enterprise *en, unsigned duties)
{
    (void)duties;
    stmt_ctx *sc = arg;
    pt_req *r = sc->sc_r;
    if (pg_ent_ok(r, PT_ENT_STATEMENT, en->en_id)) {
        char base[96], key[48], label[160];
        snprintf(base, sizeof base, "/statements/enterprise/%" PRIu64 "/%s", en->en_id,
                 sc->sc_cycle);
        snprintf(key, sizeof key, "enterprise-%" PRIu64 "-%s", en->en_id, sc->sc_cycle);
        snprintf(label, sizeof label, "%s %s", T(r, "Enterprise", "企业"), en->en_name);
        stmt_row(r, base, key, label, ent_sections);
        sc->sc_rows++;
    }
    pt_members(r, en->en_id, stmt_member, sc);
}

static int statements_page(pt_req *r)
{
    uint32_t cycles[36];
    size_t nc = pt_billed_cycles(r, cycles, sizeof cycles / sizeof cycles[0]);
    pt_page_begin(r, T(r, "Statements", "账单"));
    int rows = 0;
    for (size_t i = 0; i < nc; i++) {
        stmt_ctx sc = {.sc_r = r};
        pt_cycle_text(cycles[i], sc.sc_cycle);
        fprintf(r->out,
                "<h2>%s %s</h2><table class=\"statements\" data-cycle=\"%s\"><tr><th>%s</th>"
                "<th></th><th>%s</th></tr>",
                T(r, "Cycle", "账期"), sc.sc_cycle, sc.sc_cycle, T(r, "Statement", "账单"),
                T(r, "Download", "下载"));
        if (r->id.id_user.us_role == CDR_ROLE_MEMBER) {
            const cdr_dir *dir = pt_dir_get(r);
            const cdr_dir_subscriber *sb =
                dir ? cdr_dir_find_msisdn(dir, r->id.id_user.us_msisdn) : NULL;
            if (sb)
                stmt_line(&sc, sb);
        } else
            pt_each_enterprise(r, stmt_enterprise, &sc);
        fputs("</table>", r->out);
        rows += sc.sc_rows;
    }
    if (!rows)
        fprintf(r->out, "<p id=\"no-statements\">%s</p>",
                T(r, "No statement to show.", "没有可查看的账单。"));
    if (r->id.id_user.us_role == CDR_ROLE_OPERATOR && nc) {
        /* any line: a plain GET form, redirected to the statement's address */
        fprintf(r->out,
                "<form method=\"get\" action=\"/statements/open\" class=\"box\" id=\"open-form\">"
                "<label>%s <input name=\"msisdn\" id=\"open-msisdn\" required "
                "pattern=\"[0-9]{1,15}\"></label><label>%s <select name=\"cycle\">",
                T(r, "Number", "号码"), T(r, "Cycle", "账期"));
        for (size_t i = 0; i < nc; i++) {
            char c[8];
            pt_cycle_text(cycles[i], c);
            fprintf(r->out, "<option>%s</option>", c);
        }
        fprintf(r->out, "</select></label><button type=\"submit\">%s</button></form>",
                T(r, "Open", "打开"));
    }
    pt_page_end(r);
    return 0;
}

/* /statements/open?msisdn=..&cycle=..: the operator's form, checked, redirected. */
static int statement_open(pt_req *r)
{
    const char *m = pt_arg(r, "msisdn"), *c = pt_arg(r, "cycle");
    uint32_t cy = c ? pt_parse_cycle(c) : 0;
    if (!pt_msisdn_ok(m) || !cy)
        return pt_error(r, 400, "bad_request", "%s",
                        T(r, "A number (1 to 15 digits) and a cycle (YYYY-MM) are needed.",
                          "需要号码（1 到 15 位数字）和账期（YYYY-MM）。"));
    char loc[64], cb[8];
    snprintf(loc, sizeof loc, "/statements/line/%s/%s", m, pt_cycle_text(cy, cb));
    return pt_redirect(r, loc);
}

/* /statements/line/{msisdn}/{YYYY-MM} and /statements/enterprise/{id}/{YYYY-MM}, with format
 * (html, json, csv), section (csv) and download=1. Anything malformed is 400: the URL's parts
 * never reach a file name unchecked. */
static int statement_page(pt_req *r, const char *const *seg, int n)
{
    int line = !strcmp(seg[1], "line");
    uint64_t id = 0;
    uint32_t cycle = n == 4 ? pt_parse_cycle(seg[3]) : 0;
    if (n != 4 || (!line && strcmp(seg[1], "enterprise")) ||
        (line ? !pt_msisdn_ok(seg[2]) : pg_id_parse(seg[2], &id) != 0) || !cycle)
        return pt_error(r, 400, "bad_request", "%s",
                        T(r,
                          "A statement's address is /statements/line/NUMBER/YYYY-MM or "
                          "/statements/enterprise/ID/YYYY-MM.",
                          "账单地址为 /statements/line/号码/YYYY-MM 或 "
                          "/statements/enterprise/编号/YYYY-MM。"));
    const char *f = pt_arg(r, "format"), *s = pt_arg(r, "section"), *dl = pt_arg(r, "download");
    int format = !f || !strcmp(f, "html") ? CDR_STMT_HTML
                 : !strcmp(f, "json")     ? CDR_STMT_JSON
                 : !strcmp(f, "csv")      ? CDR_STMT_CSV
                                          : -1;
    if (format < 0)
        return pt_error(
            r, 400, "bad_request", "%s",
            T(r, "format must be html, json or csv.", "format 须为 html、json 或 csv。"));
    if (format == CDR_STMT_CSV && !s)
        s = line ? "itemised" : "members";
    if ((s && (format != CDR_STMT_CSV || !pt_section_ok(s))) ||
        (dl && strcmp(dl, "1") && strcmp(dl, "0")))
        return pt_error(r, 400, "bad_request", "%s",
                        T(r,
                          "section must be one of summary, classes, services, bundles, "
                          "overflow, members, itemised (CSV only); download 1 or 0.",
                          "section 须为 summary、classes、services、bundles、overflow、members、"
                          "itemised 之一（仅 CSV）；download 为 1 或 0。"));
    int a;
    const cdr_dir_subscriber *sb = NULL;
    if (line)
        a = pt_allow_line(r, PT_LINE_STATEMENT, seg[2], &sb);
    else
        a = pt_allow_enterprise(r, PT_ENT_STATEMENT, id, NULL);
    if (a != PT_OK) {
        pt_audit(r, "statement.view", seg[2], "refused", a == 403 ? "forbidden" : "not found");
        return pg_refuse(r, a);
    }
    return pt_statement(r, line ? sb->sb_msisdn : NULL, id, cycle, format, s,
                        dl && !strcmp(dl, "1"));
}

/* ---- the router --------------------------------------------------------------------------------
 */

int pt_page_route(pt_req *r)
{
    char buf[1024];
    const char *seg[MAX_SEGS];
    int n = 0;
    if (strlen(r->url) >= sizeof buf)
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    snprintf(buf, sizeof buf, "%s", r->url);
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGS)
            return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
        seg[n++] = t;
    }
    int is_member = r->id.id_user.us_role == CDR_ROLE_MEMBER;
    if (n == 0)
        return pg_method(r, 0) ? r->status
               : is_member     ? member_overview(r)
                               : enterprise_overview(r);
    if (!strcmp(seg[0], "statements")) {
        if (pg_method(r, 0))
            return r->status;
        if (n == 1)
            return statements_page(r);
        if (n == 2 && !strcmp(seg[1], "open"))
            return statement_open(r);
        if (n >= 2 && (!strcmp(seg[1], "line") || !strcmp(seg[1], "enterprise")))
            return statement_page(r, seg, n);
        return pt_error(r, 400, "bad_request", "%s",
                        T(r, "No such statement address.", "没有这个账单地址。"));
    }
    if (!strcmp(seg[0], "lines") && n >= 2 && n <= 3 && pt_msisdn_ok(seg[1])) {
        if (pg_method(r, 0))
            return r->status;
        if (n == 2)
            return line_page(r, seg[1]);
        if (!strcmp(seg[2], "invoices"))
            return line_invoices(r, seg[1]);
    }
    if (!strcmp(seg[0], "enterprises") && n >= 2)
        return pg_enterprise(r, seg, n);
    if (!strcmp(seg[0], "requests") && n == 3)
        return pg_request_decide(r, seg, n);
    return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
}
