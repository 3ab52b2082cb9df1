/* hint.c - the cheaper-plan hint of a statement (cdr_stmt_hint.h, docs/statements.md
 * "Cheaper-plan hint").
 *
 * Each plan family of the catalogue re-rates the line's records with fresh counters, record by
 * record through cdr_rules_rate, with its version in effect at the record's start; the counters
 * are kept as the rater keeps them (engine/core/src/rater.c rate_one): an own bundle by its name,
 * a pool by its service. The fee and its proration are the bill run's (cdr_bill_active_days,
 * cdr_bill_prorate). The records are read twice: under the current plan, then each under every
 * other candidate at once, a plan dropped once it can no longer be cheaper than the current one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bill.h"
#include "cdr_stmt_hint.h"
#include "cdr_stream.h"
#include "stmt_int.h"

#define CENT    10000 /* micro-units */
#define MAX_OWN 64    /* distinct own-bundle names of one family's versions within a cycle */

/* Re-rating state of one plan family. */
typedef struct hplan {
    const cdr_plan_set *hp_ps;
    int hp_family;
    const cdr_plan *hp_ver;     /* the version of the last record, in effect in [from, until) */
    cdr_time hp_from, hp_until; /* hp_ver NULL: nothing looked up yet */
    uint8_t hp_slot[CDR_PLAN_MAX_BUNDLES]; /* own bundle b of hp_ver -> its counter in hp_own */
    unsigned hp_nown;
    uint64_t hp_own_tag[MAX_OWN]; /* cdr_counter_bundle_tag of the bundle's name */
    uint64_t hp_own_used[MAX_OWN];
    uint64_t hp_pool_used[CDR_SVC_COUNT]; /* the line's draw on its enterprise's pool */
    cdr_money hp_usage[CDR_CLASS_COUNT];  /* rated charges per class, micro-units */
    cdr_money hp_last;                    /* the charge of the record rated last */
} hplan;

/* Make hp_ver the version in effect at t. Returns 0, 1 when no version is in effect at t, or
 * CDR_LIMIT (too many bundle names, in dg). */
static int hp_version(hplan *hp, cdr_time t, cdr_diag *dg)
{
    if (hp->hp_ver && t >= hp->hp_from && t < hp->hp_until)
        return 0;
    const cdr_plan_set *ps = hp->hp_ps;
    const uint32_t first = ps->ps_family_off[hp->hp_family];
    const uint32_t end = ps->ps_family_off[hp->hp_family + 1];
    uint32_t lo = first, hi = end; /* the first version with effective_from > t */
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (ps->ps_plans[mid]->pl_effective_from <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == first)
        return 1;
    const cdr_plan *pl = ps->ps_plans[lo - 1];
    hp->hp_from = pl->pl_effective_from;
    hp->hp_until = lo < end ? ps->ps_plans[lo]->pl_effective_from : INT64_MAX;
    if (hp->hp_ver == pl)
        return 0;
    hp->hp_ver = pl;
    for (unsigned b = 0; b < pl->pl_nbundles && b < CDR_PLAN_MAX_BUNDLES; b++) {
        if (pl->pl_bundles[b].bu_pool)
            continue;
        const uint64_t tag = cdr_counter_bundle_tag(pl->pl_bundles[b].bu_name);
        unsigned k = 0;
        while (k < hp->hp_nown && hp->hp_own_tag[k] != tag)
            k++;
        if (k == hp->hp_nown) {
            if (k == MAX_OWN)
                return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                                    "plan %s: more than %d bundle names in one cycle", pl->pl_id,
                                    MAX_OWN);
            hp->hp_own_tag[k] = tag;
            hp->hp_own_used[k] = 0;
            hp->hp_nown++;
        }
        hp->hp_slot[b] = (uint8_t)k;
    }
    return 0;
}

/* Rate cr under hp's current version, with the counters the rater would pass (only the bundles
 * of the record's service, for an originated record; none otherwise), and add its charge.
 * pool[s] is the allowance of a pool bundle of service s. Returns 0, a cdr_reason > 0, or
 * CDR_RANGE when the usage sum overflows. */
