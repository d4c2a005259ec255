"""A node that answers a run with the start of an event stream, then says nothing more.

Prints the port it listens on (127.0.0.1); every connection gets the headers and one
``start`` event, and is then held open in silence until the client gives up.
"""

import asyncio
import sys

START = b'event: start\r\ndata: {"tool":"ping","target":"127.0.0.1","address":"127.0.0.1"}\r\n\r\n'


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (len(START), START))
    await writer.drain()
    await reader.read()  # until the client leaves
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
