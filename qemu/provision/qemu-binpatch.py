#!/usr/bin/env python3
"""Apply patches/vfio-user-pba-teardown.patch to a *built* qemu-system-x86_64 (Debian's binary).

    qemu-binpatch.py [--check] BINARY

The source patch removes one statement: the memory_region_del_subregion() call in
vfio_user_msix_teardown(), which QEMU inlines into vfio_user_pci_finalize() (the
instance_finalize of the "vfio-user-pci" QOM type). This script makes the same change in the
machine code: it replaces that one `call memory_region_del_subregion` (5 bytes, e8 rel32) with a
5-byte NOP. The call returns void and nothing after it uses its result, so the argument set-up
before it becomes dead code and everything else is unchanged.

The site is located, never assumed: (1) the address of the dynamic symbol
memory_region_del_subregion (Debian builds QEMU with modules, so it is exported);
(2) the TypeInfo whose name pointer (an R_X86_64_RELATIVE relocation) is the string
"vfio-user-pci", and its instance_finalize pointer (offset 48); (3) the disassembly (objdump) of
that function up to its first return: exactly one `call <memory_region_del_subregion>` must come
before the call to vfio_pci_put_device, as in the source.

Output (stdout, key=value lines): status=patched|already-fixed, function, site, file_offset,
sha256_before, sha256_after. Exit 1 with a one-line reason on stderr when the code does not have
the expected shape (the binary is left untouched). --check: locate only, change nothing.
Needs python3 (stdlib) and objdump (binutils).
"""
import argparse
import hashlib
import re
import struct
import subprocess
import sys

TYPE_NAME = b"vfio-user-pci"
DEL_SUBREGION = "memory_region_del_subregion"
PUT_DEVICE = "vfio_pci_put_device"
TYPEINFO_FINALIZE = 48  # offsetof(TypeInfo, instance_finalize): name, parent, size, align, init, post_init
NOP5 = bytes.fromhex("0f1f440000")
R_X86_64_RELATIVE = 8


class Shape(Exception):
    pass


