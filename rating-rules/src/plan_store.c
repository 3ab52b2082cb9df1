/* plan_store.c - the plan store in LMDB and the immutable, reference-counted plan sets.
 *
 * Database CDR_DB_PLANS maps "<id>\0<version as big-endian u32>" to the blob of plan_blob.c, so
 * that LMDB's byte order is (id, version) order. CDR_DB_PLAN_META holds "generation", a big-endian
 * u64 bumped by every write transaction that changed the plans: a rater compares it to decide
 * whether to load a new set. A directory is written in one transaction or not at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_rules.h"
#include "plan_int.h"

#define PLAN_KEY_MAX (CDR_NAME_MAX + 5)

static size_t plan_key(const char *id, uint32_t version, uint8_t key[PLAN_KEY_MAX])
{
    const size_t n = strnlen(id, CDR_NAME_MAX - 1);
    memcpy(key, id, n);
    key[n] = 0;
    key[n + 1] = (uint8_t)(version >> 24);
    key[n + 2] = (uint8_t)(version >> 16);
    key[n + 3] = (uint8_t)(version >> 8);
    key[n + 4] = (uint8_t)version;
    return n + 5;
}

/* Split a key into id and version; 0 when it is not a plan key. */
static int plan_key_parse(const MDB_val *k, char id[CDR_NAME_MAX], uint32_t *version)
{
    const uint8_t *p = k->mv_data;
    if (k->mv_size < 6 || k->mv_size > PLAN_KEY_MAX)
        return 0;
    const size_t n = k->mv_size - 5;
    if (p[n] != 0 || memchr(p, 0, n) != NULL)
        return 0;
    memcpy(id, p, n);
    id[n] = '\0';
    *version = (uint32_t)p[n + 1] << 24 | (uint32_t)p[n + 2] << 16 | (uint32_t)p[n + 3] << 8 |
               (uint32_t)p[n + 4];
    return 1;
}

/* ---- compiling a directory ------------------------------------------------------------------ */

/* One compiled file of the directory. */
typedef struct dir_plan {
    char *dp_path;
    cdr_plan *dp_plan;
    void *dp_blob;
    size_t dp_len;
} dir_plan;

/* One known version of a family, stored or about to be. */
typedef struct fam_version {
    uint32_t fv_version;
    cdr_time fv_effective;
    const char *fv_path; /* the file, or NULL when already in the store */
} fam_version;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dir_plan_cmp(const void *a, const void *b)
{
    const dir_plan *x = a, *y = b;
    const int c = strcmp(x->dp_plan->pl_id, y->dp_plan->pl_id);
    if (c)
        return c;
    if (x->dp_plan->pl_version != y->dp_plan->pl_version)
        return x->dp_plan->pl_version < y->dp_plan->pl_version ? -1 : 1;
    return strcmp(x->dp_path, y->dp_path);
}

static int fam_cmp(const void *a, const void *b)
{
    const fam_version *x = a, *y = b;
    return x->fv_version < y->fv_version ? -1 : x->fv_version > y->fv_version;
}

static int plan_file_name(const char *n)
{
    const size_t len = strlen(n);
    if (n[0] == '.')
        return 0;
    return (len > 5 && !strcmp(n + len - 5, ".yaml")) || (len > 4 && !strcmp(n + len - 4, ".yml"));
}

/* The sorted paths of the plan files in dir. */
static int list_plan_files(const char *dir, char ***out, size_t *n, cdr_diag *dg)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return cdr_diag_set(dg, errno == ENOENT ? CDR_NOTFOUND : CDR_EIO, dir, 0, 0,
                            "cannot open plan directory: %s", strerror(errno));
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    const struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (!plan_file_name(de->d_name))
            continue;
        const size_t plen = strlen(dir) + 1 + strlen(de->d_name) + 1;
        char *path = malloc(plen);
        if (!path) {
            rc = CDR_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(path);
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                free(path);
                rc = CDR_ENOMEM;
                break;
            }
            names = nn;
        }
        names[cnt++] = path;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < cnt; i++)
            free(names[i]);
        free(names);
        return cdr_diag_set(dg, rc, dir, 0, 0, "out of memory");
    }
    if (cnt)
        qsort(names, cnt, sizeof *names, name_cmp);
    *out = names;
    *n = cnt;
    return 0;
}

