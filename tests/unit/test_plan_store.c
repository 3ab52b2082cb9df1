/* test_plan_store.c - plan blobs, the LMDB plan store and plan sets. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_rules.h"

#define PLANS CDR_SOURCE_DIR "/rating-rules/plans"

static const char *const sample_files[] = {"cn-enterprise.yaml",   "cn-iot-data.yaml",
                                           "cn-payg.yaml",         "cn-payg-v2.yaml",
                                           "cn-personal-128.yaml", "de-comfort.yaml"};
#define NSAMPLES (sizeof sample_files / sizeof sample_files[0])

/* ---- helpers -------------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Copy a sample plan into dir, optionally replacing the first `from` by `to`. */
static void copy_sample(const char *dir, const char *name, const char *as, const char *from,
                        const char *to)
{
    char src[4096];
    snprintf(src, sizeof src, "%s/%s", PLANS, name);
    char *text = read_all(src, NULL);
    if (from) {
        char *at = strstr(text, from);
        cr_assert_not_null(at, "%s not in %s", from, name);
        const size_t nl = strlen(text) - strlen(from) + strlen(to) + 1;
        char *nt = malloc(nl);
        cr_assert_not_null(nt);
        snprintf(nt, nl, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
        free(text);
        text = nt;
    }
    write_file(dir, as ? as : name, text);
    free(text);
}

static char *temp_dir(void)
{
    char *d = strdup("/tmp/cdr-plan-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static cdr_plan *compile_sample(const char *name)
{
    char path[4096], buf[1024];
    snprintf(path, sizeof path, "%s/%s", PLANS, name);
    cdr_plan *pl = NULL;
    cdr_diag dg;
    const int rc = cdr_plan_compile_file(path, &pl, &dg);
    cr_assert_eq(rc, 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    return pl;
}

static uint64_t generation(cdr_store *st)
{
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), 0);
    MDB_dbi dbi;
    uint64_t gen = 0;
    if (mdb_dbi_open(txn, CDR_DB_PLAN_META, 0, &dbi) == 0) {
        MDB_val k = {10, "generation"}, v;
        if (mdb_get(txn, dbi, &k, &v) == 0) {
            cr_assert_eq(v.mv_size, 8);
            for (int i = 0; i < 8; i++)
                gen = gen << 8 | ((const uint8_t *)v.mv_data)[i];
        }
    }
    mdb_txn_abort(txn);
    return gen;
}

/* Every field and table of two plans. */
static void assert_plans_equal(const cdr_plan *a, const cdr_plan *b)
{
    cr_assert_str_eq(a->pl_id, b->pl_id);
    cr_assert_eq(a->pl_version, b->pl_version);
    cr_assert_eq(a->pl_effective_from, b->pl_effective_from);
    cr_assert_str_eq(a->pl_currency, b->pl_currency);
    cr_assert_str_eq(a->pl_tz.tz_name, b->pl_tz.tz_name);
    cr_assert_eq(a->pl_tz.tz_n, b->pl_tz.tz_n);
    cr_assert_arr_eq(a->pl_tz.tz_at, b->pl_tz.tz_at, a->pl_tz.tz_n * sizeof *a->pl_tz.tz_at);
    cr_assert_arr_eq(a->pl_tz.tz_off, b->pl_tz.tz_off, a->pl_tz.tz_n * sizeof *a->pl_tz.tz_off);
    cr_assert_eq(a->pl_monthly_fee, b->pl_monthly_fee);
    cr_assert_eq(a->pl_nzones, b->pl_nzones);
    for (int z = 0; z < a->pl_nzones; z++) {
        cr_assert_str_eq(a->pl_zones[z].zo_name, b->pl_zones[z].zo_name);
        cr_assert_eq(a->pl_zones[z].zo_kind, b->pl_zones[z].zo_kind);
        cr_assert_eq(a->pl_zones[z].zo_class, b->pl_zones[z].zo_class);
    }
    cr_assert_eq(a->pl_home_zone, b->pl_home_zone);
    cr_assert_eq(a->pl_default_zone, b->pl_default_zone);
    cr_assert_eq(a->pl_ntrie, b->pl_ntrie);
    for (uint32_t i = 0; i < a->pl_ntrie; i++) {
        cr_assert_arr_eq(a->pl_trie[i].tn_child, b->pl_trie[i].tn_child,
                         sizeof a->pl_trie[i].tn_child);
        cr_assert_eq(a->pl_trie[i].tn_zone, b->pl_trie[i].tn_zone);
        cr_assert_eq(a->pl_trie[i].tn_exact, b->pl_trie[i].tn_exact);
    }
    cr_assert_eq(a->pl_nhome, b->pl_nhome);
    for (int i = 0; i < a->pl_nhome; i++) {
        cr_assert_eq(a->pl_home[i].nw_mcc, b->pl_home[i].nw_mcc);
        cr_assert_eq(a->pl_home[i].nw_mnc, b->pl_home[i].nw_mnc);
        cr_assert_eq(a->pl_home[i].nw_zone, b->pl_home[i].nw_zone);
    }
    cr_assert_eq(a->pl_nroam, b->pl_nroam);
    for (uint32_t i = 0; i < a->pl_nroam; i++) {
        cr_assert_eq(a->pl_roam[i].nw_mcc, b->pl_roam[i].nw_mcc);
        cr_assert_eq(a->pl_roam[i].nw_mnc, b->pl_roam[i].nw_mnc);
        cr_assert_eq(a->pl_roam[i].nw_zone, b->pl_roam[i].nw_zone);
    }
    cr_assert_eq(a->pl_nbands, b->pl_nbands);
    for (int i = 0; i < a->pl_nbands; i++)
        cr_assert_str_eq(a->pl_band_names[i], b->pl_band_names[i]);
    cr_assert_arr_eq(a->pl_band_of, b->pl_band_of, sizeof a->pl_band_of);
    cr_assert_arr_eq(a->pl_band_until, b->pl_band_until, sizeof a->pl_band_until);
    cr_assert_eq(a->pl_nholidays, b->pl_nholidays);
    if (a->pl_nholidays)
        cr_assert_arr_eq(a->pl_holidays, b->pl_holidays, a->pl_nholidays * sizeof *a->pl_holidays);
    cr_assert_eq(a->pl_nrates, b->pl_nrates);
    for (uint32_t i = 0; i < a->pl_nrates; i++) {
        const cdr_rate *x = &a->pl_rates[i], *y = &b->pl_rates[i];
        cr_assert_eq(x->ra_connect_fee, y->ra_connect_fee);
        cr_assert_eq(x->ra_unit, y->ra_unit);
        cr_assert_eq(x->ra_first, y->ra_first);
        cr_assert_eq(x->ra_next, y->ra_next);
        cr_assert_eq(x->ra_min_charge, y->ra_min_charge);
        cr_assert_eq(x->ra_max_charge, y->ra_max_charge);
        cr_assert_eq(x->ra_round_to, y->ra_round_to);
        cr_assert_eq(x->ra_rounding, y->ra_rounding);
        cr_assert_eq(x->ra_ntiers, y->ra_ntiers);
        cr_assert_eq(x->ra_class, y->ra_class);
        for (int t = 0; t < x->ra_ntiers; t++) {
            cr_assert_eq(x->ra_tiers[t].ti_from, y->ra_tiers[t].ti_from);
            cr_assert_eq(x->ra_tiers[t].ti_price, y->ra_tiers[t].ti_price);
        }
    }
    const size_t nix = (size_t)CDR_SVC_COUNT * CDR_DIR_COUNT * a->pl_nzones * a->pl_nbands;
    cr_assert_arr_eq(a->pl_rate_ix, b->pl_rate_ix, nix * sizeof *a->pl_rate_ix);
    cr_assert_eq(a->pl_nbundles, b->pl_nbundles);
    for (int i = 0; i < a->pl_nbundles; i++) {
        const cdr_bundle *x = &a->pl_bundles[i], *y = &b->pl_bundles[i];
        cr_assert_str_eq(x->bu_name, y->bu_name);
        cr_assert_eq(x->bu_service, y->bu_service);
        cr_assert_eq(x->bu_pool, y->bu_pool);
        cr_assert_eq(x->bu_zones, y->bu_zones);
        cr_assert_eq(x->bu_units, y->bu_units);
    }
}

/* Every plan of the store, serialised, in (id, version) order: the store's visible state. */
static void set_blobs(cdr_store *st, void ***blobs, size_t **lens, uint32_t *n)
{
    cdr_plan_set *ps;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", cdr_diag_format(&dg, buf, sizeof buf));
    *n = ps->ps_nplans;
    *blobs = calloc(*n + 1, sizeof **blobs);
    *lens = calloc(*n + 1, sizeof **lens);
    for (uint32_t i = 0; i < *n; i++)
        cr_assert_eq(cdr_plan_serialize(ps->ps_plans[i], &(*blobs)[i], &(*lens)[i]), 0);
    cdr_plan_set_release(ps);
}

static void free_blobs(void **blobs, size_t *lens, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(blobs[i]);
    free(blobs);
    free(lens);
}

/* FNV-1a 64, as in the documented blob header, to forge blobs that pass the checksum. */
static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void fix_checksum(uint8_t *blob, size_t len)
{
    const uint64_t h = fnv1a64(blob + 32, len - 32);
    for (int i = 0; i < 8; i++)
        blob[24 + i] = (uint8_t)(h >> (8 * i));
}

/* ---- blobs ---------------------------------------------------------------------------------- */

Test(plan_blob, round_trip_is_identical)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        cdr_plan *pl = compile_sample(sample_files[i]);
        void *blob;
        size_t len;
        cr_assert_eq(cdr_plan_serialize(pl, &blob, &len), 0);
        cr_assert_gt(len, 32);
        cr_assert_eq(memcmp(blob, "CDRPLAN", 8), 0);
        /* the samples declare no charge class: format 1, as before format 2 existed */
        cr_assert_eq(memcmp((const uint8_t *)blob + 8, "\1\0\0\0\0\0\0\0", 8), 0, "%s",
                     sample_files[i]);
        cdr_plan *back = NULL;
        cdr_diag dg;
        char buf[1024];
        cr_assert_eq(cdr_plan_deserialize(blob, len, &back, &dg), 0, "%s: %s", sample_files[i],
                     cdr_diag_format(&dg, buf, sizeof buf));
        assert_plans_equal(pl, back);
        /* Canonical: the decoded plan serialises to the same bytes. */
        void *again;
        size_t alen;
        cr_assert_eq(cdr_plan_serialize(back, &again, &alen), 0);
        cr_assert_eq(alen, len);
        cr_assert_eq(memcmp(again, blob, len), 0);
        free(again);
        free(blob);
        cdr_plan_free(back);
        cdr_plan_free(pl);
    }
}

