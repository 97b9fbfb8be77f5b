"""The image keeps its state on a volume, runs as a non-root user, migrates before it
serves and checks its own readiness. (No Docker daemon here: the Dockerfile is read.)"""

import json
import re
from pathlib import Path

DOCKERFILE = (Path(__file__).parent.parent / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", joined, re.MULTILINE)]


def test_the_var_dir_is_a_volume_created_before_it() -> None:
    [var_dir] = re.findall(r"KAIROS_VAR_DIR=(\S+)", DOCKERFILE)
    [volume] = _instructions("VOLUME")
    assert json.loads(volume) == [var_dir]
    # Declared after the RUN that creates and chowns it, so a new volume inherits the owner.
    assert DOCKERFILE.index("chown kairos:kairos var") < DOCKERFILE.index("VOLUME")


def test_non_root_migrate_then_serve_with_a_readiness_check() -> None:
    assert _instructions("USER") == ["kairos"]
    [healthcheck] = _instructions("HEALTHCHECK")
    assert "/readyz" in healthcheck
    [command] = _instructions("CMD")
    assert re.search(r"kairos migrate && exec kairos serve", command)
