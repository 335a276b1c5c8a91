"""A RabbitMQ cluster of the test's own: three nodes on loopback, made, broken and removed here.

The machine's own broker (``rabbit@…`` on 5672/25672) is never touched. Each node gets its
own node name, AMQP and distribution ports, config file (the machine's
``/etc/rabbitmq/rabbitmq.conf`` pins ``listeners.tcp.local`` to 5672, so a node needs a
config of its own), env file, data and log folders and pid file, all under one temporary
folder owned by the ``rabbitmq`` user, whose Erlang cookie the nodes and ``rabbitmqctl``
share. Nodes 2 and 3 join node 1 with ``join_cluster``.

Cleanup, whatever happens: each node runs as the ``rabbitmq`` user with
``PR_SET_PDEATHSIG``, so it gets SIGKILL when the thread that started it (the test's main
thread) dies; :meth:`RabbitCluster.close` (also registered with ``atexit``) kills every node
by its process and pid file and deletes the folder; and :func:`sweep_stale` removes what a
run killed before any of that could happen left behind (its owner process is gone).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The server script that ``/usr/sbin/rabbitmq-server`` wraps (the wrapper writes its output
#: to /var/log/rabbitmq, the machine broker's files).
SERVER_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQ_USER = "rabbitmq"
#: Folders of clusters live in the temporary directory under this prefix (see sweep_stale).
PREFIX = "calsync-rabbit-cluster-"
#: Ports the nodes may take: below Linux's ephemeral range (32768-60999), so no outgoing
#: connection holds a stopped node's port when it starts again, and clear of the machine
#: broker's 5672/15672/25672 and of the CLI tools' distribution ports (35672-35682).
PORT_RANGE = range(21000, 32000)
RESERVED_PORTS = frozenset({5672, 15672, 25672})
#: Longest a node may take to start (about 20 s on 2 busy cores) or stop.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
CTL_TIMEOUT = 60.0
PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The cluster could not be made or changed as asked; the message says where."""


def server_installed() -> str | None:
    """Why no cluster can be made here, or None when it can."""
    if not SERVER_SCRIPT.exists() or shutil.which("rabbitmq-server") is None:
        return "rabbitmq-server is not installed"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not installed"
    try:
        user = pwd.getpwnam(RABBITMQ_USER)
    except KeyError:
        return f"there is no {RABBITMQ_USER!r} user"
    if not (Path(user.pw_dir) / ".erlang.cookie").exists():
        return f"the {RABBITMQ_USER} user has no Erlang cookie in {user.pw_dir}"
    if os.geteuid() != 0:
        return f"the nodes run as the {RABBITMQ_USER} user: the test must run as root"
    return None


def rabbitmqctl(*args: str, timeout: float = CTL_TIMEOUT, check: bool = True) -> str:
    """Run ``rabbitmqctl ARGS``; its stdout.

    Raises:
        ClusterError: it failed (with ``check``), naming the command and its output.
    """
    command = ["rabbitmqctl", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise ClusterError(
            f"{' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


@dataclass
class RabbitNode:
    """One node: its name, ports, folder, and the process while it runs."""

    index: int
    name: str
    amqp_port: int
    dist_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.folder / "pid"

    @property
    def log_folder(self) -> Path:
        return self.folder / "log"

    def url(self, vhost: str = "", user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.amqp_port}/{vhost}"

    def environment(self) -> dict[str, str]:
        """What the node's server script reads (the machine's env file is not)."""
        home = pwd.getpwnam(RABBITMQ_USER).pw_dir
        keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}
        return {
            **keep,
            "HOME": home,  # where the Erlang cookie is
            "USER": RABBITMQ_USER,
            "LOGNAME": RABBITMQ_USER,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_folder),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            # Run the VM in this process (exec), not under a shell that traps signals: the
            # pid is the node's, and SIGKILL or the parent-death signal reach it directly.
            "RABBITMQ_ALLOW_INPUT": "true",
            "RABBITMQ_SERVER_START_ARGS": "-noinput",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def write_files(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            # Tests run the machine short of disk and memory next to PostgreSQL and the
            # other two nodes; no alarm should block publishers during the drill.
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.6\n"
        )
        (self.folder / "rabbitmq-env.conf").write_text("")
        (self.folder / "enabled_plugins").write_text("[].\n")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def listening(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.amqp_port), timeout=1),
        ):
            return True
        return False

    def log_tail(self, lines: int = 20) -> str:
        found = []
        for path in [*sorted(self.log_folder.glob("*.log")), self.folder / "stdout.log"]:
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                found.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(found)


