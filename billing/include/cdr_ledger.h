/* cdr_ledger.h - the rated-CDR ledger: append-only, checksummed zstd segments per billing cycle
 * and Kafka partition, with the Kafka offsets kept in the segments (exactly-once archiving) and a
 * per-segment index by MSISDN. The layout, durability and recovery rules: docs/ledger.md.
 *
 * One writer per ledger directory (an exclusive lock on DIR/LOCK); any number of read-only
 * handles may read while it writes. A handle is not thread-safe: use one per thread.
 */
#ifndef CDR_LEDGER_H
#define CDR_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_rate.h"

/* One record of the ledger: a rated record (its cycle, rr_cycle, picks the cycle folder) and the
 * Kafka offset it had in its partition of cdr.rated. */
typedef struct cdr_ledger_rec {
    int64_t lr_offset; /* Kafka offset in the partition, >= 0 */
    cdr_record lr_cdr;
    cdr_rated lr_rated;
    char lr_plan[CDR_NAME_MAX]; /* plan id, "" when unknown */
} cdr_ledger_rec;

typedef struct cdr_ledger_opts {
    uint64_t lo_segment_bytes; /* roll a segment once it holds this many bytes; 0 = 64 MiB */
    int lo_level;              /* zstd compression level; 0 = 3 */
    int lo_readonly;           /* read only: no lock, no recovery; a torn tail is ignored */
} cdr_ledger_opts;

typedef struct cdr_ledger cdr_ledger;

/* Open (creating it if needed, unless read-only) the ledger in directory dir. A writer takes the
 * lock, scans the tail of the last segment of every cycle and partition, truncates a torn tail
 * (an incomplete last frame or one whose checksum fails) and learns each partition's next offset.
 * opts may be NULL (defaults). Errors: CDR_EINVAL, CDR_EIO (with the file), CDR_EXISTS (another
 * writer holds the lock; retriable once it exits), CDR_FORMAT (damage that is not a torn tail:
 * more than one frame's worth of unreadable bytes at the end of a segment, with file and byte
 * offset; nothing is truncated then), CDR_ENOMEM. *out is NULL on error. */
int cdr_ledger_open(const char *dir, const cdr_ledger_opts *opts, cdr_ledger **out, cdr_diag *dg);

/* Close the handle (a writer's data is already durable); accepts NULL. */
void cdr_ledger_close(cdr_ledger *lg);

/* Durably append one batch read from Kafka partition `partition`: the n records (offsets strictly
 * increasing, each > the offset of any record of the same cycle and partition already stored:
 * records at or below it were stored before a crash and are skipped, so re-delivering a batch
 * stores nothing twice) and last_offset, the offset of the batch's last Kafka message (>= the
 * last record's offset; messages that are not records, such as suspense entries, advance it too).
 * Records are grouped by cycle into one frame per cycle (and per 8 MiB); every frame is written
 * and fdatasync'ed; the frame written last marks the batch as complete. When this returns 0,
 * cdr_ledger_next_offset(partition) is last_offset + 1, also after a crash and reopen.
 * n may be 0 (a batch with no records): then the offset is recorded only if the partition already
 * has a segment, else it is remembered in memory only (re-reading those messages is harmless).
 * Errors: CDR_EINVAL (bad arguments, read-only handle; nothing written), CDR_EIO, CDR_ZSTD,
 * CDR_ENOMEM. After a CDR_EIO / CDR_ZSTD / CDR_ENOMEM the handle refuses further appends
 * (CDR_EINVAL): close and reopen it, which recovers and tells where to resume. */
int cdr_ledger_append(cdr_ledger *lg, uint32_t partition, const cdr_ledger_rec *recs, size_t n,
                      int64_t last_offset, cdr_diag *dg);

/* The Kafka offset to resume partition `partition` from: last_offset + 1 of the last complete
 * batch, or 0 when the ledger holds nothing of that partition. */
int64_t cdr_ledger_next_offset(const cdr_ledger *lg, uint32_t partition);

/* Bytes dropped as a torn tail when the handle was opened (0 after a clean shutdown). */
uint64_t cdr_ledger_dropped_bytes(const cdr_ledger *lg);

/* The bytes of cycle `cycle` that were a torn tail when the handle was opened: after the last
 * complete frame of a partition's active segment (a writer truncated them; a read-only handle
 * reads up to them). Either an archiver was writing that cycle at that moment, or the last frame
 * is damaged. path (may be NULL) gets the first such segment file. The bill run refuses a cycle
 * with any (it must read all of it). */
