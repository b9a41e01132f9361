from datetime import UTC, datetime

import pytest

from livedata.cli.ctl.errors import UsageError
from livedata.cli.ctl.params import (
    MAX_PARAMS_FILE_BYTES,
    load_params_file,
    parse_assignments,
    parse_param_args,
    parse_time,
    parse_value,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("2.5", 2.5),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ('"5"', "5"),
        ("counts", "counts"),
        ("{oops", "{oops"),
        ("", ""),
        ("NaN", "NaN"),
        ("-Infinity", "-Infinity"),
    ],
)
def test_values_are_json_when_they_parse_else_strings(text, value) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_dotted_keys_build_nested_objects() -> None:
    params = parse_param_args(
        ["bins=200", "toa_range.start_ns=0", "toa_range.stop_ns=1000", "a.b.c=x"]
    )
    assert params == {
        "bins": 200,
        "toa_range": {"start_ns": 0, "stop_ns": 1000},
        "a": {"b": {"c": "x"}},
    }


def test_a_value_may_contain_equals_signs_and_json_objects() -> None:
    params = parse_param_args(["label=a=b", 'toa_range={"start_ns": 0, "stop_ns": 5}'])
    assert params == {"label": "a=b", "toa_range": {"start_ns": 0, "stop_ns": 5}}


def test_later_settings_win_and_the_base_is_not_modified() -> None:
    base = {"bins": 10, "toa_range": {"start_ns": 1, "stop_ns": 2}, "x": None}
    params = parse_param_args(["bins=20", "toa_range.stop_ns=9", "x.y=1"], base)
    assert params == {"bins": 20, "toa_range": {"start_ns": 1, "stop_ns": 9}, "x": {"y": 1}}
    assert base == {"bins": 10, "toa_range": {"start_ns": 1, "stop_ns": 2}, "x": None}
    assert parse_param_args(["a.b=1", "a=2"]) == {"a": 2}


@pytest.mark.parametrize("item", ["bins", "=5", "a..b=1", ".a=1", "a.=1"])
def test_malformed_param_settings_are_usage_errors(item) -> None:
    with pytest.raises(UsageError, match="--param"):
        parse_param_args([item])


def test_yaml_params_file(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("bins: 200\ntoa_range:\n  start_ns: 0\n  stop_ns: 40000000\n")
    assert load_params_file(path) == {
        "bins": 200,
        "toa_range": {"start_ns": 0, "stop_ns": 40000000},
    }


def test_json_params_file_and_params_on_top(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"bins": 200, "toa_range": {"start_ns": 0, "stop_ns": 5}}')
    params = parse_param_args(["toa_range.stop_ns=7"], load_params_file(path))
    assert params == {"bins": 200, "toa_range": {"start_ns": 0, "stop_ns": 7}}


def test_an_empty_params_file_means_no_params(tmp_path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("")
    assert load_params_file(path) == {}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("list.yaml", "- 1\n- 2\n", "expected a mapping"),
        ("bad.yaml", "a: [1,\n", "not valid YAML"),
        ("bad.json", "{'a': 1}", "not valid JSON"),
        ("nan.json", '{"a": NaN}', "not valid JSON"),
        ("nan.yaml", "a: .nan\n", "not a finite number"),
        ("inf.yaml", "a: {b: [1, -.inf]}\n", r"a\.b\[1\]: -inf is not a finite number"),
        ("date.yaml", "when: 2026-03-01\n", "a date cannot be sent as JSON"),
        ("key.yaml", "1: x\n", "key 1 is not a string"),
        ("tag.yaml", "a: !!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_bad_params_files_are_usage_errors(tmp_path, name, text, message) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_params_file(path)


def test_a_missing_or_huge_params_file_is_refused(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_params_file(tmp_path / "nope.yaml")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_PARAMS_FILE_BYTES + 1))
    with pytest.raises(UsageError, match="more than a params file"):
        load_params_file(big)


def test_aux_assignments() -> None:
    assert parse_assignments(["monitor=monitor1", " m = x "], "--aux") == {
        "monitor": "monitor1",
        "m": "x",
    }
    for bad in (["monitor"], ["=x"], ["m="]):
        with pytest.raises(UsageError, match="expected role=stream"):
            parse_assignments(bad, "--aux")
    with pytest.raises(UsageError, match="given twice"):
        parse_assignments(["m=a", "m=b"], "--aux")


def test_times_are_iso_or_nanoseconds() -> None:
    assert parse_time("1700000000123456789", "--start") == 1700000000123456789
    assert parse_time("2026-03-01T14:00:00Z", "--start") == int(
        datetime(2026, 3, 1, 14, tzinfo=UTC).timestamp() * 10**9
    )
    assert parse_time("2026-03-01T14:00:00.000001+01:00", "--end") == (
        int(datetime(2026, 3, 1, 13, tzinfo=UTC).timestamp()) * 10**9 + 1000
    )
    naive = datetime(2026, 3, 1, 14).astimezone()  # local time, as the user means it
    assert parse_time("2026-03-01T14:00:00", "--start") == int(naive.timestamp()) * 10**9


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "-5", "1969-12-31T00:00:00Z"])
def test_bad_times_are_usage_errors(text) -> None:
    with pytest.raises(UsageError, match="--start"):
        parse_time(text, "--start")
