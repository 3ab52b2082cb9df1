/* cmd_rate_stream.c - `cdrate rate-stream`: streaming rating on Kafka, exactly once
 * (cdr_stream.h, docs/streaming.md).
 *
 * Besides the stream itself: the hot reload callback (a store write is noticed by LMDB's last
 * transaction id; then plans and directory are loaded again and the stream keeps what changed),
 * the metrics as JSON lines on stdout (--stats, --stats-interval) and a Prometheus text endpoint
 * (--metrics-listen), served by a small thread from the last snapshot the stream handed over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cdr_dir.h"
#include "cdr_rate.h"
#include "cdr_stream.h"
#include "cli.h"

/* ---- hot reload ------------------------------------------------------------------------------ */

typedef struct reloader {
    cdr_store *rl_st;
    uint64_t rl_txnid; /* LMDB's last committed transaction when plans and directory were read */
    uint64_t rl_closed_txnid; /* the same, when the closed cycles were read */
} reloader;

static uint64_t store_txnid(const cdr_store *st)
{
    MDB_envinfo ei;
    return mdb_env_info(st->st_env, &ei) == 0 ? (uint64_t)ei.me_last_txnid : 0;
}

/* cdr_stream_reload_fn: nothing while no write transaction was committed to the store since the
 * last load; else the plans and the directory's rating view, read again (the stream keeps only
 * what differs). A failed load is tried again after the next write to the store. */
static int reload_store(void *arg, cdr_plan_set **ps, cdr_subtab **tab, cdr_diag *dg)
{
    reloader *rl = arg;
    const uint64_t txnid = store_txnid(rl->rl_st);
    if (txnid == rl->rl_txnid)
        return 0;
    rl->rl_txnid = txnid; /* read before loading: a write meanwhile is seen next time */
    int rc = cdr_plan_set_load(rl->rl_st, ps, dg);
    if (!rc && (rc = cdr_dir_rating_view(rl->rl_st, tab, dg)) != 0) {
        cdr_plan_set_release(*ps);
        *ps = NULL;
    }
    return rc;
}

/* cdr_stream_closed_fn: the closed billing cycles, read again after any write to the store (a
 * `cdrate cycle close` or `bill --close`); the stream applies them only when they differ. */
static int reload_closed(void *arg, uint32_t **cycles, size_t *n, cdr_diag *dg)
{
    reloader *rl = arg;
    const uint64_t txnid = store_txnid(rl->rl_st);
    if (txnid == rl->rl_closed_txnid)
        return 0;
    int rc = cdr_cycle_closed_list(rl->rl_st, cycles, n, dg);
    if (rc == 0) {
        rl->rl_closed_txnid = txnid;
        if (!*cycles) /* none closed: an empty list, not "unchanged" */
            *cycles = malloc(sizeof **cycles);
        if (!*cycles)
            return cdr_diag_set(dg, CDR_ENOMEM, NULL, 0, 0, "out of memory");
    }
    return rc;
}

/* ---- metrics --------------------------------------------------------------------------------- */

typedef struct metrics {
    pthread_mutex_t mt_lock;
    pthread_cond_t mt_cond;
    int mt_quit;
    cdr_stream_stats mt_ss; /* the last snapshot of the stream */
    unsigned mt_interval_s; /* --stats-interval */
    int mt_fd;              /* --metrics-listen socket, -1 = none */
    unsigned
        mt_timeout_ms; /* --metrics-timeout: per client, to send its request, to take the answer */
} metrics;

static void on_stats(void *arg, const cdr_stream_stats *ss)
{
    metrics *mt = arg;
    pthread_mutex_lock(&mt->mt_lock);
    mt->mt_ss = *ss;
    pthread_mutex_unlock(&mt->mt_lock);
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0.0;
}

