/* cmd_rate.c - `cdrate rate`: offline rating of CDR files against the store. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdr_bench.h"
#include "cdr_bytes.h"
#include "cdr_collect.h"
#include "cdr_dir.h"
#include "cdr_live.h"
#include "cdr_rate.h"
#include "cdr_store.h"
#include "cli.h"

#define RATE_BATCH 65536

static void summary(FILE *f, const cdr_rate_stats *rs, uint64_t rejected, double secs)
{
    char m[32];
    fprintf(f, "records read     %" PRIu64 "\n", rs->rs_records + rejected);
    fprintf(f, "rejected (input) %" PRIu64 "\n", rejected);
    fprintf(f, "rated            %" PRIu64 "\n", rs->rs_rated);
    if (rs->rs_late)
        fprintf(f,
                "  late           %" PRIu64
                " (their cycle was closed: billed in the next open one)\n",
                rs->rs_late);
    uint64_t un = 0;
    for (int r = 1; r < CDR_REASON_COUNT; r++)
        un += rs->rs_unratable[r];
    fprintf(f, "unratable        %" PRIu64 "\n", un);
    for (int r = 1; r < CDR_REASON_COUNT; r++)
        if (rs->rs_unratable[r])
            fprintf(f, "  %-22s %" PRIu64 "\n", cdr_reason_name(r), rs->rs_unratable[r]);
    /* money per currency only: one block per currency, never a total across currencies */
    if (rs->rs_ncurrencies == 0)
        fprintf(f, "charges          none (no record rated)\n");
    for (int k = 0; k < rs->rs_ncurrencies; k++) {
        const cdr_rate_currency *rc = &rs->rs_currency[k];
        fprintf(f, "charges in %s by service (records, amount):\n", rc->rc_currency);
        cdr_money total = 0;
        for (int s = 0; s < CDR_SVC_COUNT; s++) {
            total += rc->rc_charge[s];
            fprintf(f, "  %-6s %12" PRIu64 " %18s\n", cdr_service_name(s), rc->rc_by_service[s],
                    cdr_money_format(rc->rc_charge[s], 2, CDR_ROUND_HALF_UP, m, sizeof m));
        }
        fprintf(f, "  %-6s %12" PRIu64 " %18s\n", "total", rc->rc_rated,
                cdr_money_format(total, 2, CDR_ROUND_HALF_UP, m, sizeof m));
    }
    if (secs > 0)
        fprintf(f, "throughput       %.0f records/s (%.2f s)\n",
                (double)(rs->rs_records + rejected) / secs, secs);
}

/* The summary as one JSON object (docs/operations.md, "cdrate rate --json"): counts, and money
 * per currency only, as decimal text (2 places, half-up) and in micro-units. */
