#!/bin/sh
# Rebuilds the FAT test images of pvhfw/src/disk/fat.rs (no loop devices, no root):
#   fat12.img.zst  1 MiB, FAT12, 512-byte sectors, 2 sectors a cluster
#   fat16.img.zst 16 MiB, FAT16, 2048-byte logical sectors, 1 sector a cluster
#   fat32.img.zst 34 MiB, FAT32, 512-byte sectors, 1 sector a cluster
# Needs dosfstools, mtools, zstd and python3 (for the pattern file). Each holds the same tree:
#   /loader/loader.conf, /loader/entries/debian-6.1.0.conf   a nested path with long names
#   /Big File With A Long Name.bin   100000 bytes of pattern(i) over many clusters
#   /FRAG.BIN                        30000 bytes of pattern(i), written into freed gaps so
#                                    that its chain has at least three runs
#   /UPPER.TXT                       a name with no long-name entries
#   /many-names-NN.txt               40 files so the root directory needs several clusters
# pattern(i) = (i * 31 + i / 1021) % 251, as the tests compute it.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pattern() {
    python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 31 + i // 1021) % 251 for i in range($1)))"
}

build() {
    name=$1 kib=$2
    shift 2
    img=$tmp/$name.img
    rm -f "$img"
    mkfs.fat -C -i 12345678 -n PVHFWTEST "$@" "$img" "$kib" >/dev/null
    export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0
    mmd -i "$img" ::/loader ::/loader/entries
    printf 'timeout 0\ndefault debian-*\n' >"$tmp/loader.conf"
    printf 'title Debian\nversion 6.1.0\nlinux /vmlinuz-6.1.0\ninitrd /initrd.img-6.1.0\noptions root=LABEL=root ro\n' \
        >"$tmp/debian-6.1.0.conf"
    mcopy -i "$img" "$tmp/loader.conf" ::/loader/loader.conf
    mcopy -i "$img" "$tmp/debian-6.1.0.conf" ::/loader/entries/debian-6.1.0.conf
    pattern 100000 >"$tmp/big"
    mcopy -i "$img" "$tmp/big" "::/Big File With A Long Name.bin"
    printf 'short name only\n' >"$tmp/upper"
    mcopy -i "$img" "$tmp/upper" ::/UPPER.TXT
    for i in $(seq -w 1 40); do
        printf 'file %s\n' "$i" >"$tmp/n"
        mcopy -i "$img" "$tmp/n" "::/many-names-$i.txt"
    done
    # Two gaps of freed clusters ahead of a kept file, then FRAG.BIN filling them and going on.
    head -c 3000 /dev/zero >"$tmp/gap"
    mcopy -i "$img" "$tmp/gap" ::/GAP1.BIN
    mcopy -i "$img" "$tmp/upper" ::/KEEP1.TXT
    mcopy -i "$img" "$tmp/gap" ::/GAP2.BIN
    mcopy -i "$img" "$tmp/upper" ::/KEEP2.TXT
    mdel -i "$img" ::/GAP1.BIN ::/GAP2.BIN
    # FAT32 keeps a next-free hint (FSInfo FSI_Nxt_Free, at byte 492 of sector 1); set it to
    # "unknown" so that mtools fills the gaps there too.
    if [ "$name" = fat32 ]; then
        printf '\377\377\377\377' | dd of="$img" bs=1 seek=$((512 + 492)) conv=notrunc status=none
    fi
    pattern 30000 >"$tmp/frag"
    mcopy -i "$img" "$tmp/frag" ::/FRAG.BIN
    fsck.fat -n "$img" >/dev/null
    zstd -q -19 -f "$img" -o "$name.img.zst"
}

build fat12 1024 -F 12 -S 512 -s 2
build fat16 16384 -F 16 -S 2048 -s 1
build fat32 34816 -F 32 -S 512 -s 1
