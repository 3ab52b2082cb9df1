/* ledger.c - the rated-CDR ledger: segment files, frames, recovery, append (docs/ledger.md).
 * Reading and the per-segment index are in ledger_read.c; both share ledger_int.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_file.h"
#include "cdr_bytes.h"
#include "ledger_int.h"

/* ---- small helpers -------------------------------------------------------------------------- */

uint64_t lg_fnv1a64(const void *data, size_t n, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_PRIME 0x100000001b3ull
_Static_assert(LG_FNV_LANES == 4, "lg_fnv1a64_lanes runs up to 4 chains");

void lg_fnv1a64_lanes(const uint8_t *const *data, const size_t *len, unsigned n, uint64_t *out)
{
    /* The lanes still going: their positions and what is left of them; each round runs the
     * bytes all of them still have, then drops the lanes that are done. */
    const uint8_t *p[LG_FNV_LANES];
    size_t left[LG_FNV_LANES];
    unsigned ix[LG_FNV_LANES], m = 0;
    for (unsigned i = 0; i < n; i++) {
        out[i] = LG_FNV_SEED;
        if (len[i]) {
            p[m] = data[i];
            left[m] = len[i];
            ix[m++] = i;
        }
    }
    while (m) {
        size_t run = left[0];
        for (unsigned i = 1; i < m; i++)
            run = left[i] < run ? left[i] : run;
        uint64_t h0 = out[ix[0]], h1 = m > 1 ? out[ix[1]] : 0, h2 = m > 2 ? out[ix[2]] : 0,
                 h3 = m > 3 ? out[ix[3]] : 0;
        const uint8_t *p0 = p[0], *p1 = p[m > 1], *p2 = p[m > 2 ? 2 : 0], *p3 = p[m > 3 ? 3 : 0];
        switch (m) { /* independent chains: the multiplies of one round overlap */
        case 4:
            for (size_t k = 0; k < run; k++) {
                h0 = (h0 ^ p0[k]) * FNV_PRIME;
                h1 = (h1 ^ p1[k]) * FNV_PRIME;
                h2 = (h2 ^ p2[k]) * FNV_PRIME;
                h3 = (h3 ^ p3[k]) * FNV_PRIME;
            }
            break;
        case 3:
            for (size_t k = 0; k < run; k++) {
                h0 = (h0 ^ p0[k]) * FNV_PRIME;
                h1 = (h1 ^ p1[k]) * FNV_PRIME;
                h2 = (h2 ^ p2[k]) * FNV_PRIME;
            }
            break;
        case 2:
            for (size_t k = 0; k < run; k++) {
                h0 = (h0 ^ p0[k]) * FNV_PRIME;
                h1 = (h1 ^ p1[k]) * FNV_PRIME;
            }
            break;
        default:
            h0 = lg_fnv1a64(p0, run, h0);
            break;
        }
        const uint64_t h[LG_FNV_LANES] = {h0, h1, h2, h3};
        unsigned k = 0;
        for (unsigned i = 0; i < m; i++) {
            out[ix[i]] = h[i];
            if (left[i] > run) {
                p[k] = p[i] + run;
                left[k] = left[i] - run;
                ix[k++] = ix[i];
            }
        }
        m = k;
    }
}

void lg_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void lg_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void lg_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t lg_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t lg_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t lg_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int lg_cycle_ok(uint32_t cycle)
{
    uint32_t year = cycle / 100, month = cycle % 100;
    return year >= 1970 && year <= 9999 && month >= 1 && month <= 12;
}

void lg_seg_path(const cdr_ledger *lg, const lg_stream *st, uint32_t seq, const char *ext,
                 char *buf, size_t size)
{
    snprintf(buf, size, "%s/%06" PRIu32 "/p%04" PRIu32 "/seg-%012" PRIu32 ".%s", lg->lg_dir,
             st->ls_cycle, st->ls_partition, seq, ext);
}

/* pread exactly n bytes; returns 0, or -1 (error or end of file). */
int lg_pread_full(int fd, void *buf, size_t n, uint64_t pos)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        pos += (uint64_t)r;
    }
    return 0;
}

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t pos)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = pwrite(fd, p, n, (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        p += r;
        n -= (size_t)r;
        pos += (uint64_t)r;
    }
    return 0;
}

/* Grow *buf to at least need bytes. */
int lg_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* ---- frame headers -------------------------------------------------------------------------- */

void lg_hdr_encode(const lg_hdr *fh, uint8_t *p)
{
    lg_put32(p, LG_SKIP_MAGIC);
    lg_put32(p + 4, LG_HDR_SIZE);
    uint8_t *h = p + 8;
    memcpy(h, "CDRL", 4);
    lg_put16(h + 4, LG_FORMAT_VERSION);
    lg_put16(h + 6, fh->fh_flags);
    lg_put32(h + 8, fh->fh_partition);
    lg_put32(h + 12, fh->fh_cycle);
    lg_put32(h + 16, fh->fh_count);
    lg_put32(h + 20, fh->fh_raw);
    lg_put32(h + 24, fh->fh_zsize);
    lg_put32(h + 28, 0);
    lg_put64(h + 32, (uint64_t)fh->fh_first);
    lg_put64(h + 40, (uint64_t)fh->fh_last);
    lg_put64(h + 48, (uint64_t)fh->fh_committed);
    lg_put64(h + 56, fh->fh_sum);
    lg_put64(h + 64, lg_fnv1a64(p, LG_FRAME_HDR - 8, LG_FNV_SEED));
}

