/* test_stmt_render.c - the statement renderers (cdr_statement.h, docs/statements.md "Formats"):
 * a member and an enterprise statement built by hand (names with commas, quotes, newlines, <, &,
 * Chinese and a byte that is not UTF-8; two bundles, a pool, masked items) rendered as JSON, CSV
 * and HTML in both languages; masking, bundle use rounding, escaping, CSV layout and modes,
 * determinism, the itemised row's bounds (its speed is `cdrate bench statement`'s, not a test's);
 * and the files checked by the browser and CSV checkers of tests/browser (Chromium through
 * selenium, Python's csv module). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_statement.h"
#include "test_dirs.h"

#define M(units, micro) ((cdr_money)(units)*CDR_MICRO + (micro)) /* an amount in micro-units */

static const char ENTERPRISE_NAME[] = "Acme, \"Wu\" & <Sons>\n有限公司";
static const char MEMBER_NAME[] = "王小明, \"Ming\"";
static const char ACCOUNT_NAME[] = "Ming <home> & co";
static const char OTHER_NAME[] = "Zhang San\r\nline 2";
static const char BAD_NAME[] = "Bad \xff byte"; /* not UTF-8: written as U+FFFD */

static void set(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
}
#define SET(dst, src) set((dst), sizeof(dst), (src))

static void line_fill(cdr_stmt_line *ln, uint64_t sub, const char *msisdn, const char *name,
                      int scale)
{
    memset(ln, 0, sizeof *ln);
    ln->ln_subscriber = sub;
    SET(ln->ln_msisdn, msisdn);
    SET(ln->ln_name, name);
    SET(ln->ln_plan, "cn-enterprise");
    SET(ln->ln_status, "active");
    ln->ln_account = sub * 10;
    SET(ln->ln_account_name, ACCOUNT_NAME);
    ln->ln_enterprise = 7;
    ln->ln_product = 70;
    cdr_stmt_class *cl = &ln->ln_class[CDR_CLASS_BASIC_VOICE];
    cl->cl_records = 3;
    cl->cl_package_records = 2;
    cl->cl_overflow_records = 1;
    cl->cl_rated = M(1, 500000) * scale;
    cl->cl_package_charge = M(0, 300000) * scale;
    cl->cl_overflow_charge = M(1, 200000) * scale;
    cl->cl_enterprise = M(1, 500000) * scale;
    cl->cl_enterprise_tax = M(0, 90000) * scale;
    cl = &ln->ln_class[CDR_CLASS_DATA];
    cl->cl_records = 2;
    cl->cl_overflow_records = 2;
    cl->cl_rated = M(2, 345678) * scale;
    cl->cl_overflow_charge = M(2, 345678) * scale;
    cl->cl_member = M(2, 350000) * scale;
    cl->cl_member_tax = M(0, 140000) * scale;
    cl = &ln->ln_class[CDR_CLASS_RECURRING_FEE];
    cl->cl_enterprise = M(38, 0);
    cl->cl_enterprise_tax = M(2, 280000);
    cdr_stmt_service *sv = &ln->ln_svc[CDR_SVC_VOICE];
    sv->sv_records = 3;
    sv->sv_units = 600;
    sv->sv_bundle_units = 480;
    sv->sv_overflow_units = 120;
    sv->sv_overflow_records = 1;
    sv->sv_charge = M(1, 500000) * scale;
    sv->sv_overflow_charge = M(1, 200000) * scale;
    sv = &ln->ln_svc[CDR_SVC_DATA];
    sv->sv_records = 2;
    sv->sv_units = 1500000000;
    sv->sv_overflow_units = 500000000;
    sv->sv_bundle_units = 1000000000;
    sv->sv_overflow_records = 2;
    sv->sv_charge = M(2, 345678) * scale;
    sv->sv_overflow_charge = M(2, 345678) * scale;
    sv = &ln->ln_svc[CDR_SVC_SMS];
    sv->sv_records = 1;
    sv->sv_units = 1;
    sv->sv_bundle_units = 1;
    ln->ln_nbundles = 2;
    SET(ln->ln_bundles[0].bn_name, "voice-500");
    ln->ln_bundles[0].bn_service = CDR_SVC_VOICE;
    ln->ln_bundles[0].bn_used = 480;
    ln->ln_bundles[0].bn_included = 30000;
    SET(ln->ln_bundles[1].bn_name, "data-pool");
    ln->ln_bundles[1].bn_service = CDR_SVC_DATA;
    ln->ln_bundles[1].bn_pool = 1;
    ln->ln_bundles[1].bn_used = 1500000000;
    ln->ln_bundles[1].bn_included = 1000000000;
    ln->ln_fee = M(38, 0);
    ln->ln_usage = (M(1, 500000) + M(2, 350000)) * scale;
    ln->ln_overflow = (M(1, 200000) + M(2, 345678)) * scale;
    ln->ln_enterprise_share = M(38, 0) + M(1, 500000) * scale;
    ln->ln_member_share = M(2, 350000) * scale;
    ln->ln_enterprise_tax = M(2, 280000) + M(0, 90000) * scale;
    ln->ln_member_tax = M(0, 140000) * scale;
    ln->ln_hint.hn_state = CDR_HINT_KEEP;
    ln->ln_hint.hn_candidates = 4;
    SET(ln->ln_hint.hn_current, "cn-enterprise");
    ln->ln_hint.hn_current_cost = ln->ln_enterprise_share + ln->ln_member_share;
}

static void item_fill(cdr_stmt_item *it, const cdr_stmt_line *ln, int64_t minute, int svc,
                      const char *other, int state, int cls)
{
    memset(it, 0, sizeof *it);
    it->it_subscriber = ln->ln_subscriber;
    SET(it->it_msisdn, ln->ln_msisdn);
    /* 2026-11-03T00:15:00Z + minute, shown at UTC+8 */
    it->it_start = cdr_days_from_civil(2026, 11, 3) * 86400 + 15 * 60 + minute * 60;
    it->it_utc_offset = 8 * 3600;
    it->it_service = (uint8_t)svc;
    it->it_direction = CDR_DIR_MO;
    it->it_class = (uint8_t)cls;
    it->it_state = (uint8_t)state;
    cdr_stmt_mask(other, CDR_STMT_MASKED, it->it_other);
    SET(it->it_zone, "domestic");
    SET(it->it_band, "peak");
}

