"""bench/procs.py's Children on real (tiny) processes."""

import sys

from bench.procs import Children


def test_first_line_then_stop_one_child_and_its_log_is_appended(tmp_path):
    children = Children(tmp_path, tmp_path)
    script = "import time; print('PORT 1', flush=True); time.sleep(60)"

    for _ in range(2):  # started again under the same name
        proc = children.start("child", [sys.executable, "-c", script], {}, pipe=True)
        assert children.first_line("child") == "PORT 1\n"
        children.stop("child", timeout=5)
        assert proc.poll() is not None
        assert "child" not in children.procs

    children.stop("child")  # not running: nothing to do
    assert (tmp_path / "child.log").exists()
