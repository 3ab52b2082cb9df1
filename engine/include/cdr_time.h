/* cdr_time.h - civil time, ISO 8601 and IANA time zones without global state.
 *
 * Instants are int64_t seconds since 1970-01-01T00:00:00Z (cdr_time). Time-zone rules are loaded
 * once (cdr_tz_load) into a table of UTC offsets, after which conversions are pure and thread-safe.
 */
#ifndef CDR_TIME_H
#define CDR_TIME_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t cdr_time;

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31). */
int64_t cdr_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Inverse of cdr_days_from_civil. */
void cdr_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 1 when (y, m, d) is a real calendar date (2026-02-30 is not). */
int cdr_date_valid(int64_t y, unsigned m, unsigned d);
/* 0 = Monday ... 6 = Sunday, for a day number from cdr_days_from_civil. */
unsigned cdr_weekday(int64_t days);

/* Parse "YYYY-MM-DDTHH:MM:SS" followed by "Z" or "+HH:MM"/"-HH:MM" (a space may replace the T).
 * On success *utc is the instant and *offset_s the stated offset in seconds. Returns 0, or
 * CDR_PARSE for a malformed string, CDR_RANGE for an impossible date or time (2026-02-30). */
int cdr_time_parse_iso(const char *s, size_t len, cdr_time *utc, int32_t *offset_s);
/* Format t shifted by offset_s as "YYYY-MM-DDTHH:MM:SS+HH:MM" ("Z" when offset_s is 0 and
 * zulu is non-zero). Needs 26 bytes. Returns buf. */
const char *cdr_time_format(cdr_time t, int32_t offset_s, int zulu, char *buf, size_t bufsize);

/* A time zone: tz_off[i] (seconds east of UTC) applies from instant tz_at[i] until tz_at[i+1].
 * tz_at[0] is INT64_MIN. Covers 1900..2200. */
typedef struct cdr_tz {
    char tz_name[64];
    uint32_t tz_n;
    int64_t *tz_at;
    int32_t *tz_off;
} cdr_tz;

/* Load IANA zone `name` (e.g. "Europe/Berlin") from the system's tz database. Not thread-safe
 * (uses TZ/tzset while loading); the loaded table is. Returns 0, CDR_NOTFOUND for an unknown zone,
 * CDR_ENOMEM. tz must be released with cdr_tz_free. */
int cdr_tz_load(const char *name, cdr_tz *tz);
/* Release the table; accepts a zeroed or already freed tz. */
void cdr_tz_free(cdr_tz *tz);
/* Deep copy. */
int cdr_tz_copy(cdr_tz *dst, const cdr_tz *src);
/* Offset in force at t, and (if next is not NULL) the instant of the next change (INT64_MAX if
 * none). */
int32_t cdr_tz_offset(const cdr_tz *tz, cdr_time t, cdr_time *next);

#endif
