"""The compatibility matrix (`make test-matrix`): the integration, differential
and runtime conformance suites for every combination of {flavours built} x
{containerd servers} x {runc, crun}, one pytest run per suite and
combination, each under the shared suite lock (taken per suite, so others
can test in between) and each in its own temp dir, cleaned up after it,
pass or fail: daemons, shims, container processes, mounts, state dirs.

Results go to build/matrix/results/*.json (one per suite and combination,
kept across runs: a long matrix can be run in parts) and the table in
COMPATIBILITY.md between its markers is rewritten from all of them.

    python matrix/run.py --flavours v26 v28 --servers debian=/usr/bin/containerd \\
        1.7.35=build/containerd/1.7.35/bin/containerd --runtimes runc crun \\
        --suites differential conformance integration
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
RESULTS = ROOT / "build" / "matrix" / "results"
LOCK = "/tmp/pylibctrd-suite.lock"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
#: What each suite runs (paths under tests/integration; `integration` is
#: everything but the other two, or MATRIX_INTEGRATION's files).
SUITES = {
    "differential": ["tests/integration/test_differential.py"],
    "conformance": ["tests/integration/test_runtime_conformance.py"],
}
#: The runtime shim's state root (runc and crun alike), per namespace.
RUNTIME_ROOT = Path("/run/containerd/runc")


def lock_held_by_ancestor(path: str) -> bool:
    """Whether a process this one runs under holds the flock on path (the
    matrix started as `flock LOCK matrix/run.py ...`): taking it again per
    suite would wait for ever on that holder."""
    try:
        inode = os.stat(path).st_ino
        locks = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    holders = set()
    for line in locks:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(fields[4]))
    pid = os.getppid()
    while pid > 1:
        if pid in holders:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    return False


@dataclass
class Result:
    flavour: str
    moby: str
    server: str
    server_version: str
    runtime: str
    suite: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    status: str = "ran"  # ran, timeout, not built, crashed
    note: str = ""
    failures: list[str] | None = None
    when: str = ""

    @property
    def key(self) -> str:
        return f"{self.flavour}-{self.server}-{self.runtime}-{self.suite}"


def sh(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def built_moby(flavour: str) -> str:
    """The Moby version of that flavour's library in .venv ("" if it does not
    load). Flavours are built side by side; PYLIBCTRD_FLAVOUR picks one."""
    r = sh([str(PY), "-c", "import pylibctrd; print(pylibctrd.versions().moby)"], timeout=120,
           env={**os.environ, "PYLIBCTRD_FLAVOUR": flavour})
    return r.stdout.strip() if r.returncode == 0 else ""


def build_flavour(flavour: str) -> tuple[bool, str, str]:
    """`make build wheel FLAVOUR=f` (the integration suite's wheel test installs
    that flavour from the wheel), then check the library is that flavour's."""
    r = sh(["make", "-C", str(ROOT), "build", "wheel", f"FLAVOUR={flavour}"], timeout=3600)
    moby = built_moby(flavour)
    if r.returncode != 0:
        return False, moby, "make build FLAVOUR=%s failed: %s" % (
            flavour, (r.stderr or r.stdout).strip().splitlines()[-1:] or "")
    if not moby.startswith(flavour + "."):
        return False, moby, (f"not built: make build FLAVOUR={flavour} gives Moby {moby or '?'}"
                             f" (this tree has no {flavour} flavour)")
    return True, moby, ""


def server_version(binary: str) -> str:
    out = sh([binary, "--version"], timeout=60).stdout.split()
    return out[2] if len(out) > 2 else "?"


# Cleanup: everything whose command line names the suite's own temp dir.

