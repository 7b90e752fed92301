#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helper of the sonuma experiment scripts (python3 standard library only).

  summary.py tocsv FILE.json [-o FILE.csv]
      sonuma-bench's CSV, written from its JSON output (the same measurement
      in both formats: sweep.sh runs sonuma-bench once per run, with -f json).
  summary.py summary RESULTS_DIR [--calibration FILE] [--elapsed SECS]
      per model, how close the measurements came to the model's target;
      printed and saved as RESULTS_DIR/summary.txt and summary.csv.
  summary.py plotdata RESULTS_DIR WORKDIR [--cdf-size B] [--cdf-op OP] [--cdf-mode MODE]
      what the gnuplot scripts in plots/ need beyond the CSV files: a
      gnuplot file of variables (models, their parameters, tics) and the
      step approximations of the latency distributions.
  summary.py ucx UCX_DIR
      turns the ucx_perftest "Final:" lines compare-ucx.sh collected into
      ucx.csv, joins them with sonuma-bench's figures for the none model
      (compare.csv) and prints the comparison.

A results directory holds one directory per model configuration, each with
{read,write}-{sync,async}.{csv,json} written by sonuma-bench, the config
used (NAME.conf) and rmcd's log; the directory may also hold calibration.cfg
(the calibration rmcd was given), sweep.txt and ucx/.
"""

import argparse
import csv
import json
import math
import os
import re
import statistics
import sys

OPS = ("read", "write")
MODES = ("sync", "async")
CSV_COLUMNS = ("size,iterations,t_min_ns,t_p50_ns,t_avg_ns,t_p99_ns,t_p999_ns,t_max_ns,"
               "target_ns,p50_err_pct,late,late_pct,bw_MBps,mops,errors,model_ns,"
               "req_err_p50_pct,req_err_p99_pct").split(",")
# Okabe-Ito: distinguishable by colour-blind readers, and in grey.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#000000", "#999933", "#882255", "#44AA99"]


def die(msg, code=1):
    print("summary.py: " + msg, file=sys.stderr)
    sys.exit(code)


# ---- reading sonuma-bench output --------------------------------------------

def fnum(v):
    """A CSV/JSON field as a float; None for empty, null, nan."""
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_csv(path):
    """(meta, rows) of a sonuma-bench CSV: meta from the '#' lines."""
    meta, lines = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                body = line[1:].strip()
                if body.startswith("sonuma-bench "):
                    meta["version_line"] = body
                    continue
                key, sep, val = body.partition(": ")
                if not sep:
                    continue
                if key in ("command", "model", "calibration"):
                    meta[key] = val
                else:
                    # "op: read; mode: sync; outstanding: 1; ..."
                    for part in body.split("; "):
                        k, s, v = part.partition(": ")
                        if s:
                            meta[k.strip()] = v.strip()
            elif line.strip():
                lines.append(line)
    rows = list(csv.DictReader(lines))
    return meta, rows


def load_run(dirpath, op, mode):
    """One run of a configuration as {'meta': ..., 'rows': [...]}, from the
    JSON when there is one (it carries more), else the CSV; None if absent."""
    base = os.path.join(dirpath, "%s-%s" % (op, mode))
    if os.path.exists(base + ".json"):
        with open(base + ".json", encoding="utf-8") as f:
            j = json.load(f)
        c, r = j.get("config", {}), j.get("rmcd", {})
        meta = {"op": c.get("op"), "mode": c.get("mode"),
                "outstanding": c.get("outstanding"), "iters": c.get("iters"),
                "model": r.get("model_params", ""), "model_name": r.get("model", ""),
                "calibration": r.get("calibration", ""), "nodes": r.get("nodes"),
                "src": c.get("src"), "dst": c.get("dst")}
        rows = [{k: fnum(v) for k, v in row.items()} for row in j.get("results", [])]
        return {"meta": meta, "rows": rows, "file": base + ".json"}
    if os.path.exists(base + ".csv"):
        meta, rows = read_csv(base + ".csv")
        meta["model_name"] = meta.get("model", "").split(":")[0]
        rows = [{k: fnum(v) for k, v in row.items()} for row in rows]
        return {"meta": meta, "rows": rows, "file": base + ".csv"}
    return None


def config_dirs(results):
    """The configuration directories of a results directory, in the order
    the sweep ran them (sweep.txt), else by name."""
    found = []
    for name in sorted(os.listdir(results)):
        d = os.path.join(results, name)
        if os.path.isdir(d) and any(os.path.exists(os.path.join(d, "%s-%s.%s" % (o, m, e)))
                                    for o in OPS for m in MODES for e in ("csv", "json")):
            found.append(name)
    order = []
    sweep = os.path.join(results, "sweep.txt")
    if os.path.exists(sweep):
        with open(sweep, encoding="utf-8") as f:
            for line in f:
                if line.startswith("configs:"):
                    order = [c.strip() for c in line.split(":", 1)[1].split()]
    ordered = [c for c in order if c in found]
    return ordered + [c for c in found if c not in ordered]


def link_gbps(model_desc):
    """The configured link bandwidth (GB/s) of a 'link: 500 ns + 50 ns/hop +
    10 GB/s, full' description; None for other models."""
    m = re.match(r"\s*link:.*?([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*GB/s", model_desc or "")
    return float(m.group(1)) if m else None


# ---- the calibration floor --------------------------------------------------

