/* cdr_gen_3gpp.h - synthetic 3GPP TS 32.297 CDR files with TS 32.298 BER records, for test
 * fixtures, `make demo` and `cdrate bench collect --format 3gpp`.
 *
 * Voice records become MSC MOCallRecord / MTCallRecord (TS 32.250), data records PGWRecord (or
 * SGWRecord) (TS 32.251); what is written and how the collector reads it back is in
 * docs/collectors.md, section "3GPP TS 32.297 / 32.298". The encoder lives in bench/ rather than
 * tests/ because the demo and the benchmark need 3GPP spool files too.
 */
#ifndef CDR_GEN_3GPP_H
#define CDR_GEN_3GPP_H

#include <stddef.h>

#include "cdr_bench.h"

#define CDR_GEN_3GPP_INDEFINITE 0x1u /* constructed elements with indefinite lengths (00 00) */
#define CDR_GEN_3GPP_SGW        0x2u /* data as SGWRecord with listOfTrafficVolumes, not PGW */
#define CDR_GEN_3GPP_SKIP       0x4u /* leave out records the format cannot carry, not fail */

/* Append one TS 32.297 file holding recs[0..n-1] to out: a file header (Rel-16 high, Rel-15 low,
 * file sequence number 1, node 10.0.0.1), then per record a CDR header (Rel-15, BER, TS 32.250
 * or 32.251) and the record. Definite lengths unless CDR_GEN_3GPP_INDEFINITE. Times are written
 * in each record's own UTC offset (whole minutes, at most 14 h, years 2000..2099); numbers as
 * international ISDN numbers; the identifiers the decoder turns into cr_origin_id are derived
 * from cr_origin_id (a decimal id as itself, anything else hashed). Returns 0; CDR_EINVAL for a
 * record the format cannot carry (SMS, MMS, video, a time or number out of range) unless
 * CDR_GEN_3GPP_SKIP, or a file over 4 GiB (out is then left as it was); CDR_ENOMEM. */
int cdr_gen_format_3gpp_ex(const cdr_record *recs, size_t n, cdr_buf *out, unsigned flags);

#endif
