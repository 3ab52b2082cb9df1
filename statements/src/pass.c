/* pass.c - the statements' pass over the ledger: the cycle's records of the selected lines (with
 * the corrections of the cycle's own correction sets in place of what they correct), spilled to
 * temporary files by line range and read back one range at a time, so that memory stays bounded
 * whatever the enterprise's size; per line its usage, bundles, hint and items (stmt_int.h). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_bytes.h"
#include "cdr_ledger.h"
#include "cdr_mem.h"
#include "cdr_rerate.h"
#include "cdr_stmt_hint.h"
#include "stmt_int.h"

#define SPILL_BUF       (64u << 10)
#define MAX_BUCKETS     256
#define DEFAULT_BUDGET  (16ull << 20)
#define AVG_RECORD_SIZE 150         /* bytes a spilled record takes, for sizing the buckets */
#define TEXT_KEEP       (8u << 20)  /* a worker's text buffer kept for the next group */
#define SLOT_KEEP       (1u << 18)  /* records of a group whose slots are kept */
#define BUF_KEEP        (24u << 20) /* a group's spilled bytes kept for the next */

/* ---- lines by MSISDN ------------------------------------------------------------------------ */

typedef struct linemap {
    uint32_t *lm_slot; /* line index + 1, 0 = empty */
    size_t lm_mask;
    const stmt_lines *lm_sl;
} linemap;

static int linemap_build(linemap *m, const stmt_lines *sl)
{
    size_t cap = 16;
    while (cap < sl->sl_n * 2)
        cap <<= 1;
    m->lm_slot = calloc(cap, sizeof *m->lm_slot);
    if (!m->lm_slot)
        return CDR_ENOMEM;
    m->lm_mask = cap - 1;
    m->lm_sl = sl;
    for (size_t i = 0; i < sl->sl_n; i++) {
        const char *ms = sl->sl_sb[i]->sb_msisdn;
        size_t h = stmt_hash(ms, strlen(ms)) & m->lm_mask;
        while (m->lm_slot[h])
            h = (h + 1) & m->lm_mask;
        m->lm_slot[h] = (uint32_t)i + 1;
    }
    return 0;
}

static ptrdiff_t linemap_find(const linemap *m, const char *ms, size_t n)
{
    size_t h = stmt_hash(ms, n) & m->lm_mask;
    for (uint32_t v; (v = m->lm_slot[h]) != 0; h = (h + 1) & m->lm_mask) {
        const char *x = m->lm_sl->sl_sb[v - 1]->sb_msisdn;
        if (strlen(x) == n && !memcmp(x, ms, n))
            return (ptrdiff_t)v - 1;
    }
    return -1;
}

/* ---- corrections: (partition, offset) -> the last correction's bytes ------------------------- */

typedef struct corr_ent {
    uint64_t ce_key; /* partition << 40 | offset, + 1 (0 = empty) */
    uint8_t *ce_wire;
    uint16_t ce_len;
} corr_ent;

typedef struct corrmap {
    corr_ent *cm_e;
    size_t cm_mask, cm_n;
} corrmap;

static uint64_t corr_key(uint32_t partition, int64_t offset)
{
    return ((uint64_t)partition << 40 | (uint64_t)offset) + 1;
}

static corr_ent *corr_slot(corrmap *m, uint64_t key)
{
    if (!m->cm_e)
        return NULL;
    size_t h = cdr_mix64(key) & m->cm_mask;
    while (m->cm_e[h].ce_key && m->cm_e[h].ce_key != key)
        h = (h + 1) & m->cm_mask;
    return &m->cm_e[h];
}

static int corr_put(corrmap *m, uint64_t key, const uint8_t *wire, size_t len)
{
    if ((m->cm_n + 1) * 2 > m->cm_mask + 1 || !m->cm_e) {
        const size_t cap = m->cm_e ? (m->cm_mask + 1) * 2 : 1024;
        corr_ent *e = calloc(cap, sizeof *e);
        if (!e)
            return CDR_ENOMEM;
        corrmap nm = {e, cap - 1, 0};
        for (size_t i = 0; m->cm_e && i <= m->cm_mask; i++)
            if (m->cm_e[i].ce_key) {
                *corr_slot(&nm, m->cm_e[i].ce_key) = m->cm_e[i];
                nm.cm_n++;
            }
        free(m->cm_e);
        *m = nm;
    }
    corr_ent *s = corr_slot(m, key);
    uint8_t *w = malloc(len);
    if (!w)
        return CDR_ENOMEM;
    memcpy(w, wire, len);
    if (s->ce_key)
        free(s->ce_wire); /* a later set's correction of the same record wins */
    else
        m->cm_n++;
    s->ce_key = key;
    s->ce_wire = w;
    s->ce_len = (uint16_t)len;
    return 0;
}

static void corr_free(corrmap *m)
{
    for (size_t i = 0; m->cm_e && i <= m->cm_mask; i++)
        free(m->cm_e[i].ce_wire);
    free(m->cm_e);
}

typedef struct corr_scan {
    corrmap *cs_map;
    const linemap *cs_lines;
    const cdr_corr_set *cs_sets;
    int cs_nsets;
    uint32_t cs_cycle;
    int cs_rc;
} corr_scan;

static int on_corr(const cdr_ledger_view *v, size_t n, uint32_t partition, void *arg)
{
    corr_scan *k = arg;
    const uint32_t set = CDR_CORR_SET_OF(partition);
    int taken = 0;
    for (int i = 0; i < k->cs_nsets; i++)
        if (k->cs_sets[i].cs_set == set)
            taken = k->cs_sets[i].cs_cycle == k->cs_cycle && k->cs_sets[i].cs_target == k->cs_cycle;
    if (!taken)
        return 0; /* an open or abandoned set, or one a later bill takes as adjustments */
    for (size_t i = 0; i < n; i++) {
        const cdr_rated_view *rv = &v[i].lv_rv;
        if (!(rv->rv_flags & CDR_RATED_FLAG_CORRECTION) || (v[i].lv_offset & 1) == 0)
            continue;
        if (linemap_find(k->cs_lines, rv->rv_cdr.wv_msisdn, rv->rv_cdr.wv_msisdn_len) < 0)
            continue;
        const uint64_t key = corr_key(CDR_CORR_ORIG_PART(partition), (v[i].lv_offset - 1) / 2);
        if ((k->cs_rc = corr_put(k->cs_map, key, v[i].lv_wire, v[i].lv_len)) != 0)
            return 1;
    }
    return 0;
}

