"""Every free-text answer is validated: bad values stop generation and leave nothing behind."""

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from template_helpers import TEMPLATE_DIR, bake_ok, template_defaults

HOSTILE = [
    'a"b', "a'b", "a$b", "$(id)", "`id`", "a{b}", "{{ 7*7 }}", "{% raw %}", "a%b", "a\nb", "a\\b",
    "x" * 300, "аdmin",  # Cyrillic а
]
BAD_VALUES = {
    "project_name": ["", "Lab\nHub", "Lab $HOME", "Lab `id`", "Lab {{x}}", "Lab \\", "x" * 81],
    "project_slug": ["", "My-Hub", "hub_deploy", "-hub", "hub-", "../hub", "hub deploy", "a" * 64],
    "hostname": ["", "Hub.Example.org", "hub..example.org", "-hub.example.org", "hub.example.org.", "10.0.0.5",
                 "hub.example.123", "hub_example.org", "ｈｕｂ.example.org", "hub.example.org;rm", "a" * 64 + ".org"],
    "http_port": ["", "0", "65536", "80a", "-1", " 80", "8O"],
    "https_port": ["", "0", "70000", "443 ", "4 43", "80"],
    "hub_host_port": ["", "0", "99999", "8000;", "x"],
    "admin_users": ["-alice", "alice-", "al--ice", "alice;bob", "a" * 40, "alice\nbob", "ａlice"],
    "allowed_users": ["bob!", "b@b", "$(id)", "bob'", "b{o}b"],
    "github_client_id": ["abc def", "abc$def", "abc\n", "a/b", "x" * 201],
    "github_client_secret": ["sec ret", "sec$ret", "sec`ret`", 'sec"ret', "sec\\ret"],
    "github_allowed_organizations": ["-org", "org:", "org:team:x", "org name", "org;rm -rf /", "org/team"],
    "oidc_issuer": ["http://keycloak.example.org/realms/x", "keycloak.example.org", "https://", "https://kc.example.org/realms/x?a=b",
                    "https://kc.example.org/#x", "https://user@kc.example.org", "https://kc.example.org/realms/$(id)",
                    "https://kc .example.org", "ftp://kc.example.org", "https://-kc.example.org"],
    "oidc_client_id": ["client id", "client$id", "client#id", 'client"id', "c" * 301],
    "oidc_client_secret": ["sec ret", "sec$ret", "sec`ret`", "sec'ret", "sec#ret", "sec\\ret"],
    "notebook_image": ["ubuntu", "ubuntu:latest", "Ubuntu:1", "quay.io/jupyter/base-notebook:", "image:tag with space",
                       "image:$(id)", "image@sha256:123", "image:" + "x" * 129],
    "mem_limit": ["", "2", "2GB", "2g ", "-1G", "0G", "2 G", "1e3G"],
    "cpu_limit": ["", "0", "-1", "one", "1,5", "1.5.1", "0.0"],
    "docker_network": ["", "n", "-net", "net work", "net/work", "net$", "n" * 65],
    "data_volume": ["", "v", "C:", "vol:ume", "vol ume", "../vol"],
    # Checked whenever given; required with tls_mode letsencrypt (see test below).
    "letsencrypt_email": ["admin", "admin@", "@example.org", "admin@example", "a b@example.org",
                          "admin@example.org;id", "$(id)@example.org", "admin@@example.org", "admin@-x.org",
                          ".admin@example.org", "ａdmin@example.org", "admin@example.org\n"],
}
CHOICE_FIELDS = {
    "authenticator": ["saml"],
    "reverse_proxy": ["traefik"],
    "tls_mode": ["letsencrypt-magic", "acme"],
    "database": ["mysql"],
    "deployment_target": ["kubernetes", "nomad"],
}


def literal(value):
    """The exact string as a typed answer: cookiecutter renders --config-file and extra_context values with Jinja."""
    return "{% raw %}" + value + "{% endraw %}" if "{" in value else value


def cases():
    for field, values in BAD_VALUES.items():
        for value in values:
            yield pytest.param(field, value, id=f"{field}={value[:20]!r}")


@pytest.mark.parametrize("field, value", list(cases()))
def test_hook_rejects_bad_answer_with_a_clear_message(hook_pre, field, value):
    answers = dict(template_defaults())
    for key, default in answers.items():
        if isinstance(default, list):
            answers[key] = default[0]
    answers.update(project_slug="jupyterhub-deploy", notebook_image="quay.io/jupyter/scipy-notebook:2026-11-23")
    answers[field] = value
    with pytest.raises(hook_pre.AnswerError) as error:
        hook_pre.validate(answers, template_defaults())
    message = str(error.value)
    assert message.split(" = ")[0] in BAD_VALUES or message.startswith(field)
    assert "\n" not in message, "one line"


