/* live_redis.c - the live state in Redis (cdr_live.h, docs/live-state.md "Redis"): the
 * projection's sink that writes every rated record as idempotent ops (cdr_redis.h), and the
 * reads that fill a cdr_live_view from Redis instead of the store.
 *
 * Keys, all hashes; every key of a line and its account carries the account's hash tag, so that
 * one account's state lives in one Redis Cluster slot, and a pool its enterprise's:
 *   cdr:{a:ACCOUNT}:line:SUB:CYCLE  records:SVC units:SVC bundle_units:SVC overflow_units:SVC
 *                                   free_units:SVC roaming account last_event charge:CUR:SVC
 *                                   records:CUR bundle:TAG(16 hex) status warned_at suspended_at
 *   cdr:{a:ACCOUNT}:acct:CYCLE      charge:CUR:SVC records:CUR line:SUB (1 per line with records)
 *   cdr:{a:ACCOUNT}:cycles:SUB      CYCLE -> 1 (the cycles with state for the line)
 *   cdr:{e:ENTERPRISE}:pool:CYCLE   used:SVC
 * A line without account uses the tag s:SUB. Every record's ops carry its offset: the adapter
 * applies each at most once per tag and partition, whatever is delivered again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_archive.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "cdr_redis.h"
#include "cdr_stream.h"
#include "live_int.h"

#define TAG_LEN 32

static void account_tag(char *tag, uint64_t account, uint64_t sub)
{
    if (account)
        snprintf(tag, TAG_LEN, "a:%" PRIu64, account);
    else
        snprintf(tag, TAG_LEN, "s:%" PRIu64, sub);
}

/* ---- the sink -------------------------------------------------------------------------------- */

typedef struct tag_op {
    char to_tag[TAG_LEN];
    uint32_t to_seq; /* order of creation: records' offset order within a tag */
    cdr_redis_op to_op;
} tag_op;

struct cdr_live_rsink {
    cdr_redis *rs_r;
    cdr_store *rs_st;
    char rs_group[128];
    cdr_subtab *rs_subs;
    cdr_plan_set *rs_ps;
    int64_t *rs_next; /* [rs_nparts], -1 = not read from Redis yet */
    uint32_t rs_nparts;
    tag_op *rs_ops;
    size_t rs_nops, rs_capops;
    int rs_failed;
    cdr_archive_sink rs_sink;
    cdr_live_sink_stats rs_stats;
};

static int grow_parts(cdr_live_rsink *rs, uint32_t p)
{
    if (p < rs->rs_nparts)
        return 0;
    int64_t *nn = realloc(rs->rs_next, (p + 1) * sizeof *nn);
    if (!nn)
        return CDR_ENOMEM;
    for (uint32_t i = rs->rs_nparts; i <= p; i++)
        nn[i] = -1;
    rs->rs_next = nn;
    rs->rs_nparts = p + 1;
    return 0;
}

static int64_t rsink_next(void *arg, uint32_t partition)
{
    cdr_live_rsink *rs = arg;
    if (grow_parts(rs, partition) != 0)
        return 0;
    if (rs->rs_next[partition] < 0) {
        int64_t off = -1;
        cdr_diag dg;
        /* unreadable: from the beginning, which the per-tag offsets make harmless (only slow) */
        if (cdr_redis_get_resume(rs->rs_r, (int32_t)partition, rs->rs_group, &off, &dg) != 0) {
            fprintf(stderr, "cdrate project: %s: resuming partition %" PRIu32 " from 0\n",
                    dg.dg_msg, partition);
            off = 0;
        }
        rs->rs_next[partition] = off > 0 ? off : 0;
    }
    return rs->rs_next[partition];
}

static uint64_t rsink_stored(void *arg)
{
    return ((const cdr_live_rsink *)arg)->rs_stats.ls_applied;
}

