#!/usr/bin/python3
"""check.py - check labdaq's data files for the CLI tests.

Every subcommand exits 0 when the check holds, 1 when it does not (with the
reason on stderr, one line per problem), 2 on bad usage.  The expected data
are the formulas of docs/sim.md (lib/backends/sim.c):

  sim:camera  pixel(i, p) = (p + 7 i) mod 65536, p = y W + x; the first 8
              bytes of frame i hold i (little-endian uint64)
  sim:adc     raw(s, c) = int16((s (2c + 1) + 1000 c) mod 65536)

Subcommands:
  frames NPY --width W --height H [--json J] [--count N] [--min-count N]
         [--contiguous]
      The file loads (plain and mmap_mode='r', same content), its header is
      the documented 4096-byte one, dtype <u2, shape (n, H, W), and every
      byte of every frame is exact for the acquisition index of its row:
      0..n-1 with --contiguous or without --json, otherwise the indices the
      sidecar's gaps give (docs/file-format.md, "Gaps").  The frame indices
      in the first 8 bytes must be those indices, in order.
  samples NPY --channels 0,2,1 [--json J] [--count N] [--min-count N]
      The same for sim:adc: dtype <i2, shape (n, len(channels)), every value.
  expr [--json J] [--npy N] EXPR...
      Every Python EXPR is true, with m = the sidecar (dict), n = the items
      in the .npy header, size = the .npy file's size, gapsum = the sum of
      the gaps' counts, ib = the bytes of one item (from the sidecar's dtype
      and shape).
  progress ERRFILE [JSON] [--points N]
      Every line of ERRFILE (a --progress json run's stderr) is a JSON
      object valid against docs/progress.schema.json; exactly one is
      "final", the last; counts never go down; with JSON, the final one
      agrees with the sidecar; with --points, the sweep's point objects are
      indexes 0..N-1 in order.
  wait-json JSON EXPR TIMEOUT_S
      Poll the sidecar (m) until EXPR holds; 1 on timeout.
  wait-progress ERRFILE EXPR TIMEOUT_S
      Poll the last complete JSON line (p) of a --progress json stderr.
  wait-items NPY N TIMEOUT_S
      Poll until the .npy header counts at least N items.
  header-items NPY
      Print the item count of the .npy header.
  rss CMD...
      Run CMD, print "rss_kib=K rc=R" (peak RSS of CMD, from getrusage).
  pss PID SECONDS
      Sample /proc/PID/smaps_rollup every 50 ms for SECONDS (or until PID
      ends); print the largest "pss_kib=K own_kib=K" seen, own being
      Pss_Anon + Pss_Shmem (the process's own memory, each page once, not
      its shared libraries).  Exit 77 without smaps_rollup.
"""
import json
import os
import resource
import subprocess
import sys
import time

HEADER_BYTES = 4096
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

problems = []


def fail(msg):
    problems.append(msg)


def done():
    for p in problems:
        print("check.py: " + p, file=sys.stderr)
    sys.exit(1 if problems else 0)


def opt(args, name, default=None, conv=str):
    if name in args:
        i = args.index(name)
        try:
            v = args[i + 1]
        except IndexError:
            sys.exit("check.py: %s needs a value" % name)
        del args[i:i + 2]
        return conv(v)
    return default


def flag(args, name):
    if name in args:
        args.remove(name)
        return True
    return False


def load_json(path):
    with open(path) as f:
        return json.load(f)


def header_items(path):
    """The item count of a .npy header (v1.0), without numpy."""
    import ast
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if head[:6] != b"\x93NUMPY":
        raise ValueError("%s: not a .npy file" % path)
    hlen = int.from_bytes(head[8:10], "little")
    d = ast.literal_eval(head[10:10 + hlen].decode("latin1"))
    return d["shape"][0]


