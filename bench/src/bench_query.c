/* bench_query.c - `cdrate bench query`: balance queries per second and their latency, against a
 * plain GET loop on the same clients and connections (docs/benchmarks.md).
 *
 * Not timed: a store with the embedded plans and a generated directory; CDRs generated and rated
 * by the rating core; their live state written the way the product writes it (the projection's
 * Redis sink with --redis, the store's accumulator with --embedded). Timed: C client threads, each
 * with its own connection, answering balance queries for random lines with cdr_live_query (the
 * path of `cdrate query balance`: the line's directory part from the store, the account's state
 * from Redis or the store), and the same threads on the same connections doing plain GETs (Redis)
 * or point reads (the store), the two phases alternating in rounds.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_archive.h"
#include "cdr_bench.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "cdr_redis.h"

typedef struct bq_client {
    pthread_t bc_thread;
    const cdr_bench_query_config *bc_cfg;
    cdr_store *bc_st;
    const cdr_plan_set *bc_ps;
    const cdr_subtab *bc_subs;
    uint32_t bc_cycle;
    cdr_redis *bc_r;
    uint64_t bc_n; /* operations to do */
    uint64_t bc_seed;
    int bc_get;          /* 0: balance queries, 1: plain reads */
    uint32_t *bc_lat_us; /* [bc_n] latencies */
    int bc_rc;
    cdr_diag bc_dg;
} bq_client;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *client_run(void *arg)
{
    bq_client *c = arg;
    cdr_diag_clear(&c->bc_dg);
    size_t nsubs = cdr_subtab_count(c->bc_subs);
    MDB_dbi dbi = 0;
    if (c->bc_get && !c->bc_r) {
        MDB_txn *txn;
        if (mdb_txn_begin(c->bc_st->st_env, NULL, MDB_RDONLY, &txn) == 0) {
            mdb_dbi_open(txn, CDR_DB_LIVE_ACCOUNTS, 0, &dbi);
            mdb_txn_abort(txn);
        }
    }
    for (uint64_t i = 0; i < c->bc_n && !c->bc_rc; i++) {
        const cdr_sub *su = cdr_subtab_at(c->bc_subs, next_rand(&c->bc_seed) % nsubs);
        uint64_t t0 = cdr_bench_now_ns();
        if (!c->bc_get) {
            cdr_live_view v;
            c->bc_rc = cdr_live_query(c->bc_st, c->bc_r, c->bc_ps, su->su_msisdn, c->bc_cycle,
                                      CDR_LIVE_Q_BALANCE, &v, &c->bc_dg);
            if (!c->bc_rc)
                cdr_live_view_free(&v);
        } else if (c->bc_r) {
            char buf[64];
            int rc = cdr_redis_get(c->bc_r, "cdr:{bench}:get", buf, sizeof buf, NULL, &c->bc_dg);
            c->bc_rc = rc == CDR_NOTFOUND ? 0 : rc;
        } else { /* one point read of an account's state, in its own read transaction */
            MDB_txn *txn;
            uint8_t kb[12];
            for (int b = 0; b < 8; b++)
                kb[b] = (uint8_t)(su->su_account >> (56 - 8 * b));
            for (int b = 0; b < 4; b++)
                kb[8 + b] = (uint8_t)(c->bc_cycle >> (24 - 8 * b));
            MDB_val k = {sizeof kb, kb}, v;
            if (mdb_txn_begin(c->bc_st->st_env, NULL, MDB_RDONLY, &txn) != 0) {
                c->bc_rc = cdr_diag_set(&c->bc_dg, CDR_STORE, NULL, 0, 0, "read transaction");
                break;
            }
            (void)mdb_get(txn, dbi, &k, &v);
            mdb_txn_abort(txn);
        }
        uint64_t us = (cdr_bench_now_ns() - t0) / 1000;
        c->bc_lat_us[i] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The operations of one phase (queries or gets) over all its rounds. */
typedef struct bq_phase {
    double bp_secs;   /* summed over the rounds */
    uint64_t bp_ops;  /* done */
    uint32_t *bp_lat; /* [total] latencies in us, in the order the rounds ran */
} bq_phase;

/* Run one round of the clients (queries or gets), each doing its share `per` of the phase's
 * operations; their time and latencies into ph. */
static int run_round(bq_client *cl, unsigned n, int get, uint64_t per, bq_phase *ph, cdr_diag *dg)
{
    for (unsigned i = 0; i < n; i++) {
        cl[i].bc_get = get;
        cl[i].bc_rc = 0;
        cl[i].bc_n = per;
    }
    uint64_t t0 = cdr_bench_now_ns();
    unsigned started = 0;
    for (; started < n; started++)
        if (pthread_create(&cl[started].bc_thread, NULL, client_run, &cl[started]) != 0)
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(cl[i].bc_thread, NULL);
    ph->bp_secs += (double)(cdr_bench_now_ns() - t0) / 1e9;
    if (started < n)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "cannot start the client threads");
    for (unsigned i = 0; i < n; i++) {
        if (cl[i].bc_rc) {
            *dg = cl[i].bc_dg;
            return cl[i].bc_rc;
        }
        memcpy(ph->bp_lat + ph->bp_ops, cl[i].bc_lat_us, per * sizeof *ph->bp_lat);
        ph->bp_ops += per;
    }
    return 0;
}

/* Ops per second and the latency percentiles in ms of a finished phase. */
static void phase_figures(bq_phase *ph, double *per_sec, double *p50, double *p99)
{
    qsort(ph->bp_lat, ph->bp_ops, sizeof *ph->bp_lat, cmp_u32);
    *per_sec = ph->bp_secs > 0 ? (double)ph->bp_ops / ph->bp_secs : 0;
    *p50 = ph->bp_ops ? ph->bp_lat[ph->bp_ops / 2] / 1000.0 : 0;
    *p99 = ph->bp_ops ? ph->bp_lat[ph->bp_ops * 99 / 100] / 1000.0 : 0;
}

int cdr_bench_live_build(uint64_t cdrs, cdr_gen *g, cdr_store *st, cdr_plan_set *ps,
                         const cdr_subtab *subs, cdr_redis *r, uint32_t *cycle, cdr_diag *dg)
{
    enum { BATCH = 10000 };
    cdr_rater *rt = NULL;
    cdr_record *recs = malloc(BATCH * sizeof *recs);
    cdr_rated *rated = malloc(BATCH * sizeof *rated);
    cdr_ledger_rec *lr = r ? malloc(BATCH * sizeof *lr) : NULL;
    cdr_live_acc *acc = NULL;
    cdr_live_rsink *rs = NULL;
    int rc = 0;
    if (!recs || !rated || (r && !lr)) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    char group[64];
    snprintf(group, sizeof group, "bench-query-%ld", (long)getpid());
    if ((rc = cdr_rater_create(1, ps, subs, &rt)) != 0 ||
        (!r && (rc = cdr_live_acc_create(&acc)) != 0)) {
        rc = cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the rater");
        goto done;
    }
    if (r && (rc = cdr_live_rsink_open(r, st, group, &rs, dg)) != 0)
        goto done;
    const cdr_archive_sink *sk = rs ? cdr_live_rsink_archive(rs) : NULL;
    int64_t offset = 0;
    for (uint64_t done_n = 0; done_n < cdrs && !rc;) {
        size_t n = cdrs - done_n < BATCH ? (size_t)(cdrs - done_n) : BATCH;
        cdr_gen_cdrs(g, recs, n);
        if ((rc = cdr_rater_rate(rt, recs, n, rated, NULL)) != 0) {
            rc = cdr_diag_set(dg, rc, NULL, 0, 0, "rating failed");
            break;
        }
        size_t m = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            if (rated[i].rr_reason)
                continue;
            if (!*cycle)
                *cycle = rated[i].rr_cycle;
            if (acc) {
                rc = cdr_live_acc_add(acc, cdr_subtab_find(subs, recs[i].cr_msisdn), &recs[i],
                                      &rated[i], cdr_rater_batch_plan(rt, i));
                if (rc)
                    rc = cdr_diag_set(dg, rc, NULL, 0, 0, "live state: %s", cdr_strerror(rc));
            } else {
                lr[m].lr_offset = offset++;
                lr[m].lr_cdr = recs[i];
                lr[m].lr_rated = rated[i];
                const cdr_plan *pl = cdr_rater_batch_plan(rt, i);
                snprintf(lr[m].lr_plan, sizeof lr[m].lr_plan, "%s", pl ? pl->pl_id : "");
                m++;
            }
        }
        if (!rc && sk && m)
            rc = sk->sk_append(sk->sk_arg, 0, lr, m, lr[m - 1].lr_offset, dg);
        done_n += n;
    }
    if (!rc && acc) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0) {
            rc = cdr_store_err(rc, "begin", dg);
        } else if ((rc = cdr_live_acc_write(acc, txn, dg)) != 0) {
            mdb_txn_abort(txn);
        } else if ((rc = mdb_txn_commit(txn)) != 0) {
            rc = cdr_store_err(rc, "commit", dg);
        }
    }
