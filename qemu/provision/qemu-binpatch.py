#!/usr/bin/env python3
"""Apply patches/vfio-user-pba-teardown.patch to a *built* qemu-system-x86_64 (Debian's binary).

    qemu-binpatch.py [--check] BINARY
    qemu-binpatch.py --self-test

The source patch removes one statement: the memory_region_del_subregion() call in
vfio_user_msix_teardown(), which QEMU inlines into vfio_user_pci_finalize() (the
instance_finalize of the "vfio-user-pci" QOM type). This script makes the same change in the
machine code: it replaces that one `call memory_region_del_subregion` (5 bytes, e8 rel32) with a
5-byte NOP. The call returns void and nothing after it uses its result, so the argument set-up
before it becomes dead code and everything else is unchanged.

The site is located, never assumed: (1) the address of the dynamic symbol
memory_region_del_subregion (Debian builds QEMU with modules, so it is exported);
(2) the TypeInfo whose name pointer (a relative relocation, RELA or RELR) is the string
"vfio-user-pci", and its instance_finalize pointer (offset 48); (3) that function's extent from the
unwind table (.eh_frame_hdr) and its disassembly (objdump): it must call vfio_pci_put_device, as in
the source, and contain exactly one direct `call <memory_region_del_subregion>` (none: the binary
is reported as already fixed).

Output (stdout, key=value lines): status=patched|already-fixed, function, site, file_offset,
sha256_before, sha256_after. Exit 1 with a one-line reason on stderr when the code does not have
the expected shape (the binary is left untouched). --check: locate only, change nothing.
--self-test: build a miniature of that code with gcc (RELA and RELR relocations), check it aborts,
patch it, check it runs. Needs python3 (stdlib) and objdump (binutils).
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

    def function_range(self, addr):
        """[start, end) of the function at addr, from the .eh_frame_hdr search table and its FDE."""
        hdr = self.sec(".eh_frame_hdr")
        h, base = hdr["offset"], hdr["addr"]
        version, _, count_enc, table_enc = self.d[h:h + 4]
        if version != 1 or count_enc != 0x03 or table_enc != 0x3B:  # udata4 count; datarel sdata4 table
            raise Shape(".eh_frame_hdr has an unexpected encoding")
        (count,) = struct.unpack_from("<I", self.d, h + 8)
        for i in range(count):
            loc, fde = struct.unpack_from("<ii", self.d, h + 12 + 8 * i)
            if base + loc == addr:
                fo = self.off(base + fde)
                # FDE: length, CIE pointer, pc_begin (pcrel sdata4, GCC's default), pc_range (udata4)
                (begin,) = struct.unpack_from("<i", self.d, fo + 8)
                (size,) = struct.unpack_from("<I", self.d, fo + 12)
                if base + fde + 8 + begin != addr:
                    raise Shape(f"the FDE of {addr:#x} does not use pc-relative sdata4 pointers")
                return addr, addr + size
        raise Shape(f"no unwind table entry for the function at {addr:#x}")

    def relative_relocs(self):
        """{address: pointer value} of every relative relocation (RELA or packed RELR)."""
        out = {}
        for name, s in self.sections.items():
            if s["type"] == 4:  # SHT_RELA
                for i in range(s["size"] // 24):
                    r_offset, r_info, r_addend = struct.unpack_from("<QQq", self.d, s["offset"] + i * 24)
                    if r_info & 0xFFFFFFFF == R_X86_64_RELATIVE:
                        out[r_offset] = r_addend
            elif s["type"] == 19:  # SHT_RELR (-z pack-relative-relocs): the addend is in place
                where = 0
                for i in range(s["size"] // 8):
                    (e,) = struct.unpack_from("<Q", self.d, s["offset"] + i * 8)
                    if e & 1 == 0:
                        addrs, where = [e], e + 8
                    else:
                        addrs = [where + 8 * b for b in range(63) if e >> (b + 1) & 1]
                        where += 63 * 8
                    for a in addrs:
                        out[a] = struct.unpack_from("<Q", self.d, self.off(a))[0]
        return out


def disassemble(path, start, length):
    """[(address, length, mnemonic, target)] from objdump."""
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
    start, end = elf.function_range(fn)
    if not 0 < end - start <= 0x1000:
        raise Shape(f"implausible size {end - start} of the finalize function at {fn:#x}")
    insns = disassemble(path, start, end - start)
    if not insns or insns[0][0] != start or insns[-1][0] + insns[-1][1] != end:
        raise Shape(f"objdump did not disassemble the whole finalize function [{start:#x}, {end:#x})")
    # call or tail call (jmp) of vfio_pci_put_device: the function is the one of the source
    if not any(t == put_dev for a, n, m, t in insns if m in ("call", "jmp")):
        raise Shape(f"the finalize function at {fn:#x} does not call {PUT_DEVICE}: unknown code shape")
    dels = [(a, n) for a, n, m, t in insns if m in ("call", "jmp") and t == del_sub]
    if any(m == "jmp" for a, n, m, t in insns if t == del_sub):
        raise Shape(f"the finalize function at {fn:#x} tail-calls {DEL_SUBREGION}: unknown code shape")
    if not dels:
        return {"status": "already-fixed", "function": fn}
    if len(dels) != 1:
        raise Shape(f"{len(dels)} calls of {DEL_SUBREGION} in the finalize function at {fn:#x}; expected 1")
    # (a cold part split off by the compiler would not be covered; the source's call is not on an
    # unlikely path, and a missing call is reported as already-fixed, never patched blindly)
    site, n = dels[0]
    off = elf.off(site)
    if n != 5 or data[off] != 0xE8 or site + 5 + struct.unpack_from("<i", data, off + 1)[0] != del_sub:
        raise Shape(f"the call at {site:#x} is not a 5-byte direct call of {DEL_SUBREGION}")
    return {"status": "patched", "function": fn, "site": site, "file_offset": off}


# A miniature of the QEMU code for --self-test: an exported memory_region_del_subregion that
# aborts like QEMU's assertion, and a finalize function whose early exit tail-calls
# vfio_pci_put_device *before* the del call in address order (the layout gcc -O2 picks here).
SELF_TEST_C = r"""
#include <stdio.h>
#include <stdlib.h>
typedef struct { const char *name, *parent; size_t size, align;
                 void (*init)(void *), (*post_init)(void *), (*finalize)(void *); } TypeInfo;
