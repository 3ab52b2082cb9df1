/* embedded.c - the embedded sample plans as a plan set or as files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cdr_bench.h"
#include "cdr_dir.h"

int cdr_bench_embedded_plan_set(cdr_plan_set **out, cdr_diag *dg)
{
    *out = NULL;
    cdr_plan **plans =
        calloc(cdr_embedded_plans_count ? cdr_embedded_plans_count : 1, sizeof *plans);
    if (!plans)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < cdr_embedded_plans_count; i++) {
        const cdr_embedded_file *ef = &cdr_embedded_plans[i];
        int rc = cdr_plan_compile_text(ef->ef_text, ef->ef_len, ef->ef_name, &plans[i], dg);
        if (rc) {
            for (size_t j = 0; j < i; j++)
                cdr_plan_free(plans[j]);
            free(plans);
            return rc;
        }
    }
    return cdr_plan_set_from(plans, (uint32_t)cdr_embedded_plans_count, out, dg);
}

int cdr_bench_write_embedded_plans(const char *dir, cdr_diag *dg)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cdr_diag_set(dg, CDR_EIO, dir, 0, 0, "cannot create: %s", strerror(errno));
    for (size_t i = 0; i < cdr_embedded_plans_count; i++) {
        const cdr_embedded_file *ef = &cdr_embedded_plans[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ef->ef_name);
        FILE *f = fopen(path, "w");
        if (!f)
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
        size_t w = fwrite(ef->ef_text, 1, ef->ef_len, f);
        if (fclose(f) != 0 || w != ef->ef_len)
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "write failed");
    }
    return 0;
}

uint64_t cdr_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int cdr_bench_store_build(const char *dir, cdr_gen *g, const char *store, cdr_store **st,
                          cdr_plan_set **ps, cdr_subtab **subs, cdr_diag *dg)
{
    char plans[4200], dirfile[4200];
    snprintf(plans, sizeof plans, "%s/plans", dir);
    snprintf(dirfile, sizeof dirfile, "%s/directory.dir", dir);
    int rc;
    if ((rc = cdr_gen_write_directory(g, dirfile, dg)) != 0 ||
        (rc = cdr_bench_write_embedded_plans(plans, dg)) != 0 ||
        (rc = cdr_store_open(store, 0, st, dg)) != 0 ||
        (rc = cdr_plan_store_compile_dir(*st, plans, NULL, NULL, dg)) != 0 ||
        (rc = cdr_dir_load_file(*st, dirfile, NULL, NULL, dg)) != 0 ||
        (rc = cdr_plan_set_load(*st, ps, dg)) != 0)
        return rc;
    return cdr_dir_rating_view(*st, subs, dg);
}
