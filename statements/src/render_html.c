/* render_html.c - a statement as one self-contained, printable HTML5 page (docs/statements.md
 * "HTML"): UTF-8, inline CSS with print rules, two inline SVG charts (charge by service, bundle
 * use), the tables of every section, labels in the statement's language, every string escaped;
 * no script and no external resource. Hooks for tests and tools: the totals carry
 * data-total="KEY" with the amount as in the JSON, the charts are svg#chart-services and
 * svg#chart-bundles with one rect.bar per bar. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_record.h"
#include "cdr_rules.h"
#include "render_int.h"

static const char CSS[] =
    "@page{size:A4;margin:14mm}\n"
    "body{font-family:system-ui,\"Noto Sans CJK SC\",\"PingFang SC\",\"Microsoft YaHei\","
    "sans-serif;margin:2em auto;max-width:1200px;color:#1d232a;font-size:14px;line-height:1.4}\n"
    "h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .4em;"
    "border-bottom:2px solid #3b6ea5;padding-bottom:.2em}h3{font-size:1em;margin:1em 0 .3em}\n"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1.2em;margin:.6em 0}\n"
    "dl.meta dt{color:#59636e}dl.meta dd{margin:0}\n"
    "section{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;margin:.3em 0 1em;font-size:.93em}\n"
    "th,td{border-bottom:1px solid #d8dee4;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f3f5f7;font-weight:600;font-size:.92em}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.totals{width:auto;min-width:50%}td.total{font-weight:600}\n"
    "svg{display:block;margin:.4em 0 1em;max-width:100%;height:auto}\n"
    "svg text{font-size:12px;fill:#1d232a}.bar{fill:#3b6ea5}.bar.over{fill:#c0392b}"
    ".track{fill:#e8ecf0}\n"
    "p.note{color:#59636e}\n"
    "@media print{body{margin:0;max-width:none;font-size:9pt}section{overflow:visible}"
    "h2{break-after:avoid-page}tr,svg{break-inside:avoid}thead{display:table-header-group}"
    "th{background:none}}\n";

#define CHART_W     640
#define CHART_LABEL 150 /* the labels' column */
#define CHART_BAR   360 /* the longest bar */
#define CHART_ROW   26

/* ---- small writers --------------------------------------------------------------------------- */

static void hs(FILE *f, const char *s)
{
    stmt_html_str(f, s);
}

/* A fixed-size char array of the model, never read past its end. */
#define hfield(f, arr)                                                                             \
    do {                                                                                           \
        char _b[sizeof(arr) + 1];                                                                  \
        memcpy(_b, (arr), sizeof(arr));                                                            \
        _b[sizeof(arr)] = '\0';                                                                    \
        hs((f), _b);                                                                               \
    } while (0)

static void td_s(FILE *f, const char *s)
{
    fputs("<td>", f);
    hs(f, s);
    fputs("</td>", f);
}

#define td_field(f, arr)                                                                           \
    do {                                                                                           \
        fputs("<td>", (f));                                                                        \
        hfield((f), (arr));                                                                        \
        fputs("</td>", (f));                                                                       \
    } while (0)

static void td_num(FILE *f, const char *s)
{
    fputs("<td class=\"num\">", f);
    hs(f, s);
    fputs("</td>", f);
}

static void td_u64(FILE *f, uint64_t v)
{
    fprintf(f, "<td class=\"num\">%llu</td>", (unsigned long long)v);
}

static void td_m2(FILE *f, cdr_money v)
{
    char b[STMT_NUM_MAX];
    td_num(f, stmt_m2(v, b));
}

static void td_m6(FILE *f, cdr_money v)
{
    char b[STMT_NUM_MAX];
    td_num(f, stmt_m6(v, b));
}

static void h2(FILE *f, int lang, const char *id, stmt_text_id title)
{
    fprintf(f, "<section id=\"%s\">\n<h2>", id);
    hs(f, stmt_text(lang, title));
    fputs("</h2>\n", f);
}

