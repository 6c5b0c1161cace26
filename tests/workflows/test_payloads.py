"""The command payload models (workflows/payloads.py)."""

from __future__ import annotations

import pytest

from workflows.payloads import (
    Complainant,
    DispatchPayload,
    NotePayload,
    Payload,
    ReasonPayload,
    SubmitPayload,
)

SUBMIT = SubmitPayload(
    title="Lampu jalan padam",
    body="Sudah seminggu, é ü 🙏",
    category="infrastruktur",
    classification="pengaduan",
    channel="whatsapp",
    region="HSU",
    confidential=True,
    complainant=Complainant(name="Warga", phone="0812"),
    attachments=["a.jpg", "b.jpg"],
)

PAYLOADS: list[Payload] = [
    SUBMIT,
    SubmitPayload(**{**SUBMIT.model_dump(), "complainant": None, "attachments": []}),
    NotePayload(),
    NotePayload(note="ok"),
    DispatchPayload(skpd="DINKES"),
    DispatchPayload(skpd="DINKES", note="segera"),
    ReasonPayload(reason="bukan wewenang"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(
    "options",
    [{}, {"exclude_none": True}, {"exclude": {"complainant", "attachments"}}],
)
def test_json_data_is_model_dump_in_json_mode(payload: Payload, options: dict[str, object]) -> None:
    # Events and stored fingerprints are built from it: it must stay exactly model_dump.
    dumped = payload.model_dump(mode="json", **options)  # type: ignore[arg-type]
    data = payload.json_data(**options)  # type: ignore[arg-type]
    assert data == dumped
    assert list(data) == list(dumped)
