package actors

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"

	"github.com/troupe-rpc/troupe/internal/human"
)

// InspectHandler serves the System's actor tree for people and tools: as indented text by
// default, as JSON with ?format=json, and as an HTML page with ?format=html, which reloads itself
// every N seconds with &refresh=N (1 to 3600). Mount it where an operator can reach it, e.g.
// http.Handle("/troupe", sys.InspectHandler()).
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
			page := inspectView{Node: tree}
			if n, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && n >= 1 && n <= 3600 {
				page.Refresh = n
			}
			_ = inspectPage.Execute(w, page)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(tree.String()))
		}
	})
}

// inspectView is what the HTML page draws: the tree, and how often the page reloads (0: never).
type inspectView struct {
	*Node
	Refresh int
}

// inspectPage draws the tree as nested lists, ages as people read them.
var inspectPage = template.Must(template.New("inspect").Funcs(template.FuncMap{"age": human.Age}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>troupe {{.Name}}</title>{{if .Refresh}}
<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<style>body{font-family:monospace} li{margin:2px 0} .k{font-weight:bold} .e{color:#b00}</style>
</head><body><h1>troupe {{.Name}}</h1><ul>{{template "node" .Node}}</ul></body></html>
{{define "node"}}<li><span class="k">{{.Kind}}</span> {{if ne .Name .Kind}}{{.Name}}{{end}} {{.State}}
{{if .Age}} age={{age .Age}}{{end}}{{range $k, $v := .Counters}} {{$k}}={{$v}}{{end}}
{{if .LastErr}} <span class="e">last_err={{.LastErr}}</span>{{end}}
{{if .Children}}<ul>{{range .Children}}{{template "node" .}}{{end}}</ul>{{end}}</li>{{end}}`))
