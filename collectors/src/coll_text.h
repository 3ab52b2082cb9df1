/* coll_text.h - internal to collectors/: what the line-oriented decoders (csv, asterisk,
 * freeswitch) share: the line walker, quoted-CSV fields, element-local times, whole numbers,
 * telephone numbers and validation that name the failing field. Nothing here allocates. */
#ifndef CDR_COLL_TEXT_H
#define CDR_COLL_TEXT_H

#include <stdint.h>

#include "coll_int.h"

/* Lines longer than this (without their line end) are rejected whole, in every text format. */
#define COLL_LINE_MAX CDR_CSV_LINE_MAX

/* Mark ci rejected with code at column col of its line; the rest is the printf-style reason. */
#define COLL_REJECT(ci, name, code, col, ...)                                                      \
    ((ci)->ci_kind = CDR_ITEM_REJECTED,                                                            \
     (void)cdr_diag_set(&(ci)->ci_diag, (code), (name), (int)(ci)->ci_line, (col), __VA_ARGS__))
/* Mark ci non-billable (dg_code 0) with the reason, pointing at the deciding column. */
#define COLL_NONBILLABLE(ci, name, col, ...)                                                       \
    ((ci)->ci_kind = CDR_ITEM_NONBILLABLE,                                                         \
     (void)cdr_diag_set(&(ci)->ci_diag, CDR_OK, (name), (int)(ci)->ci_line, (col), __VA_ARGS__))

/* Mark ci rejected with the diagnostic already in ci_diag (from a function that does not know
 * the position, e.g. cdr_csv_parse or coll_validate): sets its file, line and, when col > 0,
 * column. */
void coll_place(cdr_coll_item *ci, const char *name, int col);

/* ---- the line walker --------------------------------------------------------------------------
 */

/* Decode one line (len bytes at line, its '\n' and a trailing '\r' removed, never empty, at most
 * COLL_LINE_MAX) into ci. ci arrives as CDR_ITEM_RECORD with ci_line/offset/length/index set and
 * a clear diagnostic; the function fills ci_rec (zeroing it first) and, for a rejected or
 * non-billable line, ci_kind and ci_diag (COLL_REJECT, COLL_NONBILLABLE). ctx is the format's. */
typedef void (*coll_line_fn)(cdr_coll_decoder *d, const char *name, const char *line, size_t len,
                             cdr_coll_item *ci, void *ctx);

/* Walk buf line by line: '\n' or "\r\n" ends a line (the last may lack it), blank lines are
 * skipped, line 1 is skipped when it equals header (may be NULL), a line longer than
 * COLL_LINE_MAX is rejected at column 1, every other line goes through fn. One item per
 * remaining line goes to emit, in order. Returns 0 or the first non-zero emit result. */
int coll_text_decode(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                     const char *header, coll_line_fn fn, void *ctx, cdr_coll_emit_fn emit,
                     void *arg);

/* ---- quoted CSV fields (Asterisk, FreeSWITCH) --------------------------------------------------
 */

/* One field of a line: its content (between the quotes when quoted, "" escapes left as they
 * are) and the 1-based column of its first byte (the opening quote when quoted). */
typedef struct coll_field {
    const char *fl_p;
    uint32_t fl_len;
    uint32_t fl_col;
} coll_field;

/* Split line into fields: a field is either bare (no '"' inside) or wholly double-quoted with ""
 * standing for one quote; fields are separated by ','. Control characters other than TAB are
 * refused anywhere. Returns the number of fields (<= max, f[0..n-1] filled); max + 1 when the line
 * has more than max fields (*col = column of field max + 1); or -1 for a malformed line (*col
 * and *msg say where and why). */
int coll_split(const char *line, size_t len, coll_field *f, int max, int *col, const char **msg);

/* 1 when field fl equals the NUL-terminated s. */
int coll_field_is(const coll_field *fl, const char *s);

/* ---- values ---------------------------------------------------------------------------------- */

/* Parse a whole number of at most max. Returns 0, or a COLL_UINT_* reason. */
enum { COLL_UINT_OK = 0, COLL_UINT_EMPTY, COLL_UINT_NEGATIVE, COLL_UINT_SYNTAX, COLL_UINT_RANGE };
int coll_parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out);
/* Reject ci for a coll_parse_uint failure err of field `what` at col ("billsec is negative"...). */
void coll_reject_uint(cdr_coll_item *ci, const char *name, int col, const char *what, int err,
                      uint64_t max);

