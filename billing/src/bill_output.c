/* bill_output.c - a published bill run read back: invoices.csv and invoice_lines.csv
 * (cdr_bill_output.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bill_int.h"
#include "cdr_bill_output.h"
#include "cdr_mem.h"

#define INV_HEADER                                                                                 \
    "invoice,account,kind,customer,customer_name,cycle,currency,issued,due,amount,tax,total,"      \
    "credit_class"
#define LINE_HEADER                                                                                \
    "invoice,account,subscriber,msisdn,class,share,amount,tax_rate,tax,total,currency"

static int parse_id(const char *s, int allow_empty, uint64_t *out)
{
    *out = 0;
    if (!*s)
        return allow_empty ? 0 : -1;
    const size_t n = strlen(s);
    if (n > 19)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    *out = strtoull(s, NULL, 10);
    return *out || allow_empty ? 0 : -1;
}

static int copy_text(char *dst, size_t n, const char *s)
{
    const size_t l = strlen(s);
    if (l >= n)
        return -1;
    memcpy(dst, s, l + 1);
    return 0;
}

static int is_currency(const char *s)
{
    return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           s[2] >= 'A' && s[2] <= 'Z';
}

/* A two-decimal amount as the bill run writes it. */
static int parse_cents(const char *s, cdr_money *out)
{
    return cdr_money_parse(s, out) == 0 && *out % 10000 == 0 ? 0 : -1;
}

static int bad(cdr_diag *dg, const char *path, int ln, int col, const char *what)
{
    return cdr_diag_set(dg, CDR_FORMAT, path, ln, col, "%s", what);
}

/* One file of the published cycle: a missing one means the cycle is not billed. */
static FILE *open_output(const cdr_bill_output *bo, const char *path, cdr_diag *dg)
{
    FILE *fp = fopen(path, "r");
    if (!fp && errno == ENOENT)
        cdr_diag_set(dg, CDR_NOTBILLED, NULL, 0, 0, "cycle %04u-%02u is not billed: no %s",
                     bo->bo_cycle / 100, bo->bo_cycle % 100, path);
    else if (!fp)
        cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    return fp;
}

/* Split a row into exactly n fields (f[], col[] of n + 1), or CDR_FORMAT naming the column. */
static int split_row(char *rec, char **f, int *col, int n, const char *path, int ln, cdr_diag *dg)
{
    int badc = 0;
    const int nf = bill_csv_split(rec, f, col, n, &badc);
    if (nf < 0)
        return bad(dg, path, ln, badc, "a malformed quoted field");
    if (nf != n)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[nf > n ? n : 0], "not %d fields", n);
    return 0;
}

static int read_invoices(const char *path, cdr_bo_keep_fn keep, void *ctx, cdr_bill_output *bo,
                         cdr_diag *dg)
{
    FILE *fp = open_output(bo, path, dg);
    if (!fp)
        return dg->dg_code;
    char buf[2048], *rec, *f[14];
    int col[15], ln = 0, have = 0, rc = 0;
    size_t cap = 0;
    while (!(rc = bill_csv_next(fp, path, INV_HEADER, buf, sizeof buf, &ln, &have, &rec, dg)) &&
           rec) {
        if ((rc = split_row(rec, f, col, 13, path, ln, dg)) != 0)
            break;
        cdr_bo_invoice iv;
        memset(&iv, 0, sizeof iv);
        if (copy_text(iv.bi_invoice, sizeof iv.bi_invoice, f[0]) || !f[0][0]) {
            rc = bad(dg, path, ln, col[0], "invoice: not a number of 1 to 31 bytes");
            break;
        }
        if (parse_id(f[1], 0, &iv.bi_account)) {
            rc = bad(dg, path, ln, col[1], "account: not an account id");
            break;
        }
        if (keep && !keep(iv.bi_account, 0, ctx))
            continue;
        if (copy_text(iv.bi_kind, sizeof iv.bi_kind, f[2]) ||
            (strcmp(f[2], "enterprise") && strcmp(f[2], "member") && strcmp(f[2], "individual"))) {
            rc = bad(dg, path, ln, col[2], "kind: not enterprise, member or individual");
            break;
        }
        if (parse_id(f[3], 1, &iv.bi_customer) ||
            copy_text(iv.bi_customer_name, sizeof iv.bi_customer_name, f[4])) {
            rc = bad(dg, path, ln, col[3], "customer: not an id and a name");
            break;
        }
        if (!is_currency(f[6])) {
            rc = bad(dg, path, ln, col[6], "currency: not an ISO 4217 code");
            break;
        }
        memcpy(iv.bi_currency, f[6], 4);
        if (strlen(f[7]) != 10 || strlen(f[8]) != 10) {
            rc = bad(dg, path, ln, col[7], "issued, due: not dates YYYY-MM-DD");
            break;
        }
        memcpy(iv.bi_issued, f[7], 11);
        memcpy(iv.bi_due, f[8], 11);
        if (parse_cents(f[9], &iv.bi_amount) || parse_cents(f[10], &iv.bi_tax) ||
            parse_cents(f[11], &iv.bi_total) || iv.bi_amount + iv.bi_tax != iv.bi_total) {
            rc = bad(dg, path, ln, col[9],
                     "amount, tax, total: not amounts with amount + tax = total");
            break;
        }
        if (copy_text(iv.bi_credit_class, sizeof iv.bi_credit_class, f[12])) {
            rc = bad(dg, path, ln, col[12], "credit_class: too long");
            break;
        }
        if (cdr_grow(&bo->bo_invoices, &cap, bo->bo_ninvoices + 1, sizeof *bo->bo_invoices, 256)) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        bo->bo_invoices[bo->bo_ninvoices++] = iv;
    }
    fclose(fp);
    return rc;
}

