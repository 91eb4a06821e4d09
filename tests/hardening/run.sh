#!/bin/bash
# Hardening suite (issue 7): the hook under valgrind on every fixture tree, lock contention that names
# the holder, hostile VM configs, a read-only /sys, concurrent hooks. Each case runs the real binary on
# a fresh copy of a fixture root. Last line: "hardening: N passed, N failed".
set -u
builddir=${1:-build}
bin=$(cd "$builddir" && pwd)/pve-gpu-reset
fixtures=$(cd "$builddir" && pwd)/fixtures
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export PVE_GPU_RESET_JOURNAL=stderr
. "$(dirname "$0")/../tap.sh"
fresh() { rm -rf "$scratch/$1"; cp -a "$fixtures/$1" "$scratch/$1"; echo "$scratch/$1"; }
check() { # check NAME CONDITION-CMD... (output of the last run in $out)
        local name=$1
        shift
        if "$@"; then ok "$name"; else not_ok "$name" "$(printf '%s\n' "$out" | tail -5)"; fi
}
run() { out=$("$@" 2>&1); rc=$?; }
says() { printf '%s\n' "$out" | grep -Eq -- "$1"; }
# Fixture roots have no kernel behind them (an unbind never happens), so every wait is kept short.
fast=$scratch/fast.json
echo '{"defaults": {"bind_timeout_ms": 100, "reset_timeout_ms": 100, "rescan_timeout_ms": 100, "settle_ms": 0}}' >"$fast"
no_lock_held() { ! grep -qs pid= "$1"/run/pve-gpu-reset/*.lock; }
autoprobe_is_1() { [ "$(cat "$1/sys/bus/pci/drivers_autoprobe")" = 1 ]; }

# --- valgrind: no invalid access, no leak, on every fixture host and command
if command -v valgrind >/dev/null; then
        vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
            --show-leak-kinds=definite,indirect)
        # One VM per kind of host: every code path of plan and apply, without valgrinding each fixture.
        for hv in gpu-audio-rootport:100 rtx2080ti-4func:100 plx-shared-bridge:100 quadro-noflr:101 \
                  mapping:100 mapping:101 keep-mdev:100 dead-gpu:100 host-driver:100 wx3100-amdgpu:100; do
                host=${hv%:*} id=${hv#*:}
                root=$(fresh "$host")
                {
                        for cmd in "plan $id --json" "$id pre-start" "$id post-stop"; do
                                # shellcheck disable=SC2086
                                run "${vg[@]}" "$bin" --root "$root" --config "$fast" $cmd
                                if [ "$rc" -eq 99 ] || printf '%s\n' "$out" | grep -q '^==[0-9]*=='; then
                                        not_ok "valgrind clean: $host: $cmd" "$(printf '%s\n' "$out" | grep '^==' | head -8)"
                                else
                                        ok "valgrind clean: $host: $cmd (exit $rc)"
                                fi
                        done
                }
        done
        root=$(fresh gpu-audio-rootport)
        run "${vg[@]}" "$bin" --root "$root" doctor 100 --json
        check "valgrind clean: doctor (exit $rc)" test "$rc" -ne 99
        run "${vg[@]}" "$bin" --root "$root" reset 01:00.0 --method reset_subordinate
        check "valgrind clean: reset command (exit $rc)" test "$rc" -ne 99
        # verify, with tests/cli/qm-standin as qm (valgrind does not follow it): a passing run, a
        # failing start, --json, an unreadable journal and a readable one.
        mkdir -p "$scratch/vbin" "$scratch/vjournal"
        ln -sf "$PWD/tests/cli/qm-standin" "$scratch/vbin/qm"
        for vcase in "good:--cycles 1:$scratch/nojournal" "fail-second-start:--cycles 2 --json:$scratch/vjournal" \
                     "running:--force --cycles 1:$scratch/vjournal"; do
                mode=${vcase%%:*} vargs=${vcase#*:} jdir=${vargs#*:} vargs=${vargs%%:*}
                rm -rf "$scratch/vqm" && mkdir -p "$scratch/vqm"
                [ "$mode" = running ] && touch "$scratch/vqm/running"
                # shellcheck disable=SC2086 # $vargs is a word list
                run env PATH="$scratch/vbin:$PATH" QM_STANDIN_DIR="$scratch/vqm" QM_STANDIN_MODE="$mode" \
                        PVE_GPU_RESET_JOURNAL_DIR="$jdir" "${vg[@]}" "$bin" --root "$root" verify 100 --agent-timeout 2 $vargs
                check "valgrind clean: verify, qm $mode (exit $rc)" test "$rc" -ne 99 -a "$rc" -ne 2
        done
else
        not_ok "valgrind is installed" "run tools/deps.sh"
fi

# --- a lock held by another run: the hook waits its timeout, then names the holder
root=$(fresh gpu-audio-rootport)
mkdir -p -m 0700 "$root/run/pve-gpu-reset"
echo '{"defaults": {"lock_timeout_ms": 300}}' > "$scratch/lock.json"
lock="$root/run/pve-gpu-reset/slot-0000:01:00.lock"
(
        exec 9>"$lock"
        flock 9
        echo "pid=$BASHPID vmid=555 what=post-stop since=$(date +%s)" >&9
        sleep 3
) &
holder=$!
sleep 0.5
run "$bin" --root "$root" --config "$scratch/lock.json" 100 post-stop
check "held slot lock: post-stop fails (exit 1)" test "$rc" -eq 1
check "held slot lock: the message names the holder" says "held by pid $holder \(vmid=555 what=post-stop\)"
check "held slot lock: drivers_autoprobe untouched" autoprobe_is_1 "$root"
wait $holder
run "$bin" --root "$root" --config "$scratch/lock.json" 100 post-stop
check "after the holder is gone the same run succeeds" test "$rc" -eq 0
check "no lock left held" no_lock_held "$root"

# --- /run/lock is 1777: a local user who creates /run/lock/pve-gpu-reset first blocks nothing, since
# locks live in the root-only /run/pve-gpu-reset; a planted or loose runtime directory is refused by name.
root=$(fresh gpu-audio-rootport)
mkdir -p -m 1777 "$root/run/lock"
mkdir -m 0777 "$root/run/lock/pve-gpu-reset"
chown 65534:65534 "$root/run/lock/pve-gpu-reset" 2>/dev/null
run "$bin" --root "$root" --config "$fast" 100 post-stop
check "squatted /run/lock/pve-gpu-reset: post-stop still exits 0" test "$rc" -eq 0
check "runtime directory created root-only (0700)" test "$(stat -c %a "$root/run/pve-gpu-reset")" = 700
root=$(fresh gpu-audio-rootport)
mkdir -p "$root/run" "$scratch/elsewhere"
ln -s "$scratch/elsewhere" "$root/run/pve-gpu-reset"
run "$bin" --root "$root" --config "$fast" 100 post-stop
check "symlinked runtime directory: post-stop exits 1" test "$rc" -eq 1
check "symlinked runtime directory: the message names it" says "runtime directory .*/run/pve-gpu-reset is a symlink; refusing"
check "symlinked runtime directory: nothing written through it" test -z "$(ls -A "$scratch/elsewhere")"

# --- four hooks for the same VM at once (two slots, one bus lock): all finish, none deadlocks. Hooks
# for N VMs on one bridge at once run on a real kernel in the benchmark B3 (tests/bench).
root=$(fresh rtx2080ti-4func)
pids=()
for i in 1 2 3 4; do "$bin" --root "$root" --config "$fast" 102 post-stop >"$scratch/c$i.out" 2>&1 & pids+=($!); done
rcs=""
for p in "${pids[@]}"; do wait "$p"; rcs="$rcs$?"; done
out=$(cat "$scratch"/c*.out)
check "4 concurrent hooks for one VM all exit 0 [$rcs]" test "$rcs" = 0000
check "concurrent hooks leave no lock held" no_lock_held "$root"
check "concurrent hooks leave drivers_autoprobe at 1" autoprobe_is_1 "$root"

# --- a chained hookscript that runs the hook again: never a recursion. Directly (the chained path is
# this binary under another name) it is refused by inode; indirectly (a script that calls the hook,
# which would chain the script again) the hook run from a chained script refuses to chain further.
# The root and policy come from the environment and the root's policy file, as every level sees them.
# The stand-in stops itself after 5 rounds, so even a broken hook cannot fork without end here.
root=$(fresh gpu-audio-rootport)
cat >"$scratch/rechain.sh" <<EOF
#!/bin/sh
n=\$(( \$(cat "$scratch/rechain.count" 2>/dev/null || echo 0) + 1 ))
echo \$n >"$scratch/rechain.count"
[ \$n -gt 5 ] && exit 99
exec "$bin" "\$1" "\$2"
EOF
chmod 0755 "$scratch/rechain.sh"
echo "{\"vms\": {\"100\": {\"hookscript\": \"$scratch/rechain.sh\"}}}" >"$root/etc/pve-gpu-reset.json"
run env PVE_GPU_RESET_ROOT="$root" timeout 20 "$bin" 100 post-start
check "a chained script that calls the hook again runs once ($(cat "$scratch/rechain.count"))" \
        test "$(cat "$scratch/rechain.count")" = 1
check "indirect recursion: exit 0" test "$rc" -eq 0
check "indirect recursion: the inner hook says why it did not chain" says "refus.*chain|chain.*refus"
ln -s "$bin" "$scratch/self-hook"
echo "{\"vms\": {\"100\": {\"hookscript\": \"$scratch/self-hook\"}}}" >"$root/etc/pve-gpu-reset.json"
# In its own pid namespace: if the hook did recurse, timeout takes the whole chain down with it.
run env PVE_GPU_RESET_ROOT="$root" timeout 5 unshare --pid --fork --kill-child "$bin" 100 post-start
check "a chained hookscript that is the hook itself: refused, exit 0" test "$rc" -eq 0
check "self-chain: the message names the refusal" says "is this binary.*refus|refus.*itself"

cp "$bin" "$scratch/copy-hook"
echo "{\"vms\": {\"100\": {\"hookscript\": \"$scratch/copy-hook\"}}}" >"$root/etc/pve-gpu-reset.json"
run env PVE_GPU_RESET_ROOT="$root" timeout 5 unshare --pid --fork --kill-child "$bin" 100 post-start
check "a chained hookscript that is a copy of pve-gpu-reset: refused without running it, exit 0" \
        sh -c '[ "$1" -eq 0 ] && printf "%s" "$2" | grep -q "refusing to chain .*copy-hook: it is pve-gpu-reset itself" &&
               [ "$(printf "%s\n" "$2" | grep -c "\] chain ")" -eq 1 ]' sh "$rc" "$out"

