"""`shieldwall taxii`: collections added, listed and removed (audited), and `render` storing
the STIX objects of changed events."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from shieldwall.audit.models import AuditEntry
from shieldwall.cli.main import app as cli
from shieldwall.taxii.models import StixObject, TaxiiCollection


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def test_collection_add_list_rm_and_render(instance, make_user, admin) -> None:
    make_user("CERT-X")
    r = run(
        "taxii",
        "collection",
        "add",
        "phishing",
        "--tag",
        "phishing",
        "--type",
        "domain",
        "--published",
        "--reader",
        "CERT-X",
        "--writer",
        "HOST-CERT",
    )
    assert r.exit_code == 0, r.output
    with instance.db.reading() as s:
        coll = s.execute(sa.select(TaxiiCollection)).scalar_one()
        assert (coll.tags, coll.types, coll.published_only) == (["phishing"], ["domain"], True)
        assert {(x.org.name, x.can_read, x.can_write) for x in coll.rights} == {
            ("CERT-X", True, False),
            ("HOST-CERT", False, True),
        }
    listed = " ".join(run("taxii", "collection", "list").output.split())
    assert "phishing" in listed and "tags=['phishing']" in listed and "published" in listed

    bad = run("taxii", "collection", "add", "x", "--type", "no-such-type")
    assert bad.exit_code == 2 and "types[0]" in bad.output

    ev = admin.post(
        "/events/add",
        json={
            "Event": {
                "info": "cli",
                "Attribute": [
                    {
                        "type": "domain",
                        "value": "cli.example",
                        "category": "Network activity",
                        "to_ids": True,
                    }
                ],
            }
        },
    ).json()["Event"]
    r = run("taxii", "render")
    assert r.exit_code == 0 and "1 events rendered" in r.output
    with instance.db.reading() as s:
        ids = set(s.execute(sa.select(StixObject.stix_id)).scalars())
    assert f"indicator--{ev['Attribute'][0]['uuid']}" in ids
    assert "0 events rendered" in run("taxii", "render").output

    assert run("taxii", "collection", "rm", "phishing").exit_code == 0
    with instance.db.reading() as s:
        assert s.execute(sa.select(TaxiiCollection)).first() is None
        actions = set(
            s.execute(
                sa.select(AuditEntry.action).where(AuditEntry.model == "TaxiiCollection")
            ).scalars()
        )
    assert actions == {"create", "delete"}