int lg_hdr_decode(const uint8_t *p, lg_hdr *fh)
{
    const uint8_t *h = p + 8;
    if (lg_get32(p) != LG_SKIP_MAGIC || lg_get32(p + 4) != LG_HDR_SIZE || memcmp(h, "CDRL", 4))
        return -1;
    if (lg_get64(h + 64) != lg_fnv1a64(p, LG_FRAME_HDR - 8, LG_FNV_SEED))
        return -1;
    if (lg_get16(h + 4) != LG_FORMAT_VERSION)
        return -2;
    fh->fh_flags = lg_get16(h + 6);
    fh->fh_partition = lg_get32(h + 8);
    fh->fh_cycle = lg_get32(h + 12);
    fh->fh_count = lg_get32(h + 16);
    fh->fh_raw = lg_get32(h + 20);
    fh->fh_zsize = lg_get32(h + 24);
    fh->fh_first = (int64_t)lg_get64(h + 32);
    fh->fh_last = (int64_t)lg_get64(h + 40);
    fh->fh_committed = (int64_t)lg_get64(h + 48);
    fh->fh_sum = lg_get64(h + 56);
    if (fh->fh_raw > LG_RAW_MAX || fh->fh_zsize > ZSTD_compressBound(LG_RAW_MAX) ||
        fh->fh_zsize == 0)
        return -1;
    return 0;
}

/* Read and check the frame at pos of the open segment fd (path for messages): header, then the
 * body decompressed into lg_raw with its checksum verified. */
int lg_frame_read(cdr_ledger *lg, int fd, const char *path, uint64_t pos, uint64_t size, lg_hdr *fh,
                  cdr_diag *dg)
{
    int rc = lg_frame_load(lg, fd, path, pos, size, fh, &lg->lg_zbuf, &lg->lg_zcap, &lg->lg_raw,
                           &lg->lg_rawcap, dg);
    if (rc)
        return rc;
    if (lg_fnv1a64(lg->lg_raw, fh->fh_raw, LG_FNV_SEED) != fh->fh_sum)
        return lg_frame_bad_sum(path, pos, dg);
    return 0;
}

int lg_frame_bad_sum(const char *path, uint64_t pos, cdr_diag *dg)
{
    return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                        "byte offset %" PRIu64 ": frame checksum mismatch", pos);
}

int lg_frame_load(cdr_ledger *lg, int fd, const char *path, uint64_t pos, uint64_t size, lg_hdr *fh,
                  uint8_t **zbuf, size_t *zcap, uint8_t **raw, size_t *rawcap, cdr_diag *dg)
{
    uint8_t hb[LG_FRAME_HDR];
    if (pos + LG_FRAME_HDR > size || lg_pread_full(fd, hb, sizeof hb, pos))
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": truncated frame header", pos);
    int hrc = lg_hdr_decode(hb, fh);
    if (hrc == -2)
        return cdr_diag_set(dg, CDR_VERSION, path, 0, 0,
                            "byte offset %" PRIu64 ": unsupported ledger frame version", pos);
    if (hrc)
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": bad frame header (checksum)", pos);
    if (pos + LG_FRAME_HDR + fh->fh_zsize > size)
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0, "byte offset %" PRIu64 ": truncated frame",
                            pos);
    if (lg_reserve(zbuf, zcap, fh->fh_zsize) || lg_reserve(raw, rawcap, fh->fh_raw + 1))
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    if (lg_pread_full(fd, *zbuf, fh->fh_zsize, pos + LG_FRAME_HDR))
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "byte offset %" PRIu64 ": read error: %s", pos,
                            strerror(errno));
    size_t got = ZSTD_decompressDCtx(lg->lg_dctx, *raw, fh->fh_raw + 1, *zbuf, fh->fh_zsize);
    if (ZSTD_isError(got) || got != fh->fh_raw)
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                            "byte offset %" PRIu64 ": frame does not decompress (%s)", pos,
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    return 0;
}

/* ---- streams and partitions ----------------------------------------------------------------- */

static lg_stream *stream_find(cdr_ledger *lg, uint32_t cycle, uint32_t partition)
{
    for (size_t i = 0; i < lg->lg_nstreams; i++)
        if (lg->lg_streams[i].ls_cycle == cycle && lg->lg_streams[i].ls_partition == partition)
            return &lg->lg_streams[i];
    return NULL;
}

