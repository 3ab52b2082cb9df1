/* stmt_int.h - what the statement builder, the export and verify share (not a public API). */
#ifndef CDR_STMT_INT_H
#define CDR_STMT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_bill_output.h"
#include "cdr_bytes.h"
#include "cdr_dir.h"
#include "cdr_statement.h"

/* Called with every itemised record of a line (its index in the lines), lines in order, each
 * line's records by local time (then ledger order); return non-zero to stop (that value is
 * returned). */
typedef int (*stmt_item_fn)(const cdr_stmt_item *it, size_t line, void *ctx);
/* Called with the itemised rows of a line (cdr_stmt_item_csv, nitems of them), lines in order,
 * when the items are asked for as text: they are then formatted on worker threads. */
typedef int (*stmt_text_fn)(size_t line, const char *rows, size_t len, uint64_t nitems, void *ctx);
/* Called once a line's usage, bundles and hint are filled, in line order: after the items of
 * its lines' range (several lines' items may come before their callbacks). */
typedef int (*stmt_line_fn)(cdr_stmt_line *ln, size_t index, void *ctx);

/* The inputs shared by every statement of a cycle. */
typedef struct stmt_env {
    cdr_dir *se_dir;
    cdr_plan_set *se_ps;
    const char *se_ledger;
    const char *se_bills;
    const char *se_tmpdir; /* where the pass over the ledger spills, NULL: $TMPDIR or /tmp */
    uint32_t se_cycle;
    int se_privacy;
    int se_hint;
    uint64_t se_budget; /* bytes a spill bucket may hold (memory bound); 0 = 16 MiB */
} stmt_env;

/* The lines of the statement(s): sb[i] in subscriber id order and ln[i] to fill. */
typedef struct stmt_lines {
    size_t sl_n;
    const cdr_dir_subscriber **sl_sb;
    cdr_stmt_line *sl_ln;
} stmt_lines;

/* Read the cycle's records of the lines from the ledger (and the cycle's own correction sets),
 * fill each line's usage (classes' rated figures, services, bundles) and, when env->se_hint, its
 * hint, giving the items to item (one by one, on this thread) or text (as rows, formatted by two
 * worker threads), either may be NULL, and calling line_done (may be NULL) once per line, in line
 * order. Memory is bounded: records are spilled to temporary files by line range and read back
 * one range at a time. */
int stmt_pass(const stmt_env *env, uint32_t cycle, const stmt_lines *sl, stmt_item_fn item,
              stmt_text_fn text, stmt_line_fn line_done, void *ctx, cdr_diag *dg);

/* Add the invoice lines of bo (already filtered to the lines and the enterprise account) into
 * the lines' billed figures; account-level lines of account `ent_account` into *account_adj.
 * Returns CDR_FORMAT when a line is billed in another currency than cur (filled from the first
 * when ""); cur NULL checks nothing (an export: every statement has its own currency). */
int stmt_apply_invoices(const cdr_bill_output *bo, const stmt_lines *sl, uint64_t ent_account,
                        cdr_money *account_adj, char cur[4], uint8_t *billed, cdr_diag *dg);
/* (billed, may be NULL: billed[i] set to 1 for every line with an invoice line in bo) */

/* FNV-1a of n bytes, mixed (cdr_mix64): the MSISDN tables of the pass and of verify. */
static inline uint64_t stmt_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return cdr_mix64(h);
}

/* The statement's header from the directory and the invoices: kind (s->st_kind, set), the
 * enterprise en (may be NULL) with its account and manager, the main invoice (the enterprise
 * account's for an enterprise statement, else line sb's own account's) and, for a member, its
 * enterprise account's; currency, issue and due dates of the main one. */
void stmt_header(const cdr_dir *dir, const cdr_bill_output *bo, const cdr_dir_enterprise *en,
                 const cdr_dir_subscriber *sb, cdr_statement *s);

/* The cycle before YYYYMM cycle. */
uint32_t stmt_previous_cycle(uint32_t cycle);

/* Add a line's figures of the previous cycle to a change (a line billed then). */
void stmt_change_add(cdr_stmt_change *ch, const cdr_stmt_line *prev);

/* Fill a line's identity (msisdn, names, plan, status, accounts, enterprise) from the directory. */
void stmt_line_identity(const cdr_dir *dir, const cdr_dir_subscriber *sb, cdr_stmt_line *ln);

/* Sums over s->st_lines into the statement's totals, pools (enterprise) and top overflow. */
void stmt_sum_lines(const cdr_dir *dir, cdr_statement *s);

/* The i-th record of a line (0 <= i < n, in ledger order), for the hint: pointers valid until
 * the next call. Returns 0 or an error (in dg). */
typedef int (*stmt_hint_get_fn)(void *ctx, size_t i, const cdr_record **cr, const cdr_rated **rr,
                                cdr_diag *dg);
/* cdr_stmt_hint_line over records given one at a time (a line too large to hold decoded). */
int stmt_hint_line_get(const cdr_plan_set *ps, const cdr_dir *dir, const cdr_dir_subscriber *sb,
                       uint32_t cycle, stmt_hint_get_fn get, void *gctx, size_t n,
                       cdr_stmt_hint *out, cdr_diag *dg);

/* Size and SHA-256 of a file, read back. */
int stmt_file_sha256(const char *path, uint64_t *bytes, uint8_t sha[32], cdr_diag *dg);

#endif
