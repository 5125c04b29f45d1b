/*
 * libFuzzer target of the file loader. The input is, by its first bytes:
 *   "{..."          the metadata JSON of a network whose arrays are fixed (those of
 *                   the corpus' base network), wrapped in a valid archive;
 *   "\x93NUMPY..."  the .npy member c1.weight of that base network;
 *   anything else   a whole .npz archive.
 * (A byte-level mutation of an archive mostly breaks a CRC; the first two forms take
 * the fuzzer straight to the JSON and .npy parsers and to the checks of meaning.)
 *
 * Whatever the loader accepts must also build (snn_net_create checks the description
 * again) and run a few steps; whatever it refuses must come back with the reader's
 * SNN_E_FORMAT, a status of snn_net_check or SNN_E_NOMEM, at most one item index,
 * and a NUL-terminated message. AddressSanitizer and
 * UndefinedBehaviorSanitizer catch the rest: leaks, reads out of bounds, overflows.
 *
 * Built with -fsanitize=fuzzer by meson -Dfuzz=true (clang); fuzz_replay.c runs the
 * same function over the corpus files in ordinary builds.
 */
#include "snn.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_briefly(const snn_net *net, int32_t encoding)
{
    size_t need = snn_state_size(net);
    int64_t n = snn_net_input_size(net), k = snn_net_output_size(net), i;
    snn_run_config cfg;
    void *workspace;
    float *x, *out;
    int64_t *spikes, *synops;
    snn_state *s;
    int status = SNN_OK;
    if (need > ((size_t)16 << 20) || n > (1 << 20) || k > (1 << 20)) return;  /* keep it quick */
    workspace = malloc(need);
    x = malloc((size_t)n * sizeof *x);
    out = malloc((size_t)k * sizeof *out);
    spikes = malloc((size_t)snn_net_n_populations(net) * sizeof *spikes);
    synops = malloc(((size_t)snn_net_n_projections(net) + 1) * sizeof *synops);
    if (workspace && x && out && spikes && synops) {
        for (i = 0; i < n; i++) x[i] = (float)(i % 5) * 0.25f;
        memset(&cfg, 0, sizeof cfg);
        cfg.timesteps = 3;
        cfg.encoding = encoding;
        cfg.rate = 1.0;
        s = snn_state_init_static(net, workspace, need, &status);
        if (s == NULL || snn_run_image(s, &cfg, x, 0, out, spikes, synops) != SNN_OK) abort();
    }
    free(workspace);
    free(x);
    free(out);
    free(spikes);
    free(synops);
}

/* ---- building an archive around a fuzzed member ---------------------------- */

/* The base network of tests/data/make_data.py (base_network), for the JSON form. */
static const char BASE_META[] =
    "{\"format\": \"snncore\", \"version\": 1, \"input\": {\"population\": \"input\"}, "
    "\"output\": \"out\", \"populations\": ["
    "{\"name\": \"input\", \"kind\": \"input\", \"shape\": [2, 4, 4]}, "
    "{\"name\": \"c1\", \"kind\": \"if\", \"shape\": [3, 4, 4], \"threshold\": \"c1.threshold\", "
    "\"bias\": \"c1.bias\"}, "
    "{\"name\": \"p1\", \"kind\": \"relay\", \"shape\": [3, 2, 2]}, "
    "{\"name\": \"s\", \"kind\": \"if\", \"shape\": [3, 2, 2], \"threshold\": 1.0, "
    "\"signed\": true, \"threshold_neg\": 0.5}, "
    "{\"name\": \"out\", \"kind\": \"accumulate\", \"shape\": [3], \"bias\": \"out.bias\"}], "
    "\"projections\": ["
    "{\"name\": \"c1\", \"op\": \"conv2d\", \"source\": \"input\", \"target\": \"c1\", "
    "\"weight\": \"c1.weight\", \"padding\": [1, 1]}, "
    "{\"name\": \"p1\", \"op\": \"avgpool2d\", \"source\": \"c1\", \"target\": \"p1\", "
    "\"kernel\": [2, 2]}, "
    "{\"name\": \"s\", \"op\": \"identity\", \"source\": \"p1\", \"target\": \"s\", "
    "\"weight\": \"s.gain\"}, "
    "{\"name\": \"out\", \"op\": \"dense\", \"source\": \"p1\", \"target\": \"out\", "
    "\"weight\": \"out.weight\"}]}";

typedef struct blob {
    unsigned char *data;
    size_t size;
} blob;

