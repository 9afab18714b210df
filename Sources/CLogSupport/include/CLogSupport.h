#ifndef CLOG_SUPPORT_H
#define CLOG_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Nonzero when this CPU has the SSE4.2 `crc32` instruction (x86-64 only; 0 elsewhere).
/// LogStore asks once and falls back to its table-driven Swift CRC32C when this is 0.
int clog_crc32c_hardware_available(void);

/// Advances a raw CRC32C register (Castagnoli, reflected) over `count` bytes with the SSE4.2
/// `crc32` instruction. The caller applies the initial and final inversion. Must only be called
/// when `clog_crc32c_hardware_available()` returned nonzero: on other CPUs it is an illegal
/// instruction, and on non-x86 builds it aborts.
uint32_t clog_crc32c_hardware(uint32_t crc, const void *bytes, size_t count);

/// Names the calling thread (the kernel keeps the first 15 bytes), so `top -H` and perf show
/// which thread is the appender. Glibc's `pthread_setname_np` needs _GNU_SOURCE, which Swift's
/// Glibc module does not define. Returns 0 or an errno value.
int clog_set_current_thread_name(const char *name);

/// Copies the calling thread's name into `buffer` (16 bytes hold any name), so tests can tell
/// which of the log's threads ran a callback. Returns 0 or an errno value.
int clog_current_thread_name(char *buffer, size_t size);

#endif
