/* record.c - the CDR record: names, validation, wire format v1, CSV layout, JSON rendering. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_bytes.h"
#include "cdr_record.h"

static const char *const svc_names[CDR_SVC_COUNT] = {"voice", "sms", "mms", "data", "video"};
static const char *const dir_names[CDR_DIR_COUNT] = {"mo", "mt"};

const char *cdr_service_name(int svc)
{
    return (svc >= 0 && svc < CDR_SVC_COUNT) ? svc_names[svc] : NULL;
}

static int name_lookup(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

int cdr_service_parse(const char *s, size_t len)
{
    return name_lookup(svc_names, CDR_SVC_COUNT, s, len);
}

const char *cdr_direction_name(int dir)
{
    return (dir >= 0 && dir < CDR_DIR_COUNT) ? dir_names[dir] : NULL;
}

int cdr_direction_parse(const char *s, size_t len)
{
    return name_lookup(dir_names, CDR_DIR_COUNT, s, len);
}

static int all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int cdr_record_check(const cdr_record *cr, cdr_diag *dg)
{
    if (cr->cr_service >= CDR_SVC_COUNT)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "unknown service %u", cr->cr_service);
    if (cr->cr_direction >= CDR_DIR_COUNT)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "unknown direction %u", cr->cr_direction);
    if (!cr->cr_source[0])
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "empty source element");
    if (!cr->cr_origin_id[0])
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "empty origin record id");
    if (!cr->cr_msisdn[0])
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "empty served MSISDN");
    if (!all_digits(cr->cr_msisdn) || strlen(cr->cr_msisdn) > 15)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "served MSISDN is not 1-15 digits");
    if (!all_digits(cr->cr_imsi))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "IMSI is not digits");
    if (!all_digits(cr->cr_other))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0, "other party is not digits");
    return 0;
}

/* ---- wire format ----------------------------------------------------------------------------- */

static uint8_t *put_str(uint8_t *p, const char *s, size_t max)
{
    size_t n = strnlen(s, max - 1);
    *p++ = (uint8_t)n;
    memcpy(p, s, n);
    return p + n;
}

size_t cdr_wire_encode(const cdr_record *cr, uint8_t *buf)
{
    uint8_t *p = buf;
    *p++ = CDR_WIRE_VERSION;
    *p++ = cr->cr_service;
    *p++ = cr->cr_direction;
    p = put_str(p, cr->cr_source, CDR_SOURCE_MAX);
    p = put_str(p, cr->cr_origin_id, CDR_ORIGIN_MAX);
    p = put_str(p, cr->cr_msisdn, CDR_NUMBER_MAX);
    p = put_str(p, cr->cr_imsi, CDR_IMSI_MAX);
    p = put_str(p, cr->cr_other, CDR_NUMBER_MAX);
    p = cdr_put_varint(p, cdr_zigzag(cr->cr_start));
    p = cdr_put_varint(p, cdr_zigzag(cr->cr_utc_offset));
    p = cdr_put_varint(p, cr->cr_duration);
    p = cdr_put_varint(p, cr->cr_bytes_up);
    p = cdr_put_varint(p, cr->cr_bytes_down);
    p = cdr_put_varint(p, cr->cr_owner);
    p = cdr_put_varint(p, cr->cr_cell);
    p = cdr_put_varint(p, cr->cr_mcc);
    p = cdr_put_varint(p, cr->cr_mnc);
    p = cdr_put_varint(p, cr->cr_cause);
    return (size_t)(p - buf);
}

typedef struct wire_cur {
    const uint8_t *wc_p;
    const uint8_t *wc_end;
    const uint8_t *wc_start;
    cdr_diag *wc_dg;
} wire_cur;

static int get_varint(wire_cur *wc, uint64_t max, uint64_t *out, const char *field)
{
    uint64_t v;
    int e = cdr_get_varint(&wc->wc_p, wc->wc_end, &v);
    if (e == -1)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_end - wc->wc_start) + 1,
                            "truncated record in field %s", field);
    if (e)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start) + 1,
                            "over-long varint in field %s", field);
    if (v > max)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start),
                            "field %s out of range", field);
    *out = v;
    return 0;
}

