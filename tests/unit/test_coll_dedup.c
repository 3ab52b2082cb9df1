/* test_coll_dedup.c - de-duplication: the content hash, record identities in LMDB (same record
 * twice in one input, in two inputs, after an abort, window pruning, bounded size), the file
 * registry, and through the collector: a file ingested twice is refused as a whole, duplicates are
 * counted exactly and reported with the original's file and position. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdr_collect.h"
#include "test_dirs.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static void tmpdir(char *buf, size_t n)
{
    test_tmpdir(buf, n, "dedup");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static cdr_record rec(const char *source, const char *id, cdr_time start)
{
    cdr_record cr;
    memset(&cr, 0, sizeof cr);
    snprintf(cr.cr_source, sizeof cr.cr_source, "%s", source);
    snprintf(cr.cr_origin_id, sizeof cr.cr_origin_id, "%s", id);
    snprintf(cr.cr_msisdn, sizeof cr.cr_msisdn, "8613800000001");
    cr.cr_start = start;
    cr.cr_duration = 60;
    return cr;
}

static cdr_store *open_store(char *dir, size_t n)
{
    tmpdir(dir, n);
    cdr_store *st;
    cdr_diag dg;
    cr_assert_eq(cdr_store_open(dir, 0, &st, &dg), 0, "%s", dg.dg_msg);
    return st;
}

static const cdr_time T0 = 1793500000; /* 2026-11-01 */

/* ---- content hash ---------------------------------------------------------------------------- */

Test(coll_sha256, known_vectors)
{
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t h[CDR_SHA256_LEN], p[CDR_SHA256_LEN];
        char hex[65];
        cdr_coll_sha256(v[i].in, strlen(v[i].in), h);
        cdr_coll_sha256_portable(v[i].in, strlen(v[i].in), p);
        cr_assert_str_eq(cdr_coll_hex(h, sizeof h, hex), v[i].hex);
        cr_assert_str_eq(cdr_coll_hex(p, sizeof p, hex), v[i].hex);
    }
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    uint8_t h[CDR_SHA256_LEN];
    char hex[65];
    cdr_coll_sha256(a, n, h);
    cr_assert_str_eq(cdr_coll_hex(h, sizeof h, hex),
                     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

Test(coll_sha256, fast_path_equals_portable_at_every_length)
{
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof buf; len++) {
        uint8_t a[CDR_SHA256_LEN], b[CDR_SHA256_LEN];
        cdr_coll_sha256(buf, len, a);
        cdr_coll_sha256_portable(buf, len, b);
        cr_assert_eq(memcmp(a, b, sizeof a), 0, "length %zu", len);
    }
}

/* ---- record identities
 * --------------------------------------------------------------------------- */

