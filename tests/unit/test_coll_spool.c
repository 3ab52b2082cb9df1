/* test_coll_spool.c - the collector end to end, on librdkafka's mock cluster (the embedded path of
 * the demo) and on the real broker of CDR_KAFKA_BROKERS (suites ending in _broker): a spool run
 * with good, malformed, duplicate and unanswered records read back from cdr.raw and cdr.rejected
 * (read_committed) shows every record exactly once and the accounting holds; files move to done/
 * only after Kafka acknowledged their records; a live stream; records keyed by their charging
 * owner from the directory; and the crash harness: `cdrate collect` killed with SIGKILL at
 * deterministic points and at random moments, and (mock only) a broker outage, then restarted -
 * every record exactly once.
 *
 * The mock cluster lives in a process: here it is owned by the test process, and the collector
 * runs in children (the cdrate binary) that reach it through its bootstrap servers, so the
 * cluster survives their death. On the real broker every test uses a topic prefix of its own
 * (which also prefixes the collector's transactional id), so tests and runs share nothing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_kafka.h"
#include "test_dirs.h"

#define TEST_KAFKA_NAME "test_coll_spool"
#include "test_kafka.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static void tmpdir(char *buf, size_t n)
{
    test_tmpdir(buf, n, "spool");
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* Put data into the spool the way a network element should: write a dot-file, rename it in. */
static void deliver(const char *spool, const char *name, const char *data, size_t len)
{
    char tmp[8192], path[8192];
    snprintf(tmp, sizeof tmp, "%s/.%s", spool, name);
    snprintf(path, sizeof path, "%s/%s", spool, name);
    write_file(tmp, data, len);
    cr_assert_eq(rename(tmp, path), 0);
}

/* ---- where the tests publish: the mock cluster or the real broker ---------------------------- */

enum { T_RAW = 0, T_REJECTED, T_CHECKPOINTS };

typedef struct kafka_env {
    cdr_kafka_mock *ke_mock; /* NULL on the real broker */
    char ke_brokers[1024];
    char ke_prefix[CDR_COLLECT_PREFIX_MAX]; /* "" on the mock (a fresh cluster per test) */
    char ke_topic[3][256];                  /* raw, rejected, checkpoints, with the prefix */
} kafka_env;

/* The three topics of the collector, cdr.raw with raw_partitions partitions: on a new mock
 * cluster (real == 0), or under a new prefix on the real broker. */
static void kafka_open(kafka_env *ke, int real, int raw_partitions)
{
    memset(ke, 0, sizeof *ke);
    if (real) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(ke->ke_prefix, sizeof ke->ke_prefix, "test.coll.%ld.%ld.%ld.", (long)getpid(),
                 (long)ts.tv_sec, ts.tv_nsec);
        snprintf(ke->ke_brokers, sizeof ke->ke_brokers, "%s", brokers());
    } else {
        cdr_diag dg;
        cr_assert_eq(cdr_kafka_mock_create(3, &ke->ke_mock, &dg), 0, "%s", dg.dg_msg);
        snprintf(ke->ke_brokers, sizeof ke->ke_brokers, "%s",
                 cdr_kafka_mock_bootstraps(ke->ke_mock));
    }
    static const char *const names[3] = {CDR_TOPIC_RAW, CDR_TOPIC_REJECTED, CDR_TOPIC_CHECKPOINTS};
    const int parts[3] = {raw_partitions, 2, 1};
    for (int t = 0; t < 3; t++) {
        snprintf(ke->ke_topic[t], sizeof ke->ke_topic[t], "%s%s", ke->ke_prefix, names[t]);
        if (real) {
            test_kafka_create_topic(ke->ke_topic[t], parts[t], t == T_CHECKPOINTS);
        } else {
            cdr_diag dg;
            cr_assert_eq(cdr_kafka_mock_topic_create(ke->ke_mock, ke->ke_topic[t], parts[t], &dg),
                         0, "%s", dg.dg_msg);
        }
    }
}

static void kafka_close(kafka_env *ke)
{
    cdr_kafka_mock_destroy(ke->ke_mock);
    ke->ke_mock = NULL;
}

/* A collector configuration for ke (brokers and topic prefix). */
static void collect_config(cdr_collect_config *cl, const kafka_env *ke)
{
    cdr_collect_config_defaults(cl);
    cl->cl_settle_ms = 0; /* the tests deliver whole files (rename) before the collector runs */
    snprintf(cl->cl_brokers, sizeof cl->cl_brokers, "%s", ke->ke_brokers);
    snprintf(cl->cl_topic_prefix, sizeof cl->cl_topic_prefix, "%s", ke->ke_prefix);
}

/* A growing text buffer. */
typedef struct tbuf {
    char *tb_p;
    size_t tb_len, tb_cap;
} tbuf;

static void tb_printf(tbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(tbuf *tb, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tb->tb_p + tb->tb_len, tb->tb_cap - tb->tb_len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < tb->tb_cap - tb->tb_len) {
            tb->tb_len += (size_t)n;
            return;
        }
        tb->tb_cap = tb->tb_cap ? 2 * tb->tb_cap : 1 << 16;
        tb->tb_p = realloc(tb->tb_p, tb->tb_cap);
        cr_assert_not_null(tb->tb_p);
    }
}

/* A synthetic CSV input and what a correct collector must make of it. */
typedef struct input {
    tbuf in_text;
    uint64_t in_lines;      /* items */
    uint64_t in_good;       /* distinct billable records */
    uint64_t in_malformed;  /* rejected */
    uint64_t in_dup;        /* repeated lines */
    uint64_t in_unanswered; /* zero-second calls */
    uint64_t *in_bad_index; /* indexes of the malformed lines */
} input;

/* n items: mostly distinct calls; every 1000th line malformed, every 997th a repeat of an
 * earlier call, every 1499th a zero-second (unanswered) call. Origin ids carry the tag so that
 * inputs do not overlap. */