static tag_op *new_op(cdr_live_rsink *rs, const char *tag, int64_t offset, int kind,
                      const char *key, const char *field, int64_t value)
{
    if (rs->rs_nops == rs->rs_capops) {
        size_t ncap = rs->rs_capops ? rs->rs_capops * 2 : 4096;
        tag_op *no = realloc(rs->rs_ops, ncap * sizeof *no);
        if (!no)
            return NULL;
        rs->rs_ops = no;
        rs->rs_capops = ncap;
    }
    tag_op *t = &rs->rs_ops[rs->rs_nops];
    snprintf(t->to_tag, sizeof t->to_tag, "%s", tag);
    t->to_seq = (uint32_t)rs->rs_nops++;
    t->to_op.offset = offset;
    t->to_op.kind = (uint8_t)kind;
    snprintf(t->to_op.key, sizeof t->to_op.key, "%s", key);
    snprintf(t->to_op.field, sizeof t->to_op.field, "%s", field);
    t->to_op.value = value;
    return t;
}

/* The ops of one rated record (the same sums cdr_live_acc_add makes). */
static int record_ops(cdr_live_rsink *rs, const cdr_sub *su, const cdr_ledger_rec *r,
                      const cdr_plan *pl)
{
    const cdr_rated *rr = &r->lr_rated;
    if (rr->rr_reason != CDR_REASON_NONE || rr->rr_service >= CDR_SVC_COUNT)
        return 0;
    const char *svc = cdr_service_name(rr->rr_service);
    char tag[TAG_LEN], line[96], acct[96], cyc[96], f[64], cur[4];
    account_tag(tag, su->su_account, su->su_id);
    snprintf(line, sizeof line, "line:%" PRIu64 ":%u", su->su_id, (unsigned)rr->rr_cycle);
    snprintf(acct, sizeof acct, "acct:%u", (unsigned)rr->rr_cycle);
    snprintf(cyc, sizeof cyc, "cycles:%" PRIu64, su->su_id);
    memcpy(cur, rr->rr_currency, 3);
    cur[3] = '\0';
    const int64_t o = r->lr_offset;
    int ok = 1;
#define OP(key, field, kind, value) ok = ok && new_op(rs, tag, o, kind, key, field, value) != NULL
    snprintf(f, sizeof f, "records:%s", svc);
    OP(line, f, CDR_REDIS_HINCRBY, 1);
    snprintf(f, sizeof f, "units:%s", svc);
    OP(line, f, CDR_REDIS_HINCRBY, (int64_t)rr->rr_units);
    snprintf(f, sizeof f, "bundle_units:%s", svc);
    OP(line, f, CDR_REDIS_HINCRBY, (int64_t)rr->rr_bundle_units);
    snprintf(f, sizeof f, "overflow_units:%s", svc);
    OP(line, f, CDR_REDIS_HINCRBY, (int64_t)rr->rr_overflow_units);
    snprintf(f, sizeof f, "free_units:%s", svc);
    OP(line, f, CDR_REDIS_HINCRBY, (int64_t)rr->rr_free_units);
    snprintf(f, sizeof f, "charge:%s:%s", cur, svc);
    OP(line, f, CDR_REDIS_HINCRBY, rr->rr_charge);
    OP(acct, f, CDR_REDIS_HINCRBY, rr->rr_charge);
    snprintf(f, sizeof f, "records:%s", cur);
    OP(line, f, CDR_REDIS_HINCRBY, 1);
    OP(acct, f, CDR_REDIS_HINCRBY, 1);
    OP(line, "account", CDR_REDIS_HSETNX, (int64_t)su->su_account);
    OP(line, "last_event", CDR_REDIS_HMAX, r->lr_cdr.cr_start);
    /* credit status from the record's flags (the line's records come in rating order: the first
     * flagged one is the transition) */
    if (rr->rr_flags & (CDR_RATED_FLAG_WARNED | CDR_RATED_FLAG_SUSPENDED)) {
        const int64_t t = r->lr_cdr.cr_start > 0 ? r->lr_cdr.cr_start : 1;
        OP(line, "status", CDR_REDIS_HMAX,
           (rr->rr_flags & CDR_RATED_FLAG_SUSPENDED) ? CDR_LINE_SUSPENDED : CDR_LINE_WARNED);
        OP(line, "warned_at", CDR_REDIS_HSETNX, t);
        if (rr->rr_flags & CDR_RATED_FLAG_SUSPENDED)
            OP(line, "suspended_at", CDR_REDIS_HSETNX, t);
    }
    snprintf(f, sizeof f, "line:%" PRIu64, su->su_id);
    OP(acct, f, CDR_REDIS_HSETNX, 1);
    snprintf(f, sizeof f, "%u", (unsigned)rr->rr_cycle);
    OP(cyc, f, CDR_REDIS_HSETNX, 1);
    if (pl && rr->rr_zone >= 0 && rr->rr_zone < pl->pl_nzones &&
        pl->pl_zones[rr->rr_zone].zo_kind == CDR_ZONE_ROAMING)
        OP(line, "roaming", CDR_REDIS_HINCRBY, 1);
    if (pl && rr->rr_bundle >= 0 && rr->rr_bundle < pl->pl_nbundles && rr->rr_bundle_units) {
        const cdr_bundle *bu = &pl->pl_bundles[rr->rr_bundle];
        uint64_t btag =
            bu->bu_pool ? cdr_live_pool_tag(bu->bu_service) : cdr_counter_bundle_tag(bu->bu_name);
        snprintf(f, sizeof f, "bundle:%016" PRIx64, btag);
        OP(line, f, CDR_REDIS_HINCRBY, (int64_t)rr->rr_bundle_units);
        if (bu->bu_pool && su->su_enterprise) {
            char ptag[TAG_LEN], pool[96];
            snprintf(ptag, sizeof ptag, "e:%" PRIu64, su->su_enterprise);
            snprintf(pool, sizeof pool, "pool:%u", (unsigned)rr->rr_cycle);
            snprintf(f, sizeof f, "used:%s", cdr_service_name(bu->bu_service));
            ok = ok && new_op(rs, ptag, o, CDR_REDIS_HINCRBY, pool, f,
                              (int64_t)rr->rr_bundle_units) != NULL;
        }
    }
#undef OP
    return ok ? 0 : CDR_ENOMEM;
}

