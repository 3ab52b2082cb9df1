/* test_suspense.c - cdr.suspense and its replay (cdr_suspense.h, `cdrate suspense`) against the
 * real Kafka broker of CDR_KAFKA_BROKERS: entries written the way the stream rater writes them
 * (rated records of unratable CDRs, undecodable values with their header) are replayed into
 * cdr.raw exactly once, with the key of their charging owner; a second replay replays nothing; a
 * replay restricted to one reason leaves the others pending; a replay killed with SIGKILL in the
 * middle of a transaction and run again replays each entry exactly once; undecodable entries are
 * counted, listed and stay; bad input gives exact errors. The command's list and replay are run
 * through the cdrate binary next to this test executable.
 *
 * Each test uses its own topic prefix and replay group, so tests and runs share nothing. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_collect.h"
#include "cdr_kafka.h"
#include "cdr_suspense.h"

#define TEST_KAFKA_NAME "test_suspense"
#include "test_kafka.h"

#define TIMEOUT_MS      60000
#define RAW_PARTITIONS  4
#define SUSP_PARTITIONS 3

/* ---- names and topics --------------------------------------------------------------------------
 */

typedef struct names {
    char nm_prefix[128];
    char nm_group[160];
    char nm_susp[256];
    char nm_raw[256];
} names;

static void unique_names(names *nm, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(nm->nm_prefix, sizeof nm->nm_prefix, "test.%s.%ld.%ld.%ld.", what, (long)getpid(),
             (long)ts.tv_sec, ts.tv_nsec);
    snprintf(nm->nm_group, sizeof nm->nm_group, "%sreplay", nm->nm_prefix);
    snprintf(nm->nm_susp, sizeof nm->nm_susp, "%scdr.suspense", nm->nm_prefix);
    snprintf(nm->nm_raw, sizeof nm->nm_raw, "%scdr.raw", nm->nm_prefix);
}

static void create_topics(const names *nm)
{
    test_kafka_create_topic(nm->nm_raw, RAW_PARTITIONS, 0);
    test_kafka_create_topic(nm->nm_susp, SUSP_PARTITIONS, 0);
}

/* ---- suspense entries, as the stream rater writes them ------------------------------------------
 */

typedef enum { K_RECORD, K_UNDECODABLE, K_MALFORMED } entry_kind;

typedef struct entry {
    entry_kind en_kind;
    int en_reason; /* cdr_reason for K_RECORD */
    cdr_record en_rec;
} entry;

/* Entry i of a generated list: mostly unknown subscribers, some of other reasons, some bad_record,
 * undecodable values (with the header) and malformed ones (no header, not a rated record). */
static void make_entry(entry *en, int i, int mix)
{
    memset(en, 0, sizeof *en);
    en->en_kind = K_RECORD;
    if (mix && i % 41 == 40)
        en->en_kind = K_UNDECODABLE;
    else if (mix && i % 97 == 96)
        en->en_kind = K_MALFORMED;
    if (!mix || i % 3 != 2)
        en->en_reason = CDR_REASON_UNKNOWN_SUBSCRIBER;
    else if (i % 9 == 2)
        en->en_reason = CDR_REASON_NO_ZONE;
    else if (i % 9 == 5)
        en->en_reason = CDR_REASON_SUBSCRIBER_INACTIVE;
    else
        en->en_reason = CDR_REASON_BAD_RECORD;
    cdr_record *cr = &en->en_rec;
    snprintf(cr->cr_source, sizeof cr->cr_source, "MSC01");
    snprintf(cr->cr_origin_id, sizeof cr->cr_origin_id, "e-%d", i);
    snprintf(cr->cr_msisdn, sizeof cr->cr_msisdn, "86138%08d", i % 50);
    snprintf(cr->cr_other, sizeof cr->cr_other, "8613912345678");
    cr->cr_start = 1793584800 + i;
    cr->cr_utc_offset = 8 * 3600;
    cr->cr_duration = 1 + (uint32_t)(i % 300);
    cr->cr_service = CDR_SVC_VOICE;
    cr->cr_direction = CDR_DIR_MO;
    cr->cr_cause = 16;
    cr->cr_owner = i % 7 == 0 ? 4242 : 0; /* as the collector keyed it */
}

static int entry_replayable(const entry *en)
{
    return en->en_kind == K_RECORD && en->en_reason != CDR_REASON_BAD_RECORD;
}

static int entry_reason(const entry *en)
{
    return en->en_kind == K_RECORD ? en->en_reason : CDR_SUSPENSE_UNDECODABLE;
}

