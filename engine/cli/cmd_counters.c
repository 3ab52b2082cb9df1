/* cmd_counters.c - `cdrate counters`: the bundle counters of a store (saved by `cdrate rate`) or
 * of the compacted changelog cdr.counters (written by `cdrate rate-stream`), in one sorted text
 * format, so that `diff` compares offline rating with streaming rating. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdr_collect.h"
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

static int read_store(const char *path, ctr_list *cl, cdr_diag *dg)
{
    cdr_store *st;
    int rc = cdr_store_open(path, MDB_RDONLY, &st, dg);
    if (rc)
        return rc;
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
    cdr_store_close(st);
    return rc;
}

static int on_change(void *arg, const cdr_kafka_msg *km)
{
    ctr_list *cl = arg;
    cl->cl_records++;
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

static void print_lines(const ctr_list *cl, int json, uint64_t *printed)
{
    *printed = 0;
    for (size_t i = 0; i < cl->cl_n; i++) {
        const ctr_line *ct = &cl->cl_lines[i];
        if (ct->ct_deleted || ct->ct_used == 0)
            continue; /* a counter at 0 is the same as no counter */
        ++*printed;
        if (json)
            printf("{\"holder\":%" PRIu64 ",\"cycle\":%" PRIu32 ",\"tag\":\"%016" PRIx64
                   "\",\"used\":%" PRIu64 ",\"owner\":%" PRIu64 "}\n",
                   ct->ct_holder, ct->ct_cycle, ct->ct_tag, ct->ct_used, ct->ct_owner);
        else
            printf("%" PRIu64 " %" PRIu32 " %016" PRIx64 " %" PRIu64 " %" PRIu64 "\n",
                   ct->ct_holder, ct->ct_cycle, ct->ct_tag, ct->ct_used, ct->ct_owner);
    }
}

static const char counters_about[] =
    "Print bundle counters, one per line, sorted by holder, cycle and tag:\n"
    "  HOLDER CYCLE TAG USED OWNER\n"
    "HOLDER is a subscriber id (own bundles, pool draws) or an enterprise id (pools), CYCLE is\n"
    "YYYYMM, TAG the counter's 64-bit tag in hex, USED the units consumed, OWNER the charging\n"
    "owner. --store reads the counters that `cdrate rate` saved in a store; --brokers reads the\n"
    "compacted changelog cdr.counters of `cdrate rate-stream` to its end (read_committed; the\n"
    "last record of each key wins, a record without value deletes the key, a key found in two\n"
    "partitions is reported). Counters at 0 are not printed (the same as absent), so both\n"
    "forms compare with diff. A summary goes to stderr unless --quiet. Exit status: 0 ok,\n"
    "1 error, 2 bad command line.";

int cmd_counters(int argc, char **argv)
{
    const char *store = NULL, *brokers = NULL, *prefix = NULL;
    int json = 0, quiet = 0;
    uint64_t timeout_s = 60;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR", "LMDB store whose counters to print"},
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers: read cdr.counters"},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic name (default none)"},
        {"timeout", CLI_COUNT, &timeout_s, "S", "--brokers: give up after S seconds, default 60", 1,
         86400},
        {"json", CLI_FLAG, &json, NULL, "one JSON object per line"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no summary on stderr"},
        {0},
    };
    const cli_spec cs = {"counters",
                         "--store DIR [--json] [--quiet]\n"
                         "--brokers LIST [--topic-prefix P] [--timeout S] [--json] [--quiet]",
                         counters_about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? 0 : 2;
    if (pos != argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!store == !brokers)
        return cli_usage_error(&cs, "give either --store or --brokers");
    if (store && prefix)
        return cli_usage_error(&cs, "--topic-prefix goes with --brokers");
    char topic[512];
    if (snprintf(topic, sizeof topic, "%s%s", prefix ? prefix : "", CDR_STREAM_TOPIC_COUNTERS) >=
        (int)sizeof topic)
        return cli_usage_error(&cs, "--topic-prefix is too long");
    cdr_diag dg;
    cdr_diag_clear(&dg);
    ctr_list cl = {.cl_topic = topic, .cl_dg = &dg};
    int rc = store ? read_store(store, &cl, &dg)
                   : cdr_kafka_read_topic(brokers, topic, NULL, 0, (int)timeout_s * 1000, on_change,
                                          &cl, &dg);
    if (rc) {
        cli_report("counters", &dg);
        free(cl.cl_lines);
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
    print_lines(&cl, json, &printed);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cdrate counters: write error on standard output\n");
        free(cl.cl_lines);
        return 1;
    }
    if (!quiet) {
        if (store)
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
