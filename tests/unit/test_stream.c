/* test_stream.c - the stream rater (cdr_stream.h, `cdrate rate-stream`) against the real Kafka
 * broker of CDR_KAFKA_BROKERS: every record of cdr.raw comes out exactly once on cdr.rated or
 * cdr.suspense, with the same result, the same sum of charges and the same final counters as
 * offline rating of the same records with the same plans and directory; also when the rating
 * process is killed (SIGKILL) and restarted several times in the middle of the run; records keyed
 * by MSISDN are re-keyed to their charging owner's partition; plans and directory reloaded while
 * the stream runs are used from the next batch on; --idle-exit, the metrics and the logs.
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_bench.h"
#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_kafka.h"
#include "cdr_rate.h"
#include "cdr_stream.h"

#define PARTITIONS  4
#define TIMEOUT_MS  60000
#define SUBSCRIBERS 2000

#define TEST_KAFKA_NAME "test_stream"
#include "cdr_fraud.h"
#include "test_kafka.h"

/* ---- fixture: a store with the sample plans and a generated directory ----------------------- */

static cdr_fraud_rules *g_fraud; /* the fixture's fraud rules */

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
    /* fraud rules that the generated traffic hits now and then, in the store for the rate-stream
     * processes and in g_fraud for the in-process runs and the offline reference */
    static const char rules[] = "rules:\n"
                                "  - {name: sms-hour, kind: units, service: sms, window: 1h, "
                                "threshold: 3}\n"
                                "  - {name: voice-hour, kind: units, service: voice, window: 1h, "
                                "threshold: 20min}\n"
                                "  - {name: travel, kind: countries, within: 12h}\n";
    cdr_fraud_rules_free(g_fraud);
    cr_assert_eq(cdr_fraud_parse_buf("fraud.yaml", rules, sizeof rules - 1, &g_fraud, &dg), 0, "%s",
                 dg.dg_msg);
    cr_assert_eq(cdr_fraud_store_put(fx->fx_st, g_fraud, &dg), 0, "%s", dg.dg_msg);
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

/* How the input is keyed. KEY_OWNER: as a collector with a directory does, the charging owner in
 * decimal, else the MSISDN. KEY_MSISDN: subscribers that are their own charging owner by their
 * MSISDN, as a collector without directory does (pool members stay keyed by their enterprise, so
 * that a pool's records keep the input order and offline rating is the reference). */
typedef enum key_mode { KEY_OWNER, KEY_MSISDN, KEY_RAW /* every record by its MSISDN */ } key_mode;

static size_t record_key(const cdr_subtab *subs, const cdr_record *cr, key_mode km, char *key)
{
    const cdr_sub *su = km == KEY_RAW ? NULL : cdr_subtab_find(subs, cr->cr_msisdn);
    if (su && (km == KEY_OWNER || su->su_owner != su->su_id))
        return cdr_kafka_owner_key(su->su_owner, key);
    size_t n = strnlen(cr->cr_msisdn, CDR_NUMBER_MAX);
    memcpy(key, cr->cr_msisdn, n);
    return n;
}

static void produce_records(const char *prefix, const cdr_subtab *subs, const cdr_record *recs,
                            size_t n, key_mode km)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    static const char *const kv[] = {
        "partitioner", "murmur2_random", "enable.idempotence", "true", "linger.ms", "20", NULL};
    rd_kafka_t *p = test_kafka_client(RD_KAFKA_PRODUCER, kv, NULL);
    for (size_t i = 0; i < n; i++) {
        uint8_t val[CDR_WIRE_MAX];
        char key[CDR_NUMBER_MAX + 24];
        size_t vlen = cdr_wire_encode(&recs[i], val), klen = record_key(subs, &recs[i], km, key);
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
}

/* n generated records (cr_source = source when not NULL). */
static cdr_record *gen_records(fixture *fx, size_t n, const char *source)
{
    cdr_record *recs = malloc(n * sizeof *recs);
    cr_assert(recs);
    cdr_gen_cdrs(fx->fx_gen, recs, n);
    for (size_t i = 0; source && i < n; i++)
        snprintf(recs[i].cr_source, sizeof recs[i].cr_source, "%s", source);
    return recs;
}

static cdr_record *produce_input(fixture *fx, const char *prefix, size_t n)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    test_kafka_create_topic(topic, PARTITIONS, 0);
    cdr_record *recs = gen_records(fx, n, NULL);
    produce_records(prefix, fx->fx_subs, recs, n, KEY_OWNER);
    return recs;
}

/* Values that are no CDR wire record: they must reach cdr.suspense and the stream go on. */
static void produce_garbage(const char *prefix, int n)
{
    char topic[256];
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    rd_kafka_t *p = test_kafka_client(RD_KAFKA_PRODUCER, NULL, NULL);
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
    rd_kafka_t *c = test_kafka_client(RD_KAFKA_CONSUMER, kv, NULL);
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
    cdr_rater *of_rt;
    const cdr_subtab *of_subs; /* the directory of the last records: owners on the wire */
    expect *of_ex;
    size_t of_n, of_cap;
    cdr_money of_charge;
    uint64_t of_rated, of_suspense;
    counters of_ctr;
    char **of_alerts; /* the alerts raised, as the JSON cdr.alerts carries, sorted at the end */
    size_t of_nal, of_capal;
} offline;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_alert(char ***list, size_t *n, size_t *cap, const char *text, size_t len)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        *list = realloc(*list, *cap * sizeof **list);
        cr_assert(*list);
    }
    char *c = malloc(len + 1);
    cr_assert(c);
    memcpy(c, text, len);
    c[len] = '\0';
    (*list)[(*n)++] = c;
}

/* Offline rating in steps: begin, rate batches (plans and directory may change in between, as
 * the stream's reloads do), end. */
static void offline_begin(offline *of, cdr_plan_set *ps, const cdr_subtab *subs)
{
    memset(of, 0, sizeof *of);
    cr_assert_eq(cdr_rater_create(1, ps, subs, &of->of_rt), 0);
    cdr_rater_track_changes(of->of_rt, 1);
    cdr_credit_config cc; /* as rate-stream's default */
    cdr_credit_config_default(&cc);
    cr_assert_eq(cdr_rater_set_credit(of->of_rt, &cc), 0);
    cr_assert_eq(cdr_rater_set_fraud(of->of_rt, g_fraud), 0);
    of->of_subs = subs;
}