/* The sums of an enterprise statement's lines, as the builder makes them. */
static void sum_lines(cdr_statement *s)
{
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        for (int c = 0; c < CDR_CLASS_COUNT; c++) {
            cdr_stmt_class *a = &s->st_class[c];
            const cdr_stmt_class *b = &ln->ln_class[c];
            a->cl_records += b->cl_records;
            a->cl_package_records += b->cl_package_records;
            a->cl_overflow_records += b->cl_overflow_records;
            a->cl_rated += b->cl_rated;
            a->cl_package_charge += b->cl_package_charge;
            a->cl_overflow_charge += b->cl_overflow_charge;
            a->cl_enterprise += b->cl_enterprise;
            a->cl_member += b->cl_member;
            a->cl_enterprise_tax += b->cl_enterprise_tax;
            a->cl_member_tax += b->cl_member_tax;
        }
        for (int v = 0; v < CDR_SVC_COUNT; v++) {
            cdr_stmt_service *a = &s->st_svc[v];
            const cdr_stmt_service *b = &ln->ln_svc[v];
            a->sv_records += b->sv_records;
            a->sv_units += b->sv_units;
            a->sv_bundle_units += b->sv_bundle_units;
            a->sv_overflow_units += b->sv_overflow_units;
            a->sv_free_units += b->sv_free_units;
            a->sv_overflow_records += b->sv_overflow_records;
            a->sv_charge += b->sv_charge;
            a->sv_overflow_charge += b->sv_overflow_charge;
        }
        s->st_fee += ln->ln_fee;
        s->st_usage += ln->ln_usage;
        s->st_other += ln->ln_other;
        s->st_overflow += ln->ln_overflow;
        s->st_enterprise_share += ln->ln_enterprise_share;
        s->st_member_share += ln->ln_member_share;
        s->st_enterprise_tax += ln->ln_enterprise_tax;
        s->st_member_tax += ln->ln_member_tax;
        if (ln->ln_hint.hn_state == CDR_HINT_CHEAPER) {
            s->st_hint_lines++;
            s->st_hint_savings += ln->ln_hint.hn_saving;
        }
    }
}

static void head_fill(cdr_statement *s, int kind)
{
    memset(s, 0, sizeof *s);
    s->st_kind = (uint8_t)kind;
    s->st_privacy = CDR_STMT_MASKED;
    s->st_cycle = 202611;
    SET(s->st_currency, "CNY");
    SET(s->st_issued, "2026-12-01");
    SET(s->st_due, "2026-12-20");
    s->st_enterprise = 7;
    SET(s->st_enterprise_name, ENTERPRISE_NAME);
    s->st_enterprise_account = 100;
    SET(s->st_enterprise_account_name, "Acme AP");
    SET(s->st_manager, "am.wu");
}

/* A member statement: one line with a cheaper-plan hint and three itemised records. */
static cdr_statement *member_stmt(void)
{
    cdr_statement *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    head_fill(s, CDR_STMT_MEMBER);
    s->st_nlines = 1;
    s->st_lines = calloc(1, sizeof *s->st_lines);
    cr_assert_not_null(s->st_lines);
    cdr_stmt_line *ln = &s->st_lines[0];
    line_fill(ln, 20, "8613812345678", MEMBER_NAME, 1);
    ln->ln_hint.hn_state = CDR_HINT_CHEAPER;
    SET(ln->ln_hint.hn_best, "cn-personal-128");
    ln->ln_hint.hn_best_cost = M(30, 0);
    ln->ln_hint.hn_saving = ln->ln_hint.hn_current_cost - M(30, 0);
    sum_lines(s);
    s->st_ninvoices = 2;
    SET(s->st_invoices[0].iv_invoice, "2026-11-000200");
    s->st_invoices[0].iv_account = 200;
    SET(s->st_invoices[0].iv_kind, "member");
    SET(s->st_invoices[0].iv_issued, "2026-12-01");
    SET(s->st_invoices[0].iv_due, "2026-12-20");
    s->st_invoices[0].iv_amount = M(2, 350000);
    s->st_invoices[0].iv_tax = M(0, 140000);
    s->st_invoices[0].iv_total = M(2, 490000);
    SET(s->st_invoices[1].iv_invoice, "2026-11-000100");
    s->st_invoices[1].iv_account = 100;
    SET(s->st_invoices[1].iv_kind, "enterprise");
    SET(s->st_invoices[1].iv_issued, "2026-12-01");
    SET(s->st_invoices[1].iv_due, "2026-12-20");
    s->st_invoices[1].iv_amount = M(39, 500000);
    s->st_invoices[1].iv_tax = M(2, 370000);
    s->st_invoices[1].iv_total = M(41, 870000);
    s->st_nitems = 3;
    s->st_items = calloc(3, sizeof *s->st_items);
    cr_assert_not_null(s->st_items);
    item_fill(&s->st_items[0], ln, 0, CDR_SVC_VOICE, "13812345678", CDR_STMT_OVERFLOW,
              CDR_CLASS_BASIC_VOICE);
    s->st_items[0].it_duration = 125;
    s->st_items[0].it_units = 180;
    s->st_items[0].it_overflow_units = 120;
    s->st_items[0].it_bundle_units = 60;
    s->st_items[0].it_charge = M(0, 360000);
    s->st_items[0].it_flags = CDR_RATED_FLAG_LATE;
    item_fill(&s->st_items[1], ln, 7, CDR_SVC_SMS, "10086", CDR_STMT_IN_BUNDLE, CDR_CLASS_SMS_MMS);
    s->st_items[1].it_units = 1;
    s->st_items[1].it_bundle_units = 1;
    item_fill(&s->st_items[2], ln, 61, CDR_SVC_DATA, "", CDR_STMT_PARTLY, CDR_CLASS_DATA);
    s->st_items[2].it_duration = 3600;
    s->st_items[2].it_bytes = 1500000000;
    s->st_items[2].it_units = 1500000000;
    s->st_items[2].it_charge = M(2, 345678);
    SET(s->st_items[2].it_zone, "roam, \"EU\"");
    return s;
}

