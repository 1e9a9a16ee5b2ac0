/* Shared by the fuzz targets: the input as a real file (a memfd, so nothing is left on disk),
 * read by the same path-based readers a user's file goes through. */
#ifndef ZF_FUZZ_H
#define ZF_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* where a target puts what it read, so that reading is not optimised away */
static volatile unsigned fuzz_sink;

/* The bytes as file `slot` (0..3); returns its path (/proc/self/fd/N). */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size) {
    static int fd[4] = {-1, -1, -1, -1};
    static char path[4][64];
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("zfnet-fuzz", 0);
        if (fd[slot] < 0) abort();
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) || (size && pwrite(fd[slot], data, size, 0) != (ssize_t)size))
        abort();
    return path[slot];
}

/* The input split in two at its first 4 bytes (little-endian length of the first part). */
static inline int fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *na,
                             const uint8_t **b, size_t *nb) {
    if (size < 4) return -1;
    size_t n =
        (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    data += 4, size -= 4;
    if (n > size) n = size;
    *a = data, *na = n, *b = data + n, *nb = size - n;
    return 0;
}

#endif
