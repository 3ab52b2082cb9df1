/* bench_e2e.c - `cdrate bench e2e`: collector -> Kafka -> rate-stream -> cdr.rated, timed end to
 * end (cdr_pipeline.h, docs/benchmarks.md).
 *
 * On a real broker the raters are `cdrate rate-stream` processes (the production code path, one
 * transactional id each, one group), and the end is read from the group's committed offsets. On
 * the embedded mock cluster they are threads running cdr_stream_run, and since the mock keeps
 * no transactional offset commits the end is read from the raters' own totals (sc_on_stats).
 */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_bench.h"
#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_fraud.h"
#include "cdr_live.h"
#include "cdr_gen_3gpp.h"
#include "cdr_kafka.h"
#include "cdr_pipeline.h"
#include "cdr_rules.h"
#include "cdr_stream.h"

extern char **environ;

#define E2E_FILE_RECORDS 100000 /* records per generated spool file */
#define E2E_MAX_RATERS   64
#define E2E_POLL_MS      50

typedef struct e2e e2e;

typedef struct e2e_rater {
    e2e *er_e;
    unsigned er_index;
    pid_t er_pid; /* process (real broker), 0 when none */
    int er_exited;
    int er_status;       /* waitpid status */
    struct rusage er_ru; /* its CPU time, from wait4 */
    pthread_t er_thread; /* thread (embedded) */
    int er_started;
    pthread_mutex_t er_mu;    /* guards er_done, er_last (written by the rating thread) */
    int er_done;              /* the thread's cdr_stream_run returned */
    cdr_stream_stats er_last; /* the latest totals (sc_on_stats) */
    int er_rc;
    cdr_diag er_dg;
    char er_json[2048]; /* its --stats line */
} e2e_rater;

struct e2e {
    const cdr_pipeline_bench_config *e_cfg;
    cdr_diag *e_dg;
    int e_embedded;
    char e_dir[4096]; /* scratch directory */
    int e_made_dir;
    char e_store[4200], e_spool[4200];
    char e_prefix[96], e_group[128];
    char e_brokers[1024];
    cdr_kafka_mock *e_mock;
    cdr_plan_set *e_ps;
    cdr_subtab *e_subs;
    rd_kafka_t *e_rk; /* consumer handle in the raters' group: watermarks, committed offsets */
    int e_nparts;
    unsigned e_nraters;
    e2e_rater e_raters[E2E_MAX_RATERS];
    volatile sig_atomic_t e_stop; /* embedded raters */
    uint64_t e_published;
    cdr_fraud_rules *e_fraud; /* pb_live: the sample rules, for embedded raters */
    pid_t e_project;          /* pb_live, real broker: the projection process */
    int e_project_status;
    char e_project_json[1024];
    pthread_t e_poller; /* reads the projection's progress from the store */
    int e_polling;
    pthread_mutex_t e_proj_mu; /* guards the next three */
    int e_proj_quit;
    uint64_t e_proj_n;  /* rated records applied */
    uint64_t e_proj_ns; /* when e_proj_n last grew */
};

/* The fraud rules of a live run: the example of docs/fraud-rules.md. */
static const char e2e_fraud_rules[] = "rules:\n"
                                      "  - {name: intl-minutes, kind: units, service: voice, "
                                      "zones: [international, world, eu], window: 1h, "
                                      "threshold: 300min}\n"
                                      "  - {name: sms-burst, kind: units, service: sms, "
                                      "window: 1min, threshold: 30}\n"
                                      "  - {name: roaming-data, kind: units, service: data, "
                                      "direction: any, zone_kind: roaming, window: 1h, "
                                      "threshold: 500MB}\n"
                                      "  - {name: impossible-travel, kind: countries, within: 2h, "
                                      "home: \"460\"}\n";

static uint64_t now_ns(void)
{
    return cdr_bench_now_ns();
}

