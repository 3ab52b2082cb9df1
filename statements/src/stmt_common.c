/* stmt_common.c - what the three statement renderers share: names and labels of both languages
 * (English and Simplified Chinese), masking of the other party, bundle use in basis points, the
 * escaping writers of JSON, CSV and HTML, and fast number formatting for the itemised rows. */
#include <stdlib.h>
#include <string.h>

#include "cdr_record.h"
#include "cdr_rules.h"
#include "render_int.h"

/* ---- names and labels ------------------------------------------------------------------------ */

static const char *const texts[STMT_TEXT_COUNT][2] = {
#define STMT_TEXT_ROW(id, en, zh) [STMT_##id] = {en, zh},
    STMT_TEXTS(STMT_TEXT_ROW)
#undef STMT_TEXT_ROW
};

static int lang_ix(int lang)
{
    return lang == CDR_STMT_ZH_CN ? 1 : 0;
}

const char *stmt_text(int lang, stmt_text_id id)
{
    return (unsigned)id < STMT_TEXT_COUNT ? texts[id][lang_ix(lang)] : "?";
}

const char *cdr_stmt_lang_name(int lang)
{
    return lang == CDR_STMT_ZH_CN ? "zh-CN" : lang == CDR_STMT_EN ? "en" : "unknown";
}

int cdr_stmt_lang_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "en"))
        return CDR_STMT_EN;
    if (!strcmp(s, "zh-CN") || !strcmp(s, "zh"))
        return CDR_STMT_ZH_CN;
    return -1;
}

const char *cdr_stmt_kind_name(int kind)
{
    return kind == CDR_STMT_MEMBER       ? "member"
           : kind == CDR_STMT_ENTERPRISE ? "enterprise"
                                         : "unknown";
}

const char *cdr_stmt_privacy_name(int privacy)
{
    static const char *const names[] = {"masked", "full", "hidden"};
    return privacy >= 0 && privacy <= CDR_STMT_HIDDEN ? names[privacy] : "unknown";
}

const char *cdr_stmt_hint_state_name(int state)
{
    static const char *const names[] = {"none", "cheaper", "keep"};
    return state >= 0 && state <= CDR_HINT_KEEP ? names[state] : "unknown";
}

const char *cdr_stmt_state_name(int state)
{
    static const char *const names[CDR_STMT_STATE_COUNT] = {"in_bundle", "partly", "overflow",
                                                            "free", "charged"};
    return state >= 0 && state < CDR_STMT_STATE_COUNT ? names[state] : "unknown";
}

const char *cdr_stmt_service_label(int svc, int lang)
{
    static const char *const labels[CDR_SVC_COUNT][2] = {
        {"Voice", "语音"}, {"SMS", "短信"}, {"MMS", "彩信"}, {"Data", "数据"}, {"Video", "视频"}};
    return svc >= 0 && svc < CDR_SVC_COUNT ? labels[svc][lang_ix(lang)] : "?";
}

const char *cdr_stmt_direction_label(int dir, int lang)
{
    static const char *const labels[CDR_DIR_COUNT][2] = {{"Outgoing", "主叫"},
                                                         {"Incoming", "被叫"}};
    return dir >= 0 && dir < CDR_DIR_COUNT ? labels[dir][lang_ix(lang)] : "?";
}

const char *cdr_stmt_class_label(int cls, int lang)
{
    static const char *const labels[CDR_CLASS_COUNT][2] = {
        [CDR_CLASS_NONE] = {"None", "无"},
        [CDR_CLASS_BASIC_VOICE] = {"Basic voice", "基本通话费"},
        [CDR_CLASS_SMS_MMS] = {"SMS and MMS", "短信彩信费"},
        [CDR_CLASS_DATA] = {"Data", "上网流量费"},
        [CDR_CLASS_VALUE_ADDED] = {"Value-added services", "增值业务费"},
        [CDR_CLASS_ROAMING] = {"Roaming", "漫游费"},
        [CDR_CLASS_PREMIUM] = {"Premium numbers", "特服号码费"},
        [CDR_CLASS_FREE] = {"Free", "免费"},
        [CDR_CLASS_RECURRING_FEE] = {"Monthly fee", "月租费"},
        [CDR_CLASS_ONE_OFF] = {"One-off charges", "一次性费用"},
        [CDR_CLASS_ADJUSTMENT] = {"Adjustments", "调整"},
    };
    return cls >= 0 && cls < CDR_CLASS_COUNT ? labels[cls][lang_ix(lang)] : "?";
}

const char *cdr_stmt_state_label(int state, int lang)
{
    static const char *const labels[CDR_STMT_STATE_COUNT][2] = {
        [CDR_STMT_IN_BUNDLE] = {"In bundle", "套餐内"},
        [CDR_STMT_PARTLY] = {"Partly in bundle", "部分超出套餐"},
        [CDR_STMT_OVERFLOW] = {"Overflow", "超出套餐"},
        [CDR_STMT_FREE] = {"Free", "免费"},
        [CDR_STMT_CHARGED] = {"Charged", "计费"},
    };
    return state >= 0 && state < CDR_STMT_STATE_COUNT ? labels[state][lang_ix(lang)] : "?";
}

