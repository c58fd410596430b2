"""Unit tests cannot reach the network: every socket connect fails with a message saying so.

Anything that talks over a socket (moto's server, the endpoint stand-in, AWS) belongs in
tests/integration; in-process fakes and botocore's Stubber need no connection.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkInUnitTest(RuntimeError):
    """A unit test tried to open a connection."""


def _refuse(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
    raise NetworkInUnitTest(
        f"unit tests may not connect anywhere (tried {address!r}); use a fake or botocore's Stubber, "
        "or move the test to tests/integration"
    )


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
