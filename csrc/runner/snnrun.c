/*
 * snnrun - run a spiking network stored as .npz (docs/format.md) on images stored
 * as .npy, with no Python: the C twin of `snncore run` / `snncore info`.
 *
 * Uses libsnncore through <snn.h> only, plus the .npy header reader the loader
 * uses (csrc/loader/npy.c, compiled in) for the images and the result files.
 */
#include <snn.h>

#include "npy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    EXIT_OK = 0,
    EXIT_RUN = 1,       /* the run itself failed (memory, threads, writing a result) */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_NETWORK = 3,   /* the network file cannot be read or is invalid */
    EXIT_INPUT = 4      /* the input file cannot be read or is invalid */
};

static const char USAGE[] =
    "usage: snnrun NET.npz INPUT.npy [options]\n"
    "       snnrun --info NET.npz\n"
    "       snnrun --help | --version\n";

/* A macro's value as a string literal. */
#define STRING_(x) #x
#define STRING(x) STRING_(x)

static const char HELP[] =
    "\n"
    "Runs a spiking network stored as .npz (snncore format 1) on the images in a .npy\n"
    "file, with the same results as snncore's Network.run, and prints the predicted\n"
    "class of each image (the argmax of the decoded output at the last step).\n"
    "\n"
    "INPUT.npy holds float32 or uint8 images of shape (N, *input_shape), (N, size) or\n"
    "input_shape (one image); uint8 images are scaled by the file's uint8_scale.\n"
    "\n"
    "options:\n"
    "  -T, --timesteps T       steps to simulate, 1..2^30 (default 64)\n"
    "  -e, --encoding E        analog, poisson or regular (default: the file's hint)\n"
    "      --rate R            spikes per unit input per step for poisson/regular\n"
    "                          (default: the file's hint)\n"
    "  -s, --seed S            seed of the poisson encoder, 0..2^64-1 (default 0)\n"
    "  -j, --threads N         worker threads, 1.." STRING(SNN_MAX_THREADS)
    " (default: the CPUs online, fewer\n"
    "                          for a few images on a small network); results do not\n"
    "                          depend on it\n"
    "      --team WAY          with fewer images than threads: always (the threads\n"
    "                          share each image), never (one thread), or auto (the\n"
    "                          library's runner times both over a stream of runs;\n"
    "                          for this one run, the team); the same results\n"
    "      --isa NAME          the kernels: auto (the widest the CPU has), generic,\n"
    "                          avx2 or avx512 (default: the environment variable\n"
    "                          SNNCORE_ISA, else auto); all give the same results\n"
    "  -c, --checkpoints LIST  comma-separated steps in 1..T at which to record the\n"
    "                          outputs and counters, e.g. 8,16,32 (T is always added)\n"
    "      --readout-start D   delayed read-out: the output counts steps D..T only\n"
    "                          (default: the file's hint, at most T)\n"
    "  -o, --output FILE.npy   write the decoded outputs, float32 of shape (N, K), or\n"
    "                          (N, n_checkpoints, K) with --checkpoints\n"
    "      --spikes FILE.npy   write the spikes per population, int64 (N, P) or\n"
    "                          (N, n_checkpoints, P)\n"
    "      --synops FILE.npy   write the synaptic operations per projection, int64\n"
    "                          (N, J) or (N, n_checkpoints, J)\n"
    "      --csv               print, instead of the predictions, one CSV row per image\n"
    "                          and checkpoint: image,t,prediction,y0..,spikes0..,synops0..\n"
    "      --profile           print on stderr the time spent per population (threshold\n"
    "                          or relay pass) and per projection (synaptic updates),\n"
    "                          summed over images and threads, and each projection's\n"
    "                          synaptic operations per second\n"
    "  -q, --quiet             no summary line on stderr\n"
    "      --info              print the network's summary and exit\n"
    "  -h, --help              print this help and exit\n"
    "  -V, --version           print the version and exit\n"
    "\n"
    "exit status: 0 success, 1 the run failed, 2 bad command line, 3 bad network\n"
    "file, 4 bad input file.\n";

typedef struct options {
    const char *net_path, *input_path;
    const char *output_path, *spikes_path, *synops_path;
    int info, csv, quiet, profile;
    int32_t timesteps;
    int encoding;               /* -1: the file's hint */
    double rate;                /* <= 0: the file's hint */
    uint64_t seed;
    int32_t threads;            /* 0: the CPUs online */
    int32_t team;               /* SNN_TEAM_*: for fewer images than threads */
    int32_t isa;                /* an snn_isa */
    int32_t readout_start;      /* 0: the file's hint */
    int32_t *checkpoints;       /* sorted, unique, T included */
    int32_t n_checkpoints;
    int checkpoints_given;
    const char *checkpoint_text;
} options;

