/* test_redis.c - the Redis adapter (cdr_redis.h) against the real Redis of CDR_REDIS_ADDR: the
 * batched apply is idempotent (the same ops again, overlapping ops, several partitions of one
 * tag), HSETNX keeps the first value, the resume points, reads, bad arguments and addresses, an
 * unreachable server, a script cache flushed (NOSCRIPT) and a Redis killed and started again
 * between two flushes (scripts/redis stop|start with CDR_REDIS_STATE).
 *
 * The address comes from CDR_REDIS_ADDR, which `make test` and scripts/with-services set (with
 * CDR_REDIS_STATE); see docs/testing.md. Every test uses tags of its own, so runs do not meet.
 * The restart test stops the server: run the tests one at a time (--jobs 1, as ctest does). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cdr_redis.h"

#define TIMEOUT_MS 5000
#define NO_REDIS   "CDR_REDIS_ADDR is not set: run the tests with make test or scripts/with-services"
#define NO_STATE   "CDR_REDIS_STATE is not set: run the tests with make test or scripts/with-services"

/* Said before Criterion starts too, so that the reason is the first line of the output. */
__attribute__((constructor)) static void say_if_no_redis(void)
{
    const char *a = getenv("CDR_REDIS_ADDR");
    if (!a || !*a)
        fprintf(stderr, "test_redis: %s\n", NO_REDIS);
}

/* The address of the Redis `make test` started; fails the test when there is none. */
static const char *redis_addr(void)
{
    const char *a = getenv("CDR_REDIS_ADDR");
    if (!a || !*a)
        cr_assert_fail(NO_REDIS);
    return a;
}

static cdr_redis *open_redis(void)
{
    cdr_diag dg;
    cdr_redis *r = NULL;
    cdr_diag_clear(&dg);
    int rc = cdr_redis_open(redis_addr(), TIMEOUT_MS, &r, &dg);
    cr_assert_eq(rc, 0, "cdr_redis_open: %s", dg.dg_msg);
    cr_assert(r);
    return r;
}

/* A plain hiredis client, to look at and change Redis behind the adapter's back. */
static redisContext *raw_client(void)
{
    char host[256];
    const char *a = redis_addr(), *colon = strrchr(a, ':');
    cr_assert(colon);
    snprintf(host, sizeof host, "%.*s", (int)(colon - a), a);
    redisContext *c = redisConnect(host, atoi(colon + 1));
    cr_assert(c && !c->err, "redisConnect %s: %s", a, c ? c->errstr : "out of memory");
    return c;
}

/* A raw command's reply as text: the string, the integer, "(nil)", or "ERR: ...". */
static void raw(redisContext *c, char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void raw(redisContext *c, char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rp = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(rp, "%s: %s", fmt, c->errstr);
    if (rp->type == REDIS_REPLY_STRING || rp->type == REDIS_REPLY_STATUS)
        snprintf(out, n, "%s", rp->str);
    else if (rp->type == REDIS_REPLY_INTEGER)
        snprintf(out, n, "%lld", rp->integer);
    else if (rp->type == REDIS_REPLY_NIL)
        snprintf(out, n, "(nil)");
    else if (rp->type == REDIS_REPLY_ERROR)
        snprintf(out, n, "ERR: %s", rp->str);
    else
        snprintf(out, n, "(type %d)", rp->type);
    freeReplyObject(rp);
}

/* A tag no other test or run uses: "t.<what>.<pid>.<s>.<ns>". */
static void unique_tag(char *buf, size_t n, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "t.%s.%ld.%ld.%ld", what, (long)getpid(), (long)ts.tv_sec, (long)ts.tv_nsec);
}

static cdr_redis_op op(int64_t offset, uint8_t kind, const char *key, const char *field,
                       int64_t value)
{
    cdr_redis_op o;
    memset(&o, 0, sizeof o);
    o.offset = offset;
    o.kind = kind;
    snprintf(o.key, sizeof o.key, "%s", key);
    snprintf(o.field, sizeof o.field, "%s", field);
    o.value = value;
    return o;
}

