/*
 * The loader's entry points in a libsnncore built without libzip and jansson
 * (meson -Dloader=disabled): they exist, so that programs link the same way, and
 * fail with SNN_E_UNSUPPORTED.
 */
#include "snn.h"

#include <stdio.h>

static void unsupported(snn_error *err)
{
    if (err == NULL) return;
    err->status = SNN_E_UNSUPPORTED;
    err->population = err->projection = -1;
    snprintf(err->message, sizeof err->message,
             "this libsnncore was built without the file loader (libzip and jansson)");
}

int snn_has_loader(void) { return 0; }

snn_file *snn_file_read(const char *path, const snn_load_options *opt, snn_error *err)
{
    (void)path;
    (void)opt;
    unsupported(err);
    return NULL;
}

snn_file *snn_file_read_memory(const void *data, size_t size, const snn_load_options *opt,
                               snn_error *err)
{
    (void)data;
    (void)size;
    (void)opt;
    unsupported(err);
    return NULL;
}

void snn_file_free(snn_file *file) { (void)file; }

const snn_net_desc *snn_file_desc(const snn_file *file)
{
    (void)file;
    return NULL;
}

const snn_file_info *snn_file_get_info(const snn_file *file)
{
    (void)file;
    return NULL;
}

snn_net *snn_file_build(const snn_file *file, const snn_allocator *allocator, snn_error *err)
{
    (void)file;
    (void)allocator;
    unsupported(err);
    return NULL;
}

snn_net *snn_load_file(const char *path, const snn_load_options *opt, snn_error *err)
{
    return snn_file_read(path, opt, err) ? NULL : NULL;
}

snn_net *snn_load_memory(const void *data, size_t size, const snn_load_options *opt,
                         snn_error *err)
{
    return snn_file_read_memory(data, size, opt, err) ? NULL : NULL;
}
