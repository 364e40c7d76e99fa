"""Fuzzed run folders: what ``irl eval``, ``--reward RUN``, ``--policy RUN`` and ``--resume`` read fails in one line.

A real fit run and a real train run are made once; each example copies one, then deletes,
cuts, flips, rewrites or swaps its files. Loading the reward (``load_reward``), the policy
(``load_policy``) or evaluating the run (``irl eval --run``) must then give the object, or
the one error class that reader documents with a one-line message, never anything else.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from helpers import fit_interrupted_at_first_checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from irl.cli.main import main
from irl.rewards import RewardFormatError, load_reward
from irl.solvers.policy_io import PolicyFormatError, load_policy

DEMOS = Path(__file__).resolve().parent.parent / "demos"
FUZZ = settings(max_examples=150, derandomize=True, database=None, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CAP = 16 * 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A finished ``irl fit`` run (linear reward, tabular policy) and ``irl train`` run (tabular Q policy)."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["fit", "--demos", str(DEMOS / "gridworld8.npz"), "--out", str(root / "fit"), "--quiet"]) == 0
    assert main(["train", "--env", "irl/Gridworld-v0", "--env-kwargs", '{"size": 3}', "--algo", "soft-q",
                 "--steps", "20", "--out", str(root / "train"), "--quiet"]) == 0
    return {"fit": root / "fit", "train": root / "train"}


@pytest.fixture(autouse=True)
def memory_cap(monkeypatch):
    monkeypatch.setenv("IRL_MEMORY_LIMIT", str(CAP))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=3), max_leaves=12)
ARRAYS = hnp.arrays(st.sampled_from(["float32", "float64", "int64", "bool", "U2", "complex64"]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))


def npz_bytes(arrays: dict[str, np.ndarray], *, pickled: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=pickled)
            archive.writestr(f"{key}.npy", member.getvalue())
    return buffer.getvalue()


@st.composite
def damages(draw, names: tuple[str, ...]) -> list[tuple[str, str, object]]:
    """Returns 1-3 (file name, action, argument) damages to apply to a run folder's files."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        action = draw(st.sampled_from(["delete", "cut", "flip", "json", "json key", "call key", "npz", "pickled",
                                       "directory", "swap"]))
        argument: object = None
        if action in ("cut", "flip"):
            argument = (draw(st.floats(0, 1)), draw(st.integers(1, 255)))
        elif action == "json":
            argument = draw(JSON)
        elif action == "json key":
            argument = (draw(st.sampled_from(["format_version", "spec", "dtype", "kind", "n_states", "n_actions",
                                              "features_shape", "env", "demos", "algo", "state", "pid", "call",
                                              "iteration", "run_kind", "demos_sha256"])), draw(JSON))
        elif action == "call key":  # an argument a checkpointed run was started with
            argument = (draw(st.sampled_from(["demos", "algo", "env_id", "env_kwargs", "seed", "device",
                                              "algo_kwargs", "steps", "checkpoint_every", "checkpoint_seconds"])),
                        draw(JSON))
        elif action == "npz":
            argument = draw(st.dictionaries(st.sampled_from(["weights", "features", "q", "table", "x"]), ARRAYS,
                                            max_size=3))
        out.append((name, action, argument))
    return out


def damage(folder: Path, other: Path, harm: list[tuple[str, str, object]]) -> None:
    """Applies the damages to the files in ``folder`` (``swap`` takes the same file from ``other``)."""
    for name, action, argument in harm:
        path = folder / name
        if action in ("delete", "directory"):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            if action == "directory":
                path.mkdir()
        elif action in ("cut", "flip") and path.is_file():
            data = bytearray(path.read_bytes())
            where = int(argument[0] * len(data))
            if action == "cut":
                del data[where:]
            elif data:
                data[min(where, len(data) - 1)] ^= argument[1]
            path.write_bytes(bytes(data))
        elif action == "json" and not path.is_dir():
            path.write_text(json.dumps(argument))
        elif action == "json key" and path.is_file():
            try:
                header = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(header, dict):
                key, value = argument
                target = header["spec"] if isinstance(header.get("spec"), dict) and key in header["spec"] else header
                target[key] = value
                path.write_text(json.dumps(header))
        elif action == "call key" and path.is_file():
            try:
                config = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(config, dict) and isinstance(config.get("call"), dict):
                config["call"][argument[0]] = argument[1]
                path.write_text(json.dumps(config))
        elif action == "npz" and not path.is_dir():
            path.write_bytes(npz_bytes(argument))
        elif action == "pickled" and not path.is_dir():
            path.write_bytes(npz_bytes({"weights": np.array([{"a": 1}], dtype=object)}, pickled=True))
        elif action == "swap" and (other / name).is_file() and not path.is_dir():
            shutil.copyfile(other / name, path)


def one_line(error: BaseException, folder: Path) -> str:
    message = str(error)
    assert "\n" not in message and str(folder) in message, message
    return message