/* The head of a table: one th per column, "n" in align marks a numeric (right-aligned) one. */
static void thead(FILE *f, int lang, const stmt_text_id *cols, const char *align, size_t n)
{
    fputs("<table>\n<thead><tr>", f);
    for (size_t i = 0; i < n; i++) {
        fputs(align[i] == 'n' ? "<th class=\"num\">" : "<th>", f);
        hs(f, stmt_text(lang, cols[i]));
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
}

#define THEAD(f, lang, cols, align)                                                                \
    do {                                                                                           \
        _Static_assert(sizeof(align) - 1 == sizeof(cols) / sizeof(cols)[0], "align per column");   \
        thead((f), (lang), (cols), (align), sizeof(cols) / sizeof(cols)[0]);                       \
    } while (0)

static void tend(FILE *f)
{
    fputs("</tbody>\n</table>\n", f);
}

static const char *svc_label(int svc, int lang)
{
    return cdr_stmt_service_label(svc, lang);
}

/* Bar length for v against max (both >= 0), at least 1 so that every bar shows. */
static int bar_len(int64_t v, int64_t max, int full)
{
    if (v <= 0 || max <= 0)
        return 1;
    const int64_t w = (int64_t)((__int128)v * full / max);
    return w < 1 ? 1 : w > full ? full : (int)w;
}

/* ---- sections -------------------------------------------------------------------------------- */

static void dl_row(FILE *f, int lang, stmt_text_id label, const char *value)
{
    fputs("<dt>", f);
    hs(f, stmt_text(lang, label));
    fputs("</dt><dd>", f);
    hs(f, value);
    fputs("</dd>\n", f);
}

#define DL_FIELD(f, lang, label, arr)                                                              \
    do {                                                                                           \
        char _v[sizeof(arr) + 1];                                                                  \
        memcpy(_v, (arr), sizeof(arr));                                                            \
        _v[sizeof(arr)] = '\0';                                                                    \
        dl_row((f), (lang), (label), _v);                                                          \
    } while (0)

static void header_section(FILE *f, const cdr_statement *s, int lang)
{
    char b[STMT_NUM_MAX], v[256];
    const stmt_text_id title =
        s->st_kind == CDR_STMT_ENTERPRISE ? STMT_TITLE_ENTERPRISE : STMT_TITLE_MEMBER;
    fputs("<header>\n<h1>", f);
    hs(f, stmt_text(lang, title));
    fputs(" ", f);
    hs(f, stmt_cycle(s->st_cycle, b));
    fputs("</h1>\n<dl class=\"meta\">\n", f);
    dl_row(f, lang, STMT_CYCLE, stmt_cycle(s->st_cycle, b));
    DL_FIELD(f, lang, STMT_CURRENCY, s->st_currency);
    DL_FIELD(f, lang, STMT_ISSUED, s->st_issued);
    DL_FIELD(f, lang, STMT_DUE, s->st_due);
    if (s->st_enterprise) {
        snprintf(v, sizeof v, "%.*s (%llu)", (int)sizeof s->st_enterprise_name,
                 s->st_enterprise_name, (unsigned long long)s->st_enterprise);
        dl_row(f, lang, STMT_ENTERPRISE, v);
        snprintf(v, sizeof v, "%llu %.*s", (unsigned long long)s->st_enterprise_account,
                 (int)sizeof s->st_enterprise_account_name, s->st_enterprise_account_name);
        dl_row(f, lang, STMT_ENTERPRISE_ACCOUNT, v);
        DL_FIELD(f, lang, STMT_MANAGER, s->st_manager);
    }
    if (s->st_kind == CDR_STMT_MEMBER && s->st_nlines > 0) {
        const cdr_stmt_line *ln = &s->st_lines[0];
        DL_FIELD(f, lang, STMT_C_MSISDN, ln->ln_msisdn);
        DL_FIELD(f, lang, STMT_C_NAME, ln->ln_name);
        DL_FIELD(f, lang, STMT_C_PLAN, ln->ln_plan);
        DL_FIELD(f, lang, STMT_C_STATUS, ln->ln_status);
        snprintf(v, sizeof v, "%llu %.*s", (unsigned long long)ln->ln_account,
                 (int)sizeof ln->ln_account_name, ln->ln_account_name);
        dl_row(f, lang, STMT_C_ACCOUNT, v);
    } else {
        *stmt_put_u64(v, s->st_nlines) = '\0';
        dl_row(f, lang, STMT_C_LINES, v);
    }
    static const stmt_text_id privacy[] = {STMT_P_MASKED, STMT_P_FULL, STMT_P_HIDDEN};
    dl_row(f, lang, STMT_PRIVACY,
           stmt_text(lang, privacy[s->st_privacy <= CDR_STMT_HIDDEN ? s->st_privacy : 0]));
    fputs("</dl>\n</header>\n", f);
}

static void invoices_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {STMT_C_INVOICE, STMT_C_ACCOUNT, STMT_C_KIND, STMT_ISSUED,
                                        STMT_DUE,       STMT_C_AMOUNT,  STMT_C_TAX,  STMT_C_TOTAL};
    h2(f, lang, "invoices", STMT_S_INVOICES);
    THEAD(f, lang, cols, "tntttnnn");
    for (unsigned i = 0; i < s->st_ninvoices && i < 2; i++) {
        const cdr_stmt_invoice *iv = &s->st_invoices[i];
        fputs("<tr>", f);
        td_field(f, iv->iv_invoice);
        td_u64(f, iv->iv_account);
        td_field(f, iv->iv_kind);
        td_field(f, iv->iv_issued);
        td_field(f, iv->iv_due);
        td_m2(f, iv->iv_amount);
        td_m2(f, iv->iv_tax);
        td_m2(f, iv->iv_total);
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("</section>\n", f);
}

static void totals_section(FILE *f, const cdr_statement *s, int lang)
{
    stmt_total tot[STMT_NTOTALS];
    char b[STMT_NUM_MAX];
    stmt_totals(s, tot);
    h2(f, lang, "totals", STMT_S_TOTALS);
    fputs("<table class=\"totals\">\n<tbody>\n", f);
    for (int i = 0; i < STMT_NTOTALS; i++) {
        fputs("<tr><th>", f);
        hs(f, stmt_text(lang, tot[i].to_label));
        fprintf(f, "</th><td class=\"num total\" data-total=\"%s\">%s</td></tr>\n", tot[i].to_key,
                tot[i].to_decimals == 2 ? stmt_m2(tot[i].to_amount, b)
                                        : stmt_m6(tot[i].to_amount, b));
    }
    tend(f);
    fputs("</section>\n", f);
}

static void classes_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {
        STMT_C_CLASS,       STMT_C_RECORDS,        STMT_C_PACKAGE_RECORDS, STMT_C_OVERFLOW_RECORDS,
        STMT_C_RATED,       STMT_C_PACKAGE_CHARGE, STMT_C_OVERFLOW_CHARGE, STMT_C_ENTERPRISE_PAYS,
        STMT_C_MEMBER_PAYS, STMT_C_ENTERPRISE_TAX, STMT_C_MEMBER_TAX};
    h2(f, lang, "classes", STMT_S_CLASSES);
    THEAD(f, lang, cols, "tnnnnnnnnnn");
    for (int k = 0; k < CDR_CLASS_COUNT; k++) {
        const cdr_stmt_class *cl = &s->st_class[k];
        if (!stmt_class_used(cl))
            continue;
        fprintf(f, "<tr data-class=\"%s\">", cdr_charge_class_name(k));
        td_s(f, cdr_stmt_class_label(k, lang));
        td_u64(f, cl->cl_records);
        td_u64(f, cl->cl_package_records);
        td_u64(f, cl->cl_overflow_records);
        td_m6(f, cl->cl_rated);
        td_m6(f, cl->cl_package_charge);
        td_m6(f, cl->cl_overflow_charge);
        td_m2(f, cl->cl_enterprise);
        td_m2(f, cl->cl_member);
        td_m2(f, cl->cl_enterprise_tax);
        td_m2(f, cl->cl_member_tax);
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("</section>\n", f);
}

static void svg_open(FILE *f, const char *id, int lang, stmt_text_id title, int rows)
{
    const int h = rows * CHART_ROW + 8;
    fprintf(f,
            "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            id, CHART_W, h, CHART_W, h);
    hs(f, stmt_text(lang, title));
    fputs("\">\n<title>", f);
    hs(f, stmt_text(lang, title));
    fputs("</title>\n", f);
}

/* One row of a chart: label, the track, the bar, and the value after it. */
static void svg_bar(FILE *f, int row, const char *label, const char *key, int len, int over,
                    const char *value)
{
    const int y = row * CHART_ROW + 4;
    fprintf(f, "<g data-key=\"");
    hs(f, key);
    fprintf(f, "\"><text x=\"%d\" y=\"%d\" text-anchor=\"end\">", CHART_LABEL - 8, y + 16);
    hs(f, label);
    fprintf(f,
            "</text><rect class=\"track\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\"/>"
            "<rect class=\"bar%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\"/>"
            "<text x=\"%d\" y=\"%d\">",
            CHART_LABEL, y, CHART_BAR, over ? " over" : "", CHART_LABEL, y, len,
            CHART_LABEL + CHART_BAR + 8, y + 16);
    hs(f, value);
    fputs("</text></g>\n", f);
}

static void services_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {
        STMT_C_SERVICE,      STMT_C_UNIT,           STMT_C_RECORDS,    STMT_C_UNITS,
        STMT_C_BUNDLE_UNITS, STMT_C_OVERFLOW_UNITS, STMT_C_FREE_UNITS, STMT_C_OVERFLOW_RECORDS,
        STMT_C_CHARGE,       STMT_C_OVERFLOW_CHARGE};
    char b[STMT_NUM_MAX];
    h2(f, lang, "services", STMT_S_SERVICES);
    THEAD(f, lang, cols, "ttnnnnnnnn");
    int shown = 0;
    cdr_money max = 0;
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        shown++;
        if (sv->sv_charge > max)
            max = sv->sv_charge;
        fprintf(f, "<tr data-service=\"%s\">", cdr_service_name(v));
        td_s(f, svc_label(v, lang));
        td_s(f, stmt_text(lang, stmt_unit_label(v)));
        td_u64(f, sv->sv_records);
        td_u64(f, sv->sv_units);
        td_u64(f, sv->sv_bundle_units);
        td_u64(f, sv->sv_overflow_units);
        td_u64(f, sv->sv_free_units);
        td_u64(f, sv->sv_overflow_records);
        td_m6(f, sv->sv_charge);
        td_m6(f, sv->sv_overflow_charge);
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("<h3>", f);
    hs(f, stmt_text(lang, STMT_S_CHART_SERVICES));
    fputs("</h3>\n", f);
    svg_open(f, "chart-services", lang, STMT_S_CHART_SERVICES, shown);
    int row = 0;
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        svg_bar(f, row++, svc_label(v, lang), cdr_service_name(v),
                bar_len(sv->sv_charge, max, CHART_BAR), 0, stmt_m6(sv->sv_charge, b));
    }
    fputs("</svg>\n</section>\n", f);
}

