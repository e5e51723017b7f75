"""The answer to creating an event is built from the rows the write kept, not read back:
it must be exactly what viewing the event gives, through the MISP API and the native API,
for events with every kind of content."""

from __future__ import annotations

from typing import Any

# A stored event the new ones correlate with (RelatedEvent, correlating values).
EARLIER = {
    "info": "earlier sighting of the campaign",
    "distribution": 1,
    "Attribute": [
        {"type": "ip-dst", "value": "198.51.100.7"},
        {"type": "domain", "value": "shared.example"},
        {"type": "ip-dst", "value": "203.0.113.0/24"},
    ],
}


def _event(info: str) -> dict[str, Any]:
    return {
        "info": info,
        "distribution": 1,
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [
            {"type": "ip-dst", "value": "198.51.100.7", "Tag": [{"name": "kill-chain:c2"}]},
            {"type": "domain", "value": "SHARED.example", "to_ids": "0"},
            {"type": "ip-src", "value": "203.0.113.9"},  # inside the earlier CIDR
            {"type": "comment", "value": "not correlating"},
            {
                "type": "md5",
                "value": "D41D8CD98F00B204E9800998ECF8427E",
                "disable_correlation": True,
            },
            {"type": "url", "value": "http://gone.example/x", "deleted": True},
            {
                "type": "hostname",
                "value": "www.example.org",
                "timestamp": "2026-11-01T12:00:00+02:00",
                "first_seen": "2026-10-01T00:00:00+05:00",
                "last_seen": "2026-10-02T00:00:00Z",
                "comment": "with times in other zones",
                "Sighting": [{"type": 0, "source": "sensor-a"}, {"type": 1}],
            },
            {"type": "domain", "value": "shared.example"},  # a duplicate: skipped
        ],
        "Object": [
            {
                "name": "domain-ip",
                "Attribute": [
                    {"object_relation": "domain", "type": "domain", "value": "obj.example"},
                    {"object_relation": "ip", "type": "ip-dst", "value": "198.51.100.7"},
                ],
            },
            {
                "name": "domain-ip",
                "deleted": True,
                "Attribute": [
                    {"object_relation": "domain", "type": "domain", "value": "hidden.example"}
                ],
            },
        ],
    }


def test_misp_add_event_answers_as_events_view(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin.post("/events/add", json={"Event": EARLIER}).status_code == 200
    made = admin.post("/events/add", json={"Event": _event("written answer")})
    assert made.status_code == 200, made.text
    answer = made.json()["Event"]
    viewed = admin.get(f"/events/view/{answer['id']}").json()["Event"]
    assert answer == viewed
    # The content the comparison covers: kept, skipped and hidden attributes, the
    # correlation with the earlier event, sightings and times brought to UTC.
    values = sorted(a["value"] for a in answer["Attribute"])
    assert values == sorted(
        [
            "198.51.100.7",
            "shared.example",
            "203.0.113.9",
            "not correlating",
            "d41d8cd98f00b204e9800998ecf8427e",
            "www.example.org",
        ]
    )
    assert [len(o["Attribute"]) for o in answer["Object"]] == [2]
    assert [r["Event"]["info"] for r in answer["RelatedEvent"]] == [EARLIER["info"]]
    host = next(a for a in answer["Attribute"] if a["type"] == "hostname")
    assert host["first_seen"].startswith("2026-09-30T19:00:00")
    tagged = next(a for a in answer["Attribute"] if a["value"] == "198.51.100.7")
    assert [t["name"] for t in tagged["Tag"]] == ["kill-chain:c2"]


def test_native_create_answers_as_the_event_view(admin) -> None:  # type: ignore[no-untyped-def]
    admin.post("/events/add", json={"Event": EARLIER})
    body = _event("native written answer")
    made = admin.post("/api/v1/events", json=body)
    assert made.status_code == 201, made.text
    answer = made.json()
    viewed = admin.get(f"/api/v1/events/{answer['id']}").json()
    assert answer == viewed
    hostname = next(a for a in answer["attributes"] if a["type"] == "hostname")
    assert hostname["sightings"] == {"sighting": 1, "false_positive": 1, "expiration": 0}
    # Flagged as the view flags them: an enabled warninglist holding a value shows.
    assert all("warninglist_hits" in a for a in answer["attributes"])
