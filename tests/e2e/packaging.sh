#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e packaging: `make deb`'s packaging script on the built binary; the .deb installed with dpkg
# into a throwaway root (maintainer scripts run with DPKG_ROOT, as dpkg does for chrootless
# installs): files, conffile, system user, 0700 state directory, service enabled; the installed
# binary runs and, started exactly as the systemd unit starts it, serves a simulated pool; man
# pages render without warnings and name every option the commands' --help shows; the bash
# completion completes every command and option; the unit's hardening holds
# (systemd-analyze security, offline); `meson install --destdir` (what `make install` runs)
# stages the same files under the build's prefix.
source "$(dirname "$0")/lib.sh"

for t in dpkg dpkg-deb dpkg-shlibdeps man systemd-analyze useradd; do
    command -v "$t" >/dev/null || fail "$t is missing (tools/deps.sh installs it)"
done

# ---- the package ----
deb=$("$SRCDIR/tools/mkdeb.sh" "$POOLPATCH" "$E2E_TMP/deb") || fail "tools/mkdeb.sh failed"
[ -f "$deb" ] || fail "no .deb at '$deb'"
ver=$("$POOLPATCH" version | awk '{print $2}')
assert_eq "poolpatch" "$(dpkg-deb -f "$deb" Package)" "package name"
assert_eq "$ver" "$(dpkg-deb -f "$deb" Version)" "package version"
deps=$(dpkg-deb -f "$deb" Depends)
assert_contains "$deps" "libcurl4" "Depends"
assert_contains "$deps" "libmicrohttpd12" "Depends"
# every dependency is a Debian 12 package this machine has installed (so it is installable)
for p in $(echo "$deps" | tr ',' '\n' | sed 's/(.*)//; s/ //g'); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok' ||
        fail "dependency '$p' is not an installed Debian package here"
done
pass "package built: $(basename "$deb"), Depends: $deps"

# ---- dpkg into a throwaway root ----
root="$E2E_TMP/root"
mkdir -p "$root/etc" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
dpkg --root="$root" --force-script-chrootless --force-depends -i "$deb" >"$E2E_TMP/dpkg.out" 2>&1 ||
    { cat "$E2E_TMP/dpkg.out" >&2; fail "dpkg -i into a throwaway root failed"; }
assert_eq "install ok installed" "$(dpkg --root="$root" -s poolpatch | sed -n 's/^Status: //p')" \
    "dpkg status"
for f in usr/bin/poolpatch usr/share/man/man1/poolpatch.1.gz usr/share/man/man5/poolpatch.conf.5.gz \
    usr/share/bash-completion/completions/poolpatch lib/systemd/system/poolpatch.service \
    etc/poolpatch/poolpatch.conf usr/share/doc/poolpatch/copyright; do
    [ -e "$root/$f" ] || fail "installed package lacks /$f"
done
grep -qx /etc/poolpatch/poolpatch.conf "$root/var/lib/dpkg/info/poolpatch.conffiles" ||
    fail "/etc/poolpatch/poolpatch.conf is not a conffile"
grep -q '^poolpatch:x:[0-9]*:[0-9]*:.*:/var/lib/poolpatch:/usr/sbin/nologin$' "$root/etc/passwd" ||
    fail "postinst did not create the poolpatch system user: $(cat "$root/etc/passwd")"
uid=$(awk -F: '$1 == "poolpatch" { print $3 }' "$root/etc/passwd")
[ "$uid" -lt 1000 ] || fail "poolpatch user is not a system user (uid $uid)"
assert_eq "700 $uid" "$(stat -c '%a %u' "$root/var/lib/poolpatch")" "state directory mode and owner"
[ -L "$root/etc/systemd/system/multi-user.target.wants/poolpatch.service" ] ||
    fail "postinst did not enable poolpatch.service"
assert_eq "poolpatch $ver" "$("$root/usr/bin/poolpatch" version)" "installed binary's version"
pass "dpkg -i into a throwaway root: files, conffile, user uid $uid, state dir 0700, enabled"

# ---- the unit ----
unit="$root/lib/systemd/system/poolpatch.service"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
assert_eq "/usr/bin/poolpatch serve --config /etc/poolpatch/poolpatch.conf" "$exec_start" "ExecStart"
for k in User=poolpatch Environment=POOLPATCH_HOME=/var/lib/poolpatch StateDirectory=poolpatch \
    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
    grep -qx "$k" "$unit" || fail "unit lacks $k"
