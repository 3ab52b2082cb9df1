/* verify.c - an exported cycle checked (cdr_stmt_verify, cdr_statement.h, docs/statements.md
 * "Verify"): the manifest's sizes and SHA-256 checksums, the itemised lines recounted against
 * the lines' figures, the lines against the statements, and both against the invoices. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <zstd.h>

#include "cdr_mem.h"
#include "stmt_int.h"

typedef struct vline {
    char vl_statement[64];
    uint64_t vl_subscriber;
    char vl_msisdn[CDR_NUMBER_MAX];
    uint64_t vl_items;
    cdr_money vl_rated, vl_ent, vl_mem, vl_ent_tax, vl_mem_tax;
    uint64_t vl_seen_items; /* recounted */
    cdr_money vl_seen_rated;
    cdr_money vl_bill_ent, vl_bill_mem, vl_bill_ent_tax, vl_bill_mem_tax;
} vline;

typedef struct vstmt {
    char vs_statement[64];
    char vs_file[128], vs_itemised[128];
    char vs_currency[4];
    uint64_t vs_lines, vs_items;
    cdr_money vs_rated, vs_ent, vs_mem, vs_adj;
    char vs_invoice[32];
    cdr_money vs_inv_amount, vs_inv_tax, vs_inv_total;
    int vs_has_invoice;
} vstmt;

typedef struct vctx {
    const char *v_dir;
    cdr_stmt_diff_fn v_fn;
    void *v_ctx;
    uint64_t v_ndiff;
    vline *v_lines;
    size_t v_nlines, v_lcap;
    vstmt *v_stmts;
    size_t v_nstmts, v_scap;
    char **v_manifest; /* names */
    size_t v_nmanifest, v_mcap;
    uint32_t *v_slot; /* msisdn -> line + 1 */
    size_t v_mask;
    uint64_t v_nitems;
} vctx;

