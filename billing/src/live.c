/* live.c - the live state of lines and accounts in the store, and the queries (cdr_live.h).
 *
 * Layout (CDR_LIVE_LAYOUT 2): live_lines  be64 subscriber + be32 cycle -> cdr_live_line;
 *                             live_accounts be64 account + be32 cycle -> cdr_live_account.
 * Values are the host's structs (the store is a local cache of sums that can be rebuilt from the
 * ledger), with ll_/la_ fields in the layout of this build; a value of another size is refused as
 * CDR_VERSION.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_bytes.h"
#include "cdr_live.h"
#include "cdr_stream.h"
#include "live_int.h"

#define KEY_LEN 12

static void live_key(uint8_t *kb, uint64_t id, uint32_t cycle)
{
    cdr_put_be64(kb, id);
    cdr_put_be32(kb + 8, cycle);
}

/* The money of currency cur in m[0..*n) (sorted), added when absent and room is left. */
cdr_live_money *live_money_slot(cdr_live_money *m, uint32_t *n, const char *cur)
{
    uint32_t i = 0;
    for (; i < *n; i++) {
        int c = strncmp(m[i].lm_currency, cur, 4);
        if (c == 0)
            return &m[i];
        if (c > 0)
            break;
    }
    if (*n >= CDR_LIVE_MAX_CURRENCIES)
        return NULL;
    memmove(&m[i + 1], &m[i], (*n - i) * sizeof *m);
    memset(&m[i], 0, sizeof *m);
    memcpy(m[i].lm_currency, cur, 3);
    (*n)++;
    return &m[i];
}

/* Add src[0..ns) into dst[0..*nd). Returns 0, or CDR_LIMIT (dst unchanged then). */
static int money_merge(cdr_live_money *dst, uint32_t *nd, const cdr_live_money *src, uint32_t ns)
{
    cdr_live_money tmp[CDR_LIVE_MAX_CURRENCIES];
    uint32_t n = *nd;
    memcpy(tmp, dst, sizeof tmp);
    for (uint32_t i = 0; i < ns; i++) {
        cdr_live_money *m = live_money_slot(tmp, &n, src[i].lm_currency);
        if (!m)
            return CDR_LIMIT;
        m->lm_records += src[i].lm_records;
        m->lm_total += src[i].lm_total;
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            m->lm_charge[s] += src[i].lm_charge[s];
    }
    memcpy(dst, tmp, sizeof tmp);
    *nd = n;
    return 0;
}

/* ---- the accumulator ------------------------------------------------------------------------- */

typedef struct acc_map {
    uint32_t *am_slots; /* index + 1, 0 = empty */
    size_t am_mask;
    size_t am_n;
} acc_map;

struct cdr_live_acc {
    acc_map ac_line_map;
    cdr_live_line *ac_lines;
    size_t ac_nlines, ac_caplines;
    acc_map ac_acct_map;
    cdr_live_account *ac_accts;
    size_t ac_naccts, ac_capaccts;
    acc_map ac_pool_map;
    cdr_live_pool *ac_pools;
    size_t ac_npools, ac_cappools;
};

static uint64_t hash_key(uint64_t id, uint32_t cycle)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ULL ^ cycle;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 29);
}

/* Slot of (id, cycle) in m over entries; ids_at gives an entry's key. */
typedef void (*key_at_fn)(const void *base, size_t i, uint64_t *id, uint32_t *cycle);

static void line_key_at(const void *base, size_t i, uint64_t *id, uint32_t *cycle)
{
    const cdr_live_line *l = &((const cdr_live_line *)base)[i];
    *id = l->ll_subscriber;
    *cycle = l->ll_cycle;
}

static void acct_key_at(const void *base, size_t i, uint64_t *id, uint32_t *cycle)
{
    const cdr_live_account *a = &((const cdr_live_account *)base)[i];
    *id = a->la_account;
    *cycle = a->la_cycle;
}