/* Produce entries[0..n) to the prefixed cdr.suspense (each keyed as its cdr.raw record was). */
static void produce_entries(const names *nm, const entry *ens, size_t n)
{
    static const char *const kv[] = {"enable.idempotence", "true", "linger.ms", "20", NULL};
    rd_kafka_t *p = test_kafka_client(RD_KAFKA_PRODUCER, kv, NULL);
    for (size_t i = 0; i < n; i++) {
        const entry *en = &ens[i];
        uint8_t val[CDR_RATED_WIRE_MAX];
        size_t vlen;
        char key[CDR_KAFKA_KEY_MAX];
        size_t klen = cdr_kafka_record_key(&en->en_rec, key);
        rd_kafka_resp_err_t e;
        if (en->en_kind == K_RECORD) {
            cdr_rated rr = {.rr_reason = (uint8_t)en->en_reason,
                            .rr_service = en->en_rec.cr_service,
                            .rr_zone = -1,
                            .rr_bundle = -1};
            vlen = cdr_rated_wire_encode(&en->en_rec, &rr, NULL, val);
            e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(nm->nm_susp), RD_KAFKA_V_KEY(key, klen),
                                  RD_KAFKA_V_VALUE(val, vlen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        } else {
            vlen = (size_t)snprintf((char *)val, sizeof val, "\xff not a CDR %zu", i);
            if (en->en_kind == K_UNDECODABLE)
                e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(nm->nm_susp),
                                      RD_KAFKA_V_KEY("garbage", 7), RD_KAFKA_V_VALUE(val, vlen),
                                      RD_KAFKA_V_HEADER("cdr.reason", "undecodable", -1),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            else
                e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(nm->nm_susp), RD_KAFKA_V_KEY("junk", 4),
                                      RD_KAFKA_V_VALUE(val, vlen),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
        rd_kafka_poll(p, 0);
    }
    cr_assert_eq(rd_kafka_flush(p, TIMEOUT_MS), 0);
    rd_kafka_destroy(p);
}

/* ---- reading back ------------------------------------------------------------------------------
 */

/* What cdr.raw holds: per entry index (from the origin id "e-<i>"), how often it is there. */
typedef struct raw_seen {
    const entry *rs_ens;
    size_t rs_n;
    int *rs_count;
    size_t rs_total;
    const cdr_subtab *rs_owners; /* the directory the replay used, or NULL */
} raw_seen;

static int on_raw(void *arg, const cdr_kafka_msg *km)
{
    raw_seen *rs = arg;
    cdr_record cr;
    cdr_diag dg;
    cr_assert_eq(cdr_wire_decode(km->km_value, km->km_value_len, &cr, &dg), 0, "%s", dg.dg_msg);
    int i = -1;
    cr_assert_eq(sscanf(cr.cr_origin_id, "e-%d", &i), 1, "%s", cr.cr_origin_id);
    cr_assert(i >= 0 && (size_t)i < rs->rs_n);
    const entry *en = &rs->rs_ens[i];
    cr_assert(entry_replayable(en), "entry %d (reason %d, kind %d) is not replayable", i,
              en->en_reason, en->en_kind);
    /* the original CDR, its owner looked up again when a directory was given */
    cdr_record want = en->en_rec;
    if (rs->rs_owners) {
        const cdr_sub *su = cdr_subtab_find(rs->rs_owners, want.cr_msisdn);
        want.cr_owner = su ? su->su_owner : 0;
    }
    uint8_t a[CDR_WIRE_MAX], b[CDR_WIRE_MAX];
    size_t la = cdr_wire_encode(&cr, a), lb = cdr_wire_encode(&want, b);
    cr_assert(la == lb && !memcmp(a, b, la), "entry %d is not the original CDR", i);
    char key[CDR_KAFKA_KEY_MAX];
    size_t klen = cdr_kafka_record_key(&want, key);
    cr_assert(km->km_key_len == klen && !memcmp(km->km_key, key, klen), "entry %d: key %.*s", i,
              (int)km->km_key_len, (const char *)km->km_key);
    cr_assert_eq(km->km_partition, cdr_kafka_key_partition(key, klen, RAW_PARTITIONS));
    rs->rs_count[i]++;
    rs->rs_total++;
    return 0;
}

/* Read the prefixed cdr.raw as a read_committed consumer sees it once the last replay's commit
 * markers are written (the replay returns when its commit is decided, before they are). */
static void read_raw(const names *nm, raw_seen *rs)
{
    memset(rs->rs_count, 0, rs->rs_n * sizeof *rs->rs_count);
    rs->rs_total = 0;
    test_kafka_wait_readable(nm->nm_raw, TIMEOUT_MS);
    cdr_diag dg;
    cr_assert_eq(cdr_kafka_read_topic(brokers(), nm->nm_raw, NULL, 0, 120000, on_raw, rs, &dg), 0,
                 "%s", dg.dg_msg);
}

static int count_msg(void *arg, const cdr_kafka_msg *km)
{
    (void)km;
    ++*(size_t *)arg;
    return 0;
}

/* Messages of topic as a read_committed consumer sees them once every commit is readable. */
static size_t count_topic(const char *topic)
{
    size_t n = 0;
    test_kafka_wait_readable(topic, TIMEOUT_MS);
    cdr_diag dg;
    cr_assert_eq(cdr_kafka_read_topic(brokers(), topic, NULL, 0, 120000, count_msg, &n, &dg), 0,
                 "%s", dg.dg_msg);
    return n;
}

/* Messages of topic as a read_uncommitted consumer sees them (aborted transactions included). */
static size_t count_uncommitted(const char *topic, int partitions)
{
    static const char *const kv[] = {"group.id",
                                     "test-suspense-uncommitted",
                                     "isolation.level",
                                     "read_uncommitted",
                                     "enable.partition.eof",
                                     "true",
                                     "enable.auto.commit",
                                     "false",
                                     NULL};
    rd_kafka_t *c = test_kafka_client(RD_KAFKA_CONSUMER, kv, NULL);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(tpl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(c, tpl), 0);
    rd_kafka_topic_partition_list_destroy(tpl);
    size_t n = 0;
    int eofs = 0;
    char *eof = calloc((size_t)partitions, 1);
    while (eofs < partitions) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!eof[m->partition])
                eof[m->partition] = 1, eofs++;
        } else if (!m->err) {
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

/* ---- replay helpers ----------------------------------------------------------------------------
 */

typedef struct seen_disp {
    uint64_t sd_n[4]; /* per cdr_suspense_disposition */
    uint64_t sd_by_reason[CDR_SUSPENSE_REASONS][4];
    int64_t sd_kill_at;      /* > 0: SIGKILL at this entry (the child of a crash test) ... */
    const char *sd_kill_raw; /* ... once this cdr.raw holds, uncommitted, ... */
    size_t sd_kill_base;     /* ... this many records more than before the run */
    uint64_t sd_seen;
} seen_disp;

static int on_entry(void *arg, const cdr_suspense_entry *se, int disposition)
{
    seen_disp *sd = arg;
    cr_assert(disposition >= 1 && disposition <= 3);
    cr_assert(se->se_reason >= 1 && se->se_reason < CDR_SUSPENSE_REASONS);
    sd->sd_n[disposition]++;
    sd->sd_by_reason[se->se_reason][disposition]++;
    if (sd->sd_kill_at > 0 && (int64_t)++sd->sd_seen == sd->sd_kill_at) {
        /* every record of this run (each entry is produced before it is reported) is on the
         * broker, the open transaction's too: then die in the middle of that transaction */
        while (count_uncommitted(sd->sd_kill_raw, RAW_PARTITIONS) < sd->sd_kill_base + sd->sd_seen)
            usleep(50 * 1000);
        raise(SIGKILL);
    }
    return 0;
}

static void config(cdr_suspense_config *sp, const names *nm, seen_disp *sd)
{
    memset(sp, 0, sizeof *sp);
    sp->sp_brokers = brokers();
    sp->sp_topic_prefix = nm->nm_prefix;
    sp->sp_group = nm->nm_group;
    sp->sp_quiet = 1;
    sp->sp_on_entry = sd ? on_entry : NULL;
    sp->sp_arg = sd;
}

static void replay_ok(const cdr_suspense_config *sp, cdr_suspense_stats *ss)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_suspense_replay(sp, ss, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ss->sr_read, ss->sr_replayed + ss->sr_not_replayable + ss->sr_skipped);
    uint64_t sum = 0;
    for (int r = 0; r < CDR_SUSPENSE_REASONS; r++)
        sum += ss->sr_by_reason[r];
    cr_assert_eq(sum, ss->sr_read);
}

/* A directory view: the first 20 MSISDNs known, owners alternating between an enterprise pool and
 * the subscriber itself. */
static cdr_subtab *some_owners(void)
{
    cdr_subtab *tab;
    cr_assert_eq(cdr_subtab_create(64, &tab), 0);
    for (int i = 0; i < 20; i++) {
        cdr_sub su = {0};
        snprintf(su.su_msisdn, sizeof su.su_msisdn, "86138%08d", i);
        su.su_id = 1000 + (uint64_t)i;
        su.su_owner = i % 2 ? su.su_id : (1ULL << 63 | 7);
        cr_assert_eq(cdr_subtab_add(tab, &su), 0);
    }
    return tab;
}

/* ---- tests -------------------------------------------------------------------------------------
 */

Test(suspense, replays_each_entry_once_and_leaves_undecodable_ones, .timeout = 300)
{
    names nm;
    unique_names(&nm, "susp1");
    create_topics(&nm);
    enum { N = 600 };
    entry *ens = calloc(N, sizeof *ens);
    uint64_t want_replay = 0, want_not = 0, want_reason[CDR_SUSPENSE_REASONS] = {0};
    for (int i = 0; i < N; i++) {
        make_entry(&ens[i], i, 1);
        if (entry_replayable(&ens[i]))
            want_replay++;
        else
            want_not++;
        want_reason[entry_reason(&ens[i])]++;
    }
    cr_assert(want_not > 20 && want_reason[CDR_SUSPENSE_UNDECODABLE] > 10 &&
              want_reason[CDR_REASON_BAD_RECORD] > 10 && want_reason[CDR_REASON_NO_ZONE] > 10);
    produce_entries(&nm, ens, N);

    cdr_subtab *owners = some_owners();
    seen_disp sd = {0};
    cdr_suspense_config sp;
    config(&sp, &nm, &sd);
    sp.sp_owners = owners;
    sp.sp_batch = 128;
    cdr_suspense_stats ss;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, N);
    cr_assert_eq(ss.sr_replayed, want_replay);
    cr_assert_eq(ss.sr_not_replayable, want_not);
    cr_assert_eq(ss.sr_skipped, 0);
    for (int r = 1; r < CDR_SUSPENSE_REASONS; r++)
        cr_assert_eq(ss.sr_by_reason[r], want_reason[r], "reason %s", cdr_suspense_reason_name(r));
    cr_assert_geq(ss.sr_batches, N / 128);
    cr_assert_eq(sd.sd_n[CDR_SUSPENSE_REPLAYED], want_replay);
    cr_assert_eq(sd.sd_n[CDR_SUSPENSE_NOT_REPLAYABLE], want_not);
    cr_assert_eq(sd.sd_by_reason[CDR_SUSPENSE_UNDECODABLE][CDR_SUSPENSE_NOT_REPLAYABLE],
                 want_reason[CDR_SUSPENSE_UNDECODABLE]);
    cr_assert_eq(sd.sd_by_reason[CDR_REASON_BAD_RECORD][CDR_SUSPENSE_NOT_REPLAYABLE],
                 want_reason[CDR_REASON_BAD_RECORD]);

    /* cdr.raw has exactly the replayable ones, each once, keyed by the owner looked up again */
    int *count = calloc(N, sizeof *count);
    raw_seen rs = {.rs_ens = ens, .rs_n = N, .rs_count = count, .rs_owners = owners};
    read_raw(&nm, &rs);
    cr_assert_eq(rs.rs_total, want_replay);
    for (int i = 0; i < N; i++)
        cr_assert_eq(count[i], entry_replayable(&ens[i]) ? 1 : 0, "entry %d on cdr.raw %d times", i,
                     count[i]);

    /* a second replay has nothing left: every entry was handled */
    memset(&sd, 0, sizeof sd);
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, 0);
    cr_assert_eq(ss.sr_replayed + ss.sr_not_replayable + ss.sr_skipped, 0);
    cr_assert_eq(sd.sd_n[1] + sd.sd_n[2] + sd.sd_n[3], 0);
    read_raw(&nm, &rs);
    cr_assert_eq(rs.rs_total, want_replay);

    /* the entries stay in cdr.suspense, and the positions say every one was handled */
    cr_assert_eq(count_topic(nm.nm_susp), N);
    cdr_suspense_pos sq;
    cdr_diag dg;
    cr_assert_eq(cdr_suspense_pos_read(&sp, &sq, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(sq.sq_nparts, SUSP_PARTITIONS);
    int64_t ends = 0;
    for (int p = 0; p < SUSP_PARTITIONS; p++) {
        for (int r = 1; r < CDR_SUSPENSE_REASONS; r++)
            cr_assert_eq(sq.sq_next[r * SUSP_PARTITIONS + p], sq.sq_next[1 * SUSP_PARTITIONS + p]);
        ends += sq.sq_next[p + SUSP_PARTITIONS];
    }
    cr_assert_eq(ends, N, "the positions sum to %lld", (long long)ends);
    cdr_suspense_pos_free(&sq);
    cdr_subtab_free(owners);
    free(count);
    free(ens);
}

Test(suspense, a_reason_filter_leaves_the_others_pending, .timeout = 300)
{
    names nm;
    unique_names(&nm, "susp2");
    create_topics(&nm);
    enum { N = 450 };
    entry *ens = calloc(N, sizeof *ens);
    uint64_t want_reason[CDR_SUSPENSE_REASONS] = {0};
    for (int i = 0; i < N; i++) {
        make_entry(&ens[i], i, 1);
        want_reason[entry_reason(&ens[i])]++;
    }
    produce_entries(&nm, ens, N);
    int *count = calloc(N, sizeof *count);
    raw_seen rs = {.rs_ens = ens, .rs_n = N, .rs_count = count};
    cdr_suspense_config sp;
    cdr_suspense_stats ss;
    config(&sp, &nm, NULL);
    sp.sp_batch = 100;

    /* 1: no_zone only: the others are read and skipped, not replayed, not passed */
    sp.sp_reason = CDR_REASON_NO_ZONE;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, N);
    cr_assert_eq(ss.sr_replayed, want_reason[CDR_REASON_NO_ZONE]);
    cr_assert_eq(ss.sr_skipped, N - want_reason[CDR_REASON_NO_ZONE]);
    cr_assert_eq(ss.sr_not_replayable, 0);
    read_raw(&nm, &rs);
    cr_assert_eq(rs.rs_total, want_reason[CDR_REASON_NO_ZONE]);
    for (int i = 0; i < N; i++)
        cr_assert_eq(count[i], entry_reason(&ens[i]) == CDR_REASON_NO_ZONE, "entry %d", i);

    /* 2: unknown_subscriber: the no_zone entries are handled already and not read again */
    sp.sp_reason = CDR_REASON_UNKNOWN_SUBSCRIBER;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, N - want_reason[CDR_REASON_NO_ZONE]);
    cr_assert_eq(ss.sr_replayed, want_reason[CDR_REASON_UNKNOWN_SUBSCRIBER]);
    cr_assert_eq(ss.sr_skipped, ss.sr_read - ss.sr_replayed);

    /* 3: every reason: what is left, the not replayable ones and subscriber_inactive */
    sp.sp_reason = 0;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_replayed, want_reason[CDR_REASON_SUBSCRIBER_INACTIVE]);
    cr_assert_eq(ss.sr_not_replayable,
                 want_reason[CDR_REASON_BAD_RECORD] + want_reason[CDR_SUSPENSE_UNDECODABLE]);
    cr_assert_eq(ss.sr_skipped, 0);
    cr_assert_eq(ss.sr_read, ss.sr_replayed + ss.sr_not_replayable);

    /* 4: nothing left for any reason */
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, 0);
    sp.sp_reason = CDR_REASON_NO_ZONE;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, 0);

    read_raw(&nm, &rs);
    for (int i = 0; i < N; i++)
        cr_assert_eq(count[i], entry_replayable(&ens[i]) ? 1 : 0, "entry %d on cdr.raw %d times", i,
                     count[i]);
    free(count);
    free(ens);
}