/* A bundle's row; a pool's starts with its product. */
static void bundle_row(FILE *f, int lang, const cdr_stmt_bundle *bn, const uint64_t *product)
{
    char b[STMT_NUM_MAX];
    fputs("<tr>", f);
    if (product)
        td_u64(f, *product);
    td_field(f, bn->bn_name);
    td_s(f, svc_label(bn->bn_service, lang));
    td_s(f, stmt_text(lang, bn->bn_pool ? STMT_V_YES : STMT_V_NO));
    td_u64(f, bn->bn_used);
    if (bn->bn_included)
        td_u64(f, bn->bn_included);
    else
        td_num(f, stmt_text(lang, STMT_V_NO_CAP));
    td_num(f, stmt_pct(cdr_stmt_bundle_bp(bn), b));
    fputs("</tr>\n", f);
}

static void bundle_bar(FILE *f, int lang, int row, const cdr_stmt_bundle *bn)
{
    char label[CDR_NAME_MAX + 64], b[STMT_NUM_MAX + 2];
    const int64_t bp = cdr_stmt_bundle_bp(bn);
    snprintf(label, sizeof label, "%.*s (%s)", (int)sizeof bn->bn_name, bn->bn_name,
             svc_label(bn->bn_service, lang));
    stmt_pct(bp, b);
    strcat(b, "%");
    char key[CDR_NAME_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)sizeof bn->bn_name, bn->bn_name);
    svg_bar(f, row, label, key, bar_len(bp > 10000 ? 10000 : bp, 10000, CHART_BAR), bp > 10000, b);
}

