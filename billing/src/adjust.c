/* adjust.c - the adjustments file of the bill run (cdr_bill.h, docs/billing.md "Adjustments"):
 * one-off charges and credits per line or account, as CSV. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bill_int.h"
#include "cdr_mem.h"
#include "cdr_bill.h"

#define ADJ_HEADER "id,target,class,amount,currency,description"
#define ADJ_FIELDS 6
#define ADJ_LINE   4096

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

void cdr_adjustments_free(cdr_adjustments *aj)
{
    if (!aj)
        return;
    free(aj->aj_items);
    free(aj);
}

static int parse_line(const char *path, int ln, char *line, cdr_adjustment *ad, cdr_diag *dg)
{
    char *f[ADJ_FIELDS + 1];
    int col[ADJ_FIELDS + 1], bad = 0;
    int n = bill_csv_split(line, f, col, ADJ_FIELDS, &bad);
    if (n < 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, bad, "a quoted field is not closed");
    if (n > ADJ_FIELDS)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, 1,
                            "more than %d fields (" ADJ_HEADER "): quote a description that "
                            "holds a comma",
                            ADJ_FIELDS);
    if (n < ADJ_FIELDS)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, 1, "%d field(s), expected %d: " ADJ_HEADER, n,
                            ADJ_FIELDS);
    memset(ad, 0, sizeof *ad);
    ad->ad_line = (uint32_t)ln;
    if (!f[0][0] || strlen(f[0]) >= sizeof ad->ad_id)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[0], "id: empty or longer than %zu bytes",
                            sizeof ad->ad_id - 1);
    memcpy(ad->ad_id, f[0], strlen(f[0]) + 1);
    if (!strncmp(f[1], "msisdn:", 7) && all_digits(f[1] + 7) && strlen(f[1] + 7) <= 15) {
        memcpy(ad->ad_msisdn, f[1] + 7, strlen(f[1] + 7) + 1);
    } else if (!strncmp(f[1], "account:", 8) && all_digits(f[1] + 8) && strlen(f[1] + 8) <= 19) {
        ad->ad_account = strtoull(f[1] + 8, NULL, 10);
        if (!ad->ad_account)
            return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[1],
                                "target: account 0 does not exist");
    } else {
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[1],
                            "target '%s': write msisdn:DIGITS (a line) or account:ID", f[1]);
    }
    const int c = cdr_charge_class_parse(f[2]);
    if (c != CDR_CLASS_ONE_OFF && c != CDR_CLASS_ADJUSTMENT)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[2],
                            "class '%s': an adjustment is one_off or adjustment", f[2]);
    ad->ad_class = (uint8_t)c;
    cdr_money m;
    const char *dot = strchr(f[3], '.');
    if (cdr_money_parse(f[3], &m) != 0 || (dot && strlen(dot + 1) > 2))
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[3],
                            "amount '%s' is not a decimal with at most two decimals", f[3]);
    if (m == 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[3], "amount 0 adjusts nothing");
    ad->ad_amount = m;
    if (strlen(f[4]) != 3 || f[4][0] < 'A' || f[4][0] > 'Z' || f[4][1] < 'A' || f[4][1] > 'Z' ||
        f[4][2] < 'A' || f[4][2] > 'Z')
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[4],
                            "currency '%s' is not an ISO 4217 code (three capital letters)", f[4]);
    memcpy(ad->ad_currency, f[4], 4);
    if (strlen(f[5]) >= sizeof ad->ad_text)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[5], "description longer than %zu bytes",
                            sizeof ad->ad_text - 1);
    memcpy(ad->ad_text, f[5], strlen(f[5]) + 1);
    return 0;
}

int cdr_adjustments_load(const char *path, cdr_adjustments **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    cdr_adjustments *aj = calloc(1, sizeof *aj);
    size_t cap = 0;
    int rc = aj ? 0 : cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (aj)
        snprintf(aj->aj_path, sizeof aj->aj_path, "%s", path);
    char line[ADJ_LINE], *rec;
    int ln = 0, header = 0;
    while (!rc &&
           !(rc = bill_csv_next(fp, path, ADJ_HEADER, line, sizeof line, &ln, &header, &rec, dg)) &&
           rec) {
        if (cdr_grow(&aj->aj_items, &cap, aj->aj_n + 1, sizeof *aj->aj_items, 64) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        cdr_adjustment *ad = &aj->aj_items[aj->aj_n];
        if ((rc = parse_line(path, ln, rec, ad, dg)) != 0)
            break;
        for (size_t i = 0; i < aj->aj_n; i++) /* ids are unique: a file applied twice is caught */
            if (!strcmp(aj->aj_items[i].ad_id, ad->ad_id)) {
                rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, 1,
                                  "id '%s' is used twice (first on line %u)", ad->ad_id,
                                  aj->aj_items[i].ad_line);
                break;
            }
        if (!rc)
            aj->aj_n++;
    }
    fclose(fp);
    if (rc) {
        cdr_adjustments_free(aj);
        return rc;
    }
    *out = aj;
    return 0;
}
