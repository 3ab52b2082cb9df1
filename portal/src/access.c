/* access.c - who may see what: the access matrix of docs/portal.md, decided on every request from
 * the identity of the session or API key and the directory, never from the URL alone. */
#include <string.h>

#include "portal_int.h"

#define K(w) (1u << (w))

/* What each role may ever see, whatever the object. */
#define LINE_KINDS                                                                                 \
    (K(PT_LINE_BALANCE) | K(PT_LINE_USAGE) | K(PT_LINE_BILL) | K(PT_LINE_OWNER) |                  \
     K(PT_LINE_STATEMENT) | K(PT_LINE_INVOICES))
#define ENT_KINDS                                                                                  \
    (K(PT_ENT_OVERVIEW) | K(PT_ENT_MEMBERS) | K(PT_ENT_STATEMENT) | K(PT_ENT_INVOICES) |           \
     K(PT_ENT_WARNINGS) | K(PT_ENT_REQUESTS) | K(PT_ENT_REQUEST_SUBMIT))
#define IVR_KINDS (K(PT_LINE_BALANCE) | K(PT_LINE_USAGE) | K(PT_LINE_BILL))

/* A manager's kinds per duty (cdr_dir_duty): "each sees what the duty needs". */
static const unsigned duty_kinds[CDR_DIR_MANAGERS] = {
    /* account: the whole relationship, and decides on requests */
    [CDR_DIR_ACCOUNT_MANAGER] = LINE_KINDS | ENT_KINDS | K(PT_ENT_REQUEST_DECIDE),
    /* billing: invoices, statements, payments and arrears */
    [CDR_DIR_BILLING_MANAGER] = K(PT_ENT_OVERVIEW) | K(PT_ENT_STATEMENT) | K(PT_ENT_INVOICES) |
                                K(PT_ENT_WARNINGS) | K(PT_ENT_REQUESTS) | K(PT_LINE_BALANCE) |
                                K(PT_LINE_BILL) | K(PT_LINE_STATEMENT) | K(PT_LINE_INVOICES),
    /* service: members, their usage and status, requests (submits and decides) */
    [CDR_DIR_SERVICE_MANAGER] = K(PT_ENT_OVERVIEW) | K(PT_ENT_MEMBERS) | K(PT_ENT_WARNINGS) |
                                K(PT_ENT_REQUESTS) | K(PT_ENT_REQUEST_SUBMIT) |
                                K(PT_ENT_REQUEST_DECIDE) | K(PT_LINE_BALANCE) | K(PT_LINE_USAGE) |
                                K(PT_LINE_OWNER),
    /* technical: lines and their status */
    [CDR_DIR_TECHNICAL_MANAGER] = K(PT_ENT_OVERVIEW) | K(PT_ENT_MEMBERS) | K(PT_ENT_WARNINGS) |
                                  K(PT_LINE_USAGE) | K(PT_LINE_OWNER),
};

static unsigned duties_kinds(unsigned duties)
{
    unsigned k = 0;
    for (int d = 0; d < CDR_DIR_MANAGERS; d++)
        if (duties & (1u << d))
            k |= duty_kinds[d];
    return k;
}

static unsigned role_kinds(const pt_req *r)
{
    if (r->id.id_kind == PT_KEY)
        return r->id.id_key.ak_scopes & CDR_SCOPE_IVR ? IVR_KINDS : 0;
    if (r->id.id_kind != PT_USER)
        return 0;
    switch (r->id.id_user.us_role) {
    case CDR_ROLE_MEMBER:
        return LINE_KINDS;
    case CDR_ROLE_ENTERPRISE_ADMIN:
        return LINE_KINDS | ENT_KINDS;
    case CDR_ROLE_MANAGER:
        return duties_kinds((1u << CDR_DIR_MANAGERS) - 1);
    case CDR_ROLE_OPERATOR:
        return ~0u;
    default:
        return 0;
    }
}

int pt_allow_kind(pt_req *r, int what)
{
    if (r->id.id_kind == PT_ANON)
        return PT_UNAUTH;
    return role_kinds(r) & K(what) ? PT_OK : PT_FORBIDDEN;
}

