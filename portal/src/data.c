/* data.c - what the API and the pages both show: a line's live state, an enterprise's members,
 * warnings and sums, invoices with payments, statements (built, rendered, audited). The access
 * decision is the caller's (pt_allow_*); these only read. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdr_statement.h"
#include "data_int.h"

uint32_t pt_parse_cycle(const char *s)
{
    if (!s || strlen(s) != 7 || s[4] != '-')
        return 0;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return 0;
    uint32_t c = (uint32_t)atoi(s) * 100 + (uint32_t)atoi(s + 5);
    return cdr_cycle_valid(c) ? c : 0;
}

const char *pt_cycle_text(uint32_t c, char buf[8])
{
    snprintf(buf, 8, "%04u-%02u", (unsigned)(c / 100) % 10000, (unsigned)(c % 100));
    return buf;
}

int pt_msisdn_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 15 && strspn(s, "0123456789") == n;
}

int pt_live(pt_req *r, const char *msisdn, uint32_t cycle, int what, cdr_live_view *v)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    memset(v, 0, sizeof *v);
    cdr_redis *rd = NULL;
    if (pt_config(r->srv)->pc_redis && !(rd = pt_redis(r, &dg)))
        return pt_error(r, 503, "unavailable", "the live state cannot be read now (Redis)");
    int rc = cdr_live_query(pt_store(r->srv), rd, pt_plans(r->srv), msisdn, cycle, what, v, &dg);
    if (rc == CDR_NOTFOUND)
        return pt_error(r, 404, "not_found", "no such line");
    if (rc) {
        if (rc == CDR_REDIS)
            pt_redis_drop(r);
        return pt_error(r, 503, "unavailable", "the live state cannot be read now");
    }
    return 0;
}

size_t pt_members(pt_req *r, uint64_t enterprise,
                  void (*fn)(void *arg, const cdr_dir_subscriber *sb), void *arg)
{
    const cdr_dir *dir = pt_dir_get(r);
    size_t n, k = 0;
    const cdr_dir_subscriber *sbs = dir ? cdr_dir_subscribers(dir, &n) : NULL;
    for (size_t i = 0; sbs && i < n; i++)
        if (sbs[i].sb_enterprise == enterprise) {
            if (fn)
                fn(arg, &sbs[i]);
            k++;
        }
    return k;
}

/* ---- sums over an enterprise's members ---------------------------------------------------- */

static void sum_member(void *arg, const cdr_dir_subscriber *sb)
{
    pt_ent_sums *es = arg;
    cdr_live_view v;
    cdr_diag dg;
    es->es_members++;
    if (es->es_failed ||
        cdr_live_query(pt_store(es->es_r->srv), es->es_rd, pt_plans(es->es_r->srv), sb->sb_msisdn,
                       es->es_asked, CDR_LIVE_Q_ALL, &v, &dg) != 0) {
        es->es_failed = 1;
        return;
    }
    if (v.lv_has_line && v.lv_cycle > es->es_cycle) {
        /* no cycle asked for: the latest with state of any member; the sums of older ones go */
        es->es_cycle = v.lv_cycle;
        es->es_warned = es->es_suspended = es->es_ncur = es->es_nwarn = 0;
        memset(es->es_total, 0, sizeof es->es_total);
    }
    if (v.lv_has_line && v.lv_cycle == es->es_cycle) {
        const cdr_live_line *l = &v.lv_line;
        if (l->ll_status == CDR_LINE_WARNED)
            es->es_warned++;
        else if (l->ll_status == CDR_LINE_SUSPENDED)
            es->es_suspended++;
        if (l->ll_status != CDR_LINE_ACTIVE && es->es_nwarn < PT_MAX_WARN) {
            es->es_warn[es->es_nwarn].ew_sub = sb;
            es->es_warn[es->es_nwarn++].ew_line = *l;
        }
        for (uint32_t i = 0; i < l->ll_ncur; i++) {
            const cdr_live_money *m = &l->ll_money[i];
            size_t j = 0;
            while (j < es->es_ncur && memcmp(es->es_cur[j], m->lm_currency, 3))
                j++;
            if (j == es->es_ncur) {
                if (es->es_ncur == PT_MAX_CUR)
                    continue;
                memcpy(es->es_cur[j], m->lm_currency, 4);
                es->es_ncur++;
            }
            es->es_total[j] += m->lm_total;
        }
    }
    cdr_live_view_free(&v);
}

