/* The fuzz targets without libFuzzer: each file named on the command line is read and passed
 * once to the target (a kept crash input stays a test, with any compiler). */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        size_t cap = 1 << 16, n = 0;
        uint8_t *b = malloc(cap);
        for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0;)
            if ((n += r) == cap) b = realloc(b, cap *= 2);
        fclose(f);
        if (!b) return 1;
        LLVMFuzzerTestOneInput(b, n);
        free(b);
    }
    printf("%d input%s replayed\n", argc - 1, argc == 2 ? "" : "s");
    return 0;
}
