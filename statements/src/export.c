/* export.c - every statement of a billed cycle written at once (cdr_stmt_export, cdr_statement.h,
 * docs/statements.md "Export"): enterprise and member statements as JSON, the itemised lines as
 * streaming zstd-compressed CSV in bounded memory, the figures verify checks, and a manifest of
 * sizes and SHA-256 checksums. */
#define _GNU_SOURCE /* syncfs */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "cdr_file.h"
#include "stmt_int.h"

#define ZOUT_BUF (1u << 20)

/* ---- files of the export --------------------------------------------------------------------- */

typedef struct xfile {
    char xf_name[128]; /* relative to the cycle folder */
    uint64_t xf_bytes;
    uint8_t xf_sha[32];
} xfile;

typedef struct xlist {
    xfile *xl_f;
    size_t xl_n, xl_cap;
} xlist;

/* Size and SHA-256 of a written file, read back. */
int stmt_file_sha256(const char *path, uint64_t *bytes, uint8_t sha[32], cdr_diag *dg)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint8_t *buf = malloc(ZOUT_BUF);
    int rc = buf ? 0 : cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    *bytes = 0;
    for (ssize_t got; !rc && (got = read(fd, buf, ZOUT_BUF)) != 0;) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "read error: %s", strerror(errno));
            break;
        }
        crypto_hash_sha256_update(&h, buf, (unsigned long long)got);
        *bytes += (uint64_t)got;
    }
    crypto_hash_sha256_final(&h, sha);
    free(buf);
    close(fd);
    return rc;
}

/* ---- a streaming zstd writer ----------------------------------------------------------------- */

typedef struct zout {
    FILE *zo_f;
    ZSTD_CCtx *zo_cc;
    uint8_t *zo_in, *zo_out;
    size_t zo_inlen;
    int zo_err;
    int zo_open;
    char zo_name[128];
    crypto_hash_sha256_state zo_sha; /* of the bytes written: no reading back */
    uint64_t zo_bytes;
} zout;

static int zout_flush(zout *z, ZSTD_EndDirective end)
{
    ZSTD_inBuffer in = {z->zo_in, z->zo_inlen, 0};
    for (;;) {
        ZSTD_outBuffer out = {z->zo_out, ZOUT_BUF, 0};
        const size_t left = ZSTD_compressStream2(z->zo_cc, &out, &in, end);
        if (ZSTD_isError(left))
            return z->zo_err = CDR_ZSTD;
        if (out.pos && fwrite(z->zo_out, 1, out.pos, z->zo_f) != out.pos)
            return z->zo_err = CDR_EIO;
        crypto_hash_sha256_update(&z->zo_sha, z->zo_out, out.pos);
        z->zo_bytes += out.pos;
        if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
            break;
    }
    z->zo_inlen = 0;
    return 0;
}

