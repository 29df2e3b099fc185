#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"

struct pylibctrd_ring {
    pthread_mutex_t mu;
    int fd;
    int sleeping; /* the dispatcher waits for a write to fd */
    int closed;
    size_t head, count, cap;
    pylibctrd_ring_entry *entries; /* circular, grown by doubling */
    /* Completions waiting for pylibctrd_ring_take, packed as
     * pylibctrd_port_take packs them; grown by doubling. */
    char *done;
    size_t done_len, done_cap, done_count;
};

pylibctrd_ring *pylibctrd_ring_new(int fd) {
    pylibctrd_ring *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->cap = 64;
    r->entries = calloc(r->cap, sizeof *r->entries);
    if (r->entries == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->fd = fd;
    return r;
}

static int grow(pylibctrd_ring *r) {
    size_t cap = r->cap * 2;
    pylibctrd_ring_entry *e = malloc(cap * sizeof *e);
    if (e == NULL) return 0;
    size_t first = r->cap - r->head; /* entries from head to the end */
    if (first > r->count) first = r->count;
    memcpy(e, r->entries + r->head, first * sizeof *e);
    memcpy(e + first, r->entries, (r->count - first) * sizeof *e);
    free(r->entries);
    r->entries = e;
    r->head = 0;
    r->cap = cap;
    return 1;
}

int pylibctrd_ring_submit(pylibctrd_ring *r, uint64_t call, uint32_t index, uint64_t arg) {
    if (r == NULL) return PYLIBCTRD_INVALID_PARAMETER;
    pthread_mutex_lock(&r->mu);
    if (r->closed) {
        pthread_mutex_unlock(&r->mu);
        return PYLIBCTRD_CLOSED;
    }
    if (r->count == r->cap && !grow(r)) {
        pthread_mutex_unlock(&r->mu);
        return PYLIBCTRD_SYSTEM;
    }
    pylibctrd_ring_entry *e = &r->entries[(r->head + r->count) % r->cap];
    e->call = call;
    e->arg = arg;
    e->index = index;
    r->count++;
    pthread_mutex_unlock(&r->mu);
    return PYLIBCTRD_OK;
}

int pylibctrd_ring_kick(pylibctrd_ring *r) {
    if (r == NULL) return PYLIBCTRD_INVALID_PARAMETER;
    pthread_mutex_lock(&r->mu);
    if (r->closed) {
        pthread_mutex_unlock(&r->mu);
        return PYLIBCTRD_CLOSED;
    }
    int wake = r->sleeping && r->count > 0;
    if (wake) r->sleeping = 0;
    /* Written under the lock: close cannot close fd (and its number be
     * reused) in between. */
    if (wake) {
        uint64_t one = 1;
        (void)write(r->fd, &one, sizeof one); /* non-blocking; a full counter already wakes */
    }
    pthread_mutex_unlock(&r->mu);
    return PYLIBCTRD_OK;
}

size_t pylibctrd_ring_pop(pylibctrd_ring *r, pylibctrd_ring_entry *buf, size_t max) {
    pthread_mutex_lock(&r->mu);
    size_t n = r->count < max ? r->count : max;
    for (size_t i = 0; i < n; i++) {
        buf[i] = r->entries[r->head];
        r->head = (r->head + 1) % r->cap;
    }
    r->count -= n;
    if (n == 0 && !r->closed) r->sleeping = 1;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void pylibctrd_ring_close(pylibctrd_ring *r) {
    pthread_mutex_lock(&r->mu);
    r->closed = 1;
    r->sleeping = 0;
    r->count = 0;
    pthread_mutex_unlock(&r->mu);
}

long long pylibctrd_ring_put(pylibctrd_ring *r, uint64_t call, uint64_t number, int64_t status,
                             const char *data, uint64_t len) {
    size_t size = len == PYLIBCTRD_NO_DATA ? 0 : (size_t)len;
    size_t need = 32 + ((size + 7) & ~(size_t)7);
    pthread_mutex_lock(&r->mu);
    if (r->done_len + need > r->done_cap) {
        size_t cap = r->done_cap ? r->done_cap : 4096;
        while (cap < r->done_len + need) cap *= 2;
        char *grown = realloc(r->done, cap);
        if (grown == NULL) {
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
        r->done = grown;
        r->done_cap = cap;
    }
    char *rec = r->done + r->done_len;
    uint64_t head[4] = {call, number, (uint64_t)status, len};
    memcpy(rec, head, sizeof head);
    if (size) memcpy(rec + 32, data, size);
    memset(rec + 32 + size, 0, need - 32 - size);
    r->done_len += need;
    long long before = (long long)r->done_count++;
    pthread_mutex_unlock(&r->mu);
    return before;
}

int pylibctrd_ring_take(pylibctrd_result *out, pylibctrd_ring *r) {
    if (out == NULL || r == NULL) return PYLIBCTRD_INVALID_PARAMETER;
    pthread_mutex_lock(&r->mu);
    out->number = r->done_count;
    out->data = r->done_count ? r->done : NULL;
    out->len = r->done_count ? r->done_len : 0;
    if (r->done_count == 0) free(r->done);
    r->done = NULL;
    r->done_len = r->done_cap = r->done_count = 0;
    pthread_mutex_unlock(&r->mu);
    return PYLIBCTRD_OK;
}

void pylibctrd_ring_free(pylibctrd_ring *r) {
    pthread_mutex_destroy(&r->mu);
    free(r->entries);
    free(r->done);
    free(r);
}