/* Insert keeping (cycle, partition) order. Pointers into lg_streams are invalidated. */
static lg_stream *stream_add(cdr_ledger *lg, uint32_t cycle, uint32_t partition)
{
    if (lg->lg_nstreams == lg->lg_capstreams) {
        size_t n = lg->lg_capstreams ? 2 * lg->lg_capstreams : 16;
        lg_stream *p = realloc(lg->lg_streams, n * sizeof *p);
        if (!p)
            return NULL;
        lg->lg_streams = p;
        lg->lg_capstreams = n;
    }
    size_t i = lg->lg_nstreams;
    while (i > 0 && (lg->lg_streams[i - 1].ls_cycle > cycle ||
                     (lg->lg_streams[i - 1].ls_cycle == cycle &&
                      lg->lg_streams[i - 1].ls_partition > partition)))
        i--;
    memmove(&lg->lg_streams[i + 1], &lg->lg_streams[i],
            (lg->lg_nstreams - i) * sizeof *lg->lg_streams);
    lg->lg_nstreams++;
    lg_stream *st = &lg->lg_streams[i];
    memset(st, 0, sizeof *st);
    st->ls_cycle = cycle;
    st->ls_partition = partition;
    st->ls_fd = -1;
    st->ls_max_offset = -1;
    st->ls_committed = -1;
    return st;
}

static lg_part *part_get(cdr_ledger *lg, uint32_t partition, int create)
{
    for (size_t i = 0; i < lg->lg_nparts; i++)
        if (lg->lg_parts[i].lp_partition == partition)
            return &lg->lg_parts[i];
    if (!create)
        return NULL;
    if (lg->lg_nparts == lg->lg_capparts) {
        size_t n = lg->lg_capparts ? 2 * lg->lg_capparts : 16;
        lg_part *p = realloc(lg->lg_parts, n * sizeof *p);
        if (!p)
            return NULL;
        lg->lg_parts = p;
        lg->lg_capparts = n;
    }
    lg_part *lp = &lg->lg_parts[lg->lg_nparts++];
    lp->lp_partition = partition;
    lp->lp_committed = -1;
    lp->lp_cycle = 0;
    return lp;
}

/* ---- open and recovery ---------------------------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Walk the frame headers of one segment. Sets *good_end to the end of the last frame that is
 * complete (and, when verify_last, whose body checks), *last / *have_last to that frame. */
static int seg_tail(cdr_ledger *lg, const char *path, int fd, uint64_t size, uint64_t *good_end,
                    lg_hdr *last, int *have_last, uint32_t *nframes)
{
    uint64_t pos = 0, prev_pos = 0;
    lg_hdr fh, prev = {0};
    int nhave = 0;
    uint32_t nf = 0;
    uint8_t hb[LG_FRAME_HDR];
    while (pos + LG_FRAME_HDR <= size && !lg_pread_full(fd, hb, sizeof hb, pos) &&
           lg_hdr_decode(hb, &fh) == 0 && pos + LG_FRAME_HDR + fh.fh_zsize <= size) {
        prev = fh;
        prev_pos = pos;
        nhave = 1;
        nf++;
        pos += LG_FRAME_HDR + fh.fh_zsize;
    }
    *good_end = pos;
    if (nhave) {
        /* The last complete frame: its pages may not all have reached the disk. */
        cdr_diag dg;
        if (lg_frame_read(lg, fd, path, prev_pos, size, &fh, &dg) != 0) {
            *good_end = prev_pos;
            nf--;
            nhave = 0;
            /* Find the frame before it (headers only: it was synced before the last one). */
            uint64_t p2 = 0;
            while (p2 < prev_pos && !lg_pread_full(fd, hb, sizeof hb, p2) &&
                   lg_hdr_decode(hb, &fh) == 0) {
                prev = fh;
                nhave = 1;
                p2 += LG_FRAME_HDR + fh.fh_zsize;
            }
        }
    }
    *have_last = nhave;
    if (nhave)
        *last = prev;
    *nframes = nf;
    return 0;
}

/* A torn tail never has a complete frame after it. Returns the position of a complete frame
 * after pos (one whose header checks and which fits in the file), or 0 if there is none. */
static uint64_t later_frame(cdr_ledger *lg, int fd, uint64_t pos, uint64_t size)
{
    uint64_t n = size - pos;
    if (n > LG_FRAME_HDR + ZSTD_compressBound(LG_RAW_MAX))
        n = LG_FRAME_HDR + ZSTD_compressBound(LG_RAW_MAX);
    if (n < 2 * LG_FRAME_HDR || lg_reserve(&lg->lg_zbuf, &lg->lg_zcap, n) ||
        lg_pread_full(fd, lg->lg_zbuf, n, pos))
        return 0;
    for (uint64_t i = 1; i + LG_FRAME_HDR <= n; i++) {
        lg_hdr fh;
        if (lg->lg_zbuf[i] == 0x5A && lg_get32(lg->lg_zbuf + i) == LG_SKIP_MAGIC &&
            lg_hdr_decode(lg->lg_zbuf + i, &fh) == 0 &&
            pos + i + LG_FRAME_HDR + fh.fh_zsize <= size)
            return pos + i;
    }
    return 0;
}