static int bundles_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {STMT_C_BUNDLE, STMT_C_SERVICE,  STMT_C_POOL,
                                        STMT_C_USED,   STMT_C_INCLUDED, STMT_C_PERCENT};
    static const stmt_text_id pool_cols[] = {STMT_C_PRODUCT, STMT_C_BUNDLE, STMT_C_SERVICE,
                                             STMT_C_POOL,    STMT_C_USED,   STMT_C_INCLUDED,
                                             STMT_C_PERCENT};
    const cdr_stmt_bundle *bs;
    cdr_stmt_bundle *sums = NULL;
    int nb;
    if (s->st_kind == CDR_STMT_ENTERPRISE) {
        if ((nb = stmt_bundle_sums(s, &sums)) < 0)
            return CDR_ENOMEM;
        bs = sums;
    } else {
        nb = s->st_nlines > 0 ? s->st_lines[0].ln_nbundles : 0;
        if (nb > CDR_PLAN_MAX_BUNDLES)
            nb = CDR_PLAN_MAX_BUNDLES;
        bs = s->st_nlines > 0 ? s->st_lines[0].ln_bundles : NULL;
    }
    h2(f, lang, "bundles", STMT_S_BUNDLES);
    THEAD(f, lang, cols, "tttnnn");
    for (int i = 0; i < nb; i++)
        bundle_row(f, lang, &bs[i], NULL);
    tend(f);
    const int enterprise = s->st_kind == CDR_STMT_ENTERPRISE;
    const unsigned npools = enterprise ? (s->st_npools < 16 ? s->st_npools : 16) : 0;
    if (npools) {
        fputs("<h3>", f);
        hs(f, stmt_text(lang, STMT_S_POOLS));
        fputs("</h3>\n", f);
        THEAD(f, lang, pool_cols, "ntttnnn");
        for (unsigned p = 0; p < npools; p++)
            bundle_row(f, lang, &s->st_pools[p], &s->st_pool_product[p]);
        tend(f);
    }
    int rows = 0;
    for (int i = 0; i < nb; i++)
        rows += bs[i].bn_included > 0;
    for (unsigned p = 0; p < npools; p++)
        rows += s->st_pools[p].bn_included > 0;
    fputs("<h3>", f);
    hs(f, stmt_text(lang, STMT_S_CHART_BUNDLES));
    fputs("</h3>\n", f);
    svg_open(f, "chart-bundles", lang, STMT_S_CHART_BUNDLES, rows);
    int row = 0;
    for (int i = 0; i < nb; i++)
        if (bs[i].bn_included > 0)
            bundle_bar(f, lang, row++, &bs[i]);
    for (unsigned p = 0; p < npools; p++)
        if (s->st_pools[p].bn_included > 0)
            bundle_bar(f, lang, row++, &s->st_pools[p]);
    fputs("</svg>\n</section>\n", f);
    free(sums);
    return 0;
}