static double cpu_seconds(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static void say(const e2e *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const e2e *e, const char *fmt, ...)
{
    FILE *f = e->e_cfg->pb_progress;
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("bench e2e: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    fflush(f);
}

/* CPU seconds (user + system) of process pid from /proc, -1 when unknown. */
static double proc_cpu_seconds(long pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int stopped(const e2e *e)
{
    return e->e_cfg->pb_stop && *e->e_cfg->pb_stop;
}

static int stop_error(e2e *e)
{
    return cdr_diag_set(e->e_dg, CDR_EINVAL, NULL, 0, 0, "stopped");
}

/* Copy src into dst[size]; -1 when it does not fit. */
static int copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* The number after "key": in a flat JSON object, 0 when absent. */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0.0;
}

/* ---- the scratch directory: store, spool ----------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static int make_spool(e2e *e, cdr_gen *g)
{
    const cdr_pipeline_bench_config *pb = e->e_cfg;
    return cdr_gen_write_spool(g, e->e_spool, pb->pb_format, pb->pb_cdrs, E2E_FILE_RECORDS, NULL,
                               NULL, e->e_dg);
}

/* The population, the sample plans and the directory in a store, the CDRs in spool files. */
static int prepare(e2e *e)
{
    const cdr_pipeline_bench_config *pb = e->e_cfg;
    cdr_diag *dg = e->e_dg;
    if (pb->pb_workdir) {
        /* a new directory: an old spool, store or rater output would spoil the run */
        if (copy_str(e->e_dir, sizeof e->e_dir, pb->pb_workdir))
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "--workdir: path too long");
        if (mkdir(e->e_dir, 0755) != 0)
            return cdr_diag_set(dg, errno == EEXIST ? CDR_EXISTS : CDR_EIO, pb->pb_workdir, 0, 0,
                                "cannot create the scratch directory: %s",
                                errno == EEXIST ? "it exists already" : strerror(errno));
    } else {
        e->e_made_dir = 1;
        const char *tmp = getenv("TMPDIR");
        snprintf(e->e_dir, sizeof e->e_dir, "%s/cdrate-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(e->e_dir))
            return cdr_diag_set(dg, CDR_EIO, e->e_dir, 0, 0, "cannot create: %s", strerror(errno));
    }
    snprintf(e->e_store, sizeof e->e_store, "%s/store", e->e_dir);
    snprintf(e->e_spool, sizeof e->e_spool, "%s/spool", e->e_dir);
    if (mkdir(e->e_spool, 0755) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, e->e_spool, 0, 0, "cannot create: %s", strerror(errno));

    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = pb->pb_seed;
    gc.gc_subscribers = pb->pb_subscribers ? pb->pb_subscribers : 100000;
    cdr_gen *g = NULL;
    cdr_store *st = NULL;
    int rc = cdr_gen_create(&gc, &g);
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the population");
        goto done;
    }
    say(e, "%zu subscribers, %" PRIu64 " CDRs as %s spool files in %s", gc.gc_subscribers,
        pb->pb_cdrs, cdr_coll_format_name(pb->pb_format), e->e_dir);
    if ((rc = cdr_bench_store_build(e->e_dir, g, e->e_store, &st, &e->e_ps, &e->e_subs, dg)) != 0)
        goto done;
    if (pb->pb_live &&
        ((rc = cdr_fraud_parse_buf("e2e-fraud.yaml", e2e_fraud_rules, sizeof e2e_fraud_rules - 1,
                                   &e->e_fraud, dg)) != 0 ||
         (rc = cdr_fraud_store_put(st, e->e_fraud, dg)) != 0))
        goto done;
    rc = make_spool(e, g);
done:
    cdr_store_close(st);
    cdr_gen_destroy(g);
    return rc;
}

/* ---- Kafka: the group's view ----------------------------------------------------------------- */

static int open_watcher(e2e *e)
{
    const char *const kv[][2] = {
        {"group.id", e->e_group}, /* never joins: committed offsets only */
        {"client.id", "cdrate-bench-e2e"},
        {"enable.auto.commit", "false"},
    };
    rd_kafka_conf_t *conf = cdr_kafka_conf(e->e_brokers, kv, sizeof kv / sizeof kv[0], e->e_dg);
    if (!conf)
        return CDR_EINVAL;
    char err[512];
    e->e_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!e->e_rk) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0, "kafka: %s", err);
    }
    return 0;
}

static int topic_name(const e2e *e, const char *topic, char *buf, size_t size)
{
    return snprintf(buf, size, "%s%s", e->e_prefix, topic);
}

/* Sum of the high watermarks of a topic (hi[p] too when hi != NULL); -1 on error. Low
 * watermarks above 0 are added to *lost when lost != NULL (the embedded cluster drops old data). */
static int64_t watermarks(e2e *e, const char *topic, int64_t *hi, int64_t *lost)
{
    char name[256];
    topic_name(e, topic, name, sizeof name);
    int64_t sum = 0;
    for (int p = 0; p < e->e_nparts; p++) {
        int64_t lo, h;
        if (rd_kafka_query_watermark_offsets(e->e_rk, name, p, &lo, &h, 5000))
            return -1;
        if (hi)
            hi[p] = h;
        if (lost && lo > 0)
            *lost += lo;
        sum += h;
    }
    return sum;
}

/* Partitions of <prefix>cdr.raw, waiting for the metadata. */
static int learn_partitions(e2e *e)
{
    char name[256];
    topic_name(e, CDR_TOPIC_RAW, name, sizeof name);
    const uint64_t t0 = now_ns();
    for (;;) { /* the collector has just created it: wait until the metadata shows it */
        const int n = cdr_kafka_topic_partitions(e->e_rk, name, 30000, NULL, e->e_dg);
        if (n > 0) {
            e->e_nparts = n;
            return 0;
        }
        if (n < 0)
            return e->e_dg->dg_code;
        if (now_ns() - t0 >= 30000000000ULL)
            return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                "kafka: %s: no partitions after 30 s", name);
        usleep(100000);
    }
}

/* Real broker: records not yet committed by the group. The last entry of every non-empty
 * partition of cdr.raw is a transaction marker (the collector and the raters write it in
 * transactions), which the group never commits past: a partition is done when the committed
 * offset reaches its high watermark minus one. *done is set when every partition is done and the
 * high watermarks did not move while the committed offsets were read. */
static int group_lag(e2e *e, int64_t *lag, int *done)
{
    char name[256];
    topic_name(e, CDR_TOPIC_RAW, name, sizeof name);
    int64_t *hi = calloc((size_t)e->e_nparts * 2, sizeof *hi);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(e->e_nparts);
    int rc = hi ? 0 : CDR_ENOMEM;
    if (!rc && watermarks(e, CDR_TOPIC_RAW, hi, NULL) < 0)
        rc = cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0, "kafka: %s: watermarks", name);
    for (int p = 0; p < e->e_nparts && !rc; p++)
        rd_kafka_topic_partition_list_add(tpl, name, p);
    rd_kafka_resp_err_t err = rc ? 0 : rd_kafka_committed(e->e_rk, tpl, 10000);
    if (!rc && err)
        rc = cdr_kafka_err(e->e_dg, err, "committed offsets");
    if (!rc && watermarks(e, CDR_TOPIC_RAW, hi + e->e_nparts, NULL) < 0)
        rc = cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0, "kafka: %s: watermarks", name);
    if (!rc) {
        int64_t l = 0;
        int moved = 0;
        for (int p = 0; p < e->e_nparts; p++) {
            int64_t c = tpl->elems[p].offset >= 0 ? tpl->elems[p].offset : 0;
            int64_t end = hi[p] > 0 ? hi[p] - 1 : 0;
            l += end > c ? end - c : 0;
            moved |= hi[p] != hi[e->e_nparts + p];
        }
        *lag = l;
        *done = l == 0 && !moved;
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    free(hi);
    return rc;
}