static void differ(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differ(vctx *v, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    v->v_ndiff++;
    if (v->v_fn)
        v->v_fn(buf, v->v_ctx);
}

/* Split a CSV line in place (quoted fields with "" inside); returns the field count. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    while (n < max) {
        if (*s == '"') {
            char *w = ++s;
            f[n++] = w;
            for (;;) {
                if (!*s)
                    return n;
                if (*s == '"' && s[1] == '"') {
                    *w++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    *w++ = *s++;
                }
            }
            *w = 0;
            if (*s != ',')
                return *s ? -1 : n;
            s++;
        } else {
            f[n++] = s;
            char *c = strchr(s, ',');
            if (!c)
                return n;
            *c = 0;
            s = c + 1;
        }
    }
    return n;
}

static int money(const char *s, cdr_money *out)
{
    return cdr_money_parse(s, out) == 0 ? 0 : -1;
}

static FILE *open_in(vctx *v, const char *name, cdr_diag *dg)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", v->v_dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        cdr_diag_set(dg, errno == ENOENT ? CDR_FORMAT : CDR_EIO, path, 0, 0, "%s",
                     errno == ENOENT ? "missing: not an export folder (cdrate statement export)"
                                     : strerror(errno));
    return f;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

static int safe_name(const char *n)
{
    return n[0] && n[0] != '/' && !strstr(n, "..") && !strchr(n, '\\');
}

static int read_manifest(vctx *v, uint64_t *nfiles, cdr_diag *dg)
{
    FILE *f = open_in(v, "manifest.csv", dg);
    if (!f)
        return dg->dg_code;
    char line[1024];
    int ln = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        if (++ln == 1) {
            if (strcmp(line, "file,bytes,sha256"))
                rc = cdr_diag_set(dg, CDR_FORMAT, "manifest.csv", 1, 1,
                                  "not the header file,bytes,sha256");
            if (rc)
                break;
            continue;
        }
        char *fl[4];
        uint64_t bytes = 0;
        if (split(line, fl, 4) != 3 || !safe_name(fl[0]) || strlen(fl[2]) != 64 ||
            sscanf(fl[1], "%" SCNu64, &bytes) != 1) {
            rc = cdr_diag_set(dg, CDR_FORMAT, "manifest.csv", ln, 1,
                              "not a row file,bytes,sha256 (a relative name inside the export)");
            break;
        }
        if (cdr_grow(&v->v_manifest, &v->v_mcap, v->v_nmanifest + 1, sizeof *v->v_manifest, 64) ||
            !(v->v_manifest[v->v_nmanifest] = strdup(fl[0]))) {
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        v->v_nmanifest++;
        (*nfiles)++;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", v->v_dir, fl[0]);
        uint64_t got = 0;
        uint8_t sha[32];
        cdr_diag fdg;
        cdr_diag_clear(&fdg);
        if (stmt_file_sha256(path, &got, sha, &fdg) != 0) {
            differ(v, "%s: in the manifest, but %s", fl[0], fdg.dg_msg);
            continue;
        }
        char h[65];
        sodium_bin2hex(h, sizeof h, sha, sizeof sha);
        if (got != bytes)
            differ(v, "%s: %" PRIu64 " bytes, the manifest says %" PRIu64, fl[0], got, bytes);
        if (strcmp(h, fl[2]))
            differ(v, "%s: SHA-256 %s, the manifest says %s: the file was changed or damaged",
                   fl[0], h, fl[2]);
    }
    fclose(f);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int in_manifest(const vctx *v, const char *name)
{
    const char *key = name;
    return bsearch(&key, v->v_manifest, v->v_nmanifest, sizeof *v->v_manifest, name_cmp) != NULL;
}

/* Files in the folder (and its enterprises/ and members/) that the manifest does not list. */
static void extra_files(vctx *v, const char *sub)
{
    char path[4400];
    snprintf(path, sizeof path, "%s%s%s", v->v_dir, sub[0] ? "/" : "", sub);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char name[600];
        snprintf(name, sizeof name, "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
        if (!sub[0] && (!strcmp(name, "enterprises") || !strcmp(name, "members")))
            continue;
        if (!strcmp(name, "manifest.csv"))
            continue;
        if (!in_manifest(v, name))
            differ(v, "%s: not in the manifest", name);
    }
    closedir(d);
}

static ptrdiff_t find_line(const vctx *v, const char *msisdn)
{
    size_t h = stmt_hash(msisdn, strlen(msisdn)) & v->v_mask;
    for (uint32_t x; (x = v->v_slot[h]) != 0; h = (h + 1) & v->v_mask)
        if (!strcmp(v->v_lines[x - 1].vl_msisdn, msisdn))
            return (ptrdiff_t)x - 1;
    return -1;
}

static int read_lines(vctx *v, cdr_diag *dg)
{
    FILE *f = open_in(v, "lines.csv", dg);
    if (!f)
        return dg->dg_code;
    char line[1024];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        chomp(line);
        if (++ln == 1)
            continue;
        char *fl[10];
        vline l;
        memset(&l, 0, sizeof l);
        if (split(line, fl, 10) != 9 || strlen(fl[0]) >= sizeof l.vl_statement ||
            strlen(fl[2]) >= sizeof l.vl_msisdn ||
            sscanf(fl[1], "%" SCNu64, &l.vl_subscriber) != 1 ||
            sscanf(fl[3], "%" SCNu64, &l.vl_items) != 1 || money(fl[4], &l.vl_rated) ||
            money(fl[5], &l.vl_ent) || money(fl[6], &l.vl_mem) || money(fl[7], &l.vl_ent_tax) ||
            money(fl[8], &l.vl_mem_tax)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, "lines.csv", ln, 1, "a malformed row");
            break;
        }
        memcpy(l.vl_statement, fl[0], strlen(fl[0]) + 1);
        memcpy(l.vl_msisdn, fl[2], strlen(fl[2]) + 1);
        if (cdr_grow(&v->v_lines, &v->v_lcap, v->v_nlines + 1, sizeof *v->v_lines, 1024))
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        else
            v->v_lines[v->v_nlines++] = l;
    }
    fclose(f);
    if (rc)
        return rc;
    size_t cap = 16;
    while (cap < v->v_nlines * 2)
        cap <<= 1;
    v->v_slot = calloc(cap, sizeof *v->v_slot);
    if (!v->v_slot)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    v->v_mask = cap - 1;
    for (size_t i = 0; i < v->v_nlines; i++) {
        if (find_line(v, v->v_lines[i].vl_msisdn) >= 0) {
            differ(v, "lines.csv: msisdn %s is there twice", v->v_lines[i].vl_msisdn);
            continue;
        }
        size_t h = stmt_hash(v->v_lines[i].vl_msisdn, strlen(v->v_lines[i].vl_msisdn)) & v->v_mask;
        while (v->v_slot[h])
            h = (h + 1) & v->v_mask;
        v->v_slot[h] = (uint32_t)i + 1;
    }
    return 0;
}