def check_header(path):
    """The documented header: v1.0, length 4086, padded, ending in \\n."""
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES:
        fail("%s: shorter than its 4096-byte header (%d bytes)" % (path, len(head)))
        return
    if head[:8] != b"\x93NUMPY\x01\x00":
        fail("%s: magic/version %r, want \\x93NUMPY 1.0" % (path, head[:8]))
    hlen = int.from_bytes(head[8:10], "little")
    if hlen != 4086:
        fail("%s: header length %d, want 4086 (payload at 4096)" % (path, hlen))
    if head[4095:4096] != b"\n":
        fail("%s: the header does not end with a newline at byte 4095" % path)


def load_gaps(meta, jpath):
    """The gaps as an (N, 2) uint64 array: from the gaps' file the sidecar
    names (format labdaq-2, docs/file-format.md), which must hold exactly the
    count the sidecar says and be in order with adjacent gaps merged; or a
    labdaq-1 sidecar's own list."""
    import numpy as np
    g = meta.get("gaps", [])
    if isinstance(g, list):
        return np.array([[x["index"], x["count"]] for x in g], dtype=np.uint64).reshape(-1, 2)
    if g["file"] is None:  # a sweep's: none
        if g["count"]:
            fail("the sidecar counts %d gaps but names no gaps' file" % g["count"])
        return np.zeros((0, 2), dtype=np.uint64)
    path = os.path.join(os.path.dirname(jpath), g["file"])
    check_header(path)
    a = np.load(path)
    if a.dtype != np.dtype("<u8") or a.ndim != 2 or a.shape[1] != 2:
        fail("%s: dtype %s shape %s, want <u8 (N, 2)" % (path, a.dtype.str, a.shape))
    if len(a) != g["count"]:
        fail("%s holds %d gaps, the sidecar counts %d" % (path, len(a), g["count"]))
    if len(a) and (np.any(a[:, 1] == 0) or np.any(a[1:, 0] <= a[:-1, 0] + a[:-1, 1])):
        fail("%s: gaps out of order, empty, or adjacent ones not merged" % path)
    return a


def gap_list(meta, jpath):
    """The gaps as a list of {"index", "count"} (the labdaq-1 shape)."""
    return [{"index": int(i), "count": int(c)} for i, c in load_gaps(meta, jpath)]


def expected_indices(n, meta, contiguous, jpath=None):
    """The acquisition index of each of the first n rows: the recipe of
    docs/file-format.md (vectorized, for a million gaps)."""
    import numpy as np
    k = np.arange(n, dtype=np.uint64)
    if meta is None or contiguous:
        return k.astype(np.int64)
    g = load_gaps(meta, jpath)
    lost = np.cumsum(g[:, 1], dtype=np.uint64)
    before = g[:, 0] - (lost - g[:, 1])
    j = np.searchsorted(before, k, side="right")
    return (k + np.insert(lost, 0, 0)[j]).astype(np.int64)


def load_both(path):
    """numpy.load plain and with mmap_mode='r'; they must agree."""
    import numpy as np
    try:
        a = np.load(path)
    except Exception as e:  # noqa: BLE001 - report whatever numpy says
        fail("numpy.load(%s) failed: %s" % (path, e))
        return None
    try:
        b = np.load(path, mmap_mode="r")
        if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
            fail("%s: mmap_mode='r' gives another array than a plain load" % path)
    except Exception as e:  # noqa: BLE001
        fail("numpy.load(%s, mmap_mode='r') failed: %s" % (path, e))
    return a


def count_checks(n, count, min_count):
    if count is not None and n != count:
        fail("%d items in the file, want %d" % (n, count))
    if min_count is not None and n < min_count:
        fail("%d items in the file, want at least %d" % (n, min_count))


