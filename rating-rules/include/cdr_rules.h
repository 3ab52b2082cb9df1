/* cdr_rules.h - tariff plans: the compiled plan, its compiler and store, and the evaluator.
 *
 * The language is documented in docs/tariff-plans.md. A plan file is YAML; cdr_plan_compile_*
 * validates it and builds a cdr_plan; the plan store keeps every version of every plan in LMDB
 * (database CDR_DB_PLANS) and cdr_plan_set_load turns the store into an immutable, shareable
 * snapshot. cdr_rules_rate is the pure rating step: (CDR, plan, counters) -> rated record.
 *
 * Units. Voice and video: seconds. SMS and MMS: messages. Data: bytes (KB = 1024 bytes,
 * MB = 1048576, GB = 1073741824). Money: micro-units (cdr_money.h).
 */
#ifndef CDR_RULES_H
#define CDR_RULES_H

#include <stdint.h>
#include <stdio.h>

#include "cdr_error.h"
#include "cdr_money.h"
#include "cdr_record.h"
#include "cdr_store.h"
#include "cdr_time.h"

#define CDR_NAME_MAX         32
#define CDR_PLAN_MAX_ZONES   64 /* zone ids fit a uint64_t mask */
#define CDR_PLAN_MAX_BANDS   16
#define CDR_PLAN_MAX_BUNDLES 16
#define CDR_PLAN_MAX_TIERS   8
#define CDR_PLAN_MAX_HOME    16
#define CDR_DAYTYPES         8 /* 0 = Monday .. 6 = Sunday, 7 = holiday */
#define CDR_DAYTYPE_HOLIDAY  7
#define CDR_MINUTES_PER_DAY  1440
#define CDR_NO_RATE          0xFFFFu
#define CDR_NO_ZONE          (-1)

typedef enum cdr_zone_kind {
    CDR_ZONE_NORMAL = 0,
    CDR_ZONE_ONNET,   /* the operator's own number ranges */
    CDR_ZONE_FREE,    /* special numbers charged nothing (still rated, charge 0) */
    CDR_ZONE_PREMIUM, /* special numbers at premium rates */
    CDR_ZONE_ROAMING, /* selected by the visited network, not by the destination */
    CDR_ZONE_KIND_COUNT
} cdr_zone_kind;

/* Charge classes (docs/tariff-plans.md "Charge classes"): what an amount is for. Tax, the
 * enterprise/member payment split and the statements all work per class. The usage classes come
 * from rating (every rated record has one); the last three come from the bill run. X(name, label)
 * in the order of their numbers; 0 = none (an unratable record, or one read from a rated record
 * of wire version 1-3, whose class is derived from its plan on read: cdr_plan_charge_class). */
#define CDR_CHARGE_CLASSES(X)                                                                      \
    X(NONE, "none")                                                                                \
    X(BASIC_VOICE, "basic_voice")                                                                  \
    X(SMS_MMS, "sms_mms")                                                                          \
    X(DATA, "data")                                                                                \
    X(VALUE_ADDED, "value_added")                                                                  \
    X(ROAMING, "roaming")                                                                          \
    X(PREMIUM, "premium")                                                                          \
    X(FREE, "free")                                                                                \
    X(RECURRING_FEE, "recurring_fee")                                                              \
    X(ONE_OFF, "one_off")                                                                          \
    X(ADJUSTMENT, "adjustment")

typedef enum cdr_charge_class {
#define CDR_CLASS_ENUM(name, label) CDR_CLASS_##name,
    CDR_CHARGE_CLASSES(CDR_CLASS_ENUM)
#undef CDR_CLASS_ENUM
        CDR_CLASS_COUNT
} cdr_charge_class;

/* The classes a plan may declare (`charge_class:` of a zone or a rate): basic_voice .. premium.
 * Rating gives every rated record one of basic_voice .. free (the usage classes). */
#define CDR_CLASS_PLAN_FIRST  CDR_CLASS_BASIC_VOICE
#define CDR_CLASS_PLAN_LAST   CDR_CLASS_PREMIUM
#define CDR_CLASS_USAGE_FIRST CDR_CLASS_BASIC_VOICE
#define CDR_CLASS_USAGE_LAST  CDR_CLASS_FREE

