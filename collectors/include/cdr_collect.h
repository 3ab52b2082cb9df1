/* cdr_collect.h - the collector's front ends: de-duplication (LMDB), the Kafka side (publisher,
 * the embedded mock cluster, a topic reader) and the spool-directory / stream driver behind
 * `cdrate collect`.
 *
 * Decoding, validation and normalisation are in cdr_coll.h; this header adds what turns decoded
 * items into records on Kafka exactly once:
 *   - cdr_dedup_*: identities (cr_source, cr_origin_id) and whole-file content hashes kept in
 *     named databases of a cdr_store, pruned after a window of event time;
 *   - cdr_kafka_*: librdkafka's in-process mock cluster (`--brokers embedded`) and a
 *     read_committed reader used by recovery and by tests;
 *   - cdr_collect_*: the collector itself (spool directory, live stream, per-file accounting,
 *     transactional publishing with checkpoints, crash recovery, records keyed by the charging
 *     owner from the directory's rating view).
 * The design, the LMDB layout and the Kafka topics are documented in docs/collectors.md.
 */
#ifndef CDR_COLLECT_H
#define CDR_COLLECT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_coll.h"
#include "cdr_error.h"
#include "cdr_rate.h"
#include "cdr_record.h"
#include "cdr_store.h"

/* ---- content hash ---------------------------------------------------------------------------- */

#define CDR_SHA256_LEN 32

/* SHA-256 (FIPS 180-4) of len bytes at data into out. Uses the x86 SHA extensions when the CPU
 * has them, portable C otherwise (same result). Thread-safe. */
void cdr_coll_sha256(const void *data, size_t len, uint8_t out[CDR_SHA256_LEN]);
/* The portable C path alone (the tests check that both paths agree). */
void cdr_coll_sha256_portable(const void *data, size_t len, uint8_t out[CDR_SHA256_LEN]);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated); returns out. */
char *cdr_coll_hex(const uint8_t *in, size_t len, char *out);

/* ---- de-duplication -------------------------------------------------------------------------- */

/* Named databases the collector keeps in the store (see docs/collectors.md for their layout). */
#define CDR_DB_COLL_DEDUP "coll_dedup" /* source \0 origin_id -> first occurrence */
#define CDR_DB_COLL_FILES "coll_files" /* SHA-256 of a file's content -> cdr_dedup_file */
#define CDR_DB_COLL_META  "coll_meta"  /* file ids, sweep state, checkpoints, duplicate reports */

#define CDR_DEDUP_WINDOW_DEFAULT (7 * 86400) /* seconds of event time */

typedef struct cdr_dedup cdr_dedup;

/* Where an identity was first seen. */
typedef struct cdr_dedup_orig {
    uint32_t do_file_id; /* the file (or stream) it came in: cdr_dedup_file_name() */
    uint64_t do_index;   /* its 0-based record index there */
    uint64_t do_line;    /* its 1-based line there (text formats), 0 for binary inputs */
    cdr_time do_start;   /* its event start (UTC seconds) */
} cdr_dedup_orig;

/* One record to check (cdr_dedup_check_batch). */
typedef struct cdr_dedup_item {
    const cdr_record *di_rec; /* in: the record (its cr_source, cr_origin_id, cr_start) */
    uint64_t di_index;        /* in: record index in the input */
    uint64_t di_line;         /* in: line in the input, 0 for binary */
    int di_dup;               /* out: 1 = a duplicate (di_orig says of what), 0 = new */
    cdr_dedup_orig di_orig;   /* out, when di_dup */
} cdr_dedup_item;

/* Open the de-duplication tables in st (creating them). window: seconds of event time an identity
 * is kept after the newest event seen (0 = CDR_DEDUP_WINDOW_DEFAULT). st must outlive the handle,
 * which is for one thread. Returns 0, CDR_EINVAL, CDR_ENOMEM or CDR_STORE/CDR_LIMIT (LMDB text in
 * dg). Close with cdr_dedup_close. */
