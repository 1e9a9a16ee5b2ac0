/* Occlusion sensitivity (ZF section 4.2, Fig. 7): a grey square slides over the image; per
 * position, the total activation of one feature map, the probability of the class, and the
 * most probable label.
 *
 * The fast way computes only what the square changes. A square alters a rectangle of the
 * input, so each window layer (conv, max pool) changes only the outputs whose windows meet
 * the rectangle changed below it, and the pointwise layers after it (ReLU, LRN across
 * channels, dropout at inference) change the same outputs. The net is cut into segments (a
 * window layer and the pointwise ones after it), each built once as a small net over a fixed
 * window (padding 0, floor mode: the window's input is cut from the padded activations); a
 * square's window at each layer is placed over the outputs it changes (moved inward at the
 * borders, the extra outputs recomputed unchanged). A segment's input is the unoccluded
 * activation with the segment below's window pasted over it. From the first layer whose
 * window would be the whole output (the fc layers at the latest), a tail net runs on the whole
 * patched activation. The plain way sends every occluded copy through the whole net. */
#include "analysis.h"

#include <float.h>
#include <math.h>
#include <string.h>

zf_status zf_occlusion_grid(zf_shape in, int size, int stride, int *ny, int *nx, int *y0, int *x0,
                            zf_error *err) {
    if (size < 1 || stride < 1 || size > in.h || size > in.w)
        return zf_fail(err, ZF_ERR_RANGE,
                       "occluder %d px at stride %d: the size must be 1..%d (the input is "
                       "%dx%d) and the stride at least 1",
                       size, stride, in.h < in.w ? in.h : in.w, in.h, in.w);
    *ny = (in.h - size) / stride + 1, *nx = (in.w - size) / stride + 1;
    *y0 = (in.h - size) % stride / 2, *x0 = (in.w - size) % stride / 2;
    return ZF_OK;
}

zf_status zf_occlusion_fill(const zf_data_prep *p, zf_shape in, double pixel, float *fill,
                            zf_error *err) {
    size_t per = (size_t)in.c * in.h * in.w;
    if (pixel > 255 || isnan(pixel))
        return zf_fail(err, ZF_ERR_RANGE, "fill %g is not a grey level 0..255", pixel);
    if (pixel < 0 || !p || !p->mean) { /* the mean, or no mean to subtract */
        for (size_t i = 0; i < per; i++)
            fill[i] = pixel < 0 ? 0 : (float)(pixel * (p ? p->scale : 1.0f / 255));
        return ZF_OK;
    }
    size_t n = (size_t)p->shape.c * p->shape.h * p->shape.w;
    uint8_t *img = malloc(n ? n : 1);
    if (!img) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    memset(img, (int)lround(pixel), n);
    zf_status st = zf_data_prep_input(p, p->shape, img, in, fill, err);
    free(img);
    return st;
}

/* ---- the plan ------------------------------------------------------------------------------ */

typedef struct occ_seg {
    int first, last;  /* the parent's layers */
    zf_net *net;      /* them over the window */
    float pad;        /* outside the activation: 0 (conv) or -FLT_MAX (max pool) */
    int s, p;         /* the window layer's stride and padding */
    zf_shape in, out; /* whole shapes: first's input, last's output */
    int wh, ww;       /* the output window */
    int ih, iw;       /* its input: (wh - 1) s + k */
    int *sy, *sx;     /* (ny), (nx): each square's output window start */
    float *base;      /* (in) the unoccluded activation */
    float *x, *y;     /* (batch, ...) window inputs, outputs */
} occ_seg;

typedef struct occ_plan {
    zf_net *net;
    const zf_occlusion_options *o;
    zf_shape in;
    int ny, nx, y0, x0, at, classes, batch;
    zf_layer_info ai; /* the map's layer */
    int nseg;
    occ_seg *seg;
    int tail;          /* the first layer of the tail net */
    zf_net *tailnet;   /* NULL in the plain way: the parent runs whole copies */
    float *tail_base;  /* (tail's input) unoccluded */
    float *tail_x;     /* (batch, tail's input) */
    float *probs;      /* (batch, classes) */
    float *amap;       /* (batch, at's output) or its window */
    float *base_at;    /* (at's output) unoccluded */
    const float *fill; /* (in) */
    float *zeros;
} occ_plan;