/* ---- messages ------------------------------------------------------------ */

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "snnrun: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%sTry 'snnrun --help' for more information.\n", USAGE);
    return EXIT_USAGE;
}

static int error(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "snnrun: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* Prints a name from a file with control characters escaped. */
static void print_name(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
        else fputc(c, out);
    }
}

/* ---- the command line ----------------------------------------------------- */

static int parse_int64(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;
    if (*s == '\0' || *s == ' ' || *s == '+') return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The checkpoints: each in 1..T, sorted, duplicates dropped, T added. */
static int make_checkpoints(options *o)
{
    const char *p = o->checkpoint_text;
    int32_t n = 0, cap = 1, k, m = 0;
    if (p) {
        const char *q;
        for (q = p; *q; q++) cap += *q == ',';
    }
    o->checkpoints = malloc(((size_t)cap + 1) * sizeof *o->checkpoints);
    if (o->checkpoints == NULL) return error(EXIT_RUN, "out of memory");
    while (p && *p) {
        char item[32];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long long v;
        if (len > 0) {
            if (len >= sizeof item) return usage_error("checkpoint '%.*s' is not an integer", 20, p);
            memcpy(item, p, len);
            item[len] = '\0';
            if (parse_int64(item, LLONG_MIN, LLONG_MAX, &v) != 0)
                return usage_error("checkpoints must be comma-separated integers, got '%s'", item);
            if (v < 1 || v > o->timesteps)
                return usage_error("checkpoint %lld is outside 1..%d (the timesteps)", v,
                                   (int)o->timesteps);
            o->checkpoints[n++] = (int32_t)v;
        }
        p = comma ? comma + 1 : NULL;
    }
    o->checkpoints[n++] = o->timesteps;
    qsort(o->checkpoints, (size_t)n, sizeof *o->checkpoints, cmp_int32);
    for (k = 0; k < n; k++)
        if (m == 0 || o->checkpoints[k] != o->checkpoints[m - 1]) o->checkpoints[m++] = o->checkpoints[k];
    o->n_checkpoints = m;
    return EXIT_OK;
}

/* Matches argv[*i] against a long and a short spelling; takes its value when it has one. */
static int option(int argc, char **argv, int *i, const char *lng, const char *shrt,
                  const char **value, int *status)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (value == NULL) return strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0);
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
        if (*i + 1 >= argc) {
            *status = usage_error("option %s needs a value", a);
            return 1;
        }
        *value = argv[++*i];
        return 1;
    }
    return 0;
}

/* An instruction set's name, as Python's SNNCORE_ISA takes it (case and
 * surrounding blanks aside); 0 on success. */
static int parse_isa(const char *text, int32_t *isa)
{
    char word[16];
    size_t n = 0;
    while (*text == ' ' || *text == '\t') text++;
    for (; *text && *text != ' ' && *text != '\t'; text++) {
        if (n + 1 >= sizeof word) return -1;
        word[n++] = (char)(*text >= 'A' && *text <= 'Z' ? *text - 'A' + 'a' : *text);
    }
    while (*text == ' ' || *text == '\t') text++;
    word[n] = '\0';
    if (*text) return -1;
    *isa = n == 0 ? SNN_ISA_AUTO : snn_isa_from_name(word);
    return *isa < 0 ? -1 : 0;
}

/* "a, b or c": the names a library table gives, counting up from 0. */
static const char *list_names(const char *(*name_of)(int32_t), char buf[128])
{
    size_t n = 0;
    int32_t k;
    buf[0] = '\0';
    for (k = 0; name_of(k) && n < 100; k++)
        n += (size_t)snprintf(buf + n, 128 - n, "%s%s", k == 0 ? "" : name_of(k + 1) ? ", " : " or ",
                              name_of(k));
    return buf;
}

