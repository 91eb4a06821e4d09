# shellcheck shell=bash
# `pve-gpu-reset doctor [VMID] [--json]` (issue 5), sourced by tests/cli/run.sh: exit status 0 (nothing
# fails) / 1 (a check fails) / 2 (bad input), the one-line verdict, the finding that makes a broken
# fixture host fail, and the shape of --json. The doctor-* hosts are copied to $scratch: mktree writes
# the hookscript snippet 0644 and Proxmox (and doctor) want it executable.

dr=$scratch/doctor
mkdir -p "$dr"
for h in "$fixtures"/doctor-*; do
        cp -a "$h" "$dr/"
done
chmod 0755 "$dr"/*/var/lib/vz/snippets/pve-gpu-reset 2>/dev/null

# expect_json NAME STATUS PYTHON-ASSERTIONS -- CMD...: exit status, then --json's documented shape
# ({"verdict","checks":[{"id","status","slot","message","fix"}]}) and the given assertions about d.
expect_json() {
        local name=$1 want=$2 check=$3 out rc err
        shift 4
        out=$("$@" 2>/dev/null)
        rc=$?
        if [ "$rc" -ne "$want" ]; then
                not_ok "$name" "exit $rc, want $want"
                return
        fi
        err=$(printf '%s' "$out" | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
ids = {"iommu", "driver", "modprobe", "cmdline", "iommu-group", "reset", "pin", "claim", "power", "bar", "kernel", "kernel-log", "vm",
       "initramfs", "numa", "sriov"}
assert set(d) == {"verdict", "checks"}, sorted(d)
assert d["verdict"] in ("ok", "warn", "fail"), d["verdict"]
assert isinstance(d["checks"], list) and d["checks"], "no checks"
device_seen = False
for c in d["checks"]:
    assert set(c) == {"id", "status", "slot", "message", "fix"}, sorted(c)
    assert c["id"] in ids, c["id"]
    assert c["status"] in ("ok", "info", "warn", "fail"), c["status"]
    assert c["slot"] is None or re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", c["slot"]), c["slot"]
    assert isinstance(c["message"], str) and c["message"], c
    assert c["fix"] is None or (isinstance(c["fix"], str) and c["fix"]), c
    assert c["status"] != "ok" or c["fix"] is None, c
    if c["slot"] is None:
        assert not device_seen, "host-wide checks come first"
    else:
        device_seen = True
worst = max((("ok", "warn", "fail").index(c["status"]) for c in d["checks"] if c["status"] != "info"), default=0)
assert d["verdict"] == ("ok", "warn", "fail")[worst], "verdict does not match the checks"
def has(i, s, slot="*", text=""):
    return any(c["id"] == i and c["status"] == s and (slot == "*" or c["slot"] == slot) and text in c["message"]
               for c in d["checks"])
'"$check"'
' 2>&1)
        if [ -n "$err" ]; then
                not_ok "$name" "$err"
        else
                ok "$name"
        fi
}

h=$dr/doctor-healthy
expect "doctor: healthy host, VM 100: exit 0, verdict first" 0 '^verdict: ok' -- "$bin" --root "$h" doctor 100
expect "doctor: healthy host, host-wide: exit 0" 0 '^verdict: ok' -- "$bin" --root "$h" doctor
expect "doctor: findings grouped by device" 0 '^0000:02:00\.0  10de:1e07 ' -- "$bin" --root "$h" doctor 100
expect_json "doctor --json: healthy host" 0 '
assert d["verdict"] == "ok"
assert has("reset", "ok", "0000:02:00.0", "flr")
assert has("bar", "ok", "0000:02:00.0", "above 4 GiB")
for i in ("iommu", "cmdline", "kernel", "modprobe", "kernel-log", "vm"):
    assert has(i, "ok", None), i
' -- "$bin" --root "$h" doctor 100 --json
expect_json "doctor --json host-wide" 0 'assert len([c for c in d["checks"] if c["id"] == "driver"]) == 4' -- \
        "$bin" --root "$h" doctor --json
before=$(snapshot "$h")
"$bin" --root "$h" doctor >/dev/null 2>&1
"$bin" --root "$h" doctor 100 --json >/dev/null 2>&1
[ "$before" = "$(snapshot "$h")" ] && ok "doctor changed nothing under the root" ||
        not_ok "doctor changed nothing under the root" "tree differs"
expect "doctor: VM without config fails and names the file" 1 '/etc/pve/qemu-server/999\.conf' -- \
        "$bin" --root "$h" doctor 999

# One broken host per check: exit 1 and the failing finding.
expect "doctor: IOMMU off" 1 '\[ FAIL\] iommu: IOMMU off' -- "$bin" --root "$dr/doctor-no-iommu" doctor 100
expect "doctor: intel_iommu=on in grub, not booted" 1 '\[ FAIL\] cmdline: .*no intel_iommu=on' -- \
        "$bin" --root "$dr/doctor-no-iommu" doctor 100
expect "doctor: 'no iommu_group found' in the kernel log" 1 '\[ FAIL\] kernel-log: .*no iommu_group found' -- \
        "$bin" --root "$dr/doctor-no-iommu" doctor 100
expect "doctor: nouveau owns the card" 1 '\[ FAIL\] driver: nouveau' -- "$bin" --root "$dr/doctor-nouveau" doctor 100
expect "doctor: fix says blacklist nouveau" 1 'fix: echo "blacklist nouveau" >> /etc/modprobe.d/blacklist.conf' -- \
        "$bin" --root "$dr/doctor-nouveau" doctor 100
expect "doctor: stale vfio-pci ids" 1 '\[ FAIL\] modprobe: .*does not list 10de:1b06 \(0000:0a:00\.0\)' -- \
        "$bin" --root "$dr/doctor-ids-mismatch" doctor 100
expect "doctor: pcie_acs_override warned about" 1 '\[ WARN\] cmdline: pcie_acs_override' -- \
        "$bin" --root "$dr/doctor-ids-mismatch" doctor 100
expect "doctor: IOMMU group shared with a host NIC" 1 '\[ FAIL\] iommu-group: .*e1000e.*group not viable' -- \
        "$bin" --root "$dr/doctor-shared-group" doctor 100
expect "doctor: GB202 FLR is known to hang" 1 '\[ FAIL\] reset: .*GB202' -- \
        "$bin" --root "$dr/doctor-blackwell" --node pve-node-3 doctor 100
expect "doctor: GB202 fix names the policy key" 1 'devices\."10de:2b85"\.reset_methods = \["slot","remove-rescan"\]' -- \
        "$bin" --root "$dr/doctor-blackwell" --node pve-node-3 doctor 100
expect "doctor: Navi 10 with vendor-reset is fine" 0 '^verdict: ok' -- "$bin" --root "$dr/doctor-navi" doctor 100
expect "doctor: Navi 14 without vendor-reset" 1 '\[ FAIL\] reset: .*vendor-reset' -- "$bin" --root "$dr/doctor-navi" doctor 101
expect "doctor: card in D3cold" 1 '\[ FAIL\] power: power_state D3cold' -- "$bin" --root "$dr/doctor-d3cold" doctor 100
expect "doctor: boot GPU keeps the framebuffer" 1 '\[ FAIL\] cmdline: 0000:0a:00\.0 is the boot VGA device' -- \
        "$bin" --root "$dr/doctor-efifb" doctor 100
expect "doctor: BAR not assigned" 1 '\[ FAIL\] bar: BAR1 \(512 MiB 64-bit\)' -- "$bin" --root "$dr/doctor-bar" doctor 100
expect "doctor: old kernel only warns" 0 '^verdict: WARN' -- "$bin" --root "$dr/doctor-old-kernel" doctor 100
rm -rf "$dr/doctor-old-kernel/sys/module/vfio" "$dr/doctor-old-kernel/sys/module/vfio_pci" \
        "$dr/doctor-old-kernel/sys/module/vfio_iommu_type1"
expect "doctor: kernel without VFIO" 1 '\[ FAIL\] kernel: vfio, vfio_iommu_type1, vfio_pci: neither loaded' -- \
        "$bin" --root "$dr/doctor-old-kernel" doctor 100
expect "doctor: FLR that hangs, from dev/kmsg records" 1 '\[ FAIL\] kernel-log: \[ 2496\.387544\] .*after FLR; giving up' -- \
        "$bin" --root "$dr/doctor-flr-hang" doctor 100
expect "doctor: pcie=1 without q35" 1 '\[ FAIL\] vm: VM 100 hostpci0: pcie=1 needs a q35 machine' -- \
        "$bin" --root "$dr/doctor-vm" doctor 100
expect "doctor: guest reboot runs no hook, reboot from the API" 1 'fix: reboot it with qm reboot 100' -- \
        "$bin" --root "$dr/doctor-vm" doctor 100
expect "doctor: reboot: 0 leaves the VM off" 0 '\[ info\] vm: VM 100 has reboot: 0: a reboot inside the guest stops the VM' -- \
        "$bin" --root "$dr/doctor-healthy" doctor 100
expect "doctor: mapping that no longer matches" 1 'hardware probably changed' -- "$bin" --root "$dr/doctor-vm" doctor 101
expect "doctor: not attached, fix is attach" 1 'fix: pve-gpu-reset attach 210' -- "$bin" --root "$dr/doctor-vm" doctor 210
expect_json "doctor --json: broken host" 1 '
assert d["verdict"] == "fail"
assert has("driver", "fail", "0000:01:00.0", "nouveau")
assert all(c["fix"] for c in d["checks"] if c["status"] == "fail")
' -- "$bin" --root "$dr/doctor-nouveau" doctor 100 --json
expect_json "doctor --json host-wide: every VM checked" 1 '
assert has("vm", "fail", None, "VM 206 hostpci1")
assert has("vm", "info", None, "also hostpci0 of VM 100")
' -- "$bin" --root "$dr/doctor-vm" doctor --json
expect "doctor: card on another NUMA node than the VM's CPUs" 0 '\[ WARN\] numa: .*VM 100.s affinity 0-7' -- \
        "$bin" --root "$dr/doctor-numa" doctor 100
expect_json "doctor --json: numa binding on another node" 0 '
assert has("numa", "warn", "0000:83:00.0", "numa0 binds its memory to host node 0")
assert any(c["id"] == "numa" and "--numa0 cpus=0-7,memory=16384,policy=bind,hostnodes=1" in (c["fix"] or "") for c in d["checks"])
' -- "$bin" --root "$dr/doctor-numa" doctor 101 --json
# a warning, not a failure: the hook leaves such a PF on its host driver (plan.c), so i915 is no fault
expect_json "doctor --json: SR-IOV PF passed with VFs enabled" 0 '
assert has("sriov", "warn", "0000:00:02.0", "7 of 7 VFs enabled")
' -- "$bin" --root "$dr/doctor-sriov" --node pve1 doctor 100 --json
touch -d '2024-01-01 00:00' "$dr/doctor-initramfs/boot/initrd.img-6.8.12-4-pve"
expect_json "doctor --json: initramfs older than the vfio files, reset_method= for vfio-pci" 0 '
assert has("initramfs", "warn", None, "changed after /boot/initrd.img-6.8.12-4-pve was built")
assert has("modprobe", "warn", None, "/etc/modprobe.d/vfio.conf:2")
' -- "$bin" --root "$dr/doctor-initramfs" doctor 100 --json
expect "doctor: 32 GiB BAR on SeaBIOS" 1 '\[ WARN\] bar: .*VM 101 boots SeaBIOS' -- \
        "$bin" --root "$dr/doctor-blackwell" --node pve-node-3 doctor 101

# A hostpci value Proxmox drops when it reads the config (qemu-server QemuServer.pm parse_vm_config:
# "unable to parse value of 'hostpci0'", the VM starts without it) is a warning finding naming file:line,
# for the VM and host-wide.
root=$(mkroot doctorbad "hostpci0: 01:00,foo=1")
expect "doctor: dropped hostpci names file:line" 1 '\[ WARN\] vm: .*100\.conf:1: .*foo' -- "$bin" --root "$root" doctor 100
expect "doctor host-wide: dropped hostpci is a finding" 1 '\[ WARN\] vm: .*100\.conf:1' -- "$bin" --root "$root" doctor
printf '{"defaults": {' > "$dr/doctor-truncated.json"
expect "doctor: truncated policy names the file" 2 'doctor-truncated\.json' -- \
        "$bin" --root "$h" --config "$dr/doctor-truncated.json" doctor 100
expect "doctor: invalid VMID" 2 "invalid VMID 'abc'" -- "$bin" --root "$h" doctor abc
expect "doctor takes no --phase" 2 'doctor does not take --phase' -- "$bin" --root "$h" doctor 100 --phase post-stop
