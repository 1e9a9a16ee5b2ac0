/* Data preparation: what a checkpoint written by training records about its data (the
 * per-pixel mean, the input scale, the crop padding, the class names), read back, and the
 * centre view every analysis feeds the net, and its inverse for pictures. */
#include "internal.h"
#include "data/image.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

void zf_data_prep_free(zf_data_prep *p) {
    if (!p) return;
    for (int k = 0; p->class_names && k < p->classes; k++) free(p->class_names[k]);
    free(p->class_names), free(p->mean), free(p->source);
    memset(p, 0, sizeof *p);
}

/* class_names: a JSON array of strings (empty: no names) */
zf_status zf_data_prep_read_names(zf_data_prep *p, const char *json, const char *path,
                                  zf_error *err) {
    if (!json) return ZF_OK;
    json_t *a = json_loads(json, 0, NULL), *v;
    size_t k;
    int ok = json_is_array(a) && json_array_size(a) <= 1000000;
    json_array_foreach(ok ? a : NULL, k, v) ok &= json_is_string(v);
    zf_status st =
        ok ? ZF_OK
           : zf_fail(err, ZF_ERR_FORMAT, "%s: class_names is not a JSON array of strings", path);
    if (!st && json_array_size(a) &&
        (p->class_names = calloc(json_array_size(a), sizeof(char *)))) {
        p->classes = (int)json_array_size(a);
        for (int i = 0; i < p->classes; i++)
            if (!(p->class_names[i] = strdup(json_string_value(json_array_get(a, (size_t)i)))))
                st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    } else if (!st && json_array_size(a))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    json_decref(a);
    return st;
}

/* data.mean: F32 (c, h, w) with c 1 or 3, square (the loaders' images are), finite values */
static zf_status read_mean(zf_data_prep *p, const zf_st_tensor *m, const char *path,
                           zf_error *err) {
    if (m->dtype != ZF_DTYPE_F32 || m->ndim != 3 || (m->shape[0] != 1 && m->shape[0] != 3) ||
        m->shape[1] < 1 || m->shape[1] > 65536 || m->shape[2] != m->shape[1])
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: data.mean is not an F32 (c, h, w) tensor with 1 or 3 channels and "
                       "h = w",
                       path);
    p->shape = (zf_shape){(int)m->shape[0], (int)m->shape[1], (int)m->shape[2]};
    if (!(p->mean = malloc(m->nbytes))) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    memcpy(p->mean, m->data, m->nbytes);
    for (size_t i = 0; i < m->nbytes / sizeof(float); i++)
        if (!isfinite(p->mean[i]))
            return zf_fail(err, ZF_ERR_FORMAT, "%s: data.mean holds %g at value %zu", path,
                           p->mean[i], i);
    return ZF_OK;
}

zf_status zf_data_prep_load(const char *path, zf_data_prep *p, zf_error *err) {
    memset(p, 0, sizeof *p);
    zf_st_file *f;
    zf_status st = zf_st_open(path, &f, err);
    if (st) return st;
    const zf_st_tensor *m = zf_st_find(f, ZF_TENSOR_DATA_MEAN);
    const char *scale = zf_st_meta(f, ZF_META_INPUT_SCALE), *pad = zf_st_meta(f, ZF_META_CROP_PAD);
    char *end = NULL;
    double x = scale ? strtod(scale, &end) : 1.0 / 255;
    p->scale = (float)x;
    if (scale && (end == scale || *end || !(x >= 1e-9 && x <= 1e9)))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: input_scale '%s' is not a number in [1e-9, 1e9]",
                     path, scale);
    long v = pad && !st ? strtol(pad, &end, 10) : 0;
    p->pad = (int)(v >= 0 && v <= 256 ? v : 0);
    if (pad && !st && (end == pad || *end || v < 0 || v > 256))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: crop_pad '%s' is not a whole number in [0, 256]",
                     path, pad);
    if (!st && m) st = read_mean(p, m, path, err);
    if (!st) st = zf_data_prep_read_names(p, zf_st_meta(f, ZF_META_CLASS_NAMES), path, err);
    if (!st && !(p->source = strdup(path))) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    zf_st_free(f);
    if (st) zf_data_prep_free(p);
    return st;
}

zf_status zf_data_prep_check(const zf_data_prep *p, const zf_net *net, const char *path,
                             zf_error *err) {
    zf_shape s = p->shape, in = zf_net_input_shape(net);
    size_t n = (size_t)s.c * s.h * s.w;
    if (p->mean && ((s.c != 1 && s.c != 3) || s.h < 1 || s.h > 65536 || s.w != s.h))
        return zf_fail(err, ZF_ERR_FORMAT,
                       "%s: data.mean is %dx%dx%d, not 1 or 3 channels with h = w", path, s.c, s.h,
                       s.w);
    for (size_t i = 0; p->mean && i < n; i++)
        if (!isfinite(p->mean[i]))
            return zf_fail(err, ZF_ERR_FORMAT, "%s: data.mean holds %g at value %zu", path,
                           p->mean[i], i);
    if (p->mean && (s.c != in.c || s.h + 2 * p->pad < in.h || s.w + 2 * p->pad < in.w))
        return zf_fail(err, ZF_ERR_SHAPE,
                       "%s: data.mean is %dx%dx%d (crop padding %d) but the model takes %dx%dx%d",
                       path, s.c, s.h, s.w, p->pad, in.c, in.h, in.w);
    if (p->classes && p->classes != zf_net_classes(net))
        return zf_fail(err, ZF_ERR_SHAPE, "%s: %d class names for a model of %d classes", path,
                       p->classes, zf_net_classes(net));
    return ZF_OK;
}

