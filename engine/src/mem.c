/* mem.c - memory hints (see cdr_mem.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cdr_error.h"
#include "cdr_mem.h"

void cdr_mem_hugepages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = 2u << 20;
    if (!p || n < 2 * huge)
        return;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(huge - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

int cdr_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : (first ? first : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return CDR_ENOMEM;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return CDR_ENOMEM;
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *n = realloc(old, ncap * elem);
    if (!n)
        return CDR_ENOMEM;
    memcpy(arrp, &n, sizeof n);
    *cap = ncap;
    return 0;
}
