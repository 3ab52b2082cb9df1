/* redis.c - the Redis adapter (cdr_redis.h): hiredis connections, the apply script, resume
 * points and reads. See docs/redis.md.
 *
 * hiredis connects and parses replies; commands are formatted here (RESP) and written with
 * send(MSG_NOSIGNAL), so that a connection closed by a restarted server never raises SIGPIPE and
 * the queued groups can be sent again after a reconnect or a NOSCRIPT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "cdr_redis.h"

/* One group: KEYS[1] = cdr:{TAG}:applied, KEYS[2..] = the data keys; ARGV[1] = the partition,
 * then 5 per op: offset, kind (1 HINCRBY, 2 HSET, 3 HSETNX, 4 HMAX), KEYS index, field, value.
 * Offsets are decimal without leading zeros, so that comparing them as strings (length first) is
 * exact where Lua's numbers (doubles) would not be. The ops are in offset order: the ones to apply
 * are the ones after the last op not newer than the applied offset. The types of the keys are
 * checked before the first write, so that a key of another type makes the group fail without a
 * change. */
static const char APPLY_LUA[] =
    "local applied = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local function newer(off)\n"
    "  if not applied then return true end\n"
    "  if #off ~= #applied then return #off > #applied end\n"
    "  return off > applied\n"
    "end\n"
    "local first = #ARGV + 1\n"
    "for i = #ARGV - 4, 2, -5 do\n"
    "  if not newer(ARGV[i]) then break end\n"
    "  first = i\n"
    "end\n"
    "if first > #ARGV then return 0 end\n"
    "for k = 2, #KEYS do\n"
    "  local t = redis.call('TYPE', KEYS[k])['ok']\n"
    "  if t ~= 'hash' and t ~= 'none' then\n"
    "    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. t .. ', not a hash')\n"
    "  end\n"
    "end\n"
    "for i = first, #ARGV, 5 do\n"
    "  local key, kind = KEYS[tonumber(ARGV[i + 2])], ARGV[i + 1]\n"
    "  if kind == '1' then redis.call('HINCRBY', key, ARGV[i + 3], ARGV[i + 4])\n"
    "  elseif kind == '2' then redis.call('HSET', key, ARGV[i + 3], ARGV[i + 4])\n"
    "  elseif kind == '3' then redis.call('HSETNX', key, ARGV[i + 3], ARGV[i + 4])\n"
    "  else\n"
    "    local c = redis.call('HGET', key, ARGV[i + 3])\n"
    "    if not c or tonumber(c) < tonumber(ARGV[i + 4]) then\n"
    "      redis.call('HSET', key, ARGV[i + 3], ARGV[i + 4])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[#ARGV - 4])\n"
    "return (#ARGV + 1 - first) / 5\n";

#define KEY_MAX   (sizeof(((cdr_redis_op *)0)->key) - 1)
#define FIELD_MAX (sizeof(((cdr_redis_op *)0)->field) - 1)
#define DEDUP_RANGE                                                                                \
    8 /* a group's KEYS: a key equal to one of the last 8 distinct ones is shared                  \
       */

/* A growing byte buffer; an allocation failure is remembered and checked once at the end. */
typedef struct rd_buf {
    char *rb_p;
    size_t rb_len, rb_cap;
    int rb_oom;
} rd_buf;

enum { RG_PENDING, RG_SENT, RG_DONE, RG_FAILED };

/* A queued group: its EVALSHA command is rd_queue.rb_p[rg_start, rg_end). */
typedef struct rd_group {
    size_t rg_start, rg_end;
    int32_t rg_partition;
    int rg_state;
    char rg_tag[CDR_REDIS_TAG_MAX + 1];
} rd_group;

struct cdr_redis {
    redisContext *rd_ctx; /* NULL while not connected */
    char rd_addr[272];    /* as given, for messages */
    char rd_host[256];
    int rd_port;
    int rd_timeout_ms;
    char rd_sha[41];   /* the apply script's SHA1, from SCRIPT LOAD */
    char rd_runid[41]; /* the server process's run_id (INFO server) */
    int rd_restarted;  /* a reconnect met another run_id: writes refused until acknowledged */
    rd_buf rd_load;    /* the SCRIPT LOAD command */
    rd_buf rd_cmd;     /* the command of a single-command call */
    rd_buf rd_queue;   /* the queued groups' commands, back to back */
    rd_group *rd_groups;
    size_t rd_ngroups, rd_gcap;
    uint32_t *rd_kidx; /* scratch of cdr_redis_apply: each op's data key index, */
    uint32_t *rd_kop;  /* and the first op of each data key */
    size_t rd_kcap;
};

