/* cdr_progress.h - how a long library call (a directory load, a bulk read) reports its progress
 * to whoever shows it. The library calls pr_fn now and then with the work done and the total in
 * the same unit (bytes of an input file, say; total 0 when unknown); the caller decides whether
 * and how to draw it (the cdrate command: on a terminal only, with an ETA). */
#ifndef CDR_PROGRESS_H
#define CDR_PROGRESS_H

#include <stdint.h>

typedef struct cdr_progress {
    void (*pr_fn)(void *pr_arg, uint64_t done, uint64_t total);
    void *pr_arg;
} cdr_progress;

/* Report to pr (which may be NULL: nothing happens). */
static inline void cdr_progress_report(const cdr_progress *pr, uint64_t done, uint64_t total)
{
    if (pr && pr->pr_fn)
        pr->pr_fn(pr->pr_arg, done, total);
}

#endif