static zf_status sub_net(const occ_plan *pl, int first, int last, zf_shape in, int window,
                         zf_net **out, zf_error *err) {
    zf_status st = zf_net_slice(pl->net, first, last, in, window, out, err);
    return st ? st : zf_net_reserve(*out, pl->batch, err);
}

/* One dimension of a window layer: the outputs each square changes, [lo, hi), from the input
 * range [a, b) it changes; returns the window (the most any square changes). */
static int window_1d(int n, const int *a, const int *b, int k, int s, int p, int out, int *lo,
                     int *hi) {
    int win = 1;
    for (int i = 0; i < n; i++) {
        int l = a[i] + p - k + 1, h = b[i] + p; /* o s - p + k > a, o s - p < b */
        lo[i] = l <= 0 ? 0 : (l + s - 1) / s;   /* ceil(l / s) */
        hi[i] = (h + s - 1) / s < out ? (h + s - 1) / s : out;
        if (hi[i] - lo[i] > win) win = hi[i] - lo[i];
    }
    return win;
}

typedef struct occ_ranges {
    int *a, *b, *lo, *hi; /* (max(ny, nx)) each */
} occ_ranges;

/* Window layer `i` in one dimension: window size, and the starts (clamped inside). */
static int plan_1d(occ_ranges *r, int n, const zf_layer_info *li, int out, int *start) {
    int win = window_1d(n, r->a, r->b, li->kernel, li->stride, li->pad, out, r->lo, r->hi);
    for (int k = 0; k < n; k++) {
        start[k] = r->lo[k] < out - win ? r->lo[k] : out - win;
        r->a[k] = r->lo[k], r->b[k] = r->hi[k];
    }
    return win;
}

static int pointwise(zf_layer_kind k) {
    return k == ZF_LAYER_RELU || k == ZF_LAYER_LRN || k == ZF_LAYER_DROPOUT;
}

/* the segment of window layer i (li) through the pointwise layers after it */
static zf_status add_segment(occ_plan *pl, int i, const zf_layer_info *li, int wh, int ww, int *sy,
                             int *sx, zf_error *err) {
    int nl = zf_net_num_layers(pl->net), last = i;
    zf_layer_info ll;
    while (last + 1 < nl && zf_net_layer_info(pl->net, last + 1, &ll) == ZF_OK &&
           pointwise(ll.kind))
        last++;
    zf_net_layer_info(pl->net, last, &ll);
    occ_seg *g = &pl->seg[pl->nseg++];
    *g = (occ_seg){.first = i,
                   .last = last,
                   .pad = li->kind == ZF_LAYER_MAXPOOL ? -FLT_MAX : 0,
                   .s = li->stride,
                   .p = li->pad,
                   .in = li->in,
                   .out = ll.out,
                   .wh = wh,
                   .ww = ww,
                   .ih = (wh - 1) * li->stride + li->kernel,
                   .iw = (ww - 1) * li->stride + li->kernel,
                   .sy = sy,
                   .sx = sx};
    size_t nin = (size_t)g->in.c * g->ih * g->iw, nout = (size_t)g->out.c * wh * ww;
    g->base = malloc(sizeof(float) * g->in.c * g->in.h * g->in.w);
    g->x = malloc(sizeof(float) * nin * pl->batch), g->y = malloc(sizeof(float) * nout * pl->batch);
    if (!g->base || !g->x || !g->y) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return sub_net(pl, i, last, (zf_shape){li->in.c, g->ih, g->iw}, 1, &g->net, err);
}

