/* bill.c - the month-end bill run (cdr_bill.h, docs/billing.md).
 *
 * One pass over the cycle's records in the ledger sums each line's rated charges per charge class
 * (and the report's figures per currency). Then, line by line in subscriber id order: the
 * prorated monthly fee, the usage rounded to the cent, the enterprise discount, the split between
 * the enterprise account (the classes its payment rules name, up to each rule's cap) and the
 * member account. Then one invoice per account in account id order, tax per invoice line. Every
 * amount on an invoice is whole cents, so lines, subtotals and totals add up exactly. The output
 * goes to a private temporary folder that one rename publishes.
 */
#define _GNU_SOURCE /* renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bill_int.h"
#include "cdr_mem.h"
#include "cdr_file.h"
#include "cdr_bill.h"
#include "cdr_dir.h"
#include "cdr_ledger.h"
#include "cdr_rerate.h"
#include "cdr_live.h"

#define CENT      10000 /* micro-units */
#define MAX_RULES 16
#define MAX_ZONES 1024 /* distinct zone names per currency in the report */
#define MAX_FEES  4    /* plans (fee lines) of one line in one cycle */
/* Amount slots of a line: one per charge class, and after them the fee lines of its second to
 * last plan of the cycle (class recurring_fee; the first plan's fee is in the class's slot). */
#define NSLOT (CDR_CLASS_COUNT + MAX_FEES - 1)

/* ---- tax ------------------------------------------------------------------------------------- */

void cdr_tax_defaults(cdr_tax_table *t)
{
    memset(t, 0, sizeof *t);
    t->tt_ppm[CDR_CLASS_BASIC_VOICE] = 90000;
    t->tt_ppm[CDR_CLASS_ROAMING] = 90000;
    t->tt_ppm[CDR_CLASS_RECURRING_FEE] = 90000;
    t->tt_ppm[CDR_CLASS_SMS_MMS] = 60000;
    t->tt_ppm[CDR_CLASS_DATA] = 60000;
    t->tt_ppm[CDR_CLASS_VALUE_ADDED] = 60000;
    t->tt_ppm[CDR_CLASS_PREMIUM] = 60000;
    t->tt_ppm[CDR_CLASS_ONE_OFF] = 60000;
}

cdr_money cdr_tax_of(cdr_money amount, uint32_t ppm)
{
    int64_t cents = 0;
    /* amount * ppm / 10^6 micro-units, to cents: / (10^6 * CENT); |amount| < 2^63, ppm <= 10^6 */
    if (cdr_div_round((__int128)amount * ppm, (int64_t)1000000 * CENT, CDR_ROUND_HALF_UP, &cents))
        return 0; /* cannot happen: the quotient is below the amount */
    return cents * CENT;
}

/* "6", "6.5", "100": a percentage from 0 to 100 with at most four decimals -> millionths (read as
 * an amount: 6.5 is 6500000 micro-units, 65000 ppm); -1 when it is not one. */
static int64_t parse_percent(const char *s)
{
    cdr_money m;
    if (!*s || *s == '-' || *s == '+' || cdr_money_parse(s, &m) != 0 || m < 0 ||
        m > 100 * CDR_MICRO || m % 100 != 0)
        return -1;
    return m / 100;
}

int cdr_tax_load(const char *path, cdr_tax_table *t, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    cdr_tax_defaults(t);
    FILE *f = fopen(path, "r");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    char buf[512], *line;
    int ln = 0, rc = 0;
    uint32_t seen = 0;
    while (!rc && !(rc = bill_read_line(f, path, buf, sizeof buf, &ln, &line, dg)) && line) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            continue;
        const int ccol = (int)(p - line) + 1;
        char *cls = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        const int rcol = (int)(p - line) + 1;
        char *rate = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        char *end = p;
        while (*p == ' ' || *p == '\t')
            p++;
        *end = '\0';
        const int c = cdr_charge_class_parse(cls);
        int64_t ppm;
        if (c <= CDR_CLASS_NONE) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, ccol,
                              "unknown charge class '%s' (basic_voice, sms_mms, data, value_added, "
                              "roaming, premium, free, recurring_fee, one_off or adjustment)",
                              cls);
        } else if (seen & (1u << c)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, ccol, "charge class '%s' given twice", cls);
        } else if (!*rate) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, rcol,
                              "missing tax rate after '%s' (a percentage such as 6 or 6.5)", cls);
        } else if (*p) {
            rc =
                cdr_diag_set(dg, CDR_FORMAT, path, ln, (int)(p - line) + 1,
                             "unexpected '%s' after the rate (one class and one rate per line)", p);
        } else if ((ppm = parse_percent(rate)) < 0) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, rcol,
                              "tax rate '%s' is not a percentage from 0 to 100 with at most four "
                              "decimals",
                              rate);
        } else {
            seen |= 1u << c;
            t->tt_ppm[c] = (uint32_t)ppm;
        }
    }
    fclose(f);
    return rc;
}

/* ---- the run's state ------------------------------------------------------------------------- */

/* What the bill of a line needs beyond its sums, for the few lines that have it (allocated before
 * the scan): a membership of part of the cycle, a closed user group, plan changes. */
typedef struct bext {
    cdr_time x_from, x_to; /* the membership's period; INT64_MIN, INT64_MAX: no dates */
    uint64_t x_product;    /* its closed-user-group product (x_cug_bp > 0), else 0 */
    uint16_t x_cug_bp;     /* the product's cug_discount, basis points */
    uint8_t x_history;     /* plan changes or membership dates: fees by day (history_fees) */
    cdr_money x_out[CDR_CLASS_COUNT]; /* usage outside the membership period, as rated */
    cdr_money x_cug[CDR_CLASS_COUNT]; /* usage with members of its closed user group */
    uint32_t x_cug_records[CDR_CLASS_COUNT];
    unsigned x_nfees; /* fee lines, one per plan of the cycle, in order of first day */
    struct {
        const char *f_name;     /* the plan's id */
        const cdr_plan *f_plan; /* the version in effect on its last day; NULL: none yet */
        uint8_t f_days;         /* active days on the plan */
        uint8_t f_in_days;      /* ... of which in the enterprise */
        cdr_time f_last;        /* the last active instant on it */
    } x_fee[MAX_FEES];
} bext;

/* One line's month. */
typedef struct bsub {
    union {
        char bs_cur[4];    /* currency of its usage and fee */
        uint32_t bs_cur32; /* the same, for the scan threads' compare-and-swap */
    };
    cdr_money bs_usage[CDR_CLASS_COUNT];   /* rated charges as rated, micro-units */
    uint32_t bs_records[CDR_CLASS_COUNT];  /* records per class */
    const cdr_plan *bs_fee_plan;           /* the plan version of the fee, NULL = no fee */
    uint8_t bs_active_days, bs_cycle_days; /* proration */
    uint8_t bs_billed;                     /* active in the cycle or has usage */
    cdr_money bs_adj[2];  /* adjustments of the line, whole cents: one_off, adjustment */
    cdr_money bs_rerate;  /* corrections of closed cycles' charges (rerate), micro-units */
    uint8_t bs_live_seen; /* reconciliation: the live state has the line */
    bext *bs_x;           /* NULL for most lines */
} bsub;

typedef struct bzone {
    char bz_name[CDR_NAME_MAX];
    uint64_t bz_records;
    cdr_money bz_charge;
} bzone;

typedef struct bent {
    uint64_t be_enterprise;
    cdr_money be_amount; /* net, before tax, of its members (both shares) */
    cdr_money be_share;  /* the enterprise account's share */
} bent;

/* The report's figures of one currency. */
typedef struct bcur {
    cdr_bill_money bc_m;
    uint64_t bc_svc_records[CDR_SVC_COUNT];
    uint64_t bc_svc_units[CDR_SVC_COUNT];
    cdr_money bc_svc_charge[CDR_SVC_COUNT];
    cdr_money bc_gross[CDR_CLASS_COUNT], bc_disc[CDR_CLASS_COUNT], bc_tax[CDR_CLASS_COUNT];
    cdr_money bc_ent[CDR_CLASS_COUNT], bc_mem[CDR_CLASS_COUNT];
    cdr_money bc_cug[CDR_CLASS_COUNT]; /* the closed-user-group part of bc_disc */
    uint64_t bc_class_records[CDR_CLASS_COUNT];
    bzone bc_zones[MAX_ZONES];
    size_t bc_nzones;
    uint64_t bc_zone_other_records; /* past MAX_ZONES names, or no zone */
    cdr_money bc_zone_other_charge;
    bent *bc_ents;
    size_t bc_nents, bc_cap_ents;
    uint64_t bc_unbilled_records; /* lines not in the directory */
    cdr_money bc_unbilled_charge;
    uint64_t bc_subscribers;
    uint64_t bc_late_records; /* of bm_records, flagged late: their own cycle was closed */
} bcur;

/* bline.bl_sub of an account's own adjustment: this bit and the adjustment's index. */
#define ADJ_LINE_BIT 0x80000000u

/* One invoice line before tax. */
typedef struct bline {
    uint64_t bl_account;
    uint32_t bl_sub; /* index in the directory's subscribers */
    uint8_t bl_class;
    uint8_t bl_enterprise; /* 1 = the enterprise's share of a member's class */
    uint8_t bl_part;       /* fee lines: the plan's index in bext.x_fee; else 0 */
    cdr_money bl_amount;   /* whole cents */
} bline;

/* A slot of the bill run's MSISDN table (line_find): the number as a key, the line's index + 1. */
typedef struct bmsisdn {
    uint64_t mx_key;
    uint32_t mx_ix1; /* 0: an empty slot */
} bmsisdn;

typedef struct bill_ctx {
    const cdr_bill_config *b_cfg;
    cdr_dir *b_dir;
    cdr_plan_set *b_ps;
    const cdr_dir_subscriber *b_subs;
    size_t b_nsubs;
    bmsisdn *b_mx; /* the lines by MSISDN, for the scan */
    size_t b_mx_mask;
    bsub *b_bs;
    bext *b_x;   /* the lines' bext, one array */
    bcur *b_cur; /* [CDR_BILL_MAX_CURRENCIES]: ~50 KB each, on the heap */
    int b_ncur;
    uint64_t b_records, b_total;
    uint64_t b_read; /* records read so far by the scan threads (progress) */
    bline *b_lines;
    size_t b_nlines, b_cap_lines;
    const cdr_dir_enterprise **b_ents; /* sorted by their account */
    size_t b_nents;
    char b_cyc[16], b_issued[16];   /* "2026-11", the cycle's last day */
    int64_t b_end;                  /* ... in days since 1970 */
    char b_pc[CDR_CLASS_COUNT][16]; /* the tax rates as text */
    struct bdiff *b_diffs;          /* reconciliation with the live state */
    size_t b_ndiffs, b_cap_diffs;
    uint64_t b_live_lines;
    uint32_t b_due_term; /* the last due date written, by payment term */
    char b_due[16];
    cdr_diag *b_dg;
} bill_ctx;

/* The slot of currency cur in arr[0..*n), added when new; NULL when arr is full. */
static bcur *cur_slot_in(bcur *arr, int *n, const char *cur)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(arr[i].bc_m.bm_currency, cur))
            return &arr[i];
    if (*n == CDR_BILL_MAX_CURRENCIES)
        return NULL;
    bcur *c = &arr[(*n)++];
    memcpy(c->bc_m.bm_currency, cur, 4);
    return c;
}

static bcur *cur_slot(bill_ctx *b, const char *cur)
{
    return cur_slot_in(b->b_cur, &b->b_ncur, cur);
}

/* n zeroed elements of size bytes for an array the scan threads reach at random (the lines'
 * sums, the MSISDN table): on huge pages where the kernel has them (a TLB miss less per record),
 * and every page written here, before the threads start: a first write after a read of the zero
 * page costs a fault and a TLB shootdown of the other threads. NULL when out of memory; free(). */
static void *scan_array(size_t n, size_t size)
{
    const size_t huge = (size_t)2 << 20;
    if (n && size > SIZE_MAX / n - huge)
        return NULL;
    const size_t len = n * size < huge ? n * size : (n * size + huge - 1) / huge * huge;
    void *p = len < huge ? malloc(len ? len : 1) : aligned_alloc(huge, len);
    if (!p)
        return NULL;
    if (len >= huge)
        (void)madvise(p, len, MADV_HUGEPAGE); /* advice: without it, 4 KiB pages */
    memset(p, 0, len);
    return p;
}

/* ---- the lines by MSISDN ----------------------------------------------------------------------
 * The scan looks up two numbers of most records (the served MSISDN, and the other party for a
 * closed user group). The directory's map compares strings, which costs a cache miss on the
 * subscriber besides the one on the map; this table keeps an MSISDN of 1 to 15 digits as a number
 * in the slot itself. Other numbers (none, in a valid directory) go to the directory's map. */

/* The key of an MSISDN of n bytes: its length and value, never 0; 0 when it is not 1-15 digits. */
static uint64_t msisdn_key(const char *p, size_t n)
{
    if (n < 1 || n > 15)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned d = (unsigned)(p[i] - '0');
        if (d > 9)
            return 0;
        v = v * 10 + d;
    }
    return (uint64_t)n << 50 | v; /* v < 10^15 < 2^50 */
}

static size_t msisdn_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* The table of every line whose MSISDN has a key (the first line of a number, as the directory's
 * map answers). */
static int msisdn_table(bill_ctx *b)
{
    size_t n = 64;
    while (n < 2 * b->b_nsubs)
        n *= 2;
    if (!(b->b_mx = scan_array(n, sizeof *b->b_mx)))
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    b->b_mx_mask = n - 1;
    for (size_t i = 0; i < b->b_nsubs; i++) {
        const char *m = b->b_subs[i].sb_msisdn;
        const uint64_t key = msisdn_key(m, strlen(m));
        if (!key)
            continue;
        size_t j = msisdn_slot(key, b->b_mx_mask);
        while (b->b_mx[j].mx_ix1 && b->b_mx[j].mx_key != key)
            j = (j + 1) & b->b_mx_mask;
        if (!b->b_mx[j].mx_ix1)
            b->b_mx[j] = (bmsisdn){key, (uint32_t)i + 1};
    }
    return 0;
}

/* The index of the line with MSISDN p (n bytes, not NUL-terminated, n < CDR_NUMBER_MAX), or -1. */
static ptrdiff_t line_find_key(const bill_ctx *b, uint64_t key, const char *p, size_t n)
{
    if (!key) { /* not a number the table holds: the directory's map */
        char m[CDR_NUMBER_MAX];
        memcpy(m, p, n);
        m[n] = '\0';
        const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(b->b_dir, m);
        return sb ? sb - b->b_subs : -1;
    }
    for (size_t j = msisdn_slot(key, b->b_mx_mask);; j = (j + 1) & b->b_mx_mask) {
        const bmsisdn *mx = &b->b_mx[j];
        if (!mx->mx_ix1)
            return -1;
        if (mx->mx_key == key)
            return (ptrdiff_t)mx->mx_ix1 - 1;
    }
}