static int embedded_progress(e2e *e, int *parts, int *empty, uint64_t *out);

/* Embedded: records still to be rated, from the raters' totals. */
static int output_lag(e2e *e, int64_t *lag, int *done)
{
    int parts, empty;
    uint64_t out;
    int rc = embedded_progress(e, &parts, &empty, &out);
    if (rc)
        return rc;
    *lag = out < e->e_published ? (int64_t)(e->e_published - out) : 0;
    *done = out >= e->e_published;
    return 0;
}

/* Real broker: wait until the group is stable, with nraters members holding every partition. */
static int wait_group(e2e *e, int timeout_s)
{
    const uint64_t t0 = now_ns();
    rd_kafka_queue_t *q = rd_kafka_queue_new(e->e_rk);
    const char *groups[1] = {e->e_group};
    int rc = 0, ready = 0;
    char why[256] = "no answer";
    while (!ready && !rc) {
        for (unsigned i = 0; i < e->e_nraters && !rc; i++)
            if (waitpid(e->e_raters[i].er_pid, &e->e_raters[i].er_status, WNOHANG) > 0) {
                e->e_raters[i].er_exited = 1;
                rc = cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                  "rater %u exited at start: see %s/rater-%u.log", i, e->e_dir, i);
            }
        if (!rc && stopped(e))
            rc = stop_error(e);
        if (rc)
            break;
        if (now_ns() - t0 > (uint64_t)timeout_s * 1000000000ULL) {
            rc = cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                              "kafka: group %s not ready after %d s (%s)", e->e_group, timeout_s,
                              why);
            break;
        }
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(e->e_rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        rd_kafka_DescribeConsumerGroups(e->e_rk, groups, 1, ao, q);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
        const rd_kafka_DescribeConsumerGroups_result_t *res =
            ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **gd =
            res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : NULL;
        if (n == 1 && !rd_kafka_ConsumerGroupDescription_error(gd[0])) {
            size_t members = rd_kafka_ConsumerGroupDescription_member_count(gd[0]);
            int parts = 0, empty = 0;
            for (size_t m = 0; m < members; m++) {
                const rd_kafka_MemberAssignment_t *ma = rd_kafka_MemberDescription_assignment(
                    rd_kafka_ConsumerGroupDescription_member(gd[0], m));
                const rd_kafka_topic_partition_list_t *tpl =
                    ma ? rd_kafka_MemberAssignment_partitions(ma) : NULL;
                parts += tpl ? tpl->cnt : 0;
                empty += !tpl || tpl->cnt == 0;
            }
            rd_kafka_consumer_group_state_t gs = rd_kafka_ConsumerGroupDescription_state(gd[0]);
            snprintf(why, sizeof why, "state %s, %zu of %u members, %d of %d partitions",
                     rd_kafka_consumer_group_state_name(gs), members, e->e_nraters, parts,
                     e->e_nparts);
            ready = gs == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE && members == e->e_nraters &&
                    parts == e->e_nparts && (empty == 0 || (int)e->e_nraters > e->e_nparts);
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        if (!ready)
            usleep(200000);
    }
    rd_kafka_queue_destroy(q);
    if (!rc)
        say(e, "group %s ready (%s) after %.1f s", e->e_group, why, (double)(now_ns() - t0) / 1e9);
    return rc;
}

/* ---- raters ---------------------------------------------------------------------------------- */

/* Start the running cdrate binary (or pb_cdrate) with argv, stdout to out, stderr to log. */
static int spawn_cdrate(e2e *e, const char *const *argv, const char *out, const char *log,
                        const char *what, pid_t *pid)
{
    const cdr_pipeline_bench_config *pb = e->e_cfg;
    /* the running binary by its real name, so that the raters show as "cdrate" in ps/top */
    char self[4096];
    ssize_t len = pb->pb_cdrate ? -1 : readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0)
        self[len] = '\0';
    const char *exe = pb->pb_cdrate ? pb->pb_cdrate : len > 0 ? self : "/proc/self/exe";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = posix_spawn(pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err)
        return cdr_diag_set(e->e_dg, CDR_EIO, exe, 0, 0, "cannot start %s: %s", what,
                            strerror(err));
    return 0;
}

static int spawn_rater(e2e *e, unsigned i)
{
    const cdr_pipeline_bench_config *pb = e->e_cfg;
    char tid[160], threads[24], batch[24], out[4400], log[4400];
    snprintf(tid, sizeof tid, "%s.%u", e->e_group, i);
    snprintf(threads, sizeof threads, "%u", pb->pb_threads ? pb->pb_threads : 1);
    snprintf(batch, sizeof batch, "%zu", pb->pb_batch);
    snprintf(out, sizeof out, "%s/rater-%u.json", e->e_dir, i);
    snprintf(log, sizeof log, "%s/rater-%u.log", e->e_dir, i);
    const char *argv[32];
    int a = 0;
    argv[a++] = "cdrate";
    argv[a++] = "rate-stream";
    argv[a++] = "--brokers", argv[a++] = e->e_brokers;
    argv[a++] = "--group", argv[a++] = e->e_group;
    argv[a++] = "--store", argv[a++] = e->e_store;
    argv[a++] = "--topic-prefix", argv[a++] = e->e_prefix;
    argv[a++] = "--transactional-id", argv[a++] = tid;
    argv[a++] = "--threads", argv[a++] = threads;
    if (pb->pb_batch)
        argv[a++] = "--batch", argv[a++] = batch;
    argv[a++] = "--idle-exit", argv[a++] = "600000"; /* orphans end by themselves */
    if (!pb->pb_live)
        argv[a++] = "--no-alerts";
    argv[a++] = "--stats";
    argv[a++] = "--quiet";
    argv[a] = NULL;
    return spawn_cdrate(e, argv, out, log, "a rater", &e->e_raters[i].er_pid);
}