done:
    cdr_live_rsink_close(rs);
    cdr_live_acc_free(acc);
    cdr_rater_destroy(rt);
    free(recs);
    free(rated);
    free(lr);
    return rc;
}

int cdr_bench_query(const cdr_bench_query_config *bq, FILE *out, FILE *progress, cdr_diag *dg)
{
    const unsigned nc = bq->bq_clients ? bq->bq_clients : 4;
    const uint64_t nq = bq->bq_queries ? bq->bq_queries : 200000;
    char dir[4096], store[4200];
    const int wrc = cdr_bench_workdir(NULL, "query", dir, sizeof dir, dg);
    if (wrc)
        return wrc;
    snprintf(store, sizeof store, "%s/store", dir);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = bq->bq_seed;
    gc.gc_subscribers = bq->bq_subscribers ? bq->bq_subscribers : 100000;
    cdr_gen *g = NULL;
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    bq_client *cl = calloc(nc, sizeof *cl);
    uint32_t cycle = 0;
    bq_phase ph[2] = {{0, 0, NULL}, {0, 0, NULL}};
    int rc = cl ? cdr_gen_create(&gc, &g) : CDR_ENOMEM;
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the population");
        goto done;
    }
    if (progress)
        fprintf(progress, "bench query: %zu subscribers, %" PRIu64 " CDRs rated into the %s\n",
                gc.gc_subscribers, bq->bq_cdrs, bq->bq_redis ? "Redis" : "store");
    if ((rc = cdr_bench_store_build(dir, g, store, &st, &ps, &subs, dg)) != 0)
        goto done;
    /* The phases alternate in ROUNDS rounds (queries, gets, queries, ...), so that a change in the
     * machine's load during the run weighs on both sides of the ratio alike. */
    enum { ROUNDS = 5 };
    const uint64_t per = nq / ((uint64_t)nc * ROUNDS) ? nq / ((uint64_t)nc * ROUNDS) : 1;
    const uint64_t total = per * nc * ROUNDS; /* nq, rounded down to whole rounds */
    ph[0].bp_lat = malloc(total * sizeof(uint32_t));
    ph[1].bp_lat = malloc(total * sizeof(uint32_t));
    if (!ph[0].bp_lat || !ph[1].bp_lat)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (unsigned i = 0; i < nc && !rc; i++) {
        cl[i].bc_cfg = bq;
        cl[i].bc_st = st;
        cl[i].bc_ps = ps;
        cl[i].bc_subs = subs;
        cl[i].bc_seed = bq->bq_seed * 7919 + i + 1;
        if (!(cl[i].bc_lat_us = malloc((per + 1) * sizeof *cl[i].bc_lat_us)))
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        else if (bq->bq_redis)
            rc = cdr_redis_open(bq->bq_redis, 5000, &cl[i].bc_r, dg);
    }
    if (rc ||
        (rc = cdr_bench_live_build(bq->bq_cdrs, g, st, ps, subs, cl[0].bc_r, &cycle, dg)) != 0)
        goto done;
    for (unsigned i = 0; i < nc; i++)
        cl[i].bc_cycle = cycle;
    if (progress)
        fprintf(progress,
                "bench query: %" PRIu64 " balance queries and as many plain %s, in %d "
                "alternating rounds on %u clients\n",
                total, bq->bq_redis ? "GETs" : "point reads", ROUNDS, nc);
    for (int r = 0; r < ROUNDS && !rc; r++)
        if ((rc = run_round(cl, nc, 0, per, &ph[0], dg)) == 0)
            rc = run_round(cl, nc, 1, per, &ph[1], dg);
    if (rc)
        goto done;
    double qps, qp50, qp99, gps, gp50, gp99;
    phase_figures(&ph[0], &qps, &qp50, &qp99);
    phase_figures(&ph[1], &gps, &gp50, &gp99);
    fprintf(out,
            "{\"bench\":\"query\",\"backend\":\"%s\",\"subscribers\":%zu,\"cdrs\":%" PRIu64
            ",\"clients\":%u,\"queries\":%" PRIu64 ",\"queries_per_sec\":%.0f,\"p50_ms\":%.3f,"
            "\"p99_ms\":%.3f,\"get_per_sec\":%.0f,\"get_p50_ms\":%.3f,\"get_p99_ms\":%.3f,"
            "\"ratio\":%.3f}\n",
            bq->bq_redis ? "redis" : "embedded", gc.gc_subscribers, bq->bq_cdrs, nc, total, qps,
            qp50, qp99, gps, gp50, gp99, gps > 0 ? qps / gps : 0.0);
    fflush(out);
done:
    for (unsigned i = 0; cl && i < nc; i++) {
        cdr_redis_close(cl[i].bc_r);
        free(cl[i].bc_lat_us);
    }
    free(cl);
    free(ph[0].bp_lat);
    free(ph[1].bp_lat);
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cdr_gen_destroy(g);
    cdr_bench_remove_tree(dir);
    return rc;
}
