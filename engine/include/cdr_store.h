/* cdr_store.h - the LMDB adapter: one environment per store directory, named databases inside.
 *
 * All of cdrate's persistent state on one machine (compiled plans, the directory, counters) lives
 * in one LMDB environment at `--store DIR`. This adapter opens it with room for the named databases
 * and translates LMDB's int errors into cdr_err codes (the LMDB text goes into the cdr_diag).
 * Transactions are plain MDB_txn: callers use the LMDB API directly for reads and writes.
 */
#ifndef CDR_STORE_H
#define CDR_STORE_H

#include <lmdb.h>
#include <stdint.h>

#include "cdr_error.h"

/* Named databases used in the store. */
#define CDR_DB_PLANS "plans" /* key "<plan id>\0<version be32>" -> compiled plan blob */
#define CDR_DB_PLAN_META                                                                           \
    "plan_meta"                    /* key "generation" -> be64 generation of the active plan set */
#define CDR_DB_COUNTERS "counters" /* bundle counters, see engine/core */
/* `cdrate rate`: SHA-256 of an input's content -> when and as what it was rated
 * (engine/cli/cmd_rate.c, docs/operations.md "Rating offline safely") */
#define CDR_DB_RATED_INPUTS "rated_inputs"

typedef struct cdr_store {
    MDB_env *st_env;
    char st_path[4096];
    int st_lockless; /* opened MDB_RDONLY | MDB_NOLOCK: the lock file was not writable */
    int st_trim;     /* a write failed (EIO, ENOSPC...): trim the data file at close */
} cdr_store;

/* Open (creating the directory if needed) the store at path. flags: 0, or MDB_RDONLY.
 * With MDB_RDONLY, a store whose lock file this process cannot open for writing (EACCES, EROFS:
 * a read-only mount, or a store of another user) is opened without the lock file
 * (MDB_NOLOCK, st_lockless set): reads work, but a writer in another process at the same time
 * can make them inconsistent (docs/operations.md, "Disk full and read-only stores").
 * Returns 0, or CDR_STORE / CDR_EIO with LMDB's message in dg. Close with cdr_store_close. */
int cdr_store_open(const char *path, unsigned flags, cdr_store **out, cdr_diag *dg);
/* Accepts NULL. After a failed write (see cdr_store_err) it first gives back the space the
 * failed transaction took in data.mdb (cdr_store_trim). */
void cdr_store_close(cdr_store *st);

/* Truncate data.mdb to the pages the last committed transaction uses: a write transaction that
 * failed (disk full) or was aborted may have grown the file past them. Takes LMDB's writer lock
 * (waits for a writer in another process); call with no transaction open in this process.
 * *freed (may be NULL) gets the bytes given back. Returns 0, CDR_STORE or CDR_EIO. */
int cdr_store_trim(cdr_store *st, uint64_t *freed);

/* Translate an LMDB return code: 0 -> 0, MDB_NOTFOUND -> CDR_NOTFOUND, MDB_MAP_FULL -> CDR_LIMIT,
 * an I/O errno from a write (EIO, ENOSPC, EDQUOT, EFBIG) -> CDR_EIO, anything else -> CDR_STORE.
 * Writes "what: mdb_strerror(rc)" into dg when rc != 0; but when the write failed because the
 * disk is full (ENOSPC, EDQUOT, or LMDB's EIO for a short write on a file system with less than
 * 1 MiB free), "disk full (ENOSPC) while writing store PATH (what): ..." naming the store open
 * for writing on that file system, saying that nothing was stored and how to compact a store.
 * Every store open for writing is then trimmed when it closes. */
int cdr_store_err(int rc, const char *what, cdr_diag *dg);

/* Open (creating it in a write txn) the named database. */
int cdr_store_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi, cdr_diag *dg);

#endif