Test(coll_dedup, same_record_twice_in_one_batch)
{
    char dir[4096];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 0, &dd, &dg), 0, "%s", dg.dg_msg);
    uint8_t hash[CDR_SHA256_LEN] = {1};
    cdr_dedup_file df;
    cr_assert_eq(cdr_dedup_file_add(dd, hash, "one.csv", CDR_INPUT_FILE, 10, &df, &dg), 0);
    cdr_record r[4] = {rec("MSC01", "7", T0), rec("MSC01", "8", T0), rec("MSC01", "7", T0 + 5),
                       rec("MSC02", "7", T0)};
    cdr_dedup_item it[4];
    for (int i = 0; i < 4; i++)
        it[i] =
            (cdr_dedup_item){.di_rec = &r[i], .di_index = (uint64_t)i, .di_line = 2 + (uint64_t)i};
    cr_assert_eq(cdr_dedup_check_batch(dd, df.df_id, it, 4, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(it[0].di_dup, 0);
    cr_assert_eq(it[1].di_dup, 0);
    cr_assert_eq(it[2].di_dup, 1, "same (source, origin id) later in the input");
    cr_assert_eq(it[2].di_orig.do_file_id, df.df_id);
    cr_assert_eq(it[2].di_orig.do_index, 0);
    cr_assert_eq(it[2].di_orig.do_line, 2);
    cr_assert_eq(it[2].di_orig.do_start, T0, "the original's start, not the duplicate's");
    cr_assert_eq(it[3].di_dup, 0, "another source is another identity");
    cr_assert_eq(cdr_dedup_count(dd), 3);
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

Test(coll_dedup, same_record_in_two_files_names_the_original)
{
    char dir[4096], name[256];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 0, &dd, &dg), 0);
    uint8_t h1[CDR_SHA256_LEN] = {1}, h2[CDR_SHA256_LEN] = {2};
    cdr_dedup_file f1, f2;
    cr_assert_eq(cdr_dedup_file_add(dd, h1, "first.csv", CDR_INPUT_FILE, 1, &f1, &dg), 0);
    cdr_record a = rec("MSC01", "100", T0);
    cr_assert_eq(cdr_dedup_check(dd, &a, f1.df_id, 41, 43, NULL, &dg), 0);
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    /* later, another input (and another handle on the same store) */
    cdr_dedup_close(dd);
    cr_assert_eq(cdr_dedup_open(st, 0, &dd, &dg), 0);
    cr_assert_eq(cdr_dedup_file_add(dd, h2, "second.csv", CDR_INPUT_FILE, 1, &f2, &dg), 0);
    cr_assert_neq(f1.df_id, f2.df_id);
    cdr_dedup_orig o;
    cr_assert_eq(cdr_dedup_check(dd, &a, f2.df_id, 0, 1, &o, &dg), 1);
    cr_assert_eq(o.do_file_id, f1.df_id);
    cr_assert_eq(o.do_index, 41);
    cr_assert_eq(o.do_line, 43);
    cr_assert_str_eq(cdr_dedup_file_name(dd, o.do_file_id, name, sizeof name), "first.csv");
    cr_assert_eq(cdr_dedup_file_add(dd, h1, "again.csv", CDR_INPUT_FILE, 1, &f2, &dg), CDR_EXISTS);
    cdr_dedup_abort(dd);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

Test(coll_dedup, an_aborted_transaction_records_nothing)
{
    char dir[4096];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 0, &dd, &dg), 0);
    cdr_record a = rec("MSC01", "1", T0);
    cr_assert_eq(cdr_dedup_check(dd, &a, 1, 0, 1, NULL, &dg), 0);
    cdr_dedup_abort(dd);
    cr_assert_eq(cdr_dedup_check(dd, &a, 1, 0, 1, NULL, &dg), 0, "forgotten with the abort");
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    cr_assert_eq(cdr_dedup_check(dd, &a, 1, 5, 6, NULL, &dg), 1);
    cdr_dedup_abort(dd);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

Test(coll_dedup, window_pruning_is_by_event_time)
{
    char dir[4096];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 7 * 86400, &dd, &dg), 0);
    cdr_record old = rec("MSC01", "old", T0);
    cdr_record mid = rec("MSC01", "mid", T0 + 2 * 86400);
    cdr_record edge = rec("MSC01", "edge", T0 + 86400); /* exactly 7 days before `now` */
    cdr_record now = rec("MSC01", "now", T0 + 8 * 86400);
    cr_assert_eq(cdr_dedup_check(dd, &old, 1, 0, 1, NULL, &dg), 0);
    cr_assert_eq(cdr_dedup_check(dd, &mid, 1, 1, 2, NULL, &dg), 0);
    cr_assert_eq(cdr_dedup_check(dd, &edge, 1, 2, 3, NULL, &dg), 0);
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    cr_assert_eq(cdr_dedup_count(dd), 3);
    uint64_t pruned;
    cr_assert_eq(cdr_dedup_prune(dd, UINT64_MAX, &pruned, &dg), 0);
    cr_assert_eq(pruned, 0, "nothing is older than the window of the newest event yet");
    cr_assert_eq(cdr_dedup_check(dd, &now, 2, 0, 1, NULL, &dg), 0);
    cr_assert_eq(cdr_dedup_newest(dd), T0 + 8 * 86400);
    cr_assert_eq(cdr_dedup_prune(dd, UINT64_MAX, &pruned, &dg), 0);
    cr_assert_eq(pruned, 1, "only the record more than 7 days older than the newest");
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    cr_assert_eq(cdr_dedup_count(dd), 3);
    /* within the window: still caught; beyond it: forgotten, accepted again */
    cr_assert_eq(cdr_dedup_check(dd, &mid, 3, 0, 1, NULL, &dg), 1);
    cr_assert_eq(cdr_dedup_check(dd, &edge, 3, 1, 2, NULL, &dg), 1);
    cr_assert_eq(cdr_dedup_check(dd, &old, 3, 2, 3, NULL, &dg), 0);
    cdr_dedup_abort(dd);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

