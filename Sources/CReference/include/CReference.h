// Plain C references for the Swift rings in RingBuffer, measured in the same run so that a Swift
// figure is always printed beside what C does on the same box (DESIGN.md, "Benchmarks").
#ifndef CREFERENCE_H
#define CREFERENCE_H

#include <stdint.h>

/// Result of one two-thread hand-off run.
typedef struct {
    /// Thread start to join, CLOCK_MONOTONIC.
    uint64_t nanoseconds;
    /// Wrapping sum of every value received: items * (items + 1) / 2 when nothing was lost.
    uint64_t checksum;
} cref_hand_off_result;

/// SPSC ring of the same design as SPSCRing (power-of-two capacity, cached indices, head and tail
/// 128 bytes apart, C11 acquire/release, batched publish and consume, spin then park with the
/// same Dekker handshake). A producer thread pushes 1...items in chunks of `batch`; the calling
/// thread drains up to `batch` at a time. `capacity` must be a power of two >= 2 and >= batch.
cref_hand_off_result cref_spsc_hand_off(uint64_t items, uint32_t batch, uint32_t capacity);

/// The same hand-off through a bounded queue guarded by one pthread mutex and two condition
/// variables (not-empty, not-full): up to `batch` items moved per lock acquisition.
cref_hand_off_result cref_mutex_queue_hand_off(uint64_t items, uint32_t batch, uint32_t capacity);

/// Loopback TCP ping-pong between this process and a forked echo process (TCP_NODELAY):
/// `round_trips` messages of `size` bytes, each sent and read back. Fills `latencies` (length
/// round_trips) with each round trip in nanoseconds, sorted. Returns 0, or -1 on a socket error.
int cref_tcp_ping_pong(uint32_t round_trips, uint32_t size, uint64_t *latencies);

/// A plain blocking client of a node process, shaped like `cref_tcp_ping_pong`'s client: connects
/// to 127.0.0.1:`port` (TCP_NODELAY), then `warmup` + `round_trips` times writes the `frame_size`
/// bytes of `frame` (one request frame) and reads one reply frame (a u32 little-endian length,
/// then that many bytes, at most 64 KiB). Fills `latencies` (length round_trips) with the timed
/// round trips in nanoseconds, sorted. Returns 0, or -1 on a socket error or an oversized reply.
int cref_frame_round_trips(uint16_t port, const void *frame, uint32_t frame_size, uint32_t warmup,
                           uint32_t round_trips, uint64_t *latencies);

/// Appends `size` bytes then fdatasync, `appends` times, to a fresh file at `path` (removed after).
/// Fills `latencies` with each append+sync in nanoseconds, sorted. Returns 0, or -1 on an I/O error.
int cref_append_fdatasync(const char *path, uint32_t appends, uint32_t size, uint64_t *latencies);

#endif
