#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from the QEMU captures in pvhfw/testdata:
QEMU 7.2's under the variant's name, QEMU 10.0's as qemu-10.0-<variant>.

The items format is described in fuzz/src/lib.rs. Run from anywhere: python3 fuzz/seeds.py
"""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "pvhfw", "testdata")
# (capture folder, seed name prefix)
QEMUS = [("qemu-7.2", ""), ("qemu-10.0", "qemu-10.0-")]
MACHINES = ["pc", "q35", "q35-smbios3", "microvm", "pc-vmgenid-smp4"]
M = 1 << 20


def capture(qemu, variant):
    files = {}
    d = os.path.join(TESTDATA, qemu, variant)
    for line in open(os.path.join(d, "files.txt")):
        name, size = line.rsplit(" ", 1)
        data = open(os.path.join(d, name.replace("/", "_")), "rb").read()
        # Full size, except for the bulk of zeros after the ACPI tables and the script's
        # padding: small seeds fuzz faster.
        keep = {"etc/acpi/tables": 4096, "etc/table-loader": 128}.get(name)
        size = min(int(size), -(-len(data) // keep) * keep) if keep else int(size)
        files[name] = data.ljust(size, b"\0")
    return files


def file_item(name, data):
    n = name.encode()
    return bytes([len(n)]) + n + struct.pack("<I", len(data)) + data


def key_item(key, data):
    return b"\0" + struct.pack("<HI", key, len(data)) + data


def directory(files):
    out = struct.pack(">I", len(files))
    for i, (name, data) in enumerate(files.items()):
        out += struct.pack(">IHH", len(data), 0x20 + i, 0) + name.encode().ljust(56, b"\0")
    return out


def e820(entries):
    return b"".join(struct.pack("<QQI", a, l, t) for a, l, t in entries)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)


def main():
    bzimage = open(os.path.join(TESTDATA, "qemu-7.2", "bzimage", "debian12-q35-setup-head.bin"), "rb").read()
    elf = b"\x7fELF" + bytes(60)
    for qemu, prefix, variant in [(q, p, v) for q, p in QEMUS for v in MACHINES]:
        m = prefix + variant
        files = capture(qemu, variant)
        items = b"".join(file_item(n, d) for n, d in files.items())
        write("fw_cfg_directory", m, directory(files))
        write("e820", m, bytes([len(files["etc/e820"]) // 20]) + files["etc/e820"])
        if "etc/table-loader" in files:
            write("table_loader", m, items)
        if "etc/smbios/smbios-anchor" in files:
            write("smbios", m, b"".join(file_item(n, d) for n, d in files.items() if "smbios" in n))
        chipset = {"pc": 1, "q35": 2, "q35-smbios3": 2, "pc-vmgenid-smp4": 1}.get(variant, 0)
        files["etc/e820"] = e820([(0, 128 * M, 1)])
        for kind, head, entry, addr, size in [("pvh", elf, 0x100040, 0x100000, 0x20000),
                                              ("bzimage", bzimage, 0, 0x100000, 0x1000)]:
            kernel = b"".join([
                key_item(0x18, head), key_item(0x10, struct.pack("<I", entry)),
                key_item(0x07, struct.pack("<I", addr)), key_item(0x08, struct.pack("<I", size)),
                key_item(0x14, struct.pack("<I", 12)), key_item(0x15, b"console=tty\0"),
                key_item(0x0b, struct.pack("<I", 5)), key_item(0x0a, struct.pack("<I", 0x7f00000)),
                key_item(0x12, b"hello"), key_item(0x05, struct.pack("<H", 2)),
            ])
            boot_items = b"".join(file_item(n, d) for n, d in files.items())
            write("boot", f"{m}-{kind}", bytes([chipset, 0]) + boot_items + kernel)
    write("e820", "overlaps", bytes([3]) + e820([(0, 0xa0000, 1), (0x9f000, 0x1000, 2), (1 * M, 127 * M, 1), (0x1000, 0x1f000, 2)]))
    for initrd in [(0x7f00000, 5), (0x200000, 0x1000)]:
        write("kernel_header", f"debian12-{initrd[0]:x}", struct.pack("<IIII", 0x100000, *initrd, 100) + bzimage)
    dtb = struct.pack("<QII", 0x100000 + 0x40, 2, 8) + b"dtb-data"
    dtb2 = struct.pack("<QII", 0, 3, 4) + b"next"
    write("setup_data", "two-records", struct.pack("<Q", 0x100000) + dtb.ljust(0x40, b"\0") + dtb2)
    write("setup_data", "empty", struct.pack("<Q", 0))


main()
