/* render_json.c - a statement as one JSON object (docs/statements.md "Formats: JSON", the schema
 * in docs/statement.schema.json). Keys are English and the same whatever the language; amounts
 * are decimal strings (2 decimals billed, 6 rated); the output depends on the model only, so the
 * same model gives the same bytes. */
#include <errno.h>
#include <string.h>

#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_time.h"
#include "render_int.h"

/* A small pretty-printing writer: objects and arrays nest with two spaces a level; an inline one
 * (the rows of an array) stays on one line. */
#define JW_DEPTH 8
typedef struct jw {
    FILE *jw_f;
    int jw_depth;
    unsigned char jw_first[JW_DEPTH];
    unsigned char jw_inline[JW_DEPTH];
} jw;

static void jw_indent(jw *j)
{
    fputc('\n', j->jw_f);
    for (int i = 0; i < j->jw_depth; i++)
        fputs("  ", j->jw_f);
}

/* The separator before the next member or element, and the key when there is one. */
static void jw_next(jw *j, const char *key)
{
    if (j->jw_depth > 0) {
        const int d = j->jw_depth - 1;
        if (!j->jw_first[d])
            fputc(',', j->jw_f);
        if (j->jw_inline[d]) {
            if (!j->jw_first[d])
                fputc(' ', j->jw_f);
        } else {
            jw_indent(j);
        }
        j->jw_first[d] = 0;
    }
    if (key) {
        cdr_json_write_str(j->jw_f, key);
        fputs(": ", j->jw_f);
    }
}

static void jw_open(jw *j, const char *key, char c, int inl)
{
    jw_next(j, key);
    fputc(c, j->jw_f);
    if (j->jw_depth < JW_DEPTH) {
        j->jw_first[j->jw_depth] = 1;
        j->jw_inline[j->jw_depth] =
            (unsigned char)(inl || (j->jw_depth > 0 && j->jw_inline[j->jw_depth - 1]));
    }
    j->jw_depth++;
}

static void jw_close(jw *j, char c)
{
    j->jw_depth--;
    if (j->jw_depth < JW_DEPTH && !j->jw_first[j->jw_depth] && !j->jw_inline[j->jw_depth])
        jw_indent(j);
    fputc(c, j->jw_f);
}

static void jw_str(jw *j, const char *key, const char *v)
{
    jw_next(j, key);
    cdr_json_write_str(j->jw_f, v);
}

/* A fixed-size char array of the model: never read past its end, even unterminated. */
#define jw_field(j, key, arr)                                                                      \
    do {                                                                                           \
        char _b[sizeof(arr) + 1];                                                                  \
        memcpy(_b, (arr), sizeof(arr));                                                            \
        _b[sizeof(arr)] = '\0';                                                                    \
        jw_str((j), (key), _b);                                                                    \
    } while (0)

static void jw_u64(jw *j, const char *key, uint64_t v)
{
    jw_next(j, key);
    fprintf(j->jw_f, "%llu", (unsigned long long)v);
}

static void jw_i64(jw *j, const char *key, int64_t v)
{
    jw_next(j, key);
    fprintf(j->jw_f, "%lld", (long long)v);
}

static void jw_raw(jw *j, const char *key, const char *v)
{
    jw_next(j, key);
    fputs(v, j->jw_f);
}

static void jw_m2(jw *j, const char *key, cdr_money v)
{
    char b[STMT_NUM_MAX];
    jw_str(j, key, stmt_m2(v, b));
}

static void jw_m6(jw *j, const char *key, cdr_money v)
{
    char b[STMT_NUM_MAX];
    jw_str(j, key, stmt_m6(v, b));
}

static void jw_bool(jw *j, const char *key, int v)
{
    jw_raw(j, key, v ? "true" : "false");
}

/* ---- sections -------------------------------------------------------------------------------- */

