"""Relay TCP from the lab hosts' gateway addresses to the same port on this machine's loopback.

    python -m lab.host_forward 10.213.1.1:5433 10.213.1.1:6380 ...

The lab's PostgreSQL and Redis listen on 127.0.0.1 only; an application server in its own network namespace
reaches them at its gateway address, as a production server reaches its database across the network. A
database that is stopped refuses here too: the relay connects afresh for every connection and closes the
client's side when the loopback side fails.
"""

from __future__ import annotations

import argparse
import asyncio


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _handler(port: int):
    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
    return handle


async def serve(listen: list[tuple[str, int]]) -> None:
    servers = [await asyncio.start_server(_handler(port), host, port) for host, port in listen]
    print("relaying " + ", ".join(f"{h}:{p} -> 127.0.0.1:{p}" for h, p in listen), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen", nargs="+", help="ADDRESS:PORT to listen on (relayed to 127.0.0.1:PORT)")
    args = parser.parse_args()
    asyncio.run(serve([(item.rsplit(":", 1)[0], int(item.rsplit(":", 1)[1])) for item in args.listen]))


if __name__ == "__main__":
    main()
