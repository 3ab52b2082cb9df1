/* cdr_fraud.h - fraud and abuse rules: velocity thresholds per line over a sliding window.
 *
 * The rule language is documented in docs/fraud-rules.md. A rules file is YAML beside the tariff
 * plans; cdr_fraud_parse_* validates it as a whole (every error names file:line:column) and
 * builds a cdr_fraud_rules: a fixed-size, pointer-free array of compiled rules, stored in the
 * store's database CDR_DB_FRAUD_RULES as one blob (cdr_fraud_rules_blob, little-endian,
 * versioned).
 *
 * Evaluation keeps one cdr_fraud_line per (line, rule): a ring of CDR_FRAUD_BUCKETS buckets over
 * the records' event start times (cr_start), never the wall clock. cdr_fraud_eval is the pure
 * step: it reads the rule, the record and its rating, updates the state and says whether the rule
 * hit. It never allocates and is O(CDR_FRAUD_BUCKETS) at worst; states of distinct lines may be
 * evaluated by distinct threads. The state encodes into a compact blob (cdr_fraud_line_encode) so
 * that a caller can keep it on a changelog and restore it after a crash.
 *
 * Units are those of the plan language (cdr_rules.h): seconds, messages, bytes. No money and no
 * floating point anywhere.
 */
#ifndef CDR_FRAUD_H
#define CDR_FRAUD_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_record.h"
#include "cdr_rules.h"
#include "cdr_store.h"
#include "cdr_time.h"

#define CDR_FRAUD_MAX_RULES 32
#define CDR_FRAUD_BUCKETS   60 /* buckets per window: the window slides in steps of one bucket */
#define CDR_FRAUD_MAX_ZONES 8  /* zone names per rule */
#define CDR_FRAUD_MAX_SPAN  2678400   /* longest window or `within`: 31 days, in seconds */
#define CDR_FRAUD_NEVER     INT64_MIN /* fl_last_hit, fl_country_time: none yet */

/* Named database of the store: key "rules" -> the blob of the active rule set. */
#define CDR_DB_FRAUD_RULES "fraud_rules"

typedef enum cdr_fraud_kind {
    CDR_FRAUD_UNITS = 0, /* sum of charged units of one service over a sliding window */
    CDR_FRAUD_COUNTRIES, /* the line seen in two visited countries within a short time */
    CDR_FRAUD_KIND_COUNT
} cdr_fraud_kind;

/* One compiled rule. Plain data: may be copied and compared field by field. */
typedef struct cdr_fraud_rule {
    char fr_name[CDR_NAME_MAX];
    uint8_t fr_index;      /* position in the file (0-based) = index in cdr_fraud_rules */
    uint8_t fr_kind;       /* cdr_fraud_kind */
    uint8_t fr_service;    /* units: cdr_service */
    uint8_t fr_directions; /* units: mask of 1 << cdr_direction (default: mo only) */
    uint8_t fr_zone_kinds; /* units: mask of 1 << cdr_zone_kind (default: all kinds) */
    uint8_t fr_nzones;     /* units: 0 = any zone, else the zone names below */
    uint16_t fr_home_mcc;  /* countries: the country of records without a visited network; 0 =
                              such records are ignored */
    uint32_t fr_window;    /* units: the window, seconds; countries: `within`, seconds */
    uint32_t fr_width;     /* units: bucket width, seconds = ceil(fr_window / 60) */
    uint32_t fr_nbuckets;  /* units: buckets in the window = ceil(fr_window / fr_width), 1..60 */
    uint64_t fr_threshold; /* units: base units; the rule hits when the window's sum exceeds it */
    char fr_zones[CDR_FRAUD_MAX_ZONES][CDR_NAME_MAX]; /* units: zone names of the rating plans */
} cdr_fraud_rule;

/* A rule set: what one rules file compiles to. */
typedef struct cdr_fraud_rules {
    uint32_t frs_nrules; /* 0..CDR_FRAUD_MAX_RULES */
    cdr_fraud_rule frs_rules[CDR_FRAUD_MAX_RULES];
} cdr_fraud_rules;

