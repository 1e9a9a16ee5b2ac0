/* CIFAR-10 / CIFAR-100 binary batches (one or two files). */
#include "fuzz.h"
#include "fuzz_datasets.h"

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *a, *b;
    size_t na, nb;
    zf_dataset *d;
    zf_error err;
    if (!zf_dataset_open_cifar(&d, fuzz_file(0, data, size), &err)) fuzz_read_all(d);
    if (fuzz_split(data, size, &a, &na, &b, &nb)) return 0;
    char spec[160];
    snprintf(spec, sizeof spec, "%s,%s", fuzz_file(1, a, na), fuzz_file(2, b, nb));
    if (!zf_dataset_open_cifar(&d, spec, &err)) fuzz_read_all(d);
    return 0;
}