static int read_stmts(vctx *v, cdr_diag *dg)
{
    FILE *f = open_in(v, "statements.csv", dg);
    if (!f)
        return dg->dg_code;
    char line[2048];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        chomp(line);
        if (++ln == 1)
            continue;
        char *fl[15];
        vstmt s;
        memset(&s, 0, sizeof s);
        if (split(line, fl, 15) != 14 || strlen(fl[0]) >= sizeof s.vs_statement ||
            strlen(fl[1]) >= sizeof s.vs_file || strlen(fl[2]) >= sizeof s.vs_itemised ||
            strlen(fl[3]) != 3 || strlen(fl[10]) >= sizeof s.vs_invoice ||
            sscanf(fl[4], "%" SCNu64, &s.vs_lines) != 1 ||
            sscanf(fl[5], "%" SCNu64, &s.vs_items) != 1 || money(fl[6], &s.vs_rated) ||
            money(fl[7], &s.vs_ent) || money(fl[8], &s.vs_mem) || money(fl[9], &s.vs_adj) ||
            (fl[10][0] && (money(fl[11], &s.vs_inv_amount) || money(fl[12], &s.vs_inv_tax) ||
                           money(fl[13], &s.vs_inv_total)))) {
            rc = cdr_diag_set(dg, CDR_FORMAT, "statements.csv", ln, 1, "a malformed row");
            break;
        }
        memcpy(s.vs_statement, fl[0], strlen(fl[0]) + 1);
        memcpy(s.vs_file, fl[1], strlen(fl[1]) + 1);
        memcpy(s.vs_itemised, fl[2], strlen(fl[2]) + 1);
        memcpy(s.vs_currency, fl[3], 4);
        memcpy(s.vs_invoice, fl[10], strlen(fl[10]) + 1);
        s.vs_has_invoice = fl[10][0] != 0;
        if (cdr_grow(&v->v_stmts, &v->v_scap, v->v_nstmts + 1, sizeof *v->v_stmts, 256))
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        else
            v->v_stmts[v->v_nstmts++] = s;
    }
    fclose(f);
    return rc;
}

/* One itemised row (without its line end): its msisdn (field 0) and charge (field 10). */
static void item_row(vctx *v, const char *file, uint64_t row, char *s)
{
    char *fl[15];
    cdr_money charge = 0;
    const int n = split(s, fl, 15);
    if (n != 14 || money(fl[10], &charge)) {
        differ(v, "%s: row %" PRIu64 ": not an itemised row of 14 fields with a charge", file, row);
        return;
    }
    const ptrdiff_t k = find_line(v, fl[0]);
    if (k < 0) {
        differ(v, "%s: row %" PRIu64 ": msisdn %s is in no line of lines.csv", file, row, fl[0]);
        return;
    }
    v->v_lines[k].vl_seen_items++;
    v->v_lines[k].vl_seen_rated += charge;
    v->v_nitems++;
}

