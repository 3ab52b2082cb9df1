/* ledger_read.c - reading the ledger: full scans, the per-segment index, subscriber lookups and
 * cycle totals (docs/ledger.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_bytes.h"
#include "ledger_int.h"

/* ---- frames and records --------------------------------------------------------------------- */

typedef int (*lg_rec_fn)(const cdr_ledger_rec *rec, uint32_t k, void *ctx);
typedef int (*lg_frame_fn)(cdr_ledger *lg, const lg_hdr *fh, const char *path, uint64_t pos,
                           uint32_t fno, void *ctx, cdr_diag *dg);

/* The frame's record offsets must be Kafka offsets (>= 0), first <= last. */
static int body_start(const lg_hdr *fh, const char *path, uint64_t pos, cdr_diag *dg)
{
    if (fh->fh_count && (fh->fh_first < 0 || fh->fh_last < fh->fh_first))
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": frame header: record offsets %" PRId64
                            "..%" PRId64 " out of range",
                            pos, fh->fh_first, fh->fh_last);
    return 0;
}

/* The framing of record k at *p: its offset (*off advanced by the delta) and length. */
static inline int body_next(const uint8_t **p, const uint8_t *end, uint32_t k, int64_t *off,
                            uint64_t *len, const char *path, uint64_t pos, cdr_diag *dg)
{
    uint64_t delta;
    if (cdr_get_varint(p, end, &delta) || cdr_get_varint(p, end, len) ||
        *len > (uint64_t)(end - *p) || (k == 0) != (delta == 0) ||
        delta > (uint64_t)(INT64_MAX - *off))
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": record %" PRIu32 ": bad framing", pos, k);
    *off += (int64_t)delta;
    return 0;
}

/* Every record was read and the last one has the header's last offset. */
static int body_end(const lg_hdr *fh, const uint8_t *p, const uint8_t *end, int64_t off,
                    const char *path, uint64_t pos, cdr_diag *dg)
{
    if (p != end || (fh->fh_count && off != fh->fh_last))
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": frame body does not match its header", pos);
    return 0;
}

/* Decode record k (len bytes at p) into rec; the diagnostic names the frame and the record. */
static int body_decode(const uint8_t *p, uint64_t len, uint32_t k, cdr_ledger_rec *rec,
                       const char *path, uint64_t pos, cdr_diag *dg)
{
    cdr_diag sub;
    cdr_diag_clear(&sub);
    int rc =
        cdr_rated_wire_decode(p, (size_t)len, &rec->lr_cdr, &rec->lr_rated, rec->lr_plan, &sub);
    if (rc)
        return cdr_diag_set(dg, rc, path, 0, 0, "byte offset %" PRIu64 ": record %" PRIu32 ": %s",
                            pos, k, sub.dg_msg);
    return 0;
}

/* Decode the records of the frame body in lg_raw, calling fn for each (k = index in frame). */
static int body_each(cdr_ledger *lg, const lg_hdr *fh, const char *path, uint64_t pos, lg_rec_fn fn,
                     void *ctx, cdr_diag *dg)
{
    const uint8_t *p = lg->lg_raw, *end = lg->lg_raw + fh->fh_raw;
    int64_t off = fh->fh_first;
    cdr_ledger_rec rec;
    int rc = body_start(fh, path, pos, dg);
    for (uint32_t k = 0; !rc && k < fh->fh_count; k++) {
        uint64_t len = 0;
        if ((rc = body_next(&p, end, k, &off, &len, path, pos, dg)) ||
            (rc = body_decode(p, len, k, &rec, path, pos, dg)))
            break;
        p += len;
        rec.lr_offset = off;
        rc = fn(&rec, k, ctx);
    }
    return rc ? rc : body_end(fh, p, end, off, path, pos, dg);
}

static uint64_t seg_size(const cdr_ledger *lg, const lg_stream *st, uint32_t seq, int fd)
{
    if (seq == st->ls_seq)
        return st->ls_size;
    (void)lg;
    struct stat sb;
    return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Every frame of segment seq of st, in order (bodies verified and decompressed in lg_raw). */
static int seg_walk(cdr_ledger *lg, const lg_stream *st, uint32_t seq, lg_frame_fn fn, void *ctx,
                    cdr_diag *dg)
{
    char path[LG_PATH_MAX];
    lg_seg_path(lg, st, seq, "zst", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && seq == st->ls_seq && st->ls_size == 0)
            return 0; /* a stream whose first segment has not been created yet */
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    uint64_t size = seg_size(lg, st, seq, fd), pos = 0;
    int rc = 0;
    for (uint32_t fno = 0; !rc && pos < size; fno++) {
        lg_hdr fh;
        if ((rc = lg_frame_read(lg, fd, path, pos, size, &fh, dg)))
            break;
        if (fh.fh_cycle != st->ls_cycle || fh.fh_partition != st->ls_partition) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                              "byte offset %" PRIu64 ": frame of cycle %" PRIu32
                              " partition %" PRIu32 " in the wrong folder",
                              pos, fh.fh_cycle, fh.fh_partition);
            break;
        }
        rc = fn(lg, &fh, path, pos, fno, ctx, dg);
        pos += LG_FRAME_HDR + fh.fh_zsize;
    }
    close(fd);
    return rc;
}

