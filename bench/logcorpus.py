"""A deterministic corpus of ngrok agent log lines, for the log-parsing benchmark.

The lines follow what the real agents write with ``--log stdout`` (logfmt): the startup lines of ngrok
2.3.41 and 3.x, the ``start``/``end`` pair logged for every API request, tunnel and session events, debug
chatter, and the error lines an agent writes when it cannot reach its service, whose ``err`` values are
quoted strings with Go escapes (``\\"``, ``\\r\\n``, ``\\t``, ``\\u00e9``). Every level the agents use
appears: ``dbug``, ``info``, ``warn``, ``eror`` and ``crit``.

    python3 bench/logcorpus.py 1000 > sample.log     # print 1000 lines
"""

from __future__ import annotations

import random
import sys
from typing import Callable, List, Tuple

_HOSTS = ("tunnel.us.ngrok.com", "tunnel.eu.ngrok.com", "connect.ngrok-agent.com", "dns.google.com")
_RESOLVER = "10.255.255.53:53"


def _hex(rng: random.Random, size: int) -> str:
    return f"{rng.getrandbits(size * 4):0{size}x}"


def _quoted(text: str) -> str:
    """``text`` as Go's %q writes it in a logfmt value."""
    out = []
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) > 126:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _api_pair(rng: random.Random) -> List[Tuple[str, str]]:
    page = rng.choice(("/api/tunnels", "/api/endpoints", f"/api/tunnels/http-8080-{_hex(rng, 8)}",
                       "/api/requests/http", "/api/status"))
    request_id = _hex(rng, 16)
    return [
        ("info", f"msg=start pg={page} id={request_id}"),
        ("info", f"msg=end pg={page} id={request_id} status={rng.choice((200, 200, 201, 204, 404))} "
                 f"dur={rng.randint(80, 900)}.{rng.randint(0, 999):03d}\u00b5s"),
    ]


def _startup(rng: random.Random) -> List[Tuple[str, str]]:
    port = rng.randint(4040, 4100)
    return [
        ("info", 'msg="no configuration paths supplied"'),
        ("info", 'msg="using configuration at default config path" path=/root/.config/ngrok/ngrok.yml'),
        ("info", 'msg="open config file" path=/root/.config/ngrok/ngrok.yml err=nil'),
        ("info", f'msg="starting web service" obj=web addr=127.0.0.1:{port} allow_hosts=[]'),
        ("info", 'msg="tunnel session started" obj=tunnels.session'),
        ("info", f'msg="client session established" obj=csess id={_hex(rng, 12)}'),
    ]


def _tunnel_event(rng: random.Random) -> List[Tuple[str, str]]:
    name = f"http-{rng.randint(1000, 9999)}-{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 12)}"
    url = f"https://{_hex(rng, 12)}.ngrok-free.app"
    return [
        ("info", f'msg="started tunnel" obj=tunnels name={name} addr=http://localhost:8080 url={url}'),
        ("info", f'msg="join connections" obj=join id={_hex(rng, 12)} l=127.0.0.1:8080 '
                 f"r=203.0.113.{rng.randint(1, 254)}:{rng.randint(1024, 65535)}"),
    ]


def _debug(rng: random.Random) -> List[Tuple[str, str]]:
    choice = rng.randint(0, 3)
    if choice == 0:
        return [("dbug", f'msg="heartbeat received" obj=tunnels.session '
                         f"latency={rng.randint(5, 90)}.{rng.randint(0, 999999):06d}ms")]
    if choice == 1:
        host = _hex(rng, 8)
        return [("dbug", f'msg="decoded response" obj=csess id={_hex(rng, 12)} sid={rng.randint(1, 99)} '
                         f'resp="&{{ClientId:{_hex(rng, 32)} Url:https://{host}.ngrok.io Proto:https '
                         f'Opts:map[Auth: Hostname:{host}.ngrok.io] Error:}}" err=nil')]
    if choice == 2:
        return [("dbug", f'msg="open stream" obj=csess id={_hex(rng, 12)} clientid={_hex(rng, 32)} '
                         f"streamid={rng.randint(1, 5000)}")]
    return [("dbug", f'msg="read message" obj=tunnels.session size={rng.randint(20, 400)} typ=*msg.ReqProxy')]


def _warning(rng: random.Random) -> List[Tuple[str, str]]:
    if rng.random() < 0.5:
        err = 'Post "https://update.equinox.io/check": context deadline exceeded (Client.Timeout exceeded)'
        return [("warn", f'msg="failed to check for update" obj=updater err={_quoted(err)}')]
    return [("warn", 'msg="can\'t bind default web address, trying alternatives" obj=web addr=127.0.0.1:4040')]


def _error(rng: random.Random) -> List[Tuple[str, str]]:
    host = rng.choice(_HOSTS)
    choice = rng.randint(0, 4)
    if choice == 0:
        err = f"dial tcp: lookup {host} on {_RESOLVER}: no such host"
    elif choice == 1:
        err = f'Get "https://dns.google.com/resolve?cd=true&name={host}&type=AAAA": dial tcp: i/o timeout'
    elif choice == 2:
        err = ("authentication failed: Your account is limited to 1 simultaneous ngrok agent session.\r\n"
               "You can run multiple tunnels on a single agent session using a configuration file.\r\n"
               "To learn more, see https://ngrok.com/docs/secure-tunnels/ngrok-agent/reference/config/\r\n\r\n"
               "ERR_NGROK_108\r\n")
    elif choice == 3:
        err = "failed to start tunnel: The tunnel 'caf\u00e9' was not found\t(check \"name\")\r\n\r\nERR_NGROK_8012\r\n"
    else:
        err = f"resolved {host} has no records"
    return [("eror", f'msg="failed to reconnect session" obj=csess id={_hex(rng, 12)} err={_quoted(err)}')]


def _critical(rng: random.Random) -> List[Tuple[str, str]]:
    err = f"failed to start web service: listen tcp 127.0.0.1:{rng.randint(4040, 4100)}: bind: address already in use"
    return [("crit", f'msg="command failed" err={_quoted(err)}')]


def _stop(rng: random.Random) -> List[Tuple[str, str]]:
    return [
        ("info", 'msg="received stop request" obj=app stopReq="{err:<nil> restart:false}"'),
        ("info", 'msg="session closing" obj=tunnels.session err=nil'),
    ]


# (weight, producer): api pairs dominate, as in a real agent's log under use.
_MIX: List[Tuple[int, Callable[[random.Random], List[Tuple[str, str]]]]] = [
    (40, _api_pair),
    (8, _tunnel_event),
    (24, _debug),
    (6, _warning),
    (14, _error),
    (1, _critical),
    (1, _startup),
    (1, _stop),
]


def generate(count: int, seed: int = 6) -> List[str]:
    """``count`` log lines, the same for the same ``count`` and ``seed``."""
    rng = random.Random(seed)
    producers = [producer for weight, producer in _MIX for _ in range(weight)]
    seconds = 1700000000
    lines: List[str] = []
    pending: List[Tuple[str, str]] = _startup(rng)
    while len(lines) < count:
        if not pending:
            pending = rng.choice(producers)(rng)
        level, rest = pending.pop(0)
        seconds += rng.randint(0, 2)
        lines.append(f"t={_timestamp(seconds)} lvl={level} {rest}")
    return lines


def _timestamp(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+0000"


def _civil_from_days(days: int) -> Tuple[int, int, int]:
    """Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm)."""
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return year_of_era + era * 400 + (1 if month <= 2 else 0), month, day


if __name__ == "__main__":
    for line in generate(int(sys.argv[1]) if len(sys.argv) > 1 else 50):
        print(line)
