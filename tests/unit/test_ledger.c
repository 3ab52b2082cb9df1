/* test_ledger.c - the rated-CDR ledger: order, torn tails, corruption, rolls, the index,
 * cycle/partition separation and exactly-once after a crash (docs/ledger.md). */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_ledger.h"

/* ---- fixtures ------------------------------------------------------------------------------- */

#define BATCH 37

/* Offsets whose Kafka message is not a ledger record (a suspense entry, say). */
static int skipped(int64_t off)
{
    return off % 11 == 5;
}

static uint32_t cycle_of(int64_t off)
{
    return (off / 50) % 2 ? 202612 : 202611;
}

static cdr_ledger_rec rec_for(uint32_t partition, int64_t off)
{
    cdr_ledger_rec r;
    memset(&r, 0, sizeof r);
    r.lr_offset = off;
    snprintf(r.lr_cdr.cr_source, sizeof r.lr_cdr.cr_source, "MSC%02u", partition);
    snprintf(r.lr_cdr.cr_origin_id, sizeof r.lr_cdr.cr_origin_id, "p%u-o%" PRId64, partition, off);
    snprintf(r.lr_cdr.cr_msisdn, sizeof r.lr_cdr.cr_msisdn, "86138%08d",
             (int)((off * 7 + partition) % 40));
    strcpy(r.lr_cdr.cr_other, "8610086");
    r.lr_cdr.cr_start = 1793000000 + off;
    r.lr_cdr.cr_duration = (uint32_t)(off % 300);
    r.lr_cdr.cr_service = (uint8_t)(off % 3 == 0 ? CDR_SVC_SMS : CDR_SVC_VOICE);
    r.lr_rated.rr_service = r.lr_cdr.cr_service;
    r.lr_rated.rr_zone = 1;
    r.lr_rated.rr_bundle = -1;
    r.lr_rated.rr_plan_version = 2;
    r.lr_rated.rr_cycle = cycle_of(off);
    r.lr_rated.rr_charge = off * 1000 + partition;
    r.lr_rated.rr_units = r.lr_rated.rr_overflow_units = (uint64_t)(off % 300);
    /* two currencies, and records without one (as read from rated wire version 1) */
    strcpy(r.lr_rated.rr_currency, off % 13 == 7 ? "" : off % 4 == 1 ? "EUR" : "CNY");
    r.lr_rated.rr_nparts = 1;
    r.lr_rated.rr_parts[0].rp_units = r.lr_rated.rr_units;
    r.lr_rated.rr_parts[0].rp_charge = r.lr_rated.rr_charge;
    strcpy(r.lr_plan, "cn-personal-128");
    return r;
}

/* Records of batch [from, to) of a partition, optionally only one cycle. */
static size_t batch_recs(uint32_t partition, int64_t from, int64_t to, cdr_ledger_rec *out)
{
    size_t n = 0;
    for (int64_t o = from; o < to; o++)
        if (!skipped(o))
            out[n++] = rec_for(partition, o);
    return n;
}

