/* dedup.c - exact, bounded de-duplication of records and whole inputs in LMDB (cdr_collect.h).
 *
 * Layout (all integers big-endian):
 *   coll_dedup  key  source '\0' origin_id
 *               val  start be64 | file id be32 | index be64 | line be64         (28 bytes)
 *   coll_files  key  SHA-256 of the content (32 bytes)
 *               val  cdr_dedup_file, serialised by file_encode below
 *   coll_meta   "fid"            next file id be32
 *               "i" id be32      -> SHA-256 of that file
 *               "hwm"            newest event start recorded, be64
 *               "sweep"          the coll_dedup key the pruning sweep stops at
 *               (the collector keeps its checkpoints and duplicate reports here too: spool.c)
 *
 * Pruning has no time index (that would double the random B-tree writes per record): a sweep
 * walks coll_dedup in key order, a bounded number of entries per commit, and deletes those whose
 * start is more than the window before the newest start. An entry inside the window is never
 * deleted, so a duplicate of a record within the window is always caught. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdr_bytes.h"
#include "cdr_collect.h"

#define DEDUP_VAL_LEN 28
#define DEDUP_KEY_MAX (CDR_SOURCE_MAX + CDR_ORIGIN_MAX)
#define FILE_VAL_VER  1

struct cdr_dedup {
    cdr_store *dd_st;
    int64_t dd_window;
    MDB_txn *dd_txn;
    MDB_txn *dd_hold; /* the outer transaction of a hold (cdr_dedup_hold_begin), or NULL */
    MDB_dbi dd_dbi_ids, dd_dbi_files, dd_dbi_meta;
    cdr_time dd_hwm;      /* newest start, as of the open transaction */
    int dd_hwm_dirty;     /* dd_hwm changed in the open transaction */
    uint64_t dd_recorded; /* identities recorded in the open transaction */
    /* batch scratch (grown, never shrunk) */
    struct dedup_sortent *dd_sort;
    char *dd_keys;
    size_t dd_cap;
};

typedef struct dedup_sortent {
    uint32_t se_off; /* key offset in dd_keys */
    uint16_t se_len;
    uint32_t se_item; /* index into the batch: ties sort in input order */
} dedup_sortent;

/* ---- encoding helpers ------------------------------------------------------------------------ */

static size_t identity_key(const cdr_record *cr, char *key)
{
    size_t ls = strnlen(cr->cr_source, CDR_SOURCE_MAX - 1);
    size_t lo = strnlen(cr->cr_origin_id, CDR_ORIGIN_MAX - 1);
    memcpy(key, cr->cr_source, ls);
    key[ls] = '\0';
    memcpy(key + ls + 1, cr->cr_origin_id, lo);
    return ls + 1 + lo;
}

static void orig_encode(uint8_t *v, cdr_time start, uint32_t file_id, uint64_t index, uint64_t line)
{
    cdr_put_be64(v, (uint64_t)start);
    cdr_put_be32(v + 8, file_id);
    cdr_put_be64(v + 12, index);
    cdr_put_be64(v + 20, line);
}

static void orig_decode(const MDB_val *val, cdr_dedup_orig *orig)
{
    memset(orig, 0, sizeof *orig);
    if (val->mv_size < DEDUP_VAL_LEN)
        return;
    const uint8_t *v = val->mv_data;
    orig->do_start = (cdr_time)cdr_get_be64(v);
    orig->do_file_id = cdr_get_be32(v + 8);
    orig->do_index = cdr_get_be64(v + 12);
    orig->do_line = cdr_get_be64(v + 20);
}

/* ---- the handle and its transaction ---------------------------------------------------------- */

static int meta_get(cdr_dedup *dd, const void *key, size_t klen, MDB_val *val)
{
    MDB_val k = {klen, (void *)key};
    return mdb_get(dd->dd_txn, dd->dd_dbi_meta, &k, val);
}

static int meta_put(cdr_dedup *dd, const void *key, size_t klen, const void *v, size_t vlen,
                    cdr_diag *dg)
{
    MDB_val k = {klen, (void *)key}, val = {vlen, (void *)v};
    return cdr_store_err(mdb_put(dd->dd_txn, dd->dd_dbi_meta, &k, &val, 0), "dedup meta", dg);
}