static int hp_rate(hplan *hp, const cdr_record *cr, const uint64_t *pool)
{
    const cdr_plan *pl = hp->hp_ver;
    cdr_counters bc;
    int any = 0;
    for (unsigned b = 0; b < pl->pl_nbundles && b < CDR_PLAN_MAX_BUNDLES; b++) {
        const cdr_bundle *bu = &pl->pl_bundles[b];
        bc.bc_used[b] = bc.bc_limit[b] = bc.bc_member_used[b] = bc.bc_member_cap[b] = 0;
        if (bu->bu_service != cr->cr_service || cr->cr_direction != CDR_DIR_MO)
            continue;
        any = 1;
        if (bu->bu_pool) { /* the limit is what the line drew: no member cap needed */
            bc.bc_limit[b] = pool[bu->bu_service];
            bc.bc_used[b] = bc.bc_member_used[b] = hp->hp_pool_used[bu->bu_service];
        } else {
            bc.bc_limit[b] = bu->bu_units;
            bc.bc_used[b] = hp->hp_own_used[hp->hp_slot[b]];
        }
    }
    cdr_rated rr;
    const int reason = cdr_rules_rate(pl, cr, any ? &bc : NULL, &rr);
    if (reason)
        return reason;
    if (rr.rr_bundle >= 0) {
        const unsigned b = (unsigned)rr.rr_bundle;
        if (pl->pl_bundles[b].bu_pool)
            hp->hp_pool_used[pl->pl_bundles[b].bu_service] = bc.bc_used[b];
        else
            hp->hp_own_used[hp->hp_slot[b]] = bc.bc_used[b];
    }
    const unsigned cls = rr.rr_class < CDR_CLASS_COUNT ? rr.rr_class : 0;
    hp->hp_last = rr.rr_charge;
    if (__builtin_add_overflow(hp->hp_usage[cls], rr.rr_charge, &hp->hp_usage[cls]))
        return CDR_RANGE;
    return 0;
}

/* A record the hint takes: billed (rated) and not a reversal. */
static int taken(const cdr_rated *rr)
{
    return rr->rr_reason == CDR_REASON_NONE && !(rr->rr_flags & CDR_RATED_FLAG_REVERSAL);
}

/* A plan family being compared: its state, fee and whether it can still carry the line. */
typedef struct hcand {
    hplan hc_hp;
    cdr_money hc_fee;
    const cdr_plan *hc_fv; /* the version of the fee */
    int hc_out;            /* 1: not a candidate (a record it cannot rate), or cut */
    int hc_cut;            /* 1: compared, and found no cheaper than the current plan before the
                              end of the records (no need to rate the rest) */
    cdr_money hc_running;  /* fee + the usage so far, micro-units */
} hcand;

/* The fee of family f for the line (the version in effect at its last active moment, prorated
 * by its active days). Returns 0, 1 when the family is not a candidate (no version at ref, another
 * currency), or an error (in dg). */
static int family_fee(const cdr_plan_set *ps, int f, const cdr_dir_subscriber *sb, uint32_t cycle,
                      cdr_time ref, const char *currency, hcand *c, cdr_diag *dg)
{
    unsigned cycle_days;
    cdr_time last;
    const unsigned days =
        cdr_bill_active_days(cdr_bill_family_tz(ps, f), cycle, sb, &cycle_days, &last);
    const cdr_plan *fv = cdr_plan_set_at(ps, f, days ? last : ref);
    if (!fv || strcmp(fv->pl_currency, currency) != 0)
        return 1;
    if (cdr_bill_prorate(fv->pl_monthly_fee, days, cycle_days, &c->hc_fee) != 0)
        return cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "plan %s: monthly fee out of range",
                            fv->pl_id);
    c->hc_fv = fv;
    c->hc_out = 0;
    c->hc_cut = 0;
    c->hc_running = c->hc_fee;
    c->hc_hp.hp_ps = ps;
    c->hc_hp.hp_family = f;
    c->hc_hp.hp_ver = NULL;
    c->hc_hp.hp_nown = 0;
    memset(c->hc_hp.hp_pool_used, 0, sizeof c->hc_hp.hp_pool_used);
    memset(c->hc_hp.hp_usage, 0, sizeof c->hc_hp.hp_usage);
    return 0;
}

/* Re-rate the line's records once, each under every candidate still in, and the cost of each
 * (fee + usage rounded per class, micro-units) into hc_fee. With a bound (>= 0: the current
 * plan's cost), a candidate whose cost can no longer be below it is cut: its usage so far, less
 * what rounding per class could take off (half a cent a class), already reaches the bound.
 * Returns 0 or an error (in dg). */
