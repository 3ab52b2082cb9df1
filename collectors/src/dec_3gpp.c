/* dec_3gpp.c - 3GPP TS 32.297 CDR files carrying TS 32.298 BER records: the MSC's MOCallRecord
 * and MTCallRecord (TS 32.250) and the PGWRecord and SGWRecord (TS 32.251).
 *
 * File layout, tag table, mapping to cdr_record and identity: docs/collectors.md, section
 * "3GPP TS 32.297 / 32.298". One pass over the input, no allocation: every element is a view
 * into the caller's buffer.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ber.h"
#include "coll_int.h"

/* ---- TS 32.297 framing ----------------------------------------------------------------------- */

#define FH_MIN_LEN 52 /* fixed part (48) + the two 2-octet lengths of an empty filter/extension */

typedef struct g3_file_header {
    uint32_t fh_file_len;
    uint32_t fh_hdr_len;
    uint32_t fh_count; /* number of CDRs (not enforced) */
    uint32_t fh_seq;   /* file sequence number */
    unsigned fh_high;  /* release number (3 = R99, 4 = Rel-4, ..., 10 + extension) */
    unsigned fh_low;
    unsigned fh_high_ver, fh_low_ver;
} g3_file_header;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Release identifier (3 bits) -> release number; 7 = "Rel-10 or later", see the extension. */
static unsigned release_of(unsigned id)
{
    return id == 0 ? 3 : id + 3;
}

static int parse_file_header(const ber_ctx *bc, const uint8_t *buf, size_t len, g3_file_header *fh)
{
    if (len < 8)
        return ber_fail(bc, buf, "file header truncated: %zu of at least %d octets", len,
                        FH_MIN_LEN);
    fh->fh_file_len = be32(buf);
    fh->fh_hdr_len = be32(buf + 4);
    if (fh->fh_hdr_len < FH_MIN_LEN)
        return ber_fail(bc, buf + 4, "file header length %u is below the minimum %d",
                        fh->fh_hdr_len, FH_MIN_LEN);
    if (fh->fh_hdr_len > len)
        return ber_fail(bc, buf + 4, "file header length %u is larger than the file (%zu octets)",
                        fh->fh_hdr_len, len);
    if (fh->fh_file_len < fh->fh_hdr_len)
        return ber_fail(bc, buf, "file length %u is smaller than the header length %u",
                        fh->fh_file_len, fh->fh_hdr_len);
    const uint8_t *h = buf, *hend = buf + fh->fh_hdr_len;
    unsigned hid = h[8] >> 5, lid = h[9] >> 5;
    fh->fh_high_ver = h[8] & 0x1Fu;
    fh->fh_low_ver = h[9] & 0x1Fu;
    fh->fh_count = be32(h + 18);
    fh->fh_seq = be32(h + 22);
    /* 26: closure reason, 27..46: node IP address, 47: lost CDR indicator: not used */
    const uint8_t *q = h + 48;
    size_t flen = be16(q);
    q += 2;
    if ((size_t)(hend - q) < flen + 2)
        return ber_fail(bc, h + 48, "CDR routing filter length %zu runs past the file header",
                        flen);
    q += flen;
    size_t plen = be16(q);
    q += 2;
    if ((size_t)(hend - q) < plen)
        return ber_fail(bc, q - 2, "private extension length %zu runs past the file header", plen);
    q += plen;
    fh->fh_high = release_of(hid);
    fh->fh_low = release_of(lid);
    if (hid == 7) {
        if (q >= hend)
            return ber_fail(bc, q, "high release identifier extension missing");
        fh->fh_high = 10u + *q++;
    }
    if (lid == 7) {
        if (q >= hend)
            return ber_fail(bc, q, "low release identifier extension missing");
        fh->fh_low = 10u + *q++;
    }
    if (fh->fh_low > fh->fh_high || (fh->fh_low == fh->fh_high && fh->fh_low_ver > fh->fh_high_ver))
        return ber_fail(bc, h + 8,
                        "file header version: low release %u.%u is above high release %u.%u",
                        fh->fh_low, fh->fh_low_ver, fh->fh_high, fh->fh_high_ver);
    return 0;
}