static void pool_key_at(const void *base, size_t i, uint64_t *id, uint32_t *cycle)
{
    const cdr_live_pool *p = &((const cdr_live_pool *)base)[i];
    *id = p->lp_enterprise;
    *cycle = p->lp_cycle;
}

static uint32_t *map_slot(acc_map *m, const void *base, key_at_fn key_at, uint64_t id,
                          uint32_t cycle)
{
    for (size_t h = hash_key(id, cycle) & m->am_mask;; h = (h + 1) & m->am_mask) {
        if (!m->am_slots[h])
            return &m->am_slots[h];
        uint64_t kid;
        uint32_t kc;
        key_at(base, m->am_slots[h] - 1, &kid, &kc);
        if (kid == id && kc == cycle)
            return &m->am_slots[h];
    }
}

/* Make room for one more entry (load <= 1/2). */
static int map_grow(acc_map *m, const void *base, key_at_fn key_at)
{
    if (m->am_slots && (m->am_n + 1) * 2 <= m->am_mask + 1)
        return 0;
    size_t nslots = m->am_slots ? (m->am_mask + 1) * 2 : 1024;
    if (nslots > UINT32_MAX)
        return CDR_ENOMEM;
    acc_map nm = {calloc(nslots, sizeof *nm.am_slots), nslots - 1, m->am_n};
    if (!nm.am_slots)
        return CDR_ENOMEM;
    for (size_t i = 0; i < m->am_n; i++) {
        uint64_t id;
        uint32_t cycle;
        key_at(base, i, &id, &cycle);
        *map_slot(&nm, base, key_at, id, cycle) = (uint32_t)(i + 1);
    }
    free(m->am_slots);
    *m = nm;
    return 0;
}

int cdr_live_acc_create(cdr_live_acc **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : CDR_ENOMEM;
}

void cdr_live_acc_free(cdr_live_acc *acc)
{
    if (!acc)
        return;
    free(acc->ac_line_map.am_slots);
    free(acc->ac_acct_map.am_slots);
    free(acc->ac_pool_map.am_slots);
    free(acc->ac_pools);
    free(acc->ac_lines);
    free(acc->ac_accts);
    free(acc);
}

size_t cdr_live_acc_lines(const cdr_live_acc *acc)
{
    return acc->ac_nlines;
}

static void *grow_vec(void *base, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return base;
    size_t ncap = *cap ? *cap * 2 : 256;
    void *nb = realloc(base, ncap * size);
    if (nb)
        *cap = ncap;
    return nb;
}

static cdr_live_line *acc_line(cdr_live_acc *acc, uint64_t sub, uint32_t cycle)
{
    if (map_grow(&acc->ac_line_map, acc->ac_lines, line_key_at))
        return NULL;
    uint32_t *slot = map_slot(&acc->ac_line_map, acc->ac_lines, line_key_at, sub, cycle);
    if (*slot)
        return &acc->ac_lines[*slot - 1];
    cdr_live_line *nl = grow_vec(acc->ac_lines, acc->ac_nlines, &acc->ac_caplines, sizeof *nl);
    if (!nl)
        return NULL;
    acc->ac_lines = nl;
    cdr_live_line *l = &nl[acc->ac_nlines];
    memset(l, 0, sizeof *l);
    l->ll_subscriber = sub;
    l->ll_cycle = cycle;
    *slot = (uint32_t)++acc->ac_nlines;
    acc->ac_line_map.am_n++;
    return l;
}

static cdr_live_account *acc_acct(cdr_live_acc *acc, uint64_t account, uint32_t cycle, int *isnew)
{
    *isnew = 0;
    if (map_grow(&acc->ac_acct_map, acc->ac_accts, acct_key_at))
        return NULL;
    uint32_t *slot = map_slot(&acc->ac_acct_map, acc->ac_accts, acct_key_at, account, cycle);
    if (*slot)
        return &acc->ac_accts[*slot - 1];
    cdr_live_account *na = grow_vec(acc->ac_accts, acc->ac_naccts, &acc->ac_capaccts, sizeof *na);
    if (!na)
        return NULL;
    acc->ac_accts = na;
    cdr_live_account *a = &na[acc->ac_naccts];
    memset(a, 0, sizeof *a);
    a->la_account = account;
    a->la_cycle = cycle;
    *slot = (uint32_t)++acc->ac_naccts;
    acc->ac_acct_map.am_n++;
    *isnew = 1;
    return a;
}

