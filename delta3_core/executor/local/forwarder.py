"""The tiny forwarder inside a sandbox: its loopback port 3128 leads to the registry proxy's Unix socket.

The sandbox has no network (--unshare-net), only its own loopback; pip and npm speak to a proxy by TCP,
so the sandbox's program (local/zygote.py) starts by binding that port and forking a child that pipes each
connection to the socket bound in at PROXY_SOCKET. The port is bound before the run's code starts, so the
first `pip install` finds it.
One thread (threads would count against the run's process limit); its output goes to /dev/null, so it
never holds the run's output pipes; it dies with the sandbox.
"""

from __future__ import annotations

PROXY_SOCKET = "/run/delta3/registry.sock"
PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"

# Defines start_forwarder(socket_path, port), for the zygote's source.
FORWARDER_SOURCE = r"""
def start_forwarder(socket_path, port):
    import os, selectors, socket
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    if os.fork():
        listener.close()
        return
    parent = os.getppid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    peers, reading = {}, {}

    def close(sock):
        for end in (sock, peers.pop(sock, None)):
            if end is not None and reading.pop(end, None) is not None:
                peers.pop(end, None)
                if end.fileno() != -1 and end.fileno() in sel.get_map():
                    sel.unregister(end)
                end.close()

    while True:
        if os.getppid() != parent:
            os._exit(0)  # the run is over: never keep its sandbox alive (bwrap's init waits for every process)
        for key, _ in sel.select(1.0):
            sock = key.fileobj
            if sock is listener:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX)
                try:
                    upstream.connect(socket_path)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                peers[client], peers[upstream] = upstream, client
                for end in (client, upstream):
                    reading[end] = True
                    sel.register(end, selectors.EVENT_READ)
                continue
            peer = peers.get(sock)
            if peer is None:
                continue
            try:
                data = sock.recv(65536)
                if data:
                    peer.sendall(data)
                    continue
                sel.unregister(sock)  # this way is done; the other may still be sending
                reading[sock] = False
                peer.shutdown(socket.SHUT_WR)
                if reading.get(peer) is False:
                    close(sock)
            except OSError:
                close(sock)
"""
