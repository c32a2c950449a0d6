"""The sequence experiments' batches: plain shuffled passes, the labelled share, label dropout."""
import numpy as np
import torch

from pipeline.experiments.batches import batch_maker


def arrays(n=40, T=6, labelled=(0, 3, 7, 11, 20)):
    mask = np.zeros((n, T), dtype=bool)
    mask[list(labelled)] = True
    return {"x": np.arange(n, dtype=np.float32)[:, None, None].repeat(T, 1), "labels": np.where(mask, 1, -1),
            "mask": mask}


def ids(batch):
    return batch["x"][:, 0, 0].long().tolist()


def test_plain_batches_are_shuffled_passes_over_the_data():
    batches = list(batch_maker(arrays(), 8, "cpu")(np.random.default_rng(0)))
    assert len(batches) == 5 and sorted(i for b in batches for i in ids(b)) == list(range(40))
    order = np.random.default_rng(0).permutation(40)              # the order the loop has always used
    assert ids(batches[0]) == order[:8].tolist()


def test_each_batch_carries_its_share_of_labelled_sequences_and_every_one_is_used():
    data = arrays()
    batches = list(batch_maker(data, 8, "cpu", steps=10, labelled_share=0.5)(np.random.default_rng(1)))
    assert len(batches) == 10
    for b in batches:
        assert b["mask"].any(1).sum().item() == 4                  # half of each batch is labelled
    seen = {i for b in batches for i in ids(b)}
    assert {0, 3, 7, 11, 20} <= seen and len(seen) >= 35           # both pools cycled through
    plain = list(batch_maker(data, 8, "cpu", steps=10)(np.random.default_rng(1)))
    assert min(b["mask"].any(1).sum().item() for b in plain) < 4   # the test can fail: plain batches do not


def test_label_dropout_hides_about_its_share_of_the_labelled_steps_afresh_every_batch():
    data = arrays(labelled=range(40))
    batches = list(batch_maker(data, 8, "cpu", steps=50, label_dropout=0.5)(np.random.default_rng(2)))
    shown = torch.stack([b["mask"] for b in batches]).float()
    assert 0.45 < shown.mean().item() < 0.55
    assert not torch.equal(batches[0]["mask"], batches[5]["mask"])
    assert all(torch.equal(b["labels"], torch.ones_like(b["labels"])) for b in batches)   # labels kept, mask hides them


def test_label_dropout_is_for_histories_that_could_copy_a_fully_labelled_run_only():
    from pipeline.experiments.handwriting import label_dropout
    cfg = {"label_dropout": 0.5}
    assert label_dropout(cfg, "cws", "sequences") == 0.5 and label_dropout(cfg, "ssws", "variable") == 0.5
    assert label_dropout(cfg, "baseline", "sequences") == 0.0        # q of x alone: no history
    assert label_dropout(cfg, "cws", "scattered") == 0.0             # isolated labelled steps: nothing to copy