Test(plan_blob, garbage_fails_cleanly)
{
    cdr_plan *pl = compile_sample("cn-personal-128.yaml");
    uint8_t *blob;
    size_t len;
    cr_assert_eq(cdr_plan_serialize(pl, (void **)&blob, &len), 0);
    cdr_plan_free(pl);
    cdr_plan *out;
    cdr_diag dg;

    /* Random bytes, with and without a valid header in front. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    uint8_t *junk = malloc(len);
    cr_assert_not_null(junk);
    for (int round = 0; round < 200; round++) {
        const size_t n = (size_t)(x % len);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[i] = (uint8_t)x;
        }
        out = (cdr_plan *)&out;
        cr_assert_neq(cdr_plan_deserialize(junk, n, &out, &dg), 0);
        cr_assert_null(out);
        if (n >= 32) {
            memcpy(junk, blob, 24);
            junk[16] = (uint8_t)(n - 32);
            junk[17] = (uint8_t)((n - 32) >> 8);
            junk[18] = (uint8_t)((n - 32) >> 16);
            memset(junk + 19, 0, 5);
            fix_checksum(junk, n);
            cr_assert_neq(cdr_plan_deserialize(junk, n, &out, &dg), 0);
            cr_assert_null(out);
            cr_assert_eq(dg.dg_code, CDR_FORMAT, "%s", dg.dg_msg);
        }
    }
    free(junk);

    /* Every truncation, and the checksum still refuses a flipped byte. */
    for (size_t n = 0; n < len; n += (n < 200 ? 1 : 97)) {
        out = (cdr_plan *)&out;
        cr_assert_neq(cdr_plan_deserialize(blob, n, &out, &dg), 0, "length %zu", n);
        cr_assert_null(out);
    }
    uint8_t *copy = malloc(len);
    cr_assert_not_null(copy);
    memcpy(copy, blob, len);
    copy[len / 2] ^= 0x40;
    cr_assert_eq(cdr_plan_deserialize(copy, len, &out, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "checksum") != NULL, "%s", dg.dg_msg);

    /* Truncated bodies with a consistent header: the decoder must find the end itself. */
    for (size_t n = 32; n < len; n += (n < 400 ? 1 : 131)) {
        memcpy(copy, blob, n);
        const uint64_t body = n - 32;
        for (int i = 0; i < 8; i++)
            copy[16 + i] = (uint8_t)(body >> (8 * i));
        fix_checksum(copy, n);
        out = (cdr_plan *)&out;
        cr_assert_eq(cdr_plan_deserialize(copy, n, &out, &dg), CDR_FORMAT, "length %zu", n);
        cr_assert_null(out);
    }

    /* Every single-byte change with a forged checksum: refused or decoded, never a crash, and a
     * decoded plan is internally consistent enough to serialise again. */
    for (size_t pos = 32; pos < len; pos += (pos < 2000 ? 1 : 53)) {
        memcpy(copy, blob, len);
        copy[pos] ^= (uint8_t)(0xA5 + pos);
        fix_checksum(copy, len);
        out = NULL;
        if (cdr_plan_deserialize(copy, len, &out, &dg) == 0) {
            void *b2;
            size_t l2;
            cr_assert_eq(cdr_plan_serialize(out, &b2, &l2), 0);
            free(b2);
            cdr_plan_free(out);
        } else {
            cr_assert_null(out);
        }
    }

    /* A future format version is CDR_VERSION; a format-1 body labelled format 2 lacks the
     * classes section. */
    memcpy(copy, blob, len);
    copy[8] = 3;
    cr_assert_eq(cdr_plan_deserialize(copy, len, &out, &dg), CDR_VERSION);
    cr_assert_str_eq(dg.dg_msg, "plan blob: unsupported plan format version");
    copy[8] = 2;
    cr_assert_eq(cdr_plan_deserialize(copy, len, &out, &dg), CDR_FORMAT);
    char want[96];
    snprintf(want, sizeof want, "plan blob: bad or truncated zone class at byte %zu", len);
    cr_assert_str_eq(dg.dg_msg, want);
    cr_assert_eq(cdr_plan_deserialize(NULL, 0, &out, &dg), CDR_EINVAL);
    free(copy);
    free(blob);
}

