/*
 * The names of the enums of snn.h, and the metadata keys of a network file (snn_key):
 * one table each, which the file readers (C and Python), snnrun and the Python layer
 * all take their lists from.
 */
#include "internal.h"

#include <stddef.h>
#include <string.h>

static const char *const KINDS[] = {"input", "if", "relay", "accumulate", NULL};
static const char *const OPS[] = {"conv2d", "avgpool2d", "dense", "identity", "maxpool2d",
                                   "upsample2d", NULL};
static const char *const RESETS[] = {"subtract", "zero", NULL};
static const char *const ENCODINGS[] = {"analog", "poisson", "regular", NULL};
static const char *const ISAS[] = {"auto", "generic", "avx2", "avx512", NULL};
static const char *const TEAM_POLICIES[] = {"auto", "always", "never", NULL};

/* The rows of docs/format.md's tables of keys (snn_key), in the order the readers
 * read them: an item's name, then its kind or op, which selects the rows that apply. */
#define ALL 0xFFFFFFFFu
#define KIND(k) (1u << SNN_KIND_##k)
#define OP(o) (1u << SNN_OP_##o)
#define POOLS (OP(AVGPOOL2D) | OP(MAXPOOL2D))
#define POP(key, type, applies, required, fallback, choices, field)                           \
    {key, SNN_KEYS_POPULATION, SNN_KEY_##type, applies, required, fallback, NULL, choices,     \
     offsetof(snn_population_desc, field)}
#define PROJ(key, type, applies, required, fallback, same_as, choices, field)                 \
    {key, SNN_KEYS_PROJECTION, SNN_KEY_##type, applies, required, fallback, same_as, choices, \
     offsetof(snn_projection_desc, field)}
#define HINT(owner, key, type, fallback, choices, field)                                      \
    {key, SNN_KEYS_##owner, SNN_KEY_##type, ALL, 0, fallback, NULL, choices,                  \
     offsetof(snn_hints, field)}
static const snn_key KEYS[] = {
    POP("name", NAME, ALL, 1, 0, NULL, name),
    POP("kind", CHOICE, ALL, 1, 0, KINDS, kind),
    POP("shape", SHAPE, ALL, 1, 0, NULL, shape),
    POP("threshold", THRESHOLD, KIND(IF), 0, 0, NULL, threshold),
    POP("reset", CHOICE, KIND(IF), 0, SNN_RESET_SUBTRACT, RESETS, reset),
    POP("v_init", FLOAT, KIND(IF), 0, 0, NULL, v_init),
    POP("signed", BOOL, KIND(IF), 0, 0, NULL, is_signed),
    POP("threshold_neg", THRESHOLD, KIND(IF), 0, 0, NULL, threshold_neg),
    POP("retract", BOOL, KIND(IF), 0, 0, NULL, retract),
    POP("bias", ARRAY, ALL & ~KIND(INPUT), 0, 0, NULL, bias),
    PROJ("name", NAME, ALL, 1, 0, NULL, NULL, name),
    PROJ("op", CHOICE, ALL, 1, 0, NULL, OPS, op),
    PROJ("source", POPULATION, ALL, 1, 0, NULL, NULL, source),
    PROJ("target", POPULATION, ALL, 1, 0, NULL, NULL, target),
    PROJ("weight", ARRAY, ALL, 0, 0, NULL, NULL, weight),
    PROJ("kernel", PAIR, POOLS, 0, 0, NULL, NULL, kernel),
    PROJ("stride", PAIR, OP(CONV2D), 0, 1, NULL, NULL, stride),
    PROJ("stride", PAIR, POOLS, 0, 0, "kernel", NULL, stride),
    PROJ("padding", PAIR, OP(CONV2D) | POOLS, 0, 0, NULL, NULL, padding),
    PROJ("scale", PAIR, OP(UPSAMPLE2D), 0, 0, NULL, NULL, scale),
    PROJ("ceil_mode", BOOL, OP(MAXPOOL2D), 0, 0, NULL, NULL, ceil_mode),
    PROJ("groups", COUNT, OP(CONV2D), 0, 1, NULL, NULL, groups),
    HINT(INPUT, "encoding", CHOICE, SNN_ENCODING_ANALOG, ENCODINGS, encoding),
    HINT(INPUT, "rate", DOUBLE, 1.0, NULL, rate),
    HINT(INPUT, "uint8_scale", DOUBLE, 1.0 / 255.0, NULL, uint8_scale),
    HINT(READOUT, "start", INT, 1, NULL, readout_start),
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

/* The index of `name` in a NULL-terminated table, or -1 (also for the file loader). */
int32_t snn__from_name(const char *const *table, const char *name)
{
    int32_t i;
    if (name == NULL) return -1;
    for (i = 0; table[i]; i++)
        if (strcmp(table[i], name) == 0) return i;
    return -1;
}

const char *snn_kind_name(int32_t kind) { return name_of(KINDS, kind); }
int32_t snn_kind_from_name(const char *name) { return snn__from_name(KINDS, name); }
const char *snn_op_name(int32_t op) { return name_of(OPS, op); }
int32_t snn_op_from_name(const char *name) { return snn__from_name(OPS, name); }
const char *snn_reset_name(int32_t reset) { return name_of(RESETS, reset); }
int32_t snn_reset_from_name(const char *name) { return snn__from_name(RESETS, name); }
const char *snn_encoding_name(int32_t encoding) { return name_of(ENCODINGS, encoding); }
int32_t snn_encoding_from_name(const char *name) { return snn__from_name(ENCODINGS, name); }
const char *snn_isa_name(int32_t isa) { return name_of(ISAS, isa); }
int32_t snn_isa_from_name(const char *name) { return snn__from_name(ISAS, name); }
const char *snn_team_policy_name(int32_t policy) { return name_of(TEAM_POLICIES, policy); }
int32_t snn_team_policy_from_name(const char *name) { return snn__from_name(TEAM_POLICIES, name); }

const snn_key *snn_keys(int32_t *count)
{
    if (count) *count = (int32_t)(sizeof KEYS / sizeof KEYS[0]);
    return KEYS;
}

int snn_key_applies(const char *key, int32_t owner, int32_t which)
{
    size_t i;
    for (i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (KEYS[i].owner == owner && strcmp(KEYS[i].key, key) == 0 && which >= 0 && which < 32 &&
            (KEYS[i].applies >> which & 1))
            return 1;
    return 0;
}
