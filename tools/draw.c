/* Pictures of the visualisation commands: canvases, display normalisation, colours, PNG and SVG. */
#include "draw.h"

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
    zf_free(png);
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

void vis_cam(const float *cam, const uint8_t *a, int c, int h, int w, uint8_t *out) {
    size_t plane = (size_t)h * w;
    float m = 0;
    for (size_t p = 0; p < plane; p++) m = fmaxf(m, cam[p]);
    for (size_t p = 0; p < plane; p++) {
        uint8_t rgb[3];
        vis_viridis(m > 0 ? cam[p] / m : 0, rgb);
        int g = c == 3 ? (a[p] + a[plane + p] + a[2 * plane + p]) / 3 : a[p];
        for (int k = 0; k < 3; k++) out[k * plane + p] = (uint8_t)((6 * rgb[k] + 4 * g) / 10);
    }
}

int vis_zoom(int n, int want) {
    int z = n > 0 ? (want + n - 1) / n : 1;
    return z < 1 ? 1 : z;
}

/* A round step for about `want` intervals over `span`: 1, 2 or 5 times a power of ten (at least
 * 1 on an axis of whole numbers), and the decimals its multiples need. */
static double axis_step(double span, int want, int whole, int *decimals) {
    double raw = span > 0 && isfinite(span) ? span / want : 1;
    double p = pow(10, floor(log10(raw))), m = raw / p;
    double step = (m <= 1 + 1e-9 ? 1 : m <= 2 + 1e-9 ? 2 : m <= 5 + 1e-9 ? 5 : 10) * p;
    if (whole && step < 1) step = 1;
    int d = (int)ceil(-log10(step) - 1e-9);
    *decimals = d > 0 ? d : 0;
    return step;
}

/* y: the data's range widened to round ticks (a range that does not go below zero stays above
 * it); x: the data's range, ticks at the round values inside it (whole ones when every x is) */
static void panel_ticks(FILE *f, double left, double top, double w, double h, int n,
                        const double *x, double *y0, double *y1) {
    int dy, dx, whole = 1;
    double sy = axis_step(*y1 - *y0, 4, 0, &dy);
    *y0 = floor(*y0 / sy + 1e-9) * sy, *y1 = ceil(*y1 / sy - 1e-9) * sy;
    if (*y1 <= *y0) *y1 = *y0 + sy;
    long k0 = lround(*y0 / sy), k1 = lround(*y1 / sy);
    for (long k = k0; k <= k1; k++) {
        double v = (double)k * sy, py = top + h - h * (v - *y0) / (*y1 - *y0);
        fprintf(f,
                "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
                "<text x='%.1f' y='%.1f' font-size='10' text-anchor='end'>%.*f</text>\n",
                left, left + w, py, py, left - 4, py + 3, dy, v == 0 ? 0 : v);
    }
    double x0 = x[0], x1 = x[n - 1];
    for (int i = 0; i < n; i++) whole &= x[i] == floor(x[i]);
    double sx = axis_step(x1 - x0, 5, whole, &dx);
    for (long k = (long)ceil(x0 / sx - 1e-9); (double)k * sx <= x1 + 1e-9 * sx; k++) {
        double v = (double)k * sx, px = left + w * (v - x0) / (x1 - x0);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%.*f</text>\n", px,
                top + h + 14, dx, v == 0 ? 0 : v);
    }
}

void svg_panel(FILE *f, double left, double top, double w, double h, const char *title,
               const char *xlabel, int n, const double *x, int ns, const double *y) {
    double y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n * ns; i++)
        if (isfinite(y[i])) y0 = fmin(y0, y[i]), y1 = fmax(y1, y[i]);
    if (!isfinite(y0)) y0 = 0, y1 = 1;
    if (!(y1 > y0)) { /* constant: a band around it, not below zero when it is not */
        double d = y0 != 0 ? 0.5 * fabs(y0) : 0.5;
        y0 = y0 >= 0 && y0 - d < 0 ? 0 : y0 - d, y1 += d;
    }
    double x0 = x[0], x1 = x[n - 1] > x[0] ? x[n - 1] : x[0] + 1;
    double xs[2] = {x0, x1};
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#888'/>\n",
            left, top, w, h);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='13' text-anchor='middle'>%s</text>\n",
            left + w / 2, top - 8, title);
    panel_ticks(f, left, top, w, h, n > 1 && x[n - 1] > x[0] ? n : 2,
                n > 1 && x[n - 1] > x[0] ? x : xs, &y0, &y1);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%s</text>\n",
            left + w / 2, top + h + 30, xlabel);
    for (int k = 0; k < ns; k++) {
        uint8_t c[3];
        vis_category(ns == 1 ? 3 : k, c);
        fprintf(f, "<polyline fill='none' stroke='#%02x%02x%02x' stroke-width='2' points='", c[0],
                c[1], c[2]);
        for (int i = 0; i < n; i++)
            if (isfinite(y[k * n + i]))
                fprintf(f, "%.1f,%.1f ", left + w * (x[i] - x0) / (x1 - x0),
                        top + h - h * (y[k * n + i] - y0) / (y1 - y0));
        fprintf(f, "'/>\n");
    }
}

