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
{{- define "schedkit.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The ConfigMap of registry CA bundles (registries.cas). */}}
{{- define "schedkit.registryCaConfigMap" -}}
schedkit-agent-registry-cas
{{- end }}
