/* rater.c - the multithreaded rating core (see cdr_rate.h).
 *
 * A batch runs in two phases over a fixed pool of workers (the caller is worker 0):
 *   1. resolve: each worker looks up the subscribers of a contiguous slice of the batch and
 *      assigns every record to the shard of its charging owner;
 *   2. rate: each worker rates, in batch order, the records of its own shard, reading and updating
 *      only its own counter table.
 * So a charging owner's counters are touched by exactly one thread, with no lock, and the result
 * is the same for any thread count. Nothing is allocated per record: the per-batch arrays grow
 * with the batch size and counter tables grow geometrically.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_fraud.h"
#include "cdr_mem.h"
#include "cdr_rate.h"
#include "cdr_stream.h"

/* ---- counters --------------------------------------------------------------------------------
 * Key (holder, cycle, tag). tag: own bundle = CTR_OWN | hash(bundle name); enterprise pool =
 * CTR_POOL | service (holder = enterprise); a member's draw on a pool = CTR_MEMBER | service
 * (holder = subscriber). ce_owner is the charging owner (decides the shard on load). */
#define CTR_OWN     (1ULL << 62)
#define CTR_POOL    (2ULL << 62)
#define CTR_MEMBER  (3ULL << 62)
#define CTR_TAGMASK ((1ULL << 62) - 1)
/* Credit state (docs/credit-control.md): kind 0, a sub-kind in bits 56..61. CTR_SPEND | currency
 * (24 bits), holder = account: the charges; CTR_SPEND_ALERT | currency, holder = account: bit i =
 * threshold i raised; CTR_STATUS, holder = subscriber: status | since << 8; CTR_BUNDLE_ALERT |
 * the low 48 bits of a bundle's counter tag, the bundle's holder: bit i = threshold i raised. */
#define CTR_SPEND        (1ULL << 56)
#define CTR_SPEND_ALERT  (2ULL << 56)
#define CTR_STATUS       (3ULL << 56)
#define CTR_BUNDLE_ALERT (4ULL << 56)
#define CTR_LOW48        ((1ULL << 48) - 1)

typedef struct ctr_ent {
    uint64_t ce_holder;
    uint64_t ce_tag;
    uint64_t ce_used;
    uint64_t ce_owner;
    uint32_t ce_cycle;
    uint32_t ce_flags; /* bit 0 = in use, bit 1 = dirty (store), bit 2 = changed (changelog) */
} ctr_ent;

/* A counter's key, remembered when it first changes after a cdr_rater_counters_changed. */
typedef struct ctr_key {
    uint64_t ck_holder;
    uint64_t ck_tag;
    uint32_t ck_cycle;
} ctr_key;

typedef struct ctr_tab {
    ctr_ent *ct_ents;
    size_t ct_mask;
    size_t ct_n;
    int ct_track;    /* remember changed keys in ct_chg (cdr_rater_track_changes) */
    ctr_key *ct_chg; /* keys of the counters changed since the last export */
    size_t ct_nchg, ct_capchg;
} ctr_tab;

/* The counter tag of a subscriber's own bundle: one definition, cdr_stream.h. */
static uint64_t name_tag(const char *name)
{
    return cdr_counter_bundle_tag(name);
}

/* The slot depends on (holder, cycle) only: the few counters of one holder and cycle (its
 * bundles, its pool draws) sit in adjacent slots, so one prefetch brings them all. */
static size_t ctr_slot(uint64_t holder, uint32_t cycle, uint64_t tag)
{
    (void)tag;
    return (size_t)cdr_mix64(holder * 0x9e3779b97f4a7c15ULL + cycle);
}

static void ctr_prefetch(const ctr_tab *ct, uint64_t holder, uint32_t cycle)
{
    if (ct->ct_ents) {
        const ctr_ent *ce = &ct->ct_ents[ctr_slot(holder, cycle, 0) & ct->ct_mask];
        __builtin_prefetch(ce);
        __builtin_prefetch((const char *)ce + 64);
    }
}

static ctr_ent *ctr_find(const ctr_tab *ct, uint64_t holder, uint32_t cycle, uint64_t tag)
{
    if (!ct->ct_ents)
        return NULL;
    for (size_t j = ctr_slot(holder, cycle, tag) & ct->ct_mask;; j = (j + 1) & ct->ct_mask) {
        ctr_ent *ce = &ct->ct_ents[j];
        if (!(ce->ce_flags & 1))
            return NULL;
        if (ce->ce_holder == holder && ce->ce_tag == tag && ce->ce_cycle == cycle)
            return ce;
    }
}

static int ctr_grow(ctr_tab *ct)
{
    size_t nslots = ct->ct_ents ? 2 * (ct->ct_mask + 1) : 1024;
    ctr_ent *ne = calloc(nslots, sizeof *ne);
    if (!ne)
        return CDR_ENOMEM;
    cdr_mem_hugepages(ne, nslots * sizeof *ne);
    for (size_t i = 0; ct->ct_ents && i <= ct->ct_mask; i++) {
        const ctr_ent *ce = &ct->ct_ents[i];
        if (!(ce->ce_flags & 1))
            continue;
        size_t j = ctr_slot(ce->ce_holder, ce->ce_cycle, ce->ce_tag) & (nslots - 1);
        while (ne[j].ce_flags & 1)
            j = (j + 1) & (nslots - 1);
        ne[j] = *ce;
    }
    free(ct->ct_ents);
    ct->ct_ents = ne;
    ct->ct_mask = nslots - 1;
    return 0;
}

static int ctr_put(ctr_tab *ct, uint64_t holder, uint32_t cycle, uint64_t tag, uint64_t owner,
                   uint64_t used, int dirty)
{
    ctr_ent *ce = ctr_find(ct, holder, cycle, tag);
    if (!ce) {
        if (!ct->ct_ents || 2 * (ct->ct_n + 1) > ct->ct_mask + 1) {
            int rc = ctr_grow(ct);
            if (rc)
                return rc;
        }
        size_t j = ctr_slot(holder, cycle, tag) & ct->ct_mask;
        while (ct->ct_ents[j].ce_flags & 1)
            j = (j + 1) & ct->ct_mask;
        ce = &ct->ct_ents[j];
        ce->ce_holder = holder;
        ce->ce_cycle = cycle;
        ce->ce_tag = tag;
        ce->ce_flags = 1;
        ct->ct_n++;
    }
    ce->ce_used = used;
    ce->ce_owner = owner;
    if (dirty) {
        ce->ce_flags |= 2;
        if (ct->ct_track && !(ce->ce_flags & 4)) {
            if (ct->ct_nchg == ct->ct_capchg) {
                size_t cap = ct->ct_capchg ? 2 * ct->ct_capchg : 1024;
                ctr_key *nk = realloc(ct->ct_chg, cap * sizeof *nk);
                if (!nk)
                    return CDR_ENOMEM;
                ct->ct_chg = nk;
                ct->ct_capchg = cap;
            }
            ct->ct_chg[ct->ct_nchg++] = (ctr_key){holder, tag, cycle};
            ce->ce_flags |= 4;
        }
    }
    return 0;
}

/* ---- fraud-rule state ------------------------------------------------------------------------
 * Per (subscriber, rule) one cdr_fraud_line, in a dense array (entries are large: the slot array
 * holds indexes, so growing moves no state); ft_chg lists the entries changed since the last
 * export. */
typedef struct fr_ent {
    uint64_t fe_sub;
    uint64_t fe_owner;
    uint32_t fe_rule;
    uint32_t fe_changed;
    cdr_fraud_line fe_st;
} fr_ent;

