#!/usr/bin/env python3
# The swag container's certificate gate: its entry point and its health check. Copied into the
# render output by templates/swag.ts and mounted at /refresher/certificate-gate.py; docs/swag.md
# tells the story. Python's standard library only: SWAG's image has python3 (certbot and fail2ban
# are Python) but no dig, and the swag stand-in of the stack test has it for the same reason.
#
#   certificate-gate.py init [ARG...]   the entry point: while there is no certificate, wait until
#                                       every name of it resolves to REFRESHER_PUBLIC_ADDRESS (and a
#                                       failed attempt is REFRESHER_CERT_RETRY_SECONDS old), then
#                                       exec SWAG's own entry point, /init, as PID 1
#   certificate-gate.py health          the health check: healthy with a certificate and nginx
#                                       answering; when SWAG's attempt failed (it then sleeps for
#                                       ever), restarts the container once the retry is due
#
# Why: SWAG asks Let's Encrypt once, at start; when the validation fails it prints "Cert does not
# exist!" and sleeps in its init until someone recreates the container. Let's Encrypt allows 5
# failed validations per account, hostname and hour, so this gate never lets SWAG try before the
# names point here, and retries at most once per interval (20 minutes: 3 an hour).
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time

ADDRESS_ENV = 'REFRESHER_PUBLIC_ADDRESS'
RETRY_ENV = 'REFRESHER_CERT_RETRY_SECONDS'
DEFAULT_RETRY_SECONDS = 1200
# Each failed attempt in a row doubles the wait, up to this: a cause the gate cannot see (port 80
# blocked, a CAA record) must not cost a validation every 20 minutes for ever.
MAX_RETRY_SECONDS = 6 * 3600
# Where SWAG keeps its state, and the program the gate hands over to (the tests of the gate move
# both; in the container they are SWAG's).
CONFIG = os.environ.get('REFRESHER_SWAG_CONFIG_DIR', '/config')
INIT = os.environ.get('REFRESHER_SWAG_INIT', '/init')
STATE = os.path.join(CONFIG, 'refresher', 'certificate-gate.json')
# SWAG's record of the settings its certificate was made for: when they change (STAGING after a
# first staging run, a new subdomain), SWAG revokes the certificate and asks again at start.
SWAG_SETTINGS = os.path.join(CONFIG, '.donoteditthisfile.conf')
CERT_SETTINGS = ['URL', 'SUBDOMAINS', 'ONLY_SUBDOMAINS', 'EXTRA_DOMAINS', 'VALIDATION', 'DNSPLUGIN',
                 'PROPAGATION', 'STAGING', 'CERTPROVIDER']
# SWAG's certificate step, an s6-rc oneshot (root/etc/s6-overlay/s6-rc.d in docker-swag).
CERT_INIT = '/etc/s6-overlay/s6-rc.d/init-certbot-config/run'
POLL_SECONDS = 5
REPORT_SECONDS = 30
LOOKUP_SECONDS = 4


def log(message):
    print(f'[certificate-gate] {message}', flush=True)


def announce(message):
    """A line in `docker logs swag` from the health check, whose own output only Docker keeps."""
    line = f'[certificate-gate] {message}\n'
    sys.stdout.write(line)
    try:
        with open('/proc/1/fd/1', 'w') as container_log:
            container_log.write(line)
    except OSError:
        pass


def setting(name, default=''):
    """A SWAG variable as SWAG reads it: quotes removed, lower case."""
    return os.environ.get(name, default).replace('"', '').strip().lower()


def retry_seconds():
    value = os.environ.get(RETRY_ENV, '').strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_RETRY_SECONDS


def retry_interval(attempts):
    """The wait after `attempts` failed attempts in a row: the interval, doubled after each."""
    failures = min(max(1, int(attempts or 1)), 32)
    base = retry_seconds()
    return max(base, min(MAX_RETRY_SECONDS, base * 2 ** (failures - 1)))


def changed_settings():
    """The certificate settings SWAG will find changed at start (it then asks for a new one)."""
    try:
        with open(SWAG_SETTINGS) as file:
            saved = dict(re.findall(r'ORIG([A-Z_]+)="([^"]*)"', file.read()))
    except OSError:
        return []
    return [name for name in CERT_SETTINGS
            if saved.get(name, '').lower() != setting(name)]


def subdomains():
    return [s.strip() for s in setting('SUBDOMAINS').split(',') if s.strip()]


