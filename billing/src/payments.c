/* payments.c - payments files, their store and the arrears status (cdr_payments.h,
 * docs/billing.md "Payments and arrears").
 *
 * Three parts: the payments CSV (checked as a whole before anything is stored), the payments
 * database of the store (idempotent by id, one write transaction per file), and the status:
 * invoices.jsonl of every published cycle plus the stored payments, applied oldest first and
 * recomputed from scratch on every call.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bill_int.h"
#include "cdr_mem.h"
#include "cdr_payments.h"
#include "cdr_time.h"

#define PAY_FIELDS 7
#define PAY_LINE   4096

static const char *const method_names[CDR_PAY_METHOD_COUNT] = {"bank", "counter", "card", "other"};
static const char *const bucket_names[CDR_AGE_COUNT] = {"current", "0-30", "31-60", "61-90", "90+"};

const char *cdr_pay_method_name(int method)
{
    return method >= 0 && method < CDR_PAY_METHOD_COUNT ? method_names[method] : NULL;
}

const char *cdr_pay_bucket_name(int bucket)
{
    return bucket >= 0 && bucket < CDR_AGE_COUNT ? bucket_names[bucket] : NULL;
}

cdr_pay_bucket cdr_pay_bucket_of(int64_t days_past_due)
{
    if (days_past_due < 0)
        return CDR_AGE_CURRENT;
    if (days_past_due <= 30)
        return CDR_AGE_0_30;
    if (days_past_due <= 60)
        return CDR_AGE_31_60;
    if (days_past_due <= 90)
        return CDR_AGE_61_90;
    return CDR_AGE_OVER_90;
}

int cdr_pay_date_parse(const char *s, int64_t *days)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return CDR_PARSE;
    unsigned v[3] = {0, 0, 0};
    static const int from[3] = {0, 5, 8}, len[3] = {4, 2, 2};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < len[k]; i++) {
            const char c = s[from[k] + i];
            if (c < '0' || c > '9')
                return CDR_PARSE;
            v[k] = v[k] * 10 + (unsigned)(c - '0');
        }
    if (v[0] < 1900 || !cdr_date_valid(v[0], v[1], v[2]))
        return CDR_PARSE;
    *days = cdr_days_from_civil(v[0], v[1], v[2]);
    return 0;
}

const char *cdr_pay_date_format(int64_t days, char *buf, size_t n)
{
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04lld-%02u-%02u", (long long)y, m, d);
    return buf;
}

static int money_add(cdr_money *acc, cdr_money v, int *overflow)
{
    if (__builtin_add_overflow(*acc, v, acc))
        *overflow = 1;
    return *overflow;
}

/* ---- the payments file ----------------------------------------------------------------------- */

static int id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == '/';
}

/* A positive amount with at most two decimals, at most CDR_PAY_AMOUNT_MAX. */
static int parse_amount(const char *path, int ln, int col, const char *s, cdr_money *out,
                        cdr_diag *dg)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    const size_t whole = (size_t)(p - s);
    size_t frac = 0;
    if (*p == '.')
        for (p++; p[frac] >= '0' && p[frac] <= '9';)
            frac++;
    if (!whole || p[frac] != '\0' || (s[whole] == '.' && (frac == 0 || frac > 2)))
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col,
                            "amount '%s' is not a decimal with at most two decimals (12.50)", s);
    cdr_money m;
    if (whole > 12 || cdr_money_parse(s, &m) != 0 || m > CDR_PAY_AMOUNT_MAX)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col, "amount %s is over 999999999.99", s);
    if (m == 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col,
                            "amount %s: a payment must be more than 0", s);
    *out = m;
    return 0;
}

static int parse_line(const char *path, int ln, char *line, cdr_payment *pm, cdr_diag *dg)
{
    char *f[PAY_FIELDS + 1];
    int col[PAY_FIELDS + 1], bad = 0;
    const int end = (int)strlen(line) + 1; /* the column after the line */
    const int n = bill_csv_split(line, f, col, PAY_FIELDS, &bad);
    if (n < 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, bad,
                            "a quoted field is not closed, or text follows its closing quote");
    if (n > PAY_FIELDS)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[PAY_FIELDS],
                            "more than %d fields (" CDR_PAY_HEADER "): quote a reference that "
                            "holds a comma",
                            PAY_FIELDS);
    if (n < PAY_FIELDS)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, end,
                            "%d field(s), expected %d: " CDR_PAY_HEADER, n, PAY_FIELDS);
    memset(pm, 0, sizeof *pm);
    pm->pm_line = (uint32_t)ln;
    const size_t idlen = strlen(f[0]);
    int idok = idlen > 0 && idlen <= CDR_PAY_ID_MAX;
    for (size_t i = 0; idok && i < idlen; i++)
        idok = id_char(f[0][i]);
    if (!idok)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[0],
                            "id '%s': 1 to %d letters, digits or . _ - : /", f[0], CDR_PAY_ID_MAX);
    memcpy(pm->pm_id, f[0], idlen + 1);
    const size_t alen = strlen(f[1]);
    int aok = alen > 0 && alen <= 19;
    for (size_t i = 0; aok && i < alen; i++)
        aok = f[1][i] >= '0' && f[1][i] <= '9';
    if (aok)
        pm->pm_account = strtoull(f[1], NULL, 10);
    if (!aok || pm->pm_account == 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[1],
                            "account '%s' is not an account id (a whole number from 1)", f[1]);
    int rc = parse_amount(path, ln, col[2], f[2], &pm->pm_amount, dg);
    if (rc)
        return rc;
    if (strlen(f[3]) != 3 || f[3][0] < 'A' || f[3][0] > 'Z' || f[3][1] < 'A' || f[3][1] > 'Z' ||
        f[3][2] < 'A' || f[3][2] > 'Z')
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[3],
                            "currency '%s' is not an ISO 4217 code (three capital letters)", f[3]);
    memcpy(pm->pm_currency, f[3], 4);
    if (cdr_pay_date_parse(f[4], &pm->pm_date) != 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[4],
                            "date '%s' is not a real date YYYY-MM-DD", f[4]);
    int method = -1;
    for (int k = 0; k < CDR_PAY_METHOD_COUNT; k++)
        if (!strcmp(f[5], method_names[k]))
            method = k;
    if (method < 0)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[5],
                            "method '%s': write bank, counter, card or other", f[5]);
    pm->pm_method = (uint8_t)method;
    const size_t rlen = strlen(f[6]);
    if (rlen > CDR_PAY_REF_MAX)
        return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[6], "reference longer than %d bytes",
                            CDR_PAY_REF_MAX);
    for (size_t i = 0; i < rlen; i++)
        if ((unsigned char)f[6][i] < 0x20 || f[6][i] == 0x7F)
            return cdr_diag_set(dg, CDR_FORMAT, path, ln, col[6],
                                "reference holds a control character (byte %zu)", i + 1);
    memcpy(pm->pm_reference, f[6], rlen + 1);
    return 0;
}