static void apply(cdr_redis *r, const char *tag, int32_t partition, const cdr_redis_op *ops,
                  size_t n)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_redis_apply(r, tag, partition, ops, n, &dg);
    cr_assert_eq(rc, 0, "cdr_redis_apply %s: %s", tag, dg.dg_msg);
}

static void flush(cdr_redis *r)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_redis_flush(r, &dg);
    cr_assert_eq(rc, 0, "cdr_redis_flush: %s (%s)", dg.dg_msg, cdr_err_name(rc));
    cr_assert_eq(cdr_redis_queued(r), 0);
}

/* HGETALL of each key of tag, as "key: field=value ...\n" lines, into buf. */
static void dump(cdr_redis *r, const char *tag, const char *const *keys, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (; *keys; keys++) {
        cdr_diag dg;
        cdr_redis_kv *kv;
        size_t nkv;
        cdr_diag_clear(&dg);
        int rc = cdr_redis_hgetall(r, tag, *keys, &kv, &nkv, &dg);
        cr_assert_eq(rc, 0, "cdr_redis_hgetall %s %s: %s", tag, *keys, dg.dg_msg);
        len += (size_t)snprintf(buf + len, n - len, "%s:", *keys);
        for (size_t i = 0; i < nkv; i++)
            len += (size_t)snprintf(buf + len, n - len, " %s=%s", kv[i].kv_field, kv[i].kv_value);
        len += (size_t)snprintf(buf + len, n - len, "\n");
        cr_assert(len < n);
        cdr_redis_kv_free(kv);
    }
}

/* The value of one field ("(none)" when absent). */
static void field(cdr_redis *r, const char *tag, const char *key, const char *name, char *out,
                  size_t n)
{
    cdr_diag dg;
    cdr_redis_kv *kv;
    size_t nkv;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_hgetall(r, tag, key, &kv, &nkv, &dg), 0, "%s", dg.dg_msg);
    snprintf(out, n, "(none)");
    for (size_t i = 0; i < nkv; i++)
        if (strcmp(kv[i].kv_field, name) == 0)
            snprintf(out, n, "%s", kv[i].kv_value);
    cdr_redis_kv_free(kv);
}

#define assert_field(r, tag, key, name, want)                                                      \
    do {                                                                                           \
        char got_[64];                                                                             \
        field(r, tag, key, name, got_, sizeof got_);                                               \
        cr_assert_str_eq(got_, want, "%s %s %s: %s, want %s", tag, key, name, got_, want);         \
    } while (0)

static int64_t applied(cdr_redis *r, const char *tag, int32_t partition)
{
    cdr_diag dg;
    int64_t off = -2;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_applied(r, tag, partition, &off, &dg), 0, "%s", dg.dg_msg);
    return off;
}

/* Ops of offsets from..to (3 per record): n += 1, sum += offset, last = offset. */
static size_t counting_ops(cdr_redis_op *ops, int64_t from, int64_t to)
{
    size_t n = 0;
    for (int64_t o = from; o <= to; o++) {
        ops[n++] = op(o, CDR_REDIS_HINCRBY, "c", "n", 1);
        ops[n++] = op(o, CDR_REDIS_HINCRBY, "c", "sum", o);
        ops[n++] = op(o, CDR_REDIS_HSET, "c", "last", o);
    }
    return n;
}

static void run_script(const char *cmd)
{
    if (!getenv("CDR_REDIS_STATE") || !*getenv("CDR_REDIS_STATE"))
        cr_assert_fail(NO_STATE);
    char line[512];
    snprintf(line, sizeof line, "%s/scripts/redis %s >/dev/null", CDR_SOURCE_DIR, cmd);
    cr_assert_eq(system(line), 0, "%s failed", line);
}

/* ---- the apply ---------------------------------------------------------------------------------
 */

