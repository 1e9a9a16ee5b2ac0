/* The reference backend's kernels, in float (the backend) and double (for gradient checks). */
#ifndef ZF_REF_H
#define ZF_REF_H

#include "../../internal.h"

#define ZF_REF_DECLARE(REAL, SFX)                                                                  \
    void zf_ref_conv_forward_##SFX(const conv_desc *d, REAL *y, const REAL *x, const REAL *w,      \
                                   const REAL *b, void *ws);                                       \
    void zf_ref_conv_backward_data_##SFX(const conv_desc *d, REAL *dx, const REAL *dy,             \
                                         const REAL *w, void *ws);                                 \
    void zf_ref_conv_backward_weights_##SFX(const conv_desc *d, REAL *dw, REAL *db,                \
                                            const REAL *dy, const REAL *x, void *ws);              \
    void zf_ref_pool_forward_##SFX(const pool_desc *d, REAL *y, int32_t *sw, const REAL *x);       \
    void zf_ref_pool_backward_##SFX(const pool_desc *d, REAL *dx, const REAL *dy,                  \
                                    const int32_t *sw);                                            \
    void zf_ref_lrn_forward_##SFX(const lrn_desc *d, REAL *y, REAL *scale, const REAL *x);         \
    void zf_ref_lrn_backward_##SFX(const lrn_desc *d, REAL *dx, const REAL *dy, const REAL *x,     \
                                   const REAL *scale);                                             \
    void zf_ref_relu_forward_##SFX(size_t count, REAL *y, const REAL *x);                          \
    void zf_ref_relu_mask_##SFX(size_t count, REAL *dx, const REAL *dy, const REAL *y);            \
    void zf_ref_fc_forward_##SFX(const fc_desc *d, REAL *y, const REAL *x, const REAL *w,          \
                                 const REAL *b);                                                   \
    void zf_ref_fc_backward_data_##SFX(const fc_desc *d, REAL *dx, const REAL *dy, const REAL *w); \
    void zf_ref_fc_backward_weights_##SFX(const fc_desc *d, REAL *dw, REAL *db, const REAL *dy,    \
                                          const REAL *x);                                          \
    void zf_ref_mul_##SFX(size_t count, REAL *y, const REAL *x, const REAL *mask);                 \
    void zf_ref_softmax_forward_##SFX(int n, int classes, REAL *p, const REAL *x);                 \
    void zf_ref_softmax_backward_##SFX(int n, int classes, REAL *dx, const REAL *dy, const REAL *p);

ZF_REF_DECLARE(float, f32)
ZF_REF_DECLARE(double, f64)

/* workspace bytes for conv with elements of `elem` bytes */
size_t zf_ref_conv_workspace_elems(const conv_desc *d);

#endif