static void make_input(input *in, const char *tag, uint64_t n)
{
    memset(in, 0, sizeof *in);
    in->in_bad_index = calloc(n / 1000 + 2, sizeof(uint64_t));
    uint64_t last_good = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i % 1000 == 999) {
            tb_printf(&in->in_text,
                      "MSC01,%s-bad-%llu,voice,mo,86138x,,,2026-11-02T25:00:00+08:00,"
                      "1,0,0,,,,,\n",
                      tag, (unsigned long long)i);
            in->in_bad_index[in->in_malformed++] = i;
            continue;
        }
        uint64_t id = i;
        int dup = i % 997 == 996 && i > 0;
        if (dup)
            id = last_good;
        unsigned secs = i % 1499 == 1498 && !dup ? 0 : (unsigned)(1 + i % 3600);
        if (dup)
            secs = 1 + (unsigned)(id % 3600);
        unsigned t = (unsigned)(id % 172800); /* two days of calls */
        tb_printf(&in->in_text,
                  "MSC01,%s-%llu,voice,mo,86138%08llu,460001380000000,8613912345678,"
                  "2026-11-%02uT%02u:%02u:%02u+08:00,%u,0,0,,,4711,16,\n",
                  tag, (unsigned long long)id, (unsigned long long)(id % 50000), 2 + t / 86400,
                  t / 3600 % 24, t / 60 % 60, t % 60, secs);
        if (dup)
            in->in_dup++;
        else if (secs == 0)
            in->in_unanswered++;
        else
            in->in_good++, last_good = id;
    }
    in->in_lines = n;
}

static void free_input(input *in)
{
    free(in->in_text.tb_p);
    free(in->in_bad_index);
}

/* What is on Kafka. */
typedef struct readback {
    char **rb_ids; /* "source/origin" of every cdr.raw record */
    size_t rb_n, rb_cap;
    uint64_t *rb_rej; /* cdr.index of every cdr.rejected message of the file checked */
    size_t rb_nrej, rb_caprej;
    const char *rb_file; /* only rejections of this input name (NULL = all) */
    int rb_bad_headers;
} readback;

static int rb_raw(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    cdr_record cr;
    cdr_diag dg;
    cr_assert_eq(cdr_wire_decode(km->km_value, km->km_value_len, &cr, &dg), 0, "%s", dg.dg_msg);
    /* the key is the charging owner, else the MSISDN */
    cr_assert_eq(km->km_key_len, strlen(cr.cr_msisdn));
    cr_assert_eq(memcmp(km->km_key, cr.cr_msisdn, km->km_key_len), 0);
    if (rb->rb_n == rb->rb_cap) {
        rb->rb_cap = rb->rb_cap ? 2 * rb->rb_cap : 4096;
        rb->rb_ids = realloc(rb->rb_ids, rb->rb_cap * sizeof *rb->rb_ids);
    }
    char id[128];
    snprintf(id, sizeof id, "%s/%s", cr.cr_source, cr.cr_origin_id);
    rb->rb_ids[rb->rb_n++] = strdup(id);
    return 0;
}

static int rb_rejected(void *arg, const cdr_kafka_msg *km)
{
    readback *rb = arg;
    char file[256], idx[32], reason[512], line[32];
    if (!cdr_kafka_msg_header(km, CDR_HDR_FILE, file, sizeof file) ||
        !cdr_kafka_msg_header(km, CDR_HDR_INDEX, idx, sizeof idx) ||
        !cdr_kafka_msg_header(km, CDR_HDR_REASON, reason, sizeof reason) ||
        !cdr_kafka_msg_header(km, CDR_HDR_LINE, line, sizeof line) ||
        !cdr_kafka_msg_header(km, CDR_HDR_SHA256, reason + 256, 100)) {
        rb->rb_bad_headers++;
        return 0;
    }
    if (rb->rb_file && strcmp(file, rb->rb_file))
        return 0;
    /* the value is the original line; its position is in the reason */
    cr_assert(km->km_value_len > 10 && !memcmp(km->km_value, "MSC01,", 6));
    cr_assert_eq(strtoull(line, NULL, 10), strtoull(idx, NULL, 10) + 1);
    if (rb->rb_nrej == rb->rb_caprej) {
        rb->rb_caprej = rb->rb_caprej ? 2 * rb->rb_caprej : 256;
        rb->rb_rej = realloc(rb->rb_rej, rb->rb_caprej * sizeof *rb->rb_rej);
    }
    rb->rb_rej[rb->rb_nrej++] = strtoull(idx, NULL, 10);
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void read_back(const kafka_env *ke, readback *rb)
{
    cdr_diag dg;
    for (int t = T_RAW; t <= T_REJECTED; t++) /* the last commit's markers written */
        test_kafka_wait_readable_at(ke->ke_brokers, ke->ke_topic[t], 120000);
    cr_assert_eq(
        cdr_kafka_read_topic(ke->ke_brokers, ke->ke_topic[T_RAW], NULL, 0, 120000, rb_raw, rb, &dg),
        0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_kafka_read_topic(ke->ke_brokers, ke->ke_topic[T_REJECTED], NULL, 0, 120000,
                                      rb_rejected, rb, &dg),
                 0, "%s", dg.dg_msg);
    if (rb->rb_n) /* qsort wants an array, also for no element */
        qsort(rb->rb_ids, rb->rb_n, sizeof *rb->rb_ids, str_cmp);
    if (rb->rb_nrej)
        qsort(rb->rb_rej, rb->rb_nrej, sizeof *rb->rb_rej, u64_cmp);
}

static void free_readback(readback *rb)
{
    for (size_t i = 0; i < rb->rb_n; i++)
        free(rb->rb_ids[i]);
    free(rb->rb_ids);
    free(rb->rb_rej);
    memset(rb, 0, sizeof *rb);
}

/* Every distinct good record of in exactly once on cdr.raw, every malformed line exactly once on
 * cdr.rejected, nothing else. */
static void assert_exactly_once(const input *in, const char *tag, const readback *rb)
{
    for (size_t i = 1; i < rb->rb_n; i++)
        cr_assert(strcmp(rb->rb_ids[i - 1], rb->rb_ids[i]) != 0, "%s is on cdr.raw twice",
                  rb->rb_ids[i]);
    size_t mine = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "MSC01/%s-", tag);
    for (size_t i = 0; i < rb->rb_n; i++)
        mine += !strncmp(rb->rb_ids[i], prefix, strlen(prefix));
    cr_assert_eq(mine, in->in_good, "cdr.raw holds %zu records of %s, expected %llu", mine, tag,
                 (unsigned long long)in->in_good);
    cr_assert_eq(rb->rb_nrej, in->in_malformed, "cdr.rejected holds %zu, expected %llu",
                 rb->rb_nrej, (unsigned long long)in->in_malformed);
    for (size_t i = 0; i < rb->rb_nrej; i++)
        cr_assert_eq(rb->rb_rej[i], in->in_bad_index[i], "rejection %zu", i);
    cr_assert_eq(rb->rb_bad_headers, 0);
}

