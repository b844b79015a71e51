#ifndef POOLWATCH_CMALLOC_SHIM_H
#define POOLWATCH_CMALLOC_SHIM_H
// glibc's malloc tuning (mallopt, malloc_trim), which Swift's Glibc module does not export; see
// Sources/PoolWatchCore/ProcessMemory.swift. Part of libc: nothing to link.
#if defined(__linux__)
#include <malloc.h>
#endif
#endif
