#!/usr/bin/env bash
# Downloads the official OpenCLIP ViT-B-16-plus-240 (LAION-400M) and SAM
# checkpoints for users with internet access, checks them, and prints the
# flags to use.  Never run by the tests.
#
# usage: scripts/get-weights.sh [DIR] [--epoch 31|32] [--sam vit_b|vit_l|vit_h|none]
#
# Epoch 31 is the default: it is the checkpoint anomalib's WinCLIP and the
# paper's code load (both epochs are published; 32 is the final one).
set -euo pipefail
dir=weights
epoch=31
sam=vit_b
while [ $# -gt 0 ]; do
    case "$1" in
        --epoch) epoch="$2"; shift 2 ;;
        --sam) sam="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) dir="$1"; shift ;;
    esac
done
mkdir -p "$dir"
base=https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights
case "$epoch" in
    31) clip=vit_b_16_plus_240-laion400m_e31-8fb26589.pt; clip_sha=8fb26589 ;;
    32) clip=vit_b_16_plus_240-laion400m_e32-699c4b84.pt; clip_sha=699c4b84 ;;
    *) echo "--epoch must be 31 or 32" >&2; exit 2 ;;
esac
case "$sam" in
    vit_b) sam_file=sam_vit_b_01ec64.pth; sam_size=375042383 ;;
    vit_l) sam_file=sam_vit_l_0b3195.pth; sam_size=1249524607 ;;
    vit_h) sam_file=sam_vit_h_4b8939.pth; sam_size=2564550879 ;;
    none) sam_file= ;;
    *) echo "--sam must be vit_b, vit_l, vit_h or none" >&2; exit 2 ;;
esac

fetch() { # url file
    if [ -s "$2" ]; then echo "have $2"; return; fi
    echo "downloading $1"
    curl -L --fail --retry 3 -o "$2.part" "$1"
    mv "$2.part" "$2"
}

fetch "$base/$clip" "$dir/$clip"
got=$(sha256sum "$dir/$clip" | cut -c1-8)
if [ "$got" != "$clip_sha" ]; then
    echo "$dir/$clip: sha256 starts with $got, expected $clip_sha (corrupt download?)" >&2
    exit 1
fi
flags="--clip $dir/$clip"
if [ -n "$sam_file" ]; then
    fetch "https://dl.fbaipublicfiles.com/segment_anything/$sam_file" "$dir/$sam_file"
    got=$(stat -c %s "$dir/$sam_file")
    if [ "$got" != "$sam_size" ]; then
        echo "$dir/$sam_file: $got bytes, expected $sam_size (corrupt download?)" >&2
        exit 1
    fi
    flags="$flags --sam $dir/$sam_file"
fi
echo
echo "weights ready; use:  anomem ... $flags"
echo "or:  export ANOMEM_CLIP=$dir/$clip${sam_file:+ ANOMEM_SAM=$dir/$sam_file}"
