/* Status names, error details, limits, version and the default allocator. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const status_names[SNN_STATUS_COUNT] = {
    "no error",
    "out of memory",
    "invalid argument",
    "shape mismatch",
    "invalid value",
    "invalid network graph",
    "size limit exceeded",
    "buffer too small",
    "could not start a thread",
    "unsupported kind, op, reset mode or encoding",
    "read error",
    "malformed network file",
};

const char *snn_strerror(int status)
{
    if (status < 0 || status >= SNN_STATUS_COUNT) return "unknown status";
    return status_names[status];
}

int snn__set_error(snn_error *err, int status, int32_t pop, int32_t proj, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL) return status;
    err->status = status;
    err->population = pop;
    err->projection = proj;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

void snn_get_limits(snn_limits *out)
{
    if (out == NULL) return;
    out->max_dim = (int64_t)1 << 24;
    out->max_neurons = (int64_t)1 << 28;
    out->max_populations = 4096;
    out->max_projections = 16384;
    out->max_timesteps = (int64_t)1 << 30;
    out->max_bytes = (int64_t)8 << 30;
    out->max_name = 200;
    out->max_meta_bytes = (int64_t)16 << 20;
    out->max_json_depth = 64;
}

const char *snn_version_string(void) { return SNN_VERSION_STRING; }

static void *default_alloc(void *opaque, size_t size) { (void)opaque; return malloc(size); }
static void default_free(void *opaque, void *ptr) { (void)opaque; free(ptr); }

snn_allocator snn__default_allocator(void)
{
    snn_allocator a;
    a.alloc = default_alloc;
    a.free = default_free;
    a.opaque = NULL;
    return a;
}