const char *stmt_unit_name(int svc)
{
    return svc == CDR_SVC_SMS || svc == CDR_SVC_MMS ? "messages"
           : svc == CDR_SVC_DATA                    ? "bytes"
                                                    : "seconds";
}

stmt_text_id stmt_unit_label(int svc)
{
    return svc == CDR_SVC_SMS || svc == CDR_SVC_MMS ? STMT_U_MESSAGES
           : svc == CDR_SVC_DATA                    ? STMT_U_BYTES
                                                    : STMT_U_SECONDS;
}

int stmt_class_used(const cdr_stmt_class *cl)
{
    return cl->cl_records || cl->cl_rated || cl->cl_package_charge || cl->cl_overflow_charge ||
           cl->cl_enterprise || cl->cl_member || cl->cl_enterprise_tax || cl->cl_member_tax;
}

int stmt_service_used(const cdr_stmt_service *sv)
{
    return sv->sv_records || sv->sv_units || sv->sv_charge;
}

void stmt_totals(const cdr_statement *s, stmt_total out[STMT_NTOTALS])
{
    const stmt_total t[STMT_NTOTALS] = {
        {"fee", STMT_C_FEE, s->st_fee, 2},
        {"usage", STMT_C_USAGE, s->st_usage, 2},
        {"other", STMT_C_OTHER, s->st_other, 2},
        {"overflow", STMT_C_OVERFLOW_CHARGE, s->st_overflow, 6},
        {"enterprise_share", STMT_C_ENTERPRISE_PAYS, s->st_enterprise_share, 2},
        {"member_share", STMT_C_MEMBER_PAYS, s->st_member_share, 2},
        {"enterprise_tax", STMT_C_ENTERPRISE_TAX, s->st_enterprise_tax, 2},
        {"member_tax", STMT_C_MEMBER_TAX, s->st_member_tax, 2},
        {"account_adjustments", STMT_C_ACCOUNT_ADJUSTMENTS, s->st_account_adjustments, 2},
    };
    memcpy(out, t, sizeof t);
}

/* ---- masking and bundle use ------------------------------------------------------------------ */

void cdr_stmt_mask(const char *number, int privacy, char *out)
{
    const char *n = number ? number : "";
    size_t len = strnlen(n, CDR_NUMBER_MAX - 1);
    if (privacy == CDR_STMT_HIDDEN) {
        out[0] = '\0';
        return;
    }
    memcpy(out, n, len);
    out[len] = '\0';
    if (privacy == CDR_STMT_FULL || len <= 8)
        return;
    memcpy(out + len - 8, "****", 4); /* the 4 digits before the last 4 */
}

int64_t cdr_stmt_bundle_bp(const cdr_stmt_bundle *bn)
{
    if (!bn || bn->bn_included == 0)
        return -1;
    /* used * 10000 / included, half-up; in 128 bits (used may be any uint64) */
    const unsigned __int128 q = ((unsigned __int128)bn->bn_used * 10000u * 2u + bn->bn_included) /
                                ((unsigned __int128)bn->bn_included * 2u);
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

int stmt_bundle_sums(const cdr_statement *s, cdr_stmt_bundle **out)
{
    size_t cap = 0;
    int n = 0;
    cdr_stmt_bundle *bs = NULL;
    *out = NULL;
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        for (unsigned b = 0; b < ln->ln_nbundles && b < CDR_PLAN_MAX_BUNDLES; b++) {
            const cdr_stmt_bundle *bn = &ln->ln_bundles[b];
            if (bn->bn_pool)
                continue;
            int k = 0;
            while (k < n && !(bs[k].bn_service == bn->bn_service &&
                              !strncmp(bs[k].bn_name, bn->bn_name, CDR_NAME_MAX)))
                k++;
            if (k == n) {
                if ((size_t)n == cap) {
                    size_t ncap = cap ? cap * 2 : 8;
                    cdr_stmt_bundle *nb = realloc(bs, ncap * sizeof *nb);
                    if (!nb) {
                        free(bs);
                        return -1;
                    }
                    bs = nb;
                    cap = ncap;
                }
                bs[n] = *bn;
                bs[n].bn_used = 0;
                bs[n].bn_included = 0;
                n++;
            }
            bs[k].bn_used += bn->bn_used;
            bs[k].bn_included += bn->bn_included;
        }
    }
    *out = bs;
    return n;
}

/* ---- formatting ------------------------------------------------------------------------------ */

const char *stmt_m2(cdr_money v, char buf[STMT_NUM_MAX])
{
    return cdr_money_format(v, 2, CDR_ROUND_HALF_UP, buf, STMT_NUM_MAX);
}

const char *stmt_m6(cdr_money v, char buf[STMT_NUM_MAX])
{
    *stmt_put_m6(buf, v) = '\0';
    return buf;
}

const char *stmt_cycle(uint32_t cycle, char buf[STMT_NUM_MAX])
{
    snprintf(buf, STMT_NUM_MAX, "%04u-%02u", (unsigned)(cycle / 100), (unsigned)(cycle % 100));
    return buf;
}

