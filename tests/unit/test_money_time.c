/* test_money_time.c - money (parse, format, rounding division) and time (civil dates, ISO 8601,
 * IANA zone tables) helpers of engine/. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_time.h"

/* ---- money: division with rounding ---------------------------------------------------------- */

/* q of num/den under r, asserting success. */
static int64_t divr(__int128 num, int64_t den, cdr_rounding r)
{
    int64_t q = 12345;
    cr_assert_eq(cdr_div_round(num, den, r, &q), 0);
    return q;
}

Test(money, div_round_positive_ties)
{
    /* 25/10 = 2.5: half-up 3, half-even 2, up 3, down 2 */
    cr_assert_eq(divr(25, 10, CDR_ROUND_HALF_UP), 3);
    cr_assert_eq(divr(25, 10, CDR_ROUND_HALF_EVEN), 2);
    cr_assert_eq(divr(25, 10, CDR_ROUND_UP), 3);
    cr_assert_eq(divr(25, 10, CDR_ROUND_DOWN), 2);
    /* 35/10 = 3.5: half-even goes to 4 */
    cr_assert_eq(divr(35, 10, CDR_ROUND_HALF_EVEN), 4);
    /* 26/10 = 2.6 and 24/10 = 2.4 */
    cr_assert_eq(divr(26, 10, CDR_ROUND_HALF_EVEN), 3);
    cr_assert_eq(divr(24, 10, CDR_ROUND_HALF_UP), 2);
    cr_assert_eq(divr(24, 10, CDR_ROUND_UP), 3);
    cr_assert_eq(divr(26, 10, CDR_ROUND_DOWN), 2);
}

Test(money, div_round_negative_numerators)
{
    /* -25/10 = -2.5: half-up away from zero -3, half-even -2, up -3, down -2 */
    cr_assert_eq(divr(-25, 10, CDR_ROUND_HALF_UP), -3);
    cr_assert_eq(divr(-25, 10, CDR_ROUND_HALF_EVEN), -2);
    cr_assert_eq(divr(-35, 10, CDR_ROUND_HALF_EVEN), -4);
    cr_assert_eq(divr(-25, 10, CDR_ROUND_UP), -3);
    cr_assert_eq(divr(-25, 10, CDR_ROUND_DOWN), -2);
    /* -24/10 = -2.4 and -26/10 = -2.6 */
    cr_assert_eq(divr(-24, 10, CDR_ROUND_HALF_UP), -2);
    cr_assert_eq(divr(-26, 10, CDR_ROUND_HALF_UP), -3);
    cr_assert_eq(divr(-21, 10, CDR_ROUND_UP), -3);
    cr_assert_eq(divr(-29, 10, CDR_ROUND_DOWN), -2);
    /* exact quotients are untouched */
    cr_assert_eq(divr(-30, 10, CDR_ROUND_UP), -3);
    cr_assert_eq(divr(0, 7, CDR_ROUND_UP), 0);
    /* odd divisor, no tie possible: -7/3 = -2.33.. */
    cr_assert_eq(divr(-7, 3, CDR_ROUND_HALF_EVEN), -2);
    cr_assert_eq(divr(-8, 3, CDR_ROUND_HALF_EVEN), -3);
}

Test(money, div_round_wide_and_errors)
{
    /* 10^20 / 10^6 = 10^14 (the numerator itself does not fit int64) */
    const __int128 big = (__int128)100000000000LL * 1000000000LL;
    cr_assert_eq(divr(big, 1000000, CDR_ROUND_DOWN), 100000000000000LL);
    /* INT64_MAX + 0.5 rounds out of range; INT64_MIN exactly fits */
    int64_t q = 7;
    cr_assert_eq(cdr_div_round((__int128)INT64_MAX * 2 + 1, 2, CDR_ROUND_HALF_UP, &q), CDR_RANGE);
    cr_assert_eq(q, 7);
    cr_assert_eq(divr((__int128)INT64_MIN * 3, 3, CDR_ROUND_DOWN), INT64_MIN);
    cr_assert_eq(cdr_div_round(10, 0, CDR_ROUND_DOWN, &q), CDR_EINVAL);
    cr_assert_eq(cdr_div_round(10, -2, CDR_ROUND_DOWN, &q), CDR_EINVAL);
    cr_assert_eq(cdr_div_round(10, 2, CDR_ROUND_COUNT, &q), CDR_EINVAL);
}

