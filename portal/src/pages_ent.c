/* pages_ent.c - the enterprise pages (docs/portal-pages.md): an enterprise's overview, members,
 * invoices, warnings and requests (the form to submit one, approve and reject). Each page checks
 * pt_allow_enterprise for its kind; each part of a page that another kind covers checks that kind
 * too. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_requests.h"
#include "cdr_statement.h"
#include "pages_int.h"

#define MEMBERS_PAGE 100 /* members per page */

static void ent_link(pt_req *r, const cdr_dir_enterprise *en, int what, const char *path,
                     const char *label)
{
    if (!pg_ent_ok(r, what, en->en_id))
        return;
    fprintf(r->out, "<a class=\"link-%s\" href=\"/enterprises/%" PRIu64 "/%s\">%s</a> ", path,
            en->en_id, path, label);
}

int pg_enterprise_box(pt_req *r, const cdr_dir_enterprise *en, unsigned duties, int heading)
{
    if (!pg_ent_ok(r, PT_ENT_OVERVIEW, en->en_id))
        return 0;
    pt_ent_sums *es = calloc(1, sizeof *es);
    if (!es)
        return pt_error(r, 503, "unavailable", "out of memory");
    cdr_pay_status *ps = NULL;
    int money =
        pg_ent_ok(r, PT_ENT_STATEMENT, en->en_id) || pg_ent_ok(r, PT_ENT_INVOICES, en->en_id);
    if (pt_enterprise_sums(r, en->en_id, 0, es) ||
        (pg_ent_ok(r, PT_ENT_INVOICES, en->en_id) && pt_pay_status(r, en->en_account, &ps))) {
        free(es);
        return r->status;
    }
    char c[8];
    fprintf(r->out,
            "<section class=\"box enterprise\" id=\"enterprise-%" PRIu64 "\" data-id=\"%" PRIu64
            "\">",
            en->en_id, en->en_id);
    if (heading) {
        fprintf(r->out, "<h2><a href=\"/enterprises/%" PRIu64 "\">", en->en_id);
        pt_html(r, en->en_name);
        fputs("</a></h2>", r->out);
    }
    if (r->id.id_user.us_role == CDR_ROLE_MANAGER) {
        fprintf(r->out, "<p class=\"duties\">%s: ", T(r, "Your duties", "您的职责"));
        for (int d = 0, first = 1; d < CDR_DIR_MANAGERS; d++)
            if (duties & (1u << d)) {
                fprintf(r->out, "%s<span data-duty=\"%s\">%s</span>", first ? "" : ", ",
                        cdr_dir_duty_name(d), pg_duty(r, d));
                first = 0;
            }
        fputs("</p>", r->out);
    }
    fprintf(r->out,
            "<table><tr><th>%s</th><td class=\"cycle\">%s</td></tr>"
            "<tr><th>%s</th><td class=\"n members\" data-count=\"%zu\">%zu</td></tr>"
            "<tr><th>%s</th><td class=\"n warned\" data-count=\"%zu\">%zu</td></tr>"
            "<tr><th>%s</th><td class=\"n suspended\" data-count=\"%zu\">%zu</td></tr>",
            T(r, "Cycle", "账期"), pt_cycle_text(es->es_cycle, c), T(r, "Members", "成员数"),
            es->es_members, es->es_members, T(r, "Warned lines", "预警线路"), es->es_warned,
            es->es_warned, T(r, "Suspended lines", "停机线路"), es->es_suspended, es->es_suspended);
    for (size_t i = 0; money && i < es->es_ncur; i++) {
        fprintf(r->out, "<tr class=\"bill\" data-bill=\"%.3s\"><th>%s %.3s</th>", es->es_cur[i],
                T(r, "Bill to date", "本期消费"), es->es_cur[i]);
        pg_money_td(r, NULL, es->es_total[i]);
        fputs("</tr>", r->out);
    }
    fputs("</table>", r->out);
    free(es);
    if (ps) {
        fprintf(r->out,
                "<h3>%s</h3><table class=\"open-invoices\"><tr><th>%s</th><th>%s</th><th>%s</th>"
                "<th>%s</th><th>%s</th></tr>",
                T(r, "Open invoices of the enterprise account", "企业账户未付发票"),
                T(r, "Invoice", "发票号"), T(r, "Due", "到期日"), T(r, "Currency", "币种"),
                T(r, "Open", "未付"), T(r, "Days past due", "逾期天数"));
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
            fprintf(r->out, "<td class=\"n\">%" PRId64 "</td></tr>", pi->pi_days_past_due);
        }
        fputs("</table>", r->out);
        cdr_pay_status_free(ps);
    }
    fputs("<p class=\"links\">", r->out);
    ent_link(r, en, PT_ENT_MEMBERS, "members", T(r, "Members", "成员"));
    ent_link(r, en, PT_ENT_INVOICES, "invoices", T(r, "Invoices", "发票"));
    ent_link(r, en, PT_ENT_WARNINGS, "warnings", T(r, "Warnings", "预警"));
    ent_link(r, en, PT_ENT_REQUESTS, "requests", T(r, "Requests", "申请"));
    if (pg_ent_ok(r, PT_ENT_STATEMENT, en->en_id))
        fprintf(r->out, "<a class=\"link-statements\" href=\"/statements\">%s</a>",
                T(r, "Statements", "账单"));
    fputs("</p></section>", r->out);
    return 0;
}

