/* ber.h - internal to collectors/: a hand-written, bounds-checked BER (ITU-T X.690) TLV walker and
 * the 3GPP primitive types built on it (TBCD-STRING, AddressString / BCD numbers, TS 32.298
 * TimeStamp, PLMN-Id).
 *
 * Nothing here allocates. Elements are views into the caller's buffer (valid as long as it is).
 * Every function that can fail returns 0 or CDR_FORMAT; on failure the reason goes into the
 * context's cdr_diag as "<reason> at byte <offset>", the offset counted from bc_base (the start of
 * the input file), so that a rejected record names the exact octet at fault.
 *
 * Supported: tags of every class, multi-octet tag numbers up to 2^28-1, definite lengths in the
 * short form and the long form (up to 4 length octets), indefinite lengths on constructed
 * elements (closed by end-of-contents, 00 00), nested up to BER_MAX_DEPTH levels.
 */
#ifndef CDR_COLL_BER_H
#define CDR_COLL_BER_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_error.h"
#include "cdr_time.h"

#define BER_MAX_DEPTH 16 /* deepest element nesting accepted (the outermost element is depth 1) */

enum { BER_UNIVERSAL = 0, BER_APPLICATION = 1, BER_CONTEXT = 2, BER_PRIVATE = 3 };

/* One decoding run over one input: where offsets are counted from and where errors go. */
typedef struct ber_ctx {
    const uint8_t *bc_base; /* start of the input; error offsets are relative to it */
    const char *bc_name;    /* input name for cdr_diag (may be NULL) */
    cdr_diag *bc_dg;        /* receives the reason of the first error (may be NULL) */
} ber_ctx;

/* One element (TLV). The contents are [bt_val, bt_val + bt_len); for an indefinite length
 * they exclude the end-of-contents octets. bt_next is the first octet after the element. */
typedef struct ber_tlv {
    const uint8_t *bt_hdr;  /* identifier octet */
    const uint8_t *bt_val;  /* contents */
    const uint8_t *bt_next; /* first octet after the element (after end-of-contents) */
    size_t bt_len;          /* contents length */
    uint32_t bt_tag;        /* tag number */
    uint8_t bt_class;       /* BER_UNIVERSAL .. BER_PRIVATE */
    uint8_t bt_cons;        /* 1 = constructed */
    uint8_t bt_indef;       /* 1 = indefinite length */
    uint8_t bt_depth;       /* nesting depth, 1 for an outermost element */
} ber_tlv;

/* Walks the children of one constructed element. */
typedef struct ber_iter {
    const uint8_t *bi_p;
    const uint8_t *bi_end;
    uint8_t bi_depth; /* depth of the children */
} ber_iter;

/* Record an error at octet `at` (anywhere in the input) and return CDR_FORMAT. */
int ber_fail(const ber_ctx *bc, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Offset of p from the start of the input. */
static inline size_t ber_off(const ber_ctx *bc, const uint8_t *p)
{
    return (size_t)(p - bc->bc_base);
}

/* Read the element starting at p, which must lie entirely within [p, end), at nesting depth
 * `depth` (1 for an outermost element). An indefinite length is resolved by scanning for its
 * end-of-contents (the content is structurally walked, nested indefinite elements included, up to
 * BER_MAX_DEPTH). An end-of-contents marker itself is refused. Returns 0 or CDR_FORMAT. */
int ber_read(const ber_ctx *bc, const uint8_t *p, const uint8_t *end, unsigned depth, ber_tlv *t);

/* Start walking the children of constructed element t. Returns 0, or CDR_FORMAT when t is
 * primitive or its children would be deeper than BER_MAX_DEPTH. */
int ber_iter_init(const ber_ctx *bc, const ber_tlv *t, ber_iter *it);
/* Next child: 1 = *t is the child, 0 = no more children, CDR_FORMAT = malformed. */
int ber_iter_next(const ber_ctx *bc, ber_iter *it, ber_tlv *t);

/* A non-negative INTEGER no larger than max (redundant leading zero octets are accepted).
 * `what` names the field in messages. Negative, empty, longer than 64 bits or above max is
 * CDR_FORMAT. */
int ber_get_uint(const ber_ctx *bc, const ber_tlv *t, uint64_t max, uint64_t *v, const char *what);

/* A primitive OCTET STRING of exactly n octets (n = 0: any length). */
int ber_get_octets(const ber_ctx *bc, const ber_tlv *t, size_t n, const char *what);

/* TBCD-STRING (TS 29.002): two digits an octet, the first in the low nibble; a 0xF filler is
 * allowed only as the very last nibble. Nibbles 0xA..0xE (and an inner 0xF) are refused with the
 * octet that holds them. Writes the digits NUL-terminated into out (outsize bytes, digits and
 * NUL must fit) and returns the digit count (>= 0), or CDR_FORMAT. */
int ber_tbcd(const ber_ctx *bc, const uint8_t *p, size_t n, char *out, size_t outsize,
             const char *what);

/* Type of number from an AddressString / BCD number's first octet. */
enum { BER_TON_UNKNOWN = 0, BER_TON_INTERNATIONAL = 1, BER_TON_NATIONAL = 2 };

/* AddressString / ISDN-AddressString (TS 29.002) or BCDDirectoryNumber (TS 24.008 calling /
 * called party BCD number, octet 3 on): a type-of-number / numbering-plan octet (followed by
 * octet 3a when its extension bit 8 is 0), then TBCD digits. *ton gets bits 7-5 of the first
 * octet. Returns the digit count (>= 0; 0 = no digits) or CDR_FORMAT. */
int ber_get_address(const ber_ctx *bc, const ber_tlv *t, unsigned *ton, char *out, size_t outsize,
                    const char *what);

/* TS 32.298 TimeStamp: 9 octets YY MM DD hh mm ss (BCD, first digit in the high nibble), the sign
 * '+' or '-' (ASCII), then the UTC offset hh mm (BCD). Years are 2000..2099. The date must exist
 * (2026-02-30 does not), hh < 24, mm < 60, ss < 60, the offset at most 14:00. *utc is the
 * instant, *offset the stated offset in seconds east of UTC. */
int ber_get_timestamp(const ber_ctx *bc, const ber_tlv *t, cdr_time *utc, int32_t *offset,
                      const char *what);

/* PLMN-Id / MCC-MNC (TS 24.008 / 29.060): 3 octets, MCC digit 2|1, MNC digit 3|MCC digit 3,
 * MNC digit 2|1, a 2-digit MNC having 0xF as its third digit. */
int ber_plmn(const ber_ctx *bc, const uint8_t *p, uint16_t *mcc, uint16_t *mnc, const char *what);

#endif