const char *stmt_pct(int64_t bp, char buf[STMT_NUM_MAX])
{
    if (bp < 0)
        buf[0] = '\0';
    else
        snprintf(buf, STMT_NUM_MAX, "%lld.%02lld", (long long)(bp / 100), (long long)(bp % 100));
    return buf;
}

const char *stmt_flags(unsigned flags, char buf[STMT_FLAGS_MAX])
{
    static const char *const names[] = {"suspended", "warned", "late", "reversal", "correction"};
    char *p = buf;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & (1u << i)))
            continue;
        if (p != buf)
            *p++ = ';';
        const size_t n = strlen(names[i]);
        memcpy(p, names[i], n);
        p += n;
    }
    *p = '\0';
    return buf;
}

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

char *stmt_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *t = tmp + sizeof tmp;
    while (v >= 100) {
        const unsigned r = (unsigned)(v % 100);
        v /= 100;
        t -= 2;
        memcpy(t, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        t -= 2;
        memcpy(t, digit_pairs + 2 * v, 2);
    } else {
        *--t = (char)('0' + v);
    }
    const size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(p, t, n);
    return p + n;
}

char *stmt_put_m6(char *p, cdr_money v)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    if (v < 0)
        *p++ = '-';
    p = stmt_put_u64(p, a / CDR_MICRO);
    unsigned f = (unsigned)(a % CDR_MICRO);
    *p++ = '.';
    memcpy(p + 4, digit_pairs + 2 * (f % 100), 2);
    f /= 100;
    memcpy(p + 2, digit_pairs + 2 * (f % 100), 2);
    f /= 100;
    memcpy(p, digit_pairs + 2 * f, 2);
    return p + 6;
}

char *stmt_put_time(char *p, cdr_time local)
{
    int64_t days = local / 86400, sod = local % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return p;
    memcpy(p, digit_pairs + 2 * (y / 100), 2);
    memcpy(p + 2, digit_pairs + 2 * (y % 100), 2);
    p[4] = '-';
    memcpy(p + 5, digit_pairs + 2 * m, 2);
    p[7] = '-';
    memcpy(p + 8, digit_pairs + 2 * d, 2);
    p[10] = ' ';
    memcpy(p + 11, digit_pairs + 2 * (sod / 3600), 2);
    p[13] = ':';
    memcpy(p + 14, digit_pairs + 2 * (sod / 60 % 60), 2);
    p[16] = ':';
    memcpy(p + 17, digit_pairs + 2 * (sod % 60), 2);
    return p + 19;
}

/* ---- escaping -------------------------------------------------------------------------------- */

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

void stmt_html_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        const unsigned char *run = p; /* bytes that need nothing, written at once */
        while (*p && *p < 0x80 && *p != '&' && *p != '<' && *p != '>' && *p != '"' && *p != '\'' &&
               ((*p >= 0x20 && *p != 0x7F) || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p > run)
            fwrite(run, 1, (size_t)(p - run), f);
        if (!*p)
            break;
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            p++;
            continue;
        case '<':
            fputs("&lt;", f);
            p++;
            continue;
        case '>':
            fputs("&gt;", f);
            p++;
            continue;
        case '"':
            fputs("&quot;", f);
            p++;
            continue;
        case '\'':
            fputs("&#39;", f);
            p++;
            continue;
        default:
            break;
        }
        if (*p < 0x80) { /* another control character (or DEL): not allowed in HTML text */
            fputs(replacement, f);
            p++;
            continue;
        }
        const int n = cdr_utf8_len(p);
        if (n == 0) {
            fputs(replacement, f);
            p++;
        } else {
            fwrite(p, 1, (size_t)n, f);
            p += n;
        }
    }
}

size_t stmt_csv_field(char *out, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *const end = p + strnlen((const char *)p, max);
    int quote = 0;
    for (const unsigned char *q = p; q < end; q++)
        if (*q == ',' || *q == '"' || *q == '\r' || *q == '\n') {
            quote = 1;
            break;
        }
    char *o = out;
    if (quote)
        *o++ = '"';
    while (p < end) {
        if (*p < 0x80) {
            if (*p == '"')
                *o++ = '"';
            *o++ = (char)*p++;
            continue;
        }
        const int n = cdr_utf8_len(p);
        if (n == 0 || n > end - p) {
            memcpy(o, replacement, 3);
            o += 3;
            p++;
        } else {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        }
    }
    if (quote)
        *o++ = '"';
    return (size_t)(o - out);
}

void stmt_csv_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const int quote = strpbrk((const char *)p, ",\"\r\n") != NULL;
    if (quote)
        fputc('"', f);
    while (*p) {
        const unsigned char *run = p; /* ASCII other than '"', and valid UTF-8, at once */
        int n;
        while (*p && *p != '"' && (n = cdr_utf8_len(p)) > 0)
            p += n;
        if (p > run)
            fwrite(run, 1, (size_t)(p - run), f);
        if (*p == '"') {
            fputs("\"\"", f);
            p++;
        } else if (*p) {
            fputs(replacement, f);
            p++;
        }
    }
    if (quote)
        fputc('"', f);
}