/* Parse a wall-clock time "YYYY-MM-DD HH:MM:SS" (or with 'T') into seconds since 1970-01-01
 * 00:00:00 of the same clock. Returns 0, CDR_FORMAT (shape) or CDR_RANGE (2026-02-30, 24:00:00). */
int coll_parse_local(const char *s, size_t n, int64_t *local);
/* Reject ci for a coll_parse_local failure rc of field `what` at col. */
void coll_reject_time(cdr_coll_item *ci, const char *name, int col, const char *what, int rc);

/* Element-local time -> UTC as coll_local_to_utc does, with a one-entry cache of the stretch of
 * local times around the last look-up where the zone keeps one offset (at least two days away
 * from any change, so the cached answer is exactly coll_local_to_utc's). Start from a zeroed
 * cache (which is empty). */
typedef struct coll_tzcache {
    int64_t tc_lo, tc_hi; /* local seconds [lo, hi) map with tc_off */
    int32_t tc_off;
} coll_tzcache;
void coll_tzcache_fill(const cdr_coll_decoder *d, coll_tzcache *tc, int64_t local, cdr_time *utc,
                       int32_t *offset);
static inline void coll_local_utc(const cdr_coll_decoder *d, coll_tzcache *tc, int64_t local,
                                  cdr_time *utc, int32_t *offset)
{
    if (local >= tc->tc_lo && local < tc->tc_hi) {
        *utc = local - tc->tc_off;
        *offset = tc->tc_off;
    } else {
        coll_tzcache_fill(d, tc, local, utc, offset);
    }
}

/* Set cr_origin_id from an element's record id: used as it is when it has 1..CDR_ORIGIN_MAX-1
 * printable ASCII characters other than ',', '"' and '\\', otherwise its hash
 * (coll_hash_identity). */
void coll_origin_id(cdr_record *cr, const char *id, size_t n);

/* ---- numbers and validation (normalise.c) ---------------------------------------------------- */

enum {
    COLL_NUM_OK = 0,
    COLL_NUM_EMPTY,  /* nothing but separators */
    COLL_NUM_CHAR,   /* a character other than digits, '+', ' ', '-', '(', ')' */
    COLL_NUM_PLUS,   /* '+' other than first */
    COLL_NUM_PREFIX, /* nothing usable after the international or trunk prefix */
    COLL_NUM_LONG    /* longer than 15 digits once normalised */
};
/* cdr_coll_normalise_number with a reason: returns a COLL_NUM_* value; *bad (may be NULL) is the
 * offset of the offending character for COLL_NUM_CHAR / COLL_NUM_PLUS. intl != 0 treats the
 * number as already international (as if it began with '+'): the project's CSV carries E.164. */
int coll_number(const cdr_coll_numbering *nu, const char *in, size_t len, int intl, char *out,
                size_t outsize, size_t *bad);
/* Reject ci for a coll_number failure err of field `what` (value in/len) at col. */
void coll_reject_number(cdr_coll_item *ci, const char *name, int col, const char *what,
                        const char *in, size_t len, int err, size_t bad);
/* Normalise field fl (a national or international number) into dst (CDR_NUMBER_MAX bytes); on
 * failure reject ci unless quiet, which leaves dst empty (non-billable records carry what could
 * be decoded). Returns 0 or -1. */
int coll_field_number(const cdr_coll_decoder *d, const char *name, const coll_field *fl,
                      const char *what, char *dst, cdr_coll_item *ci, int quiet);

/* The field cdr_coll_validate found wrong, so that a decoder can point at its column. */
typedef enum coll_vfield {
    COLL_VF_NONE = 0,
    COLL_VF_SERVICE,
    COLL_VF_DIRECTION,
    COLL_VF_SOURCE,
    COLL_VF_ORIGIN,
    COLL_VF_MSISDN,
    COLL_VF_IMSI,
    COLL_VF_OTHER,
    COLL_VF_START,
    COLL_VF_DURATION
} coll_vfield;
/* cdr_coll_validate, also saying which field failed (*field, COLL_VF_NONE on success). */
int coll_validate(const cdr_coll_config *cc, const cdr_record *cr, cdr_diag *dg,
                  coll_vfield *field);

#endif
