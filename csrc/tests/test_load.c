/*
 * The file loader. Every file of the shared corpus is accepted or refused as
 * tests/data/corpus.tsv says (the same table the Python loader is held to; "either"
 * marks damaged files only Python must read), with a
 * message that contains the expected words; the stored networks load from a path and
 * from memory alike, with their hints; and the edge cases of the API.
 *
 * usage: test_load DATA_DIR      (DATA_DIR = tests/data)
 */
#include "check.h"
#include "snn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

static void path_of(char *buf, size_t cap, const char *a, const char *b)
{
    snprintf(buf, cap, "%s/%s%s%s", data_dir, a, b ? "/" : "", b ? b : "");
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (f == NULL) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* ---- the corpus ------------------------------------------------------------ */

static void check_file(const char *name, const char *expect, const char *fragment)
{
    char path[1024];
    snn_error e, e2;
    snn_file *f, *g;
    unsigned char *bytes;
    size_t size = 0;
    const char *outcome;
    path_of(path, sizeof path, "corpus", name);
    f = snn_file_read(path, NULL, &e);
    outcome = f ? "ok" : "refuse";
    if (strcmp(outcome, expect) != 0 && strcmp(expect, "either") != 0) {
        fprintf(stderr, "%s: the C loader says %s, corpus.tsv says %s (%s)\n", name, outcome, expect,
                f ? "" : e.message);
        check_failures++;
    }
    if (f == NULL) {
        CHECK(e.status == SNN_E_FORMAT);
        CHECK(memchr(e.message, '\0', sizeof e.message) != NULL);
        if (strcmp(expect, "refuse") == 0 && strcmp(fragment, "-") != 0 &&
            strstr(e.message, fragment) == NULL) {
            fprintf(stderr, "%s: the message \"%s\" lacks \"%s\"\n", name, e.message, fragment);
            check_failures++;
        }
    } else {
        snn_net *net = snn_file_build(f, NULL, &e);
        if (net == NULL) {
            fprintf(stderr, "%s: accepted but the engine refuses it: %s\n", name, e.message);
            check_failures++;
        }
        snn_net_free(net);
    }
    /* the same bytes from memory: the same verdict and message */
    bytes = slurp(path, &size);
    CHECK(bytes != NULL);
    g = snn_file_read_memory(bytes, size, NULL, &e2);
    CHECK((f == NULL) == (g == NULL));
    if (f == NULL && g == NULL && strcmp(e.message, e2.message) != 0) {
        fprintf(stderr, "%s: from a path \"%s\", from memory \"%s\"\n", name, e.message, e2.message);
        check_failures++;
    }
    free(bytes);
    snn_file_free(f);
    snn_file_free(g);
}

static int test_corpus(void)
{
    char path[1024], line[1024];
    FILE *tsv;
    int n = 0;
    path_of(path, sizeof path, "corpus.tsv", NULL);
    tsv = fopen(path, "r");
    CHECK(tsv != NULL);
    if (tsv == NULL) return 0;
    while (fgets(line, sizeof line, tsv)) {
        char *name, *python, *c, *fragment, *nl;
        if (line[0] == '#' || line[0] == '\n') continue;
        if ((nl = strchr(line, '\n')) != NULL) *nl = '\0';
        name = strtok(line, "\t");
        python = strtok(NULL, "\t");
        c = strtok(NULL, "\t");
        fragment = strtok(NULL, "\t");
        CHECK(name && python && c && fragment);
        if (!(name && python && c && fragment)) continue;
        check_file(name, c, fragment);
        n++;
    }
    fclose(tsv);
    CHECK(n >= 100);
    return n;
}

/* ---- the stored networks ------------------------------------------------------ */

typedef struct expect_net {
    const char *name;
    int32_t n_pop, n_proj, encoding, readout_start;
    double uint8_scale;
} expect_net;

static const expect_net NETS[] = {
    {"conv_pool_dense", 4, 3, SNN_ENCODING_ANALOG, 1, 1.0 / 255.0},
    {"signed_zero", 3, 2, SNN_ENCODING_REGULAR, 1, 1.0 / 255.0},
    {"junction", 5, 5, SNN_ENCODING_ANALOG, 1, 1.0 / 255.0},
    {"uint8_readout", 3, 2, SNN_ENCODING_ANALOG, 3, 1.0 / 16.0},
    {"relay_fortran", 4, 3, SNN_ENCODING_ANALOG, 1, 1.0 / 255.0},
};

/* Runs `net` for 6 steps on a constant image; writes K outputs. */
static void run_constant(const snn_net *net, float *out)
{
    int64_t n = snn_net_input_size(net), i;
    float *x = malloc((size_t)n * sizeof *x);
    snn_run_config cfg;
    snn_error e;
    memset(&cfg, 0, sizeof cfg);
    cfg.timesteps = 6;
    cfg.encoding = SNN_ENCODING_REGULAR;
    cfg.rate = 1.0;
    for (i = 0; i < n; i++) x[i] = (float)(i % 8) / 8.0f;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_OK);
    free(x);
}

