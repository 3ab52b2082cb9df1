/* live_project.c - the live state's projection of cdr.rated into the store (cdr_live.h): the
 * archiver's sink that sums a partition's batch and adds it to the state in one write transaction
 * with the partition's next offset.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_archive.h"
#include "cdr_bytes.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "live_int.h"

#define APPLIED_KEY_MAX 300

struct cdr_live_sink {
    cdr_store *ls_st;
    char ls_topic[APPLIED_KEY_MAX];
    cdr_subtab *ls_subs;
    cdr_plan_set *ls_ps;
    int64_t *ls_next; /* [ls_nparts] next offset per partition, 0 = from the beginning */
    uint32_t ls_nparts;
    int ls_failed; /* an append failed: the sink refuses more (the archiver stops) */
    cdr_archive_sink ls_sink;
    cdr_live_sink_stats ls_stats;
};

static size_t applied_key(const char *topic, uint32_t partition, uint8_t *kb)
{
    size_t n = strlen(topic);
    memcpy(kb, topic, n);
    kb[n] = '/';
    cdr_put_be32(kb + n + 1, partition);
    return n + 5;
}

static int grow_parts(cdr_live_sink *ls, uint32_t partition)
{
    if (partition < ls->ls_nparts)
        return 0;
    uint32_t n = partition + 1;
    int64_t *nn = realloc(ls->ls_next, n * sizeof *nn);
    if (!nn)
        return CDR_ENOMEM;
    for (uint32_t i = ls->ls_nparts; i < n; i++)
        nn[i] = 0;
    ls->ls_next = nn;
    ls->ls_nparts = n;
    return 0;
}

/* Read the next offsets of every partition of the topic. */
static int load_applied(cdr_live_sink *ls, cdr_diag *dg)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ls->ls_st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin live state read", dg);
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn, CDR_DB_LIVE_APPLIED, 0, &dbi);
    if (rc == MDB_NOTFOUND) { /* nothing projected yet */
        mdb_txn_abort(txn);
        return 0;
    }
    MDB_cursor *cur = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return cdr_store_err(rc, "read live state offsets", dg);
    }
    uint8_t kb[APPLIED_KEY_MAX];
    size_t plen = applied_key(ls->ls_topic, 0, kb) - 4;
    MDB_val k = {plen, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 4 || memcmp(k.mv_data, kb, plen) != 0)
            break;
        uint32_t p = cdr_get_be32((const uint8_t *)k.mv_data + plen);
        if (v.mv_size != 8 || grow_parts(ls, p) != 0) {
            rc = v.mv_size != 8 ? MDB_CORRUPTED : MDB_MAP_FULL;
            break;
        }
        int64_t next;
        memcpy(&next, v.mv_data, 8);
        ls->ls_next[p] = next;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : cdr_store_err(rc, "read live state offsets", dg);
}

int live_view_load(cdr_store *st, cdr_subtab **subs, cdr_plan_set **ps, cdr_diag *dg)
{
    cdr_subtab *ns;
    int rc = cdr_dir_rating_view(st, &ns, dg);
    if (rc)
        return rc;
    cdr_plan_set *nps = NULL;
    cdr_diag pdg;
    if (cdr_plan_set_load(st, &nps, &pdg) != 0)
        nps = NULL; /* roaming and bundles are then not told apart; the money is the same */
    cdr_subtab_free(*subs);
    cdr_plan_set_release(*ps);
    *subs = ns;
    *ps = nps;
    return 0;
}

const cdr_plan *live_rating_plan(const cdr_plan_set *ps, const cdr_ledger_rec *r)
{
    int fam = ps ? cdr_plan_set_family(ps, r->lr_plan) : -1;
    const cdr_plan *pl = fam >= 0 ? cdr_plan_set_at(ps, fam, r->lr_cdr.cr_start) : NULL;
    return pl && pl->pl_version == r->lr_rated.rr_plan_version ? pl : NULL;
}

static int64_t sink_next(void *arg, uint32_t partition)
{
    const cdr_live_sink *ls = arg;
    return partition < ls->ls_nparts ? ls->ls_next[partition] : 0;
}

static uint64_t sink_stored(void *arg)
{
    return ((const cdr_live_sink *)arg)->ls_stats.ls_applied;
}

