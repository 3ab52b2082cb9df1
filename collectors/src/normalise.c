/* normalise.c - telephone numbers to E.164 under national rules, and record validation against
 * the collector's configuration (docs/collectors.md, "Numbers and validation").
 *
 * Rules, in order, on the number with its separators (' ', '-', '(', ')') removed:
 *   1. a leading '+' (or intl): already international, kept (it must not then start with 0);
 *   2. the international prefix ("00"): removed ("008613800000001" -> "8613800000001");
 *   3. the trunk prefix ("0"): replaced by the country code ("01012345678" -> "861012345678",
 *      "013800000001" -> "8613800000001");
 *   4. fewer than nu_min_national digits: a short code, kept ("10086", "110");
 *   5. the country code followed by at least nu_min_national digits: already E.164 without its
 *      '+', kept ("8613800000001");
 *   6. anything else is a national number without prefix and gets the country code
 *      ("13800000001" -> "8613800000001").
 * The result must have at most 15 digits. */
#include <stdio.h>
#include <string.h>

#include "coll_text.h"

#define E164_MAX 15

/* 1 when the n digits at s start with the NUL-terminated prefix p (non-empty). */
static int starts(const char *s, size_t n, const char *p, size_t pn)
{
    return pn > 0 && n >= pn && memcmp(s, p, pn) == 0;
}

int coll_number(const cdr_coll_numbering *nu, const char *in, size_t len, int intl, char *out,
                size_t outsize, size_t *bad)
{
    /* digits, at most E164_MAX + 1 kept: anything longer is too long whatever the rule */
    char dg[E164_MAX + 2];
    size_t n = 0;
    int plus = 0, over = 0;
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        const char c = in[i];
        if (c >= '0' && c <= '9') {
            if (n < sizeof dg)
                dg[n++] = c;
            else
                over = 1;
        } else if (c == '+' && n == 0 && !plus) {
            plus = 1;
        } else if (c == ' ' || c == '-' || c == '(' || c == ')') {
            continue;
        } else {
            if (bad)
                *bad = i;
            return c == '+' ? COLL_NUM_PLUS : COLL_NUM_CHAR;
        }
    }
    if (n == 0)
        return plus ? COLL_NUM_PREFIX : COLL_NUM_EMPTY;
    if (over)
        return COLL_NUM_LONG;
    const char *cc = nu->nu_country_code, *rest = dg;
    size_t ccn = 0, restn = n;
    const size_t ipn = strnlen(nu->nu_intl_prefix, sizeof nu->nu_intl_prefix);
    const size_t tpn = strnlen(nu->nu_trunk_prefix, sizeof nu->nu_trunk_prefix);
    const size_t cn = strnlen(cc, sizeof nu->nu_country_code);
    if (plus || intl) {
        if (plus && dg[0] == '0')
            return COLL_NUM_PREFIX;
    } else if (starts(dg, n, nu->nu_intl_prefix, ipn)) {
        rest = dg + ipn;
        restn = n - ipn;
        if (restn == 0 || rest[0] == '0')
            return COLL_NUM_PREFIX;
    } else if (starts(dg, n, nu->nu_trunk_prefix, tpn)) {
        rest = dg + tpn;
        restn = n - tpn;
        if (restn == 0)
            return COLL_NUM_PREFIX;
        ccn = cn;
    } else if (n < nu->nu_min_national) {
        /* a short code: kept */
    } else if (starts(dg, n, cc, cn) && n - cn >= nu->nu_min_national) {
        /* already E.164 */
    } else {
        ccn = cn;
    }
    if (ccn + restn > E164_MAX || ccn + restn >= outsize)
        return COLL_NUM_LONG;
    memcpy(out, cc, ccn);
    memcpy(out + ccn, rest, restn);
    out[ccn + restn] = '\0';
    return COLL_NUM_OK;
}

int cdr_coll_normalise_number(const cdr_coll_numbering *nu, const char *in, size_t len, char *out,
                              size_t outsize)
{
    if (!nu || (!in && len) || !out || outsize == 0)
        return CDR_EINVAL;
    return coll_number(nu, in, len, 0, out, outsize, NULL) ? CDR_FORMAT : 0;
}

