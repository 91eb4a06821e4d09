#!/bin/sh
# The rule of lib/'s layers (doc/DESIGN.md §6): a file includes headers of its own layer and of layers
# below it, never above, and always as "layer/name.h" so that the direction shows in the source.
#   base ← kernel, log ← pve ← reset ← doctor ← ops
# kernel and log stand side by side: neither includes the other. src/ and tests/ may include any layer.
# Usage: tools/check-layers.sh [LIBDIR]   Exit 1 with one line per wrong include or misplaced file.
set -eu
libdir=${1:-lib}

files=$(find "$libdir" -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "check-layers: no source files under $libdir" >&2; exit 1; }

# Placement first, in the shell: awk never sees an empty file.
misplaced=0
for f in $files; do
        case ${f#"$libdir"/} in
        base/*.[ch] | kernel/*.[ch] | log/*.[ch] | pve/*.[ch] | reset/*.[ch] | doctor/*.[ch] | ops/*.[ch])
                case ${f#"$libdir"/*/} in */*) ;; *) continue ;; esac ;;
        esac
        echo "$f: not in a layer folder (base kernel log pve reset doctor ops)"
        misplaced=$((misplaced + 1))
done

# shellcheck disable=SC2086
awk -v misplaced="$misplaced" -v libdir="$libdir" '
BEGIN {
        split("base:0 kernel:1 log:1 pve:2 reset:3 doctor:4 ops:5", pairs, " ")
        for (i in pairs) { split(pairs[i], kv, ":"); rank[kv[1]] = kv[2] }
        order = "layers: base <- kernel, log <- pve <- reset <- doctor <- ops"
}
FNR == 1 {
        files++
        rel = substr(FILENAME, length(libdir) + 2)
        n = split(rel, parts, "/")
        layer = (n == 2 && parts[1] in rank) ? parts[1] : ""
}
layer != "" && /^[ \t]*#[ \t]*include[ \t]*"/ {
        inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
        k = split(inc, ip, "/")
        if (k != 2 || !(ip[1] in rank)) {
                print FILENAME ":" FNR ": \"" inc "\": include a header of lib as \"layer/name.h\""; bad++
        } else if (ip[1] != layer && rank[ip[1]] >= rank[layer]) {
                print FILENAME ":" FNR ": \"" inc "\": " layer " must not include " ip[1] " (" order ")"; bad++
        }
}
END {
        bad += misplaced
        if (bad) { print "check-layers: " bad " wrong"; exit 1 }
        print "check-layers: " files " files, every include goes down"
}' $files
