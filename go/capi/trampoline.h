/* Calls through the function pointers Python installs (cgo cannot). */
#include "pylibctrd.h"

void pylibctrd_set_callbacks(pylibctrd_event_fn on_event, pylibctrd_stdio_fn on_stdio, pylibctrd_log_fn on_log);
int pylibctrd_call_event(uint64_t client, char *json, size_t len, char *err, size_t errlen);
int pylibctrd_call_stdio(uint64_t token, uint64_t in, uint64_t out, uint64_t err_h, char *err, size_t errlen);
void pylibctrd_call_log(int level, char *msg, size_t len);

/* Puts a SIGINT handler in front of the current one (Python's), which it
 * calls after writing a byte to fd, so that Go can cancel the main thread's
 * call while Python's own handler does what it always does. Does nothing when
 * SIGINT is ignored or has its default action. 1: the hook is in place. */
int pylibctrd_hook_sigint(int fd);
