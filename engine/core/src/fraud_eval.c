/* fraud_eval.c - evaluating fraud rules on rated records: the bucket ring of a units rule, the last
 * country of a countries rule, and their compact encoding (docs/fraud-rules.md, "Evaluation").
 *
 * Everything runs on the records' event start times (cr_start), never on the wall clock. A units
 * rule keeps fr_nbuckets buckets of fr_width seconds; bucket number b = floor(t / fr_width) lives
 * in slot b mod fr_nbuckets, and the window at the newest bucket H is the buckets H - n + 1 .. H.
 */
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_fraud.h"

/* Saturating add: sums never wrap. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* floor(t / w) for w > 0, also for times before 1970. */
static int64_t bucket_of(cdr_time t, uint32_t w)
{
    const int64_t q = t / (int64_t)w;
    return (t % (int64_t)w < 0) ? q - 1 : q;
}

/* 1 while now is less than span seconds after the last hit (or before it): no hit again yet. */
static int suppressed(cdr_time last_hit, cdr_time now, uint32_t span)
{
    if (last_hit == CDR_FRAUD_NEVER)
        return 0;
    return now < last_hit || (uint64_t)now - (uint64_t)last_hit < span;
}

static uint32_t slot_of(int64_t b, uint32_t n)
{
    const int64_t r = b % (int64_t)n;
    return (uint32_t)(r < 0 ? r + (int64_t)n : r);
}

uint16_t cdr_fraud_country(uint16_t mcc)
{
    if (mcc >= 310 && mcc <= 316)
        return 310; /* United States */
    if (mcc >= 404 && mcc <= 406)
        return 404; /* India */
    if (mcc == 235)
        return 234; /* United Kingdom */
    if (mcc == 441)
        return 440; /* Japan */
    if (mcc == 461)
        return 460; /* China */
    return mcc;
}

void cdr_fraud_line_init(cdr_fraud_line *fl, const cdr_fraud_rule *fr)
{
    memset(fl, 0, sizeof *fl);
    fl->fl_kind = fr->fr_kind;
    fl->fl_width = fr->fr_kind == CDR_FRAUD_UNITS ? fr->fr_width : 0;
    fl->fl_last_hit = CDR_FRAUD_NEVER;
    fl->fl_country_time = CDR_FRAUD_NEVER;
}

/* The state was built under this rule (same kind and buckets), else it starts over. */
static void line_match(const cdr_fraud_rule *fr, cdr_fraud_line *fl)
{
    if (fl->fl_kind != fr->fr_kind ||
        (fr->fr_kind == CDR_FRAUD_UNITS &&
         (fl->fl_width != fr->fr_width ||
          (fl->fl_nbuckets != 0 && fl->fl_nbuckets != fr->fr_nbuckets))))
        cdr_fraud_line_init(fl, fr);
}

static int zone_matches(const cdr_fraud_rule *fr, const cdr_zone *zo)
{
    const unsigned all = (1u << CDR_ZONE_KIND_COUNT) - 1;
    if ((fr->fr_zone_kinds & all) != all &&
        (!zo || zo->zo_kind >= CDR_ZONE_KIND_COUNT || !(fr->fr_zone_kinds & (1u << zo->zo_kind))))
        return 0;
    if (fr->fr_nzones == 0)
        return 1;
    if (!zo)
        return 0;
    for (int i = 0; i < fr->fr_nzones; i++)
        if (!strncmp(fr->fr_zones[i], zo->zo_name, CDR_NAME_MAX))
            return 1;
    return 0;
}

int cdr_fraud_applies(const cdr_fraud_rule *fr, const cdr_record *cr, const cdr_rated *rr,
                      const cdr_zone *zo)
{
    if (!fr || !cr)
        return 0;
    if (fr->fr_kind == CDR_FRAUD_COUNTRIES)
        return cr->cr_mcc != 0 || fr->fr_home_mcc != 0;
    if (fr->fr_kind != CDR_FRAUD_UNITS || !rr || rr->rr_reason != CDR_REASON_NONE)
        return 0;
    if (cr->cr_service != fr->fr_service || cr->cr_direction >= CDR_DIR_COUNT ||
        !(fr->fr_directions & (1u << cr->cr_direction)))
        return 0;
    return zone_matches(fr, zo);
}

