#include "trampoline.h"

static pylibctrd_event_fn event_fn;
static pylibctrd_stdio_fn stdio_fn;
static pylibctrd_log_fn log_fn;

void pylibctrd_set_callbacks(pylibctrd_event_fn on_event, pylibctrd_stdio_fn on_stdio, pylibctrd_log_fn on_log) {
    event_fn = on_event;
    stdio_fn = on_stdio;
    log_fn = on_log;
}

int pylibctrd_call_event(uint64_t client, char *json, size_t len, char *err, size_t errlen) {
    return event_fn ? event_fn(client, json, len, err, errlen) : 0;
}

int pylibctrd_call_stdio(uint64_t token, uint64_t in, uint64_t out, uint64_t err_h, char *err, size_t errlen) {
    return stdio_fn ? stdio_fn(token, in, out, err_h, err, errlen) : 1;
}

void pylibctrd_call_log(int level, char *msg, size_t len) {
    if (log_fn) log_fn(level, msg, len);
}