typedef struct fr_tab {
    fr_ent *ft_ents;
    size_t ft_n, ft_cap;
    uint32_t *ft_slots; /* entry index + 1, 0 = empty */
    size_t ft_mask;
    uint32_t *ft_chg;
    size_t ft_nchg, ft_capchg;
} fr_tab;

static size_t fr_slot(uint64_t sub, uint32_t rule)
{
    return (size_t)cdr_mix64(sub * 0x9e3779b97f4a7c15ULL + rule + 1);
}

static fr_ent *fr_find(const fr_tab *ft, uint64_t sub, uint32_t rule)
{
    if (!ft->ft_slots)
        return NULL;
    for (size_t j = fr_slot(sub, rule) & ft->ft_mask;; j = (j + 1) & ft->ft_mask) {
        uint32_t ix = ft->ft_slots[j];
        if (!ix)
            return NULL;
        fr_ent *fe = &ft->ft_ents[ix - 1];
        if (fe->fe_sub == sub && fe->fe_rule == rule)
            return fe;
    }
}

/* The entry of (sub, rule), added (state from init) when missing; NULL without memory. */
static fr_ent *fr_get(fr_tab *ft, uint64_t sub, uint32_t rule, uint64_t owner,
                      const cdr_fraud_line *init)
{
    fr_ent *fe = fr_find(ft, sub, rule);
    if (fe)
        return fe;
    if (!ft->ft_slots || 2 * (ft->ft_n + 1) > ft->ft_mask + 1) {
        size_t ns = ft->ft_slots ? 2 * (ft->ft_mask + 1) : 1024;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl)
            return NULL;
        for (size_t i = 0; i < ft->ft_n; i++) {
            size_t j = fr_slot(ft->ft_ents[i].fe_sub, ft->ft_ents[i].fe_rule) & (ns - 1);
            while (sl[j])
                j = (j + 1) & (ns - 1);
            sl[j] = (uint32_t)i + 1;
        }
        free(ft->ft_slots);
        ft->ft_slots = sl;
        ft->ft_mask = ns - 1;
    }
    if (ft->ft_n == ft->ft_cap) {
        size_t cap = ft->ft_cap ? 2 * ft->ft_cap : 256;
        fr_ent *ne = realloc(ft->ft_ents, cap * sizeof *ne);
        if (!ne)
            return NULL;
        ft->ft_ents = ne;
        ft->ft_cap = cap;
    }
    fe = &ft->ft_ents[ft->ft_n];
    memset(fe, 0, offsetof(fr_ent, fe_st));
    fe->fe_sub = sub;
    fe->fe_rule = rule;
    fe->fe_owner = owner;
    fe->fe_st = *init;
    size_t j = fr_slot(sub, rule) & ft->ft_mask;
    while (ft->ft_slots[j])
        j = (j + 1) & ft->ft_mask;
    ft->ft_slots[j] = (uint32_t)++ft->ft_n;
    return fe;
}

static int fr_mark(fr_tab *ft, fr_ent *fe)
{
    if (fe->fe_changed)
        return 0;
    if (ft->ft_nchg == ft->ft_capchg) {
        size_t cap = ft->ft_capchg ? 2 * ft->ft_capchg : 1024;
        uint32_t *nc = realloc(ft->ft_chg, cap * sizeof *nc);
        if (!nc)
            return CDR_ENOMEM;
        ft->ft_chg = nc;
        ft->ft_capchg = cap;
    }
    ft->ft_chg[ft->ft_nchg++] = (uint32_t)(fe - ft->ft_ents);
    fe->fe_changed = 1;
    return 0;
}

static void fr_free(fr_tab *ft)
{
    free(ft->ft_ents);
    free(ft->ft_slots);
    free(ft->ft_chg);
    memset(ft, 0, sizeof *ft);
}

/* ---- the rater ------------------------------------------------------------------------------- */

/* A plan set with each subscriber's plan family resolved against it. */
typedef struct rating_snap {
    cdr_plan_set *rs_plans;
    int32_t *rs_family; /* [subscriber index] */
    atomic_int rs_refs;
} rating_snap;

typedef struct worker {
    struct cdr_rater *wk_rt;
    unsigned wk_ix;
    pthread_t wk_thread;
    ctr_tab wk_ctr;
    cdr_rate_stats wk_stats;
    uint32_t wk_cur_code; /* the currency of wk_stats.rs_currency[wk_cur_ix], if >= 0 */
    int wk_cur_ix;
    int wk_cur_over; /* a rated record found no room in wk_stats.rs_currency */
    int wk_err;
    cdr_alert *wk_alerts; /* raised in this batch, in record order */
    size_t wk_nalerts, wk_capalerts;
    fr_tab wk_fraud;
} worker;

struct cdr_rater {
    unsigned rt_threads;
    const cdr_subtab *rt_subs;
    const cdr_sub *rt_sub0;       /* base of the subscriber array */
    pthread_mutex_t rt_snap_lock; /* guards rt_snap pointer swaps only (not held while rating) */
    rating_snap *rt_snap;
    worker *rt_workers;
    pthread_barrier_t rt_bar;
    int rt_quit;
    /* the batch in progress */
    rating_snap *rt_bsnap; /* the snapshot of the last batch, kept until the next one */
    const cdr_record *rt_recs;
    cdr_rated *rt_out;
    size_t rt_n;
    int32_t *rt_subix;        /* [n] subscriber index or -1 */
    const int32_t *rt_given;  /* the batch's subscriber indexes from the caller, or NULL */
    uint8_t *rt_shard;        /* [n] */
    const cdr_plan **rt_plan; /* [n] the plan version that rated each record (of rt_bsnap) */
    size_t rt_cap;
    cdr_credit_config rt_credit;
    cdr_fraud_rules *rt_fraud; /* NULL = no rules */
    cdr_alert *rt_alerts;      /* the last batch's, merged from the workers in record order */
    size_t rt_nalerts, rt_capalerts;
    /* closed billing cycles (cdr_rater_set_closed): sorted, unique; and the forced cycle */
    uint32_t *rt_closed;
    size_t rt_nclosed;
    uint32_t rt_force; /* 0 = off */
    int rt_remap;      /* rt_nclosed or rt_force: a record may be billed in another cycle */
};

/* Records are resolved and rated in sub-chunks small enough that the subscriber entries that
 * phase 1 brought into the cache are still there in phase 2. */
#define RATER_CHUNK 2048
#define RATER_AHEAD 16 /* prefetch distance of the rate phase, in records of the shard */

static void snap_release(rating_snap *rs)
{
    if (rs && atomic_fetch_sub(&rs->rs_refs, 1) == 1) {
        cdr_plan_set_release(rs->rs_plans);
        free(rs->rs_family);
        free(rs);
    }
}

static int snap_build(const cdr_subtab *tab, cdr_plan_set *ps, rating_snap **out)
{
    size_t n = cdr_subtab_count(tab);
    rating_snap *rs = calloc(1, sizeof *rs);
    if (!rs)
        return CDR_ENOMEM;
    rs->rs_family = malloc((n ? n : 1) * sizeof *rs->rs_family);
    cdr_mem_hugepages(rs->rs_family, n * sizeof *rs->rs_family);
    if (!rs->rs_family) {
        free(rs);
        return CDR_ENOMEM;
    }
    /* Subscribers share few plan ids: remember the last lookup. */
    const char *last = NULL;
    int32_t lastfam = -1;
    for (size_t i = 0; i < n; i++) {
        const cdr_sub *su = cdr_subtab_at(tab, i);
        if (!last || strcmp(last, su->su_plan) != 0) {
            last = su->su_plan;
            lastfam = cdr_plan_set_family(ps, su->su_plan);
        }
        rs->rs_family[i] = lastfam;
    }
    rs->rs_plans = cdr_plan_set_retain(ps);
    atomic_init(&rs->rs_refs, 1);
    *out = rs;
    return 0;
}

