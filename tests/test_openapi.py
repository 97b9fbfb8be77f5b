from pathlib import Path

from app.openapi import openapi_document


def test_committed_openapi_matches_the_app() -> None:
    committed = (Path(__file__).parent.parent / "openapi.json").read_text()
    assert committed == openapi_document(), "openapi.json drifted: run `make openapi`"
