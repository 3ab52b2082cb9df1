/* fuzz_ledger.c - the ledger frame reader of billing/ (docs/ledger.md: frame header and its
 * checksum, zstd body and its checksum, record framing, each rated record) on one segment file,
 * through cdr_ledger_read_segment.
 *
 * Input: one mode octet, then
 *   - mode bit 0 clear: the segment file's bytes as they are (damaged headers, torn frames, bad
 *     checksums, garbage that is not zstd);
 *   - mode bit 0 set: frames described without their checksums and compression, so that
 *     mutations reach the record framing and the rated records: each frame is 38 octets of header
 *     fields (little-endian: flags u16, partition u32, cycle u32, count u32, first, last and
 *     committed offsets u64), a u16 body length, then the uncompressed body (records as
 *     varint offset delta, varint length, rated wire record). The harness compresses the body and
 *     writes the true sizes and checksums into each frame header (lg_hdr_encode).
 * Properties: a refusal has a diagnostic; each record delivered has terminated strings and at most
 * CDR_RATED_MAX_PARTS parts and a Kafka offset >= 0. */
#include <fcntl.h>
#include <zstd.h>

#include "fuzz.h"
#include "ledger_int.h"

#define FRAME_FIELDS 38u

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The segment file for a mode-1 input, malloc'd, length in *out_len (NULL on failure). */
static uint8_t *build_segment(const uint8_t *p, size_t n, size_t *out_len)
{
    size_t cap = 1024, len = 0;
    uint8_t *seg = malloc(cap);
    while (seg && n >= FRAME_FIELDS + 2) {
        lg_hdr fh;
        memset(&fh, 0, sizeof fh);
        fh.fh_flags = (uint16_t)le(p, 2);
        fh.fh_partition = (uint32_t)le(p + 2, 4);
        fh.fh_cycle = (uint32_t)le(p + 6, 4);
        fh.fh_count = (uint32_t)le(p + 10, 4);
        fh.fh_first = (int64_t)le(p + 14, 8);
        fh.fh_last = (int64_t)le(p + 22, 8);
        fh.fh_committed = (int64_t)le(p + 30, 8);
        size_t bl = (size_t)le(p + FRAME_FIELDS, 2);
        p += FRAME_FIELDS + 2;
        n -= FRAME_FIELDS + 2;
        if (bl > n)
            bl = n;
        size_t bound = ZSTD_compressBound(bl);
        if (len + LG_FRAME_HDR + bound > cap) {
            cap = 2 * (len + LG_FRAME_HDR + bound);
            uint8_t *q = realloc(seg, cap);
            if (!q) {
                free(seg);
                return NULL;
            }
            seg = q;
        }
        size_t z = ZSTD_compress(seg + len + LG_FRAME_HDR, bound, p, bl, 1);
        FUZZ_CHECK(!ZSTD_isError(z));
        fh.fh_raw = (uint32_t)bl;
        fh.fh_zsize = (uint32_t)z;
        fh.fh_sum = lg_fnv1a64(p, bl, LG_FNV_SEED);
        lg_hdr_encode(&fh, seg + len);
        len += LG_FRAME_HDR + z;
        p += bl;
        n -= bl;
    }
    *out_len = len;
    return seg;
}

static int on_record(const cdr_ledger_rec *rec, uint32_t partition, void *ctx)
{
    (void)partition;
    size_t *n = ctx;
    fuzz_check_record_strings(&rec->lr_cdr);
    FUZZ_CHECK(FUZZ_STR_OK(rec->lr_plan) && FUZZ_STR_OK(rec->lr_rated.rr_currency));
    FUZZ_CHECK(rec->lr_rated.rr_nparts <= CDR_RATED_MAX_PARTS);
    FUZZ_CHECK(rec->lr_offset >= 0);
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *seg = data + 1;
    size_t len = size - 1;
    uint8_t *built = NULL;
    if (data[0] & 1u) {
        built = build_segment(data + 1, size - 1, &len);
        if (!built)
            return 0;
        seg = built;
    }
    const char *path = fuzz_memfile(seg, len);
    int fd = open(path, O_RDONLY);
    FUZZ_CHECK(fd >= 0);
    size_t nrec = 0;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_ledger_read_segment(fd, "fuzz.zst", on_record, &nrec, &dg);
    fuzz_check_diag(&dg, rc);
    fuzz_say("ledger", &dg, rc);
    FUZZ_CHECK(rc == 0 || rc == CDR_FORMAT || rc == CDR_VERSION);
    close(fd);
    free(built);
    return 0;
}
