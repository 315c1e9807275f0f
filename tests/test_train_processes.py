"""02_train as separate processes: killed with SIGKILL at a random step and resumed, and data-parallel
over 2 CPU processes (torchrun, gloo). Tiny model; each test starts several Python processes."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from productqa.paths import ROOT
from tests.test_train import small_data

SCRIPT = str(ROOT / "scripts" / "02_train.py")
ENV = {**os.environ, "UNSLOTH_SKIP_TORCHVISION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def flags(model, data, system, runs, name, steps, batch=2):
    return ["--model", str(model), "--data", str(data), "--system-prompt", str(system), "--runs-dir", str(runs),
            "--run-name", name, "--preset", "cpu", "--max-steps", str(steps), "--batch-size", str(batch),
            "--max-seq-length", "160", "--eval-steps", "100", "--save-steps", "1", "--logging-steps", "1",
            "--warmup-steps", "0", "--lr", "1e-3", "--lora-r", "4", "--lora-alpha", "8"]


def losses(run):
    log = [json.loads(line) for line in (run / "trainer_log.jsonl").read_text().splitlines()]
    return {e["step"]: e["loss"] for e in log if "loss" in e}


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_matches_an_uninterrupted_run(tiny_model_dir, prepared_sample, tmp_path):
    data, runs, steps = small_data(prepared_sample, tmp_path, n_train=24), tmp_path / "runs", 6
    system = tmp_path / "system.txt"
    whole = subprocess.run([sys.executable, SCRIPT, *flags(tiny_model_dir, data, system, runs, "whole", steps)],
                           env=ENV, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]

    kill_after = random.Random().randint(1, steps - 2)  # a checkpoint is saved every step
    partial = runs / ".killed.partial" / "checkpoints"
    proc = subprocess.Popen([sys.executable, SCRIPT, *flags(tiny_model_dir, data, system, runs, "killed", steps)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (partial / f"checkpoint-{kill_after}" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (runs / "killed").exists()  # nothing half-written was put in place

    resumed = subprocess.run([sys.executable, SCRIPT, "--runs-dir", str(runs), "--run-name", "killed", "--resume"],
                             env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    meta = json.loads((runs / "killed" / "meta.json").read_text())
    assert meta["figures"]["steps"] == steps and meta["figures"]["resumed_from"].startswith("checkpoint-")
    a, b = losses(runs / "whole"), losses(runs / "killed")
    assert max(b) == max(a) == steps
    assert b[steps] == pytest.approx(a[steps], rel=0.02, abs=0.02), (kill_after, a, b)


@pytest.mark.slow
def test_two_processes_train_one_run_with_twice_the_batch(tiny_model_dir, prepared_sample, tmp_path):
    data, runs, steps = small_data(prepared_sample, tmp_path, n_train=24), tmp_path / "runs", 2
    system = tmp_path / "system.txt"
    one = subprocess.run([sys.executable, SCRIPT, *flags(tiny_model_dir, data, system, runs, "one", steps)],
                         env=ENV, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          SCRIPT, *flags(tiny_model_dir, data, system, runs, "two", steps)],
                         env=ENV, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "one", "two"]  # rank 0 alone wrote, no leftovers
    assert (two.stdout + two.stderr).count("trained 2 steps") == 1
    one_meta, two_meta = (json.loads((runs / n / "meta.json").read_text())["figures"] for n in ("one", "two"))
    assert one_meta["world_size"] == 1 and two_meta["world_size"] == 2
    # the same steps cover twice the rows: each process takes its own batch of 2
    assert two_meta["epochs"] == pytest.approx(2 * one_meta["epochs"], rel=0.15)