/* Cut the net into window segments while a square changes less than a whole output. */
static zf_status plan_segments(occ_plan *pl, zf_error *err) {
    int nl = zf_net_num_layers(pl->net), m = pl->ny > pl->nx ? pl->ny : pl->nx;
    int *buf = malloc(sizeof(int) * 8 * (size_t)m);
    if (!buf || !(pl->seg = calloc((size_t)nl, sizeof *pl->seg)))
        return free(buf), zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    occ_ranges ry = {buf, buf + m, buf + 2 * m, buf + 3 * m};
    occ_ranges rx = {buf + 4 * m, buf + 5 * m, buf + 6 * m, buf + 7 * m};
    for (int i = 0; i < pl->ny; i++)
        ry.a[i] = pl->y0 + i * pl->o->stride, ry.b[i] = ry.a[i] + pl->o->size;
    for (int j = 0; j < pl->nx; j++)
        rx.a[j] = pl->x0 + j * pl->o->stride, rx.b[j] = rx.a[j] + pl->o->size;
    zf_status st = ZF_OK;
    int i = 0;
    while (!st && i < nl) {
        zf_layer_info li;
        zf_net_layer_info(pl->net, i, &li);
        if (li.kind != ZF_LAYER_CONV && li.kind != ZF_LAYER_MAXPOOL) break;
        int *sy = malloc(sizeof(int) * pl->ny), *sx = malloc(sizeof(int) * pl->nx);
        if (!sy || !sx) {
            free(sy), free(sx);
            st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
            break;
        }
        int wh = plan_1d(&ry, pl->ny, &li, li.out.h, sy),
            ww = plan_1d(&rx, pl->nx, &li, li.out.w, sx);
        if (wh == li.out.h && ww == li.out.w) {
            free(sy), free(sx);
            break;
        }
        st = add_segment(pl, i, &li, wh, ww, sy, sx, err);
        if (!st) i = pl->seg[pl->nseg - 1].last + 1;
    }
    free(buf);
    pl->tail = i;
    return st;
}

static void plan_free(occ_plan *pl) {
    for (int k = 0; pl->seg && k < pl->nseg; k++) {
        occ_seg *g = &pl->seg[k];
        zf_net_free(g->net);
        free(g->sy), free(g->sx), free(g->base), free(g->x), free(g->y);
    }
    free(pl->seg);
    zf_net_free(pl->tailnet);
    free(pl->tail_base), free(pl->tail_x), free(pl->probs), free(pl->amap), free(pl->base_at);
    free(pl->zeros);
}

/* the layer whose maps are followed: o->layer (the top conv layer when < 0), after its ReLU */
static zf_status map_layer(const zf_net *net, int layer, int *at, zf_error *err) {
    int nl = zf_net_num_layers(net);
    zf_layer_info li;
    int top = -1;
    for (int i = 0; i < nl; i++)
        if (zf_net_layer_info(net, i, &li) == ZF_OK && li.kind == ZF_LAYER_CONV) top = i;
    if (layer < 0 && top < 0)
        return zf_fail(err, ZF_ERR_ARG, "occlusion: the net has no conv layer");
    if (layer < 0) layer = top;
    if (zf_net_layer_info(net, layer, &li))
        return zf_fail(err, ZF_ERR_ARG, "no layer %d (the net has %d)", layer, nl);
    if (li.kind == ZF_LAYER_FC || li.kind == ZF_LAYER_SOFTMAX)
        return zf_fail(err, ZF_ERR_ARG, "occlusion: '%s' has no feature maps", li.name);
    *at = zf_after_relu(net, layer);
    return ZF_OK;
}

