/* Shards (zfnet pack): header, index, names, and every image decoded from the shard. */
#include "fuzz.h"
#include "fuzz_datasets.h"

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    zf_dataset *d;
    zf_error err;
    zf_dataset_options o;
    zf_dataset_defaults(&o);
    if (!zf_dataset_open_shard(&d, fuzz_file(0, data, size), &o, &err)) fuzz_read_all(d);
    return 0;
}