static int rate_all(hcand *cands, unsigned nc, stmt_hint_get_fn get, void *gctx, size_t n,
                    const uint64_t *pool, cdr_money bound, cdr_diag *dg)
{
    for (size_t i = 0; i < n; i++) {
        const cdr_record *cr;
        const cdr_rated *rr;
        int rc = get(gctx, i, &cr, &rr, dg);
        if (rc)
            return rc;
        if (!taken(rr))
            continue;
        unsigned in = 0;
        for (unsigned k = 0; k < nc; k++) {
            hcand *c = &cands[k];
            if (c->hc_out)
                continue;
            rc = hp_version(&c->hc_hp, cr->cr_start, dg);
            if (rc > 1 || rc < 0)
                return rc;
            if (rc == 0)
                rc = hp_rate(&c->hc_hp, cr, pool);
            if (rc == CDR_RANGE)
                return cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "plan %s: usage out of range",
                                    c->hc_fv->pl_id);
            if (rc) { /* no version at the record's time, or a cdr_reason: it cannot carry it */
                c->hc_out = 1;
                continue;
            }
            c->hc_running += c->hc_hp.hp_last;
            if (bound >= 0 && c->hc_running - CDR_CLASS_COUNT * (CENT / 2) >= bound) {
                c->hc_out = c->hc_cut = 1;
                continue;
            }
            in++;
        }
        if (in == 0)
            break; /* nothing left to compare */
    }
    for (unsigned k = 0; k < nc; k++) {
        hcand *c = &cands[k];
        if (c->hc_out)
            continue;
        for (unsigned j = 0; j < CDR_CLASS_COUNT; j++)
            if (__builtin_add_overflow(c->hc_fee,
                                       cdr_round_to(c->hc_hp.hp_usage[j], CENT, CDR_ROUND_HALF_UP),
                                       &c->hc_fee))
                return cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "plan %s: cost out of range",
                                    c->hc_fv->pl_id);
    }
    return 0;
}

typedef struct arrays {
    const cdr_record *ar_recs;
    const cdr_rated *ar_rated;
} arrays;

static int get_array(void *ctx, size_t i, const cdr_record **cr, const cdr_rated **rr, cdr_diag *dg)
{
    (void)dg;
    const arrays *a = ctx;
    *cr = &a->ar_recs[i];
    *rr = &a->ar_rated[i];
    return 0;
}

int cdr_stmt_hint_line(const cdr_plan_set *ps, const cdr_dir *dir, const cdr_dir_subscriber *sb,
                       uint32_t cycle, const cdr_record *recs, const cdr_rated *rated, size_t n,
                       cdr_stmt_hint *out, cdr_diag *dg)
{
    if (n && (!recs || !rated))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_stmt_hint_line: NULL argument");
    arrays a = {recs, rated};
    return stmt_hint_line_get(ps, dir, sb, cycle, get_array, &a, n, out, dg);
}