/* ---- the rules file --------------------------------------------------------------------------
 */

/* Parse and validate one rules document. name is used in diagnostics (the file name; NULL gives
 * "<fraud rules>"). The whole file is refused on the first error: CDR_PARSE (not YAML: a tab
 * used for indentation, an unclosed bracket ...), CDR_FORMAT (empty file, unknown key, unknown
 * kind, service or zone kind, missing field, duplicate rule name, malformed duration or amount),
 * CDR_RANGE (zero or too large a threshold, a window out of range), CDR_LIMIT (more than
 * CDR_FRAUD_MAX_RULES rules), with file, line, column and message in dg; *out is then NULL.
 * CDR_ENOMEM or CDR_EINVAL otherwise. On success *out is owned by the caller:
 * cdr_fraud_rules_free. */
int cdr_fraud_parse_buf(const char *name, const char *buf, size_t len, cdr_fraud_rules **out,
                        cdr_diag *dg);
/* The same for the file at path (CDR_EIO when it cannot be read). */
int cdr_fraud_parse_file(const char *path, cdr_fraud_rules **out, cdr_diag *dg);
/* Accepts NULL. */
void cdr_fraud_rules_free(cdr_fraud_rules *frs);

/* "units", "countries"; "?" out of range. */
const char *cdr_fraud_kind_name(int kind);

/* ---- the compiled form and the store ---------------------------------------------------------
 */

/* No blob is longer than this. */
#define CDR_FRAUD_BLOB_MAX (8 + CDR_FRAUD_MAX_RULES * (32 + 28 + CDR_FRAUD_MAX_ZONES * 32))

/* Encode frs into buf (at least CDR_FRAUD_BLOB_MAX bytes): magic "CDRF", a 16-bit version, the
 * rule count, then every rule in a fixed little-endian layout (docs/fraud-rules.md). Returns the
 * length; the same rules always give the same bytes. */
size_t cdr_fraud_rules_blob(const cdr_fraud_rules *frs, uint8_t *buf);
/* Decode exactly len bytes into *out (caller's memory), checking every field as the parser
 * does. Returns 0, CDR_VERSION (an unknown version) or CDR_FORMAT, with the reason in dg (may be
 * NULL). */
int cdr_fraud_rules_from_blob(const void *blob, size_t len, cdr_fraud_rules *out, cdr_diag *dg);

/* Replace the rule set of the store by frs, in one write transaction (the previous set stays
 * active when it fails). Returns 0, or CDR_STORE / CDR_EIO / CDR_LIMIT from LMDB with dg set. */
int cdr_fraud_store_put(cdr_store *st, const cdr_fraud_rules *frs, cdr_diag *dg);
/* Read the store's rule set into *out (caller's memory). Returns 0, CDR_NOTFOUND when no rules
 * were ever stored, CDR_FORMAT / CDR_VERSION for a damaged blob, or a store error; dg says which.
 * Works on a store opened read-only. */
int cdr_fraud_store_get(cdr_store *st, cdr_fraud_rules *out, cdr_diag *dg);
/* The rules a rater evaluates: *out gets the store's rule set (malloc'd, free()), or NULL when the
 * store holds none or an empty one (returns 0 then). Otherwise as cdr_fraud_store_get, and
 * CDR_ENOMEM. */
int cdr_fraud_store_load(cdr_store *st, cdr_fraud_rules **out, cdr_diag *dg);

/* ---- evaluation ------------------------------------------------------------------------------
 */

/* The state of one rule for one line. Fixed size, no pointers; initialise with
 * cdr_fraud_line_init (a zeroed struct is not a valid state). A state built under a rule of
 * another kind or window (the rules changed) is reset by cdr_fraud_eval before use. */