/* ---- RESP formatting ------------------------------------------------------------------------- */

static void rb_add(rd_buf *rb, const void *p, size_t n)
{
    if (rb->rb_oom)
        return;
    if (rb->rb_cap - rb->rb_len < n) {
        size_t cap = rb->rb_cap ? rb->rb_cap * 2 : 4096;
        while (cap - rb->rb_len < n)
            cap *= 2;
        char *np = realloc(rb->rb_p, cap);
        if (!np) {
            rb->rb_oom = 1;
            return;
        }
        rb->rb_p = np;
        rb->rb_cap = cap;
    }
    memcpy(rb->rb_p + rb->rb_len, p, n);
    rb->rb_len += n;
}

/* Decimal digits of v into buf (no NUL); returns the length. */
static size_t fmt_i64(char buf[24], int64_t v)
{
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[k++] = '-';
    while (n)
        buf[k++] = tmp[--n];
    return k;
}

/* "*N\r\n" (an array of N arguments) or "$N\r\n" (a bulk string of N bytes). */
static void rb_head(rd_buf *rb, char type, size_t n)
{
    char b[32];
    b[0] = type;
    size_t k = 1 + fmt_i64(b + 1, (int64_t)n);
    b[k++] = '\r';
    b[k++] = '\n';
    rb_add(rb, b, k);
}

static void rb_arg(rd_buf *rb, const char *p, size_t n)
{
    rb_head(rb, '$', n);
    rb_add(rb, p, n);
    rb_add(rb, "\r\n", 2);
}

static void rb_arg_str(rd_buf *rb, const char *s)
{
    rb_arg(rb, s, strlen(s));
}

static void rb_arg_i64(rd_buf *rb, int64_t v)
{
    char b[24];
    rb_arg(rb, b, fmt_i64(b, v));
}

/* The key "cdr:{TAG}:KEY". */
static void rb_arg_key(rd_buf *rb, const char *tag, size_t tlen, const char *key, size_t klen)
{
    rb_head(rb, '$', 5 + tlen + 2 + klen);
    rb_add(rb, "cdr:{", 5);
    rb_add(rb, tag, tlen);
    rb_add(rb, "}:", 2);
    rb_add(rb, key, klen);
    rb_add(rb, "\r\n", 2);
}

/* ---- arguments ------------------------------------------------------------------------------- */

static int bad_addr(const char *addr, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis address '%s': expected HOST:PORT",
                        addr ? addr : "");
}

/* "HOST:PORT" or "[HOST]:PORT", a non-empty host and a port in 1..65535. */
static int parse_addr(const char *addr, char host[256], int *port)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon)
        return -1;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return -1; /* an IPv6 address needs its brackets */
    }
    if (hl == 0 || hl >= 256)
        return -1;
    long v = 0;
    const char *p = colon + 1;
    if (!*p)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/* A hash tag or resume group: 1..CDR_REDIS_TAG_MAX bytes without braces; *len its length. */
static int check_tag(const char *tag, const char *what, size_t *len, cdr_diag *dg)
{
    size_t n = tag ? strnlen(tag, CDR_REDIS_TAG_MAX + 1) : 0;
    if (n == 0 || n > CDR_REDIS_TAG_MAX || strpbrk(tag, "{}"))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "redis %s '%.*s': expected 1 to %d characters, no braces", what, (int)n,
                            tag ? tag : "", CDR_REDIS_TAG_MAX);
    *len = n;
    return 0;
}

static int check_data_tag(const char *tag, size_t *len, cdr_diag *dg)
{
    int rc = check_tag(tag, "tag", len, dg);
    if (!rc && strncmp(tag, "resume:", 7) == 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "redis tag '%s': 'resume:' starts the resume points' tags", tag);
    return rc;
}

static int check_key(const char *key, size_t *len, cdr_diag *dg)
{
    size_t n = key ? strnlen(key, KEY_MAX + 1) : 0;
    if (n == 0 || n > KEY_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis key '%.*s': expected 1 to %d bytes",
                            (int)n, key ? key : "", (int)KEY_MAX);
    *len = n;
    return 0;
}

static int check_partition(int32_t partition, cdr_diag *dg)
{
    if (partition < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis: partition %d: expected >= 0",
                            (int)partition);
    return 0;
}

/* ---- the connection -------------------------------------------------------------------------- */

