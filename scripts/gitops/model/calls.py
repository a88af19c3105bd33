"""The resolver model: every host a workload calls, resolved as its pod's resolver would resolve it.

One module, used by every mcs-* policy that judges a call and by the diff's call graph, so a finding
and a broken graph edge always agree. Small API:

- `hosts_in(text, key=None, services=frozenset())`: the addresses written in one string (`HostRef`s):
  URLs of any scheme (`http://`, `grpc://`, `dns:///`, `jdbc:postgresql://`, `redis://`, ...), dotted
  names in the cluster DNS zones anywhere in the text, and, when the whole value (or one `key=value` /
  `key: value` line of it) is an address list, `host:port` tokens and, under an address-named key
  (`ADDRESS_KEYS`), bare hosts. Prose never counts.
- `usages(fleet, address_keys)`: every address a workload uses (ConfigMap data, container env values,
  args and command, HTTPRoute/GRPCRoute backendRefs), as `Usage`s with the field path that holds it.
- `verdicts(fleet, address_keys=ADDRESS_KEYS)`: THE function: one `Verdict` per workload call, once per
  fleet. A verdict carries the caller (resource + field path), the host as written, what it resolves to
  (kind local / clusterset / external / unresolvable; target cluster(s), namespace, Service, port),
  ok or broken, the reason and the right name, and the rule that reports it (`rule`).

Resolution follows the pod's /etc/resolv.conf in namespace <ns>: `ndots:5`, search
`<ns>.svc.cluster.local svc.cluster.local cluster.local`, then the name as written, which is where
the MCS zone `clusterset.local` is served (`<svc>.<ns>.svc.clusterset.local`, or
`<hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local` of a headless export). A name in neither
cluster zone and not meant for one (a single label; `<svc>.<ns>` whose `<ns>` is a namespace of the
clusterset; `... .svc`) is external and left alone.
"""
from __future__ import annotations

import bisect
import difflib
import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from gitops.model.resources import Resource
from gitops.model.rules import Also, Parameter, PathElem, Violation
from gitops.model.objects import Objects

from gitops.model.pods import pod_containers
from gitops.model.mcs import (clusterset_of, clusterset_services, exported_service, exports_by_name, is_headless, listing, port_numbers, service_ports)

Path = tuple[PathElem, ...]

CLUSTERSET_SUFFIX = ".svc.clusterset.local"
CLUSTER_SUFFIX = ".svc.cluster.local"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}  # grpc (and no scheme) has no default port
# Keys whose value is an address by name (environment variable style; `.`/`-` count as `_`).
ADDRESS_KEYS = ("*_URL", "*_URI", "*_URLS", "*_HOST", "*_HOSTS", "*_HOSTNAME", "*_ADDR", "*_ADDRESS", "*_ENDPOINT",
                "*_SERVICE", "*_SERVER", "*_SERVERS", "*_DSN", "*_TARGET", "URL", "URI", "HOST", "HOSTNAME",
                "ADDR", "ADDRESS", "ENDPOINT", "SERVER")
ADDRESS_KEYS_PARAMETER = Parameter(
    "addressKeys", "strings", ADDRESS_KEYS,
    "key patterns (env names, ConfigMap keys, --flags; `.` and `-` read as `_`) whose bare value is a host")
# Values of address-named keys that are settings, not hosts.
NOT_HOSTS = frozenset({"true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null", "nil",
                       "default", "auto", "localhost", "local", "all", "any", "unset"})
# Schemes whose authority is not a host the pod resolves (buckets, sockets, files, secret stores).
NON_HOST_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "gcs", "file", "unix", "classpath", "jar", "vault", "secret",
                              "secretmanager", "env", "data", "mailto", "urn"})
# Names every pod resolves without a Service in the repository: the node's hosts and metadata server.
WELL_KNOWN_HOSTS = frozenset({"localhost", "metadata", "metadata.google.internal"})
# Services every cluster has without a manifest: (namespace, name) -> ports.
BUILTIN_SERVICES = {("default", "kubernetes"): (443,), ("kube-system", "kube-dns"): (53,)}
FORMS = ("<svc>.<ns>.svc.clusterset.local, or <hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local "
         "for a headless export")