# --- hostile VM configs: clear message, exit 2, nothing written
root=$(fresh gpu-audio-rootport)
conf=$root/etc/pve/qemu-server
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' > "$conf/300.conf"
run "$bin" --root "$root" 300 pre-start
check "config over 1 MiB: exit 2" test "$rc" -eq 2
check "config over 1 MiB: says so" says "300.conf.*(large|1 MiB|size)"
# A NUL is an ordinary byte to qemu-server's parse_vm_config (Perl strings): the hostpci value does not
# match PCI.pm's $PCIRE and is dropped with a warning naming the line; nothing is touched.
printf 'memory: 1024\nhostpci0: 01:00\0,pcie=1\n' > "$conf/301.conf"
run "$bin" --root "$root" plan 301
check "config with a NUL byte: warning naming the line, exit 0" sh -c '[ "$1" -eq 0 ] && printf "%s" "$2" | grep -q "301.conf:2"' sh "$rc" "$out"
printf 'memory: 1024\r\nhostpci0: 01:00,pcie=1\r\n' > "$conf/302.conf"
run "$bin" --root "$root" plan 302 --json
check "config with CRLF line ends parses" says '"slot":"0000:01:00.0"'
{ printf 'args: '; head -c 600000 /dev/zero | tr '\0' 'x'; printf '\nhostpci0: 01:00\n'; } > "$conf/303.conf"
run "$bin" --root "$root" plan 303 --json
check "config with a 600 kB line parses" says '"slot":"0000:01:00.1"'
ln -s 304.conf "$conf/304.conf"
run "$bin" --root "$root" 304 pre-start
check "symlink loop in /etc/pve: exit 2 with a message" sh -c '[ "$1" -eq 2 ] && printf "%s" "$2" | grep -qi "loop\|symbolic"' sh "$rc" "$out"
check "hostile configs wrote nothing" sh -c '! [ -e "$1/run/pve-gpu-reset" ]' sh "$root"

