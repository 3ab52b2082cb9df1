/* suspense.c - cdr.suspense entries, replay positions and the replay (cdr_suspense.h,
 * docs/suspense.md).
 *
 * The replay is a bounded consume-transform-produce loop: a consumer assigned (not subscribed) to
 * the partitions of cdr.suspense from where the selected reasons stand, a transactional producer to
 * cdr.raw. Positions live in one consumer group per reason; each batch's transaction carries the
 * replayed records and, for every selected reason, the offsets of its group
 * (send_offsets_to_transaction, once per group). The consumer never joins a group: the groups are
 * only offset stores, and the transactional id (one per replay group) keeps replays from
 * overlapping.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cdr_kafka.h"
#include "cdr_stream.h"
#include "cdr_suspense.h"

/* ---- reasons and entries -----------------------------------------------------------------------
 */

const char *cdr_suspense_reason_name(int reason)
{
    if (reason == CDR_SUSPENSE_UNDECODABLE)
        return "undecodable";
    if (reason <= CDR_REASON_NONE || reason >= CDR_REASON_COUNT)
        return NULL;
    return cdr_reason_name(reason);
}

int cdr_suspense_reason_parse(const char *s)
{
    for (int r = 1; s && r < CDR_SUSPENSE_REASONS; r++)
        if (!strcmp(s, cdr_suspense_reason_name(r)))
            return r;
    return -1;
}

int cdr_suspense_replayable(int reason)
{
    return reason > CDR_REASON_NONE && reason < CDR_REASON_COUNT && reason != CDR_REASON_BAD_RECORD;
}

void cdr_suspense_decode(const void *val, size_t len, const char *reason_header,
                         cdr_suspense_entry *se)
{
    const int32_t part = se->se_partition;
    const int64_t off = se->se_offset;
    const void *key = se->se_key;
    const size_t klen = se->se_key_len;
    memset(se, 0, sizeof *se);
    se->se_partition = part, se->se_offset = off, se->se_key = key, se->se_key_len = klen;
    se->se_len = len;
    se->se_reason = CDR_SUSPENSE_UNDECODABLE;
    if (reason_header && !strcmp(reason_header, CDR_SUSPENSE_HDR_UNDECODABLE)) {
        snprintf(se->se_why, sizeof se->se_why,
                 "not a CDR wire record: the rater could not decode it");
        return;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_rated_wire_decode(val ? val : (const void *)"", len, &se->se_rec, &se->se_rated,
                              se->se_plan, &dg) != 0) {
        snprintf(se->se_why, sizeof se->se_why, "not a rated record: byte %d: %.200s", dg.dg_column,
                 dg.dg_msg);
        memset(&se->se_rec, 0, sizeof se->se_rec);
        memset(&se->se_rated, 0, sizeof se->se_rated);
        se->se_plan[0] = '\0';
        return;
    }
    if (se->se_rated.rr_reason == CDR_REASON_NONE) {
        snprintf(se->se_why, sizeof se->se_why, "a rated record (reason none) in cdr.suspense");
        return;
    }
    se->se_reason = se->se_rated.rr_reason;
}

/* ---- Kafka helpers -----------------------------------------------------------------------------
 */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int timeout_of(const cdr_suspense_config *sp)
{
    return sp->sp_timeout_ms > 0 ? sp->sp_timeout_ms : CDR_SUSPENSE_TIMEOUT_DEFAULT;
}

static const char *group_of(const cdr_suspense_config *sp)
{
    return sp->sp_group && *sp->sp_group ? sp->sp_group : CDR_SUSPENSE_GROUP_DEFAULT;
}

static void topic_name(const cdr_suspense_config *sp, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", sp->sp_topic_prefix ? sp->sp_topic_prefix : "", name);
}

/* The consumer group that holds the positions of reason r. */
static void reason_group(const cdr_suspense_config *sp, int r, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", group_of(sp), cdr_suspense_reason_name(r));
}

/* Partition count of topic: > 0, 0 when it does not exist, < 0 on error (in dg). */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, cdr_diag *dg)
{
    return cdr_kafka_topic_partitions(rk, topic, timeout_ms, NULL, dg);
}

