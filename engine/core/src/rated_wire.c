/* rated_wire.c - rated records on the wire: version 4 (with flags and the charge class) is
 * written, versions 1 to 4 are read (docs/rated-format.md, "Wire format"). A rated record without
 * a class (read from version 1-3 and re-encoded, by the archiver for example) is written as
 * before, version 2 or 3, so that its class stays "derive from the plan".
 *
 * Same conventions as the CDR wire format (engine/src/record.c): unsigned LEB128 varints, zigzag
 * for signed values, strings as one length byte then the bytes. The helpers are static there, so
 * the few lines are repeated here rather than exported from the engine's public header.
 */
#include <string.h>

#include "cdr_bytes.h"
#include "cdr_rate.h"

/* 1 when cur is an ISO 4217 code: three capital letters then NUL. */
static int currency_ok(const char *cur)
{
    for (int i = 0; i < 3; i++)
        if (cur[i] < 'A' || cur[i] > 'Z')
            return 0;
    return cur[3] == '\0';
}

size_t cdr_rated_wire_encode(const cdr_record *cr, const cdr_rated *rr, const char *plan_id,
                             uint8_t *buf)
{
    uint8_t *p = buf;
    /* Every version that is written carries the flags when there are any: version 2 is chosen
     * only for a record without flags, so a flag (CDR_RATED_FLAG_LATE above all: the record is
     * billed in another cycle than its own) is never dropped. */
    const unsigned version = rr->rr_reason == CDR_REASON_NONE && rr->rr_class == CDR_CLASS_NONE
                                 ? (rr->rr_flags ? 3 : 2)
                                 : CDR_RATED_WIRE_VERSION;
    *p++ = (uint8_t)version;
    uint8_t cdr[CDR_WIRE_MAX];
    size_t n = cdr_wire_encode(cr, cdr);
    p = cdr_put_varint(p, n);
    memcpy(p, cdr, n);
    p += n;
    *p++ = rr->rr_reason;
    *p++ = rr->rr_service;
    p = cdr_put_varint(p, cdr_zigzag(rr->rr_zone));
    p = cdr_put_varint(p, cdr_zigzag(rr->rr_bundle));
    p = cdr_put_varint(p, rr->rr_plan_version);
    p = cdr_put_varint(p, rr->rr_cycle);
    p = cdr_put_varint(p, cdr_zigzag(rr->rr_charge));
    p = cdr_put_varint(p, rr->rr_units);
    p = cdr_put_varint(p, rr->rr_bundle_units);
    p = cdr_put_varint(p, rr->rr_overflow_units);
    p = cdr_put_varint(p, rr->rr_free_units);
    unsigned nparts = rr->rr_nparts <= CDR_RATED_MAX_PARTS ? rr->rr_nparts : CDR_RATED_MAX_PARTS;
    *p++ = (uint8_t)nparts;
    for (unsigned i = 0; i < nparts; i++) {
        *p++ = rr->rr_parts[i].rp_band;
        p = cdr_put_varint(p, rr->rr_parts[i].rp_units);
        p = cdr_put_varint(p, cdr_zigzag(rr->rr_parts[i].rp_charge));
    }
    size_t pn = plan_id ? strnlen(plan_id, CDR_NAME_MAX - 1) : 0;
    *p++ = (uint8_t)pn;
    if (pn)
        memcpy(p, plan_id, pn);
    p += pn;
    const size_t cn = currency_ok(rr->rr_currency) ? 3 : 0;
    *p++ = (uint8_t)cn;
    memcpy(p, rr->rr_currency, cn);
    p += cn;
    if (version == 3 || version == 4)
        *p++ = rr->rr_flags;
    if (version == 4)
        *p++ = rr->rr_class;
    return (size_t)(p - buf);
}

/* A read cursor; positions in messages are 1-based byte positions within the record. */
typedef struct rw_cur {
    const uint8_t *rc_p;
    const uint8_t *rc_end;
    const uint8_t *rc_start;
    cdr_diag *rc_dg;
} rw_cur;

static int rw_pos(const rw_cur *rc)
{
    return (int)(rc->rc_p - rc->rc_start) + 1;
}

static int rw_truncated(rw_cur *rc, const char *field)
{
    return cdr_diag_set(rc->rc_dg, CDR_FORMAT, NULL, 0, rw_pos(rc),
                        "truncated rated record in field %s", field);
}

