"""The Redis ACL file's text (healer.adapters.store.acl): what redis-server loads is checked
in tests/integration/test_redis_acl.py; here, what the file must and must not hold."""

from __future__ import annotations

import hashlib

import pytest

from healer.adapters.store import acl

PASSWORDS = {role.env: f"secret-{role.user}" for role in acl.ROLES} | {
    "REDIS_PASSWORD": "secret-admin"
}


def test_the_file_holds_hashes_never_a_password() -> None:
    text = acl.render(PASSWORDS)
    for password in PASSWORDS.values():
        assert password not in text
        assert "#" + hashlib.sha256(password.encode()).hexdigest() in text


def test_default_is_off_and_every_role_has_its_user() -> None:
    lines = acl.render(PASSWORDS).splitlines()
    assert lines[0].split()[:3] == ["user", "default", "off"]
    users = [line.split()[1] for line in lines]
    assert users == ["default", "healthcheck", *(r.user for r in acl.ROLES), "admin"]
    assert "replica" in acl.render(
        PASSWORDS | {"REDIS_PASSWORD_REPLICA": "r", "REDIS_PASSWORD_SENTINEL": "s"}, ha=True
    )


def test_the_database_number_goes_into_the_channel_patterns() -> None:
    text = acl.render(PASSWORDS, db=15)
    assert "&/15.celery.pidbox" in text and "{db}" not in text


def test_no_role_but_the_admin_gets_everything() -> None:
    for role in acl.ROLES:
        assert "~*" not in role.rules.split(), role.user
        assert "-@dangerous" in role.rules or "+@all" not in role.rules, role.user
        assert "grant" not in role.rules or role.user == "healer-worker"


def test_an_empty_password_is_refused_by_name() -> None:
    with pytest.raises(acl.MissingPassword, match="REDIS_PASSWORD_API"):
        acl.render({k: v for k, v in PASSWORDS.items() if k != "REDIS_PASSWORD_API"})


def test_main_prints_the_file_or_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    assert acl.main(["--single-host"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("user healer on #")
    monkeypatch.delenv("REDIS_PASSWORD")
    assert acl.main(["--single-host"]) == 1
    assert "REDIS_PASSWORD is empty" in capsys.readouterr().err
