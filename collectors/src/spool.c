/* spool.c - the collector: spool directory and stream front ends, per-input accounting, and
 * exactly-once publishing across crashes (cdr_collect.h; design in docs/collectors.md).
 *
 * Per input, items are decoded in order and handled in batches (de-duplicated together, then
 * published in input order); every cl_chunk items form one Kafka transaction that also carries a
 * checkpoint (content hash, items done, accounting, scan offsets) to cdr.collect.checkpoints.
 * After the Kafka commit the same checkpoint, the input's entry and the chunk's identities are
 * committed to LMDB in one transaction. On start the two checkpoints are reconciled. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdr_bytes.h"
#include "cdr_collect.h"
#include "publish.h"

/* COLL_NOT_READY: a spool file not settled yet, or changed while read: left where it is and
 * tried again later (co_wait_ms says when). COLL_CHANGED: load_file saw the file change. */
enum { COLL_REDO = PUB_REDO, COLL_STOPPED = 2, COLL_REPLAY_END = 3, COLL_NOT_READY = 4 };
enum { COLL_CHANGED = 5 };
enum { BATCH_MAX = 4096 };
enum { CRASH_NONE = 0, CRASH_RECORD, CRASH_PRECOMMIT, CRASH_COMMIT, CRASH_LMDB, CRASH_MOVE };

/* ---- checkpoints ----------------------------------------------------------------------------- */

typedef struct coll_cp {
    uint64_t cp_seq;
    uint8_t cp_kind;  /* 0 = none yet, CDR_INPUT_FILE, CDR_INPUT_STREAM */
    uint8_t cp_state; /* CDR_FILE_INPROGRESS / CDR_FILE_DONE */
    uint8_t cp_hash[CDR_SHA256_LEN];
    char cp_name[256];
    uint64_t cp_next;
    cdr_coll_stats cp_stats;
    int cp_nparts[2];   /* cdr.raw, cdr.rejected */
    int64_t *cp_off[2]; /* scan offsets, cp_nparts entries each */
} coll_cp;

#define CP_MAGIC "CDRC"
#define CP_VER   1

static size_t cp_size(const coll_cp *cp)
{
    return 4 + 1 + 8 + 2 + 32 + 2 + 256 + 8 + 5 * 8 + 2 * 4 +
           8 * (size_t)(cp->cp_nparts[0] + cp->cp_nparts[1]);
}

/* Encode into b (cp_size bytes); returns the length. */
static size_t cp_encode(const coll_cp *cp, uint8_t *b)
{
    uint8_t *p = b;
    memcpy(p, CP_MAGIC, 4);
    p += 4;
    *p++ = CP_VER;
    cdr_put_be64(p, cp->cp_seq);
    p += 8;
    *p++ = cp->cp_kind;
    *p++ = cp->cp_state;
    memcpy(p, cp->cp_hash, 32);
    p += 32;
    size_t nl = strnlen(cp->cp_name, sizeof cp->cp_name - 1);
    *p++ = (uint8_t)(nl >> 8);
    *p++ = (uint8_t)nl;
    memcpy(p, cp->cp_name, nl);
    p += nl;
    const uint64_t nums[6] = {cp->cp_next,
                              cp->cp_stats.cs_read,
                              cp->cp_stats.cs_published,
                              cp->cp_stats.cs_rejected,
                              cp->cp_stats.cs_duplicate,
                              cp->cp_stats.cs_nonbillable};
    for (int i = 0; i < 6; i++, p += 8)
        cdr_put_be64(p, nums[i]);
    for (int t = 0; t < 2; t++) {
        uint32_t n = (uint32_t)cp->cp_nparts[t];
        p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
        p += 4;
        for (uint32_t i = 0; i < n; i++, p += 8)
            cdr_put_be64(p, (uint64_t)cp->cp_off[t][i]);
    }
    return (size_t)(p - b);
}

static void cp_free(coll_cp *cp)
{
    free(cp->cp_off[0]);
    free(cp->cp_off[1]);
    cp->cp_off[0] = cp->cp_off[1] = NULL;
    cp->cp_nparts[0] = cp->cp_nparts[1] = 0;
}

/* Decode len bytes into cp (which owns new offset arrays). Returns 0 or CDR_FORMAT. */
static int cp_decode(const uint8_t *b, size_t len, coll_cp *cp)
{
    memset(cp, 0, sizeof *cp);
    const uint8_t *p = b, *end = b + len;
    if (len < 4 + 1 + 8 + 2 + 32 + 2 || memcmp(p, CP_MAGIC, 4) || p[4] != CP_VER)
        return CDR_FORMAT;
    p += 5;
    cp->cp_seq = cdr_get_be64(p);
    p += 8;
    cp->cp_kind = *p++;
    cp->cp_state = *p++;
    memcpy(cp->cp_hash, p, 32);
    p += 32;
    size_t nl = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (nl >= sizeof cp->cp_name || (size_t)(end - p) < nl + 6 * 8)
        return CDR_FORMAT;
    memcpy(cp->cp_name, p, nl);
    p += nl;
    uint64_t nums[6];
    for (int i = 0; i < 6; i++, p += 8)
        nums[i] = cdr_get_be64(p);
    cp->cp_next = nums[0];
    cp->cp_stats = (cdr_coll_stats){nums[1], nums[2], nums[3], nums[4], nums[5]};
    for (int t = 0; t < 2; t++) {
        if (end - p < 4)
            goto bad;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        p += 4;
        if (n > PUB_MAX_PARTITIONS || (size_t)(end - p) < 8 * (size_t)n)
            goto bad;
        cp->cp_nparts[t] = (int)n;
        cp->cp_off[t] = calloc(n ? n : 1, sizeof(int64_t));
        if (!cp->cp_off[t])
            goto bad;
        for (uint32_t i = 0; i < n; i++, p += 8)
            cp->cp_off[t][i] = (int64_t)cdr_get_be64(p);
    }
    return 0;
bad:
    cp_free(cp);
    return CDR_FORMAT;
}

/* Deep copy (dst's arrays are replaced). Returns 0 or CDR_ENOMEM. */
static int cp_copy(coll_cp *dst, const coll_cp *src)
{
    int64_t *o0 = malloc(sizeof(int64_t) * (size_t)(src->cp_nparts[0] ? src->cp_nparts[0] : 1));
    int64_t *o1 = malloc(sizeof(int64_t) * (size_t)(src->cp_nparts[1] ? src->cp_nparts[1] : 1));
    if (!o0 || !o1) {
        free(o0);
        free(o1);
        return CDR_ENOMEM;
    }
    memcpy(o0, src->cp_off[0], sizeof(int64_t) * (size_t)src->cp_nparts[0]);
    memcpy(o1, src->cp_off[1], sizeof(int64_t) * (size_t)src->cp_nparts[1]);
    cp_free(dst);
    *dst = *src;
    dst->cp_off[0] = o0;
    dst->cp_off[1] = o1;
    return 0;
}

/* ---- sets of what a recovery scan found beyond the checkpoint -------------------------------- */

typedef struct coll_idset {
    char *is_pool;
    size_t is_pool_len, is_pool_cap;
    uint32_t *is_off;
    uint16_t *is_len;
    size_t is_n, is_cap;
} coll_idset;

typedef struct coll_rejset {
    uint64_t *rs_index; /* record indexes of the input being recovered */
    size_t rs_n, rs_cap;
} coll_rejset;

static _Thread_local const coll_idset *idset_sorting;

static int idset_cmp_key(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    return c ? c : (alen > blen) - (alen < blen);
}

static int idset_cmp(const void *x, const void *y)
{
    const coll_idset *is = idset_sorting;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    return idset_cmp_key(is->is_pool + is->is_off[i], is->is_len[i], is->is_pool + is->is_off[j],
                         is->is_len[j]);
}

static int idset_add(coll_idset *is, const char *key, size_t len)
{
    if (is->is_n == is->is_cap) {
        size_t cap = is->is_cap ? 2 * is->is_cap : 1024;
        uint32_t *off = realloc(is->is_off, cap * sizeof *off);
        if (!off)
            return CDR_ENOMEM;
        is->is_off = off;
        uint16_t *ln = realloc(is->is_len, cap * sizeof *ln);
        if (!ln)
            return CDR_ENOMEM;
        is->is_len = ln;
        is->is_cap = cap;
    }
    if (is->is_pool_len + len > is->is_pool_cap) {
        size_t cap = is->is_pool_cap ? 2 * is->is_pool_cap : 65536;
        while (cap < is->is_pool_len + len)
            cap *= 2;
        if (cap > UINT32_MAX)
            return CDR_LIMIT;
        char *pool = realloc(is->is_pool, cap);
        if (!pool)
            return CDR_ENOMEM;
        is->is_pool = pool;
        is->is_pool_cap = cap;
    }
    memcpy(is->is_pool + is->is_pool_len, key, len);
    is->is_off[is->is_n] = (uint32_t)is->is_pool_len;
    is->is_len[is->is_n] = (uint16_t)len;
    is->is_pool_len += len;
    is->is_n++;
    return 0;
}

/* Sort (by permuting off/len) so that idset_has can binary-search. */
static int idset_sort(coll_idset *is)
{
    if (is->is_n < 2)
        return 0;
    size_t *perm = malloc(is->is_n * sizeof *perm);
    uint32_t *off = malloc(is->is_n * sizeof *off);
    uint16_t *len = malloc(is->is_n * sizeof *len);
    if (!perm || !off || !len) {
        free(perm);
        free(off);
        free(len);
        return CDR_ENOMEM;
    }
    for (size_t i = 0; i < is->is_n; i++)
        perm[i] = i;
    idset_sorting = is;
    qsort(perm, is->is_n, sizeof *perm, idset_cmp);
    idset_sorting = NULL;
    for (size_t i = 0; i < is->is_n; i++) {
        off[i] = is->is_off[perm[i]];
        len[i] = is->is_len[perm[i]];
    }
    free(perm);
    free(is->is_off);
    free(is->is_len);
    is->is_off = off;
    is->is_len = len;
    is->is_cap = is->is_n;
    return 0;
}

