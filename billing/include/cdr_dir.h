/* cdr_dir.h - the customer directory (six-account model).
 *
 * Customers, accounts, subscribers, enterprises, enterprise products, memberships, payment rules and
 * credit classes, in the directory file format documented in docs/directory.md. A directory file is
 * loaded into the store (LMDB) as a whole, atomically: a file with any error changes nothing and
 * the previously loaded directory stays active.
 */
#ifndef CDR_DIR_H
#define CDR_DIR_H

#include <stdio.h>

#include "cdr_rate.h"
#include "cdr_store.h"

typedef struct cdr_dir_stats {
    size_t ds_credit_classes;
    size_t ds_customers;
    size_t ds_accounts;
    size_t ds_enterprises;
    size_t ds_products;
    size_t ds_subscribers;
    size_t ds_memberships;
    size_t ds_payment_rules;
} cdr_dir_stats;

/* Parse and validate the directory file at path, then replace the store's directory with it in
 * one write transaction. Errors: CDR_PARSE / CDR_FORMAT / CDR_RANGE / CDR_EXISTS (duplicate id) /
 * CDR_NOTFOUND (a reference to an unknown id) with file, line, column and message in dg; nothing
 * is written then. progress (may be NULL) receives progress lines on large files. stats may be NULL. */
int cdr_dir_load_file(cdr_store *st, const char *path, FILE *progress, cdr_dir_stats *stats,
                      cdr_diag *dg);

/* Build the rating view (one cdr_sub per subscriber) from the directory in the store.
 * The table is owned by the caller (cdr_subtab_free). CDR_NOTFOUND when no directory is loaded. */
int cdr_dir_rating_view(cdr_store *st, cdr_subtab **out, cdr_diag *dg);

#endif
