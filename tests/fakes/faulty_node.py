"""A node that fails as a real one can, but not on demand.

``python faulty_node.py MODE`` listens on 127.0.0.1, prints its port, then answers
every connection as MODE says:

- ``silent``: the headers and one ``start`` event of a run, then silence until the
  client gives up;
- ``hangup``: reads the request and hangs up without answering, printing
  ``asked <path>`` for each request, so that a test can count them;
- ``stale``: answers ``/api/v1/nodes`` as a webtrace would, keeping the connection
  open, and refuses any run with its own code and sentence; a second request on a
  connection it answered on finds it closed, as a server's idle timeout can close a
  connection just as a client reuses it;
- ``cookies``: sets a cookie with every answer, and refuses any run with a code that
  says whether the request carried one back;
- ``endless-head``: a status line, then headers without end;
- ``not-http``: answers with what another kind of server says first;
- ``flood``: the head and ``start`` of a run, then lines as fast as it can send
  them, never an ``end``;
- ``full``: never accepts a connection, and fills its own queue of connections
  waiting to be accepted, so that the kernel drops whatever else comes: connecting
  to it takes as long as the client waits (a node overwhelmed, or behind a
  firewall that drops).

``python faulty_node.py MODE CERT KEY`` does the same over TLS.
"""

import asyncio
import json
import signal
import socket
import ssl
import sys

START = (b'event: start\r\ndata: {"tool":"ping","target":"127.0.0.1","address":"127.0.0.1","family":"4",'
         b'"protocol":"icmp","port":null,"count":3,"command":"ping -n 127.0.0.1"}\r\n\r\n')
NODES = json.dumps({"nodes": [{"name": "stale", "info": None, "local": True, "up": True, "tools": ["ping"]}]})
REFUSAL = json.dumps({"error": {"code": "fresh_connection", "message": "asked on a connection of its own"}})


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (len(START), START))
    await writer.drain()
    await reader.read()  # until the client leaves
    writer.close()


async def hangup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    print("asked", head.split(b" ", 2)[1].decode(), flush=True)
    writer.close()


def json_answer(status: str, body: str, more: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: keep-alive\r\n{more}\r\n{body}").encode()


async def stale(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        path = (await reader.readuntil(b"\r\n\r\n")).split(b" ", 2)[1]
        writer.write(json_answer("200 OK", NODES) if path.startswith(b"/api/v1/nodes")
                     else json_answer("403 Forbidden", REFUSAL))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # reused: closed without an answer
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def cookies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    path = head.split(b" ", 2)[1]
    carried = b"\r\ncookie:" in head.lower()
    refusal = {"error": {"code": "cookie_carried" if carried else "no_cookie", "message": "refused"}}
    writer.write(json_answer("200 OK", NODES, "Set-Cookie: visitor=someone; Path=/\r\n")
                 if path.startswith(b"/api/v1/nodes")
                 else json_answer("403 Forbidden", json.dumps(refusal), "Set-Cookie: visitor=someone; Path=/\r\n"))
    await writer.drain()
    writer.close()


async def endless_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\n")
    try:
        while True:
            writer.write(b"X-More: " + b"m" * 1000 + b"\r\n")
            await writer.drain()
    except ConnectionError:
        pass


async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    await writer.drain()
    await reader.read()
    writer.close()


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (len(START), START))
    line = b'event: line\r\ndata: {"text":"' + b"x" * 4000 + b'"}\r\n\r\n'
    chunk = b"%x\r\n%s\r\n" % (len(line), line)
    try:
        while True:
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass


def full() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(3):  # more than the queue holds: the last of them waits too
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        waiting.append(sock)
    print(port, flush=True)
    signal.pause()


async def main(mode: str, cert: str | None = None, key: str | None = None) -> None:
    answers = {"silent": silent, "hangup": hangup, "stale": stale, "cookies": cookies,
               "endless-head": endless_head, "not-http": not_http, "flood": flood}
    tls = None
    if cert is not None and key is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    server = await asyncio.start_server(answers[mode], "127.0.0.1", 0, ssl=tls)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        if sys.argv[1] == "full":
            full()
        asyncio.run(main(*sys.argv[1:4]))
    except KeyboardInterrupt:
        sys.exit(0)
