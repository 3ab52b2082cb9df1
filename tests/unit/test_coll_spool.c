/* test_coll_spool.c - the collector end to end on librdkafka's mock cluster (no external broker):
 * a spool run with good, malformed, duplicate and unanswered records read back from cdr.raw and
 * cdr.rejected (read_committed) shows every record exactly once and the accounting holds; files
 * move to done/ only after Kafka acknowledged their records; a live stream; and the crash
 * harness: `cdrate collect` killed with SIGKILL at deterministic points and at random moments,
 * and a broker outage, then restarted - every record exactly once.
 *
 * The mock cluster lives in a process: here it is owned by the test process, and the collector
 * runs in children (the cdrate binary) that reach it through its bootstrap servers, so the
 * cluster survives their death. */
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

#include "cdr_collect.h"
#include "test_dirs.h"

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

static cdr_kafka_mock *mock_cluster(int raw_partitions)
{
    cdr_kafka_mock *mk;
    cdr_diag dg;
    cr_assert_eq(cdr_kafka_mock_create(3, &mk, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_kafka_mock_topic_create(mk, CDR_TOPIC_RAW, raw_partitions, &dg), 0);
    cr_assert_eq(cdr_kafka_mock_topic_create(mk, CDR_TOPIC_REJECTED, 2, &dg), 0);
    cr_assert_eq(cdr_kafka_mock_topic_create(mk, CDR_TOPIC_CHECKPOINTS, 1, &dg), 0);
    return mk;
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

static void read_back(const char *brokers, readback *rb)
{
    cdr_diag dg;
    cr_assert_eq(cdr_kafka_read_topic(brokers, CDR_TOPIC_RAW, NULL, 0, 120000, rb_raw, rb, &dg), 0,
                 "%s", dg.dg_msg);
    cr_assert_eq(
        cdr_kafka_read_topic(brokers, CDR_TOPIC_REJECTED, NULL, 0, 120000, rb_rejected, rb, &dg), 0,
        "%s", dg.dg_msg);
    qsort(rb->rb_ids, rb->rb_n, sizeof *rb->rb_ids, str_cmp);
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
    const char *ac_brokers;
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
    read_back(ac->ac_brokers, &rb);
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

Test(coll_spool, good_malformed_duplicate_unanswered_exactly_once, .timeout = 300)
{
    cdr_kafka_mock *mk = mock_cluster(4);
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
    cdr_collect_config_defaults(&cl);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "%s", cdr_kafka_mock_bootstraps(mk));
    snprintf(cl.cl_coll.cc_source, sizeof cl.cl_coll.cc_source, "spooltest");
    cl.cl_chunk = 1000;
    cl.cl_quiet = 1;
    acks_check ac = {.ac_brokers = cdr_kafka_mock_bootstraps(mk), .ac_spool = spool};
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
    read_back(cdr_kafka_mock_bootstraps(mk), &rb);
    cr_assert_eq(rb.rb_n, a.in_good + b.in_good);
    rb.rb_file = "a.csv"; /* rejections per file */
    free_readback(&rb);
    rb.rb_file = "a.csv";
    read_back(cdr_kafka_mock_bootstraps(mk), &rb);
    assert_exactly_once(&a, "a", &rb);
    free_readback(&rb);
    rb.rb_file = "b.csv";
    read_back(cdr_kafka_mock_bootstraps(mk), &rb);
    assert_exactly_once(&b, "b", &rb);
    free_readback(&rb);
    free_input(&a);
    free_input(&b);
    cdr_kafka_mock_destroy(mk);
    rm_rf(spool);
}

Test(coll_spool, a_stream_publishes_in_transactions, .timeout = 300)
{
    cdr_kafka_mock *mk = mock_cluster(4);
    char dir[2048], path[8192];
    tmpdir(dir, sizeof dir);
    input s;
    make_input(&s, "s", 2500);
    snprintf(path, sizeof path, "%s/stream.txt", dir);
    write_file(path, s.in_text.tb_p, s.in_text.tb_len);
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    snprintf(cl.cl_store, sizeof cl.cl_store, "%s/store", dir);
    snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "%s", cdr_kafka_mock_bootstraps(mk));
    cl.cl_chunk = 700;
    cl.cl_quiet = 1;
    acks_check ac = {.ac_brokers = cdr_kafka_mock_bootstraps(mk), .ac_spool = dir};
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, NULL, &ac, &co, &dg), 0, "%s", dg.dg_msg);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cdr_collect_stream(co, fd, "stdin", NULL, &dg), 0, "%s", dg.dg_msg);
    close(fd);
    cdr_coll_stats tot;
    cdr_collect_totals(co, &tot, NULL, NULL, NULL);
    cdr_collect_close(co);
    assert_stats(&s, &tot);
    readback rb = {.rb_file = "stdin"};
    read_back(cdr_kafka_mock_bootstraps(mk), &rb);
    assert_exactly_once(&s, "s", &rb);
    free_readback(&rb);
    free_input(&s);
    cdr_kafka_mock_destroy(mk);
    rm_rf(dir);
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

