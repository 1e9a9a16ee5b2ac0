/* Sizes and field offsets of the C structs python/zfnet.py mirrors with ctypes, as JSON, for
 * tests/binding_layout.py: a struct changed in the headers fails there instead of corrupting
 * memory in Python. */
#include "zfnet/zfnet.h"

#include <stddef.h>
#include <stdio.h>

static int first;

static void begin(const char *name, size_t size) {
    printf("%s\n  \"%s\": {\"size\": %zu, \"fields\": {", first ? "" : ",", name, size);
    first = 0;
}

static int nfield;
#define STRUCT(T)                                                                                  \
    do {                                                                                           \
        begin(#T, sizeof(T));                                                                      \
        nfield = 0;                                                                                \
    } while (0)
#define FIELD(T, f) printf("%s\"%s\": %zu", nfield++ ? ", " : "", #f, offsetof(T, f))
#define END()       printf("}}")

int main(void) {
    first = 1;
    printf("{");
    STRUCT(zf_error);
    FIELD(zf_error, status), FIELD(zf_error, msg);
    END();
    STRUCT(zf_shape);
    FIELD(zf_shape, c), FIELD(zf_shape, h), FIELD(zf_shape, w);
    END();
    STRUCT(zf_layer_info);
    FIELD(zf_layer_info, name), FIELD(zf_layer_info, kind), FIELD(zf_layer_info, in);
    FIELD(zf_layer_info, out), FIELD(zf_layer_info, params), FIELD(zf_layer_info, macs);
    FIELD(zf_layer_info, rf_size), FIELD(zf_layer_info, rf_stride);
    FIELD(zf_layer_info, rf_offset), FIELD(zf_layer_info, kernel), FIELD(zf_layer_info, stride);
    FIELD(zf_layer_info, pad), FIELD(zf_layer_info, line);
    END();
    STRUCT(zf_net_options);
    FIELD(zf_net_options, backend), FIELD(zf_net_options, threads);
    FIELD(zf_net_options, seed), FIELD(zf_net_options, max_params);
    FIELD(zf_net_options, precision);
    END();
    STRUCT(zf_model_overrides);
    FIELD(zf_model_overrides, classes), FIELD(zf_model_overrides, channels);
    FIELD(zf_model_overrides, height), FIELD(zf_model_overrides, width);
    END();
    STRUCT(zf_init_options);
    FIELD(zf_init_options, scheme), FIELD(zf_init_options, std), FIELD(zf_init_options, bias);
    FIELD(zf_init_options, seed);
    END();
    STRUCT(zf_project_options);
    FIELD(zf_project_options, rule), FIELD(zf_project_options, lrn);
    FIELD(zf_project_options, select), FIELD(zf_project_options, map);
    FIELD(zf_project_options, y), FIELD(zf_project_options, x), FIELD(zf_project_options, batch);
    END();
    STRUCT(zf_data_prep);
    FIELD(zf_data_prep, mean), FIELD(zf_data_prep, shape), FIELD(zf_data_prep, scale);
    FIELD(zf_data_prep, pad), FIELD(zf_data_prep, classes), FIELD(zf_data_prep, class_names);
    FIELD(zf_data_prep, source);
    END();
    STRUCT(zf_callbacks);
    FIELD(zf_callbacks, progress), FIELD(zf_callbacks, notice), FIELD(zf_callbacks, ctx);
    FIELD(zf_callbacks, cancelled);
    END();
    STRUCT(zf_occlusion_options);
    FIELD(zf_occlusion_options, size), FIELD(zf_occlusion_options, stride);
    FIELD(zf_occlusion_options, fill), FIELD(zf_occlusion_options, layer);
    FIELD(zf_occlusion_options, map), FIELD(zf_occlusion_options, batch);
    FIELD(zf_occlusion_options, plain), FIELD(zf_occlusion_options, cb);
    END();
    STRUCT(zf_occlusion_result);
    FIELD(zf_occlusion_result, ny), FIELD(zf_occlusion_result, nx);
    FIELD(zf_occlusion_result, y0), FIELD(zf_occlusion_result, x0);
    FIELD(zf_occlusion_result, size), FIELD(zf_occlusion_result, stride);
    FIELD(zf_occlusion_result, layer), FIELD(zf_occlusion_result, map);
    FIELD(zf_occlusion_result, klass), FIELD(zf_occlusion_result, base_activation);
    FIELD(zf_occlusion_result, base_prob), FIELD(zf_occlusion_result, base_label);
    FIELD(zf_occlusion_result, activation), FIELD(zf_occlusion_result, prob);
    FIELD(zf_occlusion_result, label), FIELD(zf_occlusion_result, label_prob);
    END();
    STRUCT(zf_invariance_options);
    FIELD(zf_invariance_options, transform), FIELD(zf_invariance_options, from);
    FIELD(zf_invariance_options, to), FIELD(zf_invariance_options, steps);
    FIELD(zf_invariance_options, layers), FIELD(zf_invariance_options, nlayers);
    FIELD(zf_invariance_options, batch), FIELD(zf_invariance_options, cb);
    END();
    STRUCT(zf_invariance_result);
    FIELD(zf_invariance_result, steps), FIELD(zf_invariance_result, nlayers);
    FIELD(zf_invariance_result, klass), FIELD(zf_invariance_result, values);
    FIELD(zf_invariance_result, distance), FIELD(zf_invariance_result, prob);
    FIELD(zf_invariance_result, label), FIELD(zf_invariance_result, base_prob);
    END();
    STRUCT(zf_transfer_options);
    FIELD(zf_transfer_options, checkpoint), FIELD(zf_transfer_options, train);
    FIELD(zf_transfer_options, test), FIELD(zf_transfer_options, mode);
    FIELD(zf_transfer_options, freeze), FIELD(zf_transfer_options, per_class);
    FIELD(zf_transfer_options, folds), FIELD(zf_transfer_options, test_per_class);
    FIELD(zf_transfer_options, steps), FIELD(zf_transfer_options, batch);
    FIELD(zf_transfer_options, lr), FIELD(zf_transfer_options, momentum);
    FIELD(zf_transfer_options, weight_decay), FIELD(zf_transfer_options, base_lr_scale);
    FIELD(zf_transfer_options, crop_pad), FIELD(zf_transfer_options, flip);
    FIELD(zf_transfer_options, cache), FIELD(zf_transfer_options, seed);
    FIELD(zf_transfer_options, threads), FIELD(zf_transfer_options, precision);
    FIELD(zf_transfer_options, save);
    FIELD(zf_transfer_options, cb);
    END();
    STRUCT(zf_transfer_result);
    FIELD(zf_transfer_result, folds), FIELD(zf_transfer_result, classes);
    FIELD(zf_transfer_result, freeze), FIELD(zf_transfer_result, train_images);
    FIELD(zf_transfer_result, test_images), FIELD(zf_transfer_result, accuracy);
    FIELD(zf_transfer_result, class_accuracy), FIELD(zf_transfer_result, mean);
    FIELD(zf_transfer_result, std), FIELD(zf_transfer_result, seconds);
    FIELD(zf_transfer_result, feature_seconds);
    END();
    STRUCT(zf_probe_options);
    FIELD(zf_probe_options, checkpoint), FIELD(zf_probe_options, train);
    FIELD(zf_probe_options, test), FIELD(zf_probe_options, layers);
    FIELD(zf_probe_options, svm), FIELD(zf_probe_options, softmax);
    FIELD(zf_probe_options, pool), FIELD(zf_probe_options, grid);
    FIELD(zf_probe_options, per_class), FIELD(zf_probe_options, folds);
    FIELD(zf_probe_options, test_per_class), FIELD(zf_probe_options, holdout);
    FIELD(zf_probe_options, svm_c), FIELD(zf_probe_options, softmax_wd);
    FIELD(zf_probe_options, nsvm_c), FIELD(zf_probe_options, nsoftmax_wd);
    FIELD(zf_probe_options, seed), FIELD(zf_probe_options, threads);
    FIELD(zf_probe_options, precision);
    FIELD(zf_probe_options, cb);
    END();
    STRUCT(zf_probe_result);
    FIELD(zf_probe_result, nlayers), FIELD(zf_probe_result, folds);
    FIELD(zf_probe_result, classes), FIELD(zf_probe_result, train_images);
    FIELD(zf_probe_result, test_images), FIELD(zf_probe_result, layers);
    FIELD(zf_probe_result, dims), FIELD(zf_probe_result, accuracy), FIELD(zf_probe_result, reg);
    FIELD(zf_probe_result, mean), FIELD(zf_probe_result, std), FIELD(zf_probe_result, seconds);
    FIELD(zf_probe_result, feature_seconds);
    END();
    printf("\n}\n");
    return 0;
}
