"""The SAM template: cfn-lint clean (pinned, offline), and it gives the code every setting AWS mode reads."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import cfnlint.version
import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.decode import decode

from delta3_core.bootstrap import NONCURRENT_VERSION_DAYS
from delta3_core.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infrastructure" / "template.yaml"
# Settings nothing reads in AWS mode, and why; every other Settings field must reach the webhook function.
NOT_READ_IN_AWS_MODE = {
    "DELTA3_UNSAFE_NO_SANDBOX": "opts out of the local bubblewrap sandbox; the Lambda executor ignores it",
    "DELTA3_OLD_SECRET_KEYS": "old secrets of the local AES-GCM key cipher; AWS mode encrypts keys with KMS",
    "TWILIO_API_BASE_URL": "points the Twilio client at a local fake in tests",
}
# Read from the environment by code outside Settings, and needed in AWS mode.
READ_OUTSIDE_SETTINGS: dict[str, str] = {}
# Read by the executor itself, where Lambda's defaults are right, or set by the code on a run's own environment.
EXECUTOR_INTERNAL = {"DELTA3_LAMBDA_TMP_ROOT", "DELTA3_SANDBOX_PYTHON", "DELTA3_RUN_MARKER"}
SECRET_ENV = {f.metadata["env"] for f in fields(Settings) if f.metadata.get("secret")}
SETTINGS_ENV = {f.metadata["env"] for f in fields(Settings)}


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return parsed


def resources(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def lint(path: Path) -> list[str]:
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def test_cfn_lint_is_the_pinned_version():
    pin = re.search(r"^cfn-lint==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M).group(1)
    assert cfnlint.version.__version__ == pin


def test_cfn_lint_checks_the_executor_after_the_sam_transform(tmp_path):
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("TenantIsolationMode: PER_TENANT", "TenantIsolationMode: SHARED"))
    assert any("SHARED" in problem for problem in lint(broken))


def _resolve(value, template):
    """Render an intrinsic to a sample string, as CloudFormation would with default parameters."""
    if isinstance(value, dict):
        (fn, arg), = value.items()
        if fn == "Ref":
            parameter = template["Parameters"].get(arg)
            return str(parameter.get("Default", f"sample-{arg}")) if parameter else f"{arg}-physical-id"
        if fn == "Fn::GetAtt":
            return f"arn:aws:service:eu-west-1:123456789012:{arg[0]}"
        if fn == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: f"{m.group(1)}-value", arg)
        if fn == "Fn::If":
            return _resolve(arg[2], template)  # the no-custom-domain branch
        raise AssertionError(f"unexpected intrinsic {fn}")
    return str(value)


def webhook_environment(template) -> dict[str, str]:
    variables = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    return {name: _resolve(value, template) for name, value in variables.items()}


def test_webhook_function_gets_every_setting_aws_mode_reads(template):
    read_in_aws_mode = (SETTINGS_ENV | set(READ_OUTSIDE_SETTINGS)) - set(NOT_READ_IN_AWS_MODE)
    missing = read_in_aws_mode - set(webhook_environment(template))
    assert not missing, f"add to WebhookFunction Environment: {sorted(missing)}"


def test_every_delta3_variable_in_the_code_is_accounted_for():
    sources = [p for folder in ("delta3_core", "sms_webhook", "executor_lambda") for p in (ROOT / folder).rglob("*.py")]
    used = {name for path in sources for name in re.findall(r"[\"'](DELTA3_[A-Z0-9_]+)[\"']", path.read_text())}
    known = SETTINGS_ENV | set(READ_OUTSIDE_SETTINGS) | EXECUTOR_INTERNAL
    assert used - known == set(), "a new variable: add it to Settings (or here) and to the template"


def test_webhook_environment_loads_as_aws_mode_settings(template):
    environment = webhook_environment(template)
    environment.update(DELTA3_SECRET_KEY="s" * 40, TWILIO_AUTH_TOKEN="t" * 32)  # NoEcho parameters
    settings = load_settings(environ=environment)
    assert (settings.backend, settings.executor) == ("aws", "lambda")
    assert settings.bucket == "WorkspaceBucket-physical-id"
    assert settings.executor_function == "ExecutorFunction-physical-id"
    assert settings.public_url.startswith("https://HttpApi-value.execute-api.")


def test_secrets_are_noecho_parameters(template):
    variables = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    for name in SECRET_ENV & set(variables):
        parameter = variables[name]["Ref"]
        assert template["Parameters"][parameter]["NoEcho"] is True, name


def test_executor_is_per_tenant_and_holds_nothing(template):
    executor = template["Resources"]["ExecutorFunction"]["Properties"]
    assert executor["TenancyConfig"] == {"TenantIsolationMode": "PER_TENANT"}
    assert executor["PackageType"] == "Image" and "Runtime" not in executor and "Handler" not in executor
    metadata = template["Resources"]["ExecutorFunction"]["Metadata"]
    assert metadata["DockerContext"] == ".build/executor"
    assert metadata["Dockerfile"] == "executor_lambda/Dockerfile" and (ROOT / metadata["Dockerfile"]).is_file()
    assert executor["MemorySize"] == {"Ref": "ExecutorMemorySize"}
    assert executor["Timeout"] == {"Ref": "ExecutorTimeout"}
    assert executor["EphemeralStorage"] == {"Size": {"Ref": "ExecutorEphemeralStorage"}}
    variables = executor.get("Environment", {}).get("Variables", {})
    setting_names = {f.metadata["env"] for f in fields(Settings)}
    assert not setting_names & set(variables), "code run by the executor can read its environment"

    role = template["Resources"][executor["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert "ManagedPolicyArns" not in role
    actions = {a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}


def _list(value):
    return value if isinstance(value, list) else [value]


def _iam_statements(template):
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [properties.get("PolicyDocument")] + [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield name, statement


def test_no_identity_policy_allows_wildcard_actions_or_resources(template):
    for name, statement in _iam_statements(template):
        if statement["Effect"] != "Allow":
            continue
        assert all("*" not in a.split(":")[1] for a in _list(statement["Action"])), name
        assert "*" not in _list(statement["Resource"]), name


def test_app_policy_scopes_each_service(template):
    statements = {s["Sid"]: s for s in template["Resources"]["AppPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["WorkspaceObjects"]["Resource"] == {"Fn::Sub": "${WorkspaceBucket.Arn}/users/*"}
    assert set(statements["GeminiKeysBoundToAUser"]["Action"]) == {"kms:Encrypt", "kms:Decrypt"}
    assert statements["GeminiKeysBoundToAUser"]["Condition"] == {"Null": {"kms:EncryptionContext:user_id": "false"}}
    assert statements["RunCode"]["Resource"] == {"Fn::GetAtt": ["ExecutorFunction", "Arn"]}
    assert statements["MintOneUsersRunCredentials"] == {
        "Sid": "MintOneUsersRunCredentials", "Effect": "Allow", "Action": "sts:AssumeRole",
        "Resource": {"Fn::GetAtt": ["WorkspaceAccessRole", "Arn"]}}
    webhook_role = template["Resources"]["WebhookRole"]["Properties"]
    assert webhook_role["ManagedPolicyArns"] == [{"Ref": "AppPolicy"}]


def test_run_credentials_role_reaches_only_workspaces_and_only_tagged_principals_assume_it(template):
    role = template["Resources"]["WorkspaceAccessRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert {a.split(":")[0] for s in statements for a in _list(s["Action"])} == {"s3"}
    assert statements[0]["Resource"] == {"Fn::Sub": "${WorkspaceBucket.Arn}/users/*"}
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    tag = {"aws:PrincipalTag/delta3-app": {"Ref": "AWS::StackName"}}
    assert trust["Condition"] == {"StringEquals": tag}
    for principal in ("WebhookRole", "AppUser"):
        tags = template["Resources"][principal]["Properties"]["Tags"]
        assert {"Key": "delta3-app", "Value": {"Ref": "AWS::StackName"}} in tags


def test_data_resources_match_what_bootstrap_creates(template):
    bucket = template["Resources"]["WorkspaceBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert template["Parameters"]["NoncurrentVersionDays"]["Default"] == NONCURRENT_VERSION_DAYS

    table = template["Resources"]["Table"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert template["Resources"]["GeminiKeysKey"]["Properties"]["EnableKeyRotation"] is True


def test_api_opens_only_the_endpoints_aws_mode_uses(template):
    routes = {r["Properties"]["RouteKey"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()}
    # Not /media/{token}: on AWS, MMS images are S3 presigned URLs, so that route stays closed.
    assert routes == {"POST /twilio/webhook", "GET /healthz", "ANY /auth/{proxy+}", "ANY /chat/{proxy+}",
                      "ANY /files/{proxy+}", "GET /models", "GET /openapi.json", "GET /docs/{proxy+}"}


def test_every_rest_api_operation_has_a_route(template):
    from delta3_core.api import load_operations
    from delta3_core.api.openapi import build_document

    routes = [r["Properties"]["RouteKey"].split(" ") for r in resources(template, "AWS::ApiGatewayV2::Route").values()]

    def routed(method: str, path: str) -> bool:
        return any(m in ("ANY", method.upper()) and (p == path or (p.endswith("/{proxy+}") and
                   path.startswith(p[: -len("{proxy+}")]))) for m, p in routes)

    document = build_document(load_operations())
    unrouted = [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
                if not routed(method, path)]
    assert unrouted == [], "add an HTTP API route for these operations"


def test_outputs_give_the_app_its_settings(template):
    assert {"TwilioWebhookUrl", "BucketName", "TableName", "KmsKeyId", "ExecutorFunctionName", "ExecutorRoleArn",
            "AppPolicyArn", "Region"} <= set(template["Outputs"])
    assert template["Outputs"]["TwilioWebhookUrl"]["Value"]["Fn::If"][2]["Fn::Sub"].endswith("/twilio/webhook")


def test_each_handler_exists_in_the_code_deploy_sh_stages_for_it(template):
    staged = dict((fn, packages.split()) for fn, packages in
                  re.findall(r"^stage_code (\w+) (.+)$", (ROOT / "deploy.sh").read_text(), re.M))
    for resource in resources(template, "AWS::Serverless::Function").values():
        properties = resource["Properties"]
        if properties.get("PackageType") == "Image":  # the handler is the image's CMD
            cmd = re.search(r'^CMD \["(.+)"\]$', (ROOT / resource["Metadata"]["Dockerfile"]).read_text(), re.M)
            module, function = cmd.group(1).rsplit(".", 1)
            code_folder = resource["Metadata"]["DockerContext"].removeprefix(".build/")
        else:
            module, function = properties["Handler"].replace("/", ".").rsplit(".", 1)
            code_folder = properties["CodeUri"].removeprefix(".build/")
        source = ROOT / (module.replace(".", "/") + ".py")
        assert re.search(rf"^def {function}\(", source.read_text(), re.M), module
        assert module.split(".")[0] in staged[code_folder] and "delta3_core" in staged[code_folder]
