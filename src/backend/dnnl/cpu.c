/* Whether bfloat16 runs natively here: the CPU's AVX512-BF16 flag, and oneDNN willing to use
 * it (DNNL_MAX_CPU_ISA can cap it below; its own bf16 emulation on plain AVX-512 is slower than
 * float32, so it does not count). ZFNET_NO_BF16=1 in the environment hides the flag, so what a
 * CPU without it does can be tried on one that has it. The public conversions live here too. */
#include <stdlib.h>
#include <string.h>

#include "../../bf16.h"
#include "../../internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* CPUID.(EAX=7,ECX=1):EAX bit 5 */
static int cpu_flag_bf16(void) {
    const char *off = getenv("ZFNET_NO_BF16");
    if (off && *off && strcmp(off, "0")) return 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;
#else
    return 0;
#endif
}

int zf_cpu_has_bf16(char *why, size_t size) {
    if (!cpu_flag_bf16()) {
        if (why) snprintf(why, size, "this CPU lacks AVX512-BF16: no avx512_bf16 in /proc/cpuinfo");
        return 0;
    }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) !=
        (unsigned)dnnl_cpu_isa_avx512_core_bf16) {
        if (why) snprintf(why, size, "DNNL_MAX_CPU_ISA holds oneDNN below AVX512-BF16");
        return 0;
    }
    return 1;
}

uint16_t zf_bf16_from_f32(float x) {
    return zf_bf16_round(x);
}

float zf_f32_from_bf16(uint16_t b) {
    return zf_bf16_widen(b);
}
