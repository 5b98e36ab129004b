{{/*
Labels on every object. The DaemonSet's selector uses only schedkit.selectorLabels, the same as
deploy/, so moving between the plain manifests and the chart keeps the (immutable) selector.
*/}}
{{- define "schedkit.selectorLabels" -}}
app.kubernetes.io/name: schedkit-agent
{{- end }}

{{- define "schedkit.labels" -}}
{{ include "schedkit.selectorLabels" . }}
app.kubernetes.io/component: agent
{{ include "schedkit.commonLabels" . }}
{{- end }}

{{/* The operator's objects: the same, under its own name (its Deployment's selector). */}}
{{- define "schedkit.operatorSelectorLabels" -}}
app.kubernetes.io/name: schedkit-operator
{{- end }}

{{- define "schedkit.operatorLabels" -}}
{{ include "schedkit.operatorSelectorLabels" . }}
app.kubernetes.io/component: operator
{{ include "schedkit.commonLabels" . }}
{{- end }}

{{- define "schedkit.commonLabels" -}}
app.kubernetes.io/part-of: schedkit
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The agent's service account and the user name its requests carry. */}}
{{- define "schedkit.serviceAccountName" -}}
{{ .Values.serviceAccount.name }}
{{- end }}

{{- define "schedkit.agentUser" -}}
{{ printf "system:serviceaccount:%s:%s" .Release.Namespace (include "schedkit.serviceAccountName" .) }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "schedkit.imageRef" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .appVersion }}
{{- end -}}
{{- end }}

{{- define "schedkit.image" -}}
{{ include "schedkit.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "schedkit.operatorImage" -}}
{{ include "schedkit.imageRef" (dict "image" .Values.operator.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* The operator's service account; the Lease it holds (RBAC names it, so it is not a value). */}}
{{- define "schedkit.operatorServiceAccountName" -}}
schedkit-operator
{{- end }}

{{- define "schedkit.operatorLeaseName" -}}
schedkit-operator
{{- end }}

{{/* The ConfigMap of registry CA bundles (registries.cas). */}}
{{- define "schedkit.registryCaConfigMap" -}}
schedkit-agent-registry-cas
{{- end }}

{{/*
KUBERNETES_SERVICE_HOST/PORT for the agent and the operator (kubernetesService): an env entry of
the container's own wins over the kubelet's, so the in-cluster configuration uses this address.
*/}}
{{- define "schedkit.kubernetesServiceEnv" -}}
{{- with .Values.kubernetesService }}
{{- if .host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ .host | quote }}
{{- end }}
{{- if .port }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ .port | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
