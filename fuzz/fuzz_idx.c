/* IDX files, raw or gzipped: the input is split into an images file and a labels file. */
#include "fuzz.h"
#include "fuzz_datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *a, *b;
    size_t na, nb;
    if (fuzz_split(data, size, &a, &na, &b, &nb)) return 0;
    zf_dataset *d;
    zf_error err;
    if (!zf_dataset_open_idx(fuzz_file(0, a, na), fuzz_file(1, b, nb), &d, &err)) fuzz_read_all(d);
    return 0;
}