static int idset_has(const coll_idset *is, const char *key, size_t len)
{
    size_t lo = 0, hi = is->is_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = idset_cmp_key(is->is_pool + is->is_off[mid], is->is_len[mid], key, len);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void idset_clear(coll_idset *is)
{
    free(is->is_pool);
    free(is->is_off);
    free(is->is_len);
    memset(is, 0, sizeof *is);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int rejset_has(const coll_rejset *rs, uint64_t index)
{
    return rs->rs_n && bsearch(&index, rs->rs_index, rs->rs_n, sizeof index, u64_cmp) != NULL;
}

/* ---- the collector --------------------------------------------------------------------------- */

/* A spool file seen not settled yet: when its size, mtime and inode were first seen as they are
 * (monotonic ms), so that a file whose mtime lies in the future settles too. */
typedef struct coll_seen {
    char *se_name;
    off_t se_size;
    struct timespec se_mtime;
    ino_t se_ino;
    uint64_t se_since_ms;
} coll_seen;

/* Files to try again (not settled, or changed while read), each with the monotonic ms after which
 * it may be ready. */
typedef struct coll_pending {
    char *pd_name;
    uint64_t pd_due_ms;
} coll_pending;

/* cl_hold: a file published and kept in the spool until cdr_collect_commit. */
typedef struct coll_held {
    char hd_name[256];
    cdr_dedup_file hd_df;
    struct stat hd_st; /* as read */
} coll_held;

/* One item kept in a batch until it is de-duplicated and published. */
typedef struct coll_ent {
    uint8_t en_kind;
    uint32_t en_slot; /* record slot (bt_recs) or rejection slot (bt_diags) */
    uint64_t en_index, en_line, en_offset, en_length;
    const uint8_t *en_bytes; /* the item's bytes in the input (for cdr.rejected) */
} coll_ent;

typedef struct coll_batch {
    coll_ent *bt_ents;
    size_t bt_n;
    cdr_record *bt_recs;
    cdr_dedup_item *bt_items;
    size_t bt_nrec;
    cdr_diag *bt_diags;
    size_t bt_nrej;
} coll_batch;

/* The input being processed. */
typedef struct coll_input {
    cdr_dedup_file in_df; /* its entry (id, hash, name, committed next and stats) */
    char in_hex[2 * CDR_SHA256_LEN + 1];
    const char *in_name;
    int in_stream;
    int in_replay; /* 1: only re-record identities of [in_skip, in_replay_end) */
    uint64_t in_replay_end;
    uint64_t in_skip;        /* items below this index are committed: skipped */
    uint64_t in_next;        /* index after the last item taken */
    uint64_t in_chunk_n;     /* items in the open transaction */
    cdr_coll_stats in_stats; /* committed + open transaction */
    cdr_time in_max_start;
    int in_recovering; /* the found sets apply to this input */
    /* a stream is decoded block by block: positions of the block in the whole stream */
    uint64_t in_base_index, in_base_line, in_base_offset;
} coll_input;

struct cdr_collect {
    cdr_collect_config co_cfg;
    cdr_collect_report_fn co_report;
    void *co_report_arg;
    cdr_store *co_st;
    cdr_dedup *co_dd;
    MDB_dbi co_dbi_meta;
    cdr_kafka_mock *co_mock;
    char co_brokers[1024];
    char co_tid[192];   /* [prefix]cdrate-collect.<source> */
    char co_cpkey[200]; /* "cp:" + transactional id, in coll_meta */
    coll_pub *co_pub;
    cdr_coll_decoder *co_dec;
    coll_cp co_cp;   /* the last committed checkpoint */
    uint64_t co_seq; /* highest checkpoint sequence used */
    coll_batch co_bt;
    int32_t *co_owner_ix; /* [BATCH_MAX] directory entry of each record of the batch, or -1 */
    coll_idset co_found_raw;
    coll_rejset co_found_rej;
    int co_resume; /* co_cp names an input in progress: process it first */
    volatile sig_atomic_t *co_stop;
    /* complete files only */
    coll_seen *co_seen;
    size_t co_nseen, co_capseen;
    coll_pending *co_pend;
    size_t co_npend, co_cappend;
    uint64_t co_wait_ms; /* set with COLL_NOT_READY: try again after this many ms */
    /* cl_hold */
    coll_held *co_held;
    size_t co_nheld, co_capheld;
    int co_finished; /* committed or rolled back: only close is left */
    /* totals */
    cdr_coll_stats co_totals;
    uint64_t co_files, co_refused, co_failed;
    /* crash hook */
    int co_crash;
    uint64_t co_crash_at, co_n_records, co_n_precommit, co_n_commit, co_n_lmdb, co_n_move;
};

static void co_warn(const cdr_collect *co, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void co_warn(const cdr_collect *co, const char *fmt, ...)
{
    if (co->co_cfg.cl_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cdrate collect: ", co->co_cfg.cl_log);
    vfprintf(co->co_cfg.cl_log, fmt, ap);
    fputc('\n', co->co_cfg.cl_log);
    va_end(ap);
}

static int is_stopped(const cdr_collect *co)
{
    return co->co_stop && *co->co_stop;
}

static void crash_point(cdr_collect *co, int kind, uint64_t *counter)
{
    ++*counter;
    if (co->co_crash == kind && *counter == co->co_crash_at) {
        fflush(NULL);
        raise(SIGKILL);
    }
}

static void crash_parse(cdr_collect *co)
{
    const char *s = getenv(CDR_COLLECT_CRASH_ENV);
    if (!s || !*s)
        return;
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {{"record:", CRASH_RECORD},
                 {"precommit:", CRASH_PRECOMMIT},
                 {"commit:", CRASH_COMMIT},
                 {"lmdb:", CRASH_LMDB},
                 {"move:", CRASH_MOVE}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].name);
        if (!strncmp(s, kinds[i].name, n)) {
            co->co_crash = kinds[i].kind;
            co->co_crash_at = strtoull(s + n, NULL, 10);
        }
    }
}

int cdr_collect_prefix_check(const char *prefix, cdr_diag *dg)
{
    const size_t n = prefix ? strlen(prefix) : 0;
    if (n >= CDR_COLLECT_PREFIX_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "topic prefix longer than %d characters",
                            CDR_COLLECT_PREFIX_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        const char c = prefix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "topic prefix '%.*s' has '%c' at %zu (letters, digits, '.', '_' "
                                "and '-' only)",
                                (int)n, prefix, c, i + 1);
    }
    return 0;
}

void cdr_collect_config_defaults(cdr_collect_config *cl)
{
    memset(cl, 0, sizeof *cl);
    cdr_coll_config_defaults(&cl->cl_coll);
    cl->cl_format = CDR_FMT_CSV;
    cl->cl_dedup_window = CDR_DEDUP_WINDOW_DEFAULT;
    cl->cl_chunk = 50000;
    cl->cl_partitions = 6;
    cl->cl_connect_timeout_ms = 60000;
    cl->cl_settle_ms = CDR_COLLECT_SETTLE_DEFAULT_MS;
    cl->cl_log = stderr;
}

const char *cdr_collect_brokers(const cdr_collect *co)
{
    return co->co_brokers;
}

void cdr_collect_totals(const cdr_collect *co, cdr_coll_stats *cs, uint64_t *files,
                        uint64_t *refused, uint64_t *failed)
{
    if (cs)
        *cs = co->co_totals;
    if (files)
        *files = co->co_files;
    if (refused)
        *refused = co->co_refused;
    if (failed)
        *failed = co->co_failed;
}

/* ---- LMDB side of the checkpoint ------------------------------------------------------------- */

static int meta_dbi(cdr_collect *co, cdr_diag *dg)
{
    int rc = cdr_dedup_begin(co->co_dd, dg);
    if (!rc)
        rc = cdr_store_dbi(cdr_dedup_txn(co->co_dd), CDR_DB_COLL_META, MDB_CREATE, &co->co_dbi_meta,
                           dg);
    return rc;
}

/* Put cp as the local checkpoint in the open transaction. */
static int cp_store(cdr_collect *co, const coll_cp *cp, cdr_diag *dg)
{
    int rc = meta_dbi(co, dg);
    if (rc)
        return rc;
    uint8_t *b = malloc(cp_size(cp));
    if (!b)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_val k = {strlen(co->co_cpkey), co->co_cpkey}, v = {cp_encode(cp, b), b};
    rc = cdr_store_err(mdb_put(cdr_dedup_txn(co->co_dd), co->co_dbi_meta, &k, &v, 0), "checkpoint",
                       dg);
    free(b);
    return rc;
}

/* The local checkpoint: 0 (cp filled), CDR_NOTFOUND or an error. */
static int cp_load(cdr_collect *co, coll_cp *cp, cdr_diag *dg)
{
    int rc = meta_dbi(co, dg);
    if (rc)
        return rc;
    MDB_val k = {strlen(co->co_cpkey), co->co_cpkey}, v;
    rc = mdb_get(cdr_dedup_txn(co->co_dd), co->co_dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CDR_NOTFOUND;
    if (rc)
        return cdr_store_err(rc, "checkpoint", dg);
    if (cp_decode(v.mv_data, v.mv_size, cp))
        return cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "unreadable local checkpoint");
    return 0;
}

/* Duplicate-report entries: "d" hash cdr_put_be64(index) -> text, kept until the input is moved. */
static void dupkey(uint8_t *k, const uint8_t *hash, uint64_t index)
{
    k[0] = 'd';
    memcpy(k + 1, hash, CDR_SHA256_LEN);
    cdr_put_be64(k + 1 + CDR_SHA256_LEN, index);
}

static int dup_note(cdr_collect *co, coll_input *in, const coll_ent *en, const cdr_record *cr,
                    const cdr_dedup_orig *orig, cdr_diag *dg)
{
    char oname[256], text[768];
    cdr_dedup_file_name(co->co_dd, orig->do_file_id, oname, sizeof oname);
    int n;
    if (en->en_line)
        n = snprintf(text, sizeof text,
                     "%s:%" PRIu64 ": record %" PRIu64 " %s/%s is a duplicate of %s:%" PRIu64
                     " (record %" PRIu64 ")",
                     in->in_name, en->en_line, en->en_index, cr->cr_source, cr->cr_origin_id, oname,
                     orig->do_line, orig->do_index);
    else
        n = snprintf(
            text, sizeof text, "%s: record %" PRIu64 " %s/%s is a duplicate of %s record %" PRIu64,
            in->in_name, en->en_index, cr->cr_source, cr->cr_origin_id, oname, orig->do_index);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    if (in->in_stream) { /* nothing to attach a report to: say it now */
        co_warn(co, "%s", text);
        return 0;
    }
    int rc = meta_dbi(co, dg);
    if (rc)
        return rc;
    uint8_t kb[1 + CDR_SHA256_LEN + 8];
    dupkey(kb, in->in_df.df_hash, en->en_index);
    MDB_val k = {sizeof kb, kb}, v = {(size_t)n, text};
    return cdr_store_err(mdb_put(cdr_dedup_txn(co->co_dd), co->co_dbi_meta, &k, &v, 0),
                         "duplicate report", dg);
}

/* Write the duplicate report of an input to path (nothing when it has none) and delete its
 * entries when del. Returns the number of entries, or < 0 on error. */
static int64_t dup_report(cdr_collect *co, const uint8_t *hash, const char *path, int del,
                          cdr_diag *dg)
{
    int rc = meta_dbi(co, dg);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = cdr_store_err(mdb_cursor_open(cdr_dedup_txn(co->co_dd), co->co_dbi_meta, &cur),
                            "duplicate report", dg)))
        return rc;
    uint8_t kb[1 + CDR_SHA256_LEN + 8];
    dupkey(kb, hash, 0);
    MDB_val k = {sizeof kb, kb}, v;
    FILE *f = NULL;
    char tmp[4400];
    int64_t n = 0;
    int crc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (crc == 0 && k.mv_size == sizeof kb && !memcmp(k.mv_data, kb, 1 + CDR_SHA256_LEN)) {
        if (path && !f) {
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            if (!(f = fopen(tmp, "w"))) {
                mdb_cursor_close(cur);
                return cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot create: %s", strerror(errno));
            }
        }
        if (f) {
            fwrite(v.mv_data, 1, v.mv_size, f);
            fputc('\n', f);
        }
        n++;
        if (del && (crc = mdb_cursor_del(cur, 0)) != 0)
            break;
        crc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (crc && crc != MDB_NOTFOUND) {
        if (f)
            fclose(f);
        return cdr_store_err(crc, "duplicate report", dg);
    }
    if (f) {
        int bad = ferror(f);
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0)
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write: %s", strerror(errno));
    }
    return n;
}