static void test_stored_networks(void)
{
    size_t k;
    for (k = 0; k < sizeof NETS / sizeof NETS[0]; k++) {
        char path[1024], file[128];
        const expect_net *x = &NETS[k];
        snn_error e;
        snn_file *f;
        const snn_file_info *info;
        const snn_net_desc *d;
        snn_net *a, *b, *c;
        unsigned char *bytes;
        size_t size = 0;
        float out_a[64], out_b[64], out_c[64];
        snprintf(file, sizeof file, "%s.npz", x->name);
        path_of(path, sizeof path, file, NULL);
        f = snn_file_read(path, NULL, &e);
        if (f == NULL) {
            fprintf(stderr, "%s: %s\n", path, e.message);
            check_failures++;
            continue;
        }
        info = snn_file_get_info(f);
        d = snn_file_desc(f);
        CHECK(info->format_version == 1);
        CHECK(d->n_populations == x->n_pop && d->n_projections == x->n_proj);
        CHECK(info->encoding == x->encoding);
        CHECK(info->readout_start == x->readout_start);
        CHECK(info->uint8_scale == x->uint8_scale);
        CHECK(info->rate > 0);
        CHECK(strcmp(info->population_names[d->input], "input") == 0);
        CHECK(strcmp(info->population_names[d->output], "out") == 0);
        CHECK(info->provenance[0] == '{');
        CHECK(strncmp(info->producer, "snncore ", 8) == 0);
        a = snn_file_build(f, NULL, &e);
        CHECK(a != NULL);
        snn_file_free(f);               /* the network outlives its file */
        b = snn_load_file(path, NULL, &e);
        bytes = slurp(path, &size);
        c = snn_load_memory(bytes, size, NULL, &e);
        free(bytes);
        CHECK(a && b && c);
        if (a && b && c) {
            CHECK(snn_net_output_size(a) <= 64);
            run_constant(a, out_a);
            run_constant(b, out_b);
            run_constant(c, out_c);
            CHECK(memcmp(out_a, out_b, (size_t)snn_net_output_size(a) * sizeof(float)) == 0);
            CHECK(memcmp(out_a, out_c, (size_t)snn_net_output_size(a) * sizeof(float)) == 0);
        }
        snn_net_free(a);
        snn_net_free(b);
        snn_net_free(c);
    }
}

/* The deflated network has a unicode producer-independent provenance with nesting. */
static void test_provenance_text(void)
{
    char path[1024];
    snn_error e;
    snn_file *f;
    path_of(path, sizeof path, "junction.npz", NULL);
    f = snn_file_read(path, NULL, &e);
    CHECK(f != NULL);
    if (f) {
        const char *p = snn_file_get_info(f)->provenance;
        CHECK(strstr(p, "\"percentile\":99.9") != NULL);
        CHECK(strstr(p, "\"nested\"") != NULL);
    }
    snn_file_free(f);
}

/* ---- the edges of the API ---------------------------------------------------------- */

static size_t n_allocs, n_frees;
static void *counting_alloc(void *opaque, size_t size) { (void)opaque; n_allocs++; return malloc(size); }
static void counting_free(void *opaque, void *p) { (void)opaque; if (p) n_frees++; free(p); }

static void test_api_edges(void)
{
    char path[1024];
    snn_error e;
    snn_load_options opt;
    snn_allocator alloc;
    snn_net *net;
    static const unsigned char junk[5] = {1, 2, 3, 4, 5};

    CHECK(snn_has_loader() == 1);
    snn_file_free(NULL);
    CHECK(snn_file_desc(NULL) == NULL);
    CHECK(snn_file_get_info(NULL) == NULL);
    CHECK(snn_file_read(NULL, NULL, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_file_build(NULL, NULL, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_file_read_memory(NULL, 5, NULL, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_file_read_memory(NULL, 0, NULL, &e) == NULL && e.status == SNN_E_FORMAT &&
          strstr(e.message, "not a zip archive") != NULL);
    CHECK(snn_file_read_memory(junk, sizeof junk, NULL, NULL) == NULL);   /* err may be NULL */
    CHECK(snn_load_memory(junk, sizeof junk, NULL, &e) == NULL && e.status == SNN_E_FORMAT);

    path_of(path, sizeof path, "no_such_file.npz", NULL);
    CHECK(snn_file_read(path, NULL, &e) == NULL && e.status == SNN_E_IO);
    CHECK(strstr(e.message, "no_such_file.npz") != NULL);
    CHECK(snn_load_file(data_dir, NULL, &e) == NULL && e.status == SNN_E_IO);   /* a directory */

    /* a memory limit below what the network needs */
    memset(&opt, 0, sizeof opt);
    opt.max_bytes = 2000;
    path_of(path, sizeof path, "junction.npz", NULL);
    CHECK(snn_load_file(path, &opt, &e) == NULL && e.status == SNN_E_FORMAT &&
          strstr(e.message, "memory limit of 2000 bytes") != NULL);

    /* the network's own memory comes from the caller's allocator */
    alloc.alloc = counting_alloc;
    alloc.free = counting_free;
    alloc.opaque = NULL;
    opt.max_bytes = 0;
    opt.allocator = &alloc;
    net = snn_load_file(path, &opt, &e);
    CHECK(net != NULL && n_allocs > 0);
    snn_net_free(net);
    CHECK(n_allocs == n_frees);

    /* the engine's refusals name the item (a description edited after loading) */
    {
        snn_file *f = snn_file_read(path, NULL, &e);
        snn_net_desc d;
        snn_projection_desc projs[16];
        CHECK(f != NULL);
        if (f) {
            d = *snn_file_desc(f);
            memcpy(projs, d.projections, (size_t)d.n_projections * sizeof *projs);
            projs[1].weight_len = 3;
            d.projections = projs;
            CHECK(snn_net_create(&d, &e) == NULL && e.status == SNN_E_SHAPE && e.projection == 1);
        }
        snn_file_free(f);
    }
}

int main(int argc, char **argv)
{
    int n;
    if (argc != 2) {
        fprintf(stderr, "usage: test_load DATA_DIR\n");
        return EXIT_FAILURE;
    }
    data_dir = argv[1];
    n = test_corpus();
    test_stored_networks();
    test_provenance_text();
    test_api_edges();
    printf("%d corpus files checked\n", n);
    CHECK_DONE();
}
