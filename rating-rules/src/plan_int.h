/* plan_int.h - internals shared by the plan compiler, the blob codec and the plan store.
 *
 * Not a public header: only rating-rules/src includes it.
 */
#ifndef CDR_PLAN_INT_H
#define CDR_PLAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_rules.h"

/* Fill pl_band_until from pl_band_of: for every day type and minute, the first later minute of the
 * same day whose band differs, or 1440. */
void cdr_plan_fill_band_until(cdr_plan *pl);

/* Read the identity of a serialised plan without decoding it all: id, version, effective_from.
 * Checks the header (magic, format version, length, checksum). Returns 0, CDR_VERSION or
 * CDR_FORMAT (no diagnostic). */
int cdr_plan_blob_peek(const void *blob, size_t len, char id[CDR_NAME_MAX], uint32_t *version,
                       cdr_time *effective_from);

/* Day-type names: "mon" .. "sun", "holiday" (index = day type). */
extern const char *const cdr_plan_daytype_names[CDR_DAYTYPES];

#endif