static void append_range(cdr_ledger *lg, uint32_t partition, int64_t from, int64_t to)
{
    cdr_ledger_rec recs[BATCH * 4];
    for (int64_t b = from; b < to; b += BATCH) {
        int64_t e = b + BATCH < to ? b + BATCH : to;
        size_t n = batch_recs(partition, b, e, recs);
        cdr_diag dg;
        int rc = cdr_ledger_append(lg, partition, recs, n, e - 1, &dg);
        cr_assert_eq(rc, 0, "append: %s: %s", dg.dg_file, dg.dg_msg);
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cdr-ledger-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static cdr_ledger *open_ok(const cdr_ledger_opts *o)
{
    cdr_ledger *lg;
    cdr_diag dg;
    int rc = cdr_ledger_open(tmpdir, o, &lg, &dg);
    cr_assert_eq(rc, 0, "open: %s: %s", dg.dg_file, dg.dg_msg);
    return lg;
}

/* Collected records: (partition, offset) and the full record. */
typedef struct got {
    cdr_ledger_rec *g_recs;
    uint32_t *g_parts;
    size_t g_n, g_cap;
} got;

static int collect(const cdr_ledger_rec *rec, uint32_t partition, void *ctx)
{
    got *g = ctx;
    if (g->g_n == g->g_cap) {
        g->g_cap = g->g_cap ? 2 * g->g_cap : 256;
        g->g_recs = realloc(g->g_recs, g->g_cap * sizeof *g->g_recs);
        g->g_parts = realloc(g->g_parts, g->g_cap * sizeof *g->g_parts);
    }
    g->g_recs[g->g_n] = *rec;
    g->g_parts[g->g_n++] = partition;
    return 0;
}

static void got_free(got *g)
{
    free(g->g_recs);
    free(g->g_parts);
    memset(g, 0, sizeof *g);
}

static got scan(cdr_ledger *lg, uint32_t cycle)
{
    got g = {0};
    cdr_diag dg;
    int rc = cdr_ledger_scan(lg, cycle, collect, &g, &dg);
    cr_assert_eq(rc, 0, "scan: %s: %s", dg.dg_file, dg.dg_msg);
    return g;
}

static void assert_same_rec(const cdr_ledger_rec *a, const cdr_ledger_rec *b)
{
    cr_assert_eq(a->lr_offset, b->lr_offset);
    cr_assert_eq(memcmp(&a->lr_cdr, &b->lr_cdr, sizeof a->lr_cdr), 0, "offset %" PRId64,
                 a->lr_offset);
    cr_assert_eq(a->lr_rated.rr_cycle, b->lr_rated.rr_cycle);
    cr_assert_eq(a->lr_rated.rr_charge, b->lr_rated.rr_charge);
    cr_assert_eq(a->lr_rated.rr_units, b->lr_rated.rr_units);
    cr_assert_str_eq(a->lr_rated.rr_currency, b->lr_rated.rr_currency);
    cr_assert_eq(a->lr_rated.rr_nparts, b->lr_rated.rr_nparts);
    cr_assert_str_eq(a->lr_plan, b->lr_plan);
}

/* Names the currency of the records without one: CNY for plan cn-personal-128 version 2. */
static void resolve_cny(const char *plan_id, uint32_t version, char *cur, void *ctx)
{
    (void)ctx;
    if (!strcmp(plan_id, "cn-personal-128") && version == 2)
        strcpy(cur, "CNY");
}

/* The views of a cdr_ledger_scan_view checked against the records of a cdr_ledger_scan. */
typedef struct vcheck {
    const got *vc_got;
    size_t vc_k;       /* records of vc_got seen */
    unsigned vc_share; /* the share scanned (records of other shares are skipped) */
    unsigned vc_nshares;
    uint32_t vc_rank[16]; /* partition -> its rank among the cycle's */
} vcheck;

static int check_one_view(const cdr_ledger_view *v, uint32_t partition, vcheck *vc)
{
    const got *g = vc->vc_got;
    while (vc->vc_k < g->g_n && vc->vc_rank[g->g_parts[vc->vc_k]] % vc->vc_nshares != vc->vc_share)
        vc->vc_k++;
    cr_assert(vc->vc_k < g->g_n, "a view more than the scan's records");
    const cdr_ledger_rec *r = &g->g_recs[vc->vc_k];
    cr_assert_eq(g->g_parts[vc->vc_k], partition);
    cr_assert_eq(v->lv_offset, r->lr_offset);
    const cdr_rated_view *rv = &v->lv_rv;
    cr_assert_eq(rv->rv_cdr.wv_msisdn_len, strlen(r->lr_cdr.cr_msisdn));
    cr_assert_eq(memcmp(rv->rv_cdr.wv_msisdn, r->lr_cdr.cr_msisdn, rv->rv_cdr.wv_msisdn_len), 0);
    cr_assert_eq(rv->rv_cdr.wv_start, r->lr_cdr.cr_start);
    cr_assert_eq(rv->rv_charge, r->lr_rated.rr_charge);
    cr_assert_eq(rv->rv_cycle, r->lr_rated.rr_cycle);
    cr_assert_str_eq(rv->rv_currency, r->lr_rated.rr_currency);
    cr_assert_eq(rv->rv_plan_len, strlen(r->lr_plan));
    cr_assert_eq(memcmp(rv->rv_plan, r->lr_plan, rv->rv_plan_len), 0);
    /* the bytes are the record's: they decode to it */
    cdr_ledger_rec d;
    cr_assert_eq(
        cdr_rated_wire_decode(v->lv_wire, v->lv_len, &d.lr_cdr, &d.lr_rated, d.lr_plan, NULL), 0);
    d.lr_offset = v->lv_offset;
    assert_same_rec(&d, r);
    vc->vc_k++;
    return 0;
}

static int check_view(const cdr_ledger_view *v, size_t n, uint32_t partition, void *ctx)
{
    cr_assert(n >= 1 && n <= CDR_LEDGER_VIEW_BATCH, "%zu views in a call", n);
    for (size_t i = 0; i < n; i++)
        check_one_view(&v[i], partition, ctx);
    return 0;
}

/* cdr_ledger_scan_view of `cycle`, whole and in two shares, gives the records of g (its
 * cdr_ledger_scan) in the same order. */
static void assert_view_equals_scan(cdr_ledger *lg, uint32_t cycle, const got *g)
{
    for (unsigned nshares = 1; nshares <= 2; nshares++)
        for (unsigned share = 0; share < nshares; share++) {
            vcheck vc = {.vc_got = g, .vc_share = share, .vc_nshares = nshares};
            uint32_t rank = 0;
            for (size_t i = 0; i < g->g_n; i++)
                if (i == 0 || g->g_parts[i] != g->g_parts[i - 1])
                    vc.vc_rank[g->g_parts[i]] = rank++;
            cdr_diag dg;
            int rc = cdr_ledger_scan_view(lg, cycle, share, nshares, check_view, &vc, &dg);
            cr_assert_eq(rc, 0, "scan_view: %s: %s", dg.dg_file, dg.dg_msg);
            while (vc.vc_k < g->g_n &&
                   vc.vc_rank[g->g_parts[vc.vc_k]] % vc.vc_nshares != vc.vc_share)
                vc.vc_k++;
            cr_assert_eq(vc.vc_k, g->g_n, "share %u of %u: views missing", share, nshares);
        }
}

/* The scan of `cycle` holds exactly the records of offsets [0, upto[p]) of each partition p <
 * nparts whose cycle is `cycle`, in (partition, offset) order, each once; so does the view scan. */
static void assert_exact(cdr_ledger *lg, uint32_t cycle, uint32_t nparts, const int64_t *upto)
{
    got g = scan(lg, cycle);
    assert_view_equals_scan(lg, cycle, &g);
    size_t k = 0;
    for (uint32_t p = 0; p < nparts; p++)
        for (int64_t o = 0; o < upto[p]; o++) {
            if (skipped(o) || cycle_of(o) != cycle)
                continue;
            cr_assert(k < g.g_n, "cycle %u: missing partition %u offset %" PRId64, cycle, p, o);
            cr_assert_eq(g.g_parts[k], p, "cycle %u record %zu", cycle, k);
            cr_assert_eq(g.g_recs[k].lr_offset, o,
                         "cycle %u partition %u: got %" PRId64 " want %" PRId64, cycle, p,
                         g.g_recs[k].lr_offset, o);
            cdr_ledger_rec want = rec_for(p, o);
            assert_same_rec(&g.g_recs[k], &want);
            k++;
        }
    cr_assert_eq(k, g.g_n, "cycle %u: %zu extra records", cycle, g.g_n - k);
    got_free(&g);
}

static char *seg_path(uint32_t cycle, uint32_t partition, uint32_t seq, const char *ext)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%06u/p%04u/seg-%012u.%s", tmpdir, cycle, partition, seq, ext);
    return buf;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    return sb.st_size;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len ? *len : 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

TestSuite(ledger, .init = setup, .fini = teardown);

/* ---- tests ---------------------------------------------------------------------------------- */

Test(ledger, append_reopen_iterate)
{
    cdr_ledger *lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 0);
    int64_t upto[3] = {400, 250, 0};
    append_range(lg, 0, 0, 400);
    append_range(lg, 1, 0, 250);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 400);
    cr_assert_eq(cdr_ledger_next_offset(lg, 1), 250);
    assert_exact(lg, 202611, 3, upto); /* the writer sees what it wrote */
    cdr_ledger_close(lg);
    lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 400);
    cr_assert_eq(cdr_ledger_next_offset(lg, 1), 250);
    cr_assert_eq(cdr_ledger_next_offset(lg, 2), 0);
    cr_assert_eq(cdr_ledger_dropped_bytes(lg), 0);
    assert_exact(lg, 202611, 3, upto);
    assert_exact(lg, 202612, 3, upto);
    got g = scan(lg, 202701);
    cr_assert_eq(g.g_n, 0);
    cdr_ledger_close(lg);
}