/* An enterprise statement: three members, a pool, the top lines and the previous cycle. */
static cdr_statement *enterprise_stmt(void)
{
    cdr_statement *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    head_fill(s, CDR_STMT_ENTERPRISE);
    s->st_nlines = 3;
    s->st_lines = calloc(3, sizeof *s->st_lines);
    cr_assert_not_null(s->st_lines);
    line_fill(&s->st_lines[0], 20, "8613812345678", MEMBER_NAME, 1);
    line_fill(&s->st_lines[1], 30, "8613800000030", OTHER_NAME, 3);
    line_fill(&s->st_lines[2], 40, "8613800000040", BAD_NAME, 2);
    cdr_stmt_hint *hn = &s->st_lines[1].ln_hint;
    hn->hn_state = CDR_HINT_CHEAPER;
    SET(hn->hn_best, "cn-personal-128");
    hn->hn_best_cost = M(40, 0);
    hn->hn_saving = hn->hn_current_cost - M(40, 0);
    s->st_lines[2].ln_hint.hn_state = CDR_HINT_NONE;
    sum_lines(s);
    s->st_account_adjustments = M(-5, 0);
    s->st_npools = 1;
    SET(s->st_pools[0].bn_name, "data-pool");
    s->st_pools[0].bn_service = CDR_SVC_DATA;
    s->st_pools[0].bn_pool = 1;
    s->st_pools[0].bn_used = 4500000000;
    s->st_pools[0].bn_included = 6000000000;
    s->st_pool_product[0] = 70;
    s->st_ntop = 3;
    s->st_top[0] = 1;
    s->st_top[1] = 2;
    s->st_top[2] = 0;
    s->st_change.ch_known = 1;
    s->st_change.ch_cycle = 202610;
    s->st_change.ch_lines = 2;
    s->st_change.ch_amount = M(80, 0);
    s->st_change.ch_enterprise_share = M(77, 500000);
    s->st_change.ch_overflow = M(1, 0);
    s->st_ninvoices = 1;
    SET(s->st_invoices[0].iv_invoice, "2026-11-000100");
    s->st_invoices[0].iv_account = 100;
    SET(s->st_invoices[0].iv_kind, "enterprise");
    SET(s->st_invoices[0].iv_issued, "2026-12-01");
    SET(s->st_invoices[0].iv_due, "2026-12-20");
    s->st_invoices[0].iv_amount = s->st_enterprise_share + s->st_account_adjustments;
    s->st_invoices[0].iv_tax = s->st_enterprise_tax;
    s->st_invoices[0].iv_total = s->st_invoices[0].iv_amount + s->st_invoices[0].iv_tax;
    return s;
}

