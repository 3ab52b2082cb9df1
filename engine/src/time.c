/* time.c - civil dates (Howard Hinnant's algorithms), ISO 8601 and IANA time-zone offset tables.
 *
 * Conversions are pure integer arithmetic on the proleptic Gregorian calendar. Time zones are read
 * once through the C library (TZ + tzset + localtime_r) into a table of UTC offsets; after that,
 * cdr_tz_offset is a binary search with no global state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cdr_error.h"
#include "cdr_time.h"

#define TZ_DIR       "/usr/share/zoneinfo/"
#define TZ_SCAN_STEP (6 * 3600) /* no zone changes its offset twice within six hours */

/* Days since 1970-01-01 of y-m-d (Hinnant, days_from_civil). Valid for any int64 year whose day
 * count fits; m in 1..12, d in 1..31 (not range-checked: see cdr_date_valid). */
int64_t cdr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                                   /* [0, 399] */
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of cdr_days_from_civil (Hinnant, civil_from_days). y, m, d must not be NULL. */
void cdr_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const int64_t doe = days - era * 146097;                                   /* [0, 146096] */
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    const int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* 1 when y-m-d names a day of the proleptic Gregorian calendar, else 0. */
int cdr_date_valid(int64_t y, unsigned m, unsigned d)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return 0;
    const unsigned last = mdays[m - 1] + (m == 2 && is_leap(y));
    return d <= last;
}

/* Weekday of a day number, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday). */
unsigned cdr_weekday(int64_t days)
{
    const int64_t w = (days + 3) % 7;
    return (unsigned)(w < 0 ? w + 7 : w);
}

/* Read n decimal digits at s into *v; 0 when one of them is not a digit. */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

/* Parse "YYYY-MM-DDTHH:MM:SS" (or a space for the T) then "Z" or "+HH:MM"/"-HH:MM", occupying
 * exactly len bytes. The shape is checked first (CDR_PARSE), then the values (CDR_RANGE: month,
 * day of that month, hour 0..23, minute and second 0..59, offset up to 23:59). NULL pointers are
 * CDR_EINVAL. Outputs are written only on success. */
int cdr_time_parse_iso(const char *s, size_t len, cdr_time *utc, int32_t *offset_s)
{
    if (!s || !utc || !offset_s)
        return CDR_EINVAL;
    if (len != 20 && len != 25)
        return CDR_PARSE;
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 1;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return CDR_PARSE;
    if (len == 20) {
        if (s[19] != 'Z')
            return CDR_PARSE;
    } else {
        if (s[19] != '+' && s[19] != '-')
            return CDR_PARSE;
        sign = s[19] == '-' ? -1 : 1;
        if (!digits(s + 20, 2, &oh) || s[22] != ':' || !digits(s + 23, 2, &om))
            return CDR_PARSE;
    }
    if (!cdr_date_valid(y, (unsigned)mo, (unsigned)d) || h > 23 || mi > 59 || se > 59 || oh > 23 ||
        om > 59)
        return CDR_RANGE;
    const int32_t off = sign * (oh * 3600 + om * 60);
    const int64_t days = cdr_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *utc = days * 86400 + h * 3600 + mi * 60 + se - off;
    *offset_s = off;
    return 0;
}

/* Floor division of a by b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    const int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Format t in local time t + offset_s as "YYYY-MM-DDTHH:MM:SS+HH:MM", or with "Z" when offset_s
 * is 0 and zulu is non-zero. Needs 26 bytes; truncated (NUL-terminated) when bufsize is smaller.
 * Returns buf. */
const char *cdr_time_format(cdr_time t, int32_t offset_s, int zulu, char *buf, size_t bufsize)
{
    if (!buf || bufsize == 0)
        return buf;
    const int64_t lt = t + offset_s;
    const int64_t days = floor_div(lt, 86400);
    const int64_t sod = lt - days * 86400;
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    char zone[8];
    if (offset_s == 0 && zulu) {
        strcpy(zone, "Z");
    } else {
        const int32_t a = offset_s < 0 ? -offset_s : offset_s;
        snprintf(zone, sizeof zone, "%c%02d:%02d", offset_s < 0 ? '-' : '+', (a / 3600) % 100,
                 (a / 60) % 60);
    }
    snprintf(buf, bufsize, "%04lld-%02u-%02uT%02d:%02d:%02d%s", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), zone);
    return buf;
}

/* UTC offset of t under the TZ currently set, via localtime_r. */
static int32_t libc_offset(int64_t t)
{
    const time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return 0;
    return (int32_t)tm.tm_gmtoff;
}

/* 1 when name is an acceptable zone name: non-empty, relative, no "..", printable, fits tz_name. */
static int tz_name_ok(const char *name)
{
    const size_t n = strlen(name);
    if (n == 0 || n >= sizeof(((cdr_tz *)0)->tz_name) || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 0x7f || c == ',' || c == ':')
            return 0;
    }
    return 1;
}

/* 1 when path is a regular file starting with the TZif magic. */
static int tzif_file(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[4];
    const size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == 4 && memcmp(magic, "TZif", 4) == 0;
}

