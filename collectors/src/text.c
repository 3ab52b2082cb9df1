/* text.c - what the text decoders share: the line walker, quoted-CSV splitting, whole numbers,
 * element-local times with a cached zone look-up, record ids. Nothing here allocates. */
#include <stdio.h>
#include <string.h>

#include "coll_text.h"

/* ---- the line walker --------------------------------------------------------------------------
 */

int coll_text_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                     const char *header, coll_line_fn fn, void *ctx, cdr_coll_emit_fn emit,
                     void *arg)
{
    const char *s = (const char *)buf;
    const size_t hlen = header ? strlen(header) : 0;
    cdr_coll_item ci;
    memset(&ci, 0, sizeof ci);
    uint64_t lineno = 0, index = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        const size_t end = nl ? (size_t)(nl - s) : len;
        const size_t off = pos;
        size_t ll = end - off;
        if (ll > 0 && s[end - 1] == '\r')
            ll--;
        pos = nl ? end + 1 : len;
        lineno++;
        if (ll == 0)
            continue; /* blank line */
        if (lineno == 1 && header && ll == hlen && memcmp(s + off, header, hlen) == 0)
            continue;
        ci.ci_kind = CDR_ITEM_RECORD;
        ci.ci_line = lineno;
        ci.ci_offset = off;
        ci.ci_length = ll;
        ci.ci_index = index++;
        /* a record's diagnostic says only where it came from; cheap to reset */
        ci.ci_diag.dg_code = CDR_OK;
        ci.ci_diag.dg_line = (int)lineno;
        ci.ci_diag.dg_column = 0;
        ci.ci_diag.dg_msg[0] = '\0';
        if (ci.ci_diag.dg_file[0] == '\0' && name)
            snprintf(ci.ci_diag.dg_file, sizeof ci.ci_diag.dg_file, "%s", name);
        if (ll > COLL_LINE_MAX) {
            memset(&ci.ci_rec, 0, sizeof ci.ci_rec);
            COLL_REJECT(&ci, name, CDR_FORMAT, 1, "line of %zu bytes is longer than %d", ll,
                        COLL_LINE_MAX);
        } else {
            fn(d, name, s + off, ll, &ci, ctx);
        }
        const int rc = emit(arg, &ci);
        if (rc)
            return rc;
    }
    return 0;
}

void coll_place(cdr_coll_item *ci, const char *name, int col)
{
    ci->ci_kind = CDR_ITEM_REJECTED;
    snprintf(ci->ci_diag.dg_file, sizeof ci->ci_diag.dg_file, "%s", name ? name : "");
    ci->ci_diag.dg_line = (int)ci->ci_line;
    if (col > 0)
        ci->ci_diag.dg_column = col;
}

/* ---- quoted CSV -------------------------------------------------------------------------------
 */

/* Byte classes: 0 ordinary, 1 '"', 2 ',', 3 a control character (not TAB). */
enum { CL_PLAIN = 0, CL_QUOTE, CL_COMMA, CL_CTRL };
static const uint8_t byte_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
};

int coll_split(const char *line, size_t len, coll_field *f, int max, int *col, const char **msg)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t i = 0;
    int n = 0;
    for (;;) {
        if (n == max) {
            *col = (int)i + 1;
            return max + 1;
        }
        coll_field *fl = &f[n++];
        fl->fl_col = (uint32_t)i + 1;
        size_t st;
        if (i < len && s[i] == '"') {
            st = ++i;
            for (;;) {
                while (i < len && byte_class[s[i]] == CL_PLAIN)
                    i++;
                if (i == len) {
                    *col = (int)fl->fl_col;
                    *msg = "unterminated quoted field";
                    return -1;
                }
                const uint8_t c = byte_class[s[i]];
                if (c == CL_COMMA) {
                    i++;
                } else if (c == CL_CTRL) {
                    *col = (int)i + 1;
                    *msg = "control character in a field";
                    return -1;
                } else if (i + 1 < len && s[i + 1] == '"') {
                    i += 2; /* "" = one quote */
                } else {
                    break; /* the closing quote */
                }
            }
            fl->fl_p = line + st;
            fl->fl_len = (uint32_t)(i - st);
            i++;
            if (i == len)
                return n;
            if (s[i] != ',') {
                *col = (int)i + 1;
                *msg = "expected ',' after a closing quote";
                return -1;
            }
            i++;
        } else {
            st = i;
            while (i < len && byte_class[s[i]] == CL_PLAIN)
                i++;
            fl->fl_p = line + st;
            fl->fl_len = (uint32_t)(i - st);
            if (i == len)
                return n;
            if (byte_class[s[i]] != CL_COMMA) {
                *col = (int)i + 1;
                *msg =
                    s[i] == '"' ? "quote inside an unquoted field" : "control character in a field";
                return -1;
            }
            i++;
        }
    }
}

int coll_field_is(const coll_field *fl, const char *s)
{
    const size_t n = strlen(s);
    return fl->fl_len == n && memcmp(fl->fl_p, s, n) == 0;
}

/* ---- values ---------------------------------------------------------------------------------- */