/* The entry of currency cur (4 bytes, NUL-terminated) in the worker's batch stats, added when
 * new; NULL (and wk_cur_over set) when there is no room. Records come in runs of one currency:
 * the last one is remembered. */
static cdr_rate_currency *worker_currency(worker *wk, const char *cur)
{
    uint32_t code;
    memcpy(&code, cur, sizeof code);
    cdr_rate_stats *ws = &wk->wk_stats;
    if (wk->wk_cur_ix >= 0 && code == wk->wk_cur_code)
        return &ws->rs_currency[wk->wk_cur_ix];
    int k = 0;
    while (k < ws->rs_ncurrencies && memcmp(ws->rs_currency[k].rc_currency, cur, 4) != 0)
        k++;
    if (k == ws->rs_ncurrencies) {
        if (k == CDR_RATE_MAX_CURRENCIES) {
            wk->wk_cur_over = 1;
            return NULL;
        }
        memcpy(ws->rs_currency[k].rc_currency, cur, 4);
        ws->rs_ncurrencies++;
    }
    wk->wk_cur_code = code;
    wk->wk_cur_ix = k;
    return &ws->rs_currency[k];
}

/* Add the money of one currency to stats, keeping rs_currency sorted by code. CDR_LIMIT when
 * the currency is new and there is no room. */
static int stats_add_currency(cdr_rate_stats *stats, const cdr_rate_currency *src)
{
    int k = 0, c = 1;
    while (k < stats->rs_ncurrencies &&
           (c = memcmp(stats->rs_currency[k].rc_currency, src->rc_currency, 4)) < 0)
        k++;
    if (k == stats->rs_ncurrencies || c != 0) {
        if (stats->rs_ncurrencies == CDR_RATE_MAX_CURRENCIES)
            return CDR_LIMIT;
        memmove(&stats->rs_currency[k + 1], &stats->rs_currency[k],
                (size_t)(stats->rs_ncurrencies - k) * sizeof stats->rs_currency[0]);
        memset(&stats->rs_currency[k], 0, sizeof stats->rs_currency[k]);
        memcpy(stats->rs_currency[k].rc_currency, src->rc_currency, 4);
        stats->rs_ncurrencies++;
    }
    cdr_rate_currency *dst = &stats->rs_currency[k];
    dst->rc_rated += src->rc_rated;
    for (int s = 0; s < CDR_SVC_COUNT; s++) {
        dst->rc_by_service[s] += src->rc_by_service[s];
        dst->rc_charge[s] += src->rc_charge[s];
    }
    return 0;
}

/* ---- credit control and usage alerts --------------------------------------------------------- */

/* ceil(limit * pct / 100) without overflow. */
static uint64_t threshold_of(uint64_t limit, unsigned pct)
{
    return limit / 100 * pct + (limit % 100 * pct + 99) / 100;
}

static uint64_t currency_tag(const char *cur)
{
    return (uint64_t)(unsigned char)cur[0] << 16 | (uint64_t)(unsigned char)cur[1] << 8 |
           (unsigned char)cur[2];
}

/* A new alert of the record rr (of the batch) of line su; NULL (wk_err set) without memory. */
static cdr_alert *alert_new(cdr_rater *rt, worker *wk, const cdr_sub *su, const cdr_record *cr,
                            const cdr_rated *rr, int kind, unsigned pct)
{
    if (wk->wk_nalerts == wk->wk_capalerts) {
        size_t cap = wk->wk_capalerts ? 2 * wk->wk_capalerts : 64;
        cdr_alert *na = realloc(wk->wk_alerts, cap * sizeof *na);
        if (!na) {
            wk->wk_err = CDR_ENOMEM;
            return NULL;
        }
        wk->wk_alerts = na;
        wk->wk_capalerts = cap;
    }
    cdr_alert *al = &wk->wk_alerts[wk->wk_nalerts++];
    memset(al, 0, sizeof *al);
    al->al_index = (uint32_t)(rr - rt->rt_out);
    al->al_kind = (uint8_t)kind;
    al->al_pct = (uint8_t)pct;
    al->al_service = rr->rr_service;
    al->al_cycle = rr->rr_cycle;
    al->al_subscriber = su->su_id;
    al->al_account = su->su_account;
    al->al_enterprise = su->su_enterprise;
    memcpy(al->al_msisdn, su->su_msisdn, sizeof al->al_msisdn);
    memcpy(al->al_manager, su->su_manager, sizeof al->al_manager);
    memcpy(al->al_currency, rr->rr_currency, sizeof al->al_currency);
    al->al_time = cr->cr_start;
    return al;
}

/* Raise the thresholds of pcts[0..n) of limit that used reached and the bit mask counter (holder,
 * cycle, atag) has not seen yet. fill completes each alert. */
static void raise_thresholds(cdr_rater *rt, worker *wk, const cdr_sub *su, const cdr_record *cr,
                             const cdr_rated *rr, uint64_t holder, uint64_t atag, int kind,
                             const uint8_t *pcts, unsigned n, uint64_t limit, uint64_t used,
                             const char *bundle, unsigned status)
{
    if (!n || !limit || used < threshold_of(limit, pcts[0]))
        return;
    const ctr_ent *ce = ctr_find(&wk->wk_ctr, holder, rr->rr_cycle, atag);
    const uint64_t done = ce ? ce->ce_used : 0;
    uint64_t now = done;
    for (unsigned i = 0; i < n; i++) {
        const uint64_t thr = threshold_of(limit, pcts[i]);
        if (used < thr || (done >> i & 1))
            continue;
        now |= 1ULL << i;
        cdr_alert *al = alert_new(rt, wk, su, cr, rr, kind, pcts[i]);
        if (!al)
            return;
        al->al_used = (int64_t)used;
        al->al_limit = (int64_t)limit;
        al->al_threshold = (int64_t)thr;
        al->al_status = (uint8_t)status;
        if (bundle)
            snprintf(al->al_bundle, sizeof al->al_bundle, "%s", bundle);
    }
    if (now != done) {
        int rc = ctr_put(&wk->wk_ctr, holder, rr->rr_cycle, atag, su->su_owner, now, 1);
        if (rc)
            wk->wk_err = rc;
    }
}

/* The line status counter (CTR_STATUS): status in bits 0..3, the cdr_warn_reason of its warning in
 * bits 4..7 (0, credit limit, in counters written before overdue warnings), since << 8. */
#define STATUS_MASK  0x0fU
#define REASON_SHIFT 4

/* Credit control for one rated record: its account's charges in the cycle, the thresholds they
 * reach, and the line's status (warned by the credit limit or by the account's arrears). */