int cdr_dedup_open(cdr_store *st, int64_t window, cdr_dedup **out, cdr_diag *dg)
{
    *out = NULL;
    if (!st || window < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "dedup: no store or negative window");
    cdr_dedup *dd = calloc(1, sizeof *dd);
    if (!dd)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    dd->dd_st = st;
    dd->dd_window = window ? window : CDR_DEDUP_WINDOW_DEFAULT;
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, 0, &txn), "dedup: begin", dg);
    if (rc) {
        free(dd);
        return rc;
    }
    if ((rc = cdr_store_dbi(txn, CDR_DB_COLL_DEDUP, MDB_CREATE, &dd->dd_dbi_ids, dg)) ||
        (rc = cdr_store_dbi(txn, CDR_DB_COLL_FILES, MDB_CREATE, &dd->dd_dbi_files, dg)) ||
        (rc = cdr_store_dbi(txn, CDR_DB_COLL_META, MDB_CREATE, &dd->dd_dbi_meta, dg))) {
        mdb_txn_abort(txn);
        free(dd);
        return rc;
    }
    if ((rc = cdr_store_err(mdb_txn_commit(txn), "dedup: commit", dg))) { /* txn freed */
        free(dd);
        return rc;
    }
    *out = dd;
    return 0;
}

void cdr_dedup_close(cdr_dedup *dd)
{
    if (!dd)
        return;
    cdr_dedup_hold_abort(dd);
    free(dd->dd_sort);
    free(dd->dd_keys);
    free(dd);
}

int cdr_dedup_begin(cdr_dedup *dd, cdr_diag *dg)
{
    if (dd->dd_txn)
        return 0;
    int rc = cdr_store_err(mdb_txn_begin(dd->dd_st->st_env, dd->dd_hold, 0, &dd->dd_txn),
                           "dedup: begin", dg);
    if (rc) {
        dd->dd_txn = NULL;
        return rc;
    }
    MDB_val v;
    dd->dd_hwm = 0;
    if (meta_get(dd, "hwm", 3, &v) == 0 && v.mv_size == 8)
        dd->dd_hwm = (cdr_time)cdr_get_be64(v.mv_data);
    dd->dd_hwm_dirty = 0;
    dd->dd_recorded = 0;
    return 0;
}

MDB_txn *cdr_dedup_txn(cdr_dedup *dd)
{
    return dd->dd_txn;
}

void cdr_dedup_abort(cdr_dedup *dd)
{
    if (dd->dd_txn)
        mdb_txn_abort(dd->dd_txn);
    dd->dd_txn = NULL;
}

int cdr_dedup_commit(cdr_dedup *dd, cdr_diag *dg)
{
    if (!dd->dd_txn)
        return 0;
    int rc = 0;
    if (dd->dd_hwm_dirty) {
        uint8_t b[8];
        cdr_put_be64(b, (uint64_t)dd->dd_hwm);
        rc = meta_put(dd, "hwm", 3, b, 8, dg);
    }
    if (!rc && dd->dd_recorded)
        rc = cdr_dedup_prune(dd, 2 * dd->dd_recorded, NULL, dg);
    if (rc)
        return rc;
    rc = mdb_txn_commit(dd->dd_txn);
    dd->dd_txn = NULL;
    return cdr_store_err(rc, "dedup: commit", dg);
}

/* A hold is an LMDB transaction with the handle's transactions nested in it: a nested commit
 * only merges into it, nothing reaches the disk before cdr_dedup_hold_commit. */
int cdr_dedup_hold_begin(cdr_dedup *dd, cdr_diag *dg)
{
    if (dd->dd_hold)
        return 0;
    if (dd->dd_txn)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "dedup: hold with a transaction open");
    return cdr_store_err(mdb_txn_begin(dd->dd_st->st_env, NULL, 0, &dd->dd_hold),
                         "dedup: begin hold", dg);
}

int cdr_dedup_holding(const cdr_dedup *dd)
{
    return dd->dd_hold != NULL;
}

