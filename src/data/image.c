/* Image files in and out: the format is sniffed from the first bytes (never the name). JPEG
 * goes through TurboJPEG with DCT-domain downscaling (the decoder does most of a large
 * reduction for free), PNG through libspng. Every input becomes 8-bit RGB or gray:
 * CMYK / YCCK JPEGs are converted here (TurboJPEG leaves them as CMYK), palette, 16-bit and
 * gray+alpha PNGs through libspng's RGBA8 output; alpha is dropped as PIL's convert('RGB')
 * does. Warnings (a truncated JPEG, a bad CRC) are errors: a half-decoded image is never
 * passed on as data. */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <spng.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#define MAX_SIDE   32768
#define MAX_PIXELS (1u << 28)
/* Pixels a file of n bytes can really hold, at the formats' best compression with a margin of
 * 2: a JPEG needs at least 2 bits per 8x8 block (a DC code and an end of block), a PNG one
 * byte of deflate per 1032 of 1-bit rows. A header claiming more is damaged or hostile, and is
 * refused before its pixels are allocated. */
#define JPEG_PIXELS_PER_BYTE 512
#define PNG_PIXELS_PER_BYTE  16512

zf_image_format zf_image_sniff(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ZF_IMAGE_JPEG;
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && !memcmp(b, png, 8)) return ZF_IMAGE_PNG;
    return ZF_IMAGE_UNKNOWN;
}

/* Adobe APP14 marker: CMYK data stored inverted (Photoshop's convention, and libjpeg writes it
 * for every CMYK / YCCK file). */
static int has_adobe_marker(const uint8_t *b, size_t n) {
    for (size_t i = 2; i + 4 < n;) {
        if (b[i] != 0xFF) return 0;
        int m = b[i + 1];
        if (m == 0xDA || m == 0xD9) return 0; /* start of scan: no more headers */
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (m == 0xEE && len >= 7 && i + 9 <= n && !memcmp(b + i + 4, "Adobe", 5)) return 1;
        i += 2 + len;
    }
    return 0;
}

/* A header's size against the limits and, with file_len > 0 (the whole file is there: not a
 * probe of its first bytes), against what file_len bytes of that format can hold. */
static zf_status check_size(const char *name, const char *format, uint64_t w, uint64_t h,
                            uint64_t max_per_byte, size_t file_len, zf_error *err) {
    if (!w || !h || w > MAX_SIDE || h > MAX_SIDE || w * h > MAX_PIXELS)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: %s of %llux%llu pixels is too large", name, format,
                       (unsigned long long)w, (unsigned long long)h);
    if (file_len && w * h > max_per_byte * file_len)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: its %s header claims %llux%llu pixels in %zu bytes",
                       name, format, (unsigned long long)w, (unsigned long long)h, file_len);
    return ZF_OK;
}

static zf_status decode_jpeg(const uint8_t *buf, size_t len, int min_short, zf_image *out,
                             const char *name, zf_error *err) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return zf_fail(err, ZF_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
    int w, h, sub, cs;
    zf_status st = ZF_OK;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &sub, &cs))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: bad JPEG header: %s", name, tjGetErrorStr2(tj));
    else
        st = check_size(name, "JPEG", w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0,
                        JPEG_PIXELS_PER_BYTE, len, err);
    if (st) {
        tjDestroy(tj);
        return st;
    }
    /* the smallest DCT scaling that keeps the short side >= min_short */
    int nsf, sw = w, sh = h;
    tjscalingfactor *sf = tjGetScalingFactors(&nsf);
    if (min_short > 0)
        for (int k = 0; k < nsf; k++) {
            if (sf[k].num > sf[k].denom) continue;
            int tw = TJSCALED(w, sf[k]), th = TJSCALED(h, sf[k]);
            if ((tw < th ? tw : th) >= min_short && (uint64_t)tw * th < (uint64_t)sw * sh)
                sw = tw, sh = th;
        }
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK, gray = cs == TJCS_GRAY;
    int pf = cmyk ? TJPF_CMYK : gray ? TJPF_GRAY : TJPF_RGB, pc = tjPixelSize[pf];
    uint8_t *px = malloc((size_t)sw * sh * pc);
    if (!px)
        st = zf_fail(err, ZF_ERR_NOMEM, "%s: out of memory", name);
    else if (tjDecompress2(tj, buf, (unsigned long)len, px, sw, sw * pc, sh, pf,
                           TJFLAG_STOPONWARNING | TJFLAG_ACCURATEDCT))
        st = zf_fail(err, ZF_ERR_FORMAT, "%s: bad JPEG data: %s", name, tjGetErrorStr2(tj));
    tjDestroy(tj);
    if (st) {
        free(px);
        return st;
    }
    if (cmyk) { /* (255-C)(255-K)/255 per channel, as PIL converts; Adobe files are inverted */
        int inv = has_adobe_marker(buf, len);
        for (size_t i = 0; i < (size_t)sw * sh; i++) {
            const uint8_t *s = px + 4 * i;
            int k = inv ? s[3] : 255 - s[3];
            for (int c = 0; c < 3; c++) {
                int v = inv ? s[c] : 255 - s[c];
                px[3 * i + c] = (uint8_t)((v * k + 127) / 255);
            }
        }
        pc = 3;
    }
    *out = (zf_image){.w = sw, .h = sh, .c = pc, .px = px};
    return ZF_OK;
}