static int rw_byte(rw_cur *rc, unsigned max, uint8_t *out, const char *field)
{
    if (rc->rc_p >= rc->rc_end)
        return rw_truncated(rc, field);
    if (*rc->rc_p > max)
        return cdr_diag_set(rc->rc_dg, CDR_FORMAT, NULL, 0, rw_pos(rc),
                            "field %s out of range (%u)", field, *rc->rc_p);
    *out = *rc->rc_p++;
    return 0;
}

static int rw_varint(rw_cur *rc, uint64_t *out, const char *field)
{
    int e = cdr_get_varint(&rc->rc_p, rc->rc_end, out);
    if (e == -1) {
        rc->rc_p = rc->rc_end;
        return rw_truncated(rc, field);
    }
    if (e)
        return cdr_diag_set(rc->rc_dg, CDR_FORMAT, NULL, 0, rw_pos(rc),
                            "over-long varint in field %s", field);
    return 0;
}

static int rw_range(rw_cur *rc, const char *field)
{
    return cdr_diag_set(rc->rc_dg, CDR_FORMAT, NULL, 0, rw_pos(rc) - 1, "field %s out of range",
                        field);
}

static int rw_uint(rw_cur *rc, uint64_t max, uint64_t *out, const char *field)
{
    int rc_ = rw_varint(rc, out, field);
    if (rc_)
        return rc_;
    return *out > max ? rw_range(rc, field) : 0;
}

static int rw_sint(rw_cur *rc, int64_t min, int64_t max, int64_t *out, const char *field)
{
    uint64_t u = 0;
    int rc_ = rw_varint(rc, &u, field);
    if (rc_)
        return rc_;
    *out = cdr_unzigzag(u);
    return (*out < min || *out > max) ? rw_range(rc, field) : 0;
}

static int cycle_ok(uint64_t cycle)
{
    if (cycle == 0)
        return 1;
    uint64_t year = cycle / 100, month = cycle % 100;
    return year >= 1970 && year <= 9999 && month >= 1 && month <= 12;
}

