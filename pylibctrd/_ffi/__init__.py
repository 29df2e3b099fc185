"""The only code that touches the native module (`ffi`/`lib`).

- `native`: loading, the fork guard, `call` (every status checked, every Go
  allocation freed);
- `handles`: `Owned`, the one ownership idiom, and closing at exit;
- `callbacks`: what Go calls in Python (events, stdio attach, log lines);
- `op`: `Op`, one call and how to decode its answer, run now or in the background;
- `port`: the asyncio completion port.
"""

from .callbacks import (
    EventSink, StdioSink, in_event_callback, register_events, unregister_events,
)
from .handles import Owned, release
from .native import call, ffi, goroutines, lib, live_handles, loaded, set_log_level
from .op import (
    Op, call_with_stdio, json_result, no_result, number_result, op, stdio_op, text_result,
)
from .port import Port

__all__ = [
    "EventSink", "Op", "Owned", "Port", "StdioSink", "call", "call_with_stdio", "ffi",
    "goroutines", "in_event_callback", "json_result", "lib", "live_handles", "loaded",
    "no_result", "number_result", "op", "register_events", "release", "set_log_level",
    "stdio_op", "text_result", "unregister_events",
]
