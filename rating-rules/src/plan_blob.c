/* plan_blob.c - the compiled plan as a self-contained binary blob (format versions 1 and 2).
 *
 * Layout (all integers little-endian; "str" is a u8 length then that many bytes, no NUL):
 *
 *   header  magic "CDRPLAN\0" (8) | u32 format version | u32 reserved (0) | u64 body length |
 *           u64 FNV-1a-64 of the body
 *   body    str id | u32 version | i64 effective_from | 3 bytes currency | i64 monthly_fee |
 *           str tz name | u32 n | n x (i64 at, i32 offset) |
 *           u16 nzones | nzones x (str name, u8 kind) | i16 home_zone | i16 default_zone |
 *           u32 ntrie | ntrie x (u16 child mask, one u32 per child in digit order, i16 zone,
 *           i16 exact) |
 *           u16 nhome | nhome x (u16 mcc, i16 mnc, i16 zone) | u32 nroam | nroam x (same) |
 *           u8 nbands | nbands x str | 8 x 1440 u8 band_of |
 *           u32 nholidays | nholidays x i32 |
 *           u32 nrates | nrates x (i64 connect, u64 unit, u64 first, u64 next, i64 min, i64 max,
 *           i64 round_to, u8 rounding, u8 ntiers, ntiers x (u64 from, i64 price)) |
 *           u32 nix | nix x u16 rate index |
 *           u8 nbundles | nbundles x (str name, u8 service, u8 pool, u64 zones, u64 units)
 *   classes (format 2 only) nzones x u8 zone class (zo_class) | nrates x u8 rate class (ra_class)
 *
 * Format 2 is format 1 plus the charge classes a plan declares (docs/tariff-plans.md "Charge
 * classes"; 0 = not declared, else CDR_CLASS_PLAN_FIRST..LAST, never on a free zone; the counts
 * are those of the body). A plan that declares no class anywhere is written as format 1, byte for
 * byte as before format 2 existed, and a plan that declares one as format 2: so stores written
 * before keep accepting the same plans, and a format-2 blob whose classes are all 0 is refused as
 * not canonical. Both formats are read.
 *
 * pl_band_until is not stored: it is derived from pl_band_of on load. The encoding is canonical
 * (one plan, one blob), so the plan store compares versions byte for byte. Decoding checks every
 * length, count and index before use and never trusts the blob.
 */
#include <stdlib.h>
#include <string.h>

#include "cdr_rules.h"
#include "plan_int.h"

#define BLOB_MAGIC          "CDRPLAN"
#define BLOB_FORMAT         1u /* no charge class declared */
#define BLOB_FORMAT_CLASSES 2u /* format 1 + the classes section */
#define BLOB_HEADER         32u

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct blob_w {
    uint8_t *bw_buf;
    size_t bw_len;
    size_t bw_cap;
    int bw_oom;
} blob_w;

static void bw_bytes(blob_w *bw, const void *p, size_t n)
{
    if (bw->bw_oom)
        return;
    if (bw->bw_cap - bw->bw_len < n) {
        size_t ncap = bw->bw_cap ? bw->bw_cap : 4096;
        while (ncap - bw->bw_len < n)
            ncap *= 2;
        uint8_t *nb = realloc(bw->bw_buf, ncap);
        if (!nb) {
            bw->bw_oom = 1;
            return;
        }
        bw->bw_buf = nb;
        bw->bw_cap = ncap;
    }
    memcpy(bw->bw_buf + bw->bw_len, p, n);
    bw->bw_len += n;
}

static void bw_uint(blob_w *bw, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    bw_bytes(bw, b, (size_t)n);
}

