"""Running a user's code (an estimator or an effects distribution of their own) under a
time limit: ``UserCalls`` keeps the limit with a timer signal, so it stops Python code (a loop,
``time.sleep``) but not one long call into compiled code, which is stopped when it returns; and
it tells a real Ctrl-C from a ``KeyboardInterrupt`` the code raises itself. Plain Python, below
every stage: the methods' plugins and the design's worlds use it alike."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["TIME_LIMIT", "TimeLimitExceeded", "UserCalls", "UserInterrupt", "exception_line"]

#: Seconds of wall-clock time a user's function may take on one chunk of datasets (its first call
#: and the per-dataset retries together) unless the config's ``estimator_time_limit`` or
#: ``shrinkstudy fit --time-limit`` says otherwise.
TIME_LIMIT = 600.0


class TimeLimitExceeded(BaseException):
    """Raised in a user's function that runs past its time limit (a BaseException, so that the
    function's own ``except Exception`` does not swallow it)."""


class UserInterrupt(Exception):
    """A ``KeyboardInterrupt`` that a user's function raised itself (not a Ctrl-C): its failure."""


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


class UserCalls:
    """The calls of one user's function on one chunk, under one time limit (``limit`` seconds
    for all of them, None for none), counted from the first call.

    ``with calls.guard(): fn(...)`` arms a timer for what is left of the limit, which raises
    ``TimeLimitExceeded`` in the function, again every ``RETRY`` seconds should it catch that;
    code that still goes on ``IGNORED`` times ends the process with one line on stderr naming
    the estimator (exit status 1: the job fails, rather than hangs). It also tells a real
    Ctrl-C, which goes on as ``KeyboardInterrupt``, from a ``KeyboardInterrupt`` the code raises
    itself, which becomes ``UserInterrupt``. The timer needs the main thread (signals);
    elsewhere the calls run without a limit.
    """

    RETRY = 0.5
    IGNORED = 4

    def __init__(self, limit: float | None = TIME_LIMIT, name: str = "a user's estimator"):
        self.limit = limit
        self.name = name
        self.deadline: float | None = None
        self.interrupted = False
        self.alarms = 0

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _alarm(self, signum, frame):
        self.alarms += 1
        if self.alarms > self.IGNORED:
            sys.stderr.write(
                f"shrinkstudy: error: {self.name} went on past its time limit of {self.limit:g} s, "
                "catching the exception that stops it; ending the process\n"
            )
            sys.stderr.flush()
            os._exit(1)
        raise TimeLimitExceeded()

    @contextmanager
    def guard(self):
        if self.limit is not None and self.deadline is None:
            self.deadline = time.monotonic() + self.limit
        if self.expired:
            raise TimeLimitExceeded()
        if not _on_main_thread():  # no signals here, and no Ctrl-C either
            try:
                yield
            except KeyboardInterrupt as exc:
                raise UserInterrupt(exception_line(exc)) from None
            return
        previous_int = signal.getsignal(signal.SIGINT)

        def interrupt(signum, frame):
            self.interrupted = True
            previous_int(signum, frame)

        old_alarm = signal.signal(signal.SIGALRM, self._alarm) if self.limit is not None else None
        if callable(previous_int):
            signal.signal(signal.SIGINT, interrupt)
        if self.limit is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 1e-6), self.RETRY)
        try:
            yield
        except KeyboardInterrupt as exc:
            if self.interrupted:
                raise
            raise UserInterrupt(exception_line(exc)) from None
        finally:
            try:
                if self.limit is not None:
                    try:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    except TimeLimitExceeded:  # fired as the function returned: in time enough
                        signal.setitimer(signal.ITIMER_REAL, 0)
            finally:
                if old_alarm is not None:
                    signal.signal(signal.SIGALRM, old_alarm)
                if callable(previous_int):
                    signal.signal(signal.SIGINT, previous_int)


def exception_line(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line (``Type`` alone without a message)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
