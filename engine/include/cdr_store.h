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
} cdr_store;

/* Open (creating the directory if needed) the store at path. flags: 0, or MDB_RDONLY.
 * Returns 0, or CDR_STORE / CDR_EIO with LMDB's message in dg. Close with cdr_store_close. */
int cdr_store_open(const char *path, unsigned flags, cdr_store **out, cdr_diag *dg);
/* Accepts NULL. */
void cdr_store_close(cdr_store *st);

/* Translate an LMDB return code: 0 -> 0, MDB_NOTFOUND -> CDR_NOTFOUND, MDB_MAP_FULL -> CDR_LIMIT,
 * anything else -> CDR_STORE. Writes "what: mdb_strerror(rc)" into dg when rc != 0. */
int cdr_store_err(int rc, const char *what, cdr_diag *dg);

/* Open (creating it in a write txn) the named database. */
int cdr_store_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi, cdr_diag *dg);

#endif
