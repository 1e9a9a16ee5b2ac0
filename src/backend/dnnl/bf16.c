/* Loops over bfloat16 activations (see bf16.h). Built with AVX512-BF16 enabled: only the bf16
 * backend calls them, and it is only chosen on a CPU that has it (zf_cpu_has_bf16). */
#include "bf16.h"

#include "../../bf16.h"

/* the element of channel ch, image i, spatial index j */
static size_t at(int blocked, int c, size_t hw, int i, int ch, size_t j) {
    if (!blocked) return ((size_t)i * c + ch) * hw + j;
    int cb = (c + 15) / 16;
    return (((size_t)i * cb + ch / 16) * hw + j) * 16 + ch % 16;
}

void zf_bf16_to_nchw(float *dst, const uint16_t *src, int n, int c, int h, int w, int blocked) {
    size_t hw = (size_t)h * w;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *d = dst + ((size_t)i * c + ch) * hw;
            const uint16_t *s = src + at(blocked, c, hw, i, ch, 0);
            size_t step = blocked ? 16 : 1;
            for (size_t j = 0; j < hw; j++) d[j] = zf_bf16_widen(s[j * step]);
        }
}

void zf_bf16_from_nchw(uint16_t *dst, const float *src, int n, int c, int h, int w, int blocked) {
    size_t hw = (size_t)h * w;
    int cp = blocked ? (c + 15) / 16 * 16 : c;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < cp; ch++) {
            uint16_t *d = dst + at(blocked, c, hw, i, ch, 0);
            size_t step = blocked ? 16 : 1;
            if (ch >= c) {
                for (size_t j = 0; j < hw; j++) d[j * step] = 0;
                continue;
            }
            const float *s = src + ((size_t)i * c + ch) * hw;
            for (size_t j = 0; j < hw; j++) d[j * step] = zf_bf16_round(s[j]);
        }
}

void zf_bf16_relu(size_t count, uint16_t *y, const uint16_t *x) {
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] = zf_bf16_widen(x[i]) > 0 ? x[i] : 0;
}

void zf_bf16_relu_mask(size_t count, uint16_t *dx, const uint16_t *dy, const uint16_t *y) {
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) {
        uint16_t g = dy[i];
        dx[i] = zf_bf16_widen(y[i]) > 0 ? g : 0;
    }
}

void zf_bf16_mul(size_t count, uint16_t *y, const uint16_t *x, const float *mask) {
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] = zf_bf16_round(zf_bf16_widen(x[i]) * mask[i]);
}
