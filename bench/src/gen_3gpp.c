/* gen_3gpp.c - synthetic 3GPP TS 32.297 files with TS 32.298 BER records (cdr_gen_3gpp.h).
 *
 * A small BER encoder: each record is built in a stack buffer; a constructed element's definite
 * length is written when it closes (its content moved up by the length octets' size), or it gets
 * 0x80 and an end-of-contents with CDR_GEN_3GPP_INDEFINITE. Tags follow TS 32.298 (the table is
 * in docs/collectors.md).
 */
#include <string.h>

#include "cdr_gen_3gpp.h"

/* ---- BER writer ------------------------------------------------------------------------------ */

#define BW_CAP   4096
#define BW_DEPTH 8

enum { CTX = 0x80, CONS = 0x20 };

typedef struct ber_writer {
    uint8_t bw_buf[BW_CAP];
    size_t bw_len;
    size_t bw_open[BW_DEPTH]; /* where each open element's content starts */
    int bw_depth;
    int bw_indef;
    int bw_err;
} ber_writer;

static void bw_bytes(ber_writer *bw, const void *p, size_t n)
{
    if (bw->bw_err || BW_CAP - bw->bw_len < n) {
        bw->bw_err = 1;
        return;
    }
    memcpy(bw->bw_buf + bw->bw_len, p, n);
    bw->bw_len += n;
}

static void bw_byte(ber_writer *bw, uint8_t b)
{
    bw_bytes(bw, &b, 1);
}

/* Identifier octets: class and constructed bits in id, tag number (any size). */
static void bw_tag(ber_writer *bw, uint8_t id, uint32_t tag)
{
    if (tag < 31) {
        bw_byte(bw, (uint8_t)(id | tag));
        return;
    }
    uint8_t t[6];
    int n = 0;
    do {
        t[n++] = (uint8_t)(tag & 0x7F);
        tag >>= 7;
    } while (tag);
    bw_byte(bw, (uint8_t)(id | 0x1F));
    while (n > 1)
        bw_byte(bw, (uint8_t)(t[--n] | 0x80));
    bw_byte(bw, t[0]);
}

/* Length octets for len into l (9 octets); returns their count. */
static size_t len_octets(size_t len, uint8_t *l)
{
    if (len < 0x80) {
        l[0] = (uint8_t)len;
        return 1;
    }
    uint8_t tmp[8];
    size_t n = 0;
    while (len && n < sizeof tmp) {
        tmp[n++] = (uint8_t)len;
        len >>= 8;
    }
    l[0] = (uint8_t)(0x80 | n);
    for (size_t i = 0; i < n; i++)
        l[1 + i] = tmp[n - 1 - i];
    return n + 1;
}

static void bw_prim(ber_writer *bw, uint32_t tag, const void *v, size_t n)
{
    uint8_t l[9];
    bw_tag(bw, CTX, tag);
    bw_bytes(bw, l, len_octets(n, l));
    bw_bytes(bw, v, n);
}

/* Minimal two's complement of a non-negative value. */
static void bw_uint_id(ber_writer *bw, uint8_t id, uint32_t tag, uint64_t v)
{
    uint8_t b[9];
    int n = 0;
    do {
        b[8 - n++] = (uint8_t)(v & 0xFF);
        v >>= 8;
    } while (v);
    if (b[9 - n] & 0x80)
        b[8 - n++] = 0;
    uint8_t l[9];
    bw_tag(bw, id, tag);
    bw_bytes(bw, l, len_octets((size_t)n, l));
    bw_bytes(bw, b + 9 - n, (size_t)n);
}

static void bw_uint(ber_writer *bw, uint32_t tag, uint64_t v)
{
    bw_uint_id(bw, CTX, tag, v);
}

static void bw_open_id(ber_writer *bw, uint8_t id, uint32_t tag)
{
    if (bw->bw_depth == BW_DEPTH) {
        bw->bw_err = 1;
        return;
    }
    bw_tag(bw, (uint8_t)(id | CONS), tag);
    if (bw->bw_indef)
        bw_byte(bw, 0x80);
    bw->bw_open[bw->bw_depth++] = bw->bw_len;
}

static void bw_open(ber_writer *bw, uint32_t tag)
{
    bw_open_id(bw, CTX, tag);
}

