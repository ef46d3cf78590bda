#!/usr/bin/env python3
"""Rewrite a ds4 GGUF so llama.cpp mainline accepts its metadata types.

llama.cpp reads some deepseek4 keys as uint32_t and checks the GGUF type strictly, while
ds4's writer (src/convert/plan.cpp) stores them as u64. ds4 accepts both, so the fix is
to narrow those keys to u32. Tensor data is copied unchanged (re-aligned after the header).

usage: gguf_peer_fix.py IN.gguf OUT.gguf     (exit 0, prints what it changed)
       gguf_peer_fix.py --check IN.gguf      (exit 0 if nothing needs fixing, 1 otherwise)
Pure standard library, streaming copy: no numpy/gguf package needed.
"""
import os, shutil, struct, sys

# keys llama.cpp mainline reads into uint32_t (llama-model.cpp / llama-hparams)
NARROW = {"context_length", "rope.scaling.original_context_length"}
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: 1, I8: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, BOOL: 1, U64: 8, I64: 8, F64: 8}


class Reader:
    def __init__(self, f):
        self.f = f
    def take(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise SystemExit("gguf_peer_fix: truncated header")
        return b
    def u32(self): return struct.unpack("<I", self.take(4))[0]
    def u64(self): return struct.unpack("<Q", self.take(8))[0]
    def string(self): return self.take(self.u64())


def skip_value(r, t, out):
    """Copies one value of type t from r to the bytearray out."""
    if t in SCALAR:
        out += r.take(SCALAR[t])
    elif t == STR:
        n = r.u64(); out += struct.pack("<Q", n) + r.take(n)
    elif t == ARR:
        et = r.u32(); n = r.u64(); out += struct.pack("<IQ", et, n)
        if et in SCALAR:
            out += r.take(SCALAR[et] * n)
        else:
            for _ in range(n):
                skip_value(r, et, out)
    else:
        raise SystemExit(f"gguf_peer_fix: unknown GGUF value type {t}")


def rewrite(src, dst, check_only=False):
    with open(src, "rb") as f:
        r = Reader(f)
        magic, version = r.take(4), r.u32()
        if magic != b"GGUF" or version != 3:
            raise SystemExit("gguf_peer_fix: not a GGUF v3 file")
        n_tensors, n_kv = r.u64(), r.u64()
        out = bytearray(b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv))
        changed, alignment = [], 32
        for _ in range(n_kv):
            key = r.string(); t = r.u32()
            out += struct.pack("<Q", len(key)) + key
            name = key.decode("utf-8", "replace")
            short = name.split(".", 1)[1] if name.startswith("deepseek4.") else None
            if short in NARROW and t in (U64, I64):
                v = r.u64() if t == U64 else struct.unpack("<q", r.take(8))[0]
                if not 0 <= v < 2**32:
                    raise SystemExit(f"gguf_peer_fix: {name}={v} does not fit u32")
                out += struct.pack("<II", U32, v)
                changed.append(f"{name}: u64 -> u32 ({v})")
                continue
            out += struct.pack("<I", t)
            start = len(out)
            skip_value(r, t, out)
            if name == "general.alignment" and t == U32:
                alignment = struct.unpack("<I", out[start:start + 4])[0]
        for _ in range(n_tensors):
            name = r.string(); nd = r.u32()
            out += struct.pack("<Q", len(name)) + name + struct.pack("<I", nd) + r.take(8 * nd + 4 + 8)
        hdr_end = f.tell()
        data_in = (hdr_end + alignment - 1) // alignment * alignment
        if check_only:
            for c in changed: print(c)
            return 1 if changed else 0
        out += b"\0" * ((-len(out)) % alignment)
        tmp = dst + ".tmp"
        with open(tmp, "wb") as g:
            g.write(out)
            f.seek(data_in)
            shutil.copyfileobj(f, g, 16 << 20)
        os.replace(tmp, dst)
        for c in changed: print(c)
        return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "--check":
        sys.exit(rewrite(a[1], None, check_only=True))
    if len(a) != 2:
        print(__doc__, file=sys.stderr); sys.exit(2)
    sys.exit(rewrite(a[0], a[1]))
