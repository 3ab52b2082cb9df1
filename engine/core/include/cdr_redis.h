/* cdr_redis.h - the one adapter between cdrate and Redis (hiredis): connections, the idempotent
 * batched apply of the live-state projection, its resume points, and reads for queries. The
 * design (key layout, offset guard, Redis Cluster) is in docs/redis.md.
 *
 * Errors: every function returns 0 or a negative cdr_err, with the reason in dg (which may be
 * NULL). Redis and network failures are CDR_REDIS (retriable) and name the server, as in
 * "redis 127.0.0.1:6390: Connection refused"; bad arguments are CDR_EINVAL.
 *
 * Connections: a handle holds one blocking connection and is used by one thread at a time. When
 * the connection breaks (a time-out, a network error, Redis restarted), the call that meets it
 * connects again once and repeats its commands (every command of this API can be repeated
 * safely); only when that fails too does the call fail. A call after a failure starts with that
 * one new connection. Nothing here raises SIGPIPE.
 *
 * Restarts: a new connection that finds another server process than before (its run_id changed:
 * Redis restarted, or a replica took over) may have lost the writes acknowledged last (with
 * appendfsync everysec, the last second or two of them). Reads go on, but cdr_redis_flush and
 * cdr_redis_set_resume then fail (CDR_REDIS, "... new run_id ...") without sending anything,
 * until the caller calls cdr_redis_ack_restart and applies again from its resume points.
 */
#ifndef CDR_REDIS_H
#define CDR_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"

typedef struct cdr_redis cdr_redis;

/* Longest hash tag or resume group name, without its NUL. Neither may hold '{' or '}'. */
#define CDR_REDIS_TAG_MAX 63

/* Connect to addr ("HOST:PORT", or "[IPv6]:PORT") and load the apply script (SCRIPT LOAD).
 * timeout_ms (> 0) bounds the connect and each wait for the server to send or take data.
 * On success *out is a new handle (free with cdr_redis_close). Errors: CDR_EINVAL with
 * "redis address 'ADDR': expected HOST:PORT" for an address without a host or a port in 1..65535
 * (or a bad timeout), CDR_REDIS when the server cannot be reached or refuses the script,
 * CDR_ENOMEM. *out is NULL on failure. */
int cdr_redis_open(const char *addr, int timeout_ms, cdr_redis **out, cdr_diag *dg);

/* Close the connection and free r, dropping any groups still queued. Accepts NULL. */
void cdr_redis_close(cdr_redis *r);

/* The address r was opened with; valid while r is. */
const char *cdr_redis_addr(const cdr_redis *r);

/* ---- the idempotent apply ---------------------------------------------------------------------
 * A change to one field of a hash "cdr:{TAG}:KEY". The caller groups changes by tag (for example
 * the charging owner "o:30001"): all keys of a group share the hash tag {TAG}, so that a group
 * lives in one Redis Cluster slot. offset is the Kafka offset (>= 0) of the record that made the
 * change, in the partition given to cdr_redis_apply; several ops may share one offset (one record
 * changes several fields), and all ops of one offset for one tag must be given in the same call.
 * key and field are NUL-terminated within their arrays and not empty; key is not "applied". */
enum {
    CDR_REDIS_HINCRBY = 1, /* add value to the field (an integer; absent counts as 0) */
    CDR_REDIS_HSET = 2,    /* set the field to value */
    CDR_REDIS_HSETNX = 3,  /* set the field to value unless it is already set */
    CDR_REDIS_HMAX = 4     /* set the field to value when absent or smaller (|values| < 2^53) */
};

typedef struct cdr_redis_op {
    int64_t offset;
    uint8_t kind;   /* CDR_REDIS_HINCRBY, CDR_REDIS_HSET, CDR_REDIS_HSETNX or CDR_REDIS_HMAX */
    char key[96];   /* after the "cdr:{TAG}:" prefix */
    char field[64]; /* the hash field */
    int64_t value;  /* HINCRBY delta or HSET/HSETNX value */
} cdr_redis_op;

/* Queue the n ops of one group (tag, Kafka partition >= 0), given in offset order (not
 * decreasing). Nothing is sent until cdr_redis_flush. The group runs in Redis as one Lua script,
 * atomically: it reads the applied offset of the partition (HGET cdr:{TAG}:applied PARTITION),
 * applies only the ops whose offset is greater, and sets the applied offset to the last op's.
 * Applying the same ops again therefore changes nothing, and ops that overlap ones applied before
 * apply only their new part. The ops are copied; n == 0 queues nothing. Errors: CDR_EINVAL (bad
 * tag, partition or op: nothing is queued), CDR_ENOMEM. */