static void bundle_obj(jw *j, const cdr_stmt_bundle *bn)
{
    jw_field(j, "name", bn->bn_name);
    jw_str(j, "service",
           cdr_service_name(bn->bn_service) ? cdr_service_name(bn->bn_service) : "unknown");
    jw_bool(j, "pool", bn->bn_pool);
    jw_u64(j, "used", bn->bn_used);
    jw_u64(j, "included", bn->bn_included);
    const int64_t bp = cdr_stmt_bundle_bp(bn);
    if (bp < 0)
        jw_raw(j, "percent_bp", "null");
    else
        jw_i64(j, "percent_bp", bp);
}

static const char *svc_name(int svc)
{
    const char *n = cdr_service_name(svc);
    return n ? n : "unknown";
}

static void line_identity(jw *j, const cdr_stmt_line *ln)
{
    jw_u64(j, "subscriber", ln->ln_subscriber);
    jw_field(j, "msisdn", ln->ln_msisdn);
    jw_field(j, "name", ln->ln_name);
    jw_field(j, "plan", ln->ln_plan);
    jw_field(j, "status", ln->ln_status);
    jw_u64(j, "account", ln->ln_account);
    jw_field(j, "account_name", ln->ln_account_name);
    jw_u64(j, "enterprise", ln->ln_enterprise);
    jw_u64(j, "product", ln->ln_product);
}

static void line_figures(jw *j, const cdr_stmt_line *ln)
{
    jw_m2(j, "fee", ln->ln_fee);
    jw_m2(j, "usage", ln->ln_usage);
    jw_m2(j, "other", ln->ln_other);
    jw_m6(j, "overflow", ln->ln_overflow);
    jw_m2(j, "enterprise_share", ln->ln_enterprise_share);
    jw_m2(j, "member_share", ln->ln_member_share);
    jw_m2(j, "enterprise_tax", ln->ln_enterprise_tax);
    jw_m2(j, "member_tax", ln->ln_member_tax);
    jw_str(j, "hint", cdr_stmt_hint_state_name(ln->ln_hint.hn_state));
    jw_field(j, "hint_best", ln->ln_hint.hn_best);
    jw_m2(j, "hint_saving", ln->ln_hint.hn_state == CDR_HINT_CHEAPER ? ln->ln_hint.hn_saving : 0);
}

static uint64_t line_overflow_records(const cdr_stmt_line *ln)
{
    uint64_t n = 0;
    for (int c = 0; c < CDR_CLASS_COUNT; c++)
        n += ln->ln_class[c].cl_overflow_records;
    return n;
}

static void overflow_section(jw *j, const cdr_statement *s)
{
    jw_open(j, "overflow", '{', 0);
    jw_open(j, "by_service", '[', 0);
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        jw_open(j, NULL, '{', 1);
        jw_str(j, "service", svc_name(v));
        jw_u64(j, "overflow_records", sv->sv_overflow_records);
        jw_u64(j, "overflow_units", sv->sv_overflow_units);
        jw_m6(j, "overflow_charge", sv->sv_overflow_charge);
        jw_m6(j, "charge", sv->sv_charge);
        jw_close(j, '}');
    }
    jw_close(j, ']');
    jw_open(j, "top", '[', 0);
    for (unsigned t = 0; t < s->st_ntop && t < 10; t++) {
        if (s->st_top[t] >= s->st_nlines)
            continue;
        const cdr_stmt_line *ln = &s->st_lines[s->st_top[t]];
        jw_open(j, NULL, '{', 1);
        jw_u64(j, "rank", t + 1);
        jw_u64(j, "subscriber", ln->ln_subscriber);
        jw_field(j, "msisdn", ln->ln_msisdn);
        jw_field(j, "name", ln->ln_name);
        jw_field(j, "plan", ln->ln_plan);
        jw_m6(j, "overflow", ln->ln_overflow);
        jw_u64(j, "overflow_records", line_overflow_records(ln));
        jw_close(j, '}');
    }
    jw_close(j, ']');
    jw_open(j, "hints", '[', 0);
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        const cdr_stmt_hint *hn = &ln->ln_hint;
        if (hn->hn_state == CDR_HINT_NONE)
            continue;
        jw_open(j, NULL, '{', 1);
        jw_u64(j, "subscriber", ln->ln_subscriber);
        jw_field(j, "msisdn", ln->ln_msisdn);
        jw_str(j, "state", cdr_stmt_hint_state_name(hn->hn_state));
        jw_u64(j, "candidates", hn->hn_candidates);
        jw_field(j, "current", hn->hn_current);
        jw_m2(j, "current_cost", hn->hn_current_cost);
        jw_field(j, "best", hn->hn_best);
        jw_m2(j, "best_cost", hn->hn_state == CDR_HINT_CHEAPER ? hn->hn_best_cost : 0);
        jw_m2(j, "saving", hn->hn_state == CDR_HINT_CHEAPER ? hn->hn_saving : 0);
        jw_close(j, '}');
    }
    jw_close(j, ']');
    jw_u64(j, "hint_lines", s->st_hint_lines);
    jw_m2(j, "hint_savings", s->st_hint_savings);
    jw_close(j, '}');
}

