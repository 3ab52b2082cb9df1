/* cmd_serve.c - `cdrate serve`: the web portal and the JSON API (cdr_portal.h, docs/portal.md). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cdr_portal.h"
#include "cdr_store.h"
#include "cli.h"

static const char about[] =
    "Serve the self-service portal (pages for people, zh-CN and en) and the JSON API under\n"
    "/api/v1 (docs/portal.md, docs/openapi.yaml) until SIGTERM or SIGINT. Users and API keys\n"
    "are kept in STORE (cdrate users); who may see what is decided on every request from the\n"
    "session or API key and the directory. The live state comes from --redis when given, else\n"
    "from STORE; invoices, payments and statements from --bills (the bill run's output) and\n"
    "--ledger. Every statement access and every change is appended to the audit log\n"
    "(--audit, default STORE/audit.log). Prints \"listening on ADDRESS:PORT\" on stdout once it\n"
    "listens (port 0 picks a free port). Bind to 127.0.0.1 behind a reverse proxy\n"
    "(docs/portal.md, \"Deployment\"); --tls-cert/--tls-key serve HTTPS directly.\n"
    "Exit status: 0 stopped by a signal, 1 cannot listen or read the store, Redis or the audit\n"
    "log, 2 bad command line, 4 no store at STORE.";

static void ready(void *arg, unsigned port)
{
    const char *listen = arg;
    const char *colon = strrchr(listen, ':');
    if (cli_json)
        printf("{\"listening\":\"%.*s:%u\"}\n", (int)(colon - listen), listen, port);
    else
        printf("listening on %.*s:%u\n", (int)(colon - listen), listen, port);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    const char *store = NULL, *redis = NULL, *bills = NULL, *ledger = NULL, *cert = NULL,
               *key = NULL, *audit = NULL, *listen = "127.0.0.1:8080", *proxy = NULL;
    int json = 0;
    uint64_t threads = 0, ttl = 8 * 3600, idle = 30 * 60, lockout = 15 * 60;
    cli_opt opts[] = {
        {"store", CLI_STRING, &store, "STORE", "the LMDB store (directory, users, state)"},
        {"listen", CLI_STRING, &listen, "ADDR:PORT", "where to listen (default 127.0.0.1:8080)"},
        {"redis", CLI_STRING, &redis, "HOST:PORT", "the live state in Redis (default: STORE)"},
        {"bills", CLI_STRING, &bills, "DIR", "the bill run's output: invoices and statements"},
        {"ledger", CLI_STRING, &ledger, "DIR", "the ledger folder (itemised statements)"},
        {"audit", CLI_STRING, &audit, "FILE", "the audit log (default STORE/audit.log)"},
        {"trusted-proxy", CLI_STRING, &proxy, "ADDR",
         "the reverse proxy's address: its X-Forwarded-For names the client"},
        {"tls-cert", CLI_STRING, &cert, "PEM", "serve HTTPS with this certificate (and --tls-key)"},
        {"tls-key", CLI_STRING, &key, "PEM", "the certificate's private key"},
        {"threads", CLI_COUNT, &threads, "N", "worker threads (default: 2 per core)", 1, 256},
        {"session-ttl", CLI_COUNT, &ttl, "SECONDS", "a session's lifetime (default 28800)", 1,
         30 * 86400},
        {"session-idle", CLI_COUNT, &idle, "SECONDS",
         "idle time that ends a session (default 1800)", 1, 30 * 86400},
        {"lockout", CLI_COUNT, &lockout, "SECONDS",
         "how long a login stays locked after 5 failures in a row (default 900)", 1, 86400},
        {"json", CLI_FLAG, &json, NULL,
         "errors as JSON on stderr; the listening line as {\"listening\":\"ADDR:PORT\"}"},
        {0},
    };
    const cli_spec cs = {"serve",
                         "--store STORE [--listen ADDR:PORT] [--redis HOST:PORT] [--bills DIR] "
                         "[--ledger DIR] [--audit FILE] [--tls-cert PEM --tls-key PEM]",
                         about, opts};
    int pos = cli_parse(&cs, argc, argv);
    if (pos < 0)
        return pos == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (pos < argc)
        return cli_usage_error(&cs, "unexpected argument '%s'", argv[pos]);
    if (!store)
        return cli_usage_error(&cs, "--store is required");
    if (!!cert != !!key)
        return cli_usage_error(&cs, "--tls-cert and --tls-key go together");
    if (!strrchr(listen, ':'))
        return cli_usage_error(&cs, "--listen must be ADDRESS:PORT, not '%s'", listen);
    cdr_store *probe;
    int ec = cli_store_open("serve", store, CLI_STORE_READ, &probe);
    if (ec != CLI_EXIT_OK)
        return ec;
    cdr_store_close(probe);
    cli_stop_on_signals();
    signal(SIGPIPE, SIG_IGN);
    cdr_portal_config cfg = {
        .pc_store = store,
        .pc_redis = redis,
        .pc_bills = bills,
        .pc_ledger = ledger,
        .pc_listen = listen,
        .pc_tls_cert = cert,
        .pc_tls_key = key,
        .pc_audit = audit,
        .pc_trusted_proxy = proxy,
        .pc_threads = (unsigned)threads,
        .pc_session_ttl = (int64_t)ttl,
        .pc_session_idle = (int64_t)idle,
        .pc_lockout = (int64_t)lockout,
        .pc_stop = &cli_stop,
        .pc_ready = ready,
        .pc_ready_arg = (void *)listen,
    };
    cdr_diag dg;
    cdr_diag_clear(&dg);
    int rc = cdr_portal_serve(&cfg, &dg);
    if (rc) {
        cli_report("serve", &dg);
        return rc == CDR_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