int cdr_dedup_hold_commit(cdr_dedup *dd, cdr_diag *dg)
{
    if (!dd->dd_hold)
        return 0;
    int rc = cdr_dedup_commit(dd, dg);
    if (rc) {
        cdr_dedup_hold_abort(dd);
        return rc;
    }
    rc = mdb_txn_commit(dd->dd_hold);
    dd->dd_hold = NULL;
    return cdr_store_err(rc, "dedup: commit hold", dg);
}

void cdr_dedup_hold_abort(cdr_dedup *dd)
{
    cdr_dedup_abort(dd);
    if (dd->dd_hold)
        mdb_txn_abort(dd->dd_hold);
    dd->dd_hold = NULL;
}

/* ---- records --------------------------------------------------------------------------------- */

static int scratch_reserve(cdr_dedup *dd, size_t n)
{
    if (n <= dd->dd_cap)
        return 0;
    size_t cap = dd->dd_cap ? dd->dd_cap : 1024;
    while (cap < n)
        cap *= 2;
    dedup_sortent *se = realloc(dd->dd_sort, cap * sizeof *se);
    if (!se)
        return CDR_ENOMEM;
    dd->dd_sort = se;
    char *keys = realloc(dd->dd_keys, cap * DEDUP_KEY_MAX);
    if (!keys)
        return CDR_ENOMEM;
    dd->dd_keys = keys;
    dd->dd_cap = cap;
    return 0;
}

/* qsort has no context argument in C11: the key buffer is set around the call */
static _Thread_local const char *sort_keys;

static int sortent_cmp(const void *a, const void *b)
{
    const dedup_sortent *x = a, *y = b;
    size_t n = x->se_len < y->se_len ? x->se_len : y->se_len;
    int c = memcmp(sort_keys + x->se_off, sort_keys + y->se_off, n);
    if (c)
        return c;
    if (x->se_len != y->se_len)
        return x->se_len < y->se_len ? -1 : 1;
    return x->se_item < y->se_item ? -1 : x->se_item > y->se_item;
}

int cdr_dedup_check_batch(cdr_dedup *dd, uint32_t file_id, cdr_dedup_item *items, size_t n,
                          cdr_diag *dg)
{
    if (n == 0)
        return 0;
    int rc = cdr_dedup_begin(dd, dg);
    if (rc)
        return rc;
    if (n > UINT32_MAX / DEDUP_KEY_MAX || scratch_reserve(dd, n))
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "dedup: out of memory");
    for (size_t i = 0; i < n; i++) {
        dedup_sortent *se = &dd->dd_sort[i];
        se->se_off = (uint32_t)(i * DEDUP_KEY_MAX);
        se->se_len = (uint16_t)identity_key(items[i].di_rec, dd->dd_keys + se->se_off);
        se->se_item = (uint32_t)i;
    }
    sort_keys = dd->dd_keys;
    qsort(dd->dd_sort, n, sizeof *dd->dd_sort, sortent_cmp);
    sort_keys = NULL;
    MDB_cursor *cur;
    rc = cdr_store_err(mdb_cursor_open(dd->dd_txn, dd->dd_dbi_ids, &cur), "dedup: cursor", dg);
    if (rc)
        return rc;
    for (size_t g = 0; g < n && !rc;) {
        const dedup_sortent *first = &dd->dd_sort[g];
        cdr_dedup_item *fi = &items[first->se_item];
        uint8_t vb[DEDUP_VAL_LEN];
        orig_encode(vb, fi->di_rec->cr_start, file_id, fi->di_index, fi->di_line);
        MDB_val k = {first->se_len, dd->dd_keys + first->se_off}, v = {DEDUP_VAL_LEN, vb};
        int prc = mdb_cursor_put(cur, &k, &v, MDB_NOOVERWRITE);
        cdr_dedup_orig orig;
        if (prc == MDB_KEYEXIST) {
            orig_decode(&v, &orig); /* v now points at the stored value */
            fi->di_dup = 1;
            fi->di_orig = orig;
        } else if (prc == 0) {
            fi->di_dup = 0;
            orig.do_file_id = file_id;
            orig.do_index = fi->di_index;
            orig.do_line = fi->di_line;
            orig.do_start = fi->di_rec->cr_start;
            dd->dd_recorded++;
            if (fi->di_rec->cr_start > dd->dd_hwm) {
                dd->dd_hwm = fi->di_rec->cr_start;
                dd->dd_hwm_dirty = 1;
            }
        } else {
            rc = cdr_store_err(prc, "dedup: put", dg);
            break;
        }
        size_t e = g + 1;
        for (; e < n && dd->dd_sort[e].se_len == first->se_len &&
               !memcmp(dd->dd_keys + dd->dd_sort[e].se_off, dd->dd_keys + first->se_off,
                       first->se_len);
             e++) {
            cdr_dedup_item *di = &items[dd->dd_sort[e].se_item];
            di->di_dup = 1;
            di->di_orig = orig;
        }
        g = e;
    }
    mdb_cursor_close(cur);
    return rc;
}

