/* cmd_counters.c - `cdrate counters`: the bundle counters of a store (saved by `cdrate rate`) or
 * of the compacted changelog cdr.counters (written by `cdrate rate-stream`), named after the
 * store's directory and plans (MSISDNs, enterprise ids, bundle names, human units), or in one
 * sorted raw format (--raw) so that `diff` compares offline rating with streaming rating; and
 * `cdrate counters reset`, which deletes counters of one cycle from a store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_store.h"
#include "cdr_stream.h"
#include "cli.h"

/* One counter; ct_partition / ct_offset say where the changelog had it (-1 for the store). */
typedef struct ctr_line {
    uint64_t ct_holder;
    uint64_t ct_tag;
    uint64_t ct_used;
    uint64_t ct_owner;
    uint32_t ct_cycle;
    int32_t ct_partition;
    int64_t ct_offset;
    int ct_deleted; /* a tombstone (a record with no value) */
} ctr_line;

typedef struct ctr_list {
    ctr_line *cl_lines;
    size_t cl_n, cl_cap;
    uint64_t cl_records; /* changelog records read */
    uint64_t cl_split;   /* keys found in more than one partition (misrouted changes) */
    const char *cl_topic;
    cdr_diag *cl_dg;
} ctr_list;

/* Key order (holder, cycle, tag), then where the record was: the last one of a key wins. */
static int ctr_cmp(const void *a, const void *b)
{
    const ctr_line *x = a, *y = b;
    if (x->ct_holder != y->ct_holder)
        return x->ct_holder < y->ct_holder ? -1 : 1;
    if (x->ct_cycle != y->ct_cycle)
        return x->ct_cycle < y->ct_cycle ? -1 : 1;
    if (x->ct_tag != y->ct_tag)
        return x->ct_tag < y->ct_tag ? -1 : 1;
    if (x->ct_partition != y->ct_partition)
        return x->ct_partition < y->ct_partition ? -1 : 1;
    if (x->ct_offset != y->ct_offset)
        return x->ct_offset < y->ct_offset ? -1 : 1;
    return 0;
}

/* Sort and keep the last line of each key. */
static void ctr_compact(ctr_list *cl)
{
    if (cl->cl_n == 0)
        return;
    qsort(cl->cl_lines, cl->cl_n, sizeof *cl->cl_lines, ctr_cmp);
    size_t w = 0;
    for (size_t i = 0; i < cl->cl_n; i++) {
        const ctr_line *ct = &cl->cl_lines[i];
        if (w > 0 && cl->cl_lines[w - 1].ct_holder == ct->ct_holder &&
            cl->cl_lines[w - 1].ct_cycle == ct->ct_cycle &&
            cl->cl_lines[w - 1].ct_tag == ct->ct_tag) {
            cl->cl_split += cl->cl_lines[w - 1].ct_partition != ct->ct_partition;
            cl->cl_lines[w - 1] = *ct;
        } else
            cl->cl_lines[w++] = *ct;
    }
    cl->cl_n = w;
}

static int ctr_add(ctr_list *cl, const ctr_line *ct)
{
    if (cdr_counter_credit_kind(ct->ct_tag))
        return 0; /* the credit state beside them is not a bundle counter (credit-control.md) */
    if (cl->cl_n == cl->cl_cap) {
        /* A changelog repeats keys: compact first, grow only when the distinct keys need it. */
        ctr_compact(cl);
        if (cl->cl_cap == 0 || cl->cl_n > cl->cl_cap / 2) {
            size_t cap = cl->cl_cap ? cl->cl_cap * 2 : 65536;
            ctr_line *p = realloc(cl->cl_lines, cap * sizeof *p);
            if (!p)
                return cdr_diag_set(cl->cl_dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            cl->cl_lines = p;
            cl->cl_cap = cap;
        }
    }
    cl->cl_lines[cl->cl_n++] = *ct;
    return 0;
}

static int read_store(cdr_store *st, ctr_list *cl, cdr_diag *dg)
{
    const char *path = st->st_path;
    int rc;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        rc = cdr_store_err(rc, "begin read", dg);
        goto done;
    }
    rc = mdb_dbi_open(txn, CDR_DB_COUNTERS, 0, &dbi);
    if (rc == MDB_NOTFOUND) {
        rc = 0; /* nothing rated into this store yet */
        goto done;
    }
    if (rc == 0)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        rc = cdr_store_err(rc, "open counters", dg);
        goto done;
    }
    MDB_val k, v;
    uint64_t n = 0;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        cdr_counter_change cc;
        /* the store's counters db and the changelog share one encoding (cdr_stream.h) */
        if (cdr_counter_change_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &cc)) {
            rc =
                cdr_diag_set(dg, CDR_FORMAT, path, 0, 0,
                             "counter entry %" PRIu64 " has a %zu-byte key and a %zu-byte value "
                             "(want %d and %d)",
                             n + 1, k.mv_size, v.mv_size, CDR_COUNTER_KEY_LEN, CDR_COUNTER_VAL_LEN);
            break;
        }
        const ctr_line ct = {cc.cc_holder, cc.cc_tag, cc.cc_used, cc.cc_owner,
                             cc.cc_cycle,  -1,        (int64_t)n, 0};
        rc = ctr_add(cl, &ct);
    }
    if (!rc && mrc != MDB_NOTFOUND)
        rc = cdr_store_err(mrc, "read counters", dg);
done:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

static int on_change(void *arg, const cdr_kafka_msg *km)
{
    ctr_list *cl = arg;
    cl->cl_records++;
    if (cdr_fraud_change_is(km->km_key, km->km_key_len))
        return 0; /* a line's fraud-rule state beside the counters (credit-control.md) */
    cdr_counter_change cc = {0};
    int deleted = km->km_value == NULL;
    if (deleted ? km->km_key_len != CDR_COUNTER_KEY_LEN
                : cdr_counter_change_decode(km->km_key, km->km_key_len, km->km_value,
                                            km->km_value_len, &cc) != 0)
        return cdr_diag_set(cl->cl_dg, CDR_FORMAT, NULL, 0, 0,
                            "%s partition %d offset %" PRId64
                            ": malformed counter record (%zu-byte key, %zu-byte value; want %d "
                            "and %d)",
                            cl->cl_topic, (int)km->km_partition, km->km_offset, km->km_key_len,
                            km->km_value_len, CDR_COUNTER_KEY_LEN, CDR_COUNTER_VAL_LEN);
    if (deleted) { /* the key of a tombstone, decoded with a dummy value */
        static const uint8_t zero[CDR_COUNTER_VAL_LEN];
        cdr_counter_change_decode(km->km_key, km->km_key_len, zero, sizeof zero, &cc);
    }
    const ctr_line ct = {cc.cc_holder, cc.cc_tag,        cc.cc_used,    cc.cc_owner,
                         cc.cc_cycle,  km->km_partition, km->km_offset, deleted};
    return ctr_add(cl, &ct);
}

/* ---- names: the store's directory and plans -------------------------------------------------- */

typedef struct ctr_tagname {
    uint64_t tn_tag;
    const cdr_bundle *tn_bundle;
} ctr_tagname;

typedef struct ctr_names {
    cdr_dir *cn_dir;      /* NULL when the store has no directory */
    cdr_plan_set *cn_ps;  /* NULL when it has no plans */
    ctr_tagname *cn_tags; /* own-bundle tags of every bundle of every plan, sorted by tag */
    size_t cn_ntags;
} ctr_names;

static int cmp_tagname(const void *a, const void *b)
{
    const ctr_tagname *x = a, *y = b;
    return (x->tn_tag > y->tn_tag) - (x->tn_tag < y->tn_tag);
}

static void names_free(ctr_names *cn)
{
    cdr_dir_free(cn->cn_dir);
    cdr_plan_set_release(cn->cn_ps);
    free(cn->cn_tags);
    memset(cn, 0, sizeof *cn);
}

/* Read the directory and the plans of st. A store without either names less (raw ids, tags);
 * only a store that cannot be read is an error. */
