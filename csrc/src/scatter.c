/*
 * Event-driven synaptic updates. Each event (a neuron index in the source's HWC
 * order and a value: +-1 for a spike, the current for a graded relay event) adds
 * value * weights into the target's buffer. The weights were repacked so that the
 * floats one event adds to one target position are contiguous over output
 * channels, which the compiler turns into vector adds; the kernels exist for the
 * baseline instruction set and for AVX2, chosen when the network is built.
 */
#include "internal.h"

#define SNN_KERNEL(name) name##_generic
#define SNN_KERNEL_ATTR
#include "scatter_kernels.h"
#undef SNN_KERNEL
#undef SNN_KERNEL_ATTR

#if SNN_HAVE_AVX2
#define SNN_KERNEL(name) name##_avx2
#define SNN_KERNEL_ATTR __attribute__((target("avx2")))
#include "scatter_kernels.h"
#undef SNN_KERNEL
#undef SNN_KERNEL_ATTR
#endif

int snn__cpu_has_avx2(void)
{
#if SNN_HAVE_AVX2
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return 0;
#endif
}

snn_scatter_fn snn__scatter_kernel(int32_t isa)
{
#if SNN_HAVE_AVX2
    if (isa == SNN_ISA_AVX2) return scatter_avx2;
#endif
    (void)isa;
    return scatter_generic;
}
