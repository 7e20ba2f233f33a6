#!/usr/bin/env bash
# The coding agents the front port is tested with (tests/e2e/test_api_agents.py):
# Claude Code and Codex CLI from npm, pinned, into .cache/npm (git-ignored).
# Without npm (or without the registry) the tests that need them skip.
set -euo pipefail
cd "$(dirname "$0")/.."
CLAUDE_CODE="@anthropic-ai/claude-code@2.1.197"
CODEX="@openai/codex@0.171.0"
PREFIX=.cache/npm
if ! command -v npm >/dev/null; then
    echo "ensure-agents: npm not found; the Claude Code and Codex tests will skip" >&2
    exit 0
fi
stamp="$PREFIX/.installed-$(echo "$CLAUDE_CODE $CODEX" | tr -c 'a-zA-Z0-9.\n' '_')"
if [ -e "$stamp" ] && [ -x "$PREFIX/node_modules/.bin/claude" ] && [ -x "$PREFIX/node_modules/.bin/codex" ]; then
    exit 0
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error \
    "$CLAUDE_CODE" "$CODEX"
touch "$stamp"
