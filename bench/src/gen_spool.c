/* gen_spool.c - generated CDRs as a switch's spool files (cdr_bench.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_bench.h"
#include "cdr_coll.h"
#include "cdr_gen_3gpp.h"

int cdr_gen_write_spool(cdr_gen *g, const char *dir, int fmt, uint64_t n, size_t per_file,
                        void (*progress)(void *arg, uint64_t done), void *arg, cdr_diag *dg)
{
    if (per_file == 0)
        return cdr_diag_set(dg, CDR_EINVAL, dir, 0, 0, "spool: no records per file");
    const int pbx = fmt == CDR_FMT_ASTERISK || fmt == CDR_FMT_FREESWITCH;
    cdr_record *recs = malloc(per_file * sizeof *recs);
    if (!recs)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    cdr_buf buf = {0};
    int rc = 0;
    uint64_t done = 0;
    for (unsigned fileno = 1; done < n && !rc; fileno++) {
        size_t k = 0;
        while (k < per_file && done + k < n) {
            cdr_gen_cdrs(g, &recs[k], 1);
            const cdr_record *cr = &recs[k];
            if (fmt == CDR_FMT_CSV ||
                (cr->cr_service == CDR_SVC_VOICE ? (!pbx || cr->cr_direction == CDR_DIR_MO)
                                                 : (!pbx && cr->cr_service == CDR_SVC_DATA)))
                k++;
        }
        buf.b_len = 0;
        rc = fmt == CDR_FMT_3GPP ? cdr_gen_format_3gpp_ex(recs, k, &buf, CDR_GEN_3GPP_SKIP)
                                 : cdr_gen_format(fmt, recs, k, &buf);
        char path[4400], tmp[4410];
        snprintf(path, sizeof path, "%s/cdrs-%05u.%s", dir, fileno,
                 fmt == CDR_FMT_3GPP ? "dat" : "csv");
        snprintf(tmp, sizeof tmp, "%s/.cdrs-%05u.tmp", dir, fileno);
        if (rc) {
            rc = cdr_diag_set(dg, rc, path, 0, 0, "cannot format the records");
            break;
        }
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(buf.b_data, 1, buf.b_len, f) != buf.b_len || fclose(f) != 0 ||
            rename(tmp, path) != 0) {
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot write: %s", strerror(errno));
            break;
        }
        done += k;
        if (progress)
            progress(arg, done);
    }
    cdr_buf_free(&buf);
    free(recs);
    return rc;
}
