"""The Files page: listing, new/rename/delete, upload, previews, quota."""

from __future__ import annotations

import pytest

from delta3_core.storage.base import FileInfo
from delta3_core.web import files as webfiles
from delta3_core.workspace import Workspace, human_size
from tests.fixtures.web import click

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")

@pytest.fixture
def ws(web_services, web_user) -> Workspace:
    return Workspace(web_services.backend, web_user.user_id, web_services.settings.quota_bytes)


@pytest.fixture
def files_page(web_app, web_user):
    return lambda: web_app(user=web_user, page="app_pages/files.py")


def listed(at) -> list[str]:
    return list(at.dataframe[0].value["Path"])


def test_empty_workspace_says_what_to_do(files_page):
    at = files_page()
    assert "Your workspace is empty" in at.info[0].value
    assert "0 B of 200.0 MB used" in at.get("progress")[0].proto.text


def test_listing_shows_files_folders_sizes_and_quota(files_page, ws):
    ws.write_text("calculator.py", "x = 1\n" * 300)
    ws.make_dir("data")
    ws.write_text("data/a.txt", "hello")
    at = files_page()
    assert listed(at) == ["calculator.py", "data", "data/a.txt"]
    sizes = dict(zip(at.dataframe[0].value["Path"], at.dataframe[0].value["Size"], strict=True))
    assert sizes == {"calculator.py": "1.8 KB", "data": "", "data/a.txt": "5 B"}
    assert "1.8 KB of 200.0 MB used" in at.get("progress")[0].proto.text
    assert at.selectbox(key="open_choice").options == ["calculator.py", "data/a.txt"]


def test_new_file_and_folder(files_page, ws):
    at = files_page()
    at.text_input(key="new_name").input("notes.md")
    click(at, "Create file")
    assert ws.read_text("notes.md") == "" and at.selectbox(key="open_choice").value == "notes.md"
    at.selectbox(key="new_in").select(".")
    at.text_input(key="new_name").input("src")
    click(at, "Create folder")
    assert "src" in listed(at)
    at.selectbox(key="new_in").select("src")
    at.text_input(key="new_name").input("main.py")
    click(at, "Create file")
    assert ws.exists("src/main.py") and at.toast[0].value == "Created main.py."
    at.selectbox(key="new_in").select(".")
    at.text_input(key="new_name").input("notes.md")
    click(at, "Create file")
    assert at.error[0].value == "notes.md already exists."


def test_bad_names_are_refused_with_a_sentence(files_page, ws):
    at = files_page()
    at.text_input(key="new_name").input("../escape.py")
    click(at, "Create file")
    assert len(at.error) == 1 and at.error[0].value.endswith(".")
    assert [f.path for f in ws.list()] == []


def test_rename_and_delete_with_confirmation(files_page, ws):
    ws.write_text("a.py", "print(1)\n")
    ws.write_text("keep.py", "print(2)\n")
    at = files_page()
    at.selectbox(key="open_choice").select("a.py").run()
    at.text_input(key="rename_to").input("b.py")
    click(at, "Rename")
    assert not ws.exists("a.py") and ws.read_text("b.py") == "print(1)\n"
    assert at.selectbox(key="open_choice").value == "b.py"
    click(at, "Delete for good")  # the button inside the 'Delete' confirmation popover
    assert not ws.exists("b.py") and ws.exists("keep.py")
    assert at.toast[0].value == "Deleted b.py."


def test_upload_several_files_at_once(files_page, ws):
    at = files_page()
    uploader = at.file_uploader[0]
    uploader.upload("one.txt", b"1", "text/plain").upload("two.csv", b"x,y\n1,2\n", "text/csv").run()
    click(at, "Upload")
    assert ws.read_text("one.txt") == "1" and ws.read_text("two.csv") == "x,y\n1,2\n"
    assert at.toast[0].value == "Uploaded 2 files."


