/* cdr_pipeline.h - the whole streaming path driven from one place: collector -> cdr.raw ->
 * rate-stream -> cdr.rated / cdr.suspense -> archiver -> ledger.
 *
 *   - cdr_pipeline_run: every stage in this process on librdkafka's embedded mock cluster
 *     (`cdrate pipeline`, `make demo`): collect spool directories (--once), rate until idle,
 *     archive until idle, print a summary that adds up.
 *   - cdr_pipeline_bench: the end-to-end benchmark (`cdrate bench e2e`): generated CDRs through
 *     the collector, a real broker (or the embedded cluster) and K rater processes (threads on
 *     the embedded cluster), timed from the collector's start until every record is rated.
 *
 * Both print one JSON object (one line) when asked: the benchmark's fields are described in
 * docs/benchmarks.md, the pipeline's in README.md ("The demo").
 */
#ifndef CDR_PIPELINE_H
#define CDR_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <signal.h>

#include "cdr_coll.h"
#include "cdr_error.h"
#include "cdr_money.h"

/* ---- the whole path in one process (`cdrate pipeline`) --------------------------------------- */

/* One spool directory to collect. */
typedef struct cdr_pipeline_input {
    int pi_format;         /* cdr_coll_format */
    const char *pi_spool;  /* spool directory: its files go to done/ at the commit (or failed/),
                              its de-duplication store is <spool>/.store (as for `cdrate
                              collect`) */
    const char *pi_source; /* collector name (--source); NULL = "<format>-<n>", n = 1, 2, ... per
                              format */
} cdr_pipeline_input;

typedef struct cdr_pipeline_config {
    const cdr_pipeline_input *pc_inputs; /* at least one */
    size_t pc_ninputs;
    const char *pc_store;    /* LMDB store with the compiled plans and the directory; the run's
                                live state is added to it at the end (cdr_live.h) */
    const char *pc_ledger;   /* ledger directory; must not exist yet or be empty */
    int pc_partitions;       /* partitions of every topic of the embedded cluster; 0 = 32 */
    unsigned pc_threads;     /* rating threads; 0 = 1 */
    int64_t pc_dedup_window; /* collectors: seconds of event time; 0 = their default (7 days) */
    int pc_idle_ms;          /* rater and archiver stop after this long without records; 0 = 1000 */
    /* Complete files only: an input file is taken once its size and mtime have not changed for
     * this many ms (as `cdrate collect --settle`); 0 = the default, 5000; CDR_PIPELINE_SETTLE_NONE
     * = at once (for files written before the run starts). */
    int pc_settle_ms;
    FILE *pc_log;   /* one line per input file and per stage; NULL = none (the rater's
                       warnings and errors then go to stderr) */
    int pc_verbose; /* the rater's and the archiver's information lines too */
    volatile sig_atomic_t *pc_stop; /* may be NULL; non-zero stops every stage (an error) */
    const char *pc_alerts; /* NULL, or a file for cdr.alerts read back, one JSON object a line */
    uint64_t pc_segment_bytes; /* the ledger's segment size; 0 = its default (64 MiB) */
} cdr_pipeline_config;

#define CDR_PIPELINE_SETTLE_NONE (-1)

#define CDR_PIPELINE_CURRENCIES 8

/* The money of one currency, as read back from cdr.rated and from the ledger's totals. Money of
 * different currencies is never added together. */
typedef struct cdr_pipeline_currency {
    char pc_currency[4];        /* ISO 4217 of the rating plan; "???" when unknown */
    uint64_t pc_records;        /* records of cdr.rated in this currency */
    cdr_money pc_charge;        /* the sum of their charges (micro-units) */
    uint64_t pc_ledger_records; /* the ledger's records in this currency */
    cdr_money pc_ledger_charge; /* the sum of their charges (micro-units) */
} cdr_pipeline_currency;