Test(redis, reapply_identical)
{
    cdr_redis *r = open_redis();
    char tag[128], first[4096], second[4096];
    unique_tag(tag, sizeof tag, "reapply");
    /* Three records (offsets 10, 11, 12), each changing several fields of several keys. */
    const cdr_redis_op ops[] = {
        op(10, CDR_REDIS_HINCRBY, "usage:202612", "units", 60),
        op(10, CDR_REDIS_HINCRBY, "usage:202612", "charge:EUR", 150000),
        op(10, CDR_REDIS_HINCRBY, "bundle:b1", "used", 60),
        op(10, CDR_REDIS_HSETNX, "line", "first_seen", 10),
        op(11, CDR_REDIS_HINCRBY, "usage:202612", "units", 30),
        op(11, CDR_REDIS_HINCRBY, "bundle:b1", "used", 30),
        op(11, CDR_REDIS_HSET, "line", "status", 1),
        op(12, CDR_REDIS_HINCRBY, "usage:202612", "charge:EUR", -20000),
        op(12, CDR_REDIS_HSETNX, "line", "first_seen", 12),
        op(12, CDR_REDIS_HSET, "line", "status", 2),
    };
    const size_t n = sizeof ops / sizeof ops[0];
    const char *const keys[] = {"usage:202612", "bundle:b1", "line", "applied", NULL};
    apply(r, tag, 3, ops, n);
    cr_assert_eq(cdr_redis_queued(r), 1);
    flush(r);
    dump(r, tag, keys, first, sizeof first);
    cr_assert_str_eq(first, "usage:202612: charge:EUR=130000 units=90\n"
                            "bundle:b1: used=90\n"
                            "line: first_seen=10 status=2\n"
                            "applied: 3=12\n");

    /* The same ops again, alone and twice in one flush: byte-identical contents. */
    apply(r, tag, 3, ops, n);
    flush(r);
    dump(r, tag, keys, second, sizeof second);
    cr_assert_str_eq(second, first);
    apply(r, tag, 3, ops, n);
    apply(r, tag, 3, ops, n);
    apply(r, tag, 3, ops, 0); /* nothing */
    cr_assert_eq(cdr_redis_queued(r), 2);
    flush(r);
    dump(r, tag, keys, second, sizeof second);
    cr_assert_str_eq(second, first);
    cr_assert_eq(applied(r, tag, 3), 12);

    /* An empty flush is a no-op; a missing key reads as no fields. */
    flush(r);
    cdr_redis_kv *kv = (cdr_redis_kv *)1;
    size_t nkv = 7;
    cr_assert_eq(cdr_redis_hgetall(r, tag, "nothing", &kv, &nkv, NULL), 0);
    cr_assert_null(kv);
    cr_assert_eq(nkv, 0);
    cdr_redis_close(r);
}

Test(redis, partial_overlap)
{
    cdr_redis *r = open_redis();
    char tag[128], tag2[128];
    cdr_redis_op ops[64];
    unique_tag(tag, sizeof tag, "overlap");
    unique_tag(tag2, sizeof tag2, "overlap2");
    cr_assert_eq(applied(r, tag, 0), -1);

    /* 1..10, then 5..15 in a later flush: 1..15 once each. */
    apply(r, tag, 0, ops, counting_ops(ops, 1, 10));
    flush(r);
    assert_field(r, tag, "c", "n", "10");
    apply(r, tag, 0, ops, counting_ops(ops, 5, 15));
    flush(r);
    assert_field(r, tag, "c", "n", "15");
    assert_field(r, tag, "c", "sum", "120");
    assert_field(r, tag, "c", "last", "15");
    cr_assert_eq(applied(r, tag, 0), 15);

    /* The same two groups in one pipeline. */
    apply(r, tag2, 0, ops, counting_ops(ops, 1, 10));
    apply(r, tag2, 0, ops, counting_ops(ops, 5, 15));
    flush(r);
    assert_field(r, tag2, "c", "n", "15");
    assert_field(r, tag2, "c", "sum", "120");
    assert_field(r, tag2, "c", "last", "15");

    /* Older ops only (a replay from an old resume point): nothing changes. */
    apply(r, tag, 0, ops, counting_ops(ops, 2, 9));
    flush(r);
    assert_field(r, tag, "c", "n", "15");
    cr_assert_eq(applied(r, tag, 0), 15);
    cdr_redis_close(r);
}

