/* bfloat16: float's top 16 bits. Conversion rounds to nearest, ties to even (what oneDNN's
 * reorders and VCVTNEPS2BF16 do); a NaN stays a quiet NaN. */
#ifndef ZF_BF16_H
#define ZF_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t zf_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float zf_bf16_widen(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#endif