static uint64_t line_overflow_records(const cdr_stmt_line *ln)
{
    uint64_t n = 0;
    for (int k = 0; k < CDR_CLASS_COUNT; k++)
        n += ln->ln_class[k].cl_overflow_records;
    return n;
}

static void hint_cell(FILE *f, int lang, const cdr_stmt_hint *hn)
{
    td_s(f, hn->hn_state == CDR_HINT_CHEAPER ? stmt_text(lang, STMT_H_CHEAPER)
            : hn->hn_state == CDR_HINT_KEEP  ? stmt_text(lang, STMT_H_KEEP)
                                             : "");
}

static void overflow_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id svc_cols[] = {STMT_C_SERVICE, STMT_C_OVERFLOW_RECORDS,
                                            STMT_C_OVERFLOW_UNITS, STMT_C_OVERFLOW_CHARGE,
                                            STMT_C_CHARGE};
    static const stmt_text_id top_cols[] = {
        STMT_C_RANK, STMT_C_MSISDN,           STMT_C_NAME,
        STMT_C_PLAN, STMT_C_OVERFLOW_RECORDS, STMT_C_OVERFLOW_CHARGE};
    static const stmt_text_id hint_cols[] = {
        STMT_C_MSISDN,    STMT_C_HINT,      STMT_C_CURRENT_PLAN, STMT_C_CURRENT_COST,
        STMT_C_BEST_PLAN, STMT_C_BEST_COST, STMT_C_SAVING,       STMT_C_CANDIDATES};
    char b[STMT_NUM_MAX];
    h2(f, lang, "overflow", STMT_S_OVERFLOW);
    THEAD(f, lang, svc_cols, "tnnnn");
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        fputs("<tr>", f);
        td_s(f, svc_label(v, lang));
        td_u64(f, sv->sv_overflow_records);
        td_u64(f, sv->sv_overflow_units);
        td_m6(f, sv->sv_overflow_charge);
        td_m6(f, sv->sv_charge);
        fputs("</tr>\n", f);
    }
    tend(f);
    if (s->st_ntop > 0) {
        fputs("<h3>", f);
        hs(f, stmt_text(lang, STMT_S_TOP));
        fputs("</h3>\n", f);
        THEAD(f, lang, top_cols, "ntttnn");
        for (unsigned t = 0; t < s->st_ntop && t < 10; t++) {
            if (s->st_top[t] >= s->st_nlines)
                continue;
            const cdr_stmt_line *ln = &s->st_lines[s->st_top[t]];
            fputs("<tr>", f);
            td_u64(f, t + 1);
            td_field(f, ln->ln_msisdn);
            td_field(f, ln->ln_name);
            td_field(f, ln->ln_plan);
            td_u64(f, line_overflow_records(ln));
            td_m6(f, ln->ln_overflow);
            fputs("</tr>\n", f);
        }
        tend(f);
    }
    fputs("<h3>", f);
    hs(f, stmt_text(lang, STMT_S_HINTS));
    fputs("</h3>\n", f);
    THEAD(f, lang, hint_cols, "tttntnnn");
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        const cdr_stmt_hint *hn = &ln->ln_hint;
        if (hn->hn_state == CDR_HINT_NONE)
            continue;
        const int cheaper = hn->hn_state == CDR_HINT_CHEAPER;
        fputs("<tr>", f);
        td_field(f, ln->ln_msisdn);
        hint_cell(f, lang, hn);
        td_field(f, hn->hn_current);
        td_m2(f, hn->hn_current_cost);
        td_field(f, hn->hn_best);
        if (cheaper) {
            td_m2(f, hn->hn_best_cost);
            td_m2(f, hn->hn_saving);
        } else {
            td_num(f, "");
            td_num(f, "");
        }
        td_u64(f, hn->hn_candidates);
        fputs("</tr>\n", f);
    }
    tend(f);
    fprintf(f, "<p>");
    hs(f, stmt_text(lang, STMT_C_HINT_LINES));
    fprintf(f, ": <span data-hint=\"lines\">%llu</span>; ", (unsigned long long)s->st_hint_lines);
    hs(f, stmt_text(lang, STMT_C_HINT_SAVINGS));
    fprintf(f, ": <span data-hint=\"savings\">%s</span></p>\n", stmt_m2(s->st_hint_savings, b));
    fputs("</section>\n", f);
}