Test(redis, hsetnx_keeps_first)
{
    cdr_redis *r = open_redis();
    char tag[128];
    unique_tag(tag, sizeof tag, "hsetnx");
    const cdr_redis_op ops[] = {
        op(1, CDR_REDIS_HSETNX, "k", "first", 100), op(1, CDR_REDIS_HSET, "k", "last", 100),
        op(2, CDR_REDIS_HSETNX, "k", "first", 200), op(2, CDR_REDIS_HSET, "k", "last", 200),
        op(3, CDR_REDIS_HSETNX, "k", "first", 300), op(3, CDR_REDIS_HSET, "k", "last", 300),
    };
    apply(r, tag, 0, ops, 6);
    flush(r);
    assert_field(r, tag, "k", "first", "100");
    assert_field(r, tag, "k", "last", "300");
    const cdr_redis_op later[] = {op(4, CDR_REDIS_HSETNX, "k", "first", 400),
                                  op(4, CDR_REDIS_HSET, "k", "last", -400)};
    apply(r, tag, 0, later, 2);
    flush(r);
    assert_field(r, tag, "k", "first", "100");
    assert_field(r, tag, "k", "last", "-400");
    cdr_redis_close(r);
}

Test(redis, hmax_keeps_the_largest)
{
    cdr_redis *r = open_redis();
    char tag[128];
    unique_tag(tag, sizeof tag, "hmax");
    const cdr_redis_op ops[] = {op(1, CDR_REDIS_HMAX, "k", "last", 1796054365),
                                op(2, CDR_REDIS_HMAX, "k", "last", 1796000000),
                                op(3, CDR_REDIS_HMAX, "k", "neg", -5),
                                op(4, CDR_REDIS_HMAX, "k", "neg", -7)};
    apply(r, tag, 0, ops, 4);
    flush(r);
    assert_field(r, tag, "k", "last", "1796054365");
    assert_field(r, tag, "k", "neg", "-5");
    const cdr_redis_op later[] = {op(5, CDR_REDIS_HMAX, "k", "last", 1796054366)};
    apply(r, tag, 0, later, 1);
    flush(r);
    assert_field(r, tag, "k", "last", "1796054366");
    cdr_redis_close(r);
}

Test(redis, partitions_independent)
{
    cdr_redis *r = open_redis();
    char tag[128];
    cdr_redis_op ops[64];
    unique_tag(tag, sizeof tag, "parts");
    /* Partition 0 at offsets 100..102, then partition 1 at lower offsets 1..3: both apply. */
    apply(r, tag, 0, ops, counting_ops(ops, 100, 102));
    flush(r);
    apply(r, tag, 1, ops, counting_ops(ops, 1, 3));
    flush(r);
    assert_field(r, tag, "c", "n", "6");
    assert_field(r, tag, "c", "sum", "309");
    cr_assert_eq(applied(r, tag, 0), 102);
    cr_assert_eq(applied(r, tag, 1), 3);
    cr_assert_eq(applied(r, tag, 2), -1);
    /* Each partition's guard still holds. */
    apply(r, tag, 1, ops, counting_ops(ops, 1, 3));
    apply(r, tag, 0, ops, counting_ops(ops, 101, 102));
    flush(r);
    assert_field(r, tag, "c", "n", "6");
    /* Offsets past 2^53 compare exactly (no Lua doubles). */
    const int64_t big = (INT64_C(1) << 53) + 1;
    cdr_redis_op b = op(big, CDR_REDIS_HINCRBY, "c", "n", 1);
    apply(r, tag, 2, &b, 1);
    flush(r);
    b.offset = big + 1;
    apply(r, tag, 2, &b, 1);
    flush(r);
    b.offset = big; /* not newer */
    apply(r, tag, 2, &b, 1);
    flush(r);
    assert_field(r, tag, "c", "n", "8");
    cr_assert_eq(applied(r, tag, 2), big + 1);
    cdr_redis_close(r);
}