def pids_naming(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        if marker in cmdline_of(int(proc.name)):
            found.append(int(proc.name))
    return found


def cmdline_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(proc.name))
    return out


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cleanup(tmp: Path, namespaces_prefix: str) -> list[str]:
    """Kill and remove what the suite left; returns what there was."""
    left: list[str] = []
    marker = str(tmp)
    for _ in range(3):
        pids = pids_naming(marker)
        if not pids:
            break
        shims = [p for p in pids if "containerd-shim" in cmdline_of(p)]
        # What they were, for the row's note: a leftover is a test's bug to find.
        names = sorted({" ".join(cmdline_of(p).split()[:2])[:60] for p in pids})
        left.append(f"{len(pids)} processes ({len(shims)} shims): {'; '.join(names)}")
        # Their descendants first (a shim's: the container processes), deepest first.
        family: list[int] = []
        todo = list(pids)
        while todo:
            kids = children(todo.pop())
            family += kids
            todo += kids
        kill(family[::-1])
        kill(pids)
        time.sleep(1)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(marker)]
    for mnt in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    if mounts:
        left.append(f"{len(mounts)} mounts")
    for d in RUNTIME_ROOT.glob(namespaces_prefix + "*"):
        left.append(f"runtime state {d}")
        for ctr in d.iterdir():  # the killed containers' cgroups (empty now)
            for cg in Path("/sys/fs/cgroup").glob(f"*/{ctr.name}"):
                try:
                    cg.rmdir()
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return left


def counts(junit: Path) -> tuple[int, int, int, int, list[str]]:
    if not junit.exists():
        return 0, 0, 0, 0, []
    root = ET.parse(junit).getroot()
    passed = failed = skipped = errors = 0
    failures = []
    for case in root.iter("testcase"):
        name = f"{Path(case.get('file') or case.get('classname', '').replace('.', '/')).stem}::" \
               f"{case.get('name')}"
        if case.find("failure") is not None:
            failed += 1
            msg = (case.find("failure").get("message") or "")  # type: ignore[union-attr]
            failures.append(f"{name}: {msg.splitlines()[0][:300] if msg else ''}")
        elif case.find("error") is not None:
            errors += 1
            msg = (case.find("error").get("message") or "")  # type: ignore[union-attr]
            failures.append(f"{name} (error): {msg.splitlines()[0][:300] if msg else ''}")
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, errors, failures


