/* publish.h - internal to collectors/: the transactional Kafka producer of the collector.
 *
 * One producer per collector, transactional.id "[prefix]cdrate-collect.<source>" (idempotent,
 * acks=all, zstd, murmur2 partitioner as Java clients use). Records go to [prefix]cdr.raw keyed by
 * the charging owner, rejected inputs to [prefix]cdr.rejected with their original bytes and
 * position headers, the collector's checkpoints to [prefix]cdr.collect.checkpoints. librdkafka
 * errors are translated by cdr_kafka.h. */
#ifndef CDR_PUBLISH_H
#define CDR_PUBLISH_H

#include <signal.h>
#include <stdint.h>

#include "cdr_collect.h"

enum { PUB_RAW = 0, PUB_REJECTED, PUB_CHECKPOINTS, PUB_NTOPICS };

#define PUB_MAX_PARTITIONS 4096
#define PUB_TOPIC_MAX      256 /* a topic name with its prefix, including the NUL */

/* A commit or flush that could not complete and was aborted: redo from the last checkpoint. */
#define PUB_REDO 1

typedef struct coll_pub coll_pub;

typedef struct coll_pub_config {
    const char *pc_brokers;          /* bootstrap servers */
    const char *pc_transactional_id; /* "[prefix]cdrate-collect.<source>" */
    const char *pc_topic_prefix;     /* prepended to the three topic names; NULL = none */
    int pc_connect_timeout_ms;       /* init_transactions and metadata at start */
    int pc_quiet;                    /* librdkafka warnings not logged */
    FILE *pc_log;
    volatile sig_atomic_t *pc_stop; /* may be NULL: waits give up when it becomes non-zero */
} coll_pub_config;

/* Where the rejected item came from (headers of the cdr.rejected message). */
typedef struct coll_pub_reject {
    const char *rj_file;
    const char *rj_sha256_hex;
    const char *rj_source;
    uint64_t rj_index, rj_line, rj_offset;
    const char *rj_reason;
} coll_pub_reject;

/* Create the producer, wait for the brokers (init_transactions, which fences an older instance
 * with the same transactional id and aborts its open transaction) and learn the partition counts
 * of the three topics. Returns 0, CDR_EINVAL, CDR_KAFKA (unreachable: retriable), CDR_EXISTS
 * (fenced), CDR_VERSION (brokers without transactions). */
int coll_pub_create(const coll_pub_config *pc, coll_pub **out, cdr_diag *dg);
void coll_pub_destroy(coll_pub *pb);

/* Partitions of topic t (PUB_RAW, ...); 0 when unknown. */
int coll_pub_partitions(const coll_pub *pb, int t);
/* The name of topic t (PUB_RAW, ...), with the prefix; owned by pb. */
const char *coll_pub_topic(const coll_pub *pb, int t);

/* Begin a transaction when none is open. */
int coll_pub_begin(coll_pub *pb, cdr_diag *dg);
int coll_pub_in_txn(const coll_pub *pb);
/* Produce one record to cdr.raw (key: cr_owner in decimal when non-zero, else cr_msisdn; value:
 * cdr_wire_encode). Waits (polling) while the local queue is full. */
int coll_pub_record(coll_pub *pb, const cdr_record *cr, cdr_diag *dg);
/* Produce a rejected input's original bytes to cdr.rejected (key: the file name). */
int coll_pub_rejected(coll_pub *pb, const void *bytes, size_t len, const coll_pub_reject *rj,
                      cdr_diag *dg);
/* Produce a checkpoint (key = transactional id). */
int coll_pub_checkpoint(coll_pub *pb, const void *val, size_t len, cdr_diag *dg);
/* Wait until every message produced so far is acknowledged. Returns 0, PUB_REDO (a message
 * failed: the transaction was aborted) or an error (fatal, or *pc_stop). */
int coll_pub_flush(coll_pub *pb, cdr_diag *dg);
/* Commit the open transaction (retrying retriable errors). Returns 0, PUB_REDO (aborted) or an
 * error. */
int coll_pub_commit(coll_pub *pb, cdr_diag *dg);
/* Abort the open transaction, if any. Returns 0 or an error (fatal). */
int coll_pub_abort(coll_pub *pb, cdr_diag *dg);

/* Per partition of cdr.raw (t = PUB_RAW) or cdr.rejected: an offset at or below which nothing
 * produced after the last coll_pub_set_scan/flush lies: max(acknowledged offset + 1, the value
 * set). Array of coll_pub_partitions(t) entries, owned by pb. */
const int64_t *coll_pub_scan_offsets(const coll_pub *pb, int t);
void coll_pub_set_scan_offsets(coll_pub *pb, int t, const int64_t *off, int n);
/* High watermarks of topic t into off (n entries), for a first checkpoint. */
int coll_pub_high_watermarks(coll_pub *pb, int t, int64_t *off, int n, cdr_diag *dg);

#endif
