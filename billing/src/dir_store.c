/* dir_store.c - the directory in the store (LMDB): replace, read, rating view, MSISDN lookup.
 *
 * Layout (CDR_DIR_LAYOUT 4):
 *   dir_meta     "layout" -> u32 CDR_DIR_LAYOUT; "stats" -> cdr_dir_stats
 *   dir_records  kind (u8) + be64 id -> the record's struct (credit class: kind + name bytes;
 *                plan change: kind + be64 subscriber + be64 time with its sign bit flipped)
 *   dir_msisdn   MSISDN digits -> be64 subscriber id
 * Keys sort by kind then id, so every kind is one contiguous key range, and a replace writes all
 * keys in order with MDB_APPEND. A value is the host's struct (the store is a local cache, like
 * the LMDB file itself) with its runs of zero bytes packed (dir_pack): the fixed-size text fields
 * are mostly NUL, and packing cuts what a load of millions of records writes by about three.
 * Values are always unpacked into a local struct, never used in place.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_payments.h"
#include "dir_int.h"

#define DIR_KEY_MAX (1 + CDR_NAME_MAX)

/* Room for any record. */
typedef union dir_anyrec {
    cdr_dir_credit_class ar_credit_class;
    cdr_dir_customer ar_customer;
    cdr_dir_account ar_account;
    cdr_dir_enterprise ar_enterprise;
    cdr_dir_product ar_product;
    cdr_dir_subscriber ar_subscriber;
    cdr_dir_membership ar_membership;
    cdr_dir_payment_rule ar_payment_rule;
    cdr_dir_plan_change ar_plan_change;
} dir_anyrec;

#define DIR_PACKED_MAX (2 * sizeof(dir_anyrec)) /* any record, packed at worst */

typedef struct dir_dbs {
    MDB_dbi db_meta;
    MDB_dbi db_records;
    MDB_dbi db_msisdn;
} dir_dbs;

/* Open the three databases; create them when `create`. CDR_NOTFOUND when absent. */
static int open_dbs(MDB_txn *txn, int create, dir_dbs *dbs, cdr_diag *dg)
{
    const char *const names[3] = {CDR_DB_DIR_META, CDR_DB_DIR_RECORDS, CDR_DB_DIR_MSISDN};
    MDB_dbi *const dbis[3] = {&dbs->db_meta, &dbs->db_records, &dbs->db_msisdn};
    for (int i = 0; i < 3; i++) {
        int rc = mdb_dbi_open(txn, names[i], create ? MDB_CREATE : 0, dbis[i]);
        if (rc == MDB_NOTFOUND)
            return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0,
                                "no directory in the store (load a directory file first)");
        if (rc)
            return cdr_store_err(rc, names[i], dg);
    }
    return 0;
}

/* The key of element i of kind k into kb; returns its length. */
static size_t record_key(const cdr_dir *dir, int k, size_t i, unsigned char *kb)
{
    kb[0] = (unsigned char)k;
    if (k == CDR_DIR_CREDIT_CLASS) {
        const cdr_dir_credit_class *cc = DIR_AT(dir, k, const cdr_dir_credit_class, i);
        size_t n = strlen(cc->cc_id);
        memcpy(kb + 1, cc->cc_id, n);
        return 1 + n;
    }
    dir_put_be64(kb + 1, dir_id_at(dir, k, i));
    if (k == CDR_DIR_PLAN_CHANGE) { /* a subscriber's changes are unique by time */
        const cdr_dir_plan_change *pc = DIR_AT(dir, k, const cdr_dir_plan_change, i);
        dir_put_be64(kb + 9, (uint64_t)pc->pc_from ^ (1ULL << 63));
        return 17;
    }
    return 9;
}

typedef struct dir_msisdn_ent {
    char me_msisdn[16]; /* at most 15 digits */
    uint64_t me_id;
} dir_msisdn_ent;

static int cmp_msisdn_ent(const void *a, const void *b)
{
    return strcmp(((const dir_msisdn_ent *)a)->me_msisdn, ((const dir_msisdn_ent *)b)->me_msisdn);
}

