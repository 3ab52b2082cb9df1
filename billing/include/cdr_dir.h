/* cdr_dir.h - the customer directory (six-account model).
 *
 * Customers, accounts, subscribers, enterprises, enterprise products, memberships, payment rules
 * and credit classes, in the directory file format documented in docs/directory.md. A directory
 * file is loaded into the store (LMDB) as a whole, atomically: a file with any error changes
 * nothing and the previously loaded directory stays active.
 *
 * Ids. Every record except a credit class has a numeric id in 1 .. 2^63-1; each kind has its own
 * id space (customer 7 and account 7 are different records). Credit classes are named ("A").
 * Charging owners (cdr_sub.su_owner) share one 64-bit space: an individual line's account id, or
 * its enterprise's id with the top bit set (CDR_DIR_OWNER_ENTERPRISE) for a member, so the two
 * never collide (cdr_dir_line_owner).
 */
#ifndef CDR_DIR_H
#define CDR_DIR_H

#include <stdint.h>
#include <stdio.h>

#include "cdr_money.h"
#include "cdr_progress.h"
#include "cdr_rate.h"
#include "cdr_store.h"

typedef struct cdr_dir_stats {
    size_t ds_credit_classes;
    size_t ds_customers;
    size_t ds_accounts;
    size_t ds_enterprises;
    size_t ds_products;
    size_t ds_subscribers;
    size_t ds_memberships;
    size_t ds_payment_rules;
    size_t ds_plan_changes;
} cdr_dir_stats;

/* Parse and validate the directory file at path, then replace the store's directory with it in
 * one write transaction. Errors: CDR_PARSE / CDR_FORMAT / CDR_RANGE / CDR_EXISTS (duplicate id) /
 * CDR_NOTFOUND (a reference to an unknown id) with file, line, column and message in dg; nothing
 * is written then. progress (may be NULL) receives progress lines on large files. stats may be
 * NULL.
 * (Details, see docs/directory.md: also CDR_VERSION for another format version, CDR_EIO for an
 * unreadable file, CDR_LIMIT for an over-long line, CDR_STORE / CDR_LIMIT / CDR_ENOMEM when the
 * store cannot be written. progress gets the bytes parsed and the file's size every 16,384
 * lines and once at the end of the file. stats is written only on success. The store's previous
 * directory is replaced as a whole; it is never merged. Not to be called concurrently with other
 * cdr_dir_* store calls on the same store.) */
int cdr_dir_load_file(cdr_store *st, const char *path, const cdr_progress *progress,
                      cdr_dir_stats *stats, cdr_diag *dg);

/* Build the rating view (one cdr_sub per subscriber) from the directory in the store.
 * The table is owned by the caller (cdr_subtab_free). CDR_NOTFOUND when no directory is loaded. */
int cdr_dir_rating_view(cdr_store *st, cdr_subtab **out, cdr_diag *dg);

/* ---- format constants ------------------------------------------------------------------------ */

#define CDR_DIR_VERSION 1 /* the file format version this build reads */
#define CDR_DIR_LAYOUT                                                                             \
    4 /* the layout of the records in the store (2: account currency, payment rules in charge      \
         classes; 3: plan changes, membership periods, closed-user-group discount; 4: the          \
         enterprise's four managers) */
#define CDR_DIR_TEXT_MAX         96        /* names and e-mail addresses, bytes including the NUL */
#define CDR_DIR_MAX_WARN         8         /* pre-suspension warning thresholds per credit class */
#define CDR_DIR_ID_MAX           INT64_MAX /* ids are 1 .. CDR_DIR_ID_MAX */
#define CDR_DIR_OWNER_ENTERPRISE (1ULL << 63) /* charging owner of an enterprise pool */
#define CDR_DIR_NO_CAP           (-1)         /* cdr_dir_payment_rule.pr_cap: no cap */

/* Named databases of the directory in the store. */
#define CDR_DB_DIR_META    "dir_meta"    /* "layout" -> u32, "stats" -> cdr_dir_stats */
#define CDR_DB_DIR_RECORDS "dir_records" /* kind u8 + be64 id (credit class: + name) -> record */
#define CDR_DB_DIR_MSISDN  "dir_msisdn"  /* MSISDN digits -> be64 subscriber id */

/* A credit class with a payment term longer than this has extended terms: credit control warns
 * its lines but never moves them to warned or suspended (docs/credit-control.md). */