/* One JSON line of metrics. ok < 0: an interval line (with "ts", without "ok"). */
static void print_stats(FILE *f, const cdr_stream_stats *ss, int ok)
{
    char ts[40] = "";
    if (ok < 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        size_t k = strftime(ts, sizeof ts, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + k, sizeof ts - k, ".%03ldZ\",", now.tv_nsec / 1000000);
    }
    fprintf(f,
            "%s%s\"consumed\":%" PRIu64 ",\"rated\":%" PRIu64 ",\"suspense\":%" PRIu64
            ",\"rekeyed\":%" PRIu64 ",\"undecodable\":%" PRIu64 ",\"batches\":%" PRIu64
            ",\"aborts\":%" PRIu64 ",\"reloads\":%" PRIu64 ",\"counters\":%" PRIu64
            ",\"alerts\":%" PRIu64 ",\"restored\":%" PRIu64 ",\"misrouted\":%" PRIu64
            ",\"lag\":%" PRId64 ",\"partitions\":%" PRIu32
            ",\"p50_batch_ms\":%.3f,\"p99_batch_ms\":%.3f"
            ",\"seconds\":%.3f,\"busy_seconds\":%.3f,\"records_per_s\":%.0f"
            ",\"records_per_busy_s\":%.0f,\"records_per_wall_s\":%.0f",
            ts, ok < 0 ? "" : "{", ss->ss_consumed, ss->ss_rated, ss->ss_suspense, ss->ss_rekeyed,
            ss->ss_undecodable, ss->ss_batches, ss->ss_aborts, ss->ss_reloads, ss->ss_counters,
            ss->ss_alerts, ss->ss_restored, ss->ss_misrouted, ss->ss_lag, ss->ss_partitions,
            (double)ss->ss_p50_ns / 1e6, (double)ss->ss_p99_ns / 1e6, ss->ss_seconds,
            ss->ss_busy_seconds, per_s(ss->ss_consumed, ss->ss_seconds),
            per_s(ss->ss_consumed, ss->ss_busy_seconds), per_s(ss->ss_consumed, ss->ss_seconds));
    if (ok >= 0)
        fprintf(f, ",\"ok\":%s", ok ? "true" : "false");
    fputs("}\n", f);
    fflush(f);
}

static void *interval_main(void *arg)
{
    metrics *mt = arg;
    pthread_mutex_lock(&mt->mt_lock);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += mt->mt_interval_s;
        while (!mt->mt_quit &&
               pthread_cond_timedwait(&mt->mt_cond, &mt->mt_lock, &until) != ETIMEDOUT)
            ;
        if (mt->mt_quit)
            break;
        const cdr_stream_stats ss = mt->mt_ss;
        pthread_mutex_unlock(&mt->mt_lock);
        print_stats(stdout, &ss, -1);
        pthread_mutex_lock(&mt->mt_lock);
    }
    pthread_mutex_unlock(&mt->mt_lock);
    return NULL;
}

