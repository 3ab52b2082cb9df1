/* cdr_rerate.h - rerating: a cycle's ledger records re-rated against the current plans and
 * directory, every change written as a correction pair (the reversal of the old charge, then the
 * new charge) into the ledger's correction sets, the cycle's bundle counters recomputed in input
 * order, and the live state corrected. Exactly once: a second run finds nothing to change; a run
 * killed half-way is finished by the next. docs/billing.md, "Rerating"; the layout of the
 * correction sets: docs/ledger.md, "Correction sets".
 */
#ifndef CDR_RERATE_H
#define CDR_RERATE_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_progress.h"
#include "cdr_store.h"

/* The correction sets live in a ledger of their own, LEDGER/corrections (its own lock, so that a
 * rerate never waits for the archiver), with one meta file per set in LEDGER/corrections/sets.
 * A correction of the record at (partition p, offset o) of the cycle is stored in partition
 * CDR_CORR_PARTITION(set, p) of the cycle: the reversal at offset 2*o, the new charge at 2*o+1. */
#define CDR_CORR_DIR                  "corrections"
#define CDR_CORR_PARTITION(set, p)    (((uint32_t)(set) << 16) | (uint32_t)(p))
#define CDR_CORR_SET_OF(partition)    ((uint32_t)(partition) >> 16)
#define CDR_CORR_ORIG_PART(partition) ((uint32_t)(partition)&0xffffu)
#define CDR_CORR_MAX_SETS             65535u
#define CDR_CORR_MAX_PARTITION        65535u /* a ledger partition a rerate can correct */

/* A committed correction set. */
typedef struct cdr_corr_set {
    uint32_t cs_set;      /* 1, 2, ... over the whole ledger */
    uint32_t cs_cycle;    /* the cycle whose records it corrects (YYYYMM) */
    uint32_t cs_target;   /* the cycle whose bill takes it: cs_cycle when that cycle was open when
                             the set was made (its bill uses the corrected figures), else the first
                             open cycle after it (adjustment lines on that bill) */
    uint64_t cs_pairs;    /* correction pairs */
    char cs_selector[96]; /* "all", "msisdn:N", "enterprise:ID", "plan:P" */
} cdr_corr_set;

/* The committed sets of the ledger in directory `ledger`, ascending by set, into *out (malloc'd,
 * free it; NULL when none). Returns their count, or -1 with the reason in dg (CDR_EIO; CDR_FORMAT
 * for a damaged meta file, naming file:line). A ledger without corrections has none. */
int cdr_corr_sets(const char *ledger, cdr_corr_set **out, cdr_diag *dg);

typedef struct cdr_rerate_config {
    uint32_t rc_cycle;      /* YYYYMM */
    const char *rc_ledger;  /* the ledger folder */
    const char *rc_msisdn;  /* at most one selector: this line's charging owner, */
    uint64_t rc_enterprise; /* the owners of this enterprise's members, */
    const char *rc_plan;    /* the owners of the lines on this plan (directory); none: all */
    const char *rc_report;  /* folder for records.csv and accounts.csv; NULL = none */
    unsigned rc_threads;    /* rating threads; 0 = one per core, at most 8 */
    const cdr_progress *rc_progress; /* records read of the cycle's total; may be NULL */
} cdr_rerate_config;

#define CDR_RERATE_MAX_CURRENCIES 8

typedef struct cdr_rerate_money {
    char rm_currency[4];
    uint64_t rm_pairs;
    cdr_money rm_old, rm_new; /* micro-units, as rated */
} cdr_rerate_money;

typedef struct cdr_rerate_summary {
    uint32_t rs_cycle;
    uint32_t rs_set;       /* the set written (or finished); 0 when nothing changed */
    uint32_t rs_target;    /* the cycle whose bill takes it */
    int rs_resumed;        /* 1: finished a set an interrupted run had begun */
    uint64_t rs_records;   /* records of the cycle read */
    uint64_t rs_rerated;   /* of them, re-rated: the selected charging owners' */
    uint64_t rs_pairs;     /* correction pairs in the set */
    uint64_t rs_unratable; /* re-rated records the current plans cannot rate: kept as billed */
    uint64_t rs_counters;  /* bundle counters of the cycle written */
    uint64_t rs_lines;     /* lines whose live state was corrected */
    int rs_ncurrencies;
    cdr_rerate_money rs_money[CDR_RERATE_MAX_CURRENCIES]; /* sorted by code */
} cdr_rerate_summary;

/* Rerate cycle cfg->rc_cycle of the ledger with the plans and directory of st (open for
 * writing). Errors: CDR_NOTFOUND (no directory or plans; a selector that names nothing),
 * CDR_EXISTS (another rerate holds the corrections' lock), CDR_FORMAT (a damaged segment or meta
 * file, named; a ledger partition above CDR_CORR_MAX_PARTITION), CDR_LIMIT, CDR_EIO, CDR_STORE,
 * CDR_ENOMEM, CDR_EINVAL. */
int cdr_rerate_run(cdr_store *st, const cdr_rerate_config *cfg, cdr_rerate_summary *sum,
                   cdr_diag *dg);

/* Test hook CDR_RERATE_HOLD_MS=MS: after the first correction pairs are durable and before the
 * set is committed, print "cdrate rerate: test hook: holding an open correction set" on stderr
 * and wait MS ms (so that a test can kill the run there). */
#define CDR_RERATE_HOLD_ENV "CDR_RERATE_HOLD_MS"

#endif
