#ifndef POOLWATCH_CZLIB_SHIM_H
#define POOLWATCH_CZLIB_SHIM_H
// deflateInit2 is a function-like macro, which Swift does not import; wrap it.
#include <zlib.h>

static inline int czlib_deflate_init_raw(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}
#endif
