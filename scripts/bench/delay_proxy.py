"""A TCP proxy that adds DELAY seconds each time the client starts a new
request turn (client bytes after server bytes, or the first bytes): about one
network round trip per HTTP request. Prints its port, then serves forever.

usage: delay_proxy.py UPSTREAM_HOST:PORT DELAY_SECONDS
"""
import socket
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
delay = float(sys.argv[2])

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(256)
print(listener.getsockname()[1], flush=True)


def pipe(src, dst, state, me):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if me == "client" and state["last"] != "client":
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
        upstream = socket.create_connection((host, int(port)))
    except OSError:
        client.close()
        return
    state = {"last": None}
    threading.Thread(target=pipe, args=(upstream, client, state, "server"), daemon=True).start()
    pipe(client, upstream, state, "client")


while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