static void assert_stats(const input *in, const cdr_coll_stats *cs)
{
    cr_assert_eq(cs->cs_read, in->in_lines);
    cr_assert_eq(cs->cs_published, in->in_good);
    cr_assert_eq(cs->cs_rejected, in->in_malformed);
    cr_assert_eq(cs->cs_duplicate, in->in_dup);
    cr_assert_eq(cs->cs_nonbillable, in->in_unanswered);
    cr_assert_eq(cs->cs_read,
                 cs->cs_published + cs->cs_rejected + cs->cs_duplicate + cs->cs_nonbillable);
}

/* ---- in-process spool runs ------------------------------------------------------------------- */

typedef struct acks_check {
    const kafka_env *ac_kafka;
    const char *ac_spool;
    int ac_reports;
    cdr_coll_stats ac_stats[4];
    char ac_names[4][64];
} acks_check;

/* Called after a file was moved: everything it published must be readable already. */
static void on_report_check_acks(void *arg, const cdr_collect_report *fr)
{
    acks_check *ac = arg;
    cr_assert_eq(fr->fr_status, CDR_COLLECT_DONE, "%s: %s", fr->fr_name, fr->fr_msg);
    char path[8192];
    snprintf(path, sizeof path, "%s/done/%s", ac->ac_spool, fr->fr_name);
    cr_assert(exists(path));
    readback rb = {0};
    read_back(ac->ac_kafka, &rb);
    uint64_t before = 0;
    for (int i = 0; i < ac->ac_reports; i++)
        before += ac->ac_stats[i].cs_published;
    cr_assert_eq(rb.rb_n, before + fr->fr_stats.cs_published,
                 "%s is in done/: all its records must be on Kafka", fr->fr_name);
    free_readback(&rb);
    ac->ac_stats[ac->ac_reports] = fr->fr_stats;
    snprintf(ac->ac_names[ac->ac_reports], sizeof ac->ac_names[0], "%s", fr->fr_name);
    ac->ac_reports++;
}

static void spool_exactly_once(int real)
{
    kafka_env ke;
    kafka_open(&ke, real, 4);
    char spool[4096];
    tmpdir(spool, sizeof spool);
    input a, b;
    make_input(&a, "a", 5000);
    make_input(&b, "b", 3000);
    deliver(spool, "a.csv", a.in_text.tb_p, a.in_text.tb_len);
    deliver(spool, "b.csv", b.in_text.tb_p, b.in_text.tb_len);
    /* ignored: in-flight names */
    deliver(spool, "partial.tmp", "MSC01,x,", 8);

    cdr_collect_config cl;
    collect_config(&cl, &ke);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "spooltest");
    cl.cl_chunk = 1000;
    cl.cl_quiet = 1;
    acks_check ac = {.ac_kafka = &ke, .ac_spool = spool};
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, on_report_check_acks, &ac, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_coll_stats tot;
    uint64_t files, refused, failed;
    cdr_collect_totals(co, &tot, &files, &refused, &failed);
    cdr_collect_close(co);

    cr_assert_eq(ac.ac_reports, 2);
    cr_assert_str_eq(ac.ac_names[0], "a.csv");
    assert_stats(&a, &ac.ac_stats[0]);
    assert_stats(&b, &ac.ac_stats[1]);
    cr_assert_eq(files, 2);
    cr_assert_eq(refused + failed, 0);
    cr_assert_eq(tot.cs_read, a.in_lines + b.in_lines);
    char path[8192];
    snprintf(path, sizeof path, "%s/partial.tmp", spool);
    cr_assert(exists(path), "a .tmp file is not taken");

    readback rb = {0};
    read_back(&ke, &rb);
    cr_assert_eq(rb.rb_n, a.in_good + b.in_good);
    free_readback(&rb);
    rb.rb_file = "a.csv"; /* rejections per file */
    read_back(&ke, &rb);
    assert_exactly_once(&a, "a", &rb);
    free_readback(&rb);
    rb.rb_file = "b.csv";
    read_back(&ke, &rb);
    assert_exactly_once(&b, "b", &rb);
    free_readback(&rb);
    free_input(&a);
    free_input(&b);
    kafka_close(&ke);
    rm_rf(spool);
}

Test(coll_spool, good_malformed_duplicate_unanswered_exactly_once, .timeout = 300)
{
    spool_exactly_once(0);
}

Test(coll_spool_broker, good_malformed_duplicate_unanswered_exactly_once, .timeout = 300)
{
    spool_exactly_once(1);
}

static void stream_exactly_once(int real)
{
    kafka_env ke;
    kafka_open(&ke, real, 4);
    char dir[2048], path[8192];
    tmpdir(dir, sizeof dir);
    input s;
    make_input(&s, "s", 2500);
    snprintf(path, sizeof path, "%s/stream.txt", dir);
    write_file(path, s.in_text.tb_p, s.in_text.tb_len);
    cdr_collect_config cl;
    collect_config(&cl, &ke);
    snprintf(cl.cl_store, sizeof cl.cl_store, "%s/store", dir);
    cl.cl_chunk = 700;
    cl.cl_quiet = 1;
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, NULL, NULL, &co, &dg), 0, "%s", dg.dg_msg);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cdr_collect_stream(co, fd, "stdin", NULL, &dg), 0, "%s", dg.dg_msg);
    close(fd);
    cdr_coll_stats tot;
    cdr_collect_totals(co, &tot, NULL, NULL, NULL);
    cdr_collect_close(co);
    assert_stats(&s, &tot);
    readback rb = {.rb_file = "stdin"};
    read_back(&ke, &rb);
    assert_exactly_once(&s, "s", &rb);
    free_readback(&rb);
    free_input(&s);
    kafka_close(&ke);
    rm_rf(dir);
}