Test(ledger, layout_and_separation)
{
    cdr_ledger *lg = open_ok(NULL);
    append_range(lg, 3, 0, 100);
    append_range(lg, 1, 0, 60);
    cdr_ledger_close(lg);
    /* The documented layout: LEDGER/CYCLE/pPPPP/seg-NNNNNNNNNNNN.zst */
    cr_assert(file_size(seg_path(202611, 3, 0, "zst")) > 0);
    cr_assert(file_size(seg_path(202612, 3, 0, "zst")) > 0);
    cr_assert(file_size(seg_path(202611, 1, 0, "zst")) > 0);
    cr_assert(file_size(seg_path(202612, 1, 0, "zst")) > 0);
    lg = open_ok(NULL);
    int64_t upto[4] = {0, 60, 0, 100};
    assert_exact(lg, 202611, 4, upto);
    assert_exact(lg, 202612, 4, upto);
    cdr_ledger_close(lg);
}

Test(ledger, bad_arguments_and_lock)
{
    cdr_ledger *lg = open_ok(NULL), *lg2;
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_open(tmpdir, NULL, &lg2, &dg), CDR_EXISTS);
    cr_assert_null(lg2);
    cdr_ledger_opts ro = {.lo_readonly = 1};
    cr_assert_eq(cdr_ledger_open(tmpdir, &ro, &lg2, &dg), 0);
    cr_assert_eq(cdr_ledger_append(lg2, 0, NULL, 0, 5, &dg), CDR_EINVAL);
    cdr_ledger_close(lg2);
    cdr_ledger_rec r[2] = {rec_for(0, 7), rec_for(0, 6)};
    cr_assert_eq(cdr_ledger_append(lg, 0, r, 2, 9, &dg), CDR_EINVAL); /* not increasing */
    r[1] = rec_for(0, 8);
    cr_assert_eq(cdr_ledger_append(lg, 0, r, 2, 7, &dg), CDR_EINVAL); /* last_offset too low */
    r[1].lr_rated.rr_cycle = 202613;
    cr_assert_eq(cdr_ledger_append(lg, 0, r, 2, 9, &dg), CDR_EINVAL); /* bad cycle */
    r[1].lr_rated.rr_cycle = 202611;
    cr_assert_eq(cdr_ledger_append(lg, 0, r, 2, 9, &dg), 0, "%s", dg.dg_msg); /* still usable */
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 10);
    cdr_ledger_close(lg);
}

Test(ledger, redelivery_stores_nothing_twice)
{
    cdr_ledger *lg = open_ok(NULL);
    append_range(lg, 0, 0, 200);
    append_range(lg, 0, 0, 200);   /* the same batches again */
    append_range(lg, 0, 100, 300); /* overlapping, batch boundaries shifted */
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 300);
    int64_t upto[1] = {300};
    assert_exact(lg, 202611, 1, upto);
    assert_exact(lg, 202612, 1, upto);
    /* A batch of no records advances the offset, durably. */
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_append(lg, 0, NULL, 0, 320, &dg), 0);
    cdr_ledger_close(lg);
    lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 321);
    assert_exact(lg, 202611, 1, upto);
    cdr_ledger_close(lg);
}

/* Cut the file at every byte of the last frame: reopening drops that frame, resumes after the
 * previous batch, and appending that batch again restores everything. */
