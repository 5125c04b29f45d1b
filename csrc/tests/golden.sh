#!/bin/sh
# Golden tests of snnrun: each line of tests/data/golden/cases.txt is a run whose CSV
# output must equal tests/data/golden/<case>.csv byte for byte. Those files were
# written by Python's Network.run (tests/data/make_data.py); this test needs no Python.
# The runs use two threads; under an emulator that cannot run threads (THREAD_PROBE
# does not finish, see emulator.sh) one, which must give the same bytes.
#   usage: golden.sh SNNRUN DATA_DIR [THREAD_PROBE]
set -u
. "$(dirname "$0")/emulator.sh"
snnrun=$1
data=$2
threads=2
if [ $# -ge 3 ] && ! threads_run "$3"; then
    no_threads_note "the golden runs use one thread"
    threads=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
while read -r name net input args; do
    case $name in '#'* | '') continue ;; esac
    # $args holds several options: split on purpose
    # shellcheck disable=SC2086
    if ! run_host "$snnrun" "$data/$net" "$data/$input" $args --csv --quiet --threads "$threads" >"$tmp/out.csv"; then
        echo "FAIL $name: snnrun failed"
        failed=$((failed + 1))
    elif cmp -s "$tmp/out.csv" "$data/golden/$name.csv"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: the output differs from golden/$name.csv (if the semantics changed on purpose, rerun python tests/data/make_data.py)"
        diff "$data/golden/$name.csv" "$tmp/out.csv" | head -n 6
        failed=$((failed + 1))
    fi
done <"$data/golden/cases.txt"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