static int zout_put(zout *z, const char *s, size_t n)
{
    while (n > 0) {
        if (z->zo_inlen == ZOUT_BUF && zout_flush(z, ZSTD_e_continue))
            return z->zo_err;
        const size_t k = n < ZOUT_BUF - z->zo_inlen ? n : ZOUT_BUF - z->zo_inlen;
        memcpy(z->zo_in + z->zo_inlen, s, k);
        z->zo_inlen += k;
        s += k;
        n -= k;
    }
    return 0;
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct xctx {
    const cdr_stmt_export_config *x_cfg;
    stmt_env x_env;
    const cdr_bill_output *x_bo;
    stmt_lines x_sl;
    cdr_stmt_line *x_prev;  /* the previous cycle's figures of the same lines (or NULL) */
    uint8_t *x_prev_billed; /* [i]: line i was billed in the previous cycle */
    int x_prev_known;
    char x_dir[4200]; /* the partial folder */
    xlist x_files;
    FILE *x_lines_csv, *x_stmts_csv;
    zout x_z;     /* the itemised file being written */
    zout x_zm;    /* the enterprise's member statements being written (JSON lines) */
    char *x_json; /* a statement rendered in memory */
    size_t x_json_len;
    size_t x_group_first; /* the first line of the group being written */
    uint64_t *x_items;    /* items per line */
    cdr_money *x_rated;   /* rated charge of the items per line */
    uint64_t x_nitems;
    uint64_t x_done;
    int x_held;
    cdr_stmt_export_summary *x_sum;
    cdr_diag x_dg;
    char x_row[CDR_STMT_ITEM_CSV_MAX];
} xctx;

static uint64_t group_of(const cdr_dir_subscriber *sb)
{
    return sb->sb_enterprise ? sb->sb_enterprise : 0;
}

/* A file of the export with its size and SHA-256: given (sha not NULL) or read back. */
static int add_file_sha(xctx *x, const char *name, uint64_t bytes, const uint8_t *sha)
{
    if (x->x_files.xl_n == x->x_files.xl_cap) {
        const size_t cap = x->x_files.xl_cap ? x->x_files.xl_cap * 2 : 256;
        xfile *f = realloc(x->x_files.xl_f, cap * sizeof *f);
        if (!f)
            return cdr_diag_set(&x->x_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        x->x_files.xl_f = f;
        x->x_files.xl_cap = cap;
    }
    xfile *f = &x->x_files.xl_f[x->x_files.xl_n];
    snprintf(f->xf_name, sizeof f->xf_name, "%s", name);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", x->x_dir, name);
    int rc = 0;
    if (sha) {
        f->xf_bytes = bytes;
        memcpy(f->xf_sha, sha, sizeof f->xf_sha);
    } else {
        rc = stmt_file_sha256(path, &f->xf_bytes, f->xf_sha, &x->x_dg);
    }
    if (!rc) {
        x->x_files.xl_n++;
        x->x_sum->es_files++;
        x->x_sum->es_bytes += f->xf_bytes;
    }
    return rc;
}

static int add_file(xctx *x, const char *name)
{
    return add_file_sha(x, name, 0, NULL);
}

/* Start the zstd file `name` (header: its first bytes, may be NULL). */
static int z_open(xctx *x, zout *z, const char *name, const char *header, size_t hlen)
{
    char path[4400];
    snprintf(z->zo_name, sizeof z->zo_name, "%s", name);
    snprintf(path, sizeof path, "%s/%s", x->x_dir, name);
    z->zo_f = fopen(path, "w");
    if (!z->zo_f)
        return cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    ZSTD_CCtx_reset(z->zo_cc, ZSTD_reset_session_only);
    z->zo_inlen = 0;
    z->zo_err = 0;
    z->zo_open = 1;
    z->zo_bytes = 0;
    crypto_hash_sha256_init(&z->zo_sha);
    return header ? zout_put(z, header, hlen) : 0;
}

static int z_close(xctx *x, zout *z)
{
    if (!z->zo_open)
        return 0;
    z->zo_open = 0;
    int rc = zout_flush(z, ZSTD_e_end);
    if (fflush(z->zo_f) != 0)
        rc = rc ? rc : CDR_EIO;
    if (fclose(z->zo_f) != 0)
        rc = rc ? rc : CDR_EIO;
    if (rc)
        return cdr_diag_set(&x->x_dg, rc, z->zo_name, 0, 0, "cannot write: %s",
                            rc == CDR_ZSTD ? "compression failed" : strerror(errno));
    uint8_t sha[32];
    crypto_hash_sha256_final(&z->zo_sha, sha);
    return add_file_sha(x, z->zo_name, z->zo_bytes, sha);
}

/* The itemised file `name` begun: its header row. */
static int itemised_open(xctx *x, const char *name)
{
    const size_t n = cdr_stmt_item_csv_header(x->x_cfg->ec_lang, 1, x->x_row, sizeof x->x_row);
    return z_open(x, &x->x_z, name, x->x_row, n);
}

/* A statement rendered as one line of JSON into x_json (the renderer's line breaks and
 * indentation dropped: JSON strings never hold a raw line break). */
static int render_line(xctx *x, const cdr_statement *s)
{
    free(x->x_json);
    x->x_json = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&x->x_json, &n);
    if (!f)
        return cdr_diag_set(&x->x_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    int rc = cdr_stmt_render_json(s, x->x_cfg->ec_lang, f, &x->x_dg);
    if (fclose(f) != 0 && !rc)
        rc = cdr_diag_set(&x->x_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc)
        return rc;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (x->x_json[i] == '\n') {
            while (i + 1 < n && x->x_json[i + 1] == ' ')
                i++;
            continue;
        }
        x->x_json[w++] = x->x_json[i];
    }
    x->x_json[w++] = '\n';
    x->x_json_len = w;
    return 0;
}

/* An itemised file with the header row only, written while another may be open. */
static int write_empty_itemised(xctx *x, const char *name)
{
    char hdr[CDR_STMT_ITEM_CSV_MAX], path[4400];
    const size_t n = cdr_stmt_item_csv_header(x->x_cfg->ec_lang, 1, hdr, sizeof hdr);
    uint8_t z[CDR_STMT_ITEM_CSV_MAX + 256];
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t zn = 0;
    if (cc) {
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        zn = ZSTD_compress2(cc, z, sizeof z, hdr, n);
        ZSTD_freeCCtx(cc);
    }
    if (!cc || ZSTD_isError(zn))
        return cdr_diag_set(&x->x_dg, CDR_ZSTD, name, 0, 0, "cannot compress the header row");
    snprintf(path, sizeof path, "%s/%s", x->x_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    int bad = fwrite(z, 1, zn, f) != zn;
    bad |= fclose(f) != 0;
    if (bad)
        return cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "write error: %s", strerror(errno));
    return add_file(x, name);
}

static int write_json(xctx *x, const char *name, const cdr_statement *s)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", x->x_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    int rc = cdr_stmt_render_json(s, x->x_cfg->ec_lang, f, &x->x_dg);
    if (fflush(f) != 0 && !rc)
        rc = cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "write error: %s", strerror(errno));
    if (fclose(f) != 0 && !rc)
        rc = cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "write error: %s", strerror(errno));
    return rc ? rc : add_file(x, name);
}