static int load_corrections(const char *ledger, uint32_t cycle, const linemap *lm, corrmap *m,
                            cdr_diag *dg)
{
    cdr_corr_set *sets = NULL;
    const int n = cdr_corr_sets(ledger, &sets, dg);
    if (n <= 0)
        return n < 0 ? dg->dg_code : 0;
    int taken = 0;
    for (int i = 0; i < n; i++)
        taken |= sets[i].cs_cycle == cycle && sets[i].cs_target == cycle;
    int rc = 0;
    if (taken) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", ledger, CDR_CORR_DIR);
        const cdr_ledger_opts lo = {.lo_readonly = 1};
        cdr_ledger *lg = NULL;
        rc = cdr_ledger_open(dir, &lo, &lg, dg);
        corr_scan k = {m, lm, sets, n, cycle, 0};
        if (!rc)
            rc = cdr_ledger_scan_view(lg, cycle, 0, 1, on_corr, &k, dg);
        if (k.cs_rc)
            rc = cdr_diag_set(dg, k.cs_rc, NULL, 0, 0, "out of memory");
        cdr_ledger_close(lg);
    }
    free(sets);
    return rc;
}

/* ---- spilling -------------------------------------------------------------------------------- */

typedef struct spill_hdr {
    uint32_t sh_line;
    uint32_t sh_partition;
    int64_t sh_offset;
    uint32_t sh_len;
    uint32_t sh_pad;
} spill_hdr;

#define SHARES 2 /* threads reading the ledger, each a share of the cycle's partitions */

/* The spill files: per share of the scan, one file per bucket (bucket k holds a range of lines);
 * each share writes its own files, so the scan threads share nothing but read-only maps. */
typedef struct spill {
    const stmt_env *sp_env;
    const stmt_lines *sp_sl;
    linemap sp_lines;
    corrmap sp_corr;
    unsigned sp_nb;
    unsigned sp_nshares;
    FILE **sp_f; /* [share * nb + bucket] */
    char **sp_buf;
} spill;

/* One share of the scan: its files, its error. */
typedef struct spill_share {
    spill *ss_sp;
    unsigned ss_share;
    const char *ss_ledger;
    uint32_t ss_cycle;
    int ss_rc;  /* of the scan */
    int ss_wrc; /* of a write */
    cdr_diag ss_dg;
} spill_share;

static int spill_open(spill *sp, cdr_diag *dg)
{
    const char *tmp = sp->sp_env->se_tmpdir;
    if (!tmp)
        tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    const unsigned nf = sp->sp_nb * sp->sp_nshares;
    sp->sp_f = calloc(nf, sizeof *sp->sp_f);
    sp->sp_buf = calloc(nf, sizeof *sp->sp_buf);
    if (!sp->sp_f || !sp->sp_buf)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (unsigned b = 0; b < nf; b++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/cdrate-statement-XXXXXX", tmp);
        const int fd = mkstemp(path);
        if (fd < 0)
            return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create a temporary file: %s",
                                strerror(errno));
        unlink(path); /* anonymous: gone with the process, however it ends */
        sp->sp_f[b] = fdopen(fd, "w+");
        sp->sp_buf[b] = malloc(SPILL_BUF);
        if (!sp->sp_f[b] || !sp->sp_buf[b]) {
            if (!sp->sp_f[b])
                close(fd);
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        setvbuf(sp->sp_f[b], sp->sp_buf[b], _IOFBF, SPILL_BUF);
    }
    return 0;
}

static void spill_close(spill *sp)
{
    const unsigned nf = sp->sp_nb * sp->sp_nshares;
    for (unsigned b = 0; sp->sp_f && b < nf; b++)
        if (sp->sp_f[b])
            fclose(sp->sp_f[b]);
    for (unsigned b = 0; sp->sp_buf && b < nf; b++)
        free(sp->sp_buf[b]);
    free(sp->sp_f);
    free(sp->sp_buf);
    free(sp->sp_lines.lm_slot);
    corr_free(&sp->sp_corr);
}

static int spill_put(spill_share *ss, size_t line, uint32_t partition, int64_t offset,
                     const uint8_t *wire, size_t len)
{
    spill *sp = ss->ss_sp;
    const corr_ent *c =
        sp->sp_corr.cm_n ? corr_slot(&sp->sp_corr, corr_key(partition, offset)) : NULL;
    if (c && c->ce_key) {
        wire = c->ce_wire;
        len = c->ce_len;
    }
    const unsigned b = (unsigned)((uint64_t)line * sp->sp_nb / sp->sp_sl->sl_n);
    FILE *f = sp->sp_f[ss->ss_share * sp->sp_nb + b];
    const spill_hdr h = {(uint32_t)line, partition, offset, (uint32_t)len, 0};
    static const uint8_t pad[8];
    const size_t npad = ((len + 7u) & ~(size_t)7u) - len; /* the next header stays aligned */
    if (fwrite_unlocked(&h, sizeof h, 1, f) != 1 || fwrite_unlocked(wire, 1, len, f) != len ||
        fwrite_unlocked(pad, 1, npad, f) != npad) {
        ss->ss_wrc = cdr_diag_set(&ss->ss_dg, CDR_EIO, NULL, 0, 0,
                                  "cannot write a temporary file: %s", strerror(errno));
        return 1;
    }
    return 0;
}

static int on_view(const cdr_ledger_view *v, size_t n, uint32_t partition, void *arg)
{
    spill_share *ss = arg;
    const linemap *lm = &ss->ss_sp->sp_lines;
    for (size_t i = 0; i < n; i++) {
        const cdr_rated_view *rv = &v[i].lv_rv;
        if (rv->rv_reason)
            continue; /* unratable: not billed */
        const ptrdiff_t line = linemap_find(lm, rv->rv_cdr.wv_msisdn, rv->rv_cdr.wv_msisdn_len);
        if (line >= 0 &&
            spill_put(ss, (size_t)line, partition, v[i].lv_offset, v[i].lv_wire, v[i].lv_len))
            return 1;
    }
    return 0;
}