static void change_section(jw *j, const cdr_statement *s)
{
    if (s->st_kind != CDR_STMT_ENTERPRISE) {
        jw_raw(j, "change", "null");
        return;
    }
    const cdr_stmt_change *ch = &s->st_change;
    const cdr_money amount = s->st_enterprise_share + s->st_member_share;
    char c[STMT_NUM_MAX];
    jw_open(j, "change", '{', 0);
    jw_bool(j, "known", ch->ch_known);
    jw_open(j, "current", '{', 1);
    jw_str(j, "cycle", stmt_cycle(s->st_cycle, c));
    jw_u64(j, "lines", s->st_nlines);
    jw_m2(j, "amount", amount);
    jw_m2(j, "enterprise_share", s->st_enterprise_share);
    jw_m6(j, "overflow", s->st_overflow);
    jw_close(j, '}');
    if (!ch->ch_known) {
        jw_raw(j, "previous", "null");
        jw_raw(j, "difference", "null");
    } else {
        jw_open(j, "previous", '{', 1);
        jw_str(j, "cycle", stmt_cycle(ch->ch_cycle, c));
        jw_u64(j, "lines", ch->ch_lines);
        jw_m2(j, "amount", ch->ch_amount);
        jw_m2(j, "enterprise_share", ch->ch_enterprise_share);
        jw_m6(j, "overflow", ch->ch_overflow);
        jw_close(j, '}');
        jw_open(j, "difference", '{', 1);
        jw_i64(j, "lines", (int64_t)s->st_nlines - (int64_t)ch->ch_lines);
        jw_m2(j, "amount", amount - ch->ch_amount);
        jw_m2(j, "enterprise_share", s->st_enterprise_share - ch->ch_enterprise_share);
        jw_m6(j, "overflow", s->st_overflow - ch->ch_overflow);
        jw_close(j, '}');
    }
    jw_close(j, '}');
}