static int put_msisdns(MDB_txn *txn, MDB_dbi dbi, const cdr_dir *dir, cdr_diag *dg)
{
    size_t n;
    const cdr_dir_subscriber *sbs = cdr_dir_subscribers(dir, &n);
    dir_msisdn_ent *me = malloc((n ? n : 1) * sizeof *me);
    if (!me)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        memset(me[i].me_msisdn, 0, sizeof me[i].me_msisdn);
        memcpy(me[i].me_msisdn, sbs[i].sb_msisdn, strlen(sbs[i].sb_msisdn));
        me[i].me_id = sbs[i].sb_id;
        if (i && sorted && strcmp(me[i - 1].me_msisdn, me[i].me_msisdn) > 0)
            sorted = 0;
    }
    if (!sorted)
        qsort(me, n, sizeof *me, cmp_msisdn_ent);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char vb[8];
        dir_put_be64(vb, me[i].me_id);
        MDB_val key = {strlen(me[i].me_msisdn), me[i].me_msisdn}, val = {8, vb};
        rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND);
    }
    free(me);
    return rc ? cdr_store_err(rc, "write directory msisdn index", dg) : 0;
}

int cdr_dir_write(cdr_store *st, const cdr_dir *dir, cdr_diag *dg)
{
    if (!st || !dir)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_write: NULL argument");
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, 0, &txn);
    if (rc)
        return cdr_store_err(rc, "begin directory write", dg);
    dir_dbs dbs;
    if ((rc = open_dbs(txn, 1, &dbs, dg)) != 0)
        goto fail;
    if ((rc = mdb_drop(txn, dbs.db_meta, 0)) != 0 || (rc = mdb_drop(txn, dbs.db_records, 0)) != 0 ||
        (rc = mdb_drop(txn, dbs.db_msisdn, 0)) != 0) {
        rc = cdr_store_err(rc, "clear the previous directory", dg);
        goto fail;
    }
    uint32_t layout = CDR_DIR_LAYOUT;
    cdr_dir_stats ds;
    memset(&ds, 0, sizeof ds);
    cdr_dir_get_stats(dir, &ds);
    MDB_val mk = {6, "layout"}, mv = {sizeof layout, &layout};
    rc = mdb_put(txn, dbs.db_meta, &mk, &mv, 0);
    if (rc == 0) {
        MDB_val sk = {5, "stats"}, sv = {sizeof ds, &ds};
        rc = mdb_put(txn, dbs.db_meta, &sk, &sv, 0);
    }
    if (rc == 0) { /* cdr_dir_stamp: tells readers that hold a copy that it changed */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t stamp = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        MDB_val tk = {5, "stamp"}, tv = {sizeof stamp, &stamp};
        rc = mdb_put(txn, dbs.db_meta, &tk, &tv, 0);
    }
    for (int k = 1; k < CDR_DIR_KIND_END && rc == 0; k++) {
        const dir_vec *dv = &dir->dr_vec[k];
        for (size_t i = 0; i < dv->dv_n && rc == 0; i++) {
            unsigned char kb[DIR_KEY_MAX], vb[DIR_PACKED_MAX];
            MDB_val key = {record_key(dir, k, i, kb), kb};
            MDB_val val = {dir_pack((char *)dv->dv_base + i * dv->dv_size, dv->dv_size, vb), vb};
            rc = mdb_put(txn, dbs.db_records, &key, &val, MDB_APPEND);
        }
    }
    if (rc) {
        rc = cdr_store_err(rc, "write directory records", dg);
        goto fail;
    }
    if ((rc = put_msisdns(txn, dbs.db_msisdn, dir, dg)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit directory", dg);
    return 0;
fail:
    mdb_txn_abort(txn);
    return rc;
}

/* Begin a read transaction on a loaded directory of the current layout; its counts into *ds
 * unless ds is NULL. */
static int begin_read(cdr_store *st, MDB_txn **txn, dir_dbs *dbs, cdr_dir_stats *ds, cdr_diag *dg)
{
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, txn);
    if (rc)
        return cdr_store_err(rc, "begin directory read", dg);
    if ((rc = open_dbs(*txn, 0, dbs, dg)) != 0)
        goto fail;
    MDB_val mk = {6, "layout"}, mv;
    rc = mdb_get(*txn, dbs->db_meta, &mk, &mv);
    if (rc == MDB_NOTFOUND) {
        rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0,
                          "no directory in the store (load a directory file first)");
        goto fail;
    }
    uint32_t layout = 0;
    if (rc == 0 && mv.mv_size == sizeof layout)
        memcpy(&layout, mv.mv_data, sizeof layout);
    if (rc == 0 && layout != CDR_DIR_LAYOUT) {
        rc = cdr_diag_set(dg, CDR_VERSION, NULL, 0, 0,
                          "the store holds directory layout %u, this build reads %d: reload the "
                          "directory file",
                          layout, CDR_DIR_LAYOUT);
        goto fail;
    }
    if (rc) {
        rc = cdr_store_err(rc, "read directory meta", dg);
        goto fail;
    }
    if (!ds) /* the caller does not need the counts: one lookup less per line query */
        return 0;
    MDB_val sk = {5, "stats"}, sv;
    if ((rc = mdb_get(*txn, dbs->db_meta, &sk, &sv)) != 0) {
        rc = cdr_store_err(rc, "read directory meta", dg);
        goto fail;
    }
    memset(ds, 0, sizeof *ds);
    memcpy(ds, sv.mv_data, sv.mv_size < sizeof *ds ? sv.mv_size : sizeof *ds);
    return 0;
