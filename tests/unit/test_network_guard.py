"""The guard of tests/unit/conftest.py fires: a unit test that opens a connection fails, saying why."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.unit.conftest import NetworkInUnitTest


def test_a_socket_connect_is_refused_with_a_clear_message():
    with pytest.raises(
        NetworkInUnitTest, match=r"unit tests may not connect anywhere \(tried \('127.0.0.1', 9\)\)"
    ):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_connect_ex_is_refused_too():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkInUnitTest):
        sock.connect_ex(("127.0.0.1", 9))


def test_an_http_client_cannot_get_through():
    with pytest.raises(NetworkInUnitTest, match="tests/integration"):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