Test(money, round_to_quantum)
{
    /* 265000 to the cent: 26.5 cents */
    cr_assert_eq(cdr_round_to(265000, 10000, CDR_ROUND_HALF_UP), 270000);
    cr_assert_eq(cdr_round_to(265000, 10000, CDR_ROUND_HALF_EVEN), 260000);
    cr_assert_eq(cdr_round_to(265000, 10000, CDR_ROUND_UP), 270000);
    cr_assert_eq(cdr_round_to(265000, 10000, CDR_ROUND_DOWN), 260000);
    cr_assert_eq(cdr_round_to(-265000, 10000, CDR_ROUND_HALF_UP), -270000);
    cr_assert_eq(cdr_round_to(-265000, 10000, CDR_ROUND_HALF_EVEN), -260000);
    cr_assert_eq(cdr_round_to(-265001, 10000, CDR_ROUND_DOWN), -260000);
    cr_assert_eq(cdr_round_to(123457, 1, CDR_ROUND_UP), 123457);
    cr_assert_eq(cdr_round_to(123457, 0, CDR_ROUND_UP), 123457);
    /* saturates instead of overflowing */
    cr_assert_eq(cdr_round_to(INT64_MAX, 10000, CDR_ROUND_UP), INT64_MAX / 10000 * 10000);
}

Test(money, rounding_names)
{
    cdr_rounding r = CDR_ROUND_DOWN;
    for (int i = 0; i < CDR_ROUND_COUNT; i++) {
        const char *n = cdr_rounding_name((cdr_rounding)i);
        cr_assert_not_null(n);
        cr_assert_eq(cdr_rounding_parse(n, &r), 0);
        cr_assert_eq((int)r, i);
    }
    cr_assert_str_eq(cdr_rounding_name(CDR_ROUND_HALF_EVEN), "half-even");
    cr_assert_null(cdr_rounding_name(CDR_ROUND_COUNT));
    cr_assert_null(cdr_rounding_name((cdr_rounding)-1));
    cr_assert_eq(cdr_rounding_parse("bankers", &r), CDR_EINVAL);
    cr_assert_eq(cdr_rounding_parse("Half-Up", &r), CDR_EINVAL);
    cr_assert_eq(cdr_rounding_parse(NULL, &r), CDR_EINVAL);
}

/* ---- money: parse and format ---------------------------------------------------------------- */

/* Parse s, asserting success. */
static cdr_money mp(const char *s)
{
    cdr_money v = 0;
    const int rc = cdr_money_parse(s, &v);
    cr_assert_eq(rc, 0, "parse \"%s\" -> %d", s, rc);
    return v;
}

Test(money, parse_valid)
{
    cr_assert_eq(mp("12"), 12000000);
    cr_assert_eq(mp("0.15"), 150000);
    cr_assert_eq(mp("-3.000001"), -3000001);
    cr_assert_eq(mp("0"), 0);
    cr_assert_eq(mp("-0"), 0);
    cr_assert_eq(mp("0.000001"), 1);
    cr_assert_eq(mp("1.5"), 1500000);
    cr_assert_eq(mp("007.10"), 7100000);
    cr_assert_eq(mp("9223372036854.775807"), INT64_MAX);
    cr_assert_eq(mp("-9223372036854.775808"), INT64_MIN);
}

