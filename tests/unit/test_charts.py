from datetime import UTC, datetime, timedelta

from segport.web.charts import HEIGHT, PADDING, WIDTH, trend

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_time_runs_across_and_members_up_the_canvas() -> None:
    drawn = trend([(START, 100), (START + timedelta(days=1), 300), (START + timedelta(days=4), 200)])
    assert drawn is not None
    xs = [x for x, _, _, _ in drawn.dots]
    ys = [y for _, y, _, _ in drawn.dots]
    assert xs[0] == PADDING and xs[-1] == WIDTH - PADDING
    assert xs[1] == PADDING + (WIDTH - 2 * PADDING) / 4  # one day of four
    assert ys[0] == HEIGHT - PADDING and ys[1] == PADDING  # the lowest at the bottom, the highest at the top
    assert ys[2] == HEIGHT / 2
    assert (drawn.lowest, drawn.highest, drawn.first, drawn.last) == (100, 300, START, START + timedelta(days=4))
    assert drawn.points.split()[1] == f"{xs[1]},{ys[1]}"


def test_one_count_or_an_unchanging_one_sits_in_the_middle_and_none_draws_nothing() -> None:
    single = trend([(START, 5)])
    assert single is not None and single.dots[0][:2] == (WIDTH / 2, HEIGHT / 2)
    flat = trend([(START, 7), (START + timedelta(hours=1), 7)])
    assert flat is not None and {y for _, y, _, _ in flat.dots} == {HEIGHT / 2}
    assert trend([]) is None