static ptrdiff_t line_find(const bill_ctx *b, const char *p, size_t n)
{
    return line_find_key(b, msisdn_key(p, n), p, n);
}

#define PLAN_CACHE 8

/* Plan id `id` (n bytes, not NUL-terminated) version `version` of ps, or NULL; cache[PLAN_CACHE]
 * keeps the answers (records alternate between a few plan versions). */
static const cdr_plan *plan_version(const cdr_plan_set *ps, const cdr_plan **cache, const char *id,
                                    size_t n, uint32_t version)
{
    for (int k = 0; k < PLAN_CACHE && cache[k]; k++)
        if (cache[k]->pl_version == version && !memcmp(cache[k]->pl_id, id, n) &&
            cache[k]->pl_id[n] == '\0')
            return cache[k];
    char name[CDR_NAME_MAX];
    memcpy(name, id, n);
    name[n] = '\0';
    const cdr_plan *pl = cdr_plan_set_version(ps, name, version);
    if (pl) {
        memmove(cache + 1, cache, (PLAN_CACHE - 1) * sizeof *cache);
        cache[0] = pl;
    }
    return pl;
}

/* The class of a record of wire version 1-3 (none of its own): the one its plan version gives
 * it, from the whole record. */
static int derived_class(const cdr_ledger_view *v, const cdr_plan *pl)
{
    const cdr_rated_view *rv = &v->lv_rv;
    if (pl) {
        cdr_record cr;
        cdr_rated rr;
        char plan[CDR_NAME_MAX];
        if (cdr_rated_wire_decode(v->lv_wire, v->lv_len, &cr, &rr, plan, NULL) == 0) {
            const int c = cdr_plan_charge_class(pl, &cr, &rr);
            if (c > CDR_CLASS_NONE && c < CDR_CLASS_COUNT)
                return c;
        }
    }
    /* no plan version at hand: free or by service alone */
    if (rv->rv_units > 0 && rv->rv_free_units == rv->rv_units)
        return CDR_CLASS_FREE;
    return cdr_charge_class_of_service(rv->rv_service);
}

/* The charge class of a rated record: its own, or for a record of wire version 1-3 the one its
 * plan version gives it. */
static inline int record_class(const cdr_ledger_view *v, const cdr_plan *pl)
{
    const uint8_t cl = v->lv_rv.rv_class;
    if (cl > CDR_CLASS_NONE && cl < CDR_CLASS_COUNT)
        return cl;
    return derived_class(v, pl);
}

/* Add records and charge to zone `name` (NULL: no zone) of c; returns its slot, or NULL when
 * they went to "(other)". */
static bzone *add_zone_named(bcur *c, const char *name, uint64_t records, cdr_money charge)
{
    bzone *z = NULL;
    for (size_t i = 0; name && !z && i < c->bc_nzones; i++)
        if (!strcmp(c->bc_zones[i].bz_name, name))
            z = &c->bc_zones[i];
    if (!z && name && c->bc_nzones < MAX_ZONES) {
        z = &c->bc_zones[c->bc_nzones++];
        snprintf(z->bz_name, sizeof z->bz_name, "%s", name);
    }
    if (!z) {
        c->bc_zone_other_records += records;
        c->bc_zone_other_charge += charge;
        return NULL;
    }
    z->bz_records += records;
    z->bz_charge += charge;
    return z;
}

/* One scan thread: its share of the cycle's partitions, read through its own ledger handle; the
 * lines' sums go into the shared bsub array (atomically: a line's records are in one partition,
 * but nothing guarantees that), the report's into its own currencies, merged after the join. */
typedef struct bscan {
    bill_ctx *sc_b;
    unsigned sc_share, sc_nshares;
    const cdr_plan *sc_plans[PLAN_CACHE]; /* plan_version's cache */
    /* the report's zone of (plan version, zone): a few plans, looked up by pointer */
    struct {
        const cdr_plan *zc_plan;
        bcur *zc_cur;
        bzone *zc_zone[CDR_PLAN_MAX_ZONES];
    } sc_zc[8];
    bcur *sc_cur; /* [CDR_BILL_MAX_CURRENCIES] */
    int sc_ncur;
    bcur *sc_last_cur; /* the currency of the last record, NULL */
    uint64_t sc_records, sc_unreported;
    pthread_t sc_thread;
    int sc_rc;
    cdr_diag sc_dg;
} bscan;

/* A record of a line with a bext: outside its membership period, or with another member of its
 * closed user group (the other party's line a member of the same product at the event time; only
 * for the classes a closed user group prices, basic_voice and sms_mms, and what was charged). */
static void record_ext(const bill_ctx *b, bext *x, ptrdiff_t line, const cdr_ledger_view *v,
                       int cls, int sign)
{
    const cdr_time t = v->lv_rv.rv_cdr.wv_start;
    const cdr_money charge = sign * v->lv_rv.rv_charge;
    if (t < x->x_from || t >= x->x_to) {
        __atomic_add_fetch(&x->x_out[cls], charge, __ATOMIC_RELAXED);
        return;
    }
    if (!x->x_cug_bp || !charge || (cls != CDR_CLASS_BASIC_VOICE && cls != CDR_CLASS_SMS_MMS))
        return;
    const ptrdiff_t o = line_find(b, v->lv_rv.rv_cdr.wv_other, v->lv_rv.rv_cdr.wv_other_len);
    const bext *ox = o >= 0 && o != line ? b->b_bs[o].bs_x : NULL;
    if (!ox || ox->x_product != x->x_product || t < ox->x_from || t >= ox->x_to)
        return;
    __atomic_add_fetch(&x->x_cug[cls], charge, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->x_cug_records[cls], (uint32_t)sign, __ATOMIC_RELAXED);
}

/* Add record r to the line and the report: sign 1, or -1 for the reversal of a charge (a
 * correction set's, cdr_rerate.h). Counts and units are modulo 2^64, so a reversal takes back
 * exactly what its record added. */
static inline int add_record(bscan *sc, const cdr_ledger_view *v, ptrdiff_t line, int sign)
{
    bill_ctx *b = sc->sc_b;
    const uint64_t one = (uint64_t)(int64_t)sign;
    const cdr_rated_view *rv = &v->lv_rv;
    const cdr_money charge = sign * rv->rv_charge;
    sc->sc_records += one;
    const cdr_plan *pl =
        plan_version(b->b_ps, sc->sc_plans, rv->rv_plan, rv->rv_plan_len, rv->rv_plan_version);
    char cur[4];
    memcpy(cur, rv->rv_currency, 4);
    cur[3] = '\0';
    if (!cur[0] && pl) /* a version-1 record: its plan's currency */
        memcpy(cur, pl->pl_currency, 4);
    bcur *c = sc->sc_last_cur;
    if (!c || memcmp(c->bc_m.bm_currency, cur, 4))
        c = sc->sc_last_cur = cur_slot_in(sc->sc_cur, &sc->sc_ncur, cur);
    if (!c) {
        sc->sc_rc = cdr_diag_set(&sc->sc_dg, CDR_LIMIT, NULL, 0, 0,
                                 "cycle %u holds more than %d currencies", b->b_cfg->bc_cycle,
                                 CDR_BILL_MAX_CURRENCIES);
        return 1;
    }
    if (line < 0) { /* the line left the directory: reported, never dropped silently */
        c->bc_unbilled_records += one;
        c->bc_unbilled_charge += charge;
        return 0;
    }
    bsub *s = &b->b_bs[line];
    uint32_t want, seen = __atomic_load_n(&s->bs_cur32, __ATOMIC_RELAXED);
    memcpy(&want, cur, 4);
    if (seen != want && /* the line's first record sets its currency */
        (seen != 0 || !__atomic_compare_exchange_n(&s->bs_cur32, &seen, want, 0, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED)) &&
        seen != want) {
        const cdr_dir_subscriber *sb = &b->b_subs[line];
        char had[4];
        memcpy(had, &seen, 4);
        sc->sc_rc = cdr_diag_set(&sc->sc_dg, CDR_FORMAT, NULL, 0, 0,
                                 "subscriber %" PRIu64 " (msisdn %s) has records in %.3s and in %s "
                                 "in cycle %u: a line is billed in one currency",
                                 sb->sb_id, sb->sb_msisdn, had, cur, b->b_cfg->bc_cycle);
        return 1;
    }
    const int cls = record_class(v, pl);
    if (s->bs_x)
        record_ext(b, s->bs_x, line, v, cls, sign);
    if (charge)
        __atomic_add_fetch(&s->bs_usage[cls], charge, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->bs_records[cls], (uint32_t)sign, __ATOMIC_RELAXED);
    __atomic_store_n(&s->bs_billed, 1, __ATOMIC_RELAXED);
    c->bc_m.bm_records += one;
    c->bc_late_records += rv->rv_flags & CDR_RATED_FLAG_LATE ? one : 0;
    c->bc_class_records[cls] += one;
    if (rv->rv_service < CDR_SVC_COUNT) {
        c->bc_svc_records[rv->rv_service] += one;
        c->bc_svc_units[rv->rv_service] += one * rv->rv_units;
        c->bc_svc_charge[rv->rv_service] += charge;
    }
    if (!pl || rv->rv_zone < 0 || rv->rv_zone >= pl->pl_nzones) {
        add_zone_named(c, NULL, one, charge);
        return 0;
    }
    /* the report's zone through the thread's cache of (plan version, currency) -> slots */
    const unsigned h = (unsigned)(((uintptr_t)pl >> 4) % 8);
    if (sc->sc_zc[h].zc_plan != pl || sc->sc_zc[h].zc_cur != c) {
        sc->sc_zc[h].zc_plan = pl;
        sc->sc_zc[h].zc_cur = c;
        memset(sc->sc_zc[h].zc_zone, 0, sizeof sc->sc_zc[h].zc_zone);
    }
    bzone **slot = &sc->sc_zc[h].zc_zone[rv->rv_zone];
    if (*slot) {
        (*slot)->bz_records += one;
        (*slot)->bz_charge += charge;
    } else {
        *slot = add_zone_named(c, pl->pl_zones[rv->rv_zone].zo_name, one, charge);
    }
    return 0;
}

/* A batch of records: their lines' table slots fetched ahead, then the lines' sums, then the
 * records added (two cache misses a record, which otherwise come one after the other). */