static void dir_plans_free(dir_plan *dp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(dp[i].dp_path);
        cdr_plan_free(dp[i].dp_plan);
        free(dp[i].dp_blob);
    }
    free(dp);
}

/* Every version of family `id`: those in the store (none when txn is NULL) and those in
 * dp[from..to). Versions must take effect in the order of their numbers, strictly. */
static int check_family(MDB_txn *txn, MDB_dbi dbi, const dir_plan *dp, size_t from, size_t to,
                        cdr_diag *dg)
{
    const char *id = dp[from].dp_plan->pl_id;
    size_t n = 0, cap = (to - from) + 8;
    fam_version *fv = malloc(cap * sizeof *fv);
    if (!fv)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = from; i < to; i++)
        fv[n++] = (fam_version){dp[i].dp_plan->pl_version, dp[i].dp_plan->pl_effective_from,
                                dp[i].dp_path};
    MDB_cursor *cur = NULL;
    int rc = txn ? cdr_store_err(mdb_cursor_open(txn, dbi, &cur), "open cursor", dg) : 0;
    if (rc) {
        free(fv);
        return rc;
    }
    uint8_t kb[PLAN_KEY_MAX];
    MDB_val k = {plan_key(id, 0, kb), kb}, v;
    int mrc = cur ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char kid[CDR_NAME_MAX];
        uint32_t kver;
        if (!plan_key_parse(&k, kid, &kver) || strcmp(kid, id) != 0)
            break;
        int dup = 0;
        for (size_t i = from; i < to; i++)
            dup |= dp[i].dp_plan->pl_version == kver;
        if (dup)
            continue; /* compared byte for byte by the caller */
        char bid[CDR_NAME_MAX];
        uint32_t bver;
        cdr_time beff;
        if (cdr_plan_blob_peek(v.mv_data, v.mv_size, bid, &bver, &beff) != 0 || bver != kver ||
            strcmp(bid, id) != 0) {
            rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                              "stored plan %s version %u is unreadable or does not match its key",
                              id, kver);
            break;
        }
        if (n == cap) {
            cap *= 2;
            fam_version *nf = realloc(fv, cap * sizeof *nf);
            if (!nf) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            fv = nf;
        }
        fv[n++] = (fam_version){kver, beff, NULL};
    }
    if (!rc && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read plans", dg);
    if (cur)
        mdb_cursor_close(cur);
    if (!rc) {
        qsort(fv, n, sizeof *fv, fam_cmp);
        for (size_t i = 1; i < n; i++) {
            if (fv[i].fv_effective > fv[i - 1].fv_effective)
                continue;
            const fam_version *bad = fv[i].fv_path ? &fv[i] : &fv[i - 1];
            char t1[32], t2[32];
            cdr_time_format(fv[i].fv_effective, 0, 1, t1, sizeof t1);
            cdr_time_format(fv[i - 1].fv_effective, 0, 1, t2, sizeof t2);
            rc = cdr_diag_set(dg, CDR_FORMAT, bad->fv_path, 0, 0,
                              "plan %s: version %u takes effect at %s, not after version %u (%s)%s",
                              id, fv[i].fv_version, t1, fv[i - 1].fv_version, t2,
                              fv[i - 1].fv_path ? "" : " already stored");
            break;
        }
    }
    free(fv);
    return rc;
}

/* Write the compiled plans dp[0..n) (sorted by id, version) in one transaction. The progress
 * lines ("stored", "unchanged") are printed only once the transaction has committed. */