/* One share of the scan, with a ledger handle of its own (a thread of its own but the first). */
static void *scan_share(void *arg)
{
    spill_share *ss = arg;
    cdr_ledger *lg = NULL;
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    ss->ss_rc = cdr_ledger_open(ss->ss_ledger, &lo, &lg, &ss->ss_dg);
    if (!ss->ss_rc)
        ss->ss_rc = cdr_ledger_scan_view_segments(lg, ss->ss_cycle, ss->ss_share,
                                                  ss->ss_sp->sp_nshares, on_view, ss, &ss->ss_dg);
    if (ss->ss_wrc)
        ss->ss_rc = ss->ss_wrc;
    cdr_ledger_close(lg);
    return NULL;
}

typedef struct sub_ctx {
    spill_share sc_ss;
    size_t sc_line;
    uint8_t sc_wire[CDR_RATED_WIRE_MAX];
} sub_ctx;

static int on_sub_rec(const cdr_ledger_rec *rec, uint32_t partition, void *arg)
{
    sub_ctx *c = arg;
    if (rec->lr_rated.rr_reason)
        return 0;
    const size_t len =
        cdr_rated_wire_encode(&rec->lr_cdr, &rec->lr_rated, rec->lr_plan, c->sc_wire);
    return spill_put(&c->sc_ss, c->sc_line, partition, rec->lr_offset, c->sc_wire, len);
}

/* ---- one group of buckets: its lines on worker threads ----------------------------------------
 */

/* A record of the group: where its bytes are (in the group's buffer). */
typedef struct wslot {
    const uint8_t *ws_wire;
    uint32_t ws_len;
} wslot;

typedef struct pass_ctx pass_ctx;

static const spill_hdr *slot_hdr(const wslot *s)
{
    return (const spill_hdr *)(const void *)(s->ws_wire - sizeof(spill_hdr));
}

/* Ledger order: (partition, offset). */
static int slot_cmp(const void *a, const void *b)
{
    const spill_hdr *x = slot_hdr(a), *y = slot_hdr(b);
    if (x->sh_partition != y->sh_partition)
        return x->sh_partition < y->sh_partition ? -1 : 1;
    return x->sh_offset < y->sh_offset ? -1 : x->sh_offset > y->sh_offset;
}

/* Put s[0..n) in ledger order: already sorted, two sorted runs (one per share file: merged in
 * linear time), or anything else (sorted). Returns 0 or CDR_ENOMEM. */
static int slots_order(wslot *s, size_t n)
{
    size_t brk = 0, nbrk = 0;
    for (size_t j = 1; j < n && nbrk < 2; j++)
        if (slot_cmp(&s[j - 1], &s[j]) > 0) {
            brk = j;
            nbrk++;
        }
    if (nbrk == 0)
        return 0;
    if (nbrk > 1) {
        qsort(s, n, sizeof *s, slot_cmp);
        return 0;
    }
    wslot *a = malloc(brk * sizeof *a); /* the first run; the second stays in place */
    if (!a)
        return CDR_ENOMEM;
    memcpy(a, s, brk * sizeof *a);
    size_t i = 0, j = brk, k = 0;
    while (i < brk && j < n)
        s[k++] = slot_cmp(&s[j], &a[i]) < 0 ? s[j++] : a[i++];
    while (i < brk)
        s[k++] = a[i++];
    free(a);
    return 0;
}

/* One worker: a range of the group's lines, decoded one line at a time. */
typedef struct worker {
    pass_ctx *wk_pc;
    size_t wk_lo, wk_hi; /* lines (indexes into the lines) */
    cdr_record *wk_rec;
    cdr_rated *wk_rated;
    const cdr_plan **wk_plan;
    uint32_t *wk_order, *wk_tmp;
    size_t wk_cap;
    char *wk_txt; /* text mode: the items' rows of its lines */
    size_t wk_txt_len, wk_txt_cap;
    size_t *wk_line_end; /* per line of the range: the end of its rows in wk_txt */
    uint64_t *wk_line_items;
    size_t wk_lcap;
    int wk_direct;  /* 1: on the calling thread, each line given when done (not buffered) */
    size_t wk_done; /* lines of the range done (a threaded worker: under pc_mu) */
    int wk_rc;
    cdr_diag wk_dg;
} worker;

struct pass_ctx {
    const stmt_env *pc_env;
    const stmt_lines *pc_sl;
    uint32_t pc_cycle;
    stmt_item_fn pc_item;
    stmt_text_fn pc_text;
    stmt_line_fn pc_done;
    void *pc_ctx;
    wslot *pc_slot; /* the group's records, by line */
    size_t pc_slot_cap;
    size_t *pc_first; /* per line of the group: its first slot; [nlines] = the end */
    size_t *pc_fill;
    size_t pc_lcap;
    size_t pc_glo; /* the group's first line */
    worker pc_w[2];
    uint8_t *pc_buf; /* the group's records as spilled */
    size_t pc_buf_cap;
    pthread_mutex_t pc_mu; /* the second worker's progress and text, as the first reads them */
    pthread_cond_t pc_cv;
    int pc_sync; /* 1: the second worker runs on its own thread */
};

static int worker_fit(worker *w, size_t n)
{
    if (n <= w->wk_cap)
        return 0;
    size_t cap = w->wk_cap ? w->wk_cap : 256;
    while (cap < n)
        cap *= 2;
    cdr_record *r = realloc(w->wk_rec, cap * sizeof *r);
    if (r)
        w->wk_rec = r;
    cdr_rated *q = realloc(w->wk_rated, cap * sizeof *q);
    if (q)
        w->wk_rated = q;
    const cdr_plan **p = realloc(w->wk_plan, cap * sizeof *p);
    if (p)
        w->wk_plan = p;
    uint32_t *o = realloc(w->wk_order, cap * sizeof *o);
    if (o)
        w->wk_order = o;
    uint32_t *t = realloc(w->wk_tmp, cap * sizeof *t);
    if (t)
        w->wk_tmp = t;
    if (!r || !q || !p || !o || !t)
        return CDR_ENOMEM;
    w->wk_cap = cap;
    return 0;
}

static void worker_free(worker *w)
{
    free(w->wk_rec);
    free(w->wk_rated);
    free(w->wk_plan);
    free(w->wk_order);
    free(w->wk_tmp);
    free(w->wk_txt);
    free(w->wk_line_end);
    free(w->wk_line_items);
}