static void credit_record(cdr_rater *rt, worker *wk, const cdr_sub *su, const cdr_record *cr,
                          cdr_rated *rr)
{
    const int overdue = su->su_overdue;
    if ((su->su_credit_limit <= 0 && !overdue) || !su->su_account || !rr->rr_currency[0])
        return;
    const uint64_t ctag = currency_tag(rr->rr_currency);
    const uint32_t cycle = rr->rr_cycle;
    const uint64_t limit = su->su_credit_limit > 0 ? (uint64_t)su->su_credit_limit : 0;
    const ctr_ent *ce;
    uint64_t used = 0;
    if (limit) {
        ce = ctr_find(&wk->wk_ctr, su->su_account, cycle, CTR_SPEND | ctag);
        used = ce ? ce->ce_used : 0;
        if (rr->rr_charge > 0) {
            used += (uint64_t)rr->rr_charge;
            int rc = ctr_put(&wk->wk_ctr, su->su_account, cycle, CTR_SPEND | ctag, su->su_owner,
                             used, 1);
            if (rc) {
                wk->wk_err = rc;
                return;
            }
        }
    }
    /* the line's status: only a line at or over the limit, or of an overdue account, can have
     * left active in this cycle */
    unsigned status = CDR_LINE_ACTIVE, old = CDR_LINE_ACTIVE, reason = CDR_WARN_CREDIT_LIMIT;
    cdr_time since = 0;
    const int over = limit && used >= limit;
    if (over || overdue) {
        ce = ctr_find(&wk->wk_ctr, su->su_id, cycle, CTR_STATUS);
        old = ce ? (unsigned)(ce->ce_used & STATUS_MASK) : CDR_LINE_ACTIVE;
        reason = ce ? (unsigned)(ce->ce_used >> REASON_SHIFT & STATUS_MASK) : CDR_WARN_CREDIT_LIMIT;
        since = ce ? (cdr_time)(ce->ce_used >> 8) : 0;
        status = old;
        /* extended terms spare the credit limit only: an overdue account's due date already
         * held them */
        if (old == CDR_LINE_ACTIVE && (overdue || !su->su_credit_extended)) {
            status = CDR_LINE_WARNED;
            since = cr->cr_start > 0 ? cr->cr_start : 0;
            reason = overdue ? CDR_WARN_OVERDUE : CDR_WARN_CREDIT_LIMIT;
        } else if (old == CDR_LINE_WARNED && cr->cr_start - since >= rt->rt_credit.cc_grace) {
            status = CDR_LINE_SUSPENDED;
        }
        if (status != old) {
            int rc = ctr_put(&wk->wk_ctr, su->su_id, cycle, CTR_STATUS, su->su_owner,
                             (uint64_t)since << 8 | reason << REASON_SHIFT | status, 1);
            if (rc) {
                wk->wk_err = rc;
                return;
            }
        }
        if (status == CDR_LINE_SUSPENDED)
            rr->rr_flags |= CDR_RATED_FLAG_SUSPENDED;
        else if (status == CDR_LINE_WARNED)
            rr->rr_flags |= CDR_RATED_FLAG_WARNED;
    }
    if (limit)
        raise_thresholds(rt, wk, su, cr, rr, su->su_account, CTR_SPEND_ALERT | ctag,
                         CDR_ALERT_CREDIT, su->su_credit_warn, su->su_credit_nwarn, limit, used,
                         NULL, status);
    if (status != old) {
        cdr_alert *al =
            alert_new(rt, wk, su, cr, rr,
                      status == CDR_LINE_WARNED ? CDR_ALERT_WARNED : CDR_ALERT_SUSPENDED, 100);
        if (al) {
            al->al_status = (uint8_t)status;
            al->al_used = (int64_t)used;
            al->al_limit = al->al_threshold = (int64_t)limit;
            al->al_since = since;
            al->al_reason = (uint8_t)reason;
            if (overdue) {
                memcpy(al->al_overdue_currency, su->su_overdue_currency,
                       sizeof al->al_overdue_currency);
                al->al_overdue_amount = su->su_overdue_amount;
                al->al_overdue_due = su->su_overdue_due;
            }
        }
    }
}

/* Bundle and pool thresholds for a counter that went to used (of limit units). */
static void bundle_thresholds(cdr_rater *rt, worker *wk, const cdr_sub *su, const cdr_record *cr,
                              const cdr_rated *rr, uint64_t holder, uint64_t tag, int kind,
                              const char *name, uint64_t limit, uint64_t used)
{
    const cdr_credit_config *cc = &rt->rt_credit;
    raise_thresholds(rt, wk, su, cr, rr, holder, CTR_BUNDLE_ALERT | (tag & CTR_LOW48), kind,
                     cc->cc_bundle_warn, cc->cc_nbundle_warn, limit, used, name, 0);
}

/* Fraud rules on one rated record (pl: its plan, for the zone). */
static void fraud_record(cdr_rater *rt, worker *wk, const cdr_sub *su, const cdr_record *cr,
                         const cdr_rated *rr, const cdr_plan *pl)
{
    const cdr_fraud_rules *frs = rt->rt_fraud;
    const cdr_zone *zo =
        rr->rr_zone >= 0 && rr->rr_zone < (int)pl->pl_nzones ? &pl->pl_zones[rr->rr_zone] : NULL;
    for (uint32_t r = 0; r < frs->frs_nrules; r++) {
        const cdr_fraud_rule *fr = &frs->frs_rules[r];
        if (!cdr_fraud_applies(fr, cr, rr, zo))
            continue;
        fr_ent *fe = fr_find(&wk->wk_fraud, su->su_id, r);
        if (!fe) {
            cdr_fraud_line init;
            cdr_fraud_line_init(&init, fr);
            fe = fr_get(&wk->wk_fraud, su->su_id, r, su->su_owner, &init);
        }
        if (!fe || fr_mark(&wk->wk_fraud, fe)) {
            wk->wk_err = CDR_ENOMEM;
            return;
        }
        cdr_fraud_hit hit;
        if (cdr_fraud_eval(fr, &fe->fe_st, cr, rr, zo, &hit) != 1)
            continue;
        cdr_alert *al = alert_new(rt, wk, su, cr, rr, CDR_ALERT_FRAUD, 0);
        if (!al)
            return;
        snprintf(al->al_rule, sizeof al->al_rule, "%s", hit.fh_name);
        al->al_rule_kind = hit.fh_kind;
        al->al_used = (int64_t)hit.fh_sum;
        al->al_threshold = (int64_t)hit.fh_threshold;
        al->al_window_start = hit.fh_window_start;
        al->al_window_end = hit.fh_window_end;
        al->al_country[0] = hit.fh_country[0];
        al->al_country[1] = hit.fh_country[1];
    }
}

/* The cycle a record of natural cycle `natural` is billed in: the forced cycle, else the first
 * cycle from `natural` on that is not closed. */