#define CDR_DIR_STANDARD_TERM_DAYS 30
/* The charging owner id of an enterprise's pool: its id with the top bit set. */
static inline uint64_t cdr_dir_enterprise_owner(uint64_t en_id)
{
    return en_id | CDR_DIR_OWNER_ENTERPRISE;
}

/* Record kinds; the value is also the first byte of the record's key in the store. */
typedef enum cdr_dir_kind {
    CDR_DIR_CREDIT_CLASS = 1,
    CDR_DIR_CUSTOMER,
    CDR_DIR_ACCOUNT,
    CDR_DIR_ENTERPRISE,
    CDR_DIR_PRODUCT,
    CDR_DIR_SUBSCRIBER,
    CDR_DIR_MEMBERSHIP,
    CDR_DIR_PAYMENT_RULE,
    CDR_DIR_PLAN_CHANGE, /* key: kind + be64 subscriber + be64 (from, sign bit flipped) */
    CDR_DIR_KIND_END
} cdr_dir_kind;

/* "credit_class", "customer", ...; NULL when out of range. */
const char *cdr_dir_kind_name(int kind);

typedef enum cdr_dir_party {
    CDR_DIR_PERSON = 1, /* a member or individual customer */
    CDR_DIR_COMPANY     /* an enterprise customer */
} cdr_dir_party;

typedef enum cdr_dir_status {
    CDR_DIR_ACTIVE = 1,
    CDR_DIR_SUSPENDED,
    CDR_DIR_TERMINATED
} cdr_dir_status;

/* "active", "suspended", "terminated"; NULL when out of range. */
const char *cdr_dir_status_name(int status);

/* The four managers of an enterprise ("one customer, four managers"): operator staff whose
 * logins the enterprise record names, each seeing in the portal what the duty needs. The value is
 * the index in cdr_dir_enterprise.en_manager and the bit (1u << duty) of cdr_dir_manager_duties. */
typedef enum cdr_dir_duty {
    CDR_DIR_ACCOUNT_MANAGER = 0,
    CDR_DIR_BILLING_MANAGER,
    CDR_DIR_SERVICE_MANAGER,
    CDR_DIR_TECHNICAL_MANAGER,
    CDR_DIR_MANAGERS /* how many duties there are */
} cdr_dir_duty;

/* "account", "billing", "service", "technical"; NULL when out of range. */
const char *cdr_dir_duty_name(int duty);
/* The duty named s (one of the names above), or -1. */
int cdr_dir_duty_parse(const char *s);

/* The charge classes a payment rule can give the enterprise account: bit c of pr_classes stands
 * for the cdr_charge_class c of cdr_rules.h (1 .. CDR_CLASS_COUNT - 1; the same vocabulary as the
 * plans, the rated records and the bill run). `classes=all` is CDR_DIR_CLASSES_ALL. */
#define CDR_DIR_CLASSES_ALL ((uint32_t)(((1u << CDR_CLASS_COUNT) - 1) & ~1u))

/* "basic_voice", ... for a class 1 .. CDR_CLASS_COUNT - 1; NULL otherwise. */
const char *cdr_dir_charge_name(int charge);
/* The charge class named by s[0..len) (not "none"), or -1. */
int cdr_dir_charge_parse(const char *s, size_t len);

/* ---- records -----------------------------------------------------------------------------------
 * Fixed-size, pointer-free structs (stored verbatim in the store). Strings are NUL-terminated.
 * Fields marked "resolved" are not written in the file but derived by the loader. */

typedef struct cdr_dir_credit_class {
    char cc_id[CDR_NAME_MAX];
    char cc_name[CDR_DIR_TEXT_MAX];
    cdr_money cc_limit;            /* credit limit, micro-units, >= 0 */
    uint32_t cc_term_days;         /* payment term, days */
    uint8_t cc_roaming_no_deposit; /* 1 = international roaming may be opened without a deposit */
    uint8_t cc_nwarn;
    uint8_t cc_warn_pct[CDR_DIR_MAX_WARN]; /* strictly ascending percentages of the limit, 1..100 */
} cdr_dir_credit_class;

typedef struct cdr_dir_customer {
    uint64_t cu_id;
    uint8_t cu_party; /* cdr_dir_party */
    char cu_name[CDR_DIR_TEXT_MAX];
    char cu_credit_class[CDR_NAME_MAX];
    char cu_manager[CDR_NAME_MAX]; /* account manager's login (companies), else "" */
    char cu_email[CDR_DIR_TEXT_MAX];
} cdr_dir_customer;

