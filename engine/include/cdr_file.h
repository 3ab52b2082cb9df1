/* cdr_file.h - small file-system helpers shared by the writers of durable files. */
#ifndef CDR_FILE_H
#define CDR_FILE_H

/* fsync the directory at path, so that the names created or renamed in it are durable.
 * Returns 0, or -1 with errno set. */
int cdr_fsync_dir(const char *path);

#endif