/* ---- the projection (pb_live, real broker) --------------------------------------------------- */

static int spawn_project(e2e *e)
{
    char group[160], out[4400], log[4400];
    snprintf(group, sizeof group, "%se2e-project", e->e_prefix);
    snprintf(out, sizeof out, "%s/project.json", e->e_dir);
    snprintf(log, sizeof log, "%s/project.log", e->e_dir);
    const char *argv[] = {"cdrate",         "project",   "--brokers", e->e_brokers,
                          "--store",        e->e_store,  "--group",   group,
                          "--topic-prefix", e->e_prefix, "--json",    "--quiet",
                          "--idle-exit",    "600000",    "--batch",   "100000",
                          "--batch-wait",   "1000",      NULL};
    return spawn_cdrate(e, argv, out, log, "the projection", &e->e_project);
}

static int sum_account(void *arg, const cdr_live_account *la)
{
    for (uint32_t k = 0; k < la->la_ncur && k < CDR_LIVE_MAX_CURRENCIES; k++)
        *(uint64_t *)arg += la->la_money[k].lm_records;
    return 0;
}

/* Rated records the projection has applied to the store's live state so far. */
static int projected(e2e *e, uint64_t *n)
{
    cdr_store *st;
    cdr_diag dg;
    *n = 0;
    if (cdr_store_open(e->e_store, MDB_RDONLY, &st, &dg))
        return -1;
    int rc = cdr_live_each(st, 0, NULL, sum_account, n, &dg);
    cdr_store_close(st);
    return rc ? -1 : 0;
}

static void *poller_main(void *arg)
{
    e2e *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->e_proj_mu);
        int quit = e->e_proj_quit;
        pthread_mutex_unlock(&e->e_proj_mu);
        if (quit)
            return NULL;
        uint64_t n;
        const uint64_t t = now_ns(); /* the count read below was reached by then */
        if (projected(e, &n) == 0) {
            pthread_mutex_lock(&e->e_proj_mu);
            if (n > e->e_proj_n) {
                e->e_proj_n = n;
                e->e_proj_ns = t;
            }
            pthread_mutex_unlock(&e->e_proj_mu);
        }
        usleep(4 * E2E_POLL_MS * 1000); /* a scan of every account: not too often */
    }
}

static int start_poller(e2e *e)
{
    pthread_mutex_init(&e->e_proj_mu, NULL);
    e->e_proj_ns = now_ns();
    if (pthread_create(&e->e_poller, NULL, poller_main, e))
        return cdr_diag_set(e->e_dg, CDR_ENOMEM, NULL, 0, 0, "cannot start a thread");
    e->e_polling = 1;
    return 0;
}

static void stop_poller(e2e *e)
{
    if (!e->e_polling)
        return;
    pthread_mutex_lock(&e->e_proj_mu);
    e->e_proj_quit = 1;
    pthread_mutex_unlock(&e->e_proj_mu);
    pthread_join(e->e_poller, NULL);
    pthread_mutex_destroy(&e->e_proj_mu);
    e->e_polling = 0;
}

/* Wait until the projection has applied `rated` records (or fails, or makes no progress for the
 * timeout); *done_ns gets when the poller saw the count reach it. */
static int wait_projected(e2e *e, uint64_t rated, uint64_t *done_ns)
{
    const int timeout_s = e->e_cfg->pb_timeout_s ? e->e_cfg->pb_timeout_s : 120;
    for (;;) {
        pthread_mutex_lock(&e->e_proj_mu);
        const uint64_t n = e->e_proj_n, t = e->e_proj_ns;
        pthread_mutex_unlock(&e->e_proj_mu);
        if (n >= rated) {
            *done_ns = t;
            return 0;
        }
        int st;
        if (waitpid(e->e_project, &st, WNOHANG) == e->e_project) {
            e->e_project = 0;
            return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                "the projection exited (status %d): see %s/project.log",
                                WIFEXITED(st) ? WEXITSTATUS(st) : -1, e->e_dir);
        }
        if (stopped(e))
            return stop_error(e);
        if (now_ns() - t > (uint64_t)timeout_s * 1000000000ULL)
            return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                "the projection applied %" PRIu64 " of %" PRIu64
                                " rated records and made no progress for %d s: see %s/project.log",
                                n, rated, timeout_s, e->e_dir);
        usleep(E2E_POLL_MS * 1000);
    }
}

static void stop_project(e2e *e)
{
    if (e->e_project <= 0)
        return;
    kill(e->e_project, SIGTERM);
    const uint64_t t0 = now_ns();
    for (;;) {
        pid_t r = waitpid(e->e_project, &e->e_project_status, WNOHANG);
        if (r == e->e_project || (r < 0 && errno != EINTR))
            break;
        if (now_ns() - t0 > 60000000000ULL)
            kill(e->e_project, SIGKILL);
        usleep(E2E_POLL_MS * 1000);
    }
    e->e_project = 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/project.json", e->e_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(e->e_project_json, sizeof e->e_project_json, f))
            e->e_project_json[0] = '\0';
        fclose(f);
    }
    e->e_project_json[strcspn(e->e_project_json, "\r\n")] = '\0';
}

static void on_stats(void *arg, const cdr_stream_stats *ss)
{
    e2e_rater *er = arg;
    pthread_mutex_lock(&er->er_mu);
    er->er_last = *ss;
    pthread_mutex_unlock(&er->er_mu);
}

/* The latest totals of an embedded rater; returns its er_done. */
static int rater_last(e2e_rater *er, cdr_stream_stats *ss)
{
    pthread_mutex_lock(&er->er_mu);
    *ss = er->er_last;
    int done = er->er_done;
    pthread_mutex_unlock(&er->er_mu);
    return done;
}

