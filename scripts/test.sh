#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite (lint, template lint, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
.venv/bin/ruff check .
if [ -f infrastructure/template.yaml ]; then
  .venv/bin/cfn-lint infrastructure/template.yaml
fi
exec .venv/bin/python -m pytest "$@"