/* The committed offsets of reason r's group on the nparts partitions of topic into next[0..nparts)
 * (0 where none). Waits while a transaction that commits offsets of the group is not yet
 * complete (require_stable: UNSTABLE_OFFSET_COMMIT). */
static int group_offsets(rd_kafka_t *rk, const char *group, const char *topic, int32_t nparts,
                         int64_t *next, int timeout_ms, cdr_diag *dg)
{
    const int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(nparts);
        for (int32_t p = 0; p < nparts; p++)
            rd_kafka_topic_partition_list_add(tpl, topic, p);
        rd_kafka_ListConsumerGroupOffsets_t *lo = rd_kafka_ListConsumerGroupOffsets_new(group, tpl);
        rd_kafka_topic_partition_list_destroy(tpl);
        char err[256];
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_request_timeout(ao, 10000, err, sizeof err);
        rd_kafka_error_t *ae = rd_kafka_AdminOptions_set_require_stable_offsets(ao, 1);
        if (ae)
            rd_kafka_error_destroy(ae);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_ListConsumerGroupOffsets(rk, &lo, 1, ao, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
        rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        int unstable = 0;
        if (!e) {
            size_t cnt = 0;
            const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
                rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
            const rd_kafka_error_t *ge = cnt == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
            if (cnt != 1)
                e = RD_KAFKA_RESP_ERR__BAD_MSG;
            else if (ge)
                e = rd_kafka_error_code(ge);
            else {
                const rd_kafka_topic_partition_list_t *res =
                    rd_kafka_group_result_partitions(gr[0]);
                for (int32_t p = 0; p < nparts; p++)
                    next[p] = 0;
                for (int i = 0; res && i < res->cnt && !e; i++) {
                    const rd_kafka_topic_partition_t *tp = &res->elems[i];
                    if (tp->err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT)
                        unstable = 1;
                    else if (tp->err)
                        e = tp->err;
                    else if (tp->partition >= 0 && tp->partition < nparts && tp->offset > 0)
                        next[tp->partition] = tp->offset;
                }
            }
        }
        if (e == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT)
            unstable = 1, e = 0;
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_ListConsumerGroupOffsets_destroy(lo);
        if (!e && !unstable)
            return 0;
        if (mono_ms() > deadline) {
            char what[600];
            snprintf(what, sizeof what, "offsets of group %s", group);
            return cdr_kafka_err(dg, e ? e : RD_KAFKA_RESP_ERR__TIMED_OUT, what);
        }
        usleep(unstable ? 50 * 1000 : 200 * 1000);
    }
}

/* Every reason's positions on topic (sq_nparts set) into sq. */
static int positions(const cdr_suspense_config *sp, rd_kafka_t *rk, const char *topic,
                     cdr_suspense_pos *sq, cdr_diag *dg)
{
    sq->sq_next = calloc((size_t)CDR_SUSPENSE_REASONS * (size_t)(sq->sq_nparts ? sq->sq_nparts : 1),
                         sizeof *sq->sq_next);
    if (!sq->sq_next)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (int r = 1; r < CDR_SUSPENSE_REASONS && sq->sq_nparts > 0; r++) {
        char group[512];
        reason_group(sp, r, group, sizeof group);
        int rc = group_offsets(rk, group, topic, sq->sq_nparts,
                               &sq->sq_next[(size_t)r * (size_t)sq->sq_nparts], timeout_of(sp), dg);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_config(const cdr_suspense_config *sp, cdr_diag *dg)
{
    if (!sp || !sp->sp_brokers || !*sp->sp_brokers)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "suspense: no brokers");
    if (sp->sp_reason < 0 || sp->sp_reason >= CDR_SUSPENSE_REASONS)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "suspense: no reason %d", sp->sp_reason);
    if (sp->sp_batch > CDR_SUSPENSE_BATCH_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "suspense: batch over %d",
                            CDR_SUSPENSE_BATCH_MAX);
    if (strlen(group_of(sp)) > 200 || (sp->sp_topic_prefix && strlen(sp->sp_topic_prefix) > 200))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "suspense: group or topic prefix longer than 200");
    return 0;
}

