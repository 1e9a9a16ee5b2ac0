/* Training helpers beyond SGD itself: the paper's renormalisation of conv filters whose RMS
 * exceeds a fixed radius (ZF section 3). */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ZF §3: every conv filter whose RMS exceeds `radius` is rescaled to RMS `radius`.
 * Returns how many filters were rescaled. */
int zf_net_renormalize_filters(zf_net *net, double radius) {
    int fired = 0;
    float *params = zf_net_params(net);
    for (int t = 0; t < zf_net_num_param_tensors(net); t++) {
        zf_param_info p;
        zf_net_param_info(net, t, &p);
        if (p.is_bias || p.ndim != 4) continue;
        size_t per = p.count / (size_t)p.shape[0];
        for (int64_t o = 0; o < p.shape[0]; o++) {
            float *w = params + p.offset + (size_t)o * per;
            double ss = 0;
            for (size_t k = 0; k < per; k++) ss += (double)w[k] * w[k];
            double rms = sqrt(ss / (double)per);
            if (rms > radius) {
                float f = (float)(radius / rms);
                for (size_t k = 0; k < per; k++) w[k] *= f;
                fired++;
            }
        }
    }
    return fired;
}
