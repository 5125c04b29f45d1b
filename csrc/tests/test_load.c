/*
 * The file loader. Every file of the shared corpus is accepted or refused as
 * tests/data/corpus.tsv says, with its status and item at fault (the table
 * tests/test_loader_corpus.py holds snncore.load to), from a path and from memory
 * alike; the stored networks load from a path and from memory alike,
 * with their hints; a compressed bomb is refused from its header; and the edge
 * cases of the API.
 *
 * usage: test_load DATA_DIR      (DATA_DIR = tests/data)
 */
#include "check.h"
#include "npy.h"
#include "snn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zip.h>

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

/* "population 3", "projection 0" or "-", as corpus.tsv names the item at fault */
static void item_of(const snn_error *e, char *buf, size_t cap)
{
    if (e->population >= 0) snprintf(buf, cap, "population %d", (int)e->population);
    else if (e->projection >= 0) snprintf(buf, cap, "projection %d", (int)e->projection);
    else snprintf(buf, cap, "-");
}

static void check_file(const char *name, const char *expect, const char *status,
                       const char *item)
{
    char got_item[64];
    char path[1024];
    snn_error e, e2;
    snn_file *f, *g;
    unsigned char *bytes;
    size_t size = 0;
    const char *outcome;
    path_of(path, sizeof path, "corpus", name);
    f = snn_file_read(path, NULL, &e);
    outcome = f ? "ok" : "refuse";
    if (strcmp(outcome, expect) != 0) {
        fprintf(stderr, "%s: the C loader says %s, corpus.tsv says %s (%s)\n", name, outcome, expect,
                f ? "" : e.message);
        check_failures++;
    }
    if (f == NULL) {
        item_of(&e, got_item, sizeof got_item);
        if (atoi(status) != e.status || strcmp(item, got_item) != 0) {
            fprintf(stderr, "%s: status %d, %s; corpus.tsv says %s, %s (%s)\n", name, e.status,
                    got_item, status, item, e.message);
            check_failures++;
        }
        /* the reader's status or the validator's, never I/O or memory */
        CHECK(e.status == SNN_E_FORMAT || e.status == SNN_E_SHAPE || e.status == SNN_E_VALUE ||
              e.status == SNN_E_GRAPH || e.status == SNN_E_LIMIT ||
              e.status == SNN_E_UNSUPPORTED || e.status == SNN_E_INVALID_ARG);
        CHECK(e.population >= -1 && e.projection >= -1);
        CHECK(e.population < 0 || e.projection < 0);
        CHECK(memchr(e.message, '\0', sizeof e.message) != NULL && e.message[0] != '\0');
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
    if (f == NULL && g == NULL &&
        (e.status != e2.status || e.population != e2.population || e.projection != e2.projection ||
         strcmp(e.message, e2.message) != 0)) {
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
        char *name, *verdict, *status, *item, *nl;
        if (line[0] == '#' || line[0] == '\n') continue;
        if ((nl = strchr(line, '\n')) != NULL) *nl = '\0';
        name = strtok(line, "\t");
        verdict = strtok(NULL, "\t");
        status = strtok(NULL, "\t");
        item = strtok(NULL, "\t");
        CHECK(name && verdict && status && item);
        if (!(name && verdict && status && item)) continue;
        check_file(name, verdict, status, item);
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
    {"zz_groups", 4, 3, SNN_ENCODING_ANALOG, 1, 1.0 / 255.0},
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
        CHECK(info->hints.encoding == x->encoding);
        CHECK(info->hints.readout_start == x->readout_start);
        CHECK(info->hints.uint8_scale == x->uint8_scale);
        CHECK(info->hints.rate > 0);
        CHECK(d->hints != NULL && d->hints->encoding == x->encoding);
        CHECK(strcmp(d->populations[d->input].name, "input") == 0);
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

/* ---- a compressed bomb --------------------------------------------------------- */

/*
 * tests/bomb/shape_mismatch.npz (csrc/tests/make_bomb.py): w.npy is 2 MB of deflate
 * that inflates to 2 GiB, its header declaring shape (2**29,) where the metadata
 * wants a dense weight (10, 4). The validator refuses it from the header alone.
 * Inflating the data would take seconds of CPU time and 2 GiB; the check is on the
 * process's CPU time (not the wall clock, which other programs may stretch).
 */
static void test_bomb(void)
{
    char path[1024];
    snn_error e;
    snn_file *f;
    clock_t t0;
    double cpu_seconds;
    path_of(path, sizeof path, "../bomb", "shape_mismatch.npz");
    t0 = clock();
    f = snn_file_read(path, NULL, &e);
    cpu_seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(f == NULL);
    CHECK(e.status == SNN_E_SHAPE && e.projection == 0 && e.population == -1);
    if (cpu_seconds >= 1.0) {
        fprintf(stderr, "the bomb took %.3f s of CPU time to refuse: was it inflated?\n",
                cpu_seconds);
        check_failures++;
    }
    snn_file_free(f);
}

/* ---- the reader's rules, on archives written here -------------------------------- */

/* A stored .npy member of n floats, shape (n,), (n / 2, 2), () or (1, 1, 1, 1, n)
 * (ndim 1, 2, 0 or 5). */
static void add_npy(zip_t *z, const char *name, const float *v, int64_t n, int ndim)
{
    char buf[4096];
    const int64_t shape[5] = {ndim == 2 ? n / 2 : ndim == 5 ? 1 : n, ndim == 2 ? 2 : 1, 1, 1, n};
    size_t h = snn_npy_write_header(buf, sizeof buf, "<f4", ndim, shape);
    void *copy = malloc(h + (size_t)n * 4);
    zip_source_t *src;
    zip_int64_t i;
    memcpy(copy, buf, h);
    memcpy((char *)copy + h, v, (size_t)n * 4);
    src = zip_source_buffer(z, copy, h + (size_t)n * 4, 1);
    CHECK(src != NULL);
    i = zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8);
    CHECK(i >= 0);
    CHECK(zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_STORE, 0) == 0);
}

/* Writes an archive of `json` and the members above to `path`. */
static void write_npz(const char *path, const char *json, const char *bias_name)
{
    static const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, junk[4] = {1.5f, 2.5f, 3.5f, 4.5f};
    static const float gain[2] = {0.5f, 0.25f}, seven = 7.0f;
    char buf[4096];
    int64_t n = (int64_t)strlen(json);
    size_t h = snn_npy_write_header(buf, sizeof buf, "|u1", 1, &n);
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, NULL);
    CHECK(z != NULL);
    if (z == NULL) return;
    memcpy(buf + h, json, (size_t)n);
    zip_file_add(z, "__snncore__.npy", zip_source_buffer(z, buf, h + (size_t)n, 0), 0);
    add_npy(z, "fc.weight.npy", w, 8, 2);
    add_npy(z, "gain.npy", gain, 2, 1);
    add_npy(z, "seven.npy", &seven, 1, 0);
    add_npy(z, bias_name, junk, 4, 1);
    add_npy(z, "five.npy", junk, 4, 5);
    CHECK(zip_close(z) == 0);
}