/* ---- totals per currency -------------------------------------------------------------------- */

/* The entry of currency cur in t (inserted in code order when new), or NULL when t is full. */
static cdr_ledger_money *tot_currency(cdr_ledger_totals *t, const char *cur)
{
    char code[4] = {0};
    memcpy(code, cur, strnlen(cur, 3));
    int k = 0, c = 1;
    while (k < t->lt_ncurrencies && (c = memcmp(t->lt_currency[k].lm_currency, code, 4)) < 0)
        k++;
    if (k < t->lt_ncurrencies && c == 0)
        return &t->lt_currency[k];
    if (t->lt_ncurrencies == CDR_LEDGER_MAX_CURRENCIES)
        return NULL;
    memmove(&t->lt_currency[k + 1], &t->lt_currency[k],
            (size_t)(t->lt_ncurrencies - k) * sizeof t->lt_currency[0]);
    memset(&t->lt_currency[k], 0, sizeof t->lt_currency[k]);
    memcpy(t->lt_currency[k].lm_currency, code, 4);
    t->lt_ncurrencies++;
    return &t->lt_currency[k];
}

/* Add `records` records of service svc in currency cur to t. CDR_LIMIT when t is full. */
static int tot_add(cdr_ledger_totals *t, const char *cur, unsigned svc, uint64_t records,
                   cdr_money charge, uint64_t units)
{
    cdr_ledger_money *lm = tot_currency(t, cur);
    if (!lm)
        return CDR_LIMIT;
    t->lt_records += records;
    t->lt_records_by_service[svc] += records;
    t->lt_units_by_service[svc] += units;
    lm->lm_records += records;
    lm->lm_records_by_service[svc] += records;
    lm->lm_charge_by_service[svc] += charge;
    lm->lm_units_by_service[svc] += units;
    return 0;
}