int cdr_redis_apply(cdr_redis *r, const char *tag, int32_t partition, const cdr_redis_op *ops,
                    size_t n, cdr_diag *dg);

/* Send every queued group (pipelined, EVALSHA) and read every reply. When Redis no longer knows
 * the script (NOSCRIPT: SCRIPT FLUSH), it is loaded again and the groups that met NOSCRIPT are
 * sent again; a connection broken without a restart is opened again once and the groups not yet
 * answered are sent again (a group that did run is then a no-op). 0 when every group ran: the
 * queue is then empty. On failure the groups stay queued (call cdr_redis_flush again to retry
 * them, harmless for those that ran, or cdr_redis_discard) and dg names the first group that
 * failed. After a restart (see above) nothing is sent: call cdr_redis_ack_restart. A group the
 * script refused because a key is not a hash changed nothing; an HINCRBY overflow past INT64_MAX
 * fails in the middle of its group, and Redis does not roll a script back: the ops before it
 * stay and the applied offset is not moved, so that tag must be rebuilt (docs/redis.md). */
int cdr_redis_flush(cdr_redis *r, cdr_diag *dg);

/* 1 when the handle met a restarted or replaced server (see "Restarts" above): the queued groups
 * are dropped and writes are accepted again; the caller must then read its resume points
 * (cdr_redis_get_resume) and apply again from there. 0 (nothing changed) otherwise. */
int cdr_redis_ack_restart(cdr_redis *r);

/* Drop the queued groups without sending them. */
void cdr_redis_discard(cdr_redis *r);

/* Number of groups queued and not yet flushed. */
size_t cdr_redis_queued(const cdr_redis *r);

/* The applied offset of (tag, partition): *offset = the last op offset applied, -1 when none. */
int cdr_redis_applied(cdr_redis *r, const char *tag, int32_t partition, int64_t *offset,
                      cdr_diag *dg);

/* ---- resume points ----------------------------------------------------------------------------
 * Where a consumer (group, the consumer's name) restarts reading a partition: field PARTITION of
 * hash "cdr:{resume:GROUP}:offsets" (a tag of its own, apart from the data). The projection sets
 * it after a successful cdr_redis_flush, to the offset of the next record to read, and a
 * restarted projection resumes from it. It may lag the data: re-applying records from an older
 * point is harmless, the per-tag applied offsets skip them. cdr_redis_set_resume refuses
 * (CDR_EINVAL) while groups are queued, so that it never runs ahead of the data, and (CDR_REDIS)
 * after an unacknowledged restart. */
int cdr_redis_set_resume(cdr_redis *r, int32_t partition, const char *group, int64_t offset,
                         cdr_diag *dg);
/* *offset = the resume point of (group, partition), -1 when none was set. */
int cdr_redis_get_resume(cdr_redis *r, int32_t partition, const char *group, int64_t *offset,
                         cdr_diag *dg);

/* ---- reads ------------------------------------------------------------------------------------
 */

/* One field of a hash; both strings are NUL-terminated (and may hold NUL bytes: use the lengths).
 */
typedef struct cdr_redis_kv {
    const char *kv_field;
    size_t kv_field_len;
    const char *kv_value;
    size_t kv_value_len;
} cdr_redis_kv;

/* All fields of hash "cdr:{TAG}:KEY", sorted by field (bytewise), into *out (one allocation the
 * caller frees with cdr_redis_kv_free) and *n. A missing key gives *out = NULL, *n = 0 and 0.
 * Errors: CDR_EINVAL (bad tag or key), CDR_REDIS (also for a key that is not a hash),
 * CDR_ENOMEM; *out is NULL and *n 0 then. */
int cdr_redis_hgetall(cdr_redis *r, const char *tag, const char *key, cdr_redis_kv **out, size_t *n,
                      cdr_diag *dg);
void cdr_redis_kv_free(cdr_redis_kv *kv); /* accepts NULL */

/* GET key (the whole key name, no prefix added): the value into buf, NUL-terminated, and its
 * length into *len (may be NULL). CDR_NOTFOUND when the key does not exist; CDR_LIMIT when the
 * value does not fit in bufsize - 1 bytes (*len is then its length, buf unchanged); CDR_REDIS. */
int cdr_redis_get(cdr_redis *r, const char *key, char *buf, size_t bufsize, size_t *len,
                  cdr_diag *dg);

#endif
