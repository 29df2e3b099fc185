"""Restart policies through Moby's own code (no daemon): docker's --restart
syntax and rules with their messages, and restartmanager's decisions."""

from __future__ import annotations

import time

import pytest

from pylibctrd import errors
from pylibctrd.restart import RestartManager, RestartPolicy


@pytest.mark.parametrize("text, message", [
    ("sometimes", "invalid restart policy: unknown policy 'sometimes'; use one of 'no',"
                  " 'always', 'on-failure', or 'unless-stopped'"),
    ("always:3", "invalid restart policy: maximum retry count can only be used with"
                 " 'on-failure'"),
    ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
    (":1", "invalid restart policy format: no policy provided before colon"),
])
def test_bad_policies_get_dockers_messages(text: str, message: str) -> None:
    with pytest.raises(errors.InvalidParameter) as e:
        RestartPolicy.parse(text)
    assert str(e.value) == message


def test_policies_parse_as_docker_reads_them() -> None:
    assert RestartPolicy.parse("") == RestartPolicy("no")
    assert RestartPolicy.parse("on-failure:3") == RestartPolicy("on-failure", 3)
    assert str(RestartPolicy.parse("on-failure:3")) == "on-failure:3"
    assert RestartPolicy.parse("unless-stopped").to_api() == {
        "Name": "unless-stopped", "MaximumRetryCount": 0}


def test_the_manager_decides_and_backs_off_as_mobys() -> None:
    m = RestartManager(RestartPolicy("on-failure", 1))
    assert not m.should_restart(0, False, 1.0)  # success is no failure
    start = time.monotonic()
    assert m.should_restart(1, False, 1.0)
    assert m.wait(None)
    assert time.monotonic() - start >= 0.1  # Moby's first backoff
    assert not m.should_restart(1, False, 1.0)  # the one retry is spent
    stopped = RestartManager(RestartPolicy("unless-stopped"))
    assert not stopped.should_restart(0, True, 1.0)  # stopped by hand
    always = RestartManager(RestartPolicy("always"))
    assert always.should_restart(0, True, 1.0)
    always.cancel()
    with pytest.raises(errors.Canceled):
        always.wait(5)
    with pytest.raises(errors.Canceled):
        always.should_restart(0, False, 1.0)