int stmt_hint_line_get(const cdr_plan_set *ps, const cdr_dir *dir, const cdr_dir_subscriber *sb,
                       uint32_t cycle, stmt_hint_get_fn get, void *gctx, size_t n,
                       cdr_stmt_hint *out, cdr_diag *dg)
{
    if (!ps || !dir || !sb || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_stmt_hint_line: NULL argument");
    memset(out, 0, sizeof *out);
    snprintf(out->hn_current, sizeof out->hn_current, "%s", sb->sb_plan);
    if (cycle % 100 < 1 || cycle % 100 > 12 || cycle / 100 < 1 || cycle / 100 > 9999)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cycle %" PRIu32 " is not YYYYMM", cycle);

    /* The pool allowance per service: what the line drew, as billed, from its product's pool
     * (records of the version of its plan that rated them, whose bundle is a pool). */
    uint64_t pool[CDR_SVC_COUNT] = {0};
    size_t nrec = 0;
    cdr_time latest = INT64_MIN;
    const cdr_plan *rv = NULL;
    for (size_t i = 0; i < n; i++) {
        const cdr_record *cr;
        const cdr_rated *rr;
        const int grc = get(gctx, i, &cr, &rr, dg);
        if (grc)
            return grc;
        if (!taken(rr))
            continue;
        if (rr->rr_cycle != cycle)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "subscriber %" PRIu64 ": record %zu is of cycle %" PRIu32
                                ", not %" PRIu32,
                                sb->sb_id, i, rr->rr_cycle, cycle);
        nrec++;
        if (cr->cr_start > latest)
            latest = cr->cr_start;
        if (rr->rr_bundle < 0 || !rr->rr_bundle_units || cr->cr_service >= CDR_SVC_COUNT)
            continue;
        if (!rv || rv->pl_version != rr->rr_plan_version)
            rv = cdr_plan_set_version(ps, sb->sb_plan, rr->rr_plan_version);
        if (rv && (unsigned)rr->rr_bundle < rv->pl_nbundles &&
            rv->pl_bundles[rr->rr_bundle].bu_pool)
            pool[cr->cr_service] += rr->rr_bundle_units;
    }
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    for (unsigned s = 0; s < CDR_SVC_COUNT; s++)
        if (!pd || !pd->pd_pool[s])
            pool[s] = 0;

    /* The reference instant: the line's last active moment in the cycle (in its plan's time
     * zone), else (active on no day) its latest record. */
    const int cf = cdr_plan_set_family(ps, sb->sb_plan);
    if (cf < 0)
        return 0;
    unsigned cycle_days;
    cdr_time ref;
    if (!cdr_bill_active_days(cdr_bill_family_tz(ps, cf), cycle, sb, &cycle_days, &ref)) {
        if (!nrec)
            return 0; /* nothing billed */
        ref = latest;
    }
    const cdr_plan *cv = cdr_plan_set_at(ps, cf, ref);
    if (!cv)
        return 0;
    char currency[sizeof cv->pl_currency];
    memcpy(currency, cv->pl_currency, sizeof currency);

    /* the candidates: the current plan first, then every family in the currency, in id order */
    hcand *cands = malloc((ps->ps_nfamilies + 1) * sizeof *cands);
    if (!cands)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    unsigned nc = 0;
    int rc = family_fee(ps, cf, sb, cycle, ref, currency, &cands[0], dg);
    if (rc) {
        free(cands);
        return rc == 1 ? 0 : rc;
    }
    nc = 1;
    for (uint32_t f = 0; f < ps->ps_nfamilies; f++) {
        if ((int)f == cf)
            continue;
        rc = family_fee(ps, (int)f, sb, cycle, ref, currency, &cands[nc], dg);
        if (rc == 1)
            continue;
        if (rc) {
            free(cands);
            return rc;
        }
        nc++;
    }
    /* the current plan first: its cost bounds the others, which stop once they cannot beat it */
    rc = rate_all(cands, 1, get, gctx, n, pool, -1, dg);
    if (rc || cands[0].hc_out) {
        free(cands);
        return rc; /* its own plan cannot carry its usage: no like-for-like comparison */
    }
    const cdr_money cur_cost = cands[0].hc_fee;
    if (nc > 1 && (rc = rate_all(cands + 1, nc - 1, get, gctx, n, pool, cur_cost, dg)) != 0) {
        free(cands);
        return rc;
    }
    cdr_money best_cost = 0;
    unsigned ncand = 1;
    int best = -1;
    for (unsigned k = 1; k < nc; k++) {
        if (cands[k].hc_cut) {
            ncand++; /* compared: no cheaper */
            continue;
        }
        if (cands[k].hc_out)
            continue;
        ncand++;
        if (best < 0 || cands[k].hc_fee < best_cost) { /* in id order: ties keep the first */
            best = cands[k].hc_hp.hp_family;
            best_cost = cands[k].hc_fee;
        }
    }
    free(cands);
    out->hn_candidates = (uint16_t)(ncand > UINT16_MAX ? UINT16_MAX : ncand);
    out->hn_current_cost = cur_cost;
    if (best >= 0 && best_cost < cur_cost) {
        out->hn_state = CDR_HINT_CHEAPER;
        snprintf(out->hn_best, sizeof out->hn_best, "%s",
                 ps->ps_plans[ps->ps_family_off[best]]->pl_id);
        out->hn_best_cost = best_cost;
        out->hn_saving = cur_cost - best_cost;
    } else {
        out->hn_state = CDR_HINT_KEEP;
    }
    return 0;
}