void cdr_pay_file_free(cdr_pay_file *pf)
{
    if (!pf)
        return;
    free(pf->pf_items);
    free(pf);
}

/* Payments by id, then by their place in the file (pointers into one array). */
static int cmp_id_ptr(const void *a, const void *b)
{
    const cdr_payment *x = *(const cdr_payment *const *)a, *y = *(const cdr_payment *const *)b;
    const int c = strcmp(x->pm_id, y->pm_id);
    return c ? c : (x > y) - (x < y);
}

/* Refuse an id used twice in pf, naming the first line (in file order) that repeats an id and
 * the line where that id was first used. */
static int check_unique_ids(const cdr_pay_file *pf, cdr_diag *dg)
{
    if (pf->pf_n < 2)
        return 0;
    const cdr_payment **ix = malloc(pf->pf_n * sizeof *ix);
    if (!ix)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < pf->pf_n; i++)
        ix[i] = &pf->pf_items[i];
    qsort(ix, pf->pf_n, sizeof *ix, cmp_id_ptr);
    const cdr_payment *again = NULL, *first = NULL;
    size_t run = 0; /* start of the run of equal ids */
    for (size_t i = 1; i < pf->pf_n; i++) {
        if (strcmp(ix[i]->pm_id, ix[run]->pm_id)) {
            run = i;
            continue;
        }
        if (!again || ix[i] < again) {
            again = ix[i];
            first = ix[run];
        }
    }
    free(ix);
    if (!again)
        return 0;
    return cdr_diag_set(dg, CDR_FORMAT, pf->pf_path, (int)again->pm_line, 1,
                        "payment id '%s' is used twice (first on line %u)", again->pm_id,
                        first->pm_line);
}

int cdr_pay_parse_file(const char *path, cdr_pay_file **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    cdr_pay_file *pf = calloc(1, sizeof *pf);
    size_t cap = 0;
    int rc = pf ? 0 : cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (pf)
        snprintf(pf->pf_path, sizeof pf->pf_path, "%s", path);
    char line[PAY_LINE], *rec;
    int ln = 0, header = 0;
    while (!rc &&
           !(rc = bill_csv_next(fp, path, CDR_PAY_HEADER, line, sizeof line, &ln, &header, &rec,
                                dg)) &&
           rec) {
        if (cdr_grow(&pf->pf_items, &cap, pf->pf_n + 1, sizeof *pf->pf_items, 64) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        if ((rc = parse_line(path, ln, rec, &pf->pf_items[pf->pf_n], dg)) == 0)
            pf->pf_n++;
    }
    fclose(fp);
    if (!rc)
        rc = check_unique_ids(pf, dg);
    if (rc) {
        cdr_pay_file_free(pf);
        return rc;
    }
    *out = pf;
    return 0;
}

/* ---- the store ------------------------------------------------------------------------------- */

/* A stored payment (CDR_PAY_LAYOUT 1), big-endian:
 * u8 layout, u8 method, 3 bytes currency, be64 account, be64 amount, be64 date (day number),
 * be16 + bytes reference, be16 + bytes file, be32 line. */
#define PAY_VAL_MAX (2 + 3 + 8 + 8 + 8 + 2 + CDR_PAY_REF_MAX + 2 + 255 + 4)

static size_t put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return (size_t)bytes;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* pm as stored, file being the file it is loaded from; returns the size written into buf. */
static size_t encode(const cdr_payment *pm, const char *file, uint8_t *buf)
{
    size_t o = 0;
    buf[o++] = CDR_PAY_LAYOUT;
    buf[o++] = pm->pm_method;
    memcpy(buf + o, pm->pm_currency, 3);
    o += 3;
    o += put_be(buf + o, pm->pm_account, 8);
    o += put_be(buf + o, (uint64_t)pm->pm_amount, 8);
    o += put_be(buf + o, (uint64_t)pm->pm_date, 8);
    const size_t rl = strlen(pm->pm_reference), fl = strnlen(file, 255);
    o += put_be(buf + o, rl, 2);
    memcpy(buf + o, pm->pm_reference, rl);
    o += rl;
    o += put_be(buf + o, fl, 2);
    memcpy(buf + o, file, fl);
    o += fl;
    o += put_be(buf + o, pm->pm_line, 4);
    return o;
}

/* A stored payment into pm, and the name of the file it was loaded from into file (256 bytes;
 * may be NULL). */
static int decode(const MDB_val *k, const MDB_val *v, cdr_payment *pm, char *file, cdr_diag *dg)
{
    const uint8_t *p = v->mv_data;
    const size_t n = v->mv_size;
    memset(pm, 0, sizeof *pm);
    if (k->mv_size == 0 || k->mv_size > CDR_PAY_ID_MAX)
        return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "a stored payment id of %zu bytes",
                            k->mv_size);
    memcpy(pm->pm_id, k->mv_data, k->mv_size);
    if (n < 1 || p[0] != CDR_PAY_LAYOUT)
        return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                            "stored payment '%s' has layout %d, this cdrate reads %d", pm->pm_id,
                            n ? p[0] : -1, CDR_PAY_LAYOUT);
    size_t o = 29;
    if (n < o + 2 || p[1] >= CDR_PAY_METHOD_COUNT)
        goto bad;
    pm->pm_method = p[1];
    memcpy(pm->pm_currency, p + 2, 3);
    pm->pm_account = get_be(p + 5, 8);
    pm->pm_amount = (cdr_money)get_be(p + 13, 8);
    pm->pm_date = (int64_t)get_be(p + 21, 8);
    size_t l = (size_t)get_be(p + o, 2);
    o += 2;
    if (l > CDR_PAY_REF_MAX || n < o + l + 2)
        goto bad;
    memcpy(pm->pm_reference, p + o, l);
    o += l;
    l = (size_t)get_be(p + o, 2);
    o += 2;
    if (l > 255 || n != o + l + 4)
        goto bad;
    if (file) {
        memcpy(file, p + o, l);
        file[l] = '\0';
    }
    o += l;
    pm->pm_line = (uint32_t)get_be(p + o, 4);
    return 0;