def certificate_names():
    """The names SWAG puts on its certificate (URL, SUBDOMAINS, ONLY_SUBDOMAINS, EXTRA_DOMAINS)."""
    url, subs = setting('URL'), subdomains()
    names = [] if subs and setting('ONLY_SUBDOMAINS', 'false') == 'true' else [url]
    if subs != ['wildcard']:
        names += [f'{sub}.{url}' for sub in subs]
    names += [n.strip() for n in setting('EXTRA_DOMAINS').split(',') if n.strip()]
    return names


def certificate_file():
    """SWAG's rule for certbot's folder: the first subdomain's name with ONLY_SUBDOMAINS, else URL."""
    url, subs = setting('URL'), subdomains()
    only = setting('ONLY_SUBDOMAINS', 'false') == 'true' and subs and subs != ['wildcard']
    live = f'{subs[0]}.{url}' if only else url
    return os.path.join(CONFIG, 'etc', 'letsencrypt', 'live', live, 'fullchain.pem')


def read_state():
    try:
        with open(STATE) as file:
            state = json.load(file)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(state):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(f'{STATE}.new', 'w') as file:
        json.dump(state, file)
    os.replace(f'{STATE}.new', STATE)


def stamp(epoch):
    return time.strftime('%H:%M:%S UTC', time.gmtime(epoch))


def lookup(name):
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        return sorted({info[4][0] for info in infos}), ''
    except OSError as error:
        return [], getattr(error, 'strerror', None) or str(error)