static int on_records(const cdr_ledger_view *v, size_t n, uint32_t partition, void *arg)
{
    (void)partition;
    bscan *sc = arg;
    bill_ctx *b = sc->sc_b;
    if ((sc->sc_unreported += n) >= 65536) { /* progress: the first thread draws it */
        const uint64_t done = __atomic_add_fetch(&b->b_read, sc->sc_unreported, __ATOMIC_RELAXED);
        sc->sc_unreported = 0;
        if (sc->sc_share == 0)
            cdr_progress_report(b->b_cfg->bc_progress, done, b->b_total);
    }
    uint64_t key[CDR_LEDGER_VIEW_BATCH];
    ptrdiff_t line[CDR_LEDGER_VIEW_BATCH];
    for (size_t i = 0; i < n; i++) {
        const cdr_wire_view *wv = &v[i].lv_rv.rv_cdr;
        key[i] = msisdn_key(wv->wv_msisdn, wv->wv_msisdn_len);
        __builtin_prefetch(&b->b_mx[msisdn_slot(key[i], b->b_mx_mask)]);
    }
    for (size_t i = 0; i < n; i++) {
        const cdr_wire_view *wv = &v[i].lv_rv.rv_cdr;
        line[i] = line_find_key(b, key[i], wv->wv_msisdn, wv->wv_msisdn_len);
        if (line[i] >= 0) {
            const char *bs = (const char *)&b->b_bs[line[i]];
            __builtin_prefetch(bs, 1);
            __builtin_prefetch(bs + sizeof *b->b_bs - 1, 1);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (add_record(sc, &v[i], line[i], 1))
            return 1;
    return 0;
}

static void *scan_thread(void *arg)
{
    bscan *sc = arg;
    bill_ctx *b = sc->sc_b;
    cdr_diag_clear(&sc->sc_dg);
    cdr_ledger *lg = NULL;
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    if ((sc->sc_rc = cdr_ledger_open(b->b_cfg->bc_ledger, &lo, &lg, &sc->sc_dg)) != 0)
        return NULL;
    int rc = cdr_ledger_scan_view(lg, b->b_cfg->bc_cycle, sc->sc_share, sc->sc_nshares, on_records,
                                  sc, &sc->sc_dg);
    if (rc && !sc->sc_rc)
        sc->sc_rc = rc;
    cdr_ledger_close(lg);
    return NULL;
}

/* Add the report's figures of a scan thread into b's. */
static int merge_scan(bill_ctx *b, const bscan *sc)
{
    for (int i = 0; i < sc->sc_ncur; i++) {
        const bcur *f = &sc->sc_cur[i];
        bcur *c = cur_slot(b, f->bc_m.bm_currency);
        if (!c)
            return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0,
                                "cycle %u holds more than %d currencies", b->b_cfg->bc_cycle,
                                CDR_BILL_MAX_CURRENCIES);
        c->bc_m.bm_records += f->bc_m.bm_records;
        c->bc_late_records += f->bc_late_records;
        for (int k = 0; k < CDR_CLASS_COUNT; k++)
            c->bc_class_records[k] += f->bc_class_records[k];
        for (int v = 0; v < CDR_SVC_COUNT; v++) {
            c->bc_svc_records[v] += f->bc_svc_records[v];
            c->bc_svc_units[v] += f->bc_svc_units[v];
            c->bc_svc_charge[v] += f->bc_svc_charge[v];
        }
        for (size_t z = 0; z < f->bc_nzones; z++)
            add_zone_named(c, f->bc_zones[z].bz_name, f->bc_zones[z].bz_records,
                           f->bc_zones[z].bz_charge);
        c->bc_zone_other_records += f->bc_zone_other_records;
        c->bc_zone_other_charge += f->bc_zone_other_charge;
        c->bc_unbilled_records += f->bc_unbilled_records;
        c->bc_unbilled_charge += f->bc_unbilled_charge;
    }
    return 0;
}

/* Read the cycle with nthreads scan threads. */
static int scan_cycle(bill_ctx *b, unsigned nthreads)
{
    bscan *sc = calloc(nthreads, sizeof *sc);
    bcur *curs = calloc((size_t)nthreads * CDR_BILL_MAX_CURRENCIES, sizeof *curs);
    if (!sc || !curs) {
        free(sc);
        free(curs);
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    unsigned started = 0;
    int rc = 0;
    for (; started < nthreads; started++) {
        sc[started] = (bscan){.sc_b = b,
                              .sc_share = started,
                              .sc_nshares = nthreads,
                              .sc_cur = curs + (size_t)started * CDR_BILL_MAX_CURRENCIES};
        if (pthread_create(&sc[started].sc_thread, NULL, scan_thread, &sc[started]) != 0) {
            rc = cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "cannot start the scan threads");
            break;
        }
    }
    for (unsigned t = 0; t < started; t++)
        pthread_join(sc[t].sc_thread, NULL);
    for (unsigned t = 0; t < started && !rc; t++) { /* the first failing share, in share order */
        if (sc[t].sc_rc) {
            *b->b_dg = sc[t].sc_dg;
            rc = sc[t].sc_rc;
        }
    }
    for (unsigned t = 0; t < started && !rc; t++) {
        b->b_records += sc[t].sc_records;
        rc = merge_scan(b, &sc[t]);
    }
    free(sc);
    free(curs);
    return rc;
}

/* ---- correction sets (cdr_rerate.h) ---------------------------------------------------------- */

/* The correction sets this bill takes: those of its own cycle made while it was open (their
 * pairs replace the charges they correct), and those of earlier cycles made after those were
 * closed (their difference is an adjustment of the line). */
typedef struct bcorr {
    bscan cr_sc;
    const cdr_corr_set *cr_sets;
    int cr_nsets;
    uint32_t cr_cycle; /* the cycle being read */
} bcorr;

static int corr_taken(const bcorr *k, uint32_t partition)
{
    const uint32_t set = CDR_CORR_SET_OF(partition);
    for (int i = 0; i < k->cr_nsets; i++)
        if (k->cr_sets[i].cs_set == set)
            return k->cr_sets[i].cs_cycle == k->cr_cycle &&
                   k->cr_sets[i].cs_target == k->cr_sc.sc_b->b_cfg->bc_cycle;
    return 0;
}

static int on_corr(const cdr_ledger_view *v, uint32_t partition, bcorr *k)
{
    if (!corr_taken(k, partition))
        return 0; /* an open or abandoned set, or one another bill takes */
    const cdr_rated_view *rr = &v->lv_rv;
    const int sign = rr->rv_flags & CDR_RATED_FLAG_REVERSAL ? -1 : 1;
    bill_ctx *b = k->cr_sc.sc_b;
    const ptrdiff_t line = line_find(b, rr->rv_cdr.wv_msisdn, rr->rv_cdr.wv_msisdn_len);
    if (k->cr_cycle == b->b_cfg->bc_cycle)
        return add_record(&k->cr_sc, v, line, sign);
    /* an earlier cycle's correction: the line's adjustment, in its currency */
    char cur[4] = {0};
    memcpy(cur, rr->rv_currency, 3);
    if (line < 0) { /* the line left the directory: reported with the unbilled */
        bcur *c = cur_slot_in(k->cr_sc.sc_cur, &k->cr_sc.sc_ncur, cur);
        if (c)
            c->bc_unbilled_charge += sign * rr->rv_charge;
        return 0;
    }
    const cdr_dir_subscriber *sb = &b->b_subs[line];
    bsub *s = &b->b_bs[line];
    if (!s->bs_cur[0]) {
        memcpy(s->bs_cur, cur, 4);
    } else if (strcmp(s->bs_cur, cur)) {
        k->cr_sc.sc_rc = cdr_diag_set(&k->cr_sc.sc_dg, CDR_FORMAT, NULL, 0, 0,
                                      "subscriber %" PRIu64 " (msisdn %s): a correction of cycle "
                                      "%u in %s, but the line is billed in %s",
                                      sb->sb_id, sb->sb_msisdn, k->cr_cycle, cur, s->bs_cur);
        return 1;
    }
    s->bs_rerate += sign * rr->rv_charge;
    s->bs_billed = 1;
    return 0;
}

static int on_corrs(const cdr_ledger_view *v, size_t n, uint32_t partition, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        const int rc = on_corr(&v[i], partition, arg);
        if (rc)
            return rc;
    }
    return 0;
}

/* Read the correction sets the bill takes, if the ledger has any. */
static int scan_corrections(bill_ctx *b)
{
    const cdr_bill_config *cfg = b->b_cfg;
    cdr_corr_set *sets = NULL;
    const int n = cdr_corr_sets(cfg->bc_ledger, &sets, b->b_dg);
    if (n <= 0)
        return n < 0 ? b->b_dg->dg_code : 0;
    int rc = 0;
    bcur *curs = calloc(CDR_BILL_MAX_CURRENCIES, sizeof *curs);
    bcorr k = {
        .cr_sc = {.sc_b = b, .sc_nshares = 1, .sc_cur = curs}, .cr_sets = sets, .cr_nsets = n};
    cdr_ledger *lg = NULL;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", cfg->bc_ledger, CDR_CORR_DIR);
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    if (!curs)
        rc = cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    else
        rc = cdr_ledger_open(dir, &lo, &lg, b->b_dg);
    /* the cycles to read, ascending: each set's, once */
    uint32_t last = 0;
    while (!rc) {
        uint32_t next = 0;
        for (int i = 0; i < n; i++)
            if (sets[i].cs_target == cfg->bc_cycle && sets[i].cs_cycle > last &&
                (!next || sets[i].cs_cycle < next))
                next = sets[i].cs_cycle;
        if (!next)
            break;
        k.cr_cycle = last = next;
        cdr_diag_clear(&k.cr_sc.sc_dg);
        rc = cdr_ledger_scan_view(lg, next, 0, 1, on_corrs, &k, b->b_dg);
        if (k.cr_sc.sc_rc) {
            *b->b_dg = k.cr_sc.sc_dg;
            rc = k.cr_sc.sc_rc;
        }
    }
    if (!rc) {
        b->b_records += k.cr_sc.sc_records;
        rc = merge_scan(b, &k.cr_sc);
    }
    cdr_ledger_close(lg);
    free(curs);
    free(sets);
    return rc;
}

/* ---- proration ------------------------------------------------------------------------------- */

/* The UTC instant of local midnight of day `days` (since 1970-01-01) in tz. */
static cdr_time local_midnight(const cdr_tz *tz, int64_t days)
{
    const cdr_time t0 = days * 86400;
    const int32_t off = cdr_tz_offset(tz, t0 - cdr_tz_offset(tz, t0, NULL), NULL);
    return t0 - off;
}

/* The local midnights of a cycle in one time zone: mn[0] the cycle's start .. mn[ndays] its end
 * (UTC instants), computed once per plan family rather than once per line. */
typedef struct bmidnights {
    cdr_time mn[32];
    unsigned ndays;
} bmidnights;

static void cycle_midnights(const cdr_tz *tz, uint32_t cycle, bmidnights *m)
{
    const int64_t y = cycle / 100;
    const unsigned mo = cycle % 100;
    const int64_t d0 = cdr_days_from_civil(y, mo, 1);
    const int64_t d1 =
        mo == 12 ? cdr_days_from_civil(y + 1, 1, 1) : cdr_days_from_civil(y, mo + 1, 1);
    m->ndays = (unsigned)(d1 - d0);
    for (unsigned d = 0; d <= m->ndays; d++)
        m->mn[d] = local_midnight(tz, d0 + d);
}

/* Days of the cycle on which line sb was active at some moment, and the last active instant in
 * the cycle (for the fee's plan version). */
static unsigned active_days(const bmidnights *m, const cdr_dir_subscriber *sb, cdr_time *last)
{
    unsigned n = 0;
    *last = 0;
    if (sb->sb_active_from >= m->mn[m->ndays] || sb->sb_active_to <= m->mn[0])
        return 0;
    for (unsigned d = 0; d < m->ndays; d++) {
        const cdr_time start = m->mn[d], end = m->mn[d + 1];
        if (sb->sb_active_from < end && sb->sb_active_to > start) {
            n++;
            *last = (sb->sb_active_to < end ? sb->sb_active_to : end) - 1;
        }
    }
    return n;
}

/* The time zone the bill run counts a line's days in: that of the last version of its plan
 * family. */
const cdr_tz *cdr_bill_family_tz(const cdr_plan_set *ps, int family)
{
    if (!ps || family < 0 || (uint32_t)family >= ps->ps_nfamilies)
        return NULL;
    return &ps->ps_plans[ps->ps_family_off[family + 1] - 1]->pl_tz;
}

unsigned cdr_bill_active_days(const cdr_tz *tz, uint32_t cycle, const cdr_dir_subscriber *sb,
                              unsigned *cycle_days, cdr_time *last)
{
    *cycle_days = 0;
    *last = 0;
    if (!tz || !sb || cycle % 100 < 1 || cycle % 100 > 12)
        return 0;
    bmidnights mn;
    cycle_midnights(tz, cycle, &mn);
    *cycle_days = mn.ndays;
    return active_days(&mn, sb, last);
}

/* The bext of every line that needs one (bext above); the others keep bs_x NULL and cost the scan
 * one test per record. */
static int prepare_ext(bill_ctx *b)
{
    size_t nx = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < b->b_nsubs; i++) {
            const cdr_dir_subscriber *sb = &b->b_subs[i];
            const cdr_dir_membership *ms =
                sb->sb_enterprise ? cdr_dir_find_membership(b->b_dir, sb->sb_id) : NULL;
            const cdr_dir_product *pd = ms ? cdr_dir_find_product(b->b_dir, ms->ms_product) : NULL;
            size_t npc;
            (void)cdr_dir_find_plan_changes(b->b_dir, sb->sb_id, &npc);
            const int dated = ms && (ms->ms_from != INT64_MIN || ms->ms_to != INT64_MAX);
            const int cug = pd && pd->pd_cug && pd->pd_cug_bp;
            if (!dated && !cug && !npc)
                continue;
            if (pass == 0) {
                nx++;
                continue;
            }
            bext *x = &b->b_x[nx++];
            x->x_from = ms ? ms->ms_from : INT64_MIN;
            x->x_to = ms ? ms->ms_to : INT64_MAX;
            if (cug) {
                x->x_product = pd->pd_id;
                x->x_cug_bp = pd->pd_cug_bp;
            }
            x->x_history = dated || npc;
            b->b_bs[i].bs_x = x;
        }
        if (pass == 0) {
            if (!(b->b_x = calloc(nx ? nx : 1, sizeof *b->b_x)))
                return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            nx = 0;
        }
    }
    return 0;
}

/* The plan of a line at instant t: before its first change the first change's previous plan, else
 * the plan of the last change at or before t (the subscriber's plan= without changes). */
static const char *plan_at(const cdr_dir_plan_change *pc, size_t n, const char *current, cdr_time t)
{
    if (!n)
        return current;
    if (t < pc[0].pc_from)
        return pc[0].pc_previous;
    size_t j = 0;
    while (j + 1 < n && pc[j + 1].pc_from <= t)
        j++;
    return pc[j].pc_plan;
}

/* The fee lines of a line with plan changes or a membership with dates: every active day of the
 * cycle (days of mn, the time zone of the line's plan) goes to the plan in effect, and to the
 * enterprise or not, at the day's last active instant; one fee line per plan. */
static int history_fees(bill_ctx *b, const cdr_dir_subscriber *sb, bext *x, const bmidnights *mn)
{
    size_t npc;
    const cdr_dir_plan_change *pc = cdr_dir_find_plan_changes(b->b_dir, sb->sb_id, &npc);
    x->x_nfees = 0;
    for (unsigned d = 0; d < mn->ndays; d++) {
        const cdr_time start = mn->mn[d], end = mn->mn[d + 1];
        if (sb->sb_active_from >= end || sb->sb_active_to <= start)
            continue;
        const cdr_time t = (sb->sb_active_to < end ? sb->sb_active_to : end) - 1;
        const char *name = plan_at(pc, npc, sb->sb_plan, t);
        unsigned f = 0;
        while (f < x->x_nfees && strcmp(x->x_fee[f].f_name, name))
            f++;
        if (f == MAX_FEES)
            return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0,
                                "subscriber %" PRIu64 " is on more than %d plans in cycle %u",
                                sb->sb_id, MAX_FEES, b->b_cfg->bc_cycle);
        if (f == x->x_nfees)
            x->x_fee[x->x_nfees++].f_name = name;
        x->x_fee[f].f_days++;
        x->x_fee[f].f_in_days += t >= x->x_from && t < x->x_to;
        x->x_fee[f].f_last = t;
    }
    for (unsigned f = 0; f < x->x_nfees; f++) {
        const int fam = cdr_plan_set_family(b->b_ps, x->x_fee[f].f_name);
        if (fam < 0)
            return cdr_diag_set(b->b_dg, CDR_NOTFOUND, NULL, 0, 0,
                                "subscriber %" PRIu64 ": plan %s of its plan changes is not in "
                                "the store",
                                sb->sb_id, x->x_fee[f].f_name);
        x->x_fee[f].f_plan = cdr_plan_set_at(b->b_ps, fam, x->x_fee[f].f_last);
    }
    return 0;
}

/* ---- the split ------------------------------------------------------------------------------- */

/* Whole cents of a micro-unit amount, half-up. */
static cdr_money to_cents(cdr_money v)
{
    return cdr_round_to(v, CENT, CDR_ROUND_HALF_UP);
}

static int add_line(bill_ctx *b, uint64_t account, size_t sub, int cls, int ent, cdr_money amount,
                    int part)
{
    if (cdr_grow(&b->b_lines, &b->b_cap_lines, b->b_nlines + 1, sizeof *b->b_lines, 1024) != 0)
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    b->b_lines[b->b_nlines++] = (bline){.bl_account = account,
                                        .bl_sub = (uint32_t)sub,
                                        .bl_class = (uint8_t)cls,
                                        .bl_enterprise = (uint8_t)ent,
                                        .bl_part = (uint8_t)part,
                                        .bl_amount = amount};
    return 0;
}

static bent *ent_slot(bcur *c, uint64_t en)
{
    if (c->bc_nents && c->bc_ents[c->bc_nents - 1].be_enterprise == en)
        return &c->bc_ents[c->bc_nents - 1];
    for (size_t i = 0; i < c->bc_nents; i++)
        if (c->bc_ents[i].be_enterprise == en)
            return &c->bc_ents[i];
    if (cdr_grow(&c->bc_ents, &c->bc_cap_ents, c->bc_nents + 1, sizeof *c->bc_ents, 16) != 0)
        return NULL;
    bent *e = &c->bc_ents[c->bc_nents++];
    memset(e, 0, sizeof *e);
    e->be_enterprise = en;
    return e;
}

