/* cdr_archive.h - the archiver: <prefix>cdr.rated from Kafka into the rated-CDR ledger
 * (cdr_ledger.h), exactly once. The design, the options and the operation: docs/ledger.md.
 *
 * A consumer in a group (default "cdrate-archive") on <prefix>cdr.rated, read_committed, no
 * auto commit, cooperative-sticky assignment. The ledger, not the group's committed offset, is
 * the truth: an assigned partition starts at cdr_ledger_next_offset(partition), and every polled
 * batch is appended to the ledger partition by partition (durable, and skipping offsets the ledger
 * already holds) before its offsets are committed to the group, which only lets lag tools see
 * the archiver's position. One archiver per ledger directory (the ledger's lock), and one group
 * per ledger.
 */
#ifndef CDR_ARCHIVE_H
#define CDR_ARCHIVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"

#define CDR_ARCHIVE_GROUP_DEFAULT "cdrate-archive"

struct cdr_ledger_rec;

/* Where the archiver's loop puts what it reads from cdr.rated: the ledger (the default), or
 * another output that keeps its own offsets, such as the live state's projection (cdr_live.h).
 * The output is the truth, as the ledger is: per partition it says where to resume, and it applies
 * a partition's batch durably, skipping offsets it holds already. */
typedef struct cdr_archive_sink {
    const char *sk_what;  /* for messages: "ledger", "live state" */
    const char *sk_where; /* its location, for messages */
    void *sk_arg;
    /* The offset to resume partition p from: the last applied + 1, 0 for the beginning. */
    int64_t (*sk_next_offset)(void *arg, uint32_t partition);
    /* Apply recs[0..n) of partition p (ascending offsets) durably; last is the batch's last
     * offset (after records that were malformed and skipped, when there were some): the next
     * offset becomes last + 1. 0, or an error with dg filled (the sink then refuses more). */
    int (*sk_append)(void *arg, uint32_t partition, const struct cdr_ledger_rec *recs, size_t n,
                     int64_t last, cdr_diag *dg);
    /* Records stored so far, also those of an append that failed half-way. */
    uint64_t (*sk_stored)(void *arg);
} cdr_archive_sink;

typedef struct cdr_archive_config {
    const char *ac_brokers;          /* bootstrap servers, required */
    const char *ac_ledger;           /* ledger directory, required (created when missing) unless
                                        ac_sink is given */
    const cdr_archive_sink *ac_sink; /* NULL: the ledger in ac_ledger */
    const char *ac_name;             /* the command in messages; NULL or "" = "archive" */
    const char *ac_group;            /* consumer group id; NULL or "" = CDR_ARCHIVE_GROUP_DEFAULT */
    const char *ac_topic_prefix;     /* prepended to "cdr.rated"; NULL or "" = none */
    uint64_t ac_segment_bytes; /* the ledger's segment size (lo_segment_bytes); 0 = its default */
    size_t ac_batch;           /* most messages per batch, default 10000, at most 100000 */
    int ac_batch_wait_ms;      /* longest wait to fill a batch, default 200 */
    /* > 0: return 0 once at least one partition is assigned, every assigned partition's
     * position has reached its high watermark and no message arrived for this many ms. */
    int ac_idle_exit_ms;
    int ac_quiet; /* no information lines on stderr (malformed records are still reported) */
    /* Set to non-zero (e.g. by a signal handler) to stop: the batch in progress is finished,
     * the consumer leaves the group, cdr_archive_run returns 0. May be NULL. */
    volatile sig_atomic_t *ac_stop;
} cdr_archive_config;

typedef struct cdr_archive_stats {
    uint64_t as_consumed;   /* messages appended (in a batch): archived + malformed */
    uint64_t as_archived;   /* rated records the ledger stored durably (new ones: a record it
                               held already is not counted again), also those of a batch whose
                               append failed after some of its frames: always what the ledger
                               gained */
    uint64_t as_malformed;  /* values that are not a rated record: skipped, reported on stderr */
    uint64_t as_batches;    /* batches appended */
    int64_t as_lag;         /* at exit: sum over the assigned partitions of high watermark minus
                               position; -1 when unknown (no assignment, broker unreachable) */
    double as_seconds;      /* wall time of the run */
    double as_busy_seconds; /* of which decoding and appending batches (the rest is waiting) */
} cdr_archive_stats;

/* Run the archiver until *ac_stop becomes non-zero, or until idle (ac_idle_exit_ms). The topic
 * must exist (cdrate rate-stream creates it). stats (may be NULL) receives the totals, also on
 * error. Returns 0 after a clean stop; CDR_EINVAL (config), CDR_EXISTS (another writer holds the
 * ledger's lock: retriable once it exits), CDR_NOTFOUND (no such topic), CDR_RANGE (the offset
 * the ledger resumes from is not in the partition: records were deleted before they were
 * archived, or the topic was recreated; nothing is skipped), CDR_KAFKA (brokers unreachable,
 * timeouts: retriable, restart), CDR_KAFKA_FATAL, the ledger's errors (CDR_EIO, CDR_FORMAT,
 * CDR_ZSTD, CDR_ENOMEM: the partitions of the failed batch appended before the failure are
 * durable and counted, the rest is not; a restart recovers and resumes), with the reason in dg. */
int cdr_archive_run(const cdr_archive_config *ac, cdr_archive_stats *stats, cdr_diag *dg);

#endif
