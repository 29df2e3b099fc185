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

#include <errno.h>
#include <signal.h>
#include <unistd.h>

static struct sigaction chained_sigint;
static volatile int interrupt_fd = -1;

static void on_sigint(int sig, siginfo_t *info, void *uctx) {
    int saved = errno;
    if (interrupt_fd >= 0) {
        char b = 1;
        (void)write(interrupt_fd, &b, 1); /* non-blocking: a full pipe already says it */
    }
    errno = saved;
    if (chained_sigint.sa_flags & SA_SIGINFO) {
        if (chained_sigint.sa_sigaction) chained_sigint.sa_sigaction(sig, info, uctx);
    } else if (chained_sigint.sa_handler != SIG_DFL && chained_sigint.sa_handler != SIG_IGN) {
        chained_sigint.sa_handler(sig);
    }
}

int pylibctrd_hook_sigint(int fd) {
    struct sigaction cur, hook;
    if (sigaction(SIGINT, NULL, &cur) != 0) return 0;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigint) return 1;
    if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN)) return 0;
    /* Not installed at this point, so the handler cannot read these half-written. */
    chained_sigint = cur;
    interrupt_fd = fd;
    hook = cur;
    hook.sa_sigaction = on_sigint;
    /* Go requires SA_ONSTACK of handlers installed outside Go. */
    hook.sa_flags = (cur.sa_flags | SA_SIGINFO | SA_ONSTACK) & ~SA_RESETHAND;
    return sigaction(SIGINT, &hook, NULL) == 0;
}
