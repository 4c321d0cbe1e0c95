/* result_json.c - one category's evaluation result as JSON (the "result"
 * record of <out>/<category>/result.json and of metrics.json), and reading
 * it back for a resumed run, checking every member. */
#include "eval/result_json.h"

#include <math.h>
#include <string.h>

/* A metric for JSON: the number, or the string "undefined". */
static json_t *metric_json(double v, uint32_t undefined, uint32_t bit) {
    return (undefined & bit) || !isfinite(v) ? json_string("undefined") : json_real(v);
}

static json_t *curve_json(const am_curve *c) {
    json_t *x = json_array(), *y = json_array();
    for (int32_t i = 0; i < c->n; i++) {
        json_array_append_new(x, json_real(c->x[i]));
        json_array_append_new(y, json_real(c->y[i]));
    }
    return json_pack("{s:o,s:o}", "x", x, "y", y);
}

/* A curve of equally long arrays of numbers in [0, 1] (rates, precision,
 * recall); 0 when it is not one. */
static int curve_from_json(json_t *o, am_curve *c) {
    json_t *x = json_object_get(o, "x"), *y = json_object_get(o, "y");
    c->n = 0;
    size_t n = json_array_size(x);
    if (!json_is_array(x) || !json_is_array(y) || json_array_size(y) != n ||
        n > AM_CURVE_MAX_POINTS)
        return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *xi = json_array_get(x, i), *yi = json_array_get(y, i);
        double xv = json_number_value(xi), yv = json_number_value(yi);
        if (!json_is_number(xi) || !json_is_number(yi) || !(xv >= 0 && xv <= 1) ||
            !(yv >= 0 && yv <= 1))
            return 0;
        c->x[i] = (float)xv;
        c->y[i] = (float)yv;
    }
    c->n = (int32_t)n;
    return 1;
}

/* A metric as metric_json writes it: a number, or "undefined"; 0 when it is
 * neither. */
static int metric_from_json(json_t *o, const char *key, double *value, uint32_t *undefined,
                            uint32_t bit) {
    json_t *v = json_object_get(o, key);
    const char *text = json_string_value(v);
    int is_undefined = text && strcmp(text, "undefined") == 0;
    *value = json_is_number(v) ? json_number_value(v) : NAN;
    if (is_undefined) *undefined |= bit;
    return json_is_number(v) || is_undefined;
}

static int count_from_json(json_t *o, const char *key, int64_t *out) {
    json_t *v = json_object_get(o, key);
    *out = json_integer_value(v);
    return json_is_integer(v) && *out >= 0;
}

json_t *am_eval_result_to_json(const am_eval_result *r) {
    json_t *img = json_pack(
        "{s:o,s:o,s:o,s:I,s:I,s:o,s:o}", "auroc",
        metric_json(r->image.auroc, r->image.undefined, AM_METRIC_AUROC), "ap",
        metric_json(r->image.ap, r->image.undefined, AM_METRIC_AP), "f1max",
        metric_json(r->image.f1max, r->image.undefined, AM_METRIC_F1MAX), "normal",
        (json_int_t)r->image.n_normal, "anomalous", (json_int_t)r->image.n_anomalous, "roc",
        curve_json(&r->image.roc), "pr", curve_json(&r->image.pr));
    json_t *px = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o}", "auroc",
        metric_json(r->pixel.auroc, r->pixel.undefined, AM_METRIC_AUROC), "ap",
        metric_json(r->pixel.ap, r->pixel.undefined, AM_METRIC_AP), "f1max",
        metric_json(r->pixel.f1max, r->pixel.undefined, AM_METRIC_F1MAX), "aupro",
        metric_json(r->pixel.aupro, r->pixel.undefined, AM_METRIC_AUPRO), "roc",
        curve_json(&r->pixel.roc), "pr", curve_json(&r->pixel.pr));
    return json_pack("{s:s,s:o,s:o}", "category", r->name, "image", img, "pixel", px);
}

int am_eval_result_from_json(json_t *o, am_eval_result *r) {
    json_t *img = json_object_get(o, "image"), *px = json_object_get(o, "pixel");
    am_image_metrics *i = &r->image;
    am_pixel_metrics *p = &r->pixel;
    return json_is_object(img) && json_is_object(px) &&
           metric_from_json(img, "auroc", &i->auroc, &i->undefined, AM_METRIC_AUROC) &&
           metric_from_json(img, "ap", &i->ap, &i->undefined, AM_METRIC_AP) &&
           metric_from_json(img, "f1max", &i->f1max, &i->undefined, AM_METRIC_F1MAX) &&
           count_from_json(img, "normal", &i->n_normal) &&
           count_from_json(img, "anomalous", &i->n_anomalous) &&
           curve_from_json(json_object_get(img, "roc"), &i->roc) &&
           curve_from_json(json_object_get(img, "pr"), &i->pr) &&
           metric_from_json(px, "auroc", &p->auroc, &p->undefined, AM_METRIC_AUROC) &&
           metric_from_json(px, "ap", &p->ap, &p->undefined, AM_METRIC_AP) &&
           metric_from_json(px, "f1max", &p->f1max, &p->undefined, AM_METRIC_F1MAX) &&
           metric_from_json(px, "aupro", &p->aupro, &p->undefined, AM_METRIC_AUPRO) &&
           curve_from_json(json_object_get(px, "roc"), &p->roc) &&
           curve_from_json(json_object_get(px, "pr"), &p->pr);
}
