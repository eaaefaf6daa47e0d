from segport.wording import a, count, sentence


def test_the_noun_agrees_with_the_number() -> None:
    assert count(1, "batch", "batches") == "1 batch"
    assert count(0, "batch", "batches") == "0 batches"
    assert count(1_000_000, "contact") == "1,000,000 contacts"


def test_the_article_agrees_with_the_word() -> None:
    assert [a(word) for word in ("integer", "text", "date", "Email", "boolean")] == [
        "an integer",
        "a text",
        "a date",
        "an Email",
        "a boolean",
    ]


def test_a_sentence_ends_with_one_full_stop() -> None:
    assert (
        sentence("Our internal service is temporarily unavailable.")
        == "Our internal service is temporarily unavailable."
    )
    assert sentence("HTTP 500 (after 4 attempts) ") == "HTTP 500 (after 4 attempts)."
    assert sentence("Really?") == "Really?"
