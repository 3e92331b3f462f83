"""Issue 15's "done when", as chat turns: the real agent loop, the real sandbox, a fake Gemini server."""

from __future__ import annotations

import pytest

from delta3_core.agent import chat
from delta3_core.workspace import Workspace
from tests.agent_helpers import add_user, errors, finished, make_services
from tests.fixtures.gemini import gemini_call, gemini_calls, gemini_text

pytestmark = pytest.mark.sandbox
pytest_plugins = ["tests.fixtures.package_index"]

PLOT_CSV = """import pandas as pd
import matplotlib.pyplot as plt
frame = pd.read_csv('sales.csv')
print(frame.describe().loc['mean'].round(1).to_dict())
frame.plot(x='month', y='sales', kind='bar', title='Sales')
plt.savefig('plot.png')
"""


@pytest.fixture
def services(tmp_path, require_sandbox):
    services = make_services(tmp_path, run_wall_s=120.0)
    yield services
    services.backend.records.close()


@pytest.fixture
def alice(services):
    return add_user(services, "alice", "key-alice")


def test_load_this_csv_with_pandas_and_plot_it(services, alice, fake_gemini):
    workspace = Workspace(services.backend, alice, services.settings.quota_bytes)
    workspace.write_text("sales.csv", "month,sales\nJan,10\nFeb,14\nMar,9\n")
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": PLOT_CSV})), gemini_text("Done."))
    events = list(chat(services, alice, "Load sales.csv with pandas and plot it"))
    done = finished(events)[0]
    assert done.ok and "{'sales': 11.0}" in done.result, done.result
    assert "Files changed: plot.png" in done.result and ".cache" not in done.result
    assert done.images == ["plot.png"] and not errors(events)
    assert workspace.read_bytes("plot.png").startswith(b"\x89PNG")
    assert sorted(f.path for f in services.backend.files.list_files(alice)) == ["plot.png", "sales.csv"]


def test_a_javascript_request_runs_under_node(services, alice, fake_gemini):
    script = "const xs = [3, 1, 2]; console.log(JSON.stringify(xs.sort()), process.version.startsWith('v'))"
    fake_gemini.enqueue(gemini_calls(gemini_call("write_file", {"path": "sort.js", "content": script})),
                        gemini_calls(gemini_call("execute_shell", {"command": "node sort.js"})), gemini_text("ok"))
    events = list(chat(services, alice, "Sort [3, 1, 2] in JavaScript"))
    ran = finished(events)[1]
    assert ran.ok and "[1,2,3] true" in ran.result, ran.result


def test_pip_install_then_use_it_across_turns(services, alice, fake_gemini, local_registries):
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_shell", {"command": "pip install delta3-demo"})),
                        gemini_text("Installed."))
    first = finished(list(chat(services, alice, "pip install delta3-demo")))[0]
    assert first.ok and "Successfully installed delta3-demo-1.0" in first.result, first.result
    code = "import delta3_demo\nprint(delta3_demo.VALUE)"
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": code})), gemini_text("It works."))
    second = finished(list(chat(services, alice, "now use it")))[0]
    assert "delta3-demo-1.0 from the local index" in second.result, second.result
    # and the network stays closed to anything but the registries
    probe = "import urllib.request\nurllib.request.urlopen('http://169.254.169.254/latest/meta-data/', timeout=5)"
    fake_gemini.enqueue(gemini_calls(gemini_call("execute_python", {"code": probe})), gemini_text("Refused."))
    third = finished(list(chat(services, alice, "read the metadata service")))[0]
    assert not third.ok and "403" in third.result