Test(coll_spool, a_stream_publishes_in_transactions, .timeout = 300)
{
    stream_exactly_once(0);
}

Test(coll_spool_broker, a_stream_publishes_in_transactions, .timeout = 300)
{
    stream_exactly_once(1);
}

/* ---- charging owners from the directory ------------------------------------------------------ */

/* One record of the owners test: its MSISDN, the owner the element wrote (CSV column 16) and the
 * key the collector must give it with the sample directory (billing/samples/demo.dir). */
typedef struct owner_case {
    const char *oc_msisdn;
    const char *oc_csv_owner;
    const char *oc_key;
    uint64_t oc_owner; /* cr_owner on the wire */
} owner_case;

#define POOL_1 "9223372036854775809" /* enterprise 1's pool: 1 | 2^63 */
#define POOL_2 "9223372036854775810" /* enterprise 2's pool */

static const owner_case owner_cases[] = {
    /* enterprise 1, product 11 (500 GB data pool): the members are keyed by the pool */
    {"8613800000001", "", POOL_1, 0x8000000000000001ULL},
    {"8613800000002", "", POOL_1, 0x8000000000000001ULL},
    {"8613800000012", "30012", POOL_1, 0x8000000000000001ULL}, /* the directory wins */
    /* enterprise 2, product 21 (50 GB pool) */
    {"8613800000015", "", POOL_2, 0x8000000000000002ULL},
    {"8613800000016", "", POOL_2, 0x8000000000000002ULL},
    /* enterprise 1, product 12 (no pool): a member is still its enterprise's */
    {"4915100000004", "", POOL_1, 0x8000000000000001ULL},
    /* an individual: its account's */
    {"8613800000022", "", "2001", 2001},
    /* not in the directory: keyed by the MSISDN, owner 0 (an element's owner is not trusted) */
    {"8613899999999", "", "8613899999999", 0},
    {"8613899999998", "77", "8613899999998", 0},
};
#define N_OWNER_CASES (sizeof owner_cases / sizeof owner_cases[0])

typedef struct owner_seen {
    int os_n[N_OWNER_CASES];
    int32_t os_part[N_OWNER_CASES];
    int32_t os_nparts;
} owner_seen;

static int rb_owner(void *arg, const cdr_kafka_msg *km)
{
    owner_seen *os = arg;
    cdr_record cr;
    cdr_diag dg;
    cr_assert_eq(cdr_wire_decode(km->km_value, km->km_value_len, &cr, &dg), 0, "%s", dg.dg_msg);
    size_t i = 0;
    while (i < N_OWNER_CASES && strcmp(owner_cases[i].oc_msisdn, cr.cr_msisdn))
        i++;
    cr_assert_lt(i, N_OWNER_CASES, "unexpected record of %s", cr.cr_msisdn);
    const owner_case *oc = &owner_cases[i];
    cr_assert_eq(cr.cr_owner, oc->oc_owner, "%s: owner %llu on the wire, expected %llu",
                 oc->oc_msisdn, (unsigned long long)cr.cr_owner, (unsigned long long)oc->oc_owner);
    cr_assert(km->km_key_len == strlen(oc->oc_key) &&
                  !memcmp(km->km_key, oc->oc_key, km->km_key_len),
              "%s: key %.*s, expected %s", oc->oc_msisdn, (int)km->km_key_len,
              (const char *)km->km_key, oc->oc_key);
    /* the partition murmur2 gives the key: where the rater looks for the owner's counters */
    cr_assert_eq(km->km_partition,
                 cdr_kafka_key_partition(km->km_key, km->km_key_len, os->os_nparts));
    os->os_n[i]++;
    os->os_part[i] = km->km_partition;
    return 0;
}

