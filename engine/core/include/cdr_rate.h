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

#define CDR_SUB_MAX_WARN 8 /* credit warning thresholds per subscriber (= CDR_DIR_MAX_WARN) */

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
    /* Credit control (docs/credit-control.md): the account's effective credit class. */
    cdr_money su_credit_limit;                /* micro-units per cycle and currency, 0 = none */
    uint8_t su_credit_nwarn;                  /* thresholds in su_credit_warn */
    uint8_t su_credit_warn[CDR_SUB_MAX_WARN]; /* ascending percentages of the limit, 1..100 */
    uint8_t su_credit_extended;               /* extended payment terms: never warned, suspended */
    uint8_t su_roaming_no_deposit;            /* international roaming without a deposit */
    /* Arrears (docs/credit-control.md, "Overdue accounts"): su_account is on the dunning list
     * recorded by `cdrate payments dunning` (cdr_payments.h, cdr_pay_overdue_*). Of its overdue
     * currencies, the one with the oldest due date (then the first by code). */
    uint8_t su_overdue;            /* 1: the member account is overdue: the line is warned */
    char su_overdue_currency[4];   /* ISO 4217 of the overdue amount ("" when not overdue) */
    char su_manager[CDR_NAME_MAX]; /* the account manager to warn ("" = none) */
    cdr_money su_overdue_amount;   /* micro-units unpaid past the due date, in that currency */
    int64_t su_overdue_due;        /* the oldest overdue invoice's due date (day number) */
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
    uint64_t
        rs_late; /* of rs_rated, billed in a later cycle than their own (CDR_RATED_FLAG_LATE) */
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

/* Closed billing cycles (cdr_store.h: cdr_cycle_closed_list; docs/rating.md section 10). A rated
 * record whose own cycle (the month of its start in its plan's time zone) is closed is billed in
 * the first cycle after it that is not closed: rr_cycle is that cycle, the bundle counters, pool
 * counters and credit counters it reads and updates are that cycle's, and rr_flags gets
 * CDR_RATED_FLAG_LATE. Unratable records keep their own cycle and no flag. cycles[0..n) is
 * copied (any order, duplicates allowed); n 0 = none closed (the default). Between batches only
 * (not while cdr_rater_rate runs). Returns 0, CDR_EINVAL (a value that is not YYYYMM: nothing
 * changed), CDR_ENOMEM. */
int cdr_rater_set_closed(cdr_rater *rt, const uint32_t *cycles, size_t n);
/* Bill every rated record in cycle (YYYYMM), with that cycle's counters, whatever its own cycle
 * and the closed cycles; CDR_RATED_FLAG_LATE is set on the records whose own cycle differs.
 * 0 = off (the default): the closed cycles apply. For re-rating one cycle of the ledger. Between
 * batches only. Returns 0 or CDR_EINVAL (not YYYYMM). */
int cdr_rater_force_cycle(cdr_rater *rt, uint32_t cycle);

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

/* ---- credit control and usage alerts (docs/credit-control.md) --------------------------------
 * The rating core keeps, as counters next to the bundle counters (so they travel on the same
 * changelog and are restored with them), per account, cycle and currency the charges rated so
 * far; per line and cycle its status; and which thresholds already raised an alert. Crossing a
 * threshold while rating a record raises one alert, reported with that record's batch
 * (cdr_rater_alerts): credit thresholds (su_credit_warn percent of su_credit_limit), bundle and
 * pool thresholds (cdr_credit_config.cc_bundle_warn percent of the bundle or pool). A threshold
 * raises at most one alert per holder and cycle, whatever the order of batches, crashes or
 * rebalances (its bit is set in a counter in the same batch). Reaching 100% of the limit moves a
 * line without extended terms from active to warned (a pre-suspension warning); a record of that
 * line at least cc_grace seconds (event time) later moves it to suspended; records of a suspended
 * line are rated as usual and flagged CDR_RATED_FLAG_SUSPENDED. A line whose account is overdue
 * (cdr_sub.su_overdue) is warned the same way at its first record of the cycle, extended terms or
 * not (al_reason CDR_WARN_OVERDUE), and suspended cc_grace later; one warning per line and cycle,
 * whichever reason comes first (the reason is kept in the status counter). */