Test(money, parse_malformed)
{
    static const char *const bad[] = {
        "",    "-",    "+1", " 1",  "1 ",    "1.",  ".5",  "1..2", "1,5", "1e3",
        "abc", "0x10", "1-", "--1", "1.2.3", "NaN", "inf", "1.5a", "\t2", "-.5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cdr_money v = 42;
        cr_assert_eq(cdr_money_parse(bad[i], &v), CDR_PARSE, "\"%s\"", bad[i]);
        cr_assert_eq(v, 42, "\"%s\" wrote the output", bad[i]);
    }
    cdr_money v = 0;
    cr_assert_eq(cdr_money_parse(NULL, &v), CDR_EINVAL);
    cr_assert_eq(cdr_money_parse("1", NULL), CDR_EINVAL);
}

Test(money, parse_range)
{
    cdr_money v = 42;
    /* more than six decimals is refused, never rounded, even when the extra digits are zero */
    cr_assert_eq(cdr_money_parse("0.1234567", &v), CDR_RANGE);
    cr_assert_eq(cdr_money_parse("1.0000000", &v), CDR_RANGE);
    cr_assert_eq(cdr_money_parse("-0.0000001", &v), CDR_RANGE);
    /* beyond int64 micro-units */
    cr_assert_eq(cdr_money_parse("9223372036854.775808", &v), CDR_RANGE);
    cr_assert_eq(cdr_money_parse("-9223372036854.775809", &v), CDR_RANGE);
    cr_assert_eq(cdr_money_parse("99999999999999999999999999", &v), CDR_RANGE);
    cr_assert_eq(v, 42);
    /* a malformed tail is a parse error even after many decimals */
    cr_assert_eq(cdr_money_parse("0.1234567x", &v), CDR_PARSE);
}

Test(money, format)
{
    char b[40];
    cr_assert_str_eq(cdr_money_format(270000, 2, CDR_ROUND_HALF_UP, b, sizeof b), "0.27");
    cr_assert_str_eq(cdr_money_format(265000, 2, CDR_ROUND_HALF_UP, b, sizeof b), "0.27");
    cr_assert_str_eq(cdr_money_format(265000, 2, CDR_ROUND_HALF_EVEN, b, sizeof b), "0.26");
    cr_assert_str_eq(cdr_money_format(-265000, 2, CDR_ROUND_HALF_UP, b, sizeof b), "-0.27");
    cr_assert_str_eq(cdr_money_format(-1, 6, CDR_ROUND_HALF_UP, b, sizeof b), "-0.000001");
    cr_assert_str_eq(cdr_money_format(-1, 2, CDR_ROUND_HALF_UP, b, sizeof b), "0.00");
    cr_assert_str_eq(cdr_money_format(-5000, 2, CDR_ROUND_HALF_UP, b, sizeof b), "-0.01");
    cr_assert_str_eq(cdr_money_format(12000000, 0, CDR_ROUND_DOWN, b, sizeof b), "12");
    cr_assert_str_eq(cdr_money_format(1999999, 0, CDR_ROUND_DOWN, b, sizeof b), "1");
    cr_assert_str_eq(cdr_money_format(1999999, 3, CDR_ROUND_UP, b, sizeof b), "2.000");
    cr_assert_str_eq(cdr_money_format(INT64_MIN, 6, CDR_ROUND_DOWN, b, sizeof b),
                     "-9223372036854.775808");
    cr_assert_str_eq(cdr_money_format(INT64_MAX, 6, CDR_ROUND_DOWN, b, sizeof b),
                     "9223372036854.775807");
    /* too small a buffer truncates and still terminates */
    char s[5];
    cr_assert_str_eq(cdr_money_format(123456789, 2, CDR_ROUND_DOWN, s, sizeof s), "123.");
    /* format then parse is the identity at six decimals */
    static const cdr_money vals[] = {0, 1, -1, 150000, -3000001, 123456789012, INT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        cdr_money v = 0;
        cr_assert_eq(cdr_money_parse(cdr_money_format(vals[i], 6, CDR_ROUND_DOWN, b, sizeof b), &v),
                     0);
        cr_assert_eq(v, vals[i]);
    }
}

/* ---- civil dates ---------------------------------------------------------------------------- */

