/* test_archive.c - the archiver (cdr_archive.h, `cdrate archive`) and `cdrate ledger`, against the
 * real Kafka broker of CDR_KAFKA_BROKERS: every record committed to cdr.rated is in the ledger
 * exactly once, at its partition and offset, with its charge; aborted records never; malformed
 * values are counted and skipped; restarts (clean or after SIGKILL) store nothing twice; the
 * ledger's CSV/JSON is byte-identical to `cdrate rate`'s.
 *
 * Each test uses its own topic prefix and consumer group. The crash and CLI tests run the cdrate
 * binary of this build (CDR_BINARY_DIR). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_archive.h"
#include "cdr_bench.h"
#include "cdr_dir.h"
#include "cdr_kafka.h"
#include "cdr_ledger.h"
#include "cdr_rate.h"

#define TIMEOUT_MS 60000
#define PARTS      3

#define TEST_KAFKA_NAME "test_archive"
#include "test_dirs.h"
#include "test_kafka.h"

/* ---- Kafka helpers -------------------------------------------------------------------------- */

/* The group's committed offsets of the topic summed over its partitions (-1: cannot ask). */
static int64_t group_committed(const char *topic, const char *group, int parts)
{
    const char *const kv[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *c = test_kafka_client(RD_KAFKA_CONSUMER, kv, NULL);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p);
    int64_t sum = -1;
    if (rd_kafka_committed(c, tpl, TIMEOUT_MS) == 0) {
        sum = 0;
        for (int p = 0; p < parts; p++)
            sum += tpl->elems[p].offset > 0 ? tpl->elems[p].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_destroy(c);
    return sum;
}

/* High watermarks of the topic summed over its partitions. */
static int64_t high_watermarks(const char *topic, int parts)
{
    rd_kafka_t *c =
        test_kafka_client(RD_KAFKA_CONSUMER, (const char *const[]){"group.id", "wm", NULL}, NULL);
    int64_t sum = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        cr_assert_eq(rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, TIMEOUT_MS), 0);
        sum += hi;
    }
    rd_kafka_destroy(c);
    return sum;
}

/* ---- what is produced, and what the ledger must hold ---------------------------------------- */

enum { K_RECORD, K_ABORTED, K_MALFORMED };

/* One produced message: where it went (from the delivery report) and what it carried. */
typedef struct sent {
    int32_t se_part;
    int64_t se_off;
    cdr_money se_charge;
    uint32_t se_cycle;
    int se_kind;
} sent;

typedef struct sent_log {
    sent *sl_v;
    size_t sl_n, sl_cap;
    pthread_mutex_t sl_mu;
} sent_log;

static void log_init(sent_log *sl)
{
    memset(sl, 0, sizeof *sl);
    pthread_mutex_init(&sl->sl_mu, NULL);
}

static void log_free(sent_log *sl)
{
    free(sl->sl_v);
    pthread_mutex_destroy(&sl->sl_mu);
}

static void log_add(sent_log *sl, const sent *se)
{
    pthread_mutex_lock(&sl->sl_mu);
    if (sl->sl_n == sl->sl_cap) {
        sl->sl_cap = sl->sl_cap ? 2 * sl->sl_cap : 1024;
        sl->sl_v = realloc(sl->sl_v, sl->sl_cap * sizeof *sl->sl_v);
        cr_assert(sl->sl_v);
    }
    sl->sl_v[sl->sl_n++] = *se;
    pthread_mutex_unlock(&sl->sl_mu);
}

/* Rated records from the generator and the embedded plans (no store needed). */
typedef struct source {
    cdr_gen *so_gen;
    cdr_plan_set *so_ps;
    cdr_rater *so_rt;
    cdr_record so_recs[512];
    cdr_rated so_out[512];
    size_t so_n, so_i;
    int so_two_cycles; /* every other rated record in the next cycle: two frames per append */
    uint64_t so_count;
} source;