bad:
    return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "stored payment '%s' is damaged", pm->pm_id);
}

/* Append "; what" to buf (n bytes in all; what does not fit is cut off). */
static void diff_add(char *buf, size_t n, const char *what)
{
    size_t l = strlen(buf);
    const char *parts[2] = {l ? "; " : "", what};
    for (int k = 0; k < 2; k++)
        for (const char *p = parts[k]; *p && l + 1 < n; p++)
            buf[l++] = *p;
    buf[l] = '\0';
}

/* The fields of a (new) and b (stored) that differ, as text into buf; empty when the content
 * is the same. */
static void diff_payments(const cdr_payment *a, const cdr_payment *b, char *buf, size_t n)
{
    char t[CDR_PAY_REF_MAX * 2 + 64], x[40], y[40];
    buf[0] = '\0';
    if (a->pm_account != b->pm_account) {
        snprintf(t, sizeof t, "account %llu here, %llu stored", (unsigned long long)a->pm_account,
                 (unsigned long long)b->pm_account);
        diff_add(buf, n, t);
    }
    if (a->pm_amount != b->pm_amount) {
        snprintf(t, sizeof t, "amount %s here, %s stored",
                 cdr_money_format(a->pm_amount, 2, CDR_ROUND_HALF_UP, x, sizeof x),
                 cdr_money_format(b->pm_amount, 2, CDR_ROUND_HALF_UP, y, sizeof y));
        diff_add(buf, n, t);
    }
    if (strcmp(a->pm_currency, b->pm_currency)) {
        snprintf(t, sizeof t, "currency %s here, %s stored", a->pm_currency, b->pm_currency);
        diff_add(buf, n, t);
    }
    if (a->pm_date != b->pm_date) {
        snprintf(t, sizeof t, "date %s here, %s stored", cdr_pay_date_format(a->pm_date, x, 11),
                 cdr_pay_date_format(b->pm_date, y, 11));
        diff_add(buf, n, t);
    }
    if (a->pm_method != b->pm_method) {
        snprintf(t, sizeof t, "method %s here, %s stored", cdr_pay_method_name(a->pm_method),
                 cdr_pay_method_name(b->pm_method));
        diff_add(buf, n, t);
    }
    if (strcmp(a->pm_reference, b->pm_reference)) {
        snprintf(t, sizeof t, "reference \"%s\" here, \"%s\" stored", a->pm_reference,
                 b->pm_reference);
        diff_add(buf, n, t);
    }
}

int cdr_pay_store_put(cdr_store *st, const cdr_pay_file *pf, cdr_pay_load *res, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    cdr_pay_load pl = {0, 0};
    if (res)
        *res = pl;
    if (!st || !pf)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_pay_store_put: NULL argument");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, 0, &txn), "begin write", dg);
    if (rc)
        return rc;
    MDB_dbi dbi;
    rc = cdr_store_dbi(txn, CDR_DB_PAYMENTS, MDB_CREATE, &dbi, dg);
    uint8_t buf[PAY_VAL_MAX];
    for (size_t i = 0; !rc && i < pf->pf_n; i++) {
        const cdr_payment *pm = &pf->pf_items[i];
        MDB_val k = {strlen(pm->pm_id), (void *)pm->pm_id}, v;
        int g = mdb_get(txn, dbi, &k, &v);
        if (g == 0) {
            cdr_payment old;
            char from[256];
            if ((rc = decode(&k, &v, &old, from, dg)) != 0)
                break;
            char diff[400];
            diff_payments(pm, &old, diff, sizeof diff);
            if (!diff[0]) {
                pl.pl_duplicates++;
                continue;
            }
            rc = cdr_diag_set(dg, CDR_EXISTS, pf->pf_path, (int)pm->pm_line, 1,
                              "payment id '%s' is already stored with another content (loaded "
                              "from %s line %u): %s",
                              pm->pm_id, from, old.pm_line, diff);
            break;
        }
        if (g != MDB_NOTFOUND) {
            rc = cdr_store_err(g, "read payments", dg);
            break;
        }
        v.mv_size = encode(pm, pf->pf_path, buf);
        v.mv_data = buf;
        if ((rc = cdr_store_err(mdb_put(txn, dbi, &k, &v, 0), "write payments", dg)) != 0)
            break;
        pl.pl_loaded++;
    }
    if (!rc && pl.pl_loaded) {
        rc = cdr_store_err(mdb_txn_commit(txn), "commit payments", dg);
    } else {
        mdb_txn_abort(txn); /* an error, or nothing new: the store stays as it was */
    }
    if (!rc && res)
        *res = pl;
    return rc;
}

int cdr_pay_store_list(cdr_store *st, uint64_t account, cdr_pay_file **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    cdr_pay_file *pf = calloc(1, sizeof *pf);
    if (!pf)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), "begin read", dg);
    if (rc) {
        free(pf);
        return rc;
    }
    MDB_dbi dbi;
    rc = cdr_store_dbi(txn, CDR_DB_PAYMENTS, 0, &dbi, dg);
    if (rc == CDR_NOTFOUND) { /* no payment was ever loaded into this store */
        mdb_txn_abort(txn);
        cdr_diag_clear(dg);
        *out = pf;
        return 0;
    }
    MDB_cursor *cur = NULL;
    if (!rc)
        rc = cdr_store_err(mdb_cursor_open(txn, dbi, &cur), "open payments cursor", dg);
    size_t cap = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; !rc; op = MDB_NEXT) {
        const int g = mdb_cursor_get(cur, &k, &v, op);
        if (g == MDB_NOTFOUND)
            break;
        if ((rc = cdr_store_err(g, "read payments", dg)) != 0)
            break;
        cdr_payment pm;
        if ((rc = decode(&k, &v, &pm, NULL, dg)) != 0)
            break;
        if (account && pm.pm_account != account)
            continue;
        if (cdr_grow(&pf->pf_items, &cap, pf->pf_n + 1, sizeof *pf->pf_items, 64) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        pf->pf_items[pf->pf_n++] = pm;
    }
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc) {
        cdr_pay_file_free(pf);
        return rc;
    }
    *out = pf;
    return 0;
}

