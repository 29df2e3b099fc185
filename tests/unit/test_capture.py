"""stdio.Capture with files that are not pylibctrd's FIFOs (a DirectIO a
caller made): Python threads read them, as before the native capture."""

from __future__ import annotations

import io

from pylibctrd import DirectIO, stdio


def test_capture_of_plain_files_reads_them_in_threads() -> None:
    cap = stdio.Capture()
    dio = DirectIO(stdin=None, stdout=io.BytesIO(b"out" * 50000), stderr=io.BytesIO(b"err"))
    assert cap(dio) is dio
    assert cap.wait(10)
    assert cap.stdout == b"out" * 50000 and cap.stderr == b"err"
