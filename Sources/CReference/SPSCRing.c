// A C SPSC ring of the same design as RingBuffer's SPSCRing, used as the same-run reference.
#include "CReference.h"
#include "Clock.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { spin_count = 256, yield_count = 32 };  // same as RingBuffer's SpinPolicy

typedef struct {
    alignas(128) _Atomic uint64_t tail;  // producer's line
    uint64_t producer_cached_head;
    alignas(128) _Atomic uint64_t head;  // consumer's line
    uint64_t consumer_cached_tail;
    alignas(128) _Atomic int consumer_sleepers;
    alignas(128) _Atomic int producer_sleepers;
    alignas(128) uint64_t mask;          // read-only after init
    uint64_t *slots;
    pthread_mutex_t mutex;               // one lock for both parking sides: parking is rare
    pthread_cond_t consumer_cond;
    pthread_cond_t producer_cond;
    uint64_t items;
    uint32_t batch;
} ring;

static void wake_all(ring *r, pthread_cond_t *cond) {
    pthread_mutex_lock(&r->mutex);
    pthread_cond_broadcast(cond);
    pthread_mutex_unlock(&r->mutex);
}

// Producer: writes as many of first..first+count-1 as fit; one store of tail.
static uint32_t push_batch(ring *r, uint64_t first, uint32_t count) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);  // own index
    uint64_t capacity = r->mask + 1;
    if (capacity - (tail - r->producer_cached_head) < count)
        // pairs with the consumer's store of head: slots below it were read
        r->producer_cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t free = capacity - (tail - r->producer_cached_head);
    uint32_t n = free < count ? (uint32_t)free : count;
    if (n == 0) return 0;
    for (uint32_t i = 0; i < n; i++) r->slots[(tail + i) & r->mask] = first + i;
    // releases the slots to the consumer's acquire load of tail; seq_cst as the Dekker half
    // that pairs with the consumer's seq_cst sleeper announcement
    atomic_store_explicit(&r->tail, tail + n, memory_order_seq_cst);
    if (atomic_load_explicit(&r->consumer_sleepers, memory_order_seq_cst) != 0)
        wake_all(r, &r->consumer_cond);
    return n;
}

// Consumer: sums up to max_count items; one load of tail, one store of head.
static uint32_t drain(ring *r, uint32_t max_count, uint64_t *checksum) {
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);  // own index
    if (r->consumer_cached_tail - head < max_count)
        // pairs with the producer's store of tail: slots below it are written
        r->consumer_cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t available = r->consumer_cached_tail - head;
    uint32_t n = available < max_count ? (uint32_t)available : max_count;
    if (n == 0) return 0;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) sum += r->slots[(head + i) & r->mask];
    *checksum += sum;
    // releases the slots to the producer's acquire load of head; seq_cst as the Dekker half
    // that pairs with the producer's seq_cst sleeper announcement
    atomic_store_explicit(&r->head, head + n, memory_order_seq_cst);
    if (atomic_load_explicit(&r->producer_sleepers, memory_order_seq_cst) != 0)
        wake_all(r, &r->producer_cond);
    return n;
}

static int has_items(ring *r, uint64_t head) {
    // seq_cst: the Dekker re-check; pairs with the producer's seq_cst store of tail
    return atomic_load_explicit(&r->tail, memory_order_seq_cst) != head;
}

static int has_space(ring *r, uint64_t tail) {
    // seq_cst: the Dekker re-check; pairs with the consumer's seq_cst store of head
    return tail - atomic_load_explicit(&r->head, memory_order_seq_cst) < r->mask + 1;
}

// Spin, yield, then park until ready(r, own) holds; same policy as RingBuffer's WaitingSide.
static void wait_until(ring *r, int (*ready)(ring *, uint64_t), uint64_t own,
                       _Atomic int *sleepers, pthread_cond_t *cond) {
    for (int i = 0; i < spin_count; i++) if (ready(r, own)) return;
    for (int i = 0; i < yield_count; i++) { sched_yield(); if (ready(r, own)) return; }
    // Dekker first half: announce, then re-check under the mutex
    atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
    pthread_mutex_lock(&r->mutex);
    while (!ready(r, own)) pthread_cond_wait(cond, &r->mutex);
    pthread_mutex_unlock(&r->mutex);
    // relaxed: a stale nonzero count only costs the other side one needless broadcast
    atomic_fetch_sub_explicit(sleepers, 1, memory_order_relaxed);
}

static void *producer_main(void *context) {
    ring *r = context;
    uint64_t next = 1;
    while (next <= r->items) {
        uint64_t left = r->items - next + 1;
        uint32_t chunk = left < r->batch ? (uint32_t)left : r->batch;
        uint32_t pushed = push_batch(r, next, chunk);
        if (pushed == 0)
            wait_until(r, has_space, atomic_load_explicit(&r->tail, memory_order_relaxed),
                       &r->producer_sleepers, &r->producer_cond);
        next += pushed;
    }
    return NULL;
}

cref_hand_off_result cref_spsc_hand_off(uint64_t items, uint32_t batch, uint32_t capacity) {
    cref_hand_off_result result = {0, 0};
    if (batch == 0 || capacity < 2 || (capacity & (capacity - 1)) != 0 || batch > capacity) abort();
    ring *r = aligned_alloc(128, sizeof(ring));
    if (r == NULL) abort();
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->consumer_sleepers, 0);
    atomic_init(&r->producer_sleepers, 0);
    r->producer_cached_head = 0;
    r->consumer_cached_tail = 0;
    r->mask = capacity - 1;
    r->slots = aligned_alloc(128, (size_t)capacity * sizeof(uint64_t));
    if (r->slots == NULL) abort();
    pthread_mutex_init(&r->mutex, NULL);
    pthread_cond_init(&r->consumer_cond, NULL);
    pthread_cond_init(&r->producer_cond, NULL);
    r->items = items;
    r->batch = batch;

    uint64_t start = cref_now_nanos();
    pthread_t producer;
    if (pthread_create(&producer, NULL, producer_main, r) != 0) abort();
    uint64_t received = 0, checksum = 0;
    while (received < items) {
        uint32_t n = drain(r, batch, &checksum);
        if (n == 0)
            wait_until(r, has_items, atomic_load_explicit(&r->head, memory_order_relaxed),
                       &r->consumer_sleepers, &r->consumer_cond);
        received += n;
    }
    pthread_join(producer, NULL);
    result.nanoseconds = cref_now_nanos() - start;
    result.checksum = checksum;

    pthread_cond_destroy(&r->producer_cond);
    pthread_cond_destroy(&r->consumer_cond);
    pthread_mutex_destroy(&r->mutex);
    free(r->slots);
    free(r);
    return result;
}
