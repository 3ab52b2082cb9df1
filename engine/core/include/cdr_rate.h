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
    char su_msisdn[CDR_NUMBER_MAX];
    char su_plan[CDR_NAME_MAX]; /* plan id */
    uint64_t su_id;             /* subscriber id, > 0 */
    uint64_t su_enterprise;     /* enterprise id, 0 for an individual subscriber */
    uint64_t su_owner;          /* charging owner: the enterprise when the plan draws on its pool */
    cdr_time su_active_from;    /* active in [from, to) */
    cdr_time su_active_to;      /* INT64_MAX when open-ended */
    uint64_t su_pool_units[CDR_SVC_COUNT]; /* enterprise pool size per service, base units */
    uint64_t su_member_cap[CDR_SVC_COUNT]; /* this member's cap on the pool, 0 = none */
    int32_t su_family;                     /* plan family in the rater's plan set (set by the core) */
} cdr_sub;

typedef struct cdr_subtab cdr_subtab;

/* An open-addressing table keyed by MSISDN. capacity_hint: expected number of subscribers. */
int cdr_subtab_create(size_t capacity_hint, cdr_subtab **out);
/* Copies su in. Returns 0, CDR_EXISTS for an MSISDN already present, CDR_ENOMEM. */
int cdr_subtab_add(cdr_subtab *tab, const cdr_sub *su);
/* The entry for msisdn or NULL. Valid until the table is freed. */
const cdr_sub *cdr_subtab_find(const cdr_subtab *tab, const char *msisdn);
size_t cdr_subtab_count(const cdr_subtab *tab);
/* Iterate: i from 0 while the return is non-NULL. */
const cdr_sub *cdr_subtab_at(const cdr_subtab *tab, size_t i);
void cdr_subtab_free(cdr_subtab *tab);

#endif