/* The record's standing against the package (cdr_stmt_state). */
static int record_state(const cdr_record *cr, const cdr_rated *rr)
{
    if (rr->rr_free_units > 0 ||
        (rr->rr_charge == 0 && rr->rr_overflow_units == 0 && rr->rr_bundle_units == 0))
        return CDR_STMT_FREE;
    if (cr->cr_direction != CDR_DIR_MO)
        return rr->rr_charge ? CDR_STMT_CHARGED : CDR_STMT_FREE;
    if (rr->rr_overflow_units > 0)
        return rr->rr_bundle_units > 0 ? CDR_STMT_PARTLY : CDR_STMT_OVERFLOW;
    return rr->rr_bundle_units > 0 ? CDR_STMT_IN_BUNDLE : CDR_STMT_CHARGED;
}

/* Bundles of the line: those of its current plan, then any other a record used. */
static cdr_stmt_bundle *line_bundle(cdr_stmt_line *ln, const cdr_bundle *bu, uint64_t included)
{
    for (unsigned i = 0; i < ln->ln_nbundles; i++)
        if (!strcmp(ln->ln_bundles[i].bn_name, bu->bu_name) &&
            ln->ln_bundles[i].bn_service == bu->bu_service)
            return &ln->ln_bundles[i];
    if (ln->ln_nbundles >= CDR_PLAN_MAX_BUNDLES)
        return NULL;
    cdr_stmt_bundle *b = &ln->ln_bundles[ln->ln_nbundles++];
    memset(b, 0, sizeof *b);
    snprintf(b->bn_name, sizeof b->bn_name, "%s", bu->bu_name);
    b->bn_service = bu->bu_service;
    b->bn_pool = bu->bu_pool;
    b->bn_included = included;
    return b;
}

static uint64_t bundle_included(const cdr_dir *dir, const cdr_dir_subscriber *sb,
                                const cdr_bundle *bu)
{
    if (!bu->bu_pool)
        return bu->bu_units;
    const cdr_dir_product *pd = sb->sb_product ? cdr_dir_find_product(dir, sb->sb_product) : NULL;
    return pd ? pd->pd_member_cap[bu->bu_service] : 0;
}

/* The plan the line is on at the end of the cycle (its bundles are listed first). */
static const cdr_plan *current_plan(const cdr_plan_set *ps, const cdr_dir_subscriber *sb,
                                    uint32_t cycle)
{
    const int f = cdr_plan_set_family(ps, sb->sb_plan);
    if (f < 0)
        return NULL;
    const uint32_t y = cycle / 100, m = cycle % 100;
    const cdr_time end = cdr_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
    return cdr_plan_set_at(ps, f, end - 1);
}

static int start_less(const cdr_record *r, uint32_t a, uint32_t b)
{
    return r[a].cr_start < r[b].cr_start || (r[a].cr_start == r[b].cr_start && a < b);
}