/* ---- positions, for listing --------------------------------------------------------------------
 */

int cdr_suspense_pos_read(const cdr_suspense_config *sp, cdr_suspense_pos *sq, cdr_diag *dg)
{
    memset(sq, 0, sizeof *sq);
    int rc = check_config(sp, dg);
    if (rc)
        return rc;
    const char *const kv[][2] = {{"client.id", "cdrate-suspense"},
                                 {"allow.auto.create.topics", "false"}}; /* only look */
    rd_kafka_conf_t *conf = cdr_kafka_conf(sp->sp_brokers, kv, 2, dg);
    if (!conf)
        return CDR_EINVAL;
    char err[512], topic[300];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    topic_name(sp, CDR_SUSPENSE_TOPIC, topic, sizeof topic);
    int n = topic_partitions(rk, topic, timeout_of(sp), dg);
    if (n < 0)
        rc = dg ? dg->dg_code : CDR_KAFKA;
    else
        sq->sq_nparts = n;
    if (!rc)
        rc = positions(sp, rk, topic, sq, dg);
    rd_kafka_destroy(rk);
    if (rc)
        cdr_suspense_pos_free(sq);
    return rc;
}

void cdr_suspense_pos_free(cdr_suspense_pos *sq)
{
    if (!sq)
        return;
    free(sq->sq_next);
    sq->sq_next = NULL;
    sq->sq_nparts = 0;
}

int cdr_suspense_pos_done(const cdr_suspense_pos *sq, int reason, int32_t partition, int64_t offset)
{
    if (!sq->sq_next || reason < 1 || reason >= CDR_SUSPENSE_REASONS || partition < 0 ||
        partition >= sq->sq_nparts)
        return 0;
    return offset < sq->sq_next[(size_t)reason * (size_t)sq->sq_nparts + (size_t)partition];
}

/* ---- the replay --------------------------------------------------------------------------------
 */

typedef struct replay {
    const cdr_suspense_config *rp_cfg;
    cdr_diag *rp_dg;
    int rp_timeout_ms;
    char rp_susp[300], rp_raw[300];
    rd_kafka_t *rp_prod;
    rd_kafka_t *rp_cons;
    rd_kafka_topic_t *rp_rkt_raw;
    cdr_suspense_pos rp_pos; /* where each reason stands (committed) */
    int64_t *rp_hi;          /* [nparts] high watermark at the start: the end of this replay */
    int64_t *rp_reached;     /* [nparts] offset after the last entry read */
    uint8_t *rp_done;        /* [nparts] read up to rp_hi */
    int rp_left;             /* partitions not done */
    int rp_in_txn;
    size_t rp_batch_n;           /* entries in the open transaction */
    cdr_suspense_stats rp_stats; /* committed */
    cdr_suspense_stats rp_open;  /* of the open transaction */
} replay;

static void say(const replay *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const replay *rp, const char *fmt, ...)
{
    if (rp->rp_cfg->sp_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cdrate suspense: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int stopping(const replay *rp)
{
    return rp->rp_cfg->sp_stop && *rp->rp_cfg->sp_stop;
}

static int selected(const replay *rp, int r)
{
    return rp->rp_cfg->sp_reason == 0 || rp->rp_cfg->sp_reason == r;
}

static int64_t *next_of(replay *rp, int r, int32_t p)
{
    return &rp->rp_pos.sq_next[(size_t)r * (size_t)rp->rp_pos.sq_nparts + (size_t)p];
}

static void mark_done(replay *rp, int32_t p)
{
    if (!rp->rp_done[p]) {
        rp->rp_done[p] = 1;
        rp->rp_left--;
    }
}

static int setup_producer(replay *rp, const char *tid)
{
    const cdr_suspense_config *sp = rp->rp_cfg;
    const char *const kv[][2] = {
        {"client.id", "cdrate-suspense"},
        {"transactional.id", tid},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "zstd"},
        {"partitioner", "murmur2_random"}, /* as the collector: the same key, the same partition */
        {"linger.ms", "10"},
        {"transaction.timeout.ms", "60000"},
        {"allow.auto.create.topics", "false"}, /* asking for a topic must not create it */
    };
    rd_kafka_conf_t *conf = cdr_kafka_conf(sp->sp_brokers, kv, sizeof kv / sizeof kv[0], rp->rp_dg);
    if (!conf)
        return CDR_EINVAL;
    char err[512];
    rp->rp_prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rp->rp_prod) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(rp->rp_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    /* fences an older replay with the same id and aborts its open transaction */
    const int64_t deadline = mono_ms() + rp->rp_timeout_ms;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(rp->rp_prod, 30000);
        if (!e)
            break;
        if (!rd_kafka_error_is_retriable(e) || mono_ms() > deadline || stopping(rp))
            return cdr_kafka_error(rp->rp_dg, e, "init_transactions");
        rd_kafka_error_destroy(e);
    }
    return 0;
}

