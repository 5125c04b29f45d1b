/*
 * npy.h - a strict reader of .npy array headers (private to the loader and snnrun).
 *
 * A .npy file is: the 6 magic bytes "\x93NUMPY", a version (major, minor), the
 * length of the header (2 bytes little-endian for version 1.0, 4 bytes for 2.0), and
 * the header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by a newline; then the raw data.
 *
 * This reader accepts the subset numpy writes: versions 1.0 and 2.0, exactly the
 * keys descr, fortran_order and shape (each once), a quoted descr without escapes,
 * True/False, and a tuple of non-negative decimal integers. Everything else is a
 * broken header. Nothing here allocates.
 */
#ifndef SNN_NPY_H
#define SNN_NPY_H

#include <stddef.h>
#include <stdint.h>

#define SNN_NPY_MAGIC_LEN 8        /* magic + version */
#define SNN_NPY_MAX_HEADER 10000   /* longest header dict accepted, in bytes (as numpy) */
#define SNN_NPY_MAX_NDIM 32
#define SNN_NPY_MAX_DIM ((uint64_t)1 << 62)

typedef struct snn_npy_header {
    char descr[24];             /* the dtype descriptor as written, e.g. "<f4" */
    int fortran_order;          /* 1: the data is in Fortran (column-major) order */
    int ndim;                   /* 0 .. SNN_NPY_MAX_NDIM */
    uint64_t shape[SNN_NPY_MAX_NDIM];
    uint64_t count;             /* product of the shape (valid unless count_overflow) */
    int count_overflow;         /* the product does not fit in 63 bits */
} snn_npy_header;

/*
 * Checks the first SNN_NPY_MAGIC_LEN bytes. @return the width in bytes of the
 * header length that follows (2 for version 1.0, 4 for 2.0), 0 when the magic is
 * wrong, or -1 for another version (then *major, *minor tell which).
 */
int snn_npy_magic(const unsigned char *p, int *major, int *minor);

/* The header length stored in the `width` (2 or 4) little-endian bytes at p. */
uint32_t snn_npy_header_len(const unsigned char *p, int width);

/*
 * Parses the header dict text (`len` bytes at p, not NUL-terminated).
 * @return 0 and fills *out, or -1 with a short reason in `why` (NUL-terminated).
 */
int snn_npy_parse(const char *p, size_t len, snn_npy_header *out, char *why, size_t why_len);

/* Writes the shape as Python prints a tuple, "(3,)" or "(2, 3)", into buf. */
void snn_npy_format_shape(const snn_npy_header *h, char *buf, size_t cap);

/*
 * Converts an array of `h` (element size `itemsize`) from Fortran order in `src`
 * to C order in `dst` (distinct buffers of h->count elements). A no-op copy for
 * fewer than 2 dimensions.
 */
void snn_npy_fortran_to_c(const snn_npy_header *h, size_t itemsize, const void *src, void *dst);

/*
 * Writes a version 1.0 header for a little-endian C-order array of `descr` ("<f4",
 * "<i8", ...) with `ndim` dimensions into buf, padded so that the data starts on a
 * 64-byte boundary. @return the header's length in bytes (a multiple of 64), or 0
 * when cap is too small.
 */
size_t snn_npy_write_header(char *buf, size_t cap, const char *descr, int ndim,
                            const int64_t *shape);

#endif