uint64_t cdr_ledger_torn_bytes(const cdr_ledger *lg, uint32_t cycle, char *path, size_t n);
/* Records this handle has stored durably: those of every frame it wrote and synced, also of a
 * cdr_ledger_append that failed after some of its frames (those stay in the ledger, and a
 * re-delivery skips them). The archiver's count, so that it always equals what the ledger holds
 * of its work. */
uint64_t cdr_ledger_appended(const cdr_ledger *lg);

/* Remove every record of the ledger in directory dir: its cycle folders (YYYYMM/pNNNN/ with the
 * segments and indexes) and its LOCK file, after taking the writer's lock. dir itself and other
 * names in it stay. Returns 0 (also when dir does not exist), CDR_EXISTS (a writer holds the
 * lock), CDR_EIO (with the path; e.g. a folder that holds something else), CDR_EINVAL. For a
 * ledger whose content is written again from scratch (`cdrate pipeline` after a failed run). */
int cdr_ledger_clear(const char *dir, cdr_diag *dg);

/* Test hook, read by a writer's cdr_ledger_open from the environment variable
 * CDR_LEDGER_FAIL_AFTER=BYTES: once the handle has written BYTES bytes, a write fails as on a full
 * disk (ENOSPC), after writing the part of the frame that fits (a torn tail). */
#define CDR_LEDGER_FAIL_ENV "CDR_LEDGER_FAIL_AFTER"
/* Test hook CDR_LEDGER_HOLD_MS=MS: the first frame a writer's handle appends is written in two
 * halves, with "cdrate ledger: test hook: holding a half-written frame" on stderr and a pause of
 * MS ms between them, so that a test can kill the writer while its segment ends in a torn frame
 * (tests/integration/chaos_archiver.sh). */
#define CDR_LEDGER_HOLD_ENV "CDR_LEDGER_HOLD_MS"

/* Called for every record found; rec (and everything in it) is valid during the call only.
 * Return 0 to go on, anything else to stop (that value is then returned by the scan). */
typedef int (*cdr_ledger_fn)(const cdr_ledger_rec *rec, uint32_t partition, void *ctx);

/* Every record of billing cycle `cycle` (YYYYMM), in (partition, offset) order. Every frame's
 * checksum is verified: damage gives CDR_FORMAT with the segment file in dg_file and the byte
 * offset of the frame in the message (records before it have been delivered). Records appended
 * by this handle are seen; a read-only handle sees what existed when it was opened. */
int cdr_ledger_scan(cdr_ledger *lg, uint32_t cycle, cdr_ledger_fn fn, void *ctx, cdr_diag *dg);
/* The same for share `share` of `nshares` (0 <= share < nshares) of the cycle's partitions: those
 * whose rank among the cycle's partitions, ascending, is share modulo nshares. nshares threads,
 * each with its own handle, read a cycle in parallel this way (the bill run). */
int cdr_ledger_scan_share(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                          cdr_ledger_fn fn, void *ctx, cdr_diag *dg);

/* A record as cdr_ledger_scan_view gives it: its Kafka offset, its bytes in the rated wire format
 * (lv_wire, lv_len) and the fields the bill run reads (cdr_rated_view), pointing into those bytes.
 * Everything is valid during the call only. */
typedef struct cdr_ledger_view {
    int64_t lv_offset;
    const uint8_t *lv_wire;
    size_t lv_len;
    cdr_rated_view lv_rv;
} cdr_ledger_view;

/* Called with n (1 to CDR_LEDGER_VIEW_BATCH) consecutive records of one frame, so that the
 * caller can look ahead (prefetch what the next records need). Return 0 to go on, anything else
 * to stop (the scan returns that value). */
#define CDR_LEDGER_VIEW_BATCH 64
typedef int (*cdr_ledger_view_fn)(const cdr_ledger_view *recs, size_t n, uint32_t partition,
                                  void *ctx);

/* cdr_ledger_scan_share for a reader that needs only the fields of cdr_rated_view (the bill run):
 * the same records in the same order, the same checks (frame checksums, framing, every record as
 * cdr_rated_wire_decode checks it, with its diagnostic for a record it refuses), without decoding
 * each record into a cdr_ledger_rec. A caller that needs more of a record decodes lv_wire.
 * Records of a frame are delivered only once its checksum is verified; at a failure, the records
 * before it have been delivered. */
int cdr_ledger_scan_view(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                         cdr_ledger_view_fn fn, void *ctx, cdr_diag *dg);