# Verdict kinds.
LOCAL, CLUSTERSET, EXTERNAL, UNRESOLVABLE = "local", "clusterset", "external", "unresolvable"
# The rules that report a broken verdict (policy ids).
RULE_CLUSTERSET = "mcs-clusterset-url-resolves"
RULE_LOCAL = "mcs-local-name-not-served"
RULE_FORM = "mcs-clusterset-name-form"
CALL_RULES = (RULE_CLUSTERSET, RULE_LOCAL, RULE_FORM)  # each finding of these is one broken call

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_NAME = rf"{_LABEL}(?:\.{_LABEL})*\.?"
_URL = re.compile(r"(?<![\w.+-])(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<auth>[^/\s\"'<>?#]*)(?P<rest>[^\s\"'<>,;]*)",
                  re.IGNORECASE)
# A dotted name in (or mistaken for) a cluster DNS zone, anywhere in a text.
_ZONE = re.compile(rf"(?<![\w.@/-])(?P<host>{_LABEL}(?:\.{_LABEL})*\.(?:svc\.clusterset\.local|svc\.cluster\.local"
                   rf"|clusterset\.local|cluster\.local|svc\.clusterset|svc\.cluster|clusterset|svc))\.?"
                   rf"(?::(?P<port>\d{{1,5}}))?(?![\w-]|\.\w)", re.IGNORECASE)
_TOKEN = re.compile(rf"^(?P<host>{_NAME})(?::(?P<port>\d{{1,5}}))?$", re.IGNORECASE)
_LINE_KEY = re.compile(r"^\s*(?P<key>[A-Za-z_][\w.-]*)\s*(?:=|:\s)\s*(?P<value>.*)$")
_FLAG = re.compile(r"^-{1,2}(?:D)?(?P<key>[A-Za-z_][\w.-]*)=(?P<value>.*)$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


@dataclass(frozen=True)
class HostRef:
    """One address as written: `text` is the whole URL or host:port, for messages and suggestions."""

    text: str
    host: str  # lower case, without a trailing dot
    scheme: str | None = None
    port: int | None = None
    named: bool = False  # from a URL or an address-named key: surely meant as an address

    @property
    def service_port(self) -> int | None:
        """The port the caller connects to: the explicit one, else the scheme's default."""
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme or "")

    def replace_host(self, host: str) -> str:
        """The same URL pointing at another host (for "use ..." suggestions)."""
        start = self.text.lower().find(self.host)
        end = start + len(self.host)
        if self.text[end:end + 1] == ".":  # an absolute name's trailing dot
            end += 1
        return self.text[:start] + host + self.text[end:]


@dataclass(frozen=True)
class Usage:
    """An address a workload uses, where it is written (resource + field path)."""

    resource: Resource
    path: Path
    ref: HostRef

    @property
    def caller(self) -> str:
        r = self.resource
        return f"{r.cluster} {r.kind} {r.namespace}/{r.name}" if r.namespace else f"{r.cluster} {r.kind} {r.name}"


@dataclass(frozen=True)
class Verdict:
    """What one call resolves to: everything a finding and a call-graph edge need.

    `kind` is local (a Service of the caller's cluster), clusterset (an MCS import), external (left
    alone) or unresolvable. `ok` False means broken: `reason` says why, `fix` is the name to use (when
    one is known), `rule` is the policy that reports it. `clusters` are the target clusters (the
    exporters of a clusterset name, the caller's own cluster for a local Service).
    """

    use: Usage
    kind: str
    ok: bool
    namespace: str = ""
    service: str = ""
    clusters: tuple[str, ...] = ()
    port: int | None = None
    fqdn: str = ""  # the name the resolver answers for
    reason: str = ""
    fix: str = ""
    rule: str = ""
    related: tuple[Also, ...] = ()

    @property
    def resource(self) -> Resource:
        return self.use.resource

    @property
    def path(self) -> Path:
        return self.use.path

    @property
    def host(self) -> str:
        return self.use.ref.host

    @property
    def cluster(self) -> str:
        return self.use.resource.cluster

    @property
    def message(self) -> str:
        """"<caller> calls <url>, but <reason>": the finding's message."""
        return f"{self.use.caller} calls {self.use.ref.text}, but {self.reason}"

    def violation(self) -> Violation:
        return Violation(self.use.resource, self.message, self.use.path, related=self.related)