static int parse_args(int argc, char **argv, options *o)
{
    char names[128];
    int i, status = EXIT_OK, n_pos = 0, options_done = 0;
    const char *pos[2] = {NULL, NULL};
    const char *env_isa = getenv("SNNCORE_ISA");
    memset(o, 0, sizeof *o);
    o->timesteps = 64;
    o->encoding = -1;
    o->isa = SNN_ISA_AUTO;
    if (env_isa && parse_isa(env_isa, &o->isa) != 0)
        return usage_error("SNNCORE_ISA must be %s, got '%s'", list_names(snn_isa_name, names),
                           env_isa);
    for (i = 1; i < argc && status == EXIT_OK; i++) {
        const char *a = argv[i], *v = NULL;
        long long x;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (n_pos == 2) return usage_error("unexpected argument '%s'", a);
            pos[n_pos++] = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = 1;
        } else if (option(argc, argv, &i, "--help", "-h", NULL, &status)) {
            printf("%s%s", USAGE, HELP);
            exit(EXIT_OK);
        } else if (option(argc, argv, &i, "--version", "-V", NULL, &status)) {
            printf("snnrun (snncore) %s, file format %d%s\n", snn_version_string(), SNN_FORMAT_VERSION,
                   snn_has_loader() ? "" : " (built without the loader)");
            exit(EXIT_OK);
        } else if (option(argc, argv, &i, "--info", NULL, NULL, &status)) {
            o->info = 1;
        } else if (option(argc, argv, &i, "--csv", NULL, NULL, &status)) {
            o->csv = 1;
        } else if (option(argc, argv, &i, "--profile", NULL, NULL, &status)) {
            o->profile = 1;
        } else if (option(argc, argv, &i, "--quiet", "-q", NULL, &status)) {
            o->quiet = 1;
        } else if (option(argc, argv, &i, "--timesteps", "-T", &v, &status)) {
            if (v && parse_int64(v, 1, (long long)1 << 30, &x) != 0)
                return usage_error("--timesteps must be an integer in 1..%d, got '%s'", 1 << 30, v);
            if (v) o->timesteps = (int32_t)x;
        } else if (option(argc, argv, &i, "--encoding", "-e", &v, &status)) {
            if (v && (o->encoding = snn_encoding_from_name(v)) < 0)
                return usage_error("--encoding must be %s, got '%s'",
                                   list_names(snn_encoding_name, names), v);
        } else if (option(argc, argv, &i, "--rate", NULL, &v, &status)) {
            char *end;
            if (v) {
                errno = 0;
                o->rate = strtod(v, &end);
                if (*v == '\0' || *end != '\0' || errno || !(o->rate > 0) || o->rate > 1e300)
                    return usage_error("--rate must be a finite number > 0, got '%s'", v);
            }
        } else if (option(argc, argv, &i, "--seed", "-s", &v, &status)) {
            if (v && parse_u64(v, &o->seed) != 0)
                return usage_error("--seed must be an integer in 0..2^64-1, got '%s'", v);
        } else if (option(argc, argv, &i, "--threads", "-j", &v, &status)) {
            if (v && parse_int64(v, 1, SNN_MAX_THREADS, &x) != 0)
                return usage_error("--threads must be an integer in 1..%d, got '%s'",
                                   SNN_MAX_THREADS, v);
            if (v) o->threads = (int32_t)x;
        } else if (option(argc, argv, &i, "--team", NULL, &v, &status)) {
            if (v && (o->team = snn_team_policy_from_name(v)) < 0)
                return usage_error("--team must be %s, got '%s'",
                                   list_names(snn_team_policy_name, names), v);
        } else if (option(argc, argv, &i, "--isa", NULL, &v, &status)) {
            if (v && parse_isa(v, &o->isa) != 0)
                return usage_error("--isa must be %s, got '%s'", list_names(snn_isa_name, names), v);
        } else if (option(argc, argv, &i, "--checkpoints", "-c", &v, &status)) {
            o->checkpoint_text = v;
            o->checkpoints_given = 1;
        } else if (option(argc, argv, &i, "--readout-start", NULL, &v, &status)) {
            if (v && parse_int64(v, 1, (long long)1 << 30, &x) != 0)
                return usage_error("--readout-start must be an integer >= 1, got '%s'", v);
            if (v) o->readout_start = (int32_t)x;
        } else if (option(argc, argv, &i, "--output", "-o", &v, &status)) {
            o->output_path = v;
        } else if (option(argc, argv, &i, "--spikes", NULL, &v, &status)) {
            o->spikes_path = v;
        } else if (option(argc, argv, &i, "--synops", NULL, &v, &status)) {
            o->synops_path = v;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (status != EXIT_OK) return status;
    o->net_path = pos[0];
    o->input_path = pos[1];
    if (o->info) {
        if (n_pos != 1) return usage_error("--info takes one network file");
        return EXIT_OK;
    }
    if (n_pos != 2) return usage_error("expected a network file and an input file");
    if (o->readout_start > o->timesteps)
        return usage_error("--readout-start %d is after the last step %d", (int)o->readout_start,
                           (int)o->timesteps);
    return make_checkpoints(o);
}

/* ---- files ----------------------------------------------------------------- */

/* Reads a whole regular file. @return 0, or -1 with errno-style text in why. */
static int read_file(const char *path, unsigned char **data, size_t *size, const char **why)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char *buf;
    if (f == NULL) {
        *why = strerror(errno);
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        fclose(f);
        return -1;
    }
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL) {
        *why = "out of memory";
        fclose(f);
        return -1;
    }
    if (st.st_size > 0 && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        *why = "read error";
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = buf;
    *size = (size_t)st.st_size;
    return 0;
}

