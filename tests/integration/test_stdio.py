"""Stdio FIFOs, TTYs and exec, as dockerd uses them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import pylibctrd
from pylibctrd import EventType, errors, stdio
from pylibctrd.testing import Env, MakeContainer


def test_stdin_write_then_close_gives_eof(make_container: MakeContainer,
                                          recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["cat"])
    cap = stdio.Capture()
    task = ctr.new_task(with_stdin=True, attach_stdio=cap)
    task.start()
    assert cap.stdin is not None
    cap.stdin.write(b"first line\nsecond")
    cap.stdin.close()  # Moby's stdin closer: CloseIO -> cat sees EOF
    info = recorder.wait_for(ctr.id, EventType.EXIT, timeout=20)
    assert info.exit_code == 0
    assert cap.wait(10)
    assert cap.stdout == b"first line\nsecond"
    task.delete()
    ctr.delete()


def test_fifos_follow_stdin_and_tty(env: Env, make_container: MakeContainer) -> None:
    plain = make_container(["true"])
    t1 = plain.new_task(attach_stdio=stdio.Capture())
    files = sorted(p.name for p in (env.bundles / plain.id).iterdir())
    assert f"{plain.id}-stdout" in files and f"{plain.id}-stderr" in files
    assert f"{plain.id}-stdin" not in files
    t1.force_delete()

    tty = make_container(["true"], terminal=True)
    t2 = tty.new_task(with_stdin=True, attach_stdio=stdio.Capture())
    files = sorted(p.name for p in (env.bundles / tty.id).iterdir())
    assert f"{tty.id}-stdin" in files and f"{tty.id}-stdout" in files
    assert f"{tty.id}-stderr" not in files
    t2.force_delete()
    plain.delete()
    tty.delete()


def test_tty_resize_before_start_shows_in_stty(make_container: MakeContainer,
                                               recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["stty", "size"], terminal=True)
    cap = stdio.Capture()
    task = ctr.new_task(attach_stdio=cap)
    assert cap.stdin is None
    task.resize(123, 45)
    task.start()
    recorder.wait_for(ctr.id, EventType.EXIT)
    assert cap.wait(10)
    assert cap.stdout.strip() == b"45 123"
    assert cap.stderr == b""
    task.delete()
    ctr.delete()


def test_large_tty_output_arrives_whole(make_container: MakeContainer,
                                        recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["seq", "1", "1000000"], terminal=True)
    cap = stdio.Capture()
    task = ctr.new_task(attach_stdio=cap)
    task.start()
    assert recorder.wait_for(ctr.id, EventType.EXIT, timeout=60).exit_code == 0
    assert cap.wait(30)
    expected = "".join(f"{i}\r\n" for i in range(1, 1000001)).encode()
    assert len(cap.stdout) == len(expected)
    assert cap.stdout == expected
    task.delete()
    ctr.delete()


def test_exec_exit_code_and_process_id(make_container: MakeContainer,
                                       recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["sh", "-c", "echo in-exec; exit 5"])
    cap = stdio.Capture()
    proc = task.exec("exec-1", spec, attach_stdio=cap)
    assert proc.pid > 0 and proc.pid != task.pid
    info = recorder.wait_for(ctr.id, EventType.EXIT, process_id="exec-1")
    assert info.exit_code == 5 and info.pid == proc.pid
    assert cap.wait(10) and cap.stdout == b"in-exec\n"
    assert proc.delete().exit_code == 5
    task.force_delete()
    ctr.delete()


def test_exec_with_20000_character_argument(make_container: MakeContainer,
                                            recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    arg = "x" * 20000
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["echo", arg])
    cap = stdio.Capture()
    proc = task.exec("long-arg", spec, attach_stdio=cap)
    recorder.wait_for(ctr.id, EventType.EXIT, process_id="long-arg")
    assert cap.wait(10)
    assert cap.stdout == arg.encode() + b"\n"
    proc.delete()
    task.force_delete()
    ctr.delete()


def test_exec_stdin_and_kill(make_container: MakeContainer, recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["cat"])
    cap = stdio.Capture()
    proc = task.exec("cat-1", spec, with_stdin=True, attach_stdio=cap)
    assert cap.stdin is not None
    cap.stdin.write(b"via exec stdin")
    cap.stdin.close()
    assert recorder.wait_for(ctr.id, EventType.EXIT, process_id="cat-1").exit_code == 0
    assert cap.wait(10) and cap.stdout == b"via exec stdin"
    proc.delete()

    sleeper = task.exec("sleep-1", pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["sleep", "60"]))
    sleeper.kill(15)
    assert recorder.wait_for(ctr.id, EventType.EXIT, process_id="sleep-1").exit_code == 143
    sleeper.delete()
    task.force_delete()
    ctr.delete()


def test_exec_id_in_use(make_container: MakeContainer) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["sleep", "60"])
    task.exec("dup", spec)
    with pytest.raises(errors.Conflict, match="id already in use"):
        task.exec("dup", spec)
    task.force_delete()
    ctr.delete()


def test_attach_callback_that_raises_fails_new_task_cleanly(make_container: MakeContainer) -> None:
    ctr = make_container(["true"])

    class Boom(Exception):
        pass

    def attach(dio: pylibctrd.DirectIO) -> Any:
        raise Boom("attach failed")

    with pytest.raises(Boom, match="attach failed"):
        ctr.new_task(attach_stdio=attach)
    with pytest.raises(errors.NotFound):
        ctr.task()
    ctr.delete()


def test_second_client_reattaches_to_running_cat(env: Env, make_container: MakeContainer) -> None:
    ctr = make_container(["cat"])
    kept: list[pylibctrd.DirectIO] = []  # held, never read: the second client reads

    def keep(dio: pylibctrd.DirectIO) -> pylibctrd.DirectIO:
        kept.append(dio)
        return dio

    task = ctr.new_task(with_stdin=True, attach_stdio=keep)
    task.start()

    with env.connect() as second:
        loaded = second.load_container(ctr.id)
        got = threading.Event()
        received = bytearray()
        dios: list[pylibctrd.DirectIO] = []

        def attach(dio: pylibctrd.DirectIO) -> pylibctrd.DirectIO:
            dios.append(dio)
            return dio

        attached = loaded.attach_task(attach)
        assert attached.pid == task.pid
        dio = dios[0]
        assert dio.stdin is not None and dio.stdout is not None

        def read() -> None:
            assert dio.stdout is not None
            while b"\n" not in received and (chunk := dio.stdout.read1(100)):  # type: ignore[attr-defined]
                received.extend(chunk)
            got.set()

        threading.Thread(target=read, daemon=True).start()
        dio.stdin.write(b"ping\n")
        assert got.wait(10)
        assert bytes(received) == b"ping\n"
        attached.force_delete()
    ctr.delete()


def test_exec_tty_resize(make_container: MakeContainer, recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]),
                                  ["sh", "-c", "sleep 1; stty size"], terminal=True)
    cap = stdio.Capture()
    proc = task.exec("tty-exec", spec, attach_stdio=cap)
    proc.resize(77, 22)
    assert recorder.wait_for(ctr.id, EventType.EXIT, process_id="tty-exec").exit_code == 0
    assert cap.wait(10)
    assert cap.stdout.strip() == b"22 77"
    proc.delete()
    task.force_delete()
    ctr.delete()


def test_passthrough_copies_stdin_in_and_output_out(make_container: MakeContainer,
                                                    recorder: pylibctrd.Recorder) -> None:
    import io

    ctr = make_container(["sh", "-c", "cat; echo done >&2"])
    out, err = io.BytesIO(), io.BytesIO()
    through = stdio.PassThrough(stdout=out, stderr=err, stdin=io.BytesIO(b"fed from a file\n"))
    task = ctr.new_task(with_stdin=True, attach_stdio=through)
    task.start()
    assert recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 0
    assert through.wait(10)
    assert out.getvalue() == b"fed from a file\n"
    assert err.getvalue() == b"done\n"
    task.delete()
    ctr.delete()


def test_passthrough_with_stdin_for_a_process_without_one_says_what_to_do(
        make_container: MakeContainer) -> None:
    import io

    ctr = make_container(["true"])
    through = stdio.PassThrough(stdout=io.BytesIO(), stderr=io.BytesIO(), stdin=io.BytesIO(b"x"))
    with pytest.raises(errors.InvalidParameter, match="with_stdin=True"):
        ctr.new_task(attach_stdio=through)
    with pytest.raises(errors.NotFound):
        ctr.task()
    ctr.delete()


def test_closed_stdin_raises_valueerror_like_a_python_file(make_container: MakeContainer,
                                                           recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["cat"])
    cap = stdio.Capture()
    task = ctr.new_task(with_stdin=True, attach_stdio=cap)
    assert cap.stdin is not None
    cap.stdin.close()
    with pytest.raises(ValueError, match="closed file"):
        cap.stdin.write(b"late")
    task.start()
    assert recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 0
    task.delete()
    ctr.delete()


def test_capture_reads_in_go_without_python_threads(make_container: MakeContainer,
                                                    recorder: pylibctrd.Recorder) -> None:
    """Capture hands the FIFOs to Go: exec starts no Python thread, and large
    output on both streams arrives whole."""
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]),
                                  ["sh", "-c", "yes abc | head -c 300000; echo err >&2"])
    threads = {t.ident for t in threading.enumerate()}
    cap = stdio.Capture()
    proc = task.exec("big", spec, attach_stdio=cap)
    assert {t.ident for t in threading.enumerate()} == threads
    recorder.wait_for(ctr.id, EventType.EXIT, process_id="big")
    assert cap.wait(10)
    assert cap.stdout == b"abc\n" * 75000 and cap.stderr == b"err\n"
    assert cap.wait(0)  # ended stays ended
    proc.delete()
    task.force_delete()
    ctr.delete()