/* cn-payg with charge classes declared on a zone and on two rates (format 2). */
static cdr_plan *compile_with_classes(void)
{
    char src[4096];
    snprintf(src, sizeof src, "%s/cn-payg.yaml", PLANS);
    char *text = read_all(src, NULL);
    const char *const edits[][2] = {
        {"  - {name: international, prefixes:",
         "  - {name: international, charge_class: value_added, prefixes:"},
        {"  - {service: voice, zone: roam-world, price: 2.99,",
         "  - {service: voice, zone: roam-world, charge_class: premium, price: 2.99,"},
        {"  - {service: sms, zones: [international, roam-world], price: 1.00}",
         "  - {service: sms, zones: [international, roam-world], price: 1.00, charge_class: data}"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        char *at = strstr(text, edits[e][0]);
        cr_assert_not_null(at, "%s", edits[e][0]);
        const size_t nl = strlen(text) - strlen(edits[e][0]) + strlen(edits[e][1]) + 1;
        char *nt = malloc(nl);
        cr_assert_not_null(nt);
        snprintf(nt, nl, "%.*s%s%s", (int)(at - text), text, edits[e][1], at + strlen(edits[e][0]));
        free(text);
        text = nt;
    }
    cdr_plan *pl = NULL;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_plan_compile_text(text, strlen(text), "classes.yaml", &pl, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    free(text);
    return pl;
}

/* A plan that declares a class is format 2: format 1's body, then one class byte per zone and per
 * rate; it decodes to the same plan and encodes to the same bytes again. */
Test(plan_blob, format_2_round_trip)
{
    cdr_plan *pl = compile_with_classes();
    int zclass = -1, nrclass = 0;
    for (int z = 0; z < pl->pl_nzones; z++)
        if (pl->pl_zones[z].zo_class) {
            cr_assert_eq(zclass, -1);
            zclass = z;
        }
    cr_assert_str_eq(pl->pl_zones[zclass].zo_name, "international");
    cr_assert_eq(pl->pl_zones[zclass].zo_class, CDR_CLASS_VALUE_ADDED);
    for (uint32_t i = 0; i < pl->pl_nrates; i++)
        nrclass += pl->pl_rates[i].ra_class != 0;
    cr_assert_eq(nrclass, 2);
    uint8_t *blob, *plain;
    size_t len, plen;
    cr_assert_eq(cdr_plan_serialize(pl, (void **)&blob, &len), 0);
    cr_assert_eq(blob[8], 2, "format 2");
    cdr_plan *back = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_deserialize(blob, len, &back, &dg), 0, "%s", dg.dg_msg);
    assert_plans_equal(pl, back);
    uint8_t *again;
    size_t alen;
    cr_assert_eq(cdr_plan_serialize(back, (void **)&again, &alen), 0);
    cr_assert_eq(alen, len);
    cr_assert_eq(memcmp(again, blob, len), 0);
    free(again);
    cdr_plan_free(back);

    /* without its classes the same plan is format 1, and format 2 is exactly format 1's body plus
     * the classes section */
    const size_t nz = pl->pl_nzones, nr = pl->pl_nrates;
    for (size_t z = 0; z < nz; z++)
        pl->pl_zones[z].zo_class = 0;
    for (size_t i = 0; i < nr; i++)
        pl->pl_rates[i].ra_class = 0;
    cr_assert_eq(cdr_plan_serialize(pl, (void **)&plain, &plen), 0);
    cr_assert_eq(plain[8], 1);
    cr_assert_eq(len, plen + nz + nr);
    cr_assert_eq(memcmp(blob + 32, plain + 32, plen - 32), 0);
    cr_assert_eq(blob[plen + (size_t)zclass], CDR_CLASS_VALUE_ADDED);
    cr_assert_eq(cdr_plan_deserialize(plain, plen, &back, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(back->pl_zones[zclass].zo_class, 0);
    cdr_plan_free(back);
    cdr_plan *sample = compile_sample("cn-payg.yaml");
    void *sblob;
    size_t slen;
    cr_assert_eq(cdr_plan_serialize(sample, &sblob, &slen), 0);
    cr_assert_eq(slen, plen);
    cr_assert_eq(memcmp(sblob, plain, plen), 0, "the plan without classes is the sample plan");
    free(sblob);
    cdr_plan_free(sample);
    free(plain);
    cdr_plan_free(pl);

    /* malformed classes sections, with a forged checksum: each refused at its byte (1-based) */
    uint8_t *copy = malloc(len);
    cr_assert_not_null(copy);
    char want[96];
    const struct {
        size_t at;
        uint8_t val;
        const char *what;
    } bad[] = {
        {plen + (size_t)zclass, CDR_CLASS_FREE, "zone class"},
        {plen + (size_t)zclass, CDR_CLASS_NONE + CDR_CLASS_COUNT, "zone class"},
        {plen + 2, CDR_CLASS_DATA, "zone class"}, /* zone 2, "service", is free */
        {plen + nz, CDR_CLASS_RECURRING_FEE, "rate class"},
        {plen + nz + nr - 1, 0xff, "rate class"},
    };
    cr_assert_eq(blob[plen + 2], 0);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        memcpy(copy, blob, len);
        copy[bad[k].at] = bad[k].val;
        fix_checksum(copy, len);
        cdr_plan *out = (cdr_plan *)&out;
        cr_assert_eq(cdr_plan_deserialize(copy, len, &out, &dg), CDR_FORMAT, "case %zu", k);
        cr_assert_null(out);
        snprintf(want, sizeof want, "plan blob: bad or truncated %s at byte %zu", bad[k].what,
                 bad[k].at + 1); /* 1-based, as every value the decoder refuses */
        cr_assert_str_eq(dg.dg_msg, want, "case %zu", k);
    }
    /* all classes 0 in format 2: not canonical (that plan is written as format 1) */
    memcpy(copy, blob, len);
    memset(copy + plen, 0, nz + nr);
    fix_checksum(copy, len);
    cr_assert_eq(cdr_plan_deserialize(copy, len, &back, &dg), CDR_FORMAT);
    snprintf(want, sizeof want,
             "plan blob: bad or truncated charge classes (none declared in format 2) at byte %zu",
             len);
    cr_assert_str_eq(dg.dg_msg, want);
    /* every truncation of the classes section (with a consistent header) */
    for (size_t n = plen; n < len; n++) {
        memcpy(copy, blob, n);
        for (int i = 0; i < 8; i++)
            copy[16 + i] = (uint8_t)((n - 32) >> (8 * i));
        fix_checksum(copy, n);
        cr_assert_eq(cdr_plan_deserialize(copy, n, &back, &dg), CDR_FORMAT, "length %zu", n);
        cr_assert(strstr(dg.dg_msg, n - plen < nz ? "zone class" : "rate class"), "%s", dg.dg_msg);
    }
    free(copy);
    free(blob);
}

/* ---- plan sets ------------------------------------------------------------------------------ */

Test(plan_set, families_versions_and_refcount)
{
    cdr_plan **plans = malloc(NSAMPLES * sizeof *plans);
    cr_assert_not_null(plans);
    for (size_t i = 0; i < NSAMPLES; i++)
        plans[i] = compile_sample(sample_files[NSAMPLES - 1 - i]);
    cdr_plan_set *ps;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(plans, NSAMPLES, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps->ps_nplans, NSAMPLES);
    cr_assert_eq(ps->ps_nfamilies, 5);
    for (uint32_t i = 1; i < ps->ps_nplans; i++) {
        const int c = strcmp(ps->ps_plans[i - 1]->pl_id, ps->ps_plans[i]->pl_id);
        cr_assert(c < 0 ||
                  (c == 0 && ps->ps_plans[i - 1]->pl_version < ps->ps_plans[i]->pl_version));
    }
    const char *ids[] = {"cn-enterprise", "cn-iot-data", "cn-payg", "cn-personal-128",
                         "de-comfort"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(cdr_plan_set_family(ps, ids[i]), i);
    cr_assert_eq(cdr_plan_set_family(ps, "cn-pay"), -1);
    cr_assert_eq(cdr_plan_set_family(ps, "zz"), -1);
    cr_assert_eq(cdr_plan_set_family(ps, ""), -1);

    const int f = cdr_plan_set_family(ps, "cn-payg");
    const cdr_time v2_from = 1782835200; /* 2026-07-01T00:00:00+08:00 */
    cr_assert_null(cdr_plan_set_at(ps, f, 1767196800 - 1));
    cr_assert_eq(cdr_plan_set_at(ps, f, 1767196800)->pl_version, 1);
    cr_assert_eq(cdr_plan_set_at(ps, f, v2_from - 1)->pl_version, 1);
    cr_assert_eq(cdr_plan_set_at(ps, f, v2_from)->pl_version, 2);
    cr_assert_eq(cdr_plan_set_at(ps, f, INT64_MAX)->pl_version, 2);
    cr_assert_null(cdr_plan_set_at(ps, -1, v2_from));
    cr_assert_null(cdr_plan_set_at(ps, 5, v2_from));

    cr_assert_eq(cdr_plan_set_retain(ps), ps);
    cr_assert_eq(ps->ps_refs, 2);
    cdr_plan_set_release(ps);
    cr_assert_eq(ps->ps_refs, 1);
    cdr_plan_set_release(ps);
    cdr_plan_set_release(NULL);
}

Test(plan_set, duplicate_version_refused)
{
    cdr_plan **plans = malloc(2 * sizeof *plans);
    cr_assert_not_null(plans);
    plans[0] = compile_sample("cn-payg.yaml");
    plans[1] = compile_sample("cn-payg.yaml");
    cdr_plan_set *ps = NULL;
    cdr_diag dg;
    cr_assert_eq(cdr_plan_set_from(plans, 2, &ps, &dg), CDR_EXISTS); /* frees the plans */
    cr_assert_null(ps);
    cr_assert(strstr(dg.dg_msg, "cn-payg version 1 given twice") != NULL, "%s", dg.dg_msg);

    cr_assert_eq(cdr_plan_set_from(NULL, 0, &ps, &dg), 0);
    cr_assert_eq(ps->ps_nplans, 0);
    cr_assert_eq(cdr_plan_set_family(ps, "cn-payg"), -1);
    cdr_plan_set_release(ps);
}

/* ---- the store ------------------------------------------------------------------------------ */

Test(plan_store, compile_samples_and_load)
{
    char *sdir = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg); /* empty store */
    cr_assert_eq(ps->ps_nplans, 0);
    cdr_plan_set_release(ps);

    int n = -1;
    cr_assert_eq(cdr_plan_store_compile_dir(st, PLANS, NULL, &n, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_eq(n, (int)NSAMPLES);
    cr_assert_eq(generation(st), 1);
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps->ps_nplans, NSAMPLES);
    cr_assert_eq(ps->ps_nfamilies, 5);
    const int f = cdr_plan_set_family(ps, "cn-payg");
    cr_assert_eq(cdr_plan_set_at(ps, f, 1782835200)->pl_version, 2);
    cdr_plan *fresh = compile_sample("de-comfort.yaml");
    assert_plans_equal(cdr_plan_set_at(ps, cdr_plan_set_family(ps, "de-comfort"), 1800000000),
                       fresh);
    cdr_plan_free(fresh);
    cdr_plan_set_release(ps);

    /* The same directory again: nothing changes, not even the generation. */
    char *log = NULL;
    size_t loglen = 0;
    FILE *progress = open_memstream(&log, &loglen);
    cr_assert_eq(cdr_plan_store_compile_dir(st, PLANS, progress, &n, &dg), 0, "%s", dg.dg_msg);
    fclose(progress);
    cr_assert_eq(generation(st), 1);
    cr_assert(strstr(log, "cn-payg-v2.yaml: compiled plan cn-payg version 2") != NULL, "%s", log);
    cr_assert(strstr(log, "plan cn-payg version 2 unchanged") != NULL, "%s", log);
    free(log);
    cdr_store_close(st);
    remove_tree(sdir);
}

Test(plan_store, bad_file_keeps_previous_set)
{
    char *sdir = temp_dir(), *d1 = temp_dir(), *d2 = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d1, "de-comfort.yaml", NULL, NULL, NULL);
    int n;
    cr_assert_eq(cdr_plan_store_compile_dir(st, d1, NULL, &n, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_eq(n, 2);
    const uint64_t gen = generation(st);
    void **before;
    size_t *blen;
    uint32_t nbefore;
    set_blobs(st, &before, &blen, &nbefore);
    cr_assert_eq(nbefore, 2);

    /* A good new version, an unchanged plan and one bad file: nothing may be written. */
    copy_sample(d2, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d2, "cn-payg-v2.yaml", NULL, NULL, NULL);
    copy_sample(d2, "de-comfort.yaml", NULL, NULL, NULL);
    copy_sample(d2, "cn-iot-data.yaml", "zz-broken.yaml", "price: 0.10", "price: 0.1O");
    write_file(d2, "README.txt", "not a plan: ignored\n");
    cr_assert_eq(cdr_plan_store_compile_dir(st, d2, NULL, &n, &dg), CDR_FORMAT);
    cr_assert_eq(n, 3); /* the three good files compiled before the bad one */
    cr_assert(strstr(dg.dg_file, "zz-broken.yaml") != NULL, "%s", dg.dg_file);
    cr_assert_eq(dg.dg_line, 21);
    cr_assert_eq(dg.dg_column, 44);
    cr_assert(strstr(dg.dg_msg, "price '0.1O' is not a decimal amount") != NULL, "%s", dg.dg_msg);

    cr_assert_eq(generation(st), gen);
    void **after;
    size_t *alen;
    uint32_t nafter;
    set_blobs(st, &after, &alen, &nafter);
    cr_assert_eq(nafter, nbefore);
    for (uint32_t i = 0; i < nafter; i++) {
        cr_assert_eq(alen[i], blen[i]);
        cr_assert_eq(memcmp(after[i], before[i], alen[i]), 0);
    }
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    const int f = cdr_plan_set_family(ps, "cn-payg");
    cr_assert_eq(cdr_plan_set_at(ps, f, 1800000000)->pl_version, 1, "version 2 leaked in");
    cdr_plan_set_release(ps);
    free_blobs(after, alen, nafter);

    /* Fix the file: now the new version lands and the generation moves. */
    char path[4096];
    snprintf(path, sizeof path, "%s/zz-broken.yaml", d2);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d2, NULL, &n, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_eq(generation(st), gen + 1);
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps->ps_nplans, 3);
    cr_assert_eq(cdr_plan_set_at(ps, cdr_plan_set_family(ps, "cn-payg"), 1800000000)->pl_version,
                 2);
    cdr_plan_set_release(ps);

    free_blobs(before, blen, nbefore);
    cdr_store_close(st);
    remove_tree(sdir);
    remove_tree(d1);
    remove_tree(d2);
}

Test(plan_store, changed_content_same_version_exists)
{
    char *sdir = temp_dir(), *d1 = temp_dir(), *d2 = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d1, NULL, NULL, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    const uint64_t gen = generation(st);

    copy_sample(d2, "cn-payg.yaml", NULL, "    price: 0.15\n", "    price: 0.14\n");
    copy_sample(d2, "cn-iot-data.yaml", NULL, NULL, NULL);
    /* cn-iot-data sorts first and is written before cn-payg is refused: the transaction is
     * aborted, so no "stored" line may be printed (they are printed after the commit). */
    char *log = NULL;
    size_t loglen = 0;
    FILE *progress = open_memstream(&log, &loglen);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d2, progress, NULL, &dg), CDR_EXISTS);
    fclose(progress);
    cr_assert(strstr(log, "compiled plan cn-iot-data version 1") != NULL, "%s", log);
    cr_assert(strstr(log, "stored") == NULL, "%s", log);
    free(log);
    cr_assert(strstr(dg.dg_file, "cn-payg.yaml") != NULL, "%s", dg.dg_file);
    cr_assert(strstr(dg.dg_msg, "cn-payg version 1 is already stored with different content") !=
                  NULL,
              "%s", dg.dg_msg);
    cr_assert_eq(generation(st), gen);
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps->ps_nplans, 1, "cn-iot-data must not be written either");
    cr_assert_eq(ps->ps_plans[0]->pl_rates[0].ra_tiers[0].ti_price, 150000);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    remove_tree(sdir);
    remove_tree(d1);
    remove_tree(d2);
}