int cdr_dedup_open(cdr_store *st, int64_t window, cdr_dedup **out, cdr_diag *dg);
/* Aborts an open transaction. Accepts NULL. The store is not closed. */
void cdr_dedup_close(cdr_dedup *dd);

/* The handle works inside one LMDB write transaction at a time. cdr_dedup_begin starts it (a
 * no-op when one is open; every function below begins one when needed), cdr_dedup_commit prunes
 * and makes everything since the begin durable, cdr_dedup_abort forgets it. A failed function
 * leaves the transaction open: the caller aborts it. Return 0 or CDR_STORE/CDR_LIMIT/CDR_ENOMEM
 * (retriable per cdr_err_retriable). */
int cdr_dedup_begin(cdr_dedup *dd, cdr_diag *dg);
int cdr_dedup_commit(cdr_dedup *dd, cdr_diag *dg);
void cdr_dedup_abort(cdr_dedup *dd);
/* The open write transaction (NULL when none), for a caller that keeps its own state in the same
 * transaction (the collector's checkpoints). Valid until commit or abort. */
MDB_txn *cdr_dedup_txn(cdr_dedup *dd);

/* A hold defers durability: from cdr_dedup_hold_begin on, the transactions above are nested in
 * one outer LMDB transaction (cdr_dedup_commit merges into it, cdr_dedup_abort forgets the nested
 * one only), and nothing reaches the store until cdr_dedup_hold_commit makes all of it durable at
 * once; cdr_dedup_hold_abort (and cdr_dedup_close) forget all of it. The store's write lock is
 * held meanwhile (another writer of the same store waits). hold_begin: 0 (also when holding
 * already), CDR_EINVAL with a transaction open, or a store error; hold_commit: 0 or a store error
 * (the hold is then forgotten). */
int cdr_dedup_hold_begin(cdr_dedup *dd, cdr_diag *dg);
int cdr_dedup_hold_commit(cdr_dedup *dd, cdr_diag *dg);
void cdr_dedup_hold_abort(cdr_dedup *dd);
int cdr_dedup_holding(const cdr_dedup *dd);

/* Check n records of the input file_id in order, as if one at a time: the first occurrence of an
 * identity is recorded (file_id, index, line, event start) and is new; any later occurrence, in
 * this batch, an earlier one or another input, is a duplicate of the first. Exact (full
 * identities, no probabilistic filter). The batch is sorted internally so that LMDB is walked in
 * key order. Returns 0 or a store error (the transaction is then unusable: abort it). */
int cdr_dedup_check_batch(cdr_dedup *dd, uint32_t file_id, cdr_dedup_item *items, size_t n,
                          cdr_diag *dg);
/* The same for one record. Returns 0 (new, recorded), 1 (duplicate: *orig filled when non-NULL)
 * or a store error. */
int cdr_dedup_check(cdr_dedup *dd, const cdr_record *cr, uint32_t file_id, uint64_t index,
                    uint64_t line, cdr_dedup_orig *orig, cdr_diag *dg);

/* Prune identities whose event start is more than the window before the newest event start ever
 * recorded, visiting at most max entries from where the last visit stopped (wrapping around;
 * UINT64_MAX = the whole table). cdr_dedup_commit calls it with twice the number of identities
 * recorded in the transaction, so that the table stays within about twice the window's records.
 * *pruned (may be NULL) receives the number removed. */
int cdr_dedup_prune(cdr_dedup *dd, uint64_t max, uint64_t *pruned, cdr_diag *dg);

/* Number of identities held (an O(1) LMDB statistic, inside the open transaction if any). */
uint64_t cdr_dedup_count(cdr_dedup *dd);
/* Newest event start recorded so far (0 when none). */
cdr_time cdr_dedup_newest(cdr_dedup *dd);

/* ---- files (whole-input identity) ------------------------------------------------------------ */

typedef enum cdr_dedup_file_state {
    CDR_FILE_INPROGRESS = 1, /* being published: df_next records are committed */
    CDR_FILE_DONE = 2,       /* every record committed to Kafka; not yet moved to done/ */
    CDR_FILE_MOVED = 3       /* moved to done/: a file with the same content is refused */
} cdr_dedup_file_state;