static void bw_u8(blob_w *bw, uint8_t v)
{
    bw_uint(bw, v, 1);
}
static void bw_u16(blob_w *bw, uint16_t v)
{
    bw_uint(bw, v, 2);
}
static void bw_u32(blob_w *bw, uint32_t v)
{
    bw_uint(bw, v, 4);
}
static void bw_u64(blob_w *bw, uint64_t v)
{
    bw_uint(bw, v, 8);
}
static void bw_i16(blob_w *bw, int16_t v)
{
    bw_uint(bw, (uint16_t)v, 2);
}
static void bw_i32(blob_w *bw, int32_t v)
{
    bw_uint(bw, (uint32_t)v, 4);
}
static void bw_i64(blob_w *bw, int64_t v)
{
    bw_uint(bw, (uint64_t)v, 8);
}

static void bw_str(blob_w *bw, const char *s, size_t cap)
{
    const size_t n = strnlen(s, cap - 1);
    bw_u8(bw, (uint8_t)n);
    bw_bytes(bw, s, n);
}

static void bw_network(blob_w *bw, const cdr_network *nw)
{
    bw_u16(bw, nw->nw_mcc);
    bw_i16(bw, nw->nw_mnc);
    bw_i16(bw, nw->nw_zone);
}

static size_t rate_ix_count(const cdr_plan *pl)
{
    return (size_t)CDR_SVC_COUNT * CDR_DIR_COUNT * pl->pl_nzones * pl->pl_nbands;
}

/* 1 when a zone or rate of pl declares a charge class (the blob is then format 2). */
static int declares_class(const cdr_plan *pl)
{
    for (uint16_t z = 0; z < pl->pl_nzones && z < CDR_PLAN_MAX_ZONES; z++)
        if (pl->pl_zones[z].zo_class)
            return 1;
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        if (pl->pl_rates[i].ra_class)
            return 1;
    return 0;
}