# --- finding addresses -------------------------------------------------------------------------------

def is_address_key(key: str | None, patterns: tuple[str, ...] = ADDRESS_KEYS) -> bool:
    """Whether a key (env name, ConfigMap key, --flag) names an address: PRODUCER_URL, db.host, --api-endpoint."""
    if not key:
        return False
    norm = re.sub(r"[.\-]", "_", key).upper()
    return any(fnmatch.fnmatchcase(norm, p.upper()) for p in patterns)


def _valid(host: str) -> bool:
    """A DNS name (any label length: the limits are checked later) with a letter somewhere, not an IP."""
    if not host or _IPV4.match(host) or not re.search(r"[a-z]", host):
        return False
    return all(label and not label.startswith("-") and not label.endswith("-") for label in host.split("."))


def _ref(text: str, host: str, scheme: str | None, port: str | None, named: bool) -> HostRef | None:
    host = host.lower().rstrip(".")
    number = int(port) if port else None
    if not _valid(host) or (number is not None and not 0 < number <= 65535):
        return None
    return HostRef(text, host, scheme.lower() if scheme else None, number, named)


def _urls(text: str) -> Iterator[tuple[tuple[int, int], HostRef]]:
    for m in _URL.finditer(text):
        scheme, auth, rest = m["scheme"], m["auth"], m["rest"]
        if scheme.lower() in NON_HOST_SCHEMES:
            continue
        if not auth and scheme.lower() == "dns":  # gRPC's dns:///host:port (empty authority)
            auth = rest.lstrip("/").split("/")[0]
        auth = auth.rpartition("@")[2]
        for part in auth.split(","):  # mongodb://h1:27017,h2:27017
            if part.startswith("["):
                continue  # an IPv6 literal
            host, _, port = part.partition(":")
            ref = _ref(m.group(0), host, scheme, port if port.isdigit() else None, True)
            if ref is not None:
                yield m.span(), ref


def hosts_in(text: str, key: str | None = None, services: frozenset[str] = frozenset(),
             patterns: tuple[str, ...] = ADDRESS_KEYS) -> Iterator[HostRef]:
    """Every address in one string value; `key` is its name (env var, ConfigMap key, --flag), if any.

    `services` are the Service names of the fleet: a single-label `name:port` under a key that does not
    name an address counts only when it is one of them (so `format: json:3` is not a call).
    """
    if "\n" in text.strip():
        for line in text.splitlines():
            m = _LINE_KEY.match(line)
            if m:  # a properties or YAML line: key=value, key: value
                yield from _in_text(m["value"], m["key"], services, patterns, whole=True)
            else:
                yield from _in_text(line, None, services, patterns, whole=False)
        return
    m = _LINE_KEY.match(text) if key is None else None
    if m and not _URL.match(text.strip()):
        text, key = m["value"], m["key"]
    yield from _in_text(text, key, services, patterns, whole=True)