typedef enum cdr_line_status {
    CDR_LINE_ACTIVE = 0,
    CDR_LINE_WARNED,
    CDR_LINE_SUSPENDED,
    CDR_LINE_BARRED, /* set by an operator, never by rating */
    CDR_LINE_STATUS_COUNT
} cdr_line_status;
/* "active", "warned", "suspended", "barred"; NULL when out of range. */
const char *cdr_line_status_name(int status);

typedef enum cdr_alert_kind {
    CDR_ALERT_CREDIT = 1, /* charges of the cycle reached al_pct % of the credit limit */
    CDR_ALERT_BUNDLE,     /* an own bundle reached al_pct % */
    CDR_ALERT_POOL,       /* an enterprise pool reached al_pct % */
    CDR_ALERT_WARNED,     /* the line moved to warned: the pre-suspension warning */
    CDR_ALERT_SUSPENDED,  /* the line moved to suspended */
    CDR_ALERT_FRAUD,      /* a fraud rule hit (cdr_fraud.h): once per window and line */
    CDR_ALERT_KIND_COUNT
} cdr_alert_kind;
/* "credit", "bundle", "pool", "warned", "suspended", "fraud"; NULL when out of range. */
const char *cdr_alert_kind_name(int kind);

/* Why a line was warned (and so suspended): WARNED and SUSPENDED alerts, al_reason. */
typedef enum cdr_warn_reason {
    CDR_WARN_CREDIT_LIMIT = 0, /* the account's charges of the cycle reached the credit limit */
    CDR_WARN_OVERDUE,          /* the account is on the dunning list (unpaid past due) */
    CDR_WARN_REASON_COUNT
} cdr_warn_reason;
/* "credit_limit", "overdue"; NULL when out of range. */
const char *cdr_warn_reason_name(int reason);

#define CDR_CREDIT_MAX_BUNDLE_WARN 4
#define CDR_CREDIT_GRACE_DEFAULT   (3 * 86400) /* seconds from warned to suspended */

typedef struct cdr_credit_config {
    int cc_on;               /* 0: no credit state, no alerts (the rater's default) */
    int64_t cc_grace;        /* seconds, >= 0 */
    uint8_t cc_nbundle_warn; /* thresholds of bundles and pools, 0 = none */
    uint8_t cc_bundle_warn[CDR_CREDIT_MAX_BUNDLE_WARN]; /* ascending percentages, 1..100 */
} cdr_credit_config;

/* The defaults: on, CDR_CREDIT_GRACE_DEFAULT, bundles and pools at 80 and 100 %. */
void cdr_credit_config_default(cdr_credit_config *cc);

typedef struct cdr_alert {
    uint32_t al_index;  /* the record of the batch that raised it */
    uint8_t al_kind;    /* cdr_alert_kind */
    uint8_t al_pct;     /* the threshold, percent (WARNED: 100; SUSPENDED: 100) */
    uint8_t al_status;  /* the line's status after the record */
    uint8_t al_service; /* BUNDLE, POOL: the bundle's service */
    uint32_t al_cycle;  /* YYYYMM */
    uint64_t al_subscriber;
    uint64_t al_account;
    uint64_t al_enterprise; /* 0 for an individual */
    char al_msisdn[CDR_NUMBER_MAX];
    char al_manager[CDR_NAME_MAX];
    char al_currency[4];          /* CREDIT, WARNED, SUSPENDED: the charges' currency */
    char al_bundle[CDR_NAME_MAX]; /* BUNDLE, POOL: the plan's bundle name */
    int64_t al_used;              /* charges (micro-units) or units used, after the record */
    int64_t al_limit;             /* the credit limit (micro-units) or the bundle's units */
    int64_t al_threshold; /* the threshold in the same unit: ceil(al_limit * al_pct / 100) */
    cdr_time al_time;     /* the record's start */
    cdr_time al_since;    /* WARNED, SUSPENDED: when the line was warned */
    /* FRAUD: the rule (al_pct 0; al_used the window's units or, for impossible travel, the
     * seconds between the two records; al_threshold the rule's threshold or `within`) */
    char al_rule[CDR_NAME_MAX];
    uint8_t al_rule_kind;     /* cdr_fraud_kind */
    cdr_time al_window_start; /* units: the window; countries: the two records' times */
    cdr_time al_window_end;
    uint16_t al_country[2]; /* countries: the two visited MCCs, earlier first */
    /* WARNED, SUSPENDED: why the line was warned (cdr_warn_reason); and when the account is
     * overdue (al_overdue_currency not ""), its arrears as in cdr_sub */
    uint8_t al_reason;
    char al_overdue_currency[4];
    int64_t al_overdue_amount; /* micro-units */
    int64_t al_overdue_due;    /* day number */
} cdr_alert;

