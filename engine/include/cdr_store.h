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
#include "cdr_time.h"

/* Named databases used in the store. */
#define CDR_DB_PLANS "plans" /* key "<plan id>\0<version be32>" -> compiled plan blob */
#define CDR_DB_PLAN_META                                                                           \
    "plan_meta"                    /* key "generation" -> be64 generation of the active plan set */
#define CDR_DB_COUNTERS "counters" /* bundle counters, see engine/core */
/* `cdrate rate`: SHA-256 of an input's content -> when and as what it was rated
 * (engine/cli/cmd_rate.c, docs/operations.md "Rating offline safely") */
#define CDR_DB_RATED_INPUTS "rated_inputs"
/* closed billing cycles: be32 YYYYMM -> when closed (UTC seconds, be64) (engine/src/cycle.c,
 * docs/billing.md "Closing a cycle") */
#define CDR_DB_CYCLES "cycles"

typedef struct cdr_store {
    MDB_env *st_env;
    char st_path[4096];
    int st_lockless; /* opened MDB_RDONLY | MDB_NOLOCK: the lock file was not writable */
    int st_trim;     /* a write failed (EIO, ENOSPC...): trim the data file at close */
    uint64_t st_id;  /* unique per open in this process (caches keyed by store use it) */
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

/* ---- closed billing cycles (engine/src/cycle.c) -------------------------------------------------
 * A billing cycle is YYYYMM (year 1970..9999, month 1..12), as in cdr_rated.rr_cycle. Once closed,
 * a cycle takes no new usage: the rating core rates a record of a closed cycle into the first open
 * cycle after it (cdr_rater_set_closed, CDR_RATED_FLAG_LATE). A close is never undone by cdrate.
 * Each function opens its own LMDB transaction (call it with none open in this thread); a store
 * that has never had a cycle closed has no database CDR_DB_CYCLES and every cycle is open.
 * Errors: CDR_EINVAL for a cycle that is not YYYYMM (dg says which), else those of cdr_store_err
 * (CDR_STORE, CDR_EIO, CDR_LIMIT); CDR_FORMAT for an entry that is not 4 + 8 bytes. */

/* Non-zero when cycle is a valid YYYYMM. */
int cdr_cycle_valid(uint32_t cycle);
/* The cycle after cycle (202612 -> 202701); 0 after 999912 or for an invalid cycle. */
uint32_t cdr_cycle_next(uint32_t cycle);
/* Close cycle at when (UTC seconds, recorded); idempotent: a cycle already closed keeps the time
 * of its first close and 0 is returned. Needs a store opened for writing. */
int cdr_cycle_close(cdr_store *st, uint32_t cycle, cdr_time when, cdr_diag *dg); /* idempotent */
int cdr_cycle_is_closed(cdr_store *st, uint32_t cycle, int *closed, cdr_diag *dg);
/* When cycle was closed: 0 with *when set, or CDR_NOTFOUND (no dg message) while it is open. */
int cdr_cycle_closed_at(cdr_store *st, uint32_t cycle, cdr_time *when, cdr_diag *dg);
/* the first cycle >= cycle that is not closed */
int cdr_cycle_first_open(cdr_store *st, uint32_t cycle, uint32_t *open, cdr_diag *dg);
/* every closed cycle, ascending, malloc'd into *out (free it); *out NULL and *n 0 when none */
int cdr_cycle_closed_list(cdr_store *st, uint32_t **out, size_t *n, cdr_diag *dg);

#endif