/* Start `cdrate collect` on spool against brokers; crash (may be NULL) goes to CDR_COLLECT_CRASH.
 * stdout (the --stats JSON) goes to out. Returns the child's pid. */
static pid_t spawn_collect(const char *spool, const char *brokers, const char *crash,
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
        char *argv[] = {bin,         "collect", "--spool",   (char *)spool,
                        "--format",  "csv",     "--brokers", (char *)brokers,
                        "--once",    "--quiet", "--stats",   "--source",
                        "crashtest", "--chunk", CRASH_CHUNK, NULL};
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
static void crash_scenario(const char *const *crashes, int n, int check_not_done)
{
    crash_input();
    cdr_kafka_mock *mk = mock_cluster(8);
    const char *bs = cdr_kafka_mock_bootstraps(mk);
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    for (int i = 0; i < n; i++) {
        int st = wait_child(spawn_collect(spool, bs, crashes[i], out));
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "the collector did not reach crash point %s (status %d)", crashes[i], st);
        snprintf(path, sizeof path, "%s/big.csv", spool);
        if (check_not_done)
            cr_assert(exists(path), "not in done/ before Kafka acknowledged everything");
    }
    int st = wait_child(spawn_collect(spool, bs, NULL, out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3,
              "exit status %d (3: done, with rejected records)", st);
    snprintf(path, sizeof path, "%s/done/big.csv", spool);
    cr_assert(exists(path));
    cdr_coll_stats cs;
    parse_stats(out, "big.csv", &cs);
    assert_stats(&crash_in, &cs);
    readback rb = {.rb_file = "big.csv"};
    read_back(bs, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    cdr_kafka_mock_destroy(mk);
    rm_rf(spool);
    unlink(out);
}

Test(coll_crash, killed_in_the_middle_of_a_transaction, .timeout = 600)
{
    /* records handed to Kafka, transaction open: some may have reached the broker */
    const char *c[] = {"record:70001"};
    crash_scenario(c, 1, 1);
}

Test(coll_crash, killed_before_and_after_the_kafka_commit, .timeout = 600)
{
    /* checkpoint produced, not committed; then committed on Kafka but not in LMDB */
    const char *c[] = {"precommit:2", "commit:3", "commit:1"};
    crash_scenario(c, 3, 1);
}

Test(coll_crash, killed_after_lmdb_and_before_the_move, .timeout = 600)
{
    const char *c[] = {"lmdb:4", "move:1"};
    crash_scenario(c, 2, 1);
}

Test(coll_crash, killed_at_random_moments, .timeout = 900)
{
    crash_input();
    cdr_kafka_mock *mk = mock_cluster(8);
    const char *bs = cdr_kafka_mock_bootstraps(mk);
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    snprintf(path, sizeof path, "%s/done/big.csv", spool);
    /* kill after a growing delay until a run completes by itself (where the kills land does not
     * matter: the result must be the same) */
    srand((unsigned)time(NULL));
    int done = 0, kills = 0;
    for (int round = 0; round < 12 && !done; round++) {
        pid_t pid = spawn_collect(spool, bs, NULL, out);
        struct timespec ts = {0, (long)(200 + rand() % 400 + round * 150) * 1000000L};
        while (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st = wait_child(pid);
        if (WIFEXITED(st)) {
            cr_assert_eq(WEXITSTATUS(st), 3);
            done = 1;
        } else {
            kills++;
        }
    }
    if (!done) {
        int st = wait_child(spawn_collect(spool, bs, NULL, out));
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %d", st);
    }
    cr_assert(exists(path));
    cr_log_info("killed %d times", kills);
    cdr_coll_stats cs;
    parse_stats(out, "big.csv", &cs);
    assert_stats(&crash_in, &cs);
    readback rb = {.rb_file = "big.csv"};
    read_back(bs, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    cdr_kafka_mock_destroy(mk);
    rm_rf(spool);
    unlink(out);
}

Test(coll_crash, a_broker_outage_pauses_and_resumes, .timeout = 600)
{
    crash_input();
    cdr_kafka_mock *mk = mock_cluster(8);
    const char *bs = cdr_kafka_mock_bootstraps(mk);
    char spool[4096], out[8192], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(out, sizeof out, "%s.out", spool);
    deliver(spool, "big.csv", crash_in.in_text.tb_p, crash_in.in_text.tb_len);
    pid_t pid = spawn_collect(spool, bs, NULL, out);
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
    read_back(bs, &rb);
    assert_exactly_once(&crash_in, "k", &rb);
    free_readback(&rb);
    cdr_kafka_mock_destroy(mk);
    rm_rf(spool);
    unlink(out);
}
