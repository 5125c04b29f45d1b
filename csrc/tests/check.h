/* A minimal test harness: no framework, one executable per property. */
#ifndef SNN_TEST_CHECK_H
#define SNN_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_STATUS(expr, expected)                                             \
    do {                                                                         \
        int check_s_ = (expr);                                                   \
        if (check_s_ != (expected)) {                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, \
                    __LINE__, #expr, check_s_, snn_strerror(check_s_), (int)(expected)); \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_DONE()                                                             \
    do {                                                                         \
        if (check_failures) {                                                    \
            fprintf(stderr, "%d check(s) failed\n", check_failures);             \
            return EXIT_FAILURE;                                                 \
        }                                                                        \
        printf("all checks passed\n");                                           \
        return EXIT_SUCCESS;                                                     \
    } while (0)

#endif
