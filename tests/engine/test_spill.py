"""ExternalSorter must give back exactly what went in, sorted, however many blocks a run spans."""

import random

from ctad.engine.spill import ExternalSorter


def test_runs_of_several_blocks_round_trip(tmp_path):
    shared = ["arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"]  # objects pickled many times: memo reuse
    items = [(random.Random(i).random(), i, shared[i % 2], {"k": shared[(i + 1) % 2]}) for i in range(30_000)]
    sorter = ExternalSorter(key=lambda t: (t[0], t[1]), max_items=10_000, directory=str(tmp_path))
    for item in items:
        sorter.add(item)
    assert sorter.spilled
    out = list(sorter.sorted())
    assert out == sorted(items, key=lambda t: (t[0], t[1]))
    assert list(tmp_path.iterdir()) == []  # spill files removed


def test_no_spill_below_limit():
    sorter = ExternalSorter(key=lambda x: x, max_items=100)
    for x in (3, 1, 2):
        sorter.add(x)
    assert not sorter.spilled
    assert list(sorter.sorted()) == [1, 2, 3]


def test_encode_decode_apply_to_spilled_items_only(tmp_path):
    encoded = []

    def encode(item):
        encoded.append(item)
        return (item[0], str(item[1]))

    sorter = ExternalSorter(key=lambda t: t[0], max_items=5, directory=str(tmp_path), encode=encode,
                            decode=lambda t: (t[0], int(t[1])))  # fmt: skip
    for i in reversed(range(12)):
        sorter.add((i, i * 10))
    assert list(sorter.sorted()) == [(i, i * 10) for i in range(12)]
    assert len(encoded) == 10  # two spilled runs of 5; the last 2 items never left memory


def test_merge_runs_equals_a_full_sort():
    import random

    from ctad.engine.spill import merge_runs

    rng = random.Random(7)
    for trial in range(60):
        runs = []
        for r in range(rng.randint(0, 7)):
            items = sorted(
                (rng.randint(0, 50), f"e{rng.randint(0, 9)}", r, i) for i in range(rng.randint(0, 90))
            )
            size = rng.randint(1, 12)
            runs.append(
                [items[i : i + size] for i in range(0, len(items), size)] + ([[]] if trial % 3 else [])
            )
        expected = sorted(item for run in runs for block in run for item in block)
        got = [item for block in merge_runs([iter(run) for run in runs]) for item in block]
        assert got == expected