int pt_enterprise_sums(pt_req *r, uint64_t enterprise, uint32_t cycle, pt_ent_sums *es)
{
    cdr_diag dg;
    es->es_r = r;
    es->es_asked = cycle;
    es->es_cycle = cycle;
    if (pt_config(r->srv)->pc_redis && !(es->es_rd = pt_redis(r, &dg)))
        return pt_error(r, 503, "unavailable", "the live state cannot be read now (Redis)");
    pt_members(r, enterprise, sum_member, es);
    if (es->es_failed) {
        pt_redis_drop(r);
        return pt_error(r, 503, "unavailable", "the live state cannot be read now");
    }
    if (!es->es_cycle) { /* no member has state: the current month (UTC) */
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        es->es_cycle = (uint32_t)(tm.tm_year + 1900) * 100 + (uint32_t)tm.tm_mon + 1;
    }
    return 0;
}

/* ---- invoices and payments ---------------------------------------------------------------------
 */

int pt_pay_status(pt_req *r, uint64_t account, cdr_pay_status **out)
{
    *out = NULL;
    const char *bills = pt_config(r->srv)->pc_bills;
    if (!bills)
        return 0; /* no bill run given to the server: no invoices to show */
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int64_t today = (int64_t)time(NULL) / 86400;
    int rc = cdr_pay_status_run(pt_store(r->srv), bills, today, account, out, &dg);
    if (rc) {
        char m[600];
        fprintf(stderr, "cdrate serve: invoices of account %" PRIu64 ": %s\n", account,
                cdr_diag_format(&dg, m, sizeof m));
        return pt_error(r, 503, "unavailable", "the invoices cannot be read now");
    }
    return 0;
}

/* ---- statements --------------------------------------------------------------------------------
 */

static const char *const sections[] = {"summary",  "classes", "services", "bundles",
                                       "overflow", "members", "itemised", NULL};

int pt_section_ok(const char *s)
{
    for (int i = 0; sections[i]; i++)
        if (s && !strcmp(s, sections[i]))
            return 1;
    return 0;
}

static int copy_file(pt_req *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, r->out);
    fclose(f);
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4400];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