Test(time, days_from_civil_known)
{
    cr_assert_eq(cdr_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(cdr_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(cdr_days_from_civil(2000, 3, 1), 11017);
    cr_assert_eq(cdr_days_from_civil(2026, 3, 29), 20541);
    cr_assert_eq(cdr_days_from_civil(2028, 2, 29) + 1, cdr_days_from_civil(2028, 3, 1));
    cr_assert_eq(cdr_days_from_civil(1900, 3, 1) - cdr_days_from_civil(1900, 2, 28), 1);
    /* weekdays: 1970-01-01 Thursday, 2026-03-29 Sunday, 2028-02-29 Tuesday, 1900-01-01 Monday */
    cr_assert_eq(cdr_weekday(0), 3);
    cr_assert_eq(cdr_weekday(cdr_days_from_civil(2026, 3, 29)), 6);
    cr_assert_eq(cdr_weekday(cdr_days_from_civil(2028, 2, 29)), 1);
    cr_assert_eq(cdr_weekday(cdr_days_from_civil(1900, 1, 1)), 0);
    cr_assert_eq(cdr_weekday(-1), 2);
}

Test(time, civil_round_trip)
{
    /* every day from 1600-01-01 to 2400-12-31 round-trips and days are consecutive */
    const int64_t from = cdr_days_from_civil(1600, 1, 1);
    const int64_t to = cdr_days_from_civil(2400, 12, 31);
    int64_t py = 1599;
    unsigned pm = 12, pd = 31;
    for (int64_t n = from; n <= to; n++) {
        int64_t y;
        unsigned m, d;
        cdr_civil_from_days(n, &y, &m, &d);
        cr_assert(cdr_date_valid(y, m, d));
        cr_assert_eq(cdr_days_from_civil(y, m, d), n);
        const int next_day = (y == py && m == pm && d == pd + 1);
        const int next_month = (y == py && m == pm + 1 && d == 1);
        const int next_year = (y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31);
        cr_assert(next_day || next_month || next_year);
        py = y;
        pm = m;
        pd = d;
    }
}

Test(time, date_valid)
{
    cr_assert(cdr_date_valid(2028, 2, 29));
    cr_assert(cdr_date_valid(2000, 2, 29));
    cr_assert_not(cdr_date_valid(1900, 2, 29));
    cr_assert_not(cdr_date_valid(2026, 2, 29));
    cr_assert_not(cdr_date_valid(2026, 2, 30));
    cr_assert_not(cdr_date_valid(2026, 4, 31));
    cr_assert_not(cdr_date_valid(2026, 13, 1));
    cr_assert_not(cdr_date_valid(2026, 0, 1));
    cr_assert_not(cdr_date_valid(2026, 1, 0));
    cr_assert(cdr_date_valid(2026, 12, 31));
}

/* ---- ISO 8601 ------------------------------------------------------------------------------- */

/* Parse s (whole string), returning the code. */
static int iso(const char *s, cdr_time *t, int32_t *off)
{
    return cdr_time_parse_iso(s, strlen(s), t, off);
}

Test(time, iso_parse_valid)
{
    cdr_time t = 0;
    int32_t off = 1;
    cr_assert_eq(iso("1970-01-01T00:00:00Z", &t, &off), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(iso("2026-03-29T01:00:00Z", &t, &off), 0);
    cr_assert_eq(t, 1774746000);
    /* the same instant stated in Berlin summer time, and with a space */
    cr_assert_eq(iso("2026-03-29 03:00:00+02:00", &t, &off), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(off, 7200);
    cr_assert_eq(iso("2026-03-28T20:30:00-04:30", &t, &off), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(off, -16200);
    cr_assert_eq(iso("2028-02-29T23:59:59Z", &t, &off), 0);
    cr_assert_eq(t, cdr_days_from_civil(2028, 3, 1) * 86400 - 1);
    cr_assert_eq(iso("1969-12-31T23:59:59Z", &t, &off), 0);
    cr_assert_eq(t, -1);
    /* only len bytes are read */
    cr_assert_eq(cdr_time_parse_iso("2026-01-01T00:00:00Zgarbage", 20, &t, &off), 0);
}

Test(time, iso_parse_errors)
{
    cdr_time t = 99;
    int32_t off = 99;
    static const char *const bad_shape[] = {
        "",
        "garbage",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00z",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00+01",
        "2026/01/01T00:00:00Z",
        "2026-1-01T00:00:00Z0",
        "2026-01-01X00:00:00Z",
        "2026-01-01T00:00:00.5Z",
        "20260101T000000Z",
        "2026-01-01T0a:00:00Z",
        "2026-01-01T00:00:00Z ",
        "+026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+01:0x",
    };
    for (size_t i = 0; i < sizeof bad_shape / sizeof bad_shape[0]; i++)
        cr_assert_eq(iso(bad_shape[i], &t, &off), CDR_PARSE, "\"%s\"", bad_shape[i]);
    static const char *const bad_range[] = {
        "2026-02-30T00:00:00Z",      "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",      "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",      "2026-01-01T23:59:60Z", "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60",
    };
    for (size_t i = 0; i < sizeof bad_range / sizeof bad_range[0]; i++)
        cr_assert_eq(iso(bad_range[i], &t, &off), CDR_RANGE, "\"%s\"", bad_range[i]);
    cr_assert_eq(t, 99);
    cr_assert_eq(off, 99);
    cr_assert_eq(cdr_time_parse_iso(NULL, 0, &t, &off), CDR_EINVAL);
}

Test(time, iso_format)
{
    char b[32];
    cr_assert_str_eq(cdr_time_format(1774746000, 0, 1, b, sizeof b), "2026-03-29T01:00:00Z");
    cr_assert_str_eq(cdr_time_format(1774746000, 0, 0, b, sizeof b), "2026-03-29T01:00:00+00:00");
    cr_assert_str_eq(cdr_time_format(1774746000, 7200, 1, b, sizeof b),
                     "2026-03-29T03:00:00+02:00");
    cr_assert_str_eq(cdr_time_format(1774746000, -16200, 1, b, sizeof b),
                     "2026-03-28T20:30:00-04:30");
    cr_assert_str_eq(cdr_time_format(-1, 0, 1, b, sizeof b), "1969-12-31T23:59:59Z");
    /* format -> parse round trip */
    for (cdr_time t = -2000000000; t < 4000000000LL; t += 123456789) {
        cdr_time u = 0;
        int32_t off = 0;
        cr_assert_eq(iso(cdr_time_format(t, 3600, 0, b, sizeof b), &u, &off), 0);
        cr_assert_eq(u, t);
        cr_assert_eq(off, 3600);
    }
}

/* ---- time zones ----------------------------------------------------------------------------- */

/* Instant of an ISO string (asserting it parses). */
static cdr_time at(const char *s)
{
    cdr_time t = 0;
    int32_t off = 0;
    cr_assert_eq(iso(s, &t, &off), 0, "%s", s);
    return t;
}

Test(tz, berlin_2026_dst)
{
    cdr_tz tz;
    cr_assert_eq(cdr_tz_load("Europe/Berlin", &tz), 0);
    cr_assert_str_eq(tz.tz_name, "Europe/Berlin");
    cr_assert_eq(tz.tz_at[0], INT64_MIN);
    const cdr_time spring = at("2026-03-29T01:00:00Z");
    const cdr_time autumn = at("2026-10-25T01:00:00Z");
    cdr_time next = 0;
    /* winter: +1h until the spring change */
    cr_assert_eq(cdr_tz_offset(&tz, at("2026-01-15T12:00:00Z"), &next), 3600);
    cr_assert_eq(next, spring);
    cr_assert_eq(cdr_tz_offset(&tz, spring - 1, &next), 3600);
    cr_assert_eq(next, spring);
    /* summer: +2h from exactly 01:00:00Z until the autumn change */
    cr_assert_eq(cdr_tz_offset(&tz, spring, &next), 7200);
    cr_assert_eq(next, autumn);
    cr_assert_eq(cdr_tz_offset(&tz, autumn - 1, NULL), 7200);
    cr_assert_eq(cdr_tz_offset(&tz, autumn, &next), 3600);
    cr_assert_eq(next, at("2027-03-28T01:00:00Z"));
    /* far past and far future */
    cr_assert_eq(cdr_tz_offset(&tz, at("1900-06-01T00:00:00Z"), NULL), 3600);
    cr_assert_eq(cdr_tz_offset(&tz, at("2150-07-01T00:00:00Z"), NULL), 7200);
    cr_assert_eq(cdr_tz_offset(&tz, at("2150-12-01T00:00:00Z"), NULL), 3600);
    cr_assert_eq(cdr_tz_offset(&tz, INT64_MIN, NULL), 3600);

    cdr_tz cp;
    cr_assert_eq(cdr_tz_copy(&cp, &tz), 0);
    cdr_tz_free(&tz);
    cr_assert_eq(cdr_tz_offset(&cp, spring, NULL), 7200);
    cr_assert_str_eq(cp.tz_name, "Europe/Berlin");
    cdr_tz_free(&cp);
    cdr_tz_free(&cp); /* freeing twice is harmless */
}

Test(tz, other_zones)
{
    cdr_tz tz;
    cr_assert_eq(cdr_tz_load("America/New_York", &tz), 0);
    /* 2026-03-08 02:00 EST -> EDT, i.e. 07:00Z */
    cr_assert_eq(cdr_tz_offset(&tz, at("2026-03-08T06:59:59Z"), NULL), -5 * 3600);
    cr_assert_eq(cdr_tz_offset(&tz, at("2026-03-08T07:00:00Z"), NULL), -4 * 3600);
    cdr_tz_free(&tz);

    cr_assert_eq(cdr_tz_load("Asia/Kolkata", &tz), 0);
    cr_assert_eq(cdr_tz_offset(&tz, at("2026-06-01T00:00:00Z"), NULL), 19800);
    cdr_tz_free(&tz);

    cr_assert_eq(cdr_tz_load("UTC", &tz), 0);
    cdr_time next = 0;
    cr_assert_eq(cdr_tz_offset(&tz, at("2026-06-01T00:00:00Z"), &next), 0);
    cr_assert_eq(next, INT64_MAX);
    cdr_tz_free(&tz);

    /* a zeroed table is UTC */
    cdr_tz zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(cdr_tz_offset(&zero, 0, &next), 0);
    cr_assert_eq(next, INT64_MAX);
}

Test(tz, load_restores_tz)
{
    setenv("TZ", "Asia/Tokyo", 1);
    cdr_tz tz;
    cr_assert_eq(cdr_tz_load("Europe/Berlin", &tz), 0);
    cr_assert_str_eq(getenv("TZ"), "Asia/Tokyo");
    cdr_tz_free(&tz);
    unsetenv("TZ");
    cr_assert_eq(cdr_tz_load("Europe/Berlin", &tz), 0);
    cr_assert_null(getenv("TZ"));
    cdr_tz_free(&tz);
}

Test(tz, unknown_and_unsafe_names)
{
    static const char *const bad[] = {
        "Mars/Olympus_Mons",
        "",
        "/etc/passwd",
        "../../etc/passwd",
        "Europe/../../etc/passwd",
        "Europe",   /* a directory, not a zone */
        "zone.tab", /* a file, but not a TZif file */
        "Europe/Berlin,M3.5",
        "Europe/Berlin ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cdr_tz tz;
        cr_assert_eq(cdr_tz_load(bad[i], &tz), CDR_NOTFOUND, "\"%s\"", bad[i]);
        cr_assert_eq(tz.tz_n, 0);
        cr_assert_null(tz.tz_at);
    }
    cdr_tz tz;
    cr_assert_eq(cdr_tz_load(NULL, &tz), CDR_EINVAL);
}