static void items_section(jw *j, const cdr_statement *s)
{
    if (!s->st_items) {
        jw_raw(j, "items", "null");
        return;
    }
    jw_open(j, "items", '[', 0);
    for (size_t i = 0; i < s->st_nitems; i++) {
        const cdr_stmt_item *it = &s->st_items[i];
        char t[32], fl[STMT_FLAGS_MAX];
        jw_open(j, NULL, '{', 1);
        jw_u64(j, "subscriber", it->it_subscriber);
        jw_field(j, "msisdn", it->it_msisdn);
        jw_str(j, "time", cdr_time_format(it->it_start, it->it_utc_offset, 0, t, sizeof t));
        jw_str(j, "service", svc_name(it->it_service));
        const char *dir = cdr_direction_name(it->it_direction);
        jw_str(j, "direction", dir ? dir : "unknown");
        jw_field(j, "other", it->it_other);
        jw_u64(j, "duration", it->it_duration);
        jw_u64(j, "bytes", it->it_bytes);
        jw_u64(j, "units", it->it_units);
        jw_u64(j, "bundle_units", it->it_bundle_units);
        jw_u64(j, "overflow_units", it->it_overflow_units);
        jw_field(j, "zone", it->it_zone);
        jw_field(j, "band", it->it_band);
        jw_m6(j, "charge", it->it_charge);
        jw_str(j, "state", cdr_stmt_state_name(it->it_state));
        jw_str(j, "class", cdr_charge_class_name(it->it_class));
        jw_open(j, "flags", '[', 1);
        stmt_flags(it->it_flags, fl);
        for (char *p = fl, *e; *p; p = *e ? e + 1 : e) {
            e = strchr(p, ';');
            if (!e)
                e = p + strlen(p);
            const char save = *e;
            *e = '\0';
            jw_str(j, NULL, p);
            *e = save;
        }
        jw_close(j, ']');
        jw_close(j, '}');
    }
    jw_close(j, ']');
}