zf_status zf_data_prep_need_mean(const zf_data_prep *p, zf_error *err) {
    if (p->mean) return ZF_OK;
    return zf_fail(err, ZF_ERR_STATE,
                   "%s: no data.mean (weights from 'zfnet init'? evaluate checkpoints written by "
                   "'zfnet train')",
                   p->source ? p->source : "the checkpoint");
}

const char *zf_data_prep_class_name(const zf_data_prep *p, int k) {
    return p->class_names && k >= 0 && k < p->classes ? p->class_names[k] : NULL;
}

zf_status zf_data_prep_input(const zf_data_prep *p, zf_shape src, const uint8_t *img, zf_shape in,
                             float *x, zf_error *err) {
    if (src.c != in.c)
        return zf_fail(err, ZF_ERR_SHAPE, "images with %d channel(s) for a model that takes %d",
                       src.c, in.c);
    if (p->mean && !zf_shape_equal(p->shape, src))
        return zf_fail(err, ZF_ERR_SHAPE, "the data mean is %dx%dx%d but the image is %dx%dx%d",
                       p->shape.c, p->shape.h, p->shape.w, src.c, src.h, src.w);
    /* the centre of the mean-padded image, as the evaluation loader crops it */
    int oy = (src.h + 2 * p->pad - in.h) / 2 - p->pad;
    int ox = (src.w + 2 * p->pad - in.w) / 2 - p->pad;
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < in.h; y++)
            for (int xx = 0; xx < in.w; xx++) {
                int sy = y + oy, sx = xx + ox;
                size_t k = ((size_t)c * src.h + sy) * src.w + sx;
                x[((size_t)c * in.h + y) * in.w + xx] =
                    sy < 0 || sy >= src.h || sx < 0 || sx >= src.w
                        ? 0
                        : ((float)img[k] - (p->mean ? p->mean[k] : 0)) * p->scale;
            }
    return ZF_OK;
}

void zf_data_prep_pixels(const zf_data_prep *p, zf_shape in, const float *x, int y0, int x0, int h,
                         int w, uint8_t *out) {
    int oy = (p->shape.h - in.h) / 2, ox = (p->shape.w - in.w) / 2;
    for (int c = 0; c < in.c; c++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                size_t k = ((size_t)c * h + y) * w + xx;
                int sy = y0 + y + oy, sx = x0 + xx + ox;
                double m = p->mean && sy >= 0 && sy < p->shape.h && sx >= 0 && sx < p->shape.w
                               ? p->mean[((size_t)c * p->shape.h + sy) * p->shape.w + sx]
                               : 0;
                double v = x[k] / (p->scale > 0 ? p->scale : 1) + m;
                out[k] = (uint8_t)lround(fmin(255, fmax(0, v)));
            }
}

zf_status zf_data_prep_image_data(const zf_data_prep *p, const uint8_t *buf, size_t len,
                                  const char *name, zf_shape in, float *x, zf_error *err) {
    zf_shape s = p->mean ? p->shape : in;
    if (s.c != in.c || s.h < in.h || s.w < in.w || s.h != s.w)
        return zf_fail(err, ZF_ERR_SHAPE,
                       "%s: images are prepared as %dx%dx%d; the model takes %dx%dx%d", name, s.c,
                       s.h, s.w, in.c, in.h, in.w);
    uint8_t *im = malloc((size_t)s.c * s.h * s.w);
    if (!im) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    zf_error e;
    zf_status st = zf_image_load_mem(buf, len, s.h, s.c, im, name, err);
    if (!st && (st = zf_data_prep_input(p, s, im, in, x, &e)))
        zf_fail(err, st, "%s: %s", name, e.msg);
    free(im);
    return st;
}

zf_status zf_data_prep_image(const zf_data_prep *p, const char *path, zf_shape in, float *x,
                             zf_error *err) {
    uint8_t *buf;
    size_t len;
    zf_status st = zf_read_file(path, &buf, &len, err);
    if (st) return st;
    st = zf_data_prep_image_data(p, buf, len, path, in, x, err);
    free(buf);
    return st;
}

zf_status zf_data_prep_open(const zf_data_prep *p, const char *spec, zf_dataset **out,
                            zf_error *err) {
    zf_dataset_options o;
    zf_dataset_defaults(&o);
    o.size = p->shape.h;
    o.channels = p->shape.c;
    return zf_dataset_open(spec, &o, out, err);
}