/* Run a replay in a child that SIGKILLs itself at its kill_at-th entry (mid-transaction). */
static void killed_replay(const names *nm, int64_t kill_at)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        seen_disp sd = {.sd_kill_at = kill_at,
                        .sd_kill_raw = nm->nm_raw,
                        .sd_kill_base = count_uncommitted(nm->nm_raw, RAW_PARTITIONS)};
        cdr_suspense_config sp;
        config(&sp, nm, &sd);
        sp.sp_batch = 200;
        cdr_diag dg;
        cdr_suspense_stats ss;
        int rc = cdr_suspense_replay(&sp, &ss, &dg);
        fprintf(stderr, "the replay was not killed (rc %d: %s)\n", rc, dg.dg_msg);
        _exit(rc ? 1 : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d: not killed at entry %lld", st,
              (long long)kill_at);
}

Test(suspense, a_killed_replay_run_again_replays_each_entry_once, .timeout = 300)
{
    names nm;
    unique_names(&nm, "susp3");
    create_topics(&nm);
    enum { N = 3000 };
    entry *ens = calloc(N, sizeof *ens);
    for (int i = 0; i < N; i++)
        make_entry(&ens[i], i, 0); /* all replayable */
    produce_entries(&nm, ens, N);
    int *count = calloc(N, sizeof *count);
    raw_seen rs = {.rs_ens = ens, .rs_n = N, .rs_count = count};

    killed_replay(&nm, 700);  /* several batches committed, the next one open */
    killed_replay(&nm, 1100); /* again, from where the first one committed */
    /* cdr.raw is not read here: the second run's open transaction holds its end back until the
     * next replay fences it (or the transaction times out), so what a read sees now depends on
     * how far the broker got with the earlier commits' markers. The run again tells how much the
     * killed runs committed: what it does not read again. */
    seen_disp sd = {0};
    cdr_suspense_config sp;
    config(&sp, &nm, &sd);
    cdr_suspense_stats ss;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_replayed, ss.sr_read);
    const size_t committed = N - (size_t)ss.sr_read;
    cr_assert(committed > 0 && committed < N, "%zu committed by the killed runs", committed);
    read_raw(&nm, &rs);
    cr_assert_eq(rs.rs_total, N, "%zu of %d entries on cdr.raw, %zu committed by the killed runs",
                 rs.rs_total, N, committed);
    for (int i = 0; i < N; i++)
        cr_assert_eq(count[i], 1, "entry %d on cdr.raw %d times", i, count[i]);
    /* the killed runs' open transactions reached the broker: read_committed hides them */
    const size_t uncommitted = count_uncommitted(nm.nm_raw, RAW_PARTITIONS);
    cr_assert_gt(uncommitted, N, "no aborted records on cdr.raw (%zu)", uncommitted);
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_read, 0);
    free(count);
    free(ens);
}