/* Sort idx[0..n) by start time then ledger order (a merge sort: stable and O(n log n)). */
static void sort_by_start(const cdr_record *r, uint32_t *idx, uint32_t *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = start_less(r, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static int text_put(worker *w, const char *s, size_t n)
{
    if (w->wk_txt_len + n > w->wk_txt_cap) {
        size_t cap = w->wk_txt_cap ? w->wk_txt_cap : (1u << 20);
        while (cap < w->wk_txt_len + n)
            cap *= 2;
        /* the calling thread may be reading the rows of lines done: move them under the lock */
        const int sync = !w->wk_direct && w->wk_pc->pc_sync;
        if (sync)
            pthread_mutex_lock(&w->wk_pc->pc_mu);
        char *t = realloc(w->wk_txt, cap);
        if (t) {
            w->wk_txt = t;
            w->wk_txt_cap = cap;
        }
        if (sync)
            pthread_mutex_unlock(&w->wk_pc->pc_mu);
        if (!t)
            return CDR_ENOMEM;
    }
    memcpy(w->wk_txt + w->wk_txt_len, s, n);
    w->wk_txt_len += n;
    return 0;
}

/* Decode one record of the group and resolve its plan and class (last/last_id: a cache of the
 * plan of the previous record). */
static int decode_slot(const pass_ctx *pc, const wslot *sl, cdr_record *cr, cdr_rated *rr,
                       const cdr_plan **plan, const cdr_plan **last, char *last_id, cdr_diag *dg)
{
    char plan_id[CDR_NAME_MAX];
    const int rc = cdr_rated_wire_decode(sl->ws_wire, sl->ws_len, cr, rr, plan_id, dg);
    if (rc)
        return rc;
    if (!*last || strcmp(plan_id, last_id) || (*last)->pl_version != rr->rr_plan_version) {
        *last = cdr_plan_set_version(pc->pc_env->se_ps, plan_id, rr->rr_plan_version);
        memcpy(last_id, plan_id, CDR_NAME_MAX);
    }
    *plan = *last; /* NULL: a plan version no longer in the store */
    if (rr->rr_class == CDR_CLASS_NONE && *last)
        rr->rr_class = (uint8_t)cdr_plan_charge_class(*last, cr, rr);
    if (rr->rr_class == CDR_CLASS_NONE || rr->rr_class >= CDR_CLASS_COUNT)
        rr->rr_class = (uint8_t)cdr_charge_class_of_service(cr->cr_service);
    return 0;
}

/* Add one record to the line's usage and bundles. */
static void account_record(const stmt_env *env, const cdr_dir_subscriber *sb, cdr_stmt_line *ln,
                           const cdr_record *cr, const cdr_rated *rr, const cdr_plan *pl)
{
    const int state = record_state(cr, rr);
    const int over = state == CDR_STMT_OVERFLOW || state == CDR_STMT_PARTLY;
    cdr_stmt_class *cl = &ln->ln_class[rr->rr_class];
    cl->cl_records++;
    cl->cl_rated += rr->rr_charge;
    if (over) {
        cl->cl_overflow_records++;
        cl->cl_overflow_charge += rr->rr_charge;
        ln->ln_overflow += rr->rr_charge;
    } else {
        cl->cl_package_records++;
        cl->cl_package_charge += rr->rr_charge;
    }
    const int svc = cr->cr_service < CDR_SVC_COUNT ? cr->cr_service : 0;
    cdr_stmt_service *sv = &ln->ln_svc[svc];
    sv->sv_records++;
    sv->sv_units += rr->rr_units;
    sv->sv_bundle_units += rr->rr_bundle_units;
    sv->sv_free_units += rr->rr_free_units;
    sv->sv_charge += rr->rr_charge;
    if (over) {
        sv->sv_overflow_records++;
        sv->sv_overflow_units += rr->rr_overflow_units;
        sv->sv_overflow_charge += rr->rr_charge;
    }
    if (rr->rr_bundle >= 0 && pl && rr->rr_bundle < pl->pl_nbundles && rr->rr_bundle_units) {
        const cdr_bundle *bu = &pl->pl_bundles[rr->rr_bundle];
        cdr_stmt_bundle *b = line_bundle(ln, bu, bundle_included(env->se_dir, sb, bu));
        if (b)
            b->bn_used += rr->rr_bundle_units;
    }
}

/* Give one record as an item: to pc_item, or as a row into the worker's text. */
static int emit_item(worker *w, size_t line, cdr_stmt_item *it, const cdr_record *cr,
                     const cdr_rated *rr, const cdr_plan *pl, cdr_diag *dg)
{
    pass_ctx *pc = w->wk_pc;
    const int state = record_state(cr, rr);
    const int over = state == CDR_STMT_OVERFLOW || state == CDR_STMT_PARTLY;
    it->it_start = cr->cr_start;
    it->it_utc_offset = pl ? cdr_tz_offset(&pl->pl_tz, cr->cr_start, NULL) : cr->cr_utc_offset;
    it->it_service = cr->cr_service;
    it->it_direction = cr->cr_direction;
    it->it_class = rr->rr_class;
    it->it_state = (uint8_t)state;
    it->it_flags = rr->rr_flags;
    cdr_stmt_mask(cr->cr_other, pc->pc_env->se_privacy, it->it_other);
    it->it_duration = cr->cr_duration;
    it->it_bytes = cr->cr_bytes_up + cr->cr_bytes_down;
    it->it_units = rr->rr_units;
    it->it_bundle_units = rr->rr_bundle_units;
    it->it_overflow_units = over ? rr->rr_overflow_units : 0;
    it->it_zone[0] = it->it_band[0] = 0;
    if (pl && rr->rr_zone >= 0 && rr->rr_zone < pl->pl_nzones)
        memcpy(it->it_zone, pl->pl_zones[rr->rr_zone].zo_name, sizeof it->it_zone);
    if (pl && rr->rr_nparts > 0 && rr->rr_parts[0].rp_band < pl->pl_nbands)
        memcpy(it->it_band, pl->pl_band_names[rr->rr_parts[0].rp_band], sizeof it->it_band);
    it->it_charge = rr->rr_charge;
    int rc;
    if (pc->pc_text) {
        char row[CDR_STMT_ITEM_CSV_MAX];
        const size_t len = cdr_stmt_item_csv(it, row, sizeof row);
        rc = len ? text_put(w, row, len) : CDR_LIMIT;
    } else {
        rc = pc->pc_item(it, line, pc->pc_ctx);
    }
    if (rc)
        return rc == CDR_ENOMEM || rc == CDR_LIMIT
                   ? cdr_diag_set(dg, rc, NULL, 0, 0, "cannot format an itemised row")
                   : rc;
    return 0;
}

/* A line too large to hold decoded: its records decoded again where needed. */
typedef struct huge_src {
    const pass_ctx *hs_pc;
    const wslot *hs_slots;
    cdr_record hs_rec;
    cdr_rated hs_rated;
    const cdr_plan *hs_last;
    char hs_last_id[CDR_NAME_MAX];
} huge_src;

static int huge_get(void *ctx, size_t i, const cdr_record **cr, const cdr_rated **rr, cdr_diag *dg)
{
    huge_src *h = ctx;
    const cdr_plan *pl;
    const int rc = decode_slot(h->hs_pc, &h->hs_slots[i], &h->hs_rec, &h->hs_rated, &pl,
                               &h->hs_last, h->hs_last_id, dg);
    *cr = &h->hs_rec;
    *rr = &h->hs_rated;
    return rc;
}

/* The hint of a line too large to hold decoded, on a thread of its own beside its items. */
typedef struct huge_hint {
    huge_src *hh_src;
    const cdr_dir_subscriber *hh_sb;
    cdr_stmt_line *hh_ln;
    size_t hh_n;
    int hh_rc;
    cdr_diag hh_dg;
} huge_hint;

static void *huge_hint_run(void *arg)
{
    huge_hint *hh = arg;
    const pass_ctx *pc = hh->hh_src->hs_pc;
    hh->hh_rc = stmt_hint_line_get(pc->pc_env->se_ps, pc->pc_env->se_dir, hh->hh_sb, pc->pc_cycle,
                                   huge_get, hh->hh_src, hh->hh_n, &hh->hh_ln->ln_hint, &hh->hh_dg);
    return NULL;
}

typedef struct start_key {
    cdr_time sk_start;
    uint32_t sk_i;
} start_key;

static int start_key_cmp(const void *a, const void *b)
{
    const start_key *x = a, *y = b;
    if (x->sk_start != y->sk_start)
        return x->sk_start < y->sk_start ? -1 : 1;
    return x->sk_i < y->sk_i ? -1 : x->sk_i > y->sk_i;
}

/* Decode line `line`'s records, sum its usage and bundles, give its items (to pc_item, or as
 * rows into the worker's text), compute its hint. A line of more than HUGE_LINE records is
 * never held decoded: its records are decoded once for the usage, again in time order for the
 * items and again for each plan of the hint (memory: 16 bytes a record). */
#define HUGE_LINE 32768
static int line_work(worker *w, size_t line, cdr_diag *dg)
{
    pass_ctx *pc = w->wk_pc;
    const stmt_env *env = pc->pc_env;
    const cdr_dir_subscriber *sb = pc->pc_sl->sl_sb[line];
    cdr_stmt_line *ln = &pc->pc_sl->sl_ln[line];
    const size_t k0 = line - pc->pc_glo;
    wslot *const lslots = pc->pc_slot + pc->pc_first[k0];
    const size_t n = pc->pc_first[k0 + 1] - pc->pc_first[k0];
    /* ledger order: the shares of the scan read different segments, so the line's records come
     * as one sorted run per share file; merge them (on this worker) */
    if (slots_order(lslots, n) != 0)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    const wslot *slots = lslots;
    /* the current plan's bundles first, even unused */
    const cdr_plan *cur = current_plan(env->se_ps, sb, pc->pc_cycle);
    for (unsigned i = 0; cur && i < cur->pl_nbundles; i++)
        line_bundle(ln, &cur->pl_bundles[i], bundle_included(env->se_dir, sb, &cur->pl_bundles[i]));
    cdr_stmt_item it;
    memset(&it, 0, sizeof it);
    it.it_subscriber = sb->sb_id;
    memcpy(it.it_msisdn, sb->sb_msisdn, sizeof it.it_msisdn);
    const int items = pc->pc_item || pc->pc_text;
    const cdr_plan *last = NULL;
    char last_id[CDR_NAME_MAX] = "";
    if (n > HUGE_LINE) {
        start_key *keys = malloc(n * sizeof *keys);
        huge_src *h = calloc(2, sizeof *h); /* [1]: the hint's, on a thread of its own */
        if (!keys || !h) {
            free(keys);
            free(h);
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        }
        h[0].hs_pc = h[1].hs_pc = pc;
        h[0].hs_slots = h[1].hs_slots = slots;
        huge_hint hh = {.hh_src = &h[1], .hh_sb = sb, .hh_ln = ln, .hh_n = n};
        pthread_t th;
        const int threaded = env->se_hint && pthread_create(&th, NULL, huge_hint_run, &hh) == 0;
        int rc = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            const cdr_record *cr;
            const cdr_rated *rr;
            if ((rc = huge_get(&h[0], i, &cr, &rr, dg)) == 0) {
                account_record(env, sb, ln, cr, rr, h[0].hs_last);
                keys[i] = (start_key){cr->cr_start, (uint32_t)i};
            }
        }
        if (!rc && items) {
            qsort(keys, n, sizeof *keys, start_key_cmp);
            for (size_t k = 0; !rc && k < n; k++) {
                const cdr_record *cr;
                const cdr_rated *rr;
                if ((rc = huge_get(&h[0], keys[k].sk_i, &cr, &rr, dg)) == 0)
                    rc = emit_item(w, line, &it, cr, rr, h[0].hs_last, dg);
            }
        }
        free(keys);
        if (threaded)
            pthread_join(th, NULL);
        else if (env->se_hint)
            huge_hint_run(&hh);
        if (!rc && hh.hh_rc) {
            *dg = hh.hh_dg;
            rc = hh.hh_rc;
        }
        free(h);
        return rc;
    }
    if (worker_fit(w, n))
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const int rc = decode_slot(pc, &slots[i], &w->wk_rec[i], &w->wk_rated[i], &w->wk_plan[i],
                                   &last, last_id, dg);
        if (rc)
            return rc;
        account_record(env, sb, ln, &w->wk_rec[i], &w->wk_rated[i], w->wk_plan[i]);
        w->wk_order[i] = (uint32_t)i;
    }
    if (items) {
        sort_by_start(w->wk_rec, w->wk_order, w->wk_tmp, n);
        for (size_t k = 0; k < n; k++) {
            const size_t i = w->wk_order[k];
            const int rc =
                emit_item(w, line, &it, &w->wk_rec[i], &w->wk_rated[i], w->wk_plan[i], dg);
            if (rc)
                return rc;
        }
    }
    if (env->se_hint)
        return cdr_stmt_hint_line(env->se_ps, env->se_dir, sb, pc->pc_cycle, w->wk_rec, w->wk_rated,
                                  n, &ln->ln_hint, dg);
    return 0;
}

