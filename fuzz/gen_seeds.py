#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzz harnesses (fuzz/corpus/<harness>/).

The formats are described at the top of each harness.  Run it again after
changing one: python3 fuzz/gen_seeds.py
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")

R, W = ord("r"), ord("w")


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_wq -------------------------------------------------------------

CAS, FAA = ord("c"), ord("a")


def wq_header(nodes=2, model=0, n_ctx=1, extreme=False, buf_b=True, mt=0, depth=128, lead=0,
              overhead=False):
    h2 = (n_ctx - 1) | (4 if extreme else 0) | (8 if buf_b else 0) | (mt << 4)
    h3 = 0x80 if depth == 128 else depth - 1
    return bytes([nodes - 2, model | (lead << 2) | (16 if overhead else 0), h2, h3])


def wq_entry(op=R, nid=1, cid=0, buf_addr=0, buf_offset=0, offset=0, length=64,
             t_post=0, arg0=0, arg1=0, sr=0):
    # op SR valid cid nid status rsvd0 arg0 buf_addr buf_offset offset length t_post arg1
    return struct.pack("<BBBBHBBQQQQQQQ", op, sr, 0, cid, nid, 0, 0, arg0, buf_addr,
                       buf_offset, offset, length, t_post, arg1)


def wq_rec(ctl, buf=0, keep_len=False, keep_off=False, lim=0, d=0, delta=0, consumed=0, **kw):
    sel = buf | (4 if keep_len else 0) | (8 if keep_off else 0)
    limb = lim | (((d + 2) % 5) << 3)
    knobs = struct.pack("<BBBBhHI", ctl, sel, limb, 0, delta, 0, consumed)
    return knobs + wq_entry(**kw)


# control: bit0 QP, bits1-2 buf_addr mode (1 = start + delta), bit3 fold,
# bit4 wrong SR, bit5 poll, bits6-7 t_post (1 honest, 3 + garbage consumed)
START, END, INSIDE = 1 << 1, 2 << 1, 3 << 1
FOLD, BADSR, POLL, HONEST, LIE = 8, 16, 32, 64, 192


def wq_seeds():
    ok = START | HONEST | POLL
    # One valid read, write, compare-and-swap and fetch-and-add on each model.
    for model, name in enumerate(["none", "fixed", "link", "ring"]):
        write("fuzz_wq", f"ops-{name}", wq_header(model=model, lead=model % 3, overhead=model == 3) +
              wq_rec(ok, op=R, nid=1, length=64) +
              wq_rec(ok, op=W, nid=0, offset=4096, length=4096, buf_offset=128) +
              wq_rec(ok, op=CAS, nid=1, offset=64, length=8, buf_offset=8, arg0=0, arg1=7) +
              wq_rec(ok, op=FAA, nid=1, offset=128, length=8, buf_offset=3, arg0=5))
    # Every buffer, both QPs, the three contexts, 4 nodes.
    write("fuzz_wq", "buffers", wq_header(nodes=4, n_ctx=3) +
          wq_rec(ok, op=R, nid=3, cid=1, buf=0, length=16384) +
          wq_rec(ok, op=W, nid=2, cid=2, buf=1, length=4096) +
          wq_rec(ok | 1, op=R, nid=0, buf=2, length=12288) +
          wq_rec(ok | 1, op=W, nid=3, buf=2, offset=65536 - 64, length=64) +
          wq_rec(ok | 1, op=FAA, nid=2, cid=2, buf=2, offset=4096 - 8, length=8, arg0=1))
    # Each error: op, nid, cid, length 0, length > max, context range,
    # not a buffer, the other session's buffer, buffer range, an atomic's
    # length and alignment.
    write("fuzz_wq", "errors", wq_header(mt=2, n_ctx=2) +
          wq_rec(ok, op=ord("x")) +
          wq_rec(ok, nid=7) +
          wq_rec(ok, cid=2) +
          wq_rec(ok, length=0) +
          wq_rec(ok, length=4097) +
          wq_rec(ok, offset=65536 - 32, length=64) +
          wq_rec(ok, cid=1, offset=16384 - 32, length=64) +
          wq_rec(ok, delta=-64) +
          wq_rec(ok, buf=2, length=64) +
          wq_rec(END | HONEST | POLL, buf=0, delta=-32, length=64) +
          wq_rec(ok, op=CAS, length=16) +
          wq_rec(ok, op=FAA, offset=4, length=8))
    # Boundaries in the extreme layout (buffer B at the top of the address
    # space, session 1's C overlapping A's addresses).
    write("fuzz_wq", "extreme", wq_header(extreme=True) +
          wq_rec(ok, buf=1, length=8192) +
          wq_rec(END | HONEST | POLL, buf=1, delta=-64, length=64) +
          wq_rec(END | HONEST | POLL, buf=1, delta=-64, length=65) +
          wq_rec(ok | 1, buf=2, delta=4096, length=64) +
          wq_rec(ok | 1, buf=0, delta=0, length=64))
    # A batch filling a small queue, with a wrong SR in the middle.
    recs = b"".join(wq_rec(START | HONEST, length=64, offset=64 * i) for i in range(3))
    recs += wq_rec(START | HONEST | BADSR, length=64)
    recs += b"".join(wq_rec(START | HONEST, op=W, length=64) for i in range(3))
    recs += wq_rec(START | HONEST | POLL, length=128)
    write("fuzz_wq", "batch-badsr", wq_header(depth=8, model=1) + recs)
    # Wrapping a depth-3 queue several times.
    write("fuzz_wq", "wrap", wq_header(depth=3) +
          b"".join(wq_rec(START | HONEST | (POLL if i % 2 else 0), length=64 + i) for i in range(12)))
    # A garbage consumed counter.
    write("fuzz_wq", "lie", wq_header(depth=4) +
          wq_rec(START | LIE | POLL, length=64, consumed=1000) +
          b"".join(wq_rec(START | HONEST, length=64) for i in range(6)) +
          wq_rec(START | HONEST | POLL, length=64))
    # Right at the limits: context end, buffer end, max_transfer (+- 1).
    write("fuzz_wq", "limits", wq_header(mt=3, n_ctx=3) +
          wq_rec(ok | FOLD, op=R, length=64, lim=1) +
          wq_rec(ok | FOLD, op=W, length=64, lim=1, d=1) +
          wq_rec(ok | FOLD, op=R, cid=1, length=64, lim=1, d=1) +
          wq_rec(ok | FOLD, op=R, buf=0, length=64, lim=2) +
          wq_rec(ok | FOLD, op=W, buf=0, length=64, lim=2, d=1) +
          wq_rec(ok | FOLD, op=R, length=64, lim=4) +
          wq_rec(ok | FOLD, op=R, length=64, lim=4, d=1) +
          wq_rec(ok | FOLD, op=W, length=64, lim=7, d=-1) +
          wq_rec(ok | FOLD, op=CAS, cid=2, length=8, lim=1) +
          wq_rec(ok | FOLD, op=FAA, cid=2, length=8, lim=1, d=1))
    # Fully raw fields.
    write("fuzz_wq", "raw", wq_header() + wq_rec(POLL, op=R, nid=1, buf_addr=0x7f0000000000,
                                                  length=64, t_post=0xffffffffffffffff))