typedef struct images {
    float *x;           /* n * size floats, CHW order */
    int64_t n, size;
} images;

/* The images of a .npy file, checked and converted as Network.run does (_prepare_input). */
static int read_images(const char *path, const snn_population_desc *in, const snn_file_info *info,
                       int encoding, images *out)
{
    unsigned char *data = NULL;
    size_t size = 0, hlen, header_size, itemsize;
    const char *why = NULL;
    int width, major, minor, is_u8, k;
    snn_npy_header h;
    char reason[96];
    int64_t want[3], ndim_in = in->ndim, img_size = 1, n = 0, i;
    float scale;
    void *values;

    if (read_file(path, &data, &size, &why) != 0)
        return error(EXIT_INPUT, "cannot read %s: %s", path, why);
    if (size < SNN_NPY_MAGIC_LEN || (width = snn_npy_magic(data, &major, &minor)) == 0) {
        free(data);
        return error(EXIT_INPUT, "%s: not a .npy file", path);
    }
    if (width < 0) {
        free(data);
        return error(EXIT_INPUT, "%s: unsupported .npy version %d.%d", path, major, minor);
    }
    if (size < SNN_NPY_MAGIC_LEN + (size_t)width) {
        free(data);
        return error(EXIT_INPUT, "%s: the .npy header is truncated", path);
    }
    hlen = snn_npy_header_len(data + SNN_NPY_MAGIC_LEN, width);
    header_size = SNN_NPY_MAGIC_LEN + (size_t)width + hlen;
    if (hlen > SNN_NPY_MAX_HEADER || header_size > size) {
        free(data);
        return error(EXIT_INPUT, "%s: the .npy header is truncated or too long", path);
    }
    if (snn_npy_parse((const char *)data + SNN_NPY_MAGIC_LEN + width, hlen, &h, reason,
                      sizeof reason) != 0) {
        free(data);
        return error(EXIT_INPUT, "%s: broken .npy header (%s)", path, reason);
    }
    is_u8 = strcmp(h.descr, "|u1") == 0 || strcmp(h.descr, "<u1") == 0;
    if (!is_u8 && strcmp(h.descr, "<f4") != 0) {
        free(data);
        return error(EXIT_INPUT, "%s: images of dtype '%s' are not supported; save float32 "
                     "('<f4') or uint8 ('|u1') images", path, h.descr);
    }
    itemsize = is_u8 ? 1 : 4;
    if (h.count_overflow || h.count > (uint64_t)(size - header_size) / itemsize ||
        h.count * itemsize != size - header_size) {
        free(data);
        return error(EXIT_INPUT, "%s: the .npy header's shape does not match the %lu data bytes "
                     "of the file", path, (unsigned long)(size - header_size));
    }
    want[0] = in->shape[0];
    want[1] = in->shape[1];
    want[2] = in->shape[2];
    for (k = 0; k < ndim_in; k++) img_size *= want[k];
    /* one image of the input's shape, a batch of them, or a batch of flat images */
    if (h.ndim == ndim_in) {
        int same = 1;
        for (k = 0; k < ndim_in; k++) same &= h.shape[k] == (uint64_t)want[k];
        if (same) n = 1;
    }
    if (n == 0 && h.ndim == ndim_in + 1) {
        int same = 1;
        for (k = 0; k < ndim_in; k++) same &= h.shape[k + 1] == (uint64_t)want[k];
        if (same) n = (int64_t)h.shape[0];
        if (same && n == 0) {
            free(data);
            return error(EXIT_INPUT, "%s: an empty batch (0 images)", path);
        }
    }
    if (n == 0 && h.ndim == 2 && h.shape[1] == (uint64_t)img_size) {
        n = (int64_t)h.shape[0];
        if (n == 0) {
            free(data);
            return error(EXIT_INPUT, "%s: an empty batch (0 images)", path);
        }
    }
    if (n == 0) {
        char shape[128], expected[64];
        snn_npy_format_shape(&h, shape, sizeof shape);
        if (ndim_in == 1) snprintf(expected, sizeof expected, "%lld", (long long)want[0]);
        else snprintf(expected, sizeof expected, "%lld, %lld, %lld", (long long)want[0],
                      (long long)want[1], (long long)want[2]);
        free(data);
        return error(EXIT_INPUT, "%s: images of shape %s; expected (n_images, %s) for this "
                     "network's input", path, shape, expected);
    }
    out->n = n;
    out->size = img_size;
    out->x = malloc((size_t)h.count * sizeof(float) + 1);
    values = malloc((size_t)h.count * itemsize + 1);
    if (out->x == NULL || values == NULL) {
        free(data);
        free(values);
        return error(EXIT_RUN, "out of memory reading %s", path);
    }
    if (h.fortran_order && h.ndim > 1)
        snn_npy_fortran_to_c(&h, itemsize, data + header_size, values);
    else
        memcpy(values, data + header_size, (size_t)h.count * itemsize);
    free(data);
    scale = (float)info->hints.uint8_scale;     /* numpy: x.astype(float32) * float32(uint8_scale) */
    for (i = 0; i < (int64_t)h.count; i++)
        out->x[i] = is_u8 ? (float)((const unsigned char *)values)[i] * scale
                          : ((const float *)values)[i];
    free(values);
    for (i = 0; i < (int64_t)h.count; i++) {
        float v = out->x[i];
        if (v != v || v - v != 0.0f)
            return error(EXIT_INPUT, "%s: the images hold NaN or infinity (first in image %lld)", path,
                         (long long)(i / img_size));
        if (encoding != SNN_ENCODING_ANALOG && v < 0.0f)
            return error(EXIT_INPUT, "%s: %s encoding needs inputs >= 0 (spike probabilities); image "
                         "%lld holds negative values", path,
                         encoding == SNN_ENCODING_POISSON ? "poisson" : "regular",
                         (long long)(i / img_size));
    }
    return EXIT_OK;
}