static void keyed_by_charging_owner(int real)
{
    kafka_env ke;
    kafka_open(&ke, real, 8);
    char dir[2048], spool[4096], store[4096], dirfile[4096];
    tmpdir(dir, sizeof dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(store, sizeof store, "%s/rating", dir);
    snprintf(dirfile, sizeof dirfile, "%s/billing/samples/demo.dir", CDR_SOURCE_DIR);
    cr_assert_eq(mkdir(spool, 0755), 0);
    cdr_store *st;
    cdr_subtab *owners;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(store, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_load_file(st, dirfile, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_dir_rating_view(st, &owners, &dg), 0, "%s", dg.dg_msg);
    cdr_store_close(st);

    /* two calls per case */
    tbuf tb = {0};
    for (int rep = 0; rep < 2; rep++)
        for (size_t i = 0; i < N_OWNER_CASES; i++)
            tb_printf(&tb,
                      "MSC01,own-%d-%zu,voice,mo,%s,,8613912345678,2026-11-02T10:%02zu:00+08:00,"
                      "61,0,0,,,4711,16,%s\n",
                      rep, i, owner_cases[i].oc_msisdn, i, owner_cases[i].oc_csv_owner);
    deliver(spool, "owners.csv", tb.tb_p, tb.tb_len);
    free(tb.tb_p);

    cdr_collect_config cl;
    collect_config(&cl, &ke);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "ownertest");
    cl.cl_owners = owners;
    cl.cl_quiet = 1;
    cdr_collect *co;
    cr_assert_eq(cdr_collect_open(&cl, NULL, NULL, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_coll_stats tot;
    cdr_collect_totals(co, &tot, NULL, NULL, NULL);
    cdr_collect_close(co);
    cr_assert_eq(tot.cs_published, 2 * N_OWNER_CASES);

    owner_seen os = {.os_nparts = 8};
    test_kafka_wait_readable_at(ke.ke_brokers, ke.ke_topic[T_RAW], 120000);
    cr_assert_eq(cdr_kafka_read_topic(ke.ke_brokers, ke.ke_topic[T_RAW], NULL, 0, 120000, rb_owner,
                                      &os, &dg),
                 0, "%s", dg.dg_msg);
    for (size_t i = 0; i < N_OWNER_CASES; i++)
        cr_assert_eq(os.os_n[i], 2, "%s: %d records on cdr.raw", owner_cases[i].oc_msisdn,
                     os.os_n[i]);
    /* a pool and its members in one partition */
    cr_assert_eq(os.os_part[0], os.os_part[1]);
    cr_assert_eq(os.os_part[0], os.os_part[2]);
    cr_assert_eq(os.os_part[3], os.os_part[4]);
    cdr_subtab_free(owners);
    kafka_close(&ke);
    rm_rf(dir);
}

Test(coll_spool, records_keyed_by_charging_owner, .timeout = 300)
{
    keyed_by_charging_owner(0);
}

Test(coll_spool_broker, records_keyed_by_charging_owner, .timeout = 300)
{
    keyed_by_charging_owner(1);
}

Test(coll_spool, a_bad_topic_prefix_is_refused)
{
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "127.0.0.1:1");
    snprintf(cl.cl_store, sizeof cl.cl_store, "/nonexistent/never-created");
    snprintf(cl.cl_topic_prefix, sizeof cl.cl_topic_prefix, "test/x");
    cdr_collect *co = (cdr_collect *)1;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_collect_open(&cl, NULL, NULL, &co, &dg), CDR_EINVAL);
    cr_assert_null(co);
    cr_assert_str_eq(dg.dg_msg, "topic prefix 'test/x' has '/' at 5 (letters, digits, '.', '_' "
                                "and '-' only)");
}

/* ---- complete files only; held files (the pipeline's collectors) ----------------------------- */

/* Clean calls tag-from .. tag-(to-1): every one published. */
static void clean_lines(tbuf *tb, const char *tag, int from, int to)
{
    for (int i = from; i < to; i++)
        tb_printf(tb,
                  "MSC01,%s-%d,voice,mo,86138%08d,460001380000000,8613912345678,"
                  "2026-11-02T10:%02d:%02d+08:00,61,0,0,,,4711,16,\n",
                  tag, i, i, i / 60 % 60, i % 60);
}

typedef struct reports {
    int rp_n;
    int rp_status[8];
    int rp_moved[8];
    char rp_name[8][64];
    cdr_coll_stats rp_stats[8];
    const char *rp_stop_on; /* set *rp_stop when this file is reported */
    volatile sig_atomic_t *rp_stop;
} reports;

static void on_report_keep(void *arg, const cdr_collect_report *fr)
{
    reports *rp = arg;
    cr_assert_lt(rp->rp_n, 8);
    rp->rp_status[rp->rp_n] = fr->fr_status;
    rp->rp_moved[rp->rp_n] = fr->fr_moved_to != NULL;
    rp->rp_stats[rp->rp_n] = fr->fr_stats;
    snprintf(rp->rp_name[rp->rp_n], sizeof rp->rp_name[0], "%s", fr->fr_name);
    rp->rp_n++;
    if (rp->rp_stop_on && !strcmp(fr->fr_name, rp->rp_stop_on))
        *rp->rp_stop = 1;
}

static void spool_file(const char *spool, const char *sub, const char *name, char *buf, size_t n)
{
    if (sub)
        snprintf(buf, n, "%s/%s/%s", spool, sub, name);
    else
        snprintf(buf, n, "%s/%s", spool, name);
}

static int in_spool(const char *spool, const char *sub, const char *name)
{
    char path[8192];
    spool_file(spool, sub, name, path, sizeof path);
    return exists(path);
}

static void append_text(const char *path, const tbuf *tb)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(tb->tb_p, 1, tb->tb_len, f), tb->tb_len);
    cr_assert_eq(fclose(f), 0);
}

/* A collector on spool (hold as asked) that runs --once and keeps its reports. */
static cdr_collect *run_once(const kafka_env *ke, const char *spool, int hold, reports *rp,
                             FILE *log)
{
    cdr_collect_config cl;
    collect_config(&cl, ke);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "holdtest");
    cl.cl_hold = hold;
    cl.cl_quiet = log == NULL;
    cl.cl_log = log;
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, on_report_keep, rp, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), 0, "%s", dg.dg_msg);
    return co;
}

/* cdr.raw holds n records, each once. */
static void assert_raw_once(const kafka_env *ke, size_t n)
{
    readback rb = {0};
    read_back(ke, &rb);
    cr_assert_eq(rb.rb_n, n, "cdr.raw holds %zu records, expected %zu", rb.rb_n, n);
    for (size_t i = 1; i < rb.rb_n; i++)
        cr_assert(strcmp(rb.rb_ids[i - 1], rb.rb_ids[i]) != 0, "%s twice", rb.rb_ids[i]);
    free_readback(&rb);
}

