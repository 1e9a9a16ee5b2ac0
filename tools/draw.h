/* Pictures of the visualisation commands: display normalisation, canvases and grids, the
 * viridis colour map, PNG, SVG figures and training curves. */
#ifndef ZF_DRAW_H
#define ZF_DRAW_H

#include "cli.h"

/* An RGB canvas (h, w, 3). */
typedef struct canvas {
    int w, h;
    uint8_t *px;
} canvas;

int canvas_new(canvas *c, int w, int h, uint8_t grey);
void canvas_free(canvas *c);
/* Paste a (c, h, w) image of bytes (c = 1 or 3) at (x, y), each pixel as a zoom x zoom block. */
void canvas_paste(canvas *cv, const uint8_t *chw, int c, int h, int w, int x, int y, int zoom);
/* The canvas as a PNG file (atomically); prints the error. */
int canvas_save(const canvas *c, const char *path);

/* Signed display normalisation (projections): v / m mapped to 0..255 with zero at mid-grey,
 * clipped, m the 99.5th percentile of |v| over all channels of the image. */
void vis_signed(const float *v, int c, int h, int w, uint8_t *out);
/* Min-max normalisation to 0..255 (filters, inputs). */
void vis_minmax(const float *v, int c, int h, int w, uint8_t *out);
/* viridis(t), t in [0, 1] */
void vis_viridis(double t, uint8_t rgb[3]);
/* A Grad-CAM map cam (h, w) in viridis over the dimmed grey of the input a (c, h, w): out
 * (3, h, w). */
void vis_cam(const float *cam, const uint8_t *a, int c, int h, int w, uint8_t *out);
/* A zoom that makes a side of n pixels at least `want` pixels (>= 1). */
int vis_zoom(int n, int want);

/* Training curves: train loss and test accuracy (percent) per epoch as a two-panel SVG. */
int svg_curves(const char *path, const char *title, int n, const double *epoch, const double *loss,
               const double *acc);
/* SVG figures: a (c, h, w) picture embedded as PNG at (x, y), drawn dw x dh; a viridis colour
 * bar from lo to hi named `what` (id: unique within the figure); a categorical colour (20
 * colours, cycling). svg_save closes the memstream f (its buffer *buf) and writes it atomically. */
int svg_image(FILE *f, const uint8_t *chw, int c, int h, int w, double x, double y, double dw,
              double dh, double opacity);
void svg_colorbar(FILE *f, int id, double x, double y, double w, double h, double lo, double hi,
                  const char *what);
void vis_category(int k, uint8_t rgb[3]);
/* s as SVG text content (<, >, &, ' escaped) */
void svg_text(FILE *f, const char *s);
/* A line plot into the box at (left, top): ns series y (ns, n) over x (n), categorical colours
 * (a single series in red); non-finite points are left out. */
void svg_panel(FILE *f, double left, double top, double w, double h, const char *title,
               const char *xlabel, int n, const double *x, int ns, const double *y);
int svg_save(FILE *f, char **buf, const char *path);

#endif