Test(ledger, torn_tail_every_byte)
{
    /* One partition, one cycle: offsets 0..49 are all in 202611. */
    cdr_ledger *lg = open_ok(NULL);
    append_range(lg, 0, 0, 40);
    cdr_ledger_close(lg);
    char path[512];
    snprintf(path, sizeof path, "%s", seg_path(202611, 0, 0, "zst"));
    off_t before = file_size(path);
    lg = open_ok(NULL);
    append_range(lg, 0, 40, 50);
    cdr_ledger_close(lg);
    size_t full_len;
    uint8_t *full = slurp(path, &full_len);
    cr_assert_gt((off_t)full_len, before);
    int64_t upto_before[1] = {40}, upto_full[1] = {50};
    for (size_t cut = (size_t)before; cut < full_len; cut++) {
        spit(path, full, cut);
        lg = open_ok(NULL);
        cr_assert_eq(cdr_ledger_next_offset(lg, 0), 40, "cut at %zu", cut);
        cr_assert_eq(cdr_ledger_dropped_bytes(lg), cut - (size_t)before);
        cr_assert_eq(file_size(path), before, "cut at %zu: tail not truncated", cut);
        assert_exact(lg, 202611, 1, upto_before);
        append_range(lg, 0, 40, 50); /* Kafka re-delivers from next_offset */
        cr_assert_eq(cdr_ledger_next_offset(lg, 0), 50);
        assert_exact(lg, 202611, 1, upto_full);
        cdr_ledger_close(lg);
    }
    /* Garbage instead of a short file (a crash can leave unwritten blocks): the last frame's
     * checksum fails, it is dropped as well. */
    for (size_t k = (size_t)before + 80; k < full_len; k += 7) {
        uint8_t *bad = malloc(full_len);
        memcpy(bad, full, full_len);
        memset(bad + k, 0, full_len - k);
        spit(path, bad, full_len);
        free(bad);
        lg = open_ok(NULL);
        cr_assert_eq(cdr_ledger_next_offset(lg, 0), 40, "zeroes from %zu", k);
        assert_exact(lg, 202611, 1, upto_before);
        cdr_ledger_close(lg);
    }
    free(full);
}

/* A crash between the frames of a batch that spans two cycles: the first cycle's frame is
 * complete, the second torn. Re-delivery stores the rest and duplicates nothing. */
Test(ledger, torn_multi_cycle_batch)
{
    cdr_ledger *lg = open_ok(NULL);
    append_range(lg, 0, 0, 40);
    cdr_diag dg;
    cdr_ledger_rec recs[BATCH * 4];
    size_t n = batch_recs(0, 40, 60, recs); /* offsets 40..49 in 202611, 50..59 in 202612 */
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, n, 59, &dg), 0);
    cdr_ledger_close(lg);
    char path[512];
    snprintf(path, sizeof path, "%s", seg_path(202612, 0, 0, "zst"));
    size_t len;
    uint8_t *b = slurp(path, &len);
    spit(path, b, len - 3);
    free(b);
    lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 40);
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, n, 59, &dg), 0);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 60);
    int64_t upto[1] = {60};
    assert_exact(lg, 202611, 1, upto);
    assert_exact(lg, 202612, 1, upto);
    cdr_ledger_close(lg);
}

Test(ledger, corrupt_middle_frame_reported)
{
    cdr_ledger *lg = open_ok(NULL);
    append_range(lg, 0, 0, BATCH);
    cdr_ledger_close(lg);
    char path[512];
    snprintf(path, sizeof path, "%s", seg_path(202611, 0, 0, "zst"));
    off_t second = file_size(path);
    lg = open_ok(NULL);
    append_range(lg, 0, BATCH, 2 * BATCH - 25); /* stays in cycle 202611 (offsets < 50) */
    off_t third = file_size(path);
    cdr_ledger_close(lg);
    lg = open_ok(NULL);
    append_range(lg, 0, 2 * BATCH - 25, 50);
    cdr_ledger_close(lg);
    size_t len;
    uint8_t *b = slurp(path, &len);
    for (int where = 0; where < 2; where++) {
        /* where 0: a byte of the compressed body; 1: a byte of the frame header. */
        off_t at = where ? second + 20 : second + 80 + (third - second - 80) / 2;
        b[at] ^= 0x40;
        spit(path, b, len);
        b[at] ^= 0x40;
        char want[64];
        snprintf(want, sizeof want, "byte offset %lld:", (long long)second);
        cdr_diag dg;
        if (where == 1) {
            /* A damaged header in the middle is not a torn tail: open refuses, truncates nothing,
             * and says where. */
            cr_assert_eq(cdr_ledger_open(tmpdir, NULL, &lg, &dg), CDR_FORMAT);
            cr_assert_str_eq(dg.dg_file, path);
            cr_assert(strstr(dg.dg_msg, want), "%s", dg.dg_msg);
            cr_assert_eq(file_size(path), (off_t)len);
            cdr_ledger_opts ro = {.lo_readonly = 1};
            cr_assert_eq(cdr_ledger_open(tmpdir, &ro, &lg, &dg), CDR_FORMAT);
            continue;
        }
        lg = open_ok(NULL); /* a damaged body is found by the scan (checksum) */
        cr_assert_eq(cdr_ledger_dropped_bytes(lg), 0);
        got g = {0};
        int rc = cdr_ledger_scan(lg, 202611, collect, &g, &dg);
        cr_assert_eq(rc, CDR_FORMAT, "where %d", where);
        cr_assert_str_eq(dg.dg_file, path);
        cr_assert(strstr(dg.dg_msg, want), "where %d: %s", where, dg.dg_msg);
        size_t nfirst = 0;
        for (int64_t o = 0; o < BATCH; o++)
            nfirst += !skipped(o);
        cr_assert_eq(g.g_n, nfirst); /* the records before the damage were delivered */
        /* the view scan: the same error, after the same records */
        cdr_diag vdg;
        vcheck vc = {.vc_got = &g, .vc_nshares = 1};
        cr_assert_eq(cdr_ledger_scan_view(lg, 202611, 0, 1, check_view, &vc, &vdg), CDR_FORMAT);
        cr_assert_str_eq(vdg.dg_file, dg.dg_file);
        cr_assert_str_eq(vdg.dg_msg, dg.dg_msg);
        cr_assert_eq(vc.vc_k, nfirst);
        got_free(&g);
        cdr_ledger_close(lg);
    }
    spit(path, b, len);
    free(b);
}