fail:
    mdb_txn_abort(*txn);
    *txn = NULL;
    return rc;
}

/* Check a record's key and unpack its value into rec (room for the largest record). Returns its
 * kind, or CDR_STORE for a damaged record. */
static int unpack_record(const MDB_val *key, const MDB_val *val, void *rec, cdr_diag *dg)
{
    const unsigned char *kb = key->mv_data;
    int k = key->mv_size ? kb[0] : 0;
    if (k < 1 || k >= CDR_DIR_KIND_END ||
        (k == CDR_DIR_CREDIT_CLASS  ? key->mv_size < 2
         : k == CDR_DIR_PLAN_CHANGE ? key->mv_size != 17
                                    : key->mv_size != 9) ||
        dir_unpack(val->mv_data, val->mv_size, rec, dir_kind_size[k]) != 0)
        return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0,
                            "damaged directory record (kind %d, %zu bytes): reload the directory",
                            k, val->mv_size);
    return k;
}

int cdr_dir_read(cdr_store *st, cdr_dir **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_read: NULL argument");
    *out = NULL;
    MDB_txn *txn;
    dir_dbs dbs;
    cdr_dir_stats ds;
    int rc = begin_read(st, &txn, &dbs, &ds, dg);
    if (rc)
        return rc;
    cdr_dir *dir = dir_new();
    MDB_cursor *cur = NULL;
    if (!dir) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if ((rc = mdb_cursor_open(txn, dbs.db_records, &cur)) != 0) {
        rc = cdr_store_err(rc, "read directory", dg);
        goto done;
    }
    MDB_val key, val;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        dir_anyrec rec;
        int k = unpack_record(&key, &val, &rec, dg);
        if (k < 0) {
            rc = k;
            goto done;
        }
        long ix = dir_append(dir, k, 0);
        if (ix < 0) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            goto done;
        }
        memcpy((char *)dir->dr_vec[k].dv_base + (size_t)ix * dir->dr_vec[k].dv_size, &rec,
               dir->dr_vec[k].dv_size);
    }
    if (mrc != MDB_NOTFOUND) {
        rc = cdr_store_err(mrc, "read directory", dg);
        goto done;
    }
    if (dir_finish(dir) != 0)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
done:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc) {
        cdr_dir_free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* ---- one line's part of the directory ------------------------------------------------------ */

/* Append the record (kind, id) (a credit class: name) to dir unless it is there already or the
 * id is 0 / the name empty. Returns 0 (also when the store lacks it: the caller checks what it
 * needs), or an error. */
static int read_one(MDB_txn *txn, const dir_dbs *dbs, int kind, uint64_t id, const char *name,
                    cdr_dir *dir, cdr_diag *dg)
{
    unsigned char kb[DIR_KEY_MAX];
    size_t klen;
    kb[0] = (unsigned char)kind;
    if (kind == CDR_DIR_CREDIT_CLASS) {
        size_t n = strlen(name);
        if (n == 0 || n >= CDR_NAME_MAX)
            return 0;
        for (size_t i = 0; i < dir->dr_vec[kind].dv_n; i++)
            if (!strcmp(DIR_AT(dir, kind, cdr_dir_credit_class, i)->cc_id, name))
                return 0;
        memcpy(kb + 1, name, n);
        klen = 1 + n;
    } else {
        if (id == 0)
            return 0;
        for (size_t i = 0; i < dir->dr_vec[kind].dv_n; i++)
            if (dir_id_at(dir, kind, i) == id)
                return 0;
        dir_put_be64(kb + 1, id);
        klen = 9;
    }
    MDB_val key = {klen, kb}, val;
    int rc = mdb_get(txn, dbs->db_records, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return cdr_store_err(rc, "read directory", dg);
    dir_anyrec rec;
    int k = unpack_record(&key, &val, &rec, dg);
    if (k < 0)
        return k;
    long ix = dir_append(dir, k, 0);
    if (ix < 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    memcpy((char *)dir->dr_vec[k].dv_base + (size_t)ix * dir->dr_vec[k].dv_size, &rec,
           dir->dr_vec[k].dv_size);
    return 0;
}

/* The payment rules of enterprise en (one pass over the rules' key range). */
static int read_rules(MDB_txn *txn, const dir_dbs *dbs, uint64_t en, cdr_dir *dir, cdr_diag *dg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbs->db_records, &cur);
    if (rc)
        return cdr_store_err(rc, "read directory", dg);
    unsigned char kb[1] = {CDR_DIR_PAYMENT_RULE};
    MDB_val key = {1, kb}, val;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (((const unsigned char *)key.mv_data)[0] != CDR_DIR_PAYMENT_RULE)
            break;
        dir_anyrec rec;
        int k = unpack_record(&key, &val, &rec, dg);
        if (k < 0) {
            mdb_cursor_close(cur);
            return k;
        }
        if (rec.ar_payment_rule.pr_enterprise != en)
            continue;
        long ix = dir_append(dir, k, 0);
        if (ix < 0) {
            mdb_cursor_close(cur);
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        *DIR_AT(dir, k, cdr_dir_payment_rule, (size_t)ix) = rec.ar_payment_rule;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : cdr_store_err(rc, "read directory", dg);
}

int cdr_dir_read_line(cdr_store *st, const char *msisdn, cdr_dir **out, cdr_diag *dg)
{
    return cdr_dir_read_line_part(st, msisdn, CDR_DIR_LINE_ALL, out, dg);
}

int cdr_dir_read_line_part(cdr_store *st, const char *msisdn, int part, cdr_dir **out, cdr_diag *dg)
{
    const int full = part == CDR_DIR_LINE_ALL;
    cdr_diag_clear(dg);
    if (!st || !msisdn || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_read_line: NULL argument");
    *out = NULL;
    MDB_txn *txn;
    dir_dbs dbs;
    int rc = begin_read(st, &txn, &dbs, NULL, dg);
    if (rc)
        return rc;
    cdr_dir *dir = dir_new();
    if (!dir) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    MDB_val key = {strlen(msisdn), (void *)msisdn}, val;
    rc = mdb_get(txn, dbs.db_msisdn, &key, &val);
    if (rc == MDB_NOTFOUND) {
        rc =
            cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "msisdn %s is not in the directory", msisdn);
        goto done;
    }
    if (rc || val.mv_size != 8) {
        rc = rc ? cdr_store_err(rc, "read directory", dg)
                : cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "damaged directory msisdn index");
        goto done;
    }
    uint64_t sid = dir_get_be64(val.mv_data);
    if ((rc = read_one(txn, &dbs, CDR_DIR_SUBSCRIBER, sid, NULL, dir, dg)) != 0)
        goto done;
    if (dir->dr_vec[CDR_DIR_SUBSCRIBER].dv_n != 1) {
        rc = cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "damaged directory msisdn index");
        goto done;
    }
    /* Copies, not pointers: the arrays grow as records are appended. */
    cdr_dir_subscriber sb = *DIR_AT(dir, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber, 0);
    uint64_t accounts[2] = {sb.sb_account, 0};
    if ((full &&
         ((rc = read_one(txn, &dbs, CDR_DIR_MEMBERSHIP, sb.sb_id, NULL, dir, dg)) != 0 ||
          (rc = read_one(txn, &dbs, CDR_DIR_PRODUCT, sb.sb_product, NULL, dir, dg)) != 0)) ||
        (rc = read_one(txn, &dbs, CDR_DIR_ENTERPRISE, sb.sb_enterprise, NULL, dir, dg)) != 0)
        goto done;
    if (sb.sb_enterprise) {
        if (dir->dr_vec[CDR_DIR_ENTERPRISE].dv_n == 1) {
            cdr_dir_enterprise en = *DIR_AT(dir, CDR_DIR_ENTERPRISE, cdr_dir_enterprise, 0);
            accounts[1] = full ? en.en_account : 0;
            if ((rc = read_one(txn, &dbs, CDR_DIR_CUSTOMER, en.en_customer, NULL, dir, dg)) != 0)
                goto done;
        }
        if (full && (rc = read_rules(txn, &dbs, sb.sb_enterprise, dir, dg)) != 0)
            goto done;
    }
    for (int a = 0; a < 2; a++) {
        if ((rc = read_one(txn, &dbs, CDR_DIR_ACCOUNT, accounts[a], NULL, dir, dg)) != 0)
            goto done;
    }
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_ACCOUNT].dv_n; i++) {
        cdr_dir_account ac = *DIR_AT(dir, CDR_DIR_ACCOUNT, cdr_dir_account, i);
        if ((rc = read_one(txn, &dbs, CDR_DIR_CUSTOMER, ac.ac_customer, NULL, dir, dg)) != 0 ||
            (rc = read_one(txn, &dbs, CDR_DIR_CREDIT_CLASS, 0, ac.ac_credit_class, dir, dg)) != 0)
            goto done;
    }
    for (size_t i = 0; i < dir->dr_vec[CDR_DIR_CUSTOMER].dv_n; i++) {
        cdr_dir_customer cu = *DIR_AT(dir, CDR_DIR_CUSTOMER, cdr_dir_customer, i);
        if ((rc = read_one(txn, &dbs, CDR_DIR_CREDIT_CLASS, 0, cu.cu_credit_class, dir, dg)) != 0)
            goto done;
    }
    if (dir_finish(dir) != 0)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
