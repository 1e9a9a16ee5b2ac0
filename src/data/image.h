/* Image decoding internals shared by the image-folder and shard readers. */
#ifndef ZF_DATA_IMAGE_H
#define ZF_DATA_IMAGE_H

#include "../internal.h"

typedef enum zf_image_format { ZF_IMAGE_UNKNOWN, ZF_IMAGE_JPEG, ZF_IMAGE_PNG } zf_image_format;

zf_image_format zf_image_sniff(const uint8_t *b, size_t n);
/* Format and header check only (no pixel data decoded). */
zf_status zf_image_probe(const uint8_t *buf, size_t len, const char *name, zf_error *err);

/* Convert in place to `channels` (1 or 3): gray replicated, RGB to ITU-R 601 luma. */
zf_status zf_image_channels(zf_image *im, int channels, zf_error *err);

#endif
