"""deploy.sh and teardown.sh, run for real with fake `sam`/`aws` CLIs (and moto's server for the bucket)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import fields
from pathlib import Path

import boto3
import pytest

from delta3_core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "deploy-secret-0123456789-abcdefghijklmnop"
TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_PHONE_NUMBER": "+15550001111"}
OUTPUTS = {"TwilioWebhookUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook",
           "BucketName": "delta3-dev-bucket", "TableName": "delta3-dev-table", "KmsKeyId": "arn:aws:kms:k",
           "ExecutorFunctionName": "delta3-dev-executor",
           "ExecutorRoleArn": "arn:aws:iam::1:role/runs", "AppPolicyArn": "arn:aws:iam::1:policy/p",
           "AppUserName": "delta3-dev-appuser", "Region": "eu-west-1"}
FAKE_SAM = """#!/bin/sh
echo "sam $*" >> "$FAKE_LOG"
if [ "$1" = build ]; then (cd infrastructure/.build && find . | sort) > "$FAKE_LOG.staged"; fi
"""
FAKE_AWS = """#!/usr/bin/env python3
import os, re, sys
args = " ".join(sys.argv[1:])
open(os.environ["FAKE_LOG"], "a").write("aws " + args + "\\n")
outputs = dict(line.split("=", 1) for line in os.environ["FAKE_OUTPUTS"].split(";"))
key = re.search(r"OutputKey=='(\\w+)'", args)
if "list-access-keys" in args:
    print(os.environ.get("FAKE_ACCESS_KEYS", ""))
elif "delete-access-key" not in args:
    print(outputs.get(key.group(1), "None") if key else "(outputs table)")