/* "basic_voice" ...; "unknown" when out of range. */
const char *cdr_charge_class_name(int cls);
/* The class named s, or -1. */
int cdr_charge_class_parse(const char *s);

typedef struct cdr_zone {
    char zo_name[CDR_NAME_MAX];
    uint8_t zo_kind;  /* cdr_zone_kind */
    uint8_t zo_class; /* declared cdr_charge_class (CDR_CLASS_PLAN_FIRST..LAST), 0 = none */
} cdr_zone;

/* Digit trie over destination prefixes: longest prefix wins. */
typedef struct cdr_trie_node {
    int32_t tn_child[10]; /* node index, 0 = none (node 0 is the root) */
    int16_t tn_zone;      /* zone for numbers starting with this prefix, CDR_NO_ZONE if none */
    int16_t tn_exact;     /* zone for a number equal to this prefix, CDR_NO_ZONE if none */
} cdr_trie_node;

/* A visited network that selects a roaming zone; also used for the home network list. */
typedef struct cdr_network {
    uint16_t nw_mcc;
    int16_t nw_mnc; /* -1 = any MNC of that MCC */
    int16_t nw_zone;
} cdr_network;

typedef struct cdr_tier {
    uint64_t ti_from;   /* elapsed base units within the event from which this price applies */
    cdr_money ti_price; /* micro-units per ra_unit base units */
} cdr_tier;

typedef struct cdr_rate {
    cdr_money ra_connect_fee;
    uint64_t ra_unit; /* base units the price is quoted for: 60 (per minute), 1, 1048576 (per MB) */
    uint64_t ra_first;       /* first charging increment, base units (>= 1) */
    uint64_t ra_next;        /* following increments, base units (>= 1) */
    cdr_money ra_min_charge; /* -1 = none */
    cdr_money ra_max_charge; /* -1 = none */
    cdr_money ra_round_to; /* quantum of the event charge in micro-units: 1 = micro, 10000 = cent */
    uint8_t ra_rounding;   /* cdr_rounding */
    uint8_t ra_ntiers;     /* >= 1, ra_tiers[0].ti_from == 0, ascending */
    uint8_t ra_class;      /* declared cdr_charge_class (CDR_CLASS_PLAN_FIRST..LAST), 0 = none */
    cdr_tier ra_tiers[CDR_PLAN_MAX_TIERS];
} cdr_rate;

typedef struct cdr_bundle {
    char bu_name[CDR_NAME_MAX];
    uint8_t bu_service; /* cdr_service */
    uint8_t bu_pool;    /* 1 = drawn from the enterprise pool sized in the directory */
    uint64_t bu_zones;  /* mask of zone ids the bundle covers */
    uint64_t bu_units;  /* included base units per cycle (ignored for pools) */
} cdr_bundle;

typedef struct cdr_plan {
    char pl_id[CDR_NAME_MAX];
    uint32_t pl_version;
    cdr_time pl_effective_from; /* UTC instant */
    char pl_currency[4];        /* ISO 4217 */
    cdr_tz pl_tz;               /* the plan's own time zone */
    cdr_money pl_monthly_fee;

    uint16_t pl_nzones;
    cdr_zone pl_zones[CDR_PLAN_MAX_ZONES];
    int16_t pl_home_zone;    /* zone of events with no destination (data) at home */
    int16_t pl_default_zone; /* zone of destinations no prefix matches; CDR_NO_ZONE = unratable */

    uint32_t pl_ntrie; /* >= 1 (the root) */
    cdr_trie_node *pl_trie;

    uint16_t pl_nhome; /* networks that count as home (not roaming) */
    cdr_network pl_home[CDR_PLAN_MAX_HOME];
    uint32_t pl_nroam; /* visited networks -> roaming zone; exact MNC wins over -1 */
    cdr_network *pl_roam;

    uint8_t pl_nbands;
    char pl_band_names[CDR_PLAN_MAX_BANDS][CDR_NAME_MAX];
    uint8_t pl_band_of[CDR_DAYTYPES][CDR_MINUTES_PER_DAY]; /* local minute -> band */
    uint16_t pl_band_until[CDR_DAYTYPES]
                          [CDR_MINUTES_PER_DAY]; /* minute the band next changes, <= 1440 */
    uint32_t pl_nholidays;
    int32_t *pl_holidays; /* sorted local dates as YYYYMMDD */

    uint32_t pl_nrates;
    cdr_rate *pl_rates;
    /* rate index per [service][direction][zone][band]: pl_rate_ix[((s * CDR_DIR_COUNT + d) *
     * pl_nzones + z) * pl_nbands + b], CDR_NO_RATE when the plan has no rate there. */
    uint16_t *pl_rate_ix;

    uint8_t pl_nbundles;
    cdr_bundle pl_bundles[CDR_PLAN_MAX_BUNDLES];
} cdr_plan;