static cdr_live_pool *acc_pool(cdr_live_acc *acc, uint64_t enterprise, uint32_t cycle)
{
    if (map_grow(&acc->ac_pool_map, acc->ac_pools, pool_key_at))
        return NULL;
    uint32_t *slot = map_slot(&acc->ac_pool_map, acc->ac_pools, pool_key_at, enterprise, cycle);
    if (*slot)
        return &acc->ac_pools[*slot - 1];
    cdr_live_pool *np = grow_vec(acc->ac_pools, acc->ac_npools, &acc->ac_cappools, sizeof *np);
    if (!np)
        return NULL;
    acc->ac_pools = np;
    cdr_live_pool *p = &np[acc->ac_npools];
    memset(p, 0, sizeof *p);
    p->lp_enterprise = enterprise;
    p->lp_cycle = cycle;
    *slot = (uint32_t)++acc->ac_npools;
    acc->ac_pool_map.am_n++;
    return p;
}

/* The slot of bundle tag in l (added when absent), or -1 when every slot is taken. */
static int bundle_slot(cdr_live_line *l, uint64_t tag)
{
    for (int b = 0; b < CDR_PLAN_MAX_BUNDLES; b++) {
        if (l->ll_bundle[b].lb_tag == tag)
            return b;
        if (!l->ll_bundle[b].lb_tag) {
            l->ll_bundle[b].lb_tag = tag;
            return b;
        }
    }
    return -1;
}

uint64_t cdr_live_pool_tag(int service)
{
    return ((uint64_t)CDR_COUNTER_MEMBER << 62) | (uint64_t)service;
}

/* The line's credit status from a rated record's flags at event time t. Records are applied in
 * rating order (a line's records in its partition's order), so the first flagged record is the
 * one that moved the line, whatever the event times of those that follow (switches deliver out
 * of order): its time is kept, as Redis's HSETNX keeps it. */
static void live_status_add(cdr_live_line *l, unsigned flags, cdr_time t)
{
    if (t <= 0)
        t = 1; /* 0 means "not reached" */
    if (flags & (CDR_RATED_FLAG_WARNED | CDR_RATED_FLAG_SUSPENDED)) {
        if (!l->ll_warned_at)
            l->ll_warned_at = t;
        if (l->ll_status < CDR_LINE_WARNED)
            l->ll_status = CDR_LINE_WARNED;
    }
    if (flags & CDR_RATED_FLAG_SUSPENDED) {
        if (!l->ll_suspended_at)
            l->ll_suspended_at = t;
        l->ll_status = CDR_LINE_SUSPENDED;
    }
}

/* Add d (applied after cur) into cur: the higher status, the first times. */
static void live_status_merge(cdr_live_line *cur, const cdr_live_line *d)
{
    if (d->ll_status > cur->ll_status)
        cur->ll_status = d->ll_status;
    if (!cur->ll_warned_at)
        cur->ll_warned_at = d->ll_warned_at;
    if (!cur->ll_suspended_at)
        cur->ll_suspended_at = d->ll_suspended_at;
}

/* Add rr (neg = 0) or take it back (neg = 1: a reversal of a record added before; the sums are
 * modulo 2^64, so they come out right once the original is in them). */