static void source_open(source *so)
{
    memset(so, 0, sizeof *so);
    cdr_diag dg;
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 500;
    cr_assert_eq(cdr_gen_create(&gc, &so->so_gen), 0);
    cr_assert_eq(cdr_bench_embedded_plan_set(&so->so_ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_rater_create(1, so->so_ps, cdr_gen_subscribers(so->so_gen), &so->so_rt), 0);
}

static void source_close(source *so)
{
    cdr_rater_destroy(so->so_rt);
    cdr_plan_set_release(so->so_ps);
    cdr_gen_destroy(so->so_gen);
}

/* The next generated record as a cdr.rated value; want_rated: only rated ones, else only an
 * unratable one. Returns the value's length. */
static size_t source_next(source *so, int want_rated, uint8_t *val, cdr_rated *rr)
{
    for (;;) {
        if (so->so_i == so->so_n) {
            cdr_gen_cdrs(so->so_gen, so->so_recs, 512);
            cr_assert_eq(cdr_rater_rate(so->so_rt, so->so_recs, 512, so->so_out, NULL), 0);
            so->so_n = 512;
            so->so_i = 0;
        }
        size_t i = so->so_i++;
        if ((so->so_out[i].rr_reason == 0) != (want_rated != 0))
            continue;
        const cdr_plan *pl = want_rated ? cdr_rater_batch_plan(so->so_rt, i) : NULL;
        *rr = so->so_out[i];
        if (want_rated && so->so_two_cycles && so->so_count++ % 2)
            rr->rr_cycle = rr->rr_cycle % 100 == 12 ? rr->rr_cycle + 89 : rr->rr_cycle + 1;
        return cdr_rated_wire_encode(&so->so_recs[i], rr, pl ? pl->pl_id : NULL, val);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    sent *se = m->_private;
    cr_assert_eq(m->err, 0, "delivery: %s", rd_kafka_err2str(m->err));
    se->se_part = m->partition;
    se->se_off = m->offset;
}

static rd_kafka_t *txn_producer(const char *tid)
{
    const char *const kv[] = {"transactional.id", tid, "acks", "all", "linger.ms", "5", NULL};
    rd_kafka_t *p = test_kafka_client(RD_KAFKA_PRODUCER, kv, on_delivery);
    rd_kafka_error_t *e = rd_kafka_init_transactions(p, TIMEOUT_MS);
    cr_assert_null(e, "init_transactions: %s", e ? rd_kafka_error_string(e) : "");
    return p;
}

enum { TXN_ABORT, TXN_COMMIT, NO_TXN };

/* One transaction (mode TXN_COMMIT or TXN_ABORT; NO_TXN: p is not transactional) of n rated
 * records (round robin over the partitions from *rr_part), plus `garbage` values that are no
 * rated record and `unratable` unratable ones. Everything sent is logged with its partition and
 * offset. */
static void produce_txn(rd_kafka_t *p, const char *topic, source *so, size_t n, int garbage,
                        int unratable, int mode, int *rr_part, sent_log *sl)
{
    const int commit = mode != TXN_ABORT;
    rd_kafka_error_t *e = mode == NO_TXN ? NULL : rd_kafka_begin_transaction(p);
    cr_assert_null(e, "begin: %s", e ? rd_kafka_error_string(e) : "");
    size_t total = n + (size_t)garbage + (size_t)unratable;
    sent *ses = calloc(total, sizeof *ses);
    cr_assert(ses);
    for (size_t i = 0; i < total; i++) {
        uint8_t val[CDR_RATED_WIRE_MAX];
        size_t len;
        cdr_rated rr;
        sent *se = &ses[i];
        if (i < n) {
            len = source_next(so, 1, val, &rr);
            se->se_kind = commit ? K_RECORD : K_ABORTED;
            se->se_charge = rr.rr_charge;
            se->se_cycle = rr.rr_cycle;
        } else if (i < n + (size_t)garbage) {
            len = (size_t)snprintf((char *)val, sizeof val, "\x01not a rated record %zu", i);
            se->se_kind = commit ? K_MALFORMED : K_ABORTED;
        } else {
            len = source_next(so, 0, val, &rr);
            se->se_kind = commit ? K_MALFORMED : K_ABORTED;
        }
        int32_t part = (*rr_part)++ % PARTS;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_KEY("k", 1),
                    RD_KAFKA_V_VALUE(val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE(se), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        cr_assert_eq(err, 0, "produce: %s", rd_kafka_err2str(err));
    }
    cr_assert_eq(rd_kafka_flush(p, TIMEOUT_MS), 0); /* every delivery report is in */
    e = mode == NO_TXN ? NULL
        : commit       ? rd_kafka_commit_transaction(p, TIMEOUT_MS)
                       : rd_kafka_abort_transaction(p, TIMEOUT_MS);
    cr_assert_null(e, "%s: %s", commit ? "commit" : "abort", e ? rd_kafka_error_string(e) : "");
    test_kafka_wait_readable(topic, TIMEOUT_MS); /* its markers written: an idle exit sees it */
    for (size_t i = 0; i < total; i++)
        log_add(sl, &ses[i]);
    free(ses);
}

/* ---- checking the ledger -------------------------------------------------------------------- */

typedef struct held {
    int32_t he_part;
    int64_t he_off;
    cdr_money he_charge;
} held;

typedef struct held_list {
    held *hl_v;
    size_t hl_n, hl_cap;
} held_list;

static int collect_held(const cdr_ledger_rec *rec, uint32_t partition, void *ctx)
{
    held_list *hl = ctx;
    if (hl->hl_n == hl->hl_cap) {
        hl->hl_cap = hl->hl_cap ? 2 * hl->hl_cap : 1024;
        hl->hl_v = realloc(hl->hl_v, hl->hl_cap * sizeof *hl->hl_v);
        cr_assert(hl->hl_v);
    }
    hl->hl_v[hl->hl_n++] = (held){(int32_t)partition, rec->lr_offset, rec->lr_rated.rr_charge};
    return 0;
}

static int cmp_held(const void *a, const void *b)
{
    const held *x = a, *y = b;
    if (x->he_part != y->he_part)
        return x->he_part < y->he_part ? -1 : 1;
    return (x->he_off > y->he_off) - (x->he_off < y->he_off);
}

/* The ledger in dir holds exactly the committed records of sl: each once, at its partition and
 * offset, with its charge; none of the aborted or malformed messages. Returns the count. */
static size_t check_ledger(const char *dir, const sent_log *sl)
{
    held_list want = {0}, got = {0};
    uint32_t cycles[16];
    size_t ncyc = 0;
    cdr_money want_sum = 0, got_sum = 0;
    for (size_t i = 0; i < sl->sl_n; i++) {
        const sent *se = &sl->sl_v[i];
        if (se->se_kind != K_RECORD)
            continue;
        collect_held(
            &(cdr_ledger_rec){.lr_offset = se->se_off, .lr_rated = {.rr_charge = se->se_charge}},
            (uint32_t)se->se_part, &want);
        want_sum += se->se_charge;
        size_t k = 0;
        while (k < ncyc && cycles[k] != se->se_cycle)
            k++;
        if (k == ncyc) {
            cr_assert(ncyc < 16);
            cycles[ncyc++] = se->se_cycle;
        }
    }
    cr_assert(want.hl_n > 0, "nothing committed: the check proves nothing");
    cdr_ledger *lg;
    cdr_diag dg;
    const cdr_ledger_opts ro = {.lo_readonly = 1};
    cr_assert_eq(cdr_ledger_open(dir, &ro, &lg, &dg), 0, "open: %s", dg.dg_msg);
    for (size_t k = 0; k < ncyc; k++)
        cr_assert_eq(cdr_ledger_scan(lg, cycles[k], collect_held, &got, &dg), 0, "scan: %s: %s",
                     dg.dg_file, dg.dg_msg);
    cdr_ledger_close(lg);
    qsort(want.hl_v, want.hl_n, sizeof *want.hl_v, cmp_held);
    qsort(got.hl_v, got.hl_n, sizeof *got.hl_v, cmp_held);
    for (size_t i = 0; i < got.hl_n; i++)
        got_sum += got.hl_v[i].he_charge;
    size_t dups = 0;
    for (size_t i = 1; i < got.hl_n; i++)
        dups += cmp_held(&got.hl_v[i - 1], &got.hl_v[i]) == 0;
    cr_assert_eq(dups, 0, "%zu records stored twice", dups);
    cr_assert_eq(got.hl_n, want.hl_n, "the ledger holds %zu records, %zu were committed", got.hl_n,
                 want.hl_n);
    for (size_t i = 0; i < want.hl_n; i++)
        cr_assert(!cmp_held(&got.hl_v[i], &want.hl_v[i]) &&
                      got.hl_v[i].he_charge == want.hl_v[i].he_charge,
                  "partition %" PRId32 " offset %" PRId64 ": in the ledger, partition %" PRId32
                  " offset %" PRId64 " was committed",
                  got.hl_v[i].he_part, got.hl_v[i].he_off, want.hl_v[i].he_part,
                  want.hl_v[i].he_off);
    cr_assert_eq(got_sum, want_sum, "charges: %" PRId64 " in the ledger, %" PRId64 " committed",
                 (int64_t)got_sum, (int64_t)want_sum);
    size_t n = got.hl_n;
    free(want.hl_v);
    free(got.hl_v);
    return n;
}

static size_t count_kind(const sent_log *sl, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < sl->sl_n; i++)
        n += sl->sl_v[i].se_kind == kind;
    return n;
}

/* ---- in-process runs ------------------------------------------------------------------------ */

static int run_archive(const char *ledger, const char *prefix, const char *group,
                       cdr_archive_stats *as, cdr_diag *dg)
{
    const cdr_archive_config ac = {.ac_brokers = brokers(),
                                   .ac_ledger = ledger,
                                   .ac_group = group,
                                   .ac_topic_prefix = prefix,
                                   .ac_batch = 300,
                                   .ac_idle_exit_ms = 1500,
                                   .ac_quiet = 1};
    cdr_diag_clear(dg);
    return cdr_archive_run(&ac, as, dg);
}

/* Committed, aborted and malformed: every committed record once, nothing else; a clean restart
 * reads nothing again; new records after it are appended, the old ones not again. */
Test(archive, exactly_once_committed_only, .timeout = 300)
{
    char prefix[128], group[160], topic[200], dir[512];
    test_kafka_unique(prefix, sizeof prefix, "archive");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    test_kafka_create_topic(topic, PARTS, 0);
    source so;
    source_open(&so);
    sent_log sl;
    log_init(&sl);
    char tid[200];
    snprintf(tid, sizeof tid, "%sproducer", prefix);
    rd_kafka_t *p = txn_producer(tid);
    int rr_part = 0;
    produce_txn(p, topic, &so, 900, 0, 0, TXN_COMMIT, &rr_part, &sl);
    produce_txn(p, topic, &so, 400, 1, 0, TXN_ABORT, &rr_part, &sl); /* aborted: never archived */
    produce_txn(p, topic, &so, 700, 1, 1, TXN_COMMIT, &rr_part,
                &sl); /* with two malformed values */
    produce_txn(p, topic, &so, 200, 0, 0, TXN_ABORT, &rr_part,
                &sl); /* aborted, last in the topic */

    cdr_archive_stats as;
    cdr_diag dg;
    int rc = run_archive(dir, prefix, group, &as, &dg);
    cr_assert_eq(rc, 0, "archive: %s", dg.dg_msg);
    const size_t records = count_kind(&sl, K_RECORD);
    cr_assert_eq(as.as_archived, records, "archived %" PRIu64 " of %zu", as.as_archived, records);
    cr_assert_eq(as.as_malformed, 2);
    cr_assert_eq(as.as_consumed, records + 2, "consumed %" PRIu64, as.as_consumed);
    cr_assert_eq(as.as_lag, 0, "lag at exit %" PRId64, as.as_lag);
    cr_assert(as.as_batches > 0);
    cr_assert_eq(check_ledger(dir, &sl), records);
    /* the group's offsets show the archiver at the end, past the transaction markers */
    cr_assert_eq(group_committed(topic, group, PARTS), high_watermarks(topic, PARTS));

    /* a clean restart: nothing is read again */
    rc = run_archive(dir, prefix, group, &as, &dg);
    cr_assert_eq(rc, 0, "archive again: %s", dg.dg_msg);
    cr_assert_eq(as.as_consumed, 0, "a restart consumed %" PRIu64 " messages again",
                 as.as_consumed);
    cr_assert_eq(check_ledger(dir, &sl), records);

    /* more records: only they are appended */
    produce_txn(p, topic, &so, 300, 0, 0, TXN_COMMIT, &rr_part, &sl);
    rc = run_archive(dir, prefix, group, &as, &dg);
    cr_assert_eq(rc, 0, "archive the rest: %s", dg.dg_msg);
    cr_assert_eq(as.as_archived, 300);
    cr_assert_eq(as.as_consumed, 300);
    cr_assert_eq(check_ledger(dir, &sl), records + 300);

    /* without transactions no marker follows the last record: a restart must resume exactly
     * after it (one offset too far would lose a record per partition) */
    rd_kafka_t *plain = test_kafka_client(
        RD_KAFKA_PRODUCER, (const char *const[]){"enable.idempotence", "true", NULL}, on_delivery);
    for (int round = 0; round < 2; round++) {
        produce_txn(plain, topic, &so, 150, 0, 0, NO_TXN, &rr_part, &sl);
        rc = run_archive(dir, prefix, group, &as, &dg);
        cr_assert_eq(rc, 0, "archive plain records: %s", dg.dg_msg);
        cr_assert_eq(as.as_archived, 150, "round %d: archived %" PRIu64, round, as.as_archived);
        cr_assert_eq(check_ledger(dir, &sl), records + 300 + 150 * (size_t)(round + 1));
    }
    rd_kafka_destroy(plain);
    rd_kafka_destroy(p);
    log_free(&sl);
    source_close(&so);
    rm_rf(dir);
}

/* The ledger, not the group, is the truth: a group whose committed offsets are at the end of
 * the topic still archives everything into a new, empty ledger. */
Test(archive, ledger_not_group_offsets, .timeout = 300)
{
    char prefix[128], group[160], topic[200], dir[512], dir2[512];
    test_kafka_unique(prefix, sizeof prefix, "truth");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    test_tmpdir(dir2, sizeof dir2, "archive");
    test_kafka_create_topic(topic, PARTS, 0);
    source so;
    source_open(&so);
    sent_log sl;
    log_init(&sl);
    char tid[200];
    snprintf(tid, sizeof tid, "%sproducer", prefix);
    rd_kafka_t *p = txn_producer(tid);
    int rr_part = 0;
    produce_txn(p, topic, &so, 500, 0, 0, TXN_COMMIT, &rr_part, &sl);
    cdr_archive_stats as;
    cdr_diag dg;
    cr_assert_eq(run_archive(dir, prefix, group, &as, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(group_committed(topic, group, PARTS), high_watermarks(topic, PARTS));
    cr_assert_eq(run_archive(dir2, prefix, group, &as, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(as.as_archived, 500, "the second ledger got %" PRIu64, as.as_archived);
    cr_assert_eq(check_ledger(dir2, &sl), 500);
    rd_kafka_destroy(p);
    log_free(&sl);
    source_close(&so);
    rm_rf(dir);
    rm_rf(dir2);
}

static int count_one(const cdr_ledger_rec *rec, uint32_t partition, void *ctx)
{
    (void)rec, (void)partition;
    ++*(size_t *)ctx;
    return 0;
}

/* Records the ledger in dir holds, over all its cycles. */
static size_t ledger_count(const char *dir)
{
    cdr_diag dg;
    uint32_t *cycles = NULL;
    int nc = cdr_ledger_cycles(dir, &cycles, &dg);
    cr_assert_geq(nc, 0, "%s", dg.dg_msg);
    cdr_ledger *lg;
    const cdr_ledger_opts ro = {.lo_readonly = 1};
    cr_assert_eq(cdr_ledger_open(dir, &ro, &lg, &dg), 0, "open: %s", dg.dg_msg);
    size_t n = 0;
    for (int c = 0; c < nc; c++)
        cr_assert_eq(cdr_ledger_scan(lg, cycles[c], count_one, &n, &dg), 0, "%s", dg.dg_msg);
    cdr_ledger_close(lg);
    free(cycles);
    return n;
}

/* The disk under the ledger fills up (the CDR_LEDGER_FAIL_AFTER hook) in the middle of batches
 * of two cycles (two frames per append): the archiver fails with the reason, and the records it
 * says it archived are exactly those the ledger holds; a restart on free space completes it,
 * every record once. */
Test(archive, a_full_disk_archived_equals_the_ledger, .timeout = 300)
{
    char prefix[128], group[160], topic[200], dir[512];
    test_kafka_unique(prefix, sizeof prefix, "full");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    test_kafka_create_topic(topic, PARTS, 0);
    source so;
    source_open(&so);
    so.so_two_cycles = 1;
    sent_log sl;
    log_init(&sl);
    char tid[200];
    snprintf(tid, sizeof tid, "%sproducer", prefix);
    rd_kafka_t *p = txn_producer(tid);
    int rr_part = 0;
    produce_txn(p, topic, &so, 3000, 0, 0, TXN_COMMIT, &rr_part, &sl);
    cdr_archive_stats as;
    cdr_diag dg;
    setenv(CDR_LEDGER_FAIL_ENV, "30000", 1);
    int rc = run_archive(dir, prefix, group, &as, &dg);
    unsetenv(CDR_LEDGER_FAIL_ENV);
    cr_assert_eq(rc, CDR_EIO, "archive: %d %s", rc, dg.dg_msg);
    cr_assert(strstr(dg.dg_msg, "No space left on device") != NULL, "%s", dg.dg_msg);
    const size_t in_ledger = ledger_count(dir);
    cr_assert(in_ledger > 0 && in_ledger < 3000, "the ledger holds %zu", in_ledger);
    cr_assert_eq(as.as_archived, in_ledger, "archived %" PRIu64 ", the ledger holds %zu",
                 as.as_archived, in_ledger);
    const uint64_t first = as.as_archived;
    rc = run_archive(dir, prefix, group, &as, &dg);
    cr_assert_eq(rc, 0, "archive again: %s", dg.dg_msg);
    cr_assert_eq(first + as.as_archived, 3000, "%" PRIu64 " + %" PRIu64, first, as.as_archived);
    cr_assert_eq(check_ledger(dir, &sl), 3000);
    rd_kafka_destroy(p);
    log_free(&sl);
    source_close(&so);
    rm_rf(dir);
}

/* One writer per ledger: a second archiver fails at once with CDR_EXISTS, before it joins. */
Test(archive, second_archiver_refused, .timeout = 120)
{
    char dir[512];
    test_tmpdir(dir, sizeof dir, "archive");
    cdr_ledger *lg;
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_open(dir, NULL, &lg, &dg), 0, "%s", dg.dg_msg);
    cdr_archive_stats as;
    int rc = run_archive(dir, "test.archive.locked.", "test.archive.locked.group", &as, &dg);
    cr_assert_eq(rc, CDR_EXISTS, "got %s: %s", cdr_err_name(rc), dg.dg_msg);
    cr_assert(strstr(dg.dg_msg, "locked by another writer"), "%s", dg.dg_msg);
    cr_assert_eq(as.as_consumed, 0);
    cdr_ledger_close(lg);
    rm_rf(dir);
}

/* A topic that does not exist: CDR_NOTFOUND, saying which (not a wait, not an empty success). */
Test(archive, missing_topic, .timeout = 120)
{
    char prefix[128], dir[512];
    test_kafka_unique(prefix, sizeof prefix, "nothere");
    test_tmpdir(dir, sizeof dir, "archive");
    cdr_archive_stats as;
    cdr_diag dg;
    int rc = run_archive(dir, prefix, "test.archive.nothere.group", &as, &dg);
    cr_assert_eq(rc, CDR_NOTFOUND, "got %s: %s", cdr_err_name(rc), dg.dg_msg);
    char want[256];
    snprintf(want, sizeof want, "kafka: no topic %scdr.rated", prefix);
    cr_assert(strstr(dg.dg_msg, want), "%s", dg.dg_msg);
    rm_rf(dir);
}

/* A ledger that resumes beyond what the partition holds (the topic was recreated): the
 * archiver stops with CDR_RANGE and the offsets, and skips nothing. */
Test(archive, ledger_ahead_of_topic_refused, .timeout = 300)
{
    char prefix[128], prefix2[128], group[160], topic[200], dir[512];
    test_kafka_unique(prefix, sizeof prefix, "ahead");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    test_kafka_create_topic(topic, PARTS, 0);
    source so;
    source_open(&so);
    sent_log sl;
    log_init(&sl);
    char tid[200];
    snprintf(tid, sizeof tid, "%sproducer", prefix);
    rd_kafka_t *p = txn_producer(tid);
    int rr_part = 0;
    produce_txn(p, topic, &so, 300, 0, 0, TXN_COMMIT, &rr_part, &sl);
    rd_kafka_destroy(p);
    cdr_archive_stats as;
    cdr_diag dg;
    cr_assert_eq(run_archive(dir, prefix, group, &as, &dg), 0, "%s", dg.dg_msg);

    /* "the same topic", recreated: fewer messages than the ledger has archived */
    test_kafka_unique(prefix2, sizeof prefix2, "ahead2");
    snprintf(topic, sizeof topic, "%scdr.rated", prefix2);
    snprintf(tid, sizeof tid, "%sproducer", prefix2);
    test_kafka_create_topic(topic, PARTS, 0);
    p = txn_producer(tid);
    sent_log sl2;
    log_init(&sl2);
    produce_txn(p, topic, &so, 6, 0, 0, TXN_COMMIT, &rr_part, &sl2);
    rd_kafka_destroy(p);
    snprintf(group, sizeof group, "%sgroup", prefix2);
    int rc = run_archive(dir, prefix2, group, &as, &dg);
    cr_assert_eq(rc, CDR_RANGE, "got %s: %s", cdr_err_name(rc), dg.dg_msg);
    cr_assert(strstr(dg.dg_msg, "the ledger resumes at offset 100, which the partition does not "
                                "hold (it has 0..3)"),
              "%s", dg.dg_msg);
    cr_assert_eq(as.as_archived, 0);
    cr_assert_eq(check_ledger(dir, &sl), 300, "the ledger is unchanged");
    log_free(&sl);
    log_free(&sl2);
    source_close(&so);
    rm_rf(dir);
}

/* ---- the cdrate binary, killed and restarted ------------------------------------------------ */

static void cdrate_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/cdrate", CDR_BINARY_DIR);
    cr_assert(access(buf, X_OK) == 0, "%s not found: build the cdrate target", buf);
}

/* Run argv with stdout to out (NULL: the log) and stderr to logpath; returns the child. Only
 * async-signal-safe calls between fork and exec (the parent has threads). */
static pid_t spawn(char *const *argv, const char *out, const char *logpath)
{
    int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int ofd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : lfd;
    cr_assert(lfd >= 0 && ofd >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (dup2(ofd, 1) < 0 || dup2(lfd, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(lfd);
    if (out)
        close(ofd);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void show_log(const char *logpath)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", logpath);
    if (system(cmd) != 0)
        fprintf(stderr, "no log\n");
}

/* Wait (at most 120 s) until the log, after byte off, holds text; fail if pid exits first. */
static void wait_log_after(const char *logpath, off_t off, const char *text, pid_t pid)
{
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(logpath, "r");
        if (f && fseeko(f, off, SEEK_SET) == 0) {
            char line[1024];
            while (fgets(line, sizeof line, f))
                if (strstr(line, text)) {
                    fclose(f);
                    return;
                }
        }
        if (f)
            fclose(f);
        int status;
        if (waitpid(pid, &status, WNOHANG) != 0) {
            show_log(logpath);
            cr_assert_fail("cdrate archive exited (status %d) before '%s' in its log", status,
                           text);
        }
        usleep(200 * 1000);
    }
    show_log(logpath);
    cr_assert_fail("no '%s' in the log of cdrate archive within 120 s", text);
}

typedef struct feeder {
    const char *fd_topic;
    const char *fd_tid;
    source *fd_so;
    sent_log *fd_sl;
    volatile int fd_stop;
    int fd_txns;
} feeder;

/* Transactions of 100 records until told to stop: every fourth aborted, every seventh with a
 * malformed value. */
static void *feed(void *arg)
{
    feeder *fd = arg;
    rd_kafka_t *p = txn_producer(fd->fd_tid);
    int rr_part = 0;
    for (int t = 0; !fd->fd_stop; t++) {
        produce_txn(p, fd->fd_topic, fd->fd_so, 100, t % 7 == 3, 0,
                    t % 4 != 2 ? TXN_COMMIT : TXN_ABORT, &rr_part, fd->fd_sl);
        fd->fd_txns++;
        usleep(150 * 1000);
    }
    rd_kafka_destroy(p);
    return NULL;
}

Test(archive, killed_and_restarted_exactly_once, .timeout = 900)
{
    char exe[4096], prefix[128], group[160], topic[200], tid[200], dir[512], logpath[600];
    cdrate_path(exe, sizeof exe);
    test_kafka_unique(prefix, sizeof prefix, "crash");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    snprintf(tid, sizeof tid, "%sproducer", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    snprintf(logpath, sizeof logpath, "%s.log", dir);
    test_kafka_create_topic(topic, PARTS, 0);
    source so;
    source_open(&so);
    so.so_two_cycles = 1;
    sent_log sl;
    log_init(&sl);
    feeder fd = {.fd_topic = topic, .fd_tid = tid, .fd_so = &so, .fd_sl = &sl};
    pthread_t th;
    pthread_create(&th, NULL, feed, &fd);
    /* small batches and segments: kills land inside appends, rolls and index writes */
    char *const argv[] = {exe,
                          "archive",
                          "--brokers",
                          (char *)brokers(),
                          "--ledger",
                          dir,
                          "--group",
                          group,
                          "--topic-prefix",
                          prefix,
                          "--batch",
                          "150",
                          "--segment-bytes",
                          "16384",
                          "--batch-wait",
                          "50",
                          NULL};
    srand((unsigned)getpid());
    const int kills = 5;
    for (int k = 0; k < kills; k++) {
        const int64_t before = group_committed(topic, group, PARTS);
        pid_t pid = spawn(argv, NULL, logpath);
        /* this run has moved the group's offsets (it is archiving), then dies somewhere later */
        while (group_committed(topic, group, PARTS) <= before) {
            int status;
            if (waitpid(pid, &status, WNOHANG) != 0) {
                show_log(logpath);
                cr_assert_fail("cdrate archive exited (status %d)", status);
            }
            usleep(200 * 1000);
        }
        usleep((useconds_t)(rand() % 400) * 1000);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        cr_assert_eq(wait_exit(pid), 128 + SIGKILL);
    }
    fd.fd_stop = 1;
    pthread_join(th, NULL);
    /* a run that drains the topic, stopped by SIGTERM: it exits 0 */
    char statspath[600], line[512] = "";
    snprintf(statspath, sizeof statspath, "%s.stats", dir);
    char *const drain[] = {exe,       "archive", "--brokers", (char *)brokers(), "--ledger",
                           dir,       "--group", group,       "--topic-prefix",  prefix,
                           "--stats", NULL};
    struct stat lst;
    const off_t logoff = stat(logpath, &lst) == 0 ? lst.st_size : 0;
    pid_t pid = spawn(drain, statspath, logpath);
    /* the run has partitions (and its signal handlers) before the group's offsets are looked at:
     * the killed runs may have committed them to the end already, and a SIGTERM before the
     * handlers are in place would end it as a signal does, exit 143 */
    wait_log_after(logpath, logoff, "assigned ", pid);
    while (group_committed(topic, group, PARTS) < high_watermarks(topic, PARTS)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) != 0) {
            show_log(logpath);
            cr_assert_fail("cdrate archive exited (status %d)", status);
        }
        usleep(200 * 1000);
    }
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st = wait_exit(pid);
    if (st != 0)
        show_log(logpath);
    cr_assert_eq(st, 0, "SIGTERM: exit %d", st);
    FILE *f = fopen(statspath, "r");
    cr_assert(f);
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, "\"ok\":true"), "%s", line);
    /* the last run finds nothing left and exits on its own */
    char *const last[] = {exe,           "archive", "--brokers", (char *)brokers(), "--ledger",
                          dir,           "--group", group,       "--topic-prefix",  prefix,
                          "--idle-exit", "2000",    "--stats",   "--quiet",         NULL};
    pid = spawn(last, statspath, logpath);
    st = wait_exit(pid);
    if (st != 0)
        show_log(logpath);
    cr_assert_eq(st, 0, "the last run exited %d", st);
    f = fopen(statspath, "r");
    cr_assert(f);
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, "{\"consumed\":0,") && strstr(line, "\"lag\":0,") &&
                  strstr(line, "\"ok\":true"),
              "%s", line);
    const size_t records = count_kind(&sl, K_RECORD);
    cr_assert(count_kind(&sl, K_ABORTED) > 0 && count_kind(&sl, K_MALFORMED) > 0);
    cr_assert_eq(check_ledger(dir, &sl), records);
    f = fopen(logpath, "r");
    cr_assert(f);
    int starts = 0;
    while (fgets(line, sizeof line, f))
        starts += strstr(line, "cdrate archive: group ") != NULL;
    fclose(f);
    cr_assert_eq(starts, kills + 1, "%d starts logged", starts); /* the last run is --quiet */
    cr_log_info("crash test: %d transactions, %zu committed records in two cycles, %d kills: "
                "exactly once",
                fd.fd_txns, records, kills);
    log_free(&sl);
    source_close(&so);
    rm_rf(dir);
    unlink(logpath);
    unlink(statspath);
}

/* ---- `cdrate ledger` against `cdrate rate` -------------------------------------------------- */

static void must_run(char *const *argv, const char *out, const char *logpath)
{
    int st = wait_exit(spawn(argv, out, logpath));
    if (st != 0)
        show_log(logpath);
    cr_assert_eq(st, 0, "%s %s exited %d", argv[1], argv[2] ? argv[2] : "", st);
}

static void must_sh(const char *cmd)
{
    int st = system(cmd);
    cr_assert(st == 0, "failed (%d): %s", st, cmd);
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* The records of `cdrate rate` go to cdr.rated as rate-stream would send them (the rated ones,
 * keyed so that a subscriber's records share a partition), are archived, and `cdrate ledger
 * cat --store` prints the very same lines: CSV and JSON, all records and one subscriber; the
 * totals are the sums of the records. */
Test(archive, ledger_cat_equals_rate, .timeout = 600)
{
    char exe[4096], prefix[128], group[160], topic[200], dir[512];
    cdrate_path(exe, sizeof exe);
    test_kafka_unique(prefix, sizeof prefix, "cat");
    snprintf(group, sizeof group, "%sgroup", prefix);
    snprintf(topic, sizeof topic, "%scdr.rated", prefix);
    test_tmpdir(dir, sizeof dir, "archive");
    char plans[600], dirfile[600], store[600], store2[600], cdrs[600], ledger[600], logp[600];
    snprintf(plans, sizeof plans, "%s/plans", dir);
    snprintf(dirfile, sizeof dirfile, "%s/directory.txt", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(store2, sizeof store2, "%s/store2", dir);
    snprintf(cdrs, sizeof cdrs, "%s/cdrs.cdrw", dir);
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);

    /* two stores with the same plans and directory (rate saves its counters into its store) */
    cdr_diag dg;
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_subscribers = 300;
    cdr_gen *g;
    cr_assert_eq(cdr_gen_create(&gc, &g), 0);
    cr_assert_eq(cdr_bench_write_embedded_plans(plans, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_gen_write_directory(g, dirfile, &dg), 0, "%s", dg.dg_msg);
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    for (int i = 0; i < 2; i++) {
        cdr_store *st;
        cr_assert_eq(cdr_store_open(i ? store2 : store, 0, &st, &dg), 0, "%s", dg.dg_msg);
        cr_assert_eq(cdr_plan_store_compile_dir(st, plans, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
        cr_assert_eq(cdr_dir_load_file(st, dirfile, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
        if (i == 0) {
            cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
            cr_assert_eq(cdr_dir_rating_view(st, &subs, &dg), 0, "%s", dg.dg_msg);
        }
        cdr_store_close(st);
    }
    enum { N = 4000 };
    cdr_record *recs = malloc(N * sizeof *recs);
    cdr_rated *out = malloc(N * sizeof *out);
    cr_assert(recs && out);
    cdr_gen_cdrs(g, recs, N);
    cdr_wire_writer *ww;
    cr_assert_eq(cdr_wire_writer_open(cdrs, &ww, &dg), 0, "%s", dg.dg_msg);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(cdr_wire_writer_put(ww, &recs[i]), 0);
    cr_assert_eq(cdr_wire_writer_close(ww), 0);
    /* read back as `cdrate rate` reads it */
    cdr_reader *rd;
    cr_assert_eq(cdr_reader_open(cdrs, &rd, &dg), 0, "%s", dg.dg_msg);
    size_t n = 0;
    while (n < N && cdr_reader_next(rd, &recs[n], &dg) == 1)
        n++;
    cdr_reader_close(rd);
    cr_assert_eq(n, (size_t)N);

    /* rated as rate-stream would, to cdr.rated */
    cdr_rater *rt;
    cr_assert_eq(cdr_rater_create(2, ps, subs, &rt), 0);
    cdr_credit_config cc; /* rate-stream's default, as `cdrate rate`'s: records flagged alike */
    cdr_credit_config_default(&cc);
    cr_assert_eq(cdr_rater_set_credit(rt, &cc), 0);
    cr_assert_eq(cdr_rater_rate(rt, recs, N, out, NULL), 0);
    test_kafka_create_topic(topic, PARTS, 0);
    rd_kafka_t *p = test_kafka_client(
        RD_KAFKA_PRODUCER, (const char *const[]){"enable.idempotence", "true", NULL}, NULL);
    uint64_t rated = 0;
    /* the money per currency, in code order (money is never added across currencies) */
    enum { NCUR = 8 };
    char curs[NCUR][4];
    cdr_money charge[NCUR] = {0};
    uint64_t ncur_recs[NCUR] = {0};
    int ncur = 0;
    for (size_t i = 0; i < N; i++) {
        if (out[i].rr_reason)
            continue;
        uint8_t val[CDR_RATED_WIRE_MAX];
        const cdr_plan *pl = cdr_rater_batch_plan(rt, i);
        size_t len = cdr_rated_wire_encode(&recs[i], &out[i], pl->pl_id, val);
        char key[CDR_KAFKA_KEY_MAX];
        size_t klen = cdr_kafka_record_key(&recs[i], key);
        int32_t part = cdr_kafka_key_partition(recs[i].cr_msisdn, strlen(recs[i].cr_msisdn), PARTS);
        cr_assert_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                       RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(val, len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
        rated++;
        int k = 0;
        while (k < ncur && strcmp(curs[k], out[i].rr_currency) < 0)
            k++;
        if (k == ncur || strcmp(curs[k], out[i].rr_currency)) {
            cr_assert_lt(ncur, NCUR);
            memmove(curs[k + 1], curs[k], (size_t)(ncur - k) * sizeof curs[0]);
            memmove(&charge[k + 1], &charge[k], (size_t)(ncur - k) * sizeof charge[0]);
            memmove(&ncur_recs[k + 1], &ncur_recs[k], (size_t)(ncur - k) * sizeof ncur_recs[0]);
            memcpy(curs[k], out[i].rr_currency, 4);
            charge[k] = 0;
            ncur_recs[k] = 0;
            ncur++;
        }
        charge[k] += out[i].rr_charge;
        ncur_recs[k]++;
    }
    cr_assert_gt(ncur, 0);
    cr_assert_eq(rd_kafka_flush(p, TIMEOUT_MS), 0);
    rd_kafka_destroy(p);
    cr_assert(rated > N / 2 && rated < N, "%" PRIu64 " of %d rated: want both kinds", rated, N);
    cdr_archive_stats as;
    cr_assert_eq(run_archive(ledger, prefix, group, &as, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(as.as_archived, rated);

    /* offline: cdrate rate, CSV and JSON (each on a fresh store: counters) */
    char path[8][700];
    const char *names[8] = {"rate.csv", "rate.json", "cat.csv",     "cat.json",
                            "sub.csv",  "nostore",   "totals.json", "totals.txt"};
    for (int i = 0; i < 8; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
    must_run((char *const[]){exe, "rate", "--store", store, "--in", cdrs, "--out", path[0],
                             "--quiet", NULL},
             NULL, logp);
    must_run((char *const[]){exe, "rate", "--store", store2, "--in", cdrs, "--out", path[1],
                             "--format", "json", "--quiet", NULL},
             NULL, logp);
    must_run((char *const[]){exe, "ledger", "cat", "--ledger", ledger, "--store", store, NULL},
             path[2], logp);
    must_run((char *const[]){exe, "ledger", "cat", "--ledger", ledger, "--store", store, "--format",
                             "json", NULL},
             path[3], logp);
    cr_assert_eq(count_lines(path[2]), (long)rated + 1, "header + one line per record");
    cr_assert_eq(count_lines(path[3]), (long)rated);
    char cmd[4096];
    /* the recipe of docs/ledger.md: the rated lines of cdrate rate, sorted, are cat's, sorted */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && awk -F, 'NR==1 || $7==\"none\"' rate.csv | LC_ALL=C sort > a && "
             "LC_ALL=C sort cat.csv > b && cmp a b && grep '\"status\":\"none\"' rate.json | "
             "LC_ALL=C sort > c && LC_ALL=C sort cat.json > d && cmp c d",
             dir);
    must_sh(cmd);

    /* one subscriber: the same lines in the same order (one partition in Kafka's order, and
     * one cycle: the ledger prints cycle by cycle) */
    const char *msisdn = NULL;
    for (size_t i = 0; i < N && !msisdn; i++) {
        size_t k = 0, other = 0;
        for (size_t j = 0; j < N; j++)
            if (!out[j].rr_reason && !strcmp(recs[j].cr_msisdn, recs[i].cr_msisdn)) {
                k++;
                other += out[j].rr_cycle != out[i].rr_cycle;
            }
        if (!out[i].rr_reason && k >= 3 && !other)
            msisdn = recs[i].cr_msisdn;
    }
    cr_assert(msisdn, "no subscriber with 3 rated records in one cycle");
    must_run((char *const[]){exe, "ledger", "cat", "--ledger", ledger, "--store", store, "--msisdn",
                             (char *)msisdn, NULL},
             path[4], logp);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && awk -F, -v m=%s 'NR==1 || ($3==m && $7==\"none\")' rate.csv > e && "
             "cmp e sub.csv && test $(wc -l < e) -ge 4",
             dir, msisdn);
    must_sh(cmd);

    /* without a store: the same records, zone and bands by index */
    must_run((char *const[]){exe, "ledger", "cat", "--ledger", ledger, NULL}, path[5], logp);
    cr_assert_eq(count_lines(path[5]), (long)rated + 1);
    snprintf(cmd, sizeof cmd, "cd '%s' && sed -n 2p nostore | grep -q ',#[0-9]*,2026[0-9][0-9],'",
             dir);
    must_sh(cmd);

    /* totals: the sums of what was archived, exactly */
    must_run((char *const[]){exe, "ledger", "totals", "--ledger", ledger, "--json", NULL}, path[6],
             logp);
    FILE *f = fopen(path[6], "r");
    cr_assert(f);
    char line[8192] = "";
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    const char *all = strstr(line, "],\"records\":"); /* after the cycles: the grand total */
    cr_assert(all, "%s", line);
    char want[512];
    snprintf(want, sizeof want, "],\"records\":%" PRIu64 ",", rated);
    cr_assert(strstr(line, want), "%s: want %s", line, want);
    size_t wl = (size_t)snprintf(want, sizeof want, "\"charges_micro\":{");
    for (int k = 0; k < ncur; k++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s\"%s\":%" PRId64, k ? "," : "",
                               curs[k], (int64_t)charge[k]);
    snprintf(want + wl, sizeof want - wl, "}");
    cr_assert(strstr(all, want), "%s: want %s", all, want);
    must_run((char *const[]){exe, "ledger", "totals", "--ledger", ledger, NULL}, path[7], logp);
    char money[32];
    for (int k = 0; k < ncur; k++) {
        snprintf(cmd, sizeof cmd,
                 "grep -E '^(all|2026[0-9]{2}) +%s +total +%" PRIu64 " +%s$' '%s' >/dev/null",
                 curs[k], ncur_recs[k],
                 cdr_money_format(charge[k], 6, CDR_ROUND_HALF_UP, money, sizeof money), path[7]);
        must_sh(cmd);
    }

    cdr_rater_destroy(rt);
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_gen_destroy(g);
    free(recs);
    free(out);
    rm_rf(dir);
}
