/* cdr_payments.h - payments from banks and counters, and the arrears they leave on the invoices of
 * the bill run (docs/billing.md, "Payments and arrears").
 *
 * A payments file (CSV) is checked as a whole, then stored into the store's own database
 * CDR_DB_PAYMENTS in one write transaction, idempotent by payment id. The status (balances,
 * credit, arrears aging, the dunning list) is recomputed from scratch every time from the
 * published invoices (OUT/YYYY-MM/invoices.jsonl of `cdrate bill`) and the stored payments:
 * nothing of it is stored, so the same invoices, payments and as-of date always give the same
 * figures. Money is micro-units; an account's amounts in different currencies are kept apart and
 * never added together.
 */
#ifndef CDR_PAYMENTS_H
#define CDR_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_store.h"

/* The stored payments: payment id -> the payment (layout CDR_PAY_LAYOUT, payments.c). */
#define CDR_DB_PAYMENTS "payments"
#define CDR_PAY_LAYOUT  1

#define CDR_PAY_HEADER    "id,account,amount,currency,date,method,reference"
#define CDR_PAY_ID_MAX    64  /* bytes of a payment id */
#define CDR_PAY_REF_MAX   256 /* bytes of a reference */
#define CDR_PAY_INV_MAX   47  /* bytes of an invoice number */
#define CDR_PAY_CLASS_MAX 31  /* bytes of a credit class id */
/* The largest amount of one payment: 999999999.99 (sums of many stay far from INT64_MAX). */
#define CDR_PAY_AMOUNT_MAX (999999999LL * CDR_MICRO + 990000LL)

typedef enum cdr_pay_method {
    CDR_PAY_BANK = 0, /* a bank transfer (the bank's statement file) */
    CDR_PAY_COUNTER,  /* cash or cheque at a service counter */
    CDR_PAY_CARD,     /* a card payment (self-service, IVR) */
    CDR_PAY_OTHER,    /* anything else; say what in the reference */
    CDR_PAY_METHOD_COUNT
} cdr_pay_method;

/* "bank", "counter", "card", "other"; NULL for an out-of-range value. */
const char *cdr_pay_method_name(int method);

/* One payment. pm_date is a day number (cdr_days_from_civil). */
typedef struct cdr_payment {
    char pm_id[CDR_PAY_ID_MAX + 1];
    char pm_currency[4]; /* ISO 4217 */
    uint8_t pm_method;   /* cdr_pay_method */
    uint64_t pm_account;
    cdr_money pm_amount; /* > 0, whole cents */
    int64_t pm_date;
    char pm_reference[CDR_PAY_REF_MAX + 1];
    /* The line of its file it was read from (of a stored payment: the line of the file it was
     * first loaded from; the store keeps that file's name too). Not part of its content. */
    uint32_t pm_line;
} cdr_payment;

/* The payments of one file, in file order (or of the store, in id order). */
typedef struct cdr_pay_file {
    char pf_path[256];
    cdr_payment *pf_items;
    size_t pf_n;
} cdr_pay_file;

/* Read and check a whole payments file (docs/billing.md, "Payments and arrears"): the header
 * line CDR_PAY_HEADER (after an optional UTF-8 byte order mark), then one payment per line;
 * blank lines and lines starting with '#' are skipped; a field holding a comma or a quote is
 * quoted ("" for a quote inside). Errors: CDR_EIO (cannot read; file, no line), CDR_ENOMEM,
 * CDR_FORMAT with file:line:column of the field at fault (a wrong header, a wrong number of
 * fields, an id that is empty, too long or holds other characters than letters, digits and
 * . _ - : /, an id used twice in the file, an account that is not a positive whole number, an
 * amount that is not a positive decimal with at most two decimals or is over
 * CDR_PAY_AMOUNT_MAX, a currency that is not three capital letters, a date that is not a real
 * YYYY-MM-DD, an unknown method, a reference too long or holding control characters). On
 * success *out (free with cdr_pay_file_free) holds the payments; on error it is NULL. */