static int recover_stream(cdr_ledger *lg, lg_stream *st, cdr_diag *dg)
{
    char path[LG_PATH_MAX];
    for (int64_t seq = st->ls_seq; seq >= 0; seq--) {
        lg_seg_path(lg, st, (uint32_t)seq, "zst", path, sizeof path);
        int fd = open(path, lg->lg_readonly ? O_RDONLY : O_RDWR);
        if (fd < 0)
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            close(fd);
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot stat: %s", strerror(errno));
        }
        uint64_t size = (uint64_t)sb.st_size, good_end;
        lg_hdr last;
        int have;
        uint32_t nf;
        seg_tail(lg, path, fd, size, &good_end, &last, &have, &nf);
        uint64_t found;
        if (seq != st->ls_seq && good_end != size) {
            close(fd);
            return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                "byte offset %" PRIu64 ": damaged frame in a sealed segment",
                                good_end);
        }
        if (seq == st->ls_seq) {
            uint64_t dropped = size - good_end;
            if (dropped && (found = later_frame(lg, fd, good_end, size)) != 0) {
                close(fd);
                return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                    "byte offset %" PRIu64 ": damaged frame followed by a "
                                    "complete one (at %" PRIu64 "): not a torn tail, refusing "
                                    "to truncate",
                                    good_end, found);
            }
            if (dropped > LG_FRAME_HDR + ZSTD_compressBound(LG_RAW_MAX)) {
                close(fd);
                return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                    "byte offset %" PRIu64 ": %" PRIu64
                                    " unreadable bytes at the end, more than a torn frame: "
                                    "refusing to truncate",
                                    good_end, dropped);
            }
            if (dropped && !lg->lg_readonly) {
                if (ftruncate(fd, (off_t)good_end) != 0 || fdatasync(fd) != 0) {
                    close(fd);
                    return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot truncate: %s",
                                        strerror(errno));
                }
            }
            lg->lg_dropped += dropped;
            st->ls_dropped = dropped;
            st->ls_size = good_end;
            st->ls_nframes = nf;
        }
        close(fd);
        if (have) {
            st->ls_max_offset = last.fh_last;
            st->ls_committed = last.fh_committed;
            return 0;
        }
    }
    return 0;
}

static int scan_partition_dir(cdr_ledger *lg, uint32_t cycle, uint32_t partition, const char *pdir,
                              cdr_diag *dg)
{
    DIR *d = opendir(pdir);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, pdir, 0, 0, "cannot read: %s", strerror(errno));
    int64_t maxseq = -1;
    uint64_t nseg = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strncmp(nm, "seg-", 4) || strlen(nm) != 4 + 12 + 4 || strcmp(nm + 16, ".zst"))
            continue;
        char digits[13];
        memcpy(digits, nm + 4, 12);
        digits[12] = '\0';
        if (!all_digits(digits, 12))
            continue;
        int64_t seq = (int64_t)strtoull(digits, NULL, 10);
        if (seq > UINT32_MAX)
            continue;
        nseg++;
        if (seq > maxseq)
            maxseq = seq;
    }
    closedir(d);
    if (maxseq < 0)
        return 0;
    if (nseg != (uint64_t)maxseq + 1)
        return cdr_diag_set(dg, CDR_FORMAT, pdir, 0, 0,
                            "segments missing: %" PRIu64 " found, numbered up to %" PRId64, nseg,
                            maxseq);
    lg_stream *st = stream_add(lg, cycle, partition);
    if (!st)
        return cdr_diag_set(dg, CDR_ENOMEM, pdir, 0, 0, "out of memory");
    st->ls_seq = (uint32_t)maxseq;
    return recover_stream(lg, st, dg);
}

static int scan_dir(cdr_ledger *lg, cdr_diag *dg)
{
    DIR *d = opendir(lg->lg_dir);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, lg->lg_dir, 0, 0, "cannot read: %s", strerror(errno));
    struct dirent *de;
    int rc = 0;
    char cdir[LG_PATH_MAX], pdir[2 * LG_PATH_MAX];
    while (!rc && (de = readdir(d))) {
        if (!all_digits(de->d_name, 6))
            continue;
        uint32_t cycle = (uint32_t)strtoul(de->d_name, NULL, 10);
        if (!lg_cycle_ok(cycle))
            continue;
        snprintf(cdir, sizeof cdir, "%s/%s", lg->lg_dir, de->d_name);
        DIR *cd = opendir(cdir);
        if (!cd) {
            rc = cdr_diag_set(dg, CDR_EIO, cdir, 0, 0, "cannot read: %s", strerror(errno));
            break;
        }
        struct dirent *pe;
        while (!rc && (pe = readdir(cd))) {
            size_t pl = strlen(pe->d_name);
            if (pe->d_name[0] != 'p' || pl < 5 || pl > 11 || !all_digits(pe->d_name + 1, pl - 1))
                continue;
            unsigned long long p = strtoull(pe->d_name + 1, NULL, 10);
            if (p > UINT32_MAX)
                continue;
            snprintf(pdir, sizeof pdir, "%s/%s", cdir, pe->d_name);
            rc = scan_partition_dir(lg, cycle, (uint32_t)p, pdir, dg);
        }
        closedir(cd);
    }
    closedir(d);
    if (rc)
        return rc;
    /* Each partition resumes after the highest complete batch over its cycles. */
    for (size_t i = 0; i < lg->lg_nstreams; i++) {
        const lg_stream *st = &lg->lg_streams[i];
        lg_part *lp = part_get(lg, st->ls_partition, 1);
        if (!lp)
            return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
        if (lp->lp_cycle == 0 || st->ls_committed > lp->lp_committed) {
            lp->lp_committed = st->ls_committed;
            lp->lp_cycle = st->ls_cycle;
        }
    }
    return 0;
}

