{{- define "shared.mode" -}}
{{- $_ := set .Values "mode" "server" -}}
{{- $_ := set .Values.image "tag" "1.27" -}}
{{- end -}}
{{- define "shared.profile" -}}
{{- $_ := mergeOverwrite .root.Values (dict "profile" (dict "image" "docker.io/library/httpd:2.4")) -}}
{{- end -}}