/* ---- invoices.jsonl -------------------------------------------------------------------------- */

/* The top-level members of an invoice object that the status reads. */
enum { F_INVOICE, F_ACCOUNT, F_CURRENCY, F_ISSUED, F_DUE, F_TOTAL, F_CLASS, F_COUNT };
static const char *const field_names[F_COUNT] = {"invoice", "account", "currency",    "issued",
                                                 "due",     "total",   "credit_class"};

typedef enum { JV_NONE = 0, JV_STRING, JV_NUMBER, JV_NULL, JV_OTHER } jv_kind;

typedef struct jfield {
    jv_kind jf_kind;
    int jf_col;  /* column of the value */
    int jf_long; /* the text did not fit in jf_text */
    char jf_text[64];
} jfield;

typedef struct jparse {
    const char *jp_s;
    size_t jp_i, jp_n;
    const char *jp_err; /* what was expected, at column jp_i + 1 */
} jparse;

static void jp_ws(jparse *jp)
{
    while (jp->jp_i < jp->jp_n && (jp->jp_s[jp->jp_i] == ' ' || jp->jp_s[jp->jp_i] == '\t' ||
                                   jp->jp_s[jp->jp_i] == '\r' || jp->jp_s[jp->jp_i] == '\n'))
        jp->jp_i++;
}

static int jp_fail(jparse *jp, const char *what)
{
    if (!jp->jp_err)
        jp->jp_err = what;
    return -1;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A string at jp_i (its opening quote), decoded into f->jf_text when f is not NULL. */
static int jp_string(jparse *jp, jfield *f)
{
    size_t w = 0;
    jp->jp_i++;
    for (;;) {
        if (jp->jp_i >= jp->jp_n)
            return jp_fail(jp, "a string is not closed");
        unsigned char c = (unsigned char)jp->jp_s[jp->jp_i];
        char enc[4];
        size_t ne = 1;
        if (c == '"') {
            jp->jp_i++;
            break;
        }
        if (c < 0x20)
            return jp_fail(jp, "a control character in a string");
        if (c == '\\') {
            if (jp->jp_i + 1 >= jp->jp_n)
                return jp_fail(jp, "a string is not closed");
            const char e = jp->jp_s[jp->jp_i + 1];
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *k = strchr(from, e);
            if (e && k) {
                enc[0] = to[k - from];
                jp->jp_i += 2;
            } else if (e == 'u') {
                unsigned u;
                if (jp->jp_i + 6 > jp->jp_n || hex4(jp->jp_s + jp->jp_i + 2, &u) != 0)
                    return jp_fail(jp, "a malformed \\u escape");
                jp->jp_i += 6;
                if (u >= 0xD800 && u <= 0xDBFF && jp->jp_i + 6 <= jp->jp_n &&
                    jp->jp_s[jp->jp_i] == '\\' && jp->jp_s[jp->jp_i + 1] == 'u') {
                    unsigned lo;
                    if (hex4(jp->jp_s + jp->jp_i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                        jp->jp_i += 6;
                    }
                }
                if (u >= 0xD800 && u <= 0xDFFF)
                    u = 0xFFFD;
                if (u < 0x80) {
                    enc[0] = (char)u;
                } else if (u < 0x800) {
                    enc[0] = (char)(0xC0 | u >> 6);
                    enc[1] = (char)(0x80 | (u & 0x3F));
                    ne = 2;
                } else if (u < 0x10000) {
                    enc[0] = (char)(0xE0 | u >> 12);
                    enc[1] = (char)(0x80 | ((u >> 6) & 0x3F));
                    enc[2] = (char)(0x80 | (u & 0x3F));
                    ne = 3;
                } else {
                    enc[0] = (char)(0xF0 | u >> 18);
                    enc[1] = (char)(0x80 | ((u >> 12) & 0x3F));
                    enc[2] = (char)(0x80 | ((u >> 6) & 0x3F));
                    enc[3] = (char)(0x80 | (u & 0x3F));
                    ne = 4;
                }
            } else {
                return jp_fail(jp, "an unknown escape in a string");
            }
        } else {
            enc[0] = (char)c;
            jp->jp_i++;
        }
        if (f) {
            if (w + ne < sizeof f->jf_text) {
                memcpy(f->jf_text + w, enc, ne);
                w += ne;
            } else {
                f->jf_long = 1;
            }
        }
    }
    if (f) {
        f->jf_text[w] = '\0';
        f->jf_kind = JV_STRING;
    }
    return 0;
}

/* A number (JSON grammar) at jp_i, its text into f when f is not NULL. */
static int jp_number(jparse *jp, jfield *f)
{
    const size_t from = jp->jp_i;
    const char *s = jp->jp_s;
    size_t i = from;
    if (i < jp->jp_n && s[i] == '-')
        i++;
    if (i >= jp->jp_n || s[i] < '0' || s[i] > '9')
        return jp_fail(jp, "a value (a string, a number, an object, an array, true, false or "
                           "null)");
    if (s[i] == '0')
        i++;
    else
        while (i < jp->jp_n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < jp->jp_n && s[i] == '.') {
        if (++i >= jp->jp_n || s[i] < '0' || s[i] > '9') {
            jp->jp_i = i;
            return jp_fail(jp, "digits after the decimal point");
        }
        while (i < jp->jp_n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < jp->jp_n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < jp->jp_n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= jp->jp_n || s[i] < '0' || s[i] > '9') {
            jp->jp_i = i;
            return jp_fail(jp, "digits in the exponent");
        }
        while (i < jp->jp_n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    jp->jp_i = i;
    if (f) {
        const size_t len = i - from;
        f->jf_long = len >= sizeof f->jf_text;
        const size_t cp = f->jf_long ? sizeof f->jf_text - 1 : len;
        memcpy(f->jf_text, s + from, cp);
        f->jf_text[cp] = '\0';
        f->jf_kind = JV_NUMBER;
    }
    return 0;
}

static int jp_word(jparse *jp, const char *word)
{
    const size_t n = strlen(word);
    if (jp->jp_n - jp->jp_i < n || memcmp(jp->jp_s + jp->jp_i, word, n))
        return jp_fail(jp, "a value (a string, a number, an object, an array, true, false or "
                           "null)");
    jp->jp_i += n;
    return 0;
}

/* Any value at jp_i (after white space); f (may be NULL) gets strings, numbers and null. */
static int jp_value(jparse *jp, jfield *f, int depth)
{
    jp_ws(jp);
    if (jp->jp_i >= jp->jp_n)
        return jp_fail(jp, "a value, not the end of the line");
    if (f)
        f->jf_col = (int)jp->jp_i + 1;
    const char c = jp->jp_s[jp->jp_i];
    if (c == '"')
        return jp_string(jp, f);
    if (c == '{' || c == '[') {
        if (depth >= 64)
            return jp_fail(jp, "at most 64 levels of nesting");
        if (f)
            f->jf_kind = JV_OTHER;
        const char close = c == '{' ? '}' : ']';
        jp->jp_i++;
        jp_ws(jp);
        if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == close) {
            jp->jp_i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                jp_ws(jp);
                if (jp->jp_i >= jp->jp_n || jp->jp_s[jp->jp_i] != '"')
                    return jp_fail(jp, "a member name (a string)");
                if (jp_string(jp, NULL) != 0)
                    return -1;
                jp_ws(jp);
                if (jp->jp_i >= jp->jp_n || jp->jp_s[jp->jp_i] != ':')
                    return jp_fail(jp, "':' after a member name");
                jp->jp_i++;
            }
            if (jp_value(jp, NULL, depth + 1) != 0)
                return -1;
            jp_ws(jp);
            if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == ',') {
                jp->jp_i++;
                continue;
            }
            if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == close) {
                jp->jp_i++;
                return 0;
            }
            return jp_fail(jp, c == '{' ? "',' or '}'" : "',' or ']'");
        }
    }
    if (c == 't' || c == 'f') {
        if (f)
            f->jf_kind = JV_OTHER;
        return jp_word(jp, c == 't' ? "true" : "false");
    }
    if (c == 'n') {
        if (f)
            f->jf_kind = JV_NULL;
        return jp_word(jp, "null");
    }
    return jp_number(jp, f);
}

