#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_basics.sh - the binary's command dispatch: help, version, unknown commands.
. "$(dirname "$0")/lib.sh"

out=$("$POOLPATCH" --help)
assert_contains "$out" "usage: poolpatch <command>" "--help"
assert_contains "$out" "version" "--help lists commands"
pass "help"

out=$("$POOLPATCH" version)
assert_contains "$out" "poolpatch 0." "version"
pass "version"

set +e
"$POOLPATCH" no-such-command >/dev/null 2>"$E2E_TMP/err"
rc=$?
set -e
assert_eq 2 "$rc" "exit status of an unknown command"
assert_contains "$(cat "$E2E_TMP/err")" "'no-such-command' is not a command" "unknown command message"
set +e
"$POOLPATCH" >/dev/null 2>&1
rc=$?
set -e
assert_eq 2 "$rc" "exit status without a command"
pass "unknown command"
