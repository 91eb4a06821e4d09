# Issue 15 item 4: a VM's previous hookscript is kept by `attach` in the tool's own
# /etc/pve-gpu-reset.d/vm-100.json, never in the policy file (a conffile), and the real hook in a real
# kernel chains it after its own work: pre-start moves the nvme (03:00.0) to vfio-pci and resets it (an
# FLR in QEMU's trace), then runs the old hookscript with the same arguments. detach gives it back and
# removes the state. An upgraded 0.1 host, whose chain is vms.100.hookscript in the policy file, keeps
# chaining it. qm is a stand-in that edits the VM config as `qm set` does.
# e2e-topology: gpu
# e2e-timeout: 240
# e2e-files: guest/hook.sh:/e2e/hook.sh
# e2e-trace: pci_nvme_pci_reset
# e2e-trace-some@attached-pre-start: ^pci_nvme_pci_reset
# shellcheck shell=sh disable=SC1091
. /e2e/lib.sh
. /e2e/hook.sh

NVME=0000:03:00.0
STATE=/etc/pve-gpu-reset.d/vm-100.json

mkdir -p /etc/pve /var/lib/vz/snippets /tmp/qm-bin
printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n' >/etc/pve/storage.cfg
cat >/var/lib/vz/snippets/old-hook.sh <<'EOF2'
#!/bin/sh
echo "$1 $2 chained=${PVE_GPU_RESET_CHAINED:-}" >>/tmp/chain.log
EOF2
chmod 0755 /var/lib/vz/snippets/old-hook.sh
cat >/tmp/qm-bin/qm <<'EOF2'
#!/bin/sh
echo "qm $*" >>/tmp/qm.log
conf=/etc/pve/qemu-server/$2.conf
grep -v '^hookscript:' "$conf" >"$conf.new"
[ "$3" = --hookscript ] && echo "hookscript: $4" >>"$conf.new"
mv "$conf.new" "$conf"
EOF2
chmod 0755 /tmp/qm-bin/qm
PATH=/tmp/qm-bin:$PATH
vmconf 100 "memory: 1024" "hookscript: local:snippets/old-hook.sh" "hostpci0: 03:00.0,pcie=1"
policy '{ "_about": "the admin'"'"'s policy", "defaults": { "settle_ms": 250 } }'
chmod 0644 /etc/pve-gpu-reset.json
cp /etc/pve-gpu-reset.json /tmp/policy.orig

out=$(pve-gpu-reset attach 100 2>&1); rc=$?
echo "$out" | sed 's/^/#   [attach 100] /'
t_eq "attach 100: exit" "$rc" 0
t_check "attach 100: says where the chain is recorded" sh -c 'echo "$1" | grep -q "is chained, recorded in /etc/pve-gpu-reset.d/vm-100.json"' sh "$out"
t_check "attach 100: the state file names the old hookscript" grep -q '"hookscript": "/var/lib/vz/snippets/old-hook.sh"' $STATE
t_check "attach 100: the policy file is byte for byte as it was" cmp -s /tmp/policy.orig /etc/pve-gpu-reset.json
t_check "attach 100: the VM's hookscript is ours" grep -qx 'hookscript: local:snippets/pve-gpu-reset' /etc/pve/qemu-server/100.conf

vfio-reset mark=attached-pre-start
hook 100 pre-start
vfio-reset mark=after-pre-start
t_eq "pre-start exits 0" "$HOOK_RC" 0
t_check "pre-start moved the nvme to vfio-pci" all_on_vfio $NVME
t_eq "the old hookscript ran after ours, with VMID and phase" "$(cat /tmp/chain.log 2>/dev/null)" "100 pre-start chained=1"
hook 100 post-stop
t_eq "post-stop exits 0" "$HOOK_RC" 0
t_eq "the old hookscript ran in post-stop too" "$(tail -n 1 /tmp/chain.log)" "100 post-stop chained=1"

out=$(pve-gpu-reset detach 100 2>&1); rc=$?
echo "$out" | sed 's/^/#   [detach 100] /'
t_eq "detach 100: exit" "$rc" 0
t_check "detach 100: the VM's hookscript is the old one again" grep -qx 'hookscript: local:snippets/old-hook.sh' /etc/pve/qemu-server/100.conf
t_check "detach 100: the state file is gone" test ! -e $STATE
t_check "detach 100: the policy file is byte for byte as it was" cmp -s /tmp/policy.orig /etc/pve-gpu-reset.json

# An upgraded 0.1 host: its attach recorded the chain in the policy file.
policy '{ "vms": { "100": { "hookscript": "/var/lib/vz/snippets/old-hook.sh" } } }'
chmod 0644 /etc/pve-gpu-reset.json
vmconf 100 "memory: 1024" "hookscript: local:snippets/pve-gpu-reset" "hostpci0: 03:00.0,pcie=1"
: >/tmp/chain.log
hook 100 pre-start
t_eq "0.1 chain: pre-start exits 0" "$HOOK_RC" 0
t_eq "0.1 chain: the hook still chains it" "$(cat /tmp/chain.log 2>/dev/null)" "100 pre-start chained=1"
hook 100 post-stop
t_done
