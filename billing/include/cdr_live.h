/* cdr_live.h - the live state of lines and accounts, and the queries that read it.
 *
 * The state model (docs/live-state.md): per line (subscriber) and cycle, the records, units and
 * charges rated so far, charges per service and currency; per account and cycle, its unbilled
 * charges per currency. Both are sums of rated records, so they are built by applying rated
 * records (cdr_live_acc) and can always be rebuilt from the ledger. Bundle use comes from the
 * bundle counters (CDR_DB_COUNTERS) and the plan; credit terms and owners from the directory.
 *
 * This header is the embedded (LMDB) side: the state lives in the store next to the counters.
 * `cdrate rate` applies what it rates in the same transaction as its counters, so a run is in the
 * state exactly once or not at all. The queries (cdr_live_query_*) are one library API for the
 * command line (`cdrate query`), and later the portal and the IVR endpoint.
 *
 * Money is micro-units per currency; amounts in different currencies are never added.
 */
#ifndef CDR_LIVE_H
#define CDR_LIVE_H

#include <stdint.h>

#include "cdr_dir.h"
#include "cdr_rate.h"
#include "cdr_redis.h"
#include "cdr_store.h"

#define CDR_LIVE_MAX_CURRENCIES 4 /* currencies per line or account and cycle */
#define CDR_LIVE_LAYOUT         2 /* the layout of the values below in the store */

/* Named databases of the live state in the store. */
#define CDR_DB_LIVE_LINES    "live_lines"    /* be64 subscriber + be32 cycle -> cdr_live_line */
#define CDR_DB_LIVE_ACCOUNTS "live_accounts" /* be64 account + be32 cycle -> cdr_live_account */
#define CDR_DB_LIVE_POOLS    "live_pools"    /* be64 enterprise + be32 cycle -> cdr_live_pool */

/* Money of one currency. */
typedef struct cdr_live_money {
    char lm_currency[4];                /* ISO 4217 */
    uint32_t lm_pad;                    /* zero */
    uint64_t lm_records;                /* rated records in this currency */
    cdr_money lm_total;                 /* sum of lm_charge */
    cdr_money lm_charge[CDR_SVC_COUNT]; /* per service */
} cdr_live_money;

/* One line (subscriber) in one cycle. Units in base units (seconds, bytes, messages):
 * lu_units = lu_bundle_units + lu_overflow_units + lu_free_units per service. */
typedef struct cdr_live_line {
    uint64_t ll_subscriber;
    uint64_t ll_account; /* the member account the line's charges are unbilled on */
    uint32_t ll_cycle;   /* YYYYMM */
    uint32_t ll_ncur;
    cdr_time ll_last_event; /* start of the latest event applied (UTC seconds) */
    uint64_t ll_records[CDR_SVC_COUNT];
    uint64_t ll_units[CDR_SVC_COUNT];
    uint64_t ll_bundle_units[CDR_SVC_COUNT];
    uint64_t ll_overflow_units[CDR_SVC_COUNT];
    uint64_t ll_free_units[CDR_SVC_COUNT];
    uint64_t ll_roaming_records; /* of the records, rated in a roaming zone */
    /* Bundle units used, per bundle: the tag of a counter (cdr_counter_bundle_tag of an own
     * bundle's name; cdr_live_pool_tag for the member's draw on a pool), 0 = free slot. */
    struct {
        uint64_t lb_tag;
        uint64_t lb_used;
    } ll_bundle[CDR_PLAN_MAX_BUNDLES];
    cdr_live_money ll_money[CDR_LIVE_MAX_CURRENCIES]; /* sorted by currency */
    /* Credit control (docs/credit-control.md), from the flags of the line's rated records: the
     * highest status reached in the cycle (cdr_line_status) and when it was reached: the event
     * time of the first record rated warned / suspended, 0 = not reached. */
    uint32_t ll_status;
    uint32_t ll_pad2; /* zero */
    cdr_time ll_warned_at;
    cdr_time ll_suspended_at;
} cdr_live_line;

