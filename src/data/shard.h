/* Shards (zfnet pack): one file holding an image folder's images pre-resized to a short side
 * (256 by default), encoded (JPEG, or PNG for lossless), with an index and the class and file
 * names. docs/datasets.md has the layout:
 *   0   "ZFSHARD1"
 *   8   u32 version (1), count, classes, channels, size, 0
 *   32  u64 index offset, names offset, names length, file size
 *   64  encoded images
 *   index: count x (u64 offset, u32 length, u32 label)
 *   names: NUL-terminated, the classes' then the items' (paths relative to the folder)
 * All little-endian. */
#ifndef ZF_DATA_SHARD_H
#define ZF_DATA_SHARD_H

#include "dataset.h"

#define SHARD_MAGIC  "ZFSHARD1"
#define SHARD_HEADER 64

static inline uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static inline void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
