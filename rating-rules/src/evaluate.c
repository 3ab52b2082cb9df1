/* evaluate.c - the evaluator: zone, billing cycle and price of one record under one plan version.
 *
 * This is the hot path of the rating core. It follows docs/rating.md step by step, never allocates,
 * takes no locks and touches the plan read-only: a destination is one walk down the digit trie, the
 * band of an instant two table reads, and a record O(parts) arithmetic (a voice call is walked from
 * one band change to the next, not second by second). All money is integer micro-units; products
 * are formed in __int128 and divided back exactly once per part with the event's rounding rule.
 */
#include <string.h>

#include "cdr_rules.h"

/* ---- reasons -------------------------------------------------------------------------------- */

/* Lower-case names, one per CDR_REASONS entry in the same order (tests/unit/test_rating.c checks
 * them against the X-macro). */
static const char *const reason_names[] = {
    "none",    "unknown_subscriber", "subscriber_inactive", "no_plan", "no_zone",
    "no_rate", "too_many_parts",     "bad_record",
};
_Static_assert(sizeof reason_names / sizeof reason_names[0] == CDR_REASON_COUNT,
               "reason_names must list every CDR_REASONS entry");

static const char *const reason_messages[] = {
#define CDR_REASON_MSG(name, msg) msg,
    CDR_REASONS(CDR_REASON_MSG)
#undef CDR_REASON_MSG
};

static const char *const charge_class_names[CDR_CLASS_COUNT] = {
#define CDR_CLASS_NAME(name, label) label,
    CDR_CHARGE_CLASSES(CDR_CLASS_NAME)
#undef CDR_CLASS_NAME
};

const char *cdr_charge_class_name(int cls)
{
    return cls >= 0 && cls < CDR_CLASS_COUNT ? charge_class_names[cls] : "unknown";
}

int cdr_charge_class_parse(const char *s)
{
    for (int c = 0; s && c < CDR_CLASS_COUNT; c++)
        if (!strcmp(charge_class_names[c], s))
            return c;
    return -1;
}

/* Lower-case symbolic name of reason ("unknown_subscriber" ...); "unknown" when out of range. */
const char *cdr_reason_name(int reason)
{
    if (reason < 0 || reason >= CDR_REASON_COUNT)
        return "unknown";
    return reason_names[reason];
}

/* One-line message of reason; "unknown reason" when out of range. Static storage. */
const char *cdr_reason_message(int reason)
{
    if (reason < 0 || reason >= CDR_REASON_COUNT)
        return "unknown reason";
    return reason_messages[reason];
}

/* ---- zone ----------------------------------------------------------------------------------- */

/* 1 when (mcc, mnc) is one of the plan's home networks. */
static int is_home_network(const cdr_plan *pl, uint16_t mcc, uint16_t mnc)
{
    for (uint16_t i = 0; i < pl->pl_nhome; i++) {
        const cdr_network *nw = &pl->pl_home[i];
        if (nw->nw_mcc == mcc && (nw->nw_mnc < 0 || nw->nw_mnc == (int)mnc))
            return 1;
    }
    return 0;
}

/* Roaming zone of visited network (mcc, mnc): an exact MNC entry wins over an MCC-wide one.
 * CDR_NO_ZONE when the network is not listed. */
static int roaming_zone(const cdr_plan *pl, uint16_t mcc, uint16_t mnc)
{
    int wide = CDR_NO_ZONE;
    for (uint32_t i = 0; i < pl->pl_nroam; i++) {
        const cdr_network *nw = &pl->pl_roam[i];
        if (nw->nw_mcc != mcc)
            continue;
        if (nw->nw_mnc == (int)mnc)
            return nw->nw_zone;
        if (nw->nw_mnc < 0 && wide == CDR_NO_ZONE)
            wide = nw->nw_zone;
    }
    return wide;
}

/* Destination zone of digits s: the exact special number if s is one, else the zone of the longest
 * prefix of s that has one. The walk stops at the first non-digit (which then never matches
 * exactly). CDR_NO_ZONE when nothing matches. */
