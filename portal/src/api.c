/* api.c - the JSON API under /api/v1 (docs/portal.md, docs/openapi.yaml). Every answer is one JSON
 * object; every refusal {"error":{"status","reason","message"}}. The same access rules as the pages
 * (access.c). */
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_live_json.h"
#include "cdr_requests.h"
#include "cdr_statement.h"
#include "data_int.h"
#include "json_in.h"

#define MAX_SEGS 8

typedef struct segs {
    char buf[1024];
    const char *s[MAX_SEGS];
    int n;
} segs;

/* Split the path after /api/v1/ at '/'; -1 when it is too long or has too many segments. */
static int split(const char *url, segs *sg)
{
    if (strlen(url) >= sizeof sg->buf)
        return -1;
    snprintf(sg->buf, sizeof sg->buf, "%s", url);
    memset(sg->s, 0, sizeof sg->s);
    sg->n = 0;
    char *save = NULL;
    for (char *t = strtok_r(sg->buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (sg->n == MAX_SEGS)
            return -1;
        sg->s[sg->n++] = t;
    }
    return 0;
}

static int id_parse(const char *s, uint64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 19 || strspn(s, "0123456789") != n || s[0] == '0')
        return -1;
    *out = strtoull(s, NULL, 10);
    return *out >= 1 && *out <= (uint64_t)INT64_MAX ? 0 : -1;
}

static int refuse(pt_req *r, int code)
{
    switch (code) {
    case PT_UNAUTH:
        return pt_error(r, 401, "unauthorized", "log in first (or send an API key)");
    case PT_FORBIDDEN:
        return pt_error(r, 403, "forbidden", "not allowed for this identity");
    default:
        return pt_error(r, 404, "not_found", "no such object");
    }
}

static int method(pt_req *r, const char *allowed)
{
    if (!strcmp(r->method, allowed) || (!strcmp(allowed, "GET") && !strcmp(r->method, "HEAD")))
        return 0;
    snprintf(r->allow, sizeof r->allow, "%s", allowed);
    return pt_error(r, 405, "method_not_allowed", "use %s here", allowed);
}

/* A JSON body into fields: 0, or 400/415 answered. */
static int body_json(pt_req *r, pt_jfield *f, size_t max, size_t *n)
{
    const char *ct = pt_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0)
        return pt_error(r, 415, "unsupported_media_type", "send the body as application/json");
    char err[160];
    if (!r->body || pt_json_parse(r->body, r->body_len, f, max, n, err, sizeof err) != 0)
        return pt_error(r, 400, "malformed_json", "%s", r->body ? err : "the body is empty");
    return 0;
}

static const char *jstr(const pt_jfield *f, size_t n, const char *name)
{
    const pt_jfield *x = pt_json_get(f, n, name);
    return x && x->jf_type == PT_J_STRING ? x->jf_value : NULL;
}

static void duties_json(pt_req *r, unsigned duties)
{
    fputc('[', r->out);
    int first = 1;
    for (int d = 0; d < CDR_DIR_MANAGERS; d++)
        if (duties & (1u << d)) {
            fprintf(r->out, "%s\"%s\"", first ? "" : ",", cdr_dir_duty_name(d));
            first = 0;
        }
    fputc(']', r->out);
}

static void ent_brief(void *arg, const cdr_dir_enterprise *en, unsigned duties)
{
    pt_req *r = arg;
    fprintf(r->out, "%s{\"id\":%" PRIu64 ",\"name\":", r->sep ? "," : "", en->en_id);
    pt_json_str(r, en->en_name);
    fputs(",\"duties\":", r->out);
    if (r->id.id_user.us_role == CDR_ROLE_MANAGER)
        duties_json(r, duties);
    else
        fputs("null", r->out);
    fputc('}', r->out);
    r->sep = 1;
}

static int me(pt_req *r)
{
    if (r->id.id_kind == PT_ANON)
        return refuse(r, PT_UNAUTH);
    if (r->id.id_kind == PT_KEY) {
        fputs("{\"key\":", r->out);
        pt_json_str(r, r->id.id_key.ak_name);
        fprintf(r->out, ",\"scopes\":[%s]}\n",
                r->id.id_key.ak_scopes & CDR_SCOPE_IVR ? "\"ivr\"" : "");
        return 0;
    }
    const cdr_user *u = &r->id.id_user;
    fputs("{\"login\":", r->out);
    pt_json_str(r, u->us_login);
    fprintf(r->out, ",\"role\":\"%s\",\"msisdn\":", cdr_role_name(u->us_role));
    if (u->us_msisdn[0])
        pt_json_str(r, u->us_msisdn);
    else
        fputs("null", r->out);
    fputs(",\"enterprise\":", r->out);
    if (u->us_enterprise)
        fprintf(r->out, "%" PRIu64, u->us_enterprise);
    else
        fputs("null", r->out);
    fputs(",\"csrf\":", r->out);
    pt_json_str(r, r->id.id_csrf);
    fputs(",\"enterprises\":[", r->out);
    r->sep = 0;
    pt_each_enterprise(r, ent_brief, r);
    fputs("]}\n", r->out);
    return 0;
}