/* ---- batches: de-duplicate, then publish in input order -------------------------------------- */

static int batch_alloc(coll_batch *bt)
{
    bt->bt_ents = calloc(BATCH_MAX, sizeof *bt->bt_ents);
    bt->bt_recs = calloc(BATCH_MAX, sizeof *bt->bt_recs);
    bt->bt_items = calloc(BATCH_MAX, sizeof *bt->bt_items);
    bt->bt_diags = calloc(BATCH_MAX, sizeof *bt->bt_diags);
    return bt->bt_ents && bt->bt_recs && bt->bt_items && bt->bt_diags ? 0 : CDR_ENOMEM;
}

static void batch_free(coll_batch *bt)
{
    free(bt->bt_ents);
    free(bt->bt_recs);
    free(bt->bt_items);
    free(bt->bt_diags);
}

static size_t identity_of(const cdr_record *cr, char *key)
{
    size_t ls = strnlen(cr->cr_source, CDR_SOURCE_MAX - 1);
    size_t lo = strnlen(cr->cr_origin_id, CDR_ORIGIN_MAX - 1);
    memcpy(key, cr->cr_source, ls);
    key[ls] = '\0';
    memcpy(key + ls + 1, cr->cr_origin_id, lo);
    return ls + 1 + lo;
}

static int batch_flush(cdr_collect *co, coll_input *in, cdr_diag *dg)
{
    coll_batch *bt = &co->co_bt;
    int rc = 0;
    if (bt->bt_nrec)
        rc = cdr_dedup_check_batch(co->co_dd, in->in_df.df_id, bt->bt_items, bt->bt_nrec, dg);
    const cdr_subtab *owners = co->co_cfg.cl_owners;
    if (owners && bt->bt_nrec && !in->in_replay) /* all lookups at once: their misses overlap */
        cdr_subtab_find_records(owners, bt->bt_recs, bt->bt_nrec, co->co_owner_ix);
    for (size_t i = 0; i < bt->bt_n && !rc; i++) {
        const coll_ent *en = &bt->bt_ents[i];
        if (en->en_kind == CDR_ITEM_RECORD) {
            const cdr_dedup_item *di = &bt->bt_items[en->en_slot];
            cdr_record *cr = &bt->bt_recs[en->en_slot];
            if (owners && !in->in_replay) { /* the charging owner keys the record */
                const int32_t ix = co->co_owner_ix[en->en_slot];
                cr->cr_owner = ix >= 0 ? cdr_subtab_at(owners, (size_t)ix)->su_owner : 0;
            }
            if (cr->cr_start > in->in_max_start)
                in->in_max_start = cr->cr_start;
            if (di->di_dup) {
                rc = dup_note(co, in, en, cr, &di->di_orig, dg);
                in->in_stats.cs_duplicate += !in->in_replay;
            } else if (!in->in_replay) {
                char key[CDR_SOURCE_MAX + CDR_ORIGIN_MAX];
                size_t klen;
                if (in->in_recovering && co->co_found_raw.is_n &&
                    (klen = identity_of(cr, key), idset_has(&co->co_found_raw, key, klen))) {
                    /* published by the run that died (visible: see docs on the mock) */
                } else {
                    rc = coll_pub_record(co->co_pub, cr, dg);
                    if (!rc)
                        crash_point(co, CRASH_RECORD, &co->co_n_records);
                }
                in->in_stats.cs_published++;
            }
        } else if (in->in_replay) {
            continue;
        } else if (en->en_kind == CDR_ITEM_REJECTED) {
            if (!(in->in_recovering && rejset_has(&co->co_found_rej, en->en_index))) {
                char reason[1024];
                cdr_diag_format(&bt->bt_diags[en->en_slot], reason, sizeof reason);
                coll_pub_reject rj = {.rj_file = in->in_name,
                                      .rj_sha256_hex = in->in_hex,
                                      .rj_source = co->co_cfg.cl_coll.cc_source,
                                      .rj_index = en->en_index,
                                      .rj_line = en->en_line,
                                      .rj_offset = en->en_offset,
                                      .rj_reason = reason};
                rc = coll_pub_rejected(co->co_pub, en->en_bytes, en->en_length, &rj, dg);
            }
            in->in_stats.cs_rejected++;
        } else {
            in->in_stats.cs_nonbillable++;
        }
        if (!in->in_replay)
            in->in_stats.cs_read++;
    }
    bt->bt_n = bt->bt_nrec = bt->bt_nrej = 0;
    return rc;
}

/* ---- transactions: one per chunk of items ---------------------------------------------------- */

static void cp_from_input(cdr_collect *co, const coll_input *in, int state, coll_cp *cp)
{
    cp->cp_kind = in->in_stream ? CDR_INPUT_STREAM : CDR_INPUT_FILE;
    cp->cp_state = (uint8_t)state;
    memcpy(cp->cp_hash, in->in_df.df_hash, CDR_SHA256_LEN);
    snprintf(cp->cp_name, sizeof cp->cp_name, "%s", in->in_name);
    cp->cp_next = in->in_next;
    cp->cp_stats = in->in_stats;
    (void)co;
}

/* Commit the open chunk: Kafka (records + checkpoint) first, then LMDB (identities + the same
 * checkpoint + the input's entry). Returns 0, COLL_REDO (Kafka aborted the transaction: redo from
 * the last checkpoint), COLL_STOPPED (committed; stop requested) or an error. */
static int commit_chunk(cdr_collect *co, coll_input *in, int state, cdr_diag *dg)
{
    int rc = batch_flush(co, in, dg);
    if (rc)
        return rc;
    coll_pub *pb = co->co_pub;
    if ((rc = coll_pub_begin(pb, dg)) || (rc = coll_pub_flush(pb, dg)))
        return rc;
    coll_cp cp = {0};
    cp_from_input(co, in, state, &cp);
    cp.cp_seq = ++co->co_seq;
    for (int t = 0; t < 2; t++) {
        cp.cp_nparts[t] = coll_pub_partitions(pb, t);
        cp.cp_off[t] = (int64_t *)coll_pub_scan_offsets(pb, t); /* borrowed for encoding */
    }
    uint8_t *b = malloc(cp_size(&cp));
    if (!b)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    size_t blen = cp_encode(&cp, b);
    rc = coll_pub_checkpoint(pb, b, blen, dg);
    free(b);
    if (rc)
        return rc;
    crash_point(co, CRASH_PRECOMMIT, &co->co_n_precommit);
    if ((rc = coll_pub_commit(pb, dg)) != 0)
        return rc;
    crash_point(co, CRASH_COMMIT, &co->co_n_commit);

    cdr_dedup_file *df = &in->in_df;
    df->df_state = (uint8_t)state;
    df->df_next = in->in_next;
    df->df_stats = in->in_stats;
    if (in->in_max_start > df->df_max_start)
        df->df_max_start = in->in_max_start;
    if (state == CDR_FILE_DONE)
        df->df_finished = (int64_t)time(NULL);
    if ((rc = cdr_dedup_file_put(co->co_dd, df, dg)) || (rc = cp_store(co, &cp, dg)) ||
        (rc = cdr_dedup_commit(co->co_dd, dg))) {
        /* Kafka has the chunk, LMDB not: the next start replays it (docs/collectors.md) */
        cdr_dedup_abort(co->co_dd);
        return rc;
    }
    crash_point(co, CRASH_LMDB, &co->co_n_lmdb);
    if (cp_copy(&co->co_cp, &cp) != 0) /* copies the offsets borrowed from the publisher */
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    in->in_chunk_n = 0;
    if (state == CDR_FILE_INPROGRESS && is_stopped(co))
        return COLL_STOPPED;
    return 0;
}

static int emit_item(void *arg, const cdr_coll_item *ci);

typedef struct emit_ctx {
    cdr_collect *ec_co;
    coll_input *ec_in;
    const uint8_t *ec_buf; /* what the decoder was given */
    cdr_diag *ec_dg;
} emit_ctx;

static int emit_item(void *arg, const cdr_coll_item *ci)
{
    emit_ctx *ec = arg;
    cdr_collect *co = ec->ec_co;
    coll_input *in = ec->ec_in;
    const uint64_t index = ci->ci_index + in->in_base_index;
    if (index < in->in_skip)
        return 0;
    if (in->in_replay && index >= in->in_replay_end)
        return COLL_REPLAY_END;
    coll_batch *bt = &co->co_bt;
    coll_ent *en = &bt->bt_ents[bt->bt_n++];
    en->en_kind = ci->ci_kind;
    en->en_index = index;
    en->en_line = ci->ci_line ? ci->ci_line + in->in_base_line : 0;
    en->en_offset = ci->ci_offset + in->in_base_offset;
    en->en_length = ci->ci_length;
    en->en_bytes = ec->ec_buf + ci->ci_offset;
    if (ci->ci_kind == CDR_ITEM_RECORD) {
        en->en_slot = (uint32_t)bt->bt_nrec;
        bt->bt_recs[bt->bt_nrec] = ci->ci_rec;
        bt->bt_items[bt->bt_nrec] = (cdr_dedup_item){
            .di_rec = &bt->bt_recs[bt->bt_nrec], .di_index = index, .di_line = en->en_line};
        bt->bt_nrec++;
    } else if (ci->ci_kind == CDR_ITEM_REJECTED) {
        en->en_slot = (uint32_t)bt->bt_nrej;
        bt->bt_diags[bt->bt_nrej] = ci->ci_diag;
        if (ci->ci_line && in->in_base_line)
            bt->bt_diags[bt->bt_nrej].dg_line = (int)en->en_line;
        bt->bt_nrej++;
    }
    in->in_next = index + 1;
    int rc = 0;
    if (bt->bt_n == BATCH_MAX)
        rc = batch_flush(co, in, ec->ec_dg);
    if (!rc && !in->in_replay && ++in->in_chunk_n >= co->co_cfg.cl_chunk && !in->in_stream)
        rc = commit_chunk(co, in, CDR_FILE_INPROGRESS, ec->ec_dg);
    return rc;
}

/* ---- recovery -------------------------------------------------------------------------------- */

typedef struct kcp_ctx {
    const char *kc_tid;
    coll_cp kc_cp;
    int kc_found;
} kcp_ctx;