typedef enum cdr_dedup_file_kind {
    CDR_INPUT_FILE = 1,  /* a spool file (its content hash is the key) */
    CDR_INPUT_STREAM = 2 /* a live stream (--stdin): a unique key per run, never refused */
} cdr_dedup_file_kind;

/* What the store knows about one input, keyed by the SHA-256 of its content. */
typedef struct cdr_dedup_file {
    uint8_t df_hash[CDR_SHA256_LEN];
    uint32_t df_id;          /* small id used in identity entries (cdr_dedup_orig.do_file_id) */
    uint8_t df_state;        /* cdr_dedup_file_state */
    uint8_t df_kind;         /* cdr_dedup_file_kind */
    char df_name[256];       /* file name (without directory) when first seen */
    int64_t df_first_seen;   /* wall clock (UTC seconds) of registration */
    int64_t df_finished;     /* wall clock when it became CDR_FILE_DONE, else 0 */
    cdr_time df_max_start;   /* newest event start among its records (for pruning) */
    uint64_t df_size;        /* bytes */
    uint64_t df_next;        /* records (items) committed: the index to resume from */
    cdr_coll_stats df_stats; /* accounting of those df_next items */
} cdr_dedup_file;

/* Look up a file by content hash. Returns 0 (df filled), CDR_NOTFOUND or a store error. */
int cdr_dedup_file_get(cdr_dedup *dd, const uint8_t hash[CDR_SHA256_LEN], cdr_dedup_file *df,
                       cdr_diag *dg);
/* Register a new input (state CDR_FILE_INPROGRESS, a fresh df_id, df_first_seen = now) in the
 * open transaction; df is filled. Returns 0, CDR_EXISTS when the hash is known, or a store
 * error. */
int cdr_dedup_file_add(cdr_dedup *dd, const uint8_t hash[CDR_SHA256_LEN], const char *name,
                       int kind, uint64_t size, cdr_dedup_file *df, cdr_diag *dg);
/* Store df (keyed by df_hash) in the open transaction. */
int cdr_dedup_file_put(cdr_dedup *dd, const cdr_dedup_file *df, cdr_diag *dg);
/* Name of the input with id file_id into buf ("?" when unknown, e.g. pruned); returns buf. */
const char *cdr_dedup_file_name(cdr_dedup *dd, uint32_t file_id, char *buf, size_t bufsize);
/* Remove moved files whose newest record is older than the window (their identities are gone
 * too): a file with the same content is then accepted again. *pruned may be NULL. */
int cdr_dedup_prune_files(cdr_dedup *dd, uint64_t *pruned, cdr_diag *dg);

/* ---- Kafka: topics, the embedded cluster, reading back --------------------------------------- */

/* Topic names without the prefix (cdr_collect_config.cl_topic_prefix). */
#define CDR_TOPIC_RAW         "cdr.raw"                 /* clean records, key = charging owner */
#define CDR_TOPIC_REJECTED    "cdr.rejected"            /* original bytes + file/position/reason */
#define CDR_TOPIC_CHECKPOINTS "cdr.collect.checkpoints" /* compacted: key = transactional id */

/* Headers of a cdr.rejected message (values are text). */
#define CDR_HDR_FILE   "cdr.file"   /* input name */
#define CDR_HDR_SHA256 "cdr.sha256" /* content hash of the input (hex) */
#define CDR_HDR_INDEX  "cdr.index"  /* 0-based record index in the input */
#define CDR_HDR_LINE   "cdr.line"   /* 1-based line (text formats) */
#define CDR_HDR_OFFSET "cdr.offset" /* byte offset of the record in the input */
#define CDR_HDR_LENGTH "cdr.length" /* its length (the value is cut at 900 KiB) */
#define CDR_HDR_REASON "cdr.reason" /* "file:line:column: why" */
#define CDR_HDR_SOURCE "cdr.source" /* the collector's --source */

/* librdkafka's in-process mock cluster (rd_kafka_mock_cluster_new): real TCP listeners on
 * 127.0.0.1 that any client, in this or another process, reaches through its bootstrap servers.
 * It lives as long as the handle. Limits of the mock (librdkafka 2.0): docs/collectors.md. */