static void *run_rater(void *arg)
{
    e2e_rater *er = arg;
    e2e *e = er->er_e;
    char tid[160];
    snprintf(tid, sizeof tid, "%s.%u", e->e_group, er->er_index);
    cdr_credit_config cc;
    cdr_credit_config_default(&cc);
    cc.cc_on = e->e_cfg->pb_live;
    const cdr_stream_config sc = {.sc_brokers = e->e_brokers,
                                  .sc_credit = &cc,
                                  .sc_fraud = e->e_cfg->pb_live ? e->e_fraud : NULL,
                                  .sc_group = e->e_group,
                                  .sc_topic_prefix = e->e_prefix,
                                  .sc_transactional_id = tid,
                                  .sc_threads = e->e_cfg->pb_threads ? e->e_cfg->pb_threads : 1,
                                  .sc_batch = e->e_cfg->pb_batch,
                                  .sc_quiet = 1,
                                  .sc_stop = &e->e_stop,
                                  .sc_on_stats = on_stats,
                                  .sc_stats_arg = er};
    cdr_stream_stats ss;
    cdr_diag_clear(&er->er_dg);
    int rc = cdr_stream_run(&sc, e->e_ps, e->e_subs, &ss, &er->er_dg);
    snprintf(er->er_json, sizeof er->er_json,
             "{\"consumed\":%" PRIu64 ",\"rated\":%" PRIu64 ",\"suspense\":%" PRIu64
             ",\"rekeyed\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"aborts\":%" PRIu64
             ",\"alerts\":%" PRIu64 ",\"p50_batch_ms\":%.3f,\"p99_batch_ms\":%.3f,\"seconds\":%.3f,"
             "\"busy_seconds\":%.3f,\"ok\":%s}",
             ss.ss_consumed, ss.ss_rated, ss.ss_suspense, ss.ss_rekeyed, ss.ss_batches,
             ss.ss_aborts, ss.ss_alerts, (double)ss.ss_p50_ns / 1e6, (double)ss.ss_p99_ns / 1e6,
             ss.ss_seconds, ss.ss_busy_seconds, rc ? "false" : "true");
    pthread_mutex_lock(&er->er_mu);
    er->er_last = ss;
    er->er_rc = rc;
    er->er_done = 1;
    pthread_mutex_unlock(&er->er_mu);
    return NULL;
}

/* Embedded: an error when a rater stopped; *parts and *out (records committed to cdr.rated or
 * cdr.suspense) summed over the raters. */
static int embedded_progress(e2e *e, int *parts, int *empty, uint64_t *out)
{
    *parts = *empty = 0;
    *out = 0;
    for (unsigned i = 0; i < e->e_nraters; i++) {
        e2e_rater *er = &e->e_raters[i];
        cdr_stream_stats ss;
        if (rater_last(er, &ss)) {
            char buf[1024];
            return cdr_diag_set(
                e->e_dg, er->er_rc ? er->er_rc : CDR_KAFKA, NULL, 0, 0, "rater %u stopped: %s", i,
                er->er_rc ? cdr_diag_format(&er->er_dg, buf, sizeof buf) : "without an error");
        }
        *parts += (int)ss.ss_partitions;
        *empty += ss.ss_partitions == 0;
        *out += ss.ss_rated + ss.ss_suspense;
    }
    return 0;
}

static int start_raters(e2e *e)
{
    for (unsigned i = 0; i < e->e_nraters; i++) {
        e2e_rater *er = &e->e_raters[i];
        er->er_e = e;
        er->er_index = i;
        pthread_mutex_init(&er->er_mu, NULL);
        if (!e->e_embedded) {
            int rc = spawn_rater(e, i);
            if (rc)
                return rc;
        } else {
            int err = pthread_create(&er->er_thread, NULL, run_rater, er);
            if (err)
                return cdr_diag_set(e->e_dg, CDR_ENOMEM, NULL, 0, 0, "cannot start a rater: %s",
                                    strerror(err));
            er->er_started = 1;
        }
    }
    if (!e->e_embedded)
        return wait_group(e, 60);
    /* embedded (the mock answers no DescribeGroups): the raters' own partition counts */
    const uint64_t t0 = now_ns();
    for (;;) {
        int parts, empty;
        uint64_t out;
        int rc = embedded_progress(e, &parts, &empty, &out);
        if (rc)
            return rc;
        if (stopped(e))
            return stop_error(e);
        if (parts == e->e_nparts && (empty == 0 || (int)e->e_nraters > e->e_nparts))
            break;
        if (now_ns() - t0 > 60000000000ULL)
            return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                "the raters hold %d of %d partitions after 60 s", parts,
                                e->e_nparts);
        usleep(E2E_POLL_MS * 1000);
    }
    say(e, "raters ready after %.1f s", (double)(now_ns() - t0) / 1e9);
    return 0;
}

/* Is every rater still running? (0, or an error naming the one that is not) */
static int raters_alive(e2e *e)
{
    if (e->e_embedded) {
        int parts, empty;
        uint64_t out;
        return embedded_progress(e, &parts, &empty, &out);
    }
    for (unsigned i = 0; i < e->e_nraters; i++) {
        e2e_rater *er = &e->e_raters[i];
        if (!e->e_embedded && er->er_pid && !er->er_exited &&
            wait4(er->er_pid, &er->er_status, WNOHANG, &er->er_ru) > 0) {
            er->er_exited = 1;
            return cdr_diag_set(
                e->e_dg, CDR_KAFKA, NULL, 0, 0, "rater %u exited (status %d): see %s/rater-%u.log",
                i, WIFEXITED(er->er_status) ? WEXITSTATUS(er->er_status) : -1, e->e_dir, i);
        }
    }
    return 0;
}

