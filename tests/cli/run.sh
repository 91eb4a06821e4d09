#!/bin/bash
# CLI contract of doc/DESIGN.md §4: exit codes, one-line messages naming the problem, nothing opened or
# changed by a run that rejects its input. Runs the real binary against scratch roots and fixture trees.
set -u
builddir=${1:-build}
bin=$(cd "$builddir" && pwd)/pve-gpu-reset
fixtures=$(cd "$builddir" && pwd)/fixtures
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export PVE_GPU_RESET_JOURNAL=stderr

. "$(dirname "$0")/../tap.sh"

# expect NAME STATUS REGEX -- CMD...: exit status and a stderr+stdout line matching REGEX.
expect() {
        local name=$1 want=$2 re=$3 out rc
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

# A root with one VM and a snapshot of its tree, to prove a rejected run changed nothing.
mkroot() {
        local r=$scratch/$1
        mkdir -p "$r/etc/pve/qemu-server" "$r/sys/bus/pci/devices" "$r/run"
        echo 1 > "$r/sys/bus/pci/drivers_autoprobe"
        printf '%s\n' "${@:2}" > "$r/etc/pve/qemu-server/100.conf"
        echo "$r"
}
snapshot() { (cd "$1" && find . -printf '%p %s %T@\n' | sort); }

root=$(mkroot plain "cores: 2" "memory: 2048")
expect "version" 0 '^pve-gpu-reset [0-9]' -- "$bin" --version
expect "help" 0 'plan VMID' -- "$bin" --help
expect "no arguments" 2 'Usage' -- "$bin"
expect "VMID ../100 rejected before any file is opened" 2 "invalid VMID '../100'" -- "$bin" --root "$root" ../100 pre-start
expect "VMID 99 too small" 2 "invalid VMID '99'" -- "$bin" --root "$root" 99 pre-start
expect "VMID too large" 2 "invalid VMID '1000000000'" -- "$bin" --root "$root" 1000000000 pre-start
expect "plan VMID with letters" 2 "invalid VMID '10a0'" -- "$bin" --root "$root" plan 10a0
expect "unknown option" 2 "unknown option '--frobnicate'" -- "$bin" --frobnicate plan 100
expect "plan takes no --method" 2 "plan does not take --method" -- "$bin" --root "$root" plan 100 --method flr
expect "hook mode takes no --json" 2 "does not take --json" -- "$bin" --root "$root" 100 pre-start --json
# --dry-run promises that nothing changes: a command that cannot keep the promise refuses it.
expect "attach refuses --dry-run" 2 "attach does not take --dry-run" -- "$bin" --root "$root" --dry-run attach 100
expect "detach refuses --dry-run" 2 "detach does not take --dry-run" -- "$bin" --root "$root" --dry-run detach 100
expect "verify refuses --dry-run" 2 "verify does not take --dry-run" -- "$bin" --root "$root" --dry-run verify 100
expect "unknown command" 2 "unknown command 'frob'" -- "$bin" --root "$root" frob 100 200
expect "unknown phase in plan" 2 "unknown --phase 'pre-boot'" -- "$bin" --root "$root" plan 100 --phase pre-boot
expect "unknown phase in hook mode is ignored" 0 "unknown phase 'pre-boot' ignored" -- "$bin" --root "$root" 100 pre-boot
expect "relative --root" 2 "absolute path" -- "$bin" --root rel plan 100
expect "missing VM config exits 1 and names the file" 1 "/etc/pve/qemu-server/101.conf" -- "$bin" --root "$root" plan 101
expect "VM without hostpci: nothing to do" 0 "nothing to do" -- "$bin" --root "$root" plan 100
expect "VM without hostpci, hook: exit 0" 0 "" -- "$bin" --root "$root" 100 pre-start
expect "reset with bad address" 2 "invalid PCI address '01:00.9'" -- "$bin" --root "$root" reset 01:00.9
expect "reset with bad method" 2 "unknown --method 'frob'" -- "$bin" --root "$root" reset 01:00.0 --method frob

# A hostpci value Proxmox cannot parse is dropped with a warning and the VM starts without it
# (qemu-server QemuServer.pm parse_vm_config: "unable to parse value of 'hostpci0'"; pve-common
# JSONSchema.pm parse_property_string: "invalid key"): a warning naming file:line, exit 0, nothing touched.
root=$(mkroot badopt "hostpci0: 01:00,foo=1")
before=$(snapshot "$root/sys")
expect "hostpci0: 01:00,foo=1 is a warning naming file:line and option" 0 "100.conf:1: .*foo" -- "$bin" --root "$root" plan 100
expect "bad hostpci in pre-start: Proxmox starts the VM without it, exit 0" 0 "100.conf:1: .*foo.*left alone" -- \
        "$bin" --root "$root" 100 pre-start
[ "$before" = "$(snapshot "$root/sys")" ] && ok "dropped hostpci: nothing under sys touched" ||
        not_ok "dropped hostpci: nothing under sys touched" "tree differs"

# Upper-case hex is not qemu-server PCI.pm's $PCIRE ([a-f0-9], no /i): Proxmox passes nothing, so
# 0000:0a:00.0 of this host must not be planned or reset.
if [ -d "$fixtures/doctor-efifb" ]; then
        root=$scratch/upper
        cp -a "$fixtures/doctor-efifb" "$root"
        sed -i 's/^hostpci0: 0a:00/hostpci0: 0A:00/' "$root/etc/pve/qemu-server/100.conf"
        before=$(snapshot "$root/sys")
        expect "hostpci0: 0A:00 plans nothing" 0 "nothing to do" -- "$bin" --root "$root" plan 100
        expect "hostpci0: 0A:00 in pre-start: warning, exit 0" 0 "invalid PCI ID '0A:00'" -- "$bin" --root "$root" 100 pre-start
        [ "$before" = "$(snapshot "$root/sys")" ] && ok "hostpci0: 0A:00 touched nothing under sys" ||
                not_ok "hostpci0: 0A:00 touched nothing under sys" "tree differs"
fi

root=$(mkroot badpolicy "cores: 1")
printf '{"defaults": {' > "$scratch/truncated.json"
expect "truncated policy names the file" 2 "truncated.json" -- "$bin" --root "$root" --config "$scratch/truncated.json" plan 100
printf '{"defaults": {"on_failure": "explode"}}' > "$scratch/badvalue.json"
expect "bad policy value names the key" 2 "defaults.on_failure" -- "$bin" --root "$root" --config "$scratch/badvalue.json" plan 100
printf '{}' > "$scratch/ww.json"
chmod 0666 "$scratch/ww.json"
expect "world-writable policy refused" 2 "writable" -- "$bin" --root "$root" --config "$scratch/ww.json" plan 100
expect "missing --config file" 2 "nope.json" -- "$bin" --root "$root" --config "$scratch/nope.json" plan 100

# --dry-run: the plan is shown, nothing under the root changes, nothing is journaled.
if [ -d "$fixtures/qemu-guest-6.1" ]; then
        root=$scratch/dry
        cp -a "$fixtures/qemu-guest-6.1" "$root"
        before=$(snapshot "$root")
        expect "--dry-run hook shows the plan" 0 "bus-reset reset_subordinate" -- "$bin" --root "$root" --dry-run 100 post-stop
        expect "--dry-run reset shows the plan" 0 "^reset command" -- "$bin" --root "$root" --dry-run reset 01:00.0 01:00.1
        expect "-v plan says why each action was chosen" 0 "bus-reset: through bridge 0000:00:01.0" -- "$bin" --root "$root" -v plan 100
        [ "$before" = "$(snapshot "$root")" ] && ok "--dry-run changed nothing under the root" ||
                not_ok "--dry-run changed nothing under the root" "tree differs"
fi

# Fixture hosts built from real lspci dumps (tests/fixtures/hosts).
for f in tests/cli/cases/*.sh; do
        [ -f "$f" ] && . "$f"
done

tap_done cli
