/* test_dirs.h - test support: scratch directories under the build tree (included by tests; not a
 * test of its own). */
#ifndef CDR_TEST_DIRS_H
#define CDR_TEST_DIRS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new directory CDR_BINARY_DIR/tmp-<tag>-XXXXXX into buf. */
static inline void test_tmpdir(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "%s/tmp-%s-XXXXXX", CDR_BINARY_DIR, tag);
    cr_assert_not_null(mkdtemp(buf));
}

/* Remove a test directory tree (after a passing test; a failing one keeps it for inspection). */
static inline void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[8192];
            int len = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            if (len > 0 && (size_t)len < sizeof sub)
                rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

#endif