static void members_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {STMT_C_MSISDN,
                                        STMT_C_NAME,
                                        STMT_C_PLAN,
                                        STMT_C_STATUS,
                                        STMT_C_FEE,
                                        STMT_C_USAGE,
                                        STMT_C_OTHER,
                                        STMT_C_OVERFLOW_CHARGE,
                                        STMT_C_ENTERPRISE_PAYS,
                                        STMT_C_MEMBER_PAYS,
                                        STMT_C_ENTERPRISE_TAX,
                                        STMT_C_MEMBER_TAX,
                                        STMT_C_HINT,
                                        STMT_C_SAVING};
    h2(f, lang, "members", STMT_S_MEMBERS);
    THEAD(f, lang, cols, "ttttnnnnnnnntn");
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        fputs("<tr>", f);
        td_field(f, ln->ln_msisdn);
        td_field(f, ln->ln_name);
        td_field(f, ln->ln_plan);
        td_field(f, ln->ln_status);
        td_m2(f, ln->ln_fee);
        td_m2(f, ln->ln_usage);
        td_m2(f, ln->ln_other);
        td_m6(f, ln->ln_overflow);
        td_m2(f, ln->ln_enterprise_share);
        td_m2(f, ln->ln_member_share);
        td_m2(f, ln->ln_enterprise_tax);
        td_m2(f, ln->ln_member_tax);
        hint_cell(f, lang, &ln->ln_hint);
        if (ln->ln_hint.hn_state == CDR_HINT_CHEAPER)
            td_m2(f, ln->ln_hint.hn_saving);
        else
            td_num(f, "");
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("</section>\n", f);
}