def test_previews_image_table_and_binary(files_page, ws):
    ws.write_bytes("pic.png", PNG)
    ws.write_text("table.csv", "name,score\nada,3\nbob,5\n")
    ws.write_bytes("blob.bin", b"\x00\x01\x02" * 10)
    at = files_page()
    at.selectbox(key="open_choice").select("pic.png").run()
    assert len(at.image) == 1
    at.selectbox(key="open_choice").select("table.csv").run()
    assert list(at.dataframe[1].value["score"]) == [3, 5]
    at.selectbox(key="open_choice").select("blob.bin").run()
    assert "binary file" in at.warning[0].value and "download" in at.warning[0].value
    assert any(b.label == "Download" for b in at.get("download_button"))


def test_helpers():
    assert human_size(0) == "0 B" and human_size(1536) == "1.5 KB" and human_size(3 * 1024**3) == "3.0 GB"
    assert webfiles.editor_language("src/app.py") == "python" and webfiles.editor_language("Makefile") == "makefile"
    assert webfiles.editor_language("x.unknown") == "text"
    rows = webfiles.listing_rows([FileInfo("d", 0, 0.0, True), FileInfo("d/f.py", 2048, 0.0)])
    assert rows[0]["Name"] == "d/" and rows[1]["Name"] == "\u2003\u2003f.py"
    assert rows[1]["Size"] == "2.0 KB" and rows[0]["Modified"].endswith("UTC")
    made = [FileInfo("__pycache__/m.pyc", 1, 9.0), FileInfo("m.py", 1, 5.0), FileInfo("a.py", 1, 1.0)]
    assert webfiles.default_file(made) == "m.py"  # newest, but not a compiled cache file
    assert webfiles.default_file([]) is None


def test_two_users_in_one_process_each_see_only_their_own_files(web_app, web_user, web_services, ws):
    from delta3_core import accounts
    from tests.fixtures.web import WEB_PASSWORD, WebUser

    other = accounts.register(web_services.backend, "bob@example.com", WEB_PASSWORD)
    Workspace(web_services.backend, other.user_id, web_services.settings.quota_bytes).write_text("bob.txt", "b")
    ws.write_text("ada.txt", "a")
    token = accounts.create_session(web_services.backend, other.user_id)
    bob = WebUser(other.user_id, other.email, WEB_PASSWORD, token)
    ada_page = web_app(user=web_user, page="app_pages/files.py")
    bob_page = web_app(user=bob, page="app_pages/files.py")
    assert listed(ada_page) == ["ada.txt"] and listed(bob_page) == ["bob.txt"]
    ada_page.run()  # after another user's run in the same process, still only her own files
    assert listed(ada_page) == ["ada.txt"]


def test_a_new_file_opens_even_when_another_file_was_open(files_page, ws):
    ws.write_text("old.py", "x = 1\n")
    at = files_page()
    assert at.selectbox(key="open_choice").value == "old.py"
    at.text_input(key="new_name").input("fresh.py")
    click(at, "Create file")
    assert at.selectbox(key="open_choice").value == "fresh.py"
    assert at.subheader[0].value == "fresh.py"
    at.selectbox(key="open_choice").select("old.py").run()  # and the menu still switches files
    assert at.subheader[0].value == "old.py"


def test_hidden_files_and_caches_stay_out_of_the_way_until_asked_for(files_page, ws):
    ws.write_text("app.py", "print(1)\n")
    ws.write_text(".config/matplotlib/fontlist.json", "{}")
    ws.write_bytes("__pycache__/app.cpython-311.pyc", b"\x00")
    ws.write_text(".delta3/python/lib/python3.11/site-packages/demo/__init__.py", "")  # pip install
    at = files_page()
    assert listed(at) == ["app.py"]
    assert at.selectbox(key="open_choice").options == ["app.py"]
    at.toggle(key="show_hidden").set_value(True).run()
    assert "__pycache__/app.cpython-311.pyc" in listed(at) and ".config/matplotlib/fontlist.json" in listed(at)
    assert ".delta3/python/lib/python3.11/site-packages/demo/__init__.py" in listed(at)


def test_target_folders_read_as_words(files_page, ws):
    ws.make_dir("src")
    at = files_page()
    assert at.selectbox(key="new_in").options == ["Top level of the workspace", "src/"]