/* ---- members -----------------------------------------------------------------------------------
 */

typedef struct members_ctx {
    pt_req *mc_r;
    size_t mc_i, mc_from;
    int mc_failed;
} members_ctx;

static void member_row(void *arg, const cdr_dir_subscriber *sb)
{
    members_ctx *mc = arg;
    pt_req *r = mc->mc_r;
    size_t i = mc->mc_i++;
    if (mc->mc_failed || i < mc->mc_from || i >= mc->mc_from + MEMBERS_PAGE)
        return;
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    int usage = pg_line_ok(r, PT_LINE_USAGE, sb->sb_msisdn);
    int linkable = usage || pg_line_ok(r, PT_LINE_OWNER, sb->sb_msisdn) ||
                   pg_line_ok(r, PT_LINE_BALANCE, sb->sb_msisdn);
    cdr_live_view v;
    memset(&v, 0, sizeof v);
    if (usage && pt_live(r, sb->sb_msisdn, 0, CDR_LIVE_Q_ALL, &v)) {
        mc->mc_failed = 1; /* answered */
        return;
    }
    fputs("<tr class=\"member\" data-msisdn=\"", r->out);
    pt_html(r, sb->sb_msisdn);
    fputs("\"><td>", r->out);
    if (linkable) {
        fputs("<a href=\"/lines/", r->out);
        pt_html(r, sb->sb_msisdn);
        fputs("\">", r->out);
    }
    pt_html(r, sb->sb_msisdn);
    fprintf(r->out, "%s</td><td class=\"status\" data-status=\"%s\">%s</td><td>",
            linkable ? "</a>" : "", cdr_dir_status_name(sb->sb_status),
            pg_dir_status(r, sb->sb_status));
    pt_html(r, sb->sb_plan);
    fputs("</td><td>", r->out);
    pt_html(r, pd ? pd->pd_name : "-");
    fputs("</td>", r->out);
    if (!usage) {
        fputs("<td>-</td><td>-</td><td>-</td></tr>", r->out);
        return;
    }
    const cdr_live_line *l = &v.lv_line;
    int st = v.lv_has_line ? (int)l->ll_status : CDR_LINE_ACTIVE;
    fprintf(r->out, "<td class=\"credit\" data-status=\"%s\">%s</td><td class=\"usage\">",
            cdr_line_status_name(st), pg_line_status(r, st));
    char q[3][40];
    for (int s = 0, first = 1; v.lv_has_line && s < CDR_SVC_COUNT; s++)
        if (l->ll_records[s]) {
            fprintf(r->out,
                    "%s<span data-service=\"%s\" data-records=\"%" PRIu64 "\">%s: %" PRIu64
                    " / %s</span>",
                    first ? "" : "<br>", cdr_service_name(s), l->ll_records[s], pg_service(r, s),
                    l->ll_records[s], cdr_dir_format_qty(s, l->ll_units[s], q[0], sizeof q[0]));
            first = 0;
        }
    fputs("</td><td class=\"bundles\">", r->out);
    for (int b = 0; b < v.lv_nbundles; b++) {
        const cdr_live_bundle *lb = &v.lv_bundles[b];
        fputs(b ? "<br>" : "", r->out);
        fputs("<span data-bundle=\"", r->out);
        pt_html(r, lb->lb_name);
        fprintf(r->out, "\" data-pool=\"%d\">", lb->lb_pool);
        pt_html(r, lb->lb_name);
        fprintf(r->out, ": %s / %s",
                cdr_dir_format_qty(lb->lb_service, lb->lb_used, q[0], sizeof q[0]),
                cdr_dir_format_qty(lb->lb_service, lb->lb_included, q[1], sizeof q[1]));
        if (lb->lb_pool)
            fprintf(r->out, " (%s %s)", T(r, "this line", "本线路"),
                    cdr_dir_format_qty(lb->lb_service, lb->lb_member_used, q[2], sizeof q[2]));
        fputs("</span>", r->out);
    }
    fputs("</td></tr>", r->out);
    cdr_live_view_free(&v);
}

