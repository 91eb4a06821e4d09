#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make check-package`: builds the Debian package (tools/mkdeb.sh), checks what it holds and that its
# binary runs, then checks `attach` / `detach` against scratch roots with a stand-in `qm` on PATH.
# Usage: tests/package/run.sh [BUILDDIR]     (default: build). Last line: "package: N passed, N failed".
# Environment: PGR_BIN   the program that takes `[--node N] attach VMID [--storage S] | detach VMID`;
#                        default: the binary from the package (the real CLI), else a small driver
#                        (attach-driver.c, linked against BUILDDIR/libpgr.a; it also provides
#                        `policy-check`, the policy as the hook reads it).
#              PGR_SKIP_DEB=1  reuse the .deb already in BUILDDIR/deb instead of building it.
set -u
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:-build}
case $builddir in /*) ;; *) builddir=$srcdir/$builddir ;; esac
fixtures=$srcdir/tests/fixtures/real
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export PVE_GPU_RESET_JOURNAL=stderr

. "$(dirname "$0")/../tap.sh"
check() { # check NAME CMD...: passes when CMD succeeds
        local name=$1
        shift
        if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

# ---- the package --------------------------------------------------------------------------------

debdir=$builddir/deb
deb=
if [ "${PGR_SKIP_DEB:-}" != 1 ]; then
        # nocheck: `make check` has run the unit and CLI suites already (check-unit, check-cli); the
        # package build's dh_auto_test would build and run them a second time. What debian/rules runs
        # without nocheck is checked below. parallel: dh builds with every CPU (and make's own MAKEFLAGS,
        # whose jobserver this script does not hand on, would turn that into -j1 with a warning).
        if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS="nocheck parallel=$(nproc 2>/dev/null || echo 1)" \
           "$srcdir/tools/mkdeb.sh" "$debdir" >"$scratch/mkdeb.log" 2>&1; then
                ok "package builds (tools/mkdeb.sh)"
        else
                not_ok "package builds (tools/mkdeb.sh)" "$(tail -n 25 "$scratch/mkdeb.log")"
        fi
fi
for f in "$debdir"/pve-gpu-reset_*.deb; do
        [ -f "$f" ] && deb=$f && break
done

if [ -n "$deb" ] && [ -f "$debdir/lintian.txt" ]; then
        # --display-info --pedantic: every tag lintian has, informational and pedantic ones included.
        if grep -q '^[EWIPX]:' "$debdir/lintian.txt"; then
                not_ok "lintian reports no tag" "$(grep '^[EWIPX]:' "$debdir/lintian.txt")"
        else
                ok "lintian reports no tag (--display-info --pedantic)"
        fi
fi
if [ "${PGR_SKIP_DEB:-}" != 1 ] && [ -f "$debdir/build.log" ]; then
        # The package above was built with nocheck: dh leaves dh_auto_test out and no suite runs.
        if grep -q 'override_dh_auto_build' "$debdir/build.log" &&
           ! grep -Eq 'check-unit|check-cli|^(unit|cli): [0-9]+ passed' "$debdir/build.log"; then
                ok "the package build honours nocheck (built, no suite run)"
        else
                not_ok "the package build honours nocheck (built, no suite run)" \
                        "$(grep -E 'dh_auto_build|check-unit|check-cli|^(unit|cli): ' "$debdir/build.log" ||
                           echo 'no dh_auto_build in build.log')"
        fi
fi
# Without nocheck, debian/rules' dh_auto_test runs the unit and CLI suites (the same make targets
# `make check` ran as check-unit and check-cli): its recipe, and the suites' commands it leads to, as
# make prints them without running them (-n).
rules_test=$(cd "$srcdir" && env -u DEB_BUILD_OPTIONS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -n -f debian/rules override_dh_auto_test 2>&1)
if printf '%s\n' "$rules_test" | grep -qx 'make WERROR=0 check-unit check-cli' &&
   printf '%s\n' "$rules_test" | grep -q '^tests/run-unit\.sh ' &&
   printf '%s\n' "$rules_test" | grep -q '^tests/cli/run\.sh '; then
        ok "debian/rules' test target runs the unit and CLI suites (make -n)"
else
        not_ok "debian/rules' test target runs the unit and CLI suites (make -n)" "$rules_test"
fi

# One list of Debian packages (tools/deps.sh): whatever the package build needs is in it.
deps_list=$("$srcdir/tools/deps.sh" --list)
build_deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$srcdir/debian/control" | sed 's/^Build-Depends://; /^[A-Z]/d' |
             tr ',' '\n' | sed 's/[(<].*//; s/[[:space:]]//g' | grep -v '^$' | grep -v '^debhelper-compat$')
missing_deps=""
for p in $build_deps; do
        printf '%s\n' "$deps_list" | grep -qx "$p" || missing_deps="$missing_deps $p"