static zf_status decode_png(const uint8_t *buf, size_t len, zf_image *out, const char *name,
                            zf_error *err) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return zf_fail(err, ZF_ERR_NOMEM, "%s: cannot start the PNG decoder", name);
    spng_set_image_limits(ctx, MAX_SIDE, MAX_SIDE);
    spng_set_chunk_limits(ctx, 64u << 20, 64u << 20);
    struct spng_ihdr ih;
    size_t size = 0;
    uint8_t *px = NULL;
    int e = spng_set_png_buffer(ctx, buf, len);
    if (!e) e = spng_get_ihdr(ctx, &ih);
    zf_status st =
        e ? ZF_OK : check_size(name, "PNG", ih.width, ih.height, PNG_PIXELS_PER_BYTE, len, err);
    if (st) {
        spng_ctx_free(ctx);
        return st;
    }
    if (!e) e = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &size);
    if (!e && !(px = malloc(size))) {
        spng_ctx_free(ctx);
        return zf_fail(err, ZF_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!e) e = spng_decode_image(ctx, px, size, SPNG_FMT_RGBA8, SPNG_DECODE_TRNS);
    spng_ctx_free(ctx);
    if (e) {
        free(px);
        return zf_fail(err, ZF_ERR_FORMAT, "%s: bad PNG: %s", name, spng_strerror(e));
    }
    int gray = ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE ||
               ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
    size_t n = (size_t)ih.width * ih.height;
    for (size_t i = 0; i < n; i++) /* RGBA -> RGB or gray, in place (never overtakes) */
        if (gray)
            px[i] = px[4 * i];
        else
            for (int c = 0; c < 3; c++) px[3 * i + c] = px[4 * i + c];
    *out = (zf_image){.w = (int)ih.width, .h = (int)ih.height, .c = gray ? 1 : 3, .px = px};
    return ZF_OK;
}

void zf_image_free(zf_image *im) {
    free(im->px);
    *im = (zf_image){0};
}

zf_status zf_image_decode(const uint8_t *buf, size_t len, int min_short, const char *name,
                          zf_image *out, zf_error *err) {
    *out = (zf_image){0};
    switch (zf_image_sniff(buf, len)) {
    case ZF_IMAGE_JPEG:
        return decode_jpeg(buf, len, min_short, out, name, err);
    case ZF_IMAGE_PNG:
        return decode_png(buf, len, out, name, err);
    default:
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a JPEG or PNG image (%s)", name,
                       len ? "unknown first bytes" : "empty file");
    }
}

zf_status zf_image_probe(const uint8_t *buf, size_t len, const char *name, int *w_out, int *h_out,
                         zf_error *err) {
    zf_image_format f = zf_image_sniff(buf, len);
    if (f == ZF_IMAGE_UNKNOWN)
        return zf_fail(err, ZF_ERR_FORMAT, "%s: not a JPEG or PNG image (%s)", name,
                       len ? "unknown first bytes" : "empty file");
    if (f == ZF_IMAGE_JPEG) {
        tjhandle tj = tjInitDecompress();
        int w, h, sub, cs,
            bad = !tj || tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &sub, &cs);
        zf_status st = bad ? zf_fail(err, ZF_ERR_FORMAT, "%s: bad JPEG header: %s", name,
                                     tj ? tjGetErrorStr2(tj) : "no decoder")
                           : check_size(name, "JPEG", w > 0 ? (uint64_t)w : 0,
                                        h > 0 ? (uint64_t)h : 0, 0, 0, err);
        if (tj) tjDestroy(tj);
        if (!st && w_out) *w_out = w, *h_out = h;
        return st;
    }
    spng_ctx *ctx = spng_ctx_new(0);
    struct spng_ihdr ih;
    int e = ctx ? spng_set_png_buffer(ctx, buf, len) : SPNG_EMEM;
    if (!e) e = spng_get_ihdr(ctx, &ih);
    spng_ctx_free(ctx);
    if (e) return zf_fail(err, ZF_ERR_FORMAT, "%s: bad PNG header: %s", name, spng_strerror(e));
    zf_status st = check_size(name, "PNG", ih.width, ih.height, 0, 0, err);
    if (!st && w_out) *w_out = (int)ih.width, *h_out = (int)ih.height;
    return st;
}

