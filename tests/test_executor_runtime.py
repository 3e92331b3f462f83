"""pip and npm in the real sandbox (issue 15): installs from a local index through the registry proxy persist
per user, and the network stays closed to everything else. What every executor mode must do (libraries,
Node.js, memory limits, clean plot runs) is in test_executor_contract.py."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest

from delta3_core.executor.local.executor import LocalExecutor

pytestmark = pytest.mark.sandbox
pytest_plugins = ["tests.fixtures.package_index"]

@pytest.fixture
def roomy_executor(sandbox_settings, local_backend, require_sandbox):
    """The sandbox with room for real work (imports of big libraries, pip) on a busy 2-core machine."""
    return LocalExecutor(replace(sandbox_settings, run_wall_s=120.0, run_memory_mb=512), local_backend)


def test_pip_install_persists_to_the_next_run_and_stays_invisible_to_another_user(
        roomy_executor, local_backend, local_registries):
    installed = roomy_executor.run("alice", "shell", "pip install delta3-demo")
    assert installed.ok and "Successfully installed delta3-demo-1.0" in installed.stdout, installed
    assert any(path.startswith(".delta3/python/") for path in installed.files_changed)
    from delta3_core.executor.local.zygote import POOL

    POOL.clear()  # as after a restart: nothing of the install run is left but the workspace
    used = roomy_executor.run("alice", "python", "import delta3_demo; print(delta3_demo.VALUE)")
    assert used.stdout == "delta3-demo-1.0 from the local index\n", used
    other = roomy_executor.run("bob", "python", "import delta3_demo")
    assert "ModuleNotFoundError" in other.stderr
    assert local_registries.requests.count(f"/files/{'delta3_demo-1.0-py3-none-any.whl'}") == 1


def test_pip_install_from_python_through_subprocess_works(roomy_executor, local_registries):
    code = ("import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'delta3-demo'],"
            " check=True)\nprint(subprocess.run([sys.executable, '-c', 'import delta3_demo; print(delta3_demo.VALUE)'],"
            " capture_output=True, text=True).stdout, end='')")
    result = roomy_executor.run("alice", "python", code)
    assert result.stdout == "delta3-demo-1.0 from the local index\n", result


def test_npm_install_persists_to_the_next_run_and_stays_invisible_to_another_user(roomy_executor, local_registries):
    installed = roomy_executor.run("alice", "shell", "npm install -g delta3-demo")
    assert installed.ok, installed
    assert ".delta3/npm/lib/node_modules/delta3-demo/index.js" in installed.files_changed
    used = roomy_executor.run("alice", "shell", "node -e 'console.log(require(\"delta3-demo\"))'")
    assert used.stdout == "delta3-demo 1.0.0 from the local registry\n", used
    other = roomy_executor.run("bob", "shell", "node -e 'require(\"delta3-demo\")'")
    assert other.exit_code != 0 and "Cannot find module" in other.stderr


def test_everything_but_the_registries_stays_closed(roomy_executor, local_registries, other_server):
    code = f"""
import socket, urllib.request, urllib.error
def fetch(url, **kw):
    try:
        return 'open ' + urllib.request.urlopen(url, timeout=10, **kw).read()[:40].decode()
    except urllib.error.HTTPError as e:
        return f'refused {{e.code}}'
    except OSError as e:
        return 'closed'
print(fetch({local_registries.pip_index!r}))
print(fetch('http://169.254.169.254/latest/meta-data/'))
print(fetch({other_server!r}))
print(fetch({local_registries.url + '/redirect/' + other_server + '/'!r}))
print(fetch('https://example.com/'))
no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
try:
    no_proxy.open({other_server!r}, timeout=5); print('direct open')
except OSError:
    print('direct closed')
for host in ('169.254.169.254', '1.1.1.1'):
    try:
        socket.create_connection((host, 80), timeout=2); print('direct open')
    except OSError:
        print('direct closed')
"""
    result = roomy_executor.run("alice", "python", code)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("open <a href"), result
    assert lines[1:4] == ["refused 403"] * 3, result  # metadata, host loopback, redirect from the registry
    assert lines[4] in ("refused 403", "closed"), result  # another host: the tunnel is refused
    assert lines[5:] == ["direct closed"] * 3, result
    assert "secret" not in result.stdout


@pytest.mark.skipif(os.environ.get("DELTA3_TEST_REAL_REGISTRY") != "1",
                    reason="set DELTA3_TEST_REAL_REGISTRY=1 to install from this host's real registries")
def test_pip_and_npm_install_from_the_real_registries(roomy_executor):
    command = ("pip install -q tomli-w && python3 -c 'import tomli_w; print(tomli_w.dumps({\"a\": 1}))'"
               " && npm install -g -s is-number && node -e 'console.log(require(\"is-number\")(5))'")
    result = roomy_executor.run("alice", "shell", command)
    assert result.stdout.split() == ["a", "=", "1", "true"], result
    assert any(path.startswith(".delta3/python/") for path in result.files_changed)
    assert any(path.startswith(".delta3/npm/") for path in result.files_changed)


def wait_for_waiting_sandbox(user: str) -> None:
    """Block until the sandbox for `user`'s next run has been started ahead (it starts in the background)."""
    from delta3_core.executor.local.zygote import POOL

    for _ in range(3000):
        with POOL._lock:
            if any(key[0] == user for key in POOL._waiting):
                return
        time.sleep(0.01)
    raise AssertionError(f"no sandbox was started ahead for {user}")


def test_a_pandas_run_leaves_that_users_next_sandbox_with_pandas_imported(roomy_executor):
    roomy_executor.run("alice", "python", "import pandas as pd\nprint(pd.DataFrame({'a': [1]}).shape)")
    wait_for_waiting_sandbox("alice")
    check = "import sys\nprint('pandas' in sys.modules, [n for n in dir() if not n.startswith('__')])"
    assert roomy_executor.run("alice", "python", check).stdout == "True ['sys']\n"  # and a clean namespace
    assert roomy_executor.run("bob", "python", check).stdout == "False ['sys']\n"


def test_a_workspace_module_named_like_a_library_is_imported_as_a_fresh_python_would(roomy_executor):
    roomy_executor.run("alice", "python", "open('numpy.py', 'w').write('VALUE = \"mine\"')\nimport numpy")
    wait_for_waiting_sandbox("alice")
    result = roomy_executor.run("alice", "python", "import numpy\nprint(numpy.VALUE)")
    assert result.stdout == "mine\n", result


def test_a_pth_file_among_installed_packages_runs_only_inside_its_users_run(roomy_executor):
    # .pth files of pip-installed packages run code at interpreter start: never in a sandbox waiting unsupervised
    code = ("import os, site\nfolder = site.getusersitepackages()\nos.makedirs(folder)\n"
            "open(os.path.join(folder, 'log.pth'), 'w')"
            ".write(\"import os; open('/workspace/pth.log', 'a').write('ran ')\")")
    roomy_executor.run("alice", "python", code)
    wait_for_waiting_sandbox("alice")
    result = roomy_executor.run("alice", "python", "print(open('pth.log').read())")
    assert result.stdout == "ran \n" and "pth.log" in result.files_changed, result
