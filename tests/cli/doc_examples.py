#!/usr/bin/python3
"""doc_examples.py - run the examples of the README and docs/*.md as they are
written, so that a document cannot rot.

  doc_examples.py TOP SCRATCH [FILE.md...]

Every fenced block whose info string is exactly "sh" is run with bash -e,
every "python" block with this interpreter (after the file's earlier python
blocks, so that a later block may use what an earlier one defined), in
order, one scratch directory per document.  Blocks fenced "sh WHY" (for
example "sh as-root": it creates system users) are not run: they are
listed as skipped with their reason.  Other blocks (output, JSON, formats)
are not commands.

The scratch directory holds a symbolic link to each entry of the source
tree (so "build/labdaq", "examples/stream.c" and "make install" work as
written), PATH starts with build/ (so "labdaq" is this tree's), the queue is
the scratch directory's own (LABDAQ_QUEUE), "make install" goes to
DESTDIR=SCRATCH/root and pkg-config looks there.  After each block the
files it left may take at most 300 MB: an example must not fill a disk.

Prints one TAP line per block ("ok N - README.md:24 sh", "ok N # SKIP ...")
and exits 1 if any failed.
"""
import os
import re
import resource
import shutil
import signal
import subprocess
import sys

LIMIT_BYTES = 300 * 1000 * 1000
TIMEOUT_S = 120


def limits():
    """In each block's process: no file may grow past 400 MB (a runaway
    example fails with EFBIG instead of filling the disk); its own session,
    so that a timeout kills everything it started."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (400 << 20, 400 << 20))
    os.setsid()


def blocks(path):
    """(line, info, text) of each fenced block of @path."""
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    k = 0
    while k < len(lines):
        m = re.match(r"^```(.*)$", lines[k])
        if not m:
            k += 1
            continue
        start, info, body = k + 1, m.group(1).strip(), []
        k += 1
        while k < len(lines) and not lines[k].startswith("```"):
            body.append(lines[k])
            k += 1
        out.append((start, info, "\n".join(body) + "\n"))
        k += 1
    return out


def du(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.lstat(p).st_blocks * 512
    return total


def scratch_for(top, base, doc):
    d = os.path.join(base, re.sub(r"[^A-Za-z0-9]+", "_", doc))
    os.makedirs(d)
    for name in os.listdir(top):
        if name in (".git", "data") or name.startswith("."):
            continue
        os.symlink(os.path.join(top, name), os.path.join(d, name))
    return d


def main():
    top, base, docs = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not docs:
        # docs/python.md is run by tests/python/test_docs.py, block by block
        # with the package's own fixtures.
        docs = ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(top, "docs"))
                                      if f.endswith(".md") and f != "python.md")
    n = failed = 0
    for doc in docs:
        d = scratch_for(top, base, doc)
        env = dict(os.environ)
        env.update({
            "PATH": os.path.join(top, "build") + ":" + env.get("PATH", ""),
            "PYTHONPATH": os.path.join(top, "python"),
            "LABDAQ_QUEUE": os.path.join(d, "queue"),
            "DESTDIR": os.path.join(d, "root"),
            "PKG_CONFIG_PATH": os.path.join(d, "root/usr/local/lib/pkgconfig"),
            "PKG_CONFIG_SYSROOT_DIR": os.path.join(d, "root"),
            "HOME": d,
        })
        python_so_far = ""
        for line, info, text in blocks(os.path.join(top, doc)):
            words = info.split()
            if not words or words[0] not in ("sh", "python"):
                continue
            n += 1
            where = "%s:%d %s" % (doc, line, words[0])
            if len(words) > 1:
                print("ok %d # SKIP %s: not run (%s)" % (n, where, " ".join(words[1:])))
                continue
            if words[0] == "sh":
                cmd = ["bash", "-e", "-c", text]
            else:
                cmd = [sys.executable, "-c", python_so_far + text]
                python_so_far += text
            p = subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, preexec_fn=limits)
            try:
                out, _ = p.communicate(timeout=TIMEOUT_S)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            # Whatever the block left running (a background job) ends here.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if rc == "timeout":
                out, _ = p.communicate()
            size = du(d)
            if rc == 0 and size <= LIMIT_BYTES:
                print("ok %d - %s (its files: %.0f MB)" % (n, where, size / 1e6))
            else:
                failed += 1
                print("not ok %d - %s: exit %s, its files %.0f MB (at most %.0f)"
                      % (n, where, rc, size / 1e6, LIMIT_BYTES / 1e6))
                for l in (text.rstrip().split("\n") + ["--- output:"] + out.rstrip().split("\n")[-25:]):
                    print("# " + l)
        shutil.rmtree(d, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