/* Flips a byte of the first 4.5f (the junk member's data, stored) in the file. */
static void corrupt_junk(const char *path)
{
    size_t size = 0, i;
    unsigned char *b = slurp(path, &size);
    const float x = 4.5f;
    FILE *f;
    CHECK(b != NULL);
    if (b == NULL) return;
    for (i = 0; i + 4 <= size; i++)
        if (memcmp(b + i, &x, 4) == 0) break;
    CHECK(i + 4 <= size);
    b[i] ^= 1;
    f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, size, f) == size);
    if (f) fclose(f);
    free(b);
}

static const char *const RULES_JSON =
    "{\"format\": \"snncore\", \"version\": 1, \"future_key\": [1, 2],"
    " \"input\": {\"population\": \"in\", \"encoding\": \"poisson\", \"extra\": 0},"
    " \"output\": \"out\", \"readout\": {\"start\": %s},"
    " \"populations\": ["
    "{\"name\": \"in\", \"kind\": \"input\", \"shape\": [2, 2, 2]},"
    "{\"name\": \"p\", \"kind\": \"relay\", \"shape\": [2, 1, 1]},"
    "{\"name\": \"h\", \"kind\": \"if\", \"shape\": [4], \"threshold\": 0.5,"
    " \"signed\": true, \"threshold_neg\": \"seven\"%s},"
    "{\"name\": \"out\", \"kind\": \"accumulate\", \"shape\": [4]}],"
    " \"projections\": ["
    "{\"name\": \"pool\", \"op\": \"avgpool2d\", \"source\": \"in\", \"target\": \"p\","
    " \"kernel\": [2, 2], \"weight\": \"gain\"},"
    "{\"name\": \"fc\", \"op\": \"dense\", \"source\": \"p\", \"target\": \"h\","
    " \"weight\": \"fc.weight\"},"
    "{\"name\": \"id\", \"op\": \"identity\", \"source\": \"h\", \"target\": \"out\"}]}";