/* One account in one cycle: what its lines were charged, not yet billed. */
typedef struct cdr_live_account {
    uint64_t la_account;
    uint32_t la_cycle;
    uint32_t la_ncur;
    uint64_t la_lines;                                /* lines with records in the cycle */
    cdr_live_money la_money[CDR_LIVE_MAX_CURRENCIES]; /* sorted by currency */
} cdr_live_account;

/* An enterprise pool in one cycle: what all its members drew, per service. */
typedef struct cdr_live_pool {
    uint64_t lp_enterprise;
    uint32_t lp_cycle;
    uint32_t lp_pad;
    uint64_t lp_used[CDR_SVC_COUNT];
} cdr_live_pool;

/* ---- applying rated records ------------------------------------------------------------------ */

/* An accumulator of rated records: their sums per line and cycle, and per account and cycle,
 * written into the store with cdr_live_acc_write (added to what is there). */
typedef struct cdr_live_acc cdr_live_acc;

int cdr_live_acc_create(cdr_live_acc **out);
void cdr_live_acc_free(cdr_live_acc *acc);
/* Add one rated record of line su (unratable records are ignored: they are charged to nobody).
 * pl is the plan version that rated it (for its zone's kind and its bundles; NULL when unknown:
 * then neither roaming nor bundle use is counted). Returns 0, CDR_ENOMEM, or CDR_LIMIT when the
 * line or its account would hold more than CDR_LIVE_MAX_CURRENCIES currencies in one cycle, or
 * the line more than CDR_PLAN_MAX_BUNDLES bundles (nothing of the record is added then). */
int cdr_live_acc_add(cdr_live_acc *acc, const cdr_sub *su, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl);
/* Take back a record added before (a rerate's reversal, cdr_rerate.h): the same sums with the
 * opposite sign; the line's latest event and credit status are left as they are. */
int cdr_live_acc_sub(cdr_live_acc *acc, const cdr_sub *su, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl);
/* The bundle tag of a member's draw on its enterprise's pool of service svc (cdr_live_line). */
uint64_t cdr_live_pool_tag(int service);
/* Lines and accounts held. */
size_t cdr_live_acc_lines(const cdr_live_acc *acc);
/* Add the sums into the store's live state inside txn (a write transaction of the caller, so that
 * they land with whatever else it commits). Returns 0, CDR_LIMIT (too many currencies), CDR_STORE,
 * CDR_VERSION (the store's live state has another layout). Write an accumulator once. */
int cdr_live_acc_write(cdr_live_acc *acc, MDB_txn *txn, cdr_diag *dg);

/* ---- the projection of cdr.rated (the streaming path) ----------------------------------------
 * `cdrate project` runs the archiver's loop (cdr_archive.h) with this sink: every committed batch
 * of a partition of cdr.rated (read_committed) is summed and added to the store's live state in
 * one write transaction together with that partition's next offset (CDR_DB_LIVE_APPLIED), so a
 * batch is applied exactly once whatever crashes, and a restart resumes where the state is. */

#define CDR_DB_LIVE_APPLIED "live_applied" /* topic + '/' + be32 partition -> le64 next offset */

struct cdr_archive_sink;
typedef struct cdr_live_sink cdr_live_sink;

typedef struct cdr_live_sink_stats {
    uint64_t ls_applied; /* rated records added to the state */
    uint64_t ls_unknown; /* of them, records of an MSISDN the directory no longer holds: their
                            money is in no line or account (reported on stderr) */
    uint64_t ls_batches; /* write transactions */
} cdr_live_sink_stats;

/* A sink over the store st (open for writing, borrowed) for topic (the full name, e.g.
 * "cdr.rated"): it reads the rating view of the directory and the plans once, and again when a
 * record names an MSISDN it does not know. Returns 0, or CDR_NOTFOUND (no directory), CDR_STORE,
 * CDR_ENOMEM. */
int cdr_live_sink_open(cdr_store *st, const char *topic, cdr_live_sink **out, cdr_diag *dg);
void cdr_live_sink_close(cdr_live_sink *ls);
/* The sink for cdr_archive_config.ac_sink; valid until cdr_live_sink_close. */
const struct cdr_archive_sink *cdr_live_sink_archive(cdr_live_sink *ls);
void cdr_live_sink_stats_get(const cdr_live_sink *ls, cdr_live_sink_stats *out);