static int login(pt_req *r)
{
    if (method(r, "POST"))
        return r->status;
    pt_jfield f[4];
    size_t n;
    if (body_json(r, f, 4, &n))
        return r->status;
    const char *l = jstr(f, n, "login"), *p = jstr(f, n, "password");
    if (!l || !p)
        return pt_error(r, 400, "bad_request", "\"login\" and \"password\" (strings) are needed");
    int st = pt_login(r, l, p);
    sodium_memzero(f, sizeof f); /* the password leaves no copy on this thread's stack */
    if (st)
        return r->status;
    return me(r);
}

static int logout(pt_req *r)
{
    if (method(r, "POST"))
        return r->status;
    if (r->id.id_kind != PT_USER)
        return refuse(r, PT_UNAUTH);
    if (pt_check_csrf(r))
        return r->status;
    pt_logout(r);
    fputs("{\"logged_out\":true}\n", r->out);
    return 0;
}

/* ---- lines -------------------------------------------------------------------------------------
 */

static int cycle_arg(pt_req *r, uint32_t *cycle)
{
    const char *c = pt_arg(r, "cycle");
    *cycle = 0;
    if (c && !(*cycle = pt_parse_cycle(c)))
        return pt_error(r, 400, "bad_request", "cycle must be YYYY-MM");
    return 0;
}

static int format_arg(pt_req *r, int *format, const char **section, int member)
{
    const char *f = pt_arg(r, "format");
    *section = NULL;
    if (!f || !strcmp(f, "json"))
        *format = CDR_STMT_JSON;
    else if (!strcmp(f, "html"))
        *format = CDR_STMT_HTML;
    else if (!strcmp(f, "csv")) {
        *format = CDR_STMT_CSV;
        const char *s = pt_arg(r, "section");
        if (!s)
            s = member ? "itemised" : "members";
        if (!pt_section_ok(s))
            return pt_error(r, 400, "bad_request",
                            "section must be one of summary, classes, services, bundles, "
                            "overflow, members, itemised");
        *section = s;
    } else
        return pt_error(r, 400, "bad_request", "format must be json, csv or html");
    return 0;
}

/* ,"managers":{"account":..,"billing":..,"service":..,"technical":..} (null for none) */
static void managers_json(pt_req *r, const cdr_dir_enterprise *en)
{
    fputs(",\"managers\":{", r->out);
    for (int d = 0; d < CDR_DIR_MANAGERS; d++) {
        fprintf(r->out, "%s\"%s\":", d ? "," : "", cdr_dir_duty_name(d));
        if (en->en_manager[d][0])
            pt_json_str(r, en->en_manager[d]);
        else
            fputs("null", r->out);
    }
    fputc('}', r->out);
}

static void owner_json(pt_req *r, const cdr_dir_subscriber *sb)
{
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_account *ac = cdr_dir_find_account(dir, sb->sb_account);
    const cdr_dir_enterprise *en =
        sb->sb_enterprise ? cdr_dir_find_enterprise(dir, sb->sb_enterprise) : NULL;
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    fputs("{\"msisdn\":", r->out);
    pt_json_str(r, sb->sb_msisdn);
    fprintf(r->out, ",\"subscriber\":%" PRIu64 ",\"status\":\"%s\",\"plan\":", sb->sb_id,
            cdr_dir_status_name(sb->sb_status));
    pt_json_str(r, sb->sb_plan);
    fprintf(r->out, ",\"account\":{\"id\":%" PRIu64 ",\"name\":", sb->sb_account);
    pt_json_str(r, ac ? ac->ac_name : "");
    fputs(",\"credit_class\":", r->out);
    pt_json_str(r, ac ? ac->ac_credit_class : "");
    fputs("},\"enterprise\":", r->out);
    if (en) {
        fprintf(r->out, "{\"id\":%" PRIu64 ",\"name\":", en->en_id);
        pt_json_str(r, en->en_name);
        fprintf(r->out, ",\"account\":%" PRIu64 ",\"product\":", en->en_account);
        if (pd) {
            fprintf(r->out, "{\"id\":%" PRIu64 ",\"name\":", pd->pd_id);
            pt_json_str(r, pd->pd_name);
            fputc('}', r->out);
        } else
            fputs("null", r->out);
        managers_json(r, en);
        fputc('}', r->out);
    } else
        fputs("null", r->out);
    fputs("}\n", r->out);
}

