/* cdr_stream.h - streaming rating on Kafka, exactly once (docs/streaming.md).
 *
 * A consumer group on <prefix>cdr.raw (read_committed, no auto commit, partitions assigned by
 * Kafka with the cooperative-sticky protocol). Each polled batch is rated with a cdr_rater and,
 * in one Kafka transaction, the rated records go to <prefix>cdr.rated, the unratable ones to
 * <prefix>cdr.suspense, the batch's counter changes to the compacted changelog
 * <prefix>cdr.counters, the alerts it raised to <prefix>cdr.alerts and the consumer offsets to
 * the group. A failed transaction is aborted,
 * the consumer rewinds to the committed offsets and the counters are restored from the
 * changelog. A partition's counters are restored from the changelog partition of the same number
 * when the partition is assigned. A record whose charging owner (from the directory) belongs to
 * another partition of cdr.raw is not rated: it goes back to cdr.raw, keyed by the owner, in the
 * same transaction (re-keying). Plans and subscribers can be replaced while running (hot reload,
 * sc_reload); metrics go to sc_on_stats, logs are logfmt lines (cdr_stream_log).
 *
 * Also here: the rater's hooks for a counter changelog (defined in rater.c).
 */
#ifndef CDR_STREAM_H
#define CDR_STREAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Fraud-rule state of one line and rule (cdr_rater_set_fraud), as it travels on the same
 * changelog as the counters (same partition as the owner's counters). */
struct cdr_fraud_line;
typedef struct cdr_fraud_change {
    uint64_t fc_subscriber;
    uint64_t fc_owner;
    uint32_t fc_rule; /* index in the rule set */
    const struct cdr_fraud_line *fc_state;
} cdr_fraud_change;
typedef int (*cdr_fraud_change_fn)(void *arg, const cdr_fraud_change *fc);
/* Report each fraud state changed since the last call and forget the changes (as
 * cdr_rater_counters_changed). Returns 0 or fn's first non-zero value. */
int cdr_rater_fraud_changed(cdr_rater *rt, cdr_fraud_change_fn fn, void *arg);
/* Set one state (from a changelog) without marking it changed. 0 or CDR_ENOMEM. */
int cdr_rater_fraud_import(cdr_rater *rt, const cdr_fraud_change *fc);
/* Changelog encoding: key 'F', subscriber be64, rule u8 (10 bytes, told apart from a counter's 20
 * by its length); value: owner le64, then cdr_fraud_line_encode. */
#define CDR_FRAUD_KEY_LEN 10
#define CDR_FRAUD_VAL_MAX (8 + 720)
/* Encode; returns the value length. */
size_t cdr_fraud_change_encode(const cdr_fraud_change *fc, uint8_t key[CDR_FRAUD_KEY_LEN],
                               uint8_t *val);
/* 1 when a changelog key is a fraud state's. */
int cdr_fraud_change_is(const void *key, size_t klen);
/* Decode into fc, the state into *st (fc->fc_state = st). Returns 0 or CDR_FORMAT. */
int cdr_fraud_change_decode(const void *key, size_t klen, const void *val, size_t vlen,
                            cdr_fraud_change *fc, struct cdr_fraud_line *st);

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
#define CDR_STREAM_TOPIC_ALERTS   "cdr.alerts"

/* Defaults of cdr_stream_config (a 0 field takes them). */
#define CDR_STREAM_BATCH_DEFAULT  50000
#define CDR_STREAM_BATCH_MAX      100000
#define CDR_STREAM_WAIT_DEFAULT   200  /* ms */
#define CDR_STREAM_RELOAD_DEFAULT 1000 /* ms */

typedef struct cdr_stream_stats cdr_stream_stats;

/* Hot reload of plans and subscribers (docs/streaming.md, "Hot reload"). Called every
 * sc_reload_ms from a thread of the stream, never concurrently with itself and never from the
 * thread that rates. When the source of plans or subscribers may have changed, set *ps and / or
 * *tab to newly loaded ones; ownership passes to the stream (it releases ps with
 * cdr_plan_set_release and frees tab with cdr_subtab_free when they are no longer used). Leave
 * them NULL when nothing changed. The stream compares what it gets with what it rates with and
 * applies only real changes, between two batches, so a spurious reload costs a load and a
 * comparison, never a pause. Return 0, or an error code with the reason in dg: the stream logs
 * it, keeps rating with what it has and calls again after the next interval. */
typedef int (*cdr_stream_reload_fn)(void *arg, cdr_plan_set **ps, cdr_subtab **tab, cdr_diag *dg);
/* Hot reload of the closed billing cycles (cdr_rater_set_closed): called with sc_reload_arg right
 * after each sc_reload call, in the same thread. Set *cycles to a malloc'd list (any order; the
 * stream frees it) and *n to its length, or leave *cycles NULL when nothing changed; a list equal
 * to the one in use is ignored. Return 0, or an error code with the reason in dg (logged, the
 * cycles in use are kept). */
typedef int (*cdr_stream_closed_fn)(void *arg, uint32_t **cycles, size_t *n, cdr_diag *dg);

/* Metrics: called from the rating thread after every committed batch, after every poll that
 * brought nothing, and once at the end, with the totals so far (ss is valid during the call
 * only). Keep it short: copy what you need. */
typedef void (*cdr_stream_stats_fn)(void *arg, const cdr_stream_stats *ss);

typedef struct cdr_stream_config {
    const char *sc_brokers;      /* bootstrap servers, required */
    const char *sc_group;        /* consumer group id, required */
    const char *sc_topic_prefix; /* prepended to the four topic names; NULL or "" = none */
    /* transactional.id of the producer; NULL = "<group>.rate-stream". One per running process:
     * a restarted process with the same id fences its predecessor and aborts its open
     * transaction. */
    const char *sc_transactional_id;
    unsigned sc_threads;  /* rating threads, default 1 */
    size_t sc_batch;      /* most records per batch, default CDR_STREAM_BATCH_DEFAULT */
    int sc_batch_wait_ms; /* longest wait to fill a batch, default CDR_STREAM_WAIT_DEFAULT */
    /* Log lines (logfmt, docs/streaming.md "Logs") go to sc_log, NULL = stderr; sc_quiet leaves
     * out the level=info ones (warnings and errors stay). */
    FILE *sc_log;
    int sc_quiet;
    /* Set to non-zero (e.g. by a signal handler) to stop: the batch in progress is finished and
     * committed, the consumer leaves the group, cdr_stream_run returns 0. May be NULL. */
    volatile sig_atomic_t *sc_stop;
    /* > 0: stop as for sc_stop once every assigned partition of cdr.raw has been read to its high
     * watermark, nothing is left to commit and no record arrived for this many ms. */
    int sc_idle_exit_ms;
    cdr_stream_reload_fn sc_reload; /* NULL: no hot reload */
    void *sc_reload_arg;
    int sc_reload_ms; /* interval of the sc_reload calls, default CDR_STREAM_RELOAD_DEFAULT */
    /* Closed billing cycles the rater starts with (copied; NULL / 0 = none): a record of a closed
     * cycle is rated into the next open one, flagged late (docs/streaming.md, "Closed cycles").
     * sc_reload_closed (NULL = never) replaces them while running, with sc_reload. */
    const uint32_t *sc_closed;
    size_t sc_nclosed;
    cdr_stream_closed_fn sc_reload_closed;
    /* Credit control and usage alerts (cdr_rate.h): NULL = cdr_credit_config_default (on);
     * cc_on 0 = no credit state and no alerts. The alerts of a batch go to <prefix>cdr.alerts
     * in its transaction, one JSON object per message (cdr_alert_format_json), keyed by the
     * account id in decimal. */
    const cdr_credit_config *sc_credit;
    /* Fraud and abuse rules evaluated on every rated record (NULL = none; cdr_rater_set_fraud):
     * their state per line travels on cdr.counters (CDR_FRAUD_KEY_LEN keys), their hits go to
     * cdr.alerts as above. Needs credit control on. */
    const struct cdr_fraud_rules *sc_fraud;
    cdr_stream_stats_fn sc_on_stats; /* NULL: none */
    void *sc_stats_arg;
} cdr_stream_config;

/* Totals since the start of cdr_stream_run. Every record taken from cdr.raw in a committed batch
 * counts once in ss_consumed and once in exactly one of ss_rated, ss_suspense, ss_rekeyed; a
 * re-keyed record comes back on its owner's partition and counts again there. */
struct cdr_stream_stats {
    uint64_t ss_consumed;    /* records committed (each counted once per committed batch) */
    uint64_t ss_rated;       /* of those, to cdr.rated */
    uint64_t ss_suspense;    /* of those, to cdr.suspense (unratable or undecodable) */
    uint64_t ss_rekeyed;     /* of those, forwarded to cdr.raw keyed by their charging owner */
    uint64_t ss_undecodable; /* of ss_suspense, values that were no CDR wire record */
    uint64_t ss_batches;     /* committed batches */
    uint64_t ss_aborts;      /* aborted transactions (batches redone) */
    uint64_t ss_reloads;     /* applied reloads of plans, subscribers and / or closed cycles */
    uint64_t ss_counters;    /* counter changes sent to the changelog */
    uint64_t ss_alerts;      /* alerts sent to cdr.alerts */
    uint64_t ss_restored;    /* counters read back from the changelog */
    uint64_t ss_misrouted;   /* counter changes of an owner outside the assigned partitions
                                (stays 0: re-keying rates every record on its owner's partition) */
    int64_t ss_lag; /* records between the consumer's position and the high watermark, summed over
                       the assigned partitions of cdr.raw (cached watermarks); -1 = not known;
                       at the end: just before leaving the group */
    uint32_t ss_partitions; /* partitions of cdr.raw assigned now (at the end: before leaving) */
    uint64_t ss_p50_ns;     /* median batch latency (poll end to commit), within 1/16 */
    uint64_t ss_p99_ns;     /* 99th percentile of the batch latency, within 1/16 */
    double ss_busy_seconds; /* time with records in hand: from each batch's first record to its
                               commit (or abort) */
    double ss_seconds;      /* wall time of the run so far */
};

/* Log levels of cdr_stream_log. */
enum { CDR_STREAM_INFO = 0, CDR_STREAM_WARN, CDR_STREAM_ERROR };

/* Write one logfmt line to sc->sc_log (stderr when sc or sc_log is NULL), in one write:
 *   ts=2026-11-24T20:00:00.123Z level=info msg="partitions assigned" parts=0,1 ...
 * msg is a constant text without quotes; fields (may be NULL) is a printf format of further
 * key=value pairs. Level info is left out when sc->sc_quiet. Lines longer than 2 KiB are cut. */
void cdr_stream_log(const cdr_stream_config *sc, int level, const char *msg, const char *fields,
                    ...) __attribute__((format(printf, 4, 5)));
/* s as a logfmt value: in double quotes, '"' and '\\' escaped, control characters as spaces,
 * cut to fit bufsize (>= 3). Returns buf. */
const char *cdr_stream_log_quote(const char *s, char *buf, size_t bufsize);

/* Run the stream rater until *sc_stop becomes non-zero (or sc_idle_exit_ms says so). ps (a
 * reference is taken while running) and tab (borrowed, must outlive the call) are the plans and
 * subscribers to start with; sc_reload may replace both while running. Counters come only from
 * the changelog. Creates cdr.rated, cdr.suspense and cdr.counters when missing (cdr.counters
 * compacted, with as many partitions as cdr.raw, which must exist). stats (may be NULL) receives
 * the totals. Returns 0 after a clean stop; CDR_EINVAL (config), CDR_RANGE (sc_batch over
 * CDR_STREAM_BATCH_MAX, cdr.raw with 65535 partitions or more), CDR_KAFKA (brokers unreachable,
 * timeouts: retriable, restart), CDR_EXISTS (fenced by another instance with the same
 * transactional id), CDR_FORMAT (the changelog does not match cdr.raw), CDR_ENOMEM, with the
 * reason in dg (also logged as a level=error line). */
/* Test hook CDR_STREAM_HOLD_MS=MS: after producing a batch with rated records, and before
 * committing its transaction, rate-stream logs "test hook: holding the transaction open" and
 * pauses MS ms, so that a test can kill it in the middle of a transaction
 * (tests/integration/chaos_rater.sh). */
#define CDR_STREAM_HOLD_ENV "CDR_STREAM_HOLD_MS"

int cdr_stream_run(const cdr_stream_config *sc, cdr_plan_set *ps, const cdr_subtab *tab,
                   cdr_stream_stats *stats, cdr_diag *dg);

/* ---- bundle counters seen from outside the rater (counters.c) -----------------------------------
 * A counter's tag says what it counts, in its top two bits: a subscriber's own bundle (the rest is
 * a hash of the bundle's name, cdr_counter_bundle_tag; holder = the subscriber id), an enterprise
 * pool of one service (holder = the enterprise id) or one member's draw on its enterprise's pool
 * of one service (holder = the subscriber id); the service is then in the low bits. */
enum { CDR_COUNTER_OWN = 1, CDR_COUNTER_POOL = 2, CDR_COUNTER_MEMBER = 3 };
/* CDR_COUNTER_OWN, _POOL or _MEMBER; 0 for a tag of none of them. */
int cdr_counter_tag_kind(uint64_t tag);
/* Credit state kept by the rater next to the bundle counters (cdr_rate.h, "credit control"):
 * tags of kind 0 with a sub-kind in bits 56..61. */
enum {
    CDR_COUNTER_SPEND = 1,        /* holder = account: charges of the cycle in one currency */
    CDR_COUNTER_SPEND_ALERTS = 2, /* holder = account: credit thresholds raised (bit mask) */
    CDR_COUNTER_STATUS = 3,       /* holder = subscriber: line status | warned-at << 8 */
    CDR_COUNTER_BUNDLE_ALERTS = 4 /* holder as the bundle's: bundle thresholds raised */
};
/* CDR_COUNTER_SPEND .. _BUNDLE_ALERTS for a credit-state tag, 0 for any other. */
int cdr_counter_credit_kind(uint64_t tag);
/* The service (cdr_service) of a pool or member tag; -1 for an own bundle's tag. */
int cdr_counter_tag_service(uint64_t tag);
/* The tag of a subscriber's own bundle called name, as the rater keys it (bundles of the same
 * name share one counter, whatever the plan). */
uint64_t cdr_counter_bundle_tag(const char *name);

/* Return non-zero to select the counter cc. */
typedef int (*cdr_counter_match_fn)(void *arg, const cdr_counter_change *cc);
/* Delete from the store's counters database, in one write transaction, every counter that match
 * selects (match NULL: every counter); *n gets how many. With dry_run non-zero nothing is deleted
 * (a read transaction) and *n is how many would be. A store that has no counters database has
 * none: 0. Returns 0, or CDR_FORMAT (a malformed entry) / CDR_STORE / CDR_LIMIT with the reason in
 * dg; nothing is deleted then. Not while another process rates into the same store. */
int cdr_counters_delete(cdr_store *st, cdr_counter_match_fn match, void *arg, int dry_run,
                        uint64_t *n, cdr_diag *dg);

#endif