static uint32_t billed_cycle(const cdr_rater *rt, uint32_t natural)
{
    if (rt->rt_force)
        return rt->rt_force;
    const uint32_t *cl = rt->rt_closed;
    size_t lo = 0, hi = rt->rt_nclosed;
    if (!hi || natural < cl[0] || natural > cl[hi - 1])
        return natural;
    while (lo < hi) { /* the first closed cycle >= natural */
        const size_t mid = lo + (hi - lo) / 2;
        if (cl[mid] < natural)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t c = natural;
    while (lo < rt->rt_nclosed && cl[lo] == c) {
        const uint32_t next = cdr_cycle_next(c);
        if (!next)
            break; /* 9999-12 closed: nothing after it, stays there */
        c = next;
        lo++;
    }
    return c;
}

static void rate_one(cdr_rater *rt, worker *wk, const cdr_record *cr, int32_t subix,
                     const cdr_plan *pl, uint32_t cycle, cdr_rated *rr)
{
    memset(rr, 0, sizeof *rr);
    rr->rr_service = cr->cr_service;
    rr->rr_zone = CDR_NO_ZONE;
    rr->rr_bundle = -1;
    int reason = CDR_REASON_NONE;
    const cdr_sub *su = subix >= 0 ? &rt->rt_sub0[subix] : NULL;
    if (cr->cr_service >= CDR_SVC_COUNT || cr->cr_direction >= CDR_DIR_COUNT)
        reason = CDR_REASON_BAD_RECORD;
    else if (!su)
        reason = CDR_REASON_UNKNOWN_SUBSCRIBER;
    else if (cr->cr_start < su->su_active_from || cr->cr_start >= su->su_active_to)
        reason = CDR_REASON_SUBSCRIBER_INACTIVE;
    else if (!pl)
        reason = CDR_REASON_NO_PLAN;
    if (reason != CDR_REASON_NONE) {
        rr->rr_reason = (uint8_t)reason;
        wk->wk_stats.rs_records++;
        wk->wk_stats.rs_unratable[reason]++;
        return;
    }

    cdr_counters bc;
    uint64_t before[CDR_PLAN_MAX_BUNDLES];
    uint64_t mbefore[CDR_PLAN_MAX_BUNDLES];
    uint64_t tag[CDR_PLAN_MAX_BUNDLES];
    int any = 0;
    for (unsigned b = 0; b < pl->pl_nbundles; b++) {
        const cdr_bundle *bu = &pl->pl_bundles[b];
        bc.bc_used[b] = bc.bc_limit[b] = bc.bc_member_used[b] = bc.bc_member_cap[b] = 0;
        if (bu->bu_service != cr->cr_service || cr->cr_direction != CDR_DIR_MO)
            continue;
        any = 1; /* cycle was computed by the caller for these records */
        const ctr_ent *ce;
        if (bu->bu_pool) {
            tag[b] = CTR_POOL | cr->cr_service;
            bc.bc_limit[b] = su->su_pool_units[cr->cr_service];
            bc.bc_member_cap[b] = su->su_member_cap[cr->cr_service];
            ce = ctr_find(&wk->wk_ctr, su->su_enterprise, cycle, tag[b]);
            bc.bc_used[b] = ce ? ce->ce_used : 0;
            ce = ctr_find(&wk->wk_ctr, su->su_id, cycle, CTR_MEMBER | cr->cr_service);
            bc.bc_member_used[b] = ce ? ce->ce_used : 0;
        } else {
            tag[b] = name_tag(bu->bu_name);
            bc.bc_limit[b] = bu->bu_units;
            ce = ctr_find(&wk->wk_ctr, su->su_id, cycle, tag[b]);
            bc.bc_used[b] = ce ? ce->ce_used : 0;
        }
        before[b] = bc.bc_used[b];
        mbefore[b] = bc.bc_member_used[b];
    }
    reason = cdr_rules_rate(pl, cr, any ? &bc : NULL, rr);
    wk->wk_stats.rs_records++;
    if (reason != CDR_REASON_NONE) {
        wk->wk_stats.rs_unratable[reason < CDR_REASON_COUNT ? reason : CDR_REASON_BAD_RECORD]++;
        return;
    }
    if (rt->rt_remap && rr->rr_cycle != cycle) {
        /* its own cycle is closed (or another is forced): billed in `cycle`, whose counters
         * were passed to the evaluator */
        rr->rr_cycle = cycle;
        rr->rr_flags |= CDR_RATED_FLAG_LATE;
        wk->wk_stats.rs_late++;
    }
    const unsigned svc = cr->cr_service;
    wk->wk_stats.rs_rated++;
    wk->wk_stats.rs_by_service[svc]++;
    wk->wk_stats.rs_bundle_units[svc] += rr->rr_bundle_units;
    wk->wk_stats.rs_overflow_units[svc] += rr->rr_overflow_units;
    wk->wk_stats.rs_free_units[svc] += rr->rr_free_units;
    cdr_rate_currency *cur = worker_currency(wk, rr->rr_currency);
    if (cur) {
        cur->rc_rated++;
        cur->rc_by_service[svc]++;
        cur->rc_charge[svc] += rr->rr_charge;
    }
    const int credit = rt->rt_credit.cc_on;
    if (credit)
        credit_record(rt, wk, su, cr, rr);
    if (credit && rt->rt_fraud)
        fraud_record(rt, wk, su, cr, rr, pl);
    if (!any || rr->rr_bundle < 0)
        return;
    unsigned b = (unsigned)rr->rr_bundle;
    const cdr_bundle *bu = &pl->pl_bundles[b];
    int rc = 0;
    if (bu->bu_pool) {
        if (bc.bc_used[b] != before[b]) {
            rc = ctr_put(&wk->wk_ctr, su->su_enterprise, cycle, tag[b], su->su_owner, bc.bc_used[b],
                         1);
            if (credit && !rc)
                bundle_thresholds(rt, wk, su, cr, rr, su->su_enterprise, tag[b], CDR_ALERT_POOL,
                                  bu->bu_name, bc.bc_limit[b], bc.bc_used[b]);
        }
        if (!rc && bc.bc_member_used[b] != mbefore[b])
            rc = ctr_put(&wk->wk_ctr, su->su_id, cycle, CTR_MEMBER | cr->cr_service, su->su_owner,
                         bc.bc_member_used[b], 1);
    } else if (bc.bc_used[b] != before[b]) {
        rc = ctr_put(&wk->wk_ctr, su->su_id, cycle, tag[b], su->su_owner, bc.bc_used[b], 1);
        if (credit && !rc)
            bundle_thresholds(rt, wk, su, cr, rr, su->su_id, tag[b], CDR_ALERT_BUNDLE, bu->bu_name,
                              bc.bc_limit[b], bc.bc_used[b]);
    }
    if (rc)
        wk->wk_err = rc;
}

static unsigned shard_of(uint64_t owner, unsigned threads)
{
    return (unsigned)(cdr_mix64(owner) % threads);
}

/* Phase 1 for records [lo, hi) of the batch: this worker's slice of them. */
static void phase_resolve(cdr_rater *rt, unsigned ix, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    size_t a = lo + n * ix / rt->rt_threads, b = lo + n * (ix + 1) / rt->rt_threads;
    if (rt->rt_given)
        memcpy(rt->rt_subix + a, rt->rt_given + a, (b - a) * sizeof *rt->rt_subix);
    else
        cdr_subtab_find_records(rt->rt_subs, rt->rt_recs + a, b - a, rt->rt_subix + a);
    for (size_t i = a; i < b; i++) {
        int32_t si = rt->rt_subix[i];
        rt->rt_shard[i] = (uint8_t)(si >= 0 ? shard_of(rt->rt_sub0[si].su_owner, rt->rt_threads)
                                            : i % rt->rt_threads);
    }
}

/* Phase 2 for records [lo, hi): rate this worker's shard in order, as a pipeline that prefetches
 * the subscriber entry RATER_AHEAD records ahead and the counters half as far ahead. */
static void phase_rate(cdr_rater *rt, worker *wk, size_t lo, size_t hi)
{
    const uint8_t me = (uint8_t)wk->wk_ix;
    const rating_snap *rs = rt->rt_bsnap;
    const int credit = rt->rt_credit.cc_on;
    const int remap = rt->rt_remap;
    uint32_t mine[RATER_CHUNK];
    const cdr_plan *plan[RATER_CHUNK];
    uint32_t cycle[RATER_CHUNK];
    size_t m = 0;
    for (size_t i = lo; i < hi; i++)
        if (rt->rt_shard[i] == me)
            mine[m++] = (uint32_t)i;
    for (size_t k = 0; k < m + RATER_AHEAD; k++) {
        if (k < m) {
            int32_t si = rt->rt_subix[mine[k]];
            if (si >= 0) {
                __builtin_prefetch(&rt->rt_sub0[si]);
                __builtin_prefetch(&rs->rs_family[si]);
            }
        }
        if (k >= RATER_AHEAD / 2 && k - RATER_AHEAD / 2 < m) {
            size_t j = k - RATER_AHEAD / 2;
            const cdr_record *cr = &rt->rt_recs[mine[j]];
            int32_t si = rt->rt_subix[mine[j]];
            plan[j] = NULL;
            cycle[j] = 0;
            if (si >= 0 && rs->rs_family[si] >= 0) {
                const cdr_sub *su = &rt->rt_sub0[si];
                const cdr_plan *pl = cdr_plan_set_at(rs->rs_plans, rs->rs_family[si], cr->cr_start);
                plan[j] = pl;
                if (pl && remap) /* the cycle it is billed in, whose counters it uses */
                    cycle[j] = billed_cycle(rt, cdr_rules_cycle(pl, cr->cr_start));
                if (pl && pl->pl_nbundles && cr->cr_direction == CDR_DIR_MO) {
                    if (!remap)
                        cycle[j] = cdr_rules_cycle(pl, cr->cr_start);
                    ctr_prefetch(&wk->wk_ctr, su->su_id, cycle[j]);
                    if (su->su_enterprise)
                        ctr_prefetch(&wk->wk_ctr, su->su_enterprise, cycle[j]);
                }
                if (pl && credit && su->su_credit_limit > 0) /* the account's charges */
                    ctr_prefetch(&wk->wk_ctr, su->su_account,
                                 cycle[j] ? cycle[j] : cdr_rules_cycle(pl, cr->cr_start));
            }
        }
        if (k >= RATER_AHEAD) {
            size_t j = k - RATER_AHEAD;
            rt->rt_plan[mine[j]] = plan[j];
            rate_one(rt, wk, &rt->rt_recs[mine[j]], rt->rt_subix[mine[j]], plan[j], cycle[j],
                     &rt->rt_out[mine[j]]);
        }
    }
}

/* The whole batch, as worker wk: resolve chunk 0; then for each chunk c, after the barrier,
 * rate chunk c and resolve chunk c + 1 (different records: no conflict). */
static void run_batch(cdr_rater *rt, worker *wk)
{
    size_t n = rt->rt_n;
    phase_resolve(rt, wk->wk_ix, 0, n < RATER_CHUNK ? n : RATER_CHUNK);
    for (size_t lo = 0; lo < n; lo += RATER_CHUNK) {
        size_t hi = n - lo < RATER_CHUNK ? n : lo + RATER_CHUNK;
        if (rt->rt_threads > 1)
            pthread_barrier_wait(&rt->rt_bar);
        phase_rate(rt, wk, lo, hi);
        if (hi < n)
            phase_resolve(rt, wk->wk_ix, hi, n - hi < RATER_CHUNK ? n : hi + RATER_CHUNK);
    }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    cdr_rater *rt = wk->wk_rt;
    for (;;) {
        pthread_barrier_wait(&rt->rt_bar);
        if (rt->rt_quit)
            return NULL;
        run_batch(rt, wk);
        pthread_barrier_wait(&rt->rt_bar);
    }
}

int cdr_rater_create(unsigned threads, cdr_plan_set *ps, const cdr_subtab *tab, cdr_rater **out)
{
    *out = NULL;
    if (threads < 1 || threads > 255 || !ps || !tab)
        return CDR_EINVAL;
    cdr_rater *rt = calloc(1, sizeof *rt);
    if (!rt)
        return CDR_ENOMEM;
    rt->rt_threads = threads;
    rt->rt_subs = tab;
    rt->rt_sub0 = cdr_subtab_at(tab, 0);
    pthread_mutex_init(&rt->rt_snap_lock, NULL);
    rt->rt_workers = calloc(threads, sizeof *rt->rt_workers);
    int rc = rt->rt_workers ? snap_build(tab, ps, &rt->rt_snap) : CDR_ENOMEM;
    if (rc) {
        free(rt->rt_workers);
        pthread_mutex_destroy(&rt->rt_snap_lock);
        free(rt);
        return rc;
    }
    for (unsigned i = 0; i < threads; i++) {
        rt->rt_workers[i].wk_rt = rt;
        rt->rt_workers[i].wk_ix = i;
    }
    if (threads > 1) {
        pthread_barrier_init(&rt->rt_bar, NULL, threads);
        for (unsigned i = 1; i < threads; i++)
            pthread_create(&rt->rt_workers[i].wk_thread, NULL, worker_main, &rt->rt_workers[i]);
    }
    *out = rt;
    return 0;
}

void cdr_rater_destroy(cdr_rater *rt)
{
    if (!rt)
        return;
    if (rt->rt_threads > 1) {
        rt->rt_quit = 1;
        pthread_barrier_wait(&rt->rt_bar);
        for (unsigned i = 1; i < rt->rt_threads; i++)
            pthread_join(rt->rt_workers[i].wk_thread, NULL);
        pthread_barrier_destroy(&rt->rt_bar);
    }
    for (unsigned i = 0; i < rt->rt_threads; i++) {
        free(rt->rt_workers[i].wk_ctr.ct_ents);
        free(rt->rt_workers[i].wk_ctr.ct_chg);
        free(rt->rt_workers[i].wk_alerts);
        fr_free(&rt->rt_workers[i].wk_fraud);
    }
    free(rt->rt_alerts);
    free(rt->rt_fraud);
    free(rt->rt_closed);
    free(rt->rt_workers);
    snap_release(rt->rt_snap);
    snap_release(rt->rt_bsnap);
    pthread_mutex_destroy(&rt->rt_snap_lock);
    free(rt->rt_subix);
    free(rt->rt_shard);
    free(rt->rt_plan);
    free(rt);
}

int cdr_rater_set_plans(cdr_rater *rt, cdr_plan_set *ps)
{
    rating_snap *rs;
    int rc = snap_build(rt->rt_subs, ps, &rs); /* the slow part, outside the lock */
    if (rc)
        return rc;
    pthread_mutex_lock(&rt->rt_snap_lock);
    rating_snap *old = rt->rt_snap;
    rt->rt_snap = rs;
    pthread_mutex_unlock(&rt->rt_snap_lock);
    snap_release(old);
    return 0;
}

static rating_snap *snap_acquire(cdr_rater *rt)
{
    pthread_mutex_lock(&rt->rt_snap_lock);
    rating_snap *rs = rt->rt_snap;
    atomic_fetch_add(&rs->rs_refs, 1);
    pthread_mutex_unlock(&rt->rt_snap_lock);
    return rs;
}

int cdr_rater_set_subtab(cdr_rater *rt, const cdr_subtab *tab, cdr_plan_set *ps)
{
    if (!rt || !tab)
        return CDR_EINVAL;
    rating_snap *cur = snap_acquire(rt);
    rating_snap *rs;
    /* the families are indexed by the table's entries: a new table needs a new snapshot */
    int rc = snap_build(tab, ps ? ps : cur->rs_plans, &rs);
    snap_release(cur);
    if (rc)
        return rc;
    pthread_mutex_lock(&rt->rt_snap_lock);
    rating_snap *old = rt->rt_snap;
    rt->rt_snap = rs;
    rt->rt_subs = tab;
    rt->rt_sub0 = cdr_subtab_at(tab, 0);
    pthread_mutex_unlock(&rt->rt_snap_lock);
    snap_release(old);
    return 0;
}

/* The workers' alerts in record order: each worker's are in record order already (it rates its
 * shard in batch order, and a record belongs to one shard). */
static int merge_alerts(cdr_rater *rt)
{
    size_t total = 0;
    for (unsigned w = 0; w < rt->rt_threads; w++)
        total += rt->rt_workers[w].wk_nalerts;
    if (!total)
        return 0;
    if (total > rt->rt_capalerts) {
        cdr_alert *na = realloc(rt->rt_alerts, total * sizeof *na);
        if (!na)
            return CDR_ENOMEM;
        rt->rt_alerts = na;
        rt->rt_capalerts = total;
    }
    size_t head[256] = {0};
    for (size_t k = 0; k < total; k++) {
        unsigned best = 0;
        int found = 0;
        for (unsigned w = 0; w < rt->rt_threads; w++) {
            const worker *wk = &rt->rt_workers[w];
            if (head[w] < wk->wk_nalerts &&
                (!found || wk->wk_alerts[head[w]].al_index <
                               rt->rt_workers[best].wk_alerts[head[best]].al_index)) {
                best = w;
                found = 1;
            }
        }
        rt->rt_alerts[k] = rt->rt_workers[best].wk_alerts[head[best]++];
    }
    rt->rt_nalerts = total;
    return 0;
}

const cdr_alert *cdr_rater_alerts(const cdr_rater *rt, size_t *n)
{
    *n = rt->rt_nalerts;
    return rt->rt_alerts;
}

int cdr_rater_set_credit(cdr_rater *rt, const cdr_credit_config *cc)
{
    if (!rt || !cc || cc->cc_grace < 0 || cc->cc_nbundle_warn > CDR_CREDIT_MAX_BUNDLE_WARN)
        return CDR_EINVAL;
    for (unsigned i = 0; i < cc->cc_nbundle_warn; i++)
        if (cc->cc_bundle_warn[i] < 1 || cc->cc_bundle_warn[i] > 100 ||
            (i && cc->cc_bundle_warn[i] <= cc->cc_bundle_warn[i - 1]))
            return CDR_EINVAL;
    rt->rt_credit = *cc;
    return 0;
}

int cdr_rater_set_fraud(cdr_rater *rt, const cdr_fraud_rules *rules)
{
    cdr_fraud_rules *copy = NULL;
    if (rules && rules->frs_nrules) {
        if (!(copy = malloc(sizeof *copy)))
            return CDR_ENOMEM;
        *copy = *rules;
    }
    free(rt->rt_fraud);
    rt->rt_fraud = copy;
    return 0;
}

static int cycle_cmp(const void *a, const void *b)
{
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int cdr_rater_set_closed(cdr_rater *rt, const uint32_t *cycles, size_t n)
{
    if (!rt || (n && !cycles))
        return CDR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!cdr_cycle_valid(cycles[i]))
            return CDR_EINVAL;
    uint32_t *cl = NULL;
    size_t m = 0;
    if (n) {
        if (!(cl = malloc(n * sizeof *cl)))
            return CDR_ENOMEM;
        memcpy(cl, cycles, n * sizeof *cl);
        qsort(cl, n, sizeof *cl, cycle_cmp);
        for (size_t i = 0; i < n; i++)
            if (!m || cl[m - 1] != cl[i])
                cl[m++] = cl[i];
    }
    free(rt->rt_closed);
    rt->rt_closed = cl;
    rt->rt_nclosed = m;
    rt->rt_remap = rt->rt_nclosed || rt->rt_force;
    return 0;
}

int cdr_rater_force_cycle(cdr_rater *rt, uint32_t cycle)
{
    if (!rt || (cycle && !cdr_cycle_valid(cycle)))
        return CDR_EINVAL;
    rt->rt_force = cycle;
    rt->rt_remap = rt->rt_nclosed || rt->rt_force;
    return 0;
}

int cdr_rater_rate(cdr_rater *rt, const cdr_record *recs, size_t n, cdr_rated *out,
                   cdr_rate_stats *stats)
{
    return cdr_rater_rate_resolved(rt, recs, NULL, n, out, stats);
}

int cdr_rater_rate_resolved(cdr_rater *rt, const cdr_record *recs, const int32_t *subix, size_t n,
                            cdr_rated *out, cdr_rate_stats *stats)
{
    rt->rt_nalerts = 0;
    if (n == 0)
        return 0;
    if (n > rt->rt_cap) {
        int32_t *si = realloc(rt->rt_subix, n * sizeof *si);
        if (si)
            rt->rt_subix = si;
        uint8_t *sh = realloc(rt->rt_shard, n);
        if (sh)
            rt->rt_shard = sh;
        const cdr_plan **pp = realloc(rt->rt_plan, n * sizeof *pp);
        if (pp)
            rt->rt_plan = pp;
        if (!si || !sh || !pp)
            return CDR_ENOMEM;
        rt->rt_cap = n;
    }
    snap_release(rt->rt_bsnap); /* the previous batch's plans are no longer needed */
    rt->rt_bsnap = snap_acquire(rt);
    rt->rt_recs = recs;
    rt->rt_given = subix;
    rt->rt_out = out;
    rt->rt_n = n;
    for (unsigned i = 0; i < rt->rt_threads; i++) {
        worker *wk = &rt->rt_workers[i];
        memset(&wk->wk_stats, 0, sizeof wk->wk_stats);
        wk->wk_cur_ix = -1;
        wk->wk_cur_over = 0;
        wk->wk_nalerts = 0;
    }
    rt->rt_nalerts = 0;
    if (rt->rt_threads > 1)
        pthread_barrier_wait(&rt->rt_bar);
    run_batch(rt, &rt->rt_workers[0]);
    if (rt->rt_threads > 1)
        pthread_barrier_wait(&rt->rt_bar);
    int err = 0;
    for (unsigned i = 0; i < rt->rt_threads; i++) {
        const worker *wk = &rt->rt_workers[i];
        if (wk->wk_err && !err)
            err = wk->wk_err;
        if (!stats)
            continue;
        stats->rs_records += wk->wk_stats.rs_records;
        stats->rs_rated += wk->wk_stats.rs_rated;
        for (int r = 0; r < CDR_REASON_COUNT; r++)
            stats->rs_unratable[r] += wk->wk_stats.rs_unratable[r];
        for (int s = 0; s < CDR_SVC_COUNT; s++) {
            stats->rs_by_service[s] += wk->wk_stats.rs_by_service[s];
            stats->rs_bundle_units[s] += wk->wk_stats.rs_bundle_units[s];
            stats->rs_overflow_units[s] += wk->wk_stats.rs_overflow_units[s];
            stats->rs_free_units[s] += wk->wk_stats.rs_free_units[s];
        }
        stats->rs_late += wk->wk_stats.rs_late;
        for (int k = 0; k < wk->wk_stats.rs_ncurrencies; k++) {
            int rc = stats_add_currency(stats, &wk->wk_stats.rs_currency[k]);
            if (rc && !err)
                err = rc;
        }
        if (wk->wk_cur_over && !err)
            err = CDR_LIMIT;
    }
    if (!err)
        err = merge_alerts(rt);
    return err;
}

const cdr_plan *cdr_rater_batch_plan(const cdr_rater *rt, size_t i)
{
    return i < rt->rt_n ? rt->rt_plan[i] : NULL;
}

/* ---- counters in the store ------------------------------------------------------------------
 * key: holder be64, cycle be32, tag be64 (20 bytes); value: used le64, owner le64. */

int cdr_rater_counters_load(cdr_rater *rt, cdr_store *st, cdr_diag *dg)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin counters read", dg);
    rc = mdb_dbi_open(txn, CDR_DB_COUNTERS, 0, &dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return 0; /* no counters yet */
    }
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "open counters", dg);
    }
    MDB_val k, v;
    int err = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !err;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 20 || v.mv_size != 16) {
            err = cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0, "corrupt counter entry");
            break;
        }
        const uint8_t *kp = k.mv_data;
        uint64_t used, owner;
        memcpy(&used, v.mv_data, 8);
        memcpy(&owner, (const uint8_t *)v.mv_data + 8, 8);
        worker *wk = &rt->rt_workers[shard_of(owner, rt->rt_threads)];
        err = ctr_put(&wk->wk_ctr, cdr_get_be(kp, 8), (uint32_t)cdr_get_be(kp + 8, 4),
                      cdr_get_be(kp + 12, 8), owner, used, 0);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (err)
        return err;
    return rc == MDB_NOTFOUND ? 0 : cdr_store_err(rc, "read counters", dg);
}

