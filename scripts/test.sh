#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite (lint, template lint, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
.venv/bin/ruff check .
if [ -f infrastructure/template.yaml ]; then
  .venv/bin/cfn-lint --regions us-east-1 eu-west-1 --include-checks I -- infrastructure/template.yaml
fi
.venv/bin/python -m pytest "$@"
# A whole run also proves google-genai's lower bound: the Gemini tests again at exactly that version.
if [ "$#" -eq 0 ]; then
  exec scripts/test-genai-floor.sh
fi
