/* dir_model.c - the in-memory directory: arrays, hash indexes, lookups (see cdr_dir.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_int.h"

/* ---- names ----------------------------------------------------------------------------------- */

static const char *const dir_kind_names[CDR_DIR_KIND_END] = {
    [CDR_DIR_CREDIT_CLASS] = "credit_class", [CDR_DIR_CUSTOMER] = "customer",
    [CDR_DIR_ACCOUNT] = "account",           [CDR_DIR_ENTERPRISE] = "enterprise",
    [CDR_DIR_PRODUCT] = "product",           [CDR_DIR_SUBSCRIBER] = "subscriber",
    [CDR_DIR_MEMBERSHIP] = "membership",     [CDR_DIR_PAYMENT_RULE] = "payment_rule",
    [CDR_DIR_PLAN_CHANGE] = "plan_change",
};

const char *cdr_dir_kind_name(int kind)
{
    return kind > 0 && kind < CDR_DIR_KIND_END ? dir_kind_names[kind] : NULL;
}

const char *cdr_dir_status_name(int status)
{
    switch (status) {
    case CDR_DIR_ACTIVE:
        return "active";
    case CDR_DIR_SUSPENDED:
        return "suspended";
    case CDR_DIR_TERMINATED:
        return "terminated";
    }
    return NULL;
}

static const char *const dir_duty_names[CDR_DIR_MANAGERS] = {
    [CDR_DIR_ACCOUNT_MANAGER] = "account",
    [CDR_DIR_BILLING_MANAGER] = "billing",
    [CDR_DIR_SERVICE_MANAGER] = "service",
    [CDR_DIR_TECHNICAL_MANAGER] = "technical",
};

const char *cdr_dir_duty_name(int duty)
{
    return duty >= 0 && duty < CDR_DIR_MANAGERS ? dir_duty_names[duty] : NULL;
}

int cdr_dir_duty_parse(const char *s)
{
    for (int d = 0; s && d < CDR_DIR_MANAGERS; d++)
        if (strcmp(s, dir_duty_names[d]) == 0)
            return d;
    return -1;
}

unsigned cdr_dir_manager_duties(const cdr_dir_enterprise *en, const char *login)
{
    unsigned duties = 0;
    if (!en || !login || !login[0])
        return 0;
    for (int d = 0; d < CDR_DIR_MANAGERS; d++)
        if (strcmp(en->en_manager[d], login) == 0)
            duties |= 1u << d;
    return duties;
}

const char *cdr_dir_charge_name(int charge)
{
    return charge > CDR_CLASS_NONE && charge < CDR_CLASS_COUNT ? cdr_charge_class_name(charge)
                                                               : NULL;
}

int cdr_dir_charge_parse(const char *s, size_t len)
{
    for (int c = CDR_CLASS_NONE + 1; c < CDR_CLASS_COUNT; c++) {
        const char *name = cdr_charge_class_name(c);
        if (strlen(name) == len && memcmp(name, s, len) == 0)
            return c;
    }
    return -1;
}

/* ---- arrays ---------------------------------------------------------------------------------- */

const size_t dir_kind_size[CDR_DIR_KIND_END] = {
    [CDR_DIR_CREDIT_CLASS] = sizeof(cdr_dir_credit_class),
    [CDR_DIR_CUSTOMER] = sizeof(cdr_dir_customer),
    [CDR_DIR_ACCOUNT] = sizeof(cdr_dir_account),
    [CDR_DIR_ENTERPRISE] = sizeof(cdr_dir_enterprise),
    [CDR_DIR_PRODUCT] = sizeof(cdr_dir_product),
    [CDR_DIR_SUBSCRIBER] = sizeof(cdr_dir_subscriber),
    [CDR_DIR_MEMBERSHIP] = sizeof(cdr_dir_membership),
    [CDR_DIR_PAYMENT_RULE] = sizeof(cdr_dir_payment_rule),
    [CDR_DIR_PLAN_CHANGE] = sizeof(cdr_dir_plan_change),
};

cdr_dir *dir_new(void)
{
    cdr_dir *dir = calloc(1, sizeof *dir);
    if (!dir)
        return NULL;
    for (int k = 1; k < CDR_DIR_KIND_END; k++)
        dir->dr_vec[k].dv_size = dir_kind_size[k];
    dir->dr_plans.dv_size = sizeof(cdr_dir_plan_use);
    return dir;
}