/* ---- TS 32.298 records ----------------------------------------------------------------------- */

enum g3_field {
    F_NONE = 0,
    F_TYPE,
    F_IMSI,
    F_MSISDN,
    F_OTHER, /* calledNumber (MO) or callingNumber (MT) */
    F_LOCATION,
    F_SEIZURE,
    F_ANSWER,
    F_RELEASE,
    F_DURATION,
    F_CAUSE,
    F_CALLREF,
    F_SEQNUM,
    F_CHARGING_ID,
    F_TRAFFIC,
    F_OPENING,
    F_RECSEQ,
    F_NODE_ID,
    F_LOCALSEQ,
    F_PLMN,
    F_ULI,
    F_SERVICE_DATA,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_NONE] = "",
    [F_TYPE] = "recordType",
    [F_IMSI] = "servedIMSI",
    [F_MSISDN] = "servedMSISDN",
    [F_OTHER] = "number",
    [F_LOCATION] = "location",
    [F_SEIZURE] = "seizureTime",
    [F_ANSWER] = "answerTime",
    [F_RELEASE] = "releaseTime",
    [F_DURATION] = "duration",
    [F_CAUSE] = "causeForTerm",
    [F_CALLREF] = "callReference",
    [F_SEQNUM] = "sequenceNumber",
    [F_CHARGING_ID] = "chargingID",
    [F_TRAFFIC] = "listOfTrafficVolumes",
    [F_OPENING] = "recordOpeningTime",
    [F_RECSEQ] = "recordSequenceNumber",
    [F_NODE_ID] = "nodeID",
    [F_LOCALSEQ] = "localSequenceNumber",
    [F_PLMN] = "servingNodePLMNIdentifier",
    [F_ULI] = "userLocationInformation",
    [F_SERVICE_DATA] = "listOfServiceData",
};

/* Context tag number -> field, per record type (TS 32.298; tags above the tables are skipped). */
static const uint8_t mo_tags[34] = {
    [0] = F_TYPE,      [1] = F_IMSI,     [3] = F_MSISDN,   [5] = F_OTHER,
    [12] = F_LOCATION, [22] = F_SEIZURE, [23] = F_ANSWER,  [24] = F_RELEASE,
    [25] = F_DURATION, [30] = F_CAUSE,   [32] = F_CALLREF, [33] = F_SEQNUM};
static const uint8_t mt_tags[31] = {
    [0] = F_TYPE,      [1] = F_IMSI,     [3] = F_MSISDN,   [4] = F_OTHER,
    [9] = F_LOCATION,  [19] = F_SEIZURE, [20] = F_ANSWER,  [21] = F_RELEASE,
    [22] = F_DURATION, [27] = F_CAUSE,   [29] = F_CALLREF, [30] = F_SEQNUM};
static const uint8_t sgw_tags[33] = {
    [0] = F_TYPE,      [3] = F_IMSI,   [5] = F_CHARGING_ID, [12] = F_TRAFFIC, [13] = F_OPENING,
    [14] = F_DURATION, [15] = F_CAUSE, [17] = F_RECSEQ,     [18] = F_NODE_ID, [20] = F_LOCALSEQ,
    [22] = F_MSISDN,   [27] = F_PLMN,  [32] = F_ULI};
static const uint8_t pgw_tags[35] = {
    [0] = F_TYPE,      [3] = F_IMSI,   [5] = F_CHARGING_ID, [12] = F_TRAFFIC,     [13] = F_OPENING,
    [14] = F_DURATION, [15] = F_CAUSE, [17] = F_RECSEQ,     [18] = F_NODE_ID,     [20] = F_LOCALSEQ,
    [22] = F_MSISDN,   [27] = F_PLMN,  [32] = F_ULI,        [34] = F_SERVICE_DATA};

typedef struct g3_rectype {
    const char *rt_name;
    const uint8_t *rt_tags;
    size_t rt_ntags;
    unsigned rt_record_type; /* RecordType value expected in [0] */
    const char *rt_prefix;   /* origin id prefix */
    uint8_t rt_service;
    uint8_t rt_direction;
} g3_rectype;

