"""SMS core: command parsing, log redaction, splitting and paging, media links."""

from __future__ import annotations

import pytest

from delta3_core.errors import AuthError
from delta3_core.sms.commands import parse_command, redact
from delta3_core.sms.media_links import read_token, sign_token
from delta3_core.sms.paging import SMS_MAX_CHARS, first_page, next_page, save_pages, split_text


@pytest.mark.parametrize("body, name, args", [
    ("help", "help", ()),
    ("  HeLp ", "help", ()),
    ("REGISTER a@b.co pw12345678", "register", ("a@b.co", "pw12345678")),
    ("link A@B.CO secret-pass", "link", ("A@B.CO", "secret-pass")),
    ("Key AIzaXYZ", "key", ("AIzaXYZ",)),
    ("clear", "clear", ()),
    ("Unlink", "unlink", ()),
    ("MORE", "more", ()),
    ("model", "model", ()),
    ("Model gemini-3.7-flash", "model", ("gemini-3.7-flash",)),
    ("model the data with pandas", "chat", ()),
    ("STOP", "stop", ()),
    ("stop all", "stop", ()),
    ("Unsubscribe", "stop", ()),
    ("start", "start", ()),
    ("", "empty", ()),
    ("   ", "empty", ()),
    ("write a fizzbuzz", "chat", ()),
    # Command words inside ordinary sentences stay chat messages.
    ("help me write a parser", "chat", ()),
    ("clear the screen in my script", "chat", ()),
    ("key points of asyncio?", "chat", ()),
    ("stop the loop after 10 rounds", "chat", ()),
])
def test_parse_command(body, name, args):
    command = parse_command(body)
    assert (command.name, command.args) == (name, args)


def test_command_word_with_wrong_arguments_is_chat_with_usage_hint():
    command = parse_command("register only@email.com")
    assert command.name == "chat"
    assert command.usage_for == "register"


def test_redact_never_shows_passwords_keys_or_chat_text():
    assert "hunter2-secret" not in redact(parse_command("LINK alice@example.com hunter2-secret"))
    assert "alice@" not in redact(parse_command("REGISTER alice@example.com hunter2-secret"))
    assert "AIzaSECRET" not in redact(parse_command("KEY AIzaSECRET"))
    assert "my private plan" not in redact(parse_command("my private plan"))


def test_short_text_is_one_message_unchanged():
    assert split_text("hello") == ["hello"]
    assert split_text("x" * SMS_MAX_CHARS) == ["x" * SMS_MAX_CHARS]


def test_long_text_splits_in_order_within_limit_and_loses_nothing():
    words = [f"w{i}" for i in range(2000)]
    text = " ".join(words)
    parts = split_text(text)
    assert len(parts) > 1
    assert all(len(p) <= SMS_MAX_CHARS for p in parts)
    for i, part in enumerate(parts, 1):
        assert part.endswith(f"({i}/{len(parts)})")
    rebuilt = " ".join(p.rsplit("\n", 1)[0] for p in parts)
    assert rebuilt.split() == words


def test_split_prefers_paragraph_breaks():
    text = ("a" * 900) + "\n\n" + ("b" * 900)
    parts = split_text(text)
    assert parts[0].startswith("a") and "b" not in parts[0]
    assert parts[1].startswith("b")


def test_unbroken_text_is_cut_hard():
    parts = split_text("z" * 5000)
    assert all(len(p) <= SMS_MAX_CHARS for p in parts)
    assert "".join(p.rsplit("\n", 1)[0] for p in parts) == "z" * 5000


def test_paging_sends_three_then_more_until_done():
    parts = [f"part {i}" for i in range(1, 8)]
    now, later = first_page(parts)
    assert now[:2] == ["part 1", "part 2"] and now[2].startswith("part 3")
    assert "Reply MORE" in now[2] and "(3/7)" in now[2]
    now, later, state = next_page(save_pages(later, 7))
    assert [n.split("\n")[0] for n in now] == ["part 4", "part 5", "part 6"] and "(6/7)" in now[2]
    now, later, state = next_page(state)
    assert now == ["part 7"] and later == [] and state == ""


def test_media_token_roundtrip_and_expiry():
    token = sign_token("s" * 40, "user1", "plots/chart.png", ttl_s=60, now=1000)
    assert read_token("s" * 40, token, now=1030) == ("user1", "plots/chart.png")
    with pytest.raises(AuthError, match="expired"):
        read_token("s" * 40, token, now=1061)


def test_media_token_cannot_be_forged_or_moved_to_another_file():
    token = sign_token("s" * 40, "user1", "a.png", now=1000)
    payload, mac = token.split(".")
    other = sign_token("s" * 40, "user2", "b.png", now=1000).split(".")[0]
    with pytest.raises(AuthError):
        read_token("s" * 40, f"{other}.{mac}", now=1001)
    with pytest.raises(AuthError):
        read_token("t" * 40, token, now=1001)
    with pytest.raises(AuthError):
        read_token("s" * 40, "garbage", now=1001)


def test_aws_media_link_is_an_s3_presigned_url_that_expires(settings, mock_aws_account):
    import urllib.parse
    from dataclasses import replace
    from types import SimpleNamespace

    from delta3_core.sms.media_links import urls_for

    services = SimpleNamespace(settings=replace(settings, backend="aws", bucket="delta3-media-test"))
    [url] = urls_for(services, "user1", ["plots/chart.png"])
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qs(parsed.query)
    assert "delta3-media-test" in parsed.netloc + parsed.path
    assert parsed.path.endswith("/users/user1/workspace/plots/chart.png")
    assert query["X-Amz-Expires"] == ["3600"]


def test_media_links_skip_paths_outside_the_workspace(settings):
    from dataclasses import replace
    from types import SimpleNamespace

    from delta3_core.sms.media_links import read_token, urls_for

    services = SimpleNamespace(settings=replace(settings, public_url="https://x.test"))
    urls = urls_for(services, "user1", ["../../etc/passwd.png", "ok.png"])
    assert len(urls) == 1
    assert read_token(settings.secret_key, urls[0].rsplit("/", 1)[1]) == ("user1", "ok.png")


def test_twilio_client_sends_in_order_with_media_on_the_first(sms_settings, fake_twilio):
    from delta3_core.sms.sender import make_client, send_messages
    from tests.fixtures.twilio import PHONE, TWILIO_NUMBER

    sids = send_messages(make_client(sms_settings), PHONE, TWILIO_NUMBER, ["one", "two"], ["https://x.test/a.png"])
    assert len(sids) == 2 and all(s.startswith("SM") for s in sids)
    assert [(m["body"], m["media"]) for m in fake_twilio.messages] == [("one", ["https://x.test/a.png"]), ("two", [])]


def test_twilio_refusals_stop_sending_without_crashing(sms_settings, fake_twilio, caplog):
    from dataclasses import replace

    from delta3_core.sms.sender import make_client, send_messages
    from tests.fixtures.twilio import PHONE, TWILIO_NUMBER

    fake_twilio.opted_out.add(PHONE)
    assert send_messages(make_client(sms_settings), PHONE, TWILIO_NUMBER, ["a", "b"]) == []
    wrong = make_client(replace(sms_settings, twilio_auth_token="0" * 32))
    assert send_messages(wrong, "+14155550100", TWILIO_NUMBER, ["a"]) == []
    assert "code 20003" in caplog.text
    assert fake_twilio.messages == []
