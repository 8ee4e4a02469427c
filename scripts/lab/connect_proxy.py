"""A CONNECT-only HTTP proxy for the lab's ECR Public: a tunnel to port 443
of an allowed host name goes to one local port (the registry that plays
public.ecr.aws); anything else is refused (405 for other methods, 403 for
other hosts or ports). Each CONNECT is logged as {"kind": "proxy",
"connect": "HOST:PORT", "status": N}. Bounded: a 64 KiB request head, 60 s
to send it, 300 s of silence ends a tunnel."""

import select
import socket
import socketserver


class ConnectHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(60)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return
        head, _, early = head.partition(b"\r\n\r\n")
        first = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        server = self.server
        if len(first) < 2 or first[0] != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, _, port = first[1].rpartition(":")
        record = {"kind": "proxy", "connect": first[1]}
        if host.lower() not in server.hosts or port != "443":
            record["status"] = 403
            server.log(record)
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        try:
            up = socket.create_connection(("127.0.0.1", server.upstream_port), timeout=10)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        record["status"] = 200
        server.log(record)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if early:
            up.sendall(early)
        pump(conn, up)


def pump(a, b):
    a.settimeout(None)
    b.settimeout(None)
    socks = [a, b]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], 300)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


class ConnectProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, hosts, upstream_port, log):
        super().__init__(addr, ConnectHandler)
        self.hosts = hosts
        self.upstream_port = upstream_port
        self.log = log
