{{- define "legacy.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