@pytest.mark.parametrize("field", sorted(BAD_VALUES))
def test_generation_stops_and_leaves_nothing(tmp_path, field, capfd):
    for number, value in enumerate([value for value in BAD_VALUES[field] if value][:3]):
        output_dir = tmp_path / f"out{number}"
        output_dir.mkdir()
        with pytest.raises(FailedHookException):
            cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(output_dir), extra_context={field: literal(value)})
        assert not any(output_dir.iterdir()), f"{field}={value!r} left files behind"
        assert f"error: {field} = " in capfd.readouterr().err


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: repr(value[:12]))
@pytest.mark.parametrize("field", ["project_name", "hostname", "admin_users", "github_client_secret",
                                   "github_allowed_organizations", "notebook_image", "mem_limit", "docker_network"])
def test_hostile_answers_are_rejected_or_land_inertly(cookies, capfd, field, value):
    result = cookies.bake(extra_context={field: literal(value)})
    if result.exit_code != 0:
        assert isinstance(result.exception, FailedHookException)
        assert f"error: {field} = " in capfd.readouterr().err
        return
    # Accepted: it must read back byte-for-byte where it landed, and the project stay sound.
    project = result.project_path
    assert field == "project_name", f"{field}={value!r} was accepted"
    assert (project / "README.md").read_text().startswith(f"# {value}\n")
    assert f"# {value}: JupyterHub" in (project / "docker-compose.yml").read_text()


@pytest.mark.parametrize("field, values", CHOICE_FIELDS.items())
def test_unknown_choices_are_refused(cookies, field, values):
    for value in values:
        result = cookies.bake(extra_context={field: value})
        assert result.exit_code != 0


@pytest.mark.parametrize("context, named", [
    ({"reverse_proxy": "host-nginx"}, "reverse_proxy nginx-container"),
    ({"docker_socket_proxy": True}, "docker_socket_proxy no"),
    ({"tls_mode": "letsencrypt", "letsencrypt_email": "ops@example.org"}, "tls_mode self-signed or provided"),
    ({"database": "postgresql"}, "database sqlite"),
])
def test_swarm_refuses_options_it_does_not_offer_in_one_line(cookies, capfd, context, named):
    result = cookies.bake(extra_context={"deployment_target": "swarm", **context})
    assert isinstance(result.exception, FailedHookException)
    error = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith("error: deployment_target = 'swarm': needs ") and named in error[0], error


def test_custom_flavor_needs_an_image(cookies, capfd):
    result = cookies.bake(extra_context={"notebook_image_flavor": "custom"})
    assert isinstance(result.exception, FailedHookException)
    assert "notebook_image" in capfd.readouterr().err


@pytest.mark.parametrize(
    "context",
    [
        {"notebook_image_flavor": "custom", "notebook_image": "registry.example.org:5000/lab/notebook:2026.1"},
        {"notebook_image": "quay.io/jupyter/base-notebook@sha256:" + "a" * 64},
        {"hostname": "hub.localtest.me", "https_port": "8443", "http_port": "8080"},
        {"admin_users": "Alice, bob-2", "allowed_users": "carol  dave"},
        {"github_allowed_organizations": "my-org, my-org:ta_team", "mem_limit": "512M", "cpu_limit": "0.5"},
        {"project_name": "Prof. O'Neil's Lab (2026)"},
        {"tls_mode": "letsencrypt", "letsencrypt_email": "Hub.Admin+le@Lab.Example.org"},
        {"authenticator": "oidc", "oidc_issuer": "https://gitlab.com", "oidc_client_id": "0123abcd" * 8,
         "oidc_client_secret": "gloas-0123456789abcdef"},
        {"authenticator": "oidc", "oidc_issuer": "https://login.microsoftonline.com/0000-1111/v2.0",
         "oidc_client_id": "00000000-1111-2222-3333-444444444444", "oidc_client_secret": "abc8Q~x.y_z-0+1/2="},
        {"authenticator": "oidc", "oidc_issuer": "https://auth.example.org:8443/application/o/jupyterhub/"},
    ],
)
def test_good_unusual_answers_are_accepted(cookies, context):
    bake_ok(cookies, context)


@pytest.mark.parametrize("context, message", [
    ({"tls_mode": "letsencrypt"}, "error: letsencrypt_email = '': required with tls_mode letsencrypt"),
    ({"tls_mode": "letsencrypt", "letsencrypt_email": "ops@example.org", "reverse_proxy": "host-nginx"},
     "error: tls_mode = 'letsencrypt': needs reverse_proxy nginx-container"),
])
def test_letsencrypt_needs_an_email_and_the_nginx_container(tmp_path, capfd, context, message):
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(tmp_path), extra_context=context)
    assert not any(tmp_path.iterdir())
    err = capfd.readouterr().err
    assert message in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