static int sink_append(void *arg, uint32_t partition, const cdr_ledger_rec *recs, size_t n,
                       int64_t last, cdr_diag *dg)
{
    cdr_live_sink *ls = arg;
    if (ls->ls_failed)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "live state: a write failed before");
    if (grow_parts(ls, partition) != 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    const int64_t from = ls->ls_next[partition];
    if (last < from)
        return 0; /* held already */
    cdr_live_acc *acc;
    if (cdr_live_acc_create(&acc) != 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int rc = 0, reloaded = 0;
    uint64_t applied = 0, unknown = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const cdr_ledger_rec *r = &recs[i];
        if (r->lr_offset < from)
            continue;
        const cdr_sub *su = cdr_subtab_find(ls->ls_subs, r->lr_cdr.cr_msisdn);
        if (!su && !reloaded) { /* the directory may have been reloaded since: read it again */
            reloaded = 1;
            if ((rc = live_view_load(ls->ls_st, &ls->ls_subs, &ls->ls_ps, dg)) != 0)
                break;
            su = cdr_subtab_find(ls->ls_subs, r->lr_cdr.cr_msisdn);
        }
        applied++;
        if (!su) {
            unknown++;
            fprintf(stderr,
                    "cdrate project: %s partition %" PRIu32 " offset %" PRId64
                    ": msisdn %s is not in the directory: its charge is in no line or account\n",
                    ls->ls_topic, partition, r->lr_offset, r->lr_cdr.cr_msisdn);
            continue;
        }
        rc = cdr_live_acc_add(acc, su, &r->lr_cdr, &r->lr_rated, live_rating_plan(ls->ls_ps, r));
        if (rc == CDR_LIMIT)
            rc = cdr_diag_set(
                dg, CDR_LIMIT, NULL, 0, 0,
                "%s partition %" PRIu32 " offset %" PRId64
                ": msisdn %s would hold more than %d currencies or %d bundles in cycle %u",
                ls->ls_topic, partition, r->lr_offset, r->lr_cdr.cr_msisdn, CDR_LIVE_MAX_CURRENCIES,
                CDR_PLAN_MAX_BUNDLES, (unsigned)r->lr_rated.rr_cycle);
        else if (rc)
            rc = cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    }
    MDB_txn *txn = NULL;
    if (!rc && (rc = mdb_txn_begin(ls->ls_st->st_env, NULL, 0, &txn)) != 0)
        rc = cdr_store_err(rc, "begin live state write", dg);
    if (!rc)
        rc = cdr_live_acc_write(acc, txn, dg);
    if (!rc) {
        MDB_dbi dbi;
        uint8_t kb[APPLIED_KEY_MAX];
        int64_t next = last + 1;
        MDB_val k = {applied_key(ls->ls_topic, partition, kb), kb}, v = {8, &next};
        if ((rc = cdr_store_dbi(txn, CDR_DB_LIVE_APPLIED, MDB_CREATE, &dbi, dg)) == 0 &&
            (rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
            rc = cdr_store_err(rc, "write live state offsets", dg);
    }
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc)
            rc = cdr_store_err(rc, "commit live state", dg);
    }
    if (txn)
        mdb_txn_abort(txn);
    cdr_live_acc_free(acc);
    if (rc) {
        ls->ls_failed = 1;
        return rc;
    }
    ls->ls_next[partition] = last + 1;
    ls->ls_stats.ls_applied += applied;
    ls->ls_stats.ls_unknown += unknown;
    ls->ls_stats.ls_batches++;
    return 0;
}

int cdr_live_sink_open(cdr_store *st, const char *topic, cdr_live_sink **out, cdr_diag *dg)
{
    *out = NULL;
    if (strlen(topic) + 5 > APPLIED_KEY_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "topic name too long");
    cdr_live_sink *ls = calloc(1, sizeof *ls);
    if (!ls)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    ls->ls_st = st;
    snprintf(ls->ls_topic, sizeof ls->ls_topic, "%s", topic);
    int rc = live_view_load(ls->ls_st, &ls->ls_subs, &ls->ls_ps, dg);
    if (!rc)
        rc = load_applied(ls, dg);
    if (rc) {
        cdr_live_sink_close(ls);
        return rc;
    }
    ls->ls_sink =
        (cdr_archive_sink){"live state", st->st_path, ls, sink_next, sink_append, sink_stored};
    *out = ls;
    return 0;
}

void cdr_live_sink_close(cdr_live_sink *ls)
{
    if (!ls)
        return;
    cdr_subtab_free(ls->ls_subs);
    cdr_plan_set_release(ls->ls_ps);
    free(ls->ls_next);
    free(ls);
}

const cdr_archive_sink *cdr_live_sink_archive(cdr_live_sink *ls)
{
    return &ls->ls_sink;
}

void cdr_live_sink_stats_get(const cdr_live_sink *ls, cdr_live_sink_stats *out)
{
    *out = ls->ls_stats;
}