static void summary_json(FILE *f, const cdr_rate_stats *rs, uint64_t rejected, double secs, int dry,
                         int unrated, uint64_t alerts)
{
    char m[32];
    fprintf(f,
            "{\"records\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"rated\":%" PRIu64
            ",\"unratable\":%" PRIu64 ",\"unratable_by_reason\":{",
            rs->rs_records + rejected, rejected, rs->rs_rated, rs->rs_records - rs->rs_rated);
    for (int r = 1, k = 0; r < CDR_REASON_COUNT; r++)
        if (rs->rs_unratable[r])
            fprintf(f, "%s\"%s\":%" PRIu64, k++ ? "," : "", cdr_reason_name(r),
                    rs->rs_unratable[r]);
    fputs("},\"rated_by_service\":{", f);
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        fprintf(f, "%s\"%s\":%" PRIu64, s ? "," : "", cdr_service_name(s), rs->rs_by_service[s]);
    fputs("},\"charges\":{", f);
    for (int k = 0; k < rs->rs_ncurrencies; k++) {
        cdr_money t = 0;
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            t += rs->rs_currency[k].rc_charge[s];
        fprintf(f, "%s\"%s\":\"%s\"", k ? "," : "", rs->rs_currency[k].rc_currency,
                cdr_money_format(t, 2, CDR_ROUND_HALF_UP, m, sizeof m));
    }
    fputs("},\"charges_micro\":{", f);
    for (int k = 0; k < rs->rs_ncurrencies; k++) {
        cdr_money t = 0;
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            t += rs->rs_currency[k].rc_charge[s];
        fprintf(f, "%s\"%s\":%" PRId64, k ? "," : "", rs->rs_currency[k].rc_currency, t);
    }
    fputs("},\"by_currency\":{", f);
    for (int k = 0; k < rs->rs_ncurrencies; k++) {
        const cdr_rate_currency *rc = &rs->rs_currency[k];
        fprintf(f, "%s\"%s\":{\"rated\":%" PRIu64, k ? "," : "", rc->rc_currency, rc->rc_rated);
        for (int s = 0; s < CDR_SVC_COUNT; s++)
            fprintf(f, ",\"%s\":{\"records\":%" PRIu64 ",\"charge\":\"%s\"}", cdr_service_name(s),
                    rc->rc_by_service[s],
                    cdr_money_format(rc->rc_charge[s], 2, CDR_ROUND_HALF_UP, m, sizeof m));
        fputc('}', f);
    }
    fputs("},\"units\":{", f);
    for (int s = 0; s < CDR_SVC_COUNT; s++)
        fprintf(f,
                "%s\"%s\":{\"bundle\":%" PRIu64 ",\"overflow\":%" PRIu64 ",\"free\":%" PRIu64 "}",
                s ? "," : "", cdr_service_name(s), rs->rs_bundle_units[s], rs->rs_overflow_units[s],
                rs->rs_free_units[s]);
    fprintf(f, "},\"late\":%" PRIu64, rs->rs_late);
    fprintf(f,
            ",\"alerts\":%" PRIu64
            ",\"seconds\":%.3f,\"records_per_sec\":%.0f,\"dry_run\":%s,\"saved\":%s}\n",
            alerts, secs, secs > 0 ? (double)(rs->rs_records + rejected) / secs : 0.0,
            dry ? "true" : "false", dry || unrated ? "false" : "true");
}

/* ---- the inputs: content hashes, and what the store remembers of them ---------------------- */

typedef struct rate_input {
    const char *ri_name; /* as given on the command line ("-" for standard input) */
    char ri_path[4096];  /* what is read: the file, or the copy of standard input */
    uint64_t ri_size;    /* bytes */
    uint8_t ri_sha[CDR_SHA256_LEN];
    int ri_seen;            /* the store had rated this content before */
    uint64_t ri_seen_first; /* then: when first (unix seconds), how often, as what */
    uint32_t ri_seen_times;
    uint64_t ri_seen_records;
    char ri_seen_name[256];
    uint64_t ri_records; /* records read from it in this run */
} rate_input;

/* Value of CDR_DB_RATED_INPUTS: be64 first rated, be64 last rated (unix seconds), be32 times,
 * be64 records read, then the input's name as given (no NUL). */
#define RI_FIXED 28

/* Copy standard input into a private temporary file, so that it can be hashed and read. */
static int stdin_copy(char *path, size_t pathsz, cdr_diag *dg)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, pathsz, "%s/cdrate-rate-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return cdr_diag_set(dg, CDR_EIO, path, 0, 0, "cannot create a copy of standard input: %s",
                            strerror(errno));
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(fd, buf, (size_t)n) != n) {
            rc = cdr_diag_set(dg, CDR_EIO, "-", 0, 0, "cannot copy standard input: %s",
                              strerror(errno ? errno : EIO));
            break;
        }
    }
    if (close(fd) != 0 && !rc)
        rc = cdr_diag_set(dg, CDR_EIO, path, 0, 0, "%s", strerror(errno));
    return rc;
}