static int members_page(pt_req *r, const cdr_dir_enterprise *en)
{
    members_ctx mc = {.mc_r = r};
    const char *from = pt_arg(r, "from");
    if (from) {
        uint64_t f;
        if (strcmp(from, "0") && pg_id_parse(from, &f) != 0)
            return pt_error(r, 400, "bad_request", "%s",
                            T(r, "from must be a number.", "from 须为数字。"));
        mc.mc_from = strcmp(from, "0") ? (size_t)f : 0;
    }
    char title[160];
    snprintf(title, sizeof title, "%s %s", T(r, "Members of", "成员："), en->en_name);
    pt_page_begin(r, title);
    fprintf(r->out,
            "<table id=\"members\"><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th></tr>",
            T(r, "Number", "号码"), T(r, "Status", "状态"), T(r, "Plan", "套餐"),
            T(r, "Product", "产品"), T(r, "Credit status", "信用状态"),
            T(r, "Usage (records / used)", "用量（话单数 / 用量）"),
            T(r, "Bundles and pool", "套餐包与共享池"));
    size_t total = pt_members(r, en->en_id, member_row, &mc);
    if (mc.mc_failed)
        return r->status;
    fprintf(r->out, "</table><p id=\"members-count\" data-count=\"%zu\">%s: %zu</p>", total,
            T(r, "Members", "成员数"), total);
    if (mc.mc_from + MEMBERS_PAGE < total)
        fprintf(r->out, "<p><a id=\"next\" href=\"?from=%zu\">%s</a></p>",
                mc.mc_from + MEMBERS_PAGE, T(r, "Next page", "下一页"));
    pt_page_end(r);
    return 0;
}

/* ---- warnings ----------------------------------------------------------------------------------
 */

