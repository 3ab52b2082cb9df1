/* ber.c - bounds-checked BER TLV walker and 3GPP primitive types (see ber.h). */
#include <stdarg.h>
#include <stdio.h>

#include "ber.h"

/* return FAIL(at, ...): ber_fail with the result visible to the compiler (no false
 * maybe-uninitialized warnings in callers). */
#define FAIL(...) ((void)ber_fail(bc, __VA_ARGS__), CDR_FORMAT)

int ber_fail(const ber_ctx *bc, const uint8_t *at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cdr_diag_set(bc->bc_dg, CDR_FORMAT, bc->bc_name, 0, 0, "%s at byte %zu", msg, ber_off(bc, at));
    return CDR_FORMAT;
}

/* "[3]", "[APPLICATION 3]", "[UNIVERSAL 16]", "[PRIVATE 3]" for messages. */
static const char *tag_name(const ber_tlv *t, char *buf, size_t bufsize)
{
    static const char *const cls[] = {"UNIVERSAL ", "APPLICATION ", "", "PRIVATE "};
    snprintf(buf, bufsize, "[%s%u]", cls[t->bt_class & 3], (unsigned)t->bt_tag);
    return buf;
}

/* Identifier and length octets at p (within [p, end)). Fills the tag fields of t, bt_hdr and
 * bt_val; *len is the definite length (checked against end), *indef is set for 0x80. */
static int read_header(const ber_ctx *bc, const uint8_t *p, const uint8_t *end, ber_tlv *t,
                       size_t *len, int *indef)
{
    const uint8_t *q = p;
    *len = 0;
    *indef = 0;
    if (q >= end)
        return FAIL(p, "truncated element: identifier octet missing");
    uint8_t id = *q++;
    t->bt_hdr = p;
    t->bt_class = (uint8_t)(id >> 6);
    t->bt_cons = (uint8_t)((id >> 5) & 1);
    uint32_t tag = id & 0x1Fu;
    if (tag == 0x1F) { /* high tag number form: base-128 septets, bit 8 = more follow */
        tag = 0;
        for (int i = 0;; i++) {
            if (q >= end)
                return FAIL(p, "truncated tag number");
            uint8_t b = *q++;
            if (i == 0 && b == 0x80)
                return FAIL(p, "tag number with a leading zero septet");
            if (i == 4)
                return FAIL(p, "tag number longer than 4 octets");
            tag = tag << 7 | (b & 0x7Fu);
            if (!(b & 0x80))
                break;
        }
    }
    t->bt_tag = tag;
    if (q >= end)
        return FAIL(p, "truncated element: length octet missing");
    uint8_t l = *q++;
    *indef = 0;
    if (l < 0x80) {
        *len = l;
    } else if (l == 0x80) {
        if (!t->bt_cons)
            return FAIL(p, "indefinite length on a primitive element");
        *indef = 1;
        *len = 0;
    } else if (l == 0xFF) {
        return FAIL(q - 1, "reserved length octet 0xFF");
    } else {
        unsigned n = l & 0x7Fu;
        if (n > 4)
            return FAIL(q - 1, "length in %u octets is too long", n);
        if ((size_t)(end - q) < n)
            return FAIL(p, "truncated length octets");
        size_t v = 0;
        for (unsigned i = 0; i < n; i++)
            v = v << 8 | q[i];
        q += n;
        *len = v;
    }
    t->bt_val = q;
    if (!*indef && *len > (size_t)(end - q)) {
        char tn[40];
        return FAIL(p, "length %zu of %s runs past the end of its container (%zu octets left)",
                    *len, tag_name(t, tn, sizeof tn), (size_t)(end - q));
    }
    return 0;
}

static int is_eoc(const ber_tlv *t)
{
    return t->bt_class == BER_UNIVERSAL && !t->bt_cons && t->bt_tag == 0;
}

/* t has an indefinite length: walk its content (skipping definite elements whole, descending into
 * indefinite ones) up to the matching end-of-contents. */