int coll_parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0)
        return COLL_UINT_EMPTY;
    if (s[0] == '-')
        return (n > 1 && s[1] >= '0' && s[1] <= '9') ? COLL_UINT_NEGATIVE : COLL_UINT_SYNTAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned dg = (unsigned)(unsigned char)s[i] - '0';
        if (dg > 9)
            return COLL_UINT_SYNTAX;
        if (dg > max || v > (max - dg) / 10) {
            /* keep scanning so that "12x" is a syntax error, not a range error */
            for (; i < n; i++)
                if ((unsigned)(unsigned char)s[i] - '0' > 9)
                    return COLL_UINT_SYNTAX;
            return COLL_UINT_RANGE;
        }
        v = v * 10 + dg;
    }
    *out = v;
    return COLL_UINT_OK;
}

void coll_reject_uint(cdr_coll_item *ci, const char *name, int col, const char *what, int err,
                      uint64_t max)
{
    switch (err) {
    case COLL_UINT_EMPTY:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s is empty", what);
        break;
    case COLL_UINT_NEGATIVE:
        COLL_REJECT(ci, name, CDR_RANGE, col, "%s is negative", what);
        break;
    case COLL_UINT_RANGE:
        COLL_REJECT(ci, name, CDR_RANGE, col, "%s is larger than %llu", what,
                    (unsigned long long)max);
        break;
    default:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s is not a whole number", what);
        break;
    }
}

/* n decimal digits at s into *v; 0 when one of them is not a digit. */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        const unsigned dg = (unsigned)(unsigned char)s[i] - '0';
        if (dg > 9)
            return 0;
        x = x * 10 + (int)dg;
    }
    *v = x;
    return 1;
}

int coll_parse_local(const char *s, size_t n, int64_t *local)
{
    int y, mo, d, h, mi, se;
    if (n != 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return CDR_FORMAT;
    if (!cdr_date_valid(y, (unsigned)mo, (unsigned)d) || h > 23 || mi > 59 || se > 59)
        return CDR_RANGE;
    *local = cdr_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

void coll_reject_time(cdr_coll_item *ci, const char *name, int col, const char *what, int rc)
{
    if (rc == CDR_RANGE)
        COLL_REJECT(ci, name, CDR_RANGE, col, "%s is not a real date and time", what);
    else
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s is not YYYY-MM-DD HH:MM:SS", what);
}

/* Local times at least this far inside a stretch of constant offset map with that offset under
 * coll_local_to_utc's rule (it looks a day either side; no zone's offset exceeds 16 h). */
#define TZC_MARGIN   (86400 + 16 * 3600 + 1)
#define TZC_MAX_OFFS (16 * 3600)

void coll_tzcache_fill(const cdr_coll_decoder *d, coll_tzcache *tc, int64_t local, cdr_time *utc,
                       int32_t *offset)
{
    coll_local_to_utc(d, local, utc, offset);
    const cdr_tz *tz = &d->cd_tz;
    if (tz->tz_n == 0) { /* UTC */
        tc->tc_lo = INT64_MIN;
        tc->tc_hi = INT64_MAX;
        tc->tc_off = 0;
        return;
    }
    /* the stretch [tz_at[i], tz_at[i + 1]) holding *utc */
    uint32_t lo = 0, n = tz->tz_n;
    while (n > 1) {
        const uint32_t half = n / 2;
        lo = tz->tz_at[lo + half] <= *utc ? lo + half : lo;
        n -= half;
    }
    const int32_t off = tz->tz_off[lo];
    if (off != *offset || off > TZC_MAX_OFFS || off < -TZC_MAX_OFFS)
        return; /* a gap: keep the cache as it is */
    const int64_t a = tz->tz_at[lo];
    const int64_t b = lo + 1 < tz->tz_n ? tz->tz_at[lo + 1] : INT64_MAX;
    const int64_t clo = a == INT64_MIN ? INT64_MIN : a + TZC_MARGIN;
    const int64_t chi = b == INT64_MAX ? INT64_MAX : b - TZC_MARGIN;
    if (clo < chi && local >= clo && local < chi) {
        tc->tc_lo = clo;
        tc->tc_hi = chi;
        tc->tc_off = off;
    }
}

void coll_origin_id(cdr_record *cr, const char *id, size_t n)
{
    if (n > 0 && n < CDR_ORIGIN_MAX) {
        size_t i = 0;
        for (; i < n; i++) {
            const unsigned char c = (unsigned char)id[i];
            if (c <= ' ' || c >= 0x7f || c == ',' || c == '"' || c == '\\')
                break;
        }
        if (i == n) {
            memcpy(cr->cr_origin_id, id, n);
            cr->cr_origin_id[n] = '\0';
            return;
        }
    }
    coll_hash_identity(cr, id, n);
}

int coll_field_number(const cdr_coll_decoder *d, const char *name, const coll_field *fl,
                      const char *what, char *dst, cdr_coll_item *ci, int quiet)
{
    size_t bad = 0;
    const int e =
        coll_number(&d->cd_cfg.cc_numbering, fl->fl_p, fl->fl_len, 0, dst, CDR_NUMBER_MAX, &bad);
    if (!e)
        return 0;
    dst[0] = '\0';
    if (!quiet)
        coll_reject_number(ci, name, (int)fl->fl_col, what, fl->fl_p, fl->fl_len, e, bad);
    return -1;
}