static int eval_units(const cdr_fraud_rule *fr, cdr_fraud_line *fl, const cdr_record *cr,
                      const cdr_rated *rr, cdr_fraud_hit *hit)
{
    const uint32_t n = fr->fr_nbuckets, w = fr->fr_width;
    if (n == 0 || n > CDR_FRAUD_BUCKETS || w == 0)
        return 0;
    const int64_t b = bucket_of(cr->cr_start, w);
    if (fl->fl_nbuckets == 0) { /* the first record */
        fl->fl_nbuckets = (uint8_t)n;
        fl->fl_head = b;
        fl->fl_latest = cr->cr_start;
    } else if (b > fl->fl_head) { /* empty the buckets the window slides past */
        const uint64_t steps = (uint64_t)b - (uint64_t)fl->fl_head;
        for (uint64_t i = 1; i <= steps && i <= n; i++)
            fl->fl_buckets[slot_of(fl->fl_head + (int64_t)i, n)] = 0;
        fl->fl_head = b;
    } else if ((uint64_t)fl->fl_head - (uint64_t)b >= n) {
        return 0; /* later than the window allows: ignored */
    }
    if (cr->cr_start > fl->fl_latest)
        fl->fl_latest = cr->cr_start;
    const uint32_t s = slot_of(b, n);
    fl->fl_buckets[s] = sat_add(fl->fl_buckets[s], rr->rr_units);

    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum = sat_add(sum, fl->fl_buckets[i]);
    if (sum <= fr->fr_threshold)
        return 0;
    if (suppressed(fl->fl_last_hit, fl->fl_latest, fr->fr_window))
        return 0; /* once per window */
    fl->fl_last_hit = fl->fl_latest;
    if (hit) {
        hit->fh_window_start = (cdr_time)(((uint64_t)fl->fl_head - n + 1) * w);
        hit->fh_window_end = fl->fl_latest;
        hit->fh_sum = sum;
        hit->fh_threshold = fr->fr_threshold;
    }
    return 1;
}

static int eval_countries(const cdr_fraud_rule *fr, cdr_fraud_line *fl, const cdr_record *cr,
                          cdr_fraud_hit *hit)
{
    const uint16_t c = cdr_fraud_country(cr->cr_mcc ? cr->cr_mcc : fr->fr_home_mcc);
    const cdr_time t = cr->cr_start;
    if (fl->fl_country == 0 || c == fl->fl_country) {
        if (fl->fl_country == 0 || t > fl->fl_country_time)
            fl->fl_country_time = t;
        fl->fl_country = c;
        return 0;
    }
    const uint16_t c0 = fl->fl_country;
    const cdr_time t0 = fl->fl_country_time;
    if (t >= t0) { /* the newest record says where the line is */
        fl->fl_country = c;
        fl->fl_country_time = t;
    }
    const uint64_t dt = t >= t0 ? (uint64_t)t - (uint64_t)t0 : (uint64_t)t0 - (uint64_t)t;
    if (dt >= fr->fr_window)
        return 0;
    const cdr_time late = t > t0 ? t : t0;
    if (suppressed(fl->fl_last_hit, late, fr->fr_window))
        return 0; /* once per `within` */
    fl->fl_last_hit = late;
    if (hit) {
        const int first = t0 <= t; /* earlier record first */
        hit->fh_country[0] = first ? c0 : c;
        hit->fh_time[0] = first ? t0 : t;
        hit->fh_country[1] = first ? c : c0;
        hit->fh_time[1] = first ? t : t0;
        hit->fh_window_start = hit->fh_time[0];
        hit->fh_window_end = hit->fh_time[1];
        hit->fh_sum = dt;
        hit->fh_threshold = fr->fr_window;
    }
    return 1;
}

int cdr_fraud_eval(const cdr_fraud_rule *fr, cdr_fraud_line *fl, const cdr_record *cr,
                   const cdr_rated *rr, const cdr_zone *zo, cdr_fraud_hit *hit)
{
    if (!fl || !cdr_fraud_applies(fr, cr, rr, zo))
        return 0;
    line_match(fr, fl);
    cdr_fraud_hit h;
    memset(&h, 0, sizeof h);
    const int hitp = fr->fr_kind == CDR_FRAUD_UNITS ? eval_units(fr, fl, cr, rr, &h)
                                                    : eval_countries(fr, fl, cr, &h);
    if (hitp && hit) {
        h.fh_rule = fr->fr_index;
        memcpy(h.fh_name, fr->fr_name, CDR_NAME_MAX);
        h.fh_name[CDR_NAME_MAX - 1] = '\0';
        h.fh_kind = fr->fr_kind;
        *hit = h;
    }
    return hitp;
}

/* ---- the state's encoding ------------------------------------------------------------------- */

/* Version 1: u8 version, u8 kind, u8 flags (1 = buckets, 2 = a last hit, 4 = a country), then
 * with flag 1: u32 width, u8 nbuckets, i64 head, i64 latest, u8 count, count x (u8 slot, LEB128
 * units); with flag 2: i64 last hit; with flag 4: u16 country, i64 time. Integers little-endian.
 */