/* Writes a little-endian C-order array as .npy (version 1.0). */
static int write_npy(const char *path, const char *descr, int ndim, const int64_t *shape,
                     const void *values, size_t nbytes)
{
    char header[512];
    size_t hlen = snn_npy_write_header(header, sizeof header, descr, ndim, shape);
    FILE *f;
    int ok;
    if (hlen == 0) return error(EXIT_RUN, "%s: the result's shape is too large to write", path);
    if ((f = fopen(path, "wb")) == NULL) return error(EXIT_RUN, "cannot write %s: %s", path,
                                                      strerror(errno));
    ok = fwrite(header, 1, hlen, f) == hlen && (nbytes == 0 || fwrite(values, 1, nbytes, f) == nbytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok) return error(EXIT_RUN, "cannot write %s: %s", path, strerror(errno));
    return EXIT_OK;
}

/* ---- --info ----------------------------------------------------------------- */

static int64_t array_len(const snn_array *a)
{
    int64_t n = a->ndim ? 1 : 0;
    int32_t k;
    for (k = 0; k < a->ndim; k++) n *= a->shape[k];
    return n;
}

static void print_shape(FILE *out, const snn_population_desc *p)
{
    if (p->ndim == 1) fprintf(out, "[%lld]", (long long)p->shape[0]);
    else fprintf(out, "[%lld, %lld, %lld]", (long long)p->shape[0], (long long)p->shape[1],
                 (long long)p->shape[2]);
}

static int64_t neurons(const snn_population_desc *p)
{
    return p->ndim == 1 ? p->shape[0] : p->shape[0] * p->shape[1] * p->shape[2];
}

static void print_threshold(FILE *out, const snn_array *a)
{
    const float *v = a->data;
    const int64_t len = array_len(a);
    int64_t k;
    float lo, hi;
    if (len == 1) {
        fprintf(out, "%g", (double)v[0]);
        return;
    }
    lo = hi = v[0];
    for (k = 1; k < len; k++) {
        if (v[k] < lo) lo = v[k];
        if (v[k] > hi) hi = v[k];
    }
    fprintf(out, "%g..%g per channel", (double)lo, (double)hi);
}