/* The callbacks of one line done (its rows, then pc_done), on the calling thread. */
static int line_out(pass_ctx *pc, size_t line, const char *rows, size_t len)
{
    const size_t k = line - pc->pc_glo;
    int rc = 0;
    if (pc->pc_text)
        rc = pc->pc_text(line, rows, len, pc->pc_first[k + 1] - pc->pc_first[k], pc->pc_ctx);
    if (!rc && pc->pc_done)
        rc = pc->pc_done(&pc->pc_sl->sl_ln[line], line, pc->pc_ctx);
    return rc;
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    for (size_t line = w->wk_lo; line < w->wk_hi && !w->wk_rc; line++) {
        w->wk_rc = line_work(w, line, &w->wk_dg);
        if (!w->wk_rc && w->wk_direct) {
            /* the first range, on the calling thread: its lines are given as they are done */
            w->wk_rc = line_out(w->wk_pc, line, w->wk_txt, w->wk_txt_len);
            w->wk_txt_len = 0;
        }
        const int sync = !w->wk_direct && w->wk_pc->pc_sync;
        if (sync)
            pthread_mutex_lock(&w->wk_pc->pc_mu);
        w->wk_line_end[line - w->wk_lo] = w->wk_txt_len;
        w->wk_done = line - w->wk_lo + 1;
        if (sync) {
            pthread_cond_signal(&w->wk_pc->pc_cv);
            pthread_mutex_unlock(&w->wk_pc->pc_mu);
        }
    }
    if (!w->wk_direct && w->wk_pc->pc_sync) { /* done, also after an error: wake the reader */
        pthread_mutex_lock(&w->wk_pc->pc_mu);
        w->wk_done = SIZE_MAX;
        pthread_cond_signal(&w->wk_pc->pc_cv);
        pthread_mutex_unlock(&w->wk_pc->pc_mu);
    }
    return NULL;
}

/* Process a group of buckets (lines [lo, hi), their records in files f[0..nf)): the records
 * grouped by line (counting sort; ledger order kept within a line), the lines split in two
 * ranges of about the same records, each on a worker (the second on a thread of its own when the
 * items are text and the group is worth it); then, in line order, each line's rows and its
 * callback (also for lines without records). */
