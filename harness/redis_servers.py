"""Real Redis servers for tests and the benchmark: standalone and a 3-master cluster.

Each server runs in its own temporary directory on a free port; nothing here
touches a Redis the machine may already run. Missing binaries fail loudly.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from .processes import ProcessGroup, free_port, wait_for

START_TIMEOUT = 15.0


def binary(name: str) -> str:
    """A Redis program; a missing one is a failure, not a skip."""
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install redis-server"
                           " redis-tools)")
    return found


class RedisServer:
    """One redis-server process; ``restart`` keeps its port and directory (and so its AOF)."""

    def __init__(self, workdir: Path, appendonly: bool = False, cluster: bool = False):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.cluster = cluster
        self.port = free_port()
        self.bus_port = free_port() if cluster else None
        self.process: ProcessGroup | None = None
        self.log_path = workdir / "redis.log"

    def args(self) -> list[str]:
        args = [
            binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.workdir), "--save", "", "--daemonize", "no",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
            "--logfile", str(self.log_path), "--protected-mode", "no",
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-port", str(self.bus_port), "--cluster-node-timeout", "5000"]
        return args

    def client(self) -> redis.Redis:
        """A plain client to this one node (for flushing and inspecting)."""
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        self.process = ProcessGroup(self.args(), self.workdir / "redis.out", cwd=self.workdir,
                                    name="redis-server")
        with self.client() as client:
            def answers() -> bool:
                try:
                    return client.ping()
                except redis.RedisError:
                    return False  # LOADING (replaying the AOF) is an error reply: not yet

            try:
                wait_for("redis-server answering PING", answers, self.process, START_TIMEOUT)
            except RuntimeError as exc:
                self.stop()
                raise RuntimeError(f"{exc}\n{self.log_tail()}") from None
        return self

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class RedisClusterServers:
    """Three masters, no replicas, created with redis-cli --cluster create."""

    def __init__(self, workdir: Path, masters: int = 3):
        self.nodes = [RedisServer(workdir / f"node{i}", appendonly=True, cluster=True)
                      for i in range(masters)]

    def start(self) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.start()
            create = [binary("redis-cli"), "--cluster", "create",
                      *(f"127.0.0.1:{node.port}" for node in self.nodes),
                      "--cluster-replicas", "0", "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
            self.wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ok(self, deadline: float = 30.0) -> None:
        """Until every node says cluster_state:ok and knows every master."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if all(self._ok(node) for node in self.nodes):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the Redis cluster did not reach cluster_state:ok")

    def _ok(self, node: RedisServer) -> bool:
        with node.client() as client:
            info = client.execute_command("CLUSTER", "INFO")
        if isinstance(info, bytes):
            info = info.decode()
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        return (fields.get("cluster_state") == "ok"
                and fields.get("cluster_known_nodes") == str(len(self.nodes)))

    def flush(self) -> None:
        for node in self.nodes:
            node.flush()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