static int destination_zone(const cdr_plan *pl, const char *s)
{
    const cdr_trie_node *trie = pl->pl_trie;
    if (!trie || pl->pl_ntrie == 0)
        return CDR_NO_ZONE;
    uint32_t node = 0;
    int best = trie[0].tn_zone;
    for (; *s; s++) {
        const unsigned dgt = (unsigned)(unsigned char)*s - '0';
        if (dgt > 9)
            return best;
        const int32_t child = trie[node].tn_child[dgt];
        if (child <= 0 || (uint32_t)child >= pl->pl_ntrie)
            return best;
        node = (uint32_t)child;
        if (trie[node].tn_zone != CDR_NO_ZONE)
            best = trie[node].tn_zone;
    }
    if (trie[node].tn_exact != CDR_NO_ZONE)
        return trie[node].tn_exact;
    return best;
}

/* Zone of cr under pl (docs/rating.md section 2); CDR_NO_ZONE when none applies or the plan names
 * a zone id it does not have. */
int cdr_rules_zone(const cdr_plan *pl, const cdr_record *cr)
{
    int zone = CDR_NO_ZONE;
    if (cr->cr_mcc != 0 && !is_home_network(pl, cr->cr_mcc, cr->cr_mnc))
        zone = roaming_zone(pl, cr->cr_mcc, cr->cr_mnc);
    if (zone == CDR_NO_ZONE) {
        if (cr->cr_other[0] != '\0')
            zone = destination_zone(pl, cr->cr_other);
        else
            zone = pl->pl_home_zone;
    }
    if (zone == CDR_NO_ZONE)
        zone = pl->pl_default_zone;
    if (zone < 0 || zone >= pl->pl_nzones)
        return CDR_NO_ZONE;
    return zone;
}

/* ---- local time ----------------------------------------------------------------------------- */

/* Floor division of a by b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    const int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Billing cycle YYYYMM of instant t in the plan's time zone. */
uint32_t cdr_rules_cycle(const cdr_plan *pl, cdr_time t)
{
    const int64_t lt = t + cdr_tz_offset(&pl->pl_tz, t, NULL);
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(floor_div(lt, 86400), &y, &m, &d);
    return (uint32_t)(y * 100 + m);
}

/* Day type of the local date ymd (YYYYMMDD) falling on local day number `day`:
 * CDR_DAYTYPE_HOLIDAY when ymd is in the plan's holiday calendar (binary search), else the weekday
 * 0 = Monday .. 6 = Sunday. */
static unsigned day_type(const cdr_plan *pl, int64_t day, int64_t ymd)
{
    const uint32_t n = pl->pl_nholidays;
    if (n > 0 && ymd >= pl->pl_holidays[0] && ymd <= pl->pl_holidays[n - 1]) {
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            const uint32_t mid = lo + (hi - lo) / 2;
            if (pl->pl_holidays[mid] < ymd)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && pl->pl_holidays[lo] == ymd)
            return CDR_DAYTYPE_HOLIDAY;
    }
    return cdr_weekday(day);
}

/* Where the walk through local time stands: the offset in force and until when, and the day type
 * of the cached local day. */
typedef struct walk {
    const cdr_plan *wk_plan;
    int32_t wk_off;
    cdr_time wk_next; /* next offset change, INT64_MAX if none */
    int64_t wk_day;   /* local day number of wk_dt, INT64_MIN before the first lookup */
    int64_t wk_ymd;   /* local date of wk_day as YYYYMMDD */
    unsigned wk_dt;
} walk;

/* Band at instant t; *left (if not NULL) gets the real seconds from t until the band may change
 * (the local band end or the next offset change, whichever is first; >= 1). */
