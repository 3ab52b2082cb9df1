/* rerate.c - `cdrate rerate`: a cycle's ledger records re-rated against the current plans, the
 * changes written as correction pairs into a correction set, the cycle's bundle counters
 * recomputed, the live state corrected (cdr_rerate.h, docs/billing.md "Rerating").
 *
 * The run, for cycle C:
 *   1. the committed sets of C give each corrected record its effective rating (the new charge
 *      of the latest set that corrected it), and the selector gives the charging owners to
 *      rerate (every record of an owner, so that its bundles are re-spent in input order);
 *   2. the cycle is read in (partition, offset) order, the owners' records go through a fresh
 *      rater (no counters: an offline rating of the whole cycle), and every record whose new
 *      rating differs from its effective one gets a correction pair in set S;
 *   3. S is committed (its meta file), then one store transaction replaces the owners' bundle
 *      counters of C with the fresh ones and, once per set, adds the set to the live state;
 *   4. the differences report is read back from the set.
 * A killed run leaves S open (S.open): the next run with the same cycle, selector and inputs
 * resumes it (the ledger skips the pairs already stored, which are the same); otherwise S is
 * abandoned (never read) and a new set begins.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bill_int.h"
#include "cdr_mem.h"
#include "cdr_file.h"
#include "cdr_bytes.h"
#include "cdr_dir.h"
#include "cdr_ledger.h"
#include "cdr_live.h"
#include "cdr_rerate.h"
#include "cdr_stream.h"

#define PATH_MAX_ 4200
#define BATCH     65536

/* ---- small hash tables ----------------------------------------------------------------------- */

/* A set of non-zero uint64 keys, each with a uint32 value. */
typedef struct u64map {
    uint64_t *um_keys;
    uint32_t *um_vals;
    size_t um_mask, um_n;
} u64map;

static void map_free(u64map *m)
{
    free(m->um_keys);
    free(m->um_vals);
    memset(m, 0, sizeof *m);
}

/* The value slot of key (non-zero), added with value 0 when new; NULL when out of memory. */
static uint32_t *map_slot(u64map *m, uint64_t key, int *added)
{
    if (added)
        *added = 0;
    if ((m->um_n + 1) * 2 > m->um_mask + 1 || !m->um_keys) {
        const size_t cap = m->um_keys ? (m->um_mask + 1) * 2 : 1024;
        u64map n = {calloc(cap, 8), calloc(cap, 4), cap - 1, 0};
        if (!n.um_keys || !n.um_vals) {
            map_free(&n);
            return NULL;
        }
        for (size_t i = 0; m->um_keys && i <= m->um_mask; i++) {
            if (!m->um_keys[i])
                continue;
            size_t j = cdr_mix64(m->um_keys[i]) & n.um_mask;
            while (n.um_keys[j])
                j = (j + 1) & n.um_mask;
            n.um_keys[j] = m->um_keys[i];
            n.um_vals[j] = m->um_vals[i];
            n.um_n++;
        }
        map_free(m);
        *m = n;
    }
    size_t j = cdr_mix64(key) & m->um_mask;
    while (m->um_keys[j] && m->um_keys[j] != key)
        j = (j + 1) & m->um_mask;
    if (!m->um_keys[j]) {
        m->um_keys[j] = key;
        m->um_vals[j] = 0;
        m->um_n++;
        if (added)
            *added = 1;
    }
    return &m->um_vals[j];
}

static const uint32_t *map_find(const u64map *m, uint64_t key)
{
    if (!m->um_keys)
        return NULL;
    size_t j = cdr_mix64(key) & m->um_mask;
    while (m->um_keys[j]) {
        if (m->um_keys[j] == key)
            return &m->um_vals[j];
        j = (j + 1) & m->um_mask;
    }
    return NULL;
}

/* (partition, offset) of a ledger record as one key; never 0 (offset + 1). */
static uint64_t rec_key(uint32_t partition, int64_t offset)
{
    return ((uint64_t)partition << 44) | (uint64_t)(offset + 1);
}

/* ---- correction sets: meta files ------------------------------------------------------------- */

static void corr_paths(const char *ledger, char *corr, char *sets)
{
    snprintf(corr, PATH_MAX_, "%s/%s", ledger, CDR_CORR_DIR);
    snprintf(sets, PATH_MAX_, "%s/%s/sets", ledger, CDR_CORR_DIR);
}

/* Read a meta file: `key value` lines. */
static int meta_read(const char *path, cdr_corr_set *cs, uint64_t *fingerprint, cdr_diag *dg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot read: %s", strerror(errno));
    memset(cs, 0, sizeof *cs);
    if (fingerprint)
        *fingerprint = 0;
    char line[256];
    unsigned ln = 0, seen = 0;
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        char key[32], val[128];
        unsigned long long u;
        char *end;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%31s %127s", key, val) != 2) {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, 1, "expected 'key value'");
            break;
        }
        errno = 0;
        u = strtoull(val, &end, 16);
        const int hex_ok = !errno && !*end;
        u = strtoull(val, &end, 10);
        const int dec_ok = !errno && !*end && val[0] != '-';
        if (!strcmp(key, "set") && dec_ok && u >= 1 && u <= CDR_CORR_MAX_SETS) {
            cs->cs_set = (uint32_t)u;
            seen |= 1;
        } else if (!strcmp(key, "cycle") && dec_ok && u >= 190001 && u <= 999912) {
            cs->cs_cycle = (uint32_t)u;
            seen |= 2;
        } else if (!strcmp(key, "target") && dec_ok && u >= 190001 && u <= 999912) {
            cs->cs_target = (uint32_t)u;
        } else if (!strcmp(key, "pairs") && dec_ok) {
            cs->cs_pairs = u;
        } else if (!strcmp(key, "selector") && strlen(val) < sizeof cs->cs_selector) {
            memcpy(cs->cs_selector, val, strlen(val) + 1);
            seen |= 4;
        } else if (!strcmp(key, "fingerprint") && hex_ok) {
            if (fingerprint)
                *fingerprint = strtoull(val, NULL, 16);
        } else {
            rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, 1, "unexpected line '%s'", line);
        }
    }
    if (!rc && ferror(f))
        rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "read error");
    fclose(f);
    if (!rc && seen != 7)
        rc = cdr_diag_set(dg, CDR_FORMAT, path, ln, 0,
                          "incomplete correction set meta file (set, cycle, selector)");
    return rc;
}

