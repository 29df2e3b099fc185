"""Restart policies (`docker run --restart`) with Moby's own parts, in Go:
the docker CLI's `opts.ParseRestartPolicy` and the API's
`ValidateRestartPolicy` for the text and its rules (their messages, as
`errors.InvalidParameter`), and Moby's `restartmanager` for the decision
after each exit and the backoff between restarts (100 ms, doubled up to a
minute, back to 100 ms after 10 s of running). The monitor of a detached
container (`pylibctrd.monitor`) runs one manager per container, as dockerd's
`handleContainerExit` does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from . import _args, _ffi
from ._ffi import call, lib


@dataclass(frozen=True)
class RestartPolicy:
    """docker's HostConfig.RestartPolicy: `name` "no", "always",
    "on-failure" or "unless-stopped"; `maximum_retry_count` for on-failure
    (0: no limit)."""

    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """`--restart`'s value ("" is "no"), checked as docker checks it."""
        _, data = call(lib().pylibctrd_restart_policy_parse, _args.text(text, "restart policy"))
        return cls.from_api(json.loads(data or b"{}"))

    @classmethod
    def from_api(cls, record: dict[str, object]) -> RestartPolicy:
        count = record.get("MaximumRetryCount") or 0
        return cls(str(record.get("Name") or "no"), int(count) if isinstance(count, int) else 0)

    def to_api(self) -> dict[str, object]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}

    def __str__(self) -> str:
        return (f"{self.name}:{self.maximum_retry_count}" if self.maximum_retry_count
                else self.name)


class RestartManager(_ffi.Owned):
    """Moby's `restartmanager.RestartManager` for one container: ask
    `should_restart` after each exit; when it says yes, `wait` out the
    backoff, then start the container again. `cancel()` (a removal, a stop)
    ends any waiting restart and every later one."""

    def __init__(self, policy: RestartPolicy, restart_count: int = 0) -> None:
        data = json.dumps(policy.to_api()).encode()
        handle, _ = call(lib().pylibctrd_restart_manager_new, data, len(data), int(restart_count))
        super().__init__(handle)

    def should_restart(self, exit_code: int, manually_stopped: bool, ran: float) -> bool:
        """Moby's decision after an exit with `exit_code`, the task having
        run `ran` seconds; `errors.Canceled` once canceled."""
        restart, _ = call(lib().pylibctrd_restart_manager_should_restart, self._handle,
                          exit_code & 0xFFFFFFFF, int(manually_stopped),
                          max(0, int(ran * 1e9)))
        return bool(restart)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait out the backoff of the restart `should_restart` granted: True
        when it is time, False if `timeout` passed first (ask again);
        `errors.Canceled` if the manager was canceled meanwhile."""
        ms = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
        due, _ = call(lib().pylibctrd_restart_manager_wait, self._handle, ms)
        return bool(due)

    def cancel(self) -> None:
        call(lib().pylibctrd_restart_manager_cancel, self._handle)
