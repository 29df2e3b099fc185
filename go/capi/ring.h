/* The submission ring of a completion port (ring.c): the event loop's thread
 * queues calls here without entering Go (pylibctrd_ring_submit, declared in
 * pylibctrd.h); the port's dispatcher goroutine (ring.go) takes them. */
#ifndef PYLIBCTRD_RING_H
#define PYLIBCTRD_RING_H
#include "pylibctrd.h"

typedef struct pylibctrd_ring_entry {
    uint64_t call;
    uint64_t arg;
    uint32_t index;
} pylibctrd_ring_entry;

/* A ring whose submissions write to eventfd `fd` when the dispatcher sleeps;
 * NULL when out of memory. */
pylibctrd_ring *pylibctrd_ring_new(int fd);
/* Takes up to max entries, oldest first. Taking none marks the dispatcher
 * asleep, in the same critical section, so that the next kick wakes it: no
 * submission is ever left without a wake-up. */
size_t pylibctrd_ring_pop(pylibctrd_ring *ring, pylibctrd_ring_entry *buf, size_t max);
/* Refuses later submissions (PYLIBCTRD_CLOSED) and frees the queue; the ring
 * itself is freed by pylibctrd_ring_free. */
void pylibctrd_ring_close(pylibctrd_ring *ring);
void pylibctrd_ring_free(pylibctrd_ring *ring);
/* Appends one completion record (len PYLIBCTRD_NO_DATA: no data) for
 * pylibctrd_ring_take; returns how many were waiting before (0: wake the
 * reader), or -1 when out of memory. */
long long pylibctrd_ring_put(pylibctrd_ring *ring, uint64_t call, uint64_t number, int64_t status,
                             const char *data, uint64_t len);
#endif
