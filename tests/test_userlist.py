"""The userlist parser shipped in the generated repo (hub/userlist.py)."""

import pytest

from template_helpers import PROJECT_TEMPLATE, load_module

userlist = load_module(PROJECT_TEMPLATE / "hub" / "userlist.py", "userlist")


def parse(text):
    return userlist.parse_userlist(text, source="userlist")


def test_names_and_admins():
    users = parse("alice admin\nbob\n")
    assert users.allowed == {"alice", "bob"}
    assert users.admins == {"alice"}


def test_blank_lines_comments_and_whitespace_are_ignored():
    # The 2017 recipe crashed on exactly this: a blank line read from a file is "\n".
    text = "\n   \n# a comment\n  alice   admin   # trailing comment\n\t bob \t\n\n"
    users = parse(text)
    assert users.allowed == {"alice", "bob"}
    assert users.admins == {"alice"}


def test_crlf_and_byte_order_mark(tmp_path):
    path = tmp_path / "userlist"
    path.write_bytes("\ufeffalice admin\r\nbob\r\n\r\n".encode("utf-8"))
    users = userlist.read_userlist(path)
    assert users.allowed == {"alice", "bob"}
    assert users.admins == {"alice"}


def test_names_are_lower_cased_like_jupyterhub():
    users = parse("Alice ADMIN\nBoB\n")
    assert users.allowed == {"alice", "bob"}
    assert users.admins == {"alice"}


def test_duplicates_merge():
    users = parse("alice\nalice admin\n")
    assert users.allowed == {"alice"}
    assert users.admins == {"alice"}


def test_missing_file_means_no_users(tmp_path):
    users = userlist.read_userlist(tmp_path / "absent")
    assert users.allowed == set() and users.admins == set()


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("alice root", "unknown word 'root'"),
        ("alice admin extra", "unknown word 'extra'"),
        ("-alice", "not a valid user name"),
        ("alice-", "not a valid user name"),
        ("al--ice", "not a valid user name"),
        ("a" * 40, "not a valid user name"),
        ("alice;rm", "not a valid user name"),
        ("$(reboot)", "not a valid user name"),
        ("`id`", "not a valid user name"),
        ("{{7*7}}", "not a valid user name"),
        ("al'ice", "not a valid user name"),
        ('"alice"', "not a valid user name"),
        ("alice\\", "not a valid user name"),
        ("%s%n", "not a valid user name"),
        ("аlice", "not a valid user name"),  # Cyrillic а: a look-alike
        ("ａｌｉｃｅ", "not a valid user name"),  # full-width letters
    ],
)
def test_malformed_lines_name_the_line_number(line, fragment):
    with pytest.raises(userlist.UserlistError) as error:
        parse(f"# header\n\nbob\n{line}\n")
    message = str(error.value)
    assert message.startswith("userlist:4:"), message
    assert fragment in message


def test_command_line_reports_errors(tmp_path, capsys):
    path = tmp_path / "userlist"
    path.write_text("alice admin\nbad!name\n")
    assert userlist.main(["userlist.py", str(path)]) == 1
    assert f"{path}:2:" in capsys.readouterr().err
    path.write_text("alice admin\nbob\n")
    assert userlist.main(["userlist.py", str(path)]) == 0
    assert "2 users, 1 admins" in capsys.readouterr().out


def test_prompt_validation_and_parser_agree_on_user_names(hook_pre):
    """The pre-generation hook cannot import the generated parser, so it keeps its own copy."""
    assert hook_pre.USERNAME.pattern == userlist.USERNAME_PATTERN.pattern
