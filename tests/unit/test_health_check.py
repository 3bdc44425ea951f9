import pytest

from hostctl.core.errors import HostctlError
from hostctl.deploy.health import listening, wrong_port
from hostctl.stack.app_config import HealthCheck, parse_app_config
from hostctl.stack.plan import RuntimeSpec

# /proc/net/tcp and tcp6 of a container: 8080 on all addresses, 5000 on 127.0.0.1, an
# established connection from 8080, Docker's DNS on 127.0.0.11, and 9000 on all IPv6
# addresses and 7000 on ::1.
TABLES = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 1 1
   1: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 2 1
   2: 020012AC:1F90 010012AC:D2F0 01 00000000:00000000 00:00000000 00000000 10001        0 3 1
   3: 0B00007F:92C3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1
cat: /proc/net/tcp6: No such file or directory
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:2328 00000000000000000000000000000000:0000 0A 0 0
   1: 00000000000000000000000001000000:1B58 00000000000000000000000000000000:0000 0A 0 0
"""


def test_listening_sockets_are_read_from_proc_net_tcp():
    assert listening(TABLES) == {
        ("any", 8080),
        ("loopback", 5000),
        ("loopback", 0x92C3),
        ("any", 9000),
        ("loopback", 7000),
    }


def test_the_error_names_the_port_the_process_listens_on():
    reason = str(wrong_port(TABLES, 3000))
    assert "listens on port 8080, 9000, not on $PORT (3000)" in reason
    assert "`port: 8080` in hostctl.yml" in reason and "EXPOSE 8080" in reason


def test_listening_on_loopback_only_is_named():
    reason = str(wrong_port(TABLES, 5000))
    assert "127.0.0.1 only" in reason and "listen on 0.0.0.0:5000" in reason


def test_nothing_listening_says_nothing_more():
    assert wrong_port("", 5000) is None
    assert wrong_port(TABLES.replace(" 0A ", " 01 "), 5000) is None


def test_uptime_health_check():
    config = parse_app_config("healthcheck:\n  type: uptime\n  seconds: 3\n")
    assert config.healthcheck == HealthCheck(type="uptime", seconds=3.0)
    assert parse_app_config("healthcheck: {path: /up}\n").healthcheck == HealthCheck(path="/up")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("healthcheck: {type: tcp}", "healthcheck/type: should be http or uptime"),
        ("healthcheck: {type: uptime, path: /}", "healthcheck/path: unknown key"),
        ("healthcheck: {seconds: 3}", "healthcheck/seconds: unknown key"),
        ("healthcheck: {type: uptime, seconds: 0}", "healthcheck/seconds"),
    ],
)
def test_bad_health_checks_name_the_key(text, problem):
    with pytest.raises(HostctlError) as caught:
        parse_app_config(text)
    assert problem in caught.value.message


def test_a_release_stored_before_health_types_still_reads():
    spec = RuntimeSpec.from_json(
        {
            "port": 5000,
            "processes": {"web": None},
            "release_command": None,
            "health": {"path": "/", "timeout": 60.0, "content": None},
            "resources": {"memory": 1, "cpus": None, "pids": 1},
        }
    )
    assert spec.health.type == "http"