/* SHA-256 of the whole file (mapped, hashed in one call). */
static int input_hash(rate_input *ri, cdr_diag *dg)
{
    int fd = open(ri->ri_path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cdr_diag_set(dg, CDR_EIO, ri->ri_name, 0, 0, "cannot open: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cdr_diag_set(dg, CDR_EIO, ri->ri_name, 0, 0, "not a regular file");
    }
    ri->ri_size = (uint64_t)sb.st_size;
    const void *p = "";
    if (sb.st_size > 0 &&
        (p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        int e = errno;
        close(fd);
        return cdr_diag_set(dg, CDR_EIO, ri->ri_name, 0, 0, "cannot map: %s", strerror(e));
    }
    cdr_coll_sha256(p, (size_t)sb.st_size, ri->ri_sha);
    if (sb.st_size > 0)
        munmap((void *)p, (size_t)sb.st_size);
    close(fd);
    return 0;
}

/* Fill ri_seen* from the store (a store never written by `rate` has no such database). */
static int inputs_lookup(cdr_store *st, rate_input *ris, int n, cdr_diag *dg)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_txn_begin(st->st_env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return cdr_store_err(rc, "begin read", dg);
    rc = mdb_dbi_open(txn, CDR_DB_RATED_INPUTS, 0, &dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return 0;
    }
    for (int i = 0; i < n && !rc; i++) {
        MDB_val k = {CDR_SHA256_LEN, ris[i].ri_sha}, v;
        int g = mdb_get(txn, dbi, &k, &v);
        if (g == MDB_NOTFOUND)
            continue;
        if (g || v.mv_size < RI_FIXED) {
            rc = g ? cdr_store_err(g, "read rated inputs", dg)
                   : cdr_diag_set(dg, CDR_STORE, NULL, 0, 0, "rated inputs: bad entry");
            break;
        }
        const uint8_t *b = v.mv_data;
        rate_input *ri = &ris[i];
        ri->ri_seen = 1;
        ri->ri_seen_first = cdr_get_be(b, 8);
        ri->ri_seen_times = (uint32_t)cdr_get_be(b + 16, 4);
        ri->ri_seen_records = cdr_get_be(b + 20, 8);
        size_t nl = v.mv_size - RI_FIXED;
        if (nl >= sizeof ri->ri_seen_name)
            nl = sizeof ri->ri_seen_name - 1;
        memcpy(ri->ri_seen_name, b + RI_FIXED, nl);
        ri->ri_seen_name[nl] = '\0';
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_txn_abort(txn);
    return rc;
}

/* Remember the inputs of this run in txn (the transaction that saves the counters). */
static int inputs_record(MDB_txn *txn, const rate_input *ris, int n, cdr_diag *dg)
{
    MDB_dbi dbi;
    int rc = cdr_store_dbi(txn, CDR_DB_RATED_INPUTS, MDB_CREATE, &dbi, dg);
    uint64_t now = (uint64_t)time(NULL);
    for (int i = 0; i < n && !rc; i++) {
        const rate_input *ri = &ris[i];
        uint8_t b[RI_FIXED + 256];
        size_t nl = strlen(ri->ri_name);
        if (nl > 256)
            nl = 256;
        cdr_put_be(b, ri->ri_seen ? ri->ri_seen_first : now, 8);
        cdr_put_be(b + 8, now, 8);
        cdr_put_be(b + 16, ri->ri_seen ? ri->ri_seen_times + 1u : 1u, 4);
        cdr_put_be(b + 20, ri->ri_records, 8);
        memcpy(b + RI_FIXED, ri->ri_name, nl);
        MDB_val k = {CDR_SHA256_LEN, (void *)ri->ri_sha}, v = {RI_FIXED + nl, b};
        if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
            rc = cdr_store_err(rc, "write rated inputs", dg);
    }
    return rc;
}

/* Counters, the live state and the inputs' hashes in one transaction: all or nothing. */
typedef struct save_arg {
    const rate_input *sa_inputs;
    int sa_n;
    cdr_live_acc *sa_live;
} save_arg;

static int save_inputs(MDB_txn *txn, void *arg, cdr_diag *dg)
{
    const save_arg *sa = arg;
    int rc = cdr_live_acc_write(sa->sa_live, txn, dg);
    return rc ? rc : inputs_record(txn, sa->sa_inputs, sa->sa_n, dg);
}

/* Add a batch's rated records to the live state (the subscribers as the rater found them). */
static int live_add(cdr_live_acc *live, const cdr_rater *rt, const cdr_subtab *subs,
                    const int32_t *subix, const cdr_record *recs, const cdr_rated *rated, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rated[i].rr_reason || subix[i] < 0)
            continue;
        int rc = cdr_live_acc_add(live, cdr_subtab_at(subs, (size_t)subix[i]), &recs[i], &rated[i],
                                  cdr_rater_batch_plan(rt, i));
        if (rc)
            return rc;
    }
    return 0;
}

/* "12.5" -> 1250 (hundredths of a percent, 0..10000); -1 when malformed. */
static int parse_pct(const char *s)
{
    long whole = 0, frac = 0;
    int nd = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9' && whole <= 100; p++)
        whole = whole * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 2)
                frac = frac * 10 + (*p - '0');
    if (nd == 1)
        frac *= 10;
    if (*p == '%')
        p++;
    if (*p || whole > 100 || whole * 100 + frac > 10000)
        return -1;
    return (int)(whole * 100 + frac);
}

