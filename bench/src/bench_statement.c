/* bench_statement.c - `cdrate bench statement`: the export of a cycle's statements (cdrate
 * statement export) for one large enterprise (docs/benchmarks.md).
 *
 * Not timed: a store with the embedded plans and a generated directory whose subscribers are all
 * members of one enterprise; the CDRs rated into a ledger and the month billed (cdr_bill_run).
 * Timed: `cdrate statement export` of that month, run as a child process of the same executable
 * (the real command path: the pass over the ledger, the spill files, the hints, the statements,
 * the itemised lines as streaming .csv.zst, the checksums and the manifest); its peak RSS is the
 * child's own (getrusage RUSAGE_CHILDREN), not this process's setup.
 */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_bill.h"

extern char **environ;

/* The itemised lines the export wrote: "items,N" of its export.csv. */
static uint64_t exported_items(const char *dir)
{
    char path[4400], line[256];
    snprintf(path, sizeof path, "%s/export.csv", dir);
    FILE *f = fopen(path, "r");
    uint64_t n = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "items,", 6))
            n = strtoull(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return n;
}

int cdr_bench_statement(const cdr_bench_statement_config *bs, FILE *out, FILE *progress,
                        cdr_diag *dg)
{
    char dir[4096], store[4200], ledger[4200], bills[4200], exp[4200], cdir[4300];
    int rc = cdr_bench_workdir(bs->bs_workdir, "statement", dir, sizeof dir, dg);
    if (rc)
        return rc;
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    snprintf(bills, sizeof bills, "%s/bills", dir);
    snprintf(exp, sizeof exp, "%s/statements", dir);
    const size_t members = bs->bs_members ? bs->bs_members : 10000;
    const uint64_t lines = bs->bs_lines ? bs->bs_lines : 5000000;
    cdr_gen_config gc;
    cdr_gen_defaults(&gc);
    gc.gc_seed = bs->bs_seed;
    gc.gc_subscribers = members;
    gc.gc_enterprise_members = members;
    gc.gc_unknown_permil = 0; /* every CDR is a member's */
    cdr_gen *g = NULL;
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    uint32_t cycle = 0;
    uint64_t rated = 0;
    rc = cdr_gen_create(&gc, &g);
    if (rc) {
        cdr_diag_set(dg, rc, NULL, 0, 0, "cannot create the population");
        goto done;
    }
    if (progress)
        fprintf(progress, "bench statement: one enterprise of %zu members, %" PRIu64 " CDRs\n",
                members, lines);
    const cdr_bench_bill_config bb = {members, lines, bs->bs_seed, NULL, 0};
    if ((rc = cdr_bench_store_build(dir, g, store, &st, &ps, &subs, dg)) != 0 ||
        (rc = cdr_bench_ledger_build(&bb, g, ps, subs, ledger, &cycle, &rated, progress, dg)) != 0)
        goto done;
    cdr_subtab_free(subs);
    subs = NULL;
    cdr_bill_config cfg = {.bc_cycle = cycle, .bc_ledger = ledger, .bc_out = bills};
    cdr_tax_defaults(&cfg.bc_tax);
    cdr_bill_summary sum;
    if ((rc = cdr_bill_run(st, &cfg, &sum, dg)) != 0)
        goto done;
    cdr_store_close(st); /* the child opens it */
    st = NULL;
    if (progress)
        fprintf(progress, "bench statement: cycle %u billed; exporting its statements\n", cycle);
    char cyc[16];
    snprintf(cyc, sizeof cyc, "%04u-%02u", cycle / 100 % 10000, cycle % 100);
    char *argv[] = {(char *)"cdrate",
                    (char *)"statement",
                    (char *)"export",
                    (char *)"--cycle",
                    cyc,
                    (char *)"--bills",
                    bills,
                    (char *)"--ledger",
                    ledger,
                    (char *)"--store",
                    store,
                    (char *)"--out",
                    exp,
                    (char *)"--quiet",
                    NULL};
    const uint64_t t0 = cdr_bench_now_ns();
    pid_t pid;
    int err = posix_spawn(&pid, bs->bs_self, NULL, NULL, argv, environ);
    if (err) {
        rc = cdr_diag_set(dg, CDR_EIO, bs->bs_self, 0, 0, "cannot start: %s", strerror(err));
        goto done;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    const double secs = (double)(cdr_bench_now_ns() - t0) / 1e9;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "cdrate statement export failed (status %d)",
                          status);
        goto done;
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    snprintf(cdir, sizeof cdir, "%s/%s", exp, cyc);
    const uint64_t items = exported_items(cdir);
    fprintf(out,
            "{\"bench\":\"statement\",\"members\":%zu,\"cdrs\":%" PRIu64 ",\"rated\":%" PRIu64
            ",\"cycle\":%u,\"lines\":%" PRIu64 ",\"seconds\":%.3f,\"lines_per_sec\":%.0f,"
            "\"rss_bytes\":%" PRIu64 "}\n",
            members, lines, rated, cycle, items, secs, secs > 0 ? (double)items / secs : 0.0,
            (uint64_t)ru.ru_maxrss * 1024);
    fflush(out);
done:
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cdr_gen_destroy(g);
    if (!bs->bs_keep)
        cdr_bench_remove_tree(dir);
    return rc;
}
