/* cdr_suspense.h - cdr.suspense: what its entries hold, where replays stand, and the replay
 * (docs/suspense.md).
 *
 * The stream rater (cdr_stream.h) writes to <prefix>cdr.suspense every record it could not rate,
 * as cdr_rated_wire_encode (the original CDR and rr_reason), and every cdr.raw value that is no
 * CDR wire record, copied as it came with the header "cdr.reason: undecodable". After the cause is
 * fixed (the directory or the plans), cdr_suspense_replay puts the replayable entries back on
 * <prefix>cdr.raw, exactly once, so that the raters rate them again.
 *
 * Replay positions are kept per reason: consumer group "<group>.<reason>" (for example
 * "cdrate-suspense.unknown_subscriber") holds, per partition of cdr.suspense, the offset below
 * which every entry of that reason has been handled. A replay restricted to one reason therefore
 * neither replays nor passes over the entries of the others: a later replay of another reason
 * still finds them. An entry is handled once: replayed, or counted as not replayable.
 */
#ifndef CDR_SUSPENSE_H
#define CDR_SUSPENSE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_rate.h"
#include "cdr_record.h"
#include "cdr_stream.h"

#define CDR_SUSPENSE_TOPIC           CDR_STREAM_TOPIC_SUSPENSE /* without the prefix */
#define CDR_SUSPENSE_HDR_REASON      "cdr.reason"  /* header of an undecodable entry ... */
#define CDR_SUSPENSE_HDR_UNDECODABLE "undecodable" /* ... with this value */
#define CDR_SUSPENSE_GROUP_DEFAULT   "cdrate-suspense"
#define CDR_SUSPENSE_BATCH_DEFAULT   1000 /* entries per replay transaction */
#define CDR_SUSPENSE_BATCH_MAX       100000
#define CDR_SUSPENSE_TIMEOUT_DEFAULT 120000 /* ms */

/* ---- reasons -----------------------------------------------------------------------------------
 * Why an entry is in suspense: a cdr_reason (1 .. CDR_REASON_COUNT-1, the rr_reason of the rated
 * record) or CDR_SUSPENSE_UNDECODABLE (a value that is not a rated record: the raw bytes the rater
 * could not decode, or anything else that does not decode as a rated record of an unratable CDR).
 */
#define CDR_SUSPENSE_UNDECODABLE CDR_REASON_COUNT
#define CDR_SUSPENSE_REASONS     (CDR_REASON_COUNT + 1) /* array size; index 0 is unused */

/* "unknown_subscriber", ..., "bad_record", "undecodable"; NULL for 0 and out-of-range values. */
const char *cdr_suspense_reason_name(int reason);
/* The reason named s (as above), or -1. */
int cdr_suspense_reason_parse(const char *s);
/* Non-zero when a change of the directory or the plans can make an entry of this reason ratable:
 * every cdr_reason but bad_record (the record itself fails validation), not undecodable. */
int cdr_suspense_replayable(int reason);

/* ---- entries -----------------------------------------------------------------------------------
 */

typedef struct cdr_suspense_entry {
    int32_t se_partition;
    int64_t se_offset;
    const void *se_key; /* the message key (may be NULL); valid while the entry is reported */
    size_t se_key_len;
    size_t se_len;     /* length of the value */
    int se_reason;     /* see above */
    cdr_record se_rec; /* the CDR, unless se_reason == CDR_SUSPENSE_UNDECODABLE */
    cdr_rated se_rated;
    char se_plan[CDR_NAME_MAX]; /* plan id of the rated record (empty for unratable ones) */
    char se_why[256];           /* undecodable: why ("the rater could not decode it", ...) */
} cdr_suspense_entry;

/* Decode the value (val, len) of a cdr.suspense message whose "cdr.reason" header is
 * reason_header (NULL when it has none) into se (se_partition, se_offset and se_key are left to
 * the caller). Never fails: whatever is not the rated record of an unratable CDR is
 * CDR_SUSPENSE_UNDECODABLE, with the reason in se_why (the decoder's message and byte position).
 */
void cdr_suspense_decode(const void *val, size_t len, const char *reason_header,
                         cdr_suspense_entry *se);

/* ---- the replay --------------------------------------------------------------------------------
 */

/* What happened to an entry a replay read. */
typedef enum cdr_suspense_disposition {
    CDR_SUSPENSE_REPLAYED = 1,   /* produced to cdr.raw */
    CDR_SUSPENSE_NOT_REPLAYABLE, /* undecodable or bad_record: counted, left in cdr.suspense */
    CDR_SUSPENSE_SKIPPED         /* of another reason than the one replayed: left pending */
} cdr_suspense_disposition;