/* One invoice line: the object's top-level members named in field_names into fs. */
static int jp_invoice(jparse *jp, jfield *fs)
{
    jp_ws(jp);
    if (jp->jp_i >= jp->jp_n || jp->jp_s[jp->jp_i] != '{')
        return jp_fail(jp, "an invoice object '{'");
    jp->jp_i++;
    jp_ws(jp);
    if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == '}') {
        jp->jp_i++;
    } else {
        for (;;) {
            jp_ws(jp);
            if (jp->jp_i >= jp->jp_n || jp->jp_s[jp->jp_i] != '"')
                return jp_fail(jp, "a member name (a string)");
            jfield name = {JV_NONE, 0, 0, ""};
            if (jp_string(jp, &name) != 0)
                return -1;
            jp_ws(jp);
            if (jp->jp_i >= jp->jp_n || jp->jp_s[jp->jp_i] != ':')
                return jp_fail(jp, "':' after a member name");
            jp->jp_i++;
            jfield *f = NULL;
            for (int k = 0; k < F_COUNT && !name.jf_long; k++)
                if (!strcmp(name.jf_text, field_names[k]))
                    f = &fs[k];
            if (f)
                memset(f, 0, sizeof *f);
            if (jp_value(jp, f, 1) != 0)
                return -1;
            jp_ws(jp);
            if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == ',') {
                jp->jp_i++;
                continue;
            }
            if (jp->jp_i < jp->jp_n && jp->jp_s[jp->jp_i] == '}') {
                jp->jp_i++;
                break;
            }
            return jp_fail(jp, "',' or '}'");
        }
    }
    jp_ws(jp);
    if (jp->jp_i < jp->jp_n)
        return jp_fail(jp, "the end of the line after the invoice object");
    return 0;
}

/* Parse and check one line of an invoices.jsonl into pi. */
static int parse_invoice(const char *file, int ln, const char *s, size_t n, cdr_pay_invoice *pi,
                         cdr_diag *dg)
{
    jfield fs[F_COUNT];
    memset(fs, 0, sizeof fs);
    jparse jp = {s, 0, n, NULL};
    if (jp_invoice(&jp, fs) != 0)
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, (int)jp.jp_i + 1,
                            "malformed JSON: expected %s", jp.jp_err);
    for (int k = 0; k < F_COUNT; k++)
        if (k != F_CLASS && fs[k].jf_kind == JV_NONE)
            return cdr_diag_set(dg, CDR_FORMAT, file, ln, 1, "the invoice has no \"%s\"",
                                field_names[k]);
    memset(pi, 0, sizeof *pi);
    pi->pi_line = (uint32_t)ln;
    const jfield *f = &fs[F_INVOICE];
    if (f->jf_kind != JV_STRING || f->jf_long || !f->jf_text[0] ||
        strlen(f->jf_text) > CDR_PAY_INV_MAX)
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                            "\"invoice\": not a string of 1 to %d bytes", CDR_PAY_INV_MAX);
    memcpy(pi->pi_invoice, f->jf_text, strlen(f->jf_text) + 1);
    f = &fs[F_ACCOUNT];
    const size_t al = strlen(f->jf_text);
    int aok = f->jf_kind == JV_NUMBER && al > 0 && al <= 19;
    for (size_t i = 0; aok && i < al; i++)
        aok = f->jf_text[i] >= '0' && f->jf_text[i] <= '9';
    if (aok)
        pi->pi_account = strtoull(f->jf_text, NULL, 10);
    if (!aok || !pi->pi_account)
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                            "\"account\": not an account id (a whole number from 1)");
    f = &fs[F_CURRENCY];
    if (f->jf_kind != JV_STRING || strlen(f->jf_text) != 3 || f->jf_text[0] < 'A' ||
        f->jf_text[0] > 'Z' || f->jf_text[1] < 'A' || f->jf_text[1] > 'Z' || f->jf_text[2] < 'A' ||
        f->jf_text[2] > 'Z')
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                            "\"currency\": not an ISO 4217 code (three capital letters)");
    memcpy(pi->pi_currency, f->jf_text, 4);
    for (int k = F_ISSUED; k <= F_DUE; k++) {
        f = &fs[k];
        if (f->jf_kind != JV_STRING ||
            cdr_pay_date_parse(f->jf_text, k == F_ISSUED ? &pi->pi_issued : &pi->pi_due) != 0)
            return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                                "\"%s\": not a real date \"YYYY-MM-DD\"", field_names[k]);
    }
    f = &fs[F_TOTAL];
    if ((f->jf_kind != JV_STRING && f->jf_kind != JV_NUMBER) || f->jf_long ||
        cdr_money_parse(f->jf_text, &pi->pi_total) != 0)
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                            "\"total\": not a decimal amount (\"109.00\")");
    f = &fs[F_CLASS];
    if (f->jf_kind == JV_STRING && !f->jf_long && strlen(f->jf_text) <= CDR_PAY_CLASS_MAX)
        memcpy(pi->pi_credit_class, f->jf_text, strlen(f->jf_text) + 1);
    else if (f->jf_kind != JV_NONE && f->jf_kind != JV_NULL)
        return cdr_diag_set(dg, CDR_FORMAT, file, ln, f->jf_col,
                            "\"credit_class\": not null or a string of at most %d bytes",
                            CDR_PAY_CLASS_MAX);
    return 0;
}

