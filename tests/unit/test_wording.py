from segport.wording import count


def test_the_noun_agrees_with_the_number() -> None:
    assert count(1, "batch", "batches") == "1 batch"
    assert count(0, "batch", "batches") == "0 batches"
    assert count(1_000_000, "contact") == "1,000,000 contacts"