static int acc_apply(cdr_live_acc *acc, const cdr_sub *su, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl, int neg)
{
    if (rr->rr_reason != CDR_REASON_NONE || !su || rr->rr_service >= CDR_SVC_COUNT)
        return 0;
    uint32_t cycle = rr->rr_cycle;
    cdr_live_line *l = acc_line(acc, su->su_id, cycle);
    if (!l)
        return CDR_ENOMEM;
    int newacct = 0;
    cdr_live_account *a = NULL;
    if (su->su_account && !(a = acc_acct(acc, su->su_account, cycle, &newacct)))
        return CDR_ENOMEM;
    /* the bundle the record drew on, if any: its slot and, for a pool, the enterprise's pool */
    const unsigned s = rr->rr_service;
    const cdr_bundle *bu =
        pl && rr->rr_bundle >= 0 && rr->rr_bundle < pl->pl_nbundles && rr->rr_bundle_units
            ? &pl->pl_bundles[rr->rr_bundle]
            : NULL;
    cdr_live_pool *pool = NULL;
    int slot = -1;
    if (bu) {
        if (bu->bu_pool && su->su_enterprise && !(pool = acc_pool(acc, su->su_enterprise, cycle)))
            return CDR_ENOMEM;
        slot = bundle_slot(l, bu->bu_pool ? cdr_live_pool_tag(bu->bu_service)
                                          : cdr_counter_bundle_tag(bu->bu_name));
        if (slot < 0)
            return CDR_LIMIT;
    }
    /* the money: into the line and its account, both or neither */
    cdr_live_money one, lsave[CDR_LIVE_MAX_CURRENCIES];
    memset(&one, 0, sizeof one);
    memcpy(one.lm_currency, rr->rr_currency, 3);
    const uint64_t one_u = neg ? UINT64_MAX : 1; /* +1 or -1, modulo 2^64 */
    const cdr_money charge = neg ? -rr->rr_charge : rr->rr_charge;
    one.lm_records = one_u;
    one.lm_total = charge;
    one.lm_charge[s] = charge;
    uint32_t lncur = l->ll_ncur;
    memcpy(lsave, l->ll_money, sizeof lsave);
    if (money_merge(l->ll_money, &l->ll_ncur, &one, 1) != 0)
        return CDR_LIMIT;
    if (a && money_merge(a->la_money, &a->la_ncur, &one, 1) != 0) {
        memcpy(l->ll_money, lsave, sizeof lsave);
        l->ll_ncur = lncur;
        return CDR_LIMIT;
    }
    if (!l->ll_account)
        l->ll_account = su->su_account;
    l->ll_records[s] += one_u;
    l->ll_units[s] += one_u * rr->rr_units;
    l->ll_bundle_units[s] += one_u * rr->rr_bundle_units;
    l->ll_overflow_units[s] += one_u * rr->rr_overflow_units;
    l->ll_free_units[s] += one_u * rr->rr_free_units;
    if (pl && rr->rr_zone >= 0 && rr->rr_zone < pl->pl_nzones &&
        pl->pl_zones[rr->rr_zone].zo_kind == CDR_ZONE_ROAMING)
        l->ll_roaming_records += one_u;
    if (slot >= 0)
        l->ll_bundle[slot].lb_used += one_u * rr->rr_bundle_units;
    if (pool)
        pool->lp_used[bu->bu_service] += one_u * rr->rr_bundle_units;
    if (neg)
        return 0; /* the line's latest event and status stay what they were */
    if (cr->cr_start > l->ll_last_event)
        l->ll_last_event = cr->cr_start;
    live_status_add(l, rr->rr_flags, cr->cr_start);
    return 0;
}

int cdr_live_acc_add(cdr_live_acc *acc, const cdr_sub *su, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl)
{
    return acc_apply(acc, su, cr, rr, pl, 0);
}

int cdr_live_acc_sub(cdr_live_acc *acc, const cdr_sub *su, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl)
{
    return acc_apply(acc, su, cr, rr, pl, 1);
}

static int open_live(MDB_txn *txn, int create, MDB_dbi *lines, MDB_dbi *accts, MDB_dbi *pools,
                     cdr_diag *dg)
{
    unsigned fl = create ? MDB_CREATE : 0;
    int rc = mdb_dbi_open(txn, CDR_DB_LIVE_LINES, fl, lines);
    if (rc == 0)
        rc = mdb_dbi_open(txn, CDR_DB_LIVE_ACCOUNTS, fl, accts);
    if (rc == 0)
        rc = mdb_dbi_open(txn, CDR_DB_LIVE_POOLS, fl, pools);
    if (rc == MDB_NOTFOUND)
        return CDR_NOTFOUND;
    return rc ? cdr_store_err(rc, "open live state", dg) : 0;
}

