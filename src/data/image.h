/* Image decoding internals shared by the image-folder and shard readers. */
#ifndef ZF_DATA_IMAGE_H
#define ZF_DATA_IMAGE_H

#include "../internal.h"

typedef enum zf_image_format { ZF_IMAGE_UNKNOWN, ZF_IMAGE_JPEG, ZF_IMAGE_PNG } zf_image_format;

zf_image_format zf_image_sniff(const uint8_t *b, size_t n);
/* Format and header check only (no pixel data decoded); the size into *w_out, *h_out when
 * w_out is not NULL. */
zf_status zf_image_probe(const uint8_t *buf, size_t len, const char *name, int *w_out, int *h_out,
                         zf_error *err);

/* Convert in place to `channels` (1 or 3): gray replicated, RGB to ITU-R 601 luma. */
zf_status zf_image_channels(zf_image *im, int channels, zf_error *err);
/* Antialiased bilinear resize (PIL's filter) to w x h. */
zf_status zf_image_resize(const zf_image *in, int w, int h, zf_image *out, zf_error *err);
/* Resize in place so the short side is `side` (aspect kept). */
zf_status zf_image_short_side(zf_image *im, int side, zf_error *err);
/* The centre size x size square as (channels, size, size) bytes; gray <-> RGB converted. */
void zf_image_crop_chw(const zf_image *im, int size, int channels, uint8_t *dst);
/* zf_image_load from memory; `name` for messages. */
zf_status zf_image_load_mem(const uint8_t *buf, size_t len, int size, int channels, uint8_t *dst,
                            const char *name, zf_error *err);
zf_status zf_jpeg_encode(const zf_image *im, int quality, uint8_t **out, size_t *len,
                         zf_error *err);

#endif