static void offline_rate(offline *of, const cdr_record *recs, size_t n)
{
    cdr_rated *out = malloc((n ? n : 1) * sizeof *out);
    cr_assert(out);
    cr_assert_eq(cdr_rater_rate(of->of_rt, recs, n, out, NULL), 0);
    if (of->of_n + n > of->of_cap) {
        of->of_cap = 2 * (of->of_n + n);
        of->of_ex = realloc(of->of_ex, of->of_cap * sizeof *of->of_ex);
        cr_assert(of->of_ex);
    }
    size_t na;
    const cdr_alert *al = cdr_rater_alerts(of->of_rt, &na);
    for (size_t a = 0; a < na; a++) {
        char js[1024];
        int l = cdr_alert_format_json(&al[a], js, sizeof js);
        cr_assert_gt(l, 1);
        add_alert(&of->of_alerts, &of->of_nal, &of->of_capal, js, (size_t)l - 1);
    }
    for (size_t i = 0; i < n; i++) {
        expect *ex = &of->of_ex[of->of_n++];
        memset(ex, 0, sizeof *ex);
        ex->ex_hash = record_hash(&recs[i]);
        ex->ex_rr = out[i];
        if (out[i].rr_reason) {
            of->of_suspense++;
        } else {
            of->of_rated++;
            of->of_charge += out[i].rr_charge;
        }
    }
    free(out);
}

static void offline_end(offline *of)
{
    qsort(of->of_ex, of->of_n, sizeof *of->of_ex, cmp_expect);
    cr_assert_eq(cdr_rater_counters_changed(of->of_rt, collect_counter, &of->of_ctr), 0);
    qsort(of->of_ctr.cs_rows, of->of_ctr.cs_n, sizeof *of->of_ctr.cs_rows, cmp_row);
    if (of->of_nal)
        qsort(of->of_alerts, of->of_nal, sizeof *of->of_alerts, cmp_str);
    cdr_rater_destroy(of->of_rt);
    of->of_rt = NULL;
}

static void rate_offline(const fixture *fx, const cdr_record *recs, size_t n, offline *of)
{
    offline_begin(of, fx->fx_ps, fx->fx_subs);
    offline_rate(of, recs, n);
    offline_end(of);
}

static void offline_free(offline *of)
{
    free(of->of_ex);
    free(of->of_ctr.cs_rows);
    for (size_t i = 0; i < of->of_nal; i++)
        free(of->of_alerts[i]);
    free(of->of_alerts);
}

typedef struct readback {
    offline *rb_of;
    int rb_suspense; /* reading cdr.suspense */
    uint64_t rb_n;
    cdr_money rb_charge;
    uint64_t rb_mismatch, rb_dup, rb_unknown, rb_undecodable;
    uint64_t rb_owned; /* records that carry their charging owner (re-keyed ones) */
    counters rb_ctr;
    char **rb_alerts;
    size_t rb_nal, rb_capal;
} readback;

static int read_alert(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    add_alert(&rb->rb_alerts, &rb->rb_nal, &rb->rb_capal, (const char *)km->km_value,
              km->km_value_len);
    return 0;
}

static int check_rated(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX], reason[32];
    cdr_diag dg;
    if (rb->rb_suspense && cdr_kafka_msg_header(km, "cdr.reason", reason, sizeof reason) &&
        !strcmp(reason, "undecodable")) {
        cr_assert(km->km_value_len > 11 && !memcmp(km->km_value, "\xff not a CDR", 11),
                  "an undecodable value is passed on as it came");
        rb->rb_undecodable++;
        return 0;
    }
    cr_assert_eq(cdr_rated_wire_decode(km->km_value, km->km_value_len, &cr, &rr, plan, &dg), 0,
                 "%s offset %" PRId64 ": %s", km->km_topic, km->km_offset, dg.dg_msg);
    if (cr.cr_owner) { /* set by re-keying: the directory's owner; the input had none */
        const cdr_sub *su = cdr_subtab_find(rb->rb_of->of_subs, cr.cr_msisdn);
        cr_assert(su && su->su_owner == cr.cr_owner, "%s offset %" PRId64 ": owner %" PRIu64,
                  km->km_topic, km->km_offset, cr.cr_owner);
        rb->rb_owned++;
        cr.cr_owner = 0;
    }
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
        er->rr_free_units != rr.rr_free_units || strcmp(er->rr_currency, rr.rr_currency) ||
        (rb->rb_suspense != (rr.rr_reason != 0)))
        rb->rb_mismatch++;
    return 0;
}

