import io

from productqa.progress import LogProgress, progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_log_gets_a_line_each_tenth_not_each_update():
    log = io.StringIO()  # not a terminal
    with progress(total=100_000, desc="rows", unit="row", file=log) as bar:
        assert isinstance(bar, LogProgress)
        for _ in range(100_000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10  # 10%, 20%, ..., 100%: the last one is not repeated by close()
    assert lines[0].startswith("rows:  10% 10000/100000") and lines[-1].startswith("rows: 100% 100000/100000")


def test_a_slow_log_gets_a_line_every_few_seconds():
    log, clock = io.StringIO(), _Clock()
    bar = LogProgress(total=None, desc="read", file=log, seconds=10, clock=clock)
    for _ in range(840):  # 1/8 s an update for 105 s, no total: only time decides
        clock.now += 0.125
        bar.update(1)
    bar.close()
    assert len(log.getvalue().splitlines()) == 11  # at 10 s, 20 s, ..., 100 s, and the last one at 105 s


def test_iterating_and_disabled_bars():
    log = io.StringIO()
    assert list(progress(range(50), desc="x", file=log)) == list(range(50))
    assert len(log.getvalue().splitlines()) == 10
    quiet = io.StringIO()
    with progress(total=5, enabled=False, file=quiet) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""