Test(ledger, segment_roll_and_index)
{
    cdr_ledger_opts o = {.lo_segment_bytes = 2048};
    cdr_ledger *lg = open_ok(&o);
    append_range(lg, 0, 0, 3000);
    append_range(lg, 2, 0, 1500);
    cdr_ledger_close(lg);
    /* Several segments; every sealed one has its index. */
    uint32_t nseg = 0;
    while (access(seg_path(202611, 0, nseg, "zst"), F_OK) == 0)
        nseg++;
    cr_assert_gt(nseg, 3);
    for (uint32_t s = 0; s + 1 < nseg; s++)
        cr_assert_eq(access(seg_path(202611, 0, s, "idx"), F_OK), 0, "segment %u", s);
    cr_assert_neq(access(seg_path(202611, 0, nseg - 1, "idx"), F_OK), 0);
    /* Remove one index and damage another: both are rebuilt on use. */
    cr_assert_eq(unlink(seg_path(202611, 0, 1, "idx")), 0);
    size_t len;
    uint8_t *b = slurp(seg_path(202611, 0, 2, "idx"), &len);
    b[len / 2] ^= 1;
    spit(seg_path(202611, 0, 2, "idx"), b, len);
    free(b);
    lg = open_ok(&o);
    int64_t upto[3] = {3000, 0, 1500};
    for (uint32_t cycle = 202611; cycle <= 202612; cycle++) {
        assert_exact(lg, cycle, 3, upto);
        got all = scan(lg, cycle);
        for (int m = 0; m < 40; m++) {
            char msisdn[24];
            snprintf(msisdn, sizeof msisdn, "86138%08d", m);
            got one = {0};
            cdr_diag dg;
            cr_assert_eq(cdr_ledger_subscriber(lg, cycle, msisdn, collect, &one, &dg), 0, "%s",
                         dg.dg_msg);
            size_t k = 0;
            for (size_t i = 0; i < all.g_n; i++) {
                if (strcmp(all.g_recs[i].lr_cdr.cr_msisdn, msisdn))
                    continue;
                cr_assert(k < one.g_n, "%s: lookup misses records", msisdn);
                cr_assert_eq(one.g_parts[k], all.g_parts[i]);
                assert_same_rec(&one.g_recs[k], &all.g_recs[i]);
                k++;
            }
            cr_assert_eq(k, one.g_n, "%s: lookup has extra records", msisdn);
            cr_assert_gt(k, 0);
            got_free(&one);
        }
        /* Totals from the indexes and the active segments equal a full scan's sums, per
         * currency; records without a currency count as "" unless resolved (then from a full
         * read of the segments that hold them). */
        for (int resolved = 0; resolved <= 1; resolved++) {
            cdr_ledger_totals t;
            cdr_diag dg;
            cr_assert_eq(
                cdr_ledger_totals_get(lg, cycle, resolved ? resolve_cny : NULL, NULL, &t, &dg), 0,
                "%s", dg.dg_msg);
            cr_assert_eq(t.lt_records, all.g_n);
            static const char *const curs[] = {"", "CNY", "EUR"};
            cr_assert_eq(t.lt_ncurrencies, resolved ? 2 : 3);
            for (int k = resolved; k < 3; k++) {
                cdr_money charge[CDR_SVC_COUNT] = {0};
                uint64_t units[CDR_SVC_COUNT] = {0}, n = 0;
                for (size_t i = 0; i < all.g_n; i++) {
                    const cdr_rated *rr = &all.g_recs[i].lr_rated;
                    const char *cur = rr->rr_currency[0] || !resolved ? rr->rr_currency : "CNY";
                    if (strcmp(cur, curs[k]))
                        continue;
                    charge[rr->rr_service] += rr->rr_charge;
                    units[rr->rr_service] += rr->rr_units;
                    n++;
                }
                const cdr_ledger_money *lm = &t.lt_currency[k - resolved];
                cr_assert_str_eq(lm->lm_currency, curs[k]);
                cr_assert_eq(lm->lm_records, n);
                cr_assert_gt(n, 0);
                for (int s = 0; s < CDR_SVC_COUNT; s++) {
                    cr_assert_eq(lm->lm_charge_by_service[s], charge[s], "%s %d", curs[k], s);
                    cr_assert_eq(lm->lm_units_by_service[s], units[s]);
                }
            }
            /* the sum over cycles adds per currency */
            cdr_ledger_totals sum;
            memset(&sum, 0, sizeof sum);
            cr_assert_eq(cdr_ledger_totals_add(&sum, &t), 0);
            cr_assert_eq(cdr_ledger_totals_add(&sum, &t), 0);
            cr_assert_eq(sum.lt_ncurrencies, t.lt_ncurrencies);
            cr_assert_eq(sum.lt_records, 2 * t.lt_records);
            for (int k = 0; k < t.lt_ncurrencies; k++)
                cr_assert_eq(sum.lt_currency[k].lm_charge_by_service[CDR_SVC_VOICE],
                             2 * t.lt_currency[k].lm_charge_by_service[CDR_SVC_VOICE]);
        }
        got_free(&all);
    }
    cr_assert_eq(access(seg_path(202611, 0, 1, "idx"), F_OK), 0);
    cdr_ledger_close(lg);
    /* An unknown subscriber has no records. */
    lg = open_ok(&o);
    got none = {0};
    cr_assert_eq(cdr_ledger_subscriber(lg, 202611, "49301234567", collect, &none, NULL), 0);
    cr_assert_eq(none.g_n, 0);
    cdr_ledger_close(lg);
}

