/* cdr_statement.h - e-statements: one model per member line and per enterprise, built from the
 * bill run's published output (the invoices) and the ledger (the rated records), rendered as JSON,
 * CSV and HTML from that one model, exported per cycle and verified. docs/statements.md.
 *
 * Money: every amount is an integer in micro-units (cdr_money); figures taken from invoices are
 * whole cents, rated figures are as rated (micro-units). A statement has one currency (its
 * account's); nothing is ever added across currencies.
 */
#ifndef CDR_STATEMENT_H
#define CDR_STATEMENT_H

#include <stdint.h>
#include <stdio.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_progress.h"
#include "cdr_rate.h"
#include "cdr_store.h"

/* ---- the model ------------------------------------------------------------------------------- */

typedef enum cdr_stmt_kind { CDR_STMT_MEMBER = 1, CDR_STMT_ENTERPRISE = 2 } cdr_stmt_kind;

typedef enum cdr_stmt_lang { CDR_STMT_EN = 0, CDR_STMT_ZH_CN = 1 } cdr_stmt_lang;

/* How the other party of an itemised line is shown (docs/statements.md "Privacy"). */
typedef enum cdr_stmt_privacy {
    CDR_STMT_MASKED = 0, /* the 4 digits before the last 4 masked: 86138****5678 (default);
                            numbers of at most 8 digits (service numbers) are shown */
    CDR_STMT_FULL = 1,   /* shown as rated */
    CDR_STMT_HIDDEN = 2  /* not shown at all ("") */
} cdr_stmt_privacy;

/* Where an itemised record stands against the package. */
typedef enum cdr_stmt_state {
    CDR_STMT_IN_BUNDLE = 0, /* chargeable units all covered by a bundle */
    CDR_STMT_PARTLY,        /* some units in a bundle, the rest overflow */
    CDR_STMT_OVERFLOW,      /* outgoing chargeable units no bundle covered (the overflow) */
    CDR_STMT_FREE,          /* free: a free number, or a rate that charges nothing (incoming) */
    CDR_STMT_CHARGED,       /* charged but never overflow: incoming (e.g. roaming) */
    CDR_STMT_STATE_COUNT
} cdr_stmt_state;
const char *
cdr_stmt_state_name(int state); /* "in_bundle", "partly", "overflow", "free", "charged" */

/* Usage of one service (base units: seconds for voice and video, messages, bytes). Overflow
 * counts only outgoing records outside free zones: incoming calls and free numbers never
 * overflow. sv_charge = sv_overflow_charge + the rest (connect fees of bundled calls, incoming). */
typedef struct cdr_stmt_service {
    uint64_t sv_records;
    uint64_t sv_units;
    uint64_t sv_bundle_units;
    uint64_t sv_overflow_units;
    uint64_t sv_free_units;
    uint64_t sv_overflow_records; /* records with overflow units */
    cdr_money sv_charge;          /* rated, micro-units */
    cdr_money sv_overflow_charge; /* of it, the charges of records with overflow units */
} cdr_stmt_service;

/* One charge class of a line: in package vs overflow (rated, micro-units) and what was billed
 * (net after discounts, whole cents, from the invoice lines). For usage classes
 * cl_rated = cl_package_charge + cl_overflow_charge. */
typedef struct cdr_stmt_class {
    uint64_t cl_records;
    uint64_t cl_package_records;  /* in bundle, free or charged-not-overflow */
    uint64_t cl_overflow_records; /* records with overflow units */
    cdr_money cl_rated;
    cdr_money cl_package_charge;
    cdr_money cl_overflow_charge;
    cdr_money cl_enterprise; /* billed to the enterprise account (cents) */
    cdr_money cl_member;     /* billed to the member's own account (cents) */
    cdr_money cl_enterprise_tax;
    cdr_money cl_member_tax;
} cdr_stmt_class;

/* Use of one bundle of the line's plan (or of a product's pool, in the enterprise statement). */
typedef struct cdr_stmt_bundle {
    char bn_name[CDR_NAME_MAX];
    uint8_t bn_service;   /* cdr_service */
    uint8_t bn_pool;      /* 1 = drawn from the enterprise's pool */
    uint64_t bn_used;     /* base units */
    uint64_t bn_included; /* the bundle's units; for a pool the member's cap (0: no cap) in a
                             member statement, the pool's size in the enterprise statement */
} cdr_stmt_bundle;
/* used / included in basis points (10000 = 100 %), half-up; -1 when nothing is included. */
int64_t cdr_stmt_bundle_bp(const cdr_stmt_bundle *bn);

/* The cheaper-plan hint of one line (docs/statements.md "Cheaper-plan hint"): the month's usage
 * re-rated with the real evaluator under every plan of the catalogue the line may take. */
