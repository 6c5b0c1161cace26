"""The command payload models (workflows/payloads.py)."""

from __future__ import annotations

import pytest

from tests.workflows.test_apply import submit_payload
from workflows.payloads import (
    DispatchPayload,
    NotePayload,
    Payload,
    ReasonPayload,
    SubmitPayload,
)

SUBMIT = SubmitPayload(
    **submit_payload(
        body="Sudah seminggu, é ü 🙏", confidential=True, attachments=["a.jpg", "b.jpg"]
    )
)

PAYLOADS: list[Payload] = [
    SUBMIT,
    SubmitPayload(**submit_payload(complainant=None, attachments=[])),
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