/* Called for every entry a replay reads, as it is handled, before the transaction that carries it
 * commits (if that transaction fails, the replay returns an error and the entry comes again in the
 * next replay). se is valid during the call only. A non-zero return aborts the open transaction
 * (nothing of its batch is replayed) and the replay returns that value. */
typedef int (*cdr_suspense_entry_fn)(void *arg, const cdr_suspense_entry *se, int disposition);

typedef struct cdr_suspense_config {
    const char *sp_brokers;      /* bootstrap servers, required */
    const char *sp_topic_prefix; /* prepended to cdr.suspense and cdr.raw; NULL or "" = none */
    const char *sp_group;        /* NULL or "" = CDR_SUSPENSE_GROUP_DEFAULT; see the top */
    /* transactional.id of the replay's producer; NULL or "" = "<group>.replay". Two replays with
     * the same id cannot run at once: the second fences the first (which stops with CDR_EXISTS,
     * its open transaction aborted). Keep the default so that replays of a group never overlap. */
    const char *sp_transactional_id;
    int sp_reason; /* 0 = every reason; else replay only entries of this reason (see the top) */
    /* The rating view of the directory: the owner of each replayed record is looked up again
     * (su_owner; 0 when the MSISDN is unknown), as the collector does. NULL: cr_owner as it is in
     * the entry. Borrowed, read-only. */
    const cdr_subtab *sp_owners;
    size_t sp_batch;   /* entries per transaction, 0 = CDR_SUSPENSE_BATCH_DEFAULT */
    int sp_timeout_ms; /* give up on the brokers after this long, 0 = CDR_SUSPENSE_TIMEOUT_DEFAULT
                        */
    int sp_quiet;      /* no progress lines on stderr */
    /* Set to non-zero (a signal handler) to stop after the batch in progress is committed. */
    volatile sig_atomic_t *sp_stop;
    cdr_suspense_entry_fn sp_on_entry; /* may be NULL */
    void *sp_arg;
} cdr_suspense_config;

/* Every entry read is counted once: sr_read = sr_replayed + sr_not_replayable + sr_skipped.
 * Entries that an earlier replay handled are not read again and not counted. */
typedef struct cdr_suspense_stats {
    uint64_t sr_read;
    uint64_t sr_replayed;
    uint64_t sr_not_replayable;
    uint64_t sr_skipped;
    uint64_t sr_by_reason[CDR_SUSPENSE_REASONS]; /* sr_read per reason */
    uint64_t sr_batches;                         /* committed transactions */
    double sr_seconds;
} cdr_suspense_stats;

/* Replay <prefix>cdr.suspense into <prefix>cdr.raw, from where the replays of the selected
 * reason(s) stand up to the high watermarks seen at the start, then return (entries that arrive
 * meanwhile are left for the next replay). Per batch of sp_batch entries, one Kafka transaction
 * carries the replayed records (the original CDR, cdr_wire_encode, keyed with
 * cdr_kafka_record_key after the owner lookup) and the new positions of the selected reasons:
 * each entry is handled exactly once, also when the process is killed and the replay run again.
 * stats (may be NULL) receives what was committed. A missing cdr.suspense is empty.
 * Returns 0 (done, or stopped by sp_stop), CDR_EINVAL (configuration), CDR_NOTFOUND (no cdr.raw),
 * CDR_KAFKA (brokers unreachable, a timeout, an aborted transaction: retriable, run it again),
 * CDR_KAFKA_FATAL, CDR_EXISTS (fenced by another replay), CDR_ENOMEM, or sp_on_entry's value;
 * the reason in dg. */
int cdr_suspense_replay(const cdr_suspense_config *sp, cdr_suspense_stats *stats, cdr_diag *dg);

/* ---- positions (for listing) -------------------------------------------------------------------
 */

typedef struct cdr_suspense_pos {
    int32_t sq_nparts; /* partitions of cdr.suspense; 0 when the topic does not exist */
    /* [reason * sq_nparts + partition]: the offset below which the replays have handled every
     * entry of that reason (0 when none has run) */
    int64_t *sq_next;
} cdr_suspense_pos;

/* Read the positions of every reason (sp_brokers, sp_topic_prefix, sp_group and sp_timeout_ms
 * are used). Returns 0, CDR_EINVAL, CDR_KAFKA, CDR_ENOMEM. Free with cdr_suspense_pos_free. */
int cdr_suspense_pos_read(const cdr_suspense_config *sp, cdr_suspense_pos *sq, cdr_diag *dg);
void cdr_suspense_pos_free(cdr_suspense_pos *sq);
/* Non-zero when the entry at (partition, offset) of that reason has been handled by a replay. */
int cdr_suspense_pos_done(const cdr_suspense_pos *sq, int reason, int32_t partition,
                          int64_t offset);

#endif