static int get_str(wire_cur *wc, char *dst, size_t max, const char *field)
{
    if (wc->wc_p >= wc->wc_end)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start) + 1,
                            "truncated record in field %s", field);
    size_t n = *wc->wc_p++;
    if (n >= max)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start),
                            "field %s longer than %zu bytes", field, max - 1);
    if ((size_t)(wc->wc_end - wc->wc_p) < n)
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start) + 1,
                            "truncated record in field %s", field);
    if (memchr(wc->wc_p, 0, n))
        return cdr_diag_set(wc->wc_dg, CDR_FORMAT, NULL, 0, (int)(wc->wc_p - wc->wc_start) + 1,
                            "NUL byte in field %s", field);
    memcpy(dst, wc->wc_p, n);
    dst[n] = '\0';
    wc->wc_p += n;
    return 0;
}

int cdr_wire_decode(const uint8_t *buf, size_t len, cdr_record *cr, cdr_diag *dg)
{
    memset(cr, 0, sizeof *cr);
    if (len < 3)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, (int)len + 1, "truncated record header");
    if (buf[0] != CDR_WIRE_VERSION)
        return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 1, "unknown wire format version %u", buf[0]);
    if (buf[1] >= CDR_SVC_COUNT)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 2, "unknown service %u", buf[1]);
    if (buf[2] >= CDR_DIR_COUNT)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 3, "unknown direction %u", buf[2]);
    cr->cr_service = buf[1];
    cr->cr_direction = buf[2];
    wire_cur wc = {buf + 3, buf + len, buf, dg};
    uint64_t v[10];
    int rc;
    if ((rc = get_str(&wc, cr->cr_source, CDR_SOURCE_MAX, "source")) ||
        (rc = get_str(&wc, cr->cr_origin_id, CDR_ORIGIN_MAX, "origin_id")) ||
        (rc = get_str(&wc, cr->cr_msisdn, CDR_NUMBER_MAX, "msisdn")) ||
        (rc = get_str(&wc, cr->cr_imsi, CDR_IMSI_MAX, "imsi")) ||
        (rc = get_str(&wc, cr->cr_other, CDR_NUMBER_MAX, "other")) ||
        (rc = get_varint(&wc, UINT64_MAX, &v[0], "start")) ||
        (rc = get_varint(&wc, 2 * 86400, &v[1], "utc_offset")) ||
        (rc = get_varint(&wc, UINT32_MAX, &v[2], "duration")) ||
        (rc = get_varint(&wc, UINT64_MAX, &v[3], "bytes_up")) ||
        (rc = get_varint(&wc, UINT64_MAX, &v[4], "bytes_down")) ||
        (rc = get_varint(&wc, UINT64_MAX, &v[5], "owner")) ||
        (rc = get_varint(&wc, UINT32_MAX, &v[6], "cell")) ||
        (rc = get_varint(&wc, 999, &v[7], "mcc")) || (rc = get_varint(&wc, 999, &v[8], "mnc")) ||
        (rc = get_varint(&wc, UINT16_MAX, &v[9], "cause")))
        return rc;
    if (wc.wc_p != wc.wc_end)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, (int)(wc.wc_p - buf) + 1,
                            "%zu trailing bytes after record", (size_t)(wc.wc_end - wc.wc_p));
    cr->cr_start = cdr_unzigzag(v[0]);
    cr->cr_utc_offset = (int32_t)cdr_unzigzag(v[1]);
    cr->cr_duration = (uint32_t)v[2];
    cr->cr_bytes_up = v[3];
    cr->cr_bytes_down = v[4];
    cr->cr_owner = v[5];
    cr->cr_cell = (uint32_t)v[6];
    cr->cr_mcc = (uint16_t)v[7];
    cr->cr_mnc = (uint16_t)v[8];
    cr->cr_cause = (uint16_t)v[9];
    return 0;
}

/* A varint of the view: the one-byte case inline. 0, or -1 as cdr_get_varint fails. */
static inline int view_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    return cdr_get_varint(pp, end, out) ? -1 : 0;
}

/* A string of the view: get_str's checks (shorter than max, inside the record, no NUL byte). */
static inline int view_str(const uint8_t **pp, const uint8_t *end, size_t max, const char **s,
                           uint8_t *n)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    const size_t len = *p++;
    if (len >= max || (size_t)(end - p) < len)
        return -1;
    unsigned nul = 0;
    for (size_t i = 0; i < len; i++)
        nul |= p[i] == 0;
    if (nul)
        return -1;
    *s = (const char *)p;
    *n = (uint8_t)len;
    *pp = p + len;
    return 0;
}

