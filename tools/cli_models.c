/* cli_models.c - loading models and detector parameters from flags. */
#include "cli_models.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_models_help[] =
    "models:\n"
    "  --clip FILE|random[:SEED]  OpenCLIP ViT-B-16-plus-240 weights (.pt/.bin/.safetensors),\n"
    "                             or a seeded random-weight model (default $ANOMEM_CLIP)\n"
    "  --sam FILE                 SAM checkpoint (default $ANOMEM_SAM; none: classical segmenter)\n"
    "  --clip-config FILE         open_clip model-config JSON (non-standard sizes)\n"
    "  --sam-config FILE          SAM config JSON (non-standard sizes)\n"
    "  --precision f32|bf16       numeric path (default f32)\n"
    "  --threads N                worker threads (default: all cores)\n"
    "  --max-pixels N             refuse larger images (default 100000000)\n"
    "detector:\n"
    "  --object NAME              noun of the text prompts (default: from the category)\n"
    "  --seed N                   seed of sampling (default 0)\n"
    "  --no-objects               do not split scenes into objects\n"
    "  --memory-capacity N        embeddings per memory-bank part (default 100000)\n"
    "  --subsample random|coreset how to cap the banks (default random)\n"
    "  --memory-ratio R           keep this fraction of each bank part (coreset)\n"
    "  --memory-budget MB         memory all banks may use while fitting (default 4096)\n"
    "  --smooth SIGMA             Gaussian smoothing of the map, pixels (default off)\n"
    "  --param NAME=VALUE         any detector parameter (e.g. indiv_image_weight=6)\n";

void cli_models_init(cli_models *m) {
    memset(m, 0, sizeof *m);
    m->precision = AM_PRECISION_F32;
    m->detector = am_detector_default_params();
}

const char *cli_flag_value(const char *command, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage(command, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Sets a detector parameter by name, printing a usage error on failure. */
static int set_param(cli_models *m, const char *command, const char *name, const char *value) {
    am_error err = {0};
    if (am_detector_params_set(&m->detector, name, value, &err) != AM_OK) {
        cli_usage(command, "%s", err.message);
        return -1;
    }
    return 1;
}

int cli_models_parse(cli_models *m, const char *command, int argc, char **argv, int *i) {
    const char *flag = argv[*i], *v;
    static const struct {
        const char *flag, *param;
    } simple[] = {
        {"--seed", "seed"},
        {"--memory-capacity", "memory_capacity"},
        {"--subsample", "subsample"},
        {"--memory-ratio", "memory_ratio"},
        {"--memory-budget", "memory_budget_mb"},
        {"--smooth", "smooth_sigma"},
    };
    for (size_t k = 0; k < sizeof simple / sizeof *simple; k++)
        if (strcmp(flag, simple[k].flag) == 0) {
            if (!(v = cli_flag_value(command, argc, argv, i))) return -1;
            return set_param(m, command, simple[k].param, v);
        }
    if (strcmp(flag, "--no-objects") == 0) {
        m->detector.use_objects = 0;
        return 1;
    }
    if (strcmp(flag, "--param") == 0) {
        if (!(v = cli_flag_value(command, argc, argv, i))) return -1;
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) {
            cli_usage(command, "--param takes NAME=VALUE");
            return -1;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
        return set_param(m, command, name, eq + 1);
    }
    const char **target = strcmp(flag, "--clip") == 0          ? &m->clip
                          : strcmp(flag, "--sam") == 0         ? &m->sam
                          : strcmp(flag, "--clip-config") == 0 ? &m->clip_config
                          : strcmp(flag, "--sam-config") == 0  ? &m->sam_config
                          : strcmp(flag, "--object") == 0      ? &m->object
                                                               : NULL;
    if (target) {
        if (!(*target = cli_flag_value(command, argc, argv, i))) return -1;
        return 1;
    }
    if (strcmp(flag, "--precision") == 0) {
        if (!(v = cli_flag_value(command, argc, argv, i))) return -1;
        m->precision_given = 1;
        if (strcmp(v, "f32") == 0) m->precision = AM_PRECISION_F32;
        else if (strcmp(v, "bf16") == 0) m->precision = AM_PRECISION_BF16;
        else {
            cli_usage(command, "--precision takes f32 or bf16, not '%s'", v);
            return -1;
        }
        return 1;
    }
    if (strcmp(flag, "--max-pixels") == 0) {
        if (!(v = cli_flag_value(command, argc, argv, i))) return -1;
        char *end;
        long long px = strtoll(v, &end, 10);
        if (*end || px < 1 || px > ((long long)1 << 40)) {
            cli_usage(command, "--max-pixels takes a positive number, not '%s'", v);
            return -1;
        }
        m->max_pixels = px;
        return 1;
    }
    if (strcmp(flag, "--threads") == 0) {
        if (!(v = cli_flag_value(command, argc, argv, i))) return -1;
        char *end;
        long t = strtol(v, &end, 10);
        if (*end || t < 1 || t > 1024) {
            cli_usage(command, "--threads takes a number 1..1024, not '%s'", v);
            return -1;
        }
        m->threads = (int32_t)t;
        return 1;
    }
    return 0;
}

void cli_set_threads(int32_t threads) {
    if (threads <= 0) return;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

/* "random" or "random:SEED" -> 1 and the seed; 0 for a path. */
static int parse_random(const char *spec, uint64_t *seed, am_error *err, int *bad) {
    *bad = 0;
    if (strncmp(spec, "random", 6) != 0 || (spec[6] && spec[6] != ':')) return 0;
    *seed = 0;
    if (spec[6] == ':') {
        char *end;
        *seed = strtoull(spec + 7, &end, 10);
        if (!spec[7] || *end) {
            *bad = 1;
            snprintf(err->message, sizeof err->message,
                     "--clip %s: expected random or random:SEED with a number", spec);
            err->code = AM_ERR_ARGUMENT;
        }
    }
    return 1;
}

am_status cli_models_load(cli_models *m, am_clip **clip, am_sam **sam, am_error *err) {
    *clip = NULL;
    *sam = NULL;
    cli_set_threads(m->threads);
    /* the memory-bank search runs in the models' precision */
    m->detector.search_precision = m->precision;
    const char *clip_spec = m->clip ? m->clip : getenv("ANOMEM_CLIP");
    const char *sam_path = m->sam ? m->sam : getenv("ANOMEM_SAM");
    if (!clip_spec || !clip_spec[0]) {
        snprintf(err->message, sizeof err->message,
                 "no CLIP model: give --clip FILE (or --clip random) or set ANOMEM_CLIP");
        return err->code = AM_ERR_ARGUMENT;
    }
    am_clip_params cp = am_clip_default_params();
    cp.precision = m->precision;
    cp.threads = m->threads;
    cp.config_path = m->clip_config;
    uint64_t seed;
    int bad;
    am_status st;
    if (parse_random(clip_spec, &seed, err, &bad)) {
        if (bad) return AM_ERR_ARGUMENT;
        st = am_clip_create_random(seed, NULL, &cp, clip, err);
    } else {
        st = am_clip_load(clip_spec, &cp, clip, err);
    }
    if (st != AM_OK || !sam_path || !sam_path[0]) return st;
    am_sam_params sp = am_sam_default_params();
    sp.precision = m->precision;
    sp.threads = m->threads;
    sp.config_path = m->sam_config;
    st = am_sam_load(sam_path, &sp, sam, err);
    if (st != AM_OK) {
        am_clip_free(*clip);
        *clip = NULL;
    }
    return st;
}