static int kcp_msg(void *arg, const cdr_kafka_msg *km)
{
    kcp_ctx *kc = arg;
    size_t tl = strlen(kc->kc_tid);
    if (km->km_key_len != tl || memcmp(km->km_key, kc->kc_tid, tl))
        return 0;
    coll_cp cp;
    if (cp_decode(km->km_value, km->km_value_len, &cp))
        return 0;
    if (!kc->kc_found || cp.cp_seq >= kc->kc_cp.cp_seq) {
        cp_free(&kc->kc_cp);
        kc->kc_cp = cp;
        kc->kc_found = 1;
    } else {
        cp_free(&cp);
    }
    return 0;
}

typedef struct gap_ctx {
    cdr_collect *gc_co;
    int gc_rejected;
    const char *gc_hex; /* the input being recovered */
    int gc_err;
} gap_ctx;

static int gap_msg(void *arg, const cdr_kafka_msg *km)
{
    gap_ctx *gc = arg;
    cdr_collect *co = gc->gc_co;
    if (!gc->gc_rejected) {
        cdr_record cr;
        char key[CDR_SOURCE_MAX + CDR_ORIGIN_MAX];
        if (cdr_wire_decode(km->km_value, km->km_value_len, &cr, NULL) == 0)
            gc->gc_err = idset_add(&co->co_found_raw, key, identity_of(&cr, key));
    } else {
        char hex[2 * CDR_SHA256_LEN + 1], idx[32];
        if (cdr_kafka_msg_header(km, CDR_HDR_SHA256, hex, sizeof hex) && !strcmp(hex, gc->gc_hex) &&
            cdr_kafka_msg_header(km, CDR_HDR_INDEX, idx, sizeof idx)) {
            coll_rejset *rs = &co->co_found_rej;
            if (rs->rs_n == rs->rs_cap) {
                size_t cap = rs->rs_cap ? 2 * rs->rs_cap : 256;
                uint64_t *p = realloc(rs->rs_index, cap * sizeof *p);
                if (!p)
                    return gc->gc_err = CDR_ENOMEM;
                rs->rs_index = p;
                rs->rs_cap = cap;
            }
            rs->rs_index[rs->rs_n++] = strtoull(idx, NULL, 10);
        }
    }
    return gc->gc_err;
}

/* Read cdr.raw and cdr.rejected beyond the last checkpoint's scan offsets: what is there from the
 * input in progress was published by a transaction that did not commit but is visible (the mock
 * cluster keeps aborted transactions visible; a real broker hides them from read_committed and
 * this finds nothing). Retries while the brokers are away. */
static int gap_scan(cdr_collect *co, const char *hex, cdr_diag *dg)
{
    idset_clear(&co->co_found_raw);
    co->co_found_rej.rs_n = 0;
    for (int t = 0; t < 2; t++) {
        gap_ctx gc = {.gc_co = co, .gc_rejected = t, .gc_hex = hex};
        int rc;
        while ((rc = cdr_kafka_read_topic(co->co_brokers, coll_pub_topic(co->co_pub, t),
                                          co->co_cp.cp_off[t], co->co_cp.cp_nparts[t], 30000,
                                          gap_msg, &gc, dg)) == CDR_KAFKA &&
               !is_stopped(co))
            co_warn(co, "recovery: %s; retrying", dg ? dg->dg_msg : "Kafka unreachable");
        if (rc)
            return rc;
    }
    if (co->co_found_rej.rs_n > 1)
        qsort(co->co_found_rej.rs_index, co->co_found_rej.rs_n, sizeof(uint64_t), u64_cmp);
    int rc = idset_sort(&co->co_found_raw);
    if (rc)
        return cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    if (co->co_found_raw.is_n || co->co_found_rej.rs_n)
        co_warn(co,
                "recovery: %zu records and %zu rejections after the last checkpoint are on "
                "Kafka already; they are not published again",
                co->co_found_raw.is_n, co->co_found_rej.rs_n);
    return 0;
}

/* A spool file read into memory: what is hashed is what is decoded and published, whatever the
 * file does afterwards. */
typedef struct coll_map {
    uint8_t *mp_buf; /* NULL for an empty file */
    size_t mp_len;
    struct stat mp_st; /* before the read (equal to after it) */
} coll_map;

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read a spool file whole. Returns 0; CDR_NOTFOUND (gone, or not a regular file); COLL_CHANGED
 * (its size or mtime differ after the read from before it, or it grew: a writer is at work,
 * nothing was kept); CDR_EIO or CDR_ENOMEM with the reason. */
static int load_file(const cdr_collect *co, const char *path, coll_map *mp, cdr_diag *dg)
{
    memset(mp, 0, sizeof *mp);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return CDR_NOTFOUND;
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    struct stat after;
    if (fstat(fd, &mp->mp_st) != 0) {
        int e = errno;
        close(fd);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(mp->mp_st.st_mode)) {
        close(fd);
        return CDR_NOTFOUND; /* directories (done/, failed/, .store) and the like */
    }
    const size_t len = (size_t)mp->mp_st.st_size;
    uint8_t *buf = len ? malloc(len) : NULL;
    if (len && !buf) {
        close(fd);
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory (%zu bytes)", len);
    }
    size_t got = 0;
    int e = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (co && co->co_cfg.cl_read_hook)
        co->co_cfg.cl_read_hook(co->co_cfg.cl_read_hook_arg, path);
    uint8_t more;
    ssize_t grew = e || got < len ? 0 : read(fd, &more, 1);
    int changed = got < len || grew > 0 || fstat(fd, &after) != 0 || !same_stat(&mp->mp_st, &after);
    close(fd);
    if (e) {
        free(buf);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot read: %s", strerror(e));
    }
    if (changed) {
        free(buf);
        return COLL_CHANGED;
    }
    mp->mp_buf = buf;
    mp->mp_len = len;
    return 0;
}

static void unmap_file(coll_map *mp)
{
    free(mp->mp_buf);
    mp->mp_buf = NULL;
    mp->mp_len = 0;
}

static void spool_path(const cdr_collect *co, const char *sub, const char *name, char *buf,
                       size_t bufsize)
{
    if (sub)
        snprintf(buf, bufsize, "%s/%s/%s", co->co_cfg.cl_spool, sub, name);
    else
        snprintf(buf, bufsize, "%s/%s", co->co_cfg.cl_spool, name);
}

/* Decode an input with the handlers above. Returns 0 or what emit returned. */
static int decode_input(cdr_collect *co, coll_input *in, const uint8_t *buf, size_t len,
                        cdr_diag *dg)
{
    emit_ctx ec = {.ec_co = co, .ec_in = in, .ec_buf = buf, .ec_dg = dg};
    int rc = cdr_coll_decode(co->co_dec, in->in_name, buf, len, emit_item, &ec);
    if (rc == COLL_REPLAY_END)
        rc = 0;
    if (!rc)
        rc = batch_flush(co, in, dg);
    else
        co->co_bt.bt_n = co->co_bt.bt_nrec = co->co_bt.bt_nrej = 0;
    return rc;
}

/* Kafka committed a checkpoint LMDB does not have (the process died between the two commits):
 * re-record the identities of the items it covers, from where LMDB stands, without publishing,
 * and store that checkpoint. */
static int replay_ahead(cdr_collect *co, const coll_cp *kcp, cdr_diag *dg)
{
    int rc;
    cdr_dedup_file df;
    rc = cdr_dedup_file_get(co->co_dd, kcp->cp_hash, &df, dg);
    if (rc == CDR_NOTFOUND)
        rc = cdr_dedup_file_add(co->co_dd, kcp->cp_hash, kcp->cp_name, kcp->cp_kind, 0, &df, dg);
    if (rc)
        return rc;
    uint64_t from = df.df_next < kcp->cp_next ? df.df_next : kcp->cp_next;
    coll_input in = {.in_df = df, .in_name = kcp->cp_name};
    cdr_coll_hex(kcp->cp_hash, CDR_SHA256_LEN, in.in_hex);
    if (kcp->cp_kind == CDR_INPUT_STREAM) {
        co_warn(co,
                "recovery: the stream %s had records %" PRIu64 "..%" PRIu64
                " committed on Kafka but not in the store: their identities cannot be re-read "
                "from a stream and are missing from de-duplication",
                kcp->cp_name, from, kcp->cp_next);
    } else if (from < kcp->cp_next) {
        char path[8192];
        spool_path(co, NULL, kcp->cp_name, path, sizeof path);
        coll_map mp;
        int mrc = load_file(NULL, path, &mp, dg);
        uint8_t h[CDR_SHA256_LEN];
        if (mrc == 0)
            cdr_coll_sha256(mp.mp_buf, mp.mp_len, h);
        if (mrc != 0 || memcmp(h, kcp->cp_hash, CDR_SHA256_LEN)) {
            co_warn(co,
                    "recovery: %s is no longer in the spool: the identities of its records "
                    "%" PRIu64 "..%" PRIu64 " (on Kafka) are missing from de-duplication",
                    kcp->cp_name, from, kcp->cp_next);
        } else {
            in.in_replay = 1;
            in.in_skip = from;
            in.in_replay_end = kcp->cp_next;
            rc = decode_input(co, &in, mp.mp_buf, mp.mp_len, dg);
        }
        if (mrc == 0)
            unmap_file(&mp);
        if (rc)
            return rc;
    }
    df = in.in_df;
    df.df_state = kcp->cp_state;
    df.df_next = kcp->cp_next;
    df.df_stats = kcp->cp_stats;
    if (in.in_max_start > df.df_max_start)
        df.df_max_start = in.in_max_start;
    if (kcp->cp_state == CDR_FILE_DONE && !df.df_finished)
        df.df_finished = (int64_t)time(NULL);
    if ((rc = cdr_dedup_file_put(co->co_dd, &df, dg)) || (rc = cp_store(co, kcp, dg)))
        return rc;
    return cdr_dedup_commit(co->co_dd, dg);
}