def read_floor(path):
    """[(size, median_ns)] of a calibration file's floor list; [] if none."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    text = re.sub(r"(#|//).*", "", text)
    m = re.search(r"\bfloor\s*[=:]\s*\((.*?)\)\s*;", text, re.S)
    if not m:
        return []
    pts = []
    for g in re.finditer(r"\{(.*?)\}", m.group(1), re.S):
        kv = dict(re.findall(r"(\w+)\s*[=:]\s*([-+0-9.eE]+)", g.group(1)))
        if "size" in kv and "median_ns" in kv:
            pts.append((int(float(kv["size"])), float(kv["median_ns"])))
    return sorted(pts)


def floor_at(pts, size):
    """The floor for a size, as core/calib.c's cal_floor_ns() computes it:
    log-linear between measured sizes, linear beyond the largest."""
    if not pts:
        return None
    if size <= pts[0][0] or len(pts) == 1:
        return pts[0][1]
    for (s0, f0), (s1, f1) in zip(pts, pts[1:]):
        if size <= s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return f0 + t * (f1 - f0)
    (s0, f0), (s1, f1) = pts[-2], pts[-1]
    slope = max(0.0, (f1 - f0) / (s1 - s0))
    return f1 + slope * (size - s1)


def find_calibration(results, explicit=None):
    """(path, floor points, how it was found) of the calibration the runs used."""
    cands = []
    if explicit:
        cands.append((explicit, "given"))
    cands.append((os.path.join(results, "calibration.cfg"), "copied into the results"))
    for name in config_dirs(results):
        run = next((load_run(os.path.join(results, name), o, m)
                    for o in OPS for m in MODES
                    if load_run(os.path.join(results, name), o, m)), None)
        cal = (run or {}).get("meta", {}).get("calibration", "")
        if cal and cal != "none":
            cands.append((cal.split(";")[0].strip(), "named by the results"))
            break
    for path, how in cands:
        pts = read_floor(path)
        if pts:
            return path, pts, how
    return None, [], None


# ---- tocsv ------------------------------------------------------------------

def fmt1(v):
    return "%.1f" % v if v is not None else ""


def json_to_csv(j):
    """sonuma-bench's CSV layout (experiments/sonuma-bench.c), from its JSON."""
    c, r = j["config"], j["rmcd"]
    out = []
    out.append("# sonuma-bench %s, %s" % (j.get("version", "?"), j.get("date", "?")))
    out.append("# command: %s" % j.get("command", ""))
    # Only newer sonuma-bench builds record verify; for older
    # files the CSV says nothing of it either.
    verify = "" if "verify" not in c else "verify: %s; " % ("true" if c["verify"] else "false")
    out.append("# op: %s; mode: %s; outstanding: %s; threads: %s; src: %s; dst: %s; "
               "iters: %s; warmup: %s; %sbw: %s; same_buffer: %s"
               % (c["op"], c["mode"], c["outstanding"], c["threads"], c["src"], c["dst"],
                  c["iters"], c["warmup"], verify, "true" if c.get("bw") else "false",
                  "true" if c.get("same_buffer") else "false"))
    out.append("# model: %s" % r.get("model_params", ""))
    out.append("# calibration: %s" % r.get("calibration", ""))
    out.append("# tsc_hz: %.0f; nodes: %s; queue_depth: %s; src_numa: %s; app_cpus: %s"
               % (float(r.get("tsc_hz", 0)), r.get("nodes"), r.get("queue_depth"),
                  r.get("src_numa"), r.get("app_cpus", "")))
    out.append(",".join(CSV_COLUMNS))
    for x in j.get("results", []):
        err = fnum(x.get("p50_err_pct"))
        target = fnum(x.get("target_ns"))
        model = fnum(x.get("model_ns"))
        rq = [fnum(x.get(k)) for k in ("req_err_p50_pct", "req_err_p99_pct")]
        out.append("%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%d,%.3f,%.1f,%.4f,%d,%s,%s,%s" % (
            x["size"], x["iterations"], fmt1(x["t_min_ns"]), fmt1(x["t_p50_ns"]),
            fmt1(x["t_avg_ns"]), fmt1(x["t_p99_ns"]), fmt1(x["t_p999_ns"]),
            fmt1(x["t_max_ns"]), fmt1(target if target is not None else 0.0),
            "%.3f" % err if err is not None else "", x["late"], x["late_pct"],
            x["bw_MBps"], x["mops"], x["errors"],
            fmt1(model) if model is not None else "",
            *("%.3f" % v if v is not None else "" for v in rq)))
    return "\n".join(out) + "\n"


def cmd_tocsv(a):
    for path in a.json:
        try:
            with open(path, encoding="utf-8") as f:
                j = json.load(f)
        except (OSError, ValueError) as e:
            die("%s: %s" % (path, e))
        if "results" not in j or "config" not in j:
            die("%s: not sonuma-bench JSON output" % path)
        dest = a.output if a.output and len(a.json) == 1 else re.sub(r"\.json$", "", path) + ".csv"
        with open(dest, "w", encoding="utf-8") as f:
            f.write(json_to_csv(j))


# ---- summary ----------------------------------------------------------------

