/* pages.c - the portal's pages, rendered on the server, usable without JavaScript, in zh-CN and en
 * (docs/portal.md, "Pages"). Every form carries its CSRF token; every object shown passed
 * pt_allow_* first. */
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "cdr_statement.h"
#include "pages_int.h"

static const char css[] =
    "body{font-family:sans-serif;margin:0;color:#222;background:#f6f7f9}"
    "header{background:#1f3b63;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}"
    "header a{color:#fff}header form{margin:0 0 0 auto}main{padding:1em;max-width:72em}"
    "table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:.3em .6em;"
    "text-align:left}td.n{text-align:right}.error{color:#a00}.box{background:#fff;padding:1em;"
    "border:1px solid #ddd;margin:.5em 0}label{display:block;margin:.4em 0}\n";

typedef struct nav_ctx {
    int nc_n;
    const cdr_dir_enterprise *nc_first;
    int nc_statements; /* an enterprise whose statements r may see */
    pt_req *nc_r;
} nav_ctx;

static void nav_count(void *arg, const cdr_dir_enterprise *en, unsigned duties)
{
    (void)duties;
    nav_ctx *nc = arg;
    if (!nc->nc_n++)
        nc->nc_first = en;
    if (pg_ent_ok(nc->nc_r, PT_ENT_STATEMENT, en->en_id))
        nc->nc_statements = 1;
}

static void nav_ent(pt_req *r, const cdr_dir_enterprise *en, int what, const char *path,
                    const char *label)
{
    if (pg_ent_ok(r, what, en->en_id))
        fprintf(r->out, "<a id=\"nav-%s\" href=\"/enterprises/%" PRIu64 "/%s\">%s</a>", path,
                en->en_id, path, label);
}

/* The header's links: what the role may see (each checked as the page itself checks it). */
static void nav(pt_req *r)
{
    const char *msisdn = r->id.id_user.us_msisdn;
    if (r->id.id_user.us_role == CDR_ROLE_MEMBER) {
        if (pg_line_ok(r, PT_LINE_BALANCE, msisdn)) {
            fputs("<a id=\"nav-line\" href=\"/lines/", r->out);
            pt_html(r, msisdn);
            fprintf(r->out, "\">%s</a>", T(r, "My line", "我的线路"));
        }
        if (pg_line_ok(r, PT_LINE_INVOICES, msisdn)) {
            fputs("<a id=\"nav-invoices\" href=\"/lines/", r->out);
            pt_html(r, msisdn);
            fprintf(r->out, "/invoices\">%s</a>", T(r, "Invoices", "发票"));
        }
        if (pg_line_ok(r, PT_LINE_STATEMENT, msisdn))
            fprintf(r->out, "<a id=\"nav-statements\" href=\"/statements\">%s</a>",
                    T(r, "Statements", "账单"));
        return;
    }
    nav_ctx nc = {.nc_r = r};
    pt_each_enterprise(r, nav_count, &nc);
    if (nc.nc_n == 1) { /* one enterprise: its pages in the header */
        nav_ent(r, nc.nc_first, PT_ENT_MEMBERS, "members", T(r, "Members", "成员"));
        nav_ent(r, nc.nc_first, PT_ENT_INVOICES, "invoices", T(r, "Invoices", "发票"));
        nav_ent(r, nc.nc_first, PT_ENT_WARNINGS, "warnings", T(r, "Warnings", "预警"));
        nav_ent(r, nc.nc_first, PT_ENT_REQUESTS, "requests", T(r, "Requests", "申请"));
    }
    if (nc.nc_statements)
        fprintf(r->out, "<a id=\"nav-statements\" href=\"/statements\">%s</a>",
                T(r, "Statements", "账单"));
}

/* The page's head, its header bar (who is logged in, the pages it may see, the language, logout)
 * and <main>. */