static void rd_drop(cdr_redis *rd)
{
    if (rd->rd_ctx)
        redisFree(rd->rd_ctx);
    rd->rd_ctx = NULL;
}

/* A connection failure: "redis ADDR: MSG" (msg may point into the context); the connection is
 * dropped. */
static int rd_broken(cdr_redis *rd, cdr_diag *dg, const char *msg)
{
    cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0, "redis %s: %s", rd->rd_addr, msg);
    rd_drop(rd);
    return CDR_REDIS;
}

static int rd_timed_out(cdr_redis *rd, cdr_diag *dg, const char *what)
{
    char msg[96];
    snprintf(msg, sizeof msg, "no %s within %d ms", what, rd->rd_timeout_ms);
    return rd_broken(rd, dg, msg);
}

static int rd_send(cdr_redis *rd, const char *p, size_t n, cdr_diag *dg)
{
    while (n > 0) {
        ssize_t w = send(rd->rd_ctx->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return rd_timed_out(rd, dg, "progress sending");
            return rd_broken(rd, dg, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The next reply into *rp (an error reply too); CDR_REDIS, connection dropped, when none came. */
static int rd_read(cdr_redis *rd, redisReply **rp, cdr_diag *dg)
{
    void *v = NULL;
    errno = 0;
    if (redisGetReply(rd->rd_ctx, &v) == REDIS_OK && v) {
        *rp = v;
        return 0;
    }
    int e = errno;
    if (v)
        freeReplyObject(v);
    if (rd->rd_ctx->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK))
        return rd_timed_out(rd, dg, "reply");
    return rd_broken(rd, dg, rd->rd_ctx->err ? rd->rd_ctx->errstr : "no reply");
}

/* A reply that is not what the command gives: "redis ADDR: WHAT: ..."; frees rp. */
static int rd_unexpected(cdr_redis *rd, redisReply *rp, const char *what, cdr_diag *dg)
{
    if (rp->type == REDIS_REPLY_ERROR)
        cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0, "redis %s: %s: %.*s", rd->rd_addr, what,
                     (int)rp->len, rp->str);
    else
        cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0, "redis %s: %s: unexpected reply of type %d",
                     rd->rd_addr, what, rp->type);
    freeReplyObject(rp);
    return CDR_REDIS;
}

/* SCRIPT LOAD on the current connection; keeps the SHA1. */
static int rd_load_script(cdr_redis *rd, cdr_diag *dg)
{
    redisReply *rp;
    int rc = rd_send(rd, rd->rd_load.rb_p, rd->rd_load.rb_len, dg);
    if (!rc)
        rc = rd_read(rd, &rp, dg);
    if (rc)
        return rc;
    if (rp->type != REDIS_REPLY_STRING || rp->len != 40)
        return rd_unexpected(rd, rp, "SCRIPT LOAD", dg);
    memcpy(rd->rd_sha, rp->str, 40);
    rd->rd_sha[40] = '\0';
    freeReplyObject(rp);
    return 0;
}

/* INFO server: notes a server process other than the one before (a restart, a failover). */
static int rd_check_server(cdr_redis *rd, cdr_diag *dg)
{
    static const char INFO[] = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
    redisReply *rp;
    int rc = rd_send(rd, INFO, sizeof INFO - 1, dg);
    if (!rc)
        rc = rd_read(rd, &rp, dg);
    if (rc)
        return rc;
    const char *id = rp->type == REDIS_REPLY_STRING ? strstr(rp->str, "run_id:") : NULL;
    if (!id || strspn(id + 7, "0123456789abcdef") != 40)
        return rd_unexpected(rd, rp, "INFO server: no run_id", dg);
    if (rd->rd_runid[0] && memcmp(rd->rd_runid, id + 7, 40) != 0)
        rd->rd_restarted = 1;
    memcpy(rd->rd_runid, id + 7, 40);
    rd->rd_runid[40] = '\0';
    freeReplyObject(rp);
    return 0;
}

/* A write after a reconnect to another server process than the last write's. */
static int rd_refuse_restarted(const cdr_redis *rd, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0,
                        "redis %s: the server was restarted or replaced (new run_id): writes it "
                        "acknowledged last may be lost; apply again from the resume points "
                        "(cdr_redis_ack_restart)",
                        rd->rd_addr);
}