long dir_append(cdr_dir *dir, int kind, int with_pos)
{
    dir_vec *dv = &dir->dr_vec[kind];
    if (dv->dv_n == dv->dv_cap) {
        size_t ncap = dv->dv_cap ? dv->dv_cap * 2 : 4; /* small: a line read holds a few */
        if (ncap > UINT32_MAX - 1)
            return -1;
        void *nb = realloc(dv->dv_base, ncap * dv->dv_size);
        if (!nb)
            return -1;
        dv->dv_base = nb;
        if (with_pos) {
            dir_pos *np = realloc(dir->dr_pos[kind], ncap * sizeof *np);
            if (!np)
                return -1; /* dv_cap unchanged: the larger dv_base is simply not used yet */
            dir->dr_pos[kind] = np;
        }
        dv->dv_cap = ncap;
    }
    memset((char *)dv->dv_base + dv->dv_n * dv->dv_size, 0, dv->dv_size);
    if (with_pos)
        memset(&dir->dr_pos[kind][dv->dv_n], 0, sizeof(dir_pos));
    return (long)dv->dv_n++;
}

uint64_t dir_id_at(const cdr_dir *dir, int kind, size_t i)
{
    const dir_vec *dv = &dir->dr_vec[kind];
    uint64_t id;
    memcpy(&id, (const char *)dv->dv_base + i * dv->dv_size, sizeof id);
    return id;
}

void dir_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t dir_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- packed values --------------------------------------------------------------------------- */

size_t dir_pack(const void *src, size_t n, unsigned char *dst)
{
    const unsigned char *s = src;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i]) {
            dst[o++] = s[i++];
            continue;
        }
        size_t run = 1;
        while (i + run < n && run < 255 && s[i + run] == 0)
            run++;
        dst[o++] = 0;
        dst[o++] = (unsigned char)run;
        i += run;
    }
    return o;
}

int dir_unpack(const unsigned char *src, size_t len, void *dst, size_t n)
{
    unsigned char *d = dst;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i]) {
            if (o == n)
                return -1;
            d[o++] = src[i];
            continue;
        }
        if (++i == len || src[i] == 0 || src[i] > n - o)
            return -1;
        memset(d + o, 0, src[i]);
        o += src[i];
    }
    return o == n ? 0 : -1;
}

/* ---- id maps --------------------------------------------------------------------------------- */

static size_t id_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int idmap_resize(dir_idmap *im, size_t nslots)
{
    dir_idslot *ns = calloc(nslots, sizeof *ns);
    if (!ns)
        return -1;
    size_t mask = nslots - 1;
    for (size_t i = 0; im->im_slots && i <= im->im_mask; i++) {
        const dir_idslot *is = &im->im_slots[i];
        if (!is->is_ix1)
            continue;
        size_t j = id_hash(is->is_key) & mask;
        while (ns[j].is_ix1)
            j = (j + 1) & mask;
        ns[j] = *is;
    }
    free(im->im_slots);
    im->im_slots = ns;
    im->im_mask = mask;
    return 0;
}

size_t dir_idmap_find(const dir_idmap *im, uint64_t key)
{
    if (!im->im_slots)
        return 0;
    for (size_t j = id_hash(key) & im->im_mask;; j = (j + 1) & im->im_mask) {
        const dir_idslot *is = &im->im_slots[j];
        if (!is->is_ix1 || is->is_key == key)
            return is->is_ix1;
    }
}

size_t dir_idmap_put(dir_idmap *im, uint64_t key, size_t ix)
{
    if (2 * (im->im_n + 1) > (im->im_slots ? im->im_mask + 1 : 0) &&
        idmap_resize(im, im->im_slots ? 2 * (im->im_mask + 1) : 64) != 0)
        return SIZE_MAX;
    size_t j = id_hash(key) & im->im_mask;
    for (; im->im_slots[j].is_ix1; j = (j + 1) & im->im_mask)
        if (im->im_slots[j].is_key == key)
            return im->im_slots[j].is_ix1;
    im->im_slots[j].is_key = key;
    im->im_slots[j].is_ix1 = (uint32_t)ix + 1;
    im->im_n++;
    return 0;
}

