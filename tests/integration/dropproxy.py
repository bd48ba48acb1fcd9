"""A TCP proxy that injects producer retries (tests/integration/test_idempotence.py).

    proxy = DropProxy(drop_every=4, max_drops=6)   # listens at once on a free port
    broker = broker_factory({"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy.port}"})
    proxy.set_target(broker.port)
    ... clients bootstrap at proxy.bootstrap ...
    proxy.close()

Every byte goes through unchanged, except: for the selected Produce requests
(api key 0: every drop_every-th one, at most max_drops) the proxy forwards the
request, waits for the broker's whole response — so the broker has appended
and answered — and then, instead of returning it, closes the client's
connection (and its own to the broker). The client never sees the answer and
retries the same batches, which the broker must recognise as duplicates.
The broker advertises the proxy's port, so the clients' metadata keeps them
talking through the proxy.

Evidence that the retries happened (so a test cannot pass without them):
  drops         answers thrown away
  produce_reqs  Produce requests forwarded
  batches       {(producer id, topic, partition, base sequence): times sent}
                from parsing every record batch of every Produce request
                (request header v1/v2, Produce v3+ classic or flexible)
  resent()      the batches sent more than once
Threads: one accept thread, two pump threads per connection; counters under
a lock.
"""

import socket
import struct
import threading

API_PRODUCE = 0
PRODUCE_FLEX_MIN = 9


class _Rd:
    def __init__(self, b, pos=0):
        self.b, self.p = b, pos

    def take(self, n):
        if self.p + n > len(self.b):
            raise ValueError("short frame")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(">" + fmt, self.take(size))[0]

    def uvarint(self):
        shift = v = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7F) << shift
            if not c & 0x80:
                return v
            shift += 7

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def string(self, flex):
        n = self.uvarint() - 1 if flex else self.i("h")
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def count(self, flex):
        return self.uvarint() - 1 if flex else self.i("i")


def produce_batches(frame):
    """(producer id, topic, partition, base sequence) of every record batch in
    a Produce request frame (without its size prefix); [] if not v3+."""
    r = _Rd(frame)
    api_key, version = r.i("h"), r.i("h")
    if api_key != API_PRODUCE or version < 3:
        return []
    flex = version >= PRODUCE_FLEX_MIN
    r.i("i")                        # correlation id
    r.string(False)                 # client id: always an int16 string
    if flex:
        r.tags()
    r.string(flex)                  # transactional id
    r.i("h"), r.i("i")              # acks, timeout
    out = []
    for _ in range(max(r.count(flex), 0)):
        topic = r.string(flex)
        for _ in range(max(r.count(flex), 0)):
            part = r.i("i")
            n = r.count(flex)       # records: same length encoding as a count
            recs = r.take(n) if n > 0 else b""
            q = 0
            while q + 61 <= len(recs):
                blen = struct.unpack_from(">i", recs, q + 8)[0]
                pid, _epoch, seq = struct.unpack_from(">qhi", recs, q + 43)
                out.append((pid, topic, part, seq))
                q += 12 + blen
            if flex:
                r.tags()
        if flex:
            r.tags()
    return out


def _read_frame(sock):
    """One size-prefixed frame (prefix included), or None at EOF."""
    head = _read_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    body = _read_exact(sock, size)
    return None if body is None else head + body


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class DropProxy:
    def __init__(self, drop_every=4, max_drops=5, host="127.0.0.1"):
        self.host = host
        self.drop_every = drop_every
        self.max_drops = max_drops
        self.target = None
        self.lock = threading.Lock()
        self.produce_reqs = 0
        self.drops = 0
        self.batches = {}
        self.conns = 0
        self._closing = False
        self._socks = set()
        self._ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind((host, 0))
        self._ls.listen(64)
        self.port = self._ls.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def set_target(self, port):
        self.target = port

    def resent(self):
        with self.lock:
            return {k: n for k, n in self.batches.items() if n > 1}

    def close(self):
        self._closing = True
        try:
            self._ls.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            self._shut(s)

    # ---- internals ----
    def _shut(self, s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept(self):
        while not self._closing:
            try:
                cs, _ = self._ls.accept()
            except OSError:
                return
            try:
                us = socket.create_connection((self.host, self.target), timeout=10)
                us.settimeout(None)
            except OSError:
                self._shut(cs)
                continue
            for s in (cs, us):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns += 1
                self._socks.update((cs, us))
            doomed = {}     # correlation id -> True for a request whose answer is dropped
            threading.Thread(target=self._up, args=(cs, us, doomed), daemon=True).start()
            threading.Thread(target=self._down, args=(cs, us, doomed), daemon=True).start()

    def _up(self, cs, us, doomed):
        """client -> broker: forwards frames, picks the Produce requests to drop."""
        while True:
            f = _read_frame(cs)
            if f is None:
                break
            api_key, corr = struct.unpack_from(">h", f, 4)[0], struct.unpack_from(">i", f, 8)[0]
            if api_key == API_PRODUCE:
                with self.lock:
                    self.produce_reqs += 1
                    for b in produce_batches(f[4:]):
                        self.batches[b] = self.batches.get(b, 0) + 1
                    if self.drops < self.max_drops and self.produce_reqs % self.drop_every == 0:
                        self.drops += 1
                        doomed[corr] = True
            try:
                us.sendall(f)
            except OSError:
                break
        self._shut(us)

    def _down(self, cs, us, doomed):
        """broker -> client: forwards answers, except that a doomed one ends
        the connection after it was read whole."""
        while True:
            f = _read_frame(us)
            if f is None:
                break
            corr = struct.unpack_from(">i", f, 4)[0]
            if doomed.pop(corr, False):
                break
            try:
                cs.sendall(f)
            except OSError:
                break
        self._shut(cs)
        self._shut(us)
        with self.lock:
            self._socks.discard(cs)
            self._socks.discard(us)
