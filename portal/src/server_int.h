/* server_int.h - the server's state, shared by server.c, auth.c and audit.c only. */
#ifndef SERVER_INT_H
#define SERVER_INT_H

#include <pthread.h>

#include "portal_int.h"

struct MHD_Daemon;
struct MHD_Response;

#define PT_IP_SLOTS 256 /* per-address login failure counters (a hash table, oldest replaced) */

typedef struct pt_ip_slot {
    char ip[64];
    int64_t window_start; /* UTC seconds */
    uint32_t failures;
} pt_ip_slot;

struct pt_server {
    cdr_portal_config cfg;
    cdr_store *st;
    cdr_plan_set *ps;
    struct MHD_Daemon *d;
    struct MHD_Response *health;
    int tls;
    pthread_mutex_t mu; /* dir, dir_stamp, refs */
    pt_dir *dir;
    uint64_t dir_stamp;
    pthread_mutex_t reload_mu; /* the reloader thread's wait and stopping */
    pthread_cond_t reload_cv;
    pthread_t reload_th;
    int reload_started, stopping;
    pthread_key_t redis_key;
    int audit_fd;
    pthread_mutex_t audit_mu;
    uint64_t audit_seq;
    pthread_mutex_t throttle_mu;
    pt_ip_slot ips[PT_IP_SLOTS];
};

int pt_audit_open(pt_server *s, cdr_diag *dg);
void pt_audit_close(pt_server *s);
int pt_auth_init(pt_server *s, cdr_diag *dg);

#endif
