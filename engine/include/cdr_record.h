/* cdr_record.h - the call detail record, its binary wire format, its CSV layout and JSON rendering.
 *
 * The in-memory record is a fixed-size struct (no pointers) so that batches are plain arrays.
 * Strings are NUL-terminated and always fit their arrays; numbers are E.164 digits without '+'.
 * The wire format is documented in docs/cdr-wire-format.md, the CSV layout in docs/cdr-csv.md.
 */
#ifndef CDR_RECORD_H
#define CDR_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cdr_error.h"
#include "cdr_time.h"

typedef enum cdr_service {
    CDR_SVC_VOICE = 0,
    CDR_SVC_SMS,
    CDR_SVC_MMS,
    CDR_SVC_DATA,
    CDR_SVC_VIDEO,
    CDR_SVC_COUNT
} cdr_service;

typedef enum cdr_direction {
    CDR_DIR_MO = 0, /* originated by the served subscriber */
    CDR_DIR_MT,     /* terminated at the served subscriber */
    CDR_DIR_COUNT
} cdr_direction;

/* "voice", "sms", "mms", "data", "video"; NULL when out of range. */
const char *cdr_service_name(int svc);
/* Returns the service, or -1 for an unknown name. */
int cdr_service_parse(const char *s, size_t len);
/* "mo", "mt"; NULL when out of range. */
const char *cdr_direction_name(int dir);
int cdr_direction_parse(const char *s, size_t len);

#define CDR_SOURCE_MAX 24 /* network element id, including NUL */
#define CDR_ORIGIN_MAX 48 /* record id at the element, including NUL */
#define CDR_NUMBER_MAX 24 /* MSISDN / other party digits, including NUL */
#define CDR_IMSI_MAX   16 /* 15 digits + NUL */

typedef struct cdr_record {
    char cr_source[CDR_SOURCE_MAX];    /* identity, part 1: network element */
    char cr_origin_id[CDR_ORIGIN_MAX]; /* identity, part 2: record id at that element */
    char cr_msisdn[CDR_NUMBER_MAX];    /* served MSISDN, E.164 digits */
    char cr_imsi[CDR_IMSI_MAX];        /* served IMSI, may be empty */
    char cr_other[CDR_NUMBER_MAX];     /* other party (E.164 or a short code); empty for data */
    cdr_time cr_start;                 /* start of the event, UTC seconds */
    int32_t cr_utc_offset;             /* the element's UTC offset at cr_start, seconds */
    uint32_t cr_duration;              /* seconds (voice, video, data session) */
    uint64_t cr_bytes_up;              /* data volume uplink, bytes */
    uint64_t cr_bytes_down;            /* data volume downlink, bytes */
    uint64_t cr_owner;                 /* charging owner id; 0 = resolve from the directory */
    uint32_t cr_cell;                  /* cell id, 0 if unknown */
    uint16_t cr_mcc;                   /* visited network MCC, 0 if unknown (home) */
    uint16_t cr_mnc;                   /* visited network MNC */
    uint16_t cr_cause;                 /* cause for termination (3GPP / Q.850 value) */
    uint8_t cr_service;                /* cdr_service */
    uint8_t cr_direction;              /* cdr_direction */
} cdr_record;

/* Checks what every record must satisfy (known service and direction, non-empty source, origin
 * id and MSISDN, digits-only numbers). Returns 0 or CDR_FORMAT with the reason in dg. */
int cdr_record_check(const cdr_record *cr, cdr_diag *dg);

/* ---- wire format (version 1) ---------------------------------------------------------------- */

#define CDR_WIRE_VERSION 1
#define CDR_WIRE_MAX     256 /* no encoded record is longer */

/* Encode cr into buf (at least CDR_WIRE_MAX bytes). Returns the encoded length (> 0). */
size_t cdr_wire_encode(const cdr_record *cr, uint8_t *buf);
/* Decode one record from exactly len bytes. Returns 0, CDR_VERSION for an unknown version byte, or
 * CDR_FORMAT (truncated, trailing bytes, over-long string, bad value) with the reason in dg. */
int cdr_wire_decode(const uint8_t *buf, size_t len, cdr_record *cr, cdr_diag *dg);