zf_status zf_read_file(const char *path, uint8_t **data, size_t *len, zf_error *err) {
    *data = NULL, *len = 0;
    FILE *f = zf_fopen_read(path, err);
    if (!f) return ZF_ERR_IO;
    struct stat sb;
    if (fstat(fileno(f), &sb)) {
        fclose(f);
        return zf_fail(err, ZF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return zf_fail(err, ZF_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(b, 1, n, f);
    fclose(f);
    if (got != n) {
        free(b);
        return zf_fail(err, ZF_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *data = b, *len = n;
    return ZF_OK;
}

/* Resampling weights along one axis: PIL's antialiased bilinear (a triangle filter widened by
 * the reduction factor when shrinking, so every source pixel contributes). */
typedef struct taps {
    int *start, *count;
    float *w;
    int support;
} taps;

static int make_taps(int in, int out, taps *t) {
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, support = fs;
    int ks = (int)ceil(support) * 2 + 1;
    t->support = ks;
    t->start = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->w = malloc(sizeof(float) * (size_t)out * ks);
    if (!t->start || !t->count || !t->w) return -1;
    for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale;
        int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        double sum = 0;
        float *w = t->w + (size_t)o * ks;
        int n = 0;
        for (int i = lo; i < hi && n < ks; i++, n++) {
            double x = fabs((i + 0.5 - centre) / fs);
            w[n] = (float)(x < 1 ? 1 - x : 0);
            sum += w[n];
        }
        for (int k = 0; k < n; k++) w[k] = sum > 0 ? (float)(w[k] / sum) : 0;
        t->start[o] = lo, t->count[o] = n;
    }
    return 0;
}

static void free_taps(taps *t) {
    free(t->start), free(t->count), free(t->w);
}

static uint8_t clamp8(float v) {
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f);
}

zf_status zf_image_resize(const zf_image *in, int w, int h, zf_image *out, zf_error *err) {
    *out = (zf_image){0};
    taps tx = {0}, ty = {0};
    int c = in->c;
    float *mid = malloc(sizeof(float) * (size_t)in->h * w * c);
    uint8_t *px = malloc((size_t)w * h * c);
    zf_status st = ZF_OK;
    if (!mid || !px || make_taps(in->w, w, &tx) || make_taps(in->h, h, &ty))
        st = zf_fail(err, ZF_ERR_NOMEM, "out of memory resizing a %dx%d image", in->w, in->h);
    for (int y = 0; !st && y < in->h; y++) /* horizontal pass: (in->h, w) */
        for (int x = 0; x < w; x++) {
            const float *wt = tx.w + (size_t)x * tx.support;
            const uint8_t *s = in->px + ((size_t)y * in->w + tx.start[x]) * c;
            for (int ch = 0; ch < c; ch++) {
                float acc = 0;
                for (int k = 0; k < tx.count[x]; k++) acc += wt[k] * s[k * c + ch];
                mid[((size_t)y * w + x) * c + ch] = acc;
            }
        }
    for (int y = 0; !st && y < h; y++) { /* vertical pass */
        const float *wt = ty.w + (size_t)y * ty.support;
        for (int x = 0; x < w * c; x++) {
            float acc = 0;
            for (int k = 0; k < ty.count[y]; k++)
                acc += wt[k] * mid[(size_t)(ty.start[y] + k) * w * c + x];
            px[(size_t)y * w * c + x] = clamp8(acc);
        }
    }
    free(mid), free_taps(&tx), free_taps(&ty);
    if (st) {
        free(px);
        return st;
    }
    *out = (zf_image){.w = w, .h = h, .c = c, .px = px};
    return ZF_OK;
}

zf_status zf_image_short_side(zf_image *im, int side, zf_error *err) {
    int s = im->w < im->h ? im->w : im->h;
    if (s == side) return ZF_OK;
    int w = im->w < im->h ? side : (int)lround((double)im->w * side / im->h);
    int h = im->w < im->h ? (int)lround((double)im->h * side / im->w) : side;
    zf_image r;
    zf_status st = zf_image_resize(im, w < 1 ? 1 : w, h < 1 ? 1 : h, &r, err);
    if (st) return st;
    free(im->px);
    *im = r;
    return ZF_OK;
}

/* ITU-R 601 luma, rounded, as PIL's convert('L') */
static uint8_t luma(const uint8_t *rgb) {
    return (uint8_t)((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114 + 500) / 1000);
}

zf_status zf_image_channels(zf_image *im, int channels, zf_error *err) {
    if (im->c == channels) return ZF_OK;
    size_t n = (size_t)im->w * im->h;
    uint8_t *px = malloc(n * (size_t)channels);
    if (!px) return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const uint8_t *s = im->px + k * im->c;
        if (channels == 3)
            px[3 * k] = px[3 * k + 1] = px[3 * k + 2] = s[0];
        else
            px[k] = luma(s);
    }
    free(im->px);
    im->px = px, im->c = channels;
    return ZF_OK;
}

void zf_image_crop_chw(const zf_image *im, int size, int channels, uint8_t *dst) {
    int oy = (im->h - size) / 2, ox = (im->w - size) / 2;
    ZF_ASSERT(oy >= 0 && ox >= 0 && (channels == 1 || channels == 3));
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            const uint8_t *s = im->px + ((size_t)(y + oy) * im->w + x + ox) * im->c;
            size_t o = (size_t)y * size + x, plane = (size_t)size * size;
            if (channels == im->c)
                for (int c = 0; c < channels; c++) dst[c * plane + o] = s[c];
            else if (channels == 3) /* gray -> RGB */
                dst[o] = dst[plane + o] = dst[2 * plane + o] = s[0];
            else /* RGB -> luma, ITU-R 601 as PIL's convert('L') */
                dst[o] = luma(s);
        }
}

zf_status zf_image_load_mem(const uint8_t *buf, size_t len, int size, int channels, uint8_t *dst,
                            const char *name, zf_error *err) {
    zf_image im; /* DCT scaling only down to twice the size: the resize then still averages */
    zf_status st = zf_image_decode(buf, len, 2 * size, name, &im, err);
    if (!st) st = zf_image_short_side(&im, size, err);
    if (!st) zf_image_crop_chw(&im, size, channels, dst);
    free(im.px);
    return st;
}

zf_status zf_image_load(const char *path, int size, int channels, uint8_t *dst, zf_error *err) {
    uint8_t *buf;
    size_t len;
    zf_status st = zf_read_file(path, &buf, &len, err);
    if (st) return st;
    st = zf_image_load_mem(buf, len, size, channels, dst, path, err);
    free(buf);
    return st;
}

zf_status zf_jpeg_encode(const zf_image *im, int quality, uint8_t **out, size_t *len,
                         zf_error *err) {
    tjhandle tj = tjInitCompress();
    if (!tj) return zf_fail(err, ZF_ERR_NOMEM, "cannot start the JPEG encoder");
    unsigned char *buf = NULL;
    unsigned long n = 0;
    int gray = im->c == 1;
    int bad = tjCompress2(tj, im->px, im->w, im->w * im->c, im->h, gray ? TJPF_GRAY : TJPF_RGB,
                          &buf, &n, gray ? TJSAMP_GRAY : TJSAMP_444, quality, TJFLAG_ACCURATEDCT);
    zf_status st = ZF_OK;
    if (bad) st = zf_fail(err, ZF_ERR_FORMAT, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
    tjDestroy(tj);
    *out = NULL, *len = 0;
    if (!st && !(*out = malloc(n))) st = zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    if (!st) memcpy(*out, buf, n), *len = n;
    tjFree(buf);
    return st;
}

zf_status zf_png_encode(const zf_image *im, uint8_t **out, size_t *len, zf_error *err) {
    *out = NULL, *len = 0;
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return zf_fail(err, ZF_ERR_NOMEM, "cannot start the PNG encoder");
    struct spng_ihdr ih = {.width = (uint32_t)im->w,
                           .height = (uint32_t)im->h,
                           .bit_depth = 8,
                           .color_type = im->c == 1   ? SPNG_COLOR_TYPE_GRAYSCALE
                                         : im->c == 4 ? SPNG_COLOR_TYPE_TRUECOLOR_ALPHA
                                                      : SPNG_COLOR_TYPE_TRUECOLOR};
    int e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    if (!e) e = spng_set_ihdr(ctx, &ih);
    if (!e)
        e = spng_encode_image(ctx, im->px, (size_t)im->w * im->h * im->c, SPNG_FMT_PNG,
                              SPNG_ENCODE_FINALIZE);
    if (!e) *out = spng_get_png_buffer(ctx, len, &e);
    spng_ctx_free(ctx);
    if (e || !*out) {
        free(*out);
        *out = NULL;
        return zf_fail(err, ZF_ERR_FORMAT, "PNG encoding failed: %s", spng_strerror(e));
    }
    return ZF_OK;
}
