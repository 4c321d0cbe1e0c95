#!/usr/bin/env bash
# test-cli.sh - the fit / predict / segment / info commands end to end, and
# their errors: a few-shot model fitted with the tiny reference CLIP on the
# synthetic set, scored by predict (scores.csv, results.json, 16-bit maps
# whose scale recovers the values, overlays); fit + predict twice give the
# same bytes; segment finds the VisA candles; bad inputs give clear errors.
set -u
cli=${ANOMEM_CLI:-./anomem}
make_images=${ANOMEM_MAKE_IMAGES:-./make-test-images}
shared=${ANOMEM_SHARED:-../shared}
clip=$shared/vectors/clip-tiny/model.safetensors
tmp=$(mktemp -d /tmp/anomem-cli-XXXXXX)
passed=0 failed=0
check() { # description, command...
    local what=$1; shift
    if "$@" >>"$tmp/log" 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}
fails_with() { # description, expected exit code, key words, command...
    local what=$1 code=$2 words=$3; shift 3
    "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [ "$rc" = "$code" ] && grep -qi -- "$words" "$tmp/out"; then passed=$((passed + 1));
    else failed=$((failed + 1)); echo "FAIL: $what (exit $rc): $(cat "$tmp/out")" >&2; fi
}

check "synth" "$cli" synth --out "$tmp/data" --seed 3 --train 2 --good 1 --per-defect 1 --size 160
shots=("$tmp"/data/pills/train/good/*.png)
tests=("$tmp"/data/pills/test/*/*.png)
for run in a b; do
    check "fit $run" "$cli" fit --clip "$clip" --object pill --shots "${shots[@]}" --out "$tmp/$run.anomem"
    check "predict $run" "$cli" predict --model "$tmp/$run.anomem" --clip "$clip" "${tests[@]}" --out "$tmp/out-$run"
