/* OpenCV's handwritten digits: Debian's opencv-doc ships examples/data/digits.png, 5,000 digits
 * of 20x20 pixels in a grid of 100 columns by 50 rows, five rows per class (0 in rows 0-4, 1 in
 * rows 5-9, ...). Each digit is placed in 28x28 as MNIST's are: its centre of mass moved to the
 * centre by whole pixels (kept wholly inside). The split is OpenCV's kNN tutorial's: the left
 * 50 columns train (2,500 digits, 250 per class), the right 50 test. */
#include "dataset.h"

#include <math.h>
#include <string.h>

#define DIGITS_SIDE 20
#define DIGITS_COLS 100
#define DIGITS_ROWS 50
#define DIGITS_OUT  28

static const char *digit_names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* The centre of mass of a side x side cell (pixel centres at k + 0.5), or the middle when it
 * is blank. */
static void centre_of_mass(const uint8_t *cell, int stride, double *cy, double *cx) {
    double s = 0, sy = 0, sx = 0;
    for (int y = 0; y < DIGITS_SIDE; y++)
        for (int x = 0; x < DIGITS_SIDE; x++) {
            double v = cell[(size_t)y * stride + x];
            s += v, sy += v * (y + 0.5), sx += v * (x + 0.5);
        }
    *cy = s > 0 ? sy / s : DIGITS_SIDE / 2.0;
    *cx = s > 0 ? sx / s : DIGITS_SIDE / 2.0;
}

static int place(double c) {
    int o = (int)lround(DIGITS_OUT / 2.0 - c), most = DIGITS_OUT - DIGITS_SIDE;
    return o < 0 ? 0 : o > most ? most : o;
}

/* One digit into a zeroed 28x28 image. */
static void place_digit(const uint8_t *cell, int stride, uint8_t *dst) {
    double cy, cx;
    centre_of_mass(cell, stride, &cy, &cx);
    int oy = place(cy), ox = place(cx);
    for (int y = 0; y < DIGITS_SIDE; y++)
        memcpy(dst + (size_t)(oy + y) * DIGITS_OUT + ox, cell + (size_t)y * stride, DIGITS_SIDE);
}

static zf_status read_sheet(const char *path, zf_image *im, zf_error *err) {
    uint8_t *buf;
    size_t len;
    zf_status st = zf_read_file(path, &buf, &len, err);
    if (st) return st;
    st = zf_image_decode(buf, len, 0, path, im, err);
    free(buf);
    if (!st &&
        (im->w != DIGITS_SIDE * DIGITS_COLS || im->h != DIGITS_SIDE * DIGITS_ROWS || im->c != 1)) {
        st = zf_fail(err, ZF_ERR_FORMAT,
                     "%s: %dx%d with %d channel(s); OpenCV's digits sheet is 2000x1000 gray "
                     "(100 x 50 digits of 20x20)",
                     path, im->w, im->h, im->c);
        free(im->px);
    }
    return st;
}

zf_status zf_dataset_open_digits(zf_dataset **out, const char *path, int test, zf_error *err) {
    *out = NULL;
    zf_image im;
    zf_status st = read_sheet(path, &im, err);
    if (st) return st;
    int half = DIGITS_COLS / 2, per = DIGITS_OUT * DIGITS_OUT;
    zf_dataset *d;
    st = zf_dataset_alloc(&d, DIGITS_ROWS * half, (zf_shape){1, DIGITS_OUT, DIGITS_OUT}, 1, err);
    if (st) {
        free(im.px);
        return st;
    }
    memset(d->pixels, 0, (size_t)d->count * per);
    int i = 0;
    for (int r = 0; r < DIGITS_ROWS; r++)
        for (int c = test ? half : 0; c < (test ? DIGITS_COLS : half); c++, i++) {
            const uint8_t *cell = im.px + (size_t)r * DIGITS_SIDE * im.w + (size_t)c * DIGITS_SIDE;
            place_digit(cell, im.w, d->pixels + (size_t)i * per);
            d->labels[i] = r / (DIGITS_ROWS / 10);
        }
    free(im.px);
    zf_dataset_count_classes(d);
    if (!(d->class_names = calloc(10, sizeof(char *)))) st = ZF_ERR_NOMEM;
    for (int k = 0; !st && k < 10; k++)
        if (!(d->class_names[k] = strdup(digit_names[k]))) st = ZF_ERR_NOMEM;
    if (st) {
        zf_dataset_free(d);
        return zf_fail(err, ZF_ERR_NOMEM, "out of memory");
    }
    snprintf(d->desc, sizeof d->desc, "OpenCV digits %s (%s split)", path, test ? "test" : "train");
    *out = d;
    return ZF_OK;
}