static void invoices_json(pt_req *r, const cdr_pay_status *ps)
{
    char a[32], b[32], c[32], d1[16], d2[16];
    fputs("{\"invoices\":[", r->out);
    for (size_t i = 0; ps && i < ps->ps_ninvoices; i++) {
        const cdr_pay_invoice *pi = &ps->ps_invoices[i];
        fprintf(r->out, "%s{\"invoice\":", i ? "," : "");
        pt_json_str(r, pi->pi_invoice);
        fprintf(r->out,
                ",\"cycle\":\"%s\",\"currency\":\"%.3s\",\"issued\":\"%s\",\"due\":\"%s\","
                "\"total\":\"%s\",\"paid\":\"%s\",\"open\":\"%s\",\"days_past_due\":%" PRId64
                ",\"aging\":\"%s\"}",
                ps->ps_cycles[pi->pi_cycle], pi->pi_currency,
                cdr_pay_date_format(pi->pi_issued, d1, sizeof d1),
                cdr_pay_date_format(pi->pi_due, d2, sizeof d2),
                cdr_money_text(pi->pi_total, a, sizeof a), cdr_money_text(pi->pi_paid, b, sizeof b),
                cdr_money_text(pi->pi_open, c, sizeof c), pi->pi_open ? pi->pi_days_past_due : 0,
                cdr_pay_bucket_name(pi->pi_bucket));
    }
    fputs("],\"payments\":[", r->out);
    for (size_t i = 0; ps && i < ps->ps_npayments; i++) {
        const cdr_payment *pm = &ps->ps_payments[i];
        fprintf(r->out, "%s{\"id\":", i ? "," : "");
        pt_json_str(r, pm->pm_id);
        fprintf(r->out,
                ",\"date\":\"%s\",\"currency\":\"%.3s\",\"amount\":\"%s\",\"method\":\"%s\"}",
                cdr_pay_date_format(pm->pm_date, d1, sizeof d1), pm->pm_currency,
                cdr_money_text(pm->pm_amount, a, sizeof a), cdr_pay_method_name(pm->pm_method));
    }
    fputs("],\"balances\":[", r->out);
    for (size_t i = 0; ps && i < ps->ps_naccounts; i++) {
        const cdr_pay_account *pa = &ps->ps_accounts[i];
        fprintf(r->out,
                "%s{\"currency\":\"%.3s\",\"invoiced\":\"%s\",\"paid\":\"%s\",\"open\":\"%s\","
                "\"overdue\":\"%s\",\"overdue_invoices\":%" PRIu32 ",\"aging\":{",
                i ? "," : "", pa->pa_currency, cdr_money_text(pa->pa_invoiced, a, sizeof a),
                cdr_money_text(pa->pa_paid, b, sizeof b), cdr_money_text(pa->pa_open, c, sizeof c),
                cdr_money_text(pa->pa_overdue, d1, sizeof d1), pa->pa_overdue_invoices);
        for (int k = 0; k < CDR_AGE_COUNT; k++)
            fprintf(r->out, "%s\"%s\":\"%s\"", k ? "," : "", cdr_pay_bucket_name(k),
                    cdr_money_text(pa->pa_aging[k], a, sizeof a));
        fputs("}}", r->out);
    }
    fprintf(r->out, "],\"as_of\":\"%s\"}\n",
            cdr_pay_date_format(ps ? ps->ps_as_of : (int64_t)time(NULL) / 86400, d1, sizeof d1));
}

