# Sourced by the reduced-size experiment scripts (cpu_*.sh) after `data` and `out` are set:
# the id2r to run ($ID2R, default the project's .venv), the experiment configs folder, the
# output folder as working directory, and `budget SECONDS CMD...`, which stops CMD with
# SIGINT after SECONDS (training then saves a checkpoint and exits) and fails only when
# CMD itself fails.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
id2r=${ID2R:-$here/.venv/bin/id2r}
cfg=$here/configs/experiments
mkdir -p "$out"
cd "$out"
budget() {
    local s=$1 rc=0
    shift
    timeout -s INT "$s" "$@" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then echo "failed (exit $rc): $*" >&2; return "$rc"; fi
}