done
expo=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for poolpatch.service: \([0-9.]*\).*/\1/p')
[ -n "$expo" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$expo" 'BEGIN { exit !(e <= 2.0) }' || fail "unit exposure $expo > 2.0"
pass "systemd unit: ExecStart, own user, state directory, hardening (exposure $expo)"

# ---- the installed binary started as the unit starts it, against the simulator ----
start_sim "$SRCDIR/scenarios/demo.json" --time-scale 600
fs=$(sim_fileservice_url)
printf 'listen = 127.0.0.1:0\ncheck_interval = 0\ncatalog_url = %s/updates.xml\n' "$fs" \
    >>"$root/etc/poolpatch/poolpatch.conf"
log="$E2E_TMP/unit.log"
(cd / && exec env -i PATH=/usr/bin:/bin POOLPATCH_HOME="$root/var/lib/poolpatch" \
    "$root/usr/bin/poolpatch" serve --config "$root/etc/poolpatch/poolpatch.conf") \
    >"$E2E_TMP/unit.out" 2>"$log" &
upid=$!
E2E_PIDS="$E2E_PIDS $upid"
wait_for_line "$log" 'web UI and API on http://127\.0\.0\.1:[0-9]+' 30 ||
    { cat "$log" >&2; fail "installed daemon did not listen"; }
url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log" | head -1)
[ -f "$root/var/lib/poolpatch/api-token" ] || fail "no api-token in the state directory"
[ -f "$root/var/lib/poolpatch/poolpatch.db" ] || fail "no poolpatch.db in the state directory"
assert_eq 600 "$(stat -c %a "$root/var/lib/poolpatch/api-token")" "api-token mode"
ipp() { "$root/usr/bin/poolpatch" "$@" --server "$url" --token-file "$root/var/lib/poolpatch/api-token"; }
master=$(sim_master_url prod)
printf 'xenroot\n' >"$E2E_TMP/pw"
ipp pool add prod --url "$master" --user root --password-file "$E2E_TMP/pw" >/dev/null ||
    fail "installed CLI could not add a pool"
ipp updates check >/dev/null || fail "installed daemon's update check failed"
out=$(ipp updates --by-server)
assert_contains "$out" "prod" "installed daemon's By Server view"
kill "$upid"
wait "$upid" || fail "installed daemon did not exit 0 on SIGTERM"
pass "installed binary, started as the unit does, served a simulated pool and stopped cleanly"

# ---- man pages ----
for m in man1/poolpatch.1.gz man5/poolpatch.conf.5.gz; do
    warn=$(MANWIDTH=100 man --warnings -l "$root/usr/share/man/$m" 2>&1 >/dev/null)
    [ -z "$warn" ] || fail "man -l $m warns: $warn"
    [ "$(MANWIDTH=100 man -l "$root/usr/share/man/$m" 2>/dev/null | wc -l)" -gt 40 ] ||
        fail "man -l $m rendered almost nothing"
done
man1=$(MANWIDTH=200 man -l "$root/usr/share/man/man1/poolpatch.1.gz" 2>/dev/null | col -b)
man5=$(MANWIDTH=200 man -l "$root/usr/share/man/man5/poolpatch.conf.5.gz" 2>/dev/null | col -b)
cmds=$("$POOLPATCH" --help | awk '/^commands:/ { on = 1; next } on && !NF { exit } on { print $1 }')
[ -n "$cmds" ] || fail "poolpatch --help lists no commands"
missing=""
for c in $cmds; do
    echo "$man1" | grep -q -- "$c" || missing="$missing command:$c"
    for o in $("$POOLPATCH" "$c" --help 2>&1 | sed "s/'.*//" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
        echo "$man1" | grep -q -- "$o" || missing="$missing $c:$o"
    done
done
keys=$("$POOLPATCH" serve --help 2>&1 | sed -n '/Settings file keys/,/Options override/p' |
    sed 's/.*(key = value)://; s/Options override.*//' | tr ',.' '  ')
for k in $keys; do
    echo "$man5" | grep -q -- "$k" || missing="$missing conf:$k"
done
[ -z "$missing" ] || fail "man pages do not document:$missing"
pass "man pages render without warnings and document every command, option and settings key"

# ---- bash completion ----
comp() { # words... : the completions of the last word
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _poolpatch;
             printf "%s\n" "${COMPREPLY[@]}"' _ "$root/usr/share/bash-completion/completions/poolpatch" "$@"
}
got=$(comp poolpatch "")
for c in $cmds; do
    echo "$got" | grep -qx -- "$c" || fail "completion of 'poolpatch ' lacks $c"
done
for c in $cmds; do
    case $c in version) continue ;; esac
    opts=$("$POOLPATCH" "$c" --help 2>&1 | sed "s/'.*//" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
    sub=""
    case $c in pool | webhook) sub=add ;; xapi) sub=call ;; client-id) continue ;; esac
    got=$(comp poolpatch "$c" $sub --)
    for o in $opts; do
        echo "$got" | grep -qx -- "$o" || fail "completion of 'poolpatch $c $sub --' lacks $o"
    done
done
assert_contains "$(comp poolpatch apply --policy "")" "return" "completion of --policy"
pass "bash completion completes every command and every option --help shows"

# ---- make install's staging (meson install --destdir under the build's prefix) ----
if [ -n "${BUILDDIR:-}" ] && command -v meson >/dev/null; then
    prefix=$(meson introspect "$BUILDDIR" --buildoptions | jq -r '.[] | select(.name=="prefix") | .value')
    stage="$E2E_TMP/stage"
    meson install -C "$BUILDDIR" --no-rebuild --destdir "$stage" >"$E2E_TMP/install.out" 2>&1 ||
        { cat "$E2E_TMP/install.out" >&2; fail "meson install --destdir failed"; }
    for f in bin/poolpatch share/man/man1/poolpatch.1 share/man/man5/poolpatch.conf.5 \
        share/bash-completion/completions/poolpatch lib/systemd/system/poolpatch.service; do
        [ -e "$stage$prefix/$f" ] || fail "make install did not stage $prefix/$f"
    done
    grep -q "^ExecStart=$prefix/bin/poolpatch serve" "$stage$prefix/lib/systemd/system/poolpatch.service" ||
        fail "installed unit's ExecStart does not use the prefix $prefix"
    "$stage$prefix/bin/poolpatch" version >/dev/null || fail "staged binary does not run"
    pass "make install stages binary, man pages, completion and unit under $prefix"
fi