# ---- fuzz_ctl ------------------------------------------------------------

MAGIC, VERSION = 0x414D4E53, 1
HELLO, REG_WQ, REG_CQ, REG_LBUFF, MAP_LBUFF, REG_CTX, STATS, DESCRIBE, TARGET = range(1, 10)


def req(op, id=0, pages=0, addr=0, magic=MAGIC, version=VERSION):
    return struct.pack("<IHHIIQQ", magic, version, op, id, pages, addr, 0)


def ctl(mode, payload, fds=0, pipeline=False):
    return bytes([mode | (fds << 2) | (16 if pipeline else 0)]) + payload


def ctl_seeds():
    raw = 1
    write("fuzz_ctl", "hello", bytes([0]) + ctl(raw, req(HELLO)))
    write("fuzz_ctl", "qp", bytes([1]) + ctl(raw, req(REG_WQ)) + ctl(raw, req(REG_CQ)) +
          ctl(raw, req(REG_CQ)))
    write("fuzz_ctl", "lbuff", bytes([2]) + ctl(raw, req(REG_LBUFF, pages=4)) +
          ctl(raw, req(MAP_LBUFF, id=0, pages=4, addr=0x7f0000000000)) +
          ctl(raw, req(REG_LBUFF, pages=1)) +
          ctl(raw, req(MAP_LBUFF, id=0, pages=1, addr=0x7f0000002000)) +
          ctl(raw, req(MAP_LBUFF, id=5, pages=1, addr=0x7f0000010000)))
    write("fuzz_ctl", "ctx", bytes([0]) + ctl(raw, req(REG_CTX, id=0, pages=16)) +
          ctl(raw, req(REG_CTX, id=1, pages=1)) + ctl(raw, req(REG_CTX, id=0, pages=17)))
    write("fuzz_ctl", "stats", bytes([4]) + ctl(raw, req(STATS)) + ctl(raw, req(STATS, addr=4096)))
    write("fuzz_ctl", "describe", bytes([8 | 16]) + b"".join(
        ctl(raw, req(DESCRIBE, id=i)) for i in range(4)))
    write("fuzz_ctl", "target", bytes([8]) + ctl(raw, req(TARGET, id=ord("r"), pages=1, addr=64)) +
          ctl(raw, req(TARGET, id=ord("w"), pages=2, addr=1 << 20)) +
          ctl(raw, req(TARGET, id=ord("x"), pages=9)))
    write("fuzz_ctl", "malformed", bytes([0]) + ctl(raw, req(HELLO, magic=0)) +
          ctl(raw, req(HELLO, version=2)) + ctl(raw, req(99)) +
          ctl(2, bytes([16]) + req(HELLO)[:16]) +
          ctl(2, bytes([40]) + req(HELLO) + bytes(8)) +
          ctl(raw, req(HELLO), fds=1) + ctl(raw, req(HELLO), fds=2))
    # Hanging up right after a request (fds field 3): rmcd's reply fails.
    write("fuzz_ctl", "hangup", bytes([0]) + ctl(raw, req(REG_WQ), fds=3) +
          ctl(raw, req(REG_LBUFF, pages=2)) + ctl(raw, req(REG_CQ), fds=3) + ctl(raw, req(HELLO)))
    write("fuzz_ctl", "pipeline", bytes([1]) + b"".join(
        ctl(raw, req(op), pipeline=True) for op in (HELLO, REG_WQ, REG_CQ, STATS)) +
          ctl(raw, req(HELLO)))
    write("fuzz_ctl", "eof", bytes([0]) + ctl(raw, req(REG_WQ)) + ctl(2, bytes([0])) +
          ctl(raw, req(REG_CQ)))
    # Past the limits: 256 QPs and 64 buffers per session.
    write("fuzz_ctl", "limits", bytes([0]) +
          b"".join(bytes([raw | (3 << 6)]) + req(REG_WQ) for i in range(5)) +
          b"".join(bytes([raw | (3 << 6)]) + req(REG_LBUFF, pages=1) for i in range(2)) +
          ctl(raw, req(MAP_LBUFF, id=3, pages=1, addr=0x10000)))
    write("fuzz_ctl", "folded", bytes([0]) + b"".join(ctl(3, req(op, pages=3)) for op in range(1, 10)))