/* What went where. The run checks that it adds up (cdr_pipeline_run). */
typedef struct cdr_pipeline_summary {
    cdr_coll_stats ps_in;       /* every input record: cs_read = cs_published + cs_rejected +
                                   cs_duplicate + cs_nonbillable */
    uint64_t ps_files;          /* input files collected */
    uint64_t ps_refused;        /* input files refused: the same content was collected before */
    uint64_t ps_failed;         /* input files that could not be read */
    uint64_t ps_rated;          /* rate-stream: records to cdr.rated */
    uint64_t ps_suspense;       /* rate-stream: records to cdr.suspense (unratable, undecodable) */
    uint64_t ps_batches;        /* rate-stream: committed transactions */
    uint64_t ps_archived;       /* archiver: records appended to the ledger */
    uint64_t ps_malformed;      /* archiver: values of cdr.rated that were no rated record */
    uint64_t ps_rated_read;     /* records read back from cdr.rated */
    uint64_t ps_ledger_records; /* records in the ledger (its totals, over the cycles seen) */
    int ps_ncurrencies;         /* the charges of cdr.rated and of the ledger per currency, */
    cdr_pipeline_currency ps_currency[CDR_PIPELINE_CURRENCIES]; /* sorted by currency code */
    double ps_collect_seconds, ps_rate_seconds, ps_archive_seconds, ps_seconds;
    int ps_checked; /* the run got to the read-back and the checks (the ps_ledger_* are known) */
    size_t ps_live_lines; /* line-cycles of the live state updated in the store at the end */
    uint64_t ps_alerts;   /* rate-stream: alerts to cdr.alerts (docs/credit-control.md) */
} cdr_pipeline_summary;

/* Run every stage on librdkafka's embedded mock cluster, one after the other:
 *   1. start the cluster (3 brokers) and create the topics, each with pc_partitions partitions
 *      (cdr.collect.checkpoints: 1);
 *   2. collect each input (cdr_collect_spool, --once, holding its files: cl_hold), keying
 *      cdr.raw by the charging owner of the store's directory; files are taken once settled
 *      (pc_settle_ms);
 *   3. rate cdr.raw (cdr_stream_run) until it is idle for pc_idle_ms;
 *   4. archive cdr.rated into the ledger (cdr_archive_run) until idle;
 *   5. read cdr.rated back and the ledger's totals, and check that everything adds up: published
 *      = rated + suspense, archived = rated = records read back = the ledger's records, and in
 *      every currency the records and charges of cdr.rated = the ledger's;
 *   6. commit: the collectors move their files to done/ and store their de-duplication state
 *      (cdr_collect_commit), after a marker file in the ledger (LEDGER/.pipeline-incomplete,
 *      written before the first record) is removed.
 * Any failure before the commit rolls the collectors back (files stay in their spools, the stores
 * as before the run) and empties the ledger again (cdr_ledger_clear): a re-run starts over. A
 * ledger that holds the marker was left by a run killed before its commit: it is emptied at the
 * start. A failure inside the commit after an input was committed cannot be undone: dg names the
 * spool whose files stay there.
 * The mock keeps about 5 MB per partition (older data is dropped): a run that outgrows it fails
 * with CDR_LIMIT, naming the topic (use more partitions). sum (required) is filled as far as the
 * run got (ps_archived is 0 after the ledger was emptied). Returns 0; CDR_EINVAL (config, two
 * inputs on one spool), CDR_EXISTS (the ledger is not empty and has no marker), CDR_FORMAT (the
 * figures do not add up, which ones in dg), CDR_LIMIT, or the error of the stage that failed
 * (collector, rater, archiver, store, ledger), with the stage named in dg. */
int cdr_pipeline_run(const cdr_pipeline_config *pc, cdr_pipeline_summary *sum, cdr_diag *dg);

/* The summary as one JSON object and a newline:
 * {"read":..,"published":..,"rejected":..,"duplicate":..,"nonbillable":..,"files":..,
 *  "refused":..,"failed":..,"rated":..,"suspense":..,"batches":..,"archived":..,"malformed":..,
 *  "ledger_records":..,"charges":{"CNY":"123.450000",...},"charges_micro":{"CNY":123450000,...},
 *  "ledger_charges":{...},"ledger_charges_micro":{...},"collect_seconds":..,"rate_seconds":..,
 *  "archive_seconds":..,"seconds":..,"checked":true|false}
 * Money only per currency (cdr.rated's, then the ledger's), never added across currencies. */
