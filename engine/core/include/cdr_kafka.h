/* cdr_kafka.h - what every Kafka client of cdrate shares (collector, rate-stream, archive,
 * suspense replay): the one place librdkafka's error codes become cdr_err, configuration
 * objects, and the record key / partition of a charging owner.
 *
 * Include only from code that links librdkafka (every cdrate library above engine/core may).
 */
#ifndef CDR_KAFKA_H
#define CDR_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "cdr_error.h"
#include "cdr_record.h"

/* librdkafka error -> cdr_err: CDR_EXISTS (fenced by another instance with the same
 * transactional id: not retriable), CDR_EINVAL (bad configuration or argument), CDR_VERSION
 * (the broker lacks a feature), CDR_LIMIT (message too large), else CDR_KAFKA_FATAL when fatal
 * is non-zero (the client must be recreated) or CDR_KAFKA (retriable: the broker or the network
 * may come back). */
int cdr_kafka_code(rd_kafka_resp_err_t err, int fatal);

/* Set dg to "kafka: <what>: <librdkafka's text>" and return the translated code. */
int cdr_kafka_err(cdr_diag *dg, rd_kafka_resp_err_t err, const char *what);

/* The same for an rd_kafka_error_t, which it destroys; a fatal error is marked "(fatal)". */
int cdr_kafka_error(cdr_diag *dg, rd_kafka_error_t *e, const char *what);

/* A new configuration: bootstrap.servers = brokers, then the n pairs kv[i] = {name, value}, and
 * a log callback that writes librdkafka's errors (level <= 3; warnings are retried by
 * librdkafka and not shown) as "cdrate: kafka <facility>: <text>" on stderr. NULL on a bad
 * setting, with the reason in dg (CDR_EINVAL). */
rd_kafka_conf_t *cdr_kafka_conf(const char *brokers, const char *const (*kv)[2], size_t n,
                                cdr_diag *dg);

/* The partition count of topic as rk's metadata shows it: > 0; 0 when the topic does not exist;
 * -1 on error (the reason in dg: CDR_KAFKA when the brokers did not answer within timeout_ms)
 * or when *stop (may be NULL) became non-zero meanwhile (dg untouched then). Retries every 100 ms
 * while the brokers do not answer. */
int cdr_kafka_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms,
                               const volatile sig_atomic_t *stop, cdr_diag *dg);

/* ---- keys and partitions ----------------------------------------------------------------------
 * cdr.raw is keyed by the charging owner in decimal, or by the MSISDN when the record has no
 * owner (cr_owner == 0), and partitioned with murmur2 (the Java clients' partitioner, librdkafka's
 * "murmur2_random" for keyed records). Every topic whose partitions follow cdr.raw's (the counter
 * changelog) uses the same functions. */
#define CDR_KAFKA_KEY_MAX 24 /* >= CDR_NUMBER_MAX and a 20-digit decimal */

/* Write the key of cr into buf (not NUL-terminated); returns its length. */
size_t cdr_kafka_record_key(const cdr_record *cr, char buf[CDR_KAFKA_KEY_MAX]);

/* Write an owner's key (decimal) into buf; returns its length. */
size_t cdr_kafka_owner_key(uint64_t owner, char buf[CDR_KAFKA_KEY_MAX]);

/* The partition (0..nparts-1) of a key: murmur2, as the producer's partitioner picks it. */
int32_t cdr_kafka_key_partition(const void *key, size_t len, int32_t nparts);

#endif