/* Write a meta file durably: into a temporary file, fsync, rename, fsync the folder. */
static int meta_write(const char *sets, uint32_t set, const char *ext, const cdr_corr_set *cs,
                      uint64_t fingerprint, cdr_diag *dg)
{
    char path[PATH_MAX_ + 32], tmp[PATH_MAX_ + 40];
    snprintf(path, sizeof path, "%s/%06" PRIu32 ".%s", sets, set, ext);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, tmp, 0, 0, "cannot create: %s", strerror(errno));
    char buf[512];
    int n = snprintf(buf, sizeof buf, "set %" PRIu32 "\ncycle %" PRIu32 "\nselector %s\n", set,
                     cs->cs_cycle, cs->cs_selector);
    if (cs->cs_target)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "target %" PRIu32 "\npairs %" PRIu64 "\n",
                      cs->cs_target, cs->cs_pairs);
    if (fingerprint)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "fingerprint %016" PRIx64 "\n", fingerprint);
    const int ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    const int err = errno;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0 || cdr_fsync_dir(sets) != 0) {
        unlink(tmp);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write: %s",
                            strerror(ok ? errno : err));
    }
    return 0;
}

/* The sets folder's files: committed sets (ascending), the open one, the highest number used. */
typedef struct setdir {
    cdr_corr_set *sd_sets;
    size_t sd_n;
    uint32_t sd_open; /* an open (interrupted) set, 0 = none */
    uint32_t sd_max;  /* the highest set number of any file (open, committed, abandoned) */
} setdir;

static int cmp_set(const void *x, const void *y)
{
    const cdr_corr_set *a = x, *b = y;
    return a->cs_set < b->cs_set ? -1 : a->cs_set > b->cs_set;
}

static int setdir_read(const char *sets, setdir *sd, cdr_diag *dg)
{
    memset(sd, 0, sizeof *sd);
    DIR *d = opendir(sets);
    if (!d)
        return errno == ENOENT
                   ? 0
                   : cdr_diag_set(dg, CDR_EIO, sets, 0, 0, "cannot read: %s", strerror(errno));
    struct dirent *de;
    size_t cap = 0;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        char ext[16];
        unsigned set;
        int used = 0;
        if (sscanf(de->d_name, "%6u.%15s%n", &set, ext, &used) != 2 || !set ||
            set > CDR_CORR_MAX_SETS || de->d_name[used] != '\0')
            continue;
        if (set > sd->sd_max &&
            (!strcmp(ext, "set") || !strcmp(ext, "open") || !strcmp(ext, "abandoned")))
            sd->sd_max = set;
        if (!strcmp(ext, "open")) {
            sd->sd_open = set;
        } else if (!strcmp(ext, "set")) {
            if (cdr_grow(&sd->sd_sets, &cap, sd->sd_n + 1, sizeof *sd->sd_sets, 16) != 0) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            char path[PATH_MAX_ + 300];
            snprintf(path, sizeof path, "%s/%s", sets, de->d_name);
            cdr_corr_set *cs = &sd->sd_sets[sd->sd_n];
            if ((rc = meta_read(path, cs, NULL, dg)) != 0)
                break;
            if (cs->cs_set != set || !cs->cs_target)
                rc = cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                                  "a committed correction set names set %" PRIu32
                                  " and target %" PRIu32,
                                  cs->cs_set, cs->cs_target);
            sd->sd_n++;
        }
    }
    closedir(d);
    if (rc) {
        free(sd->sd_sets);
        memset(sd, 0, sizeof *sd);
        return rc;
    }
    if (sd->sd_n)
        qsort(sd->sd_sets, sd->sd_n, sizeof *sd->sd_sets, cmp_set);
    return 0;
}

int cdr_corr_sets(const char *ledger, cdr_corr_set **out, cdr_diag *dg)
{
    char corr[PATH_MAX_], sets[PATH_MAX_];
    corr_paths(ledger, corr, sets);
    setdir sd;
    *out = NULL;
    if (setdir_read(sets, &sd, dg) != 0)
        return -1;
    *out = sd.sd_sets;
    return (int)sd.sd_n;
}

/* ---- the inputs' fingerprint ------------------------------------------------------------------
 */

/* A hash of the store's plans and directory: a run resumes an interrupted set only when neither
 * changed since it began. */
static int fingerprint(cdr_store *st, uint64_t *out, cdr_diag *dg)
{
    static const char *const dbs[] = {CDR_DB_PLANS, CDR_DB_DIR_RECORDS};
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin read", dg);
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t d = 0; d < sizeof dbs / sizeof *dbs && !rc; d++) {
        MDB_dbi dbi;
        MDB_cursor *cur;
        if ((rc = mdb_dbi_open(txn, dbs[d], 0, &dbi)) == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
            break;
        MDB_val k, v;
        int g;
        for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
             g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const MDB_val *pair[2] = {&k, &v};
            for (int i = 0; i < 2; i++) {
                const uint8_t *p = pair[i]->mv_data;
                size_t n = pair[i]->mv_size;
                h = cdr_mix64(h ^ n);
                for (; n >= 8; p += 8, n -= 8) {
                    uint64_t w;
                    memcpy(&w, p, 8);
                    h = (h ^ w) * 0x100000001b3ULL;
                    h ^= h >> 29;
                }
                uint64_t w = 0;
                memcpy(&w, p, n);
                h = cdr_mix64(h ^ w);
            }
        }
        mdb_cursor_close(cur);
        if (g != MDB_NOTFOUND)
            rc = g;
    }
    mdb_txn_abort(txn);
    if (rc)
        return cdr_store_err(rc, "read plans and directory", dg);
    *out = h ? h : 1;
    return 0;
}

/* The run's fingerprint: the store's plans and directory, the cycle and the selector. */
static int run_fingerprint(cdr_store *st, const cdr_corr_set *meta, uint64_t *out, cdr_diag *dg)
{
    uint64_t fp = 0;
    int rc = fingerprint(st, &fp, dg);
    if (rc)
        return rc;
    fp = cdr_mix64(fp ^ meta->cs_cycle);
    for (const char *p = meta->cs_selector; *p; p++)
        fp = cdr_mix64(fp ^ (unsigned char)*p);
    *out = fp;
    return 0;
}

/* ---- the run's state ------------------------------------------------------------------------- */

/* The effective rating of a corrected record: the new charge of the latest set. */
typedef struct eff {
    cdr_rated ef_rated;
    char ef_plan[CDR_NAME_MAX];
} eff;