Test(coll_dedup, commits_keep_the_table_bounded)
{
    char dir[4096];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 86400, &dd, &dg), 0);
    /* 20 days of events, 1000 a day, in order, committed a day at a time */
    enum { DAYS = 20, PER_DAY = 1000 };
    static cdr_record r[PER_DAY];
    static cdr_dedup_item it[PER_DAY];
    uint64_t max_count = 0;
    for (int d = 0; d < DAYS; d++) {
        for (int i = 0; i < PER_DAY; i++) {
            char id[32];
            snprintf(id, sizeof id, "%d-%d", d, i);
            r[i] = rec("MSC01", id, T0 + d * 86400 + i * 86);
            it[i] = (cdr_dedup_item){.di_rec = &r[i], .di_index = (uint64_t)i};
        }
        cr_assert_eq(cdr_dedup_check_batch(dd, 1, it, PER_DAY, &dg), 0);
        cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
        uint64_t n = cdr_dedup_count(dd);
        if (n > max_count)
            max_count = n;
    }
    /* the window holds about 1000 identities; the sweep keeps at most about twice that */
    cr_assert_leq(max_count, 4 * PER_DAY, "%llu identities held", (unsigned long long)max_count);
    cdr_dedup_abort(dd);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

Test(coll_dedup, file_registry_round_trip_and_pruning)
{
    char dir[4096];
    cdr_store *st = open_store(dir, sizeof dir);
    cdr_dedup *dd;
    cdr_diag dg;
    cr_assert_eq(cdr_dedup_open(st, 86400, &dd, &dg), 0);
    uint8_t h[CDR_SHA256_LEN];
    cdr_coll_sha256("content", 7, h);
    cdr_dedup_file df, got;
    cr_assert_eq(cdr_dedup_file_get(dd, h, &got, &dg), CDR_NOTFOUND);
    cr_assert_eq(cdr_dedup_file_add(dd, h, "x.csv", CDR_INPUT_FILE, 7, &df, &dg), 0);
    df.df_state = CDR_FILE_MOVED;
    df.df_next = 5;
    df.df_max_start = T0;
    df.df_stats = (cdr_coll_stats){5, 2, 1, 1, 1};
    cr_assert_eq(cdr_dedup_file_put(dd, &df, &dg), 0);
    cr_assert_eq(cdr_dedup_commit(dd, &dg), 0);
    cr_assert_eq(cdr_dedup_file_get(dd, h, &got, &dg), 0);
    cr_assert_str_eq(got.df_name, "x.csv");
    cr_assert_eq(got.df_id, df.df_id);
    cr_assert_eq(got.df_state, CDR_FILE_MOVED);
    cr_assert_eq(got.df_next, 5);
    cr_assert_eq(got.df_size, 7);
    cr_assert_eq(got.df_stats.cs_published, 2);
    cr_assert_gt(got.df_first_seen, 0);
    /* two days of newer events: the file's records are out of the window, and so is it */
    cdr_record later = rec("MSC01", "later", T0 + 2 * 86400);
    cr_assert_eq(cdr_dedup_check(dd, &later, 2, 0, 1, NULL, &dg), 0);
    uint64_t pruned;
    cr_assert_eq(cdr_dedup_prune_files(dd, &pruned, &dg), 0);
    cr_assert_eq(pruned, 1);
    cr_assert_eq(cdr_dedup_file_get(dd, h, &got, &dg), CDR_NOTFOUND);
    cdr_dedup_abort(dd);
    cdr_dedup_close(dd);
    cdr_store_close(st);
    rm_rf(dir);
}

/* ---- through the collector ------------------------------------------------------------------- */

#define LINE(id, start, dur)                                                                       \
    "MSC01," id ",voice,mo,8613800000001,460001380000000,8613912345678," start "," dur             \
    ",0,0,,,4711,16,\n"