static int version_err(const char *what, size_t got, size_t want, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                        "the store's live state (%s) holds %zu-byte values, this build %zu: "
                        "rebuild it (docs/live-state.md)",
                        what, got, want);
}

int cdr_live_acc_write(cdr_live_acc *acc, MDB_txn *txn, cdr_diag *dg)
{
    MDB_dbi dl, da, dp;
    int rc = open_live(txn, 1, &dl, &da, &dp, dg);
    if (rc)
        return rc;
    uint8_t kb[KEY_LEN];
    for (size_t i = 0; i < acc->ac_nlines; i++) {
        const cdr_live_line *d = &acc->ac_lines[i];
        live_key(kb, d->ll_subscriber, d->ll_cycle);
        MDB_val k = {KEY_LEN, kb}, v;
        cdr_live_line cur;
        rc = mdb_get(txn, dl, &k, &v);
        if (rc == MDB_NOTFOUND) {
            cur = *d;
            if (d->ll_account) { /* a line new in the cycle: one more line of its account */
                uint32_t *slot = map_slot(&acc->ac_acct_map, acc->ac_accts, acct_key_at,
                                          d->ll_account, d->ll_cycle);
                if (*slot)
                    acc->ac_accts[*slot - 1].la_lines++;
            }
        } else if (rc) {
            return cdr_store_err(rc, "read live state", dg);
        } else {
            if (v.mv_size != sizeof cur)
                return version_err(CDR_DB_LIVE_LINES, v.mv_size, sizeof cur, dg);
            memcpy(&cur, v.mv_data, sizeof cur);
            if (money_merge(cur.ll_money, &cur.ll_ncur, d->ll_money, d->ll_ncur) != 0)
                return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                                    "subscriber %llu: more than %d currencies in cycle %u",
                                    (unsigned long long)d->ll_subscriber, CDR_LIVE_MAX_CURRENCIES,
                                    (unsigned)d->ll_cycle);
            if (!cur.ll_account)
                cur.ll_account = d->ll_account;
            for (int s = 0; s < CDR_SVC_COUNT; s++) {
                cur.ll_records[s] += d->ll_records[s];
                cur.ll_units[s] += d->ll_units[s];
                cur.ll_bundle_units[s] += d->ll_bundle_units[s];
                cur.ll_overflow_units[s] += d->ll_overflow_units[s];
                cur.ll_free_units[s] += d->ll_free_units[s];
            }
            cur.ll_roaming_records += d->ll_roaming_records;
            for (int b = 0; b < CDR_PLAN_MAX_BUNDLES && d->ll_bundle[b].lb_tag; b++) {
                int slot = bundle_slot(&cur, d->ll_bundle[b].lb_tag);
                if (slot < 0)
                    return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                                        "subscriber %llu: more than %d bundles in cycle %u",
                                        (unsigned long long)d->ll_subscriber, CDR_PLAN_MAX_BUNDLES,
                                        (unsigned)d->ll_cycle);
                cur.ll_bundle[slot].lb_used += d->ll_bundle[b].lb_used;
            }
            if (d->ll_last_event > cur.ll_last_event)
                cur.ll_last_event = d->ll_last_event;
            live_status_merge(&cur, d);
        }
        v.mv_size = sizeof cur;
        v.mv_data = &cur;
        if ((rc = mdb_put(txn, dl, &k, &v, 0)) != 0)
            return cdr_store_err(rc, "write live state", dg);
    }
    /* Accounts: their money, and the lines that had no state in the cycle before this write. */
    for (size_t i = 0; i < acc->ac_naccts; i++) {
        const cdr_live_account *d = &acc->ac_accts[i];
        live_key(kb, d->la_account, d->la_cycle);
        MDB_val k = {KEY_LEN, kb}, v;
        cdr_live_account cur;
        rc = mdb_get(txn, da, &k, &v);
        if (rc == MDB_NOTFOUND) {
            cur = *d;
        } else if (rc) {
            return cdr_store_err(rc, "read live state", dg);
        } else {
            if (v.mv_size != sizeof cur)
                return version_err(CDR_DB_LIVE_ACCOUNTS, v.mv_size, sizeof cur, dg);
            memcpy(&cur, v.mv_data, sizeof cur);
            if (money_merge(cur.la_money, &cur.la_ncur, d->la_money, d->la_ncur) != 0)
                return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                                    "account %llu: more than %d currencies in cycle %u",
                                    (unsigned long long)d->la_account, CDR_LIVE_MAX_CURRENCIES,
                                    (unsigned)d->la_cycle);
            cur.la_lines += d->la_lines;
        }
        v.mv_size = sizeof cur;
        v.mv_data = &cur;
        if ((rc = mdb_put(txn, da, &k, &v, 0)) != 0)
            return cdr_store_err(rc, "write live state", dg);
    }
    for (size_t i = 0; i < acc->ac_npools; i++) {
        const cdr_live_pool *d = &acc->ac_pools[i];
        live_key(kb, d->lp_enterprise, d->lp_cycle);
        MDB_val k = {KEY_LEN, kb}, v;
        cdr_live_pool cur;
        rc = mdb_get(txn, dp, &k, &v);
        if (rc == MDB_NOTFOUND) {
            cur = *d;
        } else if (rc) {
            return cdr_store_err(rc, "read live state", dg);
        } else {
            if (v.mv_size != sizeof cur)
                return version_err(CDR_DB_LIVE_POOLS, v.mv_size, sizeof cur, dg);
            memcpy(&cur, v.mv_data, sizeof cur);
            for (int s = 0; s < CDR_SVC_COUNT; s++)
                cur.lp_used[s] += d->lp_used[s];
        }
        v.mv_size = sizeof cur;
        v.mv_data = &cur;
        if ((rc = mdb_put(txn, dp, &k, &v, 0)) != 0)
            return cdr_store_err(rc, "write live state", dg);
    }
    return 0;
}

