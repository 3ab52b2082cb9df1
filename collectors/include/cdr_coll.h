/* cdr_coll.h - collectors (mediation): decode network-element files, validate and normalise,
 * de-duplicate, and account for every input record.
 *
 * A decoder turns the bytes of one input (a whole file, or whole lines of a stream) into items:
 * a record, a rejection (with position and reason) or a non-billable record (e.g. an unanswered
 * call). Every input record yields exactly one item, so that per file
 *     read = published + rejected + duplicate + non-billable
 * holds by construction. Formats: docs/collectors.md.
 */
#ifndef CDR_COLL_H
#define CDR_COLL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_error.h"
#include "cdr_record.h"
#include "cdr_store.h"

typedef enum cdr_coll_format {
    CDR_FMT_CSV = 0,    /* the project's own CSV layout (docs/cdr-csv.md) */
    CDR_FMT_ASTERISK,   /* Asterisk cdr_csv Master.csv */
    CDR_FMT_FREESWITCH, /* FreeSWITCH mod_cdr_csv (default template or a configured mapping) */
    CDR_FMT_3GPP,       /* 3GPP TS 32.297 CDR file with TS 32.298 BER records */
    CDR_FMT_COUNT
} cdr_coll_format;

/* "csv", "asterisk", "freeswitch", "3gpp"; NULL when out of range. */
const char *cdr_coll_format_name(int fmt);
/* Returns the format or -1. */
int cdr_coll_format_parse(const char *s);

/* ---- configuration -------------------------------------------------------------------------- */

/* Number normalisation to E.164 (digits, no '+'). China: cc "86", trunk "0", international "00". */
typedef struct cdr_coll_numbering {
    char nu_country_code[8]; /* "86" */
    char nu_trunk_prefix[8]; /* "0": national numbers 0AB.. -> cc + AB.. */
    char nu_intl_prefix[8];  /* "00": international 00CC.. -> CC.. */
    uint8_t nu_min_national; /* national significant numbers shorter than this are short codes */
} cdr_coll_numbering;

typedef struct cdr_coll_config {
    char cc_source[CDR_SOURCE_MAX]; /* network element id written into cr_source */
    char cc_timezone[64];           /* IANA zone of element-local times (Asterisk, FreeSWITCH) */
    cdr_coll_numbering cc_numbering;
    cdr_time cc_window_from; /* accept events starting in [from, to); 0/0 = no window */
    cdr_time cc_window_to;
    uint32_t cc_max_duration; /* seconds; longer is rejected (default 86400) */
    /* FreeSWITCH: column mapping "name,name,..." of a custom template; empty = the default one */
    char cc_fs_columns[1024];
} cdr_coll_config;

/* Defaults: China numbering, Asia/Shanghai, no window, 24 h maximum duration, source "element". */
void cdr_coll_config_defaults(cdr_coll_config *cc);

/* ---- decoding -------------------------------------------------------------------------------- */

typedef enum cdr_coll_kind {
    CDR_ITEM_RECORD = 0, /* a billable record, validated and normalised */
    CDR_ITEM_REJECTED,   /* malformed or invalid: ci_diag says where and why */
    CDR_ITEM_NONBILLABLE /* well-formed but not billable (unanswered, zero length): ci_diag says why
                          */
} cdr_coll_kind;

typedef struct cdr_coll_item {
    uint8_t ci_kind;    /* cdr_coll_kind */
    cdr_record ci_rec;  /* valid for CDR_ITEM_RECORD (and as far as decoded otherwise) */
    uint64_t ci_line;   /* 1-based line (text formats), 0 for binary */
    uint64_t ci_offset; /* byte offset of the record in the input */
    uint64_t ci_length; /* its length in bytes (the original bytes for cdr.rejected) */
    uint64_t ci_index;  /* 0-based index of the record in the input */
    cdr_diag ci_diag;   /* reason, with file, line and column (or offset) */
} cdr_coll_item;

/* Called once per item, in input order. A non-zero return stops decoding and is returned. */
typedef int (*cdr_coll_emit_fn)(void *arg, const cdr_coll_item *ci);

typedef struct cdr_coll_decoder cdr_coll_decoder;

/* Create a decoder for format fmt. name is the input's name for diagnostics. Loads the time zone
 * (not thread-safe while creating). Returns 0, CDR_EINVAL (bad config, e.g. an unknown
 * FreeSWITCH column), CDR_NOTFOUND (unknown time zone). */
int cdr_coll_decoder_create(int fmt, const cdr_coll_config *cc, cdr_coll_decoder **out,
                            cdr_diag *dg);
void cdr_coll_decoder_destroy(cdr_coll_decoder *d);

/* Decode one whole input held in memory (e.g. an mmap'd file). Items go to emit in order;
 * malformed records become CDR_ITEM_REJECTED items and decoding goes on (a text line or a BER
 * record whose length is known); a structural error that makes the rest unreadable (a broken
 * 3GPP file header, a length past the end) ends the input with one final rejected item covering
 * the remaining bytes. Returns 0, or what emit returned. Thread-safe for distinct decoders. */
int cdr_coll_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                    cdr_coll_emit_fn emit, void *arg);

/* ---- validation and normalisation (used by every decoder) ------------------------------------ */

/* Normalise a dialled or presented number to E.164 digits under nu: strips '+', spaces and
 * dashes; "00CC..." -> "CC..."; "0AB..." -> cc + "AB..."; a national number without prefix gets
 * cc; short codes (fewer digits than nu_min_national) are kept as they are. Returns 0 or
 * CDR_FORMAT (empty, non-digits, longer than 15 digits). */
int cdr_coll_normalise_number(const cdr_coll_numbering *nu, const char *in, size_t len, char *out,
                              size_t outsize);

/* Check a decoded record against the config: required fields, time window, duration bounds.
 * Returns 0, or CDR_FORMAT / CDR_RANGE with the reason in dg. */
int cdr_coll_validate(const cdr_coll_config *cc, const cdr_record *cr, cdr_diag *dg);

/* ---- accounting ------------------------------------------------------------------------------ */

typedef struct cdr_coll_stats {
    uint64_t cs_read;
    uint64_t cs_published;
    uint64_t cs_rejected;
    uint64_t cs_duplicate;
    uint64_t cs_nonbillable;
} cdr_coll_stats;

/* One JSON object (no newline): {"read":..,"published":..,"rejected":..,...}. */
void cdr_coll_stats_json(const cdr_coll_stats *cs, FILE *f);

#endif
