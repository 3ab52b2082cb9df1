/* coll_int.h - internal to collectors/: the decoder interface every format implements. */
#ifndef CDR_COLL_INT_H
#define CDR_COLL_INT_H

#include "cdr_coll.h"

/* One format. decode() walks a whole input and emits one item per input record (see
 * cdr_coll_decode). state is the format's own per-decoder state (may be NULL). */
typedef struct coll_format_ops {
    const char *fo_name;
    int (*fo_init)(cdr_coll_decoder *d, cdr_diag *dg); /* may be NULL */
    void (*fo_fini)(cdr_coll_decoder *d);              /* may be NULL */
    int (*fo_decode)(cdr_coll_decoder *d, const char *name, const uint8_t *buf, size_t len,
                     cdr_coll_emit_fn emit, void *arg);
} coll_format_ops;

struct cdr_coll_decoder {
    const coll_format_ops *cd_ops;
    cdr_coll_config cd_cfg;
    cdr_tz cd_tz; /* cd_cfg.cc_timezone, loaded */
    void *cd_state;
};

extern const coll_format_ops coll_csv_ops;        /* dec_csv.c */
extern const coll_format_ops coll_asterisk_ops;   /* dec_asterisk.c */
extern const coll_format_ops coll_freeswitch_ops; /* dec_freeswitch.c */
extern const coll_format_ops coll_3gpp_ops;       /* dec_3gpp.c */

/* Local wall-clock time (no offset) in the decoder's zone -> UTC instant and offset. For times in
 * a DST gap or fold the earlier offset is used (documented in docs/collectors.md). */
void coll_local_to_utc(const cdr_coll_decoder *d, int64_t local_secs, cdr_time *utc,
                       int32_t *offset);

/* Record identity for formats without an id: a hex hash of the key fields into cr_origin_id. */
void coll_hash_identity(cdr_record *cr, const void *key, size_t keylen);

#endif
