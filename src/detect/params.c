/* params.c - the detector's parameters: defaults (the paper's values), range
 * checks, setting one by name (CLI flags), and JSON (the model file). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "detect/detector_internal.h"

am_detector_params am_detector_default_params(void) {
    am_detector_params p;
    memset(&p, 0, sizeof p);
    p.small_window = 2;
    p.mid_window = 3;
    p.window_stride = 1;
    p.temperature = 0.07f;
    p.zs_small_weight = 1.8f;
    p.zs_mid_weight = 0.2f;
    p.global_small_weight = 1.0f;
    p.global_mid_weight = 1.0f;
    p.global_image_weight = 1.0f;
    p.indiv_small_weight = 1.5f;
    p.indiv_mid_weight = 0.5f;
    p.indiv_image_weight = 6.0f;
    p.global_weight = 0.55f;
    p.indiv_weight = 0.45f;
    p.memory_capacity = 100000;
    p.subsample = AM_SUBSAMPLE_RANDOM;
    p.memory_ratio = 0.0f;
    p.memory_budget_mb = 4096;
    p.augmentations = AM_AUG_ALL;
    p.rotate_degrees = 10.0f;
    p.translate_fraction = 0.05f;
    p.seed = 0;
    p.use_objects = 1;
    p.max_objects = 32;
    p.max_object_fraction = 0.5f;
    p.min_object_fraction = 0.0005f;
    p.nested_fraction = 0.8f;
    p.crop_grow = 0.1f;
    p.smooth_sigma = 0.0f;
    p.search_precision = AM_PRECISION_F32;
    return p;
}

static int finite_nonneg(float v) {
    return isfinite(v) && v >= 0;
}

am_status am_detector_params_check(const am_detector_params *p, int32_t grid, am_error *err) {
    if (p->small_window < 1 || p->small_window > grid || p->mid_window < 1 ||
        p->mid_window > grid)
        return am_error_set(err, AM_ERR_ARGUMENT, "window sizes %d and %d must be 1..%d patches",
                            (int)p->small_window, (int)p->mid_window, (int)grid);
    if (p->window_stride < 1 || p->window_stride > grid)
        return am_error_set(err, AM_ERR_ARGUMENT, "window stride %d must be 1..%d",
                            (int)p->window_stride, (int)grid);
    if (!(isfinite(p->temperature) && p->temperature > 0))
        return am_error_set(err, AM_ERR_ARGUMENT, "temperature must be > 0");
    const float weights[] = {p->zs_small_weight,     p->zs_mid_weight,      p->global_small_weight,
                             p->global_mid_weight,   p->global_image_weight, p->indiv_small_weight,
                             p->indiv_mid_weight,    p->indiv_image_weight, p->global_weight,
                             p->indiv_weight,        p->smooth_sigma,       p->rotate_degrees,
                             p->translate_fraction};
    for (size_t i = 0; i < sizeof weights / sizeof *weights; i++)
        if (!finite_nonneg(weights[i]) || weights[i] > 1000)
            return am_error_set(err, AM_ERR_ARGUMENT,
                                "weights, sigma and augmentation amounts must be finite, 0..1000");
    if (p->translate_fraction > 0.5f || p->rotate_degrees > 180)
        return am_error_set(err, AM_ERR_ARGUMENT,
                            "translation above 0.5 or rotation above 180 degrees");
    if (p->memory_capacity < 1 || p->memory_capacity > 100000000)
        return am_error_set(err, AM_ERR_ARGUMENT, "memory capacity must be 1..100000000");
    if (p->memory_budget_mb < 1 || p->memory_budget_mb > ((int64_t)1 << 24))
        return am_error_set(err, AM_ERR_ARGUMENT, "memory budget must be 1..16777216 MiB");
    if (p->subsample != AM_SUBSAMPLE_RANDOM && p->subsample != AM_SUBSAMPLE_CORESET)
        return am_error_set(err, AM_ERR_ARGUMENT, "unknown subsampling method");
    if (!(p->memory_ratio >= 0 && p->memory_ratio <= 1))
        return am_error_set(err, AM_ERR_ARGUMENT, "memory ratio must be in [0, 1]");
    if ((p->augmentations & ~(uint32_t)AM_AUG_ALL) != 0 || p->augmentations == 0)
        return am_error_set(err, AM_ERR_ARGUMENT, "augmentation set is empty or unknown");
    if (p->search_precision != AM_PRECISION_F32 && p->search_precision != AM_PRECISION_BF16)
        return am_error_set(err, AM_ERR_ARGUMENT, "unknown search precision");
    if (p->max_objects < 0 || p->max_objects > 256)
        return am_error_set(err, AM_ERR_ARGUMENT, "max objects must be 0..256");
    if (!(p->max_object_fraction > 0 && p->max_object_fraction <= 1) ||
        !(p->min_object_fraction >= 0 && p->min_object_fraction < p->max_object_fraction) ||
        !(p->nested_fraction > 0 && p->nested_fraction <= 1) ||
        !(p->crop_grow >= 0 && p->crop_grow <= 4))
        return am_error_set(err, AM_ERR_ARGUMENT, "object selection fractions out of range");
    return AM_OK;
}


typedef enum { KIND_FLOAT, KIND_I32, KIND_I64, KIND_U32, KIND_U64, KIND_SUBSAMPLE } param_kind;

/* Every parameter by name, for flags and for the model file. */
static const struct {
    const char *name;
    param_kind kind;
    size_t offset;
    int runtime; /* a resource limit, not part of a fitted model's file */
} param_table[] = {
#define P(name, kind) {#name, kind, offsetof(am_detector_params, name), 0}
    P(small_window, KIND_I32),        P(mid_window, KIND_I32),
    P(window_stride, KIND_I32),       P(temperature, KIND_FLOAT),
    P(zs_small_weight, KIND_FLOAT),   P(zs_mid_weight, KIND_FLOAT),
    P(global_small_weight, KIND_FLOAT), P(global_mid_weight, KIND_FLOAT),
    P(global_image_weight, KIND_FLOAT), P(indiv_small_weight, KIND_FLOAT),
    P(indiv_mid_weight, KIND_FLOAT),  P(indiv_image_weight, KIND_FLOAT),
    P(global_weight, KIND_FLOAT),     P(indiv_weight, KIND_FLOAT),
    P(memory_capacity, KIND_I64),     P(subsample, KIND_SUBSAMPLE),
    P(memory_ratio, KIND_FLOAT),      P(augmentations, KIND_U32),
    P(rotate_degrees, KIND_FLOAT),    P(translate_fraction, KIND_FLOAT),
    P(seed, KIND_U64),                P(use_objects, KIND_I32),
    P(max_objects, KIND_I32),         P(max_object_fraction, KIND_FLOAT),
    P(min_object_fraction, KIND_FLOAT), P(nested_fraction, KIND_FLOAT),
    P(crop_grow, KIND_FLOAT),         P(smooth_sigma, KIND_FLOAT),
    {"memory_budget_mb", KIND_I64, offsetof(am_detector_params, memory_budget_mb), 1},
#undef P
};
#define N_PARAMS (sizeof param_table / sizeof *param_table)