# --- functions a VM config gives with driver=keep or mdev are never written: not by pre-start, not by
# post-stop replaying what pre-start recorded, not by the reset command (keep-mdev: VM 100 has the iGPU
# 00:02.0 as mdev and 01:00 with driver=keep).
root=$(fresh keep-mdev)
devsnap() { (cd "$root/sys/devices" && find . -path '*0000:00:02.0*' -o -path '*0000:01:00.*' | sort |
        while read -r f; do [ -f "$f" ] && printf '%s %s\n' "$f" "$(md5sum < "$f")"; [ -L "$f" ] && printf '%s -> %s\n' "$f" "$(readlink "$f")"; done); }
before=$(devsnap)
run "$bin" --root "$root" --config "$fast" 100 pre-start
check "keep/mdev: pre-start exits 0" test "$rc" -eq 0
check "keep/mdev: pre-start recorded what the config said" grep -qx '0000:01:00.0 keep' "$root/run/pve-gpu-reset/vm-100.devices"
run "$bin" --root "$root" --config "$fast" 100 post-stop
check "keep/mdev: post-stop exits 0" test "$rc" -eq 0
run "$bin" --root "$root" --config "$fast" reset 01:00.0
check "keep/mdev: reset 01:00.0 is refused (exit 1)" test "$rc" -eq 1
check "keep/mdev: the refusal names driver=keep" says "driver=keep"
check "keep/mdev: no attribute of 00:02.0 or 01:00 was written" test "$before" = "$(devsnap)"
check "keep/mdev: no clean mark for them" sh -c '! ls "$1"/run/pve-gpu-reset/clean-* 2>/dev/null' sh "$root"