def _in_text(text: str, key: str | None, services: frozenset[str], patterns: tuple[str, ...],
             whole: bool) -> Iterator[HostRef]:
    starts: list[int] = []  # URL spans, in order (finditer), for a bisect: hostile texts hold many names
    ends: list[int] = []
    for (a, b), url_ref in _urls(text):
        if not starts or starts[-1] != a:
            starts.append(a)
            ends.append(b)
        yield url_ref
    found = bool(starts)
    for m in _ZONE.finditer(text):
        i = bisect.bisect_right(starts, m.start()) - 1
        if i < 0 or m.start() >= ends[i]:  # not inside a URL already read
            ref = _ref(m.group(0), m["host"], None, m["port"], True)
            if ref is not None:
                found = True
                yield ref
    if found or not whole:
        return
    value = text.strip().strip("\"'")
    tokens = [t for t in re.split(r"[,\s]+", value) if t]
    if not tokens or (len(tokens) > 1 and " " in value and "," not in value):
        return  # words separated by spaces: prose, not an address list
    named = is_address_key(key, patterns)
    listed: list[HostRef] = []
    for token in tokens:
        t = _TOKEN.match(token)
        if t is None:
            return  # one token that is not an address: the value is not an address list
        host, port = t["host"].lower().rstrip("."), t["port"]
        if port is None and (not named or host in NOT_HOSTS):
            return
        if port is not None and not named and "." not in host and host not in services:
            return
        listed_ref = _ref(token, host, None, port, named)
        if listed_ref is None:
            return
        listed.append(listed_ref)
    yield from listed


def _container_strings(container: dict[str, Any]) -> Iterator[tuple[Path, str | None, Any]]:
    """(path, key, value) of a container's env values, args and command; a `--flag=value` is keyed by its flag."""
    for i, env in enumerate(container.get("env") or ()):
        if isinstance(env, dict):
            yield ("env", i, "value"), str(env.get("name", "")), env.get("value")
    for fld in ("args", "command"):
        for i, arg in enumerate(container.get(fld) or ()):
            m = _FLAG.match(arg) if isinstance(arg, str) else None
            yield (fld, i), (m["key"] if m else None), (m["value"] if m else arg)


_ROUTES = ("HTTPRoute", "GRPCRoute")


def _backend_refs(route: Resource) -> Iterator[Usage]:
    """Route backendRefs whose name is a DNS name: an object name never has a dot."""
    for i, rule in enumerate((route.body.get("spec") or {}).get("rules") or ()):
        for j, ref in enumerate((rule or {}).get("backendRefs") or ()):
            name = str((ref or {}).get("name", "")).lower()
            if "." in name.rstrip("."):
                port = ref.get("port")
                number = port if isinstance(port, int) else None
                host = _ref(f"{name}:{port}" if number is not None else name, name, None,
                            str(number) if number is not None else None, True)
                if host is not None:
                    yield Usage(route, ("spec", "rules", i, "backendRefs", j, "name"), host)


def usages(objects: Objects, patterns: tuple[str, ...] = ADDRESS_KEYS) -> Iterator[Usage]:
    """Every address the fleet's workloads use; ConfigMaps count as used (envFrom). Each distinct string once."""
    services = frozenset(s.name for s in objects.of_kind("Service"))
    parsed: dict[tuple[str | None, str], tuple[HostRef, ...]] = {}

    def refs(key: str | None, value: Any) -> tuple[HostRef, ...]:
        if not isinstance(value, str):
            return ()
        found = parsed.get((key, value))
        if found is None:
            found = parsed[(key, value)] = tuple(hosts_in(value, key, services, patterns))
        return found

    for cm in objects.of_kind("ConfigMap"):
        for key, value in (cm.body.get("data") or {}).items():
            for ref in refs(str(key), value):
                yield Usage(cm, ("data", key), ref)
    for r, path, _, container in pod_containers(objects):
        for sub, key, value in _container_strings(container):
            for ref in refs(key, value):
                yield Usage(r, path + sub, ref)
    for kind in _ROUTES:
        for route in objects.of_kind(kind):
            yield from _backend_refs(route)


# --- resolving -------------------------------------------------------------------------------------

def clusterset_name(namespace: str, service: str) -> str:
    return f"{service}.{namespace}{CLUSTERSET_SUFFIX}"