typedef enum cdr_stmt_hint_state {
    CDR_HINT_NONE = 0,    /* not computed (no records and no fee, or not asked for) */
    CDR_HINT_CHEAPER = 1, /* hn_best is cheaper than the current plan by hn_saving */
    CDR_HINT_KEEP = 2     /* no plan the line may take is cheaper */
} cdr_stmt_hint_state;

typedef struct cdr_stmt_hint {
    uint8_t hn_state;
    uint16_t hn_candidates;        /* plans compared (the current one included) */
    char hn_current[CDR_NAME_MAX]; /* the line's plan */
    cdr_money hn_current_cost;     /* usage (cents per class) + prorated fee, before
                                      discounts and tax */
    char hn_best[CDR_NAME_MAX];    /* the cheapest plan ("" unless CHEAPER) */
    cdr_money hn_best_cost;
    cdr_money hn_saving; /* hn_current_cost - hn_best_cost, > 0 when CHEAPER */
} cdr_stmt_hint;

/* An invoice of the bill run that a statement refers to (whole cents). */
typedef struct cdr_stmt_invoice {
    char iv_invoice[32];
    uint64_t iv_account;
    char iv_kind[16]; /* "enterprise", "member", "individual" */
    char iv_issued[11], iv_due[11];
    cdr_money iv_amount, iv_tax, iv_total;
} cdr_stmt_invoice;

/* One line (member subscriber or individual). */
typedef struct cdr_stmt_line {
    uint64_t ln_subscriber;
    char ln_msisdn[CDR_NUMBER_MAX];
    char ln_name[96];           /* the member customer's name */
    char ln_plan[CDR_NAME_MAX]; /* the current plan */
    char ln_status[16];         /* the directory's status name */
    uint64_t ln_account;        /* the member's own account */
    char ln_account_name[96];
    uint64_t ln_enterprise; /* 0 for an individual */
    uint64_t ln_product;
    cdr_stmt_class ln_class[CDR_CLASS_COUNT];
    cdr_stmt_service ln_svc[CDR_SVC_COUNT];
    uint8_t ln_nbundles;
    cdr_stmt_bundle ln_bundles[CDR_PLAN_MAX_BUNDLES];
    /* sums over the classes (cents): */
    cdr_money ln_fee;      /* recurring_fee billed (both shares) */
    cdr_money ln_usage;    /* usage classes billed (both shares) */
    cdr_money ln_other;    /* one_off and adjustment billed to the line (both shares) */
    cdr_money ln_overflow; /* rated overflow charge (micro-units) */
    cdr_money ln_enterprise_share, ln_member_share; /* amounts before tax */
    cdr_money ln_enterprise_tax, ln_member_tax;
    cdr_stmt_hint ln_hint;
} cdr_stmt_line;

/* One itemised record of a line. */
typedef struct cdr_stmt_item {
    uint64_t it_subscriber;
    char it_msisdn[CDR_NUMBER_MAX];
    cdr_time it_start;     /* UTC */
    int32_t it_utc_offset; /* of the plan's time zone at it_start: local time */
    uint8_t it_service, it_direction, it_class, it_state;
    uint8_t it_flags;              /* CDR_RATED_FLAG_* (late, correction) */
    char it_other[CDR_NUMBER_MAX]; /* masked by the statement's privacy setting */
    uint32_t it_duration;          /* seconds (voice, video, data sessions) */
    uint64_t it_bytes;             /* up + down (data) */
    uint64_t it_units, it_bundle_units, it_overflow_units;
    char it_zone[CDR_NAME_MAX];
    char it_band[CDR_NAME_MAX];
    cdr_money it_charge; /* micro-units as rated */
} cdr_stmt_item;

/* The change of an enterprise against the previous cycle (whole cents). */
typedef struct cdr_stmt_change {
    uint8_t ch_known; /* 0: the previous cycle was not billed (or in another currency) */
    uint32_t ch_cycle;
    uint64_t ch_lines;   /* members billed then */
    cdr_money ch_amount; /* the members' amounts then (both shares) */
    cdr_money ch_enterprise_share;
    cdr_money ch_overflow; /* rated overflow then, micro-units */
} cdr_stmt_change;

