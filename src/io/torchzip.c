/* torchzip.c - PyTorch zip checkpoints (being written). */
#include "core/error.h"
#include "io/weights_internal.h"

am_status am_torchzip_read(am_weights *w, const unsigned char *buf, size_t size, am_error *err) {
    (void)w;
    (void)buf;
    (void)size;
    return am_error_set(err, AM_ERR_UNSUPPORTED, "PyTorch zip reader not built yet");
}
