/* bench_serve.c - `cdrate bench serve`: the portal's IVR balance endpoint under load from Debian's
 * wrk, against a static answer of the same server in the same run (docs/benchmarks.md). The path is
 * the real one: an API key checked against the store, the access rule, the live state read
 * (store or Redis), the arrears, the JSON written and sent over keep-alive HTTP/1.1. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_live.h"
#include "cdr_portal.h"
#include "cdr_redis.h"
#include "cdr_users.h"

typedef struct srv_run {
    cdr_portal_config cfg;
    volatile sig_atomic_t stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned port;
    int done, rc;
    cdr_diag dg;
} srv_run;

static void on_ready(void *arg, unsigned port)
{
    srv_run *sr = arg;
    pthread_mutex_lock(&sr->mu);
    sr->port = port;
    pthread_cond_broadcast(&sr->cv);
    pthread_mutex_unlock(&sr->mu);
}

static void *serve_thread(void *arg)
{
    srv_run *sr = arg;
    int rc = cdr_portal_serve(&sr->cfg, &sr->dg);
    pthread_mutex_lock(&sr->mu);
    sr->rc = rc;
    sr->done = 1;
    pthread_cond_broadcast(&sr->cv);
    pthread_mutex_unlock(&sr->mu);
    return NULL;
}

/* "1.23ms" / "812.00us" / "1.02s" -> milliseconds; -1 when not a duration. */
static double wrk_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    if (!strncmp(end, "us", 2))
        return v / 1000.0;
    if (!strncmp(end, "ms", 2))
        return v;
    if (!strncmp(end, "s", 1))
        return v * 1000.0;
    if (!strncmp(end, "m", 1))
        return v * 60000.0;
    return -1;
}

typedef struct wrk_figures {
    double rps, p50, p99;
    uint64_t requests, non2xx, errors;
} wrk_figures;

/* Run wrk against url (with the header hdr, may be NULL) and read its figures. */
static int run_wrk(const cdr_bench_serve_config *bs, const char *url, const char *hdr,
                   wrk_figures *wf, cdr_diag *dg)
{
    char cmd[1024];
    unsigned conns = bs->bs_connections ? bs->bs_connections : 50;
    unsigned secs = bs->bs_seconds ? bs->bs_seconds : 10;
    /* the key is given in a header: it is a benchmark key, made and dropped with this run */
    snprintf(cmd, sizeof cmd, "wrk -t2 -c%u -d%us --latency %s%s%s '%s' 2>&1", conns, secs,
             hdr ? "-H '" : "", hdr ? hdr : "", hdr ? "'" : "", url);
    FILE *p = popen(cmd, "r");
    if (!p)
        return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "cannot run wrk");
    memset(wf, 0, sizeof *wf);
    wf->p50 = wf->p99 = -1;
    char line[512];
    while (fgets(line, sizeof line, p)) {
        char *t = line;
        while (*t == ' ')
            t++;
        if (!strncmp(t, "Requests/sec:", 13))
            wf->rps = strtod(t + 13, NULL);
        else if (!strncmp(t, "50%", 3))
            wf->p50 = wrk_ms(t + 3 + strspn(t + 3, " \t"));
        else if (!strncmp(t, "99%", 3))
            wf->p99 = wrk_ms(t + 3 + strspn(t + 3, " \t"));
        else if (strstr(t, "requests in"))
            wf->requests = strtoull(t, NULL, 10);
        else if (!strncmp(t, "Non-2xx or 3xx responses:", 25))
            wf->non2xx = strtoull(t + 25, NULL, 10);
        else if (!strncmp(t, "Socket errors:", 14))
            wf->errors = 1;
    }
    int st = pclose(p);
    if (st != 0 || wf->rps <= 0 || wf->p50 < 0 || wf->p99 < 0)
        return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0,
                            "wrk failed or printed no figures (is Debian's wrk installed? "
                            "scripts/setup.sh installs it)");
    if (wf->non2xx)
        return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0,
                            "%" PRIu64 " of %" PRIu64 " answers of %s were not 2xx", wf->non2xx,
                            wf->requests, url);
    return 0;
}