/* SIGTERM (or the stop flag), wait, read the --stats lines. */
static void stop_raters(e2e *e)
{
    e->e_stop = 1;
    for (unsigned i = 0; i < e->e_nraters; i++) {
        e2e_rater *er = &e->e_raters[i];
        if (er->er_started) {
            pthread_join(er->er_thread, NULL);
            er->er_started = 0;
        }
        if (er->er_pid && !er->er_exited)
            kill(er->er_pid, SIGTERM);
    }
    for (unsigned i = 0; i < e->e_nraters; i++) {
        e2e_rater *er = &e->e_raters[i];
        if (!er->er_pid)
            continue;
        const uint64_t t0 = now_ns();
        while (!er->er_exited) {
            pid_t r = wait4(er->er_pid, &er->er_status, WNOHANG, &er->er_ru);
            if (r == er->er_pid || (r < 0 && errno != EINTR)) {
                er->er_exited = 1;
                break;
            }
            if (now_ns() - t0 > 60000000000ULL) /* a hung rater: its stats are lost */
                kill(er->er_pid, SIGKILL);
            usleep(E2E_POLL_MS * 1000);
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/rater-%u.json", e->e_dir, i);
        FILE *f = fopen(path, "r");
        er->er_json[0] = '\0';
        if (f) {
            if (!fgets(er->er_json, sizeof er->er_json, f))
                er->er_json[0] = '\0';
            fclose(f);
        }
        er->er_json[strcspn(er->er_json, "\r\n")] = '\0';
    }
}

/* ---- set-up and clean-up of the Kafka side --------------------------------------------------- */

static const char *const e2e_topics[] = {
    CDR_TOPIC_RAW,          CDR_TOPIC_REJECTED,        CDR_TOPIC_CHECKPOINTS,
    CDR_STREAM_TOPIC_RATED, CDR_STREAM_TOPIC_SUSPENSE, CDR_STREAM_TOPIC_COUNTERS,
    CDR_STREAM_TOPIC_ALERTS};
#define E2E_NTOPICS (sizeof e2e_topics / sizeof e2e_topics[0])

/* Embedded: every topic with the same partition count (rate-stream requires it of cdr.counters;
 * the mock would auto-create it with 4). */
static int start_mock(e2e *e)
{
    int rc = cdr_kafka_mock_create(3, &e->e_mock, e->e_dg);
    const int nparts = e->e_cfg->pb_partitions > 0 ? e->e_cfg->pb_partitions : 4;
    for (size_t t = 0; t < E2E_NTOPICS && !rc; t++) {
        char name[256];
        topic_name(e, e2e_topics[t], name, sizeof name);
        rc = cdr_kafka_mock_topic_create(
            e->e_mock, name, !strcmp(e2e_topics[t], CDR_TOPIC_CHECKPOINTS) ? 1 : nparts, e->e_dg);
    }
    if (!rc)
        snprintf(e->e_brokers, sizeof e->e_brokers, "%s", cdr_kafka_mock_bootstraps(e->e_mock));
    return rc;
}

/* Real broker: delete this run's topics (best effort). */
static void delete_topics(e2e *e)
{
    rd_kafka_DeleteTopic_t *dt[E2E_NTOPICS];
    char names[E2E_NTOPICS][256];
    for (size_t t = 0; t < E2E_NTOPICS; t++) {
        topic_name(e, e2e_topics[t], names[t], sizeof names[t]);
        dt[t] = rd_kafka_DeleteTopic_new(names[t]);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(e->e_rk);
    rd_kafka_DeleteTopics(e->e_rk, dt, E2E_NTOPICS, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dt, E2E_NTOPICS);
}

/* ---- the run --------------------------------------------------------------------------------- */

/* Poll until every published record is rated; *lag_first gets the lag at the first poll. */
static int wait_rated(e2e *e, int64_t *lag_first)
{
    const int timeout_s = e->e_cfg->pb_timeout_s > 0 ? e->e_cfg->pb_timeout_s : 120;
    int64_t best = INT64_MAX;
    uint64_t since = now_ns();
    for (int first = 1;; first = 0) {
        int64_t lag = 0;
        int done = 0;
        int rc = stopped(e) ? stop_error(e) : raters_alive(e);
        if (!rc)
            rc = e->e_embedded ? output_lag(e, &lag, &done) : group_lag(e, &lag, &done);
        if (rc)
            return rc;
        if (first)
            *lag_first = lag;
        if (done)
            return 0;
        if (lag < best) {
            best = lag;
            since = now_ns();
        } else if (now_ns() - since > (uint64_t)timeout_s * 1000000000ULL) {
            int64_t lost = 0;
            if (e->e_embedded && watermarks(e, CDR_TOPIC_RAW, NULL, &lost) >= 0 && lost > 0)
                return cdr_diag_set(e->e_dg, CDR_LIMIT, NULL, 0, 0,
                                    "no progress for %d s, %" PRId64
                                    " records not rated: the embedded cluster dropped the "
                                    "oldest records of cdr.raw (it keeps about 5 MB per "
                                    "partition); use fewer --cdrs, more --partitions or a real "
                                    "broker",
                                    timeout_s, lag);
            return cdr_diag_set(e->e_dg, CDR_KAFKA, NULL, 0, 0,
                                "no progress for %d s, %" PRId64
                                " records not rated (rater logs: %s/rater-N.log)",
                                timeout_s, lag, e->e_dir);
        }
        usleep(E2E_POLL_MS * 1000);
    }
}

int cdr_pipeline_bench(const cdr_pipeline_bench_config *pb, FILE *out, cdr_diag *dg)
{
    if (!pb || !pb->pb_brokers || !*pb->pb_brokers || pb->pb_cdrs == 0 ||
        pb->pb_raters > E2E_MAX_RATERS || pb->pb_format < 0 || pb->pb_format >= CDR_FMT_COUNT)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "bench e2e: brokers, a CDR count and at most %d raters are required",
                            E2E_MAX_RATERS);
    e2e ev;
    memset(&ev, 0, sizeof ev);
    e2e *e = &ev;
    e->e_cfg = pb;
    e->e_dg = dg;
    e->e_embedded = !strcmp(pb->pb_brokers, "embedded");
    e->e_nraters = pb->pb_raters ? pb->pb_raters : 1;
    /* a fresh prefix per run on a real broker: runs share no topic, group or transactional id */
    if (!e->e_embedded)
        snprintf(e->e_prefix, sizeof e->e_prefix, "e2e-%ld-%ld.", (long)getpid(), (long)time(NULL));
    if (snprintf(e->e_group, sizeof e->e_group, "%se2e-rate", e->e_prefix) >=
            (int)sizeof e->e_group ||
        copy_str(e->e_brokers, sizeof e->e_brokers, pb->pb_brokers))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bench e2e: --brokers too long");

    const uint64_t ts = now_ns();
    cdr_collect *co = NULL;
    int rc = prepare(e);
    if (!rc && e->e_embedded)
        rc = start_mock(e);
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    if (!rc) {
        cl.cl_format = pb->pb_format;
        if (copy_str(cl.cl_spool, sizeof cl.cl_spool, e->e_spool) ||
            copy_str(cl.cl_brokers, sizeof cl.cl_brokers, e->e_brokers) ||
            copy_str(cl.cl_topic_prefix, sizeof cl.cl_topic_prefix, e->e_prefix))
            rc = cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bench e2e: a path is too long");
        snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "e2e");
        cl.cl_owners = e->e_subs;
        if (pb->pb_chunk)
            cl.cl_chunk = pb->pb_chunk;
        cl.cl_quiet = 1;
        cl.cl_settle_ms = 0; /* the spool files are generated before: take them at once */
        say(e, "opening the collector on %s",
            e->e_embedded ? "the embedded cluster" : e->e_brokers);
        if (!rc)
            rc = cdr_collect_open(&cl, NULL, NULL, &co, dg);
    }
    if (!rc && !(rc = open_watcher(e)) && !(rc = learn_partitions(e))) {
        say(e, "starting %u rater%s on %d partitions", e->e_nraters, e->e_nraters > 1 ? "s" : "",
            e->e_nparts);
        rc = start_raters(e);
        if (!rc && pb->pb_live && !e->e_embedded) {
            say(e, "starting the projection");
            rc = spawn_project(e);
        }
    }
    const double setup_s = (double)(now_ns() - ts) / 1e9;

    /* ---- timed: collect, then wait until everything is rated */
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    const double broker0 = pb->pb_broker_pid ? proc_cpu_seconds(pb->pb_broker_pid) : -1;
    uint64_t t0 = now_ns(), t1 = t0, t2 = t0;
    int64_t lag_collect = 0, lag_end = -1;
    cdr_coll_stats tot;
    memset(&tot, 0, sizeof tot);
    if (!rc) {
        say(e, "collecting (timed)");
        rc = cdr_collect_spool(co, 1, pb->pb_stop, dg);
        if (!rc && stopped(e))
            rc = stop_error(e);
        t1 = now_ns();
        cdr_collect_totals(co, &tot, NULL, NULL, NULL);
        e->e_published = tot.cs_published;
    }
    if (!rc) {
        say(e, "collected %" PRIu64 " records in %.2f s; waiting for the raters", tot.cs_published,
            (double)(t1 - t0) / 1e9);
        rc = wait_rated(e, &lag_collect);
        t2 = now_ns();
    }
    getrusage(RUSAGE_SELF, &ru1);
    const double broker1 = pb->pb_broker_pid ? proc_cpu_seconds(pb->pb_broker_pid) : -1;

    if (!rc && e->e_project > 0)
        rc = start_poller(e); /* from the end of rating on: the projection's progress */
    stop_raters(e);
    for (unsigned i = 0; i < e->e_nraters && !rc; i++) {
        const e2e_rater *er = &e->e_raters[i];
        if (er->er_pid && (!WIFEXITED(er->er_status) || WEXITSTATUS(er->er_status) != 0))
            rc = cdr_diag_set(dg, CDR_KAFKA, NULL, 0, 0,
                              "rater %u ended with status %d: see %s/rater-%u.log", i,
                              WIFEXITED(er->er_status) ? WEXITSTATUS(er->er_status)
                                                       : 128 + WTERMSIG(er->er_status),
                              e->e_dir, i);
        if (e->e_embedded && er->er_e && er->er_rc) {
            char buf[1024];
            rc = cdr_diag_set(dg, er->er_rc, NULL, 0, 0, "rater %u: %s", i,
                              cdr_diag_format(&er->er_dg, buf, sizeof buf));
        }
    }
    if (!rc && e->e_embedded) {
        uint64_t done_n = 0;
        for (unsigned i = 0; i < e->e_nraters; i++) {
            cdr_stream_stats ss;
            rater_last(&e->e_raters[i], &ss);
            done_n += ss.ss_rated + ss.ss_suspense;
        }
        lag_end = done_n < e->e_published ? (int64_t)(e->e_published - done_n) : 0;
    } else if (!rc) {
        int done;
        if (group_lag(e, &lag_end, &done))
            lag_end = -1; /* a failure here does not spoil the figures */
    }
    cdr_collect_close(co);

    /* the live side: when the projection had applied every rated record */
    uint64_t t3 = t2;
    double alerts = 0, rated_sum = 0;
    for (unsigned i = 0; i < e->e_nraters; i++) {
        alerts += json_num(e->e_raters[i].er_json, "alerts");
        rated_sum += json_num(e->e_raters[i].er_json, "rated");
    }
    if (!rc && e->e_polling) {
        say(e, "waiting for the projection");
        rc = wait_projected(e, (uint64_t)rated_sum, &t3);
        if (t3 < t2)
            t3 = t2;
    }
    stop_poller(e);
    stop_project(e);

    if (!rc) {
        double consumed = 0, rated = 0, suspense = 0, rekeyed = 0, batches = 0, aborts = 0, p99 = 0,
               cpu = 0;
        for (unsigned i = 0; i < e->e_nraters; i++) {
            const char *j = e->e_raters[i].er_json;
            consumed += json_num(j, "consumed");
            rated += json_num(j, "rated");
            suspense += json_num(j, "suspense");
            rekeyed += json_num(j, "rekeyed");
            batches += json_num(j, "batches");
            aborts += json_num(j, "aborts");
            if (json_num(j, "p99_batch_ms") > p99)
                p99 = json_num(j, "p99_batch_ms");
            cpu += cpu_seconds(&e->e_raters[i].er_ru);
        }
        const double secs = (double)(t2 - t0) / 1e9, csecs = (double)(t1 - t0) / 1e9;
        fprintf(out,
                "{\"bench\":\"e2e\",\"brokers\":\"%s\",\"format\":\"%s\",\"cdrs\":%" PRIu64
                ",\"subscribers\":%zu,\"raters\":%u,\"threads\":%u,\"partitions\":%d,"
                "\"batch\":%zu,\"chunk\":%" PRIu32 ",\"seconds\":%.3f,\"cdrs_per_sec\":%.0f,"
                "\"collect_seconds\":%.3f,\"collect_cdrs_per_sec\":%.0f,\"drain_seconds\":%.3f,"
                "\"lag_at_collect_end\":%" PRId64 ",\"lag_at_end\":%" PRId64
                ",\"published\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"duplicate\":%" PRIu64
                ",\"consumed\":%.0f,\"rated\":%.0f,\"suspense\":%.0f,\"rekeyed\":%.0f,"
                "\"batches\":%.0f,"
                "\"aborts\":%.0f,\"p99_batch_ms\":%.3f,\"collector_cpu_seconds\":%.2f,",
                e->e_embedded ? "embedded" : "real", cdr_coll_format_name(pb->pb_format),
                pb->pb_cdrs, pb->pb_subscribers ? pb->pb_subscribers : 100000, e->e_nraters,
                pb->pb_threads ? pb->pb_threads : 1, e->e_nparts, pb->pb_batch, cl.cl_chunk, secs,
                secs > 0 ? (double)tot.cs_published / secs : 0.0, csecs,
                csecs > 0 ? (double)tot.cs_published / csecs : 0.0, (double)(t2 - t1) / 1e9,
                lag_collect, lag_end, tot.cs_published, tot.cs_rejected, tot.cs_duplicate, consumed,
                rated, suspense, rekeyed, batches, aborts, p99,
                cpu_seconds(&ru1) - cpu_seconds(&ru0));
        if (e->e_embedded)
            fprintf(out, "\"raters_cpu_seconds\":null,");
        else
            fprintf(out, "\"raters_cpu_seconds\":%.2f,", cpu);
        if (broker0 >= 0 && broker1 >= 0)
            fprintf(out, "\"broker_cpu_seconds\":%.2f,", broker1 - broker0);
        else
            fprintf(out, "\"broker_cpu_seconds\":null,");
        fprintf(out, "\"topic_prefix\":\"%s\",\"group\":\"%s\",", e->e_prefix, e->e_group);
        /* the live side: alerts raised; with the projection, the time until it had applied
         * every rated record, and the end-to-end figure counting it */
        const double lsecs = (double)(t3 - t0) / 1e9;
        fprintf(out, "\"live\":%s,\"alerts\":%.0f,", pb->pb_live ? "true" : "false", alerts);
        if (e->e_project_json[0])
            fprintf(out,
                    "\"projected\":%.0f,\"live_seconds\":%.3f,\"live_cdrs_per_sec\":%.0f,"
                    "\"project\":%s,",
                    json_num(e->e_project_json, "applied"), lsecs,
                    lsecs > 0 ? (double)tot.cs_published / lsecs : 0.0, e->e_project_json);
        else
            fprintf(out, "\"projected\":null,\"live_seconds\":null,\"live_cdrs_per_sec\":null,"
                         "\"project\":null,");
        fprintf(out,
                "\"setup_seconds\":%.1f,\"rss_bytes\":%" PRIu64 ",\"exact\":%s,\"per_rater\":[",
                setup_s, cdr_bench_peak_rss(),
                (uint64_t)(rated + suspense) == tot.cs_published ? "true" : "false");
        for (unsigned i = 0; i < e->e_nraters; i++)
            fprintf(out, "%s%s", i ? "," : "",
                    e->e_raters[i].er_json[0] ? e->e_raters[i].er_json : "null");
        fprintf(out, "]}\n");
        fflush(out);
        /* each published record ends in exactly one of cdr.rated and cdr.suspense (a re-keyed
         * one after a detour through cdr.raw) */
        if ((uint64_t)(rated + suspense) != tot.cs_published)
            rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                              "the raters committed %.0f rated and suspense records, the collector "
                              "published %" PRIu64 "%s",
                              rated + suspense, tot.cs_published,
                              rated + suspense > (double)tot.cs_published
                                  ? " (some were rated twice)"
                                  : " (some were lost)");
    }
    if (e->e_rk) {
        if (!e->e_embedded && !pb->pb_keep)
            delete_topics(e);
        rd_kafka_destroy(e->e_rk);
    }
    cdr_kafka_mock_destroy(e->e_mock);
    cdr_fraud_rules_free(e->e_fraud);
    for (unsigned i = 0; i < e->e_nraters; i++)
        if (e->e_raters[i].er_e)
            pthread_mutex_destroy(&e->e_raters[i].er_mu);
    cdr_subtab_free(e->e_subs);
    cdr_plan_set_release(e->e_ps);
    if (e->e_made_dir && !pb->pb_keep && (!rc || stopped(e))) /* kept to read after a failure */
        nftw(e->e_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