done
if [ -n "$build_deps" ] && [ -z "$missing_deps" ]; then
        ok "every Build-Depends is in tools/deps.sh ($(echo $build_deps))"
else
        not_ok "every Build-Depends is in tools/deps.sh" "missing:${missing_deps:- (no Build-Depends found)}"
fi

if [ -n "$deb" ]; then
        dpkg-deb -c "$deb" | awk '{ print $1, $2, $6, $7, $8 }' >"$scratch/contents"
        has() { # has NAME MODE PATH
                if grep -Eq "^$2 root/root \\./${3#/}( |\$)" "$scratch/contents"; then
                        ok "$1"
                else
                        not_ok "$1" "no $2 root/root ./${3#/} in dpkg -c:" "$(cat "$scratch/contents")"
                fi
        }
        has "binary in /usr/sbin" '-rwxr-xr-x' /usr/sbin/pve-gpu-reset
        has "policy in /etc" '-rw-r--r--' /etc/pve-gpu-reset.json
        if [ -f "$srcdir/conf/pve-gpu-reset.catalog" ]; then
                has "journal catalog" '-rw-r--r--' /usr/lib/systemd/catalog/pve-gpu-reset.catalog
        else
                echo "skip - journal catalog: conf/pve-gpu-reset.catalog not written yet"
        fi
        has "man page, compressed" '-rw-r--r--' /usr/share/man/man8/pve-gpu-reset.8.gz
        has "bash completion" '-rw-r--r--' /usr/share/bash-completion/completions/pve-gpu-reset
        has "copyright" '-rw-r--r--' /usr/share/doc/pve-gpu-reset/copyright

        dpkg-deb -e "$deb" "$scratch/control"
        if [ "$(cat "$scratch/control/conffiles" 2>/dev/null)" = /etc/pve-gpu-reset.json ]; then
                ok "the policy is the only conffile"
        else
                not_ok "the policy is the only conffile" "conffiles: $(cat "$scratch/control/conffiles" 2>&1)"
        fi
        depends=$(dpkg-deb -f "$deb" Depends)
        case "$depends" in
        *libpci3*libsystemd0* | *libsystemd0*libpci3*)
                case "$depends" in
                *libjson-c*libkmod2* | *libkmod2*libjson-c*) ok "Depends has the shared libraries ($depends)" ;;
                *) not_ok "Depends has the shared libraries" "Depends: $depends" ;;
                esac ;;
        *) not_ok "Depends has the shared libraries" "Depends: $depends" ;;
        esac
        version=$(dpkg-deb -f "$deb" Version)
        makever=$(sed -n 's/^VERSION *:= *//p' "$srcdir/Makefile")
        if [ "$version" = "$makever" ]; then
                ok "package version $version is the Makefile's"
        else
                not_ok "package version is the Makefile's" "package $version, Makefile $makever"
        fi

        dpkg-deb -x "$deb" "$scratch/pkg"
        pkgbin=$scratch/pkg/usr/sbin/pve-gpu-reset
        out=$("$pkgbin" --version 2>&1)
        rc=$?
        if [ $rc -eq 0 ] && [ -n "$out" ]; then
                ok "packaged binary runs: $out"
        else
                not_ok "packaged binary runs --version" "exit $rc: $out"
        fi
        if [ -f "$scratch/pkg/usr/lib/systemd/catalog/pve-gpu-reset.catalog" ]; then
                # What systemd's dpkg trigger on /usr/lib/systemd/catalog does after installation.
                n_ids=$(grep -c '^-- [0-9a-f]\{32\}' "$scratch/pkg/usr/lib/systemd/catalog/pve-gpu-reset.catalog")
                n_listed=$(journalctl --root="$scratch/pkg" --update-catalog >/dev/null 2>&1 &&
                           journalctl --root="$scratch/pkg" --list-catalog 2>/dev/null | grep -c ' pve-gpu-reset: ')
                if [ "$n_ids" -gt 0 ] && [ "$n_listed" = "$n_ids" ]; then
                        ok "installed catalog loads: journalctl --list-catalog shows its $n_ids entries"
                else
                        not_ok "installed catalog loads" "$n_ids entries in the file, $n_listed listed"
                fi
        fi
        zcat "$scratch/pkg/usr/share/man/man8/pve-gpu-reset.8.gz" >"$scratch/pve-gpu-reset.8"
        warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$scratch/pve-gpu-reset.8" 2>&1 >/dev/null)
        if [ -z "$warn" ]; then ok "man page renders without warnings"; else not_ok "man page renders" "$warn"; fi
        if grep -q '^\.TH PVE\\-GPU\\-RESET 8 ' "$scratch/pve-gpu-reset.8" &&
           grep -q "pve\\\\-gpu\\\\-reset $makever" "$scratch/pve-gpu-reset.8"; then
                ok "man page is section 8 and names version $makever"
        else
                not_ok "man page is section 8 and names version $makever"
        fi
