/* test_store.c - the LMDB adapter: errors named (disk full), the space of a failed write given
 * back (cdr_store_trim, and at close after a failed write), a store that this user cannot write
 * opened read-only without its lock file. The disk-full paths through the commands, on a small
 * tmpfs, are in tests/cli/messages_test.sh. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdr_store.h"
#include "test_dirs.h"

static off_t file_size(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    return sb.st_size;
}

/* Grow data.mdb by n zero bytes past its end, as a write that failed half-way leaves it. */
static void grow(const char *dir, size_t n)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    int fd = open(p, O_WRONLY);
    cr_assert_geq(fd, 0);
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    cr_assert_eq(ftruncate(fd, sb.st_size + (off_t)n), 0);
    close(fd);
}

static void put(cdr_store *st, const char *key, const char *val)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    cdr_diag dg;
    cr_assert_eq(mdb_txn_begin(st->st_env, NULL, 0, &txn), 0);
    cr_assert_eq(cdr_store_dbi(txn, "t", MDB_CREATE, &dbi, &dg), 0);
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(val) + 1, (void *)val};
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void expect(cdr_store *st, const char *key, const char *val)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    cdr_diag dg;
    cr_assert_eq(mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(cdr_store_dbi(txn, "t", 0, &dbi, &dg), 0, "%s", dg.dg_msg);
    MDB_val k = {strlen(key), (void *)key}, v;
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
    cr_assert_str_eq((const char *)v.mv_data, val);
    mdb_txn_abort(txn);
}

Test(store, disk_full_is_named_with_the_store)
{
    char dir[512];
    test_tmpdir(dir, sizeof dir, "store");
    cdr_store *st;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_store_err(ENOSPC, "commit directory", &dg), CDR_EIO);
    char want[2048];
    snprintf(want, sizeof want,
             "disk full (ENOSPC) while writing store %s (commit directory): nothing of this write "
             "was stored, the last committed contents stay active; free some space and run again "
             "(the space the failed write took is given back when the store closes; to compact "
             "a store by hand: mdb_copy -c STORE NEWSTORE, then swap the two)",
             dir);
    cr_assert_str_eq(dg.dg_msg, want);
    cr_assert_eq(cdr_store_err(EDQUOT, "commit plans", &dg), CDR_EIO);
    cr_assert(strstr(dg.dg_msg, "disk quota exceeded (EDQUOT) while writing store "), "%s",
              dg.dg_msg);
    cr_assert(strstr(dg.dg_msg, "free some space or raise the quota and run again"), "%s",
              dg.dg_msg);
    /* an EIO on a file system with room is no disk full */
    cr_assert_eq(cdr_store_err(EIO, "commit counters", &dg), CDR_EIO);
    cr_assert_str_eq(dg.dg_msg, "commit counters: Input/output error");
    cdr_store_close(st);
    /* no store open for writing */
    cr_assert_eq(cdr_store_err(ENOSPC, "dedup: commit", &dg), CDR_EIO);
    cr_assert(!strncmp(dg.dg_msg,
                       "disk full (ENOSPC) while writing the store (dedup: commit): nothing",
                       strlen("disk full (ENOSPC) while writing the store (dedup: commit): "
                              "nothing")),
              "%s", dg.dg_msg);
    cr_assert(strstr(dg.dg_msg, "mdb_copy -c STORE NEWSTORE"), "%s", dg.dg_msg);
    /* other LMDB errors keep their codes */
    cr_assert_eq(cdr_store_err(MDB_NOTFOUND, "get", &dg), CDR_NOTFOUND);
    cr_assert_eq(cdr_store_err(MDB_MAP_FULL, "put", &dg), CDR_LIMIT);
    cr_assert_eq(cdr_store_err(MDB_CORRUPTED, "get", &dg), CDR_STORE);
    rm_rf(dir);
}

