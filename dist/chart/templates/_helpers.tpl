{{/*
Written by hand; the templates in the folders beside it are written by hack/gen-chart.sh.
*/}}

{{/* netdiag.namespace: the namespace of the manager, its collectors and their snapshots. */}}
{{- define "netdiag.namespace" -}}
{{- .Values.namespace.name -}}
{{- end }}

{{/*
netdiag.labels: what the chart adds to every object's labels, and nothing else, so that
the chart renders config/default's objects with only these added. They go on the objects,
never on selectors or pod templates, which must not change when the chart's version does.
*/}}
{{- define "netdiag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* netdiag.image: repository@digest when a digest is given, repository:tag otherwise. */}}
{{- define "netdiag.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
netdiag.managerFlags: the manager's flags the values set, as JSON: manager.flags over caps
over plugins over what other values imply.
*/}}
{{- define "netdiag.managerFlags" -}}
{{- $implied := dict -}}
{{- if not .Values.metrics.enable -}}
{{- $_ := set $implied "metrics-bind-address" "0" -}}
{{- end -}}
{{- if eq (dig "collector" "priorityClass" "create" true .Values.AsMap) false -}}
{{- $_ := set $implied "collector-priority-class" "" -}}
{{- end -}}
{{- $all := merge (deepCopy (.Values.manager.flags | default dict)) (deepCopy (.Values.caps | default dict)) (deepCopy (.Values.plugins | default dict)) $implied -}}
{{- $set := dict -}}
{{- range $name, $value := $all -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $set $name $value -}}
{{- end -}}
{{- end -}}
{{- toJson $set -}}
{{- end }}

{{/* netdiag.flagValue: a value as the flag takes it; lists are comma-separated. */}}
{{- define "netdiag.flagValue" -}}
{{- if kindIs "slice" . -}}
{{ join "," . }}
{{- else if and (kindIs "float64" .) (eq . (floor .)) -}}
{{ int64 . }}
{{- else -}}
{{ . }}
{{- end -}}
{{- end }}

{{/*
netdiag.managerArgs: the manager's arguments, one list item a line. tree is config/manager's
list: a flag the values set replaces it where it stands, and the values' other flags follow
in name order, so that with no flag set the list is config/manager's.
*/}}
{{- define "netdiag.managerArgs" -}}
{{- $flags := include "netdiag.managerFlags" .root | fromJson -}}
{{- $given := list -}}
{{- range .tree -}}
{{- $name := "" -}}
{{- if hasPrefix "--" . -}}
{{- $name = trimPrefix "--" . | splitList "=" | first -}}
{{- end -}}
{{- if and $name (hasKey $flags $name) }}
- {{ printf "--%s=%s" $name (include "netdiag.flagValue" (get $flags $name)) | quote }}
{{- else }}
- {{ . | quote }}
{{- end -}}
{{- if $name -}}
{{- $given = append $given $name -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $flags -}}
{{- if not (has $name $given) }}
- {{ printf "--%s=%s" $name (include "netdiag.flagValue" $value) | quote }}
{{- end -}}
{{- end -}}
{{- end }}