static void change_section(FILE *f, const cdr_statement *s, int lang)
{
    const cdr_stmt_change *ch = &s->st_change;
    const cdr_money amount = s->st_enterprise_share + s->st_member_share;
    char b[STMT_NUM_MAX], c[STMT_NUM_MAX];
    h2(f, lang, "change", STMT_S_CHANGE);
    if (!ch->ch_known) {
        fputs("<p class=\"note\">", f);
        hs(f, stmt_text(lang, STMT_V_NOT_KNOWN));
        fputs("</p>\n", f);
    }
    fputs("<table>\n<thead><tr><th>", f);
    hs(f, stmt_text(lang, STMT_C_ITEM));
    fputs("</th><th class=\"num\">", f);
    hs(f, stmt_text(lang, STMT_C_THIS));
    fprintf(f, " %s</th>", stmt_cycle(s->st_cycle, b));
    if (ch->ch_known) {
        fputs("<th class=\"num\">", f);
        hs(f, stmt_text(lang, STMT_C_PREVIOUS));
        fprintf(f, " %s</th><th class=\"num\">", stmt_cycle(ch->ch_cycle, b));
        hs(f, stmt_text(lang, STMT_C_DIFFERENCE));
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    /* lines */
    fputs("<tr>", f);
    td_s(f, stmt_text(lang, STMT_C_LINES));
    td_u64(f, s->st_nlines);
    if (ch->ch_known) {
        td_u64(f, ch->ch_lines);
        snprintf(c, sizeof c, "%lld", (long long)s->st_nlines - (long long)ch->ch_lines);
        td_num(f, c);
    }
    fputs("</tr>\n", f);
    const struct {
        stmt_text_id label;
        cdr_money now, then;
        int decimals;
    } rows[] = {
        {STMT_C_MEMBERS_AMOUNT, amount, ch->ch_amount, 2},
        {STMT_C_ENTERPRISE_PAYS, s->st_enterprise_share, ch->ch_enterprise_share, 2},
        {STMT_C_OVERFLOW_CHARGE, s->st_overflow, ch->ch_overflow, 6},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        void (*td)(FILE *, cdr_money) = rows[i].decimals == 2 ? td_m2 : td_m6;
        fputs("<tr>", f);
        td_s(f, stmt_text(lang, rows[i].label));
        td(f, rows[i].now);
        if (ch->ch_known) {
            td(f, rows[i].then);
            td(f, rows[i].now - rows[i].then);
        }
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("</section>\n", f);
}

static void items_section(FILE *f, const cdr_statement *s, int lang)
{
    static const stmt_text_id cols[] = {
        STMT_C_MSISDN,   STMT_C_TIME,  STMT_C_SERVICE, STMT_C_DIRECTION, STMT_C_OTHER_PARTY,
        STMT_C_DURATION, STMT_C_BYTES, STMT_C_UNITS,   STMT_C_ZONE,      STMT_C_BAND,
        STMT_C_CHARGE,   STMT_C_STATE, STMT_C_CLASS,   STMT_C_FLAGS};
    h2(f, lang, "items", STMT_S_ITEMS);
    if (s->st_nitems == 0) {
        fputs("<p class=\"note\">", f);
        hs(f, stmt_text(lang, STMT_V_NO_ITEMS));
        fputs("</p>\n</section>\n", f);
        return;
    }
    THEAD(f, lang, cols, "tttttnnnttnttt");
    for (size_t i = 0; i < s->st_nitems; i++) {
        const cdr_stmt_item *it = &s->st_items[i];
        char t[24], fl[STMT_FLAGS_MAX];
        cdr_time local;
        char *e = t;
        if (!__builtin_add_overflow(it->it_start, (cdr_time)it->it_utc_offset, &local))
            e = stmt_put_time(t, local);
        *e = '\0';
        fputs("<tr>", f);
        td_field(f, it->it_msisdn);
        td_s(f, t);
        td_s(f, svc_label(it->it_service, lang));
        td_s(f, cdr_stmt_direction_label(it->it_direction, lang));
        td_field(f, it->it_other);
        td_u64(f, it->it_duration);
        td_u64(f, it->it_bytes);
        td_u64(f, it->it_units);
        td_field(f, it->it_zone);
        td_field(f, it->it_band);
        td_m6(f, it->it_charge);
        td_s(f, cdr_stmt_state_label(it->it_state, lang));
        td_s(f, cdr_stmt_class_label(it->it_class, lang));
        td_s(f, stmt_flags(it->it_flags, fl));
        fputs("</tr>\n", f);
    }
    tend(f);
    fputs("</section>\n", f);
}

int cdr_stmt_render_html(const cdr_statement *s, int lang, FILE *out, cdr_diag *dg)
{
    if (!s || !out || (s->st_nlines && !s->st_lines) || (s->st_nitems && !s->st_items))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render html: no statement or no output");
    if (s->st_kind != CDR_STMT_MEMBER && s->st_kind != CDR_STMT_ENTERPRISE)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render html: unknown statement kind %u",
                            s->st_kind);
    if (lang != CDR_STMT_ZH_CN)
        lang = CDR_STMT_EN;
    char b[STMT_NUM_MAX];
    const int enterprise = s->st_kind == CDR_STMT_ENTERPRISE;
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<link rel=\"icon\" href=\"data:,\">\n<title>",
            cdr_stmt_lang_name(lang));
    hs(out, stmt_text(lang, enterprise ? STMT_TITLE_ENTERPRISE : STMT_TITLE_MEMBER));
    fprintf(out, " %s ", stmt_cycle(s->st_cycle, b));
    if (enterprise)
        hfield(out, s->st_enterprise_name);
    else if (s->st_nlines > 0)
        hfield(out, s->st_lines[0].ln_msisdn);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body data-kind=\"%s\">\n", CSS,
            cdr_stmt_kind_name(s->st_kind));
    header_section(out, s, lang);
    invoices_section(out, s, lang);
    totals_section(out, s, lang);
    classes_section(out, s, lang);
    services_section(out, s, lang);
    if (bundles_section(out, s, lang) != 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "render html: out of memory");
    overflow_section(out, s, lang);
    if (enterprise) {
        members_section(out, s, lang);
        change_section(out, s, lang);
    }
    if (s->st_items)
        items_section(out, s, lang);
    fputs("</body>\n</html>\n", out);
    if (ferror(out))
        return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "render html: cannot write: %s",
                            strerror(errno));
    return 0;
}
