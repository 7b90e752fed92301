#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The researcher's workflow, end to end: experiments/sweep.sh --quick on two
models (none, fixed-1us), three sizes, few iterations, into a temporary
directory; then checks every file it wrote:

  - each CSV: sonuma-bench's header line, exactly one row per size asked for,
    the iterations asked for, no failed operation, the model's target;
  - each JSON: parses (also with python3 -m json.tool) and carries the
    configuration (model name, op, mode, sizes, iterations) and the option
    passed through --bench-args (--threads 1: the default, so that the
    figures are the ones the sweep gives without it);
  - each PNG: the PNG signature, more than 5 KB, IHDR at least 640 x 480;
  - each SVG: parses as XML with an <svg> root;
  - the summary names both models; rmcd's log and the config are kept;
  - no rmcd is left running;
and the failure paths: a bad option exits 2 with the usage (so does a
--bench-args option sweep.sh sets itself, or one sonuma-bench refuses), an
rmcd that cannot start makes sweep.sh exit 1 showing rmcd's log.

It never depends on the machine's calibration: HOME, XDG_DATA_HOME and
SONUMA_CALIBRATION point into the temporary directory, so sweep.sh --quick
calibrates with sonuma-calibrate --quick into the run's own directory (when
sonuma-calibrate was built; else it runs rmcd uncalibrated, --no-calibrate).
Exit 77 (skipped) when gnuplot is not installed.
"""

import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

CONFIGS = ["none", "fixed-1us"]
BENCH_ARGS = "--threads 1"
SIZES = [64, 1024, 16384]
ITERS, WARMUP = 200, 20
HEADER = ("size,iterations,t_min_ns,t_p50_ns,t_avg_ns,t_p99_ns,t_p999_ns,t_max_ns,target_ns,"
          "p50_err_pct,late,late_pct,bw_MBps,mops,errors,model_ns,req_err_p50_pct,req_err_p99_pct")
PLOTS = ["latency-none", "latency-fixed-1us", "bandwidth-none", "bandwidth-fixed-1us",
         "latency-all", "bandwidth-all", "fidelity", "cdf-read-sync-64B"]
MODEL_NAME = {"none": "none", "fixed-1us": "fixed"}
TARGET = {"none": 0.0, "fixed-1us": 1000.0}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def our_processes(tag):
    """Processes whose command line mentions tag (our temporary directory)."""
    found = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tag in cmd and str(os.getpid()) != p.split("/")[2]:
            found.append(cmd.strip())
    return found


def check_csv(path, conf):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    body = [l for l in lines if not l.startswith("#")]
    comments = [l for l in lines if l.startswith("#")]
    if not check(body and body[0] == HEADER, "%s: header line is not sonuma-bench's" % path):
        return
    check(any(l.startswith("# model: ") for l in comments), "%s: no '# model:' line" % path)
    rows = [l.split(",") for l in body[1:] if l.strip()]
    check(len(rows) == len(SIZES), "%s: %d rows, asked for %d sizes" % (path, len(rows), len(SIZES)))
    check([int(r[0]) for r in rows] == SIZES, "%s: sizes %s, asked for %s"
          % (path, [r[0] for r in rows], SIZES))
    for r in rows:
        if not check(len(r) == 18, "%s: a row has %d fields, not 18" % (path, len(r))):
            continue
        # Each request against the model's latency for it: only where there
        # are deadlines and the entry of each request stays to carry it.
        per_req = conf != "none" and path.endswith("-async.csv")
        check((r[16] != "" and r[17] != "") == per_req,
              "%s: size %s: per-request errors %r, %r (expected %s)"
              % (path, r[0], r[16], r[17], "figures" if per_req else "none"))
        check(int(r[1]) == ITERS, "%s: %s iterations, asked for %d" % (path, r[1], ITERS))
        check(int(r[14]) == 0, "%s: size %s: %s failed operations" % (path, r[0], r[14]))
        p50, target = float(r[3]), float(r[8])
        check(p50 > 0 and float(r[2]) <= p50 <= float(r[7]),
              "%s: size %s: t_min <= p50 <= t_max does not hold" % (path, r[0]))
        check(abs(target - TARGET[conf]) < 0.5, "%s: size %s: target %s ns, the model says %s"
              % (path, r[0], r[8], TARGET[conf]))
        check(float(r[12]) > 0, "%s: size %s: no bandwidth" % (path, r[0]))


def check_json(path, conf, op, mode):
    r = subprocess.run([sys.executable, "-m", "json.tool", path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if not check(r.returncode == 0, "%s: python3 -m json.tool: %s" % (path, r.stderr.strip())):
        return
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    c, d = j.get("config", {}), j.get("rmcd", {})
    check(d.get("model") == MODEL_NAME[conf], "%s: rmcd.model is %r, not %r"
          % (path, d.get("model"), MODEL_NAME[conf]))
    check(bool(d.get("model_params")), "%s: no model parameters" % path)
    check(c.get("op") == op and c.get("mode") == mode, "%s: config says %s %s, not %s %s"
          % (path, c.get("mode"), c.get("op"), mode, op))
    check(c.get("iters") == ITERS and c.get("warmup") == WARMUP,
          "%s: iters/warmup %s/%s" % (path, c.get("iters"), c.get("warmup")))
    check([x.get("size") for x in j.get("results", [])] == SIZES,
          "%s: result sizes %s, asked for %s" % (path, [x.get("size") for x in j.get("results", [])], SIZES))
    check("--size 64,1024,16384" in j.get("command", "") or "-s 64,1024,16384" in j.get("command", ""),
          "%s: the command does not record the sizes" % path)
    check(j.get("command", "").endswith(" " + BENCH_ARGS) and c.get("threads") == 1,
          "%s: --bench-args %r not passed through (command %r, threads %r)"
          % (path, BENCH_ARGS, j.get("command"), c.get("threads")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--rmcd", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--calibrate", default="")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    if not shutil.which("gnuplot"):
        print("SKIP: gnuplot is not installed (apt-get install gnuplot-nox)")
        return 77
    tmp = tempfile.mkdtemp(prefix="sonuma-workflow.")
    env = dict(os.environ)
    for k in ("XDG_DATA_HOME", "SONUMA_RUNDIR", "SONUMA_NODE", "SONUMA_BUILD"):
        env.pop(k, None)
    env.update(HOME=os.path.join(tmp, "home"), TMPDIR=os.path.join(tmp, "tmp"),
               SONUMA_CALIBRATION=os.path.join(tmp, "home", "no-calibration.cfg"),
               SONUMA_RMCD=a.rmcd, SONUMA_RUN=a.run, SONUMA_BENCH=a.bench)
    os.makedirs(env["HOME"])
    os.makedirs(env["TMPDIR"])
    cal_args = []
    if a.calibrate and os.access(a.calibrate, os.X_OK):
        env["SONUMA_CALIBRATE"] = a.calibrate
    else:
        env["SONUMA_CALIBRATE"] = ""
        cal_args = ["--no-calibrate"]
        print("note: sonuma-calibrate not built: running rmcd uncalibrated")
    res_root = os.path.join(tmp, "results")

    # Bad usage: exit 2 with the usage line, nothing started.
    r = subprocess.run([a.sweep, "--bogus"], env=env, capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "Usage" in r.stderr, "sweep.sh --bogus: exit %d, stderr %r"
          % (r.returncode, r.stderr[-200:]))
    r = subprocess.run([a.sweep, "--iters", "many"], env=env, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2 and "--iters" in r.stderr, "sweep.sh --iters many: exit %d"
          % r.returncode)
    # --bench-args: sweep.sh's own options refused by it, unknown ones by
    # sonuma-bench, both before rmcd starts.
    r = subprocess.run([a.sweep, "--bench-args", "--op write"], env=env, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2 and "for sweep.sh to set" in r.stderr,
          "sweep.sh --bench-args '--op write': exit %d, stderr %r" % (r.returncode, r.stderr[-300:]))
    r = subprocess.run([a.sweep, "--no-calibrate", "--out", os.path.join(tmp, "bad-args"),
                        "--bench-args", "--no-such-option"], env=env, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2 and "sonuma-bench refuses it" in r.stderr
          and "no-such-option" in r.stderr and not os.path.exists(os.path.join(tmp, "bad-args")),
          "sweep.sh --bench-args --no-such-option: exit %d, stderr %r"
          % (r.returncode, r.stderr[-300:]))

    # An rmcd that cannot start: exit 1, its log shown.
    bad = os.path.join(tmp, "broken.conf")
    with open(bad, "w", encoding="utf-8") as f:
        f.write('cluster = { nodes = 2; };\nmodel = { name = "no-such-model"; };\n')
    r = subprocess.run([a.sweep, "--quick", "--no-plots", "--no-calibrate", "--out",
                        os.path.join(tmp, "bad-results"), bad], env=env, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 1, "sweep.sh with a broken config: exit %d, not 1" % r.returncode)
    check("rmcd" in r.stderr and "no-such-model" in r.stderr,
          "sweep.sh with a broken config: rmcd's log not shown: %r" % r.stderr[-400:])

    # The sweep itself.
    cmd = [a.sweep, "--quick", "--configs", ",".join(CONFIGS), "--sizes",
           ",".join(map(str, SIZES)), "--iters", str(ITERS), "--warmup", str(WARMUP),
           "--outstanding", "8", "--bench-args", BENCH_ARGS, "--out", res_root] + cal_args
    print("$ " + " ".join(cmd))
    t0 = time.time()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=170)
    except subprocess.TimeoutExpired as e:
        print((e.stdout or b"")[-3000:] if isinstance(e.stdout, str) else e.stdout)
        check(False, "sweep.sh took more than 170 s")
        return finish(tmp, a.keep)
    print(r.stdout[-4000:])
    print(r.stderr[-3000:], file=sys.stderr)
    print("sweep.sh: exit %d in %.1f s" % (r.returncode, time.time() - t0))
    if not check(r.returncode == 0, "sweep.sh --quick exited %d" % r.returncode):
        return finish(tmp, a.keep)
    check("[8/8]" in r.stdout and "elapsed" in r.stdout, "no progress lines like [8/8] ... (elapsed)")

    runs = [d for d in glob.glob(os.path.join(res_root, "*")) if os.path.isdir(d)
            and not os.path.islink(d)]
    if not check(len(runs) == 1, "expected one run directory in %s, found %s" % (res_root, runs)):
        return finish(tmp, a.keep)
    out = runs[0]
    check(os.path.realpath(os.path.join(res_root, "latest")) == os.path.realpath(out),
          "results/latest does not point at the run")
    for conf in CONFIGS:
        d = os.path.join(out, conf)
        check(os.path.isfile(os.path.join(d, conf + ".conf")), "%s: no copy of the config" % d)
        log = os.path.join(d, "rmcd.log")
        if check(os.path.isfile(log), "%s: no rmcd.log" % d):
            with open(log, encoding="utf-8", errors="replace") as f:
                text = f.read()
            check("serving" in text and "shutting down" in text,
                  "%s: rmcd.log does not show rmcd serving and stopping" % log)
        for op in ("read", "write"):
            for mode in ("sync", "async"):
                base = os.path.join(d, "%s-%s" % (op, mode))
                if check(os.path.isfile(base + ".csv"), "%s.csv missing" % base):
                    check_csv(base + ".csv", conf)
                if check(os.path.isfile(base + ".json"), "%s.json missing" % base):
                    check_json(base + ".json", conf, op, mode)
    plots = os.path.join(out, "plots")
    for name in PLOTS:
        png, svg = os.path.join(plots, name + ".png"), os.path.join(plots, name + ".svg")
        if check(os.path.isfile(png), "%s missing" % png):
            check(os.path.getsize(png) > 5000, "%s: %d bytes, not > 5 KB" % (png, os.path.getsize(png)))
            wh = png_size(png)
            check(wh is not None and wh[0] >= 640 and wh[1] >= 480,
                  "%s: not a PNG of at least 640x480 (IHDR %s)" % (png, wh))
        if check(os.path.isfile(svg), "%s missing" % svg):
            try:
                root = ET.parse(svg).getroot()
                check(root.tag.endswith("svg"), "%s: root element <%s>, not <svg>" % (svg, root.tag))
            except ET.ParseError as e:
                check(False, "%s: not XML: %s" % (svg, e))
    summ = os.path.join(out, "summary.txt")
    if check(os.path.isfile(summ), "no summary.txt"):
        with open(summ, encoding="utf-8") as f:
            text = f.read()
        for conf in CONFIGS:
            check(conf in text, "summary.txt does not name %s" % conf)
        check("Plots:" in text and plots in text, "summary.txt does not say where the plots are")
    check("fixed-1us" in r.stdout and "sync |err|" in r.stdout, "no summary printed")
    left = our_processes(tmp)
    check(not left, "processes left running: %s" % left)
    return finish(tmp, a.keep)


def finish(tmp, keep):
    left = our_processes(tmp)
    for cmd in left:
        print("left running: " + cmd)
    if failures or keep:
        print("files kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("workflow: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