typedef struct cdr_dir_account {
    uint64_t ac_id;
    uint64_t ac_customer;
    uint8_t ac_party; /* resolved: the customer's party */
    char ac_name[CDR_DIR_TEXT_MAX];
    char ac_credit_class[CDR_NAME_MAX]; /* as written, or resolved to the customer's */
    char ac_currency[4]; /* ISO 4217 of its invoices as written; "" = the currency its lines'
                            plans charge in (the bill run refuses an account charged in two) */
} cdr_dir_account;

typedef struct cdr_dir_enterprise {
    uint64_t en_id;
    uint64_t en_customer;           /* the enterprise customer (a company) */
    uint64_t en_account;            /* the enterprise account: pays the enterprise items */
    char en_name[CDR_DIR_TEXT_MAX]; /* as written, or resolved to the customer's name */
    /* The managers' logins by cdr_dir_duty ("" = none): account_manager= (as written, or resolved
     * to the enterprise customer's manager=), billing_manager=, service_manager=,
     * technical_manager=. One login may hold several duties. */
    char en_manager[CDR_DIR_MANAGERS][CDR_NAME_MAX];
} cdr_dir_enterprise;

/* The duties login holds on enterprise en: bit (1u << duty) per cdr_dir_duty whose manager is
 * login; 0 when none (also for a NULL or empty login). */
unsigned cdr_dir_manager_duties(const cdr_dir_enterprise *en, const char *login);

typedef struct cdr_dir_product {
    uint64_t pd_id;
    uint64_t pd_enterprise;
    char pd_name[CDR_DIR_TEXT_MAX];
    uint64_t pd_pool[CDR_SVC_COUNT]; /* shared pool per service and cycle, base units; 0 = none */
    uint64_t pd_member_cap[CDR_SVC_COUNT]; /* one member's cap on the pool, 0 = none */
    uint16_t pd_discount_bp;               /* enterprise discount, basis points (0..10000) */
    uint8_t pd_cug;                        /* 1 = closed user group among the members */
    uint16_t pd_cug_bp; /* discount on calls and messages between members of the closed user
                           group, basis points (cug_discount=, default 10000 with cug=yes) */
} cdr_dir_product;

typedef struct cdr_dir_subscriber {
    uint64_t sb_id;
    uint64_t sb_account;    /* the member account: pays what the enterprise does not */
    uint64_t sb_customer;   /* resolved: the account's customer */
    uint64_t sb_enterprise; /* resolved from the membership, 0 for an individual */
    uint64_t sb_product;    /* resolved from the membership, 0 for an individual */
    cdr_time sb_active_from;
    cdr_time sb_active_to; /* INT64_MAX when open-ended; the termination time when terminated */
    char sb_msisdn[CDR_NUMBER_MAX];
    char sb_imsi[CDR_IMSI_MAX]; /* "" when not given */
    char sb_plan[CDR_NAME_MAX];
    uint8_t sb_status; /* cdr_dir_status */
} cdr_dir_subscriber;

typedef struct cdr_dir_membership {
    uint64_t ms_subscriber; /* the key: a subscriber has at most one membership */
    uint64_t ms_product;
    uint64_t ms_enterprise; /* resolved: the product's enterprise */
    cdr_time ms_from;       /* the member joined (inclusive); INT64_MIN when not given */
    cdr_time ms_to;         /* the member left (exclusive); INT64_MAX when not given */
} cdr_dir_membership;

typedef enum cdr_dir_scope {
    CDR_DIR_SCOPE_ENTERPRISE = 1, /* every member of the enterprise */
    CDR_DIR_SCOPE_PRODUCT,        /* every member of one product */
    CDR_DIR_SCOPE_SUBSCRIBER      /* one member */
} cdr_dir_scope;

typedef struct cdr_dir_payment_rule {
    uint64_t pr_id;
    uint64_t pr_target;     /* the enterprise, product or subscriber id named by pr_scope */
    uint64_t pr_enterprise; /* resolved */
    uint64_t pr_payer;      /* resolved: the enterprise account */
    cdr_money pr_cap;       /* per cycle, micro-units, or CDR_DIR_NO_CAP */
    uint32_t pr_classes;    /* bit (1u << cdr_dir_charge) per class paid */
    uint8_t pr_scope;       /* cdr_dir_scope */
} cdr_dir_payment_rule;

/* A change of a line's plan: from pc_from on (until its next change) the line is on pc_plan; before
 * it, on pc_previous. The subscriber's sb_plan is its plan after its last change. A subscriber's
 * changes are validated as a chain: ascending times inside its active window, each pc_previous the
 * plan of the change before it, the last pc_plan its sb_plan. */