Test(redis, key_layout)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char tag[128], got[256];
    unique_tag(tag, sizeof tag, "layout");
    cdr_redis_op o = op(5, CDR_REDIS_HINCRBY, "usage:202612", "units", 42);
    apply(r, tag, 7, &o, 1);
    flush(r);
    raw(c, got, sizeof got, "HGET cdr:{%s}:usage:202612 units", tag);
    cr_assert_str_eq(got, "42");
    raw(c, got, sizeof got, "HGET cdr:{%s}:applied 7", tag);
    cr_assert_str_eq(got, "5");
    redisFree(c);
    cdr_redis_close(r);
}

Test(redis, resume_points)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char group[128], tag[128], got[256];
    cdr_diag dg;
    int64_t off = 0;
    unique_tag(group, sizeof group, "group");
    unique_tag(tag, sizeof tag, "resume");
    cr_assert_eq(cdr_redis_get_resume(r, 0, group, &off, NULL), 0);
    cr_assert_eq(off, -1);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, 42, NULL), 0);
    cr_assert_eq(cdr_redis_set_resume(r, 1, group, 7, NULL), 0);
    cr_assert_eq(cdr_redis_get_resume(r, 0, group, &off, NULL), 0);
    cr_assert_eq(off, 42);
    cr_assert_eq(cdr_redis_get_resume(r, 1, group, &off, NULL), 0);
    cr_assert_eq(off, 7);
    raw(c, got, sizeof got, "HGET cdr:{resume:%s}:offsets 0", group);
    cr_assert_str_eq(got, "42");

    /* Never ahead of the data: refused while groups are queued. */
    cdr_redis_op o = op(1, CDR_REDIS_HINCRBY, "c", "n", 1);
    apply(r, tag, 0, &o, 1);
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, 43, &dg), CDR_EINVAL);
    char want[512];
    snprintf(want, sizeof want,
             "redis resume %s partition 0: 1 groups are queued: flush them first", group);
    cr_assert_str_eq(dg.dg_msg, want);
    flush(r);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, 43, NULL), 0);
    cr_assert_eq(cdr_redis_get_resume(r, 0, group, &off, NULL), 0);
    cr_assert_eq(off, 43);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, -1, NULL), CDR_EINVAL);
    redisFree(c);
    cdr_redis_close(r);
}

Test(redis, get)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char key[128], got[64], buf[16];
    cdr_diag dg;
    size_t len = 0;
    unique_tag(key, sizeof key, "get");
    raw(c, got, sizeof got, "SET %s hello", key);
    cr_assert_eq(cdr_redis_get(r, key, buf, sizeof buf, &len, NULL), 0);
    cr_assert_str_eq(buf, "hello");
    cr_assert_eq(len, 5);
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_get(r, key, buf, 5, &len, &dg), CDR_LIMIT, "%s", dg.dg_msg);
    cr_assert_eq(len, 5);
    strcat(key, ".missing");
    cr_assert_eq(cdr_redis_get(r, key, buf, sizeof buf, &len, &dg), CDR_NOTFOUND);
    redisFree(c);
    cdr_redis_close(r);
}

/* ---- errors ------------------------------------------------------------------------------------
 */

