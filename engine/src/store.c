/* store.c - the LMDB adapter (see cdr_store.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_store.h"

/* 64 GiB of address space; LMDB only uses what it writes. */
#define CDR_STORE_MAPSIZE (64ULL << 30)
#define CDR_STORE_MAXDBS  32

int cdr_store_err(int rc, const char *what, cdr_diag *dg)
{
    if (rc == 0)
        return 0;
    int code = CDR_STORE;
    if (rc == MDB_NOTFOUND)
        code = CDR_NOTFOUND;
    else if (rc == MDB_MAP_FULL || rc == MDB_DBS_FULL || rc == MDB_READERS_FULL)
        code = CDR_LIMIT;
    else if (rc == ENOMEM)
        code = CDR_ENOMEM;
    return cdr_diag_set(dg, code, NULL, 0, 0, "%s: %s", what ? what : "lmdb", mdb_strerror(rc));
}

int cdr_store_open(const char *path, unsigned flags, cdr_store **out, cdr_diag *dg)
{
    *out = NULL;
    if (!path || !*path || strlen(path) >= sizeof((cdr_store *)0)->st_path)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "store path missing or too long");
    if (!(flags & MDB_RDONLY) && mkdir(path, 0755) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create store directory: %s",
                            strerror(errno));
    cdr_store *st = calloc(1, sizeof *st);
    if (!st)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    snprintf(st->st_path, sizeof st->st_path, "%s", path);
    int rc = mdb_env_create(&st->st_env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(st->st_env, CDR_STORE_MAPSIZE);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(st->st_env, CDR_STORE_MAXDBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(st->st_env, 256);
    if (rc == 0)
        rc = mdb_env_open(st->st_env, path, (flags & MDB_RDONLY) | MDB_NOTLS, 0644);
    if (rc != 0) {
        int code = cdr_store_err(rc, "open store", dg);
        if (dg)
            snprintf(dg->dg_file, sizeof dg->dg_file, "%s", path);
        if (st->st_env)
            mdb_env_close(st->st_env);
        free(st);
        return code;
    }
    *out = st;
    return 0;
}

void cdr_store_close(cdr_store *st)
{
    if (!st)
        return;
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