static int cmp_tag_op(const void *a, const void *b)
{
    const tag_op *x = a, *y = b;
    int c = strcmp(x->to_tag, y->to_tag);
    if (c)
        return c;
    return (x->to_seq > y->to_seq) - (x->to_seq < y->to_seq);
}

static int rsink_append(void *arg, uint32_t partition, const cdr_ledger_rec *recs, size_t n,
                        int64_t last, cdr_diag *dg)
{
    cdr_live_rsink *rs = arg;
    if (rs->rs_failed)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "live state: a write failed before");
    const int64_t from = rsink_next(rs, partition);
    if (last < from)
        return 0;
    rs->rs_nops = 0;
    int rc = 0, reloaded = 0;
    uint64_t applied = 0, unknown = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const cdr_ledger_rec *r = &recs[i];
        if (r->lr_offset < from)
            continue;
        const cdr_sub *su = cdr_subtab_find(rs->rs_subs, r->lr_cdr.cr_msisdn);
        if (!su && !reloaded) {
            reloaded = 1;
            if ((rc = live_view_load(rs->rs_st, &rs->rs_subs, &rs->rs_ps, dg)) != 0)
                break;
            su = cdr_subtab_find(rs->rs_subs, r->lr_cdr.cr_msisdn);
        }
        applied++;
        if (!su) {
            unknown++;
            fprintf(stderr,
                    "cdrate project: partition %" PRIu32 " offset %" PRId64
                    ": msisdn %s is not in the directory: its charge is in no line or account\n",
                    partition, r->lr_offset, r->lr_cdr.cr_msisdn);
            continue;
        }
        if (record_ops(rs, su, r, live_rating_plan(rs->rs_ps, r)) != 0)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    /* one group per tag, its ops in offset order */
    qsort(rs->rs_ops, rs->rs_nops, sizeof *rs->rs_ops, cmp_tag_op);
    cdr_redis_op *ops = NULL;
    if (!rc && rs->rs_nops && !(ops = malloc(rs->rs_nops * sizeof *ops)))
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < rs->rs_nops && !rc;) {
        size_t j = i;
        for (; j < rs->rs_nops && !strcmp(rs->rs_ops[j].to_tag, rs->rs_ops[i].to_tag); j++)
            ops[j - i] = rs->rs_ops[j].to_op;
        rc = cdr_redis_apply(rs->rs_r, rs->rs_ops[i].to_tag, (int32_t)partition, ops, j - i, dg);
        i = j;
    }
    free(ops);
    if (!rc)
        rc = cdr_redis_flush(rs->rs_r, dg);
    if (!rc)
        rc = cdr_redis_set_resume(rs->rs_r, (int32_t)partition, rs->rs_group, last + 1, dg);
    if (rc) {
        cdr_redis_discard(rs->rs_r);
        rs->rs_failed = 1;
        return rc;
    }
    rs->rs_next[partition] = last + 1;
    rs->rs_stats.ls_applied += applied;
    rs->rs_stats.ls_unknown += unknown;
    rs->rs_stats.ls_batches++;
    return 0;
}

