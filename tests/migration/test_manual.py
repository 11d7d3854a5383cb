"""What the codemod leaves to a person, and what it leaves alone: receivers it can prove are
something else, `# noqa`, shadowed names, the suppression comment, and stable ids."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

from storage_guard.config import load_config
from storage_guard.migration import (
    ManualItem,
    SourceFile,
    StorageLayer,
    load_layer,
    migrate_command,
    migrate_source,
)
from storage_guard.modules import ModulePath

HERE = SourceFile(ModulePath("src.api.handlers"), "src/api/handlers.py")


def migrate(source: str, layer: StorageLayer, where: SourceFile = HERE) -> tuple[str, list[str]]:
    migration = migrate_source(source, where, layer)
    return migration.migrated, [f"{item.line}: {item.kind}" for item in migration.manual]


def test_receivers_provably_not_the_storage_are_not_listed(layer: StorageLayer) -> None:
    source = (
        "import redis.asyncio as redis\n"
        "\n"
        "\n"
        "class Handler:\n"
        "    def __init__(self, storage, url: str) -> None:\n"
        "        self.storage = storage\n"
        "        self.url = url\n"
        "\n"
        "    async def run(self, storage, key: str) -> object:\n"
        "        redis_storage = redis.Redis.from_url(self.url)\n"
        "        await storage.redis_client.get(key)\n"
        "        await self.storage.redis_client.get(key)\n"
        "        await redis_storage.get(key)\n"
        "        return await self.storage.get(key)\n"
    )
    migrated, manual = migrate(source, layer)
    assert migrated == source
    assert manual == ["14: unproven-call"], "only the receiver that may be the storage"


def test_an_attribute_only_assigned_other_calls_is_not_listed(layer: StorageLayer) -> None:
    source = (
        "import redis.asyncio as redis\n"
        "\n"
        "\n"
        "class Cache:\n"
        "    def __init__(self, url: str, make_storage) -> None:\n"
        "        self.redis_storage = redis.Redis.from_url(url)\n"
        "        self.storage = make_storage()\n"
        "\n"
        "    async def run(self, key: str) -> object:\n"
        "        await self.redis_storage.get(key)\n"
        "        return await self.storage.get(key)\n"
    )
    assert migrate(source, layer)[1] == ["11: unproven-call"]


def test_a_receiver_bound_from_a_storage_named_call_stays_listed(layer: StorageLayer) -> None:
    source = (
        "async def run(get_storage, key: str) -> object:\n"
        "    storage = get_storage()\n"
        "    return await storage.get(key)\n"
    )
    assert migrate(source, layer)[1] == ["3: unproven-call"]


def test_statements_marked_noqa_for_their_code_are_left_alone(layer: StorageLayer) -> None:
    source = (
        "from src.storage.redis_storage import RedisStorage  # noqa: STG002\n"
        "from src.storage.async_redis_storage import (  # noqa: STG002\n"
        "    AsyncRedisStorage,\n"
        ")\n"
        "from src.storage._keys import KeySchema  # noqa\n"
        "from src.storage._models import ProxyTarget  # noqa: STG003\n"
        "\n"
        "\n"
        "async def run(storage: AsyncRedisStorage, target: ProxyTarget) -> None:\n"
        "    await storage.get('k')  # noqa\n"
        "    await storage.get_proxy_target(  # noqa: STG001\n"
        "        'h'\n"
        "    )\n"
        "    await storage.delete('k')  # noqa: E501\n"
    )
    migrated, manual = migrate(source, layer)
    assert migrated == source.replace(
        "from src.storage._models import ProxyTarget  # noqa: STG003\n",
        "from src.storage import ProxyTarget  # noqa: STG003\n",
    ).replace("await storage.delete('k')", "await storage.adelete('k')")
    assert manual == []


def test_a_name_the_facade_import_would_shadow_is_reported(layer: StorageLayer) -> None:
    source = (
        "from src.legacy import UnifiedStorage\n"
        "from src.storage.redis_storage import RedisStorage\n"
        "\n"
        "LEGACY = UnifiedStorage\n"
        "\n"
        "\n"
        "def make(storage: RedisStorage) -> object:\n"
        "    return storage\n"
    )
    migration = migrate_source(source, HERE, layer)
    assert migration.migrated == source, "not rewritten"
    assert [(item.line, item.kind, item.code) for item in migration.manual] == [
        (2, "shadowing", "STG002")
    ]
    defined = (
        "from src.storage import redis_storage\n"
        "\n"
        "\n"
        "class UnifiedStorage: ...\n"
        "\n"
        "\n"
        "KIND = redis_storage.RedisStorage\n"
    )
    migrated, manual = migrate(defined, layer)
    assert migrated == defined
    assert manual == ["1: shadowing"]


def test_the_facades_own_name_is_no_shadow(layer: StorageLayer) -> None:
    source = (
        "from src.storage import UnifiedStorage\n"
        "from src.storage.redis_storage import RedisStorage\n"
        "\n"
        "KINDS = (UnifiedStorage, RedisStorage)\n"
    )
    migrated, manual = migrate(source, layer)
    assert migrated == (
        "from src.storage import UnifiedStorage\n\nKINDS = (UnifiedStorage, UnifiedStorage)\n"
    )
    assert manual == []


UNPROVEN = (
    "async def run(request, key: str) -> object:\n"
    "    await request.app.state.storage.get(key){first}\n"
    "    return await request.app.state.storage.get_proxy_target(\n"
    "        key{second}\n"
    "    )\n"
)


def test_the_suppression_comment_is_honoured_on_any_line_of_the_statement(
    layer: StorageLayer,
) -> None:
    assert migrate(UNPROVEN.format(first="", second=""), layer)[1] == [
        "2: unproven-call",
        "3: unproven-call",
    ]
    kind = UNPROVEN.format(first="  # storage-guard: ignore[unproven-call]", second="")
    assert migrate(kind, layer)[1] == ["3: unproven-call"]
    bare = UNPROVEN.format(first="", second=",  # storage-guard: ignore")
    assert migrate(bare, layer)[1] == ["2: unproven-call"]
    other_kind = UNPROVEN.format(first="  # storage-guard: ignore[construction]", second="")
    assert migrate(other_kind, layer)[1] == ["2: unproven-call", "3: unproven-call"]


def test_an_item_can_be_suppressed_by_its_id(layer: StorageLayer) -> None:
    source = UNPROVEN.format(first="", second="")
    first = migrate_source(source, HERE, layer).manual[0]
    marked = UNPROVEN.format(first=f"  # storage-guard: ignore[{first.id}]", second="")
    assert migrate(marked, layer)[1] == ["3: unproven-call"]


def ids(source: str, layer: StorageLayer, where: SourceFile = HERE) -> list[str]:
    return [item.id for item in migrate_source(source, where, layer).manual]


def test_ids_are_stable_when_lines_are_inserted_above(layer: StorageLayer) -> None:
    source = UNPROVEN.format(first="", second="")
    before = ids(source, layer)
    assert all(re.fullmatch(r"SGM-[0-9a-f]{8}", item) for item in before)
    assert len(set(before)) == 2
    shifted = "import os\n\n\n# A comment.\n" + source.replace("(key)", "(  key )")
    assert ids(shifted, layer) == before
    elsewhere = SourceFile(HERE.module, "src/api/other.py")
    assert set(ids(source, layer, elsewhere)).isdisjoint(before), "the path is part of it"


def test_identical_items_in_one_file_get_different_ids(layer: StorageLayer) -> None:
    line = "    await request.app.state.storage.get(key)\n"
    source = "async def run(request, key: str) -> None:\n" + line * 3
    found = ids(source, layer)
    assert len(found) == len(set(found)) == 3
    assert ids("# moved\n" + source, layer) == found


def test_items_the_lint_accepts_are_not_listed(layer: StorageLayer) -> None:
    source = "from src.storage import UnifiedStorage\n\nSTORAGE = UnifiedStorage()\n"
    assert migrate(source, layer)[1] == ["3: construction"]
    accepted = source.replace("()\n", "()  # noqa: STG003\n")
    assert migrate(accepted, layer)[1] == []
    ignored = SourceFile(HERE.module, HERE.relative, ignored=frozenset({"STG003"}))
    assert migrate(source, layer, ignored)[1] == []


def test_outside_every_source_root_absolute_imports_migrate_and_relative_ones_stay(
    tmp_path: Path,
) -> None:
    fixture = Path(__file__).parent / "fixtures" / "legacy_gateway" / "src" / "storage"
    shutil.copytree(fixture, tmp_path / "lib" / "src" / "storage")
    (tmp_path / "lib" / "src" / "main.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.storage-guard]\nsource-roots = ["lib"]\ncomposition-roots = ["lib/src/main.py"]\n'
    )
    tool = tmp_path / "tools" / "seed.py"
    tool.parent.mkdir()
    tool.write_text(
        "from src.storage.redis_storage import RedisStorage\n"
        "from ..storage.async_redis_storage import AsyncRedisStorage\n"
        "\n"
        "KINDS = (RedisStorage, AsyncRedisStorage)\n"
    )
    config = load_config(pyproject=tmp_path / "pyproject.toml")
    assert load_layer(config).notice is None
    stdout, stderr = io.StringIO(), io.StringIO()
    code = migrate_command([tool], config, mode="write", stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    assert tool.read_text() == (
        "from src.storage import UnifiedStorage\n"
        "from ..storage.async_redis_storage import AsyncRedisStorage\n"
        "\n"
        "KINDS = (UnifiedStorage, AsyncRedisStorage)\n"
    )
    assert "0 manual items" in stderr.getvalue()


def test_manual_items_compare_by_position_kind_and_message() -> None:
    one = ManualItem(1, 1, "import", "m", code="STG002", id="SGM-00000000")
    assert one == ManualItem(1, 1, "import", "m")