/* A version 1.0 .npy of `n` copies of `value` (or of uint8 `bytes`) with `shape`. */
static blob npy(const char *descr, const char *shape, size_t n, float value,
                const unsigned char *bytes)
{
    char header[256];
    size_t hlen, total, itemsize = bytes ? 1 : 4, k;
    blob b;
    hlen = (size_t)snprintf(header, sizeof header,
                            "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    total = (10 + hlen + 1 + 63) / 64 * 64;
    b.size = total + n * itemsize;
    b.data = malloc(b.size);
    if (b.data == NULL) return b;
    memcpy(b.data, "\x93NUMPY\x01\x00", 8);
    b.data[8] = (unsigned char)((total - 10) & 0xff);
    b.data[9] = (unsigned char)((total - 10) >> 8);
    memcpy(b.data + 10, header, hlen);
    memset(b.data + 10 + hlen, ' ', total - 10 - hlen - 1);
    b.data[total - 1] = '\n';
    if (bytes) memcpy(b.data + total, bytes, n);
    else
        for (k = 0; k < n; k++) memcpy(b.data + total + 4 * k, &value, 4);
    return b;
}

/* An archive (stored members, valid CRCs) of `n` (name, blob) members, or a blob of NULL. */
static blob archive(const char *const *names, const blob *members, int n)
{
    blob out = {NULL, 0};
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    zip_stat_t st;
    int k, ok = 1;
    zip_error_init(&ze);
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_error_fini(&ze);
    if (src == NULL) return out;
    zip_source_keep(src);
    zip_error_init(&ze);
    za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_error_fini(&ze);
    if (za == NULL) {
        zip_source_free(src);
        zip_source_free(src);
        return out;
    }
    for (k = 0; k < n && ok; k++) {
        zip_source_t *m = zip_source_buffer(za, members[k].data, members[k].size, 0);
        zip_int64_t idx = m ? zip_file_add(za, names[k], m, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            zip_source_free(m);
            ok = 0;
        } else {
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        }
    }
    if (!ok || zip_close(za) != 0) {
        zip_discard(za);
        zip_source_free(src);
        return out;
    }
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) == 0 && zip_source_open(src) == 0) {
        out.data = malloc(st.size + 1);
        if (out.data && zip_source_read(src, out.data, st.size) == (zip_int64_t)st.size)
            out.size = st.size;
        else {
            free(out.data);
            out.data = NULL;
        }
        zip_source_close(src);
    }
    zip_source_free(src);
    return out;
}

/* The base network's archive with the metadata or c1.weight replaced by `data`. */
static blob wrap(const uint8_t *data, size_t size, int is_meta)
{
    static const char *const names[7] = {"__snncore__.npy", "c1.weight.npy", "c1.threshold.npy",
                                         "c1.bias.npy", "out.weight.npy", "out.bias.npy",
                                         "s.gain.npy"};
    blob m[7], out = {NULL, 0};
    char shape[32];
    int k, ok = 1;
    if (is_meta) {
        snprintf(shape, sizeof shape, "(%lu,)", (unsigned long)size);
        m[0] = npy("|u1", shape, size, 0.0f, size ? data : (const unsigned char *)"");
        m[1] = npy("<f4", "(3, 2, 3, 3)", 54, 0.125f, NULL);
    } else {
        snprintf(shape, sizeof shape, "(%lu,)", (unsigned long)strlen(BASE_META));
        m[0] = npy("|u1", shape, strlen(BASE_META), 0.0f, (const unsigned char *)BASE_META);
        m[1].data = malloc(size + 1);
        m[1].size = size;
        if (m[1].data && size) memcpy(m[1].data, data, size);
    }
    m[2] = npy("<f4", "(3,)", 3, 0.5f, NULL);
    m[3] = npy("<f4", "(3,)", 3, 0.25f, NULL);
    m[4] = npy("<f4", "(3, 12)", 36, 0.5f, NULL);
    m[5] = npy("<f4", "(3,)", 3, 0.0f, NULL);
    m[6] = npy("<f4", "(3,)", 3, 1.0f, NULL);
    for (k = 0; k < 7; k++) ok &= m[k].data != NULL;
    if (ok) out = archive(names, m, 7);
    for (k = 0; k < 7; k++) free(m[k].data);
    return out;
}

/* ---- the target -------------------------------------------------------------- */

static void load_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1 && data[0] == '{') {
        blob b = wrap(data, size, 1);
        if (b.data) load_one(b.data, b.size);
        free(b.data);
    } else if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) {
        blob b = wrap(data, size, 0);
        if (b.data) load_one(b.data, b.size);
        free(b.data);
    } else {
        load_one(data, size);
    }
    return 0;
}

static void load_one(const uint8_t *data, size_t size)
{
    snn_load_options opt;
    snn_error err;
    snn_file *file;
    snn_net *net;
    const snn_file_info *info;
    int32_t i;
    memset(&opt, 0, sizeof opt);
    opt.max_bytes = (int64_t)64 << 20;      /* the fuzzer's memory, not the default 8 GiB */
    file = snn_file_read_memory(data, size, &opt, &err);
    if (file == NULL) {
        /* the reader's refusal, the validator's, or out of memory; never I/O */
        if (err.status == SNN_OK || err.status == SNN_E_IO || err.status == SNN_E_CAPACITY ||
            err.status == SNN_E_THREAD || err.status >= SNN_STATUS_COUNT)
            abort();
        if (err.population < -1 || err.projection < -1 || (err.population >= 0 &&
                                                            err.projection >= 0))
            abort();
        if (memchr(err.message, '\0', sizeof err.message) == NULL || err.message[0] == '\0') abort();
        return;
    }
    info = snn_file_get_info(file);
    for (i = 0; i < snn_file_desc(file)->n_populations; i++)
        if (strlen(info->population_names[i]) == 0) abort();
    if (strlen(info->provenance) < 2) abort();
    net = snn_file_build(file, NULL, &err);
    if (net == NULL) abort();               /* accepted by the loader, refused by the engine */
    run_briefly(net, SNN_ENCODING_ANALOG);
    run_briefly(net, SNN_ENCODING_POISSON);
    snn_net_free(net);
    snn_file_free(file);
}
