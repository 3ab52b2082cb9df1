/* cdr_bill.h - the month-end bill run: from a cycle's rated records in the ledger, the directory
 * and the plans to one invoice per account, with the enterprise/member split, discounts, tax per
 * charge class and a report per currency. Deterministic: the same inputs give byte-identical
 * output; the cycle's output is published all at once or not at all. docs/billing.md.
 */
#ifndef CDR_BILL_H
#define CDR_BILL_H

#include <stdint.h>

#include "cdr_dir.h"
#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_progress.h"
#include "cdr_rate.h"
#include "cdr_store.h"

/* ---- tax ------------------------------------------------------------------------------------- */

/* The tax rate of each charge class, in millionths (9 % = 90000). */
typedef struct cdr_tax_table {
    uint32_t tt_ppm[CDR_CLASS_COUNT];
} cdr_tax_table;

#define CDR_TAX_PPM_MAX 1000000u /* 100 % */

/* The built-in rates (docs/billing.md, "Tax"): 9 % on basic_voice, roaming and recurring_fee, 6 %
 * on sms_mms, data, value_added, premium and one_off, 0 on free and adjustment. */
void cdr_tax_defaults(cdr_tax_table *t);

/* Read a tax file: one `CLASS PERCENT` per line (`data 6`, `basic_voice 9`, `premium 6.5`: at
 * most four decimals), `#` comments and blank lines; classes not named keep the built-in rate.
 * Errors name file:line:column: CDR_EIO, CDR_FORMAT (unknown class, a class twice, a rate that is
 * not a number from 0 to 100). */
int cdr_tax_load(const char *path, cdr_tax_table *t, cdr_diag *dg);

/* Tax on one invoice line: amount * rate rounded half-up (ties away from zero) to the cent. */
cdr_money cdr_tax_of(cdr_money amount, uint32_t ppm);

/* ---- adjustments ----------------------------------------------------------------------------- */

/* One-off charges and credits of a cycle, from an adjustments file (docs/billing.md,
 * "Adjustments"): CSV with the header `id,target,class,amount,currency,description`. */
typedef struct cdr_adjustment {
    char ad_id[64];                 /* unique in the file */
    uint64_t ad_account;            /* target account:ID, or 0 */
    char ad_msisdn[CDR_NUMBER_MAX]; /* target msisdn:N, or "" */
    uint8_t ad_class;               /* CDR_CLASS_ONE_OFF or CDR_CLASS_ADJUSTMENT */
    cdr_money ad_amount;            /* whole cents, may be negative */
    char ad_currency[4];            /* must be the invoice's */
    char ad_text[128];              /* description, may be empty */
    uint32_t ad_line;               /* in the file, for errors */
} cdr_adjustment;

typedef struct cdr_adjustments {
    char aj_path[4096];
    cdr_adjustment *aj_items;
    size_t aj_n;
} cdr_adjustments;

/* Read an adjustments file. Errors name file:line:column: CDR_EIO, CDR_FORMAT (a wrong header,
 * a wrong number of fields, an empty or duplicate id, a target that is neither msisdn:DIGITS nor
 * account:ID, a class other than one_off or adjustment, an amount that is not a decimal with at
 * most two decimals or is 0, a currency that is not three capital letters), CDR_ENOMEM.
 * Free with cdr_adjustments_free (accepts NULL). */
int cdr_adjustments_load(const char *path, cdr_adjustments **out, cdr_diag *dg);
void cdr_adjustments_free(cdr_adjustments *aj);

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct cdr_bill_config {
    uint32_t bc_cycle;               /* YYYYMM */
    const char *bc_ledger;           /* the ledger folder */
    const char *bc_out;              /* the output folder; the cycle is published in OUT/YYYY-MM */
    cdr_tax_table bc_tax;            /* cdr_tax_defaults or cdr_tax_load */
    const cdr_progress *bc_progress; /* records read of the cycle's total; may be NULL */
    const cdr_adjustments *bc_adjustments; /* may be NULL */
    unsigned bc_threads; /* threads reading the ledger; 0 = one per core, at most 8 (the output
                            is the same whatever their number) */
} cdr_bill_config;

#define CDR_BILL_MAX_CURRENCIES 16

