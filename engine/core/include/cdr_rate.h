/* cdr_rate.h - the multithreaded rating core.
 *
 * The core joins three read-only inputs, a plan set (cdr_rules.h), a subscriber table (the rating
 * view of the directory, below) and a batch of records, with the bundle counters it owns, and
 * produces one cdr_rated per record. Records are sharded by charging owner: one worker thread owns
 * all counters of an owner, so counters need no locks and results do not depend on the thread
 * count. Plan sets are swapped atomically (cdr_rater_set_plans) without blocking raters.
 */
#ifndef CDR_RATE_H
#define CDR_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_rules.h"

/* ---- subscribers: the rating view of the directory ------------------------------------------- */

typedef struct cdr_sub {
    /* The first 64 bytes are what rating touches for every record: keep them together. */
    char su_msisdn[CDR_NUMBER_MAX];
    uint64_t su_id;             /* subscriber id, > 0 */
    uint64_t su_owner;          /* charging owner: the enterprise when the plan draws on its pool */
    uint64_t su_enterprise;     /* enterprise id, 0 for an individual subscriber */
    cdr_time su_active_from;    /* active in [from, to) */
    cdr_time su_active_to;      /* INT64_MAX when open-ended */
    int32_t su_family;          /* plan family in the rater's plan set (set by the core) */
    char su_plan[CDR_NAME_MAX]; /* plan id */
    uint64_t su_pool_units[CDR_SVC_COUNT]; /* enterprise pool size per service, base units */
    uint64_t su_member_cap[CDR_SVC_COUNT]; /* this member's cap on the pool, 0 = none */
    uint64_t su_account; /* the member account (live state, cdr_live.h); 0 when not known */
} cdr_sub;

typedef struct cdr_subtab cdr_subtab;

/* An open-addressing table keyed by MSISDN. capacity_hint: expected number of subscribers. */
int cdr_subtab_create(size_t capacity_hint, cdr_subtab **out);
/* Copies su in. Returns 0, CDR_EXISTS for an MSISDN already present, CDR_ENOMEM. */
int cdr_subtab_add(cdr_subtab *tab, const cdr_sub *su);
/* The entry for msisdn or NULL. Valid until the table is freed. */
const cdr_sub *cdr_subtab_find(const cdr_subtab *tab, const char *msisdn);
/* Look up the served MSISDN of n records at once (prefetching, so that the cache misses of
 * different records overlap): ix[i] = index of the entry (cdr_subtab_at) or -1. */
void cdr_subtab_find_records(const cdr_subtab *tab, const cdr_record *recs, size_t n, int32_t *ix);
size_t cdr_subtab_count(const cdr_subtab *tab);
/* Iterate: i from 0 while the return is non-NULL. */
const cdr_sub *cdr_subtab_at(const cdr_subtab *tab, size_t i);
void cdr_subtab_free(cdr_subtab *tab);

/* ---- the rater ------------------------------------------------------------------------------ */

typedef struct cdr_rater cdr_rater;

/* Money of the records rated in one currency (never added to another currency's). */
#define CDR_RATE_MAX_CURRENCIES 8
typedef struct cdr_rate_currency {
    char rc_currency[4];                   /* ISO 4217 */
    uint64_t rc_rated;                     /* rated records in this currency */
    uint64_t rc_by_service[CDR_SVC_COUNT]; /* of them, per service */
    cdr_money rc_charge[CDR_SVC_COUNT];    /* sum of rr_charge per service */
} cdr_rate_currency;

/* Totals of one or more batches (zero it before the first). Money in micro-units, per currency
 * only: rs_currency[0..rs_ncurrencies) sorted by currency code (so the same whatever the thread
 * count). Units per service: rs_bundle_units + rs_overflow_units + rs_free_units = the units of
 * the rated records. */
typedef struct cdr_rate_stats {
    uint64_t rs_records;
    uint64_t rs_rated;
    uint64_t rs_unratable[CDR_REASON_COUNT]; /* [CDR_REASON_NONE] unused */
    uint64_t rs_by_service[CDR_SVC_COUNT];   /* rated records per service, every currency */
    uint64_t rs_bundle_units[CDR_SVC_COUNT];
    uint64_t rs_overflow_units[CDR_SVC_COUNT];
    uint64_t rs_free_units[CDR_SVC_COUNT];
    int rs_ncurrencies;
    cdr_rate_currency rs_currency[CDR_RATE_MAX_CURRENCIES];
} cdr_rate_stats;

/* Create a rater with `threads` workers (>= 1; the calling thread is one of them) over plan set ps
 * (a reference is taken) and subscriber table tab (borrowed: must outlive the rater, read-only).
 * Returns 0, CDR_EINVAL, CDR_ENOMEM. Destroy with cdr_rater_destroy. */
int cdr_rater_create(unsigned threads, cdr_plan_set *ps, const cdr_subtab *tab, cdr_rater **out);
/* Stops the workers and frees everything; accepts NULL. */
void cdr_rater_destroy(cdr_rater *rt);

/* Swap in a new plan set (takes a reference; the old one is released when the batch using it
 * ends). Safe to call from any thread while another thread rates; raters never wait for it. */
int cdr_rater_set_plans(cdr_rater *rt, cdr_plan_set *ps);
/* Swap in a new subscriber table tab (borrowed, as in cdr_rater_create) together with plan set ps
 * (a reference is taken; NULL = keep the current plans). Between batches only: not while
 * cdr_rater_rate or cdr_rater_set_plans runs. When it returns, the rater no longer reads the
 * previous table (the caller may free it). Counters are kept. Returns 0, CDR_EINVAL (tab NULL),
 * CDR_ENOMEM (nothing changed). */