/* A child appends batches to two partitions and is killed with SIGKILL at some moment; the
 * parent reopens, resumes every partition from next_offset as Kafka would, and finds every
 * record exactly once. Which write the kill interrupts varies; the result must not. */
Test(ledger, crash_sigkill_exactly_once)
{
    const int64_t total = 4000;
    const int kill_after[] = {1, 17, 60};
    for (unsigned round = 0; round < sizeof kill_after / sizeof kill_after[0]; round++) {
        teardown();
        setup();
        int pfd[2];
        cr_assert_eq(pipe(pfd), 0);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            close(pfd[0]);
            cdr_ledger *lg;
            cdr_ledger_opts o = {.lo_segment_bytes = 4096};
            if (cdr_ledger_open(tmpdir, &o, &lg, NULL))
                _exit(2);
            cdr_ledger_rec recs[BATCH];
            for (int64_t b = 0; b < total; b += BATCH) {
                for (uint32_t p = 0; p < 2; p++) {
                    int64_t e = b + BATCH < total ? b + BATCH : total;
                    size_t n = batch_recs(p, b, e, recs);
                    if (cdr_ledger_append(lg, p, recs, n, e - 1, NULL))
                        _exit(3);
                }
                char c = 'b';
                if (write(pfd[1], &c, 1) != 1)
                    _exit(4);
            }
            _exit(0); /* not killed in time: no close, like a crash after the last batch */
        }
        close(pfd[1]);
        char c;
        for (int k = 0; k < kill_after[round] && read(pfd[0], &c, 1) == 1; k++)
            ;
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        close(pfd[0]);
        cr_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "child failed: status %d", status);

        cdr_ledger_opts o = {.lo_segment_bytes = 4096};
        cdr_ledger *lg = open_ok(&o);
        int64_t next[2], upto[2] = {total, total};
        for (uint32_t p = 0; p < 2; p++) {
            next[p] = cdr_ledger_next_offset(lg, p);
            cr_assert(next[p] % BATCH == 0 || next[p] == total, "next %" PRId64, next[p]);
            cr_assert(next[p] >= (int64_t)BATCH * (kill_after[round] - 1));
        }
        /* Before resuming: everything below next_offset is there, once, in order. */
        for (uint32_t cycle = 202611; cycle <= 202612; cycle++) {
            got g = scan(lg, cycle);
            for (size_t i = 1; i < g.g_n; i++)
                cr_assert(g.g_parts[i] > g.g_parts[i - 1] ||
                          g.g_recs[i].lr_offset > g.g_recs[i - 1].lr_offset);
            got_free(&g);
        }
        for (uint32_t p = 0; p < 2; p++)
            append_range(lg, p, next[p], total);
        cdr_ledger_close(lg);
        lg = open_ok(&o);
        assert_exact(lg, 202611, 2, upto);
        assert_exact(lg, 202612, 2, upto);
        cdr_ledger_close(lg);
    }
}

Test(ledger, cycles_lists_the_cycle_folders)
{
    cdr_diag dg;
    cdr_diag_clear(&dg);
    uint32_t *cy = NULL;
    cdr_ledger *lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_cycles(tmpdir, &cy, &dg), 0, "%s", dg.dg_msg); /* nothing yet */
    free(cy);
    append_range(lg, 0, 0, 120); /* cycles 202611 and 202612 (cycle_of) */
    cdr_ledger_close(lg);
    char junk[400];
    snprintf(junk, sizeof junk, "%s/202613", tmpdir); /* no such month: not a cycle */
    cr_assert_eq(mkdir(junk, 0755), 0);
    snprintf(junk, sizeof junk, "%s/notes", tmpdir);
    cr_assert_eq(mkdir(junk, 0755), 0);
    cr_assert_eq(cdr_ledger_cycles(tmpdir, &cy, &dg), 2, "%s", dg.dg_msg);
    cr_assert_eq(cy[0], 202611);
    cr_assert_eq(cy[1], 202612);
    free(cy);
    snprintf(junk, sizeof junk, "%s/missing", tmpdir);
    cr_assert_eq(cdr_ledger_cycles(junk, &cy, &dg), -1);
    cr_assert_eq(dg.dg_code, CDR_EIO);
    cr_assert_null(cy);
    cr_assert(strstr(dg.dg_msg, "cannot read the ledger directory") != NULL, "%s", dg.dg_msg);
}

/* ---- `cdrate ledger totals`: money per currency --------------------------------------------- */