static int read_counter(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    cdr_counter_change cc;
    if (cdr_fraud_change_is(km->km_key, km->km_key_len))
        return 0; /* fraud-rule state: compared through the alerts it raises */
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
 * cdr.suspense besides the unratable records; *owned (may be NULL) gets the number of output
 * records that carry their charging owner (re-keyed on the way). */
static void compare_output(const char *prefix, offline *of, uint64_t undecodable, uint64_t *owned)
{
    cdr_diag dg;
    char topic[256];
    readback rb = {.rb_of = of};
    /* the raters have stopped: their last commits' markers may still be on the way */
    static const char *const outputs[] = {"cdr.rated", "cdr.suspense", "cdr.counters",
                                          "cdr.alerts"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        snprintf(topic, sizeof topic, "%s%s", prefix, outputs[i]);
        test_kafka_wait_readable(topic, TIMEOUT_MS);
    }
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
    /* every alert exactly once: the same multiset as offline */
    snprintf(topic, sizeof topic, "%scdr.alerts", prefix);
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, read_alert, &rb, &dg),
                 0, "%s", dg.dg_msg);
    if (rb.rb_nal)
        qsort(rb.rb_alerts, rb.rb_nal, sizeof *rb.rb_alerts, cmp_str);
    cr_assert(of->of_nal > 0, "no alerts at all: the test proves nothing about them");
    cr_assert_eq(rb.rb_nal, of->of_nal, "alerts: %zu on Kafka, %zu offline", rb.rb_nal, of->of_nal);
    for (size_t i = 0; i < of->of_nal; i++)
        cr_assert_str_eq(rb.rb_alerts[i], of->of_alerts[i], "alert %zu differs", i);
    size_t fraud = 0, credit = 0;
    for (size_t i = 0; i < of->of_nal; i++) {
        fraud += strstr(of->of_alerts[i], "\"kind\":\"fraud\"") != NULL;
        credit += strstr(of->of_alerts[i], "\"kind\":\"credit\"") != NULL;
    }
    cr_assert(fraud > 0 && credit > 0, "%zu fraud and %zu credit alerts: the test proves little",
              fraud, credit);
    cr_log_info("%zu alerts (%zu fraud, %zu credit): equal to offline", of->of_nal, fraud, credit);
    for (size_t i = 0; i < rb.rb_nal; i++)
        free(rb.rb_alerts[i]);
    free(rb.rb_alerts);
    if (owned)
        *owned = rb.rb_owned;
    else
        cr_assert_eq(rb.rb_owned, 0, "records re-keyed although the input was keyed by owner");
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
    test_kafka_unique(prefix, sizeof prefix, "stream");
    snprintf(group, sizeof group, "%sgroup", prefix);
    cdr_record *recs = produce_input(&fx, prefix, n);
    produce_garbage(prefix, garbage);
    offline of;
    rate_offline(&fx, recs, n, &of);

    volatile sig_atomic_t stop = 0;
    run_arg ra = {.ra_fx = &fx};
    ra.ra_cfg = (cdr_stream_config){.sc_brokers = brokers(),
                                    .sc_fraud = g_fraud,
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
    cr_assert_eq(ra.ra_stats.ss_rekeyed, 0, "the input is keyed by owner");
    cr_assert_eq(ra.ra_stats.ss_undecodable, garbage);
    cr_assert_eq(ra.ra_stats.ss_reloads, 0);
    cr_assert(ra.ra_stats.ss_batches > 0 && ra.ra_stats.ss_p99_ns > 0 &&
              ra.ra_stats.ss_p50_ns <= ra.ra_stats.ss_p99_ns);
    cr_assert(ra.ra_stats.ss_busy_seconds > 0 &&
              ra.ra_stats.ss_busy_seconds <= ra.ra_stats.ss_seconds);
    compare_output(prefix, &of, garbage, NULL);
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
    test_kafka_unique(prefix, sizeof prefix, "join");
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
                                           .sc_fraud = g_fraud,
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
    compare_output(prefix, &of, 0, NULL);
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

/* Run `cdrate rate-stream` with the brokers, group, store and topic prefix, then args (NULL
 * terminated); stderr to logpath, stdout to outpath (NULL: logpath), both appended. */
static pid_t spawn_args(const char *exe, const fixture *fx, const char *prefix, const char *group,
                        const char *const *args, const char *logpath, const char *outpath)
{
    const char *argv[40] = {exe,   "rate-stream", "--brokers",  brokers(),        "--group",
                            group, "--store",     fx->fx_store, "--topic-prefix", prefix};
    int n = 10;
    for (; args && *args && n < 39; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *lf = freopen(logpath, "a", stderr);
        (void)lf;
        if (!freopen(outpath ? outpath : logpath, "a", stdout))
            _exit(126);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t spawn(const char *exe, const fixture *fx, const char *prefix, const char *group,
                   const char *logpath)
{
    static const char *const args[] = {"--batch", "1000", "--threads", "2", "--stats", NULL};
    return spawn_args(exe, fx, prefix, group, args, logpath, NULL);
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int c = 0;
    while (fgets(line, sizeof line, f))
        c += strstr(line, needle) != NULL;
    fclose(f);
    return c;
}

static void wait_lines(const char *path, const char *needle, int want, pid_t child)
{
    while (count_in_file(path, needle) < want) {
        int status = 0;
        if (waitpid(child, &status, WNOHANG) != 0) {
            show_child_log();
            cr_assert_fail("rate-stream exited (status %d) waiting for %s", status, needle);
        }
        usleep(100 * 1000);
    }
}

Test(stream, killed_and_restarted_equals_offline, .timeout = 900)
{
    const size_t n = 60000;
    fixture fx;
    fixture_open(&fx);
    char exe[4096], prefix[128], group[160], logpath[400];
    cdrate_path(exe, sizeof exe);
    test_kafka_unique(prefix, sizeof prefix, "crash");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(logpath, sizeof logpath, "%s/rate-stream.log", fx.fx_dir);
    child_log = logpath;
    cdr_record *recs = produce_input(&fx, prefix, n);
    offline of;
    rate_offline(&fx, recs, n, &of);
    cdr_store_close(fx.fx_st); /* the child opens the store */
    fx.fx_st = NULL;

    /* kill after each further tenth of the input has been committed (tenths, not sixths: the
     * fifth run must find work left even when the machine is so loaded that the fourth run gets
     * well past its mark before the kill; with sixths it once did all of it, CI 2026-12-05) */
    for (int k = 1; k <= 4; k++) {
        pid_t pid = spawn(exe, &fx, prefix, group, logpath);
        /* read what is committed once this run has started: its init_transactions has settled
         * the killed predecessor's last transaction, which could otherwise still commit and be
         * taken for this run's first batch */
        wait_lines(logpath, "msg=\"rate-stream started\"", k, pid);
        const int64_t before = committed(prefix, group), want = (int64_t)(n * (size_t)k / 10);
        /* this run commits at least one batch of its own first */
        wait_committed(prefix, group, want > before ? want : before + 1, pid);
        usleep((useconds_t)(rand() % 300) * 1000); /* somewhere inside a later batch */
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status));
    }
    const int assigned = count_in_file(logpath, "msg=\"partitions assigned\"");
    pid_t pid = spawn(exe, &fx, prefix, group, logpath);
    /* the run has partitions (and its signal handlers) before the SIGTERM: the killed runs may
     * have committed everything already, and an early SIGTERM would end it as a signal does */
    wait_lines(logpath, "msg=\"partitions assigned\"", assigned + 1, pid);
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
        if (strstr(line, "msg=\"rate-stream started\""))
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
    compare_output(prefix, &of, 0, NULL);
    offline_free(&of);
    free(recs);
    fixture_close(&fx);
}

/* ---- re-keying and --idle-exit (in-process) ---------------------------------------------------
 * Subscribers that are their own charging owner come keyed by MSISDN, as from a collector without
 * directory. Each such record on another partition than its owner's is forwarded in the batch's
 * transaction to cdr.raw keyed by the owner (cr_owner set), rated there, and the result is still
 * offline's. The run ends by itself once everything, the forwarded records too, is consumed. */

typedef struct stats_seen {
    uint64_t se_calls;
    cdr_stream_stats se_last;
} stats_seen;

static void on_stats(void *arg, const cdr_stream_stats *ss)
{
    stats_seen *se = arg;
    se->se_calls++;
    se->se_last = *ss;
}

typedef struct raw_scan {
    const cdr_subtab *rs_subs;
    uint64_t rs_n, rs_forwarded;
} raw_scan;

static int scan_raw(void *arg, const cdr_kafka_msg *km)
{
    raw_scan *rs = arg;
    cdr_record cr;
    cdr_diag dg;
    rs->rs_n++;
    if (cdr_wire_decode(km->km_value, km->km_value_len, &cr, &dg) != 0 || !cr.cr_owner)
        return 0; /* garbage, or input (the generator sets no owner) */
    rs->rs_forwarded++;
    const cdr_sub *su = cdr_subtab_find(rs->rs_subs, cr.cr_msisdn);
    char key[CDR_KAFKA_KEY_MAX];
    const size_t klen = cdr_kafka_owner_key(cr.cr_owner, key);
    cr_assert(su && su->su_owner == cr.cr_owner, "forwarded with the directory's owner");
    cr_assert(km->km_key_len == klen && !memcmp(km->km_key, key, klen), "keyed by the owner");
    cr_assert_eq(km->km_partition, cdr_kafka_key_partition(key, klen, PARTITIONS),
                 "on the owner's partition");
    return 0;
}

Test(stream, rekeys_and_exits_when_idle, .timeout = 600)
{
    const size_t n = 12000;
    const int garbage = 2;
    fixture fx;
    fixture_open(&fx);
    char prefix[128], group[160], topic[200];
    test_kafka_unique(prefix, sizeof prefix, "rekey");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    test_kafka_create_topic(topic, PARTITIONS, 0);
    cdr_record *recs = gen_records(&fx, n, NULL);
    produce_records(prefix, fx.fx_subs, recs, n, KEY_MSISDN);
    produce_garbage(prefix, garbage);
    uint64_t want = 0; /* records on another partition than their owner's */
    for (size_t i = 0; i < n; i++) {
        const cdr_sub *su = cdr_subtab_find(fx.fx_subs, recs[i].cr_msisdn);
        char a[CDR_KAFKA_KEY_MAX + CDR_NUMBER_MAX], b[CDR_KAFKA_KEY_MAX];
        if (!su)
            continue;
        const size_t alen = record_key(fx.fx_subs, &recs[i], KEY_MSISDN, a);
        const size_t blen = cdr_kafka_owner_key(su->su_owner, b);
        want += cdr_kafka_key_partition(a, alen, PARTITIONS) !=
                cdr_kafka_key_partition(b, blen, PARTITIONS);
    }
    cr_assert(want > n / 4, "only %" PRIu64 " of %zu records to re-key: the test proves little",
              want, n);
    offline of;
    rate_offline(&fx, recs, n, &of);

    stats_seen se = {0};
    run_arg ra = {.ra_fx = &fx};
    ra.ra_cfg = (cdr_stream_config){.sc_brokers = brokers(),
                                    .sc_fraud = g_fraud,
                                    .sc_group = group,
                                    .sc_topic_prefix = prefix,
                                    .sc_threads = 2,
                                    .sc_batch = 2000,
                                    .sc_quiet = 1,
                                    .sc_idle_exit_ms = 1000,
                                    .sc_on_stats = on_stats,
                                    .sc_stats_arg = &se};
    cdr_diag_clear(&ra.ra_dg);
    pthread_t th;
    pthread_create(&th, NULL, run_thread, &ra);
    pthread_join(th, NULL); /* no stop flag: it ends by itself */
    const cdr_stream_stats *ss = &ra.ra_stats;
    cr_assert_eq(ra.ra_rc, 0, "cdr_stream_run: %s", ra.ra_dg.dg_msg);
    cr_assert_eq(ss->ss_rekeyed, want, "re-keyed %" PRIu64 ", expected %" PRIu64, ss->ss_rekeyed,
                 want);
    cr_assert_eq(ss->ss_consumed, n + garbage + want, "the forwarded records come back once");
    cr_assert_eq(ss->ss_consumed, ss->ss_rated + ss->ss_suspense + ss->ss_rekeyed);
    cr_assert_eq(ss->ss_rated, of.of_rated);
    cr_assert_eq(ss->ss_suspense, of.of_suspense + garbage);
    cr_assert_eq(ss->ss_undecodable, garbage);
    cr_assert_eq(ss->ss_misrouted, 0);
    cr_assert_eq(ss->ss_lag, 0, "idle exit with a lag of %" PRId64, ss->ss_lag);
    cr_assert_eq(ss->ss_partitions, PARTITIONS, "the partitions at the end");
    cr_assert(se.se_calls > 1, "the metrics callback was called %" PRIu64 " times", se.se_calls);
    cr_assert_eq(se.se_last.ss_consumed, ss->ss_consumed, "the last call has the totals");
    uint64_t owned = 0;
    compare_output(prefix, &of, garbage, &owned);
    cr_assert_eq(owned, want, "%" PRIu64 " results carry their owner, %" PRIu64 " re-keyed", owned,
                 want);
    raw_scan rs = {.rs_subs = fx.fx_subs};
    cdr_diag dg;
    test_kafka_wait_readable(topic, TIMEOUT_MS); /* the forwarded records came in transactions */
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, scan_raw, &rs, &dg), 0,
                 "%s", dg.dg_msg);
    cr_assert_eq(rs.rs_forwarded, want);
    cr_assert_eq(rs.rs_n, n + garbage + want);
    cr_log_info("%" PRIu64 " of %zu records re-keyed; idle exit after %.1f s", want, n,
                ss->ss_seconds);
    offline_free(&of);
    free(recs);
    fixture_close(&fx);
}

