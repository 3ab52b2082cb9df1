/* file.c - small file-system helpers (cdr_file.h). */
#include <fcntl.h>
#include <unistd.h>

#include "cdr_file.h"

int cdr_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}