def _become_rabbitmq_and_die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child, before exec: the rabbitmq user, SIGKILL when the starting thread dies."""
    user = pwd.getpwnam(RABBITMQ_USER)
    os.setsid()
    os.setgid(user.pw_gid)
    os.initgroups(RABBITMQ_USER, user.pw_gid)
    os.setuid(user.pw_uid)
    # Set after setuid: a change of user clears it. It survives exec (the script execs erl,
    # which execs the VM), so the node itself gets the signal.
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class RabbitCluster:
    """Three (``size``) nodes joined into one cluster. Start and stop nodes from one thread:
    the parent-death signal follows the thread that started each node."""

    size: int = 3
    folder: Path = field(init=False)
    nodes: list[RabbitNode] = field(init=False, default_factory=list)
    #: (when, what) of every start, kill and stop, monotonic seconds: for the drill's report.
    history: list[tuple[float, str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        sweep_stale()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / "owner").write_text(str(os.getpid()))
        user = pwd.getpwnam(RABBITMQ_USER)
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._closed = False
        atexit.register(self.close)
        token = uuid.uuid4().hex[:6]
        ports = free_ports(2 * self.size)
        for i in range(self.size):
            self.nodes.append(
                RabbitNode(
                    index=i + 1,
                    name=f"calsync-drill-{token}-{i + 1}@localhost",
                    amqp_port=ports[2 * i],
                    dist_port=ports[2 * i + 1],
                    folder=self.folder / f"node{i + 1}",
                )
            )

    # -- making the cluster ----------------------------------------------------------------

    def start(self) -> RabbitCluster:
        """Start every node, then join nodes 2… to node 1; fails naming the node that did not."""
        for node in self.nodes:
            node.write_files()
            _chown_tree(node.folder)
            self._spawn(node)
        for node in self.nodes:
            self.wait_started(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            rabbitmqctl("-n", node.name, "stop_app")
            rabbitmqctl("-n", node.name, "join_cluster", first.name)
            rabbitmqctl("-n", node.name, "start_app")
        self.wait_running(self.nodes)
        return self

    def broker_url(self, vhost: str = "") -> str:
        """Every node's URL, separated by ';' (kombu's failover list; ours for pika too)."""
        return ";".join(node.url(vhost) for node in self.nodes)

    # -- breaking it ---------------------------------------------------------------------------

    def kill(self, node: RabbitNode) -> float:
        """SIGKILL the node (a crash: no goodbye to clients or peers); when, monotonic."""
        at = time.monotonic()
        self.history.append((at, f"kill {node.name}"))
        _kill_node(node)
        return at

    def stop(self, node: RabbitNode) -> float:
        """Stop the node gracefully (``rabbitmqctl stop``); when it was asked to, monotonic."""
        at = time.monotonic()
        self.history.append((at, f"stop {node.name}"))
        rabbitmqctl("-n", node.name, "stop", timeout=STOP_TIMEOUT)
        if node.process is not None:
            node.process.wait(timeout=STOP_TIMEOUT)
        return at

    def restart(self, node: RabbitNode) -> float:
        """Start a stopped node again and wait until it is a running member; when it started."""
        assert not node.running(), f"{node.name} is running"
        at = time.monotonic()
        self.history.append((at, f"start {node.name}"))
        self._spawn(node)
        self.wait_started(node)
        self.wait_running(self.nodes)
        return at

    # -- looking at it -------------------------------------------------------------------------

    def any_running(self) -> RabbitNode:
        for node in self.nodes:
            if node.running():
                return node
        raise ClusterError("no node of the cluster is running")

    def node_named(self, name: str) -> RabbitNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"{name} is not a node of this cluster")

    def queues(self, vhost: str = "/") -> dict[str, tuple[str, list[str], list[str]]]:
        """Each quorum queue's leader, members and members online (``list_queues``)."""
        out = rabbitmqctl(
            "-n", self.any_running().name, "-q", "list_queues", "-p", vhost,
            "--no-table-headers", "name", "leader", "members", "online",
        )  # fmt: skip
        found = {}
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) == 4:
                name, leader, members, online = fields
                found[name] = (leader, _names(members), _names(online))
        return found

    def leader(self, queue: str, vhost: str = "/") -> RabbitNode:
        """The node that leads ``queue`` now."""
        return self.node_named(self.queues(vhost)[queue][0])

    def running_nodes(self) -> list[str]:
        out = rabbitmqctl(
            "-n", self.any_running().name, "eval", "rabbit_nodes:all_running()."
        )  # fmt: skip
        return sorted(re.findall(r"'?([\w.-]+@[\w.-]+)'?", out))

    def wait_started(self, node: RabbitNode) -> None:
        """Wait until the node's listener answers and its boot is complete."""
        deadline = time.monotonic() + START_TIMEOUT
        while not node.listening():
            if not node.running():
                raise ClusterError(f"{node.name} exited while starting\n{node.log_tail()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{node.name} did not start in {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        rabbitmqctl("-n", node.name, "await_startup", "--timeout", str(int(START_TIMEOUT)))

    def wait_running(self, nodes: Sequence[RabbitNode]) -> None:
        """Wait until every one of ``nodes`` is a running member of the cluster."""
        wanted = sorted(node.name for node in nodes)
        deadline = time.monotonic() + START_TIMEOUT
        while (found := self.running_nodes()) != wanted:
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster runs {found}, not {wanted}")
            time.sleep(0.5)

    # -- removing it ----------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every node and delete the folder; safe to repeat."""
        if self._closed:
            return
        self._closed = True
        for node in self.nodes:
            _kill_node(node)
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def _spawn(self, node: RabbitNode) -> None:
        node.pid_file.unlink(missing_ok=True)
        with (node.folder / "stdout.log").open("ab") as out:
            node.process = subprocess.Popen(
                [str(SERVER_SCRIPT)],
                env=node.environment(),
                cwd=node.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_become_rabbitmq_and_die_with_parent,  # noqa: PLW1509
            )
        self.history.append((time.monotonic(), f"spawn {node.name}"))


def _kill_node(node: RabbitNode) -> None:
    """SIGKILL the node's process and whatever its pid file names; wait for them to go."""
    pids = set()
    if node.process is not None and node.process.poll() is None:
        pids.add(node.process.pid)
    with contextlib.suppress(OSError, ValueError):
        pids.add(int(node.pid_file.read_text().strip()))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if node.process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + 10
    while node.listening() and time.monotonic() < deadline:
        time.sleep(0.1)


def _names(listed: str) -> list[str]:
    """``[a@h, b@h]`` as rabbitmqctl prints a list of nodes."""
    return sorted(re.findall(r"[\w.-]+@[\w.-]+", listed))


def _chown_tree(folder: Path) -> None:
    user = pwd.getpwnam(RABBITMQ_USER)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports in PORT_RANGE that nothing listens on now."""
    found: list[int] = []
    candidates = [p for p in PORT_RANGE if p not in RESERVED_PORTS]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise ClusterError(f"no {count} free ports in {PORT_RANGE}")


def sweep_stale() -> None:
    """Kill the nodes and delete the folders of clusters whose owner process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((folder / "owner").read_text().strip())
        except (OSError, ValueError):
            owner = None
        if owner is not None and _alive(owner):
            continue
        for pid_file in folder.glob("node*/pid"):
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
