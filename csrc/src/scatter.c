/*
 * Synaptic updates: each event of a step (a neuron index in the source's HWC
 * order and a value: +-1 for a spike, the current for a graded relay event) adds
 * value * weights into the target's buffer. conv2d and avgpool2d gather, output
 * pixel by output pixel, the events of its window (the source's queue is indexed
 * by position); dense and identity scatter event by event. The weights were
 * repacked so that what one event adds to one target position is contiguous over
 * output channels. The kernels exist for the baseline instruction set and for
 * AVX2, chosen when the network is built, and split their work into parts that
 * write disjoint target neurons, for a team of threads sharing one image.
 */
#include "internal.h"

#include <string.h>

/* SNN_VT, SNN_VL: the vector type of the gathers and its floats. SNN_NV: the
 * accumulator vectors a conv or dense gather keeps in registers: 8 of the
 * baseline's 16 xmm registers (32 channels), 8 of AVX2's 16 ymm registers, 4 of
 * AVX-512's 32 zmm registers (64 channels). SNN_DENSE_NV: the same for a dense
 * gather, whose loop has fewer live values (8 zmm registers: 128 outputs).
 * SNN_QUAD_NV: the vectors per pixel of the four-row conv gather's widest pass
 * (gather_quad, 4 x SNN_QUAD_NV accumulators), 0 where the registers do not
 * hold them: 16 of AVX-512's 32 zmm (64 channels a pass), all 16 of AVX2's ymm
 * registers (32 channels a pass; the weights are memory operands of the adds
 * or multiplies, so no register holds them; the multiplying gather also holds
 * its event's value and spills two accumulators around its loops).
 * SNN_QUAD_MIN_NV: its narrowest pass; the passes halve from SNN_QUAD_NV down to
 * it, so that with AVX-512 a 16- or 32-channel conv takes the four-row gather
 * in one pass of 1 or 2 zmm a pixel. SNN_QUAD_MAX_CO: the most output channels
 * that take it; with AVX2 only narrow convs gain (a 32-channel conv takes one
 * pass of 4 ymm a pixel), wider ones run as fast or faster through the row
 * gather's 8 accumulators (docs/performance.md). scatter_kernels.h undefines
 * them all at its end. */
#define SNN_QUAD_MAX_W 256  /* the widest output row gather_quad takes */
#define SNN_KERNEL(name) name##_generic
#define SNN_KERNEL_ATTR
#define SNN_VT snn_v4
#define SNN_VL 4
#define SNN_NV 8
#define SNN_DENSE_NV 8
#define SNN_QUAD_NV 0
#define SNN_QUAD_MIN_NV 0
#define SNN_QUAD_MAX_CO 0
#include "scatter_kernels.h"

#if SNN_HAVE_AVX2
#define SNN_KERNEL(name) name##_avx2
#define SNN_KERNEL_ATTR __attribute__((target("avx2")))
#define SNN_VT snn_v8
#define SNN_VL 8
#define SNN_NV 8
#define SNN_DENSE_NV 8
#define SNN_QUAD_NV 4
#define SNN_QUAD_MIN_NV 2
#define SNN_QUAD_MAX_CO 32
#include "scatter_kernels.h"
#endif

#if SNN_HAVE_AVX512
#define SNN_KERNEL(name) name##_avx512
#define SNN_KERNEL_ATTR __attribute__((target("avx512f")))
#define SNN_VT snn_v16
#define SNN_VL 16
#define SNN_NV 4
#define SNN_DENSE_NV 8
#define SNN_QUAD_NV 4
#define SNN_QUAD_MIN_NV 1
#define SNN_QUAD_MAX_CO INT64_MAX
#include "scatter_kernels.h"
#endif

int snn__cpu_has_avx2(void)
{
#if SNN_HAVE_AVX2
    __builtin_cpu_init();
    /* every AVX2 CPU has POPCNT; checked all the same, the passes use both */
    return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("popcnt") != 0;
#else
    return 0;
#endif
}

int snn__cpu_has_avx512(void)
{
#if SNN_HAVE_AVX512
    __builtin_cpu_init();
    /* the threshold passes' resets use FMA's multiply-add pipes (fire.c) */
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx2") != 0 &&
           __builtin_cpu_supports("fma") != 0 && __builtin_cpu_supports("popcnt") != 0;
#else
    return 0;
#endif
}

void snn__synaptic_kernels(int32_t isa, snn_scatter_fn *scatter, snn_maxpool_fn *maxpool)
{
    *scatter = scatter_generic;
    *maxpool = maxpool_pixel_generic;
#if SNN_HAVE_AVX512
    if (isa == SNN_ISA_AVX512) {
        *scatter = scatter_avx512;
        *maxpool = maxpool_pixel_avx512;
    }
#endif
#if SNN_HAVE_AVX2
    if (isa == SNN_ISA_AVX2) {
        *scatter = scatter_avx2;
        *maxpool = maxpool_pixel_avx2;
    }
#endif
    (void)isa;
}
