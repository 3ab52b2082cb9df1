/* model.c - the statement model built from the bill run's published output (what was invoiced)
 * and the ledger (the records behind it): cdr_stmt_build (cdr_statement.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_mem.h"
#include "stmt_int.h"

void stmt_line_identity(const cdr_dir *dir, const cdr_dir_subscriber *sb, cdr_stmt_line *ln)
{
    ln->ln_subscriber = sb->sb_id;
    memcpy(ln->ln_msisdn, sb->sb_msisdn, sizeof ln->ln_msisdn);
    snprintf(ln->ln_plan, sizeof ln->ln_plan, "%s", sb->sb_plan);
    snprintf(ln->ln_status, sizeof ln->ln_status, "%s", cdr_dir_status_name(sb->sb_status));
    ln->ln_account = sb->sb_account;
    ln->ln_enterprise = sb->sb_enterprise;
    ln->ln_product = sb->sb_product;
    const cdr_dir_customer *cu = cdr_dir_find_customer(dir, sb->sb_customer);
    if (cu)
        snprintf(ln->ln_name, sizeof ln->ln_name, "%s", cu->cu_name);
    const cdr_dir_account *ac = cdr_dir_find_account(dir, sb->sb_account);
    if (ac)
        snprintf(ln->ln_account_name, sizeof ln->ln_account_name, "%s", ac->ac_name);
}

static ptrdiff_t line_index(const stmt_lines *sl, uint64_t subscriber)
{
    size_t lo = 0, hi = sl->sl_n;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (sl->sl_sb[mid]->sb_id < subscriber)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sl->sl_n && sl->sl_sb[lo]->sb_id == subscriber ? (ptrdiff_t)lo : -1;
}

typedef struct id_ix {
    uint64_t ii_id;
    size_t ii_ix;
} id_ix;

static int id_ix_cmp(const void *a, const void *b)
{
    const uint64_t x = ((const id_ix *)a)->ii_id, y = ((const id_ix *)b)->ii_id;
    return x < y ? -1 : x > y;
}

int stmt_apply_invoices(const cdr_bill_output *bo, const stmt_lines *sl, uint64_t ent_account,
                        cdr_money *account_adj, char cur[4], uint8_t *billed, cdr_diag *dg)
{
    /* the lines by subscriber id (an export orders them by enterprise) */
    id_ix *byid = malloc((sl->sl_n + 1) * sizeof *byid);
    if (!byid)
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    for (size_t i = 0; i < sl->sl_n; i++)
        byid[i] = (id_ix){sl->sl_sb[i]->sb_id, i};
    qsort(byid, sl->sl_n, sizeof *byid, id_ix_cmp);
    int rc = 0;
    for (size_t i = 0; i < bo->bo_nlines && !rc; i++) {
        const cdr_bo_line *bl = &bo->bo_lines[i];
        if (!bl->bl_subscriber) {
            if (bl->bl_account == ent_account && account_adj)
                *account_adj += bl->bl_amount;
            continue;
        }
        const id_ix key = {bl->bl_subscriber, 0};
        const id_ix *hit = bsearch(&key, byid, sl->sl_n, sizeof *byid, id_ix_cmp);
        if (!hit)
            continue;
        if (!cur) {
            /* no one currency asked for (an export: each statement has its own) */
        } else if (!cur[0]) {
            memcpy(cur, bl->bl_currency, 4);
        } else if (strcmp(cur, bl->bl_currency)) {
            rc = cdr_diag_set(dg, CDR_FORMAT, NULL, 0, 0,
                              "subscriber %" PRIu64 " is billed in %s, the statement in %s: a "
                              "statement has one currency",
                              bl->bl_subscriber, bl->bl_currency, cur);
            break;
        }
        if (billed)
            billed[hit->ii_ix] = 1;
        cdr_stmt_line *ln = &sl->sl_ln[hit->ii_ix];
        cdr_stmt_class *cl = &ln->ln_class[bl->bl_class];
        if (bl->bl_enterprise) {
            cl->cl_enterprise += bl->bl_amount;
            cl->cl_enterprise_tax += bl->bl_tax;
            ln->ln_enterprise_share += bl->bl_amount;
            ln->ln_enterprise_tax += bl->bl_tax;
        } else {
            cl->cl_member += bl->bl_amount;
            cl->cl_member_tax += bl->bl_tax;
            ln->ln_member_share += bl->bl_amount;
            ln->ln_member_tax += bl->bl_tax;
        }
        if (bl->bl_class == CDR_CLASS_RECURRING_FEE)
            ln->ln_fee += bl->bl_amount;
        else if (bl->bl_class == CDR_CLASS_ONE_OFF || bl->bl_class == CDR_CLASS_ADJUSTMENT)
            ln->ln_other += bl->bl_amount;
        else
            ln->ln_usage += bl->bl_amount;
    }
    free(byid);
    return rc;
}

