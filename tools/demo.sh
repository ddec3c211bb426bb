#!/bin/sh
# tools/demo.sh BUILD - the main job on simulated pools (grows with the engine).
set -eu
B="$1"
"$B/poolpatch" version