static int warnings_page(pt_req *r, const cdr_dir_enterprise *en)
{
    pt_ent_sums *es = calloc(1, sizeof *es);
    if (!es)
        return pt_error(r, 503, "unavailable", "out of memory");
    if (pt_enterprise_sums(r, en->en_id, 0, es)) {
        free(es);
        return r->status;
    }
    char title[160], c[8];
    snprintf(title, sizeof title, "%s %s", T(r, "Warnings of", "预警："), en->en_name);
    pt_page_begin(r, title);
    fprintf(r->out,
            "<p>%s %s: <span id=\"warned\" data-count=\"%zu\">%zu</span> %s, "
            "<span id=\"suspended\" data-count=\"%zu\">%zu</span> %s</p>",
            T(r, "Cycle", "账期"), pt_cycle_text(es->es_cycle, c), es->es_warned, es->es_warned,
            T(r, "warned", "条预警"), es->es_suspended, es->es_suspended,
            T(r, "suspended", "条停机"));
    fprintf(r->out,
            "<table id=\"warned-lines\"><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
            T(r, "Number", "号码"), T(r, "Account", "账户"), T(r, "Credit status", "信用状态"),
            T(r, "Since", "起始时间"));
    for (size_t i = 0; i < es->es_nwarn; i++) {
        const cdr_dir_subscriber *sb = es->es_warn[i].ew_sub;
        const cdr_live_line *l = &es->es_warn[i].ew_line;
        fputs("<tr class=\"warned-line\" data-msisdn=\"", r->out);
        pt_html(r, sb->sb_msisdn);
        fprintf(r->out, "\" data-status=\"%s\"><td>", cdr_line_status_name((int)l->ll_status));
        pt_html(r, sb->sb_msisdn);
        fprintf(r->out, "</td><td>%" PRIu64 "</td><td>%s</td><td>", sb->sb_account,
                pg_line_status(r, (int)l->ll_status));
        pg_time(r, l->ll_status == CDR_LINE_SUSPENDED ? l->ll_suspended_at : l->ll_warned_at);
        fputs("</td></tr>", r->out);
    }
    fputs("</table>", r->out);
    free(es);
    /* the enterprise account's arrears: the recorded dunning list */
    cdr_pay_overdue_set *od = NULL;
    cdr_diag dg;
    fprintf(r->out, "<h2>%s</h2>", T(r, "Arrears of the enterprise account", "企业账户欠费"));
    if (cdr_pay_overdue_account(pt_store(r->srv), en->en_account, &od, &dg) != 0 || !od ||
        !od->os_recorded)
        fprintf(r->out, "<p id=\"arrears\" data-recorded=\"0\">%s</p>",
                T(r, "No dunning run is recorded.", "尚无催收记录。"));
    else {
        fprintf(r->out,
                "<table id=\"arrears\" data-recorded=\"1\"><tr><th>%s</th><th>%s</th>"
                "<th>%s</th><th>%s</th></tr>",
                T(r, "Currency", "币种"), T(r, "Overdue", "逾期金额"), T(r, "Invoices", "发票数"),
                T(r, "Oldest due", "最早到期日"));
        for (size_t i = 0; i < od->os_n; i++) {
            const cdr_pay_overdue *po = &od->os_items[i];
            fprintf(r->out, "<tr data-currency=\"%.3s\"><td>%.3s</td>", po->po_currency,
                    po->po_currency);
            pg_money_td(r, NULL, po->po_amount);
            fprintf(r->out, "<td class=\"n\">%" PRIu32 "</td><td>", po->po_invoices);
            pg_day(r, po->po_oldest_due);
            fputs("</td></tr>", r->out);
        }
        fputs("</table>", r->out);
    }
    cdr_pay_overdue_free(od);
    pt_page_end(r);
    return 0;
}

/* ---- requests ----------------------------------------------------------------------------------
 */

typedef struct req_ctx {
    pt_req *rc_r;
    int rc_decide; /* r may approve and reject */
    int rc_n;
} req_ctx;