static int store_plans(cdr_store *st, const dir_plan *dp, size_t n, FILE *progress, cdr_diag *dg)
{
    uint8_t *unchanged = calloc(n ? n : 1, 1);
    if (!unchanged)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, 0, &txn), "begin write", dg);
    if (rc) {
        free(unchanged);
        return rc;
    }
    MDB_dbi plans, meta;
    rc = cdr_store_dbi(txn, CDR_DB_PLANS, MDB_CREATE, &plans, dg);
    if (!rc)
        rc = cdr_store_dbi(txn, CDR_DB_PLAN_META, MDB_CREATE, &meta, dg);
    size_t added = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const cdr_plan *pl = dp[i].dp_plan;
        if (i == 0 || strcmp(pl->pl_id, dp[i - 1].dp_plan->pl_id) != 0) {
            size_t e = i + 1;
            while (e < n && !strcmp(dp[e].dp_plan->pl_id, pl->pl_id))
                e++;
            rc = check_family(txn, plans, dp, i, e, dg);
            if (rc)
                break;
        }
        uint8_t kb[PLAN_KEY_MAX];
        MDB_val k = {plan_key(pl->pl_id, pl->pl_version, kb), kb}, v;
        const int mrc = mdb_get(txn, plans, &k, &v);
        if (mrc == 0) {
            if (v.mv_size == dp[i].dp_len && memcmp(v.mv_data, dp[i].dp_blob, v.mv_size) == 0) {
                unchanged[i] = 1;
                continue;
            }
            rc = cdr_diag_set(dg, CDR_EXISTS, dp[i].dp_path, 0, 0,
                              "plan %s version %u is already stored with different content: "
                              "versions are immutable, give the change a new version",
                              pl->pl_id, pl->pl_version);
            break;
        }
        if (mrc != MDB_NOTFOUND) {
            rc = cdr_store_err(mrc, "read plans", dg);
            break;
        }
        v.mv_size = dp[i].dp_len;
        v.mv_data = dp[i].dp_blob;
        rc = cdr_store_err(mdb_put(txn, plans, &k, &v, 0), "write plan", dg);
        added++;
    }
    if (!rc && added) {
        MDB_val k = {10, "generation"}, v;
        uint64_t gen = 0;
        const int mrc = mdb_get(txn, meta, &k, &v);
        if (mrc == 0 && v.mv_size == 8) {
            for (int i = 0; i < 8; i++)
                gen = gen << 8 | ((const uint8_t *)v.mv_data)[i];
        } else if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = cdr_store_err(mrc, "read plan generation", dg);
        }
        uint8_t gb[8];
        gen++;
        for (int i = 0; i < 8; i++)
            gb[i] = (uint8_t)(gen >> (56 - 8 * i));
        v.mv_size = 8;
        v.mv_data = gb;
        if (!rc)
            rc = cdr_store_err(mdb_put(txn, meta, &k, &v, 0), "write plan generation", dg);
    }
    if (rc)
        mdb_txn_abort(txn);
    else
        rc = cdr_store_err(mdb_txn_commit(txn), "commit plans", dg);
    for (size_t i = 0; !rc && progress && i < n; i++)
        fprintf(progress, "%s: plan %s version %u %s\n", dp[i].dp_path, dp[i].dp_plan->pl_id,
                dp[i].dp_plan->pl_version, unchanged[i] ? "unchanged" : "stored");
    free(unchanged);
    return rc;
}

/* List, compile and serialise every plan file of dir, sorted by (id, version), and check what
 * can be checked without a store: no (id, version) twice, versions of a family in the order of
 * their effective_from. On success *out (n entries) belongs to the caller (dir_plans_free). */