static void stmt_free_hand(cdr_statement *s)
{
    free(s->st_lines);
    free(s->st_items);
    free(s);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        const size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

typedef enum { R_JSON, R_HTML } render_kind;

static char *render_mem(const cdr_statement *s, render_kind k, int lang, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    cr_assert_not_null(f);
    cdr_diag dg;
    const int rc =
        k == R_JSON ? cdr_stmt_render_json(s, lang, f, &dg) : cdr_stmt_render_html(s, lang, f, &dg);
    cr_assert_eq(rc, 0, "render: %s", dg.dg_msg);
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A tiny JSON checker: the whole text is one value (RFC 8259), strings valid UTF-8 with legal
 * escapes. Returns the end of the value or NULL. */
static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        const unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p)) {
                p++;
            } else {
                return NULL;
            }
            continue;
        }
        const int n = cdr_utf8_len((const unsigned char *)p);
        if (n == 0)
            return NULL;
        p += n;
    }
    return p + 1;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        const int obj = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (!(p = json_string(json_ws(p))))
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if (!(p = json_value(p, depth + 1)))
                return NULL;
            p = json_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (!strncmp(p, "true", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    if (!strncmp(p, "null", 4))
        return p + 4;
    const char *q = p;
    if (*q == '-')
        q++;
    if (!(*q >= '0' && *q <= '9'))
        return NULL;
    while (*q >= '0' && *q <= '9')
        q++;
    return q;
}

static int json_valid(const char *text)
{
    const char *e = json_value(text, 0);
    return e && *json_ws(e) == '\0';
}

/* The output folder of the checkers: CDR_BINARY_DIR/stmt-render/NAME (kept as an artefact). */
static void out_dir(char *buf, size_t n, const char *name)
{
    char base[4096];
    snprintf(base, sizeof base, "%s/stmt-render", CDR_BINARY_DIR);
    mkdir(base, 0755);
    snprintf(buf, n, "%s/%s", base, name);
    mkdir(buf, 0755);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* ---- names, masking, bundle use -------------------------------------------------------------- */

Test(stmt_render, mask)
{
    char out[CDR_NUMBER_MAX];
    static const struct {
        const char *in;
        int privacy;
        const char *want;
    } cases[] = {
        {"8613812345678", CDR_STMT_MASKED, "86138****5678"},
        {"13812345678", CDR_STMT_MASKED, "138****5678"},
        {"123456789", CDR_STMT_MASKED, "1****6789"},
        {"12345678", CDR_STMT_MASKED, "12345678"}, /* at most 8 digits: shown */
        {"10086", CDR_STMT_MASKED, "10086"},
        {"", CDR_STMT_MASKED, ""},
        {"8613812345678", CDR_STMT_FULL, "8613812345678"},
        {"8613812345678", CDR_STMT_HIDDEN, ""},
        {"10086", CDR_STMT_HIDDEN, ""},
        {"49151234567890123456789", CDR_STMT_MASKED, "491512345678901****6789"}, /* 23 digits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(out, 'x', sizeof out);
        cdr_stmt_mask(cases[i].in, cases[i].privacy, out);
        cr_expect_str_eq(out, cases[i].want, "mask(%s, %d)", cases[i].in, cases[i].privacy);
    }
}

Test(stmt_render, bundle_bp)
{
    static const struct {
        uint64_t used, included;
        int64_t want;
    } cases[] = {
        {0, 100, 0},
        {1, 3, 3333},
        {2, 3, 6667},
        {1, 20000, 1},
        /* 0.5 bp: half-up */ {1, 40000, 0}, /* 0.25 bp */
        {3, 40000, 1},
        /* 0.75 bp */ {480, 30000, 160},
        {150, 100, 15000},
        {5, 0, -1},
        {0, 0, -1},
        {UINT64_MAX, 1, INT64_MAX},
        {UINT64_MAX, UINT64_MAX, 10000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_stmt_bundle bn = {.bn_used = cases[i].used, .bn_included = cases[i].included};
        cr_expect_eq(cdr_stmt_bundle_bp(&bn), cases[i].want, "%" PRIu64 "/%" PRIu64 ": %" PRId64,
                     cases[i].used, cases[i].included, cdr_stmt_bundle_bp(&bn));
    }
    cr_expect_eq(cdr_stmt_bundle_bp(NULL), -1);
}

Test(stmt_render, names_and_labels)
{
    cr_expect_str_eq(cdr_stmt_state_name(CDR_STMT_IN_BUNDLE), "in_bundle");
    cr_expect_str_eq(cdr_stmt_state_name(CDR_STMT_PARTLY), "partly");
    cr_expect_str_eq(cdr_stmt_state_name(CDR_STMT_OVERFLOW), "overflow");
    cr_expect_str_eq(cdr_stmt_state_name(CDR_STMT_FREE), "free");
    cr_expect_str_eq(cdr_stmt_state_name(CDR_STMT_CHARGED), "charged");
    cr_expect_str_eq(cdr_stmt_state_name(99), "unknown");
    cr_expect_str_eq(cdr_stmt_lang_name(CDR_STMT_ZH_CN), "zh-CN");
    cr_expect_eq(cdr_stmt_lang_parse("zh-CN"), CDR_STMT_ZH_CN);
    cr_expect_eq(cdr_stmt_lang_parse("en"), CDR_STMT_EN);
    cr_expect_eq(cdr_stmt_lang_parse("fr"), -1);
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_SMS, CDR_STMT_ZH_CN), "短信");
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_MMS, CDR_STMT_ZH_CN), "彩信");
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_VOICE, CDR_STMT_ZH_CN), "语音");
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_DATA, CDR_STMT_ZH_CN), "数据");
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_VIDEO, CDR_STMT_ZH_CN), "视频");
    cr_expect_str_eq(cdr_stmt_direction_label(CDR_DIR_MO, CDR_STMT_ZH_CN), "主叫");
    cr_expect_str_eq(cdr_stmt_direction_label(CDR_DIR_MT, CDR_STMT_ZH_CN), "被叫");
    cr_expect_str_eq(cdr_stmt_state_label(CDR_STMT_IN_BUNDLE, CDR_STMT_ZH_CN), "套餐内");
    cr_expect_str_eq(cdr_stmt_state_label(CDR_STMT_OVERFLOW, CDR_STMT_ZH_CN), "超出套餐");
    cr_expect_str_eq(cdr_stmt_service_label(CDR_SVC_VOICE, 7), "Voice"); /* unknown: English */
    cr_expect_str_eq(cdr_stmt_service_label(99, CDR_STMT_EN), "?");
    for (int c = 0; c < CDR_CLASS_COUNT; c++) { /* every class has a label in both */
        cr_expect_str_neq(cdr_stmt_class_label(c, CDR_STMT_EN), "?");
        cr_expect_str_neq(cdr_stmt_class_label(c, CDR_STMT_ZH_CN), "?");
        cr_expect_str_neq(cdr_stmt_class_label(c, CDR_STMT_EN),
                          cdr_stmt_class_label(c, CDR_STMT_ZH_CN));
    }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

Test(stmt_render, json_member)
{
    cdr_statement *s = member_stmt();
    size_t n1, n2;
    char *j = render_mem(s, R_JSON, CDR_STMT_EN, &n1);
    cr_assert(json_valid(j), "not JSON:\n%s", j);
    cr_expect(strstr(j, "\"kind\": \"member\""));
    cr_expect(strstr(j, "\"cycle\": \"2026-11\""));
    cr_expect(strstr(j, "\"lang\": \"en\""));
    cr_expect(strstr(j, "\"currency\": \"CNY\""));
    /* billed figures with 2 decimals, rated ones with 6 */
    cr_expect(strstr(j, "\"enterprise_share\": \"39.50\""), "%s", j);
    cr_expect(strstr(j, "\"member_share\": \"2.35\""));
    cr_expect(strstr(j, "\"overflow\": \"3.545678\""));
    cr_expect(strstr(j, "\"rated\": \"2.345678\""));
    cr_expect(strstr(j, "\"account_adjustments\": \"0.00\""));
    /* escaping: quotes, a newline as \u000a, <, & and Chinese as they are */
    cr_expect(strstr(j, "\"name\": \"Acme, \\\"Wu\\\" & <Sons>\\u000a有限公司\""), "%s", j);
    cr_expect(strstr(j, "\"name\": \"王小明, \\\"Ming\\\"\""));
    /* classes only when used, in class order */
    const char *bv = strstr(j, "\"class\": \"basic_voice\"");
    const char *da = strstr(j, "\"class\": \"data\"");
    const char *rf = strstr(j, "\"class\": \"recurring_fee\"");
    cr_expect(bv && da && rf && bv < da && da < rf);
    cr_expect_null(strstr(j, "\"class\": \"sms_mms\", \"records\""));
    cr_expect_null(strstr(j, "\"service\": \"video\""));
    cr_expect(strstr(j, "\"percent_bp\": 160"));
    cr_expect(strstr(j, "\"percent_bp\": 15000"));
    cr_expect(strstr(j, "\"state\": \"cheaper\""));
    cr_expect(strstr(j, "\"saving\": \"11.85\""), "%s", j);
    cr_expect(strstr(j, "\"other\": \"138****5678\""));
    cr_expect(strstr(j, "\"time\": \"2026-11-03T08:15:00+08:00\""));
    cr_expect(strstr(j, "\"flags\": [\"late\"]"));
    cr_expect(strstr(j, "\"members\": []"));
    cr_expect(strstr(j, "\"change\": null"));
    /* deterministic, and the same keys whatever the language */
    char *j2 = render_mem(s, R_JSON, CDR_STMT_EN, &n2);
    cr_expect(n1 == n2 && !memcmp(j, j2, n1));
    char *z = render_mem(s, R_JSON, CDR_STMT_ZH_CN, &n2);
    char *lang = strstr(z, "\"lang\": \"zh-CN\"");
    cr_assert_not_null(lang);
    memmove(lang + strlen("\"lang\": \"en\""), lang + strlen("\"lang\": \"zh-CN\""),
            strlen(lang + strlen("\"lang\": \"zh-CN\"")) + 1);
    memcpy(lang, "\"lang\": \"en\"", strlen("\"lang\": \"en\""));
    cr_expect_str_eq(z, j);
    /* without items: "items": null */
    cdr_stmt_item *items = s->st_items;
    s->st_items = NULL;
    s->st_nitems = 0;
    char *j3 = render_mem(s, R_JSON, CDR_STMT_EN, NULL);
    cr_expect(json_valid(j3));
    cr_expect(strstr(j3, "\"items\": null"));
    free(j3);
    s->st_items = items;
    free(j);
    free(j2);
    free(z);
    stmt_free_hand(s);
}