static int scan_indefinite(const ber_ctx *bc, ber_tlv *t, const uint8_t *end, unsigned depth)
{
    const uint8_t *q = t->bt_val;
    unsigned level = 1; /* open indefinite elements, t included */
    for (;;) {
        if (q >= end)
            return FAIL(t->bt_hdr, "indefinite length without end-of-contents");
        ber_tlv c;
        size_t len;
        int indef;
        const uint8_t *start = q;
        int rc = read_header(bc, q, end, &c, &len, &indef);
        if (rc)
            return rc;
        if (is_eoc(&c)) {
            if (len != 0)
                return FAIL(start, "malformed end-of-contents");
            q = c.bt_val;
            if (--level == 0) {
                t->bt_len = (size_t)(start - t->bt_val);
                t->bt_next = q;
                return 0;
            }
            continue;
        }
        if (depth + level > BER_MAX_DEPTH)
            return FAIL(start, "nesting deeper than %d levels", BER_MAX_DEPTH);
        if (indef) {
            level++;
            q = c.bt_val;
        } else {
            q = c.bt_val + len;
        }
    }
}

int ber_read(const ber_ctx *bc, const uint8_t *p, const uint8_t *end, unsigned depth, ber_tlv *t)
{
    if (depth > BER_MAX_DEPTH)
        return FAIL(p, "nesting deeper than %d levels", BER_MAX_DEPTH);
    size_t len;
    int indef;
    int rc = read_header(bc, p, end, t, &len, &indef);
    if (rc)
        return rc;
    if (is_eoc(t))
        return FAIL(p, "unexpected end-of-contents");
    t->bt_depth = (uint8_t)depth;
    t->bt_indef = (uint8_t)indef;
    if (!indef) {
        t->bt_len = len;
        t->bt_next = t->bt_val + len;
        return 0;
    }
    return scan_indefinite(bc, t, end, depth);
}

int ber_iter_init(const ber_ctx *bc, const ber_tlv *t, ber_iter *it)
{
    if (!t->bt_cons) {
        char tn[40];
        return FAIL(t->bt_hdr, "%s must be constructed", tag_name(t, tn, sizeof tn));
    }
    if (t->bt_depth + 1u > BER_MAX_DEPTH)
        return FAIL(t->bt_val, "nesting deeper than %d levels", BER_MAX_DEPTH);
    it->bi_p = t->bt_val;
    it->bi_end = t->bt_val + t->bt_len;
    it->bi_depth = (uint8_t)(t->bt_depth + 1u);
    return 0;
}

int ber_iter_next(const ber_ctx *bc, ber_iter *it, ber_tlv *t)
{
    if (it->bi_p >= it->bi_end)
        return 0;
    int rc = ber_read(bc, it->bi_p, it->bi_end, it->bi_depth, t);
    if (rc)
        return rc;
    it->bi_p = t->bt_next;
    return 1;
}

int ber_get_uint(const ber_ctx *bc, const ber_tlv *t, uint64_t max, uint64_t *v, const char *what)
{
    if (t->bt_cons)
        return FAIL(t->bt_hdr, "%s is not a primitive INTEGER", what);
    const uint8_t *p = t->bt_val;
    size_t n = t->bt_len;
    if (n == 0)
        return FAIL(t->bt_hdr, "empty INTEGER %s", what);
    if (p[0] & 0x80)
        return FAIL(p, "negative %s", what);
    while (n > 1 && p[0] == 0) { /* redundant leading zeros: tolerated */
        p++;
        n--;
    }
    if (n > 8)
        return FAIL(t->bt_val, "%s does not fit 64 bits", what);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | p[i];
    if (x > max)
        return FAIL(t->bt_val, "%s %llu out of range (at most %llu)", what, (unsigned long long)x,
                    (unsigned long long)max);
    *v = x;
    return 0;
}

int ber_get_octets(const ber_ctx *bc, const ber_tlv *t, size_t n, const char *what)
{
    if (t->bt_cons)
        return FAIL(t->bt_hdr, "%s is not a primitive OCTET STRING", what);
    if (n && t->bt_len != n)
        return FAIL(t->bt_hdr, "%s has %zu octets, not %zu", what, t->bt_len, n);
    return 0;
}

int ber_tbcd(const ber_ctx *bc, const uint8_t *p, size_t n, char *out, size_t outsize,
             const char *what)
{
    size_t nd = 0;
    if (n == 0) {
        if (outsize)
            out[0] = '\0';
        return 0;
    }
    if (2 * n + 1 > outsize) { /* may still fit when the last nibble is a filler */
        if (2 * n > outsize || (p[n - 1] >> 4) != 0xF)
            return FAIL(p, "%s longer than %zu digits", what, outsize - 1);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned lo = p[i] & 0xFu, hi = p[i] >> 4;
        if (lo > 9)
            return FAIL(p + i, "bad TBCD digit 0x%X in %s", lo, what);
        out[nd++] = (char)('0' + lo);
        if (hi == 0xF) {
            if (i + 1 != n)
                return FAIL(p + i, "TBCD filler 0xF before the end of %s", what);
            break;
        }
        if (hi > 9)
            return FAIL(p + i, "bad TBCD digit 0x%X in %s", hi, what);
        out[nd++] = (char)('0' + hi);
    }
    out[nd] = '\0';
    return (int)nd;
}

