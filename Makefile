# poolpatch - the README's commands.  Every target first installs missing Debian 12 packages
# (tools/deps.sh: apt-get as root, otherwise it prints the command and stops).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
MESON_OPTS ?=
# Tests run at once by check, asan, tsan and coverage: 2, the CI machine's cores.  Most e2e
# tests wait on the simulator and the daemon rather than compute (CPU seconds in wall seconds:
# e2e-rollout_faults 12.5 in 43, e2e-upgrade_faults 50 in 120), so `make check TEST_PROCS=3` may
# finish sooner on an otherwise idle machine; the tests' time bounds were set with 2.
TEST_PROCS ?= 2

.PHONY: all deps build check asan tsan bench demo demo-upgrade lint fuzz clean install deb torture faults coverage

all: build

deps:
	@tools/deps.sh

$(BUILD)/build.ninja:
	@tools/deps.sh
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	@tools/deps.sh
	ninja -C $(BUILD)

# The whole test suite: the structure checks, unit, simulator conformance, end-to-end.
check: build
	tools/check-layering.sh
	tools/check-banned.sh
	tools/check-funclen.sh
	meson test -C $(BUILD) --print-errorlogs --num-processes $(TEST_PROCS)
	@tools/test-summary.sh $(BUILD)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.  Left out (ASAN_SKIP):
# the runs whose cost is repetition of paths the rest already covers under the sanitizers: the
# browser suite (Chromium's time), crash_resume and the HTTP / bench-16 tortures (many restarts of
# the same daemon; the in-process demo torture stays), packaging (a .deb of the same binary), the
# fault matrix over HTTP (the in-process fault-matrix runs the same cells under the sanitizers) and
# the windows test (its daemon clock runs 300x: a 15-minute window is 3 real seconds, which the
# sanitizers' slowdown misses; the window logic's unit tests run here), and the upgrade's fault
# and chained-updates runs (upgrade_faults, upgrade_updates: about 5 minutes of waiting on the
# simulator's installers; the upgrade executor's paths run here in unit-exec_upgrade, e2e-upgrade
# and e2e-upgrade_ha), and two runs that mostly wait on scaled simulator time: rollout_verify (a
# cancel that fails then is retried, a live patch that does not take; the same executor paths run
# under the sanitizers in the in-process fault-matrix) and master_first (the order of a rollout's
# hosts; unit-exec_* check it in-process): about 3.5 minutes of the ASan pass.
# `make asan ASAN_SKIP=` runs everything.
ASAN_SKIP ?= browser-ui e2e-crash_resume torture-http torture-exec-bench16 e2e-packaging \
  fault-matrix-http e2e-windows e2e-upgrade_faults e2e-upgrade_updates e2e-rollout_verify \
  e2e-master_first
asan:
	@tools/deps.sh
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes $(TEST_PROCS) --timeout-multiplier 3 \
	  $$(meson test -C $(ASAN_BUILD) --list 2>/dev/null | grep ' / ' | sed 's|^.* / ||' | \
	     grep -vxF -e NONE $(ASAN_SKIP:%=-e %))
	@tools/test-summary.sh $(ASAN_BUILD)

# The suite under ThreadSanitizer (data races, lock order); a race stops the test that hit it.
# Left out: crash_resume and the bench-16 torture (40 kills each, ~10x slower under TSan: their CPU
# time belongs to make check) and packaging (a release build, no threads of ours).  TSAN_ONLY (a grep -E
# pattern on test names) narrows the run: CI uses '^(unit|sim|fuzz)-' to stay within its time.
TSAN_SKIP ?= e2e-crash_resume e2e-packaging torture-exec-bench16
TSAN_ONLY ?= .
tsan:
	@tools/deps.sh
	[ -f $(TSAN_BUILD)/build.ninja ] || meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
	ninja -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:exitcode=66 \
	  meson test -C $(TSAN_BUILD) --print-errorlogs --num-processes $(TEST_PROCS) --timeout-multiplier 5 \
	  $$(meson test -C $(TSAN_BUILD) --list 2>/dev/null | grep ' / ' | sed 's|^.* / ||' | \
	     grep -E '$(TSAN_ONLY)' | grep -vxF $(TSAN_SKIP:%=-e %))
	@tools/test-summary.sh $(TSAN_BUILD)

# Line and branch coverage of the whole suite (gcovr): build-cov/meson-logs/coverage.txt and
# coverage/index.html there; prints the totals.  COV_ONLY (a grep -E pattern on test names) narrows it.
COV_BUILD ?= build-cov
COV_ONLY  ?= .
coverage:
	@tools/deps.sh gcovr
	[ -f $(COV_BUILD)/build.ninja ] || meson setup $(COV_BUILD) -Db_coverage=true -Dbuildtype=debug
	ninja -C $(COV_BUILD)
	-meson test -C $(COV_BUILD) --num-processes $(TEST_PROCS) --timeout-multiplier 3 \
	  $$(meson test -C $(COV_BUILD) --list 2>/dev/null | grep ' / ' | sed 's|^.* / ||' | \
	     grep -E '$(COV_ONLY)' | grep -vxF -e browser-ui)
	mkdir -p $(COV_BUILD)/meson-logs/coverage
	cd $(COV_BUILD) && gcovr -r .. --filter ../src/ --exclude ../src/sim/spec_tables.c \
	  --txt meson-logs/coverage.txt --html-details meson-logs/coverage/index.html --print-summary . \
	  | tail -n 3

