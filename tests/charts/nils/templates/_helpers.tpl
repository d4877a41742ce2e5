{{- define "nils.deep" -}}[{{ .context.Values.x }}|{{ .a.b }}]{{- end -}}
