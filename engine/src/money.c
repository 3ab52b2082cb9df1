/* money.c - integer money: rounding division, quantisation, strict parsing and formatting.
 *
 * Amounts are int64_t micro-units (cdr_money.h). Nothing here uses floating point; products of two
 * amounts are formed by callers in __int128 and divided back with cdr_div_round.
 */
#include <stdio.h>
#include <string.h>

#include "cdr_error.h"
#include "cdr_money.h"

static const char *const rounding_names[CDR_ROUND_COUNT] = {"half-up", "half-even", "up", "down"};

/* Name of rounding rule r ("half-up" ...), or NULL when r is out of range. */
const char *cdr_rounding_name(cdr_rounding r)
{
    if ((int)r < 0 || r >= CDR_ROUND_COUNT)
        return NULL;
    return rounding_names[r];
}

/* Parse a rounding name exactly as cdr_rounding_name spells it. Returns 0, or CDR_EINVAL for NULL
 * arguments or an unknown name (*out is then unchanged). */
int cdr_rounding_parse(const char *s, cdr_rounding *out)
{
    if (!s || !out)
        return CDR_EINVAL;
    for (int i = 0; i < CDR_ROUND_COUNT; i++) {
        if (strcmp(s, rounding_names[i]) == 0) {
            *out = (cdr_rounding)i;
            return 0;
        }
    }
    return CDR_EINVAL;
}

/* num / den rounded by r, exact for every sign of num (the remainder is compared, never a float).
 * den must be > 0 (CDR_EINVAL otherwise); a quotient outside int64 is CDR_RANGE. *out is written
 * only on success. */
int cdr_div_round(__int128 num, int64_t den, cdr_rounding r, int64_t *out)
{
    if (den <= 0 || !out || (int)r < 0 || r >= CDR_ROUND_COUNT)
        return CDR_EINVAL;
    __int128 q, rem;
    if (num >= INT64_MIN && num <= INT64_MAX) {
        /* the common case: one 64-bit division instead of two 128-bit library calls */
        const int64_t n64 = (int64_t)num;
        q = n64 / den;   /* truncates toward zero; INT64_MIN / 1 is the only edge and is exact */
        rem = n64 % den; /* same sign as num */
    } else {
        q = num / den;
        rem = num % den;
    }
    if (rem != 0) {
        const __int128 arem = rem < 0 ? -rem : rem;
        const __int128 twice = 2 * arem; /* arem < den <= INT64_MAX: no overflow */
        const int away = num < 0 ? -1 : 1;
        int bump = 0;
        switch (r) {
        case CDR_ROUND_HALF_UP:
            bump = twice >= den;
            break;
        case CDR_ROUND_HALF_EVEN:
            bump = twice > den || (twice == den && (q & 1) != 0);
            break;
        case CDR_ROUND_UP:
            bump = 1;
            break;
        case CDR_ROUND_DOWN:
        case CDR_ROUND_COUNT:
            bump = 0;
            break;
        }
        if (bump)
            q += away;
    }
    if (q > INT64_MAX || q < INT64_MIN)
        return CDR_RANGE;
    *out = (int64_t)q;
    return 0;
}

/* v rounded by r to a multiple of quantum. quantum <= 1 returns v unchanged. A result beyond the
 * int64 range saturates at the largest (smallest) multiple of quantum that fits. */
int64_t cdr_round_to(int64_t v, int64_t quantum, cdr_rounding r)
{
    if (quantum <= 1)
        return v;
    int64_t q = 0;
    if (cdr_div_round(v, quantum, r, &q) != 0)
        return v; /* only an invalid rule gets here */
    const __int128 res = (__int128)q * quantum;
    if (res > INT64_MAX)
        return INT64_MAX / quantum * quantum;
    if (res < INT64_MIN)
        return INT64_MIN / quantum * quantum;
    return (int64_t)res;
}

/* Parse [-]DIGITS[.DIGITS] into micro-units. No sign other than '-', no blanks, no exponent, at
 * least one digit on each side of the point. More than six fractional digits, or a value outside
 * int64 micro-units, is CDR_RANGE; any other deviation CDR_PARSE; NULL arguments CDR_EINVAL. */
int cdr_money_parse(const char *s, cdr_money *out)
{
    if (!s || !out)
        return CDR_EINVAL;
    const char *p = s;
    const int neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return CDR_PARSE;
    __int128 whole = 0;
    int too_big = 0;
    while (*p >= '0' && *p <= '9') {
        if (!too_big) {
            whole = whole * 10 + (*p - '0');
            if (whole > (__int128)INT64_MAX + 1)
                too_big = 1;
        }
        p++;
    }
    __int128 frac = 0;
    int nfrac = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return CDR_PARSE;
        while (*p >= '0' && *p <= '9') {
            if (nfrac < 6)
                frac = frac * 10 + (*p - '0');
            nfrac++;
            p++;
        }
    }
    if (*p != '\0')
        return CDR_PARSE;
    if (nfrac > 6 || too_big)
        return CDR_RANGE;
    for (int i = nfrac; i < 6; i++)
        frac *= 10;
    __int128 v = whole * CDR_MICRO + frac;
    if (neg)
        v = -v;
    if (v > INT64_MAX || v < INT64_MIN)
        return CDR_RANGE;
    *out = (cdr_money)v;
    return 0;
}

/* Format v with decimals (clamped to 0..6) fractional digits, rounded by r. A value that rounds to
 * zero is printed without a sign. Truncated (still NUL-terminated) when bufsize is too small;
 * bufsize 0 leaves buf untouched. Returns buf. */
const char *cdr_money_format(cdr_money v, int decimals, cdr_rounding r, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return buf;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    int64_t scale = 1;
    for (int i = decimals; i < 6; i++)
        scale *= 10;
    int64_t q = 0;
    if (cdr_div_round(v, scale, r, &q) != 0)
        q = v / scale; /* an invalid rule: truncate rather than fail */
    /* q is the amount in units of 10^-decimals; |q| fits uint64 even for INT64_MIN. */
    const int neg = q < 0;
    const uint64_t mag = neg ? (uint64_t)0 - (uint64_t)q : (uint64_t)q;
    uint64_t div = 1;
    for (int i = 0; i < decimals; i++)
        div *= 10;
    const unsigned long long ip = (unsigned long long)(mag / div);
    const unsigned long long fp = (unsigned long long)(mag % div);
    if (decimals == 0)
        snprintf(buf, bufsize, "%s%llu", neg ? "-" : "", ip);
    else
        snprintf(buf, bufsize, "%s%llu.%0*llu", neg ? "-" : "", ip, decimals, fp);
    return buf;
}

const char *cdr_money_text(cdr_money v, char *buf, size_t bufsize)
{
    cdr_money_format(v, 6, CDR_ROUND_HALF_UP, buf, bufsize);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf);
        while (end > dot + 3 && end[-1] == '0')
            *--end = '\0';
    }
    return buf;
}
