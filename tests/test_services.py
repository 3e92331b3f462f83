"""Services: settings + backend built once; the executor is made only when first used."""

from __future__ import annotations

import os
import sys
import types

from delta3_core import accounts
from delta3_core.config import load_settings
from delta3_core.services import Services, build_services


def test_build_services_opens_the_backend_the_settings_choose(tmp_path):
    settings = load_settings(environ={"DELTA3_DATA_DIR": str(tmp_path)})
    services = build_services(settings)
    assert services.settings is settings
    user = accounts.register(services.backend, "ada@example.com", "correct horse 42")
    # a second process (another build) sees the same store
    again = build_services(load_settings(environ={"DELTA3_DATA_DIR": str(tmp_path)}))
    assert again.backend.records.get_user(user.user_id).email == "ada@example.com"
    assert "secret" not in repr(services).lower()


def test_build_services_reads_the_environment_by_default(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("DELTA3_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DELTA3_DATA_DIR", str(tmp_path))
    services = build_services()
    assert services.settings.data_dir == tmp_path
    assert (tmp_path / "secret_key").exists()


def test_the_executor_is_built_once_and_only_when_used(tmp_path, monkeypatch, backend):
    calls = []
    fake = types.ModuleType("delta3_core.executor")
    fake.make_executor = lambda settings, backend: calls.append((settings, backend)) or object()
    monkeypatch.setitem(sys.modules, "delta3_core.executor", fake)
    settings = load_settings(environ={"DELTA3_DATA_DIR": str(tmp_path)})
    services = Services(settings, backend)
    assert calls == []
    first = services.executor
    assert services.executor is first
    assert calls == [(settings, backend)]


def test_an_executor_can_be_given(tmp_path, backend):
    given = object()
    services = Services(load_settings(environ={"DELTA3_DATA_DIR": str(tmp_path)}), backend, executor=given)
    assert services.executor is given