/* Per-line amounts kept for subscribers.jsonl, per slot (NSLOT). */
typedef struct bamounts {
    cdr_money ba_gross[NSLOT], ba_disc[NSLOT], ba_cug[NSLOT];
    cdr_money ba_ent[NSLOT], ba_mem[NSLOT];
    cdr_money ba_fee_full; /* the plan's monthly fee before proration */
} bamounts;

/* The charge class of amount slot sl. */
static int slot_class(int sl)
{
    return sl < CDR_CLASS_COUNT ? sl : CDR_CLASS_RECURRING_FEE;
}

/* The slot of fee line f (its plan's index in bext.x_fee). */
static int fee_slot(unsigned f)
{
    return f ? CDR_CLASS_COUNT + (int)f - 1 : CDR_CLASS_RECURRING_FEE;
}

/* fee x days / cycle_days, whole cents half-up, into *out. */
static int prorate(cdr_money fee, unsigned days, unsigned cycle_days, cdr_money *out)
{
    int64_t q = 0;
    if (cdr_div_round((__int128)fee * days, (int64_t)cycle_days * CENT, CDR_ROUND_HALF_UP, &q))
        return -1;
    *out = q * CENT;
    return 0;
}

int cdr_bill_prorate(cdr_money fee, unsigned days, unsigned cycle_days, cdr_money *out)
{
    if (!out || !cycle_days || days > cycle_days || prorate(fee, days, cycle_days, out))
        return CDR_RANGE;
    return 0;
}

/* -(amount x bp / 10000), whole cents half-up: a discount. */
static cdr_money discount_of(cdr_money amount, unsigned bp)
{
    int64_t q = 0;
    (void)cdr_div_round((__int128)amount * bp, (int64_t)10000 * CENT, CDR_ROUND_HALF_UP, &q);
    return -q * CENT;
}

/* Fee, cents, discounts and split of line i; its invoice lines into b->b_lines. */
static int bill_line(bill_ctx *b, size_t i, bamounts *a)
{
    const cdr_dir_subscriber *sb = &b->b_subs[i];
    bsub *s = &b->b_bs[i];
    const bext *x = s->bs_x;
    memset(a, 0, sizeof *a);
    if (!s->bs_billed)
        return 0;
    bcur *c = cur_slot(b, s->bs_cur);
    if (!c)
        return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0, "more than %d currencies",
                            CDR_BILL_MAX_CURRENCIES);
    c->bc_subscribers++;
    /* out[sl]: the part outside the membership period (the member's own, no discount, no rule) */
    cdr_money out[NSLOT] = {0};
    for (int k = 1; k < CDR_CLASS_COUNT; k++) {
        if (!s->bs_usage[k] && !s->bs_records[k])
            continue;
        a->ba_gross[k] = to_cents(s->bs_usage[k]);
        c->bc_m.bm_usage += s->bs_usage[k];
        c->bc_m.bm_rounding += a->ba_gross[k] - s->bs_usage[k];
        if (x && x->x_out[k])
            out[k] = to_cents(x->x_out[k]);
    }
    int has_fee[NSLOT] = {0};
    if (x && x->x_history) { /* one fee line per plan, split by the days in the enterprise */
        for (unsigned f = 0; f < x->x_nfees; f++) {
            const cdr_plan *pl = x->x_fee[f].f_plan;
            const int sl = fee_slot(f);
            cdr_money all, in;
            if (!pl)
                continue;
            if (prorate(pl->pl_monthly_fee, x->x_fee[f].f_days, s->bs_cycle_days, &all) ||
                prorate(pl->pl_monthly_fee, x->x_fee[f].f_in_days, s->bs_cycle_days, &in))
                return cdr_diag_set(b->b_dg, CDR_RANGE, NULL, 0, 0, "monthly fee out of range");
            a->ba_gross[sl] = all;
            out[sl] += all - in;
            has_fee[sl] = 1;
            c->bc_m.bm_fees += all;
        }
        if (s->bs_fee_plan)
            a->ba_fee_full = s->bs_fee_plan->pl_monthly_fee;
    } else if (s->bs_fee_plan) {
        const cdr_money fee = s->bs_fee_plan->pl_monthly_fee;
        cdr_money q;
        if (prorate(fee, s->bs_active_days, s->bs_cycle_days, &q))
            return cdr_diag_set(b->b_dg, CDR_RANGE, NULL, 0, 0, "monthly fee out of range");
        a->ba_gross[CDR_CLASS_RECURRING_FEE] += q;
        a->ba_fee_full = fee;
        has_fee[CDR_CLASS_RECURRING_FEE] = 1;
        c->bc_m.bm_fees += q;
    }
    for (int j = 0; j < 2; j++) { /* the adjustments file (whole cents) */
        a->ba_gross[j ? CDR_CLASS_ADJUSTMENT : CDR_CLASS_ONE_OFF] += s->bs_adj[j];
        c->bc_m.bm_adjustments += s->bs_adj[j];
    }
    if (s->bs_rerate) { /* corrections of closed cycles: an adjustment, to the cent */
        const cdr_money q = to_cents(s->bs_rerate);
        a->ba_gross[CDR_CLASS_ADJUSTMENT] += q;
        c->bc_m.bm_adjustments += q;
    }
    const cdr_dir_product *pd =
        sb->sb_enterprise ? cdr_dir_find_product(b->b_dir, sb->sb_product) : NULL;
    const unsigned bp = pd ? pd->pd_discount_bp : 0;
    /* the slots in class order, the extra fee lines after the first */
    int order[NSLOT], nsl = 0;
    for (int k = 1; k < CDR_CLASS_COUNT; k++) {
        order[nsl++] = k;
        for (int f = 1; k == CDR_CLASS_RECURRING_FEE && f < MAX_FEES; f++)
            order[nsl++] = fee_slot((unsigned)f);
    }
    cdr_money net[NSLOT] = {0}, net_in[NSLOT] = {0};
    for (int o = 0; o < nsl; o++) {
        const int sl = order[o], k = slot_class(sl);
        cdr_money in = a->ba_gross[sl] - out[sl];
        /* the closed user group's discount on its calls and messages, then the enterprise's on
         * what is left */
        if (x && sl < CDR_CLASS_COUNT && x->x_cug[sl])
            a->ba_cug[sl] = discount_of(x->x_cug[sl], x->x_cug_bp);
        in += a->ba_cug[sl];
        if (bp && k != CDR_CLASS_FREE && k != CDR_CLASS_ONE_OFF && k != CDR_CLASS_ADJUSTMENT && in)
            a->ba_disc[sl] = discount_of(in, bp);
        net_in[sl] = in + a->ba_disc[sl];
        net[sl] = net_in[sl] + out[sl];
        c->bc_gross[k] += a->ba_gross[sl];
        c->bc_disc[k] += a->ba_disc[sl] + a->ba_cug[sl];
        c->bc_cug[k] += a->ba_cug[sl];
        c->bc_m.bm_discount += a->ba_disc[sl] + a->ba_cug[sl];
    }
    /* The enterprise's share: its rules in id order, each up to its cap, classes in class order. */
    const cdr_dir_payment_rule *rules[MAX_RULES];
    size_t nr = sb->sb_enterprise ? cdr_dir_rules_for(b->b_dir, sb, rules, MAX_RULES) : 0;
    if (nr > MAX_RULES)
        return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0,
                            "subscriber %" PRIu64 ": more than %d payment rules apply", sb->sb_id,
                            MAX_RULES);
    const cdr_dir_enterprise *en =
        sb->sb_enterprise ? cdr_dir_find_enterprise(b->b_dir, sb->sb_enterprise) : NULL;
    for (size_t r = 0; r < nr && en; r++) {
        cdr_money left = rules[r]->pr_cap; /* CDR_DIR_NO_CAP: unlimited */
        for (int o = 0; o < nsl; o++) {
            const int sl = order[o];
            if (!(rules[r]->pr_classes & (1u << slot_class(sl))) || net_in[sl] == 0 ||
                a->ba_ent[sl])
                continue;
            cdr_money take = net_in[sl];
            if (take > 0 && left != CDR_DIR_NO_CAP) {
                if (take > left)
                    take = left;
                left -= take;
            }
            a->ba_ent[sl] = take;
        }
    }
    bent *e = en ? ent_slot(c, en->en_id) : NULL;
    if (en && !e)
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int own = 0; /* lines on the member's own account */
    for (int o = 0; o < nsl; o++) {
        const int sl = order[o], k = slot_class(sl);
        const int part = sl < CDR_CLASS_COUNT ? 0 : sl - CDR_CLASS_COUNT + 1;
        a->ba_mem[sl] = net[sl] - a->ba_ent[sl];
        c->bc_ent[k] += a->ba_ent[sl];
        c->bc_mem[k] += a->ba_mem[sl];
        c->bc_m.bm_enterprise_share += a->ba_ent[sl];
        c->bc_m.bm_member_share += a->ba_mem[sl];
        if (e) {
            e->be_amount += net_in[sl];
            e->be_share += a->ba_ent[sl];
        }
        int rc = 0;
        if (a->ba_ent[sl])
            rc = add_line(b, en->en_account, i, k, 1, a->ba_ent[sl], part);
        /* The member's own line: what it pays, or usage that cost nothing (free, in a bundle)
         * and the fee line of a plan without fee; a class the enterprise pays in full shows on
         * the enterprise's invoice only. */
        if (!rc &&
            (a->ba_mem[sl] ||
             (!a->ba_ent[sl] && ((sl < CDR_CLASS_COUNT && s->bs_records[sl]) || has_fee[sl])))) {
            rc = add_line(b, sb->sb_account, i, k, 0, a->ba_mem[sl], part);
            own++;
        }
        if (rc)
            return rc;
    }
    /* Every account of a billed line gets its invoice, also when the enterprise pays it all: a
     * placeholder (class none) that makes the invoice and prints no line. */
    return own ? 0 : add_line(b, sb->sb_account, i, CDR_CLASS_NONE, 0, 0, 0);
}

/* The adjustments file: a line's adjustments join its amounts (and the split); an account's own
 * become lines of its invoice. Errors name the file and line. */
