/* overdue.c - the overdue set: the dunning list of a payments status recorded in the store for
 * credit control (cdr_payments.h, docs/billing.md "Recording the dunning list",
 * docs/credit-control.md "Overdue accounts").
 *
 * Database CDR_DB_OVERDUE. Key: be64 account + 3 bytes currency (so entries sort by account,
 * then currency); value (CDR_OVERDUE_LAYOUT 1): u8 layout, be64 amount, be32 invoices, be64
 * oldest due (day number), be64 since (day number), u8 length + bytes of the credit class. The
 * key of 8 zero bytes (account 0 is no account) holds the run: u8 layout, be64 as-of, be64
 * entries. A run replaces the whole database in one write transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "cdr_mem.h"
#include "cdr_bytes.h"
#include "cdr_payments.h"

#define OD_KEY     11
#define OD_VAL_MAX (1 + 8 + 4 + 8 + 8 + 1 + CDR_PAY_CLASS_MAX)
#define OD_META    (1 + 8 + 8)

static void od_key(uint8_t *kb, uint64_t account, const char *currency)
{
    cdr_put_be64(kb, account);
    memcpy(kb + 8, currency, 3);
}

static size_t od_encode(const cdr_pay_overdue *po, uint8_t *buf)
{
    size_t o = 0;
    buf[o++] = CDR_OVERDUE_LAYOUT;
    cdr_put_be64(buf + o, (uint64_t)po->po_amount);
    o += 8;
    cdr_put_be32(buf + o, po->po_invoices);
    o += 4;
    cdr_put_be64(buf + o, (uint64_t)po->po_oldest_due);
    o += 8;
    cdr_put_be64(buf + o, (uint64_t)po->po_since);
    o += 8;
    const size_t cl = strlen(po->po_credit_class);
    buf[o++] = (uint8_t)cl;
    memcpy(buf + o, po->po_credit_class, cl);
    return o + cl;
}

static int od_decode(const MDB_val *k, const MDB_val *v, cdr_pay_overdue *po, cdr_diag *dg)
{
    const uint8_t *kb = k->mv_data, *vb = v->mv_data;
    if (k->mv_size != OD_KEY || v->mv_size < OD_VAL_MAX - CDR_PAY_CLASS_MAX)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                            "corrupt entry in database " CDR_DB_OVERDUE);
    if (vb[0] != CDR_OVERDUE_LAYOUT)
        return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                            "database " CDR_DB_OVERDUE " has layout %u, this build reads %u: "
                            "record the dunning list again with cdrate payments dunning",
                            vb[0], CDR_OVERDUE_LAYOUT);
    memset(po, 0, sizeof *po);
    po->po_account = cdr_get_be64(kb);
    memcpy(po->po_currency, kb + 8, 3);
    size_t o = 1;
    po->po_amount = (cdr_money)cdr_get_be64(vb + o);
    o += 8;
    po->po_invoices = cdr_get_be32(vb + o);
    o += 4;
    po->po_oldest_due = (int64_t)cdr_get_be64(vb + o);
    o += 8;
    po->po_since = (int64_t)cdr_get_be64(vb + o);
    o += 8;
    const size_t cl = vb[o++];
    if (cl > CDR_PAY_CLASS_MAX || o + cl != v->mv_size)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                            "corrupt entry in database " CDR_DB_OVERDUE);
    memcpy(po->po_credit_class, vb + o, cl);
    return 0;
}

int cdr_pay_overdue_store(cdr_store *st, const cdr_pay_status *ps, cdr_pay_overdue_diff *res,
                          cdr_diag *dg)
{
    cdr_diag_clear(dg);
    cdr_pay_overdue_diff pd = {0, 0, 0, 0, 0};
    if (res)
        *res = pd;
    if (!st || !ps)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_pay_overdue_store: NULL argument");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, 0, &txn), "begin write", dg);
    if (rc)
        return rc;
    /* the previous set, for the counts (and to refuse a layout this build does not know) */
    cdr_pay_overdue_set *old = NULL;
    MDB_dbi dbi;
    if ((rc = cdr_pay_overdue_read(txn, &old, dg)) == 0 &&
        (rc = cdr_store_dbi(txn, CDR_DB_OVERDUE, MDB_CREATE, &dbi, dg)) == 0)
        rc = cdr_store_err(mdb_drop(txn, dbi, 0), "empty " CDR_DB_OVERDUE, dg);
    if (!rc && old->os_recorded) {
        pd.pd_prev_recorded = 1;
        pd.pd_prev_as_of = old->os_as_of;
    }
    size_t j = 0; /* walks the old set alongside: both by account, then currency */
    for (size_t a = 0; !rc && a < ps->ps_naccounts; a++) {
        const cdr_pay_account *pa = &ps->ps_accounts[a];
        if (!pa->pa_overdue_invoices)
            continue;
        cdr_pay_overdue po;
        memset(&po, 0, sizeof po);
        po.po_account = pa->pa_account;
        memcpy(po.po_currency, pa->pa_currency, sizeof po.po_currency);
        memcpy(po.po_credit_class, pa->pa_credit_class, sizeof po.po_credit_class);
        po.po_amount = pa->pa_overdue;
        po.po_invoices = pa->pa_overdue_invoices;
        po.po_oldest_due = pa->pa_oldest_due;
        po.po_since = pa->pa_oldest_due + 1; /* the dunning rule: one day past due */
        uint8_t kb[OD_KEY], vb[OD_VAL_MAX];
        od_key(kb, po.po_account, po.po_currency);
        MDB_val k = {sizeof kb, kb}, v = {od_encode(&po, vb), vb};
        rc = cdr_store_err(mdb_put(txn, dbi, &k, &v, 0), "write " CDR_DB_OVERDUE, dg);
        pd.pd_accounts++;
        int found = 0;
        for (; j < old->os_n; j++) {
            const cdr_pay_overdue *was = &old->os_items[j];
            const int c = was->po_account != po.po_account
                              ? (was->po_account < po.po_account ? -1 : 1)
                              : strcmp(was->po_currency, po.po_currency);
            if (c > 0)
                break;
            if (c == 0) {
                found = 1;
                j++;
                break;
            }
            pd.pd_dropped++;
        }
        pd.pd_added += !found;
    }
    if (!rc) {
        pd.pd_dropped += old->os_n - j;
        uint8_t kb[8] = {0}, vb[OD_META];
        vb[0] = CDR_OVERDUE_LAYOUT;
        cdr_put_be64(vb + 1, (uint64_t)ps->ps_as_of);
        cdr_put_be64(vb + 9, pd.pd_accounts);
        MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
        rc = cdr_store_err(mdb_put(txn, dbi, &k, &v, 0), "write " CDR_DB_OVERDUE, dg);
    }
    cdr_pay_overdue_free(old);
    if (!rc)
        rc = cdr_store_err(mdb_txn_commit(txn), "commit " CDR_DB_OVERDUE, dg);
    else
        mdb_txn_abort(txn);
    if (!rc && res)
        *res = pd;
    return rc;
}

