/* cdr_bill_output.h - reading a published bill run back (invoices.csv and invoice_lines.csv of
 * BILLS/YYYY-MM, docs/billing.md "Output"), for the statements and tools. The files are the
 * bill run's own format; every row is checked and a malformed one named by file:line:column.
 */
#ifndef CDR_BILL_OUTPUT_H
#define CDR_BILL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_rate.h"

/* One row of invoices.csv. Amounts are whole cents (micro-units). */
typedef struct cdr_bo_invoice {
    char bi_invoice[32];
    uint64_t bi_account;
    char bi_kind[16]; /* enterprise, member, individual */
    uint64_t bi_customer;
    char bi_customer_name[96];
    char bi_currency[4];
    char bi_issued[11], bi_due[11];
    cdr_money bi_amount, bi_tax, bi_total;
    char bi_credit_class[CDR_NAME_MAX];
} cdr_bo_invoice;

/* One row of invoice_lines.csv. */
typedef struct cdr_bo_line {
    uint64_t bl_account;
    uint64_t bl_subscriber; /* 0: a line of the account itself (an account adjustment) */
    uint8_t bl_class;       /* cdr_charge_class */
    uint8_t bl_enterprise;  /* 1: share "enterprise", 0: "own" */
    char bl_currency[4];
    cdr_money bl_amount, bl_tax, bl_total;
} cdr_bo_line;

/* Which rows to keep: called with the account (and for lines the subscriber, 0 for an account's
 * own line); non-zero keeps the row. NULL keeps every row. */
typedef int (*cdr_bo_keep_fn)(uint64_t account, uint64_t subscriber, void *ctx);

typedef struct cdr_bill_output {
    uint32_t bo_cycle;
    char bo_dir[4200];           /* BILLS/YYYY-MM */
    cdr_bo_invoice *bo_invoices; /* in file order (account id order) */
    size_t bo_ninvoices;
    cdr_bo_line *bo_lines; /* in file order */
    size_t bo_nlines;
} cdr_bill_output;

/* Read the kept rows of cycle `cycle` (YYYYMM) published in folder bills. keep_invoice decides on
 * invoices (subscriber 0), keep_line on lines. Errors: CDR_NOTBILLED "cycle 2026-11 is not billed:
 * no BILLS/2026-11/invoices.csv" when the cycle's folder or its files are missing; CDR_FORMAT
 * (a wrong header, a malformed row, with file:line:column); CDR_EIO; CDR_ENOMEM. Free with
 * cdr_bill_output_free (accepts NULL). */
int cdr_bill_output_read(const char *bills, uint32_t cycle, cdr_bo_keep_fn keep_invoice,
                         cdr_bo_keep_fn keep_line, void *ctx, cdr_bill_output **out, cdr_diag *dg);
void cdr_bill_output_free(cdr_bill_output *bo);

/* The kept invoice of account, or NULL. */
const cdr_bo_invoice *cdr_bill_output_invoice(const cdr_bill_output *bo, uint64_t account);

#endif