@pytest.mark.timeout(300)
@FUZZ
@given(harm=damages(("reward.json", "reward_weights.npz")))
def test_a_damaged_reward_loads_or_raises_reward_format_error(runs, harm):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(runs["fit"], Path(tmp) / "fit"))
        # a reward from a run with other shapes: a mismatched spec or weights
        other = Path(shutil.copytree(runs["fit"], Path(tmp) / "other"))
        (other / "reward.json").write_text(json.dumps({"format_version": 1, "dtype": "float32", "spec": {
            "kind": "tabular", "n_states": 3, "n_actions": 2}}))
        damage(folder, other, harm)
        try:
            model = load_reward(folder)
        except RewardFormatError as error:
            one_line(error, folder)
        else:
            assert model.spec()["kind"] in ("linear", "tabular")


@pytest.mark.timeout(300)
@FUZZ
@given(harm=damages(("policy.json", "policy_weights.npz")))
def test_a_damaged_policy_loads_or_raises_policy_format_error(runs, harm):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(runs["train"], Path(tmp) / "train"))
        other = Path(tmp) / "other"
        other.mkdir()
        (other / "policy.json").write_text(json.dumps({"format_version": 1, "spec": {
            "kind": "tabular-q", "n_states": 4, "n_actions": 2, "temperature": 1.0, "epsilon": 0.0, "seed": 0}}))
        damage(folder, other, harm)
        try:
            load_policy(folder)
        except PolicyFormatError as error:
            one_line(error, folder)


@pytest.mark.timeout(300)
@settings(FUZZ, max_examples=100,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(harm=damages(("config.json", "reward_table.npy", "policy.npy", "reward.json")))
def test_a_damaged_fit_run_evaluates_or_fails_in_one_line(runs, harm, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(runs["fit"], Path(tmp) / "fit"))
        damage(folder, runs["train"], harm)
        code = main(["eval", "--run", str(folder)])
        err = capsys.readouterr().err
        assert code in (0, 2), err
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("irl: error: ") and "Traceback" not in err, err


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """A deep-maxent fit of 30 iterations asked to stop as it wrote its checkpoint of iteration 5."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    fit_interrupted_at_first_checkpoint(out, DEMOS / "gridworld8.npz", algo="deep-maxent",
                                        algo_kwargs={"max_iters": 30, "plateau_tol": 0}, checkpoint_every=5)
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
@settings(FUZZ, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(harm=damages(("status.json", "config.json", "checkpoint.npz")))
def test_a_damaged_checkpointed_run_resumes_or_fails_in_one_line(interrupted, runs, harm, capsys):
    """``irl fit --resume`` on a damaged interrupted run: it finishes (exit 0), or fails with one error line
    (exit 2, or 1 for a NaN), plus at most the note that says where the checkpoint is; never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(interrupted, Path(tmp) / "run"))
        damage(folder, runs["fit"], harm)
        code = main(["fit", "--resume", str(folder), "--quiet"])
        err = capsys.readouterr().err
        assert code in (0, 1, 2), err
        lines = [line for line in err.strip().splitlines() if not line.startswith("irl: note: ")]
        if code:
            assert lines[0].startswith("irl: error: ") and "Traceback" not in err, err
            assert all("resume with: irl fit --resume" in line for line in lines[1:]), err
        else:
            assert json.loads((folder / "status.json").read_text())["state"] == "done"


def test_a_weights_zip_bomb_is_refused_before_it_is_unpacked(runs, tmp_path):
    # A reward_weights.npz of 40 KiB whose one array unpacks to 40 MiB, over the 16 MiB cap.
    folder = Path(shutil.copytree(runs["fit"], tmp_path / "fit"))
    with zipfile.ZipFile(folder / "reward_weights.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        member = io.BytesIO()
        np.save(member, np.zeros(5 * 2**20))
        archive.writestr("weights.npy", member.getvalue())
    assert os.path.getsize(folder / "reward_weights.npz") < 100_000
    with pytest.raises(RewardFormatError, match=r"'weights' declares shape \(5242880,\) float64 \(40 MiB\)"):
        load_reward(folder)


def test_weights_needing_an_unknown_zip_version_are_a_format_error(runs, tmp_path):
    # zipfile raises NotImplementedError("zip file version 15.4") for such a file (a flipped byte).
    folder = Path(shutil.copytree(runs["train"], tmp_path / "train"))
    data = bytearray((folder / "policy_weights.npz").read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6:central + 8] = (154).to_bytes(2, "little")  # "version needed to extract"
    (folder / "policy_weights.npz").write_bytes(bytes(data))
    with pytest.raises(PolicyFormatError, match="not a readable .npz archive: zip file version 15.4"):
        load_policy(folder)


def test_a_reward_table_that_is_a_damaged_zip_and_an_env_without_id_are_one_line(runs, tmp_path, capsys):
    # Found by the fuzzing above: np.load reads a .npy that starts with "PK" as an .npz, and a
    # damaged one raised zipfile.BadZipFile; a config.json env without an "id" raised KeyError.
    folder = Path(shutil.copytree(runs["fit"], tmp_path / "fit"))
    (folder / "reward_table.npy").write_bytes(npz_bytes({})[:10])
    assert main(["eval", "--run", str(folder)]) == 2
    assert "reward_table.npy cannot be read as a .npy array: File is not a zip file" in capsys.readouterr().err
    shutil.copyfile(runs["fit"] / "reward_table.npy", folder / "reward_table.npy")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "env": {}}))
    assert main(["eval", "--run", str(folder)]) == 2
    assert "'env' must be an object with 'id' and 'kwargs'" in capsys.readouterr().err