static int rd_connect(cdr_redis *rd, cdr_diag *dg)
{
    rd_drop(rd);
    struct timeval tv = {rd->rd_timeout_ms / 1000, (rd->rd_timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(rd->rd_host, rd->rd_port, tv);
    if (!c)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis %s: out of memory", rd->rd_addr);
    rd->rd_ctx = c;
    if (c->err)
        return rd_broken(rd, dg, c->errstr);
    if (redisSetTimeout(c, tv) != REDIS_OK)
        return rd_broken(rd, dg, c->err ? c->errstr : "cannot set the time-out");
    int rc = rd_check_server(rd, dg);
    if (!rc)
        rc = rd_load_script(rd, dg);
    if (rc) /* half set up (LOADING, a refused command): the next call starts afresh */
        rd_drop(rd);
    return rc;
}

/* Send rd_cmd and read its reply into *rp (an error reply too). Connects first when not
 * connected; when the connection breaks, connects again once and repeats the command. A write
 * is refused while a restart is not acknowledged. */
static int rd_call(cdr_redis *rd, redisReply **rp, int write, cdr_diag *dg)
{
    int reconnected = 0;
    if (rd->rd_cmd.rb_oom) {
        rd->rd_cmd.rb_oom = 0;
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis %s: out of memory", rd->rd_addr);
    }
    for (;;) {
        int rc = 0;
        if (!rd->rd_ctx) {
            reconnected = 1;
            rc = rd_connect(rd, dg);
        }
        if (!rc && write && rd->rd_restarted)
            return rd_refuse_restarted(rd, dg);
        if (!rc)
            rc = rd_send(rd, rd->rd_cmd.rb_p, rd->rd_cmd.rb_len, dg);
        if (!rc)
            rc = rd_read(rd, rp, dg);
        if (!rc || rd->rd_ctx || reconnected)
            return rc;
    }
}

/* ---- open and close -------------------------------------------------------------------------- */

int cdr_redis_open(const char *addr, int timeout_ms, cdr_redis **out, cdr_diag *dg)
{
    if (!out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis: no handle to open");
    *out = NULL;
    char host[256];
    int port;
    if (parse_addr(addr, host, &port))
        return bad_addr(addr, dg);
    if (timeout_ms <= 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis %s: time-out %d ms: expected > 0",
                            addr, timeout_ms);
    cdr_redis *rd = calloc(1, sizeof *rd);
    if (!rd)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis %s: out of memory", addr);
    snprintf(rd->rd_addr, sizeof rd->rd_addr, "%s", addr);
    memcpy(rd->rd_host, host, sizeof host);
    rd->rd_port = port;
    rd->rd_timeout_ms = timeout_ms;
    rb_head(&rd->rd_load, '*', 3);
    rb_arg_str(&rd->rd_load, "SCRIPT");
    rb_arg_str(&rd->rd_load, "LOAD");
    rb_arg(&rd->rd_load, APPLY_LUA, sizeof APPLY_LUA - 1);
    int rc = rd->rd_load.rb_oom
                 ? cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis %s: out of memory", addr)
                 : rd_connect(rd, dg);
    if (rc) {
        cdr_redis_close(rd);
        return rc;
    }
    *out = rd;
    return 0;
}

void cdr_redis_close(cdr_redis *rd)
{
    if (!rd)
        return;
    rd_drop(rd);
    free(rd->rd_load.rb_p);
    free(rd->rd_cmd.rb_p);
    free(rd->rd_queue.rb_p);
    free(rd->rd_groups);
    free(rd->rd_kidx);
    free(rd->rd_kop);
    free(rd);
}

const char *cdr_redis_addr(const cdr_redis *rd)
{
    return rd ? rd->rd_addr : "";
}

/* ---- apply and flush ------------------------------------------------------------------------- */

static int check_ops(const cdr_redis_op *ops, size_t n, cdr_diag *dg)
{
    for (size_t i = 0; i < n; i++) {
        const cdr_redis_op *op = &ops[i];
        size_t kl = strnlen(op->key, sizeof op->key), fl = strnlen(op->field, sizeof op->field);
        const char *why = NULL;
        if (op->kind < CDR_REDIS_HINCRBY || op->kind > CDR_REDIS_HMAX)
            why = "unknown kind";
        else if (op->offset < 0)
            why = "negative offset";
        else if (i > 0 && op->offset < ops[i - 1].offset)
            why = "offset below the previous op's";
        else if (kl == 0 || kl == sizeof op->key)
            why = "key empty or not NUL-terminated";
        else if (strcmp(op->key, "applied") == 0)
            why = "key 'applied' is the applied offsets'";
        else if (fl == 0 || fl == sizeof op->field)
            why = "field empty or not NUL-terminated";
        if (why)
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "redis apply: op %zu (offset %lld, kind %u): %s", i,
                                (long long)op->offset, (unsigned)op->kind, why);
    }
    return 0;
}

int cdr_redis_apply(cdr_redis *rd, const char *tag, int32_t partition, const cdr_redis_op *ops,
                    size_t n, cdr_diag *dg)
{
    size_t tl = 0;
    int rc;
    if (!rd || (n > 0 && !ops))
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis apply: no handle or no ops");
    if ((rc = check_data_tag(tag, &tl, dg)) || (rc = check_partition(partition, dg)) ||
        (rc = check_ops(ops, n, dg)))
        return rc;
    if (n == 0)
        return 0;
    if (n > rd->rd_kcap) {
        uint32_t *a = realloc(rd->rd_kidx, n * sizeof *a);
        if (a)
            rd->rd_kidx = a;
        uint32_t *b = a ? realloc(rd->rd_kop, n * sizeof *b) : NULL;
        if (!b)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis apply: out of memory");
        rd->rd_kop = b;
        rd->rd_kcap = n;
    }
    if (rd->rd_ngroups == rd->rd_gcap) {
        size_t cap = rd->rd_gcap ? rd->rd_gcap * 2 : 64;
        rd_group *g = realloc(rd->rd_groups, cap * sizeof *g);
        if (!g)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis apply: out of memory");
        rd->rd_groups = g;
        rd->rd_gcap = cap;
    }

    /* The data keys, each once (looked up among the last DEDUP_RANGE distinct ones: the ops of
     * one record usually touch neighbouring keys; a key repeated in KEYS is still correct). */
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = nkeys;
        while (j > 0 && nkeys - j < DEDUP_RANGE && strcmp(ops[rd->rd_kop[j - 1]].key, ops[i].key))
            j--;
        if (j > 0 && nkeys - j < DEDUP_RANGE) {
            rd->rd_kidx[i] = (uint32_t)(j - 1);
        } else {
            rd->rd_kop[nkeys] = (uint32_t)i;
            rd->rd_kidx[i] = (uint32_t)nkeys++;
        }
    }

    rd_buf *rb = &rd->rd_queue;
    const size_t start = rb->rb_len;
    rb_head(rb, '*', 3 + 1 + nkeys + 1 + 5 * n);
    rb_arg(rb, "EVALSHA", 7);
    rb_arg(rb, rd->rd_sha, 40);
    rb_arg_i64(rb, (int64_t)(1 + nkeys));
    rb_arg_key(rb, tag, tl, "applied", 7);
    for (size_t j = 0; j < nkeys; j++) {
        const char *k = ops[rd->rd_kop[j]].key;
        rb_arg_key(rb, tag, tl, k, strlen(k));
    }
    rb_arg_i64(rb, partition);
    for (size_t i = 0; i < n; i++) {
        const char kind = (char)('0' + ops[i].kind);
        rb_arg_i64(rb, ops[i].offset);
        rb_arg(rb, &kind, 1);
        rb_arg_i64(rb, (int64_t)rd->rd_kidx[i] + 2);
        rb_arg_str(rb, ops[i].field);
        rb_arg_i64(rb, ops[i].value);
    }
    if (rb->rb_oom) {
        rb->rb_oom = 0;
        rb->rb_len = start;
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "redis apply: out of memory");
    }
    rd_group *rg = &rd->rd_groups[rd->rd_ngroups++];
    rg->rg_start = start;
    rg->rg_end = rb->rb_len;
    rg->rg_partition = partition;
    rg->rg_state = RG_PENDING;
    memcpy(rg->rg_tag, tag, tl + 1);
    return 0;
}

