/* cycle.c - closed billing cycles in the store (cdr_store.h, docs/billing.md "Closing a cycle").
 *
 * Database CDR_DB_CYCLES: key the cycle YYYYMM as be32 (so the keys sort by cycle), value the
 * UTC second of the close as be64. An entry is only ever added: a close is final.
 */
#include <stdlib.h>
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_store.h"

int cdr_cycle_valid(uint32_t cycle)
{
    const uint32_t year = cycle / 100, month = cycle % 100;
    return year >= 1970 && year <= 9999 && month >= 1 && month <= 12;
}

uint32_t cdr_cycle_next(uint32_t cycle)
{
    if (!cdr_cycle_valid(cycle) || cycle == 999912)
        return 0;
    return cycle % 100 == 12 ? (cycle / 100 + 1) * 100 + 1 : cycle + 1;
}

static int cycle_check(uint32_t cycle, cdr_diag *dg)
{
    if (cdr_cycle_valid(cycle))
        return 0;
    return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                        "%u is not a billing cycle YYYYMM (year 1970..9999, month 01..12)", cycle);
}

/* A read transaction and the cycles database; *dbi_found 0 when the store has none (every cycle
 * open): the transaction is then already ended. */
static int cycles_read_begin(cdr_store *st, MDB_txn **txn, MDB_dbi *dbi, int *dbi_found,
                             cdr_diag *dg)
{
    *dbi_found = 0;
    if (!st || !st->st_env)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store");
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, txn);
    if (rc)
        return cdr_store_err(rc, "begin cycles read", dg);
    rc = mdb_dbi_open(*txn, CDR_DB_CYCLES, 0, dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        return 0;
    }
    if (rc) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        return cdr_store_err(rc, "open database " CDR_DB_CYCLES, dg);
    }
    *dbi_found = 1;
    return 0;
}

static int entry_check(const cdr_store *st, const MDB_val *k, const MDB_val *v, cdr_diag *dg)
{
    if (k->mv_size != 4 || v->mv_size != 8 || !cdr_cycle_valid(cdr_get_be32(k->mv_data)))
        return cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                            "corrupt entry in database " CDR_DB_CYCLES);
    return 0;
}

int cdr_cycle_close(cdr_store *st, uint32_t cycle, cdr_time when, cdr_diag *dg)
{
    int rc = cycle_check(cycle, dg);
    if (rc)
        return rc;
    if (!st || !st->st_env)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store");
    MDB_txn *txn;
    MDB_dbi dbi;
    if ((rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0)
        return cdr_store_err(rc, "begin cycle close", dg);
    if ((rc = cdr_store_dbi(txn, CDR_DB_CYCLES, MDB_CREATE, &dbi, dg)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    uint8_t kb[4], vb[8];
    cdr_put_be32(kb, cycle);
    cdr_put_be64(vb, (uint64_t)when);
    MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
    rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) { /* closed before: it keeps its first time */
        mdb_txn_abort(txn);
        return 0;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "write cycle", dg);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit cycle close", dg);
    return 0;
}

int cdr_cycle_closed_at(cdr_store *st, uint32_t cycle, cdr_time *when, cdr_diag *dg)
{
    int rc = cycle_check(cycle, dg);
    if (rc)
        return rc;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    if ((rc = cycles_read_begin(st, &txn, &dbi, &found, dg)) != 0)
        return rc;
    if (!found)
        return CDR_NOTFOUND;
    uint8_t kb[4];
    cdr_put_be32(kb, cycle);
    MDB_val k = {sizeof kb, kb}, v;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && (rc = entry_check(st, &k, &v, dg)) == 0)
        *when = (cdr_time)cdr_get_be64(v.mv_data);
    else if (rc == MDB_NOTFOUND)
        rc = CDR_NOTFOUND;
    else if (rc != CDR_FORMAT)
        rc = cdr_store_err(rc, "read cycle", dg);
    mdb_txn_abort(txn);
    return rc;
}

int cdr_cycle_is_closed(cdr_store *st, uint32_t cycle, int *closed, cdr_diag *dg)
{
    cdr_time when;
    *closed = 0;
    int rc = cdr_cycle_closed_at(st, cycle, &when, dg);
    if (rc == CDR_NOTFOUND)
        return 0;
    if (rc == 0)
        *closed = 1;
    return rc;
}

int cdr_cycle_first_open(cdr_store *st, uint32_t cycle, uint32_t *open, cdr_diag *dg)
{
    int rc = cycle_check(cycle, dg);
    if (rc)
        return rc;
    *open = cycle;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    if ((rc = cycles_read_begin(st, &txn, &dbi, &found, dg)) != 0 || !found)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "open cycles cursor", dg);
    }
    uint8_t kb[4];
    cdr_put_be32(kb, cycle);
    MDB_val k = {sizeof kb, kb}, v;
    /* the closed cycles from `cycle` on, ascending: walk while they follow each other */
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); g == 0 && !rc;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = entry_check(st, &k, &v, dg)) != 0 || cdr_get_be32(k.mv_data) != *open)
            break;
        const uint32_t next = cdr_cycle_next(*open);
        if (!next)
            rc = cdr_diag_set(dg, CDR_RANGE, NULL, 0, 0, "every cycle up to 9999-12 is closed");
        else
            *open = next;
    }
    if (!rc && g != 0 && g != MDB_NOTFOUND)
        rc = cdr_store_err(g, "read cycles", dg);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int cdr_cycle_closed_list(cdr_store *st, uint32_t **out, size_t *n, cdr_diag *dg)
{
    *out = NULL;
    *n = 0;
    MDB_txn *txn;
    MDB_dbi dbi;
    int found;
    int rc = cycles_read_begin(st, &txn, &dbi, &found, dg);
    if (rc || !found)
        return rc;
    MDB_stat ms;
    MDB_cursor *cur = NULL;
    if ((rc = mdb_stat(txn, dbi, &ms)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "read cycles", dg);
    }
    uint32_t *list = malloc((ms.ms_entries ? ms.ms_entries : 1) * sizeof *list);
    if (!list) {
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    size_t k_n = 0;
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && k_n < ms.ms_entries;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = entry_check(st, &k, &v, dg)) != 0)
            break;
        list[k_n++] = cdr_get_be32(k.mv_data);
    }
    if (!rc && g != 0 && g != MDB_NOTFOUND)
        rc = cdr_store_err(g, "read cycles", dg);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *n = k_n;
    return 0;
}
