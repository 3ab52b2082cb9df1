/* cdr_bench.h - synthetic data (directory, plans, CDRs) and the benchmarks behind `cdrate bench`.
 *
 * Everything is deterministic for a given seed: the same config gives the same subscribers and
 * the same CDR stream, chunk after chunk, on any machine with the same libm.
 */
#ifndef CDR_BENCH_H
#define CDR_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_rate.h"

/* The sample plans of rating-rules/plans/, embedded into the binary at build time. */
typedef struct cdr_embedded_file {
    const char *ef_name;
    const char *ef_text;
    size_t ef_len;
} cdr_embedded_file;
extern const cdr_embedded_file cdr_embedded_plans[];
extern const size_t cdr_embedded_plans_count;

/* Compile the embedded plans into a plan set (no store involved). */
int cdr_bench_embedded_plan_set(cdr_plan_set **out, cdr_diag *dg);
/* Write the embedded plans as files into dir (created if missing). */
int cdr_bench_write_embedded_plans(const char *dir, cdr_diag *dg);
struct cdr_gen;
/* The benchmarks' store: g's directory (DIR/directory.dir) and the embedded plans (DIR/plans/)
 * written, compiled and loaded into a new store at path `store`; *st, its plan set *ps and the
 * rating view *subs (each to be released by the caller, also after an error). */
int cdr_bench_store_build(const char *dir, struct cdr_gen *g, const char *store, cdr_store **st,
                          cdr_plan_set **ps, cdr_subtab **subs, cdr_diag *dg);

typedef struct cdr_gen_config {
    uint64_t gc_seed;
    size_t gc_subscribers;
    int gc_year, gc_month;      /* the month the CDRs fall in (local China time) */
    unsigned gc_unknown_permil; /* CDRs from MSISDNs not in the directory, per mille (default 10) */
    size_t gc_enterprise_members; /* > 0: the first this many subscribers are the members of one
                                     enterprise (id 1), the rest as usual (bench statement) */
} cdr_gen_config;

/* Fill defaults: seed 42, 1000 subscribers, November 2026, 10 per mille unknown. */
void cdr_gen_defaults(cdr_gen_config *gc);

typedef struct cdr_gen cdr_gen;

/* Create a generator: builds the subscriber population (plans, enterprises, pools). */
int cdr_gen_create(const cdr_gen_config *gc, cdr_gen **out);
void cdr_gen_destroy(cdr_gen *g);
/* The population as a rating view (owned by the generator). */
const cdr_subtab *cdr_gen_subscribers(const cdr_gen *g);
/* Write the population as a directory file (docs/directory.md). */
int cdr_gen_write_directory(const cdr_gen *g, const char *path, cdr_diag *dg);
/* Next n CDRs of the stream. */
void cdr_gen_cdrs(cdr_gen *g, cdr_record *out, size_t n);

/* ---- CDRs in the collectors' input formats (synthetic spool files) -------------------------- */

/* A growable byte buffer. */
typedef struct cdr_buf {
    uint8_t *b_data;
    size_t b_len;
    size_t b_cap;
} cdr_buf;
/* Append n bytes; returns 0 or CDR_ENOMEM. */
int cdr_buf_put(cdr_buf *b, const void *p, size_t n);
void cdr_buf_free(cdr_buf *b);

/* Write n records as one input file of format fmt (a cdr_coll_format: 0 csv, 1 asterisk,
 * 2 freeswitch, 3 3gpp) appended to out. Element-local times are written in the record's own
 * UTC offset; numbers in the national format of the element where the format expects it
 * (docs/collectors.md). Returns 0, CDR_EINVAL for a record the format cannot carry. */
