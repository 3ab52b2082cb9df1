/* workdir.c - the benchmarks' scratch folders (cdr_bench.h). */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdr_bench.h"

int cdr_bench_workdir(const char *workdir, const char *name, char *dir, size_t n, cdr_diag *dg)
{
    if (workdir) {
        snprintf(dir, n, "%s", workdir);
        if (mkdir(dir, 0777) != 0)
            return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create the work folder: %s",
                                strerror(errno));
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/cdrate-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(dir))
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create a scratch folder");
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void cdr_bench_remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
