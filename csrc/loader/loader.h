/*
 * loader.h - private to the file loader (csrc/loader).
 *
 * The loader is a reader: archive.c turns the zip archive into members whose .npy
 * headers are parsed and whose data is read on demand; describe.c turns the
 * metadata's JSON into an snn_net_desc (syntax and types only); file.c runs the
 * stages in order and hands the description to snn_net_check, the one judge of
 * what a network means. Every refusal of the reader is SNN_E_FORMAT with a message
 * "<item>: <problem>".
 */
#ifndef SNN_LOADER_H
#define SNN_LOADER_H

#include "snn.h"
#include "npy.h"

#include <jansson.h>
#include <zip.h>

#define SNN__META_KEY "__snncore__"

typedef struct snn__member {
    char *name;                 /* as stored: "c1.weight.npy" */
    char *key;                  /* the name without ".npy" */
    zip_uint64_t index, size, comp_size;
    int method, encrypted;      /* compression method (-1: unknown); 1 when encrypted */
    int dup;                    /* 1 when an earlier member has this name */
    uint64_t header_size;       /* bytes before the data */
    snn_npy_header h;
    float *data;                /* C-order values once read, else NULL */
} snn__member;

typedef struct snn__archive {
    zip_t *za;
    uint64_t size;              /* bytes of the whole archive */
    snn__member *m;
    size_t n;
    snn__member **sorted;       /* by key, for lookups */
} snn__archive;

/* The result: a description and the storage it points into. */
struct snn_file {
    snn_net_desc desc;
    snn_file_info info;
    snn_hints hints;
    snn_population_desc *pops;
    snn_projection_desc *projs;
    char **pop_names, **proj_names;    /* desc.n_populations, desc.n_projections */
    char *producer, *provenance;
    float *scalars;             /* 2 per population: thresholds given as numbers */
    float **arrays;             /* member data the description points into */
    size_t n_arrays;
};

/* An array of the description that names a member, filled in once read. */
typedef struct snn__ref {
    snn_array *slot;
    snn__member *member;
} snn__ref;

#if defined(__GNUC__)
#define SNN__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SNN__PRINTF(f, a)
#endif

/* error.c: records a failure in *err (which may be NULL) and returns `status`. */
int snn__set_error(snn_error *err, int status, int32_t pop, int32_t proj, const char *fmt, ...)
    SNN__PRINTF(5, 6);
/* A refusal of the reader (SNN_E_FORMAT, no item at fault). */
#define FORMAT_ERROR(err, ...) snn__set_error((err), SNN_E_FORMAT, -1, -1, __VA_ARGS__)
int snn__nomem(snn_error *err);
/* names.c: the index of `name` in a NULL-terminated table (snn_key.choices), or -1. */
int32_t snn__from_name(const char *const *table, const char *name);
/* check.c: the item at fault as messages name it ("population 'a': "), into buf. */
void snn__item_label(const snn_net_desc *d, int32_t pop, int32_t proj, char *buf, size_t cap);

#define FORWARD(expr)                       \
    do {                                    \
        int status_ = (expr);               \
        if (status_ != SNN_OK) return status_; \
    } while (0)

/* archive.c */
int snn__archive_open(snn__archive *a, zip_source_t *src, uint64_t size, snn_error *err);
void snn__archive_close(snn__archive *a);
snn__member *snn__archive_find(const snn__archive *a, const char *key);
/* Reads the metadata member: its header, then its bytes into *raw (malloc'd). */
int snn__archive_read_meta(snn__archive *a, snn__member *m, unsigned char **raw, snn_error *err);
/* Parses the .npy header of every member but `skip`. */
int snn__archive_headers(snn__archive *a, const snn__member *skip, snn_error *err);
/* Reads the data of one member (whose header is parsed) into m->data. */
int snn__archive_read(snn__archive *a, snn__member *m, snn_error *err);

/* describe.c */
int snn__parse_json(const unsigned char *raw, size_t n, json_t **out, snn_error *err);
/* Fills f->desc, f->info and their storage from the metadata; *refs (malloc'd, *n_refs
 * entries) lists the arrays to read. */
int snn__describe(const json_t *meta, const snn__archive *a, snn_file *f, snn__ref **refs,
                  size_t *n_refs, snn_error *err);

#endif
