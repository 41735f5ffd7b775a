#!/bin/sh
# Builds the disk images the partition and ext2/3/4 reader tests (pvhfw/src/disk/) read, and
# compresses them next to this script (zstd -19). Needs e2fsprogs, gdisk, fdisk (sfdisk),
# dosfstools, zstd and python3. Every UUID, time and hash seed is fixed, so a rebuild with the
# same e2fsprogs gives the same files' contents; the tests regenerate those contents with the
# same generator (`content` in pvhfw/src/disk/ext4.rs's tests) rather than hashing them.
#
#   gpt-ext4.img  GPT disk: ESP (FAT, empty), an ext4 root (4 KiB blocks, 64bit, flex_bg,
#                 metadata_csum, extents, journal) holding the tree below, an empty XBOOTLDR.
#   ext2.img      A bare ext2 filesystem, no partition table (1 KiB blocks, block maps), whose
#                 big.bin needs double-indirect blocks.
#   mbr-ext2.img  An MBR disk (signature 0x1234abcd) with one 0x83 partition holding ext2.img.
#
# Damaged copies (zeroed primary GPT header, bad magic, extents outside the disk, rec_len 0)
# are made by the tests from these in memory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# mke2fs reads /etc/mke2fs.conf; this one pins what the images get.
cat > mke2fs.conf <<'CONF'
[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext2 = {
		features = ^has_journal
	}
	small = {
		inode_ratio = 16384
	}
	floppy = {
		inode_ratio = 16384
	}
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
CONF
export MKE2FS_CONFIG="$work/mke2fs.conf"
export E2FSPROGS_FAKE_TIME=1700000000
export SOURCE_DATE_EPOCH=1700000000

# File contents (mirrored by `content` in the tests): every 512-byte piece k of a file made
# with seed s starts with the 8 bytes (s << 32 | k) little-endian and is filled with the byte
# (7k + s) mod 256, so a piece read from the wrong place shows, and the images compress.
gen() { # gen FILE SEED LENGTH
    python3 - "$1" "$2" "$3" <<'PY'
import sys
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = bytearray()
for k in range((n + 511) // 512):
    out += ((seed << 32) | k).to_bytes(8, "little") + bytes([(7 * k + seed) % 256]) * 504
open(path, "wb").write(out[:n])
PY
}
# sparse FILE SEED CHUNK HOLE COUNT: COUNT chunks of data (CHUNK bytes of one `gen` stream),
# each after HOLE bytes of hole, so each is an extent of its own.
sparse() {
    python3 - "$@" <<'PY'
import sys
path, seed, chunk, hole, count = sys.argv[1], *map(int, sys.argv[2:])
data = bytearray()
for k in range((chunk * count + 511) // 512):
    data += ((seed << 32) | k).to_bytes(8, "little") + bytes([(7 * k + seed) % 256]) * 504
with open(path, "wb") as f:
    for c in range(count):
        f.seek(hole, 1)
        f.write(data[c * chunk:(c + 1) * chunk])
PY
}

# The ext4 root's tree.
mkdir -p root/boot root/etc root/many root/dir/sub
gen root/boot/vmlinuz-6.1.0-test 1 5000
gen root/boot/initrd.img-6.1.0-test 2 300000
printf 'title Test\nlinux /boot/vmlinuz-6.1.0-test\n' > root/etc/entry.conf
ln -s boot/vmlinuz-6.1.0-test root/vmlinuz
ln -s /boot/initrd.img-6.1.0-test root/initrd.img
ln -s ../../etc/entry.conf root/dir/sub/up
# A slow symlink: the target (over 60 bytes) lives in a block of its own.
long=dir/sub/$(printf 'a%.0s' $(seq 1 100))
ln -s /$long root/long-link
mkdir -p "root/$(dirname "$long")"
printf 'long target\n' > "root/$long"
ln -s loop-b root/loop-a
ln -s loop-a root/loop-b
# Enough entries that the directory is hashed (dir_index): several blocks of names.
for i in $(seq 1 150); do printf '%d\n' "$i" > "root/many/a-rather-long-file-name-$i.txt"; done
# A hole: data, 1 MiB of nothing, data.
python3 - <<'PY'
with open("root/hole.bin", "wb") as f:
    f.write(b"head" * 1024)
    f.seek(1 << 20, 1)
    f.write(b"tail" * 1024)
PY
# Six data runs between holes: six extents, more than the inode's root holds (four), so the
# tree has an index level.
sparse root/extents.bin 3 8192 12288 6

rm -f ext4.img
truncate -s 8M ext4.img
mke2fs -q -t ext4 -b 4096 -U 2f4d6c1e-0d3b-4c59-9a57-3b2c1d0e9f81 \
    -E hash_seed=6b1d7f4e-8a2c-4d3b-9e5f-0a1b2c3d4e5f -L root -d root ext4.img
# mke2fs -d fills directories linearly; e2fsck -D indexes those over one block (many/).
e2fsck -fyD ext4.img > /dev/null 2>&1 || [ $? -le 1 ]

truncate -s 1M esp.img
mkfs.fat -i 12345678 -n ESP esp.img > /dev/null

# GPT disk: 1 MiB for the tables, ESP, root, an empty XBOOTLDR, 1 MiB for the backup tables.
truncate -s 12M gpt-ext4.img
sgdisk -U 6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d \
    -n 1:2048:+1M -t 1:ef00 -u 1:11111111-2222-4333-8444-555555555555 -c 1:ESP \
    -n 2:4096:+8M -t 2:8300 -u 2:0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9 -c 2:root \
    -n 3:20480:+1M -t 3:ea00 -u 3:bc13c2ff-0000-4000-8000-000000000003 -c 3:boot \
    gpt-ext4.img > /dev/null
dd if=esp.img of=gpt-ext4.img bs=512 seek=2048 conv=notrunc status=none
dd if=ext4.img of=gpt-ext4.img bs=512 seek=4096 conv=notrunc status=none

# ext2 with 1 KiB blocks: 12 direct blocks, 256 behind the indirect block, the rest of big.bin
# behind the double-indirect one.
mkdir -p ext2root
gen ext2root/big.bin 4 400000
gen ext2root/small.txt 5 100
# Inodes past the first group (-N: 16 a group): sub/ and what is in it.
mkdir -p ext2root/sub
gen ext2root/sub/deep.txt 6 3000
for i in 1 2 3; do printf '%d\n' "$i" > ext2root/sub/$i; done
ln -s big.bin ext2root/link
rm -f ext2.img
truncate -s 2M ext2.img
mke2fs -q -t ext2 -b 1024 -g 1024 -N 32 -U 7c6b5a49-3827-4615-8403-f2e1d0c9b8a7 \
    -E hash_seed=1a2b3c4d-5e6f-4708-9a1b-2c3d4e5f6071 -L ext2 -d ext2root ext2.img

truncate -s 3M mbr-ext2.img
printf 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=4096, type=83\n' |
    sfdisk -q mbr-ext2.img
dd if=ext2.img of=mbr-ext2.img bs=512 seek=2048 conv=notrunc status=none

for f in gpt-ext4.img ext2.img mbr-ext2.img; do
    zstd -q -19 -f "$f" -o "$here/$f.zst"
done

# Fuzzing seeds (fuzz/corpus/): a 64 KiB ext2 with a file, a directory and both kinds of
# symlink, bare and on a small GPT disk.
seeds="$here/../../../fuzz/corpus"
mkdir -p seedroot/boot "$seeds/ext4" "$seeds/partition"
gen seedroot/boot/vmlinuz-1 7 3000
ln -s boot/vmlinuz-1 seedroot/vmlinuz
ln -s "/boot/$(printf 'b%.0s' $(seq 1 70))" seedroot/long
printf 'title Seed\n' > seedroot/boot/entry.conf
rm -f seed.img
truncate -s 64K seed.img
mke2fs -q -t ext2 -b 1024 -N 16 -m 0 -O ^resize_inode -U 5eed5eed-0000-4000-8000-000000000001 \
    -E hash_seed=5eed5eed-0000-4000-8000-000000000002 -d seedroot seed.img
cp seed.img "$seeds/ext4/ext2-64k"
truncate -s 160K seed-gpt.img
sgdisk -U 5eed5eed-0000-4000-8000-000000000003 -n 1:40:+64K -t 1:8300 \
    -u 1:5eed5eed-0000-4000-8000-000000000004 seed-gpt.img > /dev/null
dd if=seed.img of=seed-gpt.img bs=512 seek=40 conv=notrunc status=none
cp seed-gpt.img "$seeds/partition/gpt-ext2"