def run_suite(args: argparse.Namespace) -> int:
    """One suite of one combination (run under the lock by `main`)."""
    tag = f"{args.flavour}-{args.server}-{args.runtime}-{args.suite}"
    # Short: containerd refuses unix socket paths over 104 bytes, and tests
    # put sockets deep under their tmp_path (a README example's embedded
    # daemon: <tmp_path>/run/containerd/containerd-debug.sock, 97 bytes under
    # `make test`'s /tmp/pytest-of-root/pytest-0). pytest's --basetemp puts
    # every tmp_path at <tmp>/p/, 14 bytes shorter than under `make test`;
    # TMPDIR (12 bytes) holds the rest and names the suite's processes.
    tmp = Path("/tmp/pm-" + hashlib.sha1(tag.encode()).hexdigest()[:4])
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    out_dir = RESULTS.parent / "runs" / tag
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    env = {**os.environ, "PYLIBCTRD_FLAVOUR": args.flavour, "TMPDIR": str(tmp),
           "PYLIBCTRD_TEST_CONTAINERD": args.binary, "PYLIBCTRD_TEST_RUNTIME": args.runtime,
           "CONFORMANCE_DUMP": str(out_dir / "diffs")}
    if args.runtime == "crun" and args.crun_oci_version:
        # Every suite's containers under crun (pylibctrd.testing.oci_version()):
        # Debian 12's crun 1.8.1 refuses Moby v26's 1.2.0 specs.
        env["PYLIBCTRD_TEST_OCI_VERSION"] = args.crun_oci_version
    paths = SUITES.get(args.suite) or args.integration
    cmd = [str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           f"--junitxml={out_dir / 'junit.xml'}", f"--basetemp={tmp / 'p'}", *paths]
    if args.suite == "integration" and not args.integration_files:
        cmd += [f"--ignore={p}" for v in SUITES.values() for p in v]
    # The suites' Ctrl-C tests need SIGINT's default disposition: a matrix
    # started in the background (`&`, nohup) hands it on ignored, and Python
    # then installs no KeyboardInterrupt handler in any child (test_interrupt,
    # test_registry's pull: every case failed, one hung for good).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    started = time.monotonic()
    status = "ran"
    with open(out_dir / "pytest.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(args.timeout)
        except subprocess.TimeoutExpired:
            status = "timeout"
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    seconds = time.monotonic() - started
    left = cleanup(tmp, f"pylibctrd-test-{proc.pid}")
    passed, failed, skipped, errors, failures = counts(out_dir / "junit.xml")
    if status == "ran" and passed + failed + skipped + errors == 0:
        status = "crashed"
    shown = "runc vs crun" if args.suite == "conformance" else args.runtime
    result = Result(args.flavour, args.moby, args.server, server_version(args.binary),
                    shown, args.suite, passed, failed, skipped, errors, round(seconds),
                    status, ("left behind and removed: " + ", ".join(left)) if left else "",
                    failures, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / result_file(result)).write_text(json.dumps(asdict(result), indent=1))
    print(f"matrix: {tag}: {status}, {passed} passed, {failed} failed, {skipped} skipped,"
          f" {errors} errors in {seconds:.0f}s" + (f"; {result.note}" if left else ""), flush=True)
    return 0


def result_file(r: Result) -> str:
    """A result's file name in RESULTS (what run_suite and main write)."""
    if r.status == "not built":
        return f"{r.flavour}-not-built.json"
    runtime = "both" if r.suite == "conformance" else r.runtime
    return f"{r.flavour}-{r.server}-{runtime}-{r.suite}.json"


def table_rows(text: str) -> list[Result]:
    """The rows of COMPATIBILITY.md's table (the inverse of `table`)."""
    block = text.partition(BEGIN)[2].partition(END)[0]
    rows: list[Result] = []
    failures: dict[str, list[str]] = {}
    key = ""
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        named = [re.fullmatch(r"(.*) \((.*)\)", c) for c in cells[:2]]
        if len(cells) == 11 and named[0] and named[1] and cells[4].isdigit():
            status, _, note = cells[9].partition(" — ")
            passed, failed, skipped, errors = (int(c) for c in cells[4:8])
            rows.append(Result(named[0][1], "" if named[0][2] == "-" else named[0][2],
                               named[1][1], named[1][2], cells[2], cells[3], passed, failed,
                               skipped, errors, float(cells[8].rstrip("s")), status, note,
                               None, cells[10]))
        elif m := re.fullmatch(r"- \*\*(.+)\*\*:", line):
            key = m[1]
        elif key and (m := re.fullmatch(r"  - `([^`]*)`(.*)", line)):
            failures.setdefault(key, []).append(m[1] + m[2])
    for r in rows:
        r.failures = failures.get(r.key)
    return rows


def adopt_table_rows() -> int:
    """Write a result file for each row of COMPATIBILITY.md's table that has
    none (build/ is not in git: a fresh checkout or another worktree has the
    table but not the files, and rewriting the table from the files alone
    would drop every row run elsewhere)."""
    path = ROOT / "COMPATIBILITY.md"
    if not path.exists():
        return 0
    adopted = 0
    for r in table_rows(path.read_text()):
        f = RESULTS / result_file(r)
        if not f.exists():
            RESULTS.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(asdict(r), indent=1))
            adopted += 1
    if adopted:
        print(f"matrix: {adopted} rows of COMPATIBILITY.md had no file in {RESULTS}: kept",
              flush=True)
    return adopted


def load_results() -> list[Result]:
    out = []
    for f in sorted(RESULTS.glob("*.json")):
        out.append(Result(**json.loads(f.read_text())))
    return out


SERVER_ORDER = {"debian": 0}


