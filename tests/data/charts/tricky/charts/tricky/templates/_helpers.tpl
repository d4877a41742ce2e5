{{- define "tricky.registry" -}}
{{- .Values.global.imageRegistry | default "docker.io" -}}
{{- end -}}
{{- define "tricky.labels" -}}
app: {{ .Chart.Name }}
release: {{ .Release.Name | quote }}
{{- end -}}