void coll_reject_number(cdr_coll_item *ci, const char *name, int col, const char *what,
                        const char *in, size_t len, int err, size_t bad)
{
    const int shown = (int)(len > 32 ? 32 : len);
    switch (err) {
    case COLL_NUM_EMPTY:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s is empty", what);
        break;
    case COLL_NUM_CHAR: {
        const unsigned char c = (unsigned char)in[bad];
        if (c > ' ' && c < 0x7f)
            COLL_REJECT(ci, name, CDR_FORMAT, col, "%s '%.*s' has a non-digit '%c'", what, shown,
                        in, c);
        else
            COLL_REJECT(ci, name, CDR_FORMAT, col, "%s '%.*s' has a non-digit byte 0x%02x", what,
                        shown, in, c);
        break;
    }
    case COLL_NUM_PLUS:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s '%.*s' has '+' not at its start", what, shown,
                    in);
        break;
    case COLL_NUM_PREFIX:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s '%.*s' has no number after its prefix", what,
                    shown, in);
        break;
    default:
        COLL_REJECT(ci, name, CDR_FORMAT, col, "%s '%.*s' is longer than %d digits", what, shown,
                    in, E164_MAX);
        break;
    }
}

/* ---- validation ------------------------------------------------------------------------------ */

static int digits_only(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The window bound t as ISO 8601 UTC, or "-" when unset (0). */
static const char *bound(cdr_time t, char *buf, size_t n)
{
    if (t == 0)
        return "-";
    return cdr_time_format(t, 0, 1, buf, n);
}

int coll_validate(const cdr_coll_config *cc, const cdr_record *cr, cdr_diag *dg, coll_vfield *field)
{
    /* The messages of the checks cdr_record_check also makes are the same as there. */
#define FAIL(f, code, ...) (*field = (f), cdr_diag_set(dg, (code), NULL, 0, 0, __VA_ARGS__))
    *field = COLL_VF_NONE;
    if (cr->cr_service >= CDR_SVC_COUNT)
        return FAIL(COLL_VF_SERVICE, CDR_FORMAT, "unknown service %u", cr->cr_service);
    if (cr->cr_direction >= CDR_DIR_COUNT)
        return FAIL(COLL_VF_DIRECTION, CDR_FORMAT, "unknown direction %u", cr->cr_direction);
    if (!cr->cr_source[0])
        return FAIL(COLL_VF_SOURCE, CDR_FORMAT, "empty source element");
    if (!cr->cr_origin_id[0])
        return FAIL(COLL_VF_ORIGIN, CDR_FORMAT, "empty origin record id");
    if (!cr->cr_msisdn[0])
        return FAIL(COLL_VF_MSISDN, CDR_FORMAT, "empty served MSISDN");
    if (!digits_only(cr->cr_msisdn) || strlen(cr->cr_msisdn) > E164_MAX)
        return FAIL(COLL_VF_MSISDN, CDR_FORMAT, "served MSISDN is not 1-15 digits");
    if (!digits_only(cr->cr_imsi))
        return FAIL(COLL_VF_IMSI, CDR_FORMAT, "IMSI is not digits");
    if (!digits_only(cr->cr_other))
        return FAIL(COLL_VF_OTHER, CDR_FORMAT, "other party is not digits");
    const cdr_time from = cc->cc_window_from, to = cc->cc_window_to;
    if ((from != 0 && cr->cr_start < from) || (to != 0 && cr->cr_start >= to)) {
        char ts[32], fb[32], tb[32];
        return FAIL(COLL_VF_START, CDR_RANGE, "start %s is outside the window [%s, %s)",
                    cdr_time_format(cr->cr_start, cr->cr_utc_offset, 1, ts, sizeof ts),
                    bound(from, fb, sizeof fb), bound(to, tb, sizeof tb));
    }
    if (cc->cc_max_duration != 0 && cr->cr_duration > cc->cc_max_duration)
        return FAIL(COLL_VF_DURATION, CDR_RANGE, "duration %u s is longer than the maximum %u s",
                    (unsigned)cr->cr_duration, (unsigned)cc->cc_max_duration);
#undef FAIL
    return 0;
}

int cdr_coll_validate(const cdr_coll_config *cc, const cdr_record *cr, cdr_diag *dg)
{
    if (!cc || !cr)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no record or no configuration");
    coll_vfield field;
    return coll_validate(cc, cr, dg, &field);
}
