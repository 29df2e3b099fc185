"""What runc and crun do differently with the differential scenarios: one
table for the conformance kit and the differential suite (COMPATIBILITY.md,
"runc and crun")."""

from __future__ import annotations

#: The runtimes a scenario step may carry a `per_runtime` patch for
#: (test_differential.with_runtime); runc is the base the scenarios were
#: written for.
RUNTIMES = ("runc", "crun")

#: Scenarios whose trace differs between runc 1.1.5 and crun 1.8.1 (Debian
#: 12), with the reason, from real runs (COMPATIBILITY.md, "runc and crun").
#: Error messages are the runtime's own, passed through by the shim and
#: libcontainerd; "X did not terminate successfully" names the BinaryName.
RUNTIME_DIFFERENCES: dict[str, str] = {
    "checkpoint-error": "crun 1.8.1 is built without CRIU: `unknown command checkpoint`"
                        " where runc reports criu's own failure",
    "exec-empty-args": "runc refuses an exec with empty args by name (`args must not be"
                       " empty`); crun exits 255 without a message",
    "exec-id-reuse-after-failed-start": "a missing exec binary: runc's `stat ...: no such file"
                                        " or directory` (class Unknown), crun's `executable file"
                                        " ... not found in $PATH` (class NotFound)",
    "exec-missing-cwd": "the runtimes word a missing cwd differently",
    "exec-spec-fields": "an empty exec cwd: runc refuses it (`Cwd property must not be empty`),"
                        " crun fails chdir(\"\"); and with no env, crun sets PATH, runc leaves it"
                        " unset",
    "kill-invalid-signal": "the runtimes word an invalid signal differently (runc: `unable to"
                           " signal init: invalid argument`; crun: `send signal to pidfd` /"
                           " `unknown signal`)",
    "kill-paused": "SIGKILL to a frozen task: runc thaws it after the signal and it exits;"
                   " crun 1.8.1 leaves it paused (no exit event, delete refused)",
    "missing-binary": "a missing init binary: the runtimes' words and classes differ as for"
                      " exec-id-reuse-after-failed-start",
    "new-task-empty-args": "empty args: runc refuses at create; crun creates the task (and"
                           " would fail at start)",
    "spec-rlimits-invalid": "an unknown rlimit: `wrong rlimit value` (runc) vs `invalid rlimit`"
                            " (crun)",
    "update-invalid-cpu": "an invalid CPU quota: each runtime names the cgroup file it failed"
                          " to write (cfs_quota_us vs cfs_period_us)",
    "update-memory-below-usage": "a memory limit below usage: runc explains it (`unable to set"
                                 " memory limit ... current usage`), crun passes the kernel's"
                                 " EBUSY",
}