Test(coll_hold, held_files_move_to_done_only_at_the_commit, .timeout = 300)
{
    kafka_env ke;
    kafka_open(&ke, 0, 4);
    char spool[4096];
    tmpdir(spool, sizeof spool);
    tbuf a = {0}, b = {0};
    clean_lines(&a, "a", 0, 300);
    clean_lines(&b, "b", 0, 200);
    deliver(spool, "a.csv", a.tb_p, a.tb_len);
    deliver(spool, "b.csv", b.tb_p, b.tb_len);
    reports rp = {0};
    cdr_collect *co = run_once(&ke, spool, 1, &rp, NULL);
    cr_assert_eq(rp.rp_n, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(rp.rp_status[i], CDR_COLLECT_HELD, "%s", rp.rp_name[i]);
        cr_assert(!rp.rp_moved[i]);
    }
    cr_assert_eq(rp.rp_stats[0].cs_published, 300);
    cr_assert_eq(cdr_collect_held(co), 2);
    cr_assert(in_spool(spool, NULL, "a.csv") && in_spool(spool, NULL, "b.csv"),
              "held files stay in the spool");
    cr_assert(!in_spool(spool, "done", "a.csv"));
    assert_raw_once(&ke, 500); /* published meanwhile */
    cdr_diag dg;
    cr_assert_eq(cdr_collect_commit(co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(rp.rp_n, 4);
    for (int i = 2; i < 4; i++)
        cr_assert(rp.rp_status[i] == CDR_COLLECT_DONE && rp.rp_moved[i], "%s", rp.rp_name[i]);
    cr_assert(in_spool(spool, "done", "a.csv") && in_spool(spool, "done", "b.csv"));
    cr_assert(!in_spool(spool, NULL, "a.csv") && !in_spool(spool, NULL, "b.csv"));
    uint64_t files;
    cdr_coll_stats tot;
    cdr_collect_totals(co, &tot, &files, NULL, NULL);
    cr_assert_eq(files, 2, "counted once, when held");
    cr_assert_eq(tot.cs_published, 500);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), CDR_EINVAL, "only close is left");
    cdr_collect_close(co);

    /* committed: the same content again is refused, its records are known */
    deliver(spool, "c.csv", a.tb_p, a.tb_len);
    memset(&rp, 0, sizeof rp);
    cdr_collect_close(run_once(&ke, spool, 0, &rp, NULL));
    cr_assert_eq(rp.rp_n, 1);
    cr_assert_eq(rp.rp_status[0], CDR_COLLECT_REFUSED);
    assert_raw_once(&ke, 500);
    free(a.tb_p);
    free(b.tb_p);
    kafka_close(&ke);
    rm_rf(spool);
}

/* Each run on a cluster of its own, as the pipeline's: the records of a rolled-back run go with
 * it. (On a cluster that outlives the run, the next collector would find the held file's
 * checkpoint on Kafka and complete it: hold is for the pipeline's embedded cluster.) */
Test(coll_hold, a_rolled_back_file_is_collected_again_whole, .timeout = 300)
{
    kafka_env ke;
    char spool[4096];
    tmpdir(spool, sizeof spool);
    tbuf a = {0};
    clean_lines(&a, "a", 0, 300);
    deliver(spool, "a.csv", a.tb_p, a.tb_len);
    for (int round = 0; round < 2; round++) { /* rolled back, then closed without a commit */
        kafka_open(&ke, 0, 4);
        reports rp = {0};
        cdr_collect *co = run_once(&ke, spool, 1, &rp, NULL);
        cr_assert_eq(rp.rp_n, 1);
        cr_assert_eq(rp.rp_status[0], CDR_COLLECT_HELD);
        cr_assert_eq(rp.rp_stats[0].cs_published, 300, "round %d", round);
        cr_assert_eq(rp.rp_stats[0].cs_duplicate, 0, "round %d: identities forgotten", round);
        if (round == 0)
            cdr_collect_rollback(co);
        cdr_collect_close(co);
        kafka_close(&ke);
        cr_assert(in_spool(spool, NULL, "a.csv") && !in_spool(spool, "done", "a.csv"));
    }
    kafka_open(&ke, 0, 4);
    reports rp = {0};
    cdr_collect_close(run_once(&ke, spool, 0, &rp, NULL));
    cr_assert_eq(rp.rp_n, 1);
    cr_assert_eq(rp.rp_status[0], CDR_COLLECT_DONE);
    cr_assert_eq(rp.rp_stats[0].cs_read, 300);
    cr_assert_eq(rp.rp_stats[0].cs_published, 300, "not refused, not duplicates");
    cr_assert(in_spool(spool, "done", "a.csv"));
    assert_raw_once(&ke, 300);
    free(a.tb_p);
    kafka_close(&ke);
    rm_rf(spool);
}

Test(coll_hold, a_file_changed_before_the_commit_stays_and_is_read_again, .timeout = 300)
{
    kafka_env ke;
    kafka_open(&ke, 0, 4);
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    tbuf a = {0}, more = {0};
    clean_lines(&a, "a", 0, 100);
    clean_lines(&more, "a", 100, 101);
    deliver(spool, "a.csv", a.tb_p, a.tb_len);
    reports rp = {0};
    cdr_collect *co = run_once(&ke, spool, 1, &rp, NULL);
    spool_file(spool, NULL, "a.csv", path, sizeof path);
    append_text(path, &more); /* the writer was not done */
    cdr_diag dg;
    cr_assert_eq(cdr_collect_commit(co, &dg), 0, "%s", dg.dg_msg);
    cdr_collect_close(co);
    cr_assert_eq(rp.rp_n, 2);
    cr_assert(rp.rp_status[1] == CDR_COLLECT_DONE && !rp.rp_moved[1], "reported, not moved");
    cr_assert(in_spool(spool, NULL, "a.csv") && !in_spool(spool, "done", "a.csv"));
    memset(&rp, 0, sizeof rp);
    cdr_collect_close(run_once(&ke, spool, 0, &rp, NULL));
    cr_assert_eq(rp.rp_n, 1);
    cr_assert_eq(rp.rp_stats[0].cs_read, 101);
    cr_assert_eq(rp.rp_stats[0].cs_published, 1, "the new line");
    cr_assert_eq(rp.rp_stats[0].cs_duplicate, 100, "the lines published before");
    cr_assert(in_spool(spool, "done", "a.csv"));
    assert_raw_once(&ke, 101);
    free(a.tb_p);
    free(more.tb_p);
    kafka_close(&ke);
    rm_rf(spool);
}

typedef struct change_hook {
    int ch_calls;
    const tbuf *ch_more;
} change_hook;

/* The first read of a file: a line is appended while the collector reads it. */
static void append_on_first_read(void *arg, const char *path)
{
    change_hook *ch = arg;
    if (ch->ch_calls++ == 0)
        append_text(path, ch->ch_more);
}

static int file_has(FILE *f, const char *text)
{
    fflush(f);
    rewind(f);
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    return found;
}

static void set_mtime_ago(const char *path, time_t secs)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= secs;
    ts[1] = ts[0];
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

