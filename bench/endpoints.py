"""The bench's endpoint server: one asyncio HTTP server process on 127.0.0.1.

    /ok/N    200 at once
    /fail/N  503 at once
    /slow/N  200 after SLOW_SECONDS
    /hang/N  accepts the connection and never answers (until the client gives up)

`python -m bench.endpoints` serves on a free port and prints the port on its first line;
`EndpointServer` starts and stops that process; `endpoint_mix` builds the endpoint list a
benchmark checks: most healthy, a few 5xx, a few slow, a few hanging.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Self

SLOW_SECONDS = 1.5
# Share of each unhealthy kind in a list of endpoints (at least one of each).
FAIL_SHARE = SLOW_SHARE = HANG_SHARE = 0.02

REPO = Path(__file__).resolve().parent.parent


# The server ------------------------------------------------------------------------------------------------
def _response(status: int, reason: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("latin-1")
        kind = path.strip("/").split("/", 1)[0]
        if kind == "hang":
            await reader.read()  # until the client closes the connection
            return
        if kind == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        if kind in ("ok", "slow"):
            writer.write(_response(200, "OK", b'{"status": "ok"}'))
        elif kind == "fail":
            writer.write(_response(503, "Service Unavailable", b'{"status": "down"}'))
        else:
            writer.write(_response(404, "Not Found", b'{"status": "unknown path"}'))
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoints", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    asyncio.run(serve(parser.parse_args(argv).port))


# Starting it and using it ----------------------------------------------------------------------------------
class EndpointServer:
    """The endpoint server as a child process, for a `with` block."""

    def __init__(self, log: Path):
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bench.endpoints"], stdout=subprocess.PIPE,
                                         stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=REPO)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError(f"the endpoint server did not start (see {self.log})")
        self.port = int(line)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


def endpoint_kinds(count: int) -> list[str]:
    """The kind of each of `count` endpoints: a few of each unhealthy kind, spread evenly, the rest ok."""
    kinds = ["ok"] * count
    unhealthy = []
    for kind, share in (("fail", FAIL_SHARE), ("slow", SLOW_SHARE), ("hang", HANG_SHARE)):
        unhealthy += [kind] * max(1, round(count * share))
    step = count / len(unhealthy)
    for index, kind in enumerate(unhealthy):
        kinds[int(index * step + step / 2)] = kind
    return kinds


def endpoint_mix(base_url: str, count: int) -> list[dict]:
    """`count` endpoints of the server for http_health_info / uri: name and url of each."""
    return [{"name": f"{kind}-{index}", "url": f"{base_url}/{kind}/{index}"}
            for index, kind in enumerate(endpoint_kinds(count))]


if __name__ == "__main__":
    main()