static void bw_close(ber_writer *bw)
{
    if (bw->bw_err || bw->bw_depth == 0) {
        bw->bw_err = 1;
        return;
    }
    size_t start = bw->bw_open[--bw->bw_depth];
    if (bw->bw_indef) {
        bw_bytes(bw, "\0\0", 2);
        return;
    }
    uint8_t l[9];
    size_t ln = len_octets(bw->bw_len - start, l);
    if (BW_CAP - bw->bw_len < ln) {
        bw->bw_err = 1;
        return;
    }
    memmove(bw->bw_buf + start + ln, bw->bw_buf + start, bw->bw_len - start);
    memcpy(bw->bw_buf + start, l, ln);
    bw->bw_len += ln;
}

/* ---- 3GPP types ------------------------------------------------------------------------------ */

static int all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* TBCD of a digit string (0xF filler); returns the octet count or 0 when not digits/too long. */
static size_t tbcd(const char *s, uint8_t *out, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || !all_digits(s) || (n + 1) / 2 > max)
        return 0;
    for (size_t i = 0; i < n; i += 2) {
        uint8_t lo = (uint8_t)(s[i] - '0');
        uint8_t hi = i + 1 < n ? (uint8_t)(s[i + 1] - '0') : 0xF;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (n + 1) / 2;
}

/* An international ISDN number (AddressString / BCD number: 0x91 then TBCD). */
static int put_number(ber_writer *bw, uint32_t tag, const char *digits)
{
    uint8_t v[21];
    v[0] = 0x91;
    size_t n = tbcd(digits, v + 1, 20);
    if (!n)
        return -1;
    bw_prim(bw, tag, v, n + 1);
    return 0;
}

