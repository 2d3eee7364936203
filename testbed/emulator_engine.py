"""What the emulator's deployment engines (CodeDeploy, AppConfig) share: the
tick of a test-only time scale, and the thread that advances an engine.

Each engine's deployments progress in "service seconds": one tick is a
sixtieth of the scaled minute (`--codedeploy-minute`, `--appconfig-minute`),
kept between 0.02 s (so a fast scale does not spin) and 1 s (so a real-time
scale still polls alarms every second).
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Callable


def tick_for(minute: float) -> float:
    """Real seconds per engine tick for `minute` real seconds per service minute."""
    return min(1.0, max(0.02, minute / 60.0))


def run_engine(name: str, tick: float, lock: threading.RLock, advance: Callable[[], None]) -> threading.Thread:
    """Starts a daemon thread calling `advance()` under `lock` every `tick`
    seconds; a failure is printed, and the engine keeps going."""
    def run():
        while True:
            time.sleep(tick)
            try:
                with lock:
                    advance()
            except Exception:  # keep the engine alive; the failure is in the log
                traceback.print_exc()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