int cdr_pay_parse_file(const char *path, cdr_pay_file **out, cdr_diag *dg);
/* Accepts NULL. */
void cdr_pay_file_free(cdr_pay_file *pf);

/* What cdr_pay_store_put did. */
typedef struct cdr_pay_load {
    uint64_t pl_loaded;     /* new payment ids stored */
    uint64_t pl_duplicates; /* ids already stored with the same content: skipped */
} cdr_pay_load;

/* Store the payments of pf into st (opened for writing) in one write transaction: all or
 * nothing. A payment whose id is already stored with the same content (account, amount,
 * currency, date, method, reference) is skipped and counted as a duplicate; the same id with
 * a different content refuses the whole file: CDR_EXISTS with the payment's file:line, the id
 * and every field that differs, nothing stored. Other errors: CDR_STORE, CDR_EIO (disk full),
 * CDR_LIMIT (the store's map is full), CDR_VERSION (a stored payment of an unknown layout).
 * res (may be NULL) gets the counts; they are counted also when nothing new was written. */
int cdr_pay_store_put(cdr_store *st, const cdr_pay_file *pf, cdr_pay_load *res, cdr_diag *dg);

/* The payments stored in st (read-only is enough), in id order; account 0 = all accounts, else
 * only that account's. A store in which no payment was ever loaded gives none. *out (free with
 * cdr_pay_file_free) has pf_path empty. Errors: CDR_STORE, CDR_ENOMEM, CDR_VERSION. */
int cdr_pay_store_list(cdr_store *st, uint64_t account, cdr_pay_file **out, cdr_diag *dg);

/* ---- status: balances, credit, aging, dunning ------------------------------------------------ */

/* Aging buckets of an unpaid invoice amount, by the days past its due date as of a date
 * (as_of - due): "current" is not yet due (negative), then 0-30 (0 = due that very day), 31-60,
 * 61-90 and 90+ (91 days and more). */
typedef enum cdr_pay_bucket {
    CDR_AGE_CURRENT = 0,
    CDR_AGE_0_30,
    CDR_AGE_31_60,
    CDR_AGE_61_90,
    CDR_AGE_OVER_90,
    CDR_AGE_COUNT
} cdr_pay_bucket;

/* "current", "0-30", "31-60", "61-90", "90+"; NULL for an out-of-range value. */
const char *cdr_pay_bucket_name(int bucket);
/* The bucket of an amount days_past_due days past its due date (negative: not yet due). */
cdr_pay_bucket cdr_pay_bucket_of(int64_t days_past_due);

/* One invoice of a published cycle, with what the status computed for it. */
typedef struct cdr_pay_invoice {
    char pi_invoice[CDR_PAY_INV_MAX + 1];
    char pi_currency[4];
    char pi_credit_class[CDR_PAY_CLASS_MAX + 1]; /* empty: null in the file */
    uint64_t pi_account;
    int64_t pi_issued, pi_due; /* day numbers */
    cdr_money pi_total;        /* tax included; negative for a credit note */
    uint32_t pi_line;          /* line in its invoices.jsonl */
    uint32_t pi_cycle;         /* index into cdr_pay_status.ps_cycles */
    /* computed (invoices issued on or before as-of; others keep 0 and pi_counted 0) */
    int pi_counted;
    cdr_money pi_paid; /* applied to it by payments and credit */
    cdr_money pi_open; /* pi_total - pi_paid, unpaid (0 for a credit note) */
    int64_t pi_days_past_due;
    cdr_pay_bucket pi_bucket;
} cdr_pay_invoice;

/* One account in one currency. balance = invoiced - paid = open - credit;
 * open = the sum of pa_aging. */
