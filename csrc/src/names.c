/*
 * The names of the enums of snn.h, and the metadata keys of each kind and op: one
 * table each, which the file readers (C and Python), snnrun and the Python layer
 * all take their lists from.
 */
#include "internal.h"

#include <string.h>

static const char *const KINDS[] = {"input", "if", "relay", "accumulate", NULL};
static const char *const OPS[] = {"conv2d", "avgpool2d", "dense", "identity", "maxpool2d",
                                   "upsample2d", NULL};
static const char *const RESETS[] = {"subtract", "zero", NULL};
static const char *const ENCODINGS[] = {"analog", "poisson", "regular", NULL};
static const char *const ISAS[] = {"auto", "generic", "avx2", "avx512", NULL};
static const char *const TEAM_POLICIES[] = {"auto", "always", "never", NULL};

/* Indexed by snn_kind and snn_op. */
static const char *const KIND_KEYS[][10] = {
    {"name", "kind", "shape", NULL},
    {"name", "kind", "shape", "threshold", "reset", "v_init", "signed", "threshold_neg", "bias",
     NULL},
    {"name", "kind", "shape", "bias", NULL},
    {"name", "kind", "shape", "bias", NULL},
};
static const char *const OP_KEYS[][10] = {
    {"name", "op", "source", "target", "weight", "stride", "padding", "groups", NULL},
    {"name", "op", "source", "target", "kernel", "stride", "padding", "weight", NULL},
    {"name", "op", "source", "target", "weight", NULL},
    {"name", "op", "source", "target", "weight", NULL},
    {"name", "op", "source", "target", "kernel", "stride", "padding", "ceil_mode", "weight", NULL},
    {"name", "op", "source", "target", "scale", "weight", NULL},
};

static int32_t count(const char *const *table)
{
    int32_t n = 0;
    while (table[n]) n++;
    return n;
}

static const char *name_of(const char *const *table, int32_t value)
{
    return value >= 0 && value < count(table) ? table[value] : NULL;
}

static int32_t from_name(const char *const *table, const char *name)
{
    int32_t i;
    if (name == NULL) return -1;
    for (i = 0; table[i]; i++)
        if (strcmp(table[i], name) == 0) return i;
    return -1;
}

const char *snn_kind_name(int32_t kind) { return name_of(KINDS, kind); }
int32_t snn_kind_from_name(const char *name) { return from_name(KINDS, name); }
const char *snn_op_name(int32_t op) { return name_of(OPS, op); }
int32_t snn_op_from_name(const char *name) { return from_name(OPS, name); }
const char *snn_reset_name(int32_t reset) { return name_of(RESETS, reset); }
int32_t snn_reset_from_name(const char *name) { return from_name(RESETS, name); }
const char *snn_encoding_name(int32_t encoding) { return name_of(ENCODINGS, encoding); }
int32_t snn_encoding_from_name(const char *name) { return from_name(ENCODINGS, name); }
const char *snn_isa_name(int32_t isa) { return name_of(ISAS, isa); }
int32_t snn_isa_from_name(const char *name) { return from_name(ISAS, name); }
const char *snn_team_policy_name(int32_t policy) { return name_of(TEAM_POLICIES, policy); }
int32_t snn_team_policy_from_name(const char *name) { return from_name(TEAM_POLICIES, name); }

const char *const *snn_kind_keys(int32_t kind)
{
    return snn_kind_name(kind) ? KIND_KEYS[kind] : NULL;
}

const char *const *snn_op_keys(int32_t op)
{
    return snn_op_name(op) ? OP_KEYS[op] : NULL;
}
