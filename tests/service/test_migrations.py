"""Migrate-from-blank on both databases; the migrations and the ORM models agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, inspect

from image_skill.service.db.migrate import alembic_config, current_revision, upgrade_to_head
from image_skill.service.db.migrations import SCHEMA_HEAD
from image_skill.service.db.models import Base
from image_skill.service.settings import Settings, to_sync_url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, home=tmp_path / "home", environment="test")


@pytest.fixture
def sync_url(settings: Settings) -> str:
    return to_sync_url(settings.resolved_database_url)


@pytest.fixture
def engine(sync_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _schema_diffs(engine: Engine, metadata: MetaData = Base.metadata) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_schema_head_is_alembics_head(sync_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(sync_url))  # type: ignore[arg-type]
    assert script.get_current_head() == SCHEMA_HEAD
    assert len(script.get_heads()) == 1, "the migration history must not branch"


def test_upgrade_from_blank_creates_every_table(
    settings: Settings, sync_url: str, engine: Engine
) -> None:
    assert _tables(engine) == set()
    assert current_revision(sync_url) is None
    upgrade_to_head(settings)
    assert set(Base.metadata.tables) | {"alembic_version"} == _tables(engine)
    assert current_revision(sync_url) == SCHEMA_HEAD


def test_upgrade_twice_is_a_no_op(
    settings: Settings, sync_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade_to_head(settings)
    before = {name: inspect(engine).get_columns(name) for name in _tables(engine)}

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an up-to-date database must not run Alembic again")

    monkeypatch.setattr(command, "upgrade", refuse)
    upgrade_to_head(settings)
    after = {name: inspect(engine).get_columns(name) for name in _tables(engine)}
    assert after.keys() == before.keys()
    assert current_revision(sync_url) == SCHEMA_HEAD
    monkeypatch.undo()
    # Alembic itself agrees there is nothing left to do.
    command.upgrade(alembic_config(sync_url), "head")  # type: ignore[arg-type]
    assert current_revision(sync_url) == SCHEMA_HEAD


def test_models_and_migrated_schema_agree(settings: Settings, engine: Engine) -> None:
    upgrade_to_head(settings)
    diffs = _schema_diffs(engine)
    assert diffs == [], "ORM models and migrations differ; add a migration:\n" + "\n".join(
        map(str, diffs)
    )


def test_the_schema_comparison_would_see_a_missing_migration(
    settings: Settings, engine: Engine
) -> None:
    upgrade_to_head(settings)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("not_migrated", drifted, Column("id", Integer, primary_key=True))
    diffs = _schema_diffs(engine, drifted)
    assert [diff[0] for diff in diffs] == ["add_table"]


def test_downgrade_to_base_and_upgrade_again(
    settings: Settings, sync_url: str, engine: Engine
) -> None:
    upgrade_to_head(settings)
    config = alembic_config(sync_url)
    command.downgrade(config, "base")  # type: ignore[arg-type]
    assert _tables(engine) <= {"alembic_version"}
    assert current_revision(sync_url) is None
    upgrade_to_head(settings)
    assert current_revision(sync_url) == SCHEMA_HEAD
    assert set(Base.metadata.tables) <= _tables(engine)
    assert _schema_diffs(engine) == []


def test_each_revision_steps_down_and_up(settings: Settings, sync_url: str) -> None:
    config = alembic_config(sync_url)
    script = ScriptDirectory.from_config(config)  # type: ignore[arg-type]
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]
    upgrade_to_head(settings)
    for revision in revisions:  # newest first
        command.downgrade(config, "-1")  # type: ignore[arg-type]
        command.upgrade(config, "+1")  # type: ignore[arg-type]
        command.downgrade(config, "-1")  # type: ignore[arg-type]
        assert current_revision(sync_url) != revision
    assert current_revision(sync_url) is None
    command.upgrade(config, "head")  # type: ignore[arg-type]
    assert current_revision(sync_url) == SCHEMA_HEAD