done
check "same seed, same model bytes" cmp "$tmp/a.anomem" "$tmp/b.anomem"
check "fit says when the banks were capped" sh -c "'$cli' fit --clip '$clip' --memory-capacity 50 --shots ${shots[*]} --out '$tmp/capped.anomem' 2>/dev/null | grep -q 'memory banks: 300 embeddings kept of'"
check "same outputs" cmp "$tmp/out-a/scores.csv" "$tmp/out-b/scores.csv"
check "same maps" cmp "$tmp/out-a/maps/000.png" "$tmp/out-b/maps/000.png"
check "scores.csv: header + one row per image" test "$(wc -l <"$tmp/out-a/scores.csv")" -eq $((${#tests[@]} + 1))
check "results.json lists every image" test "$(grep -c '"image"' "$tmp/out-a/results.json")" -eq ${#tests[@]}
# PNG header: bit depth (byte 24) 16, colour type (byte 25) 0 = grayscale
check "16-bit map" test "$(od -An -tu1 -j24 -N2 "$tmp/out-a/maps/000.png" | tr -s ' ')" = " 16 0"
check "overlay" test -s "$tmp/out-a/overlays/000.png"
check "info on the model file" "$cli" info "$tmp/a.anomem"
check "zero-shot predict" "$cli" predict --zero-shot --clip "$clip" --object pill "${tests[0]}" --out "$tmp/zs"

# what cameras deliver is converted, not refused: RGBA and 16-bit PNGs score
# exactly as the 8-bit RGB original; gray and CMYK JPEGs score
mkdir -p "$tmp/formats"
check "make image variants" "$make_images" "${tests[0]}" "$tmp/formats"
check "predict on RGBA, 16-bit, gray JPEG, CMYK JPEG" "$cli" predict --model "$tmp/a.anomem" --clip "$clip" "${tests[0]}" "$tmp"/formats/{rgba.png,rgb16.png,gray.jpg,cmyk.jpg} --out "$tmp/out-formats"
score_of() { awk -F, -v n="$1" 'NR > 1 && $1 ~ n { print $2 }' "$tmp/out-formats/scores.csv"; }
check "RGBA scores as RGB" test "$(score_of rgba.png)" = "$(score_of "$(basename "${tests[0]}")")"
check "16-bit scores as 8-bit" test "$(score_of rgb16.png)" = "$(score_of "$(basename "${tests[0]}")")"
check "gray JPEG scored" test -n "$(score_of gray.jpg)"
check "CMYK JPEG scored" test -n "$(score_of cmyk.jpg)"

candles=("$shared"/data/visa-samples/candle/Data/Images/*/*.JPG)
check "segment candles" "$cli" segment "${candles[0]}" --out "$tmp/seg"
stem=$(basename "${candles[0]}" .JPG)
check "4 candles" test "$(grep -c '"bbox"' "$tmp/seg/$stem.objects.json")" -eq 4
check "boxes drawn" test -s "$tmp/seg/$stem.objects.png"
check "segment with SAM" "$cli" segment --sam "$shared/vectors/sam-tiny/model.safetensors" --points-per-side 4 --pred-iou-thresh 0.39 --stability-score-thresh 0.45 "${candles[0]}" --out "$tmp/segsam"
check "SAM records" grep -q '"predicted_iou"' "$tmp/segsam/$stem.masks.json"
check "SAM label image" test -s "$tmp/segsam/$stem.masks.png"
check "SAM objects" test -s "$tmp/segsam/$stem.objects.json"

# safetensors FILE NAME...: a weight file whose tensors NAME... are F32 [1] zeros
safetensors() {
    local out=$1 json="" off=0 name
    shift
    for name in "$@"; do
        json="$json${json:+,}\"$name\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[$off,$((off + 4))]}"
        off=$((off + 4))
    done
    json="{$json}"
    local n=${#json}
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"'\0\0\0\0' >"$out"
    printf '%s' "$json" >>"$out"
    head -c "$off" /dev/zero >>"$out"
}

# errors: exit status and key words
fails_with "missing file" 1 "cannot open" "$cli" info "$tmp/nope.pt"
fails_with "folder as file" 1 "directory" "$cli" info "$tmp"
: >"$tmp/empty.pt"
fails_with "empty file" 1 "empty" "$cli" info "$tmp/empty.pt"
head -c 5000 "$clip" >"$tmp/trunc.safetensors"
fails_with "truncated weights" 1 "trunc" "$cli" info "$tmp/trunc.safetensors"
fails_with "SAM given as CLIP" 1 "Segment Anything model.*give it as --sam" "$cli" fit --clip "$shared/vectors/sam-tiny/model.safetensors" --shots "${shots[0]}" --out "$tmp/x.anomem"
safetensors "$tmp/rn50.safetensors" visual.conv1.weight visual.layer1.0.conv1.weight visual.attnpool.c_proj.weight text_projection
check "the test's safetensors writer" "$cli" info "$tmp/rn50.safetensors"
fails_with "a ResNet CLIP" 1 "ResNet CLIP.*not an OpenCLIP vision transformer" "$cli" fit --clip "$tmp/rn50.safetensors" --shots "${shots[0]}" --out "$tmp/x.anomem"
safetensors "$tmp/convnext.safetensors" visual.trunk.stem.0.weight visual.head.proj.weight text_projection
fails_with "a timm-tower CLIP" 1 "timm image tower" "$cli" predict --zero-shot --clip "$tmp/convnext.safetensors" "${tests[0]}" --out "$tmp/o5"
safetensors "$tmp/hf.safetensors" vision_model.embeddings.patch_embedding.weight text_model.embeddings.token_embedding.weight
fails_with "a transformers CLIP" 1 "Hugging Face" "$cli" predict --zero-shot --clip "$tmp/hf.safetensors" "${tests[0]}" --out "$tmp/o6"
fails_with "model fitted with another CLIP" 1 "another CLIP" "$cli" predict --model "$tmp/a.anomem" --clip random:5 "${tests[0]}" --out "$tmp/o"
printf 'not a png' >"$tmp/bad.png"
fails_with "corrupt image" 1 "bad.png" "$cli" predict --model "$tmp/a.anomem" --clip "$clip" "$tmp/bad.png" --out "$tmp/o2"
fails_with "unknown flag" 2 "unknown" "$cli" predict --bogus
fails_with "unknown command" 2 "unknown command" "$cli" frobnicate
fails_with "bad --clip random seed" 1 "random:SEED" "$cli" predict --zero-shot --clip random:x "${tests[0]}" --out "$tmp/o3"
fails_with "image over the pixel limit" 1 "larger than the limit" "$cli" segment --max-pixels 1000 "${candles[0]}" --out "$tmp/seglim"
fails_with "unwritable output folder" 1 "cannot create" "$cli" segment "${candles[0]}" --out /proc/anomem-no-such-dir
fails_with "memory budget of no memory" 1 "memory budget must be" "$cli" fit --clip "$clip" --memory-budget 0 --shots "${shots[0]}" --out "$tmp/budget.anomem"
fails_with "not a model file" 1 "not an anomem model" "$cli" predict --model "$clip" "${tests[0]}" --out "$tmp/o4"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && rm -rf "$tmp"
[ "$failed" -eq 0 ]