/* Recount the rows of one .csv.zst itemised file, streaming. */
static int recount(vctx *v, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", v->v_dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        differ(v, "%s: cannot open: %s", name, strerror(errno));
        return 0;
    }
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    const size_t inn = ZSTD_DStreamInSize(), outn = ZSTD_DStreamOutSize();
    uint8_t *in = malloc(inn), *out = malloc(outn);
    size_t lcap = 4096, llen = 0;
    char *line = malloc(lcap);
    if (!dc || !in || !out || !line) {
        ZSTD_freeDCtx(dc);
        free(in);
        free(out);
        free(line);
        fclose(f);
        return CDR_ENOMEM;
    }
    uint64_t row = 0;
    size_t got, last = 0;
    int bad = 0;
    while (!bad && (got = fread(in, 1, inn, f)) > 0) {
        ZSTD_inBuffer ib = {in, got, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {out, outn, 0};
            last = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(last)) {
                differ(v, "%s: not a valid zstd stream after %" PRIu64 " rows: %s", name, row,
                       ZSTD_getErrorName(last));
                bad = 1;
                break;
            }
            for (size_t i = 0; i < ob.pos; i++) {
                const char c = (char)out[i];
                if (c != '\n') {
                    if (llen + 1 >= lcap) {
                        char *nl = realloc(line, lcap * 2);
                        if (!nl) {
                            bad = 1;
                            break;
                        }
                        line = nl;
                        lcap *= 2;
                    }
                    line[llen++] = c;
                    continue;
                }
                line[llen] = 0;
                if (llen && line[llen - 1] == '\r')
                    line[--llen] = 0;
                if (row++ > 0) /* the first row is the header (after the BOM) */
                    item_row(v, name, row, line);
                llen = 0;
            }
        }
    }
    if (!bad && last != 0)
        differ(v, "%s: the zstd stream is truncated", name);
    else if (!bad && llen)
        differ(v, "%s: the last row has no line end", name);
    ZSTD_freeDCtx(dc);
    free(in);
    free(out);
    free(line);
    fclose(f);
    return 0;
}

static const char *m2(cdr_money m, char *b)
{
    return cdr_money_format(m, 2, CDR_ROUND_HALF_UP, b, 32);
}

static const char *m6(cdr_money m, char *b)
{
    return cdr_money_format(m, 6, CDR_ROUND_HALF_UP, b, 32);
}

typedef struct sub_ix {
    uint64_t si_id;
    size_t si_ix;
} sub_ix;

static int sub_ix_cmp(const void *a, const void *b)
{
    const uint64_t x = ((const sub_ix *)a)->si_id, y = ((const sub_ix *)b)->si_id;
    return x < y ? -1 : x > y;
}