static int request_row(void *arg, const cdr_request *rq)
{
    req_ctx *rc = arg;
    pt_req *r = rc->rc_r;
    const cdr_dir *dir = pt_dir_get(r);
    char m[32];
    rc->rc_n++;
    fprintf(r->out,
            "<tr class=\"request\" id=\"request-%" PRIu64 "\" data-id=\"%" PRIu64
            "\" data-state=\"%s\" data-kind=\"%s\"><td>%" PRIu64 "</td><td>%s</td><td>",
            rq->rq_id, rq->rq_id, cdr_req_state_name(rq->rq_state), cdr_req_kind_name(rq->rq_kind),
            rq->rq_id, pg_req_kind(r, rq->rq_kind));
    pt_html(r, rq->rq_msisdn);
    fputs("</td><td>", r->out);
    if (rq->rq_kind == CDR_REQ_ADD_MEMBER) {
        const cdr_dir_product *pd = dir ? cdr_dir_find_product(dir, rq->rq_product) : NULL;
        fprintf(r->out, "%s %" PRIu64 " ", T(r, "product", "产品"), rq->rq_product);
        pt_html(r, pd ? pd->pd_name : "");
    } else if (rq->rq_kind == CDR_REQ_CHANGE_PLAN) {
        fprintf(r->out, "%s ", T(r, "plan", "套餐"));
        pt_html(r, rq->rq_plan);
    } else if (rq->rq_kind == CDR_REQ_RAISE_CAP)
        fprintf(r->out, "%s %s", T(r, "cap", "限额"), cdr_money_text(rq->rq_cap, m, sizeof m));
    fputs("</td><td>", r->out);
    pt_html(r, rq->rq_note);
    fputs("</td><td>", r->out);
    pt_html(r, rq->rq_submitted_by);
    fputs("<br>", r->out);
    pg_time(r, rq->rq_submitted_at);
    fprintf(r->out, "</td><td class=\"state\">%s</td><td>", pg_req_state(r, rq->rq_state));
    if (rq->rq_decided_at) {
        pt_html(r, rq->rq_decided_by);
        fputs("<br>", r->out);
        pg_time(r, rq->rq_decided_at);
    } else
        fputs("-", r->out);
    fputs("</td><td>", r->out);
    if (rq->rq_applied_at)
        pg_time(r, rq->rq_applied_at);
    else
        fputs("-", r->out);
    fputs("</td><td>", r->out);
    if (rc->rc_decide && rq->rq_state == CDR_REQ_SUBMITTED)
        for (int approve = 1; approve >= 0; approve--) {
            const char *verb = approve ? "approve" : "reject";
            fprintf(r->out,
                    "<form method=\"post\" action=\"/requests/%" PRIu64 "/%s\" class=\"decide\">",
                    rq->rq_id, verb);
            pg_csrf_field(r);
            fprintf(r->out, "<button type=\"submit\" id=\"%s-%" PRIu64 "\">%s</button></form>",
                    verb, rq->rq_id, approve ? T(r, "Approve", "批准") : T(r, "Reject", "拒绝"));
        }
    fputs("</td></tr>", r->out);
    return 0;
}