/* Append (at, off) to the table being built; returns 0 or CDR_ENOMEM. */
static int tz_push(cdr_tz *tz, uint32_t *cap, int64_t at, int32_t off)
{
    if (tz->tz_n == *cap) {
        const uint32_t ncap = *cap ? *cap * 2 : 64;
        int64_t *nat = realloc(tz->tz_at, ncap * sizeof *nat);
        if (!nat)
            return CDR_ENOMEM;
        tz->tz_at = nat;
        int32_t *noff = realloc(tz->tz_off, ncap * sizeof *noff);
        if (!noff)
            return CDR_ENOMEM;
        tz->tz_off = noff;
        *cap = ncap;
    }
    tz->tz_at[tz->tz_n] = at;
    tz->tz_off[tz->tz_n] = off;
    tz->tz_n++;
    return 0;
}

/* Scan [from, to] under the current TZ and record every offset change in tz. */
static int tz_scan(cdr_tz *tz, uint32_t *cap, int64_t from, int64_t to)
{
    int32_t cur = libc_offset(from);
    int rc = tz_push(tz, cap, INT64_MIN, cur);
    for (int64_t t = from; rc == 0 && t < to; t += TZ_SCAN_STEP) {
        const int64_t hi_t = t + TZ_SCAN_STEP;
        if (libc_offset(hi_t) == cur)
            continue;
        /* The first second in (t, hi_t] whose offset differs from cur. */
        int64_t lo = t, hi = hi_t;
        while (hi - lo > 1) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (libc_offset(mid) == cur)
                lo = mid;
            else
                hi = mid;
        }
        cur = libc_offset(hi);
        rc = tz_push(tz, cap, hi, cur);
        t = hi - TZ_SCAN_STEP; /* continue scanning from the change itself */
    }
    return rc;
}

/* Load zone `name` (relative to /usr/share/zoneinfo, no "..") into tz. Sets TZ to the zone file
 * and calls tzset, and restores the previous TZ before returning: not thread-safe. Returns 0,
 * CDR_EINVAL (NULL arguments), CDR_NOTFOUND (bad name, no such zone file, not a TZif file) or
 * CDR_ENOMEM. On error tz is left zeroed. */
int cdr_tz_load(const char *name, cdr_tz *tz)
{
    if (!name || !tz)
        return CDR_EINVAL;
    memset(tz, 0, sizeof *tz);
    if (!tz_name_ok(name))
        return CDR_NOTFOUND;
    char path[sizeof TZ_DIR + sizeof tz->tz_name + 1];
    snprintf(path, sizeof path, ":%s%s", TZ_DIR, name);
    if (!tzif_file(path + 1))
        return CDR_NOTFOUND;

    const char *old = getenv("TZ");
    char *saved = NULL;
    if (old) {
        saved = strdup(old);
        if (!saved)
            return CDR_ENOMEM;
    }
    int rc = 0;
    if (setenv("TZ", path, 1) != 0) {
        rc = CDR_ENOMEM;
    } else {
        tzset();
        uint32_t cap = 0;
        const int64_t from = cdr_days_from_civil(1900, 1, 1) * 86400;
        const int64_t to = cdr_days_from_civil(2201, 1, 1) * 86400;
        rc = tz_scan(tz, &cap, from, to);
    }
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    if (rc != 0) {
        cdr_tz_free(tz);
        return rc;
    }
    snprintf(tz->tz_name, sizeof tz->tz_name, "%s", name);
    return 0;
}

/* Free the table of tz and zero it; accepts NULL, a zeroed or an already freed tz. */
void cdr_tz_free(cdr_tz *tz)
{
    if (!tz)
        return;
    free(tz->tz_at);
    free(tz->tz_off);
    memset(tz, 0, sizeof *tz);
}

/* Deep copy of src into dst (dst is overwritten, not freed first). Returns 0, CDR_EINVAL or
 * CDR_ENOMEM (dst then zeroed). */
int cdr_tz_copy(cdr_tz *dst, const cdr_tz *src)
{
    if (!dst || !src)
        return CDR_EINVAL;
    memset(dst, 0, sizeof *dst);
    memcpy(dst->tz_name, src->tz_name, sizeof dst->tz_name);
    if (src->tz_n == 0)
        return 0;
    dst->tz_at = malloc(src->tz_n * sizeof *dst->tz_at);
    dst->tz_off = malloc(src->tz_n * sizeof *dst->tz_off);
    if (!dst->tz_at || !dst->tz_off) {
        cdr_tz_free(dst);
        return CDR_ENOMEM;
    }
    memcpy(dst->tz_at, src->tz_at, src->tz_n * sizeof *dst->tz_at);
    memcpy(dst->tz_off, src->tz_off, src->tz_n * sizeof *dst->tz_off);
    dst->tz_n = src->tz_n;
    return 0;
}

/* Offset (seconds east of UTC) in force at t; *next (if not NULL) gets the instant of the next
 * change, INT64_MAX when none. An empty table means UTC. Pure; thread-safe. */
int32_t cdr_tz_offset(const cdr_tz *tz, cdr_time t, cdr_time *next)
{
    if (!tz || tz->tz_n == 0) {
        if (next)
            *next = INT64_MAX;
        return 0;
    }
    /* Greatest i with tz_at[i] <= t (tz_at[0] is INT64_MIN, so i exists): a branch-free binary
     * search, since the rating hot path calls this for every record. */
    const int64_t *at = tz->tz_at;
    uint32_t lo = 0, n = tz->tz_n;
    while (n > 1) {
        const uint32_t half = n / 2;
        lo = at[lo + half] <= t ? lo + half : lo;
        n -= half;
    }
    if (next)
        *next = lo + 1 < tz->tz_n ? tz->tz_at[lo + 1] : INT64_MAX;
    return tz->tz_off[lo];
}