static const g3_rectype rt_mo = {"MOCallRecord", mo_tags,       sizeof mo_tags, 0,
                                 "mo",           CDR_SVC_VOICE, CDR_DIR_MO};
static const g3_rectype rt_mt = {"MTCallRecord", mt_tags,       sizeof mt_tags, 1,
                                 "mt",           CDR_SVC_VOICE, CDR_DIR_MT};
static const g3_rectype rt_sgw = {"SGWRecord", sgw_tags,     sizeof sgw_tags, 84,
                                  "sgw",       CDR_SVC_DATA, CDR_DIR_MO};
static const g3_rectype rt_pgw = {"PGWRecord", pgw_tags,     sizeof pgw_tags, 85,
                                  "pgw",       CDR_SVC_DATA, CDR_DIR_MO};

#define NUM_MAX 48 /* digits of an AddressString (at most 20 octets) and NUL */

/* What one record carries, before mapping. */
typedef struct g3_fields {
    uint32_t gf_seen; /* bit per g3_field */
    unsigned gf_msisdn_ton, gf_other_ton;
    const uint8_t *gf_msisdn_at, *gf_other_at;
    char gf_imsi[CDR_IMSI_MAX];
    char gf_msisdn[NUM_MAX];
    char gf_other[NUM_MAX];
    char gf_node_id[24];
    cdr_time gf_seizure, gf_answer, gf_opening;
    int32_t gf_seizure_off, gf_answer_off, gf_opening_off;
    uint64_t gf_duration, gf_cause, gf_seqnum, gf_charging_id, gf_recseq, gf_localseq;
    uint64_t gf_sd_up, gf_sd_down, gf_tv_up, gf_tv_down;
    uint8_t gf_callref[8];
    size_t gf_callref_len;
    uint32_t gf_cell;
    uint16_t gf_mcc, gf_mnc;
} g3_fields;

#define SEEN(gf, f) (((gf)->gf_seen >> (f)) & 1u)

/* LocationAreaAndCell ::= SEQUENCE { locationAreaCode [0] (2), cellId [1] (2), mCC-MNC [2] (3) } */
static int get_location(const ber_ctx *bc, const ber_tlv *t, g3_fields *gf)
{
    ber_iter it;
    ber_tlv c;
    int rc = ber_iter_init(bc, t, &it), have = 0;
    uint32_t lac = 0, ci = 0;
    while (!rc && (rc = ber_iter_next(bc, &it, &c)) == 1) {
        rc = 0;
        if (c.bt_class != BER_CONTEXT)
            continue;
        if (c.bt_tag == 0 && !(rc = ber_get_octets(bc, &c, 2, "locationAreaCode"))) {
            lac = be16(c.bt_val);
            have |= 1;
        } else if (c.bt_tag == 1 && !(rc = ber_get_octets(bc, &c, 2, "cellId"))) {
            ci = be16(c.bt_val);
            have |= 2;
        } else if (c.bt_tag == 2 && !(rc = ber_get_octets(bc, &c, 3, "mCC-MNC"))) {
            rc = ber_plmn(bc, c.bt_val, &gf->gf_mcc, &gf->gf_mnc, "mCC-MNC");
        }
    }
    if (rc < 0)
        return rc;
    if (have != 3)
        return ber_fail(bc, t->bt_hdr, "location without %s",
                        (have & 1) ? "cellId" : "locationAreaCode");
    gf->gf_cell = lac << 16 | ci;
    return 0;
}

/* User Location Info (TS 29.274 8.21 from the flags octet on): the cell from the ECGI (its
 * 28-bit E-UTRAN cell id), else from the CGI or SAI as (LAC << 16) | CI/SAC. */