int cdr_ledger_open(const char *dir, const cdr_ledger_opts *opts, cdr_ledger **out, cdr_diag *dg)
{
    if (out)
        *out = NULL;
    if (!dir || !out || strlen(dir) >= LG_DIR_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, dir, 0, 0, "bad ledger directory argument");
    cdr_ledger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return cdr_diag_set(dg, CDR_ENOMEM, dir, 0, 0, "out of memory");
    snprintf(lg->lg_dir, sizeof lg->lg_dir, "%s", dir);
    lg->lg_lockfd = -1;
    lg->lg_seg_bytes = opts && opts->lo_segment_bytes ? opts->lo_segment_bytes : 64u << 20;
    lg->lg_level = opts && opts->lo_level ? opts->lo_level : 3;
    lg->lg_readonly = opts ? opts->lo_readonly : 0;
    lg->lg_cctx = ZSTD_createCCtx();
    lg->lg_dctx = ZSTD_createDCtx();
    int rc;
    if (!lg->lg_cctx || !lg->lg_dctx) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, dir, 0, 0, "out of memory");
        goto fail;
    }
    if (!lg->lg_readonly) {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            rc = cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create: %s", strerror(errno));
            goto fail;
        }
        char lock[LG_DIR_MAX + 8];
        snprintf(lock, sizeof lock, "%s/LOCK", dir);
        lg->lg_lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lg->lg_lockfd < 0) {
            rc = cdr_diag_set(dg, CDR_EIO, lock, 0, 0, "cannot open: %s", strerror(errno));
            goto fail;
        }
        if (flock(lg->lg_lockfd, LOCK_EX | LOCK_NB) != 0) {
            rc = cdr_diag_set(dg, errno == EWOULDBLOCK ? CDR_EXISTS : CDR_EIO, lock, 0, 0,
                              "ledger is locked by another writer: %s", strerror(errno));
            goto fail;
        }
    }
    if ((rc = scan_dir(lg, dg)))
        goto fail;
    const char *fa = lg->lg_readonly ? NULL : getenv(CDR_LEDGER_FAIL_ENV);
    if (fa && *fa)
        lg->lg_fail_after = strtoull(fa, NULL, 10);
    const char *hold = lg->lg_readonly ? NULL : getenv(CDR_LEDGER_HOLD_ENV);
    if (hold && *hold)
        lg->lg_hold_ms = (unsigned)strtoul(hold, NULL, 10);
    *out = lg;
    return 0;
fail:
    cdr_ledger_close(lg);
    return rc;
}

void cdr_ledger_close(cdr_ledger *lg)
{
    if (!lg)
        return;
    for (size_t i = 0; i < lg->lg_nstreams; i++)
        if (lg->lg_streams[i].ls_fd >= 0)
            close(lg->lg_streams[i].ls_fd);
    if (lg->lg_lockfd >= 0)
        close(lg->lg_lockfd); /* releases the lock */
    ZSTD_freeCCtx(lg->lg_cctx);
    ZSTD_freeDCtx(lg->lg_dctx);
    free(lg->lg_streams);
    free(lg->lg_parts);
    free(lg->lg_body);
    free(lg->lg_zbuf);
    free(lg->lg_raw);
    for (int i = 0; i < LG_FNV_LANES; i++) {
        free(lg->lg_lane_z[i]);
        free(lg->lg_lane_raw[i]);
    }
    free(lg->lg_out);
    free(lg->lg_cycles);
    free(lg);
}

int64_t cdr_ledger_next_offset(const cdr_ledger *lg, uint32_t partition)
{
    for (size_t i = 0; i < lg->lg_nparts; i++)
        if (lg->lg_parts[i].lp_partition == partition)
            return lg->lg_parts[i].lp_committed + 1;
    return 0;
}

uint64_t cdr_ledger_dropped_bytes(const cdr_ledger *lg)
{
    return lg->lg_dropped;
}

uint64_t cdr_ledger_torn_bytes(const cdr_ledger *lg, uint32_t cycle, char *path, size_t n)
{
    uint64_t bytes = 0;
    if (path && n)
        path[0] = '\0';
    for (size_t i = 0; i < lg->lg_nstreams; i++) {
        const lg_stream *st = &lg->lg_streams[i];
        if (st->ls_cycle != cycle || !st->ls_dropped)
            continue;
        if (!bytes && path && n)
            lg_seg_path(lg, st, st->ls_seq, "zst", path, n);
        bytes += st->ls_dropped;
    }
    return bytes;
}

