import pytest

from segport.emulator.faults import Fault, FaultSchedule, FaultSyntaxError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("imports#3-5=503", Fault("imports", 3, 5, "503")),
        ("requests#7=drop", Fault("requests", 7, 7, "drop")),
        ("requests#20-40=throttled", Fault("requests", 20, 40, "throttled")),
        ("requests#10=revoke", Fault("requests", 10, 10, "revoke")),
        ("activities#2=failed", Fault("activities", 2, 2, "failed")),
        (" token # 1 = 503 ", Fault("token", 1, 1, "503")),
    ],
)
def test_faults_are_read_from_their_text_form(text: str, expected: Fault) -> None:
    assert Fault.parse(text) == expected
    assert Fault.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imports", "TARGET#FIRST"),
        ("imports#0=503", "count from 1"),
        ("imports#5-3=503", "count from 1"),
        ("imports#1=200", "Unknown effect"),
        ("imports#1=explode", "Unknown effect"),
        ("activities#1=503", "An activity can end"),
    ],
)
def test_a_wrong_fault_names_the_problem_and_the_form_to_use(text: str, message: str) -> None:
    with pytest.raises(FaultSyntaxError, match=message):
        Fault.parse(text)


def test_each_target_counts_its_own_requests() -> None:
    schedule = FaultSchedule([Fault.parse("imports#2=503"), Fault.parse("requests#4=drop")])
    hits = [
        schedule.for_request(op, is_api=True)
        for op in ["getLists", "bulkImportContactsJSON", "contactsCSVImport", "getActivity", "getActivity"]
    ]
    assert hits[0] is None
    assert hits[1] is None  # first import
    assert hits[2] == Fault("imports", 2, 2, "503")  # second import, by the group
    assert hits[3] == Fault("requests", 4, 4, "drop")
    assert hits[4] is None


def test_token_requests_are_not_counted_as_api_requests() -> None:
    schedule = FaultSchedule([Fault.parse("requests#1=503")])
    assert schedule.for_request("token", is_api=False) is None
    assert schedule.for_request("getLists", is_api=True) == Fault("requests", 1, 1, "503")


def test_activities_are_counted_apart_and_clearing_resets_the_counts() -> None:
    schedule = FaultSchedule()
    schedule.add("activities#2=timed_out")
    assert schedule.for_new_activity() is None
    assert schedule.for_new_activity() == Fault("activities", 2, 2, "timed_out")
    schedule.clear()
    schedule.add("activities#1=cancelled")
    assert schedule.for_new_activity() == Fault("activities", 1, 1, "cancelled")