/* ---- queries --------------------------------------------------------------------------------- */

/* The latest cycle with state for id in dbi (0 when none). */
static int latest_cycle(MDB_txn *txn, MDB_dbi dbi, uint64_t id, uint32_t *cycle, cdr_diag *dg)
{
    *cycle = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return cdr_store_err(rc, "read live state", dg);
    uint8_t kb[KEY_LEN];
    live_key(kb, id + 1, 0); /* ids are below 2^63 */
    MDB_val k = {KEY_LEN, kb}, v;
    /* the first key after id's range, then one back */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == KEY_LEN && cdr_get_be64(k.mv_data) == id)
        *cycle = cdr_get_be32((const uint8_t *)k.mv_data + 8);
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : cdr_store_err(rc, "read live state", dg);
}

static int get_value(MDB_txn *txn, MDB_dbi dbi, uint64_t id, uint32_t cycle, void *out, size_t size,
                     const char *what, int *found, cdr_diag *dg)
{
    uint8_t kb[KEY_LEN];
    live_key(kb, id, cycle);
    MDB_val k = {KEY_LEN, kb}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    *found = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return cdr_store_err(rc, "read live state", dg);
    if (v.mv_size != size)
        return version_err(what, v.mv_size, size, dg);
    memcpy(out, v.mv_data, size);
    *found = 1;
    return 0;
}