int cdr_plan_serialize(const cdr_plan *pl, void **blob, size_t *len)
{
    if (!pl || !blob || !len)
        return CDR_EINVAL;
    *blob = NULL;
    *len = 0;
    blob_w bw = {0};
    uint8_t header[BLOB_HEADER] = {0};
    bw_bytes(&bw, header, sizeof header);

    bw_str(&bw, pl->pl_id, sizeof pl->pl_id);
    bw_u32(&bw, pl->pl_version);
    bw_i64(&bw, pl->pl_effective_from);
    bw_bytes(&bw, pl->pl_currency, 3);
    bw_i64(&bw, pl->pl_monthly_fee);
    bw_str(&bw, pl->pl_tz.tz_name, sizeof pl->pl_tz.tz_name);
    bw_u32(&bw, pl->pl_tz.tz_n);
    for (uint32_t i = 0; i < pl->pl_tz.tz_n; i++) {
        bw_i64(&bw, pl->pl_tz.tz_at[i]);
        bw_i32(&bw, pl->pl_tz.tz_off[i]);
    }

    bw_u16(&bw, pl->pl_nzones);
    for (uint16_t z = 0; z < pl->pl_nzones; z++) {
        bw_str(&bw, pl->pl_zones[z].zo_name, CDR_NAME_MAX);
        bw_u8(&bw, pl->pl_zones[z].zo_kind);
    }
    bw_i16(&bw, pl->pl_home_zone);
    bw_i16(&bw, pl->pl_default_zone);

    bw_u32(&bw, pl->pl_ntrie);
    for (uint32_t i = 0; i < pl->pl_ntrie; i++) {
        const cdr_trie_node *tn = &pl->pl_trie[i];
        uint16_t mask = 0;
        for (int d = 0; d < 10; d++)
            if (tn->tn_child[d])
                mask |= (uint16_t)(1u << d);
        bw_u16(&bw, mask);
        for (int d = 0; d < 10; d++)
            if (tn->tn_child[d])
                bw_u32(&bw, (uint32_t)tn->tn_child[d]);
        bw_i16(&bw, tn->tn_zone);
        bw_i16(&bw, tn->tn_exact);
    }

    bw_u16(&bw, pl->pl_nhome);
    for (uint16_t i = 0; i < pl->pl_nhome; i++)
        bw_network(&bw, &pl->pl_home[i]);
    bw_u32(&bw, pl->pl_nroam);
    for (uint32_t i = 0; i < pl->pl_nroam; i++)
        bw_network(&bw, &pl->pl_roam[i]);

    bw_u8(&bw, pl->pl_nbands);
    for (uint8_t b = 0; b < pl->pl_nbands; b++)
        bw_str(&bw, pl->pl_band_names[b], CDR_NAME_MAX);
    bw_bytes(&bw, pl->pl_band_of, sizeof pl->pl_band_of);

    bw_u32(&bw, pl->pl_nholidays);
    for (uint32_t i = 0; i < pl->pl_nholidays; i++)
        bw_i32(&bw, pl->pl_holidays[i]);

    bw_u32(&bw, pl->pl_nrates);
    for (uint32_t i = 0; i < pl->pl_nrates; i++) {
        const cdr_rate *ra = &pl->pl_rates[i];
        bw_i64(&bw, ra->ra_connect_fee);
        bw_u64(&bw, ra->ra_unit);
        bw_u64(&bw, ra->ra_first);
        bw_u64(&bw, ra->ra_next);
        bw_i64(&bw, ra->ra_min_charge);
        bw_i64(&bw, ra->ra_max_charge);
        bw_i64(&bw, ra->ra_round_to);
        bw_u8(&bw, ra->ra_rounding);
        bw_u8(&bw, ra->ra_ntiers);
        for (uint8_t t = 0; t < ra->ra_ntiers && t < CDR_PLAN_MAX_TIERS; t++) {
            bw_u64(&bw, ra->ra_tiers[t].ti_from);
            bw_i64(&bw, ra->ra_tiers[t].ti_price);
        }
    }
    const size_t nix = pl->pl_rate_ix ? rate_ix_count(pl) : 0;
    bw_u32(&bw, (uint32_t)nix);
    for (size_t i = 0; i < nix; i++)
        bw_u16(&bw, pl->pl_rate_ix[i]);

    bw_u8(&bw, pl->pl_nbundles);
    for (uint8_t i = 0; i < pl->pl_nbundles; i++) {
        const cdr_bundle *bu = &pl->pl_bundles[i];
        bw_str(&bw, bu->bu_name, CDR_NAME_MAX);
        bw_u8(&bw, bu->bu_service);
        bw_u8(&bw, bu->bu_pool);
        bw_u64(&bw, bu->bu_zones);
        bw_u64(&bw, bu->bu_units);
    }
    const int classes = declares_class(pl);
    if (classes) {
        for (uint16_t z = 0; z < pl->pl_nzones; z++)
            bw_u8(&bw, pl->pl_zones[z].zo_class);
        for (uint32_t i = 0; i < pl->pl_nrates; i++)
            bw_u8(&bw, pl->pl_rates[i].ra_class);
    }
    if (bw.bw_oom) {
        free(bw.bw_buf);
        return CDR_ENOMEM;
    }

    /* The header, now that the body is known. */
    const uint64_t body = bw.bw_len - BLOB_HEADER;
    const uint64_t sum = fnv1a64(bw.bw_buf + BLOB_HEADER, (size_t)body);
    blob_w hw = {0};
    bw_bytes(&hw, BLOB_MAGIC, 8); /* the literal's NUL is the 8th byte */
    bw_u32(&hw, classes ? BLOB_FORMAT_CLASSES : BLOB_FORMAT);
    bw_u32(&hw, 0);
    bw_u64(&hw, body);
    bw_u64(&hw, sum);
    if (hw.bw_oom) {
        free(bw.bw_buf);
        return CDR_ENOMEM;
    }
    memcpy(bw.bw_buf, hw.bw_buf, BLOB_HEADER);
    free(hw.bw_buf);
    *blob = bw.bw_buf;
    *len = bw.bw_len;
    return 0;
}