static void add_class(cdr_stmt_class *d, const cdr_stmt_class *s)
{
    d->cl_records += s->cl_records;
    d->cl_package_records += s->cl_package_records;
    d->cl_overflow_records += s->cl_overflow_records;
    d->cl_rated += s->cl_rated;
    d->cl_package_charge += s->cl_package_charge;
    d->cl_overflow_charge += s->cl_overflow_charge;
    d->cl_enterprise += s->cl_enterprise;
    d->cl_member += s->cl_member;
    d->cl_enterprise_tax += s->cl_enterprise_tax;
    d->cl_member_tax += s->cl_member_tax;
}

static void add_service(cdr_stmt_service *d, const cdr_stmt_service *s)
{
    d->sv_records += s->sv_records;
    d->sv_units += s->sv_units;
    d->sv_bundle_units += s->sv_bundle_units;
    d->sv_overflow_units += s->sv_overflow_units;
    d->sv_free_units += s->sv_free_units;
    d->sv_overflow_records += s->sv_overflow_records;
    d->sv_charge += s->sv_charge;
    d->sv_overflow_charge += s->sv_overflow_charge;
}

void stmt_sum_lines(const cdr_dir *dir, cdr_statement *s)
{
    memset(s->st_class, 0, sizeof s->st_class);
    memset(s->st_svc, 0, sizeof s->st_svc);
    s->st_fee = s->st_usage = s->st_other = s->st_overflow = 0;
    s->st_enterprise_share = s->st_member_share = s->st_enterprise_tax = s->st_member_tax = 0;
    s->st_hint_savings = 0;
    s->st_hint_lines = 0;
    s->st_npools = 0;
    s->st_ntop = 0;
    for (size_t i = 0; i < s->st_nlines; i++) {
        const cdr_stmt_line *ln = &s->st_lines[i];
        for (int c = 0; c < CDR_CLASS_COUNT; c++)
            add_class(&s->st_class[c], &ln->ln_class[c]);
        for (int v = 0; v < CDR_SVC_COUNT; v++)
            add_service(&s->st_svc[v], &ln->ln_svc[v]);
        s->st_fee += ln->ln_fee;
        s->st_usage += ln->ln_usage;
        s->st_other += ln->ln_other;
        s->st_overflow += ln->ln_overflow;
        s->st_enterprise_share += ln->ln_enterprise_share;
        s->st_member_share += ln->ln_member_share;
        s->st_enterprise_tax += ln->ln_enterprise_tax;
        s->st_member_tax += ln->ln_member_tax;
        if (ln->ln_hint.hn_state == CDR_HINT_CHEAPER) {
            s->st_hint_savings += ln->ln_hint.hn_saving;
            s->st_hint_lines++;
        }
        /* the top overflowing lines: insertion into at most 10, by overflow then subscriber id */
        if (ln->ln_overflow > 0) {
            unsigned k = s->st_ntop;
            while (k > 0 && s->st_lines[s->st_top[k - 1]].ln_overflow < ln->ln_overflow)
                k--;
            if (k < 10) {
                const unsigned last = s->st_ntop < 10 ? s->st_ntop : 9;
                memmove(&s->st_top[k + 1], &s->st_top[k], (last - k) * sizeof s->st_top[0]);
                s->st_top[k] = (uint32_t)i;
                if (s->st_ntop < 10)
                    s->st_ntop++;
            }
        }
    }
    if (s->st_kind != CDR_STMT_ENTERPRISE)
        return;
    /* the pools of the enterprise's products: their size and what the members drew */
    size_t np;
    const cdr_dir_product *pds = cdr_dir_products(dir, &np);
    for (size_t p = 0; p < np; p++) {
        if (pds[p].pd_enterprise != s->st_enterprise)
            continue;
        for (int v = 0; v < CDR_SVC_COUNT && s->st_npools < 16; v++) {
            if (!pds[p].pd_pool[v])
                continue;
            cdr_stmt_bundle *b = &s->st_pools[s->st_npools];
            memset(b, 0, sizeof *b);
            snprintf(b->bn_name, sizeof b->bn_name, "%.31s", pds[p].pd_name);
            b->bn_service = (uint8_t)v;
            b->bn_pool = 1;
            b->bn_included = pds[p].pd_pool[v];
            for (size_t i = 0; i < s->st_nlines; i++) {
                const cdr_stmt_line *ln = &s->st_lines[i];
                if (ln->ln_product != pds[p].pd_id)
                    continue;
                for (unsigned k = 0; k < ln->ln_nbundles; k++)
                    if (ln->ln_bundles[k].bn_pool && ln->ln_bundles[k].bn_service == v)
                        b->bn_used += ln->ln_bundles[k].bn_used;
            }
            s->st_pool_product[s->st_npools++] = pds[p].pd_id;
        }
    }
}