/* The Prometheus text exposition (version 0.0.4) of a snapshot into buf; returns its length. */
static size_t prometheus_text(const cdr_stream_stats *ss, char *buf, size_t bufsize)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"consumed_records_total", "counter", "Records of cdr.raw in committed batches."},
        {"rated_records_total", "counter", "Of those, written to cdr.rated."},
        {"suspense_records_total", "counter", "Of those, written to cdr.suspense."},
        {"rekeyed_records_total", "counter",
         "Of those, forwarded to cdr.raw keyed by their charging owner."},
        {"undecodable_records_total", "counter", "Suspense records that were no CDR."},
        {"batches_total", "counter", "Committed batches (transactions)."},
        {"aborts_total", "counter", "Aborted transactions (batches redone)."},
        {"reloads_total", "counter", "Applied hot reloads of plans or directory."},
        {"counter_changes_total", "counter", "Counter changes written to cdr.counters."},
        {"alerts_total", "counter", "Credit and usage alerts written to cdr.alerts."},
        {"counters_restored_total", "counter", "Counter records read back from cdr.counters."},
        {"misrouted_total", "counter", "Counter changes for a partition not assigned here."},
        {"lag_records", "gauge",
         "High watermark minus position, summed over the assigned partitions (-1: unknown)."},
        {"assigned_partitions", "gauge", "Partitions of cdr.raw assigned to this process."},
        {"busy_seconds_total", "counter", "Time with records in hand (first record to commit)."},
        {"uptime_seconds", "gauge", "Wall time since the start."},
        {"records_per_busy_second", "gauge", "consumed / busy seconds."},
        {"records_per_wall_second", "gauge", "consumed / uptime."},
    };
    const double v[] = {
        (double)ss->ss_consumed,
        (double)ss->ss_rated,
        (double)ss->ss_suspense,
        (double)ss->ss_rekeyed,
        (double)ss->ss_undecodable,
        (double)ss->ss_batches,
        (double)ss->ss_aborts,
        (double)ss->ss_reloads,
        (double)ss->ss_counters,
        (double)ss->ss_alerts,
        (double)ss->ss_restored,
        (double)ss->ss_misrouted,
        (double)ss->ss_lag,
        (double)ss->ss_partitions,
        ss->ss_busy_seconds,
        ss->ss_seconds,
        per_s(ss->ss_consumed, ss->ss_busy_seconds),
        per_s(ss->ss_consumed, ss->ss_seconds),
    };
    _Static_assert(sizeof m / sizeof m[0] == sizeof v / sizeof v[0], "one value per metric");
    size_t k = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0] && k < bufsize; i++)
        k += (size_t)snprintf(buf + k, bufsize - k,
                              "# HELP cdrate_stream_%s %s\n# TYPE cdrate_stream_%s %s\n"
                              "cdrate_stream_%s %.17g\n",
                              m[i].name, m[i].help, m[i].name, m[i].type, m[i].name, v[i]);
    if (k < bufsize)
        k += (size_t)snprintf(
            buf + k, bufsize - k,
            "# HELP cdrate_stream_batch_latency_seconds Batch latency, poll end to commit "
            "(within 1/16).\n"
            "# TYPE cdrate_stream_batch_latency_seconds summary\n"
            "cdrate_stream_batch_latency_seconds{quantile=\"0.5\"} %.9f\n"
            "cdrate_stream_batch_latency_seconds{quantile=\"0.99\"} %.9f\n"
            "cdrate_stream_batch_latency_seconds_count %" PRIu64 "\n",
            (double)ss->ss_p50_ns / 1e9, (double)ss->ss_p99_ns / 1e9, ss->ss_batches);
    return k < bufsize ? k : bufsize - 1;
}

/* The --metrics-listen server: one thread, a poll() loop over the listening socket and up to
 * HTTP_CONN_MAX clients at a time, each with its own deadline: --metrics-timeout to send its
 * request (else "408 Request Timeout" and closed), as long again to take the answer (else
 * closed). A client that connects and sends nothing, or sends slowly, holds one slot and no one
 * else; with every slot taken, new clients wait in the listen backlog until a slot frees. */
#define HTTP_CONN_MAX   32
#define HTTP_TIMEOUT_MS 5000 /* --metrics-timeout's default */
#define HTTP_REQ_MAX    2048
#define HTTP_OUT_MAX    (16384 + 256)

typedef struct http_conn {
    int hc_fd;             /* -1: free slot */
    uint64_t hc_deadline;  /* CLOCK_MONOTONIC ms */
    size_t hc_n;           /* request bytes read */
    char *hc_out;          /* the answer once the request is read (malloc), NULL while reading */
    size_t hc_len, hc_off; /* answer length, bytes sent */
    char hc_req[HTTP_REQ_MAX];
} http_conn;

static uint64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The answer to req (NUL-terminated, maybe partial) into out: GET /metrics gets the text,
 * anything else 404 or 405. Returns its length. */