static int compile_dir(const char *dir, FILE *progress, int *ncompiled, dir_plan **out,
                       size_t *nout, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    *out = NULL;
    *nout = 0;
    if (ncompiled)
        *ncompiled = 0;
    if (!dir)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no directory");
    char **paths;
    size_t n;
    int rc = list_plan_files(dir, &paths, &n, dg);
    if (rc)
        return rc;
    dir_plan *dp = calloc(n ? n : 1, sizeof *dp);
    if (!dp) {
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        dp[i].dp_path = paths[i]; /* dp owns the paths from here on */
    free(paths);

    for (size_t i = 0; !rc && i < n; i++) {
        rc = cdr_plan_compile_file(dp[i].dp_path, &dp[i].dp_plan, dg);
        if (rc)
            break;
        if (ncompiled)
            (*ncompiled)++;
        if (progress)
            fprintf(progress, "%s: compiled plan %s version %u\n", dp[i].dp_path,
                    dp[i].dp_plan->pl_id, dp[i].dp_plan->pl_version);
        rc = cdr_plan_serialize(dp[i].dp_plan, &dp[i].dp_blob, &dp[i].dp_len);
        if (rc)
            cdr_diag_set(dg, rc, dp[i].dp_path, 0, 0, "cannot serialise the plan");
    }
    if (!rc && n) {
        qsort(dp, n, sizeof *dp, dir_plan_cmp);
        for (size_t i = 1; !rc && i < n; i++)
            if (!strcmp(dp[i].dp_plan->pl_id, dp[i - 1].dp_plan->pl_id) &&
                dp[i].dp_plan->pl_version == dp[i - 1].dp_plan->pl_version)
                rc = cdr_diag_set(dg, CDR_EXISTS, dp[i].dp_path, 0, 0,
                                  "plan %s version %u is also defined in %s", dp[i].dp_plan->pl_id,
                                  dp[i].dp_plan->pl_version, dp[i - 1].dp_path);
        for (size_t i = 0, e; !rc && i < n; i = e) {
            for (e = i + 1; e < n && !strcmp(dp[e].dp_plan->pl_id, dp[i].dp_plan->pl_id); e++)
                ;
            rc = check_family(NULL, 0, dp, i, e, dg);
        }
    }
    if (rc) {
        dir_plans_free(dp, n);
        return rc;
    }
    *out = dp;
    *nout = n;
    return 0;
}

int cdr_plan_check_dir(const char *dir, int *ncompiled, cdr_diag *dg)
{
    dir_plan *dp;
    size_t n;
    const int rc = compile_dir(dir, NULL, ncompiled, &dp, &n, dg);
    if (!rc)
        dir_plans_free(dp, n);
    return rc;
}

int cdr_plan_store_compile_dir(cdr_store *st, const char *dir, FILE *progress, int *ncompiled,
                               cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (ncompiled)
        *ncompiled = 0;
    if (!st || !dir)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store or directory");
    dir_plan *dp;
    size_t n;
    int rc = compile_dir(dir, progress, ncompiled, &dp, &n, dg);
    if (rc)
        return rc;
    if (n)
        rc = store_plans(st, dp, n, progress, dg);
    dir_plans_free(dp, n);
    return rc;
}

/* ---- plan sets ------------------------------------------------------------------------------ */

static int plan_ptr_cmp(const void *a, const void *b)
{
    const cdr_plan *x = *(cdr_plan *const *)a, *y = *(cdr_plan *const *)b;
    const int c = strcmp(x->pl_id, y->pl_id);
    if (c)
        return c;
    return x->pl_version < y->pl_version ? -1 : x->pl_version > y->pl_version;
}

static void plans_free(cdr_plan **plans, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        cdr_plan_free(plans[i]);
    free(plans);
}

int cdr_plan_set_from(cdr_plan **plans, uint32_t n, cdr_plan_set **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!out || (n && !plans)) {
        if (plans)
            plans_free(plans, n);
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no plans or output pointer");
    }
    *out = NULL;
    for (uint32_t i = 0; i < n; i++)
        if (!plans[i]) {
            plans_free(plans, n);
            return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "plan %u is NULL", i);
        }
    if (n)
        qsort(plans, n, sizeof *plans, plan_ptr_cmp);
    uint32_t nfam = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(plans[i]->pl_id, plans[i - 1]->pl_id) != 0) {
            nfam++;
            continue;
        }
        int rc = 0;
        if (plans[i]->pl_version == plans[i - 1]->pl_version)
            rc = cdr_diag_set(dg, CDR_EXISTS, NULL, 0, 0, "plan %s version %u given twice",
                              plans[i]->pl_id, plans[i]->pl_version);
        else if (plans[i]->pl_effective_from <= plans[i - 1]->pl_effective_from)
            rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                              "plan %s: version %u does not take effect after version %u",
                              plans[i]->pl_id, plans[i]->pl_version, plans[i - 1]->pl_version);
        if (rc) {
            plans_free(plans, n);
            return rc;
        }
    }
    cdr_plan_set *ps = calloc(1, sizeof *ps);
    uint32_t *off = malloc((nfam + 1) * sizeof *off);
    if (!ps || !off) {
        free(ps);
        free(off);
        plans_free(plans, n);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    uint32_t f = 0;
    for (uint32_t i = 0; i < n; i++)
        if (i == 0 || strcmp(plans[i]->pl_id, plans[i - 1]->pl_id) != 0)
            off[f++] = i;
    off[nfam] = n;
    ps->ps_nplans = n;
    ps->ps_plans = plans;
    ps->ps_nfamilies = nfam;
    ps->ps_family_off = off;
    ps->ps_refs = 1;
    *out = ps;
    return 0;
}