/* ---- reader --------------------------------------------------------------------------------- */

typedef struct blob_r {
    const uint8_t *br_p;
    size_t br_len;
    size_t br_off;
    const char *br_bad; /* what failed first; NULL while all is well */
    size_t br_bad_off;
} blob_r;

/* Mark the reader failed (first failure wins) and return 0. */
static int br_fail(blob_r *br, const char *what)
{
    if (!br->br_bad) {
        br->br_bad = what;
        br->br_bad_off = br->br_off;
    }
    return 0;
}

static uint64_t br_uint(blob_r *br, int n, const char *what)
{
    if (br->br_bad)
        return 0;
    if (br->br_len - br->br_off < (size_t)n)
        return br_fail(br, what);
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)br->br_p[br->br_off + (size_t)i] << (8 * i);
    br->br_off += (size_t)n;
    return v;
}

static uint8_t br_u8(blob_r *br, const char *what)
{
    return (uint8_t)br_uint(br, 1, what);
}
static uint16_t br_u16(blob_r *br, const char *what)
{
    return (uint16_t)br_uint(br, 2, what);
}
static uint32_t br_u32(blob_r *br, const char *what)
{
    return (uint32_t)br_uint(br, 4, what);
}
static uint64_t br_u64(blob_r *br, const char *what)
{
    return br_uint(br, 8, what);
}
static int16_t br_i16(blob_r *br, const char *what)
{
    return (int16_t)(uint16_t)br_uint(br, 2, what);
}
static int32_t br_i32(blob_r *br, const char *what)
{
    return (int32_t)(uint32_t)br_uint(br, 4, what);
}
static int64_t br_i64(blob_r *br, const char *what)
{
    return (int64_t)br_uint(br, 8, what);
}

static void br_bytes(blob_r *br, void *out, size_t n, const char *what)
{
    if (br->br_bad)
        return;
    if (br->br_len - br->br_off < n) {
        br_fail(br, what);
        return;
    }
    memcpy(out, br->br_p + br->br_off, n);
    br->br_off += n;
}

/* A string of 1..cap-1 bytes without NUL into out (NUL-terminated). */
static void br_str(blob_r *br, char *out, size_t cap, const char *what)
{
    const uint8_t n = br_u8(br, what);
    if (br->br_bad)
        return;
    if (n >= cap) {
        br_fail(br, what);
        return;
    }
    br_bytes(br, out, n, what);
    out[n] = '\0';
    if (!br->br_bad && strlen(out) != n)
        br_fail(br, what);
}

/* A count of elements of at least elem bytes each: no more than max, nor than the rest holds. */
static uint32_t br_count(blob_r *br, uint32_t n, size_t elem, uint64_t max, const char *what)
{
    if (br->br_bad)
        return 0;
    if (n > max || (uint64_t)n * elem > br->br_len - br->br_off) {
        br_fail(br, what);
        return 0;
    }
    return n;
}

static int br_zone_ok(const cdr_plan *pl, int16_t z)
{
    return z == CDR_NO_ZONE || (z >= 0 && z < pl->pl_nzones);
}

static void br_network(blob_r *br, const cdr_plan *pl, cdr_network *nw, const char *what)
{
    nw->nw_mcc = br_u16(br, what);
    nw->nw_mnc = br_i16(br, what);
    nw->nw_zone = br_i16(br, what);
    if (!br->br_bad && (nw->nw_mcc == 0 || nw->nw_mcc > 999 || nw->nw_mnc < -1 ||
                        nw->nw_mnc > 999 || !br_zone_ok(pl, nw->nw_zone)))
        br_fail(br, what);
}