def human_size(n):
    n = int(n)
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k and n % k == 0:
            return "%d %s" % (n // k, unit)
    return "%d B" % n


def elapsed_str(secs):
    secs = int(round(secs))
    h, m, s = secs // 3600, secs // 60 % 60, secs % 60
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


def floor_of(results, cal_path=None):
    """(floor(op, size) -> ns or None, description, calibration points): the
    calibrated floor, else the none model's sync medians of this sweep (what
    the calibration measures), else nothing."""
    path, floor_pts, how = find_calibration(results, cal_path)
    if floor_pts:
        return (lambda op, size: floor_at(floor_pts, size),
                "calibration %s (%s)" % (path, how), floor_pts)
    native = {}
    for c in config_dirs(results):
        for o in OPS:
            run = load_run(os.path.join(results, c), o, "sync")
            if run and run["meta"].get("model_name") == "none":
                for row in run["rows"]:
                    native[(o, int(row["size"]))] = row["t_p50_ns"]
    if native:
        return (lambda op, size: native.get((op, size)),
                "none model's sync p50 in this sweep (no calibration)", [])
    return (lambda op, size: None,
            "none (no calibration, no none model): every size counted", [])


def summarize(results, cal_path=None):
    """Per configuration: the fidelity figures (see cmd_summary)."""
    floor, floor_src, floor_pts = floor_of(results, cal_path)
    out = []
    for c in config_dirs(results):
        rec = {"config": c, "model": "", "errs": {m: [] for m in MODES},
               "used": {m: 0 for m in MODES}, "total": {m: 0 for m in MODES},
               "bw_ratio": [], "late": None, "late_where": "", "late_all": None,
               "errors": 0, "outstanding": None, "req50": [], "req99": []}
        for o in OPS:
            for m in MODES:
                run = load_run(os.path.join(results, c), o, m)
                if not run:
                    continue
                meta = run["meta"]
                rec["model"] = rec["model"] or meta.get("model", "")
                link = link_gbps(meta.get("model", ""))
                n = int(meta.get("outstanding") or 1) if m == "async" else 1
                if m == "async":
                    rec["outstanding"] = n
                for row in run["rows"]:
                    size = int(row["size"])
                    rec["errors"] += int(row.get("errors") or 0)
                    target, p50, lp = row.get("target_ns"), row.get("t_p50_ns"), row.get("late_pct")
                    if lp is not None and (rec["late_all"] is None or lp > rec["late_all"]):
                        rec["late_all"] = lp
                    if not target or p50 is None:
                        continue
                    rec["total"][m] += 1
                    fl = floor(o, size)
                    if fl is not None and target <= fl:
                        continue  # this machine cannot go that fast: late by design
                    rec["used"][m] += 1
                    rec["errs"][m].append(abs(p50 - target) / target * 100.0)
                    r50, r99 = row.get("req_err_p50_pct"), row.get("req_err_p99_pct")
                    if m == "async" and r50 is not None and r99 is not None:
                        rec["req50"].append(abs(r50))
                        rec["req99"].append(r99)
                    if lp is not None and (rec["late"] is None or lp > rec["late"]):
                        rec["late"] = lp
                        rec["late_where"] = "%s %s %s" % (m, o, human_size(size))
                    if m == "async" and row.get("bw_MBps"):
                        bound = n * size / target * 1000.0  # MB/s
                        if link:
                            bound = min(bound, link * 1000.0)
                        rec["bw_ratio"].append(row["bw_MBps"] / bound)
        out.append(rec)
    return out, floor_src, floor_pts


def cmd_summary(a):
    results = a.results
    if not os.path.isdir(results):
        die("%s: not a directory" % results)
    recs, floor_src, floor_pts = summarize(results, a.calibration)
    if not recs:
        die("%s: no sonuma-bench results in it" % results)
    lines = []
    add = lines.append
    plots = os.path.join(results, "plots")
    pngs = sorted(f for f in os.listdir(plots) if f.endswith(".png")) if os.path.isdir(plots) else []
    add("Results:  %s  (%d model%s%s)" % (results, len(recs), "s" if len(recs) > 1 else "",
                                        ", %s" % elapsed_str(a.elapsed) if a.elapsed else ""))
    if pngs:
        add("Plots:    %s/  (%d PNG, each also as SVG)" % (plots, len(pngs)))
        add("          %s" % ", ".join(p for p in pngs if not re.match(
            r"(latency|bandwidth)-(?!all)", p)))
        add("          and latency-CONFIG.png, bandwidth-CONFIG.png per model")
    else:
        add("Plots:    none (plots/plot.sh %s draws them)" % results)
    add("Floor:    %s" % floor_src)
    if floor_pts:
        add("          %s" % ", ".join("%s %.0f ns" % (human_size(s), f) for s, f in floor_pts[:6]))
    add("")
    add("Models:")
    for r in recs:
        add("  %-18s %s" % (r["config"], r["model"]))
    W = next((r["outstanding"] for r in recs if r["outstanding"]), "N")
    add("")
    add("How close each model came to its target, over the sizes whose target is above the")
    add("floor (n = those runs x sizes / all with a target; reads and writes together):")
    add("  sync |err|   median |p50 - target| / target, one request at a time")
    add("  async |err|  the same with %s in flight, against the unloaded target (queueing" % W)
    add("               in the emulator or the model counts as error)")
    add("  vs model     async, each request against the model's own latency for it (its")
    add("               due time, queueing included): median over sizes of |p50| / of p99")
    add("               of that error")
    add("  async bw     median of bandwidth / the model's bound (%s x size / target, at most" % W)
    add("               the link's bandwidth); 1.00 = the model's throughput")
    add("  late         worst share of completions later than their due time in a run")
    add("               (sizes above the floor; below it every completion is late)")
    add("")
    hdr = "%-18s %-20s %-12s %-15s %-9s %s" % ("config", "sync |err|", "async |err|", "vs model",
                                                "async bw", "late")
    add(hdr)
    add("-" * max(len(hdr), 78))
    csv_rows = []
    for r in recs:
        med = {m: statistics.median(r["errs"][m]) if r["errs"][m] else None for m in MODES}
        if not r["total"]["sync"] and not r["total"]["async"]:
            add("%-18s %s" % (r["config"], "no target (native speed): nothing to compare; "
                              "worst late %.2f %%" % (r["late_all"] or 0)))
        else:
            sync = ("%.1f %% (n=%d/%d)" % (med["sync"], r["used"]["sync"], r["total"]["sync"])
                    if med["sync"] is not None else "- (0/%d above floor)" % r["total"]["sync"])
            asy = "%.1f %%" % med["async"] if med["async"] is not None else "-"
            bw = "%.2f" % statistics.median(r["bw_ratio"]) if r["bw_ratio"] else "-"
            late = ("%.2f %% (%s)" % (r["late"], r["late_where"]) if r["late"] is not None
                    else "- (all below floor: %.0f %%)" % (r["late_all"] or 0))
            vm = ("%.1f / %+.1f %%" % (statistics.median(r["req50"]), statistics.median(r["req99"]))
                  if r["req50"] else "-")
            add("%-18s %-20s %-12s %-15s %-9s %s" % (r["config"], sync, asy, vm, bw, late))
        if r["errors"]:
            add("%-18s !! %d operation(s) failed or carried wrong data" % ("", r["errors"]))
        csv_rows.append([r["config"], r["model"],
                         "" if med["sync"] is None else "%.3f" % med["sync"],
                         r["used"]["sync"], r["total"]["sync"],
                         "" if med["async"] is None else "%.3f" % med["async"],
                         r["used"]["async"], r["total"]["async"],
                         "%.4f" % statistics.median(r["bw_ratio"]) if r["bw_ratio"] else "",
                         "" if r["late"] is None else "%.3f" % r["late"], r["late_where"],
                         "" if r["late_all"] is None else "%.3f" % r["late_all"], r["errors"],
                         "%.3f" % statistics.median(r["req50"]) if r["req50"] else "",
                         "%.3f" % statistics.median(r["req99"]) if r["req99"] else ""])
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    try:
        with open(os.path.join(results, "summary.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(results, "summary.csv"), "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["config", "model", "sync_median_abs_p50_err_pct", "sync_counted",
                        "sync_with_target", "async_median_abs_p50_err_pct", "async_counted",
                        "async_with_target", "async_bw_over_bound", "worst_late_pct",
                        "worst_late_run", "worst_late_pct_any_size", "errors",
                        "async_median_abs_req_err_p50_pct", "async_median_req_err_p99_pct"])
            w.writerows(csv_rows)
    except OSError as e:
        print("summary.py: cannot save the summary: %s" % e, file=sys.stderr)


# ---- plotdata ---------------------------------------------------------------

def gp_str(s):
    """A gnuplot single-quoted string."""
    return "'" + str(s).replace("'", "''") + "'"


def gp_enh(s):
    """Text safe in gnuplot's enhanced mode."""
    return re.sub(r"([_^@&{}~])", r"\\\\\1", str(s))


def size_label(n):
    n = int(n)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return "%dK" % (n >> 10)
    return "%d" % n


def size_tics(sizes):
    """A 'set xtics (...)' command labelling the sizes, thinned so the
    labels never crowd (every size up to 7, else every second or fourth)."""
    sizes = sorted(set(int(s) for s in sizes))
    if not sizes:
        return "set xtics"
    step = 1 if len(sizes) <= 7 else 2 if len(sizes) <= 14 else 4
    major = sizes[::step]
    tics = ['"%s" %d' % (size_label(s), s) for s in major]
    tics += ['"" %d 1' % s for s in sizes if s not in major]
    return "set xtics (" + ", ".join(tics) + ")"


def log_tics(axis, values):
    """A gnuplot command labelling a log axis over the range of values:
    decades over a wide range, 1-2-5 over a narrower one, finer steps down
    to a linear step over a narrow one; always at least three labels."""
    vals = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vals:
        return "set %stics auto" % axis
    lo, hi = min(vals), max(vals)
    if hi / lo < 1.02:
        lo, hi = lo / 1.05, hi * 1.05
    lo, hi = lo / 1.02, hi * 1.02  # the plots' offsets widen the range a little

    def series(mults):
        out = []
        for e in range(int(math.floor(math.log10(lo))) - 1, int(math.ceil(math.log10(hi))) + 1):
            for m in mults:
                v = float("%.6g" % (m * 10.0 ** e))
                if lo <= v <= hi:
                    out.append(v)
        return out

    for mults in ([1], [1, 2, 5], [1, 1.5, 2, 3, 5, 7], [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8]):
        tics = series(mults)
        if len(tics) >= 3 and (len(tics) <= 9 or mults == [1]):
            break
    else:
        step = (hi - lo) / 5
        mag = 10 ** math.floor(math.log10(step))
        step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= step), default=mag)
        tics, v = [], math.ceil(lo / step) * step
        while v <= hi:
            tics.append(float("%.6g" % v))
            v += step
    return "set %stics (%s); set m%stics 10" % (
        axis, ", ".join('"%g" %.6g' % (t, t) for t in tics), axis)


