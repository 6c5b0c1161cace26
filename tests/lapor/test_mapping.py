"""The LAPOR! mapping: statuses to commands, skips, privacy, and a mapping file swapped in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.decode import decode_command
from engine.errors import ConfigError
from lapor.mapping import SkipReport, load_mapping
from workflows.registry import WorkflowRegistry

T0 = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)


def item(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tracking_id": "HSU-2026-000042",
        "title": "Jalan rusak di Desa Alabio",
        "body": "Jalan berlubang sepanjang 300 meter.",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
        "anonymous": False,
        "confidential": False,
        "status": "Belum Terverifikasi",
        "created_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
        "complainant": {"name": "Siti Rahmah", "phone": "0812345678", "email": "s@x.id"},
    }
    doc.update(over)
    return doc


def test_a_new_report_is_one_submit_valid_for_the_engine() -> None:
    mapping = load_mapping()
    report = mapping.parse(item())
    (submit,) = mapping.commands(report, None)
    assert submit.type == "submit"
    assert submit.command_id == "lapor:HSU-2026-000042:submit"
    assert submit.payload["complainant"]["name"] == "Siti Rahmah"
    # The engine's own decoder accepts it: the contract, not our guess of it.
    command = decode_command(json.dumps(submit.as_dict()).encode(), WorkflowRegistry.default())
    assert command.type == "submit"
    assert command.issued_at == T0


@pytest.mark.parametrize(
    ("status", "types"),
    [
        ("Belum Terverifikasi", ["submit"]),
        ("Terverifikasi", ["submit", "verify"]),
        ("Didisposisikan", ["submit", "verify"]),
        ("Arsip", ["submit", "archive"]),
        ("Bukan Wewenang", ["submit", "archive"]),
        ("Tunda", ["submit", "verify", "defer"]),
        ("Selesai", ["submit", "verify", "resolve"]),
        ("Ditindaklanjuti", ["submit", "verify"]),
    ],
)
def test_every_lapor_status_maps_to_contract_commands(status: str, types: list[str]) -> None:
    mapping = load_mapping()
    planned = mapping.commands(mapping.parse(item(status=status)), None)
    assert [c.type for c in planned] == types
    registry = WorkflowRegistry.default()
    for command in planned:
        decode_command(json.dumps(command.as_dict()).encode(), registry)


def test_a_status_change_gives_only_its_commands_never_a_second_submit() -> None:
    mapping = load_mapping()
    later = (T0 + timedelta(hours=3)).isoformat()
    verified = mapping.parse(item(status="Terverifikasi", updated_at=later))
    assert [c.type for c in mapping.commands(verified, "Belum Terverifikasi")] == ["verify"]
    assert mapping.commands(verified, "Terverifikasi") == []
    archived = mapping.parse(item(status="Arsip", updated_at=later))
    assert [c.type for c in mapping.commands(archived, "Terverifikasi")] == ["archive"]
    resumed = mapping.parse(item(status="Terverifikasi", updated_at=later))
    assert [c.type for c in mapping.commands(resumed, "Tunda")] == ["resume"]


def test_statuses_set_by_our_own_pushes_are_echoes() -> None:
    mapping = load_mapping()
    done = mapping.parse(item(status="Selesai"))
    assert mapping.is_echo(done, {"dispatch", "follow_up", "resolve"})
    assert not mapping.is_echo(done, {"dispatch", "follow_up"})  # resolved upstream: news
    answered = mapping.parse(item(status="Ditindaklanjuti"))
    assert mapping.is_echo(answered, {"follow_up"})
    assert not mapping.is_echo(mapping.parse(item(status="Arsip")), {"follow_up", "resolve"})


def test_command_ids_are_deterministic_and_name_the_version() -> None:
    mapping = load_mapping()
    a = mapping.commands(mapping.parse(item(status="Terverifikasi")), "Belum Terverifikasi")
    b = mapping.commands(mapping.parse(item(status="Terverifikasi")), "Belum Terverifikasi")
    assert [c.command_id for c in a] == [c.command_id for c in b]
    later = mapping.parse(item(status="Terverifikasi", updated_at=(T0 + timedelta(1)).isoformat()))
    assert mapping.commands(later, "Tunda")[0].command_id != a[0].command_id
    assert all(len(c.command_id) <= 128 for c in a)


def test_anonim_reports_keep_no_identity() -> None:
    mapping = load_mapping()
    report = mapping.parse(item(anonymous=True))
    assert report.complainant is None
    (submit,) = mapping.commands(report, None)
    assert "complainant" not in submit.payload
    assert submit.payload["anonymous"] is True


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (item(status="Dibatalkan"), "unknown_status"),
        (item(channel="fax"), "malformed"),
        (item(updated_at="kemarin"), "malformed"),
        (item(tracking_id="HSU 2026/1"), "malformed"),
        ({k: v for k, v in item().items() if k != "title"}, "malformed"),
        (["not", "an", "object"], "malformed"),
    ],
)
def test_unusable_reports_are_skipped_with_a_reason_and_their_id(raw: Any, reason: str) -> None:
    with pytest.raises(SkipReport) as info:
        load_mapping().parse(raw)
    assert info.value.reason == reason
    if isinstance(raw, dict) and raw.get("tracking_id") == "HSU-2026-000042":
        assert info.value.tracking_id == "HSU-2026-000042"


def test_a_mapping_file_swapped_in(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(
        """
fields:
  tracking_id: TrackingID
  title: judul
  body: isi
  category: kategori
  classification: klasifikasi
  channel: sumber
  region: instansi.kode
  status: status_laporan
  updated_at: diperbarui
  anonymous: anonim
  confidential: rahasia
  complainant: pelapor
values:
  channel: {"SMS 1708": sms}
statuses:
  Baru: {commands: []}
  Diverifikasi: {commands: [verify]}
  Ditutup: {commands: [archive], reason: Ditutup oleh admin}
actors:
  default: {role: admin, id: admin-nasional}
""",
        encoding="utf-8",
    )
    mapping = load_mapping(path)
    raw = {
        "TrackingID": "HSU-2026-777",
        "judul": "Lampu jalan mati",
        "isi": "Sudah dua bulan gelap.",
        "kategori": "infrastruktur",
        "klasifikasi": "pengaduan",
        "sumber": "SMS 1708",
        "instansi": {"kode": "HSU"},
        "status_laporan": "Diverifikasi",
        "diperbarui": T0.isoformat(),
        "anonim": False,
        "rahasia": True,
    }
    report = mapping.parse(raw)
    assert (report.tracking_id, report.channel, report.region) == ("HSU-2026-777", "sms", "HSU")
    planned = mapping.commands(report, None)
    assert [c.type for c in planned] == ["submit", "verify"]
    assert planned[1].actor == {"role": "admin", "id": "admin-nasional"}
    assert planned[0].payload["confidential"] is True
    closed = mapping.parse({**raw, "status_laporan": "Ditutup"})
    assert mapping.commands(closed, "Diverifikasi")[0].payload == {"reason": "Ditutup oleh admin"}
    with pytest.raises(SkipReport):  # the default vocabulary is replaced, not merged
        mapping.parse({**raw, "status_laporan": "Terverifikasi"})


@pytest.mark.parametrize(
    "text",
    [
        "statuses: {Baru: {commands: [dispatch]}}",
        "statuses: {Baru: {typo: 1}}",
        "kolom: {}",
        "actors: {default: {role: raja, id: x}}",
        "- not a mapping",
    ],
)
def test_a_bad_mapping_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_mapping(path)