done:
    mdb_txn_abort(txn);
    if (rc) {
        cdr_dir_free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* ---- the rating view ------------------------------------------------------------------------- */

/* What the rating view needs of the other kinds, kept small (a directory may hold millions of
 * customers and accounts). */
typedef struct rv_customer {
    uint64_t rc_id;
    int32_t rc_class; /* index in the credit classes, -1 = none */
    char rc_manager[CDR_NAME_MAX];
} rv_customer;

typedef struct rv_account {
    uint64_t ra_id;
    uint64_t ra_customer;
    int32_t ra_class;    /* the account's credit class (as written or the customer's) */
    uint8_t ra_explicit; /* the account names a class other than its customer's */
} rv_account;

typedef struct rv_enterprise {
    uint64_t re_id;
    uint64_t re_customer;
    char re_manager[CDR_NAME_MAX]; /* its account manager */
} rv_enterprise;

typedef struct rv_tables {
    cdr_dir_credit_class *rv_cc;
    size_t rv_ncc;
    rv_customer *rv_cu;
    size_t rv_ncu;
    rv_account *rv_ac;
    size_t rv_nac;
    rv_enterprise *rv_en;
    size_t rv_nen;
    cdr_dir_product *rv_pd;
    size_t rv_npd;
    const cdr_pay_overdue_set *rv_overdue; /* the recorded dunning list (cdr_payments.h) */
} rv_tables;

/* Binary search by the leading uint64_t id of records of size sz sorted by it. */
static const void *find_by_id(const void *base, size_t n, size_t sz, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v;
        memcpy(&v, (const char *)base + mid * sz, sizeof v);
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == n)
        return NULL;
    uint64_t v;
    memcpy(&v, (const char *)base + lo * sz, sizeof v);
    return v == id ? (const char *)base + lo * sz : NULL;
}