int cdr_plan_set_load(cdr_store *st, cdr_plan_set **out, cdr_diag *dg)
{
    cdr_diag_clear(dg);
    if (!st || !out)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "no store or output pointer");
    *out = NULL;
    MDB_txn *txn;
    int rc = cdr_store_err(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), "begin read", dg);
    if (rc)
        return rc;
    cdr_plan **plans = NULL;
    uint32_t n = 0, cap = 0;
    MDB_dbi dbi;
    rc = cdr_store_dbi(txn, CDR_DB_PLANS, 0, &dbi, dg);
    if (rc == CDR_NOTFOUND) {
        /* No plan was ever stored: an empty set. */
        mdb_txn_abort(txn);
        return cdr_plan_set_from(NULL, 0, out, dg);
    }
    MDB_cursor *cur = NULL;
    if (!rc)
        rc = cdr_store_err(mdb_cursor_open(txn, dbi, &cur), "open cursor", dg);
    MDB_val k, v;
    int mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; !rc && mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char id[CDR_NAME_MAX];
        uint32_t ver;
        if (!plan_key_parse(&k, id, &ver)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0, "malformed key in %s",
                              CDR_DB_PLANS);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            cdr_plan **np = realloc(plans, cap * sizeof *np);
            if (!np) {
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
                break;
            }
            plans = np;
        }
        cdr_plan *pl;
        rc = cdr_plan_deserialize(v.mv_data, v.mv_size, &pl, dg);
        if (rc) {
            char msg[sizeof dg->dg_msg];
            snprintf(msg, sizeof msg, "%s", dg ? dg->dg_msg : "");
            cdr_diag_set(dg, rc, st->st_path, 0, 0, "plan %s version %u: %s", id, ver, msg);
            break;
        }
        plans[n++] = pl;
        if (strcmp(pl->pl_id, id) != 0 || pl->pl_version != ver)
            rc = cdr_diag_set(dg, CDR_FORMAT, st->st_path, 0, 0,
                              "stored plan %s version %u holds plan %s version %u", id, ver,
                              pl->pl_id, pl->pl_version);
    }
    if (!rc && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read plans", dg);
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc) {
        plans_free(plans, n);
        return rc;
    }
    return cdr_plan_set_from(plans, n, out, dg);
}

cdr_plan_set *cdr_plan_set_retain(cdr_plan_set *ps)
{
    if (ps)
        __atomic_add_fetch(&ps->ps_refs, 1, __ATOMIC_RELAXED);
    return ps;
}

void cdr_plan_set_release(cdr_plan_set *ps)
{
    if (!ps || __atomic_sub_fetch(&ps->ps_refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    plans_free(ps->ps_plans, ps->ps_nplans);
    free(ps->ps_family_off);
    free(ps);
}

int cdr_plan_set_family(const cdr_plan_set *ps, const char *id)
{
    if (!ps || !id)
        return -1;
    uint32_t lo = 0, hi = ps->ps_nfamilies;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(ps->ps_plans[ps->ps_family_off[mid]]->pl_id, id);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const cdr_plan *cdr_plan_set_version(const cdr_plan_set *ps, const char *id, uint32_t version)
{
    const int f = cdr_plan_set_family(ps, id);
    if (f < 0)
        return NULL;
    uint32_t lo = ps->ps_family_off[f], hi = ps->ps_family_off[f + 1];
    while (lo < hi) { /* versions ascending within the family */
        const uint32_t mid = lo + (hi - lo) / 2;
        const uint32_t v = ps->ps_plans[mid]->pl_version;
        if (v == version)
            return ps->ps_plans[mid];
        if (v < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cdr_plan *cdr_plan_set_at(const cdr_plan_set *ps, int family, cdr_time t)
{
    if (!ps || family < 0 || (uint32_t)family >= ps->ps_nfamilies)
        return NULL;
    /* Versions of a family take effect in version order (checked by cdr_plan_set_from), so the
     * version in effect is the last one whose effective_from is <= t. */
    uint32_t lo = ps->ps_family_off[family], hi = ps->ps_family_off[family + 1];
    const cdr_plan *found = NULL;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (ps->ps_plans[mid]->pl_effective_from <= t) {
            found = ps->ps_plans[mid];
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}
