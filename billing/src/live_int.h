/* live_int.h - internals shared by the live state's files (billing/src/live*.c); not public. */
#ifndef LIVE_INT_H
#define LIVE_INT_H

#include "cdr_live.h"
#include "cdr_redis.h"

/* The money of currency cur in m[0..*n) (sorted by currency), added when absent and room is
 * left; NULL when all CDR_LIVE_MAX_CURRENCIES slots hold other currencies. */
cdr_live_money *live_money_slot(cdr_live_money *m, uint32_t *n, const char *cur);
/* The current month (UTC) as YYYYMM. */
uint32_t live_current_cycle(void);
/* Fill v's cycle (cycle, else the line's latest, else the current month), account state, and
 * with all also the line's state and the enterprise's pool (*have_pool) from Redis
 * (live_redis.c). */
int live_redis_fetch(cdr_redis *r, cdr_live_view *v, uint32_t cycle, int all, cdr_live_pool *pool,
                     int *have_pool, cdr_diag *dg);

/* The projection sinks' view of the store: (re)read the rating view of the directory and the
 * plans into *subs and *ps (the previous ones freed on success; *ps NULL when the plans cannot be
 * read). Returns 0 or cdr_dir_rating_view's error (live_project.c). */
int live_view_load(cdr_store *st, cdr_subtab **subs, cdr_plan_set **ps, cdr_diag *dg);
/* The plan version that rated a record read back from cdr.rated, or NULL when ps no longer
 * holds it. */
struct cdr_ledger_rec;
const cdr_plan *live_rating_plan(const cdr_plan_set *ps, const struct cdr_ledger_rec *r);

#endif