int pt_statement(pt_req *r, const char *msisdn, uint64_t enterprise, uint32_t cycle, int format,
                 const char *section, int download)
{
    const cdr_portal_config *cfg = pt_config(r->srv);
    char target[96], cy[8];
    pt_cycle_text(cycle, cy);
    if (msisdn)
        snprintf(target, sizeof target, "line/%s/statement/%s", msisdn, cy);
    else
        snprintf(target, sizeof target, "enterprise/%" PRIu64 "/statement/%s", enterprise, cy);
    if (!cfg->pc_bills || !cfg->pc_ledger)
        return pt_error(r, 404, "not_found",
                        "statements are not served here (the server has no --bills and --ledger)");
    cdr_stmt_config sc = {
        .sc_cycle = cycle,
        .sc_bills = cfg->pc_bills,
        .sc_ledger = cfg->pc_ledger,
        .sc_msisdn = msisdn,
        .sc_enterprise = enterprise,
        .sc_itemised = msisdn != NULL,
        .sc_privacy = CDR_STMT_MASKED,
        .sc_hint = 1,
    };
    cdr_statement *s = NULL;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_stmt_build(pt_store(r->srv), &sc, &s, &dg);
    if (rc == CDR_NOTBILLED) {
        pt_audit(r, "statement.view", target, "not_billed", NULL);
        return pt_error(r, 404, "not_billed", "the cycle %s is not billed for this %s", cy,
                        msisdn ? "line" : "enterprise");
    }
    if (rc) {
        char m[600];
        fprintf(stderr, "cdrate serve: statement %s: %s\n", target,
                cdr_diag_format(&dg, m, sizeof m));
        pt_audit(r, "statement.view", target, "failed", cdr_err_name(rc));
        return pt_error(
            r, rc == CDR_NOTFOUND ? 404 : 503, rc == CDR_NOTFOUND ? "not_found" : "unavailable",
            rc == CDR_NOTFOUND ? "no such statement" : "the statement cannot be built now");
    }
    const char *ext = format == CDR_STMT_JSON ? "json" : format == CDR_STMT_CSV ? "csv" : "html";
    /* every access is in the audit log before a byte of the statement leaves */
    char detail[64];
    snprintf(detail, sizeof detail, "%s%s%s", ext, section ? " " : "", section ? section : "");
    if (pt_audit(r, download ? "statement.download" : "statement.view", target, "allowed",
                 detail) != 0) {
        cdr_stmt_free(s);
        return pt_error(r, 503, "unavailable", "the audit log cannot be written: not shown");
    }
    if (format == CDR_STMT_CSV) {
        char tmp[] = "/tmp/cdrate-serve-XXXXXX";
        if (!mkdtemp(tmp)) {
            cdr_stmt_free(s);
            return pt_error(r, 503, "unavailable", "no room for the CSV");
        }
        rc = cdr_stmt_render_csv(s, r->lang, tmp, &dg);
        char path[4400];
        /* the file name comes from the fixed list of sections, never from the request */
        snprintf(path, sizeof path, "%s/%s.csv", tmp, section);
        if (rc || copy_file(r, path) != 0)
            rc = -1;
        remove_dir(tmp);
        if (rc) {
            cdr_stmt_free(s);
            return pt_error(r, 404, "not_found", "this statement has no %s section", section);
        }
        r->ctype = "text/csv; charset=utf-8";
    } else {
        rc = format == CDR_STMT_JSON ? cdr_stmt_render_json(s, r->lang, r->out, &dg)
                                     : cdr_stmt_render_html(s, r->lang, r->out, &dg);
        r->ctype = format == CDR_STMT_JSON ? "application/json" : "text/html; charset=utf-8";
    }
    cdr_stmt_free(s);
    if (rc)
        return pt_error(r, 503, "unavailable", "the statement cannot be rendered now");
    if (download) {
        /* the name is made of checked parts only: digits, a cycle, a section, an extension */
        if (msisdn)
            snprintf(r->disposition, sizeof r->disposition,
                     "attachment; filename=\"statement-%s-%s%s%s.%s\"", msisdn, cy,
                     section ? "-" : "", section ? section : "", ext);
        else
            snprintf(r->disposition, sizeof r->disposition,
                     "attachment; filename=\"statement-enterprise-%" PRIu64 "-%s%s%s.%s\"",
                     enterprise, cy, section ? "-" : "", section ? section : "", ext);
    }
    r->status = 200;
    return 0;
}

/* The cycles billed under --bills (folders YYYY-MM holding invoices.csv), newest first. */
size_t pt_billed_cycles(pt_req *r, uint32_t *out, size_t max)
{
    const char *bills = pt_config(r->srv)->pc_bills;
    DIR *d = bills ? opendir(bills) : NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        uint32_t c = pt_parse_cycle(e->d_name);
        char p[4400];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/invoices.csv", bills, e->d_name);
        if (c && stat(p, &sb) == 0 && n < max)
            out[n++] = c;
    }
    if (d)
        closedir(d);
    for (size_t i = 1; i < n; i++) /* newest first */
        for (size_t j = i; j > 0 && out[j] > out[j - 1]; j--) {
            uint32_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}
