"""API keys: the store, the keys file (YAML / JSON), the settings, `metering api-key new`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from api.keys import ApiKey, KeyConfigError, KeyStore, hash_key, load_keys, new_key
from api.keys_cli import register
from api.settings import ApiSettings
from cli.main import app


def entry(name: str, key: str, write: list[str] | None = None,
          read: list[str] | None = None) -> dict[str, object]:
    return {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(),
            "write": write or [], "read": read or []}


def test_the_store_finds_a_key_by_its_digest_only() -> None:
    store = KeyStore([ApiKey.model_validate(entry("billing", "k-billing", write=["acme"])),
                      ApiKey.model_validate(entry("reader", "k-reader", read=["*"]))])
    assert len(store) == 2 and store.names == ["billing", "reader"]
    found = store.authenticate("k-billing")
    assert found is not None and found.name == "billing"
    assert found.can_write("acme") and not found.can_write("globex")
    assert not found.can_read("acme")
    reader = store.authenticate("k-reader")
    assert reader is not None and reader.can_read("anyone") and not reader.can_write("anyone")
    assert store.authenticate("k-billin") is None
    assert store.authenticate(hash_key("k-billing")) is None  # the digest is not the key
    assert store.authenticate("") is None


def test_new_keys_are_random_and_prefixed() -> None:
    a, b = new_key(), new_key()
    assert a != b and a.startswith("mtr_") and len(a) == 4 + 43
    assert hash_key(a) == hashlib.sha256(a.encode()).hexdigest()


def test_keys_file_yaml_and_json_plus_inline(tmp_path: Path) -> None:
    yml = tmp_path / "keys.yaml"
    yml.write_text(yaml.safe_dump({"keys": [entry("svc", "k1", write=["acme", "globex"])]}))
    js = tmp_path / "keys.json"
    js.write_text(json.dumps([entry("dash", "k2", read=["acme"])]))  # a bare list works too
    inline = [ApiKey.model_validate(entry("test", "k3", read=["*"], write=["*"]))]
    assert load_keys(yml, inline).names == ["test", "svc"]
    store = load_keys(js)
    dash = store.authenticate("k2")
    assert dash is not None and dash.read == ["acme"]
    upper = entry("svc", "k1")
    upper["sha256"] = str(upper["sha256"]).upper()  # digests are normalised to lower case
    assert load_keys(None, [ApiKey.model_validate(upper)]).authenticate("k1") is not None


@pytest.mark.parametrize(("content", "message"), [
    ("keys:\n  - name: a\n    key: mtr_secret\n    sha256: " + "0" * 64, "key: Extra inputs"),
    ("keys:\n  - name: a\n    sha256: mtr_not_a_digest", "64 hex digits"),
    ("keys: [", "not valid YAML"),
    ("keys:\n  - name: a\n    sha256: " + "a" * 64 + "\n  - name: b\n    sha256: " + "a" * 64,
     "same sha256"),
])
def test_a_bad_keys_file_says_what_is_wrong(tmp_path: Path, content: str,
                                            message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(KeyConfigError, match=message):
        load_keys(path)
    with pytest.raises(KeyConfigError, match="cannot read"):
        load_keys(tmp_path / "missing.yaml")


def test_settings_take_the_file_and_inline_keys_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("METERING_API_KEYS_FILE", str(tmp_path / "keys.yaml"))
    monkeypatch.setenv("METERING_API_KEYS", json.dumps([entry("ci", "k-ci", write=["x"])]))
    monkeypatch.setenv("METERING_API_MAX_BATCH_EVENTS", "50")
    s = ApiSettings()
    assert s.keys_file == tmp_path / "keys.yaml"
    assert [k.name for k in s.keys] == ["ci"] and s.keys[0].write == ["x"]
    assert (s.max_batch_events, s.max_event_bytes) == (50, 1_000_000)


def test_api_key_new_prints_the_key_once_and_an_entry_with_its_digest_only(
        tmp_path: Path) -> None:
    assert "api-key" in [group.name for group in app.registered_groups]  # `metering api-key`
    # on an app of its own: metering's callback would point logging at the runner's stderr
    cli = typer.Typer()
    register(cli)
    result = CliRunner().invoke(cli, ["api-key", "new", "--name", "checkout", "--write",
                                      "acme", "--write", "globex", "--read", "acme"])
    assert result.exit_code == 0, result.output
    key = result.stderr.strip().rsplit(" ", 1)[-1]
    assert key.startswith("mtr_") and key not in result.stdout
    (tmp_path / "keys.yaml").write_text(result.stdout)
    found = load_keys(tmp_path / "keys.yaml").authenticate(key)
    assert found is not None
    assert (found.name, found.write, found.read) == ("checkout", ["acme", "globex"], ["acme"])
