#ifndef POOLWATCH_CZLIB_SHIM_H
#define POOLWATCH_CZLIB_SHIM_H
// deflateInit2 and inflateInit2 are function-like macros, which Swift does not import; wrap them.
#include <zlib.h>

static inline int czlib_deflate_init_raw(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

// inflateInit2 likewise; raw deflate (no header), the counterpart of the above.
static inline int czlib_inflate_init_raw(z_streamp strm) {
    return inflateInit2(strm, -15);
}
#endif