def cmd_frames(args):
    import numpy as np
    w = opt(args, "--width", conv=int)
    h = opt(args, "--height", conv=int)
    jpath = opt(args, "--json")
    count = opt(args, "--count", conv=int)
    min_count = opt(args, "--min-count", conv=int)
    contiguous = flag(args, "--contiguous")
    rows = opt(args, "--rows", conv=int)  # only the first ROWS rows
    if len(args) != 1 or w is None or h is None:
        sys.exit("usage: check.py frames NPY --width W --height H [...]")
    path = args[0]
    meta = load_json(jpath) if jpath else None
    check_header(path)
    a = load_both(path)
    if a is None:
        done()
    if a.dtype != np.dtype("<u2"):
        fail("dtype %s, want <u2" % a.dtype.str)
    if a.ndim != 3 or a.shape[1:] != (h, w):
        fail("shape %s, want (n, %d, %d)" % (a.shape, h, w))
        done()
    n = a.shape[0]
    count_checks(n, count, min_count)
    size = os.path.getsize(path)
    if size < HEADER_BYTES + n * w * h * 2:
        fail("file of %d bytes is shorter than its header says" % size)
    if rows is not None and rows < n:
        a, n = a[:rows], rows
    want_idx = expected_indices(n, meta, contiguous, jpath)
    raw = a.reshape(n, w * h).view(np.uint8).reshape(n, w * h * 2)
    got_idx = raw[:, :8].copy().view("<u8").reshape(n)
    if not np.array_equal(got_idx, want_idx.astype(np.uint64)):
        bad = np.nonzero(got_idx != want_idx.astype(np.uint64))[0]
        k = int(bad[0])
        fail("frame indices differ from the expected ones at row %d of %d: got %d, want %d "
             "(%d rows differ; first got %s, want %s)"
             % (k, n, got_idx[k], want_idx[k], len(bad), got_idx[k:k + 5].tolist(),
                want_idx[k:k + 5].tolist()))
    ramp = np.arange(w * h, dtype=np.int64)
    nbad = 0
    for k in range(n):
        i = int(want_idx[k])
        exp = ((ramp + 7 * i) % 65536).astype("<u2")
        eb = exp.view(np.uint8).copy()
        eb[:8] = np.frombuffer(int(i).to_bytes(8, "little"), dtype=np.uint8)
        if not np.array_equal(raw[k], eb):
            if nbad < 3:
                off = int(np.nonzero(raw[k] != eb)[0][0])
                fail("frame row %d (index %d): byte %d is %d, want %d"
                     % (k, i, off, raw[k][off], eb[off]))
            nbad += 1
    if nbad:
        fail("%d of %d frames differ from the formula" % (nbad, n))
    print("frames: %d frames of %dx%d checked" % (n, w, h))
    done()


def adc_expected(index, chans):
    import numpy as np
    s = index.astype(np.int64)[:, None]
    c = np.array(chans, dtype=np.int64)[None, :]
    return ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view("<i2")


def cmd_samples(args):
    import numpy as np
    chans = opt(args, "--channels")
    jpath = opt(args, "--json")
    count = opt(args, "--count", conv=int)
    min_count = opt(args, "--min-count", conv=int)
    contiguous = flag(args, "--contiguous")
    if len(args) != 1 or chans is None:
        sys.exit("usage: check.py samples NPY --channels 0,2,1 [...]")
    chans = [int(c) for c in chans.split(",")]
    path = args[0]
    meta = load_json(jpath) if jpath else None
    check_header(path)
    a = load_both(path)
    if a is None:
        done()
    if a.dtype != np.dtype("<i2"):
        fail("dtype %s, want <i2" % a.dtype.str)
    if a.ndim != 2 or a.shape[1] != len(chans):
        fail("shape %s, want (n, %d)" % (a.shape, len(chans)))
        done()
    n = a.shape[0]
    count_checks(n, count, min_count)
    exp = adc_expected(expected_indices(n, meta, contiguous, jpath), chans)
    if not np.array_equal(a, exp):
        bad = np.argwhere(a != exp)
        r, c = (int(x) for x in bad[0])
        fail("%d values differ; first at sample row %d column %d (channel %d): %d, want %d"
             % (len(bad), r, c, chans[c], a[r, c], exp[r, c]))
    print("samples: %d samples x %d channels checked" % (n, len(chans)))
    done()