void pt_page_begin(pt_req *r, const char *title)
{
    r->ctype = "text/html; charset=utf-8";
    fprintf(r->out, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\"><title>",
            ZH(r) ? "zh-CN" : "en");
    pt_html(r, title);
    fputs(" - cdrate</title><link rel=\"stylesheet\" href=\"/static/portal.css\"></head><body>"
          "<header><strong>cdrate</strong>",
          r->out);
    if (r->id.id_kind == PT_USER) {
        fprintf(r->out, "<a id=\"nav-overview\" href=\"/\">%s</a>", T(r, "Overview", "概览"));
        nav(r);
        fputs("<span id=\"user\">", r->out);
        pt_html(r, r->id.id_user.us_login);
        fprintf(r->out, " (%s)</span>", cdr_role_name(r->id.id_user.us_role));
    }
    fprintf(r->out, "<a id=\"lang\" href=\"?lang=%s\">%s</a>", ZH(r) ? "en" : "zh-CN",
            ZH(r) ? "English" : "中文");
    if (r->id.id_kind == PT_USER) {
        fputs("<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" "
              "value=\"",
              r->out);
        pt_html(r, r->id.id_csrf);
        fprintf(r->out, "\"><button type=\"submit\" id=\"logout\">%s</button></form>",
                T(r, "Log out", "退出"));
    }
    fputs("</header><main>", r->out);
    fputs("<h1>", r->out);
    pt_html(r, title);
    fputs("</h1>", r->out);
}

void pt_page_end(pt_req *r)
{
    fputs("</main></body></html>\n", r->out);
}

static int login_page(pt_req *r, const char *error)
{
    char tok[PT_TOKEN_LEN + 1];
    pt_login_csrf(r, tok);
    pt_page_begin(r, T(r, "Log in", "登录"));
    if (error) {
        fputs("<p class=\"error\" id=\"error\">", r->out);
        pt_html(r, error);
        fputs("</p>", r->out);
    }
    fprintf(
        r->out,
        "<form method=\"post\" action=\"/login\" class=\"box\">"
        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
        "<label>%s <input name=\"login\" id=\"login\" autocomplete=\"username\" required></label>"
        "<label>%s <input name=\"password\" id=\"password\" type=\"password\" "
        "autocomplete=\"current-password\" required></label>"
        "<button type=\"submit\" id=\"submit\">%s</button></form>",
        tok, T(r, "Login", "用户名"), T(r, "Password", "密码"), T(r, "Log in", "登录"));
    pt_page_end(r);
    return 0;
}

static int login_post(pt_req *r)
{
    if (pt_check_login_csrf(r))
        return r->status;
    char l[64], p[CDR_PASSWORD_MAX + 8];
    const char *login = pt_form(r, "login", l, sizeof l);
    const char *pw = pt_form(r, "password", p, sizeof p);
    int st = pt_login(r, login, pw);
    sodium_memzero(p, sizeof p);
    if (st == 401 || st == 400) {
        r->status = st;
        r->truncate = 0;
        fseek(r->out, 0, SEEK_SET);
        return login_page(r, T(r, "Wrong login or password.", "用户名或密码错误。"));
    }
    if (st)
        return st;
    return pt_redirect(r, "/");
}

int pt_pages(pt_req *r)
{
    const char *u = r->url;
    const char *lang = pt_arg(r, "lang");
    if (lang && (!strcmp(lang, "en") || !strcmp(lang, "zh-CN"))) /* remembered for a year */
        snprintf(r->set_cookie[2], sizeof r->set_cookie[2],
                 "%s=%s; Path=/; Max-Age=31536000; SameSite=Strict%s", PT_LANG_COOKIE, lang,
                 r->srv && pt_config(r->srv)->pc_tls_cert ? "; Secure" : "");
    if (!strcmp(u, "/static/portal.css")) {
        r->ctype = "text/css; charset=utf-8";
        fputs(css, r->out);
        return 0;
    }
    if (!strcmp(u, "/login"))
        return r->post ? login_post(r) : login_page(r, NULL);
    if (!strcmp(u, "/logout")) {
        if (!r->post)
            return pt_error(r, 405, "method_not_allowed", "log out with the form's button");
        if (r->id.id_kind == PT_USER && pt_check_csrf(r))
            return r->status;
        pt_logout(r);
        return pt_redirect(r, "/login");
    }
    if (r->id.id_kind != PT_USER)
        return pt_redirect(r, "/login");
    return pt_page_route(r);
}
