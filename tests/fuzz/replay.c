/* replay.c - main() of the replay executables fuzz_replay_NAME (docs/testing.md, "Fuzzing"):
 * runs the harness's LLVMFuzzerTestOneInput once over every file in the directories (or files)
 * given on the command line, in name order, so that `make test` replays each seed corpus and every
 * crash found and fixed, in the optimised and in the sanitizer build, without libFuzzer.
 *
 * Usage: fuzz_replay_NAME [--optional] PATH...
 * A PATH after --optional may be missing (tests/fuzz/crashes/NAME/ exists only once a crash has
 * been fixed); the others must exist, and at least one input must be replayed. A broken property
 * or a sanitizer report aborts. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* The whole file in an exact-size buffer (the sanitizer then sees a read one past the input). */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *b = malloc(n ? n : 1);
    int err = !b || fread(b, 1, n, f) != n;
    fclose(f);
    if (err) {
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

static int replay_file(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file in dir (not recursively). Returns the count, or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **q = realloc(names, cap * sizeof *q);
            if (!q)
                break;
            names = q;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (replay_file(path) != 0) {
                count = -1;
                break;
            }
            count++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;
    int optional = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--optional")) {
            optional = 1;
            continue;
        }
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            if (optional)
                continue;
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        long n;
        if (S_ISDIR(sb.st_mode))
            n = replay_dir(argv[i]);
        else
            n = replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0) {
            fprintf(stderr, "replay: %s: cannot read\n", argv[i]);
            return 1;
        }
        printf("replay: %s: %ld inputs\n", argv[i], n);
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no input replayed\n");
        return 1;
    }
    printf("replay: %ld inputs, no failure\n", total);
    return 0;
}
