"""A node that reads each request and hangs up without answering.

Prints the port it listens on (127.0.0.1), then a line ``asked <path>`` for every
request it reads: a test counts them to see that nothing was asked twice.
"""

import asyncio
import sys


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    print("asked", head.split(b" ", 2)[1].decode(), flush=True)
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
