"""pipeline/heap.py: the allocator's thresholds are raised on glibc only, never with an error."""
import os
import sys

import pytest

from pipeline import heap


@pytest.mark.skipif(not sys.platform.startswith("linux") or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"),
                    reason="glibc only")
def test_glibc_takes_the_thresholds():
    assert heap.keep_freed() is True


def test_another_c_library_is_left_alone(monkeypatch):
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.keep_freed() is False
    monkeypatch.setattr(heap.sys, "platform", "linux")
    monkeypatch.setattr(heap.os, "confstr", lambda name: None)  # musl: no glibc version
    assert heap.keep_freed() is False