/* A charge class is part of a version's content: declaring one under a stored version number is
 * refused like any other change; the same declaring file again is unchanged. */
Test(plan_store, charge_class_is_content)
{
    char *sdir = temp_dir(), *d1 = temp_dir(), *d2 = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    char buf[1024];
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d1, NULL, NULL, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    const uint64_t gen = generation(st);
    copy_sample(d2, "cn-payg.yaml", NULL, "  - {name: international, prefixes:",
                "  - {name: international, charge_class: value_added, prefixes:");
    cr_assert_eq(cdr_plan_store_compile_dir(st, d2, NULL, NULL, &dg), CDR_EXISTS);
    cr_assert(strstr(dg.dg_msg, "cn-payg version 1 is already stored with different content") !=
                  NULL,
              "%s", dg.dg_msg);
    cr_assert_eq(generation(st), gen);
    /* as version 3 it is stored (format 2), and loads with its class */
    remove_tree(d2);
    d2 = temp_dir();
    copy_sample(d2, "cn-payg.yaml", "cn-payg-v3.yaml", "  - {name: international, prefixes:",
                "  - {name: international, charge_class: value_added, prefixes:");
    char path[4096];
    snprintf(path, sizeof path, "%s/cn-payg-v3.yaml", d2);
    char *text = read_all(path, NULL);
    char *v = strstr(text, "version: 1");
    cr_assert_not_null(v);
    v[9] = '3';
    char *ef = strstr(text, "effective_from: 2026-01-01");
    cr_assert_not_null(ef);
    memcpy(ef + 16, "2027", 4);
    write_file(d2, "cn-payg-v3.yaml", text);
    free(text);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(cdr_plan_store_compile_dir(st, d2, NULL, NULL, &dg), 0, "%s",
                     cdr_diag_format(&dg, buf, sizeof buf));
        cr_assert_eq(generation(st), gen + 1, "round %d", round);
    }
    cdr_plan_set *ps;
    cr_assert_eq(cdr_plan_set_load(st, &ps, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(ps->ps_nplans, 2);
    const cdr_plan *v1 = ps->ps_plans[0], *v3 = ps->ps_plans[1];
    cr_assert_eq(v3->pl_version, 3);
    for (int z = 0; z < v3->pl_nzones; z++) {
        cr_assert_eq(v1->pl_zones[z].zo_class, 0);
        cr_assert_eq(v3->pl_zones[z].zo_class,
                     strcmp(v3->pl_zones[z].zo_name, "international") ? 0 : CDR_CLASS_VALUE_ADDED);
    }
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    remove_tree(sdir);
    remove_tree(d1);
    remove_tree(d2);
}

Test(plan_store, version_conflicts_in_one_directory)
{
    char *sdir = temp_dir(), *d1 = temp_dir(), *d2 = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);

    /* Two files with the same (id, version). */
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d1, "cn-payg.yaml", "copy-of-payg.yaml", NULL, NULL);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d1, NULL, NULL, &dg), CDR_EXISTS);
    cr_assert(strstr(dg.dg_msg, "is also defined in") != NULL, "%s", dg.dg_msg);

    /* A later version that takes effect before the earlier one. */
    copy_sample(d2, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d2, "cn-payg-v2.yaml", NULL, "2026-07-01T00:00:00+08:00",
                "2025-07-01T00:00:00+08:00");
    cr_assert_eq(cdr_plan_store_compile_dir(st, d2, NULL, NULL, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_file, "cn-payg-v2.yaml") != NULL, "%s", dg.dg_file);
    cr_assert(strstr(dg.dg_msg, "version 2 takes effect at 2025-06-30T16:00:00Z, not after "
                                "version 1") != NULL,
              "%s", dg.dg_msg);
    cr_assert_eq(generation(st), 0);

    /* Missing directory. */
    cr_assert_eq(cdr_plan_store_compile_dir(st, "/nonexistent/plans", NULL, NULL, &dg),
                 CDR_NOTFOUND);
    cdr_store_close(st);
    remove_tree(sdir);
    remove_tree(d1);
    remove_tree(d2);
}