static int apply_adjustments(bill_ctx *b)
{
    const cdr_adjustments *aj = b->b_cfg->bc_adjustments;
    for (size_t k = 0; aj && k < aj->aj_n; k++) {
        const cdr_adjustment *ad = &aj->aj_items[k];
        if (ad->ad_msisdn[0]) {
            const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(b->b_dir, ad->ad_msisdn);
            if (!sb)
                return cdr_diag_set(b->b_dg, CDR_FORMAT, aj->aj_path, (int)ad->ad_line, 0,
                                    "adjustment %s: msisdn %s is not in the directory", ad->ad_id,
                                    ad->ad_msisdn);
            bsub *s = &b->b_bs[sb - b->b_subs];
            if (!s->bs_cur[0])
                memcpy(s->bs_cur, ad->ad_currency, 4);
            else if (strcmp(s->bs_cur, ad->ad_currency))
                return cdr_diag_set(b->b_dg, CDR_FORMAT, aj->aj_path, (int)ad->ad_line, 0,
                                    "adjustment %s is in %s, but msisdn %s is billed in %s",
                                    ad->ad_id, ad->ad_currency, ad->ad_msisdn, s->bs_cur);
            s->bs_adj[ad->ad_class == CDR_CLASS_ONE_OFF ? 0 : 1] += ad->ad_amount;
            s->bs_billed = 1;
        } else {
            if (!cdr_dir_find_account(b->b_dir, ad->ad_account))
                return cdr_diag_set(b->b_dg, CDR_FORMAT, aj->aj_path, (int)ad->ad_line, 0,
                                    "adjustment %s: account %" PRIu64 " is not in the directory",
                                    ad->ad_id, ad->ad_account);
            int rc =
                add_line(b, ad->ad_account, ADJ_LINE_BIT | k, ad->ad_class, 0, ad->ad_amount, 0);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- reconciliation with the live state ------------------------------------------------------ */

/* A line whose live state (cdr_live.h, kept by the rating side in the store) disagrees with the
 * ledger in a currency: records or charge. */
typedef struct bdiff {
    uint64_t bd_subscriber;
    char bd_currency[4];
    uint64_t bd_live_records, bd_ledger_records;
    cdr_money bd_live_charge, bd_ledger_charge;
} bdiff;

static int add_diff(bill_ctx *b, const bdiff *d)
{
    if (cdr_grow(&b->b_diffs, &b->b_cap_diffs, b->b_ndiffs + 1, sizeof *b->b_diffs, 64) != 0)
        return CDR_ENOMEM;
    b->b_diffs[b->b_ndiffs++] = *d;
    return 0;
}

/* A line's usage in the ledger: records and rated charge over the usage classes. */
static void ledger_usage(const bsub *s, uint64_t *records, cdr_money *charge)
{
    *records = 0;
    *charge = 0;
    for (int k = CDR_CLASS_NONE + 1; k < CDR_CLASS_COUNT; k++) {
        *records += s->bs_records[k];
        *charge += s->bs_usage[k];
    }
}

static int recon_line(void *arg, const cdr_live_line *l)
{
    bill_ctx *b = arg;
    b->b_live_lines++;
    const cdr_dir_subscriber *sb = cdr_dir_find_subscriber(b->b_dir, l->ll_subscriber);
    bsub *s = sb ? &b->b_bs[sb - b->b_subs] : NULL;
    uint64_t recs = 0;
    cdr_money charge = 0;
    if (s) {
        s->bs_live_seen = 1;
        ledger_usage(s, &recs, &charge);
    }
    for (uint32_t i = 0; i < l->ll_ncur && i < CDR_LIVE_MAX_CURRENCIES; i++) {
        const cdr_live_money *m = &l->ll_money[i];
        const int mine = s && !strncmp(m->lm_currency, s->bs_cur, 3);
        bdiff d = {.bd_subscriber = l->ll_subscriber,
                   .bd_live_records = m->lm_records,
                   .bd_live_charge = m->lm_total,
                   .bd_ledger_records = mine ? recs : 0,
                   .bd_ledger_charge = mine ? charge : 0};
        memcpy(d.bd_currency, m->lm_currency, 3);
        if (mine)
            recs = 0, charge = 0; /* compared */
        if ((d.bd_live_records != d.bd_ledger_records || d.bd_live_charge != d.bd_ledger_charge) &&
            add_diff(b, &d))
            return CDR_ENOMEM;
    }
    if (recs || charge) { /* ledger usage in a currency the live state lacks */
        bdiff d = {.bd_subscriber = l->ll_subscriber,
                   .bd_ledger_records = recs,
                   .bd_ledger_charge = charge};
        memcpy(d.bd_currency, s->bs_cur, 3);
        if (add_diff(b, &d))
            return CDR_ENOMEM;
    }
    return 0;
}

/* Compare every line's usage in the ledger with the live state of the cycle, when the store holds
 * one (b_live_lines 0: not reconciled). */
static int reconcile(bill_ctx *b, cdr_store *st)
{
    int rc = cdr_live_each(st, b->b_cfg->bc_cycle, recon_line, NULL, b, b->b_dg);
    if (rc == CDR_ENOMEM)
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc)
        return rc;
    for (size_t i = 0; b->b_live_lines && i < b->b_nsubs; i++) {
        const bsub *s = &b->b_bs[i];
        uint64_t recs;
        cdr_money charge;
        ledger_usage(s, &recs, &charge);
        if (s->bs_live_seen || (!recs && !charge))
            continue;
        bdiff d = {.bd_subscriber = b->b_subs[i].sb_id,
                   .bd_ledger_records = recs,
                   .bd_ledger_charge = charge};
        memcpy(d.bd_currency, s->bs_cur, 3);
        if (add_diff(b, &d))
            return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    return 0;
}

/* ---- output ---------------------------------------------------------------------------------- */

static const char *money2(cdr_money v, char *buf, size_t n)
{
    return cdr_money_format(v, 2, CDR_ROUND_HALF_UP, buf, n);
}

static const char *percent(uint32_t ppm, char *buf, size_t n)
{
    unsigned whole = ppm / 10000, frac = ppm % 10000;
    if (!frac) {
        snprintf(buf, n, "%u%%", whole);
    } else {
        int d = 4;
        while (frac % 10 == 0)
            frac /= 10, d--;
        snprintf(buf, n, "%u.%0*u%%", whole, d, frac);
    }
    return buf;
}

/* One piece of output built without printf (the bill run writes millions of these), then
 * written with one fwrite. Every piece is far below the buffer's size; a piece that would not fit
 * is cut, which the writers' fixed formats never reach. */
typedef struct lbuf {
    char lb[1024];
    size_t ln;
} lbuf;

static void lb_n(lbuf *l, const char *s, size_t n)
{
    if (n > sizeof l->lb - l->ln)
        n = sizeof l->lb - l->ln;
    memcpy(l->lb + l->ln, s, n);
    l->ln += n;
}

static void lb_s(lbuf *l, const char *s)
{
    lb_n(l, s, strlen(s));
}

static void lb_u(lbuf *l, uint64_t v)
{
    char t[24];
    size_t k = sizeof t;
    do
        t[--k] = (char)('0' + v % 10);
    while (v /= 10);
    lb_n(l, t + k, sizeof t - k);
}

/* v micro-units with 2 decimals (rounded half-up: the bill's amounts are whole cents already) or
 * 6, as cdr_money_format writes them. */
static void lb_money(lbuf *l, cdr_money v, int decimals)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t q = decimals == 2 ? (u + CENT / 2) / CENT : u, scale = decimals == 2 ? 100 : 1000000;
    if (v < 0 && q)
        lb_n(l, "-", 1);
    lb_u(l, q / scale);
    char t[8];
    uint64_t f = q % scale;
    for (int k = decimals - 1; k >= 0; k--, f /= 10)
        t[k] = (char)('0' + f % 10);
    lb_n(l, ".", 1);
    lb_n(l, t, (size_t)decimals);
}

/* "MONEY" as a JSON string. */
static void lb_jmoney(lbuf *l, cdr_money v, int decimals)
{
    lb_n(l, "\"", 1);
    lb_money(l, v, decimals);
    lb_n(l, "\"", 1);
}

static void lb_out(lbuf *l, FILE *f)
{
    fwrite(l->lb, 1, l->ln, f);
    l->ln = 0;
}

static void cycle_text(uint32_t cycle, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u", cycle / 100, cycle % 100);
}

static void date_text(int64_t days, char *buf, size_t n)
{
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04" PRId64 "-%02u-%02u", y, m, d);
}

static FILE *create(const char *dir, const char *name, char *path, size_t n, cdr_diag *dg)
{
    snprintf(path, n, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* the umask decides */
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

/* Flush, fsync and close; CDR_EIO with the path on failure. */
static int finish(FILE *f, const char *path, cdr_diag *dg)
{
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? cdr_diag_set(dg, CDR_EIO, path, 0, 0, "write failed: %s", strerror(e)) : 0;
}

static int cmp_line(const void *x, const void *y)
{
    const bline *a = x, *b = y;
    if (a->bl_account != b->bl_account)
        return a->bl_account < b->bl_account ? -1 : 1;
    if (a->bl_sub != b->bl_sub)
        return a->bl_sub < b->bl_sub ? -1 : 1;
    if (a->bl_class != b->bl_class)
        return a->bl_class - b->bl_class;
    if (a->bl_part != b->bl_part)
        return a->bl_part - b->bl_part;
    return a->bl_enterprise - b->bl_enterprise;
}

typedef struct outfiles {
    FILE *of_inv_json, *of_inv_csv, *of_lines_csv;
    char of_p1[4200], of_p2[4200], of_p3[4200];
} outfiles;

static int cmp_acct_ent(const void *x, const void *y)
{
    const cdr_dir_enterprise *a = *(const cdr_dir_enterprise *const *)x;
    const cdr_dir_enterprise *b = *(const cdr_dir_enterprise *const *)y;
    return (a->en_account > b->en_account) - (a->en_account < b->en_account);
}

/* The enterprise whose account is acct, or NULL (b_ents: the enterprises by account). */
static const cdr_dir_enterprise *enterprise_of_account(const bill_ctx *b, uint64_t acct)
{
    size_t lo = 0, hi = b->b_nents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->b_ents[mid]->en_account < acct)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->b_nents && b->b_ents[lo]->en_account == acct ? b->b_ents[lo] : NULL;
}

/* The invoice of one account: lines [from, to) of b->b_lines (sorted); its total into *total. */
static int write_invoice(bill_ctx *b, const outfiles *of, size_t from, size_t to, cdr_money *total)
{
    const uint64_t acct = b->b_lines[from].bl_account;
    const cdr_dir_account *ac = cdr_dir_find_account(b->b_dir, acct);
    const cdr_dir_customer *cu = ac ? cdr_dir_find_customer(b->b_dir, ac->ac_customer) : NULL;
    if (!ac)
        return cdr_diag_set(b->b_dg, CDR_STORE, NULL, 0, 0,
                            "account %" PRIu64 " is not in the directory", acct);
    /* One currency: the account's, else its lines'. */
    const char *cur = ac->ac_currency[0] ? ac->ac_currency : NULL;
    const cdr_adjustments *aj = b->b_cfg->bc_adjustments;
    for (size_t i = from; i < to; i++) {
        const uint32_t si = b->b_lines[i].bl_sub;
        if (si & ADJ_LINE_BIT) { /* the account's own adjustment */
            const cdr_adjustment *ad = &aj->aj_items[si & ~ADJ_LINE_BIT];
            if (!cur)
                cur = ad->ad_currency;
            else if (strcmp(cur, ad->ad_currency))
                return cdr_diag_set(b->b_dg, CDR_FORMAT, aj->aj_path, (int)ad->ad_line, 0,
                                    "adjustment %s is in %s, but account %" PRIu64
                                    " is billed in %s",
                                    ad->ad_id, ad->ad_currency, acct, cur);
            continue;
        }
        const bsub *s = &b->b_bs[si];
        if (!cur) {
            cur = s->bs_cur;
        } else if (strcmp(cur, s->bs_cur)) {
            const cdr_dir_subscriber *sb = &b->b_subs[si];
            return cdr_diag_set(b->b_dg, CDR_FORMAT, NULL, 0, 0,
                                "account %" PRIu64 " would be billed in %s and in %s (subscriber "
                                "%" PRIu64 ", plan %s): an invoice has one currency; give the "
                                "account currency= and lines whose plans charge in it "
                                "(docs/billing.md)",
                                acct, cur, s->bs_cur, sb->sb_id, sb->sb_plan);
        }
    }
    bcur *c = cur_slot(b, cur);
    if (!c)
        return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0, "more than %d currencies",
                            CDR_BILL_MAX_CURRENCIES);
    const cdr_dir_credit_class *cc = cdr_dir_find_credit_class(b->b_dir, ac->ac_credit_class);
    const cdr_dir_enterprise *en = enterprise_of_account(b, acct);
    const uint32_t term = cc ? cc->cc_term_days : 0;
    if (term != b->b_due_term || !b->b_due[0]) {
        date_text(b->b_end + term, b->b_due, sizeof b->b_due);
        b->b_due_term = term;
    }
    char(*const pc)[16] = b->b_pc;
    lbuf inv = {.ln = 0}; /* the invoice number */
    lb_s(&inv, "INV-");
    lb_u(&inv, b->b_cfg->bc_cycle);
    lb_s(&inv, "-");
    lb_u(&inv, acct);
    char invno[64];
    memcpy(invno, inv.lb, inv.ln);
    invno[inv.ln] = '\0';
    const char *kind = en ? "enterprise" : "member";
    if (!en) { /* an account of lines of no enterprise is an individual's */
        int member = 0;
        for (size_t i = from; i < to && !member; i++)
            member = !(b->b_lines[i].bl_sub & ADJ_LINE_BIT) &&
                     b->b_subs[b->b_lines[i].bl_sub].sb_enterprise != 0;
        if (!member)
            kind = "individual";
    }
    cdr_money sub_amt[CDR_CLASS_COUNT] = {0}, sub_tax[CDR_CLASS_COUNT] = {0}, amount = 0, tax = 0;
    FILE *j = of->of_inv_json;
    lbuf o = {.ln = 0};
    lb_s(&o, "{\"invoice\":\"");
    lb_s(&o, invno);
    lb_s(&o, "\",\"account\":");
    lb_u(&o, acct);
    lb_s(&o, ",\"kind\":\"");
    lb_s(&o, kind);
    lb_s(&o, "\",\"customer\":");
    lb_u(&o, ac->ac_customer);
    lb_s(&o, ",\"customer_name\":");
    lb_out(&o, j);
    cdr_json_write_str(j, cu ? cu->cu_name : "");
    lb_s(&o, ",\"enterprise\":");
    if (en)
        lb_u(&o, en->en_id);
    else
        lb_s(&o, "null");
    lb_s(&o, ",\"cycle\":\"");
    lb_s(&o, b->b_cyc);
    lb_s(&o, "\",\"currency\":\"");
    lb_s(&o, cur);
    lb_s(&o, "\",\"issued\":\"");
    lb_s(&o, b->b_issued);
    lb_s(&o, "\",\"due\":\"");
    lb_s(&o, b->b_due);
    lb_s(&o, "\",\"credit_class\":");
    lb_out(&o, j);
    if (cc)
        cdr_json_write_str(j, cc->cc_id);
    else
        fputs("null", j);
    fputs(",\"lines\":[", j);
    int nl = 0;
    for (size_t i = from; i < to; i++) {
        const bline *l = &b->b_lines[i];
        if (l->bl_class == CDR_CLASS_NONE)
            continue; /* the placeholder of an account whose enterprise pays everything */
        const cdr_adjustment *ad =
            l->bl_sub & ADJ_LINE_BIT ? &aj->aj_items[l->bl_sub & ~ADJ_LINE_BIT] : NULL;
        const cdr_dir_subscriber *sb = ad ? NULL : &b->b_subs[l->bl_sub];
        const uint32_t ppm = b->b_cfg->bc_tax.tt_ppm[l->bl_class];
        const cdr_money t = cdr_tax_of(l->bl_amount, ppm);
        sub_amt[l->bl_class] += l->bl_amount;
        sub_tax[l->bl_class] += t;
        amount += l->bl_amount;
        tax += t;
        c->bc_tax[l->bl_class] += t;
        const char *cls = cdr_charge_class_name(l->bl_class),
                   *share = l->bl_enterprise ? "enterprise" : "own";
        lb_s(&o, nl++ ? ",{\"subscriber\":" : "{\"subscriber\":");
        if (sb) {
            lb_u(&o, sb->sb_id);
            lb_s(&o, ",\"msisdn\":\"");
            lb_s(&o, sb->sb_msisdn);
            lb_s(&o, "\"");
        } else {
            lb_s(&o, "null,\"msisdn\":null");
        }
        lb_s(&o, ",\"class\":\"");
        lb_s(&o, cls);
        lb_s(&o, "\",\"share\":\"");
        lb_s(&o, share);
        const bext *x = sb ? b->b_bs[l->bl_sub].bs_x : NULL;
        if (x && x->x_nfees > 1 && l->bl_class == CDR_CLASS_RECURRING_FEE) {
            lb_s(&o, "\",\"plan\":");
            lb_out(&o, j);
            cdr_json_write_str(j, x->x_fee[l->bl_part].f_name);
            lb_s(&o, ",\"amount\":");
        } else {
            lb_s(&o, "\",\"amount\":");
        }
        lb_jmoney(&o, l->bl_amount, 2);
        lb_s(&o, ",\"tax_rate\":\"");
        lb_s(&o, pc[l->bl_class]);
        lb_s(&o, "\",\"tax\":");
        lb_jmoney(&o, t, 2);
        lb_s(&o, ",\"total\":");
        lb_jmoney(&o, l->bl_amount + t, 2);
        if (ad) {
            lb_s(&o, ",\"adjustment\":");
            lb_out(&o, j);
            cdr_json_write_str(j, ad->ad_id);
            lb_s(&o, ",\"description\":");
            lb_out(&o, j);
            cdr_json_write_str(j, ad->ad_text);
            /* the account pays its own adjustment: the enterprise's share if it is an
             * enterprise's account */
            c->bc_gross[l->bl_class] += l->bl_amount;
            c->bc_m.bm_adjustments += l->bl_amount;
            if (en) {
                c->bc_ent[l->bl_class] += l->bl_amount;
                c->bc_m.bm_enterprise_share += l->bl_amount;
            } else {
                c->bc_mem[l->bl_class] += l->bl_amount;
                c->bc_m.bm_member_share += l->bl_amount;
            }
        }
        lb_s(&o, "}");
        lb_out(&o, j);
        lb_s(&o, invno);
        lb_s(&o, ",");
        lb_u(&o, acct);
        lb_s(&o, ",");
        if (sb) {
            lb_u(&o, sb->sb_id);
            lb_s(&o, ",");
            lb_s(&o, sb->sb_msisdn);
        } else {
            lb_s(&o, ",");
        }
        lb_s(&o, ",");
        lb_s(&o, cls);
        lb_s(&o, ",");
        lb_s(&o, share);
        lb_s(&o, ",");
        lb_money(&o, l->bl_amount, 2);
        lb_s(&o, ",");
        lb_s(&o, pc[l->bl_class]);
        lb_s(&o, ",");
        lb_money(&o, t, 2);
        lb_s(&o, ",");
        lb_money(&o, l->bl_amount + t, 2);
        lb_s(&o, ",");
        lb_s(&o, cur);
        lb_s(&o, "\n");
        lb_out(&o, of->of_lines_csv);
    }
    fputs("],\"subtotals\":{", j);
    int first = 1;
    for (int k = 1; k < CDR_CLASS_COUNT; k++) {
        int any = 0;
        for (size_t i = from; i < to && !any; i++)
            any = b->b_lines[i].bl_class == k;
        if (!any)
            continue;
        lb_s(&o, first ? "\"" : ",\"");
        lb_s(&o, cdr_charge_class_name(k));
        lb_s(&o, "\":{\"amount\":");
        lb_jmoney(&o, sub_amt[k], 2);
        lb_s(&o, ",\"tax\":");
        lb_jmoney(&o, sub_tax[k], 2);
        lb_s(&o, ",\"total\":");
        lb_jmoney(&o, sub_amt[k] + sub_tax[k], 2);
        lb_s(&o, "}");
        lb_out(&o, j);
        first = 0;
    }
    lb_s(&o, "},\"amount\":");
    lb_jmoney(&o, amount, 2);
    lb_s(&o, ",\"tax\":");
    lb_jmoney(&o, tax, 2);
    lb_s(&o, ",\"total\":");
    lb_jmoney(&o, amount + tax, 2);
    lb_s(&o, "}\n");
    lb_out(&o, j);
    lb_s(&o, invno);
    lb_s(&o, ",");
    lb_u(&o, acct);
    lb_s(&o, ",");
    lb_s(&o, kind);
    lb_s(&o, ",");
    lb_u(&o, ac->ac_customer);
    lb_s(&o, ",");
    lb_out(&o, of->of_inv_csv);
    bill_csv_field(of->of_inv_csv, cu ? cu->cu_name : "");
    const char *const fields[4] = {b->b_cyc, cur, b->b_issued, b->b_due};
    for (int k = 0; k < 4; k++) {
        lb_s(&o, ",");
        lb_s(&o, fields[k]);
    }
    lb_s(&o, ",");
    lb_money(&o, amount, 2);
    lb_s(&o, ",");
    lb_money(&o, tax, 2);
    lb_s(&o, ",");
    lb_money(&o, amount + tax, 2);
    lb_s(&o, ",");
    lb_s(&o, cc ? cc->cc_id : "");
    lb_s(&o, "\n");
    lb_out(&o, of->of_inv_csv);
    *total = amount + tax;
    c->bc_m.bm_invoices++;
    c->bc_m.bm_amount += amount;
    c->bc_m.bm_tax += tax;
    c->bc_m.bm_total += amount + tax;
    return 0;
}

static void write_subscriber(bill_ctx *b, FILE *f, size_t i, const bamounts *a)
{
    const cdr_dir_subscriber *sb = &b->b_subs[i];
    const bsub *s = &b->b_bs[i];
    lbuf o = {.ln = 0};
    lb_s(&o, "{\"subscriber\":");
    lb_u(&o, sb->sb_id);
    lb_s(&o, ",\"msisdn\":\"");
    lb_s(&o, sb->sb_msisdn);
    lb_s(&o, "\",\"account\":");
    lb_u(&o, sb->sb_account);
    lb_s(&o, ",\"enterprise\":");
    if (sb->sb_enterprise)
        lb_u(&o, sb->sb_enterprise);
    else
        lb_s(&o, "null");
    lb_s(&o, ",\"plan\":");
    lb_out(&o, f);
    cdr_json_write_str(f, sb->sb_plan);
    lb_s(&o, ",\"currency\":\"");
    lb_s(&o, s->bs_cur);
    lb_s(&o, "\",\"active_days\":");
    lb_u(&o, s->bs_active_days);
    lb_s(&o, ",\"cycle_days\":");
    lb_u(&o, s->bs_cycle_days);
    lb_s(&o, ",\"monthly_fee\":");
    if (s->bs_fee_plan) {
        lb_jmoney(&o, a->ba_fee_full, 2);
        lb_s(&o, ",\"fee_plan_version\":");
        lb_u(&o, s->bs_fee_plan->pl_version);
    } else {
        lb_s(&o, "null,\"fee_plan_version\":null");
    }
    const bext *x = s->bs_x;
    if (x && x->x_history) { /* the fee lines: one per plan, with its days in the enterprise */
        lb_s(&o, ",\"fees\":[");
        for (unsigned k = 0, n = 0; k < x->x_nfees; k++) {
            const cdr_plan *pl = x->x_fee[k].f_plan;
            if (!pl)
                continue;
            lb_s(&o, n++ ? ",{\"plan\":" : "{\"plan\":");
            lb_out(&o, f);
            cdr_json_write_str(f, pl->pl_id);
            lb_s(&o, ",\"version\":");
            lb_u(&o, pl->pl_version);
            lb_s(&o, ",\"monthly_fee\":");
            lb_jmoney(&o, pl->pl_monthly_fee, 2);
            lb_s(&o, ",\"days\":");
            lb_u(&o, x->x_fee[k].f_days);
            lb_s(&o, ",\"enterprise_days\":");
            lb_u(&o, sb->sb_enterprise ? x->x_fee[k].f_in_days : 0);
            lb_s(&o, ",\"amount\":");
            lb_jmoney(&o, a->ba_gross[fee_slot(k)], 2);
            lb_s(&o, "}");
        }
        lb_s(&o, "]");
    }
    lb_s(&o, ",\"classes\":{");
    int first = 1;
    for (int k = 1; k < CDR_CLASS_COUNT; k++) {
        /* the class's figures: its slot, and for recurring_fee the extra fee lines */
        cdr_money gross = a->ba_gross[k], disc = a->ba_disc[k], cug = a->ba_cug[k],
                  ent = a->ba_ent[k], mem = a->ba_mem[k];
        for (int sl = CDR_CLASS_COUNT; k == CDR_CLASS_RECURRING_FEE && sl < NSLOT; sl++) {
            gross += a->ba_gross[sl];
            disc += a->ba_disc[sl];
            ent += a->ba_ent[sl];
            mem += a->ba_mem[sl];
        }
        if (!s->bs_records[k] && !gross && !ent && !mem &&
            !(k == CDR_CLASS_RECURRING_FEE && s->bs_fee_plan))
            continue;
        lb_s(&o, first ? "\"" : ",\"");
        lb_s(&o, cdr_charge_class_name(k));
        lb_s(&o, "\":{\"records\":");
        lb_u(&o, s->bs_records[k]);
        lb_s(&o, ",\"rated\":");
        lb_jmoney(&o, s->bs_usage[k], 6);
        lb_s(&o, ",\"gross\":");
        lb_jmoney(&o, gross, 2);
        if (x && x->x_cug_bp) { /* a member of a closed user group */
            lb_s(&o, ",\"cug_records\":");
            lb_u(&o, x->x_cug_records[k]);
            lb_s(&o, ",\"cug_discount\":");
            lb_jmoney(&o, cug, 2);
        }
        lb_s(&o, ",\"discount\":");
        lb_jmoney(&o, disc, 2);
        lb_s(&o, ",\"enterprise\":");
        lb_jmoney(&o, ent, 2);
        lb_s(&o, ",\"member\":");
        lb_jmoney(&o, mem, 2);
        lb_s(&o, "}");
        lb_out(&o, f);
        first = 0;
    }
    lb_s(&o, "}}\n");
    lb_out(&o, f);
}

static int cmp_cur(const void *x, const void *y)
{
    return strcmp(((const bcur *)x)->bc_m.bm_currency, ((const bcur *)y)->bc_m.bm_currency);
}

static int cmp_zone(const void *x, const void *y)
{
    return strcmp(((const bzone *)x)->bz_name, ((const bzone *)y)->bz_name);
}

static int cmp_ent(const void *x, const void *y)
{
    const bent *a = x, *b = y;
    return (a->be_enterprise > b->be_enterprise) - (a->be_enterprise < b->be_enterprise);
}

static void write_report(bill_ctx *b, FILE *f, const uint64_t *over, size_t nover)
{
    char cyc[16], m1[40], m2[40], m3[40], m4[40], m5[40], m6[40], m7[40], m8[40], m9[40], m10[40];
    cycle_text(b->b_cfg->bc_cycle, cyc, sizeof cyc);
    fprintf(f, "{\"cycle\":\"%s\",\"records\":%" PRIu64 ",\"currencies\":{", cyc, b->b_records);
    for (int i = 0; i < b->b_ncur; i++) {
        bcur *c = &b->b_cur[i];
        const cdr_bill_money *m = &c->bc_m;
        fprintf(f,
                "%s\"%s\":{\"invoices\":%" PRIu64 ",\"subscribers\":%" PRIu64
                ",\"records\":%" PRIu64 ",\"amount\":\"%s\",\"tax\":\"%s\",\"total\":\"%s\","
                "\"rated_usage\":\"%s\",\"fees\":\"%s\",\"discounts\":\"%s\","
                "\"adjustments\":\"%s\","
                "\"usage_rounding\":\"%s\",\"enterprise_share\":\"%s\",\"member_share\":\"%s\"",
                i ? "," : "", m->bm_currency[0] ? m->bm_currency : "???", m->bm_invoices,
                c->bc_subscribers, m->bm_records, money2(m->bm_amount, m1, sizeof m1),
                money2(m->bm_tax, m2, sizeof m2), money2(m->bm_total, m3, sizeof m3),
                cdr_money_format(m->bm_usage, 6, CDR_ROUND_HALF_UP, m4, sizeof m4),
                money2(m->bm_fees, m5, sizeof m5), money2(m->bm_discount, m6, sizeof m6),
                money2(m->bm_adjustments, m10, sizeof m10),
                cdr_money_format(m->bm_rounding, 6, CDR_ROUND_HALF_UP, m7, sizeof m7),
                money2(m->bm_enterprise_share, m8, sizeof m8),
                money2(m->bm_member_share, m9, sizeof m9));
        fprintf(f, ",\"late_records\":%" PRIu64, c->bc_late_records);
        cdr_money cug = 0;
        for (int k = 1; k < CDR_CLASS_COUNT; k++)
            cug += c->bc_cug[k];
        fprintf(f, ",\"cug_discounts\":\"%s\"", money2(cug, m1, sizeof m1));
        fputs(",\"by_service\":{", f);
        int first = 1;
        for (int s = 0; s < CDR_SVC_COUNT; s++) {
            if (!c->bc_svc_records[s])
                continue;
            fprintf(f, "%s\"%s\":{\"records\":%" PRIu64 ",\"units\":%" PRIu64 ",\"charge\":\"%s\"}",
                    first ? "" : ",", cdr_service_name(s), c->bc_svc_records[s], c->bc_svc_units[s],
                    cdr_money_format(c->bc_svc_charge[s], 6, CDR_ROUND_HALF_UP, m1, sizeof m1));
            first = 0;
        }
        fputs("},\"by_zone\":{", f);
        if (c->bc_nzones > 1)
            qsort(c->bc_zones, c->bc_nzones, sizeof *c->bc_zones, cmp_zone);
        for (size_t z = 0; z < c->bc_nzones; z++)
            fprintf(
                f, "%s\"%s\":{\"records\":%" PRIu64 ",\"charge\":\"%s\"}", z ? "," : "",
                c->bc_zones[z].bz_name, c->bc_zones[z].bz_records,
                cdr_money_format(c->bc_zones[z].bz_charge, 6, CDR_ROUND_HALF_UP, m1, sizeof m1));
        if (c->bc_zone_other_records)
            fprintf(f, "%s\"(other)\":{\"records\":%" PRIu64 ",\"charge\":\"%s\"}",
                    c->bc_nzones ? "," : "", c->bc_zone_other_records,
                    cdr_money_format(c->bc_zone_other_charge, 6, CDR_ROUND_HALF_UP, m1, sizeof m1));
        fputs("},\"by_class\":{", f);
        first = 1;
        for (int k = 1; k < CDR_CLASS_COUNT; k++) {
            const cdr_money net = c->bc_gross[k] + c->bc_disc[k];
            if (!c->bc_class_records[k] && !c->bc_gross[k] && !net && !c->bc_tax[k])
                continue;
            fprintf(f,
                    "%s\"%s\":{\"records\":%" PRIu64 ",\"gross\":\"%s\",\"discount\":\"%s\","
                    "\"cug_discount\":\"%s\",\"amount\":\"%s\",\"tax\":\"%s\","
                    "\"enterprise_share\":\"%s\"}",
                    first ? "" : ",", cdr_charge_class_name(k), c->bc_class_records[k],
                    money2(c->bc_gross[k], m1, sizeof m1), money2(c->bc_disc[k], m2, sizeof m2),
                    money2(c->bc_cug[k], m6, sizeof m6), money2(net, m3, sizeof m3),
                    money2(c->bc_tax[k], m4, sizeof m4), money2(c->bc_ent[k], m5, sizeof m5));
            first = 0;
        }
        fputs("},\"by_enterprise\":{", f);
        if (c->bc_nents > 1)
            qsort(c->bc_ents, c->bc_nents, sizeof *c->bc_ents, cmp_ent);
        for (size_t e = 0; e < c->bc_nents; e++) {
            const cdr_dir_enterprise *en =
                cdr_dir_find_enterprise(b->b_dir, c->bc_ents[e].be_enterprise);
            fprintf(f, "%s\"%" PRIu64 "\":{\"name\":", e ? "," : "", c->bc_ents[e].be_enterprise);
            cdr_json_write_str(f, en ? en->en_name : "");
            fprintf(f, ",\"amount\":\"%s\",\"enterprise_share\":\"%s\"}",
                    money2(c->bc_ents[e].be_amount, m1, sizeof m1),
                    money2(c->bc_ents[e].be_share, m2, sizeof m2));
        }
        fprintf(f, "},\"unbilled\":{\"records\":%" PRIu64 ",\"charge\":\"%s\"}}",
                c->bc_unbilled_records,
                cdr_money_format(c->bc_unbilled_charge, 6, CDR_ROUND_HALF_UP, m1, sizeof m1));
    }
    /* Accounts over their credit limit (invoice total against the class's limit). */
    /* Reconciliation with the live state (none: the store keeps none for the cycle). */
    fprintf(f,
            "},\"reconciliation\":{\"live_state\":%s,\"live_lines\":%" PRIu64
            ",\"differences\":%zu,\"items\":[",
            b->b_live_lines ? "true" : "false", b->b_live_lines, b->b_ndiffs);
    for (size_t i = 0; i < b->b_ndiffs; i++) {
        const bdiff *d = &b->b_diffs[i];
        fprintf(f,
                "%s{\"subscriber\":%" PRIu64 ",\"currency\":\"%.3s\",\"live_records\":%" PRIu64
                ",\"ledger_records\":%" PRIu64 ",\"live_charge\":\"%s\",\"ledger_charge\":\"%s\"}",
                i ? "," : "", d->bd_subscriber, d->bd_currency, d->bd_live_records,
                d->bd_ledger_records,
                cdr_money_format(d->bd_live_charge, 6, CDR_ROUND_HALF_UP, m1, sizeof m1),
                cdr_money_format(d->bd_ledger_charge, 6, CDR_ROUND_HALF_UP, m2, sizeof m2));
    }
    fputs("]", f);
    fputs("},\"over_credit_limit\":[", f);
    for (size_t i = 0; i < nover; i += 3)
        fprintf(f, "%s{\"account\":%" PRIu64 ",\"total\":\"%s\",\"limit\":\"%s\"}", i ? "," : "",
                over[i], money2((cdr_money)over[i + 1], m1, sizeof m1),
                money2((cdr_money)over[i + 2], m2, sizeof m2));
    /* Lines whose credit class lets them roam internationally without a deposit. */
    fputs("],\"roaming_without_deposit\":[", f);
    int first = 1;
    for (size_t i = 0; i < b->b_nsubs; i++) {
        const cdr_dir_subscriber *sb = &b->b_subs[i];
        if (!b->b_bs[i].bs_billed)
            continue;
        const cdr_dir_credit_class *cc = cdr_dir_line_credit_class(b->b_dir, sb);
        if (!cc || !cc->cc_roaming_no_deposit)
            continue;
        fprintf(f,
                "%s{\"msisdn\":\"%s\",\"subscriber\":%" PRIu64 ",\"account\":%" PRIu64
                ",\"credit_class\":",
                first ? "" : ",", sb->sb_msisdn, sb->sb_id, sb->sb_account);
        cdr_json_write_str(f, cc->cc_id);
        putc('}', f);
        first = 0;
    }
    fputs("]}\n", f);
}

/* ---- the invoices, in parallel -----------------------------------------------------------------
 * Threads format the invoices a chunk of accounts at a time, each into memory and with a copy of
 * the run's state of its own (bill_ctx: the report figures of its invoices, the due date, the
 * diagnostic); the chunks are written in account order, each by the thread that formatted it
 * when its turn comes. The files are the same bytes whatever the number of threads; the first
 * failure in account order is the run's. */

#define INV_CHUNK 4096 /* invoices per chunk */

typedef struct winv {
    bill_ctx *wi_b;
    const outfiles *wi_of;
    const size_t *wi_cut; /* chunk k: lines [wi_cut[k], wi_cut[k + 1]) of b_lines */
    size_t wi_nchunks;
    size_t wi_next; /* the next chunk to format */
    size_t wi_turn; /* the next chunk to write */
    int wi_rc;      /* the first failure in chunk order, with its diagnostic */
    cdr_diag wi_dg;
    uint64_t *wi_over; /* accounts over their credit limit: id, total, limit */
    size_t wi_nover, wi_capover;
    pthread_mutex_t wi_mu;
    pthread_cond_t wi_cv;
} winv;

/* A chunk's bytes of one file: a FILE (fopencookie) writing into memory kept from chunk to
 * chunk (fresh memory for every chunk would cost page faults and unmaps). */
typedef struct wbuf {
    char *wb_p;
    size_t wb_n, wb_cap;
    int wb_err; /* out of memory */
} wbuf;

static ssize_t wbuf_write(void *cookie, const char *data, size_t n)
{
    wbuf *w = cookie;
    if (w->wb_n + n > w->wb_cap) {
        size_t ncap = w->wb_cap ? w->wb_cap : (size_t)1 << 20;
        while (ncap < w->wb_n + n)
            ncap *= 2;
        char *np = realloc(w->wb_p, ncap);
        if (!np) {
            w->wb_err = 1;
            return -1;
        }
        w->wb_p = np;
        w->wb_cap = ncap;
    }
    memcpy(w->wb_p + w->wb_n, data, n);
    w->wb_n += n;
    return (ssize_t)n;
}

typedef struct wworker {
    winv *ww_w;
    bcur *ww_cur; /* [CDR_BILL_MAX_CURRENCIES]: the figures of its invoices */
    int ww_ncur;
    wbuf ww_buf[3]; /* invoices.jsonl, invoices.csv, invoice_lines.csv */
    FILE *ww_f[3];  /* writing into them */
    pthread_t ww_thread;
} wworker;

/* Append (id, total, limit) to *over. */
static int over_add(uint64_t **over, size_t *n, size_t *cap, uint64_t id, cdr_money total,
                    cdr_money limit)
{
    if (*n + 3 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 48;
        uint64_t *no = realloc(*over, ncap * sizeof *no);
        if (!no)
            return CDR_ENOMEM;
        *over = no;
        *cap = ncap;
    }
    (*over)[(*n)++] = id;
    (*over)[(*n)++] = (uint64_t)total;
    (*over)[(*n)++] = (uint64_t)limit;
    return 0;
}

/* Format chunk k into three memory streams, then write them when its turn comes. */
static void inv_chunk(wworker *ww, size_t k)
{
    winv *w = ww->ww_w;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    bill_ctx wb = *w->wi_b; /* read-only but for these */
    wb.b_cur = ww->ww_cur;
    wb.b_ncur = ww->ww_ncur;
    wb.b_dg = &dg;
    wb.b_due[0] = '\0';
    outfiles of;
    memset(&of, 0, sizeof of);
    of.of_inv_json = ww->ww_f[0];
    of.of_inv_csv = ww->ww_f[1];
    of.of_lines_csv = ww->ww_f[2];
    for (int i = 0; i < 3; i++)
        ww->ww_buf[i].wb_n = 0;
    uint64_t *over = NULL;
    size_t nover = 0, cap = 0;
    int rc = 0;
    for (size_t from = w->wi_cut[k]; !rc && from < w->wi_cut[k + 1];) {
        size_t to = from + 1;
        while (to < w->wi_cut[k + 1] && wb.b_lines[to].bl_account == wb.b_lines[from].bl_account)
            to++;
        cdr_money total = 0;
        if ((rc = write_invoice(&wb, &of, from, to, &total)) != 0)
            break;
        const cdr_dir_account *ac = cdr_dir_find_account(wb.b_dir, wb.b_lines[from].bl_account);
        const cdr_dir_credit_class *cc =
            ac ? cdr_dir_find_credit_class(wb.b_dir, ac->ac_credit_class) : NULL;
        if (cc && total > cc->cc_limit && /* over the credit limit: in the report */
            over_add(&over, &nover, &cap, ac->ac_id, total, cc->cc_limit))
            rc = cdr_diag_set(&dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        from = to;
    }
    for (int i = 0; i < 3; i++)
        if ((fflush(ww->ww_f[i]) != 0 || ww->ww_buf[i].wb_err) && !rc)
            rc = cdr_diag_set(&dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    ww->ww_ncur = wb.b_ncur;
    pthread_mutex_lock(&w->wi_mu);
    while (w->wi_turn != k)
        pthread_cond_wait(&w->wi_cv, &w->wi_mu);
    if (!w->wi_rc && rc) {
        w->wi_dg = dg;
        __atomic_store_n(&w->wi_rc, rc, __ATOMIC_RELAXED);
    }
    if (!w->wi_rc) { /* write errors show at finish() */
        FILE *const out[3] = {w->wi_of->of_inv_json, w->wi_of->of_inv_csv, w->wi_of->of_lines_csv};
        for (int i = 0; i < 3; i++)
            fwrite(ww->ww_buf[i].wb_p, 1, ww->ww_buf[i].wb_n, out[i]);
        for (size_t i = 0; !w->wi_rc && i < nover; i += 3)
            if (over_add(&w->wi_over, &w->wi_nover, &w->wi_capover, over[i], (cdr_money)over[i + 1],
                         (cdr_money)over[i + 2]))
                __atomic_store_n(&w->wi_rc,
                                 cdr_diag_set(&w->wi_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory"),
                                 __ATOMIC_RELAXED);
    }
    w->wi_turn++;
    pthread_cond_broadcast(&w->wi_cv);
    pthread_mutex_unlock(&w->wi_mu);
    free(over);
}

static void *inv_worker(void *arg)
{
    wworker *ww = arg;
    winv *w = ww->ww_w;
    /* every chunk taken is written (or given up) in its turn: a later one waits for it */
    while (!__atomic_load_n(&w->wi_rc, __ATOMIC_RELAXED)) {
        const size_t k = __atomic_fetch_add(&w->wi_next, 1, __ATOMIC_RELAXED);
        if (k >= w->wi_nchunks)
            break;
        inv_chunk(ww, k);
    }
    return NULL;
}

/* Add the figures write_invoice adds to its bill_ctx's currencies (from) to b's. */
static int merge_invoice_figures(bill_ctx *b, const bcur *from, int n)
{
    for (int i = 0; i < n; i++) {
        const bcur *f = &from[i];
        bcur *c = cur_slot(b, f->bc_m.bm_currency);
        if (!c)
            return cdr_diag_set(b->b_dg, CDR_LIMIT, NULL, 0, 0, "more than %d currencies",
                                CDR_BILL_MAX_CURRENCIES);
        for (int k = 0; k < CDR_CLASS_COUNT; k++) {
            c->bc_tax[k] += f->bc_tax[k];
            c->bc_gross[k] += f->bc_gross[k];
            c->bc_ent[k] += f->bc_ent[k];
            c->bc_mem[k] += f->bc_mem[k];
        }
        c->bc_m.bm_invoices += f->bc_m.bm_invoices;
        c->bc_m.bm_amount += f->bc_m.bm_amount;
        c->bc_m.bm_tax += f->bc_m.bm_tax;
        c->bc_m.bm_total += f->bc_m.bm_total;
        c->bc_m.bm_adjustments += f->bc_m.bm_adjustments;
        c->bc_m.bm_enterprise_share += f->bc_m.bm_enterprise_share;
        c->bc_m.bm_member_share += f->bc_m.bm_member_share;
    }
    return 0;
}

/* Every invoice (b_lines sorted), in account order, into of's three files; the accounts over
 * their credit limit into *over (malloc'd; id, total, limit each). */
static int write_invoices(bill_ctx *b, const outfiles *of, uint64_t **over, size_t *nover)
{
    size_t nchunks = 0, *cut = malloc((b->b_nlines / INV_CHUNK + 2) * sizeof *cut);
    if (!cut)
        return cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    cut[0] = 0; /* a chunk: INV_CHUNK accounts, at least INV_CHUNK lines */
    for (size_t i = 0, accounts = 0; i < b->b_nlines; i++)
        if ((i + 1 == b->b_nlines || b->b_lines[i + 1].bl_account != b->b_lines[i].bl_account) &&
            (++accounts % INV_CHUNK == 0 || i + 1 == b->b_nlines))
            cut[++nchunks] = i + 1;
    unsigned nthreads = b->b_cfg->bc_threads;
    if (!nthreads) { /* as for the scan: one per core, at most 8 */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
    }
    winv w = {.wi_b = b, .wi_of = of, .wi_cut = cut, .wi_nchunks = nchunks};
    wworker *ww = calloc(nthreads, sizeof *ww);
    bcur *curs = calloc((size_t)nthreads * CDR_BILL_MAX_CURRENCIES, sizeof *curs);
    int rc = 0;
    if (!ww || !curs) {
        rc = cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    } else {
        pthread_mutex_init(&w.wi_mu, NULL);
        pthread_cond_init(&w.wi_cv, NULL);
        unsigned started = 1; /* this thread is the first worker */
        static const cookie_io_functions_t wbuf_io = {.write = wbuf_write};
        for (unsigned t = 0; !rc && t < nthreads; t++) {
            ww[t] = (wworker){.ww_w = &w, .ww_cur = curs + (size_t)t * CDR_BILL_MAX_CURRENCIES};
            for (int i = 0; !rc && i < 3; i++)
                if ((ww[t].ww_f[i] = fopencookie(&ww[t].ww_buf[i], "w", wbuf_io)) != NULL)
                    setvbuf(ww[t].ww_f[i], NULL, _IOFBF, (size_t)64 << 10);
                else
                    rc = cdr_diag_set(b->b_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        while (!rc && started < nthreads &&
               pthread_create(&ww[started].ww_thread, NULL, inv_worker, &ww[started]) == 0)
            started++;
        if (!rc)
            inv_worker(&ww[0]);
        for (unsigned t = 1; t < started; t++)
            pthread_join(ww[t].ww_thread, NULL);
        pthread_cond_destroy(&w.wi_cv);
        pthread_mutex_destroy(&w.wi_mu);
        if (!rc && (rc = w.wi_rc) != 0)
            *b->b_dg = w.wi_dg;
        for (unsigned t = 0; !rc && t < started; t++)
            rc = merge_invoice_figures(b, ww[t].ww_cur, ww[t].ww_ncur);
    }
    *over = w.wi_over;
    *nover = w.wi_nover;
    for (unsigned t = 0; ww && t < nthreads; t++)
        for (int i = 0; i < 3; i++) {
            if (ww[t].ww_f[i])
                fclose(ww[t].ww_f[i]);
            free(ww[t].ww_buf[i].wb_p);
        }
    free(curs);
    free(ww);
    free(cut);
    return rc;
}

/* ---- subscribers.jsonl ------------------------------------------------------------------------
 * Written while the invoices are: every billed line's amounts computed again by bill_line (the
 * same inputs give the same amounts) in a copy of the run's state of its own, whose invoice
 * lines and report figures are thrown away. */

typedef struct wsubs {
    bill_ctx *ws_b;
    FILE *ws_f;
    int ws_rc;
    cdr_diag ws_dg;
    pthread_t ws_thread;
} wsubs;

static void *sub_writer(void *arg)
{
    wsubs *ws = arg;
    bill_ctx wb = *ws->ws_b; /* read-only but for these */
    wb.b_cur = calloc(CDR_BILL_MAX_CURRENCIES, sizeof *wb.b_cur);
    wb.b_ncur = 0;
    wb.b_lines = NULL;
    wb.b_nlines = wb.b_cap_lines = 0;
    wb.b_dg = &ws->ws_dg;
    int rc = wb.b_cur ? 0 : cdr_diag_set(&ws->ws_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; !rc && i < wb.b_nsubs; i++) {
        bamounts a;
        wb.b_nlines = 0;
        if ((rc = bill_line(&wb, i, &a)) == 0 && wb.b_bs[i].bs_billed)
            write_subscriber(&wb, ws->ws_f, i, &a);
    }
    for (int i = 0; wb.b_cur && i < CDR_BILL_MAX_CURRENCIES; i++)
        free(wb.b_cur[i].bc_ents);
    free(wb.b_cur);
    free(wb.b_lines);
    ws->ws_rc = rc;
    return NULL;
}

/* ---- publish --------------------------------------------------------------------------------- */

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    char p[4400];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (unlink(p) != 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

/* Put folder tmp in place as final: atomically, swapping out an earlier output (then removed). */
static int publish(const char *tmp, const char *final, cdr_diag *dg)
{
    if (rename(tmp, final) == 0)
        return 0;
    if (errno != EEXIST && errno != ENOTEMPTY)
        return cdr_diag_set(dg, CDR_EIO, final, 0, 0, "cannot publish: %s", strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) != 0)
        return cdr_diag_set(dg, CDR_EIO, final, 0, 0, "cannot replace the earlier output: %s",
                            strerror(errno));
    if (rm_tree(tmp) != 0) /* tmp now holds the earlier output */
        return cdr_diag_set(dg, CDR_EIO, tmp, 0, 0,
                            "published, but the earlier output stays here: %s", strerror(errno));
    return 0;
}

/* Remove the temporary folders .CYCLE.tmp-PID of runs of this cycle that were killed (the caller
 * holds the cycle's lock, so none of them is being written). */
static int remove_stale(const char *out, const char *cycle, cdr_diag *dg)
{
    DIR *d = opendir(out);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, out, 0, 0, "cannot read: %s", strerror(errno));
    char prefix[64], p[4400];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", cycle);
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(p, sizeof p, "%s/%s", out, de->d_name);
        if (rm_tree(p) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, p, 0, 0, "cannot remove the folder of a killed run: %s",
                              strerror(errno));
    }
    closedir(d);
    return rc;
}

/* ---- the run --------------------------------------------------------------------------------- */

static int write_all(bill_ctx *b, const char *dir)
{
    cdr_diag *dg = b->b_dg;
    outfiles of = {0};
    char psub[4200], prep[4200];
    FILE *fsub = NULL, *frep = NULL;
    uint64_t *over = NULL;
    size_t nover = 0;
    int rc = 0;
    if (!(of.of_inv_json = create(dir, "invoices.jsonl", of.of_p1, sizeof of.of_p1, dg)) ||
        !(of.of_inv_csv = create(dir, "invoices.csv", of.of_p2, sizeof of.of_p2, dg)) ||
        !(of.of_lines_csv = create(dir, "invoice_lines.csv", of.of_p3, sizeof of.of_p3, dg)) ||
        !(fsub = create(dir, "subscribers.jsonl", psub, sizeof psub, dg)) ||
        !(frep = create(dir, "report.json", prep, sizeof prep, dg))) {
        rc = dg->dg_code ? dg->dg_code : CDR_EIO;
        goto done;
    }
    fputs("invoice,account,kind,customer,customer_name,cycle,currency,issued,due,amount,tax,total,"
          "credit_class\n",
          of.of_inv_csv);
    fputs("invoice,account,subscriber,msisdn,class,share,amount,tax_rate,tax,total,currency\n",
          of.of_lines_csv);
    for (size_t i = 0; i < b->b_nsubs && !rc; i++) { /* the invoice lines, the report's figures */
        bamounts a;
        rc = bill_line(b, i, &a);
    }
    if (rc)
        goto done;
    if (b->b_nlines > 1)
        qsort(b->b_lines, b->b_nlines, sizeof *b->b_lines, cmp_line);
    /* subscribers.jsonl by a thread of its own while the invoices are written */
    wsubs ws = {.ws_b = b, .ws_f = fsub};
    const int sub_thread = pthread_create(&ws.ws_thread, NULL, sub_writer, &ws) == 0;
    if (!sub_thread)
        sub_writer(&ws);
    rc = write_invoices(b, &of, &over, &nover);
    if (sub_thread)
        pthread_join(ws.ws_thread, NULL);
    if (!rc && ws.ws_rc)
        *dg = ws.ws_dg, rc = ws.ws_rc;
    if (!rc) {
        qsort(b->b_cur, (size_t)b->b_ncur, sizeof *b->b_cur, cmp_cur);
        write_report(b, frep, over, nover);
    }
done:;
    FILE *const files[5] = {of.of_inv_json, of.of_inv_csv, of.of_lines_csv, fsub, frep};
    const char *const paths[5] = {of.of_p1, of.of_p2, of.of_p3, psub, prep};
    for (int i = 0; i < 5; i++) {
        if (!files[i])
            continue;
        if (rc)
            fclose(files[i]);
        else
            rc = finish(files[i], paths[i], dg);
    }
    free(over);
    return rc;
}

int cdr_bill_run(cdr_store *st, const cdr_bill_config *cfg, cdr_bill_summary *sum, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !cfg || !cfg->bc_ledger || !cfg->bc_out || !sum)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_bill_run: NULL argument");
    const uint32_t cyc = cfg->bc_cycle;
    if (cyc < 197001 || cyc > 999912 || cyc % 100 < 1 || cyc % 100 > 12)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cycle %u is not YYYYMM", cyc);
    memset(sum, 0, sizeof *sum);
    bill_ctx b = {.b_cfg = cfg, .b_dg = dg};
    cdr_ledger *lg = NULL;
    char tmp[4200] = "", final[4200];
    int lockfd = -1;
    bmidnights *mns = NULL; /* per plan family */
    int rc = (b.b_cur = calloc(CDR_BILL_MAX_CURRENCIES, sizeof *b.b_cur)) != NULL
                 ? cdr_dir_read(st, &b.b_dir, dg)
                 : cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc)
        goto done;
    if ((rc = cdr_plan_set_load(st, &b.b_ps, dg)) != 0)
        goto done;
    cycle_text(cyc, b.b_cyc, sizeof b.b_cyc);
    b.b_end = (cyc % 100 == 12 ? cdr_days_from_civil(cyc / 100 + 1, 1, 1)
                               : cdr_days_from_civil(cyc / 100, cyc % 100 + 1, 1)) -
              1;
    date_text(b.b_end, b.b_issued, sizeof b.b_issued);
    for (int k = 0; k < CDR_CLASS_COUNT; k++)
        percent(cfg->bc_tax.tt_ppm[k], b.b_pc[k], sizeof b.b_pc[k]);
    b.b_subs = cdr_dir_subscribers(b.b_dir, &b.b_nsubs);
    size_t ne;
    const cdr_dir_enterprise *ens = cdr_dir_enterprises(b.b_dir, &ne);
    if (!(b.b_ents = malloc((ne ? ne : 1) * sizeof *b.b_ents))) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < ne; k++)
        b.b_ents[k] = &ens[k];
    b.b_nents = ne;
    if (ne > 1)
        qsort(b.b_ents, ne, sizeof *b.b_ents, cmp_acct_ent);
    if (!(b.b_bs = scan_array(b.b_nsubs ? b.b_nsubs : 1, sizeof *b.b_bs))) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    /* The ledger's records of the cycle. */
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    if ((rc = cdr_ledger_open(cfg->bc_ledger, &lo, &lg, dg)) != 0)
        goto done;
    char torn[4200];
    const uint64_t tb = cdr_ledger_torn_bytes(lg, cyc, torn, sizeof torn);
    if (tb) { /* the cycle must be read whole: nothing is billed from part of it */
        rc = cdr_diag_set(dg, CDR_FORMAT, torn, 0, 0,
                          "%" PRIu64 " byte(s) after the last complete frame: an archiver is "
                          "still writing cycle %u, or the segment is damaged; bill once the "
                          "archiver has stopped (its next start truncates a torn tail; a damaged "
                          "frame needs the operator, docs/ledger.md)",
                          tb, cyc);
        goto done;
    }
    cdr_ledger_totals tot; /* the progress's total: from the indexes (and the active segments) */
    if (cfg->bc_progress && cdr_ledger_totals_get(lg, cyc, NULL, NULL, &tot, dg) == 0)
        b.b_total = tot.lt_records;
    cdr_diag_clear(dg);
    unsigned nthreads = cfg->bc_threads;
    if (!nthreads) { /* one per core, at most 8 */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
    }
    if ((rc = msisdn_table(&b)) != 0 || (rc = prepare_ext(&b)) != 0 ||
        (rc = scan_cycle(&b, nthreads)) != 0 || (rc = scan_corrections(&b)) != 0)
        goto done;
    if ((rc = reconcile(&b, st)) != 0)
        goto done;
    cdr_progress_report(cfg->bc_progress, b.b_records, b.b_records);
    /* Fees: every line active at some moment of the cycle, in its plan's time zone. */
    size_t active = 0;
    if (!(mns = calloc(b.b_ps->ps_nfamilies ? b.b_ps->ps_nfamilies : 1, sizeof *mns))) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < b.b_nsubs; i++) {
        const cdr_dir_subscriber *sb = &b.b_subs[i];
        bsub *s = &b.b_bs[i];
        int f = cdr_plan_set_family(b.b_ps, sb->sb_plan);
        if (f < 0)
            continue; /* a plan never compiled: its records were rated no_plan */
        bmidnights *mn = &mns[f];
        if (!mn->ndays)
            cycle_midnights(cdr_bill_family_tz(b.b_ps, f), cyc, mn);
        const unsigned nd = mn->ndays;
        cdr_time last;
        const unsigned ad = active_days(mn, sb, &last);
        if (!ad)
            continue;
        const cdr_plan *pl = cdr_plan_set_at(b.b_ps, f, last);
        bext *x = s->bs_x;
        if (x && x->x_history) { /* a fee line per plan; the fee's plan is the last day's */
            if ((rc = history_fees(&b, sb, x, mn)) != 0)
                goto done;
            pl = NULL;
            cdr_time lastday = INT64_MIN;
            for (unsigned k = 0; k < x->x_nfees; k++) {
                const cdr_plan *fp = x->x_fee[k].f_plan;
                if (!fp)
                    continue;
                if (s->bs_cur[0] && strcmp(s->bs_cur, fp->pl_currency)) {
                    rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                                      "subscriber %" PRIu64 ": usage in %s, but the monthly fee "
                                      "of plan %s version %u is in %s",
                                      sb->sb_id, s->bs_cur, fp->pl_id, fp->pl_version,
                                      fp->pl_currency);
                    goto done;
                }
                memcpy(s->bs_cur, fp->pl_currency, 4);
                if (x->x_fee[k].f_last > lastday) {
                    lastday = x->x_fee[k].f_last;
                    pl = fp;
                }
            }
        }
        if (!pl)
            continue; /* no version in effect yet */
        if (s->bs_cur[0] && strcmp(s->bs_cur, pl->pl_currency)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                              "subscriber %" PRIu64 ": usage in %s, but the monthly fee of plan %s "
                              "version %u is in %s",
                              sb->sb_id, s->bs_cur, pl->pl_id, pl->pl_version, pl->pl_currency);
            goto done;
        }
        memcpy(s->bs_cur, pl->pl_currency, 4);
        s->bs_fee_plan = pl;
        s->bs_active_days = (uint8_t)ad;
        s->bs_cycle_days = (uint8_t)nd;
        s->bs_billed = 1;
        active++;
    }
    if ((rc = apply_adjustments(&b)) != 0)
        goto done;
    if (!b.b_records && !active) {
        char c[16];
        cycle_text(cyc, c, sizeof c);
        rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0,
                          "cycle %s has no records in the ledger %s and no line active in it", c,
                          cfg->bc_ledger);
        goto done;
    }
    /* Write into a private temporary folder beside the final one, then publish it. */
    char c[16];
    cycle_text(cyc, c, sizeof c);
    if (mkdir(cfg->bc_out, 0755) != 0 && errno != EEXIST) {
        rc = cdr_diag_set(dg, CDR_EIO, cfg->bc_out, 0, 0, "cannot create: %s", strerror(errno));
        goto done;
    }
    snprintf(final, sizeof final, "%s/%s", cfg->bc_out, c);
    /* One run of a cycle at a time: its lock, then the temporary folders of killed runs go. */
    char lock[4300];
    snprintf(lock, sizeof lock, "%s/.%s.lock", cfg->bc_out, c);
    if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        rc = cdr_diag_set(dg, CDR_EIO, lock, 0, 0, "cannot create: %s", strerror(errno));
        goto done;
    }
    if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? cdr_diag_set(dg, CDR_EXISTS, lock, 0, 0,
                                "another bill run of cycle %s is writing into %s: wait for it", c,
                                cfg->bc_out)
                 : cdr_diag_set(dg, CDR_EIO, lock, 0, 0, "cannot lock: %s", strerror(errno));
        goto done;
    }
    if ((rc = remove_stale(cfg->bc_out, c, dg)) != 0)
        goto done;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", cfg->bc_out, c, (long)getpid());
    if (rm_tree(tmp) != 0 || mkdir(tmp, 0755) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot create: %s", strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if ((rc = write_all(&b, tmp)) != 0)
        goto done;
    if (cdr_fsync_dir(tmp) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "fsync: %s", strerror(errno));
        goto done;
    }
    const char *hold = getenv(CDR_BILL_HOLD_ENV);
    if (hold && atoi(hold) > 0) { /* the test hook: written, not yet published */
        fprintf(stderr, "cdrate bill: test hook: holding the written output\n");
        usleep((useconds_t)atoi(hold) * 1000);
    }
    if ((rc = publish(tmp, final, dg)) != 0)
        goto done;
    tmp[0] = '\0';
    (void)cdr_fsync_dir(cfg->bc_out);
    sum->bs_cycle = cyc;
    sum->bs_records = b.b_records;
    for (int i = 0; i < b.b_ncur; i++) {
        sum->bs_currency[i] = b.b_cur[i].bc_m;
        sum->bs_invoices += b.b_cur[i].bc_m.bm_invoices;
        sum->bs_subscribers += b.b_cur[i].bc_subscribers;
        sum->bs_unbilled += b.b_cur[i].bc_unbilled_records;
    }
    sum->bs_ncurrencies = b.b_ncur;
    snprintf(sum->bs_dir, sizeof sum->bs_dir, "%s", final);
done:
    if (tmp[0])
        (void)rm_tree(tmp);
    if (lockfd >= 0)
        close(lockfd); /* and with it the lock */
    cdr_ledger_close(lg);
    for (int i = 0; b.b_cur && i < CDR_BILL_MAX_CURRENCIES; i++)
        free(b.b_cur[i].bc_ents);
    free(b.b_cur);
    free(mns);
    free(b.b_lines);
    free(b.b_diffs);
    free(b.b_ents);
    free(b.b_bs);
    free(b.b_x);
    free(b.b_mx);
    cdr_plan_set_release(b.b_ps);
    cdr_dir_free(b.b_dir);
    return rc;
}