typedef struct reports {
    int n;
    cdr_collect_report r[8];
} reports;

static void on_report(void *arg, const cdr_collect_report *fr)
{
    reports *rs = arg;
    cr_assert_lt(rs->n, 8);
    rs->r[rs->n] = *fr;
    rs->r[rs->n].fr_name = strdup(fr->fr_name); /* valid during the callback only */
    rs->n++;
}

static void run_spool(const char *spool, reports *rs)
{
    cdr_collect_config cl;
    cdr_collect_config_defaults(&cl);
    snprintf(cl.cl_spool, sizeof cl.cl_spool, "%s", spool);
    snprintf(cl.cl_brokers, sizeof cl.cl_brokers, "embedded");
    cl.cl_quiet = 1;
    cl.cl_chunk = 3;     /* several transactions per file */
    cl.cl_settle_ms = 0; /* the files are written before the run */
    cdr_collect *co;
    cdr_diag dg;
    cr_assert_eq(cdr_collect_open(&cl, on_report, rs, &co, &dg), 0, "%s", dg.dg_msg);
    cr_assert_eq(cdr_collect_spool(co, 1, NULL, &dg), 0, "%s", dg.dg_msg);
    cdr_collect_close(co);
}

static void assert_accounts(const cdr_coll_stats *cs)
{
    cr_assert_eq(cs->cs_read,
                 cs->cs_published + cs->cs_rejected + cs->cs_duplicate + cs->cs_nonbillable);
}

Test(coll_dedup_spool, duplicates_in_a_file_and_across_files, .timeout = 120)
{
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(path, sizeof path, "%s/a.csv", spool);
    write_file(path, LINE("1", "2026-11-02T10:00:00+08:00", "61")
                         LINE("2", "2026-11-02T10:05:00+08:00", "30")
                             LINE("1", "2026-11-02T10:00:00+08:00", "61")
                                 LINE("3", "2026-11-02T10:09:00+08:00", "12"));
    snprintf(path, sizeof path, "%s/b.csv", spool);
    write_file(path, LINE("4", "2026-11-02T11:00:00+08:00", "5")
                         LINE("2", "2026-11-02T10:05:00+08:00", "30")
                             LINE("5", "2026-11-02T11:01:00+08:00", "0"));
    reports rs = {0};
    run_spool(spool, &rs);
    cr_assert_eq(rs.n, 2);
    cr_assert_str_eq(rs.r[0].fr_name, "a.csv");
    cr_assert_eq(rs.r[0].fr_status, CDR_COLLECT_DONE);
    cr_assert_eq(rs.r[0].fr_stats.cs_read, 4);
    cr_assert_eq(rs.r[0].fr_stats.cs_published, 3);
    cr_assert_eq(rs.r[0].fr_stats.cs_duplicate, 1);
    assert_accounts(&rs.r[0].fr_stats);
    cr_assert_str_eq(rs.r[1].fr_name, "b.csv");
    cr_assert_eq(rs.r[1].fr_stats.cs_read, 3);
    cr_assert_eq(rs.r[1].fr_stats.cs_published, 1);
    cr_assert_eq(rs.r[1].fr_stats.cs_duplicate, 1);
    cr_assert_eq(rs.r[1].fr_stats.cs_nonbillable, 1);
    assert_accounts(&rs.r[1].fr_stats);
    /* the original's id in the reports next to the moved files */
    snprintf(path, sizeof path, "%s/done/a.csv.duplicates", spool);
    char *rep = read_file(path);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep, "a.csv:3: record 2 MSC01/1 is a duplicate of a.csv:1 (record 0)\n");
    snprintf(path, sizeof path, "%s/done/b.csv.duplicates", spool);
    rep = read_file(path);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep, "b.csv:2: record 1 MSC01/2 is a duplicate of a.csv:2 (record 1)\n");
    for (int i = 0; i < rs.n; i++)
        free((char *)rs.r[i].fr_name);
    rm_rf(spool);
}