static int counters_put(cdr_rater *rt, MDB_txn *txn, cdr_diag *dg)
{
    MDB_dbi dbi;
    int rc = cdr_store_dbi(txn, CDR_DB_COUNTERS, MDB_CREATE, &dbi, dg);
    for (unsigned w = 0; w < rt->rt_threads && !rc; w++) {
        ctr_tab *ct = &rt->rt_workers[w].wk_ctr;
        for (size_t i = 0; ct->ct_ents && i <= ct->ct_mask && !rc; i++) {
            ctr_ent *ce = &ct->ct_ents[i];
            if ((ce->ce_flags & 3) != 3)
                continue;
            uint8_t kb[20], vb[16];
            cdr_put_be(kb, ce->ce_holder, 8);
            cdr_put_be(kb + 8, ce->ce_cycle, 4);
            cdr_put_be(kb + 12, ce->ce_tag, 8);
            memcpy(vb, &ce->ce_used, 8);
            memcpy(vb + 8, &ce->ce_owner, 8);
            MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
            rc = mdb_put(txn, dbi, &k, &v, 0);
            if (rc)
                rc = cdr_store_err(rc, "write counter", dg);
        }
    }
    return rc;
}

int cdr_rater_counters_save_with(cdr_rater *rt, cdr_store *st, cdr_rater_save_fn also, void *arg,
                                 cdr_diag *dg)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, 0, &txn);
    if (rc)
        return cdr_store_err(rc, "begin counters write", dg);
    if ((rc = counters_put(rt, txn, dg)) != 0 || (also && (rc = also(txn, arg, dg)) != 0)) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit counters", dg);
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        ctr_tab *ct = &rt->rt_workers[w].wk_ctr;
        for (size_t i = 0; ct->ct_ents && i <= ct->ct_mask; i++)
            ct->ct_ents[i].ce_flags &= ~2u;
    }
    return 0;
}