typedef struct rerate {
    const cdr_rerate_config *r_cfg;
    cdr_store *r_st;
    cdr_plan_set *r_ps;
    cdr_subtab *r_subs;
    cdr_rater *r_rt;
    cdr_ledger *r_corr; /* the corrections ledger, writer */
    uint32_t r_set;
    uint64_t r_total, r_unreported;
    /* effective ratings of corrected records */
    u64map r_effmap; /* rec_key -> index + 1 in r_eff */
    eff *r_eff;
    size_t r_neff, r_capeff;
    /* the selected charging owners (all when r_all) */
    int r_all;
    u64map r_owners;
    /* the batch being gathered: the owners' records in cycle order */
    cdr_record *r_recs;
    cdr_rated *r_old, *r_new;
    char (*r_oldplan)[CDR_NAME_MAX];
    uint32_t *r_part;
    int64_t *r_off;
    size_t r_n;
    /* correction pairs waiting to be appended (one partition at a time) */
    cdr_ledger_rec *r_out;
    size_t r_nout;
    uint32_t r_outpart;
    int r_held;   /* the test hook ran */
    int r_opened; /* the set's .open meta file exists */
    const char *r_sets;
    const cdr_corr_set *r_meta;
    uint64_t r_fp;
    cdr_rerate_summary *r_sum;
    cdr_diag *r_dg;
} rerate;

static const char *rated_plan_id(const rerate *r, size_t i)
{
    const cdr_plan *pl = cdr_rater_batch_plan(r->r_rt, i);
    return pl ? pl->pl_id : "";
}

/* The zone's name under the record's plan version (zones are numbered per version), or NULL. */
static const char *zone_name(const rerate *r, const char *plan, const cdr_rated *rr)
{
    const cdr_plan *pl = cdr_plan_set_version(r->r_ps, plan, rr->rr_plan_version);
    if (!pl || rr->rr_zone < 0 || rr->rr_zone >= pl->pl_nzones)
        return NULL;
    return pl->pl_zones[rr->rr_zone].zo_name;
}

/* The charge class of a rated record, derived from its plan when it carries none. */
static int class_of(const rerate *r, const char *plan, const cdr_record *cr, const cdr_rated *rr)
{
    if (rr->rr_class != CDR_CLASS_NONE)
        return rr->rr_class;
    const cdr_plan *pl = cdr_plan_set_version(r->r_ps, plan, rr->rr_plan_version);
    return pl ? cdr_plan_charge_class(pl, cr, rr) : CDR_CLASS_NONE;
}

/* Does the new rating change what is billed? Money, currency, class, plan, units and their
 * split, service and zone; not the plan version alone (a new version that prices the record the
 * same changes nothing), nor the credit-control flags. */
static int differs(const rerate *r, const cdr_record *cr, const cdr_rated *o, const char *op,
                   const cdr_rated *n, const char *np)
{
    if (o->rr_charge != n->rr_charge || memcmp(o->rr_currency, n->rr_currency, 3) ||
        o->rr_units != n->rr_units || o->rr_bundle_units != n->rr_bundle_units ||
        o->rr_overflow_units != n->rr_overflow_units || o->rr_free_units != n->rr_free_units ||
        o->rr_service != n->rr_service || strcmp(op, np))
        return 1;
    if (class_of(r, op, cr, o) != class_of(r, np, cr, n))
        return 1;
    const char *oz = zone_name(r, op, o), *nz = zone_name(r, np, n);
    if (!oz || !nz)
        return o->rr_zone != n->rr_zone;
    return strcmp(oz, nz) != 0;
}

