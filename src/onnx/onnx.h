/* ONNX files through protobuf-c's code for Debian's onnx.proto (generated at build time):
 * what the exporter (export.c) and the importer (import*.c) share. */
#ifndef ZF_ONNX_H
#define ZF_ONNX_H

#include "../internal.h"
#include "onnx.pb-c.h"

#define ZF_ONNX_OPSET_MIN     7
#define ZF_ONNX_OPSET_MAX     17
#define ZF_ONNX_OPSET_DEFAULT 13

/* metadata_props keys of an exported file: the data preparation (zf_data_prep) */
#define ZF_ONNX_META_MODEL       "zfnet.model"       /* the canonical model text (informative) */
#define ZF_ONNX_META_MEAN        "zfnet.data_mean"   /* float32 little-endian, base64 */
#define ZF_ONNX_META_SHAPE       "zfnet.data_shape"  /* CxHxW of the mean */
#define ZF_ONNX_META_SCALE       "zfnet.input_scale" /* input = (pixel - mean) * scale */
#define ZF_ONNX_META_CROP_PAD    "zfnet.crop_pad"    /* training crops' padding */
#define ZF_ONNX_META_CLASS_NAMES "zfnet.class_names" /* JSON array of strings */
/* the doc_string of an LRN node written from alpha_mode=absolute (ONNX's alpha is per size) */
#define ZF_ONNX_LRN_ABSOLUTE "zfnet: alpha_mode=absolute"

/* Every allocation of a message being built, freed at once. */
typedef struct onnx_arena {
    void **p;
    size_t n, cap;
    int failed;
} onnx_arena;

void *onnx_alloc(onnx_arena *a, size_t bytes); /* zeroed; NULL (and a->failed) when out of memory */
char *onnx_strdup(onnx_arena *a, const char *s);
void onnx_arena_free(onnx_arena *a);

/* base64 of n bytes (malloc'd, NUL-terminated) and back (malloc'd; *n bytes; NULL: not base64) */
char *onnx_base64(const void *data, size_t n);
uint8_t *onnx_unbase64(const char *s, size_t *n);

/* The shortest decimal that reads back as the float f (what the file meant by it). */
double onnx_float_value(float f);

/* The ONNX model in `path` (NULL, err set: unreadable or not a protobuf ModelProto). */
Onnx__ModelProto *onnx_read(const char *path, zf_error *err);

#endif