class Elf:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise Shape("not a little-endian ELF64 file")
        self.d = data
        (e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum, e_shentsize, e_shnum,
         e_shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
        if e_machine != 62:
            raise Shape("not an x86-64 binary")
        self.loads = []
        for i in range(e_phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)
            if p_type == 1:
                self.loads.append((p_vaddr, p_offset, p_filesz))
        self.sections = {}
        raw = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        strtab = raw[e_shstrndx]
        for s in raw:
            name = data[strtab[4] + s[0]:data.index(b"\0", strtab[4] + s[0])].decode()
            self.sections[name] = {"type": s[1], "addr": s[3], "offset": s[4], "size": s[5], "link": s[6], "entsize": s[9]}

    def sec(self, name):
        s = self.sections.get(name)
        if s is None:
            raise Shape(f"no {name} section (stripped of its dynamic symbols?)")
        return s

    def off(self, vaddr):
        for v, o, n in self.loads:
            if v <= vaddr < v + n:
                return o + vaddr - v
        raise Shape(f"address {vaddr:#x} is not in the file")

    def dynsym(self, name):
        sym, st = self.sec(".dynsym"), self.sec(".dynstr")
        want = name.encode()
        for i in range(sym["size"] // 24):
            st_name, st_info, _, st_shndx, st_value, _ = struct.unpack_from("<IBBHQQ", self.d, sym["offset"] + i * 24)
            if st_value and st_shndx and (st_info & 0xF) == 2:
                s = st["offset"] + st_name
                if self.d[s:s + len(want) + 1] == want + b"\0":
                    return st_value
        raise Shape(f"dynamic symbol {name} not found")

    def relative_relocs(self):
        out = {}
        for name, s in self.sections.items():
            if s["type"] == 4 and name.startswith(".rela"):  # SHT_RELA
                for i in range(s["size"] // 24):
                    r_offset, r_info, r_addend = struct.unpack_from("<QQq", self.d, s["offset"] + i * 24)
                    if r_info & 0xFFFFFFFF == R_X86_64_RELATIVE:
                        out[r_offset] = r_addend
        return out


def disassemble(path, start, length):
    """[(address, length, mnemonic, target)] from objdump, up to the first ret."""
    try:
        text = subprocess.run(["objdump", "-d", "-w", f"--start-address={start:#x}",
                               f"--stop-address={start + length:#x}", path],
                              check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise Shape("objdump (binutils) is not installed")
    insns = []
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(\S*)\s*(.*)$", line)
        if not m:
            continue
        addr, nbytes, mnem, ops = int(m.group(1), 16), len(m.group(2).split()), m.group(3), m.group(4)
        if mnem in ("callq", "jmpq", "retq"):  # older binutils
            mnem = mnem[:-1]
        t = re.match(r"^([0-9a-f]+)\b", ops)
        insns.append((addr, nbytes, mnem, int(t.group(1), 16) if t and mnem in ("call", "jmp") else None))
        if mnem == "ret":
            break
    return insns


def locate(path, data):
    elf = Elf(data)
    del_sub = elf.dynsym(DEL_SUBREGION)
    put_dev = elf.dynsym(PUT_DEVICE)
    names = set()
    i = data.find(TYPE_NAME + b"\0")
    while i >= 0:
        names.add(i)
        i = data.find(TYPE_NAME + b"\0", i + 1)
    relocs = elf.relative_relocs()
    # vaddr of each string occurrence (rodata may not be mapped at its file offset)
    addrs = set()
    for v, o, n in elf.loads:
        addrs.update(v + (f - o) for f in names if o <= f < o + n)
    finalizers = {relocs[r + TYPEINFO_FINALIZE] for r, a in relocs.items()
                  if a in addrs and (r + TYPEINFO_FINALIZE) in relocs}
    if len(finalizers) != 1:
        raise Shape(f"expected one TypeInfo named {TYPE_NAME.decode()} with an instance_finalize, found {len(finalizers)}")
    fn = finalizers.pop()
    insns = disassemble(path, fn, 0x200)
    calls = [(a, n, t) for a, n, m, t in insns if m == "call" and t is not None]
    put = [a for a, n, t in calls if t == put_dev]
    dels = [(a, n) for a, n, t in calls if t == del_sub]
    tail_put = [a for a, n, m, t in insns if m == "jmp" and t == put_dev]
    if not put and not tail_put:
        raise Shape(f"the finalize function at {fn:#x} does not call {PUT_DEVICE}: unknown code shape")
    first_put = min(put + tail_put)
    dels = [(a, n) for a, n in dels if a < first_put]
    if not dels:
        return {"status": "already-fixed", "function": fn}
    if len(dels) != 1:
        raise Shape(f"{len(dels)} calls of {DEL_SUBREGION} in the finalize function at {fn:#x}; expected 1")
    site, n = dels[0]
    off = elf.off(site)
    if n != 5 or data[off] != 0xE8 or off + 5 + struct.unpack_from("<i", data, off + 1)[0] != elf.off(del_sub):
        raise Shape(f"the call at {site:#x} is not a 5-byte direct call of {DEL_SUBREGION}")
    return {"status": "patched", "function": fn, "site": site, "file_offset": off}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only locate the call site; change nothing")
    ap.add_argument("binary")
    a = ap.parse_args()
    with open(a.binary, "rb") as f:
        data = bytearray(f.read())
    before = hashlib.sha256(data).hexdigest()
    try:
        r = locate(a.binary, data)
    except Shape as e:
        print(f"qemu-binpatch: {a.binary}: {e}", file=sys.stderr)
        return 1
    if r["status"] == "patched" and not a.check:
        off = r["file_offset"]
        data[off:off + 5] = NOP5
        with open(a.binary, "r+b") as f:
            f.seek(off)
            f.write(NOP5)
        again = [i for i in disassemble(a.binary, r["site"], 5) if i[0] == r["site"]]
        if not again or not again[0][2].startswith("nop"):
            print(f"qemu-binpatch: {a.binary}: the patched site does not disassemble as a NOP", file=sys.stderr)
            return 1
    after = hashlib.sha256(data).hexdigest()
    print(f"status={r['status'] if not a.check or r['status'] != 'patched' else 'patchable'}")
    print(f"function={r['function']:#x}")
    if "site" in r:
        print(f"site={r['site']:#x}")
        print(f"file_offset={r['file_offset']:#x}")
    print(f"sha256_before={before}")
    print(f"sha256_after={after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