static int setup_consumer(replay *rp, const int64_t *start)
{
    const cdr_suspense_config *sp = rp->rp_cfg;
    const char *const kv[][2] = {
        {"client.id", "cdrate-suspense"},
        {"group.id", group_of(sp)}, /* assign only: never joins, never commits */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "50"},
        {"allow.auto.create.topics", "false"},
    };
    rd_kafka_conf_t *conf = cdr_kafka_conf(sp->sp_brokers, kv, sizeof kv / sizeof kv[0], rp->rp_dg);
    if (!conf)
        return CDR_EINVAL;
    char err[512];
    rp->rp_cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rp->rp_cons) {
        rd_kafka_conf_destroy(conf);
        return cdr_diag_set(rp->rp_dg, CDR_EINVAL, NULL, 0, 0, "kafka: %s", err);
    }
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(rp->rp_pos.sq_nparts);
    for (int32_t p = 0; p < rp->rp_pos.sq_nparts; p++)
        if (!rp->rp_done[p])
            rd_kafka_topic_partition_list_add(tpl, rp->rp_susp, p)->offset = start[p];
    rd_kafka_resp_err_t e = rd_kafka_assign(rp->rp_cons, tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    return e ? cdr_kafka_err(rp->rp_dg, e, "assign") : 0;
}

/* The end of this replay (high watermarks) and where it starts: the lowest position among the
 * selected reasons. */
static int bounds(replay *rp, int64_t *start)
{
    const int32_t n = rp->rp_pos.sq_nparts;
    for (int32_t p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        const int64_t deadline = mono_ms() + rp->rp_timeout_ms;
        while ((e = rd_kafka_query_watermark_offsets(rp->rp_prod, rp->rp_susp, p, &lo, &hi,
                                                     5000)) != 0) {
            if (mono_ms() > deadline || stopping(rp))
                return cdr_kafka_err(rp->rp_dg, e, "watermarks");
            usleep(100 * 1000);
        }
        int64_t s = INT64_MAX;
        for (int r = 1; r < CDR_SUSPENSE_REASONS; r++)
            if (selected(rp, r) && *next_of(rp, r, p) < s)
                s = *next_of(rp, r, p);
        if (s < lo)
            s = lo; /* older entries are gone (retention) */
        rp->rp_hi[p] = hi;
        rp->rp_reached[p] = s;
        start[p] = s;
        if (s >= hi)
            rp->rp_done[p] = 1;
        else
            rp->rp_left++;
    }
    return 0;
}

static int produce_raw(replay *rp, const void *key, size_t klen, const void *val, size_t vlen)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rp->rp_prod, RD_KAFKA_V_RKT(rp->rp_rkt_raw),
                              RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return cdr_kafka_err(rp->rp_dg, e, rp->rp_raw);
        rd_kafka_poll(rp->rp_prod, 10);
    }
}

static int begin(replay *rp)
{
    if (rp->rp_in_txn)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(rp->rp_prod);
    if (e)
        return cdr_kafka_error(rp->rp_dg, e, "begin_transaction");
    rp->rp_in_txn = 1;
    memset(&rp->rp_open, 0, sizeof rp->rp_open);
    rp->rp_batch_n = 0;
    return 0;
}

