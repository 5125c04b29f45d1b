/*
 * The per-step passes over a population's neurons: the threshold pass of IF
 * populations and the relay pass, vectorised and branch-free (fire_kernels.h).
 * Compiled for the baseline (SSE2 on x86-64, NEON on 64-bit ARM, scalar
 * elsewhere) and, where the compiler can target it per function, for AVX2 and
 * AVX-512; net.c picks one set when the network is built.
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
/* NEON is part of every 64-bit ARM CPU (AArch64), so it is that baseline; on
 * 32-bit ARM it is optional (Debian's armhf does not assume it) and the baseline
 * stays scalar. */
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define SNN_HAVE_NEON 1
#else
#define SNN_HAVE_NEON 0
#endif

/* The 4-lane baselines (SSE2, NEON) have no compress instruction: qi[j] = first +
 * t[j], qv[j] = vals[t[j]] for j < 4, t the lanes set in bits, by four scalar
 * moves, still no branch. STORE4 stores the 4 floats of vals to an array. */
#define SNN_STORE_LANES4(qi, qv, first, bits, vals, STORE4)                        \
    do {                                                                            \
        const uint8_t *t_ = snn__compress_lanes[(bits)];                            \
        float l_[4];                                                                \
        int j_;                                                                     \
        STORE4(l_, (vals));                                                         \
        for (j_ = 0; j_ < 4; j_++) {                                                \
            (qi)[j_] = (int32_t)((first) + t_[j_]);                                 \
            (qv)[j_] = l_[t_[j_]];                                                  \
        }                                                                           \
    } while (0)

/* ---- baseline: 4 lanes of SSE2 on x86-64 or NEON on AArch64, else scalar -- */
#define SNN_KERNEL(name) name##_generic
#define SNN_KERNEL_ATTR
#if SNN_HAVE_SSE2
#define SNN_VW 4
#define SNN_VTYPE __m128
#define SNN_VMASK __m128
#define SNN_VCOUNT(bits) snn__lane_count[(bits)]
#define SNN_VLOAD _mm_loadu_ps
#define SNN_VSTORE _mm_storeu_ps
#define SNN_VZERO _mm_setzero_ps
#define SNN_VADD _mm_add_ps
#define SNN_VSUB _mm_sub_ps
/* -x by flipping the sign bit: exact, like the scalar negation */
#define SNN_VNEG(a) _mm_xor_ps((a), _mm_set1_ps(-0.0f))
#define SNN_VANDNOT _mm_andnot_ps
#define SNN_VAND _mm_and_ps
/* comparisons give all-ones lanes where true; ordered, as C's >= and <= (false
 * for NaN); != is unordered, as C's (true for NaN) */
#define SNN_VGE _mm_cmpge_ps
#define SNN_VLE _mm_cmple_ps
#define SNN_VNONZERO(a) _mm_cmpneq_ps((a), _mm_setzero_ps())
#define SNN_VBITS _mm_movemask_ps
/* mask ? a : b (SSE2 has no blend) */
#define SNN_VSELECT(m, a, b) _mm_or_ps(_mm_and_ps((m), (a)), _mm_andnot_ps((m), (b)))
#define SNN_VSET1 _mm_set1_ps
#define SNN_VOR _mm_or_ps
#define SNN_VMUL _mm_mul_ps
#define SNN_VSTORE_LANES(qi, qv, first, bits, vals) \
    SNN_STORE_LANES4(qi, qv, first, bits, vals, _mm_storeu_ps)
#elif SNN_HAVE_NEON
#define SNN_VW 4
#define SNN_VTYPE float32x4_t
#define SNN_VMASK uint32x4_t
#define SNN_VCOUNT(bits) snn__lane_count[(bits)]
#define SNN_VLOAD vld1q_f32
#define SNN_VSTORE vst1q_f32
#define SNN_VZERO() vdupq_n_f32(0.0f)
#define SNN_VADD vaddq_f32
#define SNN_VSUB vsubq_f32
/* fneg flips the sign bit: exact, like the scalar negation */
#define SNN_VNEG vnegq_f32
/* ~a & b, as SSE's andnot (NEON's bic clears in its first operand the bits of
 * its second) */