/* ---- building -------------------------------------------------------------------------------- */

typedef struct keep_ctx {
    const stmt_lines *kc_sl;
    uint64_t kc_ent_account;
    uint64_t *kc_accounts; /* sorted */
    size_t kc_naccounts;
} keep_ctx;

static int has_account(const keep_ctx *k, uint64_t a)
{
    size_t lo = 0, hi = k->kc_naccounts;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (k->kc_accounts[mid] < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->kc_naccounts && k->kc_accounts[lo] == a;
}

static int keep_invoice(uint64_t account, uint64_t subscriber, void *ctx)
{
    (void)subscriber;
    const keep_ctx *k = ctx;
    return (k->kc_ent_account && account == k->kc_ent_account) || has_account(k, account);
}

static int keep_line(uint64_t account, uint64_t subscriber, void *ctx)
{
    const keep_ctx *k = ctx;
    if (!subscriber)
        return k->kc_ent_account && account == k->kc_ent_account;
    return line_index(k->kc_sl, subscriber) >= 0;
}

static int u64_cmp(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint32_t stmt_previous_cycle(uint32_t c)
{
    return c % 100 == 1 ? (c / 100 - 1) * 100 + 12 : c - 1;
}

void stmt_change_add(cdr_stmt_change *ch, const cdr_stmt_line *prev)
{
    ch->ch_lines++;
    ch->ch_amount += prev->ln_enterprise_share + prev->ln_member_share;
    ch->ch_enterprise_share += prev->ln_enterprise_share;
    ch->ch_overflow += prev->ln_overflow;
}

static int build_keep(const stmt_lines *sl, uint64_t ent_account, keep_ctx *k)
{
    memset(k, 0, sizeof *k);
    k->kc_sl = sl;
    k->kc_ent_account = ent_account;
    k->kc_accounts = malloc((sl->sl_n + 1) * sizeof *k->kc_accounts);
    if (!k->kc_accounts)
        return CDR_ENOMEM;
    for (size_t i = 0; i < sl->sl_n; i++)
        k->kc_accounts[k->kc_naccounts++] = sl->sl_sb[i]->sb_account;
    qsort(k->kc_accounts, k->kc_naccounts, sizeof *k->kc_accounts, u64_cmp);
    return 0;
}

/* The lines billed in bo: keep only them (a line of the directory with no invoice line in the
 * cycle was not billed). */
static void keep_billed(const cdr_bill_output *bo, stmt_lines *sl)
{
    uint8_t *billed = calloc(sl->sl_n ? sl->sl_n : 1, 1);
    if (!billed)
        return;
    for (size_t i = 0; i < bo->bo_nlines; i++) {
        const ptrdiff_t k =
            bo->bo_lines[i].bl_subscriber ? line_index(sl, bo->bo_lines[i].bl_subscriber) : -1;
        if (k >= 0)
            billed[k] = 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < sl->sl_n; i++)
        if (billed[i])
            sl->sl_sb[n++] = sl->sl_sb[i];
    sl->sl_n = n;
    free(billed);
}

/* The change against the previous cycle: its invoices and its overflow, for the same lines. */
static int previous_change(const stmt_env *env, const stmt_lines *cur, uint64_t ent_account,
                           const char *currency, cdr_stmt_change *ch, cdr_diag *dg)
{
    memset(ch, 0, sizeof *ch);
    const uint32_t prev = stmt_previous_cycle(env->se_cycle);
    ch->ch_cycle = prev;
    stmt_lines sl = {cur->sl_n, NULL, NULL};
    sl.sl_sb = malloc((cur->sl_n + 1) * sizeof *sl.sl_sb);
    sl.sl_ln = calloc(cur->sl_n + 1, sizeof *sl.sl_ln);
    keep_ctx k;
    cdr_bill_output *bo = NULL;
    int rc = !sl.sl_sb || !sl.sl_ln ? CDR_ENOMEM : 0;
    if (!rc) {
        memcpy(sl.sl_sb, cur->sl_sb, cur->sl_n * sizeof *sl.sl_sb);
        rc = build_keep(&sl, ent_account, &k);
    }
    if (rc) {
        free(sl.sl_sb);
        free(sl.sl_ln);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    cdr_diag pdg;
    cdr_diag_clear(&pdg);
    rc = cdr_bill_output_read(env->se_bills, prev, keep_invoice, keep_line, &k, &bo, &pdg);
    if (rc == CDR_NOTBILLED) {
        rc = 0; /* the previous cycle was not billed: no change to show */
    } else if (rc) {
        *dg = pdg;
    } else {
        char cur_prev[4] = "";
        memcpy(cur_prev, currency, 4);
        cdr_money adj = 0;
        keep_billed(bo, &sl);
        if (stmt_apply_invoices(bo, &sl, ent_account, &adj, cur_prev, NULL, &pdg) == 0) {
            stmt_env e = *env;
            e.se_hint = 0;
            e.se_cycle = prev;
            rc = stmt_pass(&e, prev, &sl, NULL, NULL, NULL, NULL, dg);
            if (!rc) {
                ch->ch_known = 1;
                for (size_t i = 0; i < sl.sl_n; i++)
                    stmt_change_add(ch, &sl.sl_ln[i]);
            }
        } /* else: billed in another currency then: nothing to compare with */
    }
    cdr_bill_output_free(bo);
    free(k.kc_accounts);
    free(sl.sl_sb);
    free(sl.sl_ln);
    return rc;
}

static void fill_invoice(cdr_statement *s, const cdr_bo_invoice *bi)
{
    if (!bi || s->st_ninvoices >= 2)
        return;
    cdr_stmt_invoice *iv = &s->st_invoices[s->st_ninvoices++];
    memset(iv, 0, sizeof *iv);
    snprintf(iv->iv_invoice, sizeof iv->iv_invoice, "%s", bi->bi_invoice);
    iv->iv_account = bi->bi_account;
    snprintf(iv->iv_kind, sizeof iv->iv_kind, "%s", bi->bi_kind);
    memcpy(iv->iv_issued, bi->bi_issued, sizeof iv->iv_issued);
    memcpy(iv->iv_due, bi->bi_due, sizeof iv->iv_due);
    iv->iv_amount = bi->bi_amount;
    iv->iv_tax = bi->bi_tax;
    iv->iv_total = bi->bi_total;
}

void stmt_header(const cdr_dir *dir, const cdr_bill_output *bo, const cdr_dir_enterprise *en,
                 const cdr_dir_subscriber *sb, cdr_statement *s)
{
    if (en) {
        s->st_enterprise = en->en_id;
        snprintf(s->st_enterprise_name, sizeof s->st_enterprise_name, "%s", en->en_name);
        s->st_enterprise_account = en->en_account;
        const cdr_dir_account *ac = cdr_dir_find_account(dir, en->en_account);
        if (ac)
            snprintf(s->st_enterprise_account_name, sizeof s->st_enterprise_account_name, "%s",
                     ac->ac_name);
        /* the account manager (account_manager=, by default the customer's manager=) */
        snprintf(s->st_manager, sizeof s->st_manager, "%s",
                 en->en_manager[CDR_DIR_ACCOUNT_MANAGER]);
    }
    const cdr_bo_invoice *main_inv = cdr_bill_output_invoice(
        bo, s->st_kind == CDR_STMT_ENTERPRISE && en ? en->en_account : sb->sb_account);
    fill_invoice(s, main_inv);
    if (s->st_kind == CDR_STMT_MEMBER && en && en->en_account != sb->sb_account)
        fill_invoice(s, cdr_bill_output_invoice(bo, en->en_account));
    if (main_inv) {
        memcpy(s->st_currency, main_inv->bi_currency, 4);
        memcpy(s->st_issued, main_inv->bi_issued, sizeof s->st_issued);
        memcpy(s->st_due, main_inv->bi_due, sizeof s->st_due);
    }
}

typedef struct items_ctx {
    cdr_statement *ic_s;
    size_t ic_cap;
} items_ctx;

static int collect_item(const cdr_stmt_item *it, size_t line, void *ctx)
{
    (void)line;
    items_ctx *ic = ctx;
    cdr_statement *s = ic->ic_s;
    if (s->st_nitems >= CDR_STMT_ITEMS_MAX)
        return CDR_LIMIT;
    if (cdr_grow(&s->st_items, &ic->ic_cap, s->st_nitems + 1, sizeof *s->st_items, 256))
        return CDR_ENOMEM;
    s->st_items[s->st_nitems++] = *it;
    return 0;
}

int cdr_stmt_build(cdr_store *st, const cdr_stmt_config *cfg, cdr_statement **out, cdr_diag *dg)
{
    *out = NULL;
    stmt_env env = {.se_ledger = cfg->sc_ledger,
                    .se_bills = cfg->sc_bills,
                    .se_cycle = cfg->sc_cycle,
                    .se_privacy = cfg->sc_privacy,
                    .se_hint = cfg->sc_hint};
    int rc = cdr_dir_read(st, &env.se_dir, dg);
    if (!rc)
        rc = cdr_plan_set_load(st, &env.se_ps, dg);
    cdr_statement *s = calloc(1, sizeof *s);
    stmt_lines sl = {0};
    keep_ctx k = {0};
    cdr_bill_output *bo = NULL;
    if (!rc && !s)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    const cdr_dir_enterprise *en = NULL;
    if (!rc) {
        s->st_cycle = cfg->sc_cycle;
        s->st_privacy = (uint8_t)cfg->sc_privacy;
        size_t nsubs;
        const cdr_dir_subscriber *subs = cdr_dir_subscribers(env.se_dir, &nsubs);
        sl.sl_sb = malloc((nsubs + 1) * sizeof *sl.sl_sb);
        if (!sl.sl_sb)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        else if (cfg->sc_msisdn) {
            s->st_kind = CDR_STMT_MEMBER;
            const cdr_dir_subscriber *sb = cdr_dir_find_msisdn(env.se_dir, cfg->sc_msisdn);
            if (!sb)
                rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0, "msisdn %s is not in the directory",
                                  cfg->sc_msisdn);
            else {
                sl.sl_sb[sl.sl_n++] = sb;
                if (sb->sb_enterprise)
                    en = cdr_dir_find_enterprise(env.se_dir, sb->sb_enterprise);
            }
        } else {
            s->st_kind = CDR_STMT_ENTERPRISE;
            en = cdr_dir_find_enterprise(env.se_dir, cfg->sc_enterprise);
            if (!en)
                rc = cdr_diag_set(dg, CDR_NOTFOUND, NULL, 0, 0,
                                  "enterprise %" PRIu64 " is not in the directory",
                                  cfg->sc_enterprise);
            for (size_t i = 0; !rc && i < nsubs; i++)
                if (subs[i].sb_enterprise == cfg->sc_enterprise)
                    sl.sl_sb[sl.sl_n++] = &subs[i];
        }
    }
    const uint64_t ent_account = en && s->st_kind == CDR_STMT_ENTERPRISE ? en->en_account : 0;
    if (!rc && build_keep(&sl, en ? en->en_account : 0, &k))
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (!rc) {
        k.kc_ent_account = en ? en->en_account : 0;
        rc = cdr_bill_output_read(cfg->sc_bills, cfg->sc_cycle, keep_invoice, keep_line, &k, &bo,
                                  dg);
    }
    if (!rc) {
        const size_t asked = sl.sl_n;
        keep_billed(bo, &sl);
        if (s->st_kind == CDR_STMT_MEMBER && !sl.sl_n)
            rc = cdr_diag_set(dg, CDR_NOTBILLED, NULL, 0, 0,
                              "msisdn %s was not billed in cycle %04u-%02u (no invoice line in "
                              "%s)",
                              cfg->sc_msisdn, cfg->sc_cycle / 100, cfg->sc_cycle % 100, bo->bo_dir);
        else if (s->st_kind == CDR_STMT_ENTERPRISE && asked && !sl.sl_n &&
                 !cdr_bill_output_invoice(bo, en->en_account))
            rc = cdr_diag_set(dg, CDR_NOTBILLED, NULL, 0, 0,
                              "enterprise %" PRIu64 " was not billed in cycle %04u-%02u (no "
                              "invoice of its account %" PRIu64 " in %s)",
                              en->en_id, cfg->sc_cycle / 100, cfg->sc_cycle % 100, en->en_account,
                              bo->bo_dir);
    }
    if (!rc) {
        s->st_nlines = sl.sl_n;
        s->st_lines = calloc(sl.sl_n + 1, sizeof *s->st_lines);
        sl.sl_ln = s->st_lines;
        if (!s->st_lines)
            rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
        for (size_t i = 0; !rc && i < sl.sl_n; i++)
            stmt_line_identity(env.se_dir, sl.sl_sb[i], &s->st_lines[i]);
    }
    if (!rc) {
        stmt_header(env.se_dir, bo, en, sl.sl_sb[0], s);
        rc = stmt_apply_invoices(bo, &sl, ent_account, &s->st_account_adjustments, s->st_currency,
                                 NULL, dg);
    }
    items_ctx ic = {s, 0};
    /* itemised: the items are there, also when there are none (an empty list, not "not asked") */
    if (!rc && cfg->sc_itemised &&
        cdr_grow(&s->st_items, &ic.ic_cap, 1, sizeof *s->st_items, 256) != 0)
        rc = cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (!rc)
        rc = stmt_pass(&env, cfg->sc_cycle, &sl, cfg->sc_itemised ? collect_item : NULL, NULL, NULL,
                       &ic, dg);
    if (rc == CDR_ENOMEM && !dg->dg_msg[0])
        cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    if (rc == CDR_LIMIT && s && s->st_nitems >= CDR_STMT_ITEMS_MAX)
        cdr_diag_set(dg, CDR_LIMIT, NULL, 0, 0,
                     "more than %d itemised records: too many for one file; `cdrate statement "
                     "export` writes them streaming",
                     CDR_STMT_ITEMS_MAX);
    if (!rc) {
        stmt_sum_lines(env.se_dir, s);
        if (s->st_kind == CDR_STMT_ENTERPRISE)
            rc = previous_change(&env, &sl, ent_account, s->st_currency, &s->st_change, dg);
    }
    cdr_bill_output_free(bo);
    free(k.kc_accounts);
    free(sl.sl_sb);
    cdr_dir_free(env.se_dir);
    if (env.se_ps)
        cdr_plan_set_release(env.se_ps);
    if (rc) {
        cdr_stmt_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cdr_stmt_free(cdr_statement *s)
{
    if (!s)
        return;
    free(s->st_lines);
    free(s->st_items);
    free(s);
}