/* Check the header; on success the body is br_p[BLOB_HEADER .. len) and *fmt its format. */
static int blob_header(const uint8_t *p, size_t len, uint32_t *fmt, const char **why)
{
    if (len < BLOB_HEADER || memcmp(p, BLOB_MAGIC, 8) != 0) {
        *why = "not a compiled plan (bad magic)";
        return CDR_FORMAT;
    }
    blob_r br = {p, len, 8, NULL, 0};
    *fmt = br_u32(&br, "format");
    if (*fmt != BLOB_FORMAT && *fmt != BLOB_FORMAT_CLASSES) {
        *why = "unsupported plan format version";
        return CDR_VERSION;
    }
    const uint32_t reserved = br_u32(&br, "reserved");
    const uint64_t body = br_u64(&br, "length");
    const uint64_t sum = br_u64(&br, "checksum");
    if (reserved != 0 || body != len - BLOB_HEADER) {
        *why = "length does not match";
        return CDR_FORMAT;
    }
    if (fnv1a64(p + BLOB_HEADER, (size_t)body) != sum) {
        *why = "checksum does not match";
        return CDR_FORMAT;
    }
    return 0;
}

int cdr_plan_blob_peek(const void *blob, size_t len, char id[CDR_NAME_MAX], uint32_t *version,
                       cdr_time *effective_from)
{
    const char *why;
    uint32_t fmt;
    if (!blob)
        return CDR_FORMAT;
    int rc = blob_header(blob, len, &fmt, &why);
    if (rc)
        return rc;
    blob_r br = {blob, len, BLOB_HEADER, NULL, 0};
    br_str(&br, id, CDR_NAME_MAX, "id");
    *version = br_u32(&br, "version");
    *effective_from = br_i64(&br, "effective_from");
    return br.br_bad ? CDR_FORMAT : 0;
}

/* The classes section of format 2 (the counts are the body's): each 0 or a class a plan may
 * declare, none on a free zone, and at least one declared (else the plan is written as format 1).
 */
static void blob_classes(blob_r *br, cdr_plan *pl)
{
    int declared = 0;
    for (uint16_t z = 0; z < pl->pl_nzones && !br->br_bad; z++) {
        const uint8_t c = pl->pl_zones[z].zo_class = br_u8(br, "zone class");
        if (!br->br_bad && c != 0 &&
            (c < CDR_CLASS_PLAN_FIRST || c > CDR_CLASS_PLAN_LAST ||
             pl->pl_zones[z].zo_kind == CDR_ZONE_FREE))
            br_fail(br, "zone class");
        declared |= c != 0;
    }
    for (uint32_t i = 0; i < pl->pl_nrates && !br->br_bad; i++) {
        const uint8_t c = pl->pl_rates[i].ra_class = br_u8(br, "rate class");
        if (!br->br_bad && c != 0 && (c < CDR_CLASS_PLAN_FIRST || c > CDR_CLASS_PLAN_LAST))
            br_fail(br, "rate class");
        declared |= c != 0;
    }
    if (!br->br_bad && !declared)
        br_fail(br, "charge classes (none declared in format 2)");
}

/* Decode the body of format fmt into pl (zeroed, owned by the caller, freed by cdr_plan_free on
 * failure). */