/* Switch credit control on or off and set its parameters (copied). Between batches only. Returns
 * 0 or CDR_EINVAL (a threshold out of 1..100 or not ascending, a negative grace). */
int cdr_rater_set_credit(cdr_rater *rt, const cdr_credit_config *cc);
/* The alerts of the last batch, in record order (within one record in the order raised); *n gets
 * their count. Valid until the next cdr_rater_rate or cdr_rater_destroy. */
const cdr_alert *cdr_rater_alerts(const cdr_rater *rt, size_t *n);
/* Fraud and abuse rules (cdr_fraud.h, docs/fraud-rules.md) evaluated on every rated record, in
 * the shard of its charging owner, with state per line and rule kept by the rater (and carried on
 * the changelog by rate-stream: cdr_rater_fraud_changed). A copy of rules is taken; NULL or no
 * rule = none (the default). Fraud alerts need credit control on (cdr_rater_set_credit).
 * Between batches only. Returns 0 or CDR_ENOMEM. */
struct cdr_fraud_rules;
int cdr_rater_set_fraud(cdr_rater *rt, const struct cdr_fraud_rules *rules);

/* One alert as a JSON object with '\n' (docs/credit-control.md). Returns the length, or -1 when
 * bufsize is short (1024 bytes always suffice). */
int cdr_alert_format_json(const cdr_alert *al, char *buf, size_t bufsize);

/* ---- rated records on the wire (Kafka cdr.rated / cdr.suspense values, ledger segments) -------
 * docs/rated-format.md. A rated record carries the whole CDR (its wire form), the rating result,
 * the plan id and (from version 2) the currency and the free units, so that a consumer needs no
 * plan store to read it; from version 4 also the flags and the charge class. The encoder writes
 * version 4, except for a rated record without a class (rr_class 0: one read from version 1-3),
 * which it writes as version 2, or 3 when it has flags, as before. The decoder reads versions 1
 * to 4 (a version-1 record decodes with rr_currency "" and rr_free_units 0, a version 1-3 record
 * with rr_class 0: cdr_plan_charge_class derives it from the plan version). */
#define CDR_RATED_WIRE_VERSION 4
#define CDR_RATED_WIRE_MAX     512 /* no encoded rated record is longer */
/* Encode into buf (>= CDR_RATED_WIRE_MAX bytes); plan_id may be NULL or "" for unratable
 * records. Returns the length. */
size_t cdr_rated_wire_encode(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                             uint8_t *buf);
/* Decode exactly len bytes (version 1 to 4). plan_id (>= CDR_NAME_MAX bytes) receives the plan
 * id. Returns 0, or CDR_VERSION / CDR_FORMAT with the reason and byte position in dg. */
int cdr_rated_wire_decode(const uint8_t *buf, size_t len, cdr_record *cr, cdr_rated *rr,
                          char *plan_id, cdr_diag *dg);

/* The fields of a rated record that the bill run reads, in place (cdr_rated_wire_view): the
 * strings point into the record's bytes and are not NUL-terminated; valid while those bytes are.
 * The rest of the record (the CDR's other fields, bundle, parts) is checked, not kept. */
typedef struct cdr_rated_view {
    cdr_wire_view rv_cdr;
    const char *rv_plan; /* the plan id, rv_plan_len bytes */
    uint8_t rv_plan_len;
    uint8_t rv_version; /* rated wire format version, 1 to 4 */
    uint8_t rv_reason;
    uint8_t rv_service;
    uint8_t rv_flags;
    uint8_t rv_class; /* CDR_CLASS_NONE in versions 1-3: decode the record to derive it */
    int16_t rv_zone;
    uint32_t rv_plan_version;
    uint32_t rv_cycle;
    char rv_currency[4]; /* "" in version 1 */
    cdr_money rv_charge;
    uint64_t rv_units;
    uint64_t rv_free_units;
} cdr_rated_view;

/* Make every check of cdr_rated_wire_decode on exactly len bytes and fill rv, without copying
 * the record or writing a diagnostic. Returns 0 when cdr_rated_wire_decode accepts the record
 * (with the same values), -1 when it refuses it (cdr_rated_wire_decode then says why). */
int cdr_rated_wire_view(const uint8_t *buf, size_t len, cdr_rated_view *rv);

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