static int recover(cdr_collect *co, int embedded, cdr_diag *dg)
{
    coll_cp lcp = {0};
    int rc = cp_load(co, &lcp, dg);
    int have_l = rc == 0;
    if (rc && rc != CDR_NOTFOUND)
        return rc;
    cdr_dedup_abort(co->co_dd);

    kcp_ctx kc = {.kc_tid = co->co_tid};
    rc = cdr_kafka_read_topic(co->co_brokers, coll_pub_topic(co->co_pub, PUB_CHECKPOINTS), NULL, 0,
                              co->co_cfg.cl_connect_timeout_ms, kcp_msg, &kc, dg);
    if (rc) {
        cp_free(&lcp);
        cp_free(&kc.kc_cp);
        return rc;
    }
    if (kc.kc_found && (!have_l || kc.kc_cp.cp_seq > lcp.cp_seq)) {
        if (have_l && kc.kc_cp.cp_seq > lcp.cp_seq + 1)
            co_warn(co, "recovery: Kafka is %" PRIu64 " checkpoints ahead of the store",
                    kc.kc_cp.cp_seq - lcp.cp_seq);
        co_warn(co, "recovery: completing checkpoint %" PRIu64 " of %s (committed on Kafka)",
                kc.kc_cp.cp_seq, kc.kc_cp.cp_name);
        rc = replay_ahead(co, &kc.kc_cp, dg);
        if (!rc)
            rc = cp_copy(&co->co_cp, &kc.kc_cp);
    } else if (have_l) {
        if (!embedded && (!kc.kc_found || kc.kc_cp.cp_seq < lcp.cp_seq))
            co_warn(co,
                    "recovery: the store is at checkpoint %" PRIu64 " but Kafka only has %" PRIu64
                    " (topic %s recreated?): continuing from the store",
                    lcp.cp_seq, kc.kc_found ? kc.kc_cp.cp_seq : 0,
                    coll_pub_topic(co->co_pub, PUB_CHECKPOINTS));
        rc = cp_copy(&co->co_cp, &lcp);
    } else {
        /* first run: scanning for the next checkpoint starts at today's end of the topics */
        coll_cp cp = {0};
        for (int t = 0; t < 2 && !rc; t++) {
            cp.cp_nparts[t] = coll_pub_partitions(co->co_pub, t);
            cp.cp_off[t] = calloc((size_t)cp.cp_nparts[t], sizeof(int64_t));
            rc = cp.cp_off[t]
                     ? coll_pub_high_watermarks(co->co_pub, t, cp.cp_off[t], cp.cp_nparts[t], dg)
                     : CDR_ENOMEM;
        }
        if (!rc && !(rc = cp_store(co, &cp, dg)) && !(rc = cdr_dedup_commit(co->co_dd, dg)))
            rc = cp_copy(&co->co_cp, &cp);
        cp_free(&cp);
    }
    co->co_seq = co->co_cp.cp_seq;
    if (kc.kc_found && kc.kc_cp.cp_seq > co->co_seq)
        co->co_seq = kc.kc_cp.cp_seq;
    cp_free(&lcp);
    cp_free(&kc.kc_cp);
    if (rc)
        return rc == CDR_ENOMEM ? cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory") : rc;
    for (int t = 0; t < 2; t++)
        coll_pub_set_scan_offsets(co->co_pub, t, co->co_cp.cp_off[t], co->co_cp.cp_nparts[t]);

    if (co->co_cp.cp_state == CDR_FILE_INPROGRESS && co->co_cp.cp_kind == CDR_INPUT_FILE) {
        co->co_resume = 1;
        char hex[2 * CDR_SHA256_LEN + 1];
        rc = gap_scan(co, cdr_coll_hex(co->co_cp.cp_hash, CDR_SHA256_LEN, hex), dg);
    } else if (co->co_cp.cp_state == CDR_FILE_INPROGRESS && co->co_cp.cp_kind == CDR_INPUT_STREAM) {
        cdr_dedup_file df;
        co_warn(co,
                "recovery: the stream %s stopped after %" PRIu64
                " records; what it had not read is lost",
                co->co_cp.cp_name, co->co_cp.cp_next);
        if (cdr_dedup_file_get(co->co_dd, co->co_cp.cp_hash, &df, dg) == 0) {
            df.df_state = CDR_FILE_MOVED;
            rc = cdr_dedup_file_put(co->co_dd, &df, dg);
        }
        co->co_cp.cp_state = CDR_FILE_DONE;
        if (!rc && !(rc = cp_store(co, &co->co_cp, dg)))
            rc = cdr_dedup_commit(co->co_dd, dg);
    }
    cdr_dedup_abort(co->co_dd);
    return rc;
}

/* ---- open / close ---------------------------------------------------------------------------- */