uint64_t cdr_ledger_appended(const cdr_ledger *lg)
{
    return lg->lg_appended;
}

/* ---- clear ---------------------------------------------------------------------------------- */

/* Remove the files of folder path whose names start with prefix, then the folder. */
static int clear_folder(const char *path, const char *prefix, cdr_diag *dg)
{
    DIR *d = opendir(path);
    if (!d)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
    int rc = 0;
    char f[2 * LG_PATH_MAX + 256];
    for (struct dirent *de; !rc && (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(f, sizeof f, "%s/%s", path, de->d_name);
        if (unlink(f) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, f, 0, 0, "cannot remove: %s", strerror(errno));
    }
    closedir(d);
    if (!rc && rmdir(path) != 0)
        rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
    return rc;
}

int cdr_ledger_clear(const char *dir, cdr_diag *dg)
{
    if (!dir || strlen(dir) >= LG_DIR_MAX)
        return cdr_diag_set(dg, CDR_EINVAL, dir, 0, 0, "bad ledger directory argument");
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT
                   ? 0
                   : cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot read: %s", strerror(errno));
    char lock[LG_DIR_MAX + 8];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    int lfd = open(lock, O_RDWR | O_CLOEXEC);
    int rc = 0;
    if (lfd < 0 && errno != ENOENT)
        rc = cdr_diag_set(dg, CDR_EIO, lock, 0, 0, "cannot open: %s", strerror(errno));
    else if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0)
        rc = cdr_diag_set(dg, errno == EWOULDBLOCK ? CDR_EXISTS : CDR_EIO, lock, 0, 0,
                          "ledger is locked by another writer: %s", strerror(errno));
    char cdir[LG_PATH_MAX], pdir[2 * LG_PATH_MAX];
    for (struct dirent *de; !rc && (de = readdir(d)) != NULL;) {
        if (!all_digits(de->d_name, 6))
            continue;
        snprintf(cdir, sizeof cdir, "%s/%s", dir, de->d_name);
        DIR *cd = opendir(cdir);
        if (!cd) {
            rc = cdr_diag_set(dg, CDR_EIO, cdir, 0, 0, "cannot read: %s", strerror(errno));
            break;
        }
        for (struct dirent *pe; !rc && (pe = readdir(cd)) != NULL;) {
            if (pe->d_name[0] != 'p' || !all_digits(pe->d_name + 1, strlen(pe->d_name + 1)))
                continue;
            snprintf(pdir, sizeof pdir, "%s/%s", cdir, pe->d_name);
            rc = clear_folder(pdir, "seg-", dg);
        }
        closedir(cd);
        if (!rc && rmdir(cdir) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, cdir, 0, 0, "cannot remove: %s", strerror(errno));
    }
    closedir(d);
    if (!rc && lfd >= 0 && unlink(lock) != 0)
        rc = cdr_diag_set(dg, CDR_EIO, lock, 0, 0, "cannot remove: %s", strerror(errno));
    if (!rc && cdr_fsync_dir(dir) != 0)
        rc = cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "fsync: %s", strerror(errno));
    if (lfd >= 0)
        close(lfd);
    return rc;
}

/* ---- append --------------------------------------------------------------------------------- */

