/* counters.c - bundle counters in the store, seen from outside the rater: what a counter's tag
 * means, and deleting counters (`cdrate counters reset`). The key layout is rater.c's (holder be64,
 * cycle be32, tag be64; value used le64, owner le64), decoded with cdr_counter_change_decode.
 */
#include <inttypes.h>
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_fraud.h"
#include "cdr_stream.h"

/* The top two bits of a tag; rater.c's CTR_OWN, CTR_POOL, CTR_MEMBER. */
#define CTR_KIND_SHIFT 62
#define CTR_TAGMASK    ((1ULL << 62) - 1)

int cdr_counter_tag_kind(uint64_t tag)
{
    return (int)(tag >> CTR_KIND_SHIFT);
}

int cdr_counter_tag_service(uint64_t tag)
{
    int kind = cdr_counter_tag_kind(tag);
    if (kind != CDR_COUNTER_POOL && kind != CDR_COUNTER_MEMBER)
        return -1;
    uint64_t svc = tag & CTR_TAGMASK;
    return svc < CDR_SVC_COUNT ? (int)svc : -1;
}

/* The one definition: the rater tags own bundles with it (tests/unit/test_directory.c checks a
 * rated run's counters against it). */
uint64_t cdr_counter_bundle_tag(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 1099511628211ULL;
    }
    return ((uint64_t)CDR_COUNTER_OWN << CTR_KIND_SHIFT) | (cdr_mix64(h) & CTR_TAGMASK);
}

int cdr_counters_delete(cdr_store *st, cdr_counter_match_fn match, void *arg, int dry_run,
                        uint64_t *n, cdr_diag *dg)
{
    *n = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, dry_run ? MDB_RDONLY : 0, &txn);
    if (rc)
        return cdr_store_err(rc, "begin counters transaction", dg);
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    rc = mdb_dbi_open(txn, CDR_DB_COUNTERS, 0, &dbi);
    if (rc == MDB_NOTFOUND) { /* nothing was ever rated into this store */
        mdb_txn_abort(txn);
        return 0;
    }
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "open counters", dg);
    }
    MDB_val k, v;
    uint64_t seen = 0, hits = 0;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        seen++;
        cdr_counter_change cc;
        if (cdr_counter_change_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &cc)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                              "counter entry %" PRIu64 " has a %zu-byte key and a %zu-byte value "
                              "(want %d and %d)",
                              seen, k.mv_size, v.mv_size, CDR_COUNTER_KEY_LEN, CDR_COUNTER_VAL_LEN);
            break;
        }
        if (match && !match(arg, &cc))
            continue;
        hits++;
        /* after mdb_cursor_del the cursor's MDB_NEXT yields the entry that followed */
        if (!dry_run && (rc = mdb_cursor_del(cur, 0)) != 0)
            rc = cdr_store_err(rc, "delete counter", dg);
    }
    if (!rc && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read counters", dg);
    mdb_cursor_close(cur);
    if (rc || dry_run) {
        mdb_txn_abort(txn);
        if (!rc)
            *n = hits;
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return cdr_store_err(rc, "commit counters", dg);
    *n = hits;
    return 0;
}

/* ---- fraud-rule state on the changelog ------------------------------------------------------- */

size_t cdr_fraud_change_encode(const cdr_fraud_change *fc, uint8_t key[CDR_FRAUD_KEY_LEN],
                               uint8_t *val)
{
    key[0] = 'F';
    cdr_put_be(key + 1, fc->fc_subscriber, 8);
    key[9] = (uint8_t)fc->fc_rule;
    memcpy(val, &fc->fc_owner, 8);
    return 8 + cdr_fraud_line_encode(fc->fc_state, val + 8);
}

int cdr_fraud_change_is(const void *key, size_t klen)
{
    return klen == CDR_FRAUD_KEY_LEN && ((const uint8_t *)key)[0] == 'F';
}

int cdr_fraud_change_decode(const void *key, size_t klen, const void *val, size_t vlen,
                            cdr_fraud_change *fc, cdr_fraud_line *st)
{
    const uint8_t *k = key, *v = val;
    if (!cdr_fraud_change_is(key, klen) || vlen < 9 || k[9] >= CDR_FRAUD_MAX_RULES ||
        cdr_fraud_line_decode(v + 8, vlen - 8, st) != 0)
        return CDR_FORMAT;
    fc->fc_subscriber = cdr_get_be(k + 1, 8);
    fc->fc_rule = k[9];
    memcpy(&fc->fc_owner, v, 8);
    fc->fc_state = st;
    return 0;
}