/* ---- hot reload through the cdrate binary -----------------------------------------------------
 * Phase 1 runs with the fixture's plans and directory. Then a new version of cn-personal-128
 * (SMS 0.25 instead of 0.10, effective from 2026-11-16 in the middle of the records' month) is
 * compiled into the store: phase 2 is rated with it, old price before the effective date, new
 * after. Then a directory with one more subscriber (U, whose records phase 1 suspended as
 * unknown) is loaded: phase 3 rates U. The whole output equals offline rating with the same
 * changes between the same records. Also: the metrics endpoint, --stats-interval, the logs. */

/* Wait until path holds want lines with needle; fail when the child exits. */

/* GET path from 127.0.0.1:port; returns the status code, the response in buf. */
static int http_get(int port, const char *path, char *buf, size_t bufsize)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "connect to port %d", port);
    char req[256];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    cr_assert_eq(send(fd, req, (size_t)len, 0), len);
    size_t n = 0;
    ssize_t r;
    while (n < bufsize - 1 && (r = recv(fd, buf + n, bufsize - 1 - n, 0)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    int code = 0;
    cr_assert_eq(sscanf(buf, "HTTP/1.0 %d", &code), 1, "not an HTTP response: %.80s", buf);
    return code;
}

/* The value of a metric line "name value" in a Prometheus text, or -2. */
static double metric(const char *text, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : -2;
}

typedef struct phase_check {
    cdr_time pc_eff;
    const cdr_plan *pc_v1; /* zone names */
    char pc_u[CDR_NUMBER_MAX];
    uint64_t pc_before, pc_after, pc_p1_after, pc_u_p1, pc_u_p3;
} phase_check;

/* SMS of cn-personal-128 to onnet / domestic numbers: 0.10 (version 1) before the new version's
 * effective date or when rated before the reload, 0.25 (version 2) after it. */
static int check_phases(void *arg, const cdr_kafka_msg *km)
{
    phase_check *pc = arg;
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(km->km_value, km->km_value_len, &cr, &rr, plan, &dg), 0);
    if (!strcmp(cr.cr_msisdn, pc->pc_u)) {
        if (!strcmp(cr.cr_source, "reload-p1")) {
            cr_assert_eq(rr.rr_reason, CDR_REASON_UNKNOWN_SUBSCRIBER, "U before the reload");
            pc->pc_u_p1++;
        } else if (!strcmp(cr.cr_source, "reload-p3") && !rr.rr_reason) {
            pc->pc_u_p3++;
        }
        return 0;
    }
    if (rr.rr_reason || strcmp(plan, "cn-personal-128") || cr.cr_service != CDR_SVC_SMS ||
        cr.cr_direction != CDR_DIR_MO || rr.rr_zone < 0)
        return 0;
    const char *zone = pc->pc_v1->pl_zones[rr.rr_zone].zo_name;
    if (strcmp(zone, "onnet") && strcmp(zone, "domestic"))
        return 0;
    const int after = cr.cr_start >= pc->pc_eff;
    if (!strcmp(cr.cr_source, "reload-p2")) {
        cr_assert_eq(rr.rr_plan_version, after ? 2u : 1u, "phase 2, %s the effective date",
                     after ? "after" : "before");
        cr_assert_eq(rr.rr_charge, after ? 250000 : 100000, "phase 2 SMS at %" PRId64,
                     (int64_t)rr.rr_charge);
        *(after ? &pc->pc_after : &pc->pc_before) += 1;
    } else if (!strcmp(cr.cr_source, "reload-p1") && after) {
        cr_assert_eq(rr.rr_plan_version, 1u, "rated before the reload");
        cr_assert_eq(rr.rr_charge, 100000);
        pc->pc_p1_after++;
    }
    return 0;
}