def cmd_expr(args):
    jpath = opt(args, "--json")
    npath = opt(args, "--npy")
    env = {}
    if jpath:
        env["m"] = load_json(jpath)
        # The gaps as a list, from the gaps' file (m["gaps_meta"]: the
        # sidecar's own member).
        env["m"]["gaps_meta"] = env["m"].get("gaps")
        env["m"]["gaps"] = gap_list(env["m"], jpath) if "gaps" in env["m"] else []
        env["gapsum"] = sum(g["count"] for g in env["m"]["gaps"])
        try:
            ib = int(env["m"]["dtype"][2:])
            for d in env["m"]["shape"]:
                ib *= d
            env["ib"] = ib
        except (KeyError, ValueError, TypeError):
            pass
    if npath:
        env["n"] = header_items(npath)
        env["size"] = os.path.getsize(npath)
    for e in args:
        try:
            v = eval(e, {}, dict(env))  # noqa: S307 - test expressions
        except Exception as x:  # noqa: BLE001
            fail("%s: %s: %s" % (e, type(x).__name__, x))
            continue
        if not v:
            m = env.get("m", {})
            ctx = {k: m.get(k) for k in ("status", "acquired", "written", "dropped",
                                         "gaps", "error") if k in m}
            if "gaps" in ctx and len(ctx["gaps"]) > 6:
                ctx["gaps"] = ctx["gaps"][:6] + ["... %d in all" % len(m["gaps"])]
            extra = {k: env[k] for k in ("n", "size", "gapsum") if k in env}
            fail("false: %s   (sidecar %s %s)" % (e, ctx, extra))
    done()


def parse_progress(path):
    lines = []
    with open(path, errors="replace") as f:
        text = f.read()
    for raw in text.split("\n"):
        if raw.startswith("{"):
            lines.append(raw)
    return lines, text.endswith("\n")


def progress_schema():
    import jsonschema
    with open(os.path.join(TOP, "docs", "progress.schema.json")) as f:
        return jsonschema.Draft202012Validator(json.load(f))


def check_progress_lines(path, schema):
    """Every line of @path is a JSON object valid against the schema of
    docs/progress.md, and the last one, only it, is the final object.
    Returns the objects."""
    with open(path, errors="replace") as f:
        text = f.read()
    if not text.endswith("\n"):
        fail("%s does not end with a newline" % path)
    objs = []
    for k, line in enumerate(text.splitlines()):
        try:
            o = json.loads(line)
        except ValueError as e:
            fail("line %d is not JSON (%s): %r" % (k + 1, e, line))
            continue
        errors = sorted(schema.iter_errors(o), key=str)
        if errors:
            fail("line %d does not follow docs/progress.schema.json: %s: %r"
                 % (k + 1, errors[0].message, line))
        objs.append(o)
    if not objs:
        fail("no JSON lines in %s" % path)
        return objs
    finals = [k for k, o in enumerate(objs) if o.get("type") == "final"]
    if finals != [len(objs) - 1]:
        fail("final objects at lines %s of %d: want exactly one, the last" % (
            [k + 1 for k in finals], len(objs)))
    return objs