fi

# The completion script on its own (the packaged copy when there is one).
completion=$srcdir/conf/bash-completion/pve-gpu-reset
[ -n "$deb" ] && completion=$scratch/pkg/usr/share/bash-completion/completions/pve-gpu-reset
croot=$scratch/croot
mkdir -p "$croot/etc/pve/qemu-server" "$croot/sys/bus/pci/devices/0000:01:00.0" "$croot/sys/bus/pci/devices/0000:01:00.1"
touch "$croot/etc/pve/qemu-server/100.conf" "$croot/etc/pve/qemu-server/2050.conf"
printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\ndir: hooks\n\tpath /srv/hooks\n\tcontent snippets\n' \
        >"$croot/etc/pve/storage.cfg"
complete_line() { # complete_line "COMMAND LINE" → the completions, space-separated
        PVE_GPU_RESET_ROOT=$croot bash -c '. "$1"; COMP_LINE=$2; COMP_POINT=${#2}; _pve_gpu_reset; echo "${COMPREPLY[*]}"' \
                _ "$completion" "$1" 2>&1
}
expect_completion() { # expect_completion NAME "LINE" "WANT"
        local got
        got=$(complete_line "$2")
        if [ "$got" = "$3" ]; then ok "completion: $1"; else not_ok "completion: $1" "'$2' → '$got', want '$3'"; fi
}
expect_completion "subcommand" "pve-gpu-reset att" "attach"
expect_completion "VMIDs from /etc/pve/qemu-server" "pve-gpu-reset plan " "100 2050"
expect_completion "phases in hook mode" "pve-gpu-reset 100 post-" "post-start post-stop"
expect_completion "phases for --phase" "pve-gpu-reset plan 100 --phase pre-s" "pre-start pre-stop"
expect_completion "PCI functions after ':'" "pve-gpu-reset reset 0000:01:00." "00.0 00.1"
expect_completion "storages with snippets" "pve-gpu-reset attach 100 --storage " "hooks"
expect_completion "reset methods" "pve-gpu-reset reset 01:00.0 --method re" "reset_subordinate remove-rescan"
expect_completion "verify subcommand" "pve-gpu-reset ver" "verify"
expect_completion "verify: VMIDs" "pve-gpu-reset verify " "100 2050"
expect_completion "verify options" "pve-gpu-reset verify 100 --c" "--config --cycles"
expect_completion "verify --probe takes a free command" "pve-gpu-reset verify 100 --probe " ""
# --dry-run only where the command honours it (src/cmd-*.c: struct cli_command.dry_run)
expect_completion "--dry-run offered to plan" "pve-gpu-reset plan 100 --dr" "--dry-run"
expect_completion "--dry-run not offered to attach, which refuses it" "pve-gpu-reset attach 100 --dr" ""

# ---- attach / detach ----------------------------------------------------------------------------

# The driver: a stand-in for the CLI's attach/detach, and `policy-check` (the policy as the hook reads it).
driver=$builddir/attach-driver
build_driver() {
        local flags
        flags=$(pkg-config --cflags --libs libpci json-c libsystemd libkmod) || return 1
        make -s -C "$srcdir" BUILDDIR="$builddir" "$builddir/libpgr.a" || return 1
        # shellcheck disable=SC2086 # $flags is a word list
        cc -std=gnu11 -O1 -g -Wall -Wextra -Werror -I"$srcdir/lib" -o "$driver" \
                "$srcdir/tests/package/attach-driver.c" "$builddir/libpgr.a" $flags
}
if build_driver >"$scratch/make.log" 2>&1; then
        ok "attach driver builds against $builddir/libpgr.a"
else
        not_ok "attach driver builds against $builddir/libpgr.a" "$(tail -n 20 "$scratch/make.log")"
fi
# What runs `attach`/`detach`: PGR_BIN, else the packaged binary (the real CLI), else the driver.
if [ -z "${PGR_BIN:-}" ] && [ -n "$deb" ] && "$pkgbin" --help 2>&1 | grep -q 'attach VMID'; then
        PGR_BIN=$pkgbin
fi
PGR_BIN=${PGR_BIN:-$driver}
echo "# attach/detach run by $PGR_BIN"
bin_target=$(readlink -f "$PGR_BIN")

