/* store.c - the LMDB adapter (see cdr_store.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cdr_store.h"

/* 64 GiB of address space; LMDB only uses what it writes. */
#define CDR_STORE_MAPSIZE (64ULL << 30)
#define CDR_STORE_MAXDBS  32
/* A failed write (EIO: LMDB's "short write") on a file system with less free space than this is
 * named disk full: the short write itself used up what was left. */
#define CDR_STORE_FULL_SLACK (1u << 20)
#define CDR_STORE_REG_MAX    16

/* The stores open for writing in this process: cdr_store_err has no store argument, so a failed
 * write finds the store (and its file system) here. */
static pthread_mutex_t store_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static cdr_store *store_reg[CDR_STORE_REG_MAX];

static void store_register(cdr_store *st, int on)
{
    pthread_mutex_lock(&store_reg_mu);
    for (int i = 0; i < CDR_STORE_REG_MAX; i++) {
        if (on && !store_reg[i]) {
            store_reg[i] = st;
            break;
        }
        if (!on && store_reg[i] == st)
            store_reg[i] = NULL;
    }
    pthread_mutex_unlock(&store_reg_mu);
}

/* Non-zero when the file system holding path has less than CDR_STORE_FULL_SLACK bytes free for
 * this user (root may use the reserved blocks). */
static int store_fs_full(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return 0;
    unsigned long long avail = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    return avail * (unsigned long long)sv.f_frsize < CDR_STORE_FULL_SLACK;
}

/* Non-zero when the store's data file has reached this process's file size limit (ulimit -f):
 * a write past it fails with EFBIG, or with LMDB's EIO when part of it fit. */
static int store_fsize_limited(const char *path)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    char data[sizeof((cdr_store *)0)->st_path + 16];
    struct stat sb;
    snprintf(data, sizeof data, "%s/data.mdb", path);
    return stat(data, &sb) == 0 &&
           (unsigned long long)sb.st_size + CDR_STORE_FULL_SLACK > (unsigned long long)rl.rlim_cur;
}

/* Why a write of rc (an errno from LMDB's write or sync) failed, when it is a lack of room. */
typedef enum store_full { STORE_NOT_FULL, STORE_ENOSPC, STORE_EDQUOT, STORE_EFBIG } store_full;

/* The store_full of a failed write rc, with the path of the store concerned in path: the one on
 * a full file system (or at its file size limit), else the first open for writing; "" when no
 * store is open for writing. Every store open for writing is marked for a trim at close. */
static store_full store_write_failed(int rc, char *path, size_t pathsize)
{
    store_full why = rc == ENOSPC   ? STORE_ENOSPC
                     : rc == EDQUOT ? STORE_EDQUOT
                     : rc == EFBIG  ? STORE_EFBIG
                                    : STORE_NOT_FULL;
    const cdr_store *first = NULL, *pick = NULL;
    path[0] = '\0';
    pthread_mutex_lock(&store_reg_mu);
    for (int i = 0; i < CDR_STORE_REG_MAX; i++) {
        cdr_store *st = store_reg[i];
        if (!st)
            continue;
        st->st_trim = 1;
        if (!first)
            first = st;
        if (pick)
            continue;
        if (rc != EFBIG && store_fs_full(st->st_path)) {
            pick = st;
            why = rc == EIO ? STORE_ENOSPC : why;
        } else if ((rc == EIO || rc == EFBIG) && store_fsize_limited(st->st_path)) {
            pick = st;
            why = STORE_EFBIG;
        }
    }
    if (!pick && why != STORE_NOT_FULL)
        pick = first;
    if (pick)
        snprintf(path, pathsize, "%s", pick->st_path);
    pthread_mutex_unlock(&store_reg_mu);
    return why;
}

int cdr_store_err(int rc, const char *what, cdr_diag *dg)
{
    if (rc == 0)
        return 0;
    what = what ? what : "lmdb";
    if (rc == EIO || rc == ENOSPC || rc == EDQUOT || rc == EFBIG) {
        static const char *const why[] = {
            [STORE_ENOSPC] = "disk full (ENOSPC)",
            [STORE_EDQUOT] = "disk quota exceeded (EDQUOT)",
            [STORE_EFBIG] = "file size limit reached (EFBIG, ulimit -f)",
        };
        static const char *const todo[] = {
            [STORE_ENOSPC] = "free some space",
            [STORE_EDQUOT] = "free some space or raise the quota",
            [STORE_EFBIG] = "raise the limit",
        };
        char path[sizeof((cdr_store *)0)->st_path];
        store_full sf = store_write_failed(rc, path, sizeof path);
        if (sf == STORE_NOT_FULL)
            return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "%s: %s", what, mdb_strerror(rc));
        return cdr_diag_set(
            dg, CDR_EIO, NULL, 0, 0,
            "%s while writing %s%s (%s): nothing of this write was stored, the last committed "
            "contents stay active; %s and run again (the space the failed write took is given "
            "back when the store closes; to compact a store by hand: mdb_copy -c STORE NEWSTORE, "
            "then swap the two)",
            why[sf], path[0] ? "store " : "the store", path, what, todo[sf]);
    }
    int code = CDR_STORE;
    if (rc == MDB_NOTFOUND)
        code = CDR_NOTFOUND;
    else if (rc == MDB_MAP_FULL || rc == MDB_DBS_FULL || rc == MDB_READERS_FULL)
        code = CDR_LIMIT;
    else if (rc == ENOMEM)
        code = CDR_ENOMEM;
    return cdr_diag_set(dg, code, NULL, 0, 0, "%s: %s", what, mdb_strerror(rc));
}