enum { F_BUCKETS = 1, F_HIT = 2, F_COUNTRY = 4 };

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        *p++ = (uint8_t)v;
    return p;
}

static int get_le(const uint8_t **pp, const uint8_t *end, int n, uint64_t *out)
{
    if (end - *pp < n)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)(*pp)[i] << (8 * i);
    *pp += n;
    *out = v;
    return 0;
}

size_t cdr_fraud_line_encode(const cdr_fraud_line *fl, uint8_t *buf)
{
    uint8_t *p = buf;
    const int buckets = fl->fl_nbuckets != 0 && fl->fl_nbuckets <= CDR_FRAUD_BUCKETS;
    *p++ = CDR_FRAUD_LINE_VERSION;
    *p++ = fl->fl_kind;
    *p++ = (uint8_t)((buckets ? F_BUCKETS : 0) | (fl->fl_last_hit != CDR_FRAUD_NEVER ? F_HIT : 0) |
                     (fl->fl_country ? F_COUNTRY : 0));
    if (buckets) {
        p = put_le(p, fl->fl_width, 4);
        *p++ = fl->fl_nbuckets;
        p = put_le(p, (uint64_t)fl->fl_head, 8);
        p = put_le(p, (uint64_t)fl->fl_latest, 8);
        uint8_t *count = p++;
        *count = 0;
        for (uint8_t i = 0; i < fl->fl_nbuckets; i++)
            if (fl->fl_buckets[i]) {
                *p++ = i;
                p = cdr_put_varint(p, fl->fl_buckets[i]);
                (*count)++;
            }
    }
    if (fl->fl_last_hit != CDR_FRAUD_NEVER)
        p = put_le(p, (uint64_t)fl->fl_last_hit, 8);
    if (fl->fl_country) {
        p = put_le(p, fl->fl_country, 2);
        p = put_le(p, (uint64_t)fl->fl_country_time, 8);
    }
    return (size_t)(p - buf);
}

int cdr_fraud_line_decode(const uint8_t *buf, size_t len, cdr_fraud_line *fl)
{
    if (!buf || !fl || len < 3)
        return CDR_FORMAT;
    if (buf[0] != CDR_FRAUD_LINE_VERSION)
        return CDR_VERSION;
    const uint8_t *p = buf + 3, *end = buf + len;
    const uint8_t flags = buf[2];
    if (buf[1] >= CDR_FRAUD_KIND_COUNT || (flags & ~(F_BUCKETS | F_HIT | F_COUNTRY)))
        return CDR_FORMAT;
    memset(fl, 0, sizeof *fl);
    fl->fl_kind = buf[1];
    fl->fl_last_hit = CDR_FRAUD_NEVER;
    fl->fl_country_time = CDR_FRAUD_NEVER;
    uint64_t v;
    if (flags & F_BUCKETS) {
        if (get_le(&p, end, 4, &v) || v == 0)
            return CDR_FORMAT;
        fl->fl_width = (uint32_t)v;
        if (get_le(&p, end, 1, &v) || v == 0 || v > CDR_FRAUD_BUCKETS)
            return CDR_FORMAT;
        fl->fl_nbuckets = (uint8_t)v;
        if (get_le(&p, end, 8, &v))
            return CDR_FORMAT;
        fl->fl_head = (int64_t)v;
        if (get_le(&p, end, 8, &v))
            return CDR_FORMAT;
        fl->fl_latest = (int64_t)v;
        uint64_t count;
        if (get_le(&p, end, 1, &count) || count > fl->fl_nbuckets)
            return CDR_FORMAT;
        int prev = -1;
        for (uint64_t i = 0; i < count; i++) {
            uint64_t slot;
            if (get_le(&p, end, 1, &slot) || (int)slot <= prev || slot >= fl->fl_nbuckets ||
                cdr_get_varint(&p, end, &v) || v == 0)
                return CDR_FORMAT;
            fl->fl_buckets[slot] = v;
            prev = (int)slot;
        }
    }
    if (flags & F_HIT) {
        if (get_le(&p, end, 8, &v) || (int64_t)v == CDR_FRAUD_NEVER)
            return CDR_FORMAT;
        fl->fl_last_hit = (int64_t)v;
    }
    if (flags & F_COUNTRY) {
        if (get_le(&p, end, 2, &v) || v == 0 || v > 999)
            return CDR_FORMAT;
        fl->fl_country = (uint16_t)v;
        if (get_le(&p, end, 8, &v))
            return CDR_FORMAT;
        fl->fl_country_time = (int64_t)v;
    }
    return p == end ? 0 : CDR_FORMAT;
}
