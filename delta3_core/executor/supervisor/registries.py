"""Which package registries code runs may reach: the ones this host's pip and npm are configured to use."""

from __future__ import annotations

import configparser
import functools
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PYPI = "https://pypi.org/simple"
PYPI_FILES = "https://files.pythonhosted.org"  # where pypi.org's index links its files
NPM = "https://registry.npmjs.org/"
PIP_CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.pip/pip.conf", "~/.config/pip/pip.conf")


@dataclass(frozen=True)
class Origin:
    """One scheme://host:port a run may reach; local=True when the operator named a local address."""

    scheme: str
    host: str
    port: int

    @property
    def local(self) -> bool:
        """True for a registry configured by an address rather than a name (a mirror on this network, say):
        the operator chose that address, so the proxy does not hold it to the public-address rule."""
        if self.host == "localhost":
            return True
        try:
            ipaddress.ip_address(self.host)
            return True
        except ValueError:
            return False


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL, or None for anything else (file:// indexes, typos)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return Origin(parts.scheme, parts.hostname.lower(), port)


def without_credentials(url: str) -> str:
    """`url` without a user:password@ part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@dataclass(frozen=True)
class Registries:
    """The pip index (and extra indexes) and the npm registry a run is pointed at."""

    pip_index: str = PYPI
    pip_extra: tuple[str, ...] = ()
    npm: str = NPM

    def origins(self) -> frozenset[Origin]:
        """Every origin pip and npm need for these registries (pypi.org also needs its file host)."""
        urls = [self.pip_index, *self.pip_extra, self.npm]
        if any((origin_of(url) or Origin("", "", 0)).host == "pypi.org" for url in urls):
            urls.append(PYPI_FILES)
        return frozenset(origin for origin in map(origin_of, urls) if origin is not None)

    def run_env(self, proxy_url: str | None) -> dict[str, str]:
        """What pip and npm inside a run need to find these registries (through `proxy_url` if given).

        Without credentials: a run can read its environment, and the operator's registry token is not its.
        """
        env = {"PIP_INDEX_URL": without_credentials(self.pip_index),
               "NPM_CONFIG_REGISTRY": without_credentials(self.npm)}
        if self.pip_extra:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(map(without_credentials, self.pip_extra))
        if proxy_url:
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                env[name] = proxy_url
        return env


@functools.cache
def configured_registries() -> Registries:
    """The registries of this host's pip (PIP_INDEX_URL, pip.conf) and npm (NPM_CONFIG_REGISTRY, npmrc).

    Read once per process. file:// indexes are left out: a run cannot see the host's folders.
    """
    pip = _pip_config()
    index = os.environ.get("PIP_INDEX_URL") or pip.get("index-url") or PYPI
    extra = (os.environ.get("PIP_EXTRA_INDEX_URL") or pip.get("extra-index-url") or "").split()
    if origin_of(index) is None:
        index = PYPI
    npm = os.environ.get("NPM_CONFIG_REGISTRY") or _npm_registry()  # npm itself reads npm_config_*
    return Registries(index, tuple(url for url in extra if origin_of(url)), npm if origin_of(npm) else NPM)


def _pip_config() -> dict[str, str]:
    """[global] then [install] settings of pip's config files, later files winning (as pip does)."""
    files = [*PIP_CONFIG_FILES, os.environ.get("PIP_CONFIG_FILE") or ""]
    parser = configparser.ConfigParser(interpolation=None)
    values: dict[str, str] = {}
    for name in filter(None, files):
        path = Path(name).expanduser()
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            continue
    for section in ("global", "install"):
        if parser.has_section(section):
            values.update(parser.items(section))
    return values


def _npm_registry() -> str:
    npm = shutil.which("npm")
    if npm is None:
        return NPM
    try:
        done = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return NPM
    return done.stdout.strip() or NPM