/* What r's identity may do with enterprise en: the kinds (0: not its enterprise). */
static unsigned enterprise_kinds(pt_req *r, const cdr_dir_enterprise *en)
{
    if (r->id.id_kind != PT_USER)
        return r->id.id_kind == PT_KEY ? role_kinds(r) & ~ENT_KINDS : 0;
    const cdr_user *u = &r->id.id_user;
    switch (u->us_role) {
    case CDR_ROLE_ENTERPRISE_ADMIN:
        return u->us_enterprise == en->en_id ? LINE_KINDS | ENT_KINDS : 0;
    case CDR_ROLE_MANAGER:
        return duties_kinds(cdr_dir_manager_duties(en, u->us_login));
    case CDR_ROLE_OPERATOR:
        return ~0u;
    default:
        return 0;
    }
}

int pt_allow_enterprise(pt_req *r, int what, uint64_t enterprise, const cdr_dir_enterprise **out)
{
    if (out)
        *out = NULL;
    int k = pt_allow_kind(r, what);
    if (k != PT_OK)
        return k;
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_enterprise *en = dir ? cdr_dir_find_enterprise(dir, enterprise) : NULL;
    if (!en)
        return PT_HIDDEN;
    unsigned kinds = enterprise_kinds(r, en);
    if (!kinds)
        return PT_HIDDEN; /* not its enterprise: as if it did not exist */
    if (!(kinds & K(what)))
        return PT_FORBIDDEN; /* its enterprise, but not what its duty covers */
    if (out)
        *out = en;
    return PT_OK;
}

int pt_allow_line(pt_req *r, int what, const char *msisdn, const cdr_dir_subscriber **out)
{
    if (out)
        *out = NULL;
    int k = pt_allow_kind(r, what);
    if (k != PT_OK)
        return k;
    const cdr_dir *dir = pt_dir_get(r);
    const cdr_dir_subscriber *sb = dir && msisdn ? cdr_dir_find_msisdn(dir, msisdn) : NULL;
    if (!sb)
        return PT_HIDDEN;
    int ok = 0;
    if (r->id.id_kind == PT_KEY)
        ok = 1; /* the IVR's key: any number (its kinds were checked above) */
    else if (r->id.id_user.us_role == CDR_ROLE_OPERATOR)
        ok = 1;
    else if (r->id.id_user.us_role == CDR_ROLE_MEMBER)
        ok = !strcmp(r->id.id_user.us_msisdn, sb->sb_msisdn);
    else if (sb->sb_enterprise) {
        const cdr_dir_enterprise *en = cdr_dir_find_enterprise(dir, sb->sb_enterprise);
        unsigned kinds = en ? enterprise_kinds(r, en) : 0;
        if (kinds && !(kinds & K(what)))
            return PT_FORBIDDEN;
        ok = kinds != 0;
    }
    if (!ok)
        return PT_HIDDEN;
    if (out)
        *out = sb;
    return PT_OK;
}

void pt_each_enterprise(pt_req *r,
                        void (*fn)(void *arg, const cdr_dir_enterprise *en, unsigned duties),
                        void *arg)
{
    const cdr_dir *dir = pt_dir_get(r);
    if (!dir || r->id.id_kind != PT_USER)
        return;
    const cdr_user *u = &r->id.id_user;
    size_t n;
    const cdr_dir_enterprise *ens = cdr_dir_enterprises(dir, &n);
    unsigned all = (1u << CDR_DIR_MANAGERS) - 1;
    for (size_t i = 0; i < n; i++) {
        const cdr_dir_enterprise *en = &ens[i];
        if (u->us_role == CDR_ROLE_OPERATOR)
            fn(arg, en, all);
        else if (u->us_role == CDR_ROLE_ENTERPRISE_ADMIN && u->us_enterprise == en->en_id)
            fn(arg, en, all);
        else if (u->us_role == CDR_ROLE_MANAGER) {
            unsigned d = cdr_dir_manager_duties(en, u->us_login);
            if (d)
                fn(arg, en, d);
        }
    }
}