void cdr_pipeline_summary_json(const cdr_pipeline_summary *ps, FILE *f);
/* The summary as aligned text lines (README.md, "The demo"). */
void cdr_pipeline_summary_text(const cdr_pipeline_summary *ps, FILE *f);

/* ---- the end-to-end benchmark ---------------------------------------------------------------- */

typedef struct cdr_pipeline_bench_config {
    const char *pb_brokers; /* "host:port,..." of a real broker, or "embedded" (required) */
    uint64_t pb_cdrs;       /* CDRs to generate (required, > 0) */
    size_t pb_subscribers;  /* population size; 0 = 100000 */
    unsigned pb_raters;     /* rate-stream processes (threads when embedded); 0 = 1 */
    unsigned pb_threads;    /* rating threads per rater; 0 = 1 */
    size_t pb_batch;   /* records per rater transaction (rate-stream --batch); 0 = its default */
    uint32_t pb_chunk; /* records per collector transaction; 0 = the collector's default */
    int pb_partitions; /* embedded: partitions of every topic; 0 = 4 (a real broker's topics
                          get the broker's default, created by the collector) */
    int pb_format;     /* collector input format (cdr_coll_format), CDR_FMT_CSV = 0 */
    uint64_t pb_seed;  /* generator seed */
    /* The cdrate executable started as `cdrate rate-stream ...` for each rater (real broker);
     * NULL = /proc/self/exe (the running cdrate). */
    const char *pb_cdrate;
    /* Scratch directory for the store, the spool files and the raters' output, created by the
     * run (it must not exist: CDR_EXISTS) and never removed; NULL = a new directory under
     * $TMPDIR (or /tmp), removed at the end of a successful run unless pb_keep. */
    const char *pb_workdir;
    int pb_keep;        /* keep the scratch directory and the run's topics */
    int pb_timeout_s;   /* give up when the raters make no progress for this long; 0 = 120 */
    long pb_broker_pid; /* > 0: report the CPU time of this process (the broker) while timed */
    /* 1: the live side on, as in production: the raters keep credit control and evaluate the
     * sample fraud rules (alerts to cdr.alerts), and on a real broker a `cdrate project` process
     * keeps the live state of cdr.rated in the store; the end of the timed part is then also
     * when the projection has applied every rated record. 0: rate-stream --no-alerts, no
     * projection. */
    int pb_live;
    FILE *pb_progress; /* stage lines ("generating", "collecting", ...); may be NULL */
    /* May be NULL; when it becomes non-zero (a signal handler) the run stops the raters and
     * returns CDR_EINVAL ("stopped"). The raters also exit by themselves after 10 minutes
     * without records, should this process die without stopping them. */
    volatile sig_atomic_t *pb_stop;
} cdr_pipeline_bench_config;

/* Run the benchmark and print {"bench":"e2e",...} (one line) to out:
 *   1. not timed: generate the population and cdrs CDRs (files of 100,000 records in the
 *      format) into a spool directory; compile the sample plans and load the directory into a
 *      store; open the collector (which creates its topics, prefixed "e2e-<pid>-<time>." on a
 *      real broker); start the raters (same group, each its own transactional id) and wait
 *      until the group is stable with every partition assigned;
 *   2. timed: the collector publishes the spool (cdr_collect_spool, --once) and the run waits
 *      until the raters have committed every record (the group's committed offsets at the end of
 *      cdr.raw; on the embedded cluster, which keeps no transactional offsets, cdr.rated and
 *      cdr.suspense holding as many records as were published);
 *   3. the raters are stopped (SIGTERM) and their --stats are summed.
 * Returns 0, or CDR_EINVAL (config), CDR_KAFKA (brokers, a rater failed, no progress within
 * pb_timeout_s: the raters' logs are named in dg), CDR_FORMAT (the counts do not add up: records
 * rated twice or lost, with the figures in dg; the JSON line is printed first), CDR_EIO,
 * CDR_ENOMEM. */
int cdr_pipeline_bench(const cdr_pipeline_bench_config *pb, FILE *out, cdr_diag *dg);

#endif
