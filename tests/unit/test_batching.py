import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segport.constant_contact.batching import JsonImportBatcher, json_import_batches
from segport.constant_contact.models import MAX_IMPORT_BYTES, MAX_IMPORT_CONTACTS

LIST = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"


def test_batches_are_cut_at_forty_thousand_contacts() -> None:
    rows = [(f"u{i}@example.com", None, None) for i in range(100_001)]
    batches = list(json_import_batches(rows, [LIST]))
    assert [batch.count for batch in batches] == [MAX_IMPORT_CONTACTS, MAX_IMPORT_CONTACTS, 20_001]


def test_batches_are_cut_below_four_megabytes_measured_in_utf8_bytes() -> None:
    # 50 CJK characters are 150 bytes each: 40,000 such contacts would be far over 4 MB.
    name = "漢" * 50
    rows = [(f"user{i}@example.com", name, name) for i in range(40_000)]
    batches = list(json_import_batches(rows, [LIST]))
    assert len(batches) > 1
    assert all(len(batch.body) < MAX_IMPORT_BYTES for batch in batches)
    # The cut is tight: each full batch could not have taken one more contact.
    one = len(orjson.dumps({"email": "user10000@example.com", "first_name": name, "last_name": name})) + 1
    assert all(len(batch.body) + one >= MAX_IMPORT_BYTES - 1 for batch in batches[:-1])
    assert sum(batch.count for batch in batches) == 40_000


def test_a_body_is_the_spec_shape_with_absent_names_left_out() -> None:
    [batch] = json_import_batches([("a@x.com", "Ann", None), ("b@x.com", None, "Bo")], [LIST])
    assert orjson.loads(batch.body) == {
        "import_data": [{"email": "a@x.com", "first_name": "Ann"}, {"email": "b@x.com", "last_name": "Bo"}],
        "list_ids": [LIST],
    }


def test_the_batcher_refuses_more_than_fifty_target_lists() -> None:
    with pytest.raises(ValueError, match="1 to 50 lists"):
        JsonImportBatcher([LIST] * 51)


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=50)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.emails(), st.one_of(st.none(), text), st.one_of(st.none(), text)), max_size=300),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=400, max_value=5_000),
)
def test_batches_keep_every_row_in_order_within_both_caps(rows, max_contacts, max_bytes) -> None:  # type: ignore[no-untyped-def]
    batches = list(json_import_batches(rows, [LIST], max_contacts=max_contacts, max_bytes=max_bytes))
    sent = []
    for batch in batches:
        assert batch.count <= max_contacts
        assert len(batch.body) < max_bytes
        body = orjson.loads(batch.body)
        assert len(body["import_data"]) == batch.count
        sent.extend(body["import_data"])
    assert [item["email"] for item in sent] == [email for email, _, _ in rows]
    assert [item.get("first_name") or None for item in sent] == [first or None for _, first, _ in rows]