"""


@pytest.fixture
def project(tmp_path):
    """A copy of the deployable parts of the repo, with fake sam/aws/python3.12 first on PATH."""
    root = tmp_path / "repo"
    for name in ("deploy.sh", "teardown.sh"):
        shutil.copy2(ROOT / name, root / name if root.exists() else _mkdir(root) / name)
    for package in ("infrastructure", "delta3_core", "sms_webhook", "executor_lambda"):
        source = ROOT / package
        if source.exists():
            shutil.copytree(source, root / package, ignore=shutil.ignore_patterns(".build", "__pycache__"))
        else:
            (root / package).mkdir()
    (root / "delta3_core" / "__pycache__").mkdir(exist_ok=True)  # must not be shipped
    bin_dir = _mkdir(tmp_path / "bin")
    for name, text in (("sam", FAKE_SAM), ("aws", FAKE_AWS), ("python3.12", "#!/bin/sh\n"),
                       ("docker", '#!/bin/sh\n[ -z "$FAKE_NO_DOCKER" ]\n')):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "FAKE_LOG": str(log),
           "FAKE_OUTPUTS": ";".join(f"{k}={v}" for k, v in OUTPUTS.items()), "PYTHON": sys.executable}
    return root, env, log


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(project, script, *args, env=None, stdin=""):
    root, base_env, _log = project
    return subprocess.run(["bash", str(root / script), *args], env={**base_env, **(env or {})}, input=stdin,
                          capture_output=True, text=True, timeout=60)


def calls(project) -> str:
    log = project[2]
    return log.read_text() if log.exists() else ""


@pytest.mark.parametrize("args", [[], ["Prod"], ["dev", "extra"], ["../x"]])
def test_deploy_refuses_a_bad_stage(project, args):
    result = run(project, "deploy.sh", *args)
    assert result.returncode == 2 and "usage:" in result.stderr
    assert calls(project) == ""


def test_deploy_names_every_missing_secret_and_deploys_nothing(project):
    result = run(project, "deploy.sh", "dev")
    assert result.returncode == 1
    for name in ("DELTA3_SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"):
        assert name in result.stderr
    assert "sam" not in calls(project)


def test_deploy_refuses_a_short_secret(project):
    result = run(project, "deploy.sh", "dev", env={"DELTA3_SECRET_KEY": "short", **TWILIO})
    assert result.returncode == 1 and "too short" in result.stderr
    assert "sam" not in calls(project)


def test_deploy_builds_deploys_and_prints_what_to_configure(project):
    root = project[0]
    (root / ".env.dev").write_text("".join(f'{k}="{v}"\n' for k, v in TWILIO.items()))
    result = run(project, "deploy.sh", "dev", env={"DELTA3_SECRET_KEY": SECRET})
    assert result.returncode == 0, result.stderr

    log = calls(project)
    build, deploy = (line for line in log.splitlines() if line.startswith("sam "))
    assert build.startswith("sam build --template-file infrastructure/template.yaml")
    assert "--stack-name delta3-dev" in deploy and "--capabilities CAPABILITY_IAM" in deploy
    assert f"SecretKey={SECRET}" in deploy and "TwilioPhoneNumber=+15550001111" in deploy
    assert "Stage=dev" in deploy

    staged = Path(str(project[2]) + ".staged").read_text().split()
    assert "./webhook/sms_webhook/__init__.py" in staged and "./webhook/delta3_core/config.py" in staged
    assert "./webhook/requirements.txt" in staged and "./executor/requirements.txt" in staged
    assert "./executor/executor_lambda" in staged and "./executor/executor_lambda/Dockerfile" in staged
    assert "--resolve-image-repos" in deploy  # the executor image needs an ECR repository
    assert not any("__pycache__" in path or "/tests" in path for path in staged)

    assert OUTPUTS["TwilioWebhookUrl"] in result.stdout
    assert 'DELTA3_BUCKET = "delta3-dev-bucket"' in result.stdout
    assert 'DELTA3_EXECUTOR_ROLE_ARN = "arn:aws:iam::1:role/runs"' in result.stdout
    assert 'DELTA3_PUBLIC_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"' in result.stdout
    assert "aws iam create-access-key --user-name delta3-dev-appuser" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_deploy_without_a_running_docker_says_the_executor_image_needs_it(project):
    result = run(project, "deploy.sh", "dev", env={"DELTA3_SECRET_KEY": SECRET, "FAKE_NO_DOCKER": "1", **TWILIO})
    assert result.returncode == 1 and "Docker" in result.stderr and "executor's container image" in result.stderr
    assert "sam" not in calls(project)


def test_executor_image_installs_the_requirements_and_runs_the_handler():
    dockerfile = (ROOT / "executor_lambda" / "Dockerfile").read_text()
    assert dockerfile.splitlines()[-1] == 'CMD ["executor_lambda.handler.handler"]'
    assert "FROM public.ecr.aws/lambda/python:3.12" in dockerfile and "/usr/local/bin/node" in dockerfile
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in dockerfile
    wanted = {"numpy", "pandas", "scipy", "sympy", "matplotlib", "requests", "pillow", "beautifulsoup4", "openpyxl",
              "lxml"}
    listed = {re.split(r"[<>=]", line)[0] for line in
              (ROOT / "infrastructure" / "requirements-executor.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert wanted <= listed


def test_environment_wins_over_the_stage_env_file(project):
    root = project[0]
    (root / ".env.dev").write_text(f"DELTA3_SECRET_KEY={'f' * 40}\n" + "".join(f"{k}={v}\n" for k, v in TWILIO.items()))
    assert run(project, "deploy.sh", "dev", env={"DELTA3_SECRET_KEY": SECRET}).returncode == 0
    assert f"SecretKey={SECRET}" in calls(project)


def test_env_example_lists_every_setting():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / "env.example").read_text(), re.M))
    missing = {f.metadata["env"] for f in fields(Settings)} - listed
    assert not missing, f"add to env.example: {sorted(missing)}"


def test_webhook_requirements_cover_the_runtime_ones_but_the_ui():
    def names(path):
        return {re.split(r"[<>=\[ ]", line.strip())[0].lower() for line in path.read_text().splitlines()
                if line.strip() and not line.startswith(("#", "-r"))}
    ui_only = {"streamlit", "streamlit-code-editor", "pyjwt", "waitress", "authlib"}  # authlib: st.login
    assert names(ROOT / "requirements.txt") - ui_only <= names(ROOT / "infrastructure" / "requirements-webhook.txt")


@pytest.fixture
def versioned_bucket(monkeypatch, moto_server):
    from tests.fixtures.storage import set_fake_aws_env

    set_fake_aws_env(monkeypatch, endpoint_url=moto_server)
    s3 = boto3.client("s3")
    name = f"teardown-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=name, Key="users/u1/workspace/a.py", Body=body)
    s3.delete_object(Bucket=name, Key="users/u1/workspace/a.py")  # leaves a delete marker
    return s3, name, {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def _versions(s3, bucket):
    listing = s3.list_object_versions(Bucket=bucket)
    return listing.get("Versions", []) + listing.get("DeleteMarkers", [])


def test_teardown_empties_every_version_then_deletes_the_stack(project, versioned_bucket):
    s3, bucket, aws_env = versioned_bucket
    assert len(_versions(s3, bucket)) == 3
    result = run(project, "teardown.sh", "dev", "--yes", env={
        **aws_env, "FAKE_OUTPUTS": f"BucketName={bucket};AppUserName=app-user", "FAKE_ACCESS_KEYS": "AKIA1\tAKIA2"})
    assert result.returncode == 0, result.stderr
    assert _versions(s3, bucket) == []
    log = calls(project)
    # IAM will not delete a user that still has access keys, so they go before the stack.
    assert log.index("delete-access-key --user-name app-user --access-key-id AKIA1") < log.index("sam delete")
    assert "--access-key-id AKIA2" in log
    assert "sam delete --stack-name delta3-dev --no-prompts" in log


def test_teardown_without_confirmation_deletes_nothing(project, versioned_bucket):
    s3, bucket, aws_env = versioned_bucket
    result = run(project, "teardown.sh", "dev", env={**aws_env, "FAKE_OUTPUTS": f"BucketName={bucket}"},
                 stdin="prod\n")
    assert result.returncode == 1 and "nothing deleted" in result.stdout
    assert len(_versions(s3, bucket)) == 3
    assert "sam delete" not in calls(project)


def _imports_reached(module: str) -> set[str]:
    """Top-level names of the non-repo modules imported by `module` and every repo module it reaches."""
    import ast

    seen, outside, todo = set(), set(), [module]
    while todo:
        name = todo.pop()
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        if name in seen or not path.exists():
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        fallbacks = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler)
                     and "ImportError" in ast.unparse(node.type or ast.Name("")) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in fallbacks:  # `except ImportError: import the_other_one`
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                top = target.split(".")[0]
                if (ROOT / top).is_dir():
                    todo.append(target)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    outside.add(top)
    return outside


def _installable(requirements: Path) -> set[str]:
    """Distributions a requirements file installs, with their dependencies (from installed metadata)."""
    from importlib.metadata import PackageNotFoundError, requires

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [re.split(r"[<>=\[ ;]", line.strip())[0] for line in requirements.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    found = set()
    while todo:
        name = norm(todo.pop())
        if name in found:
            continue
        found.add(name)
        with contextlib.suppress(PackageNotFoundError):
            todo += [re.split(r"[<>=!~\[ ;(]", r)[0] for r in requires(name) or () if "extra ==" not in r]
    return found


@pytest.mark.parametrize("handler, requirements", [("sms_webhook.aws_lambda", "requirements-webhook.txt"),
                                                   ("executor_lambda.handler", "requirements-executor.txt")])
def test_each_function_package_installs_what_its_code_imports(handler, requirements):
    from importlib.metadata import packages_distributions

    installs = _installable(ROOT / "infrastructure" / requirements)
    providers = packages_distributions()
    missing = {top for top in _imports_reached(handler)
               if not {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(top, [top])} & installs}
    assert not missing, f"the Lambda would fail to import {sorted(missing)}: add them to {requirements}"
