/*
 * The per-step passes over a population's neurons: the threshold pass of IF
 * populations and the relay pass, with a vector fast path for the common case
 * of a block of neurons where nothing fires. Compiled for the baseline (SSE2 on
 * x86-64, scalar elsewhere) and, where the compiler can target it per function,
 * for AVX2; net.c picks one set when the network is built.
 */
#include "internal.h"
#include "compress_table.h"

#if SNN_HAVE_AVX2 || (defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__)))
#include <immintrin.h>
#endif
#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define SNN_HAVE_SSE2 1
#else
#define SNN_HAVE_SSE2 0
#endif

/* ---- baseline: 4 lanes of SSE2 on x86-64, scalar elsewhere ---------------- */
#define SNN_KERNEL(name) name##_generic
#define SNN_KERNEL_ATTR
#if SNN_HAVE_SSE2
#define SNN_VW 4
#define SNN_VTYPE __m128
#define SNN_VLOAD _mm_loadu_ps
#define SNN_VSTORE _mm_storeu_ps
#define SNN_VZERO _mm_setzero_ps
#define SNN_VADD _mm_add_ps
#define SNN_VSUB _mm_sub_ps
/* -x by flipping the sign bit: exact, like the scalar negation */
#define SNN_VNEG(a) _mm_xor_ps((a), _mm_set1_ps(-0.0f))
#define SNN_VANDNOT _mm_andnot_ps
/* comparisons give all-ones lanes where true; ordered, as C's >= and <= (false
 * for NaN); != is unordered, as C's (true for NaN) */
#define SNN_VGE _mm_cmpge_ps
#define SNN_VLE _mm_cmple_ps
#define SNN_VNONZERO(a) _mm_cmpneq_ps((a), _mm_setzero_ps())
#define SNN_VBITS _mm_movemask_ps
/* mask ? a : b (SSE2 has no blend) */
#define SNN_VSELECT(m, a, b) _mm_or_ps(_mm_and_ps((m), (a)), _mm_andnot_ps((m), (b)))
#define SNN_VSET1 _mm_set1_ps
/* qi[j] = first + t[j], qv[j] = vals[t[j]] for j < 4, t the lanes set in bits
 * (SSE2 has no variable permute: four scalar moves, still no branch) */
#define SNN_VSTORE_LANES(qi, qv, first, bits, vals)                                \
    do {                                                                            \
        const uint8_t *t_ = snn__compress_lanes[(bits)];                            \
        float l_[4];                                                                \
        int j_;                                                                     \
        _mm_storeu_ps(l_, (vals));                                                  \
        for (j_ = 0; j_ < 4; j_++) {                                                \
            (qi)[j_] = (int32_t)((first) + t_[j_]);                                 \
            (qv)[j_] = l_[t_[j_]];                                                  \
        }                                                                           \
    } while (0)
#else
#define SNN_VW 0
#endif
#include "fire_kernels.h"

/* ---- AVX2: 8 lanes --------------------------------------------------------- */
#if SNN_HAVE_AVX2
#define SNN_KERNEL(name) name##_avx2
#define SNN_KERNEL_ATTR __attribute__((target("avx2")))
#define SNN_VW 8
#define SNN_VTYPE __m256
#define SNN_VLOAD _mm256_loadu_ps
#define SNN_VSTORE _mm256_storeu_ps
#define SNN_VZERO _mm256_setzero_ps
#define SNN_VADD _mm256_add_ps
#define SNN_VSUB _mm256_sub_ps
#define SNN_VNEG(a) _mm256_xor_ps((a), _mm256_set1_ps(-0.0f))
#define SNN_VANDNOT _mm256_andnot_ps
#define SNN_VGE(a, b) _mm256_cmp_ps((a), (b), _CMP_GE_OQ)
#define SNN_VLE(a, b) _mm256_cmp_ps((a), (b), _CMP_LE_OQ)
#define SNN_VNONZERO(a) _mm256_cmp_ps((a), _mm256_setzero_ps(), _CMP_NEQ_UQ)
#define SNN_VBITS _mm256_movemask_ps
#define SNN_VSELECT(m, a, b) _mm256_blendv_ps((b), (a), (m))
#define SNN_VSET1 _mm256_set1_ps
/* the lanes set in bits, moved to the front of an index and a value vector */
#define SNN_VSTORE_LANES(qi, qv, first, bits, vals)                                          \
    do {                                                                                      \
        const __m256i t_ = _mm256_cvtepu8_epi32(                                              \
            _mm_loadl_epi64((const __m128i *)(const void *)snn__compress_lanes[(bits)]));     \
        _mm256_storeu_si256((__m256i *)(void *)(qi),                                          \
                            _mm256_add_epi32(t_, _mm256_set1_epi32((int32_t)(first))));       \
        _mm256_storeu_ps((qv), _mm256_permutevar8x32_ps((vals), t_));                         \
    } while (0)
#include "fire_kernels.h"
#endif

void snn__neuron_kernels(int32_t isa, snn_fire_fn *fire, snn_relay_fn *relay)
{
#if SNN_HAVE_AVX2
    if (isa == SNN_ISA_AVX2 || isa == SNN_ISA_AVX512) {
        *fire = fire_avx2;
        *relay = relay_avx2;
        return;
    }
#endif
    (void)isa;
    *fire = fire_generic;
    *relay = relay_generic;
}