/* The itemised file of line i's group: its enterprise's, or an individual line's own. */
static void itemised_name(const cdr_dir_subscriber *sb, char *name, size_t n)
{
    if (group_of(sb))
        snprintf(name, n, "enterprises/%" PRIu64 ".itemised.csv.zst", sb->sb_enterprise);
    else
        snprintf(name, n, "members/%s.itemised.csv.zst", sb->sb_msisdn);
}

static int on_text(size_t line, const char *rows, size_t len, uint64_t nitems, void *ctx)
{
    xctx *x = ctx;
    if (!nitems)
        return 0;
    const cdr_dir_subscriber *sb = x->x_sl.sl_sb[line];
    char name[128];
    itemised_name(sb, name, sizeof name);
    if (!x->x_z.zo_open || strcmp(name, x->x_z.zo_name)) {
        /* the first rows of a group: the previous group's file is complete */
        int rc = z_close(x, &x->x_z);
        if (!rc)
            rc = itemised_open(x, name);
        if (rc)
            return rc;
    }
    x->x_items[line] += nitems;
    x->x_nitems += nitems;
    return zout_put(&x->x_z, rows, len);
}

/* A statement of lines [first, first + n) of the export (their figures filled). */
static void stmt_of(xctx *x, cdr_statement *s, int kind, size_t first, size_t n)
{
    memset(s, 0, sizeof *s);
    s->st_kind = (uint8_t)kind;
    s->st_privacy = (uint8_t)x->x_cfg->ec_privacy;
    s->st_cycle = x->x_cfg->ec_cycle;
    s->st_lines = &x->x_sl.sl_ln[first];
    s->st_nlines = n;
    const cdr_dir_subscriber *sb = x->x_sl.sl_sb[first];
    const cdr_dir *dir = x->x_env.se_dir;
    stmt_header(dir, x->x_bo,
                sb->sb_enterprise ? cdr_dir_find_enterprise(dir, sb->sb_enterprise) : NULL, sb, s);
    stmt_sum_lines(dir, s);
}

