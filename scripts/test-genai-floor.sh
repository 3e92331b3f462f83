#!/usr/bin/env bash
# Run the Gemini tests again with the oldest google-genai that requirements.txt allows, so the lower
# bound is proven rather than guessed. A small venv holds only that google-genai and borrows every
# other package from .venv (a .pth file; a venv's own site-packages comes first, so its copy wins).
set -euo pipefail
cd "$(dirname "$0")/.."
floor=$(sed -n 's/^google-genai>=\([0-9][0-9.]*\).*/\1/p' requirements.txt)
[ -n "$floor" ] || { echo "requirements.txt has no google-genai>=X.Y line" >&2; exit 1; }
venv=.venv-genai-floor
if [ ! -x "$venv/bin/python" ]; then
  .venv/bin/python -m venv "$venv"
fi
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
purelib .venv/bin/python > "$(purelib "$venv/bin/python")/delta3-shared.pth"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "google-genai==$floor"
echo "Gemini tests with google-genai $floor:"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_fake_gemini.py \
  tests/test_models.py tests/test_agent.py tests/test_agent_errors.py tests/test_webhook_chat.py \
  tests/test_web_chat.py tests/test_api_models.py "$@"