static zf_status plan_create(occ_plan *pl, zf_net *net, const zf_occlusion_options *o,
                             zf_error *err) {
    *pl = (occ_plan){.net = net,
                     .o = o,
                     .in = zf_net_input_shape(net),
                     .batch = o->batch,
                     .classes = zf_net_classes(net)};
    zf_status st =
        zf_occlusion_grid(pl->in, o->size, o->stride, &pl->ny, &pl->nx, &pl->y0, &pl->x0, err);
    if (!st) st = map_layer(net, o->layer, &pl->at, err);
    if (st) return st;
    if (pl->classes < 1) return zf_fail(err, ZF_ERR_ARG, "occlusion: the model has no classes");
    zf_net_layer_info(net, pl->at, &pl->ai);
    if (o->map >= pl->ai.out.c)
        return zf_fail(err, ZF_ERR_RANGE, "map %d: layer '%s' has %d maps (0..%d)", o->map,
                       pl->ai.name, pl->ai.out.c, pl->ai.out.c - 1);
    size_t per = (size_t)pl->in.c * pl->in.h * pl->in.w;
    size_t aper = (size_t)pl->ai.out.c * pl->ai.out.h * pl->ai.out.w;
    pl->fill = o->fill;
    if (!pl->fill && (pl->fill = pl->zeros = calloc(per, sizeof(float))) == NULL)
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!(st = zf_net_reserve(net, o->plain ? pl->batch : 1, err)) && !o->plain)
        st = plan_segments(pl, err);
    if (st) return st;
    zf_layer_info ti;
    zf_net_layer_info(net, pl->tail, &ti);
    if (!o->plain)
        st = sub_net(pl, pl->tail, zf_net_num_layers(net) - 1, ti.in, 0, &pl->tailnet, err);
    size_t tper = (size_t)ti.in.c * ti.in.h * ti.in.w;
    pl->tail_base = malloc(sizeof(float) * tper),
    pl->tail_x = malloc(sizeof(float) * tper * pl->batch);
    pl->probs = malloc(sizeof(float) * pl->classes * pl->batch);
    pl->amap = malloc(sizeof(float) * aper * pl->batch), pl->base_at = malloc(sizeof(float) * aper);
    if (!st && (!pl->tail_base || !pl->tail_x || !pl->probs || !pl->amap || !pl->base_at))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    return st;
}

/* ---- running it -------------------------------------------------------------------------- */

/* A rectangle of values pasted over an activation: p holds planes of ph x pw whose (0, 0) is
 * at (oy, ox) of the activation; the rectangle is rows y0..y0+h, columns x0..x0+w. */
typedef struct occ_patch {
    const float *p;
    int oy, ox, ph, pw;
    int y0, x0, h, w;
} occ_patch;

/* dst (c, hh, ww) = the window at (y0, x0) of the activation base (s), the patch pasted over
 * it, `pad` outside it */
static void gather(float *dst, const float *base, zf_shape s, int y0, int x0, int hh, int ww,
                   float pad, const occ_patch *r) {
    for (int c = 0; c < s.c; c++)
        for (int q = 0; q < hh; q++) {
            float *d = dst + ((size_t)c * hh + q) * ww;
            int y = y0 + q;
            if (y < 0 || y >= s.h) {
                for (int k = 0; k < ww; k++) d[k] = pad;
                continue;
            }
            const float *row = base + ((size_t)c * s.h + y) * s.w;
            for (int k = 0; k < ww; k++) {
                int x = x0 + k;
                d[k] = x < 0 || x >= s.w ? pad : row[x];
            }
            if (y < r->y0 || y >= r->y0 + r->h) continue;
            int xa = x0 > r->x0 ? x0 : r->x0, xb = x0 + ww < r->x0 + r->w ? x0 + ww : r->x0 + r->w;
            const float *pr = r->p + ((size_t)c * r->ph + (y - r->oy)) * r->pw - r->ox;
            for (int x = xa; x < xb; x++) d[x - x0] = pr[x];
        }
}

/* the square at grid position `pos` as a patch of the fill */
static occ_patch square(const occ_plan *pl, int pos) {
    int y = pl->y0 + pos / pl->nx * pl->o->stride, x = pl->x0 + pos % pl->nx * pl->o->stride;
    return (occ_patch){pl->fill, 0, 0, pl->in.h, pl->in.w, y, x, pl->o->size, pl->o->size};
}

