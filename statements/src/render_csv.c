/* render_csv.c - a statement as a folder of CSV files (docs/statements.md "CSV"): UTF-8 with a
 * BOM, a header row in the statement's language over columns that never move, CRLF line ends
 * (RFC 4180, as Excel writes them), a field quoted when it holds a comma, a quote, CR or LF.
 * Every file is written beside its final name and renamed into place; the folder and the files
 * take their mode from the umask, which the cdrate command makes private (docs/operations.md
 * "Private files"). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_file.h"
#include "cdr_record.h"
#include "cdr_rules.h"
#include "render_int.h"

static const char BOM[] = "\xEF\xBB\xBF";

/* ---- the itemised rows (also the streaming export's) ------------------------------------------
 */

static const stmt_text_id item_cols[] = {
    STMT_C_MSISDN,   STMT_C_TIME,  STMT_C_SERVICE_KEY, STMT_C_DIRECTION, STMT_C_OTHER_PARTY,
    STMT_C_DURATION, STMT_C_BYTES, STMT_C_UNITS,       STMT_C_ZONE,      STMT_C_BAND,
    STMT_C_CHARGE,   STMT_C_STATE, STMT_C_CLASS_KEY,   STMT_C_FLAGS};

/* Write the header row of cols into buf (with the BOM when bom is 1); 0 when it does not fit. */
static size_t header_row(int lang, int bom, const stmt_text_id *cols, size_t ncols, char *buf,
                         size_t bufsize)
{
    size_t n = 0;
    if (bom) {
        if (bufsize < 4)
            return 0;
        memcpy(buf, BOM, 3);
        n = 3;
    }
    for (size_t i = 0; i < ncols; i++) {
        const char *t = stmt_text(lang, cols[i]);
        const size_t len = strlen(t);
        if (n + 3 * len + 2 + 3 > bufsize) /* the field, a comma or CRLF, the NUL */
            return 0;
        if (i)
            buf[n++] = ',';
        n += stmt_csv_field(buf + n, t, len);
    }
    memcpy(buf + n, "\r\n", 3);
    return n + 2;
}

size_t cdr_stmt_item_csv_header(int lang, int bom, char *buf, size_t bufsize)
{
    if (!buf)
        return 0;
    return header_row(lang, bom, item_cols, sizeof item_cols / sizeof item_cols[0], buf, bufsize);
}