int cdr_gen_format(int fmt, const cdr_record *recs, size_t n, cdr_buf *out);
int cdr_gen_format_csv(const cdr_record *recs, size_t n, cdr_buf *out);        /* gen_csv.c */
int cdr_gen_format_asterisk(const cdr_record *recs, size_t n, cdr_buf *out);   /* gen_pbx.c */
int cdr_gen_format_freeswitch(const cdr_record *recs, size_t n, cdr_buf *out); /* gen_pbx.c */
int cdr_gen_format_3gpp(const cdr_record *recs, size_t n, cdr_buf *out);       /* gen_3gpp.c */

/* Write n CDRs of g into spool files of format fmt (as cdr_gen_format) in directory dir (which
 * must exist): per_file records a file ("cdrs-00001.csv", ".dat" for 3gpp), each written under a
 * temporary name and renamed into place when complete, as a switch delivers them. The CDRs are
 * the next ones of g that the format carries: every one for csv; for asterisk and freeswitch
 * (PBX formats) only MO voice; for 3gpp voice and data. progress (may be NULL) is called after
 * each file with the count written so far. Returns 0, CDR_ENOMEM, CDR_EINVAL, CDR_EIO (with the
 * file in dg). */
int cdr_gen_write_spool(cdr_gen *g, const char *dir, int fmt, uint64_t n, size_t per_file,
                        void (*progress)(void *arg, uint64_t done), void *arg, cdr_diag *dg);

/* A benchmark's scratch folder into dir[n]: workdir (created; it must not exist), or a new
 * temporary one $TMPDIR/cdrate-bench-NAME-XXXXXX. Returns 0 or CDR_EIO (in dg). */
int cdr_bench_workdir(const char *workdir, const char *name, char *dir, size_t n, cdr_diag *dg);
/* Remove folder dir and everything in it (what a benchmark made). */
void cdr_bench_remove_tree(const char *dir);

/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t cdr_bench_peak_rss(void);
/* Monotonic clock in nanoseconds. */
uint64_t cdr_bench_now_ns(void);

/* ---- benchmarks: each prints one JSON object (one line) to out ------------------------------ */

typedef struct cdr_bench_rate_config {
    size_t br_subscribers;
    uint64_t br_cdrs;
    unsigned br_threads;
    size_t br_batch; /* records per cdr_rater_rate call */
    uint64_t br_seed;
} cdr_bench_rate_config;

/* Generate the population and the CDRs in memory (in chunks of 1M, generation not timed), rate
 * them, and print {"bench":"rate","cdrs":..,"threads":..,"seconds":..,"cdrs_per_sec":..,
 * "ns_per_cdr":..,"rss_bytes":..,...}. progress may be NULL. */
int cdr_bench_rate(const cdr_bench_rate_config *bc, FILE *out, FILE *progress, cdr_diag *dg);

/* Generate `records` CDRs as in-memory input files of format fmt (a cdr_coll_format; files of
 * 100,000 records), then time decoding + validation + normalisation on one thread and print
 * {"bench":"collect","format":..,"records":..,"records_per_sec":..,...}. */
int cdr_bench_collect(int fmt, uint64_t records, uint64_t seed, FILE *out, cdr_diag *dg);

/* Compile a generated plan with `prefixes` destination prefixes and print
 * {"bench":"compile","prefixes":..,"seconds":..,...}. */
int cdr_bench_compile(size_t prefixes, FILE *out, cdr_diag *dg);
/* `cdrate bench bill` (bench_bill.c, docs/benchmarks.md): the bill run of a generated month. */
typedef struct cdr_bench_bill_config {
    size_t bb_subscribers; /* 0 = 100000 */
    uint64_t bb_cdrs;      /* rated into the ledger before the timing */
    uint64_t bb_seed;
    const char *bb_workdir; /* the store, ledger and bills go here (created); NULL = a temporary
                               folder */
    int bb_keep;            /* keep them (for checks of the output) */
} cdr_bench_bill_config;
int cdr_bench_bill(const cdr_bench_bill_config *bb, FILE *out, FILE *progress, cdr_diag *dg);

/* Rate bb_cdrs generated CDRs with the plans ps and the subscribers subs and append them to a
 * ledger in folder ledger (8 partitions by charging owner, as the archiver would); the cycle
 * holding most records into *cycle, the records rated into *rated (bench_bill.c). */