static int stop_cb(void *arg, const cdr_suspense_entry *se, int disposition)
{
    (void)arg, (void)se, (void)disposition;
    return CDR_EIO;
}

Test(suspense, an_entry_callback_error_aborts_the_batch, .timeout = 120)
{
    names nm;
    unique_names(&nm, "susp4");
    create_topics(&nm);
    enum { N = 50 };
    entry ens[N];
    for (int i = 0; i < N; i++)
        make_entry(&ens[i], i, 0);
    produce_entries(&nm, ens, N);
    cdr_suspense_config sp;
    config(&sp, &nm, NULL);
    sp.sp_on_entry = stop_cb;
    cdr_suspense_stats ss;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), CDR_EIO);
    cr_assert_eq(ss.sr_read + ss.sr_replayed + ss.sr_batches, 0);
    char want[512];
    snprintf(want, sizeof want, "suspense: stopped by the caller at %s [", nm.nm_susp);
    cr_assert(!strncmp(dg.dg_msg, want, strlen(want)), "%s", dg.dg_msg);
    cr_assert_eq(count_topic(nm.nm_raw), 0);
    /* then a normal replay replays all of them */
    sp.sp_on_entry = NULL;
    replay_ok(&sp, &ss);
    cr_assert_eq(ss.sr_replayed, N);
    cr_assert_eq(count_topic(nm.nm_raw), N);
}

