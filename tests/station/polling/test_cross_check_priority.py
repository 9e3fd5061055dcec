"""The shared-finger cross-check runs in the background at a lower priority than the officer-facing work, so a voter
who steps up while the last voter's check runs is not slowed by it (Linux: per-thread nice values)."""
import os
import threading

from station.polling.cross_check import BACKGROUND_NICE, CrossChecker


def test_the_cross_check_thread_gives_way_and_the_officers_thread_keeps_its_priority():
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = []
    checker = CrossChecker(transaction=None, flow=None, cipher=None, matcher=None, last=1, threshold=1.0)
    checker.check = lambda task, probe: seen.append(  # what the worker runs, on the worker's thread
        (threading.current_thread() is not threading.main_thread(),
         os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    checker.submit(task=None, probe=b"")
    checker.wait()
    checker.close()
    assert seen == [(True, min(19, base + BACKGROUND_NICE))]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's thread is untouched


def test_a_station_with_the_check_off_starts_no_worker():
    checker = CrossChecker(transaction=None, flow=None, cipher=None, matcher=None, last=0, threshold=1.0)
    checker.submit(task=None, probe=b"")
    assert checker._pool is None