/* Replace the one occurrence of from in s (size cap) by to. */
static void replace_once(char *s, size_t cap, const char *from, const char *to)
{
    char *p = strstr(s, from);
    cr_assert(p && !strstr(p + 1, from), "'%s' is not in the plan exactly once", from);
    const size_t fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
    cr_assert(strlen(s) - fl + tl < cap);
    memmove(p + tl, p + fl, rest + 1);
    memcpy(p, to, tl);
}

Test(stream, hot_reload_plans_and_directory, .timeout = 900)
{
    const size_t n1 = 3000, n2 = 3000, n3 = 3000;
    fixture fx;
    fixture_open(&fx);
    char exe[4096], prefix[128], group[160], topic[200], logpath[400], outpath[400];
    cdrate_path(exe, sizeof exe);
    test_kafka_unique(prefix, sizeof prefix, "reload");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    snprintf(logpath, sizeof logpath, "%s/rate-stream.log", fx.fx_dir);
    snprintf(outpath, sizeof outpath, "%s/rate-stream.out", fx.fx_dir);
    child_log = logpath;
    test_kafka_create_topic(topic, PARTITIONS, 0);
    cdr_diag dg;

    /* phase 1, and U: the first MSISDN of it that is not in the directory */
    cdr_record *r1 = gen_records(&fx, n1, "reload-p1");
    phase_check pc = {0};
    for (size_t i = 0; i < n1 && !pc.pc_u[0]; i++)
        if (!cdr_subtab_find(fx.fx_subs, r1[i].cr_msisdn))
            snprintf(pc.pc_u, sizeof pc.pc_u, "%s", r1[i].cr_msisdn);
    cr_assert(pc.pc_u[0], "no unknown subscriber in phase 1");
    uint64_t u_in_p1 = 0;
    for (size_t i = 0; i < n1; i++)
        u_in_p1 += !strcmp(r1[i].cr_msisdn, pc.pc_u);
    offline of;
    offline_begin(&of, fx.fx_ps, fx.fx_subs);
    offline_rate(&of, r1, n1);
    produce_records(prefix, fx.fx_subs, r1, n1, KEY_OWNER);
    static const char *const args[] = {
        "--batch",          "1000", "--threads",        "2",           "--reload-interval", "200",
        "--stats-interval", "1",    "--metrics-listen", "127.0.0.1:0", "--stats",           NULL};
    pid_t pid = spawn_args(exe, &fx, prefix, group, args, logpath, outpath);
    wait_committed(prefix, group, (int64_t)n1, pid);

    /* phase 2: a new plan version, compiled into the store while the stream runs */
    const cdr_embedded_file *ef = NULL;
    for (size_t i = 0; i < cdr_embedded_plans_count; i++)
        if (!strcmp(cdr_embedded_plans[i].ef_name, "cn-personal-128.yaml"))
            ef = &cdr_embedded_plans[i];
    cr_assert(ef);
    char *text = malloc(ef->ef_len + 256), plans2[400], path[500];
    cr_assert(text);
    memcpy(text, ef->ef_text, ef->ef_len);
    text[ef->ef_len] = '\0';
    replace_once(text, ef->ef_len + 256, "\nversion: 1\n", "\nversion: 2\n");
    replace_once(text, ef->ef_len + 256, "effective_from: 2026-01-01T00:00:00+08:00",
                 "effective_from: 2026-11-16T00:00:00+08:00");
    replace_once(text, ef->ef_len + 256, "{service: sms, zones: \"*\", price: 0.10}",
                 "{service: sms, zones: \"*\", price: 0.25}");
    snprintf(plans2, sizeof plans2, "%s/plans2", fx.fx_dir);
    cr_assert_eq(mkdir(plans2, 0755), 0);
    snprintf(path, sizeof path, "%s/cn-personal-128-v2.yaml", plans2);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(text, f) >= 0 && fclose(f) == 0);
    free(text);
    cr_assert_eq(cdr_plan_store_compile_dir(fx.fx_st, plans2, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_plan_set *ps2;
    cr_assert_eq(cdr_plan_set_load(fx.fx_st, &ps2, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps2->ps_nplans, fx.fx_ps->ps_nplans + 1);
    const int fam = cdr_plan_set_family(ps2, "cn-personal-128");
    cr_assert(fam >= 0);
    int32_t off;
    cr_assert_eq(cdr_time_parse_iso("2026-11-16T00:00:00+08:00", 25, &pc.pc_eff, &off), 0);
    pc.pc_v1 = cdr_plan_set_at(ps2, fam, pc.pc_eff - 1);
    cr_assert(pc.pc_v1 && pc.pc_v1->pl_version == 1);
    cr_assert_eq(cdr_plan_set_at(ps2, fam, pc.pc_eff)->pl_version, 2);
    cr_assert_eq(cdr_rater_set_plans(of.of_rt, ps2), 0);
    wait_lines(logpath, "msg=\"reloaded\"", 1, pid);
    cr_assert_eq(count_in_file(logpath, "new_versions=\"cn-personal-128:2@2026-11-15T16:00:00Z\""),
                 1, "the reload names the new version");
    cdr_record *r2 = gen_records(&fx, n2, "reload-p2");
    offline_rate(&of, r2, n2);
    produce_records(prefix, fx.fx_subs, r2, n2, KEY_OWNER);
    wait_committed(prefix, group, (int64_t)(n1 + n2), pid);

    /* phase 3: a directory with U added, loaded while the stream runs */
    char dir1[400], dir2[400];
    snprintf(dir1, sizeof dir1, "%s/directory.txt", fx.fx_dir);
    snprintf(dir2, sizeof dir2, "%s/directory2.txt", fx.fx_dir);
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", dir1, dir2);
    cr_assert_eq(system(cmd), 0);
    f = fopen(dir2, "a");
    cr_assert(f);
    fprintf(f,
            "customer id=990000001 type=person name=\"Hot Reload\" credit_class=C\n"
            "account id=990000001 customer=990000001\n"
            "subscriber id=990000001 account=990000001 msisdn=%s plan=cn-personal-128 "
            "active_from=2020-01-01\n",
            pc.pc_u);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(cdr_dir_load_file(fx.fx_st, dir2, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_subtab *subs2;
    cr_assert_eq(cdr_dir_rating_view(fx.fx_st, &subs2, &dg), 0, "%s", dg.dg_msg);
    cr_assert(cdr_subtab_find(subs2, pc.pc_u));
    cr_assert_eq(cdr_rater_set_subtab(of.of_rt, subs2, NULL), 0);
    of.of_subs = subs2;
    wait_lines(logpath, "msg=\"reloaded\"", 2, pid);
    cr_assert_eq(count_in_file(logpath, " added=1 removed=0 changed=0 owner_changes=0"), 1);
    cdr_record *r3 = gen_records(&fx, n3, "reload-p3");
    for (size_t i = 0; i < n3; i += 10)
        snprintf(r3[i].cr_msisdn, sizeof r3[i].cr_msisdn, "%s", pc.pc_u);
    offline_rate(&of, r3, n3);
    produce_records(prefix, subs2, r3, n3, KEY_OWNER);
    const int64_t total = (int64_t)(n1 + n2 + n3);
    wait_committed(prefix, group, total, pid);

    /* the metrics endpoint, while it runs */
    FILE *lf = fopen(logpath, "r");
    cr_assert(lf);
    char line[4096];
    int port = 0;
    while (fgets(line, sizeof line, lf) && !port) {
        const char *a = strstr(line, "msg=\"metrics endpoint listening\" addr=127.0.0.1:");
        if (a)
            port = atoi(a + strlen("msg=\"metrics endpoint listening\" addr=127.0.0.1:"));
    }
    fclose(lf);
    cr_assert(port > 0, "no metrics endpoint in the log");
    static char body[32768];
    double consumed;
    do { /* the snapshot follows the commit */
        cr_assert_eq(http_get(port, "/metrics", body, sizeof body), 200);
        consumed = metric(body, "cdrate_stream_consumed_records_total");
        cr_assert(consumed >= 0, "no consumed metric:\n%s", body);
    } while (consumed < (double)total);
    cr_assert_eq(consumed, (double)total);
    cr_assert_eq(metric(body, "cdrate_stream_reloads_total"), 2);
    cr_assert_eq(metric(body, "cdrate_stream_rekeyed_records_total"), 0);
    cr_assert_eq(metric(body, "cdrate_stream_assigned_partitions"), PARTITIONS);
    cr_assert(metric(body, "cdrate_stream_lag_records") >= 0);
    cr_assert(strstr(body, "# TYPE cdrate_stream_batch_latency_seconds summary\n"));
    cr_assert(strstr(body, "cdrate_stream_batch_latency_seconds{quantile=\"0.99\"} "));
    cr_assert_eq(http_get(port, "/other", body, sizeof body), 404);
    wait_lines(outpath, "{\"ts\":\"", 1, pid); /* --stats-interval */

    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
    char want[128], final[4096] = "";
    snprintf(want, sizeof want, "{\"consumed\":%" PRId64 ",", total);
    FILE *of_ = fopen(outpath, "r");
    cr_assert(of_);
    while (fgets(line, sizeof line, of_))
        if (!strncmp(line, "{\"consumed\":", 12)) {
            cr_assert(!final[0], "one --stats line at exit");
            snprintf(final, sizeof final, "%s", line);
        }
    fclose(of_);
    cr_assert(!strncmp(final, want, strlen(want)), "the --stats line: %s", final);
    cr_assert(strstr(final, "\"reloads\":2,") && strstr(final, "\"rekeyed\":0,") &&
                  strstr(final, "\"ok\":true}"),
              "the --stats line: %s", final);
    /* every line on stderr is logfmt, but librdkafka's own error lines */
    lf = fopen(logpath, "r");
    cr_assert(lf);
    int lines = 0;
    while (fgets(line, sizeof line, lf)) {
        lines++;
        if (!strncmp(line, "cdrate: kafka ", 14))
            continue;
        cr_assert(!strncmp(line, "ts=20", 5) && strstr(line, "Z level=") && strstr(line, " msg=\""),
                  "not a logfmt line: %s", line);
    }
    fclose(lf);
    cr_assert(lines > 0);
    cr_assert(count_in_file(logpath, "level=info msg=\"partitions assigned\" parts=") >= 1);
    cr_assert_eq(count_in_file(logpath, "msg=\"rate-stream stopped\" reason=signal"), 1);

    offline_end(&of);
    compare_output(prefix, &of, 0, NULL);
    char rated[200], susp[200];
    snprintf(rated, sizeof rated, "%scdr.rated", prefix);
    snprintf(susp, sizeof susp, "%scdr.suspense", prefix);
    cr_assert_eq(
        cdr_kafka_read_topic(brokers(), rated, NULL, 0, TIMEOUT_MS, check_phases, &pc, &dg), 0,
        "%s", dg.dg_msg);
    cr_assert_eq(cdr_kafka_read_topic(brokers(), susp, NULL, 0, TIMEOUT_MS, check_phases, &pc, &dg),
                 0, "%s", dg.dg_msg);
    cr_assert(pc.pc_before > 0 && pc.pc_after > 0 && pc.pc_p1_after > 0,
              "SMS checked: %" PRIu64 " before, %" PRIu64 " after, %" PRIu64 " in phase 1",
              pc.pc_before, pc.pc_after, pc.pc_p1_after);
    cr_assert_eq(pc.pc_u_p1, u_in_p1, "U suspended in phase 1");
    cr_assert(pc.pc_u_p3 > 0, "U rated in phase 3");
    cr_log_info("hot reload: %" PRIu64 " SMS at 0.10 before, %" PRIu64
                " at 0.25 after the effective date; U: %" PRIu64 " suspended, then %" PRIu64
                " rated",
                pc.pc_before, pc.pc_after, pc.pc_u_p1, pc.pc_u_p3);
    offline_free(&of);
    cdr_plan_set_release(ps2);
    cdr_subtab_free(subs2);
    free(r1);
    free(r2);
    free(r3);
    fixture_close(&fx);
}

/* A name other than localhost is refused for --metrics-listen: only a written-out address binds
 * outside the loopback. No broker needed. */
Test(stream_cli, metrics_listen_refuses_names)
{
    char exe[4096], cmd[4400], out[2048];
    cdrate_path(exe, sizeof exe);
    snprintf(cmd, sizeof cmd,
             "'%s' rate-stream --brokers 127.0.0.1:1 --group g --store /nonexistent "
             "--metrics-listen example.com:9100 2>&1",
             exe);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    char rest[512];
    while (fread(rest, 1, sizeof rest, p) > 0) /* the usage after the message */
        ;
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit %d: %s", status, out);
    cr_assert(strstr(out, "--metrics-listen example.com:9100: example.com is not a numeric "
                          "address (give one, or localhost)"),
              "%s", out);
}

/* No broker: cdr_rater_set_subtab. A rater that starts with a directory lacking U and gets one
 * with U between two batches rates both batches as a rater that had the second directory from
 * the start (U's records only come in the second batch), keeps its counters, and no longer reads
 * the first table (freed before the second batch). */
Test(stream_rater, set_subtab_between_batches)
{
    cdr_diag dg;
    cdr_plan_set *ps;
    cr_assert_eq(cdr_bench_embedded_plan_set(&ps, &dg), 0);
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    const cdr_subtab *gen_tab = cdr_gen_subscribers(g);
    cdr_subtab *a, *b;
    cr_assert_eq(cdr_subtab_create(cdr_subtab_count(gen_tab), &a), 0);
    cr_assert_eq(cdr_subtab_create(cdr_subtab_count(gen_tab) + 1, &b), 0);
    const cdr_sub *su;
    for (size_t i = 0; (su = cdr_subtab_at(gen_tab, i)) != NULL; i++) {
        cr_assert_eq(cdr_subtab_add(a, su), 0);
        cr_assert_eq(cdr_subtab_add(b, su), 0);
    }
    cdr_sub u = *cdr_subtab_at(gen_tab, 0);
    snprintf(u.su_msisdn, sizeof u.su_msisdn, "8613900000001");
    u.su_id = u.su_owner = 990000001;
    u.su_enterprise = 0;
    cr_assert_eq(cdr_subtab_add(b, &u), 0);
    enum { N = 4000 };
    cdr_record *recs = malloc(2 * N * sizeof *recs);
    cdr_rated *out_x = malloc(2 * N * sizeof *out_x), *out_y = malloc(2 * N * sizeof *out_y);
    cdr_gen_cdrs(g, recs, 2 * N);
    for (size_t i = N; i < 2 * N; i += 7)
        snprintf(recs[i].cr_msisdn, sizeof recs[i].cr_msisdn, "%s", u.su_msisdn);
    cdr_rater *x, *y;
    cr_assert_eq(cdr_rater_create(2, ps, a, &x), 0);
    cr_assert_eq(cdr_rater_create(2, ps, b, &y), 0);
    cr_assert_eq(cdr_rater_rate(x, recs, N, out_x, NULL), 0);
    cr_assert_eq(cdr_rater_set_subtab(x, NULL, NULL), CDR_EINVAL);
    cr_assert_eq(cdr_rater_set_subtab(x, b, ps), 0);
    cdr_subtab_free(a); /* the rater must not read it any more */
    cr_assert_eq(cdr_rater_rate(x, recs + N, N, out_x + N, NULL), 0);
    cr_assert_eq(cdr_rater_rate(y, recs, N, out_y, NULL), 0);
    cr_assert_eq(cdr_rater_rate(y, recs + N, N, out_y + N, NULL), 0);
    size_t u_rated = 0;
    for (size_t i = 0; i < 2 * N; i++) {
        cr_assert_eq(out_x[i].rr_reason, out_y[i].rr_reason, "record %zu", i);
        cr_assert_eq(out_x[i].rr_charge, out_y[i].rr_charge, "record %zu", i);
        cr_assert_eq(out_x[i].rr_bundle_units, out_y[i].rr_bundle_units, "record %zu", i);
        u_rated += !strcmp(recs[i].cr_msisdn, u.su_msisdn) && !out_x[i].rr_reason;
    }
    cr_assert(u_rated > 0, "U was rated after the swap");
    cr_assert_eq(cdr_rater_counter_count(x), cdr_rater_counter_count(y));
    free(recs);
    free(out_x);
    free(out_y);
    cdr_rater_destroy(x);
    cdr_rater_destroy(y);
    cdr_subtab_free(b);
    cdr_gen_destroy(g);
    cdr_plan_set_release(ps);
}

/* ---- 200 members, one pool, two raters ------------------------------------------------------ */

#define POOL_MEMBERS  200
#define POOL_SESSIONS 15           /* data sessions per member */
#define POOL_SESSION  (5ULL << 20) /* 5 MB each: 15 GB asked of a 1 GB pool */
#define POOL_SIZE     (1ULL << 30)

typedef struct pool_sum {
    uint64_t ps_records, ps_units, ps_bundle, ps_overflow;
    uint64_t ps_pool_counter, ps_member_draws;
} pool_sum;

static int pool_rated(void *arg, const cdr_kafka_msg *km)
{
    pool_sum *ps = arg;
    cdr_record cr;
    cdr_rated rr;
    char plan[CDR_NAME_MAX];
    cdr_diag dg;
    cr_assert_eq(cdr_rated_wire_decode(km->km_value, km->km_value_len, &cr, &rr, plan, &dg), 0,
                 "%s", dg.dg_msg);
    cr_assert_eq(rr.rr_reason, CDR_REASON_NONE);
    cr_assert_eq(rr.rr_units, rr.rr_bundle_units + rr.rr_overflow_units + rr.rr_free_units);
    ps->ps_records++;
    ps->ps_units += rr.rr_units;
    ps->ps_bundle += rr.rr_bundle_units;
    ps->ps_overflow += rr.rr_overflow_units;
    return 0;
}

static int pool_counters(void *arg, const cdr_kafka_msg *km)
{
    pool_sum *ps = arg;
    cdr_counter_change cc;
    if (cdr_fraud_change_is(km->km_key, km->km_key_len) ||
        cdr_counter_change_decode(km->km_key, km->km_key_len, km->km_value, km->km_value_len,
                                  &cc) != 0)
        return 0;
    /* the changelog is read in order per partition and a counter lives in one partition: the
     * last value read is the counter's */
    if (cdr_counter_tag_kind(cc.cc_tag) == CDR_COUNTER_POOL && cc.cc_holder == 1)
        ps->ps_pool_counter = cc.cc_used;
    return 0;
}

/* Every member's own draw, last value per member. */
typedef struct member_draws {
    uint64_t md_used[POOL_MEMBERS];
} member_draws;

static int member_counters(void *arg, const cdr_kafka_msg *km)
{
    member_draws *md = arg;
    cdr_counter_change cc;
    if (!cdr_fraud_change_is(km->km_key, km->km_key_len) &&
        cdr_counter_change_decode(km->km_key, km->km_key_len, km->km_value, km->km_value_len,
                                  &cc) == 0 &&
        cdr_counter_tag_kind(cc.cc_tag) == CDR_COUNTER_MEMBER && cc.cc_holder >= 20000 &&
        cc.cc_holder < 20000 + POOL_MEMBERS)
        md->md_used[cc.cc_holder - 20000] = cc.cc_used;
    return 0;
}

/* 200 members of one enterprise draw on its 1 GB data pool, their records keyed by MSISDN so that
 * both raters of the group get some and forward them to the pool's partition: the pool is used
 * exactly to its size (never over), every record is rated once, and the members' draws add up
 * to the pool's counter. */
Test(stream, two_hundred_members_share_one_pool_through_two_raters, .timeout = 600)
{
    fixture fx;
    memset(&fx, 0, sizeof fx);
    cdr_diag dg;
    cdr_diag_clear(&dg);
    snprintf(fx.fx_dir, sizeof fx.fx_dir, "/tmp/test_stream.XXXXXX");
    cr_assert(mkdtemp(fx.fx_dir));
    char plans[300], dirfile[300];
    snprintf(plans, sizeof plans, "%s/plans", fx.fx_dir);
    snprintf(dirfile, sizeof dirfile, "%s/directory.txt", fx.fx_dir);
    snprintf(fx.fx_store, sizeof fx.fx_store, "%s/store", fx.fx_dir);
    FILE *f = fopen(dirfile, "w");
    cr_assert(f);
    fprintf(f, "directory version=1\n"
               "credit_class id=B limit=20000.00 term_days=30 warn=80,95\n"
               "customer id=1 type=company name=\"Pool Co\" credit_class=B manager=am.pool\n"
               "account id=1 customer=1\n"
               "enterprise id=1 customer=1 account=1\n"
               "product id=1 enterprise=1 pool_data=1GB\n");
    for (int i = 0; i < POOL_MEMBERS; i++)
        fprintf(f,
                "customer id=%d type=person name=\"M%d\" credit_class=B\n"
                "account id=%d customer=%d\n"
                "subscriber id=%d account=%d msisdn=86139%08d plan=cn-enterprise "
                "active_from=2026-01-01\n"
                "membership subscriber=%d product=1\n",
                10000 + i, i, 10000 + i, 10000 + i, 20000 + i, 10000 + i, i, 20000 + i);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(cdr_bench_write_embedded_plans(plans, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_store_open(fx.fx_store, 0, &fx.fx_st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_store_compile_dir(fx.fx_st, plans, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_load_file(fx.fx_st, dirfile, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_set_load(fx.fx_st, &fx.fx_ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_rating_view(fx.fx_st, &fx.fx_subs, &dg), 0, "%s", dg.dg_msg);

    /* the sessions, interleaved over the members, keyed by MSISDN (as a collector without a
     * directory keys them): spread over every partition */
    const size_t n = (size_t)POOL_MEMBERS * POOL_SESSIONS;
    cdr_record *recs = calloc(n, sizeof *recs);
    cr_assert(recs);
    for (size_t k = 0; k < n; k++) {
        cdr_record *cr = &recs[k];
        const size_t m = k % POOL_MEMBERS;
        snprintf(cr->cr_source, sizeof cr->cr_source, "PGW01");
        snprintf(cr->cr_origin_id, sizeof cr->cr_origin_id, "%zu", k);
        snprintf(cr->cr_msisdn, sizeof cr->cr_msisdn, "86139%08zu", m);
        cr->cr_service = CDR_SVC_DATA;
        cr->cr_direction = CDR_DIR_MO;
        cr->cr_start = 1777593600 + (cdr_time)k; /* 2026-05-01 */
        cr->cr_duration = 60;
        cr->cr_bytes_down = POOL_SESSION;
    }
    char prefix[128], group[160], topic[256], tid[2][200];
    test_kafka_unique(prefix, sizeof prefix, "pool");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.raw", prefix);
    test_kafka_create_topic(topic, PARTITIONS, 0);
    produce_records(prefix, fx.fx_subs, recs, n, KEY_RAW);

    run_arg ra[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        snprintf(tid[i], sizeof tid[i], "%srater%d", prefix, i);
        ra[i] = (run_arg){.ra_fx = &fx};
        ra[i].ra_cfg = (cdr_stream_config){.sc_brokers = brokers(),
                                           .sc_group = group,
                                           .sc_topic_prefix = prefix,
                                           .sc_transactional_id = tid[i],
                                           .sc_threads = 2,
                                           .sc_batch = 400,
                                           .sc_quiet = 1,
                                           .sc_idle_exit_ms = 2500};
        cdr_diag_clear(&ra[i].ra_dg);
        pthread_create(&th[i], NULL, run_thread, &ra[i]);
    }
    uint64_t rekeyed = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ra[i].ra_rc, 0, "rater %d: %s", i, ra[i].ra_dg.dg_msg);
        rekeyed += ra[i].ra_stats.ss_rekeyed;
    }
    /* --idle-exit ends a rater whose partitions are drained even while the other is still
     * forwarding records to one of them (a slow transaction, a fresh broker's coordinator): such
     * records wait in cdr.raw for the next run, as in production. That next run: */
    run_arg last = {.ra_fx = &fx, .ra_cfg = ra[0].ra_cfg};
    last.ra_cfg.sc_transactional_id = tid[0];
    cdr_diag_clear(&last.ra_dg);
    pthread_t lt;
    pthread_create(&lt, NULL, run_thread, &last);
    pthread_join(lt, NULL);
    cr_assert_eq(last.ra_rc, 0, "the last run: %s", last.ra_dg.dg_msg);
    cr_log_info("rater 0: consumed %" PRIu64 " rekeyed %" PRIu64 "; rater 1: consumed %" PRIu64
                " rekeyed %" PRIu64 "; the last run: consumed %" PRIu64,
                ra[0].ra_stats.ss_consumed, ra[0].ra_stats.ss_rekeyed, ra[1].ra_stats.ss_consumed,
                ra[1].ra_stats.ss_rekeyed, last.ra_stats.ss_consumed);
    cr_assert_gt(rekeyed, 0,
                 "no record was forwarded to the pool's partition: the test proves little");

    pool_sum ps = {0};
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_kafka_wait_readable(topic, TIMEOUT_MS);
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, pool_rated, &ps, &dg),
                 0, "%s", dg.dg_msg);
    snprintf(topic, sizeof topic, "%scdr.counters", prefix);
    cr_assert_eq(
        cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, pool_counters, &ps, &dg), 0,
        "%s", dg.dg_msg);
    static member_draws md;
    memset(&md, 0, sizeof md);
    cr_assert_eq(
        cdr_kafka_read_topic(brokers(), topic, NULL, 0, TIMEOUT_MS, member_counters, &md, &dg), 0,
        "%s", dg.dg_msg);
    uint64_t draws = 0;
    for (int i = 0; i < POOL_MEMBERS; i++)
        draws += md.md_used[i];
    cr_assert_eq(ps.ps_records, n, "%" PRIu64 " rated records of %zu", ps.ps_records, n);
    cr_assert_eq(ps.ps_bundle, POOL_SIZE, "the pool gave %" PRIu64 " bytes of %llu", ps.ps_bundle,
                 (unsigned long long)POOL_SIZE);
    cr_assert_eq(ps.ps_pool_counter, POOL_SIZE, "the pool's counter %" PRIu64, ps.ps_pool_counter);
    cr_assert_eq(draws, POOL_SIZE, "the members' draws add up to %" PRIu64, draws);
    cr_assert_eq(ps.ps_bundle + ps.ps_overflow, ps.ps_units);
    cr_log_info("%zu sessions of 200 members through 2 raters (%" PRIu64
                " forwarded to the pool's partition): pool used %" PRIu64 " of %llu bytes, "
                "overflow %" PRIu64 " bytes",
                n, rekeyed, ps.ps_bundle, (unsigned long long)POOL_SIZE, ps.ps_overflow);
    free(recs);
    fixture_close(&fx);
}