typedef struct cdr_dir_plan_change {
    uint64_t pc_subscriber;
    cdr_time pc_from;
    char pc_plan[CDR_NAME_MAX];
    char pc_previous[CDR_NAME_MAX];
} cdr_dir_plan_change;

/* The charging owner of a line: its enterprise's (cdr_dir_enterprise_owner) for a member of an
 * enterprise, else its account's id. So every line of an account, and every member and pool of
 * an enterprise, is rated by one shard: the account's credit state and the pool stay exact. */
uint64_t cdr_dir_line_owner(const cdr_dir_subscriber *sb);

/* ---- the in-memory directory (for the bill run and tools) --------------------------------------
 * A cdr_dir holds one whole, validated directory: every kind in an array sorted by id (credit
 * classes by name), with lookups by id and by MSISDN. It is immutable once built and may be read
 * from several threads. */

typedef struct cdr_dir cdr_dir;

/* Parse and validate a directory file without touching any store (same errors as
 * cdr_dir_load_file). progress (may be NULL) gets the bytes parsed and the file's size, as in
 * cdr_dir_load_file. On success *out is owned by the caller (cdr_dir_free); on error *out is
 * NULL. */
int cdr_dir_parse_file(const char *path, const cdr_progress *progress, cdr_dir **out, cdr_diag *dg);

/* Replace the store's directory with dir, in one write transaction (all or nothing).
 * Returns 0, or CDR_STORE / CDR_LIMIT / CDR_ENOMEM with LMDB's message in dg. */
int cdr_dir_write(cdr_store *st, const cdr_dir *dir, cdr_diag *dg);

/* Read the whole directory from the store into memory. CDR_NOTFOUND when none is loaded,
 * CDR_VERSION when the store holds another layout (reload the file). */
int cdr_dir_read(cdr_store *st, cdr_dir **out, cdr_diag *dg);

/* Accepts NULL. */
void cdr_dir_free(cdr_dir *dir);
/* A value that changes whenever a directory is loaded into the store (0: none loaded, or one loaded
 * by an older cdrate): a process that holds a cdr_dir reads it again when this changes. */
int cdr_dir_stamp(cdr_store *st, uint64_t *stamp, cdr_diag *dg);

void cdr_dir_get_stats(const cdr_dir *dir, cdr_dir_stats *stats);

/* Sorted arrays (by id; credit classes by name) valid until cdr_dir_free; *n gets the count. */
const cdr_dir_credit_class *cdr_dir_credit_classes(const cdr_dir *dir, size_t *n);
const cdr_dir_customer *cdr_dir_customers(const cdr_dir *dir, size_t *n);
const cdr_dir_account *cdr_dir_accounts(const cdr_dir *dir, size_t *n);
const cdr_dir_enterprise *cdr_dir_enterprises(const cdr_dir *dir, size_t *n);
const cdr_dir_product *cdr_dir_products(const cdr_dir *dir, size_t *n);
const cdr_dir_subscriber *cdr_dir_subscribers(const cdr_dir *dir, size_t *n);
const cdr_dir_membership *cdr_dir_memberships(const cdr_dir *dir, size_t *n);
const cdr_dir_payment_rule *cdr_dir_payment_rules(const cdr_dir *dir, size_t *n);
/* By subscriber, then time. */
const cdr_dir_plan_change *cdr_dir_plan_changes(const cdr_dir *dir, size_t *n);

/* Lookups: the record or NULL; valid until cdr_dir_free. */
const cdr_dir_credit_class *cdr_dir_find_credit_class(const cdr_dir *dir, const char *id);
const cdr_dir_customer *cdr_dir_find_customer(const cdr_dir *dir, uint64_t id);
const cdr_dir_account *cdr_dir_find_account(const cdr_dir *dir, uint64_t id);
const cdr_dir_enterprise *cdr_dir_find_enterprise(const cdr_dir *dir, uint64_t id);
const cdr_dir_product *cdr_dir_find_product(const cdr_dir *dir, uint64_t id);
const cdr_dir_subscriber *cdr_dir_find_subscriber(const cdr_dir *dir, uint64_t id);
const cdr_dir_subscriber *cdr_dir_find_msisdn(const cdr_dir *dir, const char *msisdn);
/* The membership of a subscriber, or NULL for an individual. */
const cdr_dir_membership *cdr_dir_find_membership(const cdr_dir *dir, uint64_t subscriber_id);

/* The plan changes of subscriber subscriber_id in time order (valid until cdr_dir_free); *n gets
 * their count, 0 (and NULL) for a line that never changed plan. */
