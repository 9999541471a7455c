"""A private, throwaway Kafka broker for tests that stop and restart one.

The shared broker of scripts/services serves every test run on this machine;
restarting it would break them. This one uses the same jars (the jar cache of
scripts/services), its own ports and a temporary data directory, and starts in
a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.servers import free_port

SERVICES_DIR = Path(os.environ.get("TM_SERVICES_DIR", Path.home() / ".cache/trackmaster/services"))


def _kafka_libs() -> Path:
    found = sorted((SERVICES_DIR / "kafka-libs").glob("*/.complete"))
    if not found:
        raise RuntimeError(f"no Kafka jars in {SERVICES_DIR}/kafka-libs; run scripts/services up")
    return found[-1].parent


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateBroker:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.libs = _kafka_libs()
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                   "-c", str(self.dir / "server.properties"), wait=True)  # fmt: skip

    def _write_config(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "server.properties").write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.dir / 'data'}",
                    "num.partitions=2",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=2",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        (self.dir / "log4j2.properties").write_text(
            "status = warn\nrootLogger.level = WARN\nrootLogger.appenderRef.file.ref = file\n"
            "appender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {self.dir / 'server.log'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        )

    def _java(self, main: str, *args: str, wait: bool = False) -> subprocess.Popen[bytes]:
        command = [
            "java", "-Xms128m", "-Xmx384m",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip
        out = (self.dir / "java.out").open("ab")
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        if wait and process.wait(timeout=60) != 0:
            raise RuntimeError(f"{main} failed: {(self.dir / 'java.out').read_text()[-2000:]}")
        return process

    async def start(self, timeout_s: float = 60) -> None:
        self._process = self._java("kafka.Kafka", str(self.dir / "server.properties"))
        deadline = time.monotonic() + timeout_s
        while not _port_open(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private broker did not start: {self.output()}")
            await asyncio.sleep(0.1)

    async def stop(self, timeout_s: float = 30) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
            await asyncio.sleep(0.1)

    def output(self) -> str:
        return (self.dir / "java.out").read_text(errors="replace")[-3000:]