# ---- fuzz_config -----------------------------------------------------------

def config_seeds():
    for src in [os.path.join(ROOT, "docs", "rmc.conf.example")] + sorted(
            os.path.join(ROOT, "experiments", "configs", f)
            for f in os.listdir(os.path.join(ROOT, "experiments", "configs"))):
        name = os.path.basename(src)
        shutil.copyfile(src, os.path.join(CORPUS, "fuzz_config", name))
    tests = os.path.join(ROOT, "tests", "configs")
    if os.path.isdir(tests):
        for f in sorted(os.listdir(tests)):
            shutil.copyfile(os.path.join(tests, f), os.path.join(CORPUS, "fuzz_config", "test-" + f))
    write("fuzz_config", "all-keys.conf", b"""rundir = "/tmp/sonuma-fuzz";
cluster = { nodes = 4; context_pages = 16; queue_depth = 32; max_transfer = 65536;
            numa = [0, 0, 0, 0]; lock_memory = false; };
rmc = { threads = 2; cpus = [0, 1]; notify_ns = 50.5; late_slack_ns = 10; };
model = { name = "link"; rmc_ns = 500; hop_ns = 50; bandwidth_gbps = 10;
          topology = "torus2d"; dims = [2, 2]; };
calibration = { file = "/tmp/cal.cfg"; accept_foreign = true; };
security = { allow_uids = [1000, 1001]; };
""")
    write("fuzz_config", "contexts.conf", b'cluster = { nodes = 3; contexts = [16, 4, 1]; max_transfer = 65536; };\n'
          b'rmc = { lead_ns = 1000; overhead_ns = 50; };\n'
          b'model = { name = "fixed"; atomic_ns = 200; };\n')
    write("fuzz_config", "link-atomic.conf", b'model = { name = "link"; atomic_ns = 100; topology = "torus2d"; dims = [2, 1]; };\n')
    write("fuzz_config", "mesh.conf", b'cluster = { nodes = 4; };\n'
          b'model = { name = "link"; topology = "mesh2d"; dims = [4, 1]; };\n')
    write("fuzz_config", "ring.conf", b'model = { name = "link"; topology = "ring"; };\n')
    write("fuzz_config", "fixed-rw.conf", b'model = { name = "fixed"; read_ns = 250; write_ns = 400.5; };\n')
    write("fuzz_config", "plugin.conf", b'model = { name = "plugin"; path = "x.so";\n'
          b'  params = { base_ns = 400; ns_per_kib = 100.0; }; };\n')
    write("fuzz_config", "plugin-bad.conf", b'model = { name = "plugin"; path = "x.so";\n'
          b'  params = { base_ns = "a"; }; };\n')
    write("fuzz_config", "ranges.conf", b'cluster = { nodes = 64; context_pages = 4194304;\n'
          b'  queue_depth = 1; max_transfer = 1073741824; };\nrmc = { threads = 16; };\n')


if __name__ == "__main__":
    os.makedirs(os.path.join(CORPUS, "fuzz_config"), exist_ok=True)
    wq_seeds()
    ctl_seeds()
    config_seeds()