static uint8_t bcd(unsigned v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* TimeStamp: local time of t at offset off, YYMMDDhhmmss S hhmm. */
static int put_time(ber_writer *bw, uint32_t tag, cdr_time t, int32_t off)
{
    if (off % 60 || off > 14 * 3600 || off < -14 * 3600)
        return -1;
    cdr_time local = t + off;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t sod = local - days * 86400;
    int64_t y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    if (y < 2000 || y > 2099)
        return -1;
    unsigned ao = (unsigned)(off < 0 ? -off : off) / 60;
    uint8_t v[9] = {bcd((unsigned)(y - 2000)),
                    bcd(m),
                    bcd(d),
                    bcd((unsigned)(sod / 3600)),
                    bcd((unsigned)(sod / 60 % 60)),
                    bcd((unsigned)(sod % 60)),
                    (uint8_t)(off < 0 ? '-' : '+'),
                    bcd(ao / 60),
                    bcd(ao % 60)};
    bw_prim(bw, tag, v, 9);
    return 0;
}

/* PLMN-Id: MCC digit 2|1, MNC digit 3|MCC digit 3, MNC digit 2|1 (2-digit MNC below 100). */
static void plmn(uint16_t mcc, uint16_t mnc, uint8_t *p)
{
    unsigned m1 = mcc / 100, m2 = mcc / 10 % 10, m3 = mcc % 10;
    unsigned n1, n2, n3;
    if (mnc < 100) {
        n1 = mnc / 10;
        n2 = mnc % 10;
        n3 = 0xF;
    } else {
        n1 = mnc / 100;
        n2 = mnc / 10 % 10;
        n3 = mnc % 10;
    }
    p[0] = (uint8_t)(m2 << 4 | m1);
    p[1] = (uint8_t)(n3 << 4 | m3);
    p[2] = (uint8_t)(n2 << 4 | n1);
}

/* The record's numeric identity: cr_origin_id as a number when it is one, else its FNV-1a. */
static uint64_t origin_number(const char *id)
{
    uint64_t v = 0;
    size_t n = strlen(id);
    int numeric = n > 0 && n <= 19 && all_digits(id);
    if (numeric) {
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (uint64_t)(id[i] - '0');
        return v;
    }
    v = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        v = (v ^ (uint8_t)id[i]) * 1099511628211ULL;
    return v;
}

/* ---- records --------------------------------------------------------------------------------- */

/* MSC address written as recordingEntity. */
static const char msc_address[] = "8613900000000";

/* MOCallRecord [0] / MTCallRecord [1] (TS 32.250 via TS 32.298). */
static int put_call(ber_writer *bw, const cdr_record *cr)
{
    const int mo = cr->cr_direction == CDR_DIR_MO;
    /* tags: MO | MT */
    const uint32_t t_other = mo ? 5 : 4, t_entity = mo ? 9 : 6, t_loc = mo ? 12 : 9;
    const uint32_t t_seize = mo ? 22 : 19, t_answer = mo ? 23 : 20, t_release = mo ? 24 : 21;
    const uint32_t t_dur = mo ? 25 : 22, t_cause = mo ? 30 : 27, t_ref = mo ? 32 : 29;
    const int answered = cr->cr_duration > 0;
    bw_open(bw, mo ? 0 : 1);
    bw_uint(bw, 0, mo ? 0 : 1);
    uint8_t v[16];
    size_t n;
    if (cr->cr_imsi[0]) {
        if (!(n = tbcd(cr->cr_imsi, v, 8)))
            return -1;
        bw_prim(bw, 1, v, n);
    }
    if (put_number(bw, 3, cr->cr_msisdn))
        return -1;
    if (cr->cr_other[0] && put_number(bw, t_other, cr->cr_other))
        return -1;
    put_number(bw, t_entity, msc_address);
    bw_open(bw, t_loc);
    uint8_t lac[2] = {(uint8_t)(cr->cr_cell >> 24), (uint8_t)(cr->cr_cell >> 16)};
    uint8_t ci[2] = {(uint8_t)(cr->cr_cell >> 8), (uint8_t)cr->cr_cell};
    bw_prim(bw, 0, lac, 2);
    bw_prim(bw, 1, ci, 2);
    if (cr->cr_mcc) {
        plmn(cr->cr_mcc, cr->cr_mnc, v);
        bw_prim(bw, 2, v, 3);
    }
    bw_close(bw);
    if (put_time(bw, t_seize, cr->cr_start - (answered ? 4 : 0), cr->cr_utc_offset))
        return -1;
    if (answered && put_time(bw, t_answer, cr->cr_start, cr->cr_utc_offset))
        return -1;
    if (put_time(bw, t_release, cr->cr_start + cr->cr_duration, cr->cr_utc_offset))
        return -1;
    bw_uint(bw, t_dur, cr->cr_duration);
    bw_uint(bw, t_cause, cr->cr_cause);
    uint64_t ref = origin_number(cr->cr_origin_id);
    n = 0;
    do {
        v[7 - n++] = (uint8_t)ref;
        ref >>= 8;
    } while (ref);
    bw_prim(bw, t_ref, v + 8 - n, n);
    bw_close(bw);
    return 0;
}

/* The volumes split over k containers: listOfTrafficVolumes [12] of ChangeOfCharCondition (SGW)
 * or listOfServiceData [34] of ChangeOfServiceCondition (PGW), each a SEQUENCE. */
static int put_containers(ber_writer *bw, const cdr_record *cr, unsigned k, int sgw)
{
    const cdr_time end = cr->cr_start + cr->cr_duration;
    bw_open(bw, sgw ? 12 : 34);
    for (unsigned i = 0; i < k; i++) {
        uint64_t up = cr->cr_bytes_up / k, down = cr->cr_bytes_down / k;
        if (i + 1 == k) {
            up += cr->cr_bytes_up % k;
            down += cr->cr_bytes_down % k;
        }
        bw_open_id(bw, 0, 16);
        if (sgw) {
            bw_uint(bw, 3, up);                          /* dataVolumeGPRSUplink */
            bw_uint(bw, 4, down);                        /* dataVolumeGPRSDownlink */
            bw_uint(bw, 5, 2);                           /* changeCondition: recordClosure */
            if (put_time(bw, 6, end, cr->cr_utc_offset)) /* changeTime */
                return -1;
        } else {
            bw_uint(bw, 1, 100 + i);                      /* ratingGroup */
            bw_prim(bw, 8, "\x00\x00\x00\x00\x80", 5);    /* serviceConditionChange */
            bw_uint(bw, 12, up);                          /* datavolumeFBCUplink */
            bw_uint(bw, 13, down);                        /* datavolumeFBCDownlink */
            if (put_time(bw, 14, end, cr->cr_utc_offset)) /* timeOfReport */
                return -1;
        }
        bw_close(bw);
    }
    bw_close(bw);
    return 0;
}

/* PGWRecord [79] / SGWRecord [78] (TS 32.251 via TS 32.298). */
static int put_data(ber_writer *bw, const cdr_record *cr, int sgw)
{
    static const uint8_t gw_ip[4] = {10, 0, 0, 2}, sn_ip[4] = {10, 0, 0, 3};
    const uint64_t id = origin_number(cr->cr_origin_id);
    const uint32_t id32 = (uint32_t)(id ^ id >> 32);
    uint8_t v[16];
    size_t n;
    bw_open(bw, sgw ? 78 : 79);
    bw_uint(bw, 0, sgw ? 84 : 85);
    if (cr->cr_imsi[0]) {
        if (!(n = tbcd(cr->cr_imsi, v, 8)))
            return -1;
        bw_prim(bw, 3, v, n);
    }
    bw_open(bw, 4); /* p-GWAddress / s-GWAddress: IPAddress CHOICE, iPBinV4Address [0] */
    bw_prim(bw, 0, gw_ip, 4);
    bw_close(bw);
    bw_uint(bw, 5, id32); /* chargingID */
    bw_open(bw, 6);       /* servingNodeAddress: SEQUENCE OF GSNAddress */
    bw_prim(bw, 0, sn_ip, 4);
    bw_close(bw);
    bw_prim(bw, 7, "internet", 8); /* accessPointNameNI */
    const unsigned k = 1 + (unsigned)(id % 3);
    if (sgw && put_containers(bw, cr, k, 1))
        return -1;
    if (put_time(bw, 13, cr->cr_start, cr->cr_utc_offset)) /* recordOpeningTime */
        return -1;
    bw_uint(bw, 14, cr->cr_duration);
    bw_uint(bw, 15, cr->cr_cause);               /* causeForRecClosing */
    bw_prim(bw, 18, sgw ? "SGW01" : "PGW01", 5); /* nodeID */
    bw_uint(bw, 20, id32);                       /* localSequenceNumber */
    if (put_number(bw, 22, cr->cr_msisdn))       /* servedMSISDN */
        return -1;
    bw_prim(bw, 23, "\x08\x00", 2); /* chargingCharacteristics */
    if (cr->cr_mcc) {
        plmn(cr->cr_mcc, cr->cr_mnc, v);
        bw_prim(bw, 27, v, 3); /* servingNodePLMNIdentifier */
    }
    bw_uint(bw, 30, 6); /* rATType: EUTRAN */
    if (cr->cr_cell) {  /* userLocationInformation: TAI + ECGI, or a CGI for a 32-bit cell */
        uint8_t u[16];
        plmn(cr->cr_mcc ? cr->cr_mcc : 460, cr->cr_mcc ? cr->cr_mnc : 0, u + 1);
        if (cr->cr_cell < (1u << 28)) {
            u[0] = 0x18;
            u[4] = 0x12;
            u[5] = 0x34; /* TAC */
            memcpy(u + 6, u + 1, 3);
            u[9] = (uint8_t)(cr->cr_cell >> 24);
            u[10] = (uint8_t)(cr->cr_cell >> 16);
            u[11] = (uint8_t)(cr->cr_cell >> 8);
            u[12] = (uint8_t)cr->cr_cell;
            bw_prim(bw, 32, u, 13);
        } else {
            u[0] = 0x01;
            u[4] = (uint8_t)(cr->cr_cell >> 24);
            u[5] = (uint8_t)(cr->cr_cell >> 16);
            u[6] = (uint8_t)(cr->cr_cell >> 8);
            u[7] = (uint8_t)cr->cr_cell;
            bw_prim(bw, 32, u, 8);
        }
    }
    if (!sgw && put_containers(bw, cr, k, 0))
        return -1;
    bw_open(bw, 35);          /* servingNodeType: SEQUENCE OF ENUMERATED */
    bw_uint_id(bw, 0, 10, 2); /* gTPSGW */
    bw_close(bw);
    bw_close(bw);
    return 0;
}

/* ---- the file -------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* File header timestamp (TS 32.297): month 4 bits, day 5, hour 5, minute 6, sign 1 (1 = plus),
 * offset hours 5, offset minutes 6; written in UTC. */
static void file_time(cdr_time t, uint8_t *p)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), sod = t - days * 86400, y;
    unsigned m, d;
    cdr_civil_from_days(days, &y, &m, &d);
    uint32_t v = (uint32_t)m << 28 | (uint32_t)d << 23 | (uint32_t)(sod / 3600) << 18 |
                 (uint32_t)(sod / 60 % 60) << 12 | 1u << 11;
    put32(p, v);
}