typedef struct invlist {
    cdr_pay_invoice *il_items;
    size_t il_n, il_cap;
} invlist;

/* Read one cycle's invoices.jsonl (cycle index ci), keeping account's invoices (0: all). */
static int read_cycle(const char *file, uint32_t ci, uint64_t account, invlist *il, cdr_diag *dg)
{
    FILE *fp = fopen(file, "r");
    if (!fp && errno == ENOENT)
        return cdr_diag_set(dg, CDR_FORMAT, file, 0, 0,
                            "missing: every published cycle holds invoices.jsonl");
    if (!fp)
        return cdr_diag_set(dg, CDR_EIO, file, 0, 0, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, rc = 0;
    while (!rc && (len = getline(&line, &cap, fp)) >= 0) {
        ln++;
        size_t n = (size_t)len;
        if (n && line[n - 1] == '\n')
            n--;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == n)
            continue; /* a blank line */
        if (memchr(line, '\0', n)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, file, ln, (int)strlen(line) + 1, "a NUL byte");
            break;
        }
        cdr_pay_invoice pi;
        if ((rc = parse_invoice(file, ln, line, n, &pi, dg)) != 0)
            break;
        if (account && pi.pi_account != account)
            continue;
        pi.pi_cycle = ci;
        if (cdr_grow(&il->il_items, &il->il_cap, il->il_n + 1, sizeof *il->il_items, 256) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        il->il_items[il->il_n++] = pi;
    }
    if (!rc && ferror(fp))
        rc = cdr_diag_set(dg, CDR_EIO, file, 0, 0, "read error");
    free(line);
    fclose(fp);
    return rc;
}

static int is_cycle_name(const char *s)
{
    if (strlen(s) != 7 || s[4] != '-')
        return 0;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return 0;
    const int m = (s[5] - '0') * 10 + (s[6] - '0');
    return m >= 1 && m <= 12;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* ---- the status ------------------------------------------------------------------------------ */

static int cmp_invoice(const void *a, const void *b)
{
    const cdr_pay_invoice *x = a, *y = b;
    if (x->pi_account != y->pi_account)
        return x->pi_account < y->pi_account ? -1 : 1;
    int c = strcmp(x->pi_currency, y->pi_currency);
    if (c)
        return c;
    if (x->pi_issued != y->pi_issued)
        return x->pi_issued < y->pi_issued ? -1 : 1;
    return strcmp(x->pi_invoice, y->pi_invoice);
}

static int cmp_payment(const void *a, const void *b)
{
    const cdr_payment *x = a, *y = b;
    if (x->pm_account != y->pm_account)
        return x->pm_account < y->pm_account ? -1 : 1;
    int c = strcmp(x->pm_currency, y->pm_currency);
    if (c)
        return c;
    if (x->pm_date != y->pm_date)
        return x->pm_date < y->pm_date ? -1 : 1;
    return strcmp(x->pm_id, y->pm_id);
}

/* Invoices by number, then by the order they were read in (pointers into one array). */
static int cmp_number_ptr(const void *a, const void *b)
{
    const cdr_pay_invoice *x = *(const cdr_pay_invoice *const *)a,
                          *y = *(const cdr_pay_invoice *const *)b;
    const int c = strcmp(x->pi_invoice, y->pi_invoice);
    return c ? c : (x > y) - (x < y);
}

/* Refuse an invoice number found twice (in two cycles, or twice in one file). Called while the
 * invoices are still in the order they were read. */
static int check_unique_invoices(const char *dir, const cdr_pay_status *ps, cdr_diag *dg)
{
    if (ps->ps_ninvoices < 2)
        return 0;
    const cdr_pay_invoice **ix = malloc(ps->ps_ninvoices * sizeof *ix);
    if (!ix)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < ps->ps_ninvoices; i++)
        ix[i] = &ps->ps_invoices[i];
    qsort(ix, ps->ps_ninvoices, sizeof *ix, cmp_number_ptr);
    int rc = 0;
    for (size_t i = 1; i < ps->ps_ninvoices && !rc; i++) {
        const cdr_pay_invoice *a = ix[i - 1], *b = ix[i];
        if (strcmp(a->pi_invoice, b->pi_invoice))
            continue;
        char f[4200];
        snprintf(f, sizeof f, "%s/%s/invoices.jsonl", dir, ps->ps_cycles[b->pi_cycle]);
        rc = cdr_diag_set(dg, CDR_FORMAT, f, (int)b->pi_line, 1,
                          "invoice %s is there twice (first in %s/invoices.jsonl line %u)",
                          b->pi_invoice, ps->ps_cycles[a->pi_cycle], a->pi_line);
    }
    free(ix);
    return rc;
}