def table(results: list[Result]) -> str:
    def order(r: Result) -> tuple[Any, ...]:
        return (r.flavour, SERVER_ORDER.get(r.server, 1), r.server, r.runtime, r.suite)
    lines = ["| flavour (Moby) | containerd | runtime | suite | passed | failed | skipped |"
             " errors | time | status | run |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in sorted(results, key=order):
        lines.append(f"| {r.flavour} ({r.moby or '-'}) | {r.server} ({r.server_version}) |"
                     f" {r.runtime} | {r.suite} | {r.passed} | {r.failed} | {r.skipped} |"
                     f" {r.errors} | {r.seconds:.0f}s | {r.status}"
                     f"{' — ' + r.note if r.note else ''} | {r.when} |")
    fails = [r for r in sorted(results, key=order) if r.failures]
    if fails:
        lines += ["", "Failures and errors, per combination:", ""]
        for r in fails:
            lines.append(f"- **{r.key}**:")
            lines += [f"  - `{f.split(':', 1)[0]}`{':' + f.split(':', 1)[1] if ':' in f else ''}"
                      for f in (r.failures or [])]
    return "\n".join(lines)


def write_markdown(results: list[Result], not_built: dict[str, str]) -> None:
    path = ROOT / "COMPATIBILITY.md"
    text = path.read_text() if path.exists() else f"# Compatibility\n\n{BEGIN}\n{END}\n"
    body = table(results)
    if not_built:
        body += "\n\n" + "\n".join(f"- flavour **{f}**: {why}" for f, why in not_built.items())
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{body}\n{END}",
                 text, flags=re.S)
    path.write_text(new)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--flavours", nargs="+", default=["v26"])
    p.add_argument("--servers", nargs="+", default=["debian=/usr/bin/containerd"],
                   metavar="NAME=BINARY")
    p.add_argument("--runtimes", nargs="+", default=["runc", "crun"])
    p.add_argument("--suites", nargs="+", default=["differential", "conformance", "integration"])
    p.add_argument("--integration", nargs="*", default=None,
                   help="integration test files (default: all but the other suites')")
    p.add_argument("--timeout", type=float, default=1800, help="per suite (seconds)")
    p.add_argument("--crun-oci-version", default="1.1.0",
                   help="the spec version of every container the suites run under crun"
                        " (PYLIBCTRD_TEST_OCI_VERSION: Debian 12's crun 1.8.1 refuses Moby's"
                        " 1.2.0; '' for Moby's own)")
    p.add_argument("--write-only", action="store_true",
                   help="only rewrite COMPATIBILITY.md from build/matrix/results")
    # One suite (what main runs under the lock):
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--flavour", help=argparse.SUPPRESS)
    p.add_argument("--moby", default="", help=argparse.SUPPRESS)
    p.add_argument("--server", help=argparse.SUPPRESS)
    p.add_argument("--binary", help=argparse.SUPPRESS)
    p.add_argument("--runtime", help=argparse.SUPPRESS)
    p.add_argument("--suite", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.integration_files = bool(args.integration)
    if not args.integration:
        args.integration = ["tests/integration"]
    if args.one:
        return run_suite(args)
    adopt_table_rows()
    if args.write_only:
        write_markdown(load_results(), {})
        return 0
    servers = []
    for s in args.servers:
        name, _, binary = s.partition("=")
        binary = os.path.abspath(binary)
        if not os.access(binary, os.X_OK):
            print(f"matrix: server {name}: {binary} is missing (make containerd-matrix)",
                  file=sys.stderr)
            return 2
        servers.append((name, binary))
    not_built: dict[str, str] = {}
    for flavour in args.flavours:
        ok, moby, why = build_flavour(flavour)
        marker = RESULTS / f"{flavour}-not-built.json"
        if not ok:
            print(f"matrix: flavour {flavour}: {why}", flush=True)
            not_built[flavour] = why
            RESULTS.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(asdict(Result(
                flavour, moby, "-", "-", "-", "-", status="not built", note=why,
                when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))))
            continue
        marker.unlink(missing_ok=True)
        for name, binary in servers:
            for runtime in args.runtimes:
                for suite in args.suites:
                    if suite == "conformance" and runtime != args.runtimes[0]:
                        continue  # it runs both runtimes itself: once per server
                    one = [sys.executable, __file__, "--one", "--flavour", flavour, "--moby", moby,
                           "--server", name, "--binary", binary, "--runtime", runtime,
                           "--suite", suite, "--timeout", str(args.timeout)]
                    if args.integration_files:
                        one += ["--integration", *args.integration]
                    one += ["--crun-oci-version", args.crun_oci_version]
                    label = "both" if suite == "conformance" else runtime
                    print(f"matrix: {flavour} x containerd {name} x {label}: {suite}"
                          f" (waiting for {LOCK})", flush=True)
                    held = lock_held_by_ancestor(LOCK)
                    subprocess.run(one if held else ["flock", LOCK, *one], cwd=ROOT)
                    write_markdown(load_results(), not_built)
    write_markdown(load_results(), not_built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
