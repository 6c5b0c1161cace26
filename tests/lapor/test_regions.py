"""Region data from lapor/data/*.yaml: one file the demo and the simulator share."""

from __future__ import annotations

import re

from lapor.regions import load_other_regions, load_region
from laporflow.demo_data.region import DATA

FIELDS = {"desa", "kec", "jalan", "pasar", "n", "m", "bulan", "rp"}


def test_hsu_is_complete_and_its_templates_use_known_fields() -> None:
    hsu = load_region("hsu")
    assert (hsu.region, hsu.timezone) == ("HSU", "Asia/Makassar")
    codes = [code for code, _ in hsu.skpds]
    assert len(codes) == len(set(codes)) == 30
    for topic in hsu.topics:
        assert set(topic.skpds) <= set(codes), topic.category
        for text in topic.titles + topic.bodies + topic.answers:
            assert set(re.findall(r"{(\w+)}", text)) <= FIELDS, text
    assert set(hsu.slow_skpds) <= set(codes) and set(hsu.fast_skpds) <= set(codes)
    assert {name for name, _ in hsu.channels} <= {"web", "sms", "mobile", "twitter", "whatsapp"}


def test_the_demo_and_the_simulator_read_the_same_data() -> None:
    assert DATA is load_region("hsu")
    others = load_other_regions()
    assert {o.region for o in others} >= {"BJM", "BANJAR", "HST"}
    assert all(o.villages and o.roads and o.markets for o in others)