typedef struct cdr_bill_money {
    char bm_currency[4];
    uint64_t bm_invoices;
    uint64_t bm_records;
    cdr_money bm_amount; /* invoice amounts before tax */
    cdr_money bm_tax;
    cdr_money bm_total;       /* amount + tax */
    cdr_money bm_usage;       /* rated charges billed, micro-units as rated */
    cdr_money bm_fees;        /* prorated monthly fees */
    cdr_money bm_discount;    /* enterprise discounts (<= 0) */
    cdr_money bm_rounding;    /* cents rounding of the usage lines: billed - rated */
    cdr_money bm_adjustments; /* one-off charges and credits of the adjustments file */
    cdr_money bm_enterprise_share;
    cdr_money bm_member_share;
} cdr_bill_money;

typedef struct cdr_bill_summary {
    uint32_t bs_cycle;
    uint64_t bs_records;     /* records of the cycle in the ledger */
    uint64_t bs_unbilled;    /* of them, records of lines not in the directory (in the report) */
    uint64_t bs_invoices;    /* over every currency */
    uint64_t bs_subscribers; /* lines billed (active in the cycle or with usage) */
    int bs_ncurrencies;
    cdr_bill_money bs_currency[CDR_BILL_MAX_CURRENCIES]; /* sorted by code */
    char bs_dir[4200];                                   /* where the cycle was published */
} cdr_bill_summary;

/* Bill cycle cfg->bc_cycle: the ledger's records of the cycle, the directory and plans of st.
 * Writes invoices.jsonl, invoices.csv, invoice_lines.csv, subscribers.jsonl and report.json
 * (docs/billing.md) into a private temporary folder beside OUT/YYYY-MM and then puts it in place
 * with one rename (an earlier output of the cycle is replaced the same way). Nothing is published
 * on error. One run of a cycle at a time (the lock file OUT/.YYYY-MM.lock; CDR_EXISTS when another
 * holds it); a run removes the temporary folders that killed runs of its cycle left. Errors:
 * CDR_NOTFOUND (no directory, no records and no active line in the cycle),
 * CDR_FORMAT (an account charged in two currencies or in another than its own; a damaged ledger
 * segment, naming the file), CDR_EIO (with the path), CDR_EINVAL, CDR_ENOMEM. */
int cdr_bill_run(cdr_store *st, const cdr_bill_config *cfg, cdr_bill_summary *sum, cdr_diag *dg);

/* ---- proration (docs/billing.md "What is computed", step 2) ---------------------------------- */

/* The code the bill run prorates monthly fees with, for other components that must compute the
 * same figures (the statements' cheaper-plan hint). Pure; no allocation. */

/* The time zone the bill run counts the days of a line on a plan of family `family` in: that of
 * the family's last version. NULL when family is not an index of ps. Valid as long as ps. */
const cdr_tz *cdr_bill_family_tz(const cdr_plan_set *ps, int family);

/* The days of cycle (YYYYMM) on which line sb was active at some moment, counted in tz (a day
 * counts when sb_active_from < its end and sb_active_to > its start). *cycle_days gets the days of
 * the month, *last the line's last active instant in the cycle (UTC; the fee's plan version is the
 * one in effect then), 0 when it was active on no day. A cycle whose month is not 1..12 gives 0
 * days and *cycle_days 0. */
unsigned cdr_bill_active_days(const cdr_tz *tz, uint32_t cycle, const cdr_dir_subscriber *sb,
                              unsigned *cycle_days, cdr_time *last);

/* The prorated fee: fee x days / cycle_days rounded half-up to the cent (micro-units, a whole
 * number of cents) into *out. CDR_RANGE when cycle_days is 0, days > cycle_days or the result
 * does not fit. */
int cdr_bill_prorate(cdr_money fee, unsigned days, unsigned cycle_days, cdr_money *out);

/* Test hook CDR_BILL_HOLD_MS=MS: once the output is written, and before it is published, print
 * "cdrate bill: test hook: holding the written output" on stderr and wait MS ms (so that a test
 * can kill the run there). */
#define CDR_BILL_HOLD_ENV "CDR_BILL_HOLD_MS"

#endif