static void request_form(pt_req *r, const cdr_dir_enterprise *en)
{
    fprintf(r->out,
            "<h2>%s</h2><form method=\"post\" action=\"/enterprises/%" PRIu64
            "/requests\" class=\"box\" id=\"request-form\">",
            T(r, "New request", "新申请"), en->en_id);
    pg_csrf_field(r);
    fprintf(r->out, "<label>%s <select name=\"kind\" id=\"rq-kind\">", T(r, "Kind", "类型"));
    for (int k = CDR_REQ_ADD_MEMBER; k < CDR_REQ_KIND_END; k++)
        fprintf(r->out, "<option value=\"%s\">%s</option>", cdr_req_kind_name(k),
                pg_req_kind(r, k));
    fprintf(r->out,
            "</select></label><label>%s <input name=\"msisdn\" id=\"rq-msisdn\" required "
            "pattern=\"[0-9]{1,15}\"></label><label>%s <select name=\"product\" "
            "id=\"rq-product\"><option value=\"\">-</option>",
            T(r, "Number", "号码"), T(r, "Product (to add a member)", "产品（添加成员时）"));
    const cdr_dir *dir = pt_dir_get(r);
    size_t n;
    const cdr_dir_product *pds = dir ? cdr_dir_products(dir, &n) : NULL;
    for (size_t i = 0; pds && i < n; i++)
        if (pds[i].pd_enterprise == en->en_id) {
            fprintf(r->out, "<option value=\"%" PRIu64 "\">%" PRIu64 " ", pds[i].pd_id,
                    pds[i].pd_id);
            pt_html(r, pds[i].pd_name);
            fputs("</option>", r->out);
        }
    fprintf(r->out,
            "</select></label><label>%s <input name=\"plan\" id=\"rq-plan\"></label>"
            "<label>%s <input name=\"cap\" id=\"rq-cap\" placeholder=\"150.00\"></label>"
            "<label>%s <textarea name=\"note\" id=\"rq-note\" maxlength=\"%d\"></textarea></label>"
            "<button type=\"submit\" id=\"rq-submit\">%s</button></form>",
            T(r, "Plan (to change the plan)", "套餐（变更套餐时）"),
            T(r, "Cap (to raise the cap)", "限额（提高限额时）"), T(r, "Note", "备注"),
            CDR_REQ_NOTE_MAX - 1, T(r, "Submit", "提交"));
}

typedef struct form_ctx {
    pt_req *fc_r;
    char fc_buf[6][CDR_REQ_NOTE_MAX + 64];
} form_ctx;

/* pt_request_fill's getter over the form's fields. */
static const char *form_get(void *ctx, const char *name)
{
    static const char *const names[6] = {"kind", "msisdn", "product", "plan", "cap", "note"};
    form_ctx *fc = ctx;
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, names[i]))
            return pt_form(fc->fc_r, name, fc->fc_buf[i], sizeof fc->fc_buf[i]);
    return NULL;
}

static int requests_page(pt_req *r, const cdr_dir_enterprise *en)
{
    if (r->post) {
        if (pt_check_csrf(r))
            return r->status;
        form_ctx *fc = calloc(1, sizeof *fc);
        if (!fc)
            return pt_error(r, 503, "unavailable", "out of memory");
        fc->fc_r = r;
        cdr_request rq;
        int st = pt_request_fill(r, en, form_get, fc, &rq) || pt_request_submit(r, &rq);
        free(fc);
        if (st)
            return r->status;
        char loc[96];
        snprintf(loc, sizeof loc, "/enterprises/%" PRIu64 "/requests?submitted=%" PRIu64, en->en_id,
                 rq.rq_id);
        return pt_redirect(r, loc);
    }
    char title[160];
    snprintf(title, sizeof title, "%s %s", T(r, "Requests of", "申请："), en->en_name);
    pt_page_begin(r, title);
    const char *sub = pt_arg(r, "submitted");
    uint64_t sid;
    if (sub && pg_id_parse(sub, &sid) == 0)
        fprintf(r->out,
                "<p class=\"notice\" id=\"submitted\" data-id=\"%" PRIu64 "\">%s %" PRIu64 "</p>",
                sid, T(r, "Submitted: request", "已提交申请"), sid);
    fprintf(r->out,
            "<table id=\"requests\"><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
            "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th></th></tr>",
            T(r, "Id", "编号"), T(r, "Kind", "类型"), T(r, "Number", "号码"),
            T(r, "Change", "变更"), T(r, "Note", "备注"), T(r, "Submitted", "提交"),
            T(r, "State", "状态"), T(r, "Decided", "审批"), T(r, "Done", "完成"));
    req_ctx rc = {.rc_r = r, .rc_decide = pg_ent_ok(r, PT_ENT_REQUEST_DECIDE, en->en_id)};
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_req_each(pt_store(r->srv), en->en_id, request_row, &rc, &dg) != 0)
        return pt_error(r, 503, "unavailable", "%s",
                        T(r, "The requests cannot be read now.", "暂时无法读取申请。"));
    fputs("</table>", r->out);
    if (!rc.rc_n)
        fprintf(r->out, "<p id=\"no-requests\">%s</p>", T(r, "No request yet.", "尚无申请。"));
    if (pg_ent_ok(r, PT_ENT_REQUEST_SUBMIT, en->en_id))
        request_form(r, en);
    pt_page_end(r);
    return 0;
}