/* Open the stream's active segment for writing, creating folders and the file when needed. */
static int stream_open_active(cdr_ledger *lg, lg_stream *st, cdr_diag *dg)
{
    char path[LG_PATH_MAX], cdir[LG_DIR_MAX + 16], pdir[LG_DIR_MAX + 32];
    snprintf(cdir, sizeof cdir, "%s/%06" PRIu32, lg->lg_dir, st->ls_cycle);
    snprintf(pdir, sizeof pdir, "%s/p%04" PRIu32, cdir, st->ls_partition);
    lg_seg_path(lg, st, st->ls_seq, "zst", path, sizeof path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        st->ls_fd = fd;
        return 0;
    }
    if (errno != ENOENT)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    /* A new stream or segment: make every new name durable before data goes into it. */
    if (mkdir(cdir, 0755) == 0) {
        if (cdr_fsync_dir(lg->lg_dir) != 0)
            return cdr_diag_set(dg, CDR_EIO, lg->lg_dir, 0, 0, "fsync: %s", strerror(errno));
    } else if (errno != EEXIST) {
        return cdr_diag_set(dg, CDR_EIO, cdir, 0, 0, "cannot create: %s", strerror(errno));
    }
    if (mkdir(pdir, 0755) == 0) {
        if (cdr_fsync_dir(cdir) != 0)
            return cdr_diag_set(dg, CDR_EIO, cdir, 0, 0, "fsync: %s", strerror(errno));
    } else if (errno != EEXIST) {
        return cdr_diag_set(dg, CDR_EIO, pdir, 0, 0, "cannot create: %s", strerror(errno));
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    if (cdr_fsync_dir(pdir) != 0) {
        close(fd);
        return cdr_diag_set(dg, CDR_EIO, pdir, 0, 0, "fsync: %s", strerror(errno));
    }
    st->ls_fd = fd;
    st->ls_size = 0;
    st->ls_nframes = 0;
    return 0;
}

/* Compress body[0..len) into one frame and append it durably to the stream. */
static int frame_write(cdr_ledger *lg, lg_stream *st, const lg_hdr *tmpl, size_t len, cdr_diag *dg)
{
    int rc;
    if (st->ls_size >= lg->lg_seg_bytes && st->ls_nframes > 0) {
        /* Seal: the index is a cache (rebuilt when missing), so its failure is not fatal. */
        if (st->ls_fd >= 0)
            close(st->ls_fd);
        st->ls_fd = -1;
        cdr_diag idg;
        (void)lg_index_build(lg, st, st->ls_seq, &idg);
        st->ls_seq++;
        st->ls_size = 0;
        st->ls_nframes = 0;
    }
    if (st->ls_fd < 0 && (rc = stream_open_active(lg, st, dg)))
        return rc;
    size_t bound = ZSTD_compressBound(len);
    if (lg_reserve(&lg->lg_out, &lg->lg_outcap, LG_FRAME_HDR + bound))
        return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
    size_t z = ZSTD_compressCCtx(lg->lg_cctx, lg->lg_out + LG_FRAME_HDR, bound, lg->lg_body, len,
                                 lg->lg_level);
    if (ZSTD_isError(z))
        return cdr_diag_set(dg, CDR_ZSTD, lg->lg_dir, 0, 0, "zstd: %s", ZSTD_getErrorName(z));
    lg_hdr fh = *tmpl;
    fh.fh_partition = st->ls_partition;
    fh.fh_cycle = st->ls_cycle;
    fh.fh_raw = (uint32_t)len;
    fh.fh_zsize = (uint32_t)z;
    fh.fh_sum = lg_fnv1a64(lg->lg_body, len, LG_FNV_SEED);
    lg_hdr_encode(&fh, lg->lg_out);
    size_t n = LG_FRAME_HDR + z;
    if (lg->lg_fail_after && lg->lg_written + n > lg->lg_fail_after) {
        /* the test hook: the disk is full after lg_fail_after bytes; what fits is written */
        size_t room = lg->lg_fail_after > lg->lg_written ? lg->lg_fail_after - lg->lg_written : 0;
        if (room)
            (void)pwrite_full(st->ls_fd, lg->lg_out, room, st->ls_size);
        lg->lg_written += room;
        char path[LG_PATH_MAX];
        lg_seg_path(lg, st, st->ls_seq, "zst", path, sizeof path);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "byte offset %" PRIu64 ": write: %s",
                            st->ls_size, strerror(ENOSPC));
    }
    if (lg->lg_hold_ms && !lg->lg_held) { /* the test hook: a torn first frame for a while */
        lg->lg_held = 1;
        const size_t half = n / 2;
        if (pwrite_full(st->ls_fd, lg->lg_out, half, st->ls_size) == 0) {
            fprintf(stderr,
                    "cdrate ledger: test hook: holding a half-written frame (%zu of %zu "
                    "bytes) for %u ms\n",
                    half, n, lg->lg_hold_ms);
            usleep((useconds_t)lg->lg_hold_ms * 1000);
        }
    }
    if (pwrite_full(st->ls_fd, lg->lg_out, n, st->ls_size) != 0 || fdatasync(st->ls_fd) != 0) {
        char path[LG_PATH_MAX];
        lg_seg_path(lg, st, st->ls_seq, "zst", path, sizeof path);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "byte offset %" PRIu64 ": write: %s",
                            st->ls_size, strerror(errno));
    }
    st->ls_size += n;
    lg->lg_written += n;
    lg->lg_appended += fh.fh_count;
    st->ls_nframes++;
    st->ls_max_offset = fh.fh_last;
    st->ls_committed = fh.fh_committed;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int append_checked(cdr_ledger *lg, lg_part *lp, uint32_t partition,
                          const cdr_ledger_rec *recs, size_t n, int64_t last_offset, cdr_diag *dg)
{
    int rc;
    /* The distinct cycles that get new records, ascending. */
    if (n > lg->lg_cyclecap) {
        uint32_t *cy = realloc(lg->lg_cycles, n * sizeof *cy);
        if (!cy)
            return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
        lg->lg_cycles = cy;
        lg->lg_cyclecap = n;
    }
    size_t ncyc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = recs[i].lr_rated.rr_cycle;
        if (ncyc && lg->lg_cycles[ncyc - 1] == c)
            continue;
        size_t k = 0;
        while (k < ncyc && lg->lg_cycles[k] != c)
            k++;
        if (k < ncyc)
            continue;
        const lg_stream *st = stream_find(lg, c, partition);
        if (st && recs[i].lr_offset <= st->ls_max_offset) {
            /* Maybe later records of this cycle are new: check the last one of the cycle. */
            int fresh = 0;
            for (size_t j = n; j-- > i;)
                if (recs[j].lr_rated.rr_cycle == c) {
                    fresh = recs[j].lr_offset > st->ls_max_offset;
                    break;
                }
            if (!fresh)
                continue;
        }
        lg->lg_cycles[ncyc++] = c;
    }
    if (ncyc > 1)
        qsort(lg->lg_cycles, ncyc, sizeof(uint32_t), cmp_u32);
    int64_t prev_committed = lp->lp_committed;
    int64_t committed = last_offset > prev_committed ? last_offset : prev_committed;
    for (size_t ci = 0; ci < ncyc; ci++) {
        uint32_t c = lg->lg_cycles[ci];
        lg_stream *st = stream_find(lg, c, partition);
        if (!st && !(st = stream_add(lg, c, partition)))
            return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
        int64_t floor = st->ls_max_offset;
        size_t len = 0;
        lg_hdr fh = {0};
        for (size_t i = 0; i <= n; i++) {
            int take = i < n && recs[i].lr_rated.rr_cycle == c && recs[i].lr_offset > floor;
            int flush =
                fh.fh_count && (i == n || (take && len + CDR_RATED_WIRE_MAX + 20 > LG_RAW_MAX));
            if (flush) {
                int final = i == n && ci + 1 == ncyc;
                fh.fh_flags = final ? LG_FLAG_BATCH_END : 0;
                fh.fh_committed = final ? committed : prev_committed;
                if ((rc = frame_write(lg, st, &fh, len, dg)))
                    return rc;
                len = 0;
                fh.fh_count = 0;
            }
            if (!take)
                continue;
            if (lg_reserve(&lg->lg_body, &lg->lg_bodycap, len + CDR_RATED_WIRE_MAX + 20))
                return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
            uint8_t *p = lg->lg_body + len;
            if (fh.fh_count == 0)
                fh.fh_first = fh.fh_last = recs[i].lr_offset;
            p = cdr_put_varint(p, (uint64_t)(recs[i].lr_offset - fh.fh_last));
            uint8_t *lenp = p++; /* a rated record is < 512 bytes: 1 or 2 length bytes */
            size_t w = cdr_rated_wire_encode(&recs[i].lr_cdr, &recs[i].lr_rated, recs[i].lr_plan,
                                             lenp + 2);
            p = cdr_put_varint(lenp, w);
            memmove(p, lenp + 2, w);
            p += w;
            len = (size_t)(p - lg->lg_body);
            fh.fh_last = recs[i].lr_offset;
            fh.fh_count++;
        }
        lp->lp_cycle = c;
    }
    if (ncyc == 0 && committed > prev_committed) {
        /* Nothing new to store: record the batch's offset in an empty frame of the partition's
         * most recent stream, if it has one. */
        lg_stream *st = lp->lp_cycle ? stream_find(lg, lp->lp_cycle, partition) : NULL;
        if (st) {
            lg_hdr fh = {0};
            fh.fh_flags = LG_FLAG_BATCH_END;
            fh.fh_first = fh.fh_last = st->ls_max_offset;
            fh.fh_committed = committed;
            if ((rc = frame_write(lg, st, &fh, 0, dg)))
                return rc;
        }
    }
    lp->lp_committed = committed;
    return 0;
}