int cdr_rater_counters_save(cdr_rater *rt, cdr_store *st, cdr_diag *dg)
{
    return cdr_rater_counters_save_with(rt, st, NULL, NULL, dg);
}

size_t cdr_rater_counter_count(const cdr_rater *rt)
{
    size_t n = 0;
    for (unsigned w = 0; w < rt->rt_threads; w++)
        n += rt->rt_workers[w].wk_ctr.ct_n;
    return n;
}

uint64_t cdr_rater_counter_get(const cdr_rater *rt, uint64_t holder, uint32_t cycle,
                               const char *bundle_name, int service, int pool)
{
    uint64_t tag = pool ? (CTR_POOL | (uint64_t)service) : name_tag(bundle_name);
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        const ctr_ent *ce = ctr_find(&rt->rt_workers[w].wk_ctr, holder, cycle, tag);
        if (ce)
            return ce->ce_used;
    }
    return 0;
}

/* ---- counter changes for a changelog (cdr_stream.h) ------------------------------------------ */

void cdr_rater_track_changes(cdr_rater *rt, int on)
{
    for (unsigned w = 0; w < rt->rt_threads; w++)
        rt->rt_workers[w].wk_ctr.ct_track = on;
}

int cdr_rater_counters_changed(cdr_rater *rt, cdr_counter_change_fn fn, void *arg)
{
    int rc = 0;
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        ctr_tab *ct = &rt->rt_workers[w].wk_ctr;
        for (size_t i = 0; i < ct->ct_nchg; i++) {
            const ctr_key *ck = &ct->ct_chg[i];
            ctr_ent *ce = ctr_find(ct, ck->ck_holder, ck->ck_cycle, ck->ck_tag);
            if (!ce || !(ce->ce_flags & 4))
                continue; /* dropped since */
            ce->ce_flags &= ~4u;
            if (rc)
                continue; /* clear the marks even after fn failed */
            const cdr_counter_change cc = {.cc_holder = ce->ce_holder,
                                           .cc_tag = ce->ce_tag,
                                           .cc_cycle = ce->ce_cycle,
                                           .cc_used = ce->ce_used,
                                           .cc_owner = ce->ce_owner};
            rc = fn(arg, &cc);
        }
        ct->ct_nchg = 0;
    }
    return rc;
}