static int process_group(pass_ctx *pc, FILE **f, unsigned nf, size_t lo, size_t hi, cdr_diag *dg)
{
    off_t size = 0, sizes[64 * SHARES];
    for (unsigned b = 0; b < nf; b++) {
        if (fflush(f[b]) != 0 || fseeko(f[b], 0, SEEK_END) != 0)
            return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "a temporary file: %s", strerror(errno));
        sizes[b] = ftello(f[b]);
        size += sizes[b];
    }
    if ((size_t)size > pc->pc_buf_cap) { /* kept from group to group: no page faults each time */
        free(pc->pc_buf);
        pc->pc_buf = malloc((size_t)size);
        pc->pc_buf_cap = pc->pc_buf ? (size_t)size : 0;
        if (!pc->pc_buf)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    uint8_t *buf = pc->pc_buf;
    off_t at = 0;
    for (unsigned b = 0; b < nf; b++) {
        rewind(f[b]);
        if (sizes[b] > 0 && fread(buf + at, 1, (size_t)sizes[b], f[b]) != (size_t)sizes[b]) {
            return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "cannot read a temporary file");
        }
        at += sizes[b];
        /* the file is read: its pages can go (the next pass writes it again from the start) */
        if (ftruncate(fileno(f[b]), 0) != 0 || fseeko(f[b], 0, SEEK_SET) != 0) {
            return cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "a temporary file: %s", strerror(errno));
        }
    }
    const size_t nl = hi - lo;
    size_t n = 0;
    for (off_t p = 0; p < size; n++)
        p += (off_t)(sizeof(spill_hdr) + ((((spill_hdr *)(buf + p))->sh_len + 7u) & ~7u));
    int rc = 0;
    if (nl + 1 > pc->pc_lcap) {
        size_t *a = realloc(pc->pc_first, (nl + 1) * sizeof *a);
        if (a)
            pc->pc_first = a;
        size_t *b = realloc(pc->pc_fill, (nl + 1) * sizeof *b);
        if (b)
            pc->pc_fill = b;
        if (!a || !b)
            rc = CDR_ENOMEM;
        else
            pc->pc_lcap = nl + 1;
    }
    if (!rc && n > pc->pc_slot_cap) {
        wslot *s = realloc(pc->pc_slot, n * sizeof *s);
        if (!s)
            rc = CDR_ENOMEM;
        else {
            pc->pc_slot = s;
            pc->pc_slot_cap = n;
        }
    }
    for (int t = 0; !rc && t < 2; t++) {
        worker *w = &pc->pc_w[t];
        if (nl > w->wk_lcap) {
            size_t *e = realloc(w->wk_line_end, nl * sizeof *e);
            if (e)
                w->wk_line_end = e;
            uint64_t *c = realloc(w->wk_line_items, nl * sizeof *c);
            if (c)
                w->wk_line_items = c;
            if (!e || !c)
                rc = CDR_ENOMEM;
            else
                w->wk_lcap = nl;
        }
    }
    if (rc)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    /* counting sort by line */
    memset(pc->pc_first, 0, (nl + 1) * sizeof *pc->pc_first);
    for (off_t p = 0; p < size;) {
        const spill_hdr *h = (const spill_hdr *)(buf + p);
        pc->pc_first[h->sh_line - lo + 1]++;
        p += (off_t)(sizeof *h + ((h->sh_len + 7u) & ~7u));
    }
    for (size_t k = 0; k < nl; k++)
        pc->pc_first[k + 1] += pc->pc_first[k];
    memcpy(pc->pc_fill, pc->pc_first, nl * sizeof *pc->pc_fill);
    for (off_t p = 0; p < size;) {
        const spill_hdr *h = (const spill_hdr *)(buf + p);
        wslot *s = &pc->pc_slot[pc->pc_fill[h->sh_line - lo]++];
        s->ws_wire = (const uint8_t *)(h + 1);
        s->ws_len = h->sh_len;
        p += (off_t)(sizeof *h + ((h->sh_len + 7u) & ~7u));
    }
    /* two ranges: the calling thread also gives every line's rows and callbacks, so the second
     * worker takes three fifths of the records */
    pc->pc_glo = lo;
    size_t mid = hi;
    const int two = pc->pc_text && !pc->pc_item && n >= 4096 && nl > 1;
    if (two) {
        mid = lo + 1;
        while (mid < hi - 1 && pc->pc_first[mid - lo] * 5 < n * 2)
            mid++;
    }
    worker *w0 = &pc->pc_w[0], *w1 = &pc->pc_w[1];
    w0->wk_lo = lo;
    w0->wk_hi = mid;
    w1->wk_lo = mid;
    w1->wk_hi = hi;
    for (int t = 0; t < 2; t++) {
        pc->pc_w[t].wk_txt_len = 0;
        pc->pc_w[t].wk_rc = 0;
        pc->pc_w[t].wk_done = 0;
    }
    w0->wk_direct = 1;
    w1->wk_direct = 0;
    pc->pc_sync = two;
    pthread_t th;
    const int threaded = two && pthread_create(&th, NULL, worker_run, w1) == 0;
    if (!threaded) {
        w1->wk_direct = 1;
        pc->pc_sync = 0;
    }
    worker_run(w0);
    if (!threaded && mid < hi && !w0->wk_rc)
        worker_run(w1);
    /* the second range's lines in order, each once the worker has done it (its rows are read
     * under the lock, which the worker takes only to move its text or count a line) */
    for (size_t line = mid; threaded && line < hi; line++) {
        const size_t k = line - w1->wk_lo;
        pthread_mutex_lock(&pc->pc_mu);
        while (w1->wk_done <= k && w1->wk_done != SIZE_MAX)
            pthread_cond_wait(&pc->pc_cv, &pc->pc_mu);
        int orc = w0->wk_rc || w1->wk_rc || (w1->wk_done == SIZE_MAX && k >= w1->wk_hi - w1->wk_lo);
        if (!orc) {
            const size_t from = k ? w1->wk_line_end[k - 1] : 0, to = w1->wk_line_end[k];
            orc = line_out(pc, line, w1->wk_txt + from, to - from);
            if (orc) {
                w0->wk_rc = orc; /* reported below, as the first worker's */
                w0->wk_dg = *dg;
            }
        }
        pthread_mutex_unlock(&pc->pc_mu);
        if (orc)
            break;
    }
    if (threaded)
        pthread_join(th, NULL);
    for (int t = 0; !rc && t < 2; t++)
        if (pc->pc_w[t].wk_rc) {
            *dg = pc->pc_w[t].wk_dg;
            rc = pc->pc_w[t].wk_rc;
        }
    /* what a group of very large lines needed is not kept for the next (memory stays bounded) */
    if (pc->pc_buf_cap > BUF_KEEP) {
        free(pc->pc_buf);
        pc->pc_buf = NULL;
        pc->pc_buf_cap = 0;
    }
    for (int t = 0; t < 2; t++) {
        worker *w = &pc->pc_w[t];
        if (w->wk_txt_cap > TEXT_KEEP) {
            free(w->wk_txt);
            w->wk_txt = NULL;
            w->wk_txt_cap = 0;
        }
    }
    if (pc->pc_slot_cap > SLOT_KEEP) {
        free(pc->pc_slot);
        pc->pc_slot = NULL;
        pc->pc_slot_cap = 0;
    }
    malloc_trim(0); /* and freed memory goes back to the system, also a worker thread's arena */
    return rc;
}