static int line(pt_req *r, const segs *sg)
{
    /* lines/{msisdn}/{balance|usage|bill-to-date|owner|invoices|statements/{YYYY-MM}} */
    if (sg->n < 3 || !pt_msisdn_ok(sg->s[1]))
        return pt_error(r, 404, "not_found", "no such resource (lines/{msisdn}/...)");
    const char *msisdn = sg->s[1], *what = sg->s[2];
    int kind = !strcmp(what, "balance")        ? PT_LINE_BALANCE
               : !strcmp(what, "usage")        ? PT_LINE_USAGE
               : !strcmp(what, "bill-to-date") ? PT_LINE_BILL
               : !strcmp(what, "owner")        ? PT_LINE_OWNER
               : !strcmp(what, "invoices")     ? PT_LINE_INVOICES
               : !strcmp(what, "statements")   ? PT_LINE_STATEMENT
                                               : 0;
    if (!kind || (kind == PT_LINE_STATEMENT ? sg->n != 4 : sg->n != 3))
        return pt_error(r, 404, "not_found", "no such resource");
    if (method(r, "GET"))
        return r->status;
    const cdr_dir_subscriber *sb;
    int a = pt_allow_line(r, kind, msisdn, &sb);
    if (a != PT_OK) {
        if (kind == PT_LINE_STATEMENT) {
            char target[96];
            snprintf(target, sizeof target, "line/%s/statement/%.7s", msisdn, sg->s[3]);
            pt_audit(r, "statement.view", target, "refused", a == 403 ? "forbidden" : "not found");
        }
        return refuse(r, a);
    }
    uint32_t cycle;
    if (kind == PT_LINE_OWNER) {
        owner_json(r, sb);
        return 0;
    }
    if (kind == PT_LINE_INVOICES) {
        cdr_pay_status *ps;
        if (pt_pay_status(r, sb->sb_account, &ps))
            return r->status;
        invoices_json(r, ps);
        cdr_pay_status_free(ps);
        return 0;
    }
    if (kind == PT_LINE_STATEMENT) {
        int format;
        const char *section;
        if (!(cycle = pt_parse_cycle(sg->s[3])))
            return pt_error(r, 400, "bad_request", "the cycle must be YYYY-MM");
        if (format_arg(r, &format, &section, 1))
            return r->status;
        const char *dl = pt_arg(r, "download");
        return pt_statement(r, sb->sb_msisdn, 0, cycle, format, section, dl && !strcmp(dl, "1"));
    }
    if (cycle_arg(r, &cycle))
        return r->status;
    cdr_live_view v;
    if (pt_live(r, msisdn, cycle, kind == PT_LINE_BALANCE ? CDR_LIVE_Q_BALANCE : CDR_LIVE_Q_ALL,
                &v))
        return r->status;
    if (kind == PT_LINE_BALANCE) {
        cdr_pay_overdue_set *od = NULL;
        cdr_diag dg;
        if (cdr_pay_overdue_account(pt_store(r->srv), v.lv_sub->sb_account, &od, &dg) == 0)
            cdr_live_json_balance(r->out, &v, od);
        else
            pt_error(r, 503, "unavailable", "the arrears cannot be read now");
        cdr_pay_overdue_free(od);
    } else if (kind == PT_LINE_USAGE)
        cdr_live_json_usage(r->out, &v);
    else
        cdr_live_json_bill(r->out, &v, pt_plans(r->srv));
    cdr_live_view_free(&v);
    return 0;
}

/* ---- enterprises -------------------------------------------------------------------------------
 */

static void member_json(void *arg, const cdr_dir_subscriber *sb)
{
    pt_req *r = arg;
    fprintf(r->out, "%s{\"msisdn\":", r->sep ? "," : "");
    pt_json_str(r, sb->sb_msisdn);
    fprintf(r->out,
            ",\"subscriber\":%" PRIu64 ",\"account\":%" PRIu64 ",\"status\":\"%s\",\"plan\":",
            sb->sb_id, sb->sb_account, cdr_dir_status_name(sb->sb_status));
    pt_json_str(r, sb->sb_plan);
    fprintf(r->out, ",\"product\":%" PRIu64 "}", sb->sb_product);
    r->sep = 1;
}

static void warn_json(pt_req *r, const cdr_dir_subscriber *sb, const cdr_live_line *l)
{
    char t[40];
    fprintf(r->out, "%s{\"msisdn\":", r->sep ? "," : "");
    pt_json_str(r, sb->sb_msisdn);
    fprintf(
        r->out, ",\"account\":%" PRIu64 ",\"line_status\":\"%s\",\"since\":\"%s\"}", sb->sb_account,
        cdr_line_status_name((int)l->ll_status),
        cdr_time_format(l->ll_status == CDR_LINE_SUSPENDED ? l->ll_suspended_at : l->ll_warned_at,
                        0, 1, t, sizeof t));
    r->sep = 1;
}

static void sums_json(pt_req *r, const pt_ent_sums *es)
{
    char m[32], c[8];
    fprintf(r->out,
            "\"cycle\":\"%s\",\"members\":%zu,\"warned\":%zu,\"suspended\":%zu,"
            "\"bill_to_date\":{",
            pt_cycle_text(es->es_cycle, c), es->es_members, es->es_warned, es->es_suspended);
    for (size_t i = 0; i < es->es_ncur; i++)
        fprintf(r->out, "%s\"%.3s\":\"%s\"", i ? "," : "", es->es_cur[i],
                cdr_money_text(es->es_total[i], m, sizeof m));
    fputc('}', r->out);
}