def dns_problems(names, expected):
    """Each name that does not resolve to exactly the expected address, and what it resolves to."""
    answers = {}

    def resolve(name):
        answers[name] = lookup(name)

    # Daemon threads: a resolver that never answers must not keep the health check from exiting.
    threads = [threading.Thread(target=resolve, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + LOOKUP_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    problems = []
    for name in names:
        if name not in answers:
            problems.append(f'{name}: no answer within {LOOKUP_SECONDS} s')
            continue
        addresses, reason = answers[name]
        if not addresses:
            problems.append(f'{name}: no address ({reason})')
        elif addresses != [expected]:
            problems.append(f'{name}: {", ".join(addresses)} (expected {expected})')
    return problems


def waits_for_dns():
    """The expected address, or None when the wait does not apply (and why)."""
    if setting('VALIDATION', 'http') != 'http':
        return None, 'DNS validation needs no A record'
    expected = os.environ.get(ADDRESS_ENV, '').strip()
    if not expected:
        # docker compose on a laptop: there is no public address to compare with.
        return None, f'{ADDRESS_ENV} is not set'
    return expected, ''


def wait_for_dns(names, expected):
    reported, last = 0.0, None
    while True:
        problems = dns_problems(names, expected)
        if not problems:
            log(f'{", ".join(names)} resolve to {expected}')
            return
        now = time.monotonic()
        if problems != last or now - reported >= REPORT_SECONDS:
            log(
                'no certificate yet, and SWAG would fail its validation: waiting for DNS '
                f'({"; ".join(problems)}); checking every {POLL_SECONDS} s'
            )
            reported, last = now, problems
        time.sleep(POLL_SECONDS)


def stop_on_signal(number, _frame):
    # PID 1 gets no default signal handling: without this, `docker stop` would wait for its kill.
    log(f'stopped by signal {number} before SWAG started')
    os._exit(0)


def init(args):
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    names = certificate_names()
    state = read_state()
    changed = changed_settings()
    if os.path.exists(certificate_file()) and not changed:
        if state.get('attempts'):
            write_state({})
        log(f'certificate for {", ".join(names)} present: starting SWAG')
    else:
        if changed:
            log(f'certificate settings changed ({", ".join(changed)}): SWAG will ask for a new one')
        interval = retry_interval(state.get('attempts'))
        last = state.get('lastAttemptAt')
        if isinstance(last, (int, float)) and time.time() - last < interval:
            due = last + interval
            log(
                f'no certificate: attempt {state.get("attempts", 1)} at {stamp(last)} failed; the '
                f'next is due at {stamp(due)} ({interval} s after it: the wait doubles after each '
                f'failed attempt, from {retry_seconds()} s up to {MAX_RETRY_SECONDS} s, within Let\'s '
                'Encrypt\'s limit of 5 failed validations per hour)'
            )
            time.sleep(max(0.0, due - time.time()))
        expected, reason = waits_for_dns()
        if expected:
            wait_for_dns(names, expected)
        else:
            log(f'not waiting for DNS: {reason}')
        attempt = int(state.get('attempts', 0)) + 1
        write_state({'attempts': attempt, 'lastAttemptAt': time.time()})
        log(f'no certificate yet: SWAG asks for one for {", ".join(names)} (attempt {attempt})')
    sys.stdout.flush()
    # Python ignores SIGPIPE and SIGXFSZ for itself, and an exec keeps ignored signals: give
    # SWAG's init, its scripts' pipelines and nginx the defaults they expect.
    for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)
    os.execv(INIT, [INIT, *args])


def nginx_answers():
    try:
        connection = http.client.HTTPConnection('127.0.0.1', 80, timeout=3)
        connection.request('GET', '/')
        status = connection.getresponse().status
        connection.close()
        return status < 400, f'HTTP {status}'
    except OSError as error:
        return False, str(error)


def gate_is_waiting():
    """PID 1 is still this gate (waiting for DNS or for the retry), not SWAG's init."""
    try:
        with open('/proc/1/cmdline', 'rb') as file:
            return b'certificate-gate' in file.read()
    except OSError:
        return False


def processes():
    """(pid, parent pid, arguments) of every process in the container."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as file:
                args = file.read().split(b'\0')
            with open(f'/proc/{entry}/stat') as file:
                parent = int(file.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry), parent, [arg.decode(errors='replace') for arg in args]))
    return found


def restart_swag():
    """
    Ends SWAG's stuck certificate step. A SIGTERM to PID 1 alone would not do: s6's shutdown
    (rc.shutdown, `s6-rc -bda change`) waits for the lock that the start-up (`s6-rc -u change`)
    holds while it waits for this step, which sleeps for ever. Ended, the step has failed, and
    SWAG's image tells s6 to stop the container when its start-up fails
    (S6_BEHAVIOUR_IF_STAGE2_FAILS=2); Docker's restart policy then starts it again.
    """
    if not (os.path.exists('/.dockerenv') or os.path.exists('/run/.containerenv')):
        announce('not in a container: not stopping anything')
        return
    running = processes()
    steps = [pid for pid, _, args in running if any(CERT_INIT in arg for arg in args)]
    if not steps:
        announce('SWAG\'s certificate step is not running: sending SIGTERM to PID 1 instead')
        os.kill(1, signal.SIGTERM)
        return
    # Said first: the halt that follows ends this health check too.
    announce(
        'ending SWAG\'s certificate step (init-certbot-config): s6 then stops the container, and '
        'Docker starts it again (restart: unless-stopped)'
    )
    for pid in steps:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    # Then what it left behind (its `sleep infinity`), before s6's halt gets to it.
    time.sleep(0.2)
    for pid, parent, _ in running:
        if parent in steps and pid not in steps:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def health():
    names = certificate_names()
    if os.path.exists(certificate_file()):
        ok, answer = nginx_answers()
        print(f'certificate present; nginx on port 80: {answer}')
        return 0 if ok else 1
    if gate_is_waiting():
        print('no certificate yet: the gate waits before SWAG tries (docker logs swag)')
        return 1
    state = read_state()
    now = time.time()
    last = state.get('lastAttemptAt')
    attempt = state.get('attempts', 1)
    interval = retry_interval(attempt)
    if not isinstance(last, (int, float)):
        # SWAG tried without the gate recording it: count that attempt from now.
        write_state({'attempts': 1, 'lastAttemptAt': now})
        print('no certificate, and no attempt recorded: counting one from now')
        return 1
    if now - last < interval:
        print(
            f'no certificate: attempt {attempt} at {stamp(last)} is running or failed; '
            f'a retry is due at {stamp(last + interval)}'
        )
        return 1
    requested = state.get('restartRequestedAt')
    if isinstance(requested, (int, float)) and requested >= last and now - requested < interval:
        print(f'no certificate: a restart was asked for at {stamp(requested)}')
        return 1
    expected, _ = waits_for_dns()
    if expected:
        problems = dns_problems(names, expected)
        if problems:
            announce(
                f'no certificate since attempt {attempt} at {stamp(last)}; a retry is due, but '
                f'waits for DNS: {"; ".join(problems)}'
            )
            return 1
    announce(
        f'no certificate since attempt {attempt} at {stamp(last)}, and SWAG does not try again '
        f'by itself: restarting swag for attempt {attempt + 1}'
    )
    write_state({**state, 'restartRequestedAt': now})
    restart_swag()
    return 1


if __name__ == '__main__':
    command = sys.argv[1] if len(sys.argv) > 1 else ''
    if command == 'init':
        init(sys.argv[2:])
    elif command == 'health':
        sys.exit(health())
    else:
        sys.exit(f'usage: {sys.argv[0]} init [ARG...] | health')