am_status am_detector_params_set(am_detector_params *p, const char *name, const char *value,
                                 am_error *err) {
    for (size_t i = 0; i < N_PARAMS; i++) {
        if (strcmp(param_table[i].name, name) != 0) continue;
        char *field = (char *)p + param_table[i].offset, *end = NULL;
        errno = 0;
        if (param_table[i].kind == KIND_FLOAT) {
            float v = strtof(value, &end);
            if (*value && !*end && errno == 0 && isfinite(v)) {
                memcpy(field, &v, sizeof v);
                return AM_OK;
            }
        } else if (param_table[i].kind == KIND_SUBSAMPLE) {
            am_subsample s = strcmp(value, "random") == 0    ? AM_SUBSAMPLE_RANDOM
                             : strcmp(value, "coreset") == 0 ? AM_SUBSAMPLE_CORESET
                                                             : (am_subsample)-1;
            if ((int)s >= 0) {
                memcpy(field, &s, sizeof s);
                return AM_OK;
            }
            return am_error_set(err, AM_ERR_ARGUMENT, "subsample must be random or coreset");
        } else {
            unsigned long long v = strtoull(value, &end, 0);
            int neg = value[0] == '-';
            if (*value && !*end && errno == 0 && !neg) {
                switch (param_table[i].kind) {
                case KIND_I32:
                    if (v > INT32_MAX) break;
                    *(int32_t *)field = (int32_t)v;
                    return AM_OK;
                case KIND_U32:
                    if (v > UINT32_MAX) break;
                    *(uint32_t *)field = (uint32_t)v;
                    return AM_OK;
                case KIND_I64:
                    if (v > INT64_MAX) break;
                    *(int64_t *)field = (int64_t)v;
                    return AM_OK;
                default:
                    *(uint64_t *)field = (uint64_t)v;
                    return AM_OK;
                }
            }
        }
        return am_error_set(err, AM_ERR_ARGUMENT, "parameter %s: '%s' is not a valid value", name,
                            value);
    }
    return am_error_set(err, AM_ERR_ARGUMENT, "unknown detector parameter '%s'", name);
}

char *am_detector_params_to_json(const am_detector_params *p) {
    json_t *o = json_object();
    for (size_t i = 0; i < N_PARAMS; i++) {
        if (param_table[i].runtime) continue;
        const char *field = (const char *)p + param_table[i].offset;
        json_t *v;
        switch (param_table[i].kind) {
        case KIND_FLOAT: v = json_real(*(const float *)field); break;
        case KIND_I32: v = json_integer(*(const int32_t *)field); break;
        case KIND_U32: v = json_integer(*(const uint32_t *)field); break;
        case KIND_I64: v = json_integer(*(const int64_t *)field); break;
        case KIND_SUBSAMPLE:
            v = json_string(*(const am_subsample *)field == AM_SUBSAMPLE_CORESET ? "coreset"
                                                                                 : "random");
            break;
        default: { /* seeds travel as strings: JSON integers stop at 2^63 */
            char buf[32];
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)field);
            v = json_string(buf);
        }
        }
        json_object_set_new(o, param_table[i].name, v);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}

am_status am_detector_params_from_json(const char *text, am_detector_params *p, am_error *err) {
    *p = am_detector_default_params();
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return am_error_set(err, AM_ERR_FORMAT, "parameters are not a JSON object");
    }
    am_status st = AM_OK;
    for (size_t i = 0; st == AM_OK && i < N_PARAMS; i++) {
        if (param_table[i].runtime) continue;
        json_t *v = json_object_get(o, param_table[i].name);
        if (!v) {
            st = am_error_set(err, AM_ERR_FORMAT, "parameter '%s' missing", param_table[i].name);
        } else if (json_is_string(v)) {
            st = am_detector_params_set(p, param_table[i].name, json_string_value(v), err);
        } else if (json_is_number(v)) {
            char buf[64];
            if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            else snprintf(buf, sizeof buf, "%.9g", json_number_value(v));
            st = am_detector_params_set(p, param_table[i].name, buf, err);
        } else {
            st = am_error_set(err, AM_ERR_FORMAT, "parameter '%s' has a wrong type",
                              param_table[i].name);
        }
    }
    json_decref(o);
    return st;
}
