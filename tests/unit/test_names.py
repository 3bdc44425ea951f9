import pytest

from hostctl.core.errors import HostctlError
from hostctl.core.names import check_app_name, check_env_key, check_hostname


@pytest.mark.parametrize("name", ["a", "blog", "my-api", "a1", "a" * 30])
def test_valid_app_names(name):
    assert check_app_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "1app", "Blog", "my_api", "a" * 31, "app-", "-app", "a.b", "app;rm"]
)
def test_invalid_app_names_are_refused_with_a_hint(name):
    with pytest.raises(HostctlError) as caught:
        check_app_name(name)
    assert "invalid app name" in caught.value.message
    assert caught.value.hint and "DNS label" in caught.value.hint


def test_hostnames_are_normalised_and_checked():
    assert check_hostname("Blog.Example.COM.") == "blog.example.com"
    for bad in ("bad host", "-x.com", "x..com", "a" * 64 + ".com"):
        with pytest.raises(HostctlError):
            check_hostname(bad)


def test_env_keys():
    assert check_env_key("DATABASE_URL") == "DATABASE_URL"
    with pytest.raises(HostctlError):
        check_env_key("1BAD")