Test(coll_dedup_spool, the_same_file_twice_is_refused_whole, .timeout = 120)
{
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    const char *content = LINE("10", "2026-11-03T09:00:00+08:00", "100")
        LINE("11", "2026-11-03T09:10:00+08:00", "100");
    snprintf(path, sizeof path, "%s/cdr-0001.csv", spool);
    write_file(path, content);
    reports rs = {0};
    run_spool(spool, &rs);
    cr_assert_eq(rs.n, 1);
    cr_assert_eq(rs.r[0].fr_stats.cs_published, 2);
    /* delivered again, under another name and under the same name (another run) */
    snprintf(path, sizeof path, "%s/cdr-0001-resent.csv", spool);
    write_file(path, content);
    snprintf(path, sizeof path, "%s/cdr-0001.csv", spool);
    write_file(path, content);
    run_spool(spool, &rs);
    cr_assert_eq(rs.n, 3);
    for (int i = 1; i < 3; i++) {
        cr_assert_str_eq(rs.r[i].fr_name, i == 1 ? "cdr-0001-resent.csv" : "cdr-0001.csv");
        cr_assert_eq(rs.r[i].fr_status, CDR_COLLECT_REFUSED, "%s", rs.r[i].fr_name);
        cr_assert_eq(rs.r[i].fr_stats.cs_read, 0, "nothing of a refused file is read");
        cr_assert_not_null(strstr(rs.r[i].fr_msg, "same content"), "%s", rs.r[i].fr_msg);
        cr_assert_not_null(strstr(rs.r[i].fr_msg, "as cdr-0001.csv, ingested 20"), "%s",
                           rs.r[i].fr_msg);
    }
    snprintf(path, sizeof path, "%s/failed/cdr-0001-resent.csv.error", spool);
    char *err = read_file(path);
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "refused: already ingested: same content"), "%s", err);
    snprintf(path, sizeof path, "%s/failed/cdr-0001-resent.csv", spool);
    cr_assert(exists(path));
    snprintf(path, sizeof path, "%s/failed/cdr-0001.csv", spool);
    cr_assert(exists(path));
    snprintf(path, sizeof path, "%s/done/cdr-0001.csv", spool);
    cr_assert(exists(path), "the first delivery stays in done/");
    for (int i = 0; i < rs.n; i++)
        free((char *)rs.r[i].fr_name);
    rm_rf(spool);
}

Test(coll_dedup_spool, same_records_in_another_file_are_counted_not_refused, .timeout = 120)
{
    char spool[4096], path[8192];
    tmpdir(spool, sizeof spool);
    snprintf(path, sizeof path, "%s/x1.csv", spool);
    write_file(path, LINE("20", "2026-11-04T09:00:00+08:00", "60")
                         LINE("21", "2026-11-04T09:01:00+08:00", "60"));
    reports rs = {0};
    run_spool(spool, &rs);
    /* the same two records and one more, with CRLF line ends: other bytes, same records */
    snprintf(path, sizeof path, "%s/x2.csv", spool);
    write_file(path, "MSC01,20,voice,mo,8613800000001,460001380000000,8613912345678,"
                     "2026-11-04T09:00:00+08:00,60,0,0,,,4711,16,\r\n"
                     "MSC01,22,voice,mo,8613800000001,460001380000000,8613912345678,"
                     "2026-11-04T09:02:00+08:00,60,0,0,,,4711,16,\r\n"
                     "MSC01,21,voice,mo,8613800000001,460001380000000,8613912345678,"
                     "2026-11-04T09:01:00+08:00,60,0,0,,,4711,16,\r\n");
    run_spool(spool, &rs);
    cr_assert_eq(rs.n, 2);
    cr_assert_eq(rs.r[1].fr_status, CDR_COLLECT_DONE);
    cr_assert_eq(rs.r[1].fr_stats.cs_read, 3);
    cr_assert_eq(rs.r[1].fr_stats.cs_duplicate, 2);
    cr_assert_eq(rs.r[1].fr_stats.cs_published, 1);
    snprintf(path, sizeof path, "%s/done/x2.csv.duplicates", spool);
    char *rep = read_file(path);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep, "x2.csv:1: record 0 MSC01/20 is a duplicate of x1.csv:1 (record 0)\n"
                          "x2.csv:3: record 2 MSC01/21 is a duplicate of x1.csv:2 (record 1)\n");
    for (int i = 0; i < rs.n; i++)
        free((char *)rs.r[i].fr_name);
    rm_rf(spool);
}