typedef struct cdr_kafka_mock cdr_kafka_mock;
/* Start a mock cluster of brokers brokers (1..16). Returns 0, CDR_EINVAL or CDR_KAFKA. */
int cdr_kafka_mock_create(int brokers, cdr_kafka_mock **out, cdr_diag *dg);
/* "127.0.0.1:port,..."; owned by the handle. */
const char *cdr_kafka_mock_bootstraps(const cdr_kafka_mock *mk);
/* Create topic with partitions partitions (replication 3 or the broker count). */
int cdr_kafka_mock_topic_create(cdr_kafka_mock *mk, const char *topic, int partitions,
                                cdr_diag *dg);
/* Take broker id (1-based) down or up again (its listener refuses connections meanwhile). */
int cdr_kafka_mock_broker_set(cdr_kafka_mock *mk, int id, int up, cdr_diag *dg);
/* Accepts NULL. */
void cdr_kafka_mock_destroy(cdr_kafka_mock *mk);

/* One message read back. Pointers are valid during the callback only. */
typedef struct cdr_kafka_msg {
    const char *km_topic;
    int32_t km_partition;
    int64_t km_offset;
    const uint8_t *km_key;
    size_t km_key_len;
    const uint8_t *km_value;
    size_t km_value_len;
    const void *km_opaque; /* librdkafka message, for cdr_kafka_msg_header */
} cdr_kafka_msg;

/* Value of header name as a NUL-terminated copy in buf (truncated to bufsize); NULL when the
 * message has no such header. */
const char *cdr_kafka_msg_header(const cdr_kafka_msg *km, const char *name, char *buf,
                                 size_t bufsize);

/* Return non-zero to stop reading (that value is returned by cdr_kafka_read_topic). */
typedef int (*cdr_kafka_read_fn)(void *arg, const cdr_kafka_msg *km);

/* Read every partition of topic from from[p] (p < nfrom and from[p] >= 0; otherwise from the
 * beginning) to its end as a read_committed consumer sees it (the last stable offset), calling fn
 * for each message in partition order. A topic that does not exist reads as empty. timeout_ms
 * bounds the whole read (0 = 60 s). Returns 0, fn's value, or CDR_KAFKA (retriable: brokers
 * unreachable, timeout). */
int cdr_kafka_read_topic(const char *brokers, const char *topic, const int64_t *from, int nfrom,
                         int timeout_ms, cdr_kafka_read_fn fn, void *arg, cdr_diag *dg);

/* ---- the collector --------------------------------------------------------------------------- */

#define CDR_COLLECT_PREFIX_MAX 128 /* a topic prefix, including the NUL */

