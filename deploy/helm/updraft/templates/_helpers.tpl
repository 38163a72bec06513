{{/* Name of the Deployment, its ServiceAccount by default, and its RBAC objects. */}}
{{- define "updraft.name" -}}
{{- .Values.operator.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "updraft.serviceAccountName" -}}
{{- default (include "updraft.name" .) .Values.serviceAccount.operator.name -}}
{{- end -}}

{{/* Fixed names: the RBAC rules' resourceNames and docs/operator.md refer to them. */}}
{{- define "updraft.metricsServiceName" -}}updraft-metrics-apiserver{{- end -}}
{{- define "updraft.webhooksServiceName" -}}updraft-admission-webhooks{{- end -}}
{{- define "updraft.prometheusServiceName" -}}updraft-operator-metrics{{- end -}}
{{- define "updraft.webhookConfigurationName" -}}updraft-admission{{- end -}}
{{- define "updraft.apiServiceName" -}}v1beta1.external.metrics.k8s.io{{- end -}}

{{- define "updraft.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the operator's pods (the Services select on them too). */}}
{{- define "updraft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "updraft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object; component is passed as .component. */}}
{{- define "updraft.labels" -}}
{{ include "updraft.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: updraft
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "updraft.chart" .root }}
{{- with .root.Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
