/* Reading every image of an opened dataset (at most 64), as a training pass would. */
#ifndef ZF_FUZZ_DATASETS_H
#define ZF_FUZZ_DATASETS_H

#include "fuzz.h"
#include "zfnet/zfnet.h"

#include <stdlib.h>

static inline void fuzz_read_all(zf_dataset *d) {
    zf_shape s = zf_dataset_shape(d);
    uint8_t *px = malloc((size_t)s.c * s.h * s.w);
    zf_error err;
    for (int i = 0; px && i < zf_dataset_count(d) && i < 64; i++) {
        if (!zf_dataset_read(d, i, px, &err)) fuzz_sink += px[0];
        fuzz_sink += (unsigned)zf_dataset_label(d, i);
        char name[256];
        zf_dataset_item_name(d, i, name, sizeof name);
    }
    for (int k = 0; k < zf_dataset_classes(d) && k < 64; k++) (void)zf_dataset_class_name(d, k);
    free(px);
    zf_dataset_free(d);
}

#endif