Test(coll_settle, a_file_that_changes_while_read_is_put_back_and_read_again, .timeout = 300)
{
    kafka_env ke;
    kafka_open(&ke, 0, 4);
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    tbuf a = {0}, more = {0};
    clean_lines(&a, "a", 0, 200);
    clean_lines(&more, "a", 200, 201);
    deliver(spool, "a.csv", a.tb_p, a.tb_len);
    spool_file(spool, NULL, "a.csv", path, sizeof path);
    set_mtime_ago(path, 60); /* settled: taken at once */
    change_hook ch = {.ch_more = &more};
    cdr_collect_config cl;
    collect_config(&cl, &ke);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "settletest");
    cl.cl_settle_ms = 1000;
    cl.cl_read_hook = append_on_first_read;
    cl.cl_read_hook_arg = &ch;
    FILE *log = tmpfile();
    cl.cl_log = log;
    reports rp = {0};
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, on_report_keep, &rp, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_collect_close(co);
    cr_assert_eq(ch.ch_calls, 2, "read twice");
    cr_assert(file_has(log, "a.csv changed while it was read: put back"));
    cr_assert(file_has(log, "waiting for 1 file(s) to settle (unchanged for 1 s), a.csv first"));
    cr_assert_eq(rp.rp_n, 1, "one report: nothing of the first read was published");
    cr_assert_eq(rp.rp_stats[0].cs_read, 201);
    cr_assert_eq(rp.rp_stats[0].cs_published, 201);
    assert_raw_once(&ke, 201);
    fclose(log);
    free(a.tb_p);
    free(more.tb_p);
    kafka_close(&ke);
    rm_rf(spool);
}

Test(coll_settle, once_waits_for_files_not_settled_and_stop_ends_the_wait, .timeout = 300)
{
    kafka_env ke;
    kafka_open(&ke, 0, 4);
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    tbuf a = {0}, b = {0};
    clean_lines(&a, "a", 0, 10);
    clean_lines(&b, "b", 0, 10);
    deliver(spool, "a-new.csv", a.tb_p, a.tb_len); /* just written */
    deliver(spool, "b-old.csv", b.tb_p, b.tb_len);
    spool_file(spool, NULL, "b-old.csv", path, sizeof path);
    set_mtime_ago(path, 7200); /* unchanged for two hours */
    cdr_collect_config cl;
    collect_config(&cl, &ke);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "settletest");
    cl.cl_settle_ms = 3600 * 1000;
    FILE *log = tmpfile();
    cl.cl_log = log;
    volatile sig_atomic_t stop = 0;
    reports rp = {.rp_stop_on = "b-old.csv", .rp_stop = &stop};
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, on_report_keep, &rp, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, &stop, &dg), 0, "%s", dg.dg_msg);
    cdr_collect_close(co);
    cr_assert_eq(rp.rp_n, 1);
    cr_assert_str_eq(rp.rp_name[0], "b-old.csv");
    cr_assert(in_spool(spool, "done", "b-old.csv"), "settled long ago: taken at once");
    cr_assert(in_spool(spool, NULL, "a-new.csv"), "not settled: waited for, until the stop");
    cr_assert(file_has(log, "waiting for 1 file(s) to settle (unchanged for 3600 s), a-new.csv"));
    fclose(log);
    free(a.tb_p);
    free(b.tb_p);
    kafka_close(&ke);
    rm_rf(spool);
}

/* ---- the crash harness: cdrate collect in a child, killed ------------------------------------ */

#define CRASH_RECORDS 200000
#define CRASH_CHUNK   "20000"

static input crash_in; /* generated once per test process */

static void crash_input(void)
{
    if (!crash_in.in_lines)
        make_input(&crash_in, "k", CRASH_RECORDS);
}

/* Start `cdrate collect` on spool against ke; crash (may be NULL) goes to CDR_COLLECT_CRASH.
 * stdout (the --stats JSON) goes to out. Returns the child's pid. */
static pid_t spawn_collect(const char *spool, const kafka_env *ke, const char *crash,
                           const char *out)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/cdrate", CDR_BINARY_DIR);
    cr_assert(access(bin, X_OK) == 0, "%s must be built first", bin);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (crash)
            setenv(CDR_COLLECT_CRASH_ENV, crash, 1);
        else
            unsetenv(CDR_COLLECT_CRASH_ENV);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 1);
        char *argv[] = {bin,
                        "collect",
                        "--spool",
                        (char *)spool,
                        "--format",
                        "csv",
                        "--brokers",
                        (char *)ke->ke_brokers,
                        "--once",
                        "--quiet",
                        "--stats",
                        "--source",
                        "crashtest",
                        "--chunk",
                        CRASH_CHUNK,
                        "--settle",
                        "0",
                        "--topic-prefix",
                        (char *)ke->ke_prefix,
                        NULL};
        if (!ke->ke_prefix[0])
            argv[17] = NULL; /* the mock: no prefix, as the demo runs it */
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}
static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        cr_assert_eq(errno, EINTR);
    return st;
}

/* The per-file stats line the last run printed with --stats. */
static void parse_stats(const char *out, const char *name, cdr_coll_stats *cs)
{
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[1024], want[300];
    snprintf(want, sizeof want, "{\"file\":\"%s\",\"status\":\"done\",\"stats\":", name);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)))
            continue;
        unsigned long long v[5];
        cr_assert_eq(sscanf(line + strlen(want),
                            "{\"read\":%llu,\"published\":%llu,\"rejected\":%llu,"
                            "\"duplicate\":%llu,\"nonbillable\":%llu}",
                            &v[0], &v[1], &v[2], &v[3], &v[4]),
                     5, "%s", line);
        *cs = (cdr_coll_stats){v[0], v[1], v[2], v[3], v[4]};
        found = 1;
    }
    fclose(f);
    cr_assert(found, "no stats for %s in %s", name, out);
}

/* One scenario: crash the collector at each point of crashes[] in turn (each a new process),
 * then run it to the end; the file must then be in done/, and Kafka must hold every record
 * exactly once. */