Test(redis, bad_addresses)
{
    const char *const bad[] = {
        "",      "localhost", "localhost:", ":6379",    "127.0.0.1:0", "h:65536",
        "h:12x", "h:-1",      "h: 80",      "::1:6379", "[]:6379",     "h:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cdr_diag dg;
        cdr_redis *r = (cdr_redis *)1;
        char want[256];
        cdr_diag_clear(&dg);
        cr_assert_eq(cdr_redis_open(bad[i], TIMEOUT_MS, &r, &dg), CDR_EINVAL, "'%s'", bad[i]);
        cr_assert_null(r);
        snprintf(want, sizeof want, "redis address '%s': expected HOST:PORT", bad[i]);
        cr_assert_str_eq(dg.dg_msg, want);
        cr_assert_eq(dg.dg_code, CDR_EINVAL);
    }
    cdr_diag dg;
    cdr_redis *r;
    cr_assert_eq(cdr_redis_open(NULL, TIMEOUT_MS, &r, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg, "redis address '': expected HOST:PORT");
    cr_assert_eq(cdr_redis_open("127.0.0.1:6379", 0, &r, &dg), CDR_EINVAL);
}

Test(redis, unreachable)
{
    /* A port nothing listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char addr[64], want[128];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    cdr_diag dg;
    cdr_redis *r = (cdr_redis *)1;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_open(addr, TIMEOUT_MS, &r, &dg), CDR_REDIS, "%s", dg.dg_msg);
    cr_assert_null(r);
    snprintf(want, sizeof want, "redis %s: Connection refused", addr);
    cr_assert_str_eq(dg.dg_msg, want);
    cr_assert_eq(dg.dg_code, CDR_REDIS);
    cr_assert(cdr_err_retriable(CDR_REDIS));
}

/* A server that takes the connection and never answers: the command time-out. */
Test(redis, timeout)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 4) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char addr[64], want[128];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    cdr_diag dg;
    cdr_redis *r = (cdr_redis *)1;
    cdr_diag_clear(&dg);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(cdr_redis_open(addr, 300, &r, &dg), CDR_REDIS, "%s", dg.dg_msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_null(r);
    snprintf(want, sizeof want, "redis %s: no reply within 300 ms", addr);
    cr_assert_str_eq(dg.dg_msg, want);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(s >= 0.25 && s < 10, "gave up after %.3f s", s);
    close(fd);
}

Test(redis, bad_arguments)
{
    cdr_redis *r = open_redis();
    char tag[128];
    cdr_diag dg;
    unique_tag(tag, sizeof tag, "bad");
    cdr_redis_op ok = op(1, CDR_REDIS_HINCRBY, "c", "n", 1);
    struct {
        const char *tag;
        int32_t partition;
        cdr_redis_op op;
        const char *msg;
    } cases[] = {
        {"", 0, ok, "redis tag '': expected 1 to 63 characters, no braces"},
        {"a{b", 0, ok, "redis tag 'a{b': expected 1 to 63 characters, no braces"},
        {"a}b", 0, ok, "redis tag 'a}b': expected 1 to 63 characters, no braces"},
        {"resume:x", 0, ok, "redis tag 'resume:x': 'resume:' starts the resume points' tags"},
        {tag, -1, ok, "redis: partition -1: expected >= 0"},
        {tag, 0, op(1, 9, "c", "n", 1), "redis apply: op 0 (offset 1, kind 9): unknown kind"},
        {tag, 0, op(-1, 1, "c", "n", 1), "redis apply: op 0 (offset -1, kind 1): negative offset"},
        {tag, 0, op(1, 1, "", "n", 1),
         "redis apply: op 0 (offset 1, kind 1): key empty or not NUL-terminated"},
        {tag, 0, op(1, 1, "applied", "n", 1),
         "redis apply: op 0 (offset 1, kind 1): key 'applied' is the applied offsets'"},
        {tag, 0, op(1, 1, "c", "", 1),
         "redis apply: op 0 (offset 1, kind 1): field empty or not NUL-terminated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdr_diag_clear(&dg);
        cr_assert_eq(cdr_redis_apply(r, cases[i].tag, cases[i].partition, &cases[i].op, 1, &dg),
                     CDR_EINVAL, "case %zu", i);
        cr_assert_str_eq(dg.dg_msg, cases[i].msg);
    }
    cdr_redis_op unterminated = ok;
    memset(unterminated.key, 'k', sizeof unterminated.key);
    cr_assert_eq(cdr_redis_apply(r, tag, 0, &unterminated, 1, NULL), CDR_EINVAL);
    const cdr_redis_op backwards[] = {op(5, 1, "c", "n", 1), op(4, 1, "c", "n", 1)};
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_apply(r, tag, 0, backwards, 2, &dg), CDR_EINVAL);
    cr_assert_str_eq(dg.dg_msg,
                     "redis apply: op 1 (offset 4, kind 1): offset below the previous op's");
    cr_assert_eq(cdr_redis_queued(r), 0, "a refused group is not queued");
    cdr_redis_close(r);
}

/* A key of another type makes its group fail without a change; the queue is kept. */
Test(redis, wrong_type)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char tag[128], got[256], want[512];
    cdr_diag dg;
    unique_tag(tag, sizeof tag, "wrongtype");
    raw(c, got, sizeof got, "SET cdr:{%s}:str x", tag);
    const cdr_redis_op ops[] = {op(1, CDR_REDIS_HINCRBY, "ok", "n", 1),
                                op(2, CDR_REDIS_HINCRBY, "str", "n", 1)};
    apply(r, tag, 0, ops, 2);
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_flush(r, &dg), CDR_REDIS);
    snprintf(want, sizeof want,
             "redis %s: tag %s partition 0: WRONGTYPE cdr:{%s}:str holds a string, not a hash",
             redis_addr(), tag, tag);
    cr_assert(strncmp(dg.dg_msg, want, strlen(want)) == 0, "%s\nwant %s", dg.dg_msg, want);
    cr_assert_eq(cdr_redis_queued(r), 1);
    assert_field(r, tag, "ok", "n", "(none)");
    cr_assert_eq(applied(r, tag, 0), -1);
    cdr_redis_discard(r);
    cr_assert_eq(cdr_redis_queued(r), 0);
    flush(r);
    redisFree(c);
    cdr_redis_close(r);
}