struct cdr_subtab;
int cdr_bench_ledger_build(const cdr_bench_bill_config *bb, cdr_gen *g, cdr_plan_set *ps,
                           const struct cdr_subtab *subs, const char *ledger, uint32_t *cycle,
                           uint64_t *rated, FILE *progress, cdr_diag *dg);

/* `cdrate bench statement` (bench_statement.c, docs/benchmarks.md): one enterprise of
 * bs_members members and about bs_lines CDRs rated into a ledger and billed (not timed), then
 * `cdrate statement export` of that cycle run as a child process of this binary (self, the path
 * of the cdrate executable) and timed: lines_per_sec (itemised lines written) and the child's
 * peak RSS. One JSON object on out. */
typedef struct cdr_bench_statement_config {
    size_t bs_members; /* 0 = 10000 */
    uint64_t bs_lines; /* CDRs generated; 0 = 5000000 */
    uint64_t bs_seed;
    const char *bs_workdir; /* NULL = a temporary folder */
    int bs_keep;
    const char *bs_self; /* the cdrate executable */
} cdr_bench_statement_config;
int cdr_bench_statement(const cdr_bench_statement_config *bs, FILE *out, FILE *progress,
                        cdr_diag *dg);

/* `cdrate bench query` (bench_query.c, docs/benchmarks.md): balance queries against the live state
 * in Redis (bq_redis "HOST:PORT") or in the store (bq_redis NULL: --embedded), and a plain GET
 * (point read) loop with the same clients and connections. One JSON object on out. The Redis run
 * writes the state of its generated accounts into that Redis (cdr:{a:ID}:... keys): give it a
 * Redis of its own. */
typedef struct cdr_bench_query_config {
    const char *bq_redis;  /* NULL = the store */
    size_t bq_subscribers; /* 0 = 100000 */
    uint64_t bq_cdrs;      /* rated into the state before the timing */
    uint64_t bq_queries;   /* 0 = 200000 */
    unsigned bq_clients;   /* threads, one connection each; 0 = 4 */
    uint64_t bq_seed;
} cdr_bench_query_config;
int cdr_bench_query(const cdr_bench_query_config *bq, FILE *out, FILE *progress, cdr_diag *dg);
/* Rate cdrs generated CDRs of g and write their live state the product's way: into Redis r (as
 * `cdrate project --redis` does), or into the store st when r is NULL (as `cdrate rate` does).
 * *cycle gets the cycle of the first rated record. */
struct cdr_redis;
int cdr_bench_live_build(uint64_t cdrs, struct cdr_gen *g, cdr_store *st, cdr_plan_set *ps,
                         const cdr_subtab *subs, struct cdr_redis *r, uint32_t *cycle,
                         cdr_diag *dg);

/* `cdrate bench serve` (bench_serve.c, docs/benchmarks.md): the portal's server in this process,
 * driven by Debian's wrk with bs_connections keep-alive connections for bs_seconds on the IVR
 * balance endpoint (an API key of scope ivr), then as long on the static /api/v1/health answer of
 * the same server. One JSON object on out: req_per_sec, p50_ms, p99_ms, static_req_per_sec, ratio.
 */
typedef struct cdr_bench_serve_config {
    const char *bs_redis;    /* the live state in this Redis, or NULL: the store */
    size_t bs_subscribers;   /* 0 = 100000 */
    uint64_t bs_cdrs;        /* rated into the state first */
    unsigned bs_connections; /* 0 = 50 */
    unsigned bs_seconds;     /* 0 = 10, per phase */
    unsigned bs_threads;     /* the server's threads; 0 = half the cores (wrk has the other half) */
    uint64_t bs_seed;
} cdr_bench_serve_config;
int cdr_bench_serve(const cdr_bench_serve_config *bs, FILE *out, FILE *progress, cdr_diag *dg);

#endif