void dir_idmap_free(dir_idmap *im)
{
    free(im->im_slots);
    memset(im, 0, sizeof *im);
}

/* ---- string maps ----------------------------------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64, folded */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (uint32_t)(id_hash(h) >> 7);
}

static const char *strmap_key(const dir_vec *dv, size_t off, size_t ix)
{
    return (const char *)dv->dv_base + ix * dv->dv_size + off;
}

static int strmap_resize(dir_strmap *sm, size_t nslots)
{
    dir_strslot *ns = calloc(nslots, sizeof *ns);
    if (!ns)
        return -1;
    size_t mask = nslots - 1;
    for (size_t i = 0; sm->sm_slots && i <= sm->sm_mask; i++) {
        const dir_strslot *ss = &sm->sm_slots[i];
        if (!ss->ss_ix1)
            continue;
        size_t j = ss->ss_hash & mask;
        while (ns[j].ss_ix1)
            j = (j + 1) & mask;
        ns[j] = *ss;
    }
    free(sm->sm_slots);
    sm->sm_slots = ns;
    sm->sm_mask = mask;
    return 0;
}

size_t dir_strmap_find(const dir_strmap *sm, const dir_vec *dv, size_t off, const char *key)
{
    if (!sm->sm_slots)
        return 0;
    uint32_t h = str_hash(key);
    for (size_t j = h & sm->sm_mask;; j = (j + 1) & sm->sm_mask) {
        const dir_strslot *ss = &sm->sm_slots[j];
        if (!ss->ss_ix1)
            return 0;
        if (ss->ss_hash == h && strcmp(strmap_key(dv, off, ss->ss_ix1 - 1), key) == 0)
            return ss->ss_ix1;
    }
}

size_t dir_strmap_put(dir_strmap *sm, const dir_vec *dv, size_t off, size_t ix)
{
    if (2 * (sm->sm_n + 1) > (sm->sm_slots ? sm->sm_mask + 1 : 0) &&
        strmap_resize(sm, sm->sm_slots ? 2 * (sm->sm_mask + 1) : 64) != 0)
        return SIZE_MAX;
    const char *key = strmap_key(dv, off, ix);
    uint32_t h = str_hash(key);
    size_t j = h & sm->sm_mask;
    for (; sm->sm_slots[j].ss_ix1; j = (j + 1) & sm->sm_mask) {
        const dir_strslot *ss = &sm->sm_slots[j];
        if (ss->ss_hash == h && strcmp(strmap_key(dv, off, ss->ss_ix1 - 1), key) == 0)
            return ss->ss_ix1;
    }
    sm->sm_slots[j].ss_hash = h;
    sm->sm_slots[j].ss_ix1 = (uint32_t)ix + 1;
    sm->sm_n++;
    return 0;
}

void dir_strmap_free(dir_strmap *sm)
{
    free(sm->sm_slots);
    memset(sm, 0, sizeof *sm);
}

/* ---- ids of a kind --------------------------------------------------------------------------- */