static int flush_out(rerate *r)
{
    if (!r->r_nout)
        return 0;
    int rc;
    if (!r->r_opened) { /* the set's first pairs: the set exists from now on */
        if ((!r->r_fp && (rc = run_fingerprint(r->r_st, r->r_meta, &r->r_fp, r->r_dg)) != 0) ||
            (rc = meta_write(r->r_sets, r->r_set, "open", r->r_meta, r->r_fp, r->r_dg)) != 0)
            return rc;
        r->r_opened = 1;
    }
    rc = cdr_ledger_append(r->r_corr, r->r_outpart, r->r_out, r->r_nout,
                           r->r_out[r->r_nout - 1].lr_offset, r->r_dg);
    r->r_nout = 0;
    if (rc)
        return rc;
    const char *hold = getenv(CDR_RERATE_HOLD_ENV);
    if (hold && !r->r_held) {
        r->r_held = 1;
        fprintf(stderr, "cdrate rerate: test hook: holding an open correction set\n");
        const long ms = strtol(hold, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return 0;
}

static cdr_rerate_money *money_slot(cdr_rerate_summary *s, const char *cur)
{
    int i = 0;
    while (i < s->rs_ncurrencies && memcmp(s->rs_money[i].rm_currency, cur, 3) < 0)
        i++;
    if (i < s->rs_ncurrencies && !memcmp(s->rs_money[i].rm_currency, cur, 3))
        return &s->rs_money[i];
    if (s->rs_ncurrencies == CDR_RERATE_MAX_CURRENCIES)
        return NULL;
    memmove(&s->rs_money[i + 1], &s->rs_money[i],
            (size_t)(s->rs_ncurrencies - i) * sizeof s->rs_money[0]);
    s->rs_ncurrencies++;
    memset(&s->rs_money[i], 0, sizeof s->rs_money[i]);
    memcpy(s->rs_money[i].rm_currency, cur, 3);
    return &s->rs_money[i];
}

/* One correction pair for record i of the batch. */
static int emit_pair(rerate *r, size_t i)
{
    if (r->r_nout &&
        (r->r_outpart != CDR_CORR_PARTITION(r->r_set, r->r_part[i]) || r->r_nout + 2 > BATCH)) {
        int rc = flush_out(r);
        if (rc)
            return rc;
    }
    r->r_outpart = CDR_CORR_PARTITION(r->r_set, r->r_part[i]);
    cdr_ledger_rec *rv = &r->r_out[r->r_nout++], *nw = &r->r_out[r->r_nout++];
    rv->lr_offset = 2 * r->r_off[i];
    rv->lr_cdr = r->r_recs[i];
    rv->lr_rated = r->r_old[i];
    rv->lr_rated.rr_flags =
        (uint8_t)((rv->lr_rated.rr_flags & ~CDR_RATED_FLAG_CORRECTION) | CDR_RATED_FLAG_REVERSAL);
    memcpy(rv->lr_plan, r->r_oldplan[i], CDR_NAME_MAX);
    nw->lr_offset = 2 * r->r_off[i] + 1;
    nw->lr_cdr = r->r_recs[i];
    nw->lr_rated = r->r_new[i];
    nw->lr_rated.rr_flags = (uint8_t)(nw->lr_rated.rr_flags | CDR_RATED_FLAG_CORRECTION);
    snprintf(nw->lr_plan, CDR_NAME_MAX, "%s", rated_plan_id(r, i));
    cdr_rerate_money *m = money_slot(r->r_sum, r->r_old[i].rr_currency);
    cdr_rerate_money *m2 = money_slot(r->r_sum, r->r_new[i].rr_currency);
    if (!m || !m2)
        return cdr_diag_set(r->r_dg, CDR_LIMIT, NULL, 0, 0, "more than %d currencies",
                            CDR_RERATE_MAX_CURRENCIES);
    m->rm_pairs++;
    m->rm_old += r->r_old[i].rr_charge;
    m2->rm_new += r->r_new[i].rr_charge;
    r->r_sum->rs_pairs++;
    return 0;
}

/* Rate the gathered batch and write the pairs of what changed. */
static int rate_batch(rerate *r)
{
    if (!r->r_n)
        return 0;
    int rc = cdr_rater_rate(r->r_rt, r->r_recs, r->r_n, r->r_new, NULL);
    if (rc)
        return cdr_diag_set(r->r_dg, rc, NULL, 0, 0, "rating failed (%s)", cdr_strerror(rc));
    for (size_t i = 0; i < r->r_n && !rc; i++) {
        cdr_rated *n = &r->r_new[i];
        r->r_sum->rs_rerated++;
        if (n->rr_reason != CDR_REASON_NONE) {
            r->r_sum->rs_unratable++; /* kept as billed: a rerate never drops a billed record */
            continue;
        }
        if (differs(r, &r->r_recs[i], &r->r_old[i], r->r_oldplan[i], n, rated_plan_id(r, i)))
            rc = emit_pair(r, i);
    }
    r->r_n = 0;
    return rc;
}

static int on_record(const cdr_ledger_rec *rec, uint32_t partition, void *arg)
{
    rerate *r = arg;
    r->r_sum->rs_records++;
    if (++r->r_unreported == 65536) {
        r->r_unreported = 0;
        cdr_progress_report(r->r_cfg->rc_progress, r->r_sum->rs_records, r->r_total);
    }
    const cdr_sub *su = cdr_subtab_find(r->r_subs, rec->lr_cdr.cr_msisdn);
    if (!su || (!r->r_all && !map_find(&r->r_owners, su->su_owner + 1)))
        return 0; /* not selected (a line no longer in the directory cannot be rerated) */
    if (partition > CDR_CORR_MAX_PARTITION) {
        cdr_diag_set(r->r_dg, CDR_FORMAT, NULL, 0, 0,
                     "ledger partition %" PRIu32 " is above %u: its records cannot be corrected",
                     partition, CDR_CORR_MAX_PARTITION);
        return CDR_FORMAT;
    }
    const size_t i = r->r_n++;
    r->r_recs[i] = rec->lr_cdr;
    r->r_part[i] = partition;
    r->r_off[i] = rec->lr_offset;
    const uint32_t *e = map_find(&r->r_effmap, rec_key(partition, rec->lr_offset));
    if (e) {
        r->r_old[i] = r->r_eff[*e - 1].ef_rated;
        memcpy(r->r_oldplan[i], r->r_eff[*e - 1].ef_plan, CDR_NAME_MAX);
    } else {
        r->r_old[i] = rec->lr_rated;
        memcpy(r->r_oldplan[i], rec->lr_plan, CDR_NAME_MAX);
    }
    return r->r_n == BATCH ? rate_batch(r) : 0;
}

/* The effective ratings from the committed sets of the cycle: a set's new charges, in set
 * order (the later set wins). */
typedef struct effscan {
    rerate *es_r;
    const setdir *es_sd;
} effscan;

static int committed(const setdir *sd, uint32_t set, uint32_t cycle)
{
    for (size_t i = 0; i < sd->sd_n; i++)
        if (sd->sd_sets[i].cs_set == set)
            return sd->sd_sets[i].cs_cycle == cycle;
    return 0;
}

static int on_eff(const cdr_ledger_rec *rec, uint32_t partition, void *arg)
{
    effscan *es = arg;
    rerate *r = es->es_r;
    if (!(rec->lr_rated.rr_flags & CDR_RATED_FLAG_CORRECTION) ||
        !committed(es->es_sd, CDR_CORR_SET_OF(partition), r->r_cfg->rc_cycle))
        return 0;
    int added;
    uint32_t *slot = map_slot(
        &r->r_effmap, rec_key(CDR_CORR_ORIG_PART(partition), (rec->lr_offset - 1) / 2), &added);
    if (!slot)
        return CDR_ENOMEM;
    if (added) {
        if (cdr_grow(&r->r_eff, &r->r_capeff, r->r_neff + 1, sizeof *r->r_eff, 1024) != 0)
            return CDR_ENOMEM;
        *slot = (uint32_t)++r->r_neff;
    }
    eff *e = &r->r_eff[*slot - 1];
    e->ef_rated = rec->lr_rated;
    e->ef_rated.rr_flags &= (uint8_t)~CDR_RATED_FLAG_CORRECTION;
    memcpy(e->ef_plan, rec->lr_plan, CDR_NAME_MAX);
    return 0;
}

/* ---- applying a set to the store ------------------------------------------------------------- */

#define CDR_DB_RERATE_APPLIED "rerate_applied" /* be32 set -> be32 cycle: in the live state */

typedef struct applyscan {
    rerate *as_r;
    uint32_t as_sets[64]; /* the sets to add to the live state */
    size_t as_nsets;
    cdr_live_acc *as_acc;
    u64map as_lines;
    const cdr_plan *as_plans[4];
} applyscan;

static int on_apply(const cdr_ledger_rec *rec, uint32_t partition, void *arg)
{
    applyscan *as = arg;
    rerate *r = as->as_r;
    size_t k = 0;
    while (k < as->as_nsets && as->as_sets[k] != CDR_CORR_SET_OF(partition))
        k++;
    if (k == as->as_nsets)
        return 0;
    const cdr_sub *su = cdr_subtab_find(r->r_subs, rec->lr_cdr.cr_msisdn);
    if (!su)
        return 0; /* the line left the directory since: it has no live state to correct */
    const cdr_rated *rr = &rec->lr_rated;
    const cdr_plan *pl = cdr_plan_set_version(r->r_ps, rec->lr_plan, rr->rr_plan_version);
    int rc = rr->rr_flags & CDR_RATED_FLAG_REVERSAL
                 ? cdr_live_acc_sub(as->as_acc, su, &rec->lr_cdr, rr, pl)
                 : cdr_live_acc_add(as->as_acc, su, &rec->lr_cdr, rr, pl);
    if (rc)
        return cdr_diag_set(r->r_dg, rc, NULL, 0, 0, "live state of subscriber %" PRIu64 ": %s",
                            su->su_id, cdr_strerror(rc));
    int added;
    if (!map_slot(&as->as_lines, su->su_id, &added))
        return CDR_ENOMEM;
    r->r_sum->rs_lines += (uint64_t)added;
    return 0;
}

typedef struct ctrput {
    MDB_txn *cp_txn;
    MDB_dbi cp_dbi;
    uint32_t cp_cycle;
    uint64_t cp_n;
    int cp_rc;
    cdr_diag *cp_dg;
} ctrput;

static int put_counter(void *arg, const cdr_counter_change *cc)
{
    ctrput *cp = arg;
    if (cc->cc_cycle != cp->cp_cycle || !cdr_counter_tag_kind(cc->cc_tag))
        return 0; /* bundle counters of the cycle only */
    uint8_t kb[CDR_COUNTER_KEY_LEN], vb[CDR_COUNTER_VAL_LEN];
    cdr_counter_change_encode(cc, kb, vb);
    MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
    int rc = mdb_put(cp->cp_txn, cp->cp_dbi, &k, &v, 0);
    if (rc)
        return cp->cp_rc = cdr_store_err(rc, "write counter", cp->cp_dg);
    cp->cp_n++;
    return 0;
}

/* One store transaction: the selected owners' bundle counters of the cycle replaced by the fresh
 * rater's, and (once per set) the set's pairs added to the live state. */
static int apply_store(rerate *r, const setdir *sd, cdr_ledger *corr_ro)
{
    cdr_diag *dg = r->r_dg;
    const uint32_t cycle = r->r_cfg->rc_cycle;
    applyscan as = {.as_r = r};
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(r->r_st->st_env, NULL, 0, &txn);
    if (rc)
        return cdr_store_err(rc, "begin rerate write", dg);
    MDB_dbi dc, da;
    MDB_cursor *cur = NULL;
    if ((rc = cdr_store_dbi(txn, CDR_DB_COUNTERS, MDB_CREATE, &dc, dg)) != 0 ||
        (rc = cdr_store_dbi(txn, CDR_DB_RERATE_APPLIED, MDB_CREATE, &da, dg)) != 0)
        goto out;
    if ((rc = mdb_cursor_open(txn, dc, &cur)) != 0) {
        rc = cdr_store_err(rc, "open counters", dg);
        goto out;
    }
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cdr_counter_change cc;
        if (cdr_counter_change_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &cc) != 0)
            continue; /* not a bundle counter (fraud state shares the database) */
        if (cc.cc_cycle != cycle || !cdr_counter_tag_kind(cc.cc_tag) ||
            (!r->r_all && !map_find(&r->r_owners, cc.cc_owner + 1)))
            continue;
        if ((g = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (g != MDB_NOTFOUND) {
        rc = cdr_store_err(g, "delete counters", dg);
        goto out;
    }
    ctrput cp = {txn, dc, cycle, 0, 0, dg};
    if ((rc = cdr_rater_counters_changed(r->r_rt, put_counter, &cp)) != 0)
        goto out;
    r->r_sum->rs_counters = cp.cp_n;
    /* every committed set of the cycle not yet in the live state: this run's, and one whose run
     * was killed between its commit and this transaction (of an open cycle: below) */
    for (size_t i = 0; i <= sd->sd_n; i++) {
        const uint32_t set = i < sd->sd_n ? sd->sd_sets[i].cs_set : r->r_set;
        const uint32_t target = i < sd->sd_n ? sd->sd_sets[i].cs_target : r->r_sum->rs_target;
        /* a closed cycle's live state stays as billed: its sets are billed later, as
         * adjustments, and its bill still reconciles with it */
        if (!set || target != cycle || (i < sd->sd_n && sd->sd_sets[i].cs_cycle != cycle))
            continue;
        uint8_t kb[4];
        cdr_put_be(kb, set, 4);
        k = (MDB_val){4, kb};
        if ((g = mdb_get(txn, da, &k, &v)) == MDB_NOTFOUND) {
            if (as.as_nsets == sizeof as.as_sets / sizeof *as.as_sets)
                break; /* the next run applies the rest */
            as.as_sets[as.as_nsets++] = set;
        } else if (g) {
            rc = cdr_store_err(g, "read rerate state", dg);
            goto out;
        }
    }
    if (as.as_nsets) {
        if ((rc = cdr_live_acc_create(&as.as_acc)) != 0) {
            rc = cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
            goto out;
        }
        if ((rc = cdr_ledger_scan(corr_ro, cycle, on_apply, &as, dg)) != 0 ||
            (rc = cdr_live_acc_write(as.as_acc, txn, dg)) != 0)
            goto out;
        for (size_t i = 0; i < as.as_nsets; i++) {
            uint8_t kb[4], vb[4];
            cdr_put_be(kb, as.as_sets[i], 4);
            cdr_put_be(vb, cycle, 4);
            k = (MDB_val){4, kb};
            v = (MDB_val){4, vb};
            if ((g = mdb_put(txn, da, &k, &v, 0)) != 0) {
                rc = cdr_store_err(g, "write rerate state", dg);
                goto out;
            }
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        rc = cdr_store_err(rc, "commit rerate", dg);
    txn = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    cdr_live_acc_free(as.as_acc);
    map_free(&as.as_lines);
    if (rc == CDR_ENOMEM && !dg->dg_code)
        cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    return rc;
}

/* ---- the differences report ------------------------------------------------------------------ */

typedef struct acctdiff {
    uint64_t ad_account;
    char ad_cur[4];
    uint64_t ad_pairs;
    cdr_money ad_old, ad_new;
} acctdiff;

typedef struct reportscan {
    rerate *rs_r;
    FILE *rs_f;
    cdr_ledger_rec rs_rev; /* the reversal waiting for its new charge */
    int rs_have;
    acctdiff *rs_acct;
    size_t rs_nacct, rs_cap;
    u64map rs_acctmap; /* (account, currency) hash -> index + 1 */
} reportscan;

static const char *money6(cdr_money v, char *buf, size_t n)
{
    return cdr_money_format(v, 6, CDR_ROUND_HALF_UP, buf, n);
}

static int on_report(const cdr_ledger_rec *rec, uint32_t partition, void *arg)
{
    reportscan *rs = arg;
    rerate *r = rs->rs_r;
    if (CDR_CORR_SET_OF(partition) != r->r_set)
        return 0;
    if (rec->lr_rated.rr_flags & CDR_RATED_FLAG_REVERSAL) {
        rs->rs_rev = *rec;
        rs->rs_have = 1;
        return 0;
    }
    if (!rs->rs_have || rs->rs_rev.lr_offset + 1 != rec->lr_offset)
        return cdr_diag_set(r->r_dg, CDR_FORMAT, NULL, 0, 0,
                            "correction set %" PRIu32 ": offset %" PRId64
                            " has no reversal before it",
                            r->r_set, rec->lr_offset);
    rs->rs_have = 0;
    const cdr_rated *o = &rs->rs_rev.lr_rated, *n = &rec->lr_rated;
    const cdr_record *cr = &rec->lr_cdr;
    const cdr_sub *su = cdr_subtab_find(r->r_subs, cr->cr_msisdn);
    char t[32], m1[40], m2[40], m3[40], cur[4] = {0};
    memcpy(cur, n->rr_currency, 3);
    const time_t ts = (time_t)cr->cr_start;
    struct tm tm;
    gmtime_r(&ts, &tm);
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const int oc = class_of(r, rs->rs_rev.lr_plan, cr, o), nc = class_of(r, rec->lr_plan, cr, n);
    fprintf(rs->rs_f, "%u,%" PRId64 ",", CDR_CORR_ORIG_PART(partition), (rec->lr_offset - 1) / 2);
    bill_csv_field(rs->rs_f, cr->cr_msisdn);
    fprintf(rs->rs_f, ",%" PRIu64 ",", su ? su->su_account : 0);
    bill_csv_field(rs->rs_f, cr->cr_source);
    fputc(',', rs->rs_f);
    bill_csv_field(rs->rs_f, cr->cr_origin_id);
    fprintf(rs->rs_f, ",%s,%s,", t, cdr_service_name(cr->cr_service));
    bill_csv_field(rs->rs_f, rs->rs_rev.lr_plan);
    fprintf(rs->rs_f, ",%s,%" PRIu64 ",%s,", oc > 0 ? cdr_charge_class_name(oc) : "", o->rr_units,
            money6(o->rr_charge, m1, sizeof m1));
    bill_csv_field(rs->rs_f, rec->lr_plan);
    fprintf(rs->rs_f, ",%s,%" PRIu64 ",%s,%s,%s\n", nc > 0 ? cdr_charge_class_name(nc) : "",
            n->rr_units, money6(n->rr_charge, m2, sizeof m2),
            money6(n->rr_charge - o->rr_charge, m3, sizeof m3), cur);
    /* by account and currency (old and new are in the same currency unless the plan changed
     * currency: then both sides count under their own) */
    const uint64_t acct = su ? su->su_account : 0;
    for (int side = 0; side < 2; side++) {
        const cdr_rated *x = side ? n : o;
        uint64_t key;
        char c3[4] = {0};
        memcpy(c3, x->rr_currency, 3);
        uint32_t c32;
        memcpy(&c32, c3, 4);
        key = cdr_mix64(acct * 0x9e3779b97f4a7c15ULL ^ c32) | 1;
        int added;
        uint32_t *slot = map_slot(&rs->rs_acctmap, key, &added);
        if (!slot)
            return CDR_ENOMEM;
        if (added) {
            if (cdr_grow(&rs->rs_acct, &rs->rs_cap, rs->rs_nacct + 1, sizeof *rs->rs_acct, 256) !=
                0)
                return CDR_ENOMEM;
            acctdiff *a = &rs->rs_acct[rs->rs_nacct];
            memset(a, 0, sizeof *a);
            a->ad_account = acct;
            memcpy(a->ad_cur, c3, 4);
            *slot = (uint32_t)++rs->rs_nacct;
        }
        acctdiff *a = &rs->rs_acct[*slot - 1];
        if (side) {
            a->ad_new += x->rr_charge;
            a->ad_pairs++;
        } else {
            a->ad_old += x->rr_charge;
        }
    }
    return 0;
}

static int cmp_acct(const void *x, const void *y)
{
    const acctdiff *a = x, *b = y;
    if (a->ad_account != b->ad_account)
        return a->ad_account < b->ad_account ? -1 : 1;
    return strcmp(a->ad_cur, b->ad_cur);
}

static FILE *report_open(const char *dir, const char *name, char *tmp, char *path)
{
    snprintf(path, PATH_MAX_ + 64, "%s/%s", dir, name);
    snprintf(tmp, PATH_MAX_ + 80, "%s/.%s.tmp", dir, name);
    return fopen(tmp, "w");
}

static int report_close(FILE *f, const char *tmp, const char *path, cdr_diag *dg)
{
    int bad = ferror(f) != 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write: %s", strerror(errno));
    }
    return 0;
}

/* records.csv (one row per corrected record, in ledger order) and accounts.csv (per account
 * and currency), both from the set as stored, so that a resumed run writes the same. */
static int write_report(rerate *r, cdr_ledger *corr_ro)
{
    const char *dir = r->r_cfg->rc_report;
    cdr_diag *dg = r->r_dg;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create: %s", strerror(errno));
    char tmp1[PATH_MAX_ + 80], path1[PATH_MAX_ + 64], tmp2[PATH_MAX_ + 80], path2[PATH_MAX_ + 64];
    reportscan rs = {.rs_r = r};
    rs.rs_f = report_open(dir, "records.csv", tmp1, path1);
    if (!rs.rs_f)
        return cdr_diag_set(dg, CDR_EIO, tmp1, 0, 0, "cannot create: %s", strerror(errno));
    fputs("partition,offset,msisdn,account,source,origin_id,start,service,old_plan,old_class,"
          "old_units,old_charge,new_plan,new_class,new_units,new_charge,difference,currency\n",
          rs.rs_f);
    int rc = r->r_set ? cdr_ledger_scan(corr_ro, r->r_cfg->rc_cycle, on_report, &rs, dg) : 0;
    if (rc) {
        fclose(rs.rs_f);
        unlink(tmp1);
        goto out;
    }
    if ((rc = report_close(rs.rs_f, tmp1, path1, dg)) != 0)
        goto out;
    FILE *f = report_open(dir, "accounts.csv", tmp2, path2);
    if (!f) {
        rc = cdr_diag_set(dg, CDR_EIO, tmp2, 0, 0, "cannot create: %s", strerror(errno));
        goto out;
    }
    if (rs.rs_nacct)
        qsort(rs.rs_acct, rs.rs_nacct, sizeof *rs.rs_acct, cmp_acct);
    fputs("account,currency,records,old_charge,new_charge,difference\n", f);
    for (size_t i = 0; i < rs.rs_nacct; i++) {
        const acctdiff *a = &rs.rs_acct[i];
        char m1[40], m2[40], m3[40];
        fprintf(f, "%" PRIu64 ",%s,%" PRIu64 ",%s,%s,%s\n", a->ad_account, a->ad_cur, a->ad_pairs,
                money6(a->ad_old, m1, sizeof m1), money6(a->ad_new, m2, sizeof m2),
                money6(a->ad_new - a->ad_old, m3, sizeof m3));
    }
    rc = report_close(f, tmp2, path2, dg);
out:
    free(rs.rs_acct);
    map_free(&rs.rs_acctmap);
    if (rc == CDR_ENOMEM && !dg->dg_code)
        cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    return rc;
}

/* ---- the run --------------------------------------------------------------------------------- */

static int select_owners(rerate *r, char *selector, size_t n)
{
    const cdr_rerate_config *cfg = r->r_cfg;
    if (!cfg->rc_msisdn && !cfg->rc_enterprise && !cfg->rc_plan) {
        r->r_all = 1;
        snprintf(selector, n, "all");
        return 0;
    }
    if (cfg->rc_msisdn)
        snprintf(selector, n, "msisdn:%s", cfg->rc_msisdn);
    else if (cfg->rc_enterprise)
        snprintf(selector, n, "enterprise:%" PRIu64, cfg->rc_enterprise);
    else
        snprintf(selector, n, "plan:%s", cfg->rc_plan);
    const cdr_sub *su;
    for (size_t i = 0; (su = cdr_subtab_at(r->r_subs, i)) != NULL; i++) {
        const int hit = cfg->rc_msisdn       ? !strcmp(su->su_msisdn, cfg->rc_msisdn)
                        : cfg->rc_enterprise ? su->su_enterprise == cfg->rc_enterprise
                                             : !strcmp(su->su_plan, cfg->rc_plan);
        if (hit && !map_slot(&r->r_owners, su->su_owner + 1, NULL))
            return cdr_diag_set(r->r_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    if (!r->r_owners.um_n)
        return cdr_diag_set(r->r_dg, CDR_NOTFOUND, NULL, 0, 0,
                            cfg->rc_msisdn       ? "msisdn %s is not in the directory"
                            : cfg->rc_enterprise ? "enterprise %s has no member in the directory"
                                                 : "no line of the directory is on plan %s",
                            selector + strcspn(selector, ":") + 1);
    return 0;
}

static int mkdir_private(const char *path, cdr_diag *dg)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    return 0;
}

int cdr_rerate_run(cdr_store *st, const cdr_rerate_config *cfg, cdr_rerate_summary *sum,
                   cdr_diag *dg)
{
    memset(sum, 0, sizeof *sum);
    cdr_diag_clear(dg);
    if (!st || !cfg || !cfg->rc_ledger || !cfg->rc_cycle)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "invalid arguments");
    sum->rs_cycle = cfg->rc_cycle;
    rerate r = {.r_cfg = cfg, .r_st = st, .r_sum = sum, .r_dg = dg};
    cdr_ledger *main_ro = NULL, *corr_ro = NULL;
    setdir sd = {0};
    char corr[PATH_MAX_], sets[PATH_MAX_], selector[96];
    corr_paths(cfg->rc_ledger, corr, sets);
    int rc;
    struct stat sb;
    if (stat(cfg->rc_ledger, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cdr_diag_set(dg, CDR_EIO, cfg->rc_ledger, 0, 0, "no ledger here: %s",
                            strerror(errno ? errno : ENOTDIR));
    if ((rc = cdr_plan_set_load(st, &r.r_ps, dg)) != 0 ||
        (rc = cdr_dir_rating_view(st, &r.r_subs, dg)) != 0 ||
        (rc = select_owners(&r, selector, sizeof selector)) != 0)
        goto out;
    unsigned threads = cfg->rc_threads;
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc < 1 ? 1 : nc > 8 ? 8 : (unsigned)nc;
    }
    const cdr_ledger_opts ro = {.lo_readonly = 1};
    if ((rc = cdr_ledger_open(cfg->rc_ledger, &ro, &main_ro, dg)) != 0)
        goto out;
    char torn[PATH_MAX_];
    if (cdr_ledger_torn_bytes(main_ro, cfg->rc_cycle, torn, sizeof torn)) {
        rc = cdr_diag_set(dg, CDR_FORMAT, torn, 0, 0,
                          "the cycle's segment ends in an incomplete frame: an archiver is "
                          "writing it, or the frame is damaged (docs/ledger.md)");
        goto out;
    }
    /* the corrections ledger: its writer's lock is the rerate's */
    if ((rc = mkdir_private(corr, dg)) != 0 || (rc = mkdir_private(sets, dg)) != 0 ||
        (rc = cdr_ledger_open(corr, NULL, &r.r_corr, dg)) != 0)
        goto out;
    if ((rc = setdir_read(sets, &sd, dg)) != 0)
        goto out;
    /* the set: resume the open one when nothing changed since it began, else a new one (the
     * fingerprint, a hash of the plans and directory, only when an open set needs it or a new set
     * is begun) */
    cdr_corr_set meta = {.cs_cycle = cfg->rc_cycle};
    snprintf(meta.cs_selector, sizeof meta.cs_selector, "%s", selector);
    if (sd.sd_open) {
        char path[PATH_MAX_ + 32];
        snprintf(path, sizeof path, "%s/%06" PRIu32 ".open", sets, sd.sd_open);
        cdr_corr_set om;
        uint64_t ofp;
        if ((rc = meta_read(path, &om, &ofp, dg)) != 0 ||
            (rc = run_fingerprint(st, &meta, &r.r_fp, dg)) != 0)
            goto out;
        if (om.cs_cycle == cfg->rc_cycle && ofp == r.r_fp) {
            r.r_set = sd.sd_open;
            r.r_opened = 1;
            sum->rs_resumed = 1;
        } else {
            char ab[PATH_MAX_ + 40];
            snprintf(ab, sizeof ab, "%s/%06" PRIu32 ".abandoned", sets, sd.sd_open);
            if (rename(path, ab) != 0 || cdr_fsync_dir(sets) != 0) {
                rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot abandon: %s", strerror(errno));
                goto out;
            }
        }
    }
    if (!r.r_set) {
        if (sd.sd_max >= CDR_CORR_MAX_SETS) {
            rc = cdr_diag_set(dg, CDR_LIMIT, sets, 0, 0, "the ledger holds %u correction sets",
                              CDR_CORR_MAX_SETS);
            goto out;
        }
        r.r_set = sd.sd_max + 1; /* its .open file is written with its first pairs */
    }
    r.r_sets = sets;
    r.r_meta = &meta;
    /* the effective ratings of the records corrected before */
    if ((rc = cdr_ledger_open(corr, &ro, &corr_ro, dg)) != 0)
        goto out;
    effscan es = {&r, &sd};
    if ((rc = cdr_ledger_scan(corr_ro, cfg->rc_cycle, on_eff, &es, dg)) != 0) {
        if (rc == CDR_ENOMEM && !dg->dg_code)
            cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    cdr_ledger_close(corr_ro);
    corr_ro = NULL;
    /* the cycle through a fresh rater */
    r.r_recs = malloc(BATCH * sizeof *r.r_recs);
    r.r_old = malloc(BATCH * sizeof *r.r_old);
    r.r_new = malloc(BATCH * sizeof *r.r_new);
    r.r_oldplan = malloc(BATCH * sizeof *r.r_oldplan);
    r.r_part = malloc(BATCH * sizeof *r.r_part);
    r.r_off = malloc(BATCH * sizeof *r.r_off);
    r.r_out = malloc(BATCH * sizeof *r.r_out);
    if (!r.r_recs || !r.r_old || !r.r_new || !r.r_oldplan || !r.r_part || !r.r_off || !r.r_out ||
        cdr_rater_create(threads, r.r_ps, r.r_subs, &r.r_rt) != 0) {
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    cdr_rater_track_changes(r.r_rt, 1);
    /* every record into the ledger's cycle with that cycle's counters: a late record (its own
     * cycle was closed when it was rated) stays where it was billed, flagged late again */
    if ((rc = cdr_rater_force_cycle(r.r_rt, cfg->rc_cycle)) != 0) {
        rc = cdr_diag_set(dg, rc, NULL, 0, 0, "cycle %u is not a billing cycle", cfg->rc_cycle);
        goto out;
    }
    if (cfg->rc_progress) {
        cdr_ledger_totals tot;
        cdr_diag tdg;
        if (cdr_ledger_totals_get(main_ro, cfg->rc_cycle, NULL, NULL, &tot, &tdg) == 0)
            r.r_total = tot.lt_records;
    }
    if ((rc = cdr_ledger_scan(main_ro, cfg->rc_cycle, on_record, &r, dg)) != 0 ||
        (rc = rate_batch(&r)) != 0 || (rc = flush_out(&r)) != 0)
        goto out;
    cdr_progress_report(cfg->rc_progress, sum->rs_records, r.r_total);
    /* what the set holds now: the pairs of this run, and (resumed) nothing more, since a resumed
     * run computes the same pairs */
    if (!sum->rs_pairs) {
        /* nothing to correct: no set. An open set of an interrupted run with the same inputs
         * cannot hold pairs then; one that does anyway is abandoned (its number never reused). */
        if (r.r_opened) {
            char path[PATH_MAX_ + 32], ab[PATH_MAX_ + 40];
            snprintf(path, sizeof path, "%s/%06" PRIu32 ".open", sets, r.r_set);
            snprintf(ab, sizeof ab, "%s/%06" PRIu32 ".abandoned", sets, r.r_set);
            if (rename(path, ab) != 0 || cdr_fsync_dir(sets) != 0) {
                rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot abandon: %s", strerror(errno));
                goto out;
            }
        }
        r.r_set = 0;
    } else {
        int closed = 0;
        uint32_t target = cfg->rc_cycle;
        if ((rc = cdr_cycle_is_closed(st, cfg->rc_cycle, &closed, dg)) != 0 ||
            (closed && (rc = cdr_cycle_first_open(st, cfg->rc_cycle, &target, dg)) != 0))
            goto out;
        meta.cs_target = target;
        meta.cs_pairs = sum->rs_pairs;
        meta.cs_set = r.r_set;
        char path[PATH_MAX_ + 32];
        snprintf(path, sizeof path, "%s/%06" PRIu32 ".open", sets, r.r_set);
        if ((rc = meta_write(sets, r.r_set, "set", &meta, 0, dg)) != 0)
            goto out;
        if (unlink(path) != 0 || cdr_fsync_dir(sets) != 0) {
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
            goto out;
        }
        sum->rs_target = target;
    }
    sum->rs_set = r.r_set;
    /* the store: counters always (idempotent), the live state once per set */
    if ((rc = cdr_ledger_open(corr, &ro, &corr_ro, dg)) != 0 ||
        (rc = apply_store(&r, &sd, corr_ro)) != 0)
        goto out;
    if (cfg->rc_report)
        rc = write_report(&r, corr_ro);
out:
    cdr_ledger_close(corr_ro);
    cdr_ledger_close(main_ro);
    cdr_ledger_close(r.r_corr);
    cdr_rater_destroy(r.r_rt);
    cdr_subtab_free(r.r_subs);
    if (r.r_ps)
        cdr_plan_set_release(r.r_ps);
    map_free(&r.r_effmap);
    map_free(&r.r_owners);
    free(r.r_eff);
    free(r.r_recs);
    free(r.r_old);
    free(r.r_new);
    free(r.r_oldplan);
    free(r.r_part);
    free(r.r_off);
    free(r.r_out);
    free(sd.sd_sets);
    return rc;
}