static void abort_txn(replay *rp)
{
    if (!rp->rp_in_txn)
        return;
    rd_kafka_error_t *e = rd_kafka_abort_transaction(rp->rp_prod, rp->rp_timeout_ms);
    if (e)
        rd_kafka_error_destroy(e);
    rp->rp_in_txn = 0;
}

/* One message of cdr.suspense. */
static int handle(replay *rp, const rd_kafka_message_t *m)
{
    const int32_t p = m->partition;
    if (p < 0 || p >= rp->rp_pos.sq_nparts || rp->rp_done[p])
        return 0;
    if (m->offset >= rp->rp_hi[p]) { /* arrived after the start: the next replay's */
        mark_done(rp, p);
        return 0;
    }
    int rc = begin(rp);
    if (rc)
        return rc;
    char hbuf[64];
    const char *hdr = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv;
    size_t hl;
    if (!rd_kafka_message_headers(m, &hdrs) &&
        !rd_kafka_header_get_last(hdrs, CDR_SUSPENSE_HDR_REASON, &hv, &hl)) {
        size_t n = hl < sizeof hbuf - 1 ? hl : sizeof hbuf - 1;
        memcpy(hbuf, hv, n);
        hbuf[n] = '\0';
        hdr = hbuf;
    }
    cdr_suspense_entry se = {
        .se_partition = p, .se_offset = m->offset, .se_key = m->key, .se_key_len = m->key_len};
    cdr_suspense_decode(m->payload, m->len, hdr, &se);
    rp->rp_reached[p] = m->offset + 1;
    if (m->offset + 1 >= rp->rp_hi[p])
        mark_done(rp, p);
    rp->rp_batch_n++;
    const int r = se.se_reason;
    if (m->offset < *next_of(rp, r, p))
        return 0; /* handled by an earlier replay of its reason */
    int disp;
    if (!selected(rp, r)) {
        disp = CDR_SUSPENSE_SKIPPED;
        rp->rp_open.sr_skipped++;
    } else if (!cdr_suspense_replayable(r)) {
        disp = CDR_SUSPENSE_NOT_REPLAYABLE;
        rp->rp_open.sr_not_replayable++;
    } else {
        disp = CDR_SUSPENSE_REPLAYED;
        cdr_record *cr = &se.se_rec;
        if (rp->rp_cfg->sp_owners) {
            const cdr_sub *su = cdr_subtab_find(rp->rp_cfg->sp_owners, cr->cr_msisdn);
            cr->cr_owner = su ? su->su_owner : 0;
        }
        uint8_t val[CDR_WIRE_MAX];
        char key[CDR_KAFKA_KEY_MAX];
        const size_t vlen = cdr_wire_encode(cr, val), klen = cdr_kafka_record_key(cr, key);
        if ((rc = produce_raw(rp, key, klen, val, vlen)) != 0)
            return rc;
        rp->rp_open.sr_replayed++;
    }
    rp->rp_open.sr_read++;
    rp->rp_open.sr_by_reason[r]++;
    if (rp->rp_cfg->sp_on_entry && (rc = rp->rp_cfg->sp_on_entry(rp->rp_cfg->sp_arg, &se, disp)))
        cdr_diag_set(rp->rp_dg, rc, NULL, 0, 0,
                     "suspense: stopped by the caller at %s [%d] %" PRId64, rp->rp_susp, (int)p,
                     m->offset);
    return rc;
}