int cdr_wire_view_get(const uint8_t *buf, size_t len, cdr_wire_view *wv)
{
    /* the checks of cdr_wire_decode, in its order */
    if (len < 3 || buf[0] != CDR_WIRE_VERSION || buf[1] >= CDR_SVC_COUNT || buf[2] >= CDR_DIR_COUNT)
        return -1;
    wv->wv_service = buf[1];
    wv->wv_direction = buf[2];
    const uint8_t *p = buf + 3, *end = buf + len;
    const char *skip;
    uint8_t skip_n;
    if (view_str(&p, end, CDR_SOURCE_MAX, &skip, &skip_n) ||
        view_str(&p, end, CDR_ORIGIN_MAX, &skip, &skip_n) ||
        view_str(&p, end, CDR_NUMBER_MAX, &wv->wv_msisdn, &wv->wv_msisdn_len) ||
        view_str(&p, end, CDR_IMSI_MAX, &skip, &skip_n) ||
        view_str(&p, end, CDR_NUMBER_MAX, &wv->wv_other, &wv->wv_other_len))
        return -1;
    /* start, utc_offset, duration, bytes_up, bytes_down, owner, cell, mcc, mnc, cause */
    static const uint64_t max[10] = {UINT64_MAX, 2 * 86400,  UINT32_MAX, UINT64_MAX, UINT64_MAX,
                                     UINT64_MAX, UINT32_MAX, 999,        999,        UINT16_MAX};
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (view_varint(&p, end, &v) || v > max[i])
            return -1;
        if (i == 0)
            wv->wv_start = cdr_unzigzag(v);
    }
    return p == end ? 0 : -1;
}

static const uint8_t wire_magic[8] = {'C', 'D', 'R', 'W', CDR_WIRE_VERSION, 0, 0, 0};

struct cdr_wire_writer {
    FILE *ww_f;
    int ww_err;
};

int cdr_wire_writer_open(const char *path, cdr_wire_writer **out, cdr_diag *dg)
{
    *out = NULL;
    cdr_wire_writer *ww = calloc(1, sizeof *ww);
    if (!ww)
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    ww->ww_f = fopen(path, "wb");
    if (!ww->ww_f) {
        free(ww);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    }
    setvbuf(ww->ww_f, NULL, _IOFBF, 1 << 20);
    if (fwrite(wire_magic, 1, sizeof wire_magic, ww->ww_f) != sizeof wire_magic)
        ww->ww_err = CDR_EIO;
    *out = ww;
    return 0;
}

int cdr_wire_writer_put(cdr_wire_writer *ww, const cdr_record *cr)
{
    uint8_t buf[CDR_WIRE_MAX + 10];
    size_t n = cdr_wire_encode(cr, buf + 10);
    uint8_t hdr[10];
    size_t h = (size_t)(cdr_put_varint(hdr, n) - hdr);
    memcpy(buf + 10 - h, hdr, h);
    if (fwrite(buf + 10 - h, 1, n + h, ww->ww_f) != n + h)
        ww->ww_err = CDR_EIO;
    return ww->ww_err;
}

int cdr_wire_writer_close(cdr_wire_writer *ww)
{
    if (!ww)
        return 0;
    int rc = ww->ww_err;
    if (fflush(ww->ww_f) != 0 || fsync(fileno(ww->ww_f)) != 0)
        rc = rc ? rc : CDR_EIO;
    if (fclose(ww->ww_f) != 0)
        rc = rc ? rc : CDR_EIO;
    free(ww);
    return rc;
}

struct cdr_wire_reader {
    FILE *wr_f;
    char wr_path[256];
    uint64_t wr_off;
};

int cdr_wire_reader_open(const char *path, cdr_wire_reader **out, cdr_diag *dg)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    uint8_t magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, wire_magic, 4) != 0) {
        fclose(f);
        return cdr_diag_set(dg, CDR_FORMAT, path, 0, 0, "not a cdrate wire file (bad header)");
    }
    if (memcmp(magic, wire_magic, 8) != 0) {
        fclose(f);
        return cdr_diag_set(dg, CDR_VERSION, path, 0, 0, "unsupported wire file version %u",
                            magic[4]);
    }
    cdr_wire_reader *wr = calloc(1, sizeof *wr);
    if (!wr) {
        fclose(f);
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    wr->wr_f = f;
    wr->wr_off = 8;
    snprintf(wr->wr_path, sizeof wr->wr_path, "%s", path);
    *out = wr;
    return 0;
}

