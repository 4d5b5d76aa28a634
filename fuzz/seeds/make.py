"""Write the committed seed corpus of each fuzz target (small by design: a few valid and a few
invalid inputs each; libFuzzer finds the rest). Run from fuzz/: python3 seeds/make.py"""

import base64, hashlib, hmac, json, os, struct, zlib

SECRET = b"fuzzing-secret-of-at-least-32-bytes!"  # the gate in src/fuzzing.rs


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def write(target, name, data):
    d = os.path.join("seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UP = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
token = jwt({"exp": 4102444800, "publish": ["a.b"], "subscribe": ["*"]})
for name, req in {
    "echo": f"GET /echo HTTP/1.1\r\nHost: x\r\n{UP}\r\n",
    "sub-query-jwt": f"GET /sub/a,b?token={token} HTTP/1.1\r\nHost: x\r\n{UP}Origin: https://a.example.com\r\n\r\n",
    "pub-bearer": f"GET /pub/a.x HTTP/1.1\r\nAuthorization: Bearer fuzz-static-token-0001\r\n{UP}\r\n",
    "pub-cookie": f"GET /pub/a.b HTTP/1.1\r\nCookie: x=1; sluice_token={token}\r\n{UP}\r\n",
    "bad-origin": f"GET /echo HTTP/1.1\r\nOrigin: https://evil.net\r\n{UP}\r\n",
    "healthz": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "garbage": "GET /\x00 HTTP/9.9\r\nBad\r\n\r\n",
}.items():
    write("handshake", name, b"\x20" + req.encode("latin-1"))


def frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04", rsv=0):
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


for name, data in {
    "text-binary": frame(1, b"hello") + frame(2, bytes(range(200))),
    "fragments-ping": frame(1, b"he", False) + frame(9, b"p") + frame(0, b"", False) + frame(0, b"llo"),
    "close": frame(8, struct.pack(">H", 1000) + b"bye"),
    "close-bad": frame(8, struct.pack(">H", 1005)) + frame(8, b"\x03"),
    "utf8-bad": frame(1, b"\xce\xba\xff"),
    "huge-declared": bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + b"\x01\x02\x03\x04",
    "rsv-opcode": frame(1, b"x", rsv=0x40) + frame(5, b""),
    "unmasked": frame(1, b"x", mask=None),
}.items():
    write("frames", name, b"\x7f\x21" + data)


def deflate(data, wbits=15, level=6):
    """A permessage-deflate payload: raw DEFLATE, sync flush, 00 00 ff ff stripped."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    z = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(b"\x00\x00\xff\xff")
    return z[:-4]


HELLO = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])  # RFC 7692 section 7.2.3.1
RSV1 = 0x40
bomb = deflate(bytes(1 << 20), level=9)
doc = json.dumps([{"symbol": "BTC-USD", "bid": 100000 + i, "ask": 100001 + i} for i in range(40)]).encode()
# Knobs: a = 0x7f (server, 8 KiB frames); b % 3 picks no context (0), context (1), off (2);
# max_message = max_frame + b * 512.
for name, (b, data) in {
    "hello": (0x21, frame(1, HELLO, rsv=RSV1) + frame(1, HELLO[:3], False, rsv=RSV1) + frame(9, b"p") + frame(0, HELLO[3:])),
    "context": (0x22, frame(1, HELLO, rsv=RSV1) + frame(1, bytes([0xF2, 0x00, 0x11, 0x00, 0x00]), rsv=RSV1)),
    "stored-bfinal": (0x21, frame(2, bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello\x00", rsv=RSV1) + frame(2, bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]), rsv=RSV1)),
    "json-windows": (0x22, frame(1, deflate(doc, 9), rsv=RSV1) + frame(2, deflate(doc, 12), rsv=RSV1)),
    "bomb": (0x21, frame(2, bomb, rsv=RSV1)),
    "bomb-fragments": (0x21, frame(2, bomb[:300], False, rsv=RSV1) + frame(0, bomb[300:600], False) + frame(0, bomb[600:])),
    "bad-stream": (0x21, frame(2, b"\xff\xff\xff", rsv=RSV1)),
    "rsv1-misplaced": (0x21, frame(9, b"", rsv=RSV1) + frame(2, b"x", False) + frame(0, b"y", rsv=RSV1)),
    "rsv1-off": (0x23, frame(1, HELLO, rsv=RSV1)),
    "raw-bomb": (0x21, bomb),
}.items():
    write("inflate", name, bytes([0x7F, b]) + data)

for name, text in {
    "empty": "",
    "full": """listen = "127.0.0.1:8080"

[limits]
max_message_size = "1MiB"
max_frame_size = "64KiB"
max_queued_bytes = "4MiB"
idle_ping = "30s"
max_fragments = 100
max_connections = 1000
max_connections_per_ip = 10
max_messages_per_sec = 50

[access]
allowed_origins = ["https://*.example.com", "http://localhost:3000"]
jwt_secret = "0123456789abcdef0123456789abcdef"
token_cookie = "tok"

[[access.tokens]]
token = "0123456789abcdef-static"
publish = ["prices.*"]
subscribe = ["*"]

[tls]
cert = "/etc/sluice/cert.pem"
key = "/etc/sluice/key.pem"
""",
    "bad-values": '[limits]\nmax_message_size = "1 parsec"\nidle_ping = "soon"\n',
    "unknown-key": "[limits]\nmax_mesage_size = 5\n",
}.items():
    write("config", name, text.encode())