#define SNN_VANDNOT(a, b) vbicq_u32((b), (a))
#define SNN_VAND vandq_u32
/* all-ones lanes where true; ordered as C's >= and <= (false for NaN); != is the
 * negation of ==, unordered as C's (true for NaN) */
#define SNN_VGE vcgeq_f32
#define SNN_VLE vcleq_f32
#define SNN_VNONZERO(a) vmvnq_u32(vceqq_f32((a), vdupq_n_f32(0.0f)))
/* NEON has no movemask: each lane keeps its own bit (1, 2, 4, 8), summed */
#define SNN_VBITS(m) vaddvq_u32(vandq_u32((m), vld1q_u32(snn__neon_lane_bits)))
#define SNN_VSELECT(m, a, b) vbslq_f32((m), (a), (b))
#define SNN_VSET1 vdupq_n_f32
#define SNN_VOR vorrq_u32
#define SNN_VMUL vmulq_f32
#define SNN_VSTORE_LANES(qi, qv, first, bits, vals) \
    SNN_STORE_LANES4(qi, qv, first, bits, vals, vst1q_f32)
static const uint32_t snn__neon_lane_bits[4] = {1, 2, 4, 8};
#else
#define SNN_VW 0
#endif
#include "fire_kernels.h"

/* ---- AVX2: 8 lanes --------------------------------------------------------- */
#if SNN_HAVE_AVX2
#define SNN_KERNEL(name) name##_avx2
#define SNN_KERNEL_ATTR __attribute__((target("avx2,popcnt")))
#define SNN_VW 8
#define SNN_VTYPE __m256
#define SNN_VMASK __m256
#define SNN_VCOUNT(bits) __builtin_popcount(bits)
#define SNN_VLOAD _mm256_loadu_ps
#define SNN_VSTORE _mm256_storeu_ps
#define SNN_VZERO _mm256_setzero_ps
#define SNN_VADD _mm256_add_ps
#define SNN_VSUB _mm256_sub_ps
#define SNN_VNEG(a) _mm256_xor_ps((a), _mm256_set1_ps(-0.0f))
#define SNN_VANDNOT _mm256_andnot_ps
#define SNN_VAND _mm256_and_ps
#define SNN_VGE(a, b) _mm256_cmp_ps((a), (b), _CMP_GE_OQ)
#define SNN_VLE(a, b) _mm256_cmp_ps((a), (b), _CMP_LE_OQ)
#define SNN_VNONZERO(a) _mm256_cmp_ps((a), _mm256_setzero_ps(), _CMP_NEQ_UQ)
#define SNN_VBITS _mm256_movemask_ps
#define SNN_VSELECT(m, a, b) _mm256_blendv_ps((b), (a), (m))
#define SNN_VSET1 _mm256_set1_ps
#define SNN_VOR _mm256_or_ps
#define SNN_VMUL _mm256_mul_ps
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

/* ---- AVX-512: 16 lanes, comparisons into mask registers --------------------- */
#if SNN_HAVE_AVX512
#define SNN_KERNEL(name) name##_avx512_16
#define SNN_KERNEL_ATTR __attribute__((target("avx512f,fma,popcnt")))
#define SNN_VW 16
#define SNN_VTYPE __m512
#define SNN_VMASK __mmask16
#define SNN_VCOUNT(bits) __builtin_popcount(bits)
/* The passes by pool window (fire_windows, ahead_windows: SNN_WINDOWS), with
 * per-lane spike counters, a masked add each (32 registers hold one per step
 * of a run-ahead block); SNN_AHEAD_G membranes at a time in a run-ahead
 * block. Only this set defines SNN_WINDOWS: with 16 vector registers (SSE2,
 * AVX2) the counters and a block's pooled currents would not stay in
 * registers, so those sets take the position-by-position passes. */
#define SNN_WINDOWS 1
#define SNN_VCNT __m512i
#define SNN_VCNT_ZERO _mm512_setzero_si512
#define SNN_VCNT_ADD(cnt, fired) _mm512_mask_sub_epi32((cnt), (fired), (cnt), \
                                                       _mm512_set1_epi32(-1))