int cdr_stmt_render_json(const cdr_statement *s, int lang, FILE *out, cdr_diag *dg)
{
    if (!s || !out || (s->st_nlines && !s->st_lines))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render json: no statement or no output");
    if (s->st_kind != CDR_STMT_MEMBER && s->st_kind != CDR_STMT_ENTERPRISE)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render json: unknown statement kind %u",
                            s->st_kind);
    jw j = {.jw_f = out};
    char b[STMT_NUM_MAX];
    jw_open(&j, NULL, '{', 0);
    jw_str(&j, "format", "cdrate-statement");
    jw_u64(&j, "version", 1);
    jw_str(&j, "kind", cdr_stmt_kind_name(s->st_kind));
    jw_str(&j, "lang", cdr_stmt_lang_name(lang == CDR_STMT_ZH_CN ? lang : CDR_STMT_EN));
    jw_str(&j, "cycle", stmt_cycle(s->st_cycle, b));
    jw_field(&j, "currency", s->st_currency);
    jw_field(&j, "issued", s->st_issued);
    jw_field(&j, "due", s->st_due);
    jw_str(&j, "privacy", cdr_stmt_privacy_name(s->st_privacy));

    if (s->st_enterprise == 0) {
        jw_raw(&j, "enterprise", "null");
    } else {
        jw_open(&j, "enterprise", '{', 0);
        jw_u64(&j, "id", s->st_enterprise);
        jw_field(&j, "name", s->st_enterprise_name);
        jw_u64(&j, "account", s->st_enterprise_account);
        jw_field(&j, "account_name", s->st_enterprise_account_name);
        jw_field(&j, "manager", s->st_manager);
        jw_close(&j, '}');
    }
    if (s->st_kind == CDR_STMT_MEMBER && s->st_nlines > 0) {
        jw_open(&j, "line", '{', 0);
        line_identity(&j, &s->st_lines[0]);
        jw_close(&j, '}');
    } else {
        jw_raw(&j, "line", "null");
    }

    jw_open(&j, "invoices", '[', 0);
    for (unsigned i = 0; i < s->st_ninvoices && i < 2; i++) {
        const cdr_stmt_invoice *iv = &s->st_invoices[i];
        jw_open(&j, NULL, '{', 1);
        jw_field(&j, "invoice", iv->iv_invoice);
        jw_u64(&j, "account", iv->iv_account);
        jw_field(&j, "kind", iv->iv_kind);
        jw_field(&j, "issued", iv->iv_issued);
        jw_field(&j, "due", iv->iv_due);
        jw_m2(&j, "amount", iv->iv_amount);
        jw_m2(&j, "tax", iv->iv_tax);
        jw_m2(&j, "total", iv->iv_total);
        jw_close(&j, '}');
    }
    jw_close(&j, ']');

    stmt_total tot[STMT_NTOTALS];
    stmt_totals(s, tot);
    jw_open(&j, "totals", '{', 0);
    for (int i = 0; i < STMT_NTOTALS; i++)
        (tot[i].to_decimals == 2 ? jw_m2 : jw_m6)(&j, tot[i].to_key, tot[i].to_amount);
    jw_close(&j, '}');

    jw_open(&j, "classes", '[', 0);
    for (int c = 0; c < CDR_CLASS_COUNT; c++) {
        const cdr_stmt_class *cl = &s->st_class[c];
        if (!stmt_class_used(cl))
            continue;
        jw_open(&j, NULL, '{', 1);
        jw_str(&j, "class", cdr_charge_class_name(c));
        jw_u64(&j, "records", cl->cl_records);
        jw_u64(&j, "package_records", cl->cl_package_records);
        jw_u64(&j, "overflow_records", cl->cl_overflow_records);
        jw_m6(&j, "rated", cl->cl_rated);
        jw_m6(&j, "package_charge", cl->cl_package_charge);
        jw_m6(&j, "overflow_charge", cl->cl_overflow_charge);
        jw_m2(&j, "enterprise", cl->cl_enterprise);
        jw_m2(&j, "member", cl->cl_member);
        jw_m2(&j, "enterprise_tax", cl->cl_enterprise_tax);
        jw_m2(&j, "member_tax", cl->cl_member_tax);
        jw_close(&j, '}');
    }
    jw_close(&j, ']');

    jw_open(&j, "services", '[', 0);
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        jw_open(&j, NULL, '{', 1);
        jw_str(&j, "service", svc_name(v));
        jw_str(&j, "unit", stmt_unit_name(v));
        jw_u64(&j, "records", sv->sv_records);
        jw_u64(&j, "units", sv->sv_units);
        jw_u64(&j, "bundle_units", sv->sv_bundle_units);
        jw_u64(&j, "overflow_units", sv->sv_overflow_units);
        jw_u64(&j, "free_units", sv->sv_free_units);
        jw_u64(&j, "overflow_records", sv->sv_overflow_records);
        jw_m6(&j, "charge", sv->sv_charge);
        jw_m6(&j, "overflow_charge", sv->sv_overflow_charge);
        jw_close(&j, '}');
    }
    jw_close(&j, ']');

    jw_open(&j, "bundles", '[', 0);
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        for (unsigned k = 0; k < ln->ln_nbundles && k < CDR_PLAN_MAX_BUNDLES; k++) {
            jw_open(&j, NULL, '{', 1);
            jw_field(&j, "msisdn", ln->ln_msisdn);
            bundle_obj(&j, &ln->ln_bundles[k]);
            jw_close(&j, '}');
        }
    }
    jw_close(&j, ']');

    jw_open(&j, "pools", '[', 0);
    for (unsigned p = 0; p < s->st_npools && p < 16; p++) {
        jw_open(&j, NULL, '{', 1);
        jw_u64(&j, "product", s->st_pool_product[p]);
        bundle_obj(&j, &s->st_pools[p]);
        jw_close(&j, '}');
    }
    jw_close(&j, ']');

    overflow_section(&j, s);

    jw_open(&j, "members", '[', 0);
    for (size_t i = 0; s->st_kind == CDR_STMT_ENTERPRISE && i < s->st_nlines; i++) {
        jw_open(&j, NULL, '{', 1);
        line_identity(&j, &s->st_lines[i]);
        line_figures(&j, &s->st_lines[i]);
        jw_close(&j, '}');
    }
    jw_close(&j, ']');

    change_section(&j, s);
    items_section(&j, s);
    jw_close(&j, '}');
    fputc('\n', out);
    if (ferror(out))
        return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "render json: cannot write: %s",
                            strerror(errno));
    return 0;
}
