/* report.c - the evaluation report: one self-contained HTML page with the
 * metric table, ROC and PR curves as inline SVG, and a grid of test images
 * (image, ground truth, anomaly overlay) with the worst misses first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/text.h"
#include "eval/report.h"

static void put_escaped(am_text *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': am_text_printf(b, "&lt;"); break;
        case '>': am_text_printf(b, "&gt;"); break;
        case '&': am_text_printf(b, "&amp;"); break;
        case '"': am_text_printf(b, "&quot;"); break;
        default: am_text_append(b, s, 1);
        }
    }
}

static void put_metric(am_text *b, double v, int undefined) {
    if (undefined) am_text_printf(b, "<td class=u>undefined</td>");
    else am_text_printf(b, "<td>%.2f</td>", 100.0 * v);
}

/* One curve as an SVG polyline in a 200 x 200 box (x and y in [0, 1]). */
static void put_curve(am_text *b, const am_curve *c, const char *title, const char *xl,
                      const char *yl) {
    am_text_printf(b, "<svg width=230 height=240 viewBox='-30 -20 240 250'><text x=100 y=-5 "
           "text-anchor=middle font-size=12>%s</text><rect x=0 y=0 width=200 height=200 "
           "fill=none stroke=#888 /><text x=100 y=222 text-anchor=middle font-size=10>%s</text>"
           "<text x=-18 y=100 font-size=10 transform='rotate(-90 -18 100)' "
           "text-anchor=middle>%s</text><polyline fill=none stroke=#c33 stroke-width=1.5 "
           "points='", title, xl, yl);
    for (int32_t i = 0; i < c->n; i++)
        am_text_printf(b, "%.1f,%.1f ", 200.0 * c->x[i], 200.0 * (1.0 - c->y[i]));
    am_text_printf(b, "'/></svg>");
}

am_status am_report_write_html(const char *path, const am_report *r, am_error *err) {
    am_text b = {0};
    am_text_printf(&b, "<!DOCTYPE html><html><head><meta charset=utf-8><title>anomem report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td.u{color:#999}th{background:#eee}.grid img{width:128px;height:128px;"
            "image-rendering:auto;margin:1px}.cell{display:inline-block;margin:4px;"
            "font-size:11px;vertical-align:top}.settings{font-family:monospace;font-size:11px;"
            "word-break:break-all}</style></head><body>");
    am_text_printf(&b, "<h1>anomem evaluation</h1><p class=settings>");
    put_escaped(&b, r->settings);
    am_text_printf(&b, "</p><table><tr><th>category</th><th>image AUROC</th><th>image AP</th>"
            "<th>image F1-max</th><th>pixel AUROC</th><th>pixel AP</th><th>pixel F1-max</th>"
            "<th>AUPRO@0.3</th></tr>");
    for (int32_t c = 0; c < r->n_categories; c++) {
        const am_report_category *cat = &r->categories[c];
        am_text_printf(&b, "<tr><th>");
        put_escaped(&b, cat->name);
        am_text_printf(&b, "</th>");
        put_metric(&b, cat->image.auroc, cat->image.undefined & AM_METRIC_AUROC);
        put_metric(&b, cat->image.ap, cat->image.undefined & AM_METRIC_AP);
        put_metric(&b, cat->image.f1max, cat->image.undefined & AM_METRIC_F1MAX);
        put_metric(&b, cat->pixel.auroc, cat->pixel.undefined & AM_METRIC_AUROC);
        put_metric(&b, cat->pixel.ap, cat->pixel.undefined & AM_METRIC_AP);
        put_metric(&b, cat->pixel.f1max, cat->pixel.undefined & AM_METRIC_F1MAX);
        put_metric(&b, cat->pixel.aupro, cat->pixel.undefined & AM_METRIC_AUPRO);
        am_text_printf(&b, "</tr>");
    }
    am_text_printf(&b, "</table>");
    for (int32_t c = 0; c < r->n_categories; c++) {
        const am_report_category *cat = &r->categories[c];
        am_text_printf(&b, "<h2>");
        put_escaped(&b, cat->name);
        am_text_printf(&b, "</h2><div>");
        put_curve(&b, &cat->image.roc, "image ROC", "FPR", "TPR");
        put_curve(&b, &cat->image.pr, "image PR", "recall", "precision");
        put_curve(&b, &cat->pixel.roc, "pixel ROC", "FPR", "TPR");
        put_curve(&b, &cat->pixel.pr, "pixel PR", "recall", "precision");
        am_text_printf(&b, "</div><div class=grid>");
        for (int32_t i = 0; i < cat->n_figures; i++) {
            const am_report_figure *f = &cat->figures[i];
            am_text_printf(&b, "<div class=cell><img src='data:image/png;base64,%s'>", f->image_b64);
            if (f->mask_b64) am_text_printf(&b, "<img src='data:image/png;base64,%s'>", f->mask_b64);
            am_text_printf(&b, "<img src='data:image/png;base64,%s'><br>%s score %.4f: ", f->overlay_b64,
                f->label ? "defect" : "good", f->score);
            put_escaped(&b, f->name);
            am_text_printf(&b, "</div>");
        }
        am_text_printf(&b, "</div>");
    }
    am_text_printf(&b, "</body></html>\n");
    am_status st = b.failed ? am_error_set(err, AM_ERR_NOMEM, "out of memory writing the report")
                            : am_write_file(path, b.data, b.len, err);
    am_text_free(&b);
    return st;
}

char *am_base64_encode(const unsigned char *data, size_t n) {
    static const char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < n) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < n) v |= data[i + 2];
        *o++ = table[(v >> 18) & 63];
        *o++ = table[(v >> 12) & 63];
        *o++ = i + 1 < n ? table[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? table[v & 63] : '=';
    }
    *o = 0;
    return out;
}