def cmd_progress(args):
    """progress ERRFILE [JSON] [--points N]: the contract of docs/progress.md;
    with a sidecar, the final object agrees with it; with --points, a
    sweep's point objects are exactly indexes 0..N-1 in order."""
    points = None
    if "--points" in args:
        k = args.index("--points")
        points = int(args[k + 1])
        args = args[:k] + args[k + 2:]
    if len(args) not in (1, 2):
        sys.exit("usage: check.py progress ERRFILE [JSON] [--points N]")
    objs = check_progress_lines(args[0], progress_schema())
    if not objs:
        done()
    counted = [o for o in objs if o["type"] in ("progress", "final") and "acquired" in o]
    for key in ("acquired", "written", "dropped"):
        vals = [o[key] for o in counted]
        if any(b < a for a, b in zip(vals, vals[1:])):
            fail("%s goes down in the progress: %s" % (key, vals))
    pts = [o for o in objs if o["type"] == "point"]
    if points is not None and [o["index"] for o in pts] != list(range(points)):
        fail("point objects %s, want indexes 0..%d in order"
             % ([o["index"] for o in pts][:20], points - 1))
    if any(o["point"] != o["index"] + 1 for o in pts):
        fail("a point object's point is not its index + 1")
    last = objs[-1]
    if len(args) == 2:
        meta = load_json(args[1])
        for key in ("acquired", "written", "dropped"):
            if last.get(key) != meta.get(key):
                fail("final %s=%r, the sidecar says %r" % (key, last.get(key), meta.get(key)))
        ngaps = len(load_gaps(meta, args[1])) if "gaps" in meta else 0
        if last.get("gaps") != ngaps:
            fail("final gaps=%r, the sidecar's gaps are %d" % (last.get("gaps"), ngaps))
        if last.get("state") != meta.get("status"):
            fail("final state=%r, the sidecar's status %r" % (last.get("state"),
                                                              meta.get("status")))
    print("progress: %d lines, %d points, final %s" % (len(objs), len(pts), json.dumps(last)))
    done()


def poll(fn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if fn():
                return True
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def wait_expr(args, name, load):
    """Wait until EXPR (args[1]) holds for load(PATH) bound to NAME, at most TIMEOUT s."""
    path, expr, timeout = args[0], args[1], float(args[2])
    if not poll(lambda: eval(expr, {}, {name: load(path)}), timeout):  # noqa: S307
        try:
            last = load(path)
        except (OSError, ValueError) as e:
            last = "none: %s" % e
        fail("timed out after %gs waiting for %s in %s (last: %s)" % (timeout, expr, path, last))
    done()


def cmd_wait_json(args):
    wait_expr(args, "m", load_json)


def last_progress(path):
    lines, _ = parse_progress(path)
    # The last line may be incomplete while it is being written; messages
    # and points have no counts.
    for line in reversed(lines):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o.get("type") in ("progress", "final") and "acquired" in o:
            return o
    raise ValueError("no progress yet")


def cmd_wait_progress(args):
    wait_expr(args, "p", last_progress)


def cmd_wait_items(args):
    path, want, timeout = args[0], int(args[1]), float(args[2])
    if not poll(lambda: header_items(path) >= want, timeout):
        fail("timed out after %gs waiting for %d items in %s" % (timeout, want, path))
    done()


def cmd_header_items(args):
    print(header_items(args[0]))


def cmd_rss(args):
    p = subprocess.run(args, check=False)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("rss_kib=%d rc=%d" % (ru.ru_maxrss, p.returncode))


def cmd_pss(args):
    pid, secs = int(args[0]), float(args[1])
    path = "/proc/%d/smaps_rollup" % pid
    if not os.path.exists(path):
        print("no %s" % path, file=sys.stderr)
        sys.exit(77)
    best_pss = best_own = 0
    n = 0
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                v = {}
                for line in f:
                    k, _, rest = line.partition(":")
                    parts = rest.split()
                    if parts and parts[0].isdigit():
                        v[k] = int(parts[0])
        except OSError:
            break
        if "Pss" not in v:
            break
        n += 1
        best_pss = max(best_pss, v["Pss"])
        best_own = max(best_own, v.get("Pss_Anon", 0) + v.get("Pss_Shmem", 0))
        time.sleep(0.05)
    print("pss_kib=%d own_kib=%d samples=%d" % (best_pss, best_own, n))


COMMANDS = {
    "frames": cmd_frames,
    "samples": cmd_samples,
    "expr": cmd_expr,
    "progress": cmd_progress,
    "wait-json": cmd_wait_json,
    "wait-progress": cmd_wait_progress,
    "wait-items": cmd_wait_items,
    "header-items": cmd_header_items,
    "rss": cmd_rss,
    "pss": cmd_pss,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