# Stand-in for Proxmox's qm: logs its arguments, fails with $QM_FAIL, and applies
# `set VMID --hookscript V` / `set VMID --delete hookscript` to the VM config under the root, with
# qemu-server's check that the script exists and is executable (for local: volumes).
mkdir -p "$scratch/bin"
cat >"$scratch/bin/qm" <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >>"$QM_LOG"
if [ -n "${QM_FAIL:-}" ]; then echo "$QM_FAIL" >&2; exit 255; fi
[ "$1" = set ] || exit 0
conf=$PVE_GPU_RESET_ROOT/etc/pve/qemu-server/$2.conf
[ -f "$conf" ] || { echo "Configuration file 'nodes/pve1/qemu-server/$2.conf' does not exist" >&2; exit 2; }
case "$3 $4" in
"--hookscript local:snippets/"*)
        script=$PVE_GPU_RESET_ROOT/var/lib/vz/snippets/${4#local:snippets/}
        [ -f "$script" ] || { echo "hookscript: script '$4' does not exist" >&2; exit 255; }
        [ -x "$script" ] || { echo "hookscript: script '$4' is not executable" >&2; exit 255; } ;;
esac
awk -v key="$3" -v val="$4" '
        !done && /^\[/ { if (key == "--hookscript") print "hookscript: " val; done = 1 }
        !done && /^hookscript:/ { next }
        { print }
        END { if (!done && key == "--hookscript") print "hookscript: " val }' "$conf" >"$conf.new" && mv "$conf.new" "$conf"
EOF
chmod 0755 "$scratch/bin/qm"
export PATH="$scratch/bin:$PATH"

STORAGE_INSTALLER='dir: local
	path /var/lib/vz
	content iso,vztmpl,backup

lvmthin: local-lvm
	thinpool data
	vgname pve
	content rootdir,images
'
STORAGE_SNIPPETS='dir: local
	path /var/lib/vz
	content iso,vztmpl,backup,snippets

lvmthin: local-lvm
	thinpool data
	vgname pve
	content rootdir,images

dir: isos
	path /srv/isos
	content iso

nfs: nas
	export /export/pve
	path /mnt/pve/nas
	server 192.0.2.10
	content snippets,iso
'

# A fresh root per test: VM 100 (a real user config without hookscript), VM 101 (a real user
# config with hookscript local:snippets/vm100-hooks.sh, which exists), the policy as shipped.
n_root=0
mkroot() { # mkroot STORAGE_CFG_TEXT|-  → sets $root, $QM_LOG; exports PVE_GPU_RESET_ROOT
        n_root=$((n_root + 1))
        root=$scratch/root$n_root
        mkdir -p "$root/etc/pve/nodes/pve1/qemu-server" "$root/var/lib/vz/snippets"
        ln -s nodes/pve1/qemu-server "$root/etc/pve/qemu-server"
        cp "$fixtures/vmconf/spongey-211-win11-rx6600xt-xvga-romfile.conf" "$root/etc/pve/qemu-server/100.conf"
        cp "$fixtures/vmconf/vm100-amd-8845hs-igpu-hookscript-romfile-both-functions-parent.conf" \
                "$root/etc/pve/qemu-server/101.conf"
        printf '#!/bin/sh\nexit 0\n' >"$root/var/lib/vz/snippets/vm100-hooks.sh"
        chmod 0755 "$root/var/lib/vz/snippets/vm100-hooks.sh"
        cp "$srcdir/conf/pve-gpu-reset.json" "$root/etc/pve-gpu-reset.json"
        [ "$1" != - ] && printf '%s' "$1" >"$root/etc/pve/storage.cfg"
        QM_LOG=$root/qm.log
        : >"$QM_LOG"
        export QM_LOG PVE_GPU_RESET_ROOT=$root
}

# expect NAME STATUS REGEX -- CMD...: exit status, and the output (stdout+stderr) matches REGEX.
expect() {
        local name=$1 want=$2 re=$3 rc
        shift 4
        out=$("$@" 2>&1)
        rc=$?
        if [ "$rc" -ne "$want" ]; then
                not_ok "$name" "exit $rc, want $want" "$out"
        elif ! printf '%s\n' "$out" | grep -Eq -- "$re"; then
                not_ok "$name" "output does not match /$re/:" "$out"
        else
                ok "$name"
        fi
}
qm_log_is() { # qm_log_is NAME "EXPECTED LINES"
        if [ "$(cat "$QM_LOG")" = "$2" ]; then ok "$1"; else not_ok "$1" "qm calls:" "$(cat "$QM_LOG")" "want:" "$2"; fi
}
json() { jq -r "$1" "$root/etc/pve-gpu-reset.json" 2>&1; }
# The VM's attach state, the tool's own file (lib/reset/chain.h); the policy file is never written.
state_file() { printf '%s' "$root/etc/pve-gpu-reset.d/vm-$1.json"; }
state_is() { # state_is NAME VMID JQ-FILTER WANT
        local got
        got=$(jq -r "$3" "$(state_file "$2")" 2>&1)
        if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1" "$3 = '$got', want '$4'"; fi
}
json_is() { # json_is NAME JQ-FILTER WANT
        local got
        got=$(json "$2")
        if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1" "$2 = '$got', want '$3'"; fi
}
hookscript_of() { sed -n 's/^hookscript: //p;/^\[/q' "$root/etc/pve/qemu-server/$1.conf"; }
pgr() { "$PGR_BIN" --node pve1 "$@"; }

mkroot "$STORAGE_INSTALLER"
expect "no storage with snippets: exit 2 with the pvesm command that fixes it" 2 \
        "no storage with 'snippets' content.*pvesm set local --content iso,vztmpl,backup,snippets" -- pgr attach 100
qm_log_is "no storage with snippets: qm not run" ""
check "no storage with snippets: no snippet placed" test ! -e "$root/var/lib/vz/snippets/pve-gpu-reset"

mkroot "$STORAGE_SNIPPETS"
expect "--storage without snippets: exit 2 naming it" 2 "storage 'isos'.*does not have 'snippets'.*pvesm set isos --content iso,snippets" \
        -- pgr attach 100 --storage isos
expect "--storage unknown: exit 2" 2 "--storage nowhere: no such storage" -- pgr attach 100 --storage nowhere
expect "--storage of a block storage: exit 2" 2 "local-lvm.*type lvmthin.*cannot hold snippets" -- pgr attach 100 --storage local-lvm
expect "VM without config: exit 1 naming the file" 1 "/etc/pve/qemu-server/555.conf" -- pgr attach 555
expect "detach VM without config: exit 1" 1 "/etc/pve/qemu-server/555.conf" -- pgr detach 555
qm_log_is "rejected attaches: qm not run" ""
expect "qm missing: exit 1 saying so" 1 "qm not found" -- env PATH=/nonexistent "$PGR_BIN" --node pve1 attach 100
check "qm missing: VM config unchanged" test -z "$(hookscript_of 100)"
check "qm missing: no snippet placed" test ! -e "$root/var/lib/vz/snippets/pve-gpu-reset"

mkroot "$STORAGE_SNIPPETS"
expect "attach a VM without hookscript" 0 "VM 100: attached local:snippets/pve-gpu-reset" -- pgr attach 100
check "attach: snippet is a symlink" test -L "$root/var/lib/vz/snippets/pve-gpu-reset"
link=$(readlink "$root/var/lib/vz/snippets/pve-gpu-reset")
if [ "$link" = "$bin_target" ]; then ok "attach: symlink points at the binary"; else not_ok "attach: symlink points at the binary" "-> $link, want $bin_target"; fi
qm_log_is "attach: qm set 100 --hookscript local:snippets/pve-gpu-reset" "set 100 --hookscript local:snippets/pve-gpu-reset"
check "attach without a previous hookscript: nothing chained (no state file)" test ! -e "$(state_file 100)"
expect "attach again: already attached, exit 0" 0 "VM 100: already attached" -- pgr attach 100
qm_log_is "attach again: qm not run again" "set 100 --hookscript local:snippets/pve-gpu-reset"
rm "$root/var/lib/vz/snippets/pve-gpu-reset"
expect "attach again after the snippet vanished" 0 "already attached" -- pgr attach 100
check "attach again: the snippet is back" test -L "$root/var/lib/vz/snippets/pve-gpu-reset"
: >"$QM_LOG"
expect "detach a VM without chained hookscript" 0 "VM 100: detached" -- pgr detach 100
qm_log_is "detach: qm set 100 --delete hookscript" "set 100 --delete hookscript"
check "detach: VM config has no hookscript" test -z "$(hookscript_of 100)"
check "detach: snippet stays for other VMs" test -L "$root/var/lib/vz/snippets/pve-gpu-reset"
: >"$QM_LOG"
expect "detach again: not attached, exit 0" 0 "not attached" -- pgr detach 100
qm_log_is "detach again: qm not run" ""

mkroot "$STORAGE_SNIPPETS"
cp "$root/etc/pve-gpu-reset.json" "$scratch/policy.orig"
expect "attach a VM that has a hookscript" 0 "local:snippets/vm100-hooks.sh" -- pgr attach 101
qm_log_is "attach with hookscript: qm set 101 --hookscript local:snippets/pve-gpu-reset" \
        "set 101 --hookscript local:snippets/pve-gpu-reset"
state_is "attach with hookscript: the VM's state file records the script" 101 .hookscript /var/lib/vz/snippets/vm100-hooks.sh
state_is "attach with hookscript: ... and its volume id, for detach" 101 .volid local:snippets/vm100-hooks.sh
check "attach leaves the policy (a conffile) byte for byte as shipped" cmp "$scratch/policy.orig" "$root/etc/pve-gpu-reset.json"
check "attach with hookscript: state file root-owned, mode 0644" test "$(stat -c %U:%a "$(state_file 101)")" = root:644
check "attach with hookscript: VM config now names ours" test "$(hookscript_of 101)" = local:snippets/pve-gpu-reset
expect "the hook's policy parser accepts the file and sees the chained script" 0 \
        "^hookscript=/var/lib/vz/snippets/vm100-hooks.sh$" -- "$driver" policy-check 101
: >"$QM_LOG"
expect "detach restores the chained hookscript" 0 "its hookscript is local:snippets/vm100-hooks.sh again" -- pgr detach 101
qm_log_is "detach: qm set 101 --hookscript local:snippets/vm100-hooks.sh" "set 101 --hookscript local:snippets/vm100-hooks.sh"
check "detach: the VM's state file is gone" test ! -e "$(state_file 101)"
check "attach + detach leave the policy byte for byte as shipped" cmp "$scratch/policy.orig" "$root/etc/pve-gpu-reset.json"
check "detach: VM config names the old hookscript again" test "$(hookscript_of 101)" = local:snippets/vm100-hooks.sh

mkroot "$STORAGE_SNIPPETS"
cp "$root/etc/pve-gpu-reset.json" "$scratch/policy.orig"
QM_FAIL="VM is locked (backup)" expect "qm fails: exit 1 with its message" 1 "qm set 101 --hookscript local:snippets/pve-gpu-reset failed.*VM is locked \\(backup\\)" -- pgr attach 101
check "qm fails: the policy is untouched" cmp -s "$scratch/policy.orig" "$root/etc/pve-gpu-reset.json"
check "qm fails: no state file is left" test ! -e "$(state_file 101)"

mkroot "$STORAGE_SNIPPETS"
rm "$root/etc/pve-gpu-reset.json"
expect "attach with a hookscript and no policy file" 0 "vm100-hooks.sh" -- pgr attach 101
check "no policy file: none is created" test ! -e "$root/etc/pve-gpu-reset.json"
state_is "no policy file: the state file records the chained script" 101 .hookscript /var/lib/vz/snippets/vm100-hooks.sh
sed -i '1i hookscript: gone:snippets/x.sh' "$root/etc/pve/qemu-server/100.conf"
: >"$QM_LOG"
expect "a hookscript on an unknown storage cannot be chained: exit 2" 2 "gone:snippets/x.sh cannot be chained.*no storage 'gone'" -- pgr attach 100
qm_log_is "unknown storage: qm not run" ""

mkroot "$STORAGE_SNIPPETS"
printf '{"vms": {\n' >"$root/etc/pve-gpu-reset.json"
cp "$root/etc/pve-gpu-reset.json" "$scratch/policy.orig"
expect "attach does not read the policy: a broken one does not stop it" 0 "vm100-hooks.sh" -- pgr attach 101
check "attach leaves a broken policy as it is" cmp -s "$scratch/policy.orig" "$root/etc/pve-gpu-reset.json"
rm "$(state_file 101)"
: >"$QM_LOG"
expect "detach with no state file reads the policy for a 0.1 chain: not JSON, exit 2 naming the file" 2 \
        "/etc/pve-gpu-reset.json:" -- pgr detach 101
qm_log_is "bad policy: qm not run" ""
check "bad policy: VM config unchanged" test "$(hookscript_of 101)" = local:snippets/pve-gpu-reset

# An upgraded 0.1 host: attach recorded the chain in the policy file. The hook keeps chaining it,
# detach gives it back and leaves the policy as it is (the admin's conffile), saying where the key is.
mkroot "$STORAGE_SNIPPETS"
printf '{"vms": {"101": {"hookscript": "/var/lib/vz/snippets/vm100-hooks.sh"}}}\n' >"$root/etc/pve-gpu-reset.json"
cp "$root/etc/pve-gpu-reset.json" "$scratch/policy.orig"
sed -i 's|^hookscript: .*|hookscript: local:snippets/pve-gpu-reset|' "$root/etc/pve/qemu-server/101.conf"
expect "0.1 chain: the hook still chains it" 0 "^hookscript=/var/lib/vz/snippets/vm100-hooks.sh$" -- "$driver" policy-check 101
expect "0.1 chain: detach restores it" 0 "its hookscript is local:snippets/vm100-hooks.sh again" -- pgr detach 101
check "0.1 chain: detach leaves the policy byte for byte" cmp "$scratch/policy.orig" "$root/etc/pve-gpu-reset.json"
check "0.1 chain: VM config names the old hookscript again" test "$(hookscript_of 101)" = local:snippets/vm100-hooks.sh

mkroot "$STORAGE_SNIPPETS"
printf '{"vms": {"101": {"hookscript": "/root/pin-cpus.sh", "on_failure": "continue"}}}\n' >"$root/etc/pve-gpu-reset.json"
sed -i 's|^hookscript: .*|hookscript: local:snippets/pve-gpu-reset|' "$root/etc/pve/qemu-server/101.conf"
expect "detach with a chained script outside any snippets directory: exit 2, nothing changed" 2 \
        "vms.101.hookscript /root/pin-cpus.sh is not in the snippets directory of any storage" -- pgr detach 101
qm_log_is "chained script outside snippets: qm not run" ""
rm -f "$root/etc/pve-gpu-reset.json"
expect "detach with no policy file: removes the hookscript" 0 "no hookscript now" -- pgr detach 101
check "no policy file: detach does not create one" test ! -e "$root/etc/pve-gpu-reset.json"

mkroot "$STORAGE_SNIPPETS"
ln -sf "$bin_target" "$root/var/lib/vz/snippets/vm100-hooks.sh"
expect "a hookscript that is this binary under another name is replaced, not chained" 0 "attached local:snippets/pve-gpu-reset" -- pgr attach 101
check "this binary under another name: nothing chained (no state file)" test ! -e "$(state_file 101)"

mkroot "$STORAGE_SNIPPETS"
expect "shared storage not mounted: exit 1" 1 "storage 'nas' is not mounted at /mnt/pve/nas" -- pgr attach 100 --storage nas
mkdir -p "$root/mnt/pve/nas"
expect "attach on a shared (nfs) storage" 0 "attached nas:snippets/pve-gpu-reset" -- pgr attach 100 --storage nas
check "shared storage: the snippet is a copy, not a symlink" test -f "$root/mnt/pve/nas/snippets/pve-gpu-reset" -a ! -L "$root/mnt/pve/nas/snippets/pve-gpu-reset"
check "shared storage: the copy is the binary, executable" cmp -s "$bin_target" "$root/mnt/pve/nas/snippets/pve-gpu-reset"
check "shared storage: the copy is executable" test -x "$root/mnt/pve/nas/snippets/pve-gpu-reset"
qm_log_is "shared storage: qm set 100 --hookscript nas:snippets/pve-gpu-reset" "set 100 --hookscript nas:snippets/pve-gpu-reset"
expect "moving to --storage local re-attaches" 0 "attached local:snippets/pve-gpu-reset" -- pgr attach 100 --storage local

# `attach --refresh` (run by the package's postinst on configure): every copy of this binary in a
# snippets directory is replaced by the installed one, atomically; a symlink is already current, a
# file that is not a pve-gpu-reset binary is never touched, and no copy is ever downgraded.
mkroot "$STORAGE_SNIPPETS"
printf '\ndir: other\n\tpath /srv/other\n\tcontent snippets\n\tshared 1\n' >>"$root/etc/pve/storage.cfg"
mkdir -p "$root/mnt/pve/nas/snippets" "$root/srv/other/snippets"
expect "attach (symlink on local) before the refresh" 0 "attached local:snippets/pve-gpu-reset" -- pgr attach 100
printf '\177ELF\002\001\001 an older build\000PVE-GPU-RESET-BINARY-MARKER version=0.0.1\n\000' >"$root/mnt/pve/nas/snippets/pve-gpu-reset"
chmod 0755 "$root/mnt/pve/nas/snippets/pve-gpu-reset"
printf '#!/bin/sh\necho not ours\n' >"$root/srv/other/snippets/pve-gpu-reset"
chmod 0755 "$root/srv/other/snippets/pve-gpu-reset"
cp "$root/srv/other/snippets/pve-gpu-reset" "$scratch/foreign.orig"
expect "attach --refresh replaces the older copy on nas" 0 "refreshed nas:snippets/pve-gpu-reset" -- pgr attach --refresh
printf '%s\n' "$out" | grep -q "other:snippets/pve-gpu-reset.*not a pve-gpu-reset binary" &&
        ok "attach --refresh names the foreign file it left alone" ||
        not_ok "attach --refresh names the foreign file it left alone" "$out"
check "refresh: the copy on nas is now the binary" cmp -s "$bin_target" "$root/mnt/pve/nas/snippets/pve-gpu-reset"
check "refresh: the copy is executable" test -x "$root/mnt/pve/nas/snippets/pve-gpu-reset"
check "refresh: no temp file left in the snippets directory" test "$(ls -A "$root/mnt/pve/nas/snippets")" = pve-gpu-reset
check "refresh: the foreign file is untouched" cmp -s "$scratch/foreign.orig" "$root/srv/other/snippets/pve-gpu-reset"
check "refresh: the symlink on local is left as it is" test -L "$root/var/lib/vz/snippets/pve-gpu-reset"
expect "attach --refresh again: the copy is up to date" 0 "nas:snippets/pve-gpu-reset .*up to date" -- pgr attach --refresh
printf '\177ELF\002\001\001 a newer build\000PVE-GPU-RESET-BINARY-MARKER version=999.0\n\000' >"$root/mnt/pve/nas/snippets/pve-gpu-reset"
cp "$root/mnt/pve/nas/snippets/pve-gpu-reset" "$scratch/newer.orig"
expect "attach --refresh never downgrades a newer copy" 0 "nas:snippets/pve-gpu-reset.*newer" -- pgr attach --refresh
check "refresh: the newer copy is untouched" cmp -s "$scratch/newer.orig" "$root/mnt/pve/nas/snippets/pve-gpu-reset"
# A copy made before builds carried the marker: an ELF file holding one of our journal message ids.
printf '\177ELF\002\001\001 a build without marker\0002872e3d24b654f56b26b78fdb4c770ab\000' \
        >"$root/mnt/pve/nas/snippets/pve-gpu-reset"
expect "attach --refresh replaces a copy from before the version marker" 0 "refreshed nas:snippets/pve-gpu-reset" \
        -- pgr attach --refresh
check "refresh: the pre-marker copy is now the binary" cmp -s "$bin_target" "$root/mnt/pve/nas/snippets/pve-gpu-reset"
expect "attach --refresh takes no VMID" 2 "refresh" -- pgr attach --refresh 100
if [ -n "$deb" ]; then
        if grep -q 'rm -f /etc/pve-gpu-reset.d/vm-\*.json' "$scratch/control/postrm" 2>/dev/null; then
                ok "postrm purge removes the attach states (/etc/pve-gpu-reset.d/vm-*.json)"
        else
                not_ok "postrm purge removes the attach states" "$(cat "$scratch/control/postrm" 2>&1)"
        fi
        if grep -q 'attach --refresh' "$scratch/control/postinst" 2>/dev/null; then
                ok "postinst refreshes the copies on configure"
        else
                not_ok "postinst refreshes the copies on configure" "$(cat "$scratch/control/postinst" 2>&1)"
        fi
fi

# 30 attaches at once, each VM with its own hookscript: every one must end up chained. Each VM's
# state is its own file, written under /run/pve-gpu-reset/attach.lock (when the chains lived in one
# policy file, parallel read-modify-write cycles kept 1-11 of the 30 entries).
mkroot "$STORAGE_SNIPPETS"
for id in $(seq 200 229); do
        printf '#!/bin/sh\nexit 0\n' >"$root/var/lib/vz/snippets/hook-$id.sh"
        chmod 0755 "$root/var/lib/vz/snippets/hook-$id.sh"
        printf 'hookscript: local:snippets/hook-%s.sh\nmemory: 1024\n' "$id" >"$root/etc/pve/qemu-server/$id.conf"
done
pids=()
for id in $(seq 200 229); do pgr attach "$id" >"$root/attach-$id.out" 2>&1 & pids+=($!); done
n_fail=0
for p in "${pids[@]}"; do wait "$p" || n_fail=$((n_fail + 1)); done
check "30 parallel attaches all exit 0" test "$n_fail" -eq 0
kept=0
for id in $(seq 200 229); do
        [ "$(jq -r .hookscript "$(state_file "$id")" 2>/dev/null)" = "/var/lib/vz/snippets/hook-$id.sh" ] && kept=$((kept + 1))
done
if [ "$kept" = 30 ]; then ok "30 parallel attaches keep all 30 chained hookscripts"; else not_ok "30 parallel attaches keep all 30 chained hookscripts" "kept $kept of 30: $(ls "$root/etc/pve-gpu-reset.d")"; fi
n_ours=$(grep -l '^hookscript: local:snippets/pve-gpu-reset$' "$root"/etc/pve/qemu-server/2??.conf | wc -l)
check "30 parallel attaches: every VM's hookscript is ours" test "$n_ours" -eq 30
pids=()
for id in $(seq 200 229); do pgr detach "$id" >"$root/detach-$id.out" 2>&1 & pids+=($!); done
n_fail=0
for p in "${pids[@]}"; do wait "$p" || n_fail=$((n_fail + 1)); done
check "30 parallel detaches all exit 0" test "$n_fail" -eq 0
n_back=0
for id in $(seq 200 229); do [ "$(hookscript_of "$id")" = "local:snippets/hook-$id.sh" ] && n_back=$((n_back + 1)); done
check "30 parallel detaches restore all 30 hookscripts ($n_back)" test "$n_back" -eq 30
check "30 parallel detaches: no state file left" test -z "$(ls "$root/etc/pve-gpu-reset.d" | grep '^vm-')"

mkroot -
expect "no storage.cfg: Proxmox's built-in local has snippets" 0 "attached local:snippets/pve-gpu-reset" -- pgr attach 100
check "no storage.cfg: symlink under /var/lib/vz/snippets" test -L "$root/var/lib/vz/snippets/pve-gpu-reset"

tap_done package