static int requests_json(pt_req *r, uint64_t enterprise);
static int request_submit(pt_req *r, const cdr_dir_enterprise *en);

static void each_request(void *arg, const cdr_request *rq);

static int enterprise(pt_req *r, const segs *sg)
{
    if (sg->n == 1) { /* the list of what this identity can see */
        if (method(r, "GET"))
            return r->status;
        int a = pt_allow_kind(r, PT_ENT_OVERVIEW);
        if (a != PT_OK)
            return refuse(r, a);
        fputs("{\"enterprises\":[", r->out);
        r->sep = 0;
        pt_each_enterprise(r, ent_brief, r);
        fputs("]}\n", r->out);
        return 0;
    }
    uint64_t id;
    if (id_parse(sg->s[1], &id) != 0)
        return pt_error(r, 404, "not_found", "no such enterprise");
    const char *what = sg->n >= 3 ? sg->s[2] : "";
    int kind = !*what                        ? PT_ENT_OVERVIEW
               : !strcmp(what, "members")    ? PT_ENT_MEMBERS
               : !strcmp(what, "statements") ? PT_ENT_STATEMENT
               : !strcmp(what, "invoices")   ? PT_ENT_INVOICES
               : !strcmp(what, "warnings")   ? PT_ENT_WARNINGS
               : !strcmp(what, "requests")   ? (r->post ? PT_ENT_REQUEST_SUBMIT : PT_ENT_REQUESTS)
                                             : 0;
    if (!kind || (kind == PT_ENT_STATEMENT ? sg->n != 4 : sg->n > 3))
        return pt_error(r, 404, "not_found", "no such resource");
    if (kind != PT_ENT_REQUEST_SUBMIT && method(r, "GET"))
        return r->status;
    const cdr_dir_enterprise *en;
    int a = pt_allow_enterprise(r, kind, id, &en);
    if (a != PT_OK) {
        char target[96];
        if (kind == PT_ENT_STATEMENT) {
            snprintf(target, sizeof target, "enterprise/%" PRIu64 "/statement/%.7s", id, sg->s[3]);
            pt_audit(r, "statement.view", target, "refused", a == 403 ? "forbidden" : "not found");
        }
        if (kind == PT_ENT_REQUEST_SUBMIT) {
            snprintf(target, sizeof target, "enterprise/%" PRIu64, id);
            pt_audit(r, "request.submit", target, "refused", a == 403 ? "forbidden" : "not found");
        }
        return refuse(r, a);
    }
    uint32_t cycle;
    switch (kind) {
    case PT_ENT_OVERVIEW: {
        if (cycle_arg(r, &cycle))
            return r->status;
        pt_ent_sums *es = calloc(1, sizeof *es);
        if (!es)
            return pt_error(r, 503, "unavailable", "out of memory");
        cdr_pay_status *ps = NULL;
        if (pt_enterprise_sums(r, id, cycle, es) || pt_pay_status(r, en->en_account, &ps)) {
            free(es);
            return r->status;
        }
        fprintf(r->out, "{\"id\":%" PRIu64 ",\"name\":", en->en_id);
        pt_json_str(r, en->en_name);
        fprintf(r->out, ",\"account\":%" PRIu64, en->en_account);
        managers_json(r, en);
        fputc(',', r->out);
        sums_json(r, es);
        free(es);
        /* open invoices of the enterprise account, per currency */
        char m[32];
        fputs(",\"open_invoices\":[", r->out);
        int k = 0;
        for (size_t i = 0; ps && i < ps->ps_ninvoices; i++) {
            const cdr_pay_invoice *pi = &ps->ps_invoices[i];
            if (pi->pi_open <= 0)
                continue;
            fprintf(r->out, "%s{\"invoice\":", k++ ? "," : "");
            pt_json_str(r, pi->pi_invoice);
            fprintf(r->out, ",\"currency\":\"%.3s\",\"open\":\"%s\",\"days_past_due\":%" PRId64 "}",
                    pi->pi_currency, cdr_money_text(pi->pi_open, m, sizeof m),
                    pi->pi_days_past_due);
        }
        fputs("]}\n", r->out);
        cdr_pay_status_free(ps);
        return 0;
    }
    case PT_ENT_MEMBERS:
        fprintf(r->out, "{\"enterprise\":%" PRIu64 ",\"members\":[", id);
        r->sep = 0;
        pt_members(r, id, member_json, r);
        fputs("]}\n", r->out);
        return 0;
    case PT_ENT_WARNINGS: {
        if (cycle_arg(r, &cycle))
            return r->status;
        pt_ent_sums *es = calloc(1, sizeof *es);
        if (!es)
            return pt_error(r, 503, "unavailable", "out of memory");
        if (pt_enterprise_sums(r, id, cycle, es)) {
            free(es);
            return r->status;
        }
        fprintf(r->out, "{\"enterprise\":%" PRIu64 ",\"lines\":[", id);
        for (size_t i = 0; i < es->es_nwarn; i++)
            warn_json(r, es->es_warn[i].ew_sub, &es->es_warn[i].ew_line);
        fputs("],", r->out);
        sums_json(r, es);
        free(es);
        /* the enterprise account's arrears (the dunning list) */
        cdr_pay_overdue_set *od = NULL;
        cdr_diag dg;
        char m[32], d1[16];
        fputs(",\"arrears\":", r->out);
        if (cdr_pay_overdue_account(pt_store(r->srv), en->en_account, &od, &dg) == 0 && od &&
            od->os_recorded) {
            fputc('[', r->out);
            for (size_t i = 0; i < od->os_n; i++)
                fprintf(r->out,
                        "%s{\"currency\":\"%.3s\",\"overdue\":\"%s\",\"oldest_due\":\"%s\"}",
                        i ? "," : "", od->os_items[i].po_currency,
                        cdr_money_text(od->os_items[i].po_amount, m, sizeof m),
                        cdr_pay_date_format(od->os_items[i].po_oldest_due, d1, sizeof d1));
            fputc(']', r->out);
        } else
            fputs("null", r->out);
        cdr_pay_overdue_free(od);
        fputs("}\n", r->out);
        return 0;
    }
    case PT_ENT_INVOICES: {
        cdr_pay_status *ps;
        if (pt_pay_status(r, en->en_account, &ps))
            return r->status;
        invoices_json(r, ps);
        cdr_pay_status_free(ps);
        return 0;
    }
    case PT_ENT_STATEMENT: {
        int format;
        const char *section;
        if (!(cycle = pt_parse_cycle(sg->s[3])))
            return pt_error(r, 400, "bad_request", "the cycle must be YYYY-MM");
        if (format_arg(r, &format, &section, 0))
            return r->status;
        const char *dl = pt_arg(r, "download");
        return pt_statement(r, NULL, id, cycle, format, section, dl && !strcmp(dl, "1"));
    }
    case PT_ENT_REQUESTS:
        return requests_json(r, id);
    case PT_ENT_REQUEST_SUBMIT:
        if (pt_check_csrf(r))
            return r->status;
        return request_submit(r, en);
    }
    return pt_error(r, 404, "not_found", "no such resource");
}