/* ---- compiler ------------------------------------------------------------------------------- */

/* Compile one plan document. name is used in diagnostics (the file name). On error returns
 * CDR_PARSE (YAML syntax), CDR_FORMAT (unknown key, wrong type, missing field, overlapping or
 * missing band, missing rate ...), CDR_RANGE or CDR_NOTFOUND (unknown time zone), with file, line,
 * column and message in dg; *out is left NULL. The plan is owned by the caller: cdr_plan_free. */
int cdr_plan_compile_text(const char *text, size_t len, const char *name, cdr_plan **out,
                          cdr_diag *dg);
int cdr_plan_compile_file(const char *path, cdr_plan **out, cdr_diag *dg);
/* Accepts NULL. */
void cdr_plan_free(cdr_plan *pl);

/* Serialise a plan into a self-contained blob (malloc'd, caller frees) and back. */
int cdr_plan_serialize(const cdr_plan *pl, void **blob, size_t *len);
int cdr_plan_deserialize(const void *blob, size_t len, cdr_plan **out, cdr_diag *dg);

/* ---- the plan store and snapshots ------------------------------------------------------------ */

/* Compile every *.yaml / *.yml file under dir (sorted by name) and, only if all compile, write them
 * into the store in one LMDB write transaction. A plan (id, version) already in the store with
 * different content is refused (CDR_EXISTS): versions are immutable; the same content is a no-op.
 * On any error nothing is written and the previously stored versions stay active.
 * progress (may be NULL) receives one line per compiled file. *ncompiled (may be NULL) is set to
 * the number of plan files compiled. */
int cdr_plan_store_compile_dir(cdr_store *st, const char *dir, FILE *progress, int *ncompiled,
                               cdr_diag *dg);

/* An immutable set of all plan versions, shared read-only by rating threads and reference-counted:
 * cdr_plan_set_retain / cdr_plan_set_release (release of the last reference frees). */
typedef struct cdr_plan_set {
    uint32_t ps_nplans; /* sorted by (id, version) */
    cdr_plan **ps_plans;
    uint32_t ps_nfamilies;   /* distinct plan ids */
    uint32_t *ps_family_off; /* [ps_nfamilies + 1] start of each id's versions in ps_plans */
    int ps_refs;             /* atomic */
} cdr_plan_set;

int cdr_plan_set_load(cdr_store *st, cdr_plan_set **out, cdr_diag *dg);
/* Build a set from plans (takes ownership of the plans and of the array). For tests and tools. */
int cdr_plan_set_from(cdr_plan **plans, uint32_t n, cdr_plan_set **out, cdr_diag *dg);
cdr_plan_set *cdr_plan_set_retain(cdr_plan_set *ps);
void cdr_plan_set_release(cdr_plan_set *ps);
/* Family (plan id) index, or -1. */
int cdr_plan_set_family(const cdr_plan_set *ps, const char *id);
/* Plan id `id` version `version` of ps, or NULL (records name the version that rated them). */
const cdr_plan *cdr_plan_set_version(const cdr_plan_set *ps, const char *id, uint32_t version);
/* The version of family f in effect at t (greatest effective_from <= t), or NULL. */
const cdr_plan *cdr_plan_set_at(const cdr_plan_set *ps, int family, cdr_time t);

/* ---- the evaluator --------------------------------------------------------------------------- */