def write_cdf(path, row, tail_floor):
    """Step approximation of the distribution through the percentiles
    sonuma-bench reports: x (us), F (lower bound of the CDF), 1 - F."""
    pts = [(row["t_min_ns"], 0.0), (row["t_p50_ns"], 0.50), (row["t_p99_ns"], 0.99),
           (row["t_p999_ns"], 0.999), (row["t_max_ns"], 1.0)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("# x_us,F,1-F   (step approximation: t_min, p50, p99, p99.9, t_max)\n")
        for x, F in pts:
            if x is None:
                continue
            f.write("%.6g,%.4f,%.6g\n" % (x / 1000.0, F, max(1.0 - F, tail_floor)))


def plot_entry(a, results, work, i, c, sizes):
    """What the plots draw of config c (the i-th): its runs, targets, CDF
    file and the values of each panel's log axis; adds its sizes."""
    d = os.path.join(results, c)
    runs = {(o, m): load_run(d, o, m) for o in OPS for m in MODES}
    model = next((r["meta"].get("model", "") for r in runs.values() if r), "")
    has_target = any((row.get("target_ns") or 0) > 0 for r in runs.values() if r
                     for row in r["rows"])
    # Whether reads and writes have the same target at every size.
    tg = {}
    for (o, m), r in runs.items():
        for row in (r or {}).get("rows", []):
            tg.setdefault(int(row["size"]), set()).add(row.get("target_ns"))
    same_target = all(len(v) == 1 for v in tg.values())
    outst = next((r["meta"].get("outstanding") for (o, m), r in runs.items()
                  if r and m == "async"), "")
    for r in runs.values():
        for row in (r or {}).get("rows", []):
            sizes.add(int(row["size"]))
    # The CDF at the chosen size (or the nearest one measured).
    cdf = ""
    run = runs.get((a.cdf_op, a.cdf_mode))
    if run and run["rows"]:
        row = min(run["rows"], key=lambda x: abs(math.log(x["size"] / a.cdf_size)))
        cdf = os.path.join(work, "cdf-%d.dat" % i)
        write_cdf(cdf, row, 1.0 / max(row.get("iterations") or 1, 1))
        cdf_target = row.get("target_ns") or 0
        cdf_real = int(row["size"])
    else:
        cdf_target, cdf_real = 0, 0
    # What each panel draws, for the labels of its log axis.
    lat = {m: [] for m in MODES}
    bw = {o: [] for o in OPS}
    for (o, m), r in runs.items():
        for row in (r or {}).get("rows", []):
            lat[m] += [row.get("t_p50_ns"), row.get("t_p99_ns"), row.get("target_ns")]
            bw[o] += [row.get("bw_MBps")]
            t = row.get("target_ns")
            if t:
                n = int(outst or 1) if m == "async" else 1
                b = n * row["size"] / t * 1000
                bw[o].append(min(b, (link_gbps(model) or 1e12) * 1000))
        if link_gbps(model):
            bw[o].append(link_gbps(model) * 1000)
    return {"name": c, "dir": d, "model": model, "bw": link_gbps(model) or 0,
            "lat": lat, "bwv": bw,
            "target": 1 if has_target else 0, "outst": outst or "",
            "same": 1 if same_target else 0,
            "have": {k: 1 if v else 0 for k, v in runs.items()},
            "cdf": cdf, "cdf_target": cdf_target / 1000.0, "cdf_size": cdf_real}


def write_fidelity_data(a, work, entries, floor):
    """The fidelity plot's data: error of the median, clipped at --err-max,
    with whether the target is above the floor (the size counts)."""
    for i, e in enumerate(entries, 1):
        for o in OPS:
            for m in MODES:
                run = load_run(e["dir"], o, m)
                path = os.path.join(work, "fid-%d-%s-%s.dat" % (i, o, m))
                with open(path, "w", encoding="utf-8") as f:
                    f.write("# size,err_pct_clipped,above_floor,clipped,err_pct\n")
                    for row in (run or {}).get("rows", []):
                        err, size = row.get("p50_err_pct"), int(row["size"])
                        if err is None or not row.get("target_ns"):
                            continue
                        fl = floor(o, size)
                        above = 1 if fl is None or row["target_ns"] > fl else 0
                        clip = 1 if err > a.err_max else 0
                        f.write("%d,%.4g,%d,%d,%.4g\n" % (size, min(err, a.err_max), above,
                                                          clip, err))


def us_of(v):
    """Values in ns as us, without the missing ones."""
    return [x / 1000.0 for x in v if x]


def write_meta_arrays(f, entries):
    """meta.gp's arrays: one element per config."""
    n = len(entries)

    def arr(name, vals):
        return "array %s[%d] = [%s]\n" % (name, max(n, 1), ", ".join(vals) if vals else "0")

    f.write(arr("conf", [gp_str(e["name"]) for e in entries]))
    f.write(arr("confenh", [gp_str(gp_enh(e["name"])) for e in entries]))
    f.write(arr("cdir", [gp_str(e["dir"]) for e in entries]))
    f.write(arr("desc", [gp_str(gp_enh(e["model"])) for e in entries]))
    f.write(arr("linkbw", ["%g" % e["bw"] for e in entries]))
    f.write(arr("hastarget", ["%d" % e["target"] for e in entries]))
    f.write(arr("sametarget", ["%d" % e["same"] for e in entries]))
    f.write(arr("outst", [gp_str(e["outst"]) for e in entries]))
    f.write(arr("cdffile", [gp_str(e["cdf"]) for e in entries]))
    f.write(arr("cdftarget", ["%g" % e["cdf_target"] for e in entries]))
    f.write(arr("cdfsize", ["%d" % e["cdf_size"] for e in entries]))
    f.write(arr("color", [gp_str(PALETTE[(k) % len(PALETTE)]) for k in range(n)]))
    for o in OPS:
        for m in MODES:
            f.write(arr("have_%s_%s" % (o, m), ["%d" % e["have"][(o, m)] for e in entries]))
    us = us_of
    f.write(arr("ytics_lat_sync", [gp_str(log_tics("y", us(e["lat"]["sync"]))) for e in entries]))
    f.write(arr("ytics_lat_async", [gp_str(log_tics("y", us(e["lat"]["async"]))) for e in entries]))
    f.write(arr("ytics_bw_read", [gp_str(log_tics("y", us(e["bwv"]["read"]))) for e in entries]))
    f.write(arr("ytics_bw_write", [gp_str(log_tics("y", us(e["bwv"]["write"]))) for e in entries]))


def write_meta_tics(f, a, entries, floor_ns):
    """meta.gp's axis labels of the plots of every config."""
    for o in OPS:
        v = []
        for e in entries:
            r = load_run(e["dir"], o, "sync")
            for row in (r or {}).get("rows", []):
                v += [row.get("t_p50_ns"), row.get("target_ns")]
        f.write("ytics_latall_%s = %s\n" % (o, gp_str(log_tics("y", us_of(v + floor_ns)))))
        v = []
        for e in entries:
            r = load_run(e["dir"], o, "async")
            v += [row.get("bw_MBps") for row in (r or {}).get("rows", [])]
            if e["bw"]:
                v.append(e["bw"] * 1000)
        f.write("ytics_bwall_%s = %s\n" % (o, gp_str(log_tics("y", us_of(v)))))
    v = []
    for e in entries:
        r = load_run(e["dir"], a.cdf_op, a.cdf_mode)
        for row in (r or {}).get("rows", []):
            if int(row["size"]) == e["cdf_size"]:
                v += [row.get("t_min_ns"), row.get("t_max_ns"), row.get("target_ns")]
    f.write("xtics_cdf = %s\n" % gp_str(log_tics("x", us_of(v))))


def write_meta_floor(f, work, cal_path, floor_pts, sizes):
    """meta.gp's floor_file: the calibrated floor at every size, if any."""
    if floor_pts:
        ff = os.path.join(work, "floor.dat")
        with open(ff, "w", encoding="utf-8") as fl:
            fl.write("# size,floor_ns (calibrated floor, %s)\n" % cal_path)
            for s in sorted(sizes):
                fl.write("%d,%.6g\n" % (s, floor_at(floor_pts, s) / 1000.0))
        f.write("floor_file = %s\n" % gp_str(ff))
    else:
        f.write("floor_file = ''\n")


def write_meta_ucx(f, results, sizes):
    """meta.gp's ucx_*: compare-ucx.sh's results, if the run has them."""
    ucx = os.path.join(results, "ucx", "compare.csv")
    f.write("ucx_file = %s\n" % gp_str(ucx if os.path.exists(ucx) else ""))
    if not os.path.exists(ucx):
        return
    with open(ucx, encoding="utf-8") as u:
        meta = {}
        for line in u:
            if line.startswith("# ") and ": " in line:
                k, _, v = line[2:].strip().partition(": ")
                meta[k] = v
    f.write("ucx_outstanding = %s\n" % gp_str(meta.get("outstanding", "?")))
    f.write("ucx_tls = %s\n" % gp_str(meta.get("UCX_TLS", "?")))
    with open(ucx, encoding="utf-8") as u:
        rows = list(csv.DictReader(l for l in u if not l.startswith("#")))
    lat = [fnum(r.get(c)) for r in rows for c in
           ("sonuma_read_sync_p50_ns", "sonuma_read_sync_p99_ns", "ucx_put_rtt_ns",
            "ucx_get_p50_ns")]
    bw = [fnum(r.get(c)) for r in rows for c in
          ("sonuma_read_async_GBps", "ucx_get_GBps", "sonuma_write_async_GBps",
           "ucx_put_GBps")]
    usz = [int(r["size"]) for r in rows]
    f.write("ytics_ucx_lat = %s\n" % gp_str(log_tics("y", [x / 1000 for x in lat if x])))
    f.write("ytics_ucx_bw = %s\n" % gp_str(log_tics("y", bw)))
    if not sizes:
        f.write("size_tics = %s\n" % gp_str(size_tics(usz)))


def cmd_plotdata(a):
    results, work = a.results, a.workdir
    os.makedirs(work, exist_ok=True)
    sizes = set()
    entries = [plot_entry(a, results, work, i, c, sizes)
               for i, c in enumerate(config_dirs(results), 1)]
    cal_path, floor_pts, _ = find_calibration(results, a.calibration)
    floor, _, _ = floor_of(results, a.calibration)
    floor_ns = [floor_at(floor_pts, s) for s in sizes] if floor_pts else []
    for e in entries:
        if not e["target"]:
            for m in MODES:
                e["lat"][m] += floor_ns
    write_fidelity_data(a, work, entries, floor)

    empty = os.path.join(work, "empty.csv")
    with open(empty, "w", encoding="utf-8") as f:
        f.write("# no data: what a plot element reads when it has nothing to draw\n")
    with open(os.path.join(work, "meta.gp"), "w", encoding="utf-8") as f:
        f.write("# written by experiments/summary.py plotdata from %s\n" % results)
        f.write("empty = %s\n" % gp_str(empty))
        f.write("nconf = %d\n" % len(entries))
        write_meta_arrays(f, entries)
        write_meta_tics(f, a, entries, floor_ns)
        f.write("ntargets = %d\n" % sum(e["target"] for e in entries))
        f.write("nlinks = %d\n" % sum(1 for e in entries if e["bw"]))
        f.write("size_tics = %s\n" % gp_str(size_tics(sizes)))
        f.write("size_min = %d\nsize_max = %d\n" % (min(sizes or [64]), max(sizes or [64])))
        cs = [e["cdf_size"] for e in entries if e["cdf_size"]]
        f.write("cdf_size_label = %s\n" % gp_str(human_size(cs[0]) if cs else "?"))
        f.write("cdf_name = %s\n" % gp_str("cdf-%s-%s-%sB" % (a.cdf_op, a.cdf_mode,
                                                             size_label(cs[0]) if cs else "x")))
        f.write("cdf_op = %s\ncdf_mode = %s\n" % (gp_str(a.cdf_op), gp_str(a.cdf_mode)))
        f.write("err_max = %d\n" % a.err_max)
        write_meta_floor(f, work, cal_path, floor_pts, sizes)
        write_meta_ucx(f, results, sizes)


# ---- ucx --------------------------------------------------------------------

def parse_final(line):
    """The figures of a ucx_perftest 'Final:' line."""
    parts = line.split()
    if not parts or parts[0] != "Final:" or len(parts) < 9:
        return None
    v = [float(x.replace(",", "")) for x in parts[1:9]]
    return {"iterations": int(v[0]), "lat_p50_us": v[1], "lat_avg_us": v[2],
            "lat_overall_us": v[3], "bw_avg_MiBps": v[4], "bw_overall_MiBps": v[5],
            "msgrate_avg": v[6], "msgrate_overall": v[7]}


def cmd_ucx(a):
    d = a.ucxdir
    raw = os.path.join(d, "ucx_raw.txt")
    if not os.path.exists(raw):
        die("%s: missing (compare-ucx.sh writes it)" % raw)
    meta, recs = {}, []
    with open(raw, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                k, _, v = line[1:].strip().partition(": ")
                meta[k] = v
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            test, size, outst, final = fields[0], int(fields[1]), fields[2], fields[3]
            p = parse_final(final)
            if not p:
                die("%s: %s %d: no Final: line" % (raw, test, size))
            p.update(test=test, size=size, outstanding=outst)
            recs.append(p)
    seen = {}
    for r in recs:
        seen[(r["test"], r["size"])] = seen.get((r["test"], r["size"]), 0) + 1
        r["run"] = seen[(r["test"], r["size"])]
    cols = ["test", "size", "run", "outstanding", "iterations", "lat_p50_us", "lat_avg_us",
            "lat_overall_us", "bw_avg_MiBps", "bw_overall_MiBps", "bw_MBps", "msgrate_overall"]
    with open(os.path.join(d, "ucx.csv"), "w", encoding="utf-8", newline="") as f:
        for k, v in meta.items():
            f.write("# %s: %s\n" % (k, v))
        f.write("# ucx_perftest reports MB/s as 2^20 bytes/s (MiB/s); bw_MBps is 1e6 bytes/s,\n")
        f.write("# as sonuma-bench's\n")
        w = csv.writer(f)
        w.writerow(cols)
        for r in recs:
            r["bw_MBps"] = "%.1f" % (r["bw_overall_MiBps"] * 1.048576)
            w.writerow([r[c] for c in cols])
    # Repeated runs of a test and size (ucp_put_lat): the median run.
    groups = {}
    for r in recs:
        groups.setdefault((r["test"], r["size"]), []).append(r)
    by = {k: sorted(v, key=lambda r: r["lat_p50_us"])[(len(v) - 1) // 2]
          for k, v in groups.items()}
    spread = {k: (min(r["lat_p50_us"] for r in v), max(r["lat_p50_us"] for r in v), len(v))
              for k, v in groups.items()}

    sn = os.path.join(d, "none")
    rs, ra, wa = (load_run(sn, "read", "sync"), load_run(sn, "read", "async"),
                  load_run(sn, "write", "async"))
    if not rs:
        die("%s: no sonuma-bench results for the none model" % sn)

    def row_of(run, size):
        for row in (run or {}).get("rows", []):
            if int(row["size"]) == size:
                return row
        return {}

    sizes = sorted(set(int(r["size"]) for r in rs["rows"]))
    out = []
    for s in sizes:
        a_rs, a_ra, a_wa = row_of(rs, s), row_of(ra, s), row_of(wa, s)
        get_l, get_b = by.get(("ucp_get_lat", s)), by.get(("ucp_get", s))
        put_l, put_b = by.get(("ucp_put_lat", s)), by.get(("ucp_put_bw", s))
        rtt = 2 * put_l["lat_p50_us"] * 1000 if put_l else None
        out.append({
            "size": s,
            "sonuma_read_sync_p50_ns": a_rs.get("t_p50_ns"),
            "sonuma_read_sync_p99_ns": a_rs.get("t_p99_ns"),
            "ucx_get_p50_ns": get_l["lat_p50_us"] * 1000 if get_l else None,
            "ucx_put_rtt_ns": rtt,
            "ratio_sonuma_over_rtt": (a_rs.get("t_p50_ns") / rtt
                                      if rtt and a_rs.get("t_p50_ns") else None),
            "sonuma_read_sync_GBps": (a_rs.get("bw_MBps") or 0) / 1000 or None,
            "sonuma_read_async_GBps": (a_ra.get("bw_MBps") or 0) / 1000 or None,
            "sonuma_write_async_GBps": (a_wa.get("bw_MBps") or 0) / 1000 or None,
            "ucx_get_GBps": get_b["bw_overall_MiBps"] * 1.048576 / 1000 if get_b else None,
            "ucx_put_GBps": put_b["bw_overall_MiBps"] * 1.048576 / 1000 if put_b else None,
        })
    cols = list(out[0].keys()) if out else ["size"]
    with open(os.path.join(d, "compare.csv"), "w", encoding="utf-8", newline="") as f:
        for k, v in meta.items():
            f.write("# %s: %s\n" % (k, v))
        f.write("# model: %s\n" % rs["meta"].get("model", ""))
        f.write("# ucx_put_rtt_ns = 2 x ucp_put_lat p50 (a ping-pong: one core-to-core "
                "round trip); GB/s = 1e9 bytes/s\n")
        w = csv.writer(f)
        w.writerow(cols)
        for r in out:
            w.writerow(["" if r[c] is None else ("%.4g" % r[c] if isinstance(r[c], float)
                                                  else r[c]) for c in cols])

    def f_ns(v):
        return "%9.0f" % v if v is not None else "%9s" % "-"

    def f_gb(v):
        return "%8.2f" % v if v is not None else "%8s" % "-"

    print("sonuma (none model) vs UCX ucx_perftest over shared memory (UCX_TLS=%s)"
          % meta.get("UCX_TLS", "?"))
    print("%9s %9s %9s %9s %9s %7s | %8s %8s %8s %8s" % (
        "size", "read p50", "read p99", "ucp_get", "2xputlat", "ratio", "rd async",
        "ucp_get", "wr async", "ucp_put"))
    print("%9s %9s %9s %9s %9s %7s | %8s %8s %8s %8s" % (
        "bytes", "ns", "ns", "ns", "ns", "", "GB/s", "GB/s", "GB/s", "GB/s"))
    for r in out:
        ratio = r["ratio_sonuma_over_rtt"]
        print("%9d %s %s %s %s %7s | %s %s %s %s" % (
            r["size"], f_ns(r["sonuma_read_sync_p50_ns"]), f_ns(r["sonuma_read_sync_p99_ns"]),
            f_ns(r["ucx_get_p50_ns"]), f_ns(r["ucx_put_rtt_ns"]),
            "%.2f" % ratio if ratio else "-", f_gb(r["sonuma_read_async_GBps"]),
            f_gb(r["ucx_get_GBps"]), f_gb(r["sonuma_write_async_GBps"]),
            f_gb(r["ucx_put_GBps"])))
    r64 = next((r for r in out if r["size"] == 64), None)
    if r64 and r64["ratio_sonuma_over_rtt"]:
        lo, hi, n = spread[("ucp_put_lat", 64)]
        print("\nratio sync 64 B read (none) / (2 x ucp_put_lat 64 B) = %.0f ns / %.0f ns = %.2f"
              % (r64["sonuma_read_sync_p50_ns"], r64["ucx_put_rtt_ns"],
                 r64["ratio_sonuma_over_rtt"]))
        if n > 1:
            print("(2 x ucp_put_lat: median of %d runs; they ranged %.0f to %.0f ns, so the ratio "
                  "%.2f to %.2f)" % (n, 2000 * lo, 2000 * hi,
                                     r64["sonuma_read_sync_p50_ns"] / (2000 * hi),
                                     r64["sonuma_read_sync_p50_ns"] / (2000 * lo)))
        with open(os.path.join(d, "ratio.txt"), "w", encoding="utf-8") as f:
            f.write("%.4f\n" % r64["ratio_sonuma_over_rtt"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("tocsv", help="sonuma-bench CSV from its JSON")
    s.add_argument("json", nargs="+")
    s.add_argument("-o", "--output")
    s = sub.add_parser("summary", help="per model, how close it came to its target")
    s.add_argument("results")
    s.add_argument("--calibration")
    s.add_argument("--elapsed", type=float, default=0)
    s = sub.add_parser("plotdata", help="data and variables for the gnuplot scripts")
    s.add_argument("results")
    s.add_argument("workdir")
    s.add_argument("--cdf-size", type=int, default=64)
    s.add_argument("--cdf-op", choices=OPS, default="read")
    s.add_argument("--cdf-mode", choices=MODES, default="sync")
    s.add_argument("--err-max", type=int, default=300)
    s.add_argument("--calibration")
    s = sub.add_parser("ucx", help="UCX figures and the comparison with sonuma")
    s.add_argument("ucxdir")
    a = p.parse_args()
    if a.cmd == "plotdata" and a.cdf_size < 1:
        die("--cdf-size: a size in bytes", 2)
    {"tocsv": cmd_tocsv, "summary": cmd_summary, "plotdata": cmd_plotdata,
     "ucx": cmd_ucx}[a.cmd](a)


if __name__ == "__main__":
    main()