uint32_t live_current_cycle(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

/* The units used of bundle tag in the line's state (0 when none). */
static uint64_t line_bundle_used(const cdr_live_view *v, uint64_t tag)
{
    for (int b = 0; v->lv_has_line && b < CDR_PLAN_MAX_BUNDLES; b++)
        if (v->lv_line.ll_bundle[b].lb_tag == tag)
            return v->lv_line.ll_bundle[b].lb_used;
    return 0;
}

/* The bundles of the line's plan, with their use in v->lv_cycle. */
static void fill_bundles(cdr_live_view *v, const cdr_plan_set *ps, const cdr_live_pool *pool)
{
    const cdr_dir_subscriber *sb = v->lv_sub;
    int fam = ps ? cdr_plan_set_family(ps, sb->sb_plan) : -1;
    if (fam < 0)
        return;
    /* the version in force in the cycle: at its last event, else at the cycle's first day */
    cdr_time t = v->lv_has_line
                     ? v->lv_line.ll_last_event
                     : cdr_days_from_civil(v->lv_cycle / 100, v->lv_cycle % 100, 1) * 86400;
    const cdr_plan *pl = cdr_plan_set_at(ps, fam, t);
    if (!pl)
        return;
    memcpy(v->lv_plan_currency, pl->pl_currency, sizeof v->lv_plan_currency);
    const cdr_dir_product *pd =
        sb->sb_product ? cdr_dir_find_product(v->lv_dir, sb->sb_product) : NULL;
    for (unsigned b = 0; b < pl->pl_nbundles && v->lv_nbundles < CDR_PLAN_MAX_BUNDLES; b++) {
        const cdr_bundle *bu = &pl->pl_bundles[b];
        cdr_live_bundle *lb = &v->lv_bundles[v->lv_nbundles++];
        memset(lb, 0, sizeof *lb);
        memcpy(lb->lb_name, bu->bu_name, sizeof lb->lb_name);
        lb->lb_service = bu->bu_service;
        lb->lb_pool = bu->bu_pool;
        if (bu->bu_pool) {
            lb->lb_included = pd ? pd->pd_pool[bu->bu_service] : 0;
            lb->lb_member_cap = pd ? pd->pd_member_cap[bu->bu_service] : 0;
            lb->lb_used = pool ? pool->lp_used[bu->bu_service] : 0;
            lb->lb_member_used = line_bundle_used(v, cdr_live_pool_tag(bu->bu_service));
        } else {
            lb->lb_included = bu->bu_units;
            lb->lb_used = line_bundle_used(v, cdr_counter_bundle_tag(bu->bu_name));
        }
    }
}

int cdr_live_query(cdr_store *st, cdr_redis *rd, const cdr_plan_set *ps, const char *msisdn,
                   uint32_t cycle, int what, cdr_live_view *v, cdr_diag *dg)
{
    const int all = what != CDR_LIVE_Q_BALANCE;
    memset(v, 0, sizeof *v);
    int rc = cdr_dir_read_line_part(st, msisdn, all ? CDR_DIR_LINE_ALL : CDR_DIR_LINE_CREDIT,
                                    &v->lv_dir, dg);
    if (rc)
        return rc;
    v->lv_sub = cdr_dir_find_msisdn(v->lv_dir, msisdn);
    if (!v->lv_sub) { /* cannot happen: cdr_dir_read_line found it */
        cdr_live_view_free(v);
        return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "damaged directory msisdn index");
    }
    v->lv_account = cdr_dir_find_account(v->lv_dir, v->lv_sub->sb_account);
    v->lv_credit = cdr_dir_line_credit_class(v->lv_dir, v->lv_sub); /* as credit control's */
    int have_pool = 0;
    cdr_live_pool pool;
    if (rd) { /* the state from Redis (live_redis.c), the directory and plans from the store */
        rc = live_redis_fetch(rd, v, cycle, all, &pool, &have_pool, dg);
        if (!rc)
            fill_bundles(v, ps, have_pool ? &pool : NULL);
        else
            cdr_live_view_free(v);
        return rc;
    }
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn)) != 0) {
        cdr_live_view_free(v);
        return cdr_store_err(rc, "begin live state read", dg);
    }
    MDB_dbi dl, da, dp;
    rc = open_live(txn, 0, &dl, &da, &dp, dg);
    int have_state = rc == 0;
    if (rc == CDR_NOTFOUND) /* nothing rated into this store yet */
        rc = 0;
    if (!rc && have_state && !cycle)
        rc = latest_cycle(txn, dl, v->lv_sub->sb_id, &cycle, dg);
    v->lv_cycle = cycle ? cycle : live_current_cycle();
    if (!rc && have_state && all)
        rc = get_value(txn, dl, v->lv_sub->sb_id, v->lv_cycle, &v->lv_line, sizeof v->lv_line,
                       CDR_DB_LIVE_LINES, &v->lv_has_line, dg);
    if (!rc && have_state)
        rc = get_value(txn, da, v->lv_sub->sb_account, v->lv_cycle, &v->lv_acct, sizeof v->lv_acct,
                       CDR_DB_LIVE_ACCOUNTS, &v->lv_has_account, dg);
    if (!rc && have_state && all && v->lv_sub->sb_enterprise)
        rc = get_value(txn, dp, v->lv_sub->sb_enterprise, v->lv_cycle, &pool, sizeof pool,
                       CDR_DB_LIVE_POOLS, &have_pool, dg);
    if (!rc)
        fill_bundles(v, ps, have_pool ? &pool : NULL);
    mdb_txn_abort(txn);
    if (rc)
        cdr_live_view_free(v);
    return rc;
}