typedef struct cdr_collect_config {
    cdr_coll_config cl_coll; /* decoder configuration; cl_coll.cc_source names the collector */
    int cl_format;           /* cdr_coll_format */
    char cl_spool[4096];     /* spool directory (may be empty for cdr_collect_stream) */
    char cl_store[4096];     /* LMDB store; empty = <spool>/.store */
    char cl_brokers[1024];   /* "host:port,..." or "embedded" */
    /* Prepended to the three topic names and to the transactional id ("" = none): collectors
     * with different prefixes share nothing on the brokers. Letters, digits, '.', '_', '-'. */
    char cl_topic_prefix[CDR_COLLECT_PREFIX_MAX];
    /* The rating view of the directory (cdr_dir_rating_view), or NULL. When set, each record's
     * cr_owner is set from it before publishing: the subscriber's su_owner (the enterprise for a
     * member that draws on an enterprise pool), 0 for an MSISDN the directory does not know (the
     * record is then keyed by its MSISDN and the rater puts it into suspense). When NULL, cr_owner
     * stays as decoded. Borrowed: read-only, must outlive the collector. */
    const cdr_subtab *cl_owners;
    int64_t cl_dedup_window;   /* seconds of event time (0 = CDR_DEDUP_WINDOW_DEFAULT) */
    uint32_t cl_chunk;         /* records per Kafka transaction (default 50000) */
    int cl_partitions;         /* embedded: partitions of cdr.raw (default 6) */
    int cl_connect_timeout_ms; /* give up reaching the brokers at start after this (60000) */
    /* Complete files only: a spool file is taken once its size and modification time have not
     * changed for this many milliseconds (its mtime is that old, or the collector saw them
     * unchanged that long); 0 = at once. In watch mode a file renamed into the spool (inotify
     * IN_MOVED_TO, the documented convention) is taken at once. Default 5000. */
    int cl_settle_ms;
    /* Hold (cdr_collect_spool --once only, e.g. the pipeline): a file whose records are all on
     * Kafka stays in the spool and its de-duplication state (content hash, identities, reports)
     * stays in a pending LMDB transaction until cdr_collect_commit moves it to done/ and makes
     * that state durable, or cdr_collect_rollback (or cdr_collect_close) forgets it: the file is
     * then taken again by the next run. Reported as CDR_COLLECT_HELD. For a Kafka cluster whose
     * data goes with the run (the pipeline's embedded one): on a cluster that outlives a rolled
     * back run, the next collector's recovery would complete the last held file from its
     * checkpoint on Kafka and publish the other held files again. */
    int cl_hold;
    /* Test hook (may be NULL): called with the path of a spool file just read, before the
     * collector checks that it did not change meanwhile. */
    void (*cl_read_hook)(void *arg, const char *path);
    void *cl_read_hook_arg;
    int cl_quiet; /* no progress or warnings on cl_log, errors only */
    FILE *cl_log; /* summaries, warnings (default stderr) */
} cdr_collect_config;

#define CDR_COLLECT_SETTLE_DEFAULT_MS 5000

/* Defaults: cdr_coll_config_defaults, csv, empty spool/store/brokers, 7-day window, 50000 records
 * per transaction, 6 partitions, 60 s, a settle time of 5 s, no hold, stderr. */
void cdr_collect_config_defaults(cdr_collect_config *cl);

/* Check a topic prefix (cl_topic_prefix): at most CDR_COLLECT_PREFIX_MAX - 1 letters, digits,
 * '.', '_' and '-' (what Kafka allows in topic names). Returns 0 or CDR_EINVAL with the reason in
 * dg ("topic prefix 'a/b' has '/' at 2 (letters, digits, '.', '_' and '-' only)"). */
int cdr_collect_prefix_check(const char *prefix, cdr_diag *dg);

typedef enum cdr_collect_status {
    CDR_COLLECT_DONE = 0, /* every record accounted for, committed; moved to done/ */
    CDR_COLLECT_REFUSED,  /* the same content was ingested before; moved to failed/ */
    CDR_COLLECT_FAILED,   /* could not be read; moved to failed/ with NAME.error */
    CDR_COLLECT_HELD      /* cl_hold: every record on Kafka; left in the spool until commit */
} cdr_collect_status;

/* What happened to one input. */
typedef struct cdr_collect_report {
    const char *fr_name;     /* file name in the spool, or the stream name */
    int fr_status;           /* cdr_collect_status */
    cdr_coll_stats fr_stats; /* the whole input's accounting, across restarts */
    const char *fr_moved_to; /* path it was moved to (NULL for a stream) */
    char fr_msg[1024];       /* why, for REFUSED and FAILED */
} cdr_collect_report;

typedef void (*cdr_collect_report_fn)(void *arg, const cdr_collect_report *fr);

typedef struct cdr_collect cdr_collect;

/* Open the store and the de-duplication tables, start the embedded cluster when cl_brokers is
 * "embedded", connect the transactional producer (transactional.id
 * "<cl_topic_prefix>cdrate-collect.<source>", which fences an older instance on a real broker) and
 * recover: the last checkpoint in LMDB is reconciled with the last one on Kafka (see
 * docs/collectors.md). report (may be NULL) is called once per input finished. Returns 0,
 * CDR_EINVAL (config, a bad topic prefix), CDR_NOTFOUND (time zone), CDR_KAFKA
 * (brokers unreachable within cl_connect_timeout_ms: retriable), CDR_EXISTS (fenced by another
 * instance with the same source), CDR_STORE, CDR_EIO. */
