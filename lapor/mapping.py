"""The mapping of LAPOR! reports and statuses to lapor-flow commands, as data.

The default lives in ``lapor/data/mapping.yaml``; a deployment whose upstream names
differ points ``LAPORFLOW_LAPOR_MAPPING`` at its own YAML file, and nothing else changes.
:meth:`Mapping.parse` turns a raw upstream item into a :class:`~lapor.models.Report`
(or raises :class:`SkipReport` with a reason, never a crash); :meth:`Mapping.commands`
gives the contract commands for a report given the status last seen for it.

Command ids are deterministic: the submit of a tracking ID is always
``lapor:<tracking_id>:submit``, and a status change's commands are named by the
report's ``updated_at``, so a re-poll, a restart or a kill -9 mid-page re-sends the same
ids, which the engine applies once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.errors import ConfigError
from lapor.models import Report
from workflows.wire import command_doc

__all__ = ["Mapping", "PlannedCommand", "SkipReport", "StatusRule", "load_mapping"]

_SECTIONS = {"fields", "values", "statuses", "actors"}
_STATUS_KEYS = {"commands", "reason", "note", "on_leave", "echo_of"}
_PUSH_TYPES = {"dispatch", "follow_up", "resolve"}
_COMMANDS = {"verify", "archive", "resolve", "defer", "resume"}
_NEEDS_REASON = {"archive", "defer"}
_ROLES = {"complainant", "admin", "skpd", "system"}
_SLUG = re.compile(r"[^a-z0-9]+")


class SkipReport(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A report the feed cannot use: counted by ``reason``, logged with its tracking ID."""

    def __init__(self, reason: str, detail: str, tracking_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.tracking_id = tracking_id
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class StatusRule:
    """What one upstream status means: the commands that lead there from a new report."""

    commands: tuple[str, ...] = ()
    reason: str | None = None
    note: str | None = None
    on_leave: tuple[str, ...] = ()
    #: The status our own sync-back sets upstream with these pushes: after such a push
    #: for the complaint, this status is the echo of our progress, not news.
    echo_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedCommand:
    """A command the feed will produce on ``lapor.commands`` (the JSON of CONTRACT §2)."""

    command_id: str
    type: str
    complaint_id: str
    issued_at: str
    actor: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The command document."""
        return command_doc(
            self.type,
            self.complaint_id,
            self.issued_at,
            role=self.actor["role"],
            actor_id=self.actor["id"],
            payload=self.payload,
            command_id=self.command_id,
        )


@dataclass(frozen=True)
class Mapping:
    """Field names, value vocabularies, the status table and the actors."""

    fields: dict[str, str]
    values: dict[str, dict[str, str]]
    statuses: dict[str, StatusRule]
    actors: dict[str, dict[str, str]]

    # --- reports --------------------------------------------------------------------

    def tracking_id_of(self, raw: Any) -> str | None:
        """The tracking ID of a raw item, if it has a readable one (for logs)."""
        if not isinstance(raw, dict):
            return None
        value = _get(raw, self.fields.get("tracking_id", "tracking_id"))
        return value if isinstance(value, str) else None

    def parse(self, raw: Any) -> Report:
        """A raw upstream item as a :class:`Report`; :class:`SkipReport` if unusable."""
        tracking_id = self.tracking_id_of(raw)
        if not isinstance(raw, dict):
            raise SkipReport("malformed", "the item is not a JSON object", tracking_id)
        doc: dict[str, Any] = {}
        for ours, theirs in self.fields.items():
            value = _get(raw, theirs)
            if value is None:
                continue
            vocabulary = self.values.get(ours)
            if vocabulary is not None and isinstance(value, str):
                value = vocabulary.get(value, vocabulary.get(value.lower(), value))
            doc[ours] = value
        try:
            report = Report.model_validate(doc)
        except ValidationError as exc:
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)[:3]
            )
            raise SkipReport("malformed", where, tracking_id) from exc
        if report.status not in self.statuses:
            raise SkipReport(
                "unknown_status", f"status {report.status!r} is not in the mapping", tracking_id
            )
        if report.anonymous and report.complainant is not None:
            # Anonim: the identity is dropped here, before anything is stored or sent.
            report = report.model_copy(update={"complainant": None})
        return report

    # --- commands -------------------------------------------------------------------

    def is_echo(self, report: Report, pushed: set[str]) -> bool:
        """True when ``report``'s status is what our own ``pushed`` types set upstream."""
        return bool(set(self.statuses[report.status].echo_of) & pushed)

    def commands(self, report: Report, previous: str | None) -> list[PlannedCommand]:
        """The commands for ``report`` given the status last seen (``None``: a new report).

        A new tracking ID gets its ``submit`` and the commands of its status; a known one
        only the commands of the change, never a second submit.
        """
        rule = self.statuses[report.status]
        planned: list[PlannedCommand] = []
        if previous is None:
            planned.append(self._submit(report))
            steps = list(rule.commands)
        elif previous == report.status:
            return []
        else:
            before = self.statuses.get(previous, StatusRule())
            steps = [c for c in rule.commands if c not in before.commands]
            steps += [c for c in before.on_leave if c not in rule.on_leave and c not in steps]
        for step in steps:
            planned.append(self._step(report, step, rule))
        return planned

    def _submit(self, report: Report) -> PlannedCommand:
        payload: dict[str, Any] = {
            "title": report.title,
            "body": report.body,
            "category": report.category,
            "classification": report.classification,
            "channel": report.channel,
            "region": report.region,
            "anonymous": report.anonymous,
            "confidential": report.confidential,
        }
        if report.complainant is not None and not report.anonymous:
            payload["complainant"] = report.complainant.model_dump(exclude_none=True)
        if report.location:
            payload["location"] = report.location
        issued = report.created_at or report.updated_at
        return PlannedCommand(
            command_id=_command_id(report.tracking_id, "submit"),
            type="submit",
            complaint_id=report.tracking_id,
            issued_at=issued.isoformat(timespec="seconds"),
            actor=self._actor("submit"),
            payload=payload,
        )

    def _step(self, report: Report, step: str, rule: StatusRule) -> PlannedCommand:
        payload: dict[str, Any] = {}
        if step in _NEEDS_REASON:
            payload["reason"] = rule.reason or f"LAPOR! status {report.status}"
        elif step in ("verify", "resolve") and rule.note:
            payload["note"] = rule.note
        stamp = report.updated_at.strftime("%Y%m%dT%H%M%S%f%z")
        slug = _SLUG.sub("-", report.status.lower()).strip("-")
        return PlannedCommand(
            command_id=_command_id(report.tracking_id, step, slug, stamp),
            type=step,
            complaint_id=report.tracking_id,
            issued_at=report.updated_at.isoformat(timespec="seconds"),
            actor=self._actor(step),
            payload=payload,
        )

    def _actor(self, command_type: str) -> dict[str, str]:
        return dict(self.actors.get(command_type) or self.actors["default"])


def _command_id(*parts: str) -> str:
    cid = "lapor:" + ":".join(parts)
    if len(cid) <= 128:
        return cid
    # Over the contract's 128 chars: a stable digest keeps it deterministic.
    return "lapor:" + hashlib.sha256(cid.encode("utf-8")).hexdigest()


def _get(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _rules(statuses: Any, source: str) -> dict[str, StatusRule]:
    if not isinstance(statuses, dict) or not statuses:
        raise ConfigError(f"{source}: statuses must be a non-empty mapping")
    rules: dict[str, StatusRule] = {}
    for name, spec in statuses.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: status {name!r} must be a mapping")
        unknown = set(spec) - _STATUS_KEYS
        if unknown:
            raise ConfigError(f"{source}: status {name!r} has unknown keys {sorted(unknown)}")
        commands = tuple(spec.get("commands") or ())
        on_leave = tuple(spec.get("on_leave") or ())
        bad = set(commands + on_leave) - _COMMANDS
        if bad:
            raise ConfigError(
                f"{source}: status {name!r} names commands {sorted(bad)}; "
                f"the feed may issue {sorted(_COMMANDS)}"
            )
        echo_of = tuple(spec.get("echo_of") or ())
        if set(echo_of) - _PUSH_TYPES:
            raise ConfigError(
                f"{source}: status {name!r}: echo_of names {sorted(set(echo_of) - _PUSH_TYPES)}; "
                f"pushes are {sorted(_PUSH_TYPES)}"
            )
        rules[str(name)] = StatusRule(
            commands, spec.get("reason"), spec.get("note"), on_leave, echo_of
        )
    return rules


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{source} must hold a mapping")
    unknown = set(doc) - _SECTIONS
    if unknown:
        raise ConfigError(
            f"{source} has unknown sections {sorted(unknown)}; known {sorted(_SECTIONS)}"
        )
    return doc


def load_mapping(path: str | Path | None = None) -> Mapping:
    """The default mapping, with the sections of the YAML file at ``path`` applied on top."""
    base = _load_yaml(
        (files("lapor") / "data" / "mapping.yaml").read_text(encoding="utf-8"),
        "lapor/data/mapping.yaml",
    )
    fields: dict[str, str] = dict(base["fields"])
    values: dict[str, dict[str, str]] = {k: dict(v) for k, v in base["values"].items()}
    statuses = _rules(base["statuses"], "lapor/data/mapping.yaml")
    actors: dict[str, dict[str, str]] = {k: dict(v) for k, v in base["actors"].items()}
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the LAPOR! mapping file {source}: {exc}") from exc
        doc = _load_yaml(text, source)
        fields.update({str(k): str(v) for k, v in (doc.get("fields") or {}).items()})
        for name, vocabulary in (doc.get("values") or {}).items():
            values.setdefault(str(name), {}).update(
                {str(k): str(v) for k, v in (vocabulary or {}).items()}
            )
        if "statuses" in doc:
            statuses = _rules(doc["statuses"], source)
        actors.update({str(k): dict(v) for k, v in (doc.get("actors") or {}).items()})
    for name, actor in actors.items():
        if actor.get("role") not in _ROLES or not actor.get("id"):
            raise ConfigError(
                f"LAPOR! mapping: actor {name!r} needs a role in {sorted(_ROLES)} and an id"
            )
    if "default" not in actors:
        raise ConfigError("LAPOR! mapping: actors.default is missing")
    return Mapping(fields=fields, values=values, statuses=statuses, actors=actors)