/* The fields of a wire-format record that the bill run reads, in place: the strings point into the
 * record's bytes and are not NUL-terminated (lengths beside them); valid while those bytes are. */
typedef struct cdr_wire_view {
    const char *wv_msisdn;
    const char *wv_other;
    uint8_t wv_msisdn_len;
    uint8_t wv_other_len;
    uint8_t wv_service;
    uint8_t wv_direction;
    cdr_time wv_start;
} cdr_wire_view;

/* Make every check of cdr_wire_decode on exactly len bytes and fill wv, without copying a field
 * or writing a diagnostic. Returns 0 when cdr_wire_decode accepts the record, -1 when it refuses
 * it (cdr_wire_decode then says why). */
int cdr_wire_view_get(const uint8_t *buf, size_t len, cdr_wire_view *wv);

/* A wire file: the 8-byte header "CDRW\x01\0\0\0" then records, each a LEB128 length + payload. */
typedef struct cdr_wire_writer cdr_wire_writer;
int cdr_wire_writer_open(const char *path, cdr_wire_writer **out, cdr_diag *dg);
int cdr_wire_writer_put(cdr_wire_writer *ww, const cdr_record *cr);
/* Flushes, fsyncs and closes; accepts NULL. Returns the first write error, if any. */
int cdr_wire_writer_close(cdr_wire_writer *ww);

typedef struct cdr_wire_reader cdr_wire_reader;
int cdr_wire_reader_open(const char *path, cdr_wire_reader **out, cdr_diag *dg);
/* 1 = a record was read, 0 = end of file, < 0 = error (dg names file and byte offset). */
int cdr_wire_reader_next(cdr_wire_reader *wr, cdr_record *cr, cdr_diag *dg);
void cdr_wire_reader_close(cdr_wire_reader *wr);

/* ---- the project's CSV layout ---------------------------------------------------------------- */

/* The header line, without newline. */
extern const char cdr_csv_header[];
/* Parse one CSV line (without its line end; a trailing '\r' is accepted) into cr. Returns 0, or
 * CDR_PARSE (a malformed time or amount) / CDR_FORMAT / CDR_RANGE with the column (1-based) and
 * reason in dg (dg_line left to the caller). */
int cdr_csv_parse(const char *line, size_t len, cdr_record *cr, cdr_diag *dg);
/* Write cr as one CSV line with '\n'. Returns bytes written, or -1 when bufsize is too small
 * (512 bytes always suffice). */
int cdr_csv_format(const cdr_record *cr, char *buf, size_t bufsize);

/* ---- reading CDR files ------------------------------------------------------------------------
 */

/* Reads a wire file or a CSV file in the project's layout (told apart by the wire header; a CSV
 * header line is skipped). Lines longer than CDR_CSV_LINE_MAX bytes are rejected. */
#define CDR_CSV_LINE_MAX 4096
typedef struct cdr_reader cdr_reader;
int cdr_reader_open(const char *path, cdr_reader **out, cdr_diag *dg);
/* 1 = a record, 0 = end of file; CDR_PARSE / CDR_FORMAT / CDR_RANGE / CDR_VERSION = this record
 * is rejected (dg names file, line and column, or the byte offset for wire files) and reading may
 * go on; CDR_EIO = the file cannot be read further. */
int cdr_reader_next(cdr_reader *rd, cdr_record *cr, cdr_diag *dg);
/* Position of the last record read: line number (CSV) or byte offset (wire). */
uint64_t cdr_reader_position(const cdr_reader *rd);
/* Bytes of the file read so far (for progress against the file's size). */
uint64_t cdr_reader_bytes(const cdr_reader *rd);
void cdr_reader_close(cdr_reader *rd);

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not one (an
 * overlong form, a surrogate, a code point above U+10FFFF, a stray continuation byte or a
 * sequence cut short, which includes one cut by the NUL). Reads at most 4 bytes, never past a
 * NUL. */
int cdr_utf8_len(const unsigned char *p);
/* s as a JSON string, with its quotes, on f: '"', '\\' and control characters escaped, invalid
 * UTF-8 bytes written as U+FFFD, so that any byte sequence gives valid JSON. */
void cdr_json_write_str(FILE *f, const char *s);
/* Write cr as one JSON object (no newline) to f. */
void cdr_record_json(const cdr_record *cr, FILE *f);

#endif