static int names_load(cdr_store *st, ctr_names *cn, cdr_diag *dg)
{
    memset(cn, 0, sizeof *cn);
    int rc = cdr_dir_read(st, &cn->cn_dir, dg);
    if (rc == CDR_NOTFOUND || rc == CDR_VERSION)
        rc = 0; /* no directory (or an old one): holders stay ids */
    if (!rc)
        rc = cdr_plan_set_load(st, &cn->cn_ps, dg);
    if (rc) {
        names_free(cn);
        return rc;
    }
    size_t n = 0;
    for (uint32_t p = 0; p < cn->cn_ps->ps_nplans; p++)
        n += cn->cn_ps->ps_plans[p]->pl_nbundles;
    cn->cn_tags = malloc((n ? n : 1) * sizeof *cn->cn_tags);
    if (!cn->cn_tags) {
        names_free(cn);
        return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    for (uint32_t p = 0; p < cn->cn_ps->ps_nplans; p++) {
        const cdr_plan *pl = cn->cn_ps->ps_plans[p];
        for (unsigned b = 0; b < pl->pl_nbundles; b++)
            if (!pl->pl_bundles[b].bu_pool)
                cn->cn_tags[cn->cn_ntags++] = (ctr_tagname){
                    cdr_counter_bundle_tag(pl->pl_bundles[b].bu_name), &pl->pl_bundles[b]};
    }
    qsort(cn->cn_tags, cn->cn_ntags, sizeof *cn->cn_tags, cmp_tagname);
    return 0;
}

/* What a counter is, in words. */
typedef struct ctr_named {
    const char *nm_kind;    /* "own", "pool", "member" or "unknown" */
    const char *nm_msisdn;  /* the holder's MSISDN (own, member), or NULL */
    uint64_t nm_enterprise; /* the holder enterprise (pool), or 0 */
    char nm_holder[48];     /* "msisdn 8613800000001", "enterprise 1", "subscriber 5" */
    char nm_bundle[80];     /* "minutes500", "data pool", "data pool (member's draw)", "tag ..." */
    const char *nm_bundle_name; /* own: the bundle's name, or NULL */
    int nm_service;             /* cdr_service, or -1 when unknown */
    char nm_used[40];           /* "120min 30s", or the bare number when the service is unknown */
} ctr_named;

static void name_counter(const ctr_names *cn, const ctr_line *ct, ctr_named *nm)
{
    memset(nm, 0, sizeof *nm);
    int kind = cdr_counter_tag_kind(ct->ct_tag);
    nm->nm_service = cdr_counter_tag_service(ct->ct_tag);
    nm->nm_kind = kind == CDR_COUNTER_OWN      ? "own"
                  : kind == CDR_COUNTER_POOL   ? "pool"
                  : kind == CDR_COUNTER_MEMBER ? "member"
                                               : "unknown";
    if (kind == CDR_COUNTER_POOL) {
        nm->nm_enterprise = ct->ct_holder;
        snprintf(nm->nm_holder, sizeof nm->nm_holder, "enterprise %" PRIu64, ct->ct_holder);
    } else {
        const cdr_dir_subscriber *sb =
            cn->cn_dir ? cdr_dir_find_subscriber(cn->cn_dir, ct->ct_holder) : NULL;
        nm->nm_msisdn = sb ? sb->sb_msisdn : NULL;
        if (sb)
            snprintf(nm->nm_holder, sizeof nm->nm_holder, "msisdn %s", sb->sb_msisdn);
        else
            snprintf(nm->nm_holder, sizeof nm->nm_holder, "subscriber %" PRIu64, ct->ct_holder);
    }
    if (kind == CDR_COUNTER_OWN) {
        const ctr_tagname key = {ct->ct_tag, NULL};
        const ctr_tagname *tn =
            bsearch(&key, cn->cn_tags, cn->cn_ntags, sizeof *cn->cn_tags, cmp_tagname);
        if (tn) {
            nm->nm_bundle_name = tn->tn_bundle->bu_name;
            nm->nm_service = tn->tn_bundle->bu_service;
            snprintf(nm->nm_bundle, sizeof nm->nm_bundle, "%s", tn->tn_bundle->bu_name);
        }
    } else if (nm->nm_service >= 0) {
        snprintf(nm->nm_bundle, sizeof nm->nm_bundle, "%s pool%s", cdr_service_name(nm->nm_service),
                 kind == CDR_COUNTER_MEMBER ? " (member's draw)" : "");
    }
    if (!nm->nm_bundle[0]) /* a bundle no plan in the store has (any more) */
        snprintf(nm->nm_bundle, sizeof nm->nm_bundle, "tag %016" PRIx64, ct->ct_tag);
    if (nm->nm_service >= 0)
        cdr_dir_format_qty(nm->nm_service, ct->ct_used, nm->nm_used, sizeof nm->nm_used);
    else
        snprintf(nm->nm_used, sizeof nm->nm_used, "%" PRIu64, ct->ct_used);
}

/* ---- printing -------------------------------------------------------------------------------- */

static void print_raw(const ctr_line *ct, int json)
{
    if (json)
        printf("{\"holder\":%" PRIu64 ",\"cycle\":%" PRIu32 ",\"tag\":\"%016" PRIx64
               "\",\"used\":%" PRIu64 ",\"owner\":%" PRIu64 "}\n",
               ct->ct_holder, ct->ct_cycle, ct->ct_tag, ct->ct_used, ct->ct_owner);
    else
        printf("%" PRIu64 " %" PRIu32 " %016" PRIx64 " %" PRIu64 " %" PRIu64 "\n", ct->ct_holder,
               ct->ct_cycle, ct->ct_tag, ct->ct_used, ct->ct_owner);
}

static void print_named(const ctr_names *cn, const ctr_line *ct, int json, int *header)
{
    ctr_named nm;
    name_counter(cn, ct, &nm);
    if (!json) {
        if (!*header)
            printf("%-26s %-6s  %-30s %s\n", "HOLDER", "CYCLE", "BUNDLE", "USED");
        *header = 1;
        printf("%-26s %-6" PRIu32 "  %-30s %s\n", nm.nm_holder, ct->ct_cycle, nm.nm_bundle,
               nm.nm_used);
        return;
    }
    printf("{\"holder\":%" PRIu64 ",\"cycle\":%" PRIu32 ",\"tag\":\"%016" PRIx64
           "\",\"used\":%" PRIu64 ",\"owner\":%" PRIu64 ",\"kind\":\"%s\",\"msisdn\":",
           ct->ct_holder, ct->ct_cycle, ct->ct_tag, ct->ct_used, ct->ct_owner, nm.nm_kind);
    if (nm.nm_msisdn)
        cli_json_str(stdout, nm.nm_msisdn);
    else
        fputs("null", stdout);
    if (nm.nm_enterprise)
        printf(",\"enterprise\":%" PRIu64, nm.nm_enterprise);
    else
        fputs(",\"enterprise\":null", stdout);
    fputs(",\"bundle\":", stdout);
    if (nm.nm_bundle_name)
        cli_json_str(stdout, nm.nm_bundle_name);
    else
        fputs("null", stdout);
    if (nm.nm_service >= 0)
        printf(",\"service\":\"%s\"", cdr_service_name(nm.nm_service));
    else
        fputs(",\"service\":null", stdout);
    fputs(",\"used_text\":", stdout);
    cli_json_str(stdout, nm.nm_used);
    fputs(",\"holder_text\":", stdout);
    cli_json_str(stdout, nm.nm_holder);
    fputs(",\"bundle_text\":", stdout);
    cli_json_str(stdout, nm.nm_bundle);
    fputs("}\n", stdout);
}

/* cn NULL: the raw format. */
static void print_lines(const ctr_list *cl, const ctr_names *cn, int json, uint64_t *printed)
{
    *printed = 0;
    int header = 0;
    for (size_t i = 0; i < cl->cl_n; i++) {
        const ctr_line *ct = &cl->cl_lines[i];
        if (ct->ct_deleted || ct->ct_used == 0)
            continue; /* a counter at 0 is the same as no counter */
        ++*printed;
        if (cn)
            print_named(cn, ct, json, &header);
        else
            print_raw(ct, json);
    }
}

/* ---- reset ----------------------------------------------------------------------------------- */

typedef struct ctr_reset {
    uint32_t rs_cycle;
    int rs_filter;          /* 0 every counter of the cycle, 1 one subscriber, 2 an enterprise */
    uint64_t rs_subscriber; /* filter 1 */
    uint64_t rs_enterprise; /* filter 2 */
    uint64_t *rs_members;   /* filter 2: the enterprise's member subscribers, sorted */
    size_t rs_nmembers;
} ctr_reset;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int reset_match(void *arg, const cdr_counter_change *cc)
{
    const ctr_reset *rs = arg;
    if (cc->cc_cycle != rs->rs_cycle || cdr_counter_credit_kind(cc->cc_tag))
        return 0;
    int pool = cdr_counter_tag_kind(cc->cc_tag) == CDR_COUNTER_POOL;
    switch (rs->rs_filter) {
    case 1: /* the line's own bundles and its draws on a pool; never an enterprise's pool */
        return !pool && cc->cc_holder == rs->rs_subscriber;
    case 2: /* the pool, and every counter of the member lines (also of lines that left) */
        if (pool)
            return cc->cc_holder == rs->rs_enterprise;
        return cc->cc_owner == cdr_dir_enterprise_owner(rs->rs_enterprise) ||
               bsearch(&cc->cc_holder, rs->rs_members, rs->rs_nmembers, sizeof(uint64_t),
                       cmp_u64) != NULL;
    default:
        return 1;
    }
}

/* "YYYYMM" with a month 01..12 -> 0 and *out; -1 otherwise. */
static int parse_cycle(const char *s, uint32_t *out)
{
    if (strlen(s) != 6 || strspn(s, "0123456789") != 6)
        return -1;
    uint32_t v = (uint32_t)strtoul(s, NULL, 10), month = v % 100;
    if (month < 1 || month > 12 || v / 100 < 1970)
        return -1;
    *out = v;
    return 0;
}

/* Ask on the terminal; 1 when the answer is y or yes. */
static int confirm(const char *question)
{
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcmp(line, "y") || !strcmp(line, "Y") || !strcmp(line, "yes") ||
           !strcmp(line, "YES") || !strcmp(line, "Yes");
}

static const char reset_about[] =
    "Delete the bundle counters of cycle C (YYYYMM) from the store, in one transaction, so that\n"
    "rating spends the bundles again from zero (for example before rating a cycle's CDRs anew):\n"
    "every counter of the cycle; with --msisdn, the line's own bundles and its draws on its\n"
    "enterprise's pool (never the pool itself); with --enterprise, the enterprise's pools and "
    "every\n"
    "counter of its member lines. On a terminal it asks first; otherwise --yes is required. Do "
    "not\n"
    "run it while `cdrate rate` runs on the same store (the rate run would save its counters\n"
    "back). The counters of the streaming rater live in cdr.counters and are not touched.\n"
    "Exit status: 0 done (also when nothing matched), 1 the store could not be read or written,\n"
    "2 bad command line, 4 refused: not confirmed, no store at the path, an unknown MSISDN or\n"
    "enterprise.";

static int cmd_counters_reset(int argc, char **argv)
{
    const char *store = NULL, *cycle_s = NULL, *msisdn = NULL, *enterprise_s = NULL;
    int yes = 0, json = 0;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the store whose counters to delete"},
        {"cycle", CLI_STRING, &cycle_s, "C", "the billing cycle, YYYYMM"},
        {"msisdn", CLI_STRING, &msisdn, "N", "only the counters of this line"},
        {"enterprise", CLI_STRING, &enterprise_s, "ID", "only this enterprise's counters"},
        {"yes", CLI_FLAG, &yes, NULL, "do not ask (required when stdin is not a terminal)"},
        {"json", CLI_FLAG, &json, NULL, "print the result as one JSON object"},
        {0},
    };
    const cli_spec cs = {"counters reset",
                         "--cycle C [--msisdn N | --enterprise ID] --store STORE [--yes] [--json]",
                         reset_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!store)
        return cli_usage_error(&cs, "--store is required");
    ctr_reset rs = {0};
    if (!cycle_s)
        return cli_usage_error(&cs, "--cycle is required");
    if (parse_cycle(cycle_s, &rs.rs_cycle))
        return cli_usage_error(&cs, "--cycle must be YYYYMM (e.g. 202611), not '%s'", cycle_s);
    if (msisdn && enterprise_s)
        return cli_usage_error(&cs, "give --msisdn or --enterprise, not both");
    if (msisdn) {
        size_t n = strlen(msisdn);
        if (n < 1 || n > 15 || strspn(msisdn, "0123456789") != n)
            return cli_usage_error(&cs, "--msisdn must be 1 to 15 digits (E.164, no '+'), not '%s'",
                                   msisdn);
        rs.rs_filter = 1;
    }
    if (enterprise_s) {
        size_t n = strlen(enterprise_s);
        if (n < 1 || n > 19 || strspn(enterprise_s, "0123456789") != n ||
            (rs.rs_enterprise = strtoull(enterprise_s, NULL, 10)) == 0 ||
            rs.rs_enterprise > (uint64_t)CDR_DIR_ID_MAX)
            return cli_usage_error(&cs,
                                   "--enterprise must be an id from 1 to %" PRId64 ", not '%s'",
                                   CDR_DIR_ID_MAX, enterprise_s);
        rs.rs_filter = 2;
    }
    cdr_store *st;
    int ec = cli_store_open("counters", store, CLI_STORE_WRITE, &st);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_dir *dir = NULL;
    char what[96] = "";
    int rc = 0;
    if (msisdn) {
        cdr_dir_subscriber sb;
        rc = cdr_dir_lookup_msisdn(st, msisdn, &sb, &dg);
        rs.rs_subscriber = sb.sb_id;
        snprintf(what, sizeof what, " of msisdn %s", msisdn);
    } else if (enterprise_s) {
        rc = cdr_dir_read(st, &dir, &dg);
        if (!rc && !cdr_dir_find_enterprise(dir, rs.rs_enterprise))
            rc = cdr_diag_set(&dg, CDR_NOTFOUND, NULL, 0, 0,
                              "enterprise %" PRIu64 " is not in the directory", rs.rs_enterprise);
        size_t nsb;
        const cdr_dir_subscriber *sbs = rc ? NULL : cdr_dir_subscribers(dir, &nsb);
        if (sbs) {
            rs.rs_members = malloc((nsb ? nsb : 1) * sizeof *rs.rs_members);
            if (!rs.rs_members)
                rc = cdr_diag_set(&dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
            for (size_t i = 0; !rc && i < nsb; i++)
                if (sbs[i].sb_enterprise == rs.rs_enterprise)
                    rs.rs_members[rs.rs_nmembers++] = sbs[i].sb_id; /* ascending ids */
        }
        snprintf(what, sizeof what, " of enterprise %" PRIu64 " and its %zu member lines",
                 rs.rs_enterprise, rs.rs_nmembers);
    }
    uint64_t n = 0;
    if (!rc)
        rc = cdr_counters_delete(st, reset_match, &rs, 1, &n, &dg);
    if (rc) {
        cli_report("counters", &dg);
        ec = rc == CDR_NOTFOUND || rc == CDR_VERSION ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
        goto done;
    }
    if (n > 0 && !yes) {
        char q[256];
        snprintf(q, sizeof q, "reset %" PRIu64 " counters of cycle %" PRIu32 "%s in %s?", n,
                 rs.rs_cycle, what, store);
        if (!isatty(STDIN_FILENO)) {
            cli_error("counters", CDR_EINVAL, "not confirmed (give --yes): %s", q);
            ec = CLI_EXIT_REFUSED;
            goto done;
        }
        if (!confirm(q)) {
            cli_error("counters", CDR_EINVAL, "not confirmed: nothing reset");
            ec = CLI_EXIT_REFUSED;
            goto done;
        }
    }
    if (n > 0 && (rc = cdr_counters_delete(st, reset_match, &rs, 0, &n, &dg)) != 0) {
        cli_report("counters", &dg);
        ec = CLI_EXIT_FAIL;
        goto done;
    }
    if (json)
        printf("{\"reset\":%" PRIu64 ",\"cycle\":%" PRIu32 "}\n", n, rs.rs_cycle);
    else
        printf("reset %" PRIu64 " counters of cycle %" PRIu32 "%s\n", n, rs.rs_cycle, what);
    if (cli_fclose(stdout) != 0) {
        cli_error("counters", CDR_EIO, "write error on standard output");
        ec = CLI_EXIT_FAIL;
    }
done:
    free(rs.rs_members);
    cdr_dir_free(dir);
    cdr_store_close(st);
    return ec;
}

/* ---- list ------------------------------------------------------------------------------------ */

static const char counters_about[] =
    "Print bundle counters, one per line, sorted by holder, cycle and tag. With --store, named\n"
    "after the store's directory and plans:\n"
    "  HOLDER                     CYCLE   BUNDLE                         USED\n"
    "  msisdn 8613800000022       202611  minutes500                     120min 30s\n"
    "  enterprise 1               202611  data pool                      35.2GB\n"
    "  msisdn 8613800000001       202611  data pool (member's draw)      1.2GB\n"
    "HOLDER is the line (its own bundles, its draws on a pool) or the enterprise (the pool "
    "itself),\n"
    "CYCLE is YYYYMM, USED in minutes and seconds, bytes (1 KB = 1024 B) or messages. --raw, and\n"
    "--brokers without --store, print the raw form instead:\n"
    "  HOLDER CYCLE TAG USED OWNER\n"
    "HOLDER a subscriber or enterprise id, TAG the counter's 64-bit tag in hex, USED base units,\n"
    "OWNER the charging owner. --store reads the counters that `cdrate rate` saved in a store;\n"
    "--brokers reads the compacted changelog cdr.counters of `cdrate rate-stream` to its end\n"
    "(read_committed; the last record of each key wins, a record without value deletes the key, a\n"
    "key found in two partitions is reported), named after --store when it is given too. Counters\n"
    "at 0 are not printed (the same as absent), so both raw forms compare with diff. --json: one\n"
    "object per counter with the ids and, unless --raw, the names. A summary goes to stderr "
    "unless\n"
    "--quiet. `cdrate counters reset --help`: delete the counters of a cycle. Exit status: 0 ok,\n"
    "1 error, 2 bad command line, 4 no store at the path.";

int cmd_counters(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "reset"))
        return cmd_counters_reset(argc - 1, argv + 1);
    const char *store = NULL, *brokers = NULL, *prefix = NULL;
    int json = 0, quiet = 0, raw = 0;
    uint64_t timeout_s = 60;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR",
         "LMDB store whose counters to print (with --brokers: only to name them)"},
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers: read cdr.counters"},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic name (default none)"},
        {"timeout", CLI_COUNT, &timeout_s, "S", "--brokers: give up after S seconds, default 60", 1,
         86400},
        {"raw", CLI_FLAG, &raw, NULL, "ids, tags and base units (the form to diff)"},
        {"json", CLI_FLAG, &json, NULL, "one JSON object per line"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no summary on stderr"},
        {0},
    };
    const cli_spec cs = {"counters",
                         "--store DIR [--raw] [--json] [--quiet]\n"
                         "--brokers LIST [--store DIR] [--topic-prefix P] [--timeout S] [--raw] "
                         "[--json] [--quiet]\n"
                         "reset --cycle C [--msisdn N | --enterprise ID] --store STORE [--yes]",
                         counters_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!store && !brokers)
        return cli_usage_error(&cs, "give either --store or --brokers");
    if (!brokers && prefix)
        return cli_usage_error(&cs, "--topic-prefix goes with --brokers");
    char topic[512];
    if (snprintf(topic, sizeof topic, "%s%s", prefix ? prefix : "", CDR_STREAM_TOPIC_COUNTERS) >=
        (int)sizeof topic)
        return cli_usage_error(&cs, "--topic-prefix is too long");
    cdr_store *st = NULL;
    if (store) {
        int ec = cli_store_open("counters", store, CLI_STORE_READ, &st);
        if (ec != CLI_EXIT_OK)
            return ec;
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    ctr_list cl = {.cl_topic = topic, .cl_dg = &dg};
    ctr_names cn;
    memset(&cn, 0, sizeof cn);
    int named = st && !raw;
    int rc = named ? names_load(st, &cn, &dg) : 0;
    if (!rc)
        rc = brokers ? cdr_kafka_read_topic(brokers, topic, NULL, 0, (int)timeout_s * 1000,
                                            on_change, &cl, &dg)
                     : read_store(st, &cl, &dg);
    cdr_store_close(st);
    if (rc) {
        cli_report("counters", &dg);
        free(cl.cl_lines);
        names_free(&cn);
        return 1;
    }
    ctr_compact(&cl);
    if (cl.cl_split)
        fprintf(stderr,
                "cdrate counters: warning: %" PRIu64
                " times a key was in more than one partition of %s (the highest partition "
                "won); a counter's changes belong in its owner's partition\n",
                cl.cl_split, topic);
    uint64_t printed;
    print_lines(&cl, named ? &cn : NULL, json, &printed);
    names_free(&cn);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("counters", CDR_EIO, "write error on standard output");
        free(cl.cl_lines);
        return 1;
    }
    if (!quiet) {
        if (!brokers)
            fprintf(stderr, "cdrate counters: %" PRIu64 " counters (%zu at 0 not printed) in %s\n",
                    printed, cl.cl_n - (size_t)printed, store);
        else
            fprintf(stderr,
                    "cdrate counters: %" PRIu64 " counters (%zu at 0 or deleted not printed) "
                    "from %" PRIu64 " records of %s\n",
                    printed, cl.cl_n - (size_t)printed, cl.cl_records, topic);
    }
    free(cl.cl_lines);
    return 0;
}
