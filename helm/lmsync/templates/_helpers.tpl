{{/* Chart name, possibly overridden. */}}
{{- define "lmsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name. */}}
{{- define "lmsync.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lmsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component: call with (dict "ctx" $ "component" "worker"). */}}
{{- define "lmsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lmsync.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The recommended labels of a component. */}}
{{- define "lmsync.labels" -}}
{{ include "lmsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lmsync
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "lmsync.chart" .ctx }}
{{- end -}}

{{- define "lmsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "lmsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lmsync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lmsync.tokenSecretName" -}}
{{- default (printf "%s-token" (include "lmsync.fullname" .)) .Values.token.existingSecret -}}
{{- end -}}

{{- define "lmsync.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "lmsync.fullname" .)) .Values.webhook.secret.existingSecret -}}
{{- end -}}

{{/* The coordinator keeps Unified's subscriptions (webhook.subscribe, webhook.hook_url): "true" or "". */}}
{{- define "lmsync.webhookSubscribes" -}}
{{- if and .Values.webhook.enabled .Values.webhook.publicUrl -}}true{{- end -}}
{{- end -}}

{{/* A setting of .Values.config, or a default. */}}
{{- define "lmsync.setting" -}}
{{- $v := index .ctx.Values.config .key -}}
{{- if kindIs "invalid" $v -}}{{ .default }}{{- else -}}{{ $v }}{{- end -}}
{{- end -}}

{{- define "lmsync.topicPrefix" -}}
{{- include "lmsync.setting" (dict "ctx" . "key" "kafka.topic_prefix" "default" "lmsync") -}}
{{- end -}}

{{- define "lmsync.workerName" -}}
{{- printf "%s-worker" (include "lmsync.fullname" .) -}}
{{- end -}}

{{/* Paths inside the pods. */}}
{{- define "lmsync.tokenPath" -}}/var/run/secrets/lmsync/token{{- end -}}
{{- define "lmsync.dataPath" -}}/var/lib/lmsync{{- end -}}
{{- define "lmsync.webhookSecretDir" -}}/var/run/secrets/lmsync-webhook{{- end -}}

{{/* Checks that span several values; fail at render time. */}}
{{- define "lmsync.validate" -}}
{{- if and .Values.keda.enabled .Values.autoscaling.enabled -}}
{{- fail "keda.enabled and autoscaling.enabled are exclusive: pick one autoscaler for the workers" -}}
{{- end -}}
{{- $procs := max 1 (int .Values.worker.processes) -}}
{{- if .Values.keda.enabled -}}
{{- if gt (mul (int .Values.keda.maxReplicaCount) $procs) (int .Values.topics.partitions) -}}
{{- fail (printf "keda.maxReplicaCount (%d) x worker.processes (%d) exceeds topics.partitions (%d): workers beyond the jobs topic's partitions get no partition and sit idle" (int .Values.keda.maxReplicaCount) $procs (int .Values.topics.partitions)) -}}
{{- end -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (mul (int .Values.autoscaling.maxReplicas) $procs) (int .Values.topics.partitions) -}}
{{- fail (printf "autoscaling.maxReplicas (%d) x worker.processes (%d) exceeds topics.partitions (%d)" (int .Values.autoscaling.maxReplicas) $procs (int .Values.topics.partitions)) -}}
{{- end -}}
{{- end -}}
{{- if and (or .Values.serviceMonitor.enabled .Values.prometheusRule.enabled) (not .Values.ops.enabled) -}}
{{- fail "serviceMonitor and prometheusRule need ops.enabled (the /metrics endpoint)" -}}
{{- end -}}
{{- if and (not .Values.token.existingSecret) (not .Values.token.value) -}}
{{- fail "set token.value (the chart creates the Secret) or token.existingSecret" -}}
{{- end -}}
{{- if hasKey .Values.config "unified.token" -}}
{{- fail "config.unified.token: the token comes from token.value or token.existingSecret (mounted as a file), never from config" -}}
{{- end -}}
{{- range $k := list "unified.token_file" "worker.lmdb_path" "ops.listen" "worker.processes" -}}
{{- if hasKey $.Values.config $k -}}
{{- fail (printf "config.%s is set by the chart; remove it from config" $k) -}}
{{- end -}}
{{- end -}}
{{- include "lmsync.validateWebhook" . -}}
{{- end -}}

{{/* lmsync-webhook's values (webhook.enabled). */}}
{{- define "lmsync.validateWebhook" -}}
{{- $w := .Values.webhook -}}
{{- if $w.enabled -}}
{{- if not .Values.ops.enabled -}}
{{- fail "webhook.enabled needs ops.enabled: the receiver's probes are on the ops endpoint (every image with lmsync-webhook has ops.listen)" -}}
{{- end -}}
{{- if and (ne $w.subscribe "off") (not $w.publicUrl) -}}
{{- fail (printf "webhook.subscribe = %s needs webhook.publicUrl (the URL Unified posts to, e.g. https://hooks.example.com/webhook); set it, or webhook.subscribe = off to register the subscriptions by hand" $w.subscribe) -}}
{{- end -}}
{{- if and (not $w.secret.existingSecret) (not $w.secret.value) -}}
{{- fail "webhook.enabled: set webhook.secret.value (the chart creates the Secret) or webhook.secret.existingSecret (the Unified workspace secret)" -}}
{{- end -}}
{{- range $k := list "webhook.listen" "webhook.secret_file" "webhook.subscribe" "webhook.hook_url" -}}
{{- if hasKey $.Values.config $k -}}
{{- fail (printf "config.%s is set by the chart with webhook.enabled (webhook.port, webhook.secret, webhook.subscribe, webhook.publicUrl); remove it from config" $k) -}}
{{- end -}}
{{- end -}}
{{- if $w.ingress.enabled -}}
{{- if not $w.ingress.host -}}
{{- fail "webhook.ingress.enabled needs webhook.ingress.host" -}}
{{- end -}}
{{- if $w.publicUrl -}}
{{- $u := urlParse $w.publicUrl -}}
{{- if or (ne (regexReplaceAll ":[0-9]+$" $u.host "") $w.ingress.host) (ne $u.path "/webhook") -}}
{{- fail (printf "webhook.publicUrl (%s) must be http(s)://%s/webhook: the Ingress routes only that host and path" $w.publicUrl $w.ingress.host) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Volumes and mounts every lmsync container has: config, token, /tmp. */}}
{{- define "lmsync.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "lmsync.fullname" . }}
- name: token
  secret:
    secretName: {{ include "lmsync.tokenSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.token.key }}
        path: token
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "lmsync.commonMounts" -}}
- name: config
  mountPath: /etc/lmsync
  readOnly: true
- name: token
  mountPath: /var/run/secrets/lmsync
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Port and probes of the ops endpoint. */}}
{{- define "lmsync.opsContainer" -}}
ports:
  {{- include "lmsync.opsPort" . | nindent 2 }}
{{ include "lmsync.opsProbes" . }}
{{- end -}}

{{- define "lmsync.opsPort" -}}
- name: ops
  containerPort: {{ .Values.ops.port }}
  protocol: TCP
{{- end -}}

{{- define "lmsync.opsProbes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: ops
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: ops
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
startupProbe:
  httpGet:
    path: /healthz
    port: ops
  periodSeconds: 5
  failureThreshold: 60
{{- end -}}

{{- define "lmsync.podSpecCommon" -}}
serviceAccountName: {{ include "lmsync.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
