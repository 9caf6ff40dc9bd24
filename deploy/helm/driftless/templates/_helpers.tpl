{{/* Labels every object of the release carries. */}}
{{- define "driftless.labels" -}}
app.kubernetes.io/name: driftless
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: driftless
{{- end }}

{{/* The labels the Deployment selects its pods by (never change across upgrades). */}}
{{- define "driftless.selector" -}}
app.kubernetes.io/name: driftless
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The verbs the engine uses on the kinds applications deploy: read, watch, server-side
apply (patch), create, replace and prune. */}}
{{- define "driftless.managedRules" -}}
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