int cdr_dedup_check(cdr_dedup *dd, const cdr_record *cr, uint32_t file_id, uint64_t index,
                    uint64_t line, cdr_dedup_orig *orig, cdr_diag *dg)
{
    cdr_dedup_item di = {.di_rec = cr, .di_index = index, .di_line = line};
    int rc = cdr_dedup_check_batch(dd, file_id, &di, 1, dg);
    if (rc)
        return rc;
    if (di.di_dup && orig)
        *orig = di.di_orig;
    return di.di_dup;
}

int cdr_dedup_prune(cdr_dedup *dd, uint64_t max, uint64_t *pruned, cdr_diag *dg)
{
    if (pruned)
        *pruned = 0;
    int rc = cdr_dedup_begin(dd, dg);
    if (rc)
        return rc;
    if (dd->dd_hwm == 0)
        return 0;
    const cdr_time cutoff = dd->dd_hwm - dd->dd_window;
    MDB_stat ms;
    if ((rc = cdr_store_err(mdb_stat(dd->dd_txn, dd->dd_dbi_ids, &ms), "dedup: stat", dg)))
        return rc;
    uint64_t todo = max < ms.ms_entries ? max : ms.ms_entries;
    int whole = max >= ms.ms_entries;
    MDB_cursor *cur;
    if ((rc =
             cdr_store_err(mdb_cursor_open(dd->dd_txn, dd->dd_dbi_ids, &cur), "dedup: cursor", dg)))
        return rc;
    MDB_val k, v;
    int crc;
    if (whole) {
        crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        MDB_val sv;
        if (meta_get(dd, "sweep", 5, &sv) == 0 && sv.mv_size > 0) {
            k = sv;
            crc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (crc == MDB_NOTFOUND)
                crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        } else {
            crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
    }
    uint64_t n = 0;
    for (uint64_t seen = 0; crc == 0 && seen < todo; seen++) {
        cdr_dedup_orig o;
        orig_decode(&v, &o);
        if (o.do_start < cutoff) {
            if ((crc = mdb_cursor_del(cur, 0)) != 0)
                break;
            n++;
        }
        /* after a delete MDB_NEXT yields the entry that followed the deleted one */
        crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (crc == MDB_NOTFOUND && !whole)
            crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    if (crc != 0 && crc != MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        return cdr_store_err(crc, "dedup: prune", dg);
    }
    /* remember where the sweep stops (the key is copied before the cursor goes) */
    uint8_t kb[DEDUP_KEY_MAX];
    size_t klen = 0;
    if (crc == 0 && k.mv_size <= sizeof kb) {
        memcpy(kb, k.mv_data, k.mv_size);
        klen = k.mv_size;
    }
    mdb_cursor_close(cur);
    if (!whole)
        rc = meta_put(dd, "sweep", 5, kb, klen, dg);
    if (pruned)
        *pruned = n;
    return rc;
}

uint64_t cdr_dedup_count(cdr_dedup *dd)
{
    MDB_stat ms;
    if (cdr_dedup_begin(dd, NULL) != 0 || mdb_stat(dd->dd_txn, dd->dd_dbi_ids, &ms) != 0)
        return 0;
    return ms.ms_entries;
}

cdr_time cdr_dedup_newest(cdr_dedup *dd)
{
    if (cdr_dedup_begin(dd, NULL) != 0)
        return 0;
    return dd->dd_hwm;
}

/* ---- files ----------------------------------------------------------------------------------- */

#define FILE_VAL_MAX (1 + 32 + 4 + 1 + 1 + 2 + 255 + 8 * 11)

static size_t file_encode(const cdr_dedup_file *df, uint8_t *b)
{
    uint8_t *p = b;
    *p++ = FILE_VAL_VER;
    memcpy(p, df->df_hash, 32);
    p += 32;
    cdr_put_be32(p, df->df_id);
    p += 4;
    *p++ = df->df_state;
    *p++ = df->df_kind;
    size_t nl = strnlen(df->df_name, sizeof df->df_name - 1);
    *p++ = (uint8_t)(nl >> 8);
    *p++ = (uint8_t)nl;
    memcpy(p, df->df_name, nl);
    p += nl;
    const uint64_t nums[11] = {(uint64_t)df->df_first_seen,
                               (uint64_t)df->df_finished,
                               (uint64_t)df->df_max_start,
                               df->df_size,
                               df->df_next,
                               df->df_stats.cs_read,
                               df->df_stats.cs_published,
                               df->df_stats.cs_rejected,
                               df->df_stats.cs_duplicate,
                               df->df_stats.cs_nonbillable,
                               0};
    for (int i = 0; i < 11; i++, p += 8)
        cdr_put_be64(p, nums[i]);
    return (size_t)(p - b);
}

static int file_decode(const MDB_val *v, cdr_dedup_file *df)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    memset(df, 0, sizeof *df);
    if (v->mv_size < 1 + 32 + 4 + 4 || p[0] != FILE_VAL_VER)
        return CDR_VERSION;
    p++;
    memcpy(df->df_hash, p, 32);
    p += 32;
    df->df_id = cdr_get_be32(p);
    p += 4;
    df->df_state = *p++;
    df->df_kind = *p++;
    size_t nl = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (nl >= sizeof df->df_name || (size_t)(end - p) < nl + 8 * 11)
        return CDR_FORMAT;
    memcpy(df->df_name, p, nl);
    p += nl;
    uint64_t nums[11];
    for (int i = 0; i < 11; i++, p += 8)
        nums[i] = cdr_get_be64(p);
    df->df_first_seen = (int64_t)nums[0];
    df->df_finished = (int64_t)nums[1];
    df->df_max_start = (cdr_time)nums[2];
    df->df_size = nums[3];
    df->df_next = nums[4];
    df->df_stats.cs_read = nums[5];
    df->df_stats.cs_published = nums[6];
    df->df_stats.cs_rejected = nums[7];
    df->df_stats.cs_duplicate = nums[8];
    df->df_stats.cs_nonbillable = nums[9];
    return 0;
}

int cdr_dedup_file_get(cdr_dedup *dd, const uint8_t hash[CDR_SHA256_LEN], cdr_dedup_file *df,
                       cdr_diag *dg)
{
    int rc = cdr_dedup_begin(dd, dg);
    if (rc)
        return rc;
    MDB_val k = {CDR_SHA256_LEN, (void *)hash}, v;
    rc = mdb_get(dd->dd_txn, dd->dd_dbi_files, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CDR_NOTFOUND;
    if (rc)
        return cdr_store_err(rc, "dedup: file", dg);
    if (file_decode(&v, df))
        return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "dedup: unreadable file entry");
    return 0;
}

int cdr_dedup_file_put(cdr_dedup *dd, const cdr_dedup_file *df, cdr_diag *dg)
{
    int rc = cdr_dedup_begin(dd, dg);
    if (rc)
        return rc;
    uint8_t b[FILE_VAL_MAX];
    MDB_val k = {CDR_SHA256_LEN, (void *)df->df_hash}, v = {file_encode(df, b), b};
    return cdr_store_err(mdb_put(dd->dd_txn, dd->dd_dbi_files, &k, &v, 0), "dedup: file", dg);
}

int cdr_dedup_file_add(cdr_dedup *dd, const uint8_t hash[CDR_SHA256_LEN], const char *name,
                       int kind, uint64_t size, cdr_dedup_file *df, cdr_diag *dg)
{
    uint8_t h[CDR_SHA256_LEN]; /* hash may point into df */
    memcpy(h, hash, sizeof h);
    hash = h;
    cdr_dedup_file old;
    int rc = cdr_dedup_file_get(dd, hash, &old, dg);
    if (rc == 0)
        return cdr_diag_set(dg, CDR_EXISTS, name, 0, 0, "input already registered");
    if (rc != CDR_NOTFOUND)
        return rc;
    MDB_val v;
    uint32_t id = 1;
    if (meta_get(dd, "fid", 3, &v) == 0 && v.mv_size == 4)
        id = cdr_get_be32(v.mv_data);
    if (id == 0 || id == UINT32_MAX)
        id = 1; /* wrapped after four billion inputs: ids of pruned files are reused */
    uint8_t b[4];
    cdr_put_be32(b, id + 1);
    if ((rc = meta_put(dd, "fid", 3, b, 4, dg)))
        return rc;
    uint8_t ik[5] = {'i'};
    cdr_put_be32(ik + 1, id);
    if ((rc = meta_put(dd, ik, 5, hash, CDR_SHA256_LEN, dg)))
        return rc;
    memset(df, 0, sizeof *df);
    memcpy(df->df_hash, hash, CDR_SHA256_LEN);
    df->df_id = id;
    df->df_state = CDR_FILE_INPROGRESS;
    df->df_kind = (uint8_t)kind;
    snprintf(df->df_name, sizeof df->df_name, "%s", name ? name : "");
    df->df_first_seen = (int64_t)time(NULL);
    df->df_size = size;
    return cdr_dedup_file_put(dd, df, dg);
}

const char *cdr_dedup_file_name(cdr_dedup *dd, uint32_t file_id, char *buf, size_t bufsize)
{
    snprintf(buf, bufsize, "?");
    if (cdr_dedup_begin(dd, NULL) != 0)
        return buf;
    uint8_t ik[5] = {'i'};
    cdr_put_be32(ik + 1, file_id);
    MDB_val v;
    cdr_dedup_file df;
    if (meta_get(dd, ik, 5, &v) == 0 && v.mv_size == CDR_SHA256_LEN &&
        cdr_dedup_file_get(dd, v.mv_data, &df, NULL) == 0)
        snprintf(buf, bufsize, "%s", df.df_name);
    return buf;
}

int cdr_dedup_prune_files(cdr_dedup *dd, uint64_t *pruned, cdr_diag *dg)
{
    if (pruned)
        *pruned = 0;
    int rc = cdr_dedup_begin(dd, dg);
    if (rc || dd->dd_hwm == 0)
        return rc;
    const cdr_time cutoff = dd->dd_hwm - dd->dd_window;
    MDB_cursor *cur;
    if ((rc = cdr_store_err(mdb_cursor_open(dd->dd_txn, dd->dd_dbi_files, &cur), "dedup: cursor",
                            dg)))
        return rc;
    MDB_val k, v;
    uint64_t n = 0;
    int crc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (crc == 0) {
        cdr_dedup_file df;
        if (file_decode(&v, &df) == 0 && df.df_state == CDR_FILE_MOVED &&
            df.df_max_start < cutoff) {
            uint8_t ik[5] = {'i'};
            cdr_put_be32(ik + 1, df.df_id);
            MDB_val ikv = {5, ik};
            int drc = mdb_del(dd->dd_txn, dd->dd_dbi_meta, &ikv, NULL);
            if (drc && drc != MDB_NOTFOUND) {
                crc = drc;
                break;
            }
            if ((crc = mdb_cursor_del(cur, 0)) != 0)
                break;
            n++;
        }
        crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (crc != MDB_NOTFOUND)
        return cdr_store_err(crc, "dedup: prune files", dg);
    if (pruned)
        *pruned = n;
    return 0;
}