static void crash_scenario(int real, const char *const *crashes, int n, int check_not_done)
{
    crash_input();
    kafka_env ke;
    kafka_open(&ke, real, 8);
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    for (int i = 0; i < n; i++) {
        int st = wait_child(spawn_collect(spool, &ke, crashes[i], out));
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "the collector did not reach crash point %s (status %d)", crashes[i], st);
        snprintf(path, sizeof path, "%s/big.csv", spool);
        if (check_not_done)
            cr_assert(exists(path), "not in done/ before Kafka acknowledged everything");
    }
    int st = wait_child(spawn_collect(spool, &ke, NULL, out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3,
              "exit status %d (3: done, with rejected records)", st);
    snprintf(path, sizeof path, "%s/done/big.csv", spool);
    cr_assert(exists(path));
    cdr_coll_stats cs;
    parse_stats(out, "big.csv", &cs);
    assert_stats(&crash_in, &cs);
    readback rb = {.rb_file = "big.csv"};
    read_back(&ke, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    kafka_close(&ke);
    rm_rf(spool);
    unlink(out);
}

/* records handed to Kafka, transaction open: some may have reached the broker */
static const char *const crash_mid_txn[] = {"record:70001"};
/* checkpoint produced, not committed; then committed on Kafka but not in LMDB */
static const char *const crash_commit[] = {"precommit:2", "commit:3", "commit:1"};
static const char *const crash_move[] = {"lmdb:4", "move:1"};

Test(coll_crash, killed_in_the_middle_of_a_transaction, .timeout = 600)
{
    crash_scenario(0, crash_mid_txn, 1, 1);
}

Test(coll_crash_broker, killed_in_the_middle_of_a_transaction, .timeout = 600)
{
    crash_scenario(1, crash_mid_txn, 1, 1);
}

Test(coll_crash, killed_before_and_after_the_kafka_commit, .timeout = 600)
{
    crash_scenario(0, crash_commit, 3, 1);
}

Test(coll_crash_broker, killed_before_and_after_the_kafka_commit, .timeout = 600)
{
    crash_scenario(1, crash_commit, 3, 1);
}

Test(coll_crash, killed_after_lmdb_and_before_the_move, .timeout = 600)
{
    crash_scenario(0, crash_move, 2, 1);
}

Test(coll_crash_broker, killed_after_lmdb_and_before_the_move, .timeout = 600)
{
    crash_scenario(1, crash_move, 2, 1);
}

static void killed_at_random(int real)
{
    crash_input();
    kafka_env ke;
    kafka_open(&ke, real, 8);
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    snprintf(path, sizeof path, "%s/done/big.csv", spool);
    /* kill after a growing delay until a run completes by itself (where the kills land does not
     * matter: the result must be the same) */
    srand((unsigned)time(NULL));
    int done = 0, kills = 0;
    /* a kill can land after a run has finished the file (moved it to done/) but before it
     * exited: the next run then finds nothing to do and exits 0, and the finished run's summary
     * was never printed; the records on Kafka are then the whole check (it failed in a loaded CI
     * run as "exit 0, not 3") */
    int finished_by_killed = 0;
    for (int round = 0; round < 12 && !done; round++) {
        pid_t pid = spawn_collect(spool, &ke, NULL, out);
        struct timespec ts = {0, (long)(200 + rand() % 400 + round * 150) * 1000000L};
        while (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st = wait_child(pid);
        if (WIFEXITED(st)) {
            finished_by_killed = WEXITSTATUS(st) == 0 && kills > 0 && exists(path);
            cr_assert(WEXITSTATUS(st) == 3 || finished_by_killed, "a run exited %d by itself",
                      WEXITSTATUS(st));
            done = 1;
        } else {
            kills++;
        }
    }
    if (!done) {
        int st = wait_child(spawn_collect(spool, &ke, NULL, out));
        finished_by_killed = WIFEXITED(st) && WEXITSTATUS(st) == 0 && kills > 0 && exists(path);
        cr_assert(WIFEXITED(st) && (WEXITSTATUS(st) == 3 || finished_by_killed), "status %d", st);
    }
    cr_assert(exists(path));
    cr_log_info("killed %d times%s", kills,
                finished_by_killed ? "; the last kill came after the file was finished" : "");
    if (!finished_by_killed) {
        cdr_coll_stats cs;
        parse_stats(out, "big.csv", &cs);
        assert_stats(&crash_in, &cs);
    }
    readback rb = {.rb_file = "big.csv"};
    read_back(&ke, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    kafka_close(&ke);
    rm_rf(spool);
    unlink(out);
}

Test(coll_crash, killed_at_random_moments, .timeout = 900)
{
    killed_at_random(0);
}

Test(coll_crash_broker, killed_at_random_moments, .timeout = 900)
{
    killed_at_random(1);
}

/* The mock only: its brokers can be taken down from the test. (A stop and start of the real
 * broker would hit every test that shares it.) */
Test(coll_crash, a_broker_outage_pauses_and_resumes, .timeout = 600)
{
    crash_input();
    kafka_env ke;
    kafka_open(&ke, 0, 8);
    cdr_kafka_mock *mk = ke.ke_mock;
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    pid_t pid = spawn_collect(spool, &ke, NULL, out);
    struct timespec ts = {0, 400 * 1000000L};
    nanosleep(&ts, NULL);
    cdr_diag dg;
    for (int b = 1; b <= 3; b++)
        cr_assert_eq(cdr_kafka_mock_broker_set(mk, b, 0, &dg), 0);
    ts = (struct timespec){2, 0};
    nanosleep(&ts, NULL);
    for (int b = 1; b <= 3; b++)
        cr_assert_eq(cdr_kafka_mock_broker_set(mk, b, 1, &dg), 0);
    int st = wait_child(pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %d", st);
    snprintf(path, sizeof path, "%s/done/big.csv", spool);
    cr_assert(exists(path));
    cdr_coll_stats cs;
    parse_stats(out, "big.csv", &cs);
    assert_stats(&crash_in, &cs);
    readback rb = {.rb_file = "big.csv"};
    read_back(&ke, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    kafka_close(&ke);
    rm_rf(spool);
    unlink(out);
}
