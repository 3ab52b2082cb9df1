/* cdr_stmt_hint.h - the cheaper-plan hint of a statement: a line's usage of one cycle re-rated
 * with the real evaluator (cdr_rules_rate) under every plan of the catalogue the line may take,
 * and the cheapest named with the saving. The rules are in docs/statements.md, "Cheaper-plan
 * hint"; the result type cdr_stmt_hint is in cdr_statement.h.
 */
#ifndef CDR_STMT_HINT_H
#define CDR_STMT_HINT_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_dir.h"
#include "cdr_error.h"
#include "cdr_rules.h"
#include "cdr_statement.h"

/* The hint of line sb for cycle (YYYYMM).
 *
 * recs[i] and rated[i] (i < n) are the line's records of the cycle as billed: each CDR with its
 * rated record, in ledger (rating) order, each event once as it stands (an original, or the
 * correction that replaced it). Records whose rr_reason is not CDR_REASON_NONE (never billed)
 * and reversals (CDR_RATED_FLAG_REVERSAL) are skipped; every other record must be of the cycle
 * (rr_cycle == cycle). ps is the plan catalogue, dir the directory sb comes from (for the pool
 * sizes of its product).
 *
 * Fills *out (all of it; hn_current is always sb_plan):
 * - CDR_HINT_CHEAPER: hn_best (a plan id other than sb_plan) costs hn_best_cost < hn_current_cost,
 *   hn_saving = the difference;
 * - CDR_HINT_KEEP: no plan the line may take costs less (hn_best "", hn_best_cost and hn_saving
 *   0);
 * - CDR_HINT_NONE (hn_candidates 0, costs 0): nothing to compare: the line was active on no day
 *   of the cycle and has no record, its plan is not in ps or has no version in effect, or its own
 *   plan cannot re-rate one of its records (usage rated under another plan).
 * Costs are usage (per charge class rounded half-up to the cent) + the prorated monthly fee,
 * micro-units, before discounts and tax, as the bill run computes them.
 *
 * Returns 0, or with the reason in dg: CDR_EINVAL (a NULL argument, a cycle that is not YYYYMM,
 * a record of another cycle), CDR_RANGE (a monthly fee or usage sum out of range), CDR_LIMIT
 * (more than 64 distinct bundle names in the versions of one plan within the cycle).
 * Pure: allocates nothing, writes only *out (and dg); thread-safe for distinct out. Costs about
 * one cdr_rules_rate per record and candidate plan; a plan stops at its first record it cannot
 * rate. */
int cdr_stmt_hint_line(const cdr_plan_set *ps, const cdr_dir *dir, const cdr_dir_subscriber *sb,
                       uint32_t cycle, const cdr_record *recs, const cdr_rated *rated, size_t n,
                       cdr_stmt_hint *out, cdr_diag *dg);

#endif