static int read_bills(const char *dir, uint64_t account, cdr_pay_status *ps, cdr_diag *dg)
{
    DIR *d = opendir(dir);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot open the bills folder: %s",
                            strerror(errno));
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !is_cycle_name(de->d_name))
            continue; /* temporary folders of a bill run in progress, other files */
        char p[4200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        if (cdr_grow(&ps->ps_cycles, &cap, ps->ps_ncycles + 1, sizeof *ps->ps_cycles, 16) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        memcpy(ps->ps_cycles[ps->ps_ncycles++], de->d_name, 8);
    }
    closedir(d);
    if (rc)
        return rc;
    if (ps->ps_ncycles)
        qsort(ps->ps_cycles, ps->ps_ncycles, sizeof ps->ps_cycles[0], cmp_name);
    invlist il = {NULL, 0, 0};
    for (size_t c = 0; c < ps->ps_ncycles && !rc; c++) {
        char f[4200];
        snprintf(f, sizeof f, "%s/%s/invoices.jsonl", dir, ps->ps_cycles[c]);
        rc = read_cycle(f, (uint32_t)c, account, &il, dg);
    }
    ps->ps_invoices = il.il_items;
    ps->ps_ninvoices = il.il_n;
    return rc ? rc : check_unique_invoices(dir, ps, dg);
}

void cdr_pay_status_free(cdr_pay_status *ps)
{
    if (!ps)
        return;
    free(ps->ps_cycles);
    free(ps->ps_invoices);
    free(ps->ps_payments);
    free(ps->ps_applied);
    free(ps->ps_accounts);
    free(ps->ps_totals);
    free(ps);
}

/* Apply the payments and credit notes of one account and currency to its invoices and fill pa
 * (its ranges already set). */
static int settle(cdr_pay_status *ps, cdr_pay_account *pa)
{
    const int64_t as_of = ps->ps_as_of;
    int ovf = 0;
    cdr_money notes = 0; /* credit notes: negative invoice totals, as a positive amount */
    for (size_t i = pa->pa_inv_from; i < pa->pa_inv_to; i++) {
        cdr_pay_invoice *pi = &ps->ps_invoices[i];
        pi->pi_counted = pi->pi_issued <= as_of;
        if (!pi->pi_counted) {
            ps->ps_later_invoices++;
            continue;
        }
        pa->pa_invoices++;
        money_add(&pa->pa_invoiced, pi->pi_total, &ovf);
        if (pi->pi_total < 0)
            money_add(&notes, -pi->pi_total, &ovf);
        memcpy(pa->pa_credit_class, pi->pi_credit_class, sizeof pa->pa_credit_class);
    }
    for (size_t j = pa->pa_pay_from; j < pa->pa_pay_to; j++) {
        if (ps->ps_payments[j].pm_date > as_of) {
            ps->ps_later_payments++;
            continue;
        }
        pa->pa_payments++;
        money_add(&pa->pa_paid, ps->ps_payments[j].pm_amount, &ovf);
    }
    if (ovf)
        return -1;
    /* The sources of money, oldest first: payments (date, id) and credit notes (issued date,
     * number), a payment first on the same day. Each positive invoice, oldest first, takes
     * what it needs from them. */
    size_t p = pa->pa_pay_from, q = pa->pa_inv_from;
    cdr_money prem = 0, qrem = 0; /* what is left of source p, q (0: not yet taken) */
    int pon = 0, qon = 0;
    cdr_money applied = 0;
    for (size_t i = pa->pa_inv_from; i < pa->pa_inv_to; i++) {
        cdr_pay_invoice *pi = &ps->ps_invoices[i];
        if (!pi->pi_counted || pi->pi_total <= 0)
            continue;
        cdr_money need = pi->pi_total;
        while (need > 0) {
            while (!pon && p < pa->pa_pay_to) { /* the next counted payment */
                if (ps->ps_payments[p].pm_date <= as_of) {
                    prem = ps->ps_payments[p].pm_amount;
                    pon = 1;
                } else {
                    p++;
                }
            }
            while (!qon && q < pa->pa_inv_to) { /* the next counted credit note */
                const cdr_pay_invoice *n = &ps->ps_invoices[q];
                if (n->pi_counted && n->pi_total < 0) {
                    qrem = -n->pi_total;
                    qon = 1;
                } else {
                    q++;
                }
            }
            if (!pon && !qon)
                break;
            const int use_pay =
                pon && (!qon || ps->ps_payments[p].pm_date <= ps->ps_invoices[q].pi_issued);
            cdr_money *rem = use_pay ? &prem : &qrem;
            const cdr_money take = *rem < need ? *rem : need;
            *rem -= take;
            need -= take;
            applied += take;
            if (use_pay)
                ps->ps_applied[p] += take;
            if (*rem == 0) {
                if (use_pay) {
                    pon = 0;
                    p++;
                } else {
                    qon = 0;
                    q++;
                }
            }
        }
        pi->pi_paid = pi->pi_total - need;
        pi->pi_open = need;
        pi->pi_days_past_due = as_of - pi->pi_due;
        pi->pi_bucket = cdr_pay_bucket_of(pi->pi_days_past_due);
        if (!need)
            continue;
        money_add(&pa->pa_open, need, &ovf);
        money_add(&pa->pa_aging[pi->pi_bucket], need, &ovf);
        if (pi->pi_days_past_due >= 1) { /* the dunning rule: unpaid past the due date */
            money_add(&pa->pa_overdue, need, &ovf);
            if (!pa->pa_overdue_invoices++) {
                pa->pa_oldest_due = pi->pi_due;
                pa->pa_days_past_due = pi->pi_days_past_due;
            } else if (pi->pi_due < pa->pa_oldest_due) {
                pa->pa_oldest_due = pi->pi_due;
                pa->pa_days_past_due = pi->pi_days_past_due;
            }
        }
    }
    for (size_t i = pa->pa_inv_from; i < pa->pa_inv_to; i++) { /* credit notes: nothing open */
        cdr_pay_invoice *pi = &ps->ps_invoices[i];
        if (pi->pi_counted && pi->pi_total <= 0) {
            pi->pi_days_past_due = as_of - pi->pi_due;
            pi->pi_bucket = cdr_pay_bucket_of(pi->pi_days_past_due);
        }
    }
    /* credit = all money in (payments, credit notes) - what went to invoices */
    pa->pa_credit = pa->pa_paid;
    money_add(&pa->pa_credit, notes, &ovf);
    money_add(&pa->pa_credit, -applied, &ovf);
    pa->pa_balance = pa->pa_invoiced;
    money_add(&pa->pa_balance, -pa->pa_paid, &ovf);
    return ovf ? -1 : 0;
}

