"""Settings: read once from the environment (then st.secrets); bad values name the setting."""

from __future__ import annotations

import stat
import threading

import pytest

from delta3_core.config import SECRET_FILE_NAME, load_settings
from delta3_core.errors import ConfigError

GOOD_SECRET = "k3-Gx9vQ2mZr7Lp0aWc8YtBn5Hd1Fs6Je4U"


def env(tmp_path, **values: str) -> dict[str, str]:
    """An environment with this test's data dir plus `values`."""
    return {"DELTA3_DATA_DIR": str(tmp_path), **values}


def test_defaults_are_the_embedded_local_mode(tmp_path):
    settings = load_settings(environ=env(tmp_path))
    assert settings.backend == "local" and settings.executor == "local"
    assert settings.data_dir == tmp_path
    assert settings.quota_bytes == 200 * 1024 * 1024
    assert settings.sandbox_network is False


def test_values_are_parsed(tmp_path):
    settings = load_settings(environ=env(tmp_path, DELTA3_BACKEND=" LOCAL ", DELTA3_QUOTA_MB="5",
                                         DELTA3_SANDBOX_NETWORK="yes", DELTA3_RUN_WALL_SECONDS="2.5",
                                         DELTA3_PUBLIC_URL="https://delta3.example.com/"))
    assert settings.backend == "local" and settings.quota_bytes == 5 * 1024 * 1024
    assert settings.sandbox_network is True and settings.run_wall_s == 2.5
    assert settings.public_url == "https://delta3.example.com"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("DELTA3_BACKEND", "mongodb", "must be one of local, aws"),
    ("DELTA3_EXECUTOR", "docker", "must be one of local, lambda"),
    ("DELTA3_QUOTA_MB", "lots", "whole number"),
    ("DELTA3_QUOTA_MB", "0", "at least 1"),
    ("DELTA3_SANDBOX_NETWORK", "maybe", "true or false"),
    ("DELTA3_RUN_WALL_SECONDS", "-3", "positive"),
    ("DELTA3_RUN_WALL_SECONDS", "nan", "finite"),
    ("DELTA3_MODEL_TIMEOUT", "inf", "finite"),
    ("DELTA3_RUN_MEMORY_MB", "1.5", "whole number"),
])
def test_an_invalid_setting_is_an_error_that_names_it(tmp_path, name, value, says):
    with pytest.raises(ConfigError, match=says) as error:
        load_settings(environ=env(tmp_path, **{name: value}))
    assert name in str(error.value)


@pytest.mark.parametrize("missing", ["DELTA3_BUCKET", "DELTA3_TABLE", "DELTA3_KMS_KEY_ID", "DELTA3_SECRET_KEY"])
def test_aws_mode_names_each_missing_resource(tmp_path, missing):
    values = {"DELTA3_BACKEND": "aws", "DELTA3_BUCKET": "b", "DELTA3_TABLE": "t", "DELTA3_KMS_KEY_ID": "alias/k",
              "DELTA3_SECRET_KEY": GOOD_SECRET}
    del values[missing]
    with pytest.raises(ConfigError, match=f"{missing} must be set"):
        load_settings(environ=env(tmp_path, **values))


def test_lambda_executor_needs_its_function_and_the_aws_backend(tmp_path):
    with pytest.raises(ConfigError, match="DELTA3_EXECUTOR_FUNCTION"):
        load_settings(environ=env(tmp_path, DELTA3_EXECUTOR="lambda"))
    with pytest.raises(ConfigError, match="DELTA3_BACKEND=aws"):
        load_settings(environ=env(tmp_path, DELTA3_EXECUTOR="lambda", DELTA3_EXECUTOR_FUNCTION="run"))


# ---------------------------------------------------------------- the master secret

def test_secret_key_is_generated_0600_on_first_run_and_reused(tmp_path):
    data_dir = tmp_path / "fresh"
    first = load_settings(environ=env(data_dir))
    path = data_dir / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert len(first.secret_key) >= 32 and path.read_text().strip() == first.secret_key
    assert load_settings(environ=env(data_dir)).secret_key == first.secret_key
    assert load_settings(environ=env(tmp_path / "other")).secret_key != first.secret_key


def test_processes_starting_at_once_agree_on_one_secret(tmp_path):
    for round_ in range(20):
        data_dir = tmp_path / f"round{round_}"
        results: list[object] = []
        barrier = threading.Barrier(6)

        def start(data_dir=data_dir, results=results, barrier=barrier):
            barrier.wait()
            try:
                results.append(load_settings(environ=env(data_dir)).secret_key)
            except Exception as exc:  # an error here is what the test looks for
                results.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, str) for r in results), results
        assert len(set(results)) == 1


@pytest.mark.parametrize(("secret", "says"), [
    ("changeme", "well-known default"),
    ("  CHANGEME ", "well-known default"),
    ("short-but-random-9", "too short"),
])
def test_a_weak_secret_key_is_refused(tmp_path, secret, says):
    with pytest.raises(ConfigError, match=says) as error:
        load_settings(environ=env(tmp_path, DELTA3_SECRET_KEY=secret))
    assert "DELTA3_SECRET_KEY" in str(error.value)
    assert secret.strip() not in str(error.value)


def test_a_weak_or_empty_secret_file_is_refused(tmp_path):
    (tmp_path / SECRET_FILE_NAME).write_text("changeme\n")
    with pytest.raises(ConfigError, match="well-known default"):
        load_settings(environ=env(tmp_path))
    (tmp_path / SECRET_FILE_NAME).write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(environ=env(tmp_path))


def test_the_environment_secret_wins_over_the_file(tmp_path):
    (tmp_path / SECRET_FILE_NAME).write_text("file-secret-" + "Zq8" * 12)
    assert load_settings(environ=env(tmp_path, DELTA3_SECRET_KEY=GOOD_SECRET)).secret_key == GOOD_SECRET


# ---------------------------------------------------------------- st.secrets and repr

def test_streamlit_secrets_fill_in_what_the_environment_leaves_unset(tmp_path):
    secrets = {"DELTA3_MODEL": "gemini-2.5-pro", "DELTA3_QUOTA_MB": 7, "DELTA3_BACKEND": "aws"}
    settings = load_settings(environ=env(tmp_path, DELTA3_BACKEND="local"), secrets=secrets)
    assert settings.model == "gemini-2.5-pro" and settings.quota_mb == 7
    assert settings.backend == "local"  # the environment wins


def test_missing_streamlit_secrets_file_is_not_an_error(tmp_path):
    class NoSecretsFile:
        def get(self, name):
            raise FileNotFoundError("No secrets.toml found")

    assert load_settings(environ=env(tmp_path), secrets=NoSecretsFile()).backend == "local"


def test_invalid_value_in_streamlit_secrets_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="DELTA3_QUOTA_MB"):
        load_settings(environ=env(tmp_path), secrets={"DELTA3_QUOTA_MB": "big"})


def test_repr_never_shows_secrets(tmp_path):
    settings = load_settings(environ=env(tmp_path, DELTA3_SECRET_KEY=GOOD_SECRET, TWILIO_AUTH_TOKEN="tw-token-123",
                                         DELTA3_OLD_SECRET_KEYS="old-secret-" + "Pq7" * 12))
    text = repr(settings)
    assert GOOD_SECRET not in text and "tw-token-123" not in text and "Pq7Pq7" not in text
    assert "backend='local'" in text