void cdr_redis_discard(cdr_redis *rd)
{
    if (!rd)
        return;
    rd->rd_ngroups = 0;
    rd->rd_queue.rb_len = 0;
}

int cdr_redis_ack_restart(cdr_redis *rd)
{
    if (!rd || !rd->rd_restarted)
        return 0;
    rd->rd_restarted = 0;
    cdr_redis_discard(rd);
    return 1;
}

size_t cdr_redis_queued(const cdr_redis *rd)
{
    return rd ? rd->rd_ngroups : 0;
}

/* Send the pending groups (contiguous ones in one send), marking them sent. */
static int send_pending(cdr_redis *rd, cdr_diag *dg)
{
    for (size_t i = 0; i < rd->rd_ngroups;) {
        if (rd->rd_groups[i].rg_state != RG_PENDING) {
            i++;
            continue;
        }
        const size_t from = rd->rd_groups[i].rg_start;
        while (i < rd->rd_ngroups && rd->rd_groups[i].rg_state == RG_PENDING)
            rd->rd_groups[i++].rg_state = RG_SENT;
        int rc = rd_send(rd, rd->rd_queue.rb_p + from, rd->rd_groups[i - 1].rg_end - from, dg);
        if (rc)
            return rc;
    }
    return 0;
}

/* A group that met NOSCRIPT while a later group of the same tag and partition ran: the script
 * was flushed and loaded again by another client in the middle of the pipeline. Sending the
 * group again would skip its ops (the later group moved the applied offset past them). */