struct mr { struct mr *container; };
struct dev { struct mr *bar, *pba; int msix; };
__attribute__((noinline)) void memory_region_del_subregion(struct mr *c, struct mr *s)
{ if (s->container != c) { puts("assertion"); abort(); } s->container = 0; }
volatile int puts_done;
__attribute__((noinline)) void vfio_pci_put_device(struct dev *d) { (void)d; puts_done++; }
static void finalize(void *o)
{ struct dev *d = o; if (d->msix) { memory_region_del_subregion(d->bar, d->pba); free(d->pba); d->pba = 0; }
  vfio_pci_put_device(d); }
static void init(void *o) { (void)o; }
TypeInfo info = { "vfio-user-pci", "vfio-pci-device", 64, 0, init, 0, finalize };
TypeInfo *volatile infop = &info;
int main(void) { struct mr bar = { 0 }; struct dev d = { &bar, calloc(1, sizeof(struct mr)), 1 };
                 infop->finalize(&d); puts("ok"); return 0; }
"""


def self_test():
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(t, "t.c")
        with open(src, "w") as f:
            f.write(SELF_TEST_C)
        for name, extra in (("rela", []), ("relr", ["-Wl,-z,pack-relative-relocs"])):
            exe = os.path.join(t, name)
            subprocess.run(["gcc", "-O2", "-fPIE", "-pie", "-rdynamic", *extra, "-o", exe, src], check=True)
            before = subprocess.run([exe], capture_output=True, text=True)
            data = bytearray(open(exe, "rb").read())
            r = locate(exe, data)
            if r["status"] != "patched":
                raise Shape(f"self-test ({name}): status {r['status']}")
            with open(exe, "r+b") as f:
                f.seek(r["file_offset"])
                f.write(NOP5)
            after = subprocess.run([exe], capture_output=True, text=True)
            again = locate(exe, bytearray(open(exe, "rb").read()))["status"]
            ok = before.returncode != 0 and after.returncode == 0 and after.stdout.strip() == "ok" and again == "already-fixed"
            print(f"self-test {name}: unpatched exit {before.returncode}, patched exit {after.returncode} "
                  f"{after.stdout.strip()!r}, re-run {again}: {'ok' if ok else 'FAILED'}")
            if not ok:
                return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only locate the call site; change nothing")
    ap.add_argument("--self-test", action="store_true", help="patch a miniature built with gcc (RELA and RELR)")
    ap.add_argument("binary", nargs="?")
    a = ap.parse_args()
    if a.self_test:
        try:
            return self_test()
        except (Shape, subprocess.CalledProcessError) as e:
            print(f"qemu-binpatch: self-test: {e}", file=sys.stderr)
            return 1
    if not a.binary:
        ap.error("BINARY is required")
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