static unsigned band_at(walk *wk, cdr_time t, uint64_t *left)
{
    const cdr_plan *pl = wk->wk_plan;
    if (t >= wk->wk_next) /* the walk only moves forward */
        wk->wk_off = cdr_tz_offset(&pl->pl_tz, t, &wk->wk_next);
    const int64_t lt = t + wk->wk_off;
    const int64_t day = floor_div(lt, 86400);
    if (day != wk->wk_day) {
        int64_t y;
        unsigned m, d;
        cdr_civil_from_days(day, &y, &m, &d);
        wk->wk_ymd = y * 10000 + m * 100 + d;
        wk->wk_dt = day_type(pl, day, wk->wk_ymd);
        wk->wk_day = day;
    }
    const int64_t sod = lt - day * 86400;
    const unsigned minute = (unsigned)(sod / 60);
    const unsigned band = pl->pl_band_of[wk->wk_dt][minute];
    if (left) {
        unsigned until = pl->pl_band_until[wk->wk_dt][minute];
        if (until <= minute || until > CDR_MINUTES_PER_DAY)
            until = minute + 1; /* a malformed table: re-check at the next minute */
        int64_t end = t + ((int64_t)until * 60 - sod);
        if (wk->wk_next < end)
            end = wk->wk_next;
        *left = (uint64_t)(end - t);
    }
    return band;
}

/* ---- rating --------------------------------------------------------------------------------- */

/* Event starts the evaluator accepts: 1900-01-01T00:00Z .. 2200-01-01T00:00Z, the span the
 * time-zone tables cover; anything else is a corrupt record (and would overflow the local-time
 * arithmetic). */
#define RATE_TIME_MIN (-2208988800LL)
#define RATE_TIME_MAX 7258118400LL

/* Rate index of (service, direction, zone, band), or CDR_NO_RATE. */
static unsigned rate_index(const cdr_plan *pl, unsigned svc, unsigned dir, unsigned zone,
                           unsigned band)
{
    if (band >= pl->pl_nbands || !pl->pl_rate_ix)
        return CDR_NO_RATE;
    const size_t ix =
        (((size_t)svc * CDR_DIR_COUNT + dir) * pl->pl_nzones + zone) * pl->pl_nbands + band;
    const unsigned ri = pl->pl_rate_ix[ix];
    return ri < pl->pl_nrates ? ri : CDR_NO_RATE;
}

/* Charged units for raw usage under increments first/next (docs/rating.md section 3), saturating
 * at UINT64_MAX. */
static uint64_t charged_units(uint64_t raw, uint64_t first, uint64_t next)
{
    if (raw == 0)
        return 0;
    if (first == 0)
        first = 1;
    if (next == 0)
        next = 1;
    if (raw <= first)
        return first;
    const unsigned __int128 steps = (raw - first + next - 1) / next;
    const unsigned __int128 u = first + steps * next;
    return u > UINT64_MAX ? UINT64_MAX : (uint64_t)u;
}

/* Numerator (micro-units x base units) of the overflow units at event positions [lo, hi) priced by
 * rate ra's tiers: sum of units-in-tier x tier price. */
static __int128 tier_sum(const cdr_rate *ra, uint64_t lo, uint64_t hi)
{
    __int128 sum = 0;
    const unsigned nt = ra->ra_ntiers < 1                    ? 1
                        : ra->ra_ntiers > CDR_PLAN_MAX_TIERS ? CDR_PLAN_MAX_TIERS
                                                             : ra->ra_ntiers;
    for (unsigned i = 0; i < nt && lo < hi; i++) {
        const uint64_t tend = i + 1 < nt ? ra->ra_tiers[i + 1].ti_from : UINT64_MAX;
        const uint64_t tstart = i == 0 ? 0 : ra->ra_tiers[i].ti_from;
        const uint64_t a = lo > tstart ? lo : tstart;
        const uint64_t b = hi < tend ? hi : tend;
        if (a < b) {
            sum += (__int128)(b - a) * ra->ra_tiers[i].ti_price;
            lo = b;
        }
    }
    return sum;
}

/* Record reason in rr and return it. */
static int unratable(cdr_rated *rr, int reason)
{
    rr->rr_reason = (uint8_t)reason;
    rr->rr_charge = 0;
    rr->rr_units = rr->rr_bundle_units = rr->rr_overflow_units = rr->rr_free_units = 0;
    rr->rr_currency[0] = '\0';
    rr->rr_nparts = 0;
    rr->rr_bundle = -1;
    return reason;
}

/* 1 when rate ra charges nothing whatever the usage: no connect fee, no minimum charge, every
 * tier priced 0. Usage at such a rate is free usage (docs/rating.md section 5). */