int cdr_wire_reader_next(cdr_wire_reader *wr, cdr_record *cr, cdr_diag *dg)
{
    uint64_t n = 0;
    int c, shift = 0, got = 0;
    while ((c = fgetc(wr->wr_f)) != EOF) {
        got++;
        n |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
        shift += 7;
        if (shift > 14)
            return cdr_diag_set(dg, CDR_EIO, wr->wr_path, 0, 0,
                                "byte offset %" PRIu64 ": bad record length", wr->wr_off);
    }
    if (got == 0)
        return 0;
    if (c == EOF || n == 0 || n > CDR_WIRE_MAX)
        return cdr_diag_set(dg, CDR_EIO, wr->wr_path, 0, 0,
                            "byte offset %" PRIu64 ": bad record length", wr->wr_off);
    uint8_t buf[CDR_WIRE_MAX];
    if (fread(buf, 1, n, wr->wr_f) != n)
        return cdr_diag_set(dg, CDR_EIO, wr->wr_path, 0, 0,
                            "byte offset %" PRIu64 ": truncated record at end of file", wr->wr_off);
    uint64_t at = wr->wr_off;
    wr->wr_off += (uint64_t)got + n; /* framing intact: the next record can still be read */
    int rc = cdr_wire_decode(buf, n, cr, dg);
    if (rc) {
        char msg[sizeof dg->dg_msg];
        snprintf(msg, sizeof msg, "%s", dg ? dg->dg_msg : "");
        return cdr_diag_set(dg, rc, wr->wr_path, 0, 0, "byte offset %" PRIu64 ": %s", at, msg);
    }
    return 1;
}

void cdr_wire_reader_close(cdr_wire_reader *wr)
{
    if (!wr)
        return;
    fclose(wr->wr_f);
    free(wr);
}

/* ---- CSV ------------------------------------------------------------------------------------- */

const char cdr_csv_header[] = "source,origin_id,service,direction,msisdn,imsi,other,start,"
                              "duration,bytes_up,bytes_down,mcc,mnc,cell,cause,owner";

enum { CSV_NFIELDS = 16 };

static int csv_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    if (v > max)
        return -2;
    *out = v;
    return 0;
}

static int csv_str(char *dst, size_t max, const char *s, size_t n)
{
    if (n >= max)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int cdr_csv_parse(const char *line, size_t len, cdr_record *cr, cdr_diag *dg)
{
    static const char *const names[CSV_NFIELDS] = {
        "source",   "origin_id", "service",    "direction", "msisdn", "imsi", "other", "start",
        "duration", "bytes_up",  "bytes_down", "mcc",       "mnc",    "cell", "cause", "owner"};
    static const uint64_t max[CSV_NFIELDS] = {
        0,          0,          0,          0,   0,   0,          0,          0,
        UINT32_MAX, UINT64_MAX, UINT64_MAX, 999, 999, UINT32_MAX, UINT16_MAX, UINT64_MAX};
    if (len > 0 && line[len - 1] == '\r')
        len--;
    const char *f[CSV_NFIELDS];
    size_t fl[CSV_NFIELDS];
    size_t nf = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (nf == CSV_NFIELDS)
                return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, (int)start + 1,
                                    "too many fields (expected %d)", CSV_NFIELDS);
            f[nf] = line + start;
            fl[nf] = i - start;
            nf++;
            start = i + 1;
        } else if (line[i] == '"' || line[i] == '\0' || line[i] == '\n') {
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, (int)i + 1, "unexpected %s in CDR CSV",
                                line[i] == '"' ? "quote" : "control character");
        }
    }
    if (nf != CSV_NFIELDS)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, (int)len + 1, "%zu fields, expected %d", nf,
                            CSV_NFIELDS);
