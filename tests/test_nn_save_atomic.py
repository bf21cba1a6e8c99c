"""``cr.nn.save`` is atomic: a failed, killed or concurrent save never destroys the previous file.

The oracle is the file itself: after every failure it loads, and holds exactly the
parameters of one complete save (issue 16, item 7).
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import chainrule as cr


def _model(seed, width=8):
    return cr.nn.MLP([4, width, 2], rng=seed)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(np.asarray(sa[k]), np.asarray(sb[k])) for k in sa)


def _loads_as(path, *candidates):
    """The index of the candidate whose parameters the file holds (it must load)."""
    width = candidates[0].state_dict()["layers.0.weight"].shape
    m = _model(99, width[1] if width[0] == 4 else width[0])
    cr.nn.load(m, path)
    hits = [i for i, c in enumerate(candidates) if _same(m, c)]
    assert hits, "the file holds none of the saved models"
    return hits[0]


def test_a_failing_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old, new = _model(0), _model(1)
    cr.nn.save(old, path)

    def broken(f, **arrays):  # writes half a file, then fails (a full disk, a bug)
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="No space left"):
        cr.nn.save(new, path)
    monkeypatch.undo()
    assert _loads_as(path, old) == 0
    assert os.listdir(tmp_path) == ["m.npz"]           # no temporary file left behind


def test_permissions_are_kept(tmp_path):
    path = tmp_path / "m.npz"
    cr.nn.save(_model(0), path)
    os.chmod(path, 0o640)
    cr.nn.save(_model(1), path)
    assert os.stat(path).st_mode & 0o777 == 0o640


_SAVER = textwrap.dedent("""
    import sys, chainrule as cr
    path, seed, width, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    m = cr.nn.MLP([4, width, 2], rng=seed)
    if len(sys.argv) > 5:  # a file-size limit below the model's size: the write fails with EFBIG
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[5]), int(sys.argv[5])))
    print("ready", flush=True)
    for _ in range(times):
        cr.nn.save(m, path)
""")


def _saver(tmp_path, *args):
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    return [sys.executable, str(script), *map(str, args)]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_file_size_limit_keeps_the_previous_file(tmp_path):
    path = tmp_path / "m.npz"
    old = _model(0, 64)
    cr.nn.save(old, path)
    r = subprocess.run(_saver(tmp_path, path, 1, 64, 1, 4096), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "File too large" in r.stderr
    assert _loads_as(path, old) == 0
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "saver.py"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_save_keeps_a_whole_file(tmp_path):
    path = tmp_path / "m.npz"
    old, new = _model(0, 256), _model(1, 256)
    cr.nn.save(old, path)
    for delay in (0.05, 0.15, 0.3):
        p = subprocess.Popen(_saver(tmp_path, path, 1, 256, 10 ** 6), stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        _loads_as(path, old, new)                       # old or new, never a torn file


def test_concurrent_savers_leave_one_whole_file(tmp_path):
    path = tmp_path / "m.npz"
    a, b = _model(0, 128), _model(1, 128)
    procs = [subprocess.Popen(_saver(tmp_path, path, seed, 128, 15), stdout=subprocess.DEVNULL) for seed in (0, 1)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    _loads_as(path, a, b)
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "saver.py"]