/* segment g's window output of item b at grid position pos as a patch */
static occ_patch window_patch(const occ_seg *g, int b, int pos, int nx) {
    int sy = g->sy[pos / nx], sx = g->sx[pos % nx];
    const float *p = g->y + (size_t)g->out.c * g->wh * g->ww * b;
    return (occ_patch){p, sy, sx, g->wh, g->ww, sy, sx, g->wh, g->ww};
}

static double plane_sum(const float *p, int h, int w, int stride) {
    double s = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) s += p[(size_t)y * stride + x];
    return s;
}

/* The segments for m squares (pos): each window cut from the patched activation and run. The
 * map's totals (when its layer is in a segment) go to tot. */
static zf_status run_segments(occ_plan *pl, const int *pos, int m, int map, double base_total,
                              double *tot, zf_error *err) {
    zf_status st = ZF_OK;
    for (int k = 0; !st && k < pl->nseg; k++) {
        occ_seg *g = &pl->seg[k];
        size_t nin = (size_t)g->in.c * g->ih * g->iw;
        for (int b = 0; b < m; b++) {
            occ_patch r = k ? window_patch(&pl->seg[k - 1], b, pos[b], pl->nx) : square(pl, pos[b]);
            int sy = g->sy[pos[b] / pl->nx], sx = g->sx[pos[b] % pl->nx];
            gather(g->x + nin * b, g->base, g->in, sy * g->s - g->p, sx * g->s - g->p, g->ih, g->iw,
                   g->pad, &r);
        }
        if ((st = zf_net_set_input(g->net, g->x, m, err)) ||
            (st = zf_net_forward(g->net, ZF_MODE_INFER, -1, err)) ||
            (st = zf_net_read_output(g->net, g->last - g->first, g->y, err)))
            break;
        if (pl->at < g->first || pl->at > g->last) continue;
        if ((st = zf_net_read_output(g->net, pl->at - g->first, pl->amap, err))) break;
        size_t wplane = (size_t)g->wh * g->ww, aplane = (size_t)pl->ai.out.h * pl->ai.out.w;
        for (int b = 0; b < m; b++) {
            int sy = g->sy[pos[b] / pl->nx], sx = g->sx[pos[b] % pl->nx];
            const float *base = pl->base_at + aplane * map + (size_t)sy * pl->ai.out.w + sx;
            double now = plane_sum(pl->amap + wplane * (pl->ai.out.c * (size_t)b + map), g->wh,
                                   g->ww, g->ww);
            tot[b] = base_total - plane_sum(base, g->wh, g->ww, pl->ai.out.w) + now;
        }
    }
    return st;
}

/* m squares: segments, then the tail (or the whole net) on the patched activation */
static zf_status run_squares(occ_plan *pl, const int *pos, int m, int map, double base_total,
                             double *tot, zf_error *err) {
    zf_status st = run_segments(pl, pos, m, map, base_total, tot, err);
    zf_net *tn = pl->tailnet ? pl->tailnet : pl->net;
    zf_shape ts = zf_net_input_shape(tn);
    size_t tper = (size_t)ts.c * ts.h * ts.w;
    for (int b = 0; !st && b < m; b++) {
        occ_patch r =
            pl->nseg ? window_patch(&pl->seg[pl->nseg - 1], b, pos[b], pl->nx) : square(pl, pos[b]);
        gather(pl->tail_x + tper * b, pl->tail_base, ts, 0, 0, ts.h, ts.w, 0, &r);
    }
    int nl = zf_net_num_layers(tn);
    if (st || (st = zf_net_set_input(tn, pl->tail_x, m, err)) ||
        (st = zf_net_forward(tn, ZF_MODE_INFER, -1, err)) ||
        (st = zf_net_read_output(tn, nl - 1, pl->probs, err)))
        return st;
    zf_softmax_rows(tn, pl->probs, m, pl->classes);
    if (pl->at < pl->tail) return ZF_OK;
    if ((st = zf_net_read_output(tn, pl->at - pl->tail, pl->amap, err))) return st;
    size_t aplane = (size_t)pl->ai.out.h * pl->ai.out.w;
    for (int b = 0; b < m; b++)
        tot[b] = plane_sum(pl->amap + aplane * (pl->ai.out.c * (size_t)b + map), pl->ai.out.h,
                           pl->ai.out.w, pl->ai.out.w);
    return ZF_OK;
}

