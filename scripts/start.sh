#!/usr/bin/env bash
# Set up and start the web app on the embedded default (SQLite + local folders + local sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
exec .venv/bin/streamlit run streamlit_app.py "$@"
