/* Pictures for the visualisation commands. */
#include "vis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int canvas_new(canvas *c, int w, int h, uint8_t grey) {
    c->w = w, c->h = h;
    c->px = malloc((size_t)w * h * 3);
    if (!c->px) return cli_error("out of memory for a %dx%d picture", w, h);
    memset(c->px, grey, (size_t)w * h * 3);
    return 0;
}

void canvas_free(canvas *c) {
    free(c->px);
    c->px = NULL;
}

void canvas_paste(canvas *cv, const uint8_t *chw, int c, int h, int w, int x, int y, int zoom) {
    size_t plane = (size_t)h * w;
    for (int yy = 0; yy < h * zoom; yy++)
        for (int xx = 0; xx < w * zoom; xx++) {
            int py = y + yy, px = x + xx;
            if (py < 0 || py >= cv->h || px < 0 || px >= cv->w) continue;
            size_t s = (size_t)(yy / zoom) * w + xx / zoom;
            uint8_t *d = cv->px + ((size_t)py * cv->w + px) * 3;
            for (int k = 0; k < 3; k++) d[k] = chw[(c == 3 ? k : 0) * plane + s];
        }
}

int canvas_save(const canvas *c, const char *path) {
    zf_image im = {.w = c->w, .h = c->h, .c = 3, .px = c->px};
    uint8_t *png;
    size_t len;
    zf_error err;
    if (zf_png_encode(&im, &png, &len, &err)) return cli_error("%s: %s", path, err.msg);
    int rc = zf_write_file(path, png, len, &err) ? cli_error("%s", err.msg) : 0;
    free(png);
    return rc;
}

static int by_value(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void vis_signed(const float *v, int c, int h, int w, uint8_t *out) {
    size_t n = (size_t)c * h * w;
    float *mag = malloc(sizeof(float) * (n ? n : 1));
    double m = 0;
    if (mag) { /* the 99.5th percentile of |v|: one hot pixel does not grey out the rest */
        for (size_t i = 0; i < n; i++) mag[i] = fabsf(v[i]);
        qsort(mag, n, sizeof(float), by_value);
        m = n ? mag[(size_t)(0.995 * (double)(n - 1))] : 0;
        if (m <= 0 && n) m = mag[n - 1];
        free(mag);
    } else
        for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    for (size_t i = 0; i < n; i++) {
        double t = m > 0 ? 128 + 127 * v[i] / m : 128;
        out[i] = (uint8_t)lround(fmin(255, fmax(0, t)));
    }
}

void vis_minmax(const float *v, int c, int h, int w, uint8_t *out) {
    size_t n = (size_t)c * h * w;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    for (size_t i = 0; i < n; i++)
        out[i] = hi > lo ? (uint8_t)lround(255 * (v[i] - lo) / (hi - lo)) : 128;
}

void vis_input_pixels(const float *x, zf_shape in, const data_prep *p, uint8_t *out) {
    int oy = (p->shape.h - in.h) / 2, ox = (p->shape.w - in.w) / 2;
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < in.h; y++)
            for (int xx = 0; xx < in.w; xx++) {
                size_t k = ((size_t)c * in.h + y) * in.w + xx;
                int sy = y + oy, sx = xx + ox;
                double m = p->mean && sy >= 0 && sy < p->shape.h && sx >= 0 && sx < p->shape.w
                               ? p->mean[((size_t)c * p->shape.h + sy) * p->shape.w + sx]
                               : 0;
                double v = x[k] / (p->scale > 0 ? p->scale : 1) + m;
                out[k] = (uint8_t)lround(fmin(255, fmax(0, v)));
            }
}

void vis_window(const uint8_t *img, int c, int h, int w, int y0, int x0, int size, uint8_t *out) {
    for (int k = 0; k < c; k++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                int sy = y0 + y, sx = x0 + x;
                out[((size_t)k * size + y) * size + x] = sy < 0 || sy >= h || sx < 0 || sx >= w
                                                             ? 128
                                                             : img[((size_t)k * h + sy) * w + sx];
            }
}

/* A degree-6 fit of matplotlib's viridis (Matt Zucker), good to about 1/255. */
void vis_viridis(double t, uint8_t rgb[3]) {
    static const double c[7][3] = {{0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
                                   {0.1050930431085774, 1.404613529898575, 1.384590162594685},
                                   {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
                                   {-4.634230498983486, -5.799100973351585, -19.33244095627987},
                                   {6.228269936347081, 14.17993336680509, 56.69055260068105},
                                   {4.776384997670288, -13.74514537774601, -65.35303263337234},
                                   {-5.435455855934631, 4.645852612178535, 26.3124352495832}};
    t = fmin(1, fmax(0, t));
    for (int k = 0; k < 3; k++) {
        double v = c[6][k];
        for (int i = 5; i >= 0; i--) v = c[i][k] + t * v;
        rgb[k] = (uint8_t)lround(255 * fmin(1, fmax(0, v)));
    }
}

int vis_zoom(int n, int want) {
    int z = n > 0 ? (want + n - 1) / n : 1;
    return z < 1 ? 1 : z;
}
