#!/usr/bin/env bash
# Runs every fuzz target (or the ones named after SECONDS) for SECONDS each (default 20), one
# after another; a target that finds a crash does not stop the others, the exit status does.
#   fuzz/run.sh 20                      # CI smoke run
#   nice -n 10 fuzz/run.sh 600
#   fuzz/run.sh 60 fuzz_sdp_rewrite     # one target
# Crashing inputs land in fuzz/artifacts/<target>/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 lets
# rustc accept the -Z flags cargo-fuzz passes; if the sanitizer runtime is missing set
# FUZZ_SANITIZER=none. Seeds: the repository's own test messages (tests/messages), and the
# external corpus (MPX_CORPUS, default ../shared/corpus beside the checkout) when present.
set -euo pipefail
secs="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_sip_scan fuzz_sdp_parse fuzz_sdp_rewrite fuzz_edit_splice fuzz_packet_classify fuzz_control_reader fuzz_media_addr)
failed=0
here="$(cd "$(dirname "$0")" && pwd)"
corpus_srcs=("$here/../tests/messages" "${MPX_CORPUS:-$here/../../shared/corpus}")
export RUSTC_BOOTSTRAP=1
san="${FUZZ_SANITIZER:-address}"
cd "$here/.."
for t in "${targets[@]}"; do
    dir="$here/corpus/$t"
    mkdir -p "$dir"
    for corpus_src in "${corpus_srcs[@]}"; do
        [ -d "$corpus_src" ] || continue
        case "$t" in
            fuzz_sip_scan) cp -n "$corpus_src"/sip/* "$dir"/ 2>/dev/null || true ;;
            fuzz_sdp_parse) cp -n "$corpus_src"/sdp/* "$dir"/ 2>/dev/null || true ;;
            fuzz_edit_splice)
                for f in "$corpus_src"/sdp/*; do
                    out="$dir/$(basename "$f")"
                    [ -e "$out" ] || { printf '\x10\x00\xff\x7f\x03\x05\x00\x04\x00\x02\x03\x07\x01\x00'; cat "$f"; } > "$out"
                done ;;
            fuzz_sdp_rewrite)
                for f in "$corpus_src"/sdp/*; do
                    out="$dir/$(basename "$f")"
                    [ -e "$out" ] || { printf '\x00\x4d\x9c\x40\x00\x00\x00\x00'; cat "$f"; } > "$out"
                done ;;
        esac
    done
    if [ "$t" = fuzz_packet_classify ]; then
        # seeds: an RTP header, an RTCP sender report header, a STUN binding request
        [ -e "$dir/rtp" ] || printf '\x80\x08\x00\x01\x00\x00\x00\xa0\x12\x34\x56\x78' > "$dir/rtp"
        [ -e "$dir/rtcp" ] || printf '\x80\xc8\x00\x06\x12\x34\x56\x78' > "$dir/rtcp"
        [ -e "$dir/stun" ] || printf '\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl' > "$dir/stun"
    fi
    case "$t" in
        fuzz_control_reader | fuzz_media_addr)
            # seeds: requests as the modules send them (the control protocol's own test lines)
            for f in "$here"/seeds/"$t"/*; do
                [ -e "$f" ] && cp -n "$f" "$dir"/
            done ;;
    esac
    case "$t" in
        fuzz_sip_scan) dict=(-dict="$here/dict/sip.dict") ;;
        fuzz_packet_classify) dict=() ;;
        fuzz_control_reader | fuzz_media_addr) dict=(-dict="$here/dict/control.dict") ;;
        *) dict=(-dict="$here/dict/sdp.dict") ;;
    esac
    echo "== $t: ${secs}s"
    if ! cargo fuzz run -s "$san" "$t" "$dir" -- \
        -max_total_time="$secs" "${dict[@]}" -print_final_stats=1; then
        echo "== $t: FAILED (see fuzz/artifacts/$t)"
        failed=1
    fi
done
exit "$failed"
