package actors

import (
	"encoding/json"
	"html/template"
	"net/http"
)

// InspectHandler serves the System's actor tree for people and tools: as indented text by
// default, as JSON with ?format=json, and as an HTML page with ?format=html. Mount it where an
// operator can reach it, e.g. http.Handle("/troupe", sys.InspectHandler()).
func (s *System) InspectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tree := s.Inspect()
		switch r.URL.Query().Get("format") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(tree)
		case "html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = inspectPage.Execute(w, tree)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(tree.String()))
		}
	})
}

// inspectPage draws the tree as nested lists.
var inspectPage = template.Must(template.New("inspect").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>troupe {{.Name}}</title>
<style>body{font-family:monospace} li{margin:2px 0} .k{font-weight:bold} .e{color:#b00}</style>
</head><body><h1>troupe {{.Name}}</h1><ul>{{template "node" .}}</ul></body></html>
{{define "node"}}<li><span class="k">{{.Kind}}</span> {{if ne .Name .Kind}}{{.Name}}{{end}} {{.State}}
{{if .Age}} age={{.Age}}{{end}}{{range $k, $v := .Counters}} {{$k}}={{$v}}{{end}}
{{if .LastErr}} <span class="e">last_err={{.LastErr}}</span>{{end}}
{{if .Children}}<ul>{{range .Children}}{{template "node" .}}{{end}}</ul>{{end}}</li>{{end}}`))