static int overtaken(const cdr_redis *rd, size_t g)
{
    const rd_group *rg = &rd->rd_groups[g];
    for (size_t i = g + 1; i < rd->rd_ngroups; i++) {
        const rd_group *later = &rd->rd_groups[i];
        if (later->rg_state == RG_DONE && later->rg_partition == rg->rg_partition &&
            strcmp(later->rg_tag, rg->rg_tag) == 0)
            return 1;
    }
    return 0;
}

int cdr_redis_flush(cdr_redis *rd, cdr_diag *dg)
{
    if (!rd)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis flush: no handle");
    if (rd->rd_restarted && rd->rd_ngroups > 0)
        return rd_refuse_restarted(rd, dg);
    for (size_t i = 0; i < rd->rd_ngroups; i++)
        rd->rd_groups[i].rg_state = RG_PENDING;
    size_t npending = rd->rd_ngroups;
    int reconnected = 0, reloaded = 0, failed = 0;
    cdr_diag fail_dg; /* the first group that failed */
    while (npending > 0) {
        int rc = 0, noscript = 0;
        if (!rd->rd_ctx) {
            if ((rc = rd_connect(rd, dg)))
                return rc;
            reconnected = 1;
            if (rd->rd_restarted) /* what it acknowledged last may be lost: resend nothing */
                return rd_refuse_restarted(rd, dg);
        }
        rc = send_pending(rd, dg);
        for (size_t i = 0; !rc && i < rd->rd_ngroups; i++) {
            rd_group *rg = &rd->rd_groups[i];
            redisReply *rp;
            if (rg->rg_state != RG_SENT || (rc = rd_read(rd, &rp, dg)))
                continue;
            if (rp->type == REDIS_REPLY_INTEGER) {
                rg->rg_state = RG_DONE;
                npending--;
            } else if (rp->type == REDIS_REPLY_ERROR && strncmp(rp->str, "NOSCRIPT", 8) == 0) {
                rg->rg_state = RG_PENDING;
                noscript = 1;
            } else {
                if (!failed) {
                    char what[CDR_REDIS_TAG_MAX + 48];
                    snprintf(what, sizeof what, "tag %s partition %d", rg->rg_tag,
                             (int)rg->rg_partition);
                    failed = rd_unexpected(rd, rp, what, &fail_dg);
                    rp = NULL;
                }
                rg->rg_state = RG_FAILED;
                npending--;
            }
            if (rp)
                freeReplyObject(rp);
        }
        if (noscript) {
            if (reloaded)
                return cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0,
                                    "redis %s: NOSCRIPT again after SCRIPT LOAD", rd->rd_addr);
            reloaded = 1;
            for (size_t i = 0; i < rd->rd_ngroups; i++) {
                rd_group *rg = &rd->rd_groups[i];
                if (rg->rg_state != RG_PENDING || !overtaken(rd, i))
                    continue;
                if (!failed)
                    failed = cdr_diag_set(
                        &fail_dg, CDR_REDIS, NULL, 0, 0,
                        "redis %s: tag %s partition %d: the script was flushed and loaded again "
                        "during the flush, and a later group of the tag ran first: rebuild the tag",
                        rd->rd_addr, rg->rg_tag, (int)rg->rg_partition);
                rg->rg_state = RG_FAILED;
                npending--;
            }
        }
        if (rc) { /* the connection broke: what was not answered is sent again after a reconnect */
            if (reconnected)
                return rc;
            for (size_t i = 0; i < rd->rd_ngroups; i++)
                if (rd->rd_groups[i].rg_state == RG_SENT)
                    rd->rd_groups[i].rg_state = RG_PENDING;
            continue;
        }
        /* NOSCRIPT: load the script again (a broken connection here is opened again, which
         * loads it) */
        if (noscript && (rc = rd_load_script(rd, dg)) && (rd->rd_ctx || reconnected))
            return rc;
    }
    if (failed) {
        if (dg)
            *dg = fail_dg;
        return failed;
    }
    cdr_redis_discard(rd);
    return 0;
}

