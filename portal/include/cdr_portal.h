/* cdr_portal.h - the self-service portal and JSON API: `cdrate serve` (docs/portal.md).
 *
 * One HTTP server (libmicrohttpd, a thread pool, keep-alive; TLS through its GnuTLS support) in
 * front of the store: pages rendered on the server for people (zh-CN and en, no JavaScript needed)
 * and /api/v1 for machines, with the same access rules. Who may see what is decided on every
 * request from the session's (or API key's) identity, never from a number or id in the URL alone.
 */
#ifndef CDR_PORTAL_H
#define CDR_PORTAL_H

#include <signal.h>
#include <stdint.h>

#include "cdr_error.h"

typedef struct cdr_portal_config {
    const char *pc_store;  /* the store: directory, plans, users, sessions, requests, live state */
    const char *pc_redis;  /* HOST:PORT of the live state in Redis (cdrate project --redis), or
                              NULL: the store's live state */
    const char *pc_bills;  /* the bill run's output folder (invoices, statements), or NULL */
    const char *pc_ledger; /* the ledger folder (statements), or NULL */
    const char *pc_listen; /* "127.0.0.1:8080" (IPv4 or [IPv6]:port; port 0 = any free port) */
    const char *pc_tls_cert; /* PEM files: both or neither */
    const char *pc_tls_key;
    const char *pc_audit;         /* the audit log; NULL: STORE/audit.log */
    const char *pc_trusted_proxy; /* the reverse proxy's address: its X-Forwarded-For names the
                                     client (audit, throttling); NULL: the peer is the client */
    unsigned pc_threads;          /* worker threads; 0: one per core */
    int64_t pc_session_ttl;       /* seconds a session lives after login (default 8 hours) */
    int64_t pc_session_idle; /* seconds without a request that end a session (default 30 min) */
    int64_t pc_lockout;      /* seconds a user stays locked after too many failures (15 min) */
    volatile sig_atomic_t *pc_stop; /* the server stops when *pc_stop becomes non-zero */
    /* called once the server listens, with the port it listens on (may be NULL) */
    void (*pc_ready)(void *arg, unsigned port);
    void *pc_ready_arg;
} cdr_portal_config;

/* Serve until *cfg->pc_stop. Returns 0 after a clean stop, or CDR_EINVAL (a bad listen address, TLS
 * files, options), CDR_EIO (the port cannot be bound, the audit log cannot be opened), CDR_NOTFOUND
 * (no store), CDR_STORE, CDR_REDIS with dg saying which. */
int cdr_portal_serve(const cdr_portal_config *cfg, cdr_diag *dg);

#endif