int cmd_rate(int argc, char **argv)
{
    const char *store = NULL, *outpath = NULL, *maxun = NULL, *alertpath = NULL;
    cli_list ins = {0};
    int format = 0, quiet = 0, again = 0, dry = 0, json = 0;
    uint64_t threads = 2;
    static const char *const formats[] = {"csv", "json", NULL};
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "DIR", "LMDB store with compiled plans and a directory"},
        {"in", CLI_LIST, &ins, "FILE", "input CDR file, wire or CSV; - for stdin (repeatable)"},
        {"out", CLI_STRING, &outpath, "FILE", "rated records (docs/rated-format.md); - for stdout"},
        {"format", CLI_CHOICE, &format, "F", "output format, default csv", 0, 0, formats},
        {"alerts", CLI_STRING, &alertpath, "FILE",
         "credit and bundle alerts raised, JSON lines (docs/credit-control.md)"},
        {"threads", CLI_COUNT, &threads, "N", "rating threads, default 2", 1, 64},
        {"again", CLI_FLAG, &again, NULL, "rate content already rated into STORE once more"},
        {"dry-run", CLI_FLAG, &dry, NULL, "rate against a copy of the counters; STORE untouched"},
        {"max-unratable", CLI_STRING, &maxun, "PCT",
         "fail (exit 5, nothing saved) above PCT% unratable"},
        {"json", CLI_FLAG, &json, NULL, "the summary as one JSON object (alias --stats)"},
        {"stats", CLI_FLAG, &json, NULL, "the same as --json"},
        {"quiet", CLI_FLAG, &quiet, NULL, "no summary, no progress"},
        {0},
    };
    const cli_spec cs = {
        "rate",
        "--store STORE --in FILE [--in FILE...] --out FILE [--format F] [--threads N]\n"
        "--store STORE --in FILE... [--out FILE] --dry-run",
        "Rate CDR files against the plans and the directory in STORE. Bundle counters are\n"
        "kept per cycle in the store, so consecutive runs consume bundles in order. The\n"
        "store remembers the content (SHA-256) of every input it rated: the same content\n"
        "again is refused (exit 4) unless --again is given, so that no bundle is spent\n"
        "twice by accident. --dry-run rates against a copy of the counters and changes\n"
        "nothing in STORE. Malformed records are rejected with file:line:column on stderr\n"
        "and counted (exit 3); unratable records are written with their reason. When no\n"
        "record could be rated, or more than --max-unratable percent were unratable, the\n"
        "run exits 5 and saves nothing (the output is still written, to inspect).",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    if (!store || (!outpath && !dry) || ins.li_n == 0 || pos != argc) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--store, --in and --out are required");
    }
    int maxun_bp = -1; /* hundredths of a percent; -1: only "nothing rated" fails */
    if (maxun && (maxun_bp = parse_pct(maxun)) < 0) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--max-unratable must be a percentage from 0 to 100, not '%s'",
                               maxun);
    }
    int nstdin = 0;
    for (int f = 0; f < ins.li_n; f++)
        nstdin += !strcmp(ins.li_items[f], "-");
    if (nstdin > 1) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--in - (standard input) can be given only once");
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    cdr_rater *rt = NULL;
    FILE *out = NULL, *alf = NULL;
    uint64_t nalerts = 0;
    cdr_record *recs = NULL;
    cdr_rated *rated = NULL;
    int32_t *subix = NULL;
    cdr_live_acc *live = NULL;
    rate_input *ris = calloc((size_t)ins.li_n, sizeof *ris);
    int status = CLI_EXIT_FAIL;
    if (!ris) {
        cli_error("rate", CDR_ENOMEM, "out of memory");
        goto done;
    }
    if ((status = cli_store_open("rate", store, dry ? CLI_STORE_READ : CLI_STORE_WRITE, &st)) !=
        CLI_EXIT_OK)
        goto done;
    status = CLI_EXIT_FAIL;
    if (cdr_plan_set_load(st, &ps, &dg) || cdr_dir_rating_view(st, &subs, &dg)) {
        cli_report("rate", &dg);
        if (dg.dg_code == CDR_NOTFOUND) /* no plans or no directory in the store */
            status = CLI_EXIT_REFUSED;
        goto done;
    }
    /* every input's content, before anything is rated */
    uint64_t total_bytes = 0;
    for (int f = 0; f < ins.li_n; f++) {
        rate_input *ri = &ris[f];
        ri->ri_name = ins.li_items[f];
        int rc = strcmp(ri->ri_name, "-")
                     ? (snprintf(ri->ri_path, sizeof ri->ri_path, "%s", ri->ri_name), 0)
                     : stdin_copy(ri->ri_path, sizeof ri->ri_path, &dg);
        if (rc || (rc = input_hash(ri, &dg)) != 0) {
            cli_report("rate", &dg);
            goto done;
        }
        total_bytes += ri->ri_size;
        for (int g = 0; g < f; g++)
            if (!memcmp(ris[g].ri_sha, ri->ri_sha, CDR_SHA256_LEN)) {
                cli_error("rate", CDR_EXISTS,
                          "%s: the same content as %s, given twice (nothing rated)", ri->ri_name,
                          ris[g].ri_name);
                status = CLI_EXIT_REFUSED;
                goto done;
            }
    }
    if (inputs_lookup(st, ris, ins.li_n, &dg)) {
        cli_report("rate", &dg);
        goto done;
    }
    int refused = 0;
    for (int f = 0; f < ins.li_n; f++) {
        const rate_input *ri = &ris[f];
        if (!ri->ri_seen || again)
            continue;
        char when[32];
        time_t t = (time_t)ri->ri_seen_first;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        if (dry) {
            if (!quiet)
                fprintf(stderr,
                        "cdrate rate: note: %s was rated into %s before (%s, as %s); this dry "
                        "run spends the bundles again\n",
                        ri->ri_name, store, when, ri->ri_seen_name);
            continue;
        }
        cdr_diag_set(&dg, CDR_EXISTS, ri->ri_name, 0, 0,
                     "this content was already rated into %s (%s, as %s, %" PRIu64
                     " records, %u time%s); rating it again would spend the bundles again: "
                     "give --again to do so, or --dry-run to see the result without saving",
                     store, when, ri->ri_seen_name, ri->ri_seen_records, ri->ri_seen_times,
                     ri->ri_seen_times == 1 ? "" : "s");
        cli_report("rate", &dg);
        refused++;
    }
    if (refused) {
        status = CLI_EXIT_REFUSED;
        goto done;
    }
    int rc = cdr_rater_create((unsigned)threads, ps, subs, &rt);
    if (rc || (rc = cdr_rater_counters_load(rt, st, &dg)) != 0) {
        if (!dg.dg_msg[0])
            cdr_diag_set(&dg, rc, NULL, 0, 0, "cannot create the rater");
        cli_report("rate", &dg);
        goto done;
    }
    /* a record of a closed cycle is rated into the next open one, flagged late */
    uint32_t *closed = NULL;
    size_t nclosed = 0;
    if ((rc = cdr_cycle_closed_list(st, &closed, &nclosed, &dg)) != 0 ||
        (rc = cdr_rater_set_closed(rt, closed, nclosed)) != 0) {
        free(closed);
        if (!dg.dg_msg[0])
            cdr_diag_set(&dg, rc, NULL, 0, 0, "cannot set the closed cycles");
        cli_report("rate", &dg);
        goto done;
    }
    free(closed);
    cdr_credit_config ccfg;
    cdr_credit_config_default(&ccfg);
    cdr_rater_set_credit(rt, &ccfg);
    int fraud_failed;
    struct cdr_fraud_rules *fraud = cli_fraud_rules("rate", st, &fraud_failed);
    rc = fraud_failed ? CDR_FORMAT : cdr_rater_set_fraud(rt, fraud);
    free(fraud);
    if (rc) {
        if (!fraud_failed)
            cli_error("rate", rc, "out of memory");
        goto done;
    }
    if (outpath && !(out = cli_fopen_out(outpath))) {
        cli_error("rate", CDR_EIO, "cannot create %s: %s", outpath, strerror(errno));
        goto done;
    }
    if (alertpath && !(alf = cli_fopen_out(alertpath))) {
        cli_error("rate", CDR_EIO, "cannot create %s: %s", alertpath, strerror(errno));
        goto done;
    }
    recs = malloc(RATE_BATCH * sizeof *recs);
    rated = malloc(RATE_BATCH * sizeof *rated);
    subix = malloc(RATE_BATCH * sizeof *subix);
    if (!recs || !rated || !subix || cdr_live_acc_create(&live) != 0) {
        cli_error("rate", CDR_ENOMEM, "out of memory");
        goto done;
    }
    if (out) {
        setvbuf(out, NULL, _IOFBF, 1 << 20);
        if (!format)
            fprintf(out, "%s\n", cdr_rated_csv_header);
    }
    cdr_rate_stats rs;
    memset(&rs, 0, sizeof rs);
    uint64_t rejected = 0, done_bytes = 0, t0 = cdr_bench_now_ns();
    int fatal = 0;
    cli_progress pg;
    cli_progress_start(&pg, quiet, "rating", "bytes");
    for (int f = 0; f < ins.li_n && !fatal; f++) {
        cdr_reader *rd;
        uint64_t before = rs.rs_records + rejected;
        if (cdr_reader_open(ris[f].ri_path, &rd, &dg)) {
            cli_report("rate", &dg);
            fatal = 1;
            break;
        }
        for (int eof = 0; !eof && !fatal;) {
            size_t n = 0;
            while (n < RATE_BATCH) {
                int r = cdr_reader_next(rd, &recs[n], &dg);
                if (r == 0) {
                    eof = 1;
                    break;
                }
                if (r == 1) {
                    n++;
                    continue;
                }
                if (nstdin && !strcmp(ris[f].ri_name, "-"))
                    snprintf(dg.dg_file, sizeof dg.dg_file, "-");
                cli_report("rate", &dg);
                if (r == CDR_EIO) {
                    fatal = 1;
                    break;
                }
                rejected++;
            }
            if (n == 0)
                continue;
            cdr_subtab_find_records(subs, recs, n, subix);
            if ((rc = cdr_rater_rate_resolved(rt, recs, subix, n, rated, &rs)) != 0) {
                cli_error("rate", rc, "%s", cdr_strerror(rc));
                fatal = 1;
                break;
            }
            if ((rc = live_add(live, rt, subs, subix, recs, rated, n)) != 0) {
                if (rc == CDR_LIMIT)
                    cli_error("rate", rc,
                              "a line or account was charged in more than %d currencies, or a "
                              "line drew on more than %d bundles, in one cycle: nothing saved",
                              CDR_LIVE_MAX_CURRENCIES, CDR_PLAN_MAX_BUNDLES);
                else
                    cli_error("rate", rc, "%s", cdr_strerror(rc));
                fatal = 1;
                break;
            }
            size_t na;
            const cdr_alert *als = cdr_rater_alerts(rt, &na);
            nalerts += na;
            for (size_t a = 0; alf && a < na; a++) {
                char line[1024];
                int len = cdr_alert_format_json(&als[a], line, sizeof line);
                if (len > 0)
                    fwrite(line, 1, (size_t)len, alf);
            }
            for (size_t i = 0; out && i < n; i++) {
                char line[2048];
                const cdr_plan *pl = rated[i].rr_reason ? NULL : cdr_rater_batch_plan(rt, i);
                int len = format ? cdr_rated_format_json(&recs[i], &rated[i], pl, line, sizeof line)
                                 : cdr_rated_format_csv(&recs[i], &rated[i], pl, line, sizeof line);
                if (len > 0)
                    fwrite(line, 1, (size_t)len, out);
            }
            cli_progress_update(&pg, done_bytes + cdr_reader_bytes(rd), total_bytes);
        }
        done_bytes += ris[f].ri_size;
        ris[f].ri_records = rs.rs_records + rejected - before;
        cdr_reader_close(rd);
    }
    cli_progress_end(&pg);
    if (out && cli_fclose(out) != 0) {
        out = NULL;
        cli_error("rate", CDR_EIO, "write error on %s: %s", outpath, strerror(errno));
        goto done;
    }
    out = NULL;
    if (alf && cli_fclose(alf) != 0) {
        alf = NULL;
        cli_error("rate", CDR_EIO, "write error on %s: %s", alertpath, strerror(errno));
        goto done;
    }
    alf = NULL;
    if (fatal)
        goto done; /* counters of a failed run are not saved */
    uint64_t unratable = rs.rs_records - rs.rs_rated;
    int unrated = 0;
    if (rs.rs_records > 0 && rs.rs_rated == 0)
        unrated = 1;
    else if (maxun_bp >= 0 && unratable * 10000 > (uint64_t)maxun_bp * rs.rs_records)
        unrated = 1;
    save_arg sa = {ris, ins.li_n, live};
    if (!dry && !unrated && cdr_rater_counters_save_with(rt, st, save_inputs, &sa, &dg)) {
        cli_report("rate", &dg);
        goto done;
    }
    double secs = (double)(cdr_bench_now_ns() - t0) / 1e9;
    if (json)
        summary_json(outpath && !strcmp(outpath, "-") ? stderr : stdout, &rs, rejected, secs, dry,
                     unrated, nalerts);
    else if (!quiet)
        summary(stderr, &rs, rejected, secs);
    if (unrated) {
        if (rs.rs_rated == 0)
            cli_error("rate", CDR_LIMIT,
                      "no record could be rated (%" PRIu64 " unratable): nothing saved; the "
                      "reasons are in the summary and the output; fix the plans or the "
                      "directory and run again",
                      unratable);
        else
            cli_error("rate", CDR_LIMIT,
                      "%" PRIu64 " of %" PRIu64 " records unratable, above --max-unratable %s%%: "
                      "nothing saved",
                      unratable, rs.rs_records, maxun);
        status = CLI_EXIT_UNRATED;
    } else {
        status = rejected ? CLI_EXIT_REJECTS : CLI_EXIT_OK;
    }
    if (dry && !quiet && !json)
        fprintf(stderr, "dry run: nothing saved in %s\n", store);
done:
    if (out)
        cli_fclose(out);
    if (alf)
        cli_fclose(alf);
    for (int f = 0; ris && f < ins.li_n; f++)
        if (ris[f].ri_name && !strcmp(ris[f].ri_name, "-") && ris[f].ri_path[0])
            unlink(ris[f].ri_path);
    free(ris);
    free(recs);
    free(rated);
    free(subix);
    cdr_live_acc_free(live);
    cdr_rater_destroy(rt);
    cdr_subtab_free(subs);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cli_spec_free(&cs);
    return status;
}
