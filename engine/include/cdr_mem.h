/* cdr_mem.h - memory hints for large tables. */
#ifndef CDR_MEM_H
#define CDR_MEM_H

#include <stddef.h>

/* Ask the kernel to back the n bytes at p with transparent huge pages (fewer TLB misses on the
 * random accesses of large hash tables). Only a hint: does nothing for small n or where
 * unsupported. p may be NULL. */
void cdr_mem_hugepages(void *p, size_t n);

/* Make room in the array *arrp (a pointer to the array's pointer, elements of elem bytes, *cap
 * of them allocated) for at least need elements: the capacity doubles, starting from first.
 * Returns 0, or CDR_ENOMEM with the array and *cap unchanged. */
int cdr_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);

#endif
