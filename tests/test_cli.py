import secrets
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine, select
from typer.testing import CliRunner

from app.auth.models import StaffUser
from app.cli import cli

runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "KAIROS_DATABASE_URL": f"sqlite:///{tmp_path / 'kairos.db'}",
        "KAIROS_VAR_DIR": str(tmp_path / "var"),
        "KAIROS_PASSWORD_MEMORY_KIB": "64",
        "KAIROS_PASSWORD_TIME_COST": "1",
    }


def test_migrate_then_create_a_staff_user(tmp_path: Path) -> None:
    env = _env(tmp_path)
    migrated = runner.invoke(cli, ["migrate"], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert "is current" in migrated.output
    created = runner.invoke(
        cli,
        ["admin", "create-user", "--email", "Ana@Example.org"],
        input="long enough pw\n" * 2,
        env=env,
    )
    assert created.exit_code == 0, created.output
    with Session(create_engine(env["KAIROS_DATABASE_URL"])) as session:
        user = session.exec(select(StaffUser)).one()
    assert user.email == "ana@example.org"
    again = runner.invoke(
        cli,
        ["admin", "create-user", "--email", "ana@example.org", "--password", "long enough pw"],
        env=env,
    )
    assert again.exit_code == 1 and "exists already" in again.output


def test_create_user_help_marks_only_the_email_as_required() -> None:
    result = runner.invoke(
        cli, ["admin", "create-user", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    lines = {
        next(word for word in line.split() if word.startswith("--")): line
        for line in result.output.splitlines()
        if " --" in line
    }
    assert "[required]" in lines["--email"]
    assert "[required]" not in lines["--password"]
    assert "asked for" in lines["--password"]


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner.invoke(cli, ["migrate"], env=env)
    result = runner.invoke(
        cli, ["admin", "create-user", "--email", "a@b.org", "--password", "short"], env=env
    )
    assert result.exit_code == 1 and "at least 10" in result.output


def test_serve_and_create_user_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for args in (
        ["serve", "--port", "0"],
        ["admin", "create-user", "--email", "a@b.org", "--password", "long enough pw"],
    ):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 1
        assert "kairos migrate" in result.output


def test_postgres_without_a_secret_is_refused(tmp_path: Path) -> None:
    env = {
        **_env(tmp_path),
        "KAIROS_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none",
    }
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1
    assert "KAIROS_SECRET_KEY" in result.output


def test_embedded_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    from app.settings import Settings

    first = Settings(var_dir=tmp_path / "var").signing_key
    assert len(first) >= 48
    assert Settings(var_dir=tmp_path / "var").signing_key == first
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"KAIROS_SECRET_KEY": "short"}, "KAIROS_SECRET_KEY"),
        (
            {
                "KAIROS_SECRET_KEY": "x" * 31,
                "KAIROS_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none",
            },
            "KAIROS_SECRET_KEY",
        ),
        ({}, "secret_key"),  # the generated file, found empty
    ],
)
def test_serve_refuses_an_empty_or_short_secret(
    tmp_path: Path, env: dict[str, str], source: str
) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("")
    result = runner.invoke(cli, ["serve", "--port", "0"], env={**_env(tmp_path), **env})
    assert result.exit_code == 1
    assert source in result.output and "at least 32" in result.output


def test_a_secret_that_cannot_be_written_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import Settings

    def fail(_nbytes: int) -> str:
        raise OSError("no entropy")

    monkeypatch.setattr(secrets, "token_urlsafe", fail)
    with pytest.raises(OSError):
        Settings(var_dir=tmp_path / "var").signing_key  # noqa: B018
    assert list((tmp_path / "var").iterdir()) == []
    monkeypatch.undo()
    assert len(Settings(var_dir=tmp_path / "var").signing_key) >= 48
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["secret_key"]