/* The lines and statements against the invoices of the bill run. */
static int against_bills(vctx *v, const char *bills, uint32_t cycle, cdr_diag *dg)
{
    cdr_bill_output *bo = NULL;
    int rc = cdr_bill_output_read(bills, cycle, NULL, NULL, NULL, &bo, dg);
    if (rc)
        return rc;
    char a[32], b[32];
    /* the lines by subscriber id */
    sub_ix *byid = malloc((v->v_nlines + 1) * sizeof *byid);
    if (!byid) {
        cdr_bill_output_free(bo);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    for (size_t j = 0; j < v->v_nlines; j++)
        byid[j] = (sub_ix){v->v_lines[j].vl_subscriber, j};
    qsort(byid, v->v_nlines, sizeof *byid, sub_ix_cmp);
    for (size_t i = 0; i < bo->bo_nlines; i++) {
        const cdr_bo_line *bl = &bo->bo_lines[i];
        if (!bl->bl_subscriber)
            continue;
        const sub_ix key = {bl->bl_subscriber, 0};
        const sub_ix *hit = bsearch(&key, byid, v->v_nlines, sizeof *byid, sub_ix_cmp);
        const ptrdiff_t k = hit ? (ptrdiff_t)hit->si_ix : -1;
        if (k < 0) {
            differ(v, "subscriber %" PRIu64 " is billed (%s) but in no statement",
                   bl->bl_subscriber, bo->bo_dir);
            continue;
        }
        vline *l = &v->v_lines[k];
        if (bl->bl_enterprise) {
            l->vl_bill_ent += bl->bl_amount;
            l->vl_bill_ent_tax += bl->bl_tax;
        } else {
            l->vl_bill_mem += bl->bl_amount;
            l->vl_bill_mem_tax += bl->bl_tax;
        }
    }
    for (size_t j = 0; j < v->v_nlines; j++) {
        const vline *l = &v->v_lines[j];
        if (l->vl_bill_ent != l->vl_ent || l->vl_bill_ent_tax != l->vl_ent_tax)
            differ(v, "msisdn %s: enterprise share %s in lines.csv, %s on the invoices",
                   l->vl_msisdn, m2(l->vl_ent, a), m2(l->vl_bill_ent, b));
        if (l->vl_bill_mem != l->vl_mem || l->vl_bill_mem_tax != l->vl_mem_tax)
            differ(v, "msisdn %s: member share %s in lines.csv, %s on the invoices", l->vl_msisdn,
                   m2(l->vl_mem, a), m2(l->vl_bill_mem, b));
    }
    for (size_t s = 0; s < v->v_nstmts; s++) {
        const vstmt *st = &v->v_stmts[s];
        if (!st->vs_has_invoice)
            continue;
        /* INV-YYYYMM-ACCOUNT */
        const char *dash = strrchr(st->vs_invoice, '-');
        const cdr_bo_invoice *iv =
            dash ? cdr_bill_output_invoice(bo, strtoull(dash + 1, NULL, 10)) : NULL;
        if (iv && strcmp(iv->bi_invoice, st->vs_invoice))
            iv = NULL;
        if (!iv) {
            differ(v, "%s: invoice %s is not in %s", st->vs_statement, st->vs_invoice, bo->bo_dir);
            continue;
        }
        if (iv->bi_amount != st->vs_inv_amount || iv->bi_tax != st->vs_inv_tax ||
            iv->bi_total != st->vs_inv_total)
            differ(v, "%s: invoice %s amount %s in statements.csv, %s on the invoice",
                   st->vs_statement, st->vs_invoice, m2(st->vs_inv_amount, a),
                   m2(iv->bi_amount, b));
        if (!strncmp(st->vs_statement, "enterprise:", 11) &&
            iv->bi_amount != st->vs_ent + st->vs_adj)
            differ(v,
                   "%s: the members' enterprise shares and the account's adjustments add up to "
                   "%s, the enterprise's invoice %s says %s",
                   st->vs_statement, m2(st->vs_ent + st->vs_adj, a), st->vs_invoice,
                   m2(iv->bi_amount, b));
    }
    free(byid);
    cdr_bill_output_free(bo);
    return 0;
}

int cdr_stmt_verify(const char *dir, const char *bills, cdr_stmt_diff_fn diff, void *ctx,
                    uint64_t *ndiff, uint64_t *nfiles, uint64_t *nitems, cdr_diag *dg)
{
    *ndiff = *nfiles = *nitems = 0;
    vctx v = {.v_dir = dir, .v_fn = diff, .v_ctx = ctx};
    struct stat sb;
    errno = 0;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cdr_diag_set(dg, CDR_FORMAT, dir, 0, 0, "not an export folder: %s",
                            errno ? strerror(errno) : "not a directory");
    int rc = read_manifest(&v, nfiles, dg);
    if (!rc) {
        qsort(v.v_manifest, v.v_nmanifest, sizeof *v.v_manifest, name_cmp);
        extra_files(&v, "");
        extra_files(&v, "enterprises");
        extra_files(&v, "members");
        rc = read_lines(&v, dg);
    }
    if (!rc)
        rc = read_stmts(&v, dg);
    /* export.csv: the cycle and the bills it came from */
    char rec_bills[4400] = "";
    uint32_t cycle = 0;
    FILE *ef = rc ? NULL : open_in(&v, "export.csv", dg);
    if (!rc && !ef)
        rc = dg->dg_code;
    if (ef) {
        char line[4400];
        while (fgets(line, sizeof line, ef)) {
            chomp(line);
            if (!strncmp(line, "bills,", 6))
                snprintf(rec_bills, sizeof rec_bills, "%s", line + 6);
            else if (!strncmp(line, "cycle,", 6) && strlen(line) == 13)
                cycle = (uint32_t)(atoi(line + 6) * 100 + atoi(line + 11));
        }
        fclose(ef);
        if (!cycle)
            rc = cdr_diag_set(dg, CDR_FORMAT, "export.csv", 0, 0, "no cycle YYYY-MM");
    }
    for (size_t s = 0; !rc && s < v.v_nstmts; s++)
        if (v.v_stmts[s].vs_itemised[0])
            rc = recount(&v, v.v_stmts[s].vs_itemised);
    if (rc == CDR_ENOMEM)
        cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    char a[32], b[32], c2[32], d2[32];
    /* the itemised rows against the lines, the lines against the statements */
    for (size_t j = 0; !rc && j < v.v_nlines; j++) {
        const vline *l = &v.v_lines[j];
        if (l->vl_seen_items != l->vl_items)
            differ(&v, "msisdn %s: %" PRIu64 " itemised rows, lines.csv says %" PRIu64,
                   l->vl_msisdn, l->vl_seen_items, l->vl_items);
        if (l->vl_seen_rated != l->vl_rated)
            differ(&v, "msisdn %s: the itemised charges add up to %s, lines.csv says %s",
                   l->vl_msisdn, m6(l->vl_seen_rated, a), m6(l->vl_rated, b));
    }
    for (size_t s = 0; !rc && s < v.v_nstmts; s++) {
        vstmt *st = &v.v_stmts[s];
        uint64_t lines = 0, items = 0;
        cdr_money rated = 0, ent = 0, mem = 0;
        for (size_t j = 0; j < v.v_nlines; j++) {
            const vline *l = &v.v_lines[j];
            if (strcmp(l->vl_statement, st->vs_statement))
                continue;
            lines++;
            items += l->vl_items;
            rated += l->vl_rated;
            ent += l->vl_ent;
            mem += l->vl_mem;
        }
        if (lines != st->vs_lines || items != st->vs_items)
            differ(&v,
                   "%s: %" PRIu64 " lines with %" PRIu64 " items in lines.csv, "
                   "statements.csv says %" PRIu64 " with %" PRIu64,
                   st->vs_statement, lines, items, st->vs_lines, st->vs_items);
        if (rated != st->vs_rated)
            differ(&v, "%s: the lines' rated charges add up to %s, statements.csv says %s",
                   st->vs_statement, m6(rated, a), m6(st->vs_rated, b));
        if (ent != st->vs_ent || mem != st->vs_mem)
            differ(&v, "%s: the lines' shares add up to %s + %s, statements.csv says %s + %s",
                   st->vs_statement, m2(ent, a), m2(mem, b), m2(st->vs_ent, c2),
                   m2(st->vs_mem, d2));
    }
    if (!rc && (bills || rec_bills[0])) {
        cdr_diag bdg;
        cdr_diag_clear(&bdg);
        if (against_bills(&v, bills ? bills : rec_bills, cycle, &bdg) != 0)
            differ(&v, "the invoices cannot be compared: %s%s%s", bdg.dg_file,
                   bdg.dg_file[0] ? ": " : "", bdg.dg_msg);
    }
    *ndiff = v.v_ndiff;
    *nitems = v.v_nitems;
    for (size_t i = 0; i < v.v_nmanifest; i++)
        free(v.v_manifest[i]);
    free(v.v_manifest);
    free(v.v_lines);
    free(v.v_stmts);
    free(v.v_slot);
    return rc;
}
