"""Loopback helpers for scripts/bench.sh. Standard library only.

  proxy.py tcp UPSTREAM DELAY LOG PARENT_PID
      A TCP proxy in front of the registry that adds DELAY seconds each time a
      client starts a new request turn on a connection (its first bytes, or
      bytes after the server has answered): about one network round trip per
      HTTP request. Bytes pass unchanged. LOG gets one line per connection
      ("conn") and per request turn ("turn").

  proxy.py proxy UPSTREAM DELAY LOG PARENT_PID
      The same as an HTTP proxy whose every target is UPSTREAM: CONNECT is
      answered 200 and tunnelled, absolute-form requests pass unchanged.

  proxy.py ecr UPSTREAM DELAY LOG PARENT_PID
      An HTTP front for the ECR emulator (moto). It forwards every request
      unchanged (Host header included, so SigV4 still verifies) after DELAY
      seconds, and gives GetAuthorizationToken answers a 12-hour expiry, as real
      ECR does: moto's fixed 2015 expiry would make every token look expired
      and the token cache could never be measured. LOG gets one line per call
      (the X-Amz-Target operation and the status).

Both listen on 127.0.0.1 only, print their port on the first line of stdout,
and are bounded: at most MAX_CONNECTIONS open connections, socket timeouts,
and they exit when PARENT_PID is gone or after MAX_LIFETIME seconds.
"""
import http.client
import http.server
import json
import os
import socket
import sys
import threading
import time

MAX_CONNECTIONS = 256
MAX_LIFETIME = 1800
IO_TIMEOUT = 60
TOKEN_LIFETIME = 12 * 3600
# Never forwarded: they describe one hop, not the request.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}

log_lock = threading.Lock()


def log(path, line):
    with log_lock, open(path, "a") as f:
        f.write(line + "\n")


def watchdog(parent):
    """Exit with the bench: when its shell is gone or the lifetime cap hits."""
    deadline = time.monotonic() + MAX_LIFETIME
    while time.monotonic() < deadline:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass
        time.sleep(0.5)
    os._exit(0)


# ------------------------------------------------------------------ tcp


def tcp_proxy(upstream, delay, logfile, http_proxy=False):
    host, port = upstream.rsplit(":", 1)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)

    def pipe(src, dst, state, me):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if me == "client" and state["last"] != "client":
                    log(logfile, "turn")
                    time.sleep(delay)
                state["last"] = me
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def handle(client):
        try:
            log(logfile, "conn")
            try:
                upstream_sock = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT)
            except OSError:
                return
            client.settimeout(IO_TIMEOUT)
            if http_proxy and not accept_connect(client, upstream_sock):
                return
            state = {"last": None}
            back = threading.Thread(target=pipe, args=(upstream_sock, client, state, "server"), daemon=True)
            back.start()
            pipe(client, upstream_sock, state, "client")
            back.join(IO_TIMEOUT)
            upstream_sock.close()
        finally:
            client.close()
            slots.release()

    while True:
        slots.acquire()
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def accept_connect(client, upstream_sock):
    """As an HTTP proxy whose every target is UPSTREAM: a CONNECT (what
    rustls-based clients send even for http://) is answered 200 and becomes
    a tunnel; any other first request (Go's absolute-form GET) is passed on
    as it is, since Go's HTTP server reads absolute-form request lines."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = client.recv(65536)
        if not data or len(head) > 65536:
            return False
        head += data
        if not b"CONNECT ".startswith(head[:8]):
            break
    if head.startswith(b"CONNECT "):
        end = head.index(b"\r\n\r\n") + 4
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head[end:]
    else:
        rest = head
    if rest:
        upstream_sock.sendall(rest)
    return True


# ------------------------------------------------------------------ ecr


def ecr_front(upstream, delay, logfile):
    host, port = upstream.rsplit(":", 1)

    class Front(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IO_TIMEOUT

        def log_message(self, *args):  # the LOG file is the record
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            time.sleep(delay)
            up = http.client.HTTPConnection(host, int(port), timeout=IO_TIMEOUT)
            try:
                up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        up.putheader(name, value)
                up.endheaders(body)
                resp = up.getresponse()
                data = resp.read()
                headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            finally:
                up.close()
            target = self.headers.get("X-Amz-Target", "")
            if resp.status == 200 and target.endswith(".GetAuthorizationToken"):
                doc = json.loads(data)
                for entry in doc.get("authorizationData", []):
                    entry["expiresAt"] = time.time() + TOKEN_LIFETIME
                data = json.dumps(doc).encode()
            log(logfile, f"{target.rsplit('.', 1)[-1] or self.command} {resp.status}")
            self.send_response(resp.status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = MAX_CONNECTIONS

    server = Server(("127.0.0.1", 0), Front)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("tcp", "proxy", "ecr"):
        sys.exit("usage: proxy.py tcp|ecr UPSTREAM_HOST:PORT DELAY_SECONDS LOG PARENT_PID")
    mode, upstream, delay, logfile, parent = sys.argv[1:]
    threading.Thread(target=watchdog, args=(int(parent),), daemon=True).start()
    if mode == "ecr":
        ecr_front(upstream, float(delay), logfile)
    else:
        tcp_proxy(upstream, float(delay), logfile, http_proxy=mode == "proxy")


if __name__ == "__main__":
    main()