/* ---- single commands ------------------------------------------------------------------------- */

/* HGET "cdr:{TAG}:KEY" PARTITION as an int64 into *v, -1 when absent. */
static int hget_offset(cdr_redis *rd, const char *tag, size_t tl, const char *key,
                       int32_t partition, int64_t *v, cdr_diag *dg)
{
    rd_buf *rb = &rd->rd_cmd;
    rb->rb_len = 0;
    rb_head(rb, '*', 3);
    rb_arg(rb, "HGET", 4);
    rb_arg_key(rb, tag, tl, key, strlen(key));
    rb_arg_i64(rb, partition);
    redisReply *rp;
    int rc = rd_call(rd, &rp, 0, dg);
    if (rc)
        return rc;
    char what[CDR_REDIS_TAG_MAX + 64];
    snprintf(what, sizeof what, "HGET cdr:{%s}:%s %d", tag, key, (int)partition);
    if (rp->type == REDIS_REPLY_NIL) {
        *v = -1;
    } else if (rp->type == REDIS_REPLY_STRING) {
        char *end;
        errno = 0;
        long long x = strtoll(rp->str, &end, 10);
        if (rp->len == 0 || *end || errno || x < 0) {
            cdr_diag_set(dg, CDR_REDIS, NULL, 0, 0, "redis %s: %s: not an offset: '%.*s'",
                         rd->rd_addr, what, (int)(rp->len > 40 ? 40 : rp->len), rp->str);
            freeReplyObject(rp);
            return CDR_REDIS;
        }
        *v = x;
    } else {
        return rd_unexpected(rd, rp, what, dg);
    }
    freeReplyObject(rp);
    return 0;
}

int cdr_redis_applied(cdr_redis *rd, const char *tag, int32_t partition, int64_t *offset,
                      cdr_diag *dg)
{
    size_t tl = 0;
    int rc;
    if (!rd || !offset)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis applied: no handle or output");
    if ((rc = check_data_tag(tag, &tl, dg)) || (rc = check_partition(partition, dg)))
        return rc;
    return hget_offset(rd, tag, tl, "applied", partition, offset, dg);
}

/* The tag "resume:GROUP" into buf. */
static int resume_tag(const char *group, char buf[CDR_REDIS_TAG_MAX + 8], size_t *tl, cdr_diag *dg)
{
    size_t gl = 0;
    int rc = check_tag(group, "resume group", &gl, dg);
    if (rc)
        return rc;
    memcpy(buf, "resume:", 7);
    memcpy(buf + 7, group, gl + 1);
    *tl = 7 + gl;
    return 0;
}

int cdr_redis_set_resume(cdr_redis *rd, int32_t partition, const char *group, int64_t offset,
                         cdr_diag *dg)
{
    char tag[CDR_REDIS_TAG_MAX + 8];
    size_t tl = 0;
    int rc;
    if (!rd)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis resume: no handle");
    if ((rc = resume_tag(group, tag, &tl, dg)) || (rc = check_partition(partition, dg)))
        return rc;
    if (offset < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "redis resume %s partition %d: offset %lld: expected >= 0", group,
                            (int)partition, (long long)offset);
    if (rd->rd_ngroups > 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "redis resume %s partition %d: %zu groups are queued: flush them first",
                            group, (int)partition, rd->rd_ngroups);
    rd_buf *rb = &rd->rd_cmd;
    rb->rb_len = 0;
    rb_head(rb, '*', 4);
    rb_arg(rb, "HSET", 4);
    rb_arg_key(rb, tag, tl, "offsets", 7);
    rb_arg_i64(rb, partition);
    rb_arg_i64(rb, offset);
    redisReply *rp;
    if ((rc = rd_call(rd, &rp, 1, dg)))
        return rc;
    if (rp->type != REDIS_REPLY_INTEGER)
        return rd_unexpected(rd, rp, "HSET resume offsets", dg);
    freeReplyObject(rp);
    return 0;
}

int cdr_redis_get_resume(cdr_redis *rd, int32_t partition, const char *group, int64_t *offset,
                         cdr_diag *dg)
{
    char tag[CDR_REDIS_TAG_MAX + 8];
    size_t tl = 0;
    int rc;
    if (!rd || !offset)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis resume: no handle or output");
    if ((rc = resume_tag(group, tag, &tl, dg)) || (rc = check_partition(partition, dg)))
        return rc;
    return hget_offset(rd, tag, tl, "offsets", partition, offset, dg);
}

