/* gen_corpus.c - writes the generated seed inputs of the fuzz harnesses into tests/fuzz/corpus/
 * (docs/testing.md, "Fuzzing"): records and files that the encoders of the project produce, which
 * a fuzzer would take long to find from nothing.
 *
 * Usage: fuzz_gen_corpus SRCDIR   (from a normal build: build/fuzz_gen_corpus .)
 * Writes files named gen-..., overwriting files of the same names:
 *   corpus/wire/       single wire records, and a wire file of several records
 *   corpus/rated/      rated wire records (version 2), rated and unratable
 *   corpus/ledger/     a real segment file written by cdr_ledger_append (mode octet 0), and
 *                      the same frames in the harness's mode 1 description
 *   corpus/3gpp_ber/   every record of the .dat files of tests/data/collectors/3gpp/, with its
 *                      selector octet
 * The hand-picked seeds (collector fixtures, sample plans, a cut of the demo directory) are copied
 * files, not generated. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_ledger.h"
#include "cdr_rate.h"
#include "cdr_rules.h"
#include "ledger_int.h"

static const char *src;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_gen_corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put_file(const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/%s", src, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

static cdr_record sample_record(unsigned i)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    snprintf(cr.cr_source, sizeof cr.cr_source, i % 2 ? "MSC-HZ-01" : "PGW-BJ-02");
    snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "20261101-%06u", 100 + i);
    snprintf(cr.cr_msisdn, sizeof cr.cr_msisdn, "861391234%04u", i % 10000u);
    if (i % 3)
        snprintf(cr.cr_imsi, sizeof cr.cr_imsi, "46000123456%04u", i % 10000u);
    cr.cr_service = (uint8_t)(i % CDR_SVC_COUNT);
    cr.cr_direction = (uint8_t)(i % 4 == 3 ? CDR_DIR_MT : CDR_DIR_MO);
    if (cr.cr_service != CDR_SVC_DATA)
        snprintf(cr.cr_other, sizeof cr.cr_other, i == 4 ? "10086" : "86138000%05u", i);
    cr.cr_start = 1793529000 + (cdr_time)i * 3677;
    cr.cr_utc_offset = i == 5 ? -5 * 3600 : 8 * 3600;
    cr.cr_duration = cr.cr_service == CDR_SVC_SMS || cr.cr_service == CDR_SVC_MMS ? 0 : 17 + i * 61;
    if (cr.cr_service == CDR_SVC_DATA) {
        cr.cr_bytes_up = 123456u * (i + 1);
        cr.cr_bytes_down = 9876543u * (i + 1);
    }
    cr.cr_owner = i == 6 ? 7001 : 0;
    cr.cr_cell = i ? 40000u + i : 0;
    if (i == 2 || i == 7) {
        cr.cr_mcc = 262;
        cr.cr_mnc = 1;
    }
    cr.cr_cause = (uint16_t)(i == 1 ? 16 : 0);
    return cr;
}

static cdr_rated sample_rated(const cdr_record *cr, unsigned i)
{
    cdr_rated rr;
    memset(&rr, 0, sizeof rr);
    rr.rr_service = cr->cr_service;
    rr.rr_cycle = 202611;
    if (i == 3) { /* unratable */
        rr.rr_reason = CDR_REASON_UNKNOWN_SUBSCRIBER;
        rr.rr_zone = CDR_NO_ZONE;
        rr.rr_bundle = -1;
        return rr;
    }
    snprintf(rr.rr_currency, sizeof rr.rr_currency, i == 5 ? "EUR" : "CNY");
    rr.rr_zone = (int16_t)(i % 4);
    rr.rr_bundle = (int16_t)(i % 2 ? 0 : -1);
    rr.rr_plan_version = 1 + i % 2;
    rr.rr_units = 60u * (i + 1);
    rr.rr_bundle_units = i % 2 ? rr.rr_units / 2 : 0;
    rr.rr_overflow_units = rr.rr_units - rr.rr_bundle_units;
    rr.rr_charge = 150000 * (int64_t)(i + 1);
    rr.rr_nparts = (uint8_t)(1 + i % 3);
    for (unsigned k = 0; k < rr.rr_nparts; k++) {
        rr.rr_parts[k].rp_band = (uint8_t)k;
        rr.rr_parts[k].rp_units = rr.rr_overflow_units / rr.rr_nparts;
        rr.rr_parts[k].rp_charge = rr.rr_charge / rr.rr_nparts;
    }
    if (i == 6) { /* free usage */
        rr.rr_charge = 0;
        rr.rr_bundle_units = rr.rr_overflow_units = 0;
        rr.rr_free_units = rr.rr_units;
        rr.rr_nparts = 0;
    }
    return rr;
}

static const char *plan_of(unsigned i)
{
    return i == 3 ? "" : i % 2 ? "cn-enterprise" : "cn-payg";
}

static void gen_wire(void)
{
    uint8_t buf[CDR_WIRE_MAX];
    char name[64];
    for (unsigned i = 0; i < 8; i++) {
        cdr_record cr = sample_record(i);
        size_t n = cdr_wire_encode(&cr, buf);
        snprintf(name, sizeof name, "wire/gen-record-%u", i);
        put_file(name, buf, n);
    }
    char tmp[] = "/tmp/cdr-gen-wire-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        die("mkstemp");
    close(fd);
    cdr_wire_writer *ww;
    cdr_diag dg;
    if (cdr_wire_writer_open(tmp, &ww, &dg))
        die(dg.dg_msg);
    for (unsigned i = 0; i < 5; i++) {
        cdr_record cr = sample_record(i);
        cdr_wire_writer_put(ww, &cr);
    }
    if (cdr_wire_writer_close(ww))
        die("wire writer");
    FILE *f = fopen(tmp, "rb");
    static uint8_t file[4096];
    size_t n = f ? fread(file, 1, sizeof file, f) : 0;
    if (f)
        fclose(f);
    unlink(tmp);
    put_file("wire/gen-file", file, n);
}

