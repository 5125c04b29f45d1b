# Sourced by the script tests (golden.sh, cli.sh, threaded.sh): how to start a
# program built for the host machine. In a cross build, meson test hands the cross
# file's exe_wrapper (qemu-user, see cross/) to the test in MESON_EXE_WRAPPER, quoted
# for the shell; in a native build it is unset and programs start directly.

# run_host PROGRAM ARGS...: PROGRAM with ARGS, through the emulator if there is one
run_host() {
    eval "${MESON_EXE_WRAPPER:-} \"\$@\""
}

# threads_run PROBE: whether PROBE (thread_probe.c), which starts a second thread,
# finishes within 10 s here. Natively: yes, without asking. Under an emulator whose
# threads never return (qemu-user with a dynamic loader that does not match the C
# library, docs/arm.md), every threaded test would otherwise hang until its timeout.
threads_run() {
    [ -z "${MESON_EXE_WRAPPER:-}" ] && return 0
    eval "timeout 10 $MESON_EXE_WRAPPER \"\$1\"" >/dev/null 2>&1
}

# the message of a test that skips or narrows itself for that reason
no_threads_note() {
    echo "the emulator ($MESON_EXE_WRAPPER) cannot run a second thread (the thread probe did not finish): $1"
}