Test(suspense, bad_configuration_and_missing_topics, .timeout = 120)
{
    cdr_suspense_config sp = {0};
    cdr_suspense_stats ss;
    cdr_diag dg;
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "suspense: no brokers");
    sp.sp_brokers = brokers();
    sp.sp_reason = CDR_SUSPENSE_REASONS;
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "suspense: no reason 9");
    sp.sp_reason = 0;
    sp.sp_batch = CDR_SUSPENSE_BATCH_MAX + 1;
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "suspense: batch over 100000");
    sp.sp_batch = 0;

    /* no cdr.suspense: nothing to replay */
    names nm;
    unique_names(&nm, "susp5");
    sp.sp_topic_prefix = nm.nm_prefix;
    sp.sp_group = nm.nm_group;
    sp.sp_quiet = 1;
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ss.sr_read, 0);
    /* a cdr.suspense but no cdr.raw */
    test_kafka_create_topic(nm.nm_susp, 1, 0);
    cr_assert_eq(cdr_suspense_replay(&sp, &ss, &dg), CDR_NOTFOUND);
    char want[512];
    snprintf(want, sizeof want, "kafka: no topic %s", nm.nm_raw);
    cr_assert_str_eq(dg.dg_msg, want);
}

Test(suspense_entry, decoding_and_reasons)
{
    cdr_suspense_entry se = {.se_partition = 2, .se_offset = 17};
    /* what the rater copies with the header */
    cdr_suspense_decode("\xff junk", 6, "undecodable", &se);
    cr_assert_eq(se.se_reason, CDR_SUSPENSE_UNDECODABLE);
    cr_assert_eq(se.se_partition, 2);
    cr_assert_eq(se.se_offset, 17);
    cr_assert_eq(se.se_len, 6);
    cr_assert_str_eq(se.se_why, "not a CDR wire record: the rater could not decode it");
    /* no header, not a rated record */
    cdr_suspense_decode("\xff junk", 6, NULL, &se);
    cr_assert_eq(se.se_reason, CDR_SUSPENSE_UNDECODABLE);
    cr_assert_str_eq(se.se_why,
                     "not a rated record: byte 1: unknown rated wire format version 255");
    cdr_suspense_decode(NULL, 0, NULL, &se);
    cr_assert_str_eq(se.se_why, "not a rated record: byte 1: empty rated record");
    /* a rated record, truncated; with reason none; whole */
    entry en;
    make_entry(&en, 5, 0);
    cdr_rated rr = {.rr_reason = CDR_REASON_NO_RATE, .rr_zone = -1, .rr_bundle = -1};
    uint8_t val[CDR_RATED_WIRE_MAX];
    size_t n = cdr_rated_wire_encode(&en.en_rec, &rr, NULL, val);
    cdr_suspense_decode(val, n - 1, NULL, &se);
    cr_assert_eq(se.se_reason, CDR_SUSPENSE_UNDECODABLE);
    cr_assert(!strncmp(se.se_why, "not a rated record: byte ", 25), "%s", se.se_why);
    cdr_suspense_decode(val, n, "something else", &se);
    cr_assert_eq(se.se_reason, CDR_REASON_NO_RATE);
    cr_assert_str_eq(se.se_rec.cr_origin_id, "e-5");
    cr_assert_str_eq(se.se_why, "");
    rr.rr_reason = CDR_REASON_NONE;
    n = cdr_rated_wire_encode(&en.en_rec, &rr, "cn-payg", val);
    cdr_suspense_decode(val, n, NULL, &se);
    cr_assert_eq(se.se_reason, CDR_SUSPENSE_UNDECODABLE);
    cr_assert_str_eq(se.se_why, "a rated record (reason none) in cdr.suspense");

    /* names */
    cr_assert_str_eq(cdr_suspense_reason_name(CDR_REASON_UNKNOWN_SUBSCRIBER), "unknown_subscriber");
    cr_assert_str_eq(cdr_suspense_reason_name(CDR_SUSPENSE_UNDECODABLE), "undecodable");
    cr_assert_null(cdr_suspense_reason_name(0));
    cr_assert_null(cdr_suspense_reason_name(CDR_SUSPENSE_REASONS));
    for (int r = 1; r < CDR_SUSPENSE_REASONS; r++)
        cr_assert_eq(cdr_suspense_reason_parse(cdr_suspense_reason_name(r)), r);
    cr_assert_eq(cdr_suspense_reason_parse("rated"), -1);
    cr_assert_eq(cdr_suspense_reason_parse(""), -1);
    cr_assert_eq(cdr_suspense_reason_parse(NULL), -1);
    cr_assert(cdr_suspense_replayable(CDR_REASON_UNKNOWN_SUBSCRIBER));
    cr_assert(cdr_suspense_replayable(CDR_REASON_TOO_MANY_PARTS));
    cr_assert(!cdr_suspense_replayable(CDR_REASON_BAD_RECORD));
    cr_assert(!cdr_suspense_replayable(CDR_SUSPENSE_UNDECODABLE));
    cr_assert(!cdr_suspense_replayable(CDR_REASON_NONE));
}