typedef struct cdr_statement {
    uint8_t st_kind;    /* cdr_stmt_kind */
    uint8_t st_privacy; /* cdr_stmt_privacy, as the items were masked */
    uint32_t st_cycle;  /* YYYYMM */
    char st_currency[4];
    char st_issued[11], st_due[11]; /* of the statement's main invoice */
    /* the enterprise (also for a member of one) */
    uint64_t st_enterprise;
    char st_enterprise_name[96];
    uint64_t st_enterprise_account;
    char st_enterprise_account_name[96];
    char st_manager[CDR_NAME_MAX]; /* the enterprise's account manager */
    /* the lines: one for a member statement; every billed member, by subscriber id, for an
     * enterprise statement */
    size_t st_nlines;
    cdr_stmt_line *st_lines;
    /* sums over st_lines */
    cdr_stmt_class st_class[CDR_CLASS_COUNT];
    cdr_stmt_service st_svc[CDR_SVC_COUNT];
    cdr_money st_fee, st_usage, st_other, st_overflow;
    cdr_money st_enterprise_share, st_member_share, st_enterprise_tax, st_member_tax;
    cdr_money st_hint_savings; /* sum of the lines' hn_saving (CHEAPER ones) */
    uint64_t st_hint_lines;    /* lines with a cheaper plan */
    /* enterprise statements: account-level adjustments on the enterprise invoice (cents) */
    cdr_money st_account_adjustments;
    /* the pools of the enterprise's products (bn_included = the pool's size) */
    uint8_t st_npools;
    cdr_stmt_bundle st_pools[16];
    uint64_t st_pool_product[16];
    /* lines by overflow charge, descending (then subscriber id), at most 10: indexes of st_lines */
    uint8_t st_ntop;
    uint32_t st_top[10];
    cdr_stmt_change st_change;
    /* the invoices the statement refers to: for a member its own account's (and its enterprise
     * account's); for an enterprise its account's */
    uint8_t st_ninvoices;
    cdr_stmt_invoice st_invoices[2];
    /* itemised records, by line then local time (only when asked for; the export streams them) */
    size_t st_nitems;
    cdr_stmt_item *st_items;
} cdr_statement;

/* ---- building -------------------------------------------------------------------------------- */

typedef struct cdr_stmt_config {
    uint32_t sc_cycle;      /* YYYYMM */
    const char *sc_bills;   /* the bill run's output folder (`bill --out`); the cycle is in
                               BILLS/YYYY-MM */
    const char *sc_ledger;  /* the ledger folder */
    const char *sc_msisdn;  /* a member statement of this line, or NULL */
    uint64_t sc_enterprise; /* or an enterprise statement (when sc_msisdn is NULL) */
    int sc_itemised;        /* 1: fill st_items */
    int sc_privacy;         /* cdr_stmt_privacy */
    int sc_hint;            /* 1: compute the cheaper-plan hints */
} cdr_stmt_config;

/* Build the statement. Errors: CDR_NOTFOUND "msisdn N is not in the directory" / "enterprise N
 * is not in the directory" / no directory or plans; CDR_NOTBILLED "cycle 2026-11 is not billed:
 * no BILLS/2026-11/invoices.csv" (also a line the cycle's bill did not bill); CDR_FORMAT (a
 * malformed bill output or a damaged ledger segment, naming the file); CDR_EIO; CDR_ENOMEM. */
int cdr_stmt_build(cdr_store *st, const cdr_stmt_config *cfg, cdr_statement **out, cdr_diag *dg);
/* At most this many itemised records are held in one statement (sc_itemised; CDR_LIMIT beyond:
 * `statement export` streams any number). */
#define CDR_STMT_ITEMS_MAX 1000000
void cdr_stmt_free(cdr_statement *s); /* accepts NULL */

/* The other party as the privacy setting shows it, into out (CDR_NUMBER_MAX bytes). */
void cdr_stmt_mask(const char *number, int privacy, char *out);

/* ---- names and labels ------------------------------------------------------------------------ */

/* Every name below is a stable English key (as in the JSON and the CSV's key columns); every label
 * is the text a reader sees in lang (CDR_STMT_EN or CDR_STMT_ZH_CN, any other value reads as
 * CDR_STMT_EN), UTF-8. All are static storage and never NULL: an out-of-range value gives
 * "unknown" (names) or "?" (labels). */
const char *cdr_stmt_lang_name(int lang); /* "en", "zh-CN" */
int cdr_stmt_lang_parse(const char *s);   /* "en" / "zh-CN" (also "zh"): the cdr_stmt_lang, or -1 */
const char *cdr_stmt_kind_name(int kind); /* "member", "enterprise" */
const char *cdr_stmt_privacy_name(int privacy);          /* "masked", "full", "hidden" */
const char *cdr_stmt_hint_state_name(int state);         /* "none", "cheaper", "keep" */
const char *cdr_stmt_service_label(int svc, int lang);   /* Voice / 语音 ... */
const char *cdr_stmt_direction_label(int dir, int lang); /* Outgoing / 主叫 ... */
const char *cdr_stmt_class_label(int cls, int lang);     /* Basic voice / 基本通话 ... */
const char *cdr_stmt_state_label(int state, int lang);   /* In bundle / 套餐内 ... */