/* ---- requests ----------------------------------------------------------------------------------
 */

void pt_request_json(pt_req *r, const cdr_request *rq)
{
    char m[32], t[40];
    fprintf(r->out,
            "{\"id\":%" PRIu64 ",\"enterprise\":%" PRIu64
            ",\"kind\":\"%s\",\"state\":\"%s\",\"msisdn\":",
            rq->rq_id, rq->rq_enterprise, cdr_req_kind_name(rq->rq_kind),
            cdr_req_state_name(rq->rq_state));
    pt_json_str(r, rq->rq_msisdn);
    if (rq->rq_kind == CDR_REQ_ADD_MEMBER)
        fprintf(r->out, ",\"product\":%" PRIu64, rq->rq_product);
    if (rq->rq_kind == CDR_REQ_CHANGE_PLAN) {
        fputs(",\"plan\":", r->out);
        pt_json_str(r, rq->rq_plan);
    }
    if (rq->rq_kind == CDR_REQ_RAISE_CAP)
        fprintf(r->out, ",\"cap\":\"%s\"", cdr_money_text(rq->rq_cap, m, sizeof m));
    fputs(",\"note\":", r->out);
    pt_json_str(r, rq->rq_note);
    fputs(",\"submitted_by\":", r->out);
    pt_json_str(r, rq->rq_submitted_by);
    fprintf(r->out, ",\"submitted_at\":\"%s\"",
            cdr_time_format(rq->rq_submitted_at, 0, 1, t, sizeof t));
    fputs(",\"decided_by\":", r->out);
    if (rq->rq_decided_at) {
        pt_json_str(r, rq->rq_decided_by);
        fprintf(r->out, ",\"decided_at\":\"%s\"",
                cdr_time_format(rq->rq_decided_at, 0, 1, t, sizeof t));
    } else
        fputs("null,\"decided_at\":null", r->out);
    fputs(",\"applied_at\":", r->out);
    if (rq->rq_applied_at)
        fprintf(r->out, "\"%s\"", cdr_time_format(rq->rq_applied_at, 0, 1, t, sizeof t));
    else
        fputs("null", r->out);
    fputc('}', r->out);
}

