"""Process settings for model work: glibc keeps freed memory for the next forward pass."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import resource, threading, torch
from cnnviz.core.device import keep_freed_memory
from cnnviz.core.zoo.models.efficientnet_lite import efficientnet_lite0

torch.set_num_threads(1)
model = efficientnet_lite0().eval()
x = torch.rand(1, 3, 224, 224)

def faults_per_forward(out):
    with torch.inference_mode():
        model(x)  # warm-up
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(3):
            model(x)
    out.append((resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / 3)

def in_a_thread():
    out = []
    thread = threading.Thread(target=faults_per_forward, args=(out,))
    thread.start()
    thread.join()
    return out[0]

plain = in_a_thread()
took = keep_freed_memory()
print(plain, in_a_thread(), took)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_forwards_off_the_main_thread_stop_faulting_in_fresh_pages():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plain, kept, took = done.stdout.split()
    assert took == "True"
    # Every freed activation went back to the system, and came back as fresh pages.
    assert float(plain) > 1000
    assert float(kept) < 0.05 * float(plain)