#define SNN_VCNT_SUM(cnt) ((int64_t)_mm512_reduce_add_epi32(cnt))
#define SNN_AHEAD_G 4
#define SNN_VLOAD _mm512_loadu_ps
#define SNN_VSTORE _mm512_storeu_ps
#define SNN_VZERO _mm512_setzero_ps
#define SNN_VADD _mm512_add_ps
/* u - th as -(th x 1) + u: exactly rounded once, as a subtraction, so the
 * result is the same bits; it issues as a multiply-add, which on cores with
 * separate add and multiply-add units relieves the adds that the rest of the
 * threshold pass (integration, resets, pool additions) is made of. */
#define SNN_VSUB(a, b) _mm512_fnmadd_ps((b), _mm512_set1_ps(1.0f), (a))
#define SNN_VNEG(a) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), \
                                                         _mm512_set1_epi32(INT32_MIN)))
#define SNN_VANDNOT(a, b) ((__mmask16)(~(a) & (b)))
#define SNN_VAND(a, b) ((__mmask16)((a) & (b)))
#define SNN_VGE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ)
#define SNN_VLE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LE_OQ)
#define SNN_VNONZERO(a) _mm512_cmp_ps_mask((a), _mm512_setzero_ps(), _CMP_NEQ_UQ)
#define SNN_VBITS(m) ((unsigned)(m))
#define SNN_VSELECT(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
#define SNN_VSET1 _mm512_set1_ps
#define SNN_VOR(a, b) ((__mmask16)((a) | (b)))
#define SNN_VMUL _mm512_mul_ps
/* the lanes set in bits, moved to the front by AVX-512's compress */
#define SNN_VSTORE_LANES(qi, qv, first, bits, vals)                                          \
    do {                                                                                      \
        const __m512i lane_ = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,     \
                                                13, 14, 15);                                  \
        _mm512_storeu_si512((void *)(qi), _mm512_maskz_compress_epi32(                        \
            (__mmask16)(bits), _mm512_add_epi32(lane_, _mm512_set1_epi32((int32_t)(first))))); \
        _mm512_storeu_ps((qv), _mm512_maskz_compress_ps((__mmask16)(bits), (vals)));          \
    } while (0)
#include "fire_kernels.h"

/* Populations whose channels are not a multiple of 16 would leave most neurons
 * to the scalar tail: they take the AVX2 passes. */
static int64_t fire_avx512(const snn_pop *p, float *V, const float *K, int32_t *qi, float *qv,
                           int32_t *first, int32_t *end, int64_t row0, int64_t row1,
                           snn_fold *fold)
{
    return (p->C % 16 ? fire_avx2 : fire_avx512_16)(p, V, K, qi, qv, first, end, row0, row1,
                                                      fold);
}

static int64_t relay_avx512(const snn_pop *p, float *A, const float *K, int32_t *qi, float *qv,
                            int32_t *first, int32_t *end, int64_t row0, int64_t row1,
                            snn_fold *fold)
{
    return (p->C % 16 ? relay_avx2 : relay_avx512_16)(p, A, K, qi, qv, first, end, row0, row1,
                                                        fold);
}

static void fire_ahead_avx512(const snn_pop *p, float *V, const float *K, int64_t row0,
                              int64_t row1, snn_ahead *a)
{
    (p->C % 16 ? fire_ahead_avx2 : fire_ahead_avx512_16)(p, V, K, row0, row1, a);
}
#endif

void snn__neuron_kernels(int32_t isa, snn_fire_fn *fire, snn_relay_fn *relay,
                         snn_ahead_fn *fire_ahead)
{
#if SNN_HAVE_AVX512
    if (isa == SNN_ISA_AVX512) {
        *fire = fire_avx512;
        *relay = relay_avx512;
        *fire_ahead = fire_ahead_avx512;
        return;
    }
#endif
#if SNN_HAVE_AVX2
    if (isa == SNN_ISA_AVX2) {
        *fire = fire_avx2;
        *relay = relay_avx2;
        *fire_ahead = fire_ahead_avx2;
        return;
    }
#endif
    (void)isa;
    *fire = fire_generic;
    *relay = relay_generic;
    *fire_ahead = fire_ahead_generic;
}