/* mdb_env_create and the settings of every store; then mdb_env_open with flags. */
static int store_env_open(cdr_store *st, unsigned flags)
{
    int rc = mdb_env_create(&st->st_env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(st->st_env, CDR_STORE_MAPSIZE);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(st->st_env, CDR_STORE_MAXDBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(st->st_env, 256);
    if (rc == 0)
        rc = mdb_env_open(st->st_env, st->st_path, flags | MDB_NOTLS, 0644);
    if (rc != 0 && st->st_env) {
        mdb_env_close(st->st_env);
        st->st_env = NULL;
    }
    return rc;
}

int cdr_store_open(const char *path, unsigned flags, cdr_store **out, cdr_diag *dg)
{
    *out = NULL;
    if (!path || !*path || strlen(path) >= sizeof((cdr_store *)0)->st_path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "store path missing or too long");
    int rdonly = (flags & MDB_RDONLY) != 0;
    if (!rdonly && mkdir(path, 0755) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create store directory: %s",
                            strerror(errno));
    cdr_store *st = calloc(1, sizeof *st);
    if (!st)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    snprintf(st->st_path, sizeof st->st_path, "%s", path);
    int rc = store_env_open(st, rdonly ? MDB_RDONLY : 0);
    if (rdonly && (rc == EACCES || rc == EROFS)) {
        /* The lock file cannot be opened for writing (a read-only mount, or a store this user
         * may read but not write): read without LMDB's lock file. */
        rc = store_env_open(st, MDB_RDONLY | MDB_NOLOCK);
        if (rc == 0)
            st->st_lockless = 1;
    }
    if (rc != 0) {
        int code;
        if (!rdonly && (rc == EACCES || rc == EROFS))
            code = cdr_diag_set(dg, CDR_EIO, NULL, 0, 0,
                                "cannot open the store for writing: %s (commands that only read "
                                "it, such as plans list or rate --dry-run, still can)",
                                mdb_strerror(rc));
        else
            code = cdr_store_err(rc, "open store", dg);
        if (dg)
            snprintf(dg->dg_file, sizeof dg->dg_file, "%s", path);
        free(st);
        return code;
    }
    if (!rdonly)
        store_register(st, 1);
    static _Atomic uint64_t opened; /* st_id: never the same twice in a process */
    st->st_id = ++opened;
    *out = st;
    return 0;
}

int cdr_store_trim(cdr_store *st, uint64_t *freed)
{
    if (freed)
        *freed = 0;
    if (!st || !st->st_env)
        return CDR_EINVAL;
    /* The write transaction holds LMDB's writer lock: no writer (in any process) is adding
     * pages past the last committed page meanwhile. Readers only use committed pages, and the
     * newest meta's last page is the highest page of every snapshot (LMDB never lowers it). */
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->st_env, NULL, 0, &txn);
    if (rc != 0)
        return CDR_STORE;
    MDB_envinfo ei;
    MDB_stat ms;
    mdb_filehandle_t fd;
    struct stat sb;
    rc = CDR_EIO;
    if (mdb_env_info(st->st_env, &ei) == 0 && mdb_env_stat(st->st_env, &ms) == 0 &&
        mdb_env_get_fd(st->st_env, &fd) == 0 && fstat(fd, &sb) == 0) {
        off_t keep = (off_t)(ei.me_last_pgno + 1) * (off_t)ms.ms_psize;
        rc = 0;
        if (sb.st_size > keep) {
            if (ftruncate(fd, keep) == 0) {
                if (freed)
                    *freed = (uint64_t)(sb.st_size - keep);
            } else {
                rc = CDR_EIO;
            }
        }
    }
    mdb_txn_abort(txn);
    st->st_trim = 0;
    return rc;
}

void cdr_store_close(cdr_store *st)
{
    if (!st)
        return;
    if (st->st_env && st->st_trim)
        cdr_store_trim(st, NULL);
    store_register(st, 0);
    if (st->st_env)
        mdb_env_close(st->st_env);
    free(st);
}

int cdr_store_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi, cdr_diag *dg)
{
    int rc = mdb_dbi_open(txn, name, flags, dbi);
    if (rc != 0) {
        char what[96];
        snprintf(what, sizeof what, "open database %s", name);
        return cdr_store_err(rc, what, dg);
    }
    return 0;
}