static int get_uli(const ber_ctx *bc, const ber_tlv *t, g3_fields *gf)
{
    static const uint8_t part_len[8] = {7, 7, 7, 5, 7, 5, 6, 6}; /* CGI SAI RAI TAI ECGI LAI .. */
    int rc = ber_get_octets(bc, t, 0, "userLocationInformation");
    if (rc)
        return rc;
    const uint8_t *p = t->bt_val;
    if (t->bt_len < 1)
        return ber_fail(bc, t->bt_hdr, "empty userLocationInformation");
    size_t need = 1, at[8] = {0};
    for (int i = 0; i < 8; i++)
        if (p[0] >> i & 1) {
            at[i] = need;
            need += part_len[i];
        }
    if (t->bt_len < need)
        return ber_fail(bc, p, "userLocationInformation has %zu octets, its flags 0x%02X need %zu",
                        t->bt_len, p[0], need);
    if (p[0] & 0x10) { /* ECGI */
        const uint8_t *e = p + at[4] + 3;
        gf->gf_cell =
            (uint32_t)(e[0] & 0x0F) << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
    } else if (p[0] & 0x03) { /* CGI, else SAI */
        const uint8_t *c = p + at[(p[0] & 1) ? 0 : 1] + 3;
        gf->gf_cell = (uint32_t)be16(c) << 16 | be16(c + 2);
    }
    return 0;
}

/* Sum the uplink and downlink volumes of a SEQUENCE OF containers (ChangeOfServiceCondition,
 * ChangeOfCharCondition). */