bench: build
	meson test -C $(BUILD) --benchmark --suite bench --verbose

# The random-kill torture of the executor, long runs (make check runs a short sample): 500 kills
# per policy over the demo fleet and bench-16 in-process on the virtual clock, then 3 rollouts of
# the demo fleet over HTTP with 40 SIGKILLs of `poolpatch serve` each, then crash_resume at 22
# different journal points (make check runs 4).  SEED=N replays a run.
TORTURE_KILLS ?= 500
torture: build
	@set -e; log=$(BUILD)/torture.log; : >$$log; \
	for sc in demo bench-16; do \
	  $(BUILD)/tests/torture/torture_exec --scenario scenarios/$$sc.json \
	    --kills $(TORTURE_KILLS) $(if $(SEED),--seed $(SEED)) 2>&1 | tee -a $$log | grep '^torture'; \
	done; \
	TORTURE_KILLS=40 TORTURE_ROUNDS=3 $(if $(SEED),TORTURE_SEED=$(SEED)) POOLPATCH=$(BUILD)/poolpatch \
	  SRCDIR=. bash tests/torture/torture_http.sh 2>&1 | tee -a $$log | grep -E '^(torture|# torture)'; \
	CRASH_POINTS=40 CRASH_WANT=22 CRASH_MIN=20 POOLPATCH=$(BUILD)/poolpatch SRCDIR=. \
	  bash tests/e2e/crash_resume.sh 2>&1 | tee -a $$log | tail -n 1; \
	awk '/^torture(-http)?: .*kills/ { for (i = 1; i < NF; i++) { if ($$(i+1) ~ /^kills/) k += $$i; \
	  if ($$(i+1) ~ /^halts/) h += $$i; if ($$(i+1) ~ /^violations/) v += $$i } } \
	  END { printf "torture total: %d kills, %d halts, %d violations\n", k, h, v; exit (h + v > 0) }' $$log

# Issue 12's fault matrix, every cell (tests/torture/fault_cells.json) in-process and over HTTP
# (about 25 minutes; FAULT_HTTP=0: in-process only, a minute), then docs/engine.md's generated
# table rewritten from the results (tools/fault-table.py).  Fails when a cell fails or a known
# failure passes.
FAULT_HTTP ?= 1
faults: build
	@set -e; log=$(BUILD)/faults; rc=0; \
	$(BUILD)/tests/torture/fault_matrix >$$log.inproc 2>$$log.inproc.err || rc=1; \
	grep -E '^(cell|fault-matrix)' $$log.inproc; \
	if [ "$(FAULT_HTTP)" != 0 ]; then \
	  FAULT_CELLS=all FAULT_OUT=$$log.http POOLPATCH=$(BUILD)/poolpatch SRCDIR=. \
	    bash tests/torture/fault_matrix.sh >$$log.http.log 2>&1 || rc=1; \
	  tail -n 1 $$log.http.log; \
	  python3 tools/fault-table.py --cells tests/torture/fault_cells.json --inproc $$log.inproc \
	    --http $$log.http --doc docs/engine.md; \
	else \
	  python3 tools/fault-table.py --cells tests/torture/fault_cells.json --inproc $$log.inproc \
	    --doc docs/engine.md; \
	fi; exit $$rc

demo: build
	tools/demo.sh $(BUILD)

# The rolling pool upgrade on simulated pools (docs/upgrade.md): dry run, then the upgrade.
demo-upgrade: build
	tools/demo-upgrade.sh $(BUILD)

lint: build
	tools/check-layering.sh
	tools/check-banned.sh
	tools/check-funclen.sh
	tools/check-static.sh $(BUILD)
	clang-format --dry-run --Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'fuzz/*.c' 'bench/*.c')

# Real fuzzing with clang + libFuzzer (time-boxed); make check only replays the corpora.
fuzz:
	@tools/deps.sh clang libclang-rt-14-dev libfuzzer-14-dev
	tools/fuzz.sh

# Install the binary, man pages, bash completion, systemd unit and settings file under PREFIX
# (staged below DESTDIR when given, as packagers do).
PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	@if [ "$$(meson introspect $(BUILD) --buildoptions | jq -r '.[] | select(.name=="prefix") | .value')" != "$(PREFIX)" ]; then \
	    meson configure $(BUILD) -Dprefix=$(PREFIX); ninja -C $(BUILD); fi
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

# A Debian package from a release build with prefix /usr: build-deb/poolpatch_VERSION_ARCH.deb.
DEB_BUILD ?= build-deb
deb:
	@tools/deps.sh dpkg-dev fakeroot
	[ -f $(DEB_BUILD)/build.ninja ] || meson setup $(DEB_BUILD) -Dprefix=/usr -Dbuildtype=release
	ninja -C $(DEB_BUILD) poolpatch
	tools/mkdeb.sh $(DEB_BUILD)/poolpatch $(DEB_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(DEB_BUILD) $(COV_BUILD) build-fuzz