static char *put_str(char *p, const char *s)
{
    const size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* The longest row: msisdn and other party (23 bytes each, every byte invalid UTF-8 and quoted),
 * the time (19), service (5: "video"; "?" when unknown), direction (2), duration (10), bytes and
 * units (20 each), zone and band (31 bytes each), the charge (21: INT64_MIN), state (9), class
 * (13), flags (41: all five), 13 commas, CRLF and the NUL. */
#define ITEM_FIELD_MAX(size) (3 * ((size)-1) + 2)
#define ITEM_ROW_MAX                                                                               \
    (2 * ITEM_FIELD_MAX(CDR_NUMBER_MAX) + 19 + 5 + 2 + 10 + 20 + 20 +                              \
     2 * ITEM_FIELD_MAX(CDR_NAME_MAX) + 21 + 9 + 13 + 41 + 13 + 2 + 1)
_Static_assert(ITEM_ROW_MAX <= CDR_STMT_ITEM_CSV_MAX, "CDR_STMT_ITEM_CSV_MAX holds every row");

size_t cdr_stmt_item_csv(const cdr_stmt_item *it, char *buf, size_t bufsize)
{
    char tmp[CDR_STMT_ITEM_CSV_MAX];
    if (!it || !buf)
        return 0;
    char *const start = bufsize >= CDR_STMT_ITEM_CSV_MAX ? buf : tmp;
    char *p = start;
    p += stmt_csv_field(p, it->it_msisdn, sizeof it->it_msisdn);
    *p++ = ',';
    cdr_time local;
    if (!__builtin_add_overflow(it->it_start, (cdr_time)it->it_utc_offset, &local))
        p = stmt_put_time(p, local);
    *p++ = ',';
    const char *svc = cdr_service_name(it->it_service);
    p = put_str(p, svc ? svc : "?");
    *p++ = ',';
    const char *dir = cdr_direction_name(it->it_direction);
    p = put_str(p, dir ? dir : "?");
    *p++ = ',';
    p += stmt_csv_field(p, it->it_other, sizeof it->it_other);
    *p++ = ',';
    p = stmt_put_u64(p, it->it_duration);
    *p++ = ',';
    p = stmt_put_u64(p, it->it_bytes);
    *p++ = ',';
    p = stmt_put_u64(p, it->it_units);
    *p++ = ',';
    p += stmt_csv_field(p, it->it_zone, sizeof it->it_zone);
    *p++ = ',';
    p += stmt_csv_field(p, it->it_band, sizeof it->it_band);
    *p++ = ',';
    p = stmt_put_m6(p, it->it_charge);
    *p++ = ',';
    p = put_str(p, cdr_stmt_state_name(it->it_state));
    *p++ = ',';
    p = put_str(p, cdr_charge_class_name(it->it_class));
    *p++ = ',';
    if (it->it_flags) {
        char fl[STMT_FLAGS_MAX];
        p = put_str(p, stmt_flags(it->it_flags, fl));
    }
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    const size_t n = (size_t)(p - start);
    if (start == tmp) {
        if (n + 1 > bufsize)
            return 0;
        memcpy(buf, tmp, n + 1);
    }
    return n;
}

/* ---- the files ------------------------------------------------------------------------------- */

/* One CSV file being written: FILE, its final and temporary paths, the fields of the row. */
typedef struct cw {
    FILE *cw_f;
    int cw_n; /* fields written in the current row */
    char cw_path[4200];
    char cw_tmp[4200];
} cw;

static void cw_sep(cw *c)
{
    if (c->cw_n++)
        fputc(',', c->cw_f);
}

static void cw_str(cw *c, const char *s)
{
    cw_sep(c);
    stmt_csv_str(c->cw_f, s);
}

/* A fixed-size char array of the model, never read past its end. */
#define cw_field(c, arr)                                                                           \
    do {                                                                                           \
        char _b[sizeof(arr) + 1];                                                                  \
        memcpy(_b, (arr), sizeof(arr));                                                            \
        _b[sizeof(arr)] = '\0';                                                                    \
        cw_str((c), _b);                                                                           \
    } while (0)

static void cw_u64(cw *c, uint64_t v)
{
    char b[24];
    cw_sep(c);
    fwrite(b, 1, (size_t)(stmt_put_u64(b, v) - b), c->cw_f);
}

static void cw_m2(cw *c, cdr_money v)
{
    char b[STMT_NUM_MAX];
    cw_str(c, stmt_m2(v, b));
}

static void cw_m6(cw *c, cdr_money v)
{
    char b[STMT_NUM_MAX];
    cw_str(c, stmt_m6(v, b));
}

static void cw_end(cw *c)
{
    fputs("\r\n", c->cw_f);
    c->cw_n = 0;
}

static int cw_open(cw *c, const char *dir, const char *name, int lang, const stmt_text_id *cols,
                   size_t ncols, cdr_diag *dg)
{
    snprintf(c->cw_path, sizeof c->cw_path, "%s/%s", dir, name);
    snprintf(c->cw_tmp, sizeof c->cw_tmp, "%s/.%s.tmp", dir, name);
    c->cw_n = 0;
    int fd =
        open(c->cw_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* the umask decides */
    c->cw_f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!c->cw_f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cdr_diag_set(dg, CDR_EIO, c->cw_tmp, 0, 0, "cannot create: %s", strerror(e));
    }
    fputs(BOM, c->cw_f);
    for (size_t i = 0; i < ncols; i++)
        cw_str(c, stmt_text(lang, cols[i]));
    cw_end(c);
    return 0;
}

/* Flush, fsync, close and rename into place; on failure the temporary file goes. */
static int cw_close(cw *c, cdr_diag *dg)
{
    int bad = fflush(c->cw_f) != 0 || ferror(c->cw_f) || fsync(fileno(c->cw_f)) != 0;
    int e = errno;
    if (fclose(c->cw_f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    c->cw_f = NULL;
    if (!bad && rename(c->cw_tmp, c->cw_path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(c->cw_tmp);
        return cdr_diag_set(dg, CDR_EIO, c->cw_path, 0, 0, "cannot write: %s", strerror(e));
    }
    return 0;
}

static void cw_abandon(cw *c)
{
    if (c->cw_f) {
        fclose(c->cw_f);
        c->cw_f = NULL;
        unlink(c->cw_tmp);
    }
}

#define NCOLS(a) (sizeof(a) / sizeof(a)[0])

/* summary.csv: key, label, value; one row per fact of the statement. */
static void summary_row(cw *c, const char *key, const char *label, const char *value)
{
    cw_str(c, key);
    cw_str(c, label);
    cw_str(c, value);
    cw_end(c);
}

static void summary_u64(cw *c, int lang, const char *key, stmt_text_id label, uint64_t v)
{
    char b[24];
    *stmt_put_u64(b, v) = '\0';
    summary_row(c, key, stmt_text(lang, label), b);
}

static void summary_file(cw *c, const cdr_statement *s, int lang)
{
    char b[STMT_NUM_MAX], l[256], k[64], v[128];
    summary_row(c, "kind", stmt_text(lang, STMT_C_KIND), cdr_stmt_kind_name(s->st_kind));
    summary_row(c, "cycle", stmt_text(lang, STMT_CYCLE), stmt_cycle(s->st_cycle, b));
#define ROW_FIELD(key, label, arr)                                                                 \
    do {                                                                                           \
        snprintf(v, sizeof v, "%.*s", (int)sizeof(arr), (arr));                                    \
        summary_row(c, key, stmt_text(lang, label), v);                                            \
    } while (0)
    ROW_FIELD("currency", STMT_CURRENCY, s->st_currency);
    ROW_FIELD("issued", STMT_ISSUED, s->st_issued);
    ROW_FIELD("due", STMT_DUE, s->st_due);
    summary_row(c, "privacy", stmt_text(lang, STMT_PRIVACY), cdr_stmt_privacy_name(s->st_privacy));
    if (s->st_enterprise) {
        summary_u64(c, lang, "enterprise", STMT_ENTERPRISE_ID, s->st_enterprise);
        ROW_FIELD("enterprise_name", STMT_ENTERPRISE, s->st_enterprise_name);
        summary_u64(c, lang, "enterprise_account", STMT_ENTERPRISE_ACCOUNT,
                    s->st_enterprise_account);
        ROW_FIELD("enterprise_account_name", STMT_C_ACCOUNT_NAME, s->st_enterprise_account_name);
        ROW_FIELD("manager", STMT_MANAGER, s->st_manager);
    }
    if (s->st_kind == CDR_STMT_MEMBER && s->st_nlines > 0) {
        const cdr_stmt_line *ln = &s->st_lines[0];
        summary_u64(c, lang, "subscriber", STMT_C_SUBSCRIBER, ln->ln_subscriber);
        ROW_FIELD("msisdn", STMT_C_MSISDN, ln->ln_msisdn);
        ROW_FIELD("name", STMT_C_NAME, ln->ln_name);
        ROW_FIELD("plan", STMT_C_PLAN, ln->ln_plan);
        ROW_FIELD("status", STMT_C_STATUS, ln->ln_status);
        summary_u64(c, lang, "account", STMT_C_ACCOUNT, ln->ln_account);
        ROW_FIELD("account_name", STMT_C_ACCOUNT_NAME, ln->ln_account_name);
    }
    summary_u64(c, lang, "lines", STMT_C_LINES, s->st_nlines);
    stmt_total tot[STMT_NTOTALS];
    stmt_totals(s, tot);
    for (int i = 0; i < STMT_NTOTALS; i++)
        summary_row(c, tot[i].to_key, stmt_text(lang, tot[i].to_label),
                    tot[i].to_decimals == 2 ? stmt_m2(tot[i].to_amount, b)
                                            : stmt_m6(tot[i].to_amount, b));
    summary_u64(c, lang, "hint_lines", STMT_C_HINT_LINES, s->st_hint_lines);
    summary_row(c, "hint_savings", stmt_text(lang, STMT_C_HINT_SAVINGS),
                stmt_m2(s->st_hint_savings, b));
    for (unsigned i = 0; i < s->st_ninvoices && i < 2; i++) {
        const cdr_stmt_invoice *iv = &s->st_invoices[i];
#define INV_ROW(name, label, value)                                                                \
    do {                                                                                           \
        snprintf(k, sizeof k, "invoice%u_%s", i + 1, name);                                        \
        snprintf(l, sizeof l, "%s %u: %s", stmt_text(lang, STMT_C_INVOICE), i + 1,                 \
                 stmt_text(lang, label));                                                          \
        summary_row(c, k, l, value);                                                               \
    } while (0)
        snprintf(v, sizeof v, "%.*s", (int)sizeof iv->iv_invoice, iv->iv_invoice);
        INV_ROW("number", STMT_C_INVOICE, v);
        *stmt_put_u64(v, iv->iv_account) = '\0';
        INV_ROW("account", STMT_C_ACCOUNT, v);
        snprintf(v, sizeof v, "%.*s", (int)sizeof iv->iv_kind, iv->iv_kind);
        INV_ROW("kind", STMT_C_KIND, v);
        snprintf(v, sizeof v, "%.*s", (int)sizeof iv->iv_issued, iv->iv_issued);
        INV_ROW("issued", STMT_ISSUED, v);
        snprintf(v, sizeof v, "%.*s", (int)sizeof iv->iv_due, iv->iv_due);
        INV_ROW("due", STMT_DUE, v);
        INV_ROW("amount", STMT_C_AMOUNT, stmt_m2(iv->iv_amount, b));
        INV_ROW("tax", STMT_C_TAX, stmt_m2(iv->iv_tax, b));
        INV_ROW("total", STMT_C_TOTAL, stmt_m2(iv->iv_total, b));
#undef INV_ROW
    }
    if (s->st_kind == CDR_STMT_ENTERPRISE) {
        const cdr_stmt_change *ch = &s->st_change;
        summary_row(c, "change_known", stmt_text(lang, STMT_S_CHANGE), ch->ch_known ? "yes" : "no");
        if (ch->ch_known) {
            snprintf(l, sizeof l, "%s: %s", stmt_text(lang, STMT_C_PREVIOUS),
                     stmt_text(lang, STMT_CYCLE));
            summary_row(c, "previous_cycle", l, stmt_cycle(ch->ch_cycle, b));
            snprintf(l, sizeof l, "%s: %s", stmt_text(lang, STMT_C_PREVIOUS),
                     stmt_text(lang, STMT_C_LINES));
            *stmt_put_u64(v, ch->ch_lines) = '\0';
            summary_row(c, "previous_lines", l, v);
            snprintf(l, sizeof l, "%s: %s", stmt_text(lang, STMT_C_PREVIOUS),
                     stmt_text(lang, STMT_C_MEMBERS_AMOUNT));
            summary_row(c, "previous_amount", l, stmt_m2(ch->ch_amount, b));
            snprintf(l, sizeof l, "%s: %s", stmt_text(lang, STMT_C_PREVIOUS),
                     stmt_text(lang, STMT_C_ENTERPRISE_PAYS));
            summary_row(c, "previous_enterprise_share", l, stmt_m2(ch->ch_enterprise_share, b));
            snprintf(l, sizeof l, "%s: %s", stmt_text(lang, STMT_C_PREVIOUS),
                     stmt_text(lang, STMT_C_OVERFLOW_CHARGE));
            summary_row(c, "previous_overflow", l, stmt_m6(ch->ch_overflow, b));
        }
    }
#undef ROW_FIELD
}

static const stmt_text_id class_cols[] = {
    STMT_C_CLASS_KEY,        STMT_C_CLASS,       STMT_C_RECORDS,        STMT_C_PACKAGE_RECORDS,
    STMT_C_OVERFLOW_RECORDS, STMT_C_RATED,       STMT_C_PACKAGE_CHARGE, STMT_C_OVERFLOW_CHARGE,
    STMT_C_ENTERPRISE_PAYS,  STMT_C_MEMBER_PAYS, STMT_C_ENTERPRISE_TAX, STMT_C_MEMBER_TAX};

static void classes_file(cw *c, const cdr_statement *s, int lang)
{
    for (int k = 0; k < CDR_CLASS_COUNT; k++) {
        const cdr_stmt_class *cl = &s->st_class[k];
        if (!stmt_class_used(cl))
            continue;
        cw_str(c, cdr_charge_class_name(k));
        cw_str(c, cdr_stmt_class_label(k, lang));
        cw_u64(c, cl->cl_records);
        cw_u64(c, cl->cl_package_records);
        cw_u64(c, cl->cl_overflow_records);
        cw_m6(c, cl->cl_rated);
        cw_m6(c, cl->cl_package_charge);
        cw_m6(c, cl->cl_overflow_charge);
        cw_m2(c, cl->cl_enterprise);
        cw_m2(c, cl->cl_member);
        cw_m2(c, cl->cl_enterprise_tax);
        cw_m2(c, cl->cl_member_tax);
        cw_end(c);
    }
}

static const stmt_text_id service_cols[] = {
    STMT_C_SERVICE_KEY,    STMT_C_SERVICE,        STMT_C_UNIT,
    STMT_C_RECORDS,        STMT_C_UNITS,          STMT_C_BUNDLE_UNITS,
    STMT_C_OVERFLOW_UNITS, STMT_C_FREE_UNITS,     STMT_C_OVERFLOW_RECORDS,
    STMT_C_CHARGE,         STMT_C_OVERFLOW_CHARGE};

static void services_file(cw *c, const cdr_statement *s, int lang)
{
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        cw_str(c, cdr_service_name(v));
        cw_str(c, cdr_stmt_service_label(v, lang));
        cw_str(c, stmt_unit_name(v));
        cw_u64(c, sv->sv_records);
        cw_u64(c, sv->sv_units);
        cw_u64(c, sv->sv_bundle_units);
        cw_u64(c, sv->sv_overflow_units);
        cw_u64(c, sv->sv_free_units);
        cw_u64(c, sv->sv_overflow_records);
        cw_m6(c, sv->sv_charge);
        cw_m6(c, sv->sv_overflow_charge);
        cw_end(c);
    }
}

static const stmt_text_id bundle_cols[] = {STMT_C_MSISDN,      STMT_C_PRODUCT, STMT_C_BUNDLE,
                                           STMT_C_SERVICE_KEY, STMT_C_POOL,    STMT_C_USED,
                                           STMT_C_INCLUDED,    STMT_C_PERCENT};

static void bundle_row(cw *c, const char *msisdn, uint64_t product, const cdr_stmt_bundle *bn)
{
    char b[STMT_NUM_MAX];
    cw_str(c, msisdn);
    if (product)
        cw_u64(c, product);
    else
        cw_str(c, "");
    cw_field(c, bn->bn_name);
    const char *svc = cdr_service_name(bn->bn_service);
    cw_str(c, svc ? svc : "unknown");
    cw_str(c, bn->bn_pool ? "1" : "0");
    cw_u64(c, bn->bn_used);
    cw_u64(c, bn->bn_included);
    cw_str(c, stmt_pct(cdr_stmt_bundle_bp(bn), b));
    cw_end(c);
}

static void bundles_file(cw *c, const cdr_statement *s)
{
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        char msisdn[sizeof ln->ln_msisdn + 1];
        snprintf(msisdn, sizeof msisdn, "%.*s", (int)sizeof ln->ln_msisdn, ln->ln_msisdn);
        for (unsigned k = 0; k < ln->ln_nbundles && k < CDR_PLAN_MAX_BUNDLES; k++)
            bundle_row(c, msisdn, 0, &ln->ln_bundles[k]);
    }
    for (unsigned p = 0; p < s->st_npools && p < 16; p++)
        bundle_row(c, "", s->st_pool_product[p], &s->st_pools[p]);
}

static const stmt_text_id overflow_cols[] = {STMT_C_RANK,
                                             STMT_C_KIND,
                                             STMT_C_KEY,
                                             STMT_C_NAME,
                                             STMT_C_OVERFLOW_RECORDS,
                                             STMT_C_OVERFLOW_UNITS,
                                             STMT_C_OVERFLOW_CHARGE,
                                             STMT_C_CHARGE,
                                             STMT_C_HINT,
                                             STMT_C_BEST_PLAN,
                                             STMT_C_SAVING};

static uint64_t line_overflow_records(const cdr_stmt_line *ln)
{
    uint64_t n = 0;
    for (int k = 0; k < CDR_CLASS_COUNT; k++)
        n += ln->ln_class[k].cl_overflow_records;
    return n;
}

static void overflow_line(cw *c, unsigned rank, const cdr_stmt_line *ln)
{
    cw_u64(c, rank);
    cw_str(c, "line");
    cw_field(c, ln->ln_msisdn);
    cw_field(c, ln->ln_name);
    cw_u64(c, line_overflow_records(ln));
    cw_str(c, "");
    cw_m6(c, ln->ln_overflow);
    cw_str(c, "");
    cw_str(c, cdr_stmt_hint_state_name(ln->ln_hint.hn_state));
    cw_field(c, ln->ln_hint.hn_best);
    cw_m2(c, ln->ln_hint.hn_state == CDR_HINT_CHEAPER ? ln->ln_hint.hn_saving : 0);
    cw_end(c);
}

static void overflow_file(cw *c, const cdr_statement *s, int lang)
{
    for (int v = 0; v < CDR_SVC_COUNT; v++) {
        const cdr_stmt_service *sv = &s->st_svc[v];
        if (!stmt_service_used(sv))
            continue;
        cw_str(c, "");
        cw_str(c, "service");
        cw_str(c, cdr_service_name(v));
        cw_str(c, cdr_stmt_service_label(v, lang));
        cw_u64(c, sv->sv_overflow_records);
        cw_u64(c, sv->sv_overflow_units);
        cw_m6(c, sv->sv_overflow_charge);
        cw_m6(c, sv->sv_charge);
        cw_str(c, "");
        cw_str(c, "");
        cw_str(c, "");
        cw_end(c);
    }
    if (s->st_kind == CDR_STMT_MEMBER) {
        if (s->st_nlines > 0)
            overflow_line(c, 1, &s->st_lines[0]);
        return;
    }
    for (unsigned t = 0; t < s->st_ntop && t < 10; t++)
        if (s->st_top[t] < s->st_nlines)
            overflow_line(c, t + 1, &s->st_lines[s->st_top[t]]);
}

static const stmt_text_id member_cols[] = {STMT_C_SUBSCRIBER,
                                           STMT_C_MSISDN,
                                           STMT_C_NAME,
                                           STMT_C_PLAN,
                                           STMT_C_STATUS,
                                           STMT_C_ACCOUNT,
                                           STMT_C_ACCOUNT_NAME,
                                           STMT_C_PRODUCT,
                                           STMT_C_FEE,
                                           STMT_C_USAGE,
                                           STMT_C_OTHER,
                                           STMT_C_OVERFLOW_CHARGE,
                                           STMT_C_ENTERPRISE_PAYS,
                                           STMT_C_MEMBER_PAYS,
                                           STMT_C_ENTERPRISE_TAX,
                                           STMT_C_MEMBER_TAX,
                                           STMT_C_HINT,
                                           STMT_C_BEST_PLAN,
                                           STMT_C_SAVING};

static void members_file(cw *c, const cdr_statement *s)
{
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        cw_u64(c, ln->ln_subscriber);
        cw_field(c, ln->ln_msisdn);
        cw_field(c, ln->ln_name);
        cw_field(c, ln->ln_plan);
        cw_field(c, ln->ln_status);
        cw_u64(c, ln->ln_account);
        cw_field(c, ln->ln_account_name);
        cw_u64(c, ln->ln_product);
        cw_m2(c, ln->ln_fee);
        cw_m2(c, ln->ln_usage);
        cw_m2(c, ln->ln_other);
        cw_m6(c, ln->ln_overflow);
        cw_m2(c, ln->ln_enterprise_share);
        cw_m2(c, ln->ln_member_share);
        cw_m2(c, ln->ln_enterprise_tax);
        cw_m2(c, ln->ln_member_tax);
        cw_str(c, cdr_stmt_hint_state_name(ln->ln_hint.hn_state));
        cw_field(c, ln->ln_hint.hn_best);
        cw_m2(c, ln->ln_hint.hn_state == CDR_HINT_CHEAPER ? ln->ln_hint.hn_saving : 0);
        cw_end(c);
    }
}

static int items_file(cw *c, const cdr_statement *s)
{
    char row[CDR_STMT_ITEM_CSV_MAX];
    for (size_t i = 0; i < s->st_nitems; i++) {
        const size_t n = cdr_stmt_item_csv(&s->st_items[i], row, sizeof row);
        if (fwrite(row, 1, n, c->cw_f) != n)
            return -1;
    }
    return 0;
}

/* Remove a file of an earlier render that this statement does not have. */
static int remove_stale(const char *dir, const char *name, cdr_diag *dg)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
    return 0;
}