static int print_info(const snn_file *file)
{
    const snn_net_desc *d = snn_file_desc(file);
    const snn_file_info *info = snn_file_get_info(file);
    int32_t i, j;
    int64_t total_neurons = 0, total_weights = 0, macs = 0;
    printf("snncore network (format %d", (int)info->format_version);
    if (info->producer[0]) {
        printf(", written by ");
        print_name(stdout, info->producer);
    }
    printf(")\n");
    printf("input:  ");
    print_name(stdout, info->population_names[d->input]);
    printf(" ");
    print_shape(stdout, &d->populations[d->input]);
    printf(", encoding %s, rate %g, uint8 scale %.9g\n", snn_encoding_name(info->hints.encoding),
           info->hints.rate, info->hints.uint8_scale);
    printf("output: ");
    print_name(stdout, info->population_names[d->output]);
    printf(" ");
    print_shape(stdout, &d->populations[d->output]);
    printf(" (%s), read out from step %d\n", snn_kind_name(d->populations[d->output].kind),
           (int)info->hints.readout_start);
    printf("\npopulations (%d):\n", (int)d->n_populations);
    for (i = 0; i < d->n_populations; i++) {
        const snn_population_desc *p = &d->populations[i];
        printf("  %3d  ", (int)i);
        print_name(stdout, info->population_names[i]);
        printf("  %s ", snn_kind_name(p->kind));
        print_shape(stdout, p);
        printf(" (%lld neurons)", (long long)neurons(p));
        if (p->kind == SNN_KIND_IF) {
            printf(", threshold ");
            print_threshold(stdout, &p->threshold);
            if (p->is_signed) {
                printf(", signed, threshold_neg ");
                print_threshold(stdout, &p->threshold_neg);
            }
            printf(", reset %s", snn_reset_name(p->reset));
            if (p->v_init != 0.0f) printf(", v_init %g", (double)p->v_init);
        }
        if (p->bias.ndim)
            printf(", bias per %s", array_len(&p->bias) == p->shape[0] ? "channel" : "neuron");
        printf("\n");
        total_neurons += neurons(p);
    }
    printf("\nprojections (%d):\n", (int)d->n_projections);
    for (j = 0; j < d->n_projections; j++) {
        const snn_projection_desc *q = &d->projections[j];
        const snn_population_desc *src = &d->populations[q->source], *dst = &d->populations[q->target];
        /* a conv2d's window is its weight's (the file may leave kernel out) */
        const int conv = q->op == SNN_OP_CONV2D && q->weight.ndim == 4;
        const int64_t kh = conv ? q->weight.shape[2] : q->kernel[0];
        const int64_t kw = conv ? q->weight.shape[3] : q->kernel[1];
        const int64_t groups = q->groups > 1 ? q->groups : 1;
        printf("  %3d  ", (int)j);
        print_name(stdout, info->projection_names[j]);
        printf("  %s  ", snn_op_name(q->op));
        print_name(stdout, info->population_names[q->source]);
        printf(" -> ");
        print_name(stdout, info->population_names[q->target]);
        if (q->op == SNN_OP_UPSAMPLE2D)
            printf("  scale %dx%d", (int)q->scale[0], (int)q->scale[1]);
        if (snn_key_applies("padding", SNN_KEYS_PROJECTION, q->op))
            printf("  kernel %dx%d, stride %dx%d, padding %dx%d%s", (int)kh, (int)kw,
                   (int)q->stride[0], (int)q->stride[1], (int)q->padding[0], (int)q->padding[1],
                   q->ceil_mode ? ", ceil_mode" : "");
        if (groups > 1) printf(", groups %lld", (long long)groups);
        if (q->weight.ndim) printf(", %lld weights", (long long)array_len(&q->weight));
        printf("\n");
        total_weights += array_len(&q->weight);
        if (q->op == SNN_OP_CONV2D)
            macs += neurons(dst) * (src->shape[0] / groups) * kh * kw;
        else if (q->op == SNN_OP_DENSE)
            macs += neurons(dst) * neurons(src);
    }
    printf("\n%lld neurons, %lld weights; the ANN needs %lld multiply-accumulates per image\n",
           (long long)total_neurons, (long long)total_weights, (long long)macs);
    printf("provenance: ");
    print_name(stdout, info->provenance);
    printf("\n");
    return EXIT_OK;
}