static void test_reader_rules(void)
{
    char path[1024], json[4096];
    const char *tmp = getenv("TMPDIR");
    snn_error e;
    snn_file *f;
    snprintf(path, sizeof path, "%s/snn_test_rules_%ld.npz", tmp ? tmp : "/tmp", (long)clock());

    /* an unreferenced member is never read: its broken CRC goes unseen */
    snprintf(json, sizeof json, RULES_JSON, "3", "");
    write_npz(path, json, "junk.npy");
    corrupt_junk(path);
    f = snn_file_read(path, NULL, &e);
    CHECK(f != NULL);
    if (f) {
        const snn_net_desc *d = snn_file_desc(f);
        const snn_file_info *info = snn_file_get_info(f);
        const snn_population_desc *h = &d->populations[2];
        const snn_projection_desc *pool = &d->projections[0], *fc = &d->projections[1];
        CHECK(info->hints.encoding == SNN_ENCODING_POISSON && info->hints.rate == 1.0);
        CHECK(info->hints.readout_start == 3);
        CHECK(strcmp(info->provenance, "{}") == 0 && strcmp(info->producer, "") == 0);
        CHECK(h->threshold.ndim == 1 && h->threshold.shape[0] == 1 && h->threshold.data[0] == 0.5f);
        CHECK(h->threshold_neg.ndim == 1 && h->threshold_neg.shape[0] == 1);   /* a 0-d array */
        CHECK(h->threshold_neg.data[0] == 7.0f && h->is_signed && h->reset == SNN_RESET_SUBTRACT);
        CHECK(pool->stride[0] == 2 && pool->stride[1] == 2 && pool->padding[0] == 0);
        CHECK(pool->weight.ndim == 1 && pool->weight.data[1] == 0.25f);
        CHECK(fc->kernel[0] == 0 && fc->stride[0] == 0 && fc->weight.ndim == 2);
        CHECK(fc->weight.shape[0] == 4 && fc->weight.shape[1] == 2 && fc->weight.data[7] == 8);
        CHECK(d->projections[2].weight.ndim == 0 && d->input == 0 && d->output == 3);
    }
    snn_file_free(f);

    /* a read-out start beyond int32 is clamped, and the validator judges it */
    snprintf(json, sizeof json, RULES_JSON, "99999999999", "");
    write_npz(path, json, "junk.npy");
    f = snn_file_read(path, NULL, &e);
    CHECK(f == NULL && e.status == SNN_E_VALUE && e.population == -1 && e.projection == -1);
    snn_file_free(f);

    /* ... but a referenced one is read, and its CRC checked: the reader's refusal */
    snprintf(json, sizeof json, RULES_JSON, "3", ", \"bias\": \"junk\"");
    write_npz(path, json, "junk.npy");
    f = snn_file_read(path, NULL, &e);
    CHECK(f != NULL);                       /* intact */
    snn_file_free(f);
    corrupt_junk(path);
    f = snn_file_read(path, NULL, &e);
    CHECK(f == NULL && e.status == SNN_E_FORMAT && e.population == -1 && e.projection == -1);
    CHECK(strncmp(e.message, "member 'junk.npy': ", 19) == 0);
    snn_file_free(f);

    /* a referenced array of more than 4 dimensions: the item that names it */
    snprintf(json, sizeof json, RULES_JSON, "3", ", \"bias\": \"five\"");
    write_npz(path, json, "junk.npy");
    f = snn_file_read(path, NULL, &e);
    CHECK(f == NULL && e.status == SNN_E_FORMAT && e.population == 2 && e.projection == -1);
    snn_file_free(f);

    /* a name two populations share: lookups take the first ('out', 3), and the
     * validator refuses the second (4) */
    snprintf(json, sizeof json, RULES_JSON, "3", "");
    {
        const char *end = strstr(json, "[4]}],");
        char twice[4096];
        CHECK(end != NULL);
        if (end == NULL) return;
        snprintf(twice, sizeof twice, "%.*s[4]}, {\"name\": \"out\", \"kind\": \"relay\", "
                 "\"shape\": [1]}%s", (int)(end - json), json, end + 4);
        write_npz(path, twice, "junk.npy");
    }
    f = snn_file_read(path, NULL, &e);
    CHECK(f == NULL && e.status == SNN_E_GRAPH && e.population == 4 && e.projection == -1);
    snn_file_free(f);
    remove(path);
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
          e.population == -1 && e.projection == -1);
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
    CHECK(snn_load_file(path, &opt, &e) == NULL && e.status == SNN_E_LIMIT);

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
            projs[1].weight.ndim = 1;
            projs[1].weight.shape[0] = 3;
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
    test_bomb();
    test_reader_rules();
    n = test_corpus();
    test_stored_networks();
    test_provenance_text();
    test_api_edges();
    printf("%d corpus files checked\n", n);
    CHECK_DONE();
}