int cdr_collect_open(const cdr_collect_config *cl, cdr_collect_report_fn report, void *arg,
                     cdr_collect **out, cdr_diag *dg)
{
    *out = NULL;
    if (!cl || !cl->cl_brokers[0] || cl->cl_chunk == 0 || !cl->cl_coll.cc_source[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "collect: brokers, source and a chunk "
                            "size are required");
    if (!cl->cl_store[0] && !cl->cl_spool[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: a store or a spool is required");
    if (strnlen(cl->cl_topic_prefix, sizeof cl->cl_topic_prefix) == sizeof cl->cl_topic_prefix)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: topic prefix not terminated");
    if (cdr_collect_prefix_check(cl->cl_topic_prefix, dg))
        return CDR_EINVAL;
    if (cl->cl_settle_ms < 0 || (cl->cl_hold && !cl->cl_spool[0]))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "collect: a negative settle time, or hold without a spool");
    cdr_collect *co = calloc(1, sizeof *co);
    if (!co)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    co->co_cfg = *cl;
    if (!co->co_cfg.cl_log)
        co->co_cfg.cl_log = stderr;
    co->co_report = report;
    co->co_report_arg = arg;
    crash_parse(co);
    snprintf(co->co_tid, sizeof co->co_tid, "%scdrate-collect.%s", cl->cl_topic_prefix,
             cl->cl_coll.cc_source);
    snprintf(co->co_cpkey, sizeof co->co_cpkey, "cp:%s", co->co_tid);

    co->co_owner_ix = malloc(BATCH_MAX * sizeof *co->co_owner_ix);
    int rc = batch_alloc(&co->co_bt) || !co->co_owner_ix
                 ? cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory")
                 : 0;
    if (!rc)
        rc = cdr_coll_decoder_create(cl->cl_format, &cl->cl_coll, &co->co_dec, dg);
    if (!rc && cl->cl_spool[0]) {
        char path[8192];
        struct stat st;
        if (stat(cl->cl_spool, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = cdr_diag_set(dg, CDR_EIO, cl->cl_spool, 0, 0, "spool is not a directory");
        for (int i = 0; i < 2 && !rc; i++) {
            spool_path(co, NULL, i ? "failed" : "done", path, sizeof path);
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
        }
    }
    if (!rc) {
        char store[8192];
        if (cl->cl_store[0])
            snprintf(store, sizeof store, "%s", cl->cl_store);
        else
            spool_path(co, NULL, ".store", store, sizeof store);
        rc = cdr_store_open(store, 0, &co->co_st, dg);
    }
    if (!rc)
        rc = cdr_dedup_open(co->co_st, cl->cl_dedup_window, &co->co_dd, dg);
    int embedded = !strcmp(cl->cl_brokers, "embedded");
    if (!rc && embedded) {
        rc = cdr_kafka_mock_create(3, &co->co_mock, dg);
        /* cdr.raw with the partitions asked for; the other two are auto-created by the mock
         * (4 partitions) when the producer first asks for them: each explicit creation can
         * wait up to a second for the mock cluster's thread to wake up (librdkafka 2.0) */
        char raw[PUB_TOPIC_MAX];
        snprintf(raw, sizeof raw, "%s%s", cl->cl_topic_prefix, CDR_TOPIC_RAW);
        if (!rc)
            rc = cdr_kafka_mock_topic_create(co->co_mock, raw,
                                             cl->cl_partitions > 0 ? cl->cl_partitions : 6, dg);
        if (!rc)
            snprintf(co->co_brokers, sizeof co->co_brokers, "%s",
                     cdr_kafka_mock_bootstraps(co->co_mock));
    } else if (!rc) {
        snprintf(co->co_brokers, sizeof co->co_brokers, "%s", cl->cl_brokers);
    }
    if (!rc) {
        coll_pub_config pc = {.pc_brokers = co->co_brokers,
                              .pc_transactional_id = co->co_tid,
                              .pc_topic_prefix = cl->cl_topic_prefix,
                              .pc_connect_timeout_ms = cl->cl_connect_timeout_ms,
                              .pc_quiet = cl->cl_quiet,
                              .pc_log = co->co_cfg.cl_log};
        rc = coll_pub_create(&pc, &co->co_pub, dg);
    }
    if (!rc)
        rc = recover(co, embedded, dg);
    if (!rc && cl->cl_hold)
        rc = cdr_dedup_hold_begin(co->co_dd, dg);
    if (rc) {
        cdr_collect_close(co);
        return rc;
    }
    *out = co;
    return 0;
}

static void pend_clear(cdr_collect *co);

void cdr_collect_close(cdr_collect *co)
{
    if (!co)
        return;
    coll_pub_destroy(co->co_pub);
    cdr_kafka_mock_destroy(co->co_mock);
    cdr_dedup_close(co->co_dd);
    cdr_store_close(co->co_st);
    cdr_coll_decoder_destroy(co->co_dec);
    cp_free(&co->co_cp);
    idset_clear(&co->co_found_raw);
    free(co->co_found_rej.rs_index);
    batch_free(&co->co_bt);
    free(co->co_owner_ix);
    pend_clear(co);
    free(co->co_seen);
    free(co->co_pend);
    free(co->co_held);
    free(co);
}

/* ---- moving files ---------------------------------------------------------------------------- */

/* Put spool/name into sub/ under a name not taken by another file; the final path goes to dest.
 * A crash in between leaves both links; a second call completes the move. */
static int move_into(cdr_collect *co, const char *sub, const char *name, char *dest,
                     size_t destsize, cdr_diag *dg)
{
    char src[8192];
    spool_path(co, NULL, name, src, sizeof src);
    struct stat sst;
    if (stat(src, &sst) != 0)
        return cdr_diag_set(dg, CDR_EIO, src, 0, 0, "cannot stat: %s", strerror(errno));
    for (int i = 0; i < 1000; i++) {
        char leaf[600];
        if (i == 0)
            snprintf(leaf, sizeof leaf, "%s", name);
        else
            snprintf(leaf, sizeof leaf, "%s.%d", name, i);
        spool_path(co, sub, leaf, dest, destsize);
        if (link(src, dest) == 0)
            break;
        if (errno != EEXIST) { /* e.g. a file system without hard links */
            if (rename(src, dest) != 0)
                return cdr_diag_set(dg, CDR_EIO, dest, 0, 0, "cannot move %s: %s", src,
                                    strerror(errno));
            return 0;
        }
        struct stat dst;
        if (stat(dest, &dst) == 0 && dst.st_ino == sst.st_ino && dst.st_dev == sst.st_dev)
            break; /* linked by an interrupted earlier attempt */
        if (i == 999)
            return cdr_diag_set(dg, CDR_EIO, dest, 0, 0, "no free name in %s/", sub);
    }
    if (unlink(src) != 0)
        return cdr_diag_set(dg, CDR_EIO, src, 0, 0, "cannot unlink: %s", strerror(errno));
    int dfd = -1;
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/%s", co->co_cfg.cl_spool, sub);
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Report an input and count it in the totals (count == 0: counted before, when it was held). */
static void report_input(cdr_collect *co, const char *name, int status, const cdr_coll_stats *cs,
                         const char *moved, const char *msg, int count)
{
    cdr_collect_report fr = {.fr_name = name, .fr_status = status, .fr_moved_to = moved};
    if (cs)
        fr.fr_stats = *cs;
    if (msg)
        snprintf(fr.fr_msg, sizeof fr.fr_msg, "%s", msg);
    if (!count) {
    } else if (status == CDR_COLLECT_DONE || status == CDR_COLLECT_HELD) {
        co->co_files++;
        co->co_totals.cs_read += fr.fr_stats.cs_read;
        co->co_totals.cs_published += fr.fr_stats.cs_published;
        co->co_totals.cs_rejected += fr.fr_stats.cs_rejected;
        co->co_totals.cs_duplicate += fr.fr_stats.cs_duplicate;
        co->co_totals.cs_nonbillable += fr.fr_stats.cs_nonbillable;
    } else if (status == CDR_COLLECT_REFUSED) {
        co->co_refused++;
    } else {
        co->co_failed++;
    }
    if (co->co_report)
        co->co_report(co->co_report_arg, &fr);
}

static void put_report(cdr_collect *co, const char *name, int status, const cdr_coll_stats *cs,
                       const char *moved, const char *msg)
{
    report_input(co, name, status, cs, moved, msg, 1);
}

/* Move a file that cannot be published to failed/ with NAME.error. */
static int fail_file(cdr_collect *co, const char *name, int status, const char *msg, cdr_diag *dg)
{
    char path[8192], tmp[8300], dest[8192];
    snprintf(tmp, sizeof tmp, "%s/failed/.%s.error.tmp", co->co_cfg.cl_spool, name);
    spool_path(co, "failed", name, path, sizeof path);
    strncat(path, ".error", sizeof path - strlen(path) - 1);
    FILE *f = fopen(tmp, "w");
    if (f) {
        time_t now = time(NULL);
        struct tm tm;
        char when[32];
        gmtime_r(&now, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "%s: %s\n%s: %s\n", when, name,
                status == CDR_COLLECT_REFUSED ? "refused" : "failed", msg);
        if (fclose(f) == 0)
            rename(tmp, path);
    }
    int rc = move_into(co, "failed", name, dest, sizeof dest, dg);
    put_report(co, name, status, NULL, rc ? NULL : dest, msg);
    return rc;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The file in the spool is no longer the one read (snap): it changed after it was read. */
static int changed_since(cdr_collect *co, const char *name, const struct stat *snap)
{
    char src[8192];
    struct stat now;
    spool_path(co, NULL, name, src, sizeof src);
    return snap && stat(src, &now) == 0 && !same_stat(snap, &now);
}

/* An input whose every record is committed: write its duplicate report, move it to done/, mark
 * it moved (then a file with the same content is refused) and report it (counted in the totals
 * unless it was when held). snap (may be NULL): the file as it was read; when the spool's file
 * is no longer that, it is left in the spool, reported without a move, and COLL_NOT_READY is
 * returned: its new content is read again once settled (what was published is then found to
 * be duplicates). */
static int finish_file(cdr_collect *co, cdr_dedup_file *df, const char *name,
                       const struct stat *snap, int count, cdr_diag *dg)
{
    crash_point(co, CRASH_MOVE, &co->co_n_move);
    if (changed_since(co, name, snap)) {
        co_warn(co,
                "%s changed after it was read (%lld bytes then): its records are published; it "
                "stays in the spool and is read again once settled",
                name, (long long)snap->st_size);
        df->df_state = CDR_FILE_MOVED; /* the content read is ingested: refused if sent again */
        int64_t nd;
        int rc = 0;
        if ((nd = dup_report(co, df->df_hash, NULL, 1, dg)) < 0 ||
            (rc = cdr_dedup_file_put(co->co_dd, df, dg)) ||
            (rc = cdr_dedup_commit(co->co_dd, dg))) {
            cdr_dedup_abort(co->co_dd);
            return rc ? rc : (int)nd;
        }
        report_input(co, name, CDR_COLLECT_DONE, &df->df_stats, NULL,
                     "changed after it was read: left in the spool", count);
        co->co_wait_ms = (uint64_t)co->co_cfg.cl_settle_ms;
        return COLL_NOT_READY;
    }
    char rpath[8192], dest[8192];
    spool_path(co, "done", name, rpath, sizeof rpath);
    strncat(rpath, ".duplicates", sizeof rpath - strlen(rpath) - 1);
    int64_t ndup = dup_report(co, df->df_hash, rpath, 0, dg);
    cdr_dedup_abort(co->co_dd);
    if (ndup < 0)
        return (int)ndup;
    char src[8192];
    spool_path(co, NULL, name, src, sizeof src);
    int rc = 0;
    if (access(src, F_OK) != 0 && errno == ENOENT) { /* taken away meanwhile: nothing to move */
        co_warn(co, "%s: no longer in the spool; its records are all committed", name);
        snprintf(dest, sizeof dest, "%s", src);
    } else if ((rc = move_into(co, "done", name, dest, sizeof dest, dg)) != 0) {
        return rc;
    }
    df->df_state = CDR_FILE_MOVED;
    if ((rc = cdr_dedup_file_put(co->co_dd, df, dg)) ||
        (ndup = dup_report(co, df->df_hash, NULL, 1, dg)) < 0 ||
        (rc = cdr_dedup_prune_files(co->co_dd, NULL, dg)) ||
        (rc = cdr_dedup_commit(co->co_dd, dg))) {
        cdr_dedup_abort(co->co_dd);
        return rc ? rc : (int)ndup;
    }
    report_input(co, name, CDR_COLLECT_DONE, &df->df_stats, dest, NULL, count);
    return 0;
}

/* Is there a file in done/ with this content (the first delivery of a re-delivered file)? */
static int done_has_copy(cdr_collect *co, const char *name, const coll_map *mp)
{
    for (int i = 0; i < 1000; i++) {
        char leaf[600], path[8192];
        if (i == 0)
            snprintf(leaf, sizeof leaf, "%s", name);
        else
            snprintf(leaf, sizeof leaf, "%s.%d", name, i);
        spool_path(co, "done", leaf, path, sizeof path);
        struct stat st;
        if (stat(path, &st) != 0)
            return 0;
        if (st.st_ino == mp->mp_st.st_ino && st.st_dev == mp->mp_st.st_dev)
            return 2; /* the same file, linked by an interrupted move */
        if ((size_t)st.st_size != mp->mp_len)
            continue;
        coll_map other;
        if (load_file(NULL, path, &other, NULL) != 0)
            continue;
        int same = other.mp_len == mp->mp_len &&
                   (mp->mp_len == 0 || !memcmp(other.mp_buf, mp->mp_buf, mp->mp_len));
        unmap_file(&other);
        if (same)
            return 1;
    }
    return 0;
}

/* ---- one file -------------------------------------------------------------------------------- */

static int eligible(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && name[0] != '.' && !(n >= 4 && !strcmp(name + n - 4, ".tmp"));
}

/* Publish one input from in->in_skip, redoing from the last checkpoint when Kafka aborts. */
static int publish_input(cdr_collect *co, coll_input *in, const uint8_t *buf, size_t len,
                         cdr_diag *dg)
{
    for (;;) {
        in->in_next = in->in_skip;
        in->in_chunk_n = 0;
        int rc = decode_input(co, in, buf, len, dg);
        if (!rc)
            rc = commit_chunk(co, in, CDR_FILE_DONE, dg);
        if (rc != COLL_REDO)
            return rc;
        /* Kafka aborted the transaction: forget the chunk, restart from the last checkpoint */
        cdr_dedup_abort(co->co_dd);
        coll_pub_abort(co->co_pub, NULL);
        if (co->co_cp.cp_kind != in->in_df.df_kind ||
            memcmp(co->co_cp.cp_hash, in->in_df.df_hash, CDR_SHA256_LEN))
            return cdr_diag_set(dg, CDR_KAFKA, in->in_name, 0, 0,
                                "aborted before its first checkpoint");
        in->in_skip = co->co_cp.cp_next;
        in->in_stats = co->co_cp.cp_stats;
        for (int t = 0; t < 2; t++)
            coll_pub_set_scan_offsets(co->co_pub, t, co->co_cp.cp_off[t], co->co_cp.cp_nparts[t]);
        if ((rc = gap_scan(co, in->in_hex, dg)) != 0)
            return rc;
        in->in_recovering = 1;
    }
}

/* The local checkpoint that says "this input has started" (before anything is produced), so that
 * a restart resumes it first. */
static int start_input(cdr_collect *co, coll_input *in, cdr_diag *dg)
{
    coll_cp cp = {0};
    cp.cp_seq = co->co_seq;
    cp_from_input(co, in, CDR_FILE_INPROGRESS, &cp);
    cp.cp_next = in->in_skip;
    for (int t = 0; t < 2; t++) {
        cp.cp_nparts[t] = co->co_cp.cp_nparts[t];
        cp.cp_off[t] = co->co_cp.cp_off[t];
    }
    int rc = cp_store(co, &cp, dg);
    if (!rc)
        rc = cdr_dedup_commit(co->co_dd, dg);
    if (rc) {
        cdr_dedup_abort(co->co_dd);
        return rc;
    }
    cp.cp_off[0] = cp.cp_off[1] = NULL;
    int64_t *o0 = co->co_cp.cp_off[0], *o1 = co->co_cp.cp_off[1];
    int n0 = co->co_cp.cp_nparts[0], n1 = co->co_cp.cp_nparts[1];
    co->co_cp = cp;
    co->co_cp.cp_off[0] = o0, co->co_cp.cp_off[1] = o1;
    co->co_cp.cp_nparts[0] = n0, co->co_cp.cp_nparts[1] = n1;
    return 0;
}

/* ---- complete files only -----------------------------------------------------------------------
 */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void seen_forget(cdr_collect *co, const char *name)
{
    for (size_t i = 0; i < co->co_nseen; i++)
        if (!strcmp(co->co_seen[i].se_name, name)) {
            free(co->co_seen[i].se_name);
            co->co_seen[i] = co->co_seen[--co->co_nseen];
            return;
        }
}

/* Has spool/name settled: size and mtime unchanged for cl_settle_ms? Its mtime that old says so at
 * once; otherwise the collector's own observation does (a clock ahead of ours, a file system with
 * odd times). 1 = settled (or gone, or not a regular file: process_file sorts that out), 0 = not
 * yet, with co_wait_ms set to when it may be. */
static int settled(cdr_collect *co, const char *name)
{
    const int64_t settle = co->co_cfg.cl_settle_ms;
    if (settle <= 0)
        return 1;
    char path[8192];
    spool_path(co, NULL, name, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        seen_forget(co, name);
        return 1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const int64_t age = ((int64_t)now.tv_sec - (int64_t)st.st_mtim.tv_sec) * 1000 +
                        ((int64_t)now.tv_nsec - (int64_t)st.st_mtim.tv_nsec) / 1000000;
    if (age >= settle) {
        seen_forget(co, name);
        return 1;
    }
    const uint64_t t = mono_ms();
    coll_seen *se = NULL;
    for (size_t i = 0; i < co->co_nseen && !se; i++)
        if (!strcmp(co->co_seen[i].se_name, name))
            se = &co->co_seen[i];
    if (se && se->se_size == st.st_size && se->se_ino == st.st_ino &&
        se->se_mtime.tv_sec == st.st_mtim.tv_sec && se->se_mtime.tv_nsec == st.st_mtim.tv_nsec) {
        if (t - se->se_since_ms >= (uint64_t)settle) {
            seen_forget(co, name);
            return 1;
        }
    } else {
        if (!se && co->co_nseen == co->co_capseen) {
            size_t cap = co->co_capseen ? 2 * co->co_capseen : 16;
            coll_seen *p = realloc(co->co_seen, cap * sizeof *p);
            if (!p) { /* no room to remember it: its mtime alone decides */
                co->co_wait_ms = (uint64_t)(age < 0 ? settle : settle - age);
                return 0;
            }
            co->co_seen = p;
            co->co_capseen = cap;
        }
        if (!se) {
            se = &co->co_seen[co->co_nseen];
            if (!(se->se_name = strdup(name))) {
                co->co_wait_ms = (uint64_t)(age < 0 ? settle : settle - age);
                return 0;
            }
            co->co_nseen++;
        }
        se->se_size = st.st_size;
        se->se_ino = st.st_ino;
        se->se_mtime = st.st_mtim;
        se->se_since_ms = t;
    }
    uint64_t by_seen = se->se_since_ms + (uint64_t)settle - t;
    uint64_t by_mtime = age < 0 ? by_seen : (uint64_t)(settle - age);
    co->co_wait_ms = (by_mtime < by_seen ? by_mtime : by_seen) + 1;
    return 0;
}

/* Remember name to try again after co_wait_ms (a later due time replaces an earlier one). */
static int pend_add(cdr_collect *co, const char *name, cdr_diag *dg)
{
    const uint64_t due = mono_ms() + co->co_wait_ms;
    for (size_t i = 0; i < co->co_npend; i++)
        if (!strcmp(co->co_pend[i].pd_name, name)) {
            co->co_pend[i].pd_due_ms = due;
            return 0;
        }
    if (co->co_npend == co->co_cappend) {
        size_t cap = co->co_cappend ? 2 * co->co_cappend : 16;
        coll_pending *p = realloc(co->co_pend, cap * sizeof *p);
        if (!p)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        co->co_pend = p;
        co->co_cappend = cap;
    }
    if (!(co->co_pend[co->co_npend].pd_name = strdup(name)))
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    co->co_pend[co->co_npend++].pd_due_ms = due;
    return 0;
}

static void pend_clear(cdr_collect *co)
{
    for (size_t i = 0; i < co->co_npend; i++)
        free(co->co_pend[i].pd_name);
    co->co_npend = 0;
    for (size_t i = 0; i < co->co_nseen; i++)
        free(co->co_seen[i].se_name);
    co->co_nseen = 0;
}

/* Milliseconds until the first pending file is due (0 = one is due now), or -1 when none. */
static int64_t pend_next(const cdr_collect *co)
{
    if (!co->co_npend)
        return -1;
    const uint64_t t = mono_ms();
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < co->co_npend; i++)
        if (co->co_pend[i].pd_due_ms < first)
            first = co->co_pend[i].pd_due_ms;
    return first <= t ? 0 : (int64_t)(first - t);
}

static int process_file(cdr_collect *co, const char *name, int at_once, cdr_diag *dg);

/* Try the pending files that are due, in name order. */
static int pend_run(cdr_collect *co, cdr_diag *dg)
{
    const uint64_t t = mono_ms();
    char **due = NULL;
    size_t n = 0;
    for (size_t i = 0; i < co->co_npend;) {
        if (co->co_pend[i].pd_due_ms > t) {
            i++;
            continue;
        }
        char **p = realloc(due, (n + 1) * sizeof *p);
        if (!p) {
            for (size_t k = 0; k < n; k++)
                free(due[k]);
            free(due);
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        due = p;
        due[n++] = co->co_pend[i].pd_name;
        co->co_pend[i] = co->co_pend[--co->co_npend];
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc && !is_stopped(co)) {
            rc = process_file(co, due[i], 0, dg);
            if (rc == COLL_NOT_READY)
                rc = pend_add(co, due[i], dg);
        }
        free(due[i]);
    }
    free(due);
    return rc;
}

static int is_held(const cdr_collect *co, const char *name)
{
    for (size_t i = 0; i < co->co_nheld; i++)
        if (!strcmp(co->co_held[i].hd_name, name))
            return 1;
    return 0;
}

static int hold_file(cdr_collect *co, const coll_input *in, const char *name, const struct stat *st,
                     cdr_diag *dg)
{
    if (co->co_nheld == co->co_capheld) {
        size_t cap = co->co_capheld ? 2 * co->co_capheld : 16;
        coll_held *p = realloc(co->co_held, cap * sizeof *p);
        if (!p)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        co->co_held = p;
        co->co_capheld = cap;
    }
    coll_held *hd = &co->co_held[co->co_nheld++];
    snprintf(hd->hd_name, sizeof hd->hd_name, "%s", name);
    hd->hd_df = in->in_df;
    hd->hd_st = *st;
    put_report(co, name, CDR_COLLECT_HELD, &in->in_df.df_stats, NULL, NULL);
    return 0;
}

/* Take one spool file. at_once: it was renamed into the spool (no settle time). Returns 0 (done,
 * refused, failed, held, or nothing to take), COLL_NOT_READY (not settled, changed while read or
 * since: try again after co_wait_ms), or an error that stops the collector. */
static int process_file(cdr_collect *co, const char *name, int at_once, cdr_diag *dg)
{
    if (!eligible(name) || is_held(co, name))
        return 0;
    if (!at_once && !settled(co, name))
        return COLL_NOT_READY;
    char path[8192];
    spool_path(co, NULL, name, path, sizeof path);
    coll_map mp;
    cdr_diag fdg;
    cdr_diag_clear(&fdg);
    int rc = load_file(co, path, &mp, &fdg);
    if (rc == CDR_NOTFOUND)
        return 0;
    if (rc == COLL_CHANGED) {
        co_warn(co, "%s changed while it was read: put back, read again once settled", name);
        co->co_wait_ms = co->co_cfg.cl_settle_ms > 0 ? (uint64_t)co->co_cfg.cl_settle_ms : 100;
        return COLL_NOT_READY;
    }
    if (rc)
        return fail_file(co, name, CDR_COLLECT_FAILED, fdg.dg_msg, dg);
    coll_input in = {.in_name = name};
    if (mp.mp_len == 0) { /* empty: nothing to publish twice, never "the same content" again */
        char seed[512];
        int sl = snprintf(seed, sizeof seed, "empty|%s|%llu|%lld.%09ld", name,
                          (unsigned long long)mp.mp_st.st_ino, (long long)mp.mp_st.st_mtim.tv_sec,
                          mp.mp_st.st_mtim.tv_nsec);
        cdr_coll_sha256(seed, (size_t)sl, in.in_df.df_hash);
    } else {
        cdr_coll_sha256(mp.mp_buf, mp.mp_len, in.in_df.df_hash);
    }
    cdr_coll_hex(in.in_df.df_hash, CDR_SHA256_LEN, in.in_hex);
    cdr_dedup_file df;
    rc = cdr_dedup_file_get(co->co_dd, in.in_df.df_hash, &df, dg);
    if (rc == 0 && (df.df_state == CDR_FILE_MOVED || df.df_state == CDR_FILE_DONE)) {
        int copy = done_has_copy(co, name, &mp);
        char msg[1024], when[32];
        cdr_dedup_abort(co->co_dd);
        if (copy == 2 || (df.df_state == CDR_FILE_DONE && !copy && !strcmp(df.df_name, name))) {
            struct stat st = mp.mp_st;
            unmap_file(&mp);
            return finish_file(co, &df, name, &st, 1, dg); /* an interrupted move */
        }
        fmt_time(df.df_finished ? df.df_finished : df.df_first_seen, when, sizeof when);
        snprintf(msg, sizeof msg,
                 "already ingested: same content (SHA-256 %.16s...) as %s, ingested %s; refused",
                 in.in_hex, df.df_name, when);
        unmap_file(&mp);
        return fail_file(co, name, CDR_COLLECT_REFUSED, msg, dg);
    }
    if (rc == 0) { /* in progress: resume */
        if (strcmp(df.df_name, name))
            co_warn(co, "%s: resuming %s (same content) at record %" PRIu64, name, df.df_name,
                    df.df_next);
        in.in_df = df;
        in.in_skip = df.df_next;
        in.in_stats = df.df_stats;
        in.in_max_start = df.df_max_start;
        in.in_recovering = co->co_resume && !memcmp(co->co_cp.cp_hash, df.df_hash, CDR_SHA256_LEN);
        if (!memcmp(co->co_cp.cp_hash, df.df_hash, CDR_SHA256_LEN))
            snprintf(co->co_cp.cp_name, sizeof co->co_cp.cp_name, "%s", name);
        else if ((rc = start_input(co, &in, dg)))
            goto out;
        cdr_dedup_abort(co->co_dd);
    } else if (rc == CDR_NOTFOUND) {
        if ((rc = cdr_dedup_file_add(co->co_dd, in.in_df.df_hash, name, CDR_INPUT_FILE, mp.mp_len,
                                     &in.in_df, dg)) ||
            (rc = start_input(co, &in, dg)))
            goto out;
    } else {
        goto out;
    }
    rc = publish_input(co, &in, mp.mp_buf, mp.mp_len, dg);
    co->co_resume = 0;
    in.in_recovering = 0;
    idset_clear(&co->co_found_raw);
    co->co_found_rej.rs_n = 0;
    const struct stat st = mp.mp_st;
    unmap_file(&mp);
    if (rc == COLL_STOPPED)
        return 0;
    if (rc)
        return rc;
    if (co->co_cfg.cl_hold)
        return hold_file(co, &in, name, &st, dg);
    return finish_file(co, &in.in_df, name, &st, 1, dg);
out:
    cdr_dedup_abort(co->co_dd);
    unmap_file(&mp);
    return rc;
}

/* ---- the spool ------------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Take the eligible files of the spool in name order; those not ready are pending. */
static int process_listing(cdr_collect *co, cdr_diag *dg)
{
    DIR *d = opendir(co->co_cfg.cl_spool);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, co->co_cfg.cl_spool, 0, 0, "cannot list: %s",
                            strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!eligible(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                rc = CDR_ENOMEM;
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = CDR_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc)
        cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    else
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n && !rc && !is_stopped(co); i++) {
        rc = process_file(co, names[i], 0, dg);
        if (rc == COLL_NOT_READY)
            rc = pend_add(co, names[i], dg);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* --once: wait for the pending files, taking each once it has settled. */
static int wait_pending(cdr_collect *co, cdr_diag *dg)
{
    int rc = 0;
    if (co->co_npend) {
        const coll_pending *first = &co->co_pend[0];
        for (size_t i = 1; i < co->co_npend; i++)
            if (strcmp(co->co_pend[i].pd_name, first->pd_name) < 0)
                first = &co->co_pend[i];
        co_warn(co, "waiting for %zu file(s) to settle (unchanged for %g s), %s first",
                co->co_npend, co->co_cfg.cl_settle_ms / 1000.0, first->pd_name);
    }
    while (!rc && co->co_npend && !is_stopped(co)) {
        int64_t ms = pend_next(co);
        if (ms > 0) {
            struct timespec ts = {0, (long)(ms < 200 ? ms : 200) * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        rc = pend_run(co, dg);
    }
    return rc;
}

int cdr_collect_spool(cdr_collect *co, int once, volatile sig_atomic_t *stop, cdr_diag *dg)
{
    if (!co->co_cfg.cl_spool[0])
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: no spool directory");
    if (co->co_finished)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: committed or rolled back");
    if (co->co_cfg.cl_hold && !once)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: hold is for --once only");
    co->co_stop = stop;
    int ifd = -1, rc = 0;
    if (!once) {
        /* watch before listing: a file renamed in meanwhile is seen by one or the other */
        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (ifd < 0 || inotify_add_watch(ifd, co->co_cfg.cl_spool,
                                         IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
            rc = cdr_diag_set(dg, CDR_EIO, co->co_cfg.cl_spool, 0, 0, "cannot watch: %s",
                              strerror(errno));
            if (ifd >= 0)
                close(ifd);
            return rc;
        }
    }
    if (co->co_resume && co->co_cp.cp_kind == CDR_INPUT_FILE) {
        char name[256], path[8192];
        snprintf(name, sizeof name, "%s", co->co_cp.cp_name);
        spool_path(co, NULL, name, path, sizeof path);
        if (access(path, F_OK) != 0)
            co_warn(co,
                    "%s was in progress (%" PRIu64 " records committed) and is no longer in the "
                    "spool; delivered again (any name), it resumes there",
                    name, co->co_cp.cp_next);
        /* taken before: no settle time (a change is caught by the read) */
        rc = process_file(co, name, 1, dg);
        if (rc == COLL_NOT_READY)
            rc = pend_add(co, name, dg);
        co->co_resume = 0;
    }
    if (!rc)
        rc = process_listing(co, dg);
    if (once && !rc)
        rc = wait_pending(co, dg);
    while (!once && !rc && !is_stopped(co)) {
        int64_t due = pend_next(co);
        struct pollfd pfd = {.fd = ifd, .events = POLLIN};
        int pr = poll(&pfd, 1, due >= 0 && due < 500 ? (int)due : 500);
        if (pr < 0 && errno != EINTR) {
            rc = cdr_diag_set(dg, CDR_EIO, co->co_cfg.cl_spool, 0, 0, "poll: %s", strerror(errno));
            break;
        }
        if (pr > 0) {
            char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t len = read(ifd, buf, sizeof buf);
            int rescan = 0;
            for (char *p = buf; len > 0 && p < buf + len && !rc;) {
                const struct inotify_event *ev = (const struct inotify_event *)p;
                if (ev->mask & IN_Q_OVERFLOW) {
                    rescan = 1;
                } else if (ev->len && (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE))) {
                    /* renamed in: complete by the convention; written in place: once settled */
                    rc = process_file(co, ev->name, (ev->mask & IN_MOVED_TO) != 0, dg);
                    if (rc == COLL_NOT_READY)
                        rc = pend_add(co, ev->name, dg);
                }
                p += sizeof *ev + ev->len;
            }
            if (rescan && !rc)
                rc = process_listing(co, dg);
        }
        if (!rc && pend_next(co) == 0)
            rc = pend_run(co, dg);
    }
    if (ifd >= 0)
        close(ifd);
    pend_clear(co);
    if (rc && is_stopped(co)) { /* interrupted while waiting: the input resumes next time */
        co_warn(co, "stopped: %s", dg ? dg->dg_msg : "");
        rc = 0;
    }
    return rc;
}

/* ---- hold: commit or roll back ------------------------------------------------------------- */

size_t cdr_collect_held(const cdr_collect *co)
{
    return co->co_nheld;
}

int cdr_collect_commit(cdr_collect *co, cdr_diag *dg)
{
    if (co->co_finished)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: committed or rolled back");
    co->co_finished = 1;
    int rc = cdr_dedup_hold_commit(co->co_dd, dg);
    if (rc) {
        co->co_nheld = 0;
        return rc;
    }
    int unmoved = 0;
    for (size_t i = 0; i < co->co_nheld; i++) {
        coll_held *hd = &co->co_held[i];
        cdr_diag fdg;
        cdr_diag_clear(&fdg);
        rc = finish_file(co, &hd->hd_df, hd->hd_name, &hd->hd_st, 0, &fdg);
        if (rc && rc != COLL_NOT_READY && !unmoved) {
            unmoved = 1;
            if (dg)
                *dg = fdg;
        }
    }
    co->co_nheld = 0;
    return unmoved ? CDR_COLLECT_UNMOVED : 0;
}

void cdr_collect_rollback(cdr_collect *co)
{
    cdr_dedup_hold_abort(co->co_dd);
    co->co_nheld = 0;
    co->co_finished = 1;
}

/* ---- a live stream --------------------------------------------------------------------------- */

#define STREAM_READ  (1u << 20)
#define STREAM_LIMIT (64u << 20) /* a "line" longer than this is cut into pieces */

int cdr_collect_stream(cdr_collect *co, int fd, const char *name, volatile sig_atomic_t *stop,
                       cdr_diag *dg)
{
    if (co->co_cfg.cl_format == CDR_FMT_3GPP)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "--stdin takes text formats only");
    if (co->co_cfg.cl_hold || co->co_finished)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "collect: a stream cannot be held");
    co->co_stop = stop;
    coll_input in = {.in_name = name, .in_stream = 1};
    /* a stream has no content to hash: its key is unique per run */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char seed[512];
    int sl = snprintf(seed, sizeof seed, "%s|%s|%lld.%09ld|%ld", co->co_tid, name,
                      (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
    cdr_coll_sha256(seed, (size_t)sl, in.in_df.df_hash);
    cdr_coll_hex(in.in_df.df_hash, CDR_SHA256_LEN, in.in_hex);
    int rc =
        cdr_dedup_file_add(co->co_dd, in.in_df.df_hash, name, CDR_INPUT_STREAM, 0, &in.in_df, dg);
    if (!rc)
        rc = start_input(co, &in, dg);
    if (rc) {
        cdr_dedup_abort(co->co_dd);
        return rc;
    }
    size_t cap = 4 * STREAM_READ, len = 0, dec = 0; /* buf[0, dec) decoded, not committed */
    uint8_t *buf = malloc(cap);
    if (!buf)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    uint64_t c_index = 0, c_line = 0, c_offset = 0; /* where the committed part ends */
    uint64_t dec_lines = 0;                         /* line ends in buf[0, dec) */
    int eof = 0;
    while (!rc) {
        int idle = 0;
        if (!eof && !is_stopped(co) && len < cap) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int pr = poll(&pfd, 1, 200);
            if (pr < 0 && errno != EINTR) {
                rc = cdr_diag_set(dg, CDR_EIO, name, 0, 0, "poll: %s", strerror(errno));
                break;
            }
            idle = pr == 0;
            if (pr > 0) {
                ssize_t r = read(fd, buf + len, cap - len);
                if (r < 0 && errno != EINTR && errno != EAGAIN) {
                    rc = cdr_diag_set(dg, CDR_EIO, name, 0, 0, "read: %s", strerror(errno));
                    break;
                }
                if (r == 0)
                    eof = 1;
                else if (r > 0)
                    len += (size_t)r;
            }
        }
        const int ending = eof || is_stopped(co);
        /* decode whole lines, no more than complete the chunk; all that is left at the end */
        size_t end = dec;
        uint64_t lines = 0;
        const uint64_t want =
            co->co_cfg.cl_chunk > in.in_chunk_n ? co->co_cfg.cl_chunk - in.in_chunk_n : 0;
        for (size_t i = dec; i < len && lines < want; i++)
            if (buf[i] == '\n')
                end = i + 1, lines++;
        if (ending || (end == dec && dec == 0 && len == cap && cap >= STREAM_LIMIT))
            end = len; /* the last line may lack its end; a line filling the buffer is cut */
        if (end > dec) {
            in.in_base_index = in.in_next;
            in.in_base_line = c_line + dec_lines;
            in.in_base_offset = c_offset + dec;
            rc = decode_input(co, &in, buf + dec, end - dec, dg);
            for (size_t i = dec; i < end; i++)
                dec_lines += buf[i] == '\n';
            if (buf[end - 1] != '\n')
                dec_lines++;
            dec = end;
            if (rc)
                break;
        }
        const int stuck = len == cap && end == dec; /* no room and nothing more to decode */
        if (in.in_chunk_n >= co->co_cfg.cl_chunk || (idle && in.in_chunk_n) || ending || stuck) {
            const int state = ending ? CDR_FILE_DONE : CDR_FILE_INPROGRESS;
            if (in.in_chunk_n || state == CDR_FILE_DONE)
                rc = commit_chunk(co, &in, state, dg);
            if (rc == COLL_STOPPED)
                rc = 0;
            if (rc == COLL_REDO) { /* redo the uncommitted bytes from the last checkpoint */
                cdr_dedup_abort(co->co_dd);
                in.in_next = in.in_skip = c_index;
                in.in_stats = co->co_cp.cp_stats;
                in.in_chunk_n = 0;
                dec = 0;
                dec_lines = 0;
                for (int t = 0; t < 2; t++)
                    coll_pub_set_scan_offsets(co->co_pub, t, co->co_cp.cp_off[t],
                                              co->co_cp.cp_nparts[t]);
                if ((rc = gap_scan(co, in.in_hex, dg)) != 0)
                    break;
                in.in_recovering = 1;
                continue;
            }
            if (rc)
                break;
            c_index = in.in_next;
            c_line += dec_lines;
            c_offset += dec;
            memmove(buf, buf + dec, len - dec);
            len -= dec;
            dec = 0;
            dec_lines = 0;
            in.in_skip = in.in_next;
            if (state == CDR_FILE_DONE)
                break;
        }
        if (len == cap && cap < STREAM_LIMIT) { /* a long line: make room */
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            buf = nb, cap *= 2;
        }
    }
    free(buf);
    if (rc) {
        cdr_dedup_abort(co->co_dd);
        return rc;
    }
    /* a stream is finished as soon as its end is committed: nothing to move */
    in.in_df.df_state = CDR_FILE_MOVED;
    int64_t nd = dup_report(co, in.in_df.df_hash, NULL, 1, dg);
    if (nd < 0 || (rc = cdr_dedup_file_put(co->co_dd, &in.in_df, dg)) ||
        (rc = cdr_dedup_commit(co->co_dd, dg))) {
        cdr_dedup_abort(co->co_dd);
        return rc ? rc : (int)nd;
    }
    put_report(co, name, CDR_COLLECT_DONE, &in.in_df.df_stats, NULL, NULL);
    return 0;
}