static size_t http_answer(metrics *mt, const char *req, char *out, size_t outsize)
{
    char body[16384];
    const char *status = "200 OK";
    size_t blen;
    const int get = !strncmp(req, "GET ", 4), head = !strncmp(req, "HEAD ", 5);
    const char *path = req + (get ? 4 : head ? 5 : 0);
    if (!get && !head) {
        status = "405 Method Not Allowed";
        blen = (size_t)snprintf(body, sizeof body, "only GET /metrics\n");
    } else if (strncmp(path, "/metrics", 8) != 0 || (path[8] != ' ' && path[8] != '?')) {
        status = "404 Not Found";
        blen = (size_t)snprintf(body, sizeof body, "see /metrics\n");
    } else {
        pthread_mutex_lock(&mt->mt_lock);
        const cdr_stream_stats ss = mt->mt_ss;
        pthread_mutex_unlock(&mt->mt_lock);
        blen = prometheus_text(&ss, body, sizeof body);
    }
    int hlen = snprintf(out, outsize,
                        "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        status, blen);
    size_t n = hlen > 0 && (size_t)hlen < outsize ? (size_t)hlen : 0;
    if (!head && n + blen <= outsize) {
        memcpy(out + n, body, blen);
        n += blen;
    }
    return n;
}

static void http_close(http_conn *hc)
{
    close(hc->hc_fd);
    free(hc->hc_out);
    hc->hc_fd = -1;
    hc->hc_out = NULL;
}

/* Read what c has; once the headers are in (or the client closed its side, or the buffer is
 * full) the answer is ready to send. Returns -1 when the connection is to be closed. */
static int http_read(metrics *mt, http_conn *hc, uint64_t now)
{
    ssize_t r = recv(hc->hc_fd, hc->hc_req + hc->hc_n, sizeof hc->hc_req - 1 - hc->hc_n, 0);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    hc->hc_n += (size_t)r;
    hc->hc_req[hc->hc_n] = '\0';
    if (r > 0 && hc->hc_n < sizeof hc->hc_req - 1 && !strstr(hc->hc_req, "\r\n\r\n") &&
        !strstr(hc->hc_req, "\n\n"))
        return 0;
    if (r == 0 && hc->hc_n == 0)
        return -1; /* connected and closed without a word */
    if (!(hc->hc_out = malloc(HTTP_OUT_MAX)))
        return -1;
    hc->hc_len = http_answer(mt, hc->hc_req, hc->hc_out, HTTP_OUT_MAX);
    hc->hc_off = 0;
    hc->hc_deadline = now + mt->mt_timeout_ms;
    return 0;
}

/* Send what the client takes now. Returns 1 when all is sent, -1 on error, 0 to wait. */
static int http_write(http_conn *hc)
{
    while (hc->hc_off < hc->hc_len) {
        ssize_t w = send(hc->hc_fd, hc->hc_out + hc->hc_off, hc->hc_len - hc->hc_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        hc->hc_off += (size_t)w;
    }
    return 1;
}

static void *http_main(void *arg)
{
    metrics *mt = arg;
    http_conn *hcs = calloc(HTTP_CONN_MAX, sizeof *hcs);
    if (!hcs)
        return NULL;
    for (int i = 0; i < HTTP_CONN_MAX; i++)
        hcs[i].hc_fd = -1;
    struct pollfd pfd[HTTP_CONN_MAX + 1];
    int slot[HTTP_CONN_MAX + 1];
    for (;;) {
        pthread_mutex_lock(&mt->mt_lock);
        const int quit = mt->mt_quit;
        pthread_mutex_unlock(&mt->mt_lock);
        if (quit)
            break;
        uint64_t now = http_now_ms();
        int wait_ms = 200, np = 0, used = 0;
        for (int i = 0; i < HTTP_CONN_MAX; i++) {
            http_conn *hc = &hcs[i];
            if (hc->hc_fd < 0)
                continue;
            if (now >= hc->hc_deadline) { /* stalled: a 408 if it never finished its request */
                if (!hc->hc_out) {
                    static const char t[] = "HTTP/1.0 408 Request Timeout\r\nContent-Length: 0\r\n"
                                            "Connection: close\r\n\r\n";
                    (void)!send(hc->hc_fd, t, sizeof t - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                http_close(hc);
                continue;
            }
            used++;
            if (hc->hc_deadline - now < (uint64_t)wait_ms)
                wait_ms = (int)(hc->hc_deadline - now);
            pfd[np] = (struct pollfd){.fd = hc->hc_fd, .events = hc->hc_out ? POLLOUT : POLLIN};
            slot[np++] = i;
        }
        if (used < HTTP_CONN_MAX) {
            pfd[np] = (struct pollfd){.fd = mt->mt_fd, .events = POLLIN};
            slot[np++] = -1;
        }
        if (poll(pfd, (nfds_t)np, wait_ms) <= 0)
            continue;
        now = http_now_ms();
        for (int k = 0; k < np; k++) {
            if (!pfd[k].revents)
                continue;
            if (slot[k] < 0) { /* accept as many as there are free slots */
                for (int i = 0; i < HTTP_CONN_MAX; i++) {
                    if (hcs[i].hc_fd >= 0)
                        continue;
                    int c = accept(mt->mt_fd, NULL, NULL);
                    if (c < 0)
                        break;
                    if (fcntl(c, F_SETFL, O_NONBLOCK) != 0 || fcntl(c, F_SETFD, FD_CLOEXEC) != 0) {
                        close(c);
                        continue;
                    }
                    hcs[i] = (http_conn){.hc_fd = c, .hc_deadline = now + mt->mt_timeout_ms};
                }
                continue;
            }
            http_conn *hc = &hcs[slot[k]];
            int rc = hc->hc_out ? 0 : http_read(mt, hc, now);
            if (rc == 0 && hc->hc_out)
                rc = http_write(hc);
            if (rc != 0)
                http_close(hc);
        }
    }
    for (int i = 0; i < HTTP_CONN_MAX; i++)
        if (hcs[i].hc_fd >= 0)
            http_close(&hcs[i]);
    free(hcs);
    return NULL;
}

/* Open the --metrics-listen socket: "PORT", ":PORT", "localhost:PORT", "A.B.C.D:PORT" or
 * "[V6]:PORT". The host must be a numeric address or localhost, and the loopback is the default:
 * only an address written out binds elsewhere. bound receives "host:port" (the port the kernel
 * chose for port 0). Returns the socket or -1 with the reason in err. */
static int metrics_listen(const char *spec, char *bound, size_t boundsize, int *loopback, char *err,
                          size_t errsize)
{
    char host[128] = "127.0.0.1";
    const char *port = spec;
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host) {
            snprintf(err, errsize, "--metrics-listen %s: expected [ADDRESS]:PORT", spec);
            return -1;
        }
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else if (colon) {
        if ((size_t)(colon - spec) >= sizeof host) {
            snprintf(err, errsize, "--metrics-listen %s: address too long", spec);
            return -1;
        }
        if (colon > spec) {
            memcpy(host, spec, (size_t)(colon - spec));
            host[colon - spec] = '\0';
        }
        port = colon + 1;
    }
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    uint64_t pn;
    if (cli_parse_count(port, &pn) != 0 || pn > 65535 || !*port || strchr(port, 'k') ||
        strchr(port, 'M')) {
        snprintf(err, errsize, "--metrics-listen %s: bad port", spec);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%u", (unsigned)pn);
    int e = getaddrinfo(host, portbuf, &hints, &ai);
    if (e || !ai) {
        snprintf(err, errsize,
                 "--metrics-listen %s: %s is not a numeric address (give one, or localhost)", spec,
                 host);
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    if (ai->ai_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        *loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
        *loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) { /* http_main accepts until EAGAIN */
        snprintf(err, errsize, "--metrics-listen %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char numhost[64] = "?", numport[8] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, numhost, sizeof numhost, numport, sizeof numport,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(bound, boundsize, strchr(numhost, ':') ? "[%s]:%s" : "%s:%s", numhost, numport);
    return fd;
}

/* ---- the command ----------------------------------------------------------------------------- */

int cmd_rate_stream(int argc, char **argv)
{
    const char *brokers = NULL, *group = NULL, *store = NULL, *prefix = NULL, *tid = NULL;
    const char *listen_on = NULL;
    uint64_t threads = 1, batch = CDR_STREAM_BATCH_DEFAULT, wait_ms = CDR_STREAM_WAIT_DEFAULT;
    uint64_t reload_ms = CDR_STREAM_RELOAD_DEFAULT, idle_ms = 0, interval_s = 0;
    uint64_t http_timeout_ms = HTTP_TIMEOUT_MS;
    uint64_t grace_h = CDR_CREDIT_GRACE_DEFAULT / 3600;
    int stats = 0, quiet = 0, no_alerts = 0;
    cli_opt opts[] = {
        {"brokers", CLI_STRING, &brokers, "LIST", "Kafka bootstrap servers (host:port,...)"},
        {"group", CLI_STRING, &group, "G", "consumer group id"},
        {"store", CLI_STRING, &store, "DIR", "LMDB store with compiled plans and a directory"},
        {"threads", CLI_COUNT, &threads, "N", "rating threads, default 1", 1, 64},
        {"batch", CLI_COUNT, &batch, "N", "most records per transaction, default 50000", 1,
         CDR_STREAM_BATCH_MAX},
        {"batch-wait", CLI_COUNT, &wait_ms, "MS", "longest wait to fill a batch, default 200", 1,
         60000},
        {"topic-prefix", CLI_STRING, &prefix, "P", "prefix of the topic names (default none)"},
        {"transactional-id", CLI_STRING, &tid, "ID",
         "producer transactional id, one per process (default G.rate-stream)"},
        {"reload-interval", CLI_COUNT, &reload_ms, "MS",
         "look for new plans, a new directory or closed cycles in the store every MS ms, default "
         "1000; 0 = never",
         0, 3600000},
        {"idle-exit", CLI_COUNT, &idle_ms, "MS",
         "exit 0 once every assigned partition is read to its end and nothing came for MS ms", 0,
         86400000},
        {"json", CLI_FLAG, &stats, NULL, "print one JSON line of metrics on stdout at exit"},
        {"stats", CLI_FLAG, &stats, NULL, "the same as --json"},
        {"stats-interval", CLI_COUNT, &interval_s, "S",
         "print a JSON line of metrics on stdout every S seconds", 0, 86400},
        {"metrics-listen", CLI_STRING, &listen_on, "ADDR",
         "serve Prometheus metrics at http://ADDR/metrics (PORT or HOST:PORT; loopback unless "
         "an address is given)"},
        {"metrics-timeout", CLI_COUNT, &http_timeout_ms, "MS",
         "a metrics client has MS ms to send its request and as long to take the answer, else it "
         "is dropped; default 5000 (clients are served at the same time, up to 32)",
         1, 600000},
        {"grace", CLI_COUNT, &grace_h, "HOURS",
         "from warned to suspended at 100% of the credit limit, default 72", 0, 8760},
        {"no-alerts", CLI_FLAG, &no_alerts, NULL,
         "no credit control: no credit state, no alerts to cdr.alerts (benchmarks)"},
        {"quiet", CLI_FLAG, &quiet, NULL, "only warnings and errors on stderr"},
        {0},
    };
    const cli_spec cs = {
        "rate-stream",
        "--brokers LIST --group G --store DIR [--threads N] [--batch N] [--stats]\n"
        "       [--stats-interval S] [--metrics-listen ADDR] [--metrics-timeout MS] "
        "[--idle-exit MS] [--reload-interval MS]",
        "Rate the records of cdr.raw as a member of consumer group G, exactly once: per batch\n"
        "one Kafka transaction carries the rated records (cdr.rated), the unratable ones\n"
        "(cdr.suspense), records whose charging owner belongs to another partition (back to\n"
        "cdr.raw, keyed by the owner), the changed bundle counters (compacted cdr.counters) and\n"
        "the consumer offsets. Counters are restored from cdr.counters when partitions are\n"
        "assigned. Plans compiled and directories loaded into the store while it runs are used\n"
        "from the next batch on. Logs are logfmt lines on stderr.\n"
        "SIGTERM or SIGINT: finish the batch, commit, leave the group, exit 0.\n"
        "See docs/streaming.md.",
        opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0) {
        cli_spec_free(&cs);
        return pos == CLI_HELP ? 0 : 2;
    }
    if (!brokers || !group || !store || pos != argc) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "--brokers, --group and --store are required");
    }
    metrics mt = {.mt_interval_s = (unsigned)interval_s,
                  .mt_fd = -1,
                  .mt_timeout_ms = (unsigned)http_timeout_ms};
    mt.mt_ss.ss_lag = -1;
    char bound[96] = "", lerr[256];
    int loopback = 1;
    if (listen_on && (mt.mt_fd = metrics_listen(listen_on, bound, sizeof bound, &loopback, lerr,
                                                sizeof lerr)) < 0) {
        cli_spec_free(&cs);
        return cli_usage_error(&cs, "%s", lerr);
    }
    cdr_diag dg;
    cdr_diag_clear(&dg);
    cdr_store *st = NULL;
    cdr_plan_set *ps = NULL;
    cdr_subtab *subs = NULL;
    struct cdr_fraud_rules *fraud = NULL;
    reloader rl = {0};
    uint32_t *closed = NULL;
    size_t nclosed = 0;
    int status = 1;
    pthread_t interval_th, http_th;
    int interval_on = 0, http_on = 0;
    pthread_mutex_init(&mt.mt_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mt.mt_cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((status = cli_store_open("rate-stream", store, CLI_STORE_READ, &st)) != CLI_EXIT_OK)
        goto done;
    status = CLI_EXIT_FAIL;
    rl.rl_st = st;
    rl.rl_txnid = store_txnid(st); /* before the loads: a write meanwhile is seen as a change */
    rl.rl_closed_txnid = rl.rl_txnid;
    if (cdr_plan_set_load(st, &ps, &dg) || cdr_dir_rating_view(st, &subs, &dg) ||
        cdr_cycle_closed_list(st, &closed, &nclosed, &dg)) {
        cli_report("rate-stream", &dg);
        goto done;
    }
    int fraud_failed;
    if (!no_alerts && !(fraud = cli_fraud_rules("rate-stream", st, &fraud_failed)) && fraud_failed)
        goto done;
    cli_stop_on_signals();
    cdr_credit_config credit;
    cdr_credit_config_default(&credit);
    credit.cc_on = !no_alerts;
    credit.cc_grace = (int64_t)grace_h * 3600;
    const cdr_stream_config sc = {.sc_brokers = brokers,
                                  .sc_group = group,
                                  .sc_topic_prefix = prefix,
                                  .sc_transactional_id = tid,
                                  .sc_threads = (unsigned)threads,
                                  .sc_batch = (size_t)batch,
                                  .sc_batch_wait_ms = (int)wait_ms,
                                  .sc_quiet = quiet,
                                  .sc_stop = &cli_stop,
                                  .sc_idle_exit_ms = (int)idle_ms,
                                  .sc_reload = reload_ms ? reload_store : NULL,
                                  .sc_reload_arg = &rl,
                                  .sc_reload_ms = (int)reload_ms,
                                  .sc_closed = closed,
                                  .sc_nclosed = nclosed,
                                  .sc_reload_closed = reload_ms ? reload_closed : NULL,
                                  .sc_credit = &credit,
                                  .sc_fraud = fraud,
                                  .sc_on_stats = on_stats,
                                  .sc_stats_arg = &mt};
    if (mt.mt_fd >= 0) {
        cdr_stream_log(&sc, loopback ? CDR_STREAM_INFO : CDR_STREAM_WARN,
                       "metrics endpoint listening", "addr=%s path=/metrics loopback=%s", bound,
                       loopback ? "true" : "false");
        http_on = pthread_create(&http_th, NULL, http_main, &mt) == 0;
    }
    if (interval_s)
        interval_on = pthread_create(&interval_th, NULL, interval_main, &mt) == 0;
    cdr_stream_stats ss;
    int rc = cdr_stream_run(&sc, ps, subs, &ss, &dg); /* errors are logged there */
    pthread_mutex_lock(&mt.mt_lock);
    mt.mt_quit = 1;
    pthread_cond_broadcast(&mt.mt_cond);
    pthread_mutex_unlock(&mt.mt_lock);
    if (interval_on)
        pthread_join(interval_th, NULL);
    if (http_on)
        pthread_join(http_th, NULL);
    if (stats)
        print_stats(stdout, &ss, !rc);
    status = rc ? 1 : 0;
done:
    if (mt.mt_fd >= 0)
        close(mt.mt_fd);
    pthread_cond_destroy(&mt.mt_cond);
    pthread_mutex_destroy(&mt.mt_lock);
    cdr_subtab_free(subs);
    free(fraud);
    free(closed);
    cdr_plan_set_release(ps);
    cdr_store_close(st);
    cli_spec_free(&cs);
    return status;
}