static void blob_body(blob_r *br, uint32_t fmt, cdr_plan *pl)
{
    br_str(br, pl->pl_id, sizeof pl->pl_id, "id");
    pl->pl_version = br_u32(br, "version");
    pl->pl_effective_from = br_i64(br, "effective_from");
    br_bytes(br, pl->pl_currency, 3, "currency");
    pl->pl_currency[3] = '\0';
    for (int i = 0; i < 3 && !br->br_bad; i++)
        if (pl->pl_currency[i] < 'A' || pl->pl_currency[i] > 'Z')
            br_fail(br, "currency");
    pl->pl_monthly_fee = br_i64(br, "monthly_fee");
    if (!br->br_bad && (pl->pl_version == 0 || pl->pl_monthly_fee < 0))
        br_fail(br, "version or monthly_fee");

    br_str(br, pl->pl_tz.tz_name, sizeof pl->pl_tz.tz_name, "time zone name");
    const uint32_t ntz = br_count(br, br_u32(br, "time zone"), 12, 1u << 20, "time zone");
    if (br->br_bad)
        return;
    if (ntz) {
        pl->pl_tz.tz_at = malloc(ntz * sizeof *pl->pl_tz.tz_at);
        pl->pl_tz.tz_off = malloc(ntz * sizeof *pl->pl_tz.tz_off);
        if (!pl->pl_tz.tz_at || !pl->pl_tz.tz_off) {
            br_fail(br, "out of memory");
            return;
        }
        pl->pl_tz.tz_n = ntz;
        for (uint32_t i = 0; i < ntz; i++) {
            pl->pl_tz.tz_at[i] = br_i64(br, "time zone");
            pl->pl_tz.tz_off[i] = br_i32(br, "time zone");
            if (!br->br_bad &&
                ((i == 0 && pl->pl_tz.tz_at[0] != INT64_MIN) ||
                 (i > 0 && pl->pl_tz.tz_at[i] <= pl->pl_tz.tz_at[i - 1]) ||
                 pl->pl_tz.tz_off[i] < -26 * 3600 || pl->pl_tz.tz_off[i] > 26 * 3600))
                br_fail(br, "time zone table");
        }
    }

    pl->pl_nzones =
        (uint16_t)br_count(br, br_u16(br, "zones"), 2, CDR_PLAN_MAX_ZONES, "zone count");
    if (!br->br_bad && pl->pl_nzones == 0)
        br_fail(br, "zone count");
    for (uint16_t z = 0; z < pl->pl_nzones && !br->br_bad; z++) {
        br_str(br, pl->pl_zones[z].zo_name, CDR_NAME_MAX, "zone name");
        pl->pl_zones[z].zo_kind = br_u8(br, "zone kind");
        if (!br->br_bad && pl->pl_zones[z].zo_kind >= CDR_ZONE_KIND_COUNT)
            br_fail(br, "zone kind");
    }
    pl->pl_home_zone = br_i16(br, "home zone");
    pl->pl_default_zone = br_i16(br, "default zone");
    if (!br->br_bad && (!br_zone_ok(pl, pl->pl_home_zone) || !br_zone_ok(pl, pl->pl_default_zone)))
        br_fail(br, "home or default zone");

    const uint32_t ntrie = br_count(br, br_u32(br, "trie"), 6, INT32_MAX, "trie size");
    if (!br->br_bad && ntrie == 0)
        br_fail(br, "trie size");
    if (br->br_bad)
        return;
    pl->pl_trie = calloc(ntrie, sizeof *pl->pl_trie);
    if (!pl->pl_trie) {
        br_fail(br, "out of memory");
        return;
    }
    pl->pl_ntrie = ntrie;
    for (uint32_t i = 0; i < ntrie && !br->br_bad; i++) {
        cdr_trie_node *tn = &pl->pl_trie[i];
        const uint16_t mask = br_u16(br, "trie node");
        if (mask >= 1u << 10)
            br_fail(br, "trie node");
        for (int d = 0; d < 10 && !br->br_bad; d++) {
            if (!(mask & (1u << d)))
                continue;
            const uint32_t c = br_u32(br, "trie child");
            /* Children always come after their parent: no cycles, no dangling index. */
            if (!br->br_bad && (c <= i || c >= ntrie))
                br_fail(br, "trie child");
            tn->tn_child[d] = (int32_t)c;
        }
        tn->tn_zone = br_i16(br, "trie zone");
        tn->tn_exact = br_i16(br, "trie zone");
        if (!br->br_bad && (!br_zone_ok(pl, tn->tn_zone) || !br_zone_ok(pl, tn->tn_exact)))
            br_fail(br, "trie zone");
    }

    pl->pl_nhome = (uint16_t)br_count(br, br_u16(br, "home networks"), 6, CDR_PLAN_MAX_HOME,
                                      "home network count");
    for (uint16_t i = 0; i < pl->pl_nhome && !br->br_bad; i++)
        br_network(br, pl, &pl->pl_home[i], "home network");
    const uint32_t nroam =
        br_count(br, br_u32(br, "roaming networks"), 6, UINT32_MAX, "roaming network count");
    if (br->br_bad)
        return;
    if (nroam) {
        pl->pl_roam = malloc(nroam * sizeof *pl->pl_roam);
        if (!pl->pl_roam) {
            br_fail(br, "out of memory");
            return;
        }
        pl->pl_nroam = nroam;
        for (uint32_t i = 0; i < nroam && !br->br_bad; i++) {
            br_network(br, pl, &pl->pl_roam[i], "roaming network");
            if (!br->br_bad && pl->pl_roam[i].nw_zone == CDR_NO_ZONE)
                br_fail(br, "roaming network");
        }
    }

    pl->pl_nbands = (uint8_t)br_count(br, br_u8(br, "bands"), 2, CDR_PLAN_MAX_BANDS, "band count");
    if (!br->br_bad && pl->pl_nbands == 0)
        br_fail(br, "band count");
    for (uint8_t b = 0; b < pl->pl_nbands && !br->br_bad; b++)
        br_str(br, pl->pl_band_names[b], CDR_NAME_MAX, "band name");
    br_bytes(br, pl->pl_band_of, sizeof pl->pl_band_of, "band table");
    for (int d = 0; d < CDR_DAYTYPES && !br->br_bad; d++)
        for (int m = 0; m < CDR_MINUTES_PER_DAY && !br->br_bad; m++)
            if (pl->pl_band_of[d][m] >= pl->pl_nbands)
                br_fail(br, "band table");

    const uint32_t nhol = br_count(br, br_u32(br, "holidays"), 4, UINT32_MAX, "holiday count");
    if (br->br_bad)
        return;
    if (nhol) {
        pl->pl_holidays = malloc(nhol * sizeof *pl->pl_holidays);
        if (!pl->pl_holidays) {
            br_fail(br, "out of memory");
            return;
        }
        pl->pl_nholidays = nhol;
        for (uint32_t i = 0; i < nhol && !br->br_bad; i++) {
            const int32_t ymd = pl->pl_holidays[i] = br_i32(br, "holiday");
            if (!br->br_bad &&
                ((i > 0 && ymd <= pl->pl_holidays[i - 1]) || ymd < 0 ||
                 !cdr_date_valid(ymd / 10000, (unsigned)(ymd / 100 % 100), (unsigned)(ymd % 100))))
                br_fail(br, "holiday");
        }
    }

    const uint32_t nrates = br_count(br, br_u32(br, "rates"), 74, CDR_NO_RATE - 1, "rate count");
    if (br->br_bad)
        return;
    pl->pl_rates = calloc(nrates ? nrates : 1, sizeof *pl->pl_rates);
    if (!pl->pl_rates) {
        br_fail(br, "out of memory");
        return;
    }
    pl->pl_nrates = nrates;
    for (uint32_t i = 0; i < nrates && !br->br_bad; i++) {
        cdr_rate *ra = &pl->pl_rates[i];
        ra->ra_connect_fee = br_i64(br, "rate");
        ra->ra_unit = br_u64(br, "rate");
        ra->ra_first = br_u64(br, "rate");
        ra->ra_next = br_u64(br, "rate");
        ra->ra_min_charge = br_i64(br, "rate");
        ra->ra_max_charge = br_i64(br, "rate");
        ra->ra_round_to = br_i64(br, "rate");
        ra->ra_rounding = br_u8(br, "rate");
        ra->ra_ntiers = br_u8(br, "rate");
        if (!br->br_bad && (ra->ra_connect_fee < 0 || ra->ra_unit == 0 || ra->ra_first == 0 ||
                            ra->ra_next == 0 || ra->ra_min_charge < -1 || ra->ra_max_charge < -1 ||
                            ra->ra_round_to <= 0 || ra->ra_rounding >= CDR_ROUND_COUNT ||
                            ra->ra_ntiers == 0 || ra->ra_ntiers > CDR_PLAN_MAX_TIERS))
            br_fail(br, "rate");
        for (uint8_t t = 0; t < ra->ra_ntiers && !br->br_bad; t++) {
            ra->ra_tiers[t].ti_from = br_u64(br, "tier");
            ra->ra_tiers[t].ti_price = br_i64(br, "tier");
            if (!br->br_bad && ((t == 0 && ra->ra_tiers[0].ti_from != 0) ||
                                (t > 0 && ra->ra_tiers[t].ti_from <= ra->ra_tiers[t - 1].ti_from) ||
                                ra->ra_tiers[t].ti_price < 0))
                br_fail(br, "tier");
        }
    }
    const uint32_t nix = br_u32(br, "rate index");
    if (!br->br_bad && (nix != rate_ix_count(pl) || (uint64_t)nix * 2 > br->br_len - br->br_off))
        br_fail(br, "rate index size");
    if (br->br_bad)
        return;
    pl->pl_rate_ix = malloc(nix ? nix * sizeof *pl->pl_rate_ix : 1);
    if (!pl->pl_rate_ix) {
        br_fail(br, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < nix && !br->br_bad; i++) {
        pl->pl_rate_ix[i] = br_u16(br, "rate index");
        if (!br->br_bad && pl->pl_rate_ix[i] != CDR_NO_RATE && pl->pl_rate_ix[i] >= nrates)
            br_fail(br, "rate index");
    }

    pl->pl_nbundles =
        (uint8_t)br_count(br, br_u8(br, "bundles"), 19, CDR_PLAN_MAX_BUNDLES, "bundle count");
    for (uint8_t i = 0; i < pl->pl_nbundles && !br->br_bad; i++) {
        cdr_bundle *bu = &pl->pl_bundles[i];
        br_str(br, bu->bu_name, CDR_NAME_MAX, "bundle name");
        bu->bu_service = br_u8(br, "bundle");
        bu->bu_pool = br_u8(br, "bundle");
        bu->bu_zones = br_u64(br, "bundle");
        bu->bu_units = br_u64(br, "bundle");
        const uint64_t all = pl->pl_nzones >= 64 ? UINT64_MAX : (1ull << pl->pl_nzones) - 1;
        if (!br->br_bad &&
            (bu->bu_service >= CDR_SVC_COUNT || bu->bu_pool > 1 || (bu->bu_zones & ~all) != 0))
            br_fail(br, "bundle");
    }
    if (fmt == BLOB_FORMAT_CLASSES)
        blob_classes(br, pl);
    if (!br->br_bad && br->br_off != br->br_len)
        br_fail(br, "trailing bytes");
}

int cdr_plan_deserialize(const void *blob, size_t len, cdr_plan **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no output pointer");
    *out = NULL;
    if (!blob)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no blob");
    const char *why;
    uint32_t fmt;
    int rc = blob_header(blob, len, &fmt, &why);
    if (rc)
        return cdr_diag_set(dg, rc, NULL, 0, 0, "plan blob: %s", why);
    cdr_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    blob_r br = {blob, len, BLOB_HEADER, NULL, 0};
    blob_body(&br, fmt, pl);
    if (br.br_bad) {
        const int code = strcmp(br.br_bad, "out of memory") == 0 ? CDR_ENOMEM : CDR_FORMAT;
        cdr_plan_free(pl);
        return cdr_diag_set(dg, code, NULL, 0, 0, "plan blob: bad or truncated %s at byte %zu",
                            br.br_bad, br.br_bad_off);
    }
    cdr_plan_fill_band_until(pl);
    *out = pl;
    return 0;
}