int cdr_rater_set_subtab(cdr_rater *rt, const cdr_subtab *tab, cdr_plan_set *ps);

/* Rate n records into out[0..n) (one cdr_rated per record, same order) and add to stats (may be
 * NULL). Records of one charging owner are rated in batch order by one worker, so results and
 * counters do not depend on the thread count. Not re-entrant: one batch at a time per rater.
 * Returns 0, CDR_ENOMEM, or CDR_LIMIT when stats would need more than CDR_RATE_MAX_CURRENCIES
 * currencies (the batch is rated and the counters updated, but the money of the currencies that
 * found no room is missing from stats: the caller must treat the run as failed). */
int cdr_rater_rate(cdr_rater *rt, const cdr_record *recs, size_t n, cdr_rated *out,
                   cdr_rate_stats *stats);
/* The same for a caller that has already looked the subscribers up: subix[i] is what
 * cdr_subtab_find_records gives for recs[i] on the rater's current table (-1: unknown). The
 * rater then skips its own lookup. */
int cdr_rater_rate_resolved(cdr_rater *rt, const cdr_record *recs, const int32_t *subix, size_t n,
                            cdr_rated *out, cdr_rate_stats *stats);

/* The plan version that rated record i of the last batch (for rendering), or NULL when the
 * record found no plan. Valid until the next cdr_rater_rate or cdr_rater_destroy: the rater keeps
 * that batch's plan set alive until then, whatever cdr_rater_set_plans does meanwhile. */
const cdr_plan *cdr_rater_batch_plan(const cdr_rater *rt, size_t i);

/* Bundle counters: load all counters from / save all to the store (db CDR_DB_COUNTERS), in one
 * transaction each. Save writes only counters that changed since the last load or save. */
int cdr_rater_counters_load(cdr_rater *rt, cdr_store *st, cdr_diag *dg);
int cdr_rater_counters_save(cdr_rater *rt, cdr_store *st, cdr_diag *dg);
/* The same save, with more written in the same transaction: also(txn, arg, dg) runs after the
 * counters are written and before the commit; a non-zero return (a cdr_err, dg filled) aborts
 * the whole transaction and is returned. Counters and the caller's writes land together or not
 * at all (`cdrate rate` records its inputs' hashes this way). */
typedef int (*cdr_rater_save_fn)(MDB_txn *txn, void *arg, cdr_diag *dg);
int cdr_rater_counters_save_with(cdr_rater *rt, cdr_store *st, cdr_rater_save_fn also, void *arg,
                                 cdr_diag *dg);
/* Number of counters held, and the value of one (0 if absent): holder is a subscriber id for a
 * subscriber's own bundle or an enterprise id for a pool. */
size_t cdr_rater_counter_count(const cdr_rater *rt);
uint64_t cdr_rater_counter_get(const cdr_rater *rt, uint64_t holder, uint32_t cycle,
                               const char *bundle_name, int service, int pool);

/* ---- rated records on the wire (Kafka cdr.rated / cdr.suspense values, ledger segments) -------
 * docs/rated-format.md. A rated record carries the whole CDR (its wire form), the rating result,
 * the plan id and (from version 2) the currency and the free units, so that a consumer needs no
 * plan store to read it. The encoder writes version 2; the decoder reads versions 1 and 2 (a
 * version-1 record decodes with rr_currency "" and rr_free_units 0). */
#define CDR_RATED_WIRE_VERSION 2
#define CDR_RATED_WIRE_MAX     512 /* no encoded rated record is longer */
/* Encode into buf (>= CDR_RATED_WIRE_MAX bytes); plan_id may be NULL or "" for unratable
 * records. Returns the length. */
size_t cdr_rated_wire_encode(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                             uint8_t *buf);
/* Decode exactly len bytes (version 1 or 2). plan_id (>= CDR_NAME_MAX bytes) receives the plan
 * id. Returns 0, or CDR_VERSION / CDR_FORMAT with the reason and byte position in dg. */
int cdr_rated_wire_decode(const uint8_t *buf, size_t len, cdr_record *cr, cdr_rated *rr,
                          char *plan_id, cdr_diag *dg);

/* One rated record as a CSV line / JSON object (with '\n'); see docs/rated-format.md.
 * pl may be NULL for unratable records. Returns the length, or -1 if bufsize is short (2048 bytes
 * always suffice). */
extern const char cdr_rated_csv_header[];
int cdr_rated_format_csv(const cdr_record *cr, const cdr_rated *rr, const cdr_plan *pl, char *buf,
                         size_t bufsize);
int cdr_rated_format_json(const cdr_record *cr, const cdr_rated *rr, const cdr_plan *pl, char *buf,
                          size_t bufsize);
/* The same for a record read back (cdr.rated, the ledger), which names its plan by id: pl (may be
 * NULL) is the version that rated it, for the zone, bundle and band names; with it the line is
 * byte-identical to the two above. Without it the plan is plan_id and the zone, bundle and bands
 * are written as their index, "#2". */
int cdr_rated_format_csv_id(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                            const cdr_plan *pl, char *buf, size_t bufsize);
int cdr_rated_format_json_id(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                             const cdr_plan *pl, char *buf, size_t bufsize);
#endif