int cdr_ledger_totals_add(cdr_ledger_totals *sum, const cdr_ledger_totals *t)
{
    for (int k = 0; k < t->lt_ncurrencies; k++) {
        const cdr_ledger_money *lm = &t->lt_currency[k];
        for (unsigned s = 0; s < CDR_SVC_COUNT; s++) {
            if (!lm->lm_records_by_service[s])
                continue;
            int rc = tot_add(sum, lm->lm_currency, s, lm->lm_records_by_service[s],
                             lm->lm_charge_by_service[s], lm->lm_units_by_service[s]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- full scan ------------------------------------------------------------------------------ */

typedef struct scan_ctx {
    cdr_ledger_fn sc_fn;
    void *sc_ctx;
    uint32_t sc_partition;
    const char *sc_msisdn; /* filter, or NULL */
    cdr_ledger_totals *sc_totals;
    cdr_ledger_currency_fn sc_resolve; /* totals: names the currency of records without one */
    void *sc_resolve_ctx;
} scan_ctx;

static int scan_rec(const cdr_ledger_rec *rec, uint32_t k, void *ctx)
{
    (void)k;
    scan_ctx *sc = ctx;
    if (sc->sc_msisdn && strcmp(rec->lr_cdr.cr_msisdn, sc->sc_msisdn) != 0)
        return 0;
    if (sc->sc_totals) {
        const cdr_rated *rr = &rec->lr_rated;
        char cur[4] = {0};
        memcpy(cur, rr->rr_currency, 4);
        cur[3] = '\0';
        if (!cur[0] && sc->sc_resolve) {
            sc->sc_resolve(rec->lr_plan, rr->rr_plan_version, cur, sc->sc_resolve_ctx);
            cur[3] = '\0';
        }
        /* rr_service < CDR_SVC_COUNT: checked by the decoder */
        return tot_add(sc->sc_totals, cur, rr->rr_service, 1, rr->rr_charge, rr->rr_units);
    }
    return sc->sc_fn(rec, sc->sc_partition, sc->sc_ctx);
}

static int scan_frame(cdr_ledger *lg, const lg_hdr *fh, const char *path, uint64_t pos,
                      uint32_t fno, void *ctx, cdr_diag *dg)
{
    (void)fno;
    return body_each(lg, fh, path, pos, scan_rec, ctx, dg);
}

/* The next stream of cycle `cycle` in share `share` of nshares (a stream's rank k among the
 * cycle's, counted in *k, is share modulo nshares), from index *i on; NULL after the last. */
static const lg_stream *share_next(const cdr_ledger *lg, uint32_t cycle, unsigned share,
                                   unsigned nshares, size_t *i, unsigned *k)
{
    while (*i < lg->lg_nstreams) {
        const lg_stream *st = &lg->lg_streams[(*i)++];
        if (st->ls_cycle == cycle && (*k)++ % nshares == share)
            return st;
    }
    return NULL;
}

int cdr_ledger_scan(cdr_ledger *lg, uint32_t cycle, cdr_ledger_fn fn, void *ctx, cdr_diag *dg)
{
    return cdr_ledger_scan_share(lg, cycle, 0, 1, fn, ctx, dg);
}

int cdr_ledger_scan_share(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                          cdr_ledger_fn fn, void *ctx, cdr_diag *dg)
{
    if (!lg || !fn || !nshares || share >= nshares)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger scan arguments");
    size_t i = 0;
    unsigned k = 0;
    for (const lg_stream *st; (st = share_next(lg, cycle, share, nshares, &i, &k)) != NULL;) {
        scan_ctx sc = {fn, ctx, st->ls_partition, NULL, NULL, NULL, NULL};
        for (uint32_t seq = 0; seq <= st->ls_seq; seq++) {
            int rc = seg_walk(lg, st, seq, scan_frame, &sc, dg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- full scan, fields in place (the bill run) ---------------------------------------------- */

typedef struct view_ctx {
    cdr_ledger_view_fn vc_fn;
    void *vc_ctx;
    uint32_t vc_partition;
} view_ctx;

/* The records of a frame (its body verified, at raw) as views, CDR_LEDGER_VIEW_BATCH at a time;
 * a record that fails stops the frame after the records before it were delivered. */
static int view_frame(const uint8_t *raw, const lg_hdr *fh, const char *path, uint64_t pos,
                      const view_ctx *vc, cdr_diag *dg)
{
    const uint8_t *p = raw, *end = raw + fh->fh_raw;
    cdr_ledger_view vs[CDR_LEDGER_VIEW_BATCH];
    size_t n = 0;
    int64_t off = fh->fh_first;
    int rc = body_start(fh, path, pos, dg);
    for (uint32_t k = 0; !rc && k < fh->fh_count; k++) {
        uint64_t len = 0;
        if ((rc = body_next(&p, end, k, &off, &len, path, pos, dg)))
            break;
        cdr_ledger_view *v = &vs[n];
        v->lv_offset = off;
        if (cdr_rated_wire_view(p, (size_t)len, &v->lv_rv)) { /* refused: the decoder says why */
            cdr_ledger_rec rec;
            rc = body_decode(p, len, k, &rec, path, pos, dg);
            if (!rc) /* the view and the decoder disagree: a bug, never a record billed wrong */
                rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                  "byte offset %" PRIu64 ": record %" PRIu32
                                  ": refused by the view, accepted by the decoder",
                                  pos, k);
            break;
        }
        v->lv_wire = p;
        v->lv_len = (size_t)len;
        p += len;
        if (++n == CDR_LEDGER_VIEW_BATCH) {
            rc = vc->vc_fn(vs, n, vc->vc_partition, vc->vc_ctx);
            n = 0;
        }
    }
    if (n) { /* the records before the end, or before a failure */
        const int frc = vc->vc_fn(vs, n, vc->vc_partition, vc->vc_ctx);
        rc = rc ? rc : frc;
    }
    return rc ? rc : body_end(fh, p, end, off, path, pos, dg);
}

/* Every frame of segment seq of st as views, as seg_walk reads them, but LG_FNV_LANES frames at a
 * time: read and decompressed, their checksums computed side by side (lg_fnv1a64_lanes), then
 * each frame verified and delivered in order. A frame that fails stops the walk after the frames
 * before it were delivered, with the error seg_walk would give. */
static int view_seg(cdr_ledger *lg, const lg_stream *st, uint32_t seq, const view_ctx *vc,
                    cdr_diag *dg)
{
    char path[LG_PATH_MAX];
    lg_seg_path(lg, st, seq, "zst", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && seq == st->ls_seq && st->ls_size == 0)
            return 0; /* a stream whose first segment has not been created yet */
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    const uint64_t size = seg_size(lg, st, seq, fd);
    uint64_t pos = 0;
    int rc = 0;
    while (!rc && pos < size) {
        lg_hdr fh[LG_FNV_LANES];
        uint64_t at[LG_FNV_LANES];
        unsigned n = 0;
        int bad = 0; /* the last frame read failed: rc and dg say how */
        while (n < LG_FNV_LANES && pos < size) {
            at[n] = pos;
            rc = lg_frame_load(lg, fd, path, pos, size, &fh[n], &lg->lg_lane_z[n],
                               &lg->lg_lane_zcap[n], &lg->lg_lane_raw[n], &lg->lg_lane_rawcap[n],
                               dg);
            if (!rc && (fh[n].fh_cycle != st->ls_cycle || fh[n].fh_partition != st->ls_partition))
                rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                  "byte offset %" PRIu64 ": frame of cycle %" PRIu32
                                  " partition %" PRIu32 " in the wrong folder",
                                  pos, fh[n].fh_cycle, fh[n].fh_partition);
            if (rc) {
                bad = 1;
                break;
            }
            pos += LG_FRAME_HDR + fh[n].fh_zsize;
            n++;
        }
        const uint8_t *data[LG_FNV_LANES];
        size_t len[LG_FNV_LANES];
        uint64_t sum[LG_FNV_LANES];
        for (unsigned i = 0; i < n; i++) {
            data[i] = lg->lg_lane_raw[i];
            len[i] = fh[i].fh_raw;
        }
        lg_fnv1a64_lanes(data, len, n, sum);
        int drc = 0;
        for (unsigned i = 0; !drc && i < n; i++)
            drc = sum[i] != fh[i].fh_sum ? lg_frame_bad_sum(path, at[i], dg)
                                         : view_frame(data[i], &fh[i], path, at[i], vc, dg);
        if (drc || bad) /* the first failure in frame order: a frame's before the one not read */
            rc = drc ? drc : rc;
    }
    close(fd);
    return rc;
}

int cdr_ledger_scan_view(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                         cdr_ledger_view_fn fn, void *ctx, cdr_diag *dg)
{
    if (!lg || !fn || !nshares || share >= nshares)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger scan arguments");
    size_t i = 0;
    unsigned k = 0;
    for (const lg_stream *st; (st = share_next(lg, cycle, share, nshares, &i, &k)) != NULL;) {
        view_ctx vc = {fn, ctx, st->ls_partition};
        for (uint32_t seq = 0; seq <= st->ls_seq; seq++) {
            int rc = view_seg(lg, st, seq, &vc, dg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int cdr_ledger_scan_view_segments(cdr_ledger *lg, uint32_t cycle, unsigned share, unsigned nshares,
                                  cdr_ledger_view_fn fn, void *ctx, cdr_diag *dg)
{
    if (!lg || !fn || !nshares || share >= nshares)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger scan arguments");
    size_t i = 0;
    unsigned k = 0, u = 0;
    for (const lg_stream *st; (st = share_next(lg, cycle, 0, 1, &i, &k)) != NULL;) {
        view_ctx vc = {fn, ctx, st->ls_partition};
        for (uint32_t seq = 0; seq <= st->ls_seq; seq++) {
            if (u++ % nshares != share)
                continue;
            int rc = view_seg(lg, st, seq, &vc, dg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the index ------------------------------------------------------------------------------
 * seg-N.idx, version 2: header (48 bytes; u32 ntotals at 28), totals (ntotals x 32: currency
 * NUL-padded to 4 bytes, service u32, records u64, charge i64, units u64; sorted by currency then
 * service, only the pairs that occur), frames (nframes x 16: position u64, count u32, 0 u32), keys
 * sorted by MSISDN (nkeys x 32: MSISDN NUL-padded to 24 bytes, first position u32, number of
 * positions u32), positions (nrecords x 8: frame u32, index u32), then the FNV-1a 64 of
 * everything before it. Little-endian. A version-1 index (totals per service only) is stale and
 * rebuilt. */

#define IX_VERSION 2u
#define IX_HDR     48u
#define IX_TOT     32u
#define IX_FRAME   16u
#define IX_KEY     32u
#define IX_POS     8u
#define IX_MSISDN  24u

typedef struct ix_ent {
    char ie_msisdn[IX_MSISDN];
    uint32_t ie_frame;
    uint32_t ie_index;
} ix_ent;

/* One (currency, service) total of a segment. */
typedef struct ix_tot {
    char it_currency[4];
    uint32_t it_service;
    uint64_t it_records;
    cdr_money it_charge;
    uint64_t it_units;
} ix_tot;

typedef struct ix_build {
    ix_ent *ib_ents;
    size_t ib_n, ib_cap;
    uint8_t *ib_frames; /* IX_FRAME each */
    size_t ib_nframes, ib_fcap;
    uint32_t ib_fno;
    ix_tot *ib_tot; /* unsorted; sorted when written */
    size_t ib_ntot, ib_totcap, ib_last;
} ix_build;

static int ix_tot_cmp(const void *a, const void *b)
{
    const ix_tot *x = a, *y = b;
    int c = memcmp(x->it_currency, y->it_currency, 4);
    return c ? c : (x->it_service > y->it_service) - (x->it_service < y->it_service);
}

static int ix_rec(const cdr_ledger_rec *rec, uint32_t k, void *ctx)
{
    ix_build *ib = ctx;
    if (ib->ib_n == ib->ib_cap) {
        size_t n = ib->ib_cap ? 2 * ib->ib_cap : 1024;
        ix_ent *p = realloc(ib->ib_ents, n * sizeof *p);
        if (!p)
            return CDR_ENOMEM;
        ib->ib_ents = p;
        ib->ib_cap = n;
    }
    ix_ent *ie = &ib->ib_ents[ib->ib_n++];
    memset(ie->ie_msisdn, 0, sizeof ie->ie_msisdn);
    memcpy(ie->ie_msisdn, rec->lr_cdr.cr_msisdn, strlen(rec->lr_cdr.cr_msisdn));
    ie->ie_frame = ib->ib_fno;
    ie->ie_index = k;
    const cdr_rated *rr = &rec->lr_rated;
    ix_tot key = {.it_service = rr->rr_service};
    memcpy(key.it_currency, rr->rr_currency, 3);
    ix_tot *it = ib->ib_ntot ? &ib->ib_tot[ib->ib_last] : NULL;
    if (!it || ix_tot_cmp(it, &key)) {
        size_t j = 0;
        while (j < ib->ib_ntot && ix_tot_cmp(&ib->ib_tot[j], &key))
            j++;
        if (j == ib->ib_ntot) {
            if (ib->ib_ntot == ib->ib_totcap) {
                size_t n = ib->ib_totcap ? 2 * ib->ib_totcap : 16;
                ix_tot *p = realloc(ib->ib_tot, n * sizeof *p);
                if (!p)
                    return CDR_ENOMEM;
                ib->ib_tot = p;
                ib->ib_totcap = n;
            }
            ib->ib_tot[ib->ib_ntot++] = key;
        }
        ib->ib_last = j;
        it = &ib->ib_tot[j];
    }
    it->it_records++;
    it->it_charge += rr->rr_charge;
    it->it_units += rr->rr_units;
    return 0;
}

static int ix_frame(cdr_ledger *lg, const lg_hdr *fh, const char *path, uint64_t pos, uint32_t fno,
                    void *ctx, cdr_diag *dg)
{
    ix_build *ib = ctx;
    if (lg_reserve(&ib->ib_frames, &ib->ib_fcap, (ib->ib_nframes + 1) * IX_FRAME))
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    uint8_t *f = ib->ib_frames + ib->ib_nframes++ * IX_FRAME;
    lg_put64(f, pos);
    lg_put32(f + 8, fh->fh_count);
    lg_put32(f + 12, 0);
    ib->ib_fno = fno;
    int rc = body_each(lg, fh, path, pos, ix_rec, ib, dg);
    if (rc == CDR_ENOMEM)
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    return rc;
}

static int ix_cmp(const void *a, const void *b)
{
    const ix_ent *x = a, *y = b;
    int c = memcmp(x->ie_msisdn, y->ie_msisdn, IX_MSISDN);
    if (c)
        return c;
    if (x->ie_frame != y->ie_frame)
        return x->ie_frame < y->ie_frame ? -1 : 1;
    return (x->ie_index > y->ie_index) - (x->ie_index < y->ie_index);
}

int lg_index_build(cdr_ledger *lg, const lg_stream *st, uint32_t seq, cdr_diag *dg)
{
    ix_build ib;
    memset(&ib, 0, sizeof ib);
    char seg[LG_PATH_MAX], path[LG_PATH_MAX], tmp[LG_PATH_MAX + 32];
    lg_seg_path(lg, st, seq, "zst", seg, sizeof seg);
    lg_seg_path(lg, st, seq, "idx", path, sizeof path);
    uint8_t *buf = NULL;
    int rc = seg_walk(lg, st, seq, ix_frame, &ib, dg);
    struct stat sb;
    if (!rc && stat(seg, &sb) != 0)
        rc = cdr_diag_set(dg, CDR_EIO, seg, 0, 0, "cannot stat: %s", strerror(errno));
    if (rc)
        goto done;
    qsort(ib.ib_ents, ib.ib_n, sizeof *ib.ib_ents, ix_cmp);
    if (ib.ib_ntot > 1)
        qsort(ib.ib_tot, ib.ib_ntot, sizeof *ib.ib_tot, ix_tot_cmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < ib.ib_n; i++)
        if (i == 0 || memcmp(ib.ib_ents[i].ie_msisdn, ib.ib_ents[i - 1].ie_msisdn, IX_MSISDN))
            nkeys++;
    size_t len = IX_HDR + ib.ib_ntot * IX_TOT + ib.ib_nframes * IX_FRAME + nkeys * IX_KEY +
                 ib.ib_n * IX_POS + 8;
    buf = calloc(1, len);
    if (!buf) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
        goto done;
    }
    memcpy(buf, "CDRX", 4);
    lg_put16(buf + 4, IX_VERSION);
    lg_put64(buf + 8, (uint64_t)sb.st_size);
    lg_put32(buf + 16, (uint32_t)ib.ib_nframes);
    lg_put32(buf + 20, (uint32_t)ib.ib_n);
    lg_put32(buf + 24, (uint32_t)nkeys);
    lg_put32(buf + 28, (uint32_t)ib.ib_ntot);
    uint8_t *p = buf + IX_HDR;
    for (size_t t = 0; t < ib.ib_ntot; t++, p += IX_TOT) {
        const ix_tot *it = &ib.ib_tot[t];
        memcpy(p, it->it_currency, 4);
        lg_put32(p + 4, it->it_service);
        lg_put64(p + 8, it->it_records);
        lg_put64(p + 16, (uint64_t)it->it_charge);
        lg_put64(p + 24, it->it_units);
    }
    if (ib.ib_nframes)
        memcpy(p, ib.ib_frames, ib.ib_nframes * IX_FRAME);
    p += ib.ib_nframes * IX_FRAME;
    uint8_t *keys = p, *pos = p + nkeys * IX_KEY;
    for (size_t i = 0, k = 0; i < ib.ib_n; i++) {
        const ix_ent *ie = &ib.ib_ents[i];
        if (i == 0 || memcmp(ie->ie_msisdn, ib.ib_ents[i - 1].ie_msisdn, IX_MSISDN)) {
            uint8_t *kp = keys + k++ * IX_KEY;
            memcpy(kp, ie->ie_msisdn, IX_MSISDN);
            lg_put32(kp + IX_MSISDN, (uint32_t)i);
        }
        uint8_t *kp = keys + (k - 1) * IX_KEY;
        lg_put32(kp + IX_MSISDN + 4, lg_get32(kp + IX_MSISDN + 4) + 1);
        lg_put32(pos + i * IX_POS, ie->ie_frame);
        lg_put32(pos + i * IX_POS + 4, ie->ie_index);
    }
    lg_put64(buf + len - 8, lg_fnv1a64(buf, len - 8, LG_FNV_SEED));
    /* Written aside, synced, then renamed into place: an index is whole or absent. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot create: %s", strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off != len || fsync(fd) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "write: %s", strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "rename: %s", strerror(errno));
        unlink(tmp);
    }
done:
    free(buf);
    free(ib.ib_ents);
    free(ib.ib_frames);
    free(ib.ib_tot);
    return rc;
}

typedef struct lg_index {
    uint8_t *ix_buf;
    size_t ix_len;
    uint32_t ix_nframes, ix_nrecords, ix_nkeys, ix_ntotals;
    const uint8_t *ix_totals, *ix_frames, *ix_keys, *ix_pos;
} lg_index;

/* Load the index of sealed segment seq: 0, 1 when missing, stale or damaged (rebuild it). */
static int index_load(cdr_ledger *lg, const lg_stream *st, uint32_t seq, lg_index *ix)
{
    char seg[LG_PATH_MAX], path[LG_PATH_MAX];
    lg_seg_path(lg, st, seq, "zst", seg, sizeof seg);
    lg_seg_path(lg, st, seq, "idx", path, sizeof path);
    memset(ix, 0, sizeof *ix);
    struct stat ss, is;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    if (fstat(fd, &is) != 0 || stat(seg, &ss) != 0 || is.st_size < IX_HDR + 8) {
        close(fd);
        return 1;
    }
    ix->ix_len = (size_t)is.st_size;
    ix->ix_buf = malloc(ix->ix_len);
    if (!ix->ix_buf || lg_pread_full(fd, ix->ix_buf, ix->ix_len, 0)) {
        close(fd);
        return 1;
    }
    close(fd);
    const uint8_t *b = ix->ix_buf;
    ix->ix_nframes = lg_get32(b + 16);
    ix->ix_nrecords = lg_get32(b + 20);
    ix->ix_nkeys = lg_get32(b + 24);
    ix->ix_ntotals = lg_get32(b + 28);
    uint64_t want = IX_HDR + (uint64_t)ix->ix_ntotals * IX_TOT +
                    (uint64_t)ix->ix_nframes * IX_FRAME + (uint64_t)ix->ix_nkeys * IX_KEY +
                    (uint64_t)ix->ix_nrecords * IX_POS + 8;
    if (memcmp(b, "CDRX", 4) || lg_get16(b + 4) != IX_VERSION || want != ix->ix_len ||
        lg_get64(b + 8) != (uint64_t)ss.st_size ||
        lg_get64(b + ix->ix_len - 8) != lg_fnv1a64(b, ix->ix_len - 8, LG_FNV_SEED))
        return 1;
    ix->ix_totals = b + IX_HDR;
    ix->ix_frames = ix->ix_totals + (size_t)ix->ix_ntotals * IX_TOT;
    ix->ix_keys = ix->ix_frames + (size_t)ix->ix_nframes * IX_FRAME;
    ix->ix_pos = ix->ix_keys + (size_t)ix->ix_nkeys * IX_KEY;
    return 0;
}

static int index_get(cdr_ledger *lg, const lg_stream *st, uint32_t seq, lg_index *ix, cdr_diag *dg)
{
    if (index_load(lg, st, seq, ix) == 0)
        return 0;
    free(ix->ix_buf);
    int rc = lg_index_build(lg, st, seq, dg);
    if (rc)
        return rc;
    if (index_load(lg, st, seq, ix) == 0)
        return 0;
    free(ix->ix_buf);
    ix->ix_buf = NULL;
    char path[LG_PATH_MAX];
    lg_seg_path(lg, st, seq, "idx", path, sizeof path);
    return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0, "index unreadable after a rebuild");
}

/* ---- one subscriber ------------------------------------------------------------------------- */

typedef struct sub_ctx {
    scan_ctx su_sc;
    const uint8_t *su_pos; /* positions of this frame: (frame, index) pairs */
    size_t su_left;
} sub_ctx;

static int sub_rec(const cdr_ledger_rec *rec, uint32_t k, void *ctx)
{
    sub_ctx *su = ctx;
    if (su->su_left == 0 || lg_get32(su->su_pos + 4) != k)
        return 0;
    su->su_pos += IX_POS;
    su->su_left--;
    return su->su_sc.sc_fn(rec, su->su_sc.sc_partition, su->su_sc.sc_ctx);
}

/* The records at the given positions (sorted, all in one segment). */
static int sub_sealed(cdr_ledger *lg, const lg_stream *st, uint32_t seq, const lg_index *ix,
                      const uint8_t *pos, size_t npos, sub_ctx *su, cdr_diag *dg)
{
    char path[LG_PATH_MAX];
    lg_seg_path(lg, st, seq, "zst", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    uint64_t size = seg_size(lg, st, seq, fd);
    int rc = 0;
    size_t i = 0;
    while (!rc && i < npos) {
        uint32_t f = lg_get32(pos + i * IX_POS);
        size_t j = i;
        while (j < npos && lg_get32(pos + j * IX_POS) == f)
            j++;
        if (f >= ix->ix_nframes) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0, "index names frame %" PRIu32, f);
            break;
        }
        uint64_t fpos = lg_get64(ix->ix_frames + (size_t)f * IX_FRAME);
        lg_hdr fh;
        if ((rc = lg_frame_read(lg, fd, path, fpos, size, &fh, dg)))
            break;
        su->su_pos = pos + i * IX_POS;
        su->su_left = j - i;
        rc = body_each(lg, &fh, path, fpos, sub_rec, su, dg);
        if (!rc && su->su_left)
            rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                              "byte offset %" PRIu64 ": index names records the frame lacks", fpos);
        i = j;
    }
    close(fd);
    return rc;
}

int cdr_ledger_subscriber(cdr_ledger *lg, uint32_t cycle, const char *msisdn, cdr_ledger_fn fn,
                          void *ctx, cdr_diag *dg)
{
    if (!lg || !fn || !msisdn || strlen(msisdn) >= IX_MSISDN)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger lookup arguments");
    uint8_t key[IX_MSISDN] = {0};
    memcpy(key, msisdn, strlen(msisdn));
    for (size_t i = 0; i < lg->lg_nstreams; i++) {
        const lg_stream *st = &lg->lg_streams[i];
        if (st->ls_cycle != cycle)
            continue;
        sub_ctx su = {{fn, ctx, st->ls_partition, msisdn, NULL, NULL, NULL}, NULL, 0};
        int rc = 0;
        for (uint32_t seq = 0; !rc && seq < st->ls_seq; seq++) {
            lg_index ix;
            if ((rc = index_get(lg, st, seq, &ix, dg)))
                break;
            size_t lo = 0, hi = ix.ix_nkeys;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(ix.ix_keys + mid * IX_KEY, key, IX_MSISDN);
                if (c < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < ix.ix_nkeys && memcmp(ix.ix_keys + lo * IX_KEY, key, IX_MSISDN) == 0) {
                const uint8_t *kp = ix.ix_keys + lo * IX_KEY;
                uint32_t first = lg_get32(kp + IX_MSISDN), npos = lg_get32(kp + IX_MSISDN + 4);
                if ((uint64_t)first + npos > ix.ix_nrecords)
                    rc = cdr_diag_set(dg, CDR_FORMAT, lg->lg_dir, 0, 0, "bad index entry");
                else
                    rc = sub_sealed(lg, st, seq, &ix, ix.ix_pos + (size_t)first * IX_POS, npos, &su,
                                    dg);
            }
            free(ix.ix_buf);
        }
        if (!rc)
            rc = seg_walk(lg, st, st->ls_seq, scan_frame, &su.su_sc, dg);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- totals --------------------------------------------------------------------------------- */

/* Add the totals of index ix to out. *unresolved is set when it holds records without a
 * currency. CDR_FORMAT for a damaged entry, CDR_LIMIT. */
static int index_totals(const lg_index *ix, cdr_ledger_totals *out, int *unresolved)
{
    for (uint32_t i = 0; i < ix->ix_ntotals; i++) {
        const uint8_t *t = ix->ix_totals + (size_t)i * IX_TOT;
        char cur[4];
        memcpy(cur, t, 4);
        const uint32_t svc = lg_get32(t + 4);
        if (cur[3] != '\0' || svc >= CDR_SVC_COUNT)
            return CDR_FORMAT;
        if (!cur[0])
            *unresolved = 1;
        int rc =
            tot_add(out, cur, svc, lg_get64(t + 8), (cdr_money)lg_get64(t + 16), lg_get64(t + 24));
        if (rc)
            return rc;
    }
    return 0;
}

static int totals_limit(cdr_diag *dg, uint32_t cycle)
{
    return cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                        "cycle %" PRIu32 " holds more than %d currencies", cycle,
                        CDR_LEDGER_MAX_CURRENCIES);
}

int cdr_ledger_totals_get(cdr_ledger *lg, uint32_t cycle, cdr_ledger_currency_fn resolve,
                          void *resolve_ctx, cdr_ledger_totals *out, cdr_diag *dg)
{
    if (!lg || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger totals arguments");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < lg->lg_nstreams; i++) {
        const lg_stream *st = &lg->lg_streams[i];
        if (st->ls_cycle != cycle)
            continue;
        scan_ctx sc = {NULL, NULL, st->ls_partition, NULL, out, resolve, resolve_ctx};
        for (uint32_t seq = 0; seq < st->ls_seq; seq++) {
            lg_index ix;
            int rc = index_get(lg, st, seq, &ix, dg);
            if (rc)
                return rc;
            /* the index's totals, unless records without a currency are to be resolved: their
             * plans are not in the index, so the segment is read */
            cdr_ledger_totals seg;
            memset(&seg, 0, sizeof seg);
            int unresolved = 0;
            rc = index_totals(&ix, &seg, &unresolved);
            free(ix.ix_buf);
            if (rc == CDR_FORMAT) {
                char path[LG_PATH_MAX];
                lg_seg_path(lg, st, seq, "idx", path, sizeof path);
                return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0, "bad totals entry in the index");
            }
            if (!rc && unresolved && resolve)
                rc = seg_walk(lg, st, seq, scan_frame, &sc, dg);
            else if (!rc)
                rc = cdr_ledger_totals_add(out, &seg);
            if (rc == CDR_LIMIT)
                return totals_limit(dg, cycle);
            if (rc)
                return rc;
        }
        int rc = seg_walk(lg, st, st->ls_seq, scan_frame, &sc, dg);
        if (rc == CDR_LIMIT)
            return totals_limit(dg, cycle);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int cdr_ledger_cycles(const char *dir, uint32_t **out, cdr_diag *dg)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot read the ledger directory: %s",
                     strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 0;
    uint32_t *cy = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strlen(nm) != 6 || strspn(nm, "0123456789") != 6)
            continue;
        uint32_t c = (uint32_t)strtoul(nm, NULL, 10);
        if (!lg_cycle_ok(c))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint32_t *p = realloc(cy, cap * sizeof *p);
            if (!p) {
                free(cy);
                closedir(d);
                cdr_diag_set(dg, CDR_ENOMEM, dir, 0, 0, "out of memory");
                return -1;
            }
            cy = p;
        }
        cy[n++] = c;
    }
    closedir(d);
    if (n > 1)
        qsort(cy, n, sizeof *cy, cmp_u32);
    *out = cy;
    return (int)n;
}

/* ---- one segment file on its own ------------------------------------------------------------ */

typedef struct lg_seg_ctx {
    cdr_ledger_fn sc_fn;
    void *sc_ctx;
    uint32_t sc_partition;
} lg_seg_ctx;

static int seg_rec(const cdr_ledger_rec *rec, uint32_t k, void *ctx)
{
    (void)k;
    const lg_seg_ctx *sc = ctx;
    return sc->sc_fn(rec, sc->sc_partition, sc->sc_ctx);
}

int cdr_ledger_read_segment(int fd, const char *name, cdr_ledger_fn fn, void *ctx, cdr_diag *dg)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return cdr_diag_set(dg, CDR_EIO, name, 0, 0, "cannot stat: %s", strerror(errno));
    cdr_ledger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    lg->lg_lockfd = -1;
    lg->lg_readonly = 1;
    int rc = 0;
    if (!(lg->lg_dctx = ZSTD_createDCtx()))
        rc = cdr_diag_set(dg, CDR_ENOMEM, name, 0, 0, "out of memory");
    uint64_t size = (uint64_t)sb.st_size, pos = 0;
    while (!rc && pos < size) {
        lg_hdr fh;
        if ((rc = lg_frame_read(lg, fd, name, pos, size, &fh, dg)))
            break;
        lg_seg_ctx sc = {fn, ctx, fh.fh_partition};
        rc = body_each(lg, &fh, name, pos, seg_rec, &sc, dg);
        pos += LG_FRAME_HDR + fh.fh_zsize;
    }
    cdr_ledger_close(lg);
    return rc;
}
