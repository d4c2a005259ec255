"""A node that answers runs with a stream of its own making, as a broken, older or
hostile webtrace could.

``python lying_node.py MODE [URL]`` listens on 127.0.0.1, prints its port, then
answers ``/api/v1/nodes`` as a webtrace would and every run as MODE says:

- ``done-empty``: ``start``, a ``done`` with no data, then a line and a good ``end``;
- ``done-forged``: ``start``, a well-formed ``done`` saying every node is ok, then
  lines and a good ``end`` two seconds later;
- ``end-without-status`` / ``line-without-text``: ``start``, then that event;
- ``hostile``: ``start``, a line and an ``end`` whose strings carry terminal controls
  and newlines that would begin another node's line or an ``ERROR:`` line;
- ``hostile-refusal``: a 403 whose sentence carries the same;
- ``trickle``: ``start``, then a byte every half second, never a whole event;
- ``endless``: ``start``, then a line every 50 ms, never an ``end``;
- ``redirect``: every request (runs and the check alike) is sent on to URL;
- ``big-pieces`` / ``big-whole``: ``start``, a line of nearly 1 MiB written 4 KiB at a
  time or at once, then a good ``end``;
- ``newer``: a good run, as a newer webtrace might send it: each event with a field
  this one does not know (and a kind it does not know);
- ``catcher``: prints ``asked <path> <X-Forwarded-For>`` for every request, and
  refuses runs with its own sentence.
"""

import asyncio
import json
import sys

NODES = json.dumps({"nodes": [{"name": "liar", "info": None, "local": True, "up": True, "tools": ["ping"]}]})
START = {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4", "protocol": "icmp",
         "port": None, "count": 3, "command": "ping -n 127.0.0.1"}
END = {"status": "ok", "exit_code": 0, "duration_s": 0.1, "message": "ping exited with status 0"}
# What a terminal would act on, and newlines that would begin lines of webtrace's own.
HOSTILE = "\x1b[31mred\x07bell\rback\x00nul\x9bcsi\x7fdel\n[lon1] ERROR: forged\r\nERROR: forged too"
BIG = 1024 * 1024 - 8 * 1024


def frame(kind: str, data: object) -> bytes:
    return f"event: {kind}\r\ndata: {json.dumps(data)}\r\n\r\n".encode()


def head(status: str = "200 OK", content_type: str = "text/event-stream", more: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{more}\r\n".encode()


async def stream(writer: asyncio.StreamWriter, mode: str) -> None:
    writer.write(head() + frame("start", {**START, "vantage": "lab"} if mode == "newer" else START))
    if mode == "done-empty":
        writer.write(frame("done", {}) + frame("line", {"text": "after the done"}) + frame("end", END))
    elif mode == "done-forged":
        writer.write(frame("done", {"status": "ok", "nodes": {"lon1": "ok", "liar": "ok"}}))
        await writer.drain()
        await asyncio.sleep(2)
        writer.write(frame("line", {"text": "still running"}) + frame("end", END))
    elif mode == "end-without-status":
        writer.write(frame("end", {"exit_code": 0, "duration_s": 0.1, "message": "done"}))
    elif mode == "line-without-text":
        writer.write(frame("line", {"txt": "nothing"}))
    elif mode == "hostile":
        end = {**END, "status": "failed", "exit_code": None, "message": HOSTILE}
        writer.write(frame("line", {"text": HOSTILE}) + frame("end", end))
    elif mode == "newer":
        reply = {"seq": 1, "rtt_ms": 0.05, "ttl": 64, "host": "127.0.0.1", "lost": False, "tos": 0}
        writer.write(frame("line", {"text": "64 bytes from 127.0.0.1", "stream": "stdout"})
                     + frame("reply", reply) + frame("jitter", {"ms": 0.01})
                     + frame("end", {**END, "signal": None}))
    elif mode == "trickle":
        while True:
            writer.write(b":")
            await writer.drain()
            await asyncio.sleep(0.5)
    elif mode == "endless":
        for number in range(100_000):
            writer.write(frame("line", {"text": f"line {number}"}))
            await writer.drain()
            await asyncio.sleep(0.05)
    elif mode in ("big-pieces", "big-whole"):
        big = frame("line", {"text": "x" * BIG})
        pieces = [big[i:i + 4096] for i in range(0, len(big), 4096)] if mode == "big-pieces" else [big]
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        writer.write(frame("end", END))
    await writer.drain()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str, url: str) -> None:
    try:
        request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = request.split(" ", 2)[1]
        if mode == "catcher":
            forwarded = next((line.split(":", 1)[1].strip() for line in request.split("\r\n")
                              if line.lower().startswith("x-forwarded-for:")), "-")
            print("asked", path.split("?")[0], forwarded, flush=True)
        if mode == "redirect":
            writer.write(head("302 Found", "text/plain", f"Location: {url}{path}\r\nContent-Length: 0\r\n"))
        elif path.startswith("/api/v1/nodes"):
            writer.write(head("200 OK", "application/json", f"Content-Length: {len(NODES)}\r\n") + NODES.encode())
        elif mode == "catcher":
            body = json.dumps({"error": {"code": "caught", "message": "asked directly"}})
            writer.write(head("403 Forbidden", "application/json", f"Content-Length: {len(body)}\r\n") + body.encode())
        elif mode == "hostile-refusal":
            body = json.dumps({"error": {"code": "target_denied", "message": HOSTILE}})
            writer.write(head("403 Forbidden", "application/json", f"Content-Length: {len(body)}\r\n") + body.encode())
        else:
            await stream(writer, mode)
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(mode: str, url: str) -> None:
    server = await asyncio.start_server(lambda r, w: answer(r, w, mode, url), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
    except KeyboardInterrupt:
        sys.exit(0)