int cdr_collect_open(const cdr_collect_config *cl, cdr_collect_report_fn report, void *arg,
                     cdr_collect **out, cdr_diag *dg);
/* Accepts NULL. Stops the embedded cluster (its data is lost). */
void cdr_collect_close(cdr_collect *co);

/* The bootstrap servers in use (the embedded cluster's when "embedded"). */
const char *cdr_collect_brokers(const cdr_collect *co);

/* Process the spool directory: first the input that was in progress when the last run stopped,
 * then the files present (names not starting with '.' nor ending in ".tmp"), in name order; each
 * goes to done/ once Kafka acknowledged every one of its records, or to failed/. A file is taken
 * only when complete (cl_settle_ms); one that changes while it is read (size or mtime differ
 * before and after) is put back untouched and read again once it has settled; one that changed
 * after it was read stays in the spool and is read again (its records published already are then
 * duplicates). once != 0: take the files present at the start, wait for those not settled yet
 * (bounded by their settling; *stop ends the wait) and return; files that arrive meanwhile are
 * left for the next run. Otherwise keep watching the spool (inotify) until *stop becomes non-zero
 * (checked between transactions: a file interrupted that way resumes on the next run). Returns 0,
 * or an error that stops the collector (Kafka fatal, store, I/O on the spool itself); a bad file
 * is not an error. */
int cdr_collect_spool(cdr_collect *co, int once, volatile sig_atomic_t *stop, cdr_diag *dg);

/* cl_hold: files held (published, not yet committed). */
size_t cdr_collect_held(const cdr_collect *co);
/* cl_hold: make the held files' de-duplication state durable (one LMDB commit), then move each to
 * done/ (with its NAME.duplicates) and report it (CDR_COLLECT_DONE with fr_moved_to; the totals
 * counted it when it was held). A file changed since it was read stays in the spool (read again
 * by the next run). Returns 0; CDR_COLLECT_UNMOVED when the state is committed but a file could
 * not be moved (the first reason in dg): it stays in the spool marked done, and the next run (any
 * collector on the spool) completes the move without publishing it again; or the store's error
 * when nothing was committed (every held file stays in the spool, unknown to the store, as after
 * cdr_collect_rollback). Afterwards the handle is good for cdr_collect_close only. */
#define CDR_COLLECT_UNMOVED 1
int cdr_collect_commit(cdr_collect *co, cdr_diag *dg);
/* cl_hold: forget the held files' de-duplication state; the files stay in the spool, where the
 * next run takes them again. Afterwards the handle is good for cdr_collect_close only. */
void cdr_collect_rollback(cdr_collect *co);

/* Publish a live stream of text lines read from fd (e.g. stdin) until end of input or *stop: a
 * transaction per cl_chunk records or after 200 ms without input. name is used for positions and
 * reports; duplicates are reported on cl_log. Not for binary formats (CDR_EINVAL). Exactly once
 * within the stream's life; a crash loses the unread input and the stream cannot be resumed
 * (docs/collectors.md). */
int cdr_collect_stream(cdr_collect *co, int fd, const char *name, volatile sig_atomic_t *stop,
                       cdr_diag *dg);

/* Totals over every input finished since open. files/refused/failed may be NULL. */
void cdr_collect_totals(const cdr_collect *co, cdr_coll_stats *cs, uint64_t *files,
                        uint64_t *refused, uint64_t *failed);

/* Test hook, read at cdr_collect_open from the environment variable CDR_COLLECT_CRASH:
 * "record:N" (after the N-th record handed to Kafka), "precommit:K" (checkpoint of the K-th
 * transaction produced, not committed), "commit:K" (K-th transaction committed on Kafka, not in
 * LMDB), "lmdb:K" (K-th transaction committed in both), "move:K" (the K-th file is DONE, not
 * moved): the process sends itself SIGKILL there. Counts are per process. */
#define CDR_COLLECT_CRASH_ENV "CDR_COLLECT_CRASH"

#endif
