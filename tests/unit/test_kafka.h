/* test_kafka.h - test support for the tests that need the real broker (included by tests; not a
 * test of its own). The test program's name is given by TEST_KAFKA_NAME before the include. */
#ifndef CDR_TEST_KAFKA_H
#define CDR_TEST_KAFKA_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#define NO_BROKER                                                                                  \
    "CDR_KAFKA_BROKERS is not set: run the tests with make test or scripts/with-services"

/* The bootstrap servers of the broker `make test` started; fails the test when there is none. */
static inline const char *brokers(void)
{
    const char *b = getenv("CDR_KAFKA_BROKERS");
    if (!b || !*b)
        cr_assert_fail(NO_BROKER);
    return b;
}

/* Said before Criterion starts too: with -q (as ctest runs it) Criterion sends the runner's and
 * the tests' output to /dev/null, so the assertion's message would not be seen. */
__attribute__((constructor)) static void say_if_no_broker(void)
{
    const char *b = getenv("CDR_KAFKA_BROKERS");
    if (!b || !*b)
        fprintf(stderr, "%s: %s\n", TEST_KAFKA_NAME, NO_BROKER);
}

#endif