int cdr_live_rsink_open(cdr_redis *r, cdr_store *st, const char *group, cdr_live_rsink **out,
                        cdr_diag *dg)
{
    *out = NULL;
    cdr_live_rsink *rs = calloc(1, sizeof *rs);
    if (!rs)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    rs->rs_r = r;
    rs->rs_st = st;
    snprintf(rs->rs_group, sizeof rs->rs_group, "%s", group);
    int rc = live_view_load(rs->rs_st, &rs->rs_subs, &rs->rs_ps, dg);
    if (rc) {
        cdr_live_rsink_close(rs);
        return rc;
    }
    rs->rs_sink = (cdr_archive_sink){"live state in Redis", cdr_redis_addr(r), rs, rsink_next,
                                     rsink_append,          rsink_stored};
    *out = rs;
    return 0;
}

void cdr_live_rsink_close(cdr_live_rsink *rs)
{
    if (!rs)
        return;
    cdr_subtab_free(rs->rs_subs);
    cdr_plan_set_release(rs->rs_ps);
    free(rs->rs_next);
    free(rs->rs_ops);
    free(rs);
}

const cdr_archive_sink *cdr_live_rsink_archive(cdr_live_rsink *rs)
{
    return &rs->rs_sink;
}

void cdr_live_rsink_stats_get(const cdr_live_rsink *rs, cdr_live_sink_stats *out)
{
    *out = rs->rs_stats;
}

/* ---- reads ----------------------------------------------------------------------------------- */

static int64_t kv_int(const cdr_redis_kv *kv)
{
    char b[32];
    size_t n = kv->kv_value_len < sizeof b - 1 ? kv->kv_value_len : sizeof b - 1;
    memcpy(b, kv->kv_value, n);
    b[n] = '\0';
    return strtoll(b, NULL, 10);
}

/* field == prefix + rest: rest into buf; 0 when it does not start with prefix. */
static int field_after(const cdr_redis_kv *kv, const char *prefix, char *buf, size_t bufsize)
{
    size_t pl = strlen(prefix);
    if (kv->kv_field_len < pl || memcmp(kv->kv_field, prefix, pl) != 0 ||
        kv->kv_field_len - pl >= bufsize)
        return 0;
    memcpy(buf, kv->kv_field + pl, kv->kv_field_len - pl);
    buf[kv->kv_field_len - pl] = '\0';
    return 1;
}

