// The baseline the rings are meant to beat: a bounded queue guarded by one mutex.
#include "CReference.h"
#include "Clock.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    int consumer_waiting;   // guarded by mutex: signal only when someone waits
    int producer_waiting;
    uint64_t *slots;
    uint64_t mask;
    uint64_t head, tail;    // guarded by mutex
    uint64_t items;
    uint32_t batch;
} queue;

static void *producer_main(void *context) {
    queue *q = context;
    uint64_t next = 1;
    while (next <= q->items) {
        pthread_mutex_lock(&q->mutex);
        while (q->tail - q->head == q->mask + 1) {
            q->producer_waiting = 1;
            pthread_cond_wait(&q->not_full, &q->mutex);
        }
        q->producer_waiting = 0;
        uint64_t free = q->mask + 1 - (q->tail - q->head);
        uint64_t left = q->items - next + 1;
        uint64_t n = left < q->batch ? left : q->batch;
        if (n > free) n = free;
        for (uint64_t i = 0; i < n; i++) q->slots[(q->tail + i) & q->mask] = next + i;
        q->tail += n;
        if (q->consumer_waiting) pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->mutex);
        next += n;
    }
    return NULL;
}

cref_hand_off_result cref_mutex_queue_hand_off(uint64_t items, uint32_t batch, uint32_t capacity) {
    cref_hand_off_result result = {0, 0};
    if (batch == 0 || capacity < 2 || (capacity & (capacity - 1)) != 0 || batch > capacity) abort();
    queue q = {0};
    pthread_mutex_init(&q.mutex, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    q.slots = malloc((size_t)capacity * sizeof(uint64_t));
    if (q.slots == NULL) abort();
    q.mask = capacity - 1;
    q.items = items;
    q.batch = batch;

    uint64_t start = cref_now_nanos();
    pthread_t producer;
    if (pthread_create(&producer, NULL, producer_main, &q) != 0) abort();
    uint64_t received = 0, checksum = 0;
    while (received < items) {
        pthread_mutex_lock(&q.mutex);
        while (q.tail == q.head) {
            q.consumer_waiting = 1;
            pthread_cond_wait(&q.not_empty, &q.mutex);
        }
        q.consumer_waiting = 0;
        uint64_t available = q.tail - q.head;
        uint64_t n = available < batch ? available : batch;
        for (uint64_t i = 0; i < n; i++) checksum += q.slots[(q.head + i) & q.mask];
        q.head += n;
        if (q.producer_waiting) pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.mutex);
        received += n;
    }
    pthread_join(producer, NULL);
    result.nanoseconds = cref_now_nanos() - start;
    result.checksum = checksum;

    pthread_cond_destroy(&q.not_full);
    pthread_cond_destroy(&q.not_empty);
    pthread_mutex_destroy(&q.mutex);
    free(q.slots);
    return result;
}
