/* Training and evaluation over in-memory datasets: the paper's recipe (ZF §3) scaled to the
 * data at hand: per-pixel mean subtraction, random crops and horizontal flips, SGD with
 * momentum and weight decay, step learning-rate schedule, dropout, and the renormalisation of
 * conv filters whose RMS exceeds a fixed radius. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* mean: (c, h, w) per-pixel mean of the dataset, in pixel units */
void zf_dataset_mean(const zf_dataset *d, float *mean) {
    zf_shape s = zf_dataset_shape(d);
    size_t px = (size_t)s.c * s.h * s.w;
    double *acc = calloc(px, sizeof *acc);
    ZF_ASSERT(acc);
    for (int i = 0; i < zf_dataset_count(d); i++) {
        const uint8_t *im = zf_dataset_image(d, i, NULL);
        for (size_t k = 0; k < px; k++) acc[k] += im[k];
    }
    for (size_t k = 0; k < px; k++) mean[k] = (float)(acc[k] / zf_dataset_count(d));
    free(acc);
}

/* One image into the net's input (c, h, w): (pixel - mean) * scale, taken from the source
 * shifted by (dy, dx) with zeros (the mean) outside, mirrored when flip. */
void zf_preprocess(float *x, const uint8_t *im, const float *mean, zf_shape s, float scale, int dy,
                   int dx, int flip) {
    for (int c = 0; c < s.c; c++)
        for (int y = 0; y < s.h; y++)
            for (int xx = 0; xx < s.w; xx++) {
                int sy = y + dy, sx = (flip ? s.w - 1 - xx : xx) + dx;
                float v = 0;
                if (sy >= 0 && sy < s.h && sx >= 0 && sx < s.w) {
                    size_t k = ((size_t)c * s.h + sy) * s.w + sx;
                    v = ((float)im[k] - mean[k]) * scale;
                }
                x[((size_t)c * s.h + y) * s.w + xx] = v;
            }
}

/* ZF §3: every conv filter whose RMS exceeds `radius` is rescaled to RMS `radius`.
 * Returns how many filters were rescaled. */
int zf_net_renormalize_filters(zf_net *net, double radius) {
    int fired = 0;
    float *params = zf_net_params(net);
    for (int t = 0; t < zf_net_num_param_tensors(net); t++) {
        zf_param_info p;
        zf_net_param_info(net, t, &p);
        if (p.is_bias || p.ndim != 4) continue;
        size_t per = p.count / (size_t)p.shape[0];
        for (int64_t o = 0; o < p.shape[0]; o++) {
            float *w = params + p.offset + (size_t)o * per;
            double ss = 0;
            for (size_t k = 0; k < per; k++) ss += (double)w[k] * w[k];
            double rms = sqrt(ss / (double)per);
            if (rms > radius) {
                float f = (float)(radius / rms);
                for (size_t k = 0; k < per; k++) w[k] *= f;
                fired++;
            }
        }
    }
    return fired;
}