static void each_request(void *arg, const cdr_request *rq)
{
    pt_req *r = arg;
    if (r->sep)
        fputc(',', r->out);
    pt_request_json(r, rq);
    r->sep = 1;
}

static int each_request_cb(void *arg, const cdr_request *rq)
{
    each_request(arg, rq);
    return 0;
}

static int requests_json(pt_req *r, uint64_t enterprise)
{
    cdr_diag dg;
    fprintf(r->out, "{\"enterprise\":%" PRIu64 ",\"requests\":[", enterprise);
    r->sep = 0;
    int rc = cdr_req_each(pt_store(r->srv), enterprise, each_request_cb, r, &dg);
    if (rc)
        return pt_error(r, 503, "unavailable", "the requests cannot be read now");
    fputs("]}\n", r->out);
    return 0;
}

/* Fill rq from the fields of a submitted request (JSON or form values through get). */
int pt_request_fill(pt_req *r, const cdr_dir_enterprise *en,
                    const char *(*get)(void *ctx, const char *name), void *ctx, cdr_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->rq_enterprise = en->en_id;
    const char *kind = get(ctx, "kind"), *msisdn = get(ctx, "msisdn");
    if (!kind || !(rq->rq_kind = (uint8_t)cdr_req_kind_parse(kind)))
        return pt_error(r, 400, "bad_request",
                        "kind must be add_member, remove_member, change_plan or raise_cap");
    if (!pt_msisdn_ok(msisdn))
        return pt_error(r, 400, "bad_request", "msisdn must be 1 to 15 digits");
    snprintf(rq->rq_msisdn, sizeof rq->rq_msisdn, "%s", msisdn);
    /* the line asked about must be one of this enterprise's, except a line to be added */
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_subscriber *sb = dir ? cdr_dir_find_msisdn(dir, msisdn) : NULL;
    if (rq->rq_kind != CDR_REQ_ADD_MEMBER && (!sb || sb->sb_enterprise != en->en_id))
        return pt_error(r, 404, "not_found", "no such member");
    if (rq->rq_kind == CDR_REQ_ADD_MEMBER) {
        const char *p = get(ctx, "product");
        uint64_t pid = 0;
        if (!p || id_parse(p, &pid) != 0)
            return pt_error(r, 400, "bad_request", "product must be the id of a product");
        const cdr_dir_product *pd = dir ? cdr_dir_find_product(dir, pid) : NULL;
        if (!pd || pd->pd_enterprise != en->en_id)
            return pt_error(r, 404, "not_found", "no such product of this enterprise");
        rq->rq_product = pid;
    }
    if (rq->rq_kind == CDR_REQ_CHANGE_PLAN) {
        const char *p = get(ctx, "plan");
        if (!p || !*p || strlen(p) >= sizeof rq->rq_plan)
            return pt_error(r, 400, "bad_request", "plan must be a plan id");
        snprintf(rq->rq_plan, sizeof rq->rq_plan, "%s", p);
    }
    if (rq->rq_kind == CDR_REQ_RAISE_CAP) {
        const char *c = get(ctx, "cap");
        if (!c || cdr_money_parse(c, &rq->rq_cap) != 0 || rq->rq_cap < 0)
            return pt_error(r, 400, "bad_request", "cap must be an amount such as 150.00");
    }
    const char *note = get(ctx, "note");
    if (note && strlen(note) >= sizeof rq->rq_note)
        return pt_error(r, 400, "bad_request", "the note is longer than %zu bytes",
                        sizeof rq->rq_note - 1);
    snprintf(rq->rq_note, sizeof rq->rq_note, "%s", note ? note : "");
    snprintf(rq->rq_submitted_by, sizeof rq->rq_submitted_by, "%s",
             r->id.id_kind == PT_USER ? r->id.id_user.us_login : r->id.id_key.ak_name);
    return 0;
}

/* Submit rq: stored and audited; 0 or the status answered. */
int pt_request_submit(pt_req *r, cdr_request *rq)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint64_t id;
    char target[64];
    snprintf(target, sizeof target, "enterprise/%" PRIu64, rq->rq_enterprise);
    int rc = cdr_req_submit(pt_store(r->srv), rq, (cdr_time)time(NULL), &id, &dg);
    if (rc) {
        pt_audit(r, "request.submit", target, "refused", dg.dg_msg);
        return pt_error(r, rc == CDR_EINVAL ? 400 : 503,
                        rc == CDR_EINVAL ? "bad_request" : "unavailable", "%s",
                        rc == CDR_EINVAL ? dg.dg_msg : "the request cannot be stored now");
    }
    rq->rq_id = id;
    snprintf(target, sizeof target, "request/%" PRIu64, id);
    char detail[128];
    snprintf(detail, sizeof detail, "%s %s", cdr_req_kind_name(rq->rq_kind), rq->rq_msisdn);
    pt_audit(r, "request.submit", target, "done", detail);
    return 0;
}

