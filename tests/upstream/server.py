"""A WebSocket server built on Python's `websockets` package: the upstream that Sluice's
connectors talk to in tests (a different implementation than Sluice's own).

It prints `port N` once it listens (on 127.0.0.1 only), then one JSON line per event on
standard output:

  {"ev": "open", "conn": 1, "path": "/x", "headers": {...}, "subprotocol": "v1"}
  {"ev": "msg", "conn": 1, "text": "..."}          (or "binary": "<hex>")
  {"ev": "close", "conn": 1, "code": 1000}

usage: server.py [--port P] [--send MSG]... [--count N --prefix P] [--start K]
                 [--expect-subscribe] [--subprotocol NAME] [--hello] [--cert PEM --key PEM]

  --send MSG          send MSG (text) to every new connection, in order; a MSG of the form
                      `bin:<hex>` is sent as binary
  --count N           then send N messages `<prefix><K>`, `<prefix><K+1>`, … (K = --start)
  --expect-subscribe  wait for the first message from the client and answer
                      {"subscribed": <it>} before sending anything else
  --hello             first send {"hello": {"path":…, "headers":{…}, "subprotocol":…}}
  --subprotocol NAME  accept this subprotocol if the client asks for it
  --cert PEM --key PEM  serve wss:// (TLS) with this certificate chain and private key

After sending, the connection stays open, receiving (and reporting) what the client sends,
until the client closes it or the process is killed.
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys

from websockets.asyncio.server import serve

counter = 0


def emit(**event):
    print(json.dumps(event), flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--send", action="append", default=[])
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--prefix", default="msg-")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--expect-subscribe", action="store_true")
    p.add_argument("--hello", action="store_true")
    p.add_argument("--subprotocol", action="append", default=None)
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args()
    # Failed handshakes are what some tests make on purpose; the events on stdout tell the rest.
    logging.getLogger("websockets.server").setLevel(logging.CRITICAL)
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)

    async def handler(ws):
        global counter
        counter += 1
        conn = counter
        headers = {k.lower(): v for k, v in ws.request.headers.raw_items()}
        emit(ev="open", conn=conn, path=ws.request.path, headers=headers, subprotocol=ws.subprotocol)
        receiver = None
        try:
            if args.hello:
                hello = {"path": ws.request.path, "headers": headers, "subprotocol": ws.subprotocol}
                await ws.send(json.dumps({"hello": hello}))
            if args.expect_subscribe:
                first = await ws.recv()
                emit(ev="msg", conn=conn, text=first)
                await ws.send(json.dumps({"subscribed": first}))
            receiver = asyncio.ensure_future(receive(ws, conn))
            for m in args.send:
                await ws.send(bytes.fromhex(m[4:]) if m.startswith("bin:") else m)
            for i in range(args.start, args.start + args.count):
                await ws.send(f"{args.prefix}{i}")
            await receiver
        except Exception:
            pass
        finally:
            if receiver is not None:
                receiver.cancel()
            emit(ev="close", conn=conn, code=ws.close_code)

    async def receive(ws, conn):
        async for m in ws:
            if isinstance(m, bytes):
                emit(ev="msg", conn=conn, binary=m.hex())
            else:
                emit(ev="msg", conn=conn, text=m)

    # A restart on a fixed port may race with the release of the previous listener: retry.
    for attempt in range(100):
        try:
            server = await serve(
                handler,
                "127.0.0.1",
                args.port,
                subprotocols=args.subprotocol,
                max_size=None,
                compression=None,
                ssl=tls,
            )
            break
        except OSError:
            if args.port == 0 or attempt == 99:
                raise
            await asyncio.sleep(0.1)
    async with server:
        port = server.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