static int32_t class_index(const rv_tables *rv, const char *name)
{
    for (size_t i = 0; i < rv->rv_ncc; i++)
        if (strcmp(rv->rv_cc[i].cc_id, name) == 0)
            return (int32_t)i;
    return -1;
}

_Static_assert(CDR_SUB_MAX_WARN == CDR_DIR_MAX_WARN, "credit warning thresholds");

/* Fill su from a subscriber and the tables (docs/directory.md sections 5 and 6). */
static void make_sub(const cdr_dir_subscriber *sb, const rv_tables *rv, cdr_sub *su)
{
    memset(su, 0, sizeof *su);
    memcpy(su->su_msisdn, sb->sb_msisdn, sizeof su->su_msisdn);
    memcpy(su->su_plan, sb->sb_plan, sizeof su->su_plan);
    su->su_id = sb->sb_id;
    su->su_enterprise = sb->sb_enterprise;
    su->su_account = sb->sb_account;
    su->su_owner = cdr_dir_line_owner(sb);
    su->su_active_from = sb->sb_active_from;
    su->su_active_to = sb->sb_active_to;
    su->su_family = -1;
    const cdr_dir_product *pd =
        sb->sb_product ? find_by_id(rv->rv_pd, rv->rv_npd, sizeof *rv->rv_pd, sb->sb_product)
                       : NULL;
    if (pd)
        for (int s = 0; s < CDR_SVC_COUNT; s++) {
            su->su_pool_units[s] = pd->pd_pool[s];
            su->su_member_cap[s] = pd->pd_member_cap[s];
        }
    /* credit: the account's class; for a member, the enterprise's unless the member's account
     * names a class of its own. The manager: the enterprise's account manager for a member, else
     * the customer's. */
    const rv_account *ac = find_by_id(rv->rv_ac, rv->rv_nac, sizeof *rv->rv_ac, sb->sb_account);
    const rv_customer *cu =
        ac ? find_by_id(rv->rv_cu, rv->rv_ncu, sizeof *rv->rv_cu, ac->ra_customer) : NULL;
    int32_t cls = ac ? ac->ra_class : -1;
    const char *manager = cu ? cu->rc_manager : NULL;
    if (sb->sb_enterprise) {
        const rv_enterprise *en =
            find_by_id(rv->rv_en, rv->rv_nen, sizeof *rv->rv_en, sb->sb_enterprise);
        const rv_customer *ecu =
            en ? find_by_id(rv->rv_cu, rv->rv_ncu, sizeof *rv->rv_cu, en->re_customer) : NULL;
        if (ecu && !(ac && ac->ra_explicit) && ecu->rc_class >= 0)
            cls = ecu->rc_class;
        if (en)
            manager = en->re_manager;
    }
    if (manager)
        memcpy(su->su_manager, manager, sizeof su->su_manager);
    if (cls >= 0) {
        const cdr_dir_credit_class *cc = &rv->rv_cc[cls];
        su->su_credit_limit = cc->cc_limit;
        su->su_credit_nwarn = cc->cc_nwarn;
        memcpy(su->su_credit_warn, cc->cc_warn_pct, sizeof su->su_credit_warn);
        su->su_credit_extended = cc->cc_term_days > CDR_DIR_STANDARD_TERM_DAYS;
        su->su_roaming_no_deposit = cc->cc_roaming_no_deposit;
    }
    /* arrears: the member account on the recorded dunning list (docs/credit-control.md) */
    const cdr_pay_overdue *po = cdr_pay_overdue_find(rv->rv_overdue, sb->sb_account);
    if (po) {
        su->su_overdue = 1;
        memcpy(su->su_overdue_currency, po->po_currency, sizeof su->su_overdue_currency);
        su->su_overdue_amount = po->po_amount;
        su->su_overdue_due = po->po_oldest_due;
    }
}