# --- the policy file is read once: replacing it mid-run changes nothing of that run (unit-tested in
# test_policy); here: a policy that becomes world-writable between runs is refused by the next run.
root=$(fresh gpu-audio-rootport)
echo '{}' > "$root/etc/pve-gpu-reset.json"
chmod 0644 "$root/etc/pve-gpu-reset.json"
run "$bin" --root "$root" 100 post-stop
check "root-owned 0644 policy accepted" test "$rc" -eq 0
chmod 0666 "$root/etc/pve-gpu-reset.json"
run "$bin" --root "$root" 100 post-stop
check "world-writable policy refused with exit 2" test "$rc" -eq 2
check "world-writable policy: message says how to fix it" says "chmod"

# --- the VM's attach state names the script the hook runs as root: in a directory others may write,
# a symlink to a root-owned file of their content (an API-uploaded ISO is root:root 0644) passed the
# file's own checks. The directory is checked too (sticky is fine, as /tmp).
root=$(fresh gpu-audio-rootport)
mkdir -p "$root/etc/pve-gpu-reset.d" "$root/var/lib/vz/template/iso"
printf '#!/bin/sh\ntouch "%s/planted.ran"\n' "$scratch" >"$scratch/planted.sh"
chmod 0755 "$scratch/planted.sh"
printf '{"format": 1, "vmid": 100, "hookscript": "%s", "volid": "local:snippets/x"}\n' "$scratch/planted.sh" \
        >"$root/var/lib/vz/template/iso/upload.iso"
ln -s "$root/var/lib/vz/template/iso/upload.iso" "$root/etc/pve-gpu-reset.d/vm-100.json"
chmod 0777 "$root/etc/pve-gpu-reset.d"
run "$bin" --root "$root" 100 post-start
check "state in a world-writable directory refused with exit 2" test "$rc" -eq 2
check "state in a world-writable directory: message says how to fix it" says "pve-gpu-reset.d: writable by others.*chmod 0755"
check "state in a world-writable directory: the script it names did not run" test ! -e "$scratch/planted.ran"
chmod 0755 "$root/etc/pve-gpu-reset.d"
run "$bin" --root "$root" 100 post-start
check "the same state in a root-only directory is run (exit $rc)" test -e "$scratch/planted.ran"

# --- a read-only /sys: writes fail with EROFS, the hook says which and exits 1
if unshare -m true 2>/dev/null; then
        root=$(fresh gpu-audio-rootport)
        run unshare -m sh -c 'mount --bind "$1/sys" "$1/sys" && mount -o remount,bind,ro "$1/sys" && shift && exec "$@"' \
                sh "$root" "$bin" --root "$root" 100 post-stop
        check "read-only /sys: post-stop exits 1" test "$rc" -eq 1
        check "read-only /sys: the message names the device and the error" says "0000:01:00.*(Read-only|EROFS)"
        check "read-only /sys: no lock left held" no_lock_held "$root"
fi

tap_done hardening