static const char *json_get(void *ctx, const char *name)
{
    const pt_jfield *f = ctx;
    for (size_t i = 0; f[i].jf_name[0]; i++)
        if (!strcmp(f[i].jf_name, name))
            return f[i].jf_type == PT_J_STRING || f[i].jf_type == PT_J_NUMBER ? f[i].jf_value
                                                                              : NULL;
    return NULL;
}

static int request_submit(pt_req *r, const cdr_dir_enterprise *en)
{
    pt_jfield f[9];
    size_t n;
    memset(f, 0, sizeof f);
    if (body_json(r, f, 8, &n))
        return r->status;
    cdr_request rq;
    if (pt_request_fill(r, en, json_get, f, &rq) || pt_request_submit(r, &rq))
        return r->status;
    cdr_request got;
    cdr_diag dg;
    if (cdr_req_get(pt_store(r->srv), rq.rq_id, &got, &dg) == 0)
        rq = got;
    r->status = 201;
    pt_request_json(r, &rq);
    fputc('\n', r->out);
    return 201;
}

/* approve (1) or reject (0) request id: access checked on its enterprise; audited. 0 or status. */
int pt_request_decide(pt_req *r, uint64_t id, int approve, cdr_request *out)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_request rq;
    char target[64];
    snprintf(target, sizeof target, "request/%" PRIu64, id);
    int a = pt_allow_kind(r, PT_ENT_REQUEST_DECIDE);
    if (a == PT_OK && cdr_req_get(pt_store(r->srv), id, &rq, &dg) != 0)
        a = PT_HIDDEN;
    if (a == PT_OK)
        a = pt_allow_enterprise(r, PT_ENT_REQUEST_DECIDE, rq.rq_enterprise, NULL);
    if (a != PT_OK) {
        pt_audit(r, approve ? "request.approve" : "request.reject", target, "refused",
                 a == 403 ? "forbidden" : "not found");
        return refuse(r, a);
    }
    const char *by = r->id.id_kind == PT_USER ? r->id.id_user.us_login : r->id.id_key.ak_name;
    int rc = cdr_req_decide(pt_store(r->srv), id, approve, by, (cdr_time)time(NULL), &dg);
    if (rc) {
        pt_audit(r, approve ? "request.approve" : "request.reject", target, "refused", dg.dg_msg);
        return pt_error(r, rc == CDR_EINVAL ? 409 : 503,
                        rc == CDR_EINVAL ? "conflict" : "unavailable", "%s",
                        rc == CDR_EINVAL ? dg.dg_msg : "the request cannot be stored now");
    }
    pt_audit(r, approve ? "request.approve" : "request.reject", target, "done", NULL);
    if (out && cdr_req_get(pt_store(r->srv), id, out, &dg) != 0)
        *out = rq;
    return 0;
}

static int request_one(pt_req *r, const segs *sg)
{
    uint64_t id;
    if (sg->n != 3 || id_parse(sg->s[1], &id) != 0 ||
        (strcmp(sg->s[2], "approve") && strcmp(sg->s[2], "reject")))
        return pt_error(r, 404, "not_found", "no such resource (requests/{id}/approve|reject)");
    if (method(r, "POST"))
        return r->status;
    if (r->id.id_kind == PT_ANON)
        return refuse(r, PT_UNAUTH);
    if (pt_check_csrf(r))
        return r->status;
    cdr_request rq;
    if (pt_request_decide(r, id, !strcmp(sg->s[2], "approve"), &rq))
        return r->status;
    pt_request_json(r, &rq);
    fputc('\n', r->out);
    return 0;
}

int pt_api(pt_req *r)
{
    segs sg;
    if (split(r->url + strlen("/api/v1"), &sg) != 0 || sg.n == 0)
        return pt_error(r, 404, "not_found", "no such resource");
    const char *top = sg.s[0];
    if (!strcmp(top, "login") && sg.n == 1)
        return login(r);
    if (!strcmp(top, "logout") && sg.n == 1)
        return logout(r);
    if (!strcmp(top, "me") && sg.n == 1)
        return method(r, "GET") ? r->status : me(r);
    if (!strcmp(top, "lines"))
        return line(r, &sg);
    if (!strcmp(top, "enterprises"))
        return enterprise(r, &sg);
    if (!strcmp(top, "requests"))
        return request_one(r, &sg);
    return pt_error(r, 404, "not_found", "no such resource");
}
