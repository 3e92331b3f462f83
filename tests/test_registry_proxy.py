"""The registry proxy on its own: only the configured registries, never a private address or a redirect out."""

from __future__ import annotations

import logging
import socket

import pytest

from delta3_core.executor.local.registry_proxy import RegistryProxy, _public
from delta3_core.executor.supervisor import registries as registries_module
from delta3_core.executor.supervisor.registries import Origin, Registries, configured_registries, origin_of

pytest_plugins = ["tests.fixtures.package_index"]


def ask(proxy: RegistryProxy, request: bytes) -> bytes:
    """Send one raw proxy request over the Unix socket; the whole answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(20)
        sock.connect(str(proxy.socket_path))
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def get(proxy: RegistryProxy, url: str, *headers: str) -> bytes:
    host = url.split("/")[2]
    lines = [f"GET {url} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return ask(proxy, "\r\n".join(lines).encode())


@pytest.fixture
def proxy(package_index, tmp_path):
    running = RegistryProxy(Registries(package_index.pip_index, (), package_index.npm_registry), tmp_path).start()
    yield running
    running.stop()


def test_the_configured_registry_is_reached_and_the_answer_closes_the_connection(proxy, package_index):
    answer = get(proxy, f"{package_index.pip_index}delta3-demo/")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert b"delta3_demo-1.0-py3-none-any.whl" in body


def test_another_port_on_the_hosts_loopback_is_refused(proxy, other_server):
    answer = get(proxy, f"{other_server}/")
    assert answer.startswith(b"HTTP/1.1 403") and b"secret" not in answer
    port = other_server.rsplit(":", 1)[1]
    assert ask(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode()).startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize("target", ["169.254.169.254:80", "169.254.169.254:443", "example.com:443",
                                    "[::1]:443", "10.0.0.1:443"])
def test_other_hosts_and_the_metadata_address_are_refused(proxy, target):
    assert ask(proxy, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode()).startswith(b"HTTP/1.1 403")
    assert get(proxy, f"http://{target}/latest/meta-data/").startswith(b"HTTP/1.1 403")


def test_a_redirect_from_the_registry_cannot_lead_elsewhere(proxy, package_index, other_server):
    answer = get(proxy, f"{package_index.url}/redirect/{other_server}/")
    assert answer.split(b"\r\n", 1)[0].endswith(b"302 Found")
    location = next(line for line in answer.split(b"\r\n") if line.lower().startswith(b"location:"))
    followed = get(proxy, location.split(b":", 1)[1].strip().decode())
    assert followed.startswith(b"HTTP/1.1 403") and b"secret" not in followed


def test_a_registry_name_that_resolves_to_a_private_address_is_refused(tmp_path, monkeypatch):
    # DNS is the network edge: make the registry's name point at the metadata address.
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "169.254.169.254" if host == "registry.example" else host, *a, **k))
    proxy = RegistryProxy(Registries("https://registry.example/simple/"), tmp_path).start()
    try:
        answer = ask(proxy, b"CONNECT registry.example:443 HTTP/1.1\r\n\r\n")
    finally:
        proxy.stop()
    assert answer.startswith(b"HTTP/1.1 403") and b"private" in answer


def test_the_access_log_holds_no_query_or_credentials(proxy, package_index, caplog):
    with caplog.at_level(logging.INFO, logger="delta3.registry_proxy"):
        get(proxy, f"{package_index.pip_index}delta3-demo/?token=hunter2-query",
            "Proxy-Authorization: Basic aHVudGVyMi1oZWFkZXI=", "Authorization: Bearer hunter2-bearer")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "/simple/delta3-demo/" in logged
    assert "hunter2" not in logged and "aHVudGVy" not in logged


def test_malformed_requests_get_a_clear_refusal(proxy):
    assert ask(proxy, b"GET /relative HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    assert ask(proxy, b"nonsense\r\n\r\n").startswith(b"HTTP/1.1 403")


def test_addresses_that_are_not_public(tmp_path):
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "169.254.169.254", "fd00::1",
                    "fd00:ec2::254", "10.1.2.3", "172.20.0.1", "192.168.0.1", "100.100.100.200", "fe80::1%eth0",
                    "0.0.0.0", "::", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::ffff:169.254.169.254"):
        assert not _public(address), address
    # public, and the documentation range an egress gateway may answer registry names with
    for address in ("151.101.0.223", "2a04:4e42::223", "203.0.113.80"):
        assert _public(address), address


def test_registries_come_from_pip_and_npm_settings_and_skip_file_indexes(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple/")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///opt/wheels https://extra.example:8443/simple/")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "https://npm.example/")
    configured_registries.cache_clear()
    try:
        found = configured_registries()
    finally:
        configured_registries.cache_clear()
    assert found == Registries("https://mirror.example/simple/", ("https://extra.example:8443/simple/",),
                               "https://npm.example/")
    assert found.origins() == {Origin("https", "mirror.example", 443), Origin("https", "extra.example", 8443),
                               Origin("https", "npm.example", 443)}


def test_pypi_also_allows_its_file_host_and_a_local_mirror_is_marked_local(monkeypatch):
    assert Origin("https", "files.pythonhosted.org", 443) in Registries().origins()
    assert origin_of("http://127.0.0.1:3141/root/pypi/").local and origin_of("http://localhost:4873/").local
    assert not origin_of("https://pypi.org/simple").local
    monkeypatch.setattr(registries_module, "PIP_CONFIG_FILES", ())
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/nonexistent/pip.conf")
    configured_registries.cache_clear()
    try:
        assert configured_registries().pip_index == registries_module.PYPI
    finally:
        configured_registries.cache_clear()


def test_a_run_never_sees_the_operators_registry_credentials():
    registries = Registries("https://deploy:s3cret-token@mirror.example/simple/", ("https://u:p@extra.example/s/",),
                            "https://npm-user:npm-pass@npm.example/")
    env = registries.run_env("http://127.0.0.1:3128")
    assert env["PIP_INDEX_URL"] == "https://mirror.example/simple/"
    assert env["PIP_EXTRA_INDEX_URL"] == "https://extra.example/s/" and env["NPM_CONFIG_REGISTRY"] == "https://npm.example/"
    assert "s3cret" not in str(env) and env["HTTPS_PROXY"] == "http://127.0.0.1:3128"
    assert Origin("https", "mirror.example", 443) in registries.origins()
