// Hardware CRC32C for LogStore. Swift cannot call the SSE4.2 intrinsics directly (they are
// static inline functions that need the target feature enabled), so this file compiles just
// this one function for sse4.2 and leaves the rest of the package at the baseline ISA; the
// runtime check keeps older CPUs on the Swift table-driven path.
#include "CLogSupport.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int clog_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t clog_crc32c_hardware(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t wide = crc;
    // Eight bytes per instruction; memcpy makes the unaligned load well defined and compiles
    // to a plain mov.
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, sizeof word);
        wide = _mm_crc32_u64(wide, word);
        p += 8;
        count -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    // The tail in at most three instructions rather than up to seven byte steps.
    if (count >= 4) {
        uint32_t word;
        memcpy(&word, p, sizeof word);
        narrow = _mm_crc32_u32(narrow, word);
        p += 4;
        count -= 4;
    }
    if (count >= 2) {
        uint16_t half;
        memcpy(&half, p, sizeof half);
        narrow = _mm_crc32_u16(narrow, half);
        p += 2;
        count -= 2;
    }
    while (count > 0) {
        narrow = _mm_crc32_u8(narrow, *p);
        p += 1;
        count -= 1;
    }
    return narrow;
}

#else

int clog_crc32c_hardware_available(void) { return 0; }

uint32_t clog_crc32c_hardware(uint32_t crc, const void *bytes, size_t count) {
    (void)crc; (void)bytes; (void)count;
    abort(); // Unreachable: callers check clog_crc32c_hardware_available() first.
}

#endif