int ber_get_address(const ber_ctx *bc, const ber_tlv *t, unsigned *ton, char *out, size_t outsize,
                    const char *what)
{
    if (t->bt_cons)
        return FAIL(t->bt_hdr, "%s is not a primitive OCTET STRING", what);
    if (t->bt_len == 0)
        return FAIL(t->bt_hdr, "empty %s", what);
    const uint8_t *p = t->bt_val;
    size_t skip = (p[0] & 0x80) ? 1 : 2; /* extension bit 0: octet 3a follows */
    if (t->bt_len < skip)
        return FAIL(p, "%s ends after its type-of-number octet", what);
    *ton = (p[0] >> 4) & 7u;
    if (t->bt_len == skip) {
        out[0] = '\0';
        return 0;
    }
    return ber_tbcd(bc, p + skip, t->bt_len - skip, out, outsize, what);
}

/* Two BCD digits, the first in the high nibble; -1 when either is not a digit. */
static int bcd2(uint8_t b)
{
    unsigned hi = b >> 4, lo = b & 0xFu;
    return (hi > 9 || lo > 9) ? -1 : (int)(hi * 10 + lo);
}

int ber_get_timestamp(const ber_ctx *bc, const ber_tlv *t, cdr_time *utc, int32_t *offset,
                      const char *what)
{
    if (t->bt_cons || t->bt_len != 9)
        return FAIL(t->bt_hdr, "%s is not a 9-octet TimeStamp", what);
    const uint8_t *v = t->bt_val;
    int d[8];
    for (int i = 0; i < 9; i++) {
        if (i == 6)
            continue;
        int x = bcd2(v[i]);
        if (x < 0)
            return FAIL(v + i, "bad BCD digit in %s (octet 0x%02X)", what, v[i]);
        d[i < 6 ? i : i - 1] = x;
    }
    if (v[6] != '+' && v[6] != '-')
        return FAIL(v + 6, "bad UTC offset sign 0x%02X in %s", v[6], what);
    int64_t y = 2000 + d[0];
    if (!cdr_date_valid(y, (unsigned)d[1], (unsigned)d[2]))
        return FAIL(v, "no such date %04d-%02d-%02d in %s", (int)y, d[1], d[2], what);
    if (d[3] > 23 || d[4] > 59 || d[5] > 59)
        return FAIL(v + 3, "no such time %02d:%02d:%02d in %s", d[3], d[4], d[5], what);
    if (d[7] > 59 || d[6] * 60 + d[7] > 14 * 60)
        return FAIL(v + 7, "UTC offset %c%02d%02d out of range in %s", v[6], d[6], d[7], what);
    int32_t off = (d[6] * 3600 + d[7] * 60) * (v[6] == '-' ? -1 : 1);
    cdr_time local = cdr_days_from_civil(y, (unsigned)d[1], (unsigned)d[2]) * 86400 + d[3] * 3600 +
                     d[4] * 60 + d[5];
    *utc = local - off;
    *offset = off;
    return 0;
}

int ber_plmn(const ber_ctx *bc, const uint8_t *p, uint16_t *mcc, uint16_t *mnc, const char *what)
{
    unsigned m1 = p[0] & 0xFu, m2 = p[0] >> 4, m3 = p[1] & 0xFu;
    unsigned n3 = p[1] >> 4, n1 = p[2] & 0xFu, n2 = p[2] >> 4;
    if (m1 > 9 || m2 > 9 || m3 > 9)
        return FAIL(p, "bad MCC digit in %s", what);
    if (n1 > 9 || n2 > 9 || (n3 > 9 && n3 != 0xF))
        return FAIL(p + 1, "bad MNC digit in %s", what);
    *mcc = (uint16_t)(m1 * 100 + m2 * 10 + m3);
    *mnc = (uint16_t)(n3 == 0xF ? n1 * 10 + n2 : n1 * 100 + n2 * 10 + n3);
    return 0;
}