int cdr_rated_wire_decode(const uint8_t *buf, size_t len, cdr_record *cr, cdr_rated *rr,
                          char *plan_id, cdr_diag *dg)
{
    memset(cr, 0, sizeof *cr);
    memset(rr, 0, sizeof *rr);
    plan_id[0] = '\0';
    if (len < 1)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 1, "empty rated record");
    const unsigned version = buf[0];
    if (version < 1 || version > 4)
        return cdr_diag_set(dg, CDR_VERSION, NULL, 0, 1, "unknown rated wire format version %u",
                            version);
    rw_cur rc = {buf + 1, buf + len, buf, dg};
    uint64_t u[8] = {0};
    int64_t s[3] = {0};
    int err;
    if ((err = rw_uint(&rc, CDR_WIRE_MAX, &u[0], "cdr_length")))
        return err;
    if (u[0] == 0)
        return rw_range(&rc, "cdr_length");
    if ((uint64_t)(rc.rc_end - rc.rc_p) < u[0])
        return rw_truncated(&rc, "cdr");
    cdr_diag sub; /* only what the error message reads is set: a full clear (800 bytes) per
                     record was a tenth of a statement export's decoding */
    sub.dg_column = 0;
    sub.dg_msg[0] = '\0';
    if ((err = cdr_wire_decode(rc.rc_p, (size_t)u[0], cr, &sub)))
        return cdr_diag_set(dg, err, NULL, 0, rw_pos(&rc) + (sub.dg_column ? sub.dg_column - 1 : 0),
                            "embedded CDR: %s", sub.dg_msg);
    rc.rc_p += u[0];
    uint8_t reason = 0, service = 0, nparts = 0;
    if ((err = rw_byte(&rc, CDR_REASON_COUNT - 1, &reason, "reason")) ||
        (err = rw_byte(&rc, CDR_SVC_COUNT - 1, &service, "service")) ||
        (err = rw_sint(&rc, CDR_NO_ZONE, CDR_PLAN_MAX_ZONES - 1, &s[0], "zone")) ||
        (err = rw_sint(&rc, -1, CDR_PLAN_MAX_BUNDLES - 1, &s[1], "bundle")) ||
        (err = rw_uint(&rc, UINT32_MAX, &u[1], "plan_version")) ||
        (err = rw_uint(&rc, UINT32_MAX, &u[2], "cycle")))
        return err;
    if (!cycle_ok(u[2]))
        return rw_range(&rc, "cycle");
    if ((err = rw_sint(&rc, INT64_MIN, INT64_MAX, &s[2], "charge")) ||
        (err = rw_uint(&rc, UINT64_MAX, &u[3], "units")) ||
        (err = rw_uint(&rc, u[3], &u[4], "bundle_units")) ||
        (err = rw_uint(&rc, u[3], &u[5], "overflow_units")) ||
        (version >= 2 && (err = rw_uint(&rc, u[3], &u[7], "free_units"))) ||
        (err = rw_byte(&rc, CDR_RATED_MAX_PARTS, &nparts, "nparts")))
        return err;
    rr->rr_reason = reason;
    rr->rr_service = service;
    rr->rr_zone = (int16_t)s[0];
    rr->rr_bundle = (int16_t)s[1];
    rr->rr_plan_version = (uint32_t)u[1];
    rr->rr_cycle = (uint32_t)u[2];
    rr->rr_charge = s[2];
    rr->rr_units = u[3];
    rr->rr_bundle_units = u[4];
    rr->rr_overflow_units = u[5];
    rr->rr_free_units = u[7]; /* 0 in version 1 */
    rr->rr_nparts = nparts;
    for (unsigned i = 0; i < nparts; i++) {
        cdr_rated_part *rp = &rr->rr_parts[i];
        if ((err = rw_byte(&rc, CDR_PLAN_MAX_BANDS - 1, &rp->rp_band, "part_band")) ||
            (err = rw_uint(&rc, UINT64_MAX, &u[6], "part_units")) ||
            (err = rw_sint(&rc, INT64_MIN, INT64_MAX, &s[0], "part_charge")))
            return err;
        rp->rp_units = u[6];
        rp->rp_charge = s[0];
    }
    uint8_t pn = 0;
    if ((err = rw_byte(&rc, CDR_NAME_MAX - 1, &pn, "plan_id")))
        return err;
    if ((size_t)(rc.rc_end - rc.rc_p) < pn)
        return rw_truncated(&rc, "plan_id");
    if (memchr(rc.rc_p, 0, pn))
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc), "NUL byte in field plan_id");
    memcpy(plan_id, rc.rc_p, pn);
    plan_id[pn] = '\0';
    rc.rc_p += pn;
    if (version >= 2) { /* version 1 has no currency: it stays "" */
        uint8_t cn = 0;
        if ((err = rw_byte(&rc, 3, &cn, "currency")))
            return err;
        if (cn != 0 && cn != 3)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc) - 1,
                                "field currency out of range (length %u)", cn);
        if ((size_t)(rc.rc_end - rc.rc_p) < cn)
            return rw_truncated(&rc, "currency");
        memcpy(rr->rr_currency, rc.rc_p, cn);
        rr->rr_currency[cn] = '\0';
        if (cn && !currency_ok(rr->rr_currency))
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc),
                                "field currency is not an ISO 4217 code");
        rc.rc_p += cn;
    }
    if (version >= 3) { /* flags; in version 3 never 0 (such a record was written as version 2) */
        uint8_t fl = 0;
        if ((err = rw_byte(&rc, 255, &fl, "flags")))
            return err;
        if (fl & ~CDR_RATED_FLAGS_KNOWN)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc) - 1,
                                "field flags out of range (%u)", fl);
        if (!fl && version == 3)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc) - 1,
                                "field flags is 0 in a version 3 record");
        rr->rr_flags = fl;
    }
    if (version >= 4) { /* charge class: a usage class when rated, 0 when unratable */
        uint8_t cl = 0;
        if ((err = rw_byte(&rc, CDR_CLASS_COUNT - 1, &cl, "charge_class")))
            return err;
        if (reason == CDR_REASON_NONE && (cl < CDR_CLASS_USAGE_FIRST || cl > CDR_CLASS_USAGE_LAST))
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc) - 1,
                                "field charge_class %u (%s) is not a usage class of a rated record",
                                cl, cdr_charge_class_name(cl));
        if (reason != CDR_REASON_NONE && cl != CDR_CLASS_NONE)
            return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc) - 1,
                                "field charge_class %u (%s) in an unratable record (must be 0)", cl,
                                cdr_charge_class_name(cl));
        rr->rr_class = cl;
    }
    if (rc.rc_p != rc.rc_end)
        return cdr_diag_set(dg, CDR_FORMAT, NULL, 0, rw_pos(&rc),
                            "%zu trailing bytes after rated record", (size_t)(rc.rc_end - rc.rc_p));
    return 0;
}

/* ---- the view: the same checks, in place -------------------------------------------------- */

/* A varint: the one-byte case inline. 0, or -1 as cdr_get_varint fails. */
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