int cdr_bench_serve(const cdr_bench_serve_config *bs, FILE *out, FILE *progress, cdr_diag *dg)
{
    char dir[4096], store[4200];
    int rc = cdr_bench_workdir(NULL, "serve", dir, sizeof dir, dg);
    if (rc)
        return rc;
    snprintf(store, sizeof store, "%s/store", dir);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = bs->bs_seed;
    gc.gc_subscribers = bs->bs_subscribers ? bs->bs_subscribers : 100000;
    cdr_gen *g = NULL;
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    cdr_redis *r = NULL;
    srv_run *sr = NULL;
    pthread_t th;
    int started = 0;
    char key[CDR_APIKEY_MAX], msisdn[CDR_NUMBER_MAX] = "";
    uint32_t cycle = 0;
    if ((rc = cdr_gen_create(&gc, &g)) != 0) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the population");
        goto done;
    }
    if (progress)
        fprintf(progress, "bench serve: %zu subscribers, %" PRIu64 " CDRs rated into the %s\n",
                gc.gc_subscribers, bs->bs_cdrs, bs->bs_redis ? "Redis" : "store");
    if ((rc = cdr_bench_store_build(dir, g, store, &st, &ps, &subs, dg)) != 0)
        goto done;
    if (bs->bs_redis && (rc = cdr_redis_open(bs->bs_redis, 5000, &r, dg)) != 0)
        goto done;
    if ((rc = cdr_bench_live_build(bs->bs_cdrs, g, st, ps, subs, r, &cycle, dg)) != 0)
        goto done;
    if ((rc = cdr_apikey_add(st, "bench-ivr", CDR_SCOPE_IVR, (cdr_time)time(NULL), key, dg)) != 0)
        goto done;
    /* the line asked about: the first of the directory with state in the cycle */
    for (size_t i = 0; i < cdr_subtab_count(subs) && !msisdn[0]; i++) {
        const cdr_sub *su = cdr_subtab_at(subs, i);
        cdr_live_view v;
        cdr_diag qdg;
        if (cdr_live_query(st, r, ps, su->su_msisdn, cycle, CDR_LIVE_Q_ALL, &v, &qdg) == 0) {
            if (v.lv_has_line)
                snprintf(msisdn, sizeof msisdn, "%s", su->su_msisdn);
            cdr_live_view_free(&v);
        }
    }
    if (!msisdn[0]) {
        rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "no line has live state: rate more CDRs");
        goto done;
    }
    cdr_store_close(st);
    st = NULL;
    if (!(sr = calloc(1, sizeof *sr))) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    pthread_mutex_init(&sr->mu, NULL);
    pthread_cond_init(&sr->cv, NULL);
    /* wrk runs on this machine too: it gets half the cores (two threads), the server the other
     * half, unless --server-threads says otherwise (docs/benchmarks.md) */
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned sthreads = bs->bs_threads ? bs->bs_threads : ncores > 1 ? (unsigned)(ncores / 2) : 1;
    sr->cfg = (cdr_portal_config){
        .pc_store = store,
        .pc_redis = bs->bs_redis,
        .pc_listen = "127.0.0.1:0",
        .pc_threads = sthreads,
        .pc_stop = &sr->stop,
        .pc_ready = on_ready,
        .pc_ready_arg = sr,
    };
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&th, NULL, serve_thread, sr) != 0) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "cannot start the server thread");
        goto done;
    }
    started = 1;
    pthread_mutex_lock(&sr->mu);
    while (!sr->port && !sr->done)
        pthread_cond_wait(&sr->cv, &sr->mu);
    pthread_mutex_unlock(&sr->mu);
    if (sr->done) {
        rc = sr->rc;
        *dg = sr->dg;
        goto done;
    }
    char url[256], surl[256], hdr[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/lines/%s/balance", sr->port, msisdn);
    snprintf(surl, sizeof surl, "http://127.0.0.1:%u/api/v1/health", sr->port);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", key);
    unsigned conns = bs->bs_connections ? bs->bs_connections : 50;
    unsigned secs = bs->bs_seconds ? bs->bs_seconds : 10;
    if (progress)
        fprintf(progress, "bench serve: wrk, %u connections, %u s on %s, then %u s on %s\n", conns,
                secs, url, secs, surl);
    wrk_figures bal, sta;
    if ((rc = run_wrk(bs, url, hdr, &bal, dg)) != 0 ||
        (rc = run_wrk(bs, surl, NULL, &sta, dg)) != 0)
        goto done;
    fprintf(out,
            "{\"bench\":\"serve\",\"backend\":\"%s\",\"subscribers\":%zu,\"cdrs\":%" PRIu64
            ",\"connections\":%u,\"server_threads\":%u,\"seconds\":%u,\"requests\":%" PRIu64
            ",\"req_per_sec\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"static_req_per_sec\":%.0f,"
            "\"static_p99_ms\":%.3f,\"ratio\":%.3f}\n",
            bs->bs_redis ? "redis" : "embedded", gc.gc_subscribers, bs->bs_cdrs, conns, sthreads,
            secs, bal.requests, bal.rps, bal.p50, bal.p99, sta.rps, sta.p99,
            sta.rps > 0 ? bal.rps / sta.rps : 0.0);
    fflush(out);
done:
    if (started) {
        sr->stop = 1;
        pthread_join(th, NULL);
    }
    free(sr);
    cdr_redis_close(r);
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cdr_gen_destroy(g);
    cdr_bench_remove_tree(dir);
    return rc;
}