/* First index in [0, n) whose id is >= id (the array is sorted there). */
static size_t id_lower_bound(const cdr_dir *dir, int kind, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dir_id_at(dir, kind, mid) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t dir_find_id(const cdr_dir *dir, int kind, uint64_t id)
{
    if (dir->dr_hashed[kind])
        return dir_idmap_find(&dir->dr_ids[kind], id);
    size_t n = dir->dr_vec[kind].dv_n;
    size_t i = id_lower_bound(dir, kind, n, id);
    return i < n && dir_id_at(dir, kind, i) == id ? i + 1 : 0;
}

static int idmap_reserve(dir_idmap *im, size_t n);

size_t dir_add_id(cdr_dir *dir, int kind, size_t ix)
{
    uint64_t id = dir_id_at(dir, kind, ix);
    if (!dir->dr_hashed[kind]) {
        if (ix == 0)
            return 0;
        uint64_t prev = dir_id_at(dir, kind, ix - 1);
        if (id > prev)
            return 0;
        if (id == prev)
            return id_lower_bound(dir, kind, ix, id) + 1;
        /* The first id out of order: index everything so far (first occurrences win). */
        if (idmap_reserve(&dir->dr_ids[kind], ix + 1) != 0)
            return SIZE_MAX;
        for (size_t i = 0; i < ix; i++)
            dir_idmap_put(&dir->dr_ids[kind], dir_id_at(dir, kind, i), i);
        dir->dr_hashed[kind] = 1;
    }
    return dir_idmap_put(&dir->dr_ids[kind], id, ix);
}

/* ---- finishing: sort by id, build the indexes ------------------------------------------------ */

static int cmp_id(const void *a, const void *b)
{
    uint64_t x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return (x > y) - (x < y);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Plan changes: by subscriber, then time (unique per subscriber once validated). */
int dir_cmp_plan_change(const void *a, const void *b)
{
    const cdr_dir_plan_change *x = a, *y = b;
    if (x->pc_subscriber != y->pc_subscriber)
        return x->pc_subscriber < y->pc_subscriber ? -1 : 1;
    return (x->pc_from > y->pc_from) - (x->pc_from < y->pc_from);
}

static int cmp_ruleref(const void *a, const void *b)
{
    const dir_ruleref *x = a, *y = b;
    if (x->rr_scope != y->rr_scope)
        return x->rr_scope < y->rr_scope ? -1 : 1;
    if (x->rr_target != y->rr_target)
        return x->rr_target < y->rr_target ? -1 : 1;
    return (x->rr_id > y->rr_id) - (x->rr_id < y->rr_id);
}

typedef struct dir_idix {
    uint64_t ii_id;
    size_t ii_ix;
} dir_idix;

static int cmp_idix(const void *a, const void *b)
{
    const dir_idix *x = a, *y = b;
    return (x->ii_id > y->ii_id) - (x->ii_id < y->ii_id);
}

/* Sort a numeric kind by id: sort (id, index) pairs, then gather the records into a new array in
 * one pass (cheaper than sorting the large records themselves). 0 or -1 (out of memory). */
static int sort_by_id(dir_vec *dv)
{
    dir_idix *ii = malloc(dv->dv_n * sizeof *ii);
    char *nb = malloc(dv->dv_cap * dv->dv_size);
    if (!ii || !nb) {
        free(ii);
        free(nb);
        return -1;
    }
    for (size_t i = 0; i < dv->dv_n; i++) {
        memcpy(&ii[i].ii_id, (char *)dv->dv_base + i * dv->dv_size, sizeof ii[i].ii_id);
        ii[i].ii_ix = i;
    }
    qsort(ii, dv->dv_n, sizeof *ii, cmp_idix);
    for (size_t i = 0; i < dv->dv_n; i++)
        memcpy(nb + i * dv->dv_size, (char *)dv->dv_base + ii[i].ii_ix * dv->dv_size, dv->dv_size);
    free(ii);
    free(dv->dv_base);
    dv->dv_base = nb;
    return 0;
}

/* Pre-size a map for n keys so that rebuilding it never rehashes. */
static int idmap_reserve(dir_idmap *im, size_t n)
{
    size_t nslots = 64;
    while (nslots < 2 * n + 2)
        nslots <<= 1;
    dir_idmap_free(im);
    return idmap_resize(im, nslots);
}

static int strmap_reserve(dir_strmap *sm, size_t n)
{
    size_t nslots = 64;
    while (nslots < 2 * n + 2)
        nslots <<= 1;
    dir_strmap_free(sm);
    return strmap_resize(sm, nslots);
}

/* One cdr_dir_plan_use per distinct plan name of the subscribers, in array order (file order
 * while parsing), with the position of the first use when the parser's dr_pos is there. */
static int collect_plans(cdr_dir *dir)
{
    dir_vec *pv = &dir->dr_plans;
    pv->dv_n = 0;
    const dir_vec *sv = &dir->dr_vec[CDR_DIR_SUBSCRIBER];
    const dir_pos *pos = dir->dr_pos[CDR_DIR_SUBSCRIBER];
    const size_t off = offsetof(cdr_dir_plan_use, pu_plan);
    dir_strmap names = {0};
    size_t last = SIZE_MAX; /* index of the previous subscriber's plan: runs are common */
    int rc = 0;
    for (size_t i = 0; i < sv->dv_n && !rc; i++) {
        const cdr_dir_subscriber *sb = DIR_AT(dir, CDR_DIR_SUBSCRIBER, const cdr_dir_subscriber, i);
        const cdr_dir_plan_use *pus = pv->dv_base;
        size_t ix1 = last != SIZE_MAX && strcmp(pus[last].pu_plan, sb->sb_plan) == 0
                         ? last + 1
                         : dir_strmap_find(&names, pv, off, sb->sb_plan);
        if (!ix1) {
            if (pv->dv_n == pv->dv_cap) {
                size_t ncap = pv->dv_cap ? 2 * pv->dv_cap : 16;
                void *nb = realloc(pv->dv_base, ncap * pv->dv_size);
                if (!nb) {
                    rc = CDR_ENOMEM;
                    break;
                }
                pv->dv_base = nb;
                pv->dv_cap = ncap;
            }
            cdr_dir_plan_use *pu = (cdr_dir_plan_use *)pv->dv_base + pv->dv_n;
            memset(pu, 0, sizeof *pu);
            memcpy(pu->pu_plan, sb->sb_plan, sizeof pu->pu_plan);
            if (pos) {
                pu->pu_line = pos[i].dp_line;
                pu->pu_column = pos[i].dp_col[1] ? pos[i].dp_col[1] + 5 : 0; /* after "plan=" */
            }
            ix1 = ++pv->dv_n;
            if (dir_strmap_put(&names, pv, off, ix1 - 1) == SIZE_MAX)
                rc = CDR_ENOMEM;
        }
        ((cdr_dir_plan_use *)pv->dv_base)[ix1 - 1].pu_subscribers++;
        last = ix1 - 1;
    }
    /* the plans of plan changes (plan= at column dp_col[1], previous= at dp_col[2]); they count
     * no subscriber */
    const dir_vec *cv = &dir->dr_vec[CDR_DIR_PLAN_CHANGE];
    const dir_pos *cpos = dir->dr_pos[CDR_DIR_PLAN_CHANGE];
    for (size_t i = 0; i < cv->dv_n && !rc; i++) {
        const cdr_dir_plan_change *pc =
            DIR_AT(dir, CDR_DIR_PLAN_CHANGE, const cdr_dir_plan_change, i);
        for (int w = 0; w < 2 && !rc; w++) {
            const char *plan = w ? pc->pc_previous : pc->pc_plan;
            if (dir_strmap_find(&names, pv, off, plan))
                continue;
            if (pv->dv_n == pv->dv_cap) {
                size_t ncap = pv->dv_cap ? 2 * pv->dv_cap : 16;
                void *nb = realloc(pv->dv_base, ncap * pv->dv_size);
                if (!nb) {
                    rc = CDR_ENOMEM;
                    break;
                }
                pv->dv_base = nb;
                pv->dv_cap = ncap;
            }
            cdr_dir_plan_use *pu = (cdr_dir_plan_use *)pv->dv_base + pv->dv_n;
            memset(pu, 0, sizeof *pu);
            memcpy(pu->pu_plan, plan, sizeof pu->pu_plan);
            if (cpos) {
                const uint32_t col = cpos[i].dp_col[w ? 2 : 1];
                pu->pu_line = cpos[i].dp_line;
                pu->pu_column = col ? col + (w ? 9 : 5) : 0; /* after "previous=" / "plan=" */
            }
            if (dir_strmap_put(&names, pv, off, pv->dv_n++) == SIZE_MAX)
                rc = CDR_ENOMEM;
        }
    }
    dir_strmap_free(&names);
    return rc;
}

int dir_finish(cdr_dir *dir)
{
    if (collect_plans(dir) != 0)
        return CDR_ENOMEM;
    for (int k = 1; k < CDR_DIR_KIND_END; k++) {
        free(dir->dr_pos[k]);
        dir->dr_pos[k] = NULL;
        dir_idmap_free(&dir->dr_ids[k]);
        dir->dr_hashed[k] = 0;
        dir_vec *dv = &dir->dr_vec[k];
        int (*cmp)(const void *, const void *) = k == CDR_DIR_CREDIT_CLASS  ? cmp_name
                                                 : k == CDR_DIR_PLAN_CHANGE ? dir_cmp_plan_change
                                                                            : cmp_id;
        int sorted = 1;
        for (size_t i = 1; i < dv->dv_n && sorted; i++)
            sorted = cmp((char *)dv->dv_base + (i - 1) * dv->dv_size,
                         (char *)dv->dv_base + i * dv->dv_size) < 0;
        if (!sorted) {
            if (k == CDR_DIR_CREDIT_CLASS || k == CDR_DIR_PLAN_CHANGE) /* few, or small */
                qsort(dv->dv_base, dv->dv_n, dv->dv_size, cmp);
            else if (sort_by_id(dv) != 0)
                return CDR_ENOMEM;
        }
        if (k == CDR_DIR_SUBSCRIBER && (!sorted || dir->dr_msisdns.sm_n != dv->dv_n)) {
            if (strmap_reserve(&dir->dr_msisdns, dv->dv_n) != 0)
                return CDR_ENOMEM;
            for (size_t i = 0; i < dv->dv_n; i++)
                dir_strmap_put(&dir->dr_msisdns, dv, offsetof(cdr_dir_subscriber, sb_msisdn), i);
        }
    }
    dir_strmap_free(&dir->dr_cc_names);
    dir_strmap_free(&dir->dr_imsis);
    const dir_vec *rv = &dir->dr_vec[CDR_DIR_PAYMENT_RULE];
    free(dir->dr_rules);
    dir->dr_rules = malloc((rv->dv_n ? rv->dv_n : 1) * sizeof *dir->dr_rules);
    if (!dir->dr_rules)
        return CDR_ENOMEM;
    for (size_t i = 0; i < rv->dv_n; i++) {
        const cdr_dir_payment_rule *pr = DIR_AT(dir, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule, i);
        dir->dr_rules[i] = (dir_ruleref){.rr_target = pr->pr_target,
                                         .rr_id = pr->pr_id,
                                         .rr_ix = (uint32_t)i,
                                         .rr_scope = pr->pr_scope};
    }
    qsort(dir->dr_rules, rv->dv_n, sizeof *dir->dr_rules, cmp_ruleref);
    return 0;
}

/* ---- public accessors ------------------------------------------------------------------------ */

void cdr_dir_free(cdr_dir *dir)
{
    if (!dir)
        return;
    for (int k = 0; k < CDR_DIR_KIND_END; k++) {
        free(dir->dr_vec[k].dv_base);
        free(dir->dr_pos[k]);
        dir_idmap_free(&dir->dr_ids[k]);
    }
    dir_strmap_free(&dir->dr_cc_names);
    dir_strmap_free(&dir->dr_msisdns);
    dir_strmap_free(&dir->dr_imsis);
    free(dir->dr_rules);
    free(dir->dr_plans.dv_base);
    free(dir);
}

void cdr_dir_get_stats(const cdr_dir *dir, cdr_dir_stats *stats)
{
    stats->ds_credit_classes = dir->dr_vec[CDR_DIR_CREDIT_CLASS].dv_n;
    stats->ds_customers = dir->dr_vec[CDR_DIR_CUSTOMER].dv_n;
    stats->ds_accounts = dir->dr_vec[CDR_DIR_ACCOUNT].dv_n;
    stats->ds_enterprises = dir->dr_vec[CDR_DIR_ENTERPRISE].dv_n;
    stats->ds_products = dir->dr_vec[CDR_DIR_PRODUCT].dv_n;
    stats->ds_subscribers = dir->dr_vec[CDR_DIR_SUBSCRIBER].dv_n;
    stats->ds_memberships = dir->dr_vec[CDR_DIR_MEMBERSHIP].dv_n;
    stats->ds_payment_rules = dir->dr_vec[CDR_DIR_PAYMENT_RULE].dv_n;
    stats->ds_plan_changes = dir->dr_vec[CDR_DIR_PLAN_CHANGE].dv_n;
}

#define DIR_ARRAY_FN(fn, kind, type)                                                               \
    const type *fn(const cdr_dir *dir, size_t *n)                                                  \
    {                                                                                              \
        *n = dir->dr_vec[kind].dv_n;                                                               \
        return (const type *)dir->dr_vec[kind].dv_base;                                            \
    }

DIR_ARRAY_FN(cdr_dir_credit_classes, CDR_DIR_CREDIT_CLASS, cdr_dir_credit_class)
DIR_ARRAY_FN(cdr_dir_customers, CDR_DIR_CUSTOMER, cdr_dir_customer)
DIR_ARRAY_FN(cdr_dir_accounts, CDR_DIR_ACCOUNT, cdr_dir_account)
DIR_ARRAY_FN(cdr_dir_enterprises, CDR_DIR_ENTERPRISE, cdr_dir_enterprise)
DIR_ARRAY_FN(cdr_dir_products, CDR_DIR_PRODUCT, cdr_dir_product)
DIR_ARRAY_FN(cdr_dir_subscribers, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber)
DIR_ARRAY_FN(cdr_dir_memberships, CDR_DIR_MEMBERSHIP, cdr_dir_membership)
DIR_ARRAY_FN(cdr_dir_payment_rules, CDR_DIR_PAYMENT_RULE, cdr_dir_payment_rule)
DIR_ARRAY_FN(cdr_dir_plan_changes, CDR_DIR_PLAN_CHANGE, cdr_dir_plan_change)

const cdr_dir_plan_change *cdr_dir_find_plan_changes(const cdr_dir *dir, uint64_t subscriber_id,
                                                     size_t *n)
{
    size_t total;
    const cdr_dir_plan_change *pcs = cdr_dir_plan_changes(dir, &total);
    size_t lo = 0, hi = total;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pcs[mid].pc_subscriber < subscriber_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t e = lo;
    while (e < total && pcs[e].pc_subscriber == subscriber_id)
        e++;
    *n = e - lo;
    return e > lo ? &pcs[lo] : NULL;
}

#define DIR_FIND_FN(fn, kind, type)                                                                \
    const type *fn(const cdr_dir *dir, uint64_t id)                                                \
    {                                                                                              \
        size_t ix1 = dir_find_id(dir, kind, id);                                                   \
        return ix1 ? DIR_AT(dir, kind, const type, ix1 - 1) : NULL;                                \
    }

DIR_FIND_FN(cdr_dir_find_customer, CDR_DIR_CUSTOMER, cdr_dir_customer)
DIR_FIND_FN(cdr_dir_find_account, CDR_DIR_ACCOUNT, cdr_dir_account)
DIR_FIND_FN(cdr_dir_find_enterprise, CDR_DIR_ENTERPRISE, cdr_dir_enterprise)
DIR_FIND_FN(cdr_dir_find_product, CDR_DIR_PRODUCT, cdr_dir_product)
DIR_FIND_FN(cdr_dir_find_subscriber, CDR_DIR_SUBSCRIBER, cdr_dir_subscriber)
DIR_FIND_FN(cdr_dir_find_membership, CDR_DIR_MEMBERSHIP, cdr_dir_membership)

const cdr_dir_credit_class *cdr_dir_find_credit_class(const cdr_dir *dir, const char *id)
{
    size_t n;
    const cdr_dir_credit_class *ccs = cdr_dir_credit_classes(dir, &n);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ccs[mid].cc_id, id);
        if (c == 0)
            return &ccs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cdr_dir_subscriber *cdr_dir_find_msisdn(const cdr_dir *dir, const char *msisdn)
{
    size_t ix1 = dir_strmap_find(&dir->dr_msisdns, &dir->dr_vec[CDR_DIR_SUBSCRIBER],
                                 offsetof(cdr_dir_subscriber, sb_msisdn), msisdn);
    return ix1 ? DIR_AT(dir, CDR_DIR_SUBSCRIBER, const cdr_dir_subscriber, ix1 - 1) : NULL;
}

/* Index of the first rule reference with (scope, target), or n when there is none. */
static size_t rules_lower_bound(const cdr_dir *dir, uint8_t scope, uint64_t target)
{
    size_t lo = 0, hi = dir->dr_vec[CDR_DIR_PAYMENT_RULE].dv_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const dir_ruleref *rr = &dir->dr_rules[mid];
        if (rr->rr_scope < scope || (rr->rr_scope == scope && rr->rr_target < target))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t cdr_dir_rules_for(const cdr_dir *dir, const cdr_dir_subscriber *sb,
                         const cdr_dir_payment_rule **out, size_t max)
{
    if (!sb->sb_enterprise)
        return 0;
    const struct {
        uint8_t scope;
        uint64_t target;
    } tries[3] = {{CDR_DIR_SCOPE_SUBSCRIBER, sb->sb_id},
                  {CDR_DIR_SCOPE_PRODUCT, sb->sb_product},
                  {CDR_DIR_SCOPE_ENTERPRISE, sb->sb_enterprise}};
    size_t nrules = dir->dr_vec[CDR_DIR_PAYMENT_RULE].dv_n;
    for (int t = 0; t < 3; t++) {
        size_t n = 0;
        for (size_t i = rules_lower_bound(dir, tries[t].scope, tries[t].target);
             i < nrules && dir->dr_rules[i].rr_scope == tries[t].scope &&
             dir->dr_rules[i].rr_target == tries[t].target;
             i++, n++)
            if (n < max)
                out[n] = DIR_AT(dir, CDR_DIR_PAYMENT_RULE, const cdr_dir_payment_rule,
                                dir->dr_rules[i].rr_ix);
        if (n)
            return n;
    }
    return 0;
}

/* ---- plans named by subscribers -------------------------------------------------------------- */

const cdr_dir_plan_use *cdr_dir_plan_uses(const cdr_dir *dir, size_t *n)
{
    *n = dir->dr_plans.dv_n;
    return (const cdr_dir_plan_use *)dir->dr_plans.dv_base;
}

size_t cdr_dir_missing_plans(const cdr_dir *dir, const cdr_plan_set *ps,
                             const cdr_dir_plan_use **out, size_t max)
{
    size_t n, missing = 0;
    const cdr_dir_plan_use *pu = cdr_dir_plan_uses(dir, &n);
    for (size_t i = 0; i < n; i++)
        if (!ps || cdr_plan_set_family(ps, pu[i].pu_plan) < 0) {
            if (missing < max)
                out[missing] = &pu[i];
            missing++;
        }
    return missing;
}

/* ---- quantities ------------------------------------------------------------------------------ */

const char *cdr_dir_format_qty(int svc, uint64_t units, char *buf, size_t bufsize)
{
    unsigned long long u = units;
    if (svc == CDR_SVC_VOICE || svc == CDR_SVC_VIDEO) {
        if (u < 60 || u % 60 == 0)
            snprintf(buf, bufsize, u < 60 ? "%llus" : "%llumin", u < 60 ? u : u / 60);
        else
            snprintf(buf, bufsize, "%llumin %llus", u / 60, u % 60);
    } else if (svc == CDR_SVC_DATA) {
        static const char *const names[] = {"B", "KB", "MB", "GB", "TB"};
        int k = 0;
        while (k < 4 && u >= (1ULL << (10 * (k + 1))))
            k++;
        unsigned long long unit = 1ULL << (10 * k), whole = u / unit, rest = u % unit;
        if (rest == 0) {
            snprintf(buf, bufsize, "%llu%s", whole, names[k]);
        } else {
            /* one decimal, rounded half up; rest * 10 cannot overflow (rest < 2^40) */
            unsigned long long tenths = (rest * 10 + unit / 2) / unit;
            if (tenths == 10)
                whole++, tenths = 0;
            snprintf(buf, bufsize, "%llu.%llu%s", whole, tenths, names[k]);
        }
    } else if (svc == CDR_SVC_SMS || svc == CDR_SVC_MMS) {
        snprintf(buf, bufsize, "%llu%s", u, svc == CDR_SVC_SMS ? "sms" : "mms");
    } else {
        snprintf(buf, bufsize, "%llu", u);
    }
    return buf;
}

const cdr_dir_credit_class *cdr_dir_line_credit_class(const cdr_dir *dir,
                                                      const cdr_dir_subscriber *sb)
{
    const cdr_dir_account *ac = cdr_dir_find_account(dir, sb->sb_account);
    const cdr_dir_customer *cu = ac ? cdr_dir_find_customer(dir, ac->ac_customer) : NULL;
    const char *cls = ac ? ac->ac_credit_class : "";
    if (!cls[0] && cu)
        cls = cu->cu_credit_class;
    if (sb->sb_enterprise) { /* the enterprise's class, unless the account names its own */
        const cdr_dir_enterprise *en = cdr_dir_find_enterprise(dir, sb->sb_enterprise);
        const cdr_dir_customer *ecu = en ? cdr_dir_find_customer(dir, en->en_customer) : NULL;
        const int explicit_class = cu && ac && strcmp(ac->ac_credit_class, cu->cu_credit_class);
        if (ecu && ecu->cu_credit_class[0] && !explicit_class)
            cls = ecu->cu_credit_class;
    }
    return cls[0] ? cdr_dir_find_credit_class(dir, cls) : NULL;
}
