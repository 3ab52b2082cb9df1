/* mem.c - memory hints (see cdr_mem.h). */
#include <stdint.h>
#include <sys/mman.h>

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