static int rate_is_free(const cdr_rate *ra)
{
    if (ra->ra_connect_fee != 0 || ra->ra_min_charge > 0)
        return 0;
    const unsigned nt = ra->ra_ntiers < 1                    ? 1
                        : ra->ra_ntiers > CDR_PLAN_MAX_TIERS ? CDR_PLAN_MAX_TIERS
                                                             : ra->ra_ntiers;
    for (unsigned i = 0; i < nt; i++)
        if (ra->ra_tiers[i].ti_price != 0)
            return 0;
    return 1;
}

/* ---- charge class --------------------------------------------------------------------------- */

int cdr_charge_class_of_service(int svc)
{
    switch (svc) {
    case CDR_SVC_SMS:
    case CDR_SVC_MMS:
        return CDR_CLASS_SMS_MMS;
    case CDR_SVC_DATA:
        return CDR_CLASS_DATA;
    default: /* voice, video */
        return CDR_CLASS_BASIC_VOICE;
    }
}

/* The charge class of an event rated under pl in zone `zone` (docs/tariff-plans.md "Charge
 * classes"), first match wins: free when the event is free (a free zone, or every part's rate
 * charges nothing); the class declared by ra0, the rate of the first part (NULL when unknown),
 * which also rules rounding and the connect fee; the class declared by the zone; roaming or
 * premium by the zone's kind; else by the service. The one implementation of the rule, for the
 * evaluator and for cdr_plan_charge_class. */
static int event_class(const cdr_plan *pl, unsigned svc, int zone, int free_event,
                       const cdr_rate *ra0)
{
    if (free_event)
        return CDR_CLASS_FREE;
    if (ra0 && ra0->ra_class)
        return ra0->ra_class;
    const cdr_zone *zo = &pl->pl_zones[zone];
    if (zo->zo_class)
        return zo->zo_class;
    if (zo->zo_kind == CDR_ZONE_ROAMING)
        return CDR_CLASS_ROAMING;
    if (zo->zo_kind == CDR_ZONE_PREMIUM)
        return CDR_CLASS_PREMIUM;
    return cdr_charge_class_of_service((int)svc);
}

int cdr_plan_charge_class(const cdr_plan *pl, const cdr_record *cr, const cdr_rated *rr)
{
    if (!pl || !cr || !rr || rr->rr_reason != CDR_REASON_NONE)
        return CDR_CLASS_NONE;
    const unsigned svc = rr->rr_service;
    const unsigned dir = cr->cr_direction;
    const int zone = rr->rr_zone;
    if (svc >= CDR_SVC_COUNT || dir >= CDR_DIR_COUNT || zone < 0 || zone >= pl->pl_nzones)
        return CDR_CLASS_NONE;
    if (pl->pl_zones[zone].zo_kind == CDR_ZONE_FREE)
        return event_class(pl, svc, zone, 1, NULL);
    /* The rates of the parts, as the evaluator found them (a part without one cannot have been
     * rated under pl: it counts as charging). */
    const unsigned np = rr->rr_nparts < CDR_RATED_MAX_PARTS ? rr->rr_nparts : CDR_RATED_MAX_PARTS;
    const cdr_rate *ra0 = NULL;
    int free_event = np > 0;
    for (unsigned k = 0; k < np; k++) {
        const unsigned ri = rate_index(pl, svc, dir, (unsigned)zone, rr->rr_parts[k].rp_band);
        const cdr_rate *ra = ri == CDR_NO_RATE ? NULL : &pl->pl_rates[ri];
        if (k == 0)
            ra0 = ra;
        if (!ra || !rate_is_free(ra))
            free_event = 0;
    }
    return event_class(pl, svc, zone, free_event, ra0);
}

/* ---- bundles and the rating step ------------------------------------------------------------ */

/* Choose the bundle that covers the event's first units (docs/rating.md section 5) and return the
 * number of units it covers (*bix its index), or 0 (*bix = -1). Does not update bc. */