/* Why a record could not be rated. X(name, message) */
#define CDR_REASONS(X)                                                                             \
    X(NONE, "rated")                                                                               \
    X(UNKNOWN_SUBSCRIBER, "served MSISDN not in the directory")                                    \
    X(SUBSCRIBER_INACTIVE, "subscriber not active at the event time")                              \
    X(NO_PLAN, "no version of the subscriber's plan in effect at the event time")                  \
    X(NO_ZONE, "destination matches no zone of the plan")                                          \
    X(NO_RATE, "the plan has no rate for this service, direction, zone and band")                  \
    X(TOO_MANY_PARTS, "event crosses more band boundaries than a rated record holds")              \
    X(BAD_RECORD, "record fails validation")

typedef enum cdr_reason {
#define CDR_REASON_ENUM(name, msg) CDR_REASON_##name,
    CDR_REASONS(CDR_REASON_ENUM)
#undef CDR_REASON_ENUM
        CDR_REASON_COUNT
} cdr_reason;

const char *cdr_reason_name(int reason); /* "unknown_subscriber" ... */
const char *cdr_reason_message(int reason);

#define CDR_RATED_MAX_PARTS 8

typedef struct cdr_rated_part {
    uint8_t rp_band;
    uint64_t rp_units; /* charged base units in this band (after increments) */
    cdr_money
        rp_charge; /* usage charge of this part (overflow units only), before event rounding */
} cdr_rated_part;

/* The result of rating one record. For a rated record the units split exactly:
 * rr_units = rr_bundle_units + rr_overflow_units + rr_free_units, where an event is either free
 * (all of its units are free units) or chargeable (bundle and overflow units only); see
 * docs/rating.md section 5. */
/* cdr_rated.rr_flags */
#define CDR_RATED_FLAG_SUSPENDED 1 /* rated while its line was suspended by credit control */
#define CDR_RATED_FLAG_WARNED    2 /* rated while its line was warned (pre-suspension) */
#define CDR_RATED_FLAG_LATE      4 /* late: its cycle was closed; rr_cycle is a later cycle */
/* A record of a correction set (cdr_rerate.h): the reversal of a charge billed before (to be
 * subtracted), or the new charge that replaces it. Never on a record of the cycle's own ledger. */
#define CDR_RATED_FLAG_REVERSAL   8
#define CDR_RATED_FLAG_CORRECTION 16
/* Every flag a rated record may carry (the wire format refuses others). */
#define CDR_RATED_FLAGS_KNOWN                                                                      \
    (CDR_RATED_FLAG_SUSPENDED | CDR_RATED_FLAG_WARNED | CDR_RATED_FLAG_LATE |                      \
     CDR_RATED_FLAG_REVERSAL | CDR_RATED_FLAG_CORRECTION)
#define CDR_RATED_FLAGS_ALL CDR_RATED_FLAGS_KNOWN

typedef struct cdr_rated {
    uint8_t rr_reason; /* cdr_reason; NONE = rated */
    uint8_t rr_service;
    int16_t rr_zone;
    int16_t rr_bundle; /* bundle index that covered units, -1 if none */
    uint8_t rr_nparts;
    uint8_t rr_flags; /* CDR_RATED_FLAG_*: set by the rating core, not by cdr_rules_rate */
    uint8_t rr_class; /* cdr_charge_class of a rated record (CDR_CLASS_USAGE_FIRST..LAST), set
                         by cdr_rules_rate; CDR_CLASS_NONE when unratable, or read from a rated
                         record of wire version 1-3 (cdr_plan_charge_class derives it) */
    uint32_t rr_plan_version;
    uint32_t rr_cycle;          /* YYYYMM in the plan's time zone */
    char rr_currency[4];        /* ISO 4217 code of the rating plan (pl_currency); "" when
                                   unratable, or read from a version-1 rated record */
    cdr_money rr_charge;        /* total event charge: connect fee + usage, min/max, rounded */
    uint64_t rr_units;          /* charged base units after increments */
    uint64_t rr_bundle_units;   /* of rr_units, chargeable units covered by the bundle */
    uint64_t rr_overflow_units; /* of rr_units, chargeable units no bundle covered (priced) */
    uint64_t rr_free_units;     /* of rr_units, free usage: a free zone, or a rate that charges
                                   nothing (such as incoming calls at price 0); consumes no bundle */
    cdr_rated_part rr_parts[CDR_RATED_MAX_PARTS];
} cdr_rated;