/* ---- rendering ------------------------------------------------------------------------------- */

typedef enum cdr_stmt_format {
    CDR_STMT_JSON = 0,
    CDR_STMT_CSV = 1,
    CDR_STMT_HTML = 2
} cdr_stmt_format;

/* JSON (docs/statements.md has the schema): one object, amounts as decimal strings (two
 * decimals for billed figures, six for rated ones), with the items when st_items is filled. */
int cdr_stmt_render_json(const cdr_statement *s, int lang, FILE *out, cdr_diag *dg);
/* HTML: one self-contained printable file, inline SVG charts, labels in lang. */
int cdr_stmt_render_html(const cdr_statement *s, int lang, FILE *out, cdr_diag *dg);
/* CSV: one file per section into folder dir (created private if missing): summary.csv,
 * classes.csv, services.csv, bundles.csv, overflow.csv, members.csv (enterprise),
 * itemised.csv (when st_items is filled); UTF-8 with a BOM, a header row, stable columns. */
int cdr_stmt_render_csv(const cdr_statement *s, int lang, const char *dir, cdr_diag *dg);

/* The itemised CSV: its header row (with the BOM only when bom is 1) and one row per item, the
 * same columns as itemised.csv (for the streaming export). Return the bytes written into buf
 * (CRLF-terminated, followed by a NUL that is not counted), or 0 when bufsize is too small
 * (CDR_STMT_ITEM_CSV_MAX is always enough). Reentrant; no allocation. */
#define CDR_STMT_ITEM_CSV_MAX 512
size_t cdr_stmt_item_csv_header(int lang, int bom, char *buf, size_t bufsize);
size_t cdr_stmt_item_csv(const cdr_stmt_item *it, char *buf, size_t bufsize);

/* ---- the export of a cycle ------------------------------------------------------------------- */

typedef struct cdr_stmt_export_config {
    uint32_t ec_cycle;
    const char *ec_bills, *ec_ledger;
    const char *ec_out; /* the cycle is published as OUT/YYYY-MM */
    int ec_lang, ec_privacy, ec_hint;
    int ec_level;                    /* zstd level of the itemised files; 0 = 1 */
    uint64_t ec_budget;              /* bytes a spill bucket may hold; 0 = 64 MiB */
    const cdr_progress *ec_progress; /* lines done of the lines to do; may be NULL */
} cdr_stmt_export_config;

typedef struct cdr_stmt_export_summary {
    uint64_t es_enterprises, es_members, es_items, es_files, es_bytes;
    char es_dir[4200];
} cdr_stmt_export_summary;

/* Write every statement of cycle ec_cycle (docs/statements.md "Export"): per enterprise its
 * statement (JSON) and its members' itemised lines (a streaming .csv.zst), per billed line its
 * member statement (JSON; an individual's itemised lines in their own .csv.zst), lines.csv and
 * statements.csv (the figures verify checks), and manifest.csv (size and SHA-256 of every other
 * file). Written into OUT/.YYYY-MM.partial and published as OUT/YYYY-MM with one rename; a run
 * that was killed is started over by the next. One export of a cycle at a time (CDR_EXISTS).
 * Errors as cdr_stmt_build, and CDR_EIO with the path. */
int cdr_stmt_export(cdr_store *st, const cdr_stmt_export_config *cfg, cdr_stmt_export_summary *sum,
                    cdr_diag *dg);

/* Test hook CDR_STMT_EXPORT_HOLD_MS=MS: once half of the lines are written, print "cdrate
 * statement export: test hook: holding a half-written export" on stderr and wait MS ms. */
#define CDR_STMT_EXPORT_HOLD_ENV "CDR_STMT_EXPORT_HOLD_MS"

/* Check an exported cycle folder: every file of the manifest (size, SHA-256) and no file outside
 * it; the itemised lines recounted and summed per line against lines.csv, the lines against
 * statements.csv; and, with the bill run's output (bills, or the folder recorded at export; NULL
 * = recorded), every line's billed shares and every statement's invoice against the invoices.
 * diff (may be NULL) gets every difference as one line; *ndiff their count. Returns 0 (also
 * with differences), or CDR_EIO / CDR_FORMAT when the folder cannot be read as an export. */
typedef void (*cdr_stmt_diff_fn)(const char *difference, void *ctx);
int cdr_stmt_verify(const char *dir, const char *bills, cdr_stmt_diff_fn diff, void *ctx,
                    uint64_t *ndiff, uint64_t *nfiles, uint64_t *nitems, cdr_diag *dg);

#endif