void cdr_live_view_free(cdr_live_view *v)
{
    cdr_dir_free(v->lv_dir);
    memset(v, 0, sizeof *v);
}

const cdr_live_money *cdr_live_account_money(const cdr_live_view *v, const char *cur)
{
    if (!v->lv_has_account)
        return NULL;
    for (uint32_t i = 0; i < v->lv_acct.la_ncur; i++)
        if (!strncmp(v->lv_acct.la_money[i].lm_currency, cur, 4))
            return &v->lv_acct.la_money[i];
    return NULL;
}

static int each_in(MDB_txn *txn, MDB_dbi dbi, uint32_t cycle, size_t size, const char *what,
                   int (*fn)(void *, const void *), void *arg, cdr_diag *dg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return cdr_store_err(rc, "read live state", dg);
    MDB_val k, v;
    int mrc;
    rc = 0;
    union {
        cdr_live_line l;
        cdr_live_account a;
    } val;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != KEY_LEN || v.mv_size != size) {
            rc = v.mv_size != size ? version_err(what, v.mv_size, size, dg)
                                   : cdr_diag_set(dg, CDR_STORE, NULL, 0, 0,
                                                  "damaged live state key (%zu bytes)", k.mv_size);
            break;
        }
        if (cycle && cdr_get_be32((const uint8_t *)k.mv_data + 8) != cycle)
            continue;
        memcpy(&val, v.mv_data, size);
        rc = fn(arg, &val);
    }
    mdb_cursor_close(cur);
    if (!rc && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read live state", dg);
    return rc;
}

typedef struct each_arg {
    int (*ea_line)(void *arg, const cdr_live_line *l);
    int (*ea_account)(void *arg, const cdr_live_account *a);
    void *ea_arg;
} each_arg;

static int each_line(void *arg, const void *v)
{
    const each_arg *ea = arg;
    return ea->ea_line(ea->ea_arg, v);
}

static int each_account(void *arg, const void *v)
{
    const each_arg *ea = arg;
    return ea->ea_account(ea->ea_arg, v);
}

int cdr_live_each(cdr_store *st, uint32_t cycle, int (*line)(void *arg, const cdr_live_line *l),
                  int (*account)(void *arg, const cdr_live_account *a), void *arg, cdr_diag *dg)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin live state read", dg);
    MDB_dbi dl, da, dp;
    rc = open_live(txn, 0, &dl, &da, &dp, dg);
    if (rc == CDR_NOTFOUND) { /* nothing rated into this store yet */
        mdb_txn_abort(txn);
        return 0;
    }
    each_arg ea = {line, account, arg};
    if (!rc && line)
        rc = each_in(txn, dl, cycle, sizeof(cdr_live_line), CDR_DB_LIVE_LINES, each_line, &ea, dg);
    if (!rc && account)
        rc = each_in(txn, da, cycle, sizeof(cdr_live_account), CDR_DB_LIVE_ACCOUNTS, each_account,
                     &ea, dg);
    mdb_txn_abort(txn);
    return rc;
}