int cdr_ledger_append(cdr_ledger *lg, uint32_t partition, const cdr_ledger_rec *recs, size_t n,
                      int64_t last_offset, cdr_diag *dg)
{
    if (!lg || (n && !recs) || last_offset < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "bad ledger append arguments");
    if (lg->lg_readonly)
        return cdr_diag_set(dg, CDR_EINVAL, lg->lg_dir, 0, 0, "ledger opened read-only");
    if (lg->lg_failed)
        return cdr_diag_set(dg, CDR_EINVAL, lg->lg_dir, 0, 0,
                            "an earlier append failed: reopen the ledger to recover");
    for (size_t i = 0; i < n; i++) {
        if (recs[i].lr_offset < 0 || (i && recs[i].lr_offset <= recs[i - 1].lr_offset))
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "record %zu: offsets must be >= 0 and strictly increasing", i);
        if (!lg_cycle_ok(recs[i].lr_rated.rr_cycle))
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                                "record %zu: cycle %" PRIu32 " is not YYYYMM", i,
                                recs[i].lr_rated.rr_cycle);
    }
    if (n && last_offset < recs[n - 1].lr_offset)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0,
                            "last_offset %" PRId64 " is below the last record's offset",
                            last_offset);
    lg_part *lp = part_get(lg, partition, 1);
    if (!lp)
        return cdr_diag_set(dg, CDR_ENOMEM, lg->lg_dir, 0, 0, "out of memory");
    int rc = append_checked(lg, lp, partition, recs, n, last_offset, dg);
    if (rc && rc != CDR_EINVAL)
        lg->lg_failed = 1;
    return rc;
}