/* ---- the command -------------------------------------------------------------------------------
 */

/* Run cdrate with args; its stdout into out (a file), its exit status returned. */
static int run_cdrate(char *const *args, const char *out, const char *err)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/cdrate", CDR_BINARY_DIR);
    cr_assert(access(bin, X_OK) == 0, "%s must be built first", bin);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(126);
        char *argv[32] = {bin};
        for (int i = 0; args[i] && i < 30; i++)
            argv[i + 1] = args[i];
        execv(bin, argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    cr_assert(WIFEXITED(st), "cdrate died (status %d)", st);
    return WEXITSTATUS(st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

Test(suspense_cli, list_then_replay, .timeout = 300)
{
    names nm;
    unique_names(&nm, "susp6");
    create_topics(&nm);
    enum { N = 120 };
    entry ens[N];
    uint64_t want_reason[CDR_SUSPENSE_REASONS] = {0}, want_replay = 0;
    for (int i = 0; i < N; i++) {
        make_entry(&ens[i], i, 1);
        want_reason[entry_reason(&ens[i])]++;
        want_replay += entry_replayable(&ens[i]);
    }
    produce_entries(&nm, ens, N);
    char out[256], err[256];
    snprintf(out, sizeof out, "/tmp/test_suspense.%ld.out", (long)getpid());
    snprintf(err, sizeof err, "/tmp/test_suspense.%ld.err", (long)getpid());
    char *list[] = {"suspense",   "list",    "--brokers", (char *)brokers(), "--topic-prefix",
                    nm.nm_prefix, "--group", nm.nm_group, "--json",          NULL};
    cr_assert_eq(run_cdrate(list, out, err), 0, "%s", slurp(err));
    const char *s = slurp(out);
    cr_assert_eq(count_lines(s, "\"state\":\"pending\""), N, "%s", s);
    cr_assert_eq(count_lines(s, "\"reason\":\"undecodable\""),
                 (int)want_reason[CDR_SUSPENSE_UNDECODABLE]);
    char want[256];
    snprintf(want, sizeof want, "{\"total\":\"all\",\"entries\":%d,\"pending\":%d}\n", N, N);
    cr_assert(strstr(s, want), "%s", s);
    snprintf(want, sizeof want,
             "{\"total\":\"no_zone\",\"entries\":%" PRIu64 ",\"pending\":%" PRIu64 "}",
             want_reason[CDR_REASON_NO_ZONE], want_reason[CDR_REASON_NO_ZONE]);
    cr_assert(strstr(s, want), "%s", s);

    char *replay[] = {"suspense",   "replay",  "--brokers", (char *)brokers(), "--topic-prefix",
                      nm.nm_prefix, "--group", nm.nm_group, "--stats",         NULL};
    cr_assert_eq(run_cdrate(replay, out, err), 3, "exit 3: some were not replayable; %s",
                 slurp(err));
    s = slurp(out);
    snprintf(want, sizeof want,
             "{\"read\":%d,\"replayed\":%" PRIu64 ",\"not_replayable\":%" PRIu64 ",\"skipped\":0,",
             N, want_replay, N - want_replay);
    cr_assert(!strncmp(s, want, strlen(want)), "%s", s);
    s = slurp(err);
    cr_assert_eq(count_lines(s, ": undecodable, left in place ("),
                 (int)want_reason[CDR_SUSPENSE_UNDECODABLE], "%s", s);
    cr_assert_eq(count_lines(s, ": bad_record, left in place ("),
                 (int)want_reason[CDR_REASON_BAD_RECORD], "%s", s);
    cr_assert_eq(count_topic(nm.nm_raw), want_replay);

    /* the list now says what was done */
    char *list_text[] = {"suspense",        "list",           "--brokers",
                         (char *)brokers(), "--topic-prefix", nm.nm_prefix,
                         "--group",         nm.nm_group,      NULL};
    cr_assert_eq(run_cdrate(list_text, out, err), 0, "%s", slurp(err));
    s = slurp(out);
    cr_assert_eq(count_lines(s, "\treplayed\n"), (int)want_replay, "%s", s);
    cr_assert_eq(count_lines(s, "\tpassed"), (int)(N - want_replay), "%s", s);
    cr_assert_eq(count_lines(s, "\tpending\n") + count_lines(s, "\tpending\t"), 0, "%s", s);
    snprintf(want, sizeof want, "total\tall\t%d\tpending 0\n", N);
    cr_assert(strstr(s, want), "%s", s);

    /* again: nothing to do, exit 0 */
    cr_assert_eq(run_cdrate(replay, out, err), 0, "%s", slurp(err));
    cr_assert(!strncmp(slurp(out), "{\"read\":0,\"replayed\":0,", 23));

    /* usage errors */
    char *bad[] = {"suspense", "replay", "--brokers", (char *)brokers(), "--reason", "nope", NULL};
    cr_assert_eq(run_cdrate(bad, out, err), 2);
    cr_assert(strstr(slurp(err),
                     "cdrate suspense replay: --reason: unknown reason 'nope' (one of: "
                     "unknown_subscriber, subscriber_inactive, no_plan, no_zone, no_rate, "
                     "too_many_parts, bad_record, undecodable)\n"),
              "%s", slurp(err));
    unlink(out);
    unlink(err);
}