#define COL(i) ((int)(f[i] - line) + 1)
    memset(cr, 0, sizeof *cr);
    if (csv_str(cr->cr_source, CDR_SOURCE_MAX, f[0], fl[0]) || fl[0] == 0)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(0), "source empty or longer than %d",
                            CDR_SOURCE_MAX - 1);
    if (csv_str(cr->cr_origin_id, CDR_ORIGIN_MAX, f[1], fl[1]) || fl[1] == 0)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(1), "origin_id empty or longer than %d",
                            CDR_ORIGIN_MAX - 1);
    int svc = cdr_service_parse(f[2], fl[2]);
    if (svc < 0)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(2), "unknown service '%.*s'",
                            (int)(fl[2] > 16 ? 16 : fl[2]), f[2]);
    int dir = cdr_direction_parse(f[3], fl[3]);
    if (dir < 0)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(3), "unknown direction '%.*s'",
                            (int)(fl[3] > 16 ? 16 : fl[3]), f[3]);
    cr->cr_service = (uint8_t)svc;
    cr->cr_direction = (uint8_t)dir;
    if (fl[4] == 0 || fl[4] > 15 || csv_str(cr->cr_msisdn, CDR_NUMBER_MAX, f[4], fl[4]) ||
        !all_digits(cr->cr_msisdn))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(4), "msisdn must be 1-15 digits");
    if (csv_str(cr->cr_imsi, CDR_IMSI_MAX, f[5], fl[5]) || !all_digits(cr->cr_imsi))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(5), "imsi must be at most 15 digits");
    if (csv_str(cr->cr_other, CDR_NUMBER_MAX, f[6], fl[6]) || !all_digits(cr->cr_other))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(6),
                            "other party must be at most %d digits", CDR_NUMBER_MAX - 1);
    int rc = cdr_time_parse_iso(f[7], fl[7], &cr->cr_start, &cr->cr_utc_offset);
    if (rc)
        return cdr_diag_set(dg, rc, NULL, 0, COL(7),
                            rc == CDR_RANGE ? "start is not a real date and time"
                                            : "start is not YYYY-MM-DDTHH:MM:SS+HH:MM");
    uint64_t v[CSV_NFIELDS];
    for (int i = 8; i < CSV_NFIELDS; i++) {
        v[i] = 0;
        if (fl[i] == 0 && i >= 11) /* mcc, mnc, cell, cause, owner may be empty */
            continue;
        int e = csv_uint(f[i], fl[i], max[i], &v[i]);
        if (e == -1)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, COL(i), "%s is not a whole number",
                                names[i]);
        if (e == -2)
            return cdr_diag_set(dg, CDR_RANGE, NULL, 0, COL(i), "%s out of range (max %" PRIu64 ")",
                                names[i], max[i]);
    }
#undef COL
    cr->cr_duration = (uint32_t)v[8];
    cr->cr_bytes_up = v[9];
    cr->cr_bytes_down = v[10];
    cr->cr_mcc = (uint16_t)v[11];
    cr->cr_mnc = (uint16_t)v[12];
    cr->cr_cell = (uint32_t)v[13];
    cr->cr_cause = (uint16_t)v[14];
    cr->cr_owner = v[15];
    return 0;
}

int cdr_csv_format(const cdr_record *cr, char *buf, size_t bufsize)
{
    char ts[32];
    cdr_time_format(cr->cr_start, cr->cr_utc_offset, 0, ts, sizeof ts);
    int n = snprintf(buf, bufsize,
                     "%s,%s,%s,%s,%s,%s,%s,%s,%" PRIu32 ",%" PRIu64 ",%" PRIu64 ",%u,%u,%" PRIu32
                     ",%u,%" PRIu64 "\n",
                     cr->cr_source, cr->cr_origin_id, cdr_service_name(cr->cr_service),
                     cdr_direction_name(cr->cr_direction), cr->cr_msisdn, cr->cr_imsi, cr->cr_other,
                     ts, cr->cr_duration, cr->cr_bytes_up, cr->cr_bytes_down, cr->cr_mcc,
                     cr->cr_mnc, cr->cr_cell, cr->cr_cause, cr->cr_owner);
    if (n < 0 || (size_t)n >= bufsize)
        return -1;
    return n;
}

int cdr_utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x3F >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void cdr_json_write_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p++, f);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            int n = cdr_utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", f);
                p++;
            } else {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            }
        }
    }
    fputc('"', f);
}

