{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "swell.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, plus the chart name unless the release already says it. */}}
{{- define "swell.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "swell.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.labels" -}}
helm.sh/chart: {{ include "swell.chart" . }}
app.kubernetes.io/name: {{ include "swell.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: swell
{{- end }}

{{/* Selector labels of one component (operator, virtual-node). */}}
{{- define "swell.selectorLabels" -}}
app.kubernetes.io/name: {{ include "swell.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "swell.operatorName" -}}
{{- printf "%s-operator" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.metricsApiServiceName" -}}
{{- printf "%s-metrics-apiserver" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.webhooksServiceName" -}}
{{- printf "%s-webhooks" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of both the Validating- and the MutatingWebhookConfiguration. */}}
{{- define "swell.webhookConfigurationName" -}}
{{- printf "%s-admission" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.certSecretName" -}}
{{- default (printf "%s-certs" (include "swell.fullname" .)) .Values.certificates.secretName }}
{{- end }}

{{- define "swell.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "swell.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "swell.virtualNodeName" -}}
{{- printf "%s-virtual-node" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.virtualNodeServiceAccountName" -}}
{{- if .Values.virtualNode.serviceAccount.create }}
{{- default (include "swell.virtualNodeName" .) .Values.virtualNode.serviceAccount.name }}
{{- else }}
{{- required "virtualNode.serviceAccount.name is required when virtualNode.serviceAccount.create is false" .Values.virtualNode.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "swell.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Whether the operator serves TLS (the metrics API or the webhooks) and so needs certificates. */}}
{{- define "swell.servesTls" -}}
{{- if or .Values.metricsApi.enabled .Values.webhooks.enabled }}true{{ end }}
{{- end }}

{{/* The cert-manager Certificate's name, for the cert-manager.io/inject-ca-from annotations. */}}
{{- define "swell.certificateName" -}}
{{- printf "%s-serving" (include "swell.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swell.caInjection" -}}
{{- if .Values.certificates.certManager.enabled }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "swell.certificateName" .) }}
{{- end }}
{{- end }}

{{/* Annotations of the CRD templates (may be empty). */}}
{{- define "swell.crdAnnotations" -}}
{{- if .Values.crds.keep }}
helm.sh/resource-policy: keep
{{- end }}
{{- with .Values.crds.annotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