static inline int view_sint(const uint8_t **pp, const uint8_t *end, int64_t min, int64_t max,
                            int64_t *out)
{
    uint64_t u;
    if (view_varint(pp, end, &u))
        return -1;
    *out = cdr_unzigzag(u);
    return *out < min || *out > max ? -1 : 0;
}

/* A byte no greater than max. */
static inline int view_byte(const uint8_t **pp, const uint8_t *end, unsigned max, uint8_t *out)
{
    if (*pp >= end || **pp > max)
        return -1;
    *out = *(*pp)++;
    return 0;
}

int cdr_rated_wire_view(const uint8_t *buf, size_t len, cdr_rated_view *rv)
{
    /* the checks of cdr_rated_wire_decode, in its order */
    if (len < 1 || buf[0] < 1 || buf[0] > 4)
        return -1;
    const unsigned version = buf[0];
    const uint8_t *p = buf + 1, *end = buf + len;
    uint64_t n, u;
    if (view_varint(&p, end, &n) || n > CDR_WIRE_MAX || n == 0 || (uint64_t)(end - p) < n ||
        cdr_wire_view_get(p, (size_t)n, &rv->rv_cdr))
        return -1;
    p += n;
    int64_t s;
    rv->rv_version = (uint8_t)version;
    if (view_byte(&p, end, CDR_REASON_COUNT - 1, &rv->rv_reason) ||
        view_byte(&p, end, CDR_SVC_COUNT - 1, &rv->rv_service) ||
        view_sint(&p, end, CDR_NO_ZONE, CDR_PLAN_MAX_ZONES - 1, &s))
        return -1;
    rv->rv_zone = (int16_t)s;
    if (view_sint(&p, end, -1, CDR_PLAN_MAX_BUNDLES - 1, &s) || view_varint(&p, end, &u) ||
        u > UINT32_MAX)
        return -1;
    rv->rv_plan_version = (uint32_t)u;
    if (view_varint(&p, end, &u) || u > UINT32_MAX || !cycle_ok(u))
        return -1;
    rv->rv_cycle = (uint32_t)u;
    if (view_sint(&p, end, INT64_MIN, INT64_MAX, &rv->rv_charge) ||
        view_varint(&p, end, &rv->rv_units))
        return -1;
    /* bundle_units, overflow_units and (from version 2) free_units: at most the units */
    rv->rv_free_units = 0;
    for (unsigned i = 0; i < (version >= 2 ? 3u : 2u); i++)
        if (view_varint(&p, end, &u) || u > rv->rv_units)
            return -1;
    if (version >= 2)
        rv->rv_free_units = u;
    uint8_t nparts, b;
    if (view_byte(&p, end, CDR_RATED_MAX_PARTS, &nparts))
        return -1;
    for (unsigned i = 0; i < nparts; i++)
        if (view_byte(&p, end, CDR_PLAN_MAX_BANDS - 1, &b) || view_varint(&p, end, &u) ||
            view_varint(&p, end, &u))
            return -1;
    if (view_byte(&p, end, CDR_NAME_MAX - 1, &rv->rv_plan_len) ||
        (size_t)(end - p) < rv->rv_plan_len || memchr(p, 0, rv->rv_plan_len))
        return -1;
    rv->rv_plan = (const char *)p;
    p += rv->rv_plan_len;
    memset(rv->rv_currency, 0, sizeof rv->rv_currency);
    if (version >= 2) {
        uint8_t cn;
        if (view_byte(&p, end, 3, &cn) || (cn != 0 && cn != 3) || (size_t)(end - p) < cn)
            return -1;
        memcpy(rv->rv_currency, p, cn);
        if (cn && !currency_ok(rv->rv_currency))
            return -1;
        p += cn;
    }
    rv->rv_flags = 0;
    if (version >= 3) {
        if (view_byte(&p, end, 255, &rv->rv_flags) || (rv->rv_flags & ~CDR_RATED_FLAGS_KNOWN) ||
            (!rv->rv_flags && version == 3))
            return -1;
    }
    rv->rv_class = CDR_CLASS_NONE;
    if (version >= 4) {
        const int rated = rv->rv_reason == CDR_REASON_NONE;
        if (view_byte(&p, end, CDR_CLASS_COUNT - 1, &rv->rv_class) ||
            (rated &&
             (rv->rv_class < CDR_CLASS_USAGE_FIRST || rv->rv_class > CDR_CLASS_USAGE_LAST)) ||
            (!rated && rv->rv_class != CDR_CLASS_NONE))
            return -1;
    }
    return p == end ? 0 : -1;
}
