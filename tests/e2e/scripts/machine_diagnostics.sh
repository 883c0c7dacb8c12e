# What a failed test-bed script prints about the machine "$machine" before
# it exits: its state, the machine process's log (VMM, proxy), the tail of
# the current and the previous console, and the engine's log. A step that
# fails under `set -e` otherwise leaves only its own error (CI once saw
# just `connection reset by peer` from `docker load`, 2026-12-02).
# Included by the suites in tests/e2e/tests and sourced by the by-hand
# scripts; `trap machine_diagnostics_on_exit EXIT` arms it. Including it
# also starts a tracefs instance of the test bed's kernel that keeps only
# the exits that end a guest (a triple fault's intercept, with the RIP
# that the VMM can no longer read on AMD) and the exceptions KVM injected,
# so a machine that dies of a triple fault mid-suite says where (issue
# 21); as an unprivileged user it does nothing.
machine_diagnostics() {
  # Under the suites' `set -e` one failing step here would end the report.
  set +e
  echo "=== diagnostics for machine $machine"
  berth machine ls 2>&1 | sed 's/^/ls: /'
  dir=$(berth machine inspect "$machine" 2>/dev/null | sed -n 's/.*"Dir": *"\([^"]*\)".*/\1/p')
  echo "--- machine.log"; tail -n 40 "$dir/machine.log" 2>&1
  echo "--- console"; berth machine logs "$machine" 2>&1 | tail -n 40
  echo "--- previous console"; berth machine logs --previous "$machine" 2>&1 | tail -n 60
  echo "--- engine log"; timeout 20 berth machine logs --engine "$machine" 2>&1 | tail -n 40
  echo "--- the test bed kernel's record of guest-ending exits and injected exceptions"
  tail -n 12 "$machine_trace/trace" 2>&1 | grep -v '^#'
  echo "=== end of diagnostics"
}
machine_diagnostics_on_exit() {
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "script failed (exit $rc)"
    machine_diagnostics
  fi
  exit "$rc"
}
# The tracefs instance (see the top): kvm_exit filtered to SVM's shutdown
# intercept and VMX's triple fault, kvm_inj_exception as it is.
machine_trace=/sys/kernel/tracing/instances/berth-e2e
machine_trace_start() {
  [ -d /sys/kernel/tracing/instances ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || return 0
  mkdir -p "$machine_trace" 2>/dev/null || return 0
  [ -d "$machine_trace/events/kvm/kvm_exit" ] || return 0
  echo '(isa == 1 && exit_reason == 2) || (isa == 2 && exit_reason == 127)' > "$machine_trace/events/kvm/kvm_exit/filter" 2>/dev/null || return 0
  echo 1 > "$machine_trace/events/kvm/kvm_exit/enable" 2>/dev/null || return 0
  echo 1 > "$machine_trace/events/kvm/kvm_inj_exception/enable" 2>/dev/null || true
}
machine_trace_start || true