static int read_lines(const char *path, cdr_bo_keep_fn keep, void *ctx, cdr_bill_output *bo,
                      cdr_diag *dg)
{
    FILE *fp = open_output(bo, path, dg);
    if (!fp)
        return dg->dg_code;
    char buf[1024], *rec, *f[12];
    int col[13], ln = 0, have = 0, rc = 0;
    size_t cap = 0;
    while (!(rc = bill_csv_next(fp, path, LINE_HEADER, buf, sizeof buf, &ln, &have, &rec, dg)) &&
           rec) {
        if ((rc = split_row(rec, f, col, 11, path, ln, dg)) != 0)
            break;
        cdr_bo_line bl;
        memset(&bl, 0, sizeof bl);
        if (parse_id(f[1], 0, &bl.bl_account)) {
            rc = bad(dg, path, ln, col[1], "account: not an account id");
            break;
        }
        if (parse_id(f[2], 1, &bl.bl_subscriber)) {
            rc = bad(dg, path, ln, col[2], "subscriber: not a subscriber id or empty");
            break;
        }
        if (keep && !keep(bl.bl_account, bl.bl_subscriber, ctx))
            continue;
        const int cls = cdr_charge_class_parse(f[4]);
        if (cls < 0) {
            rc = bad(dg, path, ln, col[4], "class: not a charge class");
            break;
        }
        bl.bl_class = (uint8_t)cls;
        if (!strcmp(f[5], "enterprise"))
            bl.bl_enterprise = 1;
        else if (strcmp(f[5], "own")) {
            rc = bad(dg, path, ln, col[5], "share: not own or enterprise");
            break;
        }
        if (parse_cents(f[6], &bl.bl_amount) || parse_cents(f[8], &bl.bl_tax) ||
            parse_cents(f[9], &bl.bl_total) || bl.bl_amount + bl.bl_tax != bl.bl_total) {
            rc = bad(dg, path, ln, col[6],
                     "amount, tax, total: not amounts with amount + tax = total");
            break;
        }
        if (!is_currency(f[10])) {
            rc = bad(dg, path, ln, col[10], "currency: not an ISO 4217 code");
            break;
        }
        memcpy(bl.bl_currency, f[10], 4);
        if (cdr_grow(&bo->bo_lines, &cap, bo->bo_nlines + 1, sizeof *bo->bo_lines, 1024)) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        bo->bo_lines[bo->bo_nlines++] = bl;
    }
    fclose(fp);
    return rc;
}

int cdr_bill_output_read(const char *bills, uint32_t cycle, cdr_bo_keep_fn keep_invoice,
                         cdr_bo_keep_fn keep_line, void *ctx, cdr_bill_output **out, cdr_diag *dg)
{
    *out = NULL;
    cdr_bill_output *bo = calloc(1, sizeof *bo);
    if (!bo)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    bo->bo_cycle = cycle;
    snprintf(bo->bo_dir, sizeof bo->bo_dir, "%s/%04u-%02u", bills, cycle / 100, cycle % 100);
    struct stat sb;
    int rc = 0;
    if (stat(bills, &sb) != 0 || !S_ISDIR(sb.st_mode))
        rc = cdr_diag_set(dg, errno == ENOENT || !errno ? CDR_NOTBILLED : CDR_EIO, NULL, 0, 0,
                          "cycle %04u-%02u is not billed: %s is not a bills folder", cycle / 100,
                          cycle % 100, bills);
    char path[4300];
    if (!rc) {
        snprintf(path, sizeof path, "%s/invoices.csv", bo->bo_dir);
        rc = read_invoices(path, keep_invoice, ctx, bo, dg);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/invoice_lines.csv", bo->bo_dir);
        rc = read_lines(path, keep_line, ctx, bo, dg);
    }
    if (rc) {
        cdr_bill_output_free(bo);
        return rc;
    }
    *out = bo;
    return 0;
}

void cdr_bill_output_free(cdr_bill_output *bo)
{
    if (!bo)
        return;
    free(bo->bo_invoices);
    free(bo->bo_lines);
    free(bo);
}

const cdr_bo_invoice *cdr_bill_output_invoice(const cdr_bill_output *bo, uint64_t account)
{
    size_t lo = 0, hi = bo->bo_ninvoices;
    while (lo < hi) { /* invoices.csv is in account id order */
        const size_t mid = lo + (hi - lo) / 2;
        if (bo->bo_invoices[mid].bi_account < account)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < bo->bo_ninvoices && bo->bo_invoices[lo].bi_account == account ? &bo->bo_invoices[lo]
                                                                              : NULL;
}
