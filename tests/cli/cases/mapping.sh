# shellcheck shell=bash
# /etc/pve/mapping/pci.cfg, sourced by tests/cli/run.sh. qemu-server PVE/QemuServer/PCI.pm
# parse_hostpci reads pci.cfg only for a hostpci line with mapping=, and pve-common
# PVE/SectionConfig.pm parse_config only warns about (and skips) lines it cannot use: an entry
# Proxmox accepts with a warning must not fail a VM that uses no mapping, in any phase.

root=$(mkroot mapping-warn "cores: 2" "memory: 2048")
mkdir -p "$root/etc/pve/mapping"
printf '%s\n' "other" "	map id=10de:2204,node=pve2,path=0000:01:20.0" "	color red" "" \
        "vmd" "	map id=8086:2700,node=pve,path=10000:e1:00.0,iommugroup=40" "	map 0000:01:00,node=pve" \
        > "$root/etc/pve/mapping/pci.cfg"
expect "pci.cfg entry Proxmox only warns about: plan 100 (no mapping) succeeds" 0 "nothing to do" -- \
        "$bin" --root "$root" --node pve plan 100
for phase in pre-start post-start pre-stop post-stop; do
        expect "pci.cfg entry Proxmox only warns about: hook $phase on a VM without mapping exits 0" 0 "" -- \
                "$bin" --root "$root" 100 "$phase"
done
# doctor VMID read pci.cfg for every VM and gave up (exit 2) over it; now only a mapping= line looks.
out=$("$bin" --root "$root" doctor 100 2>&1)
rc=$?
if [ "$rc" -ne 2 ] && ! printf '%s\n' "$out" | grep -q "pci.cfg"; then
        ok "pci.cfg entry Proxmox only warns about: doctor 100 (no mapping) checks the VM"
else
        not_ok "pci.cfg entry Proxmox only warns about: doctor 100 (no mapping) checks the VM" "exit $rc" "$out"
fi
printf 'gpu\r\n\tmap id=10de:2204,node=pve,path=0000:01:00\r\n\r\n' > "$root/etc/pve/mapping/pci.cfg"
expect "CRLF pci.cfg: plan 100 (no mapping) succeeds" 0 "nothing to do" -- "$bin" --root "$root" --node pve plan 100
rm -f "$root/etc/pve/mapping/pci.cfg"
mkdir "$root/etc/pve/mapping/pci.cfg"
expect "unreadable pci.cfg: hook pre-start on a VM without mapping exits 0" 0 "" -- "$bin" --root "$root" 100 pre-start

# A VM with a mapping: the lines Proxmox skips are warnings (stderr and journal), the run goes on and
# the mapping it uses is resolved; here it names no device on this host, which fails the plan (exit 1),
# never the argv/policy status 2.
root=$(mkroot mapping-used "hostpci0: mapping=gpu" "memory: 2048")
mkdir -p "$root/etc/pve/mapping"
printf '%s\n' "gpu" "	map id=10de:2204,node=pve,path=0000:01:00" "	color red" > "$root/etc/pve/mapping/pci.cfg"
expect "pci.cfg warning is shown and the run goes on" 1 "pci.cfg:3: mapping 'gpu': unknown property 'color'; line ignored" -- \
        "$bin" --root "$root" --node pve plan 100
expect "the mapping's own problem is the plan's error" 1 "hostpci0: mapping 'gpu': pci device 0000:01:00.0 not found" -- \
        "$bin" --root "$root" --node pve plan 100