uint64_t cdr_dir_line_owner(const cdr_dir_subscriber *sb)
{
    return sb->sb_enterprise ? cdr_dir_enterprise_owner(sb->sb_enterprise) : sb->sb_account;
}

/* Append one record of size sz to a growing array. */
static int rv_push(void **arr, size_t *n, size_t *cap, const void *rec, size_t sz)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void *na = realloc(*arr, nc * sz);
        if (!na)
            return CDR_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    memcpy((char *)*arr + *n * sz, rec, sz);
    (*n)++;
    return 0;
}

int cdr_dir_rating_view(cdr_store *st, cdr_subtab **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_rating_view: NULL argument");
    *out = NULL;
    MDB_txn *txn;
    dir_dbs dbs;
    cdr_dir_stats ds;
    int rc = begin_read(st, &txn, &dbs, &ds, dg);
    if (rc)
        return rc;
    MDB_cursor *cur = NULL;
    cdr_subtab *tab = NULL;
    rv_tables rv = {0};
    cdr_pay_overdue_set *overdue = NULL;
    size_t capcc = 0, capcu = 0, capac = 0, capen = 0, cappd = 0;
    if (cdr_subtab_create(ds.ds_subscribers, &tab) != 0) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if ((rc = mdb_cursor_open(txn, dbs.db_records, &cur)) != 0) {
        rc = cdr_store_err(rc, "read directory", dg);
        goto done;
    }
    /* the overdue accounts, from the same snapshot as the directory */
    if ((rc = cdr_pay_overdue_read(txn, &overdue, dg)) != 0)
        goto done;
    rv.rv_overdue = overdue;
    /* Credit classes, customers, accounts, enterprises, products, then subscribers: contiguous
     * key ranges, in id order (credit classes by name). */
    unsigned char kb[1] = {CDR_DIR_CREDIT_CLASS};
    MDB_val key = {1, kb}, val;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); mrc == 0 && !rc;
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (((const unsigned char *)key.mv_data)[0] > CDR_DIR_SUBSCRIBER)
            break;
        dir_anyrec rec;
        int k = unpack_record(&key, &val, &rec, dg);
        if (k < 0) {
            rc = k;
            goto done;
        }
        switch (k) {
        case CDR_DIR_CREDIT_CLASS:
            rc = rv_push((void **)&rv.rv_cc, &rv.rv_ncc, &capcc, &rec.ar_credit_class,
                         sizeof rec.ar_credit_class);
            continue;
        case CDR_DIR_CUSTOMER: {
            rv_customer c = {.rc_id = rec.ar_customer.cu_id,
                             .rc_class = class_index(&rv, rec.ar_customer.cu_credit_class)};
            memcpy(c.rc_manager, rec.ar_customer.cu_manager, sizeof c.rc_manager);
            rc = rv_push((void **)&rv.rv_cu, &rv.rv_ncu, &capcu, &c, sizeof c);
            continue;
        }
        case CDR_DIR_ACCOUNT: {
            const rv_customer *c =
                find_by_id(rv.rv_cu, rv.rv_ncu, sizeof *rv.rv_cu, rec.ar_account.ac_customer);
            rv_account a = {.ra_id = rec.ar_account.ac_id,
                            .ra_customer = rec.ar_account.ac_customer,
                            .ra_class = class_index(&rv, rec.ar_account.ac_credit_class)};
            a.ra_explicit = c && c->rc_class != a.ra_class;
            rc = rv_push((void **)&rv.rv_ac, &rv.rv_nac, &capac, &a, sizeof a);
            continue;
        }
        case CDR_DIR_ENTERPRISE: {
            rv_enterprise e = {rec.ar_enterprise.en_id, rec.ar_enterprise.en_customer, ""};
            memcpy(e.re_manager, rec.ar_enterprise.en_manager[CDR_DIR_ACCOUNT_MANAGER],
                   sizeof e.re_manager);
            rc = rv_push((void **)&rv.rv_en, &rv.rv_nen, &capen, &e, sizeof e);
            continue;
        }
        case CDR_DIR_PRODUCT:
            rc = rv_push((void **)&rv.rv_pd, &rv.rv_npd, &cappd, &rec.ar_product,
                         sizeof rec.ar_product);
            continue;
        case CDR_DIR_SUBSCRIBER:
            break;
        default:
            continue;
        }
        const cdr_dir_subscriber *sb = &rec.ar_subscriber;
        cdr_sub su;
        make_sub(sb, &rv, &su);
        if ((rc = cdr_subtab_add(tab, &su)) != 0) {
            rc = cdr_diag_set(dg, rc == CDR_EXISTS ? CDR_STORE : rc, NULL, 0, 0,
                              "rating view: subscriber %llu (msisdn %s): %s",
                              (unsigned long long)sb->sb_id, sb->sb_msisdn, cdr_strerror(rc));
            goto done;
        }
    }
    if (rc)
        rc = cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read directory", dg);
done:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    free(rv.rv_cc);
    free(rv.rv_cu);
    free(rv.rv_ac);
    free(rv.rv_en);
    free(rv.rv_pd);
    cdr_pay_overdue_free(overdue);
    if (rc) {
        cdr_subtab_free(tab);
        return rc;
    }
    *out = tab;
    return 0;
}

int cdr_dir_lookup_msisdn(cdr_store *st, const char *msisdn, cdr_dir_subscriber *out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !msisdn || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_lookup_msisdn: NULL argument");
    MDB_txn *txn;
    dir_dbs dbs;
    cdr_dir_stats ds;
    int rc = begin_read(st, &txn, &dbs, &ds, dg);
    if (rc)
        return rc;
    MDB_val key = {strlen(msisdn), (void *)msisdn}, val;
    rc = mdb_get(txn, dbs.db_msisdn, &key, &val);
    if (rc == 0 && val.mv_size == 8) {
        unsigned char kb[9];
        kb[0] = CDR_DIR_SUBSCRIBER;
        memcpy(kb + 1, val.mv_data, 8);
        MDB_val rk = {9, kb};
        rc = mdb_get(txn, dbs.db_records, &rk, &val);
        if (rc && rc != MDB_NOTFOUND)
            rc = cdr_store_err(rc, "read directory", dg);
        else if (rc || dir_unpack(val.mv_data, val.mv_size, out, sizeof *out) != 0)
            rc = cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "damaged directory msisdn index");
    } else if (rc == MDB_NOTFOUND) {
        rc =
            cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "msisdn %s is not in the directory", msisdn);
    } else {
        rc = rc ? cdr_store_err(rc, "read directory", dg)
                : cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "damaged directory msisdn index");
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ---- load ------------------------------------------------------------------------------------ */

int cdr_dir_load_file(cdr_store *st, const char *path, const cdr_progress *progress,
                      cdr_dir_stats *stats, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "cdr_dir_load_file: NULL argument");
    cdr_dir *dir;
    int rc = cdr_dir_parse_file(path, progress, &dir, dg);
    if (rc)
        return rc;
    rc = cdr_dir_write(st, dir, dg);
    if (rc) {
        if (dg && !dg->dg_file[0])
            snprintf(dg->dg_file, sizeof dg->dg_file, "%s", path);
        cdr_dir_free(dir);
        return rc;
    }
    cdr_dir_stats ds;
    cdr_dir_get_stats(dir, &ds);
    if (stats)
        *stats = ds;
    cdr_dir_free(dir);
    return 0;
}

int cdr_dir_stamp(cdr_store *st, uint64_t *stamp, cdr_diag *dg)
{
    *stamp = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin directory read", dg);
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, CDR_DB_DIR_META, 0, &dbi);
    if (rc == 0) {
        MDB_val k = {5, "stamp"}, v;
        rc = mdb_get(txn, dbi, &k, &v);
        if (rc == 0 && v.mv_size == sizeof *stamp)
            memcpy(stamp, v.mv_data, sizeof *stamp);
    }
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : cdr_store_err(rc, "read the directory's stamp", dg);
}
