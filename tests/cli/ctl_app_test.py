"""``livedata ctl`` in-process, for everything decided before Kafka is touched.

The broker address points at a closed port: a test that reached Kafka would fail, so
every exit code 2 here also shows that nothing was sent.
"""

import json

import pytest
from confluent_kafka import KafkaError, KafkaException

from livedata.cli.ctl import main
from livedata.cli.ctl.app import explain_kafka_error
from livedata.cli.main import main as livedata_main
from livedata.kafka.embedded_broker import free_port


@pytest.fixture(autouse=True)
def nowhere(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_registered_as_a_livedata_command(capsys) -> None:
    assert livedata_main(["ctl", "instruments"]) == 0
    assert "dummy" in capsys.readouterr().out.split()
    livedata_main(["--help"])
    assert "  ctl " in capsys.readouterr().out


def test_instruments_json(capsys) -> None:
    code, out, _ = run(capsys, "instruments", "--json")
    assert code == 0
    assert "dummy" in json.loads(out)["instruments"]


def test_workflows_json_grouped_by_service(capsys) -> None:
    code, out, _ = run(capsys, "workflows", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["instrument"] == "dummy"
    monitor = doc["services"]["monitor_data"][0]
    assert monitor["workflow_id"] == "dummy/monitor_histogram/1"
    assert monitor["sources"] == ["monitor1", "monitor2"]
    assert {"name": "counts_total", "title": "Total counts in window", "dims": [],
            "unit": "counts"} in monitor["outputs"]  # fmt: skip


def test_workflows_text(capsys) -> None:
    code, out, _ = run(capsys, "workflows")
    assert code == 0
    assert out.startswith("instrument dummy: ")
    assert "\nmonitor_data\n  dummy/monitor_histogram/1  Monitor histogram\n" in out


def test_workflow_schema_json_is_the_pydantic_schema(capsys) -> None:
    code, out, _ = run(capsys, "workflow", "monitor_histogram", "--schema", "--json")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "MonitorHistogramParams"
    assert schema["properties"]["bins"]["maximum"] >= 1
    code, out, _ = run(capsys, "workflow", "dummy/monitor_histogram/1", "--schema")
    assert code == 0
    assert "toa_range.start_ns" in out
    code, out, _ = run(capsys, "workflow", "monitor_histogram", "--json")
    assert json.loads(out)["service"] == "monitor_data"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "nope", "--source", "x"], "unknown workflow 'nope' for instrument dummy"),
        (["start", "loki/x/1", "--source", "x"], "belongs to instrument 'loki'"),
        (["start", "monitor_histogram", "--source", "panel_0"], "does not accept source"),
        (["start", "monitor_histogram", "--all-sources", "--param", "bins=0"], "bins: Input"),
        (["start", "monitor_histogram", "--source", "monitor1", "--param", "bns=1"], "bns: Extra"),
        (["start", "monitor_histogram", "--source", "monitor1", "--aux", "m=x"], "--aux"),
        (["start", "monitor_histogram", "--source", "monitor1", "--start", "soon"], "--start"),
        (["start", "monitor_histogram", "--source", "monitor1", "--start", "10", "--end", "5"],
         "--start is after --end"),
        (["start", "monitor_histogram", "--source", "monitor1", "--param", "x"], "key=value"),
        (["start", "timeseries_data", "--source", "motion1", "--instrument", "nope"],
         "unknown instrument 'nope'"),
        (["stop", "--job", "panel_0"], "expected SOURCE/JOB_NUMBER"),
        (["reset", "--workflow", "nope"], "unknown workflow"),
        (["status", "--instrument", "nope"], "unknown instrument"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_before_anything_is_sent(capsys, argv, message) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("livedata ctl: error: ")
    assert message in err


def test_params_file_errors_exit_2(capsys, tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("bins: 100000\n")
    code, _, err = run(
        capsys, "start", "monitor_histogram", "--source", "monitor1", "--params-file", str(path)
    )
    assert code == 2
    assert "bins: Input should be less than or equal to" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["start", "monitor_histogram"],  # neither --source nor --all-sources
        ["start", "monitor_histogram", "--source", "m", "--all-sources"],
        ["stop"],
        ["stop", "--all", "--workflow", "w"],
        ["start", "monitor_histogram", "--all-sources", "--timeout", "0"],
        ["start", "monitor_histogram", "--all-sources", "--timeout", "inf"],
        ["start", "monitor_histogram", "--all-sources", "--run-policy", "never"],
        ["status", "--interval", "-1"],
        ["frobnicate"],
        [],
    ],
)
def test_argparse_errors_exit_2(capsys, argv) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err


def test_bad_kafka_settings_exit_2(capsys, monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    code, _, err = run(capsys, "start", "monitor_histogram", "--source", "monitor1")
    assert code == 2
    assert "KAFKA_SASL_USERNAME" in err


@pytest.mark.slow  # librdkafka gives up on delivery after the client's 10 s send timeout
def test_unreachable_broker_is_a_failure_not_a_hang(capsys) -> None:
    code, out, err = run(capsys, "start", "monitor_histogram", "--source", "monitor1")
    assert code == 1
    assert out == ""
    assert "command not sent" in err


def test_kafka_errors_are_explained(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    missing = KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, "no partition"))
    assert explain_kafka_error(missing, "loki") == (
        "instrument loki's topics do not exist on broker:9092: no livedata stack for it has "
        "run there (no partition)"
    )
    down = KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all down"))
    assert explain_kafka_error(down, "loki") == (
        "cannot reach the Kafka broker at broker:9092 (all down)"
    )
    other = KafkaException(KafkaError(KafkaError._FAIL, "odd"))
    assert explain_kafka_error(other, None) == "Kafka: odd"