/* ---- Redis forgets the script, Redis restarts --------------------------------------------------
 */

Test(redis, noscript)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char tag[128], tag2[128], got[256];
    cdr_redis_op ops[64];
    unique_tag(tag, sizeof tag, "noscript");
    unique_tag(tag2, sizeof tag2, "noscript2");
    apply(r, tag, 0, ops, counting_ops(ops, 1, 5));
    flush(r);
    raw(c, got, sizeof got, "SCRIPT FLUSH");
    cr_assert_str_eq(got, "OK");
    /* Three groups meet NOSCRIPT; the script is loaded again and all three run, in order. */
    apply(r, tag, 0, ops, counting_ops(ops, 6, 8));
    apply(r, tag2, 0, ops, counting_ops(ops, 1, 4));
    apply(r, tag, 0, ops, counting_ops(ops, 7, 10));
    flush(r);
    assert_field(r, tag, "c", "n", "10");
    assert_field(r, tag, "c", "sum", "55");
    assert_field(r, tag2, "c", "n", "4");
    redisFree(c);
    cdr_redis_close(r);
}

/* The connection dropped by the same server (CLIENT KILL): the call that meets it connects
 * again once and sends again what was not answered; no restart is reported. */
Test(redis, connection_killed)
{
    cdr_redis *r = open_redis();
    redisContext *c = raw_client();
    char tag[128], got[256];
    cdr_redis_op ops[64];
    unique_tag(tag, sizeof tag, "killed");
    apply(r, tag, 0, ops, counting_ops(ops, 1, 5));
    flush(r);
    raw(c, got, sizeof got, "CLIENT KILL TYPE normal SKIPME yes");
    apply(r, tag, 0, ops, counting_ops(ops, 1, 8));
    flush(r);
    assert_field(r, tag, "c", "n", "8");
    raw(c, got, sizeof got, "CLIENT KILL TYPE normal SKIPME yes");
    cr_assert_eq(cdr_redis_set_resume(r, 0, tag, 9, NULL), 0);
    raw(c, got, sizeof got, "CLIENT KILL TYPE normal SKIPME yes");
    assert_field(r, tag, "c", "sum", "36");
    cr_assert_eq(cdr_redis_ack_restart(r), 0);
    redisFree(c);
    cdr_redis_close(r);
}