/* Send the new positions of every selected reason and commit the open transaction. */
static int commit(replay *rp)
{
    if (!rp->rp_in_txn)
        return 0;
    const int32_t n = rp->rp_pos.sq_nparts;
    rd_kafka_error_t *e = NULL;
    const char *what = "send_offsets_to_transaction";
    for (int r = 1; r < CDR_SUSPENSE_REASONS && !e; r++) {
        if (!selected(rp, r))
            continue;
        rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(n);
        for (int32_t p = 0; p < n; p++)
            if (rp->rp_reached[p] > *next_of(rp, r, p))
                rd_kafka_topic_partition_list_add(offs, rp->rp_susp, p)->offset = rp->rp_reached[p];
        if (offs->cnt > 0) {
            char group[512];
            reason_group(rp->rp_cfg, r, group, sizeof group);
            rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata_new(group);
            for (int tries = 0; tries < 10; tries++) {
                e = rd_kafka_send_offsets_to_transaction(rp->rp_prod, offs, cgmd,
                                                         rp->rp_timeout_ms);
                if (!e || !rd_kafka_error_is_retriable(e))
                    break;
                rd_kafka_error_destroy(e);
                e = NULL;
            }
            rd_kafka_consumer_group_metadata_destroy(cgmd);
        }
        rd_kafka_topic_partition_list_destroy(offs);
    }
    for (int tries = 0; !e && tries < 10; tries++) {
        what = "commit_transaction";
        e = rd_kafka_commit_transaction(rp->rp_prod, rp->rp_timeout_ms);
        if (!e)
            break;
        if (!rd_kafka_error_is_retriable(e))
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
    }
    if (e) {
        int rc;
        if (rd_kafka_error_txn_requires_abort(e)) {
            rc = cdr_diag_set(rp->rp_dg, CDR_KAFKA, NULL, 0, 0,
                              "kafka: %s: %s: the transaction was aborted, nothing of its %zu "
                              "entries was replayed; run the replay again",
                              what, rd_kafka_error_string(e), rp->rp_batch_n);
            rd_kafka_error_destroy(e);
        } else {
            rc = cdr_kafka_error(rp->rp_dg, e, what);
        }
        abort_txn(rp);
        return rc;
    }
    rp->rp_in_txn = 0;
    for (int r = 1; r < CDR_SUSPENSE_REASONS; r++)
        if (selected(rp, r))
            for (int32_t p = 0; p < n; p++)
                if (rp->rp_reached[p] > *next_of(rp, r, p))
                    *next_of(rp, r, p) = rp->rp_reached[p];
    cdr_suspense_stats *st = &rp->rp_stats;
    st->sr_read += rp->rp_open.sr_read;
    st->sr_replayed += rp->rp_open.sr_replayed;
    st->sr_not_replayable += rp->rp_open.sr_not_replayable;
    st->sr_skipped += rp->rp_open.sr_skipped;
    for (int r = 0; r < CDR_SUSPENSE_REASONS; r++)
        st->sr_by_reason[r] += rp->rp_open.sr_by_reason[r];
    st->sr_batches++;
    rp->rp_batch_n = 0;
    return 0;
}