/* ---- running ------------------------------------------------------------------ */

static int32_t default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SNN_MAX_THREADS ? SNN_MAX_THREADS : (int32_t)n;
}

static int64_t argmax(const float *v, int64_t n)
{
    int64_t k, best = 0;
    for (k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The --profile table: seconds per population and projection (summed over
 * images and threads) and each projection's synaptic operations per second. */
static void print_profile(const snn_net_desc *d, const snn_file_info *info, const int64_t *ns,
                          const int64_t *synops, int64_t n_images, int64_t n_cp)
{
    int32_t k;
    int64_t i;
    fprintf(stderr, "snnrun: profile (seconds summed over images and threads)\n");
    for (k = 0; k < d->n_populations; k++) {
        fprintf(stderr, "  population ");
        print_name(stderr, info->population_names[k]);
        fprintf(stderr, ": %.6f s\n", 1e-9 * (double)ns[k]);
    }
    for (k = 0; k < d->n_projections; k++) {
        const double sec = 1e-9 * (double)ns[d->n_populations + k];
        double ops = 0;
        for (i = 0; i < n_images; i++)
            ops += (double)synops[(i * n_cp + n_cp - 1) * d->n_projections + k];
        fprintf(stderr, "  projection ");
        print_name(stderr, info->projection_names[k]);
        fprintf(stderr, ": %.6f s, %.0f synaptic operations", sec, ops);
        if (sec > 0) fprintf(stderr, ", %.3g per second", ops / sec);
        fprintf(stderr, "\n");
    }
}

static int run(const options *o, const snn_file *file)
{
    const snn_net_desc *d = snn_file_desc(file);
    const snn_file_info *info = snn_file_get_info(file);
    snn_net *net;
    snn_error err;
    snn_run_config cfg;
    images img;
    int status, c;
    int32_t threads;
    int64_t K, P, J, i, n_cp, k;
    int64_t shape[3];
    float *out = NULL;
    int64_t *spikes = NULL, *synops = NULL, *profile = NULL;
    double t0, seconds, spike_sum = 0, synop_sum = 0;

    if (o->isa == SNN_ISA_AUTO) {
        net = snn_file_build(file, NULL, &err);
    } else {
        snn_net_desc with_isa = *d;
        with_isa.isa = o->isa;
        net = snn_net_create(&with_isa, &err);
    }
    if (net == NULL) return error(EXIT_NETWORK, "%s: %s", o->net_path, err.message);
    memset(&cfg, 0, sizeof cfg);
    cfg.timesteps = o->timesteps;
    cfg.encoding = o->encoding >= 0 ? o->encoding : info->hints.encoding;
    cfg.rate = o->rate > 0 ? o->rate : info->hints.rate;
    cfg.seed = o->seed;
    cfg.checkpoints = o->checkpoints;
    cfg.n_checkpoints = o->n_checkpoints;
    cfg.readout_start = o->readout_start > 0 ? o->readout_start
                        : info->hints.readout_start < o->timesteps ? info->hints.readout_start
                                                                   : o->timesteps;

    memset(&img, 0, sizeof img);
    status = read_images(o->input_path, &d->populations[d->input], info, cfg.encoding, &img);
    if (status != EXIT_OK) {
        free(img.x);
        snn_net_free(net);
        return status;
    }
    K = snn_net_output_size(net);
    P = snn_net_n_populations(net);
    J = snn_net_n_projections(net);
    n_cp = o->n_checkpoints;
    if ((uint64_t)img.n > (uint64_t)SIZE_MAX / 8 / (uint64_t)n_cp / (uint64_t)(K + P + J + 1)) {
        status = error(EXIT_RUN, "the results of %lld images would not fit in memory",
                       (long long)img.n);
        goto done;
    }
    out = malloc((size_t)(img.n * n_cp * K) * sizeof *out + 1);
    spikes = malloc((size_t)(img.n * n_cp * P) * sizeof *spikes + 1);
    synops = malloc((size_t)(img.n * n_cp * J) * sizeof *synops + 1);
    if (o->profile) {
        profile = calloc((size_t)(P + J), sizeof *profile);
        cfg.profile_ns = profile;
    }
    if (!out || !spikes || !synops || (o->profile && !profile)) {
        status = error(EXIT_RUN, "out of memory for the results of %lld images", (long long)img.n);
        goto done;
    }
    threads = o->threads > 0 ? o->threads : snn_suggest_threads(net, img.n, default_threads());
    if (o->team == SNN_TEAM_NEVER && img.n < threads) threads = 1;
    t0 = now();
    if (snn_run_batch(net, &cfg, img.x, img.n, 0, out, spikes, synops, threads, &err) != SNN_OK) {
        status = error(EXIT_RUN, "the run failed: %s (%s)", err.message, snn_strerror(err.status));
        goto done;
    }
    seconds = now() - t0;

    /* results are (N, n_cp, items); without --checkpoints n_cp is 1 and they are (N, items) */
    {
        const char *paths[3] = {o->output_path, o->spikes_path, o->synops_path};
        const char *descr[3] = {"<f4", "<i8", "<i8"};
        const void *values[3] = {out, spikes, synops};
        int64_t items[3] = {K, P, J}, itemsize[3] = {4, 8, 8};
        int w, nd = o->checkpoints_given ? 3 : 2;
        shape[0] = img.n;
        shape[1] = n_cp;
        for (w = 0; w < 3; w++) {
            if (paths[w] == NULL) continue;
            shape[nd - 1] = items[w];
            status = write_npy(paths[w], descr[w], nd, shape, values[w],
                               (size_t)(img.n * n_cp * items[w] * itemsize[w]));
            if (status != EXIT_OK) goto done;
        }
    }

    if (o->csv) {
        printf("image,t,prediction");
        for (k = 0; k < K; k++) printf(",y%lld", (long long)k);
        for (k = 0; k < P; k++) printf(",spikes%lld", (long long)k);
        for (k = 0; k < J; k++) printf(",synops%lld", (long long)k);
        printf("\n");
        for (i = 0; i < img.n; i++)
            for (c = 0; c < n_cp; c++) {
                const float *y = out + (i * n_cp + c) * K;
                const int64_t *s = spikes + (i * n_cp + c) * P, *q = synops + (i * n_cp + c) * J;
                printf("%lld,%d,%lld", (long long)i, (int)o->checkpoints[c], (long long)argmax(y, K));
                for (k = 0; k < K; k++) printf(",%.9g", (double)y[k]);
                for (k = 0; k < P; k++) printf(",%lld", (long long)s[k]);
                for (k = 0; k < J; k++) printf(",%lld", (long long)q[k]);
                printf("\n");
            }
    } else {
        for (i = 0; i < img.n; i++)
            printf("%lld\n", (long long)argmax(out + (i * n_cp + n_cp - 1) * K, K));
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        status = error(EXIT_RUN, "cannot write the results: %s", strerror(errno));
        goto done;
    }
    for (i = 0; i < img.n; i++) {
        for (k = 0; k < P; k++) spike_sum += (double)spikes[(i * n_cp + n_cp - 1) * P + k];
        for (k = 0; k < J; k++) synop_sum += (double)synops[(i * n_cp + n_cp - 1) * J + k];
    }
    if (!o->quiet)
        fprintf(stderr, "snnrun: %lld image%s, T=%d, %s encoding: %.1f spikes and %.1f synaptic "
                "operations per image, %.3f s (%s kernels)\n", (long long)img.n,
                img.n == 1 ? "" : "s", (int)o->timesteps, snn_encoding_name(cfg.encoding),
                spike_sum / (double)img.n, synop_sum / (double)img.n, seconds,
                snn_isa_name(snn_net_isa(net)));
    if (o->profile) print_profile(d, info, profile, synops, img.n, n_cp);
done:
    free(profile);
    free(out);
    free(spikes);
    free(synops);
    free(img.x);
    snn_net_free(net);
    return status;
}

int main(int argc, char **argv)
{
    options o;
    snn_file *file;
    snn_error err;
    int status = parse_args(argc, argv, &o);
    if (status != EXIT_OK) {
        free(o.checkpoints);
        return status;
    }
    if (!snn_has_loader()) {
        free(o.checkpoints);
        return error(EXIT_NETWORK, "this libsnncore was built without the file loader");
    }
    file = snn_file_read(o.net_path, NULL, &err);
    if (file == NULL) {
        free(o.checkpoints);
        return error(EXIT_NETWORK, "%s: %s", o.net_path, err.message);
    }
    status = o.info ? print_info(file) : run(&o, file);
    snn_file_free(file);
    free(o.checkpoints);
    return status;
}