int cdr_rater_counter_import(cdr_rater *rt, const cdr_counter_change *cc)
{
    worker *wk = &rt->rt_workers[shard_of(cc->cc_owner, rt->rt_threads)];
    return ctr_put(&wk->wk_ctr, cc->cc_holder, cc->cc_cycle, cc->cc_tag, cc->cc_owner, cc->cc_used,
                   0);
}

int cdr_rater_counters_drop(cdr_rater *rt, cdr_counter_keep_fn keep, void *arg)
{
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        ctr_tab *ct = &rt->rt_workers[w].wk_ctr;
        ct->ct_nchg = 0;
        if (!ct->ct_ents)
            continue;
        ctr_tab nt = {.ct_track = ct->ct_track, .ct_chg = ct->ct_chg, .ct_capchg = ct->ct_capchg};
        for (size_t i = 0; i <= ct->ct_mask; i++) {
            const ctr_ent *ce = &ct->ct_ents[i];
            if (!(ce->ce_flags & 1) || !keep || !keep(arg, ce->ce_owner))
                continue;
            int rc =
                ctr_put(&nt, ce->ce_holder, ce->ce_cycle, ce->ce_tag, ce->ce_owner, ce->ce_used, 0);
            if (rc) {
                free(nt.ct_ents);
                return rc;
            }
            ctr_find(&nt, ce->ce_holder, ce->ce_cycle, ce->ce_tag)->ce_flags |= ce->ce_flags & 2;
        }
        free(ct->ct_ents);
        *ct = nt;
    }
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        fr_tab *ft = &rt->rt_workers[w].wk_fraud, nf = {0};
        for (size_t i = 0; i < ft->ft_n; i++) {
            const fr_ent *fe = &ft->ft_ents[i];
            if (!keep || !keep(arg, fe->fe_owner))
                continue;
            if (!fr_get(&nf, fe->fe_sub, fe->fe_rule, fe->fe_owner, &fe->fe_st)) {
                fr_free(&nf);
                return CDR_ENOMEM;
            }
        }
        fr_free(ft);
        *ft = nf;
    }
    return 0;
}

int cdr_rater_fraud_changed(cdr_rater *rt, cdr_fraud_change_fn fn, void *arg)
{
    int rc = 0;
    for (unsigned w = 0; w < rt->rt_threads; w++) {
        fr_tab *ft = &rt->rt_workers[w].wk_fraud;
        for (size_t i = 0; i < ft->ft_nchg; i++) {
            fr_ent *fe = &ft->ft_ents[ft->ft_chg[i]];
            fe->fe_changed = 0;
            if (rc)
                continue;
            const cdr_fraud_change fc = {.fc_subscriber = fe->fe_sub,
                                         .fc_owner = fe->fe_owner,
                                         .fc_rule = fe->fe_rule,
                                         .fc_state = &fe->fe_st};
            rc = fn(arg, &fc);
        }
        ft->ft_nchg = 0;
    }
    return rc;
}

int cdr_rater_fraud_import(cdr_rater *rt, const cdr_fraud_change *fc)
{
    worker *wk = &rt->rt_workers[shard_of(fc->fc_owner, rt->rt_threads)];
    fr_ent *fe = fr_get(&wk->wk_fraud, fc->fc_subscriber, fc->fc_rule, fc->fc_owner, fc->fc_state);
    if (!fe)
        return CDR_ENOMEM;
    fe->fe_st = *fc->fc_state;
    fe->fe_owner = fc->fc_owner;
    return 0;
}
