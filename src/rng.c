/* Seeded random numbers: xoshiro256** (Blackman & Vigna) seeded through splitmix64. */
#include "internal.h"

#include <math.h>

static uint64_t finalize(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t zf_splitmix64(uint64_t *state) {
    return finalize(*state += 0x9e3779b97f4a7c15ULL);
}

uint64_t zf_mix64(uint64_t a, uint64_t b) {
    return finalize(a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL));
}

void zf_rng_seed(zf_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = zf_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t zf_rng_next(zf_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double zf_rng_uniform(zf_rng *r) {
    return (double)(zf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller; one value per call keeps the stream position simple to reason about. */
double zf_rng_normal(zf_rng *r) {
    double u1 = zf_rng_uniform(r), u2 = zf_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
