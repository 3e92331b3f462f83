"""The six tools, called the way the agent calls them: real workspace, real sandbox."""

from __future__ import annotations

import pytest

from delta3_core.tools import TOOLS, ToolContext, declarations, run_tool
from delta3_core.tools.base import make_tool
from delta3_core.workspace import Workspace
from tests.agent_helpers import add_user, make_services


@pytest.fixture
def ctx(tmp_path):
    services = make_services(tmp_path, quota_mb=1)
    yield ToolContext(services, add_user(services, "alice"))
    services.backend.records.close()


def call(ctx, name, **args):
    return run_tool(ctx, name, args)


def test_declarations_have_the_fixed_names_and_arguments():
    shapes = {d.name: (list(d.parameters.properties), d.parameters.required or []) for d in declarations()}
    assert shapes == {
        "execute_python": (["code"], ["code"]),
        "execute_shell": (["command"], ["command"]),
        "write_file": (["path", "content"], ["path", "content"]),
        "read_file": (["path"], ["path"]),
        "list_files": (["path"], []),
        "delete_file": (["path"], ["path"]),
    }
    for declaration in declarations():
        assert declaration.description and all(p.description for p in declaration.parameters.properties.values())
        assert all(p.type.name == "STRING" for p in declaration.parameters.properties.values())


def test_a_declaration_comes_from_the_signature_and_docstring():
    def resize(ctx: ToolContext, path: str, width: int, keep_ratio: bool = True) -> str:
        """Resize a picture.

        Args:
            path: The picture.
            width: New width
                in pixels.
            keep_ratio: Keep the aspect ratio.
        """
        return "ok"

    declaration = make_tool(resize).declaration
    assert declaration.description == "Resize a picture."
    props = declaration.parameters.properties
    assert [(n, p.type.name) for n, p in props.items()] == [("path", "STRING"), ("width", "INTEGER"),
                                                           ("keep_ratio", "BOOLEAN")]
    assert props["width"].description == "New width in pixels."
    assert props["keep_ratio"].description == "Keep the aspect ratio. Default: True."
    assert declaration.parameters.required == ["path", "width"]


def test_write_read_list_delete_round_trip(ctx):
    assert call(ctx, "write_file", path="src/app.py", content="print('hi')\n").text == "Wrote 12 bytes to src/app.py."
    assert call(ctx, "read_file", path="src/app.py").text == "print('hi')\n"
    listing = call(ctx, "list_files")
    assert listing.ok and "src/app.py (12 bytes)" in listing.text and "src/" in listing.text
    assert call(ctx, "list_files", path="src").text.splitlines() == ["src/", "src/app.py (12 bytes)"]
    assert call(ctx, "delete_file", path="src/app.py").text == "Deleted src/app.py."
    assert not Workspace(ctx.services.backend, ctx.user_id, 10**6).exists("src/app.py")


@pytest.mark.parametrize(("name", "args", "words"), [
    ("read_file", {"path": "missing.py"}, "missing.py"),
    ("read_file", {"path": "../../etc/passwd"}, "outside your workspace"),
    ("read_file", {"path": "/etc/passwd"}, "relative to your workspace"),
    ("write_file", {"path": "../escape.txt", "content": "x"}, "outside your workspace"),
    ("write_file", {"path": "big.bin", "content": "x" * (2 * 1024 * 1024)}, "workspace is full"),
    ("delete_file", {"path": "nothing-here.txt"}, "nothing-here.txt"),
    ("list_files", {"path": "no/such/folder"}, "no/such/folder"),
    ("write_file", {"path": "a.py"}, "needs the argument 'content'"),
    ("write_file", {"path": "a.py", "content": "x", "mode": "append"}, "no argument 'mode'"),
    ("read_file", {"path": ["a.py"]}, "must be text"),
    ("teleport", {}, "no tool named 'teleport'"),
])
def test_failures_become_readable_results_not_exceptions(ctx, name, args, words):
    result = run_tool(ctx, name, args)
    assert not result.ok and words in result.text


def test_arguments_that_are_not_an_object_are_refused(ctx):
    result = run_tool(ctx, "read_file", "a.py")
    assert not result.ok and "must be an object" in result.text


def test_binary_file_is_not_dumped_on_the_model(ctx):
    Workspace(ctx.services.backend, ctx.user_id, 10**6).write_bytes("image.bin", b"\x00\x01\x02" * 100)
    result = call(ctx, "read_file", path="image.bin")
    assert not result.ok and "binary" in result.text


def test_every_tool_is_registered_once():
    assert sorted(TOOLS) == sorted(["execute_python", "execute_shell", "write_file", "read_file", "list_files",
                                    "delete_file"])


@pytest.mark.sandbox
def test_execute_python_runs_in_the_workspace_and_reports_output_and_pictures(ctx):
    call(ctx, "write_file", path="data.txt", content="41")
    code = "n = int(open('data.txt').read()) + 1\nprint('answer', n)\nopen('chart.svg', 'w').write('<svg/>')"
    result = call(ctx, "execute_python", code=code)
    assert result.ok and "answer 42" in result.text and result.images == ["chart.svg"]
    assert Workspace(ctx.services.backend, ctx.user_id, 10**6).read_text("chart.svg") == "<svg/>"


@pytest.mark.sandbox
def test_failing_code_is_a_failed_result_with_the_traceback(ctx):
    result = call(ctx, "execute_python", code="1 / 0")
    assert not result.ok and "ZeroDivisionError" in result.text


@pytest.mark.sandbox
def test_execute_shell_runs_a_command(ctx):
    call(ctx, "write_file", path="notes.txt", content="one\ntwo\n")
    result = call(ctx, "execute_shell", command="wc -l notes.txt")
    assert result.ok and "2 notes.txt" in result.text
    failed = call(ctx, "execute_shell", command="exit 3")
    assert not failed.ok and "3" in failed.text