typedef struct cdr_pay_account {
    uint64_t pa_account;
    char pa_currency[4];
    char pa_credit_class[CDR_PAY_CLASS_MAX + 1]; /* of its latest counted invoice */
    uint32_t pa_invoices, pa_payments;           /* counted: issued / paid on or before as-of */
    cdr_money pa_invoiced, pa_paid, pa_balance, pa_credit, pa_open;
    cdr_money pa_aging[CDR_AGE_COUNT];
    /* Overdue (the dunning rule): unpaid on invoices at least one day past their due date. */
    cdr_money pa_overdue;
    uint32_t pa_overdue_invoices;
    int64_t pa_oldest_due;         /* due date of its oldest overdue invoice (if any) */
    int64_t pa_days_past_due;      /* days that invoice is past due */
    size_t pa_inv_from, pa_inv_to; /* its invoices: ps_invoices[from, to), oldest first */
    size_t pa_pay_from, pa_pay_to; /* its payments: ps_payments[from, to), by date then id */
} cdr_pay_account;

/* The sums of one currency over all accounts reported. */
typedef struct cdr_pay_total {
    char pt_currency[4];
    uint64_t pt_accounts, pt_dunning, pt_invoices, pt_payments;
    cdr_money pt_invoiced, pt_paid, pt_balance, pt_credit, pt_open, pt_overdue;
    cdr_money pt_aging[CDR_AGE_COUNT];
} cdr_pay_total;

typedef struct cdr_pay_status {
    int64_t ps_as_of;
    char (*ps_cycles)[8]; /* the cycles read ("2026-11"), in name order */
    size_t ps_ncycles;
    cdr_pay_invoice *ps_invoices; /* by account, currency, issued date, invoice number */
    size_t ps_ninvoices;
    cdr_payment *ps_payments; /* by account, currency, date, id */
    cdr_money *ps_applied;    /* per payment: how much of it went to invoices (rest: credit) */
    size_t ps_npayments;
    cdr_pay_account *ps_accounts; /* by account, then currency */
    size_t ps_naccounts;
    cdr_pay_total *ps_totals; /* by currency */
    size_t ps_ntotals;
    /* Not counted as of ps_as_of (never dropped silently): invoices issued and payments made
     * after it. */
    uint64_t ps_later_invoices, ps_later_payments;
} cdr_pay_status;

/* Read the invoices of every published cycle under bills_dir (folders named YYYY-MM holding
 * invoices.jsonl; names starting with '.' and other names are skipped) and the payments of st,
 * and apply the payments to the invoices: per account and currency, invoices oldest first
 * (issued date, then invoice number), payments by date then id; an amount left over is the
 * account's credit and goes to its later invoices; a credit note (negative total) is a credit
 * like a payment. Only invoices issued and payments made on or before as_of count. account 0:
 * every account; else only that account (an account in no invoice and no payment gives
 * ps_naccounts 0). Errors: CDR_EIO (bills_dir or a file that cannot be read), CDR_FORMAT
 * (file:line:column of a malformed invoice line, or an invoice number found twice), CDR_RANGE
 * (sums beyond int64), and those of cdr_pay_store_list. Free *out with cdr_pay_status_free. */
int cdr_pay_status_run(cdr_store *st, const char *bills_dir, int64_t as_of, uint64_t account,
                       cdr_pay_status **out, cdr_diag *dg);
/* Accepts NULL. */
void cdr_pay_status_free(cdr_pay_status *ps);

/* ---- the overdue set: the dunning list recorded for credit control ---------------------------
 * `cdrate payments dunning` records the dunning list of a status (every account, as of a day) in
 * the store's database CDR_DB_OVERDUE, replacing the set recorded before in the same write
 * transaction: an account that has paid since drops out. The rating view of the directory
 * (cdr_dir_rating_view) reads it in the same read transaction as the directory, and the rating
 * core warns, then suspends, the lines of an overdue member account (docs/credit-control.md,
 * "Overdue accounts"). Key: be64 account + 3 bytes currency; the key of 8 zero bytes holds the
 * as-of date of the run and the number of entries (layout CDR_OVERDUE_LAYOUT, overdue.c). */