static int service_of(const char *name)
{
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        if (!strcmp(cdr_service_name(s), name))
            return s;
    return -1;
}

/* "CUR:SVC" -> the money slot of CUR (added, sorted) and the service; NULL when malformed. */
static cdr_live_money *cur_svc(cdr_live_money *m, uint32_t *n, const char *rest, int *svc)
{
    if (strlen(rest) < 5 || rest[3] != ':')
        return NULL;
    char cur[4] = {rest[0], rest[1], rest[2], '\0'};
    *svc = rest[4] ? service_of(rest + 4) : -1;
    return live_money_slot(m, n, cur);
}

static int hgetall(cdr_redis *r, const char *tag, const char *key, cdr_redis_kv **kv, size_t *n,
                   cdr_diag *dg)
{
    return cdr_redis_hgetall(r, tag, key, kv, n, dg);
}

int live_redis_fetch(cdr_redis *r, cdr_live_view *v, uint32_t cycle, int all, cdr_live_pool *pool,
                     int *have_pool, cdr_diag *dg)
{
    const cdr_dir_subscriber *sb = v->lv_sub;
    char tag[TAG_LEN], key[96], rest[64];
    account_tag(tag, sb->sb_account, sb->sb_id);
    cdr_redis_kv *kv = NULL;
    size_t n = 0;
    int rc;
    if (!cycle) { /* the latest cycle with state for the line */
        snprintf(key, sizeof key, "cycles:%" PRIu64, sb->sb_id);
        if ((rc = hgetall(r, tag, key, &kv, &n, dg)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            char c[16];
            if (field_after(&kv[i], "", c, sizeof c) && (uint32_t)atol(c) > cycle)
                cycle = (uint32_t)atol(c);
        }
        cdr_redis_kv_free(kv);
    }
    v->lv_cycle = cycle ? cycle : live_current_cycle();
    /* the line */
    cdr_live_line *l = &v->lv_line;
    memset(l, 0, sizeof *l);
    n = 0;
    kv = NULL;
    snprintf(key, sizeof key, "line:%" PRIu64 ":%u", sb->sb_id, (unsigned)v->lv_cycle);
    if (all && (rc = hgetall(r, tag, key, &kv, &n, dg)) != 0)
        return rc;
    l->ll_subscriber = sb->sb_id;
    l->ll_cycle = v->lv_cycle;
    v->lv_has_line = n > 0;
    for (size_t i = 0; i < n; i++) {
        int s;
        cdr_live_money *m;
        int64_t val = kv_int(&kv[i]);
        if (field_after(&kv[i], "records:", rest, sizeof rest) && strlen(rest) == 3 &&
            !strchr(rest, ':') && service_of(rest) < 0) {
            if ((m = live_money_slot(l->ll_money, &l->ll_ncur, rest)) != NULL)
                m->lm_records = (uint64_t)val;
        } else if (field_after(&kv[i], "records:", rest, sizeof rest) &&
                   (s = service_of(rest)) >= 0) {
            l->ll_records[s] = (uint64_t)val;
        } else if (field_after(&kv[i], "units:", rest, sizeof rest) &&
                   (s = service_of(rest)) >= 0) {
            l->ll_units[s] = (uint64_t)val;
        } else if (field_after(&kv[i], "bundle_units:", rest, sizeof rest) &&
                   (s = service_of(rest)) >= 0) {
            l->ll_bundle_units[s] = (uint64_t)val;
        } else if (field_after(&kv[i], "overflow_units:", rest, sizeof rest) &&
                   (s = service_of(rest)) >= 0) {
            l->ll_overflow_units[s] = (uint64_t)val;
        } else if (field_after(&kv[i], "free_units:", rest, sizeof rest) &&
                   (s = service_of(rest)) >= 0) {
            l->ll_free_units[s] = (uint64_t)val;
        } else if (field_after(&kv[i], "charge:", rest, sizeof rest) &&
                   (m = cur_svc(l->ll_money, &l->ll_ncur, rest, &s)) != NULL && s >= 0) {
            m->lm_charge[s] = val;
            m->lm_total += val;
        } else if (field_after(&kv[i], "bundle:", rest, sizeof rest)) {
            for (int b = 0; b < CDR_PLAN_MAX_BUNDLES; b++)
                if (!l->ll_bundle[b].lb_tag) {
                    l->ll_bundle[b].lb_tag = strtoull(rest, NULL, 16);
                    l->ll_bundle[b].lb_used = (uint64_t)val;
                    break;
                }
        } else if (field_after(&kv[i], "roaming", rest, sizeof rest) && !rest[0]) {
            l->ll_roaming_records = (uint64_t)val;
        } else if (field_after(&kv[i], "last_event", rest, sizeof rest) && !rest[0]) {
            l->ll_last_event = val;
        } else if (field_after(&kv[i], "status", rest, sizeof rest) && !rest[0]) {
            l->ll_status = val >= 0 && val < CDR_LINE_STATUS_COUNT ? (uint32_t)val : 0;
        } else if (field_after(&kv[i], "warned_at", rest, sizeof rest) && !rest[0]) {
            l->ll_warned_at = val;
        } else if (field_after(&kv[i], "suspended_at", rest, sizeof rest) && !rest[0]) {
            l->ll_suspended_at = val;
        } else if (field_after(&kv[i], "account", rest, sizeof rest) && !rest[0]) {
            l->ll_account = (uint64_t)val;
        }
    }
    cdr_redis_kv_free(kv);
    /* the account */
    cdr_live_account *a = &v->lv_acct;
    memset(a, 0, sizeof *a);
    a->la_account = sb->sb_account;
    a->la_cycle = v->lv_cycle;
    snprintf(key, sizeof key, "acct:%u", (unsigned)v->lv_cycle);
    if (sb->sb_account && (rc = hgetall(r, tag, key, &kv, &n, dg)) != 0)
        return rc;
    if (sb->sb_account) {
        v->lv_has_account = n > 0;
        for (size_t i = 0; i < n; i++) {
            int s;
            cdr_live_money *m;
            int64_t val = kv_int(&kv[i]);
            if (field_after(&kv[i], "line:", rest, sizeof rest)) {
                a->la_lines++;
            } else if (field_after(&kv[i], "records:", rest, sizeof rest)) {
                if ((m = live_money_slot(a->la_money, &a->la_ncur, rest)) != NULL)
                    m->lm_records = (uint64_t)val;
            } else if (field_after(&kv[i], "charge:", rest, sizeof rest) &&
                       (m = cur_svc(a->la_money, &a->la_ncur, rest, &s)) != NULL && s >= 0) {
                m->lm_charge[s] = val;
                m->lm_total += val;
            }
        }
        cdr_redis_kv_free(kv);
    }
    /* the enterprise's pool */
    *have_pool = 0;
    if (all && sb->sb_enterprise) {
        char ptag[TAG_LEN];
        snprintf(ptag, sizeof ptag, "e:%" PRIu64, sb->sb_enterprise);
        snprintf(key, sizeof key, "pool:%u", (unsigned)v->lv_cycle);
        if ((rc = hgetall(r, ptag, key, &kv, &n, dg)) != 0)
            return rc;
        memset(pool, 0, sizeof *pool);
        pool->lp_enterprise = sb->sb_enterprise;
        pool->lp_cycle = v->lv_cycle;
        *have_pool = n > 0;
        for (size_t i = 0; i < n; i++) {
            int s;
            if (field_after(&kv[i], "used:", rest, sizeof rest) && (s = service_of(rest)) >= 0)
                pool->lp_used[s] = (uint64_t)kv_int(&kv[i]);
        }
        cdr_redis_kv_free(kv);
    }
    return 0;
}