static void gen_rated(void)
{
    uint8_t buf[CDR_RATED_WIRE_MAX];
    char name[64];
    for (unsigned i = 0; i < 8; i++) {
        cdr_record cr = sample_record(i);
        cdr_rated rr = sample_rated(&cr, i);
        size_t n = cdr_rated_wire_encode(&cr, &rr, plan_of(i), buf);
        snprintf(name, sizeof name, "rated/gen-rated-%u", i);
        put_file(name, buf, n);
    }
}

static void rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_tree(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Append little-endian v (n octets). */
static uint8_t *le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static void gen_ledger(void)
{
    char dir[] = "/tmp/cdr-gen-ledger-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    cdr_ledger *lg;
    cdr_diag dg;
    if (cdr_ledger_open(dir, NULL, &lg, &dg))
        die(dg.dg_msg);
    /* Two batches of partition 3: two frames, records at offsets 10..14 and 20..22. */
    cdr_ledger_rec recs[5];
    for (unsigned b = 0; b < 2; b++) {
        unsigned n = b ? 3 : 5;
        for (unsigned i = 0; i < n; i++) {
            memset(&recs[i], 0, sizeof recs[i]);
            recs[i].lr_offset = 10 * (b + 1) + i;
            recs[i].lr_cdr = sample_record(i + b);
            recs[i].lr_rated = sample_rated(&recs[i].lr_cdr, i + b);
            recs[i].lr_rated.rr_cycle = 202611;
            snprintf(recs[i].lr_plan, sizeof recs[i].lr_plan, "%s", plan_of(i + b));
        }
        if (cdr_ledger_append(lg, 3, recs, n, 10 * (b + 1) + n, &dg))
            die(dg.dg_msg);
    }
    cdr_ledger_close(lg);
    char seg[4096];
    snprintf(seg, sizeof seg, "%s/202611/p0003/seg-000000000000.zst", dir);
    FILE *f = fopen(seg, "rb");
    if (!f)
        die(seg);
    static uint8_t file[1 << 16];
    file[0] = 0; /* mode 0: the segment as it is */
    size_t n = 1 + fread(file + 1, 1, sizeof file - 1, f);
    fclose(f);
    rm_tree(dir);
    put_file("ledger/gen-segment", file, n);

    /* The same frames in the mode 1 description: header fields and uncompressed bodies. */
    static uint8_t desc[1 << 16], raw[1 << 20];
    uint8_t *d = desc;
    *d++ = 1;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    for (size_t pos = 1; pos + LG_FRAME_HDR <= n;) {
        lg_hdr fh;
        if (lg_hdr_decode(file + pos, &fh) != 0)
            die("generated segment has a bad frame header");
        size_t got =
            ZSTD_decompressDCtx(dc, raw, sizeof raw, file + pos + LG_FRAME_HDR, fh.fh_zsize);
        if (ZSTD_isError(got))
            die("generated segment does not decompress");
        d = le(d, fh.fh_flags, 2);
        d = le(d, fh.fh_partition, 4);
        d = le(d, fh.fh_cycle, 4);
        d = le(d, fh.fh_count, 4);
        d = le(d, (uint64_t)fh.fh_first, 8);
        d = le(d, (uint64_t)fh.fh_last, 8);
        d = le(d, (uint64_t)fh.fh_committed, 8);
        d = le(d, got, 2);
        memcpy(d, raw, got);
        d += got;
        pos += LG_FRAME_HDR + fh.fh_zsize;
    }
    ZSTD_freeDCtx(dc);
    put_file("ledger/gen-frames", desc, (size_t)(d - desc));
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void gen_3gpp_ber(void)
{
    static const char *files[] = {"records", "records_indefinite", "records_sgw"};
    static uint8_t buf[1 << 16], out[1 << 16];
    for (unsigned fi = 0; fi < 3; fi++) {
        char path[4096], name[128];
        snprintf(path, sizeof path, "%s/tests/data/collectors/3gpp/%s.dat", src, files[fi]);
        FILE *f = fopen(path, "rb");
        if (!f)
            die(path);
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        size_t pos = len >= 8 ? be32(buf + 4) : len;
        for (unsigned k = 0; pos + 4 <= len; k++) {
            const uint8_t *h = buf + pos;
            size_t hl = (h[2] >> 5) == 7 ? 5 : 4, cl = (size_t)(h[0] << 8 | h[1]);
            if (pos + hl + cl > len)
                break;
            out[0] = (h[3] & 0x1Fu) == 7 ? 1 : 0; /* selector: TS 32.251 or 32.250 */
            memcpy(out + 1, h + hl, cl);
            snprintf(name, sizeof name, "3gpp_ber/gen-%s-%u", files[fi], k);
            put_file(name, out, cl + 1);
            pos += hl + cl;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gen_corpus SRCDIR\n");
        return 2;
    }
    src = argv[1];
    static const char *dirs[] = {"wire", "rated", "ledger", "3gpp_ber"};
    for (unsigned i = 0; i < 4; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/%s", src, dirs[i]);
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            die(path);
    }
    gen_wire();
    gen_rated();
    gen_ledger();
    gen_3gpp_ber();
    return 0;
}