void cdr_record_json(const cdr_record *cr, FILE *f)
{
    char ts[32];
    cdr_time_format(cr->cr_start, cr->cr_utc_offset, 0, ts, sizeof ts);
    fputs("{\"source\":", f);
    cdr_json_write_str(f, cr->cr_source);
    fputs(",\"origin_id\":", f);
    cdr_json_write_str(f, cr->cr_origin_id);
    fprintf(f, ",\"service\":\"%s\",\"direction\":\"%s\",\"msisdn\":",
            cdr_service_name(cr->cr_service), cdr_direction_name(cr->cr_direction));
    cdr_json_write_str(f, cr->cr_msisdn);
    fputs(",\"imsi\":", f);
    cdr_json_write_str(f, cr->cr_imsi);
    fputs(",\"other\":", f);
    cdr_json_write_str(f, cr->cr_other);
    fprintf(f,
            ",\"start\":\"%s\",\"duration\":%" PRIu32 ",\"bytes_up\":%" PRIu64
            ",\"bytes_down\":%" PRIu64 ",\"mcc\":%u,\"mnc\":%u,\"cell\":%" PRIu32
            ",\"cause\":%u,\"owner\":%" PRIu64 "}",
            ts, cr->cr_duration, cr->cr_bytes_up, cr->cr_bytes_down, cr->cr_mcc, cr->cr_mnc,
            cr->cr_cell, cr->cr_cause, cr->cr_owner);
}

/* ---- reading CDR files ------------------------------------------------------------------------
 */

struct cdr_reader {
    cdr_wire_reader *rd_wire;
    FILE *rd_f;
    char *rd_line;
    size_t rd_cap;
    uint64_t rd_lineno;
    char rd_path[256];
};

int cdr_reader_open(const char *path, cdr_reader **out, cdr_diag *dg)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    cdr_reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        fclose(f);
        return cdr_diag_set(dg, CDR_ENOMEM, path, 0, 0, "out of memory");
    }
    snprintf(rd->rd_path, sizeof rd->rd_path, "%s", path);
    if (got == 4 && memcmp(magic, "CDRW", 4) == 0) {
        fclose(f);
        int rc = cdr_wire_reader_open(path, &rd->rd_wire, dg);
        if (rc) {
            free(rd);
            return rc;
        }
    } else {
        rewind(f);
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        rd->rd_f = f;
    }
    *out = rd;
    return 0;
}

int cdr_reader_next(cdr_reader *rd, cdr_record *cr, cdr_diag *dg)
{
    if (rd->rd_wire) {
        int rc = cdr_wire_reader_next(rd->rd_wire, cr, dg);
        rd->rd_lineno = rd->rd_wire->wr_off;
        return rc;
    }
    for (;;) {
        ssize_t n = getline(&rd->rd_line, &rd->rd_cap, rd->rd_f);
        if (n < 0)
            return ferror(rd->rd_f)
                       ? cdr_diag_set(dg, CDR_EIO, rd->rd_path, (int)rd->rd_lineno, 0, "read error")
                       : 0;
        rd->rd_lineno++;
        size_t len = (size_t)n;
        if (len > 0 && rd->rd_line[len - 1] == '\n')
            len--;
        if (len > CDR_CSV_LINE_MAX)
            return cdr_diag_set(dg, CDR_FORMAT, rd->rd_path, (int)rd->rd_lineno, 1,
                                "line of %zu bytes is longer than %d", len, CDR_CSV_LINE_MAX);
        if (len == 0 || (len == 1 && rd->rd_line[0] == '\r'))
            continue; /* blank line */
        if (rd->rd_lineno == 1 && len >= sizeof cdr_csv_header - 1 &&
            memcmp(rd->rd_line, cdr_csv_header, sizeof cdr_csv_header - 1) == 0)
            continue;
        int rc = cdr_csv_parse(rd->rd_line, len, cr, dg);
        if (rc) {
            if (dg) {
                snprintf(dg->dg_file, sizeof dg->dg_file, "%s", rd->rd_path);
                dg->dg_line = (int)rd->rd_lineno;
            }
            return rc;
        }
        return 1;
    }
}

uint64_t cdr_reader_position(const cdr_reader *rd)
{
    return rd->rd_lineno;
}

uint64_t cdr_reader_bytes(const cdr_reader *rd)
{
    if (rd->rd_wire)
        return rd->rd_lineno; /* the wire reader's byte offset */
    off_t off = ftello(rd->rd_f);
    return off > 0 ? (uint64_t)off : 0;
}

void cdr_reader_close(cdr_reader *rd)
{
    if (!rd)
        return;
    cdr_wire_reader_close(rd->rd_wire);
    if (rd->rd_f)
        fclose(rd->rd_f);
    free(rd->rd_line);
    free(rd);
}