/* POST /requests/{id}/approve|reject, then back to the enterprise's requests. */
int pg_request_decide(pt_req *r, const char *const *seg, int n)
{
    uint64_t id;
    if (n != 3 || pg_id_parse(seg[1], &id) != 0 ||
        (strcmp(seg[2], "approve") && strcmp(seg[2], "reject")))
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    if (!r->post) {
        snprintf(r->allow, sizeof r->allow, "POST");
        return pt_error(r, 405, "method_not_allowed", "%s",
                        T(r, "Use the page's buttons.", "请使用页面上的按钮。"));
    }
    if (pt_check_csrf(r))
        return r->status;
    cdr_request rq;
    if (pt_request_decide(r, id, !strcmp(seg[2], "approve"), &rq))
        return r->status;
    char loc[64];
    snprintf(loc, sizeof loc, "/enterprises/%" PRIu64 "/requests", rq.rq_enterprise);
    return pt_redirect(r, loc);
}

/* ---- the router of /enterprises/{id}/... -------------------------------------------------------
 */

int pg_enterprise(pt_req *r, const char *const *seg, int n)
{
    uint64_t id;
    if (n > 3 || pg_id_parse(seg[1], &id) != 0)
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    const char *what = n == 3 ? seg[2] : "";
    int kind = !*what                      ? PT_ENT_OVERVIEW
               : !strcmp(what, "members")  ? PT_ENT_MEMBERS
               : !strcmp(what, "invoices") ? PT_ENT_INVOICES
               : !strcmp(what, "warnings") ? PT_ENT_WARNINGS
               : !strcmp(what, "requests") ? (r->post ? PT_ENT_REQUEST_SUBMIT : PT_ENT_REQUESTS)
                                           : 0;
    if (!kind)
        return pt_error(r, 404, "not_found", "%s", T(r, "No such page.", "没有这个页面。"));
    if (pg_method(r, kind == PT_ENT_REQUEST_SUBMIT))
        return r->status;
    const cdr_dir_enterprise *en;
    int a = pt_allow_enterprise(r, kind, id, &en);
    if (a != PT_OK) {
        if (kind == PT_ENT_REQUEST_SUBMIT)
            pt_audit(r, "request.submit", seg[1], "refused", a == 403 ? "forbidden" : "not found");
        return pg_refuse(r, a);
    }
    switch (kind) {
    case PT_ENT_OVERVIEW: {
        unsigned duties = r->id.id_user.us_role == CDR_ROLE_MANAGER
                              ? cdr_dir_manager_duties(en, r->id.id_user.us_login)
                              : (1u << CDR_DIR_MANAGERS) - 1;
        pt_page_begin(r, en->en_name);
        if (pg_enterprise_box(r, en, duties, 0))
            return r->status;
        pt_page_end(r);
        return 0;
    }
    case PT_ENT_MEMBERS:
        return members_page(r, en);
    case PT_ENT_WARNINGS:
        return warnings_page(r, en);
    case PT_ENT_INVOICES: {
        cdr_pay_status *ps;
        if (pt_pay_status(r, en->en_account, &ps))
            return r->status;
        char title[160];
        snprintf(title, sizeof title, "%s %s", T(r, "Invoices of", "发票："), en->en_name);
        pt_page_begin(r, title);
        pg_invoices_tables(r, ps);
        pt_page_end(r);
        cdr_pay_status_free(ps);
        return 0;
    }
    default:
        return requests_page(r, en);
    }
}
