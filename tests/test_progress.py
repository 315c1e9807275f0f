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


def test_a_resumed_count_with_figures_in_a_log():
    """Training resumes at step 4 of 10 and shows its loss: the lines count from 4 and carry the figures."""
    log, now = io.StringIO(), [0.0]
    bar = LogProgress(total=10, desc="train", unit="step", file=log, clock=lambda: now[0], initial=4)
    for _ in range(6):
        now[0] += 1
        bar.set_postfix({"loss": "1.250"}, refresh=False)
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("train:  50% 5/10") and lines[-1].startswith("train: 100% 10/10")
    assert all(line.endswith(", loss=1.250") for line in lines) and "1.00step/s" in lines[-1]  # rate from the resume
