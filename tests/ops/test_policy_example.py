"""ops/policy.example.yaml: it loads, and its HSU directory is the demo region's 30 SKPDs."""

from __future__ import annotations

from pathlib import Path

from engine.policy_file import load_policy
from laporflow.demo_data import generate

EXAMPLE = Path(__file__).resolve().parents[2] / "ops" / "policy.example.yaml"


def test_the_example_policy_lists_the_demo_regions_skpds_with_names() -> None:
    policy = load_policy(EXAMPLE)
    region, _ = generate(seed=1, complaints=10)
    assert len(region.skpds) == 30
    assert list(policy.skpds[region.region].items()) == list(region.skpds)
    assert policy.skpd_name("HSU", "PUPR") == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert not policy.skpd_known("HSU", "DINAS-FIKTIF")
    # Every SKPD override of a listed region names a listed SKPD (else it would not load).
    assert all(policy.skpd_known(*key.split("/")) for key in policy.skpd)
