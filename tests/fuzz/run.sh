#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: tests/fuzz/run.sh [SECONDS_EACH] [TARGET...]
# (default 120 s each, every target). Needs the nightly toolchain and cargo-fuzz
# (`rustup toolchain install nightly`, `cargo install cargo-fuzz`). The first build compiles
# persona and DataFusion with libFuzzer's instrumentation into their own target directory
# ($PERSONA_FUZZ_TARGET, default ~/.cache/persona-fuzz-target), about 30 minutes on 2 cores.
# Seeds are in tests/fuzz/seeds/TARGET/; what a run learns goes to a corpus outside the clone;
# a crash is written to tests/fuzz/artifacts/TARGET/ and stops that target with exit code 1.
# Turn each crash into a regression test named after the bug (unit test beside the parser).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-120}"
shift || true
export CARGO_TARGET_DIR="${PERSONA_FUZZ_TARGET:-$HOME/.cache/persona-fuzz-target}"
corpus_root="${PERSONA_FUZZ_CORPUS:-$HOME/.cache/persona-fuzz-corpus}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir .)
fi
# No sanitizer: the project forbids unsafe code, so what is looked for is panics, aborts
# (allocation failures), hangs and broken invariants; ASan would only slow the search.
flags=(-O --sanitizer none --fuzz-dir .)
cargo +nightly fuzz build "${flags[@]}"
status=0
for t in "${targets[@]}"; do
    corpus="$corpus_root/$t"
    mkdir -p "$corpus" "artifacts/$t"
    [ -d "seeds/$t" ] && cp -n "seeds/$t"/* "$corpus/" 2>/dev/null || true
    log="$corpus_root/$t.log"
    echo "== $t: ${seconds}s"
    if cargo +nightly fuzz run "${flags[@]}" "$t" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" "$log" | tr '\n' ' '
        echo
    else
        status=1
        echo "$t FAILED: $(grep -m1 -E "panicked at|^ERROR: libFuzzer|^==[0-9]+== ERROR" "$log")"
        ls "artifacts/$t"
    fi
done
exit $status