/* cdr_ledger_scan_view shared by segment rather than by partition: the k-th segment of the cycle
 * (partitions in order, each one's segments in order) goes to share k modulo nshares, so that
 * threads also share a cycle held in one partition (an enterprise and its pool are rated by one
 * shard, so its records are in one partition). A share sees each of its partitions' records in
 * offset order, but one partition's records may be spread over several shares. */
int cdr_ledger_scan_view_segments(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                                  cdr_ledger_view_fn fn, void *ctx, cdr_diag *dg);

/* The records of one served MSISDN in cycle `cycle`, in (partition, offset) order, without a
 * full scan: sealed segments are searched through their index (rebuilt when missing or stale),
 * only the active segment of each partition is read in full. Errors as for cdr_ledger_scan. */
int cdr_ledger_subscriber(cdr_ledger *lg, uint32_t cycle, const char *msisdn, cdr_ledger_fn fn,
                          void *ctx, cdr_diag *dg);

/* The billing cycles (YYYYMM) the ledger in directory dir holds, ascending, into *out (malloc'd:
 * free it; NULL when none). Returns their count, or -1 with the reason in dg (CDR_EIO: the
 * directory cannot be read; CDR_ENOMEM). Needs no handle, takes no lock. */
int cdr_ledger_cycles(const char *dir, uint32_t **out, cdr_diag *dg);

/* The records of one currency in a cycle's totals. */
#define CDR_LEDGER_MAX_CURRENCIES 16
typedef struct cdr_ledger_money {
    char lm_currency[4]; /* ISO 4217; "" = unknown (a rated wire version 1 record whose plan
                            currency was not resolved, docs/ledger.md) */
    uint64_t lm_records;
    uint64_t lm_records_by_service[CDR_SVC_COUNT];
    cdr_money lm_charge_by_service[CDR_SVC_COUNT]; /* sum of rr_charge, micro-units */
    uint64_t lm_units_by_service[CDR_SVC_COUNT];   /* sum of rr_units */
} cdr_ledger_money;

/* Totals of one cycle over all partitions (from the segment indexes plus the active segments).
 * Counts and units over every currency; money only per currency: lt_currency[0..lt_ncurrencies)
 * sorted by code ("" first). */
typedef struct cdr_ledger_totals {
    uint64_t lt_records;
    uint64_t lt_records_by_service[CDR_SVC_COUNT];
    uint64_t lt_units_by_service[CDR_SVC_COUNT];
    int lt_ncurrencies;
    cdr_ledger_money lt_currency[CDR_LEDGER_MAX_CURRENCIES];
} cdr_ledger_totals;

/* Resolves the currency of a record that carries none (rated wire version 1): writes the ISO 4217
 * code of plan plan_id version `version` into cur (4 bytes), or leaves cur "" when unknown. */
typedef void (*cdr_ledger_currency_fn)(const char *plan_id, uint32_t version, char *cur, void *ctx);

/* The totals of cycle `cycle`. Records without a currency count as currency "" unless resolve
 * (may be NULL) names it; then a sealed segment that holds such records is read in full rather
 * than through its index. Errors as for cdr_ledger_scan, and CDR_LIMIT when the cycle holds more
 * than CDR_LEDGER_MAX_CURRENCIES currencies. */
int cdr_ledger_totals_get(cdr_ledger *lg, uint32_t cycle, cdr_ledger_currency_fn resolve,
                          void *resolve_ctx, cdr_ledger_totals *out, cdr_diag *dg);
/* Add t into sum (per currency; for totals over several cycles). Returns 0, or CDR_LIMIT when
 * sum would hold more than CDR_LEDGER_MAX_CURRENCIES currencies (sum is then partly added). */
int cdr_ledger_totals_add(cdr_ledger_totals *sum, const cdr_ledger_totals *t);

/* ---- one segment file on its own (the fuzz harness, tools) ----------------------------------- */

/* Read every frame of one segment file, given as an open descriptor fd (a plain file or a memfd;
 * name for messages), with the checks of cdr_ledger_scan: frame header and its checksum,
 * decompression, body checksum, record framing and each rated record. fn gets every record,
 * with the partition of its frame. No ledger folder, lock or index is involved. Returns 0,
 * CDR_FORMAT / CDR_VERSION (with the byte offset of the frame), CDR_EIO, CDR_ENOMEM, or what fn
 * returned. */
int cdr_ledger_read_segment(int fd, const char *name, cdr_ledger_fn fn, void *ctx, cdr_diag *dg);

#endif