typedef struct cdr_fraud_line {
    uint8_t fl_kind;      /* cdr_fraud_kind of the rule the state belongs to */
    uint8_t fl_nbuckets;  /* units: the rule's fr_nbuckets; 0 = nothing seen yet */
    uint16_t fl_country;  /* countries: where the line was last seen (an MCC), 0 = nowhere yet */
    uint32_t fl_width;    /* units: the rule's fr_width */
    int64_t fl_head;      /* units: bucket number (cr_start / fl_width) of the newest bucket */
    cdr_time fl_latest;   /* units: the newest event start time seen */
    cdr_time fl_last_hit; /* time of the last hit, CDR_FRAUD_NEVER when none */
    cdr_time fl_country_time; /* countries: the newest event time seen in fl_country */
    /* units: units per bucket; bucket number b is kept in slot b mod fl_nbuckets */
    uint64_t fl_buckets[CDR_FRAUD_BUCKETS];
} cdr_fraud_line;

/* An empty state for rule fr. */
void cdr_fraud_line_init(cdr_fraud_line *fl, const cdr_fraud_rule *fr);

/* No encoded state is longer than this. */
#define CDR_FRAUD_LINE_MAX     720
#define CDR_FRAUD_LINE_VERSION 1
/* Encode fl into buf (at least CDR_FRAUD_LINE_MAX bytes): a version byte, then the fields
 * little-endian, and only the buckets that are not empty (docs/fraud-rules.md). Returns the
 * length. Decoding gives a state that evaluates exactly as fl does. */
size_t cdr_fraud_line_encode(const cdr_fraud_line *fl, uint8_t *buf);
/* Decode exactly len bytes. Returns 0, CDR_VERSION for an unknown version byte, or CDR_FORMAT
 * (truncated, trailing bytes, a field out of range); *fl is then unspecified. */
int cdr_fraud_line_decode(const uint8_t *buf, size_t len, cdr_fraud_line *fl);

/* What a hit reports. */
typedef struct cdr_fraud_hit {
    uint32_t fh_rule;           /* index of the rule in its set (fr_index) */
    char fh_name[CDR_NAME_MAX]; /* the rule's name */
    uint8_t fh_kind;            /* cdr_fraud_kind */
    /* units: the window evaluated, from the start of its oldest bucket to the newest event
     * start time seen; countries: the earlier and the later of the two records' times */
    cdr_time fh_window_start, fh_window_end;
    uint64_t fh_sum;        /* units: the window's sum; countries: seconds between the records */
    uint64_t fh_threshold;  /* units: fr_threshold; countries: `within`, seconds */
    uint16_t fh_country[2]; /* countries: the MCCs, earlier record first */
    cdr_time fh_time[2];    /* countries: their event start times */
} cdr_fraud_hit;

/* 1 when record cr (with its rating rr, which may be NULL) counts for rule fr, else 0.
 * units: a rated record (rr_reason NONE) of the rule's service and direction whose zone matches
 * the rule's zone kinds and names; zo is the zone the record was rated in (for the plan pl that
 * rated it: &pl->pl_zones[rr->rr_zone]), NULL when unknown (then only a rule without zone filter
 * applies). countries: any record with a visited network (cr_mcc), or any record at all when the
 * rule names a home country. */
int cdr_fraud_applies(const cdr_fraud_rule *fr, const cdr_record *cr, const cdr_rated *rr,
                      const cdr_zone *zo);

/* Evaluate rule fr for the line's state fl on one record (arguments as cdr_fraud_applies). Returns
 * 1 when the rule hits, filling *hit (may be NULL), else 0 (a record the rule does not apply to,
 * or that arrived later than the window allows, leaves fl unchanged). Never allocates. */
int cdr_fraud_eval(const cdr_fraud_rule *fr, cdr_fraud_line *fl, const cdr_record *cr,
                   const cdr_rated *rr, const cdr_zone *zo, cdr_fraud_hit *hit);

/* The country of a visited-network MCC: countries with several MCCs map to their lowest one
 * (310-316 United States, 404-406 India, 234-235 United Kingdom, 440-441 Japan, 460-461 China);
 * every other MCC is its own country. */
uint16_t cdr_fraud_country(uint16_t mcc);

#endif