/* After a restart, as the projection does: read the resume point and apply from there. What
 * survived a kill is a prefix of the writes (one append-only file): the resume point is never
 * ahead of the data. */
static void catch_up(cdr_redis *r, const char *tag, const char *group, int64_t last)
{
    cdr_redis_op ops[64];
    int64_t resume = -2, done;
    cr_assert_eq(cdr_redis_get_resume(r, 0, group, &resume, NULL), 0);
    done = applied(r, tag, 0);
    cr_assert(resume <= done + 1, "resume point %" PRId64 " ahead of the applied offset %" PRId64,
              resume, done);
    apply(r, tag, 0, ops, counting_ops(ops, resume < 1 ? 1 : resume, last));
    flush(r);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, last + 1, NULL), 0);
}

Test(redis, restart)
{
    if (!getenv("CDR_REDIS_STATE") || !*getenv("CDR_REDIS_STATE"))
        cr_assert_fail(NO_STATE);
    cdr_redis *r = open_redis();
    char tag[128], group[128], want[256];
    cdr_redis_op ops[64];
    cdr_diag dg;
    int64_t off;
    unique_tag(tag, sizeof tag, "restart");
    unique_tag(group, sizeof group, "restartgroup");
    apply(r, tag, 0, ops, counting_ops(ops, 1, 5));
    flush(r);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, 6, NULL), 0);

    /* Killed: calls fail naming the address; the queued group is kept. */
    run_script("stop");
    snprintf(want, sizeof want, "redis %s: ", redis_addr());
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_applied(r, tag, 0, &off, &dg), CDR_REDIS);
    cr_assert(strncmp(dg.dg_msg, want, strlen(want)) == 0, "%s", dg.dg_msg);
    apply(r, tag, 0, ops, counting_ops(ops, 6, 10));
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_flush(r, &dg), CDR_REDIS);
    cr_assert(strncmp(dg.dg_msg, want, strlen(want)) == 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_redis_queued(r), 1);

    /* Started again on the same data: the flush connects again, finds a new server process and
     * sends nothing (what it acknowledged last may be lost); the caller acknowledges the restart
     * (the queue is dropped) and applies again from its resume point. */
    run_script("start");
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_redis_flush(r, &dg), CDR_REDIS);
    snprintf(want, sizeof want,
             "redis %s: the server was restarted or replaced (new run_id): writes it "
             "acknowledged last may be lost; apply again from the resume points "
             "(cdr_redis_ack_restart)",
             redis_addr());
    cr_assert_str_eq(dg.dg_msg, want);
    cr_assert_eq(cdr_redis_queued(r), 1);
    cr_assert_eq(cdr_redis_ack_restart(r), 1);
    cr_assert_eq(cdr_redis_queued(r), 0);
    cr_assert_eq(cdr_redis_ack_restart(r), 0);
    catch_up(r, tag, group, 10);
    assert_field(r, tag, "c", "n", "10");
    assert_field(r, tag, "c", "sum", "55");
    cr_assert_eq(applied(r, tag, 0), 10);

    /* A restart behind an open connection: a read reconnects and goes on; the next write is
     * refused until acknowledged. */
    run_script("restart");
    cr_assert_geq(applied(r, tag, 0), -1);
    cr_assert_eq(cdr_redis_set_resume(r, 0, group, 11, NULL), CDR_REDIS);
    apply(r, tag, 0, ops, counting_ops(ops, 11, 12));
    cr_assert_eq(cdr_redis_flush(r, NULL), CDR_REDIS);
    cr_assert_eq(cdr_redis_ack_restart(r), 1);
    catch_up(r, tag, group, 12);
    assert_field(r, tag, "c", "n", "12");
    assert_field(r, tag, "c", "sum", "78");
    cdr_redis_close(r);
}
