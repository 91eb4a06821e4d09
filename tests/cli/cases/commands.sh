# shellcheck shell=bash
# The command table (src/main.c): each command's --help lists its own options and no other command's,
# and each command either honours --dry-run (plan, doctor, history, reset and hook mode: exit as without
# it, nothing under the root changed, nothing journaled) or refuses it with exit 2, wherever it stands.
# Sourced by tests/cli/run.sh.

# Each command's own options, as its --help must list them.
declare -A own_options=(
        [plan]="--phase --json --dry-run"
        [doctor]="--json --dry-run"
        [history]="--vmid --device --since --json --dry-run"
        [reset]="--method --dry-run"
        [verify]="--cycles --probe --agent-timeout --shutdown-timeout --force --json"
        [attach]="--storage --refresh"
        [detach]=""
)
all_options=$(printf '%s\n' "${own_options[@]}" | tr ' ' '\n' | sort -u | tr '\n' ' ')
for cmd in "${!own_options[@]}"; do
        name="$cmd --help lists its own options and only those"
        out=$("$bin" "$cmd" --help 2>&1)
        rc=$?
        why=()
        [ "$rc" -eq 0 ] || why+=("exit $rc, want 0")
        printf '%s\n' "$out" | grep -q "^Usage: pve-gpu-reset $cmd" || why+=("no 'Usage: pve-gpu-reset $cmd' line")
        for o in ${own_options[$cmd]}; do
                printf '%s\n' "$out" | grep -q -- "^  $o\\b" || why+=("does not list its $o")
        done
        for o in $all_options; do
                [[ " ${own_options[$cmd]} " == *" $o "* ]] && continue
                printf '%s\n' "$out" | grep -q -- "$o\\b" && why+=("lists $o, an option of another command")
        done
        if [ ${#why[@]} -eq 0 ]; then ok "$name"; else not_ok "$name" "${why[@]}" "$out"; fi
done
expect "hook mode --help names VMID PHASE" 0 "^Usage: pve-gpu-reset VMID PHASE" -- "$bin" 100 pre-start --help
expect "an option of a command before the command says where it goes" 2 "--json is an option of a command" -- \
        "$bin" --json plan 100


# --dry-run before and after the command: honoured (same exit as without, root unchanged) or refused.
root_cmd=$(mkroot commands "cores: 2" "memory: 2048")
mkdir -p "$root_cmd/mnt/journal"
dry_honoured() { # dry_honoured NAME WANT_STATUS ARGS...: before and after the command
        local name=$1 want=$2 before out rc where
        shift 2
        for where in before after; do
                before=$(snapshot "$root_cmd")
                if [ "$where" = before ]; then
                        out=$(PVE_GPU_RESET_JOURNAL_DIR=$root_cmd/mnt/journal "$bin" --root "$root_cmd" --dry-run "$@" 2>&1)
                else
                        out=$(PVE_GPU_RESET_JOURNAL_DIR=$root_cmd/mnt/journal "$bin" --root "$root_cmd" "$@" --dry-run 2>&1)
                fi
                rc=$?
                if [ "$rc" -ne "$want" ]; then
                        not_ok "--dry-run $where: $name honours it" "exit $rc, want $want" "$out"
                elif printf '%s\n' "$out" | grep -q "does not take"; then
                        not_ok "--dry-run $where: $name honours it" "$out"
                elif [ "$before" != "$(snapshot "$root_cmd")" ]; then
                        not_ok "--dry-run $where: $name honours it" "the root changed"
                else
                        ok "--dry-run $where: $name honours it"
                fi
        done
}
dry_refused() { # dry_refused NAME ARGS...: exit 2 naming the command, before and after it
        local name=$*
        expect "--dry-run before: $name refuses it" 2 "$1 (--refresh )?does not take --dry-run" -- \
                "$bin" --root "$root_cmd" --dry-run "$@"
        expect "--dry-run after: $name refuses it" 2 "$1 (--refresh )?does not take --dry-run" -- \
                "$bin" --root "$root_cmd" "$@" --dry-run
}
dry_honoured plan 0 plan 100
dry_honoured doctor 1 doctor 100
dry_honoured history 0 history
dry_honoured "hook mode" 0 100 pre-start
dry_honoured reset 0 reset 01:00.0
dry_refused verify 100
dry_refused attach 100
dry_refused attach --refresh
dry_refused detach 100
expect "a global option after the command is taken" 0 "nothing to do" -- "$bin" plan 100 --root "$root_cmd"