static uint64_t pick_bundle(const cdr_plan *pl, const cdr_counters *bc, unsigned svc, int zone,
                            uint64_t units, int *bix)
{
    *bix = -1;
    if (!bc || units == 0)
        return 0;
    const uint64_t zbit = (uint64_t)1 << zone;
    const unsigned nb =
        pl->pl_nbundles < CDR_PLAN_MAX_BUNDLES ? pl->pl_nbundles : CDR_PLAN_MAX_BUNDLES;
    for (unsigned i = 0; i < nb; i++) {
        const cdr_bundle *bu = &pl->pl_bundles[i];
        if (bu->bu_service != svc || !(bu->bu_zones & zbit))
            continue;
        if (bc->bc_used[i] >= bc->bc_limit[i])
            continue;
        uint64_t left = bc->bc_limit[i] - bc->bc_used[i];
        if (bu->bu_pool && bc->bc_member_cap[i] > 0) {
            if (bc->bc_member_used[i] >= bc->bc_member_cap[i])
                continue;
            const uint64_t mleft = bc->bc_member_cap[i] - bc->bc_member_used[i];
            if (mleft < left)
                left = mleft;
        }
        *bix = (int)i;
        return units < left ? units : left;
    }
    return 0;
}

/* Rate cr under pl (docs/rating.md). Returns 0 or the cdr_reason (also in rr->rr_reason); bc is
 * updated only when the record is rated. */
