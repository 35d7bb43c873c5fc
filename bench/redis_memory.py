"""Measure Redis memory per secret: store N secrets through RedisStorage, read INFO memory.

Starts its own memory-only redis-server on a free loopback port in a temporary
directory (never the machine's Redis), stores N secrets of each ciphertext size,
reads ``used_memory`` before and after, then takes every secret once and measures
what the receipts alone keep. Prints a Markdown table for docs/scaling.md.

    .venv/bin/python bench/redis_memory.py [--count 20000] [--sizes 1024,10240]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

from mayfly.storage.base import NewRecord
from mayfly.storage.redis import RedisStorage

MILLION = 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("redis-server did not start")


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def record(size: int, now: float) -> NewRecord:
    return NewRecord(
        id=os.urandom(18).hex()[:24], ciphertext=os.urandom(size), link_hash=os.urandom(32),
        access_hash=os.urandom(32), kdf=None, manage_hash=os.urandom(32), created_at=now,
        expires_at=now + 86_400, keep_until=now + 8 * 86_400, max_views=1)


def measure(port: int, size: int, count: int) -> tuple[float, float]:
    """Bytes per stored secret, and per receipt left after reading."""
    client = redis.Redis(port=port)
    client.flushall()
    storage = RedisStorage(f"redis://127.0.0.1:{port}/0")
    now = time.time()
    base = used_memory(client)
    records = [record(size, now) for _ in range(count)]
    for item in records:
        storage.create(item)
    stored = used_memory(client)
    for item in records:
        storage.take(item.id, now)
    receipts = used_memory(client)
    storage.close()
    return (stored - base) / count, (receipts - base) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--sizes", default="1024,10240")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_redis(workdir)
        try:
            version = redis.Redis(port=port).info("server")["redis_version"]
            print(f"redis-server {version}, {args.count} secrets per size, used_memory deltas\n")
            print("| ciphertext | per secret stored | per million | per receipt after read |"
                  " per million receipts |")
            print("|---|---|---|---|---|")
            for size in map(int, args.sizes.split(",")):
                per_secret, per_receipt = measure(port, size, args.count)
                print(f"| {size} B | {per_secret:,.0f} B | {per_secret * MILLION / 2**30:.2f} GiB"
                      f" | {per_receipt:,.0f} B | {per_receipt * MILLION / 2**30:.2f} GiB |")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
