# What a failed test-bed script prints about the machine "$machine" before
# it exits: its state, the machine process's log (VMM, proxy), the tail of
# the current and the previous console, and the engine's log. A step that
# fails under `set -e` otherwise leaves only its own error (CI once saw
# just `connection reset by peer` from `docker load`, 2026-12-02).
# Included by the suites in tests/e2e/tests and sourced by the by-hand
# scripts; `trap machine_diagnostics_on_exit EXIT` arms it.
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