Test(store, trim_gives_back_what_a_failed_write_took)
{
    char dir[512];
    test_tmpdir(dir, sizeof dir, "store");
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    put(st, "a", "one");
    const off_t committed = file_size(dir);
    uint64_t freed = 1;
    cr_assert_eq(cdr_store_trim(st, &freed), 0);
    cr_assert_eq(freed, 0, "nothing to give back after a clean commit: %llu",
                 (unsigned long long)freed);
    cr_assert_eq(file_size(dir), committed);
    grow(dir, 1 << 20);
    cr_assert_eq(cdr_store_trim(st, &freed), 0);
    cr_assert_eq(freed, 1 << 20);
    cr_assert_eq(file_size(dir), committed);
    expect(st, "a", "one");
    put(st, "b", "two"); /* the store goes on */
    expect(st, "b", "two");
    /* after a failed write, close gives the space back by itself */
    const off_t before = file_size(dir);
    grow(dir, 3 << 20);
    cdr_store_err(ENOSPC, "commit", &dg);
    cr_assert_eq(st->st_trim, 1);
    cdr_store_close(st);
    cr_assert_eq(file_size(dir), before);
    /* without a failed write, close leaves the file alone */
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    expect(st, "a", "one");
    expect(st, "b", "two");
    grow(dir, 4096);
    cdr_store_close(st);
    cr_assert_eq(file_size(dir), before + 4096);
    /* read-only stores are never trimmed (nor marked) */
    cr_assert_eq(cdr_store_open(dir, MDB_RDONLY, &st, &dg), 0, "%s", dg.dg_msg);
    cdr_store_err(ENOSPC, "commit", &dg);
    cr_assert_eq(st->st_trim, 0);
    cdr_store_close(st);
    cr_assert_eq(file_size(dir), before + 4096);
    rm_rf(dir);
}

/* As a user who may read the store at sdir but not write it: 0, or the number of the check
 * that failed. */
static int ro_checks(const char *sdir)
{
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) /* nobody, nogroup */
        return 1;
    cdr_store *st;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    if (cdr_store_open(sdir, MDB_RDONLY, &st, &dg) != 0)
        return 2;
    int bad = st->st_lockless != 1 ? 3 : 0;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {1, "a"}, v;
    if (!bad && (mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn) != 0 ||
                 mdb_dbi_open(txn, "t", 0, &dbi) != 0 || mdb_get(txn, dbi, &k, &v) != 0 ||
                 strcmp(v.mv_data, "one") != 0))
        bad = 4;
    if (!bad)
        mdb_txn_abort(txn);
    cdr_store_close(st);
    if (bad)
        return bad;
    /* writing stays refused, with the reason */
    cdr_diag_clear(&dg);
    if (cdr_store_open(sdir, 0, &st, &dg) != CDR_EIO)
        return 5;
    if (strcmp(dg.dg_msg, "cannot open the store for writing: Permission denied (commands that "
                          "only read it, such as plans list or rate --dry-run, still can)") != 0 ||
        strcmp(dg.dg_file, sdir) != 0)
        return 6;
    return 0;
}

Test(store, a_store_this_user_cannot_write_opens_read_only_without_its_lock)
{
    char dir[512], sdir[600];
    test_tmpdir(dir, sizeof dir, "store");
    snprintf(sdir, sizeof sdir, "%s/s", dir);
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(sdir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    put(st, "a", "one");
    cdr_store_close(st);
    char p[700];
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_assert_eq(chmod(sdir, 0555), 0);
    snprintf(p, sizeof p, "%s/data.mdb", sdir);
    cr_assert_eq(chmod(p, 0444), 0);
    snprintf(p, sizeof p, "%s/lock.mdb", sdir);
    cr_assert_eq(chmod(p, 0444), 0);
    if (geteuid() != 0) {
        cr_assert_eq(ro_checks(sdir), 0, "check %d failed", ro_checks(sdir));
        chmod(sdir, 0755);
        rm_rf(dir);
        return;
    }
    /* root ignores file modes: the checks run as nobody in a child process, so that this one
     * can remove the directory afterwards */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(ro_checks(sdir));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died");
    cr_assert_eq(WEXITSTATUS(status), 0, "check %d failed as nobody", WEXITSTATUS(status));
    rm_rf(dir);
}

Test(store, a_writable_store_opens_with_its_lock)
{
    char dir[512];
    test_tmpdir(dir, sizeof dir, "store");
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    put(st, "a", "one");
    cdr_store_close(st);
    cr_assert_eq(cdr_store_open(dir, MDB_RDONLY, &st, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(st->st_lockless, 0);
    expect(st, "a", "one");
    cdr_store_close(st);
    rm_rf(dir);
}
