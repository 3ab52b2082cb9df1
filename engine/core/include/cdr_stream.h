/* cdr_stream.h - streaming rating on Kafka, exactly once (docs/streaming.md).
 *
 * A consumer group on <prefix>cdr.raw (read_committed, no auto commit, partitions assigned by
 * Kafka with the cooperative-sticky protocol). Each polled batch is rated with a cdr_rater and,
 * in one Kafka transaction, the rated records go to <prefix>cdr.rated, the unratable ones to
 * <prefix>cdr.suspense, the batch's counter changes to the compacted changelog
 * <prefix>cdr.counters and the consumer offsets to the group. A failed transaction is aborted,
 * the consumer rewinds to the committed offsets and the counters are restored from the
 * changelog. A partition's counters are restored from the changelog partition of the same number
 * when the partition is assigned.
 *
 * Also here: the rater's hooks for a counter changelog (defined in rater.c).
 */
#ifndef CDR_STREAM_H
#define CDR_STREAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cdr_rate.h"

/* ---- the rater's counter changelog hooks (rater.c) --------------------------------------------
 * A counter as it travels on the changelog: key (holder, cycle, tag), its new used value and the
 * charging owner it belongs to (which decides its partition). */
typedef struct cdr_counter_change {
    uint64_t cc_holder;
    uint64_t cc_tag;
    uint64_t cc_used;
    uint64_t cc_owner;
    uint32_t cc_cycle;
} cdr_counter_change;

/* Called once per changed counter; a non-zero return is passed back (the rest is not reported). */
typedef int (*cdr_counter_change_fn)(void *arg, const cdr_counter_change *cc);
/* Return non-zero to keep the counters of this charging owner. */
typedef int (*cdr_counter_keep_fn)(void *arg, uint64_t owner);

/* Start (on != 0) or stop remembering which counters rating changes. Off by default, so that
 * offline rating keeps no change list. Call between batches only. */
void cdr_rater_track_changes(cdr_rater *rt, int on);
/* Report each counter changed by rating since the last call (its current value) and forget the
 * changes. Counters changed several times are reported once. Between batches only. Returns 0 or
 * fn's first non-zero value (the changes are forgotten anyway). */
int cdr_rater_counters_changed(cdr_rater *rt, cdr_counter_change_fn fn, void *arg);
/* Set one counter (from a changelog) without marking it changed. Returns 0 or CDR_ENOMEM. */
int cdr_rater_counter_import(cdr_rater *rt, const cdr_counter_change *cc);
/* Keep only the counters whose owner keep() accepts (keep NULL: drop all) and forget the pending
 * changes. Returns 0 or CDR_ENOMEM (the counters are then unchanged). */
int cdr_rater_counters_drop(cdr_rater *rt, cdr_counter_keep_fn keep, void *arg);

/* Changelog encoding of a counter: the key is 20 bytes (holder be64, cycle be32, tag be64, as in
 * the store's counters db), the value 16 bytes (used le64, owner le64). */
#define CDR_COUNTER_KEY_LEN 20
#define CDR_COUNTER_VAL_LEN 16
void cdr_counter_change_encode(const cdr_counter_change *cc, uint8_t key[CDR_COUNTER_KEY_LEN],
                               uint8_t val[CDR_COUNTER_VAL_LEN]);
/* Returns 0 or CDR_FORMAT (wrong lengths). */
int cdr_counter_change_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                              cdr_counter_change *cc);

/* ---- the stream rater ------------------------------------------------------------------------ */

/* Topic names without prefix. */
#define CDR_STREAM_TOPIC_RAW      "cdr.raw"
#define CDR_STREAM_TOPIC_RATED    "cdr.rated"
#define CDR_STREAM_TOPIC_SUSPENSE "cdr.suspense"
#define CDR_STREAM_TOPIC_COUNTERS "cdr.counters"

typedef struct cdr_stream_config {
    const char *sc_brokers;      /* bootstrap servers, required */
    const char *sc_group;        /* consumer group id, required */
    const char *sc_topic_prefix; /* prepended to the four topic names; NULL or "" = none */
    /* transactional.id of the producer; NULL = "<group>.rate-stream". One per running process:
     * a restarted process with the same id fences its predecessor and aborts its open
     * transaction. */
    const char *sc_transactional_id;
    unsigned sc_threads;  /* rating threads, default 1 */
    size_t sc_batch;      /* most records per batch, default 20000 */
    int sc_batch_wait_ms; /* longest wait to fill a batch, default 200 */
    int sc_quiet;         /* no log lines on stderr */
    /* Set to non-zero (e.g. by a signal handler) to stop: the batch in progress is finished and
     * committed, the consumer leaves the group, cdr_stream_run returns 0. May be NULL. */
    volatile sig_atomic_t *sc_stop;
} cdr_stream_config;

typedef struct cdr_stream_stats {
    uint64_t ss_consumed;  /* records committed (each counted once per committed batch) */
    uint64_t ss_rated;     /* of those, to cdr.rated */
    uint64_t ss_suspense;  /* of those, to cdr.suspense (unratable or undecodable) */
    uint64_t ss_batches;   /* committed batches */
    uint64_t ss_aborts;    /* aborted transactions (batches redone) */
    uint64_t ss_counters;  /* counter changes sent to the changelog */
    uint64_t ss_restored;  /* counters read back from the changelog */
    uint64_t ss_misrouted; /* counter changes of an owner outside the assigned partitions */
    uint64_t ss_p99_ns;    /* 99th percentile of the batch latency (poll end to commit) */
    double ss_seconds;     /* wall time of the run */
} cdr_stream_stats;

/* Run the stream rater until *sc_stop becomes non-zero. ps (a reference is taken while running)
 * and tab (borrowed, must outlive the call) are the plans and subscribers; counters come only
 * from the changelog. Creates cdr.rated, cdr.suspense and cdr.counters when missing
 * (cdr.counters compacted, with as many partitions as cdr.raw, which must exist). stats (may be
 * NULL) receives the totals. Returns 0 after a clean stop; CDR_EINVAL (config), CDR_KAFKA
 * (brokers unreachable, timeouts: retriable, restart), CDR_EXISTS (fenced by another instance
 * with the same transactional id), CDR_FORMAT (the changelog does not match cdr.raw), CDR_ENOMEM,
 * with the reason in dg. */
int cdr_stream_run(const cdr_stream_config *sc, cdr_plan_set *ps, const cdr_subtab *tab,
                   cdr_stream_stats *stats, cdr_diag *dg);

#endif
