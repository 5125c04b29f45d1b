/* snn__divide (internal.h), the multiply-and-shift division that finds an
 * identity or upsample2d event's channel, equals integer division for every
 * neuron index an int32 queue can hold: checked for every divisor up to 2^14
 * at the indices around its multiples where an error would first show (just
 * below and at k * d, for small k and near 2^31), and for large divisors. */
#include "check.h"
#include "../src/internal.h"

#include <stdint.h>

static int wrong = 0;

static void check_at(snn_divider dv, int64_t d, int64_t i)
{
    if (i < 0 || i > INT32_MAX) return;
    if (snn__divide(dv, i) != i / d && wrong++ < 10)
        fprintf(stderr, "%lld / %lld: got %lld\n", (long long)i, (long long)d,
                (long long)snn__divide(dv, i));
}

/* i = k * d - 1, k * d, k * d + d - 1 for the first multiples and the last
 * ones below 2^31, and the largest index. */
static void check_divisor(int64_t d)
{
    const snn_divider dv = snn__divider(d);
    const int64_t last = INT32_MAX / d;
    int64_t k;
    for (k = 0; k < 64; k++) {
        check_at(dv, d, k * d - 1);
        check_at(dv, d, k * d);
        check_at(dv, d, k * d + d - 1);
        check_at(dv, d, (last - k) * d - 1);
        check_at(dv, d, (last - k) * d);
        check_at(dv, d, (last - k) * d + d - 1);
    }
    check_at(dv, d, INT32_MAX);
}

int main(void)
{
    int64_t d;
    for (d = 1; d <= 1 << 14; d++) check_divisor(d);
    for (d = INT32_MAX; d > INT32_MAX - 1000; d--) check_divisor(d);
    for (d = 3; d < INT32_MAX / 3; d = d * 3 + 1) check_divisor(d);
    for (d = 1; d < INT32_MAX; d *= 2) {
        check_divisor(d);
        check_divisor(d + 1);
    }
    CHECK(wrong == 0);
    CHECK_DONE();
}
