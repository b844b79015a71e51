#ifndef POOLWATCH_CCURL_SHIM_H
#define POOLWATCH_CCURL_SHIM_H
// Swift cannot call C variadic functions, and curl_easy_setopt / curl_easy_getinfo are variadic.
// One typed static-inline wrapper per argument type makes them callable and keeps the types honest.
#include <curl/curl.h>

static inline CURLcode ccurl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_write_function(CURL *h, curl_write_callback cb) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb); }
static inline CURLcode ccurl_setopt_header_function(CURL *h, curl_write_callback cb) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb); }
static inline CURLcode ccurl_setopt_xferinfo_function(CURL *h, curl_xferinfo_callback cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }
static inline CURLcode ccurl_getinfo_long(CURL *h, CURLINFO i, long *out) { return curl_easy_getinfo(h, i, out); }
static inline CURLcode ccurl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *out) { return curl_easy_getinfo(h, i, out); }
static inline long ccurl_global_default(void) { return CURL_GLOBAL_DEFAULT; }
static inline size_t ccurl_error_size(void) { return CURL_ERROR_SIZE; }
// The libcurl version actually loaded (not the headers'), e.g. "7.88.1", for the startup log.
static inline const char *ccurl_version_string(void) { return curl_version_info(CURLVERSION_NOW)->version; }
// 1 when libcurl resolves names asynchronously (threaded resolver or c-ares). Without it,
// CURLOPT_NOSIGNAL leaves DNS lookups without a timeout.
static inline int ccurl_has_async_dns(void) { return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS) != 0; }

#endif
