#!/bin/sh
# The shared library exports the public API (snn_*) and nothing else.
#   usage: symbols.sh NM LIBSNNCORE.so
set -u
nm=$1
lib=$2
symbols=$("$nm" -D --defined-only "$lib" | awk '{print $NF}') || exit 1
others=$(printf '%s\n' "$symbols" | grep -v '^snn_' | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$')
if [ -n "$others" ]; then
    echo "exported symbols outside the public API:"
    printf '%s\n' "$others"
    exit 1
fi
for s in snn_net_create snn_run_batch snn_state_init_static snn_file_read snn_load_file snn_has_loader; do
    if ! printf '%s\n' "$symbols" | grep -qx "$s"; then
        echo "missing export: $s"
        exit 1
    fi
done
echo "$(printf '%s\n' "$symbols" | grep -c '^snn_') snn_* symbols exported, nothing else"
