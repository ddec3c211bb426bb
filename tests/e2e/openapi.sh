#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/e2e/openapi.sh - the daemon's API against its OpenAPI document (docs/openapi.json):
# a real `poolpatch serve` and `poolpatch sim`; openapi_check.py compares the route table with
# the document and validates every request, answer and event of a whole session against it.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed"
start_sim "$SRCDIR/scenarios/small.json" --time-scale 600
start_serve
python3 "$SRCDIR/tests/e2e/openapi_check.py" "$SERVE_URL" "$(cat "$SERVE_TOKEN")" "$SRCDIR" \
    "$(sim_master_url small-pool)" "$SRCDIR/scenarios/demo-client-id.json" ||
    fail "the API does not match docs/openapi.json (see above)"
pass "every route documented; a whole session's requests, answers and events match docs/openapi.json"
stop_serve
