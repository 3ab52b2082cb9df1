/* dir_int.h - internals of the customer directory (billing/src/dir_*.c); not a public header.
 *
 * A cdr_dir keeps one growable array per record kind (dr_vec, indexed by cdr_dir_kind). Every
 * numeric record has its uint64_t id first; a credit class has its name first.
 *
 * While a file is parsed, records stay in file order. As long as a kind's ids arrive ascending
 * (the usual case for exported files) a duplicate is simply an id equal to the previous one and
 * lookups are binary searches; the first id out of order builds a hash index (dr_ids) for that
 * kind. dr_pos[kind] runs parallel to the array and remembers where each record was written, so
 * that references checked after the whole file was read are still reported at their line and
 * column. MSISDNs and IMSIs are hashed (dr_msisdns, dr_imsis) to catch duplicates as they come.
 *
 * dir_finish then sorts every kind by id and drops what only parsing needed: the finished
 * directory answers id lookups by binary search and MSISDN lookups by dr_msisdns.
 */
#ifndef DIR_INT_H
#define DIR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cdr_dir.h"

/* Open addressing with linear probing, load <= 1/2. Slot value = array index + 1 (0 = empty). */
typedef struct dir_idslot {
    uint64_t is_key;
    uint32_t is_ix1;
} dir_idslot;

typedef struct dir_idmap {
    dir_idslot *im_slots;
    size_t im_mask; /* slot count - 1; 0 when no slots */
    size_t im_n;
} dir_idmap;

typedef struct dir_strslot {
    uint32_t ss_hash;
    uint32_t ss_ix1;
} dir_strslot;

/* Keys live in the array they index: the key of entry i is base + i * stride + off. */
typedef struct dir_strmap {
    dir_strslot *sm_slots;
    size_t sm_mask;
    size_t sm_n;
} dir_strmap;

typedef struct dir_vec {
    void *dv_base;
    size_t dv_n;
    size_t dv_cap;
    size_t dv_size; /* element size */
} dir_vec;

/* Where a record came from: its line and the columns of up to four fields that are checked after
 * the whole file was read (references; see the kind's table in dir_parse.c). */
typedef struct dir_pos {
    uint32_t dp_line;
    uint32_t dp_col[4];
} dir_pos;

struct cdr_dir {
    dir_vec dr_vec[CDR_DIR_KIND_END];
    dir_idmap dr_ids[CDR_DIR_KIND_END]; /* unused for credit classes */
    dir_strmap dr_cc_names;
    dir_strmap dr_msisdns;
    dir_strmap dr_imsis;
    uint8_t dr_hashed[CDR_DIR_KIND_END]; /* 1 once a kind's ids came out of order (parsing) */
    size_t dr_hint[CDR_DIR_KIND_END];    /* index after the last id found (parsing) */
    dir_pos *dr_pos[CDR_DIR_KIND_END];   /* while parsing only; capacity = dr_vec[k].dv_cap */
    struct dir_ruleref *dr_rules; /* payment rules by (scope, target, id); built by dir_finish */
    dir_vec dr_plans;             /* cdr_dir_plan_use, one per distinct plan; built by dir_finish */
    size_t dr_lines;
};

/* The payment-rule index: one entry per rule, sorted by (scope, target, id). */
typedef struct dir_ruleref {
    uint64_t rr_target;
    uint64_t rr_id;
    uint32_t rr_ix;
    uint8_t rr_scope;
} dir_ruleref;

#define DIR_AT(dir, kind, type, i) (&((type *)(dir)->dr_vec[kind].dv_base)[i])

/* A new, empty directory (element sizes set), or NULL when out of memory. */
cdr_dir *dir_new(void);
/* Append a zeroed element to kind's array (and its dir_pos when with_pos); returns its index, or
 * -1 when out of memory. */
long dir_append(cdr_dir *dir, int kind, int with_pos);
/* The id of element i of a numeric kind. */
uint64_t dir_id_at(const cdr_dir *dir, int kind, size_t i);

/* Index of the first element of numeric kind `kind` with id `id`, + 1; 0 when there is none.
 * While parsing: by dr_ids when the kind is hashed, else by binary search (file order is sorted
 * then). After dir_finish: by binary search. */
size_t dir_find_id(const cdr_dir *dir, int kind, uint64_t id);
/* Register the id of the element just appended at ix while parsing. Returns 0, the index + 1 of an
 * earlier element with the same id (not replaced; for memberships that is the first one), or
 * SIZE_MAX when out of memory. */
size_t dir_add_id(cdr_dir *dir, int kind, size_t ix);

/* Id maps: find returns index + 1, or 0. put returns 0, or the existing index + 1 (not replaced),
 * or SIZE_MAX when out of memory. */
size_t dir_idmap_find(const dir_idmap *im, uint64_t key);
size_t dir_idmap_put(dir_idmap *im, uint64_t key, size_t ix);
void dir_idmap_free(dir_idmap *im);

size_t dir_strmap_find(const dir_strmap *sm, const dir_vec *dv, size_t off, const char *key);
size_t dir_strmap_put(dir_strmap *sm, const dir_vec *dv, size_t off, size_t ix);
void dir_strmap_free(dir_strmap *sm);

/* Collect the plan uses (dr_plans: first use by file position when dr_pos is there, the plan
 * value's column being dp_col[1] + 5), sort every kind's array by id (a no-op for arrays already
 * sorted), (re)build the MSISDN index and the payment-rule index, and drop what only parsing
 * needed (dr_pos, dr_ids, dr_imsis). Returns 0 or CDR_ENOMEM. */
int dir_finish(cdr_dir *dir);

/* Order of plan changes: by subscriber, then time. */
int dir_cmp_plan_change(const void *a, const void *b);

/* Values in the store: the record's struct with every run of zero bytes (1..255 long) written as
 * 0x00 and the run length. dir_pack needs 2 * n bytes at dst and returns the packed length;
 * dir_unpack returns 0, or -1 when src does not unpack to exactly n bytes. */
size_t dir_pack(const void *src, size_t n, unsigned char *dst);
int dir_unpack(const unsigned char *src, size_t len, void *dst, size_t n);

/* Big-endian helpers for store keys. */
void dir_put_be64(unsigned char *p, uint64_t v);
uint64_t dir_get_be64(const unsigned char *p);

/* Size of one record of each kind (the in-memory struct and the packed store value). */
extern const size_t dir_kind_size[CDR_DIR_KIND_END];

#endif
