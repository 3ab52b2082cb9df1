/* cdr_money.h - money as integers.
 *
 * An amount is an int64_t count of micro-units (10^-6 of the currency unit): 1.50 is 1500000.
 * No floating point anywhere. Every division that can leave a remainder names its rounding rule.
 */
#ifndef CDR_MONEY_H
#define CDR_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t cdr_money;

#define CDR_MICRO 1000000LL

typedef enum cdr_rounding {
    CDR_ROUND_HALF_UP = 0, /* ties away from zero: 2.5 -> 3, -2.5 -> -3 */
    CDR_ROUND_HALF_EVEN,   /* ties to even: 2.5 -> 2, 3.5 -> 4 */
    CDR_ROUND_UP,          /* away from zero (ceiling for positives) */
    CDR_ROUND_DOWN,        /* toward zero (truncation) */
    CDR_ROUND_COUNT
} cdr_rounding;

/* "half-up", "half-even", "up", "down"; NULL for an out-of-range value. */
const char *cdr_rounding_name(cdr_rounding r);
/* Parse a rounding name; returns 0 or CDR_EINVAL. */
int cdr_rounding_parse(const char *s, cdr_rounding *out);

/* num / den rounded by rule r. den > 0. The quotient must fit in int64 (CDR_RANGE otherwise). */
int cdr_div_round(__int128 num, int64_t den, cdr_rounding r, int64_t *out);

/* Round v to a multiple of quantum (quantum > 0; 1 leaves v unchanged, 10000 rounds to cents). */
int64_t cdr_round_to(int64_t v, int64_t quantum, cdr_rounding r);

/* Parse a decimal amount such as "12", "0.15", "-3.000001" into micro-units. More than six
 * fractional digits is CDR_RANGE (never silently rounded); anything that is not a plain decimal
 * number is CDR_PARSE. Returns 0 on success. */
int cdr_money_parse(const char *s, cdr_money *out);

/* Format v with `decimals` (0..6) fractional digits, rounding by r when decimals < 6.
 * Writes at most bufsize bytes including the NUL; returns buf. */
const char *cdr_money_format(cdr_money v, int decimals, cdr_rounding r, char *buf, size_t bufsize);

/* v as text for people and JSON: six decimals with trailing zeros trimmed down to two ("1.50",
 * "0.000125", "-3.00"). Returns buf. */
const char *cdr_money_text(cdr_money v, char *buf, size_t bufsize);

#endif