static int add_total(cdr_pay_status *ps, const cdr_pay_account *pa, size_t *cap)
{
    cdr_pay_total *pt = NULL;
    for (size_t i = 0; i < ps->ps_ntotals && !pt; i++)
        if (!strcmp(ps->ps_totals[i].pt_currency, pa->pa_currency))
            pt = &ps->ps_totals[i];
    if (!pt) {
        if (cdr_grow(&ps->ps_totals, cap, ps->ps_ntotals + 1, sizeof *ps->ps_totals, 4) != 0)
            return CDR_ENOMEM;
        pt = &ps->ps_totals[ps->ps_ntotals++];
        memset(pt, 0, sizeof *pt);
        memcpy(pt->pt_currency, pa->pa_currency, 4);
    }
    int ovf = 0;
    pt->pt_accounts++;
    pt->pt_dunning += pa->pa_overdue_invoices > 0;
    pt->pt_invoices += pa->pa_invoices;
    pt->pt_payments += pa->pa_payments;
    money_add(&pt->pt_invoiced, pa->pa_invoiced, &ovf);
    money_add(&pt->pt_paid, pa->pa_paid, &ovf);
    money_add(&pt->pt_balance, pa->pa_balance, &ovf);
    money_add(&pt->pt_credit, pa->pa_credit, &ovf);
    money_add(&pt->pt_open, pa->pa_open, &ovf);
    money_add(&pt->pt_overdue, pa->pa_overdue, &ovf);
    for (int b = 0; b < CDR_AGE_COUNT; b++)
        money_add(&pt->pt_aging[b], pa->pa_aging[b], &ovf);
    return ovf ? CDR_RANGE : 0;
}

static int cmp_total(const void *a, const void *b)
{
    return strcmp(((const cdr_pay_total *)a)->pt_currency, ((const cdr_pay_total *)b)->pt_currency);
}

/* -1, 0, 1: the (account, currency) of invoice i against payment j (either may be past the
 * end: it then sorts last). */
static int cmp_group(const cdr_pay_status *ps, size_t i, size_t j)
{
    if (i >= ps->ps_ninvoices)
        return 1;
    if (j >= ps->ps_npayments)
        return -1;
    const cdr_pay_invoice *pi = &ps->ps_invoices[i];
    const cdr_payment *pm = &ps->ps_payments[j];
    if (pi->pi_account != pm->pm_account)
        return pi->pi_account < pm->pm_account ? -1 : 1;
    const int c = strcmp(pi->pi_currency, pm->pm_currency);
    return (c > 0) - (c < 0);
}

int cdr_pay_status_run(cdr_store *st, const char *bills_dir, int64_t as_of, uint64_t account,
                       cdr_pay_status **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    if (!st || !bills_dir)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_pay_status_run: NULL argument");
    cdr_pay_status *ps = calloc(1, sizeof *ps);
    if (!ps)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    ps->ps_as_of = as_of;
    int rc = read_bills(bills_dir, account, ps, dg);
    cdr_pay_file *pf = NULL;
    if (!rc)
        rc = cdr_pay_store_list(st, account, &pf, dg);
    if (rc) {
        cdr_pay_status_free(ps);
        return rc;
    }
    ps->ps_payments = pf->pf_items; /* taken over */
    ps->ps_npayments = pf->pf_n;
    free(pf);
    if (ps->ps_ninvoices)
        qsort(ps->ps_invoices, ps->ps_ninvoices, sizeof *ps->ps_invoices, cmp_invoice);
    if (ps->ps_npayments)
        qsort(ps->ps_payments, ps->ps_npayments, sizeof *ps->ps_payments, cmp_payment);
    ps->ps_applied = calloc(ps->ps_npayments ? ps->ps_npayments : 1, sizeof *ps->ps_applied);
    /* one group per (account, currency) of an invoice or a payment */
    size_t ngroups = 0, cap = 0, tcap = 0;
    size_t i = 0, j = 0;
    while (!rc && (i < ps->ps_ninvoices || j < ps->ps_npayments)) {
        if (!ps->ps_applied) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        if (cdr_grow(&ps->ps_accounts, &cap, ngroups + 1, sizeof *ps->ps_accounts, 64) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        cdr_pay_account *pa = &ps->ps_accounts[ngroups++];
        memset(pa, 0, sizeof *pa);
        const int c = cmp_group(ps, i, j);
        if (c <= 0) {
            pa->pa_account = ps->ps_invoices[i].pi_account;
            memcpy(pa->pa_currency, ps->ps_invoices[i].pi_currency, 4);
        } else {
            pa->pa_account = ps->ps_payments[j].pm_account;
            memcpy(pa->pa_currency, ps->ps_payments[j].pm_currency, 4);
        }
        pa->pa_inv_from = i;
        while (i < ps->ps_ninvoices && ps->ps_invoices[i].pi_account == pa->pa_account &&
               !strcmp(ps->ps_invoices[i].pi_currency, pa->pa_currency))
            i++;
        pa->pa_inv_to = i;
        pa->pa_pay_from = j;
        while (j < ps->ps_npayments && ps->ps_payments[j].pm_account == pa->pa_account &&
               !strcmp(ps->ps_payments[j].pm_currency, pa->pa_currency))
            j++;
        pa->pa_pay_to = j;
        if (settle(ps, pa) != 0 || (rc = add_total(ps, pa, &tcap)) == CDR_RANGE)
            rc = cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0,
                              "the sums of account %llu in %s do not fit in 64 bits",
                              (unsigned long long)pa->pa_account, pa->pa_currency);
        else if (rc)
            rc = cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    }
    ps->ps_naccounts = ngroups;
    if (!rc && ps->ps_ntotals > 1)
        qsort(ps->ps_totals, ps->ps_ntotals, sizeof *ps->ps_totals, cmp_total);
    if (rc) {
        cdr_pay_status_free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}