static int sum_volumes(const ber_ctx *bc, const ber_tlv *t, unsigned up_tag, unsigned down_tag,
                       uint64_t *up, uint64_t *down, const char *what)
{
    ber_iter it, in;
    ber_tlv c, f;
    int rc = ber_iter_init(bc, t, &it);
    while (!rc && (rc = ber_iter_next(bc, &it, &c)) == 1) {
        if (c.bt_class != BER_UNIVERSAL || c.bt_tag != 16 || !c.bt_cons)
            return ber_fail(bc, c.bt_hdr, "%s element is not a SEQUENCE", what);
        rc = ber_iter_init(bc, &c, &in);
        while (!rc && (rc = ber_iter_next(bc, &in, &f)) == 1) {
            rc = 0;
            if (f.bt_class != BER_CONTEXT || (f.bt_tag != up_tag && f.bt_tag != down_tag))
                continue;
            uint64_t v, *sum = f.bt_tag == up_tag ? up : down;
            if ((rc = ber_get_uint(bc, &f, UINT64_MAX, &v, "data volume")) != 0)
                return rc;
            if (*sum > UINT64_MAX - v)
                return ber_fail(bc, f.bt_hdr, "data volume in %s overflows 64 bits", what);
            *sum += v;
        }
        if (rc < 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

/* One field of a record. */
static int get_field(const ber_ctx *bc, const g3_rectype *rt, unsigned f, const ber_tlv *t,
                     g3_fields *gf)
{
    const char *name = field_names[f];
    uint64_t v;
    int rc;
    switch (f) {
    case F_TYPE:
        if ((rc = ber_get_uint(bc, t, 65535, &v, name)) != 0)
            return rc;
        if (v != rt->rt_record_type)
            return ber_fail(bc, t->bt_val, "recordType %llu in a %s (expected %u)",
                            (unsigned long long)v, rt->rt_name, rt->rt_record_type);
        return 0;
    case F_IMSI:
        if ((rc = ber_get_octets(bc, t, 0, name)) != 0)
            return rc;
        rc = ber_tbcd(bc, t->bt_val, t->bt_len, gf->gf_imsi, sizeof gf->gf_imsi, name);
        return rc < 0 ? rc : 0;
    case F_MSISDN:
        gf->gf_msisdn_at = t->bt_hdr;
        rc = ber_get_address(bc, t, &gf->gf_msisdn_ton, gf->gf_msisdn, sizeof gf->gf_msisdn, name);
        return rc < 0 ? rc : 0;
    case F_OTHER:
        gf->gf_other_at = t->bt_hdr;
        rc = ber_get_address(bc, t, &gf->gf_other_ton, gf->gf_other, sizeof gf->gf_other,
                             rt->rt_direction == CDR_DIR_MO ? "calledNumber" : "callingNumber");
        return rc < 0 ? rc : 0;
    case F_LOCATION:
        return get_location(bc, t, gf);
    case F_SEIZURE:
        return ber_get_timestamp(bc, t, &gf->gf_seizure, &gf->gf_seizure_off, name);
    case F_ANSWER:
        return ber_get_timestamp(bc, t, &gf->gf_answer, &gf->gf_answer_off, name);
    case F_RELEASE: {
        cdr_time rel;
        int32_t off;
        return ber_get_timestamp(bc, t, &rel, &off, name);
    }
    case F_OPENING:
        return ber_get_timestamp(bc, t, &gf->gf_opening, &gf->gf_opening_off, name);
    case F_DURATION:
        return ber_get_uint(bc, t, UINT32_MAX, &gf->gf_duration,
                            rt->rt_service == CDR_SVC_VOICE ? "callDuration" : name);
    case F_CAUSE:
        return ber_get_uint(bc, t, 65535, &gf->gf_cause,
                            rt->rt_service == CDR_SVC_VOICE ? name : "causeForRecClosing");
    case F_CALLREF:
        if ((rc = ber_get_octets(bc, t, 0, name)) != 0)
            return rc;
        if (t->bt_len < 1 || t->bt_len > 8)
            return ber_fail(bc, t->bt_hdr, "callReference has %zu octets, not 1..8", t->bt_len);
        memcpy(gf->gf_callref, t->bt_val, t->bt_len);
        gf->gf_callref_len = t->bt_len;
        return 0;
    case F_SEQNUM:
        return ber_get_uint(bc, t, UINT32_MAX, &gf->gf_seqnum, name);
    case F_CHARGING_ID:
        return ber_get_uint(bc, t, UINT32_MAX, &gf->gf_charging_id, name);
    case F_RECSEQ:
        return ber_get_uint(bc, t, UINT32_MAX, &gf->gf_recseq, name);
    case F_LOCALSEQ:
        return ber_get_uint(bc, t, UINT32_MAX, &gf->gf_localseq, name);
    case F_NODE_ID:
        if ((rc = ber_get_octets(bc, t, 0, name)) != 0)
            return rc;
        if (t->bt_len < 1 || t->bt_len > 20)
            return ber_fail(bc, t->bt_hdr, "nodeID has %zu characters, not 1..20", t->bt_len);
        for (size_t i = 0; i < t->bt_len; i++)
            if (t->bt_val[i] < 0x20 || t->bt_val[i] > 0x7E)
                return ber_fail(bc, t->bt_val + i, "nodeID is not printable");
        memcpy(gf->gf_node_id, t->bt_val, t->bt_len);
        gf->gf_node_id[t->bt_len] = '\0';
        return 0;
    case F_PLMN:
        if ((rc = ber_get_octets(bc, t, 3, name)) != 0)
            return rc;
        return ber_plmn(bc, t->bt_val, &gf->gf_mcc, &gf->gf_mnc, name);
    case F_ULI:
        return get_uli(bc, t, gf);
    case F_TRAFFIC:
        return sum_volumes(bc, t, 3, 4, &gf->gf_tv_up, &gf->gf_tv_down, name);
    case F_SERVICE_DATA:
        return sum_volumes(bc, t, 12, 13, &gf->gf_sd_up, &gf->gf_sd_down, name);
    }
    return 0;
}

/* The record's fields (one SET). */
static int get_fields(const ber_ctx *bc, const g3_rectype *rt, const ber_tlv *rec, g3_fields *gf)
{
    ber_iter it;
    ber_tlv t;
    int rc = ber_iter_init(bc, rec, &it);
    while (!rc && (rc = ber_iter_next(bc, &it, &t)) == 1) {
        rc = 0;
        if (t.bt_class != BER_CONTEXT || t.bt_tag >= rt->rt_ntags)
            continue;
        unsigned f = rt->rt_tags[t.bt_tag];
        if (f == F_NONE)
            continue;
        if (SEEN(gf, f))
            return ber_fail(bc, t.bt_hdr, "%s [%u] appears twice in a %s", field_names[f],
                            (unsigned)t.bt_tag, rt->rt_name);
        gf->gf_seen |= 1u << f;
        rc = get_field(bc, rt, f, &t, gf);
    }
    return rc < 0 ? rc : 0;
}

/* ---- mapping --------------------------------------------------------------------------------- */

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

/* cr_origin_id from the record's own identifiers (docs/collectors.md); at most 32 characters. */
static void make_origin(const g3_rectype *rt, const g3_fields *gf, uint32_t file_seq,
                        uint64_t index, cdr_record *cr)
{
    static const char hex[] = "0123456789abcdef";
    char *p = cr->cr_origin_id;
    if (rt->rt_service == CDR_SVC_VOICE && SEEN(gf, F_CALLREF)) {
        p = put_str(p, rt->rt_prefix);
        *p++ = '-';
        for (size_t i = 0; i < gf->gf_callref_len; i++) {
            *p++ = hex[gf->gf_callref[i] >> 4];
            *p++ = hex[gf->gf_callref[i] & 15];
        }
        if (SEEN(gf, F_SEQNUM)) {
            *p++ = '-';
            p = put_u64(p, gf->gf_seqnum);
        }
    } else if (rt->rt_service == CDR_SVC_DATA && SEEN(gf, F_LOCALSEQ)) {
        p = put_str(p, rt->rt_prefix);
        *p++ = '-';
        p = put_u64(p, gf->gf_localseq);
    } else if (rt->rt_service == CDR_SVC_DATA && SEEN(gf, F_CHARGING_ID)) {
        p = put_str(p, rt->rt_prefix);
        *p++ = '-';
        p = put_u64(p, gf->gf_charging_id);
        *p++ = '-';
        p = put_u64(p, SEEN(gf, F_RECSEQ) ? gf->gf_recseq : 0);
    } else {
        p = put_u64(p, file_seq);
        *p++ = '-';
        p = put_u64(p, index);
    }
    *p = '\0';
}

/* A number with its type of number -> E.164 under the configured numbering: an international
 * number gets the international prefix, a national one the trunk prefix, so that the configured
 * rules (cdr_coll_normalise_number) apply as to a dialled number. */
static int normalise(const cdr_coll_numbering *nu, unsigned ton, const char *digits, char *out,
                     size_t outsize)
{
    char buf[NUM_MAX + 16];
    const char *pre = ton == BER_TON_INTERNATIONAL ? nu->nu_intl_prefix
                      : ton == BER_TON_NATIONAL    ? nu->nu_trunk_prefix
                                                   : "";
    size_t pl = strnlen(pre, sizeof nu->nu_intl_prefix), dl = strlen(digits);
    memcpy(buf, pre, pl);
    memcpy(buf + pl, digits, dl + 1);
    return cdr_coll_normalise_number(nu, buf, pl + dl, out, outsize);
}

/* The record's kind; cr and dg filled. */
static int map_record(const cdr_coll_decoder *d, const ber_ctx *bc, const g3_rectype *rt,
                      const g3_fields *gf, const uint8_t *rec_at, cdr_record *cr, cdr_diag *dg)
{
    const cdr_coll_config *cc = &d->cd_cfg;
    cr->cr_service = rt->rt_service;
    cr->cr_direction = rt->rt_direction;
    memcpy(cr->cr_imsi, gf->gf_imsi, sizeof cr->cr_imsi);
    cr->cr_cause = (uint16_t)gf->gf_cause;
    cr->cr_cell = gf->gf_cell;
    cr->cr_mcc = gf->gf_mcc;
    cr->cr_mnc = gf->gf_mnc;
    int billable = 1;
    const char *why = NULL;
    if (rt->rt_service == CDR_SVC_VOICE) {
        if (SEEN(gf, F_ANSWER)) {
            cr->cr_start = gf->gf_answer;
            cr->cr_utc_offset = gf->gf_answer_off;
            if (!SEEN(gf, F_DURATION))
                return ber_fail(bc, rec_at, "%s without callDuration", rt->rt_name);
            if (gf->gf_duration == 0) {
                billable = 0;
                why = "zero-length call (callDuration 0)";
            }
        } else if (SEEN(gf, F_SEIZURE)) {
            cr->cr_start = gf->gf_seizure;
            cr->cr_utc_offset = gf->gf_seizure_off;
            billable = 0;
            why = "unanswered call (no answerTime)";
        } else {
            return ber_fail(bc, rec_at, "%s without seizureTime or answerTime", rt->rt_name);
        }
    } else {
        if (!SEEN(gf, F_OPENING))
            return ber_fail(bc, rec_at, "%s without recordOpeningTime", rt->rt_name);
        if (!SEEN(gf, F_DURATION))
            return ber_fail(bc, rec_at, "%s without duration", rt->rt_name);
        cr->cr_start = gf->gf_opening;
        cr->cr_utc_offset = gf->gf_opening_off;
        int sd = SEEN(gf, F_SERVICE_DATA);
        cr->cr_bytes_up = sd ? gf->gf_sd_up : gf->gf_tv_up;
        cr->cr_bytes_down = sd ? gf->gf_sd_down : gf->gf_tv_down;
    }
    cr->cr_duration = (uint32_t)gf->gf_duration;
    /* Numbers: E.164 under the configured numbering; a non-billable record keeps the digits as
     * they are when they do not normalise. */
    if (gf->gf_msisdn[0] && normalise(&cc->cc_numbering, gf->gf_msisdn_ton, gf->gf_msisdn,
                                      cr->cr_msisdn, sizeof cr->cr_msisdn)) {
        if (billable)
            return ber_fail(bc, gf->gf_msisdn_at, "servedMSISDN '%s' is not a valid E.164 number",
                            gf->gf_msisdn);
        snprintf(cr->cr_msisdn, sizeof cr->cr_msisdn, "%.*s", (int)sizeof cr->cr_msisdn - 1,
                 gf->gf_msisdn);
    }
    if (gf->gf_other[0] && normalise(&cc->cc_numbering, gf->gf_other_ton, gf->gf_other,
                                     cr->cr_other, sizeof cr->cr_other)) {
        const char *fn = rt->rt_direction == CDR_DIR_MO ? "calledNumber" : "callingNumber";
        if (billable)
            return ber_fail(bc, gf->gf_other_at, "%s '%s' is not a valid number", fn, gf->gf_other);
        snprintf(cr->cr_other, sizeof cr->cr_other, "%.*s", (int)sizeof cr->cr_other - 1,
                 gf->gf_other);
    }
    if (!billable) {
        cdr_diag_set(dg, 0, bc->bc_name, 0, 0, "%s at byte %zu", why, ber_off(bc, rec_at));
        return CDR_ITEM_NONBILLABLE;
    }
    int rc = cdr_coll_validate(cc, cr, dg);
    if (rc) {
        if (!dg->dg_file[0] && bc->bc_name)
            snprintf(dg->dg_file, sizeof dg->dg_file, "%s", bc->bc_name);
        return CDR_ITEM_REJECTED;
    }
    return CDR_ITEM_RECORD;
}

/* One CDR (header already framed): its kind, with ci_rec and ci_diag filled. */
static int decode_cdr(const cdr_coll_decoder *d, const ber_ctx *bc, const uint8_t *hdr,
                      const uint8_t *p, const uint8_t *end, uint32_t file_seq, uint64_t index,
                      cdr_record *cr)
{
    unsigned format = hdr[3] >> 5, ts = hdr[3] & 0x1Fu;
    if (format != 1)
        return ber_fail(bc, hdr + 3, "data record format %u is not BER (1)", format);
    if (ts != 6 && ts != 7)
        return ber_fail(bc, hdr + 3, "TS number code %u is neither TS 32.250 (6) nor 32.251 (7)",
                        ts);
    ber_tlv rec;
    int rc = ber_read(bc, p, end, 1, &rec);
    if (rc)
        return rc;
    if (rec.bt_next != end)
        return ber_fail(bc, rec.bt_next, "%zu octets after the record inside its CDR length",
                        (size_t)(end - rec.bt_next));
    const g3_rectype *rt = NULL;
    if (rec.bt_class == BER_CONTEXT && rec.bt_cons) {
        if (ts == 6)
            rt = rec.bt_tag == 0 ? &rt_mo : rec.bt_tag == 1 ? &rt_mt : NULL;
        else
            rt = rec.bt_tag == 78 ? &rt_sgw : rec.bt_tag == 79 ? &rt_pgw : NULL;
    }
    if (!rt)
        return ber_fail(bc, p, "unsupported %s record type %s%u%s",
                        ts == 6 ? "CS (TS 32.250)" : "PS (TS 32.251)",
                        rec.bt_class == BER_CONTEXT ? "[" : "tag ", (unsigned)rec.bt_tag,
                        rec.bt_class == BER_CONTEXT ? "]" : "");
    g3_fields gf;
    memset(&gf, 0, sizeof gf);
    if ((rc = get_fields(bc, rt, &rec, &gf)) != 0)
        return rc;
    make_origin(rt, &gf, file_seq, index, cr);
    return map_record(d, bc, rt, &gf, p, cr, bc->bc_dg);
}

/* ---- the decoder ----------------------------------------------------------------------------- */

static void item_reset(cdr_coll_item *ci, const cdr_coll_config *cc)
{
    memset(&ci->ci_rec, 0, sizeof ci->ci_rec);
    memcpy(ci->ci_rec.cr_source, cc->cc_source, sizeof ci->ci_rec.cr_source);
    ci->ci_rec.cr_source[sizeof ci->ci_rec.cr_source - 1] = '\0';
    ci->ci_diag.dg_code = 0;
    ci->ci_diag.dg_msg[0] = '\0';
    ci->ci_diag.dg_file[0] = '\0';
    ci->ci_diag.dg_line = ci->ci_diag.dg_column = 0;
}

static int g3_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                     cdr_coll_emit_fn emit, void *arg)
{
    cdr_coll_item ci;
    memset(&ci, 0, sizeof ci);
    ber_ctx bc = {buf, name, &ci.ci_diag};
    g3_file_header fh = {0};
    size_t pos = 0, end = len;
    uint64_t index = 0;
    item_reset(&ci, &d->cd_cfg);
    if (len == 0) /* an empty file holds no CDR: read 0, like an empty file of any format */
        return 0;
    if (parse_file_header(&bc, buf, len, &fh))
        goto final;
    if (fh.fh_file_len < end)
        end = fh.fh_file_len;
    pos = fh.fh_hdr_len;
    while (pos < end) {
        const uint8_t *h = buf + pos;
        size_t left = end - pos;
        item_reset(&ci, &d->cd_cfg);
        if (left < 4 || (left < 5 && (h[2] >> 5) == 7)) {
            ber_fail(&bc, h, "CDR header truncated (%zu octets left)", left);
            goto final;
        }
        size_t hl = (h[2] >> 5) == 7 ? 5 : 4; /* release identifier 7: extension octet */
        size_t cl = be16(h);
        if (cl > left - hl) {
            ber_fail(&bc, h, "CDR length %zu runs past the end of the file (%zu octets left)", cl,
                     left - hl);
            goto final;
        }
        ci.ci_offset = pos;
        ci.ci_length = hl + cl;
        ci.ci_index = index;
        int kind = decode_cdr(d, &bc, h, h + hl, h + hl + cl, fh.fh_seq, index, &ci.ci_rec);
        ci.ci_kind = (uint8_t)(kind < 0 ? CDR_ITEM_REJECTED : kind);
        int rc = emit(arg, &ci);
        if (rc)
            return rc;
        pos += hl + cl;
        index++;
    }
    item_reset(&ci, &d->cd_cfg);
    if (len > end) {
        ber_fail(&bc, buf + end, "%zu octets after the file length %zu", len - end, end);
        goto final;
    }
    if (fh.fh_file_len > len) {
        ber_fail(&bc, buf + len, "file truncated: the header says %u octets, %zu present",
                 fh.fh_file_len, len);
        goto final;
    }
    return 0;

final: /* the rest of the input cannot be read: one rejected item covering it */
    ci.ci_kind = CDR_ITEM_REJECTED;
    ci.ci_offset = pos;
    ci.ci_length = len - pos;
    ci.ci_index = index;
    return emit(arg, &ci);
}

const coll_format_ops coll_3gpp_ops = {"3gpp", NULL, NULL, g3_decode};