#define FILE_HDR_LEN 54

int cdr_gen_format_3gpp_ex(const cdr_record *recs, size_t n, cdr_buf *out, unsigned flags)
{
    const size_t base = out->b_len;
    uint8_t h[FILE_HDR_LEN];
    memset(h, 0, sizeof h);
    int rc = cdr_buf_put(out, h, sizeof h); /* filled in at the end */
    if (rc)
        return rc;
    ber_writer bws, *bw = &bws;
    uint32_t count = 0;
    cdr_time first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        const cdr_record *cr = &recs[i];
        bw->bw_len = 0;
        bw->bw_depth = 0;
        bw->bw_err = 0;
        bw->bw_indef = (flags & CDR_GEN_3GPP_INDEFINITE) != 0;
        int bad = cr->cr_direction >= CDR_DIR_COUNT, ts = 6;
        if (!bad && cr->cr_service == CDR_SVC_VOICE) {
            bad = put_call(bw, cr);
        } else if (!bad && cr->cr_service == CDR_SVC_DATA) {
            bad = put_data(bw, cr, (flags & CDR_GEN_3GPP_SGW) != 0);
            ts = 7;
        } else {
            bad = 1;
        }
        if (bad || bw->bw_err || bw->bw_depth || bw->bw_len > 65535 ||
            (cr->cr_mcc > 999 || cr->cr_mnc > 999)) {
            if (flags & CDR_GEN_3GPP_SKIP)
                continue;
            out->b_len = base;
            return CDR_EINVAL;
        }
        /* CDR header: length, release 7 (Rel-10+) version 0, BER + TS number, extension 5. */
        uint8_t ch[5] = {(uint8_t)(bw->bw_len >> 8), (uint8_t)bw->bw_len, 7u << 5,
                         (uint8_t)(1u << 5 | (unsigned)ts), 5};
        if ((rc = cdr_buf_put(out, ch, sizeof ch)) != 0 ||
            (rc = cdr_buf_put(out, bw->bw_buf, bw->bw_len)) != 0) {
            out->b_len = base;
            return rc;
        }
        if (count++ == 0)
            first = cr->cr_start;
        last = cr->cr_start;
    }
    const size_t flen = out->b_len - base;
    if (flen > UINT32_MAX) {
        out->b_len = base;
        return CDR_EINVAL;
    }
    put32(h, (uint32_t)flen);
    put32(h + 4, FILE_HDR_LEN);
    h[8] = 7u << 5; /* high release: Rel-10+ (extension 6: Rel-16), version 0 */
    h[9] = 7u << 5; /* low release: Rel-10+ (extension 5: Rel-15), version 0 */
    file_time(first, h + 10);
    file_time(last, h + 14);
    put32(h + 18, count);
    put32(h + 22, 1); /* file sequence number */
    h[26] = 0;        /* closure reason: normal */
    memset(h + 27, 0xFF, 16);
    h[43] = 10, h[44] = 0, h[45] = 0, h[46] = 1; /* node IPv4 10.0.0.1 after 16 octets 0xFF */
    h[47] = 0;                                   /* no CDR lost */
    /* 48-49: routing filter length 0; 50-51: private extension length 0 */
    h[52] = 6; /* high release extension: Rel-16 */
    h[53] = 5; /* low release extension: Rel-15 */
    memcpy(out->b_data + base, h, sizeof h);
    return 0;
}

int cdr_gen_format_3gpp(const cdr_record *recs, size_t n, cdr_buf *out)
{
    return cdr_gen_format_3gpp_ex(recs, n, out, 0);
}