int stmt_pass(const stmt_env *env, uint32_t cycle, const stmt_lines *sl, stmt_item_fn item,
              stmt_text_fn text, stmt_line_fn line_done, void *ctx, cdr_diag *dg)
{
    if (!sl->sl_n)
        return 0;
    spill sp = {.sp_env = env, .sp_sl = sl};
    pass_ctx pc = {.pc_env = env,
                   .pc_sl = sl,
                   .pc_cycle = cycle,
                   .pc_item = item,
                   .pc_text = text,
                   .pc_done = line_done,
                   .pc_ctx = ctx};
    pc.pc_w[0].wk_pc = pc.pc_w[1].wk_pc = &pc;
    pthread_mutex_init(&pc.pc_mu, NULL);
    pthread_cond_init(&pc.pc_cv, NULL);
    cdr_ledger *lg = NULL;
    const cdr_ledger_opts lo = {.lo_readonly = 1};
    int rc = linemap_build(&sp.sp_lines, sl);
    if (rc)
        rc = cdr_diag_set(dg, rc, NULL, 0, 0, "out of memory");
    if (!rc)
        rc = cdr_ledger_open(env->se_ledger, &lo, &lg, dg);
    /* buckets of a quarter of the budget each, so that groups of them fit it even when lines
     * are of very different sizes */
    uint64_t records = 0;
    const int by_index = sl->sl_n <= 8; /* a few lines: through the segments' MSISDN index */
    if (!rc && !by_index) {
        cdr_ledger_totals t;
        rc = cdr_ledger_totals_get(lg, cycle, NULL, NULL, &t, dg);
        if (rc == CDR_NOTFOUND)
            rc = 0; /* a cycle the ledger does not hold: no usage */
        else
            records = t.lt_records;
    }
    const uint64_t budget = env->se_budget ? env->se_budget : DEFAULT_BUDGET;
    if (!rc) {
        uint64_t nb = records * AVG_RECORD_SIZE / (budget / 4) + 1;
        if (nb > MAX_BUCKETS)
            nb = MAX_BUCKETS;
        if (nb > sl->sl_n)
            nb = sl->sl_n;
        sp.sp_nb = (unsigned)nb;
        sp.sp_nshares = by_index ? 1 : SHARES;
        rc = spill_open(&sp, dg);
    }
    if (!rc)
        rc = load_corrections(env->se_ledger, cycle, &sp.sp_lines, &sp.sp_corr, dg);
    if (!rc && by_index) {
        sub_ctx *sc = calloc(1, sizeof *sc);
        if (!sc)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        for (size_t i = 0; !rc && i < sl->sl_n; i++) {
            sc->sc_ss.ss_sp = &sp;
            sc->sc_line = i;
            rc = cdr_ledger_subscriber(lg, cycle, sl->sl_sb[i]->sb_msisdn, on_sub_rec, sc, dg);
            if (sc->sc_ss.ss_wrc) {
                *dg = sc->sc_ss.ss_dg;
                rc = sc->sc_ss.ss_wrc;
            }
        }
        free(sc);
    } else if (!rc) {
        /* the shares of the cycle's partitions read side by side */
        spill_share ss[SHARES];
        memset(ss, 0, sizeof ss);
        pthread_t th[SHARES];
        int started[SHARES] = {0};
        for (unsigned k = 0; k < SHARES; k++) {
            ss[k].ss_sp = &sp;
            ss[k].ss_share = k;
            ss[k].ss_ledger = env->se_ledger;
            ss[k].ss_cycle = cycle;
            if (k > 0)
                started[k] = pthread_create(&th[k], NULL, scan_share, &ss[k]) == 0;
        }
        scan_share(&ss[0]);
        for (unsigned k = 1; k < SHARES; k++) {
            if (started[k])
                pthread_join(th[k], NULL);
            else
                scan_share(&ss[k]);
        }
        for (unsigned k = 0; k < SHARES && !rc; k++)
            if (ss[k].ss_rc) {
                *dg = ss[k].ss_dg;
                rc = ss[k].ss_rc;
            }
    }
    if (rc == CDR_NOTFOUND && sp.sp_f)
        rc = 0; /* a cycle the ledger does not hold: no usage */
    cdr_ledger_close(lg);
    /* groups of consecutive buckets within the budget (at least one bucket, at most 64) */
    for (unsigned b = 0; !rc && b < sp.sp_nb;) {
        unsigned e = b;
        uint64_t bytes = 0;
        while (e < sp.sp_nb && e - b < 64) {
            if (fseeko(sp.sp_f[e], 0, SEEK_END) != 0) {
                rc = cdr_diag_set(dg, CDR_EIO, NULL, 0, 0, "a temporary file: %s", strerror(errno));
                break;
            }
            const uint64_t sz = (uint64_t)ftello(sp.sp_f[e]);
            if (e > b && bytes + sz > budget)
                break;
            bytes += sz;
            e++;
        }
        if (rc)
            break;
        /* bucket k holds lines [ceil(k n / nb), ceil((k + 1) n / nb)); each share's file of it */
        const size_t lo_l = (size_t)(((uint64_t)b * sl->sl_n + sp.sp_nb - 1) / sp.sp_nb);
        const size_t hi_l = (size_t)(((uint64_t)e * sl->sl_n + sp.sp_nb - 1) / sp.sp_nb);
        FILE *files[64 * SHARES];
        unsigned nf = 0;
        for (unsigned k = b; k < e; k++)
            for (unsigned h = 0; h < sp.sp_nshares; h++)
                files[nf++] = sp.sp_f[h * sp.sp_nb + k];
        rc = process_group(&pc, files, nf, lo_l, hi_l, dg);
        b = e;
    }
    spill_close(&sp);
    worker_free(&pc.pc_w[0]);
    worker_free(&pc.pc_w[1]);
    pthread_mutex_destroy(&pc.pc_mu);
    pthread_cond_destroy(&pc.pc_cv);
    free(pc.pc_slot);
    free(pc.pc_buf);
    free(pc.pc_first);
    free(pc.pc_fill);
    return rc;
}
