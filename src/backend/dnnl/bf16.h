/* The bf16 backend's loops over bfloat16 activations: layout conversions to and from float NCHW
 * and the elementwise ops. bf16.c is compiled for AVX512-BF16 machines (the backend runs only
 * there), so these loops vectorise with 512-bit registers. */
#ifndef ZF_DNNL_BF16_H
#define ZF_DNNL_BF16_H

#include <stddef.h>
#include <stdint.h>

/* (n, c, h, w) bfloat16, nChw16c when `blocked` (channels padded to 16) else NCHW <-> float
 * NCHW; padding channels are written zero */
void zf_bf16_to_nchw(float *dst, const uint16_t *src, int n, int c, int h, int w, int blocked);
void zf_bf16_from_nchw(uint16_t *dst, const float *src, int n, int c, int h, int w, int blocked);

/* count elements: y = max(x, 0); dx = y > 0 ? dy : 0; y = x * mask (mask float) */
void zf_bf16_relu(size_t count, uint16_t *y, const uint16_t *x);
void zf_bf16_relu_mask(size_t count, uint16_t *dx, const uint16_t *dy, const uint16_t *y);
void zf_bf16_mul(size_t count, uint16_t *y, const uint16_t *x, const float *mask);

#endif