Test(stmt_render, json_enterprise)
{
    cdr_statement *s = enterprise_stmt();
    char *j = render_mem(s, R_JSON, CDR_STMT_ZH_CN, NULL);
    cr_assert(json_valid(j), "not JSON:\n%s", j);
    cr_expect(strstr(j, "\"kind\": \"enterprise\""));
    cr_expect(strstr(j, "\"line\": null"));
    cr_expect(strstr(j, "\"name\": \"Zhang San\\u000d\\u000aline 2\""), "%s", j);
    cr_expect(strstr(j, "\"name\": \"Bad \\ufffd byte\""), "%s", j);
    cr_expect(strstr(j, "\"account_adjustments\": \"-5.00\""));
    cr_expect(strstr(j, "\"hint_lines\": 1"));
    cr_expect_eq(count(j, "\"rank\": "), 3);
    cr_expect(strstr(j, "{\"rank\": 1, \"subscriber\": 30,"), "%s", j);
    cr_expect(strstr(j, "\"product\": 70, \"name\": \"data-pool\""));
    cr_expect(strstr(j, "\"percent_bp\": 7500"));
    cr_expect(strstr(j, "\"known\": true"));
    cr_expect(strstr(j, "\"previous\": {\"cycle\": \"2026-10\", \"lines\": 2"));
    cr_expect(strstr(j, "\"difference\": {\"lines\": 1,"));
    cr_expect(strstr(j, "\"items\": null"));
    cr_expect_eq(count(j, "\"hint\": "), 3); /* one per member */
    free(j);
    s->st_change.ch_known = 0;
    j = render_mem(s, R_JSON, CDR_STMT_EN, NULL);
    cr_expect(json_valid(j));
    cr_expect(strstr(j, "\"previous\": null"));
    free(j);
    stmt_free_hand(s);
}

Test(stmt_render, bad_arguments)
{
    cdr_diag dg;
    cdr_statement *s = member_stmt();
    cr_expect_eq(cdr_stmt_render_json(NULL, 0, stdout, &dg), CDR_EINVAL);
    cr_expect_eq(cdr_stmt_render_html(s, 0, NULL, &dg), CDR_EINVAL);
    cr_expect_eq(cdr_stmt_render_csv(s, 0, NULL, &dg), CDR_EINVAL);
    s->st_kind = 9;
    cr_expect_eq(cdr_stmt_render_json(s, 0, stdout, &dg), CDR_EINVAL);
    cr_expect(strstr(dg.dg_msg, "kind"));
    s->st_kind = CDR_STMT_MEMBER;
    cr_expect_eq(cdr_stmt_render_csv(s, 0, "/proc/no/such/folder", &dg), CDR_EIO);
    stmt_free_hand(s);
}

/* ---- CSV ------------------------------------------------------------------------------------- */

static const char *const EN_HEADERS[][2] = {
    {"summary.csv", "Key,Item,Value"},
    {"classes.csv", "Class code,Charge class,Records,In package records,Overflow records,Rated,"
                    "In package charge,Overflow charge,Enterprise pays,Member pays,"
                    "Enterprise tax,Member tax"},
    {"services.csv", "Service code,Service,Unit,Records,Units,In bundle,Overflow units,"
                     "Free units,Overflow records,Charge,Overflow charge"},
    {"bundles.csv", "Number,Product,Bundle,Service code,Pool,Used,Included,Used %"},
    {"overflow.csv", "Rank,Kind,Key,Name,Overflow records,Overflow units,Overflow charge,Charge,"
                     "Plan hint,Cheaper plan,Saving"},
    {"itemised.csv", "Number,Local time,Service code,Direction,Other party,Duration (s),"
                     "Volume (bytes),Units,Zone,Band,Charge,State,Class code,Flags"},
};

static const char *const ZH_HEADERS[][2] = {
    {"summary.csv", "代码,项目,值"},
    {"classes.csv", "类别代码,费用类别,记录数,套餐内记录数,超出套餐记录数,计费金额,套餐内费用,"
                    "超出套餐费用,企业支付,个人支付,企业税额,个人税额"},
    {"itemised.csv", "号码,时间,业务代码,呼叫类型,对方号码,时长（秒）,流量（字节）,用量,区域,"
                     "时段,费用,计费状态,类别代码,标记"},
};

