"""The hardened Deployment both scaffolds write (`gitops new service` and the generated fleets of
`gitops.scaffold.fleetgen`): one template, so a hardening added here reaches both. The knobs are the few
places where a generated fleet differs on purpose (replicas spread, configuration from a ConfigMap, probes by
port number) and the comments a person reads in a new service."""

from __future__ import annotations

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}-v1
  labels:
    app: {name}
    version: v1
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
      version: v1
  template:
    metadata:
      labels:
        app: {name}
        version: v1
    spec:
      serviceAccountName: {name}-sa
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: {name}
{image_note}          image: {image}
          imagePullPolicy: IfNotPresent
{env_from}          ports:
            - name: http
              containerPort: {port}
              protocol: TCP
          resources:
            requests:
              cpu: 100m
              memory: 256Mi
            limits:
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
          livenessProbe:
            httpGet:
              path: /healthz
              port: {probe_port}
            initialDelaySeconds: 3
            periodSeconds: 3
          readinessProbe:
            httpGet:
              path: {ready_path}
              port: {probe_port}
          volumeMounts:
{tmp_note}            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {{}}
"""

_IMAGE_NOTE = '          # Pinned by tag or digest: ":latest" with IfNotPresent leaves nodes running stale images.\n'
_TMP_NOTE = "            # A writable /tmp; the root filesystem stays read-only.\n"


def deployment(name: str, image: str, port: int | str, *, replicas: int = 1, config_map: str | None = None,
               probe_port: int | str = "http", ready_path: str = "/readyz", notes: bool = True) -> str:
    """The Deployment `{name}-v1` (labels app/version, its own service account, non-root, read-only root,
    no capabilities, requests and a memory limit, probes, a writable /tmp). `config_map` adds it as envFrom."""
    env_from = ("          envFrom:\n            - configMapRef:\n"
                f"                name: {config_map}\n") if config_map else ""
    return _DEPLOYMENT.format(name=name, image=image, port=port, replicas=replicas, env_from=env_from,
                              probe_port=probe_port, ready_path=ready_path,
                              image_note=_IMAGE_NOTE if notes else "", tmp_note=_TMP_NOTE if notes else "")