const cdr_dir_plan_change *cdr_dir_find_plan_changes(const cdr_dir *dir, uint64_t subscriber_id,
                                                     size_t *n);

/* The payment rules that apply to subscriber sb (most specific scope wins: the subscriber's own
 * rules if it has any, else its product's, else its enterprise's), in id order, into out[0..max).
 * Returns how many apply (may exceed max; none for an individual). */
size_t cdr_dir_rules_for(const cdr_dir *dir, const cdr_dir_subscriber *sb,
                         const cdr_dir_payment_rule **out, size_t max);

/* Look up one MSISDN in the store's directory without loading it (for hotline queries).
 * Returns 0 with *out filled, CDR_NOTFOUND (unknown number or no directory), CDR_STORE. */
int cdr_dir_lookup_msisdn(cdr_store *st, const char *msisdn, cdr_dir_subscriber *out, cdr_diag *dg);

/* Read only the part of the store's directory behind one line, in a few point reads whatever the
 * directory's size (hotline and IVR queries): its subscriber, account and customer; for a member
 * also its membership, product and enterprise, the enterprise's customer and account, and the
 * enterprise's payment rules; and the credit classes these name. *out is an ordinary cdr_dir
 * (cdr_dir_free), on which the lookups and cdr_dir_rules_for answer as on the whole directory for
 * that line. CDR_NOTFOUND "msisdn N is not in the directory" (or "no directory in the store"),
 * CDR_VERSION, CDR_STORE, CDR_ENOMEM. */
int cdr_dir_read_line(cdr_store *st, const char *msisdn, cdr_dir **out, cdr_diag *dg);
/* The same, or (part CDR_DIR_LINE_CREDIT) only what the line's credit needs: the subscriber, its
 * account and customer, for a member its enterprise and the enterprise's customer, and their
 * credit classes (no membership, product, payment rules or enterprise account): a balance query's
 * few reads. */
enum { CDR_DIR_LINE_ALL = 0, CDR_DIR_LINE_CREDIT = 1 };
int cdr_dir_read_line_part(cdr_store *st, const char *msisdn, int part, cdr_dir **out,
                           cdr_diag *dg);
/* The credit class that applies to line sb in dir (as the rating view decides it,
 * docs/credit-control.md): its account's, or for a member of an enterprise the enterprise
 * customer's unless the member's account names a class other than its customer's. NULL when
 * none is in dir. */
const cdr_dir_credit_class *cdr_dir_line_credit_class(const cdr_dir *dir,
                                                      const cdr_dir_subscriber *sb);

/* ---- plans named by subscribers ----------------------------------------------------------------
 * cdr_dir_load_file and cdr_dir_write do not look at the plan store (a library caller may load
 * the directory first); `cdrate directory load` refuses plan names with no compiled version
 * (cdr_dir_missing_plans) unless --allow-missing-plans. */

typedef struct cdr_dir_plan_use {
    char pu_plan[CDR_NAME_MAX];
    size_t pu_subscribers; /* how many subscribers name it */
    uint32_t pu_line;      /* the first subscriber that names it: its line in the file */
    uint32_t pu_column;    /* ... and the column of the plan name (the value of plan=) */
} cdr_dir_plan_use;

/* Every distinct plan name of dir's subscribers, once each, valid until cdr_dir_free: in the order
 * of first use in the file for a directory from cdr_dir_parse_file; in subscriber id order, with
 * pu_line and pu_column 0, for one from cdr_dir_read. */
const cdr_dir_plan_use *cdr_dir_plan_uses(const cdr_dir *dir, size_t *n);

/* The plan uses of dir whose plan has no version at all in ps (cdr_plan_set_family() < 0), in the
 * order of cdr_dir_plan_uses, into out[0..max). Returns how many there are (may exceed max). */
size_t cdr_dir_missing_plans(const cdr_dir *dir, const cdr_plan_set *ps,
                             const cdr_dir_plan_use **out, size_t max);

/* ---- quantities ------------------------------------------------------------------------------ */

/* units of service svc (base units: seconds, bytes, messages) for people: voice and video as
 * "45s", "120min", "120min 30s"; data as "512B", "500GB" when exact, else with one decimal
 * ("1.2GB"; 1 KB = 1024 B, as in the file); SMS and MMS as "35sms", "3mms". Needs 32 bytes.
 * Returns buf. */
const char *cdr_dir_format_qty(int svc, uint64_t units, char *buf, size_t bufsize);

#endif
