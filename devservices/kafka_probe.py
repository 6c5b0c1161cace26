"""A minimal Kafka wire-protocol probe: is a broker really answering?"""

from __future__ import annotations

import socket
import struct


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf.extend(chunk)
    return bytes(buf)


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    """One request with a v1 (non-flexible) header; returns the response after correlation."""
    client_id = b"laporflow-services"
    msg = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    payload = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", payload)
    if got != corr:
        raise ConnectionError(f"correlation id {got} != {corr}")
    return payload[4:]


def kafka_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True if a broker answers ApiVersions and lists itself in a Metadata response."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            body = _kafka_call(sock, 18, 0, 1, b"")  # ApiVersions v0
            (error,) = struct.unpack_from(">h", body)
            if error != 0:
                return False
            (count,) = struct.unpack_from(">i", body, 2)
            ranges = {
                key: (lo, hi)
                for key, lo, hi in (
                    struct.unpack_from(">hhh", body, 6 + 6 * i) for i in range(count)
                )
            }
            if 3 not in ranges:
                return False
            version = max(ranges[3][0], 1)
            if version > min(ranges[3][1], 8):
                return True  # only flexible Metadata versions: ApiVersions has to do
            req = struct.pack(">i", -1)  # all topics
            if version >= 4:
                req += b"\x00"  # allow_auto_topic_creation
            if version >= 8:
                req += b"\x00\x00"  # include cluster/topic authorized operations
            meta = _kafka_call(sock, 3, version, 2, req)
            offset = 4 if version >= 3 else 0  # throttle_time_ms
            brokers: int = struct.unpack_from(">i", meta, offset)[0]
            return brokers > 0
    except (OSError, struct.error, ConnectionError):
        return False
