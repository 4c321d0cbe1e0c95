/* metrics_regions.c - 8-connected component labelling of a ground-truth mask
 * (scipy.ndimage.label with a 3x3 structure of ones), by flood fill. */
#include "eval/metrics.h"

int64_t am_metrics_label_regions(const uint8_t *mask, int32_t width, int32_t height,
                                 int32_t *labels, int32_t *stack) {
    int64_t npix = (int64_t)width * height;
    for (int64_t i = 0; i < npix; i++) labels[i] = -1;
    int32_t next = 0;
    for (int64_t seed = 0; seed < npix; seed++) {
        if (!mask[seed] || labels[seed] >= 0) continue;
        int64_t top = 0;
        labels[seed] = next;
        stack[top++] = (int32_t)seed;
        while (top > 0) {
            int32_t p = stack[--top];
            int32_t y = p / width, x = p % width;
            for (int32_t dy = -1; dy <= 1; dy++) {
                int32_t yy = y + dy;
                if (yy < 0 || yy >= height) continue;
                for (int32_t dx = -1; dx <= 1; dx++) {
                    int32_t xx = x + dx;
                    if (xx < 0 || xx >= width) continue;
                    int32_t q = yy * width + xx;
                    if (mask[q] && labels[q] < 0) {
                        labels[q] = next;
                        stack[top++] = q;
                    }
                }
            }
        }
        next++;
    }
    return next;
}
