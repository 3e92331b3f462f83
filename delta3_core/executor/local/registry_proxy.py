"""The host-side proxy that lets sandboxed pip and npm reach the package registries, and nothing else.

Sandboxes keep --unshare-net: they reach this proxy only through its Unix socket, bound into each
sandbox, via a forwarder on the sandbox's own loopback (forwarder.py). It speaks plain HTTP proxying:
CONNECT for https registries (TLS stays end to end) and absolute-form requests for http ones. Every
request is checked on its own, so a redirect from a registry to anywhere else is refused when the
client follows it. A registry named by host name must resolve to public addresses only (no loopback,
private, link-local or metadata address); the one connected to is the one checked.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from ..supervisor.registries import Origin, Registries

log = logging.getLogger("delta3.registry_proxy")

MAX_HEAD = 64 * 1024
IDLE_TIMEOUT_S = 60
MAX_CONNECTIONS = 64
DROPPED_HEADERS = (b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization")


class Refused(Exception):
    """A request the proxy will not carry; str() is the reason told to the client and logged."""


class RegistryProxy:
    """Listen on a Unix socket; carry requests to the allowed registry origins only."""

    def __init__(self, registries: Registries, socket_dir: Path | None = None):
        self.registries = registries
        self.allowed = registries.origins()
        self._dir = Path(socket_dir or tempfile.mkdtemp(prefix="delta3-registry-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._dir, 0o711)  # the sandbox uid binds the socket in by path, without listing the folder
        self.socket_path = self._dir / "registry.sock"
        self._listener: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def start(self) -> RegistryProxy:
        """Bind the socket (mode 0666: sandboxes run as another uid) and serve in a daemon thread."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o666)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, name="delta3-registry-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting (open tunnels end by themselves) and remove the socket."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and listener.fileno() != -1:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                _answer(client, 503, "too many registry connections at once")
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            with client:
                client.settimeout(IDLE_TIMEOUT_S)
                self._handle(client)
        except OSError:
            pass
        finally:
            self._slots.release()

    def _handle(self, client: socket.socket) -> None:
        head, body = _read_head(client)
        if head is None:
            return
        line, _, headers = head.partition(b"\r\n")
        try:
            method, target, _version = line.decode("latin-1").split(" ")
            origin, path = _target_origin(method, target)
            if origin not in self.allowed:
                raise Refused(f"{origin.host}:{origin.port} is not a package registry this server allows")
            upstream = self._connect(origin)
        except (ValueError, Refused) as error:
            reason = str(error) if isinstance(error, Refused) else "malformed proxy request"
            log.info("registry proxy refused a request: %s", reason)
            _answer(client, 403, reason)
            return
        except OSError as error:
            log.info("registry proxy: %s:%d unreachable (%s)", origin.host, origin.port, error.strerror or error)
            _answer(client, 502, f"{origin.host} is unreachable")
            return
        # Never the query, headers or body: they can hold tokens.
        log.info("registry proxy %s %s://%s:%d%s", method, origin.scheme, origin.host, origin.port, path)
        with upstream:
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.sendall(body)
                _splice(client, upstream)
            else:
                upstream.sendall(_origin_request(method, path, headers) + body)
                _relay_response(upstream, client)
                _splice(client, upstream)

    def _connect(self, origin: Origin) -> socket.socket:
        """Connect to an address of `origin` that passed the check (never re-resolved after it)."""
        try:
            infos = socket.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise Refused(f"{origin.host} does not resolve") from error
        addresses = [info for info in infos if origin.local or _public(info[4][0])]
        if not addresses:
            raise Refused(f"{origin.host} resolves only to private addresses")
        last: OSError | None = None
        for family, kind, proto, _name, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(IDLE_TIMEOUT_S)
            try:
                sock.connect(address)
                return sock
            except OSError as error:
                sock.close()
                last = error
        raise last or OSError("no address")


# Networks of this host's own surroundings, refused whatever name leads there: private (RFC 1918, IPv6
# unique-local), carrier-grade NAT (cloud metadata services live there too, e.g. 100.100.100.200), "this"
# network, and IETF protocol assignments. Loopback, link-local (169.254.169.254), multicast, unspecified
# and reserved addresses are refused by their kind. Documentation and benchmark ranges stay allowed:
# egress gateways and fake-IP resolvers answer registry names with them.
LOCAL_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "192.0.0.0/24", "fc00::/7"))


def _public(address: str) -> bool:
    """True for an address outside this host and its networks (not loopback, private, link-local...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return not any(ip in net for net in LOCAL_NETWORKS if net.version == ip.version)


def _target_origin(method: str, target: str) -> tuple[Origin, str]:
    """The origin and path a proxy request asks for; ValueError when it is not a proxy request."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return Origin("https", host.strip("[]").lower(), int(port)), ""
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(target)
    return Origin("http", parts.hostname.lower(), parts.port or 80), parts.path or "/"


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request or response head (without the blank line), and any bytes read past it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > MAX_HEAD:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _kept_headers(headers: bytes) -> list[bytes]:
    kept = []
    for header in headers.split(b"\r\n"):
        if header and header.split(b":", 1)[0].strip().lower() not in DROPPED_HEADERS:
            kept.append(header)
    return kept + [b"Connection: close"]  # one request per connection: each is checked on its own


def _origin_request(method: str, path: str, headers: bytes) -> bytes:
    return b"\r\n".join([f"{method} {path} HTTP/1.1".encode(), *_kept_headers(headers)]) + b"\r\n\r\n"


def _relay_response(upstream: socket.socket, client: socket.socket) -> None:
    head, rest = _read_head(upstream)
    if head is None:
        return
    status, _, headers = head.partition(b"\r\n")
    client.sendall(b"\r\n".join([status, *_kept_headers(headers)]) + b"\r\n\r\n" + rest)


def _answer(client: socket.socket, status: int, reason: str) -> None:
    body = f"DELTA3 registry proxy: {reason}.\n".encode()
    titles = {403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable"}
    with contextlib.suppress(OSError):
        client.sendall(f"HTTP/1.1 {status} {titles[status]}\r\nContent-Type: text/plain\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides have finished sending."""
    sel = selectors.DefaultSelector()
    peers = {a.fileno(): b, b.fileno(): a}
    for sock in (a, b):
        sel.register(sock, selectors.EVENT_READ)
    try:
        while sel.get_map():
            events = sel.select(IDLE_TIMEOUT_S)
            if not events:
                return  # idle too long
            for key, _ in events:
                data = key.fileobj.recv(65536)
                peer = peers[key.fd]
                if data:
                    peer.sendall(data)
                    continue
                sel.unregister(key.fileobj)
                with contextlib.suppress(OSError):
                    peer.shutdown(socket.SHUT_WR)
    finally:
        sel.close()


_shared: RegistryProxy | None = None
_shared_lock = threading.Lock()


def shared_proxy(registries: Registries) -> RegistryProxy:
    """The process's proxy for `registries`, started on first use (restarted if they changed)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.registries != registries:
            if _shared is not None:
                _shared.stop()
            _shared = RegistryProxy(registries).start()
        return _shared
