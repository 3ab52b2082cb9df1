/* bill_int.h - helpers shared by the bill run's modules (not a public API). */
#ifndef CDR_BILL_INT_H
#define CDR_BILL_INT_H

/* Split one CSV line into at most max fields (quoted fields with "" for a quote), in place.
 * Returns the number of fields (max + 1 when there are more; col[max] is then the column of the
 * first one too many), or -1 with *bad the column of a malformed quoted field. col[] (max + 1
 * entries) gets the 1-based column of each field. */
int bill_csv_split(char *line, char **f, int *col, int max, int *bad);

#endif