static int run(replay *rp, const char *tid)
{
    const cdr_suspense_config *sp = rp->rp_cfg;
    int rc = setup_producer(rp, tid);
    if (rc)
        return rc;
    int n = topic_partitions(rp->rp_prod, rp->rp_susp, rp->rp_timeout_ms, rp->rp_dg);
    if (n < 0)
        return rp->rp_dg->dg_code;
    if (n == 0) {
        say(rp, "no topic %s: nothing to replay", rp->rp_susp);
        return 0;
    }
    int nraw = topic_partitions(rp->rp_prod, rp->rp_raw, rp->rp_timeout_ms, rp->rp_dg);
    if (nraw < 0)
        return rp->rp_dg->dg_code;
    if (nraw == 0)
        return cdr_diag_set(rp->rp_dg, CDR_NOTFOUND, NULL, 0, 0, "kafka: no topic %s", rp->rp_raw);
    rp->rp_pos.sq_nparts = n;
    if ((rc = positions(sp, rp->rp_prod, rp->rp_susp, &rp->rp_pos, rp->rp_dg)) != 0)
        return rc;
    rp->rp_hi = calloc((size_t)n, sizeof *rp->rp_hi);
    rp->rp_reached = calloc((size_t)n, sizeof *rp->rp_reached);
    rp->rp_done = calloc((size_t)n, 1);
    int64_t *start = calloc((size_t)n, sizeof *start);
    if (!rp->rp_hi || !rp->rp_reached || !rp->rp_done || !start) {
        free(start);
        return cdr_diag_set(rp->rp_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    rc = bounds(rp, start);
    if (!rc && rp->rp_left > 0)
        rc = setup_consumer(rp, start);
    free(start);
    if (rc || rp->rp_left == 0)
        return rc;
    rp->rp_rkt_raw = rd_kafka_topic_new(rp->rp_prod, rp->rp_raw, NULL);
    const size_t bmax = sp->sp_batch ? sp->sp_batch : CDR_SUSPENSE_BATCH_DEFAULT;
    int64_t progress = mono_ms();
    while (!rc && rp->rp_left > 0) {
        if (stopping(rp)) { /* commit what was read, leave the rest for the next replay */
            say(rp, "stopped: the rest is left for the next replay");
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rp->rp_cons, 100);
        if (!m) {
            if (rp->rp_in_txn)
                rc = commit(rp); /* nothing more at the moment: do not hold the batch open */
            else if (mono_ms() - progress > rp->rp_timeout_ms)
                rc = cdr_diag_set(rp->rp_dg, CDR_KAFKA, NULL, 0, 0,
                                  "kafka: timed out reading %s (%d partitions not at their end)",
                                  rp->rp_susp, rp->rp_left);
            continue;
        }
        progress = mono_ms();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* at the last stable offset: done once it reaches the end seen at the start (an open
             * transaction below it is waited for) */
            if (m->partition >= 0 && m->partition < n && m->offset >= rp->rp_hi[m->partition])
                mark_done(rp, m->partition);
        } else if (m->err) {
            if (rd_kafka_fatal_error(rp->rp_cons, NULL, 0) ||
                (m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                 m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN))
                rc = cdr_diag_set(rp->rp_dg, CDR_KAFKA, NULL, 0, 0, "kafka: %s: %s", rp->rp_susp,
                                  rd_kafka_message_errstr(m));
        } else {
            rc = handle(rp, m);
        }
        rd_kafka_message_destroy(m);
        if (!rc && rp->rp_in_txn && (rp->rp_batch_n >= bmax || rp->rp_left == 0))
            rc = commit(rp);
    }
    if (!rc)
        rc = commit(rp);
    if (rc)
        abort_txn(rp);
    return rc;
}

int cdr_suspense_replay(const cdr_suspense_config *sp, cdr_suspense_stats *stats, cdr_diag *dg)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    int rc = check_config(sp, dg);
    if (rc)
        return rc;
    const int64_t t0 = mono_ms();
    replay rpv = {.rp_cfg = sp, .rp_dg = dg, .rp_timeout_ms = timeout_of(sp)};
    replay *rp = &rpv;
    cdr_diag ldg; /* the functions below write dg->dg_code: never NULL */
    if (!dg)
        rp->rp_dg = &ldg;
    cdr_diag_clear(rp->rp_dg);
    topic_name(sp, CDR_SUSPENSE_TOPIC, rp->rp_susp, sizeof rp->rp_susp);
    topic_name(sp, CDR_STREAM_TOPIC_RAW, rp->rp_raw, sizeof rp->rp_raw);
    char tid[512];
    if (sp->sp_transactional_id && *sp->sp_transactional_id)
        snprintf(tid, sizeof tid, "%s", sp->sp_transactional_id);
    else
        snprintf(tid, sizeof tid, "%s.replay", group_of(sp));
    rc = run(rp, tid);
    if (rp->rp_cons) {
        rd_kafka_consumer_close(rp->rp_cons);
        rd_kafka_destroy(rp->rp_cons);
    }
    if (rp->rp_rkt_raw)
        rd_kafka_topic_destroy(rp->rp_rkt_raw);
    if (rp->rp_prod)
        rd_kafka_destroy(rp->rp_prod);
    rp->rp_stats.sr_seconds = (double)(mono_ms() - t0) / 1e3;
    if (!rc)
        say(rp,
            "read %" PRIu64 ", replayed %" PRIu64 ", not replayable %" PRIu64 ", skipped %" PRIu64
            " in %" PRIu64 " transactions",
            rp->rp_stats.sr_read, rp->rp_stats.sr_replayed, rp->rp_stats.sr_not_replayable,
            rp->rp_stats.sr_skipped, rp->rp_stats.sr_batches);
    if (stats)
        *stats = rp->rp_stats;
    cdr_suspense_pos_free(&rp->rp_pos);
    free(rp->rp_hi);
    free(rp->rp_reached);
    free(rp->rp_done);
    return rc;
}
