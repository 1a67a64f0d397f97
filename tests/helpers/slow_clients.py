"""Clients that send part of a request and wait (tests/app/test_gunicorn.py, and
benchmarks/bench_slow_clients.py)."""

from __future__ import annotations

import socket


def slow_client(port: int, number: int) -> socket.socket:
    """A loopback connection that sent part of a request: an odd `number` the headers and one
    byte of a 1,000-byte body, an even one only the start of its headers."""
    connection = socket.create_connection(("127.0.0.1", port))
    if number % 2:
        connection.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na"
        )
    else:
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n")
    return connection