/* ---- reads ----------------------------------------------------------------------------------- */

static int kv_cmp(const void *a, const void *b)
{
    const cdr_redis_kv *x = a, *y = b;
    size_t n = x->kv_field_len < y->kv_field_len ? x->kv_field_len : y->kv_field_len;
    int c = memcmp(x->kv_field, y->kv_field, n);
    if (c)
        return c;
    return (x->kv_field_len > y->kv_field_len) - (x->kv_field_len < y->kv_field_len);
}

int cdr_redis_hgetall(cdr_redis *rd, const char *tag, const char *key, cdr_redis_kv **out,
                      size_t *n, cdr_diag *dg)
{
    size_t tl = 0, kl = 0;
    int rc;
    if (!out || !n)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis HGETALL: no output");
    *out = NULL;
    *n = 0;
    if (!rd)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis HGETALL: no handle");
    if ((rc = check_data_tag(tag, &tl, dg)) || (rc = check_key(key, &kl, dg)))
        return rc;
    rd_buf *rb = &rd->rd_cmd;
    rb->rb_len = 0;
    rb_head(rb, '*', 2);
    rb_arg(rb, "HGETALL", 7);
    rb_arg_key(rb, tag, tl, key, kl);
    redisReply *rp;
    if ((rc = rd_call(rd, &rp, 0, dg)))
        return rc;
    char what[CDR_REDIS_TAG_MAX + 128]; /* formatted only for an error */
    int bad = rp->type != REDIS_REPLY_ARRAY || rp->elements % 2;
    const size_t cnt = bad ? 0 : rp->elements / 2;
    size_t bytes = cnt * sizeof(cdr_redis_kv);
    for (size_t i = 0; !bad && i < rp->elements; i++) {
        bad = rp->element[i]->type != REDIS_REPLY_STRING;
        bytes += rp->element[i]->len + 1;
    }
    if (bad) {
        snprintf(what, sizeof what, "HGETALL cdr:{%s}:%s", tag, key);
        return rd_unexpected(rd, rp, what, dg);
    }
    cdr_redis_kv *kv = cnt ? malloc(bytes) : NULL;
    if (cnt && !kv) {
        freeReplyObject(rp);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0,
                            "redis %s: HGETALL cdr:{%s}:%s: out of memory", rd->rd_addr, tag, key);
    }
    char *s = (char *)(kv + cnt);
    for (size_t i = 0; i < cnt; i++) {
        const redisReply *f = rp->element[2 * i], *v = rp->element[2 * i + 1];
        memcpy(s, f->str, f->len);
        s[f->len] = '\0';
        kv[i].kv_field = s;
        kv[i].kv_field_len = f->len;
        s += f->len + 1;
        memcpy(s, v->str, v->len);
        s[v->len] = '\0';
        kv[i].kv_value = s;
        kv[i].kv_value_len = v->len;
        s += v->len + 1;
    }
    freeReplyObject(rp);
    if (cnt > 1)
        qsort(kv, cnt, sizeof *kv, kv_cmp);
    *out = kv;
    *n = cnt;
    return 0;
}

void cdr_redis_kv_free(cdr_redis_kv *kv)
{
    free(kv);
}

int cdr_redis_get(cdr_redis *rd, const char *key, char *buf, size_t bufsize, size_t *len,
                  cdr_diag *dg)
{
    if (!rd || !key || !buf || bufsize == 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "redis GET: no handle, key or buffer");
    rd_buf *rb = &rd->rd_cmd;
    rb->rb_len = 0;
    rb_head(rb, '*', 2);
    rb_arg(rb, "GET", 3);
    rb_arg_str(rb, key);
    redisReply *rp;
    int rc = rd_call(rd, &rp, 0, dg);
    if (rc)
        return rc;
    if (rp->type == REDIS_REPLY_NIL) {
        freeReplyObject(rp);
        return cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "redis %s: GET %s: no such key",
                            rd->rd_addr, key);
    }
    if (rp->type != REDIS_REPLY_STRING) {
        char what[128];
        snprintf(what, sizeof what, "GET %s", key);
        return rd_unexpected(rd, rp, what, dg);
    }
    const size_t vl = rp->len;
    if (len)
        *len = vl;
    if (vl >= bufsize) {
        freeReplyObject(rp);
        return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                            "redis %s: GET %s: %zu-byte value, larger than the buffer", rd->rd_addr,
                            key, vl);
    }
    memcpy(buf, rp->str, vl);
    buf[vl] = '\0';
    freeReplyObject(rp);
    return 0;
}