/* One row of statements.csv. */
static void stmt_row(xctx *x, const char *id, const char *file, const char *itemised,
                     const cdr_statement *s, size_t first)
{
    uint64_t items = 0;
    cdr_money rated = 0;
    for (size_t i = 0; i < s->st_nlines; i++) {
        items += x->x_items[first + i];
        rated += x->x_rated[first + i];
    }
    const cdr_stmt_invoice *iv = s->st_ninvoices ? &s->st_invoices[0] : NULL;
    char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
    fprintf(x->x_stmts_csv, "%s,%s,%s,%s,%zu,%" PRIu64 ",%s,%s,%s,%s,%s,%s,%s,%s\n", id, file,
            itemised, s->st_currency, s->st_nlines, items,
            cdr_money_format(rated, 6, CDR_ROUND_HALF_UP, a, sizeof a),
            cdr_money_format(s->st_enterprise_share, 2, CDR_ROUND_HALF_UP, b, sizeof b),
            cdr_money_format(s->st_member_share, 2, CDR_ROUND_HALF_UP, c, sizeof c),
            cdr_money_format(s->st_account_adjustments, 2, CDR_ROUND_HALF_UP, g, sizeof g),
            iv ? iv->iv_invoice : "",
            iv ? cdr_money_format(iv->iv_amount, 2, CDR_ROUND_HALF_UP, d, sizeof d) : "",
            iv ? cdr_money_format(iv->iv_tax, 2, CDR_ROUND_HALF_UP, e, sizeof e) : "",
            iv ? cdr_money_format(iv->iv_total, 2, CDR_ROUND_HALF_UP, f, sizeof f) : "");
}

/* The enterprise's account-level lines (adjustments of the account itself). */
static cdr_money account_adjustments(const cdr_bill_output *bo, uint64_t account)
{
    cdr_money sum = 0;
    for (size_t i = 0; i < bo->bo_nlines; i++)
        if (!bo->bo_lines[i].bl_subscriber && bo->bo_lines[i].bl_account == account)
            sum += bo->bo_lines[i].bl_amount;
    return sum;
}