/* the unoccluded image: every segment's and the tail's input, the map's layer, the classes */
static zf_status base_pass(occ_plan *pl, const float *x, zf_error *err) {
    size_t per = (size_t)pl->in.c * pl->in.h * pl->in.w;
    zf_status st;
    if ((st = zf_net_set_input(pl->net, x, 1, err)) ||
        (st = zf_net_forward(pl->net, ZF_MODE_INFER, -1, err)) ||
        (st = zf_net_read_output(pl->net, pl->at, pl->base_at, err)) ||
        (st = zf_net_read_output(pl->net, zf_net_num_layers(pl->net) - 1, pl->probs, err)))
        return st;
    zf_softmax_rows(pl->net, pl->probs, 1, pl->classes);
    for (int k = 0; !st && k < pl->nseg; k++) {
        occ_seg *g = &pl->seg[k];
        if (g->first)
            st = zf_net_read_output(pl->net, g->first - 1, g->base, err);
        else
            memcpy(g->base, x, sizeof(float) * per);
    }
    if (st) return st;
    if (pl->tail) return zf_net_read_output(pl->net, pl->tail - 1, pl->tail_base, err);
    memcpy(pl->tail_base, x, sizeof(float) * per);
    return ZF_OK;
}

static int argmax(const float *v, int n) {
    int k = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[k]) k = i;
    return k;
}

static zf_status result_alloc(const occ_plan *pl, zf_occlusion_result *r, zf_error *err) {
    size_t n = (size_t)pl->ny * pl->nx;
    *r = (zf_occlusion_result){.ny = pl->ny,
                               .nx = pl->nx,
                               .y0 = pl->y0,
                               .x0 = pl->x0,
                               .size = pl->o->size,
                               .stride = pl->o->stride,
                               .layer = pl->at};
    r->activation = malloc(sizeof(float) * n), r->prob = malloc(sizeof(float) * n);
    r->label = malloc(sizeof(int) * n), r->label_prob = malloc(sizeof(float) * n);
    if (r->activation && r->prob && r->label && r->label_prob) return ZF_OK;
    zf_occlusion_result_free(r);
    return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
}

/* One image: its base pass, then every square in batches. */
static zf_status occlude(occ_plan *pl, const float *x, int klass, zf_occlusion_result *r,
                         long *done, long total, zf_error *err) {
    zf_status st = result_alloc(pl, r, err);
    if (!st && klass >= pl->classes)
        st = zf_fail(err, ZF_ERR_RANGE, "class %d: the model has %d classes (0..%d)", klass,
                     pl->classes, pl->classes - 1);
    if (!st) st = base_pass(pl, x, err);
    if (st) return st;
    size_t aplane = (size_t)pl->ai.out.h * pl->ai.out.w;
    r->base_label = argmax(pl->probs, pl->classes);
    r->klass = klass < 0 ? r->base_label : klass;
    r->base_prob = pl->probs[r->klass];
    r->map = pl->o->map >= 0 ? pl->o->map
                             : (int)(argmax(pl->base_at, pl->ai.out.c * (int)aplane) / aplane);
    double base_total =
        plane_sum(pl->base_at + aplane * r->map, pl->ai.out.h, pl->ai.out.w, pl->ai.out.w);
    r->base_activation = (float)base_total;
    int npos = pl->ny * pl->nx, pos[4096];
    double tot[4096];
    for (int p0 = 0; !st && p0 < npos; p0 += pl->batch) {
        int m = npos - p0 < pl->batch ? npos - p0 : pl->batch;
        if ((st = zf_check_cancel(&pl->o->cb, "occlusion", err))) break;
        for (int b = 0; b < m; b++) pos[b] = p0 + b;
        if ((st = run_squares(pl, pos, m, r->map, base_total, tot, err))) break;
        for (int b = 0; b < m; b++) {
            const float *pr = pl->probs + (size_t)pl->classes * b;
            r->activation[p0 + b] = (float)tot[b];
            r->prob[p0 + b] = pr[r->klass];
            r->label[p0 + b] = argmax(pr, pl->classes);
            r->label_prob[p0 + b] = pr[r->label[p0 + b]];
        }
        *done += m;
        zf_progress(&pl->o->cb, "occlusion", *done, total, NULL);
    }
    return st;
}