/* The same projection into Redis (live_redis.c, docs/live-state.md "Redis"): every rated record
 * becomes idempotent ops under its account's hash tag (cdr_redis_apply: applied once per tag and
 * partition), flushed pipelined per batch; then the partition's resume point for group. r and st
 * are borrowed (st for the directory and plans). */
typedef struct cdr_live_rsink cdr_live_rsink;
int cdr_live_rsink_open(cdr_redis *r, cdr_store *st, const char *group, cdr_live_rsink **out,
                        cdr_diag *dg);
void cdr_live_rsink_close(cdr_live_rsink *rs);
const struct cdr_archive_sink *cdr_live_rsink_archive(cdr_live_rsink *rs);
void cdr_live_rsink_stats_get(const cdr_live_rsink *rs, cdr_live_sink_stats *out);

/* ---- queries --------------------------------------------------------------------------------- */

/* What a query answers, for one MSISDN. */
typedef struct cdr_live_bundle {
    char lb_name[CDR_NAME_MAX];
    uint8_t lb_service;
    uint8_t lb_pool;         /* 1 = the enterprise's pool */
    uint64_t lb_included;    /* units per cycle: the plan's, or the pool's size */
    uint64_t lb_used;        /* used this cycle (the whole pool's, for a pool) */
    uint64_t lb_member_used; /* a pool: this member's draw */
    uint64_t lb_member_cap;  /* a pool: this member's cap, 0 = none */
} cdr_live_bundle;

typedef struct cdr_live_view {
    cdr_dir *lv_dir;                  /* the line's part of the directory (cdr_dir_read_line) */
    const cdr_dir_subscriber *lv_sub; /* in lv_dir */
    const cdr_dir_account *lv_account;
    const cdr_dir_credit_class *lv_credit; /* the account's credit class (NULL if unknown) */
    uint32_t lv_cycle;                     /* the cycle answered */
    char lv_plan_currency[4];              /* the currency of the line's plan ("" if unknown) */
    int lv_has_line;                       /* lv_line holds the line's state in lv_cycle */
    cdr_live_line lv_line;
    int lv_has_account;
    cdr_live_account lv_acct;
    int lv_nbundles;
    cdr_live_bundle lv_bundles[CDR_PLAN_MAX_BUNDLES];
} cdr_live_view;

/* What a query reads: everything, or only what a balance needs (the account's state; the line
 * and the pool are left empty: one read in Redis). */
enum { CDR_LIVE_Q_ALL = 0, CDR_LIVE_Q_BALANCE = 1 };

/* Fill v for msisdn in cycle (YYYYMM), or in the latest cycle with state for the line when cycle is
 * 0 (the current month, in UTC, when it has none). The directory comes from st; the state from
 * Redis when rd is given, else from st. ps (may be NULL) gives the line's plan for its bundles and
 * currency. what: CDR_LIVE_Q_ALL or CDR_LIVE_Q_BALANCE. Returns 0, CDR_NOTFOUND ("msisdn N is not
 * in the directory"), CDR_STORE, CDR_VERSION, CDR_REDIS (naming the server). Free with
 * cdr_live_view_free. Thread-safe for distinct views (one cdr_redis per thread). */
int cdr_live_query(cdr_store *st, cdr_redis *rd, const cdr_plan_set *ps, const char *msisdn,
                   uint32_t cycle, int what, cdr_live_view *v, cdr_diag *dg);
void cdr_live_view_free(cdr_live_view *v);

/* Every line and then every account of the state (of cycle, or of every cycle when 0), in key
 * order (id, then cycle): line(arg, l) for each line, account(arg, a) for each account (either may
 * be NULL); a non-zero return stops and is returned. For exports and reconciliation. Returns 0,
 * CDR_STORE, CDR_VERSION; a store with no state has nothing to visit. */
int cdr_live_each(cdr_store *st, uint32_t cycle, int (*line)(void *arg, const cdr_live_line *l),
                  int (*account)(void *arg, const cdr_live_account *a), void *arg, cdr_diag *dg);

/* The account's money in currency cur of the view's cycle (NULL when it has none). */
const cdr_live_money *cdr_live_account_money(const cdr_live_view *v, const char *cur);

#endif