/* Bundle counters of one charging owner and cycle, as seen by one event. Arrays are indexed by
 * the plan's bundle index; the evaluator reads and updates bc_used (and bc_member_used for pools).
 * bc_limit gives each bundle's allowance for this owner (the plan's bu_units, or the enterprise
 * pool size for a pool bundle); bc_member_cap a member's cap on a pool (0 = no cap). */
typedef struct cdr_counters {
    uint64_t bc_used[CDR_PLAN_MAX_BUNDLES];
    uint64_t bc_limit[CDR_PLAN_MAX_BUNDLES];
    uint64_t bc_member_used[CDR_PLAN_MAX_BUNDLES];
    uint64_t bc_member_cap[CDR_PLAN_MAX_BUNDLES];
} cdr_counters;

/* Zone of the record under plan pl: a roaming zone when the visited network is neither unknown
 * nor home, else the longest destination prefix (exact numbers first), else pl_home_zone for data
 * or pl_default_zone. Returns the zone id or CDR_NO_ZONE. */
int cdr_rules_zone(const cdr_plan *pl, const cdr_record *cr);

/* Billing cycle (YYYYMM) of instant t in the plan's time zone. */
uint32_t cdr_rules_cycle(const cdr_plan *pl, cdr_time t);

/* Rate one record. The pure step: reads cr and pl, updates bc (may be NULL when the plan has no
 * bundles) and writes rr. Returns 0 when rated, or a cdr_reason > 0 when unratable (rr->rr_reason
 * holds it too; bc is then unchanged). Never allocates; thread-safe for distinct rr/bc. */
int cdr_rules_rate(const cdr_plan *pl, const cdr_record *cr, cdr_counters *bc, cdr_rated *rr);

/* The charge class of a record already rated under plan version pl (cr the CDR, rr its rating
 * result), derived by the rule cdr_rules_rate applies (docs/tariff-plans.md "Charge classes"):
 * free (a free zone, or every part's rate charges nothing), else the class declared by the first
 * part's rate, else by the zone, else roaming / premium by the zone kind, else by the service.
 * For a record read from rated wire version 1-3, which carries no class (rr_class 0); for a
 * record rated under pl it equals rr_class. The parts' rates are looked up from the record's
 * service, cr's direction, rr_zone and the parts' bands. Returns CDR_CLASS_NONE when rr is
 * unratable or does not fit pl (zone, service or direction out of range). Pure; no allocation. */
int cdr_plan_charge_class(const cdr_plan *pl, const cdr_record *cr, const cdr_rated *rr);
/* The last step of the rule: the class of a service with nothing else to go by (voice and video
 * basic_voice, SMS and MMS sms_mms, data data). */
int cdr_charge_class_of_service(int svc);

/* ---- checking and showing plans -------------------------------------------------------------- */

/* Compile every plan file under dir and run every check of cdr_plan_store_compile_dir that needs
 * no store (duplicate versions in the directory, version order), writing nothing anywhere: for a
 * command that must refuse an invalid directory before it creates a store. Same errors and dg as
 * cdr_plan_store_compile_dir; *ncompiled (may be NULL) counts the files compiled. */
int cdr_plan_check_dir(const char *dir, int *ncompiled, cdr_diag *dg);

/* A quantity of service svc in the largest unit of the plan language that gives a whole number,
 * time in minutes or seconds (never hours, as tariffs are quoted): "500min", "90s", "10GB",
 * "1536MB", "7B", "100sms", "20mms" (data units are binary: 1 KB = 1024 bytes). The compiler
 * reads the result back to the same number. Returns buf. */
const char *cdr_plan_units_format(int svc, uint64_t units, char *buf, size_t bufsize);

/* "normal", "onnet", "free", "premium", "roaming"; "?" out of range. */
const char *cdr_plan_zone_kind_name(int kind);
/* "mon" .. "sun", "holiday" for day types 0..7; "?" out of range. */
const char *cdr_plan_daytype_name(int daytype);

#endif