/* The standard output of shell command cmd (malloc'd) and its exit status in *status. */
static char *run_out(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* Records in CNY and EUR, and records without a currency (rated wire version 1): totals keep
 * every currency apart, the unknown one as "???" unless --store names it from the plan. */
Test(ledger, totals_command_per_currency, .timeout = 120)
{
    char exe[600], store[300], plans[400], cmd[2048];
    snprintf(exe, sizeof exe, "%s/cdrate", CDR_BINARY_DIR);
    cr_assert(access(exe, X_OK) == 0, "%s not found: build the cdrate target", exe);
    snprintf(store, sizeof store, "%s.store", tmpdir);
    snprintf(plans, sizeof plans, "%s.plans", tmpdir);
    cdr_diag dg;
    cdr_store *st;
    cr_assert_eq(cdr_bench_write_embedded_plans(plans, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_store_open(store, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_store_compile_dir(st, plans, NULL, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_store_close(st);

    /* offsets 0..119 of partition 0, cycles 202611 and 202612; the records without a currency
     * name de-comfort version 1 (EUR), offset 7 a plan the store does not hold */
    enum { N = 120 };
    cdr_ledger_rec recs[N];
    cdr_money want[3] = {0}, want_st[3] = {0}; /* ???, CNY, EUR */
    uint64_t nrec[3] = {0};
    for (int i = 0; i < N; i++) {
        recs[i] = rec_for(0, i);
        recs[i].lr_rated.rr_plan_version = 1; /* the version the store holds */
        int k = !strcmp(recs[i].lr_rated.rr_currency, "CNY")   ? 1
                : !strcmp(recs[i].lr_rated.rr_currency, "EUR") ? 2
                                                               : 0;
        if (k == 0) {
            strcpy(recs[i].lr_plan, i == 7 ? "nope" : "de-comfort");
            recs[i].lr_rated.rr_plan_version = 1;
        }
        if (k == 1) /* written as version 4, with their class; the others as version 2 */
            recs[i].lr_rated.rr_class = CDR_CLASS_PREMIUM;
        want[k] += recs[i].lr_rated.rr_charge;
        want_st[k == 0 && i != 7 ? 2 : k] += recs[i].lr_rated.rr_charge;
        nrec[k]++;
    }
    cr_assert(nrec[0] > 1 && nrec[1] && nrec[2]);
    cdr_ledger *lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, N, N - 1, &dg), 0, "%s", dg.dg_msg);
    cdr_ledger_close(lg);
    /* the class the plan gives the record of offset 20 (no class on the wire) */
    cdr_plan_set *ps;
    cr_assert_eq(cdr_store_open(store, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    cdr_store_close(st);
    const cdr_plan *de = cdr_plan_set_at(ps, cdr_plan_set_family(ps, "de-comfort"), INT64_MAX);
    cr_assert(de && de->pl_version == 1);
    cr_assert_eq(recs[20].lr_rated.rr_class, CDR_CLASS_NONE);
    const int cls20 = cdr_plan_charge_class(de, &recs[20].lr_cdr, &recs[20].lr_rated);
    cr_assert_neq(cls20, CDR_CLASS_NONE);
    cdr_plan_set_release(ps);

    for (int with_store = 0; with_store <= 1; with_store++) {
        const cdr_money *w = with_store ? want_st : want;
        char opt[400] = "";
        if (with_store)
            snprintf(opt, sizeof opt, " --store '%s'", store);
        int status;
        snprintf(cmd, sizeof cmd, "'%s' ledger totals --ledger '%s'%s --json", exe, tmpdir, opt);
        char *out = run_out(cmd, &status);
        cr_assert_eq(status, 0, "%s", out);
        const char *all = strstr(out, "],\"records\":120,");
        cr_assert_not_null(all, "%s", out);
        char exp[256];
        snprintf(exp, sizeof exp,
                 "\"charges_micro\":{\"???\":%" PRId64 ",\"CNY\":%" PRId64 ",\"EUR\":%" PRId64 "}",
                 w[0], w[1], w[2]);
        cr_assert_not_null(strstr(all, exp), "%s: want %s", all, exp);
        cr_assert_null(strstr(out, "\"charge_micro\":"
                                   "0,\"services\""),
                       "no mixed total");
        free(out);
        /* text: a block per cycle and currency; the totals over the cycles per currency */
        snprintf(cmd, sizeof cmd, "'%s' ledger totals --ledger '%s'%s", exe, tmpdir, opt);
        out = run_out(cmd, &status);
        cr_assert_eq(status, 0, "%s", out);
        char money[32], line[160];
        static const char *const label[3] = {"???", "CNY", "EUR"};
        for (int k = 0; k < 3; k++) {
            snprintf(line, sizeof line, "\nall     %-8s total   ", label[k]);
            const char *l = strstr(out, line);
            cr_assert_not_null(l, "%s: want %s", out, line);
            const char *eol = strchr(l + 1, '\n');
            cdr_money_format(w[k], 6, CDR_ROUND_HALF_UP, money, sizeof money);
            cr_assert(eol && eol - strlen(money) > l &&
                          !strncmp(eol - strlen(money), money, strlen(money)),
                      "%.*s: want %s", (int)(eol - l), l, money);
        }
        for (const char *l = out; (l = strstr(l, " total ")) != NULL; l++) {
            const char *bol = l;
            while (bol > out && bol[-1] != '\n')
                bol--;
            cr_assert(l - bol >= 16, "a total row without a currency: %.40s", bol);
        }
        free(out);
        /* cat: the record without a currency and class (offset 20, the only one of its
         * subscriber in 202611) shows its plan's currency and the class derived from its plan
         * with --store, else none; a record with a class (offset 0) shows it either way */
        snprintf(cmd, sizeof cmd,
                 "'%s' ledger cat --ledger '%s'%s --cycle 202611 --msisdn 8613800000020 | "
                 "grep '^MSC00,p0-o20,' | cut -d, -f18,20",
                 exe, tmpdir, opt);
        out = run_out(cmd, &status);
        char exp20[64];
        snprintf(exp20, sizeof exp20, "EUR,%s\n", cdr_charge_class_name(cls20));
        cr_assert_str_eq(out, with_store ? exp20 : ",\n");
        free(out);
        snprintf(cmd, sizeof cmd,
                 "'%s' ledger cat --ledger '%s'%s --cycle 202611 --format json | "
                 "grep '\"origin_id\":\"p0-o0\"' | grep -o '\"charge_class\":\"[a-z_]*\"'",
                 exe, tmpdir, opt);
        out = run_out(cmd, &status);
        cr_assert_str_eq(out, "\"charge_class\":\"premium\"\n");
        free(out);
    }
    /* --store that is no store: refused as a whole (exit 4) */
    int status;
    snprintf(cmd, sizeof cmd, "'%s' ledger totals --ledger '%s' --store '%s/none' 2>&1", exe,
             tmpdir, tmpdir);
    char *out = run_out(cmd, &status);
    cr_assert_eq(status, 4, "%s", out);
    cr_assert_not_null(strstr(out, "no cdrate store at"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", store, plans);
    cr_assert_eq(system(cmd), 0);
}

/* ---- a full disk, and emptying a ledger ------------------------------------------------------ */

static size_t count_recs(int64_t from, int64_t to, uint32_t cycle)
{
    size_t n = 0;
    for (int64_t o = from; o < to; o++)
        n += !skipped(o) && cycle_of(o) == cycle;
    return n;
}

/* The disk fills up in the middle of a batch of two cycles (the CDR_LEDGER_FAIL_AFTER hook): the
 * first cycle's frame is durable and counted by cdr_ledger_appended, the second is not; reopened,
 * the ledger holds exactly what was counted, and the batch delivered again stores the rest. */
Test(ledger, full_disk_mid_batch_counts_what_is_durable)
{
    cdr_ledger_rec recs[BATCH * 4];
    size_t n = batch_recs(0, 40, 60, recs); /* offsets 40..49 in 202611, 50..59 in 202612 */
    cdr_diag dg;
    /* the size of the batch's first frame, from the same appends in a scratch ledger */
    char scratch[300], path[512];
    snprintf(scratch, sizeof scratch, "%s/scratch", tmpdir);
    cdr_ledger *lg;
    cr_assert_eq(cdr_ledger_open(scratch, NULL, &lg, &dg), 0, "%s", dg.dg_msg);
    append_range(lg, 0, 0, 40);
    snprintf(path, sizeof path, "%s/202611/p0000/seg-000000000000.zst", scratch);
    const off_t before = file_size(path);
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, n, 59, &dg), 0, "%s", dg.dg_msg);
    const off_t frame = file_size(path) - before;
    cdr_ledger_close(lg);

    lg = open_ok(NULL);
    append_range(lg, 0, 0, 40);
    cr_assert_eq(cdr_ledger_appended(lg), count_recs(0, 40, 202611));
    cdr_ledger_close(lg);
    char room[32];
    snprintf(room, sizeof room, "%lld", (long long)frame + 5);
    setenv(CDR_LEDGER_FAIL_ENV, room, 1);
    lg = open_ok(NULL);
    unsetenv(CDR_LEDGER_FAIL_ENV);
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, n, 59, &dg), CDR_EIO);
    cr_assert(strstr(dg.dg_msg, "No space left on device") != NULL, "%s", dg.dg_msg);
    cr_assert(strstr(dg.dg_file, "202612") != NULL, "%s", dg.dg_file);
    const uint64_t stored = cdr_ledger_appended(lg);
    cr_assert_eq(stored, count_recs(40, 50, 202611), "appended %" PRIu64, stored);
    cdr_ledger_close(lg);

    lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_dropped_bytes(lg), 5); /* the torn start of the second frame */
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 40);
    cdr_ledger_totals lt;
    cr_assert_eq(cdr_ledger_totals_get(lg, 202611, resolve_cny, NULL, &lt, &dg), 0);
    cr_assert_eq(lt.lt_records, count_recs(0, 50, 202611), "what was counted is held");
    cr_assert_eq(cdr_ledger_totals_get(lg, 202612, resolve_cny, NULL, &lt, &dg), 0);
    cr_assert_eq(lt.lt_records, 0);
    cr_assert_eq(cdr_ledger_append(lg, 0, recs, n, 59, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_ledger_appended(lg), count_recs(50, 60, 202612), "only the rest is new");
    int64_t upto[1] = {60};
    assert_exact(lg, 202611, 1, upto);
    assert_exact(lg, 202612, 1, upto);
    cdr_ledger_close(lg);
}

static int count_names(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

Test(ledger, clear_empties_the_ledger_and_nothing_else)
{
    const cdr_ledger_opts o = {.lo_segment_bytes = 2048}; /* sealed segments with indexes */
    cdr_ledger *lg = open_ok(&o);
    append_range(lg, 0, 0, 300);
    append_range(lg, 3, 0, 120);
    cdr_diag dg;
    cr_assert_eq(cdr_ledger_clear(tmpdir, &dg), CDR_EXISTS, "a writer holds it");
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 300);
    got g = scan(lg, 202611); /* builds the indexes of the sealed segments */
    got_free(&g);
    cdr_ledger_close(lg);
    cr_assert_eq(access(seg_path(202611, 0, 0, "idx"), F_OK), 0);
    char other[300];
    snprintf(other, sizeof other, "%s/notes.txt", tmpdir);
    spit(other, (const uint8_t *)"x", 1);
    cr_assert_eq(cdr_ledger_clear(tmpdir, &dg), 0, "%s: %s", dg.dg_file, dg.dg_msg);
    cr_assert_eq(count_names(tmpdir), 1, "only notes.txt is left");
    cr_assert_eq(access(other, F_OK), 0);
    lg = open_ok(NULL);
    cr_assert_eq(cdr_ledger_next_offset(lg, 0), 0);
    cr_assert_eq(cdr_ledger_next_offset(lg, 3), 0);
    cdr_ledger_close(lg);
    uint32_t *cycles = NULL;
    cr_assert_eq(cdr_ledger_cycles(tmpdir, &cycles, &dg), 0);
    free(cycles);
    cr_assert_eq(cdr_ledger_clear("/nonexistent/cdr-ledger", &dg), 0, "nothing to clear");
}