int svg_curves(const char *path, const char *title, int n, const double *epoch, const double *loss,
               const double *acc) {
    if (n < 1) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return cli_error("out of memory");
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='840' height='360' "
               "font-family='sans-serif'>\n<rect width='840' height='360' fill='white'/>\n");
    fprintf(f, "<text x='420' y='20' font-size='15' text-anchor='middle'>%s</text>\n", title);
    svg_panel(f, 70, 60, 320, 240, "training loss", "epoch", n, epoch, 1, loss);
    svg_panel(f, 490, 60, 320, 240, "test accuracy (%)", "epoch", n, epoch, 1, acc);
    fprintf(f, "</svg>\n");
    fclose(f);
    zf_error err;
    int rc = zf_write_file(path, buf, len, &err) ? cli_error("%s", err.msg) : 0;
    free(buf);
    return rc;
}

/* ---- SVG figures with embedded pictures ----------------------------------------------------- */

static void base64(FILE *f, const uint8_t *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(t[v >> 18 & 63], f), fputc(t[v >> 12 & 63], f);
        fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f), fputc(i + 2 < n ? t[v & 63] : '=', f);
    }
}

int svg_image(FILE *f, const uint8_t *chw, int c, int h, int w, double x, double y, double dw,
              double dh, double opacity) {
    zf_image im = {.w = w, .h = h, .c = c == 3 ? 3 : 1, .px = malloc((size_t)w * h * c)};
    if (!im.px) return cli_error("out of memory");
    size_t plane = (size_t)h * w;
    for (size_t p = 0; p < plane; p++) /* planar to interleaved */
        for (int k = 0; k < im.c; k++) im.px[p * im.c + k] = chw[k * plane + p];
    uint8_t *png;
    size_t len;
    zf_error err;
    int rc = zf_png_encode(&im, &png, &len, &err) ? cli_error("%s", err.msg) : 0;
    free(im.px);
    if (rc) return rc;
    fprintf(f,
            "<image x='%.1f' y='%.1f' width='%.1f' height='%.1f' opacity='%.2f' "
            "preserveAspectRatio='none' style='image-rendering:pixelated' href='data:image/png;"
            "base64,",
            x, y, dw, dh, opacity);
    base64(f, png, len);
    fprintf(f, "'/>\n");
    zf_free(png);
    return 0;
}

void svg_colorbar(FILE *f, int id, double x, double y, double w, double h, double lo, double hi,
                  const char *what) {
    fprintf(f, "<defs><linearGradient id='cb%d'>", id);
    for (int i = 0; i <= 10; i++) {
        uint8_t rgb[3];
        vis_viridis(i / 10.0, rgb);
        fprintf(f, "<stop offset='%d%%' stop-color='#%02x%02x%02x'/>", 10 * i, rgb[0], rgb[1],
                rgb[2]);
    }
    fprintf(f,
            "</linearGradient></defs>\n<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
            "fill='url(#cb%d)'/>\n",
            x, y, w, h, id);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='10'>%.3g</text>", x, y + h + 11, lo);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='end'>%.3g</text>", x + w,
            y + h + 11, hi);
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%s</text>\n", x + w / 2,
            y + h + 11, what);
}

void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '\'')
            fputs("&apos;", f);
        else
            fputc(*s, f);
    }
}

void vis_category(int k, uint8_t rgb[3]) {
    static const uint8_t t[20][3] = {
        {31, 119, 180},  {255, 127, 14},  {44, 160, 44},   {214, 39, 40},   {148, 103, 189},
        {140, 86, 75},   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},  {23, 190, 207},
        {174, 199, 232}, {255, 187, 120}, {152, 223, 138}, {255, 152, 150}, {197, 176, 213},
        {196, 156, 148}, {247, 182, 210}, {199, 199, 199}, {219, 219, 141}, {158, 218, 229}};
    memcpy(rgb, t[(k % 20 + 20) % 20], 3);
}

int svg_save(FILE *f, char **buf, const char *path) {
    fclose(f); /* sets *buf */
    zf_error err;
    int rc = zf_write_file(path, *buf, strlen(*buf), &err) ? cli_error("%s", err.msg) : 0;
    free(*buf);
    *buf = NULL;
    return rc;
}