#define CDR_DB_OVERDUE     "overdue"
#define CDR_OVERDUE_LAYOUT 1

/* One account in one currency on the dunning list. Days are day numbers (cdr_days_from_civil). */
typedef struct cdr_pay_overdue {
    uint64_t po_account;
    char po_currency[4];
    char po_credit_class[CDR_PAY_CLASS_MAX + 1]; /* of its latest invoice ("" = none) */
    cdr_money po_amount;                         /* unpaid past the due date, micro-units */
    uint32_t po_invoices;                        /* overdue invoices */
    int64_t po_oldest_due;                       /* due date of the oldest overdue invoice */
    int64_t po_since; /* overdue since: the day after po_oldest_due (the first day past due) */
} cdr_pay_overdue;

/* A recorded overdue set: os_items by account, then currency. */
typedef struct cdr_pay_overdue_set {
    int os_recorded; /* 0: no dunning run was ever recorded in the store (empty set) */
    int64_t os_as_of;
    cdr_pay_overdue *os_items;
    size_t os_n;
} cdr_pay_overdue_set;

/* What cdr_pay_overdue_store changed against the set recorded before. */
typedef struct cdr_pay_overdue_diff {
    uint64_t pd_accounts;  /* entries (account and currency) recorded now */
    uint64_t pd_added;     /* of them, not in the previous set */
    uint64_t pd_dropped;   /* entries of the previous set that are no longer overdue */
    int pd_prev_recorded;  /* a set was recorded before */
    int64_t pd_prev_as_of; /* its as-of */
} cdr_pay_overdue_diff;

/* Record the dunning list of ps (a status of every account: cdr_pay_status_run with account 0)
 * into st (opened for writing) in one write transaction, replacing the previous set: all or
 * nothing. The same status gives the same stored set (idempotent). res (may be NULL) gets the
 * counts. Errors: CDR_EINVAL (NULL), CDR_STORE, CDR_EIO (disk full), CDR_LIMIT (map full),
 * CDR_VERSION (a recorded set of an unknown layout, left as it is). */
int cdr_pay_overdue_store(cdr_store *st, const cdr_pay_status *ps, cdr_pay_overdue_diff *res,
                          cdr_diag *dg);
/* The recorded set, read in the caller's transaction txn (read-only is enough; the set is copied,
 * so it outlives txn). A store without the database gives an empty set with os_recorded 0.
 * Errors: CDR_STORE, CDR_ENOMEM, CDR_VERSION / CDR_FORMAT (an entry of another layout or size).
 * Free *out with cdr_pay_overdue_free. */
int cdr_pay_overdue_read(MDB_txn *txn, cdr_pay_overdue_set **out, cdr_diag *dg);
/* The same in a read transaction of its own. */
int cdr_pay_overdue_list(cdr_store *st, cdr_pay_overdue_set **out, cdr_diag *dg);
/* Only the entries of account (a few point reads, whatever the size of the set), with the run's
 * os_recorded and os_as_of, in a read transaction of its own. Errors as cdr_pay_overdue_read. */
int cdr_pay_overdue_account(cdr_store *st, uint64_t account, cdr_pay_overdue_set **out,
                            cdr_diag *dg);
/* The entry of account with the oldest due date (then the first currency by code), or NULL when
 * the account is not overdue. Valid as long as set. */
const cdr_pay_overdue *cdr_pay_overdue_find(const cdr_pay_overdue_set *set, uint64_t account);
/* Accepts NULL. */
void cdr_pay_overdue_free(cdr_pay_overdue_set *set);

/* "YYYY-MM-DD" (a real date) -> day number; 0 on success, CDR_PARSE otherwise. */
int cdr_pay_date_parse(const char *s, int64_t *days);
/* A day number as "YYYY-MM-DD" into buf (11 bytes suffice); returns buf. */
const char *cdr_pay_date_format(int64_t days, char *buf, size_t n);

#endif
