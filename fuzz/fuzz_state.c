/* A run folder's state.safetensors on --resume: the saved configuration and counters read and
 * validated as `zfnet train --resume` does before it trains, then its weights, momentum and
 * data mean loaded into the net the configuration names. */
#include "fuzz.h"

#include "analysis/train.h"

#include <string.h>
#include <sys/stat.h>

static char dir[64], state[96];

static void remove_dir(void) {
    unlink(state);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/zfnet-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
        snprintf(state, sizeof state, "%s/state.safetensors", dir);
        atexit(remove_dir);
    }
    FILE *f = fopen(state, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    trainer t = {.ranks = 1};
    zf_train_defaults(&t.c);
    t.c.out = dir, t.c.resume = 1, t.c.epochs = 0, t.c.threads = 1;
    zf_error err;
    if (!train_state_load(&t, &err) && !train_check_options(&t.c, "saved ", &err)) {
        zf_net *net;
        zf_data_prep prep;
        zf_net_options o;
        zf_net_defaults(&o);
        o.backend = ZF_BACKEND_REF;
        o.threads = 1;
        o.max_params = 1 << 22;
        if (!zf_checkpoint_open(state, &o, &net, &prep, &err)) {
            zf_checkpoint_load_state(net, state, &err);
            zf_data_prep_free(&prep);
            zf_net_free(net);
        }
    }
    for (int i = 0; i < 4; i++) free(t.owned[i]);
    return 0;
}
