#!/usr/bin/env bash
# tools/mkdeb.sh BINARY OUTDIR - build poolpatch_VERSION_ARCH.deb from a built binary and the
# tree's man pages, bash completion, systemd unit and default settings (`make deb` gives it a
# release build with prefix /usr).  Runtime dependencies come from dpkg-shlibdeps.  Prints the
# .deb's path.
set -euo pipefail
bin=$1 out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$("$bin" version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
st=$work/stage
install -D -m 0755 "$bin" "$st/usr/bin/poolpatch"
strip --strip-unneeded "$st/usr/bin/poolpatch"
install -d "$st/usr/share/man/man1" "$st/usr/share/man/man5"
gzip -9n < "$top/man/poolpatch.1" > "$st/usr/share/man/man1/poolpatch.1.gz"
gzip -9n < "$top/man/poolpatch.conf.5" > "$st/usr/share/man/man5/poolpatch.conf.5.gz"
install -D -m 0644 "$top/contrib/poolpatch.bash" "$st/usr/share/bash-completion/completions/poolpatch"
install -d "$st/lib/systemd/system"
sed 's|@BINDIR@|/usr/bin|g; s|@SYSCONFDIR@|/etc|g' "$top/contrib/poolpatch.service.in" \
    > "$st/lib/systemd/system/poolpatch.service"
install -D -m 0644 "$top/contrib/poolpatch.conf" "$st/etc/poolpatch/poolpatch.conf"
install -D -m 0644 "$top/README.md" "$st/usr/share/doc/poolpatch/README.md"
printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: poolpatch\nLicense: MIT\n' \
    > "$st/usr/share/doc/poolpatch/copyright"
# Runtime libraries of the binary, as dpkg-shlibdeps finds them on this machine.
mkdir -p "$work/shl/debian"
printf 'Source: poolpatch\n\nPackage: poolpatch\nArchitecture: any\n' > "$work/shl/debian/control"
deps=$(cd "$work/shl" && dpkg-shlibdeps -O -e "$st/usr/bin/poolpatch" 2>/dev/null |
       sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk "$st" | awk '{print $1}')
install -d "$st/DEBIAN"
cat > "$st/DEBIAN/control" <<CTL
Package: poolpatch
Version: $ver
Architecture: $arch
Maintainer: poolpatch developers <poolpatch@localhost>
Installed-Size: $size
Depends: $deps, passwd
Section: admin
Priority: optional
Homepage: https://localhost/poolpatch
Description: rolling updates for XenServer, Citrix Hypervisor and XCP-ng pools
 poolpatch learns which hotfixes, cumulative updates and new releases each host
 needs, shows them By Update and By Server, and applies them across pools with
 prechecks, live migration, maintenance mode and as few reboots as possible.
 A daemon with a REST API and web UI, a command-line tool and a pool simulator.
CTL
echo /etc/poolpatch/poolpatch.conf > "$st/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "$top/contrib/debian/$s" "$st/DEBIAN/$s"
done
mkdir -p "$out"
deb="$out/poolpatch_${ver}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$st" "$deb" >/dev/null
echo "$deb"
