/* ledger_int.h - internals of the ledger shared by ledger.c and ledger_read.c (not public). */
#ifndef CDR_LEDGER_INT_H
#define CDR_LEDGER_INT_H

#include <zstd.h>

#include "cdr_ledger.h"

#define LG_DIR_MAX        512 /* the ledger folder name, including NUL */
#define LG_PATH_MAX       1024
#define LG_SKIP_MAGIC     0x184D2A5Au /* a zstd skippable frame: zstd tools skip our headers */
#define LG_HDR_SIZE       72u         /* our header, inside the skippable frame */
#define LG_FRAME_HDR      (8u + LG_HDR_SIZE)
#define LG_FORMAT_VERSION 1u
#define LG_RAW_MAX        (8u << 20) /* uncompressed bytes per frame at most */
#define LG_FLAG_BATCH_END 1u
#define LG_FNV_SEED       0xcbf29ce484222325ull /* FNV-1a 64 offset basis */
#define LG_FNV_LANES      4                     /* frames checksummed together */

typedef struct lg_hdr {
    uint16_t fh_flags;
    uint32_t fh_partition;
    uint32_t fh_cycle;
    uint32_t fh_count;
    uint32_t fh_raw;   /* uncompressed body bytes */
    uint32_t fh_zsize; /* compressed (zstd frame) bytes after the header */
    int64_t fh_first;  /* Kafka offset of the first / last record (count 0: the stream's last) */
    int64_t fh_last;
    int64_t fh_committed; /* last offset of the last complete batch of the partition, -1 none */
    uint64_t fh_sum;      /* FNV-1a 64 of the uncompressed body */
} lg_hdr;

/* One (cycle, partition) folder. Segments 0 .. ls_seq; ls_seq is the active one. */
typedef struct lg_stream {
    uint32_t ls_cycle;
    uint32_t ls_partition;
    uint32_t ls_seq;
    uint32_t ls_nframes;   /* frames in the active segment */
    int ls_fd;             /* active segment open for writing, -1 */
    uint64_t ls_size;      /* valid bytes of the active segment */
    int64_t ls_max_offset; /* highest record offset stored, -1 */
    int64_t ls_committed;  /* fh_committed of the last frame, -1 */
    uint64_t ls_dropped;   /* bytes after the last complete frame when opened (a torn tail) */
} lg_stream;

typedef struct lg_part {
    uint32_t lp_partition;
    uint32_t lp_cycle;    /* cycle of the stream written last, 0 = none */
    int64_t lp_committed; /* last offset of the last complete batch, -1 */
} lg_part;

struct cdr_ledger {
    char lg_dir[LG_DIR_MAX];
    int lg_lockfd;
    int lg_readonly;
    int lg_failed;
    int lg_level;
    uint64_t lg_seg_bytes;
    uint64_t lg_dropped;
    uint64_t lg_appended;   /* records in the frames this handle wrote and synced */
    uint64_t lg_written;    /* bytes this handle wrote */
    uint64_t lg_fail_after; /* test hook CDR_LEDGER_FAIL_AFTER (bytes; 0 = off) */
    unsigned lg_hold_ms;    /* test hook CDR_LEDGER_HOLD_MS (0 = off) */
    int lg_held;            /* ... done: the hook holds the handle's first frame only */
    lg_stream *lg_streams;  /* sorted by (cycle, partition) */
    size_t lg_nstreams, lg_capstreams;
    lg_part *lg_parts;
    size_t lg_nparts, lg_capparts;
    ZSTD_CCtx *lg_cctx;
    ZSTD_DCtx *lg_dctx;
    uint8_t *lg_body; /* frame body being built */
    size_t lg_bodycap;
    uint8_t *lg_out; /* header + compressed frame being written */
    size_t lg_outcap;
    uint8_t *lg_zbuf; /* compressed frame being read */
    size_t lg_zcap;
    uint8_t *lg_raw; /* decompressed frame being read */
    size_t lg_rawcap;
    uint8_t *lg_lane_z[LG_FNV_LANES]; /* frames read together (cdr_ledger_scan_view) */
    size_t lg_lane_zcap[LG_FNV_LANES];
    uint8_t *lg_lane_raw[LG_FNV_LANES];
    size_t lg_lane_rawcap[LG_FNV_LANES];
    uint32_t *lg_cycles;
    size_t lg_cyclecap;
};

uint64_t lg_fnv1a64(const void *data, size_t n, uint64_t h);
/* The FNV-1a 64 (from LG_FNV_SEED) of n <= LG_FNV_LANES buffers, as lg_fnv1a64 gives them: one
 * buffer's chain of multiplies is serial (about 4 cycles a byte); the chains of several buffers
 * run side by side, at the speed of the multiplier. */
void lg_fnv1a64_lanes(const uint8_t *const *data, const size_t *len, unsigned n, uint64_t *out);
void lg_put16(uint8_t *p, uint16_t v);
void lg_put32(uint8_t *p, uint32_t v);
void lg_put64(uint8_t *p, uint64_t v);
uint16_t lg_get16(const uint8_t *p);
uint32_t lg_get32(const uint8_t *p);
uint64_t lg_get64(const uint8_t *p);
int lg_cycle_ok(uint32_t cycle);
int lg_reserve(uint8_t **buf, size_t *cap, size_t need);
int lg_pread_full(int fd, void *buf, size_t n, uint64_t pos);
void lg_seg_path(const cdr_ledger *lg, const lg_stream *st, uint32_t seq, const char *ext,
                 char *buf, size_t size);
void lg_hdr_encode(const lg_hdr *fh, uint8_t *p);
/* 0, -1 (bad header), -2 (unknown version). */
int lg_hdr_decode(const uint8_t *p, lg_hdr *fh);
/* The frame at pos: its header (checked), its body read into *zbuf and decompressed into *raw
 * (grown as needed), its body checksum not verified yet. 0 or CDR_FORMAT / CDR_VERSION / CDR_EIO /
 * CDR_ENOMEM with the file and byte offset in dg. */
int lg_frame_load(cdr_ledger *lg, int fd, const char *path, uint64_t pos, uint64_t size, lg_hdr *fh,
                  uint8_t **zbuf, size_t *zcap, uint8_t **raw, size_t *rawcap, cdr_diag *dg);
/* The diagnostic of a body whose checksum is not its header's: CDR_FORMAT. */
int lg_frame_bad_sum(const char *path, uint64_t pos, cdr_diag *dg);
int lg_frame_read(cdr_ledger *lg, int fd, const char *path, uint64_t pos, uint64_t size, lg_hdr *fh,
                  cdr_diag *dg);
/* Write the index of sealed segment seq of st (ledger_read.c). */
int lg_index_build(cdr_ledger *lg, const lg_stream *st, uint32_t seq, cdr_diag *dg);

#endif