static int fields(const char *row)
{
    int n = 1;
    for (; *row && *row != '\r'; row++)
        n += *row == ',';
    return n;
}

static void expect_header(const char *dir, const char *file, const char *header)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *t = slurp(path, NULL);
    cr_assert(!memcmp(t, "\xEF\xBB\xBF", 3), "%s: no BOM", file);
    const size_t hl = strlen(header);
    cr_expect(!strncmp(t + 3, header, hl) && !strncmp(t + 3 + hl, "\r\n", 2),
              "%s: header\n%.200s\nwant\n%s", file, t + 3, header);
    free(t);
}

static void expect_mode(const char *path, mode_t want)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    cr_expect_eq(st.st_mode & 0777, want, "%s: mode %o, want %o", path, st.st_mode & 0777, want);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *ta = slurp(a, &na), *tb = slurp(b, &nb);
    const int same = na == nb && !memcmp(ta, tb, na);
    free(ta);
    free(tb);
    return same;
}

Test(stmt_render, csv_member)
{
    char root[4096], d1[4200], d2[4200], path[8192];
    test_tmpdir(root, sizeof root, "stmt-csv");
    snprintf(d1, sizeof d1, "%s/en", root);
    snprintf(d2, sizeof d2, "%s/zh", root);
    const mode_t um = umask(077); /* as the cdrate command sets it */
    cdr_statement *s = member_stmt();
    cdr_diag dg;
    cr_assert_eq(cdr_stmt_render_csv(s, CDR_STMT_EN, d1, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_stmt_render_csv(s, CDR_STMT_ZH_CN, d2, &dg), 0, "%s", dg.dg_msg);
    expect_mode(d1, 0700);
    for (size_t i = 0; i < sizeof EN_HEADERS / sizeof EN_HEADERS[0]; i++) {
        expect_header(d1, EN_HEADERS[i][0], EN_HEADERS[i][1]);
        snprintf(path, sizeof path, "%s/%s", d1, EN_HEADERS[i][0]);
        expect_mode(path, 0600);
        /* the same columns in both languages */
        char p2[8192];
        snprintf(p2, sizeof p2, "%s/%s", d2, EN_HEADERS[i][0]);
        char *t = slurp(p2, NULL);
        cr_expect_eq(fields(t + 3), fields(EN_HEADERS[i][1]), "%s", EN_HEADERS[i][0]);
        free(t);
    }
    for (size_t i = 0; i < sizeof ZH_HEADERS / sizeof ZH_HEADERS[0]; i++)
        expect_header(d2, ZH_HEADERS[i][0], ZH_HEADERS[i][1]);
    snprintf(path, sizeof path, "%s/members.csv", d1);
    cr_expect_neq(access(path, F_OK), 0, "a member statement has no members.csv");

    /* the itemised rows, exactly */
    snprintf(path, sizeof path, "%s/itemised.csv", d1);
    char *t = slurp(path, NULL);
    cr_expect(strstr(t, "\r\n8613812345678,2026-11-03 08:15:00,voice,mo,138****5678,125,0,180,"
                        "domestic,peak,0.360000,overflow,basic_voice,late\r\n"),
              "%s", t);
    cr_expect(strstr(t, "\r\n8613812345678,2026-11-03 08:22:00,sms,mo,10086,0,0,1,domestic,peak,"
                        "0.000000,in_bundle,sms_mms,\r\n"));
    cr_expect(strstr(t, "\r\n8613812345678,2026-11-03 09:16:00,data,mo,,3600,1500000000,1500000000,"
                        "\"roam, \"\"EU\"\"\",peak,2.345678,partly,data,\r\n"),
              "%s", t);
    free(t);
    snprintf(path, sizeof path, "%s/summary.csv", d1);
    t = slurp(path, NULL);
    cr_expect(
        strstr(t, "\r\nenterprise_name,Enterprise,\"Acme, \"\"Wu\"\" & <Sons>\n有限公司\"\r\n"),
        "%s", t);
    cr_expect(strstr(t, "\r\nname,Name,\"王小明, \"\"Ming\"\"\"\r\n"));
    cr_expect(strstr(t, "\r\nenterprise_share,Enterprise pays,39.50\r\n"));
    cr_expect(strstr(t, "\r\noverflow,Overflow charge,3.545678\r\n"));
    cr_expect(strstr(t, "\r\ninvoice2_total,Invoice 2: Total,41.87\r\n"));
    free(t);
    snprintf(path, sizeof path, "%s/bundles.csv", d1);
    t = slurp(path, NULL);
    cr_expect(strstr(t, "\r\n8613812345678,,voice-500,voice,0,480,30000,1.60\r\n"), "%s", t);
    cr_expect(strstr(t, "\r\n8613812345678,,data-pool,data,1,1500000000,1000000000,150.00\r\n"));
    free(t);

    /* deterministic: a second render gives the same bytes; a render without items removes the
     * itemised file of the first */
    char d3[4200];
    snprintf(d3, sizeof d3, "%s/again", root);
    cr_assert_eq(cdr_stmt_render_csv(s, CDR_STMT_EN, d3, &dg), 0);
    static const char *const files[] = {"summary.csv", "classes.csv",  "services.csv",
                                        "bundles.csv", "overflow.csv", "itemised.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[8192], b[8192];
        snprintf(a, sizeof a, "%s/%s", d1, files[i]);
        snprintf(b, sizeof b, "%s/%s", d3, files[i]);
        cr_expect(same_file(a, b), "%s differs", files[i]);
    }
    cdr_stmt_item *items = s->st_items;
    s->st_items = NULL;
    s->st_nitems = 0;
    cr_assert_eq(cdr_stmt_render_csv(s, CDR_STMT_EN, d3, &dg), 0);
    snprintf(path, sizeof path, "%s/itemised.csv", d3);
    cr_expect_neq(access(path, F_OK), 0);
    s->st_items = items;
    umask(um);
    stmt_free_hand(s);
    rm_rf(root);
}

Test(stmt_render, csv_enterprise_group_readable)
{
    char root[4096], d[4200], path[8192];
    test_tmpdir(root, sizeof root, "stmt-csv-ent");
    snprintf(d, sizeof d, "%s/out", root);
    const mode_t um = umask(027); /* --group-readable */
    cdr_statement *s = enterprise_stmt();
    cdr_diag dg;
    cr_assert_eq(cdr_stmt_render_csv(s, CDR_STMT_EN, d, &dg), 0, "%s", dg.dg_msg);
    expect_mode(d, 0750);
    snprintf(path, sizeof path, "%s/members.csv", d);
    expect_mode(path, 0640);
    expect_header(d, "members.csv",
                  "Subscriber id,Number,Name,Plan,Status,Account,Account name,Product,"
                  "Monthly fee,Usage,Other charges,Overflow charge,Enterprise pays,Member pays,"
                  "Enterprise tax,Member tax,Plan hint,Cheaper plan,Saving");
    char *t = slurp(path, NULL);
    cr_expect(strstr(t, "\r\n30,8613800000030,\"Zhang San\r\nline 2\",cn-enterprise,active,300,"
                        "Ming <home> & co,70,38.00,11.55,0.00,10.637034,"),
              "%s", t);
    cr_expect(strstr(t, ",Bad \xEF\xBF\xBD byte,"), "%s", t);
    free(t);
    snprintf(path, sizeof path, "%s/itemised.csv", d);
    cr_expect_neq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/overflow.csv", d);
    t = slurp(path, NULL);
    cr_expect(strstr(t, "\r\n1,line,8613800000030,\"Zhang San\r\nline 2\",3,,10.637034,,cheaper,"),
              "%s", t);
    free(t);
    umask(um);
    stmt_free_hand(s);
    rm_rf(root);
}

/* ---- the itemised row ------------------------------------------------------------------------ */

Test(stmt_render, item_csv_bounds)
{
    char buf[CDR_STMT_ITEM_CSV_MAX], hdr[1024];
    cdr_stmt_item it;
    memset(&it, 0, sizeof it);
    /* the worst case: every text byte invalid UTF-8 or a quote, every number at its longest */
    memset(it.it_msisdn, 0xff, sizeof it.it_msisdn - 1);
    memset(it.it_other, 0xff, sizeof it.it_other - 1);
    memset(it.it_zone, 0xfe, sizeof it.it_zone - 1);
    memset(it.it_band, '"', sizeof it.it_band - 1);
    it.it_start = INT64_MAX;
    it.it_utc_offset = 3600; /* overflows: the time is left empty */
    it.it_duration = UINT32_MAX;
    it.it_bytes = it.it_units = UINT64_MAX;
    it.it_charge = INT64_MIN;
    it.it_flags = 0xff;
    it.it_state = 200;
    it.it_class = 200;
    it.it_service = 200;
    it.it_direction = 200;
    const size_t n = cdr_stmt_item_csv(&it, buf, sizeof buf);
    cr_assert(n > 0 && n < sizeof buf, "%zu", n);
    cr_expect_eq(strlen(buf), n);
    cr_expect(strstr(buf, ",-9223372036854.775808,"), "%s", buf);
    cr_expect(strstr(buf, "suspended;warned;late;reversal;correction\r\n"));
    char small[64];
    cr_expect_eq(cdr_stmt_item_csv(&it, small, sizeof small), 0);
    /* a short row fits a short buffer */
    cdr_stmt_item sh = {.it_service = CDR_SVC_SMS, .it_state = CDR_STMT_FREE};
    const size_t m = cdr_stmt_item_csv(&sh, small, sizeof small);
    cr_expect(m > 0);
    cr_expect_str_eq(small, ",1970-01-01 00:00:00,sms,mo,,0,0,0,,,0.000000,free,none,\r\n");
    /* the header, with and without its BOM */
    const size_t h = cdr_stmt_item_csv_header(CDR_STMT_ZH_CN, 1, hdr, sizeof hdr);
    cr_assert(h > 3);
    cr_expect(!memcmp(hdr, "\xEF\xBB\xBF号码,时间,", strlen("\xEF\xBB\xBF号码,时间,")));
    cr_expect_eq(cdr_stmt_item_csv_header(CDR_STMT_EN, 0, hdr, sizeof hdr), strlen(hdr));
    cr_expect_str_eq(hdr, "Number,Local time,Service code,Direction,Other party,Duration (s),"
                          "Volume (bytes),Units,Zone,Band,Charge,State,Class code,Flags\r\n");
    cr_expect_eq(cdr_stmt_item_csv_header(CDR_STMT_EN, 1, hdr, 20), 0);
}

/* ---- HTML ------------------------------------------------------------------------------------ */

/* The chart svg#id's text. */
static char *chart(const char *html, const char *id)
{
    char open[64];
    snprintf(open, sizeof open, "<svg id=\"%s\"", id);
    const char *a = strstr(html, open);
    cr_assert_not_null(a, "no %s", open);
    const char *e = strstr(a, "</svg>");
    cr_assert_not_null(e);
    return strndup(a, (size_t)(e - a));
}

Test(stmt_render, html)
{
    cdr_statement *s = member_stmt();
    size_t n1, n2;
    char *h = render_mem(s, R_HTML, CDR_STMT_ZH_CN, &n1);
    cr_expect(!strncmp(h, "<!DOCTYPE html>\n<html lang=\"zh-CN\">", 34));
    cr_expect(strstr(h, "<meta charset=\"utf-8\">"));
    cr_expect(strstr(h, "@media print"));
    cr_expect_null(strstr(h, "<script"));
    /* no external resource: the only URL is the SVG namespace */
    cr_expect_eq(count(h, "http"), count(h, "\"http://www.w3.org/2000/svg\""));
    cr_expect_eq(count(h, "src="), 0);
    cr_expect(strstr(h, "成员账单"));
    cr_expect(strstr(h, "<td class=\"num total\" data-total=\"enterprise_share\">39.50</td>"));
    cr_expect(strstr(h, "data-total=\"overflow\">3.545678<"));
    cr_expect_eq(count(h, "data-total=\""), 9);
    /* escaping */
    cr_expect(strstr(h, "Acme, &quot;Wu&quot; &amp; &lt;Sons&gt;\n有限公司"), "%s", h);
    cr_expect(strstr(h, "王小明, &quot;Ming&quot;"));
    cr_expect(strstr(h, "Ming &lt;home&gt; &amp; co"));
    cr_expect_null(strstr(h, "<Sons>"));
    cr_expect_null(strstr(h, "<home>"));
    /* the charts: a bar per service used (voice, sms, data), a bar per bundle */
    char *cs = chart(h, "chart-services");
    cr_expect_eq(count(cs, "<rect class=\"bar"), 3, "%s", cs);
    cr_expect(strstr(cs, "语音"));
    free(cs);
    char *cb = chart(h, "chart-bundles");
    cr_expect_eq(count(cb, "<rect class=\"bar"), 2, "%s", cb);
    cr_expect(strstr(cb, "<rect class=\"bar over\""), "the 150 %% pool shows as over");
    cr_expect(strstr(cb, "150.00%"));
    free(cb);
    cr_expect(strstr(h, "138****5678"));
    cr_expect(strstr(h, "套餐内"));
    /* deterministic */
    char *h2 = render_mem(s, R_HTML, CDR_STMT_ZH_CN, &n2);
    cr_expect(n1 == n2 && !memcmp(h, h2, n1));
    free(h);
    free(h2);
    h = render_mem(s, R_HTML, CDR_STMT_EN, NULL);
    cr_expect(strstr(h, "<html lang=\"en\">"));
    cr_expect(strstr(h, "Member statement"));
    free(h);
    stmt_free_hand(s);

    s = enterprise_stmt();
    h = render_mem(s, R_HTML, CDR_STMT_EN, NULL);
    cr_expect(strstr(h, "Enterprise statement"));
    cr_expect(strstr(h, "data-total=\"account_adjustments\">-5.00<"));
    cr_expect(strstr(h, "Zhang San\r\nline 2"));
    cr_expect(strstr(h, "Bad \xEF\xBF\xBD byte"));
    cr_expect(strstr(h, "<section id=\"members\">"));
    cr_expect(strstr(h, "<section id=\"change\">"));
    cb = chart(h, "chart-bundles");
    cr_expect_eq(count(cb, "<rect class=\"bar"), 2, "%s", cb); /* voice-500 summed, the pool */
    cr_expect(strstr(cb, "1.60%"));                            /* 3 x 480 of 3 x 30000 */
    cr_expect(strstr(cb, "75.00%"));
    free(cb);
    free(h);
    stmt_free_hand(s);
}

/* ---- the checkers of tests/browser ----------------------------------------------------------- */

static void render_set(const char *name, cdr_statement *s, int lang, char *html, char *json,
                       char *png, size_t n)
{
    char dir[4200], csv[4300];
    out_dir(dir, sizeof dir, name);
    size_t len;
    char *t = render_mem(s, R_JSON, lang, &len);
    snprintf(json, n, "%s/statement.json", dir);
    write_file(json, t, len);
    free(t);
    t = render_mem(s, R_HTML, lang, &len);
    snprintf(html, n, "%s/statement.html", dir);
    write_file(html, t, len);
    free(t);
    snprintf(csv, sizeof csv, "%s/csv", dir);
    cdr_diag dg;
    cr_assert_eq(cdr_stmt_render_csv(s, lang, csv, &dg), 0, "%s", dg.dg_msg);
    char art[4096];
    snprintf(art, sizeof art, "%s/artefacts", CDR_BINARY_DIR);
    mkdir(art, 0755);
    snprintf(png, n, "%s/statement-%s.png", art, name);
}

Test(stmt_render, browser_and_csv_checkers, .timeout = 300)
{
    static const char *const names[] = {"member-en", "member-zh-CN", "enterprise-en",
                                        "enterprise-zh-CN"};
    char html[4][4300], json[4][4300], png[4][4300];
    char cmd[32768];
    int k = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/browser/check_statement_html.py",
                     CDR_SOURCE_DIR);
    for (int i = 0; i < 4; i++) {
        cdr_statement *s = i < 2 ? member_stmt() : enterprise_stmt();
        const int lang = i % 2 ? CDR_STMT_ZH_CN : CDR_STMT_EN;
        render_set(names[i], s, lang, html[i], json[i], png[i], sizeof html[i]);
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " '%s' '%s' '%s'", html[i], json[i], png[i]);
        /* the names the CSV must give back exactly */
        char dir[4200], list[4300];
        out_dir(dir, sizeof dir, names[i]);
        snprintf(list, sizeof list, "%s/names.json", dir);
        FILE *f = fopen(list, "w");
        cr_assert_not_null(f);
        fputs("[", f);
        for (size_t l = 0; l < s->st_nlines; l++) {
            fputs(l ? ", " : "", f);
            cdr_json_write_str(f, s->st_lines[l].ln_name);
        }
        fputs(", ", f);
        cdr_json_write_str(f, ENTERPRISE_NAME);
        fputs(", ", f);
        cdr_json_write_str(f, ACCOUNT_NAME);
        fputs("]\n", f);
        cr_assert_eq(fclose(f), 0);
        char c[16384];
        snprintf(c, sizeof c,
                 "/usr/bin/python3 %s/tests/browser/check_statement_csv.py '%s/csv' %s %s '%s'",
                 CDR_SOURCE_DIR, dir, lang == CDR_STMT_ZH_CN ? "zh-CN" : "en",
                 i < 2 ? "member" : "enterprise", list);
        const int rc = system(c);
        cr_expect_eq(rc, 0, "%s: exit %d", c, rc);
        stmt_free_hand(s);
    }
    const int rc = system(cmd);
    cr_expect_eq(rc, 0, "%s: exit %d", cmd, rc);
    for (int i = 0; i < 4; i++) {
        struct stat st;
        cr_expect(stat(png[i], &st) == 0 && st.st_size > 1000, "no screenshot %s", png[i]);
    }
}