def _dns_limits(host: str) -> str | None:
    long_label = next((label for label in host.split(".") if len(label) > 63), None)
    if long_label:
        return f"label {long_label} is {len(long_label)} characters; DNS allows at most 63"
    if len(host) > 253:
        return f"the name is {len(host)} characters; DNS allows at most 253"
    return None


class Resolver:
    """The fleet's Services, Namespaces and exports, indexed once; `resolve(usage)` is one call's verdict."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.exports = exports_by_name(objects)
        self.clusterset_of = clusterset_of(objects)
        self.exported_in: dict[tuple[str, str], list[str]] = defaultdict(list)
        for clusterset, ns, name in self.exports:
            self.exported_in[(clusterset, ns)].append(name)
        # clusterset -> namespaces in any member (every cluster has the system ones): Namespace objects and
        # the namespaces of Services, from the fleet's kind index
        self.namespaces: dict[str, set[str]] = defaultdict(lambda: {"default", "kube-system", "kube-public"})
        for r in objects.of_kind("Namespace"):
            self.namespaces[self.clusterset_of.get(r.cluster, "")].add(r.name)
        for r in objects.of_kind("Service"):
            self.namespaces[self.clusterset_of.get(r.cluster, "")].add(r.namespace)
        self._exporters: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._exported: dict[tuple[str, str, str], list[Resource]] = {}
        self._verdicts: dict[tuple[str, str, HostRef], Verdict] = {}
        self._ports: dict[tuple[str, str, str], set[int]] = {}

    # -- the pod's resolver

    def resolve(self, use: Usage) -> Verdict:
        """One call's verdict. A fleet repeats its calls (every cluster of a clusterset runs the same caller), so
        the answer for (cluster, namespace, address) is worked out once and shared."""
        key = (use.resource.cluster, use.resource.namespace, use.ref)
        known = self._verdicts.get(key)
        if known is None:
            known = self._verdicts[key] = self._resolve(use)
        return known if known.use is use else replace(known, use=use)

    def _resolve(self, use: Usage) -> Verdict:
        host, cluster = use.ref.host, use.resource.cluster
        ns = use.resource.namespace or "default"
        labels = host.split(".")
        if host in WELL_KNOWN_HOSTS or host.endswith(".localhost"):
            return Verdict(use, EXTERNAL, True, fqdn=host)
        if host.endswith(CLUSTERSET_SUFFIX):
            return self._clusterset(use, labels[:-3])
        if "clusterset" in labels:
            return self._clusterset_lookalike(use, labels)
        if host.endswith(CLUSTER_SUFFIX):
            return self._cluster_zone(use, labels[:-3], host)
        if host.endswith(".pod.cluster.local"):
            return Verdict(use, EXTERNAL, True, fqdn=host)
        if host.endswith(".cluster.local") or host.endswith(".svc.cluster") or labels[-1] == "svc":
            return self._svc_lookalike(use, labels)
        # ndots:5: a name with fewer than five dots goes through the search path first.
        if len(labels) == 1:
            return self._cluster_zone(use, [labels[0], ns], f"{host}.{ns}{CLUSTER_SUFFIX}")
        if len(labels) == 2:
            headless = self.objects.get(cluster, "Service", ns, labels[1])
            if headless is not None and is_headless(headless):  # <pod hostname>.<svc> in the caller's namespace
                return self._local_ok(use, headless, f"{host}.{ns}{CLUSTER_SUFFIX}")
            if labels[1] in self.namespaces[self.clusterset_of[cluster]]:
                return self._cluster_zone(use, labels, f"{host}{CLUSTER_SUFFIX}")
        return Verdict(use, EXTERNAL, True, fqdn=host)

    # -- cluster.local

    def _local_ok(self, use: Usage, service: Resource, fqdn: str) -> Verdict:
        return Verdict(use, LOCAL, True, service.namespace, service.name, (service.cluster,), use.ref.service_port,
                       fqdn)

    def _cluster_zone(self, use: Usage, labels: list[str], fqdn: str) -> Verdict:
        """<svc>.<ns> (or <hostname>.<svc>.<ns> of a headless Service) before .svc.cluster.local."""
        cluster = use.resource.cluster
        if len(labels) not in (2, 3):
            return self._broken(use, "", "", RULE_LOCAL, f"{use.ref.host} is not a name cluster DNS serves "
                                "(<svc>.<ns>.svc.cluster.local, or <hostname>.<svc>.<ns>.svc.cluster.local)")
        svc, ns = labels[-2], labels[-1]
        service = self.objects.get(cluster, "Service", ns, svc)
        port = use.ref.service_port
        if service is None and (ns, svc) in BUILTIN_SERVICES:
            return Verdict(use, LOCAL, True, ns, svc, (cluster,), port, fqdn)
        if service is None:
            return self._not_here(use, ns, svc)
        # A headless Service answers with pod IPs (the caller's port is a container port) and an ExternalName
        # one with a CNAME: neither has Service ports to check.
        kind = (service.body.get("spec") or {}).get("type")
        ports = set() if is_headless(service) or kind == "ExternalName" else port_numbers(service)
        if port is not None and ports and port not in ports:
            related = tuple(Also(service, ("spec", "ports", i, "port"), f"{cluster} Service {ns}/{svc} port {p.get('port')}")
                            for i, p in enumerate(service_ports(service)))
            return Verdict(use, LOCAL, False, ns, svc, (cluster,), port, fqdn,
                           f"port {port} is not a port of Service {ns}/{svc} in {cluster}; its ports are "
                           f"{', '.join(map(str, sorted(ports)))}", "", RULE_LOCAL, related)
        return Verdict(use, LOCAL, True, ns, svc, (cluster,), port, fqdn)

    def _not_here(self, use: Usage, ns: str, svc: str) -> Verdict:
        """No Service of that name in the caller's cluster: the name does not resolve; say what to use instead."""
        cluster = use.resource.cluster
        clusterset = self.clusterset_of[cluster]
        others = [s.cluster for s in clusterset_services(self.objects, cluster, ns, svc) if s.cluster != cluster]
        exported = {e.cluster for e in self.exports.get((clusterset, ns, svc), ())}
        fix = use.ref.replace_host(clusterset_name(ns, svc))
        if others:
            exporter = next((c for c in others if c in exported), None)
            if exporter:
                has = f"{exporter} has Service {ns}/{svc} and exports it"
            else:
                has = f"{others[0]} has Service {ns}/{svc} but does not export it (add a ServiceExport there)"
            reason = f"no Service {ns}/{svc} exists in {cluster}, so the name does not resolve there; {has}: use {fix}"
            return self._broken(use, ns, svc, RULE_LOCAL, reason, fix)
        here = sorted({s.name for s in self.objects.in_namespace(cluster, ns) if s.kind == "Service"})
        close = difflib.get_close_matches(svc, here, n=1)
        if close:
            fix = use.ref.replace_host(close[0] if "." not in use.ref.host else
                                       use.ref.host.replace(svc, close[0], 1))
            return self._broken(use, ns, svc, RULE_LOCAL, f"no Service {ns}/{svc} exists in {cluster} or any "
                                f"cluster of clusterset {clusterset}; did you mean {fix}?", fix)
        return self._broken(use, ns, svc, RULE_LOCAL, f"no Service {ns}/{svc} exists in {cluster} or any cluster of "
                            f"clusterset {clusterset}, so the name does not resolve")

    def _svc_lookalike(self, use: Usage, labels: list[str]) -> Verdict:
        """Names that end like a Service name but that the search path does not complete: a.b.svc.cluster, a.svc."""
        host = use.ref.host
        if labels[-1] == "svc" and len(labels) == 3:  # <svc>.<ns>.svc + search domain cluster.local
            return self._cluster_zone(use, labels[:2], f"{host}.cluster.local")
        core = [label for label in labels if label not in ("svc", "cluster", "local")]
        if len(core) == 2:
            right = use.ref.replace_host(f"{core[0]}.{core[1]}{CLUSTER_SUFFIX}")
            return self._broken(use, core[1], core[0], RULE_LOCAL, f"{host} is not a name cluster DNS serves, and "
                                f"the search path does not complete it; use {right}", right)
        return self._broken(use, "", "", RULE_LOCAL, f"{host} is not a name cluster DNS serves "
                            "(<svc>.<ns>.svc.cluster.local, or <svc>.<ns> and <svc> through the search path)")

    # -- clusterset.local

    def _clusterset_lookalike(self, use: Usage, labels: list[str]) -> Verdict:
        """a.b.clusterset.local, a.b.svc.clusterset, a.clusterset...: no MCS implementation serves these."""
        core = labels[:labels.index("clusterset")]
        core = core[:-1] if core and core[-1] == "svc" else core
        if len(core) >= 2:
            right = clusterset_name(core[-1], core[-2])
            return self._broken(use, core[-1], core[-2], RULE_FORM, f"{use.ref.host} is not a name MCS serves "
                                f"(MCS serves {FORMS}); use {right}", use.ref.replace_host(right))
        return self._broken(use, "", "", RULE_FORM, f"{use.ref.host} is not a name MCS serves (MCS serves {FORMS})")

    def _clusterset(self, use: Usage, labels: list[str]) -> Verdict:
        host, cluster = use.ref.host, use.resource.cluster
        problem = _dns_limits(host)
        if problem:
            return self._broken(use, "", "", RULE_FORM, problem)
        if len(labels) == 3 and labels[0] in self.clusterset_of:
            right = clusterset_name(labels[2], labels[1])
            return self._broken(use, labels[2], labels[1], RULE_FORM, f"{labels[0]} is a cluster, and MCS serves no "
                                f"per-cluster Service names; use {right}", use.ref.replace_host(right))
        if len(labels) not in (2, 4):
            return self._broken(use, "", "", RULE_FORM, f"{host} is not a clusterset.local name MCS serves ({FORMS})")
        svc, ns = labels[-2], labels[-1]
        key = (self.clusterset_of[cluster], ns, svc)
        if len(labels) == 4:
            right = clusterset_name(ns, svc)
            flat = [s.cluster for s in self.exported(key) if not is_headless(s)]
            if flat:
                return self._broken(use, ns, svc, RULE_FORM, f"per-pod names exist only for headless exports, and "
                                    f"{ns}/{svc} exported from {flat[0]} is not headless (clusterIP is not None); "
                                    f"use {right}", use.ref.replace_host(right))
            exporters = [e.cluster for e in self.exports.get(key, ())]
            if exporters and labels[1] not in exporters:
                return self._broken(use, ns, svc, RULE_FORM, f"{labels[1]} does not export {ns}/{svc} (exported from "
                                    f"{listing(list(dict.fromkeys(exporters)))}), so it has no per-pod name "
                                    f"{labels[0]}.{labels[1]}.{svc}.{ns}.svc.clusterset.local")
        return self._import(use, key)

    def exported(self, key: tuple[str, str, str]) -> list[Resource]:
        """The exported Service in every exporting cluster that has it (found once per export)."""
        if key not in self._exported:
            self._exported[key] = [s for e in self.exports.get(key, ())
                                   if (s := exported_service(self.objects, e)) is not None]
        return self._exported[key]

    def ports(self, key: tuple[str, str, str]) -> set[int]:
        """Ports of the exported Service, computed once per export; none to check for a headless export (a
        caller of pod IPs connects to a container port)."""
        if key not in self._ports:
            exported = self.exported(key)
            self._ports[key] = set() if any(is_headless(s) for s in exported) else \
                {p for s in exported for p in port_numbers(s)}
        return self._ports[key]

    def _instead(self, cluster: str, clusterset: str, ns: str, name: str) -> str:
        """What exists in place of an unexported name, for the message."""
        have = [s.cluster for s in clusterset_services(self.objects, cluster, ns, name)]
        if have:
            return f"; {listing(have)} {'has' if len(have) == 1 else 'have'} Service {ns}/{name} but no ServiceExport"
        exported = sorted(self.exported_in.get((clusterset, ns), ()))
        close = difflib.get_close_matches(name, exported, n=3)
        if close:
            return f"; did you mean {' or '.join(close)}?"
        if exported:
            return f"; exported from {ns}: {', '.join(exported)}"
        return f"; nothing is exported from namespace {ns}"

    def _import(self, use: Usage, key: tuple[str, str, str]) -> Verdict:
        """A clusterset name: exported by which clusters, imported here (namespace sameness), on which port."""
        clusterset, ns, svc = key
        cluster, fqdn = use.resource.cluster, clusterset_name(ns, svc)
        exporters = self._exporters.get(key)
        if exporters is None:
            exporters = self._exporters[key] = tuple(dict.fromkeys(e.cluster for e in self.exports.get(key, ())))
        if not exporters:
            related = tuple(Also(s, ("metadata", "name"), f"{s.cluster} Service {ns}/{svc}, not exported")
                            for s in clusterset_services(self.objects, cluster, ns, svc))
            return self._broken(use, ns, svc, RULE_CLUSTERSET, f"no cluster in clusterset {clusterset} exports "
                                f"{ns}/{svc}{self._instead(cluster, clusterset, ns, svc)}", related=related,
                                kind=CLUSTERSET)
        port = use.ref.service_port
        if self.objects.get(cluster, "Namespace", "", ns) is None:
            return Verdict(use, CLUSTERSET, False, ns, svc, exporters, port, fqdn,
                           f"namespace {ns} does not exist in {cluster}; MCS imports {ns}/{svc} only into clusters "
                           f"that have the namespace", "", RULE_CLUSTERSET)
        ports = self.ports(key)
        if port is not None and ports and port not in ports:
            related = tuple(Also(s, ("spec", "ports", i, "port"), f"{s.cluster} Service {ns}/{svc} port {p.get('port')}")
                            for s in self.exported(key) for i, p in enumerate(service_ports(s)))
            return Verdict(use, CLUSTERSET, False, ns, svc, exporters, port, fqdn,
                           f"port {port} is not a port of the exported Service {ns}/{svc}; exported ports are "
                           f"{', '.join(map(str, sorted(ports)))}", "", RULE_CLUSTERSET, related)
        return Verdict(use, CLUSTERSET, True, ns, svc, exporters, port, fqdn)

    def _broken(self, use: Usage, ns: str, svc: str, rule: str, reason: str, fix: str = "",
                related: tuple[Also, ...] = (), kind: str = UNRESOLVABLE) -> Verdict:
        return Verdict(use, kind, False, ns, svc, (), use.ref.service_port, use.ref.host, reason, fix, rule, related)


@dataclass
class _Cache:
    """Verdicts per address-key patterns, on the fleet they describe (`Objects.derived`)."""

    objects: Objects
    by_patterns: dict[tuple[str, ...], tuple[Verdict, ...]] = field(default_factory=dict)


def verdicts(objects: Objects, address_keys: tuple[str, ...] = ADDRESS_KEYS) -> tuple[Verdict, ...]:
    """One verdict per workload call (per address written in a workload's field), computed once per fleet."""
    cache = objects.derived(_Cache)
    key = tuple(address_keys)
    if key not in cache.by_patterns:
        resolver = Resolver(objects)
        cache.by_patterns[key] = tuple(resolver.resolve(use) for use in usages(objects, key))
    return cache.by_patterns[key]


def broken(objects: Objects, rule: str, address_keys: tuple[str, ...] = ADDRESS_KEYS) -> Iterator[Violation]:
    """The findings of one rule: every broken verdict that rule reports."""
    for v in verdicts(objects, address_keys):
        if not v.ok and v.rule == rule:
            yield v.violation()
