from __future__ import annotations

from pathlib import Path

from gateway.schema import printed


def test_the_committed_schema_is_the_one_printed_from_code(
    repo_root: Path,
) -> None:
    committed = (repo_root / "gateway" / "schema.graphql").read_text()

    assert committed == printed(), (
        "gateway/schema.graphql is stale: run"
        " `python -m gateway.schema > gateway/schema.graphql`"
    )


def test_the_schema_has_the_contracts_entry_points() -> None:
    text = printed()

    assert "campaign(id: ID!): Campaign" in text
    assert "contact(phone: String!): Contact" in text
    assert "campaignCounters(campaignId: ID!): CampaignCounters!" in text
    assert "scalar DateTime" in text
