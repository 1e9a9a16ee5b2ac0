/* Pictures for the visualisation commands: display normalisation, tiles and grids, patches,
 * the viridis colour map, PNG files. */
#ifndef ZF_VIS_H
#define ZF_VIS_H

#include "run.h"

/* An RGB canvas (h, w, 3), grey background. */
typedef struct canvas {
    int w, h;
    uint8_t *px;
} canvas;

int canvas_new(canvas *c, int w, int h, uint8_t grey);
void canvas_free(canvas *c);
/* Paste a (c, h, w) image of bytes (c = 1 or 3) at (x, y), each pixel as a zoom x zoom block. */
void canvas_paste(canvas *cv, const uint8_t *chw, int c, int h, int w, int x, int y, int zoom);
int canvas_save(const canvas *c, const char *path);

/* Signed display normalisation (projections): v / m mapped to 0..255 with zero at mid-grey,
 * clipped, m the 99.5th percentile of |v| over all channels of the image. */
void vis_signed(const float *v, int c, int h, int w, uint8_t *out);
/* Min-max normalisation to 0..255 (filters, inputs). */
void vis_minmax(const float *v, int c, int h, int w, uint8_t *out);
/* Net inputs back to pixels: x / scale + mean, the mean taken at the crop's place in the data
 * image (centre crop). */
void vis_input_pixels(const float *x, zf_shape in, const data_prep *p, uint8_t *out);
/* The window [y0, y0+size) x [x0, x0+size) of a (c, h, w) image; outside it grey (128). */
void vis_window(const uint8_t *img, int c, int h, int w, int y0, int x0, int size, uint8_t *out);
/* viridis(t), t in [0, 1] */
void vis_viridis(double t, uint8_t rgb[3]);
/* A zoom that makes a side of n pixels at least `want` pixels (>= 1). */
int vis_zoom(int n, int want);

#endif
