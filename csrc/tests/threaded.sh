#!/bin/sh
# A C test that starts threads, in a cross build: run through the emulator if the
# emulator runs threads (the thread probe finishes), else skipped (exit 77) with a
# message that says why, rather than hanging until meson's timeout.
#   usage: threaded.sh THREAD_PROBE TEST [ARGS...]
set -u
. "$(dirname "$0")/emulator.sh"
probe=$1
shift
if ! threads_run "$probe"; then
    no_threads_note "skipped"
    exit 77
fi
run_host "$@"