void zf_occlusion_defaults(zf_occlusion_options *o) {
    *o = (zf_occlusion_options){.size = 8, .stride = 2, .layer = -1, .map = -1, .batch = 32};
}

zf_status zf_occlusion(zf_net *net, const float *x, int n, const int *classes,
                       const zf_occlusion_options *o, zf_occlusion_result *r, zf_error *err) {
    zf_occlusion_options def;
    zf_occlusion_defaults(&def);
    if (!o) o = &def;
    memset(r, 0, sizeof *r * (size_t)(n > 0 ? n : 0));
    if (o->batch < 1 || o->batch > 4096)
        return zf_fail(err, ZF_ERR_RANGE, "occlusion batch %d: must be 1..4096", o->batch);
    occ_plan pl;
    zf_status st = plan_create(&pl, net, o, err);
    zf_shape in = zf_net_input_shape(net);
    size_t per = (size_t)in.c * in.h * in.w;
    long done = 0, total = (long)n * pl.ny * pl.nx;
    for (int i = 0; !st && i < n; i++)
        st = occlude(&pl, x + per * i, classes ? classes[i] : -1, &r[i], &done, total, err);
    zf_progress(&o->cb, NULL, done, total, NULL);
    plan_free(&pl);
    for (int i = 0; st && i < n; i++) zf_occlusion_result_free(&r[i]);
    return st;
}

void zf_occlusion_result_free(zf_occlusion_result *r) {
    if (!r) return;
    free(r->activation), free(r->prob), free(r->label), free(r->label_prob);
    r->activation = r->prob = r->label_prob = NULL, r->label = NULL;
}

/* ---- the numbers behind a result -------------------------------------------------------- */

void zf_occlusion_summarize(const zf_occlusion_result *r, const uint8_t *object, int h, int w,
                            zf_occlusion_summary *s) {
    *s = (zf_occlusion_summary){.max_drop = -INFINITY, .drop_off = NAN, .drop_on = NAN};
    double sum = 0, on_sum = 0, cover_sum = 0, mean_on = 0, mean_off = 0;
    int non = 0, noff = 0, half = r->size / 2;
    for (int i = 0; i < r->ny; i++)
        for (int j = 0; j < r->nx; j++) {
            int y = r->y0 + i * r->stride, x = r->x0 + j * r->stride;
            float d = r->base_prob - r->prob[i * r->nx + j];
            if (d > s->max_drop) s->max_drop = d, s->max_y = y + half, s->max_x = x + half;
            if (!object) continue;
            long cover = 0;
            for (int yy = y; yy < y + r->size && yy < h; yy++)
                for (int xx = x; xx < x + r->size && xx < w; xx++)
                    cover += object[yy * w + xx] != 0;
            double f = (double)cover / ((double)r->size * r->size), dp = d > 0 ? d : 0;
            sum += dp, on_sum += dp * f, cover_sum += f;
            int centre = y + half < h && x + half < w && object[(y + half) * w + x + half];
            if (centre) mean_on += dp, non++;
            if (!cover) mean_off += dp, noff++;
        }
    if (!object) return;
    s->has_object = 1;
    s->drop_share = sum > 0 ? on_sum / sum : NAN;
    s->area_share = cover_sum / ((double)r->ny * r->nx);
    s->drop_on = non ? mean_on / non : NAN;
    s->drop_off = noff ? mean_off / noff : NAN;
}