int cdr_stmt_render_csv(const cdr_statement *s, int lang, const char *dir, cdr_diag *dg)
{
    if (!s || !dir || !dir[0] || (s->st_nlines && !s->st_lines) || (s->st_nitems && !s->st_items))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render csv: no statement or no folder");
    if (s->st_kind != CDR_STMT_MEMBER && s->st_kind != CDR_STMT_ENTERPRISE)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "render csv: unknown statement kind %u",
                            s->st_kind);
    if (strlen(dir) > 4000)
        return cdr_diag_set(dg, CDR_EINVAL, dir, 0, 0, "render csv: the folder name is too long");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) /* the umask decides: private by default */
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create: %s", strerror(errno));
    const int enterprise = s->st_kind == CDR_STMT_ENTERPRISE;
    cw c = {0};
    int rc;
#define ONE_FILE(name, cols, body)                                                                 \
    do {                                                                                           \
        if ((rc = cw_open(&c, dir, name, lang, cols, NCOLS(cols), dg)) != 0)                       \
            return rc;                                                                             \
        body;                                                                                      \
        if ((rc = cw_close(&c, dg)) != 0)                                                          \
            return rc;                                                                             \
    } while (0)
    static const stmt_text_id summary_cols[] = {STMT_C_KEY, STMT_C_ITEM, STMT_C_VALUE};
    ONE_FILE("summary.csv", summary_cols, summary_file(&c, s, lang));
    ONE_FILE("classes.csv", class_cols, classes_file(&c, s, lang));
    ONE_FILE("services.csv", service_cols, services_file(&c, s, lang));
    ONE_FILE("bundles.csv", bundle_cols, bundles_file(&c, s));
    ONE_FILE("overflow.csv", overflow_cols, overflow_file(&c, s, lang));
    if (enterprise)
        ONE_FILE("members.csv", member_cols, members_file(&c, s));
    else if ((rc = remove_stale(dir, "members.csv", dg)) != 0)
        return rc;
    if (s->st_items) {
        ONE_FILE("itemised.csv", item_cols, {
            if (items_file(&c, s) != 0) {
                const int e = errno;
                cw_abandon(&c);
                return cdr_diag_set(dg, CDR_EIO, c.cw_path, 0, 0, "cannot write: %s", strerror(e));
            }
        });
    } else if ((rc = remove_stale(dir, "itemised.csv", dg)) != 0) {
        return rc;
    }
#undef ONE_FILE
    if (cdr_fsync_dir(dir) != 0)
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "fsync: %s", strerror(errno));
    return 0;
}