static int on_line(cdr_stmt_line *ln, size_t i, void *ctx)
{
    xctx *x = ctx;
    const cdr_dir_subscriber *sb = x->x_sl.sl_sb[i];
    cdr_money rated = 0;
    for (int c = 0; c < CDR_CLASS_COUNT; c++)
        rated += ln->ln_class[c].cl_rated;
    x->x_rated[i] = rated;
    /* its member statement: an individual's in a file of its own, an enterprise member's as a
     * line of its enterprise's members.jsonl.zst */
    cdr_statement s;
    stmt_of(x, &s, CDR_STMT_MEMBER, i, 1);
    char name[128], id[64];
    const int ent = group_of(sb) != 0;
    int rc;
    if (ent) {
        snprintf(name, sizeof name, "enterprises/%" PRIu64 ".members.jsonl.zst", sb->sb_enterprise);
        if (!x->x_zm.zo_open && (rc = z_open(x, &x->x_zm, name, NULL, 0)) != 0)
            return rc;
        if ((rc = render_line(x, &s)) != 0 ||
            (rc = zout_put(&x->x_zm, x->x_json, x->x_json_len)) != 0)
            return rc;
    } else {
        snprintf(name, sizeof name, "members/%s.json", sb->sb_msisdn);
        if ((rc = write_json(x, name, &s)) != 0)
            return rc;
    }
    char a[32], b[32], c[32], d[32], e[32];
    if (ent)
        snprintf(id, sizeof id, "enterprise:%" PRIu64, sb->sb_enterprise);
    else
        snprintf(id, sizeof id, "member:%s", sb->sb_msisdn);
    fprintf(x->x_lines_csv, "%s,%" PRIu64 ",%s,%" PRIu64 ",%s,%s,%s,%s,%s\n", id, sb->sb_id,
            sb->sb_msisdn, x->x_items[i],
            cdr_money_format(rated, 6, CDR_ROUND_HALF_UP, a, sizeof a),
            cdr_money_format(ln->ln_enterprise_share, 2, CDR_ROUND_HALF_UP, b, sizeof b),
            cdr_money_format(ln->ln_member_share, 2, CDR_ROUND_HALF_UP, c, sizeof c),
            cdr_money_format(ln->ln_enterprise_tax, 2, CDR_ROUND_HALF_UP, d, sizeof d),
            cdr_money_format(ln->ln_member_tax, 2, CDR_ROUND_HALF_UP, e, sizeof e));
    /* the end of a group: its itemised file and (enterprise) its statement */
    const int last = i + 1 == x->x_sl.sl_n || group_of(x->x_sl.sl_sb[i + 1]) != group_of(sb) ||
                     (!ent); /* an individual is a group of one */
    if (last) {
        char zname[128];
        itemised_name(sb, zname, sizeof zname);
        uint64_t group_items = 0;
        for (size_t k = x->x_group_first; k <= i; k++)
            group_items += x->x_items[k];
        if (x->x_z.zo_open && !strcmp(x->x_z.zo_name, zname))
            rc = z_close(x, &x->x_z); /* its last item was given before this callback */
        else if (!group_items)        /* a group without records: the header row only */
            rc = write_empty_itemised(x, zname);
        if (!rc && ent)
            rc = z_close(x, &x->x_zm);
        if (rc)
            return rc;
        const size_t first = x->x_group_first, n = i + 1 - first;
        if (ent) {
            stmt_of(x, &s, CDR_STMT_ENTERPRISE, first, n);
            s.st_account_adjustments = account_adjustments(x->x_bo, s.st_enterprise_account);
            s.st_change.ch_cycle = stmt_previous_cycle(x->x_cfg->ec_cycle);
            if (x->x_prev_known) { /* the members billed then, as the statement command counts */
                s.st_change.ch_known = 1;
                for (size_t k = first; k < first + n; k++)
                    if (x->x_prev_billed[k])
                        stmt_change_add(&s.st_change, &x->x_prev[k]);
            }
            snprintf(name, sizeof name, "enterprises/%" PRIu64 ".json", sb->sb_enterprise);
            if ((rc = write_json(x, name, &s)) != 0)
                return rc;
            stmt_row(x, id, name, zname, &s, first);
            x->x_sum->es_enterprises++;
        } else {
            stmt_row(x, id, name, zname, &s, i);
        }
        x->x_group_first = i + 1;
    }
    x->x_sum->es_members++;
    x->x_done++;
    const cdr_progress *pg = x->x_cfg->ec_progress;
    if (pg && pg->pr_fn)
        pg->pr_fn(pg->pr_arg, x->x_done, x->x_sl.sl_n);
    const char *hold = getenv(CDR_STMT_EXPORT_HOLD_ENV);
    if (hold && !x->x_held && x->x_done * 2 >= x->x_sl.sl_n) {
        x->x_held = 1;
        fprintf(stderr, "cdrate statement export: test hook: holding a half-written export\n");
        const long ms = strtol(hold, NULL, 10);
        const struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int line_order(const void *a, const void *b)
{
    const cdr_dir_subscriber *x = *(const cdr_dir_subscriber *const *)a;
    const cdr_dir_subscriber *y = *(const cdr_dir_subscriber *const *)b;
    /* enterprises first, by id, their members by id; then individual lines by id */
    const uint64_t gx = x->sb_enterprise ? x->sb_enterprise : UINT64_MAX;
    const uint64_t gy = y->sb_enterprise ? y->sb_enterprise : UINT64_MAX;
    if (gx != gy)
        return gx < gy ? -1 : 1;
    return x->sb_id < y->sb_id ? -1 : x->sb_id > y->sb_id;
}

/* Remove folder path and what is in it (two levels: the export's own layout). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (unlink(p) != 0 && errno == EISDIR)
            remove_tree(p);
        else if (errno == EISDIR || errno == EPERM)
            remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static int write_table(xctx *x, const char *name, FILE **f, const char *header)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", x->x_dir, name);
    *f = fopen(path, "w");
    if (!*f)
        return cdr_diag_set(&x->x_dg, CDR_EIO, path, 0, 0, "cannot create: %s", strerror(errno));
    fputs(header, *f);
    return 0;
}

static int close_table(xctx *x, const char *name, FILE *f)
{
    int bad = ferror(f) || fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad)
        return cdr_diag_set(&x->x_dg, CDR_EIO, name, 0, 0, "write error: %s", strerror(errno));
    return add_file(x, name);
}

int cdr_stmt_export(cdr_store *st, const cdr_stmt_export_config *cfg, cdr_stmt_export_summary *sum,
                    cdr_diag *dg)
{
    memset(sum, 0, sizeof *sum);
    if (sodium_init() < 0)
        return cdr_diag_set(dg, CDR_EINVAL, NULL, 0, 0, "libsodium cannot be initialised");
    xctx *x = calloc(1, sizeof *x);
    if (!x)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    x->x_cfg = cfg;
    x->x_sum = sum;
    cdr_diag_clear(&x->x_dg);
    x->x_env = (stmt_env){.se_ledger = cfg->ec_ledger,
                          .se_bills = cfg->ec_bills,
                          .se_cycle = cfg->ec_cycle,
                          .se_privacy = cfg->ec_privacy,
                          .se_hint = cfg->ec_hint,
                          .se_budget = cfg->ec_budget};
    char cyc[24], final_dir[4200], lock_path[4200];
    snprintf(cyc, sizeof cyc, "%04u-%02u", cfg->ec_cycle / 100 % 10000, cfg->ec_cycle % 100);
    snprintf(final_dir, sizeof final_dir, "%s/%s", cfg->ec_out, cyc);
    snprintf(x->x_dir, sizeof x->x_dir, "%s/.%s.partial", cfg->ec_out, cyc);
    snprintf(lock_path, sizeof lock_path, "%s/.%s.lock", cfg->ec_out, cyc);
    cdr_bill_output *bo = NULL;
    int lock_fd = -1;
    int rc = cdr_dir_read(st, &x->x_env.se_dir, dg);
    if (!rc)
        rc = cdr_plan_set_load(st, &x->x_env.se_ps, dg);
    if (!rc)
        rc = cdr_bill_output_read(cfg->ec_bills, cfg->ec_cycle, NULL, NULL, NULL, &bo, dg);
    x->x_bo = bo;
    /* the output folder, its lock and the partial folder (a killed run's is started over) */
    if (!rc && mkdir(cfg->ec_out, 0777) != 0 && errno != EEXIST)
        rc = cdr_diag_set(dg, CDR_EIO, cfg->ec_out, 0, 0, "cannot create: %s", strerror(errno));
    if (!rc) {
        lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (lock_fd < 0)
            rc = cdr_diag_set(dg, CDR_EIO, lock_path, 0, 0, "cannot create: %s", strerror(errno));
        else if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
            rc = cdr_diag_set(dg, CDR_EXISTS, lock_path, 0, 0,
                              "another export of cycle %s into %s is running", cyc, cfg->ec_out);
    }
    if (!rc) {
        remove_tree(x->x_dir);
        char p[4400];
        if (mkdir(x->x_dir, 0777) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, x->x_dir, 0, 0, "cannot create: %s", strerror(errno));
        snprintf(p, sizeof p, "%s/enterprises", x->x_dir);
        if (!rc && mkdir(p, 0777) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, p, 0, 0, "cannot create: %s", strerror(errno));
        snprintf(p, sizeof p, "%s/members", x->x_dir);
        if (!rc && mkdir(p, 0777) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, p, 0, 0, "cannot create: %s", strerror(errno));
    }
    /* the billed lines, enterprises first */
    size_t nsubs = 0;
    const cdr_dir_subscriber *subs = rc ? NULL : cdr_dir_subscribers(x->x_env.se_dir, &nsubs);
    if (!rc) {
        uint8_t *billed = calloc(nsubs + 1, 1);
        x->x_sl.sl_sb = malloc((nsubs + 1) * sizeof *x->x_sl.sl_sb);
        if (!billed || !x->x_sl.sl_sb)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        for (size_t i = 0; !rc && i < bo->bo_nlines; i++) {
            const uint64_t id = bo->bo_lines[i].bl_subscriber;
            if (!id)
                continue;
            size_t lo = 0, hi = nsubs;
            while (lo < hi) {
                const size_t mid = lo + (hi - lo) / 2;
                if (subs[mid].sb_id < id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < nsubs && subs[lo].sb_id == id)
                billed[lo] = 1;
        }
        for (size_t i = 0; !rc && i < nsubs; i++)
            if (billed[i])
                x->x_sl.sl_sb[x->x_sl.sl_n++] = &subs[i];
        free(billed);
        if (!rc)
            qsort(x->x_sl.sl_sb, x->x_sl.sl_n, sizeof *x->x_sl.sl_sb, line_order);
    }
    if (!rc) {
        const size_t n = x->x_sl.sl_n + 1;
        x->x_sl.sl_ln = calloc(n, sizeof *x->x_sl.sl_ln);
        x->x_items = calloc(n, sizeof *x->x_items);
        x->x_rated = calloc(n, sizeof *x->x_rated);
        x->x_z.zo_cc = ZSTD_createCCtx();
        x->x_z.zo_in = malloc(ZOUT_BUF);
        x->x_z.zo_out = malloc(ZOUT_BUF);
        x->x_zm.zo_cc = ZSTD_createCCtx();
        x->x_zm.zo_in = malloc(ZOUT_BUF);
        x->x_zm.zo_out = malloc(ZOUT_BUF);
        if (!x->x_sl.sl_ln || !x->x_items || !x->x_rated || !x->x_z.zo_cc || !x->x_z.zo_in ||
            !x->x_z.zo_out || !x->x_zm.zo_cc || !x->x_zm.zo_in || !x->x_zm.zo_out)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        else {
            ZSTD_CCtx_setParameter(x->x_z.zo_cc, ZSTD_c_compressionLevel,
                                   cfg->ec_level ? cfg->ec_level : 1);
            ZSTD_CCtx_setParameter(x->x_z.zo_cc, ZSTD_c_checksumFlag, 1); /* damage is found */
            /* compression on a thread of zstd's own, beside the pass (ignored by a libzstd
             * built without threads: then it compresses inline) */
            ZSTD_CCtx_setParameter(x->x_z.zo_cc, ZSTD_c_nbWorkers, 1);
            ZSTD_CCtx_setParameter(x->x_z.zo_cc, ZSTD_c_jobSize, 1 << 20); /* small buffers */
            ZSTD_CCtx_setParameter(x->x_zm.zo_cc, ZSTD_c_compressionLevel,
                                   cfg->ec_level ? cfg->ec_level : 1);
            ZSTD_CCtx_setParameter(x->x_zm.zo_cc, ZSTD_c_checksumFlag, 1);
        }
    }
    for (size_t i = 0; !rc && i < x->x_sl.sl_n; i++)
        stmt_line_identity(x->x_env.se_dir, x->x_sl.sl_sb[i], &x->x_sl.sl_ln[i]);
    /* the previous cycle's figures, for the enterprises' change */
    if (!rc) {
        cdr_bill_output *pbo = NULL;
        cdr_diag pdg;
        cdr_diag_clear(&pdg);
        const uint32_t prev = stmt_previous_cycle(cfg->ec_cycle);
        const int prc = cdr_bill_output_read(cfg->ec_bills, prev, NULL, NULL, NULL, &pbo, &pdg);
        if (prc == 0) {
            x->x_prev = calloc(x->x_sl.sl_n + 1, sizeof *x->x_prev);
            x->x_prev_billed = calloc(x->x_sl.sl_n + 1, 1);
            if (!x->x_prev || !x->x_prev_billed)
                rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            stmt_lines psl = {x->x_sl.sl_n, x->x_sl.sl_sb, x->x_prev};
            if (!rc && stmt_apply_invoices(pbo, &psl, 0, NULL, NULL, x->x_prev_billed, &pdg) == 0) {
                stmt_env e = x->x_env;
                e.se_hint = 0;
                e.se_cycle = prev;
                rc = stmt_pass(&e, prev, &psl, NULL, NULL, NULL, NULL, dg);
                x->x_prev_known = !rc;
            }
        } else if (prc != CDR_NOTBILLED) {
            *dg = pdg;
            rc = prc;
        }
        cdr_bill_output_free(pbo);
    }
    if (!rc)
        rc = stmt_apply_invoices(bo, &x->x_sl, 0, NULL, NULL, NULL, dg);
    if (!rc)
        rc = write_table(x, "lines.csv", &x->x_lines_csv,
                         "statement,subscriber,msisdn,items,rated,enterprise,member,enterprise_tax,"
                         "member_tax\n");
    if (!rc)
        rc = write_table(x, "statements.csv", &x->x_stmts_csv,
                         "statement,file,itemised,currency,lines,items,rated,enterprise_share,"
                         "member_share,account_adjustments,invoice,invoice_amount,invoice_tax,"
                         "invoice_total\n");
    if (!rc) {
        rc = stmt_pass(&x->x_env, cfg->ec_cycle, &x->x_sl, NULL, on_text, on_line, x, dg);
        if (rc && x->x_dg.dg_code) {
            *dg = x->x_dg;
            rc = x->x_dg.dg_code;
        }
    }
    if (!rc && (rc = close_table(x, "lines.csv", x->x_lines_csv)) != 0)
        *dg = x->x_dg;
    x->x_lines_csv = NULL;
    if (!rc && (rc = close_table(x, "statements.csv", x->x_stmts_csv)) != 0)
        *dg = x->x_dg;
    x->x_stmts_csv = NULL;
    /* export.csv: where it came from; then the manifest of every file */
    if (!rc) {
        FILE *f = NULL;
        rc = write_table(x, "export.csv", &f, "key,value\n");
        if (!rc) {
            fprintf(f, "cycle,%s\nbills,%s\nledger,%s\nlines,%zu\nitems,%" PRIu64 "\n", cyc,
                    cfg->ec_bills, cfg->ec_ledger, x->x_sl.sl_n, x->x_nitems);
            rc = close_table(x, "export.csv", f);
        }
        if (rc)
            *dg = x->x_dg;
    }
    if (!rc) {
        FILE *f = NULL;
        rc = write_table(x, "manifest.csv", &f, "file,bytes,sha256\n");
        for (size_t i = 0; !rc && i < x->x_files.xl_n; i++) {
            char h[65];
            sodium_bin2hex(h, sizeof h, x->x_files.xl_f[i].xf_sha, 32);
            fprintf(f, "%s,%" PRIu64 ",%s\n", x->x_files.xl_f[i].xf_name,
                    x->x_files.xl_f[i].xf_bytes, h);
        }
        if (!rc) {
            int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
            bad |= fclose(f) != 0;
            /* every file of the export durable at once (one syncfs, not one fsync a file) */
            const int dfd = open(x->x_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            bad |= dfd < 0 || syncfs(dfd) != 0;
            if (dfd >= 0)
                close(dfd);
            if (bad)
                rc = cdr_diag_set(dg, CDR_EIO, "manifest.csv", 0, 0, "write error: %s",
                                  strerror(errno));
        } else {
            *dg = x->x_dg;
        }
    }
    /* publish: the partial folder becomes OUT/YYYY-MM (an earlier export of the cycle removed) */
    if (!rc) {
        char p[4400];
        snprintf(p, sizeof p, "%s/enterprises", x->x_dir);
        cdr_fsync_dir(p);
        snprintf(p, sizeof p, "%s/members", x->x_dir);
        cdr_fsync_dir(p);
        cdr_fsync_dir(x->x_dir);
        char old[4300];
        snprintf(old, sizeof old, "%s/.%s.old", cfg->ec_out, cyc);
        remove_tree(old);
        const int had = rename(final_dir, old) == 0;
        if (rename(x->x_dir, final_dir) != 0)
            rc = cdr_diag_set(dg, CDR_EIO, final_dir, 0, 0, "cannot publish: %s", strerror(errno));
        else if (had)
            remove_tree(old);
        cdr_fsync_dir(cfg->ec_out);
        snprintf(sum->es_dir, sizeof sum->es_dir, "%s", final_dir);
        sum->es_items = x->x_nitems;
    }
    if (x->x_z.zo_open)
        fclose(x->x_z.zo_f);
    if (x->x_zm.zo_open)
        fclose(x->x_zm.zo_f);
    ZSTD_freeCCtx(x->x_zm.zo_cc);
    free(x->x_zm.zo_in);
    free(x->x_zm.zo_out);
    free(x->x_json);
    if (x->x_lines_csv)
        fclose(x->x_lines_csv);
    if (x->x_stmts_csv)
        fclose(x->x_stmts_csv);
    if (lock_fd >= 0)
        close(lock_fd);
    ZSTD_freeCCtx(x->x_z.zo_cc);
    free(x->x_z.zo_in);
    free(x->x_z.zo_out);
    free(x->x_sl.sl_sb);
    free(x->x_sl.sl_ln);
    free(x->x_prev);
    free(x->x_prev_billed);
    free(x->x_items);
    free(x->x_rated);
    free(x->x_files.xl_f);
    cdr_bill_output_free(bo);
    cdr_dir_free(x->x_env.se_dir);
    if (x->x_env.se_ps)
        cdr_plan_set_release(x->x_env.se_ps);
    free(x);
    return rc;
}
