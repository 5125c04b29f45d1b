#!/bin/sh
# snnrun as a shell user meets it: --help, --version, --info, the exit codes
# (0 ok, 1 run failed, 2 usage, 3 bad network file, 4 bad input file), the
# messages, and the result files. snnrun starts threads: under an emulator that cannot
# run them (THREAD_PROBE does not finish, see emulator.sh) the test is skipped.
#   usage: cli.sh SNNRUN DATA_DIR [THREAD_PROBE]
set -u
. "$(dirname "$0")/emulator.sh"
snnrun=$1
data=$2
if [ $# -ge 3 ] && ! threads_run "$3"; then
    no_threads_note "skipped"
    exit 77
fi
net=$data/conv_pool_dense.npz
x=$data/conv_pool_dense.x.npy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect CODE DESCRIPTION -- ARGS...: snnrun ARGS exits with CODE
expect() {
    code=$1
    what=$2
    shift 3
    run_host "$snnrun" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    got=$?
    if [ "$got" -eq "$code" ]; then
        passed=$((passed + 1))
    else
        echo "FAIL $what: exit $got, expected $code: snnrun $*"
        sed 's/^/    /' "$tmp/stderr" | head -n 5
        failed=$((failed + 1))
    fi
}

# check DESCRIPTION FILE PATTERN: FILE contains PATTERN (a fixed string)
check() {
    if grep -qF -- "$3" "$2"; then
        passed=$((passed + 1))
    else
        echo "FAIL $1: '$3' not in:"
        sed 's/^/    /' "$2" | head -n 5
        failed=$((failed + 1))
    fi
}

expect 0 "help" -- --help
check "help names the exit codes" "$tmp/stdout" "4 bad input"
expect 0 "short help" -- -h
expect 0 "version" -- --version
check "version" "$tmp/stdout" "snnrun (snncore)"
expect 2 "no arguments" --
check "usage on stderr" "$tmp/stderr" "usage: snnrun"
expect 2 "unknown option" -- "$net" "$x" --frobnicate
check "unknown option named" "$tmp/stderr" "--frobnicate"
expect 2 "one file only" -- "$net"
expect 2 "three files" -- "$net" "$x" "$x"
expect 2 "timesteps 0" -- "$net" "$x" --timesteps 0
expect 2 "timesteps text" -- "$net" "$x" -T ten
expect 2 "timesteps missing value" -- "$net" "$x" -T
expect 2 "bad encoding" -- "$net" "$x" --encoding latency
expect 2 "bad checkpoints" -- "$net" "$x" --checkpoints 4,x
expect 2 "checkpoint after T" -- "$net" "$x" -T 8 --checkpoints 4,9
expect 2 "checkpoint 0" -- "$net" "$x" --checkpoints 0
expect 2 "bad seed" -- "$net" "$x" --seed -1
expect 2 "bad threads" -- "$net" "$x" --threads 0
expect 2 "bad isa" -- "$net" "$x" --isa sse9
check "bad isa named" "$tmp/stderr" "--isa must be auto, generic, avx2 or avx512"
expect 2 "bad team" -- "$net" "$x" --team sometimes
check "bad team named" "$tmp/stderr" "--team must be auto, always or never"
expect 0 "isa generic" -- "$net" "$x" --isa generic
check "isa generic used" "$tmp/stderr" "(generic kernels)"
expect 2 "bad rate" -- "$net" "$x" --rate 0
expect 2 "readout after T" -- "$net" "$x" -T 8 --readout-start 9
expect 2 "--info with two files" -- --info "$net" "$x"

expect 3 "missing network" -- "$tmp/nope.npz" "$x"
check "missing network named" "$tmp/stderr" "nope.npz"
expect 3 "network is a directory" -- "$data" "$x"
expect 3 "a cycle" -- "$data/corpus/cycle.npz" "$x"
check "the cycle's population is named" "$tmp/stderr" "population 'p1': "
expect 3 "NaN weights" -- "$data/corpus/nan_weight.npz" "$x"
check "the projection is named" "$tmp/stderr" "projection 'c1': "
expect 3 "an image as network" -- "$x" "$x"
expect 3 "--info on a broken file" -- --info "$data/corpus/truncated_stored_2.npz"

expect 4 "missing input" -- "$net" "$tmp/nope.npy"
expect 4 "input is a network" -- "$net" "$net"
expect 4 "float64 images" -- "$net" "$data/inputs/float64.npy"
check "dtype named" "$tmp/stderr" "'<f8'"
expect 4 "int32 images" -- "$net" "$data/inputs/int32.npy"
expect 4 "NaN image" -- "$net" "$data/inputs/nan.npy"
expect 4 "empty batch" -- "$net" "$data/inputs/empty.npy"
expect 4 "wrong shape" -- "$net" "$data/inputs/wrong_shape.npy"
check "shape expected" "$tmp/stderr" "expected (n_images, 2, 6, 5)"
expect 4 "negative images under poisson" -- "$net" "$data/inputs/negative.npy" --encoding poisson
expect 0 "negative images under analog" -- "$net" "$data/inputs/negative.npy" --encoding analog

expect 1 "unwritable output" -- "$net" "$x" --output "$tmp/no/such/dir/out.npy"

expect 0 "--info" -- --info "$net"
check "--info lists populations" "$tmp/stdout" "c1  if [3, 7, 3]"
check "--info lists projections" "$tmp/stdout" "conv2d  input -> c1  kernel 2x3, stride 1x2, padding 1x1"
expect 0 "--info on grouped convolutions" -- --info "$data/zz_groups.npz"
check "--info gives a conv's groups" "$tmp/stdout" "dw  conv2d  input -> a  kernel 3x3, stride 1x1, padding 1x1, groups 4, 72 weights"
check "--info counts a grouped conv's MACs" "$tmp/stdout" "the ANN needs 3996 multiply-accumulates"
expect 0 "run" -- "$net" "$x" -T 8 -q
lines=$(wc -l <"$tmp/stdout")
if [ "$lines" -eq 3 ]; then passed=$((passed + 1)); else
    echo "FAIL run: $lines prediction lines, expected 3"; failed=$((failed + 1)); fi
if [ -s "$tmp/stderr" ]; then echo "FAIL run: --quiet printed on stderr"; failed=$((failed + 1)); else
    passed=$((passed + 1)); fi
expect 0 "summary line" -- "$net" "$x" -T 8
check "summary on stderr" "$tmp/stderr" "3 images, T=8, analog encoding"
expect 0 "profile" -- "$net" "$x" -T 8 --profile
check "profile of a population" "$tmp/stderr" "  population c1: "
check "profile of a projection" "$tmp/stderr" "synaptic operations"
run_host "$snnrun" "$net" "$x" -T 8 -q >"$tmp/plain.txt"
if cmp -s "$tmp/stdout" "$tmp/plain.txt"; then passed=$((passed + 1)); else
    echo "FAIL profile: other predictions"; failed=$((failed + 1)); fi

# other layouts of the same images give the same predictions
run_host "$snnrun" "$net" "$x" -T 16 -q >"$tmp/batch.txt"
for f in fortran flat; do
    expect 0 "$f images" -- "$net" "$data/inputs/$f.npy" -T 16 -q
    if cmp -s "$tmp/stdout" "$tmp/batch.txt"; then passed=$((passed + 1)); else
        echo "FAIL $f images: other predictions"; failed=$((failed + 1)); fi
done
expect 0 "one image" -- "$net" "$data/inputs/single.npy" -T 16 -q
head -n 1 "$tmp/batch.txt" >"$tmp/first.txt"
if cmp -s "$tmp/stdout" "$tmp/first.txt"; then passed=$((passed + 1)); else
    echo "FAIL one image: other prediction"; failed=$((failed + 1)); fi

# one image on a team of 3 or on one thread: the same outputs and counters
for team in always never auto; do
    expect 0 "team $team" -- "$net" "$data/inputs/single.npy" -T 16 -j 3 --team "$team" --csv
    if [ "$team" = always ]; then cp "$tmp/stdout" "$tmp/team.csv"
    elif cmp -s "$tmp/stdout" "$tmp/team.csv"; then passed=$((passed + 1)); else
        echo "FAIL team $team: other results"; failed=$((failed + 1)); fi
done

# result files are .npy with the documented shapes
expect 0 "result files" -- "$net" "$x" -T 8 -o "$tmp/o.npy" --spikes "$tmp/s.npy" --synops "$tmp/q.npy" -q
check "outputs (N, K)" "$tmp/o.npy" "'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
check "spikes (N, P)" "$tmp/s.npy" "'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }"
check "synops (N, J)" "$tmp/q.npy" "'descr': '<i8', 'fortran_order': False, 'shape': (3, 3), }"
expect 0 "result files with checkpoints" -- "$net" "$x" -T 8 -c 2,4 -o "$tmp/o.npy" -q
check "outputs (N, n_cp, K)" "$tmp/o.npy" "'shape': (3, 3, 4), }"
expect 0 "options as --name=value" -- "$net" "$x" --timesteps=8 --encoding=regular --csv -q
check "csv header" "$tmp/stdout" "image,t,prediction,y0,y1,y2,y3,spikes0"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