Test(plan_store, stored_lines_follow_the_commit)
{
    char *sdir = temp_dir(), *d1 = temp_dir();
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d1, "cn-iot-data.yaml", NULL, NULL, NULL);
    char *log = NULL;
    size_t loglen = 0;
    FILE *progress = open_memstream(&log, &loglen);
    cr_assert_eq(cdr_plan_store_compile_dir(st, d1, progress, NULL, &dg), 0, "%s", dg.dg_msg);
    fclose(progress);
    /* every "compiled" line first, then the "stored" lines, in (id, version) order */
    const char *c2 = strstr(log, "compiled plan cn-payg version 1");
    const char *s1 = strstr(log, "cn-iot-data.yaml: plan cn-iot-data version 1 stored");
    const char *s2 = strstr(log, "cn-payg.yaml: plan cn-payg version 1 stored");
    cr_assert(c2 && s1 && s2 && c2 < s1 && s1 < s2, "%s", log);
    free(log);
    cdr_store_close(st);
    remove_tree(sdir);
    remove_tree(d1);
}

Test(plan_check, check_dir_writes_nothing)
{
    char *d1 = temp_dir(), *d2 = temp_dir(), *d3 = temp_dir();
    cdr_diag dg;
    char buf[1024];
    int n = -1;
    cr_assert_eq(cdr_plan_check_dir(PLANS, &n, &dg), 0, "%s",
                 cdr_diag_format(&dg, buf, sizeof buf));
    cr_assert_eq(n, (int)NSAMPLES);

    /* a bad file: the same error as compiling into a store */
    copy_sample(d1, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d1, "cn-iot-data.yaml", "zz-broken.yaml", "price: 0.10", "price: 0.1O");
    cr_assert_eq(cdr_plan_check_dir(d1, &n, &dg), CDR_FORMAT);
    cr_assert_eq(n, 1);
    cr_assert(strstr(dg.dg_file, "zz-broken.yaml") != NULL, "%s", dg.dg_file);
    cr_assert_eq(dg.dg_line, 21);
    cr_assert_eq(dg.dg_column, 44);

    /* the checks between files need no store either */
    copy_sample(d2, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d2, "cn-payg.yaml", "copy-of-payg.yaml", NULL, NULL);
    cr_assert_eq(cdr_plan_check_dir(d2, NULL, &dg), CDR_EXISTS);
    cr_assert(strstr(dg.dg_msg, "is also defined in") != NULL, "%s", dg.dg_msg);
    copy_sample(d3, "cn-payg.yaml", NULL, NULL, NULL);
    copy_sample(d3, "cn-payg-v2.yaml", NULL, "2026-07-01T00:00:00+08:00",
                "2025-07-01T00:00:00+08:00");
    cr_assert_eq(cdr_plan_check_dir(d3, NULL, &dg), CDR_FORMAT);
    cr_assert(strstr(dg.dg_msg, "version 2 takes effect at 2025-06-30T16:00:00Z, not after "
                                "version 1") != NULL,
              "%s", dg.dg_msg);

    cr_assert_eq(cdr_plan_check_dir("/nonexistent/plans", NULL, &dg), CDR_NOTFOUND);
    cr_assert_eq(dg.dg_line, 0);
    remove_tree(d1);
    remove_tree(d2);
    remove_tree(d3);
}
