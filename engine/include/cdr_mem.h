/* cdr_mem.h - memory hints for large tables. */
#ifndef CDR_MEM_H
#define CDR_MEM_H

#include <stddef.h>

/* Ask the kernel to back the n bytes at p with transparent huge pages (fewer TLB misses on the
 * random accesses of large hash tables). Only a hint: does nothing for small n or where
 * unsupported. p may be NULL. */
void cdr_mem_hugepages(void *p, size_t n);

#endif