int cdr_rules_rate(const cdr_plan *pl, const cdr_record *cr, cdr_counters *bc, cdr_rated *rr)
{
    memset(rr, 0, sizeof *rr);
    rr->rr_service = cr->cr_service;
    rr->rr_zone = CDR_NO_ZONE;
    rr->rr_bundle = -1;
    rr->rr_plan_version = pl->pl_version;
    memcpy(rr->rr_currency, pl->pl_currency, sizeof rr->rr_currency);
    rr->rr_currency[3] = '\0';
    const unsigned svc = cr->cr_service;
    const unsigned dir = cr->cr_direction;
    if (svc >= CDR_SVC_COUNT || dir >= CDR_DIR_COUNT || cr->cr_start < RATE_TIME_MIN ||
        cr->cr_start > RATE_TIME_MAX)
        return unratable(rr, CDR_REASON_BAD_RECORD);
    const int timed = svc == CDR_SVC_VOICE || svc == CDR_SVC_VIDEO;

    /* Band at the start; the same local date gives the cycle (one offset lookup, one date). */
    walk wk = {.wk_plan = pl, .wk_next = INT64_MIN, .wk_day = INT64_MIN};
    uint64_t left = 0;
    const unsigned band0 = band_at(&wk, cr->cr_start, timed ? &left : NULL);
    rr->rr_cycle = (uint32_t)(wk.wk_ymd / 100);

    const int zone = cdr_rules_zone(pl, cr);
    if (zone == CDR_NO_ZONE)
        return unratable(rr, CDR_REASON_NO_ZONE);
    rr->rr_zone = (int16_t)zone;

    /* Raw usage in base units. */
    uint64_t raw;
    if (timed) {
        raw = cr->cr_duration;
    } else if (svc == CDR_SVC_DATA) {
        raw = cr->cr_bytes_up + cr->cr_bytes_down;
        if (raw < cr->cr_bytes_up)
            return unratable(rr, CDR_REASON_BAD_RECORD); /* the volume overflows 64 bits */
    } else {
        raw = 1;
    }

    /* A free zone: charge 0, no bundle, no rate; one part holding the raw usage, all free. */
    if (pl->pl_zones[zone].zo_kind == CDR_ZONE_FREE) {
        rr->rr_nparts = 1;
        rr->rr_parts[0].rp_band = (uint8_t)band0;
        rr->rr_parts[0].rp_units = raw;
        rr->rr_units = rr->rr_free_units = raw;
        rr->rr_class = (uint8_t)event_class(pl, svc, zone, 1, NULL);
        return 0;
    }

    /* Parts: raw seconds per band for voice and video, else one part at the start band. */
    uint8_t pband[CDR_RATED_MAX_PARTS];
    uint64_t punits[CDR_RATED_MAX_PARTS];
    unsigned np = 1;
    pband[0] = (uint8_t)band0;
    punits[0] = raw;
    if (timed && raw > left) {
        punits[0] = left;
        cdr_time t = cr->cr_start + (cdr_time)left;
        uint64_t rem = raw - left;
        while (rem > 0) {
            const unsigned b = band_at(&wk, t, &left);
            const uint64_t len = rem < left ? rem : left;
            if (b == pband[np - 1]) {
                punits[np - 1] += len;
            } else {
                if (np == CDR_RATED_MAX_PARTS)
                    return unratable(rr, CDR_REASON_TOO_MANY_PARTS);
                pband[np] = (uint8_t)b;
                punits[np] = len;
                np++;
            }
            t += (cdr_time)len;
            rem -= len;
        }
    }

    /* Every part needs a rate; the first part's rate rules the event. The event is free when
     * every part's rate charges nothing. */
    const cdr_rate *pra[CDR_RATED_MAX_PARTS];
    int free_event = 1;
    for (unsigned k = 0; k < np; k++) {
        const unsigned ri = rate_index(pl, svc, dir, (unsigned)zone, pband[k]);
        if (ri == CDR_NO_RATE)
            return unratable(rr, CDR_REASON_NO_RATE);
        pra[k] = &pl->pl_rates[ri];
        if (free_event && !rate_is_free(pra[k]))
            free_event = 0;
    }
    const cdr_rate *ra = pra[0];
    const cdr_rounding rule =
        ra->ra_rounding < CDR_ROUND_COUNT ? (cdr_rounding)ra->ra_rounding : CDR_ROUND_HALF_UP;

    const uint64_t units = charged_units(raw, ra->ra_first, ra->ra_next);
    punits[np - 1] += units - raw; /* increment rounding goes to the last part */

    /* Bundle (chargeable MO events only): covers the event's first units. */
    int bix = -1;
    const uint64_t bunits =
        dir == CDR_DIR_MO && !free_event ? pick_bundle(pl, bc, svc, zone, units, &bix) : 0;
    if (bunits == 0)
        bix = -1;

    /* Price each part's overflow units with its own rate and tiers, rounded once per part. */
    __int128 total = 0;
    uint64_t pos = 0;
    for (unsigned k = 0; k < np; k++) {
        const uint64_t lo = pos > bunits ? pos : bunits;
        const uint64_t hi = pos + punits[k];
        int64_t charge = 0;
        if (lo < hi) {
            const cdr_rate *pr = pra[k];
            const int64_t unit =
                pr->ra_unit > 0 && pr->ra_unit <= INT64_MAX ? (int64_t)pr->ra_unit : 1;
            if (cdr_div_round(tier_sum(pr, lo, hi), unit, rule, &charge) != 0)
                return unratable(rr, CDR_REASON_BAD_RECORD);
        }
        rr->rr_parts[k].rp_band = pband[k];
        rr->rr_parts[k].rp_units = punits[k];
        rr->rr_parts[k].rp_charge = charge;
        total += charge;
        pos = hi;
    }

    const uint64_t overflow = units - bunits;
    if (overflow > 0) {
        total += ra->ra_connect_fee;
        if (ra->ra_min_charge >= 0 && total < ra->ra_min_charge)
            total = ra->ra_min_charge;
        if (ra->ra_max_charge >= 0 && total > ra->ra_max_charge)
            total = ra->ra_max_charge;
    }
    if (total > INT64_MAX || total < INT64_MIN)
        return unratable(rr, CDR_REASON_BAD_RECORD);
    const int64_t charge = cdr_round_to((int64_t)total, ra->ra_round_to, rule);

    if (bix >= 0) {
        bc->bc_used[bix] += bunits;
        if (pl->pl_bundles[bix].bu_pool)
            bc->bc_member_used[bix] += bunits;
    }
    rr->rr_nparts = (uint8_t)np;
    rr->rr_charge = charge;
    rr->rr_units = units;
    rr->rr_bundle = (int16_t)bix;
    rr->rr_bundle_units = bunits;
    if (free_event)
        rr->rr_free_units = units; /* bunits is 0 */
    else
        rr->rr_overflow_units = overflow;
    rr->rr_class = (uint8_t)event_class(pl, svc, zone, free_event, ra);
    return 0;
}