int cdr_pay_overdue_read(MDB_txn *txn, cdr_pay_overdue_set **out, cdr_diag *dg)
{
    *out = NULL;
    cdr_pay_overdue_set *set = calloc(1, sizeof *set);
    if (!set)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_dbi dbi;
    int rc = cdr_store_dbi(txn, CDR_DB_OVERDUE, 0, &dbi, dg);
    if (rc == CDR_NOTFOUND) { /* no dunning run was ever recorded */
        cdr_diag_clear(dg);
        *out = set;
        return 0;
    }
    MDB_cursor *cur = NULL;
    if (!rc)
        rc = cdr_store_err(mdb_cursor_open(txn, dbi, &cur), "read " CDR_DB_OVERDUE, dg);
    size_t cap = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; !rc; op = MDB_NEXT) {
        const int g = mdb_cursor_get(cur, &k, &v, op);
        if (g == MDB_NOTFOUND)
            break;
        if ((rc = cdr_store_err(g, "read " CDR_DB_OVERDUE, dg)) != 0)
            break;
        if (k.mv_size == 8 && cdr_get_be64(k.mv_data) == 0) { /* the run */
            const uint8_t *vb = v.mv_data;
            if (v.mv_size != OD_META || vb[0] != CDR_OVERDUE_LAYOUT) {
                rc = cdr_diag_set(
                    dg, v.mv_size && vb[0] != CDR_OVERDUE_LAYOUT ? CDR_VERSION : CDR_FORMAT, NULL,
                    0, 0,
                    "database " CDR_DB_OVERDUE " was written by another build: "
                    "record the dunning list again with cdrate payments dunning");
                break;
            }
            set->os_recorded = 1;
            set->os_as_of = (int64_t)cdr_get_be64(vb + 1);
            continue;
        }
        if (cdr_grow(&set->os_items, &cap, set->os_n + 1, sizeof *set->os_items, 64) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        if ((rc = od_decode(&k, &v, &set->os_items[set->os_n], dg)) == 0)
            set->os_n++;
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc) {
        cdr_pay_overdue_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

int cdr_pay_overdue_list(cdr_store *st, cdr_pay_overdue_set **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    if (!st)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_pay_overdue_list: NULL argument");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), "begin read", dg);
    if (rc)
        return rc;
    rc = cdr_pay_overdue_read(txn, out, dg);
    mdb_txn_abort(txn);
    return rc;
}

int cdr_pay_overdue_account(cdr_store *st, uint64_t account, cdr_pay_overdue_set **out,
                            cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    if (!st)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_pay_overdue_account: NULL argument");
    cdr_pay_overdue_set *set = calloc(1, sizeof *set);
    if (!set)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), "begin read", dg);
    if (rc) {
        free(set);
        return rc;
    }
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    rc = cdr_store_dbi(txn, CDR_DB_OVERDUE, 0, &dbi, dg);
    if (rc == CDR_NOTFOUND) { /* no dunning run was ever recorded */
        cdr_diag_clear(dg);
        rc = 0;
        goto done;
    }
    if (!rc)
        rc = cdr_store_err(mdb_cursor_open(txn, dbi, &cur), "read " CDR_DB_OVERDUE, dg);
    uint8_t kb[8] = {0};
    MDB_val k = {sizeof kb, kb}, v;
    int g = rc ? 0 : mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); /* the run */
    if (!rc && g == 0) {
        const uint8_t *vb = v.mv_data;
        if (v.mv_size != OD_META || vb[0] != CDR_OVERDUE_LAYOUT) {
            rc = cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                              "database " CDR_DB_OVERDUE " was written by another build: "
                              "record the dunning list again with cdrate payments dunning");
        } else {
            set->os_recorded = 1;
            set->os_as_of = (int64_t)cdr_get_be64(vb + 1);
        }
    } else if (!rc && g != MDB_NOTFOUND) {
        rc = cdr_store_err(g, "read " CDR_DB_OVERDUE, dg);
    }
    cdr_put_be64(kb, account);
    k.mv_size = sizeof kb;
    k.mv_data = kb;
    size_t cap = 0;
    for (int op = MDB_SET_RANGE; !rc && account; op = MDB_NEXT) { /* account 0 is the run */
        g = mdb_cursor_get(cur, &k, &v, op);
        if (g == MDB_NOTFOUND)
            break;
        if ((rc = cdr_store_err(g, "read " CDR_DB_OVERDUE, dg)) != 0)
            break;
        if (k.mv_size < 8 || cdr_get_be64(k.mv_data) != account)
            break;
        if (cdr_grow(&set->os_items, &cap, set->os_n + 1, sizeof *set->os_items, 4) != 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        if ((rc = od_decode(&k, &v, &set->os_items[set->os_n], dg)) == 0)
            set->os_n++;
    }
done:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc) {
        cdr_pay_overdue_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

const cdr_pay_overdue *cdr_pay_overdue_find(const cdr_pay_overdue_set *set, uint64_t account)
{
    if (!set || !account)
        return NULL;
    size_t lo = 0, hi = set->os_n; /* the first entry of the account */
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (set->os_items[mid].po_account < account)
            lo = mid + 1;
        else
            hi = mid;
    }
    const cdr_pay_overdue *best = NULL;
    for (; lo < set->os_n && set->os_items[lo].po_account == account; lo++)
        if (!best || set->os_items[lo].po_oldest_due < best->po_oldest_due)
            best = &set->os_items[lo];
    return best;
}

void cdr_pay_overdue_free(cdr_pay_overdue_set *set)
{
    if (!set)
        return;
    free(set->os_items);
    free(set);
}
